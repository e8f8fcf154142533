/**
 * The services of the CQRS example. Each is its own process boundary in code: it gets only the
 * clients, makes its own event store and its own consumer group, and talks to the others only
 * through the log. Payments react to placed orders, shipping to captured payments, notifications
 * to scheduled shipments. Each reaction is appended with an event id derived from the event it
 * answers, so when a crash makes the group deliver an event again, the append is answered with its
 * first result instead of being written twice: at-least-once delivery, exactly-once effects.
 */
import { createEventStore } from '../../src/index.ts';
import type { EventStore, KafkaClients, NewEvent } from '../../src/index.ts';

const dec = new TextDecoder();

/** A running service; `stop` finishes the batch in hand. */
export interface Service {
  readonly name: string;
  /** Events it reacted to. */
  readonly handled: () => number;
  stop(): Promise<void>;
}

interface Incoming { readonly type: string; readonly data: { orderId: string; customer: string; total?: number; carrier?: string } }

/** Runs `react` for each event of `category` in consumer group `name`, committing after each batch. */
function service(clients: KafkaClients, name: string, category: string, react: (event: Incoming, store: EventStore) => Promise<void>): Service {
  const store = createEventStore(clients, { partitions: 3, clientId: name });
  const consumer = clients.consumer({ groupId: name, clientId: name, isolationLevel: 'read_committed', enableAutoCommit: false, autoOffsetReset: 'earliest' });
  let running = true;
  let count = 0;
  const done = (async () => {
    await consumer.subscribe([`${category}.events`], { fromBeginning: true });
    while (running) {
      const records = await consumer.poll({ timeoutMs: 100 });
      for (const r of records) {
        const type = dec.decode(r.headers.find((h) => h.key === 'samsa.event-type')?.value ?? new Uint8Array());
        await react({ type, data: JSON.parse(dec.decode(r.value ?? new Uint8Array())) as Incoming['data'] }, store);
        count++;
      }
      if (records.length > 0) await consumer.commit();
    }
  })();
  return {
    name,
    handled: () => count,
    async stop() {
      running = false;
      await done;
      await consumer.close();
      await store.close();
    },
  };
}

const append = (store: EventStore, streamId: string, event: NewEvent) => store.append(streamId, [event]).then(() => undefined);

/** Captures the payment of every placed order. */
export function paymentsService(clients: KafkaClients): Service {
  return service(clients, 'payments', 'order', async (e, store) => {
    if (e.type !== 'OrderPlaced') return;
    await append(store, `payment-${e.data.orderId}`, { type: 'PaymentCaptured', data: { orderId: e.data.orderId, customer: e.data.customer, amount: e.data.total }, eventId: `payment-of-${e.data.orderId}` });
  });
}

/** Schedules the shipment of every paid order, alternating carriers. */
export function shippingService(clients: KafkaClients): Service {
  return service(clients, 'shipping', 'payment', async (e, store) => {
    if (e.type !== 'PaymentCaptured') return;
    const carrier = Number(e.data.orderId.replace(/\D/g, '')) % 2 === 0 ? 'DHL' : 'UPS';
    await append(store, `shipment-${e.data.orderId}`, { type: 'ShipmentScheduled', data: { orderId: e.data.orderId, customer: e.data.customer, carrier }, eventId: `shipment-of-${e.data.orderId}` });
  });
}

/** Tells the customer about every scheduled shipment (recorded as an event: the outbox). */
export function notificationsService(clients: KafkaClients): Service {
  return service(clients, 'notifications', 'shipment', async (e, store) => {
    if (e.type !== 'ShipmentScheduled') return;
    await append(store, `notification-${e.data.orderId}`, { type: 'NotificationSent', data: { orderId: e.data.orderId, customer: e.data.customer, about: `your order ${e.data.orderId} ships with ${e.data.carrier}` }, eventId: `notice-of-${e.data.orderId}` });
  });
}
