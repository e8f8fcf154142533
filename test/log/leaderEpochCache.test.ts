import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { InvalidArgumentError } from '../../src/errors.ts';
import {
  LEADER_EPOCH_CHECKPOINT_FILE,
  formatLeaderEpochCheckpoint,
  parseLeaderEpochCheckpoint,
  readLeaderEpochCheckpoint,
  writeLeaderEpochCheckpoint,
} from '../../src/log/checkpoints.ts';
import { LeaderEpochCache, UNDEFINED_EPOCH, UNDEFINED_EPOCH_OFFSET } from '../../src/log/leaderEpochCache.ts';
import type { EpochEndOffset, EpochEntry, LeaderEpochCacheView } from '../../src/log/leaderEpochCache.ts';
import type { PartitionLog } from '../../src/log/partitionLog.ts';
import { encodeRecordBatch, readBatchHeader, stampBatch, LOG_OVERHEAD } from '../../src/record/recordBatch.ts';
import { MemoryStorage } from '../../src/log/storage/memoryStorage.ts';
import type { Storage } from '../../src/log/storage/storage.ts';
import { batchOf, numbered, openLog, readAll, storageFixtures } from '../helpers/log.ts';

const DIR = 'topic-0';
const CHECKPOINT = `${DIR}/${LEADER_EPOCH_CHECKPOINT_FILE}`;
const UNDEFINED: EpochEndOffset = { epoch: UNDEFINED_EPOCH, endOffset: UNDEFINED_EPOCH_OFFSET };

/** Entries as [epoch, startOffset] pairs, for readable assertions. */
function pairs(cache: LeaderEpochCacheView | readonly EpochEntry[]): [number, number][] {
  const list = Array.isArray(cache) ? (cache as readonly EpochEntry[]) : (cache as LeaderEpochCacheView).entries();
  return list.map((e) => [e.epoch, Number(e.startOffset)]);
}

function eo(epoch: number, endOffset: number | bigint): EpochEndOffset {
  return { epoch, endOffset: BigInt(endOffset) };
}

function cacheOf(...entries: [number, number][]): LeaderEpochCache {
  const cache = new LeaderEpochCache();
  for (const [epoch, offset] of entries) cache.assign(epoch, BigInt(offset));
  return cache;
}

