/**
 * Opening a partition log from disk (after Kafka's `LogLoader`): checking the directory is a
 * log's, finishing or discarding an interrupted cleaner swap, loading segments (recovering those
 * written after the last fsync), and rebuilding the leader epoch cache and the producer state.
 *
 * Guarantees:
 * - A directory holding files samsa did not write is refused before anything is touched.
 * - Batches after the recovery point are CRC-checked; a torn or corrupt tail, and every segment
 *   after the damage, is cut off and reported. Nothing before the damage is lost and nothing
 *   corrupt is served.
 * - Missing or damaged indexes are rebuilt; the `.txnindex` of a damaged or swapped segment is
 *   rebuilt from its markers.
 * - The leader epoch cache ends cut to the recovered log (entries at or past its end dropped,
 *   entries below its start collapsed onto it); the producer state equals a replay of the log.
 */
import { NotALogDirectoryError } from '../errors.ts';
import { readControlBatch } from '../record/controlRecords.ts';
import { isControlBatch, readBatchHeader, LOG_OVERHEAD, RECORD_BATCH_OVERHEAD } from '../record/recordBatch.ts';
import type { RecordBatchHeader } from '../record/recordBatch.ts';
import {
  CLEAN_SHUTDOWN_FILE,
  CLEANER_OFFSET_FILE,
  LEADER_EPOCH_CHECKPOINT_FILE,
  LOG_START_OFFSET_FILE,
  PARTITION_METADATA_FILE,
  RECOVERY_POINT_FILE,
  partitionMetadataValid,
  readLeaderEpochCheckpoint,
  readOffsetCheckpoint,
  writePartitionMetadata,
} from './checkpoints.ts';
import { SEGMENT_FILE } from './localLog.ts';
import type { LocalLog } from './localLog.ts';
import { KEY_VERSION_BASE_FILE } from './keyVersionLog.ts';
import { decodeProducerSnapshot } from './producerState.ts';
import type { MarkerFields } from './producerState.ts';
import { claimedRecords, storagePath } from './recoveryReport.ts';
import type { LogRecoveryReport } from './recoveryReport.ts';
import { LogSegment } from './segment.ts';
import { abortedTxnOf } from './transactionIndex.ts';
import type { TransactionIndex } from './transactionIndex.ts';

const KNOWN_FILES = new Set([KEY_VERSION_BASE_FILE, PARTITION_METADATA_FILE, RECOVERY_POINT_FILE, LOG_START_OFFSET_FILE, CLEANER_OFFSET_FILE, CLEAN_SHUTDOWN_FILE, LEADER_EPOCH_CHECKPOINT_FILE]);
const NO_SEGMENTS: ReadonlySet<LogSegment> = new Set();

/**
 * Loads the log in `log.dir` into the empty `log`, creating the directory when it does not exist.
 * Returns what recovery dropped, undefined when nothing.
 * @throws NotALogDirectoryError when the directory holds files samsa did not write; nothing is touched.
 */
