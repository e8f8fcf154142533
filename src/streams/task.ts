/**
 * A stream task: one sub-topology on one partition (Kafka's StreamTask, id `<subtopology>_<partition>`).
 * It deserializes what its sources read, runs the records through the nodes batch by batch
 * (each node takes the whole batch before its children: the batch model of DESIGN §10, which lets
 * an RxJS step run as `from(batch).pipe(op)`), keeps its stores and hands sink output to a
 * collector. Processing is synchronous unless an RxJS step is asynchronous; then `process`
 * returns a promise that settles when every node is done with the batch.
 *
 * The task does not commit: its owner (the test driver or a stream thread) commits the stores'
 * pending writes together with the outputs and offsets, or aborts them.
 */
import { from } from 'rxjs';
import { InvalidArgumentError, SamsaError, TopologyError } from '../errors.ts';
import type { Logger } from '../logger.ts';
import type { RecordHeader } from '../record/recordBatch.ts';
import type { AnyRecord, Change } from './record.ts';
import type { Serde } from './serdes.ts';
import { bytes, deserializeWith, serializeWith } from './serdes.ts';
import { changeSerde } from './internalSerdes.ts';
import { RecordCache } from './recordCache.ts';
import type { TransactionalKeyValueStore } from './stores/keyValueStore.ts';
import { timedStoreView } from './stores/windowStore.ts';
import type { BytesStore } from './stores/windowStore.ts';
import type { InternalProcessorContext, NodeSpec, Processor, PunctuationType, StoreSpec, Topology, TopologyNode } from './topology.ts';

/** A record as read from a topic, before deserialization. */
export interface RawRecord {
  readonly key: Uint8Array | null;
  readonly value: Uint8Array | null;
  readonly timestamp: number;
  readonly headers: readonly RecordHeader[];
  readonly offset: bigint;
}

/** A record a sink writes: serialized, with its topic and (when a partitioner chose one) partition. */
export interface OutputRecord {
  readonly topic: string;
  readonly partition?: number;
  readonly key: Uint8Array | null;
  readonly value: Uint8Array | null;
  readonly timestamp: number;
  readonly headers: readonly RecordHeader[];
}

/** Where a task's sinks write, and how it resolves names and serdes. */
export interface TaskHost {
  /** The full name of a topic: internal topics get the application-id prefix. */
  topicName(topic: string, internal: boolean): string;
  /** Partitions of an output topic (for custom partitioners), or undefined when unknown. */
  partitionsOf(topic: string): number | undefined;
  /** Takes one output record. */
  send(record: OutputRecord): void;
  /** The application's default serdes. */
  readonly defaultKeySerde: Serde<unknown> | undefined;
  readonly defaultValueSerde: Serde<unknown> | undefined;
  /** What to do with a record that fails to deserialize: throw (Kafka's LogAndFail) or skip it. */
  readonly onDeserializationError: (error: SamsaError) => 'fail' | 'continue';
  /** Wall-clock time (ms) for `WALL_CLOCK_TIME` punctuation and `currentSystemTimeMs` (the injected clock; 0 without one). */
  readonly wallClock?: () => number;
  /** Where dropped records (late, null keys) are reported, at debug. */
  readonly logger?: Logger;
  /** `default.timestamp.extractor`: the timestamp a record counts at (default: its own; negative fails). */
  readonly timestampExtractor?: TimestampExtractor;
  /** `statestore.cache.max.bytes` of this task's record cache; 0 or undefined: no cache (every update forwarded at once). */
  readonly cacheMaxBytes?: number;
  /** `idleStreamTimeAdvance` is on: the owner moves stream time of quiet tasks with the wall clock (advanceStreamTime). */
  readonly idleStreamTimeAdvance?: boolean;
  /** A global store (a GlobalKTable's) by name: the instance's full copy, read-only to processors. */
  readonly globalStore?: (name: string) => unknown;
}

/**
 * Picks the timestamp a record counts at (Kafka's TimestampExtractor): for windows, joins, stream
 * time and punctuation. `partitionTime` is the task's stream time so far (-1 before any record).
 */
