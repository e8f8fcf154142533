/**
 * A broker node: registers with the controller and keeps its session alive with heartbeats,
 * hosts one partition actor per replica it is assigned, and answers client requests by fanning
 * them out to those actors and gathering the results into one response per request. For the
 * partitions it follows it runs one {@link ReplicaFetcher} per leader broker; for those it leads
 * it forwards ISR changes to the controller (AlterPartition) and checks follower lag every
 * `replica.lag.time.max.ms / 2`. Its lifecycle is the {@link brokerMachine}; its storage outlives
 * a crash, so `restart()` recovers every log from it as a real process would. A restarted process
 * registers as a new incarnation: the controller accepts it once the previous one's session has
 * expired (and fenced it), and the broker applies no metadata before it is registered, so a
 * restarted broker never acts on leadership it held before the crash.
 *
 * Metadata comes from the `__cluster_metadata` log, which the broker fetches from the quorum
 * leader as a Raft observer and replays, as a KRaft broker does. It applies the replayed image
 * only once it holds its own current registration, so it never acts on an image older than it.
 */
import type { Logger } from '../../logger.ts';
import { silentLogger } from '../../logger.ts';
import { assign, createActor, setup } from 'xstate';
import type { Actor, ActorRefFrom } from 'xstate';
import type { Clock, TimerHandle } from '../../clock.ts';
import { PartitionLog } from '../../log/partitionLog.ts';
import { parseLogConfig } from '../../topicConfig.ts';
import type { Storage } from '../../log/storage/storage.ts';
import type { Message, NodeId, Transport } from '../../transport/transport.ts';
import { brokerIdOf, brokerNode, controllerNode } from '../../transport/transport.ts';
import { partitionMachine } from '../partition/partition.machine.ts';
import type { PartitionEmitted, PartitionEvent } from '../partition/partition.machine.ts';
import type { AlterPartitionResponse, ClusterMetadataImage, FetchPartition, FetchPartitionResult, FetchRequest, PartitionMetadata, ProduceRequest } from '../../protocol/messages.ts';

/**
 * An idle follower's fetches reach its partition actor at least this many times per
 * `replica.lag.time.max.ms`, so the leader keeps seeing it caught up (see `idleFetchResult`).
 */
const IDLE_FOLLOWER_REFRESH_DIVISOR = 10;
import { wireError } from '../../protocol/messages.ts';
import type { WireError } from '../../protocol/messages.ts';
import type { PartitionOffsets } from '../coordinatorLoads.ts';
import type { InspectionSink } from '../inspection.ts';
import { GroupCoordinator } from '../groupCoordinator/coordinator.ts';
import type { GroupCoordinatorConfig } from '../groupCoordinator/groupState.ts';
import { OFFSETS_TOPIC, offsetsPartitionFor } from '../groupCoordinator/offsetsTopic.ts';

/** The internal topic transaction coordinators keep their state in. */
export const TRANSACTION_STATE_TOPIC = '__transaction_state';
import { controlBatchContent } from '../../record/controlRecords.ts';
import { decodeRecordBatch, isControlBatch, isTransactional, LOG_OVERHEAD } from '../../record/recordBatch.ts';
import type { OffsetsLogEntry } from '../groupCoordinator/coordinator.ts';
import { BROKER_SESSION_TIMEOUT_MS, quorumIdOf, quorumNodeOf, replayMetadata } from '../controller/controller.machine.ts';
import { emptyImage } from '../controller/metadata.ts';
import type { MetadataRecord } from '../controller/metadataRecords.ts';
import { createRaftDurableState, RaftNode } from '../controller/raft.ts';
import type { RaftMessage, RaftOutput } from '../controller/raft.ts';
import type { Random } from '../../random.ts';
import {
  REPLICA_FETCH_BACKOFF_MS,
  REPLICA_FETCH_MAX_BYTES,
  REPLICA_FETCH_MIN_BYTES,
  REPLICA_FETCH_RESPONSE_MAX_BYTES,
  REPLICA_FETCH_WAIT_MAX_MS,
  REPLICA_LAG_TIME_MAX_MS,
  REPLICA_SOCKET_TIMEOUT_MS,
} from '../partition/replication.ts';
import { ReplicaFetcher } from './replicaFetcher.ts';
import { openPartitionLog, takeOffline } from './logOpening.ts';
import type { OfflineLog } from './logOpening.ts';
import { dropStrayLog, recordTopicId } from './strayLogs.ts';
import { ProducerIdManager } from './producerIds.ts';
import { TransactionCoordinator } from '../txnCoordinator/txnCoordinator.ts';
import { PRODUCER_ID_EXPIRATION_CHECK_INTERVAL_MS, PRODUCER_ID_EXPIRATION_MS } from '../../log/producerState.ts';

/** Broker-level settings (Kafka broker config keys in comments). */
export interface BrokerConfig {
  /** `auto.create.topics.enable` (default true). */
  readonly autoCreateTopicsEnable: boolean;
  /** `num.partitions` for auto-created topics (default 1). */
  readonly numPartitions: number;
  /** `default.replication.factor` for auto-created topics (default 1). */
  readonly defaultReplicationFactor: number;
  /** `log.retention.check.interval.ms` (default 300000). */
  readonly logRetentionCheckIntervalMs: number;
  /** Topic config defaults for every log on this broker (Kafka keys). */
  readonly logDefaults: Readonly<Record<string, unknown>>;
  /** `offsets.topic.num.partitions` (default 50). */
  readonly offsetsTopicNumPartitions: number;
  /** Group coordinator settings under Kafka's keys (`group.initial.rebalance.delay.ms`, …). */
  readonly groupConfig: Partial<GroupCoordinatorConfig>;
  /**
   * `offsets.topic.replication.factor` (default 3). Kafka refuses to create `__consumer_offsets`
   * while fewer brokers are alive; samsa creates it with min(this, live brokers) replicas.
   */
  readonly offsetsTopicReplicationFactor: number;
  /** `offsets.commit.timeout.ms` (default 5000): how long a coordinator write waits for the ISR. */
  readonly offsetsCommitTimeoutMs: number;
  /** `replica.lag.time.max.ms` (default 30000): a follower not caught up for this long leaves the ISR. */
  readonly replicaLagTimeMaxMs: number;
  /** `replica.fetch.wait.max.ms` (default 500). */
  readonly replicaFetchWaitMaxMs: number;
  /** `replica.fetch.min.bytes` (default 1). */
  readonly replicaFetchMinBytes: number;
  /** `replica.fetch.max.bytes` per partition (default 1 MiB). */
  readonly replicaFetchMaxBytes: number;
  /** `replica.fetch.response.max.bytes` (default 10 MiB). */
  readonly replicaFetchResponseMaxBytes: number;
  /** `replica.fetch.backoff.ms` (default 1000). */
  readonly replicaFetchBackoffMs: number;
  /** `replica.socket.timeout.ms` (default 30000). */
  readonly replicaSocketTimeoutMs: number;
  /** `broker.heartbeat.interval.ms` (default 2000). */
  readonly brokerHeartbeatIntervalMs: number;
  /** `broker.session.timeout.ms` (default 9000), a controller setting: a broker silent this long is fenced. */
  readonly brokerSessionTimeoutMs: number;
  /** `controller.socket.timeout.ms` (default 30000): an AlterPartition without an answer this long is sent again. */
  readonly controllerSocketTimeoutMs: number;
  /** `producer.id.expiration.ms` (default 86400000): a producer idle this long is forgotten by the logs. */
  readonly producerIdExpirationMs: number;
  /** `producer.id.expiration.check.interval.ms` (default 600000). */
  readonly producerIdExpirationCheckIntervalMs: number;
  /** `transaction.state.log.num.partitions` (default 50). */
  readonly transactionStateLogNumPartitions: number;
  /** `transaction.state.log.replication.factor` (default 3; samsa takes min(this, live brokers), as for offsets). */
  readonly transactionStateLogReplicationFactor: number;
  /** `transaction.state.log.min.isr` (default 2, capped at the replicas the topic gets). */
  readonly transactionStateLogMinIsr: number;
  /** `transaction.max.timeout.ms` (default 900000): the largest `transaction.timeout.ms` a producer may ask for. */
  readonly transactionMaxTimeoutMs: number;
  /** `transactional.id.expiration.ms` (default 604800000): an idle transactional id is forgotten. */
  readonly transactionalIdExpirationMs: number;
  /** `transaction.abort.timed.out.transaction.cleanup.interval.ms` (default 10000). */
  readonly transactionAbortTimedOutTransactionCleanupIntervalMs: number;
  /** `transaction.remove.expired.transaction.cleanup.interval.ms` (default 3600000). */
  readonly transactionRemoveExpiredTransactionCleanupIntervalMs: number;
}

