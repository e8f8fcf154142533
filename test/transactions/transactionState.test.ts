import { describe, expect, it } from 'vitest';
import {
  InvalidTransactionTransitionError,
  MAX_PRODUCER_EPOCH,
  TRANSACTION_STATES,
  TRANSACTION_STATE_IDS,
  VALID_PREVIOUS_STATES,
  completeTransition,
  isValidTransition,
  transactionStateFromId,
} from '../../src/transactions/transactionState.ts';
import type { TopicPartition, TransactionMetadata, TransactionState } from '../../src/transactions/transactionState.ts';
import { mapAppendError, onWriteFailed } from '../../src/transactions/transactionDecision.ts';
import type { Decision, TransactionContext } from '../../src/transactions/transactionDecision.ts';
import { handleAddOffsetsToTxn, handleAddPartitionsToTxn, handleEndTxn, handleInitProducerId } from '../../src/transactions/transactionRequests.ts';
import {
  abortTimedOut,
  completeTransaction,
  expireTransactionalId,
  expiredTransactionalIds,
  markersFor,
  timedOutTransactions,
} from '../../src/transactions/transactionCompletion.ts';
import { KafkaProtocolError } from '../../src/errors.ts';
import type { KafkaErrorName } from '../../src/errors.ts';
import { Harness, replyOf } from './harness.ts';

const TID = 'orders-app-0';
const PID = 1000n;
const NOW = 500_000;
const WEEK = 604_800_000;
const ORDERS_0: TopicPartition = { topic: 'orders', partition: 0 };
const PAYMENTS_1: TopicPartition = { topic: 'payments', partition: 1 };
const OFFSETS_7: TopicPartition = { topic: '__consumer_offsets', partition: 7 };

const ctx = (now = NOW): TransactionContext => ({ now, newProducerId: () => 2000n });

/** Canonical metadata of each state, as a TV2 coordinator reaches it; the client holds `producerEpoch`. */
function canonical(state: TransactionState): TransactionMetadata {
  const base: TransactionMetadata = {
    transactionalId: TID,
    producerId: PID,
    previousProducerId: PID,
    nextProducerId: -1n,
    producerEpoch: 5,
    lastProducerEpoch: -1,
    txnTimeoutMs: 60_000,
    state,
    partitions: [],
    txnStartTimestamp: -1,
    txnLastUpdateTimestamp: 10_000,
    clientTransactionVersion: 2,
    pendingState: undefined,
  };
  switch (state) {
    case 'Empty':
      return base;
    case 'Ongoing':
      return { ...base, partitions: [ORDERS_0], txnStartTimestamp: 20_000, txnLastUpdateTimestamp: 20_000 };
    case 'PrepareCommit':
    case 'PrepareAbort':
      return { ...base, producerEpoch: 6, lastProducerEpoch: 5, partitions: [ORDERS_0], txnStartTimestamp: 20_000, txnLastUpdateTimestamp: 30_000 };
    default: // Complete*, Dead, PrepareEpochFence
      return { ...base, producerEpoch: 6, lastProducerEpoch: 5, txnStartTimestamp: 20_000, txnLastUpdateTimestamp: 40_000 };
  }
}

type Column = 'init' | 'addNew' | 'addExisting' | 'addOffsets' | 'commitCurrent' | 'abortCurrent' | 'commitRetry' | 'abortRetry' | 'stale' | 'wrongPid' | 'timeout' | 'complete' | 'expire';

/** Runs one request of the table against `m`. "current" is the client's epoch, "retry" the one before the last bump. */
function run(m: TransactionMetadata, column: Column): Decision | undefined {
  const id = { transactionalId: TID, producerId: PID };
  const e = m.producerEpoch;
  switch (column) {
    case 'init':
      return handleInitProducerId(m, { transactionalId: TID, transactionTimeoutMs: 60_000 }, ctx());
    case 'addNew':
      return handleAddPartitionsToTxn(m, { ...id, producerEpoch: e, partitions: [PAYMENTS_1] }, ctx());
    case 'addExisting':
      return handleAddPartitionsToTxn(m, { ...id, producerEpoch: e, partitions: [ORDERS_0] }, ctx());
    case 'addOffsets':
      return handleAddOffsetsToTxn(m, { ...id, producerEpoch: e, groupId: 'billing', offsetsPartition: 7 }, ctx());
    case 'commitCurrent':
      return handleEndTxn(m, { ...id, producerEpoch: e, commit: true }, ctx());
    case 'abortCurrent':
      return handleEndTxn(m, { ...id, producerEpoch: e, commit: false }, ctx());
    case 'commitRetry':
      return handleEndTxn(m, { ...id, producerEpoch: e - 1, commit: true }, ctx());
    case 'abortRetry':
      return handleEndTxn(m, { ...id, producerEpoch: e - 1, commit: false }, ctx());
    case 'stale':
      return handleAddPartitionsToTxn(m, { ...id, producerEpoch: e - 2, partitions: [ORDERS_0] }, ctx());
    case 'wrongPid':
      return handleEndTxn(m, { transactionalId: TID, producerId: 999n, producerEpoch: e, commit: true }, ctx());
    case 'timeout':
      return abortTimedOut(m, ctx(m.txnStartTimestamp + m.txnTimeoutMs + 1));
    case 'complete':
      return completeTransaction(m, NOW);
    case 'expire':
      return expireTransactionalId(m, m.txnLastUpdateTimestamp + WEEK);
  }
}

/** Expected outcome of one cell. */
type Expect =
  | { error: KafkaErrorName }
  | { respond: [bigint, number] }
  | {
      write: TransactionState;
      epoch: number;
      last?: number;
      partitions?: TopicPartition[];
      start?: number;
      reply: [bigint, number] | KafkaErrorName;
      markers: boolean;
    }
  | 'throws'
  | 'none';

const CI: Expect = { error: 'CONCURRENT_TRANSACTIONS' };
const PF: Expect = { error: 'PRODUCER_FENCED' };
const ITS: Expect = { error: 'INVALID_TXN_STATE' };
const IPIM: Expect = { error: 'INVALID_PRODUCER_ID_MAPPING' };

