/**
 * Joins against Kafka Streams' documented semantics, on the TopologyTestDriver: the join tables of
 * the DSL guide ("Joining") row by row for KStream-KStream, KStream-KTable, KTable-KTable and
 * foreign-key joins, then what the tables leave implicit: when left and outer results of windowed
 * joins come out (after window and grace, as Kafka ≥ 3.1), late and out-of-order records, null
 * keys (KIP-962), repartitioning of re-keyed sides, store and topic names, and typed errors.
 */
import { describe, expect, it } from 'vitest';
import { TopologyError } from '../../src/errors.ts';
import { StreamsBuilder } from '../../src/streams/builder.ts';
import type { KStream, KTable } from '../../src/streams/builder.ts';
import { join, leftJoin, outerJoin } from '../../src/streams/joins/streamJoins.ts';
import { count, groupByKey, mapValues, selectKey, toTable, toTopic } from '../../src/streams/operators.ts';
import { json, string } from '../../src/streams/serdes.ts';
import { TopologyTestDriver } from '../../src/streams/testDriver.ts';
import { windowedBy } from '../../src/streams/windowedAggregation.ts';
import { joinWindows, tumbling } from '../../src/streams/windows.ts';

type Pair = [string | null, string | null];
const pair = (l: string | null, r: string | null): Pair => [l, r];

/** One row of a documented join table: a record on one side at a timestamp (null value: a tombstone or a null record). */
interface Row {
  readonly ts: number;
  readonly side: 'L' | 'R';
  readonly value: string | null;
}

function drive(build: (b: StreamsBuilder) => void, rows: readonly Row[], topics: { L: string; R: string } = { L: 'left', R: 'right' }): { perRow: Map<number, Array<Pair | null>>; driver: TopologyTestDriver } {
  const builder = new StreamsBuilder();
  build(builder);
  const driver = new TopologyTestDriver(builder.build());
  const inputs = { L: driver.createInputTopic(topics.L, string(), string()), R: driver.createInputTopic(topics.R, string(), string()) };
  const out = driver.createOutputTopic('out', string(), json<Pair>());
  const perRow = new Map<number, Array<Pair | null>>();
  for (const row of rows) {
    inputs[row.side].pipeInput('k', row.value, row.ts);
    const values = out.readValuesToList();
    if (values.length > 0) perRow.set(row.ts, values);
  }
  return { perRow, driver };
}

const streams = (b: StreamsBuilder): [KStream<string, string>, KStream<string, string>] => [b.stream('left', { key: string(), value: string() }), b.stream('right', { key: string(), value: string() })];
const tables = (b: StreamsBuilder): [KTable<string, string>, KTable<string, string>] => [b.table('left', { key: string(), value: string(), store: 'left-store' }), b.table('right', { key: string(), value: string(), store: 'right-store' })];

/** The DSL guide's stream-stream table: rows 1–15 all within one window, then E, F, f, G far apart. */
const streamStreamRows: Row[] = [
  { ts: 1, side: 'L', value: null },
  { ts: 2, side: 'R', value: null },
  { ts: 3, side: 'L', value: 'A' },
  { ts: 4, side: 'R', value: 'a' },
  { ts: 5, side: 'L', value: 'B' },
  { ts: 6, side: 'R', value: 'b' },
  { ts: 7, side: 'L', value: null },
  { ts: 8, side: 'R', value: null },
  { ts: 9, side: 'L', value: 'C' },
  { ts: 10, side: 'R', value: 'c' },
  { ts: 11, side: 'R', value: null },
  { ts: 12, side: 'L', value: null },
  { ts: 13, side: 'R', value: null },
  { ts: 14, side: 'R', value: 'd' },
  { ts: 15, side: 'L', value: 'D' },
  { ts: 40, side: 'L', value: 'E' },
  { ts: 60, side: 'L', value: 'F' },
  { ts: 80, side: 'R', value: 'f' },
  { ts: 100, side: 'L', value: 'G' },
];

const joinedRows = new Map<number, Pair[]>([
  [4, [pair('A', 'a')]],
  [5, [pair('B', 'a')]],
  [6, [pair('A', 'b'), pair('B', 'b')]],
  [9, [pair('C', 'a'), pair('C', 'b')]],
  [10, [pair('A', 'c'), pair('B', 'c'), pair('C', 'c')]],
  [14, [pair('A', 'd'), pair('B', 'd'), pair('C', 'd')]],
  [15, [pair('D', 'a'), pair('D', 'b'), pair('D', 'c'), pair('D', 'd')]],
]);

