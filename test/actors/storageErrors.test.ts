/**
 * Storage errors reach the caller (issue 14 items 8 and 9). A partition directory holding a file
 * samsa did not write cannot be opened: the partition goes offline on that broker (Kafka's failed
 * log dir, KAFKA_STORAGE_ERROR to clients), `createTopic` and `send` reject with errors naming the
 * full path, an `@samsa.log.offline` event is emitted and logged at error, and nothing escapes as
 * an uncaught exception. Recovery at open that drops a torn or corrupt tail reports it as
 * `@samsa.log.recovered` and a warning. A follower never appends a corrupt batch, and says so.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { SamsaError, StorageError, TimeoutError } from '../../src/errors.ts';
import type { LogEntry } from '../../src/logger.ts';
import { consoleLogger } from '../../src/logger.ts';
import type { MemoryStorage } from '../../src/log/storage/memoryStorage.ts';
import { LOG_OVERHEAD, readBatchHeader } from '../../src/record/recordBatch.ts';
import type { TestCluster } from '../../src/testing.ts';
import { createTestCluster } from '../../src/testing.ts';

let dataDir: string;
const escaped: unknown[] = [];
const onEscape = (e: unknown): void => {
  escaped.push(e);
};

beforeEach(() => {
  dataDir = mkdtempSync(join(tmpdir(), 'samsa-storage-errors-'));
  escaped.length = 0;
  process.on('uncaughtException', onEscape);
  process.on('unhandledRejection', onEscape);
});

afterEach(() => {
  process.off('uncaughtException', onEscape);
  process.off('unhandledRejection', onEscape);
  rmSync(dataDir, { recursive: true, force: true });
});

/** Lets anything XState or a promise would throw from a timer surface before the test ends. */
async function macrotask(): Promise<void> {
  await new Promise((resolve) => setTimeout(resolve, 0));
  await new Promise((resolve) => setImmediate(resolve));
}

function capture(cluster: TestCluster): Array<{ type: string; [k: string]: unknown }> {
  const events: Array<{ type: string; [k: string]: unknown }> = [];
  cluster.inspect((e) => {
    if (typeof e.type === 'string' && e.type.startsWith('@samsa.')) events.push(e as { type: string });
  });
  return events;
}

describe('a foreign file in a partition directory (issue 14 item 8)', () => {
  it('createTopic and send reject with typed errors naming the full path; the log goes offline with an event and an error line; nothing is uncaught', async () => {
    const partitionDir = join(dataDir, 'broker-1', 't-0');
    mkdirSync(partitionDir, { recursive: true });
    writeFileSync(join(partitionDir, 'notes.txt'), 'not a samsa file');
    const lines: LogEntry[] = [];
    const cluster = await createTestCluster({ seed: 14_801, brokers: 1, dataDir, logger: consoleLogger({ level: 'debug', write: (e) => lines.push(e) }) });
    const events = capture(cluster);

    const created = await cluster.settle(cluster.admin().createTopic('t', { partitions: 1 })).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(created).toBeInstanceOf(StorageError);
    expect((created as StorageError).code).toBe('KAFKA_STORAGE_ERROR');
    expect((created as StorageError).path).toBe(partitionDir);
    expect((created as Error).message).toContain(partitionDir);

    const offline = events.find((e) => e.type === '@samsa.log.offline');
    expect(offline).toMatchObject({ topic: 't', partition: 0, brokerId: 1, path: partitionDir });
    expect(lines.some((l) => l.level === 'error' && l.fields.path === partitionDir)).toBe(true);

    const producer = cluster.producer({ acks: 1, requestTimeoutMs: 2_000, deliveryTimeoutMs: 5_000 });
    const sent = await cluster.settle(producer.send('t', { value: 'x', partition: 0 })).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(SamsaError.is(sent)).toBe(true);
    expect(sent).toBeInstanceOf(TimeoutError);
    expect((sent as Error).message).toContain(partitionDir);
    expect(((sent as Error).cause as SamsaError).code).toBe('KAFKA_STORAGE_ERROR');

    // The foreign file is untouched.
    await cluster.settle(producer.close());
    await cluster.settle(cluster.stop());
    await macrotask();
    expect(escaped).toEqual([]);
  });
});

/** The single replica's memory storage of `t-0` on broker `id`, its segment path and batch ranges. */
function segmentOf(cluster: TestCluster, id: number): { storage: MemoryStorage; path: string; batches: Array<{ start: number; end: number }> } {
  const storage = cluster.brokerInternals(id)?.logOf('t', 0)?.storage as MemoryStorage;
  const path = 't-0/00000000000000000000.log';
  const bytes = storage.bytesOf(path);
  const batches: Array<{ start: number; end: number }> = [];
  for (let p = 0; p < bytes.length; ) {
    const end = p + readBatchHeader(bytes, p).batchLength + LOG_OVERHEAD;
    batches.push({ start: p, end });
    p = end;
  }
  return { storage, path, batches };
}