// Derived from kafka-anchor.md §3.1/§3.2 and Kafka 4.x's TV2 EndTxn table (TransactionCoordinator.scala):
//              Abort Retry | Abort Current | Commit Retry | Commit Current
// Empty          PF        |  EB           |  PF          |  ITS
// CompleteAbort  NONE      |  EB           |  ITS         |  ITS
// CompleteCommit ITS       |  EB           |  NONE        |  ITS
// (EB = write with an epoch bump.) Prepare* accept only the retry epoch (the bumped one is fenced).
const TABLE: Record<TransactionState, Record<Column, Expect>> = {
  Empty: {
    init: { write: 'Empty', epoch: 6, last: -1, partitions: [], reply: [PID, 6], markers: false },
    addNew: { write: 'Ongoing', epoch: 5, partitions: [PAYMENTS_1], start: NOW, reply: [PID, 5], markers: false },
    addExisting: { write: 'Ongoing', epoch: 5, partitions: [ORDERS_0], start: NOW, reply: [PID, 5], markers: false },
    addOffsets: { write: 'Ongoing', epoch: 5, partitions: [OFFSETS_7], start: NOW, reply: [PID, 5], markers: false },
    commitCurrent: ITS,
    abortCurrent: { write: 'PrepareAbort', epoch: 6, last: 5, partitions: [], start: NOW, reply: [PID, 6], markers: true },
    commitRetry: PF,
    abortRetry: PF,
    stale: PF,
    wrongPid: IPIM,
    timeout: 'none',
    complete: 'throws',
    expire: { write: 'Dead', epoch: 5, partitions: [], reply: [PID, 5], markers: false },
  },
  Ongoing: {
    init: { write: 'PrepareAbort', epoch: 6, last: -1, partitions: [ORDERS_0], start: 20_000, reply: 'CONCURRENT_TRANSACTIONS', markers: true },
    addNew: { write: 'Ongoing', epoch: 5, partitions: [ORDERS_0, PAYMENTS_1], start: 20_000, reply: [PID, 5], markers: false },
    addExisting: { respond: [PID, 5] },
    addOffsets: { write: 'Ongoing', epoch: 5, partitions: [OFFSETS_7, ORDERS_0], start: 20_000, reply: [PID, 5], markers: false },
    commitCurrent: { write: 'PrepareCommit', epoch: 6, last: 5, partitions: [ORDERS_0], start: 20_000, reply: [PID, 6], markers: true },
    abortCurrent: { write: 'PrepareAbort', epoch: 6, last: 5, partitions: [ORDERS_0], start: 20_000, reply: [PID, 6], markers: true },
    commitRetry: PF,
    abortRetry: PF,
    stale: PF,
    wrongPid: IPIM,
    timeout: { write: 'PrepareAbort', epoch: 6, last: -1, partitions: [ORDERS_0], start: 20_000, reply: [PID, 6], markers: true },
    complete: 'throws',
    expire: 'none',
  },
  PrepareCommit: {
    init: CI,
    addNew: CI,
    addExisting: CI,
    addOffsets: CI,
    commitCurrent: PF,
    abortCurrent: PF,
    commitRetry: CI,
    abortRetry: ITS,
    stale: PF,
    wrongPid: IPIM,
    timeout: 'none',
    complete: { write: 'CompleteCommit', epoch: 6, last: 5, partitions: [], start: 20_000, reply: [PID, 6], markers: false },
    expire: 'none',
  },
  PrepareAbort: {
    init: CI,
    addNew: CI,
    addExisting: CI,
    addOffsets: CI,
    commitCurrent: PF,
    abortCurrent: PF,
    commitRetry: ITS,
    abortRetry: CI,
    stale: PF,
    wrongPid: IPIM,
    timeout: 'none',
    complete: { write: 'CompleteAbort', epoch: 6, last: 5, partitions: [], start: 20_000, reply: [PID, 6], markers: false },
    expire: 'none',
  },
  CompleteCommit: {
    init: { write: 'Empty', epoch: 7, last: -1, partitions: [], start: -1, reply: [PID, 7], markers: false },
    addNew: { write: 'Ongoing', epoch: 6, partitions: [PAYMENTS_1], start: NOW, reply: [PID, 6], markers: false },
    addExisting: { write: 'Ongoing', epoch: 6, partitions: [ORDERS_0], start: NOW, reply: [PID, 6], markers: false },
    addOffsets: { write: 'Ongoing', epoch: 6, partitions: [OFFSETS_7], start: NOW, reply: [PID, 6], markers: false },
    commitCurrent: ITS,
    abortCurrent: { write: 'PrepareAbort', epoch: 7, last: 6, partitions: [], start: NOW, reply: [PID, 7], markers: true },
    commitRetry: { respond: [PID, 6] },
    abortRetry: ITS,
    stale: PF,
    wrongPid: IPIM,
    timeout: 'none',
    complete: 'throws',
    expire: { write: 'Dead', epoch: 6, partitions: [], reply: [PID, 6], markers: false },
  },
  CompleteAbort: {
    init: { write: 'Empty', epoch: 7, last: -1, partitions: [], start: -1, reply: [PID, 7], markers: false },
    addNew: { write: 'Ongoing', epoch: 6, partitions: [PAYMENTS_1], start: NOW, reply: [PID, 6], markers: false },
    addExisting: { write: 'Ongoing', epoch: 6, partitions: [ORDERS_0], start: NOW, reply: [PID, 6], markers: false },
    addOffsets: { write: 'Ongoing', epoch: 6, partitions: [OFFSETS_7], start: NOW, reply: [PID, 6], markers: false },
    commitCurrent: ITS,
    abortCurrent: { write: 'PrepareAbort', epoch: 7, last: 6, partitions: [], start: NOW, reply: [PID, 7], markers: true },
    commitRetry: ITS,
    abortRetry: { respond: [PID, 6] },
    stale: PF,
    wrongPid: IPIM,
    timeout: 'none',
    complete: 'throws',
    expire: { write: 'Dead', epoch: 6, partitions: [], reply: [PID, 6], markers: false },
  },
  // Never held: Dead is dropped once its tombstone is durable, PrepareEpochFence only ever pends.
  Dead: { init: 'throws', addNew: 'throws', addExisting: 'throws', addOffsets: 'throws', commitCurrent: 'throws', abortCurrent: 'throws', commitRetry: 'throws', abortRetry: 'throws', stale: 'throws', wrongPid: 'throws', timeout: 'none', complete: 'throws', expire: 'none' },
  PrepareEpochFence: { init: 'throws', addNew: 'throws', addExisting: 'throws', addOffsets: 'throws', commitCurrent: 'throws', abortCurrent: 'throws', commitRetry: 'throws', abortRetry: 'throws', stale: 'throws', wrongPid: 'throws', timeout: 'none', complete: 'throws', expire: 'none' },
};

