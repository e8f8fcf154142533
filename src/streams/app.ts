/**
 * `createStreamsApp(topology, clients, config)`: runs a topology on any {@link KafkaClients}, as a
 * Kafka Streams instance does.
 *
 * - At start: the source topics must exist, co-partitioned ones must agree, and the internal
 *   topics are created (`<applicationId>-<name>-repartition` with the partitions of what feeds it,
 *   `<applicationId>-<store>-changelog` compacted, one partition per task) — or start rejects
 *   with a TopologyError and nothing runs.
 * - Then the global reader (globalStateManager.ts) loads every global table to its topic's end
 *   before any task exists, and keeps it up to date until close; its failure moves the app to ERROR.
 * - Then one stream thread (streamThread.ts, an XState actor owning the consumer and producer)
 *   runs the tasks the group assigns it, and keeps its standby tasks warm. The app's state follows
 *   the thread's, as KafkaStreams' follows its threads': REBALANCING while the thread is between
 *   a revoke and the end of restoration, RUNNING after.
 * - A thread that dies of an error is replaced or the app stops, as the uncaught exception
 *   handler says. Interactive queries read the committed state of the thread's tasks.
 */
import { BehaviorSubject } from 'rxjs';
import type { Observable } from 'rxjs';
import { SystemClock } from '../clock.ts';
import type { Clock } from '../clock.ts';
import { InvalidArgumentError, TopologyError } from '../errors.ts';
import { silentLogger } from '../logger.ts';
import type { Logger } from '../logger.ts';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import type { AdminClient, KafkaClients } from '../clients/api.ts';
import { json } from './serdes.ts';
import type { KeyValue, ReadOnlyKeyValueStore, StoreChange } from './stores/keyValueStore.ts';
import { StoreChangeFeeds } from './appObservables.ts';
import { startStreamsState } from './appState.ts';
import type { StreamsState, StreamsStateEvent } from './appState.ts';
import { changelogTopicName, prepareTopics } from './internalTopics.ts';
import { checkGlobalTopics, globalStoreView, GlobalStreamThread } from './globalStateManager.ts';
import type { StreamsMetrics } from './appObservables.ts';
import { required, timedOptions } from './task.ts';
import { combinedSessionStore, combinedWindowStore, timedStoreView } from './stores/windowStore.ts';
import type { ReadOnlySessionStore, ReadOnlyWindowStore } from './stores/windowStore.ts';
import type { Topology } from './topology.ts';
import type { StoreQueryOptions, StreamsApp, StreamsConfig, ThreadMetadata } from './streamsConfig.ts';
import { StreamThread } from './streamThread.ts';
import type { StreamsContext } from './taskStores.ts';

export type { StreamsState } from './appState.ts';
export type { StoreQueryOptions, StreamsApp, StreamsConfig, ThreadMetadata } from './streamsConfig.ts';
export type { ThreadState } from './streamThreadState.ts';

/** Runs `topology` on `clients`; see the module comment. */
export function createStreamsApp(topology: Topology, clients: KafkaClients, config: StreamsConfig): StreamsApp {
  return new StreamsRuntime(topology, clients, config);
}

class StreamsRuntime implements StreamsApp {
  /** The lifecycle (appState.ts); `state$` replays its current state to each subscriber. */
  private readonly lifecycle = startStreamsState();
  private readonly subject = new BehaviorSubject<StreamsState>('CREATED');
  readonly state$: Observable<StreamsState> = this.subject.asObservable();
  error: unknown;
  private readonly ctx: StreamsContext;
  private readonly logger: Logger;
  private readonly partitions = new Map<string, number>();
  private thread: StreamThread | undefined;
  /** The instance's global reader, when the topology has global tables. */
  private global: GlobalStreamThread | undefined;
  private pausedNow = false;
  private threads = 0;
  private readonly feeds = new StoreChangeFeeds();
  private readonly metricsSubject = new BehaviorSubject<StreamsMetrics>({ processed: 0, commits: 0, aborts: 0, tasks: [], perTask: [], standbyTasks: [], restoredRecords: 0, standbyRecords: 0, committedOffsets: [] });
  private admin: AdminClient | undefined;