async function fourBatches(cluster: TestCluster, replicationFactor: number): Promise<void> {
  await cluster.settle(cluster.admin().createTopic('t', { partitions: 1, replicationFactor }));
  const producer = cluster.producer({ acks: 1 });
  for (let b = 0; b < 4; b++) await cluster.settle(producer.send('t', Array.from({ length: 5 }, (_, i) => ({ value: `v${b * 5 + i}`, partition: 0 }))));
  await cluster.settle(producer.close());
}

describe('recovery at open reports what it dropped (issue 14 item 9)', () => {
  it('a corrupt batch found by recovery after a crash: @samsa.log.recovered with path, bytes and records dropped, and a warning', async () => {
    const lines: LogEntry[] = [];
    const cluster = await createTestCluster({ seed: 14_902, brokers: 1, logger: consoleLogger({ level: 'debug', write: (e) => lines.push(e) }) });
    const events = capture(cluster);
    await fourBatches(cluster, 1);
    const { storage, path, batches } = segmentOf(cluster, 1);
    const third = batches[2] as { start: number; end: number };
    const dropped = storage.bytesOf(path).length - third.start;
    cluster.broker(1).crash();
    storage.corrupt(path, third.end - 2, ((storage.bytesOf(path)[third.end - 2] as number) ^ 0x5a) & 0xff);
    await cluster.settle(cluster.broker(1).restart());
    await cluster.runUntil(() => cluster.brokerInternals(1)?.logOf('t', 0) !== undefined);
    const recovered = events.find((e) => e.type === '@samsa.log.recovered');
    expect(recovered).toMatchObject({ topic: 't', partition: 0, brokerId: 1, path: 't-0', bytesDropped: dropped, recordsDropped: 10, logEndOffset: 10n });
    expect(String(recovered?.reason)).toContain('CRC');
    expect(lines.some((l) => l.level === 'warn' && l.fields.event === 'log.recovered' && l.fields.bytesDropped === dropped && l.fields.recordsDropped === 10)).toBe(true);
    await cluster.settle(cluster.stop());
  });

  it('a torn tail: the cut is reported with the bytes and records it dropped', async () => {
    const cluster = await createTestCluster({ seed: 14_903, brokers: 1 });
    const events = capture(cluster);
    await fourBatches(cluster, 1);
    const { storage, path, batches } = segmentOf(cluster, 1);
    const last = batches[3] as { start: number; end: number };
    cluster.broker(1).crash();
    // The last batch's header and part of its records reached the disk.
    const torn = last.end - last.start - 10;
    storage.setBytes(path, storage.bytesOf(path).subarray(0, last.start + torn));
    await cluster.settle(cluster.broker(1).restart());
    await cluster.runUntil(() => cluster.brokerInternals(1)?.logOf('t', 0) !== undefined);
    expect(events.find((e) => e.type === '@samsa.log.recovered')).toMatchObject({ topic: 't', partition: 0, path: 't-0', bytesDropped: torn, recordsDropped: 5, logEndOffset: 15n });
    await cluster.settle(cluster.stop());
  });

  it('a clean open drops nothing and reports nothing', async () => {
    const cluster = await createTestCluster({ seed: 14_904, brokers: 1 });
    const events = capture(cluster);
    await fourBatches(cluster, 1);
    cluster.broker(1).crash();
    await cluster.settle(cluster.broker(1).restart());
    await cluster.runUntil(() => cluster.brokerInternals(1)?.logOf('t', 0) !== undefined);
    expect(events.filter((e) => e.type === '@samsa.log.recovered')).toEqual([]);
    await cluster.settle(cluster.stop());
  });
});

describe('a follower fetching a corrupt batch (issue 14 item 9)', () => {
  it('never appends it, says so, and backs off instead of spinning', async () => {
    const lines: LogEntry[] = [];
    const cluster = await createTestCluster({ seed: 14_905, brokers: 2, logger: consoleLogger({ level: 'warn', write: (e) => lines.push(e) }) });
    const events = capture(cluster);
    await cluster.settle(cluster.admin().createTopic('t', { partitions: 1, replicationFactor: 2 }));
    const leader = (await cluster.settle(cluster.admin().describeTopic('t'))).partitions[0]?.leader as number;
    const follower = leader === 1 ? 2 : 1;
    cluster.broker(follower).crash();
    const producer = cluster.producer({ acks: 1 });
    for (let b = 0; b < 3; b++) await cluster.settle(producer.send('t', Array.from({ length: 5 }, (_, i) => ({ value: `v${b * 5 + i}`, partition: 0 }))));
    const { storage, path, batches } = segmentOf(cluster, leader);
    const second = batches[1] as { start: number; end: number };
    storage.corrupt(path, second.end - 2, ((storage.bytesOf(path)[second.end - 2] as number) ^ 0x5a) & 0xff);
    await cluster.settle(cluster.broker(follower).restart());
    await cluster.runFor(30_000);
    // Nothing from the answer holding the bad batch is appended (Kafka validates the whole
    // answer first), so the follower stays where it was.
    expect(cluster.brokerInternals(follower)?.logOf('t', 0)?.logEndOffset).toBe(0n);
    const failures = events.filter((e) => e.type === '@samsa.replica.appendFailed');
    expect(failures.length).toBeGreaterThan(0);
    expect(failures[0]).toMatchObject({ topic: 't', partition: 0, brokerId: follower, leader, offset: 0n });
    expect(String(failures[0]?.error)).toContain('CRC');
    // One try per replica.fetch.backoff.ms (1 s), not a tight loop.
    expect(failures.length).toBeLessThanOrEqual(31);
    expect(lines.some((l) => l.level === 'warn' && l.fields.event === 'replica.appendFailed')).toBe(true);
    await cluster.settle(producer.close());
    await cluster.settle(cluster.stop());
  });
});

