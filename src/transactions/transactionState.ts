/**
 * The transaction coordinator's state and transitions (KIP-98, KIP-360, KIP-890), as pure
 * functions over immutable, structured-clone-safe data.
 *
 * The coordinator actor stays thin and follows Kafka's `prepareXxx → TxnTransitMetadata →
 * completeTransitionTo` flow:
 *
 * 1. it calls a handler (`handleInitProducerId`, `handleAddPartitionsToTxn`, `handleEndTxn`, …)
 *    with the metadata it holds for the transactional id (or `undefined`), and gets a
 *    {@link Decision};
 * 2. `error` / `respond`: it answers at once and changes nothing;
 * 3. `write`: it stores `decision.pending` (the current metadata with the transition marked as in
 *    flight, which makes every other request see CONCURRENT_TRANSACTIONS), appends
 *    `decision.transit` to `__transaction_state` (see `transactionLog.ts`), and only once that
 *    append is durable stores {@link completeTransition}`(pending)` and answers
 *    `decision.response`; `then: 'sendMarkers'` means it must now send the transaction markers
 *    ({@link markersFor}) and, once every partition acknowledged them, write
 *    {@link completeTransaction};
 * 4. if the append fails it stores {@link onWriteFailed}`(pending, appendError).metadata` and
 *    answers that error.
 *
 * Behaviour is Kafka's with transaction version 2 (KIP-890 part 2, Kafka 4.x): the producer epoch
 * is bumped by every EndTxn, so (producerId, epoch) names exactly one transaction, and a delayed
 * EndTxn or AddPartitions of an earlier transaction is refused (KAFKA-17754). Requests may carry a
 * lower client transaction version to get Kafka's pre-KIP-890 EndTxn rules.
 *
 * Producer ids are obtained from `context.newProducerId()`, called at most once per decision and
 * only when a fresh id is needed (a new transactional id, or producer-id rotation when the epoch is
 * exhausted). It may throw a `KafkaProtocolError` (e.g. COORDINATOR_LOAD_IN_PROGRESS when no id
 * block is available): the decision is then that error, as Kafka's `Errors.forException`.
 */
import { InvalidArgumentError, KafkaProtocolError, SamsaError } from '../errors.ts';
import type { KafkaErrorName } from '../errors.ts';

/* ------------------------------------------------------------------------------------------ */
/* States                                                                                      */
/* ------------------------------------------------------------------------------------------ */

/** Kafka's transaction coordinator states (`TransactionState`), by name. */
export type TransactionState =
  | 'Empty'
  | 'Ongoing'
  | 'PrepareCommit'
  | 'PrepareAbort'
  | 'CompleteCommit'
  | 'CompleteAbort'
  | 'Dead'
  | 'PrepareEpochFence';

/** Each state's id, as written in the `TransactionStatus` field of `__transaction_state` (Kafka's ids). */
export const TRANSACTION_STATE_IDS: Readonly<Record<TransactionState, number>> = {
  Empty: 0,
  Ongoing: 1,
  PrepareCommit: 2,
  PrepareAbort: 3,
  CompleteCommit: 4,
  CompleteAbort: 5,
  Dead: 6,
  PrepareEpochFence: 7,
};

/** Every state, in id order. */
export const TRANSACTION_STATES: readonly TransactionState[] = ['Empty', 'Ongoing', 'PrepareCommit', 'PrepareAbort', 'CompleteCommit', 'CompleteAbort', 'Dead', 'PrepareEpochFence'];

/** The state with Kafka's id `id`, or undefined for an id Kafka does not define. */
export function transactionStateFromId(id: number): TransactionState | undefined {
  return TRANSACTION_STATES[id];
}

/**
 * The sources an abort may start from besides Ongoing/PrepareEpochFence under transaction
 * version 2: a client unsure of the server's state may abort when no transaction is open, which
 * bumps the epoch and has nothing to mark (Kafka 4.x, `prepareAbortOrCommit(..., noPartitionAdded)`).
 * They are the only difference between {@link VALID_PREVIOUS_STATES} and the table of
 * kafka-anchor.md §3.1 (Kafka 3.9, before this was allowed).
 */
export const TV2_EMPTY_ABORT_SOURCES: readonly TransactionState[] = ['Empty', 'CompleteCommit', 'CompleteAbort'];

/**
 * For each state, the states it may be entered from: Kafka's `validPreviousStates` verbatim
 * (kafka-anchor.md §3.1), with PrepareAbort also reachable from {@link TV2_EMPTY_ABORT_SOURCES}
 * as in Kafka 4.x's `TransactionState.PREPARE_ABORT`.
 */
