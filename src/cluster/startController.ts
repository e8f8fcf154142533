/**
 * `startController`: one controller of the metadata quorum on any {@link Transport}, as one
 * `kafka-server-start` process with `process.roles=controller`. The voters elect a leader (Raft,
 * KIP-595) that becomes the active controller; its `__cluster_metadata` log, vote and snapshots
 * stay in memory unless `dataDir` is given, and survive a crash either way.
 */
import { createActor } from 'xstate';
import type { Actor } from 'xstate';
import type { Clock } from '../clock.ts';
import { ClosedError, InvalidArgumentError } from '../errors.ts';
import type { Logger, LogLevel } from '../logger.ts';
import type { DirectoryLock } from '../log/storage/dirLock.ts';
import type { Random } from '../random.ts';
import type { Message, NodeId, Transport } from '../transport/transport.ts';
import { controllerNode } from '../transport/transport.ts';
import { controllerMachine } from '../actors/controller/controller.machine.ts';
import type { MetadataRecord } from '../actors/metadataLog/records.ts';
import { openFileRaftDurableState } from '../actors/metadataLog/durableLog.ts';
import { parseRaftConfig } from '../actors/metadataLog/raft/config.ts';
import type { RaftConfig } from '../actors/metadataLog/raft/config.ts';
import { createRaftDurableState } from '../actors/metadataLog/raft/log.ts';
import type { RaftDurableState } from '../actors/metadataLog/raft/log.ts';
import type { RaftRole } from '../actors/metadataLog/raft/state.ts';
import type { ClusterMetadataImage } from '../protocol/index.ts';
import { InspectionSink } from '../actors/inspection.ts';
import type { InspectionEvent } from '../actors/inspection.ts';
import { checkClusterId, checkNodeId, checkOptions, checkTransport, claimNode, DEFAULT_CLUSTER_ID, formatDirectories, hostBasics, nodeIdsOf } from './hosting.ts';
import type { SharedHosting } from './hosting.ts';

/** Options of {@link startController}. */
export interface ControllerNodeOptions {
  /** The controller's id (Kafka's `node.id`); its address is `controller:<id>`. */
  readonly id: number;
  /** The transport the other voters, the brokers and the clients are on. */
  readonly transport: Transport;
  /** Every voter of the quorum, this one included (Kafka's `controller.quorum.voters`): ids or `controller:<id>` addresses. */
  readonly voters: ReadonlyArray<number | NodeId>;
  /**
   * This controller's data directory (Kafka's `metadata.log.dir`): the `__cluster_metadata` log,
   * quorum-state and snapshots, `meta.properties` and a `.lock` held while it runs. Default: in memory.
   */
  readonly dataDir?: string;
  /** The cluster id (Kafka's `cluster.id`); default: the one `dataDir` was formatted with, else `samsa`. */
  readonly clusterId?: string;
  /** Time source (default: the system clock). */
  readonly clock?: Clock;
  /** Where the controller logs (default: the console at `warn`); a level for the console logger. */
  readonly logger?: Logger | LogLevel;
  /** Quorum settings with Kafka's keys: `controller.quorum.election.timeout.ms`, `controller.quorum.fetch.timeout.ms`, … */
  readonly quorumConfig?: RaftConfig;
  /** `broker.session.timeout.ms` (default 9000): a broker silent this long is fenced. */
  readonly brokerSessionTimeoutMs?: number;
  /** Seed for the controller's random choices (default: random). */
  readonly seed?: number;
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

/** A controller node started by {@link startController}. */
export interface ControllerNode extends ControllerHandle {
  /** Its address on the transport. */
  readonly node: NodeId;
  /** The cluster id it was formatted with. */
  readonly clusterId: string;
  /**
   * Starts it again after a crash (harmless while it runs).
   * @throws ClosedError after {@link ControllerNode.stop}.
   */
  restart(): Promise<void>;
  /** Stops it, closes its metadata log and releases the data directory. Stopping twice is harmless. */
  stop(): Promise<void>;
  /** Observes XState inspection events of the controller's actor and its `@samsa.*` events. */
  inspect(listener: (event: InspectionEvent) => void): () => void;
}

/** What one life of the controller needs; each start builds a new actor from it. */
interface ControllerSetup {
  readonly id: number;
  readonly node: NodeId;
  readonly voters: readonly number[];
  readonly clusterId: string;
  readonly transport: Transport;
  readonly clock: Clock;
  readonly logger: Logger;
  readonly random: Random;
  readonly inspection: InspectionSink;
  readonly dataDir: string | undefined;
  readonly quorumConfig: RaftConfig | undefined;
  readonly brokerSessionTimeoutMs: number | undefined;
}

/** @internal The host of one controller across its lives (crash, restart). */
export class ControllerHost implements ControllerNode {
  readonly id: number;
  readonly node: NodeId;
  readonly clusterId: string;
  private actor: Actor<typeof controllerMachine> | undefined;
  private unregister: (() => void) | undefined;
  private durable: RaftDurableState<MetadataRecord> & { close?(): void };
  private stopped = false;

  /** @internal Use {@link startController}. */
  constructor(
    private readonly setup: ControllerSetup,
    private readonly release: { readonly lock: DirectoryLock | undefined; readonly claim: () => void },
  ) {
    this.id = setup.id;
    this.node = setup.node;
    this.clusterId = setup.clusterId;
    this.durable = createRaftDurableState<MetadataRecord>();
  }

  get running(): boolean {
    return this.actor !== undefined;
  }

  get active(): boolean {
    return this.actor?.getSnapshot().context.active ?? false;
  }

  /** @internal Active and its actor alive: the controller requests go to. */
  get serving(): boolean {
    return this.active && this.actor?.getSnapshot().status === 'active';
  }

