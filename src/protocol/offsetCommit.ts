/**
 * OffsetCommit (Kafka API 8): a group member (or a simple consumer, generation -1) stores
 * committed offsets; the group rules on member and generation first.
 */
import type { RequestHeader, ResponseHeader, WireError } from './common.ts';

/** An offset to commit for one partition. */
export interface OffsetCommitPartition {
  readonly topic: string;
  readonly partition: number;
  readonly offset: bigint;
  readonly metadata?: string;
}

/** `offsetCommit.request`. */
export interface OffsetCommitRequest extends RequestHeader {
  readonly type: 'offsetCommit.request';
  readonly groupId: string;
  /** `''` for a simple consumer or an admin client. */
  readonly memberId?: string;
  /** -1 for a simple consumer or an admin client. */
  readonly generationId?: number;
  readonly groupInstanceId?: string | null;
  readonly partitions: readonly OffsetCommitPartition[];
}

/** The outcome for one partition of a commit. */
export interface OffsetCommitPartitionResult extends Partial<WireError> {
  readonly topic: string;
  readonly partition: number;
}

/** `offsetCommit.response`: a top-level error (the group refused) is repeated per partition. */
export interface OffsetCommitResponse extends ResponseHeader {
  readonly type: 'offsetCommit.response';
  readonly partitions?: readonly OffsetCommitPartitionResult[];
}
