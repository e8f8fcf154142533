/**
 * Model test of the transaction coordinator's per-id machine (kafka-anchor.md §3.1, behaviour
 * 18): random request sequences from two producer instances, with writes that complete, fail or
 * stay pending and markers that land, drive the machine; at every step its state value is the
 * state it last persisted, every state change it makes is in Kafka's valid-previous-state table,
 * a requester is answered only after its write is durable, and every state is reached.
 */
import { describe, expect, it } from 'vitest';
import { test, fc } from '@fast-check/vitest';
import { createActor } from 'xstate';
import { transactionMachine } from '../../../src/actors/txnCoordinator/transaction.machine.ts';
import type { TransactionEmitted, TransactionEvent } from '../../../src/actors/txnCoordinator/transaction.machine.ts';
import { isValidTransition } from '../../../src/transactions/transactionState.ts';
import type { TransactionState } from '../../../src/transactions/transactionState.ts';

type Step =
  /** The request, then (when it wrote) its write completes at once. */
  | { kind: 'durable'; request: 'init' | 'add' | 'end-commit' | 'end-abort' | 'markers' }
  | { kind: 'init' }
  | { kind: 'add'; partition: number; stale: boolean }
  | { kind: 'offsets' }
  | { kind: 'end'; commit: boolean; stale: boolean }
  | { kind: 'writeDone' }
  | { kind: 'writeFailed' }
  | { kind: 'markersDone' }
  | { kind: 'tick'; ms: number };

const durable = fc.record({ kind: fc.constant('durable' as const), request: fc.constantFrom('init' as const, 'add' as const, 'end-commit' as const, 'end-abort' as const, 'markers' as const) });
const step: fc.Arbitrary<Step> = fc.oneof(
  { weight: 8, arbitrary: durable },
  { weight: 1, arbitrary: fc.constant<Step>({ kind: 'init' }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('add' as const), partition: fc.nat({ max: 3 }), stale: fc.boolean() }) },
  { weight: 1, arbitrary: fc.constant<Step>({ kind: 'offsets' }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('end' as const), commit: fc.boolean(), stale: fc.boolean() }) },
  { weight: 2, arbitrary: fc.constant<Step>({ kind: 'writeDone' }) },
  { weight: 1, arbitrary: fc.constant<Step>({ kind: 'writeFailed' }) },
  { weight: 1, arbitrary: fc.constant<Step>({ kind: 'markersDone' }) },
  // Mostly short pauses; sometimes one past transaction.timeout.ms (10 s), which aborts.
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('tick' as const), ms: fc.oneof(fc.integer({ min: 0, max: 2_000 }), fc.constant(15_000)) }) },
);

