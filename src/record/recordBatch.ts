/**
 * Kafka record batch v2 (magic 2): the same bytes on disk and on the wire, byte-exact with Kafka's
 * `DefaultRecordBatch` / `DefaultRecord` and with KafkaJS.
 *
 * Layout (big-endian; offsets from the batch start):
 * baseOffset int64 @0 · batchLength int32 @8 · partitionLeaderEpoch int32 @12 · magic int8 @16 ·
 * crc uint32 @17 · attributes int16 @21 · lastOffsetDelta int32 @23 · baseTimestamp int64 @27 ·
 * maxTimestamp int64 @35 · producerId int64 @43 · producerEpoch int16 @51 · baseSequence int32 @53 ·
 * recordsCount int32 @57 · records @61. The CRC-32C covers [21, end): baseOffset and
 * partitionLeaderEpoch can be stamped by the leader without recomputing it.
 */
import { CorruptRecordError, InvalidArgumentError } from '../errors.ts';
import { codecFromId, codecId, compress, decompress, isCompressionCodec } from './compression.ts';
import type { CompressionCodec } from './compression.ts';
import { crc32c } from './crc32c.ts';
import { ByteReader, readVarint, readVarlong, sizeOfVarint, sizeOfVarlong, writeVarint, writeVarlong } from './varint.ts';

/* ------------------------------------------------------------------------------------------ */
/* Constants                                                                                   */

/** Bytes before `batchLength`'s coverage starts: baseOffset + batchLength (Kafka `LOG_OVERHEAD`). */
export const LOG_OVERHEAD = 12;
/** Size of the fixed batch header; the first record starts here (Kafka `RECORD_BATCH_OVERHEAD`). */
export const RECORD_BATCH_OVERHEAD = 61;
/** The only magic value samsa reads and writes. */
export const MAGIC = 2;
/** Smallest valid `batchLength` (a batch with no records). */
export const MIN_BATCH_LENGTH = RECORD_BATCH_OVERHEAD - LOG_OVERHEAD;

/** Byte offset of baseOffset (int64). */
export const BASE_OFFSET_OFFSET = 0;
/** Byte offset of batchLength (int32). */
export const BATCH_LENGTH_OFFSET = 8;
/** Byte offset of partitionLeaderEpoch (int32, outside the CRC). */
export const PARTITION_LEADER_EPOCH_OFFSET = 12;
/** Byte offset of magic (int8). */
export const MAGIC_OFFSET = 16;
/** Byte offset of crc (uint32). */
export const CRC_OFFSET = 17;
/** Byte offset of attributes (int16); the CRC covers from here to the end of the batch. */
export const ATTRIBUTES_OFFSET = 21;
/** Byte offset of lastOffsetDelta (int32). */
export const LAST_OFFSET_DELTA_OFFSET = 23;
/** Byte offset of baseTimestamp (int64). */
export const BASE_TIMESTAMP_OFFSET = 27;
/** Byte offset of maxTimestamp (int64). */
export const MAX_TIMESTAMP_OFFSET = 35;
/** Byte offset of producerId (int64). */
export const PRODUCER_ID_OFFSET = 43;
/** Byte offset of producerEpoch (int16). */
export const PRODUCER_EPOCH_OFFSET = 51;
/** Byte offset of baseSequence (int32). */
export const BASE_SEQUENCE_OFFSET = 53;
/** Byte offset of recordsCount (int32). */
export const RECORDS_COUNT_OFFSET = 57;
/** Byte offset of the first record (or of the compressed record payload). */
export const RECORDS_OFFSET = 61;

/** Attribute bits 0-2: compression codec id. */
export const COMPRESSION_CODEC_MASK = 0x07;
/** Attribute bit 3: timestamp type (set = LogAppendTime). */
export const TIMESTAMP_TYPE_MASK = 0x08;
/** Attribute bit 4: the batch belongs to a transaction. */
export const TRANSACTIONAL_FLAG_MASK = 0x10;
/** Attribute bit 5: the batch holds a control record (transaction marker). */
export const CONTROL_FLAG_MASK = 0x20;
/** Attribute bit 6: baseTimestamp holds the delete horizon set by compaction (KIP-534). */
export const DELETE_HORIZON_FLAG_MASK = 0x40;

