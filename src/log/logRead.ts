/**
 * Reading a partition log: fetch reads (a copy or views of the stored bytes), ListOffsets lookups
 * by timestamp, and the aborted transactions a read_committed fetch must filter.
 *
 * Guarantees:
 * - A read returns whole batches exactly as stored, starting with the batch that holds the
 *   requested offset, never past the given upper bound (the high watermark or the LSO).
 * - Views are never written to by the log afterwards: they stay valid whatever it does next.
 * - The aborted transactions are those of the `.txnindex` entries, so every replica answers the
 *   same for the same range.
 */
import { InvalidArgumentError, OffsetOutOfRangeError } from '../errors.ts';
import { decodeRecordBatch, LOG_OVERHEAD } from '../record/recordBatch.ts';
import type { LocalLog } from './localLog.ts';
import { STOP_SCAN } from './segment.ts';
import type { LogSegment } from './segment.ts';

/** An aborted transaction overlapping a fetch, as a Fetch response lists it for read_committed consumers. */
export interface AbortedTransaction {
  readonly producerId: bigint;
  /** Offset of the transaction's first batch: the consumer drops the producer's transactional batches from here to its ABORT marker. */
  readonly firstOffset: bigint;
}

/** Options of {@link PartitionLog.read}. */
export interface ReadOptions {
  /** Soft cap on bytes returned (default 1 MiB, as `max.partition.fetch.bytes`). */
  readonly maxBytes?: number;
  /** Exclusive upper bound: only batches entirely below it are returned (the HW or LSO). Default: log end. */
  readonly maxOffset?: bigint;
  /** Return the first batch even when it exceeds `maxBytes` (KIP-74 semantics; default true). */
  readonly minOneBatch?: boolean;
}

/** Result of {@link PartitionLog.read}. */
export interface ReadResult {
  /** Whole record batches as stored, back to back; empty when nothing is available. */
  readonly records: Uint8Array;
  /** Log start offset at the time of the read. */
  readonly logStartOffset: bigint;
  /** Log end offset at the time of the read. */
  readonly logEndOffset: bigint;
}

/** Result of {@link PartitionLog.readViews}. */
export interface ReadViewsResult {
  /** Runs of whole record batches as stored, in offset order; `[]` when nothing is available. */
  readonly records: readonly Uint8Array[];
  /** Log start offset at the time of the read. */
  readonly logStartOffset: bigint;
  /** Log end offset at the time of the read. */
  readonly logEndOffset: bigint;
}

/** An offset found by a ListOffsets-style lookup. */
export interface TimestampAndOffset {
  readonly offset: bigint;
  readonly timestamp: number;
}

/** Special ListOffsets targets, as Kafka's -2 / -1 / -3. */
export const EARLIEST_TIMESTAMP = -2;
/** ListOffsets target for the log end offset. */
export const LATEST_TIMESTAMP = -1;
/** ListOffsets target for the record with the largest timestamp (KIP-734). */
export const MAX_TIMESTAMP = -3;

const EMPTY = new Uint8Array(0);

/**
 * Whole batches from the one containing `fromOffset`, as one buffer the caller owns.
 * @throws OffsetOutOfRangeError when `fromOffset` is below the log start or above the log end.
 */
export function readBatches(log: LocalLog, fromOffset: bigint, options: ReadOptions): ReadResult {
  const plan = planRead(log, fromOffset, options);
  const records = plan.segment?.read(fromOffset, plan.maxBytes, plan.bound, options.minOneBatch ?? true) ?? EMPTY;
  return { records, logStartOffset: log.startOffset, logEndOffset: plan.end };
}

/**
 * The batches {@link readBatches} returns, as runs of whole batches that are views of the stored
 * bytes (no copy).
 * @throws OffsetOutOfRangeError when `fromOffset` is below the log start or above the log end.
 */
export function readBatchViews(log: LocalLog, fromOffset: bigint, options: ReadOptions): ReadViewsResult {
  const plan = planRead(log, fromOffset, options);
  const records = plan.segment?.readViews(fromOffset, plan.maxBytes, plan.bound, options.minOneBatch ?? true) ?? [];
  return { records, logStartOffset: log.startOffset, logEndOffset: plan.end };
}

