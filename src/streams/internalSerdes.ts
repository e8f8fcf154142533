/**
 * Serdes the runtime uses for what it stores itself. `countSerde` writes a count as Kafka's
 * LongSerializer does (8 bytes, big-endian), so a count's changelog holds Kafka's bytes.
 */
import { SerdeError } from '../errors.ts';
import type { Serde } from './serdes.ts';

/** A count (a non-negative safe integer) as an 8-byte big-endian long. */
export const countSerde: Serde<number> = {
  serialize(value: number, topic: string): Uint8Array {
    if (!Number.isSafeInteger(value) || value < 0) throw new SerdeError('serialize', 'value', topic, `a count must be a non-negative safe integer, got ${String(value)}`);
    // Two 32-bit halves: no BigInt on the hot path of every count.
    const bytes = new Uint8Array(8);
    const view = new DataView(bytes.buffer);
    view.setUint32(0, Math.floor(value / 0x1_0000_0000));
    view.setUint32(4, value >>> 0);
    return bytes;
  },
  deserialize(bytes: Uint8Array, topic: string): number {
    if (bytes.byteLength !== 8) throw new SerdeError('deserialize', 'value', topic, `a count is 8 bytes, got ${bytes.byteLength}`);
    const view = new DataView(bytes.buffer, bytes.byteOffset, 8);
    const high = view.getInt32(0);
    if (high < 0) throw new SerdeError('deserialize', 'value', topic, 'a count cannot be negative');
    return high * 0x1_0000_0000 + view.getUint32(4);
  },
};
