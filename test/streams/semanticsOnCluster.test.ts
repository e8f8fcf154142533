/**
 * The same semantics scenarios on the TopologyTestDriver and on the embedded cluster: every window
 * type (tumbling, hopping, sliding, session, with grace and late records), final results
 * (emitStrategy onWindowClose, suppress untilWindowCloses) and every join kind (KStream–KStream
 * inner/left/outer, KStream–KTable inner/left, KTable–KTable inner/left/outer) give the same
 * outputs, record for record, when the app runs under exactly_once_v2 with one partition per
 * topic and the record cache off (the driver forwards every update as the cache would flush it).
 */
import { describe, expect, it } from 'vitest';
import { createStreamsApp } from '../../src/streams/app.ts';
import { StreamsBuilder } from '../../src/streams/builder.ts';
import { join, leftJoin, outerJoin } from '../../src/streams/joins/streamJoins.ts';
import { count, groupByKey, toTopic } from '../../src/streams/operators.ts';
import { string } from '../../src/streams/serdes.ts';
import type { Serde } from '../../src/streams/serdes.ts';
import { untilWindowCloses } from '../../src/streams/suppress.ts';
import { TopologyTestDriver } from '../../src/streams/testDriver.ts';
import { sessionWindowedSerde, timeWindowedSerde } from '../../src/streams/windowedSerdes.ts';
import { emitStrategy, onWindowClose, windowedBy } from '../../src/streams/windowedAggregation.ts';
import { hopping, joinWindows, session, sliding, tumbling } from '../../src/streams/windows.ts';
import type { WindowDefinition, Windowed } from '../../src/streams/windows.ts';
import { createTestCluster } from '../../src/testing.ts';

type Input = readonly [topic: string, key: string, value: string | null, timestamp: number];

interface Scenario {
  readonly name: string;
  readonly build: () => StreamsBuilder;
  readonly inputs: readonly Input[];
  /** Reads the output's key bytes as text. */
  readonly key: Serde<unknown>;
}

const render = (key: unknown): string => (typeof key === 'string' ? key : `${(key as Windowed<string>).key}@[${(key as Windowed<string>).window.start},${(key as Windowed<string>).window.end}]`);

/** Counts rendered as text so every scenario's output reads with string serdes. */
function windowedCountText(windows: WindowDefinition, final: 'none' | 'emit' | 'suppress'): () => StreamsBuilder {
  return () => {
    const builder = new StreamsBuilder();
    const grouped = builder.stream('in', { key: string(), value: string() });
    const table = final === 'emit' ? grouped.pipe(groupByKey(), windowedBy(windows), emitStrategy(onWindowClose()), count({ store: 'counts' })) : grouped.pipe(groupByKey(), windowedBy(windows), count({ store: 'counts' }));
    const size = windows.type === 'time' ? windows.sizeMs : windows.type === 'sliding' ? windows.timeDifferenceMs : 0;
    const keySerde = windows.type === 'session' ? sessionWindowedSerde(string()) : timeWindowedSerde(string(), size);
    (final === 'suppress' ? table.suppress(untilWindowCloses()) : table)
      .mapValues((n) => String(n))
      .toStream()
      .pipe(toTopic('out', { key: keySerde, value: string() }));
    return builder;
  };
}

const windowInputs = (records: ReadonlyArray<readonly [string, number]>): Input[] => records.map(([key, ts]) => ['in', key, 'v', ts] as const);

function streamJoin(kind: 'inner' | 'left' | 'outer'): () => StreamsBuilder {
  return () => {
    const builder = new StreamsBuilder();
    const left = builder.stream('left', { key: string(), value: string() });
    const right = builder.stream('right', { key: string(), value: string() });
    const joiner = (l: string | null, r: string | null): string => `${l ?? 'null'}+${r ?? 'null'}`;
    const windows = joinWindows({ timeDifferenceMs: 10, graceMs: 5 });
    const step = kind === 'inner' ? join(right, joiner, windows) : kind === 'left' ? leftJoin(right, joiner, windows) : outerJoin(right, joiner, windows);
    left.pipe(step, toTopic('out', { key: string(), value: string() }));
    return builder;
  };
}

