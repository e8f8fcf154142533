/**
 * A stream thread (Kafka's StreamThread): an XState actor (streamThreadState.ts) owning one commit
 * loop — the consumer in the group `applicationId` and, under `exactly_once_v2`, one
 * transactional producer (KIP-447) — with this thread's tasks plugged into it:
 *
 * - On assignment, a task `<subtopology>_<partition>` is created for each assigned partition:
 *   from a task kept since the revoke, from a standby here (its stores already warm), or new, its
 *   stores restored from their changelog partitions (read_committed) before it processes.
 * - Every input record goes to its task; sink outputs and the stores' changelog records are sent
 *   in the open transaction, and the input offsets are committed with it every
 *   `commitIntervalMs`. Store writes are applied only when that transaction commits, and dropped
 *   when it aborts, so local state never holds what the changelog does not.
 * - Revoked partitions are committed first (their tasks kept while the next assignment brings
 *   them back, or kept warm as standbys when it makes them one); lost partitions are aborted and
 *   their tasks dropped.
 */
import { KafkaProtocolError, TopologyError } from '../errors.ts';
import type { ConsumerRecord, KafkaClients, RecordMetadata, TopicPartition, TopicPartitionOffset } from '../clients/api.ts';
import { Pipeline } from './pipeline.ts';
import type { PipelineOutput } from './pipeline.ts';
import { StandbyTasks } from './standbyTasks.ts';
import { streamsAssignor } from './streamsAssignor.ts';
import { advanceCheckpoint, changelogPartitions, closeTaskStores, openTaskStores, parseTaskId, restoreTaskStores } from './taskStores.ts';
import type { StreamsContext, TaskStores } from './taskStores.ts';
import { StreamTask } from './task.ts';
import type { OutputRecord, RawRecord, TaskHost } from './task.ts';
import { PartitionGroups } from './partitionGroup.ts';
import { DEFAULT_CACHE_MAX_BYTES } from './recordCache.ts';
import type { Run } from './partitionGroup.ts';
import type { TransactionalKeyValueStore } from './stores/keyValueStore.ts';
import { createThreadActor, threadStateOf } from './streamThreadState.ts';
import type { ThreadActor, ThreadEvent, ThreadState } from './streamThreadState.ts';

/** An active task with its stores. */
interface ActiveTask extends TaskStores {
  readonly task: StreamTask;
}

/** One stream thread; see the module comment. */
export class StreamThread {
  readonly name: string;
  readonly actor: ThreadActor;
  /** Changelog records replayed into stores of tasks starting here (restoration; standbys not counted). */
  restored = 0;
  private pipeline: Pipeline | undefined;
  private readonly tasks = new Map<string, ActiveTask>();
  /** The input offsets this thread committed last, per partition it still owns (read-your-writes waits on them). */
  readonly committedInputs = new Map<string, TopicPartitionOffset>();
  /** Tasks of revoked partitions, kept (committed) in case the next assignment brings them back. */
  private readonly suspended = new Map<string, ActiveTask>();
  readonly standbys: StandbyTasks;
  /** The standby tasks the last assignment gave this thread (read by the assignor's onAssignment, applied in onAssigned). */
  private assignedStandbys: readonly string[] = [];
  private collected: OutputRecord[] = [];
  /** Records fetched but not yet processed, per task and partition (Kafka's PartitionGroup). */
  private readonly groups: PartitionGroups;
  /** Per input partition, the offset after the last record processed since the last commit. */
  private readonly processedNext = new Map<string, TopicPartitionOffset>();
  private readonly host: TaskHost;
  private report: (event: ThreadEvent) => void = () => undefined;

  constructor(
    private readonly ctx: StreamsContext,
    readonly index: number,
    /** The instance's global stores by name (read-only views), for tasks that join a GlobalKTable. */
    globalStore?: (name: string) => unknown,
  ) {
    const base = ctx.config.clientId ?? `${ctx.appId}-client`;
    // A replacement thread gets its own client and transactional ids, as Kafka Streams' do.
    const clientId = index === 0 ? base : `${base}-thread-${index}`;
    this.name = `${clientId}-StreamThread-${index + 1}`;
    this.standbys = new StandbyTasks(ctx, clientId);
    this.groups = new PartitionGroups(ctx.config.maxTaskIdleMs ?? 0, (topic, partition) => this.pipeline?.lagOf(topic, partition));
    this.host = {
      topicName: (topic, internal) => (internal ? `${ctx.appId}-${topic}` : topic),
      partitionsOf: (topic) => ctx.partitions.get(topic),
      send: (record) => this.collected.push(record),
      defaultKeySerde: ctx.defaultKeySerde,
      defaultValueSerde: ctx.defaultValueSerde,
      onDeserializationError: ctx.onDeserializationError,
      wallClock: () => ctx.clock.now(),
      cacheMaxBytes: ctx.config.statestoreCacheMaxBytes ?? DEFAULT_CACHE_MAX_BYTES,
      idleStreamTimeAdvance: ctx.config.idleStreamTimeAdvance !== undefined,
      logger: ctx.logger,
      ...(ctx.config.timestampExtractor === undefined ? {} : { timestampExtractor: ctx.config.timestampExtractor }),
      ...(globalStore === undefined ? {} : { globalStore }),
    };
    this.actor = createThreadActor({
      startLoop: (report) => {
        this.report = report;
        return (this.pipeline = this.createPipeline(clientId));
      },
    });
  }

