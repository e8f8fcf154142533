/**
 * Windowed aggregations against Kafka Streams' documented semantics, on the TopologyTestDriver:
 * epoch-aligned half-open time windows (tumbling, hopping), sliding windows with inclusive ends,
 * sessions merging on out-of-order data, grace and late drops (a window closes when stream time
 * reaches end + grace), emitStrategy(onWindowClose), suppress(untilWindowCloses / untilTimeLimit),
 * Kafka's windowed key bytes, window and session stores for queries, and errors for bad input.
 */
import { describe, expect, it } from 'vitest';
import { SamsaError, TopologyError } from '../../src/errors.ts';
import { StreamsBuilder } from '../../src/streams/builder.ts';
import type { KTable } from '../../src/streams/builder.ts';
import { aggregate, count, groupByKey, reduce, toTopic } from '../../src/streams/operators.ts';
import { int32, json, string } from '../../src/streams/serdes.ts';
import { bufferConfig, untilTimeLimit, untilWindowCloses, unbounded } from '../../src/streams/suppress.ts';
import { TopologyTestDriver } from '../../src/streams/testDriver.ts';
import type { TestOutputTopic } from '../../src/streams/testDriver.ts';
import { sessionWindowedSerde, timeWindowedSerde } from '../../src/streams/windowedSerdes.ts';
import { emitStrategy, onWindowClose, windowedBy } from '../../src/streams/windowedAggregation.ts';
import { leftJoin } from '../../src/streams/joins/streamJoins.ts';
import { hopping, joinWindows, session, sliding, tumbling } from '../../src/streams/windows.ts';
import type { WindowDefinition, Windowed } from '../../src/streams/windows.ts';

type Row = { key: string; start: number; end: number; value: number | null };

/** A windowed count of `input` (string keys) into `counts`, with the builder's table for more steps. */
function windowedCount(windows: WindowDefinition, then?: (table: KTable<Windowed<string>, number>) => KTable<Windowed<string>, number>, close = false): TopologyTestDriver {
  const builder = new StreamsBuilder();
  const grouped = builder.stream('input', { key: string(), value: string() });
  const table = close
    ? grouped.pipe(groupByKey(), windowedBy(windows), emitStrategy(onWindowClose()), count({ store: 'counts-store' }))
    : grouped.pipe(groupByKey(), windowedBy(windows), count({ store: 'counts-store' }));
  (then === undefined ? table : then(table)).toStream().pipe(toTopic('counts', { value: json<number>() }));
  return new TopologyTestDriver(builder.build(), { applicationId: 'windows' });
}

const outputs = new WeakMap<TopologyTestDriver, TestOutputTopic<Windowed<string>, number>>();

/** What the topology wrote to `counts` since the last call. */
function rows(driver: TopologyTestDriver, windows: WindowDefinition): Row[] {
  const size = windows.type === 'time' ? windows.sizeMs : windows.type === 'sliding' ? windows.timeDifferenceMs : 0;
  const keySerde = windows.type === 'session' ? sessionWindowedSerde(string()) : timeWindowedSerde(string(), size);
  let topic = outputs.get(driver);
  if (topic === undefined) outputs.set(driver, (topic = driver.createOutputTopic('counts', keySerde, json<number>())));
  return topic
    .readKeyValuesToList()
    .map(({ key, value }) => ({ key: (key as Windowed<string>).key, start: (key as Windowed<string>).window.start, end: (key as Windowed<string>).window.end, value }));
}

function pipe(driver: TopologyTestDriver, records: ReadonlyArray<readonly [string, number]>): void {
  const input = driver.createInputTopic('input', string(), string());
  for (const [key, ts] of records) input.pipeInput(key, 'v', ts);
}