export const VALID_PREVIOUS_STATES: Readonly<Record<TransactionState, readonly TransactionState[]>> = {
  Empty: ['Empty', 'CompleteCommit', 'CompleteAbort'],
  Ongoing: ['Ongoing', 'Empty', 'CompleteCommit', 'CompleteAbort'],
  PrepareCommit: ['Ongoing'],
  PrepareAbort: ['Ongoing', 'PrepareEpochFence', ...TV2_EMPTY_ABORT_SOURCES],
  CompleteCommit: ['PrepareCommit'],
  CompleteAbort: ['PrepareAbort'],
  Dead: ['Empty', 'CompleteAbort', 'CompleteCommit'],
  PrepareEpochFence: ['Ongoing'],
};

/** True when `to` may directly follow `from` ({@link VALID_PREVIOUS_STATES}). */
export function isValidTransition(from: TransactionState, to: TransactionState): boolean {
  return VALID_PREVIOUS_STATES[to].includes(from);
}

/** True in the states where an idle transactional id may expire (Kafka's `isExpirationAllowed`). */
export function isExpirationAllowed(state: TransactionState): boolean {
  return state === 'Empty' || state === 'CompleteCommit' || state === 'CompleteAbort';
}

/* ------------------------------------------------------------------------------------------ */
/* Metadata                                                                                    */
/* ------------------------------------------------------------------------------------------ */

/** Kafka's `RecordBatch.NO_PRODUCER_ID`. */
export const NO_PRODUCER_ID = -1n;
/** Kafka's `RecordBatch.NO_PRODUCER_EPOCH`. */
export const NO_PRODUCER_EPOCH = -1;
/** Java's `Short.MAX_VALUE`, the largest producer epoch. */
export const MAX_PRODUCER_EPOCH = 32767;
/** Name of the internal offsets topic, whose partition AddOffsetsToTxn adds to a transaction. */
export const CONSUMER_OFFSETS_TOPIC = '__consumer_offsets';

/**
 * Client transaction version (Kafka's `transaction.version` feature level): 0 and 1 keep the
 * producer epoch across transactions; 2 (KIP-890 part 2) bumps it at every EndTxn.
 */
export type TransactionVersion = 0 | 1 | 2;

/** One partition of a transaction. */
export interface TopicPartitionRef {
  readonly topic: string;
  readonly partition: number;
}

/**
 * Everything the coordinator knows about one transactional id (Kafka's `TransactionMetadata` and
 * `TxnTransitMetadata`, which share this shape). Immutable and structured-clone safe.
 */
export interface TransactionMetadata {
  readonly transactionalId: string;
  /** The producer id in use. */
  readonly producerId: bigint;
  /** The producer id before the last transition (lets a retry after producer-id rotation be recognised); -1 when none. */
  readonly previousProducerId: bigint;
  /** The producer id the client moves to once the current transaction completes (TV2 epoch exhaustion); -1 when none. */
  readonly nextProducerId: bigint;
  /** The current producer epoch; -1 only before the first InitProducerId completed. */
  readonly producerEpoch: number;
  /** The epoch before the last bump (recognises retries); -1 when unknown. Not stored in `__transaction_state`, as in Kafka. */
  readonly lastProducerEpoch: number;
  readonly txnTimeoutMs: number;
  readonly state: TransactionState;
  /** Partitions of the open transaction, sorted by topic then partition, without duplicates. */
  readonly partitions: readonly TopicPartitionRef[];
  /** When the first partition was added (ms); -1 when no transaction is open. */
  readonly txnStartTimestamp: number;
  /** When the metadata last changed (ms); drives transactional id expiry. */
  readonly txnLastUpdateTimestamp: number;
  /** Transaction version the client used for the last transition (Kafka's `ClientTransactionVersion`). */
  readonly clientTransactionVersion: number;
  /** A transition appended to `__transaction_state` but not yet durable, or undefined. */
  readonly pendingState: TransactionMetadata | undefined;
}

/** A producer's identity. */
export interface ProducerIdAndEpoch {
  readonly producerId: bigint;
  readonly producerEpoch: number;
}

/** True from epoch Short.MAX − 1 on: the next bump must move to a new producer id (Kafka's `isEpochExhausted`). */
export function isEpochExhausted(producerEpoch: number): boolean {
  return producerEpoch >= MAX_PRODUCER_EPOCH - 1;
}

/** `partitions` sorted by topic then partition, duplicates removed. Does not modify its argument. */
export function sortPartitions(partitions: readonly TopicPartitionRef[]): TopicPartitionRef[] {
  const sorted = partitions.map((p) => ({ topic: p.topic, partition: p.partition })).sort(comparePartitions);
  return sorted.filter((p, i) => i === 0 || comparePartitions(sorted[i - 1] as TopicPartitionRef, p) !== 0);
}

function comparePartitions(a: TopicPartitionRef, b: TopicPartitionRef): number {
  if (a.topic !== b.topic) return a.topic < b.topic ? -1 : 1;
  return a.partition - b.partition;
}

function containsPartition(list: readonly TopicPartitionRef[], p: TopicPartitionRef): boolean {
  return list.some((q) => q.topic === p.topic && q.partition === p.partition);
}

/* ------------------------------------------------------------------------------------------ */
/* Configuration and context                                                                   */
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

