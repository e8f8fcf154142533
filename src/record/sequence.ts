/**
 * Kafka's producer sequence numbers: an int32 ring per producer and partition. The producer assigns
 * them, the partition leader checks them; both sides share this arithmetic.
 */
import type { RecordBatchHeader } from './recordBatch.ts';

const INT32_MAX = 2_147_483_647;

/** `sequence + increment` on Kafka's int32 sequence ring (wraps from 2^31-1 to 0). */
export function incrementSequence(sequence: number, increment: number): number {
  if (sequence > INT32_MAX - increment) return increment - (INT32_MAX - sequence) - 1;
  return sequence + increment;
}

/** The last sequence number of a batch. */
export function lastSequenceOf(header: RecordBatchHeader): number {
  return incrementSequence(header.baseSequence, header.lastOffsetDelta);
}

