/**
 * End-to-end exactly-once (issue: exactly-once; kafka-anchor.md §7 behaviour 25): a
 * read-process-write pipeline (orders → payments) runs on 3 workers while a seeded nemesis
 * crashes workers (a crashed worker goes silent: no LeaveGroup, no commit, no abort) and brokers,
 * isolates brokers and slows the network. The payments topic, read with read_committed, must equal
 * an oracle computed from the orders: exactly one payment per order, so every account's running
 * total is exact. The same run with `at_least_once` shows what the transaction buys: duplicates.
 */
import { describe, expect, it } from 'vitest';
import type { Pipeline } from '../../../src/actors/pipeline.ts';
import { createRandom } from '../../../src/random.ts';
import type { Random } from '../../../src/random.ts';
import { createTestCluster } from '../../../src/testing.ts';
import type { TestCluster } from '../../../src/testing.ts';
import { newestBrokerImage } from '../../helpers/cluster.ts';

const SEEDS = process.env.SIM_SEED !== undefined ? [Number(process.env.SIM_SEED)] : Array.from({ length: Number(process.env.SIM_SEEDS ?? 6) }, (_, i) => 100 + i);
const dec = new TextDecoder();
const ACCOUNTS = ['acme', 'globex', 'initech', 'hooli', 'umbrella'];

function sleep(cluster: TestCluster, ms: number): Promise<void> {
  return new Promise((resolve) => cluster.clock.setTimeout(resolve, ms));
}

interface Worker {
  readonly name: string;
  /** The identity kept across restarts (the transactional id derives from it). */
  readonly instance: string;
  readonly pipeline: Pipeline;
  crashed: boolean;
}

interface PipelineSimResult {
  readonly orders: Map<string, { account: string; amount: number }>;
  /** orderId → how many payments carry it. */
  readonly payments: Map<string, number>;
  readonly totals: Map<string, number>;
  readonly faults: string[];
  readonly summary: string;
}