/** Kafka's defaults for {@link BrokerConfig}. */
export const BROKER_CONFIG_DEFAULTS: BrokerConfig = {
  autoCreateTopicsEnable: true,
  numPartitions: 1,
  defaultReplicationFactor: 1,
  logRetentionCheckIntervalMs: 300_000,
  logDefaults: {},
  offsetsTopicNumPartitions: 50,
  groupConfig: {},
  offsetsTopicReplicationFactor: 3,
  offsetsCommitTimeoutMs: 5_000,
  replicaLagTimeMaxMs: REPLICA_LAG_TIME_MAX_MS,
  replicaFetchWaitMaxMs: REPLICA_FETCH_WAIT_MAX_MS,
  replicaFetchMinBytes: REPLICA_FETCH_MIN_BYTES,
  replicaFetchMaxBytes: REPLICA_FETCH_MAX_BYTES,
  replicaFetchResponseMaxBytes: REPLICA_FETCH_RESPONSE_MAX_BYTES,
  replicaFetchBackoffMs: REPLICA_FETCH_BACKOFF_MS,
  replicaSocketTimeoutMs: REPLICA_SOCKET_TIMEOUT_MS,
  brokerHeartbeatIntervalMs: 2_000,
  brokerSessionTimeoutMs: BROKER_SESSION_TIMEOUT_MS,
  controllerSocketTimeoutMs: 30_000,
  producerIdExpirationMs: PRODUCER_ID_EXPIRATION_MS,
  producerIdExpirationCheckIntervalMs: PRODUCER_ID_EXPIRATION_CHECK_INTERVAL_MS,
  transactionStateLogNumPartitions: 50,
  transactionStateLogReplicationFactor: 3,
  transactionStateLogMinIsr: 2,
  transactionMaxTimeoutMs: 900_000,
  transactionalIdExpirationMs: 604_800_000,
  transactionAbortTimedOutTransactionCleanupIntervalMs: 10_000,
  transactionRemoveExpiredTransactionCleanupIntervalMs: 3_600_000,
};

/** What a broker is created with. */
export interface BrokerOptions {
  readonly id: number;
  readonly storage: Storage;
  readonly clock: Clock;
  readonly transport: Transport;
  /** Every controller of the quorum; requests go to the active one, found by NOT_CONTROLLER hints. */
  readonly controllers: readonly NodeId[];
  readonly config: BrokerConfig;
  readonly inspection: InspectionSink;
  /** Seeded source for the metadata observer (which voter to ask first). */
  readonly random: Random;
  /** The cluster id this broker was formatted with (Kafka's meta.properties). */
  readonly clusterId: string;
  /** Where the broker logs recovery, elections, fencing and errors it handles itself (default: silent). */
  readonly logger?: Logger;
}

type PartitionActor = ActorRefFrom<typeof partitionMachine>;

interface Pending {
  readonly kind: 'produce' | 'fetch' | 'listOffsets' | 'deleteRecords' | 'writeTxnMarkers';
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
}

/** An AlterPartition this broker sent for one of its leader partitions. */
interface AlterInFlight {
  readonly topic: string;
  readonly partition: number;
  readonly basedOnPartitionEpoch: number;
  readonly timer: TimerHandle;
}

/** Kafka's GroupMetadataManager mapping of append errors to what a coordinator answers. */
const COORDINATOR_APPEND_ERRORS: Readonly<Record<string, 'COORDINATOR_NOT_AVAILABLE' | 'NOT_COORDINATOR' | 'INVALID_COMMIT_OFFSET_SIZE'>> = {
  NOT_ENOUGH_REPLICAS: 'COORDINATOR_NOT_AVAILABLE',
  NOT_ENOUGH_REPLICAS_AFTER_APPEND: 'COORDINATOR_NOT_AVAILABLE',
  REQUEST_TIMED_OUT: 'COORDINATOR_NOT_AVAILABLE',
  UNKNOWN_TOPIC_OR_PARTITION: 'COORDINATOR_NOT_AVAILABLE',
  NOT_LEADER_OR_FOLLOWER: 'NOT_COORDINATOR',
  KAFKA_STORAGE_ERROR: 'NOT_COORDINATOR',
  MESSAGE_TOO_LARGE: 'INVALID_COMMIT_OFFSET_SIZE',
  RECORD_LIST_TOO_LARGE: 'INVALID_COMMIT_OFFSET_SIZE',
  INVALID_FETCH_SIZE: 'INVALID_COMMIT_OFFSET_SIZE',
};

interface ParkedFetch {
  readonly request: FetchRequest;
  readonly from: NodeId;
  readonly deadline: number;
  timer: TimerHandle | undefined;
}

/** No records in a fetch answer. */
const EMPTY: readonly Uint8Array[] = [];

/** Lifecycle of a broker: `running` until crashed or stopped. */
export const brokerMachine = setup({
  types: {
    context: {} as { readonly brokerId: number; imageVersion: number },
    input: {} as { brokerId: number },
    events: {} as { type: 'metadata.applied'; version: number } | { type: 'broker.crash' } | { type: 'broker.stop' },
  },
}).createMachine({
  id: 'broker',
  context: ({ input }) => ({ brokerId: input.brokerId, imageVersion: -1 }),
  initial: 'registering',
  states: {
    registering: { on: { 'metadata.applied': { target: 'running', actions: assign({ imageVersion: ({ event }) => event.version }) } } },
    running: { on: { 'metadata.applied': { actions: assign({ imageVersion: ({ event }) => event.version }) } } },
    crashed: { type: 'final' },
    stopped: { type: 'final' },
  },
  on: { 'broker.crash': { target: '.crashed' }, 'broker.stop': { target: '.stopped' } },
});

/** One broker. See the module comment. */
export class Broker {
  readonly id: number;
  readonly node: NodeId;
  private actor: Actor<typeof brokerMachine> | undefined;
  private unregister: (() => void) | undefined;
  private image: ClusterMetadataImage | undefined;
  private readonly partitions = new Map<string, PartitionActor>();
  private readonly logs = new Map<string, PartitionLog>();
  /** Partitions whose log could not be opened here: requests for them get KAFKA_STORAGE_ERROR. */
  private readonly offline = new Map<string, OfflineLog>();
  private readonly pending = new Map<number, Pending>();
  private readonly parked = new Map<number, ParkedFetch>();
  private nextRequestId = 1;
  private retentionTimer: TimerHandle | undefined;
  private registrationTimer: TimerHandle | undefined;
  private readonly autoCreating = new Set<string>();
  private coordinator: GroupCoordinator | undefined;
  private txnCoordinator: TransactionCoordinator | undefined;
  private readonly internalWaiters = new Map<number, (error: WireError | undefined) => void>();
  /** Set once the controller accepted this process's registration; metadata is applied only then. */
  private brokerEpoch: number | undefined;
  private incarnationId = '';
  private starts = 0;
  private nextCorrelationId = 1;
  private heartbeatTimer: TimerHandle | undefined;
  private isrTimer: TimerHandle | undefined;
  /** Replica fetchers by leader broker id. */
  private readonly fetchers = new Map<number, ReplicaFetcher>();
  private readonly alterInFlight = new Map<number, AlterInFlight>();
  private readonly alterRetries = new Set<TimerHandle>();
  /** Index in `controllers` of the controller believed active. */
  private controllerIndex = 0;
  /** Whether a controller answered since the last registration or heartbeat was sent. */
  private controllerAnswered = true;
  /** This process's replica of the metadata log, as a Raft observer. */
  private metadataLog: RaftNode<MetadataRecord> | undefined;
  private metadataTimer: TimerHandle | undefined;
  /** The image replayed from the committed metadata log (applied once registered). */
  private replayed: ClusterMetadataImage | undefined;
  /** Auto-create requests in flight: correlation id → topic names. */
  private readonly autoCreateRequests = new Map<number, { readonly names: readonly string[]; readonly timer: TimerHandle }>();
  private producerExpiryTimer: TimerHandle | undefined;
  private readonly producerIds: ProducerIdManager;
  /** Per `topic-partition:replica`, the last follower fetch a leader partition's actor handled. */
  private readonly followerFetches = new Map<string, { fetchOffset: bigint; leaderEpoch: number; at: number }>();

