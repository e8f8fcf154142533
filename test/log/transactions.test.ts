/**
 * Transactions in the partition log (Kafka's UnifiedLog + ProducerStateManager + TransactionIndex):
 * open and closed transactions, the LSO, `.txnindex` entries and their lookup, marker fencing,
 * INVALID_TXN_STATE, the transaction version 2 epoch bump, followers, crash recovery, truncation,
 * retention, compaction, and a model-based property over random histories. Both storages.
 */
import { createRequire } from 'node:module';
import { fc, test } from '@fast-check/vitest';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { SimulatedClock } from '../../src/clock.ts';
import { CorruptRecordError, InvalidRecordError, KafkaProtocolError } from '../../src/errors.ts';
import { PartitionLog } from '../../src/log/partitionLog.ts';
import { encodeRecordBatch, readBatchHeader, LOG_OVERHEAD } from '../../src/record/recordBatch.ts';
import { MemoryStorage } from '../../src/log/storage/memoryStorage.ts';
import type { Storage } from '../../src/log/storage/storage.ts';
import { encodeAbortedTxns } from '../../src/log/transactionIndex.ts';
import type { AbortedTxn } from '../../src/log/transactionIndex.ts';
import { openLog, storageFixtures } from '../helpers/log.ts';
import { controlOffsets, cutLogAt, mark, plainBatch, readCommitted, readUncommitted, TestProducer, txnIndexEntries, txnIndexFiles } from './txnLog.helpers.ts';
import type { SeenRecord } from './txnLog.helpers.ts';

const require = createRequire(import.meta.url);
const KafkaJsDecoder = require('kafkajs/src/protocol/decoder.js') as new (buffer: Buffer) => unknown;
const kafkaJsDecodeMessages = require('kafkajs/src/protocol/requests/fetch/v4/decodeMessages.js') as (decoder: unknown) => Promise<Array<{ offset: string; value: Buffer | null }>>;
const KafkaJsBatch = require('kafkajs/src/consumer/batch.js') as new (
  topic: string,
  fetchedOffset: string,
  partitionData: { partition: number; highWatermark: string; abortedTransactions: Array<{ producerId: string; firstOffset: string }>; messages: unknown[] },
) => { messages: Array<{ offset: string; value: Buffer | null }> };

const txn = (producerId: bigint, firstOffset: bigint, lastOffset: bigint, lastStableOffset: bigint): AbortedTxn => ({ producerId, firstOffset, lastOffset, lastStableOffset });

function errorOf(f: () => unknown): KafkaProtocolError {
  try {
    f();
  } catch (e) {
    if (e instanceof KafkaProtocolError) return e;
    throw e;
  }
  throw new Error('expected a KafkaProtocolError');
}

/** The stored bytes of every batch below `upTo`, back to back (a read returns one segment's worth at most). */
function readAllBytes(log: PartitionLog, upTo = log.logEndOffset): Uint8Array {
  const parts: Uint8Array[] = [];
  let offset = log.logStartOffset;
  while (offset < upTo) {
    const { records } = log.read(offset, { maxOffset: upTo, maxBytes: 1 << 24 });
    if (records.length === 0) break;
    parts.push(records);
    for (let p = 0; p < records.length; ) {
      const h = readBatchHeader(records, p);
      offset = h.baseOffset + BigInt(h.lastOffsetDelta) + 1n;
      p += h.batchLength + LOG_OVERHEAD;
    }
  }
  const out = new Uint8Array(parts.reduce((n, b) => n + b.length, 0));
  let at = 0;
  for (const b of parts) {
    out.set(b, at);
    at += b.length;
  }
  return out;
}

/** KafkaJS's read_committed view of the whole log: its fetch decoder and consumer Batch, fed the log's bytes and aborted list. */
async function kafkaJsReadCommitted(log: PartitionLog): Promise<Array<{ offset: bigint; value: string | null }>> {
  const lso = log.lastStableOffset(log.logEndOffset);
  const records = readAllBytes(log, lso);
  const framed = Buffer.alloc(4 + records.length);
  framed.writeInt32BE(records.length, 0);
  framed.set(records, 4);
  const messages = await kafkaJsDecodeMessages(new KafkaJsDecoder(framed));
  const abortedTransactions = log.collectAbortedTransactions(log.logStartOffset, lso).map((a) => ({ producerId: a.producerId.toString(), firstOffset: a.firstOffset.toString() }));
  const batch = new KafkaJsBatch('t', log.logStartOffset.toString(), { partition: 0, highWatermark: lso.toString(), abortedTransactions, messages });
  return batch.messages.map((m) => ({ offset: BigInt(m.offset), value: m.value === null ? null : m.value.toString() }));
}

