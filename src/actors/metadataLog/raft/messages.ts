/**
 * What a {@link RaftNode} exchanges with the world: the messages between replicas, named after
 * the KRaft RPCs (Vote, BeginQuorumEpoch, Fetch, FetchSnapshot), and the output of every call
 * (messages to deliver, entries newly committed, a snapshot to load, the next deadline). All of it
 * is plain, structured-clone-safe data, so it crosses any transport as it is.
 */
import type { RaftEntry, RaftSnapshot } from './log.ts';

// The RPCs themselves are wire shapes: one definition, in the protocol (`protocol/raft/`).
import type { RaftMessage } from '../../../protocol/raft/index.ts';
export type {
  BeginQuorumEpochRequest,
  BeginQuorumEpochResponse,
  FetchSnapshotRequest,
  FetchSnapshotResponse,
  RaftErrorName,
  RaftFetchRequest as FetchRequest,
  RaftFetchResponse as FetchResponse,
  RaftMessage,
  VoteRequest,
  VoteResponse,
} from '../../../protocol/raft/index.ts';

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
