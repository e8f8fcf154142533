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
    const bytes = new Uint8Array(8);
    new DataView(bytes.buffer).setBigInt64(0, BigInt(value));
    return bytes;
  },
  deserialize(bytes: Uint8Array, topic: string): number {
    if (bytes.byteLength !== 8) throw new SerdeError('deserialize', 'value', topic, `a count is 8 bytes, got ${bytes.byteLength}`);
    return Number(new DataView(bytes.buffer, bytes.byteOffset, 8).getBigInt64(0));
  },
};
