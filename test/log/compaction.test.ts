import { fc, test } from '@fast-check/vitest';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { SimulatedClock } from '../../src/clock.ts';
import { PartitionLog } from '../../src/log/partitionLog.ts';
import { MemoryStorage } from '../../src/log/storage/memoryStorage.ts';
import type { Storage } from '../../src/log/storage/storage.ts';
import { batchOf, openLog, readAll, storageFixtures } from '../helpers/log.ts';
import type { TestRecord } from '../helpers/log.ts';

const compactConfig = { 'cleanup.policy': 'compact', 'segment.bytes': 400, 'min.cleanable.dirty.ratio': 0.01, 'delete.retention.ms': 10_000 };

describe.each(storageFixtures)('compaction on $name storage', (fixture) => {
  let storage: Storage;
  let cleanup: () => void;
  beforeEach(() => {
    ({ storage, cleanup } = fixture.make());
  });
  afterEach(() => cleanup());

  it('keeps the latest value per key with offsets and order unchanged', () => {
    const { log } = openLog(storage, compactConfig);
    const writes: TestRecord[] = [];
    for (let i = 0; i < 60; i++) writes.push({ key: `k${i % 5}`, value: `v${i}` });
    for (let i = 0; i < writes.length; i += 3) log.append(batchOf(writes.slice(i, i + 3)));
    const before = readAll(log);
    const result = log.clean();
    expect(result.cleaned).toBe(true);
    expect(result.recordsRemoved).toBeGreaterThan(0);
    const after = readAll(log);
    // Offsets are a subsequence of the originals, values unchanged at each surviving offset.
    const byOffset = new Map(before.map((r) => [r.offset, r]));
    for (const r of after) expect(byOffset.get(r.offset)).toEqual(r);
    expect(after.map((r) => r.offset)).toEqual([...after.map((r) => r.offset)].sort((a, b) => (a < b ? -1 : 1)));
    // The active segment is untouched, and every key's latest write survives.
    const lastByKey = new Map(before.map((r) => [r.key, r]));
    for (const r of lastByKey.values()) expect(after).toContainEqual(r);
    expect(log.logEndOffset).toBe(60n);
    // Reading from a removed offset returns the next existing one.
    const removed = before.find((r) => !after.some((a) => a.offset === r.offset));
    expect(removed).toBeDefined();
    const next = after.find((r) => r.offset > (removed as { offset: bigint }).offset);
    const { records } = log.read((removed as { offset: bigint }).offset);
    expect(records.length).toBeGreaterThan(0);
    expect(next).toBeDefined();
  });

  it('does nothing below min.cleanable.dirty.ratio unless forced, and never touches the active segment', () => {
    const { log } = openLog(storage, { ...compactConfig, 'min.cleanable.dirty.ratio': 0.99 });
    for (let i = 0; i < 30; i++) log.append(batchOf([{ key: 'same', value: `v${i}` }]));
    const first = log.clean();
    expect(first.cleaned).toBe(true); // everything is dirty at first: ratio 1.0
    for (let i = 30; i < 40; i++) log.append(batchOf([{ key: 'same', value: `v${i}` }]));
    const second = log.clean();
    expect(second.cleaned).toBe(false);
    expect(second.reason).toMatch(/min\.cleanable\.dirty\.ratio/);
    expect(log.clean({ force: true }).cleaned).toBe(true);
    const active = log.segmentInfos().at(-1) as { baseOffset: bigint };
    expect(readAll(log).filter((r) => r.offset >= active.baseOffset).length).toBe(Number(log.logEndOffset - active.baseOffset));
  });

  it('never cleans at or past the upper bound (high watermark)', () => {
    const { log } = openLog(storage, compactConfig);
    for (let i = 0; i < 40; i++) log.append(batchOf([{ key: 'same', value: `v${i}` }]));
    const result = log.clean({ upperBoundOffset: 0n });
    expect(result.cleaned).toBe(false);
    expect(readAll(log)).toHaveLength(40);
  });

  it('keeps tombstones for delete.retention.ms after first cleaning, then removes them', () => {
    const { log, clock } = openLog(storage, compactConfig);
    log.append(batchOf([{ key: 'a', value: '1' }, { key: 'b', value: '1' }]));
    log.append(batchOf([{ key: 'a', value: null }]));
    for (let i = 0; i < 20; i++) log.append(batchOf([{ key: `filler${i}`, value: 'x'.repeat(20) }]));
    log.clean({ force: true });
    let records = readAll(log);
    expect(records.find((r) => r.key === 'a')).toMatchObject({ value: null });
    expect(records.filter((r) => r.key === 'a')).toHaveLength(1);
    clock.advance(9_999);
    log.clean({ force: true });
    expect(readAll(log).find((r) => r.key === 'a')).toMatchObject({ value: null });
    clock.advance(2);
    const result = log.clean({ force: true });
    expect(result.tombstonesRemoved).toBe(1);
    records = readAll(log);
    expect(records.find((r) => r.key === 'a')).toBeUndefined();
    expect(records.find((r) => r.key === 'b')).toMatchObject({ value: '1' });
  });

  it('survives restart after cleaning and with compact,delete also applies retention', async () => {
    const { log, clock } = openLog(storage, { ...compactConfig, 'cleanup.policy': 'compact,delete', 'retention.ms': 50_000 });
    for (let i = 0; i < 40; i++) log.append(batchOf([{ key: `k${i % 4}`, value: `v${i}`, timestamp: 1_000_000 + i }]));
    log.clean();
    const after = readAll(log);
    await log.close();
    const reopened = PartitionLog.open({ storage, dir: 'topic-0', config: { ...compactConfig, 'cleanup.policy': 'compact,delete', 'retention.ms': 50_000 }, clock });
    expect(readAll(reopened)).toEqual(after);
    clock.advance(100_000);
    expect(reopened.deleteOldSegments()).toBeGreaterThan(0);
    await reopened.close();
  });
});

