import { describe, expect, it } from 'vitest';
import { fc, test } from '@fast-check/vitest';
import { CorruptRecordError, InvalidArgumentError } from '../../src/errors.ts';
import {
  decodeTransactionLogKey,
  decodeTransactionLogRecord,
  decodeTransactionLogValue,
  encodeTransactionLogKey,
  encodeTransactionLogRecord,
  encodeTransactionLogValue,
  javaStringHashCode,
  replayTransactionLog,
  transactionStatePartitionFor,
} from '../../src/transactions/transactionLog.ts';
import { TRANSACTION_STATES } from '../../src/transactions/transactionState.ts';
import type { TransactionMetadata, TransactionState } from '../../src/transactions/transactionState.ts';

const hex = (bytes: Uint8Array): string => [...bytes].map((b) => b.toString(16).padStart(2, '0')).join(' ');
const bytes = (s: string): Uint8Array => new Uint8Array(s.trim().split(/\s+/).map((b) => parseInt(b, 16)));

const ONGOING: TransactionMetadata = {
  transactionalId: 'txn-1',
  producerId: 1000n,
  previousProducerId: 999n,
  nextProducerId: -1n,
  producerEpoch: 5,
  lastProducerEpoch: -1,
  txnTimeoutMs: 60_000,
  state: 'Ongoing',
  // Deliberately unsorted with a duplicate: records hold them sorted and unique.
  partitions: [{ topic: 'pay', partition: 1 }, { topic: 'orders', partition: 2 }, { topic: 'orders', partition: 0 }],
  txnStartTimestamp: 1_699_999_990_000,
  txnLastUpdateTimestamp: 1_700_000_000_000,
  clientTransactionVersion: 2,
  pendingState: undefined,
};

describe('__transaction_state key (version 0)', () => {
  it('is int16 version 0 then the transactional id as an int16-length string', () => {
    expect(hex(encodeTransactionLogKey('txn-1'))).toBe(
      [
        '00 00', // key version 0
        '00 05', // string length 5
        '74 78 6e 2d 31', // "txn-1"
      ].join(' '),
    );
    expect(decodeTransactionLogKey(encodeTransactionLogKey('txn-1'))).toEqual({ kind: 'transaction', transactionalId: 'txn-1' });
    expect(hex(encodeTransactionLogKey('ü'))).toBe('00 00 00 02 c3 bc'); // UTF-8 byte length
  });

  it('reports other key versions as unknown (Kafka skips them while loading)', () => {
    expect(decodeTransactionLogKey(bytes('00 01 00 01 61'))).toEqual({ kind: 'unknown', version: 1 });
    expect(decodeTransactionLogRecord(bytes('00 01 00 01 61'), bytes('00'))).toEqual({ kind: 'unknownKey', version: 1 });
  });
});