export type TimestampExtractor = (record: { readonly topic: string; readonly partition: number; readonly offset: bigint; readonly key: unknown; readonly value: unknown; readonly timestamp: number; readonly headers: readonly RecordHeader[] }, partitionTime: number) => number;

interface Schedule {
  readonly node: TopologyNode;
  readonly type: PunctuationType;
  readonly intervalMs: number;
  readonly punctuator: (timestamp: number) => void;
  next: number;
  cancelled: boolean;
}

type Routed = { readonly all: readonly AnyRecord[] } | { readonly perChild: readonly AnyRecord[][] };

/** Runs one sub-topology for one partition. */
export class StreamTask {
  /** Max timestamp seen: Kafka's stream time of the task. */
  streamTime = -1;
  /** Records handed to the task so far. */
  processed = 0;
  /** Records dropped by its processors (late for their window, null keys where a key is needed). */
  droppedRecords = 0;
  private readonly schedules: Schedule[] = [];
  private readonly cache: RecordCache | undefined;
  private readonly views = new Map<string, unknown>();
  private readonly processors = new Map<string, { processor: Processor<unknown, unknown, unknown, unknown>; out: AnyRecord[] }>();
  private current: { topic: string; partition: number; offset: bigint } | undefined;
  private closed = false;
  private changeDefault: Serde<unknown> | undefined;

  constructor(
    readonly id: string,
    readonly partition: number,
    private readonly topology: Topology,
    private readonly nodes: readonly string[],
    readonly stores: ReadonlyMap<string, TransactionalKeyValueStore<unknown, unknown>>,
    private readonly host: TaskHost,
  ) {
    this.cache = (host.cacheMaxBytes ?? 0) > 0 ? new RecordCache(host.cacheMaxBytes as number) : undefined;
    // Processors start with the task, as Kafka's: their punctuators run (and final results close
    // restored windows) even on a task that gets no new record.
    for (const name of nodes) {
      const spec = (topology.nodes.get(name) as TopologyNode).spec;
      if (spec.kind === 'process') this.processorOf(name, spec);
    }
  }

  /**
   * Processes records of `topic` (one of this task's source topics, by its name in the
   * topology) read from this task's partition, in order.
   */
  process(topic: string, records: readonly RawRecord[]): void | Promise<void> {
    if (this.closed) throw new TopologyError(`task ${this.id} is closed`);
    const source = this.sourceFor(topic);
    const spec = source.spec as Extract<NodeSpec, { kind: 'source' }>;
    if (records.length === 0) return;
    // Resolved once per batch, not per record.
    const keySerde = required(spec.keySerde ?? this.host.defaultKeySerde, `source ${source.name}`, 'key');
    const valueSerde = required(spec.valueSerde ?? this.defaultValueSerde(spec.change === true), `source ${source.name}`, 'value');
    const fullTopic = this.host.topicName(topic, spec.internal);
    const batch: AnyRecord[] = [];
    for (const raw of records) {
      let key: unknown;
      let value: unknown;
      try {
        key = deserializeWith(keySerde, 'key', raw.key, fullTopic, this.partition, raw.offset);
        value = deserializeWith(valueSerde, 'value', raw.value, fullTopic, this.partition, raw.offset);
      } catch (e) {
        if (SamsaError.is(e) && e.code === 'SERDE_ERROR' && this.host.onDeserializationError(e) === 'continue') continue;
        throw e;
      }
      const timestamp = this.extract(fullTopic, raw, key, value);
      if (timestamp > this.streamTime) this.streamTime = timestamp;
      this.processed++;
      batch.push({ key, value, timestamp, headers: raw.headers });
    }
    const last = records[records.length - 1];
    this.current = last === undefined ? undefined : { topic: fullTopic, partition: this.partition, offset: last.offset };
    const done = this.forward(source, { all: batch });
    // Stream-time punctuation follows the batch that moved stream time (Kafka: after each record).
    if (done instanceof Promise) return done.then(() => this.punctuate('STREAM_TIME', this.streamTime));
    return this.punctuate('STREAM_TIME', this.streamTime);
  }

