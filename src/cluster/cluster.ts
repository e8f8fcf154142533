/**
 * `createCluster`: an embedded Kafka-faithful cluster in this process. A controller quorum and N
 * brokers are actors on an in-process network; producers, consumers and the admin client are
 * nodes on the same network. Storage is in memory unless `dataDir` is given; either way it
 * outlives a broker crash, so `restart()` recovers from it.
 */
import { join } from 'node:path';
import { createActor } from 'xstate';
import type { Actor } from 'xstate';
import type { Clock } from '../clock.ts';
import { SystemClock } from '../clock.ts';
import { ClosedError, InvalidArgumentError, SamsaError } from '../errors.ts';
import { resolveLogger } from '../logger.ts';
import type { Logger, LogLevel } from '../logger.ts';
import { lockDirectory } from '../log/storage/dirLock.ts';
import type { DirectoryLock } from '../log/storage/dirLock.ts';
import { FileStorage } from '../log/storage/fileStorage.ts';
import { ensureMetaProperties, readMetaProperties } from '../log/storage/metaProperties.ts';
import { MemoryStorage } from '../log/storage/memoryStorage.ts';
import type { Storage } from '../log/storage/storage.ts';
import type { Random } from '../random.ts';
import { createRandom, randomSeed } from '../random.ts';
import { SimulatedNetwork } from '../transport/simulatedNetwork.ts';
import type { Message, NodeId } from '../transport/transport.ts';
import { controllerNode } from '../transport/transport.ts';
import { Admin } from '../clients/admin.ts';
import { Broker, BROKER_CONFIG_DEFAULTS } from '../actors/broker/broker.ts';
import type { BrokerConfig } from '../actors/broker/broker.ts';
import { controllerMachine } from '../actors/controller/controller.machine.ts';
import type { MetadataRecord } from '../actors/controller/metadataRecords.ts';
import { openFileRaftDurableState } from '../actors/controller/durableLog.ts';
import { createRaftDurableState, parseRaftConfig } from '../actors/controller/raft.ts';
import type { RaftConfig, RaftDurableState, RaftRole } from '../actors/controller/raft.ts';
import type { ClusterMetadataImage } from '../protocol/messages.ts';
import { InspectionSink } from '../actors/inspection.ts';
import type { InspectionEvent } from '../actors/inspection.ts';
import { Consumer } from '../clients/consumer/consumer.ts';
import type { ConsumerOptions } from '../clients/consumer/consumer.ts';
import { Producer } from '../clients/producer/producer.ts';
import type { ProducerOptions } from '../clients/producer/producer.ts';
import { Pipeline } from '../streams/pipeline.ts';
import type { PipelineOptions } from '../streams/pipeline.ts';

/** Options of {@link createCluster}. */
export interface ClusterOptions {
  /** Number of brokers (default 1). Broker ids are 1..N. */
  readonly brokers?: number;
  /**
   * Directory for the cluster's data, as Kafka's data directories: `broker-<id>/` (partition logs)
   * and `controller-<id>/` (the `__cluster_metadata` log, quorum-state and snapshots), each with
   * `meta.properties` and a `.lock`. A new cluster on the same directory finds everything again;
   * a second cluster on it while the first runs is refused (LogDirectoryLockedError). Default: in memory.
   */
  readonly dataDir?: string;
  /** Time source (default: the system clock). */
  readonly clock?: Clock;
  /** Seed for every random choice (default: random). */
  readonly seed?: number;
  /** Broker settings: `auto.create.topics.enable`, `num.partitions`, … and log defaults. */
  readonly brokerConfig?: Partial<BrokerConfig>;
  /** Deliver network messages only when told (deterministic test harness). */
  readonly manualNetwork?: boolean;
  /**
   * Number of controllers in the metadata quorum (default 1; 3 survives the loss of one).
   * Controller ids are 0..N-1.
   */
  readonly controllers?: number;
  /** Quorum settings with Kafka's keys: `controller.quorum.election.timeout.ms`, `controller.quorum.fetch.timeout.ms`, … */
  readonly quorumConfig?: RaftConfig;
  /**
   * Where the cluster's nodes and clients log (recovery, fencing, elections, rebalances, errors
   * handled internally): a {@link Logger}, or a level for the console logger. Default: the console
   * at `warn`; `samsa/testing` is silent unless told otherwise.
   */
  readonly logger?: Logger | LogLevel;
}

