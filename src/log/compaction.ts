/**
 * Log compaction (`cleanup.policy=compact`), after Kafka's LogCleaner.
 *
 * Guarantees:
 * - At least the latest value of every key survives; offsets and order never change (a removed
 *   offset simply reads as the next one that exists).
 * - Tombstones (key, null value) survive at least `delete.retention.ms` after the cleaner first
 *   sees them (KIP-534 delete horizon, stored in the batch), then are removed.
 * - The active segment, anything at or above the bound (high watermark or LSO) or the log's first
 *   unstable offset (an open transaction), and segments younger than `min.compaction.lag.ms` are
 *   never touched.
 * - Each batch keeps its base and last offset (and so its producer sequence range); a batch with
 *   nothing left is dropped unless it ends a cleaned group or holds the last data (or last marker)
 *   of a producer the log still tracks, where it stays as an empty batch (Kafka's RETAIN_EMPTY).
 * - Transactions, as Kafka's `CleanedTransactionMetadata`: records of aborted transactions (per
 *   the `.txnindex`) never count as a key's latest value, and their batches are removed; a COMMIT
 *   or ABORT marker stays as long as any batch of its transaction is left, then gets a delete
 *   horizon of `delete.retention.ms` like a tombstone and is removed after it. A cleaned segment's
 *   `.txnindex` keeps the entries of the ABORT markers that still have data behind them. So a
 *   read_committed consumer sees the same committed records as before, minus superseded ones.
 * - Crash-safe: cleaned segments (`.log` and `.txnindex`) are written as `.cleaned`, renamed
 *   `.swap`, and only then replace the originals; recovery finishes or discards an interrupted
 *   swap and rebuilds the swapped segment's `.txnindex` from its batches.
 */
import { decodeRecordBatch, encodeRecordBatch, hasDeleteHorizon, isControlBatch, compressionOf, timestampTypeOf, isTransactional, LOG_OVERHEAD } from '../record/recordBatch.ts';
import type { RecordBatchHeader, RecordInput } from '../record/recordBatch.ts';
import { writeOffsetCheckpoint, CLEANER_OFFSET_FILE } from './checkpoints.ts';
import { readControlBatch } from '../record/controlRecords.ts';
import type { ControlBatchContent } from '../record/controlRecords.ts';
import type { Clock } from '../clock.ts';
import type { LogConfig } from '../topicConfig.ts';
import type { ProducerStateEntry } from './producerState.ts';
import { LogSegment } from './segment.ts';
import type { AppendedBatch, SegmentConfig } from './segment.ts';
import type { Storage } from './storage/storage.ts';
import { encodeAbortedTxns } from './transactionIndex.ts';
import type { AbortedTxn } from './transactionIndex.ts';

/** Options of {@link cleanLog}. */
export interface CleanOptions {
  /**
   * Exclusive bound the cleaner never reaches past: the high watermark or the LSO. Default: log
   * end. The log's own first unstable offset bounds it too, so an open transaction is never cleaned.
   */
  readonly upperBoundOffset?: bigint;
  /** Clean even when the dirty ratio is below `min.cleanable.dirty.ratio`. */
  readonly force?: boolean;
  /**
   * Keep a batch even when all its records are removed (producer state needs its sequence). The
   * last batch of every producer the log tracks is kept anyway.
   */
  readonly retainEmptyBatch?: (header: RecordBatchHeader) => boolean;
}

/**
 * What the cleaner reads and changes of a partition log: its segments (replaced by cleaned ones),
 * its producers (whose last batches it keeps) and its cleaning checkpoints. The log's own state
 * satisfies it; the cleaner knows nothing else of the log.
 */