describe('time windows', () => {
  it('tumbling windows are epoch-aligned and half-open: [0, 5000) then [5000, 10000)', () => {
    const windows = tumbling({ sizeMs: 5_000, graceMs: 0 });
    const driver = windowedCount(windows);
    pipe(driver, [['A', 0], ['A', 4_999], ['A', 5_000], ['B', 7_000]]);
    expect(rows(driver, windows)).toEqual([
      { key: 'A', start: 0, end: 5_000, value: 1 },
      { key: 'A', start: 0, end: 5_000, value: 2 },
      { key: 'A', start: 5_000, end: 10_000, value: 1 },
      { key: 'B', start: 5_000, end: 10_000, value: 1 },
    ]);
    const store = driver.getWindowStore<string, number>('counts-store');
    expect(store.fetch('A', 0)).toBe(2);
    expect(store.fetchRange('A', 0, 10_000).map((w) => [w.window.start, w.value])).toEqual([[0, 2], [5_000, 1]]);
    expect(store.fetchAll(5_000, 5_000).map((kv) => [kv.key.key, kv.value])).toEqual([['A', 1], ['B', 1]]);
  });

  it('hopping windows: a record lands in size/advance windows starting at ⌊(ts − size + advance)/advance⌋·advance', () => {
    const windows = hopping({ sizeMs: 10, advanceMs: 5, graceMs: 100 });
    const driver = windowedCount(windows);
    pipe(driver, [['A', 7], ['A', 12], ['A', 3]]);
    expect(rows(driver, windows)).toEqual([
      { key: 'A', start: 0, end: 10, value: 1 },
      { key: 'A', start: 5, end: 15, value: 1 },
      { key: 'A', start: 5, end: 15, value: 2 },
      { key: 'A', start: 10, end: 20, value: 1 },
      // ts 3 is in [0, 10) only: windows never start before 0.
      { key: 'A', start: 0, end: 10, value: 2 },
    ]);
  });

  it('grace: a window closes when stream time reaches end + grace; later records are dropped and counted', () => {
    const windows = tumbling({ sizeMs: 10, graceMs: 5 });
    const driver = windowedCount(windows);
    // Stream time 14: [0, 10) still open (closes at 15), so ts 9 counts.
    pipe(driver, [['A', 1], ['A', 14], ['A', 9]]);
    expect(driver.droppedRecords).toBe(0);
    // Stream time 15 = 10 + 5: [0, 10) is closed, ts 9 is late; [10, 20) still takes ts 10.
    pipe(driver, [['B', 15], ['A', 9], ['A', 10]]);
    expect(driver.droppedRecords).toBe(1);
    expect(rows(driver, windows).map((r) => [r.key, r.start, r.value])).toEqual([
      ['A', 0, 1],
      ['A', 10, 1],
      ['A', 0, 2],
      ['B', 10, 1],
      ['A', 10, 2],
    ]);
  });

  it('rejects windows without a stated grace, zero sizes and an advance larger than the size', () => {
    expect(() => tumbling({ sizeMs: 10 } as never)).toThrow(/graceMs.*Kafka ≥ 3.0 has no default/);
    expect(() => tumbling({ sizeMs: 0, graceMs: 0 })).toThrow(TopologyError);
    expect(() => hopping({ sizeMs: 5, advanceMs: 10, graceMs: 0 })).toThrow(/advanceMs ≤ sizeMs/);
    expect(() => sliding({ timeDifferenceMs: -1, graceMs: 0 })).toThrow(TopologyError);
    expect(() => session({ inactivityGapMs: 10, graceMs: -5 })).toThrow(TopologyError);
    expect(() => windowedBy({ type: 'weekly' } as never)).toThrow(/tumbling\(\), hopping\(\), sliding\(\) or session\(\)/);
  });
});