// Kafka: storage/src/test/java/org/apache/kafka/storage/internals/epoch/LeaderEpochFileCacheTest.java
describe('LeaderEpochCache (Kafka LeaderEpochFileCacheTest, ported)', () => {
  let cache: LeaderEpochCache;
  beforeEach(() => {
    cache = new LeaderEpochCache();
  });

  it('testPreviousEpoch', () => {
    expect(cache.previousEpoch()).toBeUndefined();
    cache.assign(2, 10n);
    expect(cache.previousEpoch()).toBeUndefined();
    cache.assign(4, 15n);
    expect(cache.previousEpoch()).toBe(2);
    cache.assign(10, 20n);
    expect(cache.previousEpoch()).toBe(4);
    cache.truncateFromEnd(18n);
    expect(cache.previousEpoch()).toBe(2);
  });

  it('shouldAddEpochAndMessageOffsetToCache', () => {
    cache.assign(2, 10n);
    expect(cache.latestEpoch()).toBe(2);
    expect(pairs(cache)).toEqual([[2, 10]]);
    expect(cache.endOffsetFor(2, 11n)).toEqual(eo(2, 11));
  });

  it('shouldReturnLogEndOffsetIfLatestEpochRequested', () => {
    cache.assign(2, 11n);
    cache.assign(2, 12n);
    expect(cache.endOffsetFor(2, 14n)).toEqual(eo(2, 14));
  });

  it('shouldReturnUndefinedOffsetIfUndefinedEpochRequested', () => {
    cache.assign(2, 11n);
    cache.assign(3, 12n);
    expect(cache.endOffsetFor(UNDEFINED_EPOCH, 0n)).toEqual(UNDEFINED);
  });

  it('shouldNotOverwriteLogEndOffsetForALeaderEpochOnceItHasBeenAssigned', () => {
    cache.assign(2, 9n);
    expect(cache.assign(2, 10n)).toBe(false);
    expect(pairs(cache)).toEqual([[2, 9]]);
  });

  it('shouldEnforceMonotonicallyIncreasingStartOffsets', () => {
    cache.assign(2, 9n);
    cache.assign(3, 9n);
    expect(pairs(cache)).toEqual([[3, 9]]);
  });

  it('shouldNotOverwriteOffsetForALeaderEpochOnceItHasBeenAssigned', () => {
    cache.assign(2, 6n);
    cache.assign(2, 10n);
    expect(cache.earliestEntry()?.startOffset).toBe(6n);
  });

  it('shouldReturnUnsupportedIfNoEpochRecorded', () => {
    expect(cache.endOffsetFor(0, 0n)).toEqual(UNDEFINED);
  });

  it('shouldReturnUnsupportedIfNoEpochRecordedAndUndefinedEpochRequested', () => {
    expect(cache.endOffsetFor(UNDEFINED_EPOCH, 73n)).toEqual(UNDEFINED);
  });

  it('shouldReturnFirstEpochIfRequestedEpochLessThanFirstEpoch', () => {
    cache.assign(5, 11n);
    cache.assign(6, 12n);
    cache.assign(7, 13n);
    // Kafka answers with the requested epoch and the first known start offset, not (-1, -1).
    expect(cache.endOffsetFor(4, 0n)).toEqual(eo(4, 11));
  });

  it('shouldTruncateIfMatchingEpochButEarlierStartingOffset', () => {
    cache.assign(5, 11n);
    cache.assign(6, 12n);
    cache.assign(7, 13n);
    cache.assign(7, 12n);
    expect(cache.endOffsetFor(5, 0n)).toEqual(eo(5, 12));
    expect(cache.endOffsetFor(6, 0n)).toEqual(eo(5, 12));
  });

  it('shouldGetFirstOffsetOfSubsequentEpochWhenOffsetRequestedForPreviousEpoch', () => {
    for (const [e, o] of [[1, 11], [1, 12], [2, 13], [2, 14], [3, 15], [3, 16]] as const) cache.assign(e, BigInt(o));
    expect(cache.endOffsetFor(2, 17n)).toEqual(eo(2, 15));
  });

  it('shouldReturnNextAvailableEpochIfThereIsNoExactEpochForTheOneRequested', () => {
    cache.assign(0, 10n);
    cache.assign(2, 13n);
    cache.assign(4, 17n);
    expect(cache.endOffsetFor(1, 0n)).toEqual(eo(0, 13));
    expect(cache.endOffsetFor(2, 0n)).toEqual(eo(2, 17));
    expect(cache.endOffsetFor(3, 0n)).toEqual(eo(2, 17));
  });

  it('shouldNotUpdateEpochAndStartOffsetIfItDidNotChange', () => {
    cache.assign(2, 6n);
    cache.assign(2, 7n);
    expect(pairs(cache)).toEqual([[2, 6]]);
  });

  it('shouldReturnInvalidOffsetIfEpochIsRequestedWhichIsNotCurrentlyTracked', () => {
    cache.assign(2, 100n);
    expect(cache.endOffsetFor(3, 100n)).toEqual(UNDEFINED);
  });

  it('shouldSupportEpochsThatDoNotStartFromZero', () => {
    cache.assign(2, 6n);
    expect(cache.endOffsetFor(2, 7n)).toEqual(eo(2, 7));
    expect(pairs(cache)).toEqual([[2, 6]]);
  });

  it('shouldPersistEpochsBetweenInstances', () => {
    const storage = new MemoryStorage();
    storage.mkdir(DIR);
    cache.assign(2, 6n);
    writeLeaderEpochCheckpoint(storage, CHECKPOINT, cache.entries());
    const again = LeaderEpochCache.fromEntries(readLeaderEpochCheckpoint(storage, CHECKPOINT) ?? []);
    expect(pairs(again)).toEqual([[2, 6]]);
  });

  it('shouldEnforceMonotonicallyIncreasingEpochs', () => {
    cache.assign(1, 5n);
    cache.assign(2, 6n);
    cache.assign(1, 7n);
    expect(cache.latestEpoch()).toBe(1);
    expect(cache.endOffsetFor(1, 8n)).toEqual(eo(1, 8));
    expect(cache.endOffsetFor(2, 8n)).toEqual(UNDEFINED);
    expect(pairs(cache)).toEqual([[1, 7]]);
  });

  it('shouldEnforceOffsetsIncreaseMonotonically', () => {
    cache.assign(2, 6n);
    cache.assign(3, 5n);
    expect(pairs(cache)).toEqual([[3, 5]]);
  });

  it('shouldIncreaseAndTrackEpochsAsLeadersChangeManyTimes', () => {
    cache.assign(0, 0n);
    cache.assign(1, 0n);
    expect(cache.latestEpoch()).toBe(1);
    expect(cache.endOffsetFor(1, 0n)).toEqual(eo(1, 0));
    expect(cache.endOffsetFor(0, 0n)).toEqual(eo(0, 0));
    expect(cache.endOffsetFor(1, 5n)).toEqual(eo(1, 5));
    expect(cache.endOffsetFor(0, 5n)).toEqual(eo(0, 0));
    cache.assign(2, 5n);
    expect(cache.endOffsetFor(2, 10n)).toEqual(eo(2, 10));
    expect(cache.endOffsetFor(1, 10n)).toEqual(eo(1, 5));
    expect(cache.endOffsetFor(0, 10n)).toEqual(eo(0, 0));
  });

  it('shouldIncreaseAndTrackEpochsAsFollowerReceivesManyMessages', () => {
    for (const o of [0, 1, 2]) cache.assign(0, BigInt(o));
    expect(cache.latestEpoch()).toBe(0);
    expect(cache.endOffsetFor(0, 3n)).toEqual(eo(0, 3));
    for (const o of [3, 4, 5]) cache.assign(1, BigInt(o));
    expect(cache.latestEpoch()).toBe(1);
    expect(cache.endOffsetFor(1, 6n)).toEqual(eo(1, 6));
    for (const o of [6, 7, 8]) cache.assign(2, BigInt(o));
    expect(cache.latestEpoch()).toBe(2);
    expect(cache.endOffsetFor(2, 9n)).toEqual(eo(2, 9));
    expect(cache.endOffsetFor(0, 9n)).toEqual(eo(0, 3));
    expect(cache.endOffsetFor(1, 9n)).toEqual(eo(1, 6));
  });

  describe('truncation', () => {
    beforeEach(() => {
      cache = cacheOf([2, 6], [3, 8], [4, 11]);
    });

    it('shouldDropEntriesOnEpochBoundaryWhenRemovingLatestEntries', () => {
      cache.truncateFromEnd(8n);
      expect(pairs(cache)).toEqual([[2, 6]]);
    });

    it('shouldPreserveResetOffsetOnClearEarliestIfOneExists', () => {
      cache.truncateFromStart(8n);
      expect(pairs(cache)).toEqual([[3, 8], [4, 11]]);
    });

    it('shouldNotClearAnythingIfOffsetTooEarly', () => {
      expect(cache.truncateFromStart(1n)).toBe(false);
      expect(pairs(cache)).toEqual([[2, 6], [3, 8], [4, 11]]);
    });

    it('shouldNotClearAnythingIfOffsetIsFirstOffset', () => {
      expect(cache.truncateFromStart(6n)).toBe(false);
      expect(pairs(cache)).toEqual([[2, 6], [3, 8], [4, 11]]);
    });

    it('shouldRetainLatestEpochOnClearAllEarliest', () => {
      cache.truncateFromStart(11n);
      expect(pairs(cache)).toEqual([[4, 11]]);
    });

    it('shouldUpdateOffsetBetweenEpochBoundariesOnClearEarliest', () => {
      cache.truncateFromStart(9n);
      expect(pairs(cache)).toEqual([[3, 9], [4, 11]]);
    });

    it('shouldRetainLatestEpochOnClearAllEarliestAndUpdateItsOffset', () => {
      cache.truncateFromStart(15n);
      expect(pairs(cache)).toEqual([[4, 15]]);
    });

    it('shouldDropEntriesBetweenEpochBoundaryWhenRemovingNewest', () => {
      cache.truncateFromEnd(9n);
      expect(cache.latestEpoch()).toBe(3);
      expect(pairs(cache)).toEqual([[2, 6], [3, 8]]);
    });

    it('shouldClearAllEntries', () => {
      expect(cache.clear()).toBe(true);
      expect(cache.size).toBe(0);
    });

    it('shouldNotResetEpochHistoryHeadIfUndefinedPassed', () => {
      cache.truncateFromStart(UNDEFINED_EPOCH_OFFSET);
      expect(cache.size).toBe(3);
    });

    it('shouldNotResetEpochHistoryTailIfUndefinedPassed', () => {
      cache.truncateFromEnd(UNDEFINED_EPOCH_OFFSET);
      expect(cache.size).toBe(3);
    });
  });

  it('shouldUpdateOffsetBetweenFirstTwoEpochBoundariesOnClearEarliest', () => {
    cache = cacheOf([0, 0], [1, 7], [2, 10]);
    cache.truncateFromStart(5n);
    expect(pairs(cache)).toEqual([[0, 5], [1, 7], [2, 10]]);
  });

  it('shouldFetchLatestEpochOfEmptyCache', () => {
    expect(cache.latestEpoch()).toBeUndefined();
  });

  it('shouldFetchEndOffsetOfEmptyCache', () => {
    expect(cache.endOffsetFor(7, 0n)).toEqual(UNDEFINED);
  });

  it('shouldClearEarliestOnEmptyCache', () => {
    expect(cache.truncateFromStart(7n)).toBe(false);
  });

  it('shouldClearLatestOnEmptyCache', () => {
    expect(cache.truncateFromEnd(7n)).toBe(false);
  });

  it('testFindPreviousEpoch', () => {
    expect(cache.previousEpoch(2)).toBeUndefined();
    cache.assign(2, 10n);
    expect(cache.previousEpoch(2)).toBeUndefined();
    cache.assign(4, 15n);
    expect(cache.previousEpoch(4)).toBe(2);
    cache.assign(10, 20n);
    expect(cache.previousEpoch(10)).toBe(4);
    cache.truncateFromEnd(18n);
    expect(cache.previousEpoch(cache.latestEpoch() as number)).toBe(2);
  });

  it('testFindPreviousEntry', () => {
    expect(cache.previousEntry(2)).toBeUndefined();
    cache.assign(2, 10n);
    expect(cache.previousEntry(2)).toBeUndefined();
    cache.assign(4, 15n);
    expect(cache.previousEntry(4)).toEqual({ epoch: 2, startOffset: 10n });
    cache.assign(10, 20n);
    expect(cache.previousEntry(10)).toEqual({ epoch: 4, startOffset: 15n });
    cache.truncateFromEnd(18n);
    expect(cache.previousEntry(cache.latestEpoch() as number)).toEqual({ epoch: 2, startOffset: 10n });
  });

  it('testFindNextEpoch', () => {
    cache = cacheOf([0, 0], [1, 100], [2, 200]);
    expect(cache.nextEpoch(-1)).toBe(0);
    expect(cache.nextEpoch(0)).toBe(1);
    expect(cache.nextEpoch(1)).toBe(2);
    expect(cache.nextEpoch(2)).toBeUndefined();
    expect(cache.nextEpoch(100)).toBeUndefined();
  });

  it('testGetEpochEntry', () => {
    cache = cacheOf([2, 100], [3, 500], [5, 1000]);
    expect(cache.epochEntry(2)).toEqual({ epoch: 2, startOffset: 100n });
    expect(cache.epochEntry(3)).toEqual({ epoch: 3, startOffset: 500n });
    expect(cache.epochEntry(5)).toEqual({ epoch: 5, startOffset: 1000n });
    expect(cache.epochEntry(4)).toBeUndefined();
  });

  it('shouldFetchEpochForGivenOffset', () => {
    cache = cacheOf([0, 10], [1, 20], [5, 30]);
    expect(cache.epochForOffset(25n)).toBe(1);
    expect(cache.epochForOffset(20n)).toBe(1);
    expect(cache.epochForOffset(30n)).toBe(5);
    expect(cache.epochForOffset(50n)).toBe(5);
    expect(cache.epochForOffset(5n)).toBeUndefined();
  });

  it('epochEntriesInRange gives the entries as truncation to [start, end) would leave them, without changing the cache', () => {
    cache = cacheOf([2, 6], [3, 8], [4, 11]);
    expect(pairs(cache.epochEntriesInRange(7n, 11n))).toEqual([[2, 7], [3, 8]]);
    expect(pairs(cache.epochEntriesInRange(-1n, 9n))).toEqual([[2, 6], [3, 8]]);
    expect(pairs(cache)).toEqual([[2, 6], [3, 8], [4, 11]]);
  });

  it('refuses negative or out-of-range epochs and offsets, as Kafka assign does', () => {
    expect(() => cache.assign(-1, 0n)).toThrow(InvalidArgumentError);
    expect(() => cache.assign(2 ** 31, 0n)).toThrow(InvalidArgumentError);
    expect(() => cache.assign(0, -1n)).toThrow(InvalidArgumentError);
    expect(() => cache.assign(1.5, 0n)).toThrow(InvalidArgumentError);
    expect(() => cache.assign(0, 1 as unknown as bigint)).toThrow(InvalidArgumentError);
    expect(cache.size).toBe(0);
  });

  it('moves its version exactly when the entries change', () => {
    const v0 = cache.version;
    cache.assign(1, 0n);
    cache.assign(1, 5n);
    expect(cache.version).toBe(v0 + 1);
    cache.truncateFromStart(0n);
    cache.truncateFromEnd(10n);
    expect(cache.version).toBe(v0 + 1);
    cache.truncateFromStart(3n);
    expect(cache.version).toBe(v0 + 2);
  });
});

