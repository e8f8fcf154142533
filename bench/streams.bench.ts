/**
 * Streams benchmarks (issue 16), each beside a reference measured in the same run:
 * - a stateless topology (filter + mapValues + toTopic) under exactly_once_v2 against
 *   `cluster.pipeline` doing the same work with the same commit interval (target ≥ 80 %);
 * - a stateful count-per-key topology (a store and its changelog) against the stateless one
 *   (target ≥ 50 %);
 * - the TopologyTestDriver against a bare RxJS `from(records).pipe(filter, map)` over the same
 *   decoded records (the physical limit; the ratio is reported, no target);
 * - restoring a store of 1 M keys from its changelog (records/s), and the in-memory store's
 *   bytes per key.
 * Rounds are interleaved and the median is reported; every case reads the same input topic.
 */
import { filter as rxFilter, from, map as rxMap } from 'rxjs';
import { createCluster } from '../src/cluster/cluster.ts';
import type { Cluster } from '../src/cluster/cluster.ts';
import { SystemClock } from '../src/clock.ts';
import { consoleLogger } from '../src/logger.ts';
import { createStreamsApp } from '../src/streams/app.ts';
import { StreamsBuilder } from '../src/streams/builder.ts';
import { count, filter, groupByKey, mapValues, toTopic } from '../src/streams/operators.ts';
import { bytes } from '../src/streams/serdes.ts';
import { inMemoryKeyValueStore } from '../src/streams/stores/keyValueStore.ts';
import { TopologyTestDriver } from '../src/streams/testDriver.ts';
import { BENCH_KEYS, BENCH_VALUE, measurement, median, forcedGc } from './harness.ts';
import type { Measurement } from './harness.ts';

const RECORDS = Number(process.env.BENCH_STREAMS_RECORDS ?? 200_000);
const DRIVER_RECORDS = Number(process.env.BENCH_STREAMS_DRIVER_RECORDS ?? 200_000);
const RESTORE_KEYS = Number(process.env.BENCH_STREAMS_RESTORE_KEYS ?? 1_000_000);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const PARTITIONS = 6;
const VALUE = BENCH_VALUE;
const KEYS = BENCH_KEYS;
/** The work both sides do per record: keep most records, and change the value. */
const keep = (value: Uint8Array | null): boolean => value !== null && value[1] !== 1;
const change = (value: Uint8Array): Uint8Array => value.subarray(0, 64);

let seq = 0;

async function produce(cluster: Cluster, topic: string, n: number): Promise<void> {
  const producer = cluster.producer({ acks: 'all' });
  const sends: Promise<unknown>[] = [];
  for (let first = 0; first < n; first += 1000) {
    sends.push(producer.send(topic, Array.from({ length: Math.min(1000, n - first) }, (_, i) => ({ key: KEYS[(first + i) & 4095] as Uint8Array, value: VALUE }))));
    if (sends.length >= 16) await sends.shift();
  }
  await Promise.all(sends);
  await producer.close();
}

/** The pipeline reference: the same filter and value change, exactly once, 100 ms transactions. */
async function pipelineRun(cluster: Cluster, input: string): Promise<number> {
  const output = `out-p-${seq++}`;
  await cluster.admin().createTopic(output, { partitions: PARTITIONS, replicationFactor: 3 });
  let seen = 0;
  let started = 0n;
  let resolveDone: () => void = () => undefined;
  const done = new Promise<void>((resolve) => (resolveDone = resolve));
  const pipeline = cluster.pipeline({
    groupId: `bench-pipeline-${seq}`,
    from: input,
    to: output,
    commitIntervalMs: 100,
    consumer: { maxPollRecords: 1000 },
    process: (r) => {
      if (seen++ === 0) started = process.hrtime.bigint();
      if (seen === RECORDS) resolveDone();
      return keep(r.value) ? { key: r.key, value: change(r.value as Uint8Array) } : null;
    },
  });
  await done;
  await pipeline.stop();
  return Number(process.hrtime.bigint() - started) / 1e9;
}

