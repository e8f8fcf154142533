/**
 * In-memory key-value stores: Kafka's serialized-key byte order, inclusive ranges and prefix
 * scans, and exactly-once buffering (read-your-writes overlay, commit, abort, changelog, restore),
 * finished by a model test of random write/commit/abort sequences against two plain Maps.
 */
import { describe, expect, it } from 'vitest';
import { fc, test as fcTest } from '@fast-check/vitest';
import { ClosedError, InvalidArgumentError, SerdeError } from '../../src/errors.ts';
import { int32, json, string } from '../../src/streams/serdes.ts';
import { InMemoryKeyValueBytesStore, inMemoryKeyValueStore } from '../../src/streams/stores/keyValueStore.ts';
import type { KeyValue, StoreChange, TransactionalKeyValueStore } from '../../src/streams/stores/keyValueStore.ts';

const enc = new TextEncoder();
const b = (...xs: number[]): Uint8Array => Uint8Array.from(xs);

function strings(): TransactionalKeyValueStore<string, number> {
  return inMemoryKeyValueStore('counts', { keySerde: string(), valueSerde: int32(), changelogTopic: 'app-counts-changelog' });
}
const keys = <K, V>(entries: KeyValue<K, V>[]): K[] => entries.map((e) => e.key);

describe('InMemoryKeyValueBytesStore', () => {
  it('orders keys by unsigned bytes, a prefix first', () => {
    const s = new InMemoryKeyValueBytesStore();
    for (const k of [b(0xff), b(1, 0), b(1), b(0x80), b(), b(0x7f, 0xff)]) s.put(k, b(k.length));
    expect(s.all().map((e) => [...e.key])).toEqual([[], [1], [1, 0], [0x7f, 0xff], [0x80], [0xff]]);
    expect(s.size).toBe(6);
  });

  it('gets, overwrites, deletes (put null or delete) and keeps values as given', () => {
    const s = new InMemoryKeyValueBytesStore();
    const v = b(9);
    s.put(b(1), b(1));
    s.put(b(1), v);
    expect(s.get(b(1))).toBe(v);
    expect(s.delete(b(1))).toBe(v);
    expect(s.delete(b(1))).toBeUndefined();
    s.put(b(2), b(2));
    s.put(b(2), null);
    expect(s.get(b(2))).toBeUndefined();
    expect(s.size).toBe(0);
  });

  it('copies keys, so mutating a key after put changes nothing', () => {
    const s = new InMemoryKeyValueBytesStore();
    const k = b(5);
    s.put(k, b(1));
    k[0] = 6;
    expect(s.get(b(5))).toEqual(b(1));
    expect(s.get(b(6))).toBeUndefined();
  });

  it('ranges inclusively, with open bounds, and prefix-scans', () => {
    const s = new InMemoryKeyValueBytesStore();
    for (const k of ['a', 'ab', 'abc', 'b', 'ba', 'c']) s.put(enc.encode(k), b(0));
    const ks = (es: KeyValue<Uint8Array, Uint8Array>[]): string[] => es.map((e) => new TextDecoder().decode(e.key));
    expect(ks(s.range(enc.encode('ab'), enc.encode('b')))).toEqual(['ab', 'abc', 'b']);
    expect(ks(s.range(undefined, enc.encode('ab')))).toEqual(['a', 'ab']);
    expect(ks(s.range(enc.encode('bb')))).toEqual(['c']);
    expect(ks(s.range(enc.encode('c'), enc.encode('a')))).toEqual([]);
    expect(ks(s.prefixScan(enc.encode('ab')))).toEqual(['ab', 'abc']);
    expect(ks(s.prefixScan(enc.encode('b')))).toEqual(['b', 'ba']);
    expect(ks(s.prefixScan(enc.encode('')))).toEqual(['a', 'ab', 'abc', 'b', 'ba', 'c']);
    expect(ks(s.prefixScan(enc.encode('d')))).toEqual([]);
  });

  it('handles keys longer than one encoding chunk', () => {
    const s = new InMemoryKeyValueBytesStore();
    const long = new Uint8Array(20_000).map((_, i) => i % 256);
    s.put(long, b(1));
    expect(s.all()[0]?.key).toEqual(long);
  });

  it('refuses keys that are not bytes', () => {
    expect(() => new InMemoryKeyValueBytesStore().put('a' as unknown as Uint8Array, b(1))).toThrow(InvalidArgumentError);
  });
});

