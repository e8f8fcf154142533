/**
 * The leader epoch cache of one partition replica, as Kafka's `LeaderEpochFileCache` (KIP-101,
 * KIP-279): an ordered list of (leader epoch, start offset) entries, where the start offset is the
 * first offset written under that epoch. It answers OffsetsForLeaderEpoch (the end offset of an
 * epoch), which followers use to truncate a diverging log instead of trusting the high watermark.
 *
 * Guarantees (the invariant every method keeps):
 * - Epochs strictly increase along the list, and so do start offsets.
 * - Every epoch is an int32 ≥ 0 and every start offset an int64 ≥ 0.
 *
 * The cache is pure in-memory state: {@link PartitionLog} persists it in Kafka's
 * `leader-epoch-checkpoint` format (see `checkpoints.ts`) after every change, and rebuilds it from
 * the batches' `partitionLeaderEpoch` when the file is missing or damaged.
 */
import { InvalidArgumentError } from '../errors.ts';

/** The epoch of an OffsetsForLeaderEpoch answer that knows nothing (Kafka's UNDEFINED_EPOCH). */
export const UNDEFINED_EPOCH = -1;
/** The end offset of an OffsetsForLeaderEpoch answer that knows nothing (Kafka's UNDEFINED_EPOCH_OFFSET). */
export const UNDEFINED_EPOCH_OFFSET = -1n;

const INT32_MAX = 2147483647;
const INT64_MAX = 9223372036854775807n;

/** One cache entry: `epoch` started at `startOffset`. */
export interface EpochEntry {
  /** Leader epoch (int32 ≥ 0). */
  readonly epoch: number;
  /** First offset written under that epoch (int64 ≥ 0). */
  readonly startOffset: bigint;
}

/**
 * An OffsetsForLeaderEpoch answer: the largest known epoch ≤ the requested one and the offset
 * where it ends. Both are undefined ({@link UNDEFINED_EPOCH}, {@link UNDEFINED_EPOCH_OFFSET})
 * when the cache cannot answer.
 */
export interface EpochEndOffset {
  readonly epoch: number;
  readonly endOffset: bigint;
}

/** The answer that knows nothing: (-1, -1). Frozen, shared. */
export const UNDEFINED_EPOCH_END_OFFSET: EpochEndOffset = Object.freeze({ epoch: UNDEFINED_EPOCH, endOffset: UNDEFINED_EPOCH_OFFSET });

/**
 * The read side of a {@link LeaderEpochCache}: what {@link PartitionLog.leaderEpochCache} hands
 * out. None of these methods change the cache; every returned entry is immutable.
 */
export interface LeaderEpochCacheView {
  /** Number of entries. */
  readonly size: number;
  /** A copy of the entries, oldest epoch first. */
  entries(): EpochEntry[];
  /** The entry of the latest epoch, undefined when the cache is empty. */
  latestEntry(): EpochEntry | undefined;
  /** The latest epoch (the one still being written to), undefined when the cache is empty. */
  latestEpoch(): number | undefined;
  /** The entry of the oldest epoch still cached, undefined when the cache is empty. */
  earliestEntry(): EpochEntry | undefined;
  /**
   * Without an argument: the epoch before the latest one. With one: the largest cached epoch
   * strictly below `epoch`. Undefined when there is none.
   */
  previousEpoch(epoch?: number): number | undefined;
  /** The entry of the largest cached epoch strictly below `epoch`, undefined when there is none. */
  previousEntry(epoch: number): EpochEntry | undefined;
  /** The smallest cached epoch strictly above `epoch`, undefined when there is none. */
  nextEpoch(epoch: number): number | undefined;
  /** The entry for exactly `epoch`, undefined when it is not cached. */
  epochEntry(epoch: number): EpochEntry | undefined;
  /**
   * The epoch `offset` was written under: that of the last entry starting at or before it.
   * Undefined when `offset` is below the first entry's start (or the cache is empty).
   */
  epochForOffset(offset: bigint): number | undefined;
  /**
   * Kafka's OffsetsForLeaderEpoch answer for `requestedEpoch`, given the log end offset:
   * - a negative (undefined) epoch, an empty cache, or an epoch above the latest → (-1, -1);
   * - the latest epoch → (latest, `logEndOffset`);
   * - an epoch below the first cached one → (`requestedEpoch`, first entry's start offset): the
   *   data before it is gone, so the follower replicates from there;
   * - otherwise → (largest cached epoch ≤ requested, start offset of the next cached epoch).
   */
  endOffsetFor(requestedEpoch: number, logEndOffset: bigint): EpochEndOffset;
  /**
   * The entries covering offsets [`startOffset`, `endOffset`), as the cache would hold them after
   * `truncateFromStart(startOffset)` (skipped when `startOffset` < 0) and `truncateFromEnd(endOffset)`.
   */
  epochEntriesInRange(startOffset: bigint, endOffset: bigint): EpochEntry[];
}

