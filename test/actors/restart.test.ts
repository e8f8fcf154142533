/**
 * A cluster on a `dataDir` keeps everything across a restart of the whole process: the
 * controllers' metadata log (topics, configs), the brokers' logs (records, transaction markers),
 * and the internal topics (group offsets and listings). Both after a clean `stop()` and after a
 * crash (every node killed, nothing flushed, the files kept).
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as nodePath from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createTestCluster } from '../../src/testing.ts';
import type { TestCluster } from '../../src/testing.ts';
import type { Logger } from '../../src/logger.ts';

const TOPIC = 'orders';
const PARTITIONS = 6;

let dataDir: string;
beforeEach(() => {
  dataDir = fs.mkdtempSync(nodePath.join(os.tmpdir(), 'samsa-restart-'));
});
afterEach(() => {
  fs.rmSync(dataDir, { recursive: true, force: true });
});

const start = (seed: number, logger?: Logger): Promise<TestCluster> => createTestCluster({ seed, brokers: 3, controllers: 3, dataDir, ...(logger === undefined ? {} : { logger }) });

const text = (v: unknown): string => (v instanceof Uint8Array ? new TextDecoder().decode(v) : String(v));

/** Every record of the topic as `partition:key=value`, sorted, read with `isolationLevel`. */
async function readAll(cluster: TestCluster, isolationLevel: 'read_committed' | 'read_uncommitted'): Promise<string[]> {
  const consumer = cluster.consumer({ autoOffsetReset: 'earliest', enableAutoCommit: false, isolationLevel });
  consumer.assign(Array.from({ length: PARTITIONS }, (_, partition) => ({ topic: TOPIC, partition })));
  const out: string[] = [];
  for (let i = 0; i < 12; i++) {
    const records = await cluster.settle(consumer.poll({ timeoutMs: 200 }));
    for (const r of records) out.push(`${r.partition}:${text(r.key)}=${text(r.value)}`);
  }
  await cluster.settle(consumer.close());
  return out.sort();
}

/** Writes plain records to every partition, a committed and an aborted transaction, and a group's offsets. */
async function populate(cluster: TestCluster): Promise<void> {
  const admin = cluster.admin();
  await cluster.settle(admin.createTopic(TOPIC, { partitions: PARTITIONS, replicationFactor: 3, config: { 'retention.ms': 86_400_000, 'min.insync.replicas': 2 } }));
  const producer = cluster.producer();
  for (let p = 0; p < PARTITIONS; p++) for (let i = 0; i < 3; i++) await cluster.settle(producer.send(TOPIC, { key: `k${p}-${i}`, value: `v${p}-${i}`, partition: p }));
  const txn = cluster.producer({ transactionalId: 'restart-app' });
  await cluster.settle(txn.initTransactions());
  txn.beginTransaction();
  await cluster.settle(Promise.all(Array.from({ length: PARTITIONS }, (_, p) => txn.send(TOPIC, { key: `committed-${p}`, value: 'c', partition: p }))));
  await cluster.settle(txn.commitTransaction());
  txn.beginTransaction();
  await cluster.settle(Promise.all(Array.from({ length: PARTITIONS }, (_, p) => txn.send(TOPIC, { key: `aborted-${p}`, value: 'a', partition: p }))));
  await cluster.settle(txn.abortTransaction());
  const consumer = cluster.consumer({ groupId: 'billing', enableAutoCommit: false, autoOffsetReset: 'earliest' });
  consumer.assign([{ topic: TOPIC, partition: 0 }, { topic: TOPIC, partition: 1 }]);
  await cluster.settle(consumer.commit([{ topic: TOPIC, partition: 0, offset: 2n }, { topic: TOPIC, partition: 1, offset: 1n }]));
  await cluster.settle(consumer.close());
}

interface View {
  topics: string[];
  partitions: number;
  config: string | undefined;
  committedView: string[];
  uncommittedView: string[];
  offsets: Array<{ partition: number; offset: bigint }>;
  groups: string[];
  groupState: string;
}

async function view(cluster: TestCluster): Promise<View> {
  const admin = cluster.admin();
  const topics = await cluster.settle(admin.listTopics());
  const described = await cluster.settle(admin.describeTopic(TOPIC));
  const committedView = await readAll(cluster, 'read_committed');
  const uncommittedView = await readAll(cluster, 'read_uncommitted');
  const consumer = cluster.consumer({ groupId: 'billing', enableAutoCommit: false });
  const committed = await cluster.settle(consumer.committed([{ topic: TOPIC, partition: 0 }, { topic: TOPIC, partition: 1 }]));
  await cluster.settle(consumer.close());
  const groups = await cluster.settle(admin.listGroups());
  const group = await cluster.settle(admin.describeGroup('billing'));
  return {
    topics,
    partitions: described.partitions.length,
    config: described.config['retention.ms'],
    committedView,
    uncommittedView,
    offsets: committed.map((c) => ({ partition: c.partition, offset: c.offset })),
    groups: groups.map((g) => g.groupId).sort(),
    groupState: group.state,
  };
}

function expectPopulated(v: View): void {
  expect(v.topics).toContain(TOPIC);
  expect(v.partitions).toBe(PARTITIONS);
  expect(v.config).toBe('86400000');
  expect(v.committedView.filter((r) => r.includes('aborted'))).toEqual([]);
  expect(v.committedView.filter((r) => r.includes('committed-'))).toHaveLength(PARTITIONS);
  expect(v.committedView).toHaveLength(PARTITIONS * 4);
  expect(v.uncommittedView).toHaveLength(PARTITIONS * 5);
  expect(v.offsets).toEqual([{ partition: 0, offset: 2n }, { partition: 1, offset: 1n }]);
  expect(v.groups).toContain('billing');
}

describe('restart on the same dataDir', () => {
  it('keeps topics, configs, records of every partition, transactions and group offsets after stop()', async () => {
    const first = await start(1);
    await populate(first);
    const before = await view(first);
    expectPopulated(before);
    const clusterId = first.clusterId;
    await first.stop();

    const lines: Array<{ message: string; fields: unknown }> = [];
    const logger: Logger = {
      debug: () => undefined,
      info: (message: string, fields?: unknown) => lines.push({ message, fields }),
      warn: (message: string, fields?: unknown) => lines.push({ message, fields }),
      error: () => undefined,
      child: () => logger,
    } as unknown as Logger;
    // Another seed: the cluster id comes from meta.properties, not from the seed.
    const second = await start(2, logger);
    expect(second.clusterId).toBe(clusterId);
    expect(lines.some((l) => l.message.includes('loaded the metadata log'))).toBe(true);
    const after = await view(second);
    expect(after).toEqual(before);
    // The restarted cluster keeps working: a write lands after the old records.
    const sent = await second.settle(second.producer().send(TOPIC, { key: 'new', value: 'n', partition: 0 }));
    expect(sent.offset).toBeGreaterThan(3n);
    await second.stop();
  }, 300_000);

  it('keeps everything after a crash: every node killed, nothing flushed, files kept', async () => {
    const first = await start(3);
    await populate(first);
    const before = await view(first);
    expectPopulated(before);
    for (const id of first.brokerIds) first.broker(id).crash();
    for (const id of first.controllerIds) first.controller(id).crash();
    // The process is gone: the OS drops its locks (stop() of a husk whose nodes are dead only releases them).
    await first.stop();

    const second = await start(4);
    const after = await view(second);
    expect(after).toEqual(before);
    await second.stop();
  }, 300_000);
});