describe('TransactionalKeyValueStore: order and reads', () => {
  it('orders string keys by their UTF-8 bytes: a < ab < b', () => {
    const s = strings();
    for (const k of ['b', 'ab', 'a', 'é', 'B']) s.put(k, 1);
    s.commit();
    expect(keys(s.all())).toEqual(['B', 'a', 'ab', 'b', 'é']);
  });

  it('orders int32 keys by their big-endian bytes, so -1 sorts after 1, as in Kafka', () => {
    const s = inMemoryKeyValueStore('ints', { keySerde: int32(), valueSerde: string(), changelogTopic: 'ints-changelog' });
    for (const k of [-1, 1, 0, 256, -(2 ** 31), 2 ** 31 - 1]) s.put(k, String(k));
    expect(keys(s.all())).toEqual([0, 1, 256, 2 ** 31 - 1, -(2 ** 31), -1]);
    s.commit();
    expect(keys(s.range(1, -(2 ** 31)))).toEqual([1, 256, 2 ** 31 - 1, -(2 ** 31)]);
    expect(keys(s.range(-1, 1))).toEqual([]);
  });

  it('ranges inclusively with open bounds, and prefix-scans with another serde', () => {
    const s = strings();
    for (const k of ['a', 'ab', 'abc', 'b', 'c']) s.put(k, k.length);
    s.commit();
    expect(s.range('ab', 'b')).toEqual([{ key: 'ab', value: 2 }, { key: 'abc', value: 3 }, { key: 'b', value: 1 }]);
    expect(keys(s.range(undefined, 'ab'))).toEqual(['a', 'ab']);
    expect(keys(s.range('abd'))).toEqual(['b', 'c']);
    expect(keys(s.range())).toEqual(['a', 'ab', 'abc', 'b', 'c']);
    expect(keys(s.prefixScan('ab', string()))).toEqual(['ab', 'abc']);
    expect(s.approximateNumEntries()).toBe(5);
  });
});

describe('TransactionalKeyValueStore: exactly-once buffering', () => {
  it('reads its own writes, tombstones hiding committed keys, in range and prefixScan too', () => {
    const s = strings();
    for (const k of ['a', 'ab', 'b', 'c']) s.put(k, 1);
    s.commit();
    s.put('ab', 2);
    s.delete('b');
    s.put('aa', 3);
    s.put('abz', 4);
    expect(s.get('ab')).toBe(2);
    expect(s.get('b')).toBeUndefined();
    expect(s.all()).toEqual([{ key: 'a', value: 1 }, { key: 'aa', value: 3 }, { key: 'ab', value: 2 }, { key: 'abz', value: 4 }, { key: 'c', value: 1 }]);
    expect(keys(s.range('aa', 'c'))).toEqual(['aa', 'ab', 'abz', 'c']);
    expect(s.prefixScan('ab', string())).toEqual([{ key: 'ab', value: 2 }, { key: 'abz', value: 4 }]);
    expect(s.approximateNumEntries()).toBe(5);
  });

  it('abort drops pending writes and leaves the committed state untouched', () => {
    const s = strings();
    s.put('a', 1);
    s.commit();
    const seen: StoreChange<string, number>[] = [];
    s.changes$.subscribe((c) => seen.push(c));
    s.put('a', 2);
    s.delete('a');
    s.put('b', 3);
    s.abort();
    expect(s.all()).toEqual([{ key: 'a', value: 1 }]);
    expect(s.pendingChangelog()).toEqual([]);
    expect(seen).toEqual([]);
  });

  it('commit applies, emits and returns changes with their old values', () => {
    const s = strings();
    s.put('a', 1);
    s.put('b', 2);
    s.commit();
    const seen: StoreChange<string, number>[] = [];
    s.changes$.subscribe((c) => seen.push(c));
    s.put('a', 10);
    s.delete('b');
    s.put('c', 3);
    s.delete('never-there');
    const changes = s.commit();
    expect(changes).toEqual([{ key: 'a', value: 10, oldValue: 1 }, { key: 'b', value: null, oldValue: 2 }, { key: 'c', value: 3, oldValue: null }]);
    expect(seen).toEqual(changes);
    expect(s.all()).toEqual([{ key: 'a', value: 10 }, { key: 'c', value: 3 }]);
    expect(s.pendingChangelog()).toEqual([]);
    expect(s.commit()).toEqual([]);
  });

  it('keeps only the last write of each key in the changelog, in the order of last writes', () => {
    const s = strings();
    s.put('a', 1);
    s.put('b', 2);
    s.put('a', 3);
    s.delete('c');
    s.put('b', null);
    const log = s.pendingChangelog().map((r) => [new TextDecoder().decode(r.key), r.value === null ? null : [...r.value]]);
    expect(log).toEqual([['a', [0, 0, 0, 3]], ['c', null], ['b', null]]);
  });

  it('putIfAbsent writes only when absent, seeing pending writes and tombstones', () => {
    const s = strings();
    expect(s.putIfAbsent('a', 1)).toBeUndefined();
    expect(s.putIfAbsent('a', 2)).toBe(1);
    s.commit();
    s.delete('a');
    expect(s.putIfAbsent('a', 3)).toBeUndefined();
    expect(s.get('a')).toBe(3);
  });

  it('restores from changelog records without emitting', () => {
    const source = strings();
    source.put('a', 1);
    source.put('b', 2);
    const first = source.pendingChangelog();
    source.commit();
    source.delete('a');
    source.put('c', 3);
    const second = source.pendingChangelog();

    const s = strings();
    const seen: unknown[] = [];
    s.changes$.subscribe((c) => seen.push(c));
    s.restore([...first, ...second]);
    expect(s.all()).toEqual([{ key: 'b', value: 2 }, { key: 'c', value: 3 }]);
    expect(s.pendingChangelog()).toEqual([]);
    expect(seen).toEqual([]);
  });

  it('round-trips json values', () => {
    const s = inMemoryKeyValueStore('docs', { keySerde: string(), valueSerde: json<{ n: number[] }>(), changelogTopic: 'docs-changelog' });
    s.put('x', { n: [1, 2] });
    expect(s.commit()).toEqual([{ key: 'x', value: { n: [1, 2] }, oldValue: null }]);
  });
});

