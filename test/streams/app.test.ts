/**
 * A topology on a cluster (createStreamsApp) on simulated time: the order-statistics topology with
 * a repartition and a counted store under exactly_once_v2, checked against an oracle; a second
 * instance joining (tasks move, stores restored from their changelogs) and the first leaving; and
 * start refusing what cannot run.
 */
import { filter as rxFilter } from 'rxjs';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { consoleLogger } from '../../src/logger.ts';
import { TopologyError } from '../../src/errors.ts';
import { createStreamsApp } from '../../src/streams/app.ts';
import type { StreamsState } from '../../src/streams/app.ts';
import { StreamsBuilder } from '../../src/streams/builder.ts';
import { count, groupByKey, selectKey, toTopic } from '../../src/streams/operators.ts';
import { int32, json, string } from '../../src/streams/serdes.ts';
import { createTestCluster } from '../../src/testing.ts';
import { oracle, orderStats, readOutput, sendOrders } from './orderStatsFixture.ts';
import type { Order } from './orderStatsFixture.ts';

describe('createStreamsApp on a cluster', () => {
  it('counts exactly once through a repartition topic; the store and the output equal the oracle', async () => {
    const cluster = await createTestCluster({ seed: 21, brokers: 3 });
    const admin = cluster.admin();
    await cluster.settle(admin.createTopic('orders', { partitions: 3, replicationFactor: 3 }));
    await cluster.settle(admin.createTopic('orders-per-customer', { partitions: 3, replicationFactor: 3 }));
    await sendOrders(cluster, 0, 300);
    const app = createStreamsApp(orderStats(), cluster, { applicationId: 'order-stats', processingGuarantee: 'exactly_once_v2', replicationFactor: 3, statestoreCacheMaxBytes: 0 });
    const states: StreamsState[] = [];
    app.state$.subscribe((s) => states.push(s));
    // The store's committed changes, from whichever tasks hold it, and the metrics after each commit.
    const changes: Array<{ key: string; value: number | null; oldValue: number | null }> = [];
    app.changes<string, number>('orders-per-customer').subscribe((c) => changes.push(c));
    let commitsSeen = 0;
    app.metrics$.subscribe((m) => (commitsSeen = m.commits));
    expect(() => app.changes('nope')).toThrow(/no store "nope"/);
    await cluster.settle(app.start());
    expect((await cluster.settle(admin.describeTopic('order-stats-orders-per-customer-repartition'))).partitions).toHaveLength(3);
    const changelog = await cluster.settle(admin.describeTopic('order-stats-orders-per-customer-changelog'));
    expect(changelog.partitions).toHaveLength(3);
    expect(changelog.config['cleanup.policy']).toBe('compact');
    const expected = oracle(300);
    await cluster.runUntil(() => [...expected].every(([c, n]) => app.store<string, number>('orders-per-customer').get(c) === n), { maxSimulatedMs: 120_000 });
    expect(app.state).toBe('RUNNING');
    expect(app.metrics.tasks).toEqual(['0_0', '0_1', '0_2', '1_0', '1_1', '1_2']);
    // Each input record reached its task once (none was aborted in this run), and paid ones the aggregation.
    const perTask = app.metrics.perTask;
    expect(perTask.filter((t) => t.taskId.startsWith('0_')).reduce((n, t) => n + t.processed, 0)).toBe(300);
    expect(perTask.filter((t) => t.taskId.startsWith('1_')).reduce((n, t) => n + t.processed, 0)).toBe([...expected.values()].reduce((a, b) => a + b, 0));
    expect(perTask.every((t) => t.streamTime > 0)).toBe(true);
    expect(commitsSeen).toBeGreaterThan(0);
    // Committed changes, one per key per commit (the last write of the commit, as Kafka's record
    // cache dedupes): per customer each picks up where the previous one ended, up to the count.
    for (const [customer, n] of expected) {
      const mine = changes.filter((c) => c.key === customer);
      expect(mine.length).toBeGreaterThan(0);
      mine.forEach((c, i) => expect(c.oldValue).toBe(i === 0 ? null : mine[i - 1]?.value));
      expect(mine.at(-1)?.value).toBe(n);
    }
    await cluster.settle(app.close());
    expect(states).toEqual(['CREATED', 'REBALANCING', 'RUNNING', 'PENDING_SHUTDOWN', 'NOT_RUNNING']);
    const out = await readOutput(cluster, 3);
    expect(out.latest).toEqual(expected);
    // One output per paid order: nothing written twice, nothing lost.
    expect(out.records).toBe([...expected.values()].reduce((a, b) => a + b, 0));
  });

  it('moves tasks between instances: a joining instance restores stores from their changelogs', async () => {
    const cluster = await createTestCluster({ seed: 5, brokers: 3 });
    const admin = cluster.admin();
    await cluster.settle(admin.createTopic('orders', { partitions: 4, replicationFactor: 3 }));
    await cluster.settle(admin.createTopic('orders-per-customer', { partitions: 4, replicationFactor: 3 }));
    await sendOrders(cluster, 0, 200);
    const config = { applicationId: 'moving', processingGuarantee: 'exactly_once_v2' as const, replicationFactor: 3, statestoreCacheMaxBytes: 0 };
    const a = createStreamsApp(orderStats(), cluster, { ...config, clientId: 'a' });
    await cluster.settle(a.start());
    const first = oracle(200);
    await cluster.runUntil(() => [...first].every(([c, n]) => a.store<string, number>('orders-per-customer').get(c) === n), { maxSimulatedMs: 120_000 });
    const b = createStreamsApp(orderStats(), cluster, { ...config, clientId: 'b' });
    await cluster.settle(b.start());
    await cluster.runUntil(() => b.metrics.tasks.length > 0 && a.metrics.tasks.length > 0 && a.state === 'RUNNING' && b.state === 'RUNNING', { maxSimulatedMs: 120_000 });
    await sendOrders(cluster, 200, 150);
    await cluster.settle(a.close());
    // b now holds every task; what a counted came back from the changelogs.
    const all = oracle(350);
    await cluster.runUntil(() => b.metrics.tasks.length === 8 && b.state === 'RUNNING' && [...all].every(([c, n]) => b.store<string, number>('orders-per-customer').get(c) === n), { maxSimulatedMs: 180_000 });
    await cluster.settle(b.close());
    const out = await readOutput(cluster, 4);
    expect(out.latest).toEqual(all);
    expect(out.records).toBe([...all.values()].reduce((x, y) => x + y, 0));
  });

  it('pauses (KIP-834): keeps its tasks and takes no records until resumed, then counts exactly once', async () => {
    const cluster = await createTestCluster({ seed: 23, brokers: 1 });
    const admin = cluster.admin();
    await cluster.settle(admin.createTopic('orders', { partitions: 3 }));
    await cluster.settle(admin.createTopic('orders-per-customer', { partitions: 3 }));
    await sendOrders(cluster, 0, 60);
    const app = createStreamsApp(orderStats(), cluster, { applicationId: 'paused-stats', processingGuarantee: 'exactly_once_v2' });
    await cluster.settle(app.start());
    const counted = (): number => [...app.store<string, number>('orders-per-customer').all()].reduce((n, e) => n + e.value, 0);
    await cluster.runUntil(() => counted() === 40);
    app.pause();
    expect(app.isPaused()).toBe(true);
    await sendOrders(cluster, 60, 30);
    await cluster.runFor(5_000);
    expect(counted()).toBe(40);
    expect(app.state).toBe('RUNNING');
    expect(app.metrics.tasks.length).toBeGreaterThan(0);
    app.resume();
    await cluster.runUntil(() => counted() === 60);
    expect(new Map([...app.store<string, number>('orders-per-customer').all()].map((e) => [e.key, e.value]))).toEqual(oracle(90));
    await cluster.settle(app.close());
  });

  it('refuses to start without its source topics, and goes to ERROR', async () => {
    const cluster = await createTestCluster({ seed: 2 });
    const app = createStreamsApp(orderStats(), cluster, { applicationId: 'missing' });
    await expect(cluster.settle(app.start())).rejects.toThrow(TopologyError);
    await expect(cluster.settle(createStreamsApp(orderStats(), cluster, { applicationId: 'missing-2' }).start())).rejects.toThrow(/source topic "orders" does not exist/);
    expect(app.state).toBe('ERROR');
    expect(() => createStreamsApp(orderStats(), cluster, { applicationId: 'bad id!' })).toThrow(/applicationId/);
    expect(() => app.store('nope')).toThrow(/no store "nope"/);
  });

  it('replaces a thread that died of an error when the handler says so, and goes to ERROR when it does not', async () => {
    const cluster = await createTestCluster({ seed: 9, brokers: 3 });
    const admin = cluster.admin();
    await cluster.settle(admin.createTopic('orders', { partitions: 2, replicationFactor: 3 }));
    await cluster.settle(admin.createTopic('orders-per-customer', { partitions: 2, replicationFactor: 3 }));
    await sendOrders(cluster, 0, 60);
    let failures = 0;
    const flaky = () => {
      const builder = new StreamsBuilder();
      builder
        .stream('orders', { key: string(), value: json<Order>() })
        .pipe(
          rxFilter((r) => {
            // The 10th record seen fails the thread, once.
            if (++seen === 10 && failures++ === 0) throw new Error('flaky operator');
            return r.value.status === 'PAID';
          }),
          selectKey((r) => r.value.customerId),
          groupByKey({ key: string() }),
          count({ store: 'orders-per-customer' }),
        )
        .toStream()
        .pipe(toTopic('orders-per-customer', { value: int32() }));
      return builder.build();
    };
    let seen = 0;
    const handled: unknown[] = [];
    const app = createStreamsApp(flaky(), cluster, { applicationId: 'flaky', processingGuarantee: 'exactly_once_v2', replicationFactor: 3, statestoreCacheMaxBytes: 0, uncaughtExceptionHandler: (e) => (handled.push(e), 'REPLACE_THREAD') });
    await cluster.settle(app.start());
    const expected = oracle(60);
    await cluster.runUntil(() => [...expected].every(([c, n]) => app.store<string, number>('orders-per-customer').get(c) === n), { maxSimulatedMs: 120_000 });
    expect(handled.map((e) => (e as Error).message)).toEqual(['flaky operator']);
    expect(app.state).toBe('RUNNING');
    await cluster.settle(app.close());
    const out = await readOutput(cluster, 2);
    expect(out.latest).toEqual(expected);
    expect(out.records).toBe([...expected.values()].reduce((a, b) => a + b, 0));

    seen = 0;
    failures = 0;
    const stopping = createStreamsApp(flaky(), cluster, { applicationId: 'flaky-2', processingGuarantee: 'exactly_once_v2', replicationFactor: 3, statestoreCacheMaxBytes: 0 });
    await cluster.settle(stopping.start());
    await cluster.runUntil(() => stopping.state === 'ERROR', { maxSimulatedMs: 60_000 });
    expect((stopping.error as Error).message).toBe('flaky operator');
  });

  it('keeps stores on disk under stateDir: a restart replays only the changelog after its checkpoint', async () => {
    const stateDir = mkdtempSync(join(tmpdir(), 'samsa-state-'));
    try {
      const cluster = await createTestCluster({ seed: 12, brokers: 3 });
      const admin = cluster.admin();
      await cluster.settle(admin.createTopic('orders', { partitions: 2, replicationFactor: 3 }));
      await cluster.settle(admin.createTopic('orders-per-customer', { partitions: 2, replicationFactor: 3 }));
      await sendOrders(cluster, 0, 120);
      const restored: Array<{ from: string; records: number }> = [];
      const logger = consoleLogger({ level: 'info', write: (e) => (e.message.startsWith('store restored') ? restored.push({ from: String(e.fields.from), records: Number(e.fields.records) }) : undefined) });
      const config = { applicationId: 'disk', processingGuarantee: 'exactly_once_v2' as const, replicationFactor: 3, stateDir, clientId: 'd', logger };
      const first = createStreamsApp(orderStats(), cluster, config);
      await cluster.settle(first.start());
      const early = oracle(120);
      await cluster.runUntil(() => [...early].every(([c, n]) => first.store<string, number>('orders-per-customer').get(c) === n), { maxSimulatedMs: 120_000 });
      await cluster.settle(first.close());
      expect(existsSync(join(stateDir, 'disk', '1_0', '.checkpoint'))).toBe(true);
      expect(restored).toEqual([]);

      // The same instance again: its stores are on disk and its checkpoints at the changelogs' ends.
      await sendOrders(cluster, 120, 60);
      const second = createStreamsApp(orderStats(), cluster, config);
      await cluster.settle(second.start());
      const all = oracle(180);
      await cluster.runUntil(() => [...all].every(([c, n]) => second.store<string, number>('orders-per-customer').get(c) === n), { maxSimulatedMs: 120_000 });
      expect(restored.every((r) => r.records === 0)).toBe(true);
      await cluster.settle(second.close());

      // Without a checkpoint the local state is of unknown age: wiped and restored in full.
      rmSync(join(stateDir, 'disk', '1_0', '.checkpoint'));
      restored.length = 0;
      const third = createStreamsApp(orderStats(), cluster, config);
      await cluster.settle(third.start());
      await cluster.runUntil(() => third.state === 'RUNNING' && [...all].every(([c, n]) => third.store<string, number>('orders-per-customer').get(c) === n), { maxSimulatedMs: 120_000 });
      expect(restored.some((r) => r.from === '0' && r.records > 0)).toBe(true);
      await cluster.settle(third.close());
    } finally {
      rmSync(stateDir, { recursive: true, force: true });
    }
  });
});
