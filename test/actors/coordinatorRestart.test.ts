/**
 * End to end: the group's metadata lives in __consumer_offsets, so a coordinator that crashes
 * and comes back reloads the group Stable in the same generation, and its live members carry on
 * without a rebalance.
 */
import { describe, expect, it } from 'vitest';
import { LOG_OVERHEAD, decodeRecordBatch } from '../../src/record/recordBatch.ts';
import type { DecodedRecord } from '../../src/record/recordBatch.ts';
import type { PartitionLog } from '../../src/log/partitionLog.ts';
import { createTestCluster } from '../../src/testing.ts';
import type { TestCluster } from '../../src/testing.ts';
import type { Consumer, ConsumerRecord } from '../../src/clients/consumer/consumer.ts';
import { OFFSETS_TOPIC, decodeGroupMetadataValue, decodeOffsetsTopicKey, offsetsPartitionFor } from '../../src/actors/groupCoordinator/offsetsTopic.ts';

const OFFSETS_PARTITIONS = 3;

/** Every record of a partition log, oldest first. */
function recordsOf(log: PartitionLog): DecodedRecord[] {
  const out: DecodedRecord[] = [];
  let offset = log.logStartOffset;
  while (offset < log.logEndOffset) {
    const { records } = log.read(offset, { maxBytes: 1 << 20 });
    if (records.length === 0) break;
    for (let p = 0; p < records.length; ) {
      const batch = decodeRecordBatch(records, p);
      out.push(...batch.records.filter((r) => r.offset >= offset));
      offset = batch.header.baseOffset + BigInt(batch.header.lastOffsetDelta) + 1n;
      p += batch.header.batchLength + LOG_OVERHEAD;
    }
  }
  return out;
}

/** Polls every consumer once (concurrently), returning what each got. */
async function pollAll(cluster: TestCluster, consumers: readonly Consumer[], timeoutMs = 100): Promise<ConsumerRecord[][]> {
  return cluster.settle(Promise.all(consumers.map((c) => c.poll({ timeoutMs }))));
}

describe('coordinator restart', () => {
  it('reloads a Stable group from __consumer_offsets: members keep consuming in the same generation, nothing is re-delivered', async () => {
    const cluster = await createTestCluster({ seed: 31, brokers: 3, brokerConfig: { offsetsTopicNumPartitions: OFFSETS_PARTITIONS } });
    const admin = cluster.admin();
    await cluster.settle(admin.createTopic('t', { partitions: 2 }));
    const producer = cluster.producer();
    await cluster.settle(producer.send('t', Array.from({ length: 20 }, (_, i) => ({ key: `k${i}`, value: `v${i}` }))));

    const rebalances: number[] = [];
    cluster.inspect((e) => {
      if (e.type === '@samsa.group.rebalanceStarted') rebalances.push(cluster.clock.now());
    });
    const options = { groupId: 'g', autoOffsetReset: 'earliest' as const, partitionAssignmentStrategy: ['range'] };
    const consumers = [cluster.consumer({ ...options, clientId: 'a' }), cluster.consumer({ ...options, clientId: 'b' })];
    const [a, b] = consumers as [Consumer, Consumer];
    await cluster.settle(Promise.all(consumers.map((c) => c.subscribe(['t']))));

    const received: string[] = [];
    const consume = (batches: ConsumerRecord[][]): void => {
      for (const records of batches) for (const r of records) received.push(`${r.partition}@${r.offset}:${r.key === null ? '' : new TextDecoder().decode(r.key)}`);
    };
    for (let i = 0; i < 300 && !(received.length === 20 && a.assignment().length === 1 && b.assignment().length === 1); i++) consume(await pollAll(cluster, consumers));
    expect(received).toHaveLength(20);
    const generation = a.groupMetadata().generationId;
    expect(generation).toBeGreaterThan(0);
    expect(b.groupMetadata().generationId).toBe(generation);
    const members = [a.groupMetadata().memberId, b.groupMetadata().memberId];
    const assignments = [a.assignment(), b.assignment()];

    // The broker leading the group's offsets partition (replication factor 1) is its coordinator.
    const partition = offsetsPartitionFor('g', OFFSETS_PARTITIONS);
    const coordinator = cluster.brokerIds.find((id) => cluster.brokerInternals(id)?.logOf(OFFSETS_TOPIC, partition) !== undefined) as number;
    expect(coordinator).toBeDefined();
    const described = await cluster.settle(admin.describeGroup('g'));
    expect(described.state).toBe('Stable');

    // Crash it for a few seconds while both members keep polling, then bring it back.
    const rebalancesBefore = rebalances.length;
    const crashedAt = cluster.clock.now();
    cluster.broker(coordinator).crash();
    for (let i = 0; i < 30; i++) consume(await pollAll(cluster, consumers));
    await cluster.settle(cluster.broker(coordinator).restart());
    await cluster.runUntil(() => cluster.brokerInternals(coordinator)?.state === 'running');
    const restartedAt = cluster.clock.now();
    expect(restartedAt).toBeGreaterThan(crashedAt);

    // The log holds the group's metadata record for the generation, as Kafka writes it.
    const log = recordsOf(cluster.brokerInternals(coordinator)?.logOf(OFFSETS_TOPIC, partition) as PartitionLog);
    const groupRecords = log.filter((r) => r.key !== null && decodeOffsetsTopicKey(r.key)?.kind === 'group');
    const last = groupRecords.at(-1);
    expect(last?.value).not.toBeNull();
    const stored = decodeGroupMetadataValue(last?.value as Uint8Array, 'g');
    expect(stored).toMatchObject({ generation, protocol: 'range', protocolType: 'consumer' });
    expect(stored.members.map((m) => m.memberId).sort()).toEqual([...members].sort());

    // More data; both keep consuming for well past session.timeout.ms (45 s) after the restart.
    await cluster.settle(producer.send('t', Array.from({ length: 20 }, (_, i) => ({ key: `k${20 + i}`, value: `v${20 + i}` }))));
    while (cluster.clock.now() < restartedAt + 60_000) consume(await pollAll(cluster, consumers, 500));

    expect(received).toHaveLength(40);
    expect(new Set(received).size).toBe(40);
    expect(received.map((r) => r.split(':')[1]).sort()).toEqual(Array.from({ length: 40 }, (_, i) => `k${i}`).sort());
    expect([a.groupMetadata().generationId, b.groupMetadata().generationId]).toEqual([generation, generation]);
    expect([a.groupMetadata().memberId, b.groupMetadata().memberId]).toEqual(members);
    expect([a.assignment(), b.assignment()]).toEqual(assignments);
    expect(rebalances.slice(rebalancesBefore)).toEqual([]);
    const after = await cluster.settle(admin.describeGroup('g'));
    expect(after.state).toBe('Stable');
    expect(after.members.map((m) => m.memberId).sort()).toEqual([...members].sort());
  });
});
