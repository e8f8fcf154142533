/**
 * One transactional id at its coordinator, as an XState machine whose states are Kafka's
 * transaction states (`New` until the id is first registered). The decisions are the pure
 * functions of `src/transactions/transactionState.ts`; this machine only sequences them: a
 * decision to write is emitted as `write` and takes effect — the machine moves to the new state
 * and the requester is answered — only when the coordinator reports the record durable
 * (`write.done`), exactly as Kafka's coordinator answers after its `__transaction_state` append.
 * Every state change follows Kafka's valid-previous-state table (a guard checks it), and while a
 * write is in flight every request is answered CONCURRENT_TRANSACTIONS by the decisions. What
 * each event does is a pure {@link Decision} (context changes and emitted requests), carried out
 * by the shared `enqueueDecision`.
 */
import { enqueueActions, setup } from 'xstate';
import type { KafkaErrorName } from '../../errors.ts';
import { completeTransition, isValidTransition } from '../../transactions/transactionState.ts';
import type { TransactionMetadata, TransactionState } from '../../transactions/transactionState.ts';
import { onWriteFailed } from '../../transactions/transactionDecision.ts';
import type { Decision as TxnDecision, TransactionCoordinatorConfig, TxnReply, WriteDecision } from '../../transactions/transactionDecision.ts';
import { handleAddOffsetsToTxn, handleAddPartitionsToTxn, handleEndTxn, handleInitProducerId } from '../../transactions/transactionRequests.ts';
import type { AddOffsetsToTxnRequest, AddPartitionsToTxnRequest, EndTxnRequest, InitProducerIdRequest } from '../../transactions/transactionRequests.ts';
import { abortTimedOut, completeTransaction, expireTransactionalId, markersFor } from '../../transactions/transactionCompletion.ts';
import type { TxnMarkers } from '../../transactions/transactionCompletion.ts';
import { effect, enqueueDecision } from '../coordination/effects.ts';
import type { Decision } from '../coordination/effects.ts';

/** Who to answer: an opaque handle the coordinator maps back to a client request. */
export type ReplyTo = number;

/** What the machine is created with. */
export interface TransactionInput {
  readonly transactionalId: string;
  /** The metadata loaded from `__transaction_state` (after a failover), or undefined for a new id. */
  readonly restore?: TransactionMetadata;
  readonly config: Partial<TransactionCoordinatorConfig>;
  /** A fresh producer id, or a thrown COORDINATOR_LOAD_IN_PROGRESS while none is at hand. */
  readonly newProducerId: () => bigint;
  /** The coordinator's clock. */
  readonly now: () => number;
}

/** A write this machine waits for. */
interface InFlightWrite {
  readonly writeId: number;
  readonly decision: WriteDecision;
  /** The request to answer once it is durable (none for completions, timeouts and expiry). */
  readonly replyTo: ReplyTo | undefined;
}

interface TransactionContext {
  readonly transactionalId: string;
  readonly metadata: TransactionMetadata | undefined;
  readonly inFlight: InFlightWrite | undefined;
  readonly nextWriteId: number;
  readonly config: Partial<TransactionCoordinatorConfig>;
  readonly newProducerId: () => bigint;
  readonly now: () => number;
}

/** Requests and notices from the coordinator. */
export type TransactionEvent =
  | { type: 'initProducerId'; request: InitProducerIdRequest; replyTo: ReplyTo }
  | { type: 'addPartitions'; request: AddPartitionsToTxnRequest; replyTo: ReplyTo }
  | { type: 'addOffsets'; request: AddOffsetsToTxnRequest; replyTo: ReplyTo }
  | { type: 'endTxn'; request: EndTxnRequest; replyTo: ReplyTo }
  /** Abort if the transaction outlived its `transaction.timeout.ms`. */
  | { type: 'timeout.check' }
  /** Expire the id if idle for `transactional.id.expiration.ms`. */
  | { type: 'expiry.check' }
  /** Resend the markers of a Prepare* transaction (after a failover or a lost marker round). */
  | { type: 'markers.resume' }
  /** Every partition acknowledged the markers. */
  | { type: 'markers.done' }
  | { type: 'write.done'; writeId: number }
  | { type: 'write.failed'; writeId: number; error: KafkaErrorName };

/** What the machine asks its coordinator to do. */
export type TransactionEmitted =
  | { type: 'respond'; replyTo: ReplyTo; reply: TxnReply }
  /** Append `transit` to `__transaction_state` with acks=all; report `write.done` or `write.failed` with `writeId`. */
  | { type: 'write'; writeId: number; transit: TransactionMetadata }
  /** Write these markers to every partition's leader; report `markers.done` when all acknowledged. */
  | { type: 'sendMarkers'; markers: TxnMarkers }
  /** The id expired: the coordinator forgets it. */
  | { type: 'forgotten'; transactionalId: string }
  /** A transaction reached a final state (for inspection). */
  | { type: '@samsa.txn.completed'; transactionalId: string; producerId: bigint; producerEpoch: number; committed: boolean };

