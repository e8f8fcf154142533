/**
 * One log segment: `<20-digit base offset>.log` holding whole record batches back to back, with
 * its sparse `.index` and `.timeindex` and its aborted-transaction index `.txnindex`. Segments know
 * nothing about retention, replication or producers; {@link PartitionLog} orchestrates them (it
 * also decides the `.txnindex` entries, which depend on the producer state).
 */
import { CorruptRecordError } from '../errors.ts';
import { claimedRecords } from './recoveryReport.ts';
import { OffsetIndex, OFFSET_INDEX_ENTRY_SIZE } from './offsetIndex.ts';
import { assertBatchValid, readBatchHeader, RECORD_BATCH_OVERHEAD, LOG_OVERHEAD } from '../record/recordBatch.ts';
import type { RecordBatchHeader } from '../record/recordBatch.ts';
import type { Storage, StorageFile } from './storage/storage.ts';
import { TimeIndex, TIME_INDEX_ENTRY_SIZE } from './timeIndex.ts';
import { TransactionIndex } from './transactionIndex.ts';
import type { AbortedTxn } from './transactionIndex.ts';

/** File-name stem of a segment: the base offset zero-padded to 20 digits, as Kafka names it. */
export function segmentFileStem(baseOffset: bigint): string {
  return baseOffset.toString().padStart(20, '0');
}

/** Sizing knobs a segment needs, taken from the topic's log config. */
export interface SegmentConfig {
  /** `index.interval.bytes`: bytes of log between offset index entries. */
  readonly indexIntervalBytes: number;
  /** `segment.index.bytes`: the cap on each index file. */
  readonly segmentIndexBytes: number;
  /**
   * Whether batches must follow each other without offset gaps. True unless the topic is
   * compacted (compaction drops whole batches); recovery then treats a gap as corruption of the
   * base offset field, which the CRC does not cover.
   */
  readonly contiguousOffsets: boolean;
}

/** What the log knows about one batch it is appending. */
export interface AppendedBatch {
  /** Position of the batch inside the appended bytes. */
  readonly position: number;
  /** Total size of the batch in bytes. */
  readonly size: number;
  /** Offset of the batch's last record. */
  readonly lastOffset: bigint;
  /** Batch maxTimestamp (after LogAppendTime stamping). */
  readonly maxTimestamp: number;
}

/** Result of scanning a segment's bytes. */
export interface ScanResult {
  /** File position just after the last whole, valid batch. */
  readonly validBytes: number;
  /** Why scanning stopped early, or undefined when it reached the end cleanly. */
  readonly problem?: string;
}

const SCAN_CHUNK = 1 << 20;

/**
 * Called for each batch by {@link LogSegment.scan} with its header, file position, and the bytes
 * holding it (at `offsetInBytes`). Returning a string stops the scan and reports it as a problem;
 * returning {@link STOP_SCAN} stops it quietly.
 */
export type BatchVisitor = (header: RecordBatchHeader, position: number, bytes: Uint8Array, offsetInBytes: number) => string | undefined;

/** Visitor result that ends a scan without reporting a problem. */
export const STOP_SCAN = '\u0000stop';

/** `length` bytes starting at `at` in `views[v]` and running on into the next views, as one new buffer. */
function joined(views: readonly Uint8Array[], v: number, at: number, length: number): Uint8Array {
  const out = new Uint8Array(length);
  let done = 0;
  while (done < length) {
    const view = views[v++] as Uint8Array;
    const take = Math.min(view.length - at, length - done);
    out.set(view.subarray(at, at + take), done);
    done += take;
    at = 0;
  }
  return out;
}

/** The header of the batch starting at `at` in `views[v]`, joining the views when it straddles them. */
function headerIn(views: readonly Uint8Array[], v: number, at: number): RecordBatchHeader {
  const view = views[v] as Uint8Array;
  return view.length - at >= RECORD_BATCH_OVERHEAD ? readBatchHeader(view, at) : readBatchHeader(joined(views, v, at, RECORD_BATCH_OVERHEAD), 0);
}