  constructor(private readonly options: BrokerOptions) {
    this.id = options.id;
    this.node = brokerNode(options.id);
    this.producerIds = new ProducerIdManager({
      clock: options.clock,
      nextCorrelationId: () => this.nextCorrelationId++,
      requestBlock: (correlationId) => this.send(this.controller, { type: 'allocateProducerIds.request', correlationId, brokerId: this.id, brokerEpoch: this.brokerEpoch ?? -1 }),
    });
  }

  /** Whether the broker process is up. */
  get running(): boolean {
    return this.actor !== undefined;
  }

  /** The lifecycle actor's state value ('registering' | 'running'), or 'down'. */
  get state(): string {
    return this.actor === undefined ? 'down' : String(this.actor.getSnapshot().value);
  }

  /** Starts the process: joins the network, registers with the controller, opens logs as metadata arrives. */
  start(): void {
    if (this.actor !== undefined) return;
    // A new process, a new incarnation: the controller tells it apart from the one that crashed.
    this.starts++;
    this.incarnationId = `broker-${this.id}-${this.options.clock.now()}-${this.starts}`;
    this.actor = createActor(brokerMachine, { input: { brokerId: this.id }, clock: this.options.clock, id: `broker:${this.id}` });
    this.options.inspection.track(this.actor);
    this.actor.start();
    this.coordinator = new GroupCoordinator({
      brokerId: this.id,
      clock: this.options.clock,
      inspection: this.options.inspection,
      offsetsPartitions: this.options.config.offsetsTopicNumPartitions,
      groupConfig: this.options.config.groupConfig,
      send: (to, message) => this.send(to, message),
      appendOffsets: (partition, records, done) => this.appendInternal(OFFSETS_TOPIC, partition, records, done),
      readOffsets: (partition) => this.readAll(OFFSETS_TOPIC, partition),
      offsetsLogOffsets: (partition) => this.logOffsets(OFFSETS_TOPIC, partition),
    });
    const config = this.options.config;
    this.txnCoordinator = new TransactionCoordinator({
      brokerId: this.id,
      clock: this.options.clock,
      inspection: this.options.inspection,
      config: { 'transaction.max.timeout.ms': config.transactionMaxTimeoutMs, 'transactional.id.expiration.ms': config.transactionalIdExpirationMs },
      abortCheckIntervalMs: config.transactionAbortTimedOutTransactionCleanupIntervalMs,
      expiryCheckIntervalMs: config.transactionRemoveExpiredTransactionCleanupIntervalMs,
      send: (to, message) => this.send(to, message),
      appendState: (partition, records, done) => this.appendInternal(TRANSACTION_STATE_TOPIC, partition, records, done),
      readState: (partition) => [...this.readAll(TRANSACTION_STATE_TOPIC, partition)].flatMap((e) => (e.kind === 'record' ? [e.record] : [])),
      stateOffsets: (partition) => this.logOffsets(TRANSACTION_STATE_TOPIC, partition),
      newProducerId: () => this.producerIds.tryGenerate(),
      leaderOf: (topic, partition) => this.image?.topics[topic]?.partitions[partition]?.leader ?? -1,
      stateTopicPartitions: () => this.image?.topics[TRANSACTION_STATE_TOPIC]?.partitions.length ?? 0,
      offsetsPartitionFor: (groupId) => offsetsPartitionFor(groupId, this.image?.topics[OFFSETS_TOPIC]?.partitions.length ?? config.offsetsTopicNumPartitions),
      nextCorrelationId: () => this.nextCorrelationId++,
    });
    this.unregister = this.options.transport.register(this.node, (message, from) => this.onMessage(message, from));
    this.startMetadataLog();
    this.register();
    this.scheduleRetention();
    this.scheduleProducerExpiry();
    this.scheduleIsrCheck();
  }

  /** Kills the process: in-memory state is lost, nothing is flushed; storage survives. */
  crash(): void {
    if (this.actor === undefined) return;
    this.options.inspection.notify({ type: '@samsa.broker.crashed', brokerId: this.id });
    this.teardown();
    for (const log of this.logs.values()) log.abandon();
    this.logs.clear();
    this.actor.send({ type: 'broker.crash' });
    this.actor.stop();
    this.actor = undefined;
  }

  /** Stops cleanly: logs are flushed and closed so the next start skips recovery. */
  async stop(): Promise<void> {
    if (this.actor === undefined) return;
    this.teardown();
    await Promise.all([...this.logs.values()].map((log) => log.close()));
    this.logs.clear();
    this.actor.send({ type: 'broker.stop' });
    this.actor.stop();
    this.actor = undefined;
  }

  /** The log of a hosted partition (for tests and tooling). */
  logOf(topic: string, partition: number): PartitionLog | undefined {
    return this.logs.get(`${topic}-${partition}`);
  }

  /** A partition's actor failed (a storage error): the partition is offline on this broker, as Kafka's failed log dir. */
  private partitionFailed(topic: string, partition: number, key: string, error: unknown): void {
    if (this.actor === undefined) return;
    this.partitions.delete(key);
    this.logs.get(key)?.abandon();
    this.logs.delete(key);
    for (const fetcher of this.fetchers.values()) fetcher.remove(topic, partition);
    this.offline.set(key, takeOffline({ brokerId: this.id, storage: this.options.storage, clock: this.options.clock, inspection: this.options.inspection }, topic, partition, key, 'used', error));
  }

  /**
   * A replica's log failed an I/O operation (an append, a segment roll, a flush whose failure the
   * log keeps): as Kafka takes the log dir offline on an IOException, the partition goes offline
   * here. Deferred, since the replica's actor is still handling the event that failed.
   */
  private storageFailed(topic: string, partition: number, message: string): void {
    const key = `${topic}-${partition}`;
    const actor = this.partitions.get(key);
    if (actor === undefined) return;
    this.options.clock.setTimeout(() => {
      if (this.partitions.get(key) !== actor) return;
      actor.stop();
      this.partitionFailed(topic, partition, key, new Error(message));
    }, 0);
  }

  /** Log end and high watermark of a local partition (-1 when it is not here): a coordinator's load waits on them. */
  private logOffsets(topic: string, partition: number): PartitionOffsets {
    return { logEndOffset: this.logs.get(`${topic}-${partition}`)?.logEndOffset ?? -1n, highWatermark: this.highWatermarkOf(topic, partition) ?? -1n };
  }

  /** The high watermark a hosted replica holds (for tests and tooling), undefined when not hosted. */
  highWatermarkOf(topic: string, partition: number): bigint | undefined {
    return (this.partitions.get(`${topic}-${partition}`)?.getSnapshot().context as { highWatermark?: bigint } | undefined)?.highWatermark;
  }

  /** The newest metadata image this broker applied (for tests and tooling). */
  get metadata(): ClusterMetadataImage | undefined {
    return this.image;
  }

