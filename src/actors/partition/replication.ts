/**
 * The replication arithmetic of a partition, as pure functions (Kafka's `Partition.scala`,
 * `Replica.scala`, `AbstractFetcherThread.scala`): follower fetch state on the leader, the high
 * watermark, ISR shrink and expand decisions, and leader-epoch divergence and truncation
 * (KIP-101, KIP-279, KAFKA-10554). The partition actor only calls these.
 */
import { UNDEFINED_EPOCH } from '../../log/leaderEpochCache.ts';
import type { EpochEndOffset } from '../../log/leaderEpochCache.ts';

/** `replica.lag.time.max.ms` (Kafka default 30000). */
export const REPLICA_LAG_TIME_MAX_MS = 30_000;
/** `replica.fetch.wait.max.ms` (Kafka default 500). */
export const REPLICA_FETCH_WAIT_MAX_MS = 500;
/** `replica.fetch.min.bytes` (Kafka default 1). */
export const REPLICA_FETCH_MIN_BYTES = 1;
/** `replica.fetch.max.bytes`, per partition (Kafka default 1 MiB). */
export const REPLICA_FETCH_MAX_BYTES = 1_048_576;
/** `replica.fetch.response.max.bytes` (Kafka default 10 MiB). */
export const REPLICA_FETCH_RESPONSE_MAX_BYTES = 10_485_760;
/** `replica.fetch.backoff.ms` (Kafka default 1000). */
export const REPLICA_FETCH_BACKOFF_MS = 1_000;
/** `replica.socket.timeout.ms` (Kafka default 30000). */
export const REPLICA_SOCKET_TIMEOUT_MS = 30_000;

/** What the leader knows about one follower replica (Kafka's `ReplicaState`). */
export interface FollowerState {
  /** The follower's log end offset as its last fetch offset told; -1n when unknown. */
  readonly logEndOffset: bigint;
  /** Last time the follower was known to have the leader's whole log (`lastCaughtUpTimeMs`). */
  readonly lastCaughtUpTimeMs: number;
  /** The leader's log end offset when the follower last fetched; -1n when unknown. */
  readonly lastFetchLeaderLogEndOffset: bigint;
  /** Time of the follower's last fetch, 0 when it has not fetched yet. */
  readonly lastFetchTimeMs: number;
}

/** A diverging epoch, as the leader answers it in a fetch response (KIP-279 / KAFKA-10554). */
export interface DivergingEpoch {
  readonly epoch: number;
  readonly endOffset: bigint;
}

/**
 * Follower state when a replica becomes leader (Kafka's `resetReplicaState` for a new leader):
 * nothing is known of the follower's log, ISR members count as caught up now (so they are not
 * dropped before they could fetch), the others as never caught up (so they do not hold the high
 * watermark back).
 */
export function initialFollowerState(inIsr: boolean, now: number): FollowerState {
  return { logEndOffset: -1n, lastCaughtUpTimeMs: inIsr ? now : 0, lastFetchLeaderLogEndOffset: -1n, lastFetchTimeMs: 0 };
}

/**
 * The follower state after a fetch at `fetchOffset` (the follower's log end offset) when the
 * leader's log end offset is `leaderLogEndOffset` (Kafka's `updateFetchStateOrThrow`):
 * - fetching from the leader's end: caught up now;
 * - fetching from (at least) where the leader's log ended at the previous fetch: caught up as of
 *   that previous fetch, so a follower that keeps pace under steady produce load (never exactly
 *   at the moving end) is never considered lagging;
 * - otherwise the previous caught-up time stays.
 */
export function onFollowerFetch(previous: FollowerState | undefined, fetchOffset: bigint, leaderLogEndOffset: bigint, now: number): FollowerState {
  const prev = previous ?? initialFollowerState(false, 0);
  let lastCaughtUpTimeMs = prev.lastCaughtUpTimeMs;
  if (fetchOffset >= leaderLogEndOffset) lastCaughtUpTimeMs = Math.max(lastCaughtUpTimeMs, now);
  else if (fetchOffset >= prev.lastFetchLeaderLogEndOffset) lastCaughtUpTimeMs = Math.max(lastCaughtUpTimeMs, prev.lastFetchTimeMs);
  return { logEndOffset: fetchOffset, lastCaughtUpTimeMs, lastFetchLeaderLogEndOffset: leaderLogEndOffset, lastFetchTimeMs: now };
}

/**
 * Kafka's `isCaughtUp`: the follower has the leader's whole log, or it reached the leader's end
 * within the last `lagTimeMaxMs`.
 */
