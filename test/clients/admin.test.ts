import { describe, expect, it } from 'vitest';
import { InvalidConfigError, KafkaProtocolError } from '../../src/errors.ts';
import type { TestCluster } from '../../src/testing.ts';
import { createTestCluster } from '../../src/testing.ts';

async function rejection(cluster: TestCluster, promise: Promise<unknown>): Promise<unknown> {
  return cluster.settle(promise).then(
    () => {
      throw new Error('expected the call to fail');
    },
    (e: unknown) => e,
  );
}

async function expectKafkaError(cluster: TestCluster, promise: Promise<unknown>, code: string): Promise<KafkaProtocolError> {
  const error = await rejection(cluster, promise);
  expect(error).toBeInstanceOf(KafkaProtocolError);
  expect((error as KafkaProtocolError).code).toBe(code);
  return error as KafkaProtocolError;
}

describe('admin client', () => {
  it('creates a topic that describeTopic and listTopics then report', async () => {
    const cluster = await createTestCluster({ seed: 101, brokers: 3 });
    const admin = cluster.admin();
    await cluster.settle(admin.createTopic('orders', { partitions: 6 }));
    await cluster.settle(admin.createTopic('payments', { partitions: 1, config: { 'cleanup.policy': 'compact' } }));
    expect(await cluster.settle(admin.listTopics())).toEqual(['orders', 'payments']);

    const orders = await cluster.settle(admin.describeTopic('orders'));
    expect(orders.name).toBe('orders');
    expect(orders.internal).toBe(false);
    expect(orders.topicId).toMatch(/^[0-9a-f]{32}$/);
    expect(orders.partitions.map((p) => p.partition)).toEqual([0, 1, 2, 3, 4, 5]);
    for (const p of orders.partitions) {
      expect([1, 2, 3]).toContain(p.leader);
      expect(p.replicas).toEqual([p.leader]);
      expect(p.isr).toEqual([p.leader]);
    }
    // Kafka's rack-unaware placement spreads 6 partitions evenly over 3 brokers.
    for (const id of [1, 2, 3]) expect(orders.partitions.filter((p) => p.leader === id)).toHaveLength(2);
    expect(orders.overrides).toEqual({});
    expect(orders.config['cleanup.policy']).toBe('delete');

    const payments = await cluster.settle(admin.describeTopic('payments'));
    expect(payments.overrides).toEqual({ 'cleanup.policy': 'compact' });
    expect(payments.config['cleanup.policy']).toBe('compact');
    expect(payments.topicId).not.toBe(orders.topicId);
    await cluster.settle(cluster.stop());
  });

  it('lists internal topics only when asked', async () => {
    const cluster = await createTestCluster({ seed: 102, brokers: 1, brokerConfig: { offsetsTopicNumPartitions: 3 } });
    const admin = cluster.admin();
    await cluster.settle(admin.createTopic('t'));
    // Using a group creates __consumer_offsets.
    const consumer = cluster.consumer({ groupId: 'g', enableAutoCommit: false });
    consumer.assign([{ topic: 't', partition: 0 }]);
    await cluster.settle(consumer.commit([{ topic: 't', partition: 0, offset: 0n }]));
    expect(await cluster.settle(admin.listTopics())).toEqual(['t']);
    expect(await cluster.settle(admin.listTopics({ includeInternal: true }))).toEqual(['__consumer_offsets', 't']);
    expect((await cluster.settle(admin.describeTopic('__consumer_offsets'))).internal).toBe(true);
    await cluster.settle(cluster.stop());
  });

  it('deletes a topic with its data: a re-created topic starts again at offset 0', async () => {
    const cluster = await createTestCluster({ seed: 103, brokers: 2 });
    const admin = cluster.admin();
    await cluster.settle(admin.createTopic('events', { partitions: 2 }));
    const producer = cluster.producer();
    const sent = await cluster.settle(producer.send('events', Array.from({ length: 20 }, (_, i) => ({ value: `v${i}`, partition: i % 2 }))));
    expect(sent.filter((m) => m.partition === 0).map((m) => m.offset)).toEqual(Array.from({ length: 10 }, (_, i) => BigInt(i)));

    await cluster.settle(admin.deleteTopic('events'));
    expect(await cluster.settle(admin.listTopics())).toEqual([]);
    await expectKafkaError(cluster, admin.describeTopic('events'), 'UNKNOWN_TOPIC_OR_PARTITION');

    await cluster.settle(admin.createTopic('events', { partitions: 2 }));
    expect(await cluster.settle(admin.listOffsets('events', 'latest'))).toEqual([
      { partition: 0, offset: 0n, timestamp: -1 },
      { partition: 1, offset: 0n, timestamp: -1 },
    ]);
    const fresh = cluster.producer();
    const again = await cluster.settle(fresh.send('events', { value: 'first', partition: 0 }));
    expect(again.offset).toBe(0n);
    // Nothing of the old topic is readable.
    const consumer = cluster.consumer({ autoOffsetReset: 'earliest', enableAutoCommit: false });
    consumer.assign([{ topic: 'events', partition: 0 }]);
    const records = await cluster.settle(consumer.poll({ timeoutMs: 500 }));
    expect(records.map((r) => new TextDecoder().decode(r.value as Uint8Array))).toEqual(['first']);
    await cluster.settle(cluster.stop());
  });

  it('refuses to delete a topic that does not exist', async () => {
    const cluster = await createTestCluster({ seed: 104 });
    await expectKafkaError(cluster, cluster.admin().deleteTopic('ghost'), 'UNKNOWN_TOPIC_OR_PARTITION');
  });

  it('grows a topic with createPartitions and refuses to shrink it', async () => {
    const cluster = await createTestCluster({ seed: 105, brokers: 3 });
    const admin = cluster.admin();
    await cluster.settle(admin.createTopic('grow', { partitions: 2 }));
    await cluster.settle(admin.createPartitions('grow', 5));
    const description = await cluster.settle(admin.describeTopic('grow'));
    expect(description.partitions.map((p) => p.partition)).toEqual([0, 1, 2, 3, 4]);
    for (const p of description.partitions) expect([1, 2, 3]).toContain(p.leader);
    // The new partitions take writes.
    const sent = await cluster.settle(cluster.producer().send('grow', { value: 'x', partition: 4 }));
    expect(sent).toMatchObject({ partition: 4, offset: 0n });

    const shrink = await expectKafkaError(cluster, admin.createPartitions('grow', 3), 'INVALID_PARTITIONS');
    expect(shrink.message).toMatch(/has 5 partitions/);
    await expectKafkaError(cluster, admin.createPartitions('grow', 5), 'INVALID_PARTITIONS');
    await expectKafkaError(cluster, admin.createPartitions('nope', 5), 'UNKNOWN_TOPIC_OR_PARTITION');
    expect((await cluster.settle(admin.describeTopic('grow'))).partitions).toHaveLength(5);
    await cluster.settle(cluster.stop());
  });

  it('alters topic config: valid values show up in describeTopic, invalid ones name the key', async () => {
    const cluster = await createTestCluster({ seed: 106, brokers: 1 });
    const admin = cluster.admin();
    await cluster.settle(admin.createTopic('cfg'));
    await cluster.settle(admin.alterTopicConfig('cfg', { 'retention.ms': 60_000, 'max.message.bytes': '2048' }));
    const described = await cluster.settle(admin.describeTopic('cfg'));
    expect(described.config['retention.ms']).toBe('60000');
    expect(described.config['max.message.bytes']).toBe('2048');
    expect(described.overrides).toEqual({ 'retention.ms': '60000', 'max.message.bytes': '2048' });

    const invalid = await rejection(cluster, admin.alterTopicConfig('cfg', { 'retention.ms': 'soon' }));
    expect(invalid).toBeInstanceOf(InvalidConfigError);
    expect((invalid as InvalidConfigError).key).toBe('retention.ms');
    expect((invalid as Error).message).toMatch(/retention\.ms/);
    const unknown = await rejection(cluster, admin.alterTopicConfig('cfg', { 'retention.msec': 5 }));
    expect(unknown).toBeInstanceOf(InvalidConfigError);
    expect((unknown as Error).message).toMatch(/retention\.msec/);
    // A rejected change leaves the topic as it was.
    expect((await cluster.settle(admin.describeTopic('cfg'))).config['retention.ms']).toBe('60000');
    await expectKafkaError(cluster, admin.alterTopicConfig('ghost', { 'retention.ms': 1 }), 'UNKNOWN_TOPIC_OR_PARTITION');
    await cluster.settle(cluster.stop());
  });

  it('lists offsets: earliest, latest and the first offset at or after a timestamp', async () => {
    const cluster = await createTestCluster({ seed: 107, brokers: 2 });
    const admin = cluster.admin();
    await cluster.settle(admin.createTopic('ts', { partitions: 2 }));
    const producer = cluster.producer();
    // Partition 0: timestamps 1000, 2000, …, 10000 (two sends so there are two batches).
    await cluster.settle(producer.send('ts', Array.from({ length: 5 }, (_, i) => ({ value: `a${i}`, partition: 0, timestamp: (i + 1) * 1000 }))));
    await cluster.settle(producer.send('ts', Array.from({ length: 5 }, (_, i) => ({ value: `b${i}`, partition: 0, timestamp: (i + 6) * 1000 }))));
    await cluster.settle(producer.send('ts', [{ value: 'c', partition: 1, timestamp: 500 }]));

    expect(await cluster.settle(admin.listOffsets('ts', 'earliest'))).toEqual([
      { partition: 0, offset: 0n, timestamp: -1 },
      { partition: 1, offset: 0n, timestamp: -1 },
    ]);
    expect((await cluster.settle(admin.listOffsets('ts', 'latest'))).map((r) => r.offset)).toEqual([10n, 1n]);
    expect((await cluster.settle(admin.listOffsets('ts'))).map((r) => r.offset)).toEqual([10n, 1n]);

    const at = async (timestamp: number) => (await cluster.settle(admin.listOffsets('ts', timestamp))).map((r) => [r.offset, r.timestamp]);
    expect(await at(0)).toEqual([
      [0n, 1000],
      [0n, 500],
    ]);
    expect(await at(2500)).toEqual([
      [2n, 3000],
      [-1n, -1],
    ]);
    expect(await at(7000)).toEqual([
      [6n, 7000],
      [-1n, -1],
    ]);
    expect(await at(10_001)).toEqual([
      [-1n, -1],
      [-1n, -1],
    ]);
    await cluster.settle(cluster.stop());
  });

  it('deleteRecords moves the log start; a consumer reading below it restarts at the new start', async () => {
    const cluster = await createTestCluster({ seed: 108, brokers: 1 });
    const admin = cluster.admin();
    await cluster.settle(admin.createTopic('dr', { partitions: 2 }));
    const producer = cluster.producer();
    await cluster.settle(producer.send('dr', Array.from({ length: 10 }, (_, i) => ({ value: `v${i}`, partition: 0 }))));
    await cluster.settle(producer.send('dr', Array.from({ length: 3 }, (_, i) => ({ value: `w${i}`, partition: 1 }))));

    const result = await cluster.settle(admin.deleteRecords('dr', { 0: 4n }));
    expect(result).toEqual([{ partition: 0, lowWatermark: 4n }]);
    expect((await cluster.settle(admin.listOffsets('dr', 'earliest'))).map((r) => r.offset)).toEqual([4n, 0n]);
    expect((await cluster.settle(admin.listOffsets('dr', 'latest'))).map((r) => r.offset)).toEqual([10n, 3n]);
    // -1n means "up to the high watermark".
    expect(await cluster.settle(admin.deleteRecords('dr', { 1: -1n }))).toEqual([{ partition: 1, lowWatermark: 3n }]);
    // Past the high watermark is out of range.
    await expectKafkaError(cluster, admin.deleteRecords('dr', { 0: 11n }), 'OFFSET_OUT_OF_RANGE');

    // A new consumer resetting to earliest starts at the new log start…
    const fresh = cluster.consumer({ autoOffsetReset: 'earliest', enableAutoCommit: false });
    fresh.assign([{ topic: 'dr', partition: 0 }]);
    expect(await cluster.settle(fresh.position({ topic: 'dr', partition: 0 }))).toBe(4n);
    const firstPoll = await cluster.settle(fresh.poll({ timeoutMs: 500 }));
    expect(firstPoll.map((r) => r.offset)).toEqual([4n, 5n, 6n, 7n, 8n, 9n]);

    // …and one that seeks below it gets OFFSET_OUT_OF_RANGE and is reset there too.
    const below = cluster.consumer({ autoOffsetReset: 'earliest', enableAutoCommit: false });
    below.assign([{ topic: 'dr', partition: 0 }]);
    below.seek({ topic: 'dr', partition: 0 }, 1n);
    const got: bigint[] = [];
    while (got.length < 6) for (const r of await cluster.settle(below.poll({ timeoutMs: 500 }))) got.push(r.offset);
    expect(got).toEqual([4n, 5n, 6n, 7n, 8n, 9n]);
    await cluster.settle(cluster.stop());
  });

  describe('createTopic errors', () => {
    it('answers TOPIC_ALREADY_EXISTS for an existing name', async () => {
      const cluster = await createTestCluster({ seed: 110 });
      const admin = cluster.admin();
      await cluster.settle(admin.createTopic('dup', { partitions: 2 }));
      const e = await expectKafkaError(cluster, admin.createTopic('dup', { partitions: 3 }), 'TOPIC_ALREADY_EXISTS');
      expect(e.errorCode).toBe(36);
      expect(e.message).toMatch(/"dup"/);
      // The original topic is untouched.
      expect((await cluster.settle(admin.describeTopic('dup'))).partitions).toHaveLength(2);
    });

    it('answers INVALID_TOPIC_EXCEPTION for a bad name', async () => {
      const cluster = await createTestCluster({ seed: 111 });
      const admin = cluster.admin();
      for (const name of ['has space', 'slash/name', '..', '', 'x'.repeat(250)]) {
        const e = await expectKafkaError(cluster, admin.createTopic(name), 'INVALID_TOPIC_EXCEPTION');
        expect(e.errorCode).toBe(17);
      }
      expect(await cluster.settle(admin.listTopics())).toEqual([]);
    });

    it('answers INVALID_PARTITIONS for zero or negative partitions', async () => {
      const cluster = await createTestCluster({ seed: 112 });
      const admin = cluster.admin();
      const e = await expectKafkaError(cluster, admin.createTopic('zero', { partitions: 0 }), 'INVALID_PARTITIONS');
      expect(e.errorCode).toBe(37);
      await expectKafkaError(cluster, admin.createTopic('neg', { partitions: -3 }), 'INVALID_PARTITIONS');
      expect(await cluster.settle(admin.listTopics())).toEqual([]);
    });

    it('answers INVALID_REPLICATION_FACTOR when the factor exceeds the brokers', async () => {
      const cluster = await createTestCluster({ seed: 113, brokers: 2 });
      const admin = cluster.admin();
      const e = await expectKafkaError(cluster, admin.createTopic('rf', { replicationFactor: 3 }), 'INVALID_REPLICATION_FACTOR');
      expect(e.errorCode).toBe(38);
      await expectKafkaError(cluster, admin.createTopic('rf0', { replicationFactor: 0 }), 'INVALID_REPLICATION_FACTOR');
      expect(await cluster.settle(admin.listTopics())).toEqual([]);
    });

    it('rejects an invalid topic config before creating anything', async () => {
      const cluster = await createTestCluster({ seed: 114 });
      const admin = cluster.admin();
      const e = await rejection(cluster, admin.createTopic('badcfg', { config: { 'cleanup.policy': 'shred' } }));
      expect(e).toBeInstanceOf(InvalidConfigError);
      expect((e as InvalidConfigError).key).toBe('cleanup.policy');
      expect(await cluster.settle(admin.listTopics())).toEqual([]);
    });
  });

  it('answers UNKNOWN_TOPIC_OR_PARTITION when describing a topic that does not exist', async () => {
    const cluster = await createTestCluster({ seed: 115 });
    const e = await expectKafkaError(cluster, cluster.admin().describeTopic('missing'), 'UNKNOWN_TOPIC_OR_PARTITION');
    expect(e.message).toMatch(/"missing" does not exist/);
  });
});