describe('a storage failure at run time (issue 14 item 8)', () => {
  it('retention that cannot delete a segment takes the partition offline with an event; produce gets KAFKA_STORAGE_ERROR naming the path; nothing is uncaught', async () => {
    const cluster = await createTestCluster({ seed: 14_802, brokers: 1, brokerConfig: { logRetentionCheckIntervalMs: 1_000 } });
    const events = capture(cluster);
    await cluster.settle(cluster.admin().createTopic('t', { partitions: 1, config: { 'segment.bytes': 200, 'retention.ms': 1_000 } }));
    const producer = cluster.producer({ acks: 1, requestTimeoutMs: 2_000, deliveryTimeoutMs: 5_000, retries: 0 });
    for (let b = 0; b < 4; b++) await cluster.settle(producer.send('t', Array.from({ length: 5 }, (_, i) => ({ value: `v${b * 5 + i}`, partition: 0 }))));
    const storage = cluster.brokerInternals(1)?.logOf('t', 0)?.storage as MemoryStorage;
    storage.remove = (path: string): void => {
      throw new StorageError(path, 'remove', { cause: Object.assign(new Error('EIO: i/o error'), { code: 'EIO' }) });
    };
    await cluster.runFor(5_000);
    const offline = events.find((e) => e.type === '@samsa.log.offline');
    expect(offline).toMatchObject({ topic: 't', partition: 0, brokerId: 1 });
    expect(String(offline?.path)).toMatch(/^t-0/);
    expect(String(offline?.error)).toContain('EIO');
    const sent = await cluster.settle(producer.send('t', { value: 'y', partition: 0 })).then(
      () => undefined,
      (e: unknown) => e,
    );
    // retries: 0, so the broker's own answer comes back: the partition's storage error and path.
    expect((sent as SamsaError).code).toBe('KAFKA_STORAGE_ERROR');
    expect((sent as Error).message).toContain('"t-0');
    await cluster.settle(producer.close());
    await cluster.settle(cluster.stop());
    await macrotask();
    expect(escaped).toEqual([]);
  });

  it('a segment roll that cannot create its file fails the produce with KAFKA_STORAGE_ERROR naming the path and takes the partition offline', async () => {
    const cluster = await createTestCluster({ seed: 14_803, brokers: 1 });
    const events = capture(cluster);
    await cluster.settle(cluster.admin().createTopic('t', { partitions: 1, config: { 'segment.bytes': 200 } }));
    const producer = cluster.producer({ acks: 1, requestTimeoutMs: 2_000, deliveryTimeoutMs: 5_000, retries: 0 });
    await cluster.settle(producer.send('t', Array.from({ length: 5 }, (_, i) => ({ value: `v${i}`, partition: 0 }))));
    const storage = cluster.brokerInternals(1)?.logOf('t', 0)?.storage as MemoryStorage;
    storage.open = (path: string): never => {
      throw new StorageError(path, 'open', { cause: Object.assign(new Error('ENOSPC: no space left on device'), { code: 'ENOSPC' }) });
    };
    const sent = await cluster.settle(producer.send('t', Array.from({ length: 5 }, (_, i) => ({ value: `w${i}`, partition: 0 })))).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect((sent as SamsaError).code).toBe('KAFKA_STORAGE_ERROR');
    expect((sent as Error).message).toContain('t-0/');
    await cluster.runFor(100);
    expect(events.find((e) => e.type === '@samsa.log.offline')).toMatchObject({ topic: 't', partition: 0, brokerId: 1 });
    // Offline: the next request is answered at once with the partition's storage error.
    const again = await cluster.settle(producer.send('t', { value: 'z', partition: 0 })).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect((again as SamsaError).code).toBe('KAFKA_STORAGE_ERROR');
    expect((again as Error).message).toContain('offline on this broker');
    await cluster.settle(producer.close());
    await cluster.settle(cluster.stop());
    await macrotask();
    expect(escaped).toEqual([]);
  });
});
