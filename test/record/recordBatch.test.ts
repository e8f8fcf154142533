import { describe, it, expect } from 'vitest';
import {
  ATTRIBUTES_OFFSET,
  BASE_OFFSET_OFFSET,
  BASE_SEQUENCE_OFFSET,
  BASE_TIMESTAMP_OFFSET,
  BATCH_LENGTH_OFFSET,
  COMPRESSION_CODEC_MASK,
  CONTROL_FLAG_MASK,
  CRC_OFFSET,
  DELETE_HORIZON_FLAG_MASK,
  LAST_OFFSET_DELTA_OFFSET,
  LOG_OVERHEAD,
  MAGIC,
  MAGIC_OFFSET,
  MAX_TIMESTAMP_OFFSET,
  PARTITION_LEADER_EPOCH_OFFSET,
  PRODUCER_EPOCH_OFFSET,
  PRODUCER_ID_OFFSET,
  RECORDS_COUNT_OFFSET,
  RECORDS_OFFSET,
  RECORD_BATCH_OVERHEAD,
  TIMESTAMP_TYPE_MASK,
  TRANSACTIONAL_FLAG_MASK,
  assertBatchValid,
  batchCrcValid,
  batchSize,
  compressionOf,
  decodeRecordBatch,
  encodeRecordBatch,
  hasDeleteHorizon,
  isControlBatch,
  isTransactional,
  lastOffset,
  readBatchHeader,
  scanBatches,
  setLogAppendTime,
  stampBatch,
  timestampTypeOf,
} from '../../src/record/recordBatch.ts';
import type { RecordBatchInput, ScanEnd, ScannedBatch } from '../../src/record/recordBatch.ts';
import { COMPRESSION_CODECS } from '../../src/record/compression.ts';
import { crc32c } from '../../src/record/crc32c.ts';
import { encodeTransactionMarker } from '../../src/record/controlRecords.ts';
import { CorruptRecordError, InvalidArgumentError } from '../../src/errors.ts';

const enc = new TextEncoder();
const dec = new TextDecoder();
const b = (s: string): Uint8Array => enc.encode(s);
const s = (u: Uint8Array | null): string | null => (u === null ? null : dec.decode(u));
const T0 = 1_700_000_000_000;