  private teardown(): void {
    this.coordinator?.stop();
    this.coordinator = undefined;
    this.txnCoordinator?.stop();
    this.txnCoordinator = undefined;
    this.internalWaiters.clear();
    this.unregister?.();
    this.unregister = undefined;
    for (const p of this.parked.values()) if (p.timer !== undefined) this.options.clock.clearTimeout(p.timer);
    this.parked.clear();
    this.pending.clear();
    for (const fetcher of this.fetchers.values()) fetcher.stop();
    this.fetchers.clear();
    for (const a of this.alterInFlight.values()) this.options.clock.clearTimeout(a.timer);
    this.alterInFlight.clear();
    for (const timer of this.alterRetries) this.options.clock.clearTimeout(timer);
    this.alterRetries.clear();
    this.followerFetches.clear();
    this.offline.clear();
    for (const actor of this.partitions.values()) actor.stop();
    this.partitions.clear();
    for (const timer of [this.retentionTimer, this.registrationTimer, this.heartbeatTimer, this.isrTimer, this.producerExpiryTimer]) if (timer !== undefined) this.options.clock.clearTimeout(timer);
    this.producerExpiryTimer = undefined;
    this.producerIds.stop();
    this.retentionTimer = undefined;
    this.registrationTimer = undefined;
    this.heartbeatTimer = undefined;
    this.isrTimer = undefined;
    this.brokerEpoch = undefined;
    this.image = undefined;
    this.autoCreating.clear();
    for (const pending of this.autoCreateRequests.values()) this.options.clock.clearTimeout(pending.timer);
    this.autoCreateRequests.clear();
    if (this.metadataTimer !== undefined) this.options.clock.clearTimeout(this.metadataTimer);
    this.metadataTimer = undefined;
    this.metadataLog = undefined;
    this.replayed = undefined;
    this.controllerAnswered = true;
  }

  /** The controller believed active. */
  private get controller(): NodeId {
    return this.options.controllers[this.controllerIndex % this.options.controllers.length] as NodeId;
  }

  /**
   * Sends a session request (registration, heartbeat) to the active controller. When the previous
   * one went unanswered the controller may be down or cut off: try the next one, as Kafka's
   * controller channel re-discovers the active controller after a disconnect.
   */
  private sendSessionRequest(message: Message): void {
    if (!this.controllerAnswered) this.nextController();
    this.controllerAnswered = false;
    this.send(this.controller, message);
  }

  private nextController(): void {
    this.controllerIndex = (this.controllerIndex + 1) % this.options.controllers.length;
  }

  /** Points at controller `node` when it is one of the quorum. */
  private useController(node: NodeId): void {
    const at = this.options.controllers.indexOf(node);
    if (at >= 0) this.controllerIndex = at;
  }

  /** Bookkeeping for any message from a controller: it answered; NOT_CONTROLLER points at the active one. */
  private fromController(message: Message): void {
    this.controllerAnswered = true;
    if (message.error === 'NOT_CONTROLLER') {
      if (typeof message.controllerId === 'number' && message.controllerId >= 0) this.useController(controllerNode(message.controllerId));
      else this.nextController();
    }
  }

  private register(): void {
    if (this.registrationTimer !== undefined) this.options.clock.clearTimeout(this.registrationTimer);
    this.sendSessionRequest({ type: 'brokerRegistration.request', correlationId: this.nextCorrelationId++, brokerId: this.id, incarnationId: this.incarnationId });
    // Re-send until the controller accepts it (it may be unreachable, or still hold the session
    // of the process that crashed: DUPLICATE_BROKER_REGISTRATION until that session expires).
    this.registrationTimer = this.options.clock.setTimeout(() => {
      this.registrationTimer = undefined;
      if (this.actor !== undefined && this.brokerEpoch === undefined) this.register();
    }, 1000);
  }

  private onRegistered(message: Message): void {
    if (this.actor === undefined) return;
    if (typeof message.error === 'string' || typeof message.brokerEpoch !== 'number') return; // the timer registers again
    if (this.registrationTimer !== undefined) this.options.clock.clearTimeout(this.registrationTimer);
    this.registrationTimer = undefined;
    const first = this.brokerEpoch === undefined;
    this.brokerEpoch = message.brokerEpoch;
    this.applyReplayed();
    if (first) this.scheduleHeartbeat();
  }

  // ------------------------------------------------------------------ metadata log (observer)

  /** A fresh observer replica: it fetches the whole log (or the leader's snapshot and the rest). */
  private startMetadataLog(): void {
    const voters = this.options.controllers.map((node) => quorumIdOf(node) as number);
    this.replayed = emptyImage(this.options.clusterId, -1);
    this.metadataLog = new RaftNode<MetadataRecord>({ id: quorumIdOf(this.node) as number, voters, observer: true, random: this.options.random.fork(), durable: createRaftDurableState<MetadataRecord>() });
    this.onMetadataOutput(this.metadataLog.start(this.options.clock.now()));
  }

  private onMetadataOutput(output: RaftOutput<MetadataRecord>): void {
    const log = this.metadataLog;
    if (log === undefined || this.actor === undefined) return;
    for (const { to, message } of output.messages) this.send(quorumNodeOf(to), { type: 'quorum.message', message });
    if (output.leaderChange?.leaderId !== undefined) this.useController(controllerNode(output.leaderChange.leaderId));
    if (output.committed.length > 0 || output.loadSnapshot !== undefined) {
      this.replayed = replayMetadata(this.replayed ?? emptyImage(this.options.clusterId, -1), output);
      this.applyReplayed();
    }
    if (this.metadataTimer !== undefined) this.options.clock.clearTimeout(this.metadataTimer);
    this.metadataTimer = undefined;
    const next = output.nextDeadlineMs;
    if (next !== undefined) {
      this.metadataTimer = this.options.clock.setTimeout(() => {
        this.metadataTimer = undefined;
        if (this.metadataLog === log) this.onMetadataOutput(log.tick(this.options.clock.now()));
      }, Math.max(0, next - this.options.clock.now()));
    }
  }

  /**
   * Applies the replayed image once this process is registered and the image holds that
   * registration: an older image may still name the crashed incarnation as a partition leader.
   */
  private applyReplayed(): void {
    if (this.brokerEpoch === undefined) return;
    const image = this.replayed;
    const own = image?.brokers.find((b) => b.id === this.id);
    if (image === undefined || own === undefined || own.epoch !== this.brokerEpoch) return;
    this.applyImage(image);
  }

  /** Keeps the session alive: one heartbeat every `broker.heartbeat.interval.ms`. */
  private scheduleHeartbeat(): void {
    this.heartbeatTimer = this.options.clock.setTimeout(() => {
      this.heartbeatTimer = undefined;
      if (this.actor === undefined || this.brokerEpoch === undefined) return;
      this.sendSessionRequest({ type: 'brokerHeartbeat.request', correlationId: this.nextCorrelationId++, brokerId: this.id, brokerEpoch: this.brokerEpoch, currentMetadataVersion: this.replayed?.version ?? -1 });
      this.scheduleHeartbeat();
    }, this.options.config.brokerHeartbeatIntervalMs);
  }

  private onHeartbeatResponse(message: Message): void {
    // The controller no longer knows this registration (e.g. it lost its state): register again.
    if (message.error === 'STALE_BROKER_EPOCH' || message.error === 'BROKER_ID_NOT_REGISTERED') this.register();
  }

  /** Kafka's isr-expiration task: leaders drop followers that lag, every replica.lag.time.max.ms / 2. */
  private scheduleIsrCheck(): void {
    this.isrTimer = this.options.clock.setTimeout(() => {
      this.isrTimer = undefined;
      for (const actor of this.partitions.values()) actor.send({ type: 'isr.check' });
      this.scheduleIsrCheck();
    }, Math.max(1, Math.floor(this.options.config.replicaLagTimeMaxMs / 2)));
  }

  private scheduleRetention(): void {
    this.retentionTimer = this.options.clock.setTimeout(() => {
      for (const actor of this.partitions.values()) actor.send({ type: 'retention.tick' });
      for (const log of this.logs.values()) log.flushIfDue();
      this.scheduleRetention();
    }, this.options.config.logRetentionCheckIntervalMs);
  }

  /** Kafka's periodic producer-id expiry over every log this broker holds. */
  private scheduleProducerExpiry(): void {
    this.producerExpiryTimer = this.options.clock.setTimeout(() => {
      for (const log of this.logs.values()) log.removeExpiredProducers(this.options.config.producerIdExpirationMs);
      this.scheduleProducerExpiry();
    }, this.options.config.producerIdExpirationCheckIntervalMs);
  }

