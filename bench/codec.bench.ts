/**
 * Message codec candidates on realistic messages: msgpackr (what src/transport/codec.ts uses)
 * against `node:v8` serialize/deserialize, both with the same plain-data checks and the same
 * ownership rule (a decoded message shares no memory with its bytes), so only the encoding
 * differs; the raw rows, without checks or copies, show what the rules cost.
 *
 *   npm run bench:codec          (BENCH_ROUNDS, BENCH_CODEC_SECONDS to change the rounds)
 */
import { deserialize, serialize } from 'node:v8';
import { Packr } from 'msgpackr';
import { assertPlainMessage, messageCodec } from '../src/transport/codec.ts';
import type { MessageCodec } from '../src/transport/codec.ts';
import type { Message } from '../src/protocol/common.ts';
import type { ClusterMetadataImage, FetchResponse, HeartbeatRequest, MetadataResponse, ProduceRequest } from '../src/protocol/index.ts';
import { encodeRecordBatch } from '../src/record/recordBatch.ts';

const MIN_SECONDS = Number(process.env.BENCH_CODEC_SECONDS ?? 0.2);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 9);

/** Record batches of `records` records with 100-byte values and 16-byte keys, as a producer sends them. */
function batch(records: number, seed: number): Uint8Array {
  const value = new Uint8Array(100).map((_, i) => (i * 7 + seed) & 0xff);
  return encodeRecordBatch({
    producerId: 4000n + BigInt(seed),
    producerEpoch: 0,
    baseSequence: seed * records,
    records: Array.from({ length: records }, (_, i) => ({ timestamp: 1_700_000_000_000 + i, key: new TextEncoder().encode(`key-${seed}-${String(i).padStart(8, '0')}`), value })),
  });
}

/** A produce.request carrying ~16 KiB of batches over 4 partitions. */
function produceRequest(): ProduceRequest {
  return { type: 'produce.request', correlationId: 123_456, acks: -1, timeoutMs: 30_000, partitions: [0, 1, 2, 3].map((p) => ({ topic: 'orders', partition: p, records: batch(28, p) })) };
}

/** A fetch.response of 6 partitions, each records run a view into one larger log buffer. */
function fetchResponse(): FetchResponse {
  const segment = new Uint8Array(6 * 16_384 + 512);
  for (let p = 0; p < 6; p++) segment.set(batch(110, p).subarray(0, 16_384), 256 + p * 16_384);
  return {
    type: 'fetch.response',
    correlationId: 77,
    partitions: Array.from({ length: 6 }, (_, p) => ({
      topic: 'orders',
      partition: p,
      highWatermark: 1_000_000n + BigInt(p),
      lastStableOffset: 999_990n + BigInt(p),
      logStartOffset: 0n,
      records: [segment.subarray(256 + p * 16_384, 256 + (p + 1) * 16_384)],
      ...(p % 2 === 0 ? { abortedTransactions: [{ producerId: 4001n, firstOffset: 999_000n }] } : {}),
    })),
  };
}

/** A heartbeat.request: the small message every group member sends every few seconds. */
function heartbeat(): HeartbeatRequest {
  return { type: 'heartbeat.request', correlationId: 9, groupId: 'billing', memberId: 'consumer-1-5f1c0a3e', generationId: 12 };
}

/** A metadata.response for 20 topics of 6 partitions on 3 brokers: many small fields. */
function metadataResponse(): MetadataResponse {
  const topics: Record<string, ClusterMetadataImage['topics'][string]> = {};
  for (let t = 0; t < 20; t++) {
    const name = `topic-${t}`;
    topics[name] = { name, topicId: `0f3c${t}a9e4b1d2c7f8e6a5b4c3d2e1f0a9`, internal: false, config: { 'min.insync.replicas': '2', 'retention.ms': '604800000' }, partitions: Array.from({ length: 6 }, (_, p) => ({ topic: name, partition: p, leader: p % 3, leaderEpoch: 3, partitionEpoch: 7, replicas: [p % 3, (p + 1) % 3, (p + 2) % 3], isr: [p % 3, (p + 1) % 3, (p + 2) % 3] })) };
  }
  const image: ClusterMetadataImage = { version: 812, clusterId: 'samsa-bench', controllerId: 0, nextProducerId: 5000, brokers: [0, 1, 2].map((id) => ({ id, fenced: false, epoch: 10 + id, incarnationId: `broker-${id}-1700000000000-1` })), topics };
  return { type: 'metadata.response', correlationId: 3, image, topicErrors: {} };
}