/** Kafka's "no timestamp" sentinel (`RecordBatch.NO_TIMESTAMP`). */
export const NO_TIMESTAMP = -1;
/** Kafka's "no producer id" sentinel (`RecordBatch.NO_PRODUCER_ID`). */
export const NO_PRODUCER_ID = -1n;
/** Kafka's "no producer epoch" sentinel (`RecordBatch.NO_PRODUCER_EPOCH`). */
export const NO_PRODUCER_EPOCH = -1;
/** Kafka's "no sequence" sentinel (`RecordBatch.NO_SEQUENCE`). */
export const NO_SEQUENCE = -1;
/** Kafka's "no partition leader epoch" sentinel (`RecordBatch.NO_PARTITION_LEADER_EPOCH`). */
export const NO_PARTITION_LEADER_EPOCH = -1;

const INT32_MAX = 0x7fffffff;
const INT64_MAX = 0x7fffffffffffffffn;
const INT64_MIN = -0x8000000000000000n;
const TWO_POW_32 = 4294967296;
/** Smallest possible record: length, attributes, timestampDelta, offsetDelta, key, value, headers count. */
const MIN_RECORD_SIZE = 7;

/* ------------------------------------------------------------------------------------------ */
/* Types                                                                                       */

/** A record header. Keys are UTF-8 strings; values may be null. Header keys may repeat. */
export interface RecordHeader {
  key: string;
  value: Uint8Array | null;
}

/** Every field of a batch header, as stored. */
export interface RecordBatchHeader {
  baseOffset: bigint;
  batchLength: number;
  partitionLeaderEpoch: number;
  magic: number;
  /** Stored CRC-32C, unsigned. */
  crc: number;
  attributes: number;
  lastOffsetDelta: number;
  baseTimestamp: number;
  maxTimestamp: number;
  producerId: bigint;
  producerEpoch: number;
  baseSequence: number;
  recordsCount: number;
}

/** A timestamp type of a batch (attribute bit 3). */
export type TimestampType = 'CreateTime' | 'LogAppendTime';

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

/** A decoded record. `key`/`value` are views into the batch bytes when it is uncompressed. */
export interface DecodedRecord {
  offset: bigint;
  offsetDelta: number;
  /** The record's timestamp; for LogAppendTime batches, the batch maxTimestamp (Kafka semantics). */
  timestamp: number;
  key: Uint8Array | null;
  value: Uint8Array | null;
  /** The record's headers; records without headers share one frozen empty array. */
  headers: readonly RecordHeader[];
}

/** A decoded batch. */
export interface DecodedRecordBatch {
  header: RecordBatchHeader;
  records: DecodedRecord[];
}

/** Options of {@link decodeRecordBatch}. */
export interface DecodeOptions {
  /** Check the CRC-32C before decoding (default true). */
  verifyCrc?: boolean;
}

/** One batch found by {@link scanBatches}. */
export interface ScannedBatch {
  /** Byte position of the batch's first byte. */
  position: number;
  header: RecordBatchHeader;
}

/** How a {@link scanBatches} walk ended. */
export interface ScanEnd {
  /** End of the last whole batch: truncating the log here removes a trailing partial batch. */
  position: number;
  /** True when the walk consumed everything up to `end`, false when a partial batch remains. */
  complete: boolean;
}

/* ------------------------------------------------------------------------------------------ */
/* Header helpers                                                                              */

/** Total bytes of the batch on disk: batchLength + {@link LOG_OVERHEAD}. */
export function batchSize(h: RecordBatchHeader): number {
  return h.batchLength + LOG_OVERHEAD;
}

/** Offset of the batch's last record (or, after compaction, of its original last record). */
export function lastOffset(h: RecordBatchHeader): bigint {
  return h.baseOffset + BigInt(h.lastOffsetDelta);
}

/** The batch's compression codec. */
export function compressionOf(h: RecordBatchHeader): CompressionCodec {
  return codecFromId(h.attributes & COMPRESSION_CODEC_MASK);
}

/** The batch's timestamp type. */
export function timestampTypeOf(h: RecordBatchHeader): TimestampType {
  return (h.attributes & TIMESTAMP_TYPE_MASK) === 0 ? 'CreateTime' : 'LogAppendTime';
}

