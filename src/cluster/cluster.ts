/**
 * `createCluster`: an embedded Kafka-faithful cluster in this process — every node of
 * {@link startController}, {@link startBroker} and {@link connect} hosted together on one
 * in-process {@link SimulatedNetwork}. A controller quorum and N brokers are actors on it;
 * producers, consumers and the admin client are nodes on the same network. Storage is in memory
 * unless `dataDir` is given; either way it outlives a broker crash, so `restart()` recovers from it.
 */
import { join } from 'node:path';
import type { Clock } from '../clock.ts';
import { SystemClock } from '../clock.ts';
import { ClosedError, InvalidArgumentError, SamsaError } from '../errors.ts';
import { resolveLogger } from '../logger.ts';
import type { Logger, LogLevel } from '../logger.ts';
import type { DirectoryLock } from '../log/storage/dirLock.ts';
import type { Random } from '../random.ts';
import { createRandom, randomSeed } from '../random.ts';
import { SimulatedNetwork } from '../transport/simulatedNetwork.ts';
import type { MessageCodec } from '../transport/codec.ts';
import type { NodeId, Transport } from '../transport/transport.ts';
import { connectNats } from '../transport/natsTransport.ts';
import type { NatsTransport, NatsTransportOptions } from '../transport/natsTransport.ts';
import { controllerNode } from '../transport/transport.ts';
import type { Admin } from '../clients/admin.ts';
import type { KafkaClients } from '../clients/api.ts';
import type { Consumer, ConsumerOptions } from '../clients/consumer/consumer.ts';
import type { Producer, ProducerOptions } from '../clients/producer/producer.ts';
import { BROKER_CONFIG_DEFAULTS } from '../actors/broker/broker.ts';
import type { Broker, BrokerConfig } from '../actors/broker/broker.ts';
import { parseRaftConfig } from '../actors/metadataLog/raft/config.ts';
import type { RaftConfig } from '../actors/metadataLog/raft/config.ts';
import { InspectionSink } from '../actors/inspection.ts';
import type { InspectionEvent } from '../actors/inspection.ts';
import { Pipeline } from '../streams/pipeline.ts';
import type { PipelineOptions } from '../streams/pipeline.ts';
import { ClientHost } from './connect.ts';
import type { ConnectionAdminOptions } from './connect.ts';
import { formatDirectories } from './hosting.ts';
import { hostBroker } from './startBroker.ts';
import type { BrokerHost } from './startBroker.ts';
import { hostController } from './startController.ts';
import type { ControllerHandle, ControllerHost } from './startController.ts';

export type { ControllerHandle, QuorumState } from './startController.ts';

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
  /**
   * Carry every message between nodes as bytes through this codec (`messageCodec`), as between
   * processes: slower, and proof that nothing relies on sharing objects in one process. Default: none.
   */
  readonly codec?: MessageCodec;
  /**
   * What carries the messages between the nodes: `simulated` (default), the in-process network
   * with fault injection; or `nats`, every message through a NATS server, as between processes
   * (for trying NATS out: the nodes still share this process).
   */
  readonly transport?: 'simulated' | 'nats';
  /** With `transport: 'nats'`: the server URL or the NATS transport's options (default `nats://127.0.0.1:4222`). */
  readonly nats?: string | NatsTransportOptions;
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

/** An embedded cluster: every node and client in this process, on one simulated network. */
export class Cluster implements KafkaClients {
  /** The cluster's time source. */
  readonly clock: Clock;
  /** The seed every random choice derives from; print it to replay a run. */
  readonly seed: number;
  /** What the nodes and clients send their messages through. */
  readonly transport: Transport;
  private readonly simulated: SimulatedNetwork | undefined;
  /** The logger every node and client of this cluster writes to. */
  readonly logger: Logger;
  /**
   * The cluster id every node is formatted with (Kafka's meta.properties `cluster.id`): read from
   * the dataDir when it was formatted before, else derived from the seed.
   */
  readonly clusterId: string;
  private readonly controllerCount: number;
  private readonly brokerCount: number;
  private readonly random: Random;
  private readonly inspection: InspectionSink;
  private readonly brokerConfig: BrokerConfig;
  private readonly controllerHosts = new Map<number, ControllerHost>();
  private readonly brokerHosts = new Map<number, BrokerHost>();
  /** Kafka's `.lock` of each data directory (by its name in dataDir) not yet handed to its node's host. */
  private readonly locks = new Map<string, DirectoryLock>();
  private readonly clients: ClientHost;
  private readonly pipelines = new Set<Pipeline>();
  private stopped = false;

