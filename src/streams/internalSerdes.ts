/**
 * Serdes the runtime uses for what it stores itself. `countSerde` writes a count as Kafka's
 * LongSerializer does (8 bytes, big-endian), so a count's changelog holds Kafka's bytes.
 */
import { SerdeError } from '../errors.ts';
import type { Change } from './record.ts';
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

/**
 * A table update (new and old value) on a repartition topic, as KGroupedTable needs it: a flag
 * byte (1: a new value follows, 2: an old value follows), the old value's length (4 bytes,
 * big-endian) and bytes, then the new value's bytes. Internal to samsa: Kafka's ChangedSerializer
 * carries the same two values in another layout.
 */
export function changeSerde<V>(inner: Serde<V>): Serde<Change<V>> {
  return {
    serialize(change: Change<V>, topic: string): Uint8Array {
      const next = change.newValue === null ? undefined : inner.serialize(change.newValue, topic);
      const old = change.oldValue === null ? undefined : inner.serialize(change.oldValue, topic);
      const bytes = new Uint8Array(5 + (old?.length ?? 0) + (next?.length ?? 0));
      bytes[0] = (next === undefined ? 0 : 1) | (old === undefined ? 0 : 2);
      new DataView(bytes.buffer).setUint32(1, old?.length ?? 0);
      if (old !== undefined) bytes.set(old, 5);
      if (next !== undefined) bytes.set(next, 5 + (old?.length ?? 0));
      return bytes;
    },
    deserialize(bytes: Uint8Array, topic: string): Change<V> {
      if (bytes.length < 5) throw new SerdeError('deserialize', 'value', topic, `a table update is at least 5 bytes, got ${bytes.length}`);
      const flags = bytes[0] as number;
      const oldLength = new DataView(bytes.buffer, bytes.byteOffset + 1, 4).getUint32(0);
      if (5 + oldLength > bytes.length) throw new SerdeError('deserialize', 'value', topic, `the old value's length ${oldLength} runs past the ${bytes.length} bytes`);
      return {
        oldValue: (flags & 2) === 0 ? null : inner.deserialize(bytes.subarray(5, 5 + oldLength), topic),
        newValue: (flags & 1) === 0 ? null : inner.deserialize(bytes.subarray(5 + oldLength), topic),
      };
    },
  };
}
