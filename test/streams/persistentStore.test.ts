/**
 * Persistent key-value stores: the in-memory store's order and scans (unsigned bytes, inclusive
 * ranges, prefix scans) on disk, contents surviving close and reopen, exactly-once buffering over
 * it (commit reaches the disk, abort does not), the `.checkpoint` file, and a model test of
 * random writes, commits, aborts and reopens against plain Maps.
 */
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { fc, test as fcTest } from '@fast-check/vitest';
import { ClosedError, InvalidArgumentError, StorageError } from '../../src/errors.ts';
import { int32, string } from '../../src/streams/serdes.ts';
import { InMemoryKeyValueBytesStore } from '../../src/streams/stores/keyValueStore.ts';
import type { KeyValue, TransactionalKeyValueStore } from '../../src/streams/stores/keyValueStore.ts';
import { CHECKPOINT_FILE, MAX_PERSISTENT_KEY_BYTES, PersistentKeyValueBytesStore, persistentKeyValueStore, readCheckpoint, writeCheckpoint } from '../../src/streams/stores/persistentStore.ts';

const enc = new TextEncoder();
const dec = new TextDecoder();
const b = (...xs: number[]): Uint8Array => Uint8Array.from(xs);
const bytesOf = (es: KeyValue<Uint8Array, Uint8Array>[]): number[][] => es.map((e) => [...e.key]);
const textOf = (es: KeyValue<Uint8Array, Uint8Array>[]): string[] => es.map((e) => dec.decode(e.key));

