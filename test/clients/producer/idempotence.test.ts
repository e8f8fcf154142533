/**
 * The idempotent producer end to end (kafka-anchor.md §1.7, behaviour 10): batches carry a
 * producer id and per-partition sequences, so a batch retried after a lost answer is written
 * once, with up to five requests in flight and across a leader failover; the non-idempotent
 * producer writes the same retries twice, as Kafka's does.
 */
import { describe, expect, it } from 'vitest';
import { InvalidArgumentError } from '../../../src/errors.ts';
import { LOG_OVERHEAD, readBatchHeader } from '../../../src/record/recordBatch.ts';
import type { PartitionLog } from '../../../src/log/partitionLog.ts';
import type { ProducerOptions } from '../../../src/clients/producer/producer.ts';
import { createTestCluster } from '../../../src/testing.ts';
import type { TestCluster } from '../../../src/testing.ts';
import { newestBrokerImage } from '../../helpers/cluster.ts';

const dec = new TextDecoder();

function leaderOf(cluster: TestCluster, topic: string, partition = 0): number {
  return newestBrokerImage(cluster)?.topics[topic]?.partitions[partition]?.leader as number;
}

function logOf(cluster: TestCluster, broker: number, topic: string, partition = 0): PartitionLog {
  return cluster.brokerInternals(broker)?.logOf(topic, partition) as PartitionLog;
}

/** Every (offset, value) in a partition, read with a consumer. */
async function readBack(cluster: TestCluster, topic: string, partitions: number[]): Promise<Array<{ partition: number; offset: bigint; value: string }>> {
  const consumer = cluster.consumer({ autoOffsetReset: 'earliest', enableAutoCommit: false });
  consumer.assign(partitions.map((partition) => ({ topic, partition })));
  const ends = await cluster.settle(cluster.admin().listOffsets(topic, 'latest'));
  const got: Array<{ partition: number; offset: bigint; value: string }> = [];
  const done = (): boolean => partitions.every((p) => got.filter((r) => r.partition === p).length > 0 ? (got.filter((r) => r.partition === p).at(-1)?.offset as bigint) + 1n >= (ends.find((e) => e.partition === p)?.offset as bigint) : ends.find((e) => e.partition === p)?.offset === 0n);
  for (let polls = 0; !done() && polls < 200; polls++) {
    for (const r of await cluster.settle(consumer.poll({ timeoutMs: 200 }))) got.push({ partition: r.partition, offset: r.offset, value: dec.decode(r.value as Uint8Array) });
  }
  await cluster.settle(consumer.close());
  return got;
}

/**
 * Sends `count` keyed records, two per send, one send every simulated millisecond without
 * waiting for answers (so up to 5 requests are in flight per broker); returns the acknowledged
 * (value → where it landed).
 */
async function sendAll(cluster: TestCluster, options: ProducerOptions, topic: string, count: number): Promise<Map<string, { partition: number; offset: bigint }>> {
  const producer = cluster.producer(options);
  const acked = new Map<string, { partition: number; offset: bigint }>();
  const sends: Array<Promise<void>> = [];
  const issuing = (async () => {
    for (let i = 0; i < count; i += 2) {
      const records = Array.from({ length: Math.min(2, count - i) }, (_, j) => ({ key: `k${(i + j) % 7}`, value: `v${i + j}` }));
      sends.push(producer.send(topic, records).then((metas) => metas.forEach((m, j) => acked.set(records[j]?.value as string, { partition: m.partition, offset: m.offset }))));
      await new Promise<void>((resolve) => cluster.clock.setTimeout(resolve, 1));
    }
  })();
  await cluster.settle(issuing);
  await cluster.settle(Promise.all(sends), { maxSimulatedMs: 300_000 });
  await cluster.settle(producer.close());
  return acked;
}

