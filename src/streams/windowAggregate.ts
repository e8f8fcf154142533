/**
 * The processors of windowed aggregations over time windows (tumbling, hopping) and sliding
 * windows (Kafka's KStreamWindowAggregate and KStreamSlidingWindowAggregate). A window is open
 * while its end is after `observedStreamTime − grace` and closed from then on: a record whose
 * windows all closed is dropped as late (counted and logged). The observed stream time lives in
 * the window store, so a restarted task keeps closed windows closed.
 *
 * Emission: on every update (Kafka's default: each update a Change of the window's aggregate), or
 * with `onWindowClose` one final result per window when it closes (KIP-825).
 */
import type { AnyRecord, Change } from './record.ts';
import type { WindowStore } from './stores/windowStore.ts';
import type { InternalProcessorContext, Processor } from './topology.ts';
import type { SlidingWindows, TimeWindows, Window, Windowed } from './windows.ts';
import { timeWindowsFor } from './windows.ts';

/** What a windowed aggregation does to each record. */
export interface WindowAggregation {
  readonly store: string;
  readonly initializer: () => unknown;
  readonly aggregator: (key: unknown, value: unknown, aggregate: unknown) => unknown;
  /** Emit one final result per window when it closes, instead of every update. */
  readonly emitOnClose: boolean;
}

const EMITTED = 'emitted';

/** Skips records Kafka's windowed aggregations skip: null keys and null values. */
function usable(ctx: InternalProcessorContext, record: AnyRecord): boolean {
  if (record.key === null || record.key === undefined) ctx.droppedRecord('null key in a windowed aggregation', record);
  else if (record.value === null || record.value === undefined) ctx.droppedRecord('null value in a windowed aggregation', record);
  else return true;
  return false;
}

function change(newValue: unknown, oldValue: unknown): Change<unknown> {
  return { newValue, oldValue: oldValue === undefined ? null : oldValue };
}

/**
 * Emits the windows that closed since the last emission (`onWindowClose`), oldest end first, each
 * once: the close time emitted so far is kept in the store with the windows.
 */
function emitClosed(ctx: InternalProcessorContext, store: WindowStore<unknown, unknown>, firstEnd: (after: number) => number, closeTime: number): void {
  const last = store.mark(EMITTED);
  // Nothing can have closed until the next window end is reached: skip the scan.
  if (closeTime < firstEnd(last)) return;
  const closed = store.all().filter((kv) => kv.key.window.end <= closeTime && kv.key.window.end > last);
  closed.sort((a, b) => a.key.window.start - b.key.window.start);
  for (const kv of closed) {
    const stamped = store.fetchTimestamped(kv.key.key, kv.key.window.start);
    ctx.forward({ key: kv.key, value: change(kv.value, null), timestamp: stamped?.timestamp ?? kv.key.window.end - 1, headers: [] });
  }
  store.setMark(EMITTED, closeTime);
}

/**
 * With `idleStreamTimeAdvance`, final results follow the task's stream time as the wall clock
 * moves it on a quiet partition: `emit(time)` runs before the store observes the new time (which
 * may expire the windows it emits).
 */
export function followIdleTime(ctx: InternalProcessorContext, store: { observedStreamTime(): number; observe(time: number): void }, emit: (time: number) => unknown, ...more: Array<{ observe(time: number): void }>): void {
  if (!ctx.idleStreamTimeAdvance) return;
  ctx.schedule(1, 'STREAM_TIME', (time) => {
    if (time <= store.observedStreamTime()) return;
    emit(time);
    store.observe(time);
    for (const m of more) m.observe(time);
  });
}

