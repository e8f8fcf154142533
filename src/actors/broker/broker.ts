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
 *
 * The broker is the hub; each job is a room beside it: `brokerLifecycle.ts` (registration and
 * heartbeats) over `controllerChannel.ts` (which controller is active), `metadataObserver.ts`
 * (the metadata log replica and its replay), `replicas.ts` (hosted partitions, image
 * application, replica fetchers, periodic tasks), `requests.ts` (request fan-out) and
 * `fetchParking.ts`, `alterPartition.ts`, `autoCreateTopics.ts`, `producerIds.ts`, and
 * `coordinatorHosting.ts` (the group and transaction coordinators).
 */
import type { Actor } from 'xstate';
import { createActor } from 'xstate';
import type { Logger } from '../../logger.ts';
import type { Clock } from '../../clock.ts';
import { sleep } from '../../clock.ts';
import type { PartitionLog } from '../../log/partitionLog.ts';
import type { Storage } from '../../log/storage/storage.ts';
import type { ClusterMetadataImage, FetchPartitionResult } from '../../protocol/index.ts';
import { wireError } from '../../protocol/index.ts';
import type { Random } from '../../random.ts';
import type { Message, NodeId, Transport } from '../../transport/transport.ts';
import { brokerIdOf, brokerNode } from '../../transport/transport.ts';
import type { InspectionSink } from '../inspection.ts';
import type { PartitionEmitted } from '../partition/partition.machine.ts';
import { AlterPartitionManager } from './alterPartition.ts';
import { answerMetadata, AutoTopicCreationManager } from './autoCreateTopics.ts';
import { brokerMachine } from './broker.machine.ts';
import type { BrokerConfig } from './brokerConfig.ts';
import { BrokerLifecycle } from './brokerLifecycle.ts';
import { ControllerChannel } from './controllerChannel.ts';
import { CoordinatorHosting } from './coordinatorHosting.ts';
import { FetchParking } from './fetchParking.ts';
import { MetadataObserver } from './metadataObserver.ts';
import { ProducerIdManager } from './producerIds.ts';
import { ReplicaManager } from './replicas.ts';
import { PartitionRequests } from './requests.ts';
import { messageAs } from '../../protocol/index.ts';

/** How often a controlled shutdown looks whether its fencing has reached this broker. */
const CONTROLLED_SHUTDOWN_POLL_MS = 5;

export { BROKER_CONFIG_DEFAULTS } from './brokerConfig.ts';
export type { BrokerConfig } from './brokerConfig.ts';

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

/** One broker. See the module comment. */
export class Broker {
  readonly id: number;
  readonly node: NodeId;
  private actor: Actor<typeof brokerMachine> | undefined;
  private unregister: (() => void) | undefined;
  /** The newest metadata image applied (undefined until registered, and while down). */
  private image: ClusterMetadataImage | undefined;
  private nextRequestId = 1;
  private nextCorrelationId = 1;
  private starts = 0;
  private readonly channel: ControllerChannel;
  private readonly lifecycle: BrokerLifecycle;
  /** This process's replica of the metadata log, as a Raft observer. */
  private readonly metadataLog: MetadataObserver;
  private readonly replicas: ReplicaManager;
  private readonly requests: PartitionRequests;
  private readonly parking: FetchParking;
  private readonly alterPartitions: AlterPartitionManager;
  private readonly autoCreation: AutoTopicCreationManager;
  private readonly producerIds: ProducerIdManager;
  private readonly coordinators: CoordinatorHosting;

