/**
 * Two producer instances share one transactional id and send random requests — current, retried
 * and stale (older identities they once held) — while the coordinator's writes become durable or
 * fail, markers complete, transactions time out and ids expire. Invariants checked at every step:
 * - the state only moves along valid transitions (and an id is only removed from Empty/Complete*);
 * - for one producer id the epoch never decreases; a new producer id is always freshly allocated;
 * - a (producerId, epoch) pair never names two different transactions that reach PrepareCommit,
 *   and the EndTxn that commits a transaction carries that transaction's identity;
 * - a request not carrying the current (producerId, epoch) never writes, so a fenced epoch never
 *   changes the state;
 * - replaying the written `__transaction_state` records rebuilds the coordinator's state.
 */
import { expect } from 'vitest';
import { fc, test } from '@fast-check/vitest';
import { completeTransition, isExpirationAllowed, isValidTransition } from '../../src/transactions/transactionState.ts';
import type { ProducerIdAndEpoch, TransactionMetadata } from '../../src/transactions/transactionState.ts';
import { onWriteFailed } from '../../src/transactions/transactionDecision.ts';
import type { Decision, TransactionContext, WriteDecision } from '../../src/transactions/transactionDecision.ts';
import { handleAddOffsetsToTxn, handleAddPartitionsToTxn, handleEndTxn, handleInitProducerId } from '../../src/transactions/transactionRequests.ts';
import { abortTimedOut, completeTransaction, expireTransactionalId } from '../../src/transactions/transactionCompletion.ts';
import { encodeTransactionLogRecord, replayTransactionLog } from '../../src/transactions/transactionLog.ts';
import type { KafkaErrorName } from '../../src/errors.ts';

const TID = 'shared-id';
const TIMEOUT_MS = 250;
const CONFIG = { 'transactional.id.expiration.ms': 2_000 };

type Command =
  | { readonly k: 'init'; readonly c: number; readonly kip360: boolean }
  | { readonly k: 'add'; readonly c: number; readonly p: number; readonly stale: number }
  | { readonly k: 'offsets'; readonly c: number; readonly stale: number }
  | { readonly k: 'end'; readonly c: number; readonly commit: boolean; readonly stale: number }
  | { readonly k: 'durable' }
  | { readonly k: 'fail'; readonly error: KafkaErrorName }
  | { readonly k: 'markers' }
  | { readonly k: 'tick'; readonly ms: number };

// Producer 0 mostly drives; producer 1 (a second instance with the same transactional.id) interferes.
const client = fc.oneof({ weight: 4, arbitrary: fc.constant(0) }, { weight: 1, arbitrary: fc.constant(1) });
// stale: -1 uses the current identity, otherwise an index into the identities the client held.
const stale = fc.oneof({ weight: 4, arbitrary: fc.constant(-1) }, { weight: 1, arbitrary: fc.nat(20) });
const command: fc.Arbitrary<Command> = fc.oneof(
  { weight: 1, arbitrary: fc.record({ k: fc.constant('init' as const), c: client, kip360: fc.boolean() }) },
  { weight: 3, arbitrary: fc.record({ k: fc.constant('add' as const), c: client, p: fc.integer({ min: 0, max: 2 }), stale }) },
  { weight: 1, arbitrary: fc.record({ k: fc.constant('offsets' as const), c: client, stale }) },
  { weight: 3, arbitrary: fc.record({ k: fc.constant('end' as const), c: client, commit: fc.boolean(), stale }) },
  { weight: 6, arbitrary: fc.constant({ k: 'durable' as const }) },
  { weight: 1, arbitrary: fc.record({ k: fc.constant('fail' as const), error: fc.constantFrom<KafkaErrorName>('NOT_ENOUGH_REPLICAS', 'NOT_LEADER_OR_FOLLOWER', 'REQUEST_TIMED_OUT') }) },
  { weight: 3, arbitrary: fc.constant({ k: 'markers' as const }) },
  { weight: 1, arbitrary: fc.record({ k: fc.constant('tick' as const), ms: fc.integer({ min: 0, max: 300 }) }) },
);

interface Client {
  current: ProducerIdAndEpoch | undefined;
  readonly held: ProducerIdAndEpoch[];
}

