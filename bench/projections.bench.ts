/**
 * Projection benchmarks (issue 18), each beside a reference measured in the same run:
 * - a document projection into SQLite (exactly-once: offsets in the rows' transaction), from the
 *   first event to the last applied, against raw better-sqlite3 writing the same documents in
 *   batched upserts of 500 events per transaction (the physical limit; target ≥ 50 %);
 * - the same into PostgreSQL against raw `pg` batched upserts (target ≥ 50 %), and against
 *   Emmett's asynchronous PostgreSQL projection of the same events (target: samsa ahead);
 * - `waitFor` latency: from an append's acknowledgement (and from the append call) until the
 *   read model answers with it, p50 and p99 over sequential appends.
 * The events are on a one-broker embedded cluster (6 partitions): these measure the projection,
 * not replication. Rounds are interleaved; medians are reported with the range of all rounds.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isDeepStrictEqual } from 'node:util';
import pg from 'pg';
import { createCluster } from '../src/cluster/cluster.ts';
import { createEventStore } from '../src/eventsourcing/index.ts';
import type { EventPosition, RecordedEvent } from '../src/eventsourcing/index.ts';
import { defineProjection, postgresTarget, runProjection, sqliteTarget } from '../src/projections/index.ts';
import type { ProjectionTarget } from '../src/projections/index.ts';
import { measurement, median } from './harness.ts';
import type { Measurement } from './harness.ts';
import { emmettProjectionRounds } from './emmettProjection.ts';

const EVENTS = Number(process.env.BENCH_PROJ_EVENTS ?? 20_000);
const CUSTOMERS = 200;
const EMMETT_EVENTS = Number(process.env.BENCH_PROJ_EMMETT_EVENTS ?? 5_000);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const LATENCY_SAMPLES = Number(process.env.BENCH_PROJ_LATENCY ?? 300);
const PG_URL = process.env.BENCH_PG_URL ?? 'postgresql://root@127.0.0.1:5432/test';
const encoder = new TextEncoder();

type Placed = RecordedEvent<'OrderPlaced', { customer: string; total: number }>;
interface Totals { orders: number; total: number }

const projection = defineProjection<Totals, Placed>({
  name: 'bench_customers',
  from: { aggregates: ['order'] },
  key: (e) => e.data.customer,
  initial: () => ({ orders: 0, total: 0 }),
  evolve: (s, e) => ({ orders: s.orders + 1, total: s.total + e.data.total }),
});

const seconds = (since: bigint): number => Number(process.hrtime.bigint() - since) / 1e9;
const eventAt = (i: number) => ({ customer: `c${i % CUSTOMERS}`, total: 1 + (i % 50) });

/** The expected documents, to check every run. */
function oracle(): Map<string, Totals> {
  const out = new Map<string, Totals>();
  for (let i = 0; i < EVENTS; i++) {
    const { customer, total } = eventAt(i);
    const t = out.get(customer) ?? { orders: 0, total: 0 };
    out.set(customer, { orders: t.orders + 1, total: t.total + total });
  }
  return out;
}

/** Raw batched upserts of the same documents: 500 events per transaction, the documents kept in memory. */
async function rawRun(write: (rows: Array<[string, string]>) => Promise<void>): Promise<number> {
  const docs = new Map<string, Totals>();
  const started = process.hrtime.bigint();
  for (let from = 0; from < EVENTS; from += 500) {
    const changed = new Set<string>();
    for (let i = from; i < Math.min(EVENTS, from + 500); i++) {
      const { customer, total } = eventAt(i);
      const t = docs.get(customer) ?? { orders: 0, total: 0 };
      docs.set(customer, { orders: t.orders + 1, total: t.total + total });
      changed.add(customer);
    }
    await write([...changed].map((k) => [k, JSON.stringify(docs.get(k))]));
  }
  return seconds(started);
}

async function rawSqlite(file: string): Promise<number> {
  const Database = (await import('better-sqlite3')).default;
  const db = new Database(file);
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = NORMAL');
  db.exec('CREATE TABLE docs (key TEXT PRIMARY KEY, doc TEXT NOT NULL)');
  const statements = new Map<number, { run(...p: unknown[]): unknown }>();
  const upsert = (n: number) => {
    let s = statements.get(n);
    if (s === undefined) statements.set(n, (s = db.prepare(`INSERT INTO docs (key, doc) VALUES ${Array.from({ length: n }, () => '(?, ?)').join(', ')} ON CONFLICT (key) DO UPDATE SET doc = excluded.doc`)));
    return s;
  };
  const write = db.transaction((rows: Array<[string, string]>) => upsert(rows.length).run(...rows.flat()));
  const s = await rawRun(async (rows) => {
    write(rows);
  });
  db.close();
  return s;
}

