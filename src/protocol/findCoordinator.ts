/**
 * FindCoordinator (Kafka API 10): which broker coordinates a group (the leader of its
 * `__consumer_offsets` partition) or a transactional id (of its `__transaction_state` partition).
 */
import type { RequestHeader, ResponseHeader } from './common.ts';

/** `findCoordinator.request`. */
export interface FindCoordinatorRequest extends RequestHeader {
  readonly type: 'findCoordinator.request';
  /** The group id or transactional id. */
  readonly key: string;
  readonly keyType: 'group' | 'transaction';
}

/** `findCoordinator.response`: the coordinator's broker id, -1 with an error. */
export interface FindCoordinatorResponse extends ResponseHeader {
  readonly type: 'findCoordinator.response';
  readonly coordinator: number;
}
