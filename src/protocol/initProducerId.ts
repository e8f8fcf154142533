/**
 * InitProducerId (Kafka API 22): an idempotent producer gets a producer id from any broker; a
 * transactional one gets its id and a bumped epoch from its transaction coordinator, which fences
 * older instances and completes their open transaction first.
 */
import type { RequestHeader, ResponseHeader } from './common.ts';

/** `initProducerId.request`. */
export interface InitProducerIdRequest extends RequestHeader {
  readonly type: 'initProducerId.request';
  /** null for an idempotent, non-transactional producer. */
  readonly transactionalId: string | null;
  readonly transactionTimeoutMs: number;
  /** KIP-360: the id and epoch the producer holds, to bump instead of fencing (-1n / -1 when none). */
  readonly producerId?: bigint;
  readonly producerEpoch?: number;
}

/** `initProducerId.response`: the id and epoch on success. */
export interface InitProducerIdResponse extends ResponseHeader {
  readonly type: 'initProducerId.response';
  readonly producerId?: bigint;
  readonly producerEpoch?: number;
}
