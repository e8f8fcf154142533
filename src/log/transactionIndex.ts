/**
 * The aborted-transaction index of one segment: Kafka's `.txnindex` (`TransactionIndex`), one
 * entry per transaction aborted by a marker in that segment, 34 bytes each, big-endian, exactly
 * Kafka's `AbortedTxn`: version int16 (0), producerId int64, firstOffset int64, lastOffset int64
 * (the ABORT marker's offset), lastStableOffset int64 (the LSO right after the marker).
 *
 * Guarantees:
 * - Entries are kept in memory and the file is an append-only copy written through
 *   {@link Storage} as each entry is added; lastOffset strictly increases, so a lookup can stop
 *   early exactly as Kafka's `collectAbortedTxns` does.
 * - The file is created on the first entry (a segment without aborted transactions has none, as
 *   in Kafka) and fsynced with its segment's log.
 * - Loading checks the file: a torn trailing partial entry is cut off; an entry of another version,
 *   with a lastOffset below the segment's base offset or not increasing, or with firstOffset above
 *   lastOffset, makes the whole file corrupt, and the caller rebuilds it from the log.
 */
import { InvalidArgumentError } from '../errors.ts';
import type { Storage } from './storage/storage.ts';

/** Bytes per `.txnindex` entry (Kafka's `AbortedTxn.TOTAL_SIZE`). */
export const ABORTED_TXN_ENTRY_SIZE = 34;
/** The entry version Kafka and samsa write (`AbortedTxn.CURRENT_VERSION`). */
export const ABORTED_TXN_VERSION = 0;

/** One aborted transaction (Kafka's `AbortedTxn`). */
export interface AbortedTxn {
  readonly producerId: bigint;
  /** Offset of the transaction's first batch in this partition. */
  readonly firstOffset: bigint;
  /** Offset of its ABORT marker. */
  readonly lastOffset: bigint;
  /** The partition's last stable offset once the marker was appended. */
  readonly lastStableOffset: bigint;
}

/**
 * The index entry of a transaction its ABORT marker just closed (a producer state's completed
 * transaction): only the entry's own fields, so every replica and replay stores the same entry.
 */
export function abortedTxnOf(completed: AbortedTxn): AbortedTxn {
  return { producerId: completed.producerId, firstOffset: completed.firstOffset, lastOffset: completed.lastOffset, lastStableOffset: completed.lastStableOffset };
}

/** What {@link TransactionIndex.collectAbortedTxns} found (Kafka's `TxnIndexSearchResult`). */
export interface TxnIndexSearchResult {
  readonly abortedTransactions: AbortedTxn[];
  /**
   * True when an entry's lastStableOffset reached the upper bound: no transaction aborted in a
   * later segment can overlap the range, so the search may stop here.
   */
  readonly isComplete: boolean;
}

/** Result of {@link decodeAbortedTxns}. */
export interface DecodedTxnIndex {
  /** Entries of the whole 34-byte records, when they are all valid. */
  readonly entries: AbortedTxn[];
  /** Bytes covered by whole entries; anything after it is a torn partial entry. */
  readonly wholeBytes: number;
  /** Why the entries cannot be trusted, undefined when they can. */
  readonly problem?: string;
}

/** Kafka's bytes of the given entries, back to back. */
export function encodeAbortedTxns(entries: readonly AbortedTxn[]): Uint8Array {
  const bytes = new Uint8Array(entries.length * ABORTED_TXN_ENTRY_SIZE);
  const view = new DataView(bytes.buffer);
  entries.forEach((e, i) => {
    const p = i * ABORTED_TXN_ENTRY_SIZE;
    view.setInt16(p, ABORTED_TXN_VERSION);
    view.setBigInt64(p + 2, e.producerId);
    view.setBigInt64(p + 10, e.firstOffset);
    view.setBigInt64(p + 18, e.lastOffset);
    view.setBigInt64(p + 26, e.lastStableOffset);
  });
  return bytes;
}

/**
 * Decodes a `.txnindex` file of the segment starting at `startOffset` and runs Kafka's sanity
 * check on it (plus ordering checks Kafka's appends guarantee). A trailing partial entry is
 * reported through `wholeBytes`, not as a problem.
 */
