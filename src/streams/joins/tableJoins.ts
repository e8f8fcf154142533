/**
 * KTable–KTable joins on the primary key (Kafka's KTableKTableInnerJoin, LeftJoin, RightJoin,
 * OuterJoin): both sides trigger. An update of one side reads the other side's current row and
 * emits the result's update as a change (new and old result), so downstream tables, groupings and
 * aggregations see the old result retracted. A tombstone produces a result tombstone where a
 * result existed; which updates produce results follows Kafka's table-table semantics table.
 * The result is materialized only when given a store; unmaterialized, it is read by computing the
 * join from both sides' stores, so it can be joined again.
 */
import { TopologyError } from '../../errors.ts';
import type { StreamState } from '../graph.ts';
import type { AnyRecord, Change } from '../record.ts';
import type { Serde } from '../serdes.ts';
import type { KeyValueStore } from '../stores/keyValueStore.ts';
import type { InternalProcessorContext, Processor } from '../topology.ts';
import { lookupOf, requireGetter } from './valueGetter.ts';
import type { StoreLookup, TableValueGetter } from './valueGetter.ts';

/** A table-table join's kind. */
export type TableJoinKind = 'inner' | 'left' | 'outer';

/** Options of a KTable–KTable join (Kafka's `Named` and `Materialized`). */
export interface TableJoinOptions<V> {
  /** Name of the join's merge node; its two sides are `<name>-join-this` and `<name>-join-other`. */
  readonly name?: string;
  /** Materialize the result in this store (queryable, with a changelog); default: not materialized. */
  readonly store?: string;
  /** The result's value serde, for the store. */
  readonly value?: Serde<V>;
  /** Log the store (default true). */
  readonly logged?: boolean;
}

type Joiner = (left: unknown, right: unknown, key: unknown) => unknown;

/**
 * Adds the join of `left` and `right` and returns the result table's state.
 * @throws TopologyError for a joiner that is not a function, a table of another builder, or a side that cannot be read by key.
 */
export function tableTableJoin(op: string, left: StreamState, right: StreamState, joiner: Joiner, kind: TableJoinKind, options: TableJoinOptions<unknown>): StreamState {
  if (typeof joiner !== 'function') throw new TopologyError(`${op}() needs a joiner function (value, otherValue, key) => result, got ${joiner === null ? 'null' : typeof joiner}`);
  if (right.graph !== left.graph) throw new TopologyError(`${op}() takes a KTable of the same StreamsBuilder`);
  if (right.shape !== 'table') throw new TopologyError(`${op}() of a KTable takes a KTable`);
  const leftGetter = requireGetter(left, op);
  const rightGetter = requireGetter(right, op);
  const graph = left.graph;
  // Kafka's order: the merge node's name first, then the two sides'.
  const mergeName = options.name ?? graph.nextName('KTABLE-MERGE');
  const thisName = options.name === undefined ? graph.nextName('KTABLE-JOINTHIS') : `${options.name}-join-this`;
  const otherName = options.name === undefined ? graph.nextName('KTABLE-JOINOTHER') : `${options.name}-join-other`;
  const reversed: Joiner = (value, otherValue, key) => joiner(otherValue, value, key);
  // A left join's right side runs Kafka's KTableKTableRightJoin: it emits only where a left row exists.
  const thisKind = kind;
  const otherKind = kind === 'left' ? 'right' : kind;
  const thisNode = graph.add(thisName, { kind: 'process', supplier: () => sideProcessor(rightGetter, joiner, thisKind), stores: rightGetter.stores, keyPreserving: true }, [left.node]);
  const otherNode = graph.add(otherName, { kind: 'process', supplier: () => sideProcessor(leftGetter, reversed, otherKind), stores: leftGetter.stores, keyPreserving: true }, [right.node]);
  const store = options.store;
  if (store === undefined) {
    const node = graph.add(mergeName, { kind: 'records', fn: (r) => [r], keyPreserving: true }, [thisNode, otherNode]);
    const getter: TableValueGetter = { stores: [...new Set([...leftGetter.stores, ...rightGetter.stores])], read: (key, lookup) => joinedValue(kind, joiner, key, leftGetter.read(key, lookup), rightGetter.read(key, lookup)) };
    return { ...left, node, shape: 'table', keyChanged: false, valueSerde: undefined, store: undefined, getter, groupName: undefined };
  }
  graph.addStore({ name: store, keySerde: left.keySerde, valueSerde: options.value as Serde<unknown> | undefined, logged: options.logged ?? true });
  const node = graph.add(mergeName, { kind: 'process', supplier: () => materializer(store), stores: [store], keyPreserving: true }, [thisNode, otherNode]);
  return { ...left, node, shape: 'table', keyChanged: false, valueSerde: options.value as Serde<unknown> | undefined, store, getter: undefined, groupName: undefined };
}

