/**
 * Byte layouts the joins keep in their own stores and internal topics: big-endian longs that sort
 * as numbers, length-prefixed lists and a 128-bit value hash. Internal to samsa (Kafka's layouts
 * carry the same fields differently), but stable: they are what changelogs and internal topics hold.
 */
import { createHash } from 'node:crypto';
import { SerdeError } from '../../errors.ts';


export { getLong, putLong } from '../stores/longBytes.ts';

/** Writes a signed 32-bit integer, big-endian. */
export function putInt(out: Uint8Array, at: number, value: number): void {
  new DataView(out.buffer, out.byteOffset, out.byteLength).setInt32(at, value);
}

/** Reads what {@link putInt} wrote. */
export function getInt(bytes: Uint8Array, at: number): number {
  return new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength).getInt32(at);
}

/** The parts, one after the other. */
export function concat(...parts: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/** Byte equality; two nulls are equal. */
export function equalBytes(a: Uint8Array | null, b: Uint8Array | null): boolean {
  if (a === null || b === null) return a === b;
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** Values kept under one key, each prefixed by its length (Kafka's ListValueStore keeps a list too). */
export function encodeList(items: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(items.reduce((n, i) => n + 4 + i.length, 0));
  let at = 0;
  for (const item of items) {
    putInt(out, at, item.length);
    out.set(item, at + 4);
    at += 4 + item.length;
  }
  return out;
}

/** Reads what {@link encodeList} wrote. */
export function decodeList(bytes: Uint8Array, where: string): Uint8Array[] {
  const out: Uint8Array[] = [];
  for (let at = 0; at < bytes.length; ) {
    const length = at + 4 <= bytes.length ? getInt(bytes, at) : -1;
    if (length < 0 || at + 4 + length > bytes.length) throw new SerdeError('deserialize', 'value', where, `a list entry at byte ${at} runs past the ${bytes.length} bytes`);
    out.push(bytes.subarray(at + 4, at + 4 + length));
    at += 4 + length;
  }
  return out;
}

/** A 128-bit hash of serialized bytes: what tells a foreign-key join response that its left row changed since. */
export function hash128(bytes: Uint8Array): Uint8Array {
  return new Uint8Array(createHash('md5').update(bytes).digest());
}
