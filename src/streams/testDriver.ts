/**
 * `TopologyTestDriver`: runs a topology with no cluster, deterministically, as Kafka Streams'
 * test driver does. Every topic has one partition; each piped record is processed at once through
 * every sub-topology it reaches (repartition topics included), then the tasks commit: store writes
 * become visible and their changelog records are written. What sinks write is read back from
 * output topics. With asynchronous RxJS steps, `await driver.idle()` before reading. A record piped
 * into a global table's topic updates its global store at once (in order with other piped
 * records), so stream records piped after it see it.
 */
import { ClosedError, InvalidArgumentError, TopologyError } from '../errors.ts';
import type { SamsaError } from '../errors.ts';
import type { RecordHeader } from '../record/recordBatch.ts';
import type { Serde } from './serdes.ts';
import { deserializeWith, json, serializeWith } from './serdes.ts';
import { inMemoryKeyValueStore } from './stores/keyValueStore.ts';
import type { ReadOnlyKeyValueStore, TransactionalKeyValueStore } from './stores/keyValueStore.ts';
import { required, storeSerdes, StreamTask, timedOptions } from './task.ts';
import type { OutputRecord, RawRecord, TaskHost, TimestampExtractor } from './task.ts';
import type { Logger } from '../logger.ts';
import { DEFAULT_CACHE_MAX_BYTES } from './recordCache.ts';
import { timedStoreView } from './stores/windowStore.ts';
import type { ReadOnlySessionStore, ReadOnlyWindowStore } from './stores/windowStore.ts';
import type { GlobalStoreSpec, Topology } from './topology.ts';
import { globalUpdate } from './globalStateManager.ts';

/** Configuration of the test driver (a subset of the streams app's). */
export interface TestDriverConfig {
  /** Prefix of internal topics and changelogs (default `test-app`). */
  readonly applicationId?: string;
  /**
   * Serdes for nodes that were given none and cannot inherit one (after `selectKey`, `map`, an
   * RxJS step): `json()` unless set. Kafka Streams has no default and fails at start instead.
   */
  readonly defaultKeySerde?: Serde<unknown>;
  readonly defaultValueSerde?: Serde<unknown>;
  /** `logAndFail` (default, Kafka's): a record that fails to deserialize throws; `logAndContinue` skips it. */
  readonly deserializationExceptionHandler?: 'logAndFail' | 'logAndContinue';
  /** Wall-clock start (ms), also the default timestamp of piped records (default 0). */
  readonly initialWallClockTimeMs?: number;
  /** `statestore.cache.max.bytes` (default 10 MiB); the driver flushes the caches after every input, as Kafka's. */
  readonly statestoreCacheMaxBytes?: number;
  /** As the streams app's `idleStreamTimeAdvance` (off by default): `advanceWallClockTime` also moves the stream time of tasks to at most `wall clock − maxSkewMs`. */
  readonly idleStreamTimeAdvance?: { readonly maxSkewMs: number };
  /** `default.timestamp.extractor`, as the streams app's. */
  readonly timestampExtractor?: TimestampExtractor;
  /** Where dropped records are reported (debug). */
  readonly logger?: Logger;
}

/** A record read from an output topic. */
export interface TestRecord<K, V> {
  readonly key: K | null;
  readonly value: V | null;
  readonly timestamp: number;
  readonly headers: readonly RecordHeader[];
}

/** Runs a {@link Topology} in memory; see the module comment. */
export class TopologyTestDriver {
  private readonly applicationId: string;
  private readonly tasks = new Map<number, StreamTask>();
  private readonly stores = new Map<string, TransactionalKeyValueStore<unknown, unknown>>();
  /** Global stores by topic, with the read-only view tasks get. */
  private readonly globals = new Map<string, { readonly global: GlobalStoreSpec; readonly store: TransactionalKeyValueStore<unknown, unknown>; readonly view: ReadOnlyKeyValueStore<unknown, unknown>; readonly serdes: ReturnType<typeof storeSerdes> }>();
  private readonly topics = new Map<string, OutputRecord[]>();
  private readonly offsets = new Map<string, bigint>();
  private readonly queue: Array<{ topic: string; record: OutputRecord }> = [];
  /** The last asynchronous piece of work, while one is running. */
  private tail: Promise<void> | undefined;
  private failure: unknown;
  private wallClock: number;
  private readonly host: TaskHost;
  private readonly idleSkewMs: number | undefined;
  private closed = false;
  /** Records skipped by `logAndContinue`, with why. */
  readonly skipped: SamsaError[] = [];

