/**
 * The leader's side of replication, pull-based as Kafka's: appending in its own epoch, answering
 * `fetch.request`s (records, a diverging epoch or a snapshot id), holding fetches that find
 * nothing new (long poll), tracking how far each voter has fetched, and the commit rule that moves
 * the high watermark. Also the voters' acknowledgements of the leader's epoch, which fetches count
 * as, and the check-quorum timer they restart.
 */
import { logEndOffset, logStartOffset, validateFetch } from './log.ts';
import type { FetchValidity } from './log.ts';
import type { FetchRequest, RaftErrorName } from './messages.ts';
import { advanceHw, checkQuorumTimeout, knownLeader, send } from './state.ts';
import type { RaftState } from './state.ts';

/**
 * Appends `payloads` in the current epoch (the caller checked that this node leads) and commits
 * at once what a majority already holds (a single voter). Returns where they landed.
 */
export function appendAsLeader<T>(s: RaftState<T>, payloads: readonly T[]): { epoch: number; baseOffset: bigint; lastOffset: bigint } {
  const epoch = s.durable.epoch;
  const baseOffset = logEndOffset(s.durable);
  let offset = baseOffset;
  for (const payload of payloads) s.durable.entries.push(Object.freeze({ kind: 'data', offset: offset++, epoch, payload }));
  s.replicaEndOffsets.set(s.id, logEndOffset(s.durable));
  maybeAdvanceLeaderHw(s);
  completeParked(s);
  return { epoch, baseOffset, lastOffset: offset - 1n };
}

/** Records that `voter` acknowledged this leader's epoch; resending BeginQuorumEpoch stops once all have. */
export function acknowledge<T>(s: RaftState<T>, voter: number): void {
  s.acknowledged.add(voter);
  if (s.acknowledged.size === s.voters.length) s.beginQuorumResendAt = undefined;
}

/** Handles a fetch from a follower or observer; only the leader of the fetcher's epoch serves it. */
export function onFetchRequest<T>(s: RaftState<T>, from: number, request: FetchRequest): void {
  if (request.replicaId !== from) return;
  const reject = (error: RaftErrorName): void => {
    send(s, from, { type: 'fetch.response', correlationId: request.correlationId, epoch: s.durable.epoch, leaderId: knownLeader(s), error, records: [], highWatermark: undefined });
  };
  if (s.role !== 'leader') {
    reject('NOT_LEADER_OR_FOLLOWER');
    return;
  }
  if (request.epoch < s.durable.epoch) {
    reject('FENCED_LEADER_EPOCH');
    return;
  }
  if (request.epoch > s.durable.epoch) {
    reject('UNKNOWN_LEADER_EPOCH');
    return;
  }
  const voter = s.voters.includes(from);
  if (voter) {
    acknowledge(s, from);
    // Kafka's check quorum: the timer restarts whenever a majority (with us) has fetched since.
    s.fetchedSinceCheck.add(from);
    if (s.fetchedSinceCheck.size + 1 >= s.majority) {
      s.fetchedSinceCheck.clear();
      s.checkQuorumDeadline = s.now + checkQuorumTimeout(s);
    }
  }
  const validity = validateFetch(s.durable, request.fetchOffset, request.lastFetchedEpoch);
  const leo = logEndOffset(s.durable);
  if (validity.kind === 'valid' && voter) {
    const end = request.fetchOffset > leo ? leo : request.fetchOffset;
    s.replicaEndOffsets.set(from, end);
    maybeAdvanceLeaderHw(s);
  }
  if (validity.kind === 'valid' && request.fetchOffset >= leo && request.maxWaitMs > 0 && !(s.hw > request.highWatermark)) {
    // Nothing new: hold the fetch (long poll) until an append, a high watermark move or maxWait.
    s.parked.set(from, { from, request, deadline: s.now + Math.min(request.maxWaitMs, s.config.requestTimeoutMs) });
    return;
  }
  s.parked.delete(from);
  answerFetch(s, from, request, validity);
}

/** Answers a fetch with what the leader's log says about the fetcher's position. */
function answerFetch<T>(s: RaftState<T>, from: number, request: FetchRequest, validity: FetchValidity = validateFetch(s.durable, request.fetchOffset, request.lastFetchedEpoch)): void {
  const base = { type: 'fetch.response' as const, correlationId: request.correlationId, epoch: s.durable.epoch, leaderId: s.id, highWatermark: s.hw };
  if (validity.kind === 'snapshot') {
    send(s, from, { ...base, records: [], snapshotId: validity.snapshotId });
  } else if (validity.kind === 'diverging') {
    send(s, from, { ...base, records: [], divergingEpoch: { epoch: validity.epoch, endOffset: validity.endOffset } });
  } else {
    const start = Number(request.fetchOffset - logStartOffset(s.durable));
    const records = s.durable.entries.slice(start, start + s.fetchMaxRecords);
    send(s, from, { ...base, records });
  }
}

/** Raft's commit rule with Kafka's twist: a majority holds it AND it covers the epoch's LeaderChange entry. */
export function maybeAdvanceLeaderHw<T>(s: RaftState<T>): void {
  const ends = s.voters.map((v) => s.replicaEndOffsets.get(v) ?? -1n).sort((a, b) => (a > b ? -1 : a < b ? 1 : 0));
  const candidate = ends[s.majority - 1] as bigint;
  // Never commit an older epoch's entry by counting replicas (Raft Figure 8): only once the
  // majority holds an entry of our own epoch, which carries everything before it.
  if (candidate > s.epochStartOffset && candidate > s.hw) {
    advanceHw(s, candidate);
    completeParked(s);
  }
}

/** There is news (an append, a high watermark move): answers every held fetch. */
function completeParked<T>(s: RaftState<T>): void {
  if (s.parked.size === 0) return;
  const parked = [...s.parked.values()];
  s.parked.clear();
  for (const p of parked) answerFetch(s, p.from, p.request);
}

/** Leaving leadership: tells held fetchers at once instead of letting them time out. */
export function releaseParked<T>(s: RaftState<T>): void {
  const parked = [...s.parked.values()];
  s.parked.clear();
  for (const p of parked) {
    send(s, p.from, { type: 'fetch.response', correlationId: p.request.correlationId, epoch: s.durable.epoch, leaderId: undefined, error: 'NOT_LEADER_OR_FOLLOWER', records: [], highWatermark: undefined });
  }
}

/** Answers the held fetches whose wait is over at `now`. */
export function expireParked<T>(s: RaftState<T>, now: number): void {
  for (const p of [...s.parked.values()]) {
    if (now >= p.deadline) {
      s.parked.delete(p.from);
      answerFetch(s, p.from, p.request);
    }
  }
}
