/**
 * Producer partitioners, as Kafka's producer chooses partitions (kafka-anchor §1.8).
 *
 * - Keyed records: `toPositive(murmur2(key)) % partitionCount` over *all* partitions, so a key
 *   always maps to the same partition whether or not its leader is currently available.
 * - Null keys: {@link UniformStickyPartitioner}, Kafka's KIP-794 built-in partitioner
 *   (`BuiltInPartitioner`): stick to one partition for about `batch.size` bytes, then switch,
 *   optionally weighted toward partitions with shorter queues.
 * - Opt-in: {@link RoundRobinPartitioner}, or any custom {@link Partitioner}.
 *
 * Everything here is pure bookkeeping: no clock, no I/O; randomness comes from an injected
 * {@link Random} so a seed replays the same partition choices.
 */
import { InvalidArgumentError } from '../../errors.ts';
import type { Random } from '../../random.ts';

const MURMUR2_SEED = 0x9747b28c;
const MURMUR2_M = 0x5bd1e995;
const MURMUR2_R = 24;

/**
 * Kafka's `Utils.murmur2`: 32-bit MurmurHash2 with seed 0x9747b28c over little-endian 4-byte
 * blocks. Returns the same signed 32-bit integer Java returns for the same bytes, so keyed
 * records land on the same partition as with a Kafka producer.
 */
export function murmur2(bytes: Uint8Array): number {
  const length = bytes.length;
  let h = MURMUR2_SEED ^ length;
  const blocks = length >>> 2;
  for (let i = 0; i < blocks; i++) {
    const i4 = i * 4;
    let k = (bytes[i4] as number) | ((bytes[i4 + 1] as number) << 8) | ((bytes[i4 + 2] as number) << 16) | ((bytes[i4 + 3] as number) << 24);
    // Math.imul gives Java's wrapping int multiplication; `>>>` then `^` gives Java's `k ^= k >>> r`.
    k = Math.imul(k, MURMUR2_M);
    k ^= k >>> MURMUR2_R;
    k = Math.imul(k, MURMUR2_M);
    h = Math.imul(h, MURMUR2_M);
    h ^= k;
  }
  // Java's fall-through switch over the 1-3 tail bytes, written without fall-through.
  const tail = length & 3;
  const base = length & ~3;
  if (tail === 3) h ^= (bytes[base + 2] as number) << 16;
  if (tail >= 2) h ^= (bytes[base + 1] as number) << 8;
  if (tail >= 1) {
    h ^= bytes[base] as number;
    h = Math.imul(h, MURMUR2_M);
  }
  h ^= h >>> 13;
  h = Math.imul(h, MURMUR2_M);
  h ^= h >>> 15;
  return h | 0;
}

/** Kafka's `Utils.toPositive`: clears the sign bit (`n & 0x7fffffff`), never `Math.abs`, so `-2^31` maps to 0. */
export function toPositive(n: number): number {
  return n & 0x7fffffff;
}

function checkPartitionCount(partitionCount: number): void {
  if (!Number.isInteger(partitionCount) || partitionCount < 1) {
    throw new InvalidArgumentError('partitionCount', `must be a positive integer, got ${String(partitionCount)}`);
  }
}

/**
 * The partition Kafka's default partitioner picks for a non-null serialized key:
 * `toPositive(murmur2(key)) % partitionCount`. Counts all partitions, available or not, so the
 * same key always maps to the same partition for a given partition count.
 */
export function keyPartition(key: Uint8Array, partitionCount: number): number {
  checkPartitionCount(partitionCount);
  return toPositive(murmur2(key)) % partitionCount;
}

/** What a {@link Partitioner} is told about one record. */
export interface PartitionerArgs {
  /** Topic the record is sent to. */
  readonly topic: string;
  /** Serialized key, or null. */
  readonly key: Uint8Array | null;
  /** Serialized value, or null (a tombstone). */
  readonly value: Uint8Array | null;
  /** Number of partitions of the topic; valid partitions are `0 .. partitionCount - 1`. */
  readonly partitionCount: number;
  /** Partitions that currently have a leader, ascending. May be empty. */
  readonly availablePartitions: readonly number[];
}

/**
 * A custom partitioner (Kafka's `partitioner.class`): returns the partition for a record.
 * Returning anything but an integer in `[0, partitionCount)` is an error that the producer
 * reports for that record; it is never clamped or wrapped.
 */
