/**
 * One replica of one partition on one broker (Kafka's `Partition`). It owns its
 * {@link PartitionLog}; results go back to the hosting broker as emitted events, one per request
 * (never one per record).
 *
 * As **leader** it appends produce batches, serves follower fetches up to its log end and consumer
 * fetches below the high watermark, tracks each follower's log end from its fetch offsets,
 * advances the high watermark over the (maximal) ISR, holds acks=all produce answers until the
 * high watermark passes them, and proposes ISR shrinks and expansions to the controller
 * (AlterPartition, KIP-497). As **follower** it refuses client traffic with
 * NOT_LEADER_OR_FOLLOWER and applies what its broker's replica fetcher brings: batches appended
 * verbatim, the leader's high watermark, and truncation by leader epoch when the leader reports a
 * diverging epoch (KIP-101, KIP-279). The replication arithmetic is in `replication.ts`.
 */
import { emit, enqueueActions, setup } from 'xstate';
import type { Clock } from '../../clock.ts';
import { KafkaProtocolError, KeyVersionConflictError, OffsetOutOfRangeError, SamsaError, StorageError } from '../../errors.ts';
import type { AbortedTransaction, LogAppendInfo, PartitionLog } from '../../log/partitionLog.ts';
import { wireError } from '../../protocol/index.ts';
import type { WireError } from '../../protocol/index.ts';
import type { ReadKeyRecord } from '../../protocol/index.ts';
import { readKeyRecords } from './keyReads.ts';
import {
  runsFrom,
  canJoinIsr,
  divergingEpochOf,
  followerHighWatermark,
  highWatermarkOf,
  initialFollowerState,
  maximalIsr,
  onFollowerFetch,
  REPLICA_LAG_TIME_MAX_MS,
  shrinkIsr,
  truncationOffsetOf,
} from './replication.ts';
import type { DivergingEpoch, FollowerState } from './replication.ts';

/** Input of a partition actor. It starts as a follower without a leader; the broker then sends `become.leader` or `become.follower`. */
export interface PartitionInput {
  readonly topic: string;
  readonly partition: number;
  readonly log: PartitionLog;
  /** The broker hosting this replica. */
  readonly brokerId: number;
  /** Time source for follower fetch times and ISR decisions. */
  readonly clock: Pick<Clock, 'now'>;
  /** `replica.lag.time.max.ms` (default 30000). */
  readonly replicaLagTimeMaxMs?: number;
}

/** A produce (acks=all) whose answer waits for the high watermark (Kafka's `DelayedProduce`). */
interface DelayedProduce {
  readonly requestId: number;
  /** The high watermark that commits the append: its last offset + 1. */
  readonly requiredOffset: bigint;
  readonly baseOffset: bigint;
  readonly lastOffset: bigint;
  readonly logAppendTime: number;
}

interface PartitionContext {
  readonly topic: string;
  readonly partition: number;
  readonly log: PartitionLog;
  readonly brokerId: number;
  readonly clock: Pick<Clock, 'now'>;
  readonly lagTimeMaxMs: number;
  readonly leaderEpoch: number;
  readonly partitionEpoch: number;
  /** The leader's broker id (this broker when leading), -1 when the partition has none. */
  readonly leader: number;
  readonly replicas: readonly number[];
  /** The committed ISR, as the controller last confirmed it. */
  readonly isr: readonly number[];
  /** The ISR of an AlterPartition in flight; while set, no other change is proposed (KIP-497). */
  readonly pendingIsr: readonly number[] | undefined;
  /** Replicas whose brokers are fenced: they may not join the ISR. */
  readonly ineligible: readonly number[];
  /** Leader only: what each follower's fetches told. */
  readonly followers: ReadonlyMap<number, FollowerState>;
  /** Leader only: the log end offset when this leader epoch began. */
  readonly leaderEpochStartOffset: bigint;
  /** Leader: the committed offset; follower: the leader's, bounded by this log. */
  readonly highWatermark: bigint;
  /** Leader only: acks=all produces waiting for the high watermark. */
  readonly waiting: readonly DelayedProduce[];
}

/** A partition's state in the metadata, as the broker forwards it. */
export interface PartitionState {
  readonly leaderEpoch: number;
  readonly partitionEpoch: number;
  readonly replicas: readonly number[];
  readonly isr: readonly number[];
  /** Replicas on fenced brokers (not eligible for the ISR). */
  readonly ineligible: readonly number[];
}

