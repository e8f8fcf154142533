/**
 * The state one replica of the quorum holds while it runs, shared by the parts of the Raft core
 * (elections, the leader's and the fetcher's side of replication, snapshots) and driven by the
 * {@link RaftNode} façade, which alone owns it. The durable part lives in
 * {@link RaftDurableState}; everything here besides it is volatile and relearned after a crash.
 * Also the output plumbing every part uses: queue a message, commit up to an offset, note a
 * change of leader.
 */
import type { Random } from '../../../random.ts';
import { CHECK_QUORUM_TIMEOUT_FACTOR } from './config.ts';
import type { RaftQuorumConfig } from './config.ts';
import { entryAt } from './log.ts';
import type { RaftDurableState, RaftEntry, RaftSnapshot, RaftSnapshotId } from './log.ts';
import type { FetchRequest, RaftEnvelope, RaftMessage } from './messages.ts';

/** The role of a node. Observers are `unattached` (looking for the leader) or `follower`. */
export type RaftRole = 'unattached' | 'follower' | 'candidate' | 'leader' | 'resigned';

/** The fetch (or snapshot fetch) a fetcher waits an answer for; only one at a time. */
export interface InFlight {
  readonly kind: 'fetch' | 'fetchSnapshot';
  readonly correlationId: number;
  readonly to: number;
  readonly deadline: number;
  /** The log end when it was sent: an answer to a fetch from another position is stale. */
  readonly fetchOffset: bigint;
}

/** A fetch the leader holds (long poll) until there is news or `deadline`. */
export interface Parked {
  readonly from: number;
  readonly request: FetchRequest;
  readonly deadline: number;
}

/** What the current call has produced so far; handed out, and reset, by the façade's flush. */
export interface Emit<T> {
  messages: RaftEnvelope<T>[];
  committed: RaftEntry<T>[];
  loadSnapshot: RaftSnapshot | undefined;
  leaderChange: { epoch: number; leaderId: number | undefined } | undefined;
}

/**
 * Everything a running replica holds. Mutated in place by the parts of the core, one call at a
 * time (the core is not re-entrant).
 */
export interface RaftState<T> {
  readonly id: number;
  /** The voter set, ascending. */
  readonly voters: readonly number[];
  readonly observer: boolean;
  readonly config: RaftQuorumConfig;
  readonly fetchMaxWaitMs: number;
  readonly fetchMaxRecords: number;
  readonly random: Random;
  readonly durable: RaftDurableState<T>;
  /** Votes (or replicas) that make a majority of the voters. */
  readonly majority: number;

  started: boolean;
  /** The time of the current call. */
  now: number;
  role: RaftRole;
  /** The high watermark: every entry below it is committed. */
  hw: bigint;
  out: Emit<T>;
  /** The (epoch, leader) last reported in an output's `leaderChange`. */
  lastLeader: { epoch: number; leaderId: number | undefined };

  // Voter timers.
  electionDeadline: number | undefined;
  fetchTimeoutDeadline: number | undefined;
  // Candidate.
  readonly granted: Set<number>;
  readonly rejected: Set<number>;
  backoffUntil: number | undefined;
  electionRetries: number;
  // Fetcher (follower or observer).
  inFlight: InFlight | undefined;
  nextFetchAt: number | undefined;
  pendingSnapshot: RaftSnapshotId | undefined;
  nextCorrelationId: number;
  // Leader.
  /** Offset of this epoch's LeaderChange entry: nothing commits before an entry past it does. */
  epochStartOffset: bigint;
  readonly replicaEndOffsets: Map<number, bigint>;
  /** Voters that acknowledged this leader's BeginQuorumEpoch. */
  readonly acknowledged: Set<number>;
  beginQuorumResendAt: number | undefined;
  readonly parked: Map<number, Parked>;
  checkQuorumDeadline: number | undefined;
  readonly fetchedSinceCheck: Set<number>;
}

/** An empty output under construction. */
export function emptyEmit<T>(): Emit<T> {
  return { messages: [], committed: [], loadSnapshot: undefined, leaderChange: undefined };
}

/** The leader of the current epoch as this node knows it. */
export function knownLeader<T>(s: RaftState<T>): number | undefined {
  if (s.role === 'leader') return s.id;
  return s.role === 'follower' ? s.durable.leaderId : undefined;
}

/** Queues `message` for node `to` in this call's output. */
export function send<T>(s: RaftState<T>, to: number, message: RaftMessage<T>): void {
  s.out.messages.push({ to, message });
}

/** Moves the high watermark up to `to`, handing every newly covered entry to the output once. */
export function advanceHw<T>(s: RaftState<T>, to: bigint): void {
  if (to <= s.hw) return;
  for (let o = s.hw; o < to; o++) s.out.committed.push(entryAt(s.durable, o) as RaftEntry<T>);
  s.hw = to;
}

/** Reports the current (epoch, leader) in the output when it differs from the last one reported. */
export function noteLeader<T>(s: RaftState<T>): void {
  const epoch = s.durable.epoch;
  const leaderId = knownLeader(s);
  if (s.lastLeader.epoch !== epoch || s.lastLeader.leaderId !== leaderId) {
    s.lastLeader = { epoch, leaderId };
    s.out.leaderChange = { epoch, leaderId };
  }
}

/** A wait drawn from [t, 2t) for the election timeout t. */
export function randomElectionTimeout<T>(s: RaftState<T>): number {
  const t = s.config.electionTimeoutMs;
  return t + s.random.int(t);
}

/** How long a leader may go without fetches from a majority before it resigns. */
export function checkQuorumTimeout<T>(s: RaftState<T>): number {
  return Math.floor(s.config.fetchTimeoutMs * CHECK_QUORUM_TIMEOUT_FACTOR);
}

/** Forgets every timer and per-role bookkeeping (the role changes right after). */
export function resetVolatile<T>(s: RaftState<T>): void {
  s.electionDeadline = undefined;
  s.fetchTimeoutDeadline = undefined;
  s.granted.clear();
  s.rejected.clear();
  s.backoffUntil = undefined;
  s.inFlight = undefined;
  s.nextFetchAt = undefined;
  s.pendingSnapshot = undefined;
  s.replicaEndOffsets.clear();
  s.acknowledged.clear();
  s.beginQuorumResendAt = undefined;
  s.checkQuorumDeadline = undefined;
  s.fetchedSinceCheck.clear();
}
