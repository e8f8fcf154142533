/**
 * A Kafka partition log: an ordered list of segments with dense, monotonic offsets.
 *
 * Guarantees:
 * - `append` validates every batch (size, CRC-32C, record count) before touching anything, then
 *   assigns offsets and writes the bytes as they are: bad input never reaches storage.
 * - `read` returns whole batches exactly as stored, starting with the batch that holds the
 *   requested offset, never past the given upper bound (the high watermark, later the LSO).
 * - Reopening a directory recovers it: batches after the last fsync are CRC-checked, a torn or
 *   corrupt tail is cut off, missing or damaged indexes are rebuilt. Nothing before the damage
 *   is lost and nothing corrupt is served.
 * - Retention and compaction never delete the active segment's data in place, never move the log
 *   start offset past the given bound, and never change an offset.
 * - The leader epoch cache (Kafka's `leader-epoch-checkpoint`) follows every append, truncation
 *   and log start move, and is written (atomically) before the data of a new epoch, so the file
 *   never misses an epoch whose batches are on disk. On open it is loaded (or rebuilt from the
 *   batches' `partitionLeaderEpoch` when missing or damaged), then cut to the recovered log.
 * - Idempotent producers (see `producerState.ts`): a retried batch is answered with its original
 *   offsets and not appended again; a stale epoch or a sequence gap is refused before anything is
 *   written. The producer state follows every append (leader or follower), truncation and log
 *   start move, is snapshotted at every roll and on close, and is rebuilt on open from the newest
 *   valid snapshot plus the batches after it.
 * - Transactions (Kafka's `UnifiedLog` with `ProducerStateManager` and `TransactionIndex`): a
 *   producer's first transactional batch opens its transaction, its COMMIT or ABORT marker closes
 *   it, identically on the leader ({@link PartitionLog.appendTransactionMarker}), on followers and
 *   on replay. {@link PartitionLog.firstUnstableOffset} and {@link PartitionLog.lastStableOffset}
 *   follow the open transactions. Every ABORT marker that closes a transaction adds Kafka's
 *   AbortedTxn entry to its segment's `.txnindex`, so all replicas hold the same entries, which
 *   {@link PartitionLog.collectAbortedTransactions} serves to read_committed fetches. Truncation
 *   cuts the indexes and re-opens transactions whose marker was cut; recovery rebuilds the index of
 *   every recovered segment from its batches; retention deletes a segment's index with it.
 *
 * The class is thin: it composes the shared state (`localLog.ts`) with one module per job —
 * `logAppend.ts`, `logRead.ts`, `logDeletion.ts`, `logLoader.ts` and `compaction.ts` — behind
 * the public methods below.
 */
import type { Clock } from '../clock.ts';
import { SystemClock } from '../clock.ts';
import { InconsistentTopicIdError, InvalidArgumentError } from '../errors.ts';
import type { Random } from '../random.ts';
import { createRandom } from '../random.ts';
import { parseLogConfig } from '../topicConfig.ts';
import type { LogConfig } from '../topicConfig.ts';
import { readPartitionTopicId, writePartitionMetadata } from './checkpoints.ts';
import { cleanLog } from './compaction.ts';
import type { CleanOptions, CleanResult } from './compaction.ts';
import type { EpochEndOffset, LeaderEpochCacheView } from './leaderEpochCache.ts';
import { LocalLog } from './localLog.ts';
import { appendAsFollower, appendBatches, appendTransactionMarker } from './logAppend.ts';
import type { AppendOptions, LogAppendInfo, TransactionMarkerAppend } from './logAppend.ts';
import { deleteOldSegments, deleteRecordsBefore, truncateFullyAndStartAt, truncateTo } from './logDeletion.ts';
import { loadLog } from './logLoader.ts';
import { collectAbortedTransactions, offsetForTimestamp, readBatches, readBatchViews } from './logRead.ts';
import type { AbortedTransaction, ReadOptions, ReadResult, ReadViewsResult, TimestampAndOffset } from './logRead.ts';
import type { ProducerStateEntry } from './producerState.ts';
import type { LogRecoveryReport } from './recoveryReport.ts';
import type { Storage } from './storage/storage.ts';

// The types and constants of the log's methods, where their callers have always found them.
export type { AppendOrigin, AppendOptions, LogAppendInfo, TransactionMarkerAppend } from './logAppend.ts';
export type { AbortedTransaction, ReadOptions, ReadResult, ReadViewsResult, TimestampAndOffset } from './logRead.ts';
export { EARLIEST_TIMESTAMP, LATEST_TIMESTAMP, MAX_TIMESTAMP } from './logRead.ts';