/** Requests and notices the broker forwards to a partition. */
export type PartitionEvent =
  | { type: 'produce.append'; requestId: number; records: Uint8Array; acks: 0 | 1 | -1; origin?: 'client' | 'coordinator'; timeoutMs?: number }
  | { type: 'produce.expired'; requestId: number }
  /** WriteTxnMarkers for this partition: append a COMMIT or ABORT control batch, acks=all. */
  | { type: 'marker.append'; requestId: number; producerId: bigint; producerEpoch: number; coordinatorEpoch: number; commit: boolean; transactionVersion: number; timeoutMs?: number }
  | {
      type: 'fetch.read';
      requestId: number;
      fetchOffset: bigint;
      maxBytes: number;
      currentLeaderEpoch: number;
      isolationLevel: 'read_uncommitted' | 'read_committed';
      /** -1 (or absent) for consumers; the follower's broker id for replica fetches. */
      replicaId?: number;
      lastFetchedEpoch?: number;
    }
  | { type: 'listOffsets.query'; requestId: number; timestamp: number; isolationLevel: 'read_uncommitted' | 'read_committed' }
  | { type: 'deleteRecords.apply'; requestId: number; offset: bigint }
  | { type: 'readKey.query'; requestId: number; key: Uint8Array; from: bigint; maxCount: number; backwards: boolean }
  | { type: 'retention.tick' }
  | ({ type: 'become.leader' } & PartitionState)
  | ({ type: 'become.follower'; leader: number } & PartitionState)
  | {
      /** What this broker's replica fetcher got from the leader for this partition. */
      type: 'replica.fetched';
      /** The leader epoch and fetch offset the fetch was sent with: a stale answer is dropped. */
      leaderEpoch: number;
      fetchOffset: bigint;
      records: readonly Uint8Array[];
      highWatermark: bigint;
      logStartOffset: bigint;
      divergingEpoch?: DivergingEpoch;
      error?: string;
    }
  | { type: 'isr.check' }
  | {
      /** The controller's answer to this leader's AlterPartition. */
      type: 'isr.result';
      /** The partition epoch the proposal was based on. */
      basedOnPartitionEpoch: number;
      error?: string;
      leaderEpoch?: number;
      partitionEpoch?: number;
      isr?: readonly number[];
    }
  | { type: 'isr.retry' }
  | { type: 'stop' };

/** Results and notices a partition emits to its broker. */
export type PartitionEmitted =
  | { type: 'produce.result'; requestId: number; topic: string; partition: number; baseOffset: bigint; lastOffset: bigint; logAppendTime: number; logStartOffset: bigint; error?: WireError }
  | { type: 'fetch.result'; requestId: number; topic: string; partition: number; records: readonly Uint8Array[]; highWatermark: bigint; lastStableOffset: bigint; logStartOffset: bigint; abortedTransactions?: readonly AbortedTransaction[]; divergingEpoch?: DivergingEpoch; error?: WireError }
  | { type: 'listOffsets.result'; requestId: number; topic: string; partition: number; offset: bigint; timestamp: number; error?: WireError }
  | { type: 'deleteRecords.result'; requestId: number; topic: string; partition: number; lowWatermark: bigint; error?: WireError }
  | { type: 'readKey.result'; requestId: number; topic: string; partition: number; version: bigint; records: readonly ReadKeyRecord[]; error?: WireError }
  /** The log end or the high watermark moved: parked fetches may now be answered. */
  | { type: 'partition.appended'; topic: string; partition: number; highWatermark: bigint; /** The log end moved (new data for followers), not just the high watermark. */ logEndMoved: boolean }
  /** The leader asks the controller to change the ISR (the broker sends `alterPartition.request`). */
  | { type: 'isr.proposed'; topic: string; partition: number; leaderEpoch: number; partitionEpoch: number; newIsr: readonly number[] }
  /** This leader was elected for a new epoch (or this broker hosts a new leader). */
  | { type: 'leader.elected'; topic: string; partition: number; leaderEpoch: number }
  /** The follower truncated its log (by leader epoch, or to the leader's log start). */
  | { type: 'replica.truncated'; topic: string; partition: number; offset: bigint; reason: 'divergingEpoch' | 'offsetOutOfRange' }
  /** The follower refused what the leader sent at `offset` (a corrupt batch): nothing was appended. */
  | { type: 'replica.appendFailed'; topic: string; partition: number; offset: bigint; leader: number; error: string; /** An I/O failure of this replica's own storage, not bad bytes from the leader. */ storageError: boolean };

/** Turns a thrown error into its wire form. */
export function toWireError(e: unknown): WireError {
  if (KafkaProtocolError.isKafka(e)) return { error: e.code, errorCode: e.errorCode, message: e.message, ...(e instanceof KeyVersionConflictError ? { recordErrors: e.recordErrors } : {}) };
  if (SamsaError.is(e)) return { ...wireError('INVALID_REQUEST', e.message), error: e.code };
  return wireError('UNKNOWN_SERVER_ERROR', e instanceof Error ? e.message : String(e));
}