/**
 * The mutable cache. See the module comment for its invariant; the read methods are documented on
 * {@link LeaderEpochCacheView}. Not thread-safe by design (single event loop); mutate it only
 * through {@link PartitionLog}, which persists every change.
 */
export class LeaderEpochCache implements LeaderEpochCacheView {
  private list: EpochEntry[] = [];
  private changes = 0;

  /**
   * A cache holding `entries` replayed through {@link assign}, in order, as Kafka builds its cache
   * from a checkpoint file: entries that break monotonicity are resolved exactly as a live
   * assign would resolve them.
   * @throws InvalidArgumentError when an entry has a negative or out-of-range epoch or offset.
   */
  static fromEntries(entries: Iterable<EpochEntry>): LeaderEpochCache {
    const cache = new LeaderEpochCache();
    for (const e of entries) cache.assign(e.epoch, e.startOffset);
    return cache;
  }

  /** Counts content changes: it moves exactly when the entries change, so callers can tell when to persist. */
  get version(): number {
    return this.changes;
  }

  get size(): number {
    return this.list.length;
  }

  entries(): EpochEntry[] {
    return this.list.slice();
  }

  latestEntry(): EpochEntry | undefined {
    return this.list[this.list.length - 1];
  }

  latestEpoch(): number | undefined {
    return this.latestEntry()?.epoch;
  }

  earliestEntry(): EpochEntry | undefined {
    return this.list[0];
  }

  previousEpoch(epoch?: number): number | undefined {
    if (epoch === undefined) return this.list.length >= 2 ? (this.list[this.list.length - 2] as EpochEntry).epoch : undefined;
    return this.previousEntry(epoch)?.epoch;
  }

  previousEntry(epoch: number): EpochEntry | undefined {
    checkEpochQuery(epoch);
    const i = this.floorIndex(epoch);
    const found = i >= 0 && (this.list[i] as EpochEntry).epoch === epoch ? i - 1 : i;
    return found >= 0 ? this.list[found] : undefined;
  }

  nextEpoch(epoch: number): number | undefined {
    checkEpochQuery(epoch);
    return this.list[this.floorIndex(epoch) + 1]?.epoch;
  }

  epochEntry(epoch: number): EpochEntry | undefined {
    checkEpochQuery(epoch);
    const found = this.list[this.floorIndex(epoch)];
    return found !== undefined && found.epoch === epoch ? found : undefined;
  }

  epochForOffset(offset: bigint): number | undefined {
    if (typeof offset !== 'bigint') throw new InvalidArgumentError('offset', `expected a bigint offset, got ${typeof offset}`);
    let epoch: number | undefined;
    for (const e of this.list) {
      if (e.startOffset > offset) break;
      epoch = e.epoch;
    }
    return epoch;
  }

  endOffsetFor(requestedEpoch: number, logEndOffset: bigint): EpochEndOffset {
    checkEpochQuery(requestedEpoch);
    if (typeof logEndOffset !== 'bigint') throw new InvalidArgumentError('logEndOffset', `expected a bigint offset, got ${typeof logEndOffset}`);
    if (requestedEpoch < 0) return UNDEFINED_EPOCH_END_OFFSET;
    const latest = this.latestEntry();
    if (latest === undefined) return UNDEFINED_EPOCH_END_OFFSET;
    // The latest epoch is still being written to: it ends at the log end.
    if (latest.epoch === requestedEpoch) return { epoch: requestedEpoch, endOffset: logEndOffset };
    const floor = this.floorIndex(requestedEpoch);
    const higher = this.list[floor + 1];
    // Above every known epoch: cannot happen for a consistent leader, answered as unknown.
    if (higher === undefined) return UNDEFINED_EPOCH_END_OFFSET;
    // Below every known epoch: the older data is gone; point the follower at the first epoch's start.
    if (floor < 0) return { epoch: requestedEpoch, endOffset: higher.startOffset };
    return { epoch: (this.list[floor] as EpochEntry).epoch, endOffset: higher.startOffset };
  }

  epochEntriesInRange(startOffset: bigint, endOffset: bigint): EpochEntry[] {
    const copy = LeaderEpochCache.fromTrusted(this.list);
    if (startOffset >= 0n) copy.truncateFromStart(startOffset);
    copy.truncateFromEnd(endOffset);
    return copy.entries();
  }

