/**
 * Records of the `__transaction_state` topic in Kafka's binary layout (`TransactionLogKey.json`,
 * `TransactionLogValue.json`, `TransactionLog.scala`), so the log reads as Kafka's:
 *
 * - key, version 0: `int16 version` then `TransactionalId` as a string (int16 length, UTF-8);
 * - value, version 0 (non-flexible): `int16 version`, ProducerId int64, ProducerEpoch int16,
 *   TransactionTimeoutMs int32, TransactionStatus int8, TransactionPartitions (nullable int32-
 *   counted array of {Topic string, PartitionIds int32-counted int32 array}),
 *   TransactionLastUpdateTimestampMs int64, TransactionStartTimestampMs int64;
 * - value, version 1 (flexible, what Kafka writes with `transaction.version` ≥ 1 and samsa always
 *   writes): the same fields with compact (unsigned-varint, length + 1) strings and arrays, a
 *   tagged-field section after each partition entry and after the value, and the tagged fields
 *   PreviousProducerId (tag 0, int64, default −1), NextProducerId (tag 1, int64, default −1) and
 *   ClientTransactionVersion (tag 2, int16, default 0), each written only when not its default;
 * - a null value (tombstone) deletes the transactional id (Kafka writes one when it expires).
 *
 * The schema has no field for the last producer epoch: as Kafka does, a decoded record has
 * `lastProducerEpoch` −1. Empty records carry null partitions; partitions are written grouped by
 * topic in sorted order (Kafka's order is a hash map's, so only samsa's own bytes are stable).
 */
import { CorruptRecordError, InvalidArgumentError } from '../errors.ts';
import { NO_PRODUCER_EPOCH, NO_PRODUCER_ID, TRANSACTION_STATE_IDS, sortPartitions, transactionStateFromId } from './transactionState.ts';
import type { TopicPartition, TransactionMetadata } from './transactionState.ts';

/** Name of the internal transaction state topic. */
export const TRANSACTION_STATE_TOPIC = '__transaction_state';

/** Kafka's defaults for the topic (`transaction.state.log.*`): compacted, 50 partitions, RF 3, min ISR 2, 100 MiB segments. */
export const TRANSACTION_STATE_TOPIC_DEFAULTS = {
  'transaction.state.log.num.partitions': 50,
  'transaction.state.log.replication.factor': 3,
  'transaction.state.log.min.isr': 2,
  'transaction.state.log.segment.bytes': 104_857_600,
} as const;

/** The only key version Kafka defines. */
export const TRANSACTION_LOG_KEY_VERSION = 0;
/** The value version samsa writes (flexible: carries the previous and next producer ids TV2 needs). */
export const TRANSACTION_LOG_VALUE_VERSION = 1;

const encoder = new TextEncoder();
const decoder = new TextDecoder('utf-8', { fatal: true });

/* ------------------------------------------------------------------------------------------ */
/* Java String.hashCode and the partition of a transactional id                                */
/* ------------------------------------------------------------------------------------------ */

/** Java's `String.hashCode` (over UTF-16 code units, as a signed int32). */
export function javaStringHashCode(s: string): number {
  let h = 0;
  for (let i = 0; i < s.length; i++) h = (Math.imul(31, h) + s.charCodeAt(i)) | 0;
  return h;
}

/**
 * The `__transaction_state` partition (and so the coordinator) of a transactional id: Kafka's
 * `Utils.abs(transactionalId.hashCode) % partitionCount`, where `Utils.abs` is `Math.abs` except
 * that Integer.MIN_VALUE maps to 0 (not `& 0x7fffffff`, which would differ for every negative
 * hash). The same formula as `offsetsPartitionFor` of the group coordinator.
 */
export function transactionStatePartitionFor(transactionalId: string, partitionCount: number): number {
  if (!Number.isInteger(partitionCount) || partitionCount < 1) throw new InvalidArgumentError('partitionCount', `must be a positive integer, got ${partitionCount}`);
  const h = javaStringHashCode(transactionalId);
  return (h === -2147483648 ? 0 : Math.abs(h)) % partitionCount;
}

/* ------------------------------------------------------------------------------------------ */
/* Writing                                                                                     */
/* ------------------------------------------------------------------------------------------ */

class Writer {
  private bytes = new Uint8Array(64);
  private view = new DataView(this.bytes.buffer);
  private pos = 0;

