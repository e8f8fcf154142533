/**
 * Records of the `__consumer_offsets` topic in Kafka's own binary layout, so the log reads the
 * same as Kafka's: key `OffsetCommitKey` v1 (group, topic, partition) and value
 * `OffsetCommitValue` v3 (offset, leader epoch, metadata, commit timestamp); a null value deletes.
 */
import { CorruptRecordError } from '../../errors.ts';

/** Name of the internal offsets topic. */
export const OFFSETS_TOPIC = '__consumer_offsets';

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** A committed offset as stored. */
export interface OffsetCommitValue {
  readonly offset: bigint;
  readonly leaderEpoch: number;
  readonly metadata: string;
  readonly commitTimestamp: number;
}

/** A decoded offset-commit key. */
export interface OffsetCommitKey {
  readonly group: string;
  readonly topic: string;
  readonly partition: number;
}

function stringSize(s: Uint8Array): number {
  return 2 + s.length;
}

/** Encodes the key (version 1). */
export function encodeOffsetKey(key: OffsetCommitKey): Uint8Array {
  const g = encoder.encode(key.group);
  const t = encoder.encode(key.topic);
  const out = new Uint8Array(2 + stringSize(g) + stringSize(t) + 4);
  const view = new DataView(out.buffer);
  let p = 0;
  view.setInt16(p, 1);
  p += 2;
  view.setInt16(p, g.length);
  out.set(g, p + 2);
  p += stringSize(g);
  view.setInt16(p, t.length);
  out.set(t, p + 2);
  p += stringSize(t);
  view.setInt32(p, key.partition);
  return out;
}

/** Encodes the value (version 3). */
export function encodeOffsetValue(value: OffsetCommitValue): Uint8Array {
  const m = encoder.encode(value.metadata);
  const out = new Uint8Array(2 + 8 + 4 + stringSize(m) + 8);
  const view = new DataView(out.buffer);
  view.setInt16(0, 3);
  view.setBigInt64(2, value.offset);
  view.setInt32(10, value.leaderEpoch);
  view.setInt16(14, m.length);
  out.set(m, 16);
  view.setBigInt64(16 + m.length, BigInt(value.commitTimestamp));
  return out;
}

function readString(view: DataView, bytes: Uint8Array, p: number): [string, number] {
  const len = view.getInt16(p);
  if (len < 0 || p + 2 + len > bytes.length) throw new CorruptRecordError('bad string length in an __consumer_offsets record');
  return [decoder.decode(bytes.subarray(p + 2, p + 2 + len)), p + 2 + len];
}

/** Decodes an offset-commit key; undefined for other key versions (group metadata records). */
export function decodeOffsetKey(bytes: Uint8Array): OffsetCommitKey | undefined {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const version = view.getInt16(0);
  if (version !== 0 && version !== 1) return undefined;
  const [group, p1] = readString(view, bytes, 2);
  const [topic, p2] = readString(view, bytes, p1);
  return { group, topic, partition: view.getInt32(p2) };
}

/** Decodes an offset-commit value (versions 1 and 3). */
export function decodeOffsetValue(bytes: Uint8Array): OffsetCommitValue {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const version = view.getInt16(0);
  const offset = view.getBigInt64(2);
  if (version === 3) {
    const leaderEpoch = view.getInt32(10);
    const [metadata, p] = readString(view, bytes, 14);
    return { offset, leaderEpoch, metadata, commitTimestamp: Number(view.getBigInt64(p)) };
  }
  if (version === 1) {
    const [metadata, p] = readString(view, bytes, 10);
    return { offset, leaderEpoch: -1, metadata, commitTimestamp: Number(view.getBigInt64(p)) };
  }
  throw new CorruptRecordError(`unsupported __consumer_offsets value version ${version}`);
}

/** Kafka's `Utils.abs(groupId.hashCode) % partitions`: the offsets partition (and coordinator) of a group. */
export function offsetsPartitionFor(groupId: string, partitions: number): number {
  let h = 0;
  for (let i = 0; i < groupId.length; i++) h = (Math.imul(31, h) + groupId.charCodeAt(i)) | 0;
  // Kafka's Utils.abs maps Integer.MIN_VALUE to 0.
  const abs = h === -2147483648 ? 0 : Math.abs(h);
  return abs % partitions;
}