async function runPipelineSim(seed: number, guarantee: 'exactly_once_v2' | 'at_least_once'): Promise<PipelineSimResult> {
  const cluster = await createTestCluster({ seed, brokers: 3, controllers: seed % 2 === 0 ? 3 : 1, brokerConfig: { offsetsTopicNumPartitions: 3, transactionStateLogNumPartitions: 3 } });
  const random: Random = createRandom(seed ^ 0x5eed);
  const admin = cluster.admin();
  for (const topic of ['orders', 'payments']) await cluster.settle(admin.createTopic(topic, { partitions: 3, replicationFactor: 3, config: { 'min.insync.replicas': 2 } }));
  const faults: string[] = [];

  // Orders arrive throughout the run, keyed by account.
  const orders = new Map<string, { account: string; amount: number }>();
  const source = cluster.producer({ clientId: 'shop', requestTimeoutMs: 10_000 });
  const ordering = (async () => {
    for (let n = 0; n < 120; n++) {
      const account = ACCOUNTS[random.int(ACCOUNTS.length)] as string;
      const amount = 1 + random.int(500);
      const id = `o${n}`;
      orders.set(id, { account, amount });
      // The idempotent producer retries until acknowledged: every order is in the log exactly once.
      await source.send('orders', { key: account, value: `${id}:${amount}` }).catch(() => orders.delete(id));
      await sleep(cluster, 20 + random.int(120));
    }
  })();

  const workers: Worker[] = [];
  let started = 0;
  const startWorker = (instance?: string): Worker => {
    const id = `w${started++}`;
    const pipeline = cluster.pipeline({
      groupId: 'payments-app',
      clientId: id,
      instanceId: instance ?? id,
      from: 'orders',
      to: 'payments',
      processingGuarantee: guarantee,
      // Kafka Streams commits every 100 ms with exactly-once and every 30 s at least once; 2 s here.
      commitIntervalMs: guarantee === 'exactly_once_v2' ? 100 : 2_000,
      consumer: { sessionTimeoutMs: 10_000, heartbeatIntervalMs: 1_000, requestTimeoutMs: 5_000 },
      producer: { requestTimeoutMs: 5_000, transactionTimeoutMs: 10_000 },
      process: (r) => {
        const [orderId, amount] = dec.decode(r.value as Uint8Array).split(':');
        const account = dec.decode(r.key as Uint8Array);
        return { key: account, value: `${orderId}:${account}:${amount}` };
      },
    });
    // A worker that hit a fatal error (fenced) just ends; the simulation starts others.
    pipeline.done.catch(() => undefined);
    const worker = { name: id, instance: instance ?? id, pipeline, crashed: false };
    workers.push(worker);
    return worker;
  };
  for (let i = 0; i < 3; i++) startWorker();

  /** A worker process dies: its clients go silent (no leave, no commit, no abort). */
  const crashWorker = (worker: Worker): void => {
    worker.crashed = true;
    const brokers = [...cluster.brokerIds.map((b) => `broker:${b}`), ...cluster.controllerNodes];
    cluster.network.isolate(`client:${worker.name}-consumer`, brokers);
    cluster.network.isolate(`client:${worker.name}-producer`, brokers);
  };
  const leaderOf = (topic: string, partition: number): number => newestBrokerImage(cluster)?.topics[topic]?.partitions[partition]?.leader ?? -1;

  const nemesis = (async () => {
    for (let i = 0; i < 5; i++) {
      await sleep(cluster, 1_500 + random.int(2_500));
      const kind = ['crash-worker', 'crash-worker-restart', 'crash-leader', 'crash-coordinator', 'slow-network'][random.int(5)] as string;
      faults.push(kind);
      const live = workers.filter((w) => !w.crashed);
      switch (kind) {
        case 'crash-worker': {
          // A different process takes over: the zombie is fenced by the group generation (KIP-447).
          const victim = live[random.int(live.length)];
          if (victim === undefined) break;
          crashWorker(victim);
          await sleep(cluster, 500 + random.int(3_000));
          startWorker();
          break;
        }
        case 'crash-worker-restart': {
          // The same instance restarts: same transactional id, so initTransactions fences its predecessor.
          const victim = live[random.int(live.length)];
          if (victim === undefined) break;
          crashWorker(victim);
          await sleep(cluster, 500 + random.int(3_000));
          startWorker(victim.instance);
          break;
        }
        case 'crash-leader': {
          const leader = leaderOf(random.int(2) === 0 ? 'orders' : 'payments', random.int(3));
          if (leader < 0) break;
          cluster.broker(leader).crash();
          await sleep(cluster, 1_000 + random.int(5_000));
          await cluster.broker(leader).restart();
          break;
        }
        case 'crash-coordinator': {
          const leader = leaderOf('__transaction_state', random.int(3));
          if (leader < 0) break;
          cluster.broker(leader).crash();
          await sleep(cluster, 1_000 + random.int(5_000));
          await cluster.broker(leader).restart();
          break;
        }
        case 'slow-network':
          cluster.network.setFaults({ delayMs: { min: 0, max: 50 + random.int(150) } });
          await sleep(cluster, 1_000 + random.int(3_000));
          cluster.network.setFaults({});
          break;
      }
    }
  })();

  const phase = (name: string) => (e: unknown): never => {
    throw new Error(`${name}: ${(e as Error).message} (faults: ${faults.join(', ')})`);
  };
  await cluster.settle(Promise.all([ordering, nemesis]), { maxSimulatedMs: 600_000 }).catch(phase('run'));
  // Heal the cluster (crashed workers stay dead) and let the live workers finish the input.
  for (const id of cluster.brokerIds) if (!cluster.broker(id).running) await cluster.settle(cluster.broker(id).restart()).catch(phase('restart'));
  if (workers.every((w) => w.crashed)) startWorker();
  const processed = async (): Promise<number> => {
    const consumer = cluster.consumer({ groupId: 'payments-app', enableAutoCommit: false, isolationLevel: 'read_committed' });
    const committed = await consumer.committed([0, 1, 2].map((partition) => ({ topic: 'orders', partition })));
    await consumer.close();
    const ends = await admin.listOffsets('orders', 'latest');
    return ends.filter((e) => (committed.find((c) => c.partition === e.partition)?.offset ?? -1n) < e.offset).length;
  };
  await cluster.settle(
    (async () => {
      for (let i = 0; i < 120 && (await processed()) > 0; i++) await sleep(cluster, 1_000);
    })(),
    { maxSimulatedMs: 600_000 },
  ).catch(phase('drain'));
  for (const w of workers) if (!w.crashed) await cluster.settle(w.pipeline.stop(), { maxSimulatedMs: 60_000 }).catch(phase(`stop ${w.name}`));

  // The output as a read_committed reader sees it.
  const reader = cluster.consumer({ autoOffsetReset: 'earliest', enableAutoCommit: false, isolationLevel: 'read_committed' });
  reader.assign([0, 1, 2].map((partition) => ({ topic: 'payments', partition })));
  const ends = await cluster.settle(admin.listOffsets('payments', 'latest', { isolationLevel: 'read_committed' })).catch(phase('ends'));
  const payments = new Map<string, number>();
  const totals = new Map<string, number>();
  await cluster.settle(
    (async () => {
      for (;;) {
        for (const r of await reader.poll({ timeoutMs: 200 })) {
          const [orderId, account, amount] = dec.decode(r.value as Uint8Array).split(':') as [string, string, string];
          payments.set(orderId, (payments.get(orderId) ?? 0) + 1);
          totals.set(account, (totals.get(account) ?? 0) + Number(amount));
        }
        // The consumer's position passes markers and aborted batches too (a partition may end on
        // several of them), so it, not the last record read, says when everything is read.
        let done = true;
        for (const e of ends) if ((await reader.position({ topic: 'payments', partition: e.partition })) < e.offset) done = false;
        if (done) break;
      }
    })(),
    { maxSimulatedMs: 120_000 },
  ).catch(phase('read'));
  await cluster.settle(cluster.stop(), { maxSimulatedMs: 120_000 }).catch(() => undefined);
  const summary = `[seed=${seed} ${guarantee}] ${orders.size} orders, ${[...payments.values()].reduce((a, b) => a + b, 0)} payments, ${workers.length} workers; faults: ${faults.join(', ')}`;
  return { orders, payments, totals, faults, summary };
}

