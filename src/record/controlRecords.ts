/**
 * Control records: the single record of a control batch (attribute bit 5), as Kafka's
 * `ControlRecordType` and `EndTransactionMarker` define them.
 *
 * Layout (big-endian):
 * - key: version int16 (0), type int16 (0 = ABORT, 1 = COMMIT; Kafka's KRaft types 2-6 are other
 *   control records, anything else is unknown);
 * - value of a transaction marker (`EndTransactionMarker`): version int16 (0), coordinatorEpoch int32.
 *
 * Guarantees:
 * - {@link encodeTransactionMarker} writes exactly Kafka's `MemoryRecords.withEndTransactionMarker`
 *   batch: record batch v2, uncompressed, CreateTime, attributes isTransactional + isControl, the
 *   producer id and epoch of the transaction, no sequence (-1), one record with offset delta 0.
 * - Decoding never guesses: bytes that cannot be a control record (a null or short key, a negative
 *   key or marker version, a short marker value) throw {@link CorruptRecordError}; a well-formed
 *   key of a control type that is not a transaction marker is returned as `kind: 'other'` (Kafka's
 *   consumers skip such records, and the log does not treat them as markers). Newer non-negative
 *   versions parse as version 0, as Kafka does.
 */
import { CorruptRecordError, InvalidArgumentError } from '../errors.ts';
import { decodeRecordBatch, encodeRecordBatch, isControlBatch, NO_SEQUENCE } from './recordBatch.ts';
import type { DecodedRecordBatch } from './recordBatch.ts';

/** The control record key version samsa writes (Kafka's `CURRENT_CONTROL_RECORD_KEY_VERSION`). */
export const CONTROL_RECORD_KEY_VERSION = 0;
/** Bytes of a version 0 control record key: version int16 + type int16. */
export const CONTROL_RECORD_KEY_SIZE = 4;
/** The end-transaction marker value version samsa writes (Kafka's `CURRENT_END_TXN_MARKER_VERSION`). */
export const END_TXN_MARKER_VALUE_VERSION = 0;
/** Bytes of a version 0 end-transaction marker value: version int16 + coordinatorEpoch int32. */
export const END_TXN_MARKER_VALUE_SIZE = 6;

/** The outcome a transaction marker records. */
export type TransactionResult = 'COMMIT' | 'ABORT';

/**
 * Kafka's control record type ids (`ControlRecordType`): ABORT and COMMIT end transactions; the
 * others belong to KRaft's metadata log.
 */
export const CONTROL_RECORD_TYPE_IDS = {
  ABORT: 0,
  COMMIT: 1,
  LEADER_CHANGE: 2,
  SNAPSHOT_HEADER: 3,
  SNAPSHOT_FOOTER: 4,
  KRAFT_VERSION: 5,
  KRAFT_VOTERS: 6,
} as const;

/** A control record type Kafka names, or `UNKNOWN` for any other id (Kafka's `ControlRecordType.UNKNOWN`). */
export type ControlRecordTypeName = keyof typeof CONTROL_RECORD_TYPE_IDS | 'UNKNOWN';

/** What a control record holds: an end-transaction marker, or another control record the log does not interpret. */
export type ControlRecordContent =
  | {
      readonly kind: 'transactionMarker';
      readonly type: TransactionResult;
      /** The key's version (0 today). */
      readonly keyVersion: number;
      /** The marker value's version (0 today). */
      readonly version: number;
      /** Epoch of the transaction coordinator that wrote the marker. */
      readonly coordinatorEpoch: number;
    }
  | {
      readonly kind: 'other';
      /** Kafka's name for the type, `UNKNOWN` when Kafka defines none. */
      readonly type: Exclude<ControlRecordTypeName, TransactionResult>;
      /** The raw type id from the key. */
      readonly typeId: number;
      readonly keyVersion: number;
    };

