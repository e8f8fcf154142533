/**
 * External truth: record batches must be byte-compatible with KafkaJS 2.2.4's own v0 RecordBatch
 * encoder/decoder (node_modules/kafkajs/src/protocol/recordBatch/**), both live and through golden
 * fixtures written by scripts/generateRecordBatchFixtures.ts.
 */
import { readFileSync, readdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, it, expect } from 'vitest';
import { test, fc } from '@fast-check/vitest';
import { decodeRecordBatch, encodeRecordBatch, readBatchHeader } from '../../src/record/recordBatch.ts';
import type { DecodedRecordBatch, RecordBatchInput, RecordHeader } from '../../src/record/recordBatch.ts';
import type { RecordBatchFixture } from '../../scripts/generateRecordBatchFixtures.ts';

const require = createRequire(import.meta.url);

interface KafkaJsLong {
  toString(): string;
}
interface KafkaJsEncoder {
  buffer: Buffer;
}
type KafkaJsHeaders = Record<string, Buffer | Buffer[]>;
interface KafkaJsDecodedBatch {
  firstOffset: string;
  firstTimestamp: string;
  maxTimestamp: string;
  partitionLeaderEpoch: number;
  inTransaction: boolean;
  isControlBatch: boolean;
  lastOffsetDelta: number;
  producerId: string;
  producerEpoch: number;
  firstSequence: number;
  timestampType: number;
  records: Array<{ offset: string; timestamp: string; key: Buffer | null; value: Buffer | null; headers: KafkaJsHeaders }>;
}

const { RecordBatch } = require('kafkajs/src/protocol/recordBatch/v0/index.js') as {
  RecordBatch: (input: {
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
  }) => Promise<KafkaJsEncoder>;
};
const KafkaJsRecord = require('kafkajs/src/protocol/recordBatch/record/v0/index.js') as (input: {
  offsetDelta: number;
  timestampDelta: number;
  key: Buffer | null;
  value: Buffer | null;
  headers?: KafkaJsHeaders;
}) => KafkaJsEncoder;
const decodeKafkaJsBatch = require('kafkajs/src/protocol/recordBatch/v0/decoder.js') as (decoder: unknown) => Promise<KafkaJsDecodedBatch>;
const Decoder = require('kafkajs/src/protocol/decoder.js') as new (buffer: Buffer) => unknown;
const Long = require('kafkajs/src/utils/long.js') as { fromValue(v: string | number): KafkaJsLong };
const { Types } = require('kafkajs/src/protocol/message/compression/index.js') as { Types: { None: number; GZIP: number } };

/** A batch in KafkaJS's vocabulary: headers are objects whose array values repeat the key. */
interface CrossCase {
  compression: 'none' | 'gzip';
  baseOffset: bigint;
  partitionLeaderEpoch: number;
  producerId: bigint;
  producerEpoch: number;
  baseSequence: number;
  isTransactional: boolean;
  records: Array<{ timestamp: number; key: Buffer | null; value: Buffer | null; headers?: KafkaJsHeaders }>;
}

/** KafkaJS's header flattening (record/v0/index.js): object keys in order, arrays one header each. */
function flattenHeaders(headers: KafkaJsHeaders | undefined): RecordHeader[] {
  if (headers === undefined) return [];
  return Object.keys(headers).flatMap((key) => {
    const value = headers[key]!;
    return Array.isArray(value) ? value.map((v) => ({ key, value: v })) : [{ key, value }];
  });
}

/** KafkaJS's header grouping on decode (record/v0/decoder.js). */
function groupHeaders(headers: RecordHeader[]): Record<string, Buffer | null | Array<Buffer | null>> {
  const out: Record<string, Buffer | null | Array<Buffer | null>> = {};
  for (const { key, value } of headers) {
    const v = value === null ? null : Buffer.from(value);
    const existing = out[key];
    out[key] = existing === undefined ? v : Array.isArray(existing) ? [...existing, v] : [existing, v];
  }
  return out;
}

async function kafkaJsEncode(c: CrossCase): Promise<Uint8Array> {
  const firstTimestamp = c.records[0]!.timestamp;
  const batch = await RecordBatch({
    compression: c.compression === 'gzip' ? Types.GZIP : Types.None,
    firstOffset: Long.fromValue(c.baseOffset.toString()),
    firstTimestamp,
    maxTimestamp: Math.max(...c.records.map((r) => r.timestamp)),
    partitionLeaderEpoch: c.partitionLeaderEpoch,
    lastOffsetDelta: c.records.length - 1,
    transactional: c.isTransactional,
    producerId: Long.fromValue(c.producerId.toString()),
    producerEpoch: c.producerEpoch,
    firstSequence: c.baseSequence,
    records: c.records.map((r, i) =>
      KafkaJsRecord({ offsetDelta: i, timestampDelta: r.timestamp - firstTimestamp, key: r.key, value: r.value, ...(r.headers === undefined ? {} : { headers: r.headers }) }),
    ),
  });
  return new Uint8Array(batch.buffer);
}

