/**
 * The broker's data-plane requests, fanned out to the partition actors and gathered back, one
 * response per request: Produce, Fetch, ListOffsets, DeleteRecords and WriteTxnMarkers, plus the
 * coordinators' own appends to their internal partitions. Each partition of a request becomes one
 * event to that partition's actor (or an immediate error when it is not hosted here); the request
 * is answered once every partition has answered. A fetch that gathered too little is parked
 * (see `fetchParking.ts`), and a fetch that can read nothing new is answered from the actor's
 * state without a round trip through it.
 */
import type { Clock } from '../../clock.ts';
import type { FetchPartition, FetchRequest, MessageOf, ProduceRequest, WireError } from '../../protocol/index.ts';
import type { Message, NodeId } from '../../transport/transport.ts';
import { OFFSETS_TOPIC } from '../groupCoordinator/offsetsTopic.ts';
import type { PartitionEmitted, PartitionEvent } from '../partition/partition.machine.ts';
import type { BrokerConfig } from './brokerConfig.ts';
import type { ReplicaManager } from './replicas.ts';

/**
 * An idle follower's fetches reach its partition actor at least this many times per
 * `replica.lag.time.max.ms`, so the leader keeps seeing it caught up (see `idleFetchResult`).
 */
const IDLE_FOLLOWER_REFRESH_DIVISOR = 10;

/** No records in a fetch answer. */
const EMPTY: readonly Uint8Array[] = [];

/** A partition actor's answer to one partition of a request. */
export type PartitionResult = Extract<PartitionEmitted, { requestId: number }>;

/** What the request fan-out needs of its broker. */
export interface PartitionRequestsContext {
  readonly clock: Clock;
  readonly config: BrokerConfig;
  readonly replicas: ReplicaManager;
  readonly send: (to: NodeId, message: Message) => void;
  /** A fresh request id (shared with fetch parking, so ids never collide). */
  readonly nextRequestId: () => number;
  /** Routes a partition event through the broker, as if the partition's actor had emitted it. */
  readonly route: (event: PartitionEmitted) => void;
  /** Parks a fetch that gathered too little (see `fetchParking.ts`). */
  readonly park: (request: FetchRequest, from: NodeId) => void;
  /** A transaction marker reached `__consumer_offsets`: the group coordinator settles the transaction's offsets. */
  readonly completeTransaction: (partition: number, producerId: bigint, commit: boolean) => void;
}

/** A request being gathered. */
interface Pending {
  readonly kind: 'produce' | 'fetch' | 'listOffsets' | 'readKey' | 'deleteRecords' | 'writeTxnMarkers';
  readonly to: NodeId;
  readonly correlationId: number;
  remaining: number;
  readonly results: unknown[];
  readonly respond: boolean;
  bytes: number;
  /** An error or a diverging epoch: a fetch is answered at once instead of parked. */
  hasError: boolean;
  /** WriteTxnMarkers: whose transaction, and its outcome (the group coordinator settles offsets with it). */
  marker?: { readonly producerId: bigint; readonly commit: boolean };
  /** Fetch: the request, and whether it may be parked; parking is decided once all partitions answered. */
  park?: { readonly request: FetchRequest; readonly mayPark: boolean };
}

/** See the module comment. */
export class PartitionRequests {
  private readonly pending = new Map<number, Pending>();
  private readonly internalWaiters = new Map<number, (error: WireError | undefined) => void>();
  /** Per `topic-partition:replica`, the last follower fetch a leader partition's actor handled. */
  private readonly followerFetches = new Map<string, { fetchOffset: bigint; leaderEpoch: number; at: number }>();

  constructor(private readonly context: PartitionRequestsContext) {}

  /** Drops every request being gathered, unanswered (the process crashed or stopped). */
  stop(): void {
    this.internalWaiters.clear();
    this.pending.clear();
    this.followerFetches.clear();
  }

