import type { PartitionLog } from '../../src/log/partitionLog.ts';
import { readControlBatch } from '../../src/record/controlRecords.ts';
import { encodeRecordBatch, isControlBatch, isTransactional, readBatchHeader, decodeRecordBatch, LOG_OVERHEAD } from '../../src/record/recordBatch.ts';
import type { Storage } from '../../src/log/storage/storage.ts';
import { decodeAbortedTxns } from '../../src/log/transactionIndex.ts';
import type { AbortedTxn } from '../../src/log/transactionIndex.ts';

const enc = new TextEncoder();
const dec = new TextDecoder();

/** A test client of one producer id: keeps its epoch and next sequence as a producer does. */
export class TestProducer {
  seq = 0;
  constructor(
    readonly pid: bigint,
    public epoch = 0,
  ) {}

  /** One batch of `values` (keys default to the values); the sequence advances. */
  batch(values: readonly string[], transactional: boolean, keys?: readonly string[], timestamp = 1_000_000): Uint8Array {
    const bytes = encodeRecordBatch({
      producerId: this.pid,
      producerEpoch: this.epoch,
      baseSequence: this.seq,
      isTransactional: transactional,
      records: values.map((v, i) => ({ timestamp, key: enc.encode(keys?.[i] ?? v), value: enc.encode(v) })),
    });
    this.seq += values.length;
    return bytes;
  }
}

/** A batch without a producer id. */
export function plainBatch(values: readonly string[], keys?: readonly string[], timestamp = 1_000_000): Uint8Array {
  return encodeRecordBatch({ records: values.map((v, i) => ({ timestamp, key: enc.encode(keys?.[i] ?? v), value: enc.encode(v) })) });
}

/** Appends a marker as the leader with coordinator epoch 0 unless told otherwise. */
export function mark(log: PartitionLog, pid: bigint, result: 'COMMIT' | 'ABORT', epoch = 0, coordinatorEpoch = 0): bigint {
  return log.appendTransactionMarker({ producerId: pid, producerEpoch: epoch, coordinatorEpoch, result }, { leaderEpoch: 0 }).firstOffset;
}

/** `.txnindex` files of a log directory by name, as stored. */
export function txnIndexFiles(storage: Storage, dir: string): Map<string, Uint8Array> {
  const out = new Map<string, Uint8Array>();
  for (const f of storage.list(dir)) if (f.endsWith('.txnindex')) out.set(f, storage.readFile(`${dir}/${f}`));
  return out;
}

/** Every `.txnindex` entry of a log directory, segment by segment (decoded from the files). */
export function txnIndexEntries(storage: Storage, dir: string): AbortedTxn[] {
  const out: AbortedTxn[] = [];
  for (const [name, bytes] of [...txnIndexFiles(storage, dir)].sort(([a], [b]) => (a < b ? -1 : 1))) {
    const decoded = decodeAbortedTxns(bytes, BigInt(name.slice(0, 20)));
    if (decoded.problem !== undefined || decoded.wholeBytes !== bytes.length) throw new Error(`${name}: ${decoded.problem ?? 'partial entry'}`);
    out.push(...decoded.entries);
  }
  return out;
}

/** One record as a consumer sees it. */
export interface SeenRecord {
  offset: bigint;
  key: string | null;
  value: string | null;
}

/**
 * Reads the log as a Java read_committed consumer does: fetches up to the LSO (the log end taken
 * as the high watermark), asks for the aborted transactions of each fetch (upper bound: the end of
 * the fetched batches), and drops a producer's transactional batches from its aborted
 * transaction's first offset to its ABORT marker, and every control batch.
 */
