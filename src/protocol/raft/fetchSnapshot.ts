/** FetchSnapshot (KRaft API 59): a fetcher behind the leader's log start gets its snapshot. */
import type { RaftErrorName, RaftSnapshot, RaftSnapshotId } from './entries.ts';

/** `fetchSnapshot.request`. */
export interface FetchSnapshotRequest {
  readonly type: 'fetchSnapshot.request';
  readonly correlationId: number;
  readonly epoch: number;
  readonly replicaId: number;
  readonly snapshotId: RaftSnapshotId;
}

/** `fetchSnapshot.response`: the whole snapshot in one response. */
export interface FetchSnapshotResponse {
  readonly type: 'fetchSnapshot.response';
  readonly correlationId: number;
  readonly epoch: number;
  readonly leaderId: number | undefined;
  readonly error?: RaftErrorName | 'SNAPSHOT_NOT_FOUND' | undefined;
  readonly snapshot?: RaftSnapshot | undefined;
}
