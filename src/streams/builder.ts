/**
 * `StreamsBuilder` and the streams it hands out: KStream, KGroupedStream, KTable. Each wraps one
 * node of the graph being built and what is known at that point (key changed since the last
 * partitioning, serdes still valid). `pipe()` applies steps in order: DSL steps (from
 * `operators.ts`) add their nodes; any other RxJS operator becomes an `rx` node that runs over each
 * task's batch and, unless declared with `keyPreserving`, marks the stream for repartition (it may
 * have changed keys, as Kafka's `map`). Repartition topics are inserted lazily, at the grouping
 * that needs them, named after the store (`<store>-repartition`) as Kafka does.
 */
import type { OperatorFunction } from 'rxjs';
import { TopologyError } from '../errors.ts';
import type { GroupedRecord, StreamRecord, TableRow } from './record.ts';
import type { Serde } from './serdes.ts';
import { changeSerde, countSerde } from './internalSerdes.ts';
import type { NodeSpec, Topology } from './topology.ts';
import { applyStep, GraphBuilder, isDslStep } from './graph.ts';
import type { ConsumedOptions, StreamState } from './graph.ts';

export { dslStep, GraphBuilder } from './graph.ts';
export type { ConsumedOptions, DslStep, StreamState } from './graph.ts';
import { addGlobalTable } from './globalTable.ts';
import type { GlobalKTable, GlobalTableOptions } from './globalTable.ts';
import { suppressNode } from './suppress.ts';
import type { Suppressed } from './suppress.ts';
import { derivedGetter } from './joins/valueGetter.ts';
import { tableTableJoin } from './joins/tableJoins.ts';
import type { TableJoinOptions } from './joins/tableJoins.ts';
import { foreignKeyJoin } from './joins/foreignKeyJoin.ts';
import type { ForeignKeyJoinOptions } from './joins/foreignKeyJoin.ts';

/** The shape a `pipe()` ends in, as the stream type it returns. */
export type Piped<T> = [T] extends [never] ? void : T extends TableRow<infer K, infer V> ? KTable<K, V> : T extends GroupedRecord<infer K, infer V> ? KGroupedStream<K, V> : T extends StreamRecord<infer K, infer V> ? KStream<K, V> : never;


/**
 * Builds a topology from streams and tables. One builder makes one topology; `build()` freezes it.
 *
 * @example
 * const builder = new StreamsBuilder();
 * builder.stream('orders', { key: string(), value: json<Order>() }).pipe(filter((r) => r.value.paid), toTopic('paid'));
 * const topology = builder.build();
 */
export class StreamsBuilder {
  private readonly graph = new GraphBuilder();

  /** A KStream of the records of `topics` (one topic or several, read together). */
  stream<K = unknown, V = unknown>(topics: string | readonly string[], options: ConsumedOptions<K, V> = {}): KStream<K, V> {
    const list = typeof topics === 'string' ? [topics] : [...topics];
    if (list.length === 0 || list.some((t) => typeof t !== 'string' || t.length === 0)) throw new TopologyError(`stream() needs one or more topic names, got ${JSON.stringify(topics)}`);
    const node = this.graph.add(options.name ?? this.graph.nextName('KSTREAM-SOURCE'), { kind: 'source', topics: list, keySerde: options.key as Serde<unknown> | undefined, valueSerde: options.value as Serde<unknown> | undefined, internal: false }, []);
    return new KStream({ graph: this.graph, node, shape: 'stream', keyChanged: false, keySerde: options.key as Serde<unknown> | undefined, valueSerde: options.value as Serde<unknown> | undefined });
  }

  /**
   * A KTable of `topic` read as a changelog: the latest value per key, null deleting it; kept
   * in a store (`store`, or a generated name) so it can be queried and joined.
   */
  table<K = unknown, V = unknown>(topic: string, options: ConsumedOptions<K, V> & { readonly store?: string } = {}): KTable<K, V> {
    if (typeof topic !== 'string' || topic.length === 0) throw new TopologyError(`table() needs a topic name, got ${JSON.stringify(topic)}`);
    const source = this.graph.add(options.name ?? this.graph.nextName('KSTREAM-SOURCE'), { kind: 'source', topics: [topic], keySerde: options.key as Serde<unknown> | undefined, valueSerde: options.value as Serde<unknown> | undefined, internal: false }, []);
    const store = options.store ?? `${topic}-STATE-STORE-${String(this.graph.nodes.size).padStart(10, '0')}`;
    this.graph.addStore({ name: store, keySerde: options.key as Serde<unknown> | undefined, valueSerde: options.value as Serde<unknown> | undefined, logged: true });
    const node = this.graph.add(this.graph.nextName('KTABLE-SOURCE'), { kind: 'tableSource', store }, [source]);
    return new KTable({ graph: this.graph, node, shape: 'table', keyChanged: false, keySerde: options.key as Serde<unknown> | undefined, valueSerde: options.value as Serde<unknown> | undefined, store });
  }

