import { createCluster } from '../src/actors/cluster.ts';
import { SystemClock } from '../src/clock.ts';
const RECORDS = Number(process.env.N ?? 1_000_000);
const VALUE = new Uint8Array(100).map((_, i) => (i * 7) & 0xff);
const ks = Array.from({ length: RECORDS }, (_, i) => { const k = new Uint8Array(16); new DataView(k.buffer).setUint32(0, i); return k; });
const chunks: Array<Array<{ key: Uint8Array; value: Uint8Array }>> = [];
for (let i = 0; i < RECORDS; i += 1000) chunks.push(ks.slice(i, i + 1000).map((key) => ({ key, value: VALUE })));
const cluster = await createCluster({ brokers: 3, clock: new SystemClock(), seed: 7 });
await cluster.admin().createTopic('bench', { partitions: 6 });
const producer = cluster.producer({ acks: 1 });
for (let round = 0; round < Number(process.env.ROUNDS ?? 2); round++) {
  const t = process.hrtime.bigint();
  let next = 0;
  await Promise.all(Array.from({ length: 64 }, async () => { while (next < chunks.length) await producer.send('bench', chunks[next++]!); }));
  const s = Number(process.hrtime.bigint() - t) / 1e9;
  console.log(`produce round ${round}: ${(RECORDS / s).toFixed(0)} rec/s`);
}
if (process.env.CONSUME) {
  const consumer = cluster.consumer({ autoOffsetReset: 'earliest', enableAutoCommit: false, maxPollRecords: 10_000 });
  consumer.assign(Array.from({ length: 6 }, (_, partition) => ({ topic: 'bench', partition })));
  const t = process.hrtime.bigint();
  let consumed = 0;
  while (consumed < RECORDS) consumed += (await consumer.poll({ timeoutMs: 1000 })).length;
  const s = Number(process.hrtime.bigint() - t) / 1e9;
  console.log(`consume: ${(RECORDS / s).toFixed(0)} rec/s`);
}
await cluster.stop();