  constructor(
    private readonly topology: Topology,
    clients: KafkaClients,
    private readonly config: StreamsConfig,
  ) {
    if (typeof config?.applicationId !== 'string' || !/^[A-Za-z0-9._-]+$/.test(config.applicationId)) throw new InvalidArgumentError('applicationId', `expected a name of letters, digits, '.', '_' or '-', got ${JSON.stringify(config?.applicationId)}`);
    const guarantee = config.processingGuarantee ?? 'at_least_once';
    if (guarantee !== 'at_least_once' && guarantee !== 'exactly_once_v2') throw new InvalidArgumentError('processingGuarantee', `expected 'at_least_once' or 'exactly_once_v2', got ${JSON.stringify(guarantee)}`);
    const handler = config.deserializationExceptionHandler ?? 'logAndFail';
    if (handler !== 'logAndFail' && handler !== 'logAndContinue') throw new InvalidArgumentError('deserializationExceptionHandler', `expected 'logAndFail' or 'logAndContinue', got ${JSON.stringify(handler)}`);
    const standbys = config.numStandbyReplicas ?? 0;
    if (!Number.isInteger(standbys) || standbys < 0) throw new InvalidArgumentError('numStandbyReplicas', `expected an integer ≥ 0, got ${JSON.stringify(standbys)}`);
    for (const [name, min] of [['maxTaskIdleMs', -1], ['statestoreCacheMaxBytes', 0], ['windowstoreChangelogAdditionalRetentionMs', 0]] as const) {
      const v = config[name];
      if (v !== undefined && (!Number.isSafeInteger(v) || v < min)) throw new InvalidArgumentError(name, `expected an integer ≥ ${min}, got ${JSON.stringify(v)}`);
    }
    const skew = config.idleStreamTimeAdvance?.maxSkewMs;
    if (config.idleStreamTimeAdvance !== undefined && (typeof skew !== 'number' || !Number.isSafeInteger(skew) || skew < 0)) throw new InvalidArgumentError('idleStreamTimeAdvance.maxSkewMs', `expected an integer ≥ 0, got ${JSON.stringify(skew)}`);
    if (config.timestampExtractor !== undefined && typeof config.timestampExtractor !== 'function') throw new InvalidArgumentError('timestampExtractor', 'expected a function (record, partitionTime) => timestamp');
    const appId = config.applicationId;
    this.logger = (config.logger ?? silentLogger).child({ applicationId: appId });
    const logger = this.logger;
    this.ctx = {
      topology,
      clients,
      config,
      appId,
      clock: config.clock ?? (clients as { clock?: Clock }).clock ?? new SystemClock(),
      logger,
      feeds: this.feeds,
      defaultKeySerde: config.defaultKeySerde ?? json(),
      defaultValueSerde: config.defaultValueSerde ?? json(),
      onDeserializationError: (error) => {
        if (handler === 'logAndFail') return 'fail';
        logger.warn('skipping a record that fails to deserialize (logAndContinue)', { error: error.message });
        return 'continue';
      },
      partitions: this.partitions,
      admin: () => {
        if (this.admin === undefined) throw new TopologyError('the app has not started');
        return this.admin;
      },
      localTaskIds: () => this.localTaskIds(),
      committed: () => this.metricsSubject.next(this.metrics),
      paused: () => this.pausedNow,
    };
  }

  pause(): void {
    this.pausedNow = true;
  }

  resume(): void {
    this.pausedNow = false;
  }

  isPaused(): boolean {
    return this.pausedNow;
  }

  get state(): StreamsState {
    return this.lifecycle.getSnapshot().value as StreamsState;
  }

  get metrics(): StreamsMetrics {
    const thread = this.thread;
    const stats = thread?.stats;
    const active = thread?.activeTasks() ?? new Map();
    const ids = [...active.keys()].sort();
    const perTask = ids.map((taskId) => {
      const { task } = active.get(taskId) as { task: { processed: number; streamTime: number; droppedRecords: number } };
      return { taskId, processed: task.processed, streamTime: task.streamTime, droppedRecords: task.droppedRecords };
    });
    return { processed: stats?.processed ?? 0, commits: stats?.commits ?? 0, aborts: stats?.aborts ?? 0, tasks: ids, perTask, standbyTasks: thread?.standbys.ids() ?? [], restoredRecords: thread?.restored ?? 0, standbyRecords: thread?.standbys.applied ?? 0, committedOffsets: [...(thread?.committedInputs.values() ?? [])] };
  }

  get metrics$(): Observable<StreamsMetrics> {
    return this.metricsSubject.asObservable();
  }

  localThreadsMetadata(): ThreadMetadata[] {
    const t = this.thread;
    return t === undefined ? [] : [{ threadName: t.name, state: t.state, activeTasks: [...t.activeTasks().keys()].sort(), standbyTasks: t.standbys.ids() }];
  }