  private send(to: NodeId, message: Message): void {
    this.options.transport.send(this.node, to, message);
  }

  private onMessage(message: Message, from: NodeId): void {
    if (this.brokerEpoch === undefined && message.type.endsWith('.request')) {
      // Kafka opens its listeners only once the broker is registered and unfenced: until then a
      // client (or another broker's fetcher) is refused, and backs off as from ECONNREFUSED.
      if (message.correlationId !== undefined) this.send(from, { type: 'transport.unreachable', correlationId: message.correlationId, node: this.node });
      return;
    }
    if (from.startsWith('controller:') && message.type !== 'quorum.message') this.fromController(message);
    switch (message.type) {
      case 'createTopics.response':
        this.onAutoCreateResponse(message);
        return;
      case 'brokerRegistration.response':
        this.onRegistered(message);
        return;
      case 'quorum.message': {
        const sender = quorumIdOf(from);
        if (sender !== undefined && this.metadataLog !== undefined) this.onMetadataOutput(this.metadataLog.receive(sender, message.message as RaftMessage<MetadataRecord>, this.options.clock.now()));
        return;
      }
      case 'brokerHeartbeat.response':
        this.onHeartbeatResponse(message);
        return;
      case 'alterPartition.response':
        this.onAlterPartitionResponse(message as unknown as AlterPartitionResponse);
        return;
      case 'fetch.response':
        for (const fetcher of this.fetchers.values()) if (fetcher.owns(message.correlationId as number)) fetcher.onResponse(message.correlationId as number, message.partitions as FetchPartitionResult[]);
        return;
      case 'transport.disconnected':
        this.onDisconnected(message.node as NodeId);
        return;
      case 'transport.unreachable':
        // A controller that is down: the next request goes to another one.
        if (message.node === this.controller) this.nextController();
        this.onUnreachable(message.correlationId as number);
        return;
      case 'metadata.request':
        this.answerMetadata(message, from);
        return;
      case 'produce.request':
        this.produce(message as unknown as ProduceRequest, from);
        return;
      case 'fetch.request':
        this.fetch(message as unknown as FetchRequest, from, true);
        return;
      case 'listOffsets.request':
        this.listOffsets(message, from);
        return;
      case 'deleteRecords.request':
        this.deleteRecords(message, from);
        return;
      case 'findCoordinator.request':
        this.findCoordinator(message, from);
        return;
      case 'initProducerId.request':
        if (typeof message.transactionalId === 'string') this.txnCoordinator?.handle(message, from);
        else this.initProducerId(message, from);
        return;
      case 'writeTxnMarkers.request':
        this.writeTxnMarkers(message, from);
        return;
      case 'allocateProducerIds.response':
        this.producerIds.onResponse(message);
        return;
      default:
        if (TransactionCoordinator.handles(message) && this.txnCoordinator !== undefined) {
          this.txnCoordinator.handle(message, from);
          return;
        }
        if (GroupCoordinator.handles(message.type) && this.coordinator !== undefined) {
          this.coordinator.handle(message, from);
          return;
        }
        // Never answer a response (e.g. the controller's createTopics.response to an auto-create):
        // answering it with an error made the controller answer back, forever.
        if (!message.type.endsWith('.request')) return;
        this.send(from, { type: `${message.type.replace(/\.request$/, '')}.response`, correlationId: message.correlationId, ...wireError('INVALID_REQUEST', `broker ${this.id} does not handle "${message.type}"`) });
    }
  }

  // ------------------------------------------------------------------ metadata