describe('leader-epoch-checkpoint file format', () => {
  it("writes Kafka's text: version 0, the count, then one \"epoch startOffset\" line per entry", () => {
    expect(formatLeaderEpochCheckpoint([])).toBe('0\n0\n');
    expect(formatLeaderEpochCheckpoint(cacheOf([0, 1], [1, 2]).entries())).toBe('0\n2\n0 1\n1 2\n');
  });

  it('round-trips through the file, atomically replacing it', () => {
    const storage = new MemoryStorage();
    storage.mkdir(DIR);
    const entries = LeaderEpochCache.fromEntries([{ epoch: 0, startOffset: 0n }, { epoch: 3, startOffset: 17n }, { epoch: 2147483647, startOffset: 9223372036854775807n }]).entries();
    writeLeaderEpochCheckpoint(storage, CHECKPOINT, entries);
    expect(readLeaderEpochCheckpoint(storage, CHECKPOINT)).toEqual(entries);
    writeLeaderEpochCheckpoint(storage, CHECKPOINT, []);
    expect(readLeaderEpochCheckpoint(storage, CHECKPOINT)).toEqual([]);
    expect(storage.list(DIR)).toEqual([LEADER_EPOCH_CHECKPOINT_FILE]);
  });

  it('accepts what Kafka\'s reader accepts: a missing final newline, CRLF, runs of whitespace', () => {
    expect(parseLeaderEpochCheckpoint('0\n1\n4 7')).toEqual([{ epoch: 4, startOffset: 7n }]);
    expect(parseLeaderEpochCheckpoint('0\r\n1\r\n4 7\r\n')).toEqual([{ epoch: 4, startOffset: 7n }]);
    expect(parseLeaderEpochCheckpoint('0\n1\n4 \t 7\n')).toEqual([{ epoch: 4, startOffset: 7n }]);
  });

  it.each([
    ['an empty file', ''],
    ['another version', '1\n1\n0 0\n'],
    ['no count', '0\n'],
    ['fewer entries than the count', '0\n2\n0 0\n'],
    ['more entries than the count', '0\n1\n0 0\n1 5\n'],
    ['a line with three fields', '0\n1\n0 0 0\n'],
    ['a negative epoch', '0\n1\n-1 0\n'],
    ['a negative offset', '0\n1\n0 -5\n'],
    ['an epoch beyond int32', '0\n1\n2147483648 0\n'],
    ['an offset beyond int64', '0\n1\n0 9223372036854775808\n'],
    ['garbage', 'lorem ipsum'],
    ['a blank entry line', '0\n1\n\n'],
  ])('rejects %s as a whole (never a partial list)', (_name, text) => {
    expect(parseLeaderEpochCheckpoint(text)).toBeUndefined();
  });

  it('reads a missing or undecodable file as undefined', () => {
    const storage = new MemoryStorage();
    storage.mkdir(DIR);
    expect(readLeaderEpochCheckpoint(storage, CHECKPOINT)).toBeUndefined();
    storage.writeFileAtomic(CHECKPOINT, new Uint8Array([0x30, 0x0a, 0xff, 0xfe]));
    expect(readLeaderEpochCheckpoint(storage, CHECKPOINT)).toBeUndefined();
  });

  it('LeaderEpochCache.fromEntries replays a non-monotonic file through assign, as Kafka loads it', () => {
    expect(pairs(LeaderEpochCache.fromEntries([{ epoch: 1, startOffset: 5n }, { epoch: 2, startOffset: 6n }, { epoch: 1, startOffset: 7n }]))).toEqual([[1, 7]]);
  });
});