/** One segment of a partition log. */
export class LogSegment {
  offsetIndex: OffsetIndex;
  timeIndex: TimeIndex;
  /** Offset after the last batch in this segment (= baseOffset when empty). */
  nextOffset: bigint;
  /** Largest batch maxTimestamp in the segment, -1 when it has none. */
  maxTimestamp = -1;
  /** Relative offset of the batch holding {@link maxTimestamp}. */
  offsetOfMaxTimestamp = -1;
  /** maxTimestamp of the first batch: the base for `segment.ms` rolling, as Kafka's rollingBasedTimestamp. */
  firstBatchTimestamp = -1;
  /** True when bytes were appended since the last fsync. */
  dirty = false;
  private bytesSinceLastIndexEntry = 0;

  private constructor(
    private readonly storage: Storage,
    readonly dir: string,
    readonly baseOffset: bigint,
    readonly log: StorageFile,
    private readonly config: SegmentConfig,
    /** Clock time the segment was created or loaded: the age fallback when no timestamp is known. */
    readonly createdMs: number,
    /** The segment's aborted transactions (`.txnindex`); the partition log appends to it. */
    readonly txnIndex: TransactionIndex,
  ) {
    this.offsetIndex = new OffsetIndex(Math.floor(config.segmentIndexBytes / OFFSET_INDEX_ENTRY_SIZE));
    this.timeIndex = new TimeIndex(Math.floor(config.segmentIndexBytes / TIME_INDEX_ENTRY_SIZE));
    this.nextOffset = baseOffset;
  }

  /** Path of `<stem>.log`, `.index`, `.timeindex` or `.txnindex` (with an optional suffix such as `.cleaned`). */
  static path(dir: string, baseOffset: bigint, ext: 'log' | 'index' | 'timeindex' | 'txnindex', suffix = ''): string {
    return `${dir}/${segmentFileStem(baseOffset)}.${ext}${suffix}`;
  }

  /** Creates an empty segment (its `.log` file is created empty, a stale `.txnindex` is removed). */
  static create(storage: Storage, dir: string, baseOffset: bigint, config: SegmentConfig, nowMs: number, suffix = ''): LogSegment {
    const file = storage.open(LogSegment.path(dir, baseOffset, 'log', suffix), { create: true });
    if (file.size() > 0) file.truncate(0);
    const txnIndex = TransactionIndex.create(storage, LogSegment.path(dir, baseOffset, 'txnindex', suffix), baseOffset);
    return new LogSegment(storage, dir, baseOffset, file, config, nowMs, txnIndex);
  }

  /**
   * Opens an existing segment. With `recover`, every batch is CRC-checked, a torn or corrupt tail
   * is cut off and both indexes are rebuilt; otherwise the indexes are loaded (and rebuilt only
   * when they fail the sanity check) and just the tail after the last index entry is scanned.
   *
   * The `.txnindex` is emptied when recovering and when it fails its sanity check; then
   * `txnIndexNeedsRebuild` is true and the caller (which knows the producer state) must refill it
   * from the batches. Otherwise entries whose marker lies past the recovered end are dropped.
   */
  static load(storage: Storage, dir: string, baseOffset: bigint, config: SegmentConfig, nowMs: number, recover: boolean): { segment: LogSegment; truncatedBytes: number; truncatedRecords: number; problem?: string; txnIndexNeedsRebuild: boolean } {
    const file = storage.open(LogSegment.path(dir, baseOffset, 'log'), { create: false });
    const txnPath = LogSegment.path(dir, baseOffset, 'txnindex');
    const loaded = recover ? undefined : TransactionIndex.load(storage, txnPath, baseOffset);
    const txnIndexNeedsRebuild = loaded === undefined || loaded.problem !== undefined;
    const txnIndex = loaded?.index ?? TransactionIndex.create(storage, txnPath, baseOffset);
    const segment = new LogSegment(storage, dir, baseOffset, file, config, nowMs, txnIndex);
    if (!recover && segment.loadIndexes()) {
      segment.completeFromIndexes();
      txnIndex.truncateTo(segment.nextOffset);
      return { segment, truncatedBytes: 0, truncatedRecords: 0, txnIndexNeedsRebuild };
    }
    const sizeBefore = file.size();
    const result = segment.rebuild(true);
    let truncatedRecords = 0;
    if (result.validBytes < sizeBefore) {
      // Counted before the cut, for the recovery report (what a person needs to judge the loss).
      truncatedRecords = claimedRecords(file.read(result.validBytes, sizeBefore - result.validBytes));
      file.truncate(result.validBytes);
    }
    segment.rewriteIndexFiles();
    txnIndex.truncateTo(segment.nextOffset);
    return { segment, truncatedBytes: sizeBefore - result.validBytes, truncatedRecords, txnIndexNeedsRebuild, ...(result.problem === undefined ? {} : { problem: result.problem }) };
  }

