/**
 * Persistent key-value state stores, as Kafka Streams' `Stores.persistentKeyValueStore`, on LMDB
 * (the `lmdb` package: prebuilt binaries shipped as npm packages, synchronous API).
 *
 * - LMDB was chosen over LevelDB (classic-level) by bench/stateStores.bench.ts: faster at every
 *   measured operation, and synchronous opens, reads, scans and transactions, which a store that
 *   a task reads in the middle of processing a record needs.
 * - Order is Kafka's: LMDB compares keys as unsigned bytes, a prefix first. Every key is stored
 *   behind one 0x00 byte, because LMDB refuses empty keys and Kafka allows them; a shared first
 *   byte leaves the order as it was. So keys hold at most {@link MAX_PERSISTENT_KEY_BYTES} bytes.
 * - Durability: every write method returns after its transaction is committed and synced to
 *   disk, so a checkpoint written after a commit never runs ahead of the store.
 * - The `.checkpoint` file records the changelog offset each store of a task has applied, in
 *   Kafka's `OffsetCheckpoint` format, so a restart restores only from there.
 */
import { closeSync, fsyncSync, mkdirSync, openSync, readFileSync, renameSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { createRequire } from 'node:module';
import type * as Lmdb from 'lmdb';
import type { RootDatabase } from 'lmdb';
import { ClosedError, InvalidArgumentError, SamsaError, StorageError } from '../../errors.ts';
import { checkStoreOptions, compareBytes, TransactionalKeyValueStore } from './keyValueStore.ts';
import type { ChangelogRecord, KeyValue, KeyValueBytesStore, StoreOptions } from './keyValueStore.ts';

/** The longest key a persistent store holds: LMDB's limit with default pages, less the leading byte. */
export const MAX_PERSISTENT_KEY_BYTES = 1977;

/** The name of the changelog offsets file in a task's state directory, as in Kafka Streams. */
export const CHECKPOINT_FILE = '.checkpoint';

type Entry = KeyValue<Uint8Array, Uint8Array>;
type Db = RootDatabase<Uint8Array, Uint8Array>;

/**
 * lmdb's `open`, loaded on first use: a native module is loaded only by apps that keep their
 * state on disk (`stateDir`), not by everyone who imports samsa.
 */
let openLmdb: typeof Lmdb.open | undefined;
function lmdbOpen(): typeof Lmdb.open {
  openLmdb ??= (createRequire(import.meta.url)('lmdb') as typeof Lmdb).open;
  return openLmdb;
}

function requireBytes(what: string, x: unknown): asserts x is Uint8Array {
  if (!(x instanceof Uint8Array)) throw new InvalidArgumentError(what, 'expected a Uint8Array');
}

/** `key`, checked to be bytes LMDB can hold behind the leading byte. */
function checkedKey(what: string, key: Uint8Array): Uint8Array {
  requireBytes(what, key);
  if (key.length > MAX_PERSISTENT_KEY_BYTES) throw new InvalidArgumentError(what, `is ${key.length} bytes; a persistent store holds keys of at most ${MAX_PERSISTENT_KEY_BYTES} bytes`);
  return key;
}

/** A plain Uint8Array copy of target[start, end): a loop beats a subarray view for short keys. */
function copyOf(target: Uint8Array, start: number, end: number): Uint8Array {
  const out = new Uint8Array(end - start);
  if (end - start <= 64) for (let i = start; i < end; i++) out[i - start] = target[i] as number;
  else out.set(target.subarray(start, end));
  return out;
}

/**
 * lmdb's key hooks: the 0x00 byte is written into lmdb's own key buffer and read back as a plain
 * Uint8Array copy, so no call allocates a prefixed key and no scan allocates a view.
 */
const KEY_ENCODER = {
  writeKey(key: Uint8Array, target: Uint8Array, start: number): number {
    target[start] = 0;
    target.set(key, start + 1);
    return start + 1 + key.length;
  },
  readKey(target: Uint8Array, start: number, end: number): Uint8Array {
    return copyOf(target, start + 1, end);
  },
};

const EMPTY = new Uint8Array(0);

/** A plain Uint8Array over lmdb's returned Buffer (already a copy of its own), so results compare equal to the in-memory store's. */
function plain(bytes: Uint8Array): Uint8Array {
  return new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.length);
}

/** The first byte string after every extension of `prefix`, or undefined when there is none (all 0xff, or empty). */
function successor(prefix: Uint8Array): Uint8Array | undefined {
  let end = prefix.length;
  while (end > 0 && prefix[end - 1] === 0xff) end--;
  if (end === 0) return undefined;
  const out = prefix.slice(0, end);
  out[end - 1] = (out[end - 1] as number) + 1;
  return out;
}


