/**
 * The replicated log itself: its entries, the durable state a node keeps across a crash, and the
 * pure questions asked of it (offsets, the epoch of an offset, where an epoch ends, whether a
 * fetcher's position is a prefix of it). Every function reads or cuts a {@link RaftDurableState}
 * and nothing else: no roles, no timers, no messages.
 */
import { InvalidArgumentError, SamsaError } from '../../../errors.ts';

// The entries and snapshots are wire shapes too (they travel in Fetch and FetchSnapshot): one
// definition, in the protocol.
import type { RaftEntry, RaftSnapshot, RaftSnapshotId } from '../../../protocol/raft/index.ts';
export type { RaftDataEntry, RaftEntry, RaftLeaderChangeEntry, RaftSnapshot, RaftSnapshotId } from '../../../protocol/raft/index.ts';

/**
 * What survives a crash, as Kafka's `quorum-state` file plus the log and its latest snapshot. The
 * node writes it in place before any message that depends on it leaves (a write here counts as
 * fsynced). The owner keeps this object across a crash and passes it to a new {@link RaftNode}.
 */
export interface RaftDurableState<T> {
  /** The latest epoch this node has seen. */
  epoch: number;
  /** The candidate this node voted for in `epoch`, if any. */
  votedFor: number | undefined;
  /** The leader of `epoch` this node knows of, if any. */
  leaderId: number | undefined;
  /** The log after the snapshot: contiguous offsets starting at the snapshot's end (or 0). */
  entries: RaftEntry<T>[];
  /** The latest snapshot; the log starts at its end offset. */
  snapshot: RaftSnapshot | undefined;
  /**
   * Writes the fields above through to disk (a file-backed state; the in-memory one has none).
   * The node calls it at the end of every call, before the output that depends on it is returned.
   */
  persist?(): void;
}

/** A fresh durable state: epoch 0, no vote, an empty log. */
export function createRaftDurableState<T>(): RaftDurableState<T> {
  return { epoch: 0, votedFor: undefined, leaderId: undefined, entries: [], snapshot: undefined };
}

/** A broken internal invariant: a bug in the Raft core or a corrupted durable state. */
export class RaftInvariantError extends SamsaError {
  constructor(message: string) {
    super(message, 'RAFT_INVARIANT_VIOLATED', false);
  }
}

/** First offset still in the log (the snapshot's end, or 0). */
export function logStartOffset<T>(durable: RaftDurableState<T>): bigint {
  return durable.snapshot?.endOffset ?? 0n;
}

/** Offset the next entry will get. */
export function logEndOffset<T>(durable: RaftDurableState<T>): bigint {
  return logStartOffset(durable) + BigInt(durable.entries.length);
}

/** Epoch of the last entry (or of the snapshot, or 0 for an empty log). */
export function lastEpoch<T>(durable: RaftDurableState<T>): number {
  const last = durable.entries[durable.entries.length - 1];
  return last?.epoch ?? durable.snapshot?.epoch ?? 0;
}

/** The entry at `offset`, undefined when it is outside [logStartOffset, logEndOffset). */
export function entryAt<T>(durable: RaftDurableState<T>, offset: bigint): RaftEntry<T> | undefined {
  if (offset < logStartOffset(durable) || offset >= logEndOffset(durable)) return undefined;
  return durable.entries[Number(offset - logStartOffset(durable))];
}

/**
 * OffsetsForLeaderEpoch over this log: the largest epoch ≤ `epoch` and the offset where it
 * ends; (last epoch, log end) when `epoch` is at or above the last one; (0, log start) when no
 * entry is that old.
 */
export function endOffsetForEpoch<T>(durable: RaftDurableState<T>, epoch: number): { epoch: number; endOffset: bigint } {
  if (epoch >= lastEpoch(durable)) return { epoch: lastEpoch(durable), endOffset: logEndOffset(durable) };
  const entries = durable.entries;
  for (let i = entries.length - 1; i >= 0; i--) {
    const e = entries[i] as RaftEntry<T>;
    if (e.epoch <= epoch) return { epoch: e.epoch, endOffset: e.offset + 1n };
  }
  const snap = durable.snapshot;
  if (snap !== undefined && snap.epoch <= epoch) return { epoch: snap.epoch, endOffset: snap.endOffset };
  return { epoch: 0, endOffset: logStartOffset(durable) };
}