function streamTableJoin(kind: 'inner' | 'left'): () => StreamsBuilder {
  return () => {
    const builder = new StreamsBuilder();
    const table = builder.table('right', { key: string(), value: string(), store: 'right-store' });
    const joiner = (l: string, r: string | null): string => `${l}+${r ?? 'null'}`;
    builder.stream('left', { key: string(), value: string() }).pipe(kind === 'inner' ? join(table, joiner) : leftJoin(table, joiner), toTopic('out', { key: string(), value: string() }));
    return builder;
  };
}

function tableJoin(kind: 'inner' | 'left' | 'outer'): () => StreamsBuilder {
  return () => {
    const builder = new StreamsBuilder();
    const left = builder.table('left', { key: string(), value: string(), store: 'left-store' });
    const right = builder.table('right', { key: string(), value: string(), store: 'right-store' });
    const joiner = (l: string | null, r: string | null): string => `${l ?? 'null'}+${r ?? 'null'}`;
    const joined = kind === 'inner' ? left.join(right, joiner) : kind === 'left' ? left.leftJoin(right, joiner) : left.outerJoin(right, joiner);
    joined.toStream().pipe(toTopic('out', { key: string(), value: string() }));
    return builder;
  };
}

// Kafka's documented join inputs (the DSL documentation's semantics tables): alternating sides,
// one key, timestamps 1..15, nulls deleting table rows.
const joinInputs: Input[] = [
  ['left', 'A', 'a1', 1],
  ['right', 'A', 'b1', 2],
  ['left', 'A', 'a2', 3],
  ['right', 'A', 'b2', 4],
  ['left', 'A', null, 5],
  ['right', 'A', null, 6],
  ['left', 'A', 'a3', 7],
  ['right', 'A', 'b3', 8],
  ['left', 'A', 'a4', 30],
  ['right', 'A', 'b4', 31],
  ['left', 'B', 'x1', 50],
];

const time = tumbling({ sizeMs: 10, graceMs: 5 });
const scenarios: Scenario[] = [
  { name: 'tumbling count with a late record', build: windowedCountText(time, 'none'), inputs: windowInputs([['a', 1], ['a', 9], ['b', 12], ['a', 16], ['a', 3], ['a', 20], ['a', 4]]), key: timeWindowedSerde(string(), 10) },
  { name: 'hopping count', build: windowedCountText(hopping({ sizeMs: 10, advanceMs: 5, graceMs: 20 }), 'none'), inputs: windowInputs([['a', 7], ['a', 12], ['a', 3], ['b', 25]]), key: timeWindowedSerde(string(), 10) },
  { name: 'sliding count, out of order', build: windowedCountText(sliding({ timeDifferenceMs: 10, graceMs: 30 }), 'none'), inputs: windowInputs([['a', 20], ['a', 30], ['a', 25], ['a', 8]]), key: timeWindowedSerde(string(), 10) },
  { name: 'session count with merges', build: windowedCountText(session({ inactivityGapMs: 5, graceMs: 100 }), 'none'), inputs: windowInputs([['a', 0], ['a', 3], ['a', 20], ['a', 12], ['a', 16]]), key: sessionWindowedSerde(string()) },
  { name: 'emitStrategy(onWindowClose)', build: windowedCountText(time, 'emit'), inputs: windowInputs([['a', 1], ['a', 2], ['b', 5], ['a', 11], ['c', 15], ['a', 3], ['c', 40]]), key: timeWindowedSerde(string(), 10) },
  { name: 'suppress(untilWindowCloses)', build: windowedCountText(time, 'suppress'), inputs: windowInputs([['a', 1], ['a', 2], ['b', 3], ['a', 12], ['b', 15], ['a', 4], ['a', 30]]), key: timeWindowedSerde(string(), 10) },
  { name: 'KStream–KStream inner join', build: streamJoin('inner'), inputs: joinInputs, key: string() },
  { name: 'KStream–KStream left join', build: streamJoin('left'), inputs: joinInputs, key: string() },
  { name: 'KStream–KStream outer join', build: streamJoin('outer'), inputs: joinInputs, key: string() },
  { name: 'KStream–KTable inner join', build: streamTableJoin('inner'), inputs: joinInputs, key: string() },
  { name: 'KStream–KTable left join', build: streamTableJoin('left'), inputs: joinInputs, key: string() },
  { name: 'KTable–KTable inner join', build: tableJoin('inner'), inputs: joinInputs, key: string() },
  { name: 'KTable–KTable left join', build: tableJoin('left'), inputs: joinInputs, key: string() },
  { name: 'KTable–KTable outer join', build: tableJoin('outer'), inputs: joinInputs, key: string() },
];

