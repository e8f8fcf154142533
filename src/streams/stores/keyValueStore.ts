/**
 * Key-value state stores, as Kafka Streams' `Stores.inMemoryKeyValueStore`; the committed state
 * lives in any {@link KeyValueBytesStore} (in memory here, on disk in persistentStore.ts).
 *
 * - Order is Kafka's: keys sort by their serialized bytes, unsigned, a prefix before its
 *   extensions. So int32 keys sort by their big-endian bytes (-1 after 1), exactly as a Kafka
 *   Streams application iterating the same store would see them.
 * - Exactly-once: a task's writes go to an overlay, read back by the task (read-your-writes) but
 *   applied to the committed state only at {@link TransactionalKeyValueStore.commit}, after the
 *   transaction carrying their changelog records committed. An aborted transaction is dropped
 *   with {@link TransactionalKeyValueStore.abort}, leaving the store as the changelog has it.
 */
import sortedBtree from 'sorted-btree';
import type * as btree from 'sorted-btree';
import { Subject } from 'rxjs';
import type { Observable } from 'rxjs';
import { ClosedError, InvalidArgumentError } from '../../errors.ts';
import { deserializeWith, isSerde, serializeWith } from '../serdes.ts';
import type { Serde } from '../serdes.ts';

// sorted-btree is CommonJS: Node's default import is `module.exports`, whose `default` is the class;
// vitest and bundlers already unwrap it to the class. Accept both.
const BTree: typeof sortedBtree.default = typeof sortedBtree === 'function' ? sortedBtree : sortedBtree.default;

/** One key and its value. */
export interface KeyValue<K, V> { readonly key: K; readonly value: V }

/** A committed change of a store, for its change stream. `value` null is a deletion; `oldValue` null means the key was absent. */
export interface StoreChange<K, V> { readonly key: K; readonly value: V | null; readonly oldValue: V | null }

/** One record of a store's changelog topic: serialized key, serialized value or null (a tombstone). */
export type ChangelogRecord = { readonly key: Uint8Array; readonly value: Uint8Array | null };

/** What interactive queries and processors read. Iteration order = serialized-key byte order. */
export interface ReadOnlyKeyValueStore<K, V> {
  readonly name: string;
  get(key: K): V | undefined;
  /** Keys in [from, to], both inclusive as Kafka's range(); either bound may be undefined (open). Empty when from sorts after to. */
  range(from?: K, to?: K): KeyValue<K, V>[];
  /** Keys whose serialized bytes start with the serialized prefix (Kafka's prefixScan). */
  prefixScan<P>(prefix: P, prefixSerde: Serde<P>): KeyValue<K, V>[];
  all(): KeyValue<K, V>[];
  /** Number of entries. */
  approximateNumEntries(): number;
}

/** A store a task writes. Under exactly-once writes are buffered and applied at commit. */
export interface KeyValueStore<K, V> extends ReadOnlyKeyValueStore<K, V> {
  /** Writes `value` for `key`; null deletes, as in Kafka. */
  put(key: K, value: V | null): void;
  /** Writes `value` only when `key` has none; returns the value already there, or undefined when it wrote. */
  putIfAbsent(key: K, value: V): V | undefined;
  /** Deletes `key`; returns the value it had, or undefined. */
  delete(key: K): V | undefined;
}

type Entry = KeyValue<Uint8Array, Uint8Array>;

/**
 * A sorted map of byte keys to byte values in Kafka's key order (unsigned bytes, a prefix before
 * its extensions): the committed state under a {@link TransactionalKeyValueStore}. Returned
 * entries are never changed by later writes.
 */
