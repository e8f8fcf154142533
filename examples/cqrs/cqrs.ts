/**
 * The CQRS example: an order service takes commands over HTTP and emits OrderPlaced; payments,
 * shipping and notifications react through the log, each in its own consumer group; two read
 * models (an order summary per customer and a shipping board) are projected into SQLite, or into
 * PostgreSQL with --pg, and served over HTTP with read-your-writes (`?after=<position>`).
 * Midway, a projection worker is killed between writing its rows and storing its offset; another
 * worker takes its partitions and a replacement joins later. At the end the read models are checked
 * against an oracle computed from the events themselves.
 *
 *   npm run example:cqrs              (SQLite in a temporary directory)
 *   npm run example:cqrs -- --pg      (PostgreSQL at SAMSA_PG_URL, default postgresql://root@127.0.0.1:5432/test)
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isDeepStrictEqual } from 'node:util';
import { createCluster, createEventStore, dropProjection, postgresTarget, runProjection, sqliteTarget, SystemClock } from '../../src/index.ts';
import type { Clock, EventStore, KafkaClients, ProjectionRunner, ProjectionTarget, RecordedEvent } from '../../src/index.ts';
import { startApi } from './api.ts';
import { notificationsService, paymentsService, shippingService } from './services.ts';
import { orderSummary, shippingBoard } from './readModels.ts';
import type { Card } from './readModels.ts';

/** What the run ends with, checked by its test. */
export interface CqrsSummary {
  readonly orders: number;
  readonly customers: number;
  /** Workers killed between their rows and their offset. */
  readonly killed: number;
  /** A GET with ?after= right after a POST saw the new order. */
  readonly readYourWrites: boolean;
  /** Differences between the read models and the oracle (empty: equal). */
  readonly mismatches: readonly string[];
  readonly target: string;
}

const CUSTOMERS = ['ann', 'bo', 'cy', 'di'];

