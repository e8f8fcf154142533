import { describe, expect, it } from 'vitest';
import { createTestCluster } from '../../src/testing.ts';
import type { TestCluster } from '../../src/testing.ts';
import type { Consumer } from '../../src/clients/consumer/consumer.ts';
import type { MemberSubscription, PartitionAssignor, TopicPartition } from '../../src/clients/api.ts';

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

  it("carries an assignor's per-member userData from the leader to each member, before onPartitionsAssigned", async () => {
    const cluster = await createTestCluster({ seed: 23, brokers: 2, brokerConfig: { offsetsTopicNumPartitions: 2 } });
    await cluster.settle(cluster.admin().createTopic('u', { partitions: 2 }));
    const seen: Array<{ client: string; partitions: number; note: string | undefined; assignedYet: boolean }> = [];
    const assigned = new Set<string>();
    const assignorFor = (client: string): PartitionAssignor => ({
      name: 'noting',
      protocol: 'eager',
      assign: (partitionsPerTopic, subscriptions) => {
        const members = [...subscriptions].sort((x, y) => (x.memberId < y.memberId ? -1 : 1));
        const out: Record<string, TopicPartition[]> = Object.fromEntries(members.map((m) => [m.memberId, [] as TopicPartition[]]));
        for (let p = 0; p < (partitionsPerTopic.u ?? 0); p++) (out[(members[p % members.length] as MemberSubscription).memberId] as TopicPartition[]).push({ topic: 'u', partition: p });
        return out;
      },
      // Each member is told how many partitions it got, in the leader's words.
      assignmentUserData: (assignment) => Object.fromEntries(Object.entries(assignment).map(([m, tps]) => [m, new TextEncoder().encode(`you have ${tps.length}`)])),
      onAssignment: (partitions, userData) => seen.push({ client, partitions: partitions.length, note: userData === undefined ? undefined : new TextDecoder().decode(userData), assignedYet: assigned.has(client) }),
    });
    const make = (client: string): Consumer => cluster.consumer({ groupId: 'noting', clientId: client, autoOffsetReset: 'earliest', partitionAssignmentStrategy: [assignorFor(client)], rebalanceListener: { onPartitionsAssigned: () => void assigned.add(client) } });
    const a = make('a');
    const b = make('b');
    await cluster.settle(Promise.all([a.subscribe(['u']), b.subscribe(['u'])]));
    await pollUntilAssigned(cluster, [a, b], 2);
    const last = (client: string) => seen.filter((x) => x.client === client).at(-1);
    for (const client of ['a', 'b']) {
      expect(last(client)).toEqual({ client, partitions: 1, note: 'you have 1', assignedYet: expect.any(Boolean) });
      // The first onAssignment of each member came before its first onPartitionsAssigned.
      expect(seen.find((x) => x.client === client)?.assignedYet).toBe(false);
    }
    await cluster.settle(Promise.all([a.close(), b.close()]));
  });
});