export interface KeyValueBytesStore {
  /** Number of entries. */
  readonly size: number;
  /** The value of `key`, or undefined. */
  get(key: Uint8Array): Uint8Array | undefined;
  /** Writes `value` for `key`; null deletes (a changelog tombstone). */
  put(key: Uint8Array, value: Uint8Array | null): void;
  /** Optional: writes every record at once, all or none (null deletes); used by commit and restore when present. */
  putAll?(records: Iterable<ChangelogRecord>): void;
  /** Deletes `key`; returns the value it had, or undefined. */
  delete(key: Uint8Array): Uint8Array | undefined;
  /** Removes every entry. */
  clear(): void;
  /** Entries with from ≤ key ≤ to in byte order; an undefined bound is open; empty when from sorts after to. */
  range(from?: Uint8Array, to?: Uint8Array): Entry[];
  /** Entries whose key starts with `prefix`, in byte order. */
  prefixScan(prefix: Uint8Array): Entry[];
  /** Every entry, in byte order. */
  all(): Entry[];
  /** Releases what the store holds (files, handles); closing again does nothing. */
  close(): void;
}

// Fits String.fromCharCode's argument limit with a wide margin.
const CHUNK = 8192;

/** A latin1 string of the bytes: one char per byte, so JS string order is unsigned byte order. */
// A task reads and writes the same key in turn (get, then put): the last short key's encoding is
// kept, matched by content (a caller may reuse a buffer), which is cheaper than encoding again.
let lastKey = new Uint8Array(0);
let lastEncoded = '';

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

function encodeKey(bytes: Uint8Array): string {
  if (bytes.length <= 64) {
    if (sameBytes(bytes, lastKey)) return lastEncoded;
    lastKey = bytes.slice();
    lastEncoded = String.fromCharCode(...bytes);
    return lastEncoded;
  }
  let s = '';
  for (let i = 0; i < bytes.length; i += CHUNK) s += String.fromCharCode(...bytes.subarray(i, i + CHUNK));
  return s;
}

function decodeKey(s: string): Uint8Array {
  const out = new Uint8Array(s.length);
  for (let i = 0; i < s.length; i++) out[i] = s.charCodeAt(i);
  return out;
}

const compareStrings = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);

function requireBytes(what: string, x: unknown): asserts x is Uint8Array {
  if (!(x instanceof Uint8Array)) throw new InvalidArgumentError(what, 'expected a Uint8Array');
}

/** A sorted in-memory map of byte keys to byte values, in Kafka's key order. Values are kept as given, not copied; keys are copied. */
export class InMemoryKeyValueBytesStore implements KeyValueBytesStore {
  private readonly tree: btree.default<string, Uint8Array> = new BTree<string, Uint8Array>(undefined, compareStrings);

  /** Number of entries. */
  get size(): number {
    return this.tree.size;
  }

  /** The value of `key`, or undefined. */
  get(key: Uint8Array): Uint8Array | undefined {
    requireBytes('key', key);
    return this.tree.get(encodeKey(key));
  }

  /** Writes `value` for `key`; null deletes (a changelog tombstone). */
  put(key: Uint8Array, value: Uint8Array | null): void {
    requireBytes('key', key);
    if (value !== null) requireBytes('value', value);
    if (value === null) this.tree.delete(encodeKey(key));
    else this.tree.set(encodeKey(key), value);
  }

  /** Deletes `key`; returns the value it had, or undefined. */
  delete(key: Uint8Array): Uint8Array | undefined {
    const old = this.get(key);
    this.tree.delete(encodeKey(key));
    return old;
  }

  /** Removes every entry. */
  clear(): void {
    this.tree.clear();
  }

  /** Entries with from ≤ key ≤ to in byte order; an undefined bound is open; empty when from sorts after to. */
  range(from?: Uint8Array, to?: Uint8Array): Entry[] {
    const lo = from === undefined ? undefined : (requireBytes('from', from), encodeKey(from));
    const hi = to === undefined ? undefined : (requireBytes('to', to), encodeKey(to));
    if (lo !== undefined && hi !== undefined && lo > hi) return [];
    return this.scan(lo, (k) => hi === undefined || k <= hi);
  }

  /** Entries whose key starts with `prefix`, in byte order. */
  prefixScan(prefix: Uint8Array): Entry[] {
    requireBytes('prefix', prefix);
    const p = encodeKey(prefix);
    // Keys extending p are contiguous from p on, so the scan stops at the first one that does not.
    return this.scan(p, (k) => k.startsWith(p));
  }