function samsaInput(c: CrossCase): RecordBatchInput {
  return {
    compression: c.compression,
    baseOffset: c.baseOffset,
    partitionLeaderEpoch: c.partitionLeaderEpoch,
    producerId: c.producerId,
    producerEpoch: c.producerEpoch,
    baseSequence: c.baseSequence,
    isTransactional: c.isTransactional,
    records: c.records.map((r) => ({ timestamp: r.timestamp, key: r.key, value: r.value, headers: flattenHeaders(r.headers) })),
  };
}

async function kafkaJsDecode(bytes: Uint8Array): Promise<KafkaJsDecodedBatch> {
  return decodeKafkaJsBatch(new Decoder(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength)));
}

/** Asserts that what samsa decoded is exactly what the case holds. */
function expectSamsaDecoded(decoded: DecodedRecordBatch, c: CrossCase): void {
  const { header, records } = decoded;
  expect(header.baseOffset).toBe(c.baseOffset);
  expect(header.partitionLeaderEpoch).toBe(c.partitionLeaderEpoch);
  expect(header.producerId).toBe(c.producerId);
  expect(header.producerEpoch).toBe(c.producerEpoch);
  expect(header.baseSequence).toBe(c.baseSequence);
  expect((header.attributes & 0x10) !== 0).toBe(c.isTransactional);
  expect(header.attributes & 0x07).toBe(c.compression === 'gzip' ? 1 : 0);
  expect(header.baseTimestamp).toBe(c.records[0]!.timestamp);
  expect(header.maxTimestamp).toBe(Math.max(...c.records.map((r) => r.timestamp)));
  expect(header.lastOffsetDelta).toBe(c.records.length - 1);
  expect(records.map((r) => ({ ...r, key: r.key && Buffer.from(r.key), value: r.value && Buffer.from(r.value), headers: r.headers.map((h) => ({ key: h.key, value: h.value && Buffer.from(h.value) })) }))).toEqual(
    c.records.map((r, i) => ({
      offset: c.baseOffset + BigInt(i),
      offsetDelta: i,
      timestamp: r.timestamp,
      key: r.key,
      value: r.value,
      headers: flattenHeaders(r.headers),
    })),
  );
}

/** Asserts that what KafkaJS decoded is exactly what the case holds. */
function expectKafkaJsDecoded(decoded: KafkaJsDecodedBatch, c: CrossCase): void {
  expect(decoded).toMatchObject({
    firstOffset: c.baseOffset.toString(),
    firstTimestamp: String(c.records[0]!.timestamp),
    maxTimestamp: String(Math.max(...c.records.map((r) => r.timestamp))),
    partitionLeaderEpoch: c.partitionLeaderEpoch,
    inTransaction: c.isTransactional,
    isControlBatch: false,
    lastOffsetDelta: c.records.length - 1,
    producerId: c.producerId.toString(),
    producerEpoch: c.producerEpoch,
    firstSequence: c.baseSequence,
  });
  expect(decoded.records.map((r) => ({ offset: r.offset, timestamp: r.timestamp, key: r.key, value: r.value, headers: r.headers }))).toEqual(
    c.records.map((r, i) => ({
      offset: (c.baseOffset + BigInt(i)).toString(),
      timestamp: String(r.timestamp),
      key: r.key,
      value: r.value,
      headers: groupHeaders(flattenHeaders(r.headers)),
    })),
  );
}

/* ------------------------------------------------------------------------------------------ */
/* Golden fixtures                                                                             */

const fixtureDir = join(dirname(fileURLToPath(import.meta.url)), '..', 'fixtures', 'recordBatch');
const fixtureNames = readdirSync(fixtureDir)
  .filter((f) => f.endsWith('.json'))
  .map((f) => f.slice(0, -'.json'.length))
  .sort();

function fromBase64(s: string | null): Buffer | null {
  return s === null ? null : Buffer.from(s, 'base64');
}

function loadFixture(name: string): { bytes: Uint8Array; fixture: RecordBatchFixture; c: CrossCase } {
  const fixture = JSON.parse(readFileSync(join(fixtureDir, `${name}.json`), 'utf8')) as RecordBatchFixture;
  const bytes = new Uint8Array(readFileSync(join(fixtureDir, `${name}.bin`)));
  const c: CrossCase = {
    compression: fixture.compression,
    baseOffset: BigInt(fixture.baseOffset),
    partitionLeaderEpoch: fixture.partitionLeaderEpoch,
    producerId: BigInt(fixture.producerId),
    producerEpoch: fixture.producerEpoch,
    baseSequence: fixture.baseSequence,
    isTransactional: fixture.isTransactional,
    records: fixture.records.map((r) => {
      // Fixture headers are already flat; rebuild KafkaJS's object form (repeated keys become arrays).
      const headers: KafkaJsHeaders = {};
      for (const h of r.headers) {
        const v = fromBase64(h.value)!;
        const existing = headers[h.key];
        headers[h.key] = existing === undefined ? v : Array.isArray(existing) ? [...existing, v] : [existing, v];
      }
      return { timestamp: r.timestamp, key: fromBase64(r.key), value: fromBase64(r.value), ...(r.headers.length > 0 ? { headers } : {}) };
    }),
  };
  return { bytes, fixture, c };
}

