/**
 * Embedded-cluster benchmarks (issue: the actor cluster): produce and consume throughput on a
 * 3-broker cluster with Kafka's default batching, 100-byte values and 16-byte keys; end-to-end
 * latency at a fixed rate; and the cost of the actor layer, as the full producer → broker →
 * consumer rate divided by the raw log append + read rate of the same records in the same run.
 */
import { createCluster } from '../src/cluster/cluster.ts';
import { SystemClock } from '../src/clock.ts';
import { PartitionLog } from '../src/log/partitionLog.ts';
import { decodeRecordBatch, encodeRecordBatch, LOG_OVERHEAD } from '../src/record/recordBatch.ts';
import { MemoryStorage } from '../src/log/storage/memoryStorage.ts';
import { measurement, median } from './harness.ts';
import type { Measurement } from './harness.ts';

const RECORDS = Number(process.env.BENCH_CLUSTER_RECORDS ?? 1_000_000);
const VALUE = new Uint8Array(100).map((_, i) => (i * 7) & 0xff);
const PARTITIONS = 6;
const SEND_CHUNK = 1000;
/** Sends of SEND_CHUNK records awaited concurrently (16,000 records in flight). */
const IN_FLIGHT_SENDS = 16;
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 5);


/**
 * 16-byte keys: a pool of distinct keys, views of one buffer, used in turn. Records are built
 * per send as an application would, so the benchmark's own input does not sit in the heap.
 */
const KEY_POOL = 1 << 16;
const KEYS = ((): Uint8Array[] => {
  const all = new Uint8Array(KEY_POOL * 16);
  const view = new DataView(all.buffer);
  return Array.from({ length: KEY_POOL }, (_, i) => {
    view.setUint32(i * 16, i);
    return all.subarray(i * 16, i * 16 + 16);
  });
})();

/** The `count` records starting at record number `first`. */
function records(first: number, count: number): Array<{ key: Uint8Array; value: Uint8Array }> {
  const out = new Array<{ key: Uint8Array; value: Uint8Array }>(count);
  for (let i = 0; i < count; i++) out[i] = { key: KEYS[(first + i) & (KEY_POOL - 1)] as Uint8Array, value: VALUE };
  return out;
}

/** Raw log rate: append pre-batched records to in-memory logs, then read them back decoded. */
function rawLogRate(): number {
  const perBatch = 130;
  const start = process.hrtime.bigint();
  const log = PartitionLog.open({ storage: new MemoryStorage(), dir: 'raw-0', clock: new SystemClock() });
  for (let i = 0; i < RECORDS; i += perBatch) {
    const batch = [];
    for (let j = i; j < Math.min(RECORDS, i + perBatch); j++) batch.push({ timestamp: 0, key: KEYS[j & (KEY_POOL - 1)] as Uint8Array, value: VALUE });
    log.append(encodeRecordBatch({ records: batch }));
  }
  let read = 0;
  let offset = 0n;
  while (offset < log.logEndOffset) {
    const { records } = log.read(offset, { maxBytes: 1 << 20 });
    let p = 0;
    while (p < records.length) {
      const batch = decodeRecordBatch(records, p);
      read += batch.records.length;
      offset = batch.header.baseOffset + BigInt(batch.header.lastOffsetDelta) + 1n;
      p += batch.header.batchLength + LOG_OVERHEAD;
    }
  }
  if (read !== RECORDS) throw new Error(`raw read ${read} of ${RECORDS}`);
  return RECORDS / (Number(process.hrtime.bigint() - start) / 1e9);
}