// Window 15 as in the guide. Its table emits [E, null] at 60 = 40 + 15 + 5; Kafka's code
// (KStreamKStreamJoin) keeps a window open while ts + after + grace ≥ stream time, so the guide's
// rows come out with a grace of 4 (the boundary itself is tested below).
const docWindows = joinWindows({ timeDifferenceMs: 15, graceMs: 4 });

describe('KStream-KStream joins', () => {
  it('inner join: the DSL guide table, row by row', () => {
    const { perRow, driver } = drive((b) => {
      const [l, r] = streams(b);
      l.pipe(join(r, pair, docWindows), toTopic('out', { value: json<Pair>() }));
    }, streamStreamRows);
    expect(perRow).toEqual(joinedRows);
    // Records with a null value are dropped, and counted.
    expect(driver.droppedRecords).toBe(7);
  });

  it('left join: unmatched left records come out once their window closed ([E, null] at 60, [F, null] at 80)', () => {
    const { perRow } = drive((b) => {
      const [l, r] = streams(b);
      l.pipe(leftJoin(r, pair, docWindows), toTopic('out', { value: json<Pair>() }));
    }, streamStreamRows);
    expect(perRow).toEqual(new Map([...joinedRows, [60, [pair('E', null)]], [80, [pair('F', null)]]]));
  });

  it('outer join: unmatched records of both sides come out once their window closed ([null, f] at 100)', () => {
    const { perRow } = drive((b) => {
      const [l, r] = streams(b);
      l.pipe(outerJoin(r, pair, docWindows), toTopic('out', { value: json<Pair>() }));
    }, streamStreamRows);
    expect(perRow).toEqual(new Map([...joinedRows, [60, [pair('E', null)]], [80, [pair('F', null)]], [100, [pair(null, 'f')]]]));
  });

  it('stamps a result with the later timestamp, and a held record with its own; held records close after ts + after + grace', () => {
    const builder = new StreamsBuilder();
    const [l, r] = streams(builder);
    l.pipe(outerJoin(r, pair, joinWindows({ timeDifferenceMs: 100, graceMs: 10 })), toTopic('out', { value: json<Pair>() }));
    const driver = new TopologyTestDriver(builder.build());
    const left = driver.createInputTopic('left', string(), string());
    const right = driver.createInputTopic('right', string(), string());
    const out = driver.createOutputTopic('out', string(), json<Pair>());
    left.pipeInput('k0', 'A0', 0);
    right.pipeInput('k1', 'b1', 0);
    // Out of the others' windows, but those are not closed yet (0 + 100 + 10 ≥ 101).
    left.pipeInput('k1', 'A1', 101);
    right.pipeInput('k0', 'b0', 101);
    expect(out.readRecordsToList()).toEqual([]);
    // Still open at exactly 110 = 0 + 100 + 10.
    right.pipeInput('k2', 'x', 110);
    expect(out.readRecordsToList()).toEqual([]);
    // Closed at 111: right before left at the same timestamp (Kafka's <timestamp><side><key> order).
    right.pipeInput('k3', 'y', 111);
    expect(out.readRecordsToList().map((r) => ({ key: r.key, value: r.value, timestamp: r.timestamp }))).toEqual([
      { key: 'k1', value: pair(null, 'b1'), timestamp: 0 },
      { key: 'k0', value: pair('A0', null), timestamp: 0 },
    ]);
    // A match within the window: the result takes the later timestamp, and the held record is gone.
    left.pipeInput('k2', 'A2', 105);
    expect(out.readRecordsToList().map((r) => [r.key, r.value, r.timestamp])).toEqual([['k2', pair('A2', 'x'), 110]]);
    left.pipeInput('k9', 'flush', 400);
    expect(out.readValuesToList()).toEqual([pair(null, 'b0'), pair('A1', null), pair(null, 'y')]);
  });

  it('swaps before and after for the right side, and joins duplicates of one key and timestamp', () => {
    const builder = new StreamsBuilder();
    const [l, r] = streams(builder);
    // A right record joins a left one from 5 before it to 20 after it.
    l.pipe(join(r, pair, joinWindows({ timeDifferenceMs: 0, beforeMs: 5, afterMs: 20, graceMs: 0 })), toTopic('out', { value: json<Pair>() }));
    const driver = new TopologyTestDriver(builder.build());
    const left = driver.createInputTopic('left', string(), string());
    const right = driver.createInputTopic('right', string(), string());
    const out = driver.createOutputTopic('out', string(), json<Pair>());
    left.pipeInput('k', 'L100', 100);
    left.pipeInput('k', 'L100b', 100);
    right.pipeInput('k', 'r94', 94);
    right.pipeInput('k', 'r95', 95);
    right.pipeInput('k', 'r120', 120);
    right.pipeInput('k', 'r121', 121);
    expect(out.readValuesToList()).toEqual([pair('L100', 'r95'), pair('L100b', 'r95'), pair('L100', 'r120'), pair('L100b', 'r120')]);
    // From the left: a left record joins right ones in [ts − 5, ts + 20].
    left.pipeInput('k', 'L116', 116);
    expect(out.readValuesToList()).toEqual([pair('L116', 'r120'), pair('L116', 'r121')]);
  });

  it('left join: a record already out of its window is emitted with null at once; a null key is emitted at once (KIP-962)', () => {
    const builder = new StreamsBuilder();
    const [l, r] = streams(builder);
    l.pipe(leftJoin(r, pair, joinWindows({ timeDifferenceMs: 10, graceMs: 5 })), toTopic('out', { value: json<Pair>() }));
    const driver = new TopologyTestDriver(builder.build());
    const left = driver.createInputTopic('left', string(), string());
    const right = driver.createInputTopic('right', string(), string());
    const out = driver.createOutputTopic('out', string(), json<Pair>());
    right.pipeInput('k', 'r100', 100);
    // ts + after = 60 < stream time 100: no partner can come any more, it is not held.
    left.pipeInput('k', 'late', 50);
    expect(out.readRecordsToList().map((r) => [r.key, r.value, r.timestamp])).toEqual([['k', pair('late', null), 50]]);
    // Out of order but within the window: joins.
    left.pipeInput('k', 'L95', 95);
    expect(out.readValuesToList()).toEqual([pair('L95', 'r100')]);
    left.pipeInput(null, 'nokey', 101);
    right.pipeInput(null, 'r-nokey', 101);
    expect(out.readKeyValuesToList()).toEqual([{ key: null, value: pair('nokey', null) }]);
    // The right side of a left join drops its null-key record.
    expect(driver.droppedRecords).toBe(1);
  });

  it('joins a stream with itself as Kafka does: each record with itself and with the others in the window', () => {
    const builder = new StreamsBuilder();
    const [l] = streams(builder);
    l.pipe(join(l, pair, joinWindows({ timeDifferenceMs: 10, graceMs: 0 })), toTopic('out', { value: json<Pair>() }));
    const driver = new TopologyTestDriver(builder.build());
    const left = driver.createInputTopic('left', string(), string());
    const out = driver.createOutputTopic('out', string(), json<Pair>());
    left.pipeInput('k', 'A', 1);
    expect(out.readValuesToList()).toEqual([pair('A', 'A')]);
    left.pipeInput('k', 'B', 2);
    expect(out.readValuesToList()).toEqual([pair('B', 'A'), pair('A', 'B'), pair('B', 'B')]);
  });

  it('names stores as Kafka, keeps both sides in one sub-topology, and repartitions a re-keyed side through <name>-left-repartition', () => {
    const builder = new StreamsBuilder();
    const [l, r] = streams(builder);
    l.pipe(leftJoin(r, pair, joinWindows({ timeDifferenceMs: 10, graceMs: 0 })), toTopic('out', { value: json<Pair>() }));
    const topology = builder.build();
    expect([...topology.stores.keys()]).toEqual(['KSTREAM-JOINTHIS-0000000004-store', 'KSTREAM-OUTEROTHER-0000000005-store', 'KSTREAM-OUTERSHARED-0000000004-store']);
    expect(topology.subtopologies.map((s) => s.sourceTopics)).toEqual([['left', 'right']]);
    expect(topology.stores.get('KSTREAM-JOINTHIS-0000000004-store')).toMatchObject({ type: 'window', retentionMs: 20, retainDuplicates: true, logged: true });

    const b2 = new StreamsBuilder();
    const orders = b2.stream('orders', { key: string(), value: json<{ customer: string; item: string }>() });
    const customers = b2.stream('customers', { key: string(), value: string() });
    orders
      .pipe(
        selectKey((rec) => rec.value.customer),
        join(customers, (o, name) => `${name} bought ${o.item}`, joinWindows({ timeDifferenceMs: 1_000, graceMs: 0 }), { name: 'purchases', thisStore: 'orders-window', otherStore: 'customers-window', key: string() }),
        toTopic('out', { value: string() }),
      );
    const t2 = b2.build();
    expect([...t2.internalTopics]).toEqual(['purchases-left-repartition']);
    expect([...t2.stores.keys()]).toEqual(['orders-window', 'customers-window']);
    expect(t2.subtopologies.map((s) => s.sourceTopics)).toEqual([['orders'], ['customers', 'purchases-left-repartition']]);
    const driver = new TopologyTestDriver(t2);
    driver.createInputTopic('customers', string(), string()).pipeInput('c1', 'Ada', 1_000);
    driver.createInputTopic('orders', string(), json<{ customer: string; item: string }>()).pipeInput('o1', { customer: 'c1', item: 'tea' }, 1_500);
    expect(driver.createOutputTopic('out', string(), string()).readKeyValuesToList()).toEqual([{ key: 'c1', value: 'Ada bought tea' }]);
    expect(driver.getWindowStore<string, string>('customers-window').fetchRange('c1', 0, 2_000).map((w) => w.value)).toEqual(['Ada']);
  });
});