/** A topology run to the end of `input`, timed from its first record through its final commit. */
async function appRun(cluster: Cluster, input: string, stateful: boolean): Promise<number> {
  const output = `out-${stateful ? 's' : 'a'}-${seq++}`;
  await cluster.admin().createTopic(output, { partitions: PARTITIONS, replicationFactor: 3 });
  let started = 0n;
  const first = (): boolean => {
    if (started === 0n) started = process.hrtime.bigint();
    return true;
  };
  const builder = new StreamsBuilder();
  const stream = builder.stream(input, { key: bytes(), value: bytes() });
  if (stateful) {
    stream
      .pipe(
        filter((r) => first() && keep(r.value)),
        groupByKey(),
        count({ store: 'counts' }),
      )
      .toStream()
      .pipe(toTopic(output));
  } else stream.pipe(filter((r) => first() && keep(r.value)), mapValues((v) => change(v)), toTopic(output, { value: bytes() }));
  const app = createStreamsApp(builder.build(), cluster, { applicationId: `bench-app-${seq}`, processingGuarantee: 'exactly_once_v2', commitIntervalMs: 100, replicationFactor: 3 });
  await app.start();
  while (app.metrics.processed < RECORDS) {
    if (app.state === 'ERROR') throw app.error;
    await new Promise((resolve) => setTimeout(resolve, 2));
  }
  const elapsed = Number(process.hrtime.bigint() - started) / 1e9;
  await app.close();
  return elapsed;
}

/** The TopologyTestDriver against bare RxJS over the same records. */
function driverVsRx(): { driver: number; rx: number } {
  const records = Array.from({ length: DRIVER_RECORDS }, (_, i) => ({ key: KEYS[i & 4095] as Uint8Array, value: VALUE, timestamp: i, headers: [] }));
  const rxTimes: number[] = [];
  const driverTimes: number[] = [];
  for (let round = -1; round < ROUNDS; round++) {
    let start = process.hrtime.bigint();
    let out = 0;
    from(records)
      .pipe(
        rxFilter((r) => keep(r.value)),
        rxMap((r) => ({ ...r, value: change(r.value) })),
      )
      .subscribe(() => out++);
    if (round >= 0) rxTimes.push(Number(process.hrtime.bigint() - start) / 1e9);
    const builder = new StreamsBuilder();
    builder.stream('in', { key: bytes(), value: bytes() }).pipe(filter((r) => keep(r.value)), mapValues((v) => change(v)), toTopic('out', { value: bytes() }));
    const driver = new TopologyTestDriver(builder.build());
    const input = driver.createInputTopic('in', bytes(), bytes());
    start = process.hrtime.bigint();
    for (const r of records) input.pipeInput(r.key, r.value, r.timestamp);
    if (round >= 0) driverTimes.push(Number(process.hrtime.bigint() - start) / 1e9);
    driver.close();
  }
  return { driver: median(driverTimes), rx: median(rxTimes) };
}