  /** Kafka's thread state. */
  get state(): ThreadState {
    return threadStateOf(this.actor.getSnapshot());
  }

  /** The error that killed the thread, if one did. */
  get error(): unknown {
    return this.actor.getSnapshot().context.error;
  }

  /** Input records committed, commits and aborts of its loop. */
  get stats(): { processed: number; commits: number; aborts: number } {
    const s = this.pipeline?.stats;
    return { processed: s?.processed ?? 0, commits: s?.commits ?? 0, aborts: s?.aborts ?? 0 };
  }

  /** Its active tasks, by id. */
  activeTasks(): ReadonlyMap<string, { readonly task: StreamTask; readonly stores: ReadonlyMap<string, TransactionalKeyValueStore<unknown, unknown>> }> {
    return this.tasks;
  }

  /** Every task it holds state for now: active, kept since a revoke, or standby. */
  heldTaskIds(): string[] {
    return [...this.tasks.keys(), ...this.suspended.keys(), ...this.standbys.ids()];
  }

  start(): void {
    this.actor.send({ type: 'start' });
  }

  /** Commits what was processed, stops the loop, closes tasks and standbys. */
  async stop(): Promise<void> {
    const done = this.pipeline?.done.catch(() => undefined);
    if (this.state !== 'DEAD') this.actor.send({ type: 'stop' });
    await done;
    await this.closeAll();
  }

  /** Closes every task and standby (after a stop, or dirty after the thread died: their state is restored again wherever they go). */
  async closeAll(): Promise<void> {
    for (const t of [...this.tasks.values(), ...this.suspended.values()]) this.closeTask(t);
    this.tasks.clear();
    this.suspended.clear();
    await this.standbys.close();
  }

  private createPipeline(clientId: string): Pipeline {
    const { ctx } = this;
    const sources = ctx.topology.subtopologies.flatMap((s) => s.sourceTopics.map((t) => (ctx.topology.internalTopics.has(t) ? `${ctx.appId}-${t}` : t)));
    const assignor = streamsAssignor(ctx.topology, ctx.appId, ctx.localTaskIds, {
      numStandbyReplicas: ctx.config.numStandbyReplicas ?? 0,
      onStandbys: (ids) => (this.assignedStandbys = ids),
    });
    const exactlyOnce = ctx.config.processingGuarantee === 'exactly_once_v2';
    return new Pipeline(
      {
        clock: ctx.clock,
        consumer: (o) => ctx.clients.consumer({ ...o, partitionAssignmentStrategy: [assignor] }),
        producer: ((o: never) => ctx.clients.producer(o)) as KafkaClients['producer'],
        nextClientId: () => clientId,
        logger: ctx.logger,
        paused: () => ctx.paused(),
        hooks: {
          processBatch: (records) => this.processBatch(records),
          punctuate: () => this.punctuateWallClock(),
          offsetsToCommit: (polled) => this.offsetsToCommit(polled),
          onAssigned: (partitions) => this.onAssigned(partitions),
          beforeCommit: () => this.beforeCommit(),
          afterCommit: (landed, offsets) => this.afterCommit(landed, offsets),
          afterAbort: () => {
            // The consumer is rewound to the committed offsets: held records come again.
            this.groups.drop();
            this.processedNext.clear();
            for (const t of this.tasks.values()) t.task.abortCache();
            this.forEachStore((s) => s.abort());
          },
          onRevoked: (partitions) => this.onRevoked(partitions),
          onLost: (partitions) => this.onLost(partitions),
        },
      },
      {
        groupId: ctx.appId,
        from: sources,
        // Every poll goes through processBatch; a record is never processed alone.
        process: () => {
          throw new TopologyError('a streams app processes whole polls');
        },
        processingGuarantee: ctx.config.processingGuarantee ?? 'at_least_once',
        ...(ctx.config.commitIntervalMs === undefined ? {} : { commitIntervalMs: ctx.config.commitIntervalMs }),
        clientId,
        // Kafka Streams' client overrides: max.poll.records 1000, auto.offset.reset earliest, and
        // under exactly-once transaction.timeout.ms 10000, so a crashed instance's open
        // transaction holds its partitions' last stable offset back for seconds, not a minute.
        consumer: { autoOffsetReset: 'earliest', maxPollRecords: 1000, ...ctx.config.consumer },
        producer: { ...(exactlyOnce ? { transactionTimeoutMs: 10_000 } : {}), ...ctx.config.producer },
      },
    );
  }