export type Partitioner = (args: PartitionerArgs) => number;

/** Options of {@link UniformStickyPartitioner}. */
export interface UniformStickyPartitionerOptions {
  /** Source of every random choice, so a seed replays the same partitions. */
  readonly random: Random;
  /** Bytes to produce to one partition before switching (Kafka: `batch.size`, default 16384). */
  readonly batchSize?: number;
  /** Weight the next partition toward shorter queues (Kafka: `partitioner.adaptive.partitioning.enable`, default true). */
  readonly adaptive?: boolean;
}

/** Cumulative frequency table over the partitions with a leader (Kafka's `PartitionLoadStats`). */
interface LoadStats {
  readonly cumulativeFrequencyTable: readonly number[];
  readonly partitionIds: readonly number[];
}

interface TopicStickyState {
  /** The sticky partition; undefined until chosen, and again after a switch is due. */
  current: number | undefined;
  /** Bytes appended to `current` since it was chosen. */
  producedBytes: number;
  loadStats: LoadStats | undefined;
}

/**
 * Kafka's built-in partitioner for records without a key (KIP-794, Kafka ≥ 3.3,
 * `BuiltInPartitioner`). One instance serves all topics of a producer.
 *
 * Per topic it sticks to one partition until at least `batchSize` bytes were appended to it,
 * then moves on. When the caller reports that the partition's last batch is still open
 * (`allBatchesFull = false`), the switch waits for the batch to fill, but never beyond
 * `2 × batchSize` bytes: as in Kafka, a switch happens after between `batchSize` and
 * `2 × batchSize` bytes, aligned with batch boundaries. The next partition is drawn uniformly
 * among the available ones (all of them if none is available) or, when adaptive and queue
 * sizes are known, weighted toward shorter queues.
 *
 * The one deliberate difference from Kafka: Kafka draws the next partition at the moment the
 * switch becomes due, samsa on the next {@link UniformStickyPartitioner.partition} call. The
 * distribution is the same, and the draw uses the metadata of that call, which is at least as
 * fresh.
 */
export class UniformStickyPartitioner {
  /** Bytes after which a switch is due (Kafka's `stickyBatchSize`). */
  readonly batchSize: number;
  /** Whether queue sizes given to {@link UniformStickyPartitioner.updateQueueSizes} are used. */
  readonly adaptive: boolean;
  readonly #random: Random;
  readonly #topics = new Map<string, TopicStickyState>();

  constructor(options: UniformStickyPartitionerOptions) {
    const batchSize = options.batchSize ?? 16384;
    if (!Number.isInteger(batchSize) || batchSize < 1) {
      throw new InvalidArgumentError('batchSize', `must be an integer >= 1, got ${String(batchSize)}`);
    }
    this.batchSize = batchSize;
    this.adaptive = options.adaptive ?? true;
    this.#random = options.random;
  }

  /**
   * The current sticky partition of `topic`, choosing a new one first when none is chosen yet
   * or a switch is due. Stable between switches, even if that partition loses its leader
   * (Kafka keeps appending to it too; the batch waits for a leader).
   */
  partition(topic: string, partitionCount: number, availablePartitions: readonly number[]): number {
    checkPartitionCount(partitionCount);
    const state = this.#state(topic);
    // The range check only matters if a caller shrinks a topic, which Kafka never does.
    if (state.current === undefined || state.current >= partitionCount) {
      state.current = this.#nextPartition(state, partitionCount, availablePartitions);
      state.producedBytes = 0;
    }
    return state.current;
  }

  /**
   * Accounts `bytes` appended to `partition` of `topic`, and makes a switch due once at least
   * `batchSize` bytes went to the sticky partition and `allBatchesFull` (the partition's last
   * batch is full or none is open), or unconditionally at `2 × batchSize` bytes. Appends to any
   * other partition (keyed or explicitly partitioned records) are ignored, as in Kafka. Calling
   * it with 0 bytes and `allBatchesFull = true` completes a switch that was held back.
   */
  onAppend(topic: string, partition: number, bytes: number, allBatchesFull = true): void {
    if (!Number.isFinite(bytes) || bytes < 0) throw new InvalidArgumentError('bytes', `must be a non-negative number, got ${String(bytes)}`);
    const state = this.#topics.get(topic);
    if (state === undefined || state.current !== partition) return;
    state.producedBytes += bytes;
    if ((state.producedBytes >= this.batchSize && allBatchesFull) || state.producedBytes >= 2 * this.batchSize) {
      state.current = undefined;
      state.producedBytes = 0;
    }
  }

