/**
 * A seek to the beginning or end that cannot be resolved yet stays pending (issue 14 item 4):
 * as Kafka's `SubscriptionState.requestOffsetReset`, the partition's position is unknown from the
 * seek on, nothing is fetched or returned from the old position, and the reset is resolved by
 * ListOffsets before the next fetch, once the leader is known again.
 */
import { describe, expect, it } from 'vitest';
import type { Consumer, ConsumerRecord } from '../../../src/clients/consumer/consumer.ts';
import type { TestCluster } from '../../../src/testing.ts';
import { createTestCluster } from '../../../src/testing.ts';

const TP = { topic: 't', partition: 0 };

async function produce(cluster: TestCluster, from: number, count: number): Promise<void> {
  const producer = cluster.producer({ acks: 1 });
  await cluster.settle(producer.send('t', Array.from({ length: count }, (_, i) => ({ value: `v${from + i}`, partition: 0 }))));
  await cluster.settle(producer.close());
}

async function pollFor(cluster: TestCluster, consumer: Consumer, polls: number): Promise<ConsumerRecord[]> {
  const got: ConsumerRecord[] = [];
  for (let i = 0; i < polls; i++) got.push(...(await cluster.settle(consumer.poll({ timeoutMs: 200 }))));
  return got;
}

/** A 1-replica partition whose leader is down: no leader to ask for offsets until it is back. */
async function consumedThenLeaderDown(seed: number): Promise<{ cluster: TestCluster; consumer: Consumer; leader: number }> {
  const cluster = await createTestCluster({ seed, brokers: 2, brokerConfig: { offsetsTopicNumPartitions: 1 } });
  await cluster.settle(cluster.admin().createTopic('t', { partitions: 1, replicationFactor: 1 }));
  await produce(cluster, 0, 10);
  const consumer = cluster.consumer({ autoOffsetReset: 'earliest', enableAutoCommit: false, requestTimeoutMs: 2_000 });
  consumer.assign([TP]);
  const first = await pollFor(cluster, consumer, 5);
  expect(first.map((r) => r.offset)).toEqual(Array.from({ length: 10 }, (_, i) => BigInt(i)));
  const leader = (await cluster.settle(cluster.admin().describeTopic('t'))).partitions[0]?.leader as number;
  cluster.broker(leader).crash();
  return { cluster, consumer, leader };
}

describe('consumer: a reset that cannot be resolved yet stays pending (issue 14 item 4)', () => {
  it('seekToBeginning while the leader is down: the next records start at the beginning, not at the old position', async () => {
    const { cluster, consumer, leader } = await consumedThenLeaderDown(14_401);
    await cluster.settle(consumer.seekToBeginning([TP]));
    // Nothing comes from the old position while the reset waits for a leader.
    expect(await pollFor(cluster, consumer, 3)).toEqual([]);
    await cluster.settle(cluster.broker(leader).restart());
    await produce(cluster, 10, 5);
    const got = await pollFor(cluster, consumer, 20);
    expect(got.map((r) => r.offset)).toEqual(Array.from({ length: 15 }, (_, i) => BigInt(i)));
    expect(await cluster.settle(consumer.position(TP))).toBe(15n);
    await cluster.settle(cluster.stop());
  });

  it('a seek after a pending reset wins over it', async () => {
    const { cluster, consumer, leader } = await consumedThenLeaderDown(14_402);
    await cluster.settle(consumer.seekToBeginning([TP]));
    consumer.seek(TP, 7n);
    await cluster.settle(cluster.broker(leader).restart());
    const got = await pollFor(cluster, consumer, 20);
    expect(got.map((r) => r.offset)).toEqual([7n, 8n, 9n]);
    await cluster.settle(cluster.stop());
  });

  it('seekToEnd while the leader is down resolves to the end once it is back', async () => {
    const { cluster, consumer, leader } = await consumedThenLeaderDown(14_403);
    consumer.seek(TP, 2n);
    await cluster.settle(consumer.seekToEnd([TP]));
    await cluster.settle(cluster.broker(leader).restart());
    expect(await cluster.settle(consumer.position(TP))).toBe(10n);
    await produce(cluster, 10, 2);
    const got = await pollFor(cluster, consumer, 20);
    expect(got.map((r) => r.offset)).toEqual([10n, 11n]);
    await cluster.settle(cluster.stop());
  });
});