const dirs: string[] = [];
const open: { close(): void }[] = [];
function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'samsa-persistent-'));
  dirs.push(dir);
  return dir;
}
function bytesStore(dir = tempDir()): PersistentKeyValueBytesStore {
  const s = new PersistentKeyValueBytesStore(dir);
  open.push(s);
  return s;
}
function counts(dir: string): TransactionalKeyValueStore<string, number> {
  const s = persistentKeyValueStore('counts', { dir, keySerde: string(), valueSerde: int32(), changelogTopic: 'app-counts-changelog' });
  open.push(s);
  return s;
}
afterEach(() => {
  for (const s of open.splice(0)) s.close();
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

describe('PersistentKeyValueBytesStore: order and scans', () => {
  it('orders keys by unsigned bytes, a prefix first, the empty key included', () => {
    const s = bytesStore();
    for (const k of [b(0xff), b(1, 0), b(1), b(0x80), b(), b(0x7f, 0xff), b(0)]) s.put(k, b(k.length));
    expect(bytesOf(s.all())).toEqual([[], [0], [1], [1, 0], [0x7f, 0xff], [0x80], [0xff]]);
    expect(s.get(b())).toEqual(b(0));
    const first = s.all()[1] as KeyValue<Uint8Array, Uint8Array>;
    expect([first.key.constructor, first.value.constructor]).toEqual([Uint8Array, Uint8Array]);
    first.key[0] = 9;
    expect(bytesOf(s.all())[1]).toEqual([0]);
    expect(s.size).toBe(7);
  });

  it('gets, overwrites, deletes (put null or delete), and returns plain copies', () => {
    const s = bytesStore();
    const k = b(1);
    s.put(k, b(1));
    s.put(b(1), b(9));
    k[0] = 2;
    const got = s.get(b(1)) as Uint8Array;
    expect(got).toEqual(b(9));
    expect(got.constructor).toBe(Uint8Array);
    got[0] = 0;
    expect(s.get(b(1))).toEqual(b(9));
    expect(s.get(b(2))).toBeUndefined();
    expect(s.delete(b(1))).toEqual(b(9));
    expect(s.delete(b(1))).toBeUndefined();
    s.put(b(2), b());
    expect(s.get(b(2))).toEqual(b());
    s.put(b(2), null);
    expect(s.get(b(2))).toBeUndefined();
    expect(s.size).toBe(0);
  });

  it('ranges inclusively, with open bounds, and prefix-scans', () => {
    const s = bytesStore();
    for (const k of ['a', 'ab', 'abc', 'b', 'ba', 'c']) s.put(enc.encode(k), b(0));
    expect(textOf(s.range(enc.encode('ab'), enc.encode('b')))).toEqual(['ab', 'abc', 'b']);
    expect(textOf(s.range(undefined, enc.encode('ab')))).toEqual(['a', 'ab']);
    expect(textOf(s.range(enc.encode('bb')))).toEqual(['c']);
    expect(textOf(s.range(enc.encode('c'), enc.encode('a')))).toEqual([]);
    expect(textOf(s.range(enc.encode('b'), enc.encode('b')))).toEqual(['b']);
    expect(textOf(s.prefixScan(enc.encode('ab')))).toEqual(['ab', 'abc']);
    expect(textOf(s.prefixScan(enc.encode('b')))).toEqual(['b', 'ba']);
    expect(textOf(s.prefixScan(enc.encode('')))).toEqual(['a', 'ab', 'abc', 'b', 'ba', 'c']);
    expect(textOf(s.prefixScan(enc.encode('d')))).toEqual([]);
  });

  it('prefix-scans up to the top of the byte range', () => {
    const s = bytesStore();
    for (const k of [b(0xfe, 0xff), b(0xff), b(0xff, 0xff), b(0xff, 0xff, 0), b(0xff, 0xff, 0xff)]) s.put(k, b(1));
    expect(bytesOf(s.prefixScan(b(0xff, 0xff)))).toEqual([[0xff, 0xff], [0xff, 0xff, 0], [0xff, 0xff, 0xff]]);
    expect(bytesOf(s.prefixScan(b(0xfe)))).toEqual([[0xfe, 0xff]]);
    expect(bytesOf(s.range(b(0xff, 0xff)))).toEqual([[0xff, 0xff], [0xff, 0xff, 0], [0xff, 0xff, 0xff]]);
  });

  fcTest.prop([fc.array(fc.tuple(fc.uint8Array({ maxLength: 4 }), fc.option(fc.uint8Array({ maxLength: 2 }), { nil: null })), { maxLength: 40 }), fc.uint8Array({ maxLength: 3 }), fc.uint8Array({ maxLength: 3 })], { numRuns: 25 })(
    'answers get, range, prefixScan and all as the in-memory store does',
    (writes, x, y) => {
      const dir = tempDir();
      const s = new PersistentKeyValueBytesStore(dir);
      const m = new InMemoryKeyValueBytesStore();
      try {
        s.putAll(writes.map(([key, value]) => ({ key, value })));
        for (const [key, value] of writes) m.put(key, value);
        expect(s.size).toBe(m.size);
        expect(s.all()).toEqual(m.all());
        expect(s.range(x, y)).toEqual(m.range(x, y));
        expect(s.range(x)).toEqual(m.range(x));
        expect(s.range(undefined, y)).toEqual(m.range(undefined, y));
        expect(s.prefixScan(x)).toEqual(m.prefixScan(x));
        for (const [key] of writes) expect(s.get(key)).toEqual(m.get(key));
      } finally {
        s.close();
        rmSync(dir, { recursive: true, force: true });
      }
    },
  );
});

describe('PersistentKeyValueBytesStore: lifecycle and failures', () => {
  it('keeps its contents across close and reopen, and clears', () => {
    const dir = tempDir();
    const s = new PersistentKeyValueBytesStore(dir);
    s.putAll([{ key: b(2), value: b(20) }, { key: b(1), value: b(10) }, { key: b(3), value: null }]);
    s.close();
    s.close();
    expect(() => s.get(b(1))).toThrow(ClosedError);
    expect(() => s.put(b(1), b(1))).toThrow(ClosedError);
    const again = bytesStore(dir);
    expect(again.all()).toEqual([{ key: b(1), value: b(10) }, { key: b(2), value: b(20) }]);
    again.clear();
    expect(again.size).toBe(0);
    expect(readdirSync(dir).sort()).toEqual(['data.mdb', 'lock.mdb']);
  });

  it('writes all of a putAll or none of it', () => {
    const s = bytesStore();
    s.put(b(1), b(1));
    expect(() => s.putAll([{ key: b(2), value: b(2) }, { key: 'x' as unknown as Uint8Array, value: b(3) }])).toThrow(InvalidArgumentError);
    expect(() => s.putAll([{ key: b(1), value: null }, { key: new Uint8Array(MAX_PERSISTENT_KEY_BYTES + 1), value: b(3) }])).toThrow(InvalidArgumentError);
    expect(s.all()).toEqual([{ key: b(1), value: b(1) }]);
    s.putAll([]);
    expect(s.size).toBe(1);
  });

  it('holds keys up to the maximum length and refuses longer ones', () => {
    const s = bytesStore();
    const longest = new Uint8Array(MAX_PERSISTENT_KEY_BYTES).fill(7);
    s.put(longest, b(1));
    s.put(new Uint8Array(65).fill(8), b(2));
    expect(s.get(longest)).toEqual(b(1));
    expect(s.all().map((e) => e.key)).toEqual([longest, new Uint8Array(65).fill(8)]);
    expect(() => s.get(new Uint8Array(MAX_PERSISTENT_KEY_BYTES + 1))).toThrow(/at most 1977 bytes/);
    expect(() => s.put('a' as unknown as Uint8Array, b(1))).toThrow(InvalidArgumentError);
  });

  it('reports a directory it cannot open as a StorageError naming it', () => {
    const file = join(tempDir(), 'not-a-directory');
    writeFileSync(file, 'x');
    const error = (() => {
      try {
        new PersistentKeyValueBytesStore(file);
      } catch (e) {
        return e;
      }
    })();
    expect(error).toBeInstanceOf(StorageError);
    expect((error as StorageError).path).toBe(file);
  });
});

describe('TransactionalKeyValueStore over a persistent store', () => {
  it('applies a commit to the disk, and a reopened store has it', () => {
    const dir = tempDir();
    const s = counts(dir);
    s.put('a', 1);
    s.put('b', 2);
    expect(s.get('a')).toBe(1);
    expect(s.commit()).toEqual([{ key: 'a', value: 1, oldValue: null }, { key: 'b', value: 2, oldValue: null }]);
    s.delete('b');
    s.put('c', 3);
    s.commit();
    s.close();
    expect(() => s.get('a')).toThrow(ClosedError);
    const again = counts(dir);
    expect(again.all()).toEqual([{ key: 'a', value: 1 }, { key: 'c', value: 3 }]);
    expect(again.approximateNumEntries()).toBe(2);
  });

  it('leaves the disk untouched on abort, and a reopened store does not have the aborted writes', () => {
    const dir = tempDir();
    const s = counts(dir);
    s.put('a', 1);
    s.commit();
    s.put('a', 10);
    s.put('b', 2);
    s.abort();
    expect(s.all()).toEqual([{ key: 'a', value: 1 }]);
    s.put('z', 26);
    s.close();
    const again = counts(dir);
    expect(again.all()).toEqual([{ key: 'a', value: 1 }]);
  });

  it('restores changelog records in one transaction, tombstones deleting', () => {
    const dir = tempDir();
    const s = counts(dir);
    const k = (x: string): Uint8Array => string().serialize(x, 't') as Uint8Array;
    const v = (x: number): Uint8Array => int32().serialize(x, 't') as Uint8Array;
    s.restore([{ key: k('a'), value: v(1) }, { key: k('b'), value: v(2) }, { key: k('a'), value: null }]);
    expect(s.all()).toEqual([{ key: 'b', value: 2 }]);
    s.close();
    expect(counts(dir).get('b')).toBe(2);
  });
});

describe('checkpoint', () => {
  it('round-trips offsets in Kafka\'s format, atomically, and is empty when missing', () => {
    const dir = tempDir();
    expect(readCheckpoint(dir)).toEqual(new Map());
    const offsets = new Map([['app-counts-changelog-0', 42n], ['app-counts-changelog-11', 0n], ['other-3', 9_223_372_036_854_775_807n]]);
    writeCheckpoint(dir, offsets);
    expect(readFileSync(join(dir, CHECKPOINT_FILE), 'utf8')).toBe('0\n3\napp-counts-changelog 0 42\napp-counts-changelog 11 0\nother 3 9223372036854775807\n');
    expect(readCheckpoint(dir)).toEqual(offsets);
    writeCheckpoint(dir, new Map([['t-1', 5n]]));
    expect(readCheckpoint(dir)).toEqual(new Map([['t-1', 5n]]));
    expect(readdirSync(dir)).toEqual([CHECKPOINT_FILE]);
  });

  it('refuses what it cannot write', () => {
    const dir = tempDir();
    expect(() => writeCheckpoint(dir, new Map([['no partition', 1n]]))).toThrow(InvalidArgumentError);
    expect(() => writeCheckpoint(dir, new Map([['t-0', -1n]]))).toThrow(InvalidArgumentError);
    expect(existsSync(join(dir, CHECKPOINT_FILE))).toBe(false);
  });

  it.each([
    ['a wrong version', '1\n1\nt 0 5\n'],
    ['a count that does not match', '0\n2\nt 0 5\n'],
    ['a malformed line', '0\n1\nt 0\n'],
    ['a negative offset', '0\n1\nt 0 -5\n'],
    ['a cut-short last line', '0\n1\nt 0 5'],
    ['a duplicate entry', '0\n2\nt 0 5\nt 0 6\n'],
    ['an empty file', ''],
  ])('rejects a checkpoint with %s as a StorageError naming the file', (_, text) => {
    const dir = tempDir();
    writeFileSync(join(dir, CHECKPOINT_FILE), text);
    const error = (() => {
      try {
        readCheckpoint(dir);
      } catch (e) {
        return e;
      }
    })();
    expect(error).toBeInstanceOf(StorageError);
    expect((error as StorageError).path).toBe(join(dir, CHECKPOINT_FILE));
  });
});

type Op = { kind: 'put'; key: string; value: number } | { kind: 'delete'; key: string } | { kind: 'commit' } | { kind: 'abort' } | { kind: 'reopen' };
const KEYS = ['', 'a', 'ab', 'b', 'é', 'z'];
const op: fc.Arbitrary<Op> = fc.oneof(
  { weight: 4, arbitrary: fc.record({ kind: fc.constant('put' as const), key: fc.constantFrom(...KEYS), value: fc.integer({ min: -5, max: 5 }) }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('delete' as const), key: fc.constantFrom(...KEYS) }) },
  { weight: 1, arbitrary: fc.constant({ kind: 'commit' as const }) },
  { weight: 1, arbitrary: fc.constant({ kind: 'abort' as const }) },
  { weight: 1, arbitrary: fc.constant({ kind: 'reopen' as const }) },
);
const byBytes = (x: string, y: string): number => Buffer.compare(Buffer.from(x), Buffer.from(y));

describe('persistent store: model', () => {
  // A reopen is a restart: pending writes are lost, committed ones are on disk.
  fcTest.prop([fc.array(op, { maxLength: 60 })], { numRuns: 100 })('matches a committed Map plus a pending Map after every step, across reopens', (ops) => {
    const dir = tempDir();
    let s = persistentKeyValueStore('counts', { dir, keySerde: string(), valueSerde: int32(), changelogTopic: 'app-counts-changelog' });
    const committed = new Map<string, number>();
    let pending = new Map<string, number | null>();
    try {
      for (const o of ops) {
        if (o.kind === 'put') {
          s.put(o.key, o.value);
          pending.delete(o.key);
          pending.set(o.key, o.value);
        } else if (o.kind === 'delete') {
          const expected = pending.has(o.key) ? (pending.get(o.key) ?? undefined) : committed.get(o.key);
          expect(s.delete(o.key)).toBe(expected);
          pending.delete(o.key);
          pending.set(o.key, null);
        } else if (o.kind === 'commit') {
          for (const [k, v] of pending) {
            if (v === null) committed.delete(k);
            else committed.set(k, v);
          }
          s.commitQuietly();
          pending = new Map();
        } else {
          if (o.kind === 'abort') s.abort();
          else {
            s.close();
            s = persistentKeyValueStore('counts', { dir, keySerde: string(), valueSerde: int32(), changelogTopic: 'app-counts-changelog' });
          }
          pending = new Map();
        }
        const view = new Map(committed);
        for (const [k, v] of pending) {
          if (v === null) view.delete(k);
          else view.set(k, v);
        }
        for (const k of KEYS) expect(s.get(k)).toBe(view.get(k));
        expect(s.all()).toEqual([...view.keys()].sort(byBytes).map((k) => ({ key: k, value: view.get(k) })));
        expect(s.range('a', 'b')).toEqual([...view.keys()].filter((k) => byBytes(k, 'a') >= 0 && byBytes(k, 'b') <= 0).sort(byBytes).map((k) => ({ key: k, value: view.get(k) })));
        expect(s.approximateNumEntries()).toBe(view.size);
      }
    } finally {
      s.close();
    }
  });
});