  /** Size of the `.log` file in bytes. */
  size(): number {
    return this.log.size();
  }

  /** True when the segment holds no batches. */
  get isEmpty(): boolean {
    return this.log.size() === 0;
  }

  /** The offset relative to this segment's base (fits an int32 by construction). */
  relative(offset: bigint): number {
    return Number(offset - this.baseOffset);
  }

  /** Whether `offset` can be stored relative to this segment's base in 32 bits. */
  canHoldOffset(offset: bigint): boolean {
    const rel = offset - this.baseOffset;
    return rel >= 0n && rel <= 2147483647n;
  }

  /**
   * Appends validated, stamped batches in one storage write and updates the indexes: an offset
   * index entry (batch last offset → batch start) whenever more than `index.interval.bytes` were
   * written since the previous entry, and a time index entry alongside it, as Kafka does.
   */
  append(bytes: Uint8Array, batches: readonly AppendedBatch[]): void {
    const start = this.log.append(bytes);
    this.indexBatches(start, batches);
    this.dirty = true;
  }

  /**
   * Opens a segment whose `.log` (and `.txnindex`, when `abortedTxns` is not empty) was just
   * written by the cleaner, indexing the batches it is told about instead of reading them back.
   */
  static adopt(storage: Storage, dir: string, baseOffset: bigint, config: SegmentConfig, nowMs: number, batches: readonly AppendedBatch[], abortedTxns: readonly AbortedTxn[] = []): LogSegment {
    const file = storage.open(LogSegment.path(dir, baseOffset, 'log'), { create: false });
    const txnIndex = TransactionIndex.of(storage, LogSegment.path(dir, baseOffset, 'txnindex'), baseOffset, abortedTxns);
    const segment = new LogSegment(storage, dir, baseOffset, file, config, nowMs, txnIndex);
    segment.indexBatches(0, batches);
    segment.onBecomeInactive();
    return segment;
  }

  private indexBatches(start: number, batches: readonly AppendedBatch[]): void {
    for (const batch of batches) {
      const rel = this.relative(batch.lastOffset);
      if (batch.maxTimestamp > this.maxTimestamp) {
        this.maxTimestamp = batch.maxTimestamp;
        this.offsetOfMaxTimestamp = rel;
      }
      if (start + batch.position === 0) this.firstBatchTimestamp = batch.maxTimestamp;
      if (this.bytesSinceLastIndexEntry > this.config.indexIntervalBytes) {
        this.offsetIndex.append(rel, start + batch.position);
        this.timeIndex.maybeAppend(this.maxTimestamp, this.offsetOfMaxTimestamp);
        this.bytesSinceLastIndexEntry = 0;
      }
      this.bytesSinceLastIndexEntry += batch.size;
      this.nextOffset = batch.lastOffset + 1n;
    }
  }

  /** Reads raw bytes of the `.log` file. */
  readBytes(position: number, length: number): Uint8Array {
    return this.log.read(position, length);
  }

