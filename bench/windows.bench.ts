/**
 * Windowed aggregation and join benchmarks, each beside a reference measured in the same run:
 * - a windowed count (tumbling 1 min windows, 10 s grace) against the un-windowed count of the
 *   same records, on the embedded cluster (3 brokers, RF 3, 6 partitions, exactly_once_v2, 100 ms
 *   commits, the record cache at Kafka's 10 MiB) and on the TopologyTestDriver (CPU without the
 *   cluster). Event time spans several windows, so windows open, close and expire during a run;
 * - a stream-stream join of two co-partitioned topics (same keys, each record's partner 1 s later,
 *   ±5 s join windows) against a stateless topology (filter + mapValues + toTopic) reading the same
 *   two topics;
 * - the JS heap per (key, window) of a window store (in memory, as the runtime lays it over the
 *   key-value store) against the heap per key of the plain key-value store holding a count.
 * Rounds are interleaved after a warm-up round; the median and the range of all measured rounds
 * are reported.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join as joinPath } from 'node:path';
import { createCluster } from '../src/cluster/cluster.ts';
import type { Cluster } from '../src/cluster/cluster.ts';
import { SystemClock } from '../src/clock.ts';
import { createStreamsApp } from '../src/streams/app.ts';
import type { StreamsApp } from '../src/streams/streamsConfig.ts';
import { StreamsBuilder } from '../src/streams/builder.ts';
import { join } from '../src/streams/joins/streamJoins.ts';
import { count, filter, groupByKey, mapValues, peek, toTopic } from '../src/streams/operators.ts';
import { bytes } from '../src/streams/serdes.ts';
import { countSerde } from '../src/streams/internalSerdes.ts';
import { inMemoryKeyValueStore } from '../src/streams/stores/keyValueStore.ts';
import { BytesWindowStore } from '../src/streams/stores/windowStore.ts';
import { TopologyTestDriver } from '../src/streams/testDriver.ts';
import { windowedBy } from '../src/streams/windowedAggregation.ts';
import { joinWindows, tumbling } from '../src/streams/windows.ts';
import { BENCH_VALUE, forcedGc, measurement, median, report } from './harness.ts';
import type { Measurement } from './harness.ts';

const RECORDS = Number(process.env.BENCH_WINDOWS_RECORDS ?? 200_000);
/** Records of the join case, both topics together (half on each side). */
const JOIN_RECORDS = Number(process.env.BENCH_WINDOWS_JOIN_RECORDS ?? 200_000);
const DRIVER_RECORDS = Number(process.env.BENCH_WINDOWS_DRIVER_RECORDS ?? 100_000);
const MEMORY_KEYS = Number(process.env.BENCH_WINDOWS_MEMORY_KEYS ?? 100_000);
const MEMORY_WINDOWS = Number(process.env.BENCH_WINDOWS_MEMORY_WINDOWS ?? 3);
/** Event time the records of a case spread over: 10 tumbling windows of a minute by default. */
const SPAN_MS = Number(process.env.BENCH_WINDOWS_SPAN_MS ?? 600_000);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const KEY_COUNT = 10_000;
const PARTITIONS = 6;
const MINUTE = 60_000;
const WINDOW = tumbling({ sizeMs: MINUTE, graceMs: 10_000 });
const JOIN_WINDOW = joinWindows({ timeDifferenceMs: 5_000, graceMs: 10_000 });
/** Minute-aligned, so the first record opens a window rather than landing mid-window. */
const T0 = Math.floor(1_700_000_000_000 / MINUTE) * MINUTE;
const VALUE = BENCH_VALUE;
const KEYS = Array.from({ length: KEY_COUNT }, (_, i) => {
  const k = new Uint8Array(16);
  new DataView(k.buffer).setUint32(12, i);
  return k;
});
const keep = (value: Uint8Array | null): boolean => value !== null && value[1] !== 1;
const change = (value: Uint8Array): Uint8Array => value.subarray(0, 64);

/**
 * Record i of n: keys cycle through all 10k; event time rises evenly over SPAN_MS, up to 5 s out of
 * order (within the 10 s grace, so nothing is late and both counts see every record).
 */
function timestampOf(i: number, n: number): number {
  return T0 + Math.max(0, Math.floor((i * SPAN_MS) / n) - ((i * 7919) % 5_000));
}

