/**
 * Event-sourcing benchmarks (issue 17), each beside a reference measured in the same run:
 * - `handle()` commands/s over 10,000 accounts (acks=all, RF=3, 6 partitions, 256 commands in
 *   flight) against producing the same events unconditionally with the same concurrency (target:
 *   overhead ≤ 15 %);
 * - conditional `append` (one event at an exact expected version, 16 writers on their own streams)
 *   against Emmett's PostgreSQL and SQLite event stores doing the same appends (target: samsa ≥ 5×
 *   the faster of them; Emmett is measured only when its packages are installed, see below);
 * - loading a 10,000-event aggregate from a snapshot against a full replay;
 * - the key version index's memory per event.
 * Rounds are interleaved; the median is reported with the range of all rounds.
 */
import { createCluster } from '../src/cluster/cluster.ts';
import type { Cluster } from '../src/cluster/cluster.ts';
import { SystemClock } from '../src/clock.ts';
import { KeyVersionIndex } from '../src/log/keyVersionIndex.ts';
import { createEventStore, defineAggregate, NO_STREAM } from '../src/eventsourcing/index.ts';
import type { EventStore } from '../src/eventsourcing/index.ts';
import { createRandom } from '../src/random.ts';
import { account } from '../examples/event-sourcing/account.ts';
import { measurement, median, forcedGc } from './harness.ts';
import type { Measurement } from './harness.ts';
import { emmettAppends } from './emmett.ts';

const ACCOUNTS = Number(process.env.BENCH_ES_ACCOUNTS ?? 10_000);
const COMMANDS = Number(process.env.BENCH_ES_COMMANDS ?? 20_000);
const IN_FLIGHT = 256;
const APPENDS = Number(process.env.BENCH_ES_APPENDS ?? 5_000);
const WRITERS = 16;
const STREAM_EVENTS = Number(process.env.BENCH_ES_STREAM_EVENTS ?? 10_000);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const encoder = new TextEncoder();

/** Runs `work(i)` for i in [0, n) with at most `limit` in flight; resolves when all are done. */
async function inFlight(n: number, limit: number, work: (i: number) => Promise<unknown>): Promise<void> {
  let next = 0;
  const lane = async (): Promise<void> => {
    while (next < n) await work(next++);
  };
  await Promise.all(Array.from({ length: Math.min(limit, n) }, lane));
}

const seconds = (since: bigint): number => Number(process.hrtime.bigint() - since) / 1e9;

/** The bank account, snapshotted every 100 events (the example's 5 suits its short story, not a load). */
const benchAccount = defineAggregate({ ...account, snapshot: { every: 100 } });

/** Opens the accounts through `handle` (which also leaves their states in the store's cache). */
async function openAccounts(store: EventStore, prefix: string): Promise<void> {
  await inFlight(ACCOUNTS, IN_FLIGHT, (i) => store.handle(benchAccount, `${prefix}${i}`, { type: 'open', owner: `owner ${i}` }));
}

/** `handle()` deposits over the accounts; returns seconds. */
async function handleRun(store: EventStore, prefix: string, seed: number): Promise<number> {
  const random = createRandom(seed);
  const targets = Array.from({ length: COMMANDS }, () => random.int(ACCOUNTS));
  const started = process.hrtime.bigint();
  await inFlight(COMMANDS, IN_FLIGHT, (i) => store.handle(benchAccount, `${prefix}${targets[i] as number}`, { type: 'deposit', amount: 1 + (i % 100) }));
  return seconds(started);
}

/** The same events produced without a condition (and without reading any state); returns seconds. */
async function produceRun(cluster: Cluster, topic: string, seed: number): Promise<number> {
  const random = createRandom(seed);
  const targets = Array.from({ length: COMMANDS }, () => random.int(ACCOUNTS));
  const producer = cluster.producer({ acks: 'all', idempotent: true });
  const started = process.hrtime.bigint();
  await inFlight(COMMANDS, IN_FLIGHT, (i) =>
    producer.send(topic, {
      key: encoder.encode(`account-p${targets[i] as number}`),
      value: encoder.encode(JSON.stringify({ amount: 1 + (i % 100) })),
      headers: { 'samsa.event-type': 'MoneyDeposited', 'samsa.schema-version': '2' },
    }),
  );
  const elapsed = seconds(started);
  await producer.close();
  return elapsed;
}

