/**
 * `KTable.suppress` (Kafka's KTableSuppressProcessor, KIP-328): holds a table's updates in a
 * buffer and emits the latest one per key later — `untilWindowCloses`: once per window, when stream
 * time reaches its end + grace (the final result); `untilTimeLimit(ms)`: once a key's first
 * buffered update is `ms` old in stream time. The buffer is a store with a changelog, so buffered
 * updates and the stream time the buffer observed survive a crash and are emitted exactly once
 * under exactly-once.
 *
 * Buffer layout (one byte store): `0x01 ‖ buffer time ‖ key` → record (time order, so eviction is a
 * range scan), `0x02 ‖ key` → its buffer time (to replace a key's entry), `0x00 …` bookkeeping.
 */
import { SamsaError, TopologyError } from '../errors.ts';
import type { StreamState } from './graph.ts';
import { changeSerde } from './internalSerdes.ts';
import type { AnyRecord, Change } from './record.ts';
import type { Serde } from './serdes.ts';
import { bytes as bytesSerde, json } from './serdes.ts';
import type { KeyValueStore } from './stores/keyValueStore.ts';
import { getLong, putLong } from './stores/longBytes.ts';
import type { InternalProcessorContext, Processor } from './topology.ts';
import { timeWindowedSerde, sessionWindowedSerde } from './windowedSerdes.ts';
import type { Windowed } from './windows.ts';

/** How much a suppression buffer holds, and what happens when it is full (Kafka's BufferConfig). */
export interface BufferConfig {
  readonly maxRecords: number;
  readonly maxBytes: number;
  /** 'shutDown' fails the app (Kafka's shutDownWhenFull); 'emitEarly' emits the oldest entries early. */
  readonly whenFull: 'shutDown' | 'emitEarly';
}

/** A buffer with no limit (Kafka's `BufferConfig.unbounded()`): memory grows with the open windows. */
export function unbounded(): BufferConfig {
  return { maxRecords: Infinity, maxBytes: Infinity, whenFull: 'shutDown' };
}

/** A bounded buffer: at most `maxRecords` keys and `maxBytes` bytes, then `whenFull` (default 'shutDown'). */
export function bufferConfig(options: { readonly maxRecords?: number; readonly maxBytes?: number; readonly whenFull?: 'shutDown' | 'emitEarly' }): BufferConfig {
  const limit = (name: string, v: number | undefined): number => {
    if (v === undefined) return Infinity;
    if (!Number.isSafeInteger(v) || v < 1) throw new TopologyError(`bufferConfig() needs ${name} as a whole number ≥ 1, got ${String(v)}`);
    return v;
  };
  const whenFull = options?.whenFull ?? 'shutDown';
  if (whenFull !== 'shutDown' && whenFull !== 'emitEarly') throw new TopologyError(`bufferConfig() whenFull is 'shutDown' or 'emitEarly', got ${JSON.stringify(whenFull)}`);
  return { maxRecords: limit('maxRecords', options?.maxRecords), maxBytes: limit('maxBytes', options?.maxBytes), whenFull };
}

/** What `suppress` waits for. */
export type Suppressed = { readonly type: 'untilWindowCloses'; readonly buffer: BufferConfig } | { readonly type: 'untilTimeLimit'; readonly timeLimitMs: number; readonly buffer: BufferConfig };

/** Final results of a windowed table: one per window, when it closes. The buffer cannot emit early (a partial result is not final). */
export function untilWindowCloses(buffer: BufferConfig = unbounded()): Suppressed {
  if (buffer?.whenFull !== 'shutDown') throw new TopologyError("untilWindowCloses() needs a strict buffer (unbounded() or whenFull: 'shutDown'): emitting early would emit a result that is not final");
  return { type: 'untilWindowCloses', buffer };
}

/** At most one update per key per `timeLimitMs` of stream time: the latest, `timeLimitMs` after the key's first buffered update. */
export function untilTimeLimit(timeLimitMs: number, buffer: BufferConfig = unbounded()): Suppressed {
  if (!Number.isSafeInteger(timeLimitMs) || timeLimitMs < 0) throw new TopologyError(`untilTimeLimit() needs a whole number of milliseconds ≥ 0, got ${String(timeLimitMs)}`);
  return { type: 'untilTimeLimit', timeLimitMs, buffer: buffer ?? unbounded() };
}

