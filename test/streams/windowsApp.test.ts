/**
 * Windows on a cluster (createStreamsApp, simulated time): a tumbling count with grace and
 * suppress(untilWindowCloses) under exactly_once_v2 emits exactly one final result per window,
 * equal to an oracle; the window store's changelog is `compact,delete` with Kafka's retention; a
 * restarted instance restores its stores and the buffer, keeps closed windows closed (late records
 * dropped and counted) and emits nothing twice; wall-clock punctuation runs on the injected clock.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { createStreamsApp } from '../../src/streams/app.ts';
import { StreamsBuilder } from '../../src/streams/builder.ts';
import { count, groupByKey, process, toTopic } from '../../src/streams/operators.ts';
import { int32, string } from '../../src/streams/serdes.ts';
import { untilWindowCloses } from '../../src/streams/suppress.ts';
import { timeWindowedSerde } from '../../src/streams/windowedSerdes.ts';
import { windowedBy } from '../../src/streams/windowedAggregation.ts';
import { session, tumbling } from '../../src/streams/windows.ts';
import { createTestCluster } from '../../src/testing.ts';
import type { TestCluster } from '../../src/testing.ts';

const MINUTE = 60_000;

function viewsPerMinute() {
  const builder = new StreamsBuilder();
  builder
    .stream('views', { key: string(), value: string() })
    .pipe(groupByKey(), windowedBy(tumbling({ sizeMs: MINUTE, graceMs: 10_000 })), count({ store: 'views-per-minute', retentionMs: 200 * MINUTE }))
    .suppress(untilWindowCloses())
    .toStream()
    .pipe(toTopic('views-final', { value: int32() }));
  return builder.build();
}

/** Final results read back (read_committed): every record, keyed `region@start`. */
async function readFinal(cluster: TestCluster): Promise<Array<{ id: string; count: number }>> {
  const consumer = cluster.consumer({ isolationLevel: 'read_committed', autoOffsetReset: 'earliest', enableAutoCommit: false });
  consumer.assign([0, 1, 2].map((partition) => ({ topic: 'views-final', partition })));
  const serde = timeWindowedSerde(string(), MINUTE);
  const out: Array<{ id: string; count: number }> = [];
  for (let idle = 0; idle < 5; ) {
    const batch = await cluster.settle(consumer.poll({ timeoutMs: 200 }));
    if (batch.length === 0) idle++;
    for (const r of batch) {
      const key = serde.deserialize(r.key as Uint8Array, 'views-final');
      out.push({ id: `${key.key}@${key.window.start}`, count: new DataView((r.value as Uint8Array).buffer, (r.value as Uint8Array).byteOffset).getInt32(0) });
    }
  }
  await cluster.settle(consumer.close());
  return out;
}