  /**
   * Runs the punctuators of `type` that are due at `now` (stream time, or the wall clock), each
   * once however many intervals passed: missed intervals are skipped, not replayed, as Kafka's.
   * Their output goes downstream like any record's.
   */
  punctuate(type: PunctuationType, now: number = type === 'STREAM_TIME' ? this.streamTime : (this.host.wallClock?.() ?? 0)): void | Promise<void> {
    if (this.closed || now < 0 || !this.due(type, now)) return;
    // With idleStreamTimeAdvance, suppression buffers and final-result emitters follow stream time
    // by punctuation: updates still in the record cache must reach them first, or a window they
    // close would go out without its last updates.
    const flushed = this.host.idleStreamTimeAdvance === true ? this.flushCache() : undefined;
    if (flushed instanceof Promise) return flushed.then(() => this.runDue(type, now));
    return this.runDue(type, now);
  }

  private runDue(type: PunctuationType, now: number): void | Promise<void> {
    let chain: Promise<void> | undefined;
    for (const s of [...this.schedules]) {
      if (s.cancelled || s.type !== type || now < s.next) continue;
      const missed = Math.floor((now - s.next) / s.intervalMs);
      s.next += (missed + 1) * s.intervalMs;
      const run = (): void | Promise<void> => {
        const entry = this.processors.get(s.node.name);
        if (entry === undefined || s.cancelled) return;
        this.current = undefined;
        s.punctuator(now);
        return this.forward(s.node, { all: entry.out.splice(0) });
      };
      if (chain !== undefined) chain = chain.then(run);
      else {
        const result = run();
        if (result instanceof Promise) chain = result;
      }
    }
    return chain;
  }

  /**
   * Moves stream time forward to `time` without a record (samsa's `idleStreamTimeAdvance`, off by
   * default: Kafka's stream time moves only with data), running the stream-time punctuators.
   */
  advanceStreamTime(time: number): void | Promise<void> {
    if (this.closed || time <= this.streamTime) return;
    this.streamTime = time;
    return this.punctuate('STREAM_TIME', time);
  }

  /** Whether a punctuator of `type` is due at `now` (so the owner runs `punctuate` in a transaction). */
  due(type: PunctuationType, now: number): boolean {
    return !this.closed && this.schedules.some((s) => !s.cancelled && s.type === type && now >= s.next);
  }

  private extract(topic: string, raw: RawRecord, key: unknown, value: unknown): number {
    const extractor = this.host.timestampExtractor;
    const timestamp = extractor === undefined ? raw.timestamp : extractor({ topic, partition: this.partition, offset: raw.offset, key, value, timestamp: raw.timestamp, headers: raw.headers }, this.streamTime);
    if (typeof timestamp !== 'number' || !Number.isSafeInteger(timestamp) || timestamp < 0) {
      throw new TopologyError(`record ${topic}-${this.partition}@${raw.offset} has the invalid timestamp ${String(timestamp)} (Kafka's FailOnInvalidTimestamp); fix the producer, or set a timestampExtractor that returns a non-negative integer`);
    }
    return timestamp;
  }

  /** Closes the task's processors. Its stores belong to the owner. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    for (const { processor } of this.processors.values()) processor.close?.();
  }

  private sourceFor(topic: string): TopologyNode {
    for (const name of this.nodes) {
      const node = this.topology.nodes.get(name) as TopologyNode;
      if (node.spec.kind === 'source' && node.spec.topics.includes(topic)) return node;
    }
    throw new TopologyError(`task ${this.id} has no source for topic "${topic}"`);
  }

  private run(node: TopologyNode, batch: readonly AnyRecord[]): void | Promise<void> {
    if (batch.length === 0) return;
    const routed = this.compute(node, batch);
    if (routed instanceof Promise) return routed.then((r) => this.forwardOrCache(node, r));
    return this.forwardOrCache(node, routed);
  }

  /** A materialized table's updates wait in the record cache (Kafka's); other nodes forward at once. */
  private forwardOrCache(node: TopologyNode, routed: Routed): void | Promise<void> {
    if (this.cache === undefined || !('all' in routed) || !cached(node)) return this.forward(node, routed);
    const evicted = this.cache.put(node, routed.all);
    return evicted.length === 0 ? undefined : this.forward(node, { all: evicted });
  }

