/**
 * The replicas a broker hosts, as Kafka's `ReplicaManager`: one partition actor and log per
 * replica the metadata image assigns to this broker, made leader or follower as the image says,
 * with one {@link ReplicaFetcher} per leader broker for the partitions it follows. A replica
 * whose log cannot be opened, or whose storage fails later, goes offline on this broker (requests
 * for it get KAFKA_STORAGE_ERROR) until the process restarts, as Kafka's failed log directories.
 * Also the periodic work over every hosted replica: the ISR check, retention and flushes, and
 * producer-id expiry.
 */
import type { ActorRefFrom } from 'xstate';
import { createActor } from 'xstate';
import type { Clock, TimerHandle } from '../../clock.ts';
import { PartitionLog } from '../../log/partitionLog.ts';
import type { Storage } from '../../log/storage/storage.ts';
import type { Logger } from '../../logger.ts';
import { silentLogger } from '../../logger.ts';
import type { ClusterMetadataImage, FetchPartitionResult, PartitionMetadata, WireError } from '../../protocol/index.ts';
import { wireError } from '../../protocol/index.ts';
import { parseLogConfig } from '../../topicConfig.ts';
import type { Message, NodeId } from '../../transport/transport.ts';
import { brokerNode } from '../../transport/transport.ts';
import type { PartitionOffsets } from '../coordination/pendingLoads.ts';
import type { InspectionSink } from '../inspection.ts';
import { partitionMachine } from '../partition/partition.machine.ts';
import type { PartitionEmitted, PartitionEvent } from '../partition/partition.machine.ts';
import type { BrokerConfig } from './brokerConfig.ts';
import { openPartitionLog, takeOffline } from './logOpening.ts';
import type { OfflineLog } from './logOpening.ts';
import { ReplicaFetcher } from './replicaFetcher.ts';
import { dropStrayLog, recordTopicId } from './strayLogs.ts';
import { toWire } from '../../protocol/index.ts';

/** The actor of one hosted partition replica. */
export type PartitionActor = ActorRefFrom<typeof partitionMachine>;

/** What the replica manager needs of its broker. */
export interface ReplicaManagerContext {
  readonly brokerId: number;
  readonly storage: Storage;
  readonly clock: Clock;
  readonly config: BrokerConfig;
  readonly inspection: InspectionSink;
  readonly logger?: Logger | undefined;
  readonly send: (to: NodeId, message: Message) => void;
  readonly nextCorrelationId: () => number;
  /** The newest image the broker applied. */
  readonly image: () => ClusterMetadataImage | undefined;
  /** Whether the broker process is up. */
  readonly isRunning: () => boolean;
  /** Every event a partition actor emits. */
  readonly onPartitionEvent: (event: PartitionEmitted) => void;
}

/** See the module comment. */
export class ReplicaManager {
  private readonly partitions = new Map<string, PartitionActor>();
  private readonly logs = new Map<string, PartitionLog>();
  /** Partitions whose log could not be opened here: requests for them get KAFKA_STORAGE_ERROR. */
  private readonly offline = new Map<string, OfflineLog>();
  /** Replica fetchers by leader broker id. */
  private readonly fetchers = new Map<number, ReplicaFetcher>();
  private retentionTimer: TimerHandle | undefined;
  private isrTimer: TimerHandle | undefined;
  private producerExpiryTimer: TimerHandle | undefined;

  constructor(private readonly context: ReplicaManagerContext) {}

  // ------------------------------------------------------------------ metadata