/** Conditional single-event appends by `writers` writers, each on its own streams in turn; returns seconds. */
async function appendRun(store: EventStore, prefix: string, writers: number): Promise<number> {
  const versions = new Map<string, bigint>();
  const started = process.hrtime.bigint();
  await inFlight(APPENDS, writers, async (i) => {
    const stream = `bench-${prefix}${i % 1000}`;
    const expected = versions.get(stream) ?? 0n;
    versions.set(stream, expected + 1n);
    await store.append(stream, [{ type: 'Appended', data: { i } }], { expectedVersion: expected === 0n ? NO_STREAM : expected });
  });
  return seconds(started);
}

/** A stream of `STREAM_EVENTS` deposits, and the seconds of loading it with and without a snapshot. */
async function loadRuns(store: EventStore): Promise<{ snapshot: number[]; replay: number[] }> {
  const snapshotted = defineAggregate({ ...account, snapshot: { every: STREAM_EVENTS } });
  const plain = defineAggregate({ ...account, snapshot: undefined });
  await store.handle(account, 'long', { type: 'open', owner: 'long' });
  for (let v = 1; v < STREAM_EVENTS - 1; v += 100) {
    const n = Math.min(100, STREAM_EVENTS - 1 - v);
    await store.append('account-long', Array.from({ length: n }, () => ({ type: 'MoneyDeposited', data: { amount: 1 }, schemaVersion: 2 })), { expectedVersion: BigInt(v) });
  }
  // The last command takes the stream to STREAM_EVENTS: the snapshot policy writes a snapshot there.
  await store.handle(snapshotted, 'long', { type: 'deposit', amount: 1 });
  // The command does not wait for its snapshot: wait here until a load uses it.
  for (let i = 0; (await store.aggregateStream(snapshotted, 'long')).snapshotVersion === 0n; i++) {
    if (i === 200) throw new Error('the snapshot was not written within 2 s');
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  const snapshot: number[] = [];
  const replay: number[] = [];
  for (let round = -1; round < ROUNDS; round++) {
    let started = process.hrtime.bigint();
    const warm = await store.aggregateStream(snapshotted, 'long');
    if (round >= 0) snapshot.push(seconds(started));
    started = process.hrtime.bigint();
    const cold = await store.aggregateStream(plain, 'long');
    if (round >= 0) replay.push(seconds(started));
    if (warm.state.balance !== cold.state.balance || warm.snapshotVersion === 0n) throw new Error(`snapshot load differs: ${warm.state.balance} vs ${cold.state.balance}, snapshot version ${warm.snapshotVersion}`);
  }
  return { snapshot, replay };
}

/** Bytes of JS heap per indexed event: 1 M events over 10,000 keys. */
function indexBytesPerEvent(): number {
  const gc = forcedGc();
  const used = (): number => {
    gc?.();
    return process.memoryUsage().heapUsed;
  };
  const before = used();
  const index = new KeyVersionIndex();
  const keys = Array.from({ length: 10_000 }, (_, i) => encoder.encode(`account-${i}`));
  const events = 1_000_000;
  for (let offset = 0; offset < events; offset += 100) {
    index.apply(
      Array.from({ length: 100 }, (_, i) => ({ offsetDelta: i, key: keys[(offset + i) % keys.length] as Uint8Array, headers: [] })),
      BigInt(offset),
      -1n,
      false,
    );
  }
  const bytes = used() - before;
  if (index.indexedRecords !== events) throw new Error('the index lost events');
  return bytes / events;
}


const range = (list: readonly number[], perSecond: (s: number) => number): string => `range ${Math.round(Math.min(...list.map(perSecond))).toLocaleString('en-US')}–${Math.round(Math.max(...list.map(perSecond))).toLocaleString('en-US')}/s`;

/** Runs every event-sourcing benchmark. */
export async function runEventSourcingBenchmarks(): Promise<{ rows: Measurement[]; notes: string[] }> {
  const cluster = await createCluster({ brokers: 3, clock: new SystemClock(), seed: 17, logger: 'warn' });
  const rows: Measurement[] = [];
  const notes: string[] = [];
  try {
    const store = createEventStore(cluster, { partitions: 6, replicationFactor: 3, minInsyncReplicas: 2, clientId: 'bench' });
    await cluster.admin().createTopic('produce.events', { partitions: 6, replicationFactor: 3, config: { 'min.insync.replicas': 2 } });
    await openAccounts(store, 'h');
    const handleTimes: number[] = [];
    const produceTimes: number[] = [];
    for (let round = -1; round < ROUNDS; round++) {
      const h = await handleRun(store, 'h', 100 + round);
      const p = await produceRun(cluster, 'produce.events', 100 + round);
      if (round >= 0) {
        handleTimes.push(h);
        produceTimes.push(p);
      }
    }
    const produce = measurement('unconditional produce of the same events', COMMANDS, 0, median(produceTimes), { target: range(produceTimes, (s) => COMMANDS / s) });
    const handle = measurement(`handle() over ${ACCOUNTS.toLocaleString('en-US')} accounts (${IN_FLIGHT} in flight)`, COMMANDS, 0, median(handleTimes), { reference: 'produce', ratio: median(produceTimes) / median(handleTimes), target: `≥ 87 % (overhead ≤ 15 %); ${range(handleTimes, (s) => COMMANDS / s)}` });
    rows.push(handle, produce);

    const manyTimes: number[] = [];
    const oneTimes: number[] = [];
    for (let round = -1; round < ROUNDS; round++) {
      const many = await appendRun(store, `m${round + 1}-`, WRITERS);
      const one = await appendRun(store, `o${round + 1}-`, 1);
      if (round >= 0) {
        manyTimes.push(many);
        oneTimes.push(one);
      }
    }
    const emmett = await emmettAppends(APPENDS, WRITERS, ROUNDS);
    const pg = emmett.find((e) => e.name === 'PostgreSQL' && e.seconds.length > 0);
    const sqlite = emmett.find((e) => e.name === 'SQLite' && e.seconds.length > 0);
    const vs = (times: number[], ref: { name: string; seconds: number[] } | undefined): Partial<Measurement> => (ref === undefined ? { target: range(times, (s) => APPENDS / s) } : { reference: `Emmett ${ref.name}`, ratio: median(ref.seconds) / median(times), target: `≥ 5×; ${range(times, (s) => APPENDS / s)}` });
    rows.push(measurement(`samsa conditional append (${WRITERS} writers)`, APPENDS, 0, median(manyTimes), vs(manyTimes, pg)));
    if (pg !== undefined) rows.push(measurement(`Emmett PostgreSQL appendToStream (${WRITERS} writers)`, APPENDS, 0, median(pg.seconds), { target: range(pg.seconds, (s) => APPENDS / s) }));
    rows.push(measurement('samsa conditional append (1 writer)', APPENDS, 0, median(oneTimes), vs(oneTimes, sqlite)));
    if (sqlite !== undefined) rows.push(measurement('Emmett SQLite appendToStream (1 writer: SQLite locks out a second)', APPENDS, 0, median(sqlite.seconds), { target: range(sqlite.seconds, (s) => APPENDS / s) }));
    for (const e of emmett) if (e.seconds.length === 0) notes.push(`Emmett ${e.name}: not measured (${e.skipped})`);

    const loads = await loadRuns(store);
    rows.push(measurement(`load a ${STREAM_EVENTS.toLocaleString('en-US')}-event aggregate from its snapshot`, 1, 0, median(loads.snapshot), { reference: 'full replay', ratio: median(loads.replay) / median(loads.snapshot), target: range(loads.snapshot, (s) => 1 / s) }));
    rows.push(measurement(`load a ${STREAM_EVENTS.toLocaleString('en-US')}-event aggregate by full replay`, 1, 0, median(loads.replay), { target: range(loads.replay, (s) => 1 / s) }));
    await store.close();
  } finally {
    await cluster.stop();
  }
  notes.push(`key version index: ${indexBytesPerEvent().toFixed(1)} bytes of heap per event (1 M events over 10,000 keys)`);
  return { rows, notes };
}
