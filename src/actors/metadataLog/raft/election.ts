/**
 * Elections and roles, as KRaft's (KIP-595): the role transitions (unattached, follower,
 * candidate, leader, resigned), `vote.request`s with epochs and Kafka's exponential back-off, a new
 * leader's `beginQuorumEpoch.request` and LeaderChange entry, and check quorum (a leader that a
 * majority stopped fetching from resigns). An epoch seen in any message is handled here: a higher
 * one always wins.
 *
 * At most one leader per epoch: a voter grants at most one vote per epoch, and that vote is in the
 * durable state before the response leaves (the façade persists before it returns the output).
 */
import { InvalidArgumentError } from '../../../errors.ts';
import { ELECTION_BACKOFF_BASE_MS } from './config.ts';
import { lastEpoch, logEndOffset } from './log.ts';
import type { BeginQuorumEpochRequest, BeginQuorumEpochResponse, RaftErrorName, VoteRequest, VoteResponse } from './messages.ts';
import { acknowledge, maybeAdvanceLeaderHw, releaseParked } from './leader.ts';
import { checkQuorumTimeout, knownLeader, noteLeader, randomElectionTimeout, resetVolatile, send } from './state.ts';
import type { RaftRole, RaftState } from './state.ts';

/** Changes the role; a leader that steps down answers the fetches it held. */
export function setRole<T>(s: RaftState<T>, role: RaftRole): void {
  if (s.role === 'leader' && role !== 'leader') releaseParked(s);
  if (role !== 'candidate') s.electionRetries = 0;
  s.role = role;
}

/** Moves to `epoch` durably; a new epoch clears the vote and the known leader. */
function persistEpoch<T>(s: RaftState<T>, epoch: number): void {
  if (epoch > s.durable.epoch) {
    s.durable.epoch = epoch;
    s.durable.votedFor = undefined;
    s.durable.leaderId = undefined;
  }
}

/** Becomes unattached in `epoch`: a voter waits out an election timeout, an observer looks for the leader. */
export function becomeUnattached<T>(s: RaftState<T>, epoch: number): void {
  // As Kafka's transitionToUnattached: an unattached voter or candidate keeps its running election
  // timer. Resetting it on every higher epoch would let a candidate that can never win (stale log,
  // short timeout) keep the better candidates from ever running.
  const running = s.role === 'unattached' || s.role === 'resigned' || s.role === 'candidate' ? (s.electionDeadline ?? s.backoffUntil) : undefined;
  persistEpoch(s, epoch);
  setRole(s, 'unattached');
  resetVolatile(s);
  if (s.durable.leaderId !== undefined && s.durable.epoch === epoch) s.durable.leaderId = undefined;
  if (s.observer) s.nextFetchAt = s.now;
  else s.electionDeadline = running ?? s.now + randomElectionTimeout(s);
  noteLeader(s);
}

/** Follows `leaderId` in `epoch`: fetch from it now, run for election if it goes quiet. */
export function becomeFollower<T>(s: RaftState<T>, epoch: number, leaderId: number): void {
  persistEpoch(s, epoch);
  s.durable.leaderId = leaderId;
  setRole(s, 'follower');
  resetVolatile(s);
  s.fetchTimeoutDeadline = s.now + s.config.fetchTimeoutMs;
  s.nextFetchAt = s.now;
  noteLeader(s);
}

/** Runs for election in the next epoch, voting for itself (a single voter wins at once). */
export function becomeCandidate<T>(s: RaftState<T>): void {
  const retries = s.electionRetries;
  persistEpoch(s, s.durable.epoch + 1);
  s.durable.votedFor = s.id;
  setRole(s, 'candidate');
  resetVolatile(s);
  s.electionRetries = retries + 1;
  s.granted.add(s.id);
  s.electionDeadline = s.now + randomElectionTimeout(s);
  noteLeader(s);
  if (s.granted.size >= s.majority) {
    becomeLeader(s);
    return;
  }
  const request: VoteRequest = { type: 'vote.request', epoch: s.durable.epoch, candidateId: s.id, lastEpoch: lastEpoch(s.durable), lastEpochEndOffset: logEndOffset(s.durable) };
  for (const v of s.voters) if (v !== s.id) send(s, v, request);
}

/** A lost or timed-out election: waits Kafka's binary exponential back-off before running again. */
export function startBackoff<T>(s: RaftState<T>): void {
  // Capped at election.backoff.max.ms.
  const shift = Math.min(s.electionRetries, 20);
  const backoff = Math.min(ELECTION_BACKOFF_BASE_MS * s.random.int(2 ** shift), s.config.electionBackoffMaxMs);
  s.electionDeadline = undefined;
  s.backoffUntil = s.now + backoff;
}

function becomeLeader<T>(s: RaftState<T>): void {
  setRole(s, 'leader');
  resetVolatile(s);
  s.durable.leaderId = s.id;
  const epoch = s.durable.epoch;
  s.epochStartOffset = logEndOffset(s.durable);
  s.durable.entries.push(Object.freeze({ kind: 'leaderChange', offset: s.epochStartOffset, epoch, leaderId: s.id, voters: s.voters }));
  s.replicaEndOffsets.set(s.id, logEndOffset(s.durable));
  s.acknowledged.add(s.id);
  s.checkQuorumDeadline = s.now + checkQuorumTimeout(s);
  noteLeader(s);
  const request: BeginQuorumEpochRequest = { type: 'beginQuorumEpoch.request', epoch, leaderId: s.id };
  for (const v of s.voters) if (v !== s.id) send(s, v, request);
  if (s.voters.length > 1) s.beginQuorumResendAt = s.now + s.config.requestTimeoutMs;
  maybeAdvanceLeaderHw(s);
}