  /**
   * Position and header of the first batch whose last offset is ≥ `offset`, or undefined when the
   * segment has none. Starts from the offset index and scans batch headers from there.
   */
  findBatch(offset: bigint): { position: number; header: RecordBatchHeader } | undefined {
    let position = this.offsetIndex.lookup(Math.max(0, this.relative(offset)));
    const end = this.log.size();
    const chunkSize = Math.max(this.config.indexIntervalBytes * 2, 8192);
    while (position < end) {
      // Views, not a copy: only headers are read here.
      const views = this.log.readViews(position, Math.min(chunkSize, end - position));
      let total = 0;
      for (const view of views) total += view.length;
      let p = 0;
      let v = 0;
      let at = 0;
      while (p + RECORD_BATCH_OVERHEAD <= total) {
        const header = headerIn(views, v, at);
        if (header.baseOffset + BigInt(header.lastOffsetDelta) >= offset) return { position: position + p, header };
        const size = header.batchLength + LOG_OVERHEAD;
        p += size;
        at += size;
        while (v < views.length && at >= (views[v] as Uint8Array).length) at -= (views[v++] as Uint8Array).length;
      }
      if (p === 0) {
        // A single header straddles the chunk end: read just it.
        const header = readBatchHeader(this.log.read(position, RECORD_BATCH_OVERHEAD), 0);
        if (header.baseOffset + BigInt(header.lastOffsetDelta) >= offset) return { position, header };
        p = header.batchLength + LOG_OVERHEAD;
      }
      position += p;
    }
    return undefined;
  }

  /**
   * Whole batches starting with the one that contains `offset`, up to `maxBytes` (at least one
   * batch when `minOneBatch`) and only batches whose last offset is below `maxOffset`. Returns the
   * bytes exactly as stored.
   */
  read(offset: bigint, maxBytes: number, maxOffset: bigint, minOneBatch: boolean): Uint8Array | undefined {
    const found = this.findBatch(offset);
    if (found === undefined) return undefined;
    const { position, header } = found;
    if (header.baseOffset + BigInt(header.lastOffsetDelta) >= maxOffset) return undefined;
    const firstSize = header.batchLength + LOG_OVERHEAD;
    const available = this.log.size() - position;
    const readLength = Math.min(available, Math.max(maxBytes, minOneBatch ? firstSize : 0));
    if (readLength < firstSize) return undefined;
    const bytes = this.log.read(position, readLength);
    let end = 0;
    while (end + RECORD_BATCH_OVERHEAD <= bytes.length) {
      const h = readBatchHeader(bytes, end);
      const size = h.batchLength + LOG_OVERHEAD;
      if (end + size > bytes.length || h.baseOffset + BigInt(h.lastOffsetDelta) >= maxOffset) break;
      end += size;
    }
    return end === bytes.length ? bytes : bytes.subarray(0, end);
  }

  /**
   * What {@link read} returns, as runs of whole batches laid end to end, each a view of the stored
   * bytes where the storage hands out views ({@link StorageFile.readViews}): no copy of the data,
   * except a batch that straddles two storage chunks, which is joined into one buffer. The runs
   * never change afterwards; `[]` when nothing qualifies.
   */
  readViews(offset: bigint, maxBytes: number, maxOffset: bigint, minOneBatch: boolean): Uint8Array[] {
    const found = this.findBatch(offset);
    if (found === undefined) return [];
    const { position, header } = found;
    if (header.baseOffset + BigInt(header.lastOffsetDelta) >= maxOffset) return [];
    const firstSize = header.batchLength + LOG_OVERHEAD;
    const available = this.log.size() - position;
    const readLength = Math.min(available, Math.max(maxBytes, minOneBatch ? firstSize : 0));
    if (readLength < firstSize) {
      // A first batch that runs past the end of its segment is damaged (appends are whole). Serve
      // the stored bytes as Kafka serves what it has: the reader's CRC check reports the damage
      // at this offset, rather than every fetch answering "nothing" and consumption stalling silently.
      return minOneBatch && available < firstSize ? this.log.readViews(position, available) : [];
    }
    const views = this.log.readViews(position, readLength);
    const runs: Uint8Array[] = [];
    let v = 0; // view holding the next batch's first byte
    let at = 0; // its position inside that view
    let runStart = 0; // start (in view v) of the run being grown there
    let remaining = readLength;
    while (remaining >= RECORD_BATCH_OVERHEAD) {
      const view = views[v] as Uint8Array;
      const h = headerIn(views, v, at);
      const size = h.batchLength + LOG_OVERHEAD;
      if (size > remaining || h.baseOffset + BigInt(h.lastOffsetDelta) >= maxOffset) break;
      remaining -= size;
      if (at + size <= view.length) {
        at += size;
        if (at === view.length) {
          runs.push(runStart === 0 ? view : view.subarray(runStart, at));
          v++;
          at = runStart = 0;
        }
        continue;
      }
      // The batch straddles views: close the run before it, join the batch, go on after it.
      if (at > runStart) runs.push(view.subarray(runStart, at));
      runs.push(joined(views, v, at, size));
      let left = size - (view.length - at);
      v++;
      while (left > 0 && left >= (views[v] as Uint8Array).length) left -= (views[v++] as Uint8Array).length;
      at = runStart = left;
    }
    if (v < views.length && at > runStart) runs.push((views[v] as Uint8Array).subarray(runStart, at));
    return runs;
  }

