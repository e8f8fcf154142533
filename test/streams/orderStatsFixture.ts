/** The order-statistics topology and its oracle, shared by the streams app tests. */
import { filter as rxFilter } from 'rxjs';
import { StreamsBuilder } from '../../src/streams/builder.ts';
import { count, groupByKey, selectKey, toTopic } from '../../src/streams/operators.ts';
import { int32, json, string } from '../../src/streams/serdes.ts';
import type { TestCluster } from '../../src/testing.ts';

export interface Order {
  readonly customerId: string;
  readonly status: 'PAID' | 'NEW';
}

export function orderStats() {
  const builder = new StreamsBuilder();
  builder
    .stream('orders', { key: string(), value: json<Order>() })
    .pipe(rxFilter((r) => r.value.status === 'PAID'), selectKey((r) => r.value.customerId), groupByKey({ key: string() }), count({ store: 'orders-per-customer' }))
    .toStream()
    .pipe(toTopic('orders-per-customer', { value: int32() }));
  return builder.build();
}

/** Sends `n` orders (customers c-0..c-6, every third one not paid) and returns the oracle: paid orders per customer. */
export async function sendOrders(cluster: TestCluster, from: number, n: number): Promise<void> {
  const producer = cluster.producer();
  const enc = new TextEncoder();
  const records = Array.from({ length: n }, (_, j) => {
    const i = from + j;
    return { key: `o${i}`, value: enc.encode(JSON.stringify({ customerId: `c-${i % 7}`, status: i % 3 === 0 ? 'NEW' : 'PAID' })) };
  });
  await cluster.settle(producer.send('orders', records));
  await cluster.settle(producer.close());
}

export function oracle(n: number): Map<string, number> {
  const counts = new Map<string, number>();
  for (let i = 0; i < n; i++) if (i % 3 !== 0) counts.set(`c-${i % 7}`, (counts.get(`c-${i % 7}`) ?? 0) + 1);
  return counts;
}

/** The latest committed count per customer in the output topic (read_committed), and how many records it holds. */
export async function readOutput(cluster: TestCluster, partitions: number): Promise<{ latest: Map<string, number>; records: number }> {
  const consumer = cluster.consumer({ isolationLevel: 'read_committed', autoOffsetReset: 'earliest', enableAutoCommit: false });
  consumer.assign(Array.from({ length: partitions }, (_, partition) => ({ topic: 'orders-per-customer', partition })));
  const latest = new Map<string, number>();
  let records = 0;
  for (let idle = 0; idle < 5; ) {
    const batch = await cluster.settle(consumer.poll({ timeoutMs: 200 }));
    if (batch.length === 0) idle++;
    for (const r of batch) {
      records++;
      latest.set(new TextDecoder().decode(r.key as Uint8Array), new DataView((r.value as Uint8Array).buffer, (r.value as Uint8Array).byteOffset).getInt32(0));
    }
  }
  await cluster.settle(consumer.close());
  return { latest, records };
}
