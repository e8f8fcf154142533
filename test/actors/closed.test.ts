/**
 * Use after `cluster.stop()` (issue 14, item 11): every call on a stopped cluster, or on a client
 * it closed, fails at once with ClosedError — no waiting out a timeout, no misleading
 * "topic does not exist" or NETWORK_EXCEPTION.
 */
import { describe, expect, it } from 'vitest';
import { ClosedError } from '../../src/errors.ts';
import { createTestCluster } from '../../src/testing.ts';
import type { TestCluster } from '../../src/testing.ts';

/** Settles `promise` within a little simulated time: "at once" means no timeout was waited out. */
async function quickly<T>(cluster: TestCluster, promise: Promise<T>): Promise<unknown> {
  const started = cluster.simulatedClock.now();
  const outcome = await cluster.settle(promise, { maxSimulatedMs: 1_000 }).then(
    (value) => ({ value }),
    (error: unknown) => ({ error }),
  );
  expect(cluster.simulatedClock.now() - started).toBeLessThan(1_000);
  return 'error' in outcome ? outcome.error : outcome;
}

async function stoppedCluster(seed: number): Promise<TestCluster> {
  const cluster = await createTestCluster({ seed, brokers: 2 });
  await cluster.settle(cluster.admin().createTopic('orders', { partitions: 2, replicationFactor: 2 }));
  return cluster;
}

describe('use after cluster.stop()', () => {
  it('new clients cannot be made from a stopped cluster', async () => {
    const cluster = await stoppedCluster(1);
    await cluster.settle(cluster.stop());
    expect(() => cluster.producer()).toThrow(ClosedError);
    expect(() => cluster.consumer({ groupId: 'g' })).toThrow(ClosedError);
    expect(() => cluster.admin()).toThrow(ClosedError);
    expect(() => cluster.pipeline({ groupId: 'g', from: 'orders', to: 'out', process: () => undefined })).toThrow(/cluster is closed/);
    await expect(cluster.broker(1).restart()).rejects.toBeInstanceOf(ClosedError);
    await expect(cluster.controller(0).restart()).rejects.toBeInstanceOf(ClosedError);
    // A second stop is harmless.
    await cluster.settle(cluster.stop());
  });

  it('clients the cluster closed reject every call at once with ClosedError', async () => {
    const cluster = await stoppedCluster(2);
    const admin = cluster.admin();
    const producer = cluster.producer();
    const txProducer = cluster.producer({ transactionalId: 'tx-1' });
    const consumer = cluster.consumer({ groupId: 'g', autoOffsetReset: 'earliest' });
    consumer.assign([{ topic: 'orders', partition: 0 }]);
    await cluster.settle(cluster.stop());

    const calls: Array<[string, () => Promise<unknown>]> = [
      ['admin.createTopic', () => admin.createTopic('more', { partitions: 1 })],
      ['admin.listTopics', () => admin.listTopics()],
      ['admin.describeTopic', () => admin.describeTopic('orders')],
      ['admin.listOffsets', () => admin.listOffsets('orders')],
      ['admin.listGroups', () => admin.listGroups()],
      ['admin.describeGroup', () => admin.describeGroup('g')],
      ['admin.deleteTopic', () => admin.deleteTopic('orders')],
      ['producer.send', () => producer.send('orders', { value: 'x' })],
      ['producer.flush', () => producer.flush()],
      ['producer.initTransactions', () => txProducer.initTransactions()],
      ['consumer.poll', () => consumer.poll({ timeoutMs: 100 })],
      ['consumer.commit', () => consumer.commit([{ topic: 'orders', partition: 0, offset: 1n }])],
      ['consumer.committed', () => consumer.committed([{ topic: 'orders', partition: 0 }])],
      ['consumer.position', () => consumer.position({ topic: 'orders', partition: 0 })],
      ['consumer.subscribe', () => consumer.subscribe(['orders'])],
    ];
    for (const [name, call] of calls) {
      const error = await quickly(cluster, Promise.resolve().then(call));
      expect(error, name).toBeInstanceOf(ClosedError);
      expect(String((error as Error).message), name).toMatch(/is closed/);
    }
  });
});
