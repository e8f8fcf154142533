/**
 * What the NATS transport puts in a NATS message, and the subjects it publishes on.
 *
 * Subjects: a node listens on `<prefix>.node.<id>.>`; a sender publishes to
 * `<prefix>.node.<to>.<from>`, so the sender's identity is part of the subject and a NATS
 * account's publish permissions can pin it (a broker's credentials may publish only subjects ending
 * in its own id). Ids are readable (`samsa.node.broker:1`); characters NATS reserves in a subject
 * token (`.`, `*`, `>`, whitespace, `%`) and anything outside ASCII letters, digits and `_:@#-`
 * are `%XX`-escaped.
 *
 * Payloads, one of two frames:
 * - a batch (`0x01`), one or more encoded messages for the same receiver, each as a 4-byte
 *   big-endian length and its bytes; small messages sent in the same turn share one NATS message;
 * - a chunk (`0x02`): a 4-byte message number, 4-byte chunk index, 4-byte chunk count, then a
 *   slice of one encoded message too large for the server's `max_payload`. NATS keeps one
 *   publisher's messages in order, so the chunks of a message arrive together and in order, or
 *   some are lost (a reconnect), in which case the whole message is dropped, as a network would.
 */
import type { NodeId } from '../protocol/nodeId.ts';
import { isNodeId } from '../protocol/nodeId.ts';

const BATCH = 0x01;
const CHUNK = 0x02;
/** Bytes of a chunk frame before its slice of the message. */
export const CHUNK_HEADER_BYTES = 13;
/** Bytes a batch frame adds: the kind byte, then 4 length bytes per message. */
export const BATCH_HEADER_BYTES = 1;
export const BATCH_ENTRY_BYTES = 4;

const SAFE = /^[A-Za-z0-9_:@#-]$/;
const encoder = new TextEncoder();

/** `node` as one subject token (see the module comment). */
export function subjectToken(node: string): string {
  let out = '';
  for (const ch of node) {
    if (SAFE.test(ch)) out += ch;
    else for (const byte of encoder.encode(ch)) out += `%${byte.toString(16).toUpperCase().padStart(2, '0')}`;
  }
  return out;
}

/** The node a subject token names, or undefined when it does not decode to a node address. */
export function nodeOfToken(token: string): NodeId | undefined {
  let node: string;
  try {
    node = decodeURIComponent(token);
  } catch {
    return undefined;
  }
  return isNodeId(node) && subjectToken(node) === token ? node : undefined;
}

/** Whether `prefix` can start a subject: non-empty tokens without wildcards or whitespace. */
export function isSubjectPrefix(prefix: string): boolean {
  return prefix.length > 0 && prefix.split('.').every((t) => t.length > 0 && !/[\s*>]/.test(t));
}

/** One batch frame holding `messages` (each an encoded message). */
export function batchFrame(messages: readonly Uint8Array[], bytes: number): Uint8Array {
  const frame = new Uint8Array(BATCH_HEADER_BYTES + messages.length * BATCH_ENTRY_BYTES + bytes);
  const view = new DataView(frame.buffer);
  frame[0] = BATCH;
  let at = BATCH_HEADER_BYTES;
  for (const m of messages) {
    view.setUint32(at, m.length);
    frame.set(m, at + BATCH_ENTRY_BYTES);
    at += BATCH_ENTRY_BYTES + m.length;
  }
  return frame;
}

/** The chunk frames of one large encoded message, each at most `maxPayload` bytes. */
export function chunkFrames(message: Uint8Array, messageNumber: number, maxPayload: number): Uint8Array[] {
  const slice = maxPayload - CHUNK_HEADER_BYTES;
  const count = Math.ceil(message.length / slice);
  const frames: Uint8Array[] = [];
  for (let i = 0; i < count; i++) {
    const part = message.subarray(i * slice, Math.min(message.length, (i + 1) * slice));
    const frame = new Uint8Array(CHUNK_HEADER_BYTES + part.length);
    const view = new DataView(frame.buffer);
    frame[0] = CHUNK;
    view.setUint32(1, messageNumber >>> 0);
    view.setUint32(5, i);
    view.setUint32(9, count);
    frame.set(part, CHUNK_HEADER_BYTES);
    frames.push(frame);
  }
  return frames;
}

/** A message half-way through reassembly. */
interface Partial {
  readonly number: number;
  readonly count: number;
  readonly parts: Uint8Array[];
  bytes: number;
}

/**
 * Reads frames from many senders: batches at once, chunks once every chunk of their message has
 * arrived. `maxMessageBytes` bounds what one sender can make it hold.
 */
export class FrameReader {
  private readonly partial = new Map<string, Partial>();

  constructor(private readonly maxMessageBytes: number) {}

  /**
   * The encoded messages `frame` completes (none for a chunk that is not the last); a string
   * describing the problem when the frame is malformed or breaks the limits.
   */
  read(sender: string, frame: Uint8Array): Uint8Array[] | string {
    if (frame.length === 0) return 'an empty frame';
    const view = new DataView(frame.buffer, frame.byteOffset, frame.byteLength);
    if (frame[0] === BATCH) {
      const out: Uint8Array[] = [];
      let at = BATCH_HEADER_BYTES;
      while (at < frame.length) {
        if (at + BATCH_ENTRY_BYTES > frame.length) return 'a batch frame cut short';
        const length = view.getUint32(at);
        at += BATCH_ENTRY_BYTES;
        if (at + length > frame.length) return 'a batch entry longer than its frame';
        out.push(frame.subarray(at, at + length));
        at += length;
      }
      return out;
    }
    if (frame[0] !== CHUNK) return `an unknown frame kind ${frame[0]}`;
    if (frame.length < CHUNK_HEADER_BYTES) return 'a chunk frame cut short';
    const number = view.getUint32(1);
    const index = view.getUint32(5);
    const count = view.getUint32(9);
    if (count === 0 || index >= count) return `chunk ${index} of ${count}`;
    let current = this.partial.get(sender);
    if (current !== undefined && (current.number !== number || index === 0)) {
      // A chunk of another message: the rest of the one being read was lost.
      this.partial.delete(sender);
      current = undefined;
    }
    if (current === undefined) {
      if (index !== 0) return `chunk ${index} of message ${number} without its first chunk (lost in transit)`;
      current = { number, count, parts: [], bytes: 0 };
      this.partial.set(sender, current);
    }
    if (index !== current.parts.length || count !== current.count) {
      this.partial.delete(sender);
      return `chunk ${index} of message ${number} out of order`;
    }
    const part = frame.subarray(CHUNK_HEADER_BYTES);
    current.parts.push(part);
    current.bytes += part.length;
    if (current.bytes > this.maxMessageBytes) {
      this.partial.delete(sender);
      return `a message over ${this.maxMessageBytes} bytes`;
    }
    if (current.parts.length < count) return [];
    this.partial.delete(sender);
    const whole = new Uint8Array(current.bytes);
    let at = 0;
    for (const p of current.parts) {
      whole.set(p, at);
      at += p.length;
    }
    return [whole];
  }
}
