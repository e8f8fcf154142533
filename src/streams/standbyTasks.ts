/**
 * Standby tasks (Kafka's `num.standby.replicas`): warm copies of stateful tasks that run active
 * on other instances. A standby does not process input; its stores tail the task's changelog
 * partitions through one read_committed consumer per thread (Kafka's restore consumer), so they
 * only ever hold committed state. When the assignor makes a standby active here, its stores are
 * handed to the new active task, which replays only the changelog tail since the standby's
 * position instead of the whole changelog.
 */
import { sleep } from '../clock.ts';
import { ClosedError, SamsaError } from '../errors.ts';
import type { ConsumerClient, ConsumerRecord, TopicPartition } from '../clients/api.ts';
import type { ReadOnlyKeyValueStore } from './stores/keyValueStore.ts';
import { advanceCheckpoint, changelogPartitions, closeTaskStores, openTaskStores, saveCheckpoint } from './taskStores.ts';
import type { StreamsContext, TaskStores } from './taskStores.ts';

/** The standby tasks of one stream thread. */
export class StandbyTasks {
  private readonly tasks = new Map<string, TaskStores>();
  /** Changelog `<topic>-<partition>` → the standby task and store it feeds. */
  private readonly routes = new Map<string, { task: TaskStores; store: string }>();
  private consumer: ConsumerClient | undefined;
  private loop: Promise<void> | undefined;
  private closed = false;
  /** Changelog records applied to standby stores so far. */
  applied = 0;

  constructor(
    private readonly ctx: StreamsContext,
    private readonly clientId: string,
  ) {}

  /** Ids of the standby tasks, sorted. */
  ids(): string[] {
    return [...this.tasks.keys()].sort();
  }

  /** The committed contents of store `name` in each standby holding it (stale reads). */
  stores<K, V>(name: string): ReadOnlyKeyValueStore<K, V>[] {
    return [...this.tasks.values()].flatMap((t) => {
      const store = t.stores.get(name);
      return store === undefined ? [] : [store.readCommitted() as ReadOnlyKeyValueStore<K, V>];
    });
  }

  /** Hands a standby's stores over to an active task starting here; undefined when there is no such standby. */
  take(id: string): TaskStores | undefined {
    const ts = this.tasks.get(id);
    if (ts === undefined) return undefined;
    this.tasks.delete(id);
    this.reassign();
    return ts;
  }

  /** Keeps a revoked active task's stores as a standby: their state is committed, and tailing goes on from its checkpoint. */
  adopt(ts: TaskStores): void {
    if (this.closed) {
      closeTaskStores(this.ctx, ts);
      return;
    }
    for (const store of ts.stores.values()) this.ctx.feeds.removed(store);
    this.tasks.set(ts.id, ts);
    this.reassign();
  }

  /** Makes the standbys exactly `ids`: closes the others, opens the missing ones (from their checkpoint, or from the beginning). */
  update(ids: readonly string[]): void {
    if (this.closed) return;
    const wanted = new Set(ids);
    for (const [id, ts] of this.tasks) {
      if (wanted.has(id)) continue;
      this.tasks.delete(id);
      closeTaskStores(this.ctx, ts);
    }
    for (const id of wanted) if (!this.tasks.has(id)) this.tasks.set(id, openTaskStores(this.ctx, id));
    this.reassign();
  }

  /** Stops tailing and closes every standby's stores (their checkpoints written). */
  async close(): Promise<void> {
    this.closed = true;
    await this.loop;
    await this.consumer?.close().catch(() => undefined);
    this.consumer = undefined;
    for (const ts of this.tasks.values()) {
      saveCheckpoint(ts);
      closeTaskStores(this.ctx, ts);
    }
    this.tasks.clear();
    this.routes.clear();
  }

  /** Points the consumer at the changelog partitions of the current standbys, each new one at its checkpoint. */
  private reassign(): void {
    const before = new Set(this.routes.keys());
    this.routes.clear();
    const partitions: TopicPartition[] = [];
    for (const ts of this.tasks.values()) {
      for (const cl of changelogPartitions(this.ctx, ts)) {
        this.routes.set(cl.key, { task: ts, store: cl.store });
        partitions.push({ topic: cl.topic, partition: cl.partition });
      }
    }
    if (partitions.length === 0 && this.consumer === undefined) return;
    this.consumer ??= this.ctx.clients.consumer({ clientId: `${this.clientId}-standby`, isolationLevel: 'read_committed', enableAutoCommit: false, autoOffsetReset: 'earliest' });
    this.consumer.assign(partitions);
    for (const tp of partitions) {
      const key = `${tp.topic}-${tp.partition}`;
      if (before.has(key)) continue;
      // A partition new to the consumer starts where its store's state ends (else at the earliest offset).
      const from = this.routes.get(key)?.task.checkpoint.get(key);
      if (from !== undefined && from > 0n) this.consumer.seek(tp, from);
    }
    if (partitions.length > 0) this.loop ??= this.run();
  }

  /** Polls the changelogs while there are standbys; ends when there are none, or at close. */
  private async run(): Promise<void> {
    try {
      while (!this.closed && this.routes.size > 0) {
        const consumer = this.consumer as ConsumerClient;
        let records: ConsumerRecord[];
        try {
          records = await consumer.poll({ timeoutMs: 100 });
        } catch (error) {
          // ClosedError.is is SamsaError.is (true for any samsa error): the code tells a closed consumer.
          if (this.closed || error instanceof ClosedError || (SamsaError.is(error) && error.code === 'CLOSED')) return;
          // A standby only lags while its changelog cannot be read: it never stops the app.
          this.ctx.logger.warn('a standby could not read its changelogs; retrying', { error: error instanceof Error ? error.message : String(error) });
          await sleep(this.ctx.clock, this.ctx.config.consumer?.retryBackoffMs ?? 100);
          continue;
        }
        this.apply(records);
      }
    } finally {
      this.loop = undefined;
    }
  }

  /** Applies polled changelog records to the standby stores they belong to, in offset order, once each; one write per store and poll. */
  private apply(records: readonly ConsumerRecord[]): void {
    const batches = new Map<string, { route: { task: TaskStores; store: string }; records: Array<{ key: Uint8Array; value: Uint8Array | null }>; next: bigint }>();
    for (const r of records) {
      const key = `${r.topic}-${r.partition}`;
      const route = this.routes.get(key);
      // A record polled for a partition that has since left the standbys, or one already applied.
      if (route === undefined || r.offset < (route.task.checkpoint.get(key) ?? 0n)) continue;
      let batch = batches.get(key);
      if (batch === undefined) batches.set(key, (batch = { route, records: [], next: 0n }));
      if (r.key !== null) batch.records.push({ key: r.key, value: r.value });
      batch.next = r.offset + 1n;
      this.applied++;
    }
    for (const [key, { route, records: batch, next }] of batches) {
      route.task.stores.get(route.store)?.restore(batch);
      advanceCheckpoint(route.task, new Map([[key, next]]));
    }
  }
}
