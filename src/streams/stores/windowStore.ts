/**
 * Window stores and session stores (Kafka's `Stores.inMemoryWindowStore` / `persistentWindowStore`
 * and their session counterparts), laid over a byte key-value store so they inherit everything it
 * does: exactly-once overlays applied at commit, changelogs, restore, standbys, lmdb persistence.
 *
 * Layout: a data entry's key is `0x01 ‖ key bytes ‖ start (8 bytes, big-endian)` for windows
 * (`‖ seq (4 bytes)` when duplicates are kept, as join stores do), and
 * `0x01 ‖ key bytes ‖ end ‖ start` for sessions (Kafka's SessionKeySchema order, so a key's
 * sessions sort by end). Entries under `0x00` are the store's own bookkeeping: the stream time it
 * has observed, persisted with the data, so a restarted task still knows which windows closed.
 * Windows older than the retention are dropped as stream time passes them and never returned.
 */
import { InvalidArgumentError } from '../../errors.ts';
import type { Serde } from '../serdes.ts';
import { deserializeWith, serializeWith } from '../serdes.ts';
import type { Window, Windowed } from '../windows.ts';
import type { KeyValue, KeyValueStore, ReadOnlyKeyValueStore } from './keyValueStore.ts';
import { getLong, putLong } from './longBytes.ts';

/** What window and session stores are laid over: bytes to bytes. */
export type BytesStore = KeyValueStore<Uint8Array, Uint8Array>;
type ReadBytes = ReadOnlyKeyValueStore<Uint8Array, Uint8Array>;

const DATA = 0x01;
const META = 0x00;
const TIME_KEY = Uint8Array.of(META, 0x74);

/** A window's contents as a store returns them. */
export interface WindowValue<V> {
  readonly window: Window;
  readonly value: V;
}

/** What interactive queries and processors read from a window store. */
export interface ReadOnlyWindowStore<K, V> {
  readonly name: string;
  /** The value of `key` in the window starting at `windowStart`, if any. */
  fetch(key: K, windowStart: number): V | undefined;
  /** The windows of `key` whose start is in [timeFrom, timeTo] (both inclusive, as Kafka's), oldest first. */
  fetchRange(key: K, timeFrom: number, timeTo: number): WindowValue<V>[];
  /** Every key's windows whose start is in [timeFrom, timeTo], by key then start. */
  fetchAll(timeFrom: number, timeTo: number): KeyValue<Windowed<K>, V>[];
  /** Every window the store holds, by key then start. */
  all(): KeyValue<Windowed<K>, V>[];
}

/** A window store a processor writes. */
export interface WindowStore<K, V> extends ReadOnlyWindowStore<K, V> {
  /** A named mark a processor keeps with the data (e.g. the last window close it emitted), -1 before any. */
  mark(name: string): number;
  /** Sets a named mark. */
  setMark(name: string, value: number): void;
  /** Writes `value` for `key` in the window starting at `windowStart` (with the update's `timestamp` in a timestamped store); null deletes (kept duplicates: appends). */
  put(key: K, value: V | null, windowStart: number, timestamp?: number): void;
  /** The value and its latest update's timestamp (-1 unless the store is timestamped). */
  fetchTimestamped(key: K, windowStart: number): Timestamped<V> | undefined;
  /** `fetchRange` with each value's timestamp. */
  fetchRangeTimestamped(key: K, timeFrom: number, timeTo: number): Array<{ readonly window: Window; readonly value: V; readonly timestamp: number }>;
  /** The stream time this store has observed (-1 before any), persisted with its data. */
  observedStreamTime(): number;
  /** Raises the observed stream time and drops the windows that fell out of retention. */
  observe(streamTime: number): void;
}