describe('sliding windows', () => {
  it('creates the window ending at each record and the one starting after it, both ends inclusive', () => {
    // Kafka's documented example: 5 s windows, records at 8 s and 9.2 s.
    const windows = sliding({ timeDifferenceMs: 5_000, graceMs: 30_000 });
    const driver = windowedCount(windows);
    pipe(driver, [['A', 8_000], ['A', 9_200]]);
    expect(rows(driver, windows)).toEqual([
      { key: 'A', start: 3_000, end: 8_000, value: 1 },
      { key: 'A', start: 4_200, end: 9_200, value: 2 },
      { key: 'A', start: 8_001, end: 13_001, value: 1 },
    ]);
  });

  it('an out-of-order record updates every window holding it, and records at a window end count (inclusive)', () => {
    const windows = sliding({ timeDifferenceMs: 10, graceMs: 100 });
    const driver = windowedCount(windows);
    pipe(driver, [['A', 20], ['A', 30], ['A', 25]]);
    const out = rows(driver, windows).map((r) => [r.start, r.end, r.value]);
    expect(out).toEqual([
      [10, 20, 1],
      [20, 30, 2],
      [21, 31, 1],
      // ts 25: [15, 25] is new (20, 25), [20, 30] and [21, 31] grow.
      [15, 25, 2],
      [20, 30, 3],
      [21, 31, 2],
      // 30 lies in (25, 36]: 25's own right window exists too.
      [26, 36, 1],
    ]);
    expect(driver.getWindowStore<string, number>('counts-store').fetch('A', 20)).toBe(3);
  });

  it('drops a record when every window that could hold it closed', () => {
    const windows = sliding({ timeDifferenceMs: 10, graceMs: 0 });
    const driver = windowedCount(windows);
    pipe(driver, [['A', 100], ['A', 90], ['A', 89]]);
    // Stream time 100, grace 0: ts 90 still fits [90, 100] (closes at 100? end 100 ≤ 100: closed) — so 90 is late too.
    expect(driver.droppedRecords).toBe(2);
  });
});

describe('session windows', () => {
  it('merges sessions a record bridges, retracting the merged ones (out-of-order data)', () => {
    const windows = session({ inactivityGapMs: 5, graceMs: 100 });
    const driver = windowedCount(windows);
    pipe(driver, [['A', 0], ['A', 3], ['A', 20], ['A', 12], ['A', 16]]);
    expect(rows(driver, windows)).toEqual([
      { key: 'A', start: 0, end: 0, value: 1 },
      { key: 'A', start: 0, end: 0, value: null },
      { key: 'A', start: 0, end: 3, value: 2 },
      { key: 'A', start: 20, end: 20, value: 1 },
      { key: 'A', start: 12, end: 12, value: 1 },
      // 16 is within 5 of both 12 and 20: the three become one session.
      { key: 'A', start: 12, end: 12, value: null },
      { key: 'A', start: 20, end: 20, value: null },
      { key: 'A', start: 12, end: 20, value: 3 },
    ]);
    expect(driver.getSessionStore<string, number>('counts-store').fetch('A').map((kv) => [kv.key.window.start, kv.key.window.end, kv.value])).toEqual([
      [0, 3, 2],
      [12, 20, 3],
    ]);
  });

  it('a session-windowed aggregate needs a merger; reduce merges with its reducer', () => {
    const builder = new StreamsBuilder();
    const s = builder.stream('input', { key: string(), value: int32() });
    expect(() => s.pipe(groupByKey(), windowedBy(session({ inactivityGapMs: 5, graceMs: 0 })), aggregate(() => 0, (_k, v, a) => a + v))).toThrow(/needs a merger/);
    const b2 = new StreamsBuilder();
    b2.stream('input', { key: string(), value: int32() })
      .pipe(groupByKey(), windowedBy(session({ inactivityGapMs: 5, graceMs: 100 })), reduce((a, b) => a + b, { store: 'sums' }))
      .toStream()
      .pipe(toTopic('sums', { value: int32() }));
    const driver = new TopologyTestDriver(b2.build());
    const input = driver.createInputTopic('input', string(), int32());
    input.pipeInput('A', 1, 0);
    input.pipeInput('A', 10, 10);
    input.pipeInput('A', 100, 5);
    expect(driver.getSessionStore<string, number>('sums').fetch('A').map((kv) => kv.value)).toEqual([111]);
  });
});

