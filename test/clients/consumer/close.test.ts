/**
 * `consumer.close()` waits for its last commit and its leave at most 30 s, as Kafka's default close
 * timeout: a consumer whose network is gone (its coordinator never answers) still closes.
 */
import { describe, expect, it } from 'vitest';
import { createTestCluster } from '../../../src/testing.ts';
import type { Message, NodeId } from '../../../src/transport/transport.ts';

describe('consumer close', () => {
  it('gives up on an unreachable coordinator after 30 s instead of hanging', async () => {
    const cluster = await createTestCluster({ seed: 3, brokers: 1 });
    await cluster.settle(cluster.admin().createTopic('t', { partitions: 1, replicationFactor: 1 }));
    const consumer = cluster.consumer({ clientId: 'gone', groupId: 'g', enableAutoCommit: true, autoOffsetReset: 'earliest' });
    await cluster.settle(consumer.subscribe(['t']));
    await cluster.settle(consumer.poll({ timeoutMs: 5_000 }));
    // From now on nothing the consumer sends arrives, and nothing reaches it.
    const send = cluster.network.send.bind(cluster.network);
    cluster.network.send = (from: NodeId, to: NodeId, message: Message): void => {
      if (from.startsWith('client:gone') || to.startsWith('client:gone')) return;
      send(from, to, message);
    };
    const began = cluster.clock.now();
    await cluster.settle(consumer.close(), { maxSimulatedMs: 120_000 });
    expect(cluster.clock.now() - began).toBeLessThanOrEqual(30_000);
    await expect(consumer.poll({ timeoutMs: 1 })).rejects.toThrow(/closed/);
  });
});