export function decodeAbortedTxns(bytes: Uint8Array, startOffset: bigint): DecodedTxnIndex {
  const count = Math.floor(bytes.length / ABORTED_TXN_ENTRY_SIZE);
  const wholeBytes = count * ABORTED_TXN_ENTRY_SIZE;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const entries: AbortedTxn[] = [];
  let previous = -1n;
  for (let i = 0; i < count; i++) {
    const p = i * ABORTED_TXN_ENTRY_SIZE;
    const version = view.getInt16(p);
    const entry = { producerId: view.getBigInt64(p + 2), firstOffset: view.getBigInt64(p + 10), lastOffset: view.getBigInt64(p + 18), lastStableOffset: view.getBigInt64(p + 26) };
    const problem =
      version !== ABORTED_TXN_VERSION ? `entry ${i} has version ${version}, expected ${ABORTED_TXN_VERSION}`
      : entry.lastOffset < startOffset ? `entry ${i} has last offset ${entry.lastOffset}, below the segment's base offset ${startOffset}`
      : entry.lastOffset <= previous ? `entry ${i} has last offset ${entry.lastOffset}, not above the previous entry's ${previous}`
      : entry.firstOffset > entry.lastOffset || entry.firstOffset < 0n || entry.producerId < 0n || entry.lastStableOffset < 0n ? `entry ${i} is inconsistent (producer ${entry.producerId}, offsets ${entry.firstOffset}..${entry.lastOffset}, last stable offset ${entry.lastStableOffset})`
      : undefined;
    if (problem !== undefined) return { entries: [], wholeBytes, problem };
    entries.push(entry);
    previous = entry.lastOffset;
  }
  return { entries, wholeBytes };
}

/** See the module comment. */
export class TransactionIndex {
  private list: AbortedTxn[] = [];
  /** maxLso[i] = the largest lastStableOffset among entries 0..i, for the early stop of a lookup. */
  private maxLso: bigint[] = [];
  private unsynced = false;

  private constructor(
    private readonly storage: Storage,
    /** Path of the `.txnindex` file. */
    readonly path: string,
    /** Base offset of the segment the index belongs to. */
    readonly startOffset: bigint,
  ) {}

  /** An empty index; a file left at `path` by an earlier segment of the same base is removed. */
  static create(storage: Storage, path: string, startOffset: bigint): TransactionIndex {
    storage.remove(path);
    return new TransactionIndex(storage, path, startOffset);
  }

  /** An index over `entries` whose file the caller has already written (the cleaner). */
  static of(storage: Storage, path: string, startOffset: bigint, entries: readonly AbortedTxn[]): TransactionIndex {
    const index = new TransactionIndex(storage, path, startOffset);
    for (const e of entries) index.push(e);
    return index;
  }

  /**
   * Loads the file at `path` (none means no entries). A torn partial last entry is cut off the
   * file. When the file fails the sanity check (see {@link decodeAbortedTxns}) the index comes back
   * empty, the file is removed, and `problem` says why: the caller must rebuild it from the log.
   */
  static load(storage: Storage, path: string, startOffset: bigint): { index: TransactionIndex; problem?: string } {
    const index = new TransactionIndex(storage, path, startOffset);
    if (!storage.exists(path)) return { index };
    const bytes = storage.readFile(path);
    const decoded = decodeAbortedTxns(bytes, startOffset);
    if (decoded.problem !== undefined) {
      storage.remove(path);
      return { index, problem: decoded.problem };
    }
    if (decoded.wholeBytes < bytes.length) {
      const file = storage.open(path);
      try {
        file.truncate(decoded.wholeBytes);
      } finally {
        file.close();
      }
      index.unsynced = true;
    }
    for (const e of decoded.entries) index.push(e);
    return { index };
  }

  /** The entries, oldest first. */
  get entries(): readonly AbortedTxn[] {
    return this.list;
  }

  /** The last entry's lastOffset, undefined when empty. */
  get lastOffset(): bigint | undefined {
    return this.list[this.list.length - 1]?.lastOffset;
  }