describe('TransactionalKeyValueStore: refusals', () => {
  it('refuses null keys, as Kafka stores do', () => {
    const s = strings();
    expect(() => s.put(null as unknown as string, 1)).toThrow(InvalidArgumentError);
    expect(() => s.get(undefined as unknown as string)).toThrow(/refuses null keys/);
    expect(() => s.delete(null as unknown as string)).toThrow(InvalidArgumentError);
  });

  it('wraps serde failures in SerdeError naming the changelog topic', () => {
    const s = strings();
    expect(() => s.put('a', 1.5)).toThrow(SerdeError);
    expect(() => s.put('a', 1.5)).toThrow(/topic "app-counts-changelog"/);
    expect(s.pendingChangelog()).toEqual([]);
  });

  it('throws ClosedError from every call after close, and completes changes$', () => {
    const s = strings();
    s.put('a', 1);
    let completed = false;
    s.changes$.subscribe({ complete: () => (completed = true) });
    s.close();
    s.close();
    expect(completed).toBe(true);
    const calls: Array<() => unknown> = [() => s.get('a'), () => s.put('a', 1), () => s.putIfAbsent('a', 1), () => s.delete('a'), () => s.range(), () => s.prefixScan('a', string()), () => s.all(), () => s.approximateNumEntries(), () => s.pendingChangelog(), () => s.commit(), () => s.abort(), () => s.restore([])];
    for (const call of calls) {
      expect(call).toThrow(ClosedError);
      expect(call).toThrow('store "counts" is closed');
    }
  });

  it('validates the factory options', () => {
    expect(() => inMemoryKeyValueStore('', { keySerde: string(), valueSerde: int32(), changelogTopic: 't' })).toThrow(InvalidArgumentError);
    expect(() => inMemoryKeyValueStore('s', { keySerde: {} as never, valueSerde: int32(), changelogTopic: 't' })).toThrow(/keySerde/);
    expect(() => inMemoryKeyValueStore('s', { keySerde: string(), valueSerde: int32(), changelogTopic: '' })).toThrow(/changelogTopic/);
  });
});

type Op = { kind: 'put'; key: string; value: number } | { kind: 'delete'; key: string } | { kind: 'commit' } | { kind: 'abort' };
const KEYS = ['', 'a', 'ab', 'b', 'é', 'z'];
const op: fc.Arbitrary<Op> = fc.oneof(
  { weight: 4, arbitrary: fc.record({ kind: fc.constant('put' as const), key: fc.constantFrom(...KEYS), value: fc.integer({ min: -5, max: 5 }) }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('delete' as const), key: fc.constantFrom(...KEYS) }) },
  { weight: 1, arbitrary: fc.constant({ kind: 'commit' as const }) },
  { weight: 1, arbitrary: fc.constant({ kind: 'abort' as const }) },
);
const byBytes = (x: string, y: string): number => Buffer.compare(Buffer.from(x), Buffer.from(y));

describe('TransactionalKeyValueStore: model', () => {
  fcTest.prop([fc.array(op, { maxLength: 60 })])('matches a committed Map plus a pending Map after every step', (ops) => {
    const s = strings();
    const committed = new Map<string, number>();
    let pending = new Map<string, number | null>();
    const seen: StoreChange<string, number>[] = [];
    s.changes$.subscribe((c) => seen.push(c));
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
      } else if (o.kind === 'abort') {
        s.abort();
        pending = new Map();
      } else {
        const expected: StoreChange<string, number>[] = [];
        for (const [k, v] of pending) {
          const old = committed.get(k) ?? null;
          if (v === null && old === null) continue;
          expected.push({ key: k, value: v, oldValue: old });
          if (v === null) committed.delete(k);
          else committed.set(k, v);
        }
        seen.length = 0;
        expect(s.commit()).toEqual(expected);
        expect(seen).toEqual(expected);
        pending = new Map();
      }
      const view = new Map(committed);
      for (const [k, v] of pending) {
        if (v === null) view.delete(k);
        else view.set(k, v);
      }
      for (const k of KEYS) expect(s.get(k)).toBe(view.get(k));
      expect(s.all()).toEqual([...view.keys()].sort(byBytes).map((k) => ({ key: k, value: view.get(k) })));
      expect(s.approximateNumEntries()).toBe(view.size);
      expect(s.pendingChangelog().length).toBe(pending.size);
    }
  });
});
