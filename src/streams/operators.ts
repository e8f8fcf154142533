/**
 * The DSL steps of `KStream.pipe()` and `KGroupedStream.pipe()`, with Kafka Streams' names and
 * semantics. Each is typed as an RxJS operator over the record shapes of `record.ts`, so they chain
 * with plain RxJS operators; at build time `pipe()` turns each into nodes of the graph.
 *
 * Key tracking follows Kafka: `map`, `flatMap`, `selectKey`, `process` (and RxJS operators not
 * declared `keyPreserving`) may change keys, so a later `groupByKey` repartitions; `filter`,
 * `mapValues`, `flatMapValues`, `peek` keep them.
 */
import type { OperatorFunction } from 'rxjs';
import { TopologyError } from '../errors.ts';
import { dslStep } from './graph.ts';
import type { StreamState } from './graph.ts';
import type { AnyRecord, Change, GroupedRecord, StreamRecord, TableRow } from './record.ts';
import { countSerde } from './internalSerdes.ts';
import type { Serde } from './serdes.ts';
import type { NodeSpec, Processor, StreamPartitioner } from './topology.ts';
import { windowedAggregation } from './windowedAggregation.ts';
import type { WindowedMaterialized } from './windowedAggregation.ts';

/** A key and a value, what `map` and `flatMap` return. */
export interface KeyValuePair<K, V> {
  readonly key: K;
  readonly value: V;
}

/** A stable name for the node (Kafka's `Named`): generated names shift when the topology changes. */
export interface Named {
  readonly name?: string;
}

function checkFn(op: string, fn: unknown): void {
  if (typeof fn !== 'function') throw new TopologyError(`${op}() needs a function, got ${fn === null ? 'null' : typeof fn}`);
}

/** A stateless per-record node; `keyPreserving` false marks the stream for repartition. */
function recordsStep<I, O>(op: string, prefix: string, named: Named | undefined, keyPreserving: boolean, valuePreserving: boolean, fn: (record: AnyRecord) => readonly AnyRecord[]): OperatorFunction<I, O> {
  return dslStep<I, O>(op, (state) => {
    const node = state.graph.add(named?.name ?? state.graph.nextName(prefix), { kind: 'records', fn, keyPreserving }, [state.node]);
    return { ...state, node, keyChanged: state.keyChanged || !keyPreserving, keySerde: keyPreserving ? state.keySerde : undefined, valueSerde: valuePreserving ? state.valueSerde : undefined };
  });
}

/** Keeps records whose predicate holds (Kafka's `filter`); keys unchanged. */
export function filter<K, V>(predicate: (record: StreamRecord<K, V>) => boolean, named?: Named): OperatorFunction<StreamRecord<K, V>, StreamRecord<K, V>> {
  checkFn('filter', predicate);
  return recordsStep('filter', 'KSTREAM-FILTER', named, true, true, (r) => (predicate(r as StreamRecord<K, V>) ? [r] : []));
}

/** Drops records whose predicate holds (Kafka's `filterNot`). */
export function filterNot<K, V>(predicate: (record: StreamRecord<K, V>) => boolean, named?: Named): OperatorFunction<StreamRecord<K, V>, StreamRecord<K, V>> {
  checkFn('filterNot', predicate);
  return recordsStep('filterNot', 'KSTREAM-FILTER', named, true, true, (r) => (predicate(r as StreamRecord<K, V>) ? [] : [r]));
}

/** A new key and value per record (Kafka's `map`); may change keys. */
export function map<K, V, K2, V2>(mapper: (record: StreamRecord<K, V>) => KeyValuePair<K2, V2>, named?: Named): OperatorFunction<StreamRecord<K, V>, StreamRecord<K2, V2>> {
  checkFn('map', mapper);
  return recordsStep('map', 'KSTREAM-MAP', named, false, false, (r) => {
    const kv = mapper(r as StreamRecord<K, V>);
    return [{ ...r, key: kv.key, value: kv.value }];
  });
}

