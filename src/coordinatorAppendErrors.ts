/**
 * The one table of what a coordinator answers when its write to its internal partition fails.
 * Kafka maps the error of such an append (a produce error of `__consumer_offsets` or
 * `__transaction_state`) to a coordinator error the client knows how to handle: retry against
 * the same coordinator (COORDINATOR_NOT_AVAILABLE), find the coordinator again (NOT_COORDINATOR),
 * or give up. The rows are Kafka's `GroupMetadataManager.storeOffsets` (offset commits),
 * `GroupMetadataManager.storeGroup` / `appendGroupMetadataErrorToResponseError` (group metadata)
 * and `TransactionStateManager.appendTransactionToLog` (transaction state); they differ only for
 * oversized writes.
 *
 * A shared leaf because its users sit in different layers: the group and transaction coordinators
 * (`actors/`) and the pure transaction transitions (`transactions/`).
 */
import type { KafkaErrorName } from './errors.ts';

/** What a coordinator appended: Kafka answers the same append error differently per kind. */
export type CoordinatorAppend = 'offsetCommit' | 'groupMetadata' | 'transactionState';

/** The errors a coordinator answers instead of an append error. */
export type CoordinatorAppendAnswer = 'COORDINATOR_NOT_AVAILABLE' | 'NOT_COORDINATOR' | 'UNKNOWN_SERVER_ERROR' | 'INVALID_COMMIT_OFFSET_SIZE';

const UNAVAILABLE = { offsetCommit: 'COORDINATOR_NOT_AVAILABLE', groupMetadata: 'COORDINATOR_NOT_AVAILABLE', transactionState: 'COORDINATOR_NOT_AVAILABLE' } as const;
const MOVED = { offsetCommit: 'NOT_COORDINATOR', groupMetadata: 'NOT_COORDINATOR', transactionState: 'NOT_COORDINATOR' } as const;
const TOO_LARGE = { offsetCommit: 'INVALID_COMMIT_OFFSET_SIZE', groupMetadata: 'UNKNOWN_SERVER_ERROR', transactionState: 'UNKNOWN_SERVER_ERROR' } as const;

/**
 * Append error → what the coordinator answers, per kind of append. An error without a row, or
 * without an entry for the kind, is answered as it is (Kafka's `case other => other`).
 *
 * - The partition or enough in-sync replicas are missing, or the write timed out: the coordinator
 *   is still the right one, retry it — COORDINATOR_NOT_AVAILABLE. For an offset commit the
 *   timeout row is the one of Kafka's current group coordinator
 *   (`GroupCoordinatorService.normalizeException`); the older `storeOffsets` passed it through.
 * - The broker lost the partition's leadership or its log directory: NOT_COORDINATOR.
 * - The write is too large: INVALID_COMMIT_OFFSET_SIZE for an offset commit, UNKNOWN_SERVER_ERROR
 *   for group metadata and transaction state (INVALID_FETCH_SIZE is not in Kafka's transaction
 *   table, so it passes through there).
 */
export const COORDINATOR_APPEND_ERRORS: Readonly<Partial<Record<KafkaErrorName, Readonly<Partial<Record<CoordinatorAppend, CoordinatorAppendAnswer>>>>>> = {
  UNKNOWN_TOPIC_OR_PARTITION: UNAVAILABLE,
  NOT_ENOUGH_REPLICAS: UNAVAILABLE,
  NOT_ENOUGH_REPLICAS_AFTER_APPEND: UNAVAILABLE,
  REQUEST_TIMED_OUT: UNAVAILABLE,
  NOT_LEADER_OR_FOLLOWER: MOVED,
  KAFKA_STORAGE_ERROR: MOVED,
  MESSAGE_TOO_LARGE: TOO_LARGE,
  RECORD_LIST_TOO_LARGE: TOO_LARGE,
  INVALID_FETCH_SIZE: { offsetCommit: 'INVALID_COMMIT_OFFSET_SIZE', groupMetadata: 'UNKNOWN_SERVER_ERROR' },
};

/**
 * What a coordinator answers for an `append` that failed with `appendError`, from
 * {@link COORDINATOR_APPEND_ERRORS}; `appendError` itself when the table has no entry for it.
 */
export function coordinatorAppendError<E extends string>(appendError: E, append: CoordinatorAppend): E | CoordinatorAppendAnswer {
  const row = Object.prototype.hasOwnProperty.call(COORDINATOR_APPEND_ERRORS, appendError) ? COORDINATOR_APPEND_ERRORS[appendError as KafkaErrorName] : undefined;
  return row?.[append] ?? appendError;
}