  /** Every entry, in byte order. */
  all(): Entry[] {
    return this.scan(undefined, () => true);
  }

  /** Does nothing: memory is released with the store, and the entries stay readable. */
  close(): void {}

  private scan(lowest: string | undefined, within: (key: string) => boolean): Entry[] {
    const out: Entry[] = [];
    for (const [k, value] of this.tree.entries(lowest)) {
      if (!within(k)) break;
      out.push({ key: decodeKey(k), value });
    }
    return out;
  }
}

/** Unsigned lexicographic byte order, a prefix first: Kafka's `Bytes.compareTo`. */
export function compareBytes(a: Uint8Array, b: Uint8Array): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const d = (a[i] as number) - (b[i] as number);
    if (d !== 0) return d;
  }
  return a.length - b.length;
}

/** Merges two sorted entry lists whose keys are disjoint into one sorted list. */
function mergeSorted(a: Entry[], b: Entry[]): Entry[] {
  const out: Entry[] = [];
  let [i, j] = [0, 0];
  while (i < a.length && j < b.length) out.push(compareBytes((a[i] as Entry).key, (b[j] as Entry).key) < 0 ? (a[i++] as Entry) : (b[j++] as Entry));
  return out.concat(a.slice(i), b.slice(j));
}

/**
 * A typed key-value store with exactly-once buffering over a {@link KeyValueBytesStore}.
 * Reads see pending writes merged over the committed state; only {@link commit} changes the
 * committed state and emits on {@link changes$}. After {@link close} every call throws {@link ClosedError}.
 */
export class TransactionalKeyValueStore<K, V> implements KeyValueStore<K, V> {
  /** Committed changes, in the order of their last write within each commit; completes on close. */
  readonly changes$: Observable<StoreChange<K, V>>;
  private readonly subject = new Subject<StoreChange<K, V>>();
  /** Pending writes by encoded key, in the order of their last write (a rewrite moves the key to the end). */
  private readonly pending = new Map<string, ChangelogRecord>();
  /** The pending writes in key order, built only when a scan needs them (most tasks only get and put). */
  private sortedOverlay: InMemoryKeyValueBytesStore | undefined;
  private closed = false;

  constructor(
    readonly name: string,
    private readonly committed: KeyValueBytesStore,
    private readonly keySerde: Serde<K>,
    private readonly valueSerde: Serde<V>,
    readonly changelogTopic: string,
  ) {
    this.changes$ = this.subject.asObservable();
  }

  /** The value of `key`, pending writes included; undefined when absent or deleted. */
  get(key: K): V | undefined {
    this.ensureOpen();
    const k = this.keyBytes(key);
    const pending = this.pending.get(encodeKey(k));
    const bytes = pending === undefined ? this.committed.get(k) : pending.value;
    return bytes === undefined || bytes === null ? undefined : this.value(bytes);
  }

  range(from?: K, to?: K): KeyValue<K, V>[] {
    this.ensureOpen();
    const lo = from === undefined ? undefined : this.keyBytes(from);
    const hi = to === undefined ? undefined : this.keyBytes(to);
    return this.merged(this.overlay().range(lo, hi), this.committed.range(lo, hi));
  }

  prefixScan<P>(prefix: P, prefixSerde: Serde<P>): KeyValue<K, V>[] {
    this.ensureOpen();
    if (prefix === null || prefix === undefined) throw new InvalidArgumentError('prefix', 'a prefix scan needs a prefix; use all() for every entry');
    const p = serializeWith(prefixSerde, 'key', prefix, this.changelogTopic) as Uint8Array;
    return this.merged(this.overlay().prefixScan(p), this.committed.prefixScan(p));
  }

  all(): KeyValue<K, V>[] {
    this.ensureOpen();
    return this.merged(this.overlay().all(), this.committed.all());
  }

  /** Exact, pending writes included. */
  approximateNumEntries(): number {
    this.ensureOpen();
    let n = this.committed.size;
    for (const r of this.pending.values()) n += (r.value === null ? 0 : 1) - (this.committed.get(r.key) === undefined ? 0 : 1);
    return n;
  }

