/**
 * Records as the application hands them to `send`, where they landed, and how `send` checks and
 * converts them before they are written into a batch.
 */
import { InvalidArgumentError, KafkaProtocolError } from '../../errors.ts';
import type { EncodedHeader } from '../../record/recordBatchBuilder.ts';

/** A record to send. Keys and values are bytes or strings (UTF-8); serialize objects first. */
/** Options of one `send`. */
export interface SendOptions {
  /**
   * samsa's own: the records go to one partition in one batch, so the log appends all of them or
   * none (Kafka's producer may split one send's records over batches). The records must share a
   * partition (one key). Other sends may share the batch; when the broker refuses some of a
   * batch's conditional appends (WRONG_EXPECTED_VERSION naming them), only their sends fail and
   * the others are sent again without them.
   */
  readonly atomic?: boolean;
  /** With `atomic`: the batch holds this send only (a retried append answered by event ids needs its batch to itself). */
  readonly alone?: boolean;
}

export interface ProducerRecord {
  readonly key?: string | Uint8Array | null;
  readonly value: string | Uint8Array | null;
  /** Send to this partition instead of choosing one. */
  readonly partition?: number;
  /** CreateTime in ms (default: the producer's clock). */
  readonly timestamp?: number;
  readonly headers?: Readonly<Record<string, string | Uint8Array | null>>;
}

/** Where a record landed. */
export interface RecordMetadata {
  readonly topic: string;
  readonly partition: number;
  /** Offset of the record; -1n with acks=0 (the broker does not answer). */
  readonly offset: bigint;
  readonly timestamp: number;
}

/**
 * A record validated and converted by `send`, before it is written into a batch. Only records
 * that need converting (string keys or values, headers) get one, and every record when `send`
 * must wait for metadata (the application may change its objects meanwhile); a record of bytes
 * sent to a known topic is written from the application's object in the same turn.
 */
export interface PreparedRecord {
  readonly timestamp: number;
  readonly key: Uint8Array | null;
  readonly value: Uint8Array | null;
  readonly headers: readonly EncodedHeader[];
  /** Estimated encoded size, for `batch.size` accounting. */
  readonly bytes: number;
  readonly partition: number | undefined;
}

/** A record of bytes without headers: written as it is. */
export interface PlainRecord {
  readonly key?: Uint8Array | null;
  readonly value: Uint8Array | null;
  readonly partition?: number;
  readonly timestamp?: number;
}

const encoder = new TextEncoder();
const RECORD_OVERHEAD = 21;

/** Estimated encoded size of a record without headers, for `batch.size` accounting. */
export function recordSize(key: Uint8Array | null | undefined, value: Uint8Array | null): number {
  return (key == null ? 0 : key.length) + (value === null ? 0 : value.length) + RECORD_OVERHEAD;
}

/** The headers of a record without any. */
export const EMPTY_HEADERS: readonly EncodedHeader[] = [];

/** Name of record `index` in error messages. */
function recordLabel(index: number, single: boolean): string {
  return single ? 'record' : `records[${index}]`;
}

/** Bytes of a key, value or header value; the argument name is only built when it is wrong. */
function toBytes(value: string | Uint8Array | null | undefined, field: string, index: number, single: boolean): Uint8Array | null {
  if (value === null || value === undefined) return null;
  if (typeof value === 'string') return encoder.encode(value);
  if (value instanceof Uint8Array) return value;
  throw new InvalidArgumentError(`${recordLabel(index, single)}.${field}`, `expected a string, Uint8Array or null, got ${typeof value === 'object' ? 'an object' : typeof value}; serialize it first (e.g. JSON.stringify)`);
}

/** A validated record of bytes (see {@link PlainRecord}) as a prepared one. */
export function preparedFromPlain(record: PlainRecord, now: number): PreparedRecord {
  const key = record.key ?? null;
  const value = record.value;
  return { timestamp: record.timestamp ?? now, key, value, headers: EMPTY_HEADERS, bytes: recordSize(key, value), partition: record.partition };
}

/**
 * Validates one record, and converts it when it is not bytes already (see {@link
 * PreparedRecord}). Per-record work stays allocation-light: nothing is allocated for a record of
 * bytes, and the argument name for an error message is only built when there is an error.
 */
export function prepareRecord(record: ProducerRecord, index: number, single: boolean, now: number, maxRequestSize: number): PreparedRecord | undefined {
  if (typeof record !== 'object' || record === null) throw new InvalidArgumentError(recordLabel(index, single), `expected a record object like { key, value }, got ${record === null ? 'null' : typeof record}`);
  if (record.value === undefined && !('value' in record)) throw new InvalidArgumentError(`${recordLabel(index, single)}.value`, 'a record needs a value (use null for a tombstone)');
  const rawKey = record.key;
  const rawValue = record.value;
  if ((rawKey === undefined || rawKey === null || rawKey instanceof Uint8Array) && (rawValue === null || rawValue instanceof Uint8Array) && record.headers === undefined) {
    checkPlacement(record, index, single, recordSize(rawKey, rawValue), maxRequestSize);
    return undefined;
  }
  const key = toBytes(rawKey, 'key', index, single);
  const value = toBytes(rawValue, 'value', index, single);
  let headers = EMPTY_HEADERS;
  let headerBytes = 0;
  if (record.headers !== undefined) {
    headers = Object.entries(record.headers).map(([k, v]) => ({ key: encoder.encode(k), value: toBytes(v, `headers.${k}`, index, single) }));
    for (const h of headers) headerBytes += h.key.length + (h.value?.length ?? 0) + 4;
  }
  const bytes = recordSize(key, value) + headerBytes;
  checkPlacement(record, index, single, bytes, maxRequestSize);
  return { timestamp: record.timestamp ?? now, key, value, headers, bytes, partition: record.partition };
}

/** Checks a record's timestamp, explicit partition and size. */
function checkPlacement(record: ProducerRecord, index: number, single: boolean, bytes: number, maxRequestSize: number): void {
  const timestamp = record.timestamp;
  if (timestamp !== undefined && (!Number.isSafeInteger(timestamp) || timestamp < 0)) throw new InvalidArgumentError(`${recordLabel(index, single)}.timestamp`, `expected a non-negative integer of milliseconds, got ${timestamp}`);
  const partition = record.partition;
  if (partition !== undefined && (!Number.isInteger(partition) || partition < 0)) throw new InvalidArgumentError(`${recordLabel(index, single)}.partition`, `expected a partition number ≥ 0, got ${partition}`);
  if (bytes + 61 > maxRequestSize) throw new KafkaProtocolError('MESSAGE_TOO_LARGE', `record of ${bytes} bytes is larger than max.request.size=${maxRequestSize}; send smaller records or raise maxRequestSize`);
}
