/**
 * ListOffsets (Kafka API 2): the offset of a partition for a timestamp, or the earliest (-2) or
 * latest (-1) one; read_committed readers get the last stable offset as the latest.
 */
import type { RequestHeader, ResponseHeader, WireError } from './common.ts';

/** A partition and the timestamp to look up: -1 latest, -2 earliest, else the first offset at or after it. */
export interface ListOffsetsPartition {
  readonly topic: string;
  readonly partition: number;
  readonly timestamp: number;
}

/** `listOffsets.request`. */
export interface ListOffsetsRequest extends RequestHeader {
  readonly type: 'listOffsets.request';
  readonly isolationLevel?: 'read_uncommitted' | 'read_committed';
  readonly partitions: readonly ListOffsetsPartition[];
}

/** The offset found for one partition (-1n with an error, or when no record matches the timestamp). */
export interface ListOffsetsPartitionResult extends Partial<WireError> {
  readonly topic: string;
  readonly partition: number;
  readonly offset: bigint;
  readonly timestamp: number;
}

/** `listOffsets.response`. */
export interface ListOffsetsResponse extends ResponseHeader {
  readonly type: 'listOffsets.response';
  readonly partitions: readonly ListOffsetsPartitionResult[];
}
