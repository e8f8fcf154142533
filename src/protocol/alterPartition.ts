/** AlterPartition (Kafka API 56, KIP-497): a partition leader proposes a new ISR to the controller. */
import type { ControllerResponseHeader, RequestHeader } from './common.ts';

/** `alterPartition.request`: one partition per request. */
export interface AlterPartitionRequest extends RequestHeader {
  readonly type: 'alterPartition.request';
  readonly brokerId: number;
  readonly topic: string;
  readonly partition: number;
  /** The leader's epoch; a stale one is FENCED_LEADER_EPOCH. */
  readonly leaderEpoch: number;
  /** The partition epoch the proposal is based on; a stale one is INVALID_UPDATE_VERSION. */
  readonly partitionEpoch: number;
  readonly newIsr: readonly number[];
}

/** `alterPartition.response`: the partition state the controller committed, or the error. */
export interface AlterPartitionResponse extends ControllerResponseHeader {
  readonly type: 'alterPartition.response';
  readonly topic?: string;
  readonly partition?: number;
  readonly leader?: number;
  readonly leaderEpoch?: number;
  readonly partitionEpoch?: number;
  readonly isr?: readonly number[];
}
