import { createCluster } from '../src/actors/cluster.ts';
import { SystemClock } from '../src/clock.ts';
const RECORDS = 300_000;
const VALUE = new Uint8Array(100);
const cluster = await createCluster({ brokers: 3, clock: new SystemClock(), seed: 9 });
const topic = process.argv[2] ?? 'rf3';
await cluster.admin().createTopic(topic, { partitions: 6, replicationFactor: topic === 'rf1' ? 1 : 3, config: { 'min.insync.replicas': 2 } });
const producer = cluster.producer({ acks: topic === 'rf3all' ? 'all' : 1 });
const chunks: any[] = [];
for (let i = 0; i < RECORDS; i += 1000) chunks.push(Array.from({ length: 1000 }, (_, j) => { const key = new Uint8Array(16); new DataView(key.buffer).setUint32(0, i + j); return { key, value: VALUE }; }));
for (let round = 0; round < 2; round++) {
  const t = process.hrtime.bigint();
  let next = 0;
  await Promise.all(Array.from({ length: 64 }, async () => { while (next < chunks.length) await producer.send(topic, chunks[next++]); }));
  console.log(topic, Math.round(RECORDS / (Number(process.hrtime.bigint() - t) / 1e9)), 'rec/s');
}
await cluster.stop();