export interface CleanableLog {
  readonly storage: Storage;
  readonly dir: string;
  readonly config: LogConfig;
  readonly clock: Pick<Clock, 'now'>;
  /** Segments, oldest first; the last one is the active segment. */
  readonly segments: readonly LogSegment[];
  readonly logEndOffset: bigint;
  /** The first offset of the earliest open transaction: nothing at or after it is cleaned. */
  readonly firstUnstableOffset: bigint | undefined;
  readonly producerStates: ReadonlyMap<bigint, ProducerStateEntry>;
  /** First offset not yet cleaned; the cleaner moves it to the end of what it cleaned. */
  firstDirtyOffset: bigint;
  /** Latest delete horizon of the tombstones and markers the cleaner kept, -1 when none. */
  latestDeleteHorizon: number;
  /** Sizing of new segments under the current config. */
  segmentConfig(): SegmentConfig;
  /** Replaces segments [from, to) by `replacement`. */
  replaceSegments(from: number, to: number, replacement: readonly LogSegment[]): void;
}

/** What a cleaning pass did. */
export interface CleanResult {
  /** False when nothing was cleaned; `reason` says why. */
  readonly cleaned: boolean;
  readonly reason?: string;
  /** The dirty ratio that was measured (dirty bytes / cleanable bytes). */
  readonly dirtyRatio: number;
  /** Cleaned range end: the new first dirty offset. */
  readonly firstDirtyOffset: bigint;
  readonly bytesBefore: number;
  readonly bytesAfter: number;
  readonly recordsRemoved: number;
  readonly tombstonesRemoved: number;
  /** Records removed because their transaction was aborted (included in `recordsRemoved`). */
  readonly abortedRecordsRemoved: number;
  /** Transaction markers removed after their delete horizon. */
  readonly markersRemoved: number;
}

const latin1 = new TextDecoder('latin1');

/** A binary-safe Map key for record key bytes. */
function keyOf(key: Uint8Array): string {
  return latin1.decode(key);
}

/**
 * Runs one cleaning pass over `log` if it is compacted and dirty enough (or forced by
 * `max.compaction.lag.ms` or `options.force`).
 */