  /**
   * Makes the hosted replicas match `image`: opens the logs and starts the actors of new
   * replicas, hands every hosted partition its leader or follower state, and stops and deletes
   * the replicas no longer assigned here.
   */
  apply(image: ClusterMetadataImage): void {
    const { context } = this;
    const logger = context.logger ?? silentLogger;
    const fenced = new Set(image.brokers.filter((b) => b.fenced).map((b) => b.id));
    const hosted = new Set<string>();
    for (const topic of Object.values(image.topics)) {
      for (const p of topic.partitions) {
        if (!p.replicas.includes(context.brokerId)) continue;
        const key = `${p.topic}-${p.partition}`;
        hosted.add(key);
        const config = parseLogConfig({ ...context.config.logDefaults, ...topic.config });
        let actor = this.partitions.get(key);
        if (actor === undefined) {
          // An offline log stays offline until the process restarts (as Kafka's failed log dirs).
          if (this.offline.has(key)) continue;
          // Never adopt the directory of a deleted topic of the same name (Kafka's topic_id check).
          if (!dropStrayLog(context.storage, key, topic.topicId, logger)) continue;
          const log = openPartitionLog({ brokerId: context.brokerId, storage: context.storage, clock: context.clock, inspection: context.inspection }, p.topic, p.partition, key, config);
          if (!(log instanceof PartitionLog)) {
            this.offline.set(key, log);
            for (const fetcher of this.fetchers.values()) fetcher.remove(p.topic, p.partition);
            continue;
          }
          recordTopicId(context.storage, key, topic.topicId, logger);
          this.logs.set(key, log);
          actor = createActor(partitionMachine, {
            input: { topic: p.topic, partition: p.partition, log, brokerId: context.brokerId, clock: context.clock, replicaLagTimeMaxMs: context.config.replicaLagTimeMaxMs },
            clock: context.clock,
            id: `partition:${key}@broker:${context.brokerId}`,
          });
          actor.on('*', (event) => context.onPartitionEvent(event as PartitionEmitted));
          // A storage failure inside the replica (retention, cleaning, a checkpoint) stops its actor:
          // the partition goes offline here instead of the error escaping as an uncaught exception.
          actor.subscribe({ error: (e) => this.partitionFailed(p.topic, p.partition, key, e) });
          context.inspection.track(actor);
          actor.start();
          this.partitions.set(key, actor);
        } else {
          this.logs.get(key)?.updateConfig(config);
        }
        this.applyPartition(actor, p, fenced);
      }
    }
    for (const key of [...this.offline.keys()]) if (!hosted.has(key)) this.offline.delete(key);
    for (const [key, actor] of [...this.partitions]) {
      if (hosted.has(key)) continue;
      const [topic, partition] = splitKey(key);
      for (const fetcher of this.fetchers.values()) fetcher.remove(topic, partition);
      actor.send({ type: 'stop' });
      actor.stop();
      this.partitions.delete(key);
      try {
        this.logs.get(key)?.deleteAll();
      } catch (e) {
        // The topic is gone either way: what is left on disk is reported, never thrown into the metadata path.
        context.inspection.notify({ type: '@samsa.log.deleteFailed', topic, partition, brokerId: context.brokerId, error: e instanceof Error ? e.message : String(e) });
      }
      this.logs.delete(key);
    }
    for (const [leader, fetcher] of [...this.fetchers]) {
      if (fetcher.size > 0) continue;
      fetcher.stop();
      this.fetchers.delete(leader);
    }
  }

  /**
   * Hands one partition's metadata to its replica: become (or stay) leader, or follow the leader
   * through that leader's replica fetcher (no fetching while the partition has no leader).
   */
  private applyPartition(actor: PartitionActor, p: PartitionMetadata, fenced: ReadonlySet<number>): void {
    const { context } = this;
    const state = { leaderEpoch: p.leaderEpoch, partitionEpoch: p.partitionEpoch, replicas: p.replicas, isr: p.isr, ineligible: p.replicas.filter((id) => fenced.has(id)) };
    for (const [leader, fetcher] of this.fetchers) if (leader !== p.leader) fetcher.remove(p.topic, p.partition);
    if (p.leader === context.brokerId) {
      actor.send({ type: 'become.leader', ...state });
      return;
    }
    actor.send({ type: 'become.follower', leader: p.leader, ...state });
    if (p.leader < 0) return;
    let fetcher = this.fetchers.get(p.leader);
    if (fetcher === undefined) {
      const leaderNode = brokerNode(p.leader);
      const config = context.config;
      fetcher = new ReplicaFetcher(p.leader, {
        brokerId: context.brokerId,
        clock: context.clock,
        settings: { waitMaxMs: config.replicaFetchWaitMaxMs, minBytes: config.replicaFetchMinBytes, maxBytes: config.replicaFetchMaxBytes, responseMaxBytes: config.replicaFetchResponseMaxBytes, backoffMs: config.replicaFetchBackoffMs, socketTimeoutMs: config.replicaSocketTimeoutMs },
        nextCorrelationId: context.nextCorrelationId,
        send: (request) => context.send(leaderNode, toWire(request)),
        logOf: (topic, partition) => this.logs.get(`${topic}-${partition}`),
        deliver: (topic, partition, event) => this.partitions.get(`${topic}-${partition}`)?.send(event),
      });
      this.fetchers.set(p.leader, fetcher);
    }
    fetcher.add(p.topic, p.partition, p.leaderEpoch);
  }