  /**
   * Records that `epoch` starts at `startOffset`, as Kafka's `assign`:
   * - a no-op (returns false) when `epoch` is the latest epoch and `startOffset` is not below its
   *   start: an epoch's start offset, once assigned, is never moved forward;
   * - otherwise every entry from the tail whose epoch is ≥ `epoch` or whose start offset is
   *   ≥ `startOffset` is removed (they conflict with the new entry: a lower epoch or an earlier
   *   start re-writes history), then the entry is appended. Returns true.
   * @throws InvalidArgumentError when `epoch` is not an int32 ≥ 0 or `startOffset` not an int64 ≥ 0.
   */
  assign(epoch: number, startOffset: bigint): boolean {
    if (!Number.isInteger(epoch) || epoch < 0 || epoch > INT32_MAX) throw new InvalidArgumentError('epoch', `a leader epoch must be an int32 ≥ 0, got ${String(epoch)}`);
    if (typeof startOffset !== 'bigint' || startOffset < 0n || startOffset > INT64_MAX) throw new InvalidArgumentError('startOffset', `an epoch start offset must be an int64 ≥ 0, got ${String(startOffset)}`);
    const latest = this.latestEntry();
    if (latest !== undefined && latest.epoch === epoch && startOffset >= latest.startOffset) return false;
    while (this.list.length > 0) {
      const last = this.list[this.list.length - 1] as EpochEntry;
      if (last.epoch < epoch && last.startOffset < startOffset) break;
      this.list.pop();
    }
    this.list.push(Object.freeze({ epoch, startOffset }));
    this.changes++;
    return true;
  }

  /**
   * Removes every entry whose start offset is ≥ `endOffset` (the log was truncated to end there),
   * as Kafka's `truncateFromEnd`. A negative `endOffset` (undefined) changes nothing. Returns
   * whether anything was removed.
   */
  truncateFromEnd(endOffset: bigint): boolean {
    if (typeof endOffset !== 'bigint') throw new InvalidArgumentError('endOffset', `expected a bigint offset, got ${typeof endOffset}`);
    if (endOffset < 0n) return false;
    const before = this.list.length;
    while (this.list.length > 0 && (this.list[this.list.length - 1] as EpochEntry).startOffset >= endOffset) this.list.pop();
    if (this.list.length === before) return false;
    this.changes++;
    return true;
  }

  /**
   * The log start moved up to `startOffset`, as Kafka's `truncateFromStart`: the entries starting
   * at or before it collapse into one, the latest of them, whose start becomes `startOffset`; later
   * entries are kept. So the first entry covers the new log start (an entry starting exactly at
   * `startOffset` is kept as is). A negative `startOffset` (undefined) changes nothing. Returns
   * whether the entries changed.
   */
  truncateFromStart(startOffset: bigint): boolean {
    if (typeof startOffset !== 'bigint') throw new InvalidArgumentError('startOffset', `expected a bigint offset, got ${typeof startOffset}`);
    let n = 0;
    while (n < this.list.length && (this.list[n] as EpochEntry).startOffset <= startOffset) n++;
    if (n === 0) return false;
    const kept = this.list[n - 1] as EpochEntry;
    if (n === 1 && kept.startOffset === startOffset) return false;
    this.list.splice(0, n, Object.freeze({ epoch: kept.epoch, startOffset }));
    this.changes++;
    return true;
  }

  /** Removes every entry (Kafka's `clear`); returns whether there was any. */
  clear(): boolean {
    if (this.list.length === 0) return false;
    this.list = [];
    this.changes++;
    return true;
  }

  /** True when `other` holds the same entries. */
  equals(other: LeaderEpochCacheView): boolean {
    const theirs = other.entries();
    return theirs.length === this.list.length && theirs.every((e, i) => e.epoch === this.list[i]?.epoch && e.startOffset === this.list[i]?.startOffset);
  }

  private static fromTrusted(entries: readonly EpochEntry[]): LeaderEpochCache {
    const cache = new LeaderEpochCache();
    cache.list = entries.slice();
    return cache;
  }

  /** Index of the entry with the largest epoch ≤ `epoch`, -1 when there is none. */
  private floorIndex(epoch: number): number {
    let lo = 0;
    let hi = this.list.length - 1;
    let found = -1;
    while (lo <= hi) {
      const mid = (lo + hi) >>> 1;
      if ((this.list[mid] as EpochEntry).epoch <= epoch) {
        found = mid;
        lo = mid + 1;
      } else hi = mid - 1;
    }
    return found;
  }
}

function checkEpochQuery(epoch: number): void {
  if (!Number.isInteger(epoch)) throw new InvalidArgumentError('epoch', `expected an integer leader epoch, got ${String(epoch)}`);
}
