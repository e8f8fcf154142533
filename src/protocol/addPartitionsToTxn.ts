/** AddPartitionsToTxn (Kafka API 24): a transactional producer registers partitions before writing to them. */
import type { RequestHeader, ResponseHeader, TopicPartition } from './common.ts';

/** `addPartitionsToTxn.request`. */
export interface AddPartitionsToTxnRequest extends RequestHeader {
  readonly type: 'addPartitionsToTxn.request';
  readonly transactionalId: string;
  readonly producerId: bigint;
  readonly producerEpoch: number;
  readonly partitions: readonly TopicPartition[];
}

/** `addPartitionsToTxn.response`: the producer's id and epoch on success. */
export interface AddPartitionsToTxnResponse extends ResponseHeader {
  readonly type: 'addPartitionsToTxn.response';
  readonly producerId?: bigint;
  readonly producerEpoch?: number;
}
