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
 */
import type { Clock } from '../clock.ts';
import { claimedRecords, storagePath } from './recoveryReport.ts';
import type { LogRecoveryReport } from './recoveryReport.ts';
import { SystemClock } from '../clock.ts';
import {
  ClosedError,
  CorruptRecordError,
  InvalidArgumentError,
  InvalidRecordError,
  InconsistentTopicIdError,
  NotALogDirectoryError,
  OffsetOutOfRangeError,
  RecordTooLargeError,
} from '../errors.ts';
import type { Random } from '../random.ts';
import { createRandom } from '../random.ts';
import {
  CLEAN_SHUTDOWN_FILE,
  CLEANER_OFFSET_FILE,
  LEADER_EPOCH_CHECKPOINT_FILE,
  LOG_START_OFFSET_FILE,
  PARTITION_METADATA_FILE,
  RECOVERY_POINT_FILE,
  partitionMetadataValid,
  readPartitionTopicId,
  readLeaderEpochCheckpoint,
  readOffsetCheckpoint,
  writeLeaderEpochCheckpoint,
  writeOffsetCheckpoint,
  writePartitionMetadata,
} from './checkpoints.ts';
import { LeaderEpochCache } from './leaderEpochCache.ts';
import type { EpochEndOffset, LeaderEpochCacheView } from './leaderEpochCache.ts';
import { concatBytes } from '../record/bytes.ts';
import { compressionOf, decodeRecordBatch, encodeRecordBatch, isControlBatch, readBatchHeader, assertBatchValid, setLogAppendTime, stampBatch, LOG_OVERHEAD, RECORD_BATCH_OVERHEAD } from '../record/recordBatch.ts';
import type { RecordBatchHeader } from '../record/recordBatch.ts';
import { parseLogConfig } from '../topicConfig.ts';
import type { LogConfig } from '../topicConfig.ts';
import { cleanLog } from './compaction.ts';
import type { CleanOptions, CleanResult } from './compaction.ts';
import { LogSegment, STOP_SCAN } from './segment.ts';
import { decodeProducerSnapshot, encodeProducerSnapshot, ProducerStateManager } from './producerState.ts';
import type { CompletedTxn, MarkerFields, ProducerStateEntry, Tip } from './producerState.ts';
import { encodeTransactionMarker, readControlBatch } from '../record/controlRecords.ts';
import type { TransactionResult } from '../record/controlRecords.ts';
import type { AbortedTxn, TransactionIndex } from './transactionIndex.ts';
import type { AppendedBatch, SegmentConfig } from './segment.ts';
import type { Storage } from './storage/storage.ts';

/** Where a batch comes from; it decides which checks and stamping apply (as Kafka's AppendOrigin). */
export type AppendOrigin = 'client' | 'replication' | 'coordinator';

/** Options of {@link PartitionLog.append}. */
export interface AppendOptions {
  /** `client` (default): assign offsets, stamp the leader epoch, refuse control batches. */
  readonly origin?: AppendOrigin;
  /**
   * Leader epoch stamped into each batch (leader appends only) and assigned in the leader epoch
   * cache from the first offset of the append; a negative epoch is stamped but not cached. Default 0.
   * Replicated batches keep the epoch the leader stamped, and the cache follows that.
   */
  readonly leaderEpoch?: number;
  /**
   * Coordinator markers: the transaction version they are written under. With 2 (KIP-890) a marker
   * must carry a newer epoch than the producer's current one here, so a late or duplicated marker
   * of a finished transaction cannot end the next one, which runs at the bumped epoch.
   */
  readonly transactionVersion?: number;
}

/** What an append did. */
export interface LogAppendInfo {
  /** Offset of the first record appended. */
  readonly firstOffset: bigint;
  /** Offset of the last record appended. */
  readonly lastOffset: bigint;
  /** The broker time written into the batches for LogAppendTime topics, else -1. */
  readonly logAppendTime: number;
  /** Largest batch maxTimestamp among the appended batches. */
  readonly maxTimestamp: number;
  /** Number of batches appended. */
  readonly batchCount: number;
  /** Number of offsets consumed (records, counting ones compaction may later remove). */
  readonly recordCount: number;
  /** Log start offset after the append. */
  readonly logStartOffset: bigint;
  /** True when the batch was a producer's retry of one already in the log: nothing was appended. */
  readonly duplicate?: boolean;
}

/** A transaction marker for {@link PartitionLog.appendTransactionMarker} (Kafka's WriteTxnMarkers entry). */
export interface TransactionMarkerAppend {
  readonly producerId: bigint;
  /** The producer epoch the marker carries; with transaction version 2 already bumped (epoch + 1). */
  readonly producerEpoch: number;
  /** Epoch of the transaction coordinator writing it (its `__transaction_state` partition's leader epoch). */
  readonly coordinatorEpoch: number;
  readonly result: TransactionResult;
  /** The marker record's timestamp; default: the log's clock. */
  readonly timestamp?: number;
}

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

const SEGMENT_FILE = /^(\d{20})\.(log|index|timeindex|txnindex|snapshot)(\.cleaned|\.swap|\.deleted)?$/;
const KNOWN_FILES = new Set([PARTITION_METADATA_FILE, RECOVERY_POINT_FILE, LOG_START_OFFSET_FILE, CLEANER_OFFSET_FILE, CLEAN_SHUTDOWN_FILE, LEADER_EPOCH_CHECKPOINT_FILE]);

function isLogConfig(value: unknown): value is LogConfig {
  return typeof value === 'object' && value !== null && 'segmentBytes' in value && 'cleanupPolicy' in value;
}

const EMPTY = new Uint8Array(0);
const NO_SEGMENTS: ReadonlySet<LogSegment> = new Set();

function abortedTxnOf(completed: CompletedTxn): AbortedTxn {
  return { producerId: completed.producerId, firstOffset: completed.firstOffset, lastOffset: completed.lastOffset, lastStableOffset: completed.lastStableOffset };
}

/** A partition's log on one broker. See the module comment for its guarantees. */
export class PartitionLog {
  private segments: LogSegment[] = [];
  private closed = false;
  private startOffset = 0n;
  private recoveryPointOffset = 0n;
  private unflushedMessages = 0;
  private lastFlushMs: number;
  private failure: unknown;
  private readonly inFlight = new Set<Promise<void>>();
  private jitterMs = 0;
  private readonly epochs = new LeaderEpochCache();
  private readonly producers = new ProducerStateManager();
  /** {@link LeaderEpochCache.version} last written to the checkpoint file; -1 forces a write. */
  private epochCheckpointVersion = -1;
  /** What recovery at open dropped (a torn or corrupt tail and what followed it); undefined when nothing. */
  recovery: LogRecoveryReport | undefined;
  /** First offset the cleaner has not yet compacted (meaningful for compacted topics). */
  firstDirtyOffset = 0n;
  /** Latest delete horizon of tombstones the cleaner kept, -1 when none: when it passes, the log is worth cleaning again. */
  latestDeleteHorizon = -1;

