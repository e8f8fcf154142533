import { encodeRecordBatch, decodeRecordBatch } from '../src/record/recordBatch.ts';
import { keyPartition } from '../src/clients/producer/partitioners.ts';
const N = 1_000_000;
const VALUE = new Uint8Array(100).map((_, i) => (i * 7) & 0xff);
const ks = Array.from({ length: N }, (_, i) => { const k = new Uint8Array(16); new DataView(k.buffer).setUint32(0, i); return k; });
const recs = ks.map((key) => ({ timestamp: 1700000000000, key, value: VALUE, headers: [] as never[] }));
for (let r = 0; r < 4; r++) {
  let t = process.hrtime.bigint();
  const out = [];
  for (let i = 0; i < N; i += 130) out.push(encodeRecordBatch({ records: recs.slice(i, i + 130) }));
  let s = Number(process.hrtime.bigint() - t) / 1e9;
  console.log(`encode ${(N / s / 1e6).toFixed(2)} M rec/s`);
  t = process.hrtime.bigint();
  let n = 0;
  for (const b of out) n += decodeRecordBatch(b).records.length;
  s = Number(process.hrtime.bigint() - t) / 1e9;
  console.log(`decode ${(N / s / 1e6).toFixed(2)} M rec/s`);
  t = process.hrtime.bigint();
  let x = 0;
  for (let i = 0; i < N; i++) x += keyPartition(ks[i]!, 6);
  s = Number(process.hrtime.bigint() - t) / 1e9;
  console.log(`murmur ${(N / s / 1e6).toFixed(2)} M rec/s`, x > 0);
}