  put(key: K, value: V | null): void {
    this.ensureOpen();
    if (value === undefined) throw new InvalidArgumentError('value', 'undefined is not a value; use null to delete');
    const k = this.keyBytes(key);
    this.write(k, serializeWith(this.valueSerde, 'value', value, this.changelogTopic));
  }

  putIfAbsent(key: K, value: V): V | undefined {
    const existing = this.get(key);
    if (existing === undefined) this.put(key, value);
    return existing;
  }

  delete(key: K): V | undefined {
    const old = this.get(key);
    // Kafka logs the tombstone even for an absent key; compaction removes it.
    this.write(this.keyBytes(key), null);
    return old;
  }

  /**
   * A read-only view of the committed state only, without pending writes: what interactive
   * queries see, so a query never shows a write whose transaction may still abort.
   */
  readCommitted(): ReadOnlyKeyValueStore<K, V> {
    const decode = (list: Entry[]): KeyValue<K, V>[] => list.map((e) => ({ key: deserializeWith(this.keySerde, 'key', e.key, this.changelogTopic) as K, value: this.value(e.value) }));
    const open = (): void => this.ensureOpen();
    return {
      name: this.name,
      get: (key) => {
        open();
        const bytes = this.committed.get(this.keyBytes(key));
        return bytes === undefined ? undefined : this.value(bytes);
      },
      range: (from, to) => {
        open();
        return decode(this.committed.range(from === undefined ? undefined : this.keyBytes(from), to === undefined ? undefined : this.keyBytes(to)));
      },
      prefixScan: (prefix, prefixSerde) => {
        open();
        if (prefix === null || prefix === undefined) throw new InvalidArgumentError('prefix', 'a prefix scan needs a prefix; use all() for every entry');
        return decode(this.committed.prefixScan(serializeWith(prefixSerde, 'key', prefix, this.changelogTopic) as Uint8Array));
      },
      all: () => {
        open();
        return decode(this.committed.all());
      },
      approximateNumEntries: () => {
        open();
        return this.committed.size;
      },
    };
  }

  /** The changelog records of the pending writes, the last write of each key only, in the order of those last writes: what the runtime sends inside the transaction. */
  pendingChangelog(): readonly ChangelogRecord[] {
    this.ensureOpen();
    return [...this.pending.values()];
  }

  /**
   * Applies the pending writes to the committed state, emits each change on {@link changes$} and
   * returns them. A deletion of a key that was absent changes nothing and is not reported. All
   * changes are decoded before any is applied, so a failing serde leaves the store untouched; so
   * does a failing write to a bytes store with `putAll` (one transaction), and the writes stay pending.
   */
  commit(): StoreChange<K, V>[] {
    return this.commitPending(true);
  }

  /**
   * As {@link commit}, for the runtime: the changes are decoded only when {@link changes$} has a
   * subscriber (decoding every change of every commit costs as much as the writes themselves).
   */
  commitQuietly(): void {
    this.commitPending(this.subject.observed);
  }

  private commitPending(decode: boolean): StoreChange<K, V>[] {
    this.ensureOpen();
    const changes: StoreChange<K, V>[] = [];
    if (decode) for (const r of this.pending.values()) {
      const old = this.committed.get(r.key);
      if (r.value === null && old === undefined) continue;
      const key = deserializeWith(this.keySerde, 'key', r.key, this.changelogTopic) as K;
      changes.push({ key, value: r.value === null ? null : this.value(r.value), oldValue: old === undefined ? null : this.value(old) });
    }
    this.apply(this.pending.values());
    this.dropPending();
    for (const c of changes) this.subject.next(c);
    return changes;
  }

  /** Drops the pending writes; the committed state and {@link changes$} see nothing. */
  abort(): void {
    this.ensureOpen();
    this.dropPending();
  }

  /** Applies changelog records straight to the committed state (a null value deletes), without emitting: restoration, before the task processes. */
  restore(records: Iterable<ChangelogRecord>): void {
    this.ensureOpen();
    this.apply(records);
  }