/** One controller's view of the metadata quorum. */
export interface QuorumState {
  readonly epoch: number;
  readonly leaderId: number | undefined;
  readonly role: RaftRole;
  /** Entries below it are committed. */
  readonly highWatermark: bigint;
  /** First offset still in the log: the latest snapshot's end. */
  readonly logStartOffset: bigint;
  readonly logEndOffset: bigint;
}

/** Crash and restart control of one controller. */
export interface ControllerHandle {
  readonly id: number;
  /** Whether the controller process is up. */
  readonly running: boolean;
  /** Whether it is the active controller (the quorum leader that has committed its epoch). */
  readonly active: boolean;
  /** The metadata image replayed from its committed log (undefined while it is down). */
  readonly metadata: ClusterMetadataImage | undefined;
  /** Its replica of the metadata log: Raft epoch, known leader and offsets (undefined while it is down). */
  readonly quorum: QuorumState | undefined;
  /** Kills the controller: its volatile state is lost; its metadata log, vote and snapshot survive. */
  crash(): void;
  /** Starts it again from its log and snapshot; it rejoins the quorum as a follower or candidate. */
  restart(): Promise<void>;
}

/** Crash and restart control of one broker. */
export interface BrokerHandle {
  readonly id: number;
  /** Whether the broker process is up. */
  readonly running: boolean;
  /** Kills the broker: in-memory state is lost, nothing is flushed; its storage survives. */
  crash(): void;
  /**
   * Starts it again; every log is recovered from storage. As in Kafka, the new process is
   * registered (and serves requests) only once the controller let the crashed one's session
   * expire (`broker.session.timeout.ms`, 9 s by default) and fenced it; its replicas then rejoin
   * as followers, truncating by leader epoch and catching up before they re-enter the ISR.
   */
  restart(): Promise<void>;
}

/** An embedded cluster. */
export class Cluster {
  /** The cluster's time source. */
  readonly clock: Clock;
  /** The seed every random choice derives from; print it to replay a run. */
  readonly seed: number;
  /** The in-process network (fault injection: delay, drop, partition…). */
  readonly network: SimulatedNetwork;
  /** The logger every node and client of this cluster writes to. */
  readonly logger: Logger;
  private readonly random: Random;
  private readonly inspection: InspectionSink;
  private readonly brokers = new Map<number, Broker>();
  private readonly storages = new Map<number, Storage>();
  private readonly controllers = new Map<number, { actor: Actor<typeof controllerMachine> | undefined; unregister: (() => void) | undefined; durable: RaftDurableState<MetadataRecord> & { close?(): void } }>();
  /** Kafka's `.lock` of every data directory this cluster writes (none in memory). */
  private readonly locks: DirectoryLock[] = [];
  /**
   * The cluster id every node is formatted with (Kafka's meta.properties `cluster.id`): read from
   * the dataDir when it was formatted before, else derived from the seed.
   */
  readonly clusterId: string;
  private readonly clients = new Set<{ close(): void | Promise<void> }>();
  private readonly pipelines = new Set<Pipeline>();
  private clientCount = 0;
  private stopped = false;
  private readonly brokerConfig: BrokerConfig;

  /** @internal Use {@link createCluster}. */
  constructor(private readonly options: ClusterOptions) {
    const count = options.brokers ?? 1;
    if (!Number.isInteger(count) || count < 1) throw new InvalidArgumentError('brokers', `expected a positive number of brokers, got ${count}`);
    this.clock = options.clock ?? new SystemClock();
    this.seed = options.seed ?? randomSeed();
    this.random = createRandom(this.seed);
    this.logger = resolveLogger(options.logger);
    this.inspection = new InspectionSink(this.logger);
    this.network = new SimulatedNetwork({ clock: this.clock, random: this.random.fork(), manual: options.manualNetwork ?? false });
    this.brokerConfig = { ...BROKER_CONFIG_DEFAULTS, ...options.brokerConfig };
    const controllers = options.controllers ?? 1;
    if (!Number.isInteger(controllers) || controllers < 1 || controllers > 9) throw new InvalidArgumentError('controllers', `expected 1 to 9 controllers (1 or 3 is usual; 3 survives one failure), got ${String(controllers)}`);
    if (options.quorumConfig !== undefined) parseRaftConfig(options.quorumConfig);
    for (let id = 0; id < controllers; id++) this.controllers.set(id, { actor: undefined, unregister: undefined, durable: createRaftDurableState<MetadataRecord>() });
    for (let id = 1; id <= count; id++) {
      const storage = options.dataDir === undefined ? new MemoryStorage() : new FileStorage(join(options.dataDir, `broker-${id}`));
      this.storages.set(id, storage);
    }
    this.clusterId = options.dataDir === undefined ? `samsa-${this.seed.toString(16)}` : this.formatDataDir(options.dataDir, controllers, count);
  }

