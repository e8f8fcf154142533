/**
 * The stream thread actor: Kafka Streams' thread states and only their valid transitions, a loop
 * that starts with the thread and is stopped with it, and death with the loop's error.
 */
import { describe, expect, it } from 'vitest';
import { createThreadActor, threadStateOf } from '../../src/streams/streamThreadState.ts';
import type { ThreadEvent, ThreadLoop } from '../../src/streams/streamThreadState.ts';

/** A loop the test drives: it reports what the test says and ends when the test settles it. */
function fakeLoop() {
  let report: (e: ThreadEvent) => void = () => undefined;
  let settle: { resolve: () => void; reject: (e: unknown) => void } | undefined;
  const calls = { started: 0, stopped: 0 };
  const startLoop = (r: (e: ThreadEvent) => void): ThreadLoop => {
    calls.started++;
    report = r;
    const done = new Promise<void>((resolve, reject) => (settle = { resolve, reject }));
    return {
      done,
      stop: async () => {
        calls.stopped++;
      },
    };
  };
  return { startLoop, calls, report: (e: ThreadEvent) => report(e), end: () => settle?.resolve(), die: (e: unknown) => settle?.reject(e) };
}

const flush = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

describe('stream thread actor', () => {
  it('moves through Kafka Streams thread states and ignores transitions Kafka forbids', async () => {
    const loop = fakeLoop();
    const actor = createThreadActor({ startLoop: loop.startLoop });
    const states: string[] = [];
    actor.subscribe((s) => {
      // A snapshot comes with every event taken, moved or not: record the moves.
      if (states.at(-1) !== threadStateOf(s)) states.push(threadStateOf(s));
    });
    expect(threadStateOf(actor.getSnapshot())).toBe('CREATED');
    expect(loop.calls.started).toBe(0);
    actor.send({ type: 'start' });
    expect(loop.calls.started).toBe(1);
    loop.report({ type: 'restored' }); // not from STARTING: ignored
    loop.report({ type: 'revoked' });
    loop.report({ type: 'restored' }); // not from PARTITIONS_REVOKED: ignored
    loop.report({ type: 'assigned' });
    loop.report({ type: 'restored' });
    loop.report({ type: 'assigned' });
    loop.report({ type: 'restored' });
    actor.send({ type: 'stop' });
    expect(loop.calls.stopped).toBeGreaterThanOrEqual(1);
    loop.report({ type: 'revoked' }); // the last commit's revoke: stays in shutdown
    loop.report({ type: 'assigned' });
    actor.send({ type: 'stop' });
    loop.end();
    await flush();
    expect(states).toEqual(['STARTING', 'PARTITIONS_REVOKED', 'PARTITIONS_ASSIGNED', 'RUNNING', 'PARTITIONS_ASSIGNED', 'RUNNING', 'PENDING_SHUTDOWN', 'DEAD']);
    expect(actor.getSnapshot().status).toBe('done');
    expect(actor.getSnapshot().context.error).toBeUndefined();
  });

  it('dies with the error that ended its loop', async () => {
    const loop = fakeLoop();
    const actor = createThreadActor({ startLoop: loop.startLoop });
    actor.send({ type: 'start' });
    loop.report({ type: 'assigned' });
    loop.report({ type: 'restored' });
    const error = new Error('boom');
    loop.die(error);
    await flush();
    expect(threadStateOf(actor.getSnapshot())).toBe('DEAD');
    expect(actor.getSnapshot().context.error).toBe(error);
    // Leaving the alive states stopped the loop (the invoked actor's cleanup).
    expect(loop.calls.stopped).toBe(1);
  });

  it('never starts a loop when stopped before it started', () => {
    const loop = fakeLoop();
    const actor = createThreadActor({ startLoop: loop.startLoop });
    actor.send({ type: 'stop' });
    expect(threadStateOf(actor.getSnapshot())).toBe('DEAD');
    expect(loop.calls.started).toBe(0);
  });
});
