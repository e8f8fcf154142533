/**
 * Writes golden record batch fixtures produced by KafkaJS (an independent implementation), so the
 * samsa codec is checked against bytes it did not write itself:
 *
 *   test/fixtures/recordBatch/<case>.bin   the batch exactly as KafkaJS 2.2.4 encodes it
 *   test/fixtures/recordBatch/<case>.json  what the batch holds (bytes as base64, null kept)
 *
 * Run: npx tsx scripts/generateRecordBatchFixtures.ts. Uses KafkaJS only, never samsa code.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const require = createRequire(import.meta.url);

interface KafkaJsLong {
  toString(): string;
}
interface KafkaJsEncoder {
  buffer: Buffer;
}
type KafkaJsHeaders = Record<string, Buffer | Buffer[]>;
interface KafkaJsRecordInput {
  offsetDelta: number;
  timestampDelta: number;
  key: Buffer | null;
  value: Buffer | null;
  headers?: KafkaJsHeaders;
}
interface KafkaJsBatchInput {
  compression: number;
  firstOffset: KafkaJsLong;
  firstTimestamp: number;
  maxTimestamp: number;
  partitionLeaderEpoch: number;
  lastOffsetDelta: number;
  transactional: boolean;
  producerId: KafkaJsLong;
  producerEpoch: number;
  firstSequence: number;
  records: KafkaJsEncoder[];
}

const { RecordBatch } = require('kafkajs/src/protocol/recordBatch/v0/index.js') as { RecordBatch: (input: KafkaJsBatchInput) => Promise<KafkaJsEncoder> };
const Record = require('kafkajs/src/protocol/recordBatch/record/v0/index.js') as (input: KafkaJsRecordInput) => KafkaJsEncoder;
const Long = require('kafkajs/src/utils/long.js') as { fromValue(v: string | number): KafkaJsLong };
const { Types } = require('kafkajs/src/protocol/message/compression/index.js') as { Types: { None: number; GZIP: number } };
const kafkajsVersion = (require('kafkajs/package.json') as { version: string }).version;

/** One fixture: the batch fields and its records, in KafkaJS's input vocabulary. */
interface FixtureCase {
  name: string;
  description: string;
  compression: 'none' | 'gzip';
  baseOffset: bigint;
  partitionLeaderEpoch: number;
  producerId: bigint;
  producerEpoch: number;
  baseSequence: number;
  isTransactional: boolean;
  records: Array<{ timestamp: number; key: Buffer | null; value: Buffer | null; headers?: KafkaJsHeaders }>;
}

/** The JSON description written next to each .bin. */
export interface RecordBatchFixture {
  description: string;
  generator: string;
  compression: 'none' | 'gzip';
  baseOffset: string;
  partitionLeaderEpoch: number;
  producerId: string;
  producerEpoch: number;
  baseSequence: number;
  isTransactional: boolean;
  baseTimestamp: number;
  maxTimestamp: number;
  lastOffsetDelta: number;
  records: Array<{ offsetDelta: number; timestamp: number; key: string | null; value: string | null; headers: Array<{ key: string; value: string | null }> }>;
}

const T0 = 1_700_000_000_000;
const text = (s: string): Buffer => Buffer.from(s, 'utf8');
// KafkaJS's own producer defaults for a non-idempotent producer: producerId -1, epoch 0, sequence 0, leader epoch 0.
const kafkajsDefaults = { baseOffset: 0n, partitionLeaderEpoch: 0, producerId: -1n, producerEpoch: 0, baseSequence: 0, isTransactional: false };