/** True when the batch belongs to a transaction. */
export function isTransactional(h: RecordBatchHeader): boolean {
  return (h.attributes & TRANSACTIONAL_FLAG_MASK) !== 0;
}

/** True when the batch is a control batch (holds a transaction marker). */
export function isControlBatch(h: RecordBatchHeader): boolean {
  return (h.attributes & CONTROL_FLAG_MASK) !== 0;
}

/** True when baseTimestamp holds a delete horizon (attribute bit 6). */
export function hasDeleteHorizon(h: RecordBatchHeader): boolean {
  return (h.attributes & DELETE_HORIZON_FLAG_MASK) !== 0;
}

/* ------------------------------------------------------------------------------------------ */
/* Reading headers                                                                             */

// One DataView per underlying ArrayBuffer, reused across calls: creating a view per batch costs
// more than reading the header. Holds at most one buffer alive.
let cachedBuffer: ArrayBufferLike | undefined;
let cachedView: DataView<ArrayBufferLike> = new DataView(new ArrayBuffer(0));

function viewOf(bytes: Uint8Array): DataView<ArrayBufferLike> {
  const buffer = bytes.buffer;
  if (buffer !== cachedBuffer) {
    cachedView = new DataView(buffer);
    cachedBuffer = buffer;
  }
  return cachedView;
}

function readTimestamp(view: DataView<ArrayBufferLike>, at: number, field: string, position: number): number {
  const value = view.getInt32(at) * TWO_POW_32 + view.getUint32(at + 4);
  if (!Number.isSafeInteger(value)) throw new CorruptRecordError(`${field} ${view.getBigInt64(at)} is outside the safe integer range`, position);
  return value;
}

function checkPosition(bytes: Uint8Array, position: number): void {
  if (!(bytes instanceof Uint8Array)) throw new InvalidArgumentError('bytes', 'must be a Uint8Array');
  if (!Number.isInteger(position) || position < 0) throw new InvalidArgumentError('position', `must be a non-negative integer, got ${String(position)}`);
}

/**
 * Reads the 61-byte header of the batch at `position` without checking the CRC. Throws
 * {@link CorruptRecordError} when fewer than 61 bytes remain, magic is not 2, batchLength is below
 * 49, the codec id is unassigned, or a timestamp is outside the safe integer range.
 */
export function readBatchHeader(bytes: Uint8Array, position = 0): RecordBatchHeader {
  checkPosition(bytes, position);
  if (bytes.length - position < RECORD_BATCH_OVERHEAD) {
    throw new CorruptRecordError(`need ${RECORD_BATCH_OVERHEAD} bytes for a batch header, only ${Math.max(0, bytes.length - position)} remain`, position);
  }
  const view = viewOf(bytes);
  const at = bytes.byteOffset + position;
  const magic = view.getInt8(at + MAGIC_OFFSET);
  if (magic !== MAGIC) throw new CorruptRecordError(`unsupported magic ${magic} (samsa reads record batch v2 only)`, position);
  const batchLength = view.getInt32(at + BATCH_LENGTH_OFFSET);
  if (batchLength < MIN_BATCH_LENGTH) throw new CorruptRecordError(`batchLength ${batchLength} is below the minimum ${MIN_BATCH_LENGTH}`, position);
  const attributes = view.getInt16(at + ATTRIBUTES_OFFSET);
  if ((attributes & COMPRESSION_CODEC_MASK) > 4) throw new CorruptRecordError(`unknown compression codec id ${attributes & COMPRESSION_CODEC_MASK}`, position);
  return {
    baseOffset: view.getBigInt64(at + BASE_OFFSET_OFFSET),
    batchLength,
    partitionLeaderEpoch: view.getInt32(at + PARTITION_LEADER_EPOCH_OFFSET),
    magic,
    crc: view.getUint32(at + CRC_OFFSET),
    attributes,
    lastOffsetDelta: view.getInt32(at + LAST_OFFSET_DELTA_OFFSET),
    baseTimestamp: readTimestamp(view, at + BASE_TIMESTAMP_OFFSET, 'baseTimestamp', position),
    maxTimestamp: readTimestamp(view, at + MAX_TIMESTAMP_OFFSET, 'maxTimestamp', position),
    producerId: view.getBigInt64(at + PRODUCER_ID_OFFSET),
    producerEpoch: view.getInt16(at + PRODUCER_EPOCH_OFFSET),
    baseSequence: view.getInt32(at + BASE_SEQUENCE_OFFSET),
    recordsCount: view.getInt32(at + RECORDS_COUNT_OFFSET),
  };
}

