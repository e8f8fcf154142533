/**
 * The state every part of a partition log works on (after Kafka's `LocalLog`): the segment list,
 * the log start offset and recovery point, the leader epoch cache and producer state, and the
 * mechanics that keep them durable: rolling segments, group-commit flushes, checkpoints, producer
 * snapshots and close.
 *
 * Appending, reading, deletion and recovery live in their own modules as functions over a
 * `LocalLog`; {@link PartitionLog} composes them behind its public methods. A `LocalLog` checks
 * nothing about its callers' arguments: that is the job of those modules.
 *
 * Guarantees kept here:
 * - The leader epoch checkpoint is rewritten only when the cache changed since the last write, and
 *   before the data of a new epoch (the append path calls {@link LocalLog.persistLeaderEpochs}
 *   first).
 * - A roll snapshots the producer state at the new segment's base and fsyncs the old segment in
 *   the background; the recovery point only moves forward, and only past fsynced bytes.
 * - A failed background fsync is remembered and refused on every later write
 *   ({@link LocalLog.ensureWritable}), as Kafka takes a log directory offline.
 */
import type { Clock } from '../clock.ts';
import { ClosedError } from '../errors.ts';
import type { Random } from '../random.ts';
import type { LogConfig } from '../topicConfig.ts';
import {
  CLEAN_SHUTDOWN_FILE,
  CLEANER_OFFSET_FILE,
  LEADER_EPOCH_CHECKPOINT_FILE,
  LOG_START_OFFSET_FILE,
  RECOVERY_POINT_FILE,
  writeLeaderEpochCheckpoint,
  writeOffsetCheckpoint,
} from './checkpoints.ts';
import type { CleanableLog } from './compaction.ts';
import { LeaderEpochCache } from './leaderEpochCache.ts';
import type { BatchStateHook } from './batchStateHook.ts';
import { KeyVersionHook } from './keyVersionLog.ts';
import { encodeProducerSnapshot, ProducerStateManager } from './producerState.ts';
import type { ProducerStateEntry } from './producerState.ts';
import { LogSegment } from './segment.ts';
import type { SegmentConfig } from './segment.ts';
import type { Storage } from './storage/storage.ts';

/** Names of the files of a segment (and producer snapshots): base offset, extension, and an in-flight suffix. */
export const SEGMENT_FILE = /^(\d{20})\.(log|index|timeindex|txnindex|snapshot|keyversions)(\.cleaned|\.swap|\.deleted)?$/;

const EMPTY = new Uint8Array(0);

/** A partition log's shared state and its durability mechanics; see the module comment. */
export class LocalLog implements CleanableLog {
  /** Segments, oldest first; never empty once the log is loaded. The last one is the active segment. */
  segments: LogSegment[] = [];
  /** Set by close or abandon: every later call fails with ClosedError. */
  closed = false;
  /** First offset still in the log. */
  startOffset = 0n;
  /** Offset below which everything is fsynced. */
  recoveryPointOffset = 0n;
  /** First offset the cleaner has not yet compacted (meaningful for compacted topics). */
  firstDirtyOffset = 0n;
  /** Latest delete horizon of tombstones the cleaner kept, -1 when none. */
  latestDeleteHorizon = -1;
  readonly epochs = new LeaderEpochCache();
  readonly producers = new ProducerStateManager();
  /** The key version hook, on topics with `key.version.index.enable` (see {@link batchHooks}). */
  keyVersionHook: KeyVersionHook | undefined;
  /** Records appended since the last flush started (`flush.messages`). */
  unflushedMessages = 0;
  private lastFlushMs: number;
  /** The error of a failed background fsync; every later write is refused with it. */
  private failure: unknown;
  private readonly inFlight = new Set<Promise<void>>();
  /** `segment.jitter.ms` drawn for the active segment. */
  private jitterMs = 0;
  /** {@link LeaderEpochCache.version} last written to the checkpoint file; -1 forces a write. */
  epochCheckpointVersion = -1;

  constructor(
    readonly storage: Storage,
    readonly dir: string,
    public config: LogConfig,
    readonly clock: Pick<Clock, 'now'>,
    private readonly random: Random,
  ) {
    this.lastFlushMs = clock.now();
  }

  /** The segment appends go to. */
  get activeSegment(): LogSegment {
    return this.segments[this.segments.length - 1] as LogSegment;
  }

  /** Offset the next appended record will get. */
  get logEndOffset(): bigint {
    return this.activeSegment.nextOffset;
  }

  /** The smallest first offset of any open transaction, never below the log start; undefined when none is open. */
  get firstUnstableOffset(): bigint | undefined {
    const first = this.producers.firstUnstableOffset;
    return first === undefined || first >= this.startOffset ? first : this.startOffset;
  }

  /** What the log knows of each idempotent producer, by producer id. */
  get producerStates(): ReadonlyMap<bigint, ProducerStateEntry> {
    return this.producers.entries;
  }

  /** Total bytes of all segments. */
  get sizeInBytes(): number {
    let total = 0;
    for (const s of this.segments) total += s.size();
    return total;
  }

  /** @throws ClosedError once the log is closed or abandoned. */
  ensureOpen(): void {
    if (this.closed) throw new ClosedError(`partition log "${this.dir}"`);
  }

