/**
 * What a streams app is configured with and what it offers: {@link StreamsConfig} (Kafka
 * Streams' names and defaults) and the {@link StreamsApp} interface `createStreamsApp` returns.
 */
import type { Observable } from 'rxjs';
import type { Clock } from '../clock.ts';
import type { Logger } from '../logger.ts';
import type { ConsumerOptions, ProducerOptions } from '../clients/api.ts';
import type { Serde } from './serdes.ts';
import type { TimestampExtractor } from './task.ts';
import type { ReadOnlyKeyValueStore, StoreChange } from './stores/keyValueStore.ts';
import type { ReadOnlySessionStore, ReadOnlyWindowStore } from './stores/windowStore.ts';
import type { StreamsMetrics } from './appObservables.ts';
import type { StreamsState } from './appState.ts';
import type { ThreadState } from './streamThreadState.ts';

/** How `store()` reads (Kafka's StoreQueryParameters). */
export interface StoreQueryOptions {
  /**
   * Also read the standby copies this instance keeps (Kafka's `enableStaleStores`): they may lag
   * the active task by what the changelog has not yet delivered. Default: active tasks only.
   */
  readonly staleStores?: boolean;
}

/** One stream thread of this instance (Kafka's ThreadMetadata). */
export interface ThreadMetadata {
  readonly threadName: string;
  readonly state: ThreadState;
  /** Tasks it processes, sorted. */
  readonly activeTasks: readonly string[];
  /** Tasks whose stores it keeps warm from their changelogs, sorted. */
  readonly standbyTasks: readonly string[];
}

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
  /**
   * `num.standby.replicas`: how many other instances keep a warm copy of each stateful task's
   * stores, tailing its changelogs, so a task that fails over resumes after replaying only the
   * tail (default 0: a new owner restores the whole changelog).
   */
  readonly numStandbyReplicas?: number;
  /**
   * `statestore.cache.max.bytes`: the record cache in front of materialized tables (default 10 MiB,
   * Kafka's): updates of a key between two commits go downstream as one record. 0 disables it, so
   * every update is forwarded at once.
   */
  readonly statestoreCacheMaxBytes?: number;
  /**
   * `max.task.idle.ms`: how long a task reading several partitions (a join's sides) waits for an
   * empty one before processing the others (default 0: waits only while that partition has data on
   * the broker not yet fetched; -1: never waits). See partitionGroup.ts.
   */
  readonly maxTaskIdleMs?: number;
  /**
   * Beyond Kafka (off by default, so results stay Kafka's): a task whose partitions are quiet has
   * its stream time moved with the wall clock, to at most `now − maxSkewMs`, so windows close and
   * suppressed final results go out without new records (Kafka's stream time moves only with data,
   * and a quiet partition never closes its windows). A record older than that skew arriving later
   * is late by the usual rules. Needs event time that tracks the wall clock within `maxSkewMs`.
   */
  readonly idleStreamTimeAdvance?: { readonly maxSkewMs: number };
  /** `windowstore.changelog.additional.retention.ms`: how much longer than its store a window or session changelog keeps records (default 1 day). */
  readonly windowstoreChangelogAdditionalRetentionMs?: number;
  /** `default.timestamp.extractor`: the timestamp each record counts at (default: the record's own; a negative one fails the task, as Kafka's FailOnInvalidTimestamp). */
  readonly timestampExtractor?: TimestampExtractor;
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
   * Pauses processing (KafkaStreams.pause, KIP-834): the app keeps its partitions and its group
   * membership, commits what it processed, and takes no new records until `resume`. Works before
   * `start` too. Standby replicas keep following their changelogs.
   */
  pause(): void;
  /** Resumes processing after `pause`. */
  resume(): void;
  /** Whether `pause` is in effect. */
  isPaused(): boolean;
  /**
   * A local store for interactive queries: the committed contents of the store across this
   * instance's tasks (Kafka's `KafkaStreams.store`).
   * @throws InvalidArgumentError for an unknown store name.
   */
  store<K = unknown, V = unknown>(name: string, options?: StoreQueryOptions): ReadOnlyKeyValueStore<K, V>;
  /**
   * A local window store for interactive queries (Kafka's `QueryableStoreTypes.windowStore()`):
   * the committed windows of this instance's tasks.
   * @throws InvalidArgumentError for an unknown store or one that is not a window store.
   */
  windowStore<K = unknown, V = unknown>(name: string, options?: StoreQueryOptions): ReadOnlyWindowStore<K, V>;
  /** A local session store for interactive queries (Kafka's `QueryableStoreTypes.sessionStore()`). @throws InvalidArgumentError as `windowStore`. */
  sessionStore<K = unknown, V = unknown>(name: string, options?: StoreQueryOptions): ReadOnlySessionStore<K, V>;
  /** This instance's stream threads: name, state, active and standby tasks (Kafka's `metadataForLocalThreads`). */
  localThreadsMetadata(): ThreadMetadata[];
  /** Records processed and committed so far, commits, aborts, and each task's counters. */
  readonly metrics: StreamsMetrics;
  /** `metrics` after every commit and every change of the tasks. */
  readonly metrics$: Observable<StreamsMetrics>;
  /** The committed changes of a store, from whichever of this instance's tasks hold it. @throws InvalidArgumentError for an unknown store name. */
  changes<K = unknown, V = unknown>(store: string): Observable<StoreChange<K, V>>;
}