function configOf(config: Partial<TransactionCoordinatorConfig> | undefined): TransactionCoordinatorConfig {
  return { ...TRANSACTION_COORDINATOR_DEFAULTS, ...config };
}

/* ------------------------------------------------------------------------------------------ */
/* Requests and decisions                                                                      */
/* ------------------------------------------------------------------------------------------ */

/** InitProducerId for a transactional producer. */
export interface InitProducerIdRequest {
  readonly transactionalId: string;
  readonly transactionTimeoutMs: number;
  /** The identity the producer already holds, when re-initialising after an error (KIP-360). */
  readonly producerIdAndEpoch?: ProducerIdAndEpoch;
}

/** AddPartitionsToTxn from a producer (or a partition leader verifying for it, TV2). */
export interface AddPartitionsToTxnRequest {
  readonly transactionalId: string;
  readonly producerId: bigint;
  readonly producerEpoch: number;
  readonly partitions: readonly TopicPartitionRef[];
  /** Client transaction version; 2 by default. */
  readonly transactionVersion?: TransactionVersion;
}

/** AddOffsetsToTxn: adds the group's `__consumer_offsets` partition to the transaction. */
export interface AddOffsetsToTxnRequest {
  readonly transactionalId: string;
  readonly producerId: bigint;
  readonly producerEpoch: number;
  readonly groupId: string;
  /** The group's `__consumer_offsets` partition, computed by the caller. */
  readonly offsetsPartition: number;
  /** Client transaction version; 2 by default. */
  readonly transactionVersion?: TransactionVersion;
}

/** EndTxn: commit or abort the open transaction. */
export interface EndTxnRequest {
  readonly transactionalId: string;
  readonly producerId: bigint;
  readonly producerEpoch: number;
  readonly commit: boolean;
  /** Client transaction version; 2 (epoch bump per transaction) by default. */
  readonly transactionVersion?: TransactionVersion;
}

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

/**
 * A coordinator bug: a transition the state machine forbids, or a state the coordinator must never
 * hold. Never a client error; the message names the transactional id and both states.
 */
export class InvalidTransactionTransitionError extends SamsaError {
  constructor(
    readonly transactionalId: string,
    readonly from: TransactionState,
    readonly to: TransactionState | undefined,
    reason: string,
  ) {
    super(`transaction coordinator bug for transactional id "${transactionalId}": ${reason} (from ${from}${to === undefined ? '' : ` to ${to}`})`, 'INVALID_TRANSACTION_TRANSITION', false);
  }
  override details(): Record<string, unknown> {
    return { transactionalId: this.transactionalId, from: this.from, to: this.to };
  }
}

function fail(error: KafkaErrorName, message: string): TxnError {
  return { kind: 'error', error, message };
}

function ok(identity: ProducerIdAndEpoch): TxnOk {
  return { kind: 'ok', producerId: identity.producerId, producerEpoch: identity.producerEpoch };
}

function write(current: TransactionMetadata, transit: TransactionMetadata, response: TxnReply, sendMarkers = false): WriteDecision {
  const pending = { ...current, pendingState: transit };
  return sendMarkers ? { kind: 'write', transit, pending, response, then: 'sendMarkers' } : { kind: 'write', transit, pending, response };
}

function concurrent(m: TransactionMetadata, what: string): TxnError {
  const why = m.pendingState !== undefined ? `a transition to ${m.pendingState.state} is being written` : `the transaction is in ${m.state}`;
  return fail('CONCURRENT_TRANSACTIONS', `${what} for transactional id "${m.transactionalId}" cannot proceed now: ${why}; retry after a backoff`);
}

function fenced(m: TransactionMetadata, epoch: number): TxnError {
  return fail(
    'PRODUCER_FENCED',
    `producer epoch ${epoch} of transactional id "${m.transactionalId}" is fenced (current epoch ${m.producerEpoch}): a newer producer with the same transactional.id was initialised or the transaction timed out; close this producer`,
  );
}

function wrongProducerId(transactionalId: string, producerId: bigint, m: TransactionMetadata | undefined): TxnError {
  const held = m === undefined ? 'which has no producer id (unknown or expired)' : `which uses producer id ${m.producerId}`;
  return fail('INVALID_PRODUCER_ID_MAPPING', `producer id ${producerId} is not assigned to transactional id "${transactionalId}", ${held}; call initTransactions() again`);
}

function invalidTxnState(m: TransactionMetadata, commit: boolean): TxnError {
  const ended = m.state === 'PrepareCommit' || m.state === 'CompleteCommit' ? 'commit' : m.state === 'PrepareAbort' || m.state === 'CompleteAbort' ? 'abort' : undefined;
  const why = ended !== undefined && ended !== (commit ? 'commit' : 'abort') ? `its transaction already ended with ${ended}` : 'no transaction is open';
  return fail('INVALID_TXN_STATE', `cannot ${commit ? 'commit' : 'abort'} transactional id "${m.transactionalId}" in state ${m.state}: ${why}; abort, or re-initialise the producer`);
}