  get metadata(): ClusterMetadataImage | undefined {
    return this.actor?.getSnapshot().context.image;
  }

  get quorum(): QuorumState | undefined {
    const raft = this.actor?.getSnapshot().context.raft;
    return raft === undefined ? undefined : { epoch: raft.epoch, leaderId: raft.leaderId, role: raft.role, highWatermark: raft.highWatermark, logStartOffset: raft.logStartOffset, logEndOffset: raft.logEndOffset };
  }

  /** @internal Starts a life of the controller; harmless while one runs. */
  start(): void {
    if (this.actor !== undefined) return;
    const s = this.setup;
    if (s.dataDir !== undefined) {
      // Every life starts from the files, as a new process would: what was not written is lost.
      this.durable.close?.();
      this.durable = openFileRaftDurableState<MetadataRecord>(s.dataDir, { logger: s.logger.child({ node: s.node }) });
    }
    const actor = createActor(controllerMachine, {
      input: {
        id: s.id,
        voters: s.voters,
        clusterId: s.clusterId,
        random: s.random.fork(),
        clock: s.clock,
        durable: this.durable,
        ...(s.quorumConfig === undefined ? {} : { raftConfig: s.quorumConfig }),
        send: (to: NodeId, message: Message) => s.transport.send(s.node, to, message),
        notify: (e) => s.inspection.notify(e as never),
        ...(s.brokerSessionTimeoutMs === undefined ? {} : { brokerSessionTimeoutMs: s.brokerSessionTimeoutMs }),
        logger: s.logger.child({ node: s.node }),
      },
      clock: s.clock,
      id: s.node,
    });
    s.inspection.track(actor);
    this.actor = actor;
    this.unregister = s.transport.register(s.node, (message, from) => actor.send({ type: 'net.message', message, from }));
    actor.start();
  }

  private halt(): void {
    if (this.actor === undefined) return;
    this.unregister?.();
    this.unregister = undefined;
    this.actor.stop();
    this.actor = undefined;
  }

  crash(): void {
    if (this.actor !== undefined) this.setup.inspection.notify({ type: '@samsa.controller.crashed', controllerId: this.id } as never);
    this.halt();
  }

  async restart(): Promise<void> {
    if (this.stopped) throw new ClosedError(`controller ${this.id}`);
    this.start();
  }

  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    try {
      this.halt();
      this.durable.close?.();
    } finally {
      this.release.lock?.release();
      this.release.claim();
    }
  }

  inspect(listener: (event: InspectionEvent) => void): () => void {
    return this.setup.inspection.subscribe(listener);
  }
}

const FIX_ID = 'give this controller another id (and list it among the voters)';

/**
 * @internal Starts a controller synchronously (`createCluster` starts every node in one turn);
 * with `shared.lock` the data directory was locked and formatted by the caller.
 */
export function hostController(options: ControllerNodeOptions, shared: SharedHosting = {}): ControllerHost {
  checkOptions('startController', options);
  const transport = checkTransport('startController', options.transport);
  const id = checkNodeId('startController', options.id);
  const voters = nodeIdsOf('controller', 'voters', options.voters, "pass every voter of the quorum, this controller included, as { voters: [0, 1, 2] } (Kafka's controller.quorum.voters)");
  if (!voters.includes(id)) throw new InvalidArgumentError('voters', `controller ${id} is not among the voters ${voters.join(', ')}; add ${id} to voters (every controller lists the same voters, itself included) or start it with one of their ids`);
  const clusterIdOption = checkClusterId(options.clusterId);
  if (options.quorumConfig !== undefined) parseRaftConfig(options.quorumConfig);
  const timeout = options.brokerSessionTimeoutMs;
  if (timeout !== undefined && (!Number.isFinite(timeout) || timeout <= 0)) throw new InvalidArgumentError('brokerSessionTimeoutMs', `expected a positive number of milliseconds (broker.session.timeout.ms), got ${String(timeout)}`);
  const { clock, logger, random } = hostBasics(options, shared);
  const node = controllerNode(id);
  const claim = claimNode(transport, node, FIX_ID);
  let lock = shared.lock;
  try {
    let clusterId = clusterIdOption ?? DEFAULT_CLUSTER_ID;
    if (options.dataDir !== undefined && lock === undefined) {
      const formatted = formatDirectories([{ dir: options.dataDir, nodeId: id }], clusterIdOption, DEFAULT_CLUSTER_ID);
      lock = formatted.locks[0];
      clusterId = formatted.clusterId;
    }
    const inspection = shared.inspection ?? new InspectionSink(logger.child({ node }));
    const host = new ControllerHost(
      { id, node, voters, clusterId, transport, clock, logger, random, inspection, dataDir: options.dataDir, quorumConfig: options.quorumConfig, brokerSessionTimeoutMs: timeout },
      { lock, claim },
    );
    try {
      host.start();
    } catch (e) {
      // The transport refused the address, or the metadata log could not be opened.
      void host.stop();
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
 * Starts a controller of the metadata quorum on `transport`. Start every voter (a majority
 * elects the active controller); brokers then register with it.
 *
 * @example
 * const controller = await startController({ id: 0, transport, voters: [0, 1, 2], dataDir: './data/controller-0' });
 * @throws InvalidArgumentError for a missing transport, a bad id or voter list, an id that is not
 *   among the voters, or an id already running on the transport; LogDirectoryLockedError,
 *   InconsistentDataDirectoryError for a data directory held by another process or formatted for
 *   another cluster or node.
 */
export async function startController(options: ControllerNodeOptions): Promise<ControllerNode> {
  return hostController(options);
}
