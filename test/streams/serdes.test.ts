/**
 * The DSL's serdes: byte-exact agreement with Kafka's big-endian Integer/Long serializers and UTF-8
 * StringSerializer, lossless round trips, and every refusal surfacing as a SerdeError that names
 * the record (topic, partition, offset) and keeps the original error as its cause.
 */
import { describe, expect, it } from 'vitest';
import { fc, test as fcTest } from '@fast-check/vitest';
import { InvalidArgumentError, SerdeError } from '../../src/errors.ts';
import { bigint64, bytes, deserializeWith, int32, isSerde, json, serde, serializeWith, string } from '../../src/streams/serdes.ts';
import type { Serde } from '../../src/streams/serdes.ts';

const T = 'orders';

/** Runs `fn`, expecting a SerdeError; returns it for further checks. */
function serdeError(fn: () => unknown): SerdeError {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(SerdeError);
    const err = e as SerdeError;
    expect(err.code).toBe('SERDE_ERROR');
    expect(err.cause).toBeDefined();
    return err;
  }
  throw new Error('expected a SerdeError, nothing was thrown');
}

/** Deserializes through the runtime helper at partition 3, offset 42, expecting a SerdeError naming them. */
function deserializeRefused<V>(s: Serde<V>, data: Uint8Array): SerdeError {
  const err = serdeError(() => deserializeWith(s, 'value', data, T, 3, 42n));
  expect(err.message).toContain(`topic "${T}"`);
  expect(err.message).toContain('partition 3');
  expect(err.message).toContain('offset 42');
  expect(err.details()).toMatchObject({ operation: 'deserialize', part: 'value', topic: T, partition: 3, offset: '42' });
  return err;
}

function serializeRefused<V>(s: Serde<V>, value: V, part: 'key' | 'value' = 'key'): SerdeError {
  const err = serdeError(() => serializeWith(s, part, value, T));
  expect(err.message).toContain(`cannot serialize the ${part} of a record of topic "${T}"`);
  return err;
}

describe('int32', () => {
  const vectors: Array<[number, number[]]> = [
    [0, [0, 0, 0, 0]],
    [1, [0, 0, 0, 1]],
    [-1, [255, 255, 255, 255]],
    [256, [0, 0, 1, 0]],
    [2 ** 31 - 1, [0x7f, 0xff, 0xff, 0xff]],
    [-(2 ** 31), [0x80, 0, 0, 0]],
  ];
  it.each(vectors)('%d is written big-endian as Kafka IntegerSerializer writes it', (n, expected) => {
    expect([...int32().serialize(n, T)]).toEqual(expected);
    expect(int32().deserialize(Uint8Array.from(expected), T)).toBe(n);
  });

  it('reads from a window into a larger buffer', () => {
    const buf = Uint8Array.from([9, 9, 0, 0, 1, 0, 9]);
    expect(int32().deserialize(buf.subarray(2, 6), T)).toBe(256);
  });

  fcTest.prop([fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 })])('round-trips every int32', (n) => {
    const s = int32();
    expect(s.deserialize(s.serialize(n, T), T)).toBe(n);
  });

  it('refuses non-integers and out-of-range numbers', () => {
    for (const bad of [1.5, Number.NaN, Number.POSITIVE_INFINITY, 2 ** 31, -(2 ** 31) - 1]) {
      const err = serializeRefused(int32(), bad);
      expect(err.cause).toBeInstanceOf(Error);
    }
    expect(serializeRefused(int32(), 1.5).message).toContain('expects an integer');
    expect(serializeRefused(int32(), 2 ** 31).message).toContain('outside the int32 range');
  });

  it('refuses data that is not exactly 4 bytes', () => {
    for (const len of [0, 3, 5, 8]) {
      expect(deserializeRefused(int32(), new Uint8Array(len)).message).toContain(`exactly 4 bytes, got ${len}`);
    }
  });
});