  /**
   * Sends what the record cache holds downstream, upstream nodes first (so a cached table fed by
   * another is flushed after it): before every commit, and after every input in the test driver.
   */
  flushCache(): void | Promise<void> {
    const cache = this.cache;
    if (cache === undefined || !cache.dirty) return;
    let chain: Promise<void> | undefined;
    for (const name of this.nodes) {
      const node = this.topology.nodes.get(name) as TopologyNode;
      const run = (): void | Promise<void> => {
        const records = cache.take(name);
        return records.length === 0 ? undefined : this.forward(node, { all: records });
      };
      if (chain !== undefined) chain = chain.then(run);
      else {
        const result = run();
        if (result instanceof Promise) chain = result;
      }
    }
    return chain;
  }

  /** Whether the record cache holds updates not yet forwarded. */
  get cacheDirty(): boolean {
    return this.cache?.dirty === true;
  }

  /** Drops the record cache: the transaction its updates belonged to aborted. */
  abortCache(): void {
    this.cache?.clear();
  }

  /** Sends each child its batch, in child order; async children are awaited in turn. */
  private forward(node: TopologyNode, routed: Routed): void | Promise<void> {
    let chain: Promise<void> | undefined;
    node.children.forEach((childName, i) => {
      const child = this.topology.nodes.get(childName) as TopologyNode;
      const batch = 'all' in routed ? routed.all : (routed.perChild[i] ?? []);
      if (chain !== undefined) chain = chain.then(() => this.run(child, batch));
      else {
        const result = this.run(child, batch);
        if (result instanceof Promise) chain = result;
      }
    });
    return chain;
  }

  private compute(node: TopologyNode, batch: readonly AnyRecord[]): Routed | Promise<Routed> {
    const spec = node.spec;
    switch (spec.kind) {
      case 'source':
        return { all: batch };
      case 'records':
        return { all: batch.flatMap((r) => spec.fn(r)) };
      case 'rx':
        return this.runRx(node.name, spec.operator, batch);
      case 'split': {
        const perChild: AnyRecord[][] = spec.predicates.map(() => []);
        for (const r of batch) {
          const i = spec.predicates.findIndex((p) => p === undefined || p(r));
          if (i >= 0) (perChild[i] as AnyRecord[]).push(r);
        }
        return { perChild };
      }
      case 'aggregate': {
        const store = this.store(spec.store);
        const out: AnyRecord[] = [];
        for (const r of batch) {
          // Kafka ignores records with a null key or value in a stream aggregation.
          if (r.key === null || r.key === undefined || r.value === null || r.value === undefined) continue;
          const old = store.get(r.key);
          const next = spec.aggregator(r.key, r.value, old === undefined ? spec.initializer() : old);
          store.put(r.key, next);
          out.push({ ...r, value: { newValue: next, oldValue: old ?? null } satisfies Change<unknown> });
        }
        return { all: out };
      }
      case 'tableSource': {
        const store = this.store(spec.store);
        const out: AnyRecord[] = [];
        for (const r of batch) {
          if (r.key === null || r.key === undefined) continue;
          const old = store.get(r.key) ?? null;
          const value = r.value === undefined ? null : r.value;
          store.put(r.key, value);
          out.push({ ...r, value: { newValue: value, oldValue: old } satisfies Change<unknown> });
        }
        return { all: out };
      }
      case 'tableFilter': {
        const out: AnyRecord[] = [];
        const passes = (key: unknown, v: unknown): boolean => v !== null && spec.predicate(key, v) !== spec.not;
        for (const r of batch) {
          const change = r.value as Change<unknown>;
          const newValue = passes(r.key, change.newValue) ? change.newValue : null;
          const oldValue = passes(r.key, change.oldValue) ? change.oldValue : null;
          // Nothing was and nothing is: Kafka forwards nothing.
          if (newValue === null && oldValue === null) continue;
          out.push({ ...r, value: { newValue, oldValue } });
        }
        return { all: out };
      }
      case 'tableMapValues':
        return {
          all: batch.map((r) => {
            const change = r.value as Change<unknown>;
            return { ...r, value: { newValue: change.newValue === null ? null : spec.fn(change.newValue, r.key), oldValue: change.oldValue === null ? null : spec.fn(change.oldValue, r.key) } };
          }),
        };
      case 'tableGroupBy': {
        // An update becomes a retraction of the old row under its old group and an addition of
        // the new row under its new group (Kafka's KTableRepartitionMap), sent through the
        // repartition topic; a group with a null key is dropped.
        const out: AnyRecord[] = [];
        for (const r of batch) {
          const change = r.value as Change<unknown>;
          if (change.oldValue !== null) {
            const old = spec.selector(r.key, change.oldValue);
            if (old.key !== null && old.key !== undefined) out.push({ ...r, key: old.key, value: { newValue: null, oldValue: old.value } satisfies Change<unknown> });
          }
          if (change.newValue !== null) {
            const next = spec.selector(r.key, change.newValue);
            if (next.key !== null && next.key !== undefined) out.push({ ...r, key: next.key, value: { newValue: next.value, oldValue: null } satisfies Change<unknown> });
          }
        }
        return { all: out };
      }
      case 'tableAggregate': {
        // Kafka's KTableAggregate: the subtractor takes the old value out, the adder puts the new one in.
        const store = this.store(spec.store);
        const out: AnyRecord[] = [];
        for (const r of batch) {
          if (r.key === null || r.key === undefined) continue;
          const change = r.value as Change<unknown>;
          const old = store.get(r.key);
          let next = old === undefined ? spec.initializer() : old;
          if (change.oldValue !== null && old !== undefined) next = spec.subtractor(r.key, change.oldValue, next);
          if (change.newValue !== null) next = spec.adder(r.key, change.newValue, next);
          store.put(r.key, next);
          out.push({ ...r, value: { newValue: next, oldValue: old ?? null } satisfies Change<unknown> });
        }
        return { all: out };
      }
      case 'toStream':
        return { all: batch.map((r) => ({ ...r, value: (r.value as Change<unknown>).newValue })) };
      case 'process':
        return { all: this.runProcessor(node.name, spec, batch) };
      case 'sink':
        for (const r of batch) this.sink(node, spec, r);
        return { all: [] };
    }
  }

