/**
 * `startBroker`: one broker node on any {@link Transport}, as one `kafka-server-start` process
 * with `process.roles=broker`. It registers with the controller quorum, replicates the metadata
 * log, and hosts partition replicas and the group and transaction coordinators. Storage is in
 * memory unless `dataDir` is given; either way it outlives a crash, so `restart()` recovers from it.
 */
import type { Clock } from '../clock.ts';
import { sleep } from '../clock.ts';
import { ClosedError, InvalidArgumentError, TimeoutError } from '../errors.ts';
import type { Logger, LogLevel } from '../logger.ts';
import type { DirectoryLock } from '../log/storage/dirLock.ts';
import { FileStorage } from '../log/storage/fileStorage.ts';
import { MemoryStorage } from '../log/storage/memoryStorage.ts';
import type { NodeId, Transport } from '../transport/transport.ts';
import { brokerNode, controllerNode } from '../transport/transport.ts';
import { Broker, BROKER_CONFIG_DEFAULTS } from '../actors/broker/broker.ts';
import type { BrokerConfig } from '../actors/broker/broker.ts';
import { InspectionSink } from '../actors/inspection.ts';
import type { InspectionEvent } from '../actors/inspection.ts';
import { checkClusterId, checkNodeId, checkOptions, checkTransport, claimNode, DEFAULT_CLUSTER_ID, formatDirectories, hostBasics, nodeIdsOf } from './hosting.ts';
import type { SharedHosting } from './hosting.ts';

/** Options of {@link startBroker}. */
export interface BrokerNodeOptions {
  /** The broker's id (Kafka's `node.id`); its address is `broker:<id>`. */
  readonly id: number;
  /** The transport the controllers, other brokers and clients are on. */
  readonly transport: Transport;
  /** The controller quorum's voters (Kafka's `controller.quorum.voters`): ids or `controller:<id>` addresses. */
  readonly controllers: ReadonlyArray<number | NodeId>;
  /**
   * This broker's data directory (Kafka's `log.dirs`): partition logs, `meta.properties` and a
   * `.lock` held while the broker runs. Default: in memory.
   */
  readonly dataDir?: string;
  /** The cluster id (Kafka's `cluster.id`); default: the one `dataDir` was formatted with, else `samsa`. */
  readonly clusterId?: string;
  /** Time source (default: the system clock). */
  readonly clock?: Clock;
  /** Where the broker logs (default: the console at `warn`); a level for the console logger. */
  readonly logger?: Logger | LogLevel;
  /** Broker settings: `auto.create.topics.enable`, `num.partitions`, … and log defaults. */
  readonly config?: Partial<BrokerConfig>;
  /** Seed for the broker's random choices (default: random). */
  readonly seed?: number;
}

/** Options of {@link BrokerNode.stop}. */
export interface BrokerStopOptions {
  /** Move leaderships away before stopping (default true), as Kafka's `controlled.shutdown.enable`. */
  readonly controlledShutdown?: boolean;
  /** How long the controlled shutdown may take before the broker stops anyway (default 30000 ms). */
  readonly timeoutMs?: number;
}

/** A broker node started by {@link startBroker}. */
export interface BrokerNode {
  readonly id: number;
  /** Its address on the transport. */
  readonly node: NodeId;
  /** The cluster id it was formatted with. */
  readonly clusterId: string;
  /** Whether the broker process is up. */
  readonly running: boolean;
  /** Whether the controller accepted this process's registration: it serves requests. */
  readonly registered: boolean;
  /**
   * Resolves once the controller quorum accepted this process's registration (at once if it has).
   * @throws TimeoutError after `timeoutMs` (default 60000); ClosedError once the broker is stopped.
   */
  ready(options?: { timeoutMs?: number }): Promise<void>;
  /** Kills the broker: in-memory state is lost, nothing is flushed; its storage (and lock) survive. */
  crash(): void;
  /**
   * Starts it again after a crash; every log is recovered from storage. As in Kafka, the new
   * process is registered only once the controller let the crashed one's session expire
   * (`broker.session.timeout.ms`) and fenced it. Harmless while it runs.
   * @throws ClosedError after {@link BrokerNode.stop}.
   */
  restart(): Promise<void>;
  /**
   * Stops cleanly (logs flushed and closed) and releases the data directory. First, unless
   * `controlledShutdown: false`, a controlled shutdown (Kafka's `controlled.shutdown.enable`):
   * the controller moves this broker's leaderships to other ISR members and takes it out of every
   * ISR, so producers and consumers move on at once instead of waiting out its session; bounded by
   * `timeoutMs` (default 30000), after which the broker stops anyway. Stopping twice is harmless.
   */
  stop(options?: BrokerStopOptions): Promise<void>;
  /** Observes XState inspection events of the broker's actors and its `@samsa.*` events. */
  inspect(listener: (event: InspectionEvent) => void): () => void;
}

/** @internal The host of one broker; `createCluster` reaches the broker object through it. */
export class BrokerHost implements BrokerNode {
  readonly id: number;
  readonly node: NodeId;
  readonly clusterId: string;
  /** @internal The broker object (tests and tooling). */
  readonly broker: Broker;
  private readonly inspection: InspectionSink;
  private stopped = false;

  /** @internal Use {@link startBroker}. */
  constructor(
    broker: Broker,
    clusterId: string,
    inspection: InspectionSink,
    private readonly clock: Clock,
    private readonly release: { readonly lock: DirectoryLock | undefined; readonly claim: () => void },
  ) {
    this.broker = broker;
    this.id = broker.id;
    this.node = broker.node;
    this.clusterId = clusterId;
    this.inspection = inspection;
  }