describe('__transaction_state value', () => {
  it('version 0 golden bytes (non-flexible)', () => {
    const expected = [
      '00 00', // value version 0
      '00 00 00 00 00 00 03 e8', // ProducerId 1000
      '00 05', // ProducerEpoch 5
      '00 00 ea 60', // TransactionTimeoutMs 60000
      '01', // TransactionStatus 1 = Ongoing
      '00 00 00 02', // TransactionPartitions: 2 topics (int32 count)
      '00 06 6f 72 64 65 72 73', //   Topic "orders" (int16 length 6)
      '00 00 00 02', //   PartitionIds: 2 (int32 count)
      '00 00 00 00', //     0
      '00 00 00 02', //     2
      '00 03 70 61 79', //   Topic "pay"
      '00 00 00 01', //   PartitionIds: 1
      '00 00 00 01', //     1
      '00 00 01 8b cf e5 68 00', // TransactionLastUpdateTimestampMs 1700000000000
      '00 00 01 8b cf e5 40 f0', // TransactionStartTimestampMs 1699999990000
    ].join(' ');
    const encoded = encodeTransactionLogValue(ONGOING, 0);
    expect(hex(encoded)).toBe(expected);
    // Version 0 cannot carry the previous producer id or the client transaction version.
    expect(decodeTransactionLogValue('txn-1', encoded)).toEqual({
      ...ONGOING,
      previousProducerId: -1n,
      clientTransactionVersion: 0,
      partitions: [{ topic: 'orders', partition: 0 }, { topic: 'orders', partition: 2 }, { topic: 'pay', partition: 1 }],
    });
  });

  it('version 1 golden bytes (flexible, with tagged fields)', () => {
    const expected = [
      '00 01', // value version 1
      '00 00 00 00 00 00 03 e8', // ProducerId 1000
      '00 05', // ProducerEpoch 5
      '00 00 ea 60', // TransactionTimeoutMs 60000
      '01', // TransactionStatus Ongoing
      '03', // TransactionPartitions: compact array, 2 entries + 1
      '07 6f 72 64 65 72 73', //   Topic: compact string, length 6 + 1, "orders"
      '03', //   PartitionIds: compact array, 2 + 1
      '00 00 00 00', //     0
      '00 00 00 02', //     2
      '00', //   no tagged fields in the entry
      '04 70 61 79', //   Topic "pay" (3 + 1)
      '02', //   PartitionIds: 1 + 1
      '00 00 00 01', //     1
      '00', //   no tagged fields
      '00 00 01 8b cf e5 68 00', // TransactionLastUpdateTimestampMs
      '00 00 01 8b cf e5 40 f0', // TransactionStartTimestampMs
      '02', // 2 tagged fields (NextProducerId is its default -1, so it is left out)
      '00 08 00 00 00 00 00 00 03 e7', //   tag 0 PreviousProducerId, 8 bytes: 999
      '02 02 00 02', //   tag 2 ClientTransactionVersion, 2 bytes: 2
    ].join(' ');
    const encoded = encodeTransactionLogValue(ONGOING);
    expect(hex(encoded)).toBe(expected);
    expect(decodeTransactionLogValue('txn-1', encoded)).toEqual({
      ...ONGOING,
      partitions: [{ topic: 'orders', partition: 0 }, { topic: 'orders', partition: 2 }, { topic: 'pay', partition: 1 }],
    });
  });

  it('version 1 golden bytes: a PrepareCommit moving to a new producer id (tag 1)', () => {
    const m: TransactionMetadata = { ...ONGOING, state: 'PrepareCommit', producerEpoch: 32767, previousProducerId: 1000n, nextProducerId: 5000n, partitions: [{ topic: 't', partition: 0 }] };
    const expected = [
      '00 01', // version 1
      '00 00 00 00 00 00 03 e8', // ProducerId 1000
      '7f ff', // ProducerEpoch 32767
      '00 00 ea 60', // timeout
      '02', // PrepareCommit
      '02 02 74 02 00 00 00 00 00', // [{ "t", [0] }]: 1 + 1 entries, "t", 1 + 1 ids, 0, no tags
      '00 00 01 8b cf e5 68 00', // last update
      '00 00 01 8b cf e5 40 f0', // start
      '03', // 3 tagged fields
      '00 08 00 00 00 00 00 00 03 e8', //   PreviousProducerId 1000
      '01 08 00 00 00 00 00 00 13 88', //   NextProducerId 5000
      '02 02 00 02', //   ClientTransactionVersion 2
    ].join(' ');
    expect(hex(encodeTransactionLogValue(m))).toBe(expected);
    expect(decodeTransactionLogValue('txn-1', bytes(expected))).toEqual(m);
  });

  it('Empty has null partitions in both versions', () => {
    const empty: TransactionMetadata = { ...ONGOING, state: 'Empty', partitions: [], previousProducerId: -1n, clientTransactionVersion: 0, txnStartTimestamp: -1 };
    expect(hex(encodeTransactionLogValue(empty, 0))).toBe(
      '00 00 00 00 00 00 00 00 03 e8 00 05 00 00 ea 60 00 ff ff ff ff 00 00 01 8b cf e5 68 00 ff ff ff ff ff ff ff ff',
    );
    // v1: compact null array is 00, and no tagged field differs from its default.
    expect(hex(encodeTransactionLogValue(empty))).toBe('00 01 00 00 00 00 00 00 03 e8 00 05 00 00 ea 60 00 00 00 00 01 8b cf e5 68 00 ff ff ff ff ff ff ff ff 00');
    expect(decodeTransactionLogValue('txn-1', encodeTransactionLogValue(empty))).toEqual(empty);
    expect(() => encodeTransactionLogValue({ ...empty, partitions: [{ topic: 'a', partition: 0 }] })).toThrow(InvalidArgumentError);
  });

  it('ignores tagged fields it does not know (a newer Kafka) and the partitions of an Empty record, as Kafka does', () => {
    const withUnknownTag = bytes(
      '00 01 00 00 00 00 00 00 03 e8 00 05 00 00 ea 60 00 00 00 00 01 8b cf e5 68 00 ff ff ff ff ff ff ff ff ' +
        '01 05 02 00 07', // 1 tagged field: tag 5, 2 bytes
    );
    expect(decodeTransactionLogValue('txn-1', withUnknownTag)).toMatchObject({ state: 'Empty', producerId: 1000n });
    const emptyWithPartitions = bytes('00 00 00 00 00 00 00 00 03 e8 00 05 00 00 ea 60 00 00 00 00 01 00 01 61 00 00 00 01 00 00 00 03 00 00 01 8b cf e5 68 00 ff ff ff ff ff ff ff ff');
    expect(decodeTransactionLogValue('txn-1', emptyWithPartitions).partitions).toEqual([]);
  });
});