/** Summary of one segment, for inspection and tests. */
export interface SegmentInfo {
  readonly baseOffset: bigint;
  readonly nextOffset: bigint;
  readonly sizeBytes: number;
  readonly maxTimestamp: number;
}

/** Options of {@link PartitionLog.open}. */
export interface PartitionLogOptions {
  /** Where the files live. */
  readonly storage: Storage;
  /** Directory of this partition inside the storage, e.g. `orders-0`. */
  readonly dir: string;
  /** A parsed config, or Kafka-key overrides (`{ 'segment.bytes': 1048576 }`) applied to the defaults. */
  readonly config?: LogConfig | Readonly<Record<string, unknown>>;
  /** Time source (default: the system clock). */
  readonly clock?: Pick<Clock, 'now'>;
  /** Randomness for `segment.jitter.ms` (default: seed 0). */
  readonly random?: Random;
  /**
   * The id of the log's topic, recorded in `partition.metadata` (Kafka's `topic_id`): a directory
   * recording another id belongs to a deleted topic of the same name and is never adopted.
   */
  readonly topicId?: string;
}

function isLogConfig(value: unknown): value is LogConfig {
  return typeof value === 'object' && value !== null && 'segmentBytes' in value && 'cleanupPolicy' in value;
}

/** A partition's log on one broker. See the module comment for its guarantees. */
export class PartitionLog {
  /** What recovery at open dropped (a torn or corrupt tail and what followed it); undefined when nothing. */
  recovery: LogRecoveryReport | undefined;
  /** Where the files live. */
  readonly storage: Storage;
  /** Directory of this partition inside the storage. */
  readonly dir: string;
  /** The log's time source. */
  readonly clock: Pick<Clock, 'now'>;

  private constructor(private readonly local: LocalLog) {
    this.storage = local.storage;
    this.dir = local.dir;
    this.clock = local.clock;
  }

  /**
   * Opens (or creates) the log in `dir`, recovering it after an unclean shutdown.
   * @throws NotALogDirectoryError when `dir` holds files samsa did not write; nothing is touched.
   * @throws InvalidConfigError for invalid config overrides.
   * @throws InconsistentTopicIdError when `dir` records another topic id than `options.topicId`; nothing is touched.
   */
  static open(options: PartitionLogOptions): PartitionLog {
    const config = isLogConfig(options.config) ? options.config : parseLogConfig(options.config ?? {});
    const { storage, dir, topicId } = options;
    const recorded = topicId === undefined ? undefined : readPartitionTopicId(storage, dir);
    if (topicId !== undefined && recorded !== undefined && recorded !== topicId) throw new InconsistentTopicIdError(`${storage.description}/${dir}`, topicId, recorded);
    const log = new PartitionLog(new LocalLog(storage, dir, config, options.clock ?? new SystemClock(), options.random ?? createRandom(0)));
    log.recovery = loadLog(log.local);
    // A log created before topic ids were recorded learns its id now, as Kafka writes a missing partition.metadata.
    if (topicId !== undefined && recorded === undefined) writePartitionMetadata(storage, dir, topicId);
    return log;
  }

  /** First offset the cleaner has not yet compacted (meaningful for compacted topics). */
  get firstDirtyOffset(): bigint {
    return this.local.firstDirtyOffset;
  }

  set firstDirtyOffset(offset: bigint) {
    this.local.firstDirtyOffset = offset;
  }

  /** Latest delete horizon of tombstones the cleaner kept, -1 when none: when it passes, the log is worth cleaning again. */
  get latestDeleteHorizon(): number {
    return this.local.latestDeleteHorizon;
  }

  set latestDeleteHorizon(horizon: number) {
    this.local.latestDeleteHorizon = horizon;
  }

