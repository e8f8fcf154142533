/**
 * Decoding a Kafka record batch v2 into records: header, CRC-32C, decompression and every record,
 * checked against the batch's own lengths and counts, so corrupt bytes always fail with a
 * {@link CorruptRecordError} that names the batch position and the record.
 */
import { CorruptRecordError } from '../errors.ts';
import { COMPRESSION_CODEC_MASK, LOG_OVERHEAD, RECORDS_OFFSET, TIMESTAMP_TYPE_MASK, computeCrc, readBatchHeader } from './batchHeader.ts';
import type { RecordBatchHeader } from './batchHeader.ts';
import { codecFromId, decompress } from './compression.ts';
import type { RecordHeader } from './encodeRecordBatch.ts';
import { ByteReader, readVarint, readVarlong } from './varint.ts';

/** Smallest possible record: length, attributes, timestampDelta, offsetDelta, key, value, headers count. */
const MIN_RECORD_SIZE = 7;

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