describe('windows on a cluster', () => {
  it('emits one final result per window exactly once, across a restart that replays late records', async () => {
    const cluster = await createTestCluster({ seed: 19, brokers: 3 });
    const admin = cluster.admin();
    await cluster.settle(admin.createTopic('views', { partitions: 3, replicationFactor: 3 }));
    await cluster.settle(admin.createTopic('views-final', { partitions: 3, replicationFactor: 3 }));
    // 600 views over 10 minutes, up to 5 s out of order (within the 10 s grace).
    const expected = new Map<string, number>();
    const records = Array.from({ length: 600 }, (_, i) => {
      const region = `r-${(i * 7) % 5}`;
      const timestamp = i * 1_000 + ((i * 31) % 5) * 1_000;
      const id = `${region}@${Math.floor(timestamp / MINUTE) * MINUTE}`;
      expected.set(id, (expected.get(id) ?? 0) + 1);
      return { key: region, value: 'v', timestamp };
    });
    const producer = cluster.producer();
    await cluster.settle(producer.send('views', records));
    // One record per partition far ahead closes every window above (its own window stays open).
    await cluster.settle(producer.send('views', [0, 1, 2].map((partition) => ({ key: 'tick', value: 'v', partition, timestamp: 100 * MINUTE }))));
    const config = { applicationId: 'views', processingGuarantee: 'exactly_once_v2' as const, replicationFactor: 3 };
    const app = createStreamsApp(viewsPerMinute(), cluster, { ...config, clientId: 'first' });
    await cluster.settle(app.start());
    const changelog = await cluster.settle(admin.describeTopic('views-views-per-minute-changelog'));
    expect(changelog.config['cleanup.policy']).toBe('compact,delete');
    expect(Number(changelog.config['retention.ms'])).toBe(200 * MINUTE + 86_400_000);
    let final: Array<{ id: string; count: number }> = [];
    await cluster.runUntil(() => app.metrics.processed >= 603, { maxSimulatedMs: 120_000 });
    // Interactive queries over the windows kept for the retention asked for.
    const windowsOf = app.windowStore<string, number>('views-per-minute');
    const queried = new Map<string, number>();
    for (const region of ['r-0', 'r-1', 'r-2', 'r-3', 'r-4']) for (const w of windowsOf.fetchRange(region, 0, 20 * MINUTE)) queried.set(`${region}@${w.window.start}`, w.value);
    expect(queried).toEqual(expected);
    expect(windowsOf.fetchAll(0, 0).map((kv) => kv.key.key)).toEqual(['r-0', 'r-1', 'r-2', 'r-3', 'r-4']);
    expect(() => app.sessionStore('views-per-minute')).toThrow(/not a session store/);
    await cluster.settle(app.close());
    final = await readFinal(cluster);
    expect(new Set(final.map((r) => r.id)).size).toBe(final.length);
    expect(new Map(final.map((r) => [r.id, r.count]))).toEqual(expected);

    // Late views for minute 0 after a restart: the restored window store keeps them closed.
    await cluster.settle(producer.send('views', ['r-0', 'r-1', 'r-2', 'r-3', 'r-4'].map((key) => ({ key, value: 'late', timestamp: 1_000 }))));
    await cluster.settle(producer.close());
    const again = createStreamsApp(viewsPerMinute(), cluster, { ...config, clientId: 'second' });
    await cluster.settle(again.start());
    await cluster.runUntil(() => again.metrics.processed >= 5, { maxSimulatedMs: 120_000 });
    expect(again.metrics.perTask.reduce((n, t) => n + t.droppedRecords, 0)).toBe(5);
    expect(again.metrics.restoredRecords).toBeGreaterThan(0);
    await cluster.settle(again.close());
    expect(await readFinal(cluster)).toEqual(final);

  });

  it('runs wall-clock punctuation from the injected clock, committed like records', async () => {
    const cluster = await createTestCluster({ seed: 4, brokers: 1 });
    const admin = cluster.admin();
    await cluster.settle(admin.createTopic('in', { partitions: 1, replicationFactor: 1 }));
    await cluster.settle(admin.createTopic('ticks', { partitions: 1, replicationFactor: 1 }));
    const builder = new StreamsBuilder();
    builder.stream('in', { key: string(), value: string() }).pipe(
      process<string, string, string, string>(() => {
        let ticks = 0;
        return {
          init(ctx) {
            ctx.schedule(1_000, 'WALL_CLOCK_TIME', (now) => ctx.forward({ key: 'tick', value: String(++ticks), timestamp: now, headers: [] }));
          },
          process() {},
        };
      }),
      toTopic('ticks', { key: string(), value: string() }),
    );
    const producer = cluster.producer();
    await cluster.settle(producer.send('in', [{ key: 'a', value: 'start' }]));
    await cluster.settle(producer.close());
    const app = createStreamsApp(builder.build(), cluster, { applicationId: 'ticker', processingGuarantee: 'exactly_once_v2' });
    await cluster.settle(app.start());
    await cluster.runUntil(() => app.metrics.processed >= 1, { maxSimulatedMs: 60_000 });
    const began = cluster.clock.now();
    await cluster.runFor(10_000);
    await cluster.settle(app.close());
    const consumer = cluster.consumer({ isolationLevel: 'read_committed', autoOffsetReset: 'earliest', enableAutoCommit: false });
    consumer.assign([{ topic: 'ticks', partition: 0 }]);
    const values: string[] = [];
    for (let idle = 0; idle < 3; ) {
      const batch = await cluster.settle(consumer.poll({ timeoutMs: 200 }));
      if (batch.length === 0) idle++;
      for (const r of batch) values.push(new TextDecoder().decode(r.value as Uint8Array));
    }
    // About one tick per simulated second, numbered without gaps (committed exactly once).
    expect(values.length).toBeGreaterThanOrEqual(9);
    expect(values.length).toBeLessThanOrEqual(Math.ceil((cluster.clock.now() - began) / 1_000) + 1);
    expect(values).toEqual(values.map((_, i) => String(i + 1)));

  });

  it('keeps window and session stores on disk under stateDir: a restart replays nothing and reads the same windows', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'samsa-windows-'));
    try {
      const cluster = await createTestCluster({ seed: 23, brokers: 1 });
      const admin = cluster.admin();
      await cluster.settle(admin.createTopic('clicks', { partitions: 2, replicationFactor: 1 }));
      const topology = () => {
        const builder = new StreamsBuilder();
        const clicks = builder.stream('clicks', { key: string(), value: string() });
        clicks.pipe(groupByKey(), windowedBy(tumbling({ sizeMs: 1_000, graceMs: 60_000 })), count({ store: 'per-second' }));
        clicks.pipe(groupByKey(), windowedBy(session({ inactivityGapMs: 500, graceMs: 60_000 })), count({ store: 'sessions' }));
        return builder.build();
      };
      const producer = cluster.producer();
      await cluster.settle(producer.send('clicks', Array.from({ length: 40 }, (_, i) => ({ key: `u${i % 4}`, value: 'c', timestamp: 1_000 + i * 100 }))));
      await cluster.settle(producer.close());
      const config = { applicationId: 'on-disk', processingGuarantee: 'exactly_once_v2' as const, stateDir: dir };
      const first = createStreamsApp(topology(), cluster, config);
      await cluster.settle(first.start());
      await cluster.runUntil(() => first.metrics.processed >= 40, { maxSimulatedMs: 60_000 });
      const before = first.windowStore<string, number>('per-second').all().map((kv) => `${kv.key.key}@${kv.key.window.start}=${kv.value}`);
      const sessionsBefore = first.sessionStore<string, number>('sessions').all().map((kv) => `${kv.key.key}@${kv.key.window.start}-${kv.key.window.end}=${kv.value}`);
      expect(before).toHaveLength(4 * 4);
      expect(sessionsBefore).toEqual(['u0@1000-4600=10', 'u1@1100-4700=10', 'u2@1200-4800=10', 'u3@1300-4900=10']);
      await cluster.settle(first.close());
      const second = createStreamsApp(topology(), cluster, config);
      await cluster.settle(second.start());
      await cluster.runUntil(() => second.state === 'RUNNING' && second.metrics.tasks.length === 2, { maxSimulatedMs: 60_000 });
      expect(second.metrics.restoredRecords).toBe(0);
      expect(second.windowStore<string, number>('per-second').all().map((kv) => `${kv.key.key}@${kv.key.window.start}=${kv.value}`)).toEqual(before);
      expect(second.sessionStore<string, number>('sessions').all().map((kv) => `${kv.key.key}@${kv.key.window.start}-${kv.key.window.end}=${kv.value}`)).toEqual(sessionsBefore);
      await cluster.settle(second.close());
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
