/**
 * `createStreamsApp(topology, clients, config)`: runs a topology on any {@link KafkaClients}, as a
 * Kafka Streams instance does. One stream thread: the commit loop of `pipeline.ts` (a consumer
 * in the group `applicationId`, and under `exactly_once_v2` one transactional producer, KIP-447),
 * with the topology's tasks plugged into it:
 *
 * - At start: the source topics must exist, co-partitioned ones must agree, and the internal
 *   topics are created (`<applicationId>-<name>-repartition` with the partitions of what feeds it,
 *   `<applicationId>-<store>-changelog` compacted, one partition per task) — or start rejects
 *   with a TopologyError and nothing runs.
 * - On assignment, a task `<subtopology>_<partition>` is created for each assigned partition and
 *   its stores are restored from their changelog partitions (read_committed) before it processes.
 * - Every input record goes to its task; sink outputs and the stores' changelog records are sent
 *   in the open transaction, and the input offsets are committed with it every
 *   `commitIntervalMs`. Store writes are applied only when that transaction commits, and dropped
 *   when it aborts, so local state never holds what the changelog does not.
 * - Revoked partitions are committed first (their tasks kept while the next assignment brings
 *   them back); lost partitions are aborted and their tasks dropped.
 */
import { BehaviorSubject } from 'rxjs';
import type { Observable } from 'rxjs';
import { SystemClock } from '../clock.ts';
import type { Clock } from '../clock.ts';
import { InvalidArgumentError, KafkaProtocolError, TopologyError } from '../errors.ts';
import { silentLogger } from '../logger.ts';
import type { Logger } from '../logger.ts';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import type { AdminClient, ConsumerOptions, ConsumerRecord, KafkaClients, ProducerOptions, RecordMetadata, TopicPartition } from '../clients/api.ts';
import { Pipeline } from './pipeline.ts';
import type { PipelineOutput } from './pipeline.ts';
import type { Serde } from './serdes.ts';
import { json } from './serdes.ts';
import { inMemoryKeyValueStore } from './stores/keyValueStore.ts';
import { persistentKeyValueStore, readCheckpoint, writeCheckpoint } from './stores/persistentStore.ts';
import type { KeyValue, ReadOnlyKeyValueStore, StoreChange, TransactionalKeyValueStore } from './stores/keyValueStore.ts';
import { StoreChangeFeeds } from './appObservables.ts';
import { startStreamsState } from './appState.ts';
import type { StreamsState, StreamsStateEvent } from './appState.ts';
import { prepareTopics } from './internalTopics.ts';
import { streamsAssignor } from './streamsAssignor.ts';
import type { StreamsMetrics } from './appObservables.ts';
import { required, StreamTask } from './task.ts';
import type { OutputRecord, RawRecord, TaskHost } from './task.ts';
import { byTimestamp } from './recordChoice.ts';
import type { Run } from './recordChoice.ts';
import type { SubTopology, Topology } from './topology.ts';

export type { StreamsState } from './appState.ts';

