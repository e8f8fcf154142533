/**
 * The idempotent producer's per-partition sequence bookkeeping (src/clients/producer/sequences.ts,
 * Kafka's unresolved sequences and KIP-360): a sent batch keeps its session and sequence; a
 * partition moves to a newer session only when nothing of it is in flight; a failed batch of
 * unknown outcome holds new batches back until the partition drains.
 */
import { describe, expect, it } from 'vitest';
import { PartitionSequences } from '../../../src/clients/producer/sequences.ts';
import type { SequencedBatch } from '../../../src/clients/producer/sequences.ts';

interface TestBatch extends SequencedBatch {
  readonly count: number;
}

const batch = (count: number, key = 'p0'): TestBatch => ({ key, count, sequenceIndex: -1, session: -1, settled: false });
const sequences = (): PartitionSequences<TestBatch> => new PartitionSequences<TestBatch>((b) => b.count);

describe('PartitionSequences', () => {
  it('assigns consecutive sequences and waits for in-flight batches before starting a newer session at 0', () => {
    const s = sequences();
    const a = batch(3);
    const b = batch(2);
    s.assign(a, 1);
    s.assign(b, 1);
    expect([a.sequenceIndex, b.sequenceIndex]).toEqual([0, 3]);
    expect(s.mayAssign('p0', 2)).toBe(false);
    s.acknowledge(a);
    expect(s.mayAssign('p0', 2)).toBe(false);
    s.acknowledge(b);
    expect(s.mayAssign('p0', 2)).toBe(true);
    const c = batch(1);
    s.assign(c, 2);
    expect([c.session, c.sequenceIndex]).toEqual([2, 0]);
    // The older batches kept theirs.
    expect([a.session, b.session]).toEqual([1, 1]);
  });

  it('resolves a failed batch as written when a later one is acknowledged', () => {
    const s = sequences();
    const a = batch(1);
    const b = batch(1);
    s.assign(a, 1);
    s.assign(b, 1);
    s.failSent(a);
    expect(s.isUnresolved('p0')).toBe(true);
    expect(s.mayAssign('p0', 1)).toBe(false);
    expect(s.resolve('p0')).toBe('pending');
    s.acknowledge(b);
    expect(s.resolve('p0')).toBe('resolved');
    expect(s.mayAssign('p0', 1)).toBe(true);
    const c = batch(1);
    s.assign(c, 1);
    expect(c.sequenceIndex).toBe(2);
  });

  it('reports a gap when nothing after the failed batch was acknowledged: the partition starts over in the next session', () => {
    const s = sequences();
    const a = batch(1);
    s.assign(a, 1);
    s.acknowledge(a);
    const b = batch(2);
    s.assign(b, 1);
    s.failSent(b);
    expect(s.resolve('p0')).toBe('gap');
    expect(s.isUnresolved('p0')).toBe(false);
    const c = batch(1);
    s.assign(c, 2);
    expect([c.session, c.sequenceIndex]).toEqual([2, 0]);
  });

  it('restarts the unsettled batches of a partition from 0 in a new session, in order (KIP-360)', () => {
    const s = sequences();
    const [a, b, c] = [batch(1), batch(2), batch(3)];
    s.assign(a, 1);
    s.assign(b, 1);
    s.assign(c, 1);
    s.acknowledge(a);
    expect(s.isNext(b)).toBe(true);
    expect(s.isNext(c)).toBe(false);
    expect(s.restart('p0', 2)).toEqual([b, c]);
    expect([b.session, b.sequenceIndex, c.session, c.sequenceIndex]).toEqual([2, 0, 2, 2]);
    expect(a.session).toBe(1);
    const d = batch(1);
    s.assign(d, 2);
    expect(d.sequenceIndex).toBe(5);
  });
});
