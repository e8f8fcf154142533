/**
 * The projection simulation (issue 18): two writers append orders through their event stores while
 * three read models follow the `order` category and a seeded nemesis crashes brokers, delays the
 * network and kills projection workers:
 *
 * - `customers` (SQLite, exactly-once, SQL rows that add up: not idempotent), run by two workers
 *   sharing the partitions; a worker is killed between writing its rows and its offset (its
 *   connection dropped mid-transaction) and replaced after a while;
 * - `orders` (samsa store, exactly-once documents), restarted from its changelog now and then;
 * - `customers_alo` (SQLite, at least once: offsets in the consumer group, not the database), its
 *   worker killed after the rows commit and before the group commit, once per run.
 *
 * Afterwards the log is read back (read_committed) as the oracle, and checked:
 * - lost: every acknowledged append is in the log;
 * - sql / store: the exactly-once models equal the oracle exactly (no duplicate, no gap);
 * - the at-least-once model is measured, not required: `aloDuplicates` counts the events it applied
 *   twice (the test asserts the kill really made it duplicate).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sleep } from '../../src/clock.ts';
import { createEventStore } from '../../src/eventsourcing/index.ts';
import type { EventPosition, EventStore, RecordedEvent } from '../../src/eventsourcing/index.ts';
import { defineProjection, runProjection, sqliteTarget, storeTarget } from '../../src/projections/index.ts';
import type { ProjectionRunner, RunProjectionOptions } from '../../src/projections/index.ts';
import { createRandom } from '../../src/random.ts';
import { createTestCluster } from '../../src/testing.ts';
import type { TestCluster } from '../../src/testing.ts';

type OrderEvent = RecordedEvent<'OrderPlaced', { customer: string; amount: number }>;
const CUSTOMERS = ['ann', 'bo', 'cy', 'di'];

/** What the checks found; every list empty when the run passed. */
export interface ProjectionAnomalies {
  readonly lost: string[];
  readonly sql: string[];
  readonly store: string[];
  readonly harness: string[];
}

/** One run's outcome. */
export interface ProjectionSimResult {
  readonly anomalies: ProjectionAnomalies;
  readonly summary: string;
  /** Events the at-least-once model applied more than once (over all customers). */
  readonly aloDuplicates: number;
  /** Workers killed between rows and offset, at-least-once workers killed after the rows. */
  readonly kills: { readonly exactlyOnce: number; readonly atLeastOnce: number; readonly storeRestarts: number };
}

function customersProjection(name: string) {
  return defineProjection<OrderEvent>({
    name,
    from: { aggregates: ['order'] },
    key: (e) => e.data.customer,
    tables: ['totals'],
    migrate: async (db) => {
      await db.exec(`CREATE TABLE ${db.table('totals')} (customer TEXT PRIMARY KEY, n INTEGER NOT NULL, amount INTEGER NOT NULL)`);
    },
    handle: async (e, db) => {
      await db.exec(`INSERT INTO ${db.table('totals')} (customer, n, amount) VALUES (?, 1, ?) ON CONFLICT (customer) DO UPDATE SET n = n + 1, amount = amount + excluded.amount`, [e.data.customer, e.data.amount]);
    },
  });
}

function ordersProjection(name: string) {
  return defineProjection<{ n: number; amount: number }, OrderEvent>({
    name,
    from: { aggregates: ['order'] },
    initial: () => ({ n: 0, amount: 0 }),
    evolve: (s, e) => ({ n: s.n + 1, amount: s.amount + e.data.amount }),
  });
}

