/**
 * The replication arithmetic (src/actors/partition/replication.ts), checked against Kafka's
 * `Partition.scala` / `ReplicaState` / `AbstractFetcherThread.getOffsetTruncationState` rules and
 * the KIP-101 / KIP-279 / KIP-497 / KAFKA-15583 scenarios.
 */
import { describe, expect, it, test } from 'vitest';
import fc from 'fast-check';
import { LeaderEpochCache, UNDEFINED_EPOCH } from '../../../src/log/leaderEpochCache.ts';
import { encodeRecordBatch, stampBatch } from '../../../src/record/recordBatch.ts';
import {
  batchesFrom,
  runsFrom,
  canJoinIsr,
  divergingEpochOf,
  followerHighWatermark,
  highWatermarkOf,
  initialFollowerState,
  isCaughtUp,
  maximalIsr,
  onFollowerFetch,
  shrinkIsr,
  truncationOffsetOf,
} from '../../../src/actors/partition/replication.ts';
import type { FollowerState } from '../../../src/actors/partition/replication.ts';

const LAG = 30_000;

function follower(logEndOffset: bigint, lastCaughtUpTimeMs = 0): FollowerState {
  return { logEndOffset, lastCaughtUpTimeMs, lastFetchLeaderLogEndOffset: -1n, lastFetchTimeMs: 0 };
}

function cache(...entries: Array<[number, number]>): LeaderEpochCache {
  const c = new LeaderEpochCache();
  for (const [epoch, start] of entries) c.assign(epoch, BigInt(start));
  return c;
}

describe('follower fetch state (Kafka ReplicaState)', () => {
  it('starts unknown; ISR members count as caught up at the election, others never', () => {
    expect(initialFollowerState(true, 5_000)).toEqual({ logEndOffset: -1n, lastCaughtUpTimeMs: 5_000, lastFetchLeaderLogEndOffset: -1n, lastFetchTimeMs: 0 });
    expect(initialFollowerState(false, 5_000).lastCaughtUpTimeMs).toBe(0);
  });

  it('is caught up now when it fetches from the leader log end', () => {
    const s = onFollowerFetch(initialFollowerState(true, 0), 10n, 10n, 1_000);
    expect(s).toEqual({ logEndOffset: 10n, lastCaughtUpTimeMs: 1_000, lastFetchLeaderLogEndOffset: 10n, lastFetchTimeMs: 1_000 });
  });

  it('counts as caught up as of its previous fetch when it reached the log end that fetch saw (steady produce load)', () => {
    // Fetch 1 at t=1000 from offset 5 while the leader ends at 10; fetch 2 at t=2000 from 10 while the leader is at 15.
    const first = onFollowerFetch(initialFollowerState(false, 0), 5n, 10n, 1_000);
    expect(first.lastCaughtUpTimeMs).toBe(0);
    const second = onFollowerFetch(first, 10n, 15n, 2_000);
    expect(second.lastCaughtUpTimeMs).toBe(1_000);
    // Never exactly at the moving end, yet never out of sync.
    let s = second;
    for (let t = 3_000, end = 20n; t <= 100_000; t += 1_000, end += 5n) s = onFollowerFetch(s, end - 5n, end, t);
    expect(isCaughtUp(s, 600n, 100_000, LAG)).toBe(true);
  });

  it('keeps its old caught-up time while it falls behind', () => {
    const s = onFollowerFetch(onFollowerFetch(initialFollowerState(true, 0), 10n, 10n, 1_000), 10n, 50n, 2_000);
    expect(s.lastCaughtUpTimeMs).toBe(1_000);
    expect(onFollowerFetch(s, 12n, 60n, 3_000).lastCaughtUpTimeMs).toBe(1_000);
  });

  test('lastCaughtUpTimeMs never goes backwards', () => {
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.integer({ min: 0, max: 100 }), fc.integer({ min: 0, max: 100 }), fc.integer({ min: 1, max: 5_000 })), { maxLength: 40 }), (fetches) => {
        let s = initialFollowerState(true, 0);
        let now = 0;
        for (const [offset, extra, dt] of fetches) {
          now += dt;
          const next = onFollowerFetch(s, BigInt(offset), BigInt(offset + extra), now);
          expect(next.lastCaughtUpTimeMs).toBeGreaterThanOrEqual(s.lastCaughtUpTimeMs);
          s = next;
        }
      }),
    );
  });
});

