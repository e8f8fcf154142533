/**
 * Windowed aggregations in the DSL: `windowedBy(windows)` after a grouping, optionally
 * `emitStrategy(onWindowClose())`, then `count`, `reduce` or `aggregate` as for a plain grouping.
 * The result is a KTable keyed by `Windowed<K>`, kept in a window store (time and sliding
 * windows) or a session store, each with a `compact,delete` changelog (internalTopics.ts).
 *
 * @example
 * views.pipe(groupByKey(), windowedBy(tumbling({ sizeMs: 60_000, graceMs: 10_000 })), count())
 */
import type { OperatorFunction } from 'rxjs';
import { TopologyError } from '../errors.ts';
import { dslStep } from './graph.ts';
import type { StreamState } from './graph.ts';
import type { GroupedRecord } from './record.ts';
import type { Serde } from './serdes.ts';
import { sessionWindowAggregator } from './sessionAggregate.ts';
import { slidingRecordsStore, slidingWindowAggregator, timeWindowAggregator } from './windowAggregate.ts';
import { sessionWindowedSerde, timeWindowedSerde } from './windowedSerdes.ts';
import type { WindowDefinition, Windowed } from './windows.ts';
import { windowRetentionMs } from './windows.ts';

/** When a windowed aggregation emits (Kafka's EmitStrategy, KIP-825). */
export interface EmitStrategy {
  readonly type: 'onWindowUpdate' | 'onWindowClose';
}

/** Every update of a window is emitted (Kafka's default). */
export function onWindowUpdate(): EmitStrategy {
  return { type: 'onWindowUpdate' };
}

/** One final result per window, emitted when the window closes (stream time ≥ end + grace). */
export function onWindowClose(): EmitStrategy {
  return { type: 'onWindowClose' };
}

/** Aggregates per window from here on: the grouped keys become `Windowed<K>` in the result. */
export function windowedBy<K, V>(windows: WindowDefinition): OperatorFunction<GroupedRecord<K, V>, GroupedRecord<Windowed<K>, V>> {
  const type = (windows as { type?: unknown } | undefined)?.type;
  if (type !== 'time' && type !== 'sliding' && type !== 'session') throw new TopologyError('windowedBy() takes tumbling(), hopping(), sliding() or session() windows');
  return dslStep('windowedBy', (state) => {
    if (state.shape !== 'grouped') throw new TopologyError('windowedBy() follows a grouping (groupByKey or groupBy)');
    if (state.windows !== undefined) throw new TopologyError('windowedBy() is given twice; a grouping has one kind of windows');
    return { ...state, windows };
  });
}

/** Sets when the windowed aggregation that follows emits (`onWindowClose()` or `onWindowUpdate()`). */
export function emitStrategy<K, V>(strategy: EmitStrategy): OperatorFunction<GroupedRecord<K, V>, GroupedRecord<K, V>> {
  if (strategy?.type !== 'onWindowUpdate' && strategy?.type !== 'onWindowClose') throw new TopologyError('emitStrategy() takes onWindowClose() or onWindowUpdate()');
  return dslStep('emitStrategy', (state) => {
    if (state.windows === undefined) throw new TopologyError('emitStrategy() follows windowedBy(): only windowed aggregations emit on window close');
    return { ...state, emitOnClose: strategy.type === 'onWindowClose' };
  });
}

/** Options of a windowed aggregation beyond Kafka's Materialized: how long closed windows stay queryable. */
export interface WindowedMaterialized {
  /** Keep windows this long after they start (≥ size + grace, the default), for interactive queries. */
  readonly retentionMs?: number;
}

/**
 * Adds the windowed aggregation node under `state.node` (already repartitioned when keys changed)
 * and its stores; returns the windowed table.
 */
export function windowedAggregation(
  state: StreamState,
  nodeName: string,
  store: string,
  options: { readonly logged?: boolean; readonly retentionMs?: number },
  valueSerde: Serde<unknown> | undefined,
  initializer: () => unknown,
  aggregator: (key: unknown, value: unknown, aggregate: unknown) => unknown,
  merger: ((key: unknown, left: unknown, right: unknown) => unknown) | undefined,
): StreamState {
  const windows = state.windows as WindowDefinition;
  const graph = state.graph;
  const logged = options.logged ?? true;
  const retentionMs = windowRetentionMs(windows, options.retentionMs);
  const emitOnClose = state.emitOnClose === true;
  const spec = { store, initializer, aggregator, emitOnClose };
  let supplier;
  let stores = [store];
  let keySerde: Serde<unknown> | undefined;
  const inner = state.keySerde;
  if (windows.type === 'session') {
    if (merger === undefined) throw new TopologyError('a session-windowed aggregate() needs a merger: aggregate(init, aggregator, { merger: (key, a, b) => … }) combines two sessions a record bridges');
    graph.addStore({ name: store, keySerde: inner, valueSerde, logged, type: 'session', retentionMs, timestamped: true });
    supplier = sessionWindowAggregator(windows, { ...spec, merger });
    keySerde = inner === undefined ? undefined : (sessionWindowedSerde(inner) as Serde<unknown>);
  } else if (windows.type === 'sliding') {
    const d = windows.timeDifferenceMs;
    graph.addStore({ name: store, keySerde: inner, valueSerde, logged, type: 'window', retentionMs, windowSizeMs: d, timestamped: true });
    // The records of the last 2d + grace, to fold a changed window anew.
    const records = slidingRecordsStore(store);
    graph.addStore({ name: records, keySerde: inner, valueSerde: state.valueSerde, logged, type: 'window', retentionMs: 2 * d + windows.graceMs + 1, windowSizeMs: 0, retainDuplicates: true, timestamped: true });
    stores = [store, records];
    supplier = slidingWindowAggregator(windows, spec);
    keySerde = inner === undefined ? undefined : (timeWindowedSerde(inner, d) as Serde<unknown>);
  } else {
    graph.addStore({ name: store, keySerde: inner, valueSerde, logged, type: 'window', retentionMs, windowSizeMs: windows.sizeMs, timestamped: true });
    supplier = timeWindowAggregator(windows, spec);
    keySerde = inner === undefined ? undefined : (timeWindowedSerde(inner, windows.sizeMs) as Serde<unknown>);
  }
  // Updates go through the record cache as any materialized table's; final results do not.
  const node = graph.add(nodeName, { kind: 'process', supplier, stores, keyPreserving: false, cached: !emitOnClose }, [state.node]);
  const { emitOnClose: _emit, groupName: _group, ...rest } = state;
  return { ...rest, node, shape: 'table', keyChanged: false, keySerde, valueSerde, store, windows };
}
