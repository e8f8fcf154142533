/**
 * Serdes for windowed keys, byte for byte as Kafka Streams' own, so a windowed result topic reads
 * the same from a Kafka Streams consumer: a time-windowed key is the inner key's bytes then the
 * window start (8 bytes, big-endian; the end is start + size, as TimeWindowedDeserializer knows
 * it); a session-windowed key is the inner key's bytes, then the end, then the start.
 */
import { SerdeError } from '../errors.ts';
import type { Serde } from './serdes.ts';
import type { Windowed } from './windows.ts';

const HIGH = 2 ** 32;

function writeLong(view: DataView, at: number, value: number): void {
  view.setUint32(at, Math.floor(value / HIGH));
  view.setUint32(at + 4, value >>> 0);
}

function readLong(view: DataView, at: number): number {
  return view.getUint32(at) * HIGH + view.getUint32(at + 4);
}

function withLongs(key: Uint8Array, longs: readonly number[]): Uint8Array {
  const out = new Uint8Array(key.length + 8 * longs.length);
  out.set(key, 0);
  const view = new DataView(out.buffer);
  longs.forEach((v, i) => writeLong(view, key.length + 8 * i, v));
  return out;
}

/** Time-windowed keys of windows of `sizeMs` (Kafka's `WindowedSerdes.timeWindowedSerdeFrom`). */
export function timeWindowedSerde<K>(inner: Serde<K>, sizeMs: number): Serde<Windowed<K>> {
  return {
    serialize(windowed, topic) {
      return withLongs(inner.serialize(windowed.key, topic), [windowed.window.start]);
    },
    deserialize(bytes, topic) {
      if (bytes.length < 8) throw new SerdeError('deserialize', 'key', topic, `a time-windowed key ends in an 8-byte window start; got ${bytes.length} bytes`);
      const start = readLong(new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength), bytes.length - 8);
      return { key: inner.deserialize(bytes.subarray(0, bytes.length - 8), topic), window: { start, end: start + sizeMs } };
    },
  };
}

/** Session-windowed keys (Kafka's `WindowedSerdes.sessionWindowedSerdeFrom`). */
export function sessionWindowedSerde<K>(inner: Serde<K>): Serde<Windowed<K>> {
  return {
    serialize(windowed, topic) {
      return withLongs(inner.serialize(windowed.key, topic), [windowed.window.end, windowed.window.start]);
    },
    deserialize(bytes, topic) {
      if (bytes.length < 16) throw new SerdeError('deserialize', 'key', topic, `a session-windowed key ends in an 8-byte end and an 8-byte start; got ${bytes.length} bytes`);
      const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
      return { key: inner.deserialize(bytes.subarray(0, bytes.length - 16), topic), window: { start: readLong(view, bytes.length - 8), end: readLong(view, bytes.length - 16) } };
    },
  };
}