describe('ISR shrink and expand', () => {
  const now = 100_000;

  it('drops followers not caught up within replica.lag.time.max.ms, never the leader', () => {
    const followers = new Map([
      [2, follower(90n, now - LAG)], // exactly at the limit: kept
      [3, follower(90n, now - LAG - 1)], // 1 ms over: dropped
    ]);
    expect(shrinkIsr([1, 2, 3], 1, followers, 100n, now, LAG)).toEqual([1, 2]);
    // A follower at the leader's end is in sync whatever its caught-up time.
    expect(shrinkIsr([1, 3], 1, new Map([[3, follower(100n, 0)]]), 100n, now, LAG)).toEqual([1, 3]);
    // Unknown followers are out of sync; the same array comes back when nobody is dropped.
    expect(shrinkIsr([1, 4], 1, new Map(), 100n, now, LAG)).toEqual([1]);
    const isr = [1, 2];
    expect(shrinkIsr(isr, 1, new Map([[2, follower(100n, now)]]), 100n, now, LAG)).toBe(isr);
  });

  it('lets a follower join once its log end reached the high watermark and the leader epoch start', () => {
    expect(canJoinIsr(follower(50n), 50n, 40n)).toBe(true);
    expect(canJoinIsr(follower(49n), 50n, 40n)).toBe(false);
    // Past the HW but before the epoch start: it may still hold a diverging tail of an older epoch.
    expect(canJoinIsr(follower(50n), 45n, 60n)).toBe(false);
    expect(canJoinIsr(follower(-1n), 0n, 0n)).toBe(false);
    expect(canJoinIsr(undefined, 0n, 0n)).toBe(false);
  });

  it('uses the maximal ISR while a change is in flight (KIP-497)', () => {
    expect(maximalIsr([1, 2], undefined)).toEqual([1, 2]);
    expect(maximalIsr([1, 2], [1, 2, 3])).toEqual([1, 2, 3]);
    // A pending shrink keeps the larger committed ISR.
    expect(maximalIsr([1, 2, 3], [1, 2])).toEqual([1, 2, 3]);
  });
});

describe('high watermark', () => {
  const base = { current: 10n, leaderId: 1, leaderLogEndOffset: 20n, isr: [1, 2, 3], minInsyncReplicas: 1 };

  it('is the minimum log end over the ISR', () => {
    const followers = new Map([
      [2, follower(15n)],
      [3, follower(18n)],
    ]);
    expect(highWatermarkOf({ ...base, followers })).toBe(15n);
    expect(highWatermarkOf({ ...base, isr: [1], followers })).toBe(20n);
  });

  it('never goes down, and a member whose log end is unknown holds it where it is', () => {
    expect(highWatermarkOf({ ...base, followers: new Map([[2, follower(5n)], [3, follower(18n)]]) })).toBe(10n);
    expect(highWatermarkOf({ ...base, followers: new Map([[2, follower(19n)]]) })).toBe(10n);
  });

  it('does not move while the committed ISR is smaller than min.insync.replicas (KAFKA-15583)', () => {
    const followers = new Map([[2, follower(20n)]]);
    expect(highWatermarkOf({ ...base, isr: [1], minInsyncReplicas: 2, followers })).toBe(10n);
    expect(highWatermarkOf({ ...base, isr: [1, 2], minInsyncReplicas: 2, followers })).toBe(20n);
  });

  it('counts a replica an in-flight expansion adds (maximal ISR)', () => {
    const followers = new Map([
      [2, follower(20n)],
      [3, follower(12n)],
    ]);
    expect(highWatermarkOf({ ...base, isr: [1, 2], followers })).toBe(20n);
    expect(highWatermarkOf({ ...base, isr: [1, 2], maximalIsr: [1, 2, 3], followers })).toBe(12n);
  });

  it('waits for a caught-up, eligible replica about to join the ISR', () => {
    const now = 50_000;
    const followers = new Map([
      [2, follower(20n, now)],
      [3, follower(16n, now - 1_000)], // caught up 1 s ago, not in the ISR yet
    ]);
    const input = { ...base, isr: [1, 2], followers, now, lagTimeMaxMs: LAG };
    expect(highWatermarkOf(input)).toBe(16n);
    expect(highWatermarkOf({ ...input, isEligible: (id: number) => id !== 3 })).toBe(20n);
    // A lagging non-member does not hold it back.
    expect(highWatermarkOf({ ...input, followers: new Map([[2, follower(20n, now)], [3, follower(16n, now - LAG - 1)]]) })).toBe(20n);
  });

  test('is monotonic and never passes the leader log end or a maximal-ISR member', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 50 }), fc.array(fc.integer({ min: -1, max: 60 }), { minLength: 1, maxLength: 4 }), fc.integer({ min: 0, max: 60 }), fc.integer({ min: 1, max: 5 }), (current, leos, leaderEnd, minIsr) => {
        const isr = [0, ...leos.map((_, i) => i + 1)];
        const followers = new Map(leos.map((leo, i) => [i + 1, follower(BigInt(leo))] as const));
        const hw = highWatermarkOf({ current: BigInt(current), leaderId: 0, leaderLogEndOffset: BigInt(Math.max(leaderEnd, current)), isr, followers, minInsyncReplicas: minIsr });
        expect(hw).toBeGreaterThanOrEqual(BigInt(current));
        if (hw > BigInt(current)) {
          for (const leo of leos) expect(hw).toBeLessThanOrEqual(BigInt(leo));
          expect(isr.length).toBeGreaterThanOrEqual(minIsr);
        }
      }),
    );
  });

  it('on a follower: the leader high watermark bounded by its own log', () => {
    expect(followerHighWatermark(50n, 0n, 40n)).toBe(40n);
    expect(followerHighWatermark(30n, 0n, 40n)).toBe(30n);
    expect(followerHighWatermark(3n, 10n, 40n)).toBe(10n);
  });
});

