/**
 * How transactions end without a client request, as pure decisions for the coordinator: the
 * markers of a Prepare* transaction and the completion once every partition acknowledged them,
 * the abort of transactions open past their timeout, and the expiry of idle transactional ids
 * (Kafka's `TransactionMarkerChannelManager` completion and the coordinator's periodic scans).
 */
import { configOf, identityAfterCompletion, ok, prepareFenceAbort, write } from './transactionDecision.ts';
import type { TransactionContext, TransactionCoordinatorConfig, TxnError, WriteDecision } from './transactionDecision.ts';
import { InvalidTransactionTransitionError, NO_PRODUCER_ID, assertHeldState, isExpirationAllowed, isPrepare, prepareTransition } from './transactionState.ts';
import type { TopicPartition, TransactionMetadata } from './transactionState.ts';

/* ------------------------------------------------------------------------------------------ */
/* Markers and completion                                                                      */
/* ------------------------------------------------------------------------------------------ */

/** What the coordinator sends to each partition leader for a Prepare* transaction (WriteTxnMarkers). */
export interface TxnMarkers {
  readonly transactionalId: string;
  readonly producerId: bigint;
  /** The epoch the markers carry: with TV2 the bumped one, which fences late writes of the ended transaction. */
  readonly producerEpoch: number;
  readonly commit: boolean;
  /** May be empty (an abort with no transaction open): complete at once. */
  readonly partitions: readonly TopicPartition[];
  readonly transactionVersion: number;
}

/** The markers to send for `metadata` (PrepareCommit or PrepareAbort); throws for any other state. */
export function markersFor(metadata: TransactionMetadata): TxnMarkers {
  if (!isPrepare(metadata.state)) throw new InvalidTransactionTransitionError(metadata.transactionalId, metadata.state, undefined, 'markers are only sent for PrepareCommit or PrepareAbort');
  return {
    transactionalId: metadata.transactionalId,
    producerId: metadata.producerId,
    producerEpoch: metadata.producerEpoch,
    commit: metadata.state === 'PrepareCommit',
    partitions: metadata.partitions,
    transactionVersion: metadata.clientTransactionVersion,
  };
}

/**
 * Once every marker is acknowledged: PrepareCommit → CompleteCommit or PrepareAbort → CompleteAbort,
 * partitions cleared, and with TV2 the rotation to the next producer id (epoch 0) when one was
 * allocated. Throws {@link InvalidTransactionTransitionError} from any other state or while a
 * transition is pending (nothing else can be pending in Prepare*, so that is a double completion).
 */
export function completeTransaction(metadata: TransactionMetadata, now: number): WriteDecision {
  assertHeldState(metadata);
  if (!isPrepare(metadata.state) || metadata.pendingState !== undefined) {
    throw new InvalidTransactionTransitionError(
      metadata.transactionalId,
      metadata.state,
      metadata.state === 'PrepareAbort' ? 'CompleteAbort' : 'CompleteCommit',
      metadata.pendingState !== undefined ? 'completion while another transition is pending' : 'only a Prepare* transaction completes',
    );
  }
  const next = identityAfterCompletion(metadata);
  const transit = prepareTransition(metadata, {
    state: metadata.state === 'PrepareCommit' ? 'CompleteCommit' : 'CompleteAbort',
    producerId: next.producerId,
    producerEpoch: next.producerEpoch,
    nextProducerId: NO_PRODUCER_ID,
    partitions: [],
    txnLastUpdateTimestamp: now,
  });
  return write(metadata, transit, ok(transit));
}

/* ------------------------------------------------------------------------------------------ */
/* Timeouts and expiry                                                                         */
/* ------------------------------------------------------------------------------------------ */

/** A transaction the coordinator should abort. */
export interface TimedOutTransaction {
  readonly transactionalId: string;
  readonly producerId: bigint;
  readonly producerEpoch: number;
}

function hasTimedOut(m: TransactionMetadata, now: number): boolean {
  return m.pendingState === undefined && m.state === 'Ongoing' && m.txnStartTimestamp + m.txnTimeoutMs < now;
}

/**
 * The Ongoing transactions, with no transition pending, open for longer than their timeout
 * (counted from the first partition added: `start + timeout < now`, Kafka's `timedOutTransactions`).
 */
export function timedOutTransactions(all: Iterable<TransactionMetadata>, now: number): TimedOutTransaction[] {
  const out: TimedOutTransaction[] = [];
  for (const m of all) if (hasTimedOut(m, now)) out.push({ transactionalId: m.transactionalId, producerId: m.producerId, producerEpoch: m.producerEpoch });
  return out;
}

/**
 * Aborts a timed-out transaction: the epoch is bumped to fence the producer (its next request gets
 * PRODUCER_FENCED here, INVALID_PRODUCER_EPOCH from a partition leader once the markers landed)
 * and PrepareAbort is written, then markers. Undefined when `metadata` is no longer a timed-out
 * Ongoing transaction, or no longer has `expected`'s producer id (Kafka's re-check under the lock);
 * an error when a needed producer id could not be allocated (retry at the next scan).
 */
export function abortTimedOut(metadata: TransactionMetadata, context: TransactionContext, expected?: TimedOutTransaction): WriteDecision | TxnError | undefined {
  if (!hasTimedOut(metadata, context.now)) return undefined;
  if (expected !== undefined && expected.producerId !== metadata.producerId) return undefined;
  const abort = prepareFenceAbort(metadata, context);
  if (abort.kind === 'error') return abort;
  return write(metadata, abort.transit, ok(abort.transit), true);
}

function hasExpired(m: TransactionMetadata, now: number, config: TransactionCoordinatorConfig): boolean {
  return m.pendingState === undefined && isExpirationAllowed(m.state) && m.txnLastUpdateTimestamp <= now - config['transactional.id.expiration.ms'];
}

/** The transactional ids idle in Empty/Complete* for at least `transactional.id.expiration.ms` (Kafka's `shouldExpire`). */
export function expiredTransactionalIds(all: Iterable<TransactionMetadata>, now: number, config?: Partial<TransactionCoordinatorConfig>): string[] {
  const c = configOf(config);
  const out: string[] = [];
  for (const m of all) if (hasExpired(m, now, c)) out.push(m.transactionalId);
  return out;
}

/**
 * Expires an idle transactional id: the Dead transit, written as a tombstone (a null value);
 * once durable, {@link completeTransition} returns undefined and the id is forgotten. Undefined
 * when `metadata` has not expired.
 */
export function expireTransactionalId(metadata: TransactionMetadata, now: number, config?: Partial<TransactionCoordinatorConfig>): WriteDecision | undefined {
  if (!hasExpired(metadata, now, configOf(config))) return undefined;
  const transit = prepareTransition(metadata, { state: 'Dead', partitions: [] });
  return write(metadata, transit, ok(transit));
}
