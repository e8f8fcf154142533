/**
 * A producer batch (records of one partition on their way to its leader) and the `send` calls
 * waiting on it. A batch knows which sends its records belong to and settles each send once, when
 * its last record is acknowledged or when the first of its batches fails.
 */
import type { RecordBatchBuilder } from '../../record/recordBatchBuilder.ts';
import type { RecordMetadata } from './producerRecord.ts';

/**
 * One `send` call waiting for its records. Where each record landed is kept in typed arrays, not
 * objects, until the last one is acknowledged: the result objects are built once, when they are
 * handed over, so nothing per record lives across garbage collections while the send waits.
 */
export interface Delivery {
  readonly topic: string;
  readonly partitions: Int32Array;
  /** Offsets as numbers (exact below 2^53); -1 when unknown (acks=0). */
  readonly offsets: Float64Array;
  /** Exact offsets, only when a batch lands at or beyond 2^53. */
  bigOffsets: BigInt64Array | undefined;
  readonly timestamps: Float64Array;
  remaining: number;
  settled: boolean;
  /** Settles the send once every record is acknowledged; `send` then builds the result objects. */
  readonly resolve: (delivery: Delivery) => void;
  readonly reject: (error: unknown) => void;
}

/** Offsets a Float64Array holds exactly. */
const MAX_EXACT_OFFSET = BigInt(Number.MAX_SAFE_INTEGER);

/** The result object of record `i` of a completed delivery. */
export function resultAt(d: Delivery, i: number): RecordMetadata {
  const offset = d.offsets[i] as number;
  return { topic: d.topic, partition: d.partitions[i] as number, offset: d.bigOffsets !== undefined && offset === -2 ? (d.bigOffsets[i] as bigint) : BigInt(offset), timestamp: d.timestamps[i] as number };
}

/** The result objects of a completed delivery. */
export function deliveryResults(d: Delivery): RecordMetadata[] {
  const n = d.partitions.length;
  const out: RecordMetadata[] = new Array(n);
  for (let i = 0; i < n; i++) out[i] = resultAt(d, i);
  return out;
}

/**
 * A batch of one partition: filled by the accumulator, then sent, retried and settled by the
 * sender. Its idempotence fields are read and written by the partition's sequence bookkeeping
 * (sequences.ts).
 */
export interface Batch {
  readonly topic: string;
  readonly partition: number;
  /** `topic`, `partition` as one map key, made once (the send loop looks batches up by it often). */
  readonly key: string;
  /** The records, encoded as they are appended (none are kept as objects); `recordCount` counts them. */
  readonly builder: RecordBatchBuilder;
  /**
   * The sends the records belong to, as runs (a send's records to one partition are appended
   * together): `runs[k]` owns the records from `runEnds[k - 1]` (0 for the first) to `runEnds[k]`.
   */
  readonly runs: Delivery[];
  readonly runEnds: number[];
  /** Per record: its index in its send (whose `timestamps` holds its timestamp). */
  indices: Int32Array;
  bytes: number;
  readonly createdAt: number;
  attempts: number;
  /** The error of the last failed attempt: a delivery timeout names it (e.g. the broker's KAFKA_STORAGE_ERROR and its path). */
  lastError?: unknown;
  retryAt: number;
  /** Leader epoch of the partition when the batch was last sent (-1 before). */
  sentLeaderEpoch: number;
  encoded: Uint8Array | undefined;
  /** Idempotence: position of the batch's first record in its partition's sequence (-1 until first sent). */
  sequenceIndex: number;
  /**
   * The producer session (producer id and epoch) the sequence belongs to, -1 until first sent.
   * Kept on every retry: the first attempt may have been written (see sequences.ts).
   */
  session: number;
  /** The producer id and epoch of `session`, which the batch is stamped with. */
  producerId: bigint;
  producerEpoch: number;
  /** The session and sequence index the encoded bytes carry. */
  stampedSession: number;
  stampedIndex: number;
  /** Idempotence: acknowledged or failed, no longer in flight. */
  settled: boolean;
}

/** `topic`, `partition` as one map key. */
export function partitionKey(b: { topic: string; partition: number }): string {
  return `${b.topic}\u0000${b.partition}`;
}

/**
 * Hands each record of an acknowledged batch its offset (and LogAppendTime when the topic uses
 * it), and resolves every send whose last record this was. A send settled before (failed through
 * another batch) is left as it is.
 */
export function settleBatch(batch: Batch, baseOffset: bigint, logAppendTime: number): void {
  const count = batch.builder.recordCount;
  // -1 (acks=0) stays -1 for every record; -2 marks an offset kept in bigOffsets.
  const exact = baseOffset < 0n || baseOffset + BigInt(count) <= MAX_EXACT_OFFSET;
  const base = baseOffset < 0n ? -1 : exact ? Number(baseOffset) : -2;
  const indices = batch.indices;
  for (let run = 0; run < batch.runs.length; run++) {
    const d = batch.runs[run] as Delivery;
    const start = run === 0 ? 0 : (batch.runEnds[run - 1] as number);
    const end = batch.runEnds[run] as number;
    if (d.settled) continue;
    for (let i = start; i < end; i++) {
      const at = indices[i] as number;
      d.partitions[at] = batch.partition;
      d.offsets[at] = base < 0 ? base : base + i;
      if (base === -2) (d.bigOffsets ??= new BigInt64Array(d.partitions.length))[at] = baseOffset + BigInt(i);
      // CreateTime: the record's own timestamp, written into the send when it was appended.
      if (logAppendTime >= 0) d.timestamps[at] = logAppendTime;
    }
    d.remaining -= end - start;
    if (d.remaining === 0) {
      d.settled = true;
      d.resolve(d);
    }
  }
}

/** Rejects every send with records in a failed batch that is not settled yet, once. */
export function rejectBatch(batch: Batch, error: unknown): void {
  for (const d of batch.runs) {
    if (d.settled) continue;
    d.settled = true;
    d.reject(error);
  }
}
