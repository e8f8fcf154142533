/**
 * Embedded key-value libraries for persistent state stores, on the workload a Kafka Streams
 * store sees: 200,000 keys of 16 bytes (big-endian counters) with 8-byte values.
 * - batch put: the keys in a shuffled order (a commit applies writes in the order of their last
 *   write, not in key order), 1,000 writes per transaction/batch, as one commit applies them;
 *   first on disk when the call returns (lmdb's default synchronous transaction, classic-level
 *   with `sync: true`), then, as a second row, written but flushed later (lmdb's NO_SYNC_FLUSH,
 *   classic-level's default);
 * - random get: every key once, shuffled, read synchronously where the library can;
 * - full ordered scan: every entry in key order (checked ascending, unsigned bytes);
 * - reopen and count: close, open again and count the keys by a key-only scan (the samsa store
 *   has no key-only scan: it counts `all()`).
 * The samsa store (PersistentKeyValueBytesStore, on lmdb) runs beside the bare libraries.
 * Each row is the median of the rounds (fresh temp directory per round, removed afterwards);
 * the libraries alternate within a round so drift hits both alike.
 *
 *   npx tsx bench/stateStores.bench.ts     (BENCH_ROUNDS, BENCH_STORE_KEYS to change the size)
 *
 * lmdb is a dependency. classic-level is measured when installed (`npm install --no-save
 * classic-level@^3`) and skipped otherwise, so this file type-checks and runs without it.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { open, TransactionFlags } from 'lmdb';
import type { RootDatabase } from 'lmdb';
import { PersistentKeyValueBytesStore } from '../src/streams/stores/persistentStore.ts';
import { measurement, median, report } from './harness.ts';
import type { Measurement } from './harness.ts';

const KEYS = Number(process.env.BENCH_STORE_KEYS ?? 200_000);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const BATCH = 1_000;
const KEY_BYTES = 16;
const VALUE_BYTES = 8;

/** The slice of classic-level's API measured here; typed locally because the package is optional. */
interface LevelDb {
  open(): Promise<void>;
  close(): Promise<void>;
  batch(ops: { type: 'put'; key: Uint8Array; value: Uint8Array }[], options?: { sync?: boolean }): Promise<void>;
  getSync(key: Uint8Array): Uint8Array | undefined;
  iterator(options?: { keys?: boolean; values?: boolean }): { nextv(size: number): Promise<[Uint8Array, Uint8Array][]>; close(): Promise<void> };
  keys(): { nextv(size: number): Promise<Uint8Array[]>; close(): Promise<void> };
}
type LevelConstructor = new (location: string, options: { keyEncoding: 'view'; valueEncoding: 'view' }) => LevelDb;

/** The operations of one library, each timed on the same keys. */
interface Candidate {
  readonly name: string;
  create(dir: string): Promise<void>;
  putBatches(batches: readonly (readonly Uint8Array[])[], value: Uint8Array): Promise<void>;
  getAll(keys: readonly Uint8Array[]): Promise<number>;
  scan(): Promise<number>;
  reopenAndCount(): Promise<number>;
  close(): Promise<void>;
}

/** A xorshift generator, so every run shuffles the same way. */
function shuffled<T>(items: readonly T[], seed: number): T[] {
  const out = [...items];
  let s = seed >>> 0 || 1;
  for (let i = out.length - 1; i > 0; i--) {
    s ^= s << 13; s >>>= 0; s ^= s >>> 17; s ^= s << 5; s >>>= 0;
    const j = s % (i + 1);
    [out[i], out[j]] = [out[j] as T, out[i] as T];
  }
  return out;
}

function keyOf(i: number): Uint8Array {
  const k = new Uint8Array(KEY_BYTES);
  new DataView(k.buffer).setBigUint64(8, BigInt(i));
  return k;
}

/** Fails the benchmark when a scan returns keys out of unsigned byte order: a wrong order would make the numbers meaningless. */
function checkAscending(previous: Uint8Array | undefined, key: Uint8Array): void {
  if (previous === undefined) return;
  for (let i = 0; i < Math.min(previous.length, key.length); i++) {
    if ((previous[i] as number) < (key[i] as number)) return;
    if ((previous[i] as number) > (key[i] as number)) throw new Error('scan returned keys out of byte order');
  }
  if (previous.length >= key.length) throw new Error('scan returned keys out of byte order');
}