describe('KStream-KTable joins', () => {
  const streamTableRows: Row[] = [
    { ts: 1, side: 'L', value: null },
    { ts: 2, side: 'R', value: null },
    { ts: 3, side: 'L', value: 'A' },
    { ts: 4, side: 'R', value: 'a' },
    { ts: 5, side: 'L', value: 'B' },
    { ts: 6, side: 'R', value: 'b' },
    { ts: 7, side: 'L', value: null },
    { ts: 8, side: 'R', value: null },
    { ts: 9, side: 'L', value: 'C' },
    { ts: 10, side: 'R', value: 'c' },
    { ts: 11, side: 'R', value: null },
    { ts: 12, side: 'L', value: null },
    { ts: 13, side: 'R', value: null },
    { ts: 14, side: 'R', value: 'd' },
    { ts: 15, side: 'L', value: 'D' },
  ];
  const build = (op: typeof join | typeof leftJoin) => (b: StreamsBuilder) => {
    const stream = b.stream('left', { key: string(), value: string() });
    const table = b.table('right', { key: string(), value: string() });
    stream.pipe((op as typeof leftJoin)(table, pair), toTopic('out', { value: json<Pair>() }));
  };

  it('inner join: the DSL guide table; only stream records trigger', () => {
    expect(drive(build(join), streamTableRows).perRow).toEqual(new Map([[5, [pair('B', 'a')]], [15, [pair('D', 'd')]]]));
  });

  it('left join: the DSL guide table; an unmatched stream record joins null', () => {
    expect(drive(build(leftJoin), streamTableRows).perRow).toEqual(new Map([[3, [pair('A', null)]], [5, [pair('B', 'a')]], [9, [pair('C', null)]], [15, [pair('D', 'd')]]]));
  });

  it('null stream keys: dropped by an inner join, joined with null by a left join (KIP-962); output keeps the stream timestamp', () => {
    for (const [op, expected] of [[join, []], [leftJoin, [{ key: null, value: pair('x', null), timestamp: 7 }]]] as const) {
      const builder = new StreamsBuilder();
      build(op)(builder);
      const driver = new TopologyTestDriver(builder.build());
      driver.createInputTopic('right', string(), string()).pipeInput('k', 'a', 1);
      driver.createInputTopic('left', string(), string()).pipeInput(null, 'x', 7);
      expect(driver.createOutputTopic('out', string(), json<Pair>()).readRecordsToList().map((r) => ({ key: r.key, value: r.value, timestamp: r.timestamp }))).toEqual(expected);
      expect(driver.droppedRecords).toBe(op === join ? 1 : 0);
    }
  });

  it('reads a derived table (filter, mapValues) through its parent store, and repartitions a re-keyed stream through <name>-repartition', () => {
    const builder = new StreamsBuilder();
    const clicks = builder.stream('clicks', { key: string(), value: json<{ user: string; page: string }>() });
    const users = builder.table('users', { key: string(), value: json<{ name: string; active: boolean }>() });
    const active = users.filter((_k, u) => u.active).mapValues((u) => u.name.toUpperCase());
    clicks.pipe(selectKey((r) => r.value.user), leftJoin(active, (click, name) => `${name ?? '?'}:${click.page}`, { name: 'click-user', key: string() }), toTopic('out', { value: string() }));
    const topology = builder.build();
    expect([...topology.internalTopics]).toEqual(['click-user-repartition']);
    expect(topology.subtopologies.map((s) => s.sourceTopics)).toEqual([['clicks'], ['users', 'click-user-repartition']]);
    const driver = new TopologyTestDriver(topology);
    const usersIn = driver.createInputTopic('users', string(), json<{ name: string; active: boolean }>());
    const clicksIn = driver.createInputTopic('clicks', string(), json<{ user: string; page: string }>());
    const out = driver.createOutputTopic('out', string(), string());
    usersIn.pipeInput('u1', { name: 'ada', active: true }, 1);
    usersIn.pipeInput('u2', { name: 'bob', active: false }, 2);
    clicksIn.pipeInput('c1', { user: 'u1', page: '/home' }, 3);
    clicksIn.pipeInput('c2', { user: 'u2', page: '/cart' }, 4);
    usersIn.pipeInput('u1', { name: 'ada', active: false }, 5);
    clicksIn.pipeInput('c3', { user: 'u1', page: '/exit' }, 6);
    expect(out.readKeyValuesToList()).toEqual([
      { key: 'u1', value: 'ADA:/home' },
      { key: 'u2', value: '?:/cart' },
      { key: 'u1', value: '?:/exit' },
    ]);
  });
});

