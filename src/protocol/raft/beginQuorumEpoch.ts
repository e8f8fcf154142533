/** BeginQuorumEpoch (KRaft API 53): a new leader announces itself to the voters. */
import type { RaftErrorName } from './entries.ts';

/** `beginQuorumEpoch.request`. */
export interface BeginQuorumEpochRequest {
  readonly type: 'beginQuorumEpoch.request';
  readonly epoch: number;
  readonly leaderId: number;
}

/** `beginQuorumEpoch.response`: the voter acknowledges (or tells of a newer epoch). */
export interface BeginQuorumEpochResponse {
  readonly type: 'beginQuorumEpoch.response';
  readonly epoch: number;
  readonly leaderId?: number | undefined;
  readonly error?: RaftErrorName | undefined;
}