/**
 * A second reference, for where the time goes: a plain consumer (read_committed) reading the same
 * events from the log, parsing them and writing the same documents with raw better-sqlite3 batched
 * upserts, one transaction per poll, no offsets stored. Timed from its first records, as samsa is.
 */
async function consumerSqlite(cluster: Awaited<ReturnType<typeof createCluster>>, file: string, lastPositions: readonly EventPosition[], round: number): Promise<number> {
  const Database = (await import('better-sqlite3')).default;
  const db = new Database(file);
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = NORMAL');
  db.exec('CREATE TABLE docs (key TEXT PRIMARY KEY, doc TEXT NOT NULL)');
  const write = db.transaction((rows: Array<[string, string]>) => {
    db.prepare(`INSERT INTO docs (key, doc) VALUES ${rows.map(() => '(?, ?)').join(', ')} ON CONFLICT (key) DO UPDATE SET doc = excluded.doc`).run(...rows.flat());
  });
  const consumer = cluster.consumer({ groupId: `bench-raw-consumer-${round}-${process.pid}`, isolationLevel: 'read_committed', enableAutoCommit: false, autoOffsetReset: 'earliest' });
  await consumer.subscribe(['order.events'], { fromBeginning: true });
  const ends = new Map(lastPositions.map((p) => [p.partition, p.offset]));
  const docs = new Map<string, Totals>();
  const dec = new TextDecoder();
  let started: bigint | undefined;
  let seen = 0;
  while (ends.size > 0) {
    const records = await consumer.poll({ timeoutMs: 200 });
    if (records.length === 0) continue;
    started ??= process.hrtime.bigint();
    const changed = new Set<string>();
    for (const r of records) {
      const { customer, total } = JSON.parse(dec.decode(r.value ?? new Uint8Array())) as { customer: string; total: number };
      const t = docs.get(customer) ?? { orders: 0, total: 0 };
      docs.set(customer, { orders: t.orders + 1, total: t.total + total });
      changed.add(customer);
      if (ends.get(r.partition) === r.offset) ends.delete(r.partition);
    }
    seen += records.length;
    write([...changed].map((k) => [k, JSON.stringify(docs.get(k))]));
  }
  const s = seconds(started as bigint);
  await consumer.close();
  db.close();
  return (s * EVENTS) / Math.max(1, seen);
}