  /**
   * A GlobalKTable of `topic` (Kafka's `globalTable`): every instance holds all its partitions in
   * a store (`store`, or a generated name), loaded to the topic's end before any task processes
   * and kept up to date by the instance's global reader; null deletes. The topic needs no
   * co-partitioning with anything; a stream joins it with a key mapper.
   * @throws TopologyError for an empty topic, a topic already read as a global table, a store name in use.
   */
  globalTable<K = unknown, V = unknown>(topic: string, options: GlobalTableOptions<K, V> = {}): GlobalKTable<K, V> {
    return addGlobalTable(this.graph, topic, options);
  }

  /**
   * Adds a key-value store for Processor API nodes that name it in `stores` (Kafka's
   * `addStateStore`); logged (a changelog topic, restored on start) unless `logged` is false.
   */
  addStateStore<K = unknown, V = unknown>(name: string, options: { readonly key?: Serde<K>; readonly value?: Serde<V>; readonly logged?: boolean } = {}): void {
    if (typeof name !== 'string' || name.length === 0) throw new TopologyError(`addStateStore() needs a store name, got ${JSON.stringify(name)}`);
    this.graph.addStore({ name, keySerde: options.key as Serde<unknown> | undefined, valueSerde: options.value as Serde<unknown> | undefined, logged: options.logged ?? true });
  }

  /** Freezes what was built into a {@link Topology}. @throws TopologyError when it is empty or invalid. */
  build(): Topology {
    return this.graph.build();
  }
}

/** Runs `steps` from `state`, each DSL step on the graph and each RxJS operator as an `rx` node. */
function runSteps(state: StreamState, steps: readonly unknown[]): StreamState {
  let current = state;
  for (const step of steps) {
    if (current.shape === 'terminal') throw new TopologyError('an operator follows a terminal one (toTopic, foreach): nothing can come after it in the same pipe()');
    if (isDslStep(step)) {
      current = applyStep(step, current);
      continue;
    }
    if (typeof step !== 'function') throw new TopologyError(`pipe() takes DSL steps and RxJS operators, got ${step === null ? 'null' : typeof step}`);
    if (current.shape !== 'stream') throw new TopologyError(`an RxJS operator can only follow a KStream, not a ${current.shape === 'grouped' ? 'KGroupedStream (aggregate it first)' : 'KTable (call toStream() first)'}`);
    const keyPreserving = (step as { [KEY_PRESERVING]?: boolean })[KEY_PRESERVING] === true;
    const node = current.graph.add(current.graph.nextName('KSTREAM-RX'), { kind: 'rx', operator: step as OperatorFunction<StreamRecord<unknown, unknown>, StreamRecord<unknown, unknown>>, keyPreserving }, [current.node]);
    current = { ...current, node, keyChanged: current.keyChanged || !keyPreserving, ...(keyPreserving ? {} : { keySerde: undefined }), valueSerde: undefined };
  }
  return current;
}

const KEY_PRESERVING = Symbol.for('samsa.streams.keyPreserving');

/**
 * Declares that an RxJS operator never changes keys (it filters, reorders within the batch or
 * changes values only), so it does not make a later grouping repartition.
 */
export function keyPreserving<I, O>(operator: OperatorFunction<I, O>): OperatorFunction<I, O> {
  if (typeof operator !== 'function') throw new TopologyError('keyPreserving() takes an RxJS operator');
  const wrapped: OperatorFunction<I, O> = (source) => operator(source);
  return Object.assign(wrapped, { [KEY_PRESERVING]: true });
}

function wrap(state: StreamState): unknown {
  switch (state.shape) {
    case 'stream':
      return new KStream(state);
    case 'grouped':
      return new KGroupedStream(state);
    case 'table':
      return new KTable(state);
    case 'terminal':
      return undefined;
  }
}