  private begin(kind: Pending['kind'], from: NodeId, correlationId: number, count: number, respond = true): number {
    const requestId = this.context.nextRequestId();
    this.pending.set(requestId, { kind, to: from, correlationId, remaining: count, results: [], respond, bytes: 0, hasError: false });
    return requestId;
  }

  private dispatch(topic: string, partition: number, event: PartitionEvent, failure: (error: WireError) => PartitionEmitted): void {
    const target = this.context.replicas.actorFor(topic, partition);
    if ('error' in target) this.context.route(failure(target as WireError));
    else target.send(event);
  }

  /** Produce: one append per partition; acks=0 gets no response. */
  produce(request: ProduceRequest, from: NodeId): void {
    const requestId = this.begin('produce', from, request.correlationId, request.partitions.length, request.acks !== 0);
    for (const p of request.partitions) {
      this.dispatch(p.topic, p.partition, { type: 'produce.append', requestId, records: p.records, acks: request.acks, timeoutMs: request.timeoutMs }, (error) => ({ type: 'produce.result', requestId, topic: p.topic, partition: p.partition, baseOffset: -1n, lastOffset: -1n, logAppendTime: -1, logStartOffset: -1n, error }));
    }
  }

  /**
   * Appends to a local partition this broker leads with acks=all within
   * `offsets.commit.timeout.ms`, and calls `done` with the append's error (undefined once every
   * ISR member has the write): a coordinator's write to its internal partition.
   */
  appendInternal(topic: string, partition: number, records: Uint8Array, done: (error: WireError | undefined) => void): void {
    const requestId = this.context.nextRequestId();
    this.internalWaiters.set(requestId, done);
    this.dispatch(topic, partition, { type: 'produce.append', requestId, records, acks: -1, origin: 'coordinator', timeoutMs: this.context.config.offsetsCommitTimeoutMs }, (error) => ({ type: 'produce.result', requestId, topic, partition, baseOffset: -1n, lastOffset: -1n, logAppendTime: -1, logStartOffset: -1n, error }));
  }

  /**
   * WriteTxnMarkers from a transaction coordinator: one COMMIT or ABORT control batch per
   * partition, each answered once the ISR has it. A marker in `__consumer_offsets` settles the
   * transaction's pending offsets in this broker's group coordinator.
   */
  writeTxnMarkers(message: Message, from: NodeId): void {
    const partitions = (message.partitions as Array<{ topic: string; partition: number }> | undefined) ?? [];
    const requestId = this.begin('writeTxnMarkers', from, message.correlationId as number, partitions.length);
    const pending = this.pending.get(requestId) as Pending;
    const producerId = message.producerId as bigint;
    const commit = message.committed === true;
    pending.marker = { producerId, commit };
    if (partitions.length === 0) {
      this.complete(requestId, pending);
      return;
    }
    for (const p of partitions) {
      this.dispatch(p.topic, p.partition, { type: 'marker.append', requestId, producerId, producerEpoch: message.producerEpoch as number, coordinatorEpoch: message.coordinatorEpoch as number, commit, transactionVersion: typeof message.transactionVersion === 'number' ? message.transactionVersion : 0, timeoutMs: this.context.config.offsetsCommitTimeoutMs }, (error) => ({ type: 'produce.result', requestId, topic: p.topic, partition: p.partition, baseOffset: -1n, lastOffset: -1n, logAppendTime: -1, logStartOffset: -1n, error }));
    }
  }

