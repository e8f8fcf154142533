/**
 * Records of the `__consumer_offsets` topic in Kafka's own binary layout, so the log reads the
 * same as Kafka's:
 * - committed offsets: key `OffsetCommitKey` v1 (group, topic, partition) and value
 *   `OffsetCommitValue` v3 (offset, leader epoch, metadata, commit timestamp);
 * - classic group metadata: key `GroupMetadataKey` (key version 2: group) and value
 *   `GroupMetadataValue` v3 (protocol type, generation, protocol, leader, state timestamp,
 *   members). Its `subscription` and `assignment` fields hold UTF-8 JSON instead of Kafka's
 *   `ConsumerProtocol` bytes (see {@link encodeProtocolData}); everything else is Kafka's layout.
 *
 * A null value (tombstone) deletes the key's earlier values.
 */
import { CorruptRecordError } from '../../errors.ts';
import type { GroupMetadata, GroupMetadataMember } from './groupMetadata.ts';

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

/** Decodes an offset-commit key; undefined for other key versions (group metadata records): see {@link decodeOffsetsTopicKey}. */
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

/* ------------------------------------------------------------------------------------------ */
/* Group metadata records                                                                      */
/* ------------------------------------------------------------------------------------------ */

/** Key version of classic group metadata (Kafka's `GroupMetadataKey`, apiKey 2). */
export const GROUP_METADATA_KEY_VERSION = 2;
/** Value version written for group metadata (Kafka writes v3 for every metadata version since 2.3). */
export const GROUP_METADATA_VALUE_VERSION = 3;

/** A key of `__consumer_offsets`, told apart by its version. */
export type OffsetsTopicKey = ({ readonly kind: 'offset' } & OffsetCommitKey) | { readonly kind: 'group'; readonly group: string };

/**
 * Decodes any `__consumer_offsets` key: versions 0 and 1 are offset commits, version 2 is a
 * classic group's metadata; undefined for other versions (Kafka's KIP-848 consumer-group records,
 * which samsa never writes).
 */
export function decodeOffsetsTopicKey(bytes: Uint8Array): OffsetsTopicKey | undefined {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (bytes.length < 2) throw new CorruptRecordError('truncated __consumer_offsets key');
  const version = view.getInt16(0);
  if (version === GROUP_METADATA_KEY_VERSION) return { kind: 'group', group: readString(view, bytes, 2)[0] };
  const offset = decodeOffsetKey(bytes);
  return offset === undefined ? undefined : { kind: 'offset', ...offset };
}

/** Encodes a group metadata key (key version 2: int16 version, string group). */
export function encodeGroupMetadataKey(group: string): Uint8Array {
  const g = encoder.encode(group);
  const out = new Uint8Array(2 + stringSize(g));
  const view = new DataView(out.buffer);
  view.setInt16(0, GROUP_METADATA_KEY_VERSION);
  view.setInt16(2, g.length);
  out.set(g, 4);
  return out;
}

/** Group metadata as read back from `__consumer_offsets`: what was written, plus the state timestamp. */
export interface StoredGroupMetadata extends GroupMetadata {
  /** When the group entered the state the record was written in (ms), or -1 when unknown. */
  readonly currentStateTimestamp: number;
}

const strictDecoder = new TextDecoder('utf-8', { fatal: true });
const BIGINT_TAG = '$samsa.bigint';
const BYTES_TAG = '$samsa.bytes';

/**
 * Encodes a member's subscription or assignment. Deliberate difference from Kafka: these two
 * fields hold UTF-8 JSON of samsa's structured data (consumers exchange plain JS objects, not
 * `ConsumerProtocol` bytes). JSON is extended so the data round-trips: a bigint is written as
 * `{"$samsa.bigint":"<decimal>"}` and a Uint8Array as `{"$samsa.bytes":"<hex>"}` (so an object
 * whose only key is one of these tags reads back as that type); `undefined` is written as `null`,
 * and object properties whose value is `undefined` are dropped, as JSON does.
 */
