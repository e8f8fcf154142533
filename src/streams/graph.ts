/**
 * The graph a `StreamsBuilder` fills: the mutable node and store maps behind it, the state of a
 * stream position (`StreamState`), and DSL steps. Apart from builder.ts so that the operators,
 * joins, suppression and global tables add nodes without importing the builder that uses them.
 */
import type { OperatorFunction } from 'rxjs';
import { TopologyError } from '../errors.ts';
import type { ReadOnlyKeyValueStore } from './stores/keyValueStore.ts';
import type { Serde } from './serdes.ts';
import { Topology } from './topology.ts';
import type { GlobalStoreSpec, NodeSpec, StoreSpec, TopologyNode } from './topology.ts';
import type { WindowDefinition } from './windows.ts';

/** Opens one of the stores a getter names, as the reading node's context gives it. */
export type StoreLookup = (name: string) => ReadOnlyKeyValueStore<unknown, unknown>;

/** How a node reads a table's current value of a key: null when the key has none (see joins/valueGetter.ts). */
export interface TableValueGetter {
  /** The stores `read` opens; the reading node must be connected to them. */
  readonly stores: readonly string[];
  /** The row's value, or null. */
  read(key: unknown, lookup: StoreLookup): unknown;
}

/** What a stream position knows: its last node and whether its keys moved since partitioning. */
export interface StreamState {
  readonly graph: GraphBuilder;
  /** The node new children attach to. */
  readonly node: string;
  readonly shape: 'stream' | 'grouped' | 'table' | 'terminal';
  /** Keys may differ from the partitioning of the topic read (a grouping must repartition). */
  readonly keyChanged: boolean;
  readonly keySerde: Serde<unknown> | undefined;
  readonly valueSerde: Serde<unknown> | undefined;
  /** For a table: the store that holds it, if materialized. */
  readonly store?: string;
  /** For a table without a store: how to read it by key from upstream stores (filter, mapValues, a join), for joins. */
  readonly getter?: TableValueGetter;
  /** For a grouped stream: the repartition name its grouping chose, if any. */
  readonly groupName?: string;
  /** For a windowed grouped stream, and the windowed table its aggregation makes: the windows. */
  readonly windows?: WindowDefinition;
  /** For a windowed grouped stream: emit one final result per window when it closes (`emitStrategy(onWindowClose())`). */
  readonly emitOnClose?: boolean;
}

const STEP = Symbol.for('samsa.streams.step');

/** A DSL step: typed as an RxJS operator so it chains with them, run by `pipe()` on the graph. */
export type DslStep<I, O> = OperatorFunction<I, O> & { readonly [STEP]: (state: StreamState) => StreamState };

/** Makes a DSL step: a function RxJS would reject (it is not an operator on Observables). */
export function dslStep<I, O>(name: string, apply: (state: StreamState) => StreamState): DslStep<I, O> {
  const fn = (): never => {
    throw new TopologyError(`${name}() is a streams DSL step: use it inside KStream.pipe(), not on an Observable`);
  };
  const step: DslStep<I, O> = Object.assign(fn, { [STEP]: apply });
  return step;
}

/** Whether `step` is a DSL step (else an RxJS operator). */
export function isDslStep(step: unknown): step is DslStep<unknown, unknown> {
  return typeof step === 'function' && STEP in step;
}

/** Applies a DSL step to a stream position. */
export function applyStep(step: DslStep<unknown, unknown>, state: StreamState): StreamState {
  return step[STEP](state);
}


/** @internal The mutable graph behind a builder. */
export class GraphBuilder {
  readonly nodes = new Map<string, TopologyNode>();
  readonly stores = new Map<string, StoreSpec>();
  readonly internalTopics = new Set<string>();
  /** Global tables' stores, by name (see globalTable.ts). */
  readonly globalStores = new Map<string, GlobalStoreSpec>();
  private counter = 0;
  private built = false;

  /** Kafka's generated name: `<PREFIX>-` and a ten-digit index shared by nodes and stores. */
  nextName(prefix: string): string {
    return `${prefix}-${String(this.counter++).padStart(10, '0')}`;
  }

  /** Adds a node under `parents` (each forwards to it). */
  add(name: string, spec: NodeSpec, parents: readonly string[]): string {
    this.checkOpen();
    if (this.nodes.has(name)) throw new TopologyError(`two nodes are named "${name}"; give each operator a distinct name`);
    this.nodes.set(name, { name, spec, children: [] });
    for (const parent of parents) {
      const node = this.nodes.get(parent);
      if (node === undefined) throw new TopologyError(`node "${parent}" does not exist`);
      if (node.spec.kind === 'sink') throw new TopologyError(`nothing can follow ${parent}: a sink (toTopic) ends its stream`);
      node.children.push(name);
    }
    return name;
  }

  addStore(store: StoreSpec): void {
    this.checkOpen();
    if (this.stores.has(store.name) || this.globalStores.has(store.name)) throw new TopologyError(`the store name "${store.name}" is used twice; store names must be unique in a topology`);
    this.stores.set(store.name, store);
  }

  build(): Topology {
    this.checkOpen();
    if (this.nodes.size === 0) throw new TopologyError('the topology is empty: add a stream or a table before build()');
    this.built = true;
    return new Topology(this.nodes, this.stores, this.internalTopics, this.globalStores);
  }

  private checkOpen(): void {
    if (this.built) throw new TopologyError('this builder was built already; a topology cannot change after build(); use a new StreamsBuilder');
  }
}

/** Options of `builder.stream` and `builder.table`. */
export interface ConsumedOptions<K, V> {
  /** Key serde (default: the application's `defaultKeySerde`). */
  readonly key?: Serde<K>;
  /** Value serde (default: the application's `defaultValueSerde`). */
  readonly value?: Serde<V>;
  /** Name of the source node, stable across topology changes. */
  readonly name?: string;
}
