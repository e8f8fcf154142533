/**
 * The streams DSL against Kafka Streams' documented semantics, run by the TopologyTestDriver:
 * repartition only when keys may have changed, null keys and values ignored by aggregations,
 * KTable tombstones, split's first match, RxJS operators (synchronous and asynchronous) inside a
 * topology, the Processor API with stores, and clear typed errors for topologies that cannot run.
 */
import { concatMap, filter as rxFilter, map as rxMap } from 'rxjs';
import { describe, expect, it } from 'vitest';
import { SerdeError, TopologyError } from '../../src/errors.ts';
import { keyPreserving, StreamsBuilder } from '../../src/streams/builder.ts';
import { aggregate, count, filter, foreach, groupBy, groupByKey, mapValues, process, reduce, repartition, selectKey, toTable, toTopic } from '../../src/streams/operators.ts';
import { bytes, int32, json, string } from '../../src/streams/serdes.ts';
import type { KeyValueStore } from '../../src/streams/stores/keyValueStore.ts';
import { TopologyTestDriver } from '../../src/streams/testDriver.ts';
import type { ProcessorContext } from '../../src/streams/topology.ts';

interface Order {
  readonly id: string;
  readonly customerId: string;
  readonly status: 'PAID' | 'NEW';
  readonly amount: number;
}

const order = (id: string, customerId: string, status: Order['status'], amount = 10): Order => ({ id, customerId, status, amount });

/** The order-statistics topology: paid orders counted per customer. */
function orderStats(): StreamsBuilder {
  const builder = new StreamsBuilder();
  builder
    .stream('orders', { key: string(), value: json<Order>() })
    .pipe(
      rxFilter((r) => r.value.status === 'PAID'),
      selectKey((r) => r.value.customerId),
      groupByKey({ key: string() }),
      count({ store: 'orders-per-customer' }),
    )
    .toStream()
    .pipe(toTopic('orders-per-customer', { value: int32() }));
  return builder;
}