  private runRx(name: string, operator: Extract<NodeSpec, { kind: 'rx' }>['operator'], batch: readonly AnyRecord[]): Routed | Promise<Routed> {
    const out: AnyRecord[] = [];
    let done = false;
    let failure: { error: unknown } | undefined;
    let settle: (() => void) | undefined;
    const check = (value: unknown): void => {
      if (typeof value !== 'object' || value === null || !('key' in value) || !('value' in value)) {
        throw new TopologyError(`the RxJS step ${name} emitted ${value === null ? 'null' : typeof value}, not a record ({ key, value, timestamp, headers }); map to records, e.g. map((r) => ({ ...r, value: f(r.value) }))`);
      }
      const r = value as Partial<AnyRecord> & { key: unknown; value: unknown };
      out.push({ key: r.key, value: r.value, timestamp: typeof r.timestamp === 'number' ? r.timestamp : this.streamTime, headers: Array.isArray(r.headers) ? r.headers : [] });
    };
    from(batch)
      .pipe(operator)
      .subscribe({
        next: (v) => {
          try {
            check(v);
          } catch (e) {
            failure = { error: e };
          }
        },
        error: (e: unknown) => {
          failure = { error: e };
          done = true;
          settle?.();
        },
        complete: () => {
          done = true;
          settle?.();
        },
      });
    if (done) {
      if (failure !== undefined) throw failure.error;
      return { all: out };
    }
    return new Promise<Routed>((resolve, reject) => {
      settle = () => (failure !== undefined ? reject(failure.error) : resolve({ all: out }));
    });
  }

  private runProcessor(name: string, spec: Extract<NodeSpec, { kind: 'process' }>, batch: readonly AnyRecord[]): AnyRecord[] {
    const { processor, out } = this.processorOf(name, spec);
    out.length = 0;
    for (const r of batch) {
      const before = out.length;
      processor.process(r);
      if (spec.keyPreserving) for (let i = before; i < out.length; i++) if (!Object.is((out[i] as AnyRecord).key, r.key)) throw new TopologyError(`${name} (processValues) forwarded a record with another key than the one it processed; use process() to change keys`);
    }
    return out.splice(0);
  }

