/**
 * Kafka record batch v2 (magic 2): the same bytes on disk and on the wire, byte-exact with Kafka's
 * `DefaultRecordBatch` / `DefaultRecord` and with KafkaJS.
 *
 * This module is the batch format's one entry point for the layers above: it names what they may
 * use, and the format's three jobs live in their own modules —
 * - `batchHeader.ts`: the 61-byte header's layout, reading and CRC checks, writing, and the
 *   leader's in-place stamping (base offset, leader epoch, LogAppendTime, producer state);
 * - `encodeRecordBatch.ts`: records → batch bytes;
 * - `decodeRecordBatch.ts`: batch bytes → records.
 */
export {
  ATTRIBUTES_OFFSET,
  BASE_OFFSET_OFFSET,
  BASE_SEQUENCE_OFFSET,
  BASE_TIMESTAMP_OFFSET,
  BATCH_LENGTH_OFFSET,
  COMPRESSION_CODEC_MASK,
  CONTROL_FLAG_MASK,
  CRC_OFFSET,
  DELETE_HORIZON_FLAG_MASK,
  LAST_OFFSET_DELTA_OFFSET,
  LOG_OVERHEAD,
  MAGIC,
  MAGIC_OFFSET,
  MAX_TIMESTAMP_OFFSET,
  MIN_BATCH_LENGTH,
  NO_PARTITION_LEADER_EPOCH,
  NO_PRODUCER_EPOCH,
  NO_PRODUCER_ID,
  NO_SEQUENCE,
  NO_TIMESTAMP,
  PARTITION_LEADER_EPOCH_OFFSET,
  PRODUCER_EPOCH_OFFSET,
  PRODUCER_ID_OFFSET,
  RECORD_BATCH_OVERHEAD,
  RECORDS_COUNT_OFFSET,
  RECORDS_OFFSET,
  TIMESTAMP_TYPE_MASK,
  TRANSACTIONAL_FLAG_MASK,
  assertBatchValid,
  batchCrcValid,
  batchSize,
  compressionOf,
  hasDeleteHorizon,
  isControlBatch,
  isTransactional,
  lastOffset,
  readBatchHeader,
  scanBatches,
  setLogAppendTime,
  setProducerState,
  stampBatch,
  timestampTypeOf,
  writeBatchHeader,
} from './batchHeader.ts';
export type { HeaderFields, RecordBatchHeader, ScanEnd, ScannedBatch, TimestampType } from './batchHeader.ts';
export { encodeRecordBatch } from './encodeRecordBatch.ts';
export type { RecordBatchInput, RecordHeader, RecordInput } from './encodeRecordBatch.ts';
export { decodeRecordBatch, decodeRecordBatchInto } from './decodeRecordBatch.ts';
export type { DecodedRecord, DecodedRecordBatch, DecodeOptions, RecordFactory } from './decodeRecordBatch.ts';