const seconds = (since: bigint): number => Number(process.hrtime.bigint() - since) / 1e9;
let seq = 0;

/** A line per round on stderr, with the time, so a round disturbed by other load can be told apart. */
function progress(line: string): void {
  process.stderr.write(`[windows ${new Date().toISOString().slice(11, 19)}] ${line}\n`);
}

async function produce(cluster: Cluster, topic: string, n: number, at: (i: number) => number): Promise<void> {
  const producer = cluster.producer({ acks: 'all' });
  const sends: Promise<unknown>[] = [];
  for (let first = 0; first < n; first += 1000) {
    sends.push(producer.send(topic, Array.from({ length: Math.min(1000, n - first) }, (_, k) => ({ key: KEYS[(first + k) % KEY_COUNT] as Uint8Array, value: VALUE, timestamp: at(first + k) }))));
    if (sends.length >= 16) await sends.shift();
  }
  await Promise.all(sends);
  await producer.close();
}

/** Starts `app` and waits until it processed `n` records; seconds from the first record (set by the topology) to there. */
async function runToEnd(app: StreamsApp, n: number, started: () => bigint): Promise<{ seconds: number; dropped: number }> {
  await app.start();
  while (app.metrics.processed < n) {
    if (app.state === 'ERROR') throw app.error;
    await new Promise((resolve) => setTimeout(resolve, 2));
  }
  const elapsed = seconds(started());
  const dropped = app.metrics.perTask.reduce((sum, t) => sum + t.droppedRecords, 0);
  await app.close();
  return { seconds: elapsed, dropped };
}

type ClusterCase = 'count' | 'windowed' | 'stateless' | 'join';

/** One run of a cluster case over its input, timed from its first record through the last one processed. */
async function clusterRun(cluster: Cluster, kind: ClusterCase, inputs: { counts: string; left: string; right: string }, joined: { n: number }): Promise<{ seconds: number; dropped: number }> {
  const output = `out-${kind}-${seq++}`;
  await cluster.admin().createTopic(output, { partitions: PARTITIONS, replicationFactor: 3 });
  let started = 0n;
  const first = (): boolean => {
    if (started === 0n) started = process.hrtime.bigint();
    return true;
  };
  const builder = new StreamsBuilder();
  const serdes = { key: bytes(), value: bytes() };
  if (kind === 'count' || kind === 'windowed') {
    const grouped = builder.stream(inputs.counts, serdes).pipe(peek(first), groupByKey());
    if (kind === 'windowed') grouped.pipe(windowedBy(WINDOW), count({ store: 'counts' })).toStream().pipe(toTopic(output));
    else grouped.pipe(count({ store: 'counts' })).toStream().pipe(toTopic(output));
  } else if (kind === 'stateless') {
    builder.stream([inputs.left, inputs.right], serdes).pipe(filter((r) => first() && keep(r.value)), mapValues((v) => change(v)), toTopic(output, { value: bytes() }));
  } else {
    const right = builder.stream(inputs.right, serdes).pipe(peek(first));
    builder
      .stream(inputs.left, serdes)
      .pipe(
        peek(first),
        join(
          right,
          (l: Uint8Array) => {
            joined.n++;
            return change(l);
          },
          JOIN_WINDOW,
        ),
        toTopic(output, { value: bytes() }),
      );
  }
  const app = createStreamsApp(builder.build(), cluster, { applicationId: `bench-${kind}-${seq}`, processingGuarantee: 'exactly_once_v2', commitIntervalMs: 100, replicationFactor: 3 });
  return runToEnd(app, kind === 'count' || kind === 'windowed' ? RECORDS : JOIN_RECORDS, () => started);
}