describe('idempotent producer', () => {
  it('is on by default with acks=all and stamps every batch with its producer id and consecutive sequences', async () => {
    const cluster = await createTestCluster({ seed: 601, brokers: 1 });
    await cluster.settle(cluster.admin().createTopic('t', { partitions: 1 }));
    const producer = cluster.producer({ lingerMs: 5 });
    for (let i = 0; i < 5; i++) await cluster.settle(producer.send('t', Array.from({ length: 3 + i }, (_, j) => ({ value: `v${i}-${j}` }))));
    const log = logOf(cluster, 1, 't');
    const { records } = log.read(0n, { maxBytes: 1 << 20 });
    const headers = [];
    for (let p = 0; p < records.length; ) {
      const h = readBatchHeader(records, p);
      headers.push(h);
      p += h.batchLength + LOG_OVERHEAD;
    }
    expect(headers.length).toBe(5);
    expect(new Set(headers.map((h) => h.producerId)).size).toBe(1);
    expect(headers[0]?.producerId).toBeGreaterThanOrEqual(0n);
    expect(headers.map((h) => h.producerEpoch)).toEqual([0, 0, 0, 0, 0]);
    expect(headers.map((h) => h.baseSequence)).toEqual([0, 3, 7, 12, 18]);
    // acks=1 leaves idempotence off unless asked for, as Kafka does.
    await cluster.settle(cluster.producer({ acks: 1 }).send('t', { value: 'plain' }));
    const last = log.read(25n, { maxBytes: 1 << 20 }).records;
    expect(readBatchHeader(last, 0).producerId).toBe(-1n);
    await cluster.settle(cluster.stop());
  });

  it('refuses idempotence with acks other than all, retries=0 or more than 5 requests in flight', async () => {
    const cluster = await createTestCluster({ seed: 602, brokers: 1 });
    expect(() => cluster.producer({ idempotent: true, acks: 1 })).toThrow(InvalidArgumentError);
    expect(() => cluster.producer({ idempotent: true, retries: 0 })).toThrow(/retries=0/);
    expect(() => cluster.producer({ idempotent: true, maxInFlightRequestsPerConnection: 6 })).toThrow(/at most 5/);
    expect(() => cluster.producer({ idempotent: 'yes' as unknown as boolean })).toThrow(/expected a boolean/);
    await cluster.settle(cluster.stop());
  });

  it('writes each record once when answers are lost and batches are retried with 5 requests in flight; without idempotence the retries are duplicated', async () => {
    const run = async (idempotent: boolean): Promise<{ acked: Map<string, { partition: number; offset: bigint }>; read: Array<{ partition: number; offset: bigint; value: string }> }> => {
      const cluster = await createTestCluster({ seed: 603, brokers: 3 });
      await cluster.settle(cluster.admin().createTopic('t', { partitions: 3, replicationFactor: 3 }));
      // A third of the brokers' answers to the producer are lost: it times out and retries.
      for (const id of cluster.brokerIds) cluster.network.setLinkFaults(`broker:${id}`, 'client:lossy', { dropRate: 0.4 });
      let dropped = 0;
      cluster.network.observe((e) => {
        if (e.type === 'dropped' && e.message.type === 'produce.response') dropped++;
      });
      const acked = await sendAll(cluster, { clientId: 'lossy', idempotent, requestTimeoutMs: 1_000, maxInFlightRequestsPerConnection: 5, retryBackoffMs: 50 }, 't', 300);
      for (const id of cluster.brokerIds) cluster.network.setLinkFaults(`broker:${id}`, 'client:lossy', undefined);
      const read = await readBack(cluster, 't', [0, 1, 2]);
      await cluster.settle(cluster.stop());
      expect(dropped).toBeGreaterThan(0);
      return { acked, read };
    };
    const idem = await run(true);
    expect(idem.acked.size).toBe(300);
    expect(idem.read.length).toBe(300);
    expect(new Set(idem.read.map((r) => r.value)).size).toBe(300);
    // Every acknowledgement names the one offset the record is at, even for a retried duplicate.
    for (const r of idem.read) expect(idem.acked.get(r.value)).toEqual({ partition: r.partition, offset: r.offset });
    // Per key, records are in send order (one producer, keys map to one partition).
    for (let k = 0; k < 7; k++) {
      const values = idem.read.filter((r) => Number(r.value.slice(1)) % 7 === k).sort((a, b) => (a.offset < b.offset ? -1 : 1)).map((r) => Number(r.value.slice(1)));
      expect(values, JSON.stringify(idem.read.filter((r) => Number(r.value.slice(1)) % 7 === k).sort((a, b) => (a.offset < b.offset ? -1 : 1)).map((r) => `${r.partition}:${r.offset}:${r.value}`))).toEqual([...values].sort((a, b) => a - b));
    }

    const plain = await run(false);
    expect(plain.acked.size).toBe(300);
    expect(plain.read.length).toBeGreaterThan(300);
    expect(new Set(plain.read.map((r) => r.value)).size).toBe(300);
  });

  it('keeps deduplicating across a leader failover: the new leader has the producer state from replication', async () => {
    const cluster = await createTestCluster({ seed: 604, brokers: 3 });
    await cluster.settle(cluster.admin().createTopic('t', { partitions: 1, replicationFactor: 3, config: { 'min.insync.replicas': 2 } }));
    const producer = cluster.producer({ clientId: 'p', requestTimeoutMs: 2_000 });
    await cluster.settle(producer.send('t', { value: 'first' }));
    const leader = leaderOf(cluster, 't');
    // The leader's answer is lost; it replicates the write, then dies.
    cluster.network.setLinkFaults(`broker:${leader}`, 'client:p', { dropRate: 1 });
    const pending = producer.send('t', { value: 'second' });
    await cluster.runUntil(() => cluster.brokerIds.filter((id) => id !== leader).every((id) => logOf(cluster, id, 't').logEndOffset === 2n));
    cluster.broker(leader).crash();
    cluster.network.setLinkFaults(`broker:${leader}`, 'client:p', undefined);
    const meta = await cluster.settle(pending, { maxSimulatedMs: 60_000 });
    const next = leaderOf(cluster, 't');
    expect(next).not.toBe(leader);
    // The retry reached the new leader, which answered with the original offset and wrote nothing.
    expect(meta.offset).toBe(1n);
    expect(logOf(cluster, next, 't').logEndOffset).toBe(2n);
    await cluster.settle(producer.send('t', { value: 'third' }));
    expect((await readBack(cluster, 't', [0])).map((r) => r.value)).toEqual(['first', 'second', 'third']);
    await cluster.settle(cluster.stop());
  });

  it('starts a new producer session when the broker no longer knows it (producer.id.expiration.ms)', async () => {
    const cluster = await createTestCluster({ seed: 605, brokers: 1, brokerConfig: { producerIdExpirationMs: 1_000, producerIdExpirationCheckIntervalMs: 500 } });
    await cluster.settle(cluster.admin().createTopic('t', { partitions: 1 }));
    const producer = cluster.producer();
    await cluster.settle(producer.send('t', [{ value: 'a' }, { value: 'b' }]));
    const log = logOf(cluster, 1, 't');
    expect(log.producerStates.size).toBe(1);
    await cluster.runFor(3_000);
    expect(log.producerStates.size).toBe(0);
    // A producer the log has no state for may continue at any sequence, as in Kafka.
    await cluster.settle(producer.send('t', { value: 'c' }));
    expect((await readBack(cluster, 't', [0])).map((r) => r.value)).toEqual(['a', 'b', 'c']);
    await cluster.settle(cluster.stop());
  });
});
