/**
 * What a transaction coordinator decision is and how the coordinator applies it, after Kafka's
 * `prepareXxx → TxnTransitMetadata → completeTransitionTo` flow. The coordinator actor stays thin:
 *
 * 1. it calls a handler (`handleInitProducerId`, `handleAddPartitionsToTxn`, `handleEndTxn`, …)
 *    with the metadata it holds for the transactional id (or `undefined`), and gets a
 *    {@link Decision};
 * 2. `error` / `respond`: it answers at once and changes nothing;
 * 3. `write`: it stores `decision.pending` (the current metadata with the transition marked as in
 *    flight, which makes every other request see CONCURRENT_TRANSACTIONS), appends
 *    `decision.transit` to `__transaction_state` (see `transactionLog.ts`), and only once that
 *    append is durable stores `completeTransition(pending)` and answers `decision.response`;
 *    `then: 'sendMarkers'` means it must now send the transaction markers (`markersFor`) and,
 *    once every partition acknowledged them, write `completeTransaction`;
 * 4. if the append fails it stores {@link onWriteFailed}`(pending, appendError).metadata` and
 *    answers that error.
 *
 * Also here: the coordinator's config and context, the answers every decision is built from, and
 * the transits shared by several decisions (a fencing abort, the identity after completion).
 *
 * Producer ids are obtained from `context.newProducerId()`, called at most once per decision and
 * only when a fresh id is needed (a new transactional id, or producer-id rotation when the epoch is
 * exhausted). It may throw a `KafkaProtocolError` (e.g. COORDINATOR_LOAD_IN_PROGRESS when no id
 * block is available): the decision is then that error, as Kafka's `Errors.forException`.
 */
import { InvalidArgumentError, KafkaProtocolError } from '../errors.ts';
import type { KafkaErrorName } from '../errors.ts';
import { coordinatorAppendError } from '../coordinatorAppendErrors.ts';
import { InvalidTransactionTransitionError, MAX_PRODUCER_EPOCH, NO_PRODUCER_EPOCH, NO_PRODUCER_ID, assertValidTransit, isComplete, isEpochExhausted, prepareTransition } from './transactionState.ts';
import type { ProducerIdAndEpoch, TransactionMetadata, TransactionVersion } from './transactionState.ts';

/* ------------------------------------------------------------------------------------------ */
/* Configuration and context                                                                  */
/* ------------------------------------------------------------------------------------------ */

/** Broker settings the coordinator uses, with Kafka's keys. */
export interface TransactionCoordinatorConfig {
  /** Largest `transaction.timeout.ms` a producer may ask for. */
  readonly 'transaction.max.timeout.ms': number;
  /** Idle time after which an Empty/Complete* transactional id is removed. */
  readonly 'transactional.id.expiration.ms': number;
  /** How often the coordinator looks for timed-out transactions (for the actor's timer). */
  readonly 'transaction.abort.timed.out.transaction.cleanup.interval.ms': number;
  /** How often the coordinator looks for expired transactional ids (for the actor's timer). */
  readonly 'transaction.remove.expired.transaction.cleanup.interval.ms': number;
  /** The cluster's `transaction.version` feature level, used for aborts the coordinator starts itself. */
  readonly 'transaction.version': TransactionVersion;
}

/** Kafka's defaults for {@link TransactionCoordinatorConfig}. */
export const TRANSACTION_COORDINATOR_DEFAULTS: TransactionCoordinatorConfig = {
  'transaction.max.timeout.ms': 900_000,
  'transactional.id.expiration.ms': 604_800_000,
  'transaction.abort.timed.out.transaction.cleanup.interval.ms': 10_000,
  'transaction.remove.expired.transaction.cleanup.interval.ms': 3_600_000,
  'transaction.version': 2,
};

/** What a decision may depend on besides the metadata and the request. */
export interface TransactionContext {
  /** The coordinator's clock (ms). */
  readonly now: number;
  /** Overrides of {@link TRANSACTION_COORDINATOR_DEFAULTS}. */
  readonly config?: Partial<TransactionCoordinatorConfig>;
  /** Allocates a fresh producer id; called at most once per decision, only when one is needed. */
  readonly newProducerId: () => bigint;
}

/** The config with Kafka's defaults for every key not given. */
export function configOf(config: Partial<TransactionCoordinatorConfig> | undefined): TransactionCoordinatorConfig {
  return { ...TRANSACTION_COORDINATOR_DEFAULTS, ...config };
}

/* ------------------------------------------------------------------------------------------ */
/* Decisions                                                                                  */
/* ------------------------------------------------------------------------------------------ */

/** A successful answer: the producer id and epoch the client must use from now on. */
export interface TxnOk {
  readonly kind: 'ok';
  readonly producerId: bigint;
  readonly producerEpoch: number;
}