export function encodeProtocolData(data: unknown): Uint8Array {
  const json = JSON.stringify(data ?? null, (_key, value: unknown) => {
    if (typeof value === 'bigint') return { [BIGINT_TAG]: value.toString() };
    if (value instanceof Uint8Array) return { [BYTES_TAG]: [...value].map((b) => b.toString(16).padStart(2, '0')).join('') };
    return value;
  });
  return encoder.encode(json);
}

/** Decodes what {@link encodeProtocolData} wrote; empty bytes (Kafka's "no assignment") read as null. */
export function decodeProtocolData(bytes: Uint8Array): unknown {
  if (bytes.length === 0) return null;
  try {
    return JSON.parse(strictDecoder.decode(bytes), (_key, value: unknown) => {
      if (typeof value !== 'object' || value === null || Array.isArray(value)) return value;
      const keys = Object.keys(value);
      if (keys.length !== 1) return value;
      const tagged = (value as Record<string, unknown>)[keys[0] as string];
      if (keys[0] === BIGINT_TAG && typeof tagged === 'string') return BigInt(tagged);
      if (keys[0] === BYTES_TAG && typeof tagged === 'string') return Uint8Array.from(tagged.match(/../g) ?? [], (h) => parseInt(h, 16));
      return value;
    });
  } catch (e) {
    throw new CorruptRecordError(`bad subscription or assignment JSON in an __consumer_offsets record: ${(e as Error).message}`);
  }
}

/** Appends Kafka's non-flexible primitives to a growing buffer. */
class Writer {
  private readonly chunks: Uint8Array[] = [];
  private size = 0;
  private push(bytes: Uint8Array): void {
    this.chunks.push(bytes);
    this.size += bytes.length;
  }
  private fixed(length: number, write: (view: DataView) => void): void {
    const bytes = new Uint8Array(length);
    write(new DataView(bytes.buffer));
    this.push(bytes);
  }
  int16(v: number): void {
    this.fixed(2, (d) => d.setInt16(0, v));
  }
  int32(v: number): void {
    this.fixed(4, (d) => d.setInt32(0, v));
  }
  int64(v: number): void {
    this.fixed(8, (d) => d.setBigInt64(0, BigInt(v)));
  }
  /** A (nullable) string: int16 length (-1 for null), then UTF-8. */
  string(v: string | null): void {
    if (v === null) {
      this.int16(-1);
      return;
    }
    const bytes = encoder.encode(v);
    if (bytes.length > 0x7fff) throw new CorruptRecordError(`string of ${bytes.length} bytes does not fit an int16 length`);
    this.int16(bytes.length);
    this.push(bytes);
  }
  /** Bytes: int32 length, then the bytes. */
  bytes(v: Uint8Array): void {
    this.int32(v.length);
    this.push(v);
  }
  finish(): Uint8Array {
    const out = new Uint8Array(this.size);
    let p = 0;
    for (const c of this.chunks) {
      out.set(c, p);
      p += c.length;
    }
    return out;
  }
}

/** Reads Kafka's non-flexible primitives, failing with CorruptRecordError past the end. */
class Reader {
  private readonly view: DataView;
  private p = 0;
  constructor(private readonly buf: Uint8Array) {
    this.view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  }
  private need(n: number): number {
    if (n < 0 || this.p + n > this.buf.length) throw new CorruptRecordError('truncated __consumer_offsets group metadata value');
    const at = this.p;
    this.p += n;
    return at;
  }
  int16(): number {
    return this.view.getInt16(this.need(2));
  }
  int32(): number {
    return this.view.getInt32(this.need(4));
  }
  int64(): number {
    return Number(this.view.getBigInt64(this.need(8)));
  }
  nullableString(): string | null {
    const len = this.int16();
    if (len === -1) return null;
    const at = this.need(len);
    return decoder.decode(this.buf.subarray(at, at + len));
  }
  string(): string {
    const s = this.nullableString();
    if (s === null) throw new CorruptRecordError('null in a non-nullable string of an __consumer_offsets group metadata value');
    return s;
  }
  bytes(): Uint8Array {
    const len = this.int32();
    const at = this.need(len);
    return this.buf.subarray(at, at + len);
  }
}