async function withDatabase<T>(prefix: string, work: (url: string) => Promise<T>): Promise<T> {
  const name = `${prefix}_${process.pid}_${Math.floor(Math.random() * 1e9)}`;
  const admin = new pg.Client({ connectionString: PG_URL });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${name}`);
  const url = new URL(PG_URL);
  url.pathname = `/${name}`;
  try {
    return await work(url.toString());
  } finally {
    await admin.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
    await admin.end();
  }
}

async function rawPostgres(url: string): Promise<number> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  await client.query('CREATE TABLE docs (key TEXT PRIMARY KEY, doc JSONB NOT NULL)');
  const s = await rawRun(async (rows) => {
    await client.query('BEGIN');
    await client.query(`INSERT INTO docs (key, doc) VALUES ${rows.map((_, i) => `($${2 * i + 1}, $${2 * i + 2})`).join(', ')} ON CONFLICT (key) DO UPDATE SET doc = excluded.doc`, rows.flat());
    await client.query('COMMIT');
  });
  await client.end();
  return s;
}

/**
 * One samsa run: start the projection and time its catch-up over the events, from its first
 * applied batch to the last (the consumer group's first join, `group.initial.rebalance.delay.ms`
 * = 3 s as in Kafka, is start-up, not throughput: it is reported apart), then check the documents.
 * Returns seconds per event applied in the timed part, scaled to all events.
 */
async function samsaRun(cluster: Awaited<ReturnType<typeof createCluster>>, target: ProjectionTarget, lastPositions: readonly EventPosition[], expected: Map<string, Totals>, startups: number[]): Promise<number> {
  const started = process.hrtime.bigint();
  const runner = await runProjection(cluster, projection, { target });
  let first: { at: bigint; applied: bigint } | undefined;
  // The end is seen on the runner's own positions (a view polling the database meanwhile would
  // load the machine the projection runs on); waitFor then confirms it through the database.
  let ended: bigint | undefined;
  const done = new Promise<void>((resolve) => {
    runner.positions$.subscribe((positions) => {
      if (first === undefined && positions.length > 0) first = { at: process.hrtime.bigint(), applied: positions.reduce((n, p) => n + p.offset, 0n) };
      if (ended === undefined && lastPositions.every((l) => positions.some((p) => p.topic === l.topic && p.partition === l.partition && p.offset > l.offset))) {
        ended = process.hrtime.bigint();
        resolve();
      }
    });
  });
  await done;
  await runner.view.waitFor(lastPositions, { timeoutMs: 600_000 });
  const docs = await runner.view.range();
  await runner.stop();
  if (docs.length !== expected.size || docs.some((d) => !isDeepStrictEqual(d.value, expected.get(d.key)))) throw new Error(`the ${target.kind} projection is wrong: ${docs.length} documents`);
  if (first === undefined) throw new Error('no batch was applied');
  startups.push(Number(first.at - started) / 1e9);
  const timed = EVENTS - Number(first.applied);
  return (Number((ended as bigint) - first.at) / 1e9) * (EVENTS / timed);
}

/** Sequential appends, each waited for on the read model: latencies in ms. */
async function latencies(cluster: Awaited<ReturnType<typeof createCluster>>, target: ProjectionTarget): Promise<{ fromAck: number[]; fromCall: number[] }> {
  const store = createEventStore(cluster, { partitions: 6, clientId: 'bench-latency' });
  const runner = await runProjection(cluster, { ...projection, name: 'bench_latency' } as typeof projection, { target });
  const fromAck: number[] = [];
  const fromCall: number[] = [];
  for (let i = 0; i < LATENCY_SAMPLES + 20; i++) {
    const called = process.hrtime.bigint();
    const { position } = await store.append(`order-latency-${i % 50}`, [{ type: 'OrderPlaced', data: eventAt(i) }]);
    const acked = process.hrtime.bigint();
    await runner.view.waitFor(position);
    const done = process.hrtime.bigint();
    // The first appends include the group's first join.
    if (i >= 20) {
      fromAck.push(Number(done - acked) / 1e6);
      fromCall.push(Number(done - called) / 1e6);
    }
  }
  await runner.stop();
  await store.close();
  return { fromAck, fromCall };
}

const percentile = (values: readonly number[], p: number): number => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] as number;
};

/** Runs the projection benchmarks; rows for the report and notes with the ranges. */
export async function runProjectionBenchmarks(): Promise<{ rows: Measurement[]; notes: string[] }> {
  const cluster = await createCluster({ brokers: 1 });
  const dir = mkdtempSync(join(tmpdir(), 'samsa-bench-proj-'));
  const notes: string[] = [];
  try {
    const store = createEventStore(cluster, { partitions: 6, clientId: 'bench-writer' });
    await store.createCategory('order');
    const producer = cluster.producer();
    // The events, produced as the event store writes them (type header, JSON data), untimed.
    const last = new Map<number, EventPosition>();
    for (let from = 0; from < EVENTS; from += 2000) {
      const records = Array.from({ length: Math.min(2000, EVENTS - from) }, (_, k) => ({ key: encoder.encode(`order-${(from + k) % 1000}`), value: encoder.encode(JSON.stringify(eventAt(from + k))), headers: { 'samsa.event-type': 'OrderPlaced' } }));
      for (const m of await producer.send('order.events', records)) {
        const prev = last.get(m.partition);
        if (prev === undefined || m.offset > prev.offset) last.set(m.partition, { topic: 'order.events', partition: m.partition, offset: m.offset });
      }
    }
    await producer.close();
    const lastPositions = [...last.values()];
    const expected = oracle();
    const times = { sqlite: [] as number[], rawSqlite: [] as number[], consumerSqlite: [] as number[], pg: [] as number[], rawPg: [] as number[] };
    const startups: number[] = [];
    let pgSkipped: string | undefined;
    for (let round = -1; round < ROUNDS; round++) {
      const keep = <T>(list: T[], value: T): void => {
        if (round >= 0) list.push(value);
      };
      keep(times.sqlite, await samsaRun(cluster, sqliteTarget(join(dir, `samsa-${round + 1}.db`)), lastPositions, expected, startups));
      keep(times.rawSqlite, await rawSqlite(join(dir, `raw-${round + 1}.db`)));
      keep(times.consumerSqlite, await consumerSqlite(cluster, join(dir, `consumer-${round + 1}.db`), lastPositions, round + 1));
      if (pgSkipped !== undefined) continue;
      try {
        keep(times.pg, await withDatabase('samsa_bench_proj', (url) => samsaRun(cluster, postgresTarget(url), lastPositions, expected, startups)));
        keep(times.rawPg, await withDatabase('samsa_bench_raw', (url) => rawPostgres(url)));
      } catch (e) {
        pgSkipped = e instanceof Error ? e.message : String(e);
      }
    }
    const rate = (list: number[]) => EVENTS / median(list);
    const range = (list: number[]) => `${Math.round(EVENTS / Math.max(...list)).toLocaleString('en-US')}–${Math.round(EVENTS / Math.min(...list)).toLocaleString('en-US')}/s`;
    const rows: Measurement[] = [
      measurement('raw better-sqlite3 batched upserts (reference)', EVENTS, 0, median(times.rawSqlite)),
      measurement('projection → SQLite (exactly-once)', EVENTS, 0, median(times.sqlite), { reference: 'raw SQLite', ratio: rate(times.sqlite) / rate(times.rawSqlite), target: '≥ 50%' }),
      measurement('plain consumer + raw SQLite upserts (second reference)', EVENTS, 0, median(times.consumerSqlite)),
      measurement('projection → SQLite vs plain consumer + raw upserts', EVENTS, 0, median(times.sqlite), { reference: 'consumer + raw', ratio: rate(times.sqlite) / rate(times.consumerSqlite) }),
    ];
    notes.push(`start-up (runProjection to the first applied batch, the group's first join): median ${median(startups).toFixed(2)} s over ${startups.length} runs; excluded from the rates above`);
    notes.push(`SQLite: samsa ${range(times.sqlite)}, raw ${range(times.rawSqlite)}, plain consumer + raw ${range(times.consumerSqlite)} over ${ROUNDS} rounds`);
    if (pgSkipped === undefined && times.pg.length > 0) {
      rows.push(measurement('raw pg batched upserts (reference)', EVENTS, 0, median(times.rawPg)));
      rows.push(measurement('projection → PostgreSQL (exactly-once)', EVENTS, 0, median(times.pg), { reference: 'raw pg', ratio: rate(times.pg) / rate(times.rawPg), target: '≥ 50%' }));
      notes.push(`PostgreSQL: samsa ${range(times.pg)}, raw ${range(times.rawPg)} over ${ROUNDS} rounds`);
      // Emmett projects a few hundred events a second: a smaller set keeps its rounds short; rates are compared.
      const emmett = await emmettProjectionRounds({ connectionString: PG_URL, events: EMMETT_EVENTS, customers: CUSTOMERS, rounds: ROUNDS });
      if (emmett.skipped === undefined && emmett.seconds.length > 0) {
        rows.push(measurement('Emmett PostgreSQL async projection (peer)', EMMETT_EVENTS, 0, median(emmett.seconds)));
        rows.push(measurement('projection → PostgreSQL vs Emmett', EVENTS, 0, median(times.pg), { reference: 'Emmett', ratio: rate(times.pg) / (EMMETT_EVENTS / median(emmett.seconds)), target: 'ahead (> 100%)' }));
        notes.push(`Emmett: ${emmett.name}; ${EMMETT_EVENTS.toLocaleString('en-US')} events a round, ${Math.round(EMMETT_EVENTS / Math.max(...emmett.seconds)).toLocaleString('en-US')}–${Math.round(EMMETT_EVENTS / Math.min(...emmett.seconds)).toLocaleString('en-US')}/s over ${emmett.seconds.length} rounds`);
      } else notes.push(`Emmett's PostgreSQL projection skipped: ${emmett.skipped ?? 'no rounds'}`);
    } else notes.push(`PostgreSQL skipped: ${pgSkipped ?? 'no rounds'}`);
    for (const [label, target] of [['SQLite', sqliteTarget(join(dir, 'latency.db'))], ...(pgSkipped === undefined ? [['PostgreSQL', postgresTarget(PG_URL)]] : [])] as Array<[string, ProjectionTarget]>) {
      const l = target.kind === 'postgres' ? await withDatabase('samsa_bench_lat', (url) => latencies(cluster, postgresTarget(url))) : await latencies(cluster, target);
      notes.push(`waitFor latency into ${label} over ${l.fromAck.length} sequential appends: from the append's acknowledgement p50 ${percentile(l.fromAck, 50).toFixed(2)} ms, p99 ${percentile(l.fromAck, 99).toFixed(2)} ms; from the append call p50 ${percentile(l.fromCall, 50).toFixed(2)} ms, p99 ${percentile(l.fromCall, 99).toFixed(2)} ms`);
    }
    await store.close();
    return { rows, notes };
  } finally {
    await cluster.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}