  private constructor(
    readonly storage: Storage,
    readonly dir: string,
    private currentConfig: LogConfig,
    readonly clock: Pick<Clock, 'now'>,
    private readonly random: Random,
  ) {
    this.lastFlushMs = clock.now();
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
    const log = new PartitionLog(storage, dir, config, options.clock ?? new SystemClock(), options.random ?? createRandom(0));
    log.load();
    // A log created before topic ids were recorded learns its id now, as Kafka writes a missing partition.metadata.
    if (topicId !== undefined && recorded === undefined) writePartitionMetadata(storage, dir, topicId);
    return log;
  }

  /** What the log knows of each idempotent producer that wrote to it, by producer id. */
  get producerStates(): ReadonlyMap<bigint, ProducerStateEntry> {
    return this.producers.entries;
  }

  /**
   * Forgets producers idle for `expirationMs` (`producer.id.expiration.ms`, default one day) by
   * their last batch's timestamp, as Kafka's periodic expiry does. Returns how many were removed.
   */
  removeExpiredProducers(expirationMs?: number): number {
    this.ensureOpen();
    return this.producers.removeExpired(this.clock.now(), expirationMs);
  }

  /**
   * Open transactions on this partition: producer id → offset of the transaction's first batch
   * (Kafka's `ongoingTxns`). A transaction opens with its producer's first transactional batch and
   * closes with its marker.
   */
  get ongoingTransactions(): ReadonlyMap<bigint, bigint> {
    return this.producers.ongoingTransactions;
  }

  /**
   * The smallest first offset of any open transaction (never below the log start, as Kafka's
   * `firstUnstableOffset`), undefined when no transaction is open.
   */
  get firstUnstableOffset(): bigint | undefined {
    const first = this.producers.firstUnstableOffset;
    return first === undefined || first >= this.startOffset ? first : this.startOffset;
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
    this.ensureOpen();
    if (typeof fetchOffset !== 'bigint') throw new InvalidArgumentError('fetchOffset', `expected a bigint offset, got ${typeof fetchOffset}`);
    if (typeof upperBoundOffset !== 'bigint') throw new InvalidArgumentError('upperBoundOffset', `expected a bigint offset, got ${typeof upperBoundOffset}`);
    const out: AbortedTransaction[] = [];
    for (let i = this.segmentIndexFor(fetchOffset); i < this.segments.length; i++) {
      const result = (this.segments[i] as LogSegment).txnIndex.collectAbortedTxns(fetchOffset, upperBoundOffset);
      for (const txn of result.abortedTransactions) out.push({ producerId: txn.producerId, firstOffset: txn.firstOffset });
      if (result.isComplete) break;
    }
    return out;
  }

  /** The log's configuration. */
  get config(): LogConfig {
    return this.currentConfig;
  }

  /** Replaces the configuration (takes effect for the next append, roll and cleanup). */
  updateConfig(config: LogConfig): void {
    this.currentConfig = config;
  }

  /** First offset still in the log. */
  get logStartOffset(): bigint {
    return this.startOffset;
  }

  /** Offset the next appended record will get. */
  get logEndOffset(): bigint {
    return this.activeSegment.nextOffset;
  }

  /** Offset below which everything is fsynced. */
  get recoveryPoint(): bigint {
    return this.recoveryPointOffset;
  }

  /** Total bytes of all segments. */
  get sizeInBytes(): number {
    let total = 0;
    for (const s of this.segments) total += s.size();
    return total;
  }

  /**
   * The leader epoch cache, read-only: (epoch, start offset) entries for the epochs that have
   * data in this log (plus any assigned with {@link assignEpochStartOffset}), oldest first.
   */
  get leaderEpochCache(): LeaderEpochCacheView {
    return this.epochs;
  }

  /**
   * Kafka's OffsetsForLeaderEpoch answer for this replica: the largest epoch ≤ `epoch` and its
   * end offset (the next epoch's start offset, or the log end offset for the latest epoch); see
   * {@link LeaderEpochCacheView.endOffsetFor} for the edge cases. (-1, -1) when nothing is known.
   */
  endOffsetForEpoch(epoch: number): EpochEndOffset {
    this.ensureOpen();
    return this.epochs.endOffsetFor(epoch, this.logEndOffset);
  }

  /**
   * Records that `epoch` starts at `startOffset` before any batch of it is written, as Kafka's
   * `maybeAssignEpochStartOffset` when a replica becomes leader (start offset = its log end). The
   * cache rules of {@link LeaderEpochCache.assign} apply; the checkpoint is written when it changed.
   * @throws InvalidArgumentError when `epoch` is not an int32 ≥ 0 or `startOffset` not an int64 ≥ 0.
   */
  assignEpochStartOffset(epoch: number, startOffset: bigint): void {
    this.ensureWritable();
    this.epochs.assign(epoch, startOffset);
    this.persistLeaderEpochs();
  }

  /** Segments, oldest first. */
  segmentInfos(): SegmentInfo[] {
    return this.segments.map((s) => ({ baseOffset: s.baseOffset, nextOffset: s.nextOffset, sizeBytes: s.size(), maxTimestamp: s.maxTimestamp }));
  }

  private get activeSegment(): LogSegment {
    return this.segments[this.segments.length - 1] as LogSegment;
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
    return this.appendBatches(records, options, false);
  }

