import { fc, test } from '@fast-check/vitest';
import { describe, expect, it } from 'vitest';
import { CorruptRecordError } from '../../src/errors.ts';
import { encodeRecordBatch, readBatchHeader, LOG_OVERHEAD } from '../../src/record/recordBatch.ts';
import { MemoryStorage } from '../../src/log/storage/memoryStorage.ts';
import type { Storage, StorageFile } from '../../src/log/storage/storage.ts';
import { decodeAll, openLog, storageFixtures } from '../helpers/log.ts';

/** A batch of `count` records with values of `size` bytes (small batches are collected by the memory storage, large ones kept whole). */
function batch(count: number, size: number, seed: number): Uint8Array {
  return encodeRecordBatch({ records: Array.from({ length: count }, (_, i) => ({ timestamp: 1_000 + i, key: null, value: new Uint8Array(size).fill((seed + i) & 0xff) })) });
}

const same = (a: Uint8Array, b: Uint8Array): boolean => Buffer.compare(a, b) === 0;

/** Whether `run` is whole batches back to back. */
function wholeBatches(run: Uint8Array): boolean {
  let p = 0;
  while (p < run.length) {
    if (run.length - p < LOG_OVERHEAD) return false;
    p += readBatchHeader(run, p).batchLength + LOG_OVERHEAD;
  }
  return p === run.length;
}

/**
 * Memory storage whose `readViews` cuts every answer into pieces of 1..97 bytes, so batches and
 * even batch headers straddle views (the memory storage never splits a batch itself).
 */
class SplittingStorage extends MemoryStorage {
  override open(path: string, options?: { create?: boolean }): StorageFile {
    const file = super.open(path, options);
    let cut = 0;
    return Object.assign(Object.create(file) as StorageFile, {
      readViews(position: number, length: number): Uint8Array[] {
        const whole = file.read(position, length);
        const views: Uint8Array[] = [];
        for (let at = 0; at < whole.length; ) {
          const take = Math.min(whole.length - at, 1 + ((cut++ * 37) % 97));
          views.push(whole.subarray(at, at + take));
          at += take;
        }
        return views;
      },
    });
  }
}

const fixtures: Array<{ name: string; make(): { storage: Storage; cleanup(): void } }> = [...storageFixtures, { name: 'splitting', make: () => ({ storage: new SplittingStorage(), cleanup: () => {} }) }];

describe.each(fixtures)('readViews on $name storage', (fixture) => {
  test.prop(
    [
      fc.array(fc.record({ count: fc.integer({ min: 1, max: 40 }), size: fc.constantFrom(10, 100, 400) }), { minLength: 1, maxLength: 40 }),
      fc.array(fc.record({ at: fc.double({ min: 0, max: 1, noNaN: true }), maxBytes: fc.integer({ min: 0, max: 60_000 }), bound: fc.double({ min: 0, max: 1.2, noNaN: true }), minOneBatch: fc.boolean() }), { minLength: 1, maxLength: 12 }),
    ],
    { numRuns: 25 },
  )('returns exactly the bytes read() does, as runs of whole batches', (batches, reads) => {
    const { storage, cleanup } = fixture.make();
    try {
      // Small segments so reads meet segment ends too.
      const { log } = openLog(storage, { 'segment.bytes': 64 * 1024 });
      batches.forEach((b, i) => log.append(batch(b.count, b.size, i)));
      const end = Number(log.logEndOffset);
      for (const r of reads) {
        const from = BigInt(Math.floor(r.at * end));
        const options = { maxBytes: r.maxBytes, maxOffset: BigInt(Math.floor(r.bound * end)), minOneBatch: r.minOneBatch };
        const copy = log.read(from, options);
        const views = log.readViews(from, options);
        expect(views.logEndOffset).toBe(copy.logEndOffset);
        expect(views.logStartOffset).toBe(copy.logStartOffset);
        expect(views.records.every((run) => run.length > 0 && wholeBatches(run))).toBe(true);
        expect(same(Buffer.concat(views.records), copy.records)).toBe(true);
      }
    } finally {
      cleanup();
    }
  });

  it('feeds a follower that ends byte-identical to the leader', () => {
    const { storage, cleanup } = fixture.make();
    const followerStorage = new MemoryStorage();
    try {
      const { log: leader } = openLog(storage, { 'segment.bytes': 32 * 1024 });
      for (let i = 0; i < 60; i++) leader.append(batch(1 + (i % 13), i % 3 === 0 ? 400 : 20, i));
      const { log: follower } = openLog(followerStorage, { 'segment.bytes': 32 * 1024 });
      while (follower.logEndOffset < leader.logEndOffset) {
        const { records } = leader.readViews(follower.logEndOffset, { maxBytes: 50_000 });
        follower.appendAsFollower(records);
      }
      expect(same(Buffer.concat(follower.readViews(0n, { maxBytes: 1 << 30 }).records), Buffer.concat(leader.readViews(0n, { maxBytes: 1 << 30 }).records))).toBe(true);
      expect(decodeAll(follower.read(0n, { maxBytes: 1 << 30 }).records).length).toBe(decodeAll(leader.read(0n, { maxBytes: 1 << 30 }).records).length);
    } finally {
      cleanup();
    }
  });
});

describe('readViews on memory storage', () => {
  it('hands out the appended buffers themselves, and they outlive truncation and new appends', () => {
    const { log } = openLog(new MemoryStorage());
    const big = batch(50, 100, 1);
    log.append(big);
    log.append(batch(50, 100, 2));
    const before = log.readViews(0n, { maxBytes: 1 << 20 }).records;
    expect(before[0]?.buffer).toBe(big.buffer);
    const bytes = Buffer.concat(before);
    log.truncateTo(50n);
    log.append(batch(50, 100, 3));
    expect(same(Buffer.concat(before), bytes)).toBe(true);
    expect(decodeAll(log.read(50n).records)[0]?.value).toBe(String.fromCharCode(3).repeat(100));
  });

  it('a follower given runs with a corrupt batch writes nothing', () => {
    const { log: leader } = openLog(new MemoryStorage());
    for (let i = 0; i < 4; i++) leader.append(batch(40, 100, i));
    const runs = leader.readViews(0n, { maxBytes: 1 << 20 }).records.map((r) => r.slice());
    const last = runs[runs.length - 1] as Uint8Array;
    last[last.length - 1] = (last[last.length - 1] as number) ^ 0xff;
    const { log: follower } = openLog(new MemoryStorage());
    expect(() => follower.appendAsFollower(runs)).toThrow(CorruptRecordError);
    expect(follower.logEndOffset).toBe(0n);
  });
});