  // ------------------------------------------------------------------ failures

  /** A partition's actor failed (a storage error): the partition is offline on this broker, as Kafka's failed log dir. */
  private partitionFailed(topic: string, partition: number, key: string, error: unknown): void {
    const { context } = this;
    if (!context.isRunning()) return;
    this.partitions.delete(key);
    this.logs.get(key)?.abandon();
    this.logs.delete(key);
    for (const fetcher of this.fetchers.values()) fetcher.remove(topic, partition);
    this.offline.set(key, takeOffline({ brokerId: context.brokerId, storage: context.storage, clock: context.clock, inspection: context.inspection }, topic, partition, key, 'used', error));
  }

  /**
   * A replica's log failed an I/O operation (an append, a segment roll, a flush whose failure the
   * log keeps): as Kafka takes the log dir offline on an IOException, the partition goes offline
   * here. Deferred, since the replica's actor is still handling the event that failed.
   */
  storageFailed(topic: string, partition: number, message: string): void {
    const key = `${topic}-${partition}`;
    const actor = this.partitions.get(key);
    if (actor === undefined) return;
    this.context.clock.setTimeout(() => {
      if (this.partitions.get(key) !== actor) return;
      actor.stop();
      this.partitionFailed(topic, partition, key, new Error(message));
    }, 0);
  }

  // ------------------------------------------------------------------ lookups

  /**
   * The actor of a hosted partition, or the error a request for it gets: KAFKA_STORAGE_ERROR when
   * it is offline here, UNKNOWN_TOPIC_OR_PARTITION when the image has no such partition,
   * NOT_LEADER_OR_FOLLOWER when another broker hosts it.
   */
  actorFor(topic: string, partition: number): PartitionActor | WireError {
    const actor = this.partitions.get(`${topic}-${partition}`);
    if (actor !== undefined) return actor;
    const offline = this.offline.get(`${topic}-${partition}`);
    if (offline !== undefined) return offline.error;
    const known = this.context.image()?.topics[topic];
    if (known === undefined || partition < 0 || partition >= known.partitions.length) return wireError('UNKNOWN_TOPIC_OR_PARTITION', `topic-partition ${topic}-${partition} does not exist`);
    return wireError('NOT_LEADER_OR_FOLLOWER', `broker ${this.context.brokerId} does not host ${topic}-${partition}`);
  }

  /** The actor of a hosted partition, undefined when it is not hosted. */
  actorOf(topic: string, partition: number): PartitionActor | undefined {
    return this.partitions.get(`${topic}-${partition}`);
  }

  /** Hands an event to the actor of a hosted partition; dropped when it is not hosted. */
  deliver(topic: string, partition: number, event: PartitionEvent): void {
    this.partitions.get(`${topic}-${partition}`)?.send(event);
  }

  /** The log of a hosted partition. */
  logOf(topic: string, partition: number): PartitionLog | undefined {
    return this.logs.get(`${topic}-${partition}`);
  }

  /** The high watermark a hosted replica holds, undefined when not hosted. */
  highWatermarkOf(topic: string, partition: number): bigint | undefined {
    return (this.partitions.get(`${topic}-${partition}`)?.getSnapshot().context as { highWatermark?: bigint } | undefined)?.highWatermark;
  }

  /** Log end and high watermark of a local partition (-1 when it is not here): a coordinator's load waits on them. */
  logOffsets(topic: string, partition: number): PartitionOffsets {
    return { logEndOffset: this.logs.get(`${topic}-${partition}`)?.logEndOffset ?? -1n, highWatermark: this.highWatermarkOf(topic, partition) ?? -1n };
  }