  /**
   * Kafka's `updatePartitionLoadStats`: gives the queue size (number of batches waiting) of
   * each partition with a leader. With `adaptive`, the next switch picks partition `i` with
   * probability proportional to `maxQueueSize + 1 - queueSizes[i]`. `partitionCount` is the
   * number of partitions the producer tracks queues for (default: `partitionIds.length`); when
   * every partition is listed and all queues are equal, or fewer than two partitions exist, the
   * choice falls back to uniform. Kafka only starts reporting once every partition of the topic
   * has had a queue, so the caller should too. Ignored when not `adaptive`.
   */
  updateQueueSizes(topic: string, partitionIds: readonly number[], queueSizes: readonly number[], partitionCount = partitionIds.length): void {
    if (!this.adaptive) return;
    if (partitionIds.length !== queueSizes.length) {
      throw new InvalidArgumentError('queueSizes', `has ${queueSizes.length} entries but partitionIds has ${partitionIds.length}`);
    }
    for (const size of queueSizes) {
      if (!Number.isInteger(size) || size < 0) throw new InvalidArgumentError('queueSizes', `must hold non-negative integers, got ${String(size)}`);
    }
    const state = this.#state(topic);
    const length = partitionIds.length;
    if (length < 1 || partitionCount < 2) {
      state.loadStats = undefined;
      return;
    }
    let maxSizePlus1 = queueSizes[0] as number;
    let allEqual = true;
    for (let i = 1; i < length; i++) {
      const size = queueSizes[i] as number;
      if (size !== maxSizePlus1) allEqual = false;
      if (size > maxSizePlus1) maxSizePlus1 = size;
    }
    maxSizePlus1++;
    // Equal queues over all partitions: uniform is the same distribution, and cheaper.
    if (allEqual && length === partitionCount) {
      state.loadStats = undefined;
      return;
    }
    // Invert each size (shorter queue ⇒ larger weight) and fold into a running sum.
    const table: number[] = [];
    let sum = 0;
    for (let i = 0; i < length; i++) {
      sum += maxSizePlus1 - (queueSizes[i] as number);
      table.push(sum);
    }
    state.loadStats = { cumulativeFrequencyTable: table, partitionIds: partitionIds.slice() };
  }

  #state(topic: string): TopicStickyState {
    let state = this.#topics.get(topic);
    if (state === undefined) {
      state = { current: undefined, producedBytes: 0, loadStats: undefined };
      this.#topics.set(topic, state);
    }
    return state;
  }

  #nextPartition(state: TopicStickyState, partitionCount: number, availablePartitions: readonly number[]): number {
    const stats = state.loadStats;
    if (stats === undefined) {
      if (availablePartitions.length > 0) return this.#random.pick(availablePartitions);
      // Nothing has a leader: pick among all, the batch waits for a leader (Kafka does the same).
      return this.#random.int(partitionCount);
    }
    const table = stats.cumulativeFrequencyTable;
    const weighted = this.#random.int(table[table.length - 1] as number);
    // First index whose cumulative value is strictly greater than the draw.
    let lo = 0;
    let hi = table.length - 1;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if ((table[mid] as number) > weighted) hi = mid;
      else lo = mid + 1;
    }
    return stats.partitionIds[lo] as number;
  }
}

/**
 * Kafka's `RoundRobinPartitioner`: a per-topic counter walks the available partitions in order
 * (all partitions when none is available), ignoring keys. Use {@link RoundRobinPartitioner.partition}
 * as a {@link Partitioner}.
 */
export class RoundRobinPartitioner {
  readonly #counters = new Map<string, number>();

  /** The next partition of the record's topic; a bound function, safe to pass around. */
  readonly partition: Partitioner = ({ topic, partitionCount, availablePartitions }) => {
    checkPartitionCount(partitionCount);
    const value = this.#counters.get(topic) ?? 0;
    // Java's AtomicInteger wraps at 2^31; toPositive keeps the index non-negative after that.
    this.#counters.set(topic, (value + 1) | 0);
    const index = toPositive(value);
    if (availablePartitions.length > 0) return availablePartitions[index % availablePartitions.length] as number;
    return index % partitionCount;
  };
}
