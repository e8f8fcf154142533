import { describe, expect, it } from 'vitest';
import { createTestCluster } from '../../src/testing.ts';
import type { TestCluster } from '../../src/testing.ts';
import type { Consumer } from '../../src/clients/consumer/consumer.ts';

async function pollUntilAssigned(cluster: TestCluster, consumers: Consumer[], total: number): Promise<void> {
  for (let i = 0; i < 200; i++) {
    await cluster.settle(Promise.all(consumers.map((c) => c.poll({ timeoutMs: 50 }))));
    if (consumers.reduce((n, c) => n + c.assignment().length, 0) === total && consumers.every((c) => c.assignment().length > 0)) return;
  }
  throw new Error('assignment did not settle');
}

describe('group membership end to end', () => {
  it('a static member that restarts within session.timeout.ms gets its partitions back without a rebalance', async () => {
    const cluster = await createTestCluster({ seed: 21, brokers: 2, brokerConfig: { offsetsTopicNumPartitions: 2 } });
    await cluster.settle(cluster.admin().createTopic('s', { partitions: 4 }));
    const rebalances: number[] = [];
    cluster.inspect((e) => {
      if (e.type === '@samsa.group.rebalanceStarted') rebalances.push(cluster.clock.now());
    });
    const options = { groupId: 'static', autoOffsetReset: 'earliest' as const, sessionTimeoutMs: 30_000, partitionAssignmentStrategy: ['range'] };
    const a = cluster.consumer({ ...options, clientId: 'a', groupInstanceId: 'instance-a' });
    const b = cluster.consumer({ ...options, clientId: 'b', groupInstanceId: 'instance-b' });
    await cluster.settle(Promise.all([a.subscribe(['s']), b.subscribe(['s'])]));
    await pollUntilAssigned(cluster, [a, b], 4);
    const generation = a.groupMetadata().generationId;
    const before = a.assignment();
    const rebalancesBefore = rebalances.length;

    // Restart "a": a static member sends no LeaveGroup on close, and rejoins with the same instance id.
    await cluster.settle(a.close());
    await cluster.runFor(5_000);
    const a2 = cluster.consumer({ ...options, clientId: 'a2', groupInstanceId: 'instance-a' });
    await cluster.settle(a2.subscribe(['s']));
    for (let i = 0; i < 20 && a2.assignment().length === 0; i++) await cluster.settle(Promise.all([a2.poll({ timeoutMs: 50 }), b.poll({ timeoutMs: 50 })]));
    expect(a2.assignment()).toEqual(before);
    expect(a2.groupMetadata().generationId).toBe(generation);
    expect(rebalances.length).toBe(rebalancesBefore);
  });

  it('a member that stops polling for max.poll.interval.ms leaves, and its partitions move to the others', async () => {
    const cluster = await createTestCluster({ seed: 22, brokers: 2, brokerConfig: { offsetsTopicNumPartitions: 2 } });
    await cluster.settle(cluster.admin().createTopic('p', { partitions: 4 }));
    const options = { groupId: 'pollers', autoOffsetReset: 'earliest' as const, maxPollIntervalMs: 20_000, sessionTimeoutMs: 60_000, partitionAssignmentStrategy: ['range'] };
    const slow = cluster.consumer({ ...options, clientId: 'slow' });
    const busy = cluster.consumer({ ...options, clientId: 'busy' });
    await cluster.settle(Promise.all([slow.subscribe(['p']), busy.subscribe(['p'])]));
    await pollUntilAssigned(cluster, [slow, busy], 4);
    const left: string[] = [];
    cluster.network.observe((e) => {
      if (e.type === 'delivered' && e.message.type === 'leaveGroup.request') left.push(e.from);
    });
    // Only "busy" keeps polling; "slow" is stuck in processing for longer than max.poll.interval.ms.
    for (let t = 0; t < 30; t++) {
      await cluster.settle(busy.poll({ timeoutMs: 100 }));
      await cluster.runFor(1_000);
    }
    expect(left).toEqual(['client:slow']);
    expect(busy.assignment()).toHaveLength(4);
  });
});
