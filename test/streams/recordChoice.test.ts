/**
 * Kafka Streams' record choice within a task: across its partitions the record with the smallest
 * head timestamp goes first, while each partition keeps its offset order.
 */
import { describe, expect, it } from 'vitest';
import { byTimestamp } from '../../src/streams/recordChoice.ts';
import type { Run } from '../../src/streams/recordChoice.ts';
import type { StreamTask } from '../../src/streams/task.ts';

const task = {} as StreamTask;
const run = (topic: string, timestamps: number[]): Run => ({ task, topic, raws: timestamps.map((timestamp, i) => ({ key: null, value: null, timestamp, headers: [], offset: BigInt(i) })) });
const order = (runs: Run[]): string[] => runs.flatMap((r) => r.raws.map((x) => `${r.topic}@${x.timestamp}`));

describe('record choice by smallest head timestamp', () => {
  it('interleaves partitions by timestamp, in batches as long as the order allows', () => {
    const out = byTimestamp([run('orders', [5, 6, 20, 21]), run('customers', [1, 10, 30])]);
    expect(order(out)).toEqual(['customers@1', 'orders@5', 'orders@6', 'customers@10', 'orders@20', 'orders@21', 'customers@30']);
    expect(out.map((r) => r.raws.length)).toEqual([1, 2, 1, 2, 1]);
  });

  it('keeps offset order within a partition even when its timestamps go back', () => {
    expect(order(byTimestamp([run('a', [10, 3, 4]), run('b', [5])]))).toEqual(['b@5', 'a@10', 'a@3', 'a@4']);
  });

  it('breaks ties in favour of the partition polled first', () => {
    expect(order(byTimestamp([run('a', [1, 2]), run('b', [1, 2])]))).toEqual(['a@1', 'b@1', 'a@2', 'b@2']);
  });
});