  /** {@link append}, skipping the CRC check of batches the caller has just checked (`crcChecked`). */
  private appendBatches(records: Uint8Array, options: AppendOptions, crcChecked: boolean): LogAppendInfo {
    this.ensureWritable();
    if (!(records instanceof Uint8Array)) throw new InvalidArgumentError('records', `expected a Uint8Array of record batches, got ${typeof records}`);
    if (records.length === 0) throw new InvalidArgumentError('records', 'no record batches to append');
    const origin = options.origin ?? 'client';
    const config = this.currentConfig;
    const compacted = config.cleanupPolicy.includes('compact');
    if (config.compressionType !== 'producer' && origin === 'client') records = this.recompress(records, config.compressionType === 'uncompressed' ? 'none' : config.compressionType);
    if (records.length > config.segmentBytes) throw new RecordTooLargeError(records.length, config.segmentBytes, 'segment.bytes');

    // Validate everything before any mutation.
    const headers: RecordBatchHeader[] = [];
    const positions: number[] = [];
    // Per-producer state within this append, and the markers of control batches by batch index:
    // allocated only when a producer's batch shows up, so plain appends pay nothing for them.
    let tips: Map<bigint, Tip> | undefined;
    let markers: (MarkerFields | undefined)[] | undefined;
    let p = 0;
    while (p < records.length) {
      if (records.length - p < RECORD_BATCH_OVERHEAD) throw new CorruptRecordError(`${records.length - p} trailing bytes are not a whole record batch`, p);
      const header = crcChecked ? readBatchHeader(records, p) : assertBatchValid(records, p);
      const size = header.batchLength + LOG_OVERHEAD;
      if (crcChecked && size > records.length - p) throw new CorruptRecordError(`batch of ${size} bytes is truncated: only ${records.length - p} bytes remain`, p);
      // The leader checked the size; a follower copies what it has (Kafka's ignoreRecordSize).
      if (size > config.maxMessageBytes && origin !== 'replication') throw new RecordTooLargeError(size, config.maxMessageBytes);
      if (origin === 'client') {
        if (isControlBatch(header)) throw new InvalidRecordError('clients may not write control batches; transaction markers are written by the transaction coordinator');
        if (header.recordsCount !== header.lastOffsetDelta + 1) throw new InvalidRecordError(`record count ${header.recordsCount} does not match lastOffsetDelta ${header.lastOffsetDelta} + 1`);
        if (compacted) this.assertKeyed(records, p);
        if (header.producerId >= 0n) {
          const duplicate = this.producers.check(header, (tips ??= new Map()), `log "${this.dir}"`);
          if (duplicate !== undefined) {
            // Kafka answers the first duplicate with its original offsets; a producer sends one
            // batch per partition per request, so a duplicate never shares an append.
            if (p !== 0 || size !== records.length) throw new InvalidRecordError(`a retried batch of producer ${header.producerId} (sequences ${duplicate.firstSeq}..${duplicate.lastSeq}) must be appended alone, not with other batches`);
            return { firstOffset: duplicate.firstOffset, lastOffset: duplicate.lastOffset, logAppendTime: -1, maxTimestamp: duplicate.timestamp, batchCount: 0, recordCount: 0, logStartOffset: this.startOffset, duplicate: true };
          }
        }
      } else if (origin === 'coordinator' && header.producerId >= 0n && !isControlBatch(header)) {
        // A coordinator's own write for a producer (a TxnOffsetCommit's offsets): Kafka checks its
        // epoch, so a fenced or delayed request of a finished transaction is refused.
        this.producers.checkEpoch(header, (tips ??= new Map()), `log "${this.dir}"`);
      } else if (header.producerId >= 0n && isControlBatch(header)) {
        // A transaction marker: the coordinator's is checked as Kafka's appendEndTxnMarker does; a
        // follower takes the leader's as it is (Kafka only logs a stale one on replication).
        const marker = this.markerOf(records, p, header, origin);
        if (marker !== undefined) {
          if (origin === 'coordinator') this.producers.checkMarker(header.producerId, header.producerEpoch, marker, (tips ??= new Map()), `log "${this.dir}"`, options.transactionVersion ?? 0);
          (markers ??= [])[headers.length] = marker;
        }
      }
      headers.push(header);
      positions.push(p);
      p += size;
    }

    // Assign offsets (or check the leader's), then write.
    const now = this.clock.now();
    const logAppendTime = config.messageTimestampType === 'LogAppendTime' && origin !== 'replication' ? now : -1;
    const batches: AppendedBatch[] = [];
    const leaderEpoch = options.leaderEpoch ?? 0;
    let next = this.logEndOffset;
    let maxTimestamp = -1;
    let recordCount = 0;
    for (let i = 0; i < headers.length; i++) {
      const header = headers[i] as RecordBatchHeader;
      const position = positions[i] as number;
      if (origin === 'replication') {
        if (header.baseOffset < next) throw new InvalidArgumentError('records', `replicated batch at offset ${header.baseOffset} is below the log end offset ${next}; truncate the follower first`);
        next = header.baseOffset;
      } else {
        stampBatch(records, position, next, leaderEpoch);
        if (logAppendTime >= 0) setLogAppendTime(records, position, logAppendTime);
      }
      const batchMax = logAppendTime >= 0 ? logAppendTime : header.maxTimestamp;
      const lastOffset = next + BigInt(header.lastOffsetDelta);
      batches.push({ position, size: header.batchLength + LOG_OVERHEAD, lastOffset, maxTimestamp: batchMax });
      if (batchMax > maxTimestamp) maxTimestamp = batchMax;
      recordCount += header.lastOffsetDelta + 1;
      next = lastOffset + 1n;
    }
    const firstOffset = origin === 'replication' ? (headers[0] as RecordBatchHeader).baseOffset : this.logEndOffset;
    const lastOffset = next - 1n;
    // As Kafka, the epoch cache (and its checkpoint) is updated before the data is written: the
    // file may run ahead of the log (cut back on open) but never misses an epoch that is on disk.
    for (let i = 0; i < headers.length; i++) {
      const header = headers[i] as RecordBatchHeader;
      const epoch = origin === 'replication' ? header.partitionLeaderEpoch : leaderEpoch;
      if (epoch >= 0) this.epochs.assign(epoch, (batches[i] as AppendedBatch).lastOffset - BigInt(header.lastOffsetDelta));
    }
    this.persistLeaderEpochs();
    this.maybeRoll(records.length, maxTimestamp, firstOffset, lastOffset, now);
    const segment = this.activeSegment;
    segment.append(records, batches);
    for (let i = 0; i < headers.length; i++) {
      const header = headers[i] as RecordBatchHeader;
      if (header.producerId < 0n) continue;
      const last = (batches[i] as AppendedBatch).lastOffset;
      const first = last - BigInt(header.lastOffsetDelta);
      if (!isControlBatch(header)) {
        this.producers.update(header, first, last);
        continue;
      }
      const marker = markers?.[i];
      if (marker === undefined) continue;
      // Batch by batch, as on replay: the entry's LSO is the one right after this marker.
      const completed = this.producers.update(header, first, last, marker);
      if (completed !== undefined && completed.aborted) segment.txnIndex.append(abortedTxnOf(completed));
    }
    this.unflushedMessages += recordCount;
    this.maybeFlush(now);
    return { firstOffset, lastOffset, logAppendTime, maxTimestamp, batchCount: batches.length, recordCount, logStartOffset: this.startOffset };
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
    this.ensureWritable();
    if (typeof marker !== 'object' || marker === null) throw new InvalidArgumentError('marker', 'expected { producerId, producerEpoch, coordinatorEpoch, result }');
    if ((options.transactionVersion ?? 0) >= 2 && this.producers.isMarkerRetry(marker.producerId, marker.producerEpoch, marker.coordinatorEpoch)) {
      // Answered as a duplicate, nothing written: its offset is the log end, so a leader that
      // waits for it to be replicated waits for the first attempt too, wherever that landed.
      const last = this.logEndOffset - 1n;
      return { firstOffset: last, lastOffset: last, logAppendTime: -1, maxTimestamp: -1, batchCount: 0, recordCount: 0, logStartOffset: this.startOffset, duplicate: true };
    }
    const bytes = encodeTransactionMarker({ producerId: marker.producerId, producerEpoch: marker.producerEpoch, coordinatorEpoch: marker.coordinatorEpoch, result: marker.result, timestamp: marker.timestamp ?? this.clock.now() });
    return this.append(bytes, { origin: 'coordinator', leaderEpoch: options.leaderEpoch, ...(options.transactionVersion === undefined ? {} : { transactionVersion: options.transactionVersion }) });
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
    const given = records instanceof Uint8Array ? [records] : records;
    const limit = this.currentConfig.segmentBytes;
    if (given.length === 1 && (given[0] as Uint8Array).length <= limit) return this.append(given[0] as Uint8Array, { origin: 'replication' });
    if (given.length === 0) throw new InvalidArgumentError('records', 'no record batches to append');
    // Runs of whole batches (a fetch answer's views of the leader's log) are written as they are,
    // split where one would not fit a segment; every batch is checked before the first is written,
    // so a bad batch writes nothing.
    const runs: Uint8Array[] = [];
    for (const run of given) {
      if (!(run instanceof Uint8Array)) throw new InvalidArgumentError('records', `expected Uint8Array runs of record batches, got ${typeof run}`);
      let start = 0;
      let p = 0;
      while (p < run.length) {
        if (run.length - p < RECORD_BATCH_OVERHEAD) throw new CorruptRecordError(`${run.length - p} trailing bytes are not a whole record batch`, p);
        const size = assertBatchValid(run, p).batchLength + LOG_OVERHEAD;
        if (p > start && p + size - start > limit) {
          runs.push(run.subarray(start, p));
          start = p;
        }
        p += size;
      }
      if (p > start) runs.push(start === 0 ? run : run.subarray(start));
    }
    const infos = runs.map((run) => this.appendBatches(run, { origin: 'replication' }, true));
    const first = infos[0] as LogAppendInfo;
    const last = infos[infos.length - 1] as LogAppendInfo;
    return {
      ...last,
      firstOffset: first.firstOffset,
      maxTimestamp: Math.max(...infos.map((i) => i.maxTimestamp)),
      batchCount: infos.reduce((n, i) => n + i.batchCount, 0),
      recordCount: infos.reduce((n, i) => n + i.recordCount, 0),
    };
  }

