/**
 * TxnOffsetCommit (Kafka API 28, KIP-98 and KIP-447): a transactional producer commits a group's
 * offsets inside its transaction; they become visible when the transaction commits.
 */
import type { RequestHeader, ResponseHeader } from './common.ts';
import type { OffsetCommitPartition, OffsetCommitPartitionResult } from './offsetCommit.ts';

/** `txnOffsetCommit.request`. */
export interface TxnOffsetCommitRequest extends RequestHeader {
  readonly type: 'txnOffsetCommit.request';
  readonly transactionalId: string;
  readonly groupId: string;
  readonly producerId: bigint;
  readonly producerEpoch: number;
  /** The consumer's group generation (KIP-447 fencing of zombie members). */
  readonly generationId?: number;
  readonly memberId?: string;
  readonly groupInstanceId?: string | null;
  readonly partitions: readonly OffsetCommitPartition[];
}

/** `txnOffsetCommit.response`: a top-level error is repeated per partition. */
export interface TxnOffsetCommitResponse extends ResponseHeader {
  readonly type: 'txnOffsetCommit.response';
  readonly partitions?: readonly OffsetCommitPartitionResult[];
}