/** Configuration of a streams app, with Kafka Streams' names and defaults. */
export interface StreamsConfig {
  /** `application.id`: the consumer group, the transactional-id prefix and the internal-topic prefix. */
  readonly applicationId: string;
  /** `processing.guarantee`: 'at_least_once' (Kafka's default) or 'exactly_once_v2'. */
  readonly processingGuarantee?: 'at_least_once' | 'exactly_once_v2';
  /** `commit.interval.ms`: 100 under exactly_once_v2, 30000 otherwise. */
  readonly commitIntervalMs?: number;
  /** Serdes for nodes that have none and inherit none (default `json()`; Kafka Streams has none). */
  readonly defaultKeySerde?: Serde<unknown>;
  readonly defaultValueSerde?: Serde<unknown>;
  /** `default.deserialization.exception.handler`: 'logAndFail' (default) or 'logAndContinue'. */
  readonly deserializationExceptionHandler?: 'logAndFail' | 'logAndContinue';
  /**
   * `state.dir`: keep stores on disk (lmdb) under `<stateDir>/<applicationId>/<taskId>/<store>`,
   * each task with a `.checkpoint` of its changelog offsets, so a restarted instance (or a task
   * moving back) replays only what it lacks. One directory per instance. Default: stores in memory.
   */
  readonly stateDir?: string;
  /** `replication.factor` of internal topics (default 1, the broker's default). */
  readonly replicationFactor?: number;
  /** This instance's id: its clients' ids and its transactional id derive from it. */
  readonly clientId?: string;
  /**
   * Settings of the app's consumer (Kafka Streams' `consumer.` prefix): session, heartbeat and
   * poll-interval timeouts, request timeout. Group id, isolation level and offset commits are the app's.
   */
  readonly consumer?: Pick<ConsumerOptions, 'sessionTimeoutMs' | 'heartbeatIntervalMs' | 'maxPollIntervalMs' | 'requestTimeoutMs' | 'retryBackoffMs'>;
  /** Settings of the app's producer (Kafka Streams' `producer.` prefix): request and transaction timeouts, batching. */
  readonly producer?: Pick<ProducerOptions, 'requestTimeoutMs' | 'transactionTimeoutMs' | 'lingerMs' | 'batchSize'>;
  /**
   * What to do when the stream thread dies of an error (a throwing operator, a fencing):
   * 'REPLACE_THREAD' starts a new thread, which processes the failed input again;
   * 'SHUTDOWN_CLIENT' (the default) moves the app to ERROR. Kafka Streams' uncaught exception handler.
   */
  readonly uncaughtExceptionHandler?: (error: unknown) => 'REPLACE_THREAD' | 'SHUTDOWN_CLIENT';
  /** Time source for commit intervals and backoffs (default: the clients' clock, else the system clock). */
  readonly clock?: Clock;
  readonly logger?: Logger;
}

/** A running (or startable) streams application instance. */
export interface StreamsApp {
  /** Its state now and every change (CREATED → REBALANCING → RUNNING …; ERROR with `error` set). */
  readonly state$: Observable<StreamsState>;
  /** The state now. */
  readonly state: StreamsState;
  /** Why it is in ERROR, if it is. */
  readonly error: unknown;
  /** Checks the topics, creates the internal ones and starts processing. @throws TopologyError, ClosedError */
  start(): Promise<void>;
  /** Commits what was processed and stops. */
  close(): Promise<void>;
  /**
   * A local store for interactive queries: the committed contents of the store across this
   * instance's tasks (Kafka's `KafkaStreams.store`).
   * @throws InvalidArgumentError for an unknown store name.
   */
  store<K = unknown, V = unknown>(name: string): ReadOnlyKeyValueStore<K, V>;
  /** Records processed and committed so far, commits, aborts, and each task's counters. */
  readonly metrics: StreamsMetrics;
  /** `metrics` after every commit and every change of the tasks. */
  readonly metrics$: Observable<StreamsMetrics>;
  /** The committed changes of a store, from whichever of this instance's tasks hold it. @throws InvalidArgumentError for an unknown store name. */
  changes<K = unknown, V = unknown>(store: string): Observable<StoreChange<K, V>>;
}

/** Runs `topology` on `clients`; see the module comment. */
export function createStreamsApp(topology: Topology, clients: KafkaClients, config: StreamsConfig): StreamsApp {
  return new StreamsRuntime(topology, clients, config);
}

interface TaskState {
  readonly task: StreamTask;
  readonly stores: Map<string, TransactionalKeyValueStore<unknown, unknown>>;
  /** The task's state directory, when its stores are persistent. */
  readonly dir?: string;
  /** What its `.checkpoint` holds: changelog offsets its stores are restored up to. */
  readonly checkpoint: Map<string, bigint>;
}

class StreamsRuntime implements StreamsApp {
  /** The lifecycle (appState.ts); `state$` replays its current state to each subscriber. */
  private readonly lifecycle = startStreamsState();
  private readonly subject = new BehaviorSubject<StreamsState>('CREATED');
  readonly state$: Observable<StreamsState> = this.subject.asObservable();
  error: unknown;
  private readonly appId: string;
  private readonly clock: Clock;
  private readonly logger: Logger;
  private readonly host: TaskHost;
  private readonly tasks = new Map<string, TaskState>();
  /** Tasks of revoked partitions, kept (committed) in case the next assignment brings them back. */
  private readonly suspended = new Map<string, TaskState>();
  private readonly partitions = new Map<string, number>();
  private collected: OutputRecord[] = [];
  private pipeline: Pipeline | undefined;
  private threads = 0;
  private readonly feeds = new StoreChangeFeeds();
  private readonly metricsSubject = new BehaviorSubject<StreamsMetrics>({ processed: 0, commits: 0, aborts: 0, tasks: [], perTask: [] });
  private admin: AdminClient | undefined;