  /** A Processor API node's processor, made and initialized with its context the first time. */
  private processorOf(name: string, spec: Extract<NodeSpec, { kind: 'process' }>): { processor: Processor<unknown, unknown, unknown, unknown>; out: AnyRecord[] } {
    let entry = this.processors.get(name);
    if (entry === undefined) {
      const out: AnyRecord[] = [];
      const processor = spec.supplier();
      if (typeof processor?.process !== 'function') throw new TopologyError(`the supplier of ${name} must return a processor with a process(record) method`);
      entry = { processor, out };
      this.processors.set(name, entry);
      const node = this.topology.nodes.get(name) as TopologyNode;
      const context: InternalProcessorContext = {
        forward: (record) => out.push({ key: record.key, value: record.value, timestamp: record.timestamp, headers: record.headers ?? [] }),
        getStateStore: <S>(store: string): S => {
          if (!spec.stores.includes(store)) throw new TopologyError(`${name} asked for store "${store}", which is not connected to it; list it in process(..., { stores: ["${store}"] })`);
          return this.storeView(store) as S;
        },
        taskId: this.id,
        recordMetadata: undefined,
        schedule: (intervalMs, type, punctuator) => this.schedule(node, intervalMs, type, punctuator),
        currentStreamTimeMs: () => this.streamTime,
        currentSystemTimeMs: () => this.host.wallClock?.() ?? 0,
        idleStreamTimeAdvance: this.host.idleStreamTimeAdvance === true,
        defaultSerdes: () => ({ key: required(this.host.defaultKeySerde, name, 'key'), value: required(this.host.defaultValueSerde, name, 'value') }),
        droppedRecord: (reason, record) => {
          this.droppedRecords++;
          this.host.logger?.debug('record dropped', { task: this.id, processor: name, reason, timestamp: record.timestamp, streamTime: this.streamTime });
        },
      };
      Object.defineProperty(context, 'recordMetadata', { get: () => this.current });
      processor.init?.(context);
    }
    return entry;
  }

  private sink(node: TopologyNode, spec: Extract<NodeSpec, { kind: 'sink' }>, r: AnyRecord): void {
    const topic = this.host.topicName(typeof spec.topic === 'string' ? spec.topic : spec.topic(r), spec.internal);
    const key = serializeWith(required(spec.keySerde ?? this.host.defaultKeySerde, `sink ${node.name}`, 'key'), 'key', r.key, topic);
    const value = serializeWith(required(spec.valueSerde ?? this.defaultValueSerde(spec.change === true), `sink ${node.name}`, 'value'), 'value', r.value, topic);
    let partition: number | undefined;
    if (spec.partitioner !== undefined) {
      const count = this.host.partitionsOf(topic);
      if (count !== undefined) partition = spec.partitioner(topic, r.key, r.value, count);
    }
    this.host.send({ topic, ...(partition === undefined ? {} : { partition }), key, value, timestamp: r.timestamp, headers: r.headers });
  }

  /** The application's default value serde, wrapped to carry table updates where `change`. */
  private defaultValueSerde(change: boolean): Serde<unknown> | undefined {
    const serde = this.host.defaultValueSerde;
    if (serde === undefined || !change) return serde;
    return (this.changeDefault ??= changeSerde(serde) as Serde<unknown>);
  }