function view(bytes: Uint8Array): DataView {
  return new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

/** Recomputes the CRC after a test patches bytes inside the CRC's coverage. */
function refreshCrc(bytes: Uint8Array, position = 0): void {
  const size = view(bytes).getInt32(position + BATCH_LENGTH_OFFSET) + LOG_OVERHEAD;
  view(bytes).setUint32(position + CRC_OFFSET, crc32c(bytes, position + ATTRIBUTES_OFFSET, position + size));
}

function concatBytes(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let pos = 0;
  for (const p of parts) {
    out.set(p, pos);
    pos += p.length;
  }
  return out;
}

function scanAll(bytes: Uint8Array, position?: number, end?: number): { batches: ScannedBatch[]; end: ScanEnd } {
  const it = scanBatches(bytes, position, end);
  const batches: ScannedBatch[] = [];
  for (;;) {
    const next = it.next();
    if (next.done === true) return { batches, end: next.value };
    batches.push(next.value);
  }
}

const simple: RecordBatchInput = {
  records: [
    { timestamp: T0, key: b('k1'), value: b('v1') },
    { timestamp: T0 + 5, key: b('k2'), value: b('v2') },
    { timestamp: T0 + 2, key: b('k3'), value: b('v3') },
  ],
};

describe('constants', () => {
  it('match Kafka DefaultRecordBatch', () => {
    expect(RECORD_BATCH_OVERHEAD).toBe(61);
    expect(LOG_OVERHEAD).toBe(12);
    expect(MAGIC).toBe(2);
    expect([BASE_OFFSET_OFFSET, BATCH_LENGTH_OFFSET, PARTITION_LEADER_EPOCH_OFFSET, MAGIC_OFFSET, CRC_OFFSET, ATTRIBUTES_OFFSET]).toEqual([0, 8, 12, 16, 17, 21]);
    expect([LAST_OFFSET_DELTA_OFFSET, BASE_TIMESTAMP_OFFSET, MAX_TIMESTAMP_OFFSET, PRODUCER_ID_OFFSET, PRODUCER_EPOCH_OFFSET, BASE_SEQUENCE_OFFSET, RECORDS_COUNT_OFFSET, RECORDS_OFFSET]).toEqual([
      23, 27, 35, 43, 51, 53, 57, 61,
    ]);
    expect([COMPRESSION_CODEC_MASK, TIMESTAMP_TYPE_MASK, TRANSACTIONAL_FLAG_MASK, CONTROL_FLAG_MASK, DELETE_HORIZON_FLAG_MASK]).toEqual([0x07, 0x08, 0x10, 0x20, 0x40]);
  });
});

describe('crc32c', () => {
  it('computes CRC-32C (Castagnoli) check values, unsigned, over views and ranges', () => {
    expect(crc32c(b('123456789'))).toBe(0xe3069283);
    expect(crc32c(new Uint8Array(0))).toBe(0);
    expect(crc32c(new Uint8Array(32))).toBe(0x8a9136aa); // RFC 3720 B.4: 32 bytes of zeros
    expect(crc32c(new Uint8Array(32).fill(0xff))).toBe(0x62a8ab43); // RFC 3720 B.4: 32 bytes of 0xff
    const padded = b('xx123456789yy');
    expect(crc32c(padded, 2, 11)).toBe(0xe3069283);
    expect(crc32c(padded.subarray(2, 11))).toBe(0xe3069283);
  });
});

describe('encode / decode', () => {
  it('writes Kafka producer defaults and decodes the records back', () => {
    const bytes = encodeRecordBatch(simple);
    const h = readBatchHeader(bytes);
    expect(h).toEqual({
      baseOffset: 0n,
      batchLength: bytes.length - 12,
      partitionLeaderEpoch: -1,
      magic: 2,
      crc: view(bytes).getUint32(CRC_OFFSET),
      attributes: 0,
      lastOffsetDelta: 2,
      baseTimestamp: T0,
      maxTimestamp: T0 + 5,
      producerId: -1n,
      producerEpoch: -1,
      baseSequence: -1,
      recordsCount: 3,
    });
    expect(batchSize(h)).toBe(bytes.length);
    expect(lastOffset(h)).toBe(2n);
    expect(compressionOf(h)).toBe('none');
    expect(timestampTypeOf(h)).toBe('CreateTime');
    expect([isTransactional(h), isControlBatch(h), hasDeleteHorizon(h)]).toEqual([false, false, false]);
    expect(assertBatchValid(bytes)).toEqual(h);
    expect(batchCrcValid(bytes)).toBe(true);

    const { header, records } = decodeRecordBatch(bytes);
    expect(header).toEqual(h);
    expect(records.map((r) => [r.offset, r.offsetDelta, r.timestamp, s(r.key), s(r.value), r.headers])).toEqual([
      [0n, 0, T0, 'k1', 'v1', []],
      [1n, 1, T0 + 5, 'k2', 'v2', []],
      [2n, 2, T0 + 2, 'k3', 'v3', []],
    ]);
  });

  it('encodes the exact bytes of a one-record batch', () => {
    const bytes = encodeRecordBatch({ baseOffset: 7n, partitionLeaderEpoch: 3, records: [{ timestamp: 1000, key: b('a'), value: b('bc') }] });
    const record = [
      0x12, // length 9 (zig-zag)
      0x00, // attributes
      0x00, // timestampDelta 0
      0x00, // offsetDelta 0
      0x02, 0x61, // key "a"
      0x04, 0x62, 0x63, // value "bc"
      0x00, // no headers
    ];
    expect(bytes.length).toBe(61 + record.length);
    expect([...bytes.subarray(61)]).toEqual(record);
    const v = view(bytes);
    expect(v.getBigInt64(0)).toBe(7n);
    expect(v.getInt32(8)).toBe(61 + record.length - 12);
    expect(v.getInt32(12)).toBe(3);
    expect(bytes[16]).toBe(2);
    expect(v.getUint32(17)).toBe(crc32c(bytes, 21));
    expect(v.getBigInt64(27)).toBe(1000n);
    expect(v.getBigInt64(35)).toBe(1000n);
    expect(v.getInt32(57)).toBe(1);
  });

  it('handles null keys and tombstones (null values)', () => {
    const bytes = encodeRecordBatch({
      records: [
        { timestamp: T0, key: null, value: b('keyless') },
        { timestamp: T0, key: b('gone'), value: null },
        { timestamp: T0, key: new Uint8Array(0), value: new Uint8Array(0) },
      ],
    });
    const { records } = decodeRecordBatch(bytes);
    expect(records[0]!.key).toBeNull();
    expect(s(records[0]!.value)).toBe('keyless');
    expect(s(records[1]!.key)).toBe('gone');
    expect(records[1]!.value).toBeNull();
    expect(records[2]!.key).toEqual(new Uint8Array(0));
    expect(records[2]!.value).toEqual(new Uint8Array(0));
  });

  it('round-trips headers: null values, repeated keys, empty keys and non-ASCII keys', () => {
    const headers = [
      { key: 'trace-id', value: b('abc') },
      { key: 'empty', value: null },
      { key: 'trace-id', value: b('second') },
      { key: '', value: new Uint8Array(0) },
      { key: 'ключ-🔑-キー', value: b('unicode') },
      { key: 'x'.repeat(100), value: b('long key') },
    ];
    const bytes = encodeRecordBatch({ records: [{ timestamp: T0, key: b('k'), value: b('v'), headers }] });
    expect(decodeRecordBatch(bytes).records[0]!.headers).toEqual(headers);
  });

  it('returns key and value views into the batch (no copy) when uncompressed', () => {
    const bytes = encodeRecordBatch(simple);
    const { records } = decodeRecordBatch(bytes);
    expect(records[0]!.value!.buffer).toBe(bytes.buffer);
    expect(records[0]!.key!.byteOffset).toBeGreaterThan(bytes.byteOffset + RECORDS_OFFSET);
  });

  it('decodes a batch in the middle of a larger buffer', () => {
    const a = encodeRecordBatch(simple);
    const c = encodeRecordBatch({ baseOffset: 3n, records: [{ timestamp: T0, key: null, value: b('third') }] });
    const joined = concatBytes(new Uint8Array(5), a, c);
    const { records } = decodeRecordBatch(joined, 5 + a.length);
    expect(records.map((r) => [r.offset, s(r.value)])).toEqual([[3n, 'third']]);
    expect(decodeRecordBatch(joined.subarray(5), 0).records).toHaveLength(3);
  });

  for (const compression of COMPRESSION_CODECS) {
    it(`round-trips with ${compression}`, () => {
      const input: RecordBatchInput = {
        compression,
        records: Array.from({ length: 50 }, (_, i) => ({ timestamp: T0 + i, key: b(`key-${i}`), value: b(`value-${i}`.repeat(i)), headers: i % 2 === 0 ? [{ key: 'h', value: b(String(i)) }] : [] })),
      };
      const bytes = encodeRecordBatch(input);
      const { header, records } = decodeRecordBatch(bytes);
      expect(compressionOf(header)).toBe(compression);
      expect(records.map((r) => [r.offset, r.timestamp, s(r.key), s(r.value), r.headers.map((h) => [h.key, s(h.value)])])).toEqual(
        input.records.map((r, i) => [BigInt(i), r.timestamp, s(r.key), s(r.value), (r.headers ?? []).map((h) => [h.key, s(h.value)])]),
      );
    });
  }

  it('encodes producer fields and the transactional flag', () => {
    const bytes = encodeRecordBatch({ ...simple, producerId: 9_007_199_254_740_993n, producerEpoch: 32767, baseSequence: 2147483600, isTransactional: true });
    const h = readBatchHeader(bytes);
    expect(h.producerId).toBe(9_007_199_254_740_993n);
    expect(h.producerEpoch).toBe(32767);
    expect(h.baseSequence).toBe(2147483600);
    expect(h.attributes).toBe(TRANSACTIONAL_FLAG_MASK);
    expect(isTransactional(h)).toBe(true);
    expect(isControlBatch(h)).toBe(false);
  });

  it('honours explicit offset deltas (a compacted batch) and the lastOffsetDelta override', () => {
    const bytes = encodeRecordBatch({
      baseOffset: 100n,
      lastOffsetDelta: 9,
      records: [
        { offsetDelta: 1, timestamp: T0, key: b('a'), value: b('1') },
        { offsetDelta: 4, timestamp: T0 + 1, key: b('b'), value: b('2') },
      ],
    });
    const { header, records } = decodeRecordBatch(bytes);
    expect(header.lastOffsetDelta).toBe(9);
    expect(lastOffset(header)).toBe(109n);
    expect(records.map((r) => [r.offset, r.offsetDelta])).toEqual([
      [101n, 1],
      [104n, 4],
    ]);
  });

  it('writes an empty batch (kept by compaction) the way Kafka writeEmptyHeader does', () => {
    const bytes = encodeRecordBatch({ baseOffset: 50n, lastOffsetDelta: 4, records: [], maxTimestamp: T0, producerId: 12n, producerEpoch: 1, baseSequence: 30, compression: 'zstd' });
    expect(bytes.length).toBe(RECORD_BATCH_OVERHEAD);
    const h = assertBatchValid(bytes);
    expect(h).toMatchObject({ baseOffset: 50n, lastOffsetDelta: 4, recordsCount: 0, baseTimestamp: -1, maxTimestamp: T0, producerId: 12n, attributes: 0 });
    expect(decodeRecordBatch(bytes).records).toEqual([]);
  });

  it('writes LogAppendTime batches whose records all carry maxTimestamp', () => {
    const bytes = encodeRecordBatch({ ...simple, timestampType: 'LogAppendTime', maxTimestamp: T0 + 1000 });
    const { header, records } = decodeRecordBatch(bytes);
    expect(timestampTypeOf(header)).toBe('LogAppendTime');
    expect(header.attributes).toBe(TIMESTAMP_TYPE_MASK);
    expect(header.baseTimestamp).toBe(T0);
    expect(records.map((r) => r.timestamp)).toEqual([T0 + 1000, T0 + 1000, T0 + 1000]);
  });

  it('stores the delete horizon in baseTimestamp and keeps record timestamps relative to it', () => {
    const horizon = T0 + 86_400_000;
    const bytes = encodeRecordBatch({ ...simple, deleteHorizonMs: horizon });
    const { header, records } = decodeRecordBatch(bytes);
    expect(hasDeleteHorizon(header)).toBe(true);
    expect(header.attributes & DELETE_HORIZON_FLAG_MASK).toBe(DELETE_HORIZON_FLAG_MASK);
    expect(header.baseTimestamp).toBe(horizon);
    expect(header.maxTimestamp).toBe(T0 + 5);
    expect(records.map((r) => r.timestamp)).toEqual([T0, T0 + 5, T0 + 2]);
    // timestampDelta of the first record is T0 - horizon = -86400000, a 4-byte varlong
    expect(bytes[RECORDS_OFFSET + 2]).not.toBe(0);
  });

  it('accepts the NO_TIMESTAMP sentinel -1', () => {
    const bytes = encodeRecordBatch({ records: [{ timestamp: -1, key: null, value: b('x') }] });
    expect(readBatchHeader(bytes)).toMatchObject({ baseTimestamp: -1, maxTimestamp: -1 });
    expect(decodeRecordBatch(bytes).records[0]!.timestamp).toBe(-1);
  });

  it('encodes records with large timestamp deltas (multi-byte varlongs)', () => {
    const bytes = encodeRecordBatch({
      records: [
        { timestamp: 0, key: null, value: null },
        { timestamp: Number.MAX_SAFE_INTEGER, key: null, value: null },
      ],
    });
    expect(decodeRecordBatch(bytes).records.map((r) => r.timestamp)).toEqual([0, Number.MAX_SAFE_INTEGER]);
  });
});

describe('stamping on append', () => {
  it('stampBatch sets baseOffset and partitionLeaderEpoch without touching the CRC', () => {
    const bytes = encodeRecordBatch(simple);
    const crcBefore = readBatchHeader(bytes).crc;
    stampBatch(bytes, 0, 1000n, 7);
    const h = assertBatchValid(bytes);
    expect(h).toMatchObject({ baseOffset: 1000n, partitionLeaderEpoch: 7, crc: crcBefore });
    expect(decodeRecordBatch(bytes).records.map((r) => r.offset)).toEqual([1000n, 1001n, 1002n]);
  });

  it('stampBatch works on a batch inside a larger buffer and validates its arguments', () => {
    const a = encodeRecordBatch(simple);
    const joined = concatBytes(a, a);
    stampBatch(joined, a.length, 3n, 1);
    expect(readBatchHeader(joined, a.length).baseOffset).toBe(3n);
    expect(readBatchHeader(joined, 0).baseOffset).toBe(0n);
    expect(() => stampBatch(joined, 0, -1n, 0)).toThrow(InvalidArgumentError);
    expect(() => stampBatch(joined, 0, 0n, 2 ** 31)).toThrow(InvalidArgumentError);
    expect(() => stampBatch(joined, 0, 0x7fffffffffffffffn, 0)).toThrow(/overflows int64/);
    expect(() => stampBatch(new Uint8Array(30), 0, 0n, 0)).toThrow(CorruptRecordError);
  });

  it('setLogAppendTime sets the flag and maxTimestamp and recomputes the CRC', () => {
    const bytes = encodeRecordBatch({ ...simple, compression: 'lz4' });
    const before = readBatchHeader(bytes);
    setLogAppendTime(bytes, 0, T0 + 99);
    const h = assertBatchValid(bytes);
    expect(h.crc).not.toBe(before.crc);
    expect(h.attributes).toBe(before.attributes | TIMESTAMP_TYPE_MASK);
    expect(compressionOf(h)).toBe('lz4');
    expect(h.maxTimestamp).toBe(T0 + 99);
    expect(decodeRecordBatch(bytes).records.map((r) => r.timestamp)).toEqual([T0 + 99, T0 + 99, T0 + 99]);
    const again = bytes.slice();
    setLogAppendTime(again, 0, T0 + 99);
    expect(again).toEqual(bytes);
  });

  it('setLogAppendTime refuses to re-bless a corrupt batch', () => {
    const bytes = encodeRecordBatch(simple);
    bytes[bytes.length - 1] = bytes[bytes.length - 1]! ^ 1;
    expect(() => setLogAppendTime(bytes, 0, T0)).toThrow(/CRC mismatch/);
    expect(() => setLogAppendTime(encodeRecordBatch(simple), 0, -5)).toThrow(InvalidArgumentError);
  });
});

describe('scanBatches', () => {
  const a = encodeRecordBatch(simple);
  const c = encodeTransactionMarker({ result: 'COMMIT', coordinatorEpoch: 1, producerId: 5n, producerEpoch: 0, timestamp: T0 });
  stampBatch(c, 0, 3n, -1);

  it('yields every whole batch and reports a complete walk', () => {
    const log = concatBytes(a, c, a);
    const { batches, end } = scanAll(log);
    expect(batches.map((x) => [x.position, x.header.baseOffset])).toEqual([
      [0, 0n],
      [a.length, 3n],
      [a.length + c.length, 0n],
    ]);
    expect(end).toEqual({ position: log.length, complete: true });
  });

  it('stops before a trailing partial batch and says where the valid prefix ends', () => {
    for (const cut of [1, 16, 17, 60, 61, c.length - 1]) {
      const log = concatBytes(a, c.subarray(0, cut));
      const { batches, end } = scanAll(log);
      expect(batches).toHaveLength(1);
      expect(end).toEqual({ position: a.length, complete: false });
    }
  });

  it('respects position and end', () => {
    const log = concatBytes(a, c, a);
    const { batches, end } = scanAll(log, a.length, a.length + c.length);
    expect(batches.map((x) => x.position)).toEqual([a.length]);
    expect(end).toEqual({ position: a.length + c.length, complete: true });
    expect(scanAll(log, 0, 0).end).toEqual({ position: 0, complete: true });
  });

  it('throws CorruptRecordError at the position of an impossible header', () => {
    const bad = c.slice();
    view(bad).setInt32(BATCH_LENGTH_OFFSET, 10);
    const log = concatBytes(a, bad);
    expect(() => scanAll(log)).toThrow(CorruptRecordError);
    try {
      scanAll(log);
    } catch (e) {
      expect((e as CorruptRecordError).position).toBe(a.length);
      expect((e as CorruptRecordError).message).toMatch(/batchLength 10 is below the minimum 49/);
    }
    const badMagic = c.slice();
    badMagic[MAGIC_OFFSET] = 1;
    expect(() => scanAll(concatBytes(a, badMagic))).toThrow(/unsupported magic 1/);
  });

  it('is usable with for-of', () => {
    const positions: number[] = [];
    for (const batch of scanBatches(concatBytes(a, a))) positions.push(batch.position);
    expect(positions).toEqual([0, a.length]);
  });
});

describe('corrupt input', () => {
  it('readBatchHeader rejects short input, wrong magic, short batchLength and unknown codecs', () => {
    const bytes = encodeRecordBatch(simple);
    expect(() => readBatchHeader(bytes.subarray(0, 60))).toThrow(/need 61 bytes for a batch header, only 60 remain/);
    expect(() => readBatchHeader(bytes, bytes.length - 10)).toThrow(CorruptRecordError);
    const magic = bytes.slice();
    magic[MAGIC_OFFSET] = 1;
    expect(() => readBatchHeader(magic)).toThrow(/unsupported magic 1/);
    const length = bytes.slice();
    view(length).setInt32(BATCH_LENGTH_OFFSET, 48);
    expect(() => readBatchHeader(length)).toThrow(/batchLength 48 is below the minimum 49/);
    for (const id of [5, 6, 7]) {
      const codec = bytes.slice();
      view(codec).setInt16(ATTRIBUTES_OFFSET, id);
      expect(() => readBatchHeader(codec)).toThrow(`unknown compression codec id ${id}`);
    }
    const ts = bytes.slice();
    view(ts).setBigInt64(MAX_TIMESTAMP_OFFSET, 2n ** 60n);
    expect(() => readBatchHeader(ts)).toThrow(/maxTimestamp 1152921504606846976 is outside the safe integer range/);
    expect(() => readBatchHeader(bytes, -1)).toThrow(InvalidArgumentError);
    expect(() => readBatchHeader(bytes, 0.5)).toThrow(InvalidArgumentError);
  });

  it('errors carry Kafka CORRUPT_MESSAGE and the batch position', () => {
    const bytes = concatBytes(new Uint8Array(3), encodeRecordBatch(simple));
    bytes[bytes.length - 2] = bytes[bytes.length - 2]! ^ 0xff;
    try {
      decodeRecordBatch(bytes, 3);
      expect.unreachable();
    } catch (e) {
      expect(e).toBeInstanceOf(CorruptRecordError);
      const err = e as CorruptRecordError;
      expect(err.code).toBe('CORRUPT_MESSAGE');
      expect(err.errorCode).toBe(2);
      expect(err.position).toBe(3);
      expect(err.message).toMatch(/^corrupt record batch at byte 3: CRC mismatch \(stored 0x[0-9a-f]{8}, computed 0x[0-9a-f]{8}\)$/);
    }
  });

  it('detects CRC mismatch and truncation', () => {
    const bytes = encodeRecordBatch(simple);
    const flipped = bytes.slice();
    flipped[RECORDS_OFFSET + 3] = flipped[RECORDS_OFFSET + 3]! ^ 0x01;
    expect(batchCrcValid(flipped)).toBe(false);
    expect(() => assertBatchValid(flipped)).toThrow(/CRC mismatch/);
    expect(() => decodeRecordBatch(flipped)).toThrow(/CRC mismatch/);
    expect(() => decodeRecordBatch(bytes.subarray(0, bytes.length - 1))).toThrow(/truncated: only \d+ bytes remain/);
    expect(() => assertBatchValid(bytes.subarray(0, bytes.length - 1))).toThrow(/truncated/);
    expect(batchCrcValid(bytes.subarray(0, bytes.length - 1))).toBe(false);
    expect(batchCrcValid(bytes.subarray(0, 20))).toBe(false);
  });

  it('detects a recordsCount that does not match the records', () => {
    const more = encodeRecordBatch(simple);
    view(more).setInt32(RECORDS_COUNT_OFFSET, 4);
    refreshCrc(more);
    expect(() => decodeRecordBatch(more)).toThrow(/record 3 of 4: missing/);
    const fewer = encodeRecordBatch(simple);
    view(fewer).setInt32(RECORDS_COUNT_OFFSET, 2);
    refreshCrc(fewer);
    expect(() => decodeRecordBatch(fewer)).toThrow(/trailing data after 2 records/);
    const negative = encodeRecordBatch(simple);
    view(negative).setInt32(RECORDS_COUNT_OFFSET, -1);
    refreshCrc(negative);
    expect(() => decodeRecordBatch(negative)).toThrow(/negative recordsCount -1/);
    const huge = encodeRecordBatch(simple);
    view(huge).setInt32(RECORDS_COUNT_OFFSET, 2 ** 31 - 1);
    refreshCrc(huge);
    expect(() => decodeRecordBatch(huge)).toThrow(/cannot fit/);
  });

  it('detects trailing garbage inside the batch', () => {
    const bytes = encodeRecordBatch(simple);
    const longer = concatBytes(bytes, new Uint8Array([0, 0, 0]));
    view(longer).setInt32(BATCH_LENGTH_OFFSET, longer.length - LOG_OVERHEAD);
    refreshCrc(longer);
    expect(() => decodeRecordBatch(longer)).toThrow(/3 bytes of trailing data after 3 records/);
  });

  it('detects a record length overrunning the batch and lengths inside a record that disagree', () => {
    const bytes = encodeRecordBatch({ records: [{ timestamp: T0, key: b('a'), value: b('bc') }] });
    const overrun = bytes.slice();
    overrun[RECORDS_OFFSET] = 0x7e; // length 63
    refreshCrc(overrun);
    expect(() => decodeRecordBatch(overrun)).toThrow(/record 0 of 1: length 63 overruns the batch/);
    const keyTooLong = bytes.slice();
    keyTooLong[RECORDS_OFFSET + 4] = 0x14; // key length 10 inside a 9-byte record
    refreshCrc(keyTooLong);
    expect(() => decodeRecordBatch(keyTooLong)).toThrow(/key length 10 overruns the record/);
    const badKey = bytes.slice();
    badKey[RECORDS_OFFSET + 4] = 0x03; // key length -2
    refreshCrc(badKey);
    expect(() => decodeRecordBatch(badKey)).toThrow(/invalid key length -2/);
    const shortLength = concatBytes(bytes, new Uint8Array(1));
    shortLength[RECORDS_OFFSET] = 0x14; // length 10, one byte more than the fields
    view(shortLength).setInt32(BATCH_LENGTH_OFFSET, shortLength.length - LOG_OVERHEAD);
    refreshCrc(shortLength);
    expect(() => decodeRecordBatch(shortLength)).toThrow(/1 bytes left over inside its declared length 10/);
    const headers = bytes.slice();
    headers[RECORDS_OFFSET + 9] = 0x7e; // 63 headers in 0 bytes
    refreshCrc(headers);
    expect(() => decodeRecordBatch(headers)).toThrow(/invalid header count 63/);
  });

  it('detects varint overflow inside a record', () => {
    const bytes = encodeRecordBatch({ records: [{ timestamp: T0, key: b('abcdef'), value: null }] });
    // Replace the key length and key by an over-long varint.
    bytes.set([0xff, 0xff, 0xff, 0xff, 0xff, 0xff], RECORDS_OFFSET + 4);
    refreshCrc(bytes);
    expect(() => decodeRecordBatch(bytes)).toThrow(/varint is longer than 5 bytes/);
  });

  it('reports undecompressable payloads as corrupt', () => {
    const bytes = encodeRecordBatch({ ...simple, compression: 'gzip' });
    bytes[RECORDS_OFFSET + 12] = bytes[RECORDS_OFFSET + 12]! ^ 0xff;
    refreshCrc(bytes);
    expect(() => decodeRecordBatch(bytes)).toThrow(CorruptRecordError);
  });

  it('skips the CRC check on request', () => {
    const bytes = encodeRecordBatch(simple);
    bytes[CRC_OFFSET] = bytes[CRC_OFFSET]! ^ 0xff;
    expect(() => decodeRecordBatch(bytes)).toThrow(/CRC mismatch/);
    expect(decodeRecordBatch(bytes, 0, { verifyCrc: false }).records).toHaveLength(3);
  });
});

describe('input validation', () => {
  const record = { timestamp: T0, key: null, value: b('v') };
  const bad = (input: unknown): (() => Uint8Array) => () => encodeRecordBatch(input as RecordBatchInput);

  it('rejects wrong types from JavaScript callers with InvalidArgumentError', () => {
    expect(bad(null)).toThrow(InvalidArgumentError);
    expect(bad({ records: 'x' })).toThrow(/invalid argument "records": must be an array/);
    expect(bad({ records: [{ ...record, value: 'text' }] })).toThrow(/"records\[0\]\.value": must be a Uint8Array or null, got string "text"/);
    expect(bad({ records: [{ ...record, key: undefined }] })).toThrow(/records\[0\]\.key/);
    expect(bad({ records: [record, { ...record, timestamp: 1.5 }] })).toThrow(/"records\[1\]\.timestamp": must be a safe integer >= -1/);
    expect(bad({ records: [{ ...record, timestamp: -2 }] })).toThrow(/timestamp/);
    expect(bad({ records: [{ ...record, timestamp: '1' }] })).toThrow(/timestamp/);
    expect(bad({ records: [record, 5] })).toThrow(/"records\[1\]": must be an object/);
    expect(bad({ records: [{ ...record, headers: {} }] })).toThrow(/headers/);
    expect(bad({ records: [{ ...record, headers: [{ key: 1, value: null }] }] })).toThrow(/headers\[0\]\.key/);
    expect(bad({ records: [{ ...record, headers: [{ key: 'k', value: 'v' }] }] })).toThrow(/headers\[0\]\.value/);
    expect(bad({ records: [record], baseOffset: 0 })).toThrow(/baseOffset/);
    expect(bad({ records: [record], baseOffset: -1n })).toThrow(/baseOffset/);
    expect(bad({ records: [record], producerId: 2n ** 63n })).toThrow(/producerId/);
    expect(bad({ records: [record], producerEpoch: 40000 })).toThrow(/producerEpoch/);
    expect(bad({ records: [record], baseSequence: 2 ** 31 })).toThrow(/baseSequence/);
    expect(bad({ records: [record], partitionLeaderEpoch: 'x' })).toThrow(/partitionLeaderEpoch/);
    expect(bad({ records: [record], compression: 'brotli' })).toThrow(/unknown codec "brotli"/);
    expect(bad({ records: [record], timestampType: 'NoTimestampType' })).toThrow(/timestampType/);
    expect(bad({ records: [record], isTransactional: 1 })).toThrow(/isTransactional/);
    expect(bad({ records: [record], deleteHorizonMs: -1 })).toThrow(/deleteHorizonMs/);
    expect(bad({ records: [record], maxTimestamp: 1.5 })).toThrow(/maxTimestamp/);
  });

  it('rejects too many records, empty batches without lastOffsetDelta and bad offset deltas', () => {
    const tooMany: unknown[] = [];
    tooMany.length = 2 ** 31;
    expect(bad({ records: tooMany })).toThrow(/too many records/);
    expect(bad({ records: [] })).toThrow(/is empty; an empty batch needs an explicit lastOffsetDelta/);
    expect(bad({ records: [record, { ...record, offsetDelta: 0 }] })).toThrow(/must increase within a batch \(0 follows 0\)/);
    expect(bad({ records: [{ ...record, offsetDelta: -1 }] })).toThrow(/offsetDelta/);
    expect(bad({ records: [record, record], lastOffsetDelta: 0 })).toThrow(/at least the last record's offsetDelta 1/);
    expect(bad({ records: [record], lastOffsetDelta: 2 ** 31 })).toThrow(/lastOffsetDelta/);
    expect(bad({ records: [record], baseOffset: 0x7fffffffffffffffn, lastOffsetDelta: 1 })).toThrow(/overflows int64/);
  });
});