/** A Kafka error answer; `message` names the transactional id and what the caller should do. */
export interface TxnError {
  readonly kind: 'error';
  readonly error: KafkaErrorName;
  readonly message: string;
}

/** What a requester is eventually answered. */
export type TxnReply = TxnOk | TxnError;

/** Answer at once; nothing to write. */
export interface RespondDecision {
  readonly kind: 'respond';
  readonly response: TxnOk;
}

/** Persist `transit`, then apply it and answer `response`. */
export interface WriteDecision {
  readonly kind: 'write';
  /** The metadata to append to `__transaction_state` and, once durable, to hold. */
  readonly transit: TransactionMetadata;
  /** What to hold while the append is in flight: the current metadata with `pendingState: transit`. */
  readonly pending: TransactionMetadata;
  /** The answer once the append is durable (an error for a fencing InitProducerId: CONCURRENT_TRANSACTIONS). */
  readonly response: TxnReply;
  /** After the append: send markers to `transit.partitions` ({@link markersFor}), then {@link completeTransaction}. */
  readonly then?: 'sendMarkers';
}

/** The outcome of a request: answer an error at once, answer at once, or write then answer. */
export type Decision = TxnError | RespondDecision | WriteDecision;

/** A Kafka error answer. */
export function fail(error: KafkaErrorName, message: string): TxnError {
  return { kind: 'error', error, message };
}

/** A successful answer carrying `identity`. */
export function ok(identity: ProducerIdAndEpoch): TxnOk {
  return { kind: 'ok', producerId: identity.producerId, producerEpoch: identity.producerEpoch };
}

/** Hold `current` with `transit` pending, write `transit`, then answer `response` (and send markers when asked). */
export function write(current: TransactionMetadata, transit: TransactionMetadata, response: TxnReply, sendMarkers = false): WriteDecision {
  const pending = { ...current, pendingState: transit };
  return sendMarkers ? { kind: 'write', transit, pending, response, then: 'sendMarkers' } : { kind: 'write', transit, pending, response };
}

/** CONCURRENT_TRANSACTIONS: a transition is in flight or markers are being written; the client retries. */
export function concurrent(m: TransactionMetadata, what: string): TxnError {
  const why = m.pendingState !== undefined ? `a transition to ${m.pendingState.state} is being written` : `the transaction is in ${m.state}`;
  return fail('CONCURRENT_TRANSACTIONS', `${what} for transactional id "${m.transactionalId}" cannot proceed now: ${why}; retry after a backoff`);
}

/** PRODUCER_FENCED: `epoch` is not the current one. */
export function fenced(m: TransactionMetadata, epoch: number): TxnError {
  return fail(
    'PRODUCER_FENCED',
    `producer epoch ${epoch} of transactional id "${m.transactionalId}" is fenced (current epoch ${m.producerEpoch}): a newer producer with the same transactional.id was initialised or the transaction timed out; close this producer`,
  );
}

/** INVALID_PRODUCER_ID_MAPPING: the producer id is not the transactional id's. */
export function wrongProducerId(transactionalId: string, producerId: bigint, m: TransactionMetadata | undefined): TxnError {
  const held = m === undefined ? 'which has no producer id (unknown or expired)' : `which uses producer id ${m.producerId}`;
  return fail('INVALID_PRODUCER_ID_MAPPING', `producer id ${producerId} is not assigned to transactional id "${transactionalId}", ${held}; call initTransactions() again`);
}

/** INVALID_TXN_STATE: the commit or abort does not fit the state. */
export function invalidTxnState(m: TransactionMetadata, commit: boolean): TxnError {
  const ended = m.state === 'PrepareCommit' || m.state === 'CompleteCommit' ? 'commit' : m.state === 'PrepareAbort' || m.state === 'CompleteAbort' ? 'abort' : undefined;
  const why = ended !== undefined && ended !== (commit ? 'commit' : 'abort') ? `its transaction already ended with ${ended}` : 'no transaction is open';
  return fail('INVALID_TXN_STATE', `cannot ${commit ? 'commit' : 'abort'} transactional id "${m.transactionalId}" in state ${m.state}: ${why}; abort, or re-initialise the producer`);
}

/** INVALID_REQUEST: an empty transactional id. */
export function invalidRequest(what: string): TxnError {
  return fail('INVALID_REQUEST', `${what} needs a non-empty transactional id`);
}

/** A fresh producer id from the context, or the Kafka error it threw as an answer. */
export function allocate(context: TransactionContext): bigint | TxnError {
  try {
    return context.newProducerId();
  } catch (e) {
    if (KafkaProtocolError.isKafka(e)) return fail(e.code as KafkaErrorName, e.message);
    throw e;
  }
}