export function cleanLog(log: CleanableLog, options: CleanOptions = {}): CleanResult {
  const config = log.config;
  const now = log.clock.now();
  const segments = log.segments;
  const notCleaned = (reason: string, dirtyRatio = 0): CleanResult => ({ cleaned: false, reason, dirtyRatio, firstDirtyOffset: log.firstDirtyOffset, bytesBefore: 0, bytesAfter: 0, recordsRemoved: 0, tombstonesRemoved: 0, abortedRecordsRemoved: 0, markersRemoved: 0 });
  if (!config.cleanupPolicy.includes('compact')) return notCleaned('cleanup.policy does not include compact');

  // Whole segments only: those ending at or below every bound.
  const active = segments[segments.length - 1] as LogSegment;
  let bound = options.upperBoundOffset ?? log.logEndOffset;
  // Kafka cleans below the LSO only: an open transaction may still be aborted.
  const unstable = log.firstUnstableOffset;
  if (unstable !== undefined && unstable < bound) bound = unstable;
  if (active.baseOffset < bound) bound = active.baseOffset;
  let end = 0;
  for (let i = 0; i < segments.length - 1; i++) {
    const segment = segments[i] as LogSegment;
    const nextBase = (segments[i + 1] as LogSegment).baseOffset;
    if (nextBase > bound) break;
    if (config.minCompactionLagMs > 0 && segment.nextOffset > log.firstDirtyOffset && segment.maxTimestamp > now - config.minCompactionLagMs) break;
    end = i + 1;
  }
  if (end === 0) return notCleaned('no whole segment is below the cleanable bound');
  const endOffset = (segments[end] as LogSegment).baseOffset;

  let cleanBytes = 0;
  let dirtyBytes = 0;
  let firstDirtyIndex = end;
  for (let i = 0; i < end; i++) {
    const segment = segments[i] as LogSegment;
    if ((segments[i + 1] as LogSegment).baseOffset <= log.firstDirtyOffset) cleanBytes += segment.size();
    else {
      if (firstDirtyIndex === end) firstDirtyIndex = i;
      dirtyBytes += segment.size();
    }
  }
  const dirtyRatio = cleanBytes + dirtyBytes === 0 ? 0 : dirtyBytes / (cleanBytes + dirtyBytes);
  // Expired tombstones make a log worth cleaning even with nothing dirty (KIP-534).
  const horizonDue = log.latestDeleteHorizon >= 0 && log.latestDeleteHorizon <= now;
  if (dirtyBytes === 0 && !horizonDue && !options.force) return notCleaned('no dirty segments', dirtyRatio);
  const firstDirty = segments[firstDirtyIndex];
  const overdue = firstDirty !== undefined && Number.isFinite(config.maxCompactionLagMs) && firstDirty.firstBatchTimestamp >= 0 && now - firstDirty.firstBatchTimestamp > config.maxCompactionLagMs;
  if (!options.force && !overdue && !horizonDue && dirtyRatio < config.minCleanableDirtyRatio) return notCleaned(`dirty ratio ${dirtyRatio.toFixed(3)} is below min.cleanable.dirty.ratio ${config.minCleanableDirtyRatio}`, dirtyRatio);

  // Latest offset per key over the dirty range; aborted records never supersede anything.
  const latest = new Map<string, bigint>();
  const mapTxns = new CleanedTransactions();
  if (firstDirtyIndex < end) mapTxns.add(collectAbortedTxns(segments, (segments[firstDirtyIndex] as LogSegment).baseOffset, endOffset));
  for (let i = firstDirtyIndex; i < end; i++) {
    (segments[i] as LogSegment).scan(0, false, (header, _pos, bytes, at) => {
      if (isControlBatch(header)) {
        mapTxns.onControlBatchRead(header, controlContent(bytes, at, header));
        return undefined;
      }
      if (mapTxns.onBatchRead(header)) return undefined;
      if (header.baseOffset + BigInt(header.lastOffsetDelta) < log.firstDirtyOffset) return undefined;
      for (const record of decodeRecordBatch(bytes, at, { verifyCrc: false }).records) {
        if (record.key !== null && record.offset >= log.firstDirtyOffset) latest.set(keyOf(record.key), record.offset);
      }
      return undefined;
    });
  }

  // The last data batch (or, without one, the last marker) of every producer the log tracks keeps
  // its header, so the producer's sequence and epoch survive a reload (Kafka's
  // lastRecordsOfActiveProducers).
  const lastOfProducers = new Map<bigint, { lastDataOffset: bigint | undefined; epoch: number }>();
  for (const [pid, e] of log.producerStates) lastOfProducers.set(pid, { lastDataOffset: e.batches[e.batches.length - 1]?.lastOffset, epoch: e.producerEpoch });
  const isLastOfProducer = (header: RecordBatchHeader, lastOffset: bigint): boolean => {
    if (header.producerId < 0n || lastOfProducers.size === 0) return false;
    const last = lastOfProducers.get(header.producerId);
    if (last === undefined) return false;
    return last.lastDataOffset !== undefined ? lastOffset === last.lastDataOffset : isControlBatch(header) && header.producerEpoch === last.epoch;
  };

  // Recopy segments [0, end) in groups that fit one segment.
  const groups = groupSegments(segments.slice(0, end), config.segmentBytes, config.segmentIndexBytes);
  const deleteHorizon = now + config.deleteRetentionMs;
  const txns = new CleanedTransactions();
  let recordsRemoved = 0;
  let tombstonesRemoved = 0;
  let abortedRecordsRemoved = 0;
  let markersRemoved = 0;
  let bytesBefore = 0;
  let bytesAfter = 0;
  let pendingHorizon = -1;
  const replacements: LogSegment[] = [];
  for (const group of groups) {
    const base = (group[0] as LogSegment).baseOffset;
    const cleanedPath = LogSegment.path(log.dir, base, 'log', '.cleaned');
    const out = log.storage.open(cleanedPath, { create: true });
    out.truncate(0);
    const written: AppendedBatch[] = [];
    const cleanedIndex: AbortedTxn[] = [];
    const groupEnd = group[group.length - 1] as LogSegment;
    for (const segment of group) {
      bytesBefore += segment.size();
      const isLastOfGroup = segment === groupEnd;
      // As Kafka, the aborted transactions of each segment's whole range: the cleaned index is rebuilt from them.
      const next = segments[segments.indexOf(segment) + 1];
      txns.add(collectAbortedTxns(segments, segment.baseOffset, next === undefined ? segment.nextOffset : next.baseOffset));
      segment.scan(0, false, (header, _pos, bytes, at) => {
        const lastOffset = header.baseOffset + BigInt(header.lastOffsetDelta);
        const batchBytes = bytes.subarray(at, at + header.batchLength + LOG_OVERHEAD);
        const control = isControlBatch(header);
        const content = control ? controlContent(bytes, at, header) : undefined;
        const canDiscard = content !== undefined ? txns.onControlBatchRead(header, content, cleanedIndex) : txns.onBatchRead(header);
        const decision: BatchDecision = {
          // A marker goes only once its delete horizon has passed; aborted data at once.
          discardRecords: control ? canDiscard && hasDeleteHorizon(header) && header.baseTimestamp <= now : canDiscard,
          retainEmpty: isLastOfProducer(header, lastOffset) || (isLastOfGroup && lastOffset + 1n === segment.nextOffset) || (options.retainEmptyBatch?.(header) ?? false),
          markerForEmptyTxn: control && canDiscard,
        };
        const result = cleanBatch(batchBytes, header, latest, now, deleteHorizon, decision);
        recordsRemoved += result.recordsRemoved;
        tombstonesRemoved += result.tombstonesRemoved;
        if (decision.discardRecords) {
          if (control) markersRemoved += result.recordsRemoved;
          else abortedRecordsRemoved += result.recordsRemoved;
        }
        if (result.deleteHorizon > pendingHorizon) pendingHorizon = result.deleteHorizon;
        if (result.bytes === undefined) return undefined;
        const position = out.append(result.bytes);
        written.push({ position, size: result.bytes.length, lastOffset, maxTimestamp: result.maxTimestamp });
        return undefined;
      });
    }
    out.syncNow();
    out.close();
    bytesAfter += written.reduce((n, b) => n + b.size, 0);
    // Swap in: .cleaned → .swap → replace originals → final names. The .txnindex is renamed to
    // .swap before the .log and to its final name after it; a crash in between leaves a
    // .txnindex.swap, and the log then rebuilds that segment's index from its batches.
    const txnCleanedPath = LogSegment.path(log.dir, base, 'txnindex', '.cleaned');
    const txnSwapPath = LogSegment.path(log.dir, base, 'txnindex', '.swap');
    if (cleanedIndex.length > 0) {
      log.storage.writeFileAtomic(txnCleanedPath, encodeAbortedTxns(cleanedIndex));
      log.storage.rename(txnCleanedPath, txnSwapPath);
    }
    const swapPath = LogSegment.path(log.dir, base, 'log', '.swap');
    log.storage.rename(cleanedPath, swapPath);
    for (const segment of group) segment.delete();
    log.storage.rename(swapPath, LogSegment.path(log.dir, base, 'log'));
    if (cleanedIndex.length > 0) log.storage.rename(txnSwapPath, LogSegment.path(log.dir, base, 'txnindex'));
    replacements.push(LogSegment.adopt(log.storage, log.dir, base, log.segmentConfig(), now, written, cleanedIndex));
  }
  log.replaceSegments(0, end, replacements);
  log.firstDirtyOffset = endOffset;
  log.latestDeleteHorizon = pendingHorizon;
  writeOffsetCheckpoint(log.storage, `${log.dir}/${CLEANER_OFFSET_FILE}`, endOffset);
  return { cleaned: true, dirtyRatio, firstDirtyOffset: endOffset, bytesBefore, bytesAfter, recordsRemoved, tombstonesRemoved, abortedRecordsRemoved, markersRemoved };
}