interface InFlight {
  readonly decision: WriteDecision;
  readonly client?: number;
  readonly kind: 'init' | 'add' | 'end' | 'internal';
  readonly identity?: ProducerIdAndEpoch;
}

function simulate(commands: readonly Command[], startNearExhaustion: boolean): void {
  let now = 1_000;
  let nextProducerId = 1000n;
  const allocated = new Set<bigint>();
  let meta: TransactionMetadata | undefined = startNearExhaustion
    ? {
        transactionalId: TID,
        producerId: 500n,
        previousProducerId: 500n,
        nextProducerId: -1n,
        producerEpoch: 32_762,
        lastProducerEpoch: -1,
        txnTimeoutMs: TIMEOUT_MS,
        state: 'Empty',
        partitions: [],
        txnStartTimestamp: -1,
        txnLastUpdateTimestamp: now,
        clientTransactionVersion: 2,
        pendingState: undefined,
      }
    : undefined;
  const log: Array<{ key: Uint8Array; value: Uint8Array | null }> = meta === undefined ? [] : [encodeTransactionLogRecord(meta)];
  let inflight: InFlight | undefined;
  const clients: Client[] = [
    { current: undefined, held: [] },
    { current: undefined, held: [] },
  ];
  // Transaction bookkeeping: which transaction is open, under which identity it opened.
  let txnCounter = 0;
  let running: { readonly txn: number; readonly identity: ProducerIdAndEpoch } | undefined;
  const committedBy = new Map<string, number>();
  const key = (i: ProducerIdAndEpoch): string => `${i.producerId}:${i.producerEpoch}`;

  const context = (): TransactionContext => ({
    now,
    config: CONFIG,
    newProducerId: () => {
      const id = nextProducerId++;
      allocated.add(id);
      return id;
    },
  });

  const learn = (c: number, identity: ProducerIdAndEpoch): void => {
    const cl = clients[c] as Client;
    cl.current = identity;
    cl.held.push(identity);
  };

  const identityFor = (c: number, staleIndex: number): ProducerIdAndEpoch | undefined => {
    const cl = clients[c] as Client;
    if (staleIndex < 0 || cl.held.length === 0) return cl.current;
    return cl.held[staleIndex % cl.held.length];
  };

  /** A request that does not carry the current identity must never write. */
  const checkNoWriteUnlessCurrent = (d: Decision, identity: ProducerIdAndEpoch, before: TransactionMetadata | undefined): void => {
    if (d.kind !== 'write') return;
    expect(before, 'a write needs metadata').toBeDefined();
    expect(key(identity), `${d.transit.state} written for a non-current identity`).toBe(key(before as TransactionMetadata));
  };

  const takeWrite = (d: WriteDecision, entry: Omit<InFlight, 'decision'>): void => {
    expect(inflight, 'only one write in flight: pending transitions block the others').toBeUndefined();
    expect(d.pending.pendingState).toBe(d.transit);
    inflight = { decision: d, ...entry };
    meta = d.pending;
  };

  const applyDurable = (): void => {
    const f = inflight as InFlight;
    inflight = undefined;
    const before = { ...(meta as TransactionMetadata), pendingState: undefined };
    const after = completeTransition(meta as TransactionMetadata);
    log.push(encodeTransactionLogRecord(f.decision.transit));

    // Valid transitions only; removal only from a state that may expire.
    if (after === undefined) expect(isExpirationAllowed(before.state)).toBe(true);
    else expect(isValidTransition(before.state, after.state), `${before.state} → ${after.state}`).toBe(true);
    // Epochs never go back for a producer id; a new producer id is freshly allocated.
    if (after !== undefined) {
      if (after.producerId === before.producerId) expect(after.producerEpoch).toBeGreaterThanOrEqual(before.producerEpoch);
      else expect(allocated.has(after.producerId)).toBe(true);
    }
    // Transactions: one identity per transaction, never reused for another committed one.
    if (after?.state === 'Ongoing' && before.state !== 'Ongoing') running = { txn: ++txnCounter, identity: { producerId: after.producerId, producerEpoch: after.producerEpoch } };
    if (after?.state === 'PrepareCommit') {
      expect(running).toBeDefined();
      const r = running as { txn: number; identity: ProducerIdAndEpoch };
      expect(f.kind).toBe('end');
      expect(key(f.identity as ProducerIdAndEpoch), 'the commit carries the identity the transaction ran under').toBe(key(r.identity));
      const previous = committedBy.get(key(r.identity));
      expect(previous === undefined || previous === r.txn, `(pid, epoch) ${key(r.identity)} names transactions ${previous} and ${r.txn}`).toBe(true);
      committedBy.set(key(r.identity), r.txn);
    }
    if (after === undefined || after.state === 'Empty' || after.state.startsWith('Complete')) running = undefined;
    meta = after;

    // Replaying the log gives the same state (the log does not carry lastProducerEpoch).
    const replayed = replayTransactionLog(log).get(TID);
    expect(replayed).toEqual(after === undefined ? undefined : { ...after, lastProducerEpoch: -1 });

    // Answer the requester.
    const reply = f.decision.response;
    if (f.client !== undefined && reply.kind === 'ok' && (f.kind === 'init' || f.kind === 'end')) learn(f.client, reply);
  };

  for (const cmd of commands) {
    now += 1;
    switch (cmd.k) {
      case 'init': {
        const cl = clients[cmd.c] as Client;
        const before = meta;
        const d = handleInitProducerId(meta, { transactionalId: TID, transactionTimeoutMs: TIMEOUT_MS, producerIdAndEpoch: cmd.kip360 ? cl.current : undefined }, context());
        if (d.kind === 'write') takeWrite(d, { client: cmd.c, kind: 'init' });
        else expect(meta).toBe(before);
        break;
      }
      case 'add':
      case 'offsets':
      case 'end': {
        const identity = identityFor(cmd.c, cmd.stale);
        if (identity === undefined) break;
        const before = meta;
        const id = { transactionalId: TID, ...identity };
        const d =
          cmd.k === 'add'
            ? handleAddPartitionsToTxn(meta, { ...id, partitions: [{ topic: 'orders', partition: cmd.p }] }, context())
            : cmd.k === 'offsets'
              ? handleAddOffsetsToTxn(meta, { ...id, groupId: 'g', offsetsPartition: 3 }, context())
              : handleEndTxn(meta, { ...id, commit: cmd.commit }, context());
        checkNoWriteUnlessCurrent(d, identity, before);
        if (d.kind === 'write') takeWrite(d, { client: cmd.c, kind: cmd.k === 'end' ? 'end' : 'add', identity });
        else {
          expect(meta, 'answering at once changes nothing').toBe(before);
          if (d.kind === 'respond' && cmd.k === 'end') learn(cmd.c, d.response);
        }
        break;
      }
      case 'durable':
        if (inflight !== undefined) applyDurable();
        break;
      case 'fail':
        if (inflight !== undefined) {
          const failure = onWriteFailed(meta as TransactionMetadata, cmd.error);
          meta = failure.metadata;
          if (!failure.retry) inflight = undefined;
          else expect(meta.pendingState).toBe(inflight.decision.transit);
        }
        break;
      case 'markers':
        if (inflight === undefined && meta !== undefined && (meta.state === 'PrepareCommit' || meta.state === 'PrepareAbort')) {
          takeWrite(completeTransaction(meta, now), { kind: 'internal' });
        }
        break;
      case 'tick': {
        now += cmd.ms;
        if (inflight !== undefined || meta === undefined) break;
        const abort = abortTimedOut(meta, context());
        if (abort !== undefined) {
          expect(abort.kind).toBe('write');
          if (abort.kind === 'write') takeWrite(abort, { kind: 'internal' });
          break;
        }
        const expire = expireTransactionalId(meta, now, CONFIG);
        if (expire !== undefined) takeWrite(expire, { kind: 'internal' });
        break;
      }
    }
  }
}

test.prop([fc.array(command, { minLength: 1, maxLength: 80, size: 'max' }), fc.boolean()], { numRuns: 500 })(
  'two competing producers keep the transaction invariants',
  (commands, startNearExhaustion) => {
    simulate(commands, startNearExhaustion);
  },
);

test.prop([fc.array(command, { minLength: 20, maxLength: 200, size: 'max' })], { numRuns: 50 })('long runs near epoch exhaustion keep the invariants', (commands) => {
  simulate(commands, true);
});