describe('golden fixtures written by KafkaJS', () => {
  it('exist', () => {
    expect(fixtureNames).toEqual(expect.arrayContaining(['gzip', 'headers', 'many', 'null-key', 'plain', 'tombstone', 'transactional']));
  });

  for (const name of fixtureNames) {
    describe(name, () => {
      const { bytes, fixture, c } = loadFixture(name);

      it('decodes in samsa to the described records', () => {
        const decoded = decodeRecordBatch(bytes);
        expectSamsaDecoded(decoded, c);
        expect(readBatchHeader(bytes)).toMatchObject({ baseTimestamp: fixture.baseTimestamp, maxTimestamp: fixture.maxTimestamp, lastOffsetDelta: fixture.lastOffsetDelta, batchLength: bytes.length - 12 });
        expect(decoded.records.map((r) => r.headers.map((h) => [h.key, h.value && Buffer.from(h.value).toString('base64')]))).toEqual(fixture.records.map((r) => r.headers.map((h) => [h.key, h.value])));
      });

      if (fixture.compression === 'none') {
        it('re-encodes in samsa to identical bytes', () => {
          expect(Buffer.from(encodeRecordBatch(samsaInput(c))).equals(Buffer.from(bytes))).toBe(true);
        });

        it('is still what KafkaJS writes today', async () => {
          expect(Buffer.from(await kafkaJsEncode(c)).equals(Buffer.from(bytes))).toBe(true);
        });
      } else {
        it('re-encodes in samsa to a batch KafkaJS and samsa decode to the same records', async () => {
          const again = encodeRecordBatch(samsaInput(c));
          expectSamsaDecoded(decodeRecordBatch(again), c);
          expectKafkaJsDecoded(await kafkaJsDecode(again), c);
        });
      }
    });
  }
});

/* ------------------------------------------------------------------------------------------ */
/* Live cross-checks against KafkaJS                                                           */

const headerKey = fc.constantFrom('a', 'trace-id', 'b', 'ключ', '🔑', '');
const bufferArb = fc.uint8Array({ maxLength: 40 }).map((u) => Buffer.from(u));
const headersArb = fc.array(fc.tuple(headerKey, bufferArb), { maxLength: 4 }).map((pairs) => {
  const headers: KafkaJsHeaders = {};
  for (const [key, value] of pairs) {
    const existing = headers[key];
    headers[key] = existing === undefined ? value : Array.isArray(existing) ? [...existing, value] : [existing, value];
  }
  return headers;
});
const crossCaseArb = (compression: 'none' | 'gzip'): fc.Arbitrary<CrossCase> =>
  fc.record({
    compression: fc.constant(compression),
    baseOffset: fc.bigInt({ min: 0n, max: 2n ** 62n }),
    partitionLeaderEpoch: fc.integer({ min: -1, max: 2 ** 31 - 1 }),
    producerId: fc.bigInt({ min: -1n, max: 2n ** 63n - 1n }),
    producerEpoch: fc.integer({ min: -1, max: 32767 }),
    baseSequence: fc.integer({ min: -1, max: 2 ** 31 - 1 }),
    isTransactional: fc.boolean(),
    records: fc.array(
      fc.record({
        timestamp: fc.integer({ min: 0, max: 2 ** 44 }),
        key: fc.option(bufferArb, { nil: null }),
        value: fc.option(bufferArb, { nil: null }),
        headers: fc.option(headersArb, { nil: undefined }),
      }),
      { minLength: 1, maxLength: 20 },
    ),
  }).map((c) => ({ ...c, records: c.records.map((r) => (r.headers === undefined ? { timestamp: r.timestamp, key: r.key, value: r.value } : r)) }));

describe('live against KafkaJS', () => {
  test.prop([crossCaseArb('none')], { numRuns: 150 })('uncompressed: samsa writes exactly the bytes KafkaJS writes', async (c) => {
    const theirs = await kafkaJsEncode(c);
    const ours = encodeRecordBatch(samsaInput(c));
    expect(Buffer.from(ours).toString('hex')).toBe(Buffer.from(theirs).toString('hex'));
    expectSamsaDecoded(decodeRecordBatch(theirs), c);
    expectKafkaJsDecoded(await kafkaJsDecode(ours), c);
  });

  test.prop([crossCaseArb('gzip')], { numRuns: 60 })('gzip: each side decodes the other, and both write the same bytes', async (c) => {
    const theirs = await kafkaJsEncode(c);
    const ours = encodeRecordBatch(samsaInput(c));
    expectSamsaDecoded(decodeRecordBatch(theirs), c);
    expectKafkaJsDecoded(await kafkaJsDecode(ours), c);
    // Same node:zlib, same defaults: the compressed payloads coincide too.
    expect(Buffer.from(ours).equals(Buffer.from(theirs))).toBe(true);
  });
});