/** A record stream (Kafka's KStream): each record an independent event. */
export class KStream<K, V> {
  /** @internal */
  constructor(readonly state: StreamState) {}

  /** Applies DSL steps and RxJS operators in order; see the module comment. */
  pipe(): KStream<K, V>;
  pipe<A>(op1: OperatorFunction<StreamRecord<K, V>, A>): Piped<A>;
  pipe<A, B>(op1: OperatorFunction<StreamRecord<K, V>, A>, op2: OperatorFunction<A, B>): Piped<B>;
  pipe<A, B, C>(op1: OperatorFunction<StreamRecord<K, V>, A>, op2: OperatorFunction<A, B>, op3: OperatorFunction<B, C>): Piped<C>;
  pipe<A, B, C, D>(op1: OperatorFunction<StreamRecord<K, V>, A>, op2: OperatorFunction<A, B>, op3: OperatorFunction<B, C>, op4: OperatorFunction<C, D>): Piped<D>;
  pipe<A, B, C, D, E>(op1: OperatorFunction<StreamRecord<K, V>, A>, op2: OperatorFunction<A, B>, op3: OperatorFunction<B, C>, op4: OperatorFunction<C, D>, op5: OperatorFunction<D, E>): Piped<E>;
  pipe<A, B, C, D, E, F>(op1: OperatorFunction<StreamRecord<K, V>, A>, op2: OperatorFunction<A, B>, op3: OperatorFunction<B, C>, op4: OperatorFunction<C, D>, op5: OperatorFunction<D, E>, op6: OperatorFunction<E, F>): Piped<F>;
  pipe<A, B, C, D, E, F, G>(op1: OperatorFunction<StreamRecord<K, V>, A>, op2: OperatorFunction<A, B>, op3: OperatorFunction<B, C>, op4: OperatorFunction<C, D>, op5: OperatorFunction<D, E>, op6: OperatorFunction<E, F>, op7: OperatorFunction<F, G>): Piped<G>;
  pipe<A, B, C, D, E, F, G, H>(op1: OperatorFunction<StreamRecord<K, V>, A>, op2: OperatorFunction<A, B>, op3: OperatorFunction<B, C>, op4: OperatorFunction<C, D>, op5: OperatorFunction<D, E>, op6: OperatorFunction<E, F>, op7: OperatorFunction<F, G>, op8: OperatorFunction<G, H>): Piped<H>;
  pipe(...steps: OperatorFunction<unknown, unknown>[]): unknown;
  pipe(...steps: unknown[]): unknown {
    return wrap(runSteps(this.state, steps));
  }

  /**
   * Routes each record to the first branch whose predicate holds (Kafka's `split()`); records no
   * predicate takes go to `defaultBranch` when named, else are dropped.
   */
  split<B extends string, D extends string = never>(branches: Readonly<Record<B, (record: StreamRecord<K, V>) => boolean>>, options: { readonly defaultBranch?: D; readonly name?: string } = {}): Record<B | D, KStream<K, V>> {
    const names = Object.keys(branches) as B[];
    if (names.length === 0) throw new TopologyError('split() needs at least one branch');
    const predicates: Array<((record: never) => boolean) | undefined> = names.map((n) => branches[n]);
    for (const [i, p] of predicates.entries()) if (typeof p !== 'function') throw new TopologyError(`split() branch "${names[i]}" needs a predicate function`);
    if (options.defaultBranch !== undefined) predicates.push(undefined);
    const graph = this.state.graph;
    const prefix = options.name ?? graph.nextName('KSTREAM-BRANCH');
    const splitNode = graph.add(prefix, { kind: 'split', predicates: predicates as ReadonlyArray<((record: StreamRecord<unknown, unknown>) => boolean) | undefined> }, [this.state.node]);
    const out = {} as Record<B | D, KStream<K, V>>;
    for (const name of [...names, ...(options.defaultBranch === undefined ? [] : [options.defaultBranch])] as Array<B | D>) {
      // Each branch is a pass-through node, so each has its own children.
      const node = graph.add(`${prefix}-${name}`, { kind: 'records', fn: (r) => [r], keyPreserving: true }, [splitNode]);
      out[name] = new KStream({ ...this.state, node });
    }
    return out;
  }