/** The two counts on the TopologyTestDriver: seconds of piping DRIVER_RECORDS records, per round. */
function driverRounds(): { count: number[]; windowed: number[] } {
  const times = { count: [] as number[], windowed: [] as number[] };
  const timestamps = Array.from({ length: DRIVER_RECORDS }, (_, i) => timestampOf(i, DRIVER_RECORDS));
  const gc = forcedGc();
  for (let round = -1; round < ROUNDS; round++) {
    const order = round % 2 === 0 ? (['count', 'windowed'] as const) : (['windowed', 'count'] as const);
    for (const kind of order) {
      const builder = new StreamsBuilder();
      const grouped = builder.stream('in', { key: bytes(), value: bytes() }).pipe(groupByKey());
      if (kind === 'windowed') grouped.pipe(windowedBy(WINDOW), count({ store: 'counts' })).toStream().pipe(toTopic('out'));
      else grouped.pipe(count({ store: 'counts' })).toStream().pipe(toTopic('out'));
      const driver = new TopologyTestDriver(builder.build());
      const input = driver.createInputTopic('in', bytes(), bytes());
      // A round of ~1 s is short enough that collecting the previous round's garbage (its driver
      // holds every output and changelog record) inside it would decide its figure.
      gc?.();
      const start = process.hrtime.bigint();
      for (let i = 0; i < DRIVER_RECORDS; i++) input.pipeInput(KEYS[i % KEY_COUNT] as Uint8Array, VALUE, timestamps[i] as number);
      const elapsed = seconds(start);
      progress(`driver ${round < 0 ? 'warm-up' : `round ${round + 1}/${ROUNDS}`}: ${kind} ${fmtRate(DRIVER_RECORDS / elapsed)}/s`);
      if (round >= 0) times[kind].push(elapsed);
      if (kind === 'windowed' && driver.droppedRecords !== 0) throw new Error(`the windowed count dropped ${driver.droppedRecords} records`);
      driver.close();
    }
  }
  return times;
}

/** The heap in use after a forced gc (when the runtime allows one), buffers included. */
function heapNow(gc: (() => void) | undefined): number {
  // Twice: the first pass may leave work (weak references, finalizers) to the next.
  gc?.();
  gc?.();
  const m = process.memoryUsage();
  return m.heapUsed + m.arrayBuffers;
}

/**
 * Bytes per entry: a window store holding MEMORY_KEYS keys × MEMORY_WINDOWS windows of counts
 * (timestamped, as a windowed count's is), or the key-value store holding as many counts under
 * distinct keys. Both are written as a task writes them (puts, committed every 10k) with fresh
 * 16-byte keys, as records read from a topic are.
 */
function bytesPerEntry(kind: 'windowed' | 'keyValue', gc: (() => void) | undefined): number {
  const entries = MEMORY_KEYS * MEMORY_WINDOWS;
  const keyOf = (i: number): Uint8Array => {
    const key = new Uint8Array(16);
    new DataView(key.buffer).setUint32(12, i);
    return key;
  };
  const before = heapNow(gc);
  // The store stays referenced until after the measurement, so the gc cannot take it early.
  let store: { approximateNumEntries(): number };
  let extra = 0;
  if (kind === 'windowed') {
    // As the runtime lays a window store out: a byte key-value store under a windowed view.
    const kv = inMemoryKeyValueStore<Uint8Array, Uint8Array>('m', { keySerde: bytes(), valueSerde: bytes(), changelogTopic: 'm-changelog' });
    const windows = new BytesWindowStore<Uint8Array, number>('m', kv, kv, { keySerde: bytes(), valueSerde: countSerde, topic: 'm-changelog', retentionMs: MEMORY_WINDOWS * MINUTE + 10_000, windowSizeMs: MINUTE, timestamped: true });
    for (let w = 0; w < MEMORY_WINDOWS; w++) {
      const start = T0 + w * MINUTE;
      windows.observe(start);
      for (let i = 0; i < MEMORY_KEYS; i++) {
        windows.put(keyOf(i), 1 + (i % 7), start, start + (i % MINUTE));
        if (i % 10_000 === 9_999) kv.commitQuietly();
      }
    }
    kv.commitQuietly();
    store = kv;
    // Beside the windows the store holds one entry of its own: the observed stream time.
    extra = 1;
  } else {
    const counts = inMemoryKeyValueStore<Uint8Array, number>('c', { keySerde: bytes(), valueSerde: countSerde, changelogTopic: 'c-changelog' });
    for (let i = 0; i < entries; i++) {
      counts.put(keyOf(i), 1 + (i % 7));
      if (i % 10_000 === 9_999) counts.commitQuietly();
    }
    counts.commitQuietly();
    store = counts;
  }
  const after = heapNow(gc);
  const held = store.approximateNumEntries() - extra;
  if (held !== entries) throw new Error(`${kind} store holds ${held} entries, expected ${entries}`);
  return (after - before) / entries;
}

