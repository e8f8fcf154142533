/**
 * The lifecycle of a streams app instance as an XState machine with Kafka Streams' states and
 * only their valid transitions (KafkaStreams.State): a rebalance cannot take an app out of
 * shutdown or ERROR, and NOT_RUNNING and ERROR are final. Events a state does not take are ignored.
 */
import { createActor, setup } from 'xstate';
import type { Actor } from 'xstate';

/** Kafka Streams' client states. */
export type StreamsState = 'CREATED' | 'REBALANCING' | 'RUNNING' | 'PENDING_SHUTDOWN' | 'NOT_RUNNING' | 'ERROR';

/** What moves the app: start, a rebalance beginning or done, close and its end, a fatal error. */
export type StreamsStateEvent = { type: 'start' } | { type: 'rebalance' } | { type: 'assigned' } | { type: 'close' } | { type: 'closed' } | { type: 'fail' };

/** The lifecycle machine. */
export const streamsStateMachine = setup({ types: { events: {} as StreamsStateEvent } }).createMachine({
  id: 'streamsApp',
  initial: 'CREATED',
  states: {
    CREATED: { on: { start: 'REBALANCING', close: 'PENDING_SHUTDOWN', fail: 'ERROR' } },
    REBALANCING: { on: { assigned: 'RUNNING', close: 'PENDING_SHUTDOWN', fail: 'ERROR' } },
    RUNNING: { on: { rebalance: 'REBALANCING', close: 'PENDING_SHUTDOWN', fail: 'ERROR' } },
    PENDING_SHUTDOWN: { on: { closed: 'NOT_RUNNING' } },
    NOT_RUNNING: { type: 'final' },
    ERROR: { type: 'final' },
  },
});

/** A started lifecycle actor. */
export function startStreamsState(): Actor<typeof streamsStateMachine> {
  return createActor(streamsStateMachine).start();
}
