/**
 * Serdes of the streams DSL: how keys and values become record bytes and back, byte-compatible
 * with Kafka's own (`Serdes.String()`, `Serdes.Integer()`, `Serdes.Long()`, `Serdes.ByteArray()`),
 * so a samsa topology and a Kafka Streams application can read each other's topics.
 *
 * A serde refuses what it cannot represent exactly (invalid UTF-8, a bigint in JSON, a number out
 * of range) rather than writing something that reads back different. The runtime calls serdes
 * only through {@link serializeWith} and {@link deserializeWith}, which turn any failure into a
 * {@link SerdeError} that says which record it was.
 */
import { InvalidArgumentError, SerdeError } from '../errors.ts';

/** Turns a key or value of type T into bytes and back. Never called with null: null keys and values (tombstones) pass through the runtime as null, as in Kafka. */
export interface Serde<T> {
  serialize(value: T, topic: string): Uint8Array;
  deserialize(bytes: Uint8Array, topic: string): T;
}

const encoder = new TextEncoder();
// fatal: invalid UTF-8 throws instead of becoming U+FFFD; ignoreBOM: a leading BOM is kept, as Java's decoder keeps it.
const decoder = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });
// With the u flag a surrogate pair is one code point, so this matches only unpaired surrogates.
const LONE_SURROGATE = /[\uD800-\uDFFF]/u;

const INT32_MIN = -(2 ** 31);
const INT32_MAX = 2 ** 31 - 1;
const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;

function describe(x: unknown): string {
  if (x === null) return 'null';
  if (x instanceof Uint8Array) return `a ${x.constructor.name}`;
  if (typeof x === 'object') return `an object (${(x as object).constructor?.name ?? 'no prototype'})`;
  if (typeof x === 'string') return 'a string';
  return `${typeof x} ${String(x)}`;
}