/** Kafka's `UnifiedLog.collectAbortedTransactions` over `segments`, with whole entries. */
function collectAbortedTxns(segments: readonly LogSegment[], from: bigint, upperBound: bigint): AbortedTxn[] {
  const out: AbortedTxn[] = [];
  let i = 0;
  while (i + 1 < segments.length && (segments[i + 1] as LogSegment).baseOffset <= from) i++;
  for (; i < segments.length; i++) {
    const result = (segments[i] as LogSegment).txnIndex.collectAbortedTxns(from, upperBound);
    out.push(...result.abortedTransactions);
    if (result.isComplete) break;
  }
  return out;
}

/** The content of a control batch; a malformed one is treated as another control record (kept, never a marker). */
function controlContent(bytes: Uint8Array, at: number, header: RecordBatchHeader): ControlBatchContent {
  if (header.producerId < 0n) return { kind: 'other', type: 'UNKNOWN', typeId: -1 };
  try {
    return readControlBatch(bytes, at);
  } catch {
    return { kind: 'other', type: 'UNKNOWN', typeId: -1 };
  }
}

/**
 * Kafka's `CleanedTransactionMetadata`: walks batches in offset order and tells which belong to
 * aborted transactions (so they can go) and which markers no longer have data behind them (so they
 * can go once their delete horizon passes).
 */