/** What interactive queries and processors read from a session store. */
export interface ReadOnlySessionStore<K, V> {
  readonly name: string;
  /** Every session of `key`, oldest end first. */
  fetch(key: K): KeyValue<Windowed<K>, V>[];
  /** Sessions of `key` with end ≥ earliestSessionEnd and start ≤ latestSessionStart (Kafka's findSessions). */
  findSessions(key: K, earliestSessionEnd: number, latestSessionStart: number): KeyValue<Windowed<K>, V>[];
  /** Every session the store holds, by key then end. */
  all(): KeyValue<Windowed<K>, V>[];
}

/** A session store a processor writes. */
export interface SessionStore<K, V> extends ReadOnlySessionStore<K, V> {
  /** A named mark a processor keeps with the data (e.g. the last window close it emitted), -1 before any. */
  mark(name: string): number;
  /** Sets a named mark. */
  setMark(name: string, value: number): void;
  /** Writes the aggregate of a session (with its latest update's `timestamp` in a timestamped store); null removes it. */
  put(session: Windowed<K>, value: V | null, timestamp?: number): void;
  /** Sessions as findSessions, with each value's timestamp. */
  findSessionsTimestamped(key: K, earliestSessionEnd: number, latestSessionStart: number): Array<{ readonly key: Windowed<K>; readonly value: V; readonly timestamp: number }>;
  /** Removes a session. */
  remove(session: Windowed<K>): void;
  observedStreamTime(): number;
  observe(streamTime: number): void;
}

/** How a window or session store reads its keys and values and how long it keeps them. */
export interface WindowStoreOptions<K, V> {
  readonly keySerde: Serde<K>;
  readonly valueSerde: Serde<V>;
  /** Where serde errors say they happened (the changelog topic). */
  readonly topic: string;
  /** Windows whose end fell this far behind stream time are dropped. */
  readonly retentionMs: number;
  /** Window size, to rebuild `Windowed` keys (`end = start + size`); sessions carry their own end. */
  readonly windowSizeMs?: number;
  /** Keep every put (join stores), each under its own sequence number, instead of overwriting. */
  readonly retainDuplicates?: boolean;
  /** Values carry the timestamp of their latest update (8 bytes before the value, as Kafka's timestamped stores). */
  readonly timestamped?: boolean;
}

/** A value with the timestamp of its latest update. */
export interface Timestamped<V> {
  readonly value: V;
  readonly timestamp: number;
}

function markKey(name: string): Uint8Array {
  return Uint8Array.of(META, 0x6d, ...new TextEncoder().encode(name));
}

function compose(key: Uint8Array, longs: readonly number[], tail = 0): Uint8Array {
  const out = new Uint8Array(1 + key.length + 8 * longs.length + tail);
  out[0] = DATA;
  out.set(key, 1);
  longs.forEach((v, i) => putLong(out, 1 + key.length + 8 * i, v));
  return out;
}

function sameKey(entry: Uint8Array, key: Uint8Array, suffix: number): boolean {
  if (entry.length !== 1 + key.length + suffix) return false;
  for (let i = 0; i < key.length; i++) if (entry[1 + i] !== key[i]) return false;
  return true;
}

function checkTime(name: string, value: unknown): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0) throw new InvalidArgumentError(name, `expected a non-negative integer timestamp in ms, got ${String(value)}`);
  return value;
}

/** Shared by both kinds: serdes, stream time, expiry. */
abstract class TimedStore<K, V> {
  private cleanedAt = -1;

  constructor(
    readonly name: string,
    protected readonly read: ReadBytes,
    protected readonly write: BytesStore | undefined,
    protected readonly options: WindowStoreOptions<K, V>,
  ) {}

  observedStreamTime(): number {
    const bytes = this.read.get(TIME_KEY);
    return bytes === undefined ? -1 : getLong(bytes, 0) - 1;
  }

  mark(name: string): number {
    const bytes = this.read.get(markKey(name));
    return bytes === undefined ? -1 : getLong(bytes, 0) - 1;
  }

  setMark(name: string, value: number): void {
    const bytes = new Uint8Array(8);
    putLong(bytes, 0, value + 1);
    this.writable().put(markKey(name), bytes);
  }