function resign<T>(s: RaftState<T>): void {
  // Check quorum failed: most voters cannot reach us, so stop accepting writes (Kafka's Resigned).
  setRole(s, 'resigned');
  resetVolatile(s);
  s.durable.leaderId = undefined;
  s.electionDeadline = s.now + randomElectionTimeout(s);
  noteLeader(s);
}

/** The leader's timers due at `now`: BeginQuorumEpoch resends to voters that have not answered, then check quorum. */
export function tickLeaderElection<T>(s: RaftState<T>, now: number): void {
  if (s.beginQuorumResendAt !== undefined && now >= s.beginQuorumResendAt) {
    const pending = s.voters.filter((v) => !s.acknowledged.has(v));
    for (const v of pending) send(s, v, { type: 'beginQuorumEpoch.request', epoch: s.durable.epoch, leaderId: s.id });
    s.beginQuorumResendAt = pending.length > 0 ? now + s.config.requestTimeoutMs : undefined;
  }
  if (s.checkQuorumDeadline !== undefined && now >= s.checkQuorumDeadline && s.voters.length > 1) resign(s);
}

/**
 * Reacts to an epoch (and maybe its leader) seen in any message: a higher epoch always wins
 * (we step down); the leader of our own epoch is adopted when we did not know it.
 */
export function observeEpoch<T>(s: RaftState<T>, epoch: number, leaderId: number | undefined): void {
  if (!Number.isSafeInteger(epoch) || epoch < 0) throw new InvalidArgumentError('message', `epoch must be an integer ≥ 0, got ${String(epoch)}`);
  const known = leaderId !== undefined && leaderId !== s.id && s.voters.includes(leaderId);
  if (epoch > s.durable.epoch) {
    if (known) becomeFollower(s, epoch, leaderId);
    else becomeUnattached(s, epoch);
  } else if (epoch === s.durable.epoch && known && (s.role === 'unattached' || s.role === 'candidate')) {
    becomeFollower(s, epoch, leaderId);
  }
}

/** A candidate asks for our vote: one vote per epoch, only for a log at least as up to date as ours. */
export function onVoteRequest<T>(s: RaftState<T>, from: number, request: VoteRequest): void {
  const reply = (voteGranted: boolean, error?: RaftErrorName): void => {
    send(s, from, { type: 'vote.response', epoch: s.durable.epoch, voteGranted, leaderId: knownLeader(s), error });
  };
  if (!s.voters.includes(request.candidateId) || request.candidateId !== from) {
    reply(false, 'INCONSISTENT_VOTER_SET');
    return;
  }
  if (request.epoch < s.durable.epoch) {
    reply(false, 'FENCED_LEADER_EPOCH');
    return;
  }
  if (request.epoch > s.durable.epoch) becomeUnattached(s, request.epoch);
  if (s.observer) {
    reply(false, 'INCONSISTENT_VOTER_SET');
    return;
  }
  const votedFor = s.durable.votedFor;
  // One vote per epoch, and none once the epoch has a leader we follow.
  const free = s.role === 'unattached' && (votedFor === undefined || votedFor === request.candidateId);
  const upToDate = request.lastEpoch > lastEpoch(s.durable) || (request.lastEpoch === lastEpoch(s.durable) && request.lastEpochEndOffset >= logEndOffset(s.durable));
  if (free && upToDate) {
    s.durable.votedFor = request.candidateId;
    // Granting resets our election timer, so we give the candidate time to win.
    s.electionDeadline = s.now + randomElectionTimeout(s);
    reply(true);
  } else {
    reply(false);
  }
}

/** Counts a vote: a majority makes us leader, a lost majority makes us back off at once. */
export function onVoteResponse<T>(s: RaftState<T>, from: number, response: VoteResponse): void {
  observeEpoch(s, response.epoch, response.leaderId);
  if (s.role !== 'candidate' || response.epoch !== s.durable.epoch || !s.voters.includes(from)) return;
  if (response.voteGranted) {
    s.rejected.delete(from);
    s.granted.add(from);
    if (s.granted.size >= s.majority) becomeLeader(s);
  } else if (!s.granted.has(from)) {
    s.rejected.add(from);
    // Lost for sure: back off now rather than wait for the election timeout.
    if (s.rejected.size > s.voters.length - s.majority && s.backoffUntil === undefined) startBackoff(s);
  }
}

/** A new leader announces itself: follow it (or tell it of a newer epoch). */
export function onBeginQuorumEpoch<T>(s: RaftState<T>, from: number, request: BeginQuorumEpochRequest): void {
  if (request.epoch < s.durable.epoch) {
    send(s, from, { type: 'beginQuorumEpoch.response', epoch: s.durable.epoch, leaderId: knownLeader(s), error: 'FENCED_LEADER_EPOCH' });
    return;
  }
  observeEpoch(s, request.epoch, request.leaderId);
  if (s.role === 'resigned' && request.epoch === s.durable.epoch) {
    // Impossible for a correct peer: we led this epoch. Ignore rather than follow a second leader.
    return;
  }
  send(s, from, { type: 'beginQuorumEpoch.response', epoch: s.durable.epoch, leaderId: knownLeader(s) });
}

/** A voter acknowledged our epoch. */
export function onBeginQuorumEpochResponse<T>(s: RaftState<T>, from: number, response: BeginQuorumEpochResponse): void {
  observeEpoch(s, response.epoch, response.leaderId);
  if (s.role === 'leader' && response.epoch === s.durable.epoch && response.error === undefined) acknowledge(s, from);
}
