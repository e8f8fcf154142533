/**
 * The message codec: a message to bytes and back, for transports that cross a process boundary
 * (NATS) and for the simulated network's `codec` option, which proves in-process runs do not rely
 * on anything a real network would lose.
 *
 * Guarantees of {@link messageCodec}:
 * - What survives: null, undefined (as a field value too; an array hole arrives as undefined),
 *   booleans, numbers (NaN and ±Infinity included; -0 arrives as 0), strings, bigint of any size,
 *   Uint8Array (a view into a larger buffer carries only its own bytes, and arrives as a plain
 *   Uint8Array even when sent as a Buffer), arrays and plain objects, nested to any depth.
 * - What is refused on encode, with an {@link UnencodableMessageError} naming the message type and
 *   the path: functions, symbols, class instances (Map, Set, Date, errors, custom classes), other
 *   typed arrays and cycles. An encoding would drop or flatten them silently; here they are bugs.
 * - What is refused on decode, with an {@link UndecodableMessageError}: bytes that are not an
 *   encoded message, a message that is not a plain object, has no string `type`, a type that is
 *   not in the protocol's `MessageMap` (or, inside a `quorum.message`, not a Raft message), or
 *   holds anything encode would refuse.
 * - A decoded message shares no memory with the bytes it came from nor with any other decode of
 *   them: the receiver owns it and may change it (a leader stamps offsets into produced batches).
 *
 * The encoding is MessagePack (msgpackr, plain maps, bigint as int64 or its bigint extension),
 * chosen over V8's serialization (`node:v8`) by the numbers of `bench/codec.bench.ts`: as fast or
 * faster on every message measured, several times faster on small ones, and smaller on
 * field-heavy ones.
 */
import { Packr } from 'msgpackr';
import { SamsaError, UndecodableMessageError, UnencodableMessageError } from '../errors.ts';
import type { Message } from '../protocol/common.ts';
import { MESSAGE_TYPES, RAFT_MESSAGE_TYPES } from '../protocol/index.ts';

/** Turns messages into bytes and back; see {@link messageCodec} for the guarantees. */
export interface MessageCodec {
  /**
   * The bytes of `message`.
   * @throws UnencodableMessageError when the message is not plain data (see the module comment).
   */
  encode(message: Message): Uint8Array;
  /**
   * The message encoded in `bytes`, a fresh object owned by the caller.
   * @throws UndecodableMessageError when the bytes are not a known message.
   */
  decode(bytes: Uint8Array): Message;
}

/** Where and why a value is not plain data, or undefined when it is. */
interface Unplain {
  readonly path: string;
  readonly reason: string;
}

/**
 * Finds the first part of `value` that is not plain message data (depth first), or undefined.
 * `ancestors` holds the objects on the way down, to tell a cycle from a shared sub-object
 * (which is fine: it arrives as two copies).
 */
function findUnplain(value: unknown, path: string, ancestors: Set<object>): Unplain | undefined {
  switch (typeof value) {
    case 'undefined':
    case 'boolean':
    case 'number':
    case 'string':
    case 'bigint':
      return undefined;
    case 'function':
      return { path, reason: 'is a function' };
    case 'symbol':
      return { path, reason: 'is a symbol' };
  }
  if (value === null) return undefined;
  const object = value as object;
  if (object instanceof Uint8Array) return undefined;
  if (ArrayBuffer.isView(object) || object instanceof ArrayBuffer) return { path, reason: `is a ${object.constructor.name}; only Uint8Array crosses the network` };
  const proto: unknown = Object.getPrototypeOf(object);
  const isArray = Array.isArray(object) && proto === Array.prototype;
  if (!isArray && proto !== Object.prototype && proto !== null) {
    const name = (proto as { constructor?: { name?: unknown } }).constructor?.name;
    return { path, reason: `is an instance of ${typeof name === 'string' && name !== '' ? name : 'a class'}, not a plain object` };
  }
  if (ancestors.has(object)) return { path, reason: 'refers back to an object that contains it (a cycle)' };
  if (Object.getOwnPropertySymbols(object).length > 0) return { path, reason: 'has symbol-keyed properties' };
  ancestors.add(object);
  try {
    if (isArray) {
      const array = object as readonly unknown[];
      for (let i = 0; i < array.length; i++) {
        const found = findUnplain(array[i], `${path}[${i}]`, ancestors);
        if (found !== undefined) return found;
      }
      return undefined;
    }
    for (const key of Object.keys(object)) {
      const found = findUnplain((object as Record<string, unknown>)[key], `${path}.${key}`, ancestors);
      if (found !== undefined) return found;
    }
    return undefined;
  } finally {
    ancestors.delete(object);
  }
}

