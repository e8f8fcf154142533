/**
 * The read models of the CQRS example, in SQL (SQLite by default, PostgreSQL with --pg):
 *
 * - `order_summary`: per customer, how many orders and how much spent (counters: applying an event
 *   twice would be wrong, so this model depends on exactly-once), and per order its progress
 *   (paid, shipped with which carrier, customer notified), built from four categories;
 * - `shipping_board`: a document per order for the warehouse, from payments and shipments.
 *
 * Events of one order arrive through different topics, in any order between them: each event sets
 * only its own columns, so the rows converge whatever the interleaving.
 */
import { defineProjection } from '../../src/index.ts';
import type { ShopEvent } from './domain.ts';

export const orderSummary = defineProjection<ShopEvent>({
  name: 'order_summary',
  from: { aggregates: ['order', 'payment', 'shipment', 'notification'] },
  key: (e) => e.data.customer,
  tables: ['customers', 'orders'],
  migrate: async (db) => {
    await db.exec(`CREATE TABLE ${db.table('customers')} (customer TEXT PRIMARY KEY, orders INTEGER NOT NULL, spent INTEGER NOT NULL)`);
    await db.exec(`CREATE TABLE ${db.table('orders')} (order_id TEXT PRIMARY KEY, customer TEXT NOT NULL, total INTEGER, paid INTEGER NOT NULL DEFAULT 0, carrier TEXT, notified INTEGER NOT NULL DEFAULT 0)`);
    await db.exec(`CREATE INDEX ${db.table('orders')}_by_customer ON ${db.table('orders')} (customer)`);
  },
  handle: async (e, db) => {
    const orders = db.table('orders');
    const insert = `INSERT INTO ${orders} (order_id, customer) VALUES (?, ?) ON CONFLICT (order_id) DO NOTHING`;
    switch (e.type) {
      case 'OrderPlaced':
        await db.exec(`INSERT INTO ${db.table('customers')} (customer, orders, spent) VALUES (?, 1, ?) ON CONFLICT (customer) DO UPDATE SET orders = ${db.table('customers')}.orders + 1, spent = ${db.table('customers')}.spent + excluded.spent`, [e.data.customer, e.data.total ?? 0]);
        await db.exec(insert, [e.data.orderId, e.data.customer]);
        await db.exec(`UPDATE ${orders} SET total = ? WHERE order_id = ?`, [e.data.total ?? 0, e.data.orderId]);
        break;
      case 'PaymentCaptured':
        await db.exec(insert, [e.data.orderId, e.data.customer]);
        await db.exec(`UPDATE ${orders} SET paid = 1 WHERE order_id = ?`, [e.data.orderId]);
        break;
      case 'ShipmentScheduled':
        await db.exec(insert, [e.data.orderId, e.data.customer]);
        await db.exec(`UPDATE ${orders} SET carrier = ? WHERE order_id = ?`, [e.data.carrier ?? null, e.data.orderId]);
        break;
      case 'NotificationSent':
        await db.exec(insert, [e.data.orderId, e.data.customer]);
        await db.exec(`UPDATE ${orders} SET notified = 1 WHERE order_id = ?`, [e.data.orderId]);
        break;
    }
  },
});

/** A shipping-board card. */
export interface Card {
  readonly orderId: string;
  readonly customer: string;
  readonly amount: number | null;
  readonly carrier: string | null;
}

export const shippingBoard = defineProjection<Card, ShopEvent>({
  name: 'shipping_board',
  from: { aggregates: ['payment', 'shipment'] },
  key: (e) => e.data.orderId,
  idempotent: true,
  initial: () => ({ orderId: '', customer: '', amount: null, carrier: null }),
  evolve: (card, e) => ({
    ...card,
    orderId: e.data.orderId,
    customer: e.data.customer,
    ...(e.type === 'PaymentCaptured' ? { amount: e.data.amount ?? null } : {}),
    ...(e.type === 'ShipmentScheduled' ? { carrier: e.data.carrier ?? null } : {}),
  }),
});
