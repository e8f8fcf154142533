/**
 * An embedded cluster whose messages all go through a real NATS server (`transport: 'nats'`),
 * and clients of another connection (`connect({ nats })`), as another process would have, using
 * it: producers, a transactional producer, a consumer group, a streams app and a broker crash.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createCluster } from '../../src/cluster/cluster.ts';
import type { Cluster } from '../../src/cluster/cluster.ts';
import { connect } from '../../src/cluster/connect.ts';
import type { Connection } from '../../src/cluster/connect.ts';
import { InvalidArgumentError, TransportUnavailableError } from '../../src/errors.ts';
import { silentLogger } from '../../src/logger.ts';
import { count, createStreamsApp, groupByKey, int32, StreamsBuilder, string, toTopic } from '../../src/index.ts';
import { NATS_URL, freePort, natsReachable } from './natsServer.ts';

const available = await natsReachable();
const dec = new TextDecoder();

async function until(predicate: () => boolean | Promise<boolean>, ms = 20_000): Promise<void> {
  const deadline = performance.now() + ms;
  while (!(await predicate())) {
    if (performance.now() > deadline) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe.skipIf(!available)('createCluster({ transport: "nats" }) and connect({ nats })', () => {
  const subjectPrefix = `cluster${process.pid}`;
  let cluster: Cluster;
  let remote: Connection;
  beforeAll(async () => {
    cluster = await createCluster({ transport: 'nats', nats: { servers: NATS_URL, subjectPrefix, logger: silentLogger }, brokers: 3, controllers: 3, logger: silentLogger, brokerConfig: { brokerSessionTimeoutMs: 2_000, brokerHeartbeatIntervalMs: 200 } });
    remote = await connect({ nats: { servers: NATS_URL, subjectPrefix, logger: silentLogger }, bootstrap: [1, 2, 3], controllers: [0, 1, 2], logger: silentLogger });
  }, 60_000);
  afterAll(async () => {
    await remote?.stop();
    await cluster?.stop();
  });

  it('finds the brokers and controllers when connect() is given NATS alone', async () => {
    const found = await connect({ nats: { servers: NATS_URL, subjectPrefix, logger: silentLogger }, logger: silentLogger });
    try {
      await found.admin().createTopic('found', { partitions: 1, replicationFactor: 3 });
      const meta = await found.producer().send('found', { value: 'hello' });
      expect(meta.offset).toBe(0n);
    } finally {
      await found.stop();
    }
    // Under a prefix nobody runs, it says so rather than wait for ever.
    const error = await connect({ nats: { servers: NATS_URL, subjectPrefix: `${subjectPrefix}.nobody`, logger: silentLogger }, discoveryTimeoutMs: 500 }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(TransportUnavailableError);
    expect((error as Error).message).toMatch(/no samsa broker answered/);
  }, 60_000);

  it('has no simulated network to inject faults into', () => {
    expect(() => cluster.network).toThrow(InvalidArgumentError);
  });

  it('produces on one connection and consumes in a group on the other, RF=3 acks=all', async () => {
    await remote.admin().createTopic('orders', { partitions: 3, replicationFactor: 3, config: { 'min.insync.replicas': 2 } });
    const sent = await cluster.producer({ acks: 'all', idempotent: true }).send('orders', Array.from({ length: 300 }, (_, i) => ({ key: `k${i % 17}`, value: `v${i}` })));
    expect(sent).toHaveLength(300);
    const consumer = remote.consumer({ groupId: 'g', autoOffsetReset: 'earliest' });
    await consumer.subscribe(['orders']);
    const values: string[] = [];
    await until(async () => {
      for (const r of await consumer.poll({ timeoutMs: 200 })) values.push(dec.decode(r.value as Uint8Array));
      return values.length >= 300;
    });
    expect(new Set(values).size).toBe(300);
    await consumer.commit();
    await consumer.close();
  }, 60_000);

  it('commits transactions and hides aborted ones from read_committed readers across connections', async () => {
    await remote.admin().createTopic('txn', { partitions: 2, replicationFactor: 3 });
    const producer = remote.producer({ transactionalId: 'tx-1' });
    await producer.initTransactions();
    await producer.beginTransaction();
    await producer.send('txn', [{ key: 'a', value: 'aborted' }]);
    await producer.abortTransaction();
    await producer.beginTransaction();
    await producer.send('txn', [{ key: 'a', value: 'committed' }]);
    await producer.commitTransaction();
    const reader = cluster.consumer({ isolationLevel: 'read_committed', autoOffsetReset: 'earliest' });
    reader.assign([0, 1].map((partition) => ({ topic: 'txn', partition })));
    const values: string[] = [];
    await until(async () => {
      for (const r of await reader.poll({ timeoutMs: 200 })) values.push(dec.decode(r.value as Uint8Array));
      return values.length >= 1;
    });
    expect(values).toEqual(['committed']);
    await reader.close();
  }, 60_000);

  it('runs a streams app on the remote connection, exactly once, through a broker crash', async () => {
    await remote.admin().createTopic('words', { partitions: 2, replicationFactor: 3, config: { 'min.insync.replicas': 2 } });
    await remote.admin().createTopic('counts', { partitions: 2, replicationFactor: 3 });
    const builder = new StreamsBuilder();
    builder
      .stream('words', { key: string(), value: string() })
      .pipe(groupByKey(), count({ store: 'word-counts' }))
      .toStream()
      .pipe(toTopic('counts', { key: string(), value: int32() }));
    const app = createStreamsApp(builder.build(), remote, { applicationId: `wc-${process.pid}`, commitIntervalMs: 100, replicationFactor: 3, processingGuarantee: 'exactly_once_v2' });
    await app.start();
    const producer = remote.producer({ acks: 'all', idempotent: true });
    await producer.send('words', Array.from({ length: 100 }, (_, i) => ({ key: `w${i % 5}`, value: 'x' })));
    cluster.broker(2).crash();
    await producer.send('words', Array.from({ length: 100 }, (_, i) => ({ key: `w${i % 5}`, value: 'x' })));
    await cluster.broker(2).restart();
    const latest = new Map<string, number>();
    const int = int32();
    const reader = remote.consumer({ isolationLevel: 'read_committed', autoOffsetReset: 'earliest' });
    reader.assign([0, 1].map((partition) => ({ topic: 'counts', partition })));
    await until(async () => {
      for (const r of await reader.poll({ timeoutMs: 200 })) latest.set(dec.decode(r.key as Uint8Array), int.deserialize(r.value as Uint8Array, 'counts'));
      return [...latest.values()].every((v) => v === 40) && latest.size === 5;
    }, 60_000);
    expect(Object.fromEntries(latest)).toEqual({ w0: 40, w1: 40, w2: 40, w3: 40, w4: 40 });
    expect(app.store<string, number>('word-counts').get('w3')).toBe(40);
    await reader.close();
    await app.close();
  }, 90_000);
});

describe('NATS options refused', () => {
  it('with typed errors', async () => {
    await expect(createCluster({ transport: 'nats', manualNetwork: true })).rejects.toBeInstanceOf(InvalidArgumentError);
    await expect(createCluster({ transport: 'carrier-pigeon' as never })).rejects.toBeInstanceOf(InvalidArgumentError);
    await expect(createCluster({ nats: NATS_URL })).rejects.toThrow(/transport: 'nats'/);
    await expect(connect({ nats: NATS_URL, bootstrap: [] })).rejects.toBeInstanceOf(InvalidArgumentError);
    await expect(connect({ nats: NATS_URL, transport: {} as never, bootstrap: [1] })).rejects.toBeInstanceOf(InvalidArgumentError);
    const port = await freePort();
    await expect(connect({ nats: { servers: `nats://127.0.0.1:${port}`, connectTimeoutMs: 500, logger: silentLogger }, bootstrap: [1] })).rejects.toBeInstanceOf(TransportUnavailableError);
  });
});