  /**
   * Removes every batch from the one containing `offset` onwards, and the `.txnindex` entries of
   * the markers removed. Returns the bytes removed. Like Kafka, a cut inside a batch removes the
   * whole batch.
   */
  truncateTo(offset: bigint): number {
    if (offset >= this.nextOffset) return 0;
    const found = offset <= this.baseOffset ? { position: 0 } : this.findBatch(offset);
    if (found === undefined) return 0;
    const before = this.log.size();
    this.log.truncate(found.position);
    this.offsetIndex.truncateToPosition(found.position);
    this.timeIndex.truncateToOffset(this.relative(offset));
    this.recomputeTail();
    if (found.position === 0) this.firstBatchTimestamp = -1;
    this.rewriteIndexFiles();
    this.txnIndex.truncateTo(this.nextOffset);
    this.dirty = true;
    return before - found.position;
  }

  /** Writes index entries added since the last call to the index files. */
  persistIndexes(): void {
    if (this.offsetIndex.persistedCount < this.offsetIndex.entries) {
      const f = this.storage.open(LogSegment.path(this.dir, this.baseOffset, 'index'), { create: true });
      try {
        f.write(this.offsetIndex.persistedCount * OFFSET_INDEX_ENTRY_SIZE, this.offsetIndex.encode(this.offsetIndex.persistedCount));
        f.truncate(this.offsetIndex.entries * OFFSET_INDEX_ENTRY_SIZE);
      } finally {
        f.close();
      }
      this.offsetIndex.persistedCount = this.offsetIndex.entries;
    }
    if (this.timeIndex.persistedCount < this.timeIndex.entries) {
      const f = this.storage.open(LogSegment.path(this.dir, this.baseOffset, 'timeindex'), { create: true });
      try {
        f.write(this.timeIndex.persistedCount * TIME_INDEX_ENTRY_SIZE, this.timeIndex.encode(this.timeIndex.persistedCount));
        f.truncate(this.timeIndex.entries * TIME_INDEX_ENTRY_SIZE);
      } finally {
        f.close();
      }
      this.timeIndex.persistedCount = this.timeIndex.entries;
    }
  }

  /**
   * Called when a newer segment becomes active: records the final max timestamp in the time index
   * (so retention can read it after a restart) and writes the indexes out.
   */
  onBecomeInactive(): void {
    if (this.maxTimestamp >= 0) this.timeIndex.maybeAppend(this.maxTimestamp, this.offsetOfMaxTimestamp, true);
    this.persistIndexes();
  }

  /**
   * fsyncs the `.log` file and the `.txnindex` (as Kafka's segment flush): the sparse indexes are
   * rebuilt on recovery and need no fsync, but the aborted-transaction entries of a segment below
   * the recovery point are not, so they become durable with its batches.
   */
  async sync(): Promise<void> {
    this.dirty = false;
    await Promise.all([this.log.sync(), this.txnIndex.sync()]);
  }