describe('transaction coordinator: every state × every request (TV2)', () => {
  const cells = TRANSACTION_STATES.flatMap((state) => (Object.keys(TABLE[state]) as Column[]).map((column) => [state, column, TABLE[state][column]] as const));

  it.each(cells)('%s × %s', (state, column, expected) => {
    const m = canonical(state);
    if (expected === 'throws') {
      expect(() => run(m, column)).toThrow(InvalidTransactionTransitionError);
      return;
    }
    const d = run(m, column);
    if (expected === 'none') {
      expect(d).toBeUndefined();
      return;
    }
    expect(d).toBeDefined();
    const decision = d as Decision;
    if ('error' in expected) {
      expect(decision).toMatchObject({ kind: 'error', error: expected.error });
      expect((decision as { message: string }).message).toContain(TID);
    } else if ('respond' in expected) {
      expect(decision).toEqual({ kind: 'respond', response: { kind: 'ok', producerId: expected.respond[0], producerEpoch: expected.respond[1] } });
    } else {
      expect(decision.kind).toBe('write');
      if (decision.kind !== 'write') return;
      expect(decision.transit.state).toBe(expected.write);
      expect(decision.transit.producerId).toBe(PID);
      expect(decision.transit.producerEpoch).toBe(expected.epoch);
      if (expected.last !== undefined) expect(decision.transit.lastProducerEpoch).toBe(expected.last);
      if (expected.partitions !== undefined) expect(decision.transit.partitions).toEqual(expected.partitions);
      if (expected.start !== undefined) expect(decision.transit.txnStartTimestamp).toBe(expected.start);
      expect(decision.transit.pendingState).toBeUndefined();
      expect(decision.pending).toEqual({ ...m, pendingState: decision.transit });
      expect(decision.then === 'sendMarkers').toBe(expected.markers);
      if (typeof expected.reply === 'string') expect(decision.response).toMatchObject({ kind: 'error', error: expected.reply });
      else expect(decision.response).toEqual({ kind: 'ok', producerId: expected.reply[0], producerEpoch: expected.reply[1] });
      // The transit is what completeTransition applies (Dead removes the id).
      expect(completeTransition(decision.pending)).toEqual(expected.write === 'Dead' ? undefined : decision.transit);
      // And the state never moves off the table.
      expect(isValidTransition(m.state, decision.transit.state)).toBe(true);
    }
  });

  describe('a pending transition makes every client request wait', () => {
    const pendingStates: TransactionState[] = ['Empty', 'Ongoing', 'CompleteCommit', 'CompleteAbort'];
    it.each(pendingStates)('%s with a transition in flight', (state) => {
      const m0 = canonical(state);
      const m: TransactionMetadata = { ...m0, pendingState: { ...m0, txnLastUpdateTimestamp: NOW } };
      for (const column of ['init', 'addNew', 'addExisting', 'addOffsets', 'abortCurrent'] as const) {
        expect(run(m, column), column).toMatchObject({ kind: 'error', error: 'CONCURRENT_TRANSACTIONS' });
      }
      expect(run(m, 'timeout')).toBeUndefined();
      expect(run(m, 'expire')).toBeUndefined();
      expect(timedOutTransactions([m], 10 ** 12)).toEqual([]);
      expect(expiredTransactionalIds([m], 10 ** 12)).toEqual([]);
    });
  });
});

describe('transaction coordinator: EndTxn with transaction version 1 (Kafka before KIP-890 part 2)', () => {
  // Strict epoch equality, no epoch bump; Complete* with the same result answers at once.
  const table: Array<[TransactionState, boolean, Expect]> = [
    ['Empty', true, ITS],
    ['Empty', false, ITS],
    ['Ongoing', true, { write: 'PrepareCommit', epoch: 5, last: -1, partitions: [ORDERS_0], reply: [PID, 5], markers: true }],
    ['Ongoing', false, { write: 'PrepareAbort', epoch: 5, last: -1, partitions: [ORDERS_0], reply: [PID, 5], markers: true }],
    ['PrepareCommit', true, CI],
    ['PrepareCommit', false, ITS],
    ['PrepareAbort', true, ITS],
    ['PrepareAbort', false, CI],
    ['CompleteCommit', true, { respond: [PID, 5] }],
    ['CompleteCommit', false, ITS],
    ['CompleteAbort', true, ITS],
    ['CompleteAbort', false, { respond: [PID, 5] }],
  ];
  it.each(table)('%s × %s', (state, commit, expected) => {
    const m = { ...canonical(state), producerEpoch: 5, lastProducerEpoch: -1, clientTransactionVersion: 1 };
    const d = handleEndTxn(m, { transactionalId: TID, producerId: PID, producerEpoch: 5, commit, transactionVersion: 1 }, ctx());
    if (typeof expected === 'object' && 'error' in expected) expect(d).toMatchObject({ kind: 'error', error: expected.error });
    else if (typeof expected === 'object' && 'respond' in expected) expect(d).toEqual({ kind: 'respond', response: { kind: 'ok', producerId: PID, producerEpoch: 5 } });
    else if (typeof expected === 'object' && 'write' in expected) {
      expect(d).toMatchObject({ kind: 'write', then: 'sendMarkers', transit: { state: expected.write, producerEpoch: expected.epoch, partitions: expected.partitions }, response: { kind: 'ok', producerEpoch: 5 } });
    }
    // An older epoch is always fenced under TV1.
    expect(handleEndTxn(m, { transactionalId: TID, producerId: PID, producerEpoch: 4, commit, transactionVersion: 1 }, ctx())).toMatchObject({ error: 'PRODUCER_FENCED' });
  });
});