  private ensure(n: number): void {
    if (this.pos + n <= this.bytes.length) return;
    const grown = new Uint8Array(Math.max(this.bytes.length * 2, this.pos + n));
    grown.set(this.bytes);
    this.bytes = grown;
    this.view = new DataView(grown.buffer);
  }
  int8(v: number): void {
    this.ensure(1);
    this.view.setInt8(this.pos, v);
    this.pos += 1;
  }
  int16(v: number): void {
    this.ensure(2);
    this.view.setInt16(this.pos, v);
    this.pos += 2;
  }
  int32(v: number): void {
    this.ensure(4);
    this.view.setInt32(this.pos, v);
    this.pos += 4;
  }
  int64(v: bigint): void {
    this.ensure(8);
    this.view.setBigInt64(this.pos, BigInt.asIntN(64, v));
    this.pos += 8;
  }
  uint8(v: number): void {
    this.ensure(1);
    this.view.setUint8(this.pos, v);
    this.pos += 1;
  }
  uvarint(v: number): void {
    let value = v >>> 0;
    while (value >= 0x80) {
      this.uint8((value & 0x7f) | 0x80);
      value >>>= 7;
    }
    this.uint8(value);
  }
  raw(b: Uint8Array): void {
    this.ensure(b.length);
    this.bytes.set(b, this.pos);
    this.pos += b.length;
  }
  string(s: string): void {
    const b = encoder.encode(s);
    if (b.length > 32767) throw new InvalidArgumentError('string', `a string field of ${b.length} UTF-8 bytes exceeds Kafka's limit of 32767`);
    this.int16(b.length);
    this.raw(b);
  }
  compactString(s: string): void {
    const b = encoder.encode(s);
    if (b.length > 32767) throw new InvalidArgumentError('string', `a string field of ${b.length} UTF-8 bytes exceeds Kafka's limit of 32767`);
    this.uvarint(b.length + 1);
    this.raw(b);
  }
  done(): Uint8Array {
    return this.bytes.slice(0, this.pos);
  }
}

/** Encodes the key of `transactionalId` (key version 0). */
export function encodeTransactionLogKey(transactionalId: string): Uint8Array {
  const w = new Writer();
  w.int16(TRANSACTION_LOG_KEY_VERSION);
  w.string(transactionalId);
  return w.done();
}

function groupByTopic(partitions: readonly TopicPartition[]): Array<{ topic: string; ids: number[] }> {
  const groups: Array<{ topic: string; ids: number[] }> = [];
  for (const p of sortPartitions(partitions)) {
    const last = groups[groups.length - 1];
    if (last !== undefined && last.topic === p.topic) last.ids.push(p.partition);
    else groups.push({ topic: p.topic, ids: [p.partition] });
  }
  return groups;
}

/**
 * Encodes `metadata` as a `TransactionLogValue` of `version` (1 by default). Version 0 cannot
 * carry the previous/next producer ids or the client transaction version; they are dropped.
 * Throws InvalidArgumentError for Dead (written as a tombstone: see {@link encodeTransactionLogRecord})
 * and for an Empty transaction with partitions (Kafka's `IllegalStateException`).
 */
export function encodeTransactionLogValue(metadata: TransactionMetadata, version: 0 | 1 = TRANSACTION_LOG_VALUE_VERSION): Uint8Array {
  if (metadata.state === 'Dead') throw new InvalidArgumentError('metadata', `transactional id "${metadata.transactionalId}" is Dead: write a tombstone (null value) instead`);
  if (metadata.state === 'Empty' && metadata.partitions.length > 0) throw new InvalidArgumentError('metadata', `transactional id "${metadata.transactionalId}" is Empty but has partitions`);
  const flexible = version === 1;
  const w = new Writer();
  w.int16(version);
  w.int64(metadata.producerId);
  w.int16(metadata.producerEpoch);
  w.int32(metadata.txnTimeoutMs);
  w.int8(TRANSACTION_STATE_IDS[metadata.state]);
  const groups = metadata.state === 'Empty' ? null : groupByTopic(metadata.partitions);
  if (flexible) {
    w.uvarint(groups === null ? 0 : groups.length + 1);
    for (const g of groups ?? []) {
      w.compactString(g.topic);
      w.uvarint(g.ids.length + 1);
      for (const id of g.ids) w.int32(id);
      w.uvarint(0); // no tagged fields in the partition entry
    }
  } else {
    w.int32(groups === null ? -1 : groups.length);
    for (const g of groups ?? []) {
      w.string(g.topic);
      w.int32(g.ids.length);
      for (const id of g.ids) w.int32(id);
    }
  }
  w.int64(BigInt(metadata.txnLastUpdateTimestamp));
  w.int64(BigInt(metadata.txnStartTimestamp));
  if (flexible) {
    // Tagged fields in tag order, only when not their default.
    const tags: Array<[number, Uint8Array]> = [];
    if (metadata.previousProducerId !== NO_PRODUCER_ID) tags.push([0, int64Bytes(metadata.previousProducerId)]);
    if (metadata.nextProducerId !== NO_PRODUCER_ID) tags.push([1, int64Bytes(metadata.nextProducerId)]);
    if (metadata.clientTransactionVersion !== 0) tags.push([2, int16Bytes(metadata.clientTransactionVersion)]);
    w.uvarint(tags.length);
    for (const [tag, data] of tags) {
      w.uvarint(tag);
      w.uvarint(data.length);
      w.raw(data);
    }
  }
  return w.done();
}