  /** Synchronous fsync for close. */
  syncNow(): void {
    this.dirty = false;
    this.log.syncNow();
    this.txnIndex.syncNow();
  }

  /** Releases file handles. */
  close(): void {
    this.log.close();
  }

  /** Deletes the segment's files, `.txnindex` included (the handle is closed first). */
  delete(): void {
    this.log.close();
    for (const ext of ['log', 'index', 'timeindex'] as const) this.storage.remove(LogSegment.path(this.dir, this.baseOffset, ext));
    this.txnIndex.delete();
  }

  /** Scans every batch from the start, rebuilding both indexes and the tail state. */
  private rebuild(verifyCrc: boolean): ScanResult {
    this.offsetIndex.clear();
    this.timeIndex.clear();
    this.maxTimestamp = -1;
    this.offsetOfMaxTimestamp = -1;
    this.firstBatchTimestamp = -1;
    this.nextOffset = this.baseOffset;
    this.bytesSinceLastIndexEntry = 0;
    return this.scan(0, verifyCrc, (header, position) => {
      const lastOffset = header.baseOffset + BigInt(header.lastOffsetDelta);
      const size = header.batchLength + LOG_OVERHEAD;
      const outOfOrder = header.baseOffset < this.nextOffset || (this.config.contiguousOffsets && position > 0 && header.baseOffset !== this.nextOffset);
      if (outOfOrder || !this.canHoldOffset(lastOffset)) return `batch at byte ${position} has offsets ${header.baseOffset}..${lastOffset}, which do not follow offset ${this.nextOffset} in segment ${this.baseOffset}`;
      const rel = this.relative(lastOffset);
      if (header.maxTimestamp > this.maxTimestamp) {
        this.maxTimestamp = header.maxTimestamp;
        this.offsetOfMaxTimestamp = rel;
      }
      if (this.firstBatchTimestamp < 0 && position === 0) this.firstBatchTimestamp = header.maxTimestamp;
      if (this.bytesSinceLastIndexEntry > this.config.indexIntervalBytes && !this.offsetIndex.isFull) {
        this.offsetIndex.append(rel, position);
        this.timeIndex.maybeAppend(this.maxTimestamp, this.offsetOfMaxTimestamp);
        this.bytesSinceLastIndexEntry = 0;
      }
      this.bytesSinceLastIndexEntry += size;
      this.nextOffset = lastOffset + 1n;
      return undefined;
    });
  }

  /**
   * Walks batches from file position `from`; stops at the first truncated, malformed or (with
   * `verifyCrc`) corrupt batch, or when `visit` returns a reason. Reads in 1 MiB chunks.
   */
  scan(from: number, verifyCrc: boolean, visit: BatchVisitor): ScanResult {
    const end = this.log.size();
    let position = from;
    while (position < end) {
      const chunk = this.log.read(position, Math.min(SCAN_CHUNK, end - position));
      let p = 0;
      while (p < chunk.length) {
        if (chunk.length - p < RECORD_BATCH_OVERHEAD) {
          if (position + chunk.length >= end) return { validBytes: position + p, problem: `truncated batch header at byte ${position + p}` };
          break;
        }
        let header: RecordBatchHeader;
        try {
          header = readBatchHeader(chunk, p);
        } catch (e) {
          return { validBytes: position + p, problem: e instanceof CorruptRecordError ? e.reason : String(e) };
        }
        const size = header.batchLength + LOG_OVERHEAD;
        if (p + size > chunk.length) {
          if (position + p + size > end) return { validBytes: position + p, problem: `truncated batch at byte ${position + p} (needs ${size} bytes, ${end - position - p} left)` };
          if (p === 0) {
            // One batch larger than the chunk: read it whole.
            const whole = this.log.read(position, size);
            const problem = this.check(whole, 0, verifyCrc, visit, position);
            if (problem === STOP_SCAN) return { validBytes: position };
            if (problem !== undefined) return { validBytes: position, problem };
            p = size;
          }
          break;
        }
        const problem = this.check(chunk, p, verifyCrc, visit, position + p);
        if (problem === STOP_SCAN) return { validBytes: position + p };
        if (problem !== undefined) return { validBytes: position + p, problem };
        p += size;
      }
      position += p;
    }
    return { validBytes: position };
  }