class CleanedTransactions {
  /** Aborted transactions not reached yet, by first offset. */
  private pending: AbortedTxn[] = [];
  /** Producers inside a transaction that is not aborted, seen since its start. */
  private readonly ongoingCommitted = new Set<bigint>();
  /** Producers inside an aborted transaction, with the last batch of it seen. */
  private readonly ongoingAborted = new Map<bigint, { txn: AbortedTxn; lastObservedBatchOffset: bigint | undefined }>();

  add(txns: readonly AbortedTxn[]): void {
    if (txns.length === 0) return;
    this.pending.push(...txns);
    this.pending.sort((a, b) => (a.firstOffset < b.firstOffset ? -1 : a.firstOffset > b.firstOffset ? 1 : 0));
  }

  private consumeUpTo(offset: bigint): void {
    let n = 0;
    while (n < this.pending.length && (this.pending[n] as AbortedTxn).firstOffset <= offset) {
      const txn = this.pending[n] as AbortedTxn;
      if (!this.ongoingAborted.has(txn.producerId)) this.ongoingAborted.set(txn.producerId, { txn, lastObservedBatchOffset: undefined });
      n++;
    }
    if (n > 0) this.pending = this.pending.slice(n);
  }

  /** A data batch: true when it belongs to an aborted transaction (it may be discarded). */
  onBatchRead(header: RecordBatchHeader): boolean {
    const lastOffset = header.baseOffset + BigInt(header.lastOffsetDelta);
    this.consumeUpTo(lastOffset);
    if (!isTransactional(header)) return false;
    const aborted = this.ongoingAborted.get(header.producerId);
    if (aborted !== undefined) {
      aborted.lastObservedBatchOffset = lastOffset;
      return true;
    }
    this.ongoingCommitted.add(header.producerId);
    return false;
  }