  constructor(
    private readonly topology: Topology,
    private readonly clients: KafkaClients,
    private readonly config: StreamsConfig,
  ) {
    if (typeof config?.applicationId !== 'string' || !/^[A-Za-z0-9._-]+$/.test(config.applicationId)) throw new InvalidArgumentError('applicationId', `expected a name of letters, digits, '.', '_' or '-', got ${JSON.stringify(config?.applicationId)}`);
    const guarantee = config.processingGuarantee ?? 'at_least_once';
    if (guarantee !== 'at_least_once' && guarantee !== 'exactly_once_v2') throw new InvalidArgumentError('processingGuarantee', `expected 'at_least_once' or 'exactly_once_v2', got ${JSON.stringify(guarantee)}`);
    const handler = config.deserializationExceptionHandler ?? 'logAndFail';
    if (handler !== 'logAndFail' && handler !== 'logAndContinue') throw new InvalidArgumentError('deserializationExceptionHandler', `expected 'logAndFail' or 'logAndContinue', got ${JSON.stringify(handler)}`);
    this.appId = config.applicationId;
    this.clock = config.clock ?? (clients as { clock?: Clock }).clock ?? new SystemClock();
    this.logger = (config.logger ?? silentLogger).child({ applicationId: this.appId });
    this.host = {
      topicName: (topic, internal) => (internal ? `${this.appId}-${topic}` : topic),
      partitionsOf: (topic) => this.partitions.get(topic),
      send: (record) => this.collected.push(record),
      defaultKeySerde: config.defaultKeySerde ?? json(),
      defaultValueSerde: config.defaultValueSerde ?? json(),
      onDeserializationError: (error) => {
        if (handler === 'logAndFail') return 'fail';
        this.logger.warn('skipping a record that fails to deserialize (logAndContinue)', { error: error.message });
        return 'continue';
      },
    };
  }

  get state(): StreamsState {
    return this.lifecycle.getSnapshot().value as StreamsState;
  }

  get metrics(): StreamsMetrics {
    const stats = this.pipeline?.stats;
    const ids = [...this.tasks.keys()].sort();
    const perTask = ids.map((taskId) => {
      const task = (this.tasks.get(taskId) as TaskState).task;
      return { taskId, processed: task.processed, streamTime: task.streamTime };
    });
    return { processed: stats?.processed ?? 0, commits: stats?.commits ?? 0, aborts: stats?.aborts ?? 0, tasks: ids, perTask };
  }

  get metrics$(): Observable<StreamsMetrics> {
    return this.metricsSubject.asObservable();
  }

  changes<K = unknown, V = unknown>(store: string): Observable<StoreChange<K, V>> {
    if (!this.topology.stores.has(store)) throw new InvalidArgumentError('store', `no store "${store}" in this topology (stores: ${[...this.topology.stores.keys()].join(', ') || 'none'})`);
    return this.feeds.feed<K, V>(store);
  }

  async start(): Promise<void> {
    if (this.state !== 'CREATED') throw new TopologyError(`start() was called in state ${this.state}; an app starts once`);
    try {
      this.admin = this.clients.admin();
      for (const [topic, count] of await prepareTopics(this.topology, this.admin, this.appId, this.config.replicationFactor ?? 1)) this.partitions.set(topic, count);
    } catch (e) {
      this.fail(e);
      throw e;
    }
    this.move('start');
    this.startThread();
  }

