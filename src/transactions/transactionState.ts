/**
 * The transaction coordinator's state model (KIP-98, KIP-360, KIP-890), as pure functions over
 * immutable, structured-clone-safe data: Kafka's states and the table of legal transitions
 * between them, the metadata held per transactional id, and the rules every transit must obey
 * (Kafka's `TransactionMetadata.completeTransitionTo`).
 *
 * Everything that builds transits goes through {@link prepareTransition}, and everything that
 * applies one through {@link completeTransition}, so no state the table forbids is ever held. The
 * decisions built on this model are in `transactionRequests.ts` (client requests) and
 * `transactionCompletion.ts` (markers, timeouts, expiry); `transactionDecision.ts` says how the
 * coordinator applies them.
 */
import { SamsaError } from '../errors.ts';
import type { TopicPartition } from '../topicPartition.ts';

export type { TopicPartition } from '../topicPartition.ts';

/* ------------------------------------------------------------------------------------------ */
/* States                                                                                     */
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
/* Metadata                                                                                   */
/* ------------------------------------------------------------------------------------------ */

/** Kafka's `RecordBatch.NO_PRODUCER_ID`. */
export const NO_PRODUCER_ID = -1n;
/** Kafka's `RecordBatch.NO_PRODUCER_EPOCH`. */
export const NO_PRODUCER_EPOCH = -1;
/** Java's `Short.MAX_VALUE`, the largest producer epoch. */
export const MAX_PRODUCER_EPOCH = 32767;

/**
 * Client transaction version (Kafka's `transaction.version` feature level): 0 and 1 keep the
 * producer epoch across transactions; 2 (KIP-890 part 2) bumps it at every EndTxn.
 */
export type TransactionVersion = 0 | 1 | 2;


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
  readonly partitions: readonly TopicPartition[];
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
export function sortPartitions(partitions: readonly TopicPartition[]): TopicPartition[] {
  const sorted = partitions.map((p) => ({ topic: p.topic, partition: p.partition })).sort(comparePartitions);
  return sorted.filter((p, i) => i === 0 || comparePartitions(sorted[i - 1] as TopicPartition, p) !== 0);
}

function comparePartitions(a: TopicPartition, b: TopicPartition): number {
  if (a.topic !== b.topic) return a.topic < b.topic ? -1 : 1;
  return a.partition - b.partition;
}

/** True when `list` holds partition `p`. */
export function containsPartition(list: readonly TopicPartition[], p: TopicPartition): boolean {
  return list.some((q) => q.topic === p.topic && q.partition === p.partition);
}

/* ------------------------------------------------------------------------------------------ */
/* Invariants                                                                                 */
/* ------------------------------------------------------------------------------------------ */

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

/** Dead is removed once its tombstone is durable and PrepareEpochFence only ever pends: holding either is a bug (Kafka throws too). */
export function assertHeldState(m: TransactionMetadata): void {
  if (m.state === 'Dead' || m.state === 'PrepareEpochFence') {
    throw new InvalidTransactionTransitionError(m.transactionalId, m.state, undefined, `the coordinator holds state ${m.state}, which it never keeps`);
  }
}

/** True in PrepareCommit and PrepareAbort, while markers are being written. */
export function isPrepare(state: TransactionState): boolean {
  return state === 'PrepareCommit' || state === 'PrepareAbort';
}

/** True in CompleteCommit and CompleteAbort. */
export function isComplete(state: TransactionState): boolean {
  return state === 'CompleteCommit' || state === 'CompleteAbort';
}

/* ------------------------------------------------------------------------------------------ */
/* Transitions                                                                                */
/* ------------------------------------------------------------------------------------------ */


/** The fields a transit changes: everything but the identity and the bookkeeping fields, and always the state. */
export type TransitChanges = Partial<Omit<TransactionMetadata, 'transactionalId' | 'pendingState' | 'previousProducerId'>> & { readonly state: TransactionState };

/** Builds and validates the transit `current → changes`; `previousProducerId` records the id before it, as Kafka's transit does. */
export function prepareTransition(current: TransactionMetadata, changes: TransitChanges): TransactionMetadata {
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

function samePartitions(a: readonly TopicPartition[], b: readonly TopicPartition[]): boolean {
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