export function isCaughtUp(state: FollowerState | undefined, leaderLogEndOffset: bigint, now: number, lagTimeMaxMs: number): boolean {
  if (state === undefined) return false;
  return state.logEndOffset === leaderLogEndOffset || now - state.lastCaughtUpTimeMs <= lagTimeMaxMs;
}

/**
 * The ISR without the followers that are out of sync (not caught up within `lagTimeMaxMs`). The
 * leader always stays. Returns `isr` itself when nobody is dropped.
 */
export function shrinkIsr(isr: readonly number[], leaderId: number, followers: ReadonlyMap<number, FollowerState>, leaderLogEndOffset: bigint, now: number, lagTimeMaxMs: number): readonly number[] {
  const kept = isr.filter((id) => id === leaderId || isCaughtUp(followers.get(id), leaderLogEndOffset, now, lagTimeMaxMs));
  return kept.length === isr.length ? isr : kept;
}

/**
 * Whether a follower outside the ISR may join it: its log end offset reached the high watermark
 * and the start offset of the leader's current epoch (Kafka's `isFollowerInSync`).
 */
export function canJoinIsr(state: FollowerState | undefined, highWatermark: bigint, leaderEpochStartOffset: bigint): boolean {
  if (state === undefined || state.logEndOffset < 0n) return false;
  return state.logEndOffset >= highWatermark && state.logEndOffset >= leaderEpochStartOffset;
}

/** What {@link highWatermarkOf} needs. */
export interface HighWatermarkInput {
  /** The current high watermark; the result is never lower. */
  readonly current: bigint;
  readonly leaderId: number;
  readonly leaderLogEndOffset: bigint;
  /** The committed ISR: while it is smaller than `min.insync.replicas` the HW stays put. */
  readonly isr: readonly number[];
  /** The maximal ISR (KIP-497): the committed ISR plus replicas an in-flight change adds. Default: `isr`. */
  readonly maximalIsr?: readonly number[];
  /** What the leader knows of each follower (ISR or not). */
  readonly followers: ReadonlyMap<number, FollowerState>;
  /** `min.insync.replicas`. */
  readonly minInsyncReplicas: number;
  /**
   * With `lagTimeMaxMs`: a follower outside the ISR that is caught up (see {@link isCaughtUp})
   * and eligible also holds the HW back, as it is about to join (Kafka's `shouldWaitForReplicaToJoinIsr`).
   */
  readonly now?: number;
  /** `replica.lag.time.max.ms`; without it only the maximal ISR counts. */
  readonly lagTimeMaxMs?: number;
  /** Whether a follower may join the ISR (unfenced); default: every follower. */
  readonly isEligible?: (brokerId: number) => boolean;
}

/**
 * The leader's high watermark (Kafka's `maybeIncrementLeaderHW`): the minimum log end offset over
 * the maximal ISR (KIP-497) and the caught-up eligible followers about to join it. It never goes
 * down, and it does not move while the committed ISR is smaller than `min.insync.replicas`
 * (KAFKA-15583, Kafka ≥ 3.7). A member whose log end is unknown holds it where it is.
 */
export function highWatermarkOf(input: HighWatermarkInput): bigint {
  if (input.isr.length < input.minInsyncReplicas) return input.current;
  const maximal = input.maximalIsr ?? input.isr;
  let min = input.leaderLogEndOffset;
  for (const id of maximal) {
    if (id === input.leaderId) continue;
    const leo = input.followers.get(id)?.logEndOffset ?? -1n;
    if (leo < min) min = leo;
  }
  if (input.lagTimeMaxMs !== undefined && input.now !== undefined) {
    for (const [id, state] of input.followers) {
      if (id === input.leaderId || maximal.includes(id) || state.logEndOffset >= min) continue;
      if (isCaughtUp(state, input.leaderLogEndOffset, input.now, input.lagTimeMaxMs) && (input.isEligible?.(id) ?? true)) min = state.logEndOffset;
    }
  }
  return min > input.current ? min : input.current;
}

/**
 * A follower's high watermark from the leader's (Kafka's `updateHighWatermark`): the leader's,
 * bounded by the follower's own log (never past its end, never below its start). Unlike the
 * leader's it may go down, e.g. when a new leader has not yet advanced its own.
 */
export function followerHighWatermark(leaderHighWatermark: bigint, logStartOffset: bigint, logEndOffset: bigint): bigint {
  if (leaderHighWatermark < logStartOffset) return logStartOffset;
  return leaderHighWatermark > logEndOffset ? logEndOffset : leaderHighWatermark;
}