/** No records in a fetch answer. */
const EMPTY: readonly Uint8Array[] = [];
/** Kafka's produce `timeout.ms` when a request does not say (the producer's request.timeout.ms default). */
const DEFAULT_PRODUCE_TIMEOUT_MS = 30_000;

const delayedId = (requestId: number): string => `produce:${requestId}`;

/** The leader's high watermark for `c` (see {@link highWatermarkOf}). */
function leaderHighWatermark(c: PartitionContext): bigint {
  return highWatermarkOf({
    current: c.highWatermark,
    leaderId: c.brokerId,
    leaderLogEndOffset: c.log.logEndOffset,
    isr: c.isr,
    maximalIsr: maximalIsr(c.isr, c.pendingIsr),
    followers: c.followers,
    minInsyncReplicas: c.log.config.minInsyncReplicas,
    now: c.clock.now(),
    lagTimeMaxMs: c.lagTimeMaxMs,
    isEligible: (id) => c.replicas.includes(id) && !c.ineligible.includes(id),
  });
}

/** The `enqueue` handed to this machine's `enqueueActions`, for the helpers below that enqueue on its behalf. */
type Enqueue = Parameters<Parameters<typeof enqueueActions<PartitionContext, PartitionEvent, undefined, PartitionEvent, never, never, never, never, PartitionEmitted>>[0]>[0]['enqueue'];

/**
 * Answers the waiting produces `c` allows: committed ones (HW past them) succeed; when the
 * maximal ISR fell below `min.insync.replicas` the rest fail with NOT_ENOUGH_REPLICAS_AFTER_APPEND
 * (their data stays in the log). Returns the produces still waiting.
 */
function settleWaiting(c: PartitionContext, highWatermark: bigint, enqueue: Enqueue): readonly DelayedProduce[] {
  if (c.waiting.length === 0) return c.waiting;
  const underMinIsr = maximalIsr(c.isr, c.pendingIsr).length < c.log.config.minInsyncReplicas;
  const still: DelayedProduce[] = [];
  for (const w of c.waiting) {
    const base = { type: 'produce.result' as const, requestId: w.requestId, topic: c.topic, partition: c.partition, baseOffset: w.baseOffset, lastOffset: w.lastOffset, logAppendTime: w.logAppendTime, logStartOffset: c.log.logStartOffset };
    if (highWatermark >= w.requiredOffset) {
      enqueue.cancel(delayedId(w.requestId));
      enqueue(emit(base));
    } else if (underMinIsr) {
      // Kafka ≥ 3.7 freezes the HW under min.insync.replicas, so such a request would only time
      // out; samsa answers at once, as Kafka < 3.7 did once the shrink let the HW pass the write.
      enqueue.cancel(delayedId(w.requestId));
      enqueue(emit({ ...base, error: wireError('NOT_ENOUGH_REPLICAS_AFTER_APPEND', `the write to ${c.topic}-${c.partition} at offsets ${w.baseOffset}..${w.lastOffset} is in the leader's log, but the ISR ${JSON.stringify(maximalIsr(c.isr, c.pendingIsr))} shrank below min.insync.replicas=${c.log.config.minInsyncReplicas}; retrying may write it twice`) }));
    } else still.push(w);
  }
  return still.length === c.waiting.length ? c.waiting : still;
}

/** Fails every waiting produce (leadership lost): the client retries at the new leader. */
function failWaiting(c: PartitionContext, enqueue: Enqueue, leaderEpoch: number): void {
  for (const w of c.waiting) {
    enqueue.cancel(delayedId(w.requestId));
    enqueue(emit({ type: 'produce.result' as const, requestId: w.requestId, topic: c.topic, partition: c.partition, baseOffset: w.baseOffset, lastOffset: w.lastOffset, logAppendTime: w.logAppendTime, logStartOffset: c.log.logStartOffset, error: wireError('NOT_LEADER_OR_FOLLOWER', `broker ${c.brokerId} is no longer the leader of ${c.topic}-${c.partition} (leader epoch ${leaderEpoch}); whether the write is kept depends on the new leader`) }));
  }
}

/**
 * Recomputes the leader's high watermark after `next` changed, settles waiting produces, and
 * wakes parked fetches when it moved. Returns the context fields to assign.
 */
function advance(next: PartitionContext, enqueue: Enqueue, appended = false): Pick<PartitionContext, 'highWatermark' | 'waiting'> {
  const highWatermark = leaderHighWatermark(next);
  const waiting = settleWaiting(next, highWatermark, enqueue);
  if (appended || highWatermark !== next.highWatermark) enqueue(emit({ type: 'partition.appended', topic: next.topic, partition: next.partition, highWatermark, logEndMoved: appended }));
  return { highWatermark, waiting };
}

/**
 * Answers an append that is in the log: at once for acks 0/1 or when the high watermark already
 * covers it, otherwise it waits for the ISR (Kafka's DelayedProduce) until `timeoutMs`.
 */
