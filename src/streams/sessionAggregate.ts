/**
 * The processor of session-windowed aggregations (Kafka's KStreamSessionWindowAggregate). A
 * record at `ts` joins every session of its key that ends at or after `ts − gap` and starts at or
 * before `ts + gap`: those sessions merge (the `merger` combines their aggregates) into one
 * spanning them all and the record, so out-of-order data can bridge two sessions. Each merged-away
 * session is retracted downstream (a Change with a null new value), then the merged session is
 * emitted. A session closes when stream time reaches its end + grace; a record that would only
 * extend closed sessions is dropped as late.
 */
import type { AnyRecord } from './record.ts';
import type { SessionStore } from './stores/windowStore.ts';
import type { InternalProcessorContext, Processor } from './topology.ts';
import type { SessionWindows, Window, Windowed } from './windows.ts';
import { followIdleTime } from './windowAggregate.ts';

/** What a session aggregation does to each record. */
export interface SessionAggregation {
  readonly store: string;
  readonly initializer: () => unknown;
  readonly aggregator: (key: unknown, value: unknown, aggregate: unknown) => unknown;
  /** Combines the aggregates of two sessions a record bridges. */
  readonly merger: (key: unknown, left: unknown, right: unknown) => unknown;
  readonly emitOnClose: boolean;
}

const EMITTED = 'emitted';

/** The session aggregation processor. */
export function sessionWindowAggregator(windows: SessionWindows, spec: SessionAggregation): () => Processor<unknown, unknown, unknown, unknown> {
  const gap = windows.inactivityGapMs;
  return () => {
    let ctx: InternalProcessorContext;
    let store: SessionStore<unknown, unknown>;
    const forward = (key: unknown, window: Window, newValue: unknown, oldValue: unknown, timestamp: number, record: AnyRecord): void => {
      ctx.forward({ key: { key, window } satisfies Windowed<unknown>, value: { newValue, oldValue }, timestamp, headers: record.headers });
    };
    return {
      init(context) {
        ctx = context as InternalProcessorContext;
        store = ctx.getStateStore<SessionStore<unknown, unknown>>(spec.store);
        followIdleTime(ctx, store, (time) => spec.emitOnClose && emitClosed(time - windows.graceMs));
      },
      process(record) {
        if (record.key === null || record.key === undefined) return ctx.droppedRecord('null key in a session aggregation', record);
        if (record.value === null || record.value === undefined) return ctx.droppedRecord('null value in a session aggregation', record);
        const ts = record.timestamp;
        const observed = Math.max(store.observedStreamTime(), ts);
        const closeTime = observed - windows.graceMs;
        // Final results go out before the new stream time expires their sessions from the store.
        if (spec.emitOnClose) emitClosed(closeTime);
        store.observe(observed);
        const overlapping = store.findSessionsTimestamped(record.key, Math.max(0, ts - gap), ts + gap);
        let start = ts;
        let end = ts;
        let aggregate = spec.initializer();
        for (const s of overlapping) {
          start = Math.min(start, s.key.window.start);
          end = Math.max(end, s.key.window.end);
          aggregate = spec.merger(record.key, aggregate, s.value);
        }
        if (end <= closeTime) {
          ctx.droppedRecord(`late: its session [${start}, ${end}] closed at stream time ${end + windows.graceMs}`, record);
          return;
        }
        aggregate = spec.aggregator(record.key, record.value, aggregate);
        let previous: unknown = null;
        for (const s of overlapping) {
          if (s.key.window.start === start && s.key.window.end === end) {
            previous = s.value;
            continue;
          }
          store.remove(s.key);
          if (!spec.emitOnClose) forward(record.key, s.key.window, null, s.value, s.timestamp, record);
        }
        store.put({ key: record.key, window: { start, end } }, aggregate, end);
        if (!spec.emitOnClose) forward(record.key, { start, end }, aggregate, previous, end, record);
      },
    };

    /** onWindowClose: every session that closed since the last emission, once, oldest end first. */
    function emitClosed(closeTime: number): void {
      const last = store.mark(EMITTED);
      if (closeTime <= last) return;
      const closed = store.all().filter((kv) => kv.key.window.end <= closeTime && kv.key.window.end > last);
      closed.sort((a, b) => a.key.window.end - b.key.window.end);
      for (const kv of closed) ctx.forward({ key: kv.key, value: { newValue: kv.value, oldValue: null }, timestamp: kv.key.window.end, headers: [] });
      store.setMark(EMITTED, closeTime);
    }
  };
}