  private check(bytes: Uint8Array, p: number, verifyCrc: boolean, visit: BatchVisitor, filePosition: number): string | undefined {
    let header: RecordBatchHeader;
    try {
      header = verifyCrc ? assertBatchValid(bytes, p) : readBatchHeader(bytes, p);
    } catch (e) {
      return e instanceof CorruptRecordError ? e.reason : String(e);
    }
    return visit(header, filePosition, bytes, p);
  }

  /** Loads both index files; false when either is missing or fails its sanity check. */
  private loadIndexes(): boolean {
    const indexPath = LogSegment.path(this.dir, this.baseOffset, 'index');
    const timePath = LogSegment.path(this.dir, this.baseOffset, 'timeindex');
    const size = this.log.size();
    if (size === 0) return true;
    if (!this.storage.exists(indexPath) || !this.storage.exists(timePath)) return false;
    const offsets = OffsetIndex.decode(this.storage.readFile(indexPath), this.offsetIndex.maxEntries, size);
    const times = TimeIndex.decode(this.storage.readFile(timePath), this.timeIndex.maxEntries, 2147483647);
    if (offsets === undefined || times === undefined) return false;
    // The last offset entry must point at a batch whose last offset it names.
    if (offsets.entries > 0) {
      const pos = offsets.positionAt(offsets.entries - 1);
      try {
        const header = readBatchHeader(this.log.read(pos, RECORD_BATCH_OVERHEAD), 0);
        if (this.relative(header.baseOffset + BigInt(header.lastOffsetDelta)) !== offsets.offsetAt(offsets.entries - 1)) return false;
      } catch {
        return false;
      }
    }
    this.offsetIndex = offsets;
    this.timeIndex = times;
    return true;
  }

  /** Derives nextOffset, the max timestamp and the first batch timestamp from loaded indexes plus a scan of the tail. */
  private completeFromIndexes(): void {
    if (this.log.size() > 0) {
      const first = readBatchHeader(this.log.read(0, RECORD_BATCH_OVERHEAD), 0);
      this.firstBatchTimestamp = first.maxTimestamp;
    }
    this.recomputeTail();
  }

  /** Recomputes nextOffset and the max timestamp from the last index entries and the batches after them. */
  private recomputeTail(): void {
    const lastTime = this.timeIndex.last();
    this.maxTimestamp = lastTime?.timestamp ?? -1;
    this.offsetOfMaxTimestamp = lastTime?.relativeOffset ?? -1;
    this.nextOffset = this.baseOffset;
    const n = this.offsetIndex.entries;
    const from = n > 0 ? this.offsetIndex.positionAt(n - 1) : 0;
    let bytesAfter = 0;
    this.scan(from, false, (header) => {
      const lastOffset = header.baseOffset + BigInt(header.lastOffsetDelta);
      if (header.maxTimestamp > this.maxTimestamp) {
        this.maxTimestamp = header.maxTimestamp;
        this.offsetOfMaxTimestamp = this.relative(lastOffset);
      }
      this.nextOffset = lastOffset + 1n;
      bytesAfter += header.batchLength + LOG_OVERHEAD;
      return undefined;
    });
    this.bytesSinceLastIndexEntry = bytesAfter;
  }

  private rewriteIndexFiles(): void {
    this.storage.writeFileAtomic(LogSegment.path(this.dir, this.baseOffset, 'index'), this.offsetIndex.encode());
    this.storage.writeFileAtomic(LogSegment.path(this.dir, this.baseOffset, 'timeindex'), this.timeIndex.encode());
    this.offsetIndex.persistedCount = this.offsetIndex.entries;
    this.timeIndex.persistedCount = this.timeIndex.entries;
  }
}
