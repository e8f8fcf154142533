/**
 * The aborted-transaction index (`.txnindex`): Kafka's AbortedTxn bytes, ports of Kafka's
 * TransactionIndexTest, the load-time sanity check, and a property test of the lookup against a
 * plain transcription of Kafka's `collectAbortedTxns` loop. Runs on both storages.
 */
import { fc, test } from '@fast-check/vitest';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { InvalidArgumentError } from '../../src/errors.ts';
import { MemoryStorage } from '../../src/log/storage/memoryStorage.ts';
import type { Storage } from '../../src/log/storage/storage.ts';
import { ABORTED_TXN_ENTRY_SIZE, decodeAbortedTxns, encodeAbortedTxns, TransactionIndex } from '../../src/log/transactionIndex.ts';
import type { AbortedTxn } from '../../src/log/transactionIndex.ts';
import { storageFixtures } from '../helpers/log.ts';

const txn = (producerId: bigint, firstOffset: bigint, lastOffset: bigint, lastStableOffset: bigint): AbortedTxn => ({ producerId, firstOffset, lastOffset, lastStableOffset });
const PATH = 'p/00000000000000000000.txnindex';

/** Kafka's `collectAbortedTxns`, transcribed literally: the reference the index is checked against. */
function kafkaCollect(entries: readonly AbortedTxn[], fetchOffset: bigint, upperBoundOffset: bigint): { abortedTransactions: AbortedTxn[]; isComplete: boolean } {
  const abortedTransactions: AbortedTxn[] = [];
  for (const t of entries) {
    if (t.lastOffset >= fetchOffset && t.firstOffset < upperBoundOffset) abortedTransactions.push(t);
    if (t.lastStableOffset >= upperBoundOffset) return { abortedTransactions, isComplete: true };
  }
  return { abortedTransactions, isComplete: false };
}

describe('AbortedTxn bytes', () => {
  it('are Kafka’s 34-byte big-endian layout: version int16 0, producerId, firstOffset, lastOffset, lastStableOffset', () => {
    const bytes = encodeAbortedTxns([txn(0x0102030405060708n, 5n, 0x10n, 0x7fffffffffffffffn)]);
    expect(ABORTED_TXN_ENTRY_SIZE).toBe(34);
    expect([...bytes]).toEqual([
      0, 0,
      1, 2, 3, 4, 5, 6, 7, 8,
      0, 0, 0, 0, 0, 0, 0, 5,
      0, 0, 0, 0, 0, 0, 0, 0x10,
      0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
    ]);
    expect(decodeAbortedTxns(bytes, 0n)).toEqual({ entries: [txn(0x0102030405060708n, 5n, 0x10n, 0x7fffffffffffffffn)], wholeBytes: 34 });
  });
});

