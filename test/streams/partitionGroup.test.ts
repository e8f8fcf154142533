/**
 * max.task.idle.ms (KIP-695) on a task's partition queues: processing goes in smallest-head-
 * timestamp order while every partition has records, stops when one runs dry, waits while that
 * partition has data on the broker, and once it is caught up waits max.task.idle.ms of wall-clock
 * time (0: not at all; -1: never waits). Held records are reported so they are not committed.
 */
import { describe, expect, it } from 'vitest';
import { PartitionGroups } from '../../src/streams/partitionGroup.ts';
import type { RawRecord, StreamTask } from '../../src/streams/task.ts';

const task = { id: '0_0' } as StreamTask;
const inputs = () => [
  { topic: 'left', fullTopic: 'left', partition: 0 },
  { topic: 'right', fullTopic: 'right', partition: 0 },
];
const raw = (offset: number, timestamp: number): RawRecord => ({ key: null, value: null, timestamp, headers: [], offset: BigInt(offset) });

function taken(groups: PartitionGroups, now: number): string[] {
  return groups.take(now).flatMap((run) => run.raws.map((r) => `${run.topic}@${r.timestamp}`));
}

describe('partition groups (max.task.idle.ms)', () => {
  it('interleaves by timestamp while both sides have records, then waits for the empty side while it has data on the broker', () => {
    const lags = new Map<string, bigint | undefined>([['right', undefined]]);
    const groups = new PartitionGroups(0, (topic) => (lags.has(topic) ? lags.get(topic) : 0n));
    groups.add(task, inputs, 'left', 0, raw(0, 1));
    groups.add(task, inputs, 'left', 0, raw(1, 5));
    groups.add(task, inputs, 'left', 0, raw(2, 9));
    // The right side's lag is not known yet: nothing goes.
    expect(taken(groups, 0)).toEqual([]);
    expect(groups.heldFrom('left', 0)).toBe(0n);
    groups.add(task, inputs, 'right', 0, raw(0, 3));
    lags.set('right', 4n);
    // Both have records: left@1, right@3; then right is empty with 4 records on the broker: wait.
    expect(taken(groups, 0)).toEqual(['left@1', 'right@3']);
    expect(groups.heldFrom('left', 0)).toBe(1n);
    expect(taken(groups, 1_000_000)).toEqual([]);
    // Caught up (lag 0), max.task.idle.ms 0: the rest goes at once.
    lags.set('right', 0n);
    expect(taken(groups, 1_000_000)).toEqual(['left@5', 'left@9']);
    expect(groups.heldFrom('left', 0)).toBeUndefined();
    expect(groups.holding).toBe(false);
  });

  it('keeps each partition in offset order, out-of-order timestamps included; equal heads go in input order', () => {
    const groups = new PartitionGroups(-1, () => 0n);
    groups.add(task, inputs, 'left', 0, raw(0, 10));
    groups.add(task, inputs, 'left', 0, raw(1, 3));
    groups.add(task, inputs, 'left', 0, raw(2, 4));
    groups.add(task, inputs, 'right', 0, raw(0, 5));
    groups.add(task, inputs, 'right', 0, raw(1, 10));
    expect(taken(groups, 0)).toEqual(['right@5', 'left@10', 'left@3', 'left@4', 'right@10']);
  });

  it('waits max.task.idle.ms of wall-clock time for a caught-up empty partition', () => {
    const groups = new PartitionGroups(100, () => 0n);
    groups.add(task, inputs, 'left', 0, raw(0, 1));
    expect(taken(groups, 1_000)).toEqual([]);
    expect(taken(groups, 1_099)).toEqual([]);
    expect(taken(groups, 1_100)).toEqual(['left@1']);
  });

  it('-1 never waits; a task with one partition never waits', () => {
    const never = new PartitionGroups(-1, () => undefined);
    never.add(task, inputs, 'left', 0, raw(0, 1));
    expect(taken(never, 0)).toEqual(['left@1']);
    const single = new PartitionGroups(1_000, () => undefined);
    const one = { id: '1_0' } as StreamTask;
    single.add(one, () => [{ topic: 'only', fullTopic: 'only', partition: 0 }], 'only', 0, raw(7, 1));
    expect(taken(single, 0)).toEqual(['only@1']);
  });

  it('drops held records of revoked tasks (they are read again from the committed offset)', () => {
    const groups = new PartitionGroups(0, () => undefined);
    groups.add(task, inputs, 'left', 0, raw(0, 1));
    expect(groups.holding).toBe(true);
    groups.drop(['0_0']);
    expect(groups.holding).toBe(false);
    expect(groups.heldFrom('left', 0)).toBeUndefined();
  });
});