function int64Bytes(v: bigint): Uint8Array {
  const b = new Uint8Array(8);
  new DataView(b.buffer).setBigInt64(0, BigInt.asIntN(64, v));
  return b;
}

function int16Bytes(v: number): Uint8Array {
  const b = new Uint8Array(2);
  new DataView(b.buffer).setInt16(0, v);
  return b;
}

/** The record that persists `transit`: its key, and its value or null (a tombstone) when it is Dead. */
export function encodeTransactionLogRecord(transit: TransactionMetadata, version: 0 | 1 = TRANSACTION_LOG_VALUE_VERSION): { key: Uint8Array; value: Uint8Array | null } {
  return { key: encodeTransactionLogKey(transit.transactionalId), value: transit.state === 'Dead' ? null : encodeTransactionLogValue(transit, version) };
}

/* ------------------------------------------------------------------------------------------ */
/* Reading                                                                                     */
/* ------------------------------------------------------------------------------------------ */

class Reader {
  private readonly view: DataView;
  pos = 0;
  constructor(
    private readonly bytes: Uint8Array,
    private readonly what: string,
  ) {
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }
  corrupt(reason: string, at = this.pos): never {
    throw new CorruptRecordError(`${this.what}: ${reason}`, at);
  }
  need(n: number): void {
    if (n < 0 || this.pos + n > this.bytes.length) this.corrupt(`truncated: needs ${n} more bytes, ${this.bytes.length - this.pos} left`);
  }
  int8(): number {
    this.need(1);
    return this.view.getInt8(this.pos++);
  }
  int16(): number {
    this.need(2);
    const v = this.view.getInt16(this.pos);
    this.pos += 2;
    return v;
  }
  int32(): number {
    this.need(4);
    const v = this.view.getInt32(this.pos);
    this.pos += 4;
    return v;
  }
  int64(): bigint {
    this.need(8);
    const v = this.view.getBigInt64(this.pos);
    this.pos += 8;
    return v;
  }
  /** Kafka's `readUnsignedVarint`: at most 5 bytes. */
  uvarint(): number {
    const start = this.pos;
    let value = 0;
    for (let shift = 0; shift < 35; shift += 7) {
      this.need(1);
      const b = this.bytes[this.pos++] as number;
      value += (b & 0x7f) * 2 ** shift;
      if ((b & 0x80) === 0) {
        if (value > 0xffffffff) this.corrupt('unsigned varint overflows 32 bits', start);
        return value;
      }
    }
    return this.corrupt('unsigned varint longer than 5 bytes', start);
  }
  utf8(length: number): string {
    this.need(length);
    const start = this.pos;
    this.pos += length;
    try {
      return decoder.decode(this.bytes.subarray(start, start + length));
    } catch {
      return this.corrupt('a string is not valid UTF-8', start);
    }
  }
  string(): string {
    const at = this.pos;
    const len = this.int16();
    if (len < 0) this.corrupt(`null or negative string length ${len}`, at);
    return this.utf8(len);
  }
  compactString(): string {
    const at = this.pos;
    const len = this.uvarint() - 1;
    if (len < 0) this.corrupt('null compact string', at);
    return this.utf8(len);
  }
  skip(n: number): void {
    this.need(n);
    this.pos += n;
  }
  end(): void {
    if (this.pos !== this.bytes.length) this.corrupt(`${this.bytes.length - this.pos} trailing bytes`);
  }
}

/** A decoded key: the transactional id, or a key version Kafka does not define (Kafka skips such records). */
export type TransactionLogKey = { readonly kind: 'transaction'; readonly transactionalId: string } | { readonly kind: 'unknown'; readonly version: number };

/** Decodes a key; throws CorruptRecordError when a version-0 key is malformed. */
export function decodeTransactionLogKey(bytes: Uint8Array): TransactionLogKey {
  const r = new Reader(bytes, '__transaction_state key');
  const version = r.int16();
  if (version !== TRANSACTION_LOG_KEY_VERSION) return { kind: 'unknown', version };
  const transactionalId = r.string();
  r.end();
  return { kind: 'transaction', transactionalId };
}

/**
 * Decodes a `TransactionLogValue` (versions 0 and 1) into the metadata of `transactionalId`, as
 * Kafka loads it: `lastProducerEpoch` −1, no pending transition, partitions ignored for Empty,
 * unknown tagged fields skipped. Throws CorruptRecordError for malformed bytes, an unknown value
 * version or status, or trailing bytes.
 */