/** Restores a store of `RESTORE_KEYS` keys from its changelog on the cluster; returns seconds of restoring. */
async function restoreRun(cluster: Cluster): Promise<number> {
  const appId = `bench-restore-${seq++}`;
  const input = `restore-in-${seq}`;
  await cluster.admin().createTopic(input, { partitions: 1, replicationFactor: 3 });
  const changelog = `${appId}-counts-changelog`;
  await cluster.admin().createTopic(changelog, { partitions: 1, replicationFactor: 3, config: { 'cleanup.policy': 'compact' } });
  const producer = cluster.producer({ acks: 'all' });
  const eight = new Uint8Array(8);
  new DataView(eight.buffer).setBigInt64(0, 1n);
  const sends: Promise<unknown>[] = [];
  for (let first = 0; first < RESTORE_KEYS; first += 2000) {
    sends.push(
      producer.send(changelog, Array.from({ length: Math.min(2000, RESTORE_KEYS - first) }, (_, i) => {
        const key = new Uint8Array(16);
        new DataView(key.buffer).setUint32(12, first + i);
        return { key, value: eight };
      })),
    );
    if (sends.length >= 16) await sends.shift();
  }
  await Promise.all(sends);
  await producer.close();
  const builder = new StreamsBuilder();
  builder.stream(input, { key: bytes(), value: bytes() }).pipe(groupByKey(), count({ store: 'counts' }));
  let restoreSeconds = 0;
  const app = createStreamsApp(builder.build(), cluster, {
    applicationId: appId,
    processingGuarantee: 'exactly_once_v2',
    replicationFactor: 3,
    logger: consoleLogger({
      level: 'info',
      write: (e) => {
        if (e.message.startsWith('store restored')) restoreSeconds = Number(e.fields.durationMs ?? 0) / 1000;
      },
    }),
  });
  await app.start();
  while (app.state !== 'RUNNING') {
    if (app.state === 'ERROR') throw app.error;
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
  const restored = app.store('counts').approximateNumEntries();
  await app.close();
  if (restored !== RESTORE_KEYS) throw new Error(`restored ${restored} keys, expected ${RESTORE_KEYS}`);
  return restoreSeconds;
}


/** Bytes of JS heap and buffers per key of an in-memory store holding `RESTORE_KEYS` keys (16 B keys, 8 B values). */
function bytesPerKey(): number {
  const gc = forcedGc();
  const used = (): number => {
    gc?.();
    const m = process.memoryUsage();
    return m.heapUsed + m.arrayBuffers;
  };
  const before = used();
  const store = inMemoryKeyValueStore('m', { keySerde: bytes(), valueSerde: bytes(), changelogTopic: 'm-changelog' });
  // A fresh key and value per entry, as records read from a changelog are.
  const records = function* () {
    for (let i = 0; i < RESTORE_KEYS; i++) {
      const key = new Uint8Array(16);
      new DataView(key.buffer).setUint32(12, i);
      const value = new Uint8Array(8);
      new DataView(value.buffer).setUint32(4, i);
      yield { key, value };
    }
  };
  store.restore(records());
  const after = used();
  const perKey = (after - before) / RESTORE_KEYS;
  if (store.approximateNumEntries() !== RESTORE_KEYS) throw new Error('the store lost keys');
  return perKey;
}

/** Runs the streams benchmarks; returns the rows and the memory figure. */
export async function runStreamsBenchmarks(): Promise<{ rows: Measurement[]; bytesPerKey: number; gc: boolean }> {
  const cluster = await createCluster({ brokers: 3, clock: new SystemClock(), seed: 16, logger: 'error' });
  const input = `streams-in-${seq++}`;
  await cluster.admin().createTopic(input, { partitions: PARTITIONS, replicationFactor: 3 });
  await produce(cluster, input, RECORDS);
  const pipe: number[] = [];
  const stateless: number[] = [];
  const stateful: number[] = [];
  const restores: number[] = [];
  for (let round = -1; round < ROUNDS; round++) {
    const order = round % 2 === 0 ? (['pipeline', 'stateless', 'stateful'] as const) : (['stateful', 'stateless', 'pipeline'] as const);
    for (const kind of order) {
      const t = kind === 'pipeline' ? await pipelineRun(cluster, input) : await appRun(cluster, input, kind === 'stateful');
      if (round >= 0) (kind === 'pipeline' ? pipe : kind === 'stateless' ? stateless : stateful).push(t);
    }
  }
  for (let round = 0; round < Math.min(ROUNDS, 2); round++) restores.push(await restoreRun(cluster));
  await cluster.stop();
  const { driver, rx } = driverVsRx();
  const perKey = bytesPerKey();
  const size = (n: number): number => n * (100 + 16 + 10);
  const pipeRate = RECORDS / median(pipe);
  const statelessRate = RECORDS / median(stateless);
  const statefulRate = RECORDS / median(stateful);
  return {
    rows: [
      measurement('cluster.pipeline, filter + map, exactly once (reference)', RECORDS, size(RECORDS), median(pipe)),
      measurement('topology filter + mapValues + toTopic, exactly_once_v2', RECORDS, size(RECORDS), median(stateless), { reference: 'pipeline', ratio: statelessRate / pipeRate, target: '>= 80% of pipeline' }),
      measurement('topology count per key (store + changelog), exactly_once_v2', RECORDS, size(RECORDS), median(stateful), { reference: 'stateless', ratio: statefulRate / statelessRate, target: '>= 50% of stateless' }),
      measurement('bare RxJS from(records).pipe(filter, map) (reference)', DRIVER_RECORDS, size(DRIVER_RECORDS), rx),
      measurement('TopologyTestDriver, same records piped one by one', DRIVER_RECORDS, size(DRIVER_RECORDS), driver, { reference: 'bare RxJS', ratio: rx / driver }),
      measurement(`restore a ${RESTORE_KEYS.toLocaleString('en-US')}-key store from its changelog`, RESTORE_KEYS, RESTORE_KEYS * (16 + 8 + 10), median(restores)),
    ],
    bytesPerKey: perKey,
    gc: forcedGc() !== undefined,
  };
}