function memoryRounds(): { windowed: number[]; keyValue: number[]; gc: boolean } {
  const gc = forcedGc();
  const out = { windowed: [] as number[], keyValue: [] as number[], gc: gc !== undefined };
  for (let round = 0; round < ROUNDS; round++) {
    const order = round % 2 === 0 ? (['keyValue', 'windowed'] as const) : (['windowed', 'keyValue'] as const);
    for (const kind of order) out[kind].push(bytesPerEntry(kind, gc));
    progress(`memory round ${round + 1}/${ROUNDS}: window store ${(out.windowed.at(-1) as number).toFixed(0)} B per (key, window), key-value store ${(out.keyValue.at(-1) as number).toFixed(0)} B per key`);
  }
  return out;
}

/** A measurement with the records/s of every measured round beside the median. */
export interface RoundsMeasurement extends Measurement {
  readonly roundsPerSecond: readonly number[];
}

export interface WindowBenchmarks {
  readonly rows: RoundsMeasurement[];
  readonly memory: { readonly entries: number; readonly windowedBytesPerEntry: readonly number[]; readonly keyValueBytesPerEntry: readonly number[]; readonly gc: boolean };
  readonly notes: string[];
}

const rate = (n: number) => (s: number) => n / s;
const fmtRate = (r: number): string => Math.round(r).toLocaleString('en-US');
const range = (values: readonly number[], f: (v: number) => string): string => `${f(Math.min(...values))}–${f(Math.max(...values))}`;
const pct = (r: number): string => `${(r * 100).toFixed(0)}%`;

function row(name: string, n: number, times: readonly number[], extra: Partial<Measurement> = {}): RoundsMeasurement {
  return { ...measurement(name, n, n * (100 + 16 + 10), median(times), extra), roundsPerSecond: times.map(rate(n)) };
}