  constructor(
    private readonly topology: Topology,
    config: TestDriverConfig = {},
  ) {
    this.applicationId = config.applicationId ?? 'test-app';
    this.wallClock = config.initialWallClockTimeMs ?? 0;
    this.idleSkewMs = config.idleStreamTimeAdvance?.maxSkewMs;
    const handler = config.deserializationExceptionHandler ?? 'logAndFail';
    if (handler !== 'logAndFail' && handler !== 'logAndContinue') throw new InvalidArgumentError('deserializationExceptionHandler', `expected "logAndFail" or "logAndContinue", got ${JSON.stringify(handler)}`);
    const host: TaskHost = (this.host = {
      topicName: (topic, internal) => (internal ? `${this.applicationId}-${topic}` : topic),
      partitionsOf: () => 1,
      send: (record) => this.write(record),
      defaultKeySerde: config.defaultKeySerde ?? json(),
      defaultValueSerde: config.defaultValueSerde ?? json(),
      onDeserializationError: (error) => {
        if (handler === 'logAndFail') return 'fail';
        this.skipped.push(error);
        return 'continue';
      },
      wallClock: () => this.wallClock,
      cacheMaxBytes: config.statestoreCacheMaxBytes ?? DEFAULT_CACHE_MAX_BYTES,
      idleStreamTimeAdvance: config.idleStreamTimeAdvance !== undefined,
      globalStore: (name) => {
        const global = this.topology.globalStores.get(name);
        return global === undefined ? undefined : this.globals.get(global.topic)?.view;
      },
      ...(config.logger === undefined ? {} : { logger: config.logger }),
      ...(config.timestampExtractor === undefined ? {} : { timestampExtractor: config.timestampExtractor }),
    });
    checkSerdes(topology, host);
    for (const spec of topology.stores.values()) {
      this.stores.set(spec.name, inMemoryKeyValueStore(spec.name, { ...storeSerdes(spec, host), changelogTopic: `${this.applicationId}-${spec.name}-changelog` }));
    }
    for (const global of topology.globalStores.values()) {
      // The serdes see the topic the bytes came from, as the app's global reader does.
      const serdes = storeSerdes(global.spec, host);
      const store = inMemoryKeyValueStore(global.spec.name, { ...serdes, changelogTopic: global.topic });
      this.stores.set(global.spec.name, store);
      this.globals.set(global.topic, { global, store, view: store.readCommitted(), serdes });
    }
    for (const sub of topology.subtopologies) {
      const stores = new Map(sub.stores.map((name) => [name, this.stores.get(name) as TransactionalKeyValueStore<unknown, unknown>]));
      this.tasks.set(sub.id, new StreamTask(`${sub.id}_0`, 0, topology, sub.nodes, stores, host));
    }
  }

  /** A topic to pipe records into; `topic` must be a source topic of the topology or a global table's topic. */
  createInputTopic<K, V>(topic: string, keySerde: Serde<K>, valueSerde: Serde<V>): TestInputTopic<K, V> {
    this.checkOpen();
    if (!this.topology.sourceTopics.includes(topic) && !this.globals.has(topic)) {
      const sources = [...this.topology.sourceTopics, ...this.globals.keys()];
      throw new TopologyError(`"${topic}" is not a source topic of this topology (sources: ${sources.join(', ') || 'none'})`);
    }
    return new TestInputTopic(this, topic, keySerde, valueSerde);
  }

  /** A topic to read what sinks wrote (any topic name: outputs, repartition topics, changelogs). */
  createOutputTopic<K, V>(topic: string, keySerde: Serde<K>, valueSerde: Serde<V>): TestOutputTopic<K, V> {
    this.checkOpen();
    return new TestOutputTopic(this, topic, keySerde, valueSerde);
  }