/** What the machine does for one event: context changes, requests emitted to its coordinator, a delayed retry. */
type Step = Decision<TransactionContext, TransactionEvent, TransactionEmitted>;

const NOTHING: Step = { effects: [] };

/** Emits to the coordinator, in order. */
function emitting(...events: TransactionEmitted[]): Step['effects'] {
  return events.map((e) => effect.emit(e));
}

/** Carries out a decision: answer now, or hold the pending state and ask for the write. */
function apply(c: TransactionContext, decision: TxnDecision | undefined, replyTo: ReplyTo | undefined): Step {
  if (decision === undefined) return NOTHING;
  if (decision.kind === 'error') return { effects: replyTo === undefined ? [] : emitting({ type: 'respond', replyTo, reply: decision }) };
  if (decision.kind === 'respond') return { effects: replyTo === undefined ? [] : emitting({ type: 'respond', replyTo, reply: decision.response }) };
  const writeId = c.nextWriteId;
  return { context: { metadata: decision.pending, inFlight: { writeId, decision, replyTo }, nextWriteId: writeId + 1 }, effects: emitting({ type: 'write', writeId, transit: decision.transit }) };
}

function decisionContext(c: TransactionContext): { now: number; config: Partial<TransactionCoordinatorConfig>; newProducerId: () => bigint } {
  return { now: c.now(), config: c.config, newProducerId: c.newProducerId };
}

function isPrepare(m: TransactionMetadata | undefined): m is TransactionMetadata {
  return m !== undefined && m.pendingState === undefined && (m.state === 'PrepareCommit' || m.state === 'PrepareAbort');
}

/** How long a failed completion write waits before it is tried again (Kafka retries it from its marker channel's loop). */
const COMPLETION_RETRY_BACKOFF_MS = 100;

/** What an event (other than a durable write) leads to: the pure decisions say what each state allows. */
function react(c: TransactionContext, event: TransactionEvent): Step {
  switch (event.type) {
    case 'initProducerId':
      return apply(c, handleInitProducerId(c.metadata, event.request, decisionContext(c)), event.replyTo);
    case 'addPartitions':
      return apply(c, handleAddPartitionsToTxn(c.metadata, event.request, decisionContext(c)), event.replyTo);
    case 'addOffsets':
      return apply(c, handleAddOffsetsToTxn(c.metadata, event.request, decisionContext(c)), event.replyTo);
    case 'endTxn':
      return apply(c, handleEndTxn(c.metadata, event.request, decisionContext(c)), event.replyTo);
    case 'timeout.check':
      return c.metadata === undefined ? NOTHING : apply(c, abortTimedOut(c.metadata, decisionContext(c)), undefined);
    case 'expiry.check':
      return c.metadata === undefined ? NOTHING : apply(c, expireTransactionalId(c.metadata, c.now(), c.config), undefined);
    case 'markers.done':
      return isPrepare(c.metadata) ? apply(c, completeTransaction(c.metadata, c.now()), undefined) : NOTHING;
    case 'markers.resume':
      return isPrepare(c.metadata) ? { effects: emitting({ type: 'sendMarkers', markers: markersFor(c.metadata) }) } : NOTHING;
    case 'write.failed': {
      const inFlight = c.inFlight;
      if (inFlight === undefined || inFlight.writeId !== event.writeId) return NOTHING;
      const failure = onWriteFailed(c.metadata as TransactionMetadata, event.error);
      const answered = inFlight.replyTo === undefined ? [] : emitting({ type: 'respond', replyTo: inFlight.replyTo, reply: { kind: 'error', error: failure.error, message: failure.message } });
      // A completion must happen eventually (its markers are already in the logs): write it again,
      // after a backoff. onWriteFailed keeps the pending Complete* transit for a retry, but with no
      // write in flight holding it would answer CONCURRENT_TRANSACTIONS forever (and
      // completeTransaction() refuses a metadata with a pending transit): go back to the Prepare*
      // state and complete again, as on markers.done. Found by the transactional simulation
      // (test/sim/txnSim.ts, seed 135): CompleteCommit failed with NOT_ENOUGH_REPLICAS while two
      // brokers were down, and the transactional id stayed in PrepareCommit for good.
      if (failure.retry) {
        const prepared: TransactionMetadata = { ...failure.metadata, pendingState: undefined };
        // Every partition has its marker already: markers.done completes the transaction again.
        if (isPrepare(prepared)) return { context: { metadata: prepared, inFlight: undefined }, effects: [...answered, effect.schedule<TransactionEvent>({ type: 'markers.done' }, COMPLETION_RETRY_BACKOFF_MS)] };
      }
      return { context: { metadata: failure.metadata, inFlight: undefined }, effects: answered };
    }
    case 'write.done':
      // A durable write the machine does not wait for (already failed or superseded) changes nothing.
      return NOTHING;
  }
}

