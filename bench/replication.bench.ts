/**
 * Replication benchmarks (issue: replication and high availability), all in one run on one
 * 3-broker embedded cluster:
 * - produce throughput with RF=1 acks=1, RF=3 acks=1 and RF=3 acks=all (min.insync.replicas=2),
 *   the shape of Kafka's 2014 benchmark (821,557 / 786,980 / 421,823 records/s there);
 * - failover time from a leader crash to the first successful acks=all write, in simulated time
 *   (the deterministic test cluster) and in wall-clock time (the embedded cluster on the system
 *   clock) when the in-process network reports the crash, and in simulated time when the leader
 *   is cut off instead, so only broker.session.timeout.ms (Kafka's default and a short one) fences it;
 * - controller failover: from a crash of the active controller of a 3-voter quorum to the first
 *   metadata change the quorum commits again.
 */
import { createCluster } from '../src/cluster/cluster.ts';
import type { Cluster, ClusterOptions } from '../src/cluster/cluster.ts';
import type { Producer } from '../src/clients/producer/producer.ts';
import { SystemClock } from '../src/clock.ts';
import { createTestCluster } from '../src/testing.ts';
import type { TestCluster } from '../src/testing.ts';
import { measurement, median } from './harness.ts';
import type { Measurement } from './harness.ts';

const RECORDS = Number(process.env.BENCH_REPLICATION_RECORDS ?? 500_000);
const VALUE = new Uint8Array(100).map((_, i) => (i * 7) & 0xff);
const PARTITIONS = 6;
const SEND_CHUNK = 1000;
const IN_FLIGHT_SENDS = 64;
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 5);

function chunks(): Array<Array<{ key: Uint8Array; value: Uint8Array }>> {
  const out: Array<Array<{ key: Uint8Array; value: Uint8Array }>> = [];
  for (let i = 0; i < RECORDS; i += SEND_CHUNK) {
    out.push(
      Array.from({ length: Math.min(SEND_CHUNK, RECORDS - i) }, (_, j) => {
        const key = new Uint8Array(16);
        new DataView(key.buffer).setUint32(0, i + j);
        return { key, value: VALUE };
      }),
    );
  }
  return out;
}

async function produceSeconds(producer: Producer, topic: string, work: ReadonlyArray<Array<{ key: Uint8Array; value: Uint8Array }>>): Promise<number> {
  const start = process.hrtime.bigint();
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < work.length) await producer.send(topic, work[next++] as Array<{ key: Uint8Array; value: Uint8Array }>);
  };
  await Promise.all(Array.from({ length: IN_FLIGHT_SENDS }, worker));
  return Number(process.hrtime.bigint() - start) / 1e9;
}

/** A result in milliseconds, printed after the throughput table. */
export interface FailoverResult {
  readonly name: string;
  readonly ms: number;
  readonly clock: 'simulated' | 'wall-clock';
}

/** Crashes the leader of `t`-0 and sends acks=all until one write succeeds; returns the time it took on the cluster's clock. */
async function leaderFailover(cluster: Cluster, run: <T>(p: Promise<T>) => Promise<T>): Promise<number> {
  const admin = cluster.admin();
  await run(admin.createTopic('t', { partitions: 1, replicationFactor: 3, config: { 'min.insync.replicas': 2 } }));
  const producer = cluster.producer({ acks: 'all', lingerMs: 0, requestTimeoutMs: 200, retryBackoffMs: 10, deliveryTimeoutMs: 120_000 });
  await run(producer.send('t', { value: 'warm-up' }));
  const leader = (await run(admin.describeTopic('t'))).partitions[0]!.leader;
  const crashedAt = cluster.clock.now();
  cluster.broker(leader).crash();
  // The producer retries NOT_LEADER / NETWORK_EXCEPTION with fresh metadata until the new leader answers.
  await run(producer.send('t', { value: 'after the crash' }));
  return cluster.clock.now() - crashedAt;
}

/**
 * Cuts the leader of `t`-0 off from every other node (no crash notice reaches anyone, as between
 * processes) and sends acks=all until one write succeeds: the controller fences it only after
 * broker.session.timeout.ms.
 */
async function leaderIsolation(cluster: TestCluster): Promise<number> {
  const run = <T>(p: Promise<T>): Promise<T> => cluster.settle(p, { maxSimulatedMs: 120_000 });
  const admin = cluster.admin();
  await run(admin.createTopic('t', { partitions: 1, replicationFactor: 3, config: { 'min.insync.replicas': 2 } }));
  const producer = cluster.producer({ clientId: 'isolation-producer', acks: 'all', lingerMs: 0, requestTimeoutMs: 200, retryBackoffMs: 10, deliveryTimeoutMs: 120_000 });
  await run(producer.send('t', { value: 'warm-up' }));
  const leader = (await run(admin.describeTopic('t'))).partitions[0]!.leader;
  const isolatedAt = cluster.clock.now();
  cluster.network.partition([`broker:${leader}`], [...cluster.brokerIds.filter((b) => b !== leader).map((b) => `broker:${b}` as const), ...cluster.controllerNodes, 'client:isolation-producer']);
  await run(producer.send('t', { value: 'after the isolation' }));
  return cluster.clock.now() - isolatedAt;
}