describe('KTable-KTable joins', () => {
  const tableRows: Row[] = [
    { ts: 1, side: 'L', value: null },
    { ts: 2, side: 'R', value: null },
    { ts: 3, side: 'L', value: 'A' },
    { ts: 4, side: 'R', value: 'a' },
    { ts: 5, side: 'L', value: 'B' },
    { ts: 6, side: 'R', value: 'b' },
    { ts: 7, side: 'L', value: null },
    { ts: 8, side: 'R', value: null },
    { ts: 9, side: 'L', value: 'C' },
    { ts: 10, side: 'R', value: 'c' },
    { ts: 11, side: 'R', value: null },
    { ts: 12, side: 'L', value: null },
    { ts: 13, side: 'R', value: null },
    { ts: 14, side: 'R', value: 'd' },
    { ts: 15, side: 'L', value: 'D' },
  ];
  const run = (kind: 'join' | 'leftJoin' | 'outerJoin', options: { store?: string } = {}) =>
    drive((b) => {
      const [l, r] = tables(b);
      const joined = kind === 'join' ? l.join(r, pair, options) : kind === 'leftJoin' ? l.leftJoin(r, pair, options) : l.outerJoin(r, pair, options);
      joined.toStream().pipe(toTopic('out', { value: json<Pair>() }));
    }, tableRows);

  it('inner join: the DSL guide table; tombstones delete an existing result', () => {
    expect(run('join').perRow).toEqual(new Map<number, Array<Pair | null>>([[4, [pair('A', 'a')]], [5, [pair('B', 'a')]], [6, [pair('B', 'b')]], [7, [null]], [10, [pair('C', 'c')]], [11, [null]], [15, [pair('D', 'd')]]]));
  });

  it('left join: the DSL guide table; right tombstones join null, left ones delete', () => {
    expect(run('leftJoin').perRow).toEqual(
      new Map<number, Array<Pair | null>>([[3, [pair('A', null)]], [4, [pair('A', 'a')]], [5, [pair('B', 'a')]], [6, [pair('B', 'b')]], [7, [null]], [9, [pair('C', null)]], [10, [pair('C', 'c')]], [11, [pair('C', null)]], [12, [null]], [15, [pair('D', 'd')]]]),
    );
  });

  it('outer join: the DSL guide table', () => {
    expect(run('outerJoin').perRow).toEqual(
      new Map<number, Array<Pair | null>>([[3, [pair('A', null)]], [4, [pair('A', 'a')]], [5, [pair('B', 'a')]], [6, [pair('B', 'b')]], [7, [pair(null, 'b')]], [8, [null]], [9, [pair('C', null)]], [10, [pair('C', 'c')]], [11, [pair('C', null)]], [12, [null]], [14, [pair(null, 'd')]], [15, [pair('D', 'd')]]]),
    );
  });

  it('materializes the result when given a store; its updates carry the old result to aggregations downstream', () => {
    const builder = new StreamsBuilder();
    const [l, r] = tables(builder);
    const joined = l.join(r, (a, b) => `${a}${b}`, { store: 'joined', value: string() });
    expect(joined.queryableStoreName).toBe('joined');
    // Re-grouped by value: the subtractor needs each update's old result.
    joined.groupBy((_k, v) => ({ key: v.length > 2 ? 'long' : 'short', value: v }), { key: string(), value: string() }).count({ store: 'by-length' });
    const driver = new TopologyTestDriver(builder.build());
    const left = driver.createInputTopic('left', string(), string());
    const right = driver.createInputTopic('right', string(), string());
    left.pipeInput('k1', 'A', 1);
    right.pipeInput('k1', 'a', 2);
    right.pipeInput('k1', 'aa', 3);
    left.pipeInput('k2', 'B', 4);
    right.pipeInput('k2', 'b', 5);
    expect(driver.getKeyValueStore<string, string>('joined').get('k1')).toBe('Aaa');
    expect(driver.getKeyValueStore<string, number>('by-length').get('long')).toBe(1);
    expect(driver.getKeyValueStore<string, number>('by-length').get('short')).toBe(1);
    right.pipeInput('k1', null, 6);
    expect(driver.getKeyValueStore<string, string>('joined').get('k1')).toBeUndefined();
    expect(driver.getKeyValueStore<string, number>('by-length').get('long')).toBe(0);
  });

  it('joins derived and unmaterialized tables: reads them through their parents (a join of a join)', () => {
    const builder = new StreamsBuilder();
    const [l, r] = tables(builder);
    const extra = builder.table('extra', { key: string(), value: string() });
    const upper = l.mapValues((v) => v.toUpperCase());
    const first = upper.leftJoin(r.filter((_k, v) => v !== 'hidden'), (a, b) => `${a}+${b ?? '_'}`);
    first.join(extra, (ab, c) => `${ab}+${c}`).toStream().pipe(toTopic('out', { value: string() }));
    const topology = builder.build();
    expect(topology.subtopologies).toHaveLength(1);
    const driver = new TopologyTestDriver(topology);
    const out = driver.createOutputTopic('out', string(), string());
    driver.createInputTopic('extra', string(), string()).pipeInput('k', 'x', 1);
    driver.createInputTopic('left', string(), string()).pipeInput('k', 'a', 2);
    driver.createInputTopic('right', string(), string()).pipeInput('k', 'hidden', 3);
    driver.createInputTopic('right', string(), string()).pipeInput('k', 'b', 4);
    expect(out.readValuesToList()).toEqual(['A+_+x', 'A+b+x']);
  });
});