function computeCrc(bytes: Uint8Array, position: number, size: number): number {
  return crc32c(bytes, position + ATTRIBUTES_OFFSET, position + size);
}

/**
 * True when the batch at `position` fits in `bytes` and its stored CRC-32C matches the bytes
 * [position+21, position+batchLength+12). False (never a throw) for anything shorter or mismatched.
 */
export function batchCrcValid(bytes: Uint8Array, position = 0): boolean {
  checkPosition(bytes, position);
  if (bytes.length - position < RECORD_BATCH_OVERHEAD) return false;
  const view = viewOf(bytes);
  const at = bytes.byteOffset + position;
  const batchLength = view.getInt32(at + BATCH_LENGTH_OFFSET);
  if (batchLength < MIN_BATCH_LENGTH || batchLength > bytes.length - position - LOG_OVERHEAD) return false;
  return view.getUint32(at + CRC_OFFSET) === computeCrc(bytes, position, batchLength + LOG_OVERHEAD);
}

/**
 * Reads the header and checks that the whole batch fits in `bytes` and its CRC-32C matches.
 * Returns the header; throws {@link CorruptRecordError} otherwise (Kafka's `ensureValid`).
 */
export function assertBatchValid(bytes: Uint8Array, position = 0): RecordBatchHeader {
  const header = readBatchHeader(bytes, position);
  const size = header.batchLength + LOG_OVERHEAD;
  if (size > bytes.length - position) {
    throw new CorruptRecordError(`batch of ${size} bytes is truncated: only ${bytes.length - position} bytes remain`, position);
  }
  const computed = computeCrc(bytes, position, size);
  if (computed !== header.crc) {
    throw new CorruptRecordError(`CRC mismatch (stored 0x${header.crc.toString(16).padStart(8, '0')}, computed 0x${computed.toString(16).padStart(8, '0')})`, position);
  }
  return header;
}

/**
 * Walks whole batches laid end to end in `bytes[position, end)`, yielding each one's position and
 * header (no CRC check; use {@link batchCrcValid} per batch for that). A trailing partial batch is
 * not yielded; the generator's return value says where the whole batches end. Throws
 * {@link CorruptRecordError} (with the batch position) for a header that cannot be valid.
 */
export function* scanBatches(bytes: Uint8Array, position = 0, end = bytes.length): Generator<ScannedBatch, ScanEnd, undefined> {
  checkPosition(bytes, position);
  if (!Number.isInteger(end) || end < position || end > bytes.length) {
    throw new InvalidArgumentError('end', `must be an integer in [position, bytes.length], got ${String(end)}`);
  }
  const view = viewOf(bytes);
  let pos = position;
  // Like Kafka's FileLogInputStream: fewer than 17 bytes (up to magic), or a batch running past
  // `end`, is a partial write to be truncated; an impossible length is corruption.
  while (end - pos >= MAGIC_OFFSET + 1) {
    const batchLength = view.getInt32(bytes.byteOffset + pos + BATCH_LENGTH_OFFSET);
    if (batchLength < MIN_BATCH_LENGTH) throw new CorruptRecordError(`batchLength ${batchLength} is below the minimum ${MIN_BATCH_LENGTH}`, pos);
    const size = batchLength + LOG_OVERHEAD;
    if (size > end - pos) break;
    const header = readBatchHeader(bytes, pos);
    yield { position: pos, header };
    pos += size;
  }
  return { position: pos, complete: pos === end };
}

/* ------------------------------------------------------------------------------------------ */
/* Encoding                                                                                    */

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

function isInt(value: unknown, min: number, max: number): value is number {
  return typeof value === 'number' && Number.isInteger(value) && value >= min && value <= max;
}

function isInt64(value: unknown): value is bigint {
  return typeof value === 'bigint' && value >= INT64_MIN && value <= INT64_MAX;
}

