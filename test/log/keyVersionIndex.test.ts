/**
 * The per-key version index of a partition log: conditional appends by key, retries by event id,
 * versions reserved by open transactions, and a model-based check — under appends, transactions,
 * truncation, recovery (clean and crashed), log start moves and followers — against the plain
 * definition: a key's version is the number of its committed records in the log.
 */
import { describe, expect, it } from 'vitest';
import { SimulatedClock } from '../../src/clock.ts';
import { InvalidRecordError, KafkaProtocolError } from '../../src/errors.ts';
import { PartitionLog } from '../../src/log/partitionLog.ts';
import { MemoryStorage } from '../../src/log/storage/memoryStorage.ts';
import { createRandom } from '../../src/random.ts';
import { encodeCondition, EVENT_ID_HEADER, EXPECTED_VERSION_HEADER, parseConflict } from '../../src/record/keyVersions.ts';
import type { VersionCondition } from '../../src/record/keyVersions.ts';
import { encodeRecordBatch, readBatchHeader, LOG_OVERHEAD } from '../../src/record/recordBatch.ts';

const enc = new TextEncoder();

interface Ev {
  readonly key: string;
  readonly expected?: VersionCondition;
  readonly id?: string;
}

/** A batch of events; `producer` makes it idempotent (and `transactional`) with the given sequence. */
function batch(events: readonly Ev[], producer?: { pid: bigint; seq: number; transactional?: boolean }, compression: 'none' | 'gzip' = 'none'): Uint8Array {
  return encodeRecordBatch({
    compression,
    ...(producer === undefined ? {} : { producerId: producer.pid, producerEpoch: 0, baseSequence: producer.seq, isTransactional: producer.transactional ?? false }),
    records: events.map((e) => ({
      timestamp: 1_000,
      key: enc.encode(e.key),
      value: enc.encode('x'),
      headers: [...(e.expected === undefined ? [] : [{ key: EXPECTED_VERSION_HEADER, value: encodeCondition(e.expected) }]), ...(e.id === undefined ? [] : [{ key: EVENT_ID_HEADER, value: enc.encode(e.id) }])],
    })),
  });
}

const exact = (version: bigint): VersionCondition => ({ kind: 'exact', version });

function open(storage: MemoryStorage, dir = 'events-0', segmentBytes = 1024 * 1024): PartitionLog {
  return PartitionLog.open({ storage, dir, config: { 'key.version.index.enable': true, 'segment.bytes': segmentBytes }, clock: new SimulatedClock() });
}

const version = (log: PartitionLog, key: string): bigint => log.readKey(enc.encode(key), { from: 1n, maxCount: 0, below: log.logEndOffset }).version;
const offsets = (log: PartitionLog, key: string): bigint[] => log.readKey(enc.encode(key), { from: 1n, maxCount: 1_000_000, below: log.logEndOffset }).offsets;

function thrown(f: () => unknown): unknown {
  try {
    f();
  } catch (e) {
    return e;
  }
  throw new Error('expected a throw');
}

