/**
 * The record accumulator (Kafka's `RecordAccumulator`): records are appended to one open batch per
 * partition, which is closed into the ready queue when it reaches `batch.size`, when it has lingered
 * `linger.ms`, or on a flush. It also chooses partitions, since the uniform sticky partitioner
 * follows how full the batches are (Kafka's built-in partitioner lives in its accumulator too).
 *
 * The sender takes batches from {@link RecordAccumulator.ready} in order and puts back, in front,
 * what it cannot send yet: a partition's batches leave in the order they were closed.
 */
import type { Clock, TimerHandle } from '../../clock.ts';
import { InvalidArgumentError } from '../../errors.ts';
import type { Random } from '../../random.ts';
import { RecordBatchBuilder } from '../../record/recordBatchBuilder.ts';
import type { EncodedHeader } from '../../record/recordBatchBuilder.ts';
import { partitionKey } from './batch.ts';
import type { Batch, Delivery } from './batch.ts';
import { keyPartition, RoundRobinPartitioner, UniformStickyPartitioner } from './partitioners.ts';
import type { ProducerConfig } from './producerConfig.ts';

/** Batches per partition, filled by `send` and closed for the sender. */
export class RecordAccumulator {
  /** Open (still filling) batches per topic, by partition. */
  private readonly open = new Map<string, Map<number, Batch>>();
  private openCount = 0;
  /** Closed batches, oldest first, waiting for the sender (which puts back what it cannot send yet). */
  readonly ready: Batch[] = [];
  private readonly sticky: UniformStickyPartitioner;
  private readonly roundRobin = new RoundRobinPartitioner();
  private lingerTimer: TimerHandle | undefined;
  private drainQueued = false;
  /** Flushes waiting now (set by the producer's `flush`, Kafka's `flushInProgress`). */
  flushesInProgress = 0;

  /** `drain` sends the ready batches (the sender's). */
  constructor(
    private readonly config: ProducerConfig,
    private readonly clock: Clock,
    random: Random,
    private readonly drain: () => void,
  ) {
    this.sticky = new UniformStickyPartitioner({ random, batchSize: config.batchSize, adaptive: config.adaptivePartitioning });
  }

  /**
   * The partition of a record: the explicit one, the custom or round-robin partitioner's, murmur2 of
   * the key, or the uniform sticky partition for a null key (Kafka's built-in partitioner).
   * @throws InvalidArgumentError when the partition does not exist.
   */
  choosePartition(topic: string, key: Uint8Array | null, value: Uint8Array | null, explicit: number | undefined, count: number, available: readonly number[]): number {
    let partition: number;
    if (explicit !== undefined) partition = explicit;
    else if (typeof this.config.partitioner === 'function') partition = this.config.partitioner({ topic, key, value, partitionCount: count, availablePartitions: available });
    else if (this.config.partitioner === 'roundrobin') partition = this.roundRobin.partition({ topic, key, value, partitionCount: count, availablePartitions: available });
    else partition = key === null ? this.sticky.partition(topic, count, available) : keyPartition(key, count);
    if (!Number.isInteger(partition) || partition < 0 || partition >= count) {
      throw new InvalidArgumentError('partition', `partition ${partition} does not exist: topic "${topic}" has ${count} partition${count === 1 ? '' : 's'} (0..${count - 1})`);
    }
    return partition;
  }

  /** The open batches of `topic`, by partition (kept for a whole `send`). */
  openFor(topic: string): Map<number, Batch> {
    let byPartition = this.open.get(topic);
    if (byPartition === undefined) this.open.set(topic, (byPartition = new Map()));
    return byPartition;
  }

  /** Bytes of the open batch of `partition`, undefined when there is none. */
  openBytes(open: Map<number, Batch>, partition: number): number | undefined {
    return open.get(partition)?.bytes;
  }

  /**
   * A new batch of `batch`'s partition holding the records of its runs that `keep` names, in
   * their order, for the same sends: what is left of a batch the broker refused in part.
   */
  rebuild(batch: Batch, records: ReadonlyArray<{ timestamp: number; key: Uint8Array | null; value: Uint8Array | null; headers: readonly EncodedHeader[] }>, keep: ReadonlySet<number>): Batch | undefined {
    const open = new Map<number, Batch>();
    for (let run = 0; run < batch.runs.length; run++) {
      if (!keep.has(run)) continue;
      const start = run === 0 ? 0 : (batch.runEnds[run - 1] as number);
      const end = batch.runEnds[run] as number;
      for (let i = start; i < end; i++) {
        const r = records[i] as { timestamp: number; key: Uint8Array | null; value: Uint8Array | null; headers: readonly EncodedHeader[] };
        this.append(open, batch.topic, batch.partition, r.timestamp, r.key, r.value, r.headers, 61, batch.runs[run] as Delivery, batch.indices[i] as number, true);
      }
    }
    const rebuilt = open.get(batch.partition);
    if (rebuilt !== undefined) this.openCount--;
    return rebuilt;
  }

