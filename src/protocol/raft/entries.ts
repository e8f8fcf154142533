/**
 * What the metadata quorum's Raft replicas ship to each other: log entries and snapshots. The
 * Raft core in `actors/metadataLog/raft/` keeps and orders them; here is only their wire shape.
 */

/** An entry carrying one owner payload (a metadata record). */
export interface RaftDataEntry<T> {
  readonly kind: 'data';
  /** Position in the log, gap-free from 0. */
  readonly offset: bigint;
  /** Epoch of the leader that appended it. */
  readonly epoch: number;
  readonly payload: T;
}

/**
 * Kafka's LeaderChange control record: the first entry of every epoch, appended by the new leader
 * so that it has an entry of its own epoch to commit (which commits everything before it).
 */
export interface RaftLeaderChangeEntry {
  readonly kind: 'leaderChange';
  readonly offset: bigint;
  readonly epoch: number;
  readonly leaderId: number;
  readonly voters: readonly number[];
}

/** One entry of the replicated log. Entries are immutable once created. */
export type RaftEntry<T> = RaftDataEntry<T> | RaftLeaderChangeEntry;

/** Identifies a snapshot: it covers every offset below `endOffset`; `epoch` is that of offset `endOffset - 1`. */
export interface RaftSnapshotId {
  readonly endOffset: bigint;
  readonly epoch: number;
}

/** A snapshot of the owner's state machine after applying every entry below `endOffset`. */
export interface RaftSnapshot extends RaftSnapshotId {
  /** The owner's applied state; opaque to the Raft core, plain structured-clone-safe data. */
  readonly state: unknown;
}

/** Why a request was refused, with Kafka's error names. */
export type RaftErrorName = 'FENCED_LEADER_EPOCH' | 'UNKNOWN_LEADER_EPOCH' | 'NOT_LEADER_OR_FOLLOWER' | 'INCONSISTENT_VOTER_SET';