/** A new value per record (Kafka's `mapValues`); keys unchanged. */
export function mapValues<K, V, V2>(mapper: (value: V, record: StreamRecord<K, V>) => V2, named?: Named): OperatorFunction<StreamRecord<K, V>, StreamRecord<K, V2>> {
  checkFn('mapValues', mapper);
  return recordsStep('mapValues', 'KSTREAM-MAPVALUES', named, true, false, (r) => [{ ...r, value: mapper(r.value as V, r as StreamRecord<K, V>) }]);
}

/** A new key per record (Kafka's `selectKey`): the stream is marked for repartition. */
export function selectKey<K, V, K2>(selector: (record: StreamRecord<K, V>) => K2, named?: Named): OperatorFunction<StreamRecord<K, V>, StreamRecord<K2, V>> {
  checkFn('selectKey', selector);
  return recordsStep('selectKey', 'KSTREAM-KEY-SELECT', named, false, true, (r) => [{ ...r, key: selector(r as StreamRecord<K, V>) }]);
}

/** Zero or more records per record (Kafka's `flatMap`); may change keys. */
export function flatMap<K, V, K2, V2>(mapper: (record: StreamRecord<K, V>) => Iterable<KeyValuePair<K2, V2>>, named?: Named): OperatorFunction<StreamRecord<K, V>, StreamRecord<K2, V2>> {
  checkFn('flatMap', mapper);
  return recordsStep('flatMap', 'KSTREAM-FLATMAP', named, false, false, (r) => [...mapper(r as StreamRecord<K, V>)].map((kv) => ({ ...r, key: kv.key, value: kv.value })));
}

/** Zero or more values per record, each with the record's key (Kafka's `flatMapValues`). */
export function flatMapValues<K, V, V2>(mapper: (value: V, record: StreamRecord<K, V>) => Iterable<V2>, named?: Named): OperatorFunction<StreamRecord<K, V>, StreamRecord<K, V2>> {
  checkFn('flatMapValues', mapper);
  return recordsStep('flatMapValues', 'KSTREAM-FLATMAPVALUES', named, true, false, (r) => [...mapper(r.value as V, r as StreamRecord<K, V>)].map((value) => ({ ...r, value })));
}

/** Calls `action` for each record and passes it on unchanged (Kafka's `peek`). */
export function peek<K, V>(action: (record: StreamRecord<K, V>) => void, named?: Named): OperatorFunction<StreamRecord<K, V>, StreamRecord<K, V>> {
  checkFn('peek', action);
  return recordsStep('peek', 'KSTREAM-PEEK', named, true, true, (r) => {
    action(r as StreamRecord<K, V>);
    return [r];
  });
}

/** Calls `action` for each record; terminal (Kafka's `foreach`). */
export function foreach<K, V>(action: (record: StreamRecord<K, V>) => void, named?: Named): OperatorFunction<StreamRecord<K, V>, never> {
  checkFn('foreach', action);
  return dslStep('foreach', (state) => {
    const node = state.graph.add(named?.name ?? state.graph.nextName('KSTREAM-FOREACH'), {
      kind: 'records',
      fn: (r) => {
        action(r as StreamRecord<K, V>);
        return [];
      },
      keyPreserving: true,
    }, [state.node]);
    return { ...state, node, shape: 'terminal' };
  });
}

/**
 * A Processor API node (Kafka's `process`): `supplier` makes one processor per task, which may
 * read and write the named `stores` and forward any records. Keys may change.
 */
export function process<K, V, KOut = K, VOut = V>(supplier: () => Processor<K, V, KOut, VOut>, options: Named & { readonly stores?: readonly string[] } = {}): OperatorFunction<StreamRecord<K, V>, StreamRecord<KOut, VOut>> {
  checkFn('process', supplier);
  return processorStep('process', supplier, options, false);
}

/**
 * A Processor API node that keeps keys (Kafka's `processValues`): as `process`, but forwarding a
 * record with another key than the one processed throws, so no repartition follows it.
 */