  /**
   * Reads whole batches from the one containing `fromOffset`, as one buffer the caller owns.
   * @throws OffsetOutOfRangeError when `fromOffset` is below the log start or above the log end.
   */
  read(fromOffset: bigint, options: ReadOptions = {}): ReadResult {
    const plan = this.planRead(fromOffset, options);
    const records = plan.segment?.read(fromOffset, plan.maxBytes, plan.bound, options.minOneBatch ?? true) ?? EMPTY;
    return { records, logStartOffset: this.startOffset, logEndOffset: plan.end };
  }

  /**
   * The batches {@link read} returns, as runs of whole batches that are views of the stored bytes
   * (no copy; a fetch answer hands them on as they are). The runs never change, whatever the log
   * does afterwards, and must not be written to.
   * @throws OffsetOutOfRangeError when `fromOffset` is below the log start or above the log end.
   */
  readViews(fromOffset: bigint, options: ReadOptions = {}): ReadViewsResult {
    const plan = this.planRead(fromOffset, options);
    const records = plan.segment?.readViews(fromOffset, plan.maxBytes, plan.bound, options.minOneBatch ?? true) ?? [];
    return { records, logStartOffset: this.startOffset, logEndOffset: plan.end };
  }

  /** Checks a read's arguments and finds the segment it starts in (none when nothing is below the bound). */
  private planRead(fromOffset: bigint, options: ReadOptions): { segment: LogSegment | undefined; maxBytes: number; bound: bigint; end: bigint } {
    this.ensureOpen();
    const end = this.logEndOffset;
    if (typeof fromOffset !== 'bigint') throw new InvalidArgumentError('fromOffset', `expected a bigint offset, got ${typeof fromOffset}`);
    if (fromOffset < this.startOffset || fromOffset > end) throw new OffsetOutOfRangeError(fromOffset, this.startOffset, end, `log "${this.dir}"`);
    const maxBytes = options.maxBytes ?? 1048576;
    if (!Number.isInteger(maxBytes) || maxBytes < 0) throw new InvalidArgumentError('maxBytes', `expected a non-negative integer, got ${maxBytes}`);
    const bound = options.maxOffset === undefined || options.maxOffset > end ? end : options.maxOffset;
    if (fromOffset < bound) {
      for (let i = this.segmentIndexFor(fromOffset); i < this.segments.length; i++) {
        const segment = this.segments[i] as LogSegment;
        if (segment.nextOffset > fromOffset) return { segment, maxBytes, bound, end };
      }
    }
    return { segment: undefined, maxBytes, bound, end };
  }