/** What {@link encodeTransactionMarker} encodes. */
export interface TransactionMarkerInput {
  /** The transaction's producer id (int64 ≥ 0). */
  readonly producerId: bigint;
  /** The producer epoch the marker carries (int16 ≥ 0); with transaction version 2 it is already bumped. */
  readonly producerEpoch: number;
  /** Epoch of the transaction coordinator writing the marker (int32). */
  readonly coordinatorEpoch: number;
  readonly result: TransactionResult;
  /** The record's timestamp, milliseconds (≥ 0). */
  readonly timestamp: number;
}

/** An end-transaction marker read from a control batch, with the batch fields that place it. */
export interface TransactionMarker {
  readonly producerId: bigint;
  readonly producerEpoch: number;
  readonly result: TransactionResult;
  readonly coordinatorEpoch: number;
  /** Offset of the marker (the control batch's base offset). */
  readonly offset: bigint;
  /** The marker record's timestamp. */
  readonly timestamp: number;
}

/** What a control batch holds (see {@link controlBatchContent}). */
export type ControlBatchContent =
  | ({ readonly kind: 'transactionMarker' } & TransactionMarker)
  | { readonly kind: 'other'; readonly type: Exclude<ControlRecordTypeName, TransactionResult>; readonly typeId: number }
  /** No record left: compaction removed the marker but kept the batch (Kafka skips such batches). */
  | { readonly kind: 'empty' };

const TYPE_NAMES = new Map<number, Exclude<ControlRecordTypeName, TransactionResult>>([
  [2, 'LEADER_CHANGE'],
  [3, 'SNAPSHOT_HEADER'],
  [4, 'SNAPSHOT_FOOTER'],
  [5, 'KRAFT_VERSION'],
  [6, 'KRAFT_VOTERS'],
]);

function describe(value: unknown): string {
  return typeof value === 'bigint' ? `${value}n` : typeof value === 'string' ? JSON.stringify(value) : String(value);
}

function isInt(value: unknown, min: number, max: number): value is number {
  return typeof value === 'number' && Number.isInteger(value) && value >= min && value <= max;
}

/**
 * Encodes one end-transaction marker as a whole control batch, byte for byte what Kafka's
 * `MemoryRecords.withEndTransactionMarker` writes. The base offset and leader epoch are left for
 * the leader to stamp on append.
 * @throws InvalidArgumentError for a producer id, epoch, coordinator epoch, result or timestamp out of range.
 */
export function encodeTransactionMarker(input: TransactionMarkerInput): Uint8Array {
  if (typeof input !== 'object' || input === null) throw new InvalidArgumentError('marker', `must be an object, got ${describe(input)}`);
  const { producerId, producerEpoch, coordinatorEpoch, result, timestamp } = input;
  if (typeof producerId !== 'bigint' || producerId < 0n || producerId > 0x7fffffffffffffffn) throw new InvalidArgumentError('producerId', `must be an int64 bigint ≥ 0, got ${describe(producerId)}`);
  if (!isInt(producerEpoch, 0, 0x7fff)) throw new InvalidArgumentError('producerEpoch', `must be an int16 ≥ 0, got ${describe(producerEpoch)}`);
  if (!isInt(coordinatorEpoch, -0x80000000, 0x7fffffff)) throw new InvalidArgumentError('coordinatorEpoch', `must be an int32, got ${describe(coordinatorEpoch)}`);
  if (result !== 'COMMIT' && result !== 'ABORT') throw new InvalidArgumentError('result', `must be 'COMMIT' or 'ABORT', got ${describe(result)}`);
  if (!isInt(timestamp, 0, Number.MAX_SAFE_INTEGER)) throw new InvalidArgumentError('timestamp', `must be a non-negative safe integer of milliseconds, got ${describe(timestamp)}`);
  const key = new Uint8Array(CONTROL_RECORD_KEY_SIZE);
  const keyView = new DataView(key.buffer);
  keyView.setInt16(0, CONTROL_RECORD_KEY_VERSION);
  keyView.setInt16(2, CONTROL_RECORD_TYPE_IDS[result]);
  const value = new Uint8Array(END_TXN_MARKER_VALUE_SIZE);
  const valueView = new DataView(value.buffer);
  valueView.setInt16(0, END_TXN_MARKER_VALUE_VERSION);
  valueView.setInt32(2, coordinatorEpoch);
  return encodeRecordBatch({
    compression: 'none',
    timestampType: 'CreateTime',
    isTransactional: true,
    isControl: true,
    producerId,
    producerEpoch,
    baseSequence: NO_SEQUENCE,
    records: [{ timestamp, key, value }],
  });
}

