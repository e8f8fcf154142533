/**
 * Embedded-cluster benchmarks (issue: the actor cluster): produce and consume throughput on a
 * 3-broker cluster with Kafka's default batching, 100-byte values and 16-byte keys; end-to-end
 * latency at a fixed rate; and the cost of the actor layer, as the full producer → broker →
 * consumer rate divided by the raw log append + read rate of the same records in the same run.
 */
import { createCluster } from '../src/actors/cluster.ts';
import { SystemClock } from '../src/clock.ts';
import { PartitionLog } from '../src/log/partitionLog.ts';
import { decodeRecordBatch, encodeRecordBatch, LOG_OVERHEAD } from '../src/log/recordBatch.ts';
import { MemoryStorage } from '../src/log/storage/memoryStorage.ts';
import { measurement } from './harness.ts';
import type { Measurement } from './harness.ts';

const RECORDS = Number(process.env.BENCH_CLUSTER_RECORDS ?? 1_000_000);
const VALUE = new Uint8Array(100).map((_, i) => (i * 7) & 0xff);
const PARTITIONS = 6;
const SEND_CHUNK = 1000;
const IN_FLIGHT_SENDS = 64;

function keys(count: number): Uint8Array[] {
  return Array.from({ length: count }, (_, i) => {
    const k = new Uint8Array(16);
    new DataView(k.buffer).setUint32(0, i);
    return k;
  });
}

/** Raw log rate: append pre-batched records to in-memory logs, then read them back decoded. */
function rawLogRate(): number {
  const ks = keys(RECORDS);
  const perBatch = 130;
  const start = process.hrtime.bigint();
  const log = PartitionLog.open({ storage: new MemoryStorage(), dir: 'raw-0', clock: new SystemClock() });
  for (let i = 0; i < RECORDS; i += perBatch) {
    const records = [];
    for (let j = i; j < Math.min(RECORDS, i + perBatch); j++) records.push({ timestamp: 0, key: ks[j] as Uint8Array, value: VALUE });
    log.append(encodeRecordBatch({ records }));
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
  await cluster.admin().createTopic('bench', { partitions: PARTITIONS });
  const ks = keys(RECORDS);
  const chunks: Array<Array<{ key: Uint8Array; value: Uint8Array }>> = [];
  for (let i = 0; i < RECORDS; i += SEND_CHUNK) chunks.push(ks.slice(i, i + SEND_CHUNK).map((key) => ({ key, value: VALUE })));

  // Produce: acks=1, Kafka's default batch.size and linger.ms, sends pipelined.
  const producer = cluster.producer({ acks: 1 });
  const produceStart = process.hrtime.bigint();
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < chunks.length) await producer.send('bench', chunks[next++] as Array<{ key: Uint8Array; value: Uint8Array }>);
  };
  await Promise.all(Array.from({ length: IN_FLIGHT_SENDS }, worker));
  const produceSeconds = Number(process.hrtime.bigint() - produceStart) / 1e9;

  // Consume: one consumer assigned every partition, from the beginning.
  const consumer = cluster.consumer({ autoOffsetReset: 'earliest', enableAutoCommit: false, maxPollRecords: 10_000 });
  consumer.assign(Array.from({ length: PARTITIONS }, (_, partition) => ({ topic: 'bench', partition })));
  const consumeStart = process.hrtime.bigint();
  let consumed = 0;
  while (consumed < RECORDS) consumed += (await consumer.poll({ timeoutMs: 1000 })).length;
  const consumeSeconds = Number(process.hrtime.bigint() - consumeStart) / 1e9;

  // Full path: produce and consume the same records concurrently.
  await cluster.admin().createTopic('bench-pipe', { partitions: PARTITIONS });
  const pipeConsumer = cluster.consumer({ autoOffsetReset: 'earliest', enableAutoCommit: false, maxPollRecords: 10_000 });
  pipeConsumer.assign(Array.from({ length: PARTITIONS }, (_, partition) => ({ topic: 'bench-pipe', partition })));
  const pipeStart = process.hrtime.bigint();
  next = 0;
  const pipeWorker = async (): Promise<void> => {
    while (next < chunks.length) await producer.send('bench-pipe', chunks[next++] as Array<{ key: Uint8Array; value: Uint8Array }>);
  };
  const producing = Promise.all(Array.from({ length: IN_FLIGHT_SENDS }, pipeWorker));
  let piped = 0;
  while (piped < RECORDS) piped += (await pipeConsumer.poll({ timeoutMs: 1000 })).length;
  await producing;
  const pipeSeconds = Number(process.hrtime.bigint() - pipeStart) / 1e9;
  const raw = rawLogRate();

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
      measurement('producer -> broker -> consumer, concurrent', RECORDS, bytes, pipeSeconds, { reference: 'raw log', ratio: RECORDS / pipeSeconds / raw, target: '>= 50% of raw log' }),
    ],
    latency: { p50: pct(50), p99: pct(99), rate },
  };
}