  /** A key-value store of the topology: what was committed after each piped record (while asynchronous steps run, also their pending writes). */
  getKeyValueStore<K, V>(name: string): ReadOnlyKeyValueStore<K, V> {
    const store = this.stores.get(name);
    if (store === undefined) throw new InvalidArgumentError('name', `no store "${name}" in this topology (stores: ${[...this.stores.keys()].join(', ') || 'none'})`);
    return store as ReadOnlyKeyValueStore<unknown, unknown> as ReadOnlyKeyValueStore<K, V>;
  }

  /** A window store of the topology (committed state), for assertions. */
  getWindowStore<K, V>(name: string): ReadOnlyWindowStore<K, V> {
    return this.timedStore(name, 'window') as ReadOnlyWindowStore<K, V>;
  }

  /** A session store of the topology (committed state), for assertions. */
  getSessionStore<K, V>(name: string): ReadOnlySessionStore<K, V> {
    return this.timedStore(name, 'session') as ReadOnlySessionStore<K, V>;
  }

  /** Records dropped by the topology's processors (late for their window, null keys). */
  get droppedRecords(): number {
    let n = 0;
    for (const task of this.tasks.values()) n += task.droppedRecords;
    return n;
  }

  /**
   * Moves the wall clock forward (it sets the default timestamp of later piped records) and runs
   * the wall-clock punctuators that came due, then commits, as Kafka's driver does.
   */
  advanceWallClockTime(ms: number): void {
    if (!Number.isFinite(ms) || ms < 0) throw new InvalidArgumentError('ms', `expected a non-negative number of milliseconds, got ${String(ms)}`);
    this.checkOpen();
    if (this.failure !== undefined) throw this.failure;
    this.wallClock += ms;
    const step = (): void | Promise<void> => {
      let chain: Promise<void> | undefined;
      for (const task of this.tasks.values()) {
        const run = (): void | Promise<void> => {
          const skew = this.idleSkewMs;
          const advanced = skew !== undefined ? task.advanceStreamTime(this.wallClock - skew) : undefined;
          const punctuate = (): void | Promise<void> => {
            const result = task.punctuate('WALL_CLOCK_TIME', this.wallClock);
            return result instanceof Promise ? result.then(() => this.processAll()) : this.processAll();
          };
          return advanced instanceof Promise ? advanced.then(punctuate) : punctuate();
        };
        if (chain !== undefined) chain = chain.then(run);
        else {
          const result = run();
          if (result instanceof Promise) chain = result;
        }
      }
      return chain;
    };
    this.runStep(step);
  }

  private timedStore(name: string, type: 'window' | 'session'): unknown {
    const store = this.stores.get(name);
    const spec = this.topology.stores.get(name);
    if (store === undefined || spec === undefined) throw new InvalidArgumentError('name', `no store "${name}" in this topology (stores: ${[...this.stores.keys()].join(', ') || 'none'})`);
    if ((spec.type ?? 'keyValue') !== type) throw new InvalidArgumentError('name', `store "${name}" is a ${spec.type ?? 'keyValue'} store, not a ${type} store`);
    return timedStoreView(type, name, store.readCommitted() as ReadOnlyKeyValueStore<Uint8Array, Uint8Array>, undefined, timedOptions(spec, this.host, store.changelogTopic));
  }

  /** Resolves once every piped record went through asynchronous steps; rejects with the first processing error. */
  async idle(): Promise<void> {
    while (this.tail !== undefined) await this.tail;
    if (this.failure !== undefined) throw this.failure;
  }

  /** Stops the tasks and closes the stores. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    for (const task of this.tasks.values()) task.close();
    for (const store of this.stores.values()) store.close();
  }

  /** @internal Processes one record of a source topic (and everything it leads to), then commits. */
  pipe(topic: string, key: Uint8Array | null, value: Uint8Array | null, timestamp: number | undefined, headers: readonly RecordHeader[]): void {
    this.checkOpen();
    if (this.failure !== undefined) throw this.failure;
    const record: OutputRecord = { topic, key, value, timestamp: timestamp ?? this.wallClock, headers };
    this.runStep(() => this.processAll({ topic, record }));
  }

