/**
 * KStream–KStream joins (Kafka's KStreamKStreamJoin, ≥ 3.1 semantics): two records of the same key
 * join when the other's timestamp is within [ts − before, ts + after] of the one arriving (before
 * and after swap for the other side). Each side keeps its records in a window store that retains
 * duplicates, for `before + after + grace`; an arriving record is put in its own store, then looks
 * up the other's, and emits one result per match at once, stamped with the larger timestamp.
 *
 * Left and outer joins hold a record that found no match in a shared "outer" store until its
 * window closes, i.e. until the join's stream time (the largest timestamp either side has seen)
 * passes `ts + after + grace` (`ts + before + grace` for a right-side record), and only then emit
 * it with a null partner; a later match removes it from there. A record already out of its window
 * when it arrives (`ts + after` < stream time) is emitted with its null partner at once. The
 * stream time is kept with the stores, so a restarted task does not reopen closed windows.
 */
import type { KeyValueStore } from '../stores/keyValueStore.ts';
import type { WindowStore } from '../stores/windowStore.ts';
import type { Serde } from '../serdes.ts';
import { deserializeWith, serializeWith } from '../serdes.ts';
import type { AnyRecord } from '../record.ts';
import type { InternalProcessorContext, Processor } from '../topology.ts';
import type { JoinWindows } from '../windows.ts';
import { concat, decodeList, encodeList, getLong, putLong } from './joinBytes.ts';

/** A stream-stream join's kind: which sides emit their unmatched records. */
export type StreamJoinKind = 'inner' | 'left' | 'outer';

/** The user's joiner, always called as (left value, right value, key). */
export type Joiner = (left: unknown, right: unknown, key: unknown) => unknown;

/** Where one side of the join reads and writes, and how it looks at time. */
export interface JoinSide {
  readonly side: 'left' | 'right';
  /** This side's window store (written) and the other's (read). */
  readonly thisStore: string;
  readonly otherStore: string;
  /** The store holding the shared stream time: the left side's window store, connected to both. */
  readonly timeStore: string;
  /** The outer store of left and outer joins. */
  readonly outerStore: string | undefined;
  /** Whether this side emits its unmatched records (left side of a left join; both of an outer join). */
  readonly outer: boolean;
  readonly windows: JoinWindows;
  readonly retentionMs: number;
  readonly joiner: Joiner;
  /** Serdes given at build time; undefined ones are the application's defaults, resolved at init. */
  readonly keySerde: Serde<unknown> | undefined;
  readonly leftValueSerde: Serde<unknown> | undefined;
  readonly rightValueSerde: Serde<unknown> | undefined;
}

const STREAM_TIME_MARK = 'join-stream-time';
const LEFT = 1;
const RIGHT = 0;