describe('compaction model', () => {
  // Model: the compacted log reads as the map of last writes per key (tombstones included until
  // their horizon passes), offsets a subsequence of the originals, in order.
  test.prop(
    [
      fc.array(
        fc.record({ key: fc.constantFrom('a', 'b', 'c', 'd', 'e', 'f', 'g', 'h'), value: fc.option(fc.string({ maxLength: 12 }), { freq: 5 }) }),
        { minLength: 1, maxLength: 150 },
      ),
      fc.integer({ min: 1, max: 6 }),
      fc.integer({ min: 200, max: 800 }),
    ],
    { numRuns: 60 },
  )('compacted log = last write per key', (writes, perBatch, segmentBytes) => {
    const storage = new MemoryStorage();
    const clock = new SimulatedClock(1_000_000);
    const log = PartitionLog.open({ storage, dir: 't-0', clock, config: { 'cleanup.policy': 'compact', 'segment.bytes': segmentBytes, 'min.cleanable.dirty.ratio': 0.01, 'delete.retention.ms': 1000 } });
    const records = writes.map((w) => ({ key: w.key, value: w.value }));
    for (let i = 0; i < records.length; i += perBatch) log.append(batchOf(records.slice(i, i + perBatch)));
    const before = readAll(log);
    log.roll();
    log.clean({ force: true });
    const after = readAll(log);
    const lastByKey = new Map(before.map((r) => [r.key, r]));
    expect(after).toEqual([...lastByKey.values()].sort((x, y) => (x.offset < y.offset ? -1 : 1)));
    // After the delete horizon, tombstones go too.
    clock.advance(1001);
    log.clean({ force: true });
    expect(readAll(log)).toEqual([...lastByKey.values()].filter((r) => r.value !== null).sort((x, y) => (x.offset < y.offset ? -1 : 1)));
    expect(log.logEndOffset).toBe(BigInt(records.length));
    // And a restart reads the same.
    const expected = readAll(log);
    log.abandon();
    const reopened = PartitionLog.open({ storage, dir: 't-0', clock, config: { 'cleanup.policy': 'compact', 'segment.bytes': segmentBytes } });
    expect(readAll(reopened)).toEqual(expected);
  });
});