  /**
   * A control batch: true when it may be discarded (no batch of its transaction was seen, or it is
   * empty). An ABORT marker that is kept puts its entry in `cleanedIndex`.
   */
  onControlBatchRead(header: RecordBatchHeader, content: ControlBatchContent, cleanedIndex?: AbortedTxn[]): boolean {
    this.consumeUpTo(header.baseOffset + BigInt(header.lastOffsetDelta));
    if (content.kind === 'empty') return true;
    if (content.kind === 'other') return false;
    const pid = header.producerId;
    if (content.result === 'ABORT') {
      const aborted = this.ongoingAborted.get(pid);
      this.ongoingAborted.delete(pid);
      // Keep the marker (and its entry) until every batch of the transaction is gone.
      if (aborted !== undefined && aborted.lastObservedBatchOffset !== undefined) {
        cleanedIndex?.push(aborted.txn);
        return false;
      }
      return true;
    }
    return !this.ongoingCommitted.delete(pid);
  }
}

/** What the transaction rules decided for one batch (Kafka's BatchRetention). */
interface BatchDecision {
  /** Remove every record (aborted data, or a marker past its delete horizon). */
  readonly discardRecords: boolean;
  /** Keep the batch even with no records left. */
  readonly retainEmpty: boolean;
  /** A marker with no data left behind it: it gets a delete horizon if it has none. */
  readonly markerForEmptyTxn: boolean;
}

interface CleanedBatch {
  readonly bytes: Uint8Array | undefined;
  /** Delete horizon of retained tombstones or markers in this batch, -1 when none. */
  readonly deleteHorizon: number;
  readonly maxTimestamp: number;
  readonly recordsRemoved: number;
  readonly tombstonesRemoved: number;
}

/** The batch's header fields for re-encoding it. */
function headerFields(header: RecordBatchHeader): Omit<Parameters<typeof encodeRecordBatch>[0], 'records'> {
  return {
    baseOffset: header.baseOffset,
    partitionLeaderEpoch: header.partitionLeaderEpoch,
    compression: compressionOf(header),
    timestampType: timestampTypeOf(header),
    isTransactional: isTransactional(header),
    isControl: isControlBatch(header),
    producerId: header.producerId,
    producerEpoch: header.producerEpoch,
    baseSequence: header.baseSequence,
    lastOffsetDelta: header.lastOffsetDelta,
  };
}

/**
 * Filters one batch: drops superseded records, expired tombstones, aborted data and expired
 * markers, and stamps a delete horizon on tombstones and on markers with no data left;
 * unchanged batches keep their bytes.
 */
