/**
 * The join steps of `KStream.pipe()`: `join`, `leftJoin` and `outerJoin`, with Kafka Streams'
 * semantics, dispatched on what they join with:
 *
 * - a KStream: windowed (`joinWindows(...)` is required); inner, left or outer (streamStreamJoin.ts).
 * - a KTable: a lookup of the table's current row per stream record; only stream records trigger,
 *   table updates only change what later lookups see; inner or left.
 * - a GlobalKTable: a lookup under the key a mapper picks, with no co-partitioning (globalJoin.ts).
 *
 * A side whose keys may have changed (after `selectKey`, `map`, …) is first repartitioned through
 * an internal topic, as Kafka does: `<name>-left-repartition` / `<name>-right-repartition` for a
 * named stream-stream join, `<name>-repartition` for a stream-table join, else named after the
 * stream's last node. The joined sides share stores, so they run in one sub-topology, whose input
 * topics must then have equal partition counts (checked at start).
 */
import type { OperatorFunction } from 'rxjs';
import { TopologyError } from '../../errors.ts';
import { KStream, KTable } from '../builder.ts';
import { dslStep } from '../graph.ts';
import type { StreamState } from '../graph.ts';
import { GlobalKTable } from '../globalTable.ts';
import type { AnyRecord, StreamRecord } from '../record.ts';
import type { Serde } from '../serdes.ts';
import { bytes } from '../serdes.ts';
import type { InternalProcessorContext, Processor } from '../topology.ts';
import type { JoinWindows } from '../windows.ts';
import { windowRetentionMs } from '../windows.ts';
import { globalJoin } from './globalJoin.ts';
import { streamJoinProcessor } from './streamStreamJoin.ts';
import type { Joiner, JoinSide, StreamJoinKind } from './streamStreamJoin.ts';
import { lookupOf, requireGetter } from './valueGetter.ts';
import type { StoreLookup, TableValueGetter } from './valueGetter.ts';

/** Options of a KStream–KStream join (Kafka's `StreamJoined`). */
export interface StreamJoinOptions<K, V, VO> {
  /** Base of the join's node names and repartition topics (`<name>-this-join`, `<name>-left-repartition`, …), stable across topology changes. */
  readonly name?: string;
  /** This side's window store (default `KSTREAM-JOINTHIS-<n>-store`, or `KSTREAM-OUTERTHIS-…` for an outer join). */
  readonly thisStore?: string;
  /** The other side's window store (default `KSTREAM-JOINOTHER-<n>-store`, or `KSTREAM-OUTEROTHER-…` for left and outer joins). */
  readonly otherStore?: string;
  /** Serdes of the key and of each side's values, for the stores and repartition topics (default: the streams', else the application's). */
  readonly key?: Serde<K>;
  readonly value?: Serde<V>;
  readonly otherValue?: Serde<VO>;
  /** Log the stores to changelogs (default true, as Kafka). */
  readonly logged?: boolean;
}

/** Options of a KStream–KTable join (Kafka's `Joined`): a name, and serdes for a repartition of the stream. */
export interface StreamTableJoinOptions<K, V> {
  /** Name of the join node, also the base of the stream's repartition topic (`<name>-repartition`). */
  readonly name?: string;
  readonly key?: Serde<K>;
  readonly value?: Serde<V>;
}

/** Options of a KStream–GlobalKTable join: a name. */
export interface GlobalJoinOptions {
  readonly name?: string;
}

type Step<K, V, VR> = OperatorFunction<StreamRecord<K, V>, StreamRecord<K, VR>>;

/**
 * Inner join (Kafka's `join`). With a KStream: windowed, one result per pair of records of the
 * same key whose timestamps are within the windows, emitted at once, stamped with the later of the
 * two. With a KTable or a GlobalKTable: each stream record joins the table's current row, and is
 * dropped when there is none. Records with a null key or value are dropped.
 * @throws TopologyError for a joiner that is not a function, a KStream without join windows, or a side of another builder.
 */
export function join<K, V, VO, VR>(other: KStream<K, VO>, joiner: (value: V, otherValue: VO, key: K) => VR, windows: JoinWindows, options?: StreamJoinOptions<K, V, VO>): Step<K, V, VR>;
export function join<K, V, VT, VR>(table: KTable<K, VT>, joiner: (value: V, tableValue: VT, key: K) => VR, options?: StreamTableJoinOptions<K, V>): Step<K, V, VR>;
export function join<K, V, GK, GV, VR>(table: GlobalKTable<GK, GV>, keyMapper: (key: K, value: V) => GK, joiner: (value: V, tableValue: GV, key: K) => VR, options?: GlobalJoinOptions): Step<K, V, VR>;
export function join(other: unknown, a: unknown, b?: unknown, c?: unknown): OperatorFunction<never, unknown> {
  return joinStep('join', 'inner', other, a, b, c);
}

