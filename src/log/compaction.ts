/**
 * Log compaction (`cleanup.policy=compact`), after Kafka's LogCleaner.
 *
 * Guarantees:
 * - At least the latest value of every key survives; offsets and order never change (a removed
 *   offset simply reads as the next one that exists).
 * - Tombstones (key, null value) survive at least `delete.retention.ms` after the cleaner first
 *   sees them (KIP-534 delete horizon, stored in the batch), then are removed.
 * - The active segment, anything at or above the bound (high watermark), and segments younger
 *   than `min.compaction.lag.ms` are never touched.
 * - Each batch keeps its base and last offset (and so its producer sequence range); a batch with
 *   nothing left is dropped unless it ends a cleaned group, where it stays as an empty batch.
 * - Crash-safe: cleaned segments are written as `.cleaned`, renamed `.swap`, and only then replace
 *   the originals; recovery finishes or discards an interrupted swap.
 */
import { decodeRecordBatch, encodeRecordBatch, hasDeleteHorizon, isControlBatch, compressionOf, timestampTypeOf, isTransactional, LOG_OVERHEAD } from './recordBatch.ts';
import type { RecordBatchHeader } from './recordBatch.ts';
import { writeOffsetCheckpoint, CLEANER_OFFSET_FILE } from './checkpoints.ts';
import type { PartitionLog } from './partitionLog.ts';
import { LogSegment } from './segment.ts';
import type { AppendedBatch } from './segment.ts';

/** Options of {@link cleanLog}. */
export interface CleanOptions {
  /** Exclusive bound the cleaner never reaches past: the high watermark (later the LSO). Default: log end. */
  readonly upperBoundOffset?: bigint;
  /** Clean even when the dirty ratio is below `min.cleanable.dirty.ratio`. */
  readonly force?: boolean;
  /** Keep a batch even when all its records are removed (producer state needs its sequence). */
  readonly retainEmptyBatch?: (header: RecordBatchHeader) => boolean;
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
export function cleanLog(log: PartitionLog, options: CleanOptions = {}): CleanResult {
  const config = log.config;
  const now = log.clock.now();
  const segments = log.segmentsForCleaning;
  const notCleaned = (reason: string, dirtyRatio = 0): CleanResult => ({ cleaned: false, reason, dirtyRatio, firstDirtyOffset: log.firstDirtyOffset, bytesBefore: 0, bytesAfter: 0, recordsRemoved: 0, tombstonesRemoved: 0 });
  if (!config.cleanupPolicy.includes('compact')) return notCleaned('cleanup.policy does not include compact');

  // Whole segments only: those ending at or below every bound.
  const active = segments[segments.length - 1] as LogSegment;
  let bound = options.upperBoundOffset ?? log.logEndOffset;
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

  // Latest offset per key over the dirty range.
  const latest = new Map<string, bigint>();
  for (let i = firstDirtyIndex; i < end; i++) {
    (segments[i] as LogSegment).scan(0, false, (header, _pos, bytes, at) => {
      if (isControlBatch(header) || header.baseOffset + BigInt(header.lastOffsetDelta) < log.firstDirtyOffset) return undefined;
      for (const record of decodeRecordBatch(bytes, at, { verifyCrc: false }).records) {
        if (record.key !== null && record.offset >= log.firstDirtyOffset) latest.set(keyOf(record.key), record.offset);
      }
      return undefined;
    });
  }

  // Recopy segments [0, end) in groups that fit one segment.
  const groups = groupSegments(segments.slice(0, end), config.segmentBytes, config.segmentIndexBytes);
  const deleteHorizon = now + config.deleteRetentionMs;
  let recordsRemoved = 0;
  let tombstonesRemoved = 0;
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
    const groupEnd = group[group.length - 1] as LogSegment;
    for (const segment of group) {
      bytesBefore += segment.size();
      const isLastOfGroup = segment === groupEnd;
      segment.scan(0, false, (header, _pos, bytes, at) => {
        const lastOffset = header.baseOffset + BigInt(header.lastOffsetDelta);
        const batchBytes = bytes.subarray(at, at + header.batchLength + LOG_OVERHEAD);
        const keepShell = (isLastOfGroup && lastOffset + 1n === segment.nextOffset) || (options.retainEmptyBatch?.(header) ?? false);
        const result = cleanBatch(batchBytes, header, latest, now, deleteHorizon, keepShell);
        recordsRemoved += result.recordsRemoved;
        tombstonesRemoved += result.tombstonesRemoved;
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
    // Swap in: .cleaned → .swap → replace originals → .log
    const swapPath = LogSegment.path(log.dir, base, 'log', '.swap');
    log.storage.rename(cleanedPath, swapPath);
    for (const segment of group) segment.delete();
    log.storage.rename(swapPath, LogSegment.path(log.dir, base, 'log'));
    replacements.push(LogSegment.adopt(log.storage, log.dir, base, log.segmentConfig(), now, written));
  }
  log.replaceSegments(0, end, replacements);
  log.firstDirtyOffset = endOffset;
  log.latestDeleteHorizon = pendingHorizon;
  writeOffsetCheckpoint(log.storage, `${log.dir}/${CLEANER_OFFSET_FILE}`, endOffset);
  return { cleaned: true, dirtyRatio, firstDirtyOffset: endOffset, bytesBefore, bytesAfter, recordsRemoved, tombstonesRemoved };
}

interface CleanedBatch {
  readonly bytes: Uint8Array | undefined;
  /** Delete horizon of retained tombstones in this batch, -1 when none. */
  readonly deleteHorizon: number;
  readonly maxTimestamp: number;
  readonly recordsRemoved: number;
  readonly tombstonesRemoved: number;
}

/** Filters one batch: drops superseded records and expired tombstones; unchanged batches keep their bytes. */
function cleanBatch(bytes: Uint8Array, header: RecordBatchHeader, latest: ReadonlyMap<string, bigint>, now: number, deleteHorizon: number, keepEmpty: boolean): CleanedBatch {
  if (isControlBatch(header)) return { bytes, deleteHorizon: -1, maxTimestamp: header.maxTimestamp, recordsRemoved: 0, tombstonesRemoved: 0 };
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
    baseOffset: header.baseOffset,
    partitionLeaderEpoch: header.partitionLeaderEpoch,
    compression: compressionOf(header),
    timestampType: timestampTypeOf(header),
    isTransactional: isTransactional(header),
    producerId: header.producerId,
    producerEpoch: header.producerEpoch,
    baseSequence: header.baseSequence,
    lastOffsetDelta: header.lastOffsetDelta,
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