describe('KTable-KTable foreign-key joins', () => {
  interface Row2 {
    readonly side: 'L' | 'R';
    readonly key: string;
    readonly value: string | null;
  }
  // The DSL guide's foreign-key table; the extractor is the left value itself.
  const fkRows: Row2[] = [
    { side: 'R', key: '1', value: 'foo' },
    { side: 'L', key: 'k', value: '1' },
    { side: 'L', key: 'k', value: '2' },
    { side: 'L', key: 'k', value: '3' },
    { side: 'R', key: '3', value: 'bar' },
    { side: 'L', key: 'k', value: null },
    { side: 'L', key: 'k', value: '1' },
    { side: 'L', key: 'q', value: '10' },
    { side: 'L', key: 'r', value: '10' },
    { side: 'R', key: '10', value: 'baz' },
  ];
  type Out = [string, string | null] | null;
  const run = (kind: 'join' | 'leftJoin', rows: readonly Row2[] = fkRows): { steps: Array<Array<{ key: string | null; value: Out }>>; driver: TopologyTestDriver } => {
    const builder = new StreamsBuilder();
    const [l, r] = tables(builder);
    const joiner = (fk: string, v: string | null): Out => [fk, v];
    // Typed as the joiner's result: the foreign-key overload is chosen for a third function argument.
    const joined: KTable<string, Out> = kind === 'join' ? l.join(r, (fk) => fk, joiner) : l.leftJoin(r, (fk) => fk, joiner);
    joined.toStream().pipe(toTopic('out', { value: json<Out>() }));
    const driver = new TopologyTestDriver(builder.build());
    const inputs = { L: driver.createInputTopic('left', string(), string()), R: driver.createInputTopic('right', string(), string()) };
    const out = driver.createOutputTopic('out', string(), json<Out>());
    const steps = rows.map((row, i) => {
      inputs[row.side].pipeInput(row.key, row.value, i + 1);
      return out.readKeyValuesToList();
    });
    return { steps, driver };
  };

  it('inner join: the DSL guide table (an FK without a row deletes the previous result; a right update reaches every subscriber)', () => {
    expect(run('join').steps).toEqual([
      [],
      [{ key: 'k', value: ['1', 'foo'] }],
      [{ key: 'k', value: null }],
      [{ key: 'k', value: null }],
      [{ key: 'k', value: ['3', 'bar'] }],
      [{ key: 'k', value: null }],
      [{ key: 'k', value: ['1', 'foo'] }],
      [],
      [],
      [
        { key: 'q', value: ['10', 'baz'] },
        { key: 'r', value: ['10', 'baz'] },
      ],
    ]);
  });

  it('left join: the DSL guide table (a row without a right row joins null)', () => {
    expect(run('leftJoin').steps).toEqual([
      [],
      [{ key: 'k', value: ['1', 'foo'] }],
      [{ key: 'k', value: ['2', null] }],
      [{ key: 'k', value: ['3', null] }],
      [{ key: 'k', value: ['3', 'bar'] }],
      [{ key: 'k', value: null }],
      [{ key: 'k', value: ['1', 'foo'] }],
      [{ key: 'q', value: ['10', null] }],
      [{ key: 'r', value: ['10', null] }],
      [
        { key: 'q', value: ['10', 'baz'] },
        { key: 'r', value: ['10', 'baz'] },
      ],
    ]);
  });

  it('unsubscribes the old foreign key on a change: its updates no longer reach the row; a right delete deletes (inner) or nulls (left) the result', () => {
    const rows: Row2[] = [
      { side: 'R', key: '1', value: 'one' },
      { side: 'R', key: '2', value: 'two' },
      { side: 'L', key: 'k', value: '1' },
      { side: 'L', key: 'k', value: '2' },
      { side: 'R', key: '1', value: 'uno' },
      { side: 'R', key: '2', value: null },
    ];
    expect(run('join', rows).steps.slice(2)).toEqual([[{ key: 'k', value: ['1', 'one'] }], [{ key: 'k', value: ['2', 'two'] }], [], [{ key: 'k', value: null }]]);
    expect(run('leftJoin', rows).steps.slice(2)).toEqual([[{ key: 'k', value: ['1', 'one'] }], [{ key: 'k', value: ['2', 'two'] }], [], [{ key: 'k', value: ['2', null] }]]);
  });

  it('null foreign keys: an inner join joins nothing and deletes the previous result; a left join joins null', () => {
    const builder = new StreamsBuilder();
    const orders = builder.table('orders', { key: string(), value: json<{ item: string; customer: string | null }>(), store: 'orders' });
    const customers = builder.table('customers', { key: string(), value: string(), store: 'customers' });
    orders.join(customers, (o) => o.customer, (o, c) => `${o.item}/${c}`, { store: 'inner-result', value: string() });
    orders.leftJoin(customers, (o) => o.customer, (o, c) => `${o.item}/${c ?? '-'}`, { name: 'fk-left', store: 'left-result', value: string() });
    const topology = builder.build();
    expect([...topology.internalTopics]).toEqual([
      'KTABLE-FK-JOIN-SUBSCRIPTION-REGISTRATION-0000000004-topic',
      'KTABLE-FK-JOIN-SUBSCRIPTION-RESPONSE-0000000012-topic',
      'fk-left-subscription-registration-topic',
      'fk-left-subscription-response-topic',
    ]);
    const driver = new TopologyTestDriver(topology);
    const ordersIn = driver.createInputTopic('orders', string(), json<{ item: string; customer: string | null }>());
    driver.createInputTopic('customers', string(), string()).pipeInput('c1', 'Ada', 1);
    ordersIn.pipeInput('o1', { item: 'tea', customer: 'c1' }, 2);
    ordersIn.pipeInput('o2', { item: 'jam', customer: null }, 3);
    const inner = driver.getKeyValueStore<string, string>('inner-result');
    const left = driver.getKeyValueStore<string, string>('left-result');
    expect([inner.get('o1'), inner.get('o2')]).toEqual(['tea/Ada', undefined]);
    expect([left.get('o1'), left.get('o2')]).toEqual(['tea/Ada', 'jam/-']);
    ordersIn.pipeInput('o1', { item: 'tea', customer: null }, 4);
    expect(inner.get('o1')).toBeUndefined();
    expect(left.get('o1')).toBe('tea/-');
    // From a null foreign key to a valid one (KAFKA-16407): the row subscribes.
    ordersIn.pipeInput('o2', { item: 'jam', customer: 'c1' }, 5);
    expect([inner.get('o2'), left.get('o2')]).toEqual(['jam/Ada', 'jam/Ada']);
    expect(driver.droppedRecords).toBeGreaterThan(0);
  });
});