/** Runs the windowed aggregation and join benchmarks. */
export async function runWindowBenchmarks(): Promise<WindowBenchmarks> {
  const cluster = await createCluster({ brokers: 3, clock: new SystemClock(), seed: 19, logger: 'error' });
  const inputs = { counts: `windows-in-${seq++}`, left: `join-left-${seq++}`, right: `join-right-${seq++}` };
  for (const topic of Object.values(inputs)) await cluster.admin().createTopic(topic, { partitions: PARTITIONS, replicationFactor: 3 });
  const side = JOIN_RECORDS / 2;
  await produce(cluster, inputs.counts, RECORDS, (i) => timestampOf(i, RECORDS));
  // Same keys in the same order on both sides; a right record comes 1 s after its left partner, and
  // a key recurs every 10k records (a minute of event time at the defaults), far outside the ±5 s
  // windows: one match each.
  await produce(cluster, inputs.left, side, (i) => T0 + Math.floor((i * SPAN_MS) / side));
  await produce(cluster, inputs.right, side, (i) => T0 + Math.floor((i * SPAN_MS) / side) + 1_000);
  const times: Record<ClusterCase, number[]> = { count: [], windowed: [], stateless: [], join: [] };
  const gc = forcedGc();
  const dropped: number[] = [];
  const joins: number[] = [];
  for (let round = -1; round < ROUNDS; round++) {
    const order: ClusterCase[] = round % 2 === 0 ? ['count', 'windowed', 'stateless', 'join'] : ['join', 'stateless', 'windowed', 'count'];
    for (const kind of order) {
      // The previous case's garbage is collected here, not inside this one's timing.
      gc?.();
      const joined = { n: 0 };
      const run = await clusterRun(cluster, kind, inputs, joined);
      progress(`cluster ${round < 0 ? 'warm-up' : `round ${round + 1}/${ROUNDS}`}: ${kind} ${fmtRate((kind === 'count' || kind === 'windowed' ? RECORDS : JOIN_RECORDS) / run.seconds)}/s`);
      if (round < 0) continue;
      times[kind].push(run.seconds);
      if (kind === 'windowed') dropped.push(run.dropped);
      if (kind === 'join') joins.push(joined.n);
    }
  }
  await cluster.stop();
  const driver = driverRounds();
  const memory = memoryRounds();

  const perRound = (a: number[], b: number[], n: number, m: number): number[] => a.map((t, i) => rate(n)(t) / rate(m)(b[i] as number));
  const ratio = (a: number[], b: number[], n: number, m: number): number => rate(n)(median(a)) / rate(m)(median(b));
  const rows = [
    row('cluster: count per key (reference)', RECORDS, times.count),
    row('cluster: windowed count, tumbling 1 min', RECORDS, times.windowed, { reference: 'count', ratio: ratio(times.windowed, times.count, RECORDS, RECORDS) }),
    row('driver: count per key (reference)', DRIVER_RECORDS, driver.count),
    row('driver: windowed count, tumbling 1 min', DRIVER_RECORDS, driver.windowed, { reference: 'count', ratio: ratio(driver.windowed, driver.count, DRIVER_RECORDS, DRIVER_RECORDS) }),
    row('cluster: filter + mapValues + toTopic, both topics (reference)', JOIN_RECORDS, times.stateless),
    row('cluster: stream-stream join, ±5 s windows', JOIN_RECORDS, times.join, { reference: 'stateless', ratio: ratio(times.join, times.stateless, JOIN_RECORDS, JOIN_RECORDS) }),
  ];
  const notes = rows.map((r) => `${r.name}: median ${fmtRate(r.recordsPerSecond)}/s, range ${range(r.roundsPerSecond, fmtRate)}/s over ${r.roundsPerSecond.length} rounds`);
  notes.push(`ratio within each round: windowed/count on the cluster ${range(perRound(times.windowed, times.count, RECORDS, RECORDS), pct)}, on the driver ${range(perRound(driver.windowed, driver.count, DRIVER_RECORDS, DRIVER_RECORDS), pct)}; join/stateless ${range(perRound(times.join, times.stateless, JOIN_RECORDS, JOIN_RECORDS), pct)}`);
  notes.push(`windowed count: ${SPAN_MS / MINUTE} windows of event time per key, ${dropped.join(', ')} records dropped as late per round; join: ${joins.join(', ')} results per round (${side.toLocaleString('en-US')} expected, one per pair)`);
  const entries = MEMORY_KEYS * MEMORY_WINDOWS;
  const windowed = median(memory.windowed);
  const kv = median(memory.keyValue);
  notes.push(
    `window store: ${windowed.toFixed(0)} bytes per (key, window) (range ${range(memory.windowed, (v) => v.toFixed(0))}), ${MEMORY_KEYS.toLocaleString('en-US')} keys × ${MEMORY_WINDOWS} windows, 16 B keys, timestamped counts; ` +
      `key-value store (reference): ${kv.toFixed(0)} bytes per key (range ${range(memory.keyValue, (v) => v.toFixed(0))}), ${entries.toLocaleString('en-US')} keys, 16 B keys, counts; ratio ${(windowed / kv).toFixed(2)}× ` +
      `(JS heap + buffers${memory.gc ? ', after a forced gc' : ', without a forced gc: run node with --expose-gc for a tighter figure'})`,
  );
  return { rows, memory: { entries, windowedBytesPerEntry: memory.windowed, keyValueBytesPerEntry: memory.keyValue, gc: memory.gc }, notes };
}

/** Prints the table and notes and writes bench/results/windows.json (with the memory figures and notes). */
export function reportWindowBenchmarks(result: WindowBenchmarks): void {
  report(`windows: ${RECORDS.toLocaleString('en-US')} records per count case, ${JOIN_RECORDS.toLocaleString('en-US')} per join case (both topics), ${DRIVER_RECORDS.toLocaleString('en-US')} on the driver; 10k keys, 100 B values; 3 brokers, RF=3, 6 partitions, exactly_once_v2, 100 ms commits; median of ${ROUNDS} interleaved rounds after a warm-up (range of all rounds below)`, result.rows, 'windows.json');
  for (const note of result.notes) console.log(note);
  const file = joinPath(import.meta.dirname, 'results', 'windows.json');
  const json = JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>;
  writeFileSync(file, JSON.stringify({ ...json, storeMemory: result.memory, notes: result.notes }, null, 2));
}