  changes<K = unknown, V = unknown>(store: string): Observable<StoreChange<K, V>> {
    const global = this.topology.globalStores.get(store);
    if (global !== undefined) throw new InvalidArgumentError('store', `"${store}" is a global store: it has no change feed; its updates are the records of topic "${global.topic}"`);
    if (!this.topology.stores.has(store)) throw new InvalidArgumentError('store', `no store "${store}" in this topology (stores: ${[...this.topology.stores.keys()].join(', ') || 'none'})`);
    return this.feeds.feed<K, V>(store);
  }

  async start(): Promise<void> {
    if (this.state !== 'CREATED') throw new TopologyError(`start() was called in state ${this.state}; an app starts once`);
    try {
      this.admin = this.ctx.clients.admin();
      // Before any internal topic is created: a missing global topic leaves nothing behind.
      for (const [topic, count] of await checkGlobalTopics(this.topology, this.admin)) this.partitions.set(topic, count);
      for (const [topic, count] of await prepareTopics(this.topology, this.admin, this.ctx.appId, this.config.replicationFactor ?? 1, this.config.windowstoreChangelogAdditionalRetentionMs)) this.partitions.set(topic, count);
    } catch (e) {
      this.fail(e);
      throw e;
    }
    this.move('start');
    if (this.topology.globalStores.size > 0) {
      const global = (this.global = new GlobalStreamThread(this.ctx, (error) => void this.onGlobalError(error)));
      try {
        await global.bootstrap();
      } catch (e) {
        await global.close();
        if (!this.live()) return;
        this.fail(e);
        throw e;
      }
      // A close during the bootstrap wins: no thread starts.
      if (!this.live()) return;
      global.start();
    }
    // Only global tables: no task to run, so no stream thread (Kafka starts none either).
    if (this.topology.subtopologies.length === 0) this.move('assigned');
    else this.startThread();
  }

  /** The global reader failed: the app stops its stream thread and goes to ERROR (no replacement, as Kafka's global thread). */
  private async onGlobalError(error: unknown): Promise<void> {
    if (!this.live()) return;
    this.fail(error);
    await this.thread?.stop();
  }

  /** Starts a stream thread; the app's state follows it. */
  private startThread(): void {
    const thread = new StreamThread(this.ctx, this.threads++, (name) => this.global?.view(name));
    this.thread = thread;
    thread.actor.subscribe(() => this.onThreadState(thread));
    thread.start();
  }

  /** Kafka Streams' thread-state listener: the app rebalances while its thread does, runs when it runs. */
  private onThreadState(thread: StreamThread): void {
    if (thread !== this.thread) return;
    switch (thread.state) {
      case 'STARTING':
      case 'PARTITIONS_REVOKED':
      case 'PARTITIONS_ASSIGNED':
        this.move('rebalance');
        return;
      case 'RUNNING':
        this.move('assigned');
        this.metricsSubject.next(this.metrics);
        return;
      case 'DEAD':
        if (thread.error !== undefined) void this.onThreadDied(thread, thread.error);
        return;
      default:
        return;
    }
  }

  /** A fatal error stopped the thread: the handler decides between a new thread and shutting down (Kafka's StreamsUncaughtExceptionHandler). */
  private async onThreadDied(thread: StreamThread, error: unknown): Promise<void> {
    if (this.state === 'PENDING_SHUTDOWN' || this.state === 'NOT_RUNNING' || this.state === 'ERROR') return;
    let decision: 'REPLACE_THREAD' | 'SHUTDOWN_CLIENT' = 'SHUTDOWN_CLIENT';
    try {
      decision = this.config.uncaughtExceptionHandler?.(error) ?? 'SHUTDOWN_CLIENT';
    } catch (handlerError) {
      this.logger.error('the uncaught exception handler threw; shutting down', { error: handlerError instanceof Error ? handlerError.message : String(handlerError) });
    }
    if (decision !== 'REPLACE_THREAD') {
      this.fail(error);
      await thread.closeAll();
      return;
    }
    this.logger.warn('a stream thread died; replacing it (REPLACE_THREAD)', { thread: thread.name, error: error instanceof Error ? error.message : String(error) });
    // Its tasks were aborted with it: their stores are restored again by the new thread's assignment.
    await thread.closeAll();
    // A close during the cleanup wins over the replacement.
    if (!this.live()) return;
    this.move('rebalance');
    this.startThread();
  }

  async close(): Promise<void> {
    if (this.state === 'NOT_RUNNING') return;
    this.move('close');
    await this.thread?.stop();
    await this.global?.close();
    await this.admin?.close();
    this.move('closed');
    this.subject.complete();
    this.feeds.complete();
    this.metricsSubject.complete();
  }