  /** Empties the committed state and drops pending writes: a local state of unknown age, before a full restore. */
  wipe(): void {
    this.ensureOpen();
    this.dropPending();
    this.committed.clear();
  }

  /**
   * Drops pending writes, completes {@link changes$} and closes the committed bytes store; later
   * calls throw {@link ClosedError}. Closing again does nothing, so shutdown paths may overlap.
   */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.dropPending();
    this.subject.complete();
    this.committed.close();
  }

  /** Writes records to the committed state: as one transaction where the bytes store offers it (one disk sync, not one per record). */
  private apply(records: Iterable<ChangelogRecord>): void {
    if (this.committed.putAll !== undefined) this.committed.putAll(records);
    else for (const r of records) this.committed.put(r.key, r.value);
  }

  /** The pending writes as a sorted store, for scans. */
  private overlay(): InMemoryKeyValueBytesStore {
    if (this.sortedOverlay === undefined) {
      this.sortedOverlay = new InMemoryKeyValueBytesStore();
      for (const r of this.pending.values()) this.sortedOverlay.put(r.key, r.value);
    }
    return this.sortedOverlay;
  }

  private dropPending(): void {
    this.pending.clear();
    this.sortedOverlay = undefined;
  }

  private ensureOpen(): void {
    if (this.closed) throw new ClosedError(`store "${this.name}"`);
  }

  private keyBytes(key: K): Uint8Array {
    if (key === null || key === undefined) throw new InvalidArgumentError('key', `store "${this.name}" refuses null keys, as Kafka's stores do`);
    return serializeWith(this.keySerde, 'key', key, this.changelogTopic) as Uint8Array;
  }

  private value(bytes: Uint8Array): V {
    return deserializeWith(this.valueSerde, 'value', bytes, this.changelogTopic) as V;
  }

  private write(key: Uint8Array, value: Uint8Array | null): void {
    this.ensureOpen();
    const k = encodeKey(key);
    // Delete first so the key moves to the end: the changelog keeps the order of last writes.
    this.pending.delete(k);
    this.pending.set(k, { key, value });
    this.sortedOverlay?.put(key, value);
  }

  /** Merges sorted pending entries over sorted committed ones: a pending key (written or deleted) hides the committed entry. */
  private merged(fresh: Entry[], base: Entry[]): KeyValue<K, V>[] {
    const merged = mergeSorted(fresh, base.filter((e) => !this.pending.has(encodeKey(e.key))));
    return merged.map((e) => ({ key: deserializeWith(this.keySerde, 'key', e.key, this.changelogTopic) as K, value: this.value(e.value) }));
  }
}

/** What every store factory needs: serdes, and the changelog topic the serdes are called with. */
export interface StoreOptions<K, V> { keySerde: Serde<K>; valueSerde: Serde<V>; changelogTopic: string }

/** Throws {@link InvalidArgumentError} unless `name` is non-empty and `options` has both serdes and a changelog topic. */
export function checkStoreOptions<K, V>(name: string, options: StoreOptions<K, V>): void {
  if (typeof name !== 'string' || name === '') throw new InvalidArgumentError('name', 'a store needs a non-empty name');
  if (!isSerde(options?.keySerde)) throw new InvalidArgumentError('keySerde', `store "${name}" needs a key serde`);
  if (!isSerde(options.valueSerde)) throw new InvalidArgumentError('valueSerde', `store "${name}" needs a value serde`);
  if (typeof options.changelogTopic !== 'string' || options.changelogTopic === '') throw new InvalidArgumentError('changelogTopic', `store "${name}" needs a changelog topic`);
}

/** A new, empty in-memory store named `name`, with exactly-once buffering; its changelog records go to `changelogTopic`, which the serdes are also called with. */
export function inMemoryKeyValueStore<K, V>(name: string, options: StoreOptions<K, V>): TransactionalKeyValueStore<K, V> {
  checkStoreOptions(name, options);
  return new TransactionalKeyValueStore(name, new InMemoryKeyValueBytesStore(), options.keySerde, options.valueSerde, options.changelogTopic);
}