  /**
   * ListOffsets: {@link EARLIEST_TIMESTAMP} → log start, {@link LATEST_TIMESTAMP} → log end,
   * {@link MAX_TIMESTAMP} → the record with the largest timestamp, otherwise the first record
   * whose timestamp is ≥ `timestamp`. Undefined when no record qualifies.
   */
  offsetForTimestamp(timestamp: number): TimestampAndOffset | undefined {
    this.ensureOpen();
    if (timestamp === EARLIEST_TIMESTAMP) return { offset: this.startOffset, timestamp: -1 };
    if (timestamp === LATEST_TIMESTAMP) return { offset: this.logEndOffset, timestamp: -1 };
    if (timestamp === MAX_TIMESTAMP) return this.maxTimestampOffset();
    if (!Number.isFinite(timestamp) || timestamp < 0) throw new InvalidArgumentError('timestamp', `expected a timestamp ≥ 0 or one of -1 (latest), -2 (earliest), -3 (max timestamp), got ${timestamp}`);
    for (const segment of this.segments) {
      if (segment.maxTimestamp < timestamp) continue;
      const startOffset = this.maxBig(segment.baseOffset + BigInt(segment.timeIndex.lookup(timestamp)), this.startOffset);
      const found = segment.findBatch(startOffset);
      if (found === undefined) continue;
      let hit: TimestampAndOffset | undefined;
      segment.scan(found.position, false, (header, _position, bytes, at) => {
        if (header.maxTimestamp < timestamp) return undefined;
        for (const record of decodeRecordBatch(bytes, at).records) {
          if (record.timestamp >= timestamp && record.offset >= this.startOffset) {
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

  private maxTimestampOffset(): TimestampAndOffset | undefined {
    let best: LogSegment | undefined;
    for (const s of this.segments) if (s.maxTimestamp >= 0 && (best === undefined || s.maxTimestamp > best.maxTimestamp)) best = s;
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
   * Removes every record at or after `offset` (a follower truncating to its leader). Like Kafka, a
   * cut inside a batch removes that whole batch, so the log end may end up below `offset`. The
   * leader epoch cache loses every epoch starting at or after the new log end, even when no
   * record is removed.
   */
  truncateTo(offset: bigint): void {
    this.ensureWritable();
    if (offset >= this.logEndOffset) {
      // No data to cut, but the epoch cache is cut at the log end all the same, as Kafka does: a
      // replica elected leader that wrote nothing before losing leadership holds an epoch starting
      // at its log end that the new leader never had; kept, it would be this replica's last
      // fetched epoch, and every fetch would report a divergence that truncation never resolves.
      this.epochs.truncateFromEnd(this.logEndOffset);
      this.persistLeaderEpochs();
      return;
    }
    if (offset < this.startOffset) {
      this.truncateFullyAndStartAt(offset);
      return;
    }
    while (this.segments.length > 1 && (this.activeSegment.baseOffset > offset || (this.activeSegment.baseOffset === offset && offset > this.startOffset))) {
      (this.segments.pop() as LogSegment).delete();
    }
    this.activeSegment.truncateTo(offset);
    // A cut inside a batch removes the whole batch: the cache follows the actual log end.
    this.epochs.truncateFromEnd(this.logEndOffset);
    this.persistLeaderEpochs();
    this.rebuildProducerState();
    if (this.recoveryPointOffset > this.logEndOffset) this.recoveryPointOffset = this.logEndOffset;
    if (this.firstDirtyOffset > this.logEndOffset) this.firstDirtyOffset = this.logEndOffset;
  }

  /** Deletes everything and restarts the log empty at `offset` (log start = log end = offset). */
  truncateFullyAndStartAt(offset: bigint): void {
    this.ensureWritable();
    if (offset < 0n) throw new InvalidArgumentError('offset', `expected an offset ≥ 0, got ${offset}`);
    for (const s of this.segments) s.delete();
    this.segments = [LogSegment.create(this.storage, this.dir, offset, this.segmentConfig(), this.clock.now())];
    this.startOffset = offset;
    this.recoveryPointOffset = offset;
    this.firstDirtyOffset = offset;
    this.epochs.clear();
    this.producers.clear();
    for (const snapshot of this.snapshotOffsets()) this.storage.remove(this.snapshotPath(snapshot));
    this.writeCheckpoints();
  }

  /**
   * DeleteRecords: moves the log start offset up to `offset` (never down) and deletes segments
   * entirely below it. `offset` must not exceed the log end (the partition layer bounds it by the HW).
   * @throws OffsetOutOfRangeError when `offset` is above the log end offset.
   */
  deleteRecordsBefore(offset: bigint): bigint {
    this.ensureWritable();
    if (offset > this.logEndOffset || offset < 0n) throw new OffsetOutOfRangeError(offset, this.startOffset, this.logEndOffset, `log "${this.dir}"`);
    if (offset > this.startOffset) {
      this.startOffset = offset;
      writeOffsetCheckpoint(this.storage, `${this.dir}/${LOG_START_OFFSET_FILE}`, offset);
      this.epochs.truncateFromStart(offset);
      this.persistLeaderEpochs();
      this.deleteSegmentsWhile(this.logEndOffset, (_segment, next) => next !== undefined && next.baseOffset <= this.startOffset);
      this.producers.onLogStartOffsetIncremented(this.startOffset);
    }
    return this.startOffset;
  }

  /**
   * Applies retention as Kafka's retention pass does: segments entirely before the log start
   * offset, then by `retention.bytes`, then by `retention.ms` (by segment max timestamp). Only
   * whole segments go, oldest first, and only those whose successor starts at or below
   * `highWatermark`; when every segment qualifies the active one is rolled first so it can go.
   * Returns the number of segments deleted.
   */
  deleteOldSegments(highWatermark: bigint = this.logEndOffset): number {
    this.ensureWritable();
    const config = this.currentConfig;
    let deleted = this.deleteSegmentsWhile(highWatermark, (_segment, next) => next !== undefined && next.baseOffset <= this.startOffset);
    if (!config.cleanupPolicy.includes('delete')) return deleted;
    if (config.retentionBytes >= 0) {
      let excess = this.sizeInBytes - config.retentionBytes;
      deleted += this.deleteSegmentsWhile(highWatermark, (segment) => {
        if (excess - segment.size() < 0) return false;
        excess -= segment.size();
        return true;
      });
    }
    if (config.retentionMs >= 0) {
      const now = this.clock.now();
      deleted += this.deleteSegmentsWhile(highWatermark, (segment) => now - (segment.maxTimestamp >= 0 ? segment.maxTimestamp : segment.createdMs) > config.retentionMs);
    }
    return deleted;
  }

  private deleteSegmentsWhile(highWatermark: bigint, predicate: (segment: LogSegment, next: LogSegment | undefined) => boolean): number {
    let count = 0;
    for (let i = 0; i < this.segments.length; i++) {
      const segment = this.segments[i] as LogSegment;
      const next = this.segments[i + 1];
      const upperBound = next === undefined ? this.logEndOffset : next.baseOffset;
      if (next === undefined && segment.isEmpty) break;
      if (highWatermark < upperBound || !predicate(segment, next)) break;
      count++;
    }
    if (count === 0) return 0;
    if (count === this.segments.length) this.roll();
    const doomed = this.segments.splice(0, count);
    for (const s of doomed) s.delete();
    const first = this.segments[0] as LogSegment;
    if (first.baseOffset > this.startOffset) {
      this.startOffset = first.baseOffset;
      writeOffsetCheckpoint(this.storage, `${this.dir}/${LOG_START_OFFSET_FILE}`, this.startOffset);
      this.epochs.truncateFromStart(this.startOffset);
      this.persistLeaderEpochs();
      this.producers.onLogStartOffsetIncremented(this.startOffset);
    }
    // Snapshots of offsets whose segments are gone can never be replayed from.
    for (const snapshot of this.snapshotOffsets()) if (snapshot < first.baseOffset) this.storage.remove(this.snapshotPath(snapshot));
    if (this.firstDirtyOffset < this.startOffset) this.firstDirtyOffset = this.startOffset;
    return count;
  }

  /**
   * Runs one compaction pass (see {@link cleanLog}); a no-op unless `cleanup.policy` includes
   * `compact` and the log is dirty enough. `upperBoundOffset` is the high watermark or the LSO;
   * the log's own {@link firstUnstableOffset} bounds the pass too.
   */
  clean(options: CleanOptions = {}): CleanResult {
    this.ensureWritable();
    return cleanLog(this, options);
  }

  /**
   * Starts a new active segment at the log end offset (or at `expectedNextOffset` when a
   * replicated batch starts past it). An empty active segment is re-based instead of rolled. The
   * old segment's indexes are finalized and its bytes fsynced in the background, as Kafka does.
   */
  roll(expectedNextOffset?: bigint): void {
    this.ensureWritable();
    const old = this.activeSegment;
    const base = expectedNextOffset !== undefined && expectedNextOffset > old.nextOffset ? expectedNextOffset : old.nextOffset;
    const now = this.clock.now();
    this.jitterMs = this.currentConfig.segmentJitterMs > 0 ? this.random.int(this.currentConfig.segmentJitterMs) : 0;
    if (old.isEmpty) {
      if (base !== old.baseOffset) {
        old.delete();
        this.segments[this.segments.length - 1] = LogSegment.create(this.storage, this.dir, base, this.segmentConfig(), now);
      }
      return;
    }
    this.segments.push(LogSegment.create(this.storage, this.dir, base, this.segmentConfig(), now));
    // As Kafka, the producer state is snapshotted at every roll: a restart replays from here.
    this.writeProducerSnapshot(base);
    old.onBecomeInactive();
    const upTo = old.nextOffset;
    this.track(
      old.sync().then(() => {
        if (upTo > this.recoveryPointOffset) this.recoveryPointOffset = upTo;
      }),
    );
  }

  private maybeRoll(size: number, maxTimestamp: number, firstOffset: bigint, lastOffset: bigint, now: number): void {
    const segment = this.activeSegment;
    const config = this.currentConfig;
    const waited = segment.firstBatchTimestamp >= 0 ? maxTimestamp - segment.firstBatchTimestamp : now - segment.createdMs;
    const needsRoll =
      segment.size() > config.segmentBytes - size ||
      (segment.size() > 0 && waited > config.segmentMs - this.jitterMs) ||
      segment.offsetIndex.isFull ||
      segment.timeIndex.isFull ||
      !segment.canHoldOffset(lastOffset);
    if (needsRoll) this.roll(firstOffset);
  }

  /**
   * fsyncs everything appended so far (group commit: concurrent callers share fsyncs) and advances
   * the recovery point. Appends are never blocked while it runs.
   */
  async flush(): Promise<void> {
    this.ensureOpen();
    const upTo = this.logEndOffset;
    this.unflushedMessages = 0;
    this.lastFlushMs = this.clock.now();
    const pending: Promise<void>[] = [];
    this.persistLeaderEpochs();
    for (const s of this.segments) {
      s.persistIndexes();
      if (s.dirty) pending.push(s.sync());
    }
    await Promise.all(pending);
    if (upTo > this.recoveryPointOffset) this.recoveryPointOffset = upTo;
  }

  /** Starts a background flush when `flush.ms` has elapsed since the last one. */
  flushIfDue(): void {
    this.maybeFlush(this.clock.now());
  }

  private maybeFlush(now: number): void {
    const config = this.currentConfig;
    if (this.unflushedMessages >= config.flushMessages || now - this.lastFlushMs >= config.flushMs) this.track(this.flush());
  }

  private track(promise: Promise<void>): void {
    const tracked = promise.catch((e: unknown) => {
      if (!this.closed) this.failure = e;
    });
    this.inFlight.add(tracked);
    void tracked.finally(() => this.inFlight.delete(tracked));
  }

  /**
   * Writes the recovery point, log start and cleaner checkpoints, and the leader epoch checkpoint
   * when it changed (the partition layer calls this periodically).
   */
  checkpoint(): void {
    this.ensureOpen();
    this.writeCheckpoints();
  }

  private writeCheckpoints(): void {
    writeOffsetCheckpoint(this.storage, `${this.dir}/${RECOVERY_POINT_FILE}`, this.recoveryPointOffset);
    writeOffsetCheckpoint(this.storage, `${this.dir}/${LOG_START_OFFSET_FILE}`, this.startOffset);
    writeOffsetCheckpoint(this.storage, `${this.dir}/${CLEANER_OFFSET_FILE}`, this.firstDirtyOffset);
    this.persistLeaderEpochs();
  }

  /** Writes the leader epoch checkpoint when the cache changed since the last write. */
  private persistLeaderEpochs(): void {
    if (this.epochs.version === this.epochCheckpointVersion) return;
    writeLeaderEpochCheckpoint(this.storage, `${this.dir}/${LEADER_EPOCH_CHECKPOINT_FILE}`, this.epochs.entries());
    this.epochCheckpointVersion = this.epochs.version;
  }

  /**
   * Closes cleanly: waits for background fsyncs, fsyncs everything, writes indexes and
   * checkpoints and the clean-shutdown marker, so the next open skips recovery.
   */
  async close(): Promise<void> {
    if (this.closed) return;
    await Promise.all([...this.inFlight]);
    for (const s of this.segments) {
      s.persistIndexes();
      s.syncNow();
    }
    this.recoveryPointOffset = this.logEndOffset;
    this.writeCheckpoints();
    this.writeProducerSnapshot(this.logEndOffset);
    this.storage.writeFileAtomic(`${this.dir}/${CLEAN_SHUTDOWN_FILE}`, EMPTY);
    for (const s of this.segments) s.close();
    this.closed = true;
  }

  /**
   * Drops the log as a crashed process would: file handles are released, but nothing is flushed
   * or checkpointed. The next open runs recovery.
   */
  abandon(): void {
    if (this.closed) return;
    this.closed = true;
    for (const s of this.segments) s.close();
  }

  /** Deletes every file of this log and the directory itself. */
  deleteAll(): void {
    this.abandon();
    this.storage.removeDirectory(this.dir);
  }

  /** Segments, for the cleaner (internal to src/log). */
  /** @internal */
  get segmentsForCleaning(): readonly LogSegment[] {
    return this.segments;
  }

  /** @internal Replaces segments [from, to) by `replacement` (used by the cleaner after writing it). */
  replaceSegments(from: number, to: number, replacement: readonly LogSegment[]): void {
    this.segments.splice(from, to - from, ...replacement);
  }

  /** @internal */
  segmentConfig(): SegmentConfig {
    const c = this.currentConfig;
    return { indexIntervalBytes: c.indexIntervalBytes, segmentIndexBytes: c.segmentIndexBytes, contiguousOffsets: !c.cleanupPolicy.includes('compact') };
  }

  private segmentIndexFor(offset: bigint): number {
    let lo = 0;
    let hi = this.segments.length - 1;
    let found = 0;
    while (lo <= hi) {
      const mid = (lo + hi) >>> 1;
      if ((this.segments[mid] as LogSegment).baseOffset <= offset) {
        found = mid;
        lo = mid + 1;
      } else hi = mid - 1;
    }
    return found;
  }

  private maxBig(a: bigint, b: bigint): bigint {
    return a > b ? a : b;
  }

  private ensureOpen(): void {
    if (this.closed) throw new ClosedError(`partition log "${this.dir}"`);
  }

  private ensureWritable(): void {
    this.ensureOpen();
    if (this.failure !== undefined) throw this.failure;
  }

  /**
   * The marker of the control batch at `position`. A coordinator may only write transaction
   * markers; a follower copies other control records (and batches compaction emptied) without
   * treating them as markers.
   * @throws CorruptRecordError for a malformed control record; InvalidRecordError when the coordinator's batch holds no marker.
   */
  private markerOf(records: Uint8Array, position: number, header: RecordBatchHeader, origin: AppendOrigin): MarkerFields | undefined {
    const content = readControlBatch(records, position);
    if (content.kind === 'transactionMarker') return { result: content.result, coordinatorEpoch: content.coordinatorEpoch };
    if (origin === 'coordinator') {
      throw new InvalidRecordError(`control batch of producer ${header.producerId} for log "${this.dir}" holds ${content.kind === 'empty' ? 'no record' : `a ${content.type} control record (type ${content.typeId})`}, not a COMMIT or ABORT marker; only transaction markers may be written for a producer`);
    }
    return undefined;
  }

  /** Replays one stored batch of a producer into the producer state, adding its `.txnindex` entry to `index` when given. */
  private replayBatch(header: RecordBatchHeader, lastOffset: bigint, bytes: Uint8Array, at: number, index: TransactionIndex | undefined): void {
    if (!isControlBatch(header)) {
      this.producers.update(header, header.baseOffset, lastOffset);
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
    const completed = this.producers.update(header, header.baseOffset, lastOffset, marker);
    if (index !== undefined && completed !== undefined && completed.aborted) index.append(abortedTxnOf(completed));
  }

  private assertKeyed(records: Uint8Array, position: number): void {
    for (const record of decodeRecordBatch(records, position, { verifyCrc: false }).records) {
      if (record.key === null) throw new InvalidRecordError(`compacted topic log "${this.dir}" cannot accept a record without a key (offset delta ${record.offsetDelta}); give every record a key or change cleanup.policy`);
    }
  }

  private recompress(records: Uint8Array, codec: Exclude<LogConfig['compressionType'], 'producer' | 'uncompressed'> | 'none'): Uint8Array {
    const out: Uint8Array[] = [];
    let changed = false;
    let p = 0;
    while (p + RECORD_BATCH_OVERHEAD <= records.length) {
      const header = readBatchHeader(records, p);
      const size = header.batchLength + LOG_OVERHEAD;
      if (p + size > records.length) break;
      if (compressionOf(header) === codec || isControlBatch(header)) out.push(records.subarray(p, p + size));
      else {
        const batch = decodeRecordBatch(records, p);
        changed = true;
        out.push(
          encodeRecordBatch({
            compression: codec,
            timestampType: (header.attributes & 0x08) !== 0 ? 'LogAppendTime' : 'CreateTime',
            isTransactional: (header.attributes & 0x10) !== 0,
            producerId: header.producerId,
            producerEpoch: header.producerEpoch,
            baseSequence: header.baseSequence,
            lastOffsetDelta: header.lastOffsetDelta,
            records: batch.records.map((r) => ({ offsetDelta: r.offsetDelta, timestamp: r.timestamp, key: r.key, value: r.value, headers: r.headers })),
          }),
        );
      }
      p += size;
    }
    if (!changed || p !== records.length) return records;
    return concatBytes(out);
  }

  // ---------------------------------------------------------------- loading and recovery

  private load(): void {
    const { storage, dir } = this;
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
    const swapped = this.completeSwaps(files.filter((f) => f.endsWith('.log.swap')));

    const cleanShutdown = storage.exists(`${dir}/${CLEAN_SHUTDOWN_FILE}`);
    const checkpointedRecovery = readOffsetCheckpoint(storage, `${dir}/${RECOVERY_POINT_FILE}`);
    const recoveryPoint = cleanShutdown ? checkpointedRecovery : (checkpointedRecovery ?? -1n);
    const bases = storage
      .list(dir)
      .map((f) => SEGMENT_FILE.exec(f))
      .filter((m): m is RegExpExecArray => m !== null && m[2] === 'log' && m[3] === undefined)
      .map((m) => BigInt(m[1] as string))
      .sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
    const now = this.clock.now();
    const recovered = new Set<LogSegment>();
    const txnRebuild = new Set<LogSegment>();
    let dropped: { bytes: number; records: number; reason: string | undefined } = { bytes: 0, records: 0, reason: undefined };
    for (let i = 0; i < bases.length; i++) {
      const base = bases[i] as bigint;
      const nextBase = bases[i + 1];
      const recover = !cleanShutdown && (recoveryPoint === undefined || nextBase === undefined || nextBase > recoveryPoint);
      const { segment, truncatedBytes, truncatedRecords, problem, txnIndexNeedsRebuild } = LogSegment.load(storage, dir, base, this.segmentConfig(), now, recover);
      const overlaps = nextBase !== undefined && segment.nextOffset > nextBase;
      if (truncatedBytes > 0) dropped = { bytes: dropped.bytes + truncatedBytes, records: dropped.records + truncatedRecords, reason: dropped.reason ?? `segment ${base}: ${problem ?? 'invalid bytes at its end'}` };
      this.segments.push(segment);
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
    if (this.segments.length === 0) {
      this.segments.push(LogSegment.create(storage, dir, checkpointedStart, this.segmentConfig(), now));
    }
    const firstBase = (this.segments[0] as LogSegment).baseOffset;
    this.startOffset = checkpointedStart > firstBase ? checkpointedStart : firstBase;
    if (this.startOffset > this.logEndOffset) {
      // The tail holding the log start was lost: everything below the start is deleted anyway.
      this.segments.forEach((s) => s.delete());
      this.segments = [LogSegment.create(storage, dir, this.startOffset, this.segmentConfig(), now)];
    }
    const end = this.logEndOffset;
    this.recoveryPointOffset = cleanShutdown ? end : recoveryPoint !== undefined && recoveryPoint > 0n ? (recoveryPoint < end ? recoveryPoint : end) : 0n;
    const dirty = readOffsetCheckpoint(storage, `${dir}/${CLEANER_OFFSET_FILE}`) ?? this.startOffset;
    this.firstDirtyOffset = dirty < this.startOffset ? this.startOffset : dirty > end ? end : dirty;
    this.loadLeaderEpochs(recovered);
    // Kafka rebuilds the .txnindex of every recovered segment; so does samsa for damaged ones.
    this.rebuildProducerState(new Set(this.segments.filter((s) => txnRebuild.has(s))));
    if (cleanShutdown) storage.remove(`${dir}/${CLEAN_SHUTDOWN_FILE}`);
    if (dropped.bytes > 0) this.recovery = { path: storagePath(storage, dir), bytesDropped: dropped.bytes, recordsDropped: dropped.records, logEndOffset: this.logEndOffset, reason: dropped.reason ?? 'invalid bytes after the last valid batch' };
  }

  private snapshotPath(offset: bigint): string {
    return `${this.dir}/${offset.toString().padStart(20, '0')}.snapshot`;
  }

  /** Offsets of the producer snapshot files, ascending. */
  private snapshotOffsets(): bigint[] {
    return this.storage
      .list(this.dir)
      .map((f) => SEGMENT_FILE.exec(f))
      .filter((m): m is RegExpExecArray => m !== null && m[2] === 'snapshot' && m[3] === undefined)
      .map((m) => BigInt(m[1] as string))
      .sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  }

  private writeProducerSnapshot(offset: bigint): void {
    this.storage.writeFileAtomic(this.snapshotPath(offset), encodeProducerSnapshot(this.producers.entries.values()));
  }

  /**
   * Rebuilds the producer state, open transactions included, from the newest valid snapshot at or
   * below the log end plus the batches after it (Kafka's `loadProducerState`; only control batches
   * are decoded, for their marker). Snapshots past the log end (after a truncation) and damaged
   * ones are deleted. The `.txnindex` of each segment in `rebuildTxnIndexes` is emptied and refilled
   * from its markers (Kafka's `LogSegment.recover`); that needs the state at the segment's base, so
   * the replay then starts from a snapshot at or below the first such segment.
   */
  private rebuildProducerState(rebuildTxnIndexes: ReadonlySet<LogSegment> = NO_SEGMENTS): void {
    const end = this.logEndOffset;
    let from = (this.segments[0] as LogSegment).baseOffset;
    let limit = end;
    for (const s of rebuildTxnIndexes) if (s.baseOffset < limit) limit = s.baseOffset;
    this.producers.clear();
    for (const offset of this.snapshotOffsets().reverse()) {
      if (offset > limit && offset <= end) continue; // valid, but past where the replay must start
      const decoded = offset > end || offset < from ? undefined : decodeProducerSnapshot(this.storage.readFile(this.snapshotPath(offset)));
      if (decoded === undefined) {
        this.storage.remove(this.snapshotPath(offset));
        continue;
      }
      this.producers.load(decoded);
      from = offset;
      break;
    }
    for (const s of rebuildTxnIndexes) s.txnIndex.reset();
    for (const segment of this.segments) {
      if (segment.nextOffset <= from) continue;
      const index = rebuildTxnIndexes.has(segment) ? segment.txnIndex : undefined;
      segment.scan(0, false, (header, _position, bytes, at) => {
        if (header.producerId < 0n) return undefined;
        const last = header.baseOffset + BigInt(header.lastOffsetDelta);
        if (last >= from) this.replayBatch(header, last, bytes, at, index);
        return undefined;
      });
    }
    this.producers.onLogStartOffsetIncremented(this.startOffset);
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
  private loadLeaderEpochs(recovered: ReadonlySet<LogSegment>): void {
    const fromFile = readLeaderEpochCheckpoint(this.storage, `${this.dir}/${LEADER_EPOCH_CHECKPOINT_FILE}`);
    const replay = (segment: LogSegment, onlyNewer: boolean): void => {
      segment.scan(0, false, (header) => {
        const epoch = header.partitionLeaderEpoch;
        if (epoch >= 0 && (!onlyNewer || epoch > (this.epochs.latestEpoch() ?? -1))) this.epochs.assign(epoch, header.baseOffset);
        return undefined;
      });
    };
    if (fromFile === undefined) {
      for (const segment of this.segments) replay(segment, false);
    } else {
      for (const e of fromFile) this.epochs.assign(e.epoch, e.startOffset);
      for (const segment of this.segments) if (recovered.has(segment)) replay(segment, true);
    }
    this.epochs.truncateFromEnd(this.logEndOffset);
    this.epochs.truncateFromStart(this.startOffset);
    const entries = this.epochs.entries();
    const unchanged = fromFile !== undefined && fromFile.length === entries.length && fromFile.every((e, i) => e.epoch === entries[i]?.epoch && e.startOffset === entries[i]?.startOffset);
    this.epochCheckpointVersion = unchanged ? this.epochs.version : -1;
    this.persistLeaderEpochs();
  }

  /**
   * Finishes a cleaner swap interrupted by a crash: the `.swap` segment replaces every segment
   * whose base offset lies in its offset range, then takes its final name. Returns the base
   * offsets whose `.txnindex` must be rebuilt from the log: those of completed swaps and of any
   * `.txnindex.swap` left behind (which may predate or follow the log swap, so it is not trusted).
   */
  private completeSwaps(swaps: string[]): Set<bigint> {
    const { storage, dir } = this;
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
}
