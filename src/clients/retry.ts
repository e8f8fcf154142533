/**
 * Kafka's retry rule for client calls: a retriable error (network, coordinator moved or loading,
 * request timed out) is retried after `retry.backoff.ms`, until the call's deadline
 * (`default.api.timeout.ms` for commit and committed offsets); only then does the caller see a
 * TimeoutError. Calls without a deadline (the group protocol run by poll) retry until closed.
 */
import type { Clock } from '../clock.ts';
import { KAFKA_ERRORS, SamsaError, TimeoutError } from '../errors.ts';
import { sleep } from '../clock.ts';

/** When a call gives up, and how its TimeoutError names it. */
export interface CallDeadline {
  /** Clock time after which no retry starts. */
  readonly at: number;
  /** The whole budget, for the error message (`default.api.timeout.ms`). */
  readonly timeoutMs: number;
  /** What was being done ("committing offsets of group g"). */
  readonly operation: string;
}

/** A deadline `timeoutMs` from now. */
export function deadlineIn(clock: Clock, timeoutMs: number, operation: string): CallDeadline {
  return { at: clock.now() + timeoutMs, timeoutMs, operation };
}

/** True for errors Kafka's clients retry: retriable samsa errors and retriable Kafka error codes. */
export function isRetriable(error: unknown): boolean {
  if (SamsaError.is(error)) return error.retriable;
  return false;
}

/** True when a response's error code is one Kafka's clients retry. */
export function isRetriableCode(code: string): boolean {
  return Object.prototype.hasOwnProperty.call(KAFKA_ERRORS, code) && KAFKA_ERRORS[code as keyof typeof KAFKA_ERRORS].retriable;
}

/**
 * Waits `backoffMs` before the next attempt, or throws a TimeoutError (retriable) naming the
 * operation and the last error when the deadline would pass first.
 */
export async function backoffWithin(clock: Clock, backoffMs: number, deadline: CallDeadline | undefined, lastError: string): Promise<void> {
  if (deadline !== undefined && clock.now() + backoffMs >= deadline.at) {
    throw new TimeoutError(deadline.operation, deadline.timeoutMs, `the last attempt failed with ${lastError}; check that the brokers are up and reachable, or raise defaultApiTimeoutMs`);
  }
  await sleep(clock, backoffMs);
}
