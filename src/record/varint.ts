/**
 * Protobuf-style zig-zag varints as Kafka writes them inside records (`ByteUtils.writeVarint` /
 * `writeVarlong`). Values are JavaScript numbers: varints are int32, varlongs are limited to the
 * safe-integer range (±(2^53 - 1)), which covers every timestamp and delta samsa produces.
 *
 * Writers take a target array and a position and return the new position; readers advance a
 * {@link ByteReader}. Neither allocates, because both sit on the record encode/decode hot path.
 */
import { CorruptRecordError, InvalidArgumentError } from '../errors.ts';

const TWO_POW_32 = 4294967296;
const TWO_POW_27 = 134217728;

/**
 * A read cursor over `bytes[pos, end)`. Readers advance `pos` and never read at or past `end`,
 * so a reader can be confined to one record batch inside a larger buffer.
 */
export class ByteReader {
  /** The bytes being read. */
  bytes: Uint8Array;
  /** Index of the next byte to read. */
  pos: number;
  /** Index one past the last readable byte. */
  end: number;

  constructor(bytes: Uint8Array, pos = 0, end = bytes.length) {
    this.bytes = bytes;
    this.pos = pos;
    this.end = end;
  }

  /** Re-points this reader at another range, so one reader can be reused without allocation. */
  reset(bytes: Uint8Array, pos: number, end: number): this {
    this.bytes = bytes;
    this.pos = pos;
    this.end = end;
    return this;
  }
}

/** Number of bytes {@link writeVarint} uses for `value` (1..5). `value` must be an int32. */
export function sizeOfVarint(value: number): number {
  // Zig-zag maps small magnitudes of either sign to small unsigned numbers.
  const v = ((value << 1) ^ (value >> 31)) >>> 0;
  if (v < 0x80) return 1;
  if (v < 0x4000) return 2;
  if (v < 0x200000) return 3;
  if (v < 0x10000000) return 4;
  return 5;
}

/** Number of bytes {@link writeVarlong} uses for `value` (1..10). `value` must be a safe integer. */
export function sizeOfVarlong(value: number): number {
  // Zig-zag without leaving float64: n = v >= 0 ? v : -v - 1, encoded = 2n + sign.
  const n = value >= 0 ? value : -value - 1;
  if (n < 0x40) return 1;
  if (n < 0x2000) return 2;
  if (n < 0x100000) return 3;
  if (n < 0x8000000) return 4;
  // Beyond 28 bits: count 7-bit groups of 2n (2n + 1 has the same length; 2n and /128 are exact).
  let bytes = 1;
  let v = n * 2;
  while (v >= 0x80) {
    v = Math.floor(v / 0x80);
    bytes++;
  }
  return bytes;
}

/**
 * Writes `value` (an int32) as a zig-zag varint at `bytes[pos]` and returns the position after it.
 * Throws {@link InvalidArgumentError} for a non-int32; the caller must leave room for 5 bytes.
 */
export function writeVarint(bytes: Uint8Array, pos: number, value: number): number {
  if ((value | 0) !== value) throw new InvalidArgumentError('value', `varint must be an int32, got ${value}`);
  let v = ((value << 1) ^ (value >> 31)) >>> 0;
  while (v >= 0x80) {
    bytes[pos++] = (v & 0x7f) | 0x80;
    v >>>= 7;
  }
  bytes[pos++] = v;
  return pos;
}

/**
 * Writes `value` (a safe integer) as a zig-zag varlong at `bytes[pos]` and returns the position
 * after it. Throws {@link InvalidArgumentError} for a non-safe-integer; the caller must leave room
 * for {@link sizeOfVarlong} bytes.
 */
export function writeVarlong(bytes: Uint8Array, pos: number, value: number): number {
  // The fast path covers |value| < 2^30: the zig-zag form then fits in 31 bits of int arithmetic.
  if ((value | 0) === value && value < 0x40000000 && value >= -0x40000000) {
    let v = ((value << 1) ^ (value >> 31)) >>> 0;
    while (v >= 0x80) {
      bytes[pos++] = (v & 0x7f) | 0x80;
      v >>>= 7;
    }
    bytes[pos++] = v;
    return pos;
  }
  if (!Number.isSafeInteger(value)) throw new InvalidArgumentError('value', `varlong must be a safe integer, got ${value}`);
  // 2n + sign does not fit float64 exactly above 2^53, so build it as two uint32 halves.
  const negative = value < 0;
  const n = negative ? -value - 1 : value;
  const nLo = n >>> 0;
  const nHi = Math.floor(n / TWO_POW_32);
  let lo = ((nLo << 1) | (negative ? 1 : 0)) >>> 0;
  let hi = ((nHi << 1) | (nLo >>> 31)) >>> 0;
  while (hi !== 0 || lo >= 0x80) {
    bytes[pos++] = (lo & 0x7f) | 0x80;
    lo = ((lo >>> 7) | (hi << 25)) >>> 0;
    hi >>>= 7;
  }
  bytes[pos++] = lo;
  return pos;
}