  /** The partitions offline on this broker. */
  offlineLogs(): Iterable<OfflineLog> {
    return this.offline.values();
  }

  // ------------------------------------------------------------------ replica fetchers

  /** A `fetch.response` to one of this broker's replica fetchers. */
  onFetchResponse(correlationId: number, partitions: FetchPartitionResult[]): void {
    for (const fetcher of this.fetchers.values()) if (fetcher.owns(correlationId)) fetcher.onResponse(correlationId, partitions);
  }

  /** A replica fetch that can get no answer (its leader is unreachable). */
  onFetchFailure(correlationId: number): void {
    for (const fetcher of this.fetchers.values()) if (fetcher.owns(correlationId)) fetcher.onFailure(correlationId);
  }

  /** Leader broker `leaderId` went away: its fetcher fails over as on a closed connection. */
  onLeaderDisconnected(leaderId: number): void {
    this.fetchers.get(leaderId)?.onDisconnected();
  }

  /** A follower refused what its leader sent: the fetcher pauses that partition before asking again. */
  delayFetch(topic: string, partition: number): void {
    for (const fetcher of this.fetchers.values()) fetcher.delay(topic, partition);
  }

  // ------------------------------------------------------------------ periodic work

  /** Starts the periodic tasks: retention and flushes, producer-id expiry, the ISR check. */
  startTasks(): void {
    this.scheduleRetention();
    this.scheduleProducerExpiry();
    this.scheduleIsrCheck();
  }

  private scheduleRetention(): void {
    this.retentionTimer = this.context.clock.setTimeout(() => {
      for (const actor of this.partitions.values()) actor.send({ type: 'retention.tick' });
      for (const log of this.logs.values()) log.flushIfDue();
      this.scheduleRetention();
    }, this.context.config.logRetentionCheckIntervalMs);
  }

  /** Kafka's periodic producer-id expiry over every log this broker holds. */
  private scheduleProducerExpiry(): void {
    this.producerExpiryTimer = this.context.clock.setTimeout(() => {
      for (const log of this.logs.values()) log.removeExpiredProducers(this.context.config.producerIdExpirationMs);
      this.scheduleProducerExpiry();
    }, this.context.config.producerIdExpirationCheckIntervalMs);
  }

  /** Kafka's isr-expiration task: leaders drop followers that lag, every replica.lag.time.max.ms / 2. */
  private scheduleIsrCheck(): void {
    this.isrTimer = this.context.clock.setTimeout(() => {
      this.isrTimer = undefined;
      for (const actor of this.partitions.values()) actor.send({ type: 'isr.check' });
      this.scheduleIsrCheck();
    }, Math.max(1, Math.floor(this.context.config.replicaLagTimeMaxMs / 2)));
  }

  // ------------------------------------------------------------------ shutdown

  /** Stops the fetchers, the actors and the periodic tasks; the logs stay open for {@link crash} or {@link close}. */
  stop(): void {
    for (const fetcher of this.fetchers.values()) fetcher.stop();
    this.fetchers.clear();
    this.offline.clear();
    for (const actor of this.partitions.values()) actor.stop();
    this.partitions.clear();
    for (const timer of [this.retentionTimer, this.isrTimer, this.producerExpiryTimer]) if (timer !== undefined) this.context.clock.clearTimeout(timer);
    this.retentionTimer = undefined;
    this.isrTimer = undefined;
    this.producerExpiryTimer = undefined;
  }

  /** Drops every log as a crash does: nothing is flushed, storage keeps what it had. */
  crash(): void {
    for (const log of this.logs.values()) log.abandon();
    this.logs.clear();
  }

  /** Flushes and closes every log, so the next start skips recovery. */
  async close(): Promise<void> {
    await Promise.all([...this.logs.values()].map((log) => log.close()));
    this.logs.clear();
  }
}

function splitKey(key: string): [string, number] {
  const at = key.lastIndexOf('-');
  return [key.slice(0, at), Number(key.slice(at + 1))];
}