describe('KStream-GlobalKTable joins via join() and leftJoin()', () => {
  it('looks up the key the mapper picks; inner drops a record without a row, left joins it with null', () => {
    const builder = new StreamsBuilder();
    const orders = builder.stream('orders', { key: string(), value: json<{ item: string; customer: string }>() });
    const customers = builder.globalTable('customers', { key: string(), value: string() });
    orders.pipe(join(customers, (_k, o) => o.customer, (o, name) => `${name}:${o.item}`), toTopic('inner', { value: string() }));
    orders.pipe(leftJoin(customers, (_k, o) => o.customer, (o, name) => `${name ?? '?'}:${o.item}`), toTopic('left', { value: string() }));
    const driver = new TopologyTestDriver(builder.build());
    driver.createInputTopic('customers', string(), string()).pipeInput('c1', 'Ada', 1);
    const ordersIn = driver.createInputTopic('orders', string(), json<{ item: string; customer: string }>());
    ordersIn.pipeInput('o1', { item: 'tea', customer: 'c1' }, 2);
    ordersIn.pipeInput('o2', { item: 'jam', customer: 'c2' }, 3);
    expect(driver.createOutputTopic('inner', string(), string()).readKeyValuesToList()).toEqual([{ key: 'o1', value: 'Ada:tea' }]);
    expect(driver.createOutputTopic('left', string(), string()).readKeyValuesToList()).toEqual([
      { key: 'o1', value: 'Ada:tea' },
      { key: 'o2', value: '?:jam' },
    ]);
  });
});