/** Appends `count` one-record batches under `epoch` as the leader. */
function appendUnder(log: PartitionLog, epoch: number, count: number): void {
  for (let i = 0; i < count; i++) log.append(batchOf(numbered(1, Number(log.logEndOffset))), { leaderEpoch: epoch });
}

/** A batch as a leader would ship it to a follower: offsets and epoch already stamped. */
function replicated(baseOffset: bigint, epoch: number, records: number): Uint8Array {
  const bytes = encodeRecordBatch({ records: numbered(records, Number(baseOffset)).map((r, i) => ({ timestamp: 1_000 + i, key: new TextEncoder().encode(r.key as string), value: null })) });
  stampBatch(bytes, 0, baseOffset, epoch);
  return bytes;
}

function checkpointText(storage: Storage): string {
  return new TextDecoder().decode(storage.readFile(CHECKPOINT));
}

/** Rebuilds a cache from the log's batch headers, the way a load without a checkpoint does. */
function rebuiltFromHeaders(log: PartitionLog): LeaderEpochCache {
  const cache = new LeaderEpochCache();
  if (log.logEndOffset > log.logStartOffset) {
    let offset = log.logStartOffset;
    while (offset < log.logEndOffset) {
      const { records } = log.read(offset, { maxBytes: 1 << 20 });
      if (records.length === 0) break;
      let p = 0;
      while (p < records.length) {
        const h = readBatchHeader(records, p);
        if (h.partitionLeaderEpoch >= 0) cache.assign(h.partitionLeaderEpoch, h.baseOffset);
        offset = h.baseOffset + BigInt(h.lastOffsetDelta) + 1n;
        p += h.batchLength + LOG_OVERHEAD;
      }
    }
  }
  cache.truncateFromEnd(log.logEndOffset);
  cache.truncateFromStart(log.logStartOffset);
  return cache;
}