/** @throws InvalidArgumentError when `metadata` belongs to another transactional id (a caller bug). */
export function checkSameId(metadata: TransactionMetadata | undefined, transactionalId: string): void {
  if (metadata !== undefined && metadata.transactionalId !== transactionalId) {
    throw new InvalidArgumentError('metadata', `metadata of transactional id "${metadata.transactionalId}" passed for a request of "${transactionalId}"`);
  }
}

/* ------------------------------------------------------------------------------------------ */
/* Shared transits                                                                            */
/* ------------------------------------------------------------------------------------------ */

/**
 * Fence and abort an Ongoing transaction, as one PrepareAbort record: Ongoing → PrepareEpochFence
 * (epoch + 1, never written) → PrepareAbort at that same epoch (KAFKA-19367: no second bump).
 * With transaction version 2 and an exhausted epoch, the completion moves to a new producer id
 * (KAFKA-20090).
 */
export function prepareFenceAbort(current: TransactionMetadata, context: TransactionContext): { kind: 'write'; transit: TransactionMetadata } | TxnError {
  const fencedEpoch = current.producerEpoch >= MAX_PRODUCER_EPOCH ? current.producerEpoch : current.producerEpoch + 1;
  const fence = prepareTransition(current, { state: 'PrepareEpochFence', producerEpoch: fencedEpoch, lastProducerEpoch: NO_PRODUCER_EPOCH });
  const version = configOf(context.config)['transaction.version'];
  let nextProducerId = NO_PRODUCER_ID;
  if (version >= 2 && isEpochExhausted(fencedEpoch)) {
    const allocated = allocate(context);
    if (typeof allocated !== 'bigint') return allocated;
    nextProducerId = allocated;
  }
  const abort = prepareTransition(fence, { state: 'PrepareAbort', nextProducerId, txnLastUpdateTimestamp: context.now, clientTransactionVersion: version });
  // Also valid straight from what is held (Ongoing), since the fence itself is never stored.
  assertValidTransit(current, abort);
  return { kind: 'write', transit: abort };
}

/** The identity a client uses once `prepare` (a Prepare* transit) completes. */
export function identityAfterCompletion(prepare: TransactionMetadata): ProducerIdAndEpoch {
  return prepare.clientTransactionVersion >= 2 && prepare.nextProducerId !== NO_PRODUCER_ID
    ? { producerId: prepare.nextProducerId, producerEpoch: 0 }
    : { producerId: prepare.producerId, producerEpoch: prepare.producerEpoch };
}

/* ------------------------------------------------------------------------------------------ */
/* Failed writes                                                                              */
/* ------------------------------------------------------------------------------------------ */

/** How a failed `__transaction_state` append is answered and what to hold afterwards. */
export interface WriteFailure {
  /** The metadata to hold: `pending` without its transition, or `pending` itself when `retry`. */
  readonly metadata: TransactionMetadata;
  /** The coordinator error to answer (Kafka's mapping of the append error). */
  readonly error: KafkaErrorName;
  readonly message: string;
  /** True when the same transit must be appended again (a completion facing COORDINATOR_NOT_AVAILABLE). */
  readonly retry: boolean;
}

/**
 * Kafka's mapping of a failed `__transaction_state` append to the error the coordinator answers
 * (`TransactionStateManager.appendTransactionToLog`), the `transactionState` column of the one
 * coordinator append-error table (`coordinatorAppendErrors.ts`).
 */
export function mapAppendError(appendError: KafkaErrorName): KafkaErrorName {
  return coordinatorAppendError(appendError, 'transactionState');
}

/**
 * After the append of `pending.pendingState` failed with `appendError`: the pending transition is
 * dropped (the state stays as before the request) and the mapped error is answered. A completion
 * (Complete*) facing COORDINATOR_NOT_AVAILABLE keeps its pending transition to be appended again,
 * as Kafka's marker channel does. A failed fence leaves the epoch unbumped and the retry fences
 * again (Kafka keeps the bump in memory and flags `hasFailedEpochFence` so it does not bump twice).
 */
export function onWriteFailed(pending: TransactionMetadata, appendError: KafkaErrorName): WriteFailure {
  const transit = pending.pendingState;
  if (transit === undefined) throw new InvalidTransactionTransitionError(pending.transactionalId, pending.state, undefined, 'a write failed while no transition was pending');
  const error = mapAppendError(appendError);
  const retry = isComplete(transit.state) && error === 'COORDINATOR_NOT_AVAILABLE';
  const advice = error === 'NOT_COORDINATOR' ? 'find the coordinator again and retry' : 'retry after a backoff';
  return {
    metadata: retry ? pending : { ...pending, pendingState: undefined },
    error,
    message: `writing ${transit.state} for transactional id "${pending.transactionalId}" to __transaction_state failed (${appendError}); ${advice}`,
    retry,
  };
}