describe('records and tombstones', () => {
  it('a Dead transit is a tombstone: null value, which removes the id on replay', () => {
    const dead: TransactionMetadata = { ...ONGOING, state: 'Dead', partitions: [] };
    expect(encodeTransactionLogRecord(dead)).toEqual({ key: encodeTransactionLogKey('txn-1'), value: null });
    expect(() => encodeTransactionLogValue(dead)).toThrow(/tombstone/);
    expect(decodeTransactionLogRecord(encodeTransactionLogKey('txn-1'), null)).toEqual({ kind: 'tombstone', transactionalId: 'txn-1' });
    const records = [encodeTransactionLogRecord(ONGOING), encodeTransactionLogRecord({ ...ONGOING, transactionalId: 'txn-2' }), encodeTransactionLogRecord(dead)];
    const state = replayTransactionLog(records);
    expect([...state.keys()]).toEqual(['txn-2']);
  });

  it('replay: last value wins, unknown key versions are skipped, decoded metadata has lastProducerEpoch -1', () => {
    const first = { ...ONGOING, lastProducerEpoch: 4 };
    const second: TransactionMetadata = { ...ONGOING, state: 'PrepareCommit', producerEpoch: 6, lastProducerEpoch: 5 };
    const state = replayTransactionLog([
      encodeTransactionLogRecord(first),
      { key: bytes('00 07 00 01 61'), value: bytes('00') },
      encodeTransactionLogRecord(second),
    ]);
    expect(state.get('txn-1')).toEqual({ ...second, lastProducerEpoch: -1, partitions: [{ topic: 'orders', partition: 0 }, { topic: 'orders', partition: 2 }, { topic: 'pay', partition: 1 }] });
    expect(() => replayTransactionLog([{ key: null, value: null }])).toThrow(CorruptRecordError);
  });
});

describe('corrupt input', () => {
  const v1 = encodeTransactionLogValue(ONGOING);

  it('every truncation of a value is a CorruptRecordError', () => {
    for (let n = 0; n < v1.length; n++) expect(() => decodeTransactionLogValue('txn-1', v1.subarray(0, n)), `cut at ${n}`).toThrow(CorruptRecordError);
    for (let n = 0; n < 4; n++) expect(() => decodeTransactionLogKey(encodeTransactionLogKey('txn-1').subarray(0, n + 2))).toThrow(CorruptRecordError);
  });

  it('rejects trailing bytes, unknown versions and statuses, bad lengths and bad UTF-8 with a clear error', () => {
    expect(() => decodeTransactionLogValue('txn-1', new Uint8Array([...v1, 0]))).toThrow(/1 trailing bytes/);
    expect(() => decodeTransactionLogValue('txn-1', bytes('00 02 00'))).toThrow(/unknown value version 2/);
    const badStatus = v1.slice();
    badStatus[16] = 9;
    expect(() => decodeTransactionLogValue('txn-1', badStatus)).toThrow(/unknown transaction status 9/);
    const negative = encodeTransactionLogValue(ONGOING, 0).slice();
    negative.set([0xff, 0xff, 0xff, 0xfe], 17); // partition count -2
    expect(() => decodeTransactionLogValue('txn-1', negative)).toThrow(/negative partition array length/);
    expect(() => decodeTransactionLogKey(bytes('00 00 ff ff'))).toThrow(/null or negative string length/);
    expect(() => decodeTransactionLogKey(bytes('00 00 00 01 ff'))).toThrow(/not valid UTF-8/);
    const badTag = bytes('00 01 00 00 00 00 00 00 03 e8 00 05 00 00 ea 60 00 00 00 00 01 8b cf e5 68 00 ff ff ff ff ff ff ff ff 01 00 04 00 00 00 01');
    expect(() => decodeTransactionLogValue('txn-1', badTag)).toThrow(/tagged field 0 has 4 bytes, expected 8/);
    expect(() => decodeTransactionLogValue('txn-1', bytes('00 01 00 00 00 00 00 00 03 e8 00 05 00 00 ea 60 01 ff ff ff ff ff 01'))).toThrow(/varint/);
    try {
      decodeTransactionLogValue('orders-app', new Uint8Array([...v1, 0]));
      expect.unreachable();
    } catch (e) {
      expect(e).toBeInstanceOf(CorruptRecordError);
      expect((e as Error).message).toContain('orders-app');
      expect((e as CorruptRecordError).position).toBe(v1.length);
    }
  });
});