  /** Runs a step now, or behind the asynchronous work still running; commits after it, aborts on its failure. */
  private runStep(work: () => void | Promise<void>): void {
    // Kafka's driver flushes the record caches after every input, before the commit.
    const step = (): void | Promise<void> => {
      const done = work();
      return done instanceof Promise ? done.then(() => this.flushCaches()) : this.flushCaches();
    };
    if (this.tail !== undefined) {
      this.chain(this.tail.then(step));
      return;
    }
    let result: void | Promise<void>;
    try {
      result = step();
    } catch (e) {
      this.abort();
      throw e;
    }
    if (result instanceof Promise) this.chain(result);
    else this.commit();
  }

  /** Commits after `work`, or aborts on its failure; records pipe behind it until it is done. */
  private chain(work: Promise<void>): void {
    const tail: Promise<void> = work
      .then(
        () => this.commit(),
        (e: unknown) => this.fail(e),
      )
      .then(() => {
        if (this.tail === tail) this.tail = undefined;
      });
    this.tail = tail;
  }

  /** @internal Records written to `topic` so far (read position kept by the output topic). */
  recordsOf(topic: string): readonly OutputRecord[] {
    return this.topics.get(topic) ?? [];
  }

  private processAll(first?: { topic: string; record: OutputRecord }): void | Promise<void> {
    if (first !== undefined) this.queue.push(first);
    const next = (): void | Promise<void> => {
      for (;;) {
        const item = this.queue.shift();
        if (item === undefined) return;
        const result = this.processOne(item.topic, item.record);
        if (result instanceof Promise) return result.then(next);
      }
    };
    return next();
  }

  private processOne(topic: string, record: OutputRecord): void | Promise<void> {
    const internalName = topic.startsWith(`${this.applicationId}-`) ? topic.slice(this.applicationId.length + 1) : undefined;
    const name = internalName !== undefined && this.topology.internalTopics.has(internalName) ? internalName : topic;
    const global = this.globals.get(topic);
    if (global !== undefined) {
      const offset = this.offsets.get(`in:${topic}`) ?? 0n;
      this.offsets.set(`in:${topic}`, offset + 1n);
      const update = globalUpdate({ key: record.key, value: record.value, partition: 0, offset }, topic, global.serdes, this.host.onDeserializationError);
      if (update !== undefined) global.store.restore([update]);
      return;
    }
    const sub = this.topology.subtopologyOf(name);
    if (sub === undefined) return;
    const offset = this.offsets.get(`in:${topic}`) ?? 0n;
    this.offsets.set(`in:${topic}`, offset + 1n);
    const raw: RawRecord = { key: record.key, value: record.value, timestamp: record.timestamp, headers: record.headers, offset };
    return (this.tasks.get(sub.id) as StreamTask).process(name, [raw]);
  }

  private write(record: OutputRecord): void {
    let list = this.topics.get(record.topic);
    if (list === undefined) this.topics.set(record.topic, (list = []));
    list.push(record);
    const internalName = record.topic.startsWith(`${this.applicationId}-`) ? record.topic.slice(this.applicationId.length + 1) : undefined;
    if (internalName !== undefined && this.topology.internalTopics.has(internalName)) this.queue.push({ topic: record.topic, record });
  }

  /** Flushes every task's record cache and processes what the flush wrote to internal topics, until nothing is left. */
  private flushCaches(): void | Promise<void> {
    for (;;) {
      let pending: Promise<void> | undefined;
      for (const task of this.tasks.values()) {
        const flushed = task.flushCache();
        if (flushed instanceof Promise) pending = (pending ?? Promise.resolve()).then(() => flushed);
      }
      if (pending !== undefined) return pending.then(() => this.processAll()).then(() => this.flushCaches());
      const queued = this.processAll();
      if (queued instanceof Promise) return queued.then(() => this.flushCaches());
      if (![...this.tasks.values()].some((t) => t.cacheDirty)) return;
    }
  }

