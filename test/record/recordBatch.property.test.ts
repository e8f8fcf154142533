import { describe, expect } from 'vitest';
import { test, fc } from '@fast-check/vitest';
import { assertBatchValid, decodeRecordBatch, encodeRecordBatch, readBatchHeader, stampBatch, ATTRIBUTES_OFFSET } from '../../src/record/recordBatch.ts';
import type { RecordBatchInput, RecordInput } from '../../src/record/recordBatch.ts';
import { COMPRESSION_CODECS } from '../../src/record/compression.ts';
import type { CompressionCodec } from '../../src/record/compression.ts';
import { CorruptRecordError } from '../../src/errors.ts';

const bytesOrNull = fc.option(fc.uint8Array({ maxLength: 64 }), { nil: null, freq: 4 });
const timestamp = fc.oneof({ weight: 1, arbitrary: fc.constant(-1) }, { weight: 9, arbitrary: fc.integer({ min: 0, max: 2 ** 45 }) });
const header = fc.record({ key: fc.string({ unit: 'binary', maxLength: 12 }), value: bytesOrNull });

const recordArb = fc.record({
  gap: fc.nat({ max: 3 }),
  timestamp,
  key: bytesOrNull,
  value: bytesOrNull,
  headers: fc.option(fc.array(header, { maxLength: 4 }), { nil: undefined }),
});

const batchArb = fc
  .record({
    records: fc.array(recordArb, { minLength: 1, maxLength: 25 }),
    compression: fc.constantFrom<CompressionCodec>(...COMPRESSION_CODECS),
    baseOffset: fc.bigInt({ min: 0n, max: 2n ** 62n }),
    partitionLeaderEpoch: fc.integer({ min: -1, max: 2 ** 31 - 1 }),
    producerId: fc.bigInt({ min: -1n, max: 2n ** 63n - 1n }),
    producerEpoch: fc.integer({ min: -1, max: 32767 }),
    baseSequence: fc.integer({ min: -1, max: 2 ** 31 - 1 }),
    isTransactional: fc.boolean(),
    logAppendTime: fc.option(fc.integer({ min: 0, max: 2 ** 45 }), { nil: undefined }),
    extraLastDelta: fc.option(fc.nat({ max: 5 }), { nil: undefined }),
    deleteHorizonMs: fc.option(fc.integer({ min: 0, max: 2 ** 45 }), { nil: undefined }),
  })
  .map((b): RecordBatchInput => {
    let delta = -1;
    const records: RecordInput[] = b.records.map((r) => {
      delta += 1 + r.gap;
      return { offsetDelta: delta, timestamp: r.timestamp, key: r.key, value: r.value, ...(r.headers === undefined ? {} : { headers: r.headers }) };
    });
    return {
      records,
      compression: b.compression,
      baseOffset: b.baseOffset,
      partitionLeaderEpoch: b.partitionLeaderEpoch,
      producerId: b.producerId,
      producerEpoch: b.producerEpoch,
      baseSequence: b.baseSequence,
      isTransactional: b.isTransactional,
      ...(b.logAppendTime === undefined ? {} : { timestampType: 'LogAppendTime' as const, maxTimestamp: b.logAppendTime }),
      ...(b.extraLastDelta === undefined ? {} : { lastOffsetDelta: delta + b.extraLastDelta }),
      ...(b.deleteHorizonMs === undefined ? {} : { deleteHorizonMs: b.deleteHorizonMs }),
    };
  });

describe('record batch properties', () => {
  test.prop([batchArb], { numRuns: 300 })('decode(encode(batch)) returns every record and header field, for every codec', (input) => {
    const bytes = encodeRecordBatch(input);
    const { header, records } = decodeRecordBatch(bytes);
    const logAppend = input.timestampType === 'LogAppendTime';
    expect(header.baseOffset).toBe(input.baseOffset);
    expect(header.batchLength + 12).toBe(bytes.length);
    expect(header.partitionLeaderEpoch).toBe(input.partitionLeaderEpoch);
    expect(header.producerId).toBe(input.producerId);
    expect(header.producerEpoch).toBe(input.producerEpoch);
    expect(header.baseSequence).toBe(input.baseSequence);
    expect(header.recordsCount).toBe(input.records.length);
    expect(header.lastOffsetDelta).toBe(input.lastOffsetDelta ?? input.records[input.records.length - 1]!.offsetDelta);
    expect(header.baseTimestamp).toBe(input.deleteHorizonMs ?? input.records[0]!.timestamp);
    const maxTs = Math.max(...input.records.map((r) => r.timestamp));
    expect(header.maxTimestamp).toBe(logAppend ? input.maxTimestamp : maxTs);
    expect(records).toEqual(
      input.records.map((r) => ({
        offset: input.baseOffset! + BigInt(r.offsetDelta!),
        offsetDelta: r.offsetDelta,
        timestamp: logAppend ? input.maxTimestamp : r.timestamp,
        key: r.key,
        value: r.value,
        headers: r.headers ?? [],
      })),
    );
  });

  test.prop([batchArb, fc.nat(), fc.integer({ min: 1, max: 255 })], { numRuns: 300 })('any single changed byte in [21, end) is detected', (input, at, xor) => {
    const bytes = encodeRecordBatch(input);
    const index = ATTRIBUTES_OFFSET + (at % (bytes.length - ATTRIBUTES_OFFSET));
    bytes[index] = bytes[index]! ^ xor;
    expect(() => assertBatchValid(bytes)).toThrow(CorruptRecordError);
  });

  test.prop([batchArb, fc.bigInt({ min: 0n, max: 2n ** 62n }), fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 })], { numRuns: 200 })(
    'stamping baseOffset and partitionLeaderEpoch leaves the CRC valid and unchanged',
    (input, baseOffset, epoch) => {
      const bytes = encodeRecordBatch(input);
      const crc = readBatchHeader(bytes).crc;
      stampBatch(bytes, 0, baseOffset, epoch);
      const header = assertBatchValid(bytes);
      expect(header.crc).toBe(crc);
      expect(header.baseOffset).toBe(baseOffset);
      expect(header.partitionLeaderEpoch).toBe(epoch);
      // Byte-identical to encoding with those values in the first place.
      expect(bytes).toEqual(encodeRecordBatch({ ...input, baseOffset, partitionLeaderEpoch: epoch }));
    },
  );
});
