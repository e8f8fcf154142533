/**
 * What the node hosts ({@link startBroker}, {@link startController}, {@link connect}) share:
 * checking the options a JavaScript caller may get wrong, reading node references (ids or
 * addresses), refusing a second node with the same address on one transport, and formatting a
 * node's data directory as Kafka does (`.lock`, then `meta.properties`).
 */
import type { Clock } from '../clock.ts';
import { SystemClock } from '../clock.ts';
import { InvalidArgumentError } from '../errors.ts';
import { resolveLogger } from '../logger.ts';
import type { Logger, LogLevel } from '../logger.ts';
import { lockDirectory } from '../log/storage/dirLock.ts';
import type { DirectoryLock } from '../log/storage/dirLock.ts';
import { ensureMetaProperties, readMetaProperties } from '../log/storage/metaProperties.ts';
import type { Random } from '../random.ts';
import { createRandom, randomSeed } from '../random.ts';
import type { NodeId, Transport } from '../transport/transport.ts';
import type { InspectionSink } from '../actors/inspection.ts';

/**
 * The cluster id a node is formatted with when neither its options nor its data directory name
 * one. Nodes started separately agree on it; give `clusterId` to tell clusters apart.
 */
export const DEFAULT_CLUSTER_ID = 'samsa';

/**
 * @internal What `createCluster` hands the hosts of its nodes so that they act as one process: one
 * seeded source, one inspection stream, and directories it locked and formatted together.
 */
export interface SharedHosting {
  /** The process's seeded source; each node (and each controller life) forks from it. */
  readonly random?: Random;
  /** One inspection stream for every node of the process. */
  readonly inspection?: InspectionSink;
  /** The node's data directory, already locked and formatted; the host releases it when it stops. */
  readonly lock?: DirectoryLock;
}

/** Time, logging and randomness of a host: given, or the system clock, the console, a random seed. */
export function hostBasics(options: { clock?: Clock; logger?: Logger | LogLevel; seed?: number }, shared: SharedHosting): { clock: Clock; logger: Logger; random: Random } {
  if (options.seed !== undefined && !Number.isSafeInteger(options.seed)) throw new InvalidArgumentError('seed', `expected an integer seed, got ${String(options.seed)}`);
  return { clock: options.clock ?? new SystemClock(), logger: resolveLogger(options.logger), random: shared.random ?? createRandom(options.seed ?? randomSeed()) };
}

/** The options object itself: a JavaScript caller may pass nothing at all. */
export function checkOptions<T>(factory: string, options: T | undefined): T {
  if (typeof options !== 'object' || options === null) throw new InvalidArgumentError('options', `${factory}() takes an options object, got ${options === null ? 'null' : typeof options}`);
  return options;
}

/** The transport a node or client is hosted on. */
export function checkTransport(factory: string, transport: unknown): Transport {
  const t = transport as Partial<Transport> | undefined;
  if (typeof t?.register !== 'function' || typeof t.send !== 'function') {
    throw new InvalidArgumentError('transport', `${factory}() needs the Transport its peers are on (${transport === undefined ? 'none was given' : 'the value given has no register/send'}); pass { transport }: a SimulatedNetwork for nodes in one process, or the transport that connects the processes`);
  }
  return t as Transport;
}

/** A node id: Kafka's `node.id`, a non-negative integer. */
export function checkNodeId(factory: string, id: unknown): number {
  if (typeof id !== 'number' || !Number.isSafeInteger(id) || id < 0) throw new InvalidArgumentError('id', `${factory}() needs the node's id (Kafka's node.id), a non-negative integer; got ${id === undefined ? 'none' : JSON.stringify(id)}`);
  return id;
}

/**
 * Node ids from references that are ids (`1`) or addresses (`'broker:1'`), non-empty and
 * without repeats.
 */
export function nodeIdsOf(kind: 'broker' | 'controller', argument: string, refs: unknown, fix: string): number[] {
  if (!Array.isArray(refs) || refs.length === 0) throw new InvalidArgumentError(argument, `expected a non-empty list of ${kind} ids or '${kind}:<id>' addresses, got ${refs === undefined ? 'none' : JSON.stringify(refs)}; ${fix}`);
  const ids: number[] = [];
  for (const ref of refs as unknown[]) {
    const id = typeof ref === 'number' ? ref : typeof ref === 'string' ? Number(new RegExp(`^${kind}:(\\d+)$`).exec(ref)?.[1] ?? NaN) : NaN;
    if (!Number.isSafeInteger(id) || id < 0) throw new InvalidArgumentError(argument, `${JSON.stringify(ref)} is neither a ${kind} id nor a '${kind}:<id>' address; ${fix}`);
    if (ids.includes(id)) throw new InvalidArgumentError(argument, `${kind} ${id} is listed twice; list each ${kind} once`);
    ids.push(id);
  }
  return ids;
}

/** Nodes hosted in this process, per transport: a second node with the same address is refused. */
const hosted = new WeakMap<Transport, Set<NodeId>>();

/**
 * Claims `node` on `transport` for this process until the returned function is called (which is
 * harmless to call twice). Two live nodes with one address would each take the other's messages.
 * @throws InvalidArgumentError naming the node when it already runs on the transport.
 */
export function claimNode(transport: Transport, node: NodeId, fix: string): () => void {
  let nodes = hosted.get(transport);
  if (nodes === undefined) hosted.set(transport, (nodes = new Set()));
  if (nodes.has(node)) throw new InvalidArgumentError('id', `${node} already runs on this transport; stop it first, or ${fix}`);
  nodes.add(node);
  const claimed = nodes;
  let released = false;
  return () => {
    if (released) return;
    released = true;
    claimed.delete(node);
  };
}

/**
 * Locks every directory (Kafka's `.lock`), then reads or writes their meta.properties: the cluster
 * id is `clusterId` when given, else the one found in any of them, else `fallback`; a directory of
 * another cluster or node is refused. Nothing is written before every lock is held, and on any
 * failure every lock taken is released.
 * @throws LogDirectoryLockedError, InconsistentDataDirectoryError, StorageError
 */
export function formatDirectories(dirs: ReadonlyArray<{ readonly dir: string; readonly nodeId: number }>, clusterId: string | undefined, fallback: string): { clusterId: string; locks: DirectoryLock[] } {
  const locks: DirectoryLock[] = [];
  try {
    for (const { dir } of dirs) locks.push(lockDirectory(dir));
    const id = clusterId ?? dirs.map(({ dir }) => readMetaProperties(dir)?.clusterId).find((found) => found !== undefined) ?? fallback;
    for (const { dir, nodeId } of dirs) ensureMetaProperties(dir, { clusterId: id, nodeId });
    return { clusterId: id, locks };
  } catch (e) {
    for (const lock of locks) lock.release();
    throw e;
  }
}

/** The cluster id option, when given: a non-empty string. */
export function checkClusterId(clusterId: unknown): string | undefined {
  if (clusterId !== undefined && (typeof clusterId !== 'string' || clusterId.length === 0)) throw new InvalidArgumentError('clusterId', `expected a non-empty string (Kafka's cluster.id), got ${JSON.stringify(clusterId)}`);
  return clusterId;
}
