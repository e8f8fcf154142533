/**
 * Joins on a cluster (createStreamsApp on simulated time): a windowed stream-stream join and a
 * stream-table left join over two-partition topics under exactly_once_v2, read back from their
 * output topics; and the start refusing join inputs that are not co-partitioned.
 */
import { describe, expect, it } from 'vitest';
import { TopologyError } from '../../src/errors.ts';
import { createStreamsApp } from '../../src/streams/app.ts';
import { StreamsBuilder } from '../../src/streams/builder.ts';
import { join, leftJoin } from '../../src/streams/joins/streamJoins.ts';
import { toTopic } from '../../src/streams/operators.ts';
import { string } from '../../src/streams/serdes.ts';
import { joinWindows } from '../../src/streams/windows.ts';
import { createTestCluster } from '../../src/testing.ts';
import type { TestCluster } from '../../src/testing.ts';

const T0 = 1_700_000_000_000;

function topology() {
  const builder = new StreamsBuilder();
  const impressions = builder.stream('impressions', { key: string(), value: string() });
  const clicks = builder.stream('clicks', { key: string(), value: string() });
  impressions.pipe(join(clicks, (i, c) => `${i}>${c}`, joinWindows({ timeDifferenceMs: 10_000, graceMs: 0 })), toTopic('ad-clicks', { value: string() }));
  const users = builder.table('users', { key: string(), value: string(), store: 'users' });
  builder.stream('orders', { key: string(), value: string() }).pipe(leftJoin(users, (o, u) => `${o}@${u ?? '-'}`), toTopic('enriched', { value: string() }));
  return builder.build();
}

async function send(cluster: TestCluster, topic: string, records: Array<[string, string, number]>): Promise<void> {
  const producer = cluster.producer();
  await cluster.settle(producer.send(topic, records.map(([key, value, timestamp]) => ({ key, value, timestamp }))));
  await cluster.settle(producer.close());
}

async function read(cluster: TestCluster, topic: string, partitions: number): Promise<string[]> {
  const consumer = cluster.consumer({ isolationLevel: 'read_committed', autoOffsetReset: 'earliest', enableAutoCommit: false });
  consumer.assign(Array.from({ length: partitions }, (_, partition) => ({ topic, partition })));
  const out: string[] = [];
  const text = new TextDecoder();
  for (let idle = 0; idle < 5; ) {
    const batch = await cluster.settle(consumer.poll({ timeoutMs: 200 }));
    if (batch.length === 0) idle++;
    for (const r of batch) out.push(`${text.decode(r.key as Uint8Array)}=${text.decode(r.value as Uint8Array)}`);
  }
  await cluster.settle(consumer.close());
  return out.sort();
}

