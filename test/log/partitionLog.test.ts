import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { SimulatedClock } from '../../src/clock.ts';
import { ClosedError, CorruptRecordError, InvalidConfigError, InvalidRecordError, OffsetOutOfRangeError, RecordTooLargeError } from '../../src/errors.ts';
import { EARLIEST_TIMESTAMP, LATEST_TIMESTAMP, MAX_TIMESTAMP, PartitionLog } from '../../src/log/partitionLog.ts';
import { readBatchHeader, LOG_OVERHEAD } from '../../src/record/recordBatch.ts';
import { encodeTransactionMarker } from '../../src/record/controlRecords.ts';
import type { Storage } from '../../src/log/storage/storage.ts';
import { batchOf, decodeAll, numbered, openLog, readAll, storageFixtures } from '../helpers/log.ts';

describe.each(storageFixtures)('partition log on $name storage', (fixture) => {
  let storage: Storage;
  let cleanup: () => void;
  beforeEach(() => {
    ({ storage, cleanup } = fixture.make());
  });
  afterEach(() => cleanup());

  it('assigns dense, monotonic offsets and returns them per append', () => {
    const { log } = openLog(storage);
    expect(log.append(batchOf(numbered(3)))).toMatchObject({ firstOffset: 0n, lastOffset: 2n, recordCount: 3, batchCount: 1 });
    expect(log.append(batchOf(numbered(2, 3)))).toMatchObject({ firstOffset: 3n, lastOffset: 4n });
    const two = new Uint8Array([...batchOf(numbered(1, 5)), ...batchOf(numbered(4, 6))]);
    expect(log.append(two)).toMatchObject({ firstOffset: 5n, lastOffset: 9n, batchCount: 2 });
    expect(log.logEndOffset).toBe(10n);
    expect(readAll(log).map((r) => [r.offset, r.key])).toEqual(Array.from({ length: 10 }, (_, i) => [BigInt(i), `k${i}`]));
  });

  it('serves the stored bytes as they are, starting with the batch that holds the offset', () => {
    const { log } = openLog(storage);
    const first = batchOf(numbered(5));
    const second = batchOf(numbered(5, 5));
    log.append(first);
    log.append(second);
    // `append` stamped the caller's buffers with offsets; the log serves exactly those bytes.
    expect(log.read(0n).records).toEqual(new Uint8Array([...first, ...second]));
    expect(log.read(7n).records).toEqual(second);
    expect(readBatchHeader(log.read(4n).records).baseOffset).toBe(0n);
  });

  it('respects maxBytes with at least one whole batch, and never returns batches at or past maxOffset', () => {
    const { log } = openLog(storage);
    const sizes: number[] = [];
    for (let i = 0; i < 5; i++) {
      const b = batchOf(numbered(10, i * 10));
      sizes.push(b.length);
      log.append(b);
    }
    const one = sizes[0] as number;
    expect(log.read(0n, { maxBytes: 1 }).records.length).toBe(one);
    expect(log.read(0n, { maxBytes: 1, minOneBatch: false }).records.length).toBe(0);
    const two = one + (sizes[1] as number);
    expect(log.read(0n, { maxBytes: two + 5 }).records.length).toBe(two);
    expect(decodeAll(log.read(0n, { maxOffset: 30n }).records).map((r) => r.offset).at(-1)).toBe(29n);
    expect(log.read(0n, { maxOffset: 25n }).records.length).toBe(two);
    expect(log.read(30n, { maxOffset: 30n }).records.length).toBe(0);
    expect(log.read(50n).records.length).toBe(0);
  });

  it('answers OFFSET_OUT_OF_RANGE below the log start and above the log end', () => {
    const { log } = openLog(storage);
    log.append(batchOf(numbered(3)));
    expect(() => log.read(4n)).toThrow(OffsetOutOfRangeError);
    log.deleteRecordsBefore(2n);
    const error = (() => {
      try {
        log.read(1n);
      } catch (e) {
        return e;
      }
    })();
    expect(error).toBeInstanceOf(OffsetOutOfRangeError);
    expect(error).toMatchObject({ code: 'OFFSET_OUT_OF_RANGE', errorCode: 1, logStartOffset: 2n, logEndOffset: 3n });
    expect(decodeAll(log.read(2n).records).map((r) => r.offset)).toEqual([0n, 1n, 2n]); // whole batch, the consumer skips below its position
  });

  it('names segments by 20-digit base offset and rolls on segment.bytes', () => {
    const { log } = openLog(storage, { 'segment.bytes': 400 });
    for (let i = 0; i < 20; i++) log.append(batchOf(numbered(5, i * 5)));
    const segments = log.segmentInfos();
    expect(segments.length).toBeGreaterThan(3);
    for (const s of segments) expect(s.sizeBytes).toBeLessThanOrEqual(400);
    const files = storage.list('topic-0').filter((f) => f.endsWith('.log'));
    expect(files[0]).toBe('00000000000000000000.log');
    expect(files).toEqual(segments.map((s) => `${s.baseOffset.toString().padStart(20, '0')}.log`));
    expect(readAll(log).map((r) => r.offset)).toEqual(Array.from({ length: 100 }, (_, i) => BigInt(i)));
  });

  it('writes a sparse index entry every index.interval.bytes and looks offsets up through it', async () => {
    const { log } = openLog(storage, { 'index.interval.bytes': 200 });
    for (let i = 0; i < 50; i++) log.append(batchOf(numbered(3, i * 3)));
    await log.close();
    const indexBytes = storage.readFile('topic-0/00000000000000000000.index');
    expect(indexBytes.length % 8).toBe(0);
    expect(indexBytes.length / 8).toBeGreaterThan(5);
    const reopened = PartitionLog.open({ storage, dir: 'topic-0', config: { 'index.interval.bytes': 200 }, clock: new SimulatedClock() });
    for (const offset of [0n, 1n, 44n, 100n, 149n]) {
      const header = readBatchHeader(reopened.read(offset).records);
      expect(header.baseOffset).toBe((offset / 3n) * 3n);
    }
    await reopened.close();
  });

  it('rolls on segment.ms measured from the first batch timestamp', () => {
    const { log } = openLog(storage, { 'segment.ms': 1000 });
    log.append(batchOf(numbered(1), { timestamp: 10_000 }));
    log.append(batchOf(numbered(1, 1), { timestamp: 10_900 }));
    expect(log.segmentInfos().length).toBe(1);
    log.append(batchOf(numbered(1, 2), { timestamp: 11_001 }));
    expect(log.segmentInfos().map((s) => s.baseOffset)).toEqual([0n, 2n]);
  });

  it('finds offsets by timestamp as ListOffsets does', () => {
    const { log } = openLog(storage, { 'segment.bytes': 600, 'index.interval.bytes': 100 });
    for (let i = 0; i < 30; i++) log.append(batchOf([{ key: `k${i}`, value: 'x', timestamp: 1000 + i * 10 }, { key: `j${i}`, value: 'y', timestamp: 1005 + i * 10 }]));
    expect(log.segmentInfos().length).toBeGreaterThan(2);
    expect(log.offsetForTimestamp(EARLIEST_TIMESTAMP)?.offset).toBe(0n);
    expect(log.offsetForTimestamp(LATEST_TIMESTAMP)?.offset).toBe(60n);
    expect(log.offsetForTimestamp(0)).toEqual({ offset: 0n, timestamp: 1000 });
    expect(log.offsetForTimestamp(1005)).toEqual({ offset: 1n, timestamp: 1005 });
    expect(log.offsetForTimestamp(1006)).toEqual({ offset: 2n, timestamp: 1010 });
    expect(log.offsetForTimestamp(1200)).toEqual({ offset: 40n, timestamp: 1200 });
    expect(log.offsetForTimestamp(1295)).toEqual({ offset: 59n, timestamp: 1295 });
    expect(log.offsetForTimestamp(1296)).toBeUndefined();
    expect(log.offsetForTimestamp(MAX_TIMESTAMP)).toEqual({ offset: 59n, timestamp: 1295 });
  });

  it('truncates to an offset, removing the whole batch that contains it', () => {
    const { log } = openLog(storage, { 'segment.bytes': 500 });
    for (let i = 0; i < 10; i++) log.append(batchOf(numbered(4, i * 4)));
    log.truncateTo(22n);
    expect(log.logEndOffset).toBe(20n);
    expect(readAll(log).at(-1)?.offset).toBe(19n);
    log.append(batchOf(numbered(2, 100)));
    expect(readAll(log).slice(-2).map((r) => [r.offset, r.key])).toEqual([
      [20n, 'k100'],
      [21n, 'k101'],
    ]);
    log.truncateTo(0n);
    expect(log.logEndOffset).toBe(0n);
    expect(log.segmentInfos().length).toBe(1);
  });

  it('truncating at or past the log end still drops epochs that start at the log end (a leader that wrote nothing)', async () => {
    const { log } = openLog(storage);
    log.append(batchOf(numbered(3)), { leaderEpoch: 0 });
    // Elected for epoch 2, this replica assigned it at its log end, then lost leadership before writing.
    log.assignEpochStartOffset(2, log.logEndOffset);
    expect(log.leaderEpochCache.latestEpoch()).toBe(2);
    log.truncateTo(log.logEndOffset);
    expect(log.leaderEpochCache.latestEpoch()).toBe(0);
    expect(log.logEndOffset).toBe(3n);
    log.assignEpochStartOffset(4, 3n);
    log.truncateTo(10n);
    expect(log.leaderEpochCache.latestEpoch()).toBe(0);
    // The checkpoint on disk agrees: a restart brings no dropped epoch back.
    await log.close();
    const { log: reopened } = openLog(storage);
    expect(reopened.leaderEpochCache.latestEpoch()).toBe(0);
    await reopened.close();
  });

  it('stamps broker time into batches of a LogAppendTime topic', () => {
    const { log, clock } = openLog(storage, { 'message.timestamp.type': 'LogAppendTime' });
    clock.set(5_000_000);
    const info = log.append(batchOf(numbered(2), { timestamp: 42 }));
    expect(info.logAppendTime).toBe(5_000_000);
    expect(decodeAll(log.read(0n).records).map((r) => r.timestamp)).toEqual([5_000_000, 5_000_000]);
  });

  describe('bad input', () => {
    it('refuses a batch over max.message.bytes and leaves the log as it was', () => {
      const { log } = openLog(storage, { 'max.message.bytes': 200 });
      log.append(batchOf(numbered(1)));
      const big = batchOf([{ key: 'k', value: 'x'.repeat(500) }]);
      expect(() => log.append(big)).toThrow(RecordTooLargeError);
      expect(() => log.append(big)).toThrow(/max\.message\.bytes=200/);
      expect(log.logEndOffset).toBe(1n);
      expect(readAll(log).length).toBe(1);
    });

    it('refuses corrupt bytes (bad CRC, truncated batch, trailing garbage) and writes nothing', () => {
      const { log } = openLog(storage);
      const good = batchOf(numbered(2));
      const flipped = good.slice();
      flipped[70] = (flipped[70] as number) ^ 0xff;
      expect(() => log.append(new Uint8Array([...batchOf(numbered(1)), ...flipped]))).toThrow(CorruptRecordError);
      expect(() => log.append(good.subarray(0, good.length - 1))).toThrow(CorruptRecordError);
      expect(() => log.append(new Uint8Array([...good, 1, 2, 3]))).toThrow(CorruptRecordError);
      expect(log.logEndOffset).toBe(0n);
      expect(log.sizeInBytes).toBe(0);
    });

    it('refuses control batches from clients and keyless records on compacted topics', () => {
      const { log } = openLog(storage, { 'cleanup.policy': 'compact' });
      const marker = encodeTransactionMarker({ result: 'COMMIT', coordinatorEpoch: 0, producerId: 1n, producerEpoch: 0, timestamp: 1 });
      expect(() => log.append(marker)).toThrow(InvalidRecordError);
      expect(() => log.append(batchOf([{ key: null, value: 'v' }]))).toThrow(/cannot accept a record without a key/);
      expect(log.append(marker, { origin: 'coordinator' }).lastOffset).toBe(0n);
    });

    it('rejects invalid config values with the key and what is expected', () => {
      expect(() => openLog(storage, { 'segment.bytes': 'lots' })).toThrow(InvalidConfigError);
      expect(() => openLog(storage, { 'retention.msx': 5 })).toThrow(/retention\.ms/);
    });

    it('refuses to open a directory it did not write, touching nothing', () => {
      storage.mkdir('precious');
      const f = storage.open('precious/notes.txt', { create: true });
      f.append(new TextEncoder().encode('do not delete'));
      f.close();
      expect(() => PartitionLog.open({ storage, dir: 'precious' })).toThrow(/not a samsa log directory/);
      expect(storage.list('precious')).toEqual(['notes.txt']);
      expect(new TextDecoder().decode(storage.readFile('precious/notes.txt'))).toBe('do not delete');
    });

    it('throws ClosedError after close', async () => {
      const { log } = openLog(storage);
      await log.close();
      expect(() => log.append(batchOf(numbered(1)))).toThrow(ClosedError);
    });
  });

  describe('retention', () => {
    it('deletes whole segments by segment max timestamp, oldest first, never past the high watermark', () => {
      const { log, clock } = openLog(storage, { 'segment.bytes': 300, 'retention.ms': 10_000 });
      for (let i = 0; i < 12; i++) log.append(batchOf(numbered(2, i * 2), { timestamp: 1_050_000 + i * 1000 }));
      const before = log.segmentInfos();
      expect(before.length).toBeGreaterThan(3);
      clock.set(1_000_000 + 50_000 + 5 * 1000 + 10_001); // segments whose max timestamp ≤ 55 000 are expired
      expect(log.deleteOldSegments(0n)).toBe(0); // HW 0 protects everything
      const deleted = log.deleteOldSegments(log.logEndOffset);
      expect(deleted).toBeGreaterThan(0);
      const after = log.segmentInfos();
      for (const s of before.slice(0, deleted)) expect(s.maxTimestamp).toBeLessThanOrEqual(1_055_000);
      expect((after[0] as { maxTimestamp: number }).maxTimestamp).toBeGreaterThan(1_055_000);
      expect(log.logStartOffset).toBe(after[0]?.baseOffset);
      expect(() => log.read(0n)).toThrow(OffsetOutOfRangeError);
    });

    it('rolls and deletes the active segment too once everything has expired', () => {
      const { log, clock } = openLog(storage, { 'retention.ms': 1000 });
      log.append(batchOf(numbered(3), { timestamp: 1_000_000 }));
      clock.set(1_002_000);
      expect(log.deleteOldSegments(log.logEndOffset)).toBe(1);
      expect(log.logStartOffset).toBe(3n);
      expect(log.logEndOffset).toBe(3n);
      expect(log.segmentInfos()).toHaveLength(1);
    });

    it('deletes by retention.bytes in whole segments', () => {
      const { log } = openLog(storage, { 'segment.bytes': 300, 'retention.bytes': 700, 'retention.ms': -1 });
      for (let i = 0; i < 12; i++) log.append(batchOf(numbered(2, i * 2)));
      const total = log.sizeInBytes;
      expect(total).toBeGreaterThan(700);
      log.deleteOldSegments();
      expect(log.sizeInBytes).toBeLessThanOrEqual(700 + 300);
      expect(log.sizeInBytes).toBeGreaterThanOrEqual(700 - 300);
      expect(readAll(log).at(-1)?.offset).toBe(23n);
    });

    it('keeps everything on a compact-only topic', () => {
      const { log, clock } = openLog(storage, { 'cleanup.policy': 'compact', 'segment.bytes': 300, 'retention.ms': 1 });
      for (let i = 0; i < 6; i++) log.append(batchOf(numbered(2, i * 2)));
      clock.advance(1_000_000);
      expect(log.deleteOldSegments()).toBe(0);
    });

    it('DeleteRecords moves the log start and deletes segments below it, persisting across restart', async () => {
      const { log } = openLog(storage, { 'segment.bytes': 300 });
      for (let i = 0; i < 12; i++) log.append(batchOf(numbered(2, i * 2)));
      log.deleteRecordsBefore(9n);
      expect(log.logStartOffset).toBe(9n);
      expect((log.segmentInfos()[0] as { baseOffset: bigint }).baseOffset).toBeLessThanOrEqual(9n);
      expect(() => log.deleteRecordsBefore(100n)).toThrow(OffsetOutOfRangeError);
      await log.close();
      const reopened = PartitionLog.open({ storage, dir: 'topic-0', config: { 'segment.bytes': 300 } });
      expect(reopened.logStartOffset).toBe(9n);
      await reopened.close();
    });
  });

  describe('durability', () => {
    it('reopens after a clean close with every record, offset and index intact', async () => {
      const { log } = openLog(storage, { 'segment.bytes': 400 });
      for (let i = 0; i < 25; i++) log.append(batchOf(numbered(3, i * 3)));
      const expected = readAll(log);
      await log.close();
      const { log: again } = openLog(storage, { 'segment.bytes': 400 });
      expect(again.logEndOffset).toBe(75n);
      expect(again.recoveryPoint).toBe(75n);
      expect(readAll(again)).toEqual(expected);
      again.append(batchOf(numbered(1, 75)));
      expect(again.logEndOffset).toBe(76n);
      await again.close();
    });

    it('fsyncs when flush.messages is reached and advances the recovery point', async () => {
      const { log } = openLog(storage, { 'flush.messages': 5 });
      log.append(batchOf(numbered(3)));
      await log.flush();
      expect(log.recoveryPoint).toBe(3n);
      log.append(batchOf(numbered(6, 3)));
      await Promise.resolve();
      await log.close();
    });

    it('flushes on flush.ms when asked by a timer', async () => {
      const { log, clock } = openLog(storage, { 'flush.ms': 1000 });
      log.append(batchOf(numbered(2)));
      expect(log.recoveryPoint).toBe(0n);
      clock.advance(1000);
      log.flushIfDue();
      await log.close();
      expect(log.recoveryPoint).toBe(2n);
    });

    it('recovers after a crash: unflushed but written batches are kept when valid', () => {
      const { log } = openLog(storage, { 'segment.bytes': 400 });
      for (let i = 0; i < 25; i++) log.append(batchOf(numbered(3, i * 3)));
      const expected = readAll(log);
      log.abandon();
      const { log: again } = openLog(storage, { 'segment.bytes': 400 });
      expect(readAll(again)).toEqual(expected);
      again.abandon();
    });

    it('rebuilds missing or damaged index files', async () => {
      const { log } = openLog(storage, { 'index.interval.bytes': 100 });
      for (let i = 0; i < 40; i++) log.append(batchOf(numbered(2, i * 2)));
      await log.close();
      storage.remove('topic-0/00000000000000000000.index');
      storage.writeFileAtomic('topic-0/00000000000000000000.timeindex', new Uint8Array([1, 2, 3]));
      const { log: again } = openLog(storage, { 'index.interval.bytes': 100 });
      expect(readBatchHeader(again.read(51n).records).baseOffset).toBe(50n);
      expect(again.offsetForTimestamp(1001)?.offset).toBe(1n);
      expect(storage.readFile('topic-0/00000000000000000000.index').length).toBeGreaterThan(0);
      await again.close();
    });
  });
});