export function processValues<K, V, VOut = V>(supplier: () => Processor<K, V, K, VOut>, options: Named & { readonly stores?: readonly string[] } = {}): OperatorFunction<StreamRecord<K, V>, StreamRecord<K, VOut>> {
  checkFn('processValues', supplier);
  return processorStep('processValues', supplier, options, true);
}

function processorStep<I, O>(op: string, supplier: () => Processor<never, never, never, never>, options: Named & { readonly stores?: readonly string[] }, keyPreserving: boolean): OperatorFunction<I, O> {
  return dslStep(op, (state) => {
    const node = state.graph.add(options.name ?? state.graph.nextName(keyPreserving ? 'KSTREAM-PROCESSVALUES' : 'KSTREAM-PROCESSOR'), { kind: 'process', supplier: supplier as () => Processor<unknown, unknown, unknown, unknown>, stores: options.stores ?? [], keyPreserving }, [state.node]);
    return { ...state, node, keyChanged: state.keyChanged || !keyPreserving, keySerde: keyPreserving ? state.keySerde : undefined, valueSerde: undefined };
  });
}

/** Options of `toTopic` (Kafka's `Produced`). */
export interface ProducedOptions<K, V> extends Named {
  /** Key serde (default: the stream's, else the application's default). */
  readonly key?: Serde<K>;
  /** Value serde (default: the stream's, else the application's default). */
  readonly value?: Serde<V>;
  /** Picks the partition per record (default: the producer's partitioner on the key bytes). */
  readonly partitioner?: (topic: string, key: K, value: V, numPartitions: number) => number | undefined;
}

/** Writes each record to `topic`, or to the topic `topic(record)` names (Kafka's `to`); terminal. */
export function toTopic<K, V>(topic: string | ((record: StreamRecord<K, V>) => string), options: ProducedOptions<K, V> = {}): OperatorFunction<StreamRecord<K, V>, never> {
  if (typeof topic !== 'function' && (typeof topic !== 'string' || topic.length === 0)) throw new TopologyError(`toTopic() needs a topic name or a function choosing one, got ${JSON.stringify(topic)}`);
  return dslStep('toTopic', (state) => {
    const spec: NodeSpec = {
      kind: 'sink',
      topic: topic as string | ((record: AnyRecord) => string),
      keySerde: (options.key as Serde<unknown> | undefined) ?? state.keySerde,
      valueSerde: (options.value as Serde<unknown> | undefined) ?? state.valueSerde,
      partitioner: options.partitioner as StreamPartitioner | undefined,
      internal: false,
    };
    const node = state.graph.add(options.name ?? state.graph.nextName('KSTREAM-SINK'), spec, [state.node]);
    return { ...state, node, shape: 'terminal' };
  });
}

/** Options of the groupings (Kafka's `Grouped`). */
export interface GroupedOptions<K, V> extends Named {
  readonly key?: Serde<K>;
  readonly value?: Serde<V>;
}

/** Groups by the current key; repartitions only when an upstream step may have changed keys. */
export function groupByKey<K, V>(options: GroupedOptions<K, V> = {}): OperatorFunction<StreamRecord<K, V>, GroupedRecord<K, V>> {
  return dslStep('groupByKey', (state) => grouped(state, options, state.keyChanged));
}

/** Groups by a new key (Kafka's `groupBy`): always repartitions. */
export function groupBy<K, V, K2>(selector: (record: StreamRecord<K, V>) => K2, options: GroupedOptions<K2, V> = {}): OperatorFunction<StreamRecord<K, V>, GroupedRecord<K2, V>> {
  checkFn('groupBy', selector);
  return dslStep('groupBy', (state) => {
    const node = state.graph.add(state.graph.nextName('KSTREAM-KEY-SELECT'), { kind: 'records', fn: (r) => [{ ...r, key: selector(r as StreamRecord<K, V>) }], keyPreserving: false }, [state.node]);
    return grouped({ ...state, node, keySerde: undefined }, options as GroupedOptions<unknown, unknown>, true);
  });
}

