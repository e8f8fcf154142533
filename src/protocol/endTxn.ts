/** EndTxn (Kafka API 26): commits or aborts the producer's open transaction. */
import type { RequestHeader, ResponseHeader } from './common.ts';

/** `endTxn.request`. */
export interface EndTxnRequest extends RequestHeader {
  readonly type: 'endTxn.request';
  readonly transactionalId: string;
  readonly producerId: bigint;
  readonly producerEpoch: number;
  /** true to commit, false to abort. */
  readonly committed: boolean;
}

/** `endTxn.response`: the producer's id and epoch (bumped under transaction version 2) on success. */
export interface EndTxnResponse extends ResponseHeader {
  readonly type: 'endTxn.response';
  readonly producerId?: bigint;
  readonly producerEpoch?: number;
}
