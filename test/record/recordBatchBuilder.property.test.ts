import { describe, expect, it } from 'vitest';
import { test, fc } from '@fast-check/vitest';
import { assertBatchValid, decodeRecordBatch, encodeRecordBatch } from '../../src/record/recordBatch.ts';
import { RecordBatchBuilder } from '../../src/record/recordBatchBuilder.ts';
import { COMPRESSION_CODECS } from '../../src/record/compression.ts';
import type { CompressionCodec } from '../../src/record/compression.ts';
import { InvalidArgumentError } from '../../src/errors.ts';

const encoder = new TextEncoder();
const bytesOrNull = fc.option(fc.uint8Array({ maxLength: 300 }), { nil: null, freq: 4 });
const timestamp = fc.oneof({ weight: 1, arbitrary: fc.constant(-1) }, { weight: 9, arbitrary: fc.integer({ min: 0, max: 2 ** 45 }) });
const header = fc.record({ key: fc.string({ unit: 'binary', maxLength: 12 }), value: bytesOrNull });
const recordArb = fc.record({ timestamp, key: bytesOrNull, value: bytesOrNull, headers: fc.array(header, { maxLength: 3 }) });

describe('RecordBatchBuilder', () => {
  test.prop([
    fc.array(recordArb, { minLength: 1, maxLength: 40 }),
    fc.constantFrom<CompressionCodec>(...COMPRESSION_CODECS),
    fc.bigInt({ min: -1n, max: 2n ** 63n - 1n }),
    fc.integer({ min: -1, max: 32767 }),
    fc.integer({ min: -1, max: 2 ** 31 - 1 }),
    fc.boolean(),
    fc.integer({ min: 64, max: 2048 }),
  ])('builds exactly the bytes encodeRecordBatch encodes (which are Kafka\'s)', (records, compression, producerId, producerEpoch, baseSequence, isTransactional, capacity) => {
    const builder = new RecordBatchBuilder(capacity);
    let total = 61;
    for (const r of records) total += builder.append(r.timestamp, r.key, r.value, r.headers.map((h) => ({ key: encoder.encode(h.key), value: h.value })));
    expect(builder.recordCount).toBe(records.length);
    expect(builder.sizeInBytes).toBe(total);
    const built = builder.build({ compression, producerId, producerEpoch, baseSequence, isTransactional });
    const expected = encodeRecordBatch({ compression, producerId, producerEpoch, baseSequence, isTransactional, records: records.map((r) => ({ timestamp: r.timestamp, key: r.key, value: r.value, headers: r.headers })) });
    expect(Buffer.from(built).equals(Buffer.from(expected))).toBe(true);
    assertBatchValid(built);
    expect(decodeRecordBatch(built).records.map((r) => r.value)).toEqual(records.map((r) => r.value));
  });

  it('copies what it is given: the caller may reuse its key and value buffers', () => {
    const builder = new RecordBatchBuilder(128);
    const key = Uint8Array.of(1, 2, 3);
    builder.append(10, key, key);
    key[0] = 9;
    expect(decodeRecordBatch(builder.build()).records[0]?.key).toEqual(Uint8Array.of(1, 2, 3));
  });

  it('refuses to build an empty batch', () => {
    expect(() => new RecordBatchBuilder(100).build()).toThrow(InvalidArgumentError);
  });
});
