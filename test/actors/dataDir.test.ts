/**
 * A cluster's `dataDir` as Kafka's data directories: locked by one process at a time (`.lock`),
 * formatted for one cluster and node (`meta.properties`), and a partition directory of a deleted
 * topic (another topic id in `partition.metadata`) never adopted by a new topic of the same name.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as nodePath from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { InconsistentDataDirectoryError, InconsistentTopicIdError, LogDirectoryLockedError } from '../../src/errors.ts';
import { PartitionLog } from '../../src/log/partitionLog.ts';
import { MemoryStorage } from '../../src/log/storage/memoryStorage.ts';
import { createTestCluster } from '../../src/testing.ts';

const dirs: string[] = [];
const tempDir = (): string => {
  const dir = fs.mkdtempSync(nodePath.join(os.tmpdir(), 'samsa-datadir-'));
  dirs.push(dir);
  return dir;
};
let dataDir: string;
beforeEach(() => {
  dataDir = tempDir();
});
afterEach(() => {
  for (const dir of dirs.splice(0)) fs.rmSync(dir, { recursive: true, force: true });
});

async function rejection(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (e) {
    return e;
  }
  throw new Error('expected a rejection');
}

describe('dataDir', () => {
  it('refuses a second cluster on a locked dataDir, naming the directory and the process, until the first stops', async () => {
    const first = await createTestCluster({ seed: 1, dataDir });
    const error = await rejection(createTestCluster({ seed: 2, dataDir }));
    expect(error).toBeInstanceOf(LogDirectoryLockedError);
    expect((error as LogDirectoryLockedError).path).toBe(nodePath.join(dataDir, 'controller-0'));
    expect((error as LogDirectoryLockedError).pid).toBe(process.pid);
    expect((error as Error).message).toContain(`process ${process.pid}`);
    // The refused cluster took nothing: the first one still runs and writes.
    await first.settle(first.admin().createTopic('t'));
    await first.stop();
    const second = await createTestCluster({ seed: 2, dataDir });
    expect(await second.settle(second.admin().listTopics())).toEqual(['t']);
    await second.stop();
  });

  it('refuses a directory formatted for another cluster id or node id', async () => {
    const other = tempDir();
    const a = await createTestCluster({ seed: 1, dataDir });
    const clusterId = a.clusterId;
    await a.stop();
    const b = await createTestCluster({ seed: 2, dataDir: other });
    await b.stop();
    // broker-1 of cluster b copied into cluster a's dataDir.
    fs.rmSync(nodePath.join(dataDir, 'broker-1'), { recursive: true });
    fs.cpSync(nodePath.join(other, 'broker-1'), nodePath.join(dataDir, 'broker-1'), { recursive: true });
    const error = await rejection(createTestCluster({ seed: 1, dataDir }));
    expect(error).toBeInstanceOf(InconsistentDataDirectoryError);
    expect(error).toMatchObject({ path: nodePath.join(dataDir, 'broker-1', 'meta.properties'), property: 'cluster.id', expected: clusterId, found: b.clusterId });

    fs.rmSync(nodePath.join(dataDir, 'broker-1'), { recursive: true });
    fs.mkdirSync(nodePath.join(dataDir, 'broker-1'));
    fs.writeFileSync(nodePath.join(dataDir, 'broker-1', 'meta.properties'), `version=1\ncluster.id=${clusterId}\nnode.id=2\n`);
    expect(await rejection(createTestCluster({ seed: 1, dataDir }))).toMatchObject({ property: 'node.id', expected: '1', found: '2' });
    // Refused before anything was locked for good: a correct directory starts.
    fs.rmSync(nodePath.join(dataDir, 'broker-1'), { recursive: true });
    const again = await createTestCluster({ seed: 1, dataDir });
    expect(again.clusterId).toBe(clusterId);
    await again.stop();
  });

  it('never adopts a partition directory that records another topic id', async () => {
    const first = await createTestCluster({ seed: 5, dataDir });
    await first.settle(first.admin().createTopic('orders'));
    await first.settle(first.producer().send('orders', { key: 'k', value: 'old' }));
    const topicId = first.brokerInternals(1)?.metadata?.topics['orders']?.topicId as string;
    await first.stop();
    const marker = nodePath.join(dataDir, 'broker-1', 'orders-0', 'partition.metadata');
    expect(fs.readFileSync(marker, 'utf8')).toContain(`topic_id: ${topicId}`);
    // The directory now belongs to a deleted topic of the same name.
    fs.writeFileSync(marker, fs.readFileSync(marker, 'utf8').replace(topicId, 'a-deleted-topic-id'));

    const second = await createTestCluster({ seed: 5, dataDir });
    const consumer = second.consumer({ autoOffsetReset: 'earliest', enableAutoCommit: false });
    consumer.assign([{ topic: 'orders', partition: 0 }]);
    const seen: unknown[] = [];
    for (let i = 0; i < 5; i++) seen.push(...(await second.settle(consumer.poll({ timeoutMs: 100 }))));
    expect(seen).toEqual([]);
    expect(fs.readFileSync(marker, 'utf8')).toContain(`topic_id: ${topicId}`);
    await second.stop();
  });

  it('PartitionLog.open records the topic id and refuses a directory recording another one, touching nothing', async () => {
    const storage = new MemoryStorage();
    const log = PartitionLog.open({ storage, dir: 'orders-0', topicId: 'id-1' });
    await log.close();
    expect(new TextDecoder().decode(storage.readFile('orders-0/partition.metadata'))).toContain('topic_id: id-1');
    const before = storage.list('orders-0');
    expect(() => PartitionLog.open({ storage, dir: 'orders-0', topicId: 'id-2' })).toThrow(InconsistentTopicIdError);
    expect(storage.list('orders-0')).toEqual(before);
    await PartitionLog.open({ storage, dir: 'orders-0', topicId: 'id-1' }).close();
  });

  it('a controller restarted in the same cluster reloads its log from the files', async () => {
    const cluster = await createTestCluster({ seed: 9, controllers: 3, dataDir });
    await cluster.settle(cluster.admin().createTopic('orders', { partitions: 2 }));
    for (const id of cluster.controllerIds) cluster.controller(id).crash();
    for (const id of cluster.controllerIds) await cluster.controller(id).restart();
    await cluster.runUntil(() => cluster.activeControllerId() !== undefined);
    const active = cluster.controller(cluster.activeControllerId() as number);
    expect(Object.keys(active.metadata?.topics ?? {})).toContain('orders');
    expect(await cluster.settle(cluster.admin().listTopics())).toEqual(['orders']);
    await cluster.stop();
  });
});