function answerAppend(c: PartitionContext, requestId: number, info: LogAppendInfo, acks: 0 | 1 | -1, timeoutMs: number | undefined, enqueue: Enqueue): void {
  const result = { requestId, baseOffset: info.firstOffset, lastOffset: info.lastOffset, logAppendTime: info.logAppendTime };
  const fields = advance(c, enqueue, true);
  if (acks === -1 && fields.highWatermark <= info.lastOffset) {
    enqueue.assign({ ...fields, waiting: [...fields.waiting, { ...result, requiredOffset: info.lastOffset + 1n }] });
    enqueue.raise({ type: 'produce.expired', requestId }, { delay: timeoutMs ?? DEFAULT_PRODUCE_TIMEOUT_MS, id: delayedId(requestId) });
    return;
  }
  enqueue.assign(fields);
  enqueue(emit({ type: 'produce.result', topic: c.topic, partition: c.partition, ...result, logStartOffset: info.logStartOffset }));
}

/** Refuses an acks=all write while the ISR is smaller than min.insync.replicas; true when refused. */
function refuseUnderMinIsr(c: PartitionContext, requestId: number, enqueue: Enqueue): boolean {
  const minIsr = c.log.config.minInsyncReplicas;
  if (c.isr.length >= minIsr) return false;
  enqueue(emit({ type: 'produce.result', requestId, topic: c.topic, partition: c.partition, baseOffset: -1n, lastOffset: -1n, logAppendTime: -1, logStartOffset: c.log.logStartOffset, error: wireError('NOT_ENOUGH_REPLICAS', `${c.topic}-${c.partition} has ${c.isr.length} in-sync replica(s) ${JSON.stringify(c.isr)}, fewer than min.insync.replicas=${minIsr}; nothing was written`) }));
  return true;
}

/** Proposes `newIsr` to the controller and marks it in flight. */
function propose(c: PartitionContext, newIsr: readonly number[], enqueue: Enqueue): readonly number[] {
  enqueue(emit({ type: 'isr.proposed', topic: c.topic, partition: c.partition, leaderEpoch: c.leaderEpoch, partitionEpoch: c.partitionEpoch, newIsr }));
  return newIsr;
}

/** Kafka's `makeLeader`: a new leader epoch starts at the log end; follower states start over. */
function makeLeader(c: PartitionContext, state: PartitionState, enqueue: Enqueue): Partial<PartitionContext> {
  const newEpoch = state.leaderEpoch > c.leaderEpoch || c.leader !== c.brokerId;
  let fields: Partial<PartitionContext> = { leaderEpoch: state.leaderEpoch, partitionEpoch: state.partitionEpoch, leader: c.brokerId, replicas: state.replicas, isr: state.isr, ineligible: state.ineligible, pendingIsr: undefined };
  if (newEpoch) {
    const start = c.log.logEndOffset;
    // Recorded before any batch of the epoch is written: followers truncate against it (KIP-101).
    c.log.assignEpochStartOffset(state.leaderEpoch, start);
    const now = c.clock.now();
    const followers = new Map<number, FollowerState>();
    for (const id of state.replicas) if (id !== c.brokerId) followers.set(id, initialFollowerState(state.isr.includes(id), now));
    // Produces still waiting (a re-election while leading) stay: their data is in this log.
    fields = { ...fields, followers, leaderEpochStartOffset: start };
    enqueue(emit({ type: 'leader.elected', topic: c.topic, partition: c.partition, leaderEpoch: state.leaderEpoch }));
  } else {
    const followers = new Map([...c.followers].filter(([id]) => state.replicas.includes(id)));
    fields = { ...fields, followers };
  }
  const next = { ...c, ...fields } as PartitionContext;
  return { ...fields, ...advance(next, enqueue) };
}

/** Whether a metadata update for this partition is newer than what the replica applied. */
function isNewer(c: PartitionContext, state: PartitionState): boolean {
  return state.leaderEpoch > c.leaderEpoch || (state.leaderEpoch === c.leaderEpoch && state.partitionEpoch > c.partitionEpoch);
}

function notLeader(c: PartitionContext): WireError {
  return wireError('NOT_LEADER_OR_FOLLOWER', c.leader < 0 ? `${c.topic}-${c.partition} has no leader right now (offline); retry after a metadata refresh` : `broker ${c.brokerId} is not the leader of ${c.topic}-${c.partition}; broker ${c.leader} is`);
}