describe('final results', () => {
  it('emitStrategy(onWindowClose()) emits each window once, when stream time passes end + grace', () => {
    const windows = tumbling({ sizeMs: 10, graceMs: 2 });
    const driver = windowedCount(windows, undefined, true);
    pipe(driver, [['A', 1], ['A', 2], ['B', 5], ['A', 11]]);
    expect(rows(driver, windows)).toEqual([]);
    pipe(driver, [['C', 12]]);
    expect(rows(driver, windows)).toEqual([
      { key: 'A', start: 0, end: 10, value: 2 },
      { key: 'B', start: 0, end: 10, value: 1 },
    ]);
    pipe(driver, [['A', 3], ['C', 40]]);
    expect(driver.droppedRecords).toBe(1);
    expect(rows(driver, windows)).toEqual([
      { key: 'A', start: 10, end: 20, value: 1 },
      { key: 'C', start: 10, end: 20, value: 1 },
    ]);
  });

  it('suppress(untilWindowCloses) emits one final result per window, never a partial one', () => {
    const windows = tumbling({ sizeMs: 10, graceMs: 5 });
    const driver = windowedCount(windows, (t) => t.suppress(untilWindowCloses(unbounded())));
    pipe(driver, [['A', 1], ['A', 2], ['B', 3], ['A', 12], ['A', 14]]);
    expect(rows(driver, windows)).toEqual([]);
    pipe(driver, [['B', 15]]);
    expect(rows(driver, windows)).toEqual([
      { key: 'A', start: 0, end: 10, value: 2 },
      { key: 'B', start: 0, end: 10, value: 1 },
    ]);
    pipe(driver, [['A', 4], ['A', 30]]);
    expect(driver.droppedRecords).toBe(1);
    expect(rows(driver, windows)).toEqual([
      { key: 'A', start: 10, end: 20, value: 2 },
      { key: 'B', start: 10, end: 20, value: 1 },
    ]);
  });

  it('suppress(untilTimeLimit) emits the latest update per key once the first buffered one is that old', () => {
    const builder = new StreamsBuilder();
    builder
      .stream('input', { key: string(), value: string() })
      .pipe(groupByKey(), count({ store: 'totals' }))
      .suppress(untilTimeLimit(10))
      .toStream()
      .pipe(toTopic('counts', { value: json<number>() }));
    const driver = new TopologyTestDriver(builder.build());
    pipe(driver, [['A', 0], ['A', 3], ['B', 5], ['A', 9]]);
    const out = driver.createOutputTopic('counts', string(), json<number>());
    expect(out.readKeyValuesToList()).toEqual([]);
    pipe(driver, [['C', 10]]);
    expect(out.readKeyValuesToList()).toEqual([{ key: 'A', value: 3 }]);
    pipe(driver, [['C', 15]]);
    expect(out.readKeyValuesToList()).toEqual([{ key: 'B', value: 1 }]);
  });

  it('a full strict buffer fails the task; an emit-early buffer emits its oldest entries', () => {
    const windows = tumbling({ sizeMs: 10, graceMs: 0 });
    const strict = windowedCount(windows, (t) => t.suppress(untilWindowCloses(bufferConfig({ maxRecords: 2 }))));
    const input = strict.createInputTopic('input', string(), string());
    input.pipeInput('A', 'v', 1);
    input.pipeInput('B', 'v', 1);
    let error: unknown;
    try {
      input.pipeInput('C', 'v', 1);
    } catch (e) {
      error = e;
    }
    expect(SamsaError.is(error) && error.code).toBe('SUPPRESSION_BUFFER_FULL');
    expect(() => untilWindowCloses(bufferConfig({ maxRecords: 2, whenFull: 'emitEarly' }))).toThrow(/strict buffer/);
    const builder = new StreamsBuilder();
    builder
      .stream('input', { key: string(), value: string() })
      .pipe(groupByKey(), count({ store: 'totals' }))
      .suppress(untilTimeLimit(1_000, bufferConfig({ maxRecords: 1, whenFull: 'emitEarly' })))
      .toStream()
      .pipe(toTopic('counts', { value: json<number>() }));
    const early = new TopologyTestDriver(builder.build());
    pipe(early, [['A', 0], ['B', 1]]);
    expect(early.createOutputTopic('counts', string(), json<number>()).readKeyValuesToList()).toEqual([{ key: 'A', value: 1 }]);
  });

  it('untilWindowCloses needs a windowed table', () => {
    const builder = new StreamsBuilder();
    const table = builder.stream('input', { key: string(), value: string() }).pipe(groupByKey(), count());
    expect(() => table.suppress(untilWindowCloses())).toThrow(/follows a windowed aggregation/);
    expect(() => builder.stream('other').pipe(groupByKey(), emitStrategy(onWindowClose()))).toThrow(/follows windowedBy/);
  });
});