  /**
   * A poll's records, buffered per task and partition (partitionGroup.ts), then given to their
   * tasks in batches as they become ready: a task's records of one partition in offset order, and
   * across its partitions (a table and a stream, co-partitioned) the record with the smallest
   * timestamp first, as Kafka Streams chooses by the smallest head timestamp. An RxJS step sees
   * each batch whole.
   */
  private processBatch(records: readonly ConsumerRecord[]): PipelineOutput[] | Promise<PipelineOutput[]> {
    // Looked up once per partition of the poll, not per record.
    const perPartition = new Map<string, RawRecord[]>();
    for (const record of records) {
      const id = `${record.topic}\u0000${record.partition}`;
      let raws = perPartition.get(id);
      if (raws === undefined) {
        const name = this.topologyName(record.topic);
        const sub = this.ctx.topology.subtopologyOf(name);
        const state = sub === undefined ? undefined : this.tasks.get(`${sub.id}_${record.partition}`);
        if (sub === undefined || state === undefined) throw new KafkaProtocolError('UNKNOWN_MEMBER_ID', `no task for ${record.topic}-${record.partition}: it is not assigned to this instance`);
        raws = this.groups.queue(state.task, () => sub.sourceTopics.map((t) => ({ topic: t, fullTopic: this.host.topicName(t, this.ctx.topology.internalTopics.has(t)), partition: record.partition })), record.topic, record.partition);
        perPartition.set(id, raws);
      }
      raws.push({ key: record.key, value: record.value, timestamp: record.timestamp, headers: record.headers, offset: record.offset });
    }
    return this.processReady() ?? [];
  }

  /** Processes the buffered records that may go now; undefined when none may. */
  private processReady(): PipelineOutput[] | Promise<PipelineOutput[]> | undefined {
    const runs = this.groups.take(this.ctx.clock.now());
    if (runs.length === 0) return undefined;
    this.collected = [];
    const take = (): PipelineOutput[] => this.collected.splice(0).map(toOutput);
    for (let i = 0; i < runs.length; i++) {
      const run = runs[i] as Run;
      this.noteProcessed(run);
      const result = run.task.process(run.topic, run.raws);
      if (result instanceof Promise) return result.then(() => this.processRuns(runs, i + 1)).then(take);
    }
    return take();
  }

  /** Where a partition's processing got to, for the next commit (held records stay uncommitted). */
  private noteProcessed(run: Run): void {
    const last = run.raws.at(-1);
    if (last === undefined) return;
    this.processedNext.set(`${run.fullTopic}\u0000${run.partition}`, { topic: run.fullTopic, partition: run.partition, offset: last.offset + 1n });
  }

  /**
   * The input offsets a commit may carry: after the last record processed per partition, but never
   * past a record still held (a crash or a rebalance must read it again).
   */
  private offsetsToCommit(polled: readonly TopicPartitionOffset[]): TopicPartitionOffset[] {
    const out = new Map<string, TopicPartitionOffset>();
    for (const o of [...polled, ...this.processedNext.values()]) {
      const k = `${o.topic}\u0000${o.partition}`;
      const prior = out.get(k);
      if (prior === undefined || o.offset > prior.offset) out.set(k, o);
    }
    return [...out.values()].map((o) => {
      const held = this.groups.heldFrom(o.topic, o.partition);
      return held === undefined ? o : { ...o, offset: held };
    });
  }

  /** Runs the wall-clock punctuators that are due (Kafka checks them in every poll loop); undefined when none is. */
  private punctuateWallClock(): PipelineOutput[] | undefined | Promise<PipelineOutput[] | undefined> {
    // Held records a task may now process without its empty partitions (max.task.idle.ms passed).
    const ready = this.processReady();
    if (ready instanceof Promise) return ready.then(async (outputs) => [...outputs, ...((await this.runWallClock()) ?? [])]);
    const punctuated = this.runWallClock();
    if (ready === undefined) return punctuated;
    if (punctuated instanceof Promise) return punctuated.then((outputs) => [...ready, ...(outputs ?? [])]);
    return [...ready, ...(punctuated ?? [])];
  }

