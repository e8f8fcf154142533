/**
 * Kafka Streams' PartitionGroup: the records each task has fetched but not yet processed, one
 * queue per input partition, and when the task may process them (`max.task.idle.ms`, KIP-695).
 *
 * A task reading several partitions (a stream and a table it joins, co-partitioned) processes
 * only while every one of them has buffered records, taking the smallest head timestamp first, so
 * a stream record never overtakes an earlier table update merely because it was fetched first.
 * When a partition's queue is empty the task waits: always while that partition has data on the
 * broker not yet fetched (its lag is unknown or positive); once it is caught up, for
 * `max.task.idle.ms` of wall-clock time (0, the default: not at all), then it processes what it has
 * ("enforced processing"). `-1` never waits. A task with one input partition never waits.
 *
 * Held records are not committed: the thread commits, per partition, the offset of the first
 * record still held, so a crash or a rebalance reads them again.
 */
import { TopologyError } from '../errors.ts';
import type { RawRecord, StreamTask } from './task.ts';

/** Records of one partition for one task, in offset order: what the thread hands the task as one batch. */
export interface Run {
  readonly task: StreamTask;
  /** The topic's name in the topology (internal topics without the application-id prefix). */
  readonly topic: string;
  readonly raws: RawRecord[];
  readonly fullTopic: string;
  readonly partition: number;
}

/** One input partition of a task: its name in the topology, its full topic name, its partition. */
export interface TaskInput {
  readonly topic: string;
  readonly fullTopic: string;
  readonly partition: number;
}

interface Queue extends TaskInput {
  raws: RawRecord[];
}

interface Group {
  readonly task: StreamTask;
  readonly queues: Queue[];
  /** Wall-clock time since which the task waits for a caught-up empty partition. */
  idleSince: number | undefined;
}

function key(fullTopic: string, partition: number): string {
  return `${fullTopic}\u0000${partition}`;
}

/** The buffered records of a thread's tasks; see the module comment. */
export class PartitionGroups {
  private readonly groups = new Map<string, Group>();
  private readonly byPartition = new Map<string, Queue>();

  constructor(
    /** `max.task.idle.ms`: -1 never waits, 0 (Kafka's default) waits only for data already on the broker. */
    private readonly maxTaskIdleMs: number,
    /** The partition's lag behind its high watermark (last stable offset under read_committed), undefined when not yet known. */
    private readonly lagOf: (fullTopic: string, partition: number) => bigint | undefined,
  ) {}

  /** Buffers a fetched record for `task`, whose input partitions are `inputs`. */
  add(task: StreamTask, inputs: () => readonly TaskInput[], fullTopic: string, partition: number, raw: RawRecord): void {
    this.queue(task, inputs, fullTopic, partition).push(raw);
  }

  /** The queue of `task`'s partition, to push fetched records onto in offset order. */
  queue(task: StreamTask, inputs: () => readonly TaskInput[], fullTopic: string, partition: number): RawRecord[] {
    let queue = this.byPartition.get(key(fullTopic, partition));
    if (queue === undefined || this.groups.get(task.id)?.task !== task) {
      const group: Group = { task, queues: inputs().map((i) => ({ ...i, raws: [] })), idleSince: undefined };
      this.groups.set(task.id, group);
      for (const q of group.queues) this.byPartition.set(key(q.fullTopic, q.partition), q);
      queue = this.byPartition.get(key(fullTopic, partition));
      if (queue === undefined) throw new TopologyError(`partition ${fullTopic}-${partition} is not an input of task ${task.id}`);
    }
    return queue.raws;
  }

  /**
   * Takes what the tasks may process now, in the order to process it: per task, runs in
   * smallest-head-timestamp order, stopping where a partition's queue empties unless the task may
   * then go on without it.
   */
  take(now: number): Run[] {
    const out: Run[] = [];
    for (const group of this.groups.values()) {
      if (!group.queues.some((q) => q.raws.length > 0)) continue;
      if (group.queues.length === 1) {
        // One partition: everything fetched goes, as one batch.
        const q = group.queues[0] as Queue;
        out.push({ task: group.task, topic: q.topic, fullTopic: q.fullTopic, partition: q.partition, raws: q.raws.splice(0) });
        continue;
      }
      if (group.queues.every((q) => q.raws.length > 0)) {
        group.idleSince = undefined;
        out.push(...this.drain(group, true));
        // A partition ran dry: the rest waits unless the task may go on without it.
        if (group.queues.some((q) => q.raws.length > 0) && this.mayEnforce(group, now)) out.push(...this.drain(group, false));
        continue;
      }
      if (this.mayEnforce(group, now)) out.push(...this.drain(group, false));
    }
    return out;
  }

  /** Whether a task with an empty queue may process without it (see the module comment). */
  private mayEnforce(group: Group, now: number): boolean {
    if (this.maxTaskIdleMs < 0) return true;
    for (const q of group.queues) {
      if (q.raws.length > 0) continue;
      const lag = this.lagOf(q.fullTopic, q.partition);
      // Data on the broker not fetched yet: wait for it, whatever max.task.idle.ms says.
      if (lag === undefined || lag > 0n) return false;
    }
    group.idleSince ??= now;
    if (now - group.idleSince < this.maxTaskIdleMs) return false;
    group.idleSince = undefined;
    return true;
  }

  /** Removes records in smallest-head-timestamp order; with `untilEmpty`, stops once any queue is empty. */
  private drain(group: Group, untilEmpty: boolean): Run[] {
    const runs: Run[] = [];
    const heads = group.queues.map(() => 0);
    const live = (i: number): boolean => (heads[i] as number) < (group.queues[i] as Queue).raws.length;
    for (;;) {
      if (untilEmpty && group.queues.some((_, i) => !live(i))) break;
      let pick = -1;
      let low = Infinity;
      for (let i = 0; i < group.queues.length; i++) {
        const head = live(i) ? (group.queues[i] as Queue).raws[heads[i] as number] : undefined;
        if (head !== undefined && head.timestamp < low) {
          low = head.timestamp;
          pick = i;
        }
      }
      if (pick < 0) break;
      const q = group.queues[pick] as Queue;
      const last = runs.at(-1);
      const raw = q.raws[heads[pick] as number] as RawRecord;
      heads[pick] = (heads[pick] as number) + 1;
      if (last !== undefined && last.fullTopic === q.fullTopic && last.partition === q.partition) last.raws.push(raw);
      else runs.push({ task: group.task, topic: q.topic, fullTopic: q.fullTopic, partition: q.partition, raws: [raw] });
    }
    group.queues.forEach((q, i) => q.raws.splice(0, heads[i]));
    return runs;
  }

  /** The offset of the first record held for a partition, if any is held. */
  heldFrom(fullTopic: string, partition: number): bigint | undefined {
    return this.byPartition.get(key(fullTopic, partition))?.raws[0]?.offset;
  }

  /** Whether any record is held. */
  get holding(): boolean {
    for (const q of this.byPartition.values()) if (q.raws.length > 0) return true;
    return false;
  }

  /** Drops the held records of these tasks (revoked, lost), or of all (an abort rewinds the consumer). */
  drop(taskIds?: readonly string[]): void {
    for (const [id, group] of this.groups) {
      if (taskIds !== undefined && !taskIds.includes(id)) continue;
      for (const q of group.queues) this.byPartition.delete(key(q.fullTopic, q.partition));
      this.groups.delete(id);
    }
  }
}
