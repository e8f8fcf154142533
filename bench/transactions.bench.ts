/**
 * Exactly-once benchmarks (issue: exactly-once), each against a reference measured in the same
 * run on the same embedded 3-broker cluster (RF=3, min.insync.replicas=2, acks=all):
 * - the idempotent producer against the same producer with idempotence off;
 * - a read-process-write pipeline committing a transaction every 100 ms (exactly_once_v2) against
 *   the same pipeline at least once (idempotent producer, offsets committed every 100 ms after
 *   the outputs are acknowledged), as Confluent compared transactions with at-least-once delivery.
 * Rounds are interleaved and the median is reported; every case uses fresh topics.
 */
import { createCluster } from '../src/cluster/cluster.ts';
import type { Cluster } from '../src/cluster/cluster.ts';
import { SystemClock } from '../src/clock.ts';
import { BENCH_KEYS, BENCH_VALUE, measurement, median } from './harness.ts';
import type { Measurement } from './harness.ts';

const PRODUCE_RECORDS = Number(process.env.BENCH_TXN_PRODUCE_RECORDS ?? 300_000);
const PIPELINE_RECORDS = Number(process.env.BENCH_TXN_PIPELINE_RECORDS ?? 300_000);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 5);
const PARTITIONS = 6;
const VALUE = BENCH_VALUE;
const KEYS = BENCH_KEYS;

async function seconds(body: () => Promise<void>): Promise<number> {
  const start = process.hrtime.bigint();
  await body();
  return Number(process.hrtime.bigint() - start) / 1e9;
}

let topicSeq = 0;
/**
 * A new topic, written once to every partition so its followers are fetching before anything is
 * timed (a follower fetcher waiting on another fetch picks a new partition up on its next one).
 */
async function freshTopic(cluster: Cluster, prefix: string): Promise<string> {
  const name = `${prefix}-${topicSeq++}`;
  await cluster.admin().createTopic(name, { partitions: PARTITIONS, replicationFactor: 3, config: { 'min.insync.replicas': 2 } });
  const warm = cluster.producer({ acks: 'all' });
  await warm.send(name, Array.from({ length: PARTITIONS }, (_, partition) => ({ partition, value: 'warm-up' })));
  await warm.close();
  return name;
}

/** Produces `count` records in sends of 1000, 16 sends outstanding. */
async function produce(cluster: Cluster, topic: string, count: number, idempotent: boolean): Promise<void> {
  const producer = cluster.producer({ acks: 'all', idempotent });
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < count) {
      const first = next;
      next += 1000;
      const records = Array.from({ length: Math.min(1000, count - first) }, (_, i) => ({ key: KEYS[(first + i) & 4095] as Uint8Array, value: VALUE }));
      await producer.send(topic, records);
    }
  };
  await Promise.all(Array.from({ length: 16 }, worker));
  await producer.close();
}

/**
 * Runs a pipeline from `input` to a fresh topic until its last input record's outputs are
 * committed; timed from the first record it processes (the group join before it is not part of
 * the throughput), through the final commit.
 */
async function pipe(cluster: Cluster, input: string, count: number, guarantee: 'exactly_once_v2' | 'at_least_once'): Promise<number> {
  const output = await freshTopic(cluster, `out-${guarantee}`);
  let processed = 0;
  let started = 0n;
  let resolveDone: () => void = () => undefined;
  const done = new Promise<void>((resolve) => (resolveDone = resolve));
  const pipeline = cluster.pipeline({
    groupId: `bench-${guarantee}-${topicSeq}`,
    from: input,
    to: output,
    processingGuarantee: guarantee,
    commitIntervalMs: 100,
    consumer: { maxPollRecords: 5_000 },
    process: (r) => {
      if (processed++ === 0) started = process.hrtime.bigint();
      if (processed === count) resolveDone();
      return { key: r.key, value: r.value };
    },
  });
  await done;
  // stop() commits what is left: the last transaction (or offset commit) is part of the work.
  await pipeline.stop();
  const elapsed = Number(process.hrtime.bigint() - started) / 1e9;
  await cluster.admin().deleteTopic(output);
  return elapsed;
}

/** Runs the exactly-once benchmarks. */
export async function runTransactionBenchmarks(): Promise<Measurement[]> {
  const cluster = await createCluster({ brokers: 3, clock: new SystemClock(), seed: 11 });
  const idem: number[] = [];
  const plain: number[] = [];
  const eos: number[] = [];
  const alos: number[] = [];
  for (let round = -1; round < ROUNDS; round++) {
    // Idempotence on and off, interleaved.
    for (const idempotent of round % 2 === 0 ? [true, false] : [false, true]) {
      const topic = await freshTopic(cluster, idempotent ? 'idem' : 'plain');
      const t = await seconds(() => produce(cluster, topic, PRODUCE_RECORDS, idempotent));
      await cluster.admin().deleteTopic(topic);
      if (round >= 0) (idempotent ? idem : plain).push(t);
    }
    // The same input through both pipelines.
    const input = await freshTopic(cluster, 'in');
    await produce(cluster, input, PIPELINE_RECORDS - PARTITIONS, true);
    for (const guarantee of round % 2 === 0 ? (['exactly_once_v2', 'at_least_once'] as const) : (['at_least_once', 'exactly_once_v2'] as const)) {
      const t = await pipe(cluster, input, PIPELINE_RECORDS, guarantee);
      if (round >= 0) (guarantee === 'exactly_once_v2' ? eos : alos).push(t);
    }
    await cluster.admin().deleteTopic(input);
  }
  await cluster.stop();
  const bytes = (n: number): number => n * (100 + 16 + 10);
  const idemRate = PRODUCE_RECORDS / median(idem);
  const plainRate = PRODUCE_RECORDS / median(plain);
  const eosRate = PIPELINE_RECORDS / median(eos);
  const alosRate = PIPELINE_RECORDS / median(alos);
  return [
    measurement('produce acks=all, idempotence off (reference)', PRODUCE_RECORDS, bytes(PRODUCE_RECORDS), median(plain)),
    measurement('produce acks=all, idempotent', PRODUCE_RECORDS, bytes(PRODUCE_RECORDS), median(idem), { reference: 'idempotence off', ratio: idemRate / plainRate, target: 'overhead <= 5%' }),
    measurement('read-process-write, at least once, 100 ms commits (reference)', PIPELINE_RECORDS, bytes(PIPELINE_RECORDS), median(alos)),
    measurement('read-process-write, exactly once, 100 ms transactions', PIPELINE_RECORDS, bytes(PIPELINE_RECORDS), median(eos), { reference: 'at least once', ratio: eosRate / alosRate, target: '>= 80% of at least once' }),
  ];
}
