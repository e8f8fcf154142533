/**
 * Standby replicas (num.standby.replicas) and the stream thread: each stateful task runs active on
 * one instance and warm on another, whose stores tail its changelog; when the active instance
 * goes, the standby's instance takes the task over after replaying only what it had not yet
 * applied (nothing, when it was caught up), where an instance without standbys replays the whole
 * changelog. Exactly-once holds across the failover.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { InvalidArgumentError } from '../../src/errors.ts';
import { createStreamsApp } from '../../src/streams/app.ts';
import type { StreamsConfig } from '../../src/streams/app.ts';
import { createTestCluster } from '../../src/testing.ts';
import { oracle, orderStats, readOutput, sendOrders } from './orderStatsFixture.ts';

const STATEFUL = ['1_0', '1_1', '1_2', '1_3'];

/** Two instances on 4 partitions, 300 orders counted; then `a` leaves and `b` takes everything over. Returns what `b` replayed to take over. */
async function failover(numStandbyReplicas: number, stateDir?: string): Promise<{ replayed: number; standbyRecords: number }> {
  const cluster = await createTestCluster({ seed: 31, brokers: 3 });
  const admin = cluster.admin();
  await cluster.settle(admin.createTopic('orders', { partitions: 4, replicationFactor: 3 }));
  await cluster.settle(admin.createTopic('orders-per-customer', { partitions: 4, replicationFactor: 3 }));
  await sendOrders(cluster, 0, 300);
  const config: StreamsConfig = { applicationId: 'warm', processingGuarantee: 'exactly_once_v2', replicationFactor: 3, numStandbyReplicas, statestoreCacheMaxBytes: 0 };
  const a = createStreamsApp(orderStats(), cluster, { ...config, clientId: 'a', ...(stateDir === undefined ? {} : { stateDir: join(stateDir, 'a') }) });
  const b = createStreamsApp(orderStats(), cluster, { ...config, clientId: 'b', ...(stateDir === undefined ? {} : { stateDir: join(stateDir, 'b') }) });
  await cluster.settle(Promise.all([a.start(), b.start()]));
  const counted = oracle(300);
  const settled = (): boolean => a.state === 'RUNNING' && b.state === 'RUNNING' && [...counted].every(([c, n]) => (a.store<string, number>('orders-per-customer').get(c) ?? b.store<string, number>('orders-per-customer').get(c)) === n);
  await cluster.runUntil(settled, { maxSimulatedMs: 120_000 });
  const [ta, tb] = [a.metrics, b.metrics];
  expect([...ta.tasks, ...tb.tasks].filter((t) => t.startsWith('1_')).sort()).toEqual(STATEFUL);
  if (numStandbyReplicas > 0) {
    // Each stateful task is warm on the instance that does not run it; stateless tasks have no standby.
    expect(ta.standbyTasks).toEqual(tb.tasks.filter((t) => t.startsWith('1_')));
    expect(tb.standbyTasks).toEqual(ta.tasks.filter((t) => t.startsWith('1_')));
    // b's standbys catch up with a's committed counts: with stale stores b answers for every customer.
    await cluster.runUntil(() => [...counted].every(([c, n]) => b.store<string, number>('orders-per-customer', { staleStores: true }).get(c) === n), { maxSimulatedMs: 60_000 });
    // Without stale stores, only b's own active tasks answer.
    const own = [...counted.keys()].filter((c) => b.store<string, number>('orders-per-customer').get(c) !== undefined);
    expect(own.length).toBeLessThan(counted.size);
    expect(b.metrics.standbyRecords).toBeGreaterThan(0);
    const [thread] = b.localThreadsMetadata();
    expect(thread).toEqual({ threadName: 'b-StreamThread-1', state: 'RUNNING', activeTasks: tb.tasks, standbyTasks: tb.standbyTasks });
  } else {
    expect([...ta.standbyTasks, ...tb.standbyTasks]).toEqual([]);
  }
  const replayedBefore = b.metrics.restoredRecords;
  await cluster.settle(a.close());
  await sendOrders(cluster, 300, 100);
  const all = oracle(400);
  await cluster.runUntil(() => b.state === 'RUNNING' && b.metrics.tasks.length === 8 && [...all].every(([c, n]) => b.store<string, number>('orders-per-customer').get(c) === n), { maxSimulatedMs: 180_000 });
  const result = { replayed: b.metrics.restoredRecords - replayedBefore, standbyRecords: b.metrics.standbyRecords };
  // A lone instance keeps no standbys.
  expect(b.metrics.standbyTasks).toEqual([]);
  await cluster.settle(b.close());
  const out = await readOutput(cluster, 4);
  expect(out.latest).toEqual(all);
  expect(out.records).toBe([...all.values()].reduce((x, y) => x + y, 0));
  return result;
}

describe('standby replicas', () => {
  it('keep warm copies: the instance taking over replays nothing, where one without standbys replays the changelog', async () => {
    const cold = await failover(0);
    const warm = await failover(1);
    expect(cold.replayed).toBeGreaterThan(0);
    expect(cold.standbyRecords).toBe(0);
    expect(warm.replayed).toBe(0);
  });

  it('keep warm copies on disk under stateDir, checkpointed as they tail', async () => {
    const stateDir = mkdtempSync(join(tmpdir(), 'samsa-standby-'));
    try {
      const warm = await failover(1, stateDir);
      expect(warm.replayed).toBe(0);
    } finally {
      rmSync(stateDir, { recursive: true, force: true });
    }
  });

  it('refuses a bad numStandbyReplicas', async () => {
    const cluster = await createTestCluster({ seed: 3 });
    for (const bad of [-1, 1.5, Number.NaN]) expect(() => createStreamsApp(orderStats(), cluster, { applicationId: 'x', numStandbyReplicas: bad })).toThrow(InvalidArgumentError);
    expect(() => createStreamsApp(orderStats(), cluster, { applicationId: 'x', numStandbyReplicas: -1 })).toThrow(/numStandbyReplicas/);
  });
});