  observe(streamTime: number): void {
    const store = this.writable();
    if (streamTime <= this.observedStreamTime()) return;
    const bytes = new Uint8Array(8);
    putLong(bytes, 0, streamTime + 1);
    store.put(TIME_KEY, bytes);
    // Expiry scans the store: run it once per half retention of stream time, as segments would.
    const every = Math.max(1, Math.floor(this.options.retentionMs / 2));
    if (this.cleanedAt >= 0 && streamTime - this.cleanedAt < every) return;
    if (this.cleanedAt < 0) this.cleanedAt = streamTime;
    else {
      this.cleanedAt = streamTime;
      const horizon = streamTime - this.options.retentionMs;
      for (const e of store.range(Uint8Array.of(DATA))) if (this.endOf(e.key) < horizon) store.delete(e.key);
    }
  }

  /** The end a data entry's window counts retention from. */
  protected abstract endOf(entryKey: Uint8Array): number;

  protected expired(end: number): boolean {
    const time = this.observedStreamTime();
    return time >= 0 && end < time - this.options.retentionMs;
  }

  protected keyBytes(key: K): Uint8Array {
    if (key === null || key === undefined) throw new InvalidArgumentError('key', `store ${this.name} takes no null keys`);
    return serializeWith(this.options.keySerde, 'key', key, this.options.topic) as Uint8Array;
  }

  protected key(bytes: Uint8Array): K {
    return deserializeWith(this.options.keySerde, 'key', bytes, this.options.topic) as K;
  }

  protected valueBytes(value: V, timestamp = 0): Uint8Array {
    const bytes = serializeWith(this.options.valueSerde, 'value', value, this.options.topic) as Uint8Array;
    if (this.options.timestamped !== true) return bytes;
    const out = new Uint8Array(8 + bytes.length);
    putLong(out, 0, timestamp);
    out.set(bytes, 8);
    return out;
  }

  protected value(bytes: Uint8Array): V {
    return deserializeWith(this.options.valueSerde, 'value', this.options.timestamped === true ? bytes.subarray(8) : bytes, this.options.topic) as V;
  }

  protected timestamped(bytes: Uint8Array): Timestamped<V> {
    return { value: this.value(bytes), timestamp: this.options.timestamped === true ? getLong(bytes, 0) : -1 };
  }

  protected writable(): BytesStore {
    if (this.write === undefined) throw new InvalidArgumentError('store', `${this.name} is a read-only view`);
    return this.write;
  }

  protected data(): KeyValue<Uint8Array, Uint8Array>[] {
    return this.read.range(Uint8Array.of(DATA));
  }
}

/** A window store over a byte store; `write` undefined gives a read-only view (interactive queries). */
export class BytesWindowStore<K, V> extends TimedStore<K, V> implements WindowStore<K, V> {
  private seq = 0;

  private get suffix(): number {
    return this.options.retainDuplicates === true ? 12 : 8;
  }

  put(key: K, value: V | null, windowStart: number, timestamp = 0): void {
    checkTime('windowStart', windowStart);
    const k = this.keyBytes(key);
    if (this.options.retainDuplicates === true) {
      if (value === null) return;
      const entry = compose(k, [windowStart], 4);
      this.seq = (this.seq + 1) >>> 0;
      new DataView(entry.buffer).setUint32(entry.length - 4, this.seq);
      this.writable().put(entry, this.valueBytes(value, timestamp));
      return;
    }
    this.writable().put(compose(k, [windowStart]), value === null ? null : this.valueBytes(value, timestamp));
  }

  fetchTimestamped(key: K, windowStart: number): Timestamped<V> | undefined {
    if (this.expired(windowStart + this.size())) return undefined;
    const bytes = this.read.get(compose(this.keyBytes(key), [windowStart]));
    return bytes === undefined ? undefined : this.timestamped(bytes);
  }

  fetchRangeTimestamped(key: K, timeFrom: number, timeTo: number): Array<{ readonly window: Window; readonly value: V; readonly timestamp: number }> {
    return this.scanKey(key, timeFrom, timeTo).map(({ window, bytes }) => ({ window, ...this.timestamped(bytes) }));
  }

