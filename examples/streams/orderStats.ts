/**
 * Order statistics with samsa's streams DSL: paid orders, re-keyed by customer (a repartition),
 * enriched with the customer's name from a KTable through a Processor API lookup, then counted
 * and summed per customer into a queryable store whose updates go to `customer-stats`.
 *
 *   npm run example:streams
 *
 * runs it on an embedded 3-broker cluster under exactly_once_v2 and prints each customer's
 * statistics from the store (an interactive query) and from the output topic.
 */
import { filter as rxFilter } from 'rxjs';
import { aggregate, createCluster, createStreamsApp, groupByKey, json, processValues, repartition, selectKey, string, StreamsBuilder, toTopic } from '../../src/index.ts';
import type { KafkaClients, KeyValueStore, ProcessorContext, StreamRecord, StreamsApp } from '../../src/index.ts';

/** An order as the shop writes it to `orders` (keyed by order id). */
export interface Order {
  readonly orderId: string;
  readonly customerId: string;
  readonly status: 'PAID' | 'NEW' | 'CANCELLED';
  readonly amount: number;
}

/** A customer as `customers` holds it (keyed by customer id; a compacted changelog). */
export interface Customer {
  readonly name: string;
}

/** What `customer-stats` and the `customer-stats` store hold per customer. */
export interface CustomerStats {
  readonly name: string;
  readonly orders: number;
  readonly total: number;
}

/** The topology: see the module comment. */
export function orderStatsTopology() {
  const builder = new StreamsBuilder();
  // The customers table and the re-keyed orders share a sub-topology (and partitions) through the store.
  builder.table('customers', { key: string(), value: json<Customer>(), store: 'customers' });
  builder
    .stream('orders', { key: string(), value: json<Order>() })
    .pipe(
      rxFilter((r) => r.value.status === 'PAID'),
      selectKey((r) => r.value.customerId),
      repartition({ name: 'orders-by-customer', key: string(), value: json<Order>() }),
      processValues((): { init(c: ProcessorContext<string, { order: Order; name: string }>): void; process(r: StreamRecord<string, Order>): void } => {
        let context: ProcessorContext<string, { order: Order; name: string }>;
        return {
          init: (c) => (context = c),
          process: (r) => {
            const customer = context.getStateStore<KeyValueStore<string, Customer>>('customers').get(r.key);
            context.forward({ ...r, value: { order: r.value, name: customer?.name ?? 'unknown customer' } });
          },
        };
      }, { stores: ['customers'] }),
      groupByKey({ key: string(), value: json<{ order: Order; name: string }>() }),
      aggregate((): CustomerStats => ({ name: '', orders: 0, total: 0 }), (_customer, { order, name }, stats) => ({ name, orders: stats.orders + 1, total: stats.total + order.amount }), { store: 'customer-stats', value: json<CustomerStats>() }),
    )
    .toStream()
    .pipe(toTopic('customer-stats', { key: string(), value: json<CustomerStats>() }));
  return builder.build();
}

/** Creates the input and output topics (3 partitions each: `customers` and the re-keyed orders are co-partitioned). */
export async function createTopics(clients: KafkaClients): Promise<void> {
  const admin = clients.admin();
  for (const topic of ['orders', 'customer-stats']) await admin.createTopic(topic, { partitions: 3 });
  await admin.createTopic('customers', { partitions: 3, config: { 'cleanup.policy': 'compact' } });
  await admin.close();
}

/** Starts the app on `clients`. */
export function startOrderStats(clients: KafkaClients, options: { applicationId?: string } = {}): StreamsApp {
  return createStreamsApp(orderStatsTopology(), clients, { applicationId: options.applicationId ?? 'order-stats', processingGuarantee: 'exactly_once_v2' });
}

/** Some customers and orders. */
export function sampleData(count = 60): { customers: Array<[string, Customer]>; orders: Order[] } {
  const customers: Array<[string, Customer]> = [
    ['c-1', { name: 'Ada' }],
    ['c-2', { name: 'Grace' }],
    ['c-3', { name: 'Edsger' }],
    ['c-4', { name: 'Barbara' }],
  ];
  const statuses: Order['status'][] = ['PAID', 'PAID', 'NEW', 'PAID', 'CANCELLED'];
  const orders = Array.from({ length: count }, (_, i) => ({ orderId: `o-${i}`, customerId: `c-${1 + (i % 4)}`, status: statuses[i % statuses.length] as Order['status'], amount: 10 + ((i * 7) % 90) }));
  return { customers, orders };
}

/** What the statistics must be for `orders` (the oracle of the example's test). */
export function expectedStats(data: ReturnType<typeof sampleData>): Map<string, CustomerStats> {
  const names = new Map(data.customers);
  const stats = new Map<string, CustomerStats>();
  for (const o of data.orders) {
    if (o.status !== 'PAID') continue;
    const s = stats.get(o.customerId) ?? { name: '', orders: 0, total: 0 };
    stats.set(o.customerId, { name: names.get(o.customerId)?.name ?? 'unknown customer', orders: s.orders + 1, total: s.total + o.amount });
  }
  return stats;
}

async function main(): Promise<void> {
  const cluster = await createCluster({ brokers: 3 });
  await createTopics(cluster);
  const data = sampleData();
  const producer = cluster.producer();
  await producer.send('customers', data.customers.map(([id, c]) => ({ key: id, value: JSON.stringify(c) })));
  const app = startOrderStats(cluster);
  app.state$.subscribe((s) => console.log(`app state: ${s}`));
  await app.start();
  await producer.send('orders', data.orders.map((o) => ({ key: o.orderId, value: JSON.stringify(o) })));
  const expected = expectedStats(data);
  const store = app.store<string, CustomerStats>('customer-stats');
  while (![...expected].every(([id, s]) => store.get(id)?.total === s.total)) await new Promise((resolve) => setTimeout(resolve, 20));
  console.log('\ncustomer statistics (interactive query of the customer-stats store):');
  for (const { key, value } of store.all()) console.log(`  ${key} ${value.name.padEnd(8)} ${String(value.orders).padStart(3)} paid orders, total ${value.total}`);
  await app.close();
  await producer.close();
  await cluster.stop();
}

if (import.meta.url === `file://${process.argv[1]}`) await main();