export function decodeTransactionLogValue(transactionalId: string, bytes: Uint8Array): TransactionMetadata {
  const r = new Reader(bytes, `__transaction_state value of "${transactionalId}"`);
  const version = r.int16();
  if (version !== 0 && version !== 1) r.corrupt(`unknown value version ${version}`, 0);
  const flexible = version === 1;
  const producerId = r.int64();
  const producerEpoch = r.int16();
  const txnTimeoutMs = r.int32();
  const statusAt = r.pos;
  const status = r.int8();
  const state = transactionStateFromId(status);
  if (state === undefined) return r.corrupt(`unknown transaction status ${status}`, statusAt);
  const partitions: TopicPartition[] = [];
  const countAt = r.pos;
  const count = flexible ? r.uvarint() - 1 : r.int32();
  if (count < -1) r.corrupt(`negative partition array length ${count}`, countAt);
  for (let i = 0; i < count; i++) {
    const topic = flexible ? r.compactString() : r.string();
    const idsAt = r.pos;
    const ids = flexible ? r.uvarint() - 1 : r.int32();
    if (ids < 0) r.corrupt(`null or negative partition id array length ${ids}`, idsAt);
    r.need(ids * 4);
    for (let j = 0; j < ids; j++) partitions.push({ topic, partition: r.int32() });
    if (flexible) skipTaggedFields(r);
  }
  const txnLastUpdateTimestamp = Number(r.int64());
  const txnStartTimestamp = Number(r.int64());
  let previousProducerId = NO_PRODUCER_ID;
  let nextProducerId = NO_PRODUCER_ID;
  let clientTransactionVersion = 0;
  if (flexible) {
    const tags = r.uvarint();
    for (let i = 0; i < tags; i++) {
      const tagAt = r.pos;
      const tag = r.uvarint();
      const size = r.uvarint();
      const expected = tag === 0 || tag === 1 ? 8 : tag === 2 ? 2 : undefined;
      if (expected !== undefined && size !== expected) r.corrupt(`tagged field ${tag} has ${size} bytes, expected ${expected}`, tagAt);
      if (tag === 0) previousProducerId = r.int64();
      else if (tag === 1) nextProducerId = r.int64();
      else if (tag === 2) clientTransactionVersion = r.int16();
      else r.skip(size); // a field from a newer Kafka: ignored, as Kafka's generated readers do
    }
  }
  r.end();
  return {
    transactionalId,
    producerId,
    previousProducerId,
    nextProducerId,
    producerEpoch,
    lastProducerEpoch: NO_PRODUCER_EPOCH,
    txnTimeoutMs,
    state,
    partitions: state === 'Empty' ? [] : sortPartitions(partitions),
    txnStartTimestamp,
    txnLastUpdateTimestamp,
    clientTransactionVersion,
    pendingState: undefined,
  };
}

function skipTaggedFields(r: Reader): void {
  const n = r.uvarint();
  for (let i = 0; i < n; i++) {
    r.uvarint();
    r.skip(r.uvarint());
  }
}

/** A decoded `__transaction_state` record. */
export type TransactionLogRecord =
  | { readonly kind: 'metadata'; readonly transactionalId: string; readonly metadata: TransactionMetadata }
  | { readonly kind: 'tombstone'; readonly transactionalId: string }
  | { readonly kind: 'unknownKey'; readonly version: number };

/**
 * Decodes a record: its metadata, a tombstone (null value), or a key of an unknown version (Kafka
 * skips those while loading). Throws CorruptRecordError for a null key or malformed bytes.
 */
export function decodeTransactionLogRecord(key: Uint8Array | null, value: Uint8Array | null): TransactionLogRecord {
  if (key === null) throw new CorruptRecordError('a __transaction_state record has a null key');
  const k = decodeTransactionLogKey(key);
  if (k.kind === 'unknown') return { kind: 'unknownKey', version: k.version };
  if (value === null) return { kind: 'tombstone', transactionalId: k.transactionalId };
  return { kind: 'metadata', transactionalId: k.transactionalId, metadata: decodeTransactionLogValue(k.transactionalId, value) };
}

/**
 * Rebuilds a coordinator's state from its `__transaction_state` partition, in log order: the last
 * value per transactional id wins, a tombstone removes it, unknown key versions are skipped.
 * A Dead value (Kafka never writes one) removes the id like a tombstone. Transactions found in
 * Prepare* still need their markers sent; Ongoing ones resume their timeouts.
 */
export function replayTransactionLog(records: Iterable<{ readonly key: Uint8Array | null; readonly value: Uint8Array | null }>): Map<string, TransactionMetadata> {
  const state = new Map<string, TransactionMetadata>();
  for (const { key, value } of records) {
    const record = decodeTransactionLogRecord(key, value);
    if (record.kind === 'unknownKey') continue;
    if (record.kind === 'tombstone' || record.metadata.state === 'Dead') state.delete(record.transactionalId);
    else state.set(record.transactionalId, record.metadata);
  }
  return state;
}