function invalidRequest(what: string): TxnError {
  return fail('INVALID_REQUEST', `${what} needs a non-empty transactional id`);
}

function allocate(context: TransactionContext): bigint | TxnError {
  try {
    return context.newProducerId();
  } catch (e) {
    if (KafkaProtocolError.isKafka(e)) return fail(e.code as KafkaErrorName, e.message);
    throw e;
  }
}

function checkSameId(metadata: TransactionMetadata | undefined, transactionalId: string): void {
  if (metadata !== undefined && metadata.transactionalId !== transactionalId) {
    throw new InvalidArgumentError('metadata', `metadata of transactional id "${metadata.transactionalId}" passed for a request of "${transactionalId}"`);
  }
}

/** Dead is removed once its tombstone is durable and PrepareEpochFence only ever pends: holding either is a bug (Kafka throws too). */
function assertHeldState(m: TransactionMetadata): void {
  if (m.state === 'Dead' || m.state === 'PrepareEpochFence') {
    throw new InvalidTransactionTransitionError(m.transactionalId, m.state, undefined, `the coordinator holds state ${m.state}, which it never keeps`);
  }
}

function isPrepare(state: TransactionState): boolean {
  return state === 'PrepareCommit' || state === 'PrepareAbort';
}

function isComplete(state: TransactionState): boolean {
  return state === 'CompleteCommit' || state === 'CompleteAbort';
}

/* ------------------------------------------------------------------------------------------ */
/* Transitions                                                                                 */
/* ------------------------------------------------------------------------------------------ */

type TransitChanges = Partial<Omit<TransactionMetadata, 'transactionalId' | 'pendingState' | 'previousProducerId'>> & { readonly state: TransactionState };

/** Builds and validates the transit `current → changes`; `previousProducerId` records the id before it, as Kafka's transit does. */
function prepareTransition(current: TransactionMetadata, changes: TransitChanges): TransactionMetadata {
  const transit: TransactionMetadata = { ...current, ...changes, previousProducerId: current.producerId, pendingState: undefined };
  assertValidTransit(current, transit);
  return transit;
}

/**
 * Throws {@link InvalidTransactionTransitionError} unless `transit` may follow `current`: the
 * state table, then the field rules of Kafka's `completeTransitionTo` (epochs only move forward,
 * partitions only grow within a transaction, the timeout is fixed within a transaction, …).
 */
export function assertValidTransit(current: TransactionMetadata, transit: TransactionMetadata): void {
  const bug = (reason: string): never => {
    throw new InvalidTransactionTransitionError(current.transactionalId, current.state, transit.state, reason);
  };
  if (transit.transactionalId !== current.transactionalId) bug(`the transit is for transactional id "${transit.transactionalId}"`);
  if (!isValidTransition(current.state, transit.state)) bug(`${transit.state} cannot follow ${current.state}`);
  if (transit.state !== 'Dead' && (transit.producerEpoch < 0 || transit.producerEpoch > MAX_PRODUCER_EPOCH)) bug(`illegal producer epoch ${transit.producerEpoch}`);
  if (transit.producerId < 0n) bug(`illegal producer id ${transit.producerId}`);
  const sameProducer = transit.producerId === current.producerId;
  const sameOrNextEpoch = sameProducer && (transit.producerEpoch === current.producerEpoch || transit.producerEpoch === current.producerEpoch + 1);
  const sameIdentity = sameProducer && transit.producerEpoch === current.producerEpoch;
  const sameTimeout = transit.txnTimeoutMs === current.txnTimeoutMs;
  switch (transit.state) {
    case 'Empty':
      // InitProducerId: keep or bump the epoch, or rotate to a new producer id at epoch 0.
      if (!(sameOrNextEpoch || (transit.producerEpoch === 0 && !sameProducer))) bug(`epoch ${current.producerId}/${current.producerEpoch} cannot become ${transit.producerId}/${transit.producerEpoch}`);
      if (transit.partitions.length > 0 || transit.txnStartTimestamp !== -1) bug('an Empty transaction has no partitions and no start time');
      break;
    case 'Ongoing':
      if (!sameIdentity) bug('AddPartitions cannot change the producer id or epoch');
      if (!current.partitions.every((p) => containsPartition(transit.partitions, p))) bug('a transaction cannot lose partitions');
      if (!sameTimeout) bug('the transaction timeout cannot change within a transaction');
      break;
    case 'PrepareCommit':
    case 'PrepareAbort': {
      if (!sameOrNextEpoch) bug(`ending a transaction moves epoch ${current.producerEpoch} to itself or the next, not ${transit.producerId}/${transit.producerEpoch}`);
      if (!sameTimeout) bug('the transaction timeout cannot change within a transaction');
      const emptyAbort = TV2_EMPTY_ABORT_SOURCES.includes(current.state);
      if (emptyAbort && (transit.clientTransactionVersion < 2 || transit.partitions.length > 0)) bug('only transaction version 2 aborts from a closed transaction, with nothing to mark');
      if (!emptyAbort && !samePartitions(current.partitions, transit.partitions)) bug('ending a transaction cannot change its partitions');
      break;
    }
    case 'CompleteCommit':
    case 'CompleteAbort': {
      const rotated = current.nextProducerId !== NO_PRODUCER_ID && transit.producerId === current.nextProducerId && transit.producerEpoch === 0;
      if (!sameIdentity && !rotated) bug(`completing cannot move ${current.producerId}/${current.producerEpoch} to ${transit.producerId}/${transit.producerEpoch}`);
      if (transit.partitions.length > 0 || transit.txnStartTimestamp === -1) bug('a completed transaction has no partitions and keeps its start time');
      if (!sameTimeout) bug('the transaction timeout cannot change within a transaction');
      break;
    }
    case 'Dead':
      if (transit.partitions.length > 0) bug('a Dead transactional id has no partitions');
      break;
    case 'PrepareEpochFence':
      if (!(sameOrNextEpoch && (transit.producerEpoch > current.producerEpoch || current.producerEpoch === MAX_PRODUCER_EPOCH))) bug('fencing bumps the epoch');
      break;
  }
}

