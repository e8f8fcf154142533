/**
 * Encoding a Kafka record batch v2 from records, byte-identical to what Kafka's
 * `MemoryRecordsBuilder` (and KafkaJS) writes for the same input: every argument is checked first,
 * then each record is sized once and written straight into its final buffer (or into the buffer
 * to be compressed).
 */
import { InvalidArgumentError } from '../errors.ts';
import {
  CONTROL_FLAG_MASK,
  DELETE_HORIZON_FLAG_MASK,
  INT32_MAX,
  NO_PARTITION_LEADER_EPOCH,
  NO_PRODUCER_EPOCH,
  NO_PRODUCER_ID,
  NO_SEQUENCE,
  NO_TIMESTAMP,
  RECORD_BATCH_OVERHEAD,
  TIMESTAMP_TYPE_MASK,
  TRANSACTIONAL_FLAG_MASK,
  checkOffsetRange,
  describe,
  isInt,
  isInt64,
  isKafkaTimestamp,
  writeBatchHeader,
} from './batchHeader.ts';
import type { TimestampType } from './batchHeader.ts';
import { codecId, compress, isCompressionCodec } from './compression.ts';
import type { CompressionCodec } from './compression.ts';
import { sizeOfVarint, sizeOfVarlong, writeVarint, writeVarlong } from './varint.ts';

/** A record header. Keys are UTF-8 strings; values may be null. Header keys may repeat. */
export interface RecordHeader {
  key: string;
  value: Uint8Array | null;
}

/** One record to encode. */
export interface RecordInput {
  /** Offset relative to the batch's base offset; defaults to the record's index. Must increase. */
  offsetDelta?: number;
  /** Milliseconds since the epoch, or -1 for none (Kafka rejects other negative values). */
  timestamp: number;
  key: Uint8Array | null;
  /** Null makes the record a tombstone. */
  value: Uint8Array | null;
  headers?: readonly RecordHeader[];
}

/** What {@link encodeRecordBatch} encodes. Defaults are Kafka's producer-side values. */
export interface RecordBatchInput {
  /** Default 0n: the leader assigns offsets on append ({@link stampBatch}). */
  baseOffset?: bigint;
  /** Default -1: the leader stamps its epoch on append. */
  partitionLeaderEpoch?: number;
  /** Default 'none'. Empty batches are always written uncompressed, as Kafka does. */
  compression?: CompressionCodec;
  /** Default 'CreateTime'. */
  timestampType?: TimestampType;
  isTransactional?: boolean;
  isControl?: boolean;
  /** Default -1n (not idempotent). */
  producerId?: bigint;
  /** Default -1. */
  producerEpoch?: number;
  /** Default -1. */
  baseSequence?: number;
  /**
   * Sets attribute bit 6 and stores the horizon in baseTimestamp; record timestamp deltas are then
   * relative to it (as Kafka's `MemoryRecordsBuilder` does when compaction rewrites a batch).
   */
  deleteHorizonMs?: number;
  /**
   * Overrides the last offset delta, e.g. compaction keeps the original batch's last offset after
   * removing its trailing records. Must be at least the last record's offsetDelta. Required when
   * `records` is empty.
   */
  lastOffsetDelta?: number;
  /** Overrides maxTimestamp, e.g. the broker's time for LogAppendTime. Default: the largest record timestamp. */
  maxTimestamp?: number;
  records: readonly RecordInput[];
}

const utf8Encoder = new TextEncoder();

/** UTF-8 length of `s` as TextEncoder writes it (lone surrogates become U+FFFD, 3 bytes). */
function utf8Length(s: string): number {
  const n = s.length;
  let len = n;
  for (let i = 0; i < n; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x80) continue;
    if (c < 0x800) {
      len += 1;
    } else if (c >= 0xd800 && c <= 0xdbff && i + 1 < n && (s.charCodeAt(i + 1) & 0xfc00) === 0xdc00) {
      // A surrogate pair: two UTF-16 units, four UTF-8 bytes.
      len += 2;
      i++;
    } else {
      len += 2;
    }
  }
  return len;
}

/** Writes `s` (whose UTF-8 length is `len`) at `buf[pos]`; returns the position after it. */
function writeUtf8(buf: Uint8Array, pos: number, s: string, len: number): number {
  if (len === s.length) {
    // All ASCII: a byte loop beats encodeInto's call overhead for short keys.
    for (let i = 0; i < len; i++) buf[pos + i] = s.charCodeAt(i);
  } else {
    utf8Encoder.encodeInto(s, buf.subarray(pos, pos + len));
  }
  return pos + len;
}