  /** The records of both streams (no order across them). */
  merge(other: KStream<K, V>, options: { readonly name?: string } = {}): KStream<K, V> {
    if (other.state.graph !== this.state.graph) throw new TopologyError('merge() takes a stream of the same StreamsBuilder');
    const graph = this.state.graph;
    const node = graph.add(options.name ?? graph.nextName('KSTREAM-MERGE'), { kind: 'records', fn: (r) => [r], keyPreserving: true }, [this.state.node, other.state.node]);
    const sameSerdes = this.state.keySerde === other.state.keySerde && this.state.valueSerde === other.state.valueSerde;
    return new KStream({ ...this.state, node, keyChanged: this.state.keyChanged || other.state.keyChanged, ...(sameSerdes ? {} : { keySerde: undefined, valueSerde: undefined }) });
  }
}

/** A stream grouped by key, on its way to an aggregation (Kafka's KGroupedStream). */
export class KGroupedStream<K, V> {
  /** @internal */
  constructor(readonly state: StreamState) {}

  /** Applies DSL steps (count, reduce, aggregate). */
  pipe<A>(op1: OperatorFunction<GroupedRecord<K, V>, A>): Piped<A>;
  pipe<A, B>(op1: OperatorFunction<GroupedRecord<K, V>, A>, op2: OperatorFunction<A, B>): Piped<B>;
  pipe(...steps: OperatorFunction<unknown, unknown>[]): unknown;
  pipe(...steps: unknown[]): unknown {
    return wrap(runSteps(this.state, steps));
  }
}

/**
 * A changelog stream (Kafka's KTable): the latest value per key. Its updates carry the new and
 * the old value; a null new value deletes the key.
 */
export class KTable<K, V> {
  /** @internal */
  constructor(readonly state: StreamState) {}

  /** The store holding this table, when it is materialized (queryable by this name). */
  get queryableStoreName(): string | undefined {
    return this.state.store;
  }

  /**
   * Holds the table's updates back and emits the latest per key later (Kafka's `suppress`):
   * `untilWindowCloses(buffer)` emits one final result per window when it closes;
   * `untilTimeLimit(ms, buffer)` at most one update per key per `ms` of stream time.
   */
  suppress(suppressed: Suppressed, options: { readonly name?: string; readonly store?: string } = {}): KTable<K, V> {
    return new KTable<K, V>(suppressNode(this.state, suppressed, options));
  }

  /** Keeps rows whose predicate holds; a row that stops matching is deleted downstream (a tombstone), as Kafka. */
  filter(predicate: (key: K, value: V) => boolean, options: { readonly name?: string } = {}): KTable<K, V> {
    return this.tableNode(options.name ?? this.state.graph.nextName('KTABLE-FILTER'), { kind: 'tableFilter', predicate: predicate as (key: unknown, value: unknown) => boolean, not: false }, (k, v) => (predicate(k as K, v as V) ? v : null));
  }

  /** Keeps rows whose predicate does not hold. */
  filterNot(predicate: (key: K, value: V) => boolean, options: { readonly name?: string } = {}): KTable<K, V> {
    return this.tableNode(options.name ?? this.state.graph.nextName('KTABLE-FILTER'), { kind: 'tableFilter', predicate: predicate as (key: unknown, value: unknown) => boolean, not: true }, (k, v) => (predicate(k as K, v as V) ? null : v));
  }

  /** Maps each row's value; deletes stay deletes (the mapper never sees null). */
  mapValues<V2>(mapper: (value: V, key: K) => V2, options: { readonly name?: string } = {}): KTable<K, V2> {
    const table = this.tableNode(options.name ?? this.state.graph.nextName('KTABLE-MAPVALUES'), { kind: 'tableMapValues', fn: mapper as (value: unknown, key: unknown) => unknown }, (k, v) => mapper(v as V, k as K));
    return new KTable<K, V2>({ ...table.state, valueSerde: undefined });
  }

  /**
   * Regroups the table's rows under new keys (Kafka's KTable `groupBy`), through a repartition
   * topic; `selector` maps a row to its group key and the value to aggregate. Always repartitions.
   */
  groupBy<K2, V2>(selector: (key: K, value: V) => { readonly key: K2; readonly value: V2 }, options: { readonly key?: Serde<K2>; readonly value?: Serde<V2>; readonly name?: string } = {}): KGroupedTable<K2, V2> {
    if (typeof selector !== 'function') throw new TopologyError('groupBy() needs a function (key, value) => ({ key, value })');
    const graph = this.state.graph;
    const node = graph.add(options.name ?? graph.nextName('KTABLE-SELECT'), { kind: 'tableGroupBy', selector: selector as (key: unknown, value: unknown) => { key: unknown; value: unknown } }, [this.state.node]);
    const { store: _store, ...rest } = this.state;
    return new KGroupedTable<K2, V2>({ ...rest, node, shape: 'grouped', keyChanged: true, keySerde: options.key as Serde<unknown> | undefined, valueSerde: options.value as Serde<unknown> | undefined });
  }

