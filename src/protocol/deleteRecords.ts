/** DeleteRecords (Kafka API 21): moves partitions' log start offsets forward. */
import type { RequestHeader, ResponseHeader, WireError } from './common.ts';

/** A partition and the offset below which its records go (-1n: the high watermark). */
export interface DeleteRecordsPartition {
  readonly topic: string;
  readonly partition: number;
  readonly offset: bigint;
}

/** `deleteRecords.request`. */
export interface DeleteRecordsRequest extends RequestHeader {
  readonly type: 'deleteRecords.request';
  readonly partitions: readonly DeleteRecordsPartition[];
}

/** The new log start offset of one partition, -1n on error. */
export interface DeleteRecordsPartitionResult extends Partial<WireError> {
  readonly topic: string;
  readonly partition: number;
  readonly lowWatermark: bigint;
}

/** `deleteRecords.response`. */
export interface DeleteRecordsResponse extends ResponseHeader {
  readonly type: 'deleteRecords.response';
  readonly partitions: readonly DeleteRecordsPartitionResult[];
}