function truncated(r: ByteReader, what: string): CorruptRecordError {
  return new CorruptRecordError(`${what} runs past the end of its region (byte ${r.pos} of ${r.end})`, r.pos);
}

/**
 * Reads a zig-zag varint (int32) and advances `r.pos`. Throws {@link CorruptRecordError} when the
 * varint runs past `r.end`, is longer than 5 bytes, or does not fit 32 bits.
 */
export function readVarint(r: ByteReader): number {
  const bytes = r.bytes;
  let pos = r.pos;
  const end = r.end;
  if (pos >= end) throw truncated(r, 'varint');
  let b = bytes[pos++]!;
  if (b < 0x80) {
    r.pos = pos;
    return (b >>> 1) ^ -(b & 1);
  }
  let value = b & 0x7f;
  let shift = 7;
  for (;;) {
    if (pos >= end) {
      r.pos = pos;
      throw truncated(r, 'varint');
    }
    b = bytes[pos++]!;
    if (shift === 28) {
      // Fifth byte: only 4 payload bits remain in 32, and no continuation is allowed.
      if (b > 0x0f) {
        r.pos = pos;
        throw new CorruptRecordError('varint is longer than 5 bytes or overflows 32 bits', pos - 5);
      }
      value |= b << 28;
      break;
    }
    value |= (b & 0x7f) << shift;
    if (b < 0x80) break;
    shift += 7;
  }
  r.pos = pos;
  return (value >>> 1) ^ -(value & 1);
}

/**
 * Reads a zig-zag varlong and advances `r.pos`. Throws {@link CorruptRecordError} when it runs
 * past `r.end`, is longer than 10 bytes, or decodes outside the safe-integer range.
 */
export function readVarlong(r: ByteReader): number {
  const bytes = r.bytes;
  let pos = r.pos;
  const end = r.end;
  if (pos >= end) throw truncated(r, 'varlong');
  let b = bytes[pos++]!;
  if (b < 0x80) {
    r.pos = pos;
    return (b >>> 1) ^ -(b & 1);
  }
  // The first 4 bytes give 28 bits, exact in int32 arithmetic.
  let lo = b & 0x7f;
  let shift = 7;
  let done = false;
  while (shift < 28) {
    if (pos >= end) {
      r.pos = pos;
      throw truncated(r, 'varlong');
    }
    b = bytes[pos++]!;
    lo |= (b & 0x7f) << shift;
    shift += 7;
    if (b < 0x80) {
      done = true;
      break;
    }
  }
  if (done) {
    r.pos = pos;
    return (lo >>> 1) ^ -(lo & 1);
  }
  // Bits 28 and up, accumulated in float64 (exact while below 2^53).
  let hi = 0;
  let scale = 1;
  let count = 4;
  for (;;) {
    if (pos >= end) {
      r.pos = pos;
      throw truncated(r, 'varlong');
    }
    if (count === 10) {
      r.pos = pos;
      throw new CorruptRecordError('varlong is longer than 10 bytes', pos - 10);
    }
    b = bytes[pos++]!;
    count++;
    hi += (b & 0x7f) * scale;
    scale *= 128;
    if (b < 0x80) break;
  }
  r.pos = pos;
  // encoded = hi * 2^28 + lo; n = encoded >> 1 must stay below 2^53 to be exact and safe.
  if (hi >= 0x4000000) throw new CorruptRecordError('varlong is outside the safe integer range', pos - count);
  const n = hi * TWO_POW_27 + (lo >>> 1);
  const value = (lo & 1) === 0 ? n : -n - 1;
  if (value < -Number.MAX_SAFE_INTEGER) throw new CorruptRecordError('varlong is outside the safe integer range', pos - count);
  return value;
}