/** How a fetch position compares with this log: a prefix, below the snapshot, or diverging. */
export type FetchValidity = { readonly kind: 'valid' } | { readonly kind: 'snapshot'; readonly snapshotId: RaftSnapshotId } | { readonly kind: 'diverging'; readonly epoch: number; readonly endOffset: bigint };

/** Kafka's `validateOffsetAndEpoch`: is (fetchOffset, lastFetchedEpoch) a prefix of this log? */
export function validateFetch<T>(durable: RaftDurableState<T>, fetchOffset: bigint, lastFetchedEpoch: number): FetchValidity {
  if (typeof fetchOffset !== 'bigint' || fetchOffset < 0n) throw new InvalidArgumentError('fetchOffset', `expected a bigint ≥ 0, got ${String(fetchOffset)}`);
  const start = logStartOffset(durable);
  if (start === 0n && fetchOffset === 0n) return { kind: 'valid' };
  const snap = durable.snapshot;
  if (snap !== undefined && (fetchOffset < start || (fetchOffset === start && lastFetchedEpoch !== snap.epoch) || lastFetchedEpoch < snap.epoch)) {
    return { kind: 'snapshot', snapshotId: { endOffset: snap.endOffset, epoch: snap.epoch } };
  }
  const end = endOffsetForEpoch(durable, lastFetchedEpoch);
  if (end.epoch !== lastFetchedEpoch || end.endOffset < fetchOffset) return { kind: 'diverging', epoch: end.epoch, endOffset: end.endOffset };
  return { kind: 'valid' };
}

/**
 * Kafka's `truncateToEndOffset` (KIP-279): cuts this log where it stops matching a leader whose
 * log has `epoch` ending at `endOffset`. Never below `highWatermark`: committed entries stay.
 * @throws RaftInvariantError when the cut would remove a committed entry.
 */
export function truncateToEndOffset<T>(durable: RaftDurableState<T>, epoch: number, endOffset: bigint, highWatermark: bigint, nodeId: number): void {
  const end = logEndOffset(durable);
  let offset: bigint;
  if (epoch === 0) {
    offset = endOffset < end ? endOffset : end;
  } else {
    const local = endOffsetForEpoch(durable, epoch);
    offset = local.epoch === epoch ? (local.endOffset < endOffset ? local.endOffset : endOffset) : local.endOffset;
  }
  if (offset < highWatermark) throw new RaftInvariantError(`leader asked node ${nodeId} to truncate to ${offset}, below its high watermark ${highWatermark}`);
  if (offset < end) durable.entries.length = Number(offset - logStartOffset(durable));
}

/** Checks a durable state handed in by the owner: contiguous offsets, non-decreasing epochs ≤ the current one. */
export function checkDurable<T>(durable: RaftDurableState<T>): void {
  if (typeof durable !== 'object' || durable === null || !Array.isArray(durable.entries)) throw new InvalidArgumentError('durable', 'expected a RaftDurableState (createRaftDurableState() for a new node)');
  if (!Number.isSafeInteger(durable.epoch) || durable.epoch < 0) throw new InvalidArgumentError('durable', `epoch must be an integer ≥ 0, got ${String(durable.epoch)}`);
  let expected = durable.snapshot?.endOffset ?? 0n;
  let epoch = durable.snapshot?.epoch ?? 0;
  if (typeof expected !== 'bigint' || expected < 0n) throw new InvalidArgumentError('durable', 'snapshot.endOffset must be a bigint ≥ 0');
  for (const e of durable.entries) {
    if (e.offset !== expected) throw new InvalidArgumentError('durable', `log entries must be contiguous from ${durable.snapshot?.endOffset ?? 0n}; found offset ${String(e.offset)} where ${expected} was expected`);
    if (!Number.isSafeInteger(e.epoch) || e.epoch < epoch || e.epoch > durable.epoch) throw new InvalidArgumentError('durable', `entry epochs must be non-decreasing and ≤ the current epoch ${durable.epoch}; offset ${expected} has epoch ${String(e.epoch)}`);
    epoch = e.epoch;
    expected++;
  }
}