/** Checks a read's arguments and finds the segment it starts in (none when nothing is below the bound). */
function planRead(log: LocalLog, fromOffset: bigint, options: ReadOptions): { segment: LogSegment | undefined; maxBytes: number; bound: bigint; end: bigint } {
  log.ensureOpen();
  const end = log.logEndOffset;
  if (typeof fromOffset !== 'bigint') throw new InvalidArgumentError('fromOffset', `expected a bigint offset, got ${typeof fromOffset}`);
  if (fromOffset < log.startOffset || fromOffset > end) throw new OffsetOutOfRangeError(fromOffset, log.startOffset, end, `log "${log.dir}"`);
  const maxBytes = options.maxBytes ?? 1048576;
  if (!Number.isInteger(maxBytes) || maxBytes < 0) throw new InvalidArgumentError('maxBytes', `expected a non-negative integer, got ${maxBytes}`);
  const bound = options.maxOffset === undefined || options.maxOffset > end ? end : options.maxOffset;
  if (fromOffset < bound) {
    for (let i = log.segmentIndexFor(fromOffset); i < log.segments.length; i++) {
      const segment = log.segments[i] as LogSegment;
      if (segment.nextOffset > fromOffset) return { segment, maxBytes, bound, end };
    }
  }
  return { segment: undefined, maxBytes, bound, end };
}

/**
 * ListOffsets (see {@link PartitionLog.offsetForTimestamp}): log start, log end, the record with
 * the largest timestamp, or the first record whose timestamp is ≥ `timestamp`.
 * @throws InvalidArgumentError for a timestamp that is neither ≥ 0 nor a special target.
 */
export function offsetForTimestamp(log: LocalLog, timestamp: number): TimestampAndOffset | undefined {
  log.ensureOpen();
  if (timestamp === EARLIEST_TIMESTAMP) return { offset: log.startOffset, timestamp: -1 };
  if (timestamp === LATEST_TIMESTAMP) return { offset: log.logEndOffset, timestamp: -1 };
  if (timestamp === MAX_TIMESTAMP) return maxTimestampOffset(log);
  if (!Number.isFinite(timestamp) || timestamp < 0) throw new InvalidArgumentError('timestamp', `expected a timestamp ≥ 0 or one of -1 (latest), -2 (earliest), -3 (max timestamp), got ${timestamp}`);
  for (const segment of log.segments) {
    if (segment.maxTimestamp < timestamp) continue;
    const fromIndex = segment.baseOffset + BigInt(segment.timeIndex.lookup(timestamp));
    const startOffset = fromIndex > log.startOffset ? fromIndex : log.startOffset;
    const found = segment.findBatch(startOffset);
    if (found === undefined) continue;
    let hit: TimestampAndOffset | undefined;
    segment.scan(found.position, false, (header, _position, bytes, at) => {
      if (header.maxTimestamp < timestamp) return undefined;
      for (const record of decodeRecordBatch(bytes, at).records) {
        if (record.timestamp >= timestamp && record.offset >= log.startOffset) {
          hit = { offset: record.offset, timestamp: record.timestamp };
          return STOP_SCAN;
        }
      }
      return undefined;
    });
    if (hit !== undefined) return hit;
  }
  return undefined;
}

function maxTimestampOffset(log: LocalLog): TimestampAndOffset | undefined {
  let best: LogSegment | undefined;
  for (const s of log.segments) if (s.maxTimestamp >= 0 && (best === undefined || s.maxTimestamp > best.maxTimestamp)) best = s;
  if (best === undefined) return undefined;
  const target = best.baseOffset + BigInt(best.offsetOfMaxTimestamp);
  const found = best.findBatch(target);
  if (found === undefined) return undefined;
  const bytes = best.readBytes(found.position, found.header.batchLength + LOG_OVERHEAD);
  const batch = decodeRecordBatch(bytes, 0);
  let pick = batch.records[batch.records.length - 1];
  for (const r of batch.records) if (r.timestamp === batch.header.maxTimestamp) { pick = r; break; }
  return pick === undefined ? undefined : { offset: pick.offset, timestamp: batch.header.maxTimestamp };
}

/**
 * The aborted transactions a read_committed fetch from `fetchOffset` must filter, up to
 * `upperBoundOffset` (see {@link PartitionLog.collectAbortedTransactions}), oldest marker first.
 * @throws InvalidArgumentError when an offset is not a bigint.
 */
export function collectAbortedTransactions(log: LocalLog, fetchOffset: bigint, upperBoundOffset: bigint): AbortedTransaction[] {
  log.ensureOpen();
  if (typeof fetchOffset !== 'bigint') throw new InvalidArgumentError('fetchOffset', `expected a bigint offset, got ${typeof fetchOffset}`);
  if (typeof upperBoundOffset !== 'bigint') throw new InvalidArgumentError('upperBoundOffset', `expected a bigint offset, got ${typeof upperBoundOffset}`);
  const out: AbortedTransaction[] = [];
  for (let i = log.segmentIndexFor(fetchOffset); i < log.segments.length; i++) {
    const result = (log.segments[i] as LogSegment).txnIndex.collectAbortedTxns(fetchOffset, upperBoundOffset);
    for (const txn of result.abortedTransactions) out.push({ producerId: txn.producerId, firstOffset: txn.firstOffset });
    if (result.isComplete) break;
  }
  return out;
}
