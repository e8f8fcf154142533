/**
 * The sparse offset index of one segment: entries (relative offset, file position), 8 bytes each
 * on disk as Kafka writes them (int32 BE relative offset, int32 BE position). Entries point at the
 * start of a batch and carry that batch's last offset, so a lookup lands on or before the batch
 * that contains the target.
 */

/** Bytes per entry in a `.index` file. */
export const OFFSET_INDEX_ENTRY_SIZE = 8;

/** A Kafka-format sparse offset index held in memory; the file is an append-only copy. */
export class OffsetIndex {
  private offsets: Int32Array;
  private positions: Int32Array;
  private count = 0;
  /** Entries already written to the index file. */
  persistedCount = 0;

  /** `maxEntries` comes from `segment.index.bytes` / 8; a full index forces a segment roll. */
  constructor(readonly maxEntries: number) {
    const initial = Math.min(Math.max(maxEntries, 1), 64);
    this.offsets = new Int32Array(initial);
    this.positions = new Int32Array(initial);
  }

  /** Number of entries. */
  get entries(): number {
    return this.count;
  }

  /** True when no more entries fit. */
  get isFull(): boolean {
    return this.count >= this.maxEntries;
  }

  /** Relative offset of entry `i`. */
  offsetAt(i: number): number {
    return this.offsets[i] as number;
  }

  /** File position of entry `i`. */
  positionAt(i: number): number {
    return this.positions[i] as number;
  }

  /** Adds an entry; offsets and positions must strictly increase. */
  append(relativeOffset: number, position: number): void {
    if (this.count > 0 && (relativeOffset <= (this.offsets[this.count - 1] as number) || position <= (this.positions[this.count - 1] as number))) {
      throw new RangeError(`offset index entries must increase: (${relativeOffset}, ${position}) after (${this.offsets[this.count - 1]}, ${this.positions[this.count - 1]})`);
    }
    if (this.count === this.offsets.length) {
      const size = Math.min(this.offsets.length * 2, Math.max(this.maxEntries, 1));
      const o = new Int32Array(size);
      o.set(this.offsets);
      const p = new Int32Array(size);
      p.set(this.positions);
      this.offsets = o;
      this.positions = p;
    }
    this.offsets[this.count] = relativeOffset;
    this.positions[this.count] = position;
    this.count++;
  }

  /** File position to start scanning from for `relativeOffset`: the greatest entry ≤ it, else 0. */
  lookup(relativeOffset: number): number {
    let lo = 0;
    let hi = this.count - 1;
    let found = -1;
    while (lo <= hi) {
      const mid = (lo + hi) >>> 1;
      if ((this.offsets[mid] as number) <= relativeOffset) {
        found = mid;
        lo = mid + 1;
      } else hi = mid - 1;
    }
    return found < 0 ? 0 : (this.positions[found] as number);
  }

  /** Drops entries pointing at or past `position` (used when the log file is cut there). */
  truncateToPosition(position: number): void {
    while (this.count > 0 && (this.positions[this.count - 1] as number) >= position) this.count--;
    if (this.persistedCount > this.count) this.persistedCount = this.count;
  }

  /** Removes every entry. */
  clear(): void {
    this.count = 0;
    this.persistedCount = 0;
  }

  /** Kafka on-disk bytes of entries [from, entries). */
  encode(from = 0): Uint8Array {
    const out = new Uint8Array((this.count - from) * OFFSET_INDEX_ENTRY_SIZE);
    const view = new DataView(out.buffer);
    for (let i = from; i < this.count; i++) {
      view.setInt32((i - from) * 8, this.offsets[i] as number);
      view.setInt32((i - from) * 8 + 4, this.positions[i] as number);
    }
    return out;
  }

  /**
   * Loads an index file, or returns undefined when it fails the sanity check (size not a whole
   * number of entries, entries not strictly increasing, a position past the log's end): the
   * caller then rebuilds it from the log.
   */
  static decode(bytes: Uint8Array, maxEntries: number, logSize: number): OffsetIndex | undefined {
    if (bytes.length % OFFSET_INDEX_ENTRY_SIZE !== 0) return undefined;
    const n = bytes.length / OFFSET_INDEX_ENTRY_SIZE;
    if (n > maxEntries) return undefined;
    const index = new OffsetIndex(maxEntries);
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    let prevOffset = -1;
    let prevPosition = -1;
    for (let i = 0; i < n; i++) {
      const off = view.getInt32(i * 8);
      const pos = view.getInt32(i * 8 + 4);
      if (off <= prevOffset || pos <= prevPosition || pos >= logSize || off < 0) return undefined;
      index.append(off, pos);
      prevOffset = off;
      prevPosition = pos;
    }
    index.persistedCount = n;
    return index;
  }
}
