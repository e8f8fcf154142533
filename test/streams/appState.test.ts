/**
 * The streams app's lifecycle: Kafka Streams' states with only their valid transitions.
 */
import { describe, expect, it } from 'vitest';
import { startStreamsState } from '../../src/streams/appState.ts';
import type { StreamsStateEvent } from '../../src/streams/appState.ts';

const run = (...events: Array<StreamsStateEvent['type']>): string[] => {
  const actor = startStreamsState();
  return events.map((type) => {
    actor.send({ type });
    return actor.getSnapshot().value as string;
  });
};

describe('streams app lifecycle', () => {
  it('starts, rebalances, runs and shuts down as Kafka Streams does', () => {
    expect(run('start', 'assigned', 'rebalance', 'assigned', 'close', 'closed')).toEqual(['REBALANCING', 'RUNNING', 'REBALANCING', 'RUNNING', 'PENDING_SHUTDOWN', 'NOT_RUNNING']);
  });

  it('never leaves shutdown or ERROR on a rebalance, and NOT_RUNNING and ERROR are final', () => {
    expect(run('start', 'close', 'rebalance', 'assigned', 'closed', 'start')).toEqual(['REBALANCING', 'PENDING_SHUTDOWN', 'PENDING_SHUTDOWN', 'PENDING_SHUTDOWN', 'NOT_RUNNING', 'NOT_RUNNING']);
    expect(run('start', 'fail', 'rebalance', 'assigned', 'close', 'closed')).toEqual(['REBALANCING', 'ERROR', 'ERROR', 'ERROR', 'ERROR', 'ERROR']);
  });

  it('takes no assignment before it started', () => {
    expect(run('assigned', 'rebalance')).toEqual(['CREATED', 'CREATED']);
  });
});