  private schedule(node: TopologyNode, intervalMs: number, type: PunctuationType, punctuator: (timestamp: number) => void): { cancel(): void } {
    if (!Number.isSafeInteger(intervalMs) || intervalMs < 1) throw new InvalidArgumentError('intervalMs', `a punctuation interval is a whole number of milliseconds ≥ 1, got ${String(intervalMs)}`);
    if (type !== 'STREAM_TIME' && type !== 'WALL_CLOCK_TIME') throw new InvalidArgumentError('type', `expected 'STREAM_TIME' or 'WALL_CLOCK_TIME', got ${JSON.stringify(type)}`);
    if (typeof punctuator !== 'function') throw new InvalidArgumentError('punctuator', 'schedule() needs a function (timestamp) => void');
    // Stream time: aligned to 0, so the first record punctuates; wall clock: one interval from now (as Kafka).
    const entry: Schedule = { node, type, intervalMs, punctuator, next: type === 'STREAM_TIME' ? 0 : (this.host.wallClock?.() ?? 0) + intervalMs, cancelled: false };
    this.schedules.push(entry);
    return {
      cancel: () => {
        entry.cancelled = true;
        const i = this.schedules.indexOf(entry);
        if (i >= 0) this.schedules.splice(i, 1);
      },
    };
  }

  /** What a processor gets for a store: the key-value store itself, or a window or session view over it. */
  private storeView(name: string): unknown {
    const cached = this.views.get(name);
    if (cached !== undefined) return cached;
    if (!this.stores.has(name)) {
      const global = this.host.globalStore?.(name);
      if (global !== undefined) return global;
    }
    const store = this.store(name);
    const spec = this.topology.stores.get(name);
    const type = spec?.type ?? 'keyValue';
    if (spec === undefined || type === 'keyValue') return store;
    const view = timedStoreView(type, name, store as BytesStore, store as BytesStore, timedOptions(spec, this.host, store.changelogTopic));
    this.views.set(name, view);
    return view;
  }

  private store(name: string): TransactionalKeyValueStore<unknown, unknown> {
    const store = this.stores.get(name);
    if (store === undefined) throw new TopologyError(`task ${this.id} has no store "${name}"`);
    return store;
  }
}

/** Whether a node's output goes through the record cache: materialized tables' updates. */
function cached(node: TopologyNode): boolean {
  const kind = node.spec.kind;
  return kind === 'aggregate' || kind === 'tableAggregate' || kind === 'tableSource' || (kind === 'process' && node.spec.cached === true);
}

/** The serdes a store's byte layer is opened with: its own (or the defaults) for a key-value store, raw bytes for window and session stores, which encode keys and values themselves. */
export function storeSerdes(spec: StoreSpec, defaults: { readonly defaultKeySerde: Serde<unknown> | undefined; readonly defaultValueSerde: Serde<unknown> | undefined }): { keySerde: Serde<unknown>; valueSerde: Serde<unknown> } {
  const keySerde = required(spec.keySerde ?? defaults.defaultKeySerde, `store ${spec.name}`, 'key');
  const valueSerde = required(spec.valueSerde ?? defaults.defaultValueSerde, `store ${spec.name}`, 'value');
  if ((spec.type ?? 'keyValue') === 'keyValue') return { keySerde, valueSerde };
  return { keySerde: bytes() as Serde<unknown>, valueSerde: bytes() as Serde<unknown> };
}

/** How a window or session view reads the store of `spec`. */
export function timedOptions(spec: StoreSpec, defaults: { readonly defaultKeySerde: Serde<unknown> | undefined; readonly defaultValueSerde: Serde<unknown> | undefined }, topic: string): Parameters<typeof timedStoreView<unknown, unknown>>[4] {
  return {
    keySerde: required(spec.keySerde ?? defaults.defaultKeySerde, `store ${spec.name}`, 'key'),
    valueSerde: required(spec.valueSerde ?? defaults.defaultValueSerde, `store ${spec.name}`, 'value'),
    topic,
    retentionMs: spec.retentionMs ?? 0,
    ...(spec.windowSizeMs === undefined ? {} : { windowSizeMs: spec.windowSizeMs }),
    ...(spec.retainDuplicates === true ? { retainDuplicates: true } : {}),
    ...(spec.timestamped === true ? { timestamped: true } : {}),
  };
}

/** The serde, or a TopologyError naming where one is missing and how to give it. */
export function required(serde: Serde<unknown> | undefined, where: string, part: 'key' | 'value'): Serde<unknown> {
  if (serde === undefined) throw new TopologyError(`${where} has no ${part} serde: pass { ${part}: … } to the operator or set default${part === 'key' ? 'Key' : 'Value'}Serde in the application config`);
  return serde;
}
