/** Vote (KRaft API 52): a candidate asks the voters for their vote in a new epoch. */
import type { RaftErrorName } from './entries.ts';

/** `vote.request`: granted only to a candidate whose log is at least as up to date. */
export interface VoteRequest {
  readonly type: 'vote.request';
  readonly epoch: number;
  readonly candidateId: number;
  readonly lastEpoch: number;
  readonly lastEpochEndOffset: bigint;
}

/** `vote.response`: `leaderId` is set when the voter knows the leader of `epoch`. */
export interface VoteResponse {
  readonly type: 'vote.response';
  readonly epoch: number;
  readonly voteGranted: boolean;
  readonly leaderId?: number | undefined;
  readonly error?: RaftErrorName | undefined;
}