  /** The table's updates as a stream: one record per update, its value null for a delete. */
  toStream(options: { readonly name?: string } = {}): KStream<K, V> {
    const graph = this.state.graph;
    const node = graph.add(options.name ?? graph.nextName('KTABLE-TOSTREAM'), { kind: 'toStream' }, [this.state.node]);
    const { store: _store, getter: _getter, ...rest } = this.state;
    return new KStream({ ...rest, node, shape: 'stream' });
  }

  /**
   * Joins with another table on the key (Kafka's KTable `join`): both sides trigger; a result row
   * exists where both rows do; a tombstone on either side deletes it. With a foreign-key extractor
   * (`join(other, (value, key) => foreignKey, joiner)`), joins each row with the other table's row
   * under the key it names (KIP-213; see joins/foreignKeyJoin.ts). Options: `{ name, store, value }`.
   * @throws TopologyError for non-function arguments, a table of another builder, a side that cannot be read by key.
   */
  join<KO, VO, VR>(other: KTable<KO, VO>, foreignKeyExtractor: (value: V, key: K) => KO | null, joiner: (value: V, otherValue: VO, key: K) => VR, options?: ForeignKeyJoinOptions<VR>): KTable<K, VR>;
  join<VO, VR>(other: KTable<K, VO>, joiner: (value: V, otherValue: VO, key: K) => VR, options?: TableJoinOptions<VR>): KTable<K, VR>;
  join(other: KTable<unknown, unknown>, a: unknown, b?: unknown, c?: unknown): KTable<unknown, unknown> {
    return this.joinWith('join', 'inner', other, a, b, c);
  }

  /**
   * Left join with another table (Kafka's KTable `leftJoin`): every left row has a result, with
   * null where the other table has no row. With a foreign-key extractor, as {@link join}: a row
   * whose foreign key is null or names no row joins with null.
   * @throws TopologyError for non-function arguments, a table of another builder, a side that cannot be read by key.
   */
  leftJoin<KO, VO, VR>(other: KTable<KO, VO>, foreignKeyExtractor: (value: V, key: K) => KO | null, joiner: (value: V, otherValue: VO | null, key: K) => VR, options?: ForeignKeyJoinOptions<VR>): KTable<K, VR>;
  leftJoin<VO, VR>(other: KTable<K, VO>, joiner: (value: V, otherValue: VO | null, key: K) => VR, options?: TableJoinOptions<VR>): KTable<K, VR>;
  leftJoin(other: KTable<unknown, unknown>, a: unknown, b?: unknown, c?: unknown): KTable<unknown, unknown> {
    return this.joinWith('leftJoin', 'left', other, a, b, c);
  }

  /**
   * Outer join with another table on the key (Kafka's KTable `outerJoin`): a result wherever
   * either side has a row, with null for the missing one; deleted when both are gone.
   * @throws TopologyError for a joiner that is not a function, a table of another builder, a side that cannot be read by key.
   */
  outerJoin<VO, VR>(other: KTable<K, VO>, joiner: (value: V | null, otherValue: VO | null, key: K) => VR, options: TableJoinOptions<VR> = {}): KTable<K, VR> {
    return this.joinWith('outerJoin', 'outer', other as KTable<unknown, unknown>, joiner, options, undefined) as KTable<K, VR>;
  }

  private joinWith(op: string, kind: 'inner' | 'left' | 'outer', other: KTable<unknown, unknown>, a: unknown, b: unknown, c: unknown): KTable<never, never> {
    if (!(other instanceof KTable)) throw new TopologyError(`${op}() of a KTable takes a KTable, got ${other === null ? 'null' : typeof other}`);
    type Fn = (...args: unknown[]) => unknown;
    // A third function argument is the joiner of a foreign-key join; the second is then its extractor.
    // (Its overloads come first: a function would also fit the all-optional options type.)
    if (typeof b === 'function' && kind !== 'outer') return new KTable(foreignKeyJoin(op, this.state, other.state, a as Fn, b as Fn, kind, (c ?? {}) as ForeignKeyJoinOptions<unknown>));
    return new KTable(tableTableJoin(op, this.state, other.state, a as Fn, kind, (b ?? {}) as TableJoinOptions<unknown>));
  }