/** Runs one seeded simulation; see the module comment. */
export async function runProjectionSim(options: { readonly seed: number }): Promise<ProjectionSimResult> {
  const { seed } = options;
  const dir = mkdtempSync(join(tmpdir(), `samsa-projsim-${seed}-`));
  const cluster = await createTestCluster({ seed, brokers: 3, brokerConfig: { offsetsTopicNumPartitions: 3, transactionStateLogNumPartitions: 3 } });
  const random = createRandom(seed ^ 0x9e0);
  const harness: string[] = [];
  const phase = (name: string) => (e: unknown): void => {
    harness.push(`${name}: ${e instanceof Error ? e.message : String(e)}`);
  };
  const partitions = 1 + random.int(3);
  const writers: EventStore[] = [0, 1].map((i) => createEventStore(cluster, { partitions, replicationFactor: 3, minInsyncReplicas: 2, clientId: `w${i}` }));
  const acked: EventPosition[] = [];
  const kills = { exactlyOnce: 0, atLeastOnce: 0, storeRestarts: 0 };
  const names = { sql: `customers_${seed}`, alo: `customers_alo_${seed}`, store: `orders_${seed}` };
  const sqlFile = join(dir, 'eos.db');
  const aloFile = join(dir, 'alo.db');
  let writing = true;
  const runners = new Set<ProjectionRunner<unknown>>();

  const common: RunProjectionOptions = { checkIntervalMs: 200, sessionTimeoutMs: 6_000 };
  /** A worker slot: runs a runner, and when it dies (killed), starts a new one after a while. */
  const slot = async (label: string, start: () => Promise<ProjectionRunner<unknown>>): Promise<void> => {
    while (writing) {
      const runner = await start();
      runners.add(runner);
      await new Promise<void>((resolve) => {
        runner.status$.subscribe({ complete: resolve });
      });
      runners.delete(runner);
      await runner.stop().catch(phase(`${label} stop`));
      await sleep(cluster.clock, 200 + random.int(2_000));
    }
  };
  const sqlWorker = (i: number) => slot(`sql${i}`, () => runProjection(cluster, customersProjection(names.sql), {
    ...common,
    target: sqliteTarget(sqlFile),
    clientId: `sql${i}`,
    faults: {
      beforeOffsetWrite: async (_tp, _next, kill) => {
        // The first batch any worker applies is always killed (every run crosses a crash), later ones at random while writing.
        if (kills.exactlyOnce >= 4 || (kills.exactlyOnce > 0 && (!writing || random.int(3) !== 0))) return;
        kills.exactlyOnce++;
        await kill();
        throw new Error('worker killed between its rows and its offset');
      },
    },
  }) as Promise<ProjectionRunner<unknown>>);
  const aloWorker = () => slot('alo', () => runProjection(cluster, customersProjection(names.alo), {
    ...common,
    target: sqliteTarget(aloFile),
    processingGuarantee: 'at_least_once',
    clientId: 'alo',
    faults: {
      beforeGroupCommit: async (kill) => {
        if (kills.atLeastOnce >= 1) return;
        kills.atLeastOnce++;
        await kill();
        throw new Error('worker killed after its rows, before its group commit');
      },
    },
  }) as Promise<ProjectionRunner<unknown>>);
  let store: ProjectionRunner<unknown> | undefined;
  const storeWorker = async (): Promise<void> => {
    store = (await runProjection(cluster, ordersProjection(names.store), { ...common, target: storeTarget() })) as ProjectionRunner<unknown>;
    while (writing) {
      await sleep(cluster.clock, 2_000 + random.int(6_000));
      if (!writing || random.int(2) === 0) continue;
      kills.storeRestarts++;
      await store.stop();
      store = (await runProjection(cluster, ordersProjection(names.store), { ...common, target: storeTarget() })) as ProjectionRunner<unknown>;
    }
  };

  const writer = async (w: number): Promise<void> => {
    const es = writers[w] as EventStore;
    for (let n = 0; n < 25; n++) {
      const order = `order-${w}x${random.int(6)}`;
      const customer = CUSTOMERS[random.int(CUSTOMERS.length)] as string;
      try {
        const r = await es.append(order, [{ type: 'OrderPlaced', data: { customer, amount: 1 + random.int(50) }, eventId: `w${w}-${n}` }]);
        acked.push(r.position);
      } catch {
        // An unknown outcome: the oracle is the log, so it counts only if it landed.
      }
      if (random.int(2) === 0) await sleep(cluster.clock, random.int(300));
    }
  };

  const nemesis = async (): Promise<void> => {
    for (let round = 0; round < 3; round++) {
      await sleep(cluster.clock, 500 + random.int(2_000));
      const kind = (['crash-broker', 'crash-two-brokers', 'delays'] as const)[random.int(3)];
      if (kind === 'delays') {
        cluster.network.setFaults({ delayMs: { min: 0, max: 30 + random.int(150) } });
        await sleep(cluster.clock, 1_000 + random.int(3_000));
        cluster.network.setFaults({});
        continue;
      }
      const victims = [...cluster.brokerIds].sort(() => random.next() - 0.5).slice(0, kind === 'crash-broker' ? 1 : 2);
      for (const id of victims) cluster.broker(id).crash();
      await sleep(cluster.clock, 1_000 + random.int(3_000));
      for (const id of victims) await cluster.broker(id).restart();
    }
  };

  // Writers first create the topic; the projections wait for it.
  await cluster.settle((writers[0] as EventStore).append('order-seed', [{ type: 'OrderPlaced', data: { customer: 'ann', amount: 1 }, eventId: 'seed' }]).then((r) => acked.push(r.position)), { maxSimulatedMs: 120_000 }).catch(phase('first append'));
  const workers = [sqlWorker(0), sqlWorker(1), aloWorker(), storeWorker()].map((p) => p.catch(phase('worker')));
  await cluster.settle(Promise.all([writer(0), writer(1), nemesis()]), { maxSimulatedMs: 900_000 }).catch(phase('run'));
  writing = false;
  cluster.network.heal();
  cluster.network.setFaults({});
  for (const id of cluster.brokerIds) if (!cluster.broker(id).running) await cluster.settle(cluster.broker(id).restart()).catch(phase('restart'));

  const { oracleCustomers, oracleOrders, ends, positions } = await readOracle(cluster, partitions).catch((e: unknown) => {
    phase('oracle')(e);
    return { oracleCustomers: new Map<string, { n: number; amount: number }>(), oracleOrders: new Map<string, { n: number; amount: number }>(), ends: [] as EventPosition[], positions: new Set<string>() };
  });
  const anomalies: ProjectionAnomalies = { lost: [], sql: [], store: [], harness };
  for (const p of acked) if (!positions.has(`${p.partition}@${p.offset}`)) anomalies.lost.push(`acknowledged ${p.topic}-${p.partition}@${p.offset} is not in the log`);

  // The slots restart killed workers only while writing: make sure one of each runs to the end.
  // Named to sort after the slots' workers, so a single partition goes to one of them first (the range assignor's order).
  const finals = await cluster.settle(Promise.all([
    runProjection(cluster, customersProjection(names.sql), { ...common, target: sqliteTarget(sqlFile), clientId: 'sqlz-final' }),
    runProjection(cluster, customersProjection(names.alo), { ...common, target: sqliteTarget(aloFile), processingGuarantee: 'at_least_once', clientId: 'alo-final' }),
  ]), { maxSimulatedMs: 120_000 }).catch((e: unknown) => {
    phase('final runners')(e);
    return [] as ProjectionRunner<unknown>[];
  });
  let aloDuplicates = 0;
  const [sqlFinal, aloFinal] = finals as Array<ProjectionRunner<unknown> | undefined>;
  if (sqlFinal !== undefined && aloFinal !== undefined && store !== undefined) {
    const storeRunner = store;
    await cluster.settle(Promise.all([sqlFinal.view.waitFor(ends, { timeoutMs: 300_000 }), storeRunner.view.waitFor(ends, { timeoutMs: 300_000 })]), { maxSimulatedMs: 400_000 }).catch(phase('catch up'));
    // At least once has no stored offsets to wait on: wait for its lag to reach zero.
    await cluster.settle((async () => {
      for (let i = 0; i < 600 && (await aloFinal.describe()).lag !== 0n; i++) await sleep(cluster.clock, 500);
    })(), { maxSimulatedMs: 400_000 }).catch(phase('alo catch up'));
    const sqlRows = await sqlFinal.view.query((db) => db.all<{ customer: string; n: number; amount: number }>(`SELECT customer, n, amount FROM ${db.table('totals')}`)).catch((e: unknown) => {
      phase('sql read')(e);
      return [];
    });
    compare('sql', new Map(sqlRows.map((r) => [r.customer, { n: Number(r.n), amount: Number(r.amount) }])), oracleCustomers, anomalies.sql);
    const docs = await storeRunner.view.range().catch((e: unknown) => {
      phase('store read')(e);
      return [];
    });
    compare('store', new Map(docs.map((d) => [d.key, d.value as { n: number; amount: number }])), oracleOrders, anomalies.store);
    const aloRows = await aloFinal.view.query((db) => db.all<{ customer: string; n: number }>(`SELECT customer, n FROM ${db.table('totals')}`)).catch(() => []);
    for (const r of aloRows) aloDuplicates += Math.max(0, Number(r.n) - (oracleCustomers.get(r.customer)?.n ?? 0));
  } else harness.push('a final runner did not start');

  for (const r of [...runners, ...finals, ...(store === undefined ? [] : [store])]) await cluster.settle(r.stop(), { maxSimulatedMs: 60_000 }).catch(() => undefined);
  await cluster.settle(Promise.all(workers), { maxSimulatedMs: 60_000 }).catch(() => undefined);
  for (const w of writers) await cluster.settle(w.close(), { maxSimulatedMs: 60_000 }).catch(() => undefined);
  rmSync(dir, { recursive: true, force: true });
  const events = [...oracleCustomers.values()].reduce((n, c) => n + c.n, 0);
  return {
    anomalies,
    aloDuplicates,
    kills,
    summary: `[seed=${seed}] ${partitions} partitions, ${events} events (${acked.length} acked); killed ${kills.exactlyOnce} exactly-once workers mid-transaction, ${kills.atLeastOnce} at-least-once after its rows; ${kills.storeRestarts} store restarts; at-least-once duplicates ${aloDuplicates}`,
  };
}

