/**
 * A stream thread as an XState actor, with Kafka Streams' thread states (StreamThread.State) and
 * only their valid transitions. While alive it owns its commit loop — one consumer and, under
 * exactly-once, one transactional producer — as an invoked callback actor: the loop starts when
 * the thread starts and is stopped when the thread leaves the alive states, so no loop outlives
 * its thread. The loop reports rebalances (revoked, assigned, restored: RUNNING) and its end
 * (stopped, or died with the error that stopped it).
 */
import { assign, createActor, fromCallback, sendTo, setup } from 'xstate';
import type { Actor, SnapshotFrom } from 'xstate';

/** Kafka Streams' stream-thread states. */
export type ThreadState = 'CREATED' | 'STARTING' | 'PARTITIONS_REVOKED' | 'PARTITIONS_ASSIGNED' | 'RUNNING' | 'PENDING_SHUTDOWN' | 'DEAD';

/** What moves a thread: its owner's start and stop, and what its loop reports. */
export type ThreadEvent =
  | { type: 'start' }
  | { type: 'stop' }
  | { type: 'revoked' }
  | { type: 'assigned' }
  | { type: 'restored' }
  | { type: 'stopped' }
  | { type: 'died'; error: unknown };

/** A started commit loop, as the thread's invoked actor sees it. */
export interface ThreadLoop {
  /** Settles when the loop has ended: resolves after a stop, rejects with the error that stopped it. */
  readonly done: Promise<void>;
  /** Commits what was processed and ends the loop. */
  stop(): Promise<void>;
}

/** What a thread is created with: how to start its loop, given the callback the loop reports through. */
export interface ThreadInput {
  readonly startLoop: (report: (event: ThreadEvent) => void) => ThreadLoop;
}

const loopActor = fromCallback<ThreadEvent, ThreadInput>(({ input, sendBack, receive }) => {
  const loop = input.startLoop(sendBack);
  loop.done.then(
    () => sendBack({ type: 'stopped' }),
    (error: unknown) => sendBack({ type: 'died', error }),
  );
  receive((event) => {
    if (event.type === 'stop') void loop.stop();
  });
  return () => void loop.stop();
});

/** The thread machine; see the module comment. */
export const streamThreadMachine = setup({
  types: { context: {} as { readonly input: ThreadInput; readonly error?: unknown }, events: {} as ThreadEvent, input: {} as ThreadInput },
  actors: { loop: loopActor },
}).createMachine({
  id: 'streamThread',
  context: ({ input }) => ({ input }),
  initial: 'CREATED',
  states: {
    CREATED: { on: { start: 'alive', stop: 'DEAD' } },
    alive: {
      invoke: { id: 'loop', src: 'loop', input: ({ context }) => context.input },
      initial: 'STARTING',
      on: {
        stop: { target: '.PENDING_SHUTDOWN', actions: sendTo('loop', { type: 'stop' }) },
        stopped: 'DEAD',
        died: { target: 'DEAD', actions: assign({ error: ({ event }) => event.error }) },
      },
      states: {
        STARTING: { on: { revoked: 'PARTITIONS_REVOKED', assigned: 'PARTITIONS_ASSIGNED' } },
        PARTITIONS_REVOKED: { on: { assigned: 'PARTITIONS_ASSIGNED' } },
        PARTITIONS_ASSIGNED: { on: { revoked: 'PARTITIONS_REVOKED', assigned: 'PARTITIONS_ASSIGNED', restored: 'RUNNING' } },
        RUNNING: { on: { revoked: 'PARTITIONS_REVOKED', assigned: 'PARTITIONS_ASSIGNED' } },
        // The loop's last commit may still revoke: nothing moves a thread out of shutdown but its end.
        PENDING_SHUTDOWN: { on: { stop: {} } },
      },
    },
    DEAD: { type: 'final' },
  },
});

/** A thread actor, not yet started. */
export type ThreadActor = Actor<typeof streamThreadMachine>;

/** Creates a thread actor (started as an actor, in CREATED until it gets `start`). */
export function createThreadActor(input: ThreadInput): ThreadActor {
  return createActor(streamThreadMachine, { input }).start();
}

/** The Kafka state name of a thread snapshot. */
export function threadStateOf(snapshot: SnapshotFrom<typeof streamThreadMachine>): ThreadState {
  const value = snapshot.value;
  return typeof value === 'string' ? (value as ThreadState) : (value.alive as ThreadState);
}