  get running(): boolean {
    return this.broker.running;
  }

  get registered(): boolean {
    return this.broker.state === 'running';
  }

  async ready(options: { timeoutMs?: number } = {}): Promise<void> {
    const timeoutMs = options.timeoutMs ?? READY_TIMEOUT_MS;
    if (!Number.isFinite(timeoutMs) || timeoutMs < 0) throw new InvalidArgumentError('timeoutMs', `expected a non-negative number of milliseconds, got ${String(timeoutMs)}`);
    const deadline = this.clock.now() + timeoutMs;
    // Registration is the broker's own exchange with the controllers: watching for it is enough.
    while (!this.registered) {
      if (this.stopped) throw new ClosedError(`broker ${this.id}`);
      if (this.clock.now() >= deadline) throw new TimeoutError(`the registration of broker ${this.id}`, timeoutMs, 'check that a majority of the controllers runs and is reachable on the transport, and that the broker was not crashed');
      await sleep(this.clock, READY_POLL_MS);
    }
  }

  crash(): void {
    this.broker.crash();
  }

  async restart(): Promise<void> {
    if (this.stopped) throw new ClosedError(`broker ${this.id}`);
    this.broker.start();
  }

  async stop(options: BrokerStopOptions = {}): Promise<void> {
    if (this.stopped) return;
    const timeoutMs = options.timeoutMs ?? CONTROLLED_SHUTDOWN_TIMEOUT_MS;
    if (!Number.isFinite(timeoutMs) || timeoutMs < 0) throw new InvalidArgumentError('timeoutMs', `expected a non-negative number of milliseconds, got ${String(timeoutMs)}`);
    this.stopped = true;
    try {
      if (options.controlledShutdown ?? true) await this.broker.controlledShutdown(timeoutMs);
      await this.broker.stop();
    } finally {
      this.release.lock?.release();
      this.release.claim();
    }
  }

  inspect(listener: (event: InspectionEvent) => void): () => void {
    return this.inspection.subscribe(listener);
  }
}

const FIX_ID = 'give this broker another id';
/** How long {@link BrokerNode.ready} waits by default: as long as `createCluster` waits for its brokers. */
const READY_TIMEOUT_MS = 60_000;
/** How long a controlled shutdown may take by default before the broker stops anyway. */
const CONTROLLED_SHUTDOWN_TIMEOUT_MS = 30_000;
/** How often {@link BrokerNode.ready} looks again. */
const READY_POLL_MS = 5;

/**
 * @internal Starts a broker synchronously (`createCluster` starts every node in one turn); with
 * `shared.lock` the data directory was locked and formatted by the caller.
 */
export function hostBroker(options: BrokerNodeOptions, shared: SharedHosting = {}): BrokerHost {
  checkOptions('startBroker', options);
  const transport = checkTransport('startBroker', options.transport);
  const id = checkNodeId('startBroker', options.id);
  const controllers = nodeIdsOf('controller', 'controllers', options.controllers, "pass the controller quorum's voters as { controllers: [0, 1, 2] } (Kafka's controller.quorum.voters)");
  const clusterIdOption = checkClusterId(options.clusterId);
  const { clock, logger, random } = hostBasics(options, shared);
  const node = brokerNode(id);
  const claim = claimNode(transport, node, FIX_ID);
  let lock = shared.lock;
  try {
    let clusterId = clusterIdOption ?? DEFAULT_CLUSTER_ID;
    if (options.dataDir !== undefined && lock === undefined) {
      const formatted = formatDirectories([{ dir: options.dataDir, nodeId: id }], clusterIdOption, DEFAULT_CLUSTER_ID);
      lock = formatted.locks[0];
      clusterId = formatted.clusterId;
    }
    const storage = options.dataDir === undefined ? new MemoryStorage() : new FileStorage(options.dataDir);
    const inspection = shared.inspection ?? new InspectionSink(logger.child({ node }));
    const broker = new Broker({
      id,
      storage,
      clock,
      transport,
      controllers: controllers.map(controllerNode),
      config: { ...BROKER_CONFIG_DEFAULTS, ...options.config },
      inspection,
      random: random.fork(),
      clusterId,
      logger: logger.child({ node }),
    });
    const host = new BrokerHost(broker, clusterId, inspection, clock, { lock, claim });
    try {
      broker.start();
    } catch (e) {
      // The transport refused the address (another node holds it): nothing of this process may stay.
      broker.crash();
      throw e;
    }
    return host;
  } catch (e) {
    lock?.release();
    claim();
    throw e;
  }
}

/**
 * Starts a broker node on `transport`. It resolves once the process runs; it serves requests once
 * the controller quorum accepted its registration ({@link BrokerNode.ready}).
 *
 * @example
 * const broker = await startBroker({ id: 1, transport, controllers: [0, 1, 2], dataDir: './data/broker-1' });
 * await broker.ready();
 * @throws InvalidArgumentError for a missing transport, a bad id or controller list, or an id
 *   already running on the transport; LogDirectoryLockedError, InconsistentDataDirectoryError for
 *   a data directory held by another process or formatted for another cluster or node.
 */
export async function startBroker(options: BrokerNodeOptions): Promise<BrokerNode> {
  return hostBroker(options);
}