function isKafkaTimestamp(value: unknown): value is number {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= NO_TIMESTAMP;
}

function bytesOrNull(value: unknown): value is Uint8Array | null {
  return value === null || value instanceof Uint8Array;
}

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (value instanceof Uint8Array) return `${value.constructor.name}(${value.length})`;
  if (typeof value === 'string') return `string ${JSON.stringify(value.length > 20 ? `${value.slice(0, 20)}…` : value)}`;
  if (typeof value === 'bigint') return `bigint ${value}`;
  if (typeof value === 'number') return `number ${value}`;
  return typeof value;
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

function writeInt64Number(view: DataView<ArrayBufferLike>, at: number, value: number): void {
  const hi = Math.floor(value / TWO_POW_32);
  view.setInt32(at, hi);
  view.setUint32(at + 4, value - hi * TWO_POW_32);
}

/** Every header field a batch is written with (batchLength and crc are computed). */
export interface HeaderFields {
  baseOffset: bigint;
  partitionLeaderEpoch: number;
  attributes: number;
  lastOffsetDelta: number;
  baseTimestamp: number;
  maxTimestamp: number;
  producerId: bigint;
  producerEpoch: number;
  baseSequence: number;
  recordsCount: number;
}

/**
 * Writes the 61-byte header into `out` (whose length is the batch size, records already in place
 * from byte 61) and then the CRC-32C over attributes..end, making `out` a valid batch.
 */