  /**
   * Wall-clock work of every poll: the due wall-clock punctuators, and with `idleStreamTimeAdvance`
   * the stream time of quiet tasks moved up to `now − maxSkewMs`. Undefined when nothing ran.
   */
  private runWallClock(): PipelineOutput[] | undefined | Promise<PipelineOutput[]> {
    const now = this.ctx.clock.now();
    const skew = this.ctx.config.idleStreamTimeAdvance?.maxSkewMs;
    const work: Array<() => void | Promise<void>> = [];
    for (const { task } of this.tasks.values()) {
      if (task.due('WALL_CLOCK_TIME', now)) work.push(() => task.punctuate('WALL_CLOCK_TIME', now));
      // Also a task that has seen no record since it started here: its restored windows must close too.
      if (skew !== undefined && now - skew > task.streamTime) work.push(() => task.advanceStreamTime(now - skew));
    }
    if (work.length === 0) return undefined;
    this.collected = [];
    const take = (): PipelineOutput[] => this.collected.splice(0).map(toOutput);
    for (let i = 0; i < work.length; i++) {
      const result = (work[i] as () => void | Promise<void>)();
      if (result instanceof Promise) {
        return result.then(async () => {
          for (const w of work.slice(i + 1)) await w();
          return take();
        });
      }
    }
    return take();
  }


  /** The rest of the runs, after one went asynchronous. */
  private async processRuns(runs: readonly Run[], from: number): Promise<void> {
    for (let i = from; i < runs.length; i++) {
      const run = runs[i] as Run;
      await run.task.process(run.topic, run.raws);
    }
  }

  /** The topology's name of a topic: internal topics lose the application-id prefix. */
  private topologyName(topic: string): string {
    const prefix = `${this.ctx.appId}-`;
    return topic.startsWith(prefix) && this.ctx.topology.internalTopics.has(topic.slice(prefix.length)) ? topic.slice(prefix.length) : topic;
  }

  /**
   * What a commit adds to its transaction: the record caches flushed downstream (their sinks'
   * records), then every store's changelog records, the flush's own writes included.
   */
  private beforeCommit(): PipelineOutput[] | Promise<PipelineOutput[]> {
    this.collected = [];
    const dirty = [...this.tasks.values()];
    const done = (): PipelineOutput[] => [...this.collected.splice(0).map(toOutput), ...this.changelogOutputs()];
    for (let i = 0; i < dirty.length; i++) {
      const result = (dirty[i] as ActiveTask).task.flushCache();
      if (result instanceof Promise) {
        return result.then(async () => {
          for (const t of dirty.slice(i + 1)) await t.task.flushCache();
          return done();
        });
      }
    }
    return done();
  }

  private changelogOutputs(): PipelineOutput[] {
    const out: PipelineOutput[] = [];
    for (const t of this.tasks.values()) {
      for (const cl of changelogPartitions(this.ctx, t)) {
        const store = t.stores.get(cl.store) as TransactionalKeyValueStore<unknown, unknown>;
        for (const r of store.pendingChangelog()) out.push({ topic: cl.topic, partition: cl.partition, key: r.key, value: r.value });
      }
    }
    return out;
  }

  /**
   * After a commit: the stores apply its writes, and each task records how far its changelogs are
   * in its stores (Kafka's `.checkpoint`, on disk for persistent stores), so a restart, a move back
   * or a move to a standby replays only what came after.
   */
  private afterCommit(landed: readonly RecordMetadata[], offsets: readonly TopicPartitionOffset[]): void {
    this.forEachStore((s) => s.commitQuietly());
    this.processedNext.clear();
    for (const o of offsets) this.committedInputs.set(`${o.topic}-${o.partition}`, o);
    this.recordCheckpoints(landed);
    this.ctx.committed();
  }

  private recordCheckpoints(landed: readonly RecordMetadata[]): void {
    if (landed.length === 0) return;
    const next = new Map<string, bigint>();
    for (const m of landed) {
      const key = `${m.topic}-${m.partition}`;
      if (m.offset >= (next.get(key) ?? 0n)) next.set(key, m.offset + 1n);
    }
    for (const t of this.tasks.values()) {
      const mine = new Map<string, bigint>();
      for (const cl of changelogPartitions(this.ctx, t)) {
        const offset = next.get(cl.key);
        if (offset !== undefined) mine.set(cl.key, offset);
      }
      if (mine.size > 0) advanceCheckpoint(t, mine);
    }
  }