const TIME_KEY = Uint8Array.of(0x00, 0x74);
const SIZE_KEY = Uint8Array.of(0x00, 0x73);

function long(value: number): Uint8Array {
  const out = new Uint8Array(8);
  putLong(out, 0, value);
  return out;
}

function readLong(bytes: Uint8Array, at = 0): number {
  return getLong(bytes, at);
}

function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/** The buffer's processor. */
function suppressor(store: string, suppressed: Suppressed, graceMs: number, keySerdeOf: (ctx: InternalProcessorContext) => Serde<unknown>, valueSerdeOf: (ctx: InternalProcessorContext) => Serde<unknown>): () => Processor<unknown, unknown, unknown, unknown> {
  return () => {
    let ctx: InternalProcessorContext;
    let buffer: KeyValueStore<Uint8Array, Uint8Array>;
    let keySerde: Serde<unknown>;
    let values: Serde<Change<unknown>>;
    const topic = `${store}-changelog`;
    const observed = (): number => {
      const b = buffer.get(TIME_KEY);
      return b === undefined ? -1 : readLong(b) - 1;
    };
    const size = (): { records: number; bytes: number } => {
      const b = buffer.get(SIZE_KEY);
      return b === undefined ? { records: 0, bytes: 0 } : { records: readLong(b, 0), bytes: readLong(b, 8) };
    };
    const setSize = (records: number, bytes: number): void => buffer.put(SIZE_KEY, concat(long(records), long(bytes)));
    /** Takes the entry of `keyBytes` out of the buffer; returns its record bytes and buffer time. */
    const take = (keyBytes: Uint8Array): { time: number; entry: Uint8Array } | undefined => {
      const index = concat(Uint8Array.of(0x02), keyBytes);
      const time = buffer.get(index);
      if (time === undefined) return undefined;
      const dataKey = concat(Uint8Array.of(0x01), time, keyBytes);
      const entry = buffer.get(dataKey);
      buffer.delete(index);
      buffer.delete(dataKey);
      const s = size();
      setSize(s.records - 1, s.bytes - (entry?.length ?? 0) - keyBytes.length);
      return entry === undefined ? undefined : { time: readLong(time), entry };
    };
    const emit = (keyBytes: Uint8Array, entry: Uint8Array): void => {
      const change = values.deserialize(entry.subarray(8), topic);
      ctx.forward({ key: keySerde.deserialize(keyBytes, topic), value: change, timestamp: readLong(entry), headers: [] });
    };
    /** Emits buffered entries whose buffer time is at most `until`, oldest first. */
    const evictUntil = (until: number): void => {
      if (until < 0) return;
      for (const e of buffer.range(Uint8Array.of(0x01), concat(Uint8Array.of(0x01), long(until + 1)))) {
        if (readLong(e.key, 1) > until) break;
        const keyBytes = e.key.subarray(9);
        take(keyBytes);
        emit(keyBytes, e.value);
      }
    };
    const bufferTimeOf = (record: AnyRecord, previous: number | undefined): number => {
      if (suppressed.type === 'untilTimeLimit') return previous ?? record.timestamp;
      const windowed = record.key as Windowed<unknown>;
      if (typeof windowed?.window?.end !== 'number') throw new TopologyError('suppress(untilWindowCloses()) follows a windowed aggregation: its keys must be Windowed');
      return windowed.window.end;
    };
    return {
      init(context) {
        ctx = context as InternalProcessorContext;
        buffer = ctx.getStateStore<KeyValueStore<Uint8Array, Uint8Array>>(store);
        keySerde = keySerdeOf(ctx);
        values = changeSerde(valueSerdeOf(ctx));
        // With idleStreamTimeAdvance the buffer also follows the task's stream time as the wall clock moves it.
        if (ctx.idleStreamTimeAdvance) {
          ctx.schedule(1, 'STREAM_TIME', (time) => {
            if (time <= observed()) return;
            buffer.put(TIME_KEY, long(time + 1));
            evictUntil(time - (suppressed.type === 'untilTimeLimit' ? suppressed.timeLimitMs : graceMs));
          });
        }
      },
      process(record) {
        if (record.key === null || record.key === undefined) return ctx.droppedRecord('null key at suppress', record);
        const time = Math.max(observed(), record.timestamp);
        buffer.put(TIME_KEY, long(time + 1));
        const keyBytes = keySerde.serialize(record.key, topic);
        const prior = take(keyBytes);
        const incoming = record.value as Change<unknown>;
        // The emitted Change keeps the value from before buffering as its old value (Kafka's).
        const oldValue = prior === undefined ? incoming.oldValue : values.deserialize(prior.entry.subarray(8), topic).oldValue;
        const bufferTime = bufferTimeOf(record, prior?.time);
        const entry = concat(long(record.timestamp), values.serialize({ newValue: incoming.newValue, oldValue }, topic));
        buffer.put(concat(Uint8Array.of(0x01), long(bufferTime), keyBytes), entry);
        buffer.put(concat(Uint8Array.of(0x02), keyBytes), long(bufferTime));
        const s = size();
        setSize(s.records + 1, s.bytes + entry.length + keyBytes.length);
        evictUntil(time - (suppressed.type === 'untilTimeLimit' ? suppressed.timeLimitMs : graceMs));
        const limits = suppressed.buffer;
        let now = size();
        while (now.records > limits.maxRecords || now.bytes > limits.maxBytes) {
          if (limits.whenFull === 'shutDown') throw new SamsaError(`the suppression buffer of ${store} is full (${now.records} records, ${now.bytes} bytes; limits ${limits.maxRecords} records, ${limits.maxBytes} bytes); raise its limits or use unbounded()`, 'SUPPRESSION_BUFFER_FULL');
          const oldest = buffer.range(Uint8Array.of(0x01), Uint8Array.of(0x02))[0];
          if (oldest === undefined) break;
          take(oldest.key.subarray(9));
          emit(oldest.key.subarray(9), oldest.value);
          now = size();
        }
      },
    };
  };
}