function compare(what: string, model: ReadonlyMap<string, { n: number; amount: number }>, oracle: ReadonlyMap<string, { n: number; amount: number }>, out: string[]): void {
  for (const [key, want] of oracle) {
    const got = model.get(key);
    if (got === undefined || got.n !== want.n || got.amount !== want.amount) out.push(`${what} ${key}: ${JSON.stringify(got)} instead of ${JSON.stringify(want)}`);
  }
  for (const key of model.keys()) if (!oracle.has(key)) out.push(`${what} ${key}: in the model but not in the log`);
}

/** The committed log as the oracle: totals per customer and per order, and each partition's last event. */
async function readOracle(cluster: TestCluster, partitions: number) {
  const oracleCustomers = new Map<string, { n: number; amount: number }>();
  const oracleOrders = new Map<string, { n: number; amount: number }>();
  const ends: EventPosition[] = [];
  const positions = new Set<string>();
  await cluster.settle((async () => {
    const admin = cluster.admin();
    const latest = await admin.listOffsets('order.events', 'latest', { isolationLevel: 'read_committed' });
    const consumer = cluster.consumer({ isolationLevel: 'read_committed', enableAutoCommit: false });
    consumer.assign(Array.from({ length: partitions }, (_, partition) => ({ topic: 'order.events', partition })));
    await consumer.seekToBeginning();
    const last = new Map<number, bigint>();
    const dec = new TextDecoder();
    for (let idle = 0; idle < 20; ) {
      const records = await consumer.poll({ timeoutMs: 500 });
      if (records.length === 0) idle++;
      for (const r of records) {
        positions.add(`${r.partition}@${r.offset}`);
        last.set(r.partition, r.offset);
        const data = JSON.parse(dec.decode(r.value ?? new Uint8Array())) as { customer: string; amount: number };
        const order = dec.decode(r.key ?? new Uint8Array());
        for (const [map, key] of [[oracleCustomers, data.customer], [oracleOrders, order]] as const) {
          const now = map.get(key) ?? { n: 0, amount: 0 };
          map.set(key, { n: now.n + 1, amount: now.amount + data.amount });
        }
      }
      const done = await Promise.all(latest.map(async (l) => (await consumer.position({ topic: 'order.events', partition: l.partition })) >= l.offset));
      if (done.every(Boolean) && records.length === 0) break;
    }
    for (const [partition, offset] of last) ends.push({ topic: 'order.events', partition, offset });
    await consumer.close();
  })(), { maxSimulatedMs: 300_000 });
  return { oracleCustomers, oracleOrders, ends, positions };
}

/** The run's failures, by check. */
export function projectionFindings(result: ProjectionSimResult): Array<[string, string[]]> {
  return Object.entries(result.anomalies).filter(([, list]) => list.length > 0);
}