const cases: FixtureCase[] = [
  {
    name: 'plain',
    description: 'three keyed records with increasing timestamps, KafkaJS producer defaults',
    compression: 'none',
    ...kafkajsDefaults,
    records: [
      { timestamp: T0, key: text('key-0'), value: text('value-0') },
      { timestamp: T0 + 1, key: text('key-1'), value: text('value-1') },
      { timestamp: T0 + 250, key: text('key-2'), value: text('value-2') },
    ],
  },
  {
    name: 'null-key',
    description: 'records without keys',
    compression: 'none',
    ...kafkajsDefaults,
    records: [
      { timestamp: T0, key: null, value: text('first') },
      { timestamp: T0, key: null, value: text('second') },
    ],
  },
  {
    name: 'tombstone',
    description: 'a value followed by its tombstone (null value) and an empty value',
    compression: 'none',
    ...kafkajsDefaults,
    records: [
      { timestamp: T0, key: text('user-1'), value: text('{"name":"ada"}') },
      { timestamp: T0 + 10, key: text('user-1'), value: null },
      { timestamp: T0 + 20, key: text('user-2'), value: Buffer.alloc(0) },
    ],
  },
  {
    name: 'headers',
    description: 'headers: single, repeated key (array), empty value, non-ASCII key and value',
    compression: 'none',
    ...kafkajsDefaults,
    records: [
      { timestamp: T0, key: text('k'), value: text('v'), headers: { 'trace-id': text('abc-123'), retry: [text('1'), text('2')], empty: Buffer.alloc(0) } },
      { timestamp: T0 + 1, key: text('k2'), value: text('v2'), headers: { 'ключ-🔑': text('значение ✓') } },
      { timestamp: T0 + 2, key: text('k3'), value: text('v3') },
    ],
  },
  {
    name: 'transactional',
    description: 'a transactional batch with producer fields, a non-zero base offset and leader epoch',
    compression: 'none',
    baseOffset: 1000n,
    partitionLeaderEpoch: 5,
    producerId: 4242n,
    producerEpoch: 7,
    baseSequence: 100,
    isTransactional: true,
    records: [
      { timestamp: T0, key: text('order-1'), value: text('created') },
      { timestamp: T0 + 3, key: text('order-1'), value: text('paid') },
    ],
  },
  {
    name: 'many',
    description: '80 records of 100 bytes: multi-byte varints for lengths, offset and timestamp deltas',
    compression: 'none',
    ...kafkajsDefaults,
    producerId: 9_007_199_254_740_993n,
    records: Array.from({ length: 80 }, (_, i) => ({ timestamp: T0 + i * 1000, key: text(`key-${i}`), value: Buffer.alloc(100, i) })),
  },
  {
    name: 'gzip',
    description: 'a gzip-compressed batch (the only codec KafkaJS ships)',
    compression: 'gzip',
    ...kafkajsDefaults,
    records: Array.from({ length: 20 }, (_, i) => ({ timestamp: T0 + i, key: text(`key-${i}`), value: text(`value-${i} `.repeat(10)), ...(i % 3 === 0 ? { headers: { h: text(String(i)) } } : {}) })),
  },
];

/** KafkaJS's header flattening: object keys in order, array values one header each. */
function flattenHeaders(headers: KafkaJsHeaders | undefined): Array<{ key: string; value: Buffer }> {
  if (headers === undefined) return [];
  return Object.keys(headers).flatMap((key) => {
    const value = headers[key]!;
    return Array.isArray(value) ? value.map((v) => ({ key, value: v })) : [{ key, value }];
  });
}

const b64 = (b: Buffer | null): string | null => (b === null ? null : b.toString('base64'));

async function encodeWithKafkaJs(c: FixtureCase): Promise<Buffer> {
  // KafkaJS's produce request sorts timestamps to pick first/max; these cases are in order, so
  // firstTimestamp is also the first record's timestamp, as Kafka's MemoryRecordsBuilder picks.
  const firstTimestamp = c.records[0]!.timestamp;
  const maxTimestamp = Math.max(...c.records.map((r) => r.timestamp));
  const batch = await RecordBatch({
    compression: c.compression === 'gzip' ? Types.GZIP : Types.None,
    firstOffset: Long.fromValue(c.baseOffset.toString()),
    firstTimestamp,
    maxTimestamp,
    partitionLeaderEpoch: c.partitionLeaderEpoch,
    lastOffsetDelta: c.records.length - 1,
    transactional: c.isTransactional,
    producerId: Long.fromValue(c.producerId.toString()),
    producerEpoch: c.producerEpoch,
    firstSequence: c.baseSequence,
    records: c.records.map((r, i) => Record({ offsetDelta: i, timestampDelta: r.timestamp - firstTimestamp, key: r.key, value: r.value, ...(r.headers === undefined ? {} : { headers: r.headers }) })),
  });
  return batch.buffer;
}

function describeCase(c: FixtureCase): RecordBatchFixture {
  return {
    description: c.description,
    generator: `kafkajs ${kafkajsVersion} protocol/recordBatch/v0 encoder`,
    compression: c.compression,
    baseOffset: c.baseOffset.toString(),
    partitionLeaderEpoch: c.partitionLeaderEpoch,
    producerId: c.producerId.toString(),
    producerEpoch: c.producerEpoch,
    baseSequence: c.baseSequence,
    isTransactional: c.isTransactional,
    baseTimestamp: c.records[0]!.timestamp,
    maxTimestamp: Math.max(...c.records.map((r) => r.timestamp)),
    lastOffsetDelta: c.records.length - 1,
    records: c.records.map((r, i) => ({
      offsetDelta: i,
      timestamp: r.timestamp,
      key: b64(r.key),
      value: b64(r.value),
      headers: flattenHeaders(r.headers).map((h) => ({ key: h.key, value: b64(h.value) })),
    })),
  };
}

async function main(): Promise<void> {
  const out = join(dirname(fileURLToPath(import.meta.url)), '..', 'test', 'fixtures', 'recordBatch');
  mkdirSync(out, { recursive: true });
  for (const c of cases) {
    const bytes = await encodeWithKafkaJs(c);
    writeFileSync(join(out, `${c.name}.bin`), bytes);
    writeFileSync(join(out, `${c.name}.json`), `${JSON.stringify(describeCase(c), null, 2)}\n`);
    console.log(`${c.name}: ${bytes.length} bytes`);
  }
}

await main();
