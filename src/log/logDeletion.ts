/**
 * Removing data from either end of a partition log: retention and DeleteRecords at the start
 * (Kafka's `deleteOldSegments` and `maybeIncrementLogStartOffset`), follower truncation at the end
 * (`truncateTo`, `truncateFullyAndStartAt`).
 *
 * Guarantees:
 * - Only whole segments go from the start, oldest first, and only those whose successor starts at
 *   or below the high watermark; the log start offset only moves up and never changes an offset.
 * - Every move of the log start or end is followed by the leader epoch cache (and its
 *   checkpoint), the producer state, the cleaner's first dirty offset and the recovery point;
 *   producer snapshots that can no longer be replayed from are deleted.
 */
import { InvalidArgumentError, OffsetOutOfRangeError } from '../errors.ts';
import type { LocalLog } from './localLog.ts';
import { rebuildProducerState } from './logLoader.ts';
import { LogSegment } from './segment.ts';

/**
 * Removes every record at or after `offset` (see {@link PartitionLog.truncateTo}); a cut inside a
 * batch removes that whole batch. The leader epoch cache is cut at the resulting log end even
 * when no record is removed.
 */
export function truncateTo(log: LocalLog, offset: bigint): void {
  log.ensureWritable();
  if (offset >= log.logEndOffset) {
    // No data to cut, but the epoch cache is cut at the log end all the same, as Kafka does: a
    // replica elected leader that wrote nothing before losing leadership holds an epoch starting
    // at its log end that the new leader never had; kept, it would be this replica's last
    // fetched epoch, and every fetch would report a divergence that truncation never resolves.
    log.epochs.truncateFromEnd(log.logEndOffset);
    log.persistLeaderEpochs();
    return;
  }
  if (offset < log.startOffset) {
    truncateFullyAndStartAt(log, offset);
    return;
  }
  while (log.segments.length > 1 && (log.activeSegment.baseOffset > offset || (log.activeSegment.baseOffset === offset && offset > log.startOffset))) {
    (log.segments.pop() as LogSegment).delete();
  }
  log.activeSegment.truncateTo(offset);
  // A cut inside a batch removes the whole batch: the cache follows the actual log end.
  log.epochs.truncateFromEnd(log.logEndOffset);
  log.persistLeaderEpochs();
  rebuildProducerState(log);
  if (log.recoveryPointOffset > log.logEndOffset) log.recoveryPointOffset = log.logEndOffset;
  if (log.firstDirtyOffset > log.logEndOffset) log.firstDirtyOffset = log.logEndOffset;
}

/** Deletes everything and restarts the log empty at `offset` (log start = log end = offset). */
export function truncateFullyAndStartAt(log: LocalLog, offset: bigint): void {
  log.ensureWritable();
  if (offset < 0n) throw new InvalidArgumentError('offset', `expected an offset ≥ 0, got ${offset}`);
  for (const s of log.segments) s.delete();
  log.segments = [LogSegment.create(log.storage, log.dir, offset, log.segmentConfig(), log.clock.now())];
  log.startOffset = offset;
  log.recoveryPointOffset = offset;
  log.firstDirtyOffset = offset;
  log.epochs.clear();
  log.producers.clear();
  for (const hook of log.batchHooks(false)) hook.reset();
  for (const snapshot of log.snapshotOffsets()) log.removeSnapshot(snapshot);
  log.writeCheckpoints();
}

/**
 * DeleteRecords: moves the log start offset up to `offset` (never down) and deletes segments
 * entirely below it; returns the log start offset.
 * @throws OffsetOutOfRangeError when `offset` is above the log end offset or negative.
 */
export function deleteRecordsBefore(log: LocalLog, offset: bigint): bigint {
  log.ensureWritable();
  if (offset > log.logEndOffset || offset < 0n) throw new OffsetOutOfRangeError(offset, log.startOffset, log.logEndOffset, `log "${log.dir}"`);
  if (offset > log.startOffset) {
    for (const hook of log.batchHooks()) hook.beforeLogStartMove(offset);
    log.startOffset = offset;
    log.writeLogStartOffset();
    log.epochs.truncateFromStart(offset);
    log.persistLeaderEpochs();
    deleteSegmentsWhile(log, log.logEndOffset, (_segment, next) => next !== undefined && next.baseOffset <= log.startOffset);
    log.producers.onLogStartOffsetIncremented(log.startOffset);
    for (const hook of log.batchHooks()) hook.afterLogStartMove(log.startOffset);
  }
  return log.startOffset;
}

/**
 * Kafka's retention pass (see {@link PartitionLog.deleteOldSegments}): segments entirely before
 * the log start, then by `retention.bytes`, then by `retention.ms`. Returns how many were deleted.
 */
export function deleteOldSegments(log: LocalLog, highWatermark: bigint): number {
  log.ensureWritable();
  const config = log.config;
  let deleted = deleteSegmentsWhile(log, highWatermark, (_segment, next) => next !== undefined && next.baseOffset <= log.startOffset);
  if (!config.cleanupPolicy.includes('delete')) return deleted;
  if (config.retentionBytes >= 0) {
    let excess = log.sizeInBytes - config.retentionBytes;
    deleted += deleteSegmentsWhile(log, highWatermark, (segment) => {
      if (excess - segment.size() < 0) return false;
      excess -= segment.size();
      return true;
    });
  }
  if (config.retentionMs >= 0) {
    const now = log.clock.now();
    deleted += deleteSegmentsWhile(log, highWatermark, (segment) => now - (segment.maxTimestamp >= 0 ? segment.maxTimestamp : segment.createdMs) > config.retentionMs);
  }
  return deleted;
}

/**
 * Deletes the oldest segments while `predicate` holds and their successor starts at or below
 * `highWatermark`; rolls first when every segment goes. Moves the log start to the first
 * remaining segment when it is past it.
 */
function deleteSegmentsWhile(log: LocalLog, highWatermark: bigint, predicate: (segment: LogSegment, next: LogSegment | undefined) => boolean): number {
  let count = 0;
  for (let i = 0; i < log.segments.length; i++) {
    const segment = log.segments[i] as LogSegment;
    const next = log.segments[i + 1];
    const upperBound = next === undefined ? log.logEndOffset : next.baseOffset;
    if (next === undefined && segment.isEmpty) break;
    if (highWatermark < upperBound || !predicate(segment, next)) break;
    count++;
  }
  if (count === 0) return 0;
  if (count === log.segments.length) log.roll();
  // What the key index knows below the new start is kept before the segments holding it go.
  const newStart = (log.segments[count] as LogSegment).baseOffset;
  if (newStart > log.startOffset) for (const hook of log.batchHooks()) hook.beforeLogStartMove(newStart);
  const doomed = log.segments.splice(0, count);
  for (const s of doomed) s.delete();
  const first = log.segments[0] as LogSegment;
  if (first.baseOffset > log.startOffset) {
    log.startOffset = first.baseOffset;
    log.writeLogStartOffset();
    log.epochs.truncateFromStart(log.startOffset);
    log.persistLeaderEpochs();
    log.producers.onLogStartOffsetIncremented(log.startOffset);
    for (const hook of log.batchHooks()) hook.afterLogStartMove(log.startOffset);
  }
  // Snapshots of offsets whose segments are gone can never be replayed from.
  for (const snapshot of log.snapshotOffsets()) if (snapshot < first.baseOffset) log.removeSnapshot(snapshot);
  if (log.firstDirtyOffset < log.startOffset) log.firstDirtyOffset = log.startOffset;
  return count;
}
