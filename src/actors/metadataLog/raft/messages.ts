/**
 * What a {@link RaftNode} exchanges with the world: the messages between replicas, named after
 * the KRaft RPCs (Vote, BeginQuorumEpoch, Fetch, FetchSnapshot), and the output of every call
 * (messages to deliver, entries newly committed, a snapshot to load, the next deadline). All of it
 * is plain, structured-clone-safe data, so it crosses any transport as it is.
 */
import type { RaftEntry, RaftSnapshot, RaftSnapshotId } from './log.ts';


/** Why a request was refused, with Kafka's error names. */
export type RaftErrorName = 'FENCED_LEADER_EPOCH' | 'UNKNOWN_LEADER_EPOCH' | 'NOT_LEADER_OR_FOLLOWER' | 'INCONSISTENT_VOTER_SET';

/** A candidate asks for a vote. */
export interface VoteRequest {
  readonly type: 'vote.request';
  readonly epoch: number;
  readonly candidateId: number;
  readonly lastEpoch: number;
  readonly lastEpochEndOffset: bigint;
}

/** A voter's answer; `leaderId` is set when the voter knows the leader of `epoch`. */
export interface VoteResponse {
  readonly type: 'vote.response';
  readonly epoch: number;
  readonly voteGranted: boolean;
  readonly leaderId?: number | undefined;
  readonly error?: RaftErrorName | undefined;
}

/** A new leader announces itself to the voters. */
export interface BeginQuorumEpochRequest {
  readonly type: 'beginQuorumEpoch.request';
  readonly epoch: number;
  readonly leaderId: number;
}

/** A voter acknowledges the new leader (or tells it of a newer epoch). */
export interface BeginQuorumEpochResponse {
  readonly type: 'beginQuorumEpoch.response';
  readonly epoch: number;
  readonly leaderId?: number | undefined;
  readonly error?: RaftErrorName | undefined;
}

/** A follower or observer asks for entries from `fetchOffset`. */
export interface FetchRequest {
  readonly type: 'fetch.request';
  readonly correlationId: number;
  readonly epoch: number;
  readonly replicaId: number;
  readonly fetchOffset: bigint;
  /** Epoch of the entry at `fetchOffset - 1` (the snapshot's epoch when there is none, 0 when empty). */
  readonly lastFetchedEpoch: number;
  /** The fetcher's high watermark: the leader answers at once when its own is ahead. */
  readonly highWatermark: bigint;
  /** How long the leader may hold the fetch when it has nothing new. */
  readonly maxWaitMs: number;
}

/** The leader's answer (or a non-leader's pointer to the leader). */
export interface FetchResponse<T> {
  readonly type: 'fetch.response';
  readonly correlationId: number;
  readonly epoch: number;
  readonly leaderId: number | undefined;
  readonly error?: RaftErrorName | undefined;
  readonly records: readonly RaftEntry<T>[];
  readonly highWatermark: bigint | undefined;
  /** The fetcher's log diverges: truncate to this epoch's end (KIP-101/279 rules) and fetch again. */
  readonly divergingEpoch?: { readonly epoch: number; readonly endOffset: bigint } | undefined;
  /** The fetch offset is below the leader's log start: fetch this snapshot. */
  readonly snapshotId?: RaftSnapshotId | undefined;
}

/** A fetcher asks for the leader's snapshot. */
export interface FetchSnapshotRequest {
  readonly type: 'fetchSnapshot.request';
  readonly correlationId: number;
  readonly epoch: number;
  readonly replicaId: number;
  readonly snapshotId: RaftSnapshotId;
}

/** The whole snapshot in one response. */
export interface FetchSnapshotResponse {
  readonly type: 'fetchSnapshot.response';
  readonly correlationId: number;
  readonly epoch: number;
  readonly leaderId: number | undefined;
  readonly error?: RaftErrorName | 'SNAPSHOT_NOT_FOUND' | undefined;
  readonly snapshot?: RaftSnapshot | undefined;
}

/** Every message a {@link RaftNode} sends or receives. */
export type RaftMessage<T> = VoteRequest | VoteResponse | BeginQuorumEpochRequest | BeginQuorumEpochResponse | FetchRequest | FetchResponse<T> | FetchSnapshotRequest | FetchSnapshotResponse;

/** A message addressed to node `to`. */
export interface RaftEnvelope<T> {
  readonly to: number;
  readonly message: RaftMessage<T>;
}


/**
 * What one call produced. Apply in this order: `loadSnapshot` (replace the state machine), then
 * `committed` (in offset order, each exactly once per node life). `nextDeadlineMs` is the earliest
 * time the node wants {@link RaftNode.tick}; undefined when nothing is pending.
 */
export interface RaftOutput<T> {
  readonly messages: RaftEnvelope<T>[];
  readonly committed: RaftEntry<T>[];
  readonly loadSnapshot?: RaftSnapshot | undefined;
  /** Set when the known (epoch, leader) changed during the call. */
  readonly leaderChange?: { readonly epoch: number; readonly leaderId: number | undefined } | undefined;
  readonly nextDeadlineMs: number | undefined;
}

/**
 * The answer to {@link RaftNode.append}. `appended`: the payloads now sit at
 * `baseOffset..lastOffset` in `epoch`; they are committed once a `committed` output carries the
 * entry at `lastOffset` with that same epoch (a different epoch there means they were lost with a
 * leader change). `notLeader`: nothing was appended; `leaderId` is the leader this node knows of.
 */
export type RaftAppendResult<T> =
  | { readonly type: 'appended'; readonly epoch: number; readonly baseOffset: bigint; readonly lastOffset: bigint; readonly output: RaftOutput<T> }
  | { readonly type: 'notLeader'; readonly epoch: number; readonly leaderId: number | undefined; readonly output: RaftOutput<T> };
