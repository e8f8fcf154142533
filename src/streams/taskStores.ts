/**
 * The stores of one task on this instance, whether it runs active or as a standby (Kafka's
 * ProcessorStateManager): opening them (in memory, or under `stateDir` with a `.checkpoint`),
 * restoring them from their changelog partitions, recording how far they hold the changelogs,
 * closing them. Also the instance-wide context a stream thread and its standbys share.
 */
import type { Clock } from '../clock.ts';
import type { SamsaError } from '../errors.ts';
import type { Logger } from '../logger.ts';
import { join } from 'node:path';
import type { AdminClient, KafkaClients } from '../clients/api.ts';
import type { Serde } from './serdes.ts';
import { inMemoryKeyValueStore } from './stores/keyValueStore.ts';
import type { TransactionalKeyValueStore } from './stores/keyValueStore.ts';
import { persistentKeyValueStore, readCheckpoint, writeCheckpoint } from './stores/persistentStore.ts';
import type { StoreChangeFeeds } from './appObservables.ts';
import type { StreamsConfig } from './streamsConfig.ts';
import { changelogTopicName } from './internalTopics.ts';
import { storeSerdes } from './task.ts';
import { TopologyError } from '../errors.ts';
import type { SubTopology, Topology } from './topology.ts';

/** What the threads of one app instance share. */
export interface StreamsContext {
  readonly topology: Topology;
  readonly clients: KafkaClients;
  readonly config: StreamsConfig;
  readonly appId: string;
  readonly clock: Clock;
  readonly logger: Logger;
  readonly feeds: StoreChangeFeeds;
  readonly defaultKeySerde: Serde<unknown>;
  readonly defaultValueSerde: Serde<unknown>;
  readonly onDeserializationError: (error: SamsaError) => 'fail' | 'continue';
  /** Partition counts of the topics the topology reads and writes, by full name. */
  readonly partitions: ReadonlyMap<string, number>;
  /** The instance's admin client (open from `start()` on). */
  readonly admin: () => AdminClient;
  /** Ids of the tasks this instance holds state for, told to the assignor at each join. */
  readonly localTaskIds: () => string[];
  /** Told after every commit of a thread (the app publishes its metrics). */
  readonly committed: () => void;
  /** Whether the app is paused (`app.pause()`). */
  readonly paused: () => boolean;
}

/** A task's stores and how far they hold their changelogs. */
export interface TaskStores {
  readonly id: string;
  readonly partition: number;
  readonly stores: Map<string, TransactionalKeyValueStore<unknown, unknown>>;
  /** The task's state directory, when its stores are persistent. */
  readonly dir?: string;
  /**
   * Next changelog offset per `<topic>-<partition>` that the stores hold (Kafka's `.checkpoint`):
   * written to disk for persistent stores, kept in memory for in-memory ones.
   */
  readonly checkpoint: Map<string, bigint>;
}

/** The changelog topic of a store. */
export function changelogTopic(ctx: StreamsContext, store: string): string {
  return changelogTopicName(ctx.appId, store);
}

/** Whether a task of this sub-topology has any changelogged store (only those get standbys). */
export function hasLoggedStores(topology: Topology, sub: SubTopology): boolean {
  return sub.stores.some((name) => topology.stores.get(name)?.logged === true);
}

/** The sub-topology and partition of a task id `<subtopology>_<partition>`. */
export function parseTaskId(topology: Topology, id: string): { sub: SubTopology; partition: number } {
  const [subId, partitionText] = id.split('_') as [string, string];
  return { sub: topology.subtopologies[Number(subId)] as SubTopology, partition: Number(partitionText) };
}

/**
 * Opens a task's stores, not yet restored. A persistent store without a checkpoint for its
 * changelog holds a state of unknown age (a crash before the first commit, an unlogged past): it
 * is emptied, to be restored in full, as Kafka does.
 */
