/**
 * A minimal synchronous coordinator over the pure transaction state, for tests: it holds one
 * metadata per transactional id, applies write decisions the way the coordinator actor will
 * (pending → durable → completeTransition), and keeps the written records for replay checks.
 */
import { completeTransition } from '../../src/transactions/transactionState.ts';
import type { TransactionMetadata } from '../../src/transactions/transactionState.ts';
import { onWriteFailed } from '../../src/transactions/transactionDecision.ts';
import type { Decision, TransactionContext, TransactionCoordinatorConfig, TxnReply, WriteDecision } from '../../src/transactions/transactionDecision.ts';
import { handleAddOffsetsToTxn, handleAddPartitionsToTxn, handleEndTxn, handleInitProducerId } from '../../src/transactions/transactionRequests.ts';
import type { AddOffsetsToTxnRequest, AddPartitionsToTxnRequest, EndTxnRequest, InitProducerIdRequest } from '../../src/transactions/transactionRequests.ts';
import { completeTransaction } from '../../src/transactions/transactionCompletion.ts';
import { encodeTransactionLogRecord } from '../../src/transactions/transactionLog.ts';
import type { KafkaErrorName } from '../../src/errors.ts';

export class Harness {
  readonly state = new Map<string, TransactionMetadata>();
  readonly log: Array<{ key: Uint8Array; value: Uint8Array | null }> = [];
  private inflight: WriteDecision | undefined;
  now = 1_000;
  nextProducerId = 1000n;
  readonly allocated: bigint[] = [];

  constructor(readonly config: Partial<TransactionCoordinatorConfig> = {}) {}

  context(): TransactionContext {
    return {
      now: this.now,
      config: this.config,
      newProducerId: () => {
        const id = this.nextProducerId++;
        this.allocated.push(id);
        return id;
      },
    };
  }

  get(id: string): TransactionMetadata | undefined {
    return this.state.get(id);
  }

  /** Takes a decision; a write is left in flight (pending) until {@link durable} or {@link fail}. */
  take(d: Decision): Decision {
    if (d.kind === 'write') {
      if (this.inflight !== undefined) throw new Error('harness: a write is already in flight');
      this.inflight = d;
      this.state.set(d.pending.transactionalId, d.pending);
    }
    return d;
  }

  /** Makes the in-flight write durable and returns its answer. */
  durable(): TxnReply {
    const d = this.inflight;
    if (d === undefined) throw new Error('harness: nothing in flight');
    this.inflight = undefined;
    this.log.push(encodeTransactionLogRecord(d.transit));
    const pending = this.state.get(d.pending.transactionalId) as TransactionMetadata;
    const next = completeTransition(pending);
    if (next === undefined) this.state.delete(pending.transactionalId);
    else this.state.set(pending.transactionalId, next);
    return d.response;
  }

  /** Fails the in-flight write with `error`. */
  fail(error: KafkaErrorName): ReturnType<typeof onWriteFailed> {
    const d = this.inflight;
    if (d === undefined) throw new Error('harness: nothing in flight');
    this.inflight = undefined;
    const failure = onWriteFailed(this.state.get(d.pending.transactionalId) as TransactionMetadata, error);
    this.state.set(d.pending.transactionalId, failure.metadata);
    if (failure.retry) this.inflight = d;
    return failure;
  }

  /** Runs a decision (taken already or not) to its answer: writes are made durable at once. */
  run(d: Decision): TxnReply {
    if (d.kind === 'write' && this.inflight !== d) this.take(d);
    if (d.kind === 'write') return this.durable();
    return d.kind === 'respond' ? d.response : d;
  }

  init(request: InitProducerIdRequest): Decision {
    return this.take(handleInitProducerId(this.get(request.transactionalId), request, this.context()));
  }
  add(request: AddPartitionsToTxnRequest): Decision {
    return this.take(handleAddPartitionsToTxn(this.get(request.transactionalId), request, this.context()));
  }
  offsets(request: AddOffsetsToTxnRequest): Decision {
    return this.take(handleAddOffsetsToTxn(this.get(request.transactionalId), request, this.context()));
  }
  end(request: EndTxnRequest): Decision {
    return this.take(handleEndTxn(this.get(request.transactionalId), request, this.context()));
  }
  /** Markers acknowledged: writes the completion (in flight). */
  complete(id: string): Decision {
    return this.take(completeTransaction(this.get(id) as TransactionMetadata, this.now));
  }
}

/** The reply of a decision that answers at once, or of a write once durable. */
export function replyOf(d: Decision): TxnReply {
  if (d.kind === 'write') return d.response;
  return d.kind === 'respond' ? d.response : d;
}