describe.each(storageFixtures)('partition log leader epochs on $name storage', (fixture) => {
  let storage: Storage;
  let cleanup: () => void;
  beforeEach(() => {
    ({ storage, cleanup } = fixture.make());
  });
  afterEach(() => cleanup());

  it('tracks epochs 0, 1, 2 and answers OffsetsForLeaderEpoch as Kafka does', async () => {
    const { log } = openLog(storage);
    appendUnder(log, 0, 3); // 0..2
    appendUnder(log, 1, 2); // 3..4
    appendUnder(log, 2, 4); // 5..8
    expect(pairs(log.leaderEpochCache)).toEqual([[0, 0], [1, 3], [2, 5]]);
    expect(readBatchHeader(log.read(6n).records).partitionLeaderEpoch).toBe(2);
    expect(log.endOffsetForEpoch(0)).toEqual(eo(0, 3));
    expect(log.endOffsetForEpoch(1)).toEqual(eo(1, 5));
    expect(log.endOffsetForEpoch(2)).toEqual(eo(2, 9));
    expect(log.endOffsetForEpoch(3)).toEqual(UNDEFINED);
    expect(log.endOffsetForEpoch(UNDEFINED_EPOCH)).toEqual(UNDEFINED);
    expect(log.leaderEpochCache.epochForOffset(4n)).toBe(1);
    // Kafka writes the checkpoint on every change.
    expect(checkpointText(storage)).toBe('0\n3\n0 0\n1 3\n2 5\n');
    await log.close();
    const { log: again } = openLog(storage);
    expect(pairs(again.leaderEpochCache)).toEqual([[0, 0], [1, 3], [2, 5]]);
    expect(again.endOffsetForEpoch(1)).toEqual(eo(1, 5));
    await again.close();
  });

  it('a follower builds the same cache from the epochs stamped on replicated batches', async () => {
    const { log: leader } = openLog(storage, {}, undefined, 'leader-0');
    const { log: follower } = openLog(storage, {}, undefined, 'follower-0');
    appendUnder(leader, 0, 2);
    appendUnder(leader, 4, 3);
    appendUnder(leader, 7, 1);
    const { records } = leader.read(0n);
    follower.append(records.slice(), { origin: 'replication' });
    expect(pairs(follower.leaderEpochCache)).toEqual([[0, 0], [4, 2], [7, 5]]);
    expect(follower.endOffsetForEpoch(5)).toEqual(leader.endOffsetForEpoch(5));
    // Batches carrying no epoch (-1) leave the cache alone.
    follower.append(replicated(6n, -1, 2), { origin: 'replication' });
    expect(pairs(follower.leaderEpochCache)).toEqual([[0, 0], [4, 2], [7, 5]]);
    await leader.close();
    await follower.close();
  });

  it('truncation drops the epochs past the new end; a cut inside a batch follows the real log end', async () => {
    const { log } = openLog(storage);
    appendUnder(log, 0, 3);
    log.append(batchOf(numbered(2, 3)), { leaderEpoch: 1 }); // 3..4 in one batch
    appendUnder(log, 2, 2); // 5..6
    log.truncateTo(5n);
    expect(pairs(log.leaderEpochCache)).toEqual([[0, 0], [1, 3]]);
    expect(log.endOffsetForEpoch(1)).toEqual(eo(1, 5));
    log.truncateTo(4n); // inside the epoch-1 batch: the whole batch goes, the log ends at 3
    expect(log.logEndOffset).toBe(3n);
    expect(pairs(log.leaderEpochCache)).toEqual([[0, 0]]);
    expect(checkpointText(storage)).toBe('0\n1\n0 0\n');
    // The new leader's epoch starts where the follower's log now ends.
    appendUnder(log, 3, 1);
    expect(pairs(log.leaderEpochCache)).toEqual([[0, 0], [3, 3]]);
    expect(log.endOffsetForEpoch(1)).toEqual(eo(0, 3));
    await log.close();
  });

  it("shouldWriteCheckpointOnTruncation (Kafka's test, through the log)", async () => {
    const { log } = openLog(storage);
    log.truncateFullyAndStartAt(6n);
    appendUnder(log, 2, 2); // 6..7
    appendUnder(log, 3, 3); // 8..10
    appendUnder(log, 4, 1); // 11
    log.truncateTo(11n);
    log.deleteRecordsBefore(8n);
    expect(readLeaderEpochCheckpoint(storage, CHECKPOINT)).toEqual([{ epoch: 3, startOffset: 8n }]);
    await log.close();
  });

  it('DeleteRecords and retention move the first entry up to the new log start', async () => {
    const { log } = openLog(storage, { 'segment.bytes': 200, 'retention.bytes': 0 });
    appendUnder(log, 0, 4);
    appendUnder(log, 1, 4);
    appendUnder(log, 2, 4);
    const end = log.logEndOffset;
    log.deleteRecordsBefore(2n);
    expect(pairs(log.leaderEpochCache)).toEqual([[0, 2], [1, 4], [2, 8]]);
    log.deleteRecordsBefore(6n);
    expect(pairs(log.leaderEpochCache)).toEqual([[1, 6], [2, 8]]);
    expect(log.endOffsetForEpoch(0)).toEqual(eo(0, 6)); // below the first epoch: its start, as Kafka
    log.deleteOldSegments(end);
    const start = log.logStartOffset;
    expect(start).toBeGreaterThan(6n);
    expect(log.leaderEpochCache.earliestEntry()?.startOffset).toBe(start);
    expect(readLeaderEpochCheckpoint(storage, CHECKPOINT)).toEqual(log.leaderEpochCache.entries());
    await log.close();
  });

  it('truncating fully (or below the log start) clears the cache', async () => {
    const { log } = openLog(storage);
    appendUnder(log, 0, 2);
    appendUnder(log, 1, 2);
    log.truncateFullyAndStartAt(10n);
    expect(log.leaderEpochCache.size).toBe(0);
    expect(checkpointText(storage)).toBe('0\n0\n');
    appendUnder(log, 2, 2);
    log.deleteRecordsBefore(11n);
    log.truncateTo(5n);
    expect(log.leaderEpochCache.size).toBe(0);
    expect(log.endOffsetForEpoch(2)).toEqual(UNDEFINED);
    await log.close();
  });

  it('assignEpochStartOffset records a new leader epoch at the log end before its data, and an open drops it again', async () => {
    const { log } = openLog(storage);
    appendUnder(log, 0, 3);
    log.assignEpochStartOffset(1, log.logEndOffset);
    expect(log.endOffsetForEpoch(0)).toEqual(eo(0, 3));
    expect(log.endOffsetForEpoch(1)).toEqual(eo(1, 3));
    expect(checkpointText(storage)).toBe('0\n2\n0 0\n1 3\n');
    await log.close();
    // As Kafka's LogLoader, the cache is cut to the log end: no data, no entry (becoming leader adds it again).
    const { log: again } = openLog(storage);
    expect(pairs(again.leaderEpochCache)).toEqual([[0, 0]]);
    await again.close();
  });

  it('a negative leader epoch is stamped but not cached', async () => {
    const { log } = openLog(storage);
    log.append(batchOf(numbered(1)), { leaderEpoch: -1 });
    expect(log.leaderEpochCache.size).toBe(0);
    expect(readBatchHeader(log.read(0n).records).partitionLeaderEpoch).toBe(-1);
    await log.close();
  });

  it('reopening after a crash loads the same cache; a missing or corrupt checkpoint is rebuilt from the batches', async () => {
    const { log } = openLog(storage, { 'segment.bytes': 250 });
    appendUnder(log, 0, 3);
    appendUnder(log, 2, 4);
    appendUnder(log, 5, 3);
    log.deleteRecordsBefore(1n);
    const expected = pairs(log.leaderEpochCache);
    expect(expected).toEqual([[0, 1], [2, 3], [5, 7]]);
    log.abandon();

    const { log: crashed } = openLog(storage, { 'segment.bytes': 250 });
    expect(pairs(crashed.leaderEpochCache)).toEqual(expected);
    crashed.abandon();

    storage.remove(CHECKPOINT);
    const { log: missing } = openLog(storage, { 'segment.bytes': 250 });
    expect(pairs(missing.leaderEpochCache)).toEqual(expected);
    expect(readLeaderEpochCheckpoint(storage, CHECKPOINT)).toEqual(missing.leaderEpochCache.entries());
    await missing.close();

    storage.writeFileAtomic(CHECKPOINT, new TextEncoder().encode('0\n3\n0 1\n2 3\n')); // count says 3, has 2
    const { log: corrupt } = openLog(storage, { 'segment.bytes': 250 });
    expect(pairs(corrupt.leaderEpochCache)).toEqual(expected);
    expect(checkpointText(storage)).toBe('0\n3\n0 1\n2 3\n5 7\n');
    expect(corrupt.endOffsetForEpoch(4)).toEqual(eo(2, 7));
    await corrupt.close();
  });
});