  private forEachStore(action: (store: TransactionalKeyValueStore<unknown, unknown>) => void): void {
    for (const { stores } of this.tasks.values()) for (const store of stores.values()) action(store);
  }

  private taskIdsOf(partitions: readonly TopicPartition[]): string[] {
    const ids = new Set<string>();
    for (const tp of partitions) {
      const sub = this.ctx.topology.subtopologyOf(this.topologyName(tp.topic));
      if (sub !== undefined) ids.add(`${sub.id}_${tp.partition}`);
    }
    return [...ids];
  }

  private async onAssigned(partitions: readonly TopicPartition[]): Promise<void> {
    this.report({ type: 'assigned' });
    const standbys = new Set(this.assignedStandbys);
    for (const id of this.taskIdsOf(partitions)) {
      if (this.tasks.has(id)) continue;
      const kept = this.suspended.get(id);
      if (kept !== undefined) {
        this.suspended.delete(id);
        this.tasks.set(id, await this.resumeTask(kept));
        continue;
      }
      this.tasks.set(id, await this.createTask(id));
    }
    // Kept tasks the assignment did not bring back now run elsewhere: warm standbys when it says so, else closed.
    for (const t of this.suspended.values()) {
      if (standbys.has(t.id)) {
        t.task.close();
        this.standbys.adopt(t);
      } else this.closeTask(t);
    }
    this.suspended.clear();
    this.standbys.update([...standbys].filter((id) => !this.tasks.has(id)));
    this.report({ type: 'restored' });
  }

  private onRevoked(partitions: readonly TopicPartition[]): void {
    this.report({ type: 'revoked' });
    for (const tp of partitions) this.committedInputs.delete(`${tp.topic}-${tp.partition}`);
    // Held records were not committed: whoever owns the partitions next reads them again.
    this.groups.drop(this.taskIdsOf(partitions));
    for (const id of this.taskIdsOf(partitions)) {
      const t = this.tasks.get(id);
      if (t === undefined) continue;
      this.tasks.delete(id);
      this.suspended.set(id, t);
    }
  }

  private onLost(partitions: readonly TopicPartition[]): void {
    this.report({ type: 'revoked' });
    for (const tp of partitions) this.committedInputs.delete(`${tp.topic}-${tp.partition}`);
    this.groups.drop(this.taskIdsOf(partitions));
    for (const id of this.taskIdsOf(partitions)) {
      const t = this.tasks.get(id);
      if (t === undefined) continue;
      this.tasks.delete(id);
      this.closeTask(t);
    }
  }

  private closeTask(t: ActiveTask): void {
    t.task.close();
    closeTaskStores(this.ctx, t);
  }

  /**
   * A task kept since its partitions were revoked, coming back. Another instance may have run it in
   * between (this one was cut off across several rebalances): its stores catch up from their
   * checkpoints to the changelogs' end, and it starts again with fresh processors, as a task
   * created here would.
   */
  private async resumeTask(kept: ActiveTask): Promise<ActiveTask> {
    kept.task.close();
    try {
      this.restored += await restoreTaskStores(this.ctx, kept);
    } catch (e) {
      this.closeTask(kept);
      throw e;
    }
    const { sub } = parseTaskId(this.ctx.topology, kept.id);
    return { ...kept, task: new StreamTask(kept.id, kept.partition, this.ctx.topology, sub.nodes, kept.stores, this.host) };
  }

  /** A task starting here: its stores from a standby when there is one (warm), else opened; then restored to the changelogs' end. */
  private async createTask(id: string): Promise<ActiveTask> {
    const ts = this.standbys.take(id) ?? openTaskStores(this.ctx, id);
    try {
      this.restored += await restoreTaskStores(this.ctx, ts);
    } catch (e) {
      closeTaskStores(this.ctx, ts);
      throw e;
    }
    for (const store of ts.stores.values()) this.ctx.feeds.added(store);
    const { sub } = parseTaskId(this.ctx.topology, id);
    return { ...ts, task: new StreamTask(id, ts.partition, this.ctx.topology, sub.nodes, ts.stores, this.host) };
  }
}

/** A sink's output as the producer takes it. */
function toOutput(r: OutputRecord): PipelineOutput {
  const headers: Record<string, string | Uint8Array | null> = {};
  for (const h of r.headers) headers[h.key] = h.value;
  return { topic: r.topic, key: r.key, value: r.value, timestamp: r.timestamp, ...(r.partition === undefined ? {} : { partition: r.partition }), ...(r.headers.length === 0 ? {} : { headers }) };
}
