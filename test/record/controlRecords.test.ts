/**
 * Control records (Kafka's ControlRecordType / EndTransactionMarker): the marker batch byte for byte
 * against a hand-built one, decoding of every case Kafka distinguishes, and KafkaJS's view of the
 * batch (a control batch whose records a consumer never hands out).
 */
import { createRequire } from 'node:module';
import { describe, expect, it } from 'vitest';
import { CorruptRecordError, InvalidArgumentError } from '../../src/errors.ts';
import { controlBatchContent, decodeControlRecord, encodeTransactionMarker, readControlBatch } from '../../src/record/controlRecords.ts';
import { crc32c } from '../../src/record/crc32c.ts';
import { decodeRecordBatch, encodeRecordBatch, isControlBatch, isTransactional, readBatchHeader, stampBatch } from '../../src/record/recordBatch.ts';

const require = createRequire(import.meta.url);
const Decoder = require('kafkajs/src/protocol/decoder.js') as new (buffer: Buffer) => unknown;
const decodeKafkaJsBatch = require('kafkajs/src/protocol/recordBatch/v0/decoder.js') as (decoder: unknown) => Promise<{
  isControlBatch: boolean;
  inTransaction: boolean;
  producerId: string;
  producerEpoch: number;
  firstSequence: number;
  firstOffset: string;
  records: Array<{ key: Buffer | null; value: Buffer | null; offset: string; isControlRecord: boolean }>;
}>;
const filterAbortedMessages = require('kafkajs/src/consumer/filterAbortedMessages.js') as (input: { messages: unknown[]; abortedTransactions: unknown[] }) => unknown[];

const T = 1_700_000_000_123;

/** The bytes Kafka's `MemoryRecords.withEndTransactionMarker` writes, built field by field from the spec. */
function handBuilt(producerId: bigint, producerEpoch: number, coordinatorEpoch: number, type: 0 | 1, timestamp: number): Uint8Array {
  const record = [
    0x20, // record length 16, zig-zag varint
    0x00, // attributes
    0x00, // timestampDelta 0
    0x00, // offsetDelta 0
    0x08, // key length 4
    0x00, 0x00, 0x00, type, // key: version 0, type
    0x0c, // value length 6
    0x00, 0x00, // value: version 0
    (coordinatorEpoch >>> 24) & 0xff, (coordinatorEpoch >>> 16) & 0xff, (coordinatorEpoch >>> 8) & 0xff, coordinatorEpoch & 0xff,
    0x00, // no headers
  ];
  const bytes = new Uint8Array(61 + record.length);
  const view = new DataView(bytes.buffer);
  view.setBigInt64(0, 0n); // baseOffset: the leader stamps it
  view.setInt32(8, bytes.length - 12);
  view.setInt32(12, -1); // partitionLeaderEpoch: the leader stamps it
  view.setInt8(16, 2);
  view.setInt16(21, 0x30); // isTransactional | isControl, no compression, CreateTime
  view.setInt32(23, 0); // lastOffsetDelta
  view.setBigInt64(27, BigInt(timestamp));
  view.setBigInt64(35, BigInt(timestamp));
  view.setBigInt64(43, producerId);
  view.setInt16(51, producerEpoch);
  view.setInt32(53, -1); // no sequence
  view.setInt32(57, 1);
  bytes.set(record, 61);
  view.setUint32(17, crc32c(bytes, 21));
  return bytes;
}

async function kafkaJs(bytes: Uint8Array): ReturnType<typeof decodeKafkaJsBatch> {
  return decodeKafkaJsBatch(new Decoder(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength)));
}

