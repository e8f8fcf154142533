import { createRequire } from 'node:module';
import { describe, it, expect } from 'vitest';
import { test, fc } from '@fast-check/vitest';
import { ByteReader, readVarint, readVarlong, sizeOfVarint, sizeOfVarlong, writeVarint, writeVarlong } from '../../src/record/varint.ts';
import { CorruptRecordError, InvalidArgumentError } from '../../src/errors.ts';

interface KafkaJsEncoder {
  writeVarInt(v: number): KafkaJsEncoder;
  writeVarLong(v: number | string): KafkaJsEncoder;
  buffer: Buffer;
}
const require = createRequire(import.meta.url);
const Encoder = require('kafkajs/src/protocol/encoder.js') as new () => KafkaJsEncoder;

/** Reference zig-zag varlong in bigint arithmetic, independent of the implementation. */
function referenceVarlong(value: number): number[] {
  const v = BigInt(value);
  let zz = BigInt.asUintN(64, (v << 1n) ^ (v >> 63n));
  const out: number[] = [];
  while (zz >= 0x80n) {
    out.push(Number(zz & 0x7fn) | 0x80);
    zz >>= 7n;
  }
  out.push(Number(zz));
  return out;
}

function encodeVarint(value: number): number[] {
  const buf = new Uint8Array(5);
  return [...buf.subarray(0, writeVarint(buf, 0, value))];
}

function encodeVarlong(value: number): number[] {
  const buf = new Uint8Array(10);
  return [...buf.subarray(0, writeVarlong(buf, 0, value))];
}

function decodeVarint(bytes: number[]): number {
  return readVarint(new ByteReader(new Uint8Array(bytes)));
}

function decodeVarlong(bytes: number[]): number {
  return readVarlong(new ByteReader(new Uint8Array(bytes)));
}

describe('varint (int32)', () => {
  it('encodes the values of Kafka ByteUtilsTest', () => {
    expect(encodeVarint(0)).toEqual([0x00]);
    expect(encodeVarint(-1)).toEqual([0x01]);
    expect(encodeVarint(1)).toEqual([0x02]);
    expect(encodeVarint(63)).toEqual([0x7e]);
    expect(encodeVarint(-64)).toEqual([0x7f]);
    expect(encodeVarint(64)).toEqual([0x80, 0x01]);
    expect(encodeVarint(-65)).toEqual([0x81, 0x01]);
    expect(encodeVarint(8191)).toEqual([0xfe, 0x7f]);
    expect(encodeVarint(-8192)).toEqual([0xff, 0x7f]);
    expect(encodeVarint(8192)).toEqual([0x80, 0x80, 0x01]);
    expect(encodeVarint(2147483647)).toEqual([0xfe, 0xff, 0xff, 0xff, 0x0f]);
    expect(encodeVarint(-2147483648)).toEqual([0xff, 0xff, 0xff, 0xff, 0x0f]);
  });

  test.prop([fc.integer()])('round-trips every int32, matching KafkaJS bytes and sizeOfVarint', (value) => {
    const bytes = encodeVarint(value);
    expect(bytes.length).toBe(sizeOfVarint(value));
    expect(bytes).toEqual([...new Encoder().writeVarInt(value).buffer]);
    const r = new ByteReader(new Uint8Array([...bytes, 0xaa]));
    expect(readVarint(r)).toBe(value);
    expect(r.pos).toBe(bytes.length);
  });

  it('reads non-canonical (padded) encodings like Java does', () => {
    expect(decodeVarint([0x82, 0x80, 0x00])).toBe(1);
  });

  it('rejects truncated, over-long and overflowing varints with CorruptRecordError', () => {
    expect(() => decodeVarint([])).toThrow(CorruptRecordError);
    expect(() => decodeVarint([0x80, 0x80])).toThrow(/varint runs past the end/);
    expect(() => decodeVarint([0x80, 0x80, 0x80, 0x80, 0x80, 0x01])).toThrow(/longer than 5 bytes/);
    expect(() => decodeVarint([0xff, 0xff, 0xff, 0xff, 0x1f])).toThrow(/overflows 32 bits/);
  });

  it('never reads past the reader end', () => {
    const r = new ByteReader(new Uint8Array([0x02, 0x80, 0x01]), 1, 2);
    expect(() => readVarint(r)).toThrow(CorruptRecordError);
  });

  it('rejects values that are not int32', () => {
    const buf = new Uint8Array(10);
    expect(() => writeVarint(buf, 0, 2 ** 31)).toThrow(InvalidArgumentError);
    expect(() => writeVarint(buf, 0, 1.5)).toThrow(InvalidArgumentError);
    expect(() => writeVarint(buf, 0, Number.NaN)).toThrow(InvalidArgumentError);
  });
});