/** What the result holds for a key, given both sides' rows (the unmaterialized result's getter). */
function joinedValue(kind: TableJoinKind, joiner: Joiner, key: unknown, left: unknown, right: unknown): unknown {
  if (left === null && (kind !== 'outer' || right === null)) return null;
  if (right === null && kind === 'inner') return null;
  return joiner(left, right, key);
}

/**
 * One side of the join, on that side's updates; `other` reads the other side. `kind` is this
 * side's role: inner, left (a left join's left side), right (a left join's right side), outer.
 */
function sideProcessor(other: TableValueGetter, joiner: Joiner, kind: TableJoinKind | 'right'): Processor<unknown, unknown, unknown, unknown> {
  let ctx: InternalProcessorContext;
  let lookup: StoreLookup;
  return {
    init(context) {
      ctx = context as InternalProcessorContext;
      lookup = lookupOf((name) => ctx.getStateStore(name));
    },
    process(record: AnyRecord) {
      if (record.key === null || record.key === undefined) {
        ctx.droppedRecord('null key in a table-table join', record);
        return;
      }
      const change = record.value as Change<unknown>;
      const otherValue = other.read(record.key, lookup);
      const result = resultChange(kind, joiner, record.key, change, otherValue);
      if (result !== undefined) ctx.forward({ ...record, value: result });
    },
  };
}

/** The result's update for one side's update (undefined: none), as Kafka's four join processors compute it with old values sent. */
function resultChange(kind: TableJoinKind | 'right', joiner: Joiner, key: unknown, change: Change<unknown>, other: unknown): Change<unknown> | undefined {
  const { newValue, oldValue } = change;
  switch (kind) {
    case 'inner':
      if (other === null) return undefined;
      return { newValue: newValue === null ? null : joiner(newValue, other, key), oldValue: oldValue === null ? null : joiner(oldValue, other, key) };
    case 'left':
      if (other === null && newValue === null && oldValue === null) return undefined;
      return { newValue: newValue === null ? null : joiner(newValue, other, key), oldValue: oldValue === null ? null : joiner(oldValue, other, key) };
    case 'right':
      // The right side of a left join: nothing without a left row; a right tombstone joins it with null.
      if (other === null) return undefined;
      return { newValue: joiner(newValue, other, key), oldValue: joiner(oldValue, other, key) };
    case 'outer':
      if (other === null && newValue === null && oldValue === null) return undefined;
      return { newValue: other !== null || newValue !== null ? joiner(newValue, other, key) : null, oldValue: other !== null || oldValue !== null ? joiner(oldValue, other, key) : null };
  }
}

/** Kafka's KTableKTableJoinMerger with a store: keeps the result and emits it with the value it replaced. */
function materializer(storeName: string): Processor<unknown, unknown, unknown, unknown> {
  let ctx: InternalProcessorContext;
  let store: KeyValueStore<unknown, unknown>;
  return {
    init(context) {
      ctx = context as InternalProcessorContext;
      store = ctx.getStateStore<KeyValueStore<unknown, unknown>>(storeName);
    },
    process(record: AnyRecord) {
      const change = record.value as Change<unknown>;
      const old = store.get(record.key);
      const newValue = change.newValue === undefined ? null : change.newValue;
      store.put(record.key, newValue);
      ctx.forward({ ...record, value: { newValue, oldValue: old === undefined ? null : old } satisfies Change<unknown> });
    },
  };
}