describe('bigint64', () => {
  const vectors: Array<[bigint, number[]]> = [
    [0n, [0, 0, 0, 0, 0, 0, 0, 0]],
    [1n, [0, 0, 0, 0, 0, 0, 0, 1]],
    [-1n, [255, 255, 255, 255, 255, 255, 255, 255]],
    [2n ** 63n - 1n, [0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]],
    [-(2n ** 63n), [0x80, 0, 0, 0, 0, 0, 0, 0]],
    [0x0102030405060708n, [1, 2, 3, 4, 5, 6, 7, 8]],
  ];
  it.each(vectors)('%s is written big-endian as Kafka LongSerializer writes it', (n, expected) => {
    expect([...bigint64().serialize(n, T)]).toEqual(expected);
    expect(bigint64().deserialize(Uint8Array.from(expected), T)).toBe(n);
  });

  fcTest.prop([fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n })])('round-trips every int64', (n) => {
    const s = bigint64();
    expect(s.deserialize(s.serialize(n, T), T)).toBe(n);
  });

  it('refuses out-of-range values, numbers, and data that is not exactly 8 bytes', () => {
    expect(serializeRefused(bigint64(), 2n ** 63n).message).toContain('outside the int64 range');
    expect(serializeRefused(bigint64(), -(2n ** 63n) - 1n).message).toContain('outside the int64 range');
    expect(serializeRefused(bigint64(), 5 as unknown as bigint).message).toContain('expects a bigint');
    for (const len of [0, 4, 7, 9]) {
      expect(deserializeRefused(bigint64(), new Uint8Array(len)).message).toContain(`exactly 8 bytes, got ${len}`);
    }
  });
});

describe('string', () => {
  it('writes UTF-8, non-ASCII included', () => {
    const s = string();
    expect([...s.serialize('é€😀', T)]).toEqual([0xc3, 0xa9, 0xe2, 0x82, 0xac, 0xf0, 0x9f, 0x98, 0x80]);
    expect(s.deserialize(s.serialize('Grüße, 世界 🌍', T), T)).toBe('Grüße, 世界 🌍');
    expect(s.deserialize(new Uint8Array(0), T)).toBe('');
  });

  it('keeps a leading byte order mark, as Java does', () => {
    expect(string().deserialize(Uint8Array.from([0xef, 0xbb, 0xbf, 0x61]), T)).toBe('\uFEFFa');
  });

  fcTest.prop([fc.string({ unit: 'binary' })])('round-trips every well-formed string', (text) => {
    const s = string();
    expect(s.deserialize(s.serialize(text, T), T)).toBe(text);
  });

  fcTest.prop([fc.string({ unit: fc.nat({ max: 0xffff }).map((c) => String.fromCharCode(c)) })])('any UTF-16 string either round-trips exactly or is refused', (text) => {
    let data: Uint8Array | null;
    try {
      data = serializeWith(string(), 'value', text, T);
    } catch (e) {
      expect(e).toBeInstanceOf(SerdeError);
      expect((e as Error).message).toContain('unpaired');
      return;
    }
    expect(deserializeWith(string(), 'value', data, T)).toBe(text);
  });

  it('refuses invalid UTF-8 instead of replacing characters', () => {
    for (const bad of [[0xff], [0xc3], [0xed, 0xa0, 0x80], [0x61, 0x80]]) {
      expect(deserializeRefused(string(), Uint8Array.from(bad)).message).toContain('not valid UTF-8');
    }
  });

  it('refuses unpaired surrogates and non-strings', () => {
    expect(serializeRefused(string(), 'a\uD800b').message).toContain('unpaired');
    expect(serializeRefused(string(), 42 as unknown as string).message).toContain('expects a string');
  });
});

describe('json', () => {
  it('round-trips nested objects', () => {
    const s = json<{ id: number; tags: string[]; nested: { ok: boolean; n: null; deep: Array<{ é: string }> } }>();
    const value = { id: 7, tags: ['a', 'b'], nested: { ok: true, n: null, deep: [{ é: 'ü' }] } };
    const data = s.serialize(value, T);
    expect(new TextDecoder().decode(data)).toBe(JSON.stringify(value));
    expect(s.deserialize(data, T)).toEqual(value);
  });

  it('refuses bytes anywhere (JSON would turn them into an object), pointing to bytes()', () => {
    expect(serializeRefused(json(), new Uint8Array([1, 2]), 'value').message).toContain('JSON cannot hold bytes (a Uint8Array); give this key or value a bytes() serde');
    expect(serializeRefused(json(), { blob: new Uint8Array(1) }, 'value').message).toContain('at property "blob"');
  });

  it('refuses a bigint anywhere, naming where', () => {
    expect(serializeRefused(json(), { a: { count: 1n } }, 'value').message).toContain('bigint 1 (at property "count")');
    expect(serializeRefused(json(), 5n, 'value').message).toContain('JSON cannot hold bigint 5');
  });

  it('refuses a top-level value JSON cannot hold', () => {
    expect(serializeRefused(json(), undefined, 'value').message).toContain('JSON cannot hold undefined');
    expect(serializeRefused(json(), () => 1, 'value').message).toContain('JSON cannot hold function');
  });

  it('refuses malformed JSON and invalid UTF-8', () => {
    expect(deserializeRefused(json(), new TextEncoder().encode('{"a":')).cause).toBeInstanceOf(SyntaxError);
    expect(deserializeRefused(json(), Uint8Array.from([0x22, 0xff, 0x22])).message).toContain('not valid UTF-8');
  });
});