function writeBytes(buf: Uint8Array, pos: number, bytes: Uint8Array): number {
  const n = bytes.length;
  if (n < 16) {
    for (let i = 0; i < n; i++) buf[pos + i] = bytes[i]!;
  } else {
    buf.set(bytes, pos);
  }
  return pos + n;
}

function bytesOrNull(value: unknown): value is Uint8Array | null {
  return value === null || value instanceof Uint8Array;
}

/** Encoded size of a record's headers (count varint included); validates them on the way. */
function headersSize(headers: unknown, index: number): number {
  if (headers === undefined) return 1;
  if (!Array.isArray(headers)) throw new InvalidArgumentError(`records[${index}].headers`, `must be an array of { key, value }, got ${describe(headers)}`);
  let size = sizeOfVarint(headers.length);
  for (let h = 0; h < headers.length; h++) {
    const header: unknown = headers[h];
    if (typeof header !== 'object' || header === null) throw new InvalidArgumentError(`records[${index}].headers[${h}]`, `must be an object { key, value }, got ${describe(header)}`);
    const { key, value } = header as { key: unknown; value: unknown };
    if (typeof key !== 'string') throw new InvalidArgumentError(`records[${index}].headers[${h}].key`, `must be a string, got ${describe(key)}`);
    if (!bytesOrNull(value)) throw new InvalidArgumentError(`records[${index}].headers[${h}].value`, `must be a Uint8Array or null, got ${describe(value)}`);
    const keyLength = utf8Length(key);
    size += sizeOfVarint(keyLength) + keyLength + (value === null ? 1 : sizeOfVarint(value.length) + value.length);
  }
  return size;
}

function writeRecord(buf: Uint8Array, pos: number, bodySize: number, record: RecordInput, offsetDelta: number, timestampDelta: number): number {
  pos = writeVarint(buf, pos, bodySize);
  buf[pos++] = 0; // record attributes: unused
  pos = writeVarlong(buf, pos, timestampDelta);
  pos = writeVarint(buf, pos, offsetDelta);
  const key = record.key;
  if (key === null) {
    buf[pos++] = 1; // zig-zag(-1)
  } else {
    pos = writeVarint(buf, pos, key.length);
    pos = writeBytes(buf, pos, key);
  }
  const value = record.value;
  if (value === null) {
    buf[pos++] = 1;
  } else {
    pos = writeVarint(buf, pos, value.length);
    pos = writeBytes(buf, pos, value);
  }
  const headers = record.headers;
  if (headers === undefined || headers.length === 0) {
    buf[pos++] = 0;
  } else {
    pos = writeVarint(buf, pos, headers.length);
    for (let h = 0; h < headers.length; h++) {
      const header = headers[h]!;
      const keyLength = utf8Length(header.key);
      pos = writeVarint(buf, pos, keyLength);
      pos = writeUtf8(buf, pos, header.key, keyLength);
      const hv = header.value;
      if (hv === null) {
        buf[pos++] = 1;
      } else {
        pos = writeVarint(buf, pos, hv.length);
        pos = writeBytes(buf, pos, hv);
      }
    }
  }
  return pos;
}

/**
 * Encodes a record batch v2, byte-identical to what Kafka's `MemoryRecordsBuilder` writes for the
 * same input: baseTimestamp is the first record's timestamp (or the delete horizon), maxTimestamp
 * the largest record timestamp (unless overridden), lastOffsetDelta the last record's offsetDelta
 * (unless overridden). Throws {@link InvalidArgumentError} for malformed input.
 */