  store<K = unknown, V = unknown>(name: string, options: StoreQueryOptions = {}): ReadOnlyKeyValueStore<K, V> {
    // A global store is whole on every instance: its one copy here answers everything.
    if (this.topology.globalStores.has(name)) return globalStoreView(name, () => this.global?.view(name) as ReadOnlyKeyValueStore<K, V> | undefined);
    const spec = this.topology.stores.get(name);
    if (spec === undefined) throw new InvalidArgumentError('name', `no store "${name}" in this topology (stores: ${[...this.topology.stores.keys(), ...this.topology.globalStores.keys()].join(', ') || 'none'})`);
    const keySerde = required(spec.keySerde ?? this.ctx.defaultKeySerde, `store ${name}`, 'key');
    // Committed state only: a query never shows a write whose transaction may still abort.
    const locals = (): ReadOnlyKeyValueStore<K, V>[] => {
      const thread = this.thread;
      if (thread === undefined) return [];
      const active = [...thread.activeTasks().values()].flatMap((t) => {
        const store = t.stores.get(name);
        return store === undefined ? [] : [store.readCommitted() as ReadOnlyKeyValueStore<K, V>];
      });
      return options.staleStores === true ? [...active, ...thread.standbys.stores<K, V>(name)] : active;
    };
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

  windowStore<K = unknown, V = unknown>(name: string, options: StoreQueryOptions = {}): ReadOnlyWindowStore<K, V> {
    this.timedParts(name, 'window', options);
    return combinedWindowStore(name, () => this.timedParts(name, 'window', options) as ReadOnlyWindowStore<K, V>[]);
  }

  sessionStore<K = unknown, V = unknown>(name: string, options: StoreQueryOptions = {}): ReadOnlySessionStore<K, V> {
    this.timedParts(name, 'session', options);
    return combinedSessionStore(name, () => this.timedParts(name, 'session', options) as ReadOnlySessionStore<K, V>[]);
  }

  /** Read-only views of a window or session store in each local task (committed state; standbys when asked). */
  private timedParts(name: string, type: 'window' | 'session', options: StoreQueryOptions): unknown[] {
    const spec = this.topology.stores.get(name);
    if (spec === undefined) throw new InvalidArgumentError('name', `no store "${name}" in this topology (stores: ${[...this.topology.stores.keys()].join(', ') || 'none'})`);
    if ((spec.type ?? 'keyValue') !== type) throw new InvalidArgumentError('name', `store "${name}" is a ${spec.type ?? 'keyValue'} store, not a ${type} store; use ${spec.type === 'session' ? 'sessionStore' : spec.type === 'window' ? 'windowStore' : 'store'}()`);
    const thread = this.thread;
    if (thread === undefined) return [];
    const bytes = [...thread.activeTasks().values()].flatMap((t) => {
      const store = t.stores.get(name);
      return store === undefined ? [] : [{ read: store.readCommitted() as ReadOnlyKeyValueStore<Uint8Array, Uint8Array>, topic: store.changelogTopic }];
    });
    if (options.staleStores === true) for (const read of thread.standbys.stores<Uint8Array, Uint8Array>(name)) bytes.push({ read, topic: changelogTopicName(this.ctx.appId, name) });
    return bytes.map(({ read, topic }) => timedStoreView(type, name, read, undefined, timedOptions(spec, this.ctx, topic)));
  }

  /**
   * Tasks this instance holds state for, told to the assignor at each join: its thread's tasks
   * (active, kept since the last assignment, standby) and, with `stateDir`, the tasks with a
   * checkpoint on disk.
   */
  private localTaskIds(): string[] {
    const ids = new Set(this.thread?.heldTaskIds() ?? []);
    const dir = this.config.stateDir === undefined ? undefined : join(this.config.stateDir, this.ctx.appId);
    if (dir !== undefined && existsSync(dir)) for (const id of readdirSync(dir)) if (/^\d+_\d+$/.test(id) && existsSync(join(dir, id, '.checkpoint'))) ids.add(id);
    return [...ids];
  }

  private live(): boolean {
    return this.state === 'CREATED' || this.state === 'REBALANCING' || this.state === 'RUNNING';
  }

  /** Sends the lifecycle an event and publishes the state it leads to (a state it does not take ignores it). */
  private move(type: StreamsStateEvent['type']): void {
    // NOT_RUNNING and ERROR are final: the actor has stopped and would only warn.
    if (this.lifecycle.getSnapshot().status === 'active') this.lifecycle.send({ type });
    const state = this.state;
    if (state !== this.subject.value) this.subject.next(state);
  }

  private fail(e: unknown): void {
    if (this.state === 'ERROR' || this.state === 'NOT_RUNNING') return;
    this.error = e;
    this.logger.error('streams app stopped on an error', { error: e instanceof Error ? e.message : String(e) });
    this.move('fail');
  }
}