  /** What the log knows of each idempotent producer that wrote to it, by producer id. */
  /**
   * A key's committed records below `below` (topics with `key.version.index.enable`): the version
   * they bring it to and the offsets of versions `from` (1-based) onward, at most `maxCount`,
   * forwards or backwards. Served from the key version index, without reading the log.
   * @throws InvalidArgumentError when the topic keeps no key versions.
   */
  readKey(key: Uint8Array, options: { from: bigint; maxCount: number; backwards?: boolean; below: bigint }): { version: bigint; firstVersion: bigint; offsets: bigint[] } {
    this.local.ensureOpen();
    this.local.batchHooks();
    const index = this.local.keyVersionHook?.index;
    if (index === undefined) throw new InvalidArgumentError('key', `log "${this.dir}" keeps no key versions; create its topic with key.version.index.enable=true`);
    return index.read(key, { from: options.from, maxCount: options.maxCount, backwards: options.backwards ?? false, below: options.below });
  }

  /** Keys and indexed records of the key version index (zeros when the topic keeps none), for memory accounting. */
  get keyVersionStats(): { keys: number; records: number } {
    const index = this.local.keyVersionHook?.index;
    return { keys: index?.size ?? 0, records: index?.indexedRecords ?? 0 };
  }

  get producerStates(): ReadonlyMap<bigint, ProducerStateEntry> {
    return this.local.producerStates;
  }

  /**
   * Forgets producers idle for `expirationMs` (`producer.id.expiration.ms`, default one day) by
   * their last batch's timestamp, as Kafka's periodic expiry does. Returns how many were removed.
   */
  removeExpiredProducers(expirationMs?: number): number {
    this.local.ensureOpen();
    return this.local.producers.removeExpired(this.clock.now(), expirationMs);
  }

  /**
   * Open transactions on this partition: producer id → offset of the transaction's first batch
   * (Kafka's `ongoingTxns`). A transaction opens with its producer's first transactional batch and
   * closes with its marker.
   */
  get ongoingTransactions(): ReadonlyMap<bigint, bigint> {
    return this.local.producers.ongoingTransactions;
  }

  /**
   * The smallest first offset of any open transaction (never below the log start, as Kafka's
   * `firstUnstableOffset`), undefined when no transaction is open.
   */
  get firstUnstableOffset(): bigint | undefined {
    return this.local.firstUnstableOffset;
  }

  /**
   * The last stable offset (LSO) for the given high watermark: min(highWatermark,
   * {@link firstUnstableOffset}). read_committed consumers read only below it.
   */
  lastStableOffset(highWatermark: bigint): bigint {
    const first = this.firstUnstableOffset;
    return first !== undefined && first < highWatermark ? first : highWatermark;
  }

  /**
   * The aborted transactions a read_committed fetch from `fetchOffset` must filter, up to
   * `upperBoundOffset` (exclusive; the end of what the fetch returns): those whose ABORT marker is
   * at or after `fetchOffset` and whose first offset is below `upperBoundOffset`, oldest marker
   * first. As Kafka's `UnifiedLog.collectAbortedTransactions` it reads the `.txnindex` of the
   * segment holding `fetchOffset` and of the following ones, stopping after the first entry whose
   * last stable offset reaches `upperBoundOffset` (no later marker can then close a transaction
   * overlapping the range).
   * @throws InvalidArgumentError when an offset is not a bigint.
   */
  collectAbortedTransactions(fetchOffset: bigint, upperBoundOffset: bigint): AbortedTransaction[] {
    return collectAbortedTransactions(this.local, fetchOffset, upperBoundOffset);
  }

  /** The log's configuration. */
  get config(): LogConfig {
    return this.local.config;
  }

  /** Replaces the configuration (takes effect for the next append, roll and cleanup). */
  updateConfig(config: LogConfig): void {
    this.local.config = config;
  }

  /** First offset still in the log. */
  get logStartOffset(): bigint {
    return this.local.startOffset;
  }

  /** Offset the next appended record will get. */
  get logEndOffset(): bigint {
    return this.local.logEndOffset;
  }

  /** Offset below which everything is fsynced. */
  get recoveryPoint(): bigint {
    return this.local.recoveryPointOffset;
  }

  /** Total bytes of all segments. */
  get sizeInBytes(): number {
    return this.local.sizeInBytes;
  }

  /**
   * The leader epoch cache, read-only: (epoch, start offset) entries for the epochs that have
   * data in this log (plus any assigned with {@link assignEpochStartOffset}), oldest first.
   */
  get leaderEpochCache(): LeaderEpochCacheView {
    return this.local.epochs;
  }

  /**
   * Kafka's OffsetsForLeaderEpoch answer for this replica: the largest epoch ≤ `epoch` and its
   * end offset (the next epoch's start offset, or the log end offset for the latest epoch); see
   * {@link LeaderEpochCacheView.endOffsetFor} for the edge cases. (-1, -1) when nothing is known.
   */
  endOffsetForEpoch(epoch: number): EpochEndOffset {
    this.local.ensureOpen();
    return this.local.epochs.endOffsetFor(epoch, this.logEndOffset);
  }