function samePartitions(a: readonly TopicPartitionRef[], b: readonly TopicPartitionRef[]): boolean {
  return a.length === b.length && a.every((p) => containsPartition(b, p));
}

/**
 * The metadata to hold once `pending.pendingState` is durable, or undefined when that transit was
 * Dead (the tombstone removes the transactional id). Re-validates the transit; throws
 * {@link InvalidTransactionTransitionError} when nothing is pending or the transit is invalid.
 */
export function completeTransition(pending: TransactionMetadata): TransactionMetadata | undefined {
  const transit = pending.pendingState;
  if (transit === undefined) throw new InvalidTransactionTransitionError(pending.transactionalId, pending.state, undefined, 'completing a transition while none is pending');
  if (transit.state === 'PrepareEpochFence') throw new InvalidTransactionTransitionError(pending.transactionalId, pending.state, transit.state, 'PrepareEpochFence is never written');
  assertValidTransit({ ...pending, pendingState: undefined }, transit);
  return transit.state === 'Dead' ? undefined : transit;
}

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
 * (`TransactionStateManager.appendTransactionToLog`): unavailable replicas or a timeout →
 * COORDINATOR_NOT_AVAILABLE (retry here), lost leadership or a storage error → NOT_COORDINATOR
 * (find the coordinator again), an oversized record → UNKNOWN_SERVER_ERROR, anything else as is.
 */
