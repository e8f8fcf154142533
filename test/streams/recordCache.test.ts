/**
 * The record cache (`statestore.cache.max.bytes`, Kafka's 10 MiB default): a materialized table's
 * updates of one key between commits reach downstream as one record (the latest value, the value
 * before the first update as the old one); the test driver flushes after every input, as Kafka's;
 * a budget of 0 forwards every update; on a cluster under exactly-once the deduplicated output
 * still ends at exactly the oracle.
 */
import { describe, expect, it } from 'vitest';
import { createStreamsApp } from '../../src/streams/app.ts';
import { StreamsBuilder } from '../../src/streams/builder.ts';
import { count, flatMapValues, groupByKey, toTopic } from '../../src/streams/operators.ts';
import { int32, string } from '../../src/streams/serdes.ts';
import { TopologyTestDriver } from '../../src/streams/testDriver.ts';
import { createTestCluster } from '../../src/testing.ts';
import { oracle, orderStats, readOutput, sendOrders } from './orderStatsFixture.ts';

function tripled() {
  const builder = new StreamsBuilder();
  builder
    .stream('in', { key: string(), value: string() })
    .pipe(flatMapValues((v) => [v, v, v]), groupByKey(), count({ store: 'counts' }))
    .toStream()
    .pipe(toTopic('out', { value: int32() }));
  return builder.build();
}

describe('record cache', () => {
  it('collapses the updates one input makes to a key (the driver flushes after each input)', () => {
    const driver = new TopologyTestDriver(tripled());
    const input = driver.createInputTopic('in', string(), string());
    const out = driver.createOutputTopic('out', string(), int32());
    input.pipeInput('a', 'x', 1);
    input.pipeInput('a', 'y', 2);
    input.pipeInput('b', 'z', 3);
    expect(out.readKeyValuesToList()).toEqual([
      { key: 'a', value: 3 },
      { key: 'a', value: 6 },
      { key: 'b', value: 3 },
    ]);
  });

  it('forwards every update with a budget of 0', () => {
    const driver = new TopologyTestDriver(tripled(), { statestoreCacheMaxBytes: 0 });
    driver.createInputTopic('in', string(), string()).pipeInput('a', 'x', 1);
    expect(driver.createOutputTopic('out', string(), int32()).readValuesToList()).toEqual([1, 2, 3]);
  });

  it('on a cluster, emits fewer updates per commit and still ends at exactly the oracle', async () => {
    const cluster = await createTestCluster({ seed: 33, brokers: 3 });
    const admin = cluster.admin();
    await cluster.settle(admin.createTopic('orders', { partitions: 3, replicationFactor: 3 }));
    await cluster.settle(admin.createTopic('orders-per-customer', { partitions: 3, replicationFactor: 3 }));
    await sendOrders(cluster, 0, 300);
    const app = createStreamsApp(orderStats(), cluster, { applicationId: 'cached-stats', processingGuarantee: 'exactly_once_v2', replicationFactor: 3 });
    await cluster.settle(app.start());
    const expected = oracle(300);
    await cluster.runUntil(() => [...expected].every(([c, n]) => app.store<string, number>('orders-per-customer').get(c) === n), { maxSimulatedMs: 120_000 });
    await cluster.settle(app.close());
    const out = await readOutput(cluster, 3);
    expect(out.latest).toEqual(expected);
    const updates = [...expected.values()].reduce((a, b) => a + b, 0);
    expect(out.records).toBeLessThan(updates);
    expect(out.records).toBeGreaterThanOrEqual(expected.size);
  });
});