  private tableNode(name: string, spec: NodeSpec, read: (key: unknown, value: unknown) => unknown): KTable<K, V> {
    const node = this.state.graph.add(name, spec, [this.state.node]);
    // A derived table is not materialized (Kafka: only when Materialized is given); joins read it through its parent.
    const { store: _store, ...rest } = this.state;
    return new KTable({ ...rest, node, getter: derivedGetter(this.state, read) });
  }
}

/**
 * A table regrouped by a new key, on its way to an aggregation (Kafka's KGroupedTable). Each
 * update of the source table takes the old row out of its group (the subtractor) and puts the
 * new row into its group (the adder).
 */
export class KGroupedTable<K, V> {
  /** @internal */
  constructor(readonly state: StreamState) {}

  /**
   * Aggregates each group: `adder` for a row entering it, `subtractor` for a row leaving it (an
   * update leaves the old group and enters the new one; a delete only leaves).
   */
  aggregate<A>(initializer: () => A, adder: (key: K, value: V, aggregate: A) => A, subtractor: (key: K, value: V, aggregate: A) => A, options: { readonly store?: string; readonly value?: Serde<A>; readonly name?: string; readonly logged?: boolean } = {}): KTable<K, A> {
    for (const [name, fn] of [['initializer', initializer], ['adder', adder], ['subtractor', subtractor]] as const) if (typeof fn !== 'function') throw new TopologyError(`aggregate() needs a ${name} function`);
    const graph = this.state.graph;
    const store = options.store ?? graph.nextName('KTABLE-AGGREGATE-STATE-STORE');
    graph.addStore({ name: store, keySerde: this.state.keySerde, valueSerde: options.value as Serde<unknown> | undefined, logged: options.logged ?? true });
    const topic = `${store}-repartition`;
    graph.internalTopics.add(topic);
    const valueSerde = this.state.valueSerde === undefined ? undefined : (changeSerde(this.state.valueSerde) as Serde<unknown>);
    graph.add(`${store}-repartition-sink`, { kind: 'sink', topic, keySerde: this.state.keySerde, valueSerde, partitioner: undefined, internal: true, change: true }, [this.state.node]);
    const source = graph.add(`${store}-repartition-source`, { kind: 'source', topics: [topic], keySerde: this.state.keySerde, valueSerde, internal: true, change: true }, []);
    const node = graph.add(options.name ?? graph.nextName('KTABLE-AGGREGATE'), { kind: 'tableAggregate', store, initializer, adder: adder as (key: unknown, value: unknown, aggregate: unknown) => unknown, subtractor: subtractor as (key: unknown, value: unknown, aggregate: unknown) => unknown }, [source]);
    return new KTable<K, A>({ graph, node, shape: 'table', keyChanged: false, keySerde: this.state.keySerde, valueSerde: options.value as Serde<unknown> | undefined, store });
  }

  /** Counts the rows of each group. */
  count(options: { readonly store?: string; readonly name?: string; readonly logged?: boolean } = {}): KTable<K, number> {
    return this.aggregate(() => 0, (_k, _v, n) => n + 1, (_k, _v, n) => n - 1, { ...options, value: countSerde });
  }

  /** Combines the values of each group: `adder` for a row entering it, `subtractor` for one leaving. */
  reduce(adder: (aggregate: V, value: V) => V, subtractor: (aggregate: V, value: V) => V, options: { readonly store?: string; readonly value?: Serde<V>; readonly name?: string; readonly logged?: boolean } = {}): KTable<K, V> {
    // A group's first value is its aggregate: NONE marks a group that has none yet.
    const NONE = Symbol('none');
    const valueSerde = (options.value ?? this.state.valueSerde) as Serde<V | typeof NONE> | undefined;
    const table = this.aggregate<V | typeof NONE>(() => NONE, (_k, v, agg) => (agg === NONE ? v : adder(agg, v)), (_k, v, agg) => (agg === NONE ? agg : subtractor(agg, v)), { ...options, ...(valueSerde === undefined ? {} : { value: valueSerde }) });
    return table as KTable<K, V>;
  }
}