function onDriver(scenario: Scenario): string[] {
  const driver = new TopologyTestDriver(scenario.build().build());
  const topics = new Map<string, ReturnType<TopologyTestDriver['createInputTopic']>>();
  for (const [topic, key, value, ts] of scenario.inputs) {
    let input = topics.get(topic);
    if (input === undefined) topics.set(topic, (input = driver.createInputTopic(topic, string(), string())));
    input.pipeInput(key, value, ts);
  }
  return driver.createOutputTopic('out', scenario.key, string()).readKeyValuesToList().map((r) => `${render(r.key)}=${String(r.value)}`);
}

async function onCluster(scenario: Scenario, seed: number): Promise<string[]> {
  const cluster = await createTestCluster({ seed, brokers: 1 });
  const admin = cluster.admin();
  const topics = [...new Set(scenario.inputs.map(([t]) => t))];
  for (const t of [...topics, 'out']) await cluster.settle(admin.createTopic(t, { partitions: 1, replicationFactor: 1 }));
  // Inputs are written before the app starts, each topic in its own order; the app chooses
  // across topics by timestamp, as the driver's piping order does here.
  const producer = cluster.producer();
  for (const t of topics) await cluster.settle(producer.send(t, scenario.inputs.filter(([topic]) => topic === t).map(([, key, value, timestamp]) => ({ key, value, timestamp }))));
  await cluster.settle(producer.close());
  const app = createStreamsApp(scenario.build().build(), cluster, { applicationId: `semantics-${seed}`, processingGuarantee: 'exactly_once_v2', statestoreCacheMaxBytes: 0 });
  await cluster.settle(app.start());
  await cluster.runUntil(() => app.metrics.processed >= scenario.inputs.length, { maxSimulatedMs: 60_000 });
  await cluster.settle(app.close());
  const consumer = cluster.consumer({ isolationLevel: 'read_committed', autoOffsetReset: 'earliest', enableAutoCommit: false });
  consumer.assign([{ topic: 'out', partition: 0 }]);
  const out: string[] = [];
  for (let idle = 0; idle < 3; ) {
    const batch = await cluster.settle(consumer.poll({ timeoutMs: 200 }));
    if (batch.length === 0) idle++;
    for (const r of batch) out.push(`${render(scenario.key.deserialize(r.key as Uint8Array, 'out'))}=${r.value === null ? 'null' : new TextDecoder().decode(r.value)}`);
  }
  await cluster.settle(consumer.close());
  return out;
}

describe('semantics on the driver and on the cluster', () => {
  scenarios.forEach((scenario, i) => {
    it(`${scenario.name}: the same outputs`, async () => {
      const driver = onDriver(scenario);
      expect(driver.length).toBeGreaterThan(0);
      expect(await onCluster(scenario, 70 + i)).toEqual(driver);
    });
  });
});