function lmdbCandidate(name: string, flushInCommit: boolean): Candidate {
  let dir = '';
  let db: RootDatabase<Uint8Array, Uint8Array> | undefined;
  // Flushing in the commit is the persistent store's configuration (overlappingSync off); flushing after it needs overlappingSync.
  const openDb = (): RootDatabase<Uint8Array, Uint8Array> => open<Uint8Array, Uint8Array>({ path: dir, keyEncoding: 'binary', encoding: 'binary', overlappingSync: !flushInCommit });
  const live = (): RootDatabase<Uint8Array, Uint8Array> => db as RootDatabase<Uint8Array, Uint8Array>;
  return {
    name,
    async create(d) { dir = d; db = openDb(); },
    async putBatches(batches, value) {
      const store = live();
      // By default a synchronous transaction returns once flushed to disk; NO_SYNC_FLUSH returns at commit and flushes behind.
      const flags = flushInCommit ? undefined : TransactionFlags.NO_SYNC_FLUSH;
      for (const batch of batches) store.transactionSync(() => { for (const k of batch) store.putSync(k, value); }, flags);
    },
    async getAll(keys) {
      const store = live();
      let found = 0;
      for (const k of keys) if (store.getBinary(k) !== undefined) found++;
      return found;
    },
    async scan() {
      let n = 0;
      let previous: Uint8Array | undefined;
      for (const { key } of live().getRange({})) { if (n < 2 * BATCH) checkAscending(previous, key); previous = key; n++; }
      return n;
    },
    async reopenAndCount() {
      await live().close();
      db = openDb();
      let n = 0;
      for (const _ of live().getKeys({})) n++;
      return n;
    },
    async close() { await db?.close(); db = undefined; },
  };
}

function levelCandidate(name: string, ClassicLevel: LevelConstructor, sync: boolean): Candidate {
  let dir = '';
  let db: LevelDb | undefined;
  const live = (): LevelDb => db as LevelDb;
  const openDb = async (): Promise<LevelDb> => {
    const opened = new ClassicLevel(dir, { keyEncoding: 'view', valueEncoding: 'view' });
    await opened.open();
    return opened;
  };
  return {
    name,
    async create(d) { dir = d; db = await openDb(); },
    async putBatches(batches, value) {
      for (const batch of batches) await live().batch(batch.map((key) => ({ type: 'put', key, value })), { sync });
    },
    async getAll(keys) {
      const store = live();
      let found = 0;
      for (const k of keys) if (store.getSync(k) !== undefined) found++;
      return found;
    },
    async scan() {
      const it = live().iterator();
      let n = 0;
      let previous: Uint8Array | undefined;
      for (let chunk = await it.nextv(BATCH); chunk.length > 0; chunk = await it.nextv(BATCH)) {
        for (const [key] of chunk) { if (n < 2 * BATCH) checkAscending(previous, key); previous = key; n++; }
      }
      await it.close();
      return n;
    },
    async reopenAndCount() {
      await live().close();
      db = await openDb();
      const it = live().keys();
      let n = 0;
      for (let chunk = await it.nextv(BATCH); chunk.length > 0; chunk = await it.nextv(BATCH)) n += chunk.length;
      await it.close();
      return n;
    },
    async close() { await db?.close(); db = undefined; },
  };
}