describe('streams DSL on the TopologyTestDriver', () => {
  it('counts paid orders per customer through a repartition topic named after the store', () => {
    const topology = orderStats().build();
    expect([...topology.internalTopics]).toEqual(['orders-per-customer-repartition']);
    expect(topology.subtopologies.map((s) => s.sourceTopics)).toEqual([['orders'], ['orders-per-customer-repartition']]);
    const driver = new TopologyTestDriver(topology, { applicationId: 'order-stats' });
    const input = driver.createInputTopic('orders', string(), json<Order>());
    const output = driver.createOutputTopic('orders-per-customer', string(), int32());
    input.pipeInput('o1', order('o1', 'c-7', 'PAID'), 1_000);
    input.pipeInput('o2', order('o2', 'c-7', 'NEW'), 1_001);
    input.pipeInput('o3', order('o3', 'c-9', 'PAID'), 1_002);
    input.pipeInput('o4', order('o4', 'c-7', 'PAID'), 1_003);
    expect(output.readKeyValuesToList()).toEqual([
      { key: 'c-7', value: 1 },
      { key: 'c-9', value: 1 },
      { key: 'c-7', value: 2 },
    ]);
    expect(driver.getKeyValueStore<string, number>('orders-per-customer').get('c-7')).toBe(2);
    // The repartition topic and the changelog carry Kafka's names and bytes.
    expect(driver.createOutputTopic('order-stats-orders-per-customer-repartition', string(), json<Order>()).getQueueSize()).toBe(3);
    const changelog = driver.createOutputTopic('order-stats-orders-per-customer-changelog', string(), { serialize: () => new Uint8Array(), deserialize: (b: Uint8Array) => [...b] });
    expect(changelog.readKeyValuesToList().at(-1)).toEqual({ key: 'c-7', value: [0, 0, 0, 0, 0, 0, 0, 2] });
    driver.close();
  });

  it('describes sub-topologies with Kafka-style generated names', () => {
    const text = orderStats().build().describe();
    expect(text).toContain('Sub-topology: 0');
    expect(text).toContain('Source: KSTREAM-SOURCE-0000000000 (topics: [orders])');
    expect(text).toContain('Sink: orders-per-customer-repartition-sink (topic: orders-per-customer-repartition)');
    expect(text).toContain('Sub-topology: 1');
    expect(text).toMatch(/Processor: KSTREAM-AGGREGATE-\d{10} \(stores: \[orders-per-customer\]\)/);
    expect(text).toContain('Sink: KSTREAM-SINK-');
  });

  it('repartitions only when keys may have changed', () => {
    const grouped = (steps: (b: StreamsBuilder) => void): string[] => {
      const b = new StreamsBuilder();
      steps(b);
      return [...b.build().internalTopics];
    };
    const src = (b: StreamsBuilder) => b.stream('in', { key: string(), value: string() });
    expect(grouped((b) => src(b).pipe(mapValues((v) => v.length), groupByKey(), count({ store: 'a' })))).toEqual([]);
    expect(grouped((b) => src(b).pipe(filter((r) => r.value !== ''), groupByKey(), count({ store: 'a' })))).toEqual([]);
    expect(grouped((b) => src(b).pipe(selectKey((r) => r.value), groupByKey(), count({ store: 'a' })))).toEqual(['a-repartition']);
    expect(grouped((b) => src(b).pipe(groupBy((r) => r.value), count({ store: 'a' })))).toEqual(['a-repartition']);
    // A plain RxJS operator may change keys; declared key-preserving, it does not.
    expect(grouped((b) => src(b).pipe(rxFilter((r) => r.value !== ''), groupByKey(), count({ store: 'a' })))).toEqual(['a-repartition']);
    expect(grouped((b) => src(b).pipe(keyPreserving(rxFilter((r) => r.value !== '')), groupByKey(), count({ store: 'a' })))).toEqual([]);
    expect(grouped((b) => src(b).pipe(repartition({ name: 'r' }), groupByKey(), count({ store: 'a' })))).toEqual(['r-repartition']);
  });

  it('ignores null keys and null values in aggregations', () => {
    const b = new StreamsBuilder();
    b.stream('in', { key: string(), value: string() }).pipe(groupByKey(), count({ store: 'counts' })).toStream().pipe(toTopic('out', { value: int32() }));
    const driver = new TopologyTestDriver(b.build());
    const input = driver.createInputTopic('in', string(), string());
    input.pipeInput(null, 'no key');
    input.pipeInput('k', null);
    input.pipeInput('k', 'v');
    expect(driver.createOutputTopic('out', string(), int32()).readKeyValuesToList()).toEqual([{ key: 'k', value: 1 }]);
  });

  it('logs a store to <applicationId>-<store>-changelog unless told not to', () => {
    const b = new StreamsBuilder();
    const s = b.stream('in', { key: string(), value: string() });
    s.pipe(groupByKey(), count({ store: 'logged' }));
    s.pipe(groupByKey(), count({ store: 'unlogged', logged: false }));
    const driver = new TopologyTestDriver(b.build(), { applicationId: 'app' });
    driver.createInputTopic('in', string(), string()).pipeInput('k', 'v');
    expect(driver.createOutputTopic('app-logged-changelog', string(), bytes()).getQueueSize()).toBe(1);
    expect(driver.createOutputTopic('app-unlogged-changelog', string(), bytes()).getQueueSize()).toBe(0);
    expect(driver.getKeyValueStore('unlogged').get('k')).toBe(1);
  });

  it('reduces and aggregates per key; results are KTables with their stores', () => {
    const b = new StreamsBuilder();
    const src = b.stream('amounts', { key: string(), value: int32() });
    src.pipe(groupByKey(), reduce((a, v) => a + v, { store: 'sum' })).toStream().pipe(toTopic('sums'));
    src.pipe(groupByKey(), aggregate(() => ({ n: 0, max: -Infinity }), (_k, v, agg) => ({ n: agg.n + 1, max: Math.max(agg.max, v) }), { store: 'stats', value: json<{ n: number; max: number }>() }));
    const driver = new TopologyTestDriver(b.build());
    const input = driver.createInputTopic('amounts', string(), int32());
    input.pipeKeyValueList([
      { key: 'a', value: 5 },
      { key: 'a', value: 7 },
      { key: 'b', value: 1 },
    ]);
    expect(driver.createOutputTopic('sums', string(), int32()).readKeyValuesToList()).toEqual([
      { key: 'a', value: 5 },
      { key: 'a', value: 12 },
      { key: 'b', value: 1 },
    ]);
    expect(driver.getKeyValueStore('stats').get('a')).toEqual({ n: 2, max: 7 });
    expect(driver.getKeyValueStore('stats').all().map((kv) => kv.key)).toEqual(['a', 'b']);
  });

  it('sends KTable tombstones: a deleted row, or one a filter stops matching', () => {
    const b = new StreamsBuilder();
    b.table('prices', { key: string(), value: int32(), store: 'prices' })
      .filter((_k, v) => v >= 10)
      .toStream()
      .pipe(toTopic('expensive'));
    const driver = new TopologyTestDriver(b.build());
    const input = driver.createInputTopic('prices', string(), int32());
    input.pipeInput('x', 15);
    input.pipeInput('y', 5); // never matched: nothing downstream
    input.pipeInput('x', 8); // stops matching: a tombstone
    input.pipeInput('z', 20);
    input.pipeInput('z', null); // deleted: a tombstone
    expect(driver.createOutputTopic('expensive', string(), int32()).readKeyValuesToList()).toEqual([
      { key: 'x', value: 15 },
      { key: 'x', value: null },
      { key: 'z', value: 20 },
      { key: 'z', value: null },
    ]);
    expect(driver.getKeyValueStore('prices').get('z')).toBeUndefined();
    expect(driver.getKeyValueStore('prices').get('y')).toBe(5);
  });

  it('splits to the first matching branch, the rest to the default branch', () => {
    const b = new StreamsBuilder();
    const branches = b.stream('n', { key: string(), value: int32() }).split({ big: (r) => r.value > 100, even: (r) => r.value % 2 === 0 }, { defaultBranch: 'rest' });
    branches.big.pipe(toTopic('big'));
    branches.even.pipe(toTopic('even'));
    branches.rest.pipe(toTopic('rest'));
    const driver = new TopologyTestDriver(b.build());
    const input = driver.createInputTopic('n', string(), int32());
    for (const v of [200, 4, 7, 102]) input.pipeInput('k', v);
    const read = (t: string) => driver.createOutputTopic(t, string(), int32()).readValuesToList();
    expect(read('big')).toEqual([200, 102]);
    expect(read('even')).toEqual([4]);
    expect(read('rest')).toEqual([7]);
  });

  it('runs asynchronous RxJS steps batch by batch; the store sees them after idle()', async () => {
    const b = new StreamsBuilder();
    b.stream('in', { key: string(), value: string() })
      .pipe(
        concatMap(async (r) => ({ ...r, value: r.value.toUpperCase() })),
        rxMap((r) => ({ ...r, key: r.value })),
        toTable({ store: 'latest', key: string(), value: string() }),
      )
      .toStream()
      .pipe(toTopic('out'));
    const driver = new TopologyTestDriver(b.build());
    const input = driver.createInputTopic('in', string(), string());
    input.pipeInput('a', 'x');
    input.pipeInput('b', 'y');
    await driver.idle();
    expect(driver.createOutputTopic('out', string(), string()).readKeyValuesToList()).toEqual([
      { key: 'X', value: 'X' },
      { key: 'Y', value: 'Y' },
    ]);
    expect(driver.getKeyValueStore('latest').get('Y')).toBe('Y');
  });

  it('gives Processor API nodes the stores connected to them', () => {
    const b = new StreamsBuilder();
    const seen = b.stream('clicks', { key: string(), value: string() }).pipe(groupByKey(), count({ store: 'clicks-per-user' }));
    expect(seen.queryableStoreName).toBe('clicks-per-user');
    b.stream('lookups', { key: string(), value: string() })
      .pipe(
        process<string, string, string, string>(() => {
          let ctx: ProcessorContext<string, string>;
          return {
            init: (c) => (ctx = c),
            process: (r) => {
              const n = ctx.getStateStore<KeyValueStore<string, number>>('clicks-per-user').get(r.key) ?? 0;
              ctx.forward({ ...r, value: `${r.key}:${n}` });
            },
          };
        }, { stores: ['clicks-per-user'] }),
        toTopic('answers', { key: string(), value: string() }),
      );
    // Sharing a store puts both sources in one sub-topology, as in Kafka.
    const topology = b.build();
    expect(topology.subtopologies).toHaveLength(1);
    const driver = new TopologyTestDriver(topology);
    driver.createInputTopic('clicks', string(), string()).pipeKeyValueList([{ key: 'u1', value: 'a' }, { key: 'u1', value: 'b' }]);
    driver.createInputTopic('lookups', string(), string()).pipeInput('u1', '?');
    expect(driver.createOutputTopic('answers', string(), string()).readValuesToList()).toEqual(['u1:2']);
  });
});