async function controllerFailover(cluster: Cluster, run: <T>(p: Promise<T>) => Promise<T>, until: () => number | undefined): Promise<number> {
  const active = until() ?? 0;
  const admin = cluster.admin({ requestTimeoutMs: 60_000 });
  await run(admin.createTopic('before', { partitions: 1, replicationFactor: 1 }));
  const crashedAt = cluster.clock.now();
  cluster.controller(active).crash();
  await run(admin.createTopic('after', { partitions: 1, replicationFactor: 1 }));
  return cluster.clock.now() - crashedAt;
}

async function wallClock(options: ClusterOptions, body: (cluster: Cluster) => Promise<number>): Promise<number> {
  const cluster = await createCluster({ brokers: 3, clock: new SystemClock(), seed: 11, ...options });
  try {
    return await body(cluster);
  } finally {
    await cluster.stop();
  }
}

async function simulated(seed: number, options: Parameters<typeof createTestCluster>[0], body: (cluster: TestCluster) => Promise<number>): Promise<number> {
  const cluster = await createTestCluster({ seed, brokers: 3, ...options });
  const ms = await body(cluster);
  await cluster.settle(cluster.stop());
  return ms;
}

const FAST = { brokerSessionTimeoutMs: 500, brokerHeartbeatIntervalMs: 100 } as const;

/** Runs the replication benchmarks. */
export async function runReplicationBenchmarks(): Promise<{ rows: Measurement[]; failovers: FailoverResult[] }> {
  const cluster = await createCluster({ brokers: 3, clock: new SystemClock(), seed: 9 });
  const admin = cluster.admin();
  const cases = {
    rf1: { replicationFactor: 1, acks: 1 as const },
    'rf3-acks1': { replicationFactor: 3, acks: 1 as const },
    'rf3-acksall': { replicationFactor: 3, acks: 'all' as const },
  };
  const work = chunks();
  const bytes = RECORDS * (100 + 16 + 10);
  // Interleaved rounds so machine noise hits every case alike, in a rotating order, after one
  // warm-up round; the median of ROUNDS per case. Each case writes a fresh topic (written once to
  // every partition before the clock starts, so its followers are fetching) that is deleted
  // afterwards, so no case runs on a larger heap.
  const times: Record<string, number[]> = { rf1: [], 'rf3-acks1': [], 'rf3-acksall': [] };
  const entries = Object.entries(cases);
  for (let round = -1; round < ROUNDS; round++) {
    for (let i = 0; i < entries.length; i++) {
      const [name, c] = entries[(i + Math.max(0, round)) % entries.length] as (typeof entries)[number];
      const topic = `${name}-${round + 1}`;
      await admin.createTopic(topic, { partitions: PARTITIONS, replicationFactor: c.replicationFactor, config: { 'min.insync.replicas': Math.min(2, c.replicationFactor) } });
      const producer = cluster.producer({ acks: c.acks });
      await producer.send(topic, Array.from({ length: PARTITIONS }, (_, partition) => ({ partition, value: 'warm-up' })));
      const seconds = await produceSeconds(producer, topic, work);
      if (round >= 0) times[name]!.push(seconds);
      await producer.close();
      await admin.deleteTopic(topic);
    }
  }
  await cluster.stop();
  const rf1 = median(times.rf1!);
  const rows = [
    measurement('produce RF=1, acks=1 (reference)', RECORDS, bytes, rf1),
    measurement('produce RF=3, acks=1', RECORDS, bytes, median(times['rf3-acks1']!), { reference: 'RF=1', ratio: rf1 / median(times['rf3-acks1']!) }),
    measurement('produce RF=3, acks=all, min.insync.replicas=2', RECORDS, bytes, median(times['rf3-acksall']!), { reference: 'RF=1', ratio: rf1 / median(times['rf3-acksall']!), target: '>= 60% of RF=1' }),
  ];

  const failovers: FailoverResult[] = [];
  failovers.push({ name: 'leader crash -> first acks=all write (crash noticed by the in-process network)', clock: 'simulated', ms: await simulated(21, {}, (c) => leaderFailover(c, (p) => c.settle(p, { maxSimulatedMs: 120_000 }))) });
  failovers.push({ name: 'leader crash -> first acks=all write (crash noticed by the in-process network)', clock: 'wall-clock', ms: await wallClock({}, (c) => leaderFailover(c, (p) => p)) });
  failovers.push({ name: 'leader isolated -> first acks=all write, default broker.session.timeout.ms (9 s)', clock: 'simulated', ms: await simulated(22, {}, leaderIsolation) });
  failovers.push({ name: 'leader isolated -> first acks=all write, broker.session.timeout.ms=500', clock: 'simulated', ms: await simulated(24, { brokerConfig: FAST }, leaderIsolation) });
  failovers.push({ name: 'active controller crash -> next committed metadata change (3 voters, Kafka quorum defaults)', clock: 'simulated', ms: await simulated(23, { controllers: 3 }, async (c) => {
    await c.runUntil(() => c.activeControllerId() !== undefined);
    return controllerFailover(c, (p) => c.settle(p, { maxSimulatedMs: 120_000 }), () => c.activeControllerId());
  }) });
  failovers.push({ name: 'active controller crash -> next committed metadata change (3 voters, Kafka quorum defaults)', clock: 'wall-clock', ms: await wallClock({ controllers: 3 }, async (c) => {
    while (c.activeControllerId() === undefined) await new Promise((resolve) => c.clock.setTimeout(() => resolve(undefined), 10));
    return controllerFailover(c, (p) => p, () => c.activeControllerId());
  }) });
  return { rows, failovers };
}