describe.each(storageFixtures)('transactions in the partition log on $name storage', (fixture) => {
  let storage: Storage;
  let cleanup: () => void;
  beforeEach(() => {
    ({ storage, cleanup } = fixture.make());
  });
  afterEach(() => cleanup());

  it('opens a transaction at a producer’s first transactional batch and closes it with its marker; the LSO follows', () => {
    const { log } = openLog(storage);
    const [p1, p2, p3] = [new TestProducer(1n), new TestProducer(2n), new TestProducer(3n)];
    expect(log.firstUnstableOffset).toBeUndefined();
    expect(log.lastStableOffset(0n)).toBe(0n);
    log.append(p1.batch(['a', 'b'], true)); // 0-1
    log.append(plainBatch(['c'])); // 2
    log.append(p2.batch(['d'], true)); // 3
    log.append(p1.batch(['e'], true)); // 4: same transaction
    log.append(p3.batch(['f'], false)); // 5: idempotent, not transactional
    expect(log.ongoingTransactions).toEqual(new Map([[1n, 0n], [2n, 3n]]));
    expect(log.firstUnstableOffset).toBe(0n);
    expect(log.lastStableOffset(6n)).toBe(0n);
    expect(mark(log, 1n, 'COMMIT')).toBe(6n);
    expect(log.ongoingTransactions).toEqual(new Map([[2n, 3n]]));
    expect(log.firstUnstableOffset).toBe(3n);
    expect(log.lastStableOffset(7n)).toBe(3n);
    expect(log.lastStableOffset(2n)).toBe(2n); // the high watermark is lower
    log.append(p1.batch(['g'], true)); // 7: p1's next transaction
    expect(log.ongoingTransactions).toEqual(new Map([[1n, 7n], [2n, 3n]]));
    mark(log, 2n, 'COMMIT'); // 8
    expect(log.firstUnstableOffset).toBe(7n);
    mark(log, 1n, 'COMMIT'); // 9
    expect(log.firstUnstableOffset).toBeUndefined();
    expect(log.lastStableOffset(10n)).toBe(10n);
    expect(log.producerStates.get(1n)?.currentTxnFirstOffset).toBe(-1n);
    expect(txnIndexFiles(storage, 'topic-0').size).toBe(0); // commits write no entry
    expect(readCommitted(log).map((r) => r.value)).toEqual(['a', 'b', 'c', 'd', 'e', 'f', 'g']);
  });

  it('writes Kafka’s AbortedTxn entry for each ABORT that closes a transaction, with the LSO right after the marker', () => {
    const { log } = openLog(storage);
    const [p1, p2, p3] = [new TestProducer(1n), new TestProducer(2n), new TestProducer(3n)];
    log.append(p1.batch(['a'], true)); // 0
    log.append(p2.batch(['b'], true)); // 1
    mark(log, 1n, 'ABORT'); // 2: p2 still open at 1
    log.append(p3.batch(['c'], true)); // 3
    mark(log, 2n, 'ABORT'); // 4: p3 open at 3
    mark(log, 3n, 'ABORT'); // 5: nothing else open: 5 + 1
    const expected = [txn(1n, 0n, 2n, 1n), txn(2n, 1n, 4n, 3n), txn(3n, 3n, 5n, 6n)];
    expect(storage.readFile(`topic-0/${'0'.padStart(20, '0')}.txnindex`)).toEqual(encodeAbortedTxns(expected));
    expect(log.collectAbortedTransactions(0n, 6n)).toEqual(expected.map((t) => ({ producerId: t.producerId, firstOffset: t.firstOffset })));
    // Ranges: markers before the fetch offset are skipped; the first entry whose LSO reaches the bound ends the search.
    expect(log.collectAbortedTransactions(3n, 6n)).toEqual([{ producerId: 2n, firstOffset: 1n }, { producerId: 3n, firstOffset: 3n }]);
    expect(log.collectAbortedTransactions(0n, 1n)).toEqual([{ producerId: 1n, firstOffset: 0n }]);
    expect(log.collectAbortedTransactions(0n, 3n)).toEqual([{ producerId: 1n, firstOffset: 0n }, { producerId: 2n, firstOffset: 1n }]);
    expect(log.collectAbortedTransactions(6n, 6n)).toEqual([]);
    expect(readCommitted(log)).toEqual([]);
    expect(readUncommitted(log).map((r) => r.value)).toEqual(['a', 'b', 'c']);
  });

  it('writes a marker for a producer with no open transaction: it closes nothing and adds no entry, but takes its epochs over', () => {
    const { log } = openLog(storage);
    expect(mark(log, 5n, 'ABORT', 3, 7)).toBe(0n);
    expect(log.ongoingTransactions.size).toBe(0);
    expect(txnIndexFiles(storage, 'topic-0').size).toBe(0);
    expect(log.producerStates.get(5n)).toMatchObject({ producerEpoch: 3, coordinatorEpoch: 7, currentTxnFirstOffset: -1n, batches: [] });
    expect(errorOf(() => mark(log, 5n, 'COMMIT', 2, 7)).code).toBe('INVALID_PRODUCER_EPOCH');
    expect(errorOf(() => mark(log, 5n, 'COMMIT', 3, 6)).code).toBe('TRANSACTION_COORDINATOR_FENCED');
    expect(log.logEndOffset).toBe(1n);
  });

  it('fences markers of an older producer epoch or an older coordinator epoch and writes nothing', () => {
    const { log } = openLog(storage);
    const p = new TestProducer(1n, 2);
    log.append(p.batch(['a'], true));
    const old = errorOf(() => mark(log, 1n, 'ABORT', 1, 0));
    expect(old).toMatchObject({ code: 'INVALID_PRODUCER_EPOCH', errorCode: 47 });
    expect(old.message).toMatch(/epoch 1, older than the producer's current epoch 2/);
    expect(log.logEndOffset).toBe(1n);
    expect(log.ongoingTransactions).toEqual(new Map([[1n, 0n]]));
    mark(log, 1n, 'COMMIT', 2, 5);
    expect(log.producerStates.get(1n)?.coordinatorEpoch).toBe(5);
    log.append(p.batch(['b'], true));
    const fenced = errorOf(() => mark(log, 1n, 'ABORT', 2, 4));
    expect(fenced).toMatchObject({ code: 'TRANSACTION_COORDINATOR_FENCED', errorCode: 52 });
    expect(fenced.message).toMatch(/coordinator epoch 4, older than 5/);
    expect(log.logEndOffset).toBe(3n);
    expect(log.ongoingTransactions).toEqual(new Map([[1n, 2n]]));
    expect(txnIndexFiles(storage, 'topic-0').size).toBe(0);
    // The same and a newer coordinator epoch are accepted.
    mark(log, 1n, 'ABORT', 2, 6);
    expect(log.producerStates.get(1n)?.coordinatorEpoch).toBe(6);
    expect(txnIndexEntries(storage, 'topic-0')).toEqual([txn(1n, 2n, 3n, 4n)]);
  });

  it('refuses a non-transactional batch from a producer with an open transaction (INVALID_TXN_STATE), also within one append', () => {
    const { log } = openLog(storage);
    const p = new TestProducer(1n);
    log.append(p.batch(['a'], true));
    const error = errorOf(() => log.append(p.batch(['b'], false)));
    expect(error).toMatchObject({ code: 'INVALID_TXN_STATE', errorCode: 48 });
    expect(error.message).toMatch(/producer 1 .* transaction \(started at offset 0\) is open/);
    expect(log.logEndOffset).toBe(1n);
    p.seq = 1;
    const q = new TestProducer(2n);
    const mixed = new Uint8Array([...q.batch(['x'], true), ...q.batch(['y'], false)]);
    expect(errorOf(() => log.append(mixed)).code).toBe('INVALID_TXN_STATE');
    expect(log.logEndOffset).toBe(1n);
    expect(log.ongoingTransactions).toEqual(new Map([[1n, 0n]]));
    mark(log, 1n, 'COMMIT');
    expect(log.append(p.batch(['b'], false)).firstOffset).toBe(2n);
  });

  it('accepts a marker with the epoch already bumped (transaction version 2): the old epoch is fenced, the new one starts at sequence 0', () => {
    const { log } = openLog(storage);
    const p = new TestProducer(1n, 0);
    log.append(p.batch(['a', 'b', 'c'], true)); // 0-2, sequences 0-2
    mark(log, 1n, 'ABORT', 1); // 3
    expect(log.producerStates.get(1n)).toMatchObject({ producerEpoch: 1, batches: [], currentTxnFirstOffset: -1n });
    expect(txnIndexEntries(storage, 'topic-0')).toEqual([txn(1n, 0n, 3n, 4n)]);
    expect(errorOf(() => log.append(p.batch(['late'], true))).code).toBe('INVALID_PRODUCER_EPOCH'); // a zombie write of epoch 0
    p.epoch = 1;
    p.seq = 3;
    expect(errorOf(() => log.append(p.batch(['d'], true))).code).toBe('OUT_OF_ORDER_SEQUENCE_NUMBER');
    p.seq = 0;
    expect(log.append(p.batch(['d'], true)).firstOffset).toBe(4n);
    expect(log.ongoingTransactions).toEqual(new Map([[1n, 4n]]));
    expect(errorOf(() => mark(log, 1n, 'COMMIT', 0)).code).toBe('INVALID_PRODUCER_EPOCH');
    mark(log, 1n, 'COMMIT', 2);
    expect(log.logEndOffset).toBe(6n);
    expect(readCommitted(log).map((r) => r.value)).toEqual(['d']);
  });

  it('with transaction version 2, refuses a marker not newer than the producer’s epoch: a late duplicate cannot end the next transaction', () => {
    const { log } = openLog(storage);
    const p = new TestProducer(1n, 0);
    const tv2 = (result: 'COMMIT' | 'ABORT', producerEpoch: number): unknown => log.appendTransactionMarker({ producerId: 1n, producerEpoch, coordinatorEpoch: 0, result }, { leaderEpoch: 0, transactionVersion: 2 });
    log.append(p.batch(['a'], true)); // 0, epoch 0
    tv2('COMMIT', 1); // 1: transaction N ends; its markers carry the bumped epoch 1
    p.epoch = 1;
    p.seq = 0;
    log.append(p.batch(['b'], true)); // 2: transaction N+1 runs at epoch 1
    // The first copy of transaction N's marker, delayed, arrives now: it must not end N+1.
    expect(errorOf(() => tv2('COMMIT', 1)).code).toBe('INVALID_PRODUCER_EPOCH');
    expect(log.ongoingTransactions).toEqual(new Map([[1n, 2n]]));
    tv2('ABORT', 2); // N+1's own marker
    expect(readCommitted(log).map((r) => r.value)).toEqual(['a']);
    // Without a version (or version 1) a marker at the current epoch is still accepted, as Kafka's TV1.
    const { log: tv1 } = openLog(storage, {}, new SimulatedClock(1_000_000), 'tv1-0');
    tv1.append(new TestProducer(2n, 0).batch(['x'], true));
    tv1.appendTransactionMarker({ producerId: 2n, producerEpoch: 0, coordinatorEpoch: 0, result: 'COMMIT' }, { leaderEpoch: 0 });
    expect(readCommitted(tv1).map((r) => r.value)).toEqual(['x']);
  });

  it('with transaction version 2, answers a retried marker as a duplicate when no transaction opened since: nothing is written twice', () => {
    const { log } = openLog(storage);
    const p = new TestProducer(1n, 0);
    const tv2 = (producerEpoch: number, coordinatorEpoch = 0): { duplicate?: boolean; lastOffset: bigint } => log.appendTransactionMarker({ producerId: 1n, producerEpoch, coordinatorEpoch, result: 'COMMIT' }, { leaderEpoch: 0, transactionVersion: 2 });
    log.append(p.batch(['a'], true)); // 0
    expect(tv2(1).duplicate).toBeUndefined(); // 1: the marker, written (its answer may be lost or time out)
    log.append(new TestProducer(9n, 0).batch(['other'], false)); // 2: someone else's data
    // The coordinator retries the same marker: the log keeps one, and the answer waits for all of it.
    expect(tv2(1)).toMatchObject({ duplicate: true, lastOffset: 2n });
    expect(log.logEndOffset).toBe(3n);
    expect(readCommitted(log).map((r) => r.value)).toEqual(['a', 'other']);
    // Once the next transaction has data here, the same epoch is a late marker: refused, as before.
    p.epoch = 1;
    p.seq = 0;
    log.append(p.batch(['b'], true));
    expect(errorOf(() => tv2(1)).code).toBe('INVALID_PRODUCER_EPOCH');
    // A marker from an older coordinator is never taken for a retry.
    const { log: other } = openLog(storage, {}, new SimulatedClock(1_000_000), 'other-0');
    other.append(new TestProducer(4n, 0).batch(['x'], true));
    other.appendTransactionMarker({ producerId: 4n, producerEpoch: 1, coordinatorEpoch: 5, result: 'COMMIT' }, { leaderEpoch: 0, transactionVersion: 2 });
    expect(errorOf(() => other.appendTransactionMarker({ producerId: 4n, producerEpoch: 1, coordinatorEpoch: 4, result: 'COMMIT' }, { leaderEpoch: 0, transactionVersion: 2 })).code).toBe('INVALID_PRODUCER_EPOCH');
  });

  it('refuses a coordinator’s write for a producer epoch older than the producer’s (a TxnOffsetCommit of a finished transaction)', () => {
    const { log } = openLog(storage);
    const offsets = (epoch: number): Uint8Array => encodeRecordBatch({ producerId: 3n, producerEpoch: epoch, baseSequence: 0, isTransactional: true, records: [{ timestamp: 1, key: new Uint8Array([1]), value: new Uint8Array([2]) }] });
    log.append(offsets(0), { origin: 'coordinator' });
    log.appendTransactionMarker({ producerId: 3n, producerEpoch: 1, coordinatorEpoch: 0, result: 'ABORT' }, { leaderEpoch: 0, transactionVersion: 2 });
    const end = log.logEndOffset;
    expect(errorOf(() => log.append(offsets(0), { origin: 'coordinator' })).code).toBe('INVALID_PRODUCER_EPOCH');
    expect(log.logEndOffset).toBe(end);
    expect(log.append(offsets(1), { origin: 'coordinator' }).firstOffset).toBe(end);
  });

  it('lets only the coordinator write markers, and only well-formed COMMIT or ABORT ones', () => {
    const { log } = openLog(storage);
    const leaderChange = encodeRecordBatch({ isControl: true, producerId: 1n, producerEpoch: 0, records: [{ timestamp: 1, key: new Uint8Array([0, 0, 0, 2]), value: new Uint8Array(0) }] });
    expect(() => log.append(leaderChange.slice(), { origin: 'coordinator' })).toThrow(InvalidRecordError);
    expect(() => log.append(leaderChange.slice(), { origin: 'coordinator' })).toThrow(/LEADER_CHANGE control record/);
    const malformed = encodeRecordBatch({ isControl: true, isTransactional: true, producerId: 1n, producerEpoch: 0, records: [{ timestamp: 1, key: new Uint8Array([0, 0, 0, 1]), value: new Uint8Array(2) }] });
    expect(() => log.append(malformed.slice(), { origin: 'coordinator' })).toThrow(CorruptRecordError);
    expect(() => log.append(malformed.slice(), { origin: 'replication' })).toThrow(CorruptRecordError);
    expect(() => log.append(malformed.slice())).toThrow(/clients may not write control batches/);
    expect(log.logEndOffset).toBe(0n);
    // A follower copies other control records without taking them for markers.
    const copy = leaderChange.slice();
    new DataView(copy.buffer).setBigInt64(0, 0n);
    log.appendAsFollower(copy);
    expect(log.logEndOffset).toBe(1n);
    expect(log.producerStates.size).toBe(0);
  });

  it('serves aborted transactions across segments as Kafka’s collectAbortedTransactions, and read_committed consumers (samsa’s and KafkaJS’s) see only committed data', async () => {
    const { log } = openLog(storage, { 'segment.bytes': 350 });
    const producers = [new TestProducer(1n), new TestProducer(2n), new TestProducer(3n)];
    const committed: string[] = [];
    const pending = new Map<bigint, string[]>();
    let n = 0;
    const script: Array<[number, 'data' | 'COMMIT' | 'ABORT']> = [
      [0, 'data'], [1, 'data'], [0, 'data'], [2, 'data'], [1, 'ABORT'], [0, 'data'], [2, 'data'], [0, 'COMMIT'],
      [1, 'data'], [2, 'ABORT'], [1, 'data'], [0, 'data'], [1, 'COMMIT'], [0, 'ABORT'], [2, 'data'], [2, 'data'], [2, 'COMMIT'],
      [0, 'data'], [1, 'data'], [0, 'ABORT'], [1, 'ABORT'],
    ];
    for (const [i, op] of script) {
      const p = producers[i] as TestProducer;
      if (op === 'data') {
        const v = `v${n++}`;
        log.append(p.batch([v], true));
        pending.set(p.pid, [...(pending.get(p.pid) ?? []), v]);
        if (n % 3 === 0) {
          const plain = `plain${n}`;
          log.append(plainBatch([plain]));
          committed.push(plain);
        }
      } else {
        mark(log, p.pid, op);
        if (op === 'COMMIT') committed.push(...(pending.get(p.pid) ?? []));
        pending.delete(p.pid);
      }
    }
    expect(log.segmentInfos().length).toBeGreaterThan(3);
    const entries = txnIndexEntries(storage, 'topic-0');
    expect(entries).toHaveLength(5);
    // Each fetch range against Kafka's loop over the entries from the segment holding fetchOffset on.
    const bases = log.segmentInfos().map((s) => s.baseOffset);
    const end = log.logEndOffset;
    for (let fetch = 0n; fetch <= end; fetch++) {
      for (let upper = fetch; upper <= end + 1n; upper++) {
        const floor = bases.filter((b) => b <= fetch).at(-1) as bigint;
        const expected: Array<{ producerId: bigint; firstOffset: bigint }> = [];
        for (const e of entries) {
          if (e.lastOffset < floor) continue;
          if (e.lastOffset >= fetch && e.firstOffset < upper) expected.push({ producerId: e.producerId, firstOffset: e.firstOffset });
          if (e.lastStableOffset >= upper) break;
        }
        expect(log.collectAbortedTransactions(fetch, upper)).toEqual(expected);
      }
    }
    const ordered = (values: string[]): string[] => [...values].sort((a, b) => Number(a.replace(/\D/g, '')) - Number(b.replace(/\D/g, '')));
    expect(ordered(readCommitted(log).map((r) => r.value as string))).toEqual(ordered(committed));
    // Small fetches, each with its own aborted list, see the same.
    expect(readCommitted(log, 1)).toEqual(readCommitted(log));
    expect((await kafkaJsReadCommitted(log)).map((r) => ({ offset: r.offset, value: r.value }))).toEqual(readCommitted(log).map((r) => ({ offset: r.offset, value: r.value })));
  });

  it('follower replay yields identical .log and .txnindex bytes, open transactions and producer state', () => {
    const config = { 'segment.bytes': 300 };
    const { log: leader } = openLog(storage, config, undefined, 'leader-0');
    const { log: follower } = openLog(storage, config, undefined, 'follower-0');
    const { log: bulk } = openLog(storage, config, undefined, 'bulk-0');
    const producers = [new TestProducer(1n), new TestProducer(2n), new TestProducer(3n)];
    const copy = (from: bigint): void => {
      const { records } = leader.read(from, { maxBytes: 1 });
      follower.appendAsFollower(records.slice());
    };
    const rounds = ['1d', '2d', '1d', '1A', '3d', '2C', '3d', '1d', '3A', '2d', '1A', '2A', 'p', '3d', '1d'];
    for (const r of rounds) {
      const at = leader.logEndOffset;
      if (r === 'p') leader.append(plainBatch(['plain']));
      else {
        const p = producers[Number(r[0]) - 1] as TestProducer;
        if (r[1] === 'd') leader.append(p.batch([`v${at}`], true));
        else mark(leader, p.pid, r[1] === 'A' ? 'ABORT' : 'COMMIT');
      }
      copy(at);
    }
    // A follower fetching everything at once lands on other segment boundaries but the same entries.
    bulk.appendAsFollower(readAllBytes(leader).slice());
    const files = (dir: string): Map<string, Uint8Array> => new Map(storage.list(dir).filter((f) => /\.(log|txnindex)$/.test(f)).map((f) => [f, storage.readFile(`${dir}/${f}`)]));
    expect(files('follower-0')).toEqual(files('leader-0'));
    expect(txnIndexFiles(storage, 'leader-0').size).toBeGreaterThan(1);
    expect(follower.ongoingTransactions).toEqual(leader.ongoingTransactions);
    expect(follower.firstUnstableOffset).toBe(leader.firstUnstableOffset);
    expect([...follower.producerStates.values()]).toEqual([...leader.producerStates.values()]);
    expect(txnIndexEntries(storage, 'bulk-0')).toEqual(txnIndexEntries(storage, 'leader-0'));
    expect(bulk.ongoingTransactions).toEqual(leader.ongoingTransactions);
  });

  describe('durability', () => {
    const config = { 'segment.bytes': 320 };
    /** A deterministic history over several segments; returns the offsets after each step. */
    function build(log: PartitionLog, steps = Infinity): bigint[] {
      const producers = [new TestProducer(1n), new TestProducer(2n), new TestProducer(3n)];
      const script = ['1d', '2d', '1d', '3d', '1A', '2d', '3C', '2A', '1d', 'p', '3d', '1d', '1A', '3d', '2d', '3A', '2C', '1d', '2d', '1A'];
      const ends: bigint[] = [];
      for (const r of script.slice(0, steps)) {
        if (r === 'p') log.append(plainBatch(['plain']));
        else {
          const p = producers[Number(r[0]) - 1] as TestProducer;
          if (r[1] === 'd') log.append(p.batch([`v${log.logEndOffset}`, 'w'], true));
          else mark(log, p.pid, r[1] === 'A' ? 'ABORT' : 'COMMIT');
        }
        ends.push(log.logEndOffset);
      }
      return ends;
    }
    function state(log: PartitionLog, dir: string): unknown {
      return {
        end: log.logEndOffset,
        ongoing: log.ongoingTransactions,
        firstUnstable: log.firstUnstableOffset,
        entries: txnIndexEntries(storage, dir),
        aborted: log.collectAbortedTransactions(0n, log.logEndOffset),
        producers: [...log.producerStates.values()].sort((a, b) => (a.producerId < b.producerId ? -1 : 1)),
        committed: readCommitted(log),
      };
    }

    it('keeps open transactions and the index across a clean close (from the snapshot) and a crash (replayed)', async () => {
      const { log } = openLog(storage, config);
      build(log, 12);
      const before = state(log, 'topic-0');
      expect(log.ongoingTransactions.size).toBeGreaterThan(0);
      await log.close();
      const clean = openLog(storage, config).log;
      expect(state(clean, 'topic-0')).toEqual(before);
      clean.abandon();
      for (const f of storage.list('topic-0').filter((n) => n.endsWith('.snapshot'))) storage.remove(`topic-0/${f}`);
      const crashed = openLog(storage, config).log;
      expect(state(crashed, 'topic-0')).toEqual(before);
    });

    it('recovers to exactly the state of the surviving prefix when the log is cut anywhere, torn writes and stale index entries included', () => {
      const { log: full } = openLog(storage, config, undefined, 'full-0');
      const ends = build(full);
      full.abandon();
      for (let step = 0; step < ends.length; step++) {
        const cut = ends[step] as bigint;
        for (const torn of [0, 7]) {
          const dir = `cut-${step}-${torn}`;
          const { log } = openLog(storage, config, undefined, dir);
          build(log);
          log.abandon();
          cutLogAt(storage, dir, cut, torn);
          const recovered = openLog(storage, config, undefined, dir).log;
          const ref = `ref-${step}-${torn}`;
          const { log: reference } = openLog(storage, config, undefined, ref);
          build(reference, step + 1);
          expect(state(recovered, dir), `cut at ${cut} (+${torn} torn bytes)`).toEqual(state(reference, ref));
          recovered.abandon();
          reference.abandon();
        }
      }
    });

    it('rebuilds a damaged .txnindex on open (bad version), and cuts a torn trailing entry off', async () => {
      const { log } = openLog(storage, config);
      build(log);
      const files = txnIndexFiles(storage, 'topic-0');
      const before = state(log, 'topic-0');
      await log.close();
      const [name, bytes] = [...files].find(([, b]) => b.length >= 34) as [string, Uint8Array];
      const damaged = bytes.slice();
      damaged[0] = 0x7f;
      storage.writeFileAtomic(`topic-0/${name}`, damaged);
      const reopened = openLog(storage, config).log;
      expect(txnIndexFiles(storage, 'topic-0')).toEqual(files);
      expect(state(reopened, 'topic-0')).toEqual(before);
      await reopened.close();
      storage.writeFileAtomic(`topic-0/${name}`, new Uint8Array([...bytes, 0, 0, 0]));
      const again = openLog(storage, config).log;
      expect(storage.readFile(`topic-0/${name}`)).toEqual(bytes);
      expect(state(again, 'topic-0')).toEqual(before);
    });

    it('re-opens a transaction whose marker was truncated away, and drops its entry', () => {
      const { log } = openLog(storage, config);
      const [p1, p2] = [new TestProducer(1n), new TestProducer(2n)];
      log.append(p1.batch(['a', 'b'], true)); // 0-1
      log.append(p2.batch(['c'], true)); // 2
      mark(log, 2n, 'COMMIT'); // 3
      log.append(p2.batch(['d'], false)); // 4
      const abortAt = mark(log, 1n, 'ABORT'); // 5
      log.append(plainBatch(['e'])); // 6
      const entry = txn(1n, 0n, 5n, 6n);
      expect(txnIndexEntries(storage, 'topic-0')).toEqual([entry]);
      const leaderBytes = log.read(abortAt, { maxBytes: 1 }).records.slice();
      log.truncateTo(abortAt);
      expect(log.ongoingTransactions).toEqual(new Map([[1n, 0n]]));
      expect(log.lastStableOffset(log.logEndOffset)).toBe(0n);
      expect(txnIndexEntries(storage, 'topic-0')).toEqual([]);
      expect(log.collectAbortedTransactions(0n, 10n)).toEqual([]);
      // The marker comes back from the leader: the same entry again.
      log.appendAsFollower(leaderBytes);
      expect(txnIndexEntries(storage, 'topic-0')).toEqual([entry]);
      expect(log.ongoingTransactions.size).toBe(0);
      // Cutting below the COMMIT re-opens p2 too; below a transaction's first batch forgets it.
      log.truncateTo(3n);
      expect(log.ongoingTransactions).toEqual(new Map([[1n, 0n], [2n, 2n]]));
      log.truncateTo(1n);
      expect(log.ongoingTransactions).toEqual(new Map());
      expect(log.logEndOffset).toBe(0n);
      log.append(p1.batch(['x'], true));
      mark(log, 1n, 'ABORT');
      log.truncateFullyAndStartAt(50n);
      expect(log.ongoingTransactions.size).toBe(0);
      expect(txnIndexFiles(storage, 'topic-0').size).toBe(0);
    });

    it('retention and DeleteRecords delete a segment’s .txnindex with it; a producer with an open transaction is kept', () => {
      const { log, clock } = openLog(storage, { ...config, 'retention.ms': 10_000 });
      const [p1, p2] = [new TestProducer(1n), new TestProducer(2n)];
      for (let i = 0; i < 3; i++) {
        log.append(p1.batch([`a${i}`], true, undefined, clock.now()));
        mark(log, 1n, 'ABORT');
      }
      log.append(p2.batch(['open'], true, undefined, clock.now())); // stays open
      const openAt = log.logEndOffset - 1n;
      for (let i = 0; i < 8; i++) log.append(plainBatch([`filler-${i}-${'x'.repeat(30)}`], undefined, clock.now()));
      const withIndex = [...txnIndexFiles(storage, 'topic-0').keys()];
      expect(withIndex.length).toBeGreaterThan(0);
      clock.advance(20_000);
      log.append(plainBatch(['late'], undefined, clock.now()));
      expect(log.deleteOldSegments()).toBeGreaterThan(0);
      for (const name of withIndex) {
        if (BigInt(name.slice(0, 20)) < log.logStartOffset) expect(storage.exists(`topic-0/${name}`)).toBe(false);
      }
      expect(log.logStartOffset).toBeGreaterThan(openAt);
      expect(log.collectAbortedTransactions(log.logStartOffset, log.logEndOffset)).toEqual([]);
      // p2's open transaction outlives its batch: the producer is kept and the first unstable offset is the log start.
      expect(log.ongoingTransactions).toEqual(new Map([[2n, openAt]]));
      expect(log.firstUnstableOffset).toBe(log.logStartOffset);
      expect(log.lastStableOffset(log.logEndOffset)).toBe(log.logStartOffset);
      log.deleteRecordsBefore(log.logEndOffset);
      expect(log.ongoingTransactions.size).toBe(1);
      expect(log.firstUnstableOffset).toBe(log.logEndOffset);
      mark(log, 2n, 'ABORT');
      expect(log.firstUnstableOffset).toBeUndefined();
    });
  });

  describe('compaction', () => {
    const compacted = { 'cleanup.policy': 'compact', 'segment.bytes': 300, 'min.cleanable.dirty.ratio': 0.01, 'delete.retention.ms': 10_000 };

    it('never cleans at or past an open transaction, whatever bound it is given', () => {
      const { log } = openLog(storage, compacted);
      const p = new TestProducer(1n);
      for (let i = 0; i < 6; i++) log.append(plainBatch([`v${i}`], ['k']));
      const openAt = log.logEndOffset;
      log.append(p.batch(['open'], true, ['k']));
      for (let i = 6; i < 30; i++) log.append(plainBatch([`v${i}`], ['k']));
      const tail = log.read(openAt, { maxBytes: 1 << 20 }).records.slice();
      const result = log.clean({ force: true, upperBoundOffset: log.logEndOffset });
      expect(result.cleaned).toBe(true);
      expect(result.firstDirtyOffset).toBeLessThanOrEqual(openAt);
      expect(log.read(openAt, { maxBytes: 1 << 20 }).records).toEqual(tail);
      // A caller's lower bound (the LSO it computed) holds too.
      mark(log, 1n, 'COMMIT');
      const before = readUncommitted(log);
      expect(log.clean({ force: true, upperBoundOffset: 0n }).cleaned).toBe(false);
      expect(readUncommitted(log)).toEqual(before);
    });

    it('rebuilds the .txnindex of a segment whose cleaner swap a crash interrupted', () => {
      const { log } = openLog(storage, compacted);
      const p = new TestProducer(1n);
      for (let i = 0; i < 4; i++) {
        log.append(p.batch([`a${i}`], true, [`k${i}`]));
        mark(log, 1n, 'ABORT');
      }
      for (let i = 0; i < 6; i++) log.append(plainBatch([`f${i}`], [`filler-${i}`]));
      const entries = txnIndexEntries(storage, 'topic-0');
      const view = readCommitted(log);
      log.abandon();
      const [first, second] = [...txnIndexFiles(storage, 'topic-0').keys()].sort() as [string, string];
      const stem = (name: string): string => `topic-0/${name.slice(0, 20)}`;
      // Crash after the .log swap was renamed in but before its .txnindex: an orphan .txnindex.swap.
      storage.rename(`${stem(first)}.txnindex`, `${stem(first)}.txnindex.swap`);
      // Crash before the originals went: a .log.swap and its .txnindex.swap, the originals gone.
      storage.rename(`${stem(second)}.log`, `${stem(second)}.log.swap`);
      storage.rename(`${stem(second)}.txnindex`, `${stem(second)}.txnindex.swap`);
      storage.remove(`${stem(second)}.index`);
      const reopened = openLog(storage, compacted).log;
      expect(storage.list('topic-0').filter((f) => f.endsWith('.swap'))).toEqual([]);
      expect(txnIndexEntries(storage, 'topic-0')).toEqual(entries);
      expect(readCommitted(reopened)).toEqual(view);
    });

    it('removes aborted data (which never hides a committed value), keeps markers while their data lasts, then drops them after delete.retention.ms', async () => {
      const { log, clock } = openLog(storage, compacted);
      const [p1, p2] = [new TestProducer(1n), new TestProducer(2n)];
      log.append(plainBatch(['committed-a'], ['a'])); // 0
      log.append(p1.batch(['aborted-a', 'aborted-b'], true, ['a', 'b'])); // 1-2
      log.append(p2.batch(['txn-b'], true, ['b'])); // 3
      const abortAt = mark(log, 1n, 'ABORT'); // 4
      const commitAt = mark(log, 2n, 'COMMIT'); // 5
      // p1 writes on, so its aborted batch is no longer the batch the cleaner keeps for its sequence.
      log.append(p1.batch(['p1-later'], false, ['c'])); // 6
      for (let i = 0; i < 12; i++) log.append(plainBatch([`f${i}`], [`filler-${i}`]));
      log.roll();
      const view = readCommitted(log);
      expect(view.map((r) => r.value).slice(0, 3)).toEqual(['committed-a', 'txn-b', 'p1-later']);
      const first = log.clean({ force: true });
      expect(first).toMatchObject({ cleaned: true, abortedRecordsRemoved: 2 });
      expect(readCommitted(log)).toEqual(view);
      expect(readUncommitted(log)).toEqual(view); // no aborted record is left anywhere
      expect(controlOffsets(log)).toEqual([abortAt, commitAt]); // txn-b is still there, so is its COMMIT; the ABORT saw its data go
      expect(txnIndexEntries(storage, 'topic-0')).toEqual([txn(1n, 1n, abortAt, 3n)]);
      // Next pass: the ABORT has no data behind it: it keeps a delete horizon and loses its entry.
      log.clean({ force: true });
      expect(controlOffsets(log)).toEqual([abortAt, commitAt]);
      expect(txnIndexEntries(storage, 'topic-0')).toEqual([]);
      expect(readCommitted(log)).toEqual(view);
      clock.advance(10_001);
      const late = log.clean({ force: true });
      expect(late.markersRemoved).toBe(1);
      expect(controlOffsets(log)).toEqual([commitAt]);
      expect(readCommitted(log)).toEqual(view);
      // Restarted from the batches alone, nothing hangs open.
      log.abandon();
      for (const f of storage.list('topic-0').filter((n) => n.endsWith('.snapshot'))) storage.remove(`topic-0/${f}`);
      const reopened = openLog(storage, compacted, clock).log;
      expect(reopened.ongoingTransactions.size).toBe(0);
      expect(readCommitted(reopened)).toEqual(view);
      await reopened.close();
    });
  });
});

/* ------------------------------------------------------------------------------------------ */
/* Model                                                                                       */

type Op =
  | { kind: 'data'; producer: number; transactional: boolean; count: number; key: number }
  | { kind: 'plain'; key: number }
  | { kind: 'marker'; producer: number; result: 'COMMIT' | 'ABORT' }
  | { kind: 'truncate'; fraction: number }
  | { kind: 'reopen'; how: 'clean' | 'crash' | 'flushThenCrash'; torn: number }
  | { kind: 'roll' };

/** A batch in the model's history. */
type Entry =
  | { kind: 'data'; pid: bigint; transactional: boolean; first: bigint; last: bigint; seqEnd: number; values: SeenRecord[] }
  | { kind: 'marker'; pid: bigint; result: 'COMMIT' | 'ABORT'; offset: bigint };

interface ModelState {
  ongoing: Map<bigint, bigint>;
  entries: AbortedTxn[];
  committed: SeenRecord[];
}

/** The transaction state a history implies: open transactions, AbortedTxn entries, read_committed view. */
function model(history: readonly Entry[], end: bigint): ModelState {
  const ongoing = new Map<bigint, bigint>();
  const entries: AbortedTxn[] = [];
  const txnData = new Map<bigint, SeenRecord[]>();
  const visible: SeenRecord[] = [];
  for (const h of history) {
    if (h.kind === 'data') {
      if (h.pid >= 0n && h.transactional) {
        if (!ongoing.has(h.pid)) ongoing.set(h.pid, h.first);
        txnData.set(h.pid, [...(txnData.get(h.pid) ?? []), ...h.values]);
      } else visible.push(...h.values);
      continue;
    }
    const first = ongoing.get(h.pid);
    if (first === undefined) continue;
    ongoing.delete(h.pid);
    if (h.result === 'COMMIT') visible.push(...(txnData.get(h.pid) ?? []));
    else {
      let lso = h.offset + 1n;
      for (const f of ongoing.values()) if (f < lso) lso = f;
      entries.push(txn(h.pid, first, h.offset, lso));
    }
    txnData.delete(h.pid);
  }
  let lso = end;
  for (const f of ongoing.values()) if (f < lso) lso = f;
  return { ongoing, entries, committed: visible.filter((r) => r.offset < lso).sort((a, b) => (a.offset < b.offset ? -1 : 1)) };
}

const opArb: fc.Arbitrary<Op> = fc.oneof(
  { weight: 8, arbitrary: fc.record({ kind: fc.constant('data' as const), producer: fc.integer({ min: 0, max: 2 }), transactional: fc.boolean(), count: fc.integer({ min: 1, max: 3 }), key: fc.integer({ min: 0, max: 4 }) }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('plain' as const), key: fc.integer({ min: 0, max: 4 }) }) },
  { weight: 4, arbitrary: fc.record({ kind: fc.constant('marker' as const), producer: fc.integer({ min: 0, max: 2 }), result: fc.constantFrom('COMMIT' as const, 'ABORT' as const) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('truncate' as const), fraction: fc.oneof({ weight: 3, arbitrary: fc.double({ min: 0.6, max: 1, noNaN: true }) }, fc.double({ min: 0, max: 1, noNaN: true })) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('reopen' as const), how: fc.constantFrom('clean' as const, 'crash' as const, 'flushThenCrash' as const), torn: fc.integer({ min: 0, max: 40 }) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('roll' as const) }) },
);