  /** Closes the open batch of `partition`, if any, into the ready queue: what comes next starts a batch of its own. */
  seal(open: Map<number, Batch>, partition: number): void {
    const batch = open.get(partition);
    if (batch === undefined) return;
    this.ready.push(batch);
    open.delete(partition);
    this.openCount--;
  }

  /** Moves every open batch to the ready queue. */
  closeOpenBatches(filter?: (batch: Batch) => boolean): void {
    for (const byPartition of this.open.values()) {
      for (const [partition, batch] of byPartition) {
        if (filter !== undefined && !filter(batch)) continue;
        this.ready.push(batch);
        byPartition.delete(partition);
        this.openCount--;
      }
    }
  }

  /**
   * Appends one record to its partition's open batch, closing the batch (to the ready queue) when
   * the record would overflow `batch.size` or fills it, and notes where the record belongs in its send.
   */
  append(open: Map<number, Batch>, topic: string, partition: number, timestamp: number, key: Uint8Array | null, value: Uint8Array | null, headers: readonly EncodedHeader[], bytes: number, delivery: Delivery, index: number, together = false): void {
    let batch = open.get(partition);
    if (!together && batch !== undefined && batch.bytes + bytes > this.config.batchSize && batch.builder.recordCount > 0) {
      this.ready.push(batch);
      open.delete(partition);
      this.openCount--;
      batch = undefined;
    }
    if (batch === undefined) {
      // Room for as many records as fit when they are all this one's size; grown when they are smaller.
      const expected = Math.ceil(Math.max(this.config.batchSize - 61, bytes) / bytes) + 1;
      batch = { topic, partition, key: partitionKey({ topic, partition }), builder: new RecordBatchBuilder(Math.min(this.config.batchSize, this.config.maxRequestSize) + 64), runs: [], runEnds: [], indices: new Int32Array(expected), bytes: 61, createdAt: this.clock.now(), attempts: 0, retryAt: 0, sentLeaderEpoch: -1, encoded: undefined, sequenceIndex: -1, session: -1, producerId: -1n, producerEpoch: -1, stampedSession: -1, stampedIndex: -1, settled: false };
      open.set(partition, batch);
      this.openCount++;
    }
    batch.builder.append(timestamp, key, value, headers);
    const count = batch.builder.recordCount;
    const at = count - 1;
    const runs = batch.runs;
    if (runs.length === 0 || runs[runs.length - 1] !== delivery) {
      runs.push(delivery);
      batch.runEnds.push(count);
    } else batch.runEnds[runs.length - 1] = count;
    if (at === batch.indices.length) {
      const grown = new Int32Array(at * 2);
      grown.set(batch.indices);
      batch.indices = grown;
    }
    batch.indices[at] = index;
    delivery.timestamps[index] = timestamp;
    batch.bytes += bytes;
    if (key === null && this.config.partitioner === 'default') this.sticky.onAppend(topic, partition, bytes, batch.bytes >= this.config.batchSize);
    if (!together && batch.bytes >= this.config.batchSize) {
      this.ready.push(batch);
      open.delete(partition);
      this.openCount--;
    }
  }

  /**
   * After records were appended: sends at once (linger.ms = 0, or a flush waiting) on the next turn
   * of the event loop, or when the oldest open batch has lingered long enough.
   */
  scheduleDrain(): void {
    if (this.config.lingerMs === 0 || this.flushesInProgress > 0) {
      if (this.drainQueued) return;
      this.drainQueued = true;
      // On the next turn of the event loop, not in a microtask: sends resuming from awaits (on
      // metadata, or an application's async step) append first, so a batch carries all of them
      // — with linger.ms=0 Kafka's sender thread batches whatever accumulated while it was busy.
      this.clock.setTimeout(() => {
        this.drainQueued = false;
        this.closeOpenBatches();
        this.drain();
      }, 0);
      return;
    }
    if (this.ready.length > 0) this.drain();
    if (this.lingerTimer !== undefined || this.openCount === 0) return;
    this.lingerTimer = this.clock.setTimeout(() => {
      this.lingerTimer = undefined;
      const now = this.clock.now();
      this.closeOpenBatches((batch) => now - batch.createdAt >= this.config.lingerMs);
      this.drain();
      if (this.openCount > 0) this.scheduleDrain();
    }, this.config.lingerMs);
  }

  /** Stops the linger timer (the producer is closing, after its last flush). */
  close(): void {
    if (this.lingerTimer !== undefined) this.clock.clearTimeout(this.lingerTimer);
  }
}