describe('key version index', () => {
  it('checks expected versions per key, atomically with the append, counting earlier records of the batch', () => {
    const log = open(new MemoryStorage());
    log.append(batch([{ key: 'a', expected: { kind: 'noStream' } }, { key: 'a', expected: exact(1n) }, { key: 'b' }]));
    expect(version(log, 'a')).toBe(2n);
    expect(version(log, 'b')).toBe(1n);
    const end = log.logEndOffset;
    const conflict = thrown(() => log.append(batch([{ key: 'c' }, { key: 'a', expected: exact(1n) }])));
    expect(KafkaProtocolError.isKafka(conflict, 'WRONG_EXPECTED_VERSION')).toBe(true);
    expect(parseConflict((conflict as Error).message)).toEqual({ expected: '1', actual: 2n });
    // Refused whole: nothing of the batch was written.
    expect(log.logEndOffset).toBe(end);
    expect(version(log, 'c')).toBe(0n);
    expect(KafkaProtocolError.isKafka(thrown(() => log.append(batch([{ key: 'a', expected: { kind: 'noStream' } }]))), 'WRONG_EXPECTED_VERSION')).toBe(true);
    expect(KafkaProtocolError.isKafka(thrown(() => log.append(batch([{ key: 'z', expected: { kind: 'streamExists' } }]))), 'WRONG_EXPECTED_VERSION')).toBe(true);
    log.append(batch([{ key: 'a', expected: { kind: 'streamExists' } }]));
    expect(offsets(log, 'a')).toEqual([0n, 1n, 3n]);
    expect(log.readKey(enc.encode('a'), { from: 3n, maxCount: 2, backwards: true, below: log.logEndOffset })).toEqual({ version: 3n, firstVersion: 3n, offsets: [3n, 1n] });
    // Only what is below the bound (the high watermark) is visible.
    expect(log.readKey(enc.encode('a'), { from: 1n, maxCount: 10, below: 2n })).toEqual({ version: 2n, firstVersion: 1n, offsets: [0n, 1n] });
  });

  it('answers a retried append (all its event ids already written) with the original offsets, and refuses a partial one', () => {
    const log = open(new MemoryStorage());
    log.append(batch([{ key: 'a', id: 'e1', expected: { kind: 'noStream' } }, { key: 'a', id: 'e2' }]));
    log.append(batch([{ key: 'b', id: 'e3' }]));
    const again = log.append(batch([{ key: 'a', id: 'e1', expected: { kind: 'noStream' } }, { key: 'a', id: 'e2' }]));
    expect(again).toMatchObject({ duplicate: true, firstOffset: 0n, lastOffset: 1n });
    expect(version(log, 'a')).toBe(2n);
    expect(thrown(() => log.append(batch([{ key: 'a', id: 'e2' }, { key: 'a', id: 'e9' }])))).toBeInstanceOf(InvalidRecordError);
    expect(log.logEndOffset).toBe(3n);
  });

  it('reserves the versions of keys in an open transaction: other writers wait, a commit counts them, an abort releases them', () => {
    const log = open(new MemoryStorage());
    log.append(batch([{ key: 'a', expected: exact(0n) }], { pid: 7n, seq: 0, transactional: true }));
    expect(version(log, 'a')).toBe(0n);
    const busy = thrown(() => log.append(batch([{ key: 'a' }])));
    expect(KafkaProtocolError.isKafka(busy, 'CONCURRENT_TRANSACTIONS')).toBe(true);
    expect((busy as KafkaProtocolError).retriable).toBe(true);
    // The same transaction goes on from its reserved version.
    log.append(batch([{ key: 'a', expected: exact(1n) }], { pid: 7n, seq: 1, transactional: true }));
    log.appendTransactionMarker({ producerId: 7n, producerEpoch: 0, coordinatorEpoch: 0, result: 'COMMIT' }, { leaderEpoch: 0 });
    expect(version(log, 'a')).toBe(2n);
    log.append(batch([{ key: 'a', expected: exact(2n) }], { pid: 8n, seq: 0, transactional: true }));
    log.appendTransactionMarker({ producerId: 8n, producerEpoch: 0, coordinatorEpoch: 0, result: 'ABORT' }, { leaderEpoch: 0 });
    expect(version(log, 'a')).toBe(2n);
    log.append(batch([{ key: 'a', expected: exact(2n) }]));
    expect(offsets(log, 'a')).toEqual([0n, 1n, 5n]);
  });

  it('reads the conditions of compressed batches too', () => {
    const log = open(new MemoryStorage());
    log.append(batch([{ key: 'a', expected: { kind: 'noStream' }, id: 'x' }, { key: 'b', id: 'y' }], undefined, 'gzip'));
    expect(KafkaProtocolError.isKafka(thrown(() => log.append(batch([{ key: 'a', expected: exact(0n) }], undefined, 'gzip'))), 'WRONG_EXPECTED_VERSION')).toBe(true);
    expect(log.append(batch([{ key: 'a', expected: { kind: 'noStream' }, id: 'x' }, { key: 'b', id: 'y' }], undefined, 'gzip'))).toMatchObject({ duplicate: true });
    log.append(batch([{ key: 'a', expected: exact(1n) }], undefined, 'gzip'));
    expect(offsets(log, 'a')).toEqual([0n, 2n]);
  });

  it('costs nothing on topics without it, and refuses to read keys there', () => {
    const log = PartitionLog.open({ storage: new MemoryStorage(), dir: 'plain-0', clock: new SimulatedClock() });
    log.append(batch([{ key: 'a', expected: exact(5n) }]));
    expect(log.keyVersionStats).toEqual({ keys: 0, records: 0 });
    expect(() => log.readKey(enc.encode('a'), { from: 1n, maxCount: 1, below: 1n })).toThrow(/key.version.index.enable/);
  });

  it('matches the definition under appends, transactions, truncation, recovery, log start moves and followers (model-based, 40 seeds)', () => {
    for (let seed = 1; seed <= Number(process.env.KEY_INDEX_SEEDS ?? 40); seed++) {
      const random = createRandom(seed);
      const storage = new MemoryStorage();
      let log = open(storage, 'events-0', 600);
      // The model: every batch in log order, as (offset, key, producer, transactional) and markers.
      type Entry = { offset: bigint; key: string; pid: bigint; txn: boolean } | { offset: bigint; marker: { pid: bigint; commit: boolean } };
      let entries: Entry[] = [];
      // Offsets where batches begin (truncation cuts whole batches).
      const batchStarts = new Set<bigint>();
      const keys = ['a', 'b', 'c', 'd'];
      const seqs = new Map<bigint, number>();
      const openTxn = new Set<bigint>();
      const modelVersion = (key: string): number => {
        const committed = new Map<bigint, number>();
        let n = 0;
        const pending = new Map<bigint, number>();
        for (const e of entries) {
          if ('marker' in e) {
            if (e.marker.commit) n += pending.get(e.marker.pid) ?? 0;
            pending.delete(e.marker.pid);
          } else if (e.key === key) {
            if (e.txn) pending.set(e.pid, (pending.get(e.pid) ?? 0) + 1);
            else n++;
          }
        }
        committed.clear();
        return n;
      };
      const modelReserved = (key: string, pid: bigint): boolean => {
        const open = new Map<bigint, boolean>();
        for (const e of entries) {
          if ('marker' in e) open.delete(e.marker.pid);
          else if (e.txn && e.key === key) open.set(e.pid, true);
        }
        return [...open.keys()].some((p) => p !== pid);
      };
      for (let step = 0; step < 120; step++) {
        const op = random.int(100);
        if (op < 60) {
          // An append of 1-3 events of one key, by a plain writer or a producer (transactional or not), its condition right or wrong.
          const key = keys[random.int(keys.length)] as string;
          const pid = random.int(3) === 0 ? -1n : BigInt(1 + random.int(3));
          const txn = pid > 0n && pid !== 3n;
          const pendingOwn = entries.filter((e): e is Extract<Entry, { key: string }> => !('marker' in e) && e.key === key && e.pid === pid && e.txn && openTxn.has(pid)).length;
          const current = modelVersion(key) + (txn ? pendingOwn : 0);
          const right = random.int(4) !== 0;
          const count = 1 + random.int(3);
          const expected = exact(BigInt(right ? current : current + 1));
          const seq = seqs.get(pid) ?? 0;
          const bytes = batch(Array.from({ length: count }, (_, i) => ({ key, ...(i === 0 ? { expected } : {}) })), pid < 0n ? undefined : { pid, seq, transactional: txn });
          const base = log.logEndOffset;
          const reserved = modelReserved(key, pid);
          try {
            log.append(bytes);
            expect(right && !reserved).toBe(true);
            if (pid >= 0n) seqs.set(pid, seq + count);
            if (txn) openTxn.add(pid);
            for (let i = 0; i < count; i++) entries.push({ offset: base + BigInt(i), key, pid, txn });
            batchStarts.add(base);
          } catch (e) {
            expect(KafkaProtocolError.isKafka(e, reserved ? 'CONCURRENT_TRANSACTIONS' : 'WRONG_EXPECTED_VERSION'), `seed ${seed} step ${step}: ${String(e)}`).toBe(true);
          }
        } else if (op < 75 && openTxn.size > 0) {
          const pid = [...openTxn][random.int(openTxn.size)] as bigint;
          const commit = random.int(3) !== 0;
          const at = log.appendTransactionMarker({ producerId: pid, producerEpoch: 0, coordinatorEpoch: 0, result: commit ? 'COMMIT' : 'ABORT' }, { leaderEpoch: 0 }).firstOffset;
          entries.push({ offset: at, marker: { pid, commit } });
          batchStarts.add(at);
          openTxn.delete(pid);
        } else if (op < 82 && log.logEndOffset > log.logStartOffset) {
          // A follower's truncation, at a batch boundary never below the log start: the tail goes,
          // transactions whose marker went are open again.
          const boundaries = [...batchStarts].filter((o) => o >= log.logStartOffset && o < log.logEndOffset);
          if (boundaries.length === 0) continue;
          const target = boundaries[random.int(boundaries.length)] as bigint;
          log.truncateTo(target);
          const cut = log.logEndOffset;
          entries = entries.filter((e) => e.offset < cut);
          for (const o of [...batchStarts]) if (o >= cut) batchStarts.delete(o);
          openTxn.clear();
          for (const e of entries) if ('marker' in e) openTxn.delete(e.marker.pid);
          else if (e.txn) openTxn.add(e.pid);
          for (const e of entries) if ('marker' in e) openTxn.delete(e.marker.pid);
          // Producer sequences continue from what survived.
          seqs.clear();
          for (const e of entries) if (!('marker' in e) && e.pid >= 0n) seqs.set(e.pid, (seqs.get(e.pid) ?? 0) + 1);
          // A transaction's marker may be cut while its later records survive: recompute which are open.
          const state = new Map<bigint, boolean>();
          for (const e of entries) if ('marker' in e) state.delete(e.marker.pid);
          else if (e.txn) state.set(e.pid, true);
          openTxn.clear();
          for (const p of state.keys()) openTxn.add(p);
        } else if (op < 88) {
          // A restart, clean or crashed: the index comes back from its snapshot or the log.
          if (random.int(2) === 0) void log.close();
          else log.abandon();
          log = open(storage, 'events-0', 600);
        } else if (op < 92 && log.logEndOffset > log.logStartOffset) {
          log.deleteRecordsBefore(log.logStartOffset + BigInt(random.int(Number(log.logEndOffset - log.logStartOffset) + 1)));
        }
        for (const key of keys) {
          expect(version(log, key), `seed ${seed} step ${step} key ${key}`).toBe(BigInt(modelVersion(key)));
        }
      }
      // A follower that copies the leader's log holds the same index. (Like Kafka's, it starts at
      // the base of the leader's first batch; counts below the leader's log start are not copied.)
      const follower = open(new MemoryStorage(), 'events-0');
      let at = log.logStartOffset;
      const first = log.read(at, { maxBytes: 1 << 20 }).records;
      if (first.length > 0) follower.truncateFullyAndStartAt(readBatchHeader(first, 0).baseOffset);
      while (at < log.logEndOffset) {
        const { records } = log.read(at, { maxBytes: 1 << 20 });
        if (records.length === 0) break;
        follower.appendAsFollower(records);
        let p = 0;
        while (p < records.length) {
          const h = readBatchHeader(records, p);
          at = h.baseOffset + BigInt(h.lastOffsetDelta) + 1n;
          p += h.batchLength + LOG_OVERHEAD;
        }
      }
      const start = log.logStartOffset;
      for (const key of keys) expect(follower.readKey(enc.encode(key), { from: 1n, maxCount: 1000, below: follower.logEndOffset }).offsets.filter((o) => o >= start), `seed ${seed} follower ${key}`).toEqual(offsets(log, key));
    }
  });
});