export function loadLog(log: LocalLog): LogRecoveryReport | undefined {
  const { storage, dir } = log;
  const files = storage.list(dir);
  if (files.length === 0) {
    if (storage.exists(dir) && !storage.isDirectory(dir)) throw new NotALogDirectoryError(storagePath(storage, dir), 'it is a file');
    storage.mkdir(dir);
    writePartitionMetadata(storage, dir);
  } else {
    if (!files.includes(PARTITION_METADATA_FILE)) throw new NotALogDirectoryError(storagePath(storage, dir), `it has no ${PARTITION_METADATA_FILE} file`);
    if (!partitionMetadataValid(storage, dir)) throw new NotALogDirectoryError(storagePath(storage, dir), `its ${PARTITION_METADATA_FILE} was not written by samsa`);
    const unknown = files.find((f) => !SEGMENT_FILE.test(f) && !KNOWN_FILES.has(f) && !f.endsWith('.tmp'));
    if (unknown !== undefined) throw new NotALogDirectoryError(storagePath(storage, dir), `it contains the unexpected file "${unknown}"`);
  }

  // Leftovers of an interrupted cleaning or deletion.
  for (const f of files) if (f.endsWith('.cleaned') || f.endsWith('.deleted') || f.endsWith('.tmp')) storage.remove(`${dir}/${f}`);
  const swapped = completeSwaps(log, files.filter((f) => f.endsWith('.log.swap')));

  const cleanShutdown = storage.exists(`${dir}/${CLEAN_SHUTDOWN_FILE}`);
  const checkpointedRecovery = readOffsetCheckpoint(storage, `${dir}/${RECOVERY_POINT_FILE}`);
  const recoveryPoint = cleanShutdown ? checkpointedRecovery : (checkpointedRecovery ?? -1n);
  const bases = storage
    .list(dir)
    .map((f) => SEGMENT_FILE.exec(f))
    .filter((m): m is RegExpExecArray => m !== null && m[2] === 'log' && m[3] === undefined)
    .map((m) => BigInt(m[1] as string))
    .sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  const now = log.clock.now();
  const recovered = new Set<LogSegment>();
  const txnRebuild = new Set<LogSegment>();
  let dropped: { bytes: number; records: number; reason: string | undefined } = { bytes: 0, records: 0, reason: undefined };
  for (let i = 0; i < bases.length; i++) {
    const base = bases[i] as bigint;
    const nextBase = bases[i + 1];
    const recover = !cleanShutdown && (recoveryPoint === undefined || nextBase === undefined || nextBase > recoveryPoint);
    const { segment, truncatedBytes, truncatedRecords, problem, txnIndexNeedsRebuild } = LogSegment.load(storage, dir, base, log.segmentConfig(), now, recover);
    const overlaps = nextBase !== undefined && segment.nextOffset > nextBase;
    if (truncatedBytes > 0) dropped = { bytes: dropped.bytes + truncatedBytes, records: dropped.records + truncatedRecords, reason: dropped.reason ?? `segment ${base}: ${problem ?? 'invalid bytes at its end'}` };
    log.segments.push(segment);
    if (recover) recovered.add(segment);
    if (txnIndexNeedsRebuild || swapped.has(base)) txnRebuild.add(segment);
    if (truncatedBytes > 0 || overlaps) {
      // Damage in this segment: nothing after it can be trusted to follow on.
      if (overlaps) {
        const records = Number(segment.nextOffset - (nextBase as bigint));
        dropped = { bytes: dropped.bytes + segment.truncateTo(nextBase as bigint), records: dropped.records + records, reason: dropped.reason ?? `segment ${base} overlaps segment ${nextBase}` };
      }
      for (const later of bases.slice(i + 1)) {
        const bytes = storage.readFile(LogSegment.path(dir, later, 'log'));
        dropped = { bytes: dropped.bytes + bytes.length, records: dropped.records + claimedRecords(bytes), reason: dropped.reason };
        for (const ext of ['log', 'index', 'timeindex', 'txnindex'] as const) storage.remove(LogSegment.path(dir, later, ext));
      }
      break;
    }
  }
  const checkpointedStart = readOffsetCheckpoint(storage, `${dir}/${LOG_START_OFFSET_FILE}`) ?? 0n;
  if (log.segments.length === 0) {
    log.segments.push(LogSegment.create(storage, dir, checkpointedStart, log.segmentConfig(), now));
  }
  const firstBase = (log.segments[0] as LogSegment).baseOffset;
  log.startOffset = checkpointedStart > firstBase ? checkpointedStart : firstBase;
  if (log.startOffset > log.logEndOffset) {
    // The tail holding the log start was lost: everything below the start is deleted anyway.
    log.segments.forEach((s) => s.delete());
    log.segments = [LogSegment.create(storage, dir, log.startOffset, log.segmentConfig(), now)];
  }
  const end = log.logEndOffset;
  log.recoveryPointOffset = cleanShutdown ? end : recoveryPoint !== undefined && recoveryPoint > 0n ? (recoveryPoint < end ? recoveryPoint : end) : 0n;
  const dirty = readOffsetCheckpoint(storage, `${dir}/${CLEANER_OFFSET_FILE}`) ?? log.startOffset;
  log.firstDirtyOffset = dirty < log.startOffset ? log.startOffset : dirty > end ? end : dirty;
  loadLeaderEpochs(log, recovered);
  // Kafka rebuilds the .txnindex of every recovered segment; so does samsa for damaged ones.
  rebuildProducerState(log, new Set(log.segments.filter((s) => txnRebuild.has(s))));
  if (cleanShutdown) storage.remove(`${dir}/${CLEAN_SHUTDOWN_FILE}`);
  if (dropped.bytes > 0) return { path: storagePath(storage, dir), bytesDropped: dropped.bytes, recordsDropped: dropped.records, logEndOffset: log.logEndOffset, reason: dropped.reason ?? 'invalid bytes after the last valid batch' };
  return undefined;
}