/** V8's serialization under the same rules as the samsa codec. */
const v8Codec: MessageCodec = {
  encode(message) {
    assertPlainMessage(message);
    return serialize(message);
  },
  decode(bytes) {
    // Decoded Uint8Arrays are views into the buffer read from: a private copy keeps them owned.
    const value = deserialize(new Uint8Array(bytes)) as Message;
    assertPlainMessage(value);
    return value;
  },
};

const rawPackr = new Packr({ useRecords: false, int64AsType: 'bigint', useBigIntExtension: true });

/**
 * Operations per second of each body, measured in interleaved rounds (every candidate once per
 * round, in rotating order) so that load from other processes hits them alike; the median round.
 */
function opsPerSecond(bodies: ReadonlyArray<() => void>): number[] {
  for (const body of bodies) for (let i = 0; i < 200; i++) body();
  const rates: number[][] = bodies.map(() => []);
  for (let round = 0; round < ROUNDS; round++) {
    for (let k = 0; k < bodies.length; k++) {
      const index = (k + round) % bodies.length;
      const body = bodies[index] as () => void;
      let n = 0;
      const start = process.hrtime.bigint();
      let seconds = 0;
      while (seconds < MIN_SECONDS) {
        for (let i = 0; i < 20; i++) body();
        n += 20;
        seconds = Number(process.hrtime.bigint() - start) / 1e9;
      }
      (rates[index] as number[]).push(n / seconds);
    }
  }
  return rates.map((r) => [...r].sort((a, b) => a - b)[Math.floor(r.length / 2)] as number);
}

const messages: Array<[string, Message]> = [
  ['produce.request, 4 × ~4 KiB batches', produceRequest() as unknown as Message],
  ['fetch.response, 6 partitions × 16 KiB views', fetchResponse() as unknown as Message],
  ['heartbeat.request', heartbeat() as unknown as Message],
  ['metadata.response, 20 topics × 6 partitions', metadataResponse() as unknown as Message],
];

const codecs: Array<[string, MessageCodec]> = [
  ['msgpackr (samsa codec)', messageCodec],
  ['v8, same rules', v8Codec],
  ['msgpackr raw', { encode: (m) => rawPackr.pack(m), decode: (b) => rawPackr.unpack(b) as Message }],
  ['v8 raw', { encode: (m) => serialize(m), decode: (b) => deserialize(b) as Message }],
];

console.log(`\nmessage codec, ops/s (median of ${ROUNDS} interleaved rounds of ≥ ${MIN_SECONDS} s per candidate), node ${process.version}`);
const header = ['message', 'codec', 'bytes', 'encode/s', 'decode/s', 'round trip/s'];
const rows: string[][] = [];
const format = (n: number): string => Math.round(n).toLocaleString('en-US');
for (const [name, message] of messages) {
  const encoded = codecs.map(([, codec]) => codec.encode(message));
  const encodes = opsPerSecond(codecs.map(([, codec]) => () => codec.encode(message)));
  const decodes = opsPerSecond(codecs.map(([, codec], i) => () => codec.decode(encoded[i] as Uint8Array)));
  const trips = opsPerSecond(codecs.map(([, codec]) => () => codec.decode(codec.encode(message))));
  codecs.forEach(([codecName], i) => rows.push([name, codecName, String((encoded[i] as Uint8Array).byteLength), format(encodes[i] as number), format(decodes[i] as number), format(trips[i] as number)]));
}
const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] as string).length)));
const line = (cells: readonly string[]): string => cells.map((c, i) => (i < 2 ? c.padEnd(widths[i] as number) : c.padStart(widths[i] as number))).join('  ');
console.log(line(header));
console.log(widths.map((w) => '-'.repeat(w)).join('  '));
for (const r of rows) console.log(line(r));
