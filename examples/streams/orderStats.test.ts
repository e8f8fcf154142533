/**
 * The order-statistics example, checked against its oracle: on the TopologyTestDriver (no
 * cluster), and on a simulated 3-broker cluster under exactly_once_v2, where the store (an
 * interactive query) and the output topic (read_committed) must both equal it.
 */
import { describe, expect, it } from 'vitest';
import { json, string } from '../../src/index.ts';
import { createTestCluster, TopologyTestDriver } from '../../src/testing.ts';
import type { Customer, CustomerStats, Order } from './orderStats.ts';
import { createTopics, expectedStats, orderStatsTopology, sampleData, startOrderStats } from './orderStats.ts';

describe('examples/streams: order statistics', () => {
  it('computes per-customer statistics on the TopologyTestDriver', () => {
    const data = sampleData();
    const driver = new TopologyTestDriver(orderStatsTopology(), { applicationId: 'order-stats' });
    const customers = driver.createInputTopic('customers', string(), json<Customer>());
    for (const [id, c] of data.customers) customers.pipeInput(id, c);
    const orders = driver.createInputTopic('orders', string(), json<Order>());
    for (const o of data.orders) orders.pipeInput(o.orderId, o);
    const store = driver.getKeyValueStore<string, CustomerStats>('customer-stats');
    expect(new Map(store.all().map((kv) => [kv.key, kv.value]))).toEqual(expectedStats(data));
    const latest = driver.createOutputTopic('customer-stats', string(), json<CustomerStats>()).readKeyValuesToMap();
    expect(latest).toEqual(expectedStats(data));
    driver.close();
  });

  it('computes the same on a cluster, exactly once, queryable while it runs', async () => {
    const cluster = await createTestCluster({ seed: 7, brokers: 3 });
    await cluster.settle(createTopics(cluster));
    const data = sampleData(90);
    const producer = cluster.producer();
    await cluster.settle(producer.send('customers', data.customers.map(([id, c]) => ({ key: id, value: JSON.stringify(c) }))));
    const app = startOrderStats(cluster);
    await cluster.settle(app.start());
    await cluster.settle(producer.send('orders', data.orders.map((o) => ({ key: o.orderId, value: JSON.stringify(o) }))));
    const expected = expectedStats(data);
    const store = app.store<string, CustomerStats>('customer-stats');
    await cluster.runUntil(() => [...expected].every(([id, s]) => store.get(id)?.orders === s.orders), { maxSimulatedMs: 120_000 });
    expect(new Map(store.all().map((kv) => [kv.key, kv.value]))).toEqual(expected);
    await cluster.settle(app.close());

    const reader = cluster.consumer({ isolationLevel: 'read_committed', autoOffsetReset: 'earliest', enableAutoCommit: false });
    reader.assign([0, 1, 2].map((partition) => ({ topic: 'customer-stats', partition })));
    const latest = new Map<string, CustomerStats>();
    let updates = 0;
    for (let idle = 0; idle < 5; ) {
      const records = await cluster.settle(reader.poll({ timeoutMs: 200 }));
      if (records.length === 0) idle++;
      for (const r of records) {
        updates++;
        latest.set(new TextDecoder().decode(r.key as Uint8Array), JSON.parse(new TextDecoder().decode(r.value as Uint8Array)) as CustomerStats);
      }
    }
    expect(latest).toEqual(expected);
    // The record cache sends one update per customer per commit: no more than one per paid order,
    // at least one per customer, and (above) the last of each exactly the oracle.
    expect(updates).toBeLessThanOrEqual([...expected.values()].reduce((n, s) => n + s.orders, 0));
    expect(updates).toBeGreaterThanOrEqual(expected.size);
  });
});
