import { describe, expect, it } from 'vitest';
import { check, History } from '../helpers/histories.ts';

// The checker must catch what it claims to catch, or the simulations prove nothing.
describe('history checker', () => {
  function base(): History {
    const h = new History();
    h.acks.push({ producer: 'p', key: 'a', value: 'v0', partition: 0, offset: 0n, sequence: 0 });
    h.acks.push({ producer: 'p', key: 'a', value: 'v1', partition: 0, offset: 1n, sequence: 1 });
    return h;
  }

  it('accepts a clean history', () => {
    const h = base();
    h.consume({ consumer: 'c', session: 0, partition: 0, offset: 0n, key: 'a', value: 'v0' });
    h.consume({ consumer: 'c', session: 0, partition: 0, offset: 1n, key: 'a', value: 'v1' });
    h.commit('c', 0, 2n);
    expect(Object.values(check(h)).every((list) => list.length === 0)).toBe(true);
  });

  it('reports a lost acknowledged write, an inconsistent offset and an unexpected value', () => {
    const h = base();
    h.consume({ consumer: 'c', session: 0, partition: 0, offset: 0n, key: 'a', value: 'other' });
    const anomalies = check(h);
    expect(anomalies.lostWrites.map((a) => a.value)).toEqual(['v1']);
    expect(anomalies.unexpectedValues).toHaveLength(1);
    h.consume({ consumer: 'd', session: 0, partition: 0, offset: 0n, key: 'a', value: 'v0' });
    expect(check(h).inconsistentOffsets).toHaveLength(1);
  });

  it('reports processing again after a successful commit covered the record, but not before', () => {
    const h = base();
    h.consume({ consumer: 'c', session: 0, partition: 0, offset: 0n, key: 'a', value: 'v0' });
    h.consume({ consumer: 'd', session: 0, partition: 0, offset: 0n, key: 'a', value: 'v0' });
    expect(check(h).duplicatesAfterCommit).toHaveLength(0);
    h.commit('d', 0, 1n);
    h.consume({ consumer: 'e', session: 0, partition: 0, offset: 0n, key: 'a', value: 'v0' });
    expect(check(h).duplicatesAfterCommit).toHaveLength(1);
  });

  it('reports per-key reordering, non-monotonic polls and backward commits', () => {
    const h = new History();
    h.acks.push({ producer: 'p', key: 'a', value: 'v0', partition: 0, offset: 5n, sequence: 0 });
    h.acks.push({ producer: 'p', key: 'a', value: 'v1', partition: 0, offset: 4n, sequence: 1 });
    h.consume({ consumer: 'c', session: 0, partition: 0, offset: 5n, key: 'a', value: 'v0' });
    h.consume({ consumer: 'c', session: 0, partition: 0, offset: 4n, key: 'a', value: 'v1' });
    h.commit('c', 0, 6n);
    h.commit('c', 0, 5n);
    const anomalies = check(h);
    expect(anomalies.keyOrder).toHaveLength(1);
    expect(anomalies.nonMonotonicPolls).toHaveLength(1);
    expect(anomalies.backwardCommits).toHaveLength(1);
  });
});