function cleanBatch(bytes: Uint8Array, header: RecordBatchHeader, latest: ReadonlyMap<string, bigint>, now: number, deleteHorizon: number, decision: BatchDecision): CleanedBatch {
  if (decision.discardRecords) {
    const removed = header.recordsCount;
    if (!decision.retainEmpty) return { bytes: undefined, deleteHorizon: -1, maxTimestamp: header.maxTimestamp, recordsRemoved: removed, tombstonesRemoved: 0 };
    if (removed === 0) return { bytes, deleteHorizon: -1, maxTimestamp: header.maxTimestamp, recordsRemoved: 0, tombstonesRemoved: 0 };
    return { bytes: encodeRecordBatch({ ...headerFields(header), maxTimestamp: header.maxTimestamp, records: [] }), deleteHorizon: -1, maxTimestamp: header.maxTimestamp, recordsRemoved: removed, tombstonesRemoved: 0 };
  }
  if (isControlBatch(header)) {
    if (!decision.markerForEmptyTxn) return { bytes, deleteHorizon: -1, maxTimestamp: header.maxTimestamp, recordsRemoved: 0, tombstonesRemoved: 0 };
    if (hasDeleteHorizon(header)) return { bytes, deleteHorizon: header.baseTimestamp, maxTimestamp: header.maxTimestamp, recordsRemoved: 0, tombstonesRemoved: 0 };
    // First seen with no data behind it: keep it delete.retention.ms more, as a tombstone (KIP-534).
    const marker = decodeRecordBatch(bytes, 0, { verifyCrc: false });
    const records: RecordInput[] = marker.records.map((r) => ({ offsetDelta: r.offsetDelta, timestamp: r.timestamp, key: r.key, value: r.value, headers: r.headers }));
    const logAppendTime = timestampTypeOf(header) === 'LogAppendTime';
    const encoded = encodeRecordBatch({ ...headerFields(header), deleteHorizonMs: deleteHorizon, ...(logAppendTime ? { maxTimestamp: header.maxTimestamp } : {}), records });
    return { bytes: encoded, deleteHorizon, maxTimestamp: header.maxTimestamp, recordsRemoved: 0, tombstonesRemoved: 0 };
  }
  const keepEmpty = decision.retainEmpty;
  const batch = decodeRecordBatch(bytes, 0, { verifyCrc: false });
  const horizonPassed = hasDeleteHorizon(header) && header.baseTimestamp <= now;
  let tombstonesRemoved = 0;
  let hasTombstone = false;
  const kept = batch.records.filter((record) => {
    if (record.key !== null) {
      const newest = latest.get(keyOf(record.key));
      if (newest !== undefined && record.offset < newest) return false;
    }
    if (record.value === null) {
      if (horizonPassed) {
        tombstonesRemoved++;
        return false;
      }
      hasTombstone = true;
    }
    return true;
  });
  const recordsRemoved = batch.records.length - kept.length;
  const needsHorizon = hasTombstone && !hasDeleteHorizon(header);
  const horizon = !hasTombstone ? -1 : needsHorizon ? deleteHorizon : header.baseTimestamp;
  if (recordsRemoved === 0 && !needsHorizon) return { bytes, deleteHorizon: horizon, maxTimestamp: header.maxTimestamp, recordsRemoved, tombstonesRemoved };
  if (kept.length === 0 && !keepEmpty) return { bytes: undefined, deleteHorizon: -1, maxTimestamp: header.maxTimestamp, recordsRemoved, tombstonesRemoved };
  const logAppendTime = timestampTypeOf(header) === 'LogAppendTime';
  const encoded = encodeRecordBatch({
    ...headerFields(header),
    ...(needsHorizon ? { deleteHorizonMs: deleteHorizon } : hasDeleteHorizon(header) && kept.length > 0 ? { deleteHorizonMs: header.baseTimestamp } : {}),
    ...(logAppendTime || kept.length === 0 ? { maxTimestamp: header.maxTimestamp } : {}),
    records: kept.map((r) => ({ offsetDelta: r.offsetDelta, timestamp: r.timestamp, key: r.key, value: r.value, headers: r.headers })),
  });
  const maxTimestamp = logAppendTime || kept.length === 0 ? header.maxTimestamp : kept.reduce((m, r) => (r.timestamp > m ? r.timestamp : m), -1);
  return { bytes: encoded, deleteHorizon: horizon, maxTimestamp, recordsRemoved, tombstonesRemoved };
}

/** Groups consecutive segments so each group fits one segment's size, index and offset limits (as Kafka's groupSegmentsBySize). */
function groupSegments(segments: readonly LogSegment[], maxSize: number, maxIndexSize: number): LogSegment[][] {
  const groups: LogSegment[][] = [];
  let i = 0;
  while (i < segments.length) {
    const first = segments[i] as LogSegment;
    const group = [first];
    let logSize = first.size();
    let indexSize = first.offsetIndex.entries * 8;
    let timeIndexSize = first.timeIndex.entries * 12;
    i++;
    while (i < segments.length) {
      const next = segments[i] as LogSegment;
      if (logSize + next.size() > maxSize || indexSize + next.offsetIndex.entries * 8 > maxIndexSize || timeIndexSize + next.timeIndex.entries * 12 > maxIndexSize) break;
      if (next.nextOffset - 1n - first.baseOffset > 2147483647n) break;
      group.push(next);
      logSize += next.size();
      indexSize += next.offsetIndex.entries * 8;
      timeIndexSize += next.timeIndex.entries * 12;
      i++;
    }
    groups.push(group);
  }
  return groups;
}
