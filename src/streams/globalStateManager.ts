/**
 * The global stores of one app instance (Kafka's GlobalStreamThread and GlobalStateManager): one
 * reader per instance assigns itself every partition of each global table's topic with its own
 * consumer, outside the group, and
 *
 * - bootstraps: reads every partition to the end offset it had when the reader started
 *   (read_committed under exactly_once_v2, so the last stable offset) before any stream task is
 *   created, so a task never looks up a table that is still loading;
 * - then keeps polling in the background until `close()`, applying each update as it comes (a
 *   null value deletes, a null key is skipped); its failures move the app to ERROR.
 *
 * Stores live in memory, or with `stateDir` on disk under `<stateDir>/<applicationId>/global`
 * with a `.checkpoint` of the topic offsets they hold, so a restart reads only what came after.
 * Without a checkpoint, or one outside the log (a deleted prefix, a recreated topic), a store is
 * emptied and read in full: a tombstone compacted away since could not be replayed.
 */
import { join } from 'node:path';
import { sleep } from '../clock.ts';
import { SamsaError, TopologyError } from '../errors.ts';
import type { AdminClient, ConsumerClient, ConsumerRecord, TopicPartition } from '../clients/api.ts';
import { deserializeWith } from './serdes.ts';
import type { Serde } from './serdes.ts';
import { inMemoryKeyValueStore } from './stores/keyValueStore.ts';
import type { ChangelogRecord, ReadOnlyKeyValueStore, TransactionalKeyValueStore } from './stores/keyValueStore.ts';
import { persistentKeyValueStore, readCheckpoint, writeCheckpoint } from './stores/persistentStore.ts';
import { storeSerdes } from './task.ts';
import type { StreamsContext } from './taskStores.ts';
import type { GlobalStoreSpec, Topology } from './topology.ts';

/**
 * Checks that every global table's topic exists and returns its partition count, by topic. A
 * global topic is co-partitioned with nothing, so any count will do.
 * @throws TopologyError naming a missing topic.
 */
export async function checkGlobalTopics(topology: Topology, admin: AdminClient): Promise<Map<string, number>> {
  const partitions = new Map<string, number>();
  for (const g of topology.globalStores.values()) {
    try {
      partitions.set(g.topic, (await admin.describeTopic(g.topic)).partitions.length);
    } catch (e) {
      if (SamsaError.is(e) && e.code === 'UNKNOWN_TOPIC_OR_PARTITION') throw new TopologyError(`global table topic "${g.topic}" does not exist; create it before starting the app`);
      throw e;
    }
  }
  return partitions;
}

/**
 * The store write a record of a global topic makes: its key and value bytes (a null value
 * deletes), or undefined when it is skipped: a null key (Kafka's table source drops it), or a
 * record that fails to deserialize when `onDeserializationError` says continue. The bytes are
 * checked with the store's serdes here so that a bad record fails the reader, not a later lookup.
 */
export function globalUpdate(record: Pick<ConsumerRecord, 'key' | 'value'> & { readonly partition?: number; readonly offset?: bigint }, topic: string, serdes: { readonly keySerde: Serde<unknown>; readonly valueSerde: Serde<unknown> }, onDeserializationError: (error: SamsaError) => 'fail' | 'continue'): ChangelogRecord | undefined {
  if (record.key === null) return undefined;
  try {
    deserializeWith(serdes.keySerde, 'key', record.key, topic, record.partition, record.offset);
    deserializeWith(serdes.valueSerde, 'value', record.value, topic, record.partition, record.offset);
  } catch (e) {
    if (SamsaError.is(e) && e.code === 'SERDE_ERROR' && onDeserializationError(e) === 'continue') return undefined;
    throw e;
  }
  return { key: record.key, value: record.value };
}

/**
 * A read-only store that reads whatever `current()` returns at each call (nothing before the
 * store exists): what `app.store(name)` hands out for a global store, valid across start and close.
 */
export function globalStoreView<K, V>(name: string, current: () => ReadOnlyKeyValueStore<K, V> | undefined): ReadOnlyKeyValueStore<K, V> {
  return {
    name,
    get: (key) => current()?.get(key),
    range: (from, to) => current()?.range(from, to) ?? [],
    prefixScan: (prefix, prefixSerde) => current()?.prefixScan(prefix, prefixSerde) ?? [],
    all: () => current()?.all() ?? [],
    approximateNumEntries: () => current()?.approximateNumEntries() ?? 0,
  };
}

