/**
 * Reading a KTable by key (Kafka's KTableValueGetter), what joins need from the table side: a
 * materialized table reads its store; a table derived without one (KTable.filter, mapValues, a
 * table-table join) reads its parent's and applies its own step, so it needs no store of its own.
 * The getter names the stores it reads: the joining node connects to them, which puts it in the
 * tables' sub-topology, so the co-partitioning of the join's inputs is checked at start.
 */
import { TopologyError } from '../../errors.ts';
import type { StoreLookup, StreamState, TableValueGetter } from '../graph.ts';
import type { ReadOnlyKeyValueStore } from '../stores/keyValueStore.ts';

export type { StoreLookup, TableValueGetter } from '../graph.ts';

/** Reads a key-value store. */
export function storeGetter(store: string): TableValueGetter {
  return { stores: [store], read: (key, lookup) => lookup(store).get(key) ?? null };
}

/** The getter of a table: its store when materialized, else the one its derivation composed. */
export function valueGetterOf(state: StreamState): TableValueGetter | undefined {
  return state.store !== undefined ? storeGetter(state.store) : state.getter;
}

/**
 * The getter of a table derived from `parent` row by row (filter, mapValues): `step` sees the
 * parent's non-null values and returns the derived one, null for none. Undefined when the parent
 * cannot be read either.
 */
export function derivedGetter(parent: StreamState, step: (key: unknown, value: unknown) => unknown): TableValueGetter | undefined {
  const base = valueGetterOf(parent);
  if (base === undefined) return undefined;
  return {
    stores: base.stores,
    read: (key, lookup) => {
      const value = base.read(key, lookup);
      if (value === null || value === undefined) return null;
      const derived = step(key, value);
      return derived === undefined ? null : derived;
    },
  };
}

/** A lookup over a processor's context, checked against what the getter declared. */
export function lookupOf(getStateStore: (name: string) => unknown): StoreLookup {
  const cache = new Map<string, ReadOnlyKeyValueStore<unknown, unknown>>();
  return (name) => {
    let store = cache.get(name);
    if (store === undefined) cache.set(name, (store = getStateStore(name) as ReadOnlyKeyValueStore<unknown, unknown>));
    return store;
  };
}

/**
 * The table's getter, or a TopologyError saying how to make one: a join reads the other side by
 * key, so the table must be materialized or derived from one that is. Windowed tables (a windowed
 * aggregation's result) are refused: their rows are per window, not per key.
 */
export function requireGetter(state: StreamState, op: string): TableValueGetter {
  if (state.windows !== undefined) throw new TopologyError(`${op}() cannot read a windowed KTable by key; join its toStream() instead`);
  const getter = valueGetterOf(state);
  if (getter === undefined) throw new TopologyError(`${op}() needs to read the KTable by key, but it is neither materialized nor derived from a materialized table; materialize it (e.g. toStream().pipe(toTable({ store })) or give the join that made it { store })`);
  for (const name of getter.stores) {
    const type = state.graph.stores.get(name)?.type ?? 'keyValue';
    if (type !== 'keyValue') throw new TopologyError(`${op}() reads the KTable from store "${name}", a ${type} store; only key-value tables can be joined by key`);
  }
  return getter;
}