/**
 * Throws {@link UnencodableMessageError} when `message` is not plain data (see the module
 * comment); a transport that carries objects as they are can still hold senders to the rule.
 */
export function assertPlainMessage(message: Message): void {
  const found = findUnplain(message, 'message', new Set());
  if (found !== undefined) throw new UnencodableMessageError(typeof message.type === 'string' ? message.type : String(message.type), found.path, found.reason);
}

/**
 * Replaces every Buffer in a decoded value by a plain Uint8Array over the same bytes, so that
 * receivers get the type senders sent (Buffer's `slice` shares memory, Uint8Array's copies).
 */
function unbuffer(value: unknown): void {
  if (typeof value !== 'object' || value === null) return;
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) {
      const item: unknown = value[i];
      if (item instanceof Uint8Array) {
        if (item.constructor !== Uint8Array) value[i] = new Uint8Array(item.buffer, item.byteOffset, item.byteLength);
      } else unbuffer(item);
    }
    return;
  }
  if (Object.getPrototypeOf(value) !== Object.prototype) return;
  const object = value as Record<string, unknown>;
  for (const key of Object.keys(object)) {
    const item = object[key];
    if (item instanceof Uint8Array) {
      if (item.constructor !== Uint8Array) object[key] = new Uint8Array(item.buffer, item.byteOffset, item.byteLength);
    } else unbuffer(item);
  }
}

/** Checks a decoded value: a plain object of a known type holding plain data only. */
function checkDecoded(value: unknown): Message {
  if (typeof value !== 'object' || value === null || Array.isArray(value) || Object.getPrototypeOf(value) !== Object.prototype) {
    throw new UndecodableMessageError(`the bytes hold ${value === null ? 'null' : Array.isArray(value) ? 'an array' : typeof value === 'object' ? `a ${String((value as object).constructor?.name)}` : `a ${typeof value}`}, not a message object`);
  }
  const type = (value as { type?: unknown }).type;
  if (typeof type !== 'string') throw new UndecodableMessageError(type === undefined ? 'the message has no type' : `the message type is a ${typeof type}, not a string`);
  if (!MESSAGE_TYPES.has(type as never)) throw new UndecodableMessageError('the type is not one of the protocol (MessageMap)', type);
  if (type === 'quorum.message') {
    const inner = (value as { message?: unknown }).message;
    const innerType = typeof inner === 'object' && inner !== null ? (inner as { type?: unknown }).type : undefined;
    if (typeof innerType !== 'string' || !RAFT_MESSAGE_TYPES.has(innerType)) throw new UndecodableMessageError(`it does not carry a Raft message (got ${typeof innerType === 'string' ? `"${innerType}"` : 'none'})`, type);
  }
  const found = findUnplain(value, 'message', new Set());
  if (found !== undefined) throw new UndecodableMessageError(`${found.path} ${found.reason}`, type);
  unbuffer(value);
  return value as Message;
}

// Plain maps, never msgpackr's records (which share structure definitions between messages, so
// one could not be decoded without the others); bigint kept bigint (beyond 64 bits through the
// extension); binary fields copied out of the frame, so a decoded message owns its bytes.
const packr = new Packr({ useRecords: false, int64AsType: 'bigint', useBigIntExtension: true, copyBuffers: true });

/**
 * The codec on MessagePack. Plain data only: see the module comment for what survives, what is
 * refused and the errors.
 *
 * @example
 * const network = new SimulatedNetwork({ clock, random, codec: messageCodec });
 */
export const messageCodec: MessageCodec = {
  encode(message: Message): Uint8Array {
    assertPlainMessage(message);
    try {
      return packr.pack(message);
    } catch (e) {
      // assertPlainMessage lets through only what MessagePack carries; this is a last line.
      throw new UnencodableMessageError(String(message.type), 'message', `could not be encoded (${e instanceof Error ? e.message : String(e)})`);
    }
  },
  decode(bytes: Uint8Array): Message {
    if (!(bytes instanceof Uint8Array)) throw new UndecodableMessageError(`expected bytes (a Uint8Array), got ${bytes === null ? 'null' : typeof bytes}`);
    let value: unknown;
    try {
      value = packr.unpack(bytes);
    } catch (e) {
      throw new UndecodableMessageError(`the bytes are not an encoded message (${e instanceof Error ? e.message : String(e)})`, undefined, { cause: e });
    }
    return checkDecoded(value);
  },
};

/** Whether `e` is an error a codec throws for a message it refuses. */
export function isCodecError(e: unknown): e is UnencodableMessageError | UndecodableMessageError {
  return SamsaError.is(e) && (e.code === 'UNENCODABLE_MESSAGE' || e.code === 'UNDECODABLE_MESSAGE');
}
