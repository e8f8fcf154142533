/**
 * The fetcher's side of replication (a follower, or an observer such as a broker): one
 * `fetch.request` at a time to the leader (an observer without a leader asks a random voter),
 * appending what comes back, truncating where the leader says the log diverges (KIP-101/279), and
 * following the leader's high watermark. A request lost on the way is sent again after
 * `controller.quorum.request.timeout.ms`; only the answer to the one outstanding request counts.
 */
import { lastEpoch, logEndOffset, RaftInvariantError, truncateToEndOffset } from './log.ts';
import type { FetchResponse } from './messages.ts';
import { observeEpoch } from './election.ts';
import { advanceHw, send } from './state.ts';
import type { InFlight, RaftState } from './state.ts';

/** Whether this node fetches: a follower, or an observer still looking for the leader. */
export function isFetcher<T>(s: RaftState<T>): boolean {
  return s.role === 'follower' || (s.observer && s.role === 'unattached');
}

/** Sends the next fetch (or snapshot fetch) when the fetcher is idle and its back-off has passed. */
export function pump<T>(s: RaftState<T>): void {
  if (!isFetcher(s) || s.inFlight !== undefined || s.nextFetchAt === undefined || s.now < s.nextFetchAt) return;
  const to = s.role === 'follower' ? (s.durable.leaderId as number) : s.random.pick(s.voters);
  const correlationId = s.nextCorrelationId++;
  const deadline = s.now + s.config.requestTimeoutMs;
  s.nextFetchAt = undefined;
  if (s.pendingSnapshot !== undefined && s.role === 'follower') {
    s.inFlight = { kind: 'fetchSnapshot', correlationId, to, deadline, fetchOffset: logEndOffset(s.durable) };
    send(s, to, { type: 'fetchSnapshot.request', correlationId, epoch: s.durable.epoch, replicaId: s.id, snapshotId: s.pendingSnapshot });
    return;
  }
  s.inFlight = { kind: 'fetch', correlationId, to, deadline, fetchOffset: logEndOffset(s.durable) };
  send(s, to, {
    type: 'fetch.request',
    correlationId,
    epoch: s.durable.epoch,
    replicaId: s.id,
    fetchOffset: logEndOffset(s.durable),
    lastFetchedEpoch: lastEpoch(s.durable),
    highWatermark: s.hw,
    maxWaitMs: s.fetchMaxWaitMs,
  });
}

/** True (and the request retired) when an answer of `kind` from `from` answers the fetch we wait for. */
export function takeInFlight<T>(s: RaftState<T>, from: number, kind: InFlight['kind'], correlationId: number): boolean {
  const f = s.inFlight;
  if (f === undefined || f.kind !== kind || f.correlationId !== correlationId || f.to !== from || f.fetchOffset !== logEndOffset(s.durable)) return false;
  s.inFlight = undefined;
  return true;
}

/** A request whose answer has not come by its deadline is forgotten, and asked again at once. */
export function expireInFlight<T>(s: RaftState<T>, now: number): void {
  if (s.inFlight !== undefined && now >= s.inFlight.deadline) {
    // Lost request or response: ask again (an observer without a leader asks another voter).
    s.inFlight = undefined;
    s.nextFetchAt = now;
  }
}

/** Applies the leader's answer: new entries, a truncation, a snapshot to fetch, its high watermark. */
export function onFetchResponse<T>(s: RaftState<T>, from: number, response: FetchResponse<T>): void {
  observeEpoch(s, response.epoch, response.leaderId);
  // Duplicates and answers to older requests are dropped: only the one outstanding fetch counts.
  if (!takeInFlight(s, from, 'fetch', response.correlationId)) return;
  const following = s.role === 'follower' && response.epoch === s.durable.epoch && from === s.durable.leaderId;
  if (response.error !== undefined || !following) {
    s.nextFetchAt = s.now + s.config.retryBackoffMs;
    return;
  }
  s.fetchTimeoutDeadline = s.now + s.config.fetchTimeoutMs;
  s.nextFetchAt = s.now;
  if (response.divergingEpoch !== undefined) {
    truncateToEndOffset(s.durable, response.divergingEpoch.epoch, response.divergingEpoch.endOffset, s.hw, s.id);
    return;
  }
  if (response.snapshotId !== undefined) {
    s.pendingSnapshot = response.snapshotId;
    return;
  }
  for (const record of response.records) {
    if (record.offset !== logEndOffset(s.durable)) throw new RaftInvariantError(`fetch response from leader ${from} holds offset ${record.offset} where ${logEndOffset(s.durable)} was expected`);
    if (record.epoch > s.durable.epoch || record.epoch < lastEpoch(s.durable)) throw new RaftInvariantError(`fetch response from leader ${from} holds epoch ${record.epoch} at offset ${record.offset} after epoch ${lastEpoch(s.durable)}`);
    s.durable.entries.push(record);
  }
  if (response.highWatermark !== undefined) {
    const leo = logEndOffset(s.durable);
    advanceHw(s, response.highWatermark < leo ? response.highWatermark : leo);
  }
}