/**
 * Left join (Kafka's `leftJoin`): as {@link join}, and a left record that finds no partner is
 * emitted with null for it. With a KStream, only once its window closed (stream time past
 * `ts + after + grace`), unless a match arrives first; with a table, at once. A left record with
 * a null key is emitted at once with a null partner (Kafka ≥ 3.7); a null value is dropped.
 * @throws TopologyError for a joiner that is not a function, a KStream without join windows, or a side of another builder.
 */
export function leftJoin<K, V, VO, VR>(other: KStream<K, VO>, joiner: (value: V, otherValue: VO | null, key: K) => VR, windows: JoinWindows, options?: StreamJoinOptions<K, V, VO>): Step<K, V, VR>;
export function leftJoin<K, V, VT, VR>(table: KTable<K, VT>, joiner: (value: V, tableValue: VT | null, key: K) => VR, options?: StreamTableJoinOptions<K, V>): Step<K, V, VR>;
export function leftJoin<K, V, GK, GV, VR>(table: GlobalKTable<GK, GV>, keyMapper: (key: K, value: V) => GK, joiner: (value: V, tableValue: GV | null, key: K) => VR, options?: GlobalJoinOptions): Step<K, V, VR>;
export function leftJoin(other: unknown, a: unknown, b?: unknown, c?: unknown): OperatorFunction<never, unknown> {
  return joinStep('leftJoin', 'left', other, a, b, c);
}

/**
 * Outer join of two KStreams (Kafka's `outerJoin`): as {@link leftJoin}, for both sides: an
 * unmatched record of either side is emitted with a null partner once its window closed.
 * @throws TopologyError for a joiner that is not a function, missing join windows, or a stream of another builder.
 */
export function outerJoin<K, V, VO, VR>(other: KStream<K, VO>, joiner: (value: V | null, otherValue: VO | null, key: K) => VR, windows: JoinWindows, options?: StreamJoinOptions<K, V, VO>): Step<K, V, VR> {
  return joinStep('outerJoin', 'outer', other, joiner, windows, options) as Step<K, V, VR>;
}

function isJoinWindows(x: unknown): x is JoinWindows {
  return typeof x === 'object' && x !== null && (x as { type?: unknown }).type === 'join';
}

function describe(x: unknown): string {
  if (x === null) return 'null';
  if (typeof x === 'object') return (x as object).constructor?.name ?? 'an object';
  return typeof x;
}

function checkFn(op: string, what: string, fn: unknown): asserts fn is (...args: unknown[]) => unknown {
  if (typeof fn !== 'function') throw new TopologyError(`${op}() needs a ${what} function, got ${describe(fn)}`);
}

function joinStep(op: string, kind: StreamJoinKind, other: unknown, a: unknown, b: unknown, c: unknown): OperatorFunction<unknown, unknown> {
  if (other instanceof KStream) {
    checkFn(op, 'joiner (value, otherValue, key) =>', a);
    if (!isJoinWindows(b)) throw new TopologyError(`${op}() of two KStreams is windowed: pass joinWindows({ timeDifferenceMs, graceMs }) after the joiner, got ${describe(b)}`);
    const options = (c ?? {}) as StreamJoinOptions<unknown, unknown, unknown>;
    return dslStep(op, (state) => streamStreamJoin(op, state, other.state, a as Joiner, b, kind, options));
  }
  if (other instanceof KTable || other instanceof GlobalKTable) {
    if (kind === 'outer') throw new TopologyError('outerJoin() joins two KStreams; a KStream joins a KTable or a GlobalKTable with join() or leftJoin() only (as in Kafka)');
    const tableKind = kind;
    if (other instanceof GlobalKTable) {
      checkFn(op, 'key mapper (key, value) =>', a);
      checkFn(op, 'joiner (value, tableValue, key) =>', b);
      return dslStep(op, (state) => globalJoin(state, other, a, b, tableKind, (c ?? {}) as GlobalJoinOptions));
    }
    checkFn(op, 'joiner (value, tableValue, key) =>', a);
    if (isJoinWindows(b)) throw new TopologyError(`${op}() with a KTable is not windowed: drop the join windows`);
    return dslStep(op, (state) => streamTableJoin(op, state, other.state, a as Joiner, tableKind, (b ?? {}) as StreamTableJoinOptions<unknown, unknown>));
  }
  throw new TopologyError(`${op}() joins with a KStream, a KTable or a GlobalKTable, got ${describe(other)}`);
}