describe('partition log leader epochs across torn tails (memory storage)', () => {
  it('a checkpoint ahead of the recovered log is cut back to the recovered log end', () => {
    const storage = new MemoryStorage();
    const { log } = openLog(storage);
    appendUnder(log, 0, 2);
    appendUnder(log, 1, 2);
    appendUnder(log, 2, 2); // 4..5: two batches, lost below
    const path = `${DIR}/00000000000000000000.log`;
    const bytes = storage.bytesOf(path);
    let p = 0;
    for (let i = 0; i < 4; i++) p += readBatchHeader(bytes, p).batchLength + LOG_OVERHEAD;
    log.abandon();
    storage.setBytes(path, bytes.subarray(0, p + 10)); // torn inside the first epoch-2 batch
    const { log: again } = openLog(storage);
    expect(again.logEndOffset).toBe(4n);
    expect(pairs(again.leaderEpochCache)).toEqual([[0, 0], [1, 2]]);
    expect(checkpointText(storage)).toBe('0\n2\n0 0\n1 2\n');
    again.abandon();
  });

  it("a stale checkpoint missing the newest epoch regains it from the recovered segments (Kafka's LogSegment.recover)", () => {
    const storage = new MemoryStorage();
    const { log } = openLog(storage);
    appendUnder(log, 0, 2);
    appendUnder(log, 3, 2);
    log.abandon();
    writeLeaderEpochCheckpoint(storage, CHECKPOINT, [{ epoch: 0, startOffset: 0n }]);
    const { log: again } = openLog(storage);
    expect(pairs(again.leaderEpochCache)).toEqual([[0, 0], [3, 2]]);
    again.abandon();
  });

  it('a directory written before epochs were tracked gets its checkpoint on first open', () => {
    const storage = new MemoryStorage();
    const { log } = openLog(storage);
    expect(checkpointText(storage)).toBe('0\n0\n');
    appendUnder(log, 1, 2);
    log.abandon();
    storage.remove(CHECKPOINT);
    const { log: again } = openLog(storage);
    expect(pairs(again.leaderEpochCache)).toEqual([[1, 0]]);
    expect(checkpointText(storage)).toBe('0\n1\n1 0\n');
    expect(readAll(again).length).toBe(2);
    again.abandon();
  });
});