describe('bytes', () => {
  it('is the identity, without copying', () => {
    const data = Uint8Array.from([1, 2, 3]);
    expect(bytes().serialize(data, T)).toBe(data);
    expect(bytes().deserialize(data, T)).toBe(data);
  });

  it('refuses what is not a Uint8Array', () => {
    expect(serializeRefused(bytes(), 'abc' as unknown as Uint8Array).message).toContain('expects a Uint8Array');
  });
});

describe('serde(custom)', () => {
  const upper = { serialize: (v: string) => new TextEncoder().encode(v.toUpperCase()), deserialize: (b: Uint8Array) => new TextDecoder().decode(b).toLowerCase() };

  it('wraps user functions', () => {
    const s = serde(upper);
    expect(isSerde(s)).toBe(true);
    expect(s.deserialize(s.serialize('abc', T), T)).toBe('abc');
  });

  it('passes the topic to the user functions', () => {
    const topics: string[] = [];
    const s = serde({ serialize: (_v: number, topic: string) => (topics.push(topic), new Uint8Array(1)), deserialize: (_b: Uint8Array, topic: string) => (topics.push(topic), 0) });
    s.deserialize(s.serialize(1, 'a'), 'b');
    expect(topics).toEqual(['a', 'b']);
  });

  it('refuses a missing function, naming it', () => {
    expect(() => serde({ serialize: upper.serialize } as unknown as typeof upper)).toThrow(InvalidArgumentError);
    expect(() => serde({ serialize: upper.serialize } as unknown as typeof upper)).toThrow(/"serde\.deserialize"/);
    expect(() => serde({ deserialize: upper.deserialize } as unknown as typeof upper)).toThrow(/"serde\.serialize"/);
    expect(() => serde(null as unknown as typeof upper)).toThrow(InvalidArgumentError);
  });

  it('refuses, at its first record, a serialize that returns a string', () => {
    const s = serde({ serialize: (v: string) => v as unknown as Uint8Array, deserialize: upper.deserialize });
    const err = serializeRefused(s, 'abc', 'value');
    expect(err.message).toContain('returned a string instead of a Uint8Array');
    expect(err.cause).toBeInstanceOf(TypeError);
  });

  it('keeps a user error as the cause', () => {
    const boom = new Error('boom');
    const s = serde<string>({ serialize: () => { throw boom; }, deserialize: () => { throw boom; } });
    expect(serializeRefused(s, 'x').cause).toBe(boom);
    expect(deserializeRefused(s, new Uint8Array(1)).cause).toBe(boom);
  });
});

describe('serializeWith / deserializeWith', () => {
  const never: Serde<string> = { serialize: () => { throw new Error('called'); }, deserialize: () => { throw new Error('called'); } };

  it('pass null through untouched, never calling the serde', () => {
    expect(serializeWith(never, 'key', null, T)).toBeNull();
    expect(serializeWith(never, 'value', null, T)).toBeNull();
    expect(deserializeWith(never, 'key', null, T, 0, 0n)).toBeNull();
    expect(deserializeWith(never, 'value', null, T)).toBeNull();
  });

  it('refuse a raw serde returning something other than bytes', () => {
    const raw = { serialize: () => 'nope', deserialize: () => 'x' } as unknown as Serde<string>;
    const err = serializeRefused(raw, 'x');
    expect(err.cause).toBeInstanceOf(TypeError);
    expect(err.message).toContain('instead of a Uint8Array');
  });

  it('omit partition and offset when they are not known', () => {
    const err = serdeError(() => deserializeWith(int32(), 'key', new Uint8Array(1), T));
    expect(err.message).toBe(`cannot deserialize the key of a record of topic "${T}": int32 data must be exactly 4 bytes, got 1`);
  });
});

describe('isSerde', () => {
  it('recognises the built-ins and refuses look-alikes', () => {
    for (const s of [string(), json(), bytes(), int32(), bigint64()]) expect(isSerde(s)).toBe(true);
    for (const x of [null, undefined, 1, 'serde', {}, { serialize() {} }, { serialize: 1, deserialize() {} }]) expect(isSerde(x)).toBe(false);
  });
});
