/**
 * A GlobalKTable (Kafka's): a table whose store holds every partition of its topic on every
 * instance, so a stream joins it by any key its mapper picks, with no co-partitioning. The store
 * is filled by the instance's own reader before processing starts and kept up to date by it;
 * the topic is its changelog.
 */
import { TopologyError } from '../errors.ts';
import type { ConsumedOptions, GraphBuilder } from './graph.ts';
import type { Serde } from './serdes.ts';

/** A global table: its topic, its store and its serdes. */
export class GlobalKTable<K, V> {
  /** @internal Use `StreamsBuilder.globalTable`. */
  constructor(
    readonly graph: GraphBuilder,
    readonly topic: string,
    /** The global store's name (queryable on every instance). */
    readonly queryableStoreName: string,
    readonly keySerde: Serde<K> | undefined,
    readonly valueSerde: Serde<V> | undefined,
  ) {}
}

/** Options of `builder.globalTable`: serdes, the store's name, the source node's name. */
export interface GlobalTableOptions<K, V> extends ConsumedOptions<K, V> {
  /** The global store's name (default: `<topic>-STATE-STORE-<n>`, as Kafka names it). */
  readonly store?: string;
}

/**
 * @internal Adds a global table's source and store-writing nodes and its store to `graph`, named
 * as Kafka names them (the store first, then `KSTREAM-SOURCE`, then `KTABLE-SOURCE`).
 * @throws TopologyError for an empty topic, a topic already read by a global table, a store name in use.
 */
export function addGlobalTable<K, V>(graph: GraphBuilder, topic: string, options: GlobalTableOptions<K, V>): GlobalKTable<K, V> {
  if (typeof topic !== 'string' || topic.length === 0) throw new TopologyError(`globalTable() needs a topic name, got ${JSON.stringify(topic)}`);
  for (const g of graph.globalStores.values()) {
    if (g.topic === topic) throw new TopologyError(`topic "${topic}" is already read by the global table of store "${g.spec.name}"; a topic feeds one global table: reuse that GlobalKTable`);
  }
  if (options.store !== undefined && (typeof options.store !== 'string' || options.store.length === 0)) throw new TopologyError(`globalTable() takes a non-empty store name, got ${JSON.stringify(options.store)}`);
  const store = options.store ?? graph.nextName(`${topic}-STATE-STORE`);
  if (graph.stores.has(store) || graph.globalStores.has(store)) throw new TopologyError(`the store name "${store}" is used twice; store names must be unique in a topology: pass globalTable(topic, { store: '<another name>' })`);
  const keySerde = options.key as Serde<unknown> | undefined;
  const valueSerde = options.value as Serde<unknown> | undefined;
  const sourceName = graph.add(options.name ?? graph.nextName('KSTREAM-SOURCE'), { kind: 'source', topics: [topic], keySerde, valueSerde, internal: false }, []);
  const processorName = graph.add(graph.nextName('KTABLE-SOURCE'), { kind: 'tableSource', store }, [sourceName]);
  // Never logged: the topic is the changelog, read from its start by every instance.
  graph.globalStores.set(store, { spec: { name: store, keySerde, valueSerde, logged: false }, topic, sourceName, processorName });
  return new GlobalKTable<K, V>(graph, topic, store, options.key, options.value);
}