function expectedTotals(orders: Map<string, { account: string; amount: number }>): Map<string, number> {
  const totals = new Map<string, number>();
  for (const o of orders.values()) totals.set(o.account, (totals.get(o.account) ?? 0) + o.amount);
  return totals;
}

describe('exactly-once pipeline under crashes: orders → payments equals the oracle', () => {
  for (const seed of SEEDS) {
    it(`seed ${seed}: every order paid exactly once, every account total exact`, async () => {
      const result = await runPipelineSim(seed, 'exactly_once_v2');
      if (process.env.SIM_VERBOSE) console.log(result.summary);
      const missing = [...result.orders.keys()].filter((id) => !result.payments.has(id));
      const duplicated = [...result.payments].filter(([, n]) => n > 1).map(([id]) => id);
      const unexpected = [...result.payments.keys()].filter((id) => !result.orders.has(id));
      expect({ missing, duplicated, unexpected }, result.summary).toEqual({ missing: [], duplicated: [], unexpected: [] });
      expect(Object.fromEntries(result.totals), result.summary).toEqual(Object.fromEntries(expectedTotals(result.orders)));
      expect(result.orders.size, result.summary).toBeGreaterThan(100);
    });
  }

  it('at_least_once under the same faults loses nothing but repeats payments (what the transactions prevent)', async () => {
    let duplicates = 0;
    for (const seed of SEEDS.slice(0, 3)) {
      const result = await runPipelineSim(seed, 'at_least_once');
      expect([...result.orders.keys()].filter((id) => !result.payments.has(id)), result.summary).toEqual([]);
      duplicates += [...result.payments.values()].filter((n) => n > 1).length;
    }
    expect(duplicates).toBeGreaterThan(0);
  });
});