function grouped(state: StreamState, options: GroupedOptions<unknown, unknown>, repartition: boolean): StreamState {
  if (state.shape !== 'stream') throw new TopologyError('a grouping follows a KStream');
  return { ...state, shape: 'grouped', keyChanged: repartition, keySerde: (options.key as Serde<unknown> | undefined) ?? state.keySerde, valueSerde: (options.value as Serde<unknown> | undefined) ?? state.valueSerde, ...(options.name === undefined ? {} : { groupName: options.name }) };
}

/** Options of an aggregation (Kafka's `Materialized`). */
export interface MaterializedOptions<V> extends Named {
  /** The store's name: queryable, and the base of its changelog and repartition topic names. */
  readonly store?: string;
  /** The aggregate's serde (for the store and its changelog). */
  readonly value?: Serde<V>;
  /** Log the store to `<applicationId>-<store>-changelog` (default true, as Kafka). */
  readonly logged?: boolean;
}

/**
 * The aggregation node behind count, reduce and aggregate: repartitions first when needed (a
 * filter dropping null keys, a sink to `<store>-repartition` and a source reading it), then keeps
 * the aggregate per key in a store and emits the table's changes.
 */
function aggregation(state: StreamState, op: string, prefix: string, options: MaterializedOptions<unknown> & WindowedMaterialized, valueSerde: Serde<unknown> | undefined, initializer: () => unknown, aggregator: (key: unknown, value: unknown, aggregate: unknown) => unknown, merger?: (key: unknown, left: unknown, right: unknown) => unknown): StreamState {
  if (state.shape !== 'grouped') throw new TopologyError(`${op}() follows a grouping (groupByKey or groupBy)`);
  const graph = state.graph;
  const nodeName = options.name ?? graph.nextName(prefix);
  const store = options.store ?? graph.nextName('KSTREAM-AGGREGATE-STATE-STORE');
  if (state.windows === undefined) graph.addStore({ name: store, keySerde: state.keySerde, valueSerde, logged: options.logged ?? true });
  let parent = state.node;
  if (state.keyChanged) {
    const base = state.groupName ?? store;
    const topic = `${base}-repartition`;
    graph.internalTopics.add(topic);
    const filterNode = graph.add(`${base}-repartition-filter`, { kind: 'records', fn: (r) => (r.key === null || r.key === undefined ? [] : [r]), keyPreserving: true }, [parent]);
    graph.add(`${base}-repartition-sink`, { kind: 'sink', topic, keySerde: state.keySerde, valueSerde: state.valueSerde, partitioner: undefined, internal: true }, [filterNode]);
    parent = graph.add(`${base}-repartition-source`, { kind: 'source', topics: [topic], keySerde: state.keySerde, valueSerde: state.valueSerde, internal: true }, []);
  }
  if (state.windows !== undefined) return windowedAggregation({ ...state, node: parent }, nodeName, store, options, valueSerde, initializer, aggregator, merger);
  const node = graph.add(nodeName, { kind: 'aggregate', store, initializer, aggregator }, [parent]);
  return { ...state, node, shape: 'table', keyChanged: false, valueSerde, store };
}

/** Counts records per key (Kafka's `count`); null keys and null values are ignored. */
export function count<K, V>(options: Omit<MaterializedOptions<number>, 'value'> & WindowedMaterialized = {}): OperatorFunction<GroupedRecord<K, V>, TableRow<K, number>> {
  return dslStep('count', (state) => aggregation(state, 'count', 'KSTREAM-AGGREGATE', options, countSerde as Serde<unknown>, () => 0, (_k, _v, agg) => (agg as number) + 1, (_k, a, b) => (a as number) + (b as number)));
}

/** Combines values per key (Kafka's `reduce`): the first value is the initial aggregate. */
export function reduce<K, V>(reducer: (aggregate: V, value: V) => V, options: MaterializedOptions<V> & WindowedMaterialized = {}): OperatorFunction<GroupedRecord<K, V>, TableRow<K, V>> {
  checkFn('reduce', reducer);
  const FIRST = Symbol('first');
  // Sessions merge two reduced values with the reducer itself, as Kafka's session reduce does.
  const merge = (_k: unknown, a: unknown, b: unknown): unknown => (a === FIRST ? b : b === FIRST ? a : reducer(a as V, b as V));
  return dslStep('reduce', (state) =>
    aggregation(state, 'reduce', 'KSTREAM-REDUCE', options as MaterializedOptions<unknown>, (options.value as Serde<unknown> | undefined) ?? state.valueSerde, () => FIRST, (_k, value, agg) => (agg === FIRST ? value : reducer(agg as V, value as V)), merge),
  );
}