/**
 * A {@link KeyValueBytesStore} in an LMDB environment in directory `dir` (files `data.mdb` and
 * `lock.mdb`), opened synchronously by the constructor, which creates the directory when missing.
 * Entries come back in unsigned byte order as fresh copies; every write is a synced transaction
 * ({@link putAll} makes many writes one). LMDB failures throw {@link StorageError} naming `dir`;
 * keys over {@link MAX_PERSISTENT_KEY_BYTES} bytes throw {@link InvalidArgumentError}; after
 * {@link close} every call throws {@link ClosedError}.
 */
export class PersistentKeyValueBytesStore implements KeyValueBytesStore {
  private readonly db: Db;
  private closed = false;

  constructor(readonly dir: string) {
    if (typeof dir !== 'string' || dir === '') throw new InvalidArgumentError('dir', 'a persistent store needs a directory');
    try {
      mkdirSync(dir, { recursive: true });
      // overlappingSync off: commits sync before returning, and close has no flush left to wait for.
      this.db = lmdbOpen()<Uint8Array, Uint8Array>({ path: dir, noSubdir: false, keyEncoder: KEY_ENCODER, encoding: 'binary', overlappingSync: false });
    } catch (e) {
      throw new StorageError(dir, 'open a state store in', { cause: e });
    }
  }

  /** Number of entries, from LMDB's statistics (no scan). */
  get size(): number {
    return this.guard('read the state store in', () => (this.db.getStats() as { entryCount: number }).entryCount);
  }

  /** The value of `key`, or undefined. */
  get(key: Uint8Array): Uint8Array | undefined {
    const k = checkedKey('key', key);
    return this.guard('read the state store in', () => {
      const value = this.db.getBinary(k);
      return value === undefined ? undefined : plain(value);
    });
  }

  /** Writes `value` for `key` in its own synced transaction; null deletes. */
  put(key: Uint8Array, value: Uint8Array | null): void {
    this.putAll([{ key, value }]);
  }

  /** Writes every record in one synced transaction, all or none: a failure (or an invalid record) leaves the store as it was. */
  putAll(records: Iterable<ChangelogRecord>): void {
    this.guard('write the state store in', () => {
      const iterator = records[Symbol.iterator]();
      let next = iterator.next();
      // No transaction (and no disk sync) for nothing to write.
      if (next.done === true) return;
      this.db.transactionSync(() => {
        for (; next.done !== true; next = iterator.next()) {
          const k = checkedKey('key', next.value.key);
          const value = next.value.value;
          if (value === null) this.db.removeSync(k);
          else {
            requireBytes('value', value);
            this.db.putSync(k, value);
          }
        }
      });
    });
  }

  /** Deletes `key` in its own synced transaction; returns the value it had, or undefined. */
  delete(key: Uint8Array): Uint8Array | undefined {
    const k = checkedKey('key', key);
    return this.guard('write the state store in', () =>
      this.db.transactionSync(() => {
        const old = this.db.getBinary(k);
        if (old !== undefined) this.db.removeSync(k);
        return old === undefined ? undefined : plain(old);
      }),
    );
  }

  /** Removes every entry, in one synced transaction. */
  clear(): void {
    this.guard('clear the state store in', () => this.db.clearSync());
  }

  /** Entries with from ≤ key ≤ to in byte order; an undefined bound is open; empty when from sorts after to. */
  range(from?: Uint8Array, to?: Uint8Array): Entry[] {
    const start = from === undefined ? EMPTY : checkedKey('from', from);
    let end: Uint8Array | undefined;
    if (to !== undefined) {
      // The first key after `to` is `to` + 0x00: nothing sorts between them, so an exclusive end there includes `to`.
      end = new Uint8Array(checkedKey('to', to).length + 1);
      end.set(to);
    }
    if (from !== undefined && to !== undefined && compareBytes(from, to) > 0) return [];
    return this.scan(start, end);
  }

  /** Entries whose key starts with `prefix`, in byte order. */
  prefixScan(prefix: Uint8Array): Entry[] {
    checkedKey('prefix', prefix);
    return this.scan(prefix, successor(prefix));
  }

  /** Every entry, in byte order. */
  all(): Entry[] {
    return this.scan(EMPTY, undefined);
  }

  /** Closes the LMDB environment; closing again does nothing. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    try {
      // Every write was a synced synchronous transaction, so nothing is pending and LMDB closes
      // within this call; its promise only reports that, and a failure there has nobody to tell.
      this.db.close().catch(() => undefined);
    } catch (e) {
      throw new StorageError(this.dir, 'close the state store in', { cause: e });
    }
  }

  /** Entries from `start` (inclusive; always given, since lmdb would pass its own default start key to the key hooks) up to `end` (exclusive; undefined: to the last). */
  private scan(start: Uint8Array, end: Uint8Array | undefined): Entry[] {
    return this.guard('read the state store in', () => {
      const out: Entry[] = [];
      for (const { key, value } of this.db.getRange(end === undefined ? { start } : { start, end })) out.push({ key, value: plain(value) });
      return out;
    });
  }