/**
 * The leader's divergence check of a follower fetch (Kafka's
 * `validateFetchOffsetAndMaybeGetDivergingEpoch`). `leaderAnswer` is the leader's
 * `endOffsetForEpoch(lastFetchedEpoch)`. The fetch diverges when the leader does not have the
 * follower's last epoch, or that epoch ends on the leader before the fetch offset; the answer is
 * then the leader's epoch and end offset (an unknown epoch answers with the leader's log end).
 * Undefined when the fetch is consistent, or carries no last fetched epoch.
 */
export function divergingEpochOf(lastFetchedEpoch: number, fetchOffset: bigint, leaderAnswer: EpochEndOffset, leaderLogEndOffset: bigint): DivergingEpoch | undefined {
  if (lastFetchedEpoch < 0) return undefined;
  if (leaderAnswer.epoch === UNDEFINED_EPOCH || leaderAnswer.endOffset < 0n) return { epoch: UNDEFINED_EPOCH, endOffset: leaderLogEndOffset };
  if (leaderAnswer.epoch < lastFetchedEpoch || leaderAnswer.endOffset < fetchOffset) return { epoch: leaderAnswer.epoch, endOffset: leaderAnswer.endOffset };
  return undefined;
}

/** Where a follower truncates to, and whether the truncation is final (else it asks again). */
export interface TruncationDecision {
  readonly offset: bigint;
  readonly complete: boolean;
}

/**
 * The follower's truncation for a diverging epoch (Kafka's `getOffsetTruncationState`).
 * `followerAnswer` is the follower's own `endOffsetForEpoch(diverging.epoch)`:
 * - the leader knows no epoch → min(leader's end offset, follower's log end);
 * - the follower knows the same epoch → min(its end offset for it, the leader's), final;
 * - the follower only knows a smaller epoch → the end of that epoch, and it asks again;
 * - the follower knows nothing → min(leader's end offset, follower's log end).
 * The high watermark is never used (the pre-KIP-101 data-loss bug).
 */
export function truncationOffsetOf(diverging: DivergingEpoch, followerAnswer: EpochEndOffset, followerLogEndOffset: bigint): TruncationDecision {
  const min = (a: bigint, b: bigint): bigint => (a < b ? a : b);
  if (diverging.epoch === UNDEFINED_EPOCH) return { offset: min(diverging.endOffset, followerLogEndOffset), complete: true };
  if (followerAnswer.epoch === UNDEFINED_EPOCH || followerAnswer.endOffset < 0n) return { offset: min(diverging.endOffset, followerLogEndOffset), complete: true };
  if (followerAnswer.epoch !== diverging.epoch) return { offset: min(followerAnswer.endOffset, followerLogEndOffset), complete: false };
  return { offset: min(min(followerAnswer.endOffset, diverging.endOffset), followerLogEndOffset), complete: true };
}

/**
 * The batches of `records` (whole batches back to back) that end at or after `fromOffset`: a
 * follower skips what it already has when a fetch returns the batch containing its log end.
 */
export function batchesFrom(records: Uint8Array, fromOffset: bigint): Uint8Array {
  const view = new DataView(records.buffer, records.byteOffset, records.byteLength);
  let p = 0;
  while (p + 27 <= records.length) {
    const base = view.getBigInt64(p);
    const last = base + BigInt(view.getInt32(p + 23));
    if (last >= fromOffset) break;
    p += view.getInt32(p + 8) + 12;
  }
  return p === 0 ? records : records.subarray(p);
}

/** {@link batchesFrom} over runs of whole batches (a fetch answer): the runs from the first batch that ends at or after `fromOffset`. */
export function runsFrom(runs: readonly Uint8Array[], fromOffset: bigint): readonly Uint8Array[] {
  for (let i = 0; i < runs.length; i++) {
    const rest = batchesFrom(runs[i] as Uint8Array, fromOffset);
    if (rest.length === 0) continue;
    return i === 0 && rest === runs[0] ? runs : [rest, ...runs.slice(i + 1)];
  }
  return [];
}

/** The maximal ISR (KIP-497): the committed ISR plus any replica an in-flight change adds. */
export function maximalIsr(isr: readonly number[], pending: readonly number[] | undefined): readonly number[] {
  if (pending === undefined) return isr;
  const extra = pending.filter((id) => !isr.includes(id));
  return extra.length === 0 ? isr : [...isr, ...extra];
}