describe('joins on a cluster', () => {
  it('joins two streams within their window and a stream with a table, exactly once, over co-partitioned topics', async () => {
    const cluster = await createTestCluster({ seed: 31, brokers: 3 });
    const admin = cluster.admin();
    for (const topic of ['impressions', 'clicks', 'users', 'orders', 'ad-clicks', 'enriched']) await cluster.settle(admin.createTopic(topic, { partitions: 2, replicationFactor: 3 }));
    await send(cluster, 'users', [['u1', 'Ada', T0], ['u2', 'Bob', T0], ['u3', 'Cy', T0]]);
    await send(cluster, 'impressions', Array.from({ length: 6 }, (_, i) => [`ad${i}`, `imp${i}`, T0 + 1_000 + i] as [string, string, number]));
    // ad0..ad3 clicked within 10 s; ad4 a minute later (no join); ad5 never.
    await send(cluster, 'clicks', [['ad0', 'c0', T0 + 2_000], ['ad1', 'c1', T0 + 3_000], ['ad2', 'c2', T0 + 11_003], ['ad3', 'c3', T0 + 4_000], ['ad4', 'c4', T0 + 61_000]]);
    const app = createStreamsApp(topology(), cluster, { applicationId: 'joins', processingGuarantee: 'exactly_once_v2', replicationFactor: 3 });
    await cluster.settle(app.start());
    // The table first, so the orders find it (a stream-table join is not temporal).
    await cluster.runUntil(() => app.store<string, string>('users').get('u3') === 'Cy', { maxSimulatedMs: 60_000 });
    await send(cluster, 'orders', [['u1', 'o1', T0 + 70_000], ['u2', 'o2', T0 + 70_001], ['u9', 'o9', T0 + 70_002], ['u3', 'o3', T0 + 70_003]]);
    await cluster.runUntil(() => app.metrics.perTask.reduce((n, t) => n + t.processed, 0) >= 3 + 6 + 5 + 4, { maxSimulatedMs: 60_000 });
    await cluster.runFor(2_000);
    expect(app.state).toBe('RUNNING');
    await cluster.settle(app.close());
    // ad2's click came 10 001 ms after its impression: outside the window.
    expect(await read(cluster, 'ad-clicks', 2)).toEqual(['ad0=imp0>c0', 'ad1=imp1>c1', 'ad3=imp3>c3']);
    expect(await read(cluster, 'enriched', 2)).toEqual(['u1=o1@Ada', 'u2=o2@Bob', 'u3=o3@Cy', 'u9=o9@-']);
  });

  it('joins tables by foreign key across different partition counts: the internal topics follow each side', async () => {
    const cluster = await createTestCluster({ seed: 33, brokers: 3 });
    const admin = cluster.admin();
    for (const [topic, partitions] of [['orders', 3], ['customers', 2], ['order-views', 3]] as const) await cluster.settle(admin.createTopic(topic, { partitions, replicationFactor: 3 }));
    const builder = new StreamsBuilder();
    const orders = builder.table('orders', { key: string(), value: string(), store: 'orders' });
    const customers = builder.table('customers', { key: string(), value: string(), store: 'customers' });
    // An order's value is "<customer>:<item>".
    orders
      .join(customers, (o) => o.split(':')[0] as string, (o, c) => `${o.split(':')[1] as string} for ${c}`, { name: 'order-customer', store: 'order-views' })
      .toStream()
      .pipe(toTopic('order-views', { value: string() }));
    await send(cluster, 'customers', [['c1', 'Ada', T0], ['c2', 'Bob', T0], ['c3', 'Cy', T0]]);
    await send(cluster, 'orders', Array.from({ length: 9 }, (_, i) => [`o${i}`, `c${(i % 3) + 1}:item${i}`, T0 + 1_000 + i] as [string, string, number]));
    const app = createStreamsApp(builder.build(), cluster, { applicationId: 'fk', processingGuarantee: 'exactly_once_v2', replicationFactor: 3 });
    await cluster.settle(app.start());
    expect((await cluster.settle(admin.describeTopic('fk-order-customer-subscription-registration-topic'))).partitions).toHaveLength(2);
    expect((await cluster.settle(admin.describeTopic('fk-order-customer-subscription-response-topic'))).partitions).toHaveLength(3);
    const names = ['Ada', 'Bob', 'Cy'];
    const expected = Array.from({ length: 9 }, (_, i) => `item${i} for ${names[i % 3] as string}`);
    await cluster.runUntil(() => expected.every((v, i) => app.store<string, string>('order-views').get(`o${i}`) === v), { maxSimulatedMs: 120_000 });
    // A customer renamed: every order of theirs follows.
    await send(cluster, 'customers', [['c2', 'Bea', T0 + 5_000]]);
    await cluster.runUntil(() => [1, 4, 7].every((i) => app.store<string, string>('order-views').get(`o${i}`) === `item${i} for Bea`), { maxSimulatedMs: 120_000 });
    await cluster.settle(app.close());
    const views = await read(cluster, 'order-views', 3);
    expect(views).toEqual(expect.arrayContaining(['o4=item4 for Bob', 'o4=item4 for Bea', 'o0=item0 for Ada']));
    expect(views).toHaveLength(12);
  });

  it('refuses to start when the two sides of a join have different partition counts, naming the topics', async () => {
    const cluster = await createTestCluster({ seed: 32 });
    const admin = cluster.admin();
    for (const [topic, partitions] of [['impressions', 2], ['clicks', 2], ['users', 3], ['orders', 2]] as const) await cluster.settle(admin.createTopic(topic, { partitions }));
    const app = createStreamsApp(topology(), cluster, { applicationId: 'joins-bad' });
    const failure = cluster.settle(app.start());
    await expect(failure).rejects.toThrow(TopologyError);
    await expect(failure).rejects.toThrow(/"users" \(3 partitions\).*"orders" \(2 partitions\)|"orders" \(2 partitions\).*"users" \(3 partitions\)/);
    expect(app.state).toBe('ERROR');
  });
});
