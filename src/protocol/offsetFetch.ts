/** OffsetFetch (Kafka API 9): a group's committed offsets. */
import type { RequestHeader, ResponseHeader, TopicPartition, WireError } from './common.ts';

/** `offsetFetch.request`: every partition the group has offsets for when `partitions` is absent. */
export interface OffsetFetchRequest extends RequestHeader {
  readonly type: 'offsetFetch.request';
  readonly groupId: string;
  readonly partitions?: readonly TopicPartition[];
  /** KIP-447: answer UNSTABLE_OFFSET_COMMIT while a transaction's offsets for a partition are pending. */
  readonly requireStable?: boolean;
}

/** The committed offset of one partition, -1n when none. */
export interface OffsetFetchPartitionResult extends Partial<WireError> {
  readonly topic: string;
  readonly partition: number;
  readonly offset: bigint;
  readonly metadata: string;
}

/** `offsetFetch.response`. */
export interface OffsetFetchResponse extends ResponseHeader {
  readonly type: 'offsetFetch.response';
  readonly partitions?: readonly OffsetFetchPartitionResult[];
}