export function openTaskStores(ctx: StreamsContext, id: string): TaskStores {
  const { sub, partition } = parseTaskId(ctx.topology, id);
  const dir = ctx.config.stateDir === undefined ? undefined : join(ctx.config.stateDir, ctx.appId, id);
  const checkpoint = dir === undefined ? new Map<string, bigint>() : readCheckpoint(dir);
  const stores = new Map<string, TransactionalKeyValueStore<unknown, unknown>>();
  try {
    for (const name of sub.stores) {
      const spec = ctx.topology.stores.get(name);
      const topic = changelogTopic(ctx, name);
      if (spec === undefined) throw new TopologyError(`task ${id} uses store "${name}", which is not in the topology`);
      const options = { ...storeSerdes(spec, ctx), changelogTopic: topic };
      const store = dir === undefined ? inMemoryKeyValueStore(name, options) : persistentKeyValueStore(name, { ...options, dir: join(dir, name) });
      stores.set(name, store);
      if (spec?.logged === true && !checkpoint.has(`${topic}-${partition}`)) store.wipe();
    }
  } catch (e) {
    for (const store of stores.values()) store.close();
    throw e;
  }
  return { id, partition, stores, checkpoint, ...(dir === undefined ? {} : { dir }) };
}

/** The changelog partitions of a task's logged stores, with the store each feeds. */
export function changelogPartitions(ctx: StreamsContext, ts: TaskStores): Array<{ store: string; topic: string; partition: number; key: string }> {
  const out: Array<{ store: string; topic: string; partition: number; key: string }> = [];
  for (const name of ts.stores.keys()) {
    if (ctx.topology.stores.get(name)?.logged !== true) continue;
    const topic = changelogTopic(ctx, name);
    out.push({ store: name, topic, partition: ts.partition, key: `${topic}-${ts.partition}` });
  }
  return out;
}

/**
 * Brings a task's logged stores up to the end of their changelogs (read_committed), each from its
 * checkpoint; records the new positions. Returns the number of records replayed.
 */
export async function restoreTaskStores(ctx: StreamsContext, ts: TaskStores): Promise<number> {
  let total = 0;
  for (const cl of changelogPartitions(ctx, ts)) {
    const store = ts.stores.get(cl.store) as TransactionalKeyValueStore<unknown, unknown>;
    const from = ts.checkpoint.get(cl.key) ?? 0n;
    const end = (await ctx.admin().listOffsets(cl.topic, 'latest', { isolationLevel: 'read_committed' })).find((o) => o.partition === cl.partition)?.offset ?? 0n;
    if (end <= from) continue;
    const consumer = ctx.clients.consumer({ clientId: `${ctx.config.clientId ?? ctx.appId}-restore-${cl.topic}-${cl.partition}`, isolationLevel: 'read_committed', enableAutoCommit: false, autoOffsetReset: 'earliest' });
    try {
      const tp = { topic: cl.topic, partition: cl.partition };
      consumer.assign([tp]);
      if (from > 0n) consumer.seek(tp, from);
      else await consumer.seekToBeginning([tp]);
      let restored = 0;
      const began = ctx.clock.now();
      let position = from;
      while ((position = await consumer.position(tp)) < end) {
        const records = await consumer.poll({ timeoutMs: 100 });
        store.restore(records.filter((r) => r.key !== null).map((r) => ({ key: r.key as Uint8Array, value: r.value })));
        restored += records.length;
      }
      ts.checkpoint.set(cl.key, position);
      total += restored;
      ctx.logger.info('store restored from its changelog', { store: cl.store, partition: cl.partition, from: from.toString(), records: restored, durationMs: ctx.clock.now() - began });
    } finally {
      await consumer.close().catch(() => undefined);
    }
  }
  saveCheckpoint(ts);
  return total;
}

/** Raises the recorded changelog positions of a task to `offsets` (next offsets), writing the `.checkpoint` when one moved. */
export function advanceCheckpoint(ts: TaskStores, offsets: ReadonlyMap<string, bigint>): void {
  let changed = false;
  for (const [key, offset] of offsets) {
    if (offset > (ts.checkpoint.get(key) ?? -1n)) {
      ts.checkpoint.set(key, offset);
      changed = true;
    }
  }
  if (changed) saveCheckpoint(ts);
}

/** Writes a persistent task's `.checkpoint`; nothing for in-memory stores. */
export function saveCheckpoint(ts: TaskStores): void {
  if (ts.dir !== undefined && ts.checkpoint.size > 0) writeCheckpoint(ts.dir, ts.checkpoint);
}

/** Closes a task's stores and takes them out of the change feeds. */
export function closeTaskStores(ctx: StreamsContext, ts: TaskStores): void {
  for (const store of ts.stores.values()) {
    ctx.feeds.removed(store);
    store.close();
  }
}