describe('encodeTransactionMarker', () => {
  it.each([
    ['COMMIT', 1, 7],
    ['ABORT', 0, 0],
    ['COMMIT', 1, -1],
    ['ABORT', 0, 0x7fffffff],
  ] as const)('writes a %s marker byte for byte as the spec lays it out (type %i, coordinator epoch %i)', (result, type, coordinatorEpoch) => {
    const bytes = encodeTransactionMarker({ producerId: 4000n, producerEpoch: 3, coordinatorEpoch, result, timestamp: T });
    expect(bytes).toEqual(handBuilt(4000n, 3, coordinatorEpoch, type, T));
  });

  it('is a transactional control batch holding exactly one record at offset delta 0', () => {
    const header = readBatchHeader(encodeTransactionMarker({ producerId: 1n, producerEpoch: 0, coordinatorEpoch: 0, result: 'COMMIT', timestamp: T }));
    expect(isControlBatch(header) && isTransactional(header)).toBe(true);
    expect(header).toMatchObject({ recordsCount: 1, lastOffsetDelta: 0, baseSequence: -1, producerId: 1n, producerEpoch: 0, maxTimestamp: T });
  });

  it('refuses out-of-range fields with InvalidArgumentError', () => {
    const ok = { producerId: 1n, producerEpoch: 0, coordinatorEpoch: 0, result: 'COMMIT' as const, timestamp: T };
    expect(() => encodeTransactionMarker({ ...ok, producerId: -1n })).toThrow(InvalidArgumentError);
    expect(() => encodeTransactionMarker({ ...ok, producerId: 1 as unknown as bigint })).toThrow(/producerId/);
    expect(() => encodeTransactionMarker({ ...ok, producerEpoch: 0x8000 })).toThrow(/producerEpoch/);
    expect(() => encodeTransactionMarker({ ...ok, coordinatorEpoch: 2 ** 31 })).toThrow(/coordinatorEpoch/);
    expect(() => encodeTransactionMarker({ ...ok, result: 'PREPARE' as 'COMMIT' })).toThrow(/result/);
    expect(() => encodeTransactionMarker({ ...ok, timestamp: -1 })).toThrow(/timestamp/);
    expect(() => encodeTransactionMarker(null as never)).toThrow(InvalidArgumentError);
  });

  it('is read by KafkaJS as a transactional control batch, and its ABORT key ends an aborted transaction there', async () => {
    const abort = encodeTransactionMarker({ producerId: 77n, producerEpoch: 2, coordinatorEpoch: 5, result: 'ABORT', timestamp: T });
    stampBatch(abort, 0, 10n, 4);
    const batch = await kafkaJs(abort);
    expect(batch).toMatchObject({ isControlBatch: true, inTransaction: true, producerId: '77', producerEpoch: 2, firstSequence: -1, firstOffset: '10' });
    expect(batch.records).toHaveLength(1);
    expect(batch.records[0]!.isControlRecord).toBe(true);
    expect([...batch.records[0]!.key!]).toEqual([0, 0, 0, 0]);
    expect([...batch.records[0]!.value!]).toEqual([0, 0, 0, 0, 0, 5]);
    // KafkaJS's read_committed filter: data of producer 77 from offset 8 is aborted until this marker.
    const data = encodeRecordBatch({ producerId: 77n, producerEpoch: 2, baseSequence: 0, isTransactional: true, records: [{ timestamp: T, key: null, value: new Uint8Array([1]) }, { timestamp: T, key: null, value: new Uint8Array([2]) }] });
    stampBatch(data, 0, 8n, 4);
    const after = encodeRecordBatch({ producerId: 77n, producerEpoch: 3, baseSequence: 0, isTransactional: true, records: [{ timestamp: T, key: null, value: new Uint8Array([3]) }] });
    stampBatch(after, 0, 11n, 4);
    const messages = [...(await kafkaJs(data)).records, ...batch.records, ...(await kafkaJs(after)).records];
    const kept = filterAbortedMessages({ messages, abortedTransactions: [{ producerId: '77', firstOffset: '8' }] }) as typeof messages;
    expect(kept.map((m) => m.offset)).toEqual(['10', '11']);
    // A COMMIT key is not an abort marker to KafkaJS.
    const commit = await kafkaJs(encodeTransactionMarker({ producerId: 77n, producerEpoch: 2, coordinatorEpoch: 5, result: 'COMMIT', timestamp: T }));
    expect([...commit.records[0]!.key!]).toEqual([0, 0, 0, 1]);
  });
});