  constructor(private readonly options: BrokerOptions) {
    this.id = options.id;
    this.node = brokerNode(options.id);
    const { clock, config, inspection } = options;
    const brokerId = options.id;
    const send = (to: NodeId, message: Message): void => this.send(to, message);
    const nextCorrelationId = (): number => this.nextCorrelationId++;
    const nextRequestId = (): number => this.nextRequestId++;
    const isRunning = (): boolean => this.actor !== undefined;
    const image = (): ClusterMetadataImage | undefined => this.image;
    const channel = (this.channel = new ControllerChannel({ controllers: options.controllers, send }));
    this.producerIds = new ProducerIdManager({
      clock,
      nextCorrelationId,
      requestBlock: (correlationId) => channel.send({ type: 'allocateProducerIds.request', correlationId, brokerId, brokerEpoch: this.lifecycle.brokerEpoch ?? -1 }),
    });
    this.lifecycle = new BrokerLifecycle({
      brokerId,
      clock,
      heartbeatIntervalMs: config.brokerHeartbeatIntervalMs,
      channel,
      nextCorrelationId,
      isRunning,
      metadataVersion: () => this.metadataLog.image?.version ?? -1,
      onRegistered: () => this.applyReplayed(),
    });
    this.metadataLog = new MetadataObserver({
      node: this.node,
      controllers: options.controllers,
      clusterId: options.clusterId,
      clock,
      random: options.random,
      send,
      isRunning,
      onLeader: (controller) => channel.use(controller),
      onReplayed: () => this.applyReplayed(),
    });
    const replicas = (this.replicas = new ReplicaManager({ brokerId, storage: options.storage, clock, config, inspection, logger: options.logger, send, nextCorrelationId, image, isRunning, onPartitionEvent: (event) => this.onPartitionEvent(event) }));
    this.parking = new FetchParking({ clock, nextKey: nextRequestId, fetch: (request, from, mayPark) => this.requests.fetch(request, from, mayPark) });
    this.requests = new PartitionRequests({
      clock,
      config,
      replicas,
      send,
      nextRequestId,
      route: (event) => this.onPartitionEvent(event),
      park: (request, from) => this.parking.park(request, from),
      completeTransaction: (partition, producerId, commit) => this.coordinators.completeTransaction(partition, producerId, commit),
    });
    this.alterPartitions = new AlterPartitionManager({ brokerId, clock, controllerSocketTimeoutMs: config.controllerSocketTimeoutMs, channel, nextCorrelationId, deliver: (topic, partition, event) => replicas.deliver(topic, partition, event) });
    this.autoCreation = new AutoTopicCreationManager({ clock, controllerSocketTimeoutMs: config.controllerSocketTimeoutMs, channel, nextCorrelationId });
    this.coordinators = new CoordinatorHosting({
      brokerId,
      clock,
      config,
      inspection,
      send,
      nextCorrelationId,
      image,
      replicas,
      producerIds: this.producerIds,
      autoCreation: this.autoCreation,
      appendInternal: (topic, partition, records, done) => this.requests.appendInternal(topic, partition, records, done),
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
    const clock: Clock = this.options.clock;
    // A new process, a new incarnation: the controller tells it apart from the one that crashed.
    this.starts++;
    const incarnationId = `broker-${this.id}-${clock.now()}-${this.starts}`;
    this.actor = createActor(brokerMachine, { input: { brokerId: this.id }, clock, id: `broker:${this.id}` });
    this.options.inspection.track(this.actor);
    this.actor.start();
    this.coordinators.start();
    this.unregister = this.options.transport.register(this.node, (message, from) => this.onMessage(message, from));
    this.metadataLog.start();
    this.lifecycle.start(incarnationId);
    this.replicas.startTasks();
  }

  /** Kills the process: in-memory state is lost, nothing is flushed; storage survives. */
  crash(): void {
    if (this.actor === undefined) return;
    this.options.inspection.notify({ type: '@samsa.broker.crashed', brokerId: this.id });
    this.teardown();
    this.replicas.crash();
    this.actor.send({ type: 'broker.crash' });
    this.actor.stop();
    this.actor = undefined;
  }

  /**
   * Controlled shutdown, before {@link Broker.stop}: asks the controller to move this broker's
   * leaderships away and take it out of every ISR, and resolves true once this broker's own
   * metadata shows that done; false when `timeoutMs` passed first (no controller answered) or
   * the broker is not registered. Nothing is stopped here.
   */
  async controlledShutdown(timeoutMs: number): Promise<boolean> {
    if (this.actor === undefined || this.lifecycle.brokerEpoch === undefined) return false;
    const clock = this.options.clock;
    const deadline = clock.now() + timeoutMs;
    let allowed = false;
    void this.lifecycle.requestShutdown().then(() => (allowed = true));
    while (clock.now() < deadline && this.actor !== undefined) {
      // Fenced in its own image: the change that moved its leaderships has reached it.
      if (allowed && this.image?.brokers.find((b) => b.id === this.id)?.fenced === true) return true;
      await sleep(clock, CONTROLLED_SHUTDOWN_POLL_MS);
    }
    return false;
  }

  /** Stops cleanly: logs are flushed and closed so the next start skips recovery. */
  async stop(): Promise<void> {
    if (this.actor === undefined) return;
    this.teardown();
    await this.replicas.close();
    this.actor.send({ type: 'broker.stop' });
    this.actor.stop();
    this.actor = undefined;
  }

  /** The log of a hosted partition (for tests and tooling). */
  logOf(topic: string, partition: number): PartitionLog | undefined {
    return this.replicas.logOf(topic, partition);
  }

  /** The high watermark a hosted replica holds (for tests and tooling), undefined when not hosted. */
  highWatermarkOf(topic: string, partition: number): bigint | undefined {
    return this.replicas.highWatermarkOf(topic, partition);
  }

  /** The newest metadata image this broker applied (for tests and tooling). */
  get metadata(): ClusterMetadataImage | undefined {
    return this.image;
  }

  /** Drops everything a process holds in memory; the logs are left to crash() or stop(). */
  private teardown(): void {
    this.coordinators.stop();
    this.unregister?.();
    this.unregister = undefined;
    this.parking.stop();
    this.requests.stop();
    this.alterPartitions.stop();
    this.replicas.stop();
    this.lifecycle.stop();
    this.producerIds.stop();
    this.image = undefined;
    this.autoCreation.stop();
    this.metadataLog.stop();
    this.channel.reset();
  }

  private send(to: NodeId, message: Message): void {
    this.options.transport.send(this.node, to, message);
  }

  private onMessage(message: Message, from: NodeId): void {
    if (this.lifecycle.brokerEpoch === undefined && message.type.endsWith('.request')) {
      // Kafka opens its listeners only once the broker is registered and unfenced: until then a
      // client (or another broker's fetcher) is refused, and backs off as from ECONNREFUSED.
      if (message.correlationId !== undefined) this.send(from, { type: 'transport.unreachable', correlationId: message.correlationId, node: this.node });
      return;
    }
    if (from.startsWith('controller:') && message.type !== 'quorum.message') this.channel.onMessage(message);
    switch (message.type) {
      case 'createTopics.response':
        this.autoCreation.onResponse(message);
        return;
      case 'brokerRegistration.response':
        this.lifecycle.onRegistrationResponse(message);
        return;
      case 'quorum.message':
        this.metadataLog.receive(from, message);
        return;
      case 'brokerHeartbeat.response':
        this.lifecycle.onHeartbeatResponse(message);
        return;
      case 'alterPartition.response':
        this.alterPartitions.onResponse(messageAs(message, 'alterPartition.response'));
        return;
      case 'fetch.response':
        this.replicas.onFetchResponse(message.correlationId as number, message.partitions as FetchPartitionResult[]);
        return;
      case 'transport.disconnected':
        this.onDisconnected(message.node as NodeId);
        return;
      case 'transport.unreachable':
        // A controller that is down: the next request goes to another one.
        if (message.node === this.channel.controller) this.channel.next();
        this.onUnreachable(message.correlationId as number);
        return;
      case 'metadata.request':
        answerMetadata({ brokerId: this.id, image: this.image, config: this.options.config, autoCreation: this.autoCreation, offline: this.replicas.offlineLogs(), send: (to, m) => this.send(to, m) }, message, from);
        return;
      case 'produce.request':
        this.requests.produce(messageAs(message, 'produce.request'), from);
        return;
      case 'fetch.request':
        this.requests.fetch(messageAs(message, 'fetch.request'), from, true);
        return;
      case 'listOffsets.request':
        this.requests.listOffsets(message, from);
        return;
      case 'readKey.request':
        this.requests.readKey(messageAs(message, 'readKey.request'), from);
        return;
      case 'deleteRecords.request':
        this.requests.deleteRecords(message, from);
        return;
      case 'findCoordinator.request':
        this.coordinators.findCoordinator(message, from);
        return;
      case 'initProducerId.request':
        if (typeof message.transactionalId === 'string') this.coordinators.initTransactionalProducer(message, from);
        else this.producerIds.initProducerId(message, (body) => this.send(from, { type: 'initProducerId.response', correlationId: message.correlationId, ...body }));
        return;
      case 'writeTxnMarkers.request':
        this.requests.writeTxnMarkers(message, from);
        return;
      case 'allocateProducerIds.response':
        this.producerIds.onResponse(message);
        return;
      default:
        if (this.coordinators.route(message, from)) return;
        // Never answer a response (e.g. the controller's createTopics.response to an auto-create):
        // answering it with an error made the controller answer back, forever.
        if (!message.type.endsWith('.request')) return;
        this.send(from, { type: `${message.type.replace(/\.request$/, '')}.response`, correlationId: message.correlationId, ...wireError('INVALID_REQUEST', `broker ${this.id} does not handle "${message.type}"`) });
    }
  }

  /** Every event of a partition actor (and every answer given in its place). */
  private onPartitionEvent(event: PartitionEmitted): void {
    const { inspection } = this.options;
    switch (event.type) {
      case 'partition.appended':
        this.parking.wake(event.topic, event.partition, event.logEndMoved);
        return;
      case 'isr.proposed':
        this.alterPartitions.propose(event);
        return;
      case 'leader.elected':
        inspection.notify({ type: '@samsa.leader.elected', topic: event.topic, partition: event.partition, leader: this.id, leaderEpoch: event.leaderEpoch });
        return;
      case 'replica.truncated':
        inspection.notify({ type: '@samsa.replica.truncated', topic: event.topic, partition: event.partition, brokerId: this.id, offset: event.offset, reason: event.reason });
        return;
      case 'replica.appendFailed':
        inspection.notify({ type: '@samsa.replica.appendFailed', topic: event.topic, partition: event.partition, brokerId: this.id, leader: event.leader, offset: event.offset, error: event.error });
        if (event.storageError) this.replicas.storageFailed(event.topic, event.partition, event.error);
        else this.replicas.delayFetch(event.topic, event.partition);
        return;
      default:
        break;
    }
    if ('error' in event && event.error?.error === 'KAFKA_STORAGE_ERROR') this.replicas.storageFailed(event.topic, event.partition, event.error.message ?? 'storage error');
    this.requests.onResult(event);
  }

  /**
   * Applies the replayed image once this process is registered and the image holds that
   * registration: an older image may still name the crashed incarnation as a partition leader.
   */
  private applyReplayed(): void {
    const brokerEpoch = this.lifecycle.brokerEpoch;
    if (brokerEpoch === undefined) return;
    const image = this.metadataLog.image;
    const own = image?.brokers.find((b) => b.id === this.id);
    if (image === undefined || own === undefined || own.epoch !== brokerEpoch) return;
    this.applyImage(image);
  }

  /** A newer image: the replicas, the topics being created and the coordinators follow it. */
  private applyImage(image: ClusterMetadataImage): void {
    if (this.actor === undefined) return;
    if (this.image !== undefined && image.version <= this.image.version) return;
    this.image = image;
    this.replicas.apply(image);
    this.autoCreation.onImage(image);
    this.coordinators.onImage(image);
    this.actor.send({ type: 'metadata.applied', version: image.version });
  }

  /** A request that can get no answer: whoever sent it fails over or retries. */
  private onUnreachable(correlationId: number): void {
    if (this.coordinators.onUnreachable(correlationId)) return;
    if (this.producerIds.owns(correlationId)) {
      this.producerIds.onUnreachable(correlationId);
      return;
    }
    if (this.alterPartitions.owns(correlationId)) {
      this.alterPartitions.retry(correlationId);
      return;
    }
    this.replicas.onFetchFailure(correlationId);
  }

  /** A node this broker talks to stopped: fail over what waited on it, as on a closed connection. */
  private onDisconnected(node: NodeId): void {
    if (node === this.channel.controller) {
      this.channel.next();
      this.alterPartitions.retryAll();
    }
    const leader = brokerIdOf(node);
    if (leader !== undefined) this.replicas.onLeaderDisconnected(leader);
  }
}