/**
 * Rebuilds the producer state, open transactions included, from the newest valid snapshot at or
 * below the log end plus the batches after it (Kafka's `loadProducerState`; only control batches
 * are decoded, for their marker). Snapshots past the log end (after a truncation) and damaged
 * ones are deleted. The `.txnindex` of each segment in `rebuildTxnIndexes` is emptied and refilled
 * from its markers (Kafka's `LogSegment.recover`); that needs the state at the segment's base, so
 * the replay then starts from a snapshot at or below the first such segment.
 */
export function rebuildProducerState(log: LocalLog, rebuildTxnIndexes: ReadonlySet<LogSegment> = NO_SEGMENTS): void {
  const end = log.logEndOffset;
  let from = (log.segments[0] as LogSegment).baseOffset;
  let limit = end;
  for (const s of rebuildTxnIndexes) if (s.baseOffset < limit) limit = s.baseOffset;
  log.producers.clear();
  let snapshot: bigint | undefined;
  for (const offset of log.snapshotOffsets().reverse()) {
    if (offset > limit && offset <= end) continue; // valid, but past where the replay must start
    const decoded = offset > end || offset < from ? undefined : decodeProducerSnapshot(log.storage.readFile(log.snapshotPath(offset)));
    if (decoded === undefined) {
      log.removeSnapshot(offset);
      continue;
    }
    log.producers.load(decoded);
    from = offset;
    snapshot = offset;
    break;
  }
  for (const hook of log.batchHooks(false)) hook.rebuild(snapshot);
  for (const s of rebuildTxnIndexes) s.txnIndex.reset();
  for (const segment of log.segments) {
    if (segment.nextOffset <= from) continue;
    const index = rebuildTxnIndexes.has(segment) ? segment.txnIndex : undefined;
    segment.scan(0, false, (header, _position, bytes, at) => {
      if (header.producerId < 0n) return undefined;
      const last = header.baseOffset + BigInt(header.lastOffsetDelta);
      if (last >= from) replayBatch(log, header, last, bytes, at, index);
      return undefined;
    });
  }
  log.producers.onLogStartOffsetIncremented(log.startOffset);
}

/** Replays one stored batch of a producer into the producer state, adding its `.txnindex` entry to `index` when given. */
function replayBatch(log: LocalLog, header: RecordBatchHeader, lastOffset: bigint, bytes: Uint8Array, at: number, index: TransactionIndex | undefined): void {
  if (!isControlBatch(header)) {
    log.producers.update(header, header.baseOffset, lastOffset);
    return;
  }
  let marker: MarkerFields | undefined;
  try {
    const content = readControlBatch(bytes, at);
    if (content.kind === 'transactionMarker') marker = content;
  } catch {
    // Appends never store a malformed marker of a producer; whatever this is, it closes nothing.
  }
  if (marker === undefined) return;
  const completed = log.producers.update(header, header.baseOffset, lastOffset, marker);
  if (index !== undefined && completed !== undefined && completed.aborted) index.append(abortedTxnOf(completed));
}