/** The processor of one side. */
export function streamJoinProcessor(spec: JoinSide): Processor<unknown, unknown, unknown, unknown> {
  let ctx: InternalProcessorContext;
  let own: WindowStore<unknown, unknown>;
  let other: WindowStore<unknown, unknown>;
  let timeStore: WindowStore<unknown, unknown>;
  let outer: KeyValueStore<Uint8Array, Uint8Array> | undefined;
  let keySerde: Serde<unknown>;
  let leftSerde: Serde<unknown>;
  let rightSerde: Serde<unknown>;
  // Before/after as seen from this side: a right-side record looks back `after` and ahead `before`.
  const beforeMs = spec.side === 'left' ? spec.windows.beforeMs : spec.windows.afterMs;
  const afterMs = spec.side === 'left' ? spec.windows.afterMs : spec.windows.beforeMs;
  const thisSide = spec.side === 'left' ? LEFT : RIGHT;
  const otherSide = spec.side === 'left' ? RIGHT : LEFT;
  const joined = (value: unknown, otherValue: unknown, key: unknown): unknown => (spec.side === 'left' ? spec.joiner(value, otherValue, key) : spec.joiner(otherValue, value, key));
  const where = (): string => spec.outerStore ?? spec.thisStore;

  const outerKey = (timestamp: number, side: number, keyBytes: Uint8Array): Uint8Array => {
    // <timestamp><side><key>, as Kafka's TimestampedKeyAndJoinSide: scans come out oldest first.
    const head = new Uint8Array(9);
    putLong(head, 0, timestamp);
    head[8] = side;
    return concat(head, keyBytes);
  };

  /** Advances the join's stream time to `timestamp`; returns it. */
  const advance = (timestamp: number): number => {
    const time = timeStore.mark(STREAM_TIME_MARK);
    if (timestamp <= time) return time;
    timeStore.setMark(STREAM_TIME_MARK, timestamp);
    return timestamp;
  };

  /** Emits, with a null partner, the held records whose window closed, oldest first, and removes them. */
  const emitClosed = (trigger: AnyRecord, streamTime: number, store: KeyValueStore<Uint8Array, Uint8Array>): void => {
    const grace = spec.windows.graceMs;
    // Only records older than this can have closed; the store sorts by timestamp, so scan up to it.
    const newest = streamTime - grace - Math.min(spec.windows.beforeMs, spec.windows.afterMs) - 1;
    if (newest < 0) return;
    const bound = new Uint8Array(8);
    putLong(bound, 0, newest + 1);
    for (const entry of store.range(undefined, bound)) {
      const timestamp = getLong(entry.key, 0);
      const side = entry.key[8];
      // A left record waits for right ones up to `after` later; a right one for left ones up to `before` later.
      const lookAhead = side === LEFT ? spec.windows.afterMs : spec.windows.beforeMs;
      if (timestamp + lookAhead + grace >= streamTime) continue;
      const key = deserializeWith(keySerde, 'key', entry.key.subarray(9), where());
      for (const bytes of decodeList(entry.value, where())) {
        const value = deserializeWith(side === LEFT ? leftSerde : rightSerde, 'value', bytes, where());
        ctx.forward({ key, value: side === LEFT ? spec.joiner(value, null, key) : spec.joiner(null, value, key), timestamp, headers: trigger.headers });
      }
      store.put(entry.key, null);
    }
  };

  return {
    init(context) {
      ctx = context as InternalProcessorContext;
      own = ctx.getStateStore<WindowStore<unknown, unknown>>(spec.thisStore);
      other = ctx.getStateStore<WindowStore<unknown, unknown>>(spec.otherStore);
      timeStore = ctx.getStateStore<WindowStore<unknown, unknown>>(spec.timeStore);
      if (spec.outerStore !== undefined) outer = ctx.getStateStore<KeyValueStore<Uint8Array, Uint8Array>>(spec.outerStore);
      const defaults = ctx.defaultSerdes();
      keySerde = spec.keySerde ?? defaults.key;
      leftSerde = spec.leftValueSerde ?? defaults.value;
      rightSerde = spec.rightValueSerde ?? defaults.value;
      // With idleStreamTimeAdvance (samsa's opt-in) held records also go out as the wall clock moves stream time.
      const held = outer;
      if (held !== undefined && ctx.idleStreamTimeAdvance) ctx.schedule(1, 'STREAM_TIME', (time) => emitClosed({ key: null, value: null, timestamp: time, headers: [] }, advance(time), held));
    },
    process(record: AnyRecord) {
      const timestamp = record.timestamp;
      // Every record moves the shared stream time, even one the join then drops (as Kafka's).
      const streamTime = advance(timestamp);
      const noKey = record.key === null || record.key === undefined;
      const noValue = record.value === null || record.value === undefined;
      if (spec.outer && noKey && !noValue) {
        // Kafka ≥ 3.7 (KIP-962): an outer side's record without a key cannot match; it is emitted at once.
        ctx.forward({ ...record, value: joined(record.value, null, record.key) });
        return;
      }
      if (noKey || noValue) {
        ctx.droppedRecord('null key or value in a stream-stream join', record);
        return;
      }
      // Kafka's KStreamJoinWindow runs first: the record goes into its own window store, unless
      // already out of the store's retention (which would never return it).
      own.observe(timestamp);
      if (timestamp > own.observedStreamTime() - spec.retentionMs) own.put(record.key, record.value, timestamp);
      if (outer !== undefined && timestamp === streamTime) emitClosed(record, streamTime, outer);
      const from = Math.max(0, timestamp - beforeMs);
      const to = Math.max(0, timestamp + afterMs);
      // Kafka's window stores return nothing older than their observed time minus retention, plus one.
      const horizon = other.observedStreamTime() - spec.retentionMs;
      const matches = other.fetchRange(record.key, from, to).filter((m) => m.window.start > horizon);
      const keyBytes = outer === undefined ? undefined : (serializeWith(keySerde, 'key', record.key, where()) as Uint8Array);
      for (const match of matches) {
        // A held record of the other side just found its partner: it will not be emitted alone.
        if (outer !== undefined && keyBytes !== undefined) {
          const held = outerKey(match.window.start, otherSide, keyBytes);
          if (outer.get(held) !== undefined) outer.put(held, null);
        }
        ctx.forward({ ...record, value: joined(record.value, match.value, record.key), timestamp: Math.max(timestamp, match.window.start) });
      }
      if (!spec.outer || matches.length > 0) return;
      if (outer === undefined || to < streamTime) {
        ctx.forward({ ...record, value: joined(record.value, null, record.key) });
        return;
      }
      const held = outerKey(timestamp, thisSide, keyBytes as Uint8Array);
      const valueBytes = serializeWith(spec.side === 'left' ? leftSerde : rightSerde, 'value', record.value, where()) as Uint8Array;
      const existing = outer.get(held);
      outer.put(held, encodeList([...(existing === undefined ? [] : decodeList(existing, where())), valueBytes]));
    },
  };
}
