/**
 * Snapshots of the owner's state machine (KIP-630): taking one over committed entries, which
 * drops them from the log; the leader serving its latest snapshot to a fetcher whose position is
 * below its log start; and a fetcher replacing its whole log with the snapshot it fetched, which
 * the owner must load before it applies anything later.
 */
import { InvalidArgumentError } from '../../../errors.ts';
import { entryAt, logStartOffset, RaftInvariantError } from './log.ts';
import type { RaftEntry, RaftSnapshot, RaftSnapshotId } from './log.ts';
import type { FetchSnapshotRequest, FetchSnapshotResponse } from './messages.ts';
import { observeEpoch } from './election.ts';
import { takeInFlight } from './fetcher.ts';
import { knownLeader, send } from './state.ts';
import type { RaftState } from './state.ts';

/**
 * Records `state` (the owner's state after applying every entry below `endOffset`) as the latest
 * snapshot and drops the entries below `endOffset`. Undefined when `endOffset` is not past the
 * current log start.
 * @throws InvalidArgumentError when `endOffset` is not a bigint ≤ the high watermark.
 */
export function takeSnapshot<T>(s: RaftState<T>, state: unknown, endOffset: bigint): RaftSnapshotId | undefined {
  if (typeof endOffset !== 'bigint') throw new InvalidArgumentError('endOffset', `expected a bigint offset, got ${typeof endOffset}`);
  if (endOffset > s.hw) throw new InvalidArgumentError('endOffset', `offset ${endOffset} is above the high watermark ${s.hw}; snapshot only committed, applied state`);
  if (endOffset <= logStartOffset(s.durable)) return undefined;
  const last = entryAt(s.durable, endOffset - 1n) as RaftEntry<T>;
  const snap: RaftSnapshot = Object.freeze({ endOffset, epoch: last.epoch, state });
  s.durable.entries.splice(0, Number(endOffset - logStartOffset(s.durable)));
  s.durable.snapshot = snap;
  s.durable.persist?.();
  return { endOffset, epoch: snap.epoch };
}

/** The leader sends its latest snapshot (at least as new as the one asked for: snapshots only move forward). */
export function onFetchSnapshotRequest<T>(s: RaftState<T>, from: number, request: FetchSnapshotRequest): void {
  const base = { type: 'fetchSnapshot.response' as const, correlationId: request.correlationId, epoch: s.durable.epoch, leaderId: knownLeader(s) };
  if (s.role !== 'leader') send(s, from, { ...base, error: 'NOT_LEADER_OR_FOLLOWER' });
  else if (request.epoch !== s.durable.epoch) send(s, from, { ...base, error: request.epoch < s.durable.epoch ? 'FENCED_LEADER_EPOCH' : 'UNKNOWN_LEADER_EPOCH' });
  else if (s.durable.snapshot === undefined) send(s, from, { ...base, error: 'SNAPSHOT_NOT_FOUND' });
  else send(s, from, { ...base, snapshot: s.durable.snapshot });
}

/** A fetcher installs the snapshot it asked for: it replaces the whole log and moves the high watermark to its end. */
export function onFetchSnapshotResponse<T>(s: RaftState<T>, from: number, response: FetchSnapshotResponse): void {
  observeEpoch(s, response.epoch, response.leaderId);
  if (!takeInFlight(s, from, 'fetchSnapshot', response.correlationId)) return;
  const following = s.role === 'follower' && response.epoch === s.durable.epoch && from === s.durable.leaderId;
  if (response.error !== undefined || response.snapshot === undefined || !following) {
    // Ask again from the top: the fetch tells us whether a snapshot is still needed.
    s.pendingSnapshot = undefined;
    s.nextFetchAt = s.now + s.config.retryBackoffMs;
    return;
  }
  s.fetchTimeoutDeadline = s.now + s.config.fetchTimeoutMs;
  s.pendingSnapshot = undefined;
  s.nextFetchAt = s.now;
  const snap = response.snapshot;
  // A leader sends a snapshot only past our committed data: our committed entries are in its log
  // with the same epochs, so it would have accepted our fetch instead.
  if (snap.endOffset <= s.hw) throw new RaftInvariantError(`leader ${from} sent snapshot ending at ${snap.endOffset} to node ${s.id}, whose high watermark is already ${s.hw}`);
  // The snapshot is committed state past our log end: it replaces the whole log (Kafka's
  // truncateToLatestSnapshot), and the owner must load it before applying anything later.
  s.durable.entries = [];
  s.durable.snapshot = Object.freeze({ endOffset: snap.endOffset, epoch: snap.epoch, state: snap.state });
  if (snap.endOffset > s.hw) s.hw = snap.endOffset;
  s.out.committed = s.out.committed.filter((e) => e.offset >= snap.endOffset);
  s.out.loadSnapshot = s.durable.snapshot;
}