export function writeBatchHeader(out: Uint8Array, f: HeaderFields): void {
  const view = new DataView(out.buffer, out.byteOffset, out.byteLength);
  view.setBigInt64(BASE_OFFSET_OFFSET, f.baseOffset);
  view.setInt32(BATCH_LENGTH_OFFSET, out.length - LOG_OVERHEAD);
  view.setInt32(PARTITION_LEADER_EPOCH_OFFSET, f.partitionLeaderEpoch);
  view.setInt8(MAGIC_OFFSET, MAGIC);
  view.setInt16(ATTRIBUTES_OFFSET, f.attributes);
  view.setInt32(LAST_OFFSET_DELTA_OFFSET, f.lastOffsetDelta);
  writeInt64Number(view, BASE_TIMESTAMP_OFFSET, f.baseTimestamp);
  writeInt64Number(view, MAX_TIMESTAMP_OFFSET, f.maxTimestamp);
  view.setBigInt64(PRODUCER_ID_OFFSET, f.producerId);
  view.setInt16(PRODUCER_EPOCH_OFFSET, f.producerEpoch);
  view.setInt32(BASE_SEQUENCE_OFFSET, f.baseSequence);
  view.setInt32(RECORDS_COUNT_OFFSET, f.recordsCount);
  view.setUint32(CRC_OFFSET, crc32c(out, ATTRIBUTES_OFFSET, out.length));
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

function checkOffsetRange(baseOffset: bigint, lastOffsetDelta: number): void {
  if (baseOffset + BigInt(lastOffsetDelta) > INT64_MAX) throw new InvalidArgumentError('baseOffset', `${baseOffset} + lastOffsetDelta ${lastOffsetDelta} overflows int64`);
}

/* ------------------------------------------------------------------------------------------ */
/* Decoding                                                                                    */

const utf8Decoder = new TextDecoder('utf-8');

/** UTF-8 decode with an ASCII fast path: header keys are short and almost always ASCII. */
function decodeUtf8(bytes: Uint8Array, start: number, end: number): string {
  if (end - start <= 32) {
    let s = '';
    let i = start;
    for (; i < end; i++) {
      const c = bytes[i]!;
      if (c >= 0x80) break;
      s += String.fromCharCode(c);
    }
    if (i === end) return s;
  }
  return utf8Decoder.decode(bytes.subarray(start, end));
}

/** A reader reused by every decode: decoding never re-enters itself. */
const reader = new ByteReader(new Uint8Array(0));

/** Byte positions inside decompressed data mean nothing to the caller; those errors point at the batch. */
let errorBase: number | undefined;

function recordError(index: number, count: number, reason: string, pos: number): CorruptRecordError {
  return new CorruptRecordError(`record ${index} of ${count}: ${reason}`, errorBase ?? pos);
}

/** Shared by every decoded record without headers: no allocation per record. */
const NO_HEADERS: readonly RecordHeader[] = Object.freeze([]);

/**
 * Decodes the batch at `position`: header, CRC (unless `verifyCrc: false`), decompression and every
 * record. Keys and values are views into `bytes` for uncompressed batches (no copy). Throws
 * {@link CorruptRecordError} for any inconsistency: truncated batch, CRC mismatch, a record
 * overrunning its length or the batch, varint overflow, recordsCount mismatch, trailing bytes.
 */
export function decodeRecordBatch(bytes: Uint8Array, position = 0, options?: DecodeOptions): DecodedRecordBatch {
  return decodeRecordBatchInto(bytes, position, makeDecodedRecord, options);
}

function makeDecodedRecord(offset: bigint, offsetDelta: number, timestamp: number, key: Uint8Array | null, value: Uint8Array | null, headers: readonly RecordHeader[]): DecodedRecord {
  return { offset, offsetDelta, timestamp, key, value, headers };
}

/** Builds one record object from decoded fields (see {@link decodeRecordBatchInto}). */
export type RecordFactory<T> = (offset: bigint, offsetDelta: number, timestamp: number, key: Uint8Array | null, value: Uint8Array | null, headers: readonly RecordHeader[]) => T;

/**
 * {@link decodeRecordBatch} with the caller's record shape: `make` is called once per record, so
 * a consumer can build its own record objects directly instead of copying decoded ones (one
 * allocation per record instead of two). Same validation and errors.
 */
export function decodeRecordBatchInto<T>(bytes: Uint8Array, position: number, make: RecordFactory<T>, options?: DecodeOptions): { header: RecordBatchHeader; records: T[] } {
  const header = readBatchHeader(bytes, position);
  const size = header.batchLength + LOG_OVERHEAD;
  if (size > bytes.length - position) {
    throw new CorruptRecordError(`batch of ${size} bytes is truncated: only ${bytes.length - position} bytes remain`, position);
  }
  if (options?.verifyCrc !== false) {
    const computed = computeCrc(bytes, position, size);
    if (computed !== header.crc) {
      throw new CorruptRecordError(`CRC mismatch (stored 0x${header.crc.toString(16).padStart(8, '0')}, computed 0x${computed.toString(16).padStart(8, '0')})`, position);
    }
  }
  const count = header.recordsCount;
  if (count < 0) throw new CorruptRecordError(`negative recordsCount ${count}`, position);

  let data = bytes;
  let start = position + RECORDS_OFFSET;
  let end = position + size;
  const codec = header.attributes & COMPRESSION_CODEC_MASK;
  errorBase = undefined;
  if (codec !== 0) {
    data = decompress(codecFromId(codec), bytes.subarray(start, end));
    start = 0;
    end = data.length;
    errorBase = position;
  }
  // Reject impossible counts before allocating for them.
  if (count > (end - start) / MIN_RECORD_SIZE) {
    throw new CorruptRecordError(`recordsCount ${count} cannot fit in ${end - start} bytes of records`, position);
  }

  const logAppendTime = (header.attributes & TIMESTAMP_TYPE_MASK) !== 0;
  const baseTimestamp = header.baseTimestamp;
  const maxTimestamp = header.maxTimestamp;
  const baseOffset = header.baseOffset;
  const records = new Array<T>(count);
  // Offsets are almost always consecutive: deriving each from the previous one costs one bigint
  // per record (measured ~3x cheaper than baseOffset + BigInt(offsetDelta)).
  let nextDelta = 0;
  let nextOffset = baseOffset;
  const r = reader.reset(data, start, end);
  let i = 0;
  try {
    for (; i < count; i++) {
      const recordStart = r.pos;
      if (recordStart >= end) throw recordError(i, count, 'missing: the batch ends before recordsCount records', recordStart);
      const length = readVarint(r);
      if (length < 6 || length > end - r.pos) throw recordError(i, count, `length ${length} overruns the batch (${end - r.pos} bytes left)`, recordStart);
      const recordEnd = r.pos + length;
      r.end = recordEnd;
      r.pos++; // record attributes: unused
      const timestampDelta = readVarlong(r);
      const offsetDelta = readVarint(r);

      const keyLength = readVarint(r);
      let key: Uint8Array | null = null;
      if (keyLength >= 0) {
        if (keyLength > recordEnd - r.pos) throw recordError(i, count, `key length ${keyLength} overruns the record`, recordStart);
        key = data.subarray(r.pos, r.pos + keyLength);
        r.pos += keyLength;
      } else if (keyLength !== -1) {
        throw recordError(i, count, `invalid key length ${keyLength}`, recordStart);
      }
      const valueLength = readVarint(r);
      let value: Uint8Array | null = null;
      if (valueLength >= 0) {
        if (valueLength > recordEnd - r.pos) throw recordError(i, count, `value length ${valueLength} overruns the record`, recordStart);
        value = data.subarray(r.pos, r.pos + valueLength);
        r.pos += valueLength;
      } else if (valueLength !== -1) {
        throw recordError(i, count, `invalid value length ${valueLength}`, recordStart);
      }

      const headerCount = readVarint(r);
      let headers: readonly RecordHeader[] = NO_HEADERS;
      if (headerCount !== 0) {
        const decoded: RecordHeader[] = [];
        headers = decoded;
        if (headerCount < 0 || headerCount > (recordEnd - r.pos) / 2) throw recordError(i, count, `invalid header count ${headerCount}`, recordStart);
        for (let h = 0; h < headerCount; h++) {
          const hkLength = readVarint(r);
          if (hkLength < 0 || hkLength > recordEnd - r.pos) throw recordError(i, count, `header ${h} key length ${hkLength} is invalid`, recordStart);
          const hk = decodeUtf8(data, r.pos, r.pos + hkLength);
          r.pos += hkLength;
          const hvLength = readVarint(r);
          let hv: Uint8Array | null = null;
          if (hvLength >= 0) {
            if (hvLength > recordEnd - r.pos) throw recordError(i, count, `header ${h} value length ${hvLength} overruns the record`, recordStart);
            hv = data.subarray(r.pos, r.pos + hvLength);
            r.pos += hvLength;
          } else if (hvLength !== -1) {
            throw recordError(i, count, `header ${h} has invalid value length ${hvLength}`, recordStart);
          }
          decoded.push({ key: hk, value: hv });
        }
      }
      if (r.pos !== recordEnd) throw recordError(i, count, `${recordEnd - r.pos} bytes left over inside its declared length ${length}`, recordStart);
      r.end = end;

      const timestamp = logAppendTime ? maxTimestamp : baseTimestamp + timestampDelta;
      if (!Number.isSafeInteger(timestamp)) throw recordError(i, count, `timestamp ${baseTimestamp} + ${timestampDelta} is outside the safe integer range`, recordStart);
      if (offsetDelta < 0) throw recordError(i, count, `negative offsetDelta ${offsetDelta}`, recordStart);
      const offset = offsetDelta === nextDelta ? nextOffset : baseOffset + BigInt(offsetDelta);
      nextDelta = offsetDelta + 1;
      nextOffset = offset + 1n;
      records[i] = make(offset, offsetDelta, timestamp, key, value, headers);
    }
  } catch (e) {
    // Varint errors know their byte but not their record; add it.
    if (e instanceof CorruptRecordError && e.reason.startsWith('var')) {
      throw recordError(i, count, e.reason, e.position ?? position);
    }
    throw e;
  }
  if (r.pos !== end) throw new CorruptRecordError(`${end - r.pos} bytes of trailing data after ${count} records`, position);
  return { header, records };
}

/* ------------------------------------------------------------------------------------------ */
/* In-place stamping on append                                                                 */

/**
 * Stamps baseOffset and partitionLeaderEpoch into the batch at `position`, as the leader does on
 * append. Both fields are outside the CRC, so the batch stays valid without recomputing it.
 */
export function stampBatch(bytes: Uint8Array, position: number, baseOffset: bigint, partitionLeaderEpoch: number): void {
  checkPosition(bytes, position);
  if (!isInt64(baseOffset) || baseOffset < 0n) throw new InvalidArgumentError('baseOffset', `must be a non-negative int64 bigint, got ${describe(baseOffset)}`);
  if (!isInt(partitionLeaderEpoch, -0x80000000, INT32_MAX)) throw new InvalidArgumentError('partitionLeaderEpoch', `must be an int32, got ${describe(partitionLeaderEpoch)}`);
  if (bytes.length - position < RECORD_BATCH_OVERHEAD) throw new CorruptRecordError(`need ${RECORD_BATCH_OVERHEAD} bytes for a batch header, only ${bytes.length - position} remain`, position);
  const view = viewOf(bytes);
  const at = bytes.byteOffset + position;
  if (view.getInt8(at + MAGIC_OFFSET) !== MAGIC) throw new CorruptRecordError(`unsupported magic ${view.getInt8(at + MAGIC_OFFSET)}`, position);
  const lastOffsetDelta = view.getInt32(at + LAST_OFFSET_DELTA_OFFSET);
  if (lastOffsetDelta >= 0) checkOffsetRange(baseOffset, lastOffsetDelta);
  view.setBigInt64(at + BASE_OFFSET_OFFSET, baseOffset);
  view.setInt32(at + PARTITION_LEADER_EPOCH_OFFSET, partitionLeaderEpoch);
}

/**
 * Turns the batch at `position` into a LogAppendTime batch stamped with `timestampMs`: sets
 * attribute bit 3 and maxTimestamp and recomputes the CRC (Kafka's `setMaxTimestamp`, used for
 * `message.timestamp.type=LogAppendTime`). The batch is verified first, so a corrupt batch is
 * never re-blessed with a fresh CRC; throws {@link CorruptRecordError} if it is invalid.
 */
export function setLogAppendTime(bytes: Uint8Array, position: number, timestampMs: number): void {
  if (!isKafkaTimestamp(timestampMs) || timestampMs < 0) throw new InvalidArgumentError('timestampMs', `must be a non-negative safe integer, got ${describe(timestampMs)}`);
  const header = assertBatchValid(bytes, position);
  if ((header.attributes & TIMESTAMP_TYPE_MASK) !== 0 && header.maxTimestamp === timestampMs) return;
  const view = viewOf(bytes);
  const at = bytes.byteOffset + position;
  view.setInt16(at + ATTRIBUTES_OFFSET, header.attributes | TIMESTAMP_TYPE_MASK);
  writeInt64Number(view, at + MAX_TIMESTAMP_OFFSET, timestampMs);
  view.setUint32(at + CRC_OFFSET, computeCrc(bytes, position, header.batchLength + LOG_OVERHEAD));
}

/**
 * Rewrites the producer fields of the batch at `position` — producer id, epoch, base sequence
 * and the transactional flag — and recomputes the CRC (Kafka's `setProducerState` on a batch the
 * producer resends under a new producer id or with adjusted sequences). The batch is verified
 * first, so a corrupt batch is never re-blessed with a fresh CRC.
 * @throws CorruptRecordError when the batch is invalid; InvalidArgumentError for bad values.
 */
export function setProducerState(bytes: Uint8Array, position: number, producerId: bigint, producerEpoch: number, baseSequence: number, transactional: boolean): void {
  if (!isInt64(producerId)) throw new InvalidArgumentError('producerId', `must be an int64 bigint, got ${describe(producerId)}`);
  if (!isInt(producerEpoch, -0x8000, 0x7fff)) throw new InvalidArgumentError('producerEpoch', `must be an int16, got ${describe(producerEpoch)}`);
  if (!isInt(baseSequence, -0x80000000, INT32_MAX)) throw new InvalidArgumentError('baseSequence', `must be an int32, got ${describe(baseSequence)}`);
  const header = assertBatchValid(bytes, position);
  const view = viewOf(bytes);
  const at = bytes.byteOffset + position;
  view.setInt16(at + ATTRIBUTES_OFFSET, transactional ? header.attributes | TRANSACTIONAL_FLAG_MASK : header.attributes & ~TRANSACTIONAL_FLAG_MASK);
  view.setBigInt64(at + PRODUCER_ID_OFFSET, producerId);
  view.setInt16(at + PRODUCER_EPOCH_OFFSET, producerEpoch);
  view.setInt32(at + BASE_SEQUENCE_OFFSET, baseSequence);
  view.setUint32(at + CRC_OFFSET, computeCrc(bytes, position, header.batchLength + LOG_OVERHEAD));
}