/** Drives the machine through `steps`, checking the model at every step; returns the states it was in. */
function runModel(steps: readonly Step[]): Set<string> {
  const reached = new Set<string>();
  {
    let now = 1_000;
    let nextProducerId = 100n;
    const actor = createActor(transactionMachine, { input: { transactionalId: 'tx', config: {}, now: () => now, newProducerId: () => nextProducerId++ } });
    const emitted: TransactionEmitted[] = [];
    actor.on('*', (e) => emitted.push(e as TransactionEmitted));
    actor.start();
    const writes: number[] = [];
    let replyTo = 1;
    /** The identity the current producer instance holds (from its last successful answer). */
    let identity = { producerId: -1n, producerEpoch: -1 };
    const answered = new Map<number, boolean>();
    let state = String(actor.getSnapshot().value);
    expect(state).toBe('New');
    reached.add(state);
    const expanded: Step[] = steps.flatMap((s): Step[] => {
      if (s.kind !== 'durable') return [s];
      const request: Step = s.request === 'init' ? { kind: 'init' } : s.request === 'add' ? { kind: 'add', partition: 0, stale: false } : s.request === 'markers' ? { kind: 'markersDone' } : { kind: 'end', commit: s.request === 'end-commit', stale: false };
      return [request, { kind: 'writeDone' }];
    });
    for (const s of expanded) {
      const before = state;
      emitted.length = 0;
      const id = replyTo++;
      const epoch = (stale: boolean): number => (stale ? identity.producerEpoch - 1 : identity.producerEpoch);
      let event: TransactionEvent | undefined;
      switch (s.kind) {
        case 'init':
          event = { type: 'initProducerId', replyTo: id, request: { transactionalId: 'tx', transactionTimeoutMs: 10_000 } };
          break;
        case 'add':
          event = { type: 'addPartitions', replyTo: id, request: { transactionalId: 'tx', producerId: identity.producerId, producerEpoch: epoch(s.stale), partitions: [{ topic: 't', partition: s.partition }] } };
          break;
        case 'offsets':
          event = { type: 'addOffsets', replyTo: id, request: { transactionalId: 'tx', producerId: identity.producerId, producerEpoch: identity.producerEpoch, groupId: 'g', offsetsPartition: 0 } };
          break;
        case 'end':
          event = { type: 'endTxn', replyTo: id, request: { transactionalId: 'tx', producerId: identity.producerId, producerEpoch: epoch(s.stale), commit: s.commit } };
          break;
        case 'writeDone':
          if (writes.length > 0) event = { type: 'write.done', writeId: writes.shift() as number };
          break;
        case 'durable':
          break;
        case 'writeFailed':
          if (writes.length > 0) event = { type: 'write.failed', writeId: writes.shift() as number, error: 'NOT_ENOUGH_REPLICAS' };
          break;
        case 'markersDone':
          event = { type: 'markers.done' };
          break;
        case 'tick':
          now += s.ms;
          event = { type: 'timeout.check' };
          break;
      }
      if (event === undefined) continue;
      actor.send(event);
      state = String(actor.getSnapshot().value);
      reached.add(state);
      // Every state change is one Kafka allows.
      if (state !== before && before !== 'New') expect(isValidTransition(before as TransactionState, state as TransactionState), `${before} → ${state} after ${event.type}`).toBe(true);
      // The state value is the state last persisted: it changes only when a write becomes durable.
      if (state !== before) expect(event.type).toBe('write.done');
      const metadata = actor.getSnapshot().context.metadata;
      if (metadata !== undefined && state !== 'New') expect(metadata.state).toBe(state);
      for (const e of emitted) {
        if (e.type === 'write') writes.push(e.writeId);
        if (e.type === 'respond') {
          answered.set(e.replyTo, e.reply.kind === 'ok');
          if (e.reply.kind === 'ok') identity = { producerId: e.reply.producerId, producerEpoch: e.reply.producerEpoch };
        }
      }
      // A request that led to a write is not answered in the same step.
      if (emitted.some((e) => e.type === 'write') && (event.type === 'initProducerId' || event.type === 'addPartitions' || event.type === 'addOffsets' || event.type === 'endTxn')) expect(answered.has(id)).toBe(false);
      // At most one write is ever in flight.
      expect(writes.length).toBeLessThanOrEqual(1);
    }
    actor.stop();
  }
  return reached;
}

describe('transaction machine (model)', () => {
  test.prop([fc.array(step, { minLength: 1, maxLength: 60 })], { numRuns: 300 })('moves only along Kafka’s valid transitions and answers after durable writes', (steps) => {
    runModel(steps);
  });

  it('reaches every state it can hold: a commit, then an abort, each completed by its markers', () => {
    const flow = (request: Extract<Step, { kind: 'durable' }>['request']): Step => ({ kind: 'durable', request });
    const reached = runModel([flow('init'), flow('add'), flow('end-commit'), flow('markers'), flow('add'), flow('end-abort'), flow('markers')]);
    reached.add('New');
    for (const s of ['New', 'Empty', 'Ongoing', 'PrepareCommit', 'PrepareAbort', 'CompleteCommit', 'CompleteAbort']) expect(reached.has(s), s).toBe(true);
  });
});
