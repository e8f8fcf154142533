/**
 * Projections into SQLite on a simulated cluster: documents and SQL rows, offsets in the same
 * transaction, read-your-writes, live queries, error policies, blue-green and rebuild.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { lastValueFrom } from 'rxjs';
import { createEventStore } from '../../src/eventsourcing/index.ts';
import type { EventStore, RecordedEvent } from '../../src/eventsourcing/index.ts';
import { defineProjection, runProjection, sqliteTarget } from '../../src/projections/index.ts';
import { createTestCluster } from '../../src/testing.ts';
import type { TestCluster } from '../../src/testing.ts';
import { ProjectionError } from '../../src/errors.ts';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});
function dbFile(): string {
  const d = mkdtempSync(join(tmpdir(), 'samsa-proj-'));
  dirs.push(d);
  return join(d, 'read.db');
}

type OrderEvent = RecordedEvent<'OrderPlaced' | 'OrderPaid', { customer: string; total: number }>;

const orderCount = defineProjection<{ orders: number; total: number }, OrderEvent>({
  name: 'order_totals',
  from: { aggregates: ['order'] },
  initial: () => ({ orders: 0, total: 0 }),
  evolve: (s, e) => (e.type === 'OrderPlaced' ? { orders: s.orders + 1, total: s.total + e.data.total } : s),
});

const perCustomer = defineProjection<OrderEvent>({
  name: 'customer_orders',
  from: { aggregates: ['order'] },
  tables: ['customers'],
  migrate: async (db) => {
    await db.exec(`CREATE TABLE ${db.table('customers')} (customer TEXT PRIMARY KEY, orders INTEGER NOT NULL, total INTEGER NOT NULL)`);
  },
  handle: async (e, db) => {
    if (e.type !== 'OrderPlaced') return;
    await db.exec(`INSERT INTO ${db.table('customers')} (customer, orders, total) VALUES (?, 1, ?) ON CONFLICT (customer) DO UPDATE SET orders = orders + 1, total = total + excluded.total`, [e.data.customer, e.data.total]);
  },
});

async function setup(seed: number): Promise<{ cluster: TestCluster; store: EventStore }> {
  const cluster = await createTestCluster({ seed, brokers: 1 });
  const store = createEventStore(cluster, { partitions: 3 });
  return { cluster, store };
}

async function place(cluster: TestCluster, store: EventStore, id: number, customer: string, total: number) {
  return cluster.settle(store.append(`order-${id}`, [{ type: 'OrderPlaced', data: { customer, total } }]));
}

describe('projections into SQLite', () => {
  it('keeps a document per stream and answers get/range/prefix after waitFor', async () => {
    const { cluster, store } = await setup(1);
    const file = dbFile();
    await place(cluster, store, 1, 'ann', 10);
    const runner = await cluster.settle(runProjection(cluster, orderCount, { target: sqliteTarget(file) }));
    await place(cluster, store, 2, 'bo', 5);
    const last = await place(cluster, store, 1, 'ann', 7);
    await cluster.settle(runner.view.waitFor(last.position));
    expect(await runner.view.get('order-1')).toEqual({ orders: 2, total: 17 });
    expect(await runner.view.get('order-2')).toEqual({ orders: 1, total: 5 });
    expect((await runner.view.range('order-1', 'order-1')).map((e) => e.key)).toEqual(['order-1']);
    expect((await runner.view.prefix('order-')).map((e) => e.key)).toEqual(['order-1', 'order-2']);
    const d = await cluster.settle(runner.describe());
    expect(d).toMatchObject({ name: 'order_totals', version: 1, status: 'running', live: true, lag: 0n, deadLetters: 0 });
    await cluster.settle(runner.stop());
    await cluster.settle(store.close());
  });

  it('writes SQL rows with offsets in the same transaction: a restart applies nothing twice', async () => {
    const { cluster, store } = await setup(2);
    const file = dbFile();
    const runner = await cluster.settle(runProjection(cluster, perCustomer, { target: sqliteTarget(file) }));
    let last;
    for (let i = 0; i < 20; i++) last = await place(cluster, store, i, i % 2 === 0 ? 'ann' : 'bo', 1);
    await cluster.settle(runner.view.waitFor(last?.position));
    await cluster.settle(runner.stop());
    const again = await cluster.settle(runProjection(cluster, perCustomer, { target: sqliteTarget(file) }));
    last = await place(cluster, store, 99, 'ann', 1);
    await cluster.settle(again.view.waitFor(last.position));
    const rows = await again.view.query((db) => db.all(`SELECT customer, orders, total FROM ${db.table('customers')} ORDER BY customer`));
    expect(rows).toEqual([{ customer: 'ann', orders: 11, total: 11 }, { customer: 'bo', orders: 10, total: 10 }]);
    await cluster.settle(again.stop());
    await cluster.settle(store.close());
  });

  it('a worker killed between the rows and the offset leaves no duplicate after restart', async () => {
    const { cluster, store } = await setup(3);
    const file = dbFile();
    let kills = 0;
    const runner = await cluster.settle(runProjection(cluster, perCustomer, {
      target: sqliteTarget(file),
      faults: {
        beforeOffsetWrite: async (_tp, _next, kill) => {
          if (kills++ > 0) return;
          await kill();
          throw new Error('worker killed');
        },
      },
    }));
    const last = await place(cluster, store, 1, 'ann', 5);
    const failed = await cluster.settle(lastValueFrom(runner.status$)).then(() => runner.error);
    expect(failed).toBeInstanceOf(ProjectionError);
    await cluster.settle(runner.stop());
    const again = await cluster.settle(runProjection(cluster, perCustomer, { target: sqliteTarget(file) }));
    await cluster.settle(again.view.waitFor(last.position));
    expect(await again.view.query((db) => db.all(`SELECT customer, orders FROM ${db.table('customers')}`))).toEqual([{ customer: 'ann', orders: 1 }]);
    await cluster.settle(again.stop());
    await cluster.settle(store.close());
  });

  it('projects plain topics: JSON records without an envelope, typed by their topic, keyed by their key', async () => {
    const { cluster, store } = await setup(4);
    await cluster.settle(cluster.admin().createTopic('payments', { partitions: 2 }));
    const paid = defineProjection<{ sum: number; types: string[] }, RecordedEvent<string, { amount: number }>>({
      name: 'paid',
      from: { topics: ['payments'] },
      initial: () => ({ sum: 0, types: [] }),
      evolve: (s, e) => ({ sum: s.sum + e.data.amount, types: [...new Set([...s.types, e.type])] }),
    });
    const runner = await cluster.settle(runProjection(cluster, paid, { target: sqliteTarget(dbFile()) }));
    const producer = cluster.producer();
    const sent = await cluster.settle(producer.send('payments', [{ key: 'acct-1', value: JSON.stringify({ amount: 5 }) }, { key: 'acct-1', value: JSON.stringify({ amount: 7 }) }, { key: null, value: JSON.stringify({ amount: 100 }) }, { key: 'acct-2', value: JSON.stringify({ amount: 1 }) }]));
    await cluster.settle(runner.view.waitFor(sent.map((m) => ({ topic: m.topic, partition: m.partition, offset: m.offset }))));
    expect(await runner.view.get('acct-1')).toEqual({ sum: 12, types: ['payments'] });
    expect(await runner.view.get('acct-2')).toEqual({ sum: 1, types: ['payments'] });
    // The record without a key belongs to no document.
    expect((await runner.view.range()).map((e) => e.key)).toEqual(['acct-1', 'acct-2']);
    await cluster.settle(runner.stop());
    await cluster.settle(producer.close());
    await cluster.settle(store.close());
  });
});