/** The state after a join: a stream keyed as its input, values of the joiner's type. */
function joinedStream(base: StreamState, node: string, keySerde: Serde<unknown> | undefined): StreamState {
  return { ...base, node, shape: 'stream', keyChanged: false, keySerde, valueSerde: undefined, store: undefined, getter: undefined, groupName: undefined };
}

/**
 * Repartitions a side whose keys may have changed through `<base>-repartition` (reused when the
 * stream was repartitioned under that name already). An inner join drops null keys before the
 * topic; left and outer joins keep them, as their null-key records still produce results (KIP-962).
 */
export function repartitionForJoin(state: StreamState, base: string, keySerde: Serde<unknown> | undefined, valueSerde: Serde<unknown> | undefined, dropNullKeys: boolean): StreamState {
  const graph = state.graph;
  const topic = `${base}-repartition`;
  const sourceName = `${topic}-source`;
  if (!graph.nodes.has(sourceName)) {
    graph.internalTopics.add(topic);
    let parent = state.node;
    if (dropNullKeys) parent = graph.add(`${topic}-filter`, { kind: 'records', fn: (r) => (r.key === null || r.key === undefined ? [] : [r]), keyPreserving: true }, [parent]);
    graph.add(`${topic}-sink`, { kind: 'sink', topic, keySerde, valueSerde, partitioner: undefined, internal: true }, [parent]);
    graph.add(sourceName, { kind: 'source', topics: [topic], keySerde, valueSerde, internal: true }, []);
  }
  return { ...state, node: sourceName, keyChanged: false, keySerde, valueSerde };
}

function checkSides(op: string, state: StreamState, other: StreamState, what: 'KStream' | 'KTable'): void {
  if (state.shape !== 'stream') throw new TopologyError(`${op}() follows a KStream`);
  if (other.graph !== state.graph) throw new TopologyError(`${op}() takes a ${what} of the same StreamsBuilder`);
}