describe('valid previous states', () => {
  // kafka-anchor.md §3.1, verbatim (Kafka's TransactionMetadata.scala at the anchor's snapshot).
  const ANCHOR: Record<TransactionState, TransactionState[]> = {
    Empty: ['Empty', 'CompleteCommit', 'CompleteAbort'],
    Ongoing: ['Ongoing', 'Empty', 'CompleteCommit', 'CompleteAbort'],
    PrepareCommit: ['Ongoing'],
    PrepareAbort: ['Ongoing', 'PrepareEpochFence'],
    CompleteCommit: ['PrepareCommit'],
    CompleteAbort: ['PrepareAbort'],
    Dead: ['Empty', 'CompleteAbort', 'CompleteCommit'],
    PrepareEpochFence: ['Ongoing'],
  };
  // Kafka 4.x adds, for TV2's abort with no transaction open: PrepareAbort from Empty, CompleteCommit, CompleteAbort.
  const TV2_ADDITIONS: Array<[TransactionState, TransactionState]> = [
    ['Empty', 'PrepareAbort'],
    ['CompleteCommit', 'PrepareAbort'],
    ['CompleteAbort', 'PrepareAbort'],
  ];

  it('has Kafka ids 0..7', () => {
    expect(TRANSACTION_STATE_IDS).toEqual({ Empty: 0, Ongoing: 1, PrepareCommit: 2, PrepareAbort: 3, CompleteCommit: 4, CompleteAbort: 5, Dead: 6, PrepareEpochFence: 7 });
    for (const s of TRANSACTION_STATES) expect(transactionStateFromId(TRANSACTION_STATE_IDS[s])).toBe(s);
    expect(transactionStateFromId(8)).toBeUndefined();
  });

  it('is the anchor table plus the three TV2 empty-abort sources, for all 64 pairs', () => {
    for (const to of TRANSACTION_STATES) {
      expect(new Set(VALID_PREVIOUS_STATES[to])).toEqual(new Set([...ANCHOR[to], ...TV2_ADDITIONS.filter(([, t]) => t === to).map(([f]) => f)]));
      for (const from of TRANSACTION_STATES) {
        const expected = ANCHOR[to].includes(from) || TV2_ADDITIONS.some(([f, t]) => f === from && t === to);
        expect(isValidTransition(from, to), `${from} → ${to}`).toBe(expected);
      }
    }
  });

  it('throws an internal error naming both states for a transition off the table', () => {
    const empty = canonical('Empty');
    const forged: TransactionMetadata = { ...empty, pendingState: { ...canonical('PrepareCommit'), previousProducerId: PID } };
    expect(() => completeTransition(forged)).toThrow(InvalidTransactionTransitionError);
    expect(() => completeTransition(forged)).toThrow(/orders-app-0.*PrepareCommit cannot follow Empty.*from Empty to PrepareCommit/);
    // Completing with nothing pending, or writing PrepareEpochFence, is a bug too.
    expect(() => completeTransition(empty)).toThrow(InvalidTransactionTransitionError);
    const ongoing = canonical('Ongoing');
    expect(() => completeTransition({ ...ongoing, pendingState: { ...ongoing, state: 'PrepareEpochFence', producerEpoch: 6 } })).toThrow(/PrepareEpochFence is never written/);
    // An epoch going backwards is refused even along a valid edge.
    expect(() => completeTransition({ ...ongoing, pendingState: { ...ongoing, producerEpoch: 4 } })).toThrow(InvalidTransactionTransitionError);
    // A TV2-only empty abort is refused for a TV1 transit.
    expect(() => completeTransition({ ...empty, pendingState: { ...empty, state: 'PrepareAbort', producerEpoch: 6, clientTransactionVersion: 1, txnStartTimestamp: NOW } })).toThrow(/only transaction version 2/);
  });
});

describe('InitProducerId', () => {
  it('gives an unknown transactional id a new producer id at epoch 0', () => {
    const h = new Harness();
    const d = h.init({ transactionalId: TID, transactionTimeoutMs: 60_000 });
    expect(d.kind).toBe('write');
    // While the first write is in flight, a second init waits.
    expect(h.init({ transactionalId: TID, transactionTimeoutMs: 60_000 })).toMatchObject({ error: 'CONCURRENT_TRANSACTIONS' });
    expect(h.durable()).toEqual({ kind: 'ok', producerId: 1000n, producerEpoch: 0 });
    expect(h.get(TID)).toMatchObject({ state: 'Empty', producerId: 1000n, producerEpoch: 0, lastProducerEpoch: -1, txnTimeoutMs: 60_000, txnStartTimestamp: -1 });
    expect(h.allocated).toEqual([1000n]);
  });

  it('validates the timeout against transaction.max.timeout.ms (0 < t ≤ 900000)', () => {
    for (const [t, ok] of [[0, false], [-1, false], [1, true], [900_000, true], [900_001, false], [1.5, false]] as const) {
      const d = handleInitProducerId(undefined, { transactionalId: TID, transactionTimeoutMs: t }, ctx());
      if (ok) expect(d.kind, String(t)).toBe('write');
      else {
        expect(d, String(t)).toMatchObject({ kind: 'error', error: 'INVALID_TRANSACTION_TIMEOUT' });
        expect((d as { message: string }).message).toMatch(/transaction\.max\.timeout\.ms/);
      }
    }
    expect(handleInitProducerId(undefined, { transactionalId: TID, transactionTimeoutMs: 1_000_000 }, { ...ctx(), config: { 'transaction.max.timeout.ms': 1_000_000 } }).kind).toBe('write');
    expect(handleInitProducerId(undefined, { transactionalId: '', transactionTimeoutMs: 1 }, ctx())).toMatchObject({ error: 'INVALID_REQUEST' });
  });

  it('answers a producer id allocation failure with its error', () => {
    const d = handleInitProducerId(undefined, { transactionalId: TID, transactionTimeoutMs: 1 }, { now: 0, newProducerId: () => { throw new KafkaProtocolError('COORDINATOR_LOAD_IN_PROGRESS'); } });
    expect(d).toMatchObject({ kind: 'error', error: 'COORDINATOR_LOAD_IN_PROGRESS' });
  });

  it('KIP-360: a producer re-initialising with its identity gets a bump, a lost-response retry the same epoch, a stranger PRODUCER_FENCED', () => {
    const m = canonical('CompleteCommit'); // epoch 6, client holds 6
    const bump = handleInitProducerId(m, { transactionalId: TID, transactionTimeoutMs: 60_000, producerIdAndEpoch: { producerId: PID, producerEpoch: 6 } }, ctx());
    expect(bump).toMatchObject({ kind: 'write', transit: { producerEpoch: 7, lastProducerEpoch: 6 }, response: { producerEpoch: 7 } });
    const after = completeTransition((bump as { pending: TransactionMetadata }).pending) as TransactionMetadata;
    // The response was lost; the producer retries with epoch 6 = lastProducerEpoch: same epoch, no new bump.
    const retry = handleInitProducerId(after, { transactionalId: TID, transactionTimeoutMs: 60_000, producerIdAndEpoch: { producerId: PID, producerEpoch: 6 } }, ctx());
    expect(retry).toMatchObject({ kind: 'write', transit: { producerEpoch: 7, lastProducerEpoch: 6 }, response: { producerEpoch: 7 } });
    // Any other epoch, or another producer id, is fenced.
    expect(handleInitProducerId(after, { transactionalId: TID, transactionTimeoutMs: 60_000, producerIdAndEpoch: { producerId: PID, producerEpoch: 3 } }, ctx())).toMatchObject({ error: 'PRODUCER_FENCED' });
    expect(handleInitProducerId(after, { transactionalId: TID, transactionTimeoutMs: 60_000, producerIdAndEpoch: { producerId: 77n, producerEpoch: 7 } }, ctx())).toMatchObject({ error: 'PRODUCER_FENCED' });
    // A plain init (a new producer instance) forgets the last epoch, so the old instance cannot pass as a retry.
    const plain = handleInitProducerId(after, { transactionalId: TID, transactionTimeoutMs: 60_000 }, ctx());
    expect(plain).toMatchObject({ transit: { producerEpoch: 8, lastProducerEpoch: -1 } });
  });
});