  /**
   * Records that `epoch` starts at `startOffset` before any batch of it is written, as Kafka's
   * `maybeAssignEpochStartOffset` when a replica becomes leader (start offset = its log end). The
   * cache rules of {@link LeaderEpochCache.assign} apply; the checkpoint is written when it changed.
   * @throws InvalidArgumentError when `epoch` is not an int32 ≥ 0 or `startOffset` not an int64 ≥ 0.
   */
  assignEpochStartOffset(epoch: number, startOffset: bigint): void {
    this.local.ensureWritable();
    this.local.epochs.assign(epoch, startOffset);
    this.local.persistLeaderEpochs();
  }

  /** Segments, oldest first. */
  segmentInfos(): SegmentInfo[] {
    return this.local.segments.map((s) => ({ baseOffset: s.baseOffset, nextOffset: s.nextOffset, sizeBytes: s.size(), maxTimestamp: s.maxTimestamp }));
  }

  /**
   * Appends one or more record batches laid end to end.
   *
   * Every batch is validated first (whole, CRC-32C, record count matches lastOffsetDelta, size ≤
   * `max.message.bytes`, keys present on compacted topics); only then are offsets assigned and
   * the bytes written. The caller's buffer is stamped in place (base offset, leader epoch, and the
   * broker time for LogAppendTime topics): the log takes ownership of it.
   *
   * @throws CorruptRecordError, RecordTooLargeError, InvalidRecordError — nothing was written.
   */
  append(records: Uint8Array, options: AppendOptions = {}): LogAppendInfo {
    return appendBatches(this.local, records, options, false);
  }

  /**
   * Appends a COMMIT or ABORT marker for a producer's transaction as the partition leader (Kafka's
   * WriteTxnMarkers → `appendAsLeader` with origin COORDINATOR): the control batch is stamped with
   * the next offset and `leaderEpoch` as {@link append} does. The producer's open transaction, if
   * any, closes; an ABORT that closes one adds its entry to the active segment's `.txnindex`. A
   * marker for a producer with no open transaction here is still written (Kafka writes markers to
   * every partition of the transaction) and takes over its epoch and coordinator epoch. Under
   * transaction version 2, a retry of the marker that ended the producer's last transaction here
   * (same epoch, no transaction open since) writes nothing and is answered as a duplicate at the
   * log end offset - 1.
   *
   * @throws KafkaProtocolError INVALID_PRODUCER_EPOCH when the marker's epoch is older than the
   *   producer's (a newer one, the transaction version 2 bump, is accepted and fences the old
   *   epoch); TRANSACTION_COORDINATOR_FENCED when its coordinator epoch is older than the
   *   producer's last marker's; InvalidArgumentError for fields out of range. Nothing is written then.
   */
  appendTransactionMarker(marker: TransactionMarkerAppend, options: { readonly leaderEpoch: number; readonly transactionVersion?: number }): LogAppendInfo {
    return appendTransactionMarker(this.local, marker, options);
  }

  /**
   * Appends batches fetched from the partition leader, as a follower does (Kafka's
   * `appendAsFollower`): the bytes are written exactly as received, with the offsets and
   * `partitionLeaderEpoch` the leader stamped, so every replica holds the same bytes at the same
   * offsets. Every batch is validated first (whole, CRC-32C); offsets must not go below the log
   * end. The leader epoch cache follows the batches' epochs; producer state, open transactions and
   * `.txnindex` entries follow the batches and markers exactly as on the leader.
   *
   * @throws CorruptRecordError, InvalidArgumentError (a batch below the log end: truncate first) —
   *   nothing was written.
   */
  appendAsFollower(records: Uint8Array | readonly Uint8Array[]): LogAppendInfo {
    return appendAsFollower(this.local, records);
  }

  /**
   * Reads whole batches from the one containing `fromOffset`, as one buffer the caller owns.
   * @throws OffsetOutOfRangeError when `fromOffset` is below the log start or above the log end.
   */
  read(fromOffset: bigint, options: ReadOptions = {}): ReadResult {
    return readBatches(this.local, fromOffset, options);
  }