  private push(entry: AbortedTxn): void {
    const prev = this.maxLso[this.maxLso.length - 1];
    this.list.push(entry);
    this.maxLso.push(prev !== undefined && prev > entry.lastStableOffset ? prev : entry.lastStableOffset);
  }

  /**
   * Adds an entry and appends its 34 bytes to the file.
   * @throws InvalidArgumentError when its lastOffset is not above the last entry's (Kafka's rule),
   *   below the segment's base offset, or below its firstOffset.
   */
  append(entry: AbortedTxn): void {
    const last = this.lastOffset;
    if (last !== undefined && entry.lastOffset <= last) throw new InvalidArgumentError('entry', `the last offset of an aborted transaction must increase: ${entry.lastOffset} is not above ${last} in ${this.path}`);
    if (entry.lastOffset < this.startOffset || entry.firstOffset > entry.lastOffset) throw new InvalidArgumentError('entry', `aborted transaction of producer ${entry.producerId} spans ${entry.firstOffset}..${entry.lastOffset}, which does not end in the segment starting at ${this.startOffset}`);
    const file = this.storage.open(this.path, { create: true });
    try {
      file.write(this.list.length * ABORTED_TXN_ENTRY_SIZE, encodeAbortedTxns([entry]));
    } finally {
      file.close();
    }
    this.push(entry);
    this.unsynced = true;
  }

  /**
   * Kafka's `collectAbortedTxns`: the entries with lastOffset ≥ `fetchOffset` and firstOffset <
   * `upperBoundOffset`, in order, stopping after the first entry whose lastStableOffset ≥
   * `upperBoundOffset` (then `isComplete`).
   */
  collectAbortedTxns(fetchOffset: bigint, upperBoundOffset: bigint): TxnIndexSearchResult {
    const list = this.list;
    // lastOffset increases: skip the entries ending before fetchOffset with a binary search, but
    // keep Kafka's early stop, which may trigger on one of them.
    let lo = 0;
    let hi = list.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if ((list[mid] as AbortedTxn).lastOffset < fetchOffset) lo = mid + 1;
      else hi = mid;
    }
    if (lo > 0 && (this.maxLso[lo - 1] as bigint) >= upperBoundOffset) return { abortedTransactions: [], isComplete: true };
    const abortedTransactions: AbortedTxn[] = [];
    for (let i = lo; i < list.length; i++) {
      const txn = list[i] as AbortedTxn;
      if (txn.firstOffset < upperBoundOffset) abortedTransactions.push(txn);
      if (txn.lastStableOffset >= upperBoundOffset) return { abortedTransactions, isComplete: true };
    }
    return { abortedTransactions, isComplete: false };
  }

  /** Drops the entries whose marker is at or after `offset` (the log was cut there). */
  truncateTo(offset: bigint): void {
    let n = this.list.length;
    while (n > 0 && (this.list[n - 1] as AbortedTxn).lastOffset >= offset) n--;
    if (n === this.list.length) return;
    this.list.length = n;
    this.maxLso.length = n;
    if (this.storage.exists(this.path)) {
      const file = this.storage.open(this.path);
      try {
        file.truncate(n * ABORTED_TXN_ENTRY_SIZE);
      } finally {
        file.close();
      }
    }
    this.unsynced = true;
  }

  /** Removes every entry and the file (before a rebuild from the log). */
  reset(): void {
    this.list = [];
    this.maxLso = [];
    this.unsynced = false;
    this.storage.remove(this.path);
  }

  /** fsyncs the file when entries were written since the last sync. */
  async sync(): Promise<void> {
    if (!this.unsynced) return;
    this.unsynced = false;
    if (!this.storage.exists(this.path)) return;
    const file = this.storage.open(this.path);
    const done = file.sync();
    file.close();
    await done;
  }

  /** Synchronous {@link sync}. */
  syncNow(): void {
    if (!this.unsynced) return;
    this.unsynced = false;
    if (!this.storage.exists(this.path)) return;
    const file = this.storage.open(this.path);
    try {
      file.syncNow();
    } finally {
      file.close();
    }
  }

  /** Deletes the file (with its segment). */
  delete(): void {
    this.list = [];
    this.maxLso = [];
    this.unsynced = false;
    this.storage.remove(this.path);
  }
}