  fetch(key: K, windowStart: number): V | undefined {
    if (this.options.retainDuplicates === true) return this.fetchRange(key, windowStart, windowStart)[0]?.value;
    if (this.expired(windowStart + this.size())) return undefined;
    const bytes = this.read.get(compose(this.keyBytes(key), [windowStart]));
    return bytes === undefined ? undefined : this.value(bytes);
  }

  fetchRange(key: K, timeFrom: number, timeTo: number): WindowValue<V>[] {
    return this.scanKey(key, timeFrom, timeTo).map(({ window, bytes }) => ({ window, value: this.value(bytes) }));
  }

  private scanKey(key: K, timeFrom: number, timeTo: number): Array<{ window: Window; bytes: Uint8Array }> {
    const k = this.keyBytes(key);
    const from = Math.max(0, timeFrom);
    if (timeTo < from) return [];
    const dup = this.options.retainDuplicates === true;
    const low = compose(k, [from], dup ? 4 : 0);
    const high = compose(k, [timeTo], dup ? 4 : 0);
    if (dup) high.fill(0xff, high.length - 4);
    const out: Array<{ window: Window; bytes: Uint8Array }> = [];
    for (const e of this.read.range(low, high)) {
      if (!sameKey(e.key, k, this.suffix)) continue;
      const start = getLong(e.key, 1 + k.length);
      if (this.expired(start + this.size())) continue;
      out.push({ window: { start, end: start + this.size() }, bytes: e.value });
    }
    return out;
  }

  fetchAll(timeFrom: number, timeTo: number): KeyValue<Windowed<K>, V>[] {
    return this.all().filter((kv) => kv.key.window.start >= timeFrom && kv.key.window.start <= timeTo);
  }

  all(): KeyValue<Windowed<K>, V>[] {
    const out: KeyValue<Windowed<K>, V>[] = [];
    const suffix = this.suffix;
    for (const e of this.data()) {
      const keyEnd = e.key.length - suffix;
      const start = getLong(e.key, keyEnd);
      if (this.expired(start + this.size())) continue;
      out.push({ key: { key: this.key(e.key.subarray(1, keyEnd)), window: { start, end: start + this.size() } }, value: this.value(e.value) });
    }
    return out;
  }

  protected endOf(entryKey: Uint8Array): number {
    return getLong(entryKey, entryKey.length - this.suffix) + this.size();
  }

  private size(): number {
    return this.options.windowSizeMs ?? 0;
  }
}

/** A session store over a byte store; `write` undefined gives a read-only view. */
export class BytesSessionStore<K, V> extends TimedStore<K, V> implements SessionStore<K, V> {
  put(session: Windowed<K>, value: V | null, timestamp = 0): void {
    const end = checkTime('session end', session?.window?.end);
    const start = checkTime('session start', session.window.start);
    if (start > end) throw new InvalidArgumentError('session', `a session cannot start (${start}) after it ends (${end})`);
    this.writable().put(compose(this.keyBytes(session.key), [end, start]), value === null ? null : this.valueBytes(value, timestamp));
  }

  remove(session: Windowed<K>): void {
    this.put(session, null);
  }

  fetch(key: K): KeyValue<Windowed<K>, V>[] {
    return this.findSessions(key, 0, Number.MAX_SAFE_INTEGER);
  }

  findSessions(key: K, earliestSessionEnd: number, latestSessionStart: number): KeyValue<Windowed<K>, V>[] {
    return this.findSessionsTimestamped(key, earliestSessionEnd, latestSessionStart).map(({ key: windowed, value }) => ({ key: windowed, value }));
  }

