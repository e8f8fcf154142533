import { describe, it, expect } from 'vitest';
import { test, fc } from '@fast-check/vitest';
import { RoundRobinPartitioner, UniformStickyPartitioner, keyPartition, murmur2, toPositive } from '../../../src/clients/producer/partitioners.ts';
import type { Partitioner } from '../../../src/clients/producer/partitioners.ts';
import { createRandom } from '../../../src/random.ts';
import type { Random } from '../../../src/random.ts';
import { InvalidArgumentError } from '../../../src/errors.ts';

const utf8 = (s: string): Uint8Array => new TextEncoder().encode(s);

describe('murmur2', () => {
  // Kafka's UtilsTest.testMurmur2 vectors.
  it.each([
    ['21', -973932308],
    ['foobar', -790332482],
    ['a-little-bit-long-string', -985981536],
    ['a-little-bit-longer-string', -1486304829],
    ['lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8', -58897971],
    ['abc', 479470107],
  ])('murmur2(%j) = %d', (input, expected) => {
    expect(murmur2(utf8(input))).toBe(expected);
  });

  it('hashes the empty key', () => {
    const h = murmur2(new Uint8Array(0));
    expect(Number.isInteger(h)).toBe(true);
    expect(h).toBe(h | 0);
  });

  it('toPositive clears the sign bit only', () => {
    expect(toPositive(-1)).toBe(0x7fffffff);
    expect(toPositive(-2147483648)).toBe(0);
    expect(toPositive(5)).toBe(5);
  });
});

describe('keyPartition', () => {
  test.prop([fc.uint8Array({ maxLength: 64 }), fc.integer({ min: 1, max: 10_000 })], { seed: 794, numRuns: 500 })('same key, same partition, always in range', (key, n) => {
    const p = keyPartition(key, n);
    expect(Number.isInteger(p)).toBe(true);
    expect(p).toBeGreaterThanOrEqual(0);
    expect(p).toBeLessThan(n);
    expect(keyPartition(key.slice(), n)).toBe(p);
    expect(p).toBe(toPositive(murmur2(key)) % n);
  });

  it('matches the partition a Kafka producer picks', () => {
    // (toPositive(-790332482) = 1357151166) % 6 = 0, checked by hand from the published hash.
    expect(keyPartition(utf8('foobar'), 6)).toBe(1357151166 % 6);
  });

  it('rejects a non-positive partition count', () => {
    expect(() => keyPartition(utf8('k'), 0)).toThrow(InvalidArgumentError);
  });
});

const ALL6 = [0, 1, 2, 3, 4, 5];