describe('fencing a zombie (behaviour 19)', () => {
  it('an init during Ongoing fences and aborts (PrepareEpochFence → PrepareAbort), answers CONCURRENT_TRANSACTIONS, and the old epoch is then refused', () => {
    const h = new Harness();
    const a = replyOf(h.init({ transactionalId: TID, transactionTimeoutMs: 60_000 }));
    h.durable();
    expect(a).toMatchObject({ producerId: 1000n, producerEpoch: 0 });
    h.run(h.add({ transactionalId: TID, producerId: 1000n, producerEpoch: 0, partitions: [ORDERS_0, PAYMENTS_1] }));

    // Producer B starts with the same transactional.id.
    const fence = h.init({ transactionalId: TID, transactionTimeoutMs: 60_000 });
    expect(fence).toMatchObject({ kind: 'write', then: 'sendMarkers', transit: { state: 'PrepareAbort', producerEpoch: 1, lastProducerEpoch: -1, partitions: [ORDERS_0, PAYMENTS_1] } });
    // The answer comes only after PrepareAbort is durable, and is CONCURRENT_TRANSACTIONS.
    expect(h.durable()).toMatchObject({ kind: 'error', error: 'CONCURRENT_TRANSACTIONS' });
    // The markers carry the fenced epoch, so the partition leaders fence A's late writes too.
    expect(markersFor(h.get(TID) as TransactionMetadata)).toEqual({ transactionalId: TID, producerId: 1000n, producerEpoch: 1, commit: false, partitions: [ORDERS_0, PAYMENTS_1], transactionVersion: 2 });

    // Zombie A: its sends are fenced; its commit cannot turn the abort into a commit.
    expect(h.add({ transactionalId: TID, producerId: 1000n, producerEpoch: 0, partitions: [{ topic: 'x', partition: 0 }] })).toMatchObject({ error: 'PRODUCER_FENCED' });
    expect(h.end({ transactionalId: TID, producerId: 1000n, producerEpoch: 0, commit: true })).toMatchObject({ error: 'INVALID_TXN_STATE' });
    // B retries while the markers are out: still CONCURRENT_TRANSACTIONS.
    expect(h.init({ transactionalId: TID, transactionTimeoutMs: 60_000 })).toMatchObject({ error: 'CONCURRENT_TRANSACTIONS' });

    h.run(h.complete(TID));
    expect(h.get(TID)).toMatchObject({ state: 'CompleteAbort', producerEpoch: 1, partitions: [] });
    // B's retry gets the second bump.
    expect(h.run(h.init({ transactionalId: TID, transactionTimeoutMs: 60_000 }))).toEqual({ kind: 'ok', producerId: 1000n, producerEpoch: 2 });
    // From now on A is PRODUCER_FENCED for everything.
    expect(h.add({ transactionalId: TID, producerId: 1000n, producerEpoch: 0, partitions: [ORDERS_0] })).toMatchObject({ error: 'PRODUCER_FENCED' });
    expect(h.end({ transactionalId: TID, producerId: 1000n, producerEpoch: 0, commit: true })).toMatchObject({ error: 'PRODUCER_FENCED' });
    expect(h.end({ transactionalId: TID, producerId: 1000n, producerEpoch: 0, commit: false })).toMatchObject({ error: 'PRODUCER_FENCED' });
    expect(h.offsets({ transactionalId: TID, producerId: 1000n, producerEpoch: 0, groupId: 'g', offsetsPartition: 3 })).toMatchObject({ error: 'PRODUCER_FENCED' });
  });
});