/** One global store of the reader: the store, its read-only view, its serdes. */
interface Held {
  readonly global: GlobalStoreSpec;
  readonly store: TransactionalKeyValueStore<unknown, unknown>;
  readonly view: ReadOnlyKeyValueStore<unknown, unknown>;
  readonly serdes: { readonly keySerde: Serde<unknown>; readonly valueSerde: Serde<unknown> };
}

/** The global reader of one app instance; see the module comment. */
export class GlobalStreamThread {
  /** Kafka's name for it: `<clientId>-GlobalStreamThread`. */
  readonly name: string;
  /** Records of the global topics read into the stores so far, bootstrap included. */
  applied = 0;
  private readonly held = new Map<string, Held>();
  private readonly byTopic = new Map<string, Held>();
  /** Next offset per `<topic>-<partition>` that the stores hold: the checkpoint. */
  private readonly positions = new Map<string, bigint>();
  private readonly dir: string | undefined;
  private consumer: ConsumerClient | undefined;
  private loop: Promise<void> | undefined;
  private closed = false;
  private failed = false;
  private lastCheckpoint = 0;

  constructor(
    private readonly ctx: StreamsContext,
    /** Told once when the background loop stops on an error. */
    private readonly onError: (error: unknown) => void,
  ) {
    this.name = `${ctx.config.clientId ?? `${ctx.appId}-client`}-GlobalStreamThread`;
    this.dir = ctx.config.stateDir === undefined ? undefined : join(ctx.config.stateDir, ctx.appId, 'global');
  }

  /** The read-only view of global store `name` that tasks and queries read; undefined for any other name. */
  view(name: string): ReadOnlyKeyValueStore<unknown, unknown> | undefined {
    return this.held.get(name)?.view;
  }

  /**
   * Opens the stores and reads every partition of the global topics up to its end offset of now.
   * Resolves early, with what was read, if `close()` is called meanwhile.
   * @throws what the reads throw (the app then goes to ERROR).
   */
  bootstrap(): Promise<void> {
    const run = this.load();
    this.loop = run.catch(() => undefined);
    return run;
  }

  /** Starts applying updates in the background, after {@link bootstrap}. */
  start(): void {
    if (this.closed || this.consumer === undefined) return;
    this.loop = this.run();
  }

  /** Stops reading, writes the checkpoint (stores on disk), closes the stores. Closing again does nothing. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.loop;
    await this.consumer?.close().catch(() => undefined);
    if (!this.failed) this.saveCheckpoint();
    for (const h of this.held.values()) h.store.close();
  }

  private async load(): Promise<void> {
    const { ctx } = this;
    const isolationLevel = ctx.config.processingGuarantee === 'exactly_once_v2' ? 'read_committed' : 'read_uncommitted';
    const checkpoint = this.dir === undefined ? new Map<string, bigint>() : readCheckpoint(this.dir);
    const admin = ctx.admin();
    const ends = new Map<string, { tp: TopicPartition; end: bigint }>();
    const seeks: Array<{ tp: TopicPartition; from: bigint | undefined }> = [];
    const began = ctx.clock.now();
    for (const global of ctx.topology.globalStores.values()) {
      if (this.closed) return;
      const held = this.open(global);
      const earliest = await admin.listOffsets(global.topic, 'earliest');
      const latest = await admin.listOffsets(global.topic, 'latest', { isolationLevel });
      const at = (list: typeof earliest, partition: number): bigint => list.find((o) => o.partition === partition)?.offset ?? 0n;
      const tps = latest.map((o) => ({ topic: global.topic, partition: o.partition }));
      // The store holds its checkpoint's state only when every partition has one inside the log.
      const keep = tps.every((tp) => {
        const c = checkpoint.get(`${tp.topic}-${tp.partition}`);
        return c !== undefined && c >= at(earliest, tp.partition) && c <= at(latest, tp.partition);
      });
      if (!keep) held.store.wipe();
      for (const tp of tps) {
        const key = `${tp.topic}-${tp.partition}`;
        const from = keep ? checkpoint.get(key) : undefined;
        this.positions.set(key, from ?? at(earliest, tp.partition));
        ends.set(key, { tp, end: at(latest, tp.partition) });
        seeks.push({ tp, from });
      }
    }
    if (this.closed) return;
    const consumer = (this.consumer = ctx.clients.consumer({ clientId: `${ctx.config.clientId ?? `${ctx.appId}-client`}-global-consumer`, isolationLevel, enableAutoCommit: false, autoOffsetReset: 'earliest', maxPollRecords: 1000, ...ctx.config.consumer }));
    consumer.assign(seeks.map((s) => s.tp));
    for (const { tp, from } of seeks) if (from !== undefined) consumer.seek(tp, from);
    const fromStart = seeks.filter((s) => s.from === undefined).map((s) => s.tp);
    if (fromStart.length > 0) await consumer.seekToBeginning(fromStart);
    const before = this.applied;
    for (;;) {
      if (this.closed) return;
      let behind = false;
      for (const { tp, end } of ends.values()) if ((await consumer.position(tp)) < end) behind = true;
      if (!behind) break;
      this.apply(await this.poll(consumer));
    }
    // Past the last record read: control records (transaction markers) take offsets too.
    for (const [key, { tp }] of ends) this.positions.set(key, await consumer.position(tp));
    this.saveCheckpoint();
    ctx.logger.info('global stores bootstrapped', { stores: [...this.held.keys()].join(', '), records: this.applied - before, durationMs: ctx.clock.now() - began });
  }

  /** Opens the store of `global`, in memory or under the global state directory. */
  private open(global: GlobalStoreSpec): Held {
    const name = global.spec.name;
    const serdes = storeSerdes(global.spec, this.ctx);
    // The serdes see the topic the bytes came from, as the source's would.
    const options = { ...serdes, changelogTopic: global.topic };
    const store = this.dir === undefined ? inMemoryKeyValueStore(name, options) : persistentKeyValueStore(name, { ...options, dir: join(this.dir, name) });
    const held: Held = { global, store, view: store.readCommitted(), serdes };
    this.held.set(name, held);
    this.byTopic.set(global.topic, held);
    return held;
  }