  /**
   * Locks every directory of `dataDir` this cluster writes (Kafka's `.lock`), then reads or writes
   * their meta.properties: an existing cluster id is kept across restarts, and a directory of
   * another cluster or node is refused. Nothing is written before every lock is held.
   */
  private formatDataDir(dataDir: string, controllers: number, brokers: number): string {
    const dirs: { dir: string; nodeId: number }[] = [];
    for (let id = 0; id < controllers; id++) dirs.push({ dir: join(dataDir, `controller-${id}`), nodeId: id });
    for (let id = 1; id <= brokers; id++) dirs.push({ dir: join(dataDir, `broker-${id}`), nodeId: id });
    try {
      for (const { dir } of dirs) this.locks.push(lockDirectory(dir));
      const clusterId = dirs.map(({ dir }) => readMetaProperties(dir)?.clusterId).find((id) => id !== undefined) ?? `samsa-${this.seed.toString(16)}`;
      for (const { dir, nodeId } of dirs) ensureMetaProperties(dir, { clusterId, nodeId });
      return clusterId;
    } catch (e) {
      this.releaseLocks();
      throw e;
    }
  }

  private releaseLocks(): void {
    for (const lock of this.locks.splice(0)) lock.release();
  }

  /** Address of the active controller (the first controller while none is active). */
  get controllerNode(): NodeId {
    return controllerNode(this.activeControllerId() ?? 0);
  }

  /** Addresses of every controller of the quorum. */
  get controllerNodes(): NodeId[] {
    return this.controllerIds.map(controllerNode);
  }

  /** Ids of every controller (running or not). */
  get controllerIds(): number[] {
    return [...this.controllers.keys()];
  }

  /** Id of the active controller, undefined while the quorum has none (an election is running). */
  activeControllerId(): number | undefined {
    for (const [id, c] of this.controllers) if ((c.actor?.getSnapshot().context.active ?? false) && c.actor?.getSnapshot().status === 'active') return id;
    return undefined;
  }

  /** Ids of all brokers (running or not). */
  get brokerIds(): number[] {
    return [...this.storages.keys()];
  }

  /** @internal Starts the controllers and brokers. */
  start(): void {
    for (const id of this.controllers.keys()) this.startController(id);
    for (const id of this.storages.keys()) this.startBroker(id);
  }

  private startController(id: number): void {
    const slot = this.controllers.get(id);
    if (slot === undefined || slot.actor !== undefined) return;
    const node = controllerNode(id);
    if (this.options.dataDir !== undefined) {
      // Every life starts from the files, as a new process would: what was not written is lost.
      slot.durable.close?.();
      slot.durable = openFileRaftDurableState<MetadataRecord>(join(this.options.dataDir, `controller-${id}`), { logger: this.logger.child({ node }) });
    }
    const actor = createActor(controllerMachine, {
      input: {
        id,
        voters: this.controllerIds,
        clusterId: this.clusterId,
        random: this.random.fork(),
        clock: this.clock,
        durable: slot.durable,
        ...(this.options.quorumConfig === undefined ? {} : { raftConfig: this.options.quorumConfig }),
        send: (to: NodeId, message: Message) => this.network.send(node, to, message),
        notify: (e) => this.inspection.notify(e as never),
        brokerSessionTimeoutMs: this.brokerConfig.brokerSessionTimeoutMs,
        logger: this.logger.child({ node }),
      },
      clock: this.clock,
      id: node,
    });
    this.inspection.track(actor);
    slot.actor = actor;
    slot.unregister = this.network.register(node, (message, from) => actor.send({ type: 'net.message', message, from }));
    actor.start();
  }

