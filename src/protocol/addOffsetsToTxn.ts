/** AddOffsetsToTxn (Kafka API 25): a transaction will commit offsets of this group. */
import type { RequestHeader, ResponseHeader } from './common.ts';

/** `addOffsetsToTxn.request`. */
export interface AddOffsetsToTxnRequest extends RequestHeader {
  readonly type: 'addOffsetsToTxn.request';
  readonly transactionalId: string;
  readonly producerId: bigint;
  readonly producerEpoch: number;
  readonly groupId: string;
}

/** `addOffsetsToTxn.response`: the producer's id and epoch on success. */
export interface AddOffsetsToTxnResponse extends ResponseHeader {
  readonly type: 'addOffsetsToTxn.response';
  readonly producerId?: bigint;
  readonly producerEpoch?: number;
}