  /** @internal Use {@link createCluster}; `nats` is the connection made for `transport: 'nats'`. */
  constructor(
    private readonly options: ClusterOptions,
    private readonly nats?: NatsTransport,
  ) {
    const count = options.brokers ?? 1;
    if (!Number.isInteger(count) || count < 1) throw new InvalidArgumentError('brokers', `expected a positive number of brokers, got ${count}`);
    this.clock = options.clock ?? new SystemClock();
    this.seed = options.seed ?? randomSeed();
    this.random = createRandom(this.seed);
    this.logger = resolveLogger(options.logger);
    this.inspection = new InspectionSink(this.logger);
    const random = this.random.fork();
    this.simulated = nats === undefined ? new SimulatedNetwork({ clock: this.clock, random, manual: options.manualNetwork ?? false, ...(options.codec === undefined ? {} : { codec: options.codec }) }) : undefined;
    this.transport = nats ?? (this.simulated as SimulatedNetwork);
    this.brokerConfig = { ...BROKER_CONFIG_DEFAULTS, ...options.brokerConfig };
    const controllers = options.controllers ?? 1;
    if (!Number.isInteger(controllers) || controllers < 1 || controllers > 9) throw new InvalidArgumentError('controllers', `expected 1 to 9 controllers (1 or 3 is usual; 3 survives one failure), got ${String(controllers)}`);
    if (options.quorumConfig !== undefined) parseRaftConfig(options.quorumConfig);
    this.controllerCount = controllers;
    this.brokerCount = count;
    this.clients = new ClientHost({ transport: this.transport, clock: this.clock, logger: this.logger, random: this.random, brokers: () => this.brokerIds, controllers: () => this.controllerNodes, name: 'the cluster' });
    this.clusterId = options.dataDir === undefined ? `samsa-${this.seed.toString(16)}` : this.formatDataDir(options.dataDir);
  }

  /**
   * Locks every directory of `dataDir` this cluster writes (Kafka's `.lock`), then reads or writes
   * their meta.properties: an existing cluster id is kept across restarts, and a directory of
   * another cluster or node is refused. Nothing is written before every lock is held.
   */
  private formatDataDir(dataDir: string): string {
    const names = [...this.controllerIds.map((id) => ({ name: `controller-${id}`, nodeId: id })), ...this.brokerIds.map((id) => ({ name: `broker-${id}`, nodeId: id }))];
    const { clusterId, locks } = formatDirectories(
      names.map(({ name, nodeId }) => ({ dir: join(dataDir, name), nodeId })),
      undefined,
      `samsa-${this.seed.toString(16)}`,
    );
    names.forEach(({ name }, i) => this.locks.set(name, locks[i] as DirectoryLock));
    return clusterId;
  }

  /** The data directory of node `name` (`broker-1`, `controller-0`) and its lock, handed to the node's host. */
  private nodeDir(name: string): { dataDir?: string; lock?: DirectoryLock } {
    if (this.options.dataDir === undefined) return {};
    const lock = this.locks.get(name);
    this.locks.delete(name);
    return { dataDir: join(this.options.dataDir, name), ...(lock === undefined ? {} : { lock }) };
  }

  /**
   * The in-process network (fault injection: delay, drop, partition…).
   * @throws InvalidArgumentError when the cluster runs over NATS: faults need the simulated network.
   */
  get network(): SimulatedNetwork {
    if (this.simulated === undefined) throw new InvalidArgumentError('network', "this cluster's messages go through NATS; fault injection needs the simulated network (createCluster without transport: 'nats')");
    return this.simulated;
  }

  /** Address of the active controller (the first controller while none is active). */
  get controllerNode(): NodeId {
    return controllerNode(this.activeControllerId() ?? 0);
  }

  /** Addresses of every controller of the quorum. */
  get controllerNodes(): NodeId[] {
    return this.controllerIds.map(controllerNode);
  }

  /** Ids of every controller (running or not): 0..N-1. */
  get controllerIds(): number[] {
    return Array.from({ length: this.controllerCount }, (_, i) => i);
  }

  /** Ids of all brokers (running or not): 1..N. */
  get brokerIds(): number[] {
    return Array.from({ length: this.brokerCount }, (_, i) => i + 1);
  }

  /** Id of the active controller, undefined while the quorum has none (an election is running). */
  activeControllerId(): number | undefined {
    for (const [id, host] of this.controllerHosts) if (host.serving) return id;
    return undefined;
  }

  /** @internal Starts the controllers and brokers, as {@link startController} and {@link startBroker} would, in one turn. */
  start(): void {
    const common = { transport: this.transport, clock: this.clock, logger: this.logger, clusterId: this.clusterId };
    const shared = { random: this.random, inspection: this.inspection };
    for (const id of this.controllerIds) {
      const host = this.controllerHosts.get(id);
      if (host !== undefined) {
        host.start();
        continue;
      }
      const { dataDir, lock } = this.nodeDir(`controller-${id}`);
      const options = { ...common, id, voters: this.controllerIds, brokerSessionTimeoutMs: this.brokerConfig.brokerSessionTimeoutMs, ...(dataDir === undefined ? {} : { dataDir }), ...(this.options.quorumConfig === undefined ? {} : { quorumConfig: this.options.quorumConfig }) };
      this.controllerHosts.set(id, hostController(options, { ...shared, ...(lock === undefined ? {} : { lock }) }));
    }
    for (const id of this.brokerIds) {
      const host = this.brokerHosts.get(id);
      if (host !== undefined) {
        host.broker.start();
        continue;
      }
      const { dataDir, lock } = this.nodeDir(`broker-${id}`);
      const options = { ...common, id, controllers: this.controllerIds, config: this.brokerConfig, ...(dataDir === undefined ? {} : { dataDir }) };
      this.brokerHosts.set(id, hostBroker(options, { ...shared, ...(lock === undefined ? {} : { lock }) }));
    }
  }

