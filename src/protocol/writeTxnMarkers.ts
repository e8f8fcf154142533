/**
 * WriteTxnMarkers (Kafka API 27): a transaction coordinator asks partition leaders to append the
 * COMMIT or ABORT marker of a producer's transaction.
 */
import type { RequestHeader, ResponseHeader, TopicPartition, WireError } from './common.ts';

/** `writeTxnMarkers.request`: one producer's markers for the partitions this broker leads. */
export interface WriteTxnMarkersRequest extends RequestHeader {
  readonly type: 'writeTxnMarkers.request';
  readonly producerId: bigint;
  readonly producerEpoch: number;
  /** The coordinator's epoch (its `__transaction_state` leader epoch): an older coordinator is fenced. */
  readonly coordinatorEpoch: number;
  /** true for COMMIT markers, false for ABORT. */
  readonly committed: boolean;
  /** The transaction protocol version (KIP-890); 0 when absent. */
  readonly transactionVersion?: number;
  readonly partitions: readonly TopicPartition[];
}

/** The outcome for one partition: where the marker went, or the error. */
export interface WriteTxnMarkersPartitionResult extends Partial<WireError> {
  readonly topic: string;
  readonly partition: number;
  readonly baseOffset?: bigint;
  readonly lastOffset?: bigint;
  readonly logAppendTime?: number;
  readonly logStartOffset?: bigint;
}

/** `writeTxnMarkers.response`. */
export interface WriteTxnMarkersResponse extends ResponseHeader {
  readonly type: 'writeTxnMarkers.response';
  readonly partitions?: readonly WriteTxnMarkersPartitionResult[];
}