/**
 * Loads the leader epoch checkpoint, replaying its entries through `assign` as Kafka does. When
 * the file is missing or invalid the cache is rebuilt from every batch header instead (each
 * batch assigns its `partitionLeaderEpoch` at its base offset, exactly as its append did).
 * With a loaded file, the batches of segments recovered after a crash still add any epoch newer
 * than the latest cached one (Kafka's LogSegment.recover). Then, in Kafka's LogLoader order,
 * entries at or past the recovered log end are dropped and entries below the log start collapse
 * onto it. The file is rewritten only when the result differs from what it held.
 */
function loadLeaderEpochs(log: LocalLog, recovered: ReadonlySet<LogSegment>): void {
  const epochs = log.epochs;
  const fromFile = readLeaderEpochCheckpoint(log.storage, `${log.dir}/${LEADER_EPOCH_CHECKPOINT_FILE}`);
  const replay = (segment: LogSegment, onlyNewer: boolean): void => {
    segment.scan(0, false, (header) => {
      const epoch = header.partitionLeaderEpoch;
      if (epoch >= 0 && (!onlyNewer || epoch > (epochs.latestEpoch() ?? -1))) epochs.assign(epoch, header.baseOffset);
      return undefined;
    });
  };
  if (fromFile === undefined) {
    for (const segment of log.segments) replay(segment, false);
  } else {
    for (const e of fromFile) epochs.assign(e.epoch, e.startOffset);
    for (const segment of log.segments) if (recovered.has(segment)) replay(segment, true);
  }
  epochs.truncateFromEnd(log.logEndOffset);
  epochs.truncateFromStart(log.startOffset);
  const entries = epochs.entries();
  const unchanged = fromFile !== undefined && fromFile.length === entries.length && fromFile.every((e, i) => e.epoch === entries[i]?.epoch && e.startOffset === entries[i]?.startOffset);
  log.epochCheckpointVersion = unchanged ? epochs.version : -1;
  log.persistLeaderEpochs();
}

/**
 * Finishes a cleaner swap interrupted by a crash: the `.swap` segment replaces every segment
 * whose base offset lies in its offset range, then takes its final name. Returns the base
 * offsets whose `.txnindex` must be rebuilt from the log: those of completed swaps and of any
 * `.txnindex.swap` left behind (which may predate or follow the log swap, so it is not trusted).
 */
function completeSwaps(log: LocalLog, swaps: string[]): Set<bigint> {
  const { storage, dir } = log;
  const rebuild = new Set<bigint>();
  for (const swap of swaps.sort()) {
    const base = BigInt(swap.slice(0, 20));
    const file = storage.open(`${dir}/${swap}`);
    let next = base;
    try {
      const size = file.size();
      let p = 0;
      while (p + RECORD_BATCH_OVERHEAD <= size) {
        const header = readBatchHeader(file.read(p, RECORD_BATCH_OVERHEAD), 0);
        next = header.baseOffset + BigInt(header.lastOffsetDelta) + 1n;
        p += header.batchLength + LOG_OVERHEAD;
      }
    } finally {
      file.close();
    }
    for (const f of storage.list(dir)) {
      const m = SEGMENT_FILE.exec(f);
      if (m === null || m[3] !== undefined) continue;
      const b = BigInt(m[1] as string);
      if (b >= base && b < next) storage.remove(`${dir}/${f}`);
    }
    for (const ext of ['index', 'timeindex'] as const) storage.remove(`${dir}/${swap.slice(0, 20)}.${ext}.swap`);
    storage.rename(`${dir}/${swap}`, `${dir}/${swap.slice(0, -'.swap'.length)}`);
    rebuild.add(base);
  }
  for (const f of storage.list(dir)) {
    if (!f.endsWith('.txnindex.swap')) continue;
    storage.remove(`${dir}/${f}`);
    rebuild.add(BigInt(f.slice(0, 20)));
  }
  return rebuild;
}