describe('decodeControlRecord', () => {
  const key = (...b: number[]): Uint8Array => new Uint8Array(b);

  it('reads COMMIT and ABORT markers with their coordinator epoch', () => {
    expect(decodeControlRecord(key(0, 0, 0, 1), key(0, 0, 0, 0, 0, 42))).toEqual({ kind: 'transactionMarker', type: 'COMMIT', keyVersion: 0, version: 0, coordinatorEpoch: 42 });
    expect(decodeControlRecord(key(0, 0, 0, 0), key(0, 0, 0xff, 0xff, 0xff, 0xff))).toEqual({ kind: 'transactionMarker', type: 'ABORT', keyVersion: 0, version: 0, coordinatorEpoch: -1 });
  });

  it('parses newer key and value versions as version 0, ignoring trailing bytes (as Kafka)', () => {
    expect(decodeControlRecord(key(0, 3, 0, 1, 9, 9), key(0, 2, 0, 0, 1, 0, 7))).toEqual({ kind: 'transactionMarker', type: 'COMMIT', keyVersion: 3, version: 2, coordinatorEpoch: 256 });
  });

  it('reports other control types by Kafka’s name, and unknown ones as UNKNOWN, without reading the value', () => {
    expect(decodeControlRecord(key(0, 0, 0, 2), null)).toEqual({ kind: 'other', type: 'LEADER_CHANGE', typeId: 2, keyVersion: 0 });
    expect(decodeControlRecord(key(0, 0, 0, 6), key(1))).toEqual({ kind: 'other', type: 'KRAFT_VOTERS', typeId: 6, keyVersion: 0 });
    expect(decodeControlRecord(key(0, 0, 0, 99), null)).toEqual({ kind: 'other', type: 'UNKNOWN', typeId: 99, keyVersion: 0 });
    expect(decodeControlRecord(key(0, 0, 0xff, 0xff), null)).toMatchObject({ kind: 'other', type: 'UNKNOWN', typeId: -1 });
  });

  it('throws CorruptRecordError for bytes that cannot be a control record', () => {
    expect(() => decodeControlRecord(null, key(0, 0, 0, 0, 0, 0))).toThrow(CorruptRecordError);
    expect(() => decodeControlRecord(key(0, 0, 0), key(0, 0, 0, 0, 0, 0))).toThrow(/at least 4 bytes, found 3/);
    expect(() => decodeControlRecord(key(0xff, 0xfe, 0, 1), key(0, 0, 0, 0, 0, 0))).toThrow(/key version -2/);
    expect(() => decodeControlRecord(key(0, 0, 0, 1), null)).toThrow(/must have a value/);
    expect(() => decodeControlRecord(key(0, 0, 0, 0), key(0, 0, 0, 0, 0))).toThrow(/at least 6 bytes, found 5/);
    expect(() => decodeControlRecord(key(0, 0, 0, 0), key(0x80, 0, 0, 0, 0, 0))).toThrow(/marker version -32768/);
    try {
      decodeControlRecord(key(0, 0, 0), null);
    } catch (e) {
      expect(e).toMatchObject({ code: 'CORRUPT_MESSAGE', errorCode: 2 });
    }
  });
});

describe('controlBatchContent', () => {
  it('gives a marker batch’s result, coordinator epoch, producer and offset', () => {
    const bytes = encodeTransactionMarker({ producerId: 5n, producerEpoch: 4, coordinatorEpoch: 3, result: 'ABORT', timestamp: T });
    stampBatch(bytes, 0, 99n, 1);
    expect(readControlBatch(bytes)).toEqual({ kind: 'transactionMarker', producerId: 5n, producerEpoch: 4, result: 'ABORT', coordinatorEpoch: 3, offset: 99n, timestamp: T });
    expect(controlBatchContent(decodeRecordBatch(bytes))).toEqual(readControlBatch(bytes));
  });

  it('tells a batch compaction emptied, and another control type, apart from a marker', () => {
    const empty = encodeRecordBatch({ isControl: true, isTransactional: true, producerId: 5n, producerEpoch: 0, lastOffsetDelta: 0, records: [] });
    expect(readControlBatch(empty)).toEqual({ kind: 'empty' });
    const leaderChange = encodeRecordBatch({ isControl: true, records: [{ timestamp: T, key: new Uint8Array([0, 0, 0, 2]), value: new Uint8Array([0, 0]) }] });
    expect(readControlBatch(leaderChange)).toEqual({ kind: 'other', type: 'LEADER_CHANGE', typeId: 2 });
  });

  it('refuses a data batch, and reports a malformed marker as corrupt', () => {
    expect(() => readControlBatch(encodeRecordBatch({ records: [{ timestamp: T, key: null, value: null }] }))).toThrow(InvalidArgumentError);
    const short = encodeRecordBatch({ isControl: true, isTransactional: true, producerId: 1n, producerEpoch: 0, records: [{ timestamp: T, key: new Uint8Array([0, 0, 0, 1]), value: new Uint8Array([0, 0, 0]) }] });
    expect(() => readControlBatch(short)).toThrow(CorruptRecordError);
  });
});