  /** Runs `body` on the open store; LMDB's errors become {@link StorageError}, samsa's pass through. */
  private guard<T>(operation: string, body: () => T): T {
    if (this.closed) throw new ClosedError(`persistent store in "${this.dir}"`);
    try {
      return body();
    } catch (e) {
      if (SamsaError.is(e)) throw e;
      throw new StorageError(this.dir, operation, { cause: e });
    }
  }
}

/**
 * A store named `name` over a {@link PersistentKeyValueBytesStore} in `dir`, with the contents it
 * had when last closed, and exactly-once buffering: writes reach the disk at commit, in one
 * transaction. Its changelog records go to `changelogTopic`, which the serdes are also called with.
 */
export function persistentKeyValueStore<K, V>(name: string, options: StoreOptions<K, V> & { dir: string }): TransactionalKeyValueStore<K, V> {
  checkStoreOptions(name, options);
  return new TransactionalKeyValueStore(name, new PersistentKeyValueBytesStore(options.dir), options.keySerde, options.valueSerde, options.changelogTopic);
}

const INT32_MAX = 2147483647n;
const INT64_MAX = 9223372036854775807n;
/** `<topic> <partition> <offset>`: Kafka topic names have no whitespace. */
const CHECKPOINT_LINE = /^(\S+) (\d+) (\d+)$/;
const TOPIC_PARTITION = /^(\S+)-(\d+)$/;

/**
 * Writes the changelog offsets of `offsets` (keyed `topic-partition`, offsets ≥ 0) to
 * `dir/.checkpoint` in Kafka's format (version `0`, the entry count, then `topic partition offset`
 * lines), through a synced temporary file renamed over the old one, as Kafka's
 * `OffsetCheckpointFile` does: a crash leaves the old file or the new one, never a mix.
 */
export function writeCheckpoint(dir: string, offsets: ReadonlyMap<string, bigint>): void {
  let text = `0\n${offsets.size}\n`;
  for (const [topicPartition, offset] of offsets) {
    const m = TOPIC_PARTITION.exec(topicPartition);
    if (m === null || BigInt(m[2] as string) > INT32_MAX) throw new InvalidArgumentError('offsets', `"${topicPartition}" is not a topic-partition`);
    if (typeof offset !== 'bigint' || offset < 0n || offset > INT64_MAX) throw new InvalidArgumentError('offsets', `the offset of "${topicPartition}" must be a bigint in [0, 2^63)`);
    text += `${m[1]} ${BigInt(m[2] as string)} ${offset}\n`;
  }
  const file = join(dir, CHECKPOINT_FILE);
  const temporary = `${file}.tmp`;
  try {
    mkdirSync(dir, { recursive: true });
    const fd = openSync(temporary, 'w');
    try {
      writeSync(fd, text);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(temporary, file);
  } catch (e) {
    throw new StorageError(file, 'write the checkpoint', { cause: e });
  }
  syncDirectory(dir);
}

/** Makes the rename itself durable; some platforms (Windows) cannot open a directory, and there the rename is all we have. */
function syncDirectory(dir: string): void {
  let fd: number | undefined;
  try {
    fd = openSync(dir, 'r');
    fsyncSync(fd);
  } catch {
    // Best effort, as Kafka's Utils.flushDir on platforms without directory handles.
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}

/**
 * The changelog offsets in `dir/.checkpoint`, keyed `topic-partition`; an empty map when there
 * is no such file. A file that cannot be read, or is not exactly what {@link writeCheckpoint}
 * writes, throws {@link StorageError} naming the file: a store must not trust a damaged checkpoint.
 */
export function readCheckpoint(dir: string): Map<string, bigint> {
  const file = join(dir, CHECKPOINT_FILE);
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    if ((e as { code?: unknown }).code === 'ENOENT') return new Map();
    throw new StorageError(file, 'read the checkpoint', { cause: e });
  }
  const corrupt = (reason: string): StorageError => new StorageError(file, 'read the checkpoint', { cause: new Error(`corrupt checkpoint: ${reason}`) });
  const lines = text.split('\n');
  if (lines[lines.length - 1] !== '') throw corrupt('the last line is cut short');
  lines.pop();
  if (lines[0] !== '0') throw corrupt(`version "${lines[0] ?? ''}", expected "0"`);
  if (lines[1] === undefined || !/^\d+$/.test(lines[1])) throw corrupt('no entry count');
  if (Number(lines[1]) !== lines.length - 2) throw corrupt(`${lines.length - 2} entries where the header says ${lines[1]}`);
  const offsets = new Map<string, bigint>();
  for (const [i, line] of lines.slice(2).entries()) {
    const m = CHECKPOINT_LINE.exec(line);
    if (m === null || BigInt(m[2] as string) > INT32_MAX || BigInt(m[3] as string) > INT64_MAX) throw corrupt(`line ${i + 3} is not "topic partition offset"`);
    const key = `${m[1]}-${BigInt(m[2] as string)}`;
    if (offsets.has(key)) throw corrupt(`${key} appears twice`);
    offsets.set(key, BigInt(m[3] as string));
  }
  return offsets;
}