describe('divergence and truncation (KIP-101, KIP-279, KAFKA-10554)', () => {
  it('a consistent fetch does not diverge; no last fetched epoch, no check', () => {
    const leader = cache([0, 0], [1, 10]);
    expect(divergingEpochOf(1, 15n, leader.endOffsetFor(1, 20n), 20n)).toBeUndefined();
    expect(divergingEpochOf(0, 10n, leader.endOffsetFor(0, 20n), 20n)).toBeUndefined();
    expect(divergingEpochOf(-1, 15n, leader.endOffsetFor(-1, 20n), 20n)).toBeUndefined();
  });

  it('KIP-101 scenario 2: the follower holds an uncommitted tail of an old epoch; it truncates to where that epoch ends on the leader', () => {
    // Leader A (epoch 0) wrote m0..m2; B had m0 only and became leader (epoch 1) writing at 1.
    const newLeader = cache([0, 0], [1, 1]);
    const follower = cache([0, 0]);
    const diverging = divergingEpochOf(0, 3n, newLeader.endOffsetFor(0, 4n), 4n);
    expect(diverging).toEqual({ epoch: 0, endOffset: 1n });
    const decision = truncationOffsetOf(diverging!, follower.endOffsetFor(0, 3n), 3n);
    expect(decision).toEqual({ offset: 1n, complete: true });
  });

  it('never truncates below what the epochs prove shared, whatever the high watermark', () => {
    // Follower and leader share epoch 2 up to offset 30; the follower's HW could be anything.
    const leader = cache([1, 0], [2, 10], [4, 30]);
    const follower = cache([1, 0], [2, 10], [3, 25]);
    const diverging = divergingEpochOf(3, 40n, leader.endOffsetFor(3, 50n), 50n);
    expect(diverging).toEqual({ epoch: 2, endOffset: 30n });
    // The follower's epoch 2 ends at 25 (its epoch 3 started there): truncate to 25, not to an HW.
    expect(truncationOffsetOf(diverging!, follower.endOffsetFor(2, 40n), 40n)).toEqual({ offset: 25n, complete: true });
  });

  it('a follower that does not know the leader answer epoch truncates to its own smaller epoch end and asks again', () => {
    const leader = cache([1, 0], [3, 20]);
    const follower = cache([0, 0], [2, 15]);
    const diverging = divergingEpochOf(2, 25n, leader.endOffsetFor(2, 40n), 40n);
    expect(diverging).toEqual({ epoch: 1, endOffset: 20n });
    const decision = truncationOffsetOf(diverging!, follower.endOffsetFor(1, 25n), 25n);
    // The follower's largest epoch ≤ 1 is 0, ending at 15.
    expect(decision).toEqual({ offset: 15n, complete: false });
  });

  it('an unknown leader answer truncates to the leader log end when the follower is ahead', () => {
    const diverging = divergingEpochOf(5, 30n, { epoch: UNDEFINED_EPOCH, endOffset: -1n }, 20n);
    expect(diverging).toEqual({ epoch: UNDEFINED_EPOCH, endOffset: 20n });
    expect(truncationOffsetOf(diverging!, cache([5, 0]).endOffsetFor(UNDEFINED_EPOCH, 30n), 30n)).toEqual({ offset: 20n, complete: true });
  });

  test('truncation never goes past the follower log end nor the leader end offset of a shared epoch', () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 1, max: 10 }), { minLength: 1, maxLength: 5 }), fc.array(fc.integer({ min: 1, max: 10 }), { minLength: 1, maxLength: 5 }), fc.integer({ min: 0, max: 3 }), (leaderRuns, followerRuns, shared) => {
        // Both logs share `shared` epochs, then diverge: the leader continues with higher epochs.
        const build = (runs: number[], epochBase: number, sharedRuns: number[]): { c: LeaderEpochCache; end: bigint } => {
          const c = new LeaderEpochCache();
          let offset = 0n;
          sharedRuns.forEach((len, i) => {
            c.assign(i, offset);
            offset += BigInt(len);
          });
          runs.forEach((len, i) => {
            c.assign(epochBase + i, offset);
            offset += BigInt(len);
          });
          return { c, end: offset };
        };
        const common = leaderRuns.slice(0, shared);
        const l = build(leaderRuns, shared + 10, common);
        const f = build(followerRuns, shared, common);
        const last = f.c.latestEpoch() ?? -1;
        const diverging = divergingEpochOf(last, f.end, l.c.endOffsetFor(last, l.end), l.end);
        if (diverging === undefined) return;
        const decision = truncationOffsetOf(diverging, f.c.endOffsetFor(diverging.epoch, f.end), f.end);
        expect(decision.offset).toBeLessThanOrEqual(f.end);
        const sharedEnd = common.reduce((n, x) => n + BigInt(x), 0n);
        expect(decision.offset).toBeGreaterThanOrEqual(decision.complete ? sharedEnd : 0n);
      }),
    );
  });
});