  /**
   * The batches {@link read} returns, as runs of whole batches that are views of the stored bytes
   * (no copy; a fetch answer hands them on as they are). The runs never change, whatever the log
   * does afterwards, and must not be written to.
   * @throws OffsetOutOfRangeError when `fromOffset` is below the log start or above the log end.
   */
  readViews(fromOffset: bigint, options: ReadOptions = {}): ReadViewsResult {
    return readBatchViews(this.local, fromOffset, options);
  }

  /**
   * ListOffsets: {@link EARLIEST_TIMESTAMP} → log start, {@link LATEST_TIMESTAMP} → log end,
   * {@link MAX_TIMESTAMP} → the record with the largest timestamp, otherwise the first record
   * whose timestamp is ≥ `timestamp`. Undefined when no record qualifies.
   */
  offsetForTimestamp(timestamp: number): TimestampAndOffset | undefined {
    return offsetForTimestamp(this.local, timestamp);
  }

  /**
   * Removes every record at or after `offset` (a follower truncating to its leader). Like Kafka, a
   * cut inside a batch removes that whole batch, so the log end may end up below `offset`. The
   * leader epoch cache loses every epoch starting at or after the new log end, even when no
   * record is removed.
   */
  truncateTo(offset: bigint): void {
    truncateTo(this.local, offset);
  }

  /** Deletes everything and restarts the log empty at `offset` (log start = log end = offset). */
  truncateFullyAndStartAt(offset: bigint): void {
    truncateFullyAndStartAt(this.local, offset);
  }

  /**
   * DeleteRecords: moves the log start offset up to `offset` (never down) and deletes segments
   * entirely below it. `offset` must not exceed the log end (the partition layer bounds it by the HW).
   * @throws OffsetOutOfRangeError when `offset` is above the log end offset.
   */
  deleteRecordsBefore(offset: bigint): bigint {
    return deleteRecordsBefore(this.local, offset);
  }

  /**
   * Applies retention as Kafka's retention pass does: segments entirely before the log start
   * offset, then by `retention.bytes`, then by `retention.ms` (by segment max timestamp). Only
   * whole segments go, oldest first, and only those whose successor starts at or below
   * `highWatermark`; when every segment qualifies the active one is rolled first so it can go.
   * Returns the number of segments deleted.
   */
  deleteOldSegments(highWatermark: bigint = this.logEndOffset): number {
    return deleteOldSegments(this.local, highWatermark);
  }

  /**
   * Runs one compaction pass (see {@link cleanLog}); a no-op unless `cleanup.policy` includes
   * `compact` and the log is dirty enough. `upperBoundOffset` is the high watermark or the LSO;
   * the log's own {@link firstUnstableOffset} bounds the pass too.
   */
  clean(options: CleanOptions = {}): CleanResult {
    this.local.ensureWritable();
    return cleanLog(this.local, options);
  }

  /**
   * Starts a new active segment at the log end offset (or at `expectedNextOffset` when a
   * replicated batch starts past it). An empty active segment is re-based instead of rolled. The
   * old segment's indexes are finalized and its bytes fsynced in the background, as Kafka does.
   */
  roll(expectedNextOffset?: bigint): void {
    this.local.roll(expectedNextOffset);
  }

  /**
   * fsyncs everything appended so far (group commit: concurrent callers share fsyncs) and advances
   * the recovery point. Appends are never blocked while it runs.
   */
  flush(): Promise<void> {
    return this.local.flush();
  }

  /** Starts a background flush when `flush.ms` has elapsed since the last one. */
  flushIfDue(): void {
    this.local.maybeFlush(this.clock.now());
  }

  /**
   * Writes the recovery point, log start and cleaner checkpoints, and the leader epoch checkpoint
   * when it changed (the partition layer calls this periodically).
   */
  checkpoint(): void {
    this.local.ensureOpen();
    this.local.writeCheckpoints();
  }

  /**
   * Closes cleanly: waits for background fsyncs, fsyncs everything, writes indexes and
   * checkpoints and the clean-shutdown marker, so the next open skips recovery.
   */
  close(): Promise<void> {
    return this.local.close();
  }

  /**
   * Drops the log as a crashed process would: file handles are released, but nothing is flushed
   * or checkpointed. The next open runs recovery.
   */
  abandon(): void {
    this.local.abandon();
  }

  /** Deletes every file of this log and the directory itself. */
  deleteAll(): void {
    this.abandon();
    this.storage.removeDirectory(this.dir);
  }
}