  /** Applies updates until `close()`; a failure stops the loop and is told once. */
  private async run(): Promise<void> {
    const consumer = this.consumer as ConsumerClient;
    try {
      while (!this.closed) {
        const records = await this.poll(consumer);
        if (this.closed) return;
        this.apply(records);
        const interval = this.ctx.config.commitIntervalMs ?? (this.ctx.config.processingGuarantee === 'exactly_once_v2' ? 100 : 30_000);
        if (records.length > 0 && this.ctx.clock.now() - this.lastCheckpoint >= interval) this.saveCheckpoint();
      }
    } catch (error) {
      // ClosedError.is is SamsaError.is (static methods inherit): match the code.
      if (this.closed || (SamsaError.is(error) && error.code === 'CLOSED')) return;
      this.failed = true;
      this.onError(error);
    }
  }

  /** One poll; a retriable error (a leader moving) is waited out, as the consumer's own retries are. */
  private async poll(consumer: ConsumerClient): Promise<ConsumerRecord[]> {
    try {
      return await consumer.poll({ timeoutMs: 100 });
    } catch (error) {
      if (this.closed || !(SamsaError.is(error) && error.retriable)) throw error;
      this.ctx.logger.warn('the global reader could not read its topics; retrying', { error: error.message });
      await sleep(this.ctx.clock, this.ctx.config.consumer?.retryBackoffMs ?? 100);
      return [];
    }
  }

  /**
   * Applies polled records to their stores, one write per store, then moves the positions past
   * them; all checked first, so a failing record leaves stores and positions untouched.
   */
  private apply(records: readonly ConsumerRecord[]): void {
    if (records.length === 0) return;
    const writes = new Map<Held, ChangelogRecord[]>();
    const next = new Map<string, bigint>();
    let read = 0;
    for (const r of records) {
      const held = this.byTopic.get(r.topic);
      const key = `${r.topic}-${r.partition}`;
      // A record below the position was applied already (a retried fetch).
      if (held === undefined || r.offset < (this.positions.get(key) ?? 0n)) continue;
      const update = globalUpdate(r, r.topic, held.serdes, this.ctx.onDeserializationError);
      next.set(key, r.offset + 1n);
      read++;
      if (update === undefined) continue;
      const list = writes.get(held);
      if (list === undefined) writes.set(held, [update]);
      else list.push(update);
    }
    for (const [held, list] of writes) held.store.restore(list);
    for (const [key, offset] of next) this.positions.set(key, offset);
    this.applied += read;
  }

  /** Writes the `.checkpoint` of stores on disk; nothing for in-memory ones. */
  private saveCheckpoint(): void {
    this.lastCheckpoint = this.ctx.clock.now();
    if (this.dir !== undefined && this.positions.size > 0) writeCheckpoint(this.dir, this.positions);
  }
}