  /** Fetch, from a consumer or a follower; `mayPark` false answers it whatever it finds. */
  fetch(request: FetchRequest, from: NodeId, mayPark: boolean): void {
    const requestId = this.begin('fetch', from, request.correlationId, request.partitions.length);
    const pending = this.pending.get(requestId) as Pending;
    // Parking is decided once all partitions answered (see complete()).
    pending.park = { request, mayPark };
    let budget = request.maxBytes;
    const replicaId = request.replicaId ?? -1;
    const now = this.context.clock.now();
    for (const p of request.partitions) {
      const maxBytes = Math.max(0, Math.min(p.partitionMaxBytes, budget));
      const idle = this.idleFetchResult(requestId, p, replicaId, now, request.isolationLevel);
      if (idle !== undefined) {
        this.context.route(idle);
        continue;
      }
      this.dispatch(p.topic, p.partition, { type: 'fetch.read', requestId, fetchOffset: p.fetchOffset, maxBytes, currentLeaderEpoch: p.currentLeaderEpoch, isolationLevel: request.isolationLevel, replicaId: request.replicaId ?? -1, ...(p.lastFetchedEpoch === undefined ? {} : { lastFetchedEpoch: p.lastFetchedEpoch }) }, (error) => fetchFailure(requestId, p, error));
      budget = Math.max(0, budget - p.partitionMaxBytes);
    }
  }

  /**
   * The answer to a partition of a fetch that can read nothing new, given without a round trip
   * through the partition's actor (Kafka answers such partitions from its cached state too). A
   * consumer at the (last stable or) high watermark, or a follower at the leader's log end that
   * reported the same offset last time and was heard by the actor within the last
   * {@link IDLE_FOLLOWER_REFRESH_DIVISOR}th of `replica.lag.time.max.ms` (so the ISR keeps seeing it
   * caught up). Undefined when the actor must take the fetch: a new offset, data, a leadership or
   * epoch question, a divergence check.
   */
  private idleFetchResult(requestId: number, p: FetchPartition, replicaId: number, now: number, isolationLevel: FetchRequest['isolationLevel']): Extract<PartitionEmitted, { type: 'fetch.result' }> | undefined {
    const key = `${p.topic}-${p.partition}`;
    const actor = this.context.replicas.actorOf(p.topic, p.partition);
    const log = this.context.replicas.logOf(p.topic, p.partition);
    if (actor === undefined || log === undefined) return undefined;
    const snapshot = actor.getSnapshot();
    if (snapshot.value !== 'leader') return undefined;
    const c = snapshot.context as { leaderEpoch: number; highWatermark: bigint; replicas: readonly number[] };
    if (p.currentLeaderEpoch >= 0 && p.currentLeaderEpoch !== c.leaderEpoch) return undefined;
    const end = log.logEndOffset;
    if (replicaId < 0) {
      const bound = isolationLevel === 'read_committed' ? log.lastStableOffset(c.highWatermark) : c.highWatermark;
      if (p.fetchOffset !== bound || p.fetchOffset < log.logStartOffset) return undefined;
    } else {
      if (p.fetchOffset !== end || !c.replicas.includes(replicaId)) return undefined;
      const follower = `${key}:${replicaId}`;
      const heard = this.followerFetches.get(follower);
      if (heard === undefined || heard.fetchOffset !== p.fetchOffset || heard.leaderEpoch !== c.leaderEpoch || now - heard.at >= this.context.config.replicaLagTimeMaxMs / IDLE_FOLLOWER_REFRESH_DIVISOR) {
        // The actor takes this one; remember what it was told.
        this.followerFetches.set(follower, { fetchOffset: p.fetchOffset, leaderEpoch: c.leaderEpoch, at: now });
        return undefined;
      }
    }
    return { type: 'fetch.result', requestId, topic: p.topic, partition: p.partition, records: EMPTY, highWatermark: c.highWatermark, lastStableOffset: log.lastStableOffset(c.highWatermark), logStartOffset: log.logStartOffset };
  }

  /** ListOffsets: one query per partition. */
  listOffsets(message: Message, from: NodeId): void {
    const partitions = message.partitions as Array<{ topic: string; partition: number; timestamp: number }>;
    const requestId = this.begin('listOffsets', from, message.correlationId as number, partitions.length);
    for (const p of partitions) {
      this.dispatch(p.topic, p.partition, { type: 'listOffsets.query', requestId, timestamp: p.timestamp, isolationLevel: message.isolationLevel === 'read_committed' ? 'read_committed' : 'read_uncommitted' }, (error) => ({ type: 'listOffsets.result', requestId, topic: p.topic, partition: p.partition, offset: -1n, timestamp: -1, error }));
    }
  }