describe('transaction version 2 (KIP-890 part 2)', () => {
  function started(h: Harness): void {
    h.run(h.init({ transactionalId: TID, transactionTimeoutMs: 60_000 }));
  }

  it('EndTxn answers after Prepare* is durable; markers are asynchronous; the next AddPartitions waits until Complete* (behaviour 18)', () => {
    const h = new Harness();
    started(h);
    h.run(h.add({ transactionalId: TID, producerId: 1000n, producerEpoch: 0, partitions: [ORDERS_0] }));
    const end = h.end({ transactionalId: TID, producerId: 1000n, producerEpoch: 0, commit: true });
    expect(end).toMatchObject({ kind: 'write', then: 'sendMarkers', transit: { state: 'PrepareCommit', producerEpoch: 1, lastProducerEpoch: 0 } });
    expect(h.durable()).toEqual({ kind: 'ok', producerId: 1000n, producerEpoch: 1 });
    // The client already moved to epoch 1; the markers are not done.
    expect(h.add({ transactionalId: TID, producerId: 1000n, producerEpoch: 1, partitions: [ORDERS_0] })).toMatchObject({ error: 'CONCURRENT_TRANSACTIONS' });
    h.run(h.complete(TID));
    expect(h.run(h.add({ transactionalId: TID, producerId: 1000n, producerEpoch: 1, partitions: [ORDERS_0] }))).toMatchObject({ kind: 'ok' });
    expect(h.get(TID)).toMatchObject({ state: 'Ongoing', producerEpoch: 1, txnStartTimestamp: h.now });
  });

  it('a delayed EndTxn or AddPartitions of transaction N arriving during N+1 is refused (KAFKA-17754)', () => {
    const h = new Harness();
    started(h);
    h.run(h.add({ transactionalId: TID, producerId: 1000n, producerEpoch: 0, partitions: [ORDERS_0] }));
    const commitN = { transactionalId: TID, producerId: 1000n, producerEpoch: 0, commit: true };
    h.run(h.end(commitN));
    h.run(h.complete(TID));
    // A retry of the commit before N+1 starts: idempotent success, with the identity to use next.
    expect(h.end(commitN)).toEqual({ kind: 'respond', response: { kind: 'ok', producerId: 1000n, producerEpoch: 1 } });
    // Transaction N+1 at epoch 1.
    h.run(h.add({ transactionalId: TID, producerId: 1000n, producerEpoch: 1, partitions: [PAYMENTS_1] }));
    const before = h.get(TID);
    // The delayed commit and a delayed abort of N, and a delayed AddPartitions of N, change nothing.
    expect(h.end(commitN)).toMatchObject({ error: 'PRODUCER_FENCED' });
    expect(h.end({ ...commitN, commit: false })).toMatchObject({ error: 'PRODUCER_FENCED' });
    expect(h.add({ transactionalId: TID, producerId: 1000n, producerEpoch: 0, partitions: [ORDERS_0] })).toMatchObject({ error: 'PRODUCER_FENCED' });
    expect(h.get(TID)).toBe(before);
    // N+1 ends normally.
    expect(h.run(h.end({ ...commitN, producerEpoch: 1, commit: false }))).toEqual({ kind: 'ok', producerId: 1000n, producerEpoch: 2 });
  });

  it('with transaction version 1 the same delayed EndTxn commits the next transaction (the anomaly TV2 fixes)', () => {
    const h = new Harness();
    started(h);
    const tv1 = { transactionVersion: 1 } as const;
    h.run(h.add({ transactionalId: TID, producerId: 1000n, producerEpoch: 0, partitions: [ORDERS_0], ...tv1 }));
    const commitN = { transactionalId: TID, producerId: 1000n, producerEpoch: 0, commit: true, ...tv1 };
    expect(h.run(h.end(commitN))).toEqual({ kind: 'ok', producerId: 1000n, producerEpoch: 0 });
    h.run(h.complete(TID));
    h.run(h.add({ transactionalId: TID, producerId: 1000n, producerEpoch: 0, partitions: [PAYMENTS_1], ...tv1 }));
    // The delayed duplicate commit of N now ends N+1 before its producer decided.
    const delayed = h.end(commitN);
    expect(delayed).toMatchObject({ kind: 'write', transit: { state: 'PrepareCommit', partitions: [PAYMENTS_1] } });
  });

  it('a retried EndTxn with the same result succeeds while markers are out (CONCURRENT_TRANSACTIONS) and after (NONE)', () => {
    const h = new Harness();
    started(h);
    h.run(h.add({ transactionalId: TID, producerId: 1000n, producerEpoch: 0, partitions: [ORDERS_0] }));
    const abort = { transactionalId: TID, producerId: 1000n, producerEpoch: 0, commit: false };
    h.run(h.end(abort));
    expect(h.end(abort)).toMatchObject({ error: 'CONCURRENT_TRANSACTIONS' });
    expect(h.end({ ...abort, commit: true })).toMatchObject({ error: 'INVALID_TXN_STATE', message: expect.stringMatching(/"orders-app-0" in state PrepareAbort: its transaction already ended with abort/) });
    h.run(h.complete(TID));
    expect(replyOf(h.end(abort))).toEqual({ kind: 'ok', producerId: 1000n, producerEpoch: 1 });
    expect(h.end({ ...abort, commit: true })).toMatchObject({ error: 'INVALID_TXN_STATE' });
  });

  it('an abort with no transaction open bumps the epoch and has nothing to mark', () => {
    const h = new Harness();
    started(h);
    const d = h.end({ transactionalId: TID, producerId: 1000n, producerEpoch: 0, commit: false });
    expect(d).toMatchObject({ kind: 'write', then: 'sendMarkers', transit: { state: 'PrepareAbort', producerEpoch: 1, partitions: [], txnStartTimestamp: h.now } });
    expect(h.durable()).toEqual({ kind: 'ok', producerId: 1000n, producerEpoch: 1 });
    expect(markersFor(h.get(TID) as TransactionMetadata).partitions).toEqual([]);
    h.run(h.complete(TID));
    expect(h.get(TID)).toMatchObject({ state: 'CompleteAbort', producerEpoch: 1 });
    expect(h.end({ transactionalId: TID, producerId: 1000n, producerEpoch: 1, commit: true })).toMatchObject({ error: 'INVALID_TXN_STATE' });
  });
});