describe('streams DSL: topologies that cannot run fail at build or start', () => {
  it('refuses an operator after a terminal one', () => {
    const b = new StreamsBuilder();
    const s = b.stream('in', { key: string(), value: string() });
    expect(() => s.pipe(toTopic('out'), mapValues((v: string) => v) as never)).toThrow(TopologyError);
    expect(() => s.pipe(foreach(() => {}), toTopic('x') as never)).toThrow(/follows a terminal one/);
  });

  it('refuses a store name used twice', () => {
    const b = new StreamsBuilder();
    const s = b.stream('in', { key: string(), value: string() });
    s.pipe(groupByKey(), count({ store: 'c' }));
    expect(() => s.pipe(groupByKey(), count({ store: 'c' }))).toThrow(/store name "c" is used twice/);
  });

  it('uses JSON where no serde is given or known, and the configured defaults when set', () => {
    const b = new StreamsBuilder();
    b.stream('in').pipe(toTopic('out'));
    const driver = new TopologyTestDriver(b.build());
    driver.createInputTopic('in', json<{ k: number }>(), json<string[]>()).pipeInput({ k: 1 }, ['a']);
    expect(driver.createOutputTopic('out', string(), string()).readKeyValuesToList()).toEqual([{ key: '{"k":1}', value: '["a"]' }]);
    const b2 = new StreamsBuilder();
    b2.stream<string, number>('in').pipe(mapValues((v) => v * 2), toTopic('out'));
    const typed = new TopologyTestDriver(b2.build(), { defaultKeySerde: string() as never, defaultValueSerde: int32() as never });
    typed.createInputTopic('in', string(), int32()).pipeInput('k', 21);
    expect(typed.createOutputTopic('out', string(), int32()).readKeyValuesToList()).toEqual([{ key: 'k', value: 42 }]);
  });

  it('refuses an RxJS operator after a grouping, and DSL steps outside a pipe', () => {
    const b = new StreamsBuilder();
    const grouped = b.stream('in', { key: string(), value: string() }).pipe(groupByKey());
    expect(() => grouped.pipe(rxFilter(() => true) as never)).toThrow(/only follow a KStream/);
    expect(() => (selectKey((r: { key: string }) => r.key) as unknown as () => void)()).toThrow(/use it inside KStream.pipe/);
  });

  it('reports a record that fails to deserialize with topic, partition and offset, or skips it with logAndContinue', () => {
    const build = () => {
      const b = new StreamsBuilder();
      b.stream('in', { key: string(), value: json<{ n: number }>() }).pipe(mapValues((v) => v.n), toTopic('out', { value: int32() }));
      return b.build();
    };
    const failing = new TopologyTestDriver(build());
    const input = failing.createInputTopic('in', string(), json<{ n: number }>());
    input.pipeInput('a', { n: 1 });
    const bad = () => input.pipeRawInput(new TextEncoder().encode('b'), new TextEncoder().encode('{not json'));
    expect(bad).toThrow(SerdeError);
    expect(bad).toThrow(/topic "in" partition 0 offset 2/);
    const skipping = new TopologyTestDriver(build(), { deserializationExceptionHandler: 'logAndContinue' });
    const input2 = skipping.createInputTopic('in', string(), json<{ n: number }>());
    input2.pipeRawInput(null, new TextEncoder().encode('{not json'));
    input2.pipeInput('c', { n: 3 });
    expect(skipping.createOutputTopic('out', string(), int32()).readValuesToList()).toEqual([3]);
    expect(skipping.skipped).toHaveLength(1);
  });

  it('aborts store writes of a record whose processing failed', () => {
    const b = new StreamsBuilder();
    b.stream('in', { key: string(), value: int32() }).pipe(
      groupByKey(),
      aggregate(() => 0, (_k, v, agg) => {
        if (v < 0) throw new Error('negative');
        return agg + v;
      }, { store: 'sum', value: int32() }),
    );
    const driver = new TopologyTestDriver(b.build());
    const input = driver.createInputTopic('in', string(), int32());
    input.pipeInput('a', 1);
    expect(() => input.pipeInput('a', -1)).toThrow('negative');
    expect(driver.getKeyValueStore('sum').get('a')).toBe(1);
  });
});