/** Applies a durable write: hold the new metadata, answer, and send markers when the decision says so. */
function completed(c: TransactionContext): Step {
  const inFlight = c.inFlight as InFlightWrite;
  const metadata = completeTransition(c.metadata as TransactionMetadata);
  const out: TransactionEmitted[] = [];
  if (inFlight.replyTo !== undefined) out.push({ type: 'respond', replyTo: inFlight.replyTo, reply: inFlight.decision.response });
  if (metadata === undefined) out.push({ type: 'forgotten', transactionalId: c.transactionalId });
  else {
    if (metadata.state === 'CompleteCommit' || metadata.state === 'CompleteAbort') out.push({ type: '@samsa.txn.completed', transactionalId: c.transactionalId, producerId: metadata.producerId, producerEpoch: metadata.producerEpoch, committed: metadata.state === 'CompleteCommit' });
    if (inFlight.decision.then === 'sendMarkers') out.push({ type: 'sendMarkers', markers: markersFor(metadata) });
  }
  return { context: { metadata, inFlight: undefined }, effects: emitting(...out) };
}

const KAFKA_STATES: readonly TransactionState[] = ['Empty', 'Ongoing', 'PrepareCommit', 'PrepareAbort', 'CompleteCommit', 'CompleteAbort'];

/** The events every state reacts to the same way (through the decisions). */
const REACTIONS = ['initProducerId', 'addPartitions', 'addOffsets', 'endTxn', 'timeout.check', 'expiry.check', 'markers.done', 'markers.resume', 'write.failed'] as const;

const machineSetup = setup({
  types: { context: {} as TransactionContext, input: {} as TransactionInput, events: {} as TransactionEvent, emitted: {} as TransactionEmitted },
  actions: {
    react: enqueueActions(({ context: c, event, enqueue }) => {
      enqueueDecision(enqueue, react(c, event));
    }),
    complete: enqueueActions(({ context: c, enqueue }) => {
      enqueueDecision(enqueue, completed(c));
    }),
  },
  guards: {
    /** The awaited write is durable and leads to `state` (Dead: the id expired). */
    writeLeadsTo: ({ context: c, event }, params: { state: TransactionState }) => event.type === 'write.done' && event.writeId === c.inFlight?.writeId && c.inFlight.decision.transit.state === params.state,
    restoredAs: ({ context: c }, params: { state: TransactionState | undefined }) => c.metadata?.state === params.state,
  },
});

/** A state node: shared reactions, and `write.done` to each state the valid-previous-state table allows from it. */
function stateNode(from: TransactionState | 'New') {
  const targets: TransactionState[] = from === 'New' ? ['Empty'] : [...KAFKA_STATES, 'Dead'].filter((to) => isValidTransition(from, to as TransactionState)) as TransactionState[];
  return {
    on: {
      ...Object.fromEntries(REACTIONS.map((type) => [type, { actions: 'react' as const }])),
      'write.done': [...targets.map((to) => ({ guard: { type: 'writeLeadsTo' as const, params: { state: to } }, target: to, actions: 'complete' as const })), { actions: 'react' as const }],
    },
  };
}

/** See the module comment. */
export const transactionMachine = machineSetup.createMachine({
  id: 'transaction',
  context: ({ input }) => ({ transactionalId: input.transactionalId, metadata: input.restore, inFlight: undefined, nextWriteId: 1, config: input.config, newProducerId: input.newProducerId, now: input.now }),
  initial: 'restoring',
  states: {
    // A loaded id starts in the state it was written in.
    restoring: {
      always: [{ guard: { type: 'restoredAs', params: { state: undefined } }, target: 'New' }, ...KAFKA_STATES.map((state) => ({ guard: { type: 'restoredAs' as const, params: { state } }, target: state }))],
    },
    New: stateNode('New'),
    Empty: stateNode('Empty'),
    Ongoing: stateNode('Ongoing'),
    PrepareCommit: stateNode('PrepareCommit'),
    PrepareAbort: stateNode('PrepareAbort'),
    CompleteCommit: stateNode('CompleteCommit'),
    CompleteAbort: stateNode('CompleteAbort'),
    Dead: { type: 'final' },
  },
});