describe('epoch exhaustion rotates the producer id', () => {
  const exhaustedAt = (state: TransactionState, epoch: number): TransactionMetadata => ({ ...canonical(state), producerEpoch: epoch, lastProducerEpoch: epoch - 1 });

  it('InitProducerId at Short.MAX − 1 moves to a new producer id at epoch 0, remembering the previous id', () => {
    const h = new Harness();
    h.nextProducerId = 5000n;
    h.state.set(TID, exhaustedAt('CompleteCommit', MAX_PRODUCER_EPOCH - 2));
    expect(h.run(h.init({ transactionalId: TID, transactionTimeoutMs: 60_000 }))).toEqual({ kind: 'ok', producerId: PID, producerEpoch: MAX_PRODUCER_EPOCH - 1 });
    expect(h.run(h.init({ transactionalId: TID, transactionTimeoutMs: 60_000 }))).toEqual({ kind: 'ok', producerId: 5000n, producerEpoch: 0 });
    expect(h.get(TID)).toMatchObject({ producerId: 5000n, previousProducerId: PID, producerEpoch: 0, lastProducerEpoch: -1 });
    expect(h.allocated).toEqual([5000n]);
  });

  it('KIP-360 from the exhausted identity rotates and records the last epoch; its retry gets the same new identity', () => {
    const m = exhaustedAt('Empty', MAX_PRODUCER_EPOCH - 1);
    const expected = { producerId: PID, producerEpoch: MAX_PRODUCER_EPOCH - 1 };
    const d = handleInitProducerId(m, { transactionalId: TID, transactionTimeoutMs: 60_000, producerIdAndEpoch: expected }, ctx());
    expect(d).toMatchObject({ kind: 'write', transit: { producerId: 2000n, producerEpoch: 0, lastProducerEpoch: MAX_PRODUCER_EPOCH - 1, previousProducerId: PID } });
    const after = completeTransition((d as { pending: TransactionMetadata }).pending) as TransactionMetadata;
    const retry = handleInitProducerId(after, { transactionalId: TID, transactionTimeoutMs: 60_000, producerIdAndEpoch: expected }, { ...ctx(), newProducerId: () => { throw new Error('no new id expected'); } });
    expect(retry).toMatchObject({ kind: 'write', response: { kind: 'ok', producerId: 2000n, producerEpoch: 0 } });
  });

  it('TV2 EndTxn at Short.MAX − 1 completes on a new producer id; the client moves to it at once', () => {
    const h = new Harness();
    h.nextProducerId = 7000n;
    const epoch = MAX_PRODUCER_EPOCH - 1;
    h.state.set(TID, exhaustedAt('Ongoing', epoch));
    const commit = { transactionalId: TID, producerId: PID, producerEpoch: epoch, commit: true };
    const d = h.end(commit);
    expect(d).toMatchObject({ kind: 'write', transit: { state: 'PrepareCommit', producerId: PID, producerEpoch: MAX_PRODUCER_EPOCH, nextProducerId: 7000n } });
    expect(h.durable()).toEqual({ kind: 'ok', producerId: 7000n, producerEpoch: 0 });
    // Markers carry the old id at the bumped epoch.
    expect(markersFor(h.get(TID) as TransactionMetadata)).toMatchObject({ producerId: PID, producerEpoch: MAX_PRODUCER_EPOCH });
    // The client, already on the new identity, waits for the markers instead of being refused.
    expect(h.add({ transactionalId: TID, producerId: 7000n, producerEpoch: 0, partitions: [ORDERS_0] })).toMatchObject({ error: 'CONCURRENT_TRANSACTIONS' });
    // A retry from the old identity while markers are out.
    expect(h.end(commit)).toMatchObject({ error: 'CONCURRENT_TRANSACTIONS' });
    h.run(h.complete(TID));
    expect(h.get(TID)).toMatchObject({ state: 'CompleteCommit', producerId: 7000n, producerEpoch: 0, previousProducerId: PID, nextProducerId: -1n });
    // A retry from the old identity after completion: idempotent, answering the new identity.
    expect(h.end(commit)).toEqual({ kind: 'respond', response: { kind: 'ok', producerId: 7000n, producerEpoch: 0 } });
    expect(h.end({ ...commit, commit: false })).toMatchObject({ error: 'INVALID_TXN_STATE' });
    // The next transaction on the new identity; the old identity is refused from then on.
    h.run(h.add({ transactionalId: TID, producerId: 7000n, producerEpoch: 0, partitions: [ORDERS_0] }));
    expect(h.end(commit)).toMatchObject({ error: 'INVALID_PRODUCER_ID_MAPPING' });
  });

  it('a timeout fence that exhausts the epoch completes on a new producer id (KAFKA-20090)', () => {
    const m = { ...exhaustedAt('Ongoing', MAX_PRODUCER_EPOCH - 1), txnStartTimestamp: 0 };
    const d = abortTimedOut(m, ctx());
    expect(d).toMatchObject({ kind: 'write', transit: { state: 'PrepareAbort', producerEpoch: MAX_PRODUCER_EPOCH, nextProducerId: 2000n } });
    const prepared = completeTransition((d as { pending: TransactionMetadata }).pending) as TransactionMetadata;
    expect(completeTransaction(prepared, NOW).transit).toMatchObject({ state: 'CompleteAbort', producerId: 2000n, producerEpoch: 0, previousProducerId: PID });
  });
});

describe('transaction timeout (behaviour 21)', () => {
  it('aborts only after start + transaction.timeout.ms, fences the producer and releases the partitions through markers', () => {
    const h = new Harness();
    h.run(h.init({ transactionalId: TID, transactionTimeoutMs: 60_000 }));
    h.now = 10_000;
    h.run(h.add({ transactionalId: TID, producerId: 1000n, producerEpoch: 0, partitions: [ORDERS_0] }));
    h.now = 30_000; // a later AddPartitions does not restart the clock
    h.run(h.add({ transactionalId: TID, producerId: 1000n, producerEpoch: 0, partitions: [PAYMENTS_1] }));
    const all = (): TransactionMetadata[] => [...h.state.values()];
    expect(timedOutTransactions(all(), 70_000)).toEqual([]);
    expect(timedOutTransactions(all(), 70_001)).toEqual([{ transactionalId: TID, producerId: 1000n, producerEpoch: 0 }]);
    h.now = 70_001;
    const m = h.get(TID) as TransactionMetadata;
    expect(abortTimedOut(m, { ...h.context(), now: 70_000 })).toBeUndefined();
    expect(abortTimedOut(m, h.context(), { transactionalId: TID, producerId: 999n, producerEpoch: 0 })).toBeUndefined();
    const d = h.take(abortTimedOut(m, h.context()) as Decision);
    expect(d).toMatchObject({ kind: 'write', then: 'sendMarkers', transit: { state: 'PrepareAbort', producerEpoch: 1, lastProducerEpoch: -1, partitions: [ORDERS_0, PAYMENTS_1] } });
    // While the abort is being written, nothing else times out or proceeds.
    expect(timedOutTransactions(all(), 10 ** 9)).toEqual([]);
    h.durable();
    // The zombie's next requests.
    expect(h.add({ transactionalId: TID, producerId: 1000n, producerEpoch: 0, partitions: [{ topic: 'x', partition: 1 }] })).toMatchObject({ error: 'PRODUCER_FENCED' });
    expect(h.end({ transactionalId: TID, producerId: 1000n, producerEpoch: 0, commit: true })).toMatchObject({ error: 'INVALID_TXN_STATE' });
    expect(markersFor(h.get(TID) as TransactionMetadata)).toMatchObject({ producerEpoch: 1, commit: false, partitions: [ORDERS_0, PAYMENTS_1] });
    h.run(h.complete(TID));
    expect(h.get(TID)).toMatchObject({ state: 'CompleteAbort', producerEpoch: 1, partitions: [] });
    expect(h.add({ transactionalId: TID, producerId: 1000n, producerEpoch: 0, partitions: [ORDERS_0] })).toMatchObject({ error: 'PRODUCER_FENCED' });
  });
});

