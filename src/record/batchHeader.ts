/**
 * The 61-byte header of a Kafka record batch v2: its layout, reading and checking it (CRC-32C
 * included), writing it, and the in-place stamping the leader does on append. Byte-exact with
 * Kafka's `DefaultRecordBatch`.
 *
 * Layout (big-endian; offsets from the batch start):
 * baseOffset int64 @0 · batchLength int32 @8 · partitionLeaderEpoch int32 @12 · magic int8 @16 ·
 * crc uint32 @17 · attributes int16 @21 · lastOffsetDelta int32 @23 · baseTimestamp int64 @27 ·
 * maxTimestamp int64 @35 · producerId int64 @43 · producerEpoch int16 @51 · baseSequence int32 @53 ·
 * recordsCount int32 @57 · records @61. The CRC-32C covers [21, end): baseOffset and
 * partitionLeaderEpoch can be stamped by the leader without recomputing it.
 */
import { CorruptRecordError, InvalidArgumentError } from '../errors.ts';
import { codecFromId } from './compression.ts';
import type { CompressionCodec } from './compression.ts';
import { crc32c } from './crc32c.ts';

/* ------------------------------------------------------------------------------------------ */
/* Constants                                                                                  */

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

/** Largest int32: the bound of every int32 field and of a batch's size. */
export const INT32_MAX = 0x7fffffff;
const INT64_MAX = 0x7fffffffffffffffn;
const INT64_MIN = -0x8000000000000000n;
const TWO_POW_32 = 4294967296;

/* ------------------------------------------------------------------------------------------ */
/* Types                                                                                      */

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

/* ------------------------------------------------------------------------------------------ */
/* Header helpers                                                                             */

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
/* Reading headers                                                                            */

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

/** The CRC-32C of the batch of `size` bytes at `position`, over attributes..end. */
export function computeCrc(bytes: Uint8Array, position: number, size: number): number {
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
/* Argument checks                                                                            */

/** True for an integer number in [min, max]. */
export function isInt(value: unknown, min: number, max: number): value is number {
  return typeof value === 'number' && Number.isInteger(value) && value >= min && value <= max;
}

/** True for a bigint in the int64 range. */
export function isInt64(value: unknown): value is bigint {
  return typeof value === 'bigint' && value >= INT64_MIN && value <= INT64_MAX;
}

/** True for a safe integer ≥ -1 (Kafka's timestamps, -1 meaning none). */
export function isKafkaTimestamp(value: unknown): value is number {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= NO_TIMESTAMP;
}

/** A short description of a wrong argument for error messages. */
export function describe(value: unknown): string {
  if (value === null) return 'null';
  if (value instanceof Uint8Array) return `${value.constructor.name}(${value.length})`;
  if (typeof value === 'string') return `string ${JSON.stringify(value.length > 20 ? `${value.slice(0, 20)}…` : value)}`;
  if (typeof value === 'bigint') return `bigint ${value}`;
  if (typeof value === 'number') return `number ${value}`;
  return typeof value;
}

/** @throws InvalidArgumentError when `baseOffset + lastOffsetDelta` overflows int64. */
export function checkOffsetRange(baseOffset: bigint, lastOffsetDelta: number): void {
  if (baseOffset + BigInt(lastOffsetDelta) > INT64_MAX) throw new InvalidArgumentError('baseOffset', `${baseOffset} + lastOffsetDelta ${lastOffsetDelta} overflows int64`);
}

/* ------------------------------------------------------------------------------------------ */
/* Writing headers                                                                            */

function writeInt64Number(view: DataView<ArrayBufferLike>, at: number, value: number): void {
  const hi = Math.floor(value / TWO_POW_32);
  view.setInt32(at, hi);
  view.setUint32(at + 4, value - hi * TWO_POW_32);
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

/* ------------------------------------------------------------------------------------------ */
/* In-place stamping on append                                                                */

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