/** Runs the whole flow on `clients`; see the module comment. */
export async function runCqrs(clients: KafkaClients, options: { target: ProjectionTarget; say: (line: string) => void; clock?: Clock; orders?: number }): Promise<CqrsSummary> {
  const { target, say } = options;
  const clock = options.clock ?? new SystemClock();
  const pause = (ms: number) => new Promise<void>((resolve) => clock.setTimeout(resolve, ms));
  // The demo's cluster is new, so its read models start over (on PostgreSQL, an earlier run's would still be there).
  for (const p of [orderSummary, shippingBoard]) await dropProjection(p as never, target);
  const store = createEventStore(clients, { partitions: 3, clientId: 'order-service' });
  // Every category exists before its readers start (otherwise each would appear with its first event).
  for (const category of ['order', 'payment', 'shipment', 'notification']) await store.createCategory(category);
  const services = [paymentsService(clients), shippingService(clients), notificationsService(clients)];
  let killed = 0;
  let batches = 0;
  const workers = new Set<ProjectionRunner>();
  // Worker "a" is killed once, between its rows and its offset, on its 4th batch; "b" carries on.
  const startWorker = async (id: string): Promise<ProjectionRunner> => {
    const runner = await runProjection(clients, orderSummary, {
      target,
      clientId: `summary-${id}`,
      checkIntervalMs: 200,
      sessionTimeoutMs: 6_000,
      faults: {
        beforeOffsetWrite: async (_tp, _next, kill) => {
          if (id !== 'a' || killed > 0 || ++batches < 4) return;
          killed++;
          say(`worker ${id} of order_summary killed between its rows and its offset (its transaction never commits)`);
          await kill();
          throw new Error('worker killed');
        },
      },
    });
    workers.add(runner as ProjectionRunner);
    return runner as ProjectionRunner;
  };
  const first = await startWorker('a');
  await startWorker('b');
  const board = await runProjection(clients, shippingBoard, { target, checkIntervalMs: 200 });
  const api = await startApi({ store, summary: first.view, board: board.view });
  say(`order service, payments, shipping and notifications running; read models in ${target.kind === 'postgres' ? 'PostgreSQL' : 'SQLite'}; HTTP API at ${api.url}`);
  let replaced = false;
  first.status$.subscribe({
    complete: () => {
      if (first.status !== 'failed') return;
      // The orchestrator notices the dead worker and starts a replacement a little later.
      void pause(1_000).then(() => startWorker('a2')).then(() => {
        replaced = true;
        say('a replacement worker joined order_summary');
      });
    },
  });

  const total = options.orders ?? 24;
  let readYourWrites = true;
  const placed: string[] = [];
  try {
    for (let i = 0; i < total; i++) {
      const customer = CUSTOMERS[i % CUSTOMERS.length] as string;
      const response = await fetch(`${api.url}/orders`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ customer, total: 10 + i }) });
      const { orderId, position } = (await response.json()) as { orderId: string; position: string };
      placed.push(orderId);
      if (i % 6 === 5) {
        // Read your own write: the query waits until the projection has applied the new order.
        const answer = await fetch(`${api.url}/customers/${customer}/orders?after=${encodeURIComponent(position)}`);
        const view = (await answer.json()) as { list?: Array<{ order_id: string }>; error?: string };
        if (view.list === undefined) throw new Error(`GET /customers/${customer}/orders answered ${answer.status}: ${view.error ?? ''}`);
        const seen = view.list.some((o) => o.order_id === orderId);
        readYourWrites &&= seen;
        say(`placed ${orderId} for ${customer}; GET /customers/${customer}/orders?after=${position} ${seen ? 'shows it at once' : 'DOES NOT show it'}`);
      }
    }
    const rejected = await fetch(`${api.url}/orders`, { method: 'POST', body: JSON.stringify({ customer: 'ann', total: 'ten' }) });
    say(`a malformed command is refused: ${rejected.status} ${JSON.stringify(await rejected.json())}`);

    // Wait for the reactions to run through: every order notified, on the live read model.
    for (let i = 0; ; i++) {
      const done = await first.view.query(async (db) => db.one<{ n: unknown }>(`SELECT COUNT(*) AS n FROM ${db.table('orders')} WHERE notified = 1`)).catch(() => ({ n: 0 }));
      if (Number(done?.n) === total && replaced) break;
      if (i > 600) throw new Error('the services did not finish within 5 minutes');
      await pause(500);
    }
    const mismatches = await compareWithOracle(store, first.view, board.view as never);
    say(mismatches.length === 0 ? `verified: both read models equal the oracle computed from the events (${total} orders, ${CUSTOMERS.length} customers, no duplicate, no gap)` : `MISMATCH: ${mismatches.join('; ')}`);
    const card = (await board.view.range())[0]?.value as Card | undefined;
    if (card !== undefined) say(`shipping board, first card: ${JSON.stringify(card)}`);
    return { orders: total, customers: CUSTOMERS.length, killed, readYourWrites, mismatches, target: target.kind };
  } finally {
    await api.close();
    for (const s of services) await s.stop();
    for (const w of workers) await w.stop().catch(() => undefined);
    await board.stop();
    await store.close();
  }
}