  /** ReadKey: one key read per partition (samsa's own API, see protocol/readKey.ts). */
  readKey(message: MessageOf<'readKey.request'>, from: NodeId): void {
    const requestId = this.begin('readKey', from, message.correlationId, message.partitions.length);
    for (const p of message.partitions) {
      this.dispatch(p.topic, p.partition, { type: 'readKey.query', requestId, key: p.key, from: p.from, maxCount: p.maxCount, backwards: p.backwards }, (error) => ({ type: 'readKey.result', requestId, topic: p.topic, partition: p.partition, version: -1n, records: [], error }));
    }
  }

  /** DeleteRecords: one log-start move per partition. */
  deleteRecords(message: Message, from: NodeId): void {
    const partitions = message.partitions as Array<{ topic: string; partition: number; offset: bigint }>;
    const requestId = this.begin('deleteRecords', from, message.correlationId as number, partitions.length);
    for (const p of partitions) {
      this.dispatch(p.topic, p.partition, { type: 'deleteRecords.apply', requestId, offset: p.offset }, (error) => ({ type: 'deleteRecords.result', requestId, topic: p.topic, partition: p.partition, lowWatermark: -1n, error }));
    }
  }

  /** One partition's answer: to the internal write waiting for it, or into its request, which is answered once complete. */
  onResult(event: PartitionResult): void {
    const waiter = this.internalWaiters.get(event.requestId);
    if (waiter !== undefined) {
      this.internalWaiters.delete(event.requestId);
      waiter(event.error);
      return;
    }
    const pending = this.pending.get(event.requestId);
    if (pending === undefined) return;
    const { type: _type, requestId: _id, ...result } = event;
    pending.results.push(result);
    if (pending.marker !== undefined && event.type === 'produce.result' && event.error === undefined && event.topic === OFFSETS_TOPIC) this.context.completeTransaction(event.partition, pending.marker.producerId, pending.marker.commit);
    if (('error' in result && result.error !== undefined) || ('divergingEpoch' in result && result.divergingEpoch !== undefined)) pending.hasError = true;
    if (event.type === 'fetch.result') for (const run of event.records) pending.bytes += run.length;
    pending.remaining--;
    if (pending.remaining === 0) this.complete(event.requestId, pending);
  }

  private complete(requestId: number, pending: Pending): void {
    this.pending.delete(requestId);
    const park = pending.park;
    if (park !== undefined && park.mayPark && !pending.hasError && pending.bytes < Math.max(1, park.request.minBytes) && park.request.maxWaitMs > 0) {
      this.context.park(park.request, pending.to);
      return;
    }
    if (!pending.respond) return;
    const partitions = pending.results.map((r) => flattenError(r as Record<string, unknown>));
    this.context.send(pending.to, { type: `${pending.kind}.response`, correlationId: pending.correlationId, partitions });
  }
}

function fetchFailure(requestId: number, p: FetchPartition, error: WireError): PartitionEmitted {
  return { type: 'fetch.result', requestId, topic: p.topic, partition: p.partition, records: EMPTY, highWatermark: -1n, lastStableOffset: -1n, logStartOffset: -1n, error };
}

/** Results carry errors as a nested WireError; responses flatten them into the partition entry. */
function flattenError(result: Record<string, unknown>): Record<string, unknown> {
  const error = result.error as WireError | undefined;
  if (error === undefined) {
    const { error: _e, ...rest } = result;
    return rest;
  }
  return { ...result, error: error.error, errorCode: error.errorCode, message: error.message, ...(error.recordErrors === undefined ? {} : { recordErrors: error.recordErrors }) };
}