  private applyImage(image: ClusterMetadataImage): void {
    if (this.actor === undefined) return;
    if (this.image !== undefined && image.version <= this.image.version) return;
    this.image = image;
    const fenced = new Set(image.brokers.filter((b) => b.fenced).map((b) => b.id));
    const hosted = new Set<string>();
    for (const topic of Object.values(image.topics)) {
      for (const p of topic.partitions) {
        if (!p.replicas.includes(this.id)) continue;
        const key = `${p.topic}-${p.partition}`;
        hosted.add(key);
        const config = parseLogConfig({ ...this.options.config.logDefaults, ...topic.config });
        let actor = this.partitions.get(key);
        if (actor === undefined) {
          // An offline log stays offline until the process restarts (as Kafka's failed log dirs).
          if (this.offline.has(key)) continue;
          // Never adopt the directory of a deleted topic of the same name (Kafka's topic_id check).
          if (!dropStrayLog(this.options.storage, key, topic.topicId, this.options.logger ?? silentLogger)) continue;
          const log = openPartitionLog({ brokerId: this.id, storage: this.options.storage, clock: this.options.clock, inspection: this.options.inspection }, p.topic, p.partition, key, config);
          if (!(log instanceof PartitionLog)) {
            this.offline.set(key, log);
            for (const fetcher of this.fetchers.values()) fetcher.remove(p.topic, p.partition);
            continue;
          }
          recordTopicId(this.options.storage, key, topic.topicId, this.options.logger ?? silentLogger);
          this.logs.set(key, log);
          actor = createActor(partitionMachine, {
            input: { topic: p.topic, partition: p.partition, log, brokerId: this.id, clock: this.options.clock, replicaLagTimeMaxMs: this.options.config.replicaLagTimeMaxMs },
            clock: this.options.clock,
            id: `partition:${key}@broker:${this.id}`,
          });
          actor.on('*', (event) => this.onPartitionResult(event as PartitionEmitted));
          // A storage failure inside the replica (retention, cleaning, a checkpoint) stops its actor:
          // the partition goes offline here instead of the error escaping as an uncaught exception.
          actor.subscribe({ error: (e) => this.partitionFailed(p.topic, p.partition, key, e) });
          this.options.inspection.track(actor);
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
        this.options.inspection.notify({ type: '@samsa.log.deleteFailed', topic, partition, brokerId: this.id, error: e instanceof Error ? e.message : String(e) });
      }
      this.logs.delete(key);
    }
    for (const [leader, fetcher] of [...this.fetchers]) {
      if (fetcher.size > 0) continue;
      fetcher.stop();
      this.fetchers.delete(leader);
    }
    for (const name of this.autoCreating) if (image.topics[name] !== undefined) this.autoCreating.delete(name);
    const offsets = image.topics[OFFSETS_TOPIC];
    if (offsets !== undefined && this.coordinator !== undefined) {
      for (const p of offsets.partitions) {
        if (p.leader === this.id) this.coordinator.load(p.partition);
        else this.coordinator.unload(p.partition);
      }
    }
    // The coordinator epoch of a __transaction_state partition is its leader epoch.
    const txnState = image.topics[TRANSACTION_STATE_TOPIC];
    if (txnState !== undefined && this.txnCoordinator !== undefined) {
      for (const p of txnState.partitions) {
        if (p.leader === this.id) this.txnCoordinator.load(p.partition, p.leaderEpoch);
        else this.txnCoordinator.unload(p.partition);
      }
    }
    this.actor.send({ type: 'metadata.applied', version: image.version });
  }

  /**
   * Hands one partition's metadata to its replica: become (or stay) leader, or follow the leader
   * through that leader's replica fetcher (no fetching while the partition has no leader).
   */
  private applyPartition(actor: PartitionActor, p: PartitionMetadata, fenced: ReadonlySet<number>): void {
    const state = { leaderEpoch: p.leaderEpoch, partitionEpoch: p.partitionEpoch, replicas: p.replicas, isr: p.isr, ineligible: p.replicas.filter((id) => fenced.has(id)) };
    for (const [leader, fetcher] of this.fetchers) if (leader !== p.leader) fetcher.remove(p.topic, p.partition);
    if (p.leader === this.id) {
      actor.send({ type: 'become.leader', ...state });
      return;
    }
    actor.send({ type: 'become.follower', leader: p.leader, ...state });
    if (p.leader < 0) return;
    let fetcher = this.fetchers.get(p.leader);
    if (fetcher === undefined) {
      const leaderNode = brokerNode(p.leader);
      const config = this.options.config;
      fetcher = new ReplicaFetcher(p.leader, {
        brokerId: this.id,
        clock: this.options.clock,
        settings: { waitMaxMs: config.replicaFetchWaitMaxMs, minBytes: config.replicaFetchMinBytes, maxBytes: config.replicaFetchMaxBytes, responseMaxBytes: config.replicaFetchResponseMaxBytes, backoffMs: config.replicaFetchBackoffMs, socketTimeoutMs: config.replicaSocketTimeoutMs },
        nextCorrelationId: () => this.nextCorrelationId++,
        send: (request) => this.send(leaderNode, request as unknown as Message),
        logOf: (topic, partition) => this.logs.get(`${topic}-${partition}`),
        deliver: (topic, partition, event) => this.partitions.get(`${topic}-${partition}`)?.send(event),
      });
      this.fetchers.set(p.leader, fetcher);
    }
    fetcher.add(p.topic, p.partition, p.leaderEpoch);
  }

  private answerMetadata(message: Message, from: NodeId): void {
    const image = this.image;
    if (image === undefined) {
      this.send(from, { type: 'metadata.response', correlationId: message.correlationId, ...wireError('BROKER_NOT_AVAILABLE', `broker ${this.id} has no metadata yet`) });
      return;
    }
    const wanted = message.topics as string[] | undefined;
    if (wanted !== undefined && message.allowAutoTopicCreation === true && this.options.config.autoCreateTopicsEnable) {
      const missing = wanted.filter((t) => image.topics[t] === undefined && !this.autoCreating.has(t));
      if (missing.length > 0) {
        this.autoCreate({
          type: 'createTopics.request',
          topics: missing.map((name) => ({ name, numPartitions: this.options.config.numPartitions, replicationFactor: Math.min(this.options.config.defaultReplicationFactor, liveBrokers(image)) })),
        });
      }
    }
    // Kafka answers a missing topic with LEADER_NOT_AVAILABLE while auto-creating it, else UNKNOWN_TOPIC_OR_PARTITION.
    const topicErrors: Record<string, string> = {};
    for (const t of wanted ?? []) if (image.topics[t] === undefined) topicErrors[t] = this.autoCreating.has(t) ? 'LEADER_NOT_AVAILABLE' : 'UNKNOWN_TOPIC_OR_PARTITION';
    // Not in Kafka's response: the partitions offline on this broker, so that createTopic can report them.
    const storageErrors = [...this.offline.values()].map((o) => ({ topic: o.topic, partition: o.partition, path: o.path, message: o.error.message }));
    this.send(from, { type: 'metadata.response', correlationId: message.correlationId, image, topicErrors, ...(storageErrors.length === 0 ? {} : { storageErrors }) });
  }

  /**
   * Asks the active controller to create topics; a refusal, or no answer within
   * `controller.socket.timeout.ms` (the controller crashed with the request), lets the next
   * metadata or FindCoordinator request ask again.
   */
  private autoCreate(request: { type: 'createTopics.request'; topics: ReadonlyArray<{ name: string; [field: string]: unknown }> }): void {
    const correlationId = this.nextCorrelationId++;
    const names = request.topics.map((t) => t.name);
    for (const name of names) this.autoCreating.add(name);
    const timer = this.options.clock.setTimeout(() => {
      if (!this.autoCreateRequests.delete(correlationId)) return;
      for (const name of names) this.autoCreating.delete(name);
    }, this.options.config.controllerSocketTimeoutMs);
    this.autoCreateRequests.set(correlationId, { names, timer });
    this.send(this.controller, { ...request, correlationId });
  }

  private onAutoCreateResponse(message: Message): void {
    const pending = this.autoCreateRequests.get(message.correlationId as number);
    if (pending === undefined) return;
    this.autoCreateRequests.delete(message.correlationId as number);
    this.options.clock.clearTimeout(pending.timer);
    const { names } = pending;
    const results = (message.results as Array<{ name: string; error?: string }> | undefined) ?? [];
    for (const name of names) {
      const error = typeof message.error === 'string' ? message.error : results.find((r) => r.name === name)?.error;
      // Created (or created by someone else): the metadata push clears it. Anything else: ask again later.
      if (error !== undefined && error !== 'TOPIC_ALREADY_EXISTS') this.autoCreating.delete(name);
    }
  }

  /**
   * FindCoordinator: the leader of the internal partition that holds the key — a group's
   * `__consumer_offsets` partition or a transactional id's `__transaction_state` partition. The
   * topic is created on first use, as Kafka does; the client retries until it has a leader.
   */
  private findCoordinator(message: Message, from: NodeId): void {
    const reply = (body: Record<string, unknown>): void => this.send(from, { type: 'findCoordinator.response', correlationId: message.correlationId, ...body });
    const image = this.image;
    const key = message.key;
    const transaction = message.keyType === 'transaction';
    if (typeof key !== 'string' || key.length === 0) {
      reply({ ...wireError(transaction ? 'INVALID_REQUEST' : 'INVALID_GROUP_ID', `${transaction ? 'transactional' : 'group'} id must be a non-empty string, got ${JSON.stringify(key)}`), coordinator: -1 });
      return;
    }
    if (image === undefined) {
      reply({ ...wireError('COORDINATOR_NOT_AVAILABLE', `broker ${this.id} has no metadata yet`), coordinator: -1 });
      return;
    }
    const config = this.options.config;
    const topicName = transaction ? TRANSACTION_STATE_TOPIC : OFFSETS_TOPIC;
    const internal = image.topics[topicName];
    if (internal === undefined) {
      if (!this.autoCreating.has(topicName)) {
        // Kafka refuses while fewer than the configured replication factor of brokers are alive;
        // samsa takes as many replicas as there are live brokers, up to that factor.
        const replicas = Math.max(1, Math.min(transaction ? config.transactionStateLogReplicationFactor : config.offsetsTopicReplicationFactor, liveBrokers(image)));
        const topic = transaction
          ? { name: topicName, numPartitions: config.transactionStateLogNumPartitions, replicationFactor: replicas, internal: true, config: { 'cleanup.policy': 'compact', 'segment.bytes': 104857600, 'min.insync.replicas': Math.min(config.transactionStateLogMinIsr, replicas) } }
          : { name: topicName, numPartitions: config.offsetsTopicNumPartitions, replicationFactor: replicas, internal: true, config: { 'cleanup.policy': 'compact', 'segment.bytes': 104857600 } };
        this.autoCreate({ type: 'createTopics.request', topics: [topic] });
      }
      reply({ ...wireError('COORDINATOR_NOT_AVAILABLE', `the ${topicName} topic is being created`), coordinator: -1 });
      return;
    }
    const partition = offsetsPartitionFor(key, internal.partitions.length);
    const leader = internal.partitions[partition]?.leader ?? -1;
    if (leader < 0) reply({ ...wireError('COORDINATOR_NOT_AVAILABLE', `${topicName} partition ${partition} has no leader`), coordinator: -1 });
    else reply({ coordinator: leader });
  }

  /**
   * Appends to a local partition this broker leads with acks=all, and calls `done` once every ISR
   * member has the write (or with the error the coordinator answers, mapped as Kafka's
   * GroupMetadataManager maps append errors), waiting at most `offsets.commit.timeout.ms`.
   */
  private appendInternal(topic: string, partition: number, records: Uint8Array, done: (error: WireError | undefined) => void): void {
    const requestId = this.nextRequestId++;
    this.internalWaiters.set(requestId, (error) => {
      const mapped = error === undefined ? undefined : COORDINATOR_APPEND_ERRORS[error.error];
      done(error === undefined || mapped === undefined ? error : wireError(mapped, error.message));
    });
    this.dispatch(requestId, topic, partition, { type: 'produce.append', requestId, records, acks: -1, origin: 'coordinator', timeoutMs: this.options.config.offsetsCommitTimeoutMs }, (error) => ({ type: 'produce.result', requestId, topic, partition, baseOffset: -1n, lastOffset: -1n, logAppendTime: -1, logStartOffset: -1n, error }));
  }

  /**
   * Every entry of a local partition, read straight from its log (coordinator loading): records
   * with the producer of a transactional batch, and transaction markers.
   */
  private *readAll(topic: string, partition: number): Iterable<OffsetsLogEntry> {
    const log = this.logs.get(`${topic}-${partition}`);
    if (log === undefined) return;
    let offset = log.logStartOffset;
    while (offset < log.logEndOffset) {
      const { records } = log.read(offset, { maxBytes: 1 << 20 });
      if (records.length === 0) return;
      let p = 0;
      while (p < records.length) {
        const batch = decodeRecordBatch(records, p);
        const header = batch.header;
        if (isControlBatch(header)) {
          const content = controlBatchContent(batch);
          if (content.kind === 'transactionMarker' && header.baseOffset >= offset) yield { kind: 'marker', producerId: header.producerId, commit: content.result === 'COMMIT' };
        } else {
          const producer = isTransactional(header) ? { transactionalProducerId: header.producerId } : {};
          for (const r of batch.records) if (r.offset >= offset) yield { kind: 'record', record: r, ...producer };
        }
        offset = header.baseOffset + BigInt(header.lastOffsetDelta) + 1n;
        p += header.batchLength + LOG_OVERHEAD;
      }
    }
  }

  // ------------------------------------------------------------------ AlterPartition

  /** Sends a leader's ISR proposal to the controller; it is sent again if no answer comes. */
  private sendAlterPartition(event: Extract<PartitionEmitted, { type: 'isr.proposed' }>): void {
    const correlationId = this.nextCorrelationId++;
    const timer = this.options.clock.setTimeout(() => this.retryAlterPartition(correlationId), this.options.config.controllerSocketTimeoutMs);
    this.alterInFlight.set(correlationId, { topic: event.topic, partition: event.partition, basedOnPartitionEpoch: event.partitionEpoch, timer });
    this.send(this.controller, { type: 'alterPartition.request', correlationId, brokerId: this.id, topic: event.topic, partition: event.partition, leaderEpoch: event.leaderEpoch, partitionEpoch: event.partitionEpoch, newIsr: event.newIsr });
  }

  private onAlterPartitionResponse(response: AlterPartitionResponse): void {
    const sent = this.alterInFlight.get(response.correlationId);
    if (sent === undefined) return;
    if ((response.error as string | undefined) === 'NOT_CONTROLLER') {
      // Sent to a controller that is not (or no longer) active: propose again to the one it named.
      this.retryAlterPartition(response.correlationId);
      return;
    }
    this.alterInFlight.delete(response.correlationId);
    this.options.clock.clearTimeout(sent.timer);
    this.partitions.get(`${sent.topic}-${sent.partition}`)?.send({
      type: 'isr.result',
      basedOnPartitionEpoch: sent.basedOnPartitionEpoch,
      ...(response.error === undefined ? {} : { error: response.error }),
      ...(response.leaderEpoch === undefined ? {} : { leaderEpoch: response.leaderEpoch }),
      ...(response.partitionEpoch === undefined ? {} : { partitionEpoch: response.partitionEpoch }),
      ...(response.isr === undefined ? {} : { isr: response.isr }),
    });
  }

  /** No answer (or the controller is down): the partition proposes again if it still wants to. */
  private retryAlterPartition(correlationId: number): void {
    const sent = this.alterInFlight.get(correlationId);
    if (sent === undefined) return;
    this.alterInFlight.delete(correlationId);
    this.options.clock.clearTimeout(sent.timer);
    // A short pause, as Kafka's AlterPartitionManager retries after a backoff, never in a tight loop.
    const timer = this.options.clock.setTimeout(() => {
      this.alterRetries.delete(timer);
      this.partitions.get(`${sent.topic}-${sent.partition}`)?.send({ type: 'isr.retry' });
    }, 100);
    this.alterRetries.add(timer);
  }

  /** A node this broker talks to stopped: fail over what waited on it, as on a closed connection. */
  private onDisconnected(node: NodeId): void {
    if (node === this.controller) {
      this.nextController();
      for (const correlationId of [...this.alterInFlight.keys()]) this.retryAlterPartition(correlationId);
    }
    const leader = brokerIdOf(node);
    const fetcher = leader === undefined ? undefined : this.fetchers.get(leader);
    fetcher?.onDisconnected();
  }

  /**
   * InitProducerId for an idempotent producer: a fresh producer id from the controller-allocated
   * block, epoch 0 (Kafka's answer without a transactional id).
   */
  private initProducerId(message: Message, from: NodeId): void {
    const reply = (body: Record<string, unknown>): void => this.send(from, { type: 'initProducerId.response', correlationId: message.correlationId, ...body });
    if (message.transactionalId !== undefined && message.transactionalId !== null) {
      reply({ ...wireError('INVALID_REQUEST', 'transactional ids are not supported by this cluster: omit transactionalId for an idempotent producer'), producerId: -1n, producerEpoch: -1 });
      return;
    }
    this.producerIds.generate((producerId) => reply({ producerId, producerEpoch: 0 }));
  }

  private onUnreachable(correlationId: number): void {
    if (this.txnCoordinator?.ownsMarkerRequest(correlationId) === true) {
      this.txnCoordinator.onMarkersFailed(correlationId);
      return;
    }
    if (this.producerIds.owns(correlationId)) {
      this.producerIds.onUnreachable(correlationId);
      return;
    }
    if (this.alterInFlight.has(correlationId)) {
      this.retryAlterPartition(correlationId);
      return;
    }
    for (const fetcher of this.fetchers.values()) if (fetcher.owns(correlationId)) fetcher.onFailure(correlationId);
  }

  // ------------------------------------------------------------------ requests

  private begin(kind: Pending['kind'], from: NodeId, correlationId: number, count: number, respond = true): number {
    const requestId = this.nextRequestId++;
    this.pending.set(requestId, { kind, to: from, correlationId, remaining: count, results: [], respond, bytes: 0, hasError: false });
    return requestId;
  }

  private partitionActor(topic: string, partition: number): PartitionActor | WireError {
    const actor = this.partitions.get(`${topic}-${partition}`);
    if (actor !== undefined) return actor;
    const offline = this.offline.get(`${topic}-${partition}`);
    if (offline !== undefined) return offline.error;
    const known = this.image?.topics[topic];
    if (known === undefined || partition < 0 || partition >= known.partitions.length) return wireError('UNKNOWN_TOPIC_OR_PARTITION', `topic-partition ${topic}-${partition} does not exist`);
    return wireError('NOT_LEADER_OR_FOLLOWER', `broker ${this.id} does not host ${topic}-${partition}`);
  }

  private dispatch(requestId: number, topic: string, partition: number, event: PartitionEvent, failure: (error: WireError) => PartitionEmitted): void {
    const target = this.partitionActor(topic, partition);
    if ('error' in target) this.onPartitionResult(failure(target as WireError));
    else (target as PartitionActor).send(event);
  }

  private produce(request: ProduceRequest, from: NodeId): void {
    const requestId = this.begin('produce', from, request.correlationId, request.partitions.length, request.acks !== 0);
    for (const p of request.partitions) {
      this.dispatch(requestId, p.topic, p.partition, { type: 'produce.append', requestId, records: p.records, acks: request.acks, timeoutMs: request.timeoutMs }, (error) => ({ type: 'produce.result', requestId, topic: p.topic, partition: p.partition, baseOffset: -1n, lastOffset: -1n, logAppendTime: -1, logStartOffset: -1n, error }));
    }
  }

  /**
   * WriteTxnMarkers from a transaction coordinator: one COMMIT or ABORT control batch per
   * partition, each answered once the ISR has it. A marker in `__consumer_offsets` settles the
   * transaction's pending offsets in this broker's group coordinator.
   */
  private writeTxnMarkers(message: Message, from: NodeId): void {
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
      this.dispatch(requestId, p.topic, p.partition, { type: 'marker.append', requestId, producerId, producerEpoch: message.producerEpoch as number, coordinatorEpoch: message.coordinatorEpoch as number, commit, transactionVersion: typeof message.transactionVersion === 'number' ? message.transactionVersion : 0, timeoutMs: this.options.config.offsetsCommitTimeoutMs }, (error) => ({ type: 'produce.result', requestId, topic: p.topic, partition: p.partition, baseOffset: -1n, lastOffset: -1n, logAppendTime: -1, logStartOffset: -1n, error }));
    }
  }