/** Reads every event back and compares both read models with what the events say. */
async function compareWithOracle(store: EventStore, summary: ProjectionRunner['view'], board: ProjectionRunner<Card>['view']): Promise<string[]> {
  const events: RecordedEvent[] = [];
  await new Promise<void>((resolve, reject) => {
    const sub = store.subscribe({ category: ['order', 'payment', 'shipment', 'notification'] }).subscribe({
      next: (m) => {
        if (m.kind === 'event') events.push(m.event);
        else {
          sub.unsubscribe();
          resolve();
        }
      },
      error: reject,
    });
  });
  // Every event read must be in the read models before they are compared: the last of each
  // partition is waited for (events of one order arrive through four topics, in any order).
  const last = new Map<string, RecordedEvent['position']>();
  for (const e of events) {
    const k = `${e.position.topic}/${e.position.partition}`;
    if ((last.get(k)?.offset ?? -1n) < e.position.offset) last.set(k, e.position);
  }
  const ends = [...last.values()];
  await summary.waitFor(ends, { timeoutMs: 60_000 });
  await board.waitFor(ends.filter((p) => p.topic === 'payment.events' || p.topic === 'shipment.events'), { timeoutMs: 60_000 });
  const customers = new Map<string, { orders: number; spent: number }>();
  const orders = new Map<string, { customer: string; total: number | null; paid: number; carrier: string | null; notified: number }>();
  const cards = new Map<string, Card>();
  for (const e of events) {
    const d = e.data as { orderId: string; customer: string; total?: number; amount?: number; carrier?: string };
    const o = orders.get(d.orderId) ?? { customer: d.customer, total: null, paid: 0, carrier: null, notified: 0 };
    if (e.type === 'OrderPlaced') {
      const c = customers.get(d.customer) ?? { orders: 0, spent: 0 };
      customers.set(d.customer, { orders: c.orders + 1, spent: c.spent + (d.total ?? 0) });
      o.total = d.total ?? 0;
    }
    if (e.type === 'PaymentCaptured') {
      o.paid = 1;
      cards.set(d.orderId, { ...(cards.get(d.orderId) ?? { orderId: d.orderId, customer: d.customer, carrier: null }), amount: d.amount ?? null });
    }
    if (e.type === 'ShipmentScheduled') {
      o.carrier = d.carrier ?? null;
      cards.set(d.orderId, { ...(cards.get(d.orderId) ?? { orderId: d.orderId, customer: d.customer, amount: null }), carrier: d.carrier ?? null });
    }
    if (e.type === 'NotificationSent') o.notified = 1;
    orders.set(d.orderId, o);
  }
  const out: string[] = [];
  const model = await summary.query(async (db) => ({
    customers: await db.all<{ customer: string; orders: unknown; spent: unknown }>(`SELECT customer, orders, spent FROM ${db.table('customers')}`),
    orders: await db.all<{ order_id: string; customer: string; total: unknown; paid: unknown; carrier: string | null; notified: unknown }>(`SELECT * FROM ${db.table('orders')}`),
  }));
  if (model.customers.length !== customers.size) out.push(`${model.customers.length} customers in the model, ${customers.size} in the events`);
  for (const r of model.customers) {
    const want = customers.get(r.customer);
    if (want === undefined || want.orders !== Number(r.orders) || want.spent !== Number(r.spent)) out.push(`customer ${r.customer}: ${Number(r.orders)} orders / ${Number(r.spent)} spent, the events say ${JSON.stringify(want)}`);
  }
  if (model.orders.length !== orders.size) out.push(`${model.orders.length} orders in the model, ${orders.size} in the events`);
  for (const r of model.orders) {
    const want = orders.get(r.order_id);
    const got = { customer: r.customer, total: r.total === null ? null : Number(r.total), paid: Number(r.paid), carrier: r.carrier, notified: Number(r.notified) };
    if (!isDeepStrictEqual(got, want)) out.push(`order ${r.order_id}: ${JSON.stringify(got)}, the events say ${JSON.stringify(want)}`);
  }
  const docs = await board.range();
  if (docs.length !== cards.size) out.push(`${docs.length} cards on the board, ${cards.size} in the events`);
  for (const d of docs) {
    const want = cards.get(d.key);
    // Compared as values: PostgreSQL's jsonb does not keep key order.
    if (!isDeepStrictEqual({ ...d.value }, want === undefined ? undefined : { orderId: want.orderId, customer: want.customer, amount: want.amount, carrier: want.carrier })) out.push(`card ${d.key}: ${JSON.stringify(d.value)}, the events say ${JSON.stringify(want)}`);
  }
  return out;
}

async function main(): Promise<void> {
  const pg = process.argv.includes('--pg');
  const dir = mkdtempSync(join(tmpdir(), 'samsa-cqrs-'));
  const target = pg ? postgresTarget(process.env.SAMSA_PG_URL ?? 'postgresql://root@127.0.0.1:5432/test') : sqliteTarget(join(dir, 'read-models.db'));
  const cluster = await createCluster({ brokers: 3 });
  try {
    const summary = await runCqrs(cluster, { target, say: (line) => console.log(`• ${line}`) });
    if (summary.mismatches.length > 0 || !summary.readYourWrites || summary.killed !== 1) process.exitCode = 1;
  } finally {
    await cluster.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

if (import.meta.url === `file://${process.argv[1]}`) await main();