  /** Crash/restart control of controller `id`. */
  controller(id: number): ControllerHandle {
    const host = this.controllerHosts.get(id);
    if (host === undefined) throw new InvalidArgumentError('id', `there is no controller ${id}; controllers are ${this.controllerIds.join(', ')}`);
    const ensureRunning = (): void => this.ensureRunning();
    return {
      id,
      get running() {
        return host.running;
      },
      get active() {
        return host.active;
      },
      get metadata() {
        return host.metadata;
      },
      get quorum() {
        return host.quorum;
      },
      crash: () => host.crash(),
      restart: async () => {
        ensureRunning();
        await host.restart();
      },
    };
  }

  /** Crash/restart control of broker `id`. */
  broker(id: number): BrokerHandle {
    const host = this.brokerHosts.get(id);
    if (host === undefined) throw new InvalidArgumentError('id', `there is no broker ${id}; brokers are ${this.brokerIds.join(', ')}`);
    const ensureRunning = (): void => this.ensureRunning();
    return {
      id,
      get running() {
        return host.running;
      },
      crash: () => host.crash(),
      restart: async () => {
        ensureRunning();
        await host.restart();
      },
    };
  }

  /** @internal The broker object (tests and tooling). */
  brokerInternals(id: number): Broker | undefined {
    return this.brokerHosts.get(id)?.broker;
  }

  /** A new admin client. */
  admin(options: ConnectionAdminOptions = {}): Admin {
    this.ensureRunning();
    return this.clients.admin(options);
  }

  /** A new producer. Defaults are Kafka's (acks=all, batch.size 16384, linger.ms 0, …). */
  producer(options: ProducerOptions = {}): Producer {
    this.ensureRunning();
    return this.clients.producer(options);
  }

  /** A new consumer. Defaults are Kafka's (auto.offset.reset=latest, max.poll.records 500, …). */
  consumer(options: ConsumerOptions = {}): Consumer {
    this.ensureRunning();
    return this.clients.consumer(options);
  }

  /**
   * Starts a consume-transform-produce loop: read_committed input, `process` per record, outputs
   * and input offsets committed in one transaction per `commitIntervalMs` — exactly once by
   * default (Kafka Streams' exactly_once_v2, KIP-447). See {@link Pipeline}.
   */
  pipeline(options: PipelineOptions): Pipeline {
    this.ensureRunning();
    const pipeline = new Pipeline({ clock: this.clock, consumer: (o) => this.consumer(o), producer: (o) => this.producer(o), nextClientId: () => this.clients.nextClientId('pipeline'), logger: this.logger }, options);
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
    await this.clients.stop();
    // Every node goes: moving leaderships between brokers about to stop would only slow it down.
    for (const b of this.brokerHosts.values()) await b.stop({ controlledShutdown: false });
    if (this.options.dataDir !== undefined && !(this.options.manualNetwork ?? false) && this.clock instanceof SystemClock) await this.awaitBrokersFenced();
    for (const c of this.controllerHosts.values()) await c.stop();
    // Directories of nodes that never started (a start that failed half-way).
    for (const lock of this.locks.values()) lock.release();
    this.locks.clear();
    await this.nats?.close();
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
  const nats = await natsOf(options);
  let cluster: Cluster;
  try {
    cluster = new Cluster(options, nats);
  } catch (e) {
    await nats?.close();
    throw e;
  }
  try {
    cluster.start();
  } catch (e) {
    await cluster.stop();
    throw e;
  }
  if (!(options.manualNetwork ?? false)) await waitForBrokers(cluster);
  return cluster;
}

/** The NATS connection of a cluster with `transport: 'nats'`, after checking the options that go with it. */
async function natsOf(options: ClusterOptions): Promise<NatsTransport | undefined> {
  if (typeof options !== 'object' || options === null) throw new InvalidArgumentError('options', `createCluster() takes an options object, got ${options === null ? 'null' : typeof options}`);
  const kind = options.transport ?? 'simulated';
  if (kind !== 'simulated' && kind !== 'nats') throw new InvalidArgumentError('transport', `expected 'simulated' or 'nats', got ${JSON.stringify(kind)}`);
  if (kind === 'simulated') {
    if (options.nats !== undefined) throw new InvalidArgumentError('nats', "NATS options need transport: 'nats'");
    return undefined;
  }
  if (options.manualNetwork === true || options.codec !== undefined) throw new InvalidArgumentError('transport', "manualNetwork and codec belong to the simulated network; leave them out with transport: 'nats'");
  const nats = options.nats ?? DEFAULT_NATS_URL;
  const inherited = options.logger === undefined ? {} : { logger: options.logger };
  return connectNats(typeof nats === 'string' ? { servers: nats, ...inherited } : { ...inherited, ...nats });
}

/** Where `transport: 'nats'` connects when given no server. */
const DEFAULT_NATS_URL = 'nats://127.0.0.1:4222';

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