describe('varlong (safe-integer int64)', () => {
  const edges = [0, 1, -1, 63, -64, 64, 2 ** 30 - 1, -(2 ** 30), 2 ** 30, 2 ** 31, -(2 ** 31) - 1, 2 ** 32, 2 ** 35, -(2 ** 35), 2 ** 49, 2 ** 52, Number.MAX_SAFE_INTEGER, -Number.MAX_SAFE_INTEGER, Number.MAX_SAFE_INTEGER - 1];

  it('encodes edge values exactly like a bigint reference and KafkaJS', () => {
    for (const value of edges) {
      expect(encodeVarlong(value), String(value)).toEqual(referenceVarlong(value));
      expect(encodeVarlong(value), String(value)).toEqual([...new Encoder().writeVarLong(value).buffer]);
      expect(sizeOfVarlong(value), String(value)).toBe(referenceVarlong(value).length);
      expect(decodeVarlong(referenceVarlong(value)), String(value)).toBe(value);
    }
  });

  test.prop([fc.maxSafeInteger()])('round-trips every safe integer', (value) => {
    const bytes = encodeVarlong(value);
    expect(bytes).toEqual(referenceVarlong(value));
    expect(bytes.length).toBe(sizeOfVarlong(value));
    const r = new ByteReader(new Uint8Array([...bytes, 0x55]));
    expect(readVarlong(r)).toBe(value);
    expect(r.pos).toBe(bytes.length);
  });

  test.prop([fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 })])('small values encode like varints', (value) => {
    expect(encodeVarlong(value)).toEqual(encodeVarint(value));
  });

  it('rejects values outside the safe range on decode', () => {
    expect(() => decodeVarlong(referenceVarlong(Number.MAX_SAFE_INTEGER + 1))).toThrow(/outside the safe integer range/);
    // -(2^53) encodes as 2^54 - 1
    const minUnsafe = [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f];
    expect(() => decodeVarlong(minUnsafe)).toThrow(/outside the safe integer range/);
    // Long.MAX_VALUE as Kafka writes it (10 bytes)
    expect(() => decodeVarlong([0xfe, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01])).toThrow(CorruptRecordError);
  });

  it('rejects truncated and over-long varlongs', () => {
    expect(() => decodeVarlong([0x80])).toThrow(/varlong runs past the end/);
    expect(() => decodeVarlong([0x80, 0x80, 0x80, 0x80, 0x80])).toThrow(/varlong runs past the end/);
    expect(() => decodeVarlong(new Array<number>(10).fill(0x80).concat([0x00]))).toThrow(/longer than 10 bytes/);
  });

  it('rejects unsafe values on encode', () => {
    const buf = new Uint8Array(10);
    expect(() => writeVarlong(buf, 0, 2 ** 53)).toThrow(InvalidArgumentError);
    expect(() => writeVarlong(buf, 0, 0.5)).toThrow(InvalidArgumentError);
  });

  it('reuses one reader across ranges', () => {
    const r = new ByteReader(new Uint8Array([0x02]));
    expect(readVarlong(r)).toBe(1);
    r.reset(new Uint8Array([0x00, 0x03]), 1, 2);
    expect(readVarlong(r)).toBe(-2);
  });
});