describe('transaction state model', () => {
  // For random histories of transactional and plain writes by several producers, markers,
  // truncations, rolls and restarts (clean, crashed, crashed with a torn tail), the log's open
  // transactions, LSO, aborted list, .txnindex entries and read_committed view always equal what
  // the surviving history implies.
  test.prop([fc.array(opArb, { minLength: 1, maxLength: 80, size: 'max' }), fc.integer({ min: 250, max: 700 }), fc.constantFrom(...storageFixtures.map((f) => f.name))], { numRuns: 100 })(
    'log = model of the appended history',
    async (ops, segmentBytes, storageName) => {
      const { storage, cleanup } = (storageFixtures.find((f) => f.name === storageName) as (typeof storageFixtures)[number]).make();
      try {
        const clock = new SimulatedClock(1_000_000);
        const config = { 'segment.bytes': segmentBytes };
        const open = (): PartitionLog => PartitionLog.open({ storage, dir: 'm-0', config, clock });
        let log = open();
        let history: Entry[] = [];
        let n = 0;
        const check = (): void => {
          const m = model(history, log.logEndOffset);
          expect(log.ongoingTransactions).toEqual(m.ongoing);
          let fuo: bigint | undefined;
          for (const f of m.ongoing.values()) if (fuo === undefined || f < fuo) fuo = f;
          expect(log.firstUnstableOffset).toBe(fuo);
          expect(log.lastStableOffset(log.logEndOffset)).toBe(fuo ?? log.logEndOffset);
          expect(txnIndexEntries(storage, 'm-0')).toEqual(m.entries);
          expect(log.collectAbortedTransactions(0n, log.logEndOffset + 1n)).toEqual(m.entries.map((e) => ({ producerId: e.producerId, firstOffset: e.firstOffset })));
          expect(readCommitted(log)).toEqual(m.committed);
        };
        const nextSeq = (pid: bigint): number => {
          const last = history.filter((h): h is Extract<Entry, { kind: 'data' }> => h.kind === 'data' && h.pid === pid).at(-1);
          return last?.seqEnd ?? 0;
        };
        for (const op of ops) {
          if (op.kind === 'data') {
            const pid = BigInt(op.producer + 1);
            const p = new TestProducer(pid);
            p.seq = nextSeq(pid);
            const values = Array.from({ length: op.count }, () => `v${n++}`);
            const first = log.logEndOffset;
            const openTxn = model(history, first).ongoing.has(pid);
            const bytes = p.batch(values, op.transactional, values.map(() => `k${op.key}`));
            if (openTxn && !op.transactional) {
              expect(errorOf(() => log.append(bytes)).code).toBe('INVALID_TXN_STATE');
              continue;
            }
            log.append(bytes);
            history.push({ kind: 'data', pid, transactional: op.transactional, first, last: log.logEndOffset - 1n, seqEnd: p.seq, values: values.map((v, i) => ({ offset: first + BigInt(i), key: `k${op.key}`, value: v })) });
          } else if (op.kind === 'plain') {
            const first = log.logEndOffset;
            const v = `v${n++}`;
            log.append(plainBatch([v], [`k${op.key}`]));
            history.push({ kind: 'data', pid: -1n, transactional: false, first, last: first, seqEnd: 0, values: [{ offset: first, key: `k${op.key}`, value: v }] });
          } else if (op.kind === 'marker') {
            const pid = BigInt(op.producer + 1);
            const offset = mark(log, pid, op.result);
            history.push({ kind: 'marker', pid, result: op.result, offset });
          } else if (op.kind === 'truncate') {
            const to = BigInt(Math.floor(Number(log.logEndOffset) * op.fraction));
            log.truncateTo(to);
            history = history.filter((h) => (h.kind === 'data' ? h.last : h.offset) < log.logEndOffset);
          } else if (op.kind === 'roll') {
            log.roll();
          } else {
            if (op.how === 'clean') await log.close();
            else {
              if (op.how === 'flushThenCrash') await log.flush();
              const active = log.segmentInfos().at(-1) as { baseOffset: bigint; sizeBytes: number };
              log.abandon();
              if (op.torn > 0 && active.sizeBytes > 0) {
                const file = storage.open(`m-0/${active.baseOffset.toString().padStart(20, '0')}.log`);
                file.truncate(Math.max(0, active.sizeBytes - op.torn));
                file.close();
              }
            }
            log = open();
            history = history.filter((h) => (h.kind === 'data' ? h.last : h.offset) < log.logEndOffset);
          }
          check();
        }
        await log.close();
        log = open();
        check();
        log.abandon();
      } finally {
        cleanup();
      }
    },
  );

  // The same histories on a compacted topic, cleaned at random points (with time passing, so
  // markers expire too), truncated and restarted: the open transactions and LSO always equal the
  // model's, and read_committed sees no record the model does not hold as committed, with the
  // model's last committed value for every key.
  test.prop(
    [
      fc.array(fc.oneof({ weight: 6, arbitrary: opArb }, { weight: 1, arbitrary: fc.record({ kind: fc.constant('clean' as const), advanceMs: fc.constantFrom(0, 600, 1200) }) }), { minLength: 1, maxLength: 80, size: 'max' }),
      fc.integer({ min: 250, max: 600 }),
    ],
    { numRuns: 100 },
  )('compacted log keeps transaction state and committed values through cleaning', async (ops, segmentBytes) => {
    const storage = new MemoryStorage();
    const clock = new SimulatedClock(1_000_000);
    const config = { 'cleanup.policy': 'compact', 'segment.bytes': segmentBytes, 'min.cleanable.dirty.ratio': 0.01, 'delete.retention.ms': 1000 };
    const open = (): PartitionLog => PartitionLog.open({ storage, dir: 'cm-0', config, clock });
    let log = open();
    let history: Entry[] = [];
    let highWatermark = 0n;
    let n = 0;
    const lastByKey = (records: readonly SeenRecord[]): Map<string | null, SeenRecord> => new Map(records.map((r) => [r.key, r]));
    const check = (): void => {
      const m = model(history, log.logEndOffset);
      expect(log.ongoingTransactions).toEqual(m.ongoing);
      let fuo: bigint | undefined;
      for (const f of m.ongoing.values()) if (fuo === undefined || f < fuo) fuo = f;
      expect(log.lastStableOffset(log.logEndOffset)).toBe(fuo ?? log.logEndOffset);
      const seen = readCommitted(log);
      const committed = new Map(m.committed.map((r) => [r.offset, r]));
      for (const r of seen) expect(committed.get(r.offset)).toEqual(r);
      expect(lastByKey(seen)).toEqual(lastByKey(m.committed));
    };
    for (const op of ops) {
      if (op.kind === 'data') {
        const pid = BigInt(op.producer + 1);
        const p = new TestProducer(pid);
        p.seq = history.filter((h): h is Extract<Entry, { kind: 'data' }> => h.kind === 'data' && h.pid === pid).at(-1)?.seqEnd ?? 0;
        const values = Array.from({ length: op.count }, () => `v${n++}`);
        const first = log.logEndOffset;
        const bytes = p.batch(values, op.transactional, values.map(() => `k${op.key}`));
        if (model(history, first).ongoing.has(pid) && !op.transactional) {
          expect(errorOf(() => log.append(bytes)).code).toBe('INVALID_TXN_STATE');
          continue;
        }
        log.append(bytes);
        history.push({ kind: 'data', pid, transactional: op.transactional, first, last: log.logEndOffset - 1n, seqEnd: p.seq, values: values.map((v, i) => ({ offset: first + BigInt(i), key: `k${op.key}`, value: v })) });
      } else if (op.kind === 'plain') {
        const first = log.logEndOffset;
        const v = `v${n++}`;
        log.append(plainBatch([v], [`k${op.key}`]));
        history.push({ kind: 'data', pid: -1n, transactional: false, first, last: first, seqEnd: 0, values: [{ offset: first, key: `k${op.key}`, value: v }] });
      } else if (op.kind === 'marker') {
        const pid = BigInt(op.producer + 1);
        history.push({ kind: 'marker', pid, result: op.result, offset: mark(log, pid, op.result) });
      } else if (op.kind === 'truncate') {
        // Never below the high watermark the cleaner was given: a replica truncates only above it.
        // (Below it, a cut could drop the value that superseded a removed one, or a marker whose
        // outcome the cleaner acted on, which the coordinator would then have to repeat.)
        const to = BigInt(Math.floor(Number(log.logEndOffset) * op.fraction));
        log.truncateTo(to > highWatermark ? to : highWatermark);
        history = history.filter((h) => (h.kind === 'data' ? h.last : h.offset) < log.logEndOffset);
      } else if (op.kind === 'roll') log.roll();
      else if (op.kind === 'clean') {
        clock.advance(op.advanceMs);
        log.roll();
        highWatermark = log.logEndOffset;
        log.clean({ force: true, upperBoundOffset: highWatermark });
      } else {
        if (op.how === 'clean') await log.close();
        else {
          if (op.how === 'flushThenCrash') await log.flush();
          log.abandon();
          if (op.torn > 0) for (const f of storage.list('cm-0').filter((name) => name.endsWith('.snapshot'))) storage.remove(`cm-0/${f}`);
        }
        log = open();
        history = history.filter((h) => (h.kind === 'data' ? h.last : h.offset) < log.logEndOffset);
      }
      check();
    }
    log.abandon();
  });

  // On a compacted topic with every transaction finished, a full clean leaves exactly the last
  // committed value of every key, with no aborted record anywhere, and no transaction open after a
  // restart from the batches alone.
  test.prop([fc.array(opArb.filter((op) => op.kind === 'data' || op.kind === 'plain' || op.kind === 'marker'), { minLength: 1, maxLength: 80, size: 'max' }), fc.integer({ min: 250, max: 600 })], { numRuns: 100 })(
    'compacted log read_committed = last committed write per key',
    (ops, segmentBytes) => {
      const storage = new MemoryStorage();
      const clock = new SimulatedClock(1_000_000);
      const config = { 'cleanup.policy': 'compact', 'segment.bytes': segmentBytes, 'min.cleanable.dirty.ratio': 0.01, 'delete.retention.ms': 1000 };
      const log = PartitionLog.open({ storage, dir: 'c-0', config, clock });
      const producers = [new TestProducer(1n), new TestProducer(2n), new TestProducer(3n)];
      let n = 0;
      for (const op of ops) {
        if (op.kind === 'data') {
          const p = producers[op.producer] as TestProducer;
          const values = Array.from({ length: op.count }, () => `v${n++}`);
          const seq = p.seq;
          try {
            log.append(p.batch(values, op.transactional, values.map(() => `k${op.key}`)));
          } catch (e) {
            expect(KafkaProtocolError.isKafka(e, 'INVALID_TXN_STATE')).toBe(true);
            p.seq = seq;
          }
        } else if (op.kind === 'plain') log.append(plainBatch([`v${n++}`], [`k${op.key}`]));
        else if (op.kind === 'marker') mark(log, BigInt(op.producer + 1), op.result);
      }
      for (const pid of [...log.ongoingTransactions.keys()]) mark(log, pid, pid % 2n === 0n ? 'COMMIT' : 'ABORT');
      log.roll();
      const before = readCommitted(log);
      const lastByKey = [...new Map(before.map((r) => [r.key, r])).values()].sort((a, b) => (a.offset < b.offset ? -1 : 1));
      log.clean({ force: true });
      expect(readCommitted(log)).toEqual(lastByKey);
      expect(readUncommitted(log)).toEqual(lastByKey);
      clock.advance(1001);
      log.clean({ force: true });
      clock.advance(1001);
      log.clean({ force: true });
      expect(readCommitted(log)).toEqual(lastByKey);
      log.abandon();
      for (const f of storage.list('c-0').filter((name) => name.endsWith('.snapshot'))) storage.remove(`c-0/${f}`);
      const reopened = PartitionLog.open({ storage, dir: 'c-0', config, clock });
      expect(reopened.ongoingTransactions.size).toBe(0);
      expect(readCommitted(reopened)).toEqual(lastByKey);
      // Every batch left is whole: the stored bytes still parse end to end.
      const { records } = reopened.read(reopened.logStartOffset, { maxBytes: 1 << 24 });
      let p = 0;
      while (p < records.length) p += readBatchHeader(records, p).batchLength + LOG_OVERHEAD;
      expect(p).toBe(records.length);
    },
  );
});