describe('join errors', () => {
  it('refuses bad arguments with TopologyErrors that say what is expected', () => {
    const builder = new StreamsBuilder();
    const [l, r] = streams(builder);
    const table = builder.table('t', { key: string(), value: string() });
    const windows = joinWindows({ timeDifferenceMs: 10, graceMs: 0 });
    expect(() => join(r, 'nope' as never, windows)).toThrow(TopologyError);
    expect(() => join(r, pair, windows)).not.toThrow();
    expect(() => join(r, pair, undefined as never)).toThrow(/windowed: pass joinWindows/);
    expect(() => leftJoin(table, null as never)).toThrow(/joiner/);
    expect(() => outerJoin(table as never, pair, windows)).toThrow(/outerJoin\(\) joins two KStreams/);
    expect(() => join({} as never, pair)).toThrow(/a KStream, a KTable or a GlobalKTable/);
    expect(() => join(r, pair, windows).call(undefined, undefined as never)).toThrow(/DSL step/);
    // Sides of another builder.
    const other = new StreamsBuilder();
    const [ol] = streams(other);
    expect(() => l.pipe(join(ol, pair, windows))).toThrow(/same StreamsBuilder/);
    expect(() => l.pipe(join(other.table<string, string>('t2'), pair))).toThrow(/same StreamsBuilder/);
    expect(() => table.join(other.table<string, string>('t3'), pair)).toThrow(/same StreamsBuilder/);
    expect(() => table.join(table, 'x' as never)).toThrow(/joiner/);
    expect(() => table.join(table, 'x' as never, pair)).toThrow(/extractor/);
    expect(() => table.join(l as never, pair)).toThrow(/takes a KTable/);
  });

  it('refuses to join a windowed table by key', () => {
    const builder = new StreamsBuilder();
    const [l] = streams(builder);
    const counts = l.pipe(groupByKey(), windowedBy(tumbling({ sizeMs: 10, graceMs: 0 })), count());
    expect(() => l.pipe(join(counts as never, pair))).toThrow(/windowed KTable/);
  });

  it('a stream-table join needs a materialized table or one derived from it; a toTable() materializes', () => {
    const builder = new StreamsBuilder();
    const [l, r] = streams(builder);
    const table = r.pipe(mapValues((v) => v.length), toTable({ store: 'lengths' }));
    l.pipe(join(table, (v, n) => `${v}:${n}`), toTopic('out', { value: string() }));
    const driver = new TopologyTestDriver(builder.build());
    driver.createInputTopic('right', string(), string()).pipeInput('k', 'abc', 1);
    driver.createInputTopic('left', string(), string()).pipeInput('k', 'x', 2);
    expect(driver.createOutputTopic('out', string(), string()).readValuesToList()).toEqual(['x:3']);
  });
});