/** The store samsa ships, over lmdb: what the wrapper (key prefix byte, copies, checks) costs over the bare library. */
function samsaCandidate(): Candidate {
  let dir = '';
  let store: PersistentKeyValueBytesStore | undefined;
  const live = (): PersistentKeyValueBytesStore => store as PersistentKeyValueBytesStore;
  return {
    name: 'PersistentKeyValueBytesStore',
    async create(d) { dir = d; store = new PersistentKeyValueBytesStore(dir); },
    async putBatches(batches, value) {
      for (const batch of batches) live().putAll(batch.map((key) => ({ key, value })));
    },
    async getAll(keys) {
      let found = 0;
      for (const k of keys) if (live().get(k) !== undefined) found++;
      return found;
    },
    async scan() {
      const entries = live().all();
      for (let i = 1; i < Math.min(entries.length, 2 * BATCH); i++) checkAscending(entries[i - 1]?.key, (entries[i] as { key: Uint8Array }).key);
      return entries.length;
    },
    async reopenAndCount() {
      live().close();
      store = new PersistentKeyValueBytesStore(dir);
      return live().all().length;
    },
    async close() { store?.close(); store = undefined; },
  };
}

/** classic-level's constructor when the package is installed, else undefined. */
async function loadClassicLevel(): Promise<LevelConstructor | undefined> {
  // A variable specifier keeps the optional package out of the type check.
  const specifier = 'classic-level';
  try {
    return ((await import(specifier)) as { ClassicLevel: LevelConstructor }).ClassicLevel;
  } catch {
    return undefined;
  }
}

async function seconds(body: () => Promise<number>, expected: number, what: string): Promise<number> {
  const start = process.hrtime.bigint();
  const n = await body();
  const elapsed = Number(process.hrtime.bigint() - start) / 1e9;
  if (n !== expected) throw new Error(`${what}: counted ${n}, expected ${expected}`);
  return elapsed;
}

/** Batch put, random get, full scan and reopen-and-count per candidate library, in records/s, median of the rounds. */
export async function runStateStoreBenchmarks(): Promise<Measurement[]> {
  const ClassicLevel = await loadClassicLevel();
  if (ClassicLevel === undefined) console.log('classic-level not installed: measuring lmdb only (npm install --no-save classic-level@^3 to compare)');
  const candidates: Candidate[] = [
    samsaCandidate(),
    lmdbCandidate('lmdb', true),
    lmdbCandidate('lmdb, flush after commit', false),
    ...(ClassicLevel === undefined ? [] : [levelCandidate('classic-level', ClassicLevel, true), levelCandidate('classic-level, no fsync', ClassicLevel, false)]),
  ];
  const keys = Array.from({ length: KEYS }, (_, i) => keyOf(i));
  const writeOrder = shuffled(keys, 17);
  const batches = Array.from({ length: Math.ceil(KEYS / BATCH) }, (_, b) => writeOrder.slice(b * BATCH, (b + 1) * BATCH));
  const readOrder = shuffled(keys, 91);
  const value = new Uint8Array(VALUE_BYTES).fill(7);
  const times = new Map<string, number[]>();
  const record = (name: string, s: number): void => { times.set(name, [...(times.get(name) ?? []), s]); };
  for (let round = 0; round < ROUNDS; round++) {
    for (const c of candidates) {
      const dir = mkdtempSync(join(tmpdir(), 'samsa-store-bench-'));
      try {
        await c.create(dir);
        record(`${c.name}: batch put`, await seconds(async () => { await c.putBatches(batches, value); return KEYS; }, KEYS, 'put'));
        // The second variant of each library differs only in when its writes reach the disk.
        if (!c.name.includes(',')) {
          record(`${c.name}: random get`, await seconds(() => c.getAll(readOrder), KEYS, 'get'));
          record(`${c.name}: full ordered scan`, await seconds(() => c.scan(), KEYS, 'scan'));
          record(`${c.name}: reopen and count`, await seconds(() => c.reopenAndCount(), KEYS, 'reopen'));
        }
      } finally {
        await c.close();
        rmSync(dir, { recursive: true, force: true });
      }
    }
  }
  return [...times].map(([name, s]) => measurement(name, KEYS, KEYS * (KEY_BYTES + VALUE_BYTES), median(s)));
}

if (import.meta.url === `file://${process.argv[1]}`) {
  report(`state stores: ${KEYS.toLocaleString('en-US')} keys of ${KEY_BYTES} B, ${VALUE_BYTES} B values, ${BATCH.toLocaleString('en-US')} writes per transaction, median of ${ROUNDS} rounds`, await runStateStoreBenchmarks(), 'stateStores.json');
}