describe('transactional id expiry', () => {
  it('expires Empty/Complete* ids idle for transactional.id.expiration.ms, as a tombstone that removes them', () => {
    const h = new Harness();
    h.run(h.init({ transactionalId: TID, transactionTimeoutMs: 60_000 }));
    const m = h.get(TID) as TransactionMetadata;
    expect(expiredTransactionalIds([m], m.txnLastUpdateTimestamp + WEEK - 1)).toEqual([]);
    expect(expiredTransactionalIds([m], m.txnLastUpdateTimestamp + WEEK)).toEqual([TID]);
    expect(expiredTransactionalIds([m], m.txnLastUpdateTimestamp + 10, { 'transactional.id.expiration.ms': 10 })).toEqual([TID]);
    const d = h.take(expireTransactionalId(m, m.txnLastUpdateTimestamp + WEEK) as Decision);
    expect(d).toMatchObject({ kind: 'write', transit: { state: 'Dead' } });
    // While the tombstone is written, an init waits; then the id is gone and starts afresh.
    expect(h.init({ transactionalId: TID, transactionTimeoutMs: 60_000 })).toMatchObject({ error: 'CONCURRENT_TRANSACTIONS' });
    h.durable();
    expect(h.get(TID)).toBeUndefined();
    expect(h.log.at(-1)?.value).toBeNull();
    expect(h.add({ transactionalId: TID, producerId: 1000n, producerEpoch: 0, partitions: [ORDERS_0] })).toMatchObject({ error: 'INVALID_PRODUCER_ID_MAPPING' });
    expect(h.run(h.init({ transactionalId: TID, transactionTimeoutMs: 60_000 }))).toEqual({ kind: 'ok', producerId: 1001n, producerEpoch: 0 });
  });
});

describe('write failures', () => {
  it("map append errors as Kafka's coordinator does", () => {
    const cases: Array<[KafkaErrorName, KafkaErrorName]> = [
      ['UNKNOWN_TOPIC_OR_PARTITION', 'COORDINATOR_NOT_AVAILABLE'],
      ['NOT_ENOUGH_REPLICAS', 'COORDINATOR_NOT_AVAILABLE'],
      ['NOT_ENOUGH_REPLICAS_AFTER_APPEND', 'COORDINATOR_NOT_AVAILABLE'],
      ['REQUEST_TIMED_OUT', 'COORDINATOR_NOT_AVAILABLE'],
      ['NOT_LEADER_OR_FOLLOWER', 'NOT_COORDINATOR'],
      ['KAFKA_STORAGE_ERROR', 'NOT_COORDINATOR'],
      ['MESSAGE_TOO_LARGE', 'UNKNOWN_SERVER_ERROR'],
      ['RECORD_LIST_TOO_LARGE', 'UNKNOWN_SERVER_ERROR'],
      ['NOT_COORDINATOR', 'NOT_COORDINATOR'],
    ];
    for (const [from, to] of cases) expect(mapAppendError(from), from).toBe(to);
  });

  it('clear the pending transition so the request can be retried, keeping a new id’s producer id', () => {
    const h = new Harness();
    h.init({ transactionalId: TID, transactionTimeoutMs: 60_000 });
    const failure = h.fail('NOT_ENOUGH_REPLICAS');
    expect(failure).toMatchObject({ error: 'COORDINATOR_NOT_AVAILABLE', retry: false });
    expect(failure.message).toContain(TID);
    expect(h.get(TID)).toMatchObject({ state: 'Empty', producerId: 1000n, producerEpoch: -1, pendingState: undefined });
    // The retry reuses the producer id.
    expect(h.run(h.init({ transactionalId: TID, transactionTimeoutMs: 60_000 }))).toEqual({ kind: 'ok', producerId: 1000n, producerEpoch: 0 });
    // A failed fence leaves the transaction Ongoing at its epoch; the retry fences again.
    h.run(h.add({ transactionalId: TID, producerId: 1000n, producerEpoch: 0, partitions: [ORDERS_0] }));
    h.init({ transactionalId: TID, transactionTimeoutMs: 60_000 });
    expect(h.fail('NOT_LEADER_OR_FOLLOWER')).toMatchObject({ error: 'NOT_COORDINATOR', retry: false });
    expect(h.get(TID)).toMatchObject({ state: 'Ongoing', producerEpoch: 0, pendingState: undefined });
    expect(h.init({ transactionalId: TID, transactionTimeoutMs: 60_000 })).toMatchObject({ transit: { state: 'PrepareAbort', producerEpoch: 1 } });
  });

  it('keep a completion pending for another append when the coordinator is merely unavailable', () => {
    const prepared = canonical('PrepareCommit');
    const d = completeTransaction(prepared, NOW);
    const unavailable = onWriteFailed(d.pending, 'REQUEST_TIMED_OUT');
    expect(unavailable).toMatchObject({ error: 'COORDINATOR_NOT_AVAILABLE', retry: true });
    expect(unavailable.metadata).toBe(d.pending);
    const moved = onWriteFailed(d.pending, 'NOT_LEADER_OR_FOLLOWER');
    expect(moved).toMatchObject({ error: 'NOT_COORDINATOR', retry: false, metadata: prepared });
    expect(() => onWriteFailed(prepared, 'REQUEST_TIMED_OUT')).toThrow(InvalidTransactionTransitionError);
  });
});

describe('request validation', () => {
  it('refuses an unknown transactional id and mismatched metadata', () => {
    expect(handleAddPartitionsToTxn(undefined, { transactionalId: TID, producerId: 1n, producerEpoch: 0, partitions: [] }, ctx())).toMatchObject({ error: 'INVALID_PRODUCER_ID_MAPPING' });
    expect(handleEndTxn(undefined, { transactionalId: TID, producerId: 1n, producerEpoch: 0, commit: true }, ctx())).toMatchObject({ error: 'INVALID_PRODUCER_ID_MAPPING' });
    expect(handleEndTxn(undefined, { transactionalId: '', producerId: 1n, producerEpoch: 0, commit: true }, ctx())).toMatchObject({ error: 'INVALID_REQUEST' });
    expect(() => handleEndTxn(canonical('Ongoing'), { transactionalId: 'other', producerId: PID, producerEpoch: 5, commit: true }, ctx())).toThrow(/other/);
  });

  it('keeps partitions sorted and unique', () => {
    const d = handleAddPartitionsToTxn(canonical('Empty'), { transactionalId: TID, producerId: PID, producerEpoch: 5, partitions: [PAYMENTS_1, ORDERS_0, { topic: 'orders', partition: 0 }, { topic: 'a', partition: 9 }] }, ctx());
    expect(d).toMatchObject({ transit: { partitions: [{ topic: 'a', partition: 9 }, ORDERS_0, PAYMENTS_1] } });
  });

  it('markers are only for Prepare* transactions', () => {
    expect(() => markersFor(canonical('Ongoing'))).toThrow(InvalidTransactionTransitionError);
  });

  it('decisions are structured-clone safe', () => {
    const d = handleEndTxn(canonical('Ongoing'), { transactionalId: TID, producerId: PID, producerEpoch: 5, commit: true }, ctx());
    expect(structuredClone(d)).toEqual(d);
  });
});