  private fetch(request: FetchRequest, from: NodeId, mayPark: boolean): void {
    const requestId = this.begin('fetch', from, request.correlationId, request.partitions.length);
    const pending = this.pending.get(requestId) as Pending;
    // Parking is decided once all partitions answered (see complete()).
    (pending as { park?: { request: FetchRequest; mayPark: boolean } }).park = { request, mayPark };
    let budget = request.maxBytes;
    const replicaId = request.replicaId ?? -1;
    const now = this.options.clock.now();
    for (const p of request.partitions) {
      const maxBytes = Math.max(0, Math.min(p.partitionMaxBytes, budget));
      const idle = this.idleFetchResult(requestId, p, replicaId, now, request.isolationLevel);
      if (idle !== undefined) {
        this.onPartitionResult(idle);
        continue;
      }
      this.dispatch(requestId, p.topic, p.partition, { type: 'fetch.read', requestId, fetchOffset: p.fetchOffset, maxBytes, currentLeaderEpoch: p.currentLeaderEpoch, isolationLevel: request.isolationLevel, replicaId: request.replicaId ?? -1, ...(p.lastFetchedEpoch === undefined ? {} : { lastFetchedEpoch: p.lastFetchedEpoch }) }, (error) => fetchFailure(requestId, p, error));
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
    const actor = this.partitions.get(key);
    const log = this.logs.get(key);
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
      if (heard === undefined || heard.fetchOffset !== p.fetchOffset || heard.leaderEpoch !== c.leaderEpoch || now - heard.at >= this.options.config.replicaLagTimeMaxMs / IDLE_FOLLOWER_REFRESH_DIVISOR) {
        // The actor takes this one; remember what it was told.
        this.followerFetches.set(follower, { fetchOffset: p.fetchOffset, leaderEpoch: c.leaderEpoch, at: now });
        return undefined;
      }
    }
    return { type: 'fetch.result', requestId, topic: p.topic, partition: p.partition, records: EMPTY, highWatermark: c.highWatermark, lastStableOffset: log.lastStableOffset(c.highWatermark), logStartOffset: log.logStartOffset };
  }

