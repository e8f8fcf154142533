/**
 * Projections into a real PostgreSQL server (on an embedded cluster with the real clock: the
 * database's I/O is real): documents with their offsets in the same transaction, a worker whose
 * connection is killed between the rows and the offset, two workers racing on the same rows, and
 * the blue-green cutover.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { lastValueFrom } from 'rxjs';
import { createCluster } from '../../src/cluster/cluster.ts';
import type { Cluster } from '../../src/cluster/cluster.ts';
import { createEventStore } from '../../src/eventsourcing/index.ts';
import type { EventStore } from '../../src/eventsourcing/index.ts';
import { defineProjection, openView, postgresTarget, runProjection } from '../../src/projections/index.ts';
import { ProjectionError } from '../../src/errors.ts';
import { freshDatabase, postgresReachable } from './pgDatabase.ts';
import type { OrderEvent } from './fixtures.ts';

const reachable = await postgresReachable();

const totals = defineProjection<{ n: number; total: number }, OrderEvent>({
  name: 'order_totals',
  from: { aggregates: ['order'] },
  initial: () => ({ n: 0, total: 0 }),
  evolve: (s, e) => ({ n: s.n + 1, total: s.total + e.data.total }),
});

function customers(version = 1) {
  return defineProjection<OrderEvent>({
    name: 'customers',
    version,
    from: { aggregates: ['order'] },
    key: (e) => e.data.customer,
    tables: ['totals'],
    migrate: async (db) => {
      await db.exec(`CREATE TABLE ${db.table('totals')} (customer TEXT PRIMARY KEY, total BIGINT NOT NULL, n BIGINT NOT NULL)`);
    },
    handle: async (e, db) => {
      await db.exec(`INSERT INTO ${db.table('totals')} (customer, total, n) VALUES (?, ?, 1) ON CONFLICT (customer) DO UPDATE SET total = ${db.table('totals')}.total + excluded.total, n = ${db.table('totals')}.n + 1`, [e.data.customer, e.data.total * version]);
    },
  });
}

describe.skipIf(!reachable)('projections into PostgreSQL', () => {
  let db: { url: string; drop: () => Promise<void> };
  let cluster: Cluster;
  let store: EventStore;
  beforeAll(async () => {
    db = await freshDatabase('samsa_projections');
    cluster = await createCluster({ brokers: 1 });
    store = createEventStore(cluster, { partitions: 3 });
  });
  afterAll(async () => {
    await store?.close();
    await cluster?.stop();
    await db?.drop();
  });

  const rows = (h: { all(sql: string): Promise<Array<Record<string, unknown>>>; table(n: string): string }) =>
    h.all(`SELECT customer, total::int AS total, n::int AS n FROM ${h.table('totals')} ORDER BY customer`);

  it('keeps documents with their offsets in one transaction, queried in key order', async () => {
    const runner = await runProjection(cluster, totals, { target: postgresTarget(db.url) });
    await store.append('order-b', [{ type: 'OrderPlaced', data: { customer: 'x', total: 2 } }]);
    await store.append('order-B', [{ type: 'OrderPlaced', data: { customer: 'x', total: 1 } }]);
    const last = await store.append('order-b', [{ type: 'OrderPlaced', data: { customer: 'x', total: 3 } }]);
    await runner.view.waitFor(last.position);
    expect(await runner.view.get('order-b')).toEqual({ n: 2, total: 5 });
    // Byte order, as the store's: upper case first.
    expect((await runner.view.range()).map((e) => e.key)).toEqual(['order-B', 'order-b']);
    expect((await runner.view.prefix('order-b')).map((e) => e.key)).toEqual(['order-b']);
    await runner.stop();
  });

  it('a worker whose connection is killed between the rows and the offset leaves no duplicate', async () => {
    let kills = 0;
    const runner = await runProjection(cluster, customers(), {
      target: postgresTarget(db.url),
      faults: {
        beforeOffsetWrite: async (_tp, _next, kill) => {
          if (kills++ > 0) return;
          await kill();
          throw new Error('worker killed');
        },
      },
    });
    const first = await store.append('order-k1', [{ type: 'OrderPlaced', data: { customer: 'kim', total: 5 } }]);
    const error = await lastValueFrom(runner.status$).then(() => runner.error);
    expect(error).toBeInstanceOf(ProjectionError);
    await runner.stop();
    const again = await runProjection(cluster, customers(), { target: postgresTarget(db.url) });
    const second = await store.append('order-k2', [{ type: 'OrderPlaced', data: { customer: 'kim', total: 1 } }]);
    await again.view.waitFor([first.position, second.position]);
    expect((await again.view.query(rows)).filter((r) => r.customer === 'kim')).toEqual([{ customer: 'kim', total: 6, n: 2 }]);
    await again.stop();
  });

  it('two workers updating the same rows from different partitions stay exact', async () => {
    const a = await runProjection(cluster, customers(), { target: postgresTarget(db.url), clientId: 'pg-a' });
    const b = await runProjection(cluster, customers(), { target: postgresTarget(db.url), clientId: 'pg-b' });
    const positions = await Promise.all(Array.from({ length: 60 }, (_, i) => store.append(`order-r${i}`, [{ type: 'OrderPlaced', data: { customer: `r${i % 2}`, total: 1 } }]).then((r) => r.position)));
    await a.view.waitFor(positions);
    expect((await a.view.query(rows)).filter((r) => String(r.customer).startsWith('r'))).toEqual([{ customer: 'r0', total: 30, n: 30 }, { customer: 'r1', total: 30, n: 30 }]);
    await a.stop();
    await b.stop();
  });

  it('cuts over to v2 once it has caught up; a reader in another process-like view follows', async () => {
    const reader = await openView(customers(1), postgresTarget(db.url));
    expect(await reader.live()).toEqual({ version: 1, build: 0 });
    const v2 = await runProjection(cluster, customers(2), { target: postgresTarget(db.url), checkIntervalMs: 50 });
    for (let i = 0; i < 200 && (await reader.live())?.version !== 2; i++) await new Promise((r) => setTimeout(r, 50));
    expect(await reader.live()).toEqual({ version: 2, build: 0 });
    const v2rows = await reader.query(rows);
    expect(v2rows.find((r) => r.customer === 'kim')).toEqual({ customer: 'kim', total: 12, n: 2 });
    await reader.useVersion(1);
    expect((await reader.query(rows)).find((r) => r.customer === 'kim')).toEqual({ customer: 'kim', total: 6, n: 2 });
    await v2.stop();
    await reader.close();
  });
});