describe('UniformStickyPartitioner', () => {
  it('sticks for ≥ batch.size bytes per partition and spreads 10 MB near-uniformly (χ²)', () => {
    const batchSize = 16384;
    const recordSize = 100;
    const total = 10 * 1024 * 1024;
    const partitioner = new UniformStickyPartitioner({ random: createRandom(42), batchSize, adaptive: false });
    const bytesPerPartition = new Array<number>(6).fill(0);
    const runs: number[] = [];
    let runPartition = -1;
    let runBytes = 0;
    for (let produced = 0; produced < total; produced += recordSize) {
      const p = partitioner.partition('t', 6, ALL6);
      if (p !== runPartition) {
        if (runPartition >= 0) runs.push(runBytes);
        runPartition = p;
        runBytes = 0;
      }
      runBytes += recordSize;
      bytesPerPartition[p] = (bytesPerPartition[p] as number) + recordSize;
      partitioner.onAppend('t', p, recordSize);
    }
    expect(runs.length).toBeGreaterThan(100);
    for (const run of runs) expect(run).toBeGreaterThanOrEqual(batchSize);

    // Each partition should get about 1/6 of the bytes; test in units of whole sticky periods.
    const unit = Math.ceil(batchSize / recordSize) * recordSize;
    const counts = bytesPerPartition.map((b) => b / unit);
    const n = counts.reduce((a, b) => a + b, 0);
    const expected = n / 6;
    const chi2 = counts.reduce((acc, c) => acc + (c - expected) ** 2 / expected, 0);
    // 5 degrees of freedom, p = 0.001 critical value.
    expect(chi2).toBeLessThan(20.52);
  });

  /** A seeded Random that counts draws, so a switch is visible even when it lands on the same partition. */
  function countingRandom(seed: number): { random: Random; draws: () => number } {
    const inner = createRandom(seed);
    let draws = 0;
    const random: Random = {
      ...inner,
      int: (max) => {
        draws++;
        return inner.int(max);
      },
      pick: (items) => {
        draws++;
        return inner.pick(items);
      },
    };
    return { random, draws: () => draws };
  }

  it('switches after exactly batch.size bytes when batches are full', () => {
    const { random, draws } = countingRandom(1);
    const partitioner = new UniformStickyPartitioner({ random, batchSize: 1000, adaptive: false });
    const p = partitioner.partition('t', 6, ALL6);
    expect(draws()).toBe(1);
    for (let i = 0; i < 9; i++) partitioner.onAppend('t', p, 100);
    expect(partitioner.partition('t', 6, ALL6)).toBe(p); // 900 < 1000
    expect(draws()).toBe(1);
    partitioner.onAppend('t', p, 100); // 1000 bytes: switch due
    const q = partitioner.partition('t', 6, ALL6);
    expect(draws()).toBe(2);
    partitioner.onAppend('t', q, 999); // the count restarted with the new partition
    partitioner.partition('t', 6, ALL6);
    expect(draws()).toBe(2);
  });

  it('holds the switch while the last batch is open, but not past 2 × batch.size', () => {
    const { random, draws } = countingRandom(3);
    const partitioner = new UniformStickyPartitioner({ random, batchSize: 1000, adaptive: false });
    const p = partitioner.partition('t', 6, ALL6);
    for (let i = 0; i < 15; i++) partitioner.onAppend('t', p, 100, false);
    expect(partitioner.partition('t', 6, ALL6)).toBe(p); // 1500 bytes, batch still open: no switch
    expect(draws()).toBe(1);
    // The batch fills: a 0-byte update completes the held-back switch (Kafka's partitionChanged path).
    partitioner.onAppend('t', p, 0, true);
    const q = partitioner.partition('t', 6, ALL6);
    expect(draws()).toBe(2);
    // The batch never fills: the switch still happens at 2 × batch.size.
    for (let i = 0; i < 19; i++) partitioner.onAppend('t', q, 100, false);
    partitioner.partition('t', 6, ALL6);
    expect(draws()).toBe(2); // 1900 bytes
    partitioner.onAppend('t', q, 100, false); // 2000 bytes
    partitioner.partition('t', 6, ALL6);
    expect(draws()).toBe(3);
  });

  it('ignores appends to partitions it did not choose (keyed records)', () => {
    const partitioner = new UniformStickyPartitioner({ random: createRandom(5), batchSize: 100, adaptive: false });
    const p = partitioner.partition('t', 6, ALL6);
    partitioner.onAppend('t', (p + 1) % 6, 10_000);
    partitioner.onAppend('other', p, 10_000);
    expect(partitioner.partition('t', 6, ALL6)).toBe(p);
  });

  it('never picks an unavailable partition while some are available', () => {
    const partitioner = new UniformStickyPartitioner({ random: createRandom(7), batchSize: 1, adaptive: false });
    const seen = new Set<number>();
    for (let i = 0; i < 2000; i++) {
      const p = partitioner.partition('t', 6, [1, 4]);
      seen.add(p);
      partitioner.onAppend('t', p, 1);
    }
    expect([...seen].sort()).toEqual([1, 4]);
  });

  it('picks among all partitions when none is available', () => {
    const partitioner = new UniformStickyPartitioner({ random: createRandom(8), batchSize: 1, adaptive: false });
    const seen = new Set<number>();
    for (let i = 0; i < 2000; i++) {
      const p = partitioner.partition('t', 6, []);
      seen.add(p);
      partitioner.onAppend('t', p, 1);
    }
    expect([...seen].sort()).toEqual(ALL6);
  });

  it('adaptive: weights the next partition toward the shortest queue', () => {
    const draws = (adaptive: boolean): number[] => {
      const partitioner = new UniformStickyPartitioner({ random: createRandom(11), batchSize: 1, adaptive });
      partitioner.updateQueueSizes('t', ALL6, [0, 5, 5, 5, 5, 5]);
      const counts = new Array<number>(6).fill(0);
      for (let i = 0; i < 6000; i++) {
        const p = partitioner.partition('t', 6, ALL6);
        counts[p] = (counts[p] as number) + 1;
        partitioner.onAppend('t', p, 1);
      }
      return counts;
    };
    const weighted = draws(true);
    const uniform = draws(false);
    // CFT = [6, 7, 8, 9, 10, 11]: partition 0 expected 6/11 ≈ 54.5 %, the others 1/11 each.
    expect((weighted[0] as number) / 6000).toBeGreaterThan(0.5);
    expect((weighted[0] as number) / 6000).toBeLessThan(0.59);
    for (let p = 1; p < 6; p++) expect((weighted[p] as number) / 6000).toBeLessThan(0.12);
    expect((uniform[0] as number) / 6000).toBeLessThan(0.2);
  });

  it('adaptive: excludes partitions missing from the load stats, falls back to uniform on equal queues', () => {
    const partitioner = new UniformStickyPartitioner({ random: createRandom(12), batchSize: 1 });
    // Partitions 2 and 5 have no leader, so they are left out; equal sizes over a subset still use the table.
    partitioner.updateQueueSizes('t', [0, 1, 3, 4], [2, 2, 2, 2], 6);
    const seen = new Set<number>();
    for (let i = 0; i < 1000; i++) {
      const p = partitioner.partition('t', 6, ALL6);
      seen.add(p);
      partitioner.onAppend('t', p, 1);
    }
    expect([...seen].sort()).toEqual([0, 1, 3, 4]);

    partitioner.updateQueueSizes('t', ALL6, [3, 3, 3, 3, 3, 3]);
    seen.clear();
    for (let i = 0; i < 1000; i++) {
      const p = partitioner.partition('t', 6, ALL6);
      seen.add(p);
      partitioner.onAppend('t', p, 1);
    }
    expect([...seen].sort()).toEqual(ALL6);
  });

  it('is deterministic for a seed', () => {
    const run = (): number[] => {
      const partitioner = new UniformStickyPartitioner({ random: createRandom(99), batchSize: 500 });
      const out: number[] = [];
      for (let i = 0; i < 500; i++) {
        const p = partitioner.partition('t', 6, ALL6);
        out.push(p);
        partitioner.onAppend('t', p, 50);
      }
      return out;
    };
    expect(run()).toEqual(run());
  });

  it('validates its inputs', () => {
    expect(() => new UniformStickyPartitioner({ random: createRandom(1), batchSize: 0 })).toThrow(InvalidArgumentError);
    const partitioner = new UniformStickyPartitioner({ random: createRandom(1) });
    expect(() => partitioner.partition('t', 0, [])).toThrow(InvalidArgumentError);
    expect(() => partitioner.updateQueueSizes('t', [0, 1], [1])).toThrow(InvalidArgumentError);
    expect(() => partitioner.onAppend('t', 0, -1)).toThrow(InvalidArgumentError);
  });
});

describe('RoundRobinPartitioner', () => {
  const args = (topic: string, availablePartitions: readonly number[], partitionCount = 4) => ({ topic, key: null, value: null, partitionCount, availablePartitions });

  it('cycles over available partitions, per topic', () => {
    const rr = new RoundRobinPartitioner();
    const partition: Partitioner = rr.partition;
    expect([0, 1, 2, 3, 4, 5].map(() => partition(args('a', [0, 1, 2, 3])))).toEqual([0, 1, 2, 3, 0, 1]);
    expect(partition(args('b', [0, 1, 2, 3]))).toBe(0);
    // Kafka's RoundRobinPartitionerTest.testRoundRobinWithUnavailablePartitions: only available ones are used.
    const rr2 = new RoundRobinPartitioner();
    expect([0, 1, 2, 3].map(() => rr2.partition(args('t', [0, 2])))).toEqual([0, 2, 0, 2]);
  });

  it('uses all partitions when none is available', () => {
    const rr = new RoundRobinPartitioner();
    expect([0, 1, 2, 3, 4].map(() => rr.partition(args('t', [], 3)))).toEqual([0, 1, 2, 0, 1]);
  });
});