export function encodeRecordBatch(input: RecordBatchInput): Uint8Array {
  if (typeof input !== 'object' || input === null) throw new InvalidArgumentError('input', `must be an object, got ${describe(input)}`);
  const {
    baseOffset = 0n,
    partitionLeaderEpoch = NO_PARTITION_LEADER_EPOCH,
    compression = 'none',
    timestampType = 'CreateTime',
    isTransactional: transactional = false,
    isControl = false,
    producerId = NO_PRODUCER_ID,
    producerEpoch = NO_PRODUCER_EPOCH,
    baseSequence = NO_SEQUENCE,
    deleteHorizonMs,
    lastOffsetDelta: lastOffsetDeltaOverride,
    maxTimestamp: maxTimestampOverride,
    records,
  } = input;

  if (!isInt64(baseOffset) || baseOffset < 0n) throw new InvalidArgumentError('baseOffset', `must be a non-negative int64 bigint, got ${describe(baseOffset)}`);
  if (!isInt(partitionLeaderEpoch, -0x80000000, INT32_MAX)) throw new InvalidArgumentError('partitionLeaderEpoch', `must be an int32, got ${describe(partitionLeaderEpoch)}`);
  if (!isCompressionCodec(compression)) codecId(compression); // throws the descriptive error
  if (timestampType !== 'CreateTime' && timestampType !== 'LogAppendTime') throw new InvalidArgumentError('timestampType', `must be 'CreateTime' or 'LogAppendTime', got ${describe(timestampType)}`);
  if (typeof transactional !== 'boolean') throw new InvalidArgumentError('isTransactional', `must be a boolean, got ${describe(transactional)}`);
  if (typeof isControl !== 'boolean') throw new InvalidArgumentError('isControl', `must be a boolean, got ${describe(isControl)}`);
  if (!isInt64(producerId)) throw new InvalidArgumentError('producerId', `must be an int64 bigint, got ${describe(producerId)}`);
  if (!isInt(producerEpoch, -0x8000, 0x7fff)) throw new InvalidArgumentError('producerEpoch', `must be an int16, got ${describe(producerEpoch)}`);
  if (!isInt(baseSequence, -0x80000000, INT32_MAX)) throw new InvalidArgumentError('baseSequence', `must be an int32, got ${describe(baseSequence)}`);
  if (deleteHorizonMs !== undefined && !isInt(deleteHorizonMs, 0, Number.MAX_SAFE_INTEGER)) {
    throw new InvalidArgumentError('deleteHorizonMs', `must be a non-negative safe integer, got ${describe(deleteHorizonMs)}`);
  }
  if (lastOffsetDeltaOverride !== undefined && !isInt(lastOffsetDeltaOverride, 0, INT32_MAX)) {
    throw new InvalidArgumentError('lastOffsetDelta', `must be an int32 >= 0, got ${describe(lastOffsetDeltaOverride)}`);
  }
  if (maxTimestampOverride !== undefined && !isKafkaTimestamp(maxTimestampOverride)) {
    throw new InvalidArgumentError('maxTimestamp', `must be a safe integer >= -1, got ${describe(maxTimestampOverride)}`);
  }
  if (!Array.isArray(records)) throw new InvalidArgumentError('records', `must be an array, got ${describe(records)}`);
  const count = records.length;
  if (count > INT32_MAX) throw new InvalidArgumentError('records', `too many records (${count}); a batch holds at most ${INT32_MAX}`);

  let attributes = (transactional ? TRANSACTIONAL_FLAG_MASK : 0) | (isControl ? CONTROL_FLAG_MASK : 0) | (timestampType === 'LogAppendTime' ? TIMESTAMP_TYPE_MASK : 0);
  if (deleteHorizonMs !== undefined) attributes |= DELETE_HORIZON_FLAG_MASK;

  if (count === 0) {
    // Kafka keeps empty batches only to preserve producer state after compaction; it writes them
    // uncompressed with no base timestamp (DefaultRecordBatch.writeEmptyHeader).
    if (lastOffsetDeltaOverride === undefined) throw new InvalidArgumentError('records', 'is empty; an empty batch needs an explicit lastOffsetDelta (only compaction keeps empty batches)');
    checkOffsetRange(baseOffset, lastOffsetDeltaOverride);
    const out = new Uint8Array(RECORD_BATCH_OVERHEAD);
    writeBatchHeader(out, {
      baseOffset,
      partitionLeaderEpoch,
      attributes,
      lastOffsetDelta: lastOffsetDeltaOverride,
      baseTimestamp: deleteHorizonMs ?? NO_TIMESTAMP,
      maxTimestamp: maxTimestampOverride ?? NO_TIMESTAMP,
      producerId,
      producerEpoch,
      baseSequence,
      recordsCount: 0,
    });
    return out;
  }

  // Pass 1: validate and size every record. Sizes go in one per-batch array (no per-record objects).
  const first: unknown = records[0];
  if (typeof first !== 'object' || first === null) throw new InvalidArgumentError('records[0]', `must be an object, got ${describe(first)}`);
  const firstTimestamp = (first as { timestamp: unknown }).timestamp;
  if (!isKafkaTimestamp(firstTimestamp)) throw new InvalidArgumentError('records[0].timestamp', `must be a safe integer >= -1 (ms), got ${describe(firstTimestamp)}`);
  const baseTimestamp = deleteHorizonMs ?? firstTimestamp;
  const bodySizes = new Int32Array(count);
  const offsetDeltas = new Int32Array(count);
  let maxTimestamp = NO_TIMESTAMP;
  let previousDelta = -1;
  let recordsSize = 0;
  for (let i = 0; i < count; i++) {
    const record: unknown = records[i];
    if (typeof record !== 'object' || record === null) throw new InvalidArgumentError(`records[${i}]`, `must be an object, got ${describe(record)}`);
    const { timestamp, key, value, headers, offsetDelta: givenDelta } = record as RecordInput;
    if (!isKafkaTimestamp(timestamp)) throw new InvalidArgumentError(`records[${i}].timestamp`, `must be a safe integer >= -1 (ms), got ${describe(timestamp)}`);
    const timestampDelta = timestamp - baseTimestamp;
    if (!Number.isSafeInteger(timestampDelta)) throw new InvalidArgumentError(`records[${i}].timestamp`, `is too far from the base timestamp ${baseTimestamp}`);
    if (!bytesOrNull(key)) throw new InvalidArgumentError(`records[${i}].key`, `must be a Uint8Array or null, got ${describe(key)}`);
    if (!bytesOrNull(value)) throw new InvalidArgumentError(`records[${i}].value`, `must be a Uint8Array or null, got ${describe(value)}`);
    const offsetDelta = givenDelta === undefined ? i : givenDelta;
    if (!isInt(offsetDelta, 0, INT32_MAX)) throw new InvalidArgumentError(`records[${i}].offsetDelta`, `must be an int32 >= 0, got ${describe(offsetDelta)}`);
    if (offsetDelta <= previousDelta) throw new InvalidArgumentError(`records[${i}].offsetDelta`, `must increase within a batch (${offsetDelta} follows ${previousDelta})`);
    previousDelta = offsetDelta;
    if (timestamp > maxTimestamp) maxTimestamp = timestamp;
    const body =
      1 +
      sizeOfVarlong(timestampDelta) +
      sizeOfVarint(offsetDelta) +
      (key === null ? 1 : sizeOfVarint(key.length) + key.length) +
      (value === null ? 1 : sizeOfVarint(value.length) + value.length) +
      headersSize(headers, i);
    bodySizes[i] = body;
    offsetDeltas[i] = offsetDelta;
    recordsSize += sizeOfVarint(body) + body;
    if (recordsSize > INT32_MAX - RECORD_BATCH_OVERHEAD) throw new InvalidArgumentError('records', `encode to more than ${INT32_MAX} bytes; split them into smaller batches`);
  }
  const lastOffsetDelta = lastOffsetDeltaOverride ?? previousDelta;
  if (lastOffsetDelta < previousDelta) throw new InvalidArgumentError('lastOffsetDelta', `must be at least the last record's offsetDelta ${previousDelta}, got ${lastOffsetDelta}`);
  checkOffsetRange(baseOffset, lastOffsetDelta);

  // Pass 2: write records straight into their final home (or into the buffer to be compressed).
  const compressed = compression !== 'none';
  const total = RECORD_BATCH_OVERHEAD + recordsSize;
  const target = new Uint8Array(compressed ? recordsSize : total);
  let pos = compressed ? 0 : RECORD_BATCH_OVERHEAD;
  for (let i = 0; i < count; i++) {
    const record = records[i]!;
    pos = writeRecord(target, pos, bodySizes[i]!, record, offsetDeltas[i]!, record.timestamp - baseTimestamp);
  }
  let out = target;
  if (compressed) {
    const payload = compress(compression, target);
    out = new Uint8Array(RECORD_BATCH_OVERHEAD + payload.length);
    out.set(payload, RECORD_BATCH_OVERHEAD);
    attributes |= codecId(compression);
  }
  writeBatchHeader(out, {
    baseOffset,
    partitionLeaderEpoch,
    attributes,
    lastOffsetDelta,
    baseTimestamp,
    maxTimestamp: maxTimestampOverride ?? maxTimestamp,
    producerId,
    producerEpoch,
    baseSequence,
    recordsCount: count,
  });
  return out;
}