describe('batchesFrom', () => {
  function stamped(base: bigint, count: number): Uint8Array {
    const bytes = encodeRecordBatch({ records: Array.from({ length: count }, (_, i) => ({ timestamp: 1_000 + i, key: null, value: new Uint8Array([i]) })) });
    stampBatch(bytes, 0, base, 0);
    return bytes;
  }
  const joined = (...parts: Uint8Array[]): Uint8Array => {
    const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
    let at = 0;
    for (const p of parts) {
      out.set(p, at);
      at += p.length;
    }
    return out;
  };

  it('skips whole batches that end before the follower log end, keeping the rest as they are', () => {
    const a = stamped(0n, 3);
    const b = stamped(3n, 2);
    const all = joined(a, b);
    expect(batchesFrom(all, 0n)).toBe(all);
    expect(batchesFrom(all, 2n)).toBe(all);
    expect(Array.from(batchesFrom(all, 3n))).toEqual(Array.from(b));
    expect(batchesFrom(all, 5n).length).toBe(0);
  });

  it('skips over runs of batches the same way, keeping later runs as they are', () => {
    const a = stamped(0n, 3);
    const b = stamped(3n, 2);
    const c = stamped(5n, 4);
    const runs = [joined(a, b), c];
    expect(runsFrom(runs, 1n)).toBe(runs);
    const fromB = runsFrom(runs, 3n);
    expect(fromB.map((r) => Array.from(r))).toEqual([Array.from(b), Array.from(c)]);
    expect(runsFrom(runs, 5n)[0]).toBe(c);
    expect(runsFrom(runs, 9n)).toEqual([]);
    expect(runsFrom([], 0n)).toEqual([]);
  });
});
