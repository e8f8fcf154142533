/**
 * The transaction coordinator's answers to client requests (Kafka's `TransactionCoordinator`
 * handlers): InitProducerId, AddPartitionsToTxn, AddOffsetsToTxn and EndTxn, each a pure function
 * from the held metadata and the request to a {@link Decision} (see `transactionDecision.ts` for
 * how the coordinator applies it).
 *
 * Behaviour is Kafka's with transaction version 2 (KIP-890 part 2, Kafka 4.x): the producer epoch
 * is bumped by every EndTxn, so (producerId, epoch) names exactly one transaction, and a delayed
 * EndTxn or AddPartitions of an earlier transaction is refused (KAFKA-17754). Requests may carry a
 * lower client transaction version to get Kafka's pre-KIP-890 EndTxn rules.
 */
import {
  allocate,
  checkSameId,
  concurrent,
  configOf,
  fail,
  fenced,
  identityAfterCompletion,
  invalidRequest,
  invalidTxnState,
  ok,
  prepareFenceAbort,
  write,
  wrongProducerId,
} from './transactionDecision.ts';
import type { Decision, TransactionContext, TransactionCoordinatorConfig } from './transactionDecision.ts';
import { MAX_PRODUCER_EPOCH, NO_PRODUCER_EPOCH, NO_PRODUCER_ID, assertHeldState, containsPartition, isEpochExhausted, isPrepare, prepareTransition, sortPartitions } from './transactionState.ts';
import type { ProducerIdAndEpoch, TopicPartition, TransactionMetadata, TransactionVersion } from './transactionState.ts';

/** Name of the internal offsets topic, whose partition AddOffsetsToTxn adds to a transaction. */
export const CONSUMER_OFFSETS_TOPIC = '__consumer_offsets';

/* ------------------------------------------------------------------------------------------ */
/* Requests                                                                                   */
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
  readonly partitions: readonly TopicPartition[];
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
