/**
 * Kafka Streams' record choice within a task: across the task's partitions (a table and a stream,
 * co-partitioned) the record with the smallest head timestamp goes first, while each partition
 * keeps its offset order. The runs are cut no finer than the order needs, so each stays a batch.
 */
import type { RawRecord, StreamTask } from './task.ts';

/** Records of one partition for one task. */
export interface Run {
  readonly task: StreamTask;
  readonly topic: string;
  readonly raws: RawRecord[];
  /** The partition read, by full topic name (known to the thread's partition groups). */
  readonly fullTopic?: string;
  readonly partition?: number;
}

/**
 * One task's runs of several partitions, cut and interleaved so that the record with the smallest
 * timestamp goes first (ties: the partition polled first); each partition keeps its offset order.
 */
export function byTimestamp(runs: readonly Run[]): Run[] {
  const heads = runs.map(() => 0);
  const out: Run[] = [];
  for (;;) {
    let pick = -1;
    let low = Infinity;
    for (let i = 0; i < runs.length; i++) {
      const head = (runs[i] as Run).raws[heads[i] as number];
      if (head !== undefined && head.timestamp < low) {
        low = head.timestamp;
        pick = i;
      }
    }
    if (pick < 0) return out;
    let others = Infinity;
    for (let i = 0; i < runs.length; i++) {
      const head = (runs[i] as Run).raws[heads[i] as number];
      if (i !== pick && head !== undefined && head.timestamp < others) others = head.timestamp;
    }
    const run = runs[pick] as Run;
    const from = heads[pick] as number;
    let to = from + 1;
    while (to < run.raws.length && (run.raws[to] as RawRecord).timestamp < others) to++;
    heads[pick] = to;
    out.push({ task: run.task, topic: run.topic, raws: run.raws.slice(from, to) });
  }
}