/** Runs the cluster benchmarks. */
export async function runClusterBenchmarks(): Promise<{ rows: Measurement[]; latency: { p50: number; p99: number; rate: number } }> {
  const clock = new SystemClock();
  const cluster = await createCluster({ brokers: 3, clock, seed: 7 });
  const chunks = Math.ceil(RECORDS / SEND_CHUNK);
  const chunk = (n: number): Array<{ key: Uint8Array; value: Uint8Array }> => records(n * SEND_CHUNK, Math.min(SEND_CHUNK, RECORDS - n * SEND_CHUNK));

  // Each round: produce to a fresh topic, consume it, then produce and consume another one
  // concurrently, then the raw-log reference; topics are deleted after use so every round starts
  // from the same heap. One warm-up round first (JIT), then the median of ROUNDS (for the full
  // path's ratio, the median of the rounds' ratios).
  const producer = cluster.producer({ acks: 1 });
  const admin = cluster.admin();
  const all = (topic: string): Array<{ topic: string; partition: number }> => Array.from({ length: PARTITIONS }, (_, partition) => ({ topic, partition }));
  const produceAll = async (topic: string): Promise<void> => {
    let next = 0;
    const worker = async (): Promise<void> => {
      while (next < chunks) await producer.send(topic, chunk(next++));
    };
    await Promise.all(Array.from({ length: IN_FLIGHT_SENDS }, worker));
  };
  const consumeAll = async (topic: string): Promise<void> => {
    const consumer = cluster.consumer({ autoOffsetReset: 'earliest', enableAutoCommit: false, maxPollRecords: 10_000 });
    consumer.assign(all(topic));
    let consumed = 0;
    while (consumed < RECORDS) consumed += (await consumer.poll({ timeoutMs: 1000 })).length;
    await consumer.close();
  };
  const seconds = async (body: () => Promise<void>): Promise<number> => {
    const start = process.hrtime.bigint();
    await body();
    return Number(process.hrtime.bigint() - start) / 1e9;
  };
  const produceTimes: number[] = [];
  const consumeTimes: number[] = [];
  const pipeTimes: number[] = [];
  const rawRates: number[] = [];
  const pipeRatios: number[] = [];
  for (let round = -1; round < ROUNDS; round++) {
    const topic = `bench-${round + 1}`;
    await admin.createTopic(topic, { partitions: PARTITIONS });
    // Produce: acks=1, Kafka's default batch.size and linger.ms, sends pipelined.
    const produced = await seconds(() => produceAll(topic));
    // Consume: one consumer assigned every partition, from the beginning.
    const consumed = await seconds(() => consumeAll(topic));
    await admin.deleteTopic(topic);
    // Full path: produce and consume the same records concurrently.
    const pipe = `pipe-${round + 1}`;
    await admin.createTopic(pipe, { partitions: PARTITIONS });
    const piped = await seconds(() => Promise.all([produceAll(pipe), consumeAll(pipe)]).then(() => undefined));
    await admin.deleteTopic(pipe);
    const raw = rawLogRate();
    if (round < 0) continue;
    produceTimes.push(produced);
    consumeTimes.push(consumed);
    pipeTimes.push(piped);
    rawRates.push(raw);
    // The ratio is taken per round, from two measurements made back to back, so a slow spell of
    // a shared machine weighs on both sides of it rather than on one.
    pipeRatios.push(RECORDS / piped / raw);
    if (process.env.BENCH_DEBUG) console.log(`round ${round}: produce ${(RECORDS / produced / 1e3).toFixed(0)}k consume ${(RECORDS / consumed / 1e3).toFixed(0)}k pipe ${(RECORDS / piped / 1e3).toFixed(0)}k raw ${(raw / 1e3).toFixed(0)}k ratio ${((RECORDS / piped / raw) * 100).toFixed(0)}%`);
  }
  const produceSeconds = median(produceTimes);
  const consumeSeconds = median(consumeTimes);
  const pipeSeconds = median(pipeTimes);
  const raw = median(rawRates);

  // Latency at a fixed rate: 20 records every ms (20,000 records/s) for 3 s.
  await cluster.admin().createTopic('bench-latency', { partitions: PARTITIONS });
  const latencyConsumer = cluster.consumer({ autoOffsetReset: 'latest', enableAutoCommit: false, fetchMaxWaitMs: 500 });
  latencyConsumer.assign(Array.from({ length: PARTITIONS }, (_, partition) => ({ topic: 'bench-latency', partition })));
  await latencyConsumer.poll({ timeoutMs: 0 });
  const latencies: number[] = [];
  const rate = 20_000;
  const durationMs = 3000;
  const sentAt = new Map<string, bigint>();
  let stop = false;
  const receive = (async () => {
    while (!stop || latencies.length < sentAt.size) {
      for (const r of await latencyConsumer.poll({ timeoutMs: 100 })) {
        const id = new TextDecoder().decode(r.value as Uint8Array);
        const at = sentAt.get(id);
        if (at !== undefined) latencies.push(Number(process.hrtime.bigint() - at) / 1e6);
      }
      if (stop && latencies.length >= sentAt.size) break;
    }
  })();
  const latencyStart = clock.now();
  let seq = 0;
  while (clock.now() - latencyStart < durationMs) {
    const batch = Array.from({ length: rate / 1000 }, () => ({ key: null, value: `m${seq++}` }));
    const now = process.hrtime.bigint();
    for (const r of batch) sentAt.set(r.value, now);
    void producer.send('bench-latency', batch);
    await new Promise<void>((resolve) => clock.setTimeout(() => resolve(), 1));
  }
  stop = true;
  await receive;
  latencies.sort((a, b) => a - b);
  const pct = (p: number): number => latencies[Math.min(latencies.length - 1, Math.floor((p / 100) * latencies.length))] as number;
  await cluster.stop();

  const bytes = RECORDS * (100 + 16 + 10);
  return {
    rows: [
      measurement('produce, 3 brokers, acks=1', RECORDS, bytes, produceSeconds, { target: '>= 1,000,000 rec/s' }),
      measurement('consume, 1 consumer, 6 partitions', RECORDS, bytes, consumeSeconds, { target: '>= 1,000,000 rec/s' }),
      measurement('raw log append + read (reference)', RECORDS, bytes, RECORDS / raw),
      measurement('producer -> broker -> consumer, concurrent', RECORDS, bytes, pipeSeconds, { reference: 'raw log (per round)', ratio: median(pipeRatios), target: '>= 50% of raw log' }),
    ],
    latency: { p50: pct(50), p99: pct(99), rate },
  };
}