/** Folds values per key into an aggregate (Kafka's `aggregate`), starting from `initializer()`. */
export function aggregate<K, V, A>(initializer: () => A, aggregator: (key: K, value: V, aggregate: A) => A, options: MaterializedOptions<A> & WindowedMaterialized & { readonly merger?: (key: K, left: A, right: A) => A } = {}): OperatorFunction<GroupedRecord<K, V>, TableRow<K, A>> {
  checkFn('aggregate', initializer);
  checkFn('aggregate', aggregator);
  if (options.merger !== undefined) checkFn('aggregate', options.merger);
  return dslStep('aggregate', (state) => aggregation(state, 'aggregate', 'KSTREAM-AGGREGATE', options as MaterializedOptions<unknown>, options.value as Serde<unknown> | undefined, initializer, aggregator as (key: unknown, value: unknown, aggregate: unknown) => unknown, options.merger as ((key: unknown, left: unknown, right: unknown) => unknown) | undefined));
}

/** Forces a repartition through `<name>-repartition` (Kafka's `repartition`), e.g. to change the partition count. */
export function repartition<K, V>(options: GroupedOptions<K, V> = {}): OperatorFunction<StreamRecord<K, V>, StreamRecord<K, V>> {
  return dslStep('repartition', (state) => {
    const graph = state.graph;
    const base = options.name ?? graph.nextName('KSTREAM-REPARTITION');
    const topic = `${base}-repartition`;
    graph.internalTopics.add(topic);
    const keySerde = (options.key as Serde<unknown> | undefined) ?? state.keySerde;
    const valueSerde = (options.value as Serde<unknown> | undefined) ?? state.valueSerde;
    graph.add(`${base}-repartition-sink`, { kind: 'sink', topic, keySerde, valueSerde, partitioner: undefined, internal: true }, [state.node]);
    const node = graph.add(`${base}-repartition-source`, { kind: 'source', topics: [topic], keySerde, valueSerde, internal: true }, []);
    return { ...state, node, keyChanged: false, keySerde, valueSerde };
  });
}

/** The stream read as a table (Kafka's `toTable`): the latest value per key, null deleting. */
export function toTable<K, V>(options: MaterializedOptions<V> & { readonly key?: Serde<K> } = {}): OperatorFunction<StreamRecord<K, V>, TableRow<K, V>> {
  return dslStep('toTable', (state) => {
    const graph = state.graph;
    const store = options.store ?? graph.nextName('KSTREAM-TOTABLE-STATE-STORE');
    const keySerde = (options.key as Serde<unknown> | undefined) ?? state.keySerde;
    const valueSerde = (options.value as Serde<unknown> | undefined) ?? state.valueSerde;
    let parent = state.node;
    if (state.keyChanged) {
      const topic = `${store}-repartition`;
      graph.internalTopics.add(topic);
      graph.add(`${store}-repartition-sink`, { kind: 'sink', topic, keySerde, valueSerde, partitioner: undefined, internal: true }, [parent]);
      parent = graph.add(`${store}-repartition-source`, { kind: 'source', topics: [topic], keySerde, valueSerde, internal: true }, []);
    }
    graph.addStore({ name: store, keySerde, valueSerde, logged: options.logged ?? true });
    const node = graph.add(options.name ?? graph.nextName('KSTREAM-TOTABLE'), { kind: 'tableSource', store }, [parent]);
    return { ...state, node, shape: 'table', keyChanged: false, keySerde, valueSerde, store };
  });
}

/** @internal A table update as it travels between table nodes. */
export type TableUpdate = StreamRecord<unknown, Change<unknown>>;