type Op =
  | { kind: 'append'; bump: number; batches: number; records: number; replication: boolean }
  | { kind: 'truncate'; at: number }
  | { kind: 'deleteRecords'; at: number }
  | { kind: 'retention' }
  | { kind: 'truncateFully'; ahead: number }
  | { kind: 'reopen'; crash: boolean };

const opArb: fc.Arbitrary<Op> = fc.oneof(
  { weight: 8, arbitrary: fc.record({ kind: fc.constant('append' as const), bump: fc.constantFrom(0, 0, 1, 2), batches: fc.integer({ min: 1, max: 3 }), records: fc.integer({ min: 1, max: 4 }), replication: fc.boolean() }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('truncate' as const), at: fc.double({ min: 0, max: 1, noNaN: true }) }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('deleteRecords' as const), at: fc.double({ min: 0, max: 1, noNaN: true }) }) },
  { weight: 3, arbitrary: fc.record({ kind: fc.constant('retention' as const) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('truncateFully' as const), ahead: fc.integer({ min: 0, max: 3 }) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('reopen' as const), crash: fc.boolean() }) },
);

describe('leader epoch cache property', () => {
  it('the cache built incrementally equals the cache rebuilt from the batch headers, and survives reopening', async () => {
    const config = { 'segment.bytes': 400, 'retention.bytes': 500 };
    await fc.assert(
      fc.asyncProperty(fc.array(opArb, { minLength: 1, maxLength: 60 }), async (ops) => {
        const storage = new MemoryStorage();
        let { log } = openLog(storage, config);
        let epoch = 0;
        const offsetAt = (fraction: number): bigint => log.logStartOffset + BigInt(Math.floor(fraction * Number(log.logEndOffset - log.logStartOffset)));
        for (const op of ops) {
          switch (op.kind) {
            case 'append': {
              epoch += op.bump;
              if (op.replication) {
                for (let i = 0; i < op.batches; i++) log.append(replicated(log.logEndOffset, epoch, op.records), { origin: 'replication' });
              } else {
                const bytes = Array.from({ length: op.batches }, (_, i) => batchOf(numbered(op.records, i * op.records)));
                log.append(new Uint8Array(bytes.flatMap((b) => [...b])), { leaderEpoch: epoch });
              }
              break;
            }
            case 'truncate': {
              const target = offsetAt(op.at);
              if (target >= log.logEndOffset) break;
              // Skip cuts that would remove a batch straddling the log start (a state outside this property).
              if (readBatchHeader(log.read(target).records).baseOffset < log.logStartOffset) break;
              log.truncateTo(target);
              break;
            }
            case 'deleteRecords':
              log.deleteRecordsBefore(offsetAt(op.at));
              break;
            case 'retention':
              log.deleteOldSegments(log.logEndOffset);
              break;
            case 'truncateFully':
              log.truncateFullyAndStartAt(log.logEndOffset + BigInt(op.ahead));
              break;
            case 'reopen': {
              if (op.crash) log.abandon();
              else await log.close();
              ({ log } = openLog(storage, config));
              break;
            }
          }
          expect(pairs(log.leaderEpochCache)).toEqual(pairs(rebuiltFromHeaders(log)));
          expect(readLeaderEpochCheckpoint(storage, CHECKPOINT)).toEqual(log.leaderEpochCache.entries());
        }
        const incremental = pairs(log.leaderEpochCache);
        log.abandon();
        storage.remove(CHECKPOINT);
        const { log: rebuilt } = openLog(storage, config);
        expect(pairs(rebuilt.leaderEpochCache)).toEqual(incremental);
        rebuilt.abandon();
      }),
      { seed: 20240611, numRuns: 200 },
    );
  });
});