  /**
   * Starts the stream thread: the pipeline loop with the tasks plugged in. A replacement thread
   * (after REPLACE_THREAD) gets the next thread index, and with it its own client and
   * transactional ids, as Kafka Streams' replacement threads do.
   */
  private startThread(): void {
    const index = this.threads++;
    const base = this.config.clientId ?? `${this.appId}-client`;
    const clientId = index === 0 ? base : `${base}-thread-${index}`;
    const sources = this.topology.subtopologies.flatMap((s) => s.sourceTopics.map((t) => this.fullName(t)));
    const pipeline = new Pipeline(
      {
        clock: this.clock,
        consumer: (o) => this.clients.consumer({ ...o, partitionAssignmentStrategy: [streamsAssignor(this.topology, this.appId, () => this.localTaskIds())] }),
        producer: ((o: never) => this.clients.producer(o)) as KafkaClients['producer'],
        nextClientId: () => clientId,
        logger: this.logger,
        hooks: {
          processBatch: (records) => this.processBatch(records),
          onAssigned: (partitions) => this.onAssigned(partitions),
          beforeCommit: () => this.changelogOutputs(),
          afterCommit: (landed) => {
            this.forEachStore((s) => s.commitQuietly());
            this.checkpoint(landed);
            this.metricsSubject.next(this.metrics);
          },
          afterAbort: () => this.forEachStore((s) => s.abort()),
          onRevoked: (partitions) => this.onRevoked(partitions),
          onLost: (partitions) => this.onLost(partitions),
        },
      },
      {
        groupId: this.appId,
        from: sources,
        // Every poll goes through processBatch; a record is never processed alone.
        process: () => {
          throw new TopologyError('a streams app processes whole polls');
        },
        processingGuarantee: this.config.processingGuarantee ?? 'at_least_once',
        ...(this.config.commitIntervalMs === undefined ? {} : { commitIntervalMs: this.config.commitIntervalMs }),
        clientId,
        // Kafka Streams' client overrides: max.poll.records 1000, auto.offset.reset earliest, and
        // under exactly-once transaction.timeout.ms 10000, so a crashed instance's open
        // transaction holds its partitions' last stable offset back for seconds, not a minute.
        consumer: { autoOffsetReset: 'earliest', maxPollRecords: 1000, ...this.config.consumer },
        producer: { ...(this.config.processingGuarantee === 'exactly_once_v2' ? { transactionTimeoutMs: 10_000 } : {}), ...this.config.producer },
      },
    );
    this.pipeline = pipeline;
    pipeline.done.then(
      () => undefined,
      (e: unknown) => this.onThreadDied(pipeline, e),
    );
  }

  /** A fatal error stopped the thread: the handler decides between a new thread and shutting down (Kafka's StreamsUncaughtExceptionHandler). */
  private onThreadDied(pipeline: Pipeline, error: unknown): void {
    if (pipeline !== this.pipeline || this.state === 'PENDING_SHUTDOWN' || this.state === 'NOT_RUNNING' || this.state === 'ERROR') return;
    let decision: 'REPLACE_THREAD' | 'SHUTDOWN_CLIENT' = 'SHUTDOWN_CLIENT';
    try {
      decision = this.config.uncaughtExceptionHandler?.(error) ?? 'SHUTDOWN_CLIENT';
    } catch (handlerError) {
      this.logger.error('the uncaught exception handler threw; shutting down', { error: handlerError instanceof Error ? handlerError.message : String(handlerError) });
    }
    if (decision !== 'REPLACE_THREAD') {
      this.fail(error);
      return;
    }
    this.logger.warn('a stream thread died; replacing it (REPLACE_THREAD)', { error: error instanceof Error ? error.message : String(error) });
    // Its tasks were aborted with it: their stores are restored again by the new thread's assignment.
    for (const t of [...this.tasks.values(), ...this.suspended.values()]) this.closeTask(t);
    this.tasks.clear();
    this.suspended.clear();
    this.move('rebalance');
    this.startThread();
  }

  async close(): Promise<void> {
    if (this.state === 'NOT_RUNNING') return;
    this.move('close');
    await this.pipeline?.stop();
    for (const t of [...this.tasks.values(), ...this.suspended.values()]) this.closeTask(t);
    this.tasks.clear();
    this.suspended.clear();
    await this.admin?.close();
    this.move('closed');
    this.subject.complete();
    this.feeds.complete();
    this.metricsSubject.complete();
  }