  private stopController(id: number): void {
    const slot = this.controllers.get(id);
    if (slot === undefined || slot.actor === undefined) return;
    slot.unregister?.();
    slot.unregister = undefined;
    slot.actor.stop();
    slot.actor = undefined;
  }

  /** Crash/restart control of controller `id`. */
  controller(id: number): ControllerHandle {
    const slot = this.controllers.get(id);
    if (slot === undefined) throw new InvalidArgumentError('id', `there is no controller ${id}; controllers are ${this.controllerIds.join(', ')}`);
    return {
      id,
      get running() {
        return slot.actor !== undefined;
      },
      get active() {
        return slot.actor?.getSnapshot().context.active ?? false;
      },
      get metadata() {
        return slot.actor?.getSnapshot().context.image;
      },
      get quorum() {
        const raft = slot.actor?.getSnapshot().context.raft;
        return raft === undefined ? undefined : { epoch: raft.epoch, leaderId: raft.leaderId, role: raft.role, highWatermark: raft.highWatermark, logStartOffset: raft.logStartOffset, logEndOffset: raft.logEndOffset };
      },
      crash: () => {
        if (slot.actor !== undefined) this.inspection.notify({ type: '@samsa.controller.crashed', controllerId: id } as never);
        this.stopController(id);
      },
      restart: async () => {
        this.ensureRunning();
        this.startController(id);
      },
    };
  }

  private startBroker(id: number): Broker {
    let broker = this.brokers.get(id);
    if (broker === undefined) {
      broker = new Broker({ id, storage: this.storages.get(id) as Storage, clock: this.clock, transport: this.network, controllers: this.controllerNodes, config: this.brokerConfig, inspection: this.inspection, random: this.random.fork(), clusterId: this.clusterId, logger: this.logger.child({ node: `broker:${id}` }) });
      this.brokers.set(id, broker);
    }
    broker.start();
    return broker;
  }

  /** Crash/restart control of broker `id`. */
  broker(id: number): BrokerHandle {
    const broker = this.brokers.get(id);
    if (broker === undefined) throw new InvalidArgumentError('id', `there is no broker ${id}; brokers are ${this.brokerIds.join(', ')}`);
    return {
      id,
      get running() {
        return broker.running;
      },
      crash: () => broker.crash(),
      restart: async () => {
        this.ensureRunning();
        broker.start();
      },
    };
  }

  /** @internal The broker object (tests and tooling). */
  brokerInternals(id: number): Broker | undefined {
    return this.brokers.get(id);
  }

  /** A new admin client. */
  admin(options: { clientId?: string; requestTimeoutMs?: number } = {}): Admin {
    this.ensureRunning();
    const admin = new Admin({ transport: this.network, clock: this.clock, controllers: () => this.controllerNodes, brokers: () => this.brokerIds, clientId: options.clientId ?? this.nextClientId('admin'), logger: this.logger, ...(options.requestTimeoutMs === undefined ? {} : { requestTimeoutMs: options.requestTimeoutMs }) });
    this.clients.add(admin);
    return admin;
  }

  /** A new producer. Defaults are Kafka's (acks=all, batch.size 16384, linger.ms 0, …). */
  producer(options: ProducerOptions = {}): Producer {
    this.ensureRunning();
    const producer = new Producer({ transport: this.network, clock: this.clock, random: this.random.fork(), brokers: () => this.brokerIds, clientId: options.clientId ?? this.nextClientId('producer'), logger: this.logger }, options);
    this.clients.add(producer);
    return producer;
  }

  /** A new consumer. Defaults are Kafka's (auto.offset.reset=latest, max.poll.records 500, …). */
  consumer(options: ConsumerOptions = {}): Consumer {
    this.ensureRunning();
    const consumer = new Consumer({ transport: this.network, clock: this.clock, random: this.random.fork(), brokers: () => this.brokerIds, clientId: options.clientId ?? this.nextClientId('consumer'), logger: this.logger }, options);
    this.clients.add(consumer);
    return consumer;
  }