/**
 * Encodes a classic group's metadata as `GroupMetadataValue` v3:
 *
 * | field | type |
 * |---|---|
 * | version | int16 = 3 |
 * | protocolType | string (`''` when the group has none) |
 * | generation | int32 |
 * | protocol | nullable string |
 * | leader | nullable string |
 * | currentStateTimestamp | int64 (ms) |
 * | members | int32 count, then per member: memberId string, groupInstanceId nullable string, clientId string, clientHost string, rebalanceTimeout int32, sessionTimeout int32, subscription bytes, assignment bytes |
 *
 * Strings are int16-length-prefixed UTF-8 (-1 for null); bytes are int32-length-prefixed. The
 * subscription and assignment bytes are {@link encodeProtocolData} JSON, not Kafka's ConsumerProtocol.
 */
export function encodeGroupMetadataValue(metadata: GroupMetadata, currentStateTimestamp: number): Uint8Array {
  const w = new Writer();
  w.int16(GROUP_METADATA_VALUE_VERSION);
  w.string(metadata.protocolType ?? '');
  w.int32(metadata.generation);
  w.string(metadata.protocol);
  w.string(metadata.leader);
  w.int64(currentStateTimestamp);
  w.int32(metadata.members.length);
  for (const m of metadata.members) {
    w.string(m.memberId);
    w.string(m.groupInstanceId);
    w.string(m.clientId);
    w.string(m.clientHost);
    w.int32(m.rebalanceTimeout);
    w.int32(m.sessionTimeout);
    w.bytes(encodeProtocolData(m.subscription));
    w.bytes(encodeProtocolData(m.assignment));
  }
  return w.finish();
}

/**
 * Decodes a `GroupMetadataValue` (versions 0-3; v4, the flexible version samsa never writes, is
 * refused) of group `groupId`. Fields a version lacks take Kafka's loader defaults: rebalance
 * timeout = session timeout (v0), state timestamp -1 (v0-v1), no instance id (v0-v2). An empty
 * protocol type reads as null.
 */
export function decodeGroupMetadataValue(bytes: Uint8Array, groupId: string): StoredGroupMetadata {
  const r = new Reader(bytes);
  const version = r.int16();
  if (version < 0 || version > 3) throw new CorruptRecordError(`unsupported __consumer_offsets group metadata value version ${version}`);
  const protocolType = r.string();
  const generation = r.int32();
  const protocol = r.nullableString();
  const leader = r.nullableString();
  const currentStateTimestamp = version >= 2 ? r.int64() : -1;
  const count = r.int32();
  if (count < 0) throw new CorruptRecordError(`negative member count ${count} in an __consumer_offsets group metadata value`);
  const members: GroupMetadataMember[] = [];
  for (let i = 0; i < count; i++) {
    const memberId = r.string();
    const groupInstanceId = version >= 3 ? r.nullableString() : null;
    const clientId = r.string();
    const clientHost = r.string();
    const rebalanceTimeout = version >= 1 ? r.int32() : undefined;
    const sessionTimeout = r.int32();
    const subscription = decodeProtocolData(r.bytes());
    const assignment = decodeProtocolData(r.bytes());
    members.push({ memberId, groupInstanceId, clientId, clientHost, rebalanceTimeout: rebalanceTimeout ?? sessionTimeout, sessionTimeout, subscription, assignment });
  }
  return { groupId, protocolType: protocolType === '' ? null : protocolType, generation, protocol, leader, currentStateTimestamp, members };
}

/** Kafka's `Utils.abs(groupId.hashCode) % partitions`: the offsets partition (and coordinator) of a group. */
export function offsetsPartitionFor(groupId: string, partitions: number): number {
  let h = 0;
  for (let i = 0; i < groupId.length; i++) h = (Math.imul(31, h) + groupId.charCodeAt(i)) | 0;
  // Kafka's Utils.abs maps Integer.MIN_VALUE to 0.
  const abs = h === -2147483648 ? 0 : Math.abs(h);
  return abs % partitions;
}