describe('windowed keys', () => {
  it('serialize as Kafka does: key bytes then the 8-byte start (time) or end and start (session)', () => {
    const time = timeWindowedSerde(string(), 5_000);
    expect([...time.serialize({ key: 'a', window: { start: 5_000, end: 10_000 } }, 't')]).toEqual([0x61, 0, 0, 0, 0, 0, 0, 0x13, 0x88]);
    expect(time.deserialize(Uint8Array.of(0x61, 0, 0, 0, 0, 0, 0, 0x13, 0x88), 't')).toEqual({ key: 'a', window: { start: 5_000, end: 10_000 } });
    const sess = sessionWindowedSerde(string());
    expect([...sess.serialize({ key: 'a', window: { start: 1, end: 2 } }, 't')]).toEqual([0x61, 0, 0, 0, 0, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 1]);
    expect(() => time.deserialize(Uint8Array.of(1, 2), 't')).toThrow(/8-byte window start/);
  });
});

describe('idle stream-time advance (beyond Kafka, off by default)', () => {
  it('closes the windows of a quiet partition as the wall clock moves, bounded by the skew', () => {
    const windows = tumbling({ sizeMs: 10, graceMs: 5 });
    const build = (): StreamsBuilder => {
      const builder = new StreamsBuilder();
      builder
        .stream('input', { key: string(), value: string() })
        .pipe(groupByKey(), windowedBy(windows), count({ store: 'counts-store' }))
        .suppress(untilWindowCloses())
        .toStream()
        .pipe(toTopic('counts', { value: json<number>() }));
      return builder;
    };
    // Kafka's behaviour: no record, no stream time, no final result, however long the wait.
    const kafka = new TopologyTestDriver(build().build(), { initialWallClockTimeMs: 0 });
    pipe(kafka, [['A', 1], ['A', 2]]);
    kafka.advanceWallClockTime(1_000_000);
    expect(rows(kafka, windows)).toEqual([]);
    // With a 50 ms skew, stream time follows the wall clock to now − 50: [0, 10) closes at 15.
    const idle = new TopologyTestDriver(build().build(), { initialWallClockTimeMs: 0, idleStreamTimeAdvance: { maxSkewMs: 50 } });
    pipe(idle, [['A', 1], ['A', 2]]);
    idle.advanceWallClockTime(64);
    expect(rows(idle, windows)).toEqual([]);
    idle.advanceWallClockTime(1);
    expect(rows(idle, windows)).toEqual([{ key: 'A', start: 0, end: 10, value: 2 }]);
    // A record older than the advanced stream time is late, as any.
    pipe(idle, [['A', 3]]);
    expect(idle.droppedRecords).toBe(1);
  });

  it("emits a left join's unmatched record once the wall clock moved stream time past its window", () => {
    const builder = new StreamsBuilder();
    const views = builder.stream('views', { key: string(), value: string() });
    builder
      .stream('clicks', { key: string(), value: string() })
      .pipe(leftJoin(views, (click: string, view: string | null) => `${click}+${view ?? '-'}`, joinWindows({ timeDifferenceMs: 10, graceMs: 5 })), toTopic('joined', { key: string(), value: string() }));
    const driver = new TopologyTestDriver(builder.build(), { initialWallClockTimeMs: 0, idleStreamTimeAdvance: { maxSkewMs: 100 } });
    driver.createInputTopic('clicks', string(), string()).pipeInput('u', 'c1', 1);
    const out = driver.createOutputTopic('joined', string(), string());
    driver.advanceWallClockTime(115);
    expect(out.readValuesToList()).toEqual([]);
    // Stream time 17 = 1 + 10 + 5 + 1: the click's window closed, it goes out alone.
    driver.advanceWallClockTime(2);
    expect(out.readValuesToList()).toEqual(['c1+-']);
  });
});