  /**
   * Starts a consume-transform-produce loop: read_committed input, `process` per record, outputs
   * and input offsets committed in one transaction per `commitIntervalMs` — exactly once by
   * default (Kafka Streams' exactly_once_v2, KIP-447). See {@link Pipeline}.
   */
  pipeline(options: PipelineOptions): Pipeline {
    this.ensureRunning();
    const pipeline = new Pipeline({ clock: this.clock, consumer: (o) => this.consumer(o), producer: (o) => this.producer(o), nextClientId: () => this.nextClientId('pipeline'), logger: this.logger }, options);
    this.pipelines.add(pipeline);
    return pipeline;
  }

  /** Observes XState inspection events of every actor and samsa's `@samsa.*` events. */
  inspect(listener: (event: InspectionEvent) => void): () => void {
    return this.inspection.subscribe(listener);
  }

  /**
   * Stops every client, broker and the controller; file-backed logs are closed cleanly. Afterwards
   * every call on the cluster or a client it made fails at once with ClosedError. Stopping twice is harmless.
   */
  async stop(): Promise<void> {
    this.stopped = true;
    for (const p of this.pipelines) await p.stop();
    this.pipelines.clear();
    for (const c of this.clients) await c.close();
    this.clients.clear();
    for (const b of this.brokers.values()) await b.stop();
    if (this.options.dataDir !== undefined && !(this.options.manualNetwork ?? false) && this.clock instanceof SystemClock) await this.awaitBrokersFenced();
    for (const [id, slot] of this.controllers) {
      this.stopController(id);
      slot.durable.close?.();
    }
    this.releaseLocks();
  }

  /**
   * Lets the controllers commit the fencing of the stopped brokers before they stop too, as Kafka's
   * controlled shutdown ends with the broker fenced: the next process on the dataDir then registers
   * them at once instead of waiting out their old sessions (`broker.session.timeout.ms`). Bounded:
   * a quorum that cannot commit any more is not waited for.
   */
  private async awaitBrokersFenced(): Promise<void> {
    const deadline = this.clock.now() + 2_000;
    while (this.clock.now() < deadline) {
      const id = this.activeControllerId();
      if (id === undefined) return;
      const brokers = this.controller(id).metadata?.brokers ?? [];
      if (brokers.every((b) => b.fenced)) return;
      await new Promise((resolve) => this.clock.setTimeout(() => resolve(undefined), 5));
    }
  }

  /** Calls on a stopped cluster fail at once rather than wait on nodes that are gone. */
  private ensureRunning(): void {
    if (this.stopped) throw new ClosedError('the cluster');
  }

  private nextClientId(kind: string): string {
    this.clientCount++;
    return `${kind}-${this.clientCount}`;
  }
}

/**
 * Starts an embedded cluster and resolves once every broker has registered and received
 * metadata.
 *
 * @example
 * const cluster = await createCluster({ brokers: 3 });
 * await cluster.admin().createTopic('orders', { partitions: 6 });
 * const { partition, offset } = await cluster.producer().send('orders', { key: 'o-1', value: 'hello' });
 */
export async function createCluster(options: ClusterOptions = {}): Promise<Cluster> {
  const cluster = new Cluster(options);
  try {
    cluster.start();
  } catch (e) {
    await cluster.stop();
    throw e;
  }
  if (!(options.manualNetwork ?? false)) await waitForBrokers(cluster);
  return cluster;
}

/** How long `createCluster` waits for the quorum to elect a controller and every broker to register. */
const STARTUP_TIMEOUT_MS = 60_000;

async function waitForBrokers(cluster: Cluster): Promise<void> {
  const deadline = cluster.clock.now() + STARTUP_TIMEOUT_MS;
  // A single controller elects itself at once; a quorum first waits out an election timeout.
  for (let spins = 0; ; spins++) {
    if (cluster.brokerIds.every((id) => cluster.brokerInternals(id)?.state === 'running')) return;
    if (cluster.clock.now() > deadline) {
      await cluster.stop();
      throw new SamsaError(`the cluster did not start within ${STARTUP_TIMEOUT_MS} ms: brokers ${cluster.brokerIds.filter((id) => cluster.brokerInternals(id)?.state !== 'running').join(', ')} are not registered (active controller: ${cluster.activeControllerId() ?? 'none'})`, 'STARTUP_TIMEOUT', true);
    }
    if (spins < 1_000) await new Promise((resolve) => setImmediate(resolve));
    else await new Promise((resolve) => cluster.clock.setTimeout(() => resolve(undefined), 5));
  }
}