export function readCommitted(log: PartitionLog, maxBytes = 1 << 20): SeenRecord[] {
  const lso = log.lastStableOffset(log.logEndOffset);
  const out: SeenRecord[] = [];
  let offset = log.logStartOffset;
  while (offset < lso) {
    const { records } = log.read(offset, { maxOffset: lso, maxBytes });
    if (records.length === 0) break;
    let end = offset;
    for (let p = 0; p < records.length; ) {
      const h = readBatchHeader(records, p);
      end = h.baseOffset + BigInt(h.lastOffsetDelta) + 1n;
      p += h.batchLength + LOG_OVERHEAD;
    }
    const queue = log.collectAbortedTransactions(offset, end).sort((a, b) => (a.firstOffset < b.firstOffset ? -1 : 1));
    const aborted = new Set<bigint>();
    for (let p = 0; p < records.length; ) {
      const h = readBatchHeader(records, p);
      const size = h.batchLength + LOG_OVERHEAD;
      const last = h.baseOffset + BigInt(h.lastOffsetDelta);
      if (h.producerId >= 0n) {
        while (queue.length > 0 && (queue[0] as { firstOffset: bigint }).firstOffset <= last) aborted.add((queue.shift() as { producerId: bigint }).producerId);
        const control = isControlBatch(h) ? readControlBatch(records, p) : undefined;
        if (control?.kind === 'transactionMarker' && control.result === 'ABORT') aborted.delete(h.producerId);
        else if (isTransactional(h) && aborted.has(h.producerId)) {
          p += size;
          continue;
        }
      }
      if (!isControlBatch(h)) {
        for (const r of decodeRecordBatch(records, p).records) if (r.offset >= offset) out.push({ offset: r.offset, key: r.key === null ? null : dec.decode(r.key), value: r.value === null ? null : dec.decode(r.value) });
      }
      p += size;
    }
    offset = end;
  }
  return out;
}

/** Every data record in the log (read_uncommitted, without control records). */
export function readUncommitted(log: PartitionLog): SeenRecord[] {
  const out: SeenRecord[] = [];
  let offset = log.logStartOffset;
  while (offset < log.logEndOffset) {
    const { records } = log.read(offset);
    if (records.length === 0) break;
    for (let p = 0; p < records.length; ) {
      const h = readBatchHeader(records, p);
      if (!isControlBatch(h)) for (const r of decodeRecordBatch(records, p).records) if (r.offset >= offset) out.push({ offset: r.offset, key: r.key === null ? null : dec.decode(r.key), value: r.value === null ? null : dec.decode(r.value) });
      offset = h.baseOffset + BigInt(h.lastOffsetDelta) + 1n;
      p += h.batchLength + LOG_OVERHEAD;
    }
  }
  return out;
}

/** Offsets of the control batches in the log. */
export function controlOffsets(log: PartitionLog): bigint[] {
  const out: bigint[] = [];
  let offset = log.logStartOffset;
  while (offset < log.logEndOffset) {
    const { records } = log.read(offset);
    if (records.length === 0) break;
    for (let p = 0; p < records.length; ) {
      const h = readBatchHeader(records, p);
      if (isControlBatch(h)) out.push(h.baseOffset);
      offset = h.baseOffset + BigInt(h.lastOffsetDelta) + 1n;
      p += h.batchLength + LOG_OVERHEAD;
    }
  }
  return out;
}

/**
 * Cuts a crashed log's files so that it ends before `offset` (the batch holding it and all later
 * ones are gone), then leaves `tornBytes` of the removed batch behind as a torn write. Later
 * segments lose their files; `.txnindex` files are left as the crash left them (stale entries
 * included), except those of removed segments.
 */
export function cutLogAt(storage: Storage, dir: string, offset: bigint, tornBytes = 0): void {
  const bases = storage
    .list(dir)
    .filter((f) => /^\d{20}\.log$/.test(f))
    .map((f) => BigInt(f.slice(0, 20)))
    .sort((a, b) => (a < b ? -1 : 1));
  for (const base of bases) {
    const stem = `${dir}/${base.toString().padStart(20, '0')}`;
    if (base > offset || (base === offset && base !== bases[0])) {
      for (const ext of ['log', 'index', 'timeindex', 'txnindex']) storage.remove(`${stem}.${ext}`);
      continue;
    }
    const bytes = storage.readFile(`${stem}.log`);
    for (let p = 0; p < bytes.length; ) {
      const h = readBatchHeader(bytes, p);
      const size = h.batchLength + LOG_OVERHEAD;
      if (h.baseOffset + BigInt(h.lastOffsetDelta) >= offset) {
        const file = storage.open(`${stem}.log`);
        file.truncate(p + Math.min(tornBytes, size - 1));
        file.close();
        break;
      }
      p += size;
    }
  }
}