export function mapAppendError(appendError: KafkaErrorName): KafkaErrorName {
  switch (appendError) {
    case 'UNKNOWN_TOPIC_OR_PARTITION':
    case 'NOT_ENOUGH_REPLICAS':
    case 'NOT_ENOUGH_REPLICAS_AFTER_APPEND':
    case 'REQUEST_TIMED_OUT':
      return 'COORDINATOR_NOT_AVAILABLE';
    case 'NOT_LEADER_OR_FOLLOWER':
    case 'KAFKA_STORAGE_ERROR':
      return 'NOT_COORDINATOR';
    case 'MESSAGE_TOO_LARGE':
    case 'RECORD_LIST_TOO_LARGE':
      return 'UNKNOWN_SERVER_ERROR';
    default:
      return appendError;
  }
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

/* ------------------------------------------------------------------------------------------ */
/* InitProducerId                                                                              */
/* ------------------------------------------------------------------------------------------ */

/** True when `timeoutMs` is in (0, transaction.max.timeout.ms] (Kafka's `validateTransactionTimeoutMs`). */
export function isValidTransactionTimeout(timeoutMs: number, config?: Partial<TransactionCoordinatorConfig>): boolean {
  return Number.isInteger(timeoutMs) && timeoutMs > 0 && timeoutMs <= configOf(config)['transaction.max.timeout.ms'];
}

/**
 * InitProducerId for a transactional id (Kafka's `handleInitProducerId`):
 * - an invalid timeout → INVALID_TRANSACTION_TIMEOUT; an unknown id → a new producer id, epoch 0;
 * - a pending transition or Prepare* → CONCURRENT_TRANSACTIONS;
 * - Empty/Complete* → epoch + 1, or a new producer id at epoch 0 once the epoch is exhausted;
 * - Ongoing → fence: the epoch is bumped and the open transaction aborted (one PrepareAbort
 *   record, then markers), answered with CONCURRENT_TRANSACTIONS so the client retries and gets a
 *   second bump once the abort completed;
 * - with `producerIdAndEpoch` (KIP-360): a retry of a bump that already happened gets the current
 *   epoch again; an identity that is neither current nor that retry → PRODUCER_FENCED.
 */
export function handleInitProducerId(metadata: TransactionMetadata | undefined, request: InitProducerIdRequest, context: TransactionContext): Decision {
  const { transactionalId, transactionTimeoutMs: timeoutMs } = request;
  if (transactionalId === '') return invalidRequest('InitProducerId');
  checkSameId(metadata, transactionalId);
  const config = configOf(context.config);
  if (!isValidTransactionTimeout(timeoutMs, config)) {
    return fail(
      'INVALID_TRANSACTION_TIMEOUT',
      `transaction.timeout.ms=${timeoutMs} of transactional id "${transactionalId}" is not in (0, ${config['transaction.max.timeout.ms']}] (transaction.max.timeout.ms); lower the producer's transaction.timeout.ms or raise the broker's limit`,
    );
  }
  let current = metadata;
  if (current === undefined) {
    const producerId = allocate(context);
    if (typeof producerId !== 'bigint') return producerId;
    // Kafka caches a fresh Empty entry at epoch -1 before its first write, so the id survives a failed write.
    current = {
      transactionalId,
      producerId,
      previousProducerId: NO_PRODUCER_ID,
      nextProducerId: NO_PRODUCER_ID,
      producerEpoch: NO_PRODUCER_EPOCH,
      lastProducerEpoch: NO_PRODUCER_EPOCH,
      txnTimeoutMs: timeoutMs,
      state: 'Empty',
      partitions: [],
      txnStartTimestamp: -1,
      txnLastUpdateTimestamp: context.now,
      clientTransactionVersion: 0,
      pendingState: undefined,
    };
  }
  assertHeldState(current);
  if (current.pendingState !== undefined) return concurrent(current, 'InitProducerId');
  const expected = request.producerIdAndEpoch;
  if (expected !== undefined && !isKnownProducer(current, expected)) return fenced(current, expected.producerEpoch);

  switch (current.state) {
    case 'PrepareCommit':
    case 'PrepareAbort':
      return concurrent(current, 'InitProducerId');
    case 'Ongoing': {
      const abort = prepareFenceAbort(current, context);
      if (abort.kind === 'error') return abort;
      const retry = fail('CONCURRENT_TRANSACTIONS', `transactional id "${transactionalId}" had an open transaction, now being aborted after fencing its producer; retry InitProducerId after a backoff`);
      return write(current, abort.transit, retry, true);
    }
    default: {
      let transit: TransactionMetadata;
      const common = { state: 'Empty', txnTimeoutMs: timeoutMs, partitions: [], txnStartTimestamp: -1, txnLastUpdateTimestamp: context.now, nextProducerId: NO_PRODUCER_ID } as const;
      if (isEpochExhausted(current.producerEpoch) && (expected === undefined || expected.producerEpoch === current.producerEpoch)) {
        const producerId = allocate(context);
        if (typeof producerId !== 'bigint') return producerId;
        transit = prepareTransition(current, { ...common, producerId, producerEpoch: 0, lastProducerEpoch: expected === undefined ? NO_PRODUCER_EPOCH : current.producerEpoch });
      } else if (expected === undefined) {
        transit = prepareTransition(current, { ...common, producerEpoch: current.producerEpoch + 1, lastProducerEpoch: NO_PRODUCER_EPOCH });
      } else if (current.producerEpoch === NO_PRODUCER_EPOCH || expected.producerEpoch === current.producerEpoch) {
        transit = prepareTransition(current, { ...common, producerEpoch: current.producerEpoch + 1, lastProducerEpoch: current.producerEpoch });
      } else if (expected.producerEpoch === current.lastProducerEpoch) {
        // A retry of a bump the producer never heard about: answer the current epoch again.
        transit = prepareTransition(current, { ...common });
      } else {
        return fenced(current, expected.producerEpoch);
      }
      return write(current, transit, ok(transit));
    }
  }
}

/** KIP-360's `isValidProducerId`: the producer's identity is current, just created, or the one before a rotation. */
function isKnownProducer(m: TransactionMetadata, expected: ProducerIdAndEpoch): boolean {
  return (
    m.producerEpoch === NO_PRODUCER_EPOCH ||
    expected.producerId === m.producerId ||
    (expected.producerId === m.previousProducerId && isEpochExhausted(expected.producerEpoch))
  );
}

/**
 * Fence and abort an Ongoing transaction, as one PrepareAbort record: Ongoing → PrepareEpochFence
 * (epoch + 1, never written) → PrepareAbort at that same epoch (KAFKA-19367: no second bump).
 * With transaction version 2 and an exhausted epoch, the completion moves to a new producer id
 * (KAFKA-20090).
 */
function prepareFenceAbort(current: TransactionMetadata, context: TransactionContext): { kind: 'write'; transit: TransactionMetadata } | TxnError {
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

/* ------------------------------------------------------------------------------------------ */
/* AddPartitionsToTxn / AddOffsetsToTxn                                                        */
/* ------------------------------------------------------------------------------------------ */

/**
 * AddPartitionsToTxn (Kafka's `handleAddPartitionsToTransaction`, with Kafka 4.0's order of
 * checks, KAFKA-18660): a pending transition → CONCURRENT_TRANSACTIONS; an unknown id or another
 * producer id → INVALID_PRODUCER_ID_MAPPING; another epoch → PRODUCER_FENCED; Prepare* →
 * CONCURRENT_TRANSACTIONS (the client waits for the markers); all partitions already in an
 * Ongoing transaction → answered without a write; otherwise → Ongoing with the partitions added,
 * its start time set when the transaction opens. Validating that the topics exist is the caller's.
 */
export function handleAddPartitionsToTxn(metadata: TransactionMetadata | undefined, request: AddPartitionsToTxnRequest, context: TransactionContext): Decision {
  const { transactionalId, producerId, producerEpoch } = request;
  if (transactionalId === '') return invalidRequest('AddPartitionsToTxn');
  checkSameId(metadata, transactionalId);
  if (metadata === undefined) return wrongProducerId(transactionalId, producerId, undefined);
  assertHeldState(metadata);
  if (metadata.pendingState !== undefined) return concurrent(metadata, 'AddPartitionsToTxn');
  // During a Prepare* that rotates the producer id, the client already holds the next identity.
  if (isPrepare(metadata.state) && metadata.nextProducerId !== NO_PRODUCER_ID && producerId === metadata.nextProducerId && producerEpoch === 0) return concurrent(metadata, 'AddPartitionsToTxn');
  if (producerId !== metadata.producerId) return wrongProducerId(transactionalId, producerId, metadata);
  if (producerEpoch !== metadata.producerEpoch) return fenced(metadata, producerEpoch);
  if (isPrepare(metadata.state)) return concurrent(metadata, 'AddPartitionsToTxn');
  const added = sortPartitions(request.partitions);
  if (metadata.state === 'Ongoing' && added.every((p) => containsPartition(metadata.partitions, p))) return { kind: 'respond', response: ok(metadata) };
  const opens = metadata.state !== 'Ongoing';
  const transit = prepareTransition(metadata, {
    state: 'Ongoing',
    partitions: sortPartitions([...metadata.partitions, ...added]),
    txnStartTimestamp: opens ? context.now : metadata.txnStartTimestamp,
    txnLastUpdateTimestamp: context.now,
    clientTransactionVersion: request.transactionVersion ?? 2,
  });
  return write(metadata, transit, ok(transit));
}

/** AddOffsetsToTxn: exactly AddPartitionsToTxn of the group's `__consumer_offsets` partition. */
export function handleAddOffsetsToTxn(metadata: TransactionMetadata | undefined, request: AddOffsetsToTxnRequest, context: TransactionContext): Decision {
  const { groupId: _groupId, offsetsPartition, ...rest } = request;
  return handleAddPartitionsToTxn(metadata, { ...rest, partitions: [{ topic: CONSUMER_OFFSETS_TOPIC, partition: offsetsPartition }] }, context);
}

/* ------------------------------------------------------------------------------------------ */
/* EndTxn                                                                                      */
/* ------------------------------------------------------------------------------------------ */

/**
 * EndTxn (Kafka 4.x's `endTransaction`). With transaction version 2 (the default):
 * - Ongoing at the current epoch → PrepareCommit/PrepareAbort with the epoch bumped, then markers;
 *   the answer is the identity to use next (a new producer id at epoch 0 when the epoch was
 *   exhausted);
 * - a retry carrying the epoch before that bump: Prepare* with the same result →
 *   CONCURRENT_TRANSACTIONS, Complete* with the same result → the current identity without a
 *   write; the opposite result → INVALID_TXN_STATE;
 * - an abort at the current epoch with no transaction open (Empty/Complete*) → PrepareAbort with
 *   the epoch bumped and nothing to mark; a commit → INVALID_TXN_STATE;
 * - any other epoch → PRODUCER_FENCED, another producer id → INVALID_PRODUCER_ID_MAPPING.
 * So a delayed EndTxn of transaction N never touches transaction N + 1 (KAFKA-17754).
 * With a lower version, Kafka's earlier rules: the epoch must equal the current one and is kept.
 */
export function handleEndTxn(metadata: TransactionMetadata | undefined, request: EndTxnRequest, context: TransactionContext): Decision {
  const { transactionalId, producerId } = request;
  if (transactionalId === '') return invalidRequest('EndTxn');
  checkSameId(metadata, transactionalId);
  if (metadata === undefined) return wrongProducerId(transactionalId, producerId, undefined);
  assertHeldState(metadata);
  const version = request.transactionVersion ?? 2;
  return version >= 2 ? endTxnV2(metadata, request, context) : endTxnV1(metadata, request, version, context);
}

function endTxnV2(m: TransactionMetadata, request: EndTxnRequest, context: TransactionContext): Decision {
  const { producerId, producerEpoch, commit } = request;
  const retryOnOverflow = m.previousProducerId === producerId && producerEpoch === MAX_PRODUCER_EPOCH - 1 && m.producerEpoch === 0;
  const retryOnEpochBump = producerId === m.producerId && m.producerEpoch === producerEpoch + 1;
  const isRetry = retryOnEpochBump || retryOnOverflow;
  const current = producerEpoch === m.producerEpoch;
  let validEpoch: boolean;
  if (m.state === 'Ongoing' || m.state === 'Empty') validEpoch = current;
  else if (isPrepare(m.state)) validEpoch = retryOnEpochBump;
  else validEpoch = isRetry || current;

  if (isPrepare(m.state) && m.nextProducerId !== NO_PRODUCER_ID && producerId === m.nextProducerId && producerEpoch === 0) return concurrent(m, 'EndTxn');
  if (producerId !== m.producerId && !retryOnOverflow) return wrongProducerId(m.transactionalId, producerId, m);
  if (!validEpoch) return fenced(m, producerEpoch);
  if (m.pendingState !== undefined) return concurrent(m, 'EndTxn');
  const sameResult = commit ? m.state === 'PrepareCommit' || m.state === 'CompleteCommit' : m.state === 'PrepareAbort' || m.state === 'CompleteAbort';

  switch (m.state) {
    case 'Ongoing':
      return prepareEnd(m, commit, false, 2, context);
    case 'PrepareCommit':
    case 'PrepareAbort':
      return sameResult ? concurrent(m, 'EndTxn') : invalidTxnState(m, commit);
    case 'CompleteCommit':
    case 'CompleteAbort':
      if (isRetry) return sameResult ? { kind: 'respond', response: ok(m) } : invalidTxnState(m, commit);
      return commit ? invalidTxnState(m, commit) : prepareEnd(m, false, true, 2, context);
    default: // Empty
      return commit ? invalidTxnState(m, commit) : prepareEnd(m, false, true, 2, context);
  }
}

function endTxnV1(m: TransactionMetadata, request: EndTxnRequest, version: TransactionVersion, context: TransactionContext): Decision {
  const { producerId, producerEpoch, commit } = request;
  if (producerId !== m.producerId) return wrongProducerId(m.transactionalId, producerId, m);
  if (producerEpoch !== m.producerEpoch) return fenced(m, producerEpoch);
  if (m.pendingState !== undefined) return concurrent(m, 'EndTxn');
  switch (m.state) {
    case 'Ongoing':
      return prepareEnd(m, commit, false, version, context);
    case 'CompleteCommit':
      return commit ? { kind: 'respond', response: ok(m) } : invalidTxnState(m, commit);
    case 'CompleteAbort':
      return commit ? invalidTxnState(m, commit) : { kind: 'respond', response: ok(m) };
    case 'PrepareCommit':
      return commit ? concurrent(m, 'EndTxn') : invalidTxnState(m, commit);
    case 'PrepareAbort':
      return commit ? invalidTxnState(m, commit) : concurrent(m, 'EndTxn');
    default: // Empty
      return invalidTxnState(m, commit);
  }
}

/** Kafka's `prepareAbortOrCommit`: TV2 bumps the epoch (a new producer id follows an exhausted one). */
function prepareEnd(m: TransactionMetadata, commit: boolean, noPartitionAdded: boolean, version: TransactionVersion, context: TransactionContext): Decision {
  const state = commit ? 'PrepareCommit' : 'PrepareAbort';
  let transit: TransactionMetadata;
  if (version >= 2) {
    let nextProducerId = NO_PRODUCER_ID;
    if (isEpochExhausted(m.producerEpoch)) {
      const allocated = allocate(context);
      if (typeof allocated !== 'bigint') return allocated;
      nextProducerId = allocated;
    }
    transit = prepareTransition(m, {
      state,
      producerEpoch: m.producerEpoch + 1,
      lastProducerEpoch: m.producerEpoch,
      nextProducerId,
      // An abort with no transaction open has no start time; Kafka uses the update time.
      txnStartTimestamp: noPartitionAdded ? context.now : m.txnStartTimestamp,
      txnLastUpdateTimestamp: context.now,
      clientTransactionVersion: version,
    });
  } else {
    transit = prepareTransition(m, { state, nextProducerId: NO_PRODUCER_ID, txnLastUpdateTimestamp: context.now, clientTransactionVersion: version });
  }
  return write(m, transit, ok(identityAfterCompletion(transit)), true);
}

/** The identity a client uses once `prepare` (a Prepare* transit) completes. */
function identityAfterCompletion(prepare: TransactionMetadata): ProducerIdAndEpoch {
  return prepare.clientTransactionVersion >= 2 && prepare.nextProducerId !== NO_PRODUCER_ID
    ? { producerId: prepare.nextProducerId, producerEpoch: 0 }
    : { producerId: prepare.producerId, producerEpoch: prepare.producerEpoch };
}

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
  readonly partitions: readonly TopicPartitionRef[];
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
