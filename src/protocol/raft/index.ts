/**
 * The messages between replicas of the metadata quorum, named after the KRaft RPCs. They travel
 * between nodes wrapped in a `quorum.message` (`protocol/quorum.ts`); Raft handles their loss,
 * duplication and timeouts itself.
 */
import type { BeginQuorumEpochRequest, BeginQuorumEpochResponse } from './beginQuorumEpoch.ts';
import type { RaftFetchRequest, RaftFetchResponse } from './fetch.ts';
import type { FetchSnapshotRequest, FetchSnapshotResponse } from './fetchSnapshot.ts';
import type { VoteRequest, VoteResponse } from './vote.ts';

export type { BeginQuorumEpochRequest, BeginQuorumEpochResponse } from './beginQuorumEpoch.ts';
export type { RaftDataEntry, RaftEntry, RaftErrorName, RaftLeaderChangeEntry, RaftSnapshot, RaftSnapshotId } from './entries.ts';
export type { RaftFetchRequest, RaftFetchResponse } from './fetch.ts';
export type { FetchSnapshotRequest, FetchSnapshotResponse } from './fetchSnapshot.ts';
export type { VoteRequest, VoteResponse } from './vote.ts';

/** Every message a Raft replica sends or receives; `T` is the payload of data entries. */
export type RaftMessage<T> = VoteRequest | VoteResponse | BeginQuorumEpochRequest | BeginQuorumEpochResponse | RaftFetchRequest | RaftFetchResponse<T> | FetchSnapshotRequest | FetchSnapshotResponse;

/** The type of a Raft message. */
export type RaftMessageType = RaftMessage<unknown>['type'];

const RAFT_TYPES = {
  'vote.request': true,
  'vote.response': true,
  'beginQuorumEpoch.request': true,
  'beginQuorumEpoch.response': true,
  'fetch.request': true,
  'fetch.response': true,
  'fetchSnapshot.request': true,
  'fetchSnapshot.response': true,
} as const satisfies Record<RaftMessageType, true>;

/** Every Raft message type, to check what arrives inside a `quorum.message`. */
export const RAFT_MESSAGE_TYPES: ReadonlySet<string> = new Set(Object.keys(RAFT_TYPES));