describe('partition log recovery from torn and corrupt tails', () => {
  // Cut or damage the last batch at every byte: no batch before the damage may be lost and
  // nothing corrupt may be served.
  it('survives a cut at every byte position of the last batch', async () => {
    const { MemoryStorage } = await import('../../src/log/storage/memoryStorage.ts');
    const seed = new MemoryStorage();
    const { log } = openLog(seed, { 'segment.bytes': 4000 });
    for (let i = 0; i < 8; i++) log.append(batchOf(numbered(3, i * 3)));
    log.abandon();
    const path = 'topic-0/00000000000000000000.log';
    const full = seed.bytesOf(path);
    const lastStart = full.length - (readBatchHeaderAt(full).lastSize as number);
    const expectedBefore = decodeAll(full.subarray(0, lastStart));
    for (let cut = lastStart; cut < full.length; cut++) {
      const storage = cloneMemory(seed, MemoryStorage);
      storage.setBytes(path, full.subarray(0, cut));
      const { log: again } = openLog(storage, { 'segment.bytes': 4000 });
      expect(again.logEndOffset).toBe(21n);
      expect(readAll(again)).toEqual(expectedBefore);
      expect(storage.bytesOf(path).length).toBe(lastStart);
      again.abandon();
    }
  });

  it('survives a flipped byte anywhere in the last batch', async () => {
    const { MemoryStorage } = await import('../../src/log/storage/memoryStorage.ts');
    const seed = new MemoryStorage();
    const { log } = openLog(seed);
    for (let i = 0; i < 8; i++) log.append(batchOf(numbered(3, i * 3)));
    log.abandon();
    const path = 'topic-0/00000000000000000000.log';
    const full = seed.bytesOf(path);
    const lastStart = full.length - (readBatchHeaderAt(full).lastSize as number);
    const expectedBefore = decodeAll(full.subarray(0, lastStart));
    for (let at = lastStart; at < full.length; at++) {
      // Bytes 12..15 (leader epoch) are outside the CRC by design; a flipped epoch is not corruption Kafka can see.
      if (at - lastStart >= 12 && at - lastStart < 16) continue;
      const storage = cloneMemory(seed, MemoryStorage);
      storage.corrupt(path, at, (full[at] as number) ^ 0x5a);
      const { log: again } = openLog(storage);
      const records = readAll(again);
      // Either the damage is detected (tail cut) or, for base-offset/length bytes, the batch no longer parses.
      expect(records.slice(0, expectedBefore.length)).toEqual(expectedBefore);
      expect(records.length).toBe(expectedBefore.length);
      again.abandon();
    }
  });

  it('keeps earlier segments and drops later ones when a middle segment is damaged after the recovery point', async () => {
    const { MemoryStorage } = await import('../../src/log/storage/memoryStorage.ts');
    const storage = new MemoryStorage();
    const { log } = openLog(storage, { 'segment.bytes': 300 });
    for (let i = 0; i < 12; i++) log.append(batchOf(numbered(2, i * 2)));
    const segments = log.segmentInfos();
    log.abandon();
    const victim = segments[1] as { baseOffset: bigint };
    const path = `topic-0/${victim.baseOffset.toString().padStart(20, '0')}.log`;
    storage.corrupt(path, 80, 0);
    const { log: again } = openLog(storage, { 'segment.bytes': 300 });
    const records = readAll(again);
    expect(records.length).toBeGreaterThanOrEqual(Number(victim.baseOffset));
    expect(records.map((r) => r.offset)).toEqual(Array.from({ length: records.length }, (_, i) => BigInt(i)));
    expect(again.logEndOffset).toBeLessThan(24n);
    again.abandon();
  });
});

function readBatchHeaderAt(bytes: Uint8Array): { lastSize: number } {
  let p = 0;
  let lastSize = 0;
  while (p < bytes.length) {
    const h = readBatchHeader(bytes, p);
    lastSize = h.batchLength + LOG_OVERHEAD;
    p += lastSize;
  }
  return { lastSize };
}

function cloneMemory<T extends { list(dir: string): string[]; bytesOf(path: string): Uint8Array; writeFileAtomic(path: string, bytes: Uint8Array): void; mkdir(dir: string): void }>(source: T, Ctor: new () => T): T {
  const copy = new Ctor();
  copy.mkdir('topic-0');
  for (const name of source.list('topic-0')) copy.writeFileAtomic(`topic-0/${name}`, source.bytesOf(`topic-0/${name}`));
  return copy;
}