/** Adds the suppression node and its buffer store under a table; returns the suppressed table. */
export function suppressNode(state: StreamState, suppressed: Suppressed, options: { readonly name?: string; readonly store?: string }): StreamState {
  if (state.shape !== 'table') throw new TopologyError('suppress() follows a KTable');
  if (suppressed?.type !== 'untilWindowCloses' && suppressed?.type !== 'untilTimeLimit') throw new TopologyError('suppress() takes untilWindowCloses(buffer) or untilTimeLimit(ms, buffer)');
  if (suppressed.type === 'untilWindowCloses' && state.windows === undefined) throw new TopologyError('suppress(untilWindowCloses()) follows a windowed aggregation (windowedBy … count/reduce/aggregate); for other tables use untilTimeLimit');
  const graph = state.graph;
  const name = options.name ?? graph.nextName('KTABLE-SUPPRESS');
  const store = options.store ?? `${name}-store`;
  graph.addStore({ name: store, keySerde: bytesSerde() as Serde<unknown>, valueSerde: bytesSerde() as Serde<unknown>, logged: true });
  const keySerde = state.keySerde;
  const valueSerde = state.valueSerde;
  const windows = state.windows;
  // Without a declared serde the application's default is used; windowed keys wrap it as Kafka's windowed serdes do.
  const keySerdeOf = (ctx: InternalProcessorContext): Serde<unknown> => {
    if (keySerde !== undefined) return keySerde;
    const inner = ctx.defaultSerdes().key;
    if (windows === undefined) return inner;
    return (windows.type === 'session' ? sessionWindowedSerde(inner) : timeWindowedSerde(inner, windows.type === 'time' ? windows.sizeMs : windows.timeDifferenceMs)) as Serde<unknown>;
  };
  const valueSerdeOf = (ctx: InternalProcessorContext): Serde<unknown> => valueSerde ?? ctx.defaultSerdes().value ?? (json() as Serde<unknown>);
  const node = graph.add(name, { kind: 'process', supplier: suppressor(store, suppressed, windows?.graceMs ?? 0, keySerdeOf, valueSerdeOf), stores: [store], keyPreserving: false }, [state.node]);
  // It emits buffered records of other keys than the one processed, but never re-keys: no repartition follows.
  const { store: _store, ...rest } = state;
  return { ...rest, node };
}