  store<K = unknown, V = unknown>(name: string): ReadOnlyKeyValueStore<K, V> {
    const spec = this.topology.stores.get(name);
    if (spec === undefined) throw new InvalidArgumentError('name', `no store "${name}" in this topology (stores: ${[...this.topology.stores.keys()].join(', ') || 'none'})`);
    const keySerde = required(spec.keySerde ?? this.host.defaultKeySerde, `store ${name}`, 'key');
    // Committed state only: a query never shows a write whose transaction may still abort.
    const locals = (): ReadOnlyKeyValueStore<K, V>[] => [...this.tasks.values()].flatMap((t) => (t.stores.has(name) ? [(t.stores.get(name) as TransactionalKeyValueStore<K, V>).readCommitted()] : []));
    const sorted = (list: KeyValue<K, V>[]): KeyValue<K, V>[] => {
      const bytes = (k: K): string => String.fromCharCode(...(keySerde.serialize(k, name) as Uint8Array));
      return list.map((kv) => ({ kv, b: bytes(kv.key) })).sort((a, b) => (a.b < b.b ? -1 : a.b > b.b ? 1 : 0)).map((x) => x.kv);
    };
    return {
      name,
      get: (key) => {
        for (const s of locals()) {
          const v = s.get(key);
          if (v !== undefined) return v;
        }
        return undefined;
      },
      range: (from, to) => sorted(locals().flatMap((s) => s.range(from, to))),
      prefixScan: (prefix, prefixSerde) => sorted(locals().flatMap((s) => s.prefixScan(prefix, prefixSerde))),
      all: () => sorted(locals().flatMap((s) => s.all())),
      approximateNumEntries: () => locals().reduce((n, s) => n + s.approximateNumEntries(), 0),
    };
  }

  /**
   * Tasks this instance holds state for, told to the assignor at each join: its tasks (active, or
   * kept from the last assignment) and, with `stateDir`, the tasks with a checkpoint on disk.
   */
  private localTaskIds(): string[] {
    const ids = new Set([...this.tasks.keys(), ...this.suspended.keys()]);
    const dir = this.config.stateDir === undefined ? undefined : join(this.config.stateDir, this.appId);
    if (dir !== undefined && existsSync(dir)) for (const id of readdirSync(dir)) if (/^\d+_\d+$/.test(id) && existsSync(join(dir, id, '.checkpoint'))) ids.add(id);
    return [...ids];
  }

  /** Sends the lifecycle an event and publishes the state it leads to (a state it does not take ignores it). */
  private move(type: StreamsStateEvent['type']): void {
    this.lifecycle.send({ type });
    const state = this.state;
    if (state !== this.subject.value) this.subject.next(state);
  }

  private fail(e: unknown): void {
    if (this.state === 'ERROR' || this.state === 'NOT_RUNNING') return;
    this.error = e;
    this.logger.error('streams app stopped on an error', { error: e instanceof Error ? e.message : String(e) });
    this.move('fail');
  }

  private fullName(topic: string): string {
    return this.topology.internalTopics.has(topic) ? `${this.appId}-${topic}` : topic;
  }