describe('round trips', () => {
  const partition = fc.record({ topic: fc.string({ minLength: 1, maxLength: 12 }), partition: fc.integer({ min: 0, max: 2 ** 31 - 1 }) });
  const metadata = fc
    .record({
      transactionalId: fc.string({ maxLength: 40 }),
      producerId: fc.bigInt({ min: 0n, max: 2n ** 63n - 1n }),
      previousProducerId: fc.oneof(fc.constant(-1n), fc.bigInt({ min: 0n, max: 2n ** 63n - 1n })),
      nextProducerId: fc.oneof(fc.constant(-1n), fc.bigInt({ min: 0n, max: 2n ** 63n - 1n })),
      producerEpoch: fc.integer({ min: -1, max: 32767 }),
      txnTimeoutMs: fc.integer({ min: 1, max: 2 ** 31 - 1 }),
      state: fc.constantFrom(...TRANSACTION_STATES.filter((s): s is Exclude<TransactionState, 'Dead'> => s !== 'Dead')),
      partitions: fc.array(partition, { maxLength: 8 }),
      txnStartTimestamp: fc.integer({ min: -1, max: 2 ** 45 }),
      txnLastUpdateTimestamp: fc.integer({ min: 0, max: 2 ** 45 }),
      clientTransactionVersion: fc.integer({ min: 0, max: 2 }),
    })
    .map((m): TransactionMetadata => ({ ...m, partitions: m.state === 'Empty' ? [] : m.partitions, lastProducerEpoch: -1, pendingState: undefined }));
  const normalised = (m: TransactionMetadata): TransactionMetadata => {
    const sorted = [...m.partitions].sort((a, b) => (a.topic < b.topic ? -1 : a.topic > b.topic ? 1 : a.partition - b.partition));
    return { ...m, partitions: sorted.filter((p, i) => i === 0 || p.topic !== sorted[i - 1]?.topic || p.partition !== sorted[i - 1]?.partition) };
  };

  test.prop([metadata])('version 1 keeps every field (lastProducerEpoch is not in the schema)', (m) => {
    const { key, value } = encodeTransactionLogRecord(m);
    expect(decodeTransactionLogRecord(key, value)).toEqual({ kind: 'metadata', transactionalId: m.transactionalId, metadata: normalised(m) });
  });

  test.prop([metadata])('version 0 keeps every field except the tagged ones', (m) => {
    const decoded = decodeTransactionLogValue(m.transactionalId, encodeTransactionLogValue(m, 0));
    expect(decoded).toEqual({ ...normalised(m), previousProducerId: -1n, nextProducerId: -1n, clientTransactionVersion: 0 });
  });

  test.prop([fc.uint8Array({ maxLength: 80 })])('arbitrary bytes decode or throw CorruptRecordError, never anything else', (b) => {
    for (const decode of [() => decodeTransactionLogValue('x', b), () => decodeTransactionLogKey(b)]) {
      try {
        decode();
      } catch (e) {
        expect(e).toBeInstanceOf(CorruptRecordError);
      }
    }
  });
});

describe('transactionStatePartitionFor: Kafka’s Utils.abs(transactionalId.hashCode) % partitions', () => {
  it('matches Java String.hashCode vectors', () => {
    expect(javaStringHashCode('')).toBe(0);
    expect(javaStringHashCode('a')).toBe(97);
    expect(javaStringHashCode('abc')).toBe(96354);
    expect(javaStringHashCode('ü')).toBe(252); // one UTF-16 unit
    expect(javaStringHashCode('日本')).toBe(835047); // 0x65e5 * 31 + 0x672c
    expect(javaStringHashCode('😀')).toBe(1772899); // surrogate pair 0xd83d * 31 + 0xde00
    expect(javaStringHashCode('polygenelubricants')).toBe(-2147483648); // Integer.MIN_VALUE
    expect(javaStringHashCode('orders-app-0')).toBe(-409570660);
  });

  it('uses Utils.abs (MIN_VALUE → 0, otherwise Math.abs), not toPositive (& 0x7fffffff)', () => {
    expect(transactionStatePartitionFor('', 50)).toBe(0);
    expect(transactionStatePartitionFor('abc', 50)).toBe(96354 % 50);
    expect(transactionStatePartitionFor('polygenelubricants', 50)).toBe(0);
    // Negative hash: abs gives 409570660 % 50 = 10, where & 0x7fffffff would give 1737912988 % 50 = 38.
    expect(transactionStatePartitionFor('orders-app-0', 50)).toBe(10);
    expect(transactionStatePartitionFor('orders-app-0', 1)).toBe(0);
    expect(() => transactionStatePartitionFor('x', 0)).toThrow(InvalidArgumentError);
    expect(() => transactionStatePartitionFor('x', 1.5)).toThrow(InvalidArgumentError);
  });

  test.prop([fc.string(), fc.integer({ min: 1, max: 1000 })])('is always a valid partition, and stable', (id, n) => {
    const p = transactionStatePartitionFor(id, n);
    expect(Number.isInteger(p) && p >= 0 && p < n).toBe(true);
    expect(transactionStatePartitionFor(id, n)).toBe(p);
  });
});