function view(bytes: Uint8Array): DataView {
  // Honour byteOffset: the bytes may be a window into a larger record batch buffer.
  return new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

function requireLength(bytes: Uint8Array, length: number, kind: string): void {
  if (!(bytes instanceof Uint8Array)) throw new TypeError(`expected bytes, got ${describe(bytes)}`);
  if (bytes.length !== length) throw new RangeError(`${kind} data must be exactly ${length} bytes, got ${bytes.length}`);
}

/** UTF-8 text, as Kafka's StringSerializer. Refuses invalid UTF-8 and strings with unpaired surrogates (which UTF-8 cannot hold) instead of replacing characters. */
export function string(): Serde<string> {
  return {
    serialize(value) {
      if (typeof value !== 'string') throw new TypeError(`string serde expects a string, got ${describe(value)}`);
      if (LONE_SURROGATE.test(value)) throw new RangeError('string contains an unpaired UTF-16 surrogate, which UTF-8 cannot encode');
      return encoder.encode(value);
    },
    deserialize(bytes) {
      try {
        return decoder.decode(bytes);
      } catch (e) {
        throw new TypeError('bytes are not valid UTF-8', { cause: e });
      }
    },
  };
}

/**
 * JSON text in UTF-8. Refuses a bigint or bytes (a Uint8Array or other typed array, which JSON
 * would turn into a plain object) anywhere in the value, and a top-level value JSON cannot hold
 * (undefined, a function, a symbol). Nested undefined properties are dropped, as JSON does.
 */
export function json<T = unknown>(): Serde<T> {
  const refuseBigint = (key: string, v: unknown): unknown => {
    if (typeof v === 'bigint') throw new TypeError(`JSON cannot hold bigint ${v}${key === '' ? '' : ` (at property "${key}")`}; convert it to a string or number first`);
    if (ArrayBuffer.isView(v)) throw new TypeError(`JSON cannot hold bytes (a ${v.constructor.name}${key === '' ? '' : ` at property "${key}"`}); give this key or value a bytes() serde, or encode the bytes as a string`);
    return v;
  };
  return {
    serialize(value) {
      const text = JSON.stringify(value, refuseBigint) as string | undefined;
      if (text === undefined) throw new TypeError(`JSON cannot hold ${describe(value)}; use null for a tombstone`);
      return encoder.encode(text);
    },
    deserialize(bytes) {
      let text: string;
      try {
        text = decoder.decode(bytes);
      } catch (e) {
        throw new TypeError('bytes are not valid UTF-8', { cause: e });
      }
      return JSON.parse(text) as T;
    },
  };
}

/** The bytes themselves, not copied either way: whoever passes them in or receives them owns them and must not mutate them while the runtime holds them. */
export function bytes(): Serde<Uint8Array> {
  return {
    serialize(value) {
      if (!(value instanceof Uint8Array)) throw new TypeError(`bytes serde expects a Uint8Array, got ${describe(value)}`);
      return value;
    },
    deserialize(data) {
      return data;
    },
  };
}

/** 4 bytes, big-endian two's complement, as Kafka's IntegerSerializer. Refuses non-integers, values outside int32 and data not exactly 4 bytes long. */
export function int32(): Serde<number> {
  return {
    serialize(value) {
      if (typeof value !== 'number' || !Number.isInteger(value)) throw new TypeError(`int32 serde expects an integer, got ${describe(value)}`);
      if (value < INT32_MIN || value > INT32_MAX) throw new RangeError(`${value} is outside the int32 range [${INT32_MIN}, ${INT32_MAX}]`);
      const out = new Uint8Array(4);
      view(out).setInt32(0, value, false);
      return out;
    },
    deserialize(data) {
      requireLength(data, 4, 'int32');
      return view(data).getInt32(0, false);
    },
  };
}

/** 8 bytes, big-endian two's complement, as Kafka's LongSerializer. Refuses values outside int64 and data not exactly 8 bytes long. */
export function bigint64(): Serde<bigint> {
  return {
    serialize(value) {
      if (typeof value !== 'bigint') throw new TypeError(`bigint64 serde expects a bigint, got ${describe(value)}`);
      if (value < INT64_MIN || value > INT64_MAX) throw new RangeError(`${value} is outside the int64 range [${INT64_MIN}, ${INT64_MAX}]`);
      const out = new Uint8Array(8);
      view(out).setBigInt64(0, value, false);
      return out;
    },
    deserialize(data) {
      requireLength(data, 8, 'bigint64');
      return view(data).getBigInt64(0, false);
    },
  };
}

/**
 * A serde from user functions. Checks up front that both functions exist, and on every call that
 * `serialize` really returned a Uint8Array, so a wrong serde fails at its first record, not later
 * in the producer.
 */
export function serde<T>(custom: { serialize(value: T, topic: string): Uint8Array; deserialize(bytes: Uint8Array, topic: string): T }): Serde<T> {
  if (typeof custom !== 'object' || custom === null) throw new InvalidArgumentError('serde', `expected an object with serialize and deserialize functions, got ${describe(custom)}`);
  for (const fn of ['serialize', 'deserialize'] as const) {
    if (typeof custom[fn] !== 'function') throw new InvalidArgumentError(`serde.${fn}`, `a serde needs a ${fn} function, got ${describe(custom[fn])}`);
  }
  return {
    serialize(value, topic) {
      const out: unknown = custom.serialize(value, topic);
      if (!(out instanceof Uint8Array)) throw new TypeError(`custom serialize returned ${describe(out)} instead of a Uint8Array`);
      return out;
    },
    deserialize(data, topic) {
      return custom.deserialize(data, topic);
    },
  };
}

/** True when `x` has the two functions of a {@link Serde}; what the DSL checks before using a user-given serde. */
export function isSerde(x: unknown): x is Serde<unknown> {
  return typeof x === 'object' && x !== null && typeof (x as Partial<Serde<unknown>>).serialize === 'function' && typeof (x as Partial<Serde<unknown>>).deserialize === 'function';
}

function reasonOf(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

/** Serializes a key or value for `topic`; null stays null (a null key, a tombstone). Any failure, including a result that is not a Uint8Array, throws a {@link SerdeError} whose `cause` is the original error. */
export function serializeWith<T>(serde: Serde<T>, part: 'key' | 'value', value: T | null, topic: string): Uint8Array | null {
  if (value === null) return null;
  let out: unknown;
  try {
    out = serde.serialize(value, topic);
  } catch (e) {
    throw new SerdeError('serialize', part, topic, reasonOf(e), undefined, undefined, { cause: e });
  }
  if (!(out instanceof Uint8Array)) {
    const cause = new TypeError(`serialize returned ${describe(out)} instead of a Uint8Array`);
    throw new SerdeError('serialize', part, topic, cause.message, undefined, undefined, { cause });
  }
  return out;
}

/** Deserializes a key or value read from `topic` (at `partition`/`offset` when known); null stays null. Any failure throws a {@link SerdeError} naming the record, with the original error as `cause`. */
export function deserializeWith<T>(serde: Serde<T>, part: 'key' | 'value', bytes: Uint8Array | null, topic: string, partition?: number, offset?: bigint): T | null {
  if (bytes === null) return null;
  try {
    return serde.deserialize(bytes, topic);
  } catch (e) {
    throw new SerdeError('deserialize', part, topic, reasonOf(e), partition, offset, { cause: e });
  }
}