  /** @throws ClosedError once closed; the error of a failed background fsync after one. */
  ensureWritable(): void {
    this.ensureOpen();
    if (this.failure !== undefined) throw this.failure;
  }

  /** The sizing of new segments under the current config. */
  segmentConfig(): SegmentConfig {
    const c = this.config;
    return { indexIntervalBytes: c.indexIntervalBytes, segmentIndexBytes: c.segmentIndexBytes, contiguousOffsets: !c.cleanupPolicy.includes('compact') };
  }

  /** Index of the last segment whose base offset is ≤ `offset` (0 when none is). */
  segmentIndexFor(offset: bigint): number {
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

  /** Replaces segments [from, to) by `replacement` (the cleaner, after writing it). */
  replaceSegments(from: number, to: number, replacement: readonly LogSegment[]): void {
    this.segments.splice(from, to - from, ...replacement);
  }

  // ---------------------------------------------------------------- checkpoints and snapshots

  /** Writes the recovery point, log start and cleaner checkpoints, and the leader epoch checkpoint when it changed. */
  writeCheckpoints(): void {
    writeOffsetCheckpoint(this.storage, `${this.dir}/${RECOVERY_POINT_FILE}`, this.recoveryPointOffset);
    writeOffsetCheckpoint(this.storage, `${this.dir}/${LOG_START_OFFSET_FILE}`, this.startOffset);
    writeOffsetCheckpoint(this.storage, `${this.dir}/${CLEANER_OFFSET_FILE}`, this.firstDirtyOffset);
    this.persistLeaderEpochs();
  }

  /** Writes the log start offset checkpoint (after the start moved up). */
  writeLogStartOffset(): void {
    writeOffsetCheckpoint(this.storage, `${this.dir}/${LOG_START_OFFSET_FILE}`, this.startOffset);
  }

  /** Writes the leader epoch checkpoint when the cache changed since the last write. */
  persistLeaderEpochs(): void {
    if (this.epochs.version === this.epochCheckpointVersion) return;
    writeLeaderEpochCheckpoint(this.storage, `${this.dir}/${LEADER_EPOCH_CHECKPOINT_FILE}`, this.epochs.entries());
    this.epochCheckpointVersion = this.epochs.version;
  }

  /** Path of the producer snapshot taken at `offset`. */
  snapshotPath(offset: bigint): string {
    return `${this.dir}/${offset.toString().padStart(20, '0')}.snapshot`;
  }

  /** Offsets of the producer snapshot files, ascending. */
  snapshotOffsets(): bigint[] {
    return this.storage
      .list(this.dir)
      .map((f) => SEGMENT_FILE.exec(f))
      .filter((m): m is RegExpExecArray => m !== null && m[2] === 'snapshot' && m[3] === undefined)
      .map((m) => BigInt(m[1] as string))
      .sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  }

  /** Snapshots the producer state (and the key version index, when there is one) as of `offset`. */
  writeProducerSnapshot(offset: bigint): void {
    this.storage.writeFileAtomic(this.snapshotPath(offset), encodeProducerSnapshot(this.producers.entries.values()));
    for (const hook of this.batchHooks()) hook.writeSnapshot(offset);
  }

  /**
   * The states this log keeps beside its batches, besides the producer state (batchStateHook.ts):
   * what its config asks for now. A hook the config just turned on is built from the whole log,
   * unless `rebuildNew` is false (the loader rebuilds every hook itself).
   */
  batchHooks(rebuildNew = true): BatchStateHook[] {
    if (!this.config.keyVersionIndexEnable) {
      this.keyVersionHook = undefined;
      return [];
    }
    if (this.keyVersionHook === undefined) {
      this.keyVersionHook = new KeyVersionHook(this);
      if (rebuildNew) this.keyVersionHook.rebuild(undefined);
    }
    return [this.keyVersionHook];
  }

  /** Deletes the snapshots taken at `offset` (producer state and key versions). */
  removeSnapshot(offset: bigint): void {
    this.storage.remove(this.snapshotPath(offset));
    for (const hook of this.batchHooks()) hook.removeSnapshot(offset);
  }

  // ---------------------------------------------------------------- rolling and flushing

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
    this.jitterMs = this.config.segmentJitterMs > 0 ? this.random.int(this.config.segmentJitterMs) : 0;
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

  /** Rolls before an append of `size` bytes when the active segment is full, too old, or cannot index `lastOffset`. */
  maybeRoll(size: number, maxTimestamp: number, firstOffset: bigint, lastOffset: bigint, now: number): void {
    const segment = this.activeSegment;
    const config = this.config;
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

  /** Starts a background flush when `flush.messages` or `flush.ms` is reached. */
  maybeFlush(now: number): void {
    const config = this.config;
    if (this.unflushedMessages >= config.flushMessages || now - this.lastFlushMs >= config.flushMs) this.track(this.flush());
  }

  private track(promise: Promise<void>): void {
    const tracked = promise.catch((e: unknown) => {
      if (!this.closed) this.failure = e;
    });
    this.inFlight.add(tracked);
    void tracked.finally(() => this.inFlight.delete(tracked));
  }

  // ---------------------------------------------------------------- closing

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

  /** Releases file handles as a crashed process would: nothing is flushed or checkpointed. */
  abandon(): void {
    if (this.closed) return;
    this.closed = true;
    for (const s of this.segments) s.close();
  }
}