  /**
   * A poll's records, given to their tasks in batches: a task's records of one partition in offset
   * order, and across its partitions (a table and a stream, co-partitioned) the record with the
   * smallest timestamp first, as Kafka Streams chooses by the smallest head timestamp. An RxJS
   * step sees each batch whole.
   */
  private processBatch(records: readonly ConsumerRecord[]): PipelineOutput[] | Promise<PipelineOutput[]> {
    this.collected = [];
    const perPartition = new Map<string, { task: StreamTask; topic: string; raws: RawRecord[] }>();
    for (const record of records) {
      const id = `${record.topic}\u0000${record.partition}`;
      let run = perPartition.get(id);
      if (run === undefined) {
        const name = this.topologyName(record.topic);
        const sub = this.topology.subtopologyOf(name);
        const state = sub === undefined ? undefined : this.tasks.get(`${sub.id}_${record.partition}`);
        if (state === undefined) throw new KafkaProtocolError('UNKNOWN_MEMBER_ID', `no task for ${record.topic}-${record.partition}: it is not assigned to this instance`);
        perPartition.set(id, (run = { task: state.task, topic: name, raws: [] }));
      }
      run.raws.push({ key: record.key, value: record.value, timestamp: record.timestamp, headers: record.headers, offset: record.offset });
    }
    const perTask = new Map<StreamTask, Run[]>();
    for (const run of perPartition.values()) {
      const list = perTask.get(run.task);
      if (list === undefined) perTask.set(run.task, [run]);
      else list.push(run);
    }
    const runs = [...perTask.values()].flatMap((list) => (list.length === 1 ? list : byTimestamp(list)));
    const take = (): PipelineOutput[] => this.collected.splice(0).map(toOutput);
    for (let i = 0; i < runs.length; i++) {
      const run = runs[i] as Run;
      const result = run.task.process(run.topic, run.raws);
      if (result instanceof Promise) return result.then(() => this.processRuns(runs, i + 1)).then(take);
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
    const prefix = `${this.appId}-`;
    return topic.startsWith(prefix) && this.topology.internalTopics.has(topic.slice(prefix.length)) ? topic.slice(prefix.length) : topic;
  }

  private changelogOutputs(): PipelineOutput[] {
    const out: PipelineOutput[] = [];
    for (const { task, stores } of this.tasks.values()) {
      for (const store of stores.values()) {
        if (this.topology.stores.get(store.name)?.logged !== true) continue;
        const topic = `${this.appId}-${store.name}-changelog`;
        for (const r of store.pendingChangelog()) out.push({ topic, partition: task.partition, key: r.key, value: r.value });
      }
    }
    return out;
  }

  private forEachStore(action: (store: TransactionalKeyValueStore<unknown, unknown>) => void): void {
    for (const { stores } of this.tasks.values()) for (const store of stores.values()) action(store);
  }

  private taskIdsOf(partitions: readonly TopicPartition[]): string[] {
    const ids = new Set<string>();
    for (const tp of partitions) {
      const name = tp.topic.startsWith(`${this.appId}-`) ? tp.topic.slice(this.appId.length + 1) : tp.topic;
      const sub = this.topology.subtopologyOf(this.topology.internalTopics.has(name) ? name : tp.topic);
      if (sub !== undefined) ids.add(`${sub.id}_${tp.partition}`);
    }
    return [...ids];
  }

  private async onAssigned(partitions: readonly TopicPartition[]): Promise<void> {
    this.move('rebalance');
    for (const id of this.taskIdsOf(partitions)) {
      if (this.tasks.has(id)) continue;
      const kept = this.suspended.get(id);
      if (kept !== undefined) {
        this.suspended.delete(id);
        this.tasks.set(id, kept);
        continue;
      }
      this.tasks.set(id, await this.createTask(id));
    }
    // Suspended tasks the assignment did not bring back now belong to another instance.
    for (const t of this.suspended.values()) this.closeTask(t);
    this.suspended.clear();
    this.move('assigned');
    this.metricsSubject.next(this.metrics);
  }

  private onRevoked(partitions: readonly TopicPartition[]): void {
    this.move('rebalance');
    for (const id of this.taskIdsOf(partitions)) {
      const t = this.tasks.get(id);
      if (t === undefined) continue;
      this.tasks.delete(id);
      this.suspended.set(id, t);
    }
  }

  private onLost(partitions: readonly TopicPartition[]): void {
    this.move('rebalance');
    for (const id of this.taskIdsOf(partitions)) {
      const t = this.tasks.get(id);
      if (t === undefined) continue;
      this.tasks.delete(id);
      this.closeTask(t);
    }
  }

  private closeTask(t: TaskState): void {
    t.task.close();
    for (const store of t.stores.values()) {
      this.feeds.removed(store);
      store.close();
    }
  }

  /** A new task with its stores restored from their changelogs (read_committed, to the end). */
  private async createTask(id: string): Promise<TaskState> {
    const [subId, partitionText] = id.split('_') as [string, string];
    const sub = this.topology.subtopologies[Number(subId)] as SubTopology;
    const partition = Number(partitionText);
    const stores = new Map<string, TransactionalKeyValueStore<unknown, unknown>>();
    const taskDir = this.config.stateDir === undefined ? undefined : join(this.config.stateDir, this.appId, id);
    // Offsets the task's persistent stores hold the changelogs up to; none for a store never checkpointed.
    const checkpoint = taskDir === undefined ? new Map<string, bigint>() : readCheckpoint(taskDir);
    try {
      for (const name of sub.stores) {
        const spec = this.topology.stores.get(name);
        const changelogTopic = `${this.appId}-${name}-changelog`;
        const options = { keySerde: required(spec?.keySerde ?? this.host.defaultKeySerde, `store ${name}`, 'key'), valueSerde: required(spec?.valueSerde ?? this.host.defaultValueSerde, `store ${name}`, 'value'), changelogTopic };
        const store = taskDir === undefined ? inMemoryKeyValueStore(name, options) : persistentKeyValueStore(name, { ...options, dir: join(taskDir, name) });
        stores.set(name, store);
        if (spec?.logged !== true) continue;
        const from = checkpoint.get(`${changelogTopic}-${partition}`);
        // A local store without a checkpoint holds an unknown state (a crash before the first
        // commit, or an unlogged past): it is emptied and restored in full, as Kafka does.
        if (from === undefined) store.wipe();
        await this.restore(store, changelogTopic, partition, from ?? 0n);
      }
    } catch (e) {
      for (const store of stores.values()) store.close();
      throw e;
    }
    for (const store of stores.values()) this.feeds.added(store);
    return { task: new StreamTask(id, partition, this.topology, sub.nodes, stores, this.host), stores, checkpoint, ...(taskDir === undefined ? {} : { dir: taskDir }) };
  }

  /**
   * After a commit: the tasks' stores hold every write of it, so each persistent task records how
   * far its changelogs are in its store (Kafka's `.checkpoint`), and a restart or a move back
   * replays only what came after.
   */
  private checkpoint(landed: readonly RecordMetadata[]): void {
    if (this.config.stateDir === undefined) return;
    const next = new Map<string, bigint>();
    for (const m of landed) {
      const key = `${m.topic}-${m.partition}`;
      if (m.offset >= (next.get(key) ?? 0n)) next.set(key, m.offset + 1n);
    }
    for (const t of this.tasks.values()) {
      if (t.dir === undefined) continue;
      let changed = false;
      for (const name of t.stores.keys()) {
        const key = `${this.appId}-${name}-changelog-${t.task.partition}`;
        const offset = next.get(key);
        if (offset !== undefined && offset > (t.checkpoint.get(key) ?? -1n)) {
          t.checkpoint.set(key, offset);
          changed = true;
        }
      }
      if (changed) writeCheckpoint(t.dir, t.checkpoint);
    }
  }

  private async restore(store: TransactionalKeyValueStore<unknown, unknown>, topic: string, partition: number, from: bigint): Promise<void> {
    const admin = this.admin as AdminClient;
    const end = (await admin.listOffsets(topic, 'latest', { isolationLevel: 'read_committed' })).find((o) => o.partition === partition)?.offset ?? 0n;
    if (end <= from) return;
    const consumer = this.clients.consumer({ clientId: `${this.config.clientId ?? this.appId}-restore-${topic}-${partition}`, isolationLevel: 'read_committed', enableAutoCommit: false, autoOffsetReset: 'earliest' });
    try {
      const tp = { topic, partition };
      consumer.assign([tp]);
      if (from > 0n) consumer.seek(tp, from);
      else await consumer.seekToBeginning([tp]);
      let restored = 0;
      const began = this.clock.now();
      while ((await consumer.position(tp)) < end) {
        const records = await consumer.poll({ timeoutMs: 100 });
        store.restore(records.filter((r) => r.key !== null).map((r) => ({ key: r.key as Uint8Array, value: r.value })));
        restored += records.length;
      }
      this.logger.info('store restored from its changelog', { store: store.name, partition, from: from.toString(), records: restored, durationMs: this.clock.now() - began });
    } finally {
      await consumer.close().catch(() => undefined);
    }
  }
}

/** A sink's output as the producer takes it. */
function toOutput(r: OutputRecord): PipelineOutput {
  const headers: Record<string, string | Uint8Array | null> = {};
  for (const h of r.headers) headers[h.key] = h.value;
  return { topic: r.topic, key: r.key, value: r.value, timestamp: r.timestamp, ...(r.partition === undefined ? {} : { partition: r.partition }), ...(r.headers.length === 0 ? {} : { headers }) };
}