/** Tumbling and hopping windows: each record updates every open window holding its timestamp. */
export function timeWindowAggregator(windows: TimeWindows, spec: WindowAggregation): () => Processor<unknown, unknown, unknown, unknown> {
  return () => {
    let ctx: InternalProcessorContext;
    let store: WindowStore<unknown, unknown>;
    // The smallest window end after `t`: ends are n·advance + size.
    const firstEnd = (t: number): number => {
      const n = Math.max(0, Math.floor((t - windows.sizeMs) / windows.advanceMs) + 1);
      return n * windows.advanceMs + windows.sizeMs;
    };
    return {
      init(context) {
        ctx = context as InternalProcessorContext;
        store = ctx.getStateStore<WindowStore<unknown, unknown>>(spec.store);
        // Followed either way: a window the task's stream time closed stays closed to later records.
        followIdleTime(ctx, store, (time) => spec.emitOnClose && emitClosed(ctx, store, firstEnd, time - windows.graceMs));
      },
      process(record) {
        if (!usable(ctx, record)) return;
        const observed = Math.max(store.observedStreamTime(), record.timestamp);
        const closeTime = observed - windows.graceMs;
        // Final results go out before the new stream time expires their windows from the store.
        if (spec.emitOnClose) emitClosed(ctx, store, firstEnd, closeTime);
        store.observe(observed);
        for (const window of timeWindowsFor(windows, record.timestamp)) {
          if (window.end <= closeTime) {
            ctx.droppedRecord(`late for window [${window.start}, ${window.end}) closed at stream time ${window.end + windows.graceMs}`, record);
            continue;
          }
          const old = store.fetchTimestamped(record.key, window.start);
          const next = spec.aggregator(record.key, record.value, old === undefined ? spec.initializer() : old.value);
          const timestamp = Math.max(old?.timestamp ?? record.timestamp, record.timestamp);
          store.put(record.key, next, window.start, timestamp);
          if (!spec.emitOnClose) ctx.forward({ key: { key: record.key, window } satisfies Windowed<unknown>, value: change(next, old?.value), timestamp, headers: record.headers });
        }
      },
    };
  };
}

/** The store of a sliding aggregation's raw records, beside its window store. */
export function slidingRecordsStore(store: string): string {
  return `${store}-records`;
}

/**
 * Sliding windows (both ends inclusive): the windows are the one ending at each record
 * (`[ts − d, ts]`, starting at 0 for early records) and the one starting just after each record
 * (`[ts + 1, ts + 1 + d]`) when it holds a record. A record changes every window holding it and
 * may create its two own; each changed window's aggregate is folded anew from the key's records
 * kept for `2d + grace` (in timestamp order, then arrival), so out-of-order records land exactly.
 */
export function slidingWindowAggregator(windows: SlidingWindows, spec: WindowAggregation): () => Processor<unknown, unknown, unknown, unknown> {
  const d = windows.timeDifferenceMs;
  return () => {
    let ctx: InternalProcessorContext;
    let store: WindowStore<unknown, unknown>;
    let records: WindowStore<unknown, unknown>;
    return {
      init(context) {
        ctx = context as InternalProcessorContext;
        store = ctx.getStateStore<WindowStore<unknown, unknown>>(spec.store);
        records = ctx.getStateStore<WindowStore<unknown, unknown>>(slidingRecordsStore(spec.store));
        followIdleTime(ctx, store, (time) => spec.emitOnClose && emitClosed(ctx, store, (t) => t + 1, time - windows.graceMs), records);
      },
      process(record) {
        if (!usable(ctx, record)) return;
        const ts = record.timestamp;
        const observed = Math.max(store.observedStreamTime(), ts);
        const closeTime = observed - windows.graceMs;
        if (spec.emitOnClose) emitClosed(ctx, store, (t) => t + 1, closeTime);
        store.observe(observed);
        records.observe(observed);
        // The windows holding ts end in [ts, ts + d]: all closed means the record is late.
        if (ts + d <= closeTime) {
          ctx.droppedRecord(`late: every sliding window holding ${ts} closed at stream time ${ts + d + windows.graceMs}`, record);
          return;
        }
        records.put(record.key, record.value, ts, ts);
        const near = records.fetchRangeTimestamped(record.key, Math.max(0, ts - 2 * d - 1), ts + 2 * d + 1);
        const starts = new Set<number>([Math.max(0, ts - d)]);
        for (const r of near) {
          const p = r.window.start;
          if (p >= ts && p <= ts + d) starts.add(Math.max(0, p - d));
          if (p + 1 <= ts && ts <= p + 1 + d) starts.add(p + 1);
          if (p > ts && p <= ts + 1 + d) starts.add(ts + 1);
        }
        for (const start of [...starts].sort((a, b) => a - b)) {
          const window: Window = { start, end: start + d };
          if (window.end <= closeTime) continue;
          const inside = near.filter((r) => r.window.start >= window.start && r.window.start <= window.end);
          if (inside.length === 0) continue;
          let aggregate = spec.initializer();
          let timestamp = 0;
          for (const r of inside) {
            aggregate = spec.aggregator(record.key, r.value, aggregate);
            timestamp = Math.max(timestamp, r.timestamp);
          }
          const old = store.fetchTimestamped(record.key, start);
          store.put(record.key, aggregate, start, timestamp);
          if (!spec.emitOnClose) ctx.forward({ key: { key: record.key, window } satisfies Windowed<unknown>, value: change(aggregate, old?.value), timestamp, headers: record.headers });
        }
      },
    };
  };
}