describe.each(storageFixtures)('TransactionIndex on $name storage', (fixture) => {
  let storage: Storage;
  let cleanup: () => void;
  beforeEach(() => {
    ({ storage, cleanup } = fixture.make());
    storage.mkdir('p');
  });
  afterEach(() => cleanup());

  const abortedTransactions = [txn(0n, 0n, 10n, 11n), txn(1n, 5n, 15n, 13n), txn(2n, 18n, 35n, 25n), txn(3n, 32n, 50n, 40n)];

  it('collects aborted transactions as Kafka’s TransactionIndexTest.testCollectAbortedTransactions', () => {
    const index = TransactionIndex.create(storage, PATH, 0n);
    abortedTransactions.forEach((t) => index.append(t));
    expect(index.collectAbortedTxns(0n, 100n)).toEqual({ abortedTransactions, isComplete: false });
    expect(index.collectAbortedTxns(0n, 32n)).toEqual({ abortedTransactions: abortedTransactions.slice(0, 3), isComplete: true });
    expect(index.collectAbortedTxns(0n, 35n)).toEqual({ abortedTransactions, isComplete: true });
    expect(index.collectAbortedTxns(10n, 35n)).toEqual({ abortedTransactions, isComplete: true });
    expect(index.collectAbortedTxns(11n, 35n)).toEqual({ abortedTransactions: abortedTransactions.slice(1, 4), isComplete: true });
    expect(index.collectAbortedTxns(20n, 41n)).toEqual({ abortedTransactions: abortedTransactions.slice(2, 4), isComplete: false });
  });

  it('truncates as Kafka’s TransactionIndexTest.testTruncate, on disk too', () => {
    const entries = [txn(0n, 0n, 10n, 2n), txn(1n, 5n, 15n, 16n), txn(2n, 18n, 35n, 25n), txn(3n, 32n, 50n, 40n)];
    const index = TransactionIndex.create(storage, PATH, 0n);
    entries.forEach((t) => index.append(t));
    index.truncateTo(51n);
    expect(index.collectAbortedTxns(0n, 100n).abortedTransactions).toEqual(entries);
    index.truncateTo(50n);
    expect(index.collectAbortedTxns(0n, 100n).abortedTransactions).toEqual(entries.slice(0, 3));
    expect(storage.readFile(PATH)).toEqual(encodeAbortedTxns(entries.slice(0, 3)));
    expect(TransactionIndex.load(storage, PATH, 0n).index.entries).toEqual(entries.slice(0, 3));
    index.reset();
    expect(index.collectAbortedTxns(0n, 100n).abortedTransactions).toEqual([]);
    expect(storage.exists(PATH)).toBe(false);
  });

  it('creates its file with the first entry, appends 34 bytes per entry, and reloads them', async () => {
    const index = TransactionIndex.create(storage, PATH, 0n);
    expect(storage.exists(PATH)).toBe(false);
    index.append(abortedTransactions[0]!);
    index.append(abortedTransactions[1]!);
    expect(storage.readFile(PATH)).toEqual(encodeAbortedTxns(abortedTransactions.slice(0, 2)));
    await index.sync();
    index.syncNow();
    expect(TransactionIndex.load(storage, PATH, 0n)).toEqual({ index: expect.any(TransactionIndex) });
    expect(TransactionIndex.load(storage, PATH, 0n).index.entries).toEqual(abortedTransactions.slice(0, 2));
    index.delete();
    expect(storage.exists(PATH)).toBe(false);
    expect(index.entries).toEqual([]);
  });

  it('refuses entries whose last offset does not increase or lies below the segment', () => {
    const index = TransactionIndex.create(storage, 'p/00000000000000000020.txnindex', 20n);
    index.append(txn(1n, 5n, 25n, 26n));
    expect(() => index.append(txn(2n, 21n, 25n, 26n))).toThrow(InvalidArgumentError);
    expect(() => index.append(txn(2n, 21n, 24n, 26n))).toThrow(/must increase/);
    const fresh = TransactionIndex.create(storage, 'p/00000000000000000030.txnindex', 30n);
    expect(() => fresh.append(txn(2n, 1n, 29n, 30n))).toThrow(/does not end in the segment starting at 30/);
    expect(() => fresh.append(txn(2n, 40n, 35n, 36n))).toThrow(InvalidArgumentError);
    expect(index.entries).toHaveLength(1);
    expect(storage.readFile('p/00000000000000000020.txnindex')).toHaveLength(34);
  });

  it('cuts a torn partial last entry off the file when loading', () => {
    const whole = encodeAbortedTxns(abortedTransactions);
    storage.writeFileAtomic(PATH, whole.subarray(0, whole.length - 5));
    const { index, problem } = TransactionIndex.load(storage, PATH, 0n);
    expect(problem).toBeUndefined();
    expect(index.entries).toEqual(abortedTransactions.slice(0, 3));
    expect(storage.readFile(PATH)).toEqual(encodeAbortedTxns(abortedTransactions.slice(0, 3)));
    // Appending continues right after the whole entries.
    index.append(abortedTransactions[3]!);
    expect(storage.readFile(PATH)).toEqual(whole);
  });

  it('treats a bad version, an entry below the segment, or out-of-order entries as corruption: empty, file removed', () => {
    const cases: Array<[Uint8Array, bigint, RegExp]> = [];
    const badVersion = encodeAbortedTxns(abortedTransactions);
    badVersion[ABORTED_TXN_ENTRY_SIZE * 2 + 1] = 1;
    cases.push([badVersion, 0n, /entry 2 has version 1/]);
    cases.push([encodeAbortedTxns(abortedTransactions), 11n, /below the segment's base offset 11/]); // Kafka's sanityCheck
    cases.push([encodeAbortedTxns([abortedTransactions[1]!, abortedTransactions[0]!]), 0n, /not above the previous/]);
    cases.push([encodeAbortedTxns([txn(1n, 20n, 10n, 11n)]), 0n, /inconsistent/]);
    for (const [bytes, start, reason] of cases) {
      storage.writeFileAtomic(PATH, bytes);
      const { index, problem } = TransactionIndex.load(storage, PATH, start);
      expect(problem).toMatch(reason);
      expect(index.entries).toEqual([]);
      expect(storage.exists(PATH)).toBe(false);
    }
  });
});

describe('collectAbortedTxns model', () => {
  const entriesArb = fc
    .array(fc.record({ pid: fc.bigInt({ min: 0n, max: 5n }), len: fc.bigInt({ min: 0n, max: 20n }), gap: fc.bigInt({ min: 1n, max: 10n }), lsoBack: fc.bigInt({ min: -3n, max: 25n }) }), { maxLength: 30 })
    .map((raw) => {
      let last = 0n;
      return raw.map((r) => {
        last += r.gap;
        const first = last - r.len < 0n ? 0n : last - r.len;
        const lso = last + 1n - r.lsoBack < 0n ? 0n : last + 1n - r.lsoBack;
        return txn(r.pid, first, last, lso);
      });
    });
  test.prop([entriesArb, fc.bigInt({ min: 0n, max: 350n }), fc.bigInt({ min: 0n, max: 350n })], { numRuns: 300 })('equals Kafka’s linear scan for any range', (entries, fetchOffset, upperBound) => {
    const storage = new MemoryStorage();
    storage.mkdir('p');
    const index = TransactionIndex.create(storage, PATH, 0n);
    entries.forEach((e) => index.append(e));
    expect(index.collectAbortedTxns(fetchOffset, upperBound)).toEqual(kafkaCollect(entries, fetchOffset, upperBound));
  });
});