  findSessionsTimestamped(key: K, earliestSessionEnd: number, latestSessionStart: number): Array<{ key: Windowed<K>; value: V; timestamp: number }> {
    const k = this.keyBytes(key);
    const low = compose(k, [Math.max(0, earliestSessionEnd), 0]);
    const high = compose(k, [Number.MAX_SAFE_INTEGER, Number.MAX_SAFE_INTEGER]);
    const out: Array<{ key: Windowed<K>; value: V; timestamp: number }> = [];
    for (const e of this.read.range(low, high)) {
      if (!sameKey(e.key, k, 16)) continue;
      const end = getLong(e.key, 1 + k.length);
      const start = getLong(e.key, 9 + k.length);
      if (start > latestSessionStart || this.expired(end)) continue;
      out.push({ key: { key, window: { start, end } }, ...this.timestamped(e.value) });
    }
    return out;
  }

  all(): KeyValue<Windowed<K>, V>[] {
    const out: KeyValue<Windowed<K>, V>[] = [];
    for (const e of this.data()) {
      const keyEnd = e.key.length - 16;
      const end = getLong(e.key, keyEnd);
      if (this.expired(end)) continue;
      out.push({ key: { key: this.key(e.key.subarray(1, keyEnd)), window: { start: getLong(e.key, keyEnd + 8), end } }, value: this.value(e.value) });
    }
    return out;
  }

  protected endOf(entryKey: Uint8Array): number {
    return getLong(entryKey, entryKey.length - 16);
  }
}

/** A processor's (or, read-only, a query's) view of a window or session store kept in `bytes`. */
export function timedStoreView<K, V>(type: 'window' | 'session', name: string, read: ReadBytes, write: BytesStore | undefined, options: WindowStoreOptions<K, V>): BytesWindowStore<K, V> | BytesSessionStore<K, V> {
  return type === 'window' ? new BytesWindowStore(name, read, write, options) : new BytesSessionStore(name, read, write, options);
}

/** One window store answering across several (an instance's tasks): reads go to every one, results merged by key then time. */
export function combinedWindowStore<K, V>(name: string, parts: () => ReadOnlyWindowStore<K, V>[]): ReadOnlyWindowStore<K, V> {
  const byKeyThenStart = (list: KeyValue<Windowed<K>, V>[]): KeyValue<Windowed<K>, V>[] => list.sort((a, b) => compareKeys(a.key.key, b.key.key) || a.key.window.start - b.key.window.start);
  return {
    name,
    fetch: (key, windowStart) => {
      for (const p of parts()) {
        const v = p.fetch(key, windowStart);
        if (v !== undefined) return v;
      }
      return undefined;
    },
    fetchRange: (key, from, to) => parts().flatMap((p) => p.fetchRange(key, from, to)).sort((a, b) => a.window.start - b.window.start),
    fetchAll: (from, to) => byKeyThenStart(parts().flatMap((p) => p.fetchAll(from, to))),
    all: () => byKeyThenStart(parts().flatMap((p) => p.all())),
  };
}

/** One session store answering across several (an instance's tasks). */
export function combinedSessionStore<K, V>(name: string, parts: () => ReadOnlySessionStore<K, V>[]): ReadOnlySessionStore<K, V> {
  const byEnd = (list: KeyValue<Windowed<K>, V>[]): KeyValue<Windowed<K>, V>[] => list.sort((a, b) => a.key.window.end - b.key.window.end);
  return {
    name,
    fetch: (key) => byEnd(parts().flatMap((p) => p.fetch(key))),
    findSessions: (key, earliestEnd, latestStart) => byEnd(parts().flatMap((p) => p.findSessions(key, earliestEnd, latestStart))),
    all: () => parts().flatMap((p) => p.all()).sort((a, b) => compareKeys(a.key.key, b.key.key) || a.key.window.end - b.key.window.end),
  };
}

/** Orders keys of one store consistently (strings and numbers naturally, others by their JSON). */
function compareKeys(a: unknown, b: unknown): number {
  if (typeof a === 'number' && typeof b === 'number') return a - b;
  const x = typeof a === 'string' ? a : JSON.stringify(a);
  const y = typeof b === 'string' ? b : JSON.stringify(b);
  return x < y ? -1 : x > y ? 1 : 0;
}
