/**
 * What the pipeline loop leans on besides its own state: turning `process` results into producer
 * records, and telling the errors it recovers from (abort, rewind, carry on) from fatal ones.
 */
import { InvalidArgumentError, ProducerFencedError, RebalanceInProgressError, SamsaError, TransactionAbortableError, TransactionStateError } from '../errors.ts';
import type { ProducerRecord } from '../clients/api.ts';
import type { PipelineOutput, PipelineResult } from './pipelineOptions.ts';

/** The records a `process` result asks to send, each with its topic (`to` when it names none). */
export function outputsOf(result: PipelineResult, to: string | undefined): Array<{ topic: string; record: ProducerRecord }> {
  if (result === undefined || result === null) return [];
  const list = (Array.isArray(result) ? result : [result]) as readonly PipelineOutput[];
  return list.map((r) => {
    const { topic, ...record } = r;
    const target = topic ?? to;
    if (target === undefined) throw new InvalidArgumentError('to', 'an output record has no topic and the pipeline has no `to`; set one of them');
    return { topic: target, record };
  });
}

/**
 * Kafka codes without a class of their own after which the pipeline carries on: the group moved on
 * (the member rejoins), or the producer's sequence state was lost (a new producer starts over).
 */
const RECOVERABLE_CODES = new Set(['ILLEGAL_GENERATION', 'UNKNOWN_MEMBER_ID', 'INVALID_PRODUCER_ID_MAPPING', 'OUT_OF_ORDER_SEQUENCE_NUMBER', 'UNKNOWN_PRODUCER_ID']);

/**
 * Errors after which the pipeline aborts (or rejoins, or replaces its producer) and carries on,
 * besides every retriable error: a rebalance overtook the commit, the transaction must be aborted,
 * the producer was fenced (its own transaction timed out: see `throwIfFatal` for a newer
 * instance) or left unusable, its sequence state was lost (Kafka Streams turns these into
 * TaskMigrated/TaskCorrupted and recovers).
 */
export function isRecoverable(error: unknown): boolean {
  if (!SamsaError.is(error)) return false;
  return error.retriable || RebalanceInProgressError.is(error) || TransactionAbortableError.is(error) || ProducerFencedError.is(error) || TransactionStateError.is(error) || RECOVERABLE_CODES.has(error.code);
}

/** The key of a topic-partition in the pipeline's maps. */
export function tpKey(topic: string, partition: number): string {
  return `${topic}\u0000${partition}`;
}

/** An error's fields for a log line. */
export function describe(error: unknown): Record<string, unknown> {
  return SamsaError.is(error) ? { error: error.message, code: error.code } : { error: error instanceof Error ? error.message : String(error) };
}
