/**
 * The sparse time index of one segment: entries (timestamp, relative offset), 12 bytes each on
 * disk as Kafka writes them (int64 BE timestamp, int32 BE relative offset). Timestamps are the
 * running maximum, so entries never decrease and a floor lookup is a safe starting point.
 */

/** Bytes per entry in a `.timeindex` file. */
export const TIME_INDEX_ENTRY_SIZE = 12;

/** A Kafka-format sparse time index held in memory; the file is an append-only copy. */
export class TimeIndex {
  private timestamps: Float64Array;
  private offsets: Int32Array;
  private count = 0;
  /** Entries already written to the index file. */
  persistedCount = 0;

  /** `maxEntries` comes from `segment.index.bytes` / 12; a full index forces a segment roll. */
  constructor(readonly maxEntries: number) {
    const initial = Math.min(Math.max(maxEntries, 1), 64);
    this.timestamps = new Float64Array(initial);
    this.offsets = new Int32Array(initial);
  }

  /** Number of entries. */
  get entries(): number {
    return this.count;
  }

  /** True when no more entries fit. */
  get isFull(): boolean {
    return this.count >= this.maxEntries;
  }

  /** The last entry, or undefined when empty. */
  last(): { timestamp: number; relativeOffset: number } | undefined {
    if (this.count === 0) return undefined;
    return { timestamp: this.timestamps[this.count - 1] as number, relativeOffset: this.offsets[this.count - 1] as number };
  }

  /**
   * Adds an entry when `timestamp` is greater than the last one (as Kafka's `maybeAppend`);
   * `force` skips the full check, used when a segment becomes inactive.
   */
  maybeAppend(timestamp: number, relativeOffset: number, force = false): void {
    if (this.count > 0 && timestamp <= (this.timestamps[this.count - 1] as number)) return;
    if (this.count > 0 && relativeOffset < (this.offsets[this.count - 1] as number)) return;
    if (!force && this.isFull) return;
    if (this.count === this.timestamps.length) {
      const size = this.timestamps.length * 2;
      const t = new Float64Array(size);
      t.set(this.timestamps);
      const o = new Int32Array(size);
      o.set(this.offsets);
      this.timestamps = t;
      this.offsets = o;
    }
    this.timestamps[this.count] = timestamp;
    this.offsets[this.count] = relativeOffset;
    this.count++;
  }

  /** Relative offset to start a timestamp search from: the greatest entry with ts ≤ target, else 0. */
  lookup(timestamp: number): number {
    let lo = 0;
    let hi = this.count - 1;
    let found = -1;
    while (lo <= hi) {
      const mid = (lo + hi) >>> 1;
      if ((this.timestamps[mid] as number) <= timestamp) {
        found = mid;
        lo = mid + 1;
      } else hi = mid - 1;
    }
    return found < 0 ? 0 : (this.offsets[found] as number);
  }

  /** Drops entries whose offset is ≥ `relativeOffset`. */
  truncateToOffset(relativeOffset: number): void {
    while (this.count > 0 && (this.offsets[this.count - 1] as number) >= relativeOffset) this.count--;
    if (this.persistedCount > this.count) this.persistedCount = this.count;
  }

  /** Removes every entry. */
  clear(): void {
    this.count = 0;
    this.persistedCount = 0;
  }

  /** Kafka on-disk bytes of entries [from, entries). */
  encode(from = 0): Uint8Array {
    const out = new Uint8Array((this.count - from) * TIME_INDEX_ENTRY_SIZE);
    const view = new DataView(out.buffer);
    for (let i = from; i < this.count; i++) {
      view.setBigInt64((i - from) * 12, BigInt(this.timestamps[i] as number));
      view.setInt32((i - from) * 12 + 8, this.offsets[i] as number);
    }
    return out;
  }

  /**
   * Loads a time index file, or undefined when it fails the sanity check (partial entry,
   * decreasing timestamps or offsets, an offset past `maxRelativeOffset`).
   */
  static decode(bytes: Uint8Array, maxEntries: number, maxRelativeOffset: number): TimeIndex | undefined {
    if (bytes.length % TIME_INDEX_ENTRY_SIZE !== 0) return undefined;
    const n = bytes.length / TIME_INDEX_ENTRY_SIZE;
    const index = new TimeIndex(Math.max(maxEntries, n));
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    for (let i = 0; i < n; i++) {
      const ts = Number(view.getBigInt64(i * 12));
      const off = view.getInt32(i * 12 + 8);
      const last = index.last();
      if (off < 0 || off > maxRelativeOffset || (last !== undefined && (ts <= last.timestamp || off < last.relativeOffset))) return undefined;
      index.maybeAppend(ts, off, true);
    }
    index.persistedCount = n;
    return index;
  }
}