/**
 * Parses a control record from its key and value (Kafka's `ControlRecordType.parse` and
 * `EndTransactionMarker.deserializeValue`). The value is only read for ABORT and COMMIT.
 * @throws CorruptRecordError when the key is null, shorter than 4 bytes or of a negative version,
 *   or a marker's value is null, shorter than 6 bytes or of a negative version.
 */
export function decodeControlRecord(key: Uint8Array | null, value: Uint8Array | null): ControlRecordContent {
  if (key === null) throw new CorruptRecordError('a control record must have a key (version int16, type int16), found null');
  if (key.length < CONTROL_RECORD_KEY_SIZE) throw new CorruptRecordError(`a control record key needs at least ${CONTROL_RECORD_KEY_SIZE} bytes, found ${key.length}`);
  const keyView = new DataView(key.buffer, key.byteOffset, key.byteLength);
  const keyVersion = keyView.getInt16(0);
  if (keyVersion < 0) throw new CorruptRecordError(`invalid control record key version ${keyVersion}; the record is corrupt`);
  const typeId = keyView.getInt16(2);
  if (typeId !== 0 && typeId !== 1) return { kind: 'other', type: TYPE_NAMES.get(typeId) ?? 'UNKNOWN', typeId, keyVersion };
  if (value === null) throw new CorruptRecordError('an end transaction marker must have a value (version int16, coordinatorEpoch int32), found null');
  if (value.length < END_TXN_MARKER_VALUE_SIZE) throw new CorruptRecordError(`an end transaction marker value needs at least ${END_TXN_MARKER_VALUE_SIZE} bytes, found ${value.length}`);
  const valueView = new DataView(value.buffer, value.byteOffset, value.byteLength);
  const version = valueView.getInt16(0);
  if (version < 0) throw new CorruptRecordError(`invalid end transaction marker version ${version}; the record is corrupt`);
  return { kind: 'transactionMarker', type: typeId === 0 ? 'ABORT' : 'COMMIT', keyVersion, version, coordinatorEpoch: valueView.getInt32(2) };
}

/**
 * What a decoded control batch holds: its transaction marker (COMMIT or ABORT, with the
 * coordinator epoch and the batch's producer id, epoch and offset), another control record, or
 * nothing (a batch emptied by compaction). Only the first record counts, as in Kafka.
 * @throws InvalidArgumentError when the batch is not a control batch; CorruptRecordError for a malformed control record.
 */
export function controlBatchContent(batch: DecodedRecordBatch): ControlBatchContent {
  const { header, records } = batch;
  if (!isControlBatch(header)) throw new InvalidArgumentError('batch', `the batch at offset ${header.baseOffset} is not a control batch (attribute bit 5 is clear)`);
  const record = records[0];
  if (record === undefined) return { kind: 'empty' };
  const content = decodeControlRecord(record.key, record.value);
  if (content.kind === 'other') return { kind: 'other', type: content.type, typeId: content.typeId };
  return {
    kind: 'transactionMarker',
    producerId: header.producerId,
    producerEpoch: header.producerEpoch,
    result: content.type,
    coordinatorEpoch: content.coordinatorEpoch,
    offset: header.baseOffset,
    timestamp: record.timestamp,
  };
}

/**
 * {@link controlBatchContent} of the control batch at `position` in `bytes` (decoded without a
 * CRC check: callers validate batches before).
 */
export function readControlBatch(bytes: Uint8Array, position = 0): ControlBatchContent {
  return controlBatchContent(decodeRecordBatch(bytes, position, { verifyCrc: false }));
}