function streamStreamJoin(op: string, state: StreamState, otherState: StreamState, joiner: Joiner, windows: JoinWindows, kind: StreamJoinKind, options: StreamJoinOptions<unknown, unknown, unknown>): StreamState {
  checkSides(op, state, otherState, 'KStream');
  if (otherState.shape !== 'stream') throw new TopologyError(`${op}() takes a KStream`);
  const graph = state.graph;
  const name = options.name;
  const keySerde = (options.key as Serde<unknown> | undefined) ?? state.keySerde ?? otherState.keySerde;
  const leftValueSerde = (options.value as Serde<unknown> | undefined) ?? state.valueSerde;
  const rightValueSerde = (options.otherValue as Serde<unknown> | undefined) ?? otherState.valueSerde;
  let left = state;
  let right = otherState;
  if (left.keyChanged) left = repartitionForJoin(left, name === undefined ? left.node : `${name}-left`, keySerde, leftValueSerde, kind === 'inner');
  if (right.keyChanged) right = repartitionForJoin(right, name === undefined ? right.node : `${name}-right`, keySerde, rightValueSerde, kind === 'inner');
  const leftOuter = kind !== 'inner';
  const rightOuter = kind === 'outer';
  // Generated names in Kafka's order (its windowed nodes are folded into the join nodes here),
  // so the indexes match those of the same DSL calls in Kafka Streams.
  if (name === undefined) {
    graph.nextName('KSTREAM-WINDOWED');
    graph.nextName('KSTREAM-WINDOWED');
  }
  const thisGenerated = graph.nextName(rightOuter ? 'KSTREAM-OUTERTHIS' : 'KSTREAM-JOINTHIS');
  const otherGenerated = graph.nextName(leftOuter ? 'KSTREAM-OUTEROTHER' : 'KSTREAM-JOINOTHER');
  const thisName = name === undefined ? thisGenerated : `${name}${rightOuter ? '-outer-this-join' : '-this-join'}`;
  const otherName = name === undefined ? otherGenerated : `${name}${leftOuter ? '-outer-other-join' : '-other-join'}`;
  const mergeName = name ?? graph.nextName('KSTREAM-MERGE');
  const thisStore = options.thisStore ?? `${thisGenerated}-store`;
  const otherStore = options.otherStore ?? `${otherGenerated}-store`;
  if (thisStore === otherStore) throw new TopologyError(`${op}() needs two distinct store names, got "${thisStore}" for both sides`);
  const retentionMs = windowRetentionMs(windows);
  const logged = options.logged ?? true;
  for (const [store, valueSerde] of [[thisStore, leftValueSerde], [otherStore, rightValueSerde]] as const) {
    graph.addStore({ name: store, keySerde, valueSerde, logged, type: 'window', retentionMs, retainDuplicates: true });
  }
  let outerStore: string | undefined;
  if (leftOuter) {
    const suffix = rightOuter ? '-outer-shared-join' : '-left-shared-join';
    outerStore = options.thisStore !== undefined ? `${options.thisStore}${suffix}-store` : `KSTREAM-OUTERSHARED-${thisGenerated.slice(thisGenerated.lastIndexOf('-') + 1)}-store`;
    // Its own serdes: keys and values are encoded by the join (timestamp, side, key → values).
    graph.addStore({ name: outerStore, keySerde: bytes() as Serde<unknown>, valueSerde: bytes() as Serde<unknown>, logged });
  }
  const side = (which: 'left' | 'right'): JoinSide => ({
    side: which,
    thisStore: which === 'left' ? thisStore : otherStore,
    otherStore: which === 'left' ? otherStore : thisStore,
    timeStore: thisStore,
    outerStore,
    outer: which === 'left' ? leftOuter : rightOuter,
    windows,
    retentionMs,
    joiner,
    keySerde,
    leftValueSerde,
    rightValueSerde,
  });
  const stores = [thisStore, otherStore, ...(outerStore === undefined ? [] : [outerStore])];
  // Not key-preserving for the runtime check: a closed window emits other records' keys (same partitioning).
  const thisNode = graph.add(thisName, { kind: 'process', supplier: () => streamJoinProcessor(side('left')), stores, keyPreserving: false }, [left.node]);
  const otherNode = graph.add(otherName, { kind: 'process', supplier: () => streamJoinProcessor(side('right')), stores, keyPreserving: false }, [right.node]);
  const merge = graph.add(mergeName, { kind: 'records', fn: (r) => [r], keyPreserving: true }, [thisNode, otherNode]);
  return joinedStream(left, merge, keySerde);
}

function streamTableJoin(op: string, state: StreamState, table: StreamState, joiner: Joiner, kind: 'inner' | 'left', options: StreamTableJoinOptions<unknown, unknown>): StreamState {
  checkSides(op, state, table, 'KTable');
  const getter = requireGetter(table, op);
  let stream = state;
  if (stream.keyChanged) stream = repartitionForJoin(stream, options.name ?? stream.node, (options.key as Serde<unknown> | undefined) ?? stream.keySerde ?? table.keySerde, (options.value as Serde<unknown> | undefined) ?? stream.valueSerde, kind === 'inner');
  const graph = state.graph;
  const name = options.name ?? graph.nextName(kind === 'inner' ? 'KSTREAM-JOIN' : 'KSTREAM-LEFTJOIN');
  const node = graph.add(name, { kind: 'process', supplier: () => streamTableProcessor(getter, joiner, kind), stores: getter.stores, keyPreserving: true }, [stream.node]);
  return joinedStream(stream, node, stream.keySerde);
}

/**
 * Kafka's KStreamKTableJoinProcessor (≥ 3.7): a null value is dropped; a null key is dropped by
 * an inner join and emitted with a null table value by a left join; otherwise the table's current
 * row joins, an inner join emitting nothing when there is none.
 */
function streamTableProcessor(getter: TableValueGetter, joiner: Joiner, kind: 'inner' | 'left'): Processor<unknown, unknown, unknown, unknown> {
  let ctx: InternalProcessorContext;
  let lookup: StoreLookup;
  return {
    init(context) {
      ctx = context as InternalProcessorContext;
      lookup = lookupOf((name) => ctx.getStateStore(name));
    },
    process(record: AnyRecord) {
      const noKey = record.key === null || record.key === undefined;
      if (record.value === null || record.value === undefined || (noKey && kind === 'inner')) {
        ctx.droppedRecord('null key or value in a stream-table join', record);
        return;
      }
      const tableValue = noKey ? null : getter.read(record.key, lookup);
      if (tableValue === null && kind === 'inner') return;
      ctx.forward({ ...record, value: joiner(record.value, tableValue, record.key) });
    },
  };
}
