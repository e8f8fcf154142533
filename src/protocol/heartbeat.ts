/** Heartbeat (Kafka API 12): keeps a member's session alive and tells it of a rebalance. */
import type { RequestHeader, ResponseHeader } from './common.ts';

/** `heartbeat.request`. */
export interface HeartbeatRequest extends RequestHeader {
  readonly type: 'heartbeat.request';
  readonly groupId: string;
  readonly memberId: string;
  readonly generationId: number;
  readonly groupInstanceId?: string;
}

/** `heartbeat.response`: REBALANCE_IN_PROGRESS, UNKNOWN_MEMBER_ID, ILLEGAL_GENERATION… or none. */
export interface HeartbeatResponse extends ResponseHeader {
  readonly type: 'heartbeat.response';
}