  private commit(): void {
    for (const store of this.stores.values()) {
      if (this.topology.stores.get(store.name)?.logged === true) {
        const topic = `${this.applicationId}-${store.name}-changelog`;
        for (const change of store.pendingChangelog()) this.write({ topic, key: change.key, value: change.value, timestamp: this.wallClock, headers: [] });
      }
      store.commitQuietly();
    }
  }

  private abort(): void {
    this.queue.length = 0;
    for (const task of this.tasks.values()) task.abortCache();
    for (const store of this.stores.values()) store.abort();
  }

  private fail(e: unknown): void {
    this.abort();
    this.failure ??= e;
  }

  private checkOpen(): void {
    if (this.closed) throw new ClosedError('topology test driver');
  }
}


/** Every node and store has serdes (its own or the defaults), or the driver refuses to start. */
function checkSerdes(topology: Topology, host: TaskHost): void {
  for (const node of topology.nodes.values()) {
    const spec = node.spec;
    if (spec.kind === 'source' || spec.kind === 'sink') {
      required(spec.keySerde ?? host.defaultKeySerde, `${spec.kind} ${node.name}`, 'key');
      required(spec.valueSerde ?? host.defaultValueSerde, `${spec.kind} ${node.name}`, 'value');
    }
  }
}

/** An input topic of the driver. */
export class TestInputTopic<K, V> {
  /** @internal */
  constructor(
    private readonly driver: TopologyTestDriver,
    readonly name: string,
    private readonly keySerde: Serde<K>,
    private readonly valueSerde: Serde<V>,
  ) {}

  /** Pipes one record (timestamp default: the driver's wall clock). */
  pipeInput(key: K | null, value: V | null, timestamp?: number, headers: readonly RecordHeader[] = []): void {
    this.driver.pipe(this.name, serializeWith(this.keySerde, 'key', key, this.name), serializeWith(this.valueSerde, 'value', value, this.name), timestamp, headers);
  }

  /** Pipes records in order. */
  pipeKeyValueList(records: ReadonlyArray<{ readonly key: K | null; readonly value: V | null; readonly timestamp?: number }>): void {
    for (const r of records) this.pipeInput(r.key, r.value, r.timestamp);
  }

  /** Pipes raw bytes, as a foreign producer could (to test deserialization errors). */
  pipeRawInput(key: Uint8Array | null, value: Uint8Array | null, timestamp?: number): void {
    this.driver.pipe(this.name, key, value, timestamp, []);
  }
}

/** An output topic of the driver: reads what was written, from where it last stopped. */
export class TestOutputTopic<K, V> {
  private position = 0;

  /** @internal */
  constructor(
    private readonly driver: TopologyTestDriver,
    readonly name: string,
    private readonly keySerde: Serde<K>,
    private readonly valueSerde: Serde<V>,
  ) {}

  /** Unread records, in order; marks them read. */
  readRecordsToList(): TestRecord<K, V>[] {
    const records = this.driver.recordsOf(this.name).slice(this.position);
    this.position += records.length;
    return records.map((r, i) => ({
      key: deserializeWith(this.keySerde, 'key', r.key, this.name, 0, BigInt(this.position - records.length + i)),
      value: deserializeWith(this.valueSerde, 'value', r.value, this.name, 0, BigInt(this.position - records.length + i)),
      timestamp: r.timestamp,
      headers: r.headers,
    }));
  }

  /** Unread records as key-value pairs. */
  readKeyValuesToList(): Array<{ key: K | null; value: V | null }> {
    return this.readRecordsToList().map((r) => ({ key: r.key, value: r.value }));
  }

  /** Unread values. */
  readValuesToList(): Array<V | null> {
    return this.readRecordsToList().map((r) => r.value);
  }

  /** The latest value per key among the unread records (a table's final state; null = deleted). */
  readKeyValuesToMap(): Map<K | null, V | null> {
    return new Map(this.readRecordsToList().map((r) => [r.key, r.value]));
  }

  /** Whether every written record was read. */
  isEmpty(): boolean {
    return this.getQueueSize() === 0;
  }

  /** Number of unread records. */
  getQueueSize(): number {
    return this.driver.recordsOf(this.name).length - this.position;
  }
}
