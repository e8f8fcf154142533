import { describe, expect, it } from 'vitest';
import { KafkaProtocolError } from '../../src/errors.ts';
import { createTestCluster } from '../../src/testing.ts';

const dec = new TextDecoder();

describe('embedded cluster (deterministic)', () => {
  it('creates a topic, produces keyed records and reads them back in order per partition', async () => {
    const cluster = await createTestCluster({ seed: 1, brokers: 3 });
    const admin = cluster.admin();
    await cluster.settle(admin.createTopic('orders', { partitions: 3 }));
    const description = await cluster.settle(admin.describeTopic('orders'));
    expect(description.partitions.map((p) => p.leader).sort()).toEqual([1, 2, 3]);
    const producer = cluster.producer({ acks: 1 });
    const sent = await cluster.settle(producer.send('orders', Array.from({ length: 30 }, (_, i) => ({ key: `k${i % 5}`, value: `v${i}` }))));
    expect(sent).toHaveLength(30);
    const consumer = cluster.consumer({ autoOffsetReset: 'earliest', enableAutoCommit: false });
    consumer.assign([0, 1, 2].map((partition) => ({ topic: 'orders', partition })));
    const got: Array<{ key: string; value: string; partition: number; offset: bigint }> = [];
    while (got.length < 30) {
      for (const r of await cluster.settle(consumer.poll({ timeoutMs: 100 }))) got.push({ key: dec.decode(r.key as Uint8Array), value: dec.decode(r.value as Uint8Array), partition: r.partition, offset: r.offset });
    }
    for (const s of sent) expect(got).toContainEqual(expect.objectContaining({ partition: s.partition, offset: s.offset }));
    // Same key, same partition; order per key preserved.
    const byKey = new Map<string, number[]>();
    for (const r of got) byKey.set(r.key, [...(byKey.get(r.key) ?? []), Number(r.value.slice(1))]);
    for (const values of byKey.values()) expect(values).toEqual([...values].sort((a, b) => a - b));
    await cluster.settle(cluster.stop());
  });

  it('answers unknown topics with a clear error when auto-creation is off', async () => {
    const cluster = await createTestCluster({ seed: 2, brokers: 1, brokerConfig: { autoCreateTopicsEnable: false } });
    const producer = cluster.producer({ maxBlockMs: 1000 });
    const error = await cluster.settle(producer.send('nope', { value: 'x' })).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(KafkaProtocolError);
    expect(String((error as Error).message)).toMatch(/topic "nope" does not exist .*create it first or set auto\.create\.topics\.enable/);
  });

  it('forwards XState inspection and samsa events to cluster.inspect listeners', async () => {
    const cluster = await createTestCluster({ seed: 3, brokers: 2 });
    const types = new Set<string>();
    const samsa: Array<Record<string, unknown>> = [];
    const stop = cluster.inspect((e) => {
      types.add(e.type);
      if (e.type.startsWith('@samsa.')) samsa.push(e as unknown as Record<string, unknown>);
    });
    await cluster.settle(cluster.admin().createTopic('inspected', { partitions: 2 }));
    await cluster.settle(cluster.producer().send('inspected', { key: 'k', value: 'v' }));
    stop();
    expect(types.has('@xstate.event')).toBe(true);
    expect(types.has('@xstate.snapshot')).toBe(true);
    expect(samsa).toContainEqual(expect.objectContaining({ type: '@samsa.topic.created', topic: 'inspected', partitions: 2 }));
    expect(samsa.filter((e) => e.type === '@samsa.leader.elected' && e.topic === 'inspected')).toHaveLength(2);
  });

  it('observes actors only while someone listens, including actors created later', async () => {
    const cluster = await createTestCluster({ seed: 4, brokers: 2 });
    let first = 0;
    const stopFirst = cluster.inspect((e) => void (e.type === '@xstate.event' && first++));
    await cluster.settle(cluster.admin().createTopic('a', { partitions: 2 }));
    expect(first).toBeGreaterThan(0);
    stopFirst();
    const seen = first;
    // Nobody listens: partition actors created now are tracked but not observed.
    await cluster.settle(cluster.admin().createTopic('b', { partitions: 2 }));
    expect(first).toBe(seen);
    const actors = new Set<string>();
    const stopSecond = cluster.inspect((e) => {
      if (e.type === '@xstate.event') actors.add((e.actorRef as unknown as { id: string }).id);
    });
    await cluster.settle(cluster.producer().send('b', [{ partition: 0, value: 'x' }, { partition: 1, value: 'y' }]));
    stopSecond();
    expect([...actors].some((id) => id.startsWith('partition:b-'))).toBe(true);
    expect(first).toBe(seen);
  });

  it('asks the controller again to create __consumer_offsets when its first request got no answer (a controller crashed with it)', async () => {
    const cluster = await createTestCluster({ seed: 5, brokers: 2 });
    await cluster.settle(cluster.admin().createTopic('in', { partitions: 1 }));
    // Every topic creation a broker asks for is lost on the way, as with a controller that crashes.
    cluster.network.setFaults({ dropRate: 1, types: ['createTopics.request'] });
    const consumer = cluster.consumer({ groupId: 'lost-create', autoOffsetReset: 'earliest', requestTimeoutMs: 5_000 });
    let outcome: unknown;
    const committing = consumer.commit([{ topic: 'in', partition: 0, offset: 0n }]).then(
      () => (outcome = 'committed'),
      (e: unknown) => (outcome = e),
    );
    await cluster.runFor(10_000);
    expect(outcome).not.toBe('committed');
    cluster.network.setFaults({});
    // After controller.socket.timeout.ms the next FindCoordinator asks again, and the group works.
    await cluster.runFor(40_000);
    const result = await cluster.settle(committing.then(async (r) => (r === 'committed' ? r : consumer.commit([{ topic: 'in', partition: 0, offset: 0n }]).then(() => 'committed'))), { maxSimulatedMs: 120_000 });
    expect(result).toBe('committed');
    expect(await cluster.settle(consumer.committed([{ topic: 'in', partition: 0 }]))).toMatchObject([{ offset: 0n }]);
  });

  it('replays exactly from a seed: same seed, same message interleaving', async () => {
    const trace = async (seed: number): Promise<string[]> => {
      const cluster = await createTestCluster({ seed, brokers: 3 });
      const seen: string[] = [];
      cluster.network.observe((e) => seen.push(`${e.from}>${e.to}:${e.message.type}`));
      await cluster.settle(cluster.admin().createTopic('replay', { partitions: 3 }));
      const p1 = cluster.producer({ clientId: 'a' });
      const p2 = cluster.producer({ clientId: 'b' });
      await cluster.settle(Promise.all([p1.send('replay', [{ value: '1' }, { value: '2' }]), p2.send('replay', [{ key: 'x', value: '3' }])]));
      return seen;
    };
    expect(await trace(99)).toEqual(await trace(99));
    expect(await trace(99)).not.toEqual(await trace(100));
  });
});