/** The partition replica machine: `leader`, `follower`, `stopped`. */
export const partitionMachine = setup({
  types: { context: {} as PartitionContext, input: {} as PartitionInput, events: {} as PartitionEvent, emitted: {} as PartitionEmitted },
}).createMachine({
  id: 'partition',
  context: ({ input }) => ({
    topic: input.topic,
    partition: input.partition,
    log: input.log,
    brokerId: input.brokerId,
    clock: input.clock,
    lagTimeMaxMs: input.replicaLagTimeMaxMs ?? REPLICA_LAG_TIME_MAX_MS,
    leaderEpoch: -1,
    partitionEpoch: -1,
    leader: -1,
    replicas: [],
    isr: [],
    pendingIsr: undefined,
    ineligible: [],
    followers: new Map(),
    leaderEpochStartOffset: 0n,
    // Not checkpointed: a replica starts from its log start and learns the rest from the leader
    // (a leader's HW then moves up as its followers fetch; with no followers at once).
    highWatermark: input.log.logStartOffset,
    waiting: [],
  }),
  initial: 'follower',
  states: {
    leader: {
      on: {
        'produce.append': {
          actions: enqueueActions(({ context: c, event, enqueue }) => {
            const { topic, partition, log } = c;
            if (event.acks === -1 && refuseUnderMinIsr(c, event.requestId, enqueue)) return;
            let info;
            try {
              info = log.append(event.records, { leaderEpoch: c.leaderEpoch, origin: event.origin ?? 'client' });
            } catch (e) {
              enqueue(emit({ type: 'produce.result', requestId: event.requestId, topic, partition, baseOffset: -1n, lastOffset: -1n, logAppendTime: -1, logStartOffset: log.logStartOffset, error: toWireError(e) }));
              return;
            }
            answerAppend(c, event.requestId, info, event.acks, event.timeoutMs, enqueue);
          }),
        },
        'marker.append': {
          actions: enqueueActions(({ context: c, event, enqueue }) => {
            // Kafka writes markers with acks=all: the transaction is complete here once the ISR has it.
            if (refuseUnderMinIsr(c, event.requestId, enqueue)) return;
            let info;
            try {
              info = c.log.appendTransactionMarker({ producerId: event.producerId, producerEpoch: event.producerEpoch, coordinatorEpoch: event.coordinatorEpoch, result: event.commit ? 'COMMIT' : 'ABORT' }, { leaderEpoch: c.leaderEpoch, transactionVersion: event.transactionVersion });
            } catch (e) {
              enqueue(emit({ type: 'produce.result', requestId: event.requestId, topic: c.topic, partition: c.partition, baseOffset: -1n, lastOffset: -1n, logAppendTime: -1, logStartOffset: c.log.logStartOffset, error: toWireError(e) }));
              return;
            }
            answerAppend(c, event.requestId, info, -1, event.timeoutMs, enqueue);
          }),
        },
        'produce.expired': {
          actions: enqueueActions(({ context: c, event, enqueue }) => {
            const w = c.waiting.find((x) => x.requestId === event.requestId);
            if (w === undefined) return;
            enqueue.assign({ waiting: c.waiting.filter((x) => x !== w) });
            enqueue(emit({ type: 'produce.result', requestId: w.requestId, topic: c.topic, partition: c.partition, baseOffset: w.baseOffset, lastOffset: w.lastOffset, logAppendTime: w.logAppendTime, logStartOffset: c.log.logStartOffset, error: wireError('REQUEST_TIMED_OUT', `the write to ${c.topic}-${c.partition} at offsets ${w.baseOffset}..${w.lastOffset} is in the leader's log but was not replicated to the ISR ${JSON.stringify(c.isr)} within the request timeout`) }));
          }),
        },
        'fetch.read': {
          actions: enqueueActions(({ context: c, event, enqueue }) => {
            const { topic, partition, log } = c;
            const result = (highWatermark: bigint, fields: { records: readonly Uint8Array[]; divergingEpoch?: DivergingEpoch; error?: WireError; abortedTransactions?: readonly AbortedTransaction[] }): void => {
              enqueue(emit({ type: 'fetch.result', requestId: event.requestId, topic, partition, highWatermark, lastStableOffset: log.lastStableOffset(highWatermark), logStartOffset: log.logStartOffset, ...fields }));
            };
            if (event.currentLeaderEpoch >= 0 && event.currentLeaderEpoch !== c.leaderEpoch) {
              const name = event.currentLeaderEpoch < c.leaderEpoch ? 'FENCED_LEADER_EPOCH' : 'UNKNOWN_LEADER_EPOCH';
              result(c.highWatermark, { records: EMPTY, error: wireError(name, `fetch for ${topic}-${partition} carries leader epoch ${event.currentLeaderEpoch}; the leader is at ${c.leaderEpoch}`) });
              return;
            }
            const replicaId = event.replicaId ?? -1;
            if (replicaId < 0) {
              // Consumers read only what every ISR member has: below the high watermark; read_committed
              // consumers only below the last stable offset, with the aborted transactions to skip.
              try {
                if (event.isolationLevel === 'read_committed') {
                  const lso = log.lastStableOffset(c.highWatermark);
                  const records = log.readViews(event.fetchOffset, { maxBytes: event.maxBytes, maxOffset: lso }).records;
                  result(c.highWatermark, { records, abortedTransactions: records.length === 0 ? [] : log.collectAbortedTransactions(event.fetchOffset, lso) });
                } else result(c.highWatermark, { records: log.readViews(event.fetchOffset, { maxBytes: event.maxBytes, maxOffset: c.highWatermark }).records });
              } catch (e) {
                result(c.highWatermark, { records: EMPTY, error: toWireError(e) });
              }
              return;
            }
            if (replicaId === c.brokerId || !c.replicas.includes(replicaId)) {
              result(c.highWatermark, { records: EMPTY, error: wireError('NOT_LEADER_OR_FOLLOWER', `broker ${replicaId} is not a follower of ${topic}-${partition} (replicas ${JSON.stringify(c.replicas)})`) });
              return;
            }
            const leaderEnd = log.logEndOffset;
            let records: readonly Uint8Array[];
            try {
              if (event.fetchOffset < log.logStartOffset) throw new OffsetOutOfRangeError(event.fetchOffset, log.logStartOffset, leaderEnd, `partition ${topic}-${partition}`);
              const lastFetchedEpoch = event.lastFetchedEpoch ?? -1;
              if (lastFetchedEpoch >= 0) {
                const diverging = divergingEpochOf(lastFetchedEpoch, event.fetchOffset, log.endOffsetForEpoch(lastFetchedEpoch), leaderEnd);
                if (diverging !== undefined) {
                  // The follower truncates first; its fetch state is not updated (Kafka does the same).
                  result(c.highWatermark, { records: EMPTY, divergingEpoch: diverging });
                  return;
                }
              }
              records = log.readViews(event.fetchOffset, { maxBytes: event.maxBytes }).records;
            } catch (e) {
              result(c.highWatermark, { records: EMPTY, error: toWireError(e) });
              return;
            }
            // The fetch offset is the follower's log end: update its state, maybe let it join the ISR.
            const now = c.clock.now();
            const state = onFollowerFetch(c.followers.get(replicaId), event.fetchOffset, leaderEnd, now);
            const followers = new Map(c.followers).set(replicaId, state);
            let pendingIsr = c.pendingIsr;
            if (pendingIsr === undefined && !c.isr.includes(replicaId) && !c.ineligible.includes(replicaId) && canJoinIsr(state, c.highWatermark, c.leaderEpochStartOffset)) {
              pendingIsr = propose(c, [...c.isr, replicaId], enqueue);
            }
            const fields = advance({ ...c, followers, pendingIsr }, enqueue);
            enqueue.assign({ followers, pendingIsr, ...fields });
            result(fields.highWatermark, { records });
          }),
        },
        'isr.check': {
          actions: enqueueActions(({ context: c, enqueue }) => {
            if (c.pendingIsr !== undefined) return;
            const kept = shrinkIsr(c.isr, c.brokerId, c.followers, c.log.logEndOffset, c.clock.now(), c.lagTimeMaxMs);
            if (kept === c.isr) return;
            enqueue.assign({ pendingIsr: propose(c, kept, enqueue) });
          }),
        },
        'isr.retry': {
          actions: enqueueActions(({ context: c, enqueue }) => {
            if (c.pendingIsr !== undefined) propose(c, c.pendingIsr, enqueue);
          }),
        },
        'isr.result': {
          actions: enqueueActions(({ context: c, event, enqueue }) => {
            // An answer to a proposal that metadata has since superseded changes nothing.
            if (c.pendingIsr === undefined || event.basedOnPartitionEpoch !== c.partitionEpoch) return;
            if (event.error !== undefined) {
              // The controller says the proposal was not applied and the epoch is right: drop it.
              if (event.error === 'INELIGIBLE_REPLICA') enqueue.assign({ pendingIsr: undefined });
              // Otherwise (a stale epoch, not the leader…) the next metadata update tells the truth
              // and resets the state; until then the maximal ISR keeps the HW safe (KIP-497).
              return;
            }
            if (event.isr === undefined || event.partitionEpoch === undefined || event.partitionEpoch <= c.partitionEpoch) return;
            const next: PartitionContext = { ...c, isr: event.isr, partitionEpoch: event.partitionEpoch, pendingIsr: undefined };
            enqueue.assign({ isr: next.isr, partitionEpoch: next.partitionEpoch, pendingIsr: undefined, ...advance(next, enqueue) });
          }),
        },
        'listOffsets.query': {
          actions: enqueueActions(({ context, event, enqueue }) => {
            const { topic, partition, log } = context;
            // A new leader's high watermark may still be behind what the old leader exposed: until
            // it reaches this epoch's start offset, no offset is answered (Kafka's
            // OFFSET_NOT_AVAILABLE, KIP-207), so an end offset never goes backwards.
            if (context.highWatermark < context.leaderEpochStartOffset) {
              enqueue(emit({ type: 'listOffsets.result', requestId: event.requestId, topic, partition, offset: -1n, timestamp: -1, error: wireError('OFFSET_NOT_AVAILABLE', `the high watermark of ${topic}-${partition} (${context.highWatermark}) has not reached the start of leader epoch ${context.leaderEpoch} (${context.leaderEpochStartOffset}); retry shortly`) }));
              return;
            }
            // read_committed clients see the log up to the last stable offset.
            const highWatermark = event.isolationLevel === 'read_committed' ? log.lastStableOffset(context.highWatermark) : context.highWatermark;
            try {
              const found = event.timestamp === -1 ? { offset: highWatermark, timestamp: -1 } : log.offsetForTimestamp(event.timestamp);
              const offset = found === undefined ? -1n : found.offset > highWatermark ? highWatermark : found.offset;
              enqueue(emit({ type: 'listOffsets.result', requestId: event.requestId, topic, partition, offset, timestamp: found?.timestamp ?? -1 }));
            } catch (e) {
              enqueue(emit({ type: 'listOffsets.result', requestId: event.requestId, topic, partition, offset: -1n, timestamp: -1, error: toWireError(e) }));
            }
          }),
        },
        'readKey.query': {
          actions: emit(({ context: c, event }) => {
            const result = { type: 'readKey.result' as const, requestId: event.requestId, topic: c.topic, partition: c.partition };
            // As ListOffsets, nothing is answered until this epoch's high watermark caught up; then what read_committed readers see.
            if (c.highWatermark < c.leaderEpochStartOffset) return { ...result, version: -1n, records: [], error: wireError('OFFSET_NOT_AVAILABLE', `the high watermark of ${c.topic}-${c.partition} has not reached the start of leader epoch ${c.leaderEpoch}; retry shortly`) };
            try {
              return { ...result, ...readKeyRecords(c.log, event.key, { from: event.from, maxCount: event.maxCount, backwards: event.backwards, bound: c.log.lastStableOffset(c.highWatermark) }) };
            } catch (e) {
              return { ...result, version: -1n, records: [], error: toWireError(e) };
            }
          }),
        },
        'deleteRecords.apply': {
          actions: enqueueActions(({ context, event, enqueue }) => {
            const { topic, partition, log, highWatermark } = context;
            try {
              const target = event.offset === -1n ? highWatermark : event.offset;
              if (target > highWatermark) throw new OffsetOutOfRangeError(target, log.logStartOffset, highWatermark, `partition ${topic}-${partition} (DeleteRecords may not pass the high watermark)`);
              const lowWatermark = log.deleteRecordsBefore(target);
              enqueue(emit({ type: 'deleteRecords.result', requestId: event.requestId, topic, partition, lowWatermark }));
            } catch (e) {
              enqueue(emit({ type: 'deleteRecords.result', requestId: event.requestId, topic, partition, lowWatermark: -1n, error: toWireError(e) }));
            }
          }),
        },
        'become.leader': {
          actions: enqueueActions(({ context: c, event, enqueue }) => {
            if (!isNewer(c, event)) {
              if (event.ineligible.join() !== c.ineligible.join()) enqueue.assign({ ineligible: event.ineligible });
              return;
            }
            enqueue.assign(makeLeader(c, event, enqueue));
          }),
        },
        'become.follower': {
          guard: ({ context: c, event }) => event.leaderEpoch >= c.leaderEpoch,
          target: 'follower',
          actions: enqueueActions(({ context: c, event, enqueue }) => {
            failWaiting(c, enqueue, event.leaderEpoch);
            enqueue.assign({ leaderEpoch: event.leaderEpoch, partitionEpoch: event.partitionEpoch, leader: event.leader, replicas: event.replicas, isr: event.isr, ineligible: event.ineligible, pendingIsr: undefined, waiting: [], followers: new Map() });
          }),
        },
      },
    },
    follower: {
      on: {
        'produce.append': { actions: emit(({ context, event }) => ({ type: 'produce.result' as const, requestId: event.requestId, topic: context.topic, partition: context.partition, baseOffset: -1n, lastOffset: -1n, logAppendTime: -1, logStartOffset: context.log.logStartOffset, error: notLeader(context) })) },
        'marker.append': { actions: emit(({ context, event }) => ({ type: 'produce.result' as const, requestId: event.requestId, topic: context.topic, partition: context.partition, baseOffset: -1n, lastOffset: -1n, logAppendTime: -1, logStartOffset: context.log.logStartOffset, error: notLeader(context) })) },
        'fetch.read': { actions: emit(({ context, event }) => ({ type: 'fetch.result' as const, requestId: event.requestId, topic: context.topic, partition: context.partition, records: EMPTY, highWatermark: -1n, lastStableOffset: -1n, logStartOffset: context.log.logStartOffset, error: notLeader(context) })) },
        'listOffsets.query': { actions: emit(({ context, event }) => ({ type: 'listOffsets.result' as const, requestId: event.requestId, topic: context.topic, partition: context.partition, offset: -1n, timestamp: -1, error: notLeader(context) })) },
        'readKey.query': { actions: emit(({ context, event }) => ({ type: 'readKey.result' as const, requestId: event.requestId, topic: context.topic, partition: context.partition, version: -1n, records: [], error: notLeader(context) })) },
        'deleteRecords.apply': { actions: emit(({ context, event }) => ({ type: 'deleteRecords.result' as const, requestId: event.requestId, topic: context.topic, partition: context.partition, lowWatermark: -1n, error: notLeader(context) })) },
        'replica.fetched': {
          actions: enqueueActions(({ context: c, event, enqueue }) => {
            const { log } = c;
            // An answer to a fetch sent before a leader change or a truncation is stale.
            if (event.leaderEpoch !== c.leaderEpoch || event.fetchOffset !== log.logEndOffset) return;
            const endBefore = log.logEndOffset;
            const truncated = (offset: bigint, reason: 'divergingEpoch' | 'offsetOutOfRange'): void => {
              if (offset !== endBefore) enqueue(emit({ type: 'replica.truncated', topic: c.topic, partition: c.partition, offset, reason }));
              enqueue.assign({ highWatermark: c.highWatermark > log.logEndOffset ? log.logEndOffset : c.highWatermark < log.logStartOffset ? log.logStartOffset : c.highWatermark });
            };
            try {
              if (event.error === 'OFFSET_OUT_OF_RANGE') {
                // Behind the leader's log start (retention, DeleteRecords): start over there. Ahead of
                // its log end without epoch history to compare: keep what the leader has committed.
                if (log.logEndOffset < event.logStartOffset) log.truncateFullyAndStartAt(event.logStartOffset);
                else log.truncateTo(event.highWatermark > log.logStartOffset ? event.highWatermark : log.logStartOffset);
                truncated(log.logEndOffset, 'offsetOutOfRange');
                return;
              }
              if (event.error !== undefined) return;
              if (event.divergingEpoch !== undefined) {
                // Truncate by leader epoch, never by high watermark (KIP-101, KIP-279).
                const decision = truncationOffsetOf(event.divergingEpoch, log.endOffsetForEpoch(event.divergingEpoch.epoch), log.logEndOffset);
                log.truncateTo(decision.offset);
                truncated(log.logEndOffset, 'divergingEpoch');
                return;
              }
              if (event.records.length > 0) {
                const fresh = runsFrom(event.records, log.logEndOffset);
                if (fresh.length > 0) log.appendAsFollower(fresh);
              }
              // The follower's log start follows the leader's (retention, DeleteRecords).
              if (event.logStartOffset > log.logStartOffset && event.logStartOffset <= log.logEndOffset) log.deleteRecordsBefore(event.logStartOffset);
              enqueue.assign({ highWatermark: followerHighWatermark(event.highWatermark, log.logStartOffset, log.logEndOffset) });
            } catch (e) {
              // A corrupt or inconsistent answer changes nothing (Kafka's follower never appends a
              // batch that fails its CRC); the fetcher backs off and fetches again, and it is reported.
              enqueue(emit({ type: 'replica.appendFailed', topic: c.topic, partition: c.partition, offset: log.logEndOffset, leader: c.leader, error: e instanceof Error ? e.message : String(e), storageError: e instanceof StorageError }));
            }
          }),
        },
        'become.leader': {
          guard: ({ context: c, event }) => event.leaderEpoch >= c.leaderEpoch,
          target: 'leader',
          actions: enqueueActions(({ context: c, event, enqueue }) => {
            enqueue.assign(makeLeader(c, event, enqueue));
          }),
        },
        'become.follower': {
          actions: enqueueActions(({ context: c, event, enqueue }) => {
            if (event.leaderEpoch < c.leaderEpoch) return;
            enqueue.assign({ leaderEpoch: event.leaderEpoch, partitionEpoch: event.partitionEpoch, leader: event.leader, replicas: event.replicas, isr: event.isr, ineligible: event.ineligible });
          }),
        },
      },
    },
    stopped: { type: 'final' },
  },
  on: {
    'retention.tick': {
      actions: ({ context }) => {
        context.log.deleteOldSegments(context.highWatermark);
        // The cleaner never reaches an open transaction (Kafka's first unstable offset bound).
        context.log.clean({ upperBoundOffset: context.log.lastStableOffset(context.highWatermark) });
      },
    },
    stop: { target: '.stopped' },
  },
});