  private listOffsets(message: Message, from: NodeId): void {
    const partitions = message.partitions as Array<{ topic: string; partition: number; timestamp: number }>;
    const requestId = this.begin('listOffsets', from, message.correlationId as number, partitions.length);
    for (const p of partitions) {
      this.dispatch(requestId, p.topic, p.partition, { type: 'listOffsets.query', requestId, timestamp: p.timestamp, isolationLevel: message.isolationLevel === 'read_committed' ? 'read_committed' : 'read_uncommitted' }, (error) => ({ type: 'listOffsets.result', requestId, topic: p.topic, partition: p.partition, offset: -1n, timestamp: -1, error }));
    }
  }

  private deleteRecords(message: Message, from: NodeId): void {
    const partitions = message.partitions as Array<{ topic: string; partition: number; offset: bigint }>;
    const requestId = this.begin('deleteRecords', from, message.correlationId as number, partitions.length);
    for (const p of partitions) {
      this.dispatch(requestId, p.topic, p.partition, { type: 'deleteRecords.apply', requestId, offset: p.offset }, (error) => ({ type: 'deleteRecords.result', requestId, topic: p.topic, partition: p.partition, lowWatermark: -1n, error }));
    }
  }

  private onPartitionResult(event: PartitionEmitted): void {
    switch (event.type) {
      case 'partition.appended':
        this.wakeParked(event.topic, event.partition, event.logEndMoved);
        return;
      case 'isr.proposed':
        this.sendAlterPartition(event);
        return;
      case 'leader.elected':
        this.options.inspection.notify({ type: '@samsa.leader.elected', topic: event.topic, partition: event.partition, leader: this.id, leaderEpoch: event.leaderEpoch });
        return;
      case 'replica.truncated':
        this.options.inspection.notify({ type: '@samsa.replica.truncated', topic: event.topic, partition: event.partition, brokerId: this.id, offset: event.offset, reason: event.reason });
        return;
      case 'replica.appendFailed':
        this.options.inspection.notify({ type: '@samsa.replica.appendFailed', topic: event.topic, partition: event.partition, brokerId: this.id, leader: event.leader, offset: event.offset, error: event.error });
        if (event.storageError) this.storageFailed(event.topic, event.partition, event.error);
        else for (const fetcher of this.fetchers.values()) fetcher.delay(event.topic, event.partition);
        return;
      default:
        break;
    }
    if ('error' in event && event.error?.error === 'KAFKA_STORAGE_ERROR') this.storageFailed(event.topic, event.partition, event.error.message ?? 'storage error');
    const waiter = this.internalWaiters.get(event.requestId);
    if (waiter !== undefined) {
      this.internalWaiters.delete(event.requestId);
      waiter(event.error);
      return;
    }
    const pending = this.pending.get(event.requestId);
    if (pending === undefined) return;
    const { type: _type, requestId: _id, ...result } = event as PartitionEmitted & { requestId: number };
    pending.results.push(result);
    if (pending.marker !== undefined && event.type === 'produce.result' && event.error === undefined && event.topic === OFFSETS_TOPIC) this.coordinator?.completeTransaction(event.partition, pending.marker.producerId, pending.marker.commit);
    if (('error' in result && result.error !== undefined) || ('divergingEpoch' in result && result.divergingEpoch !== undefined)) pending.hasError = true;
    if (event.type === 'fetch.result') for (const run of event.records) pending.bytes += run.length;
    pending.remaining--;
    if (pending.remaining === 0) this.complete(event.requestId, pending);
  }

  private complete(requestId: number, pending: Pending): void {
    this.pending.delete(requestId);
    const park = (pending as { park?: { request: FetchRequest; mayPark: boolean } }).park;
    if (park !== undefined && park.mayPark && !pending.hasError && pending.bytes < Math.max(1, park.request.minBytes) && park.request.maxWaitMs > 0) {
      this.parkFetch(park.request, pending.to);
      return;
    }
    if (!pending.respond) return;
    const partitions = pending.results.map((r) => flattenError(r as Record<string, unknown>));
    this.send(pending.to, { type: `${pending.kind}.response`, correlationId: pending.correlationId, partitions });
  }

  private parkFetch(request: FetchRequest, from: NodeId): void {
    const key = this.nextRequestId++;
    const parked: ParkedFetch = { request, from, deadline: this.options.clock.now() + request.maxWaitMs, timer: undefined };
    parked.timer = this.options.clock.setTimeout(() => {
      if (this.parked.delete(key)) this.fetch(request, from, false);
    }, request.maxWaitMs);
    this.parked.set(key, parked);
  }

  /**
   * Answers parked fetches that include the partition. A follower reads up to the log end, so
   * only new data completes its fetch (as Kafka's DelayedFetch counts bytes); a consumer also
   * gains data when the high watermark (or last stable offset) moves.
   */
  private wakeParked(topic: string, partition: number, logEndMoved: boolean): void {
    // A snapshot: a woken fetch may park again at once (a new entry) and must not be woken twice.
    for (const [key, parked] of [...this.parked]) {
      if (!logEndMoved && (parked.request.replicaId ?? -1) >= 0) continue;
      if (!parked.request.partitions.some((p) => p.topic === topic && p.partition === partition)) continue;
      this.parked.delete(key);
      if (parked.timer !== undefined) this.options.clock.clearTimeout(parked.timer);
      const remaining = parked.deadline - this.options.clock.now();
      this.fetch({ ...parked.request, maxWaitMs: Math.max(0, remaining) }, parked.from, remaining > 0);
    }
  }
}

function liveBrokers(image: ClusterMetadataImage): number {
  return image.brokers.filter((b) => !b.fenced).length;
}

function splitKey(key: string): [string, number] {
  const at = key.lastIndexOf('-');
  return [key.slice(0, at), Number(key.slice(at + 1))];
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
  return { ...result, error: error.error, errorCode: error.errorCode, message: error.message };
}
