import { describe, expect, it } from 'vitest';
import { createTestCluster } from '../../src/testing.ts';

describe('consumer groups on the cluster', () => {
  it('lists and describes groups, and committed offsets survive a restart of the coordinator broker', async () => {
    const cluster = await createTestCluster({ seed: 11, brokers: 3, brokerConfig: { offsetsTopicNumPartitions: 3 } });
    const admin = cluster.admin();
    await cluster.settle(admin.createTopic('t', { partitions: 2 }));
    await cluster.settle(cluster.producer({ acks: 1 }).send('t', Array.from({ length: 20 }, (_, i) => ({ key: `k${i}`, value: `v${i}` }))));
    const consumer = cluster.consumer({ groupId: 'g', autoOffsetReset: 'earliest', enableAutoCommit: false });
    await cluster.settle(consumer.subscribe(['t']));
    let read = 0;
    while (read < 20) read += (await cluster.settle(consumer.poll({ timeoutMs: 100 }))).length;
    await cluster.settle(consumer.commit());
    const committed = await cluster.settle(consumer.committed());
    expect(committed.reduce((sum, c) => sum + c.offset, 0n)).toBe(20n);

    const groups = await cluster.settle(admin.listGroups());
    expect(groups).toEqual([{ groupId: 'g', state: 'Stable', protocolType: 'consumer' }]);
    const described = await cluster.settle(admin.describeGroup('g'));
    expect(described).toMatchObject({ state: 'Stable', protocolType: 'consumer', protocol: 'range' });
    expect(described.members).toHaveLength(1);

    // Restart every broker: the coordinator reloads the offsets from __consumer_offsets.
    await cluster.settle(consumer.close());
    for (const id of cluster.brokerIds) cluster.broker(id).crash();
    for (const id of cluster.brokerIds) await cluster.broker(id).restart();
    await cluster.runUntil(() => cluster.brokerIds.every((id) => cluster.brokerInternals(id)?.state === 'running'));
    const again = cluster.consumer({ groupId: 'g', autoOffsetReset: 'earliest', enableAutoCommit: false });
    const after = await cluster.settle((async () => {
      again.assign([0, 1].map((partition) => ({ topic: 't', partition })));
      return again.committed();
    })());
    expect(after).toEqual(committed);
    // And consumption resumes exactly there: nothing new to read.
    expect(await cluster.settle(again.poll({ timeoutMs: 200 }))).toEqual([]);
  });
});