describe('KGroupedTable: regrouped tables with adder and subtractor', () => {
  it('moves a row between groups: subtractor on the old group, adder on the new; a delete only subtracts', () => {
    const b = new StreamsBuilder();
    // users: id -> { region, score }; per region: how many users and their total score.
    const perRegion = b
      .table('users', { key: string(), value: json<{ region: string; score: number }>() })
      .groupBy((_id, u) => ({ key: u.region, value: u.score }), { key: string(), value: int32() });
    perRegion.aggregate(() => 0, (_r, score, total) => total + score, (_r, score, total) => total - score, { store: 'score-per-region', value: int32() }).toStream().pipe(toTopic('scores', { key: string(), value: int32() }));
    const b2Counts = perRegion.count({ store: 'users-per-region' });
    expect(b2Counts.queryableStoreName).toBe('users-per-region');
    const driver = new TopologyTestDriver(b.build(), { applicationId: 'regions' });
    const users = driver.createInputTopic('users', string(), json<{ region: string; score: number }>());
    users.pipeInput('u1', { region: 'eu', score: 10 });
    users.pipeInput('u2', { region: 'eu', score: 5 });
    users.pipeInput('u1', { region: 'us', score: 7 }); // moves from eu to us
    users.pipeInput('u2', null); // deleted: leaves eu
    const totals = driver.getKeyValueStore<string, number>('score-per-region');
    expect(totals.get('eu')).toBe(0);
    expect(totals.get('us')).toBe(7);
    const counts = driver.getKeyValueStore<string, number>('users-per-region');
    expect(counts.get('eu')).toBe(0);
    expect(counts.get('us')).toBe(1);
    // Each step as Kafka emits it: additions, then for the move a retraction from eu and an addition to us.
    expect(driver.createOutputTopic('scores', string(), int32()).readKeyValuesToList()).toEqual([
      { key: 'eu', value: 10 },
      { key: 'eu', value: 15 },
      { key: 'eu', value: 5 },
      { key: 'us', value: 7 },
      { key: 'eu', value: 0 },
    ]);
  });

  it('repartitions through <store>-repartition, with or without serdes', () => {
    const b = new StreamsBuilder();
    b.table('t').groupBy((k, v) => ({ key: String(v), value: String(k) })).reduce((a, v) => [...a.split(','), v].sort().join(','), (a, v) => a.split(',').filter((x) => x !== v).join(','), { store: 'joined' });
    const topology = b.build();
    expect([...topology.internalTopics]).toEqual(['joined-repartition']);
    const driver = new TopologyTestDriver(topology);
    const t = driver.createInputTopic('t', json<string>(), json<string>());
    t.pipeInput('a', 'x');
    t.pipeInput('b', 'x');
    t.pipeInput('a', 'y');
    expect(driver.getKeyValueStore('joined').get('x')).toBe('b');
    expect(driver.getKeyValueStore('joined').get('y')).toBe('a');
  });
});
