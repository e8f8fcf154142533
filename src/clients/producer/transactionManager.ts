/**
 * The client side of Kafka transactions (Kafka's producer `TransactionManager`), for a producer
 * with a `transactionalId`. Its phase is the {@link transactionManagerMachine}, Kafka's client
 * states: `uninitialized` → `initializing` → `ready` ⇄ `inTransaction` → `committing` /
 * `aborting` → `ready`, with `abortableError` (the transaction must be aborted) and `fatalError`
 * (the producer is fenced or misconfigured: close it).
 *
 * What it guarantees, as Kafka's:
 * - `initTransactions` registers the transactional id with its coordinator and fences every
 *   earlier producer instance with it (the epoch is bumped; an open transaction of theirs is
 *   aborted).
 * - A partition receives the transaction's batches only after AddPartitionsToTxn for it has
 *   succeeded, so the coordinator always knows where to write the transaction's markers.
 * - `commit` first waits for every send; if any failed, the transaction cannot commit (abortable
 *   error). EndTxn is retried with the same result until the coordinator answers: an unanswered
 *   commit is never turned into an abort (the KAFKA-17754 trap). Each EndTxn bumps the epoch
 *   (KIP-890 transaction version 2), so a late request of this transaction cannot touch the next.
 */
import { assign, createActor, setup } from 'xstate';
import type { Actor } from 'xstate';
import type { Clock } from '../../clock.ts';
import { errorFromJSON, KafkaProtocolError, SamsaError, TransactionAbortableError, TransactionStateError } from '../../errors.ts';
import type { Message } from '../../transport/transport.ts';
import { brokerNode } from '../../transport/transport.ts';
import type { ClientConnection } from '../connection.ts';
import { sleep } from '../../clock.ts';

/** Kafka's producer-side transaction states. */
export type TransactionPhase = 'uninitialized' | 'initializing' | 'ready' | 'inTransaction' | 'committing' | 'aborting' | 'abortableError' | 'fatalError';

/** Events of the {@link transactionManagerMachine}. */
export type TransactionManagerEvent =
  | { type: 'init' }
  | { type: 'initialized' }
  | { type: 'initFailed' }
  | { type: 'begin' }
  | { type: 'commit' }
  | { type: 'abort' }
  | { type: 'completed' }
  | { type: 'abortableError'; error: unknown }
  | { type: 'fatalError'; error: unknown };

/** The producer's transaction phase as a machine; an event a phase does not accept changes nothing. */
export const transactionManagerMachine = setup({
  types: { context: {} as { error: unknown }, events: {} as TransactionManagerEvent },
  actions: {
    remember: assign({ error: ({ event }) => (event.type === 'abortableError' || event.type === 'fatalError' ? event.error : undefined) }),
    forget: assign({ error: () => undefined }),
  },
}).createMachine({
  id: 'transactionManager',
  context: { error: undefined },
  initial: 'uninitialized',
  states: {
    uninitialized: { on: { init: 'initializing' } },
    initializing: { on: { initialized: 'ready', initFailed: 'uninitialized' } },
    ready: { on: { begin: 'inTransaction' } },
    inTransaction: { on: { commit: 'committing', abort: 'aborting', abortableError: { target: 'abortableError', actions: 'remember' } } },
    committing: { on: { completed: 'ready', abortableError: { target: 'abortableError', actions: 'remember' } } },
    aborting: { on: { completed: { target: 'ready', actions: 'forget' } } },
    abortableError: { on: { abort: 'aborting' } },
    fatalError: { type: 'final' },
  },
  on: { fatalError: { target: '.fatalError', actions: 'remember' } },
});

/** A group's identity for `sendOffsets` (Kafka's `ConsumerGroupMetadata`, as `sendOffsetsToTransaction` takes it). */
export interface ConsumerGroupMetadata {
  readonly groupId: string | undefined;
  readonly generationId: number;
  readonly memberId: string;
  readonly groupInstanceId: string | undefined;
}

/** What the manager needs from its producer. */
export interface TransactionHost {
  readonly transactionalId: string;
  readonly transactionTimeoutMs: number;
  readonly connection: ClientConnection;
  readonly clock: Clock;
  readonly requestTimeoutMs: number;
  readonly retryBackoffMs: number;
  /** `max.block.ms`: how long a transactional call keeps retrying retriable errors (EndTxn retries until answered). */
  readonly maxBlockMs: number;
  readonly brokers: () => readonly number[];
  producerIdAndEpoch(): { producerId: bigint; producerEpoch: number };
  /** Adopts the coordinator's producer id and epoch: a new producer session, sequences from 0. */
  setProducerIdAndEpoch(producerId: bigint, producerEpoch: number): void;
  /** Resolves once every send so far has completed (or failed). */
  flush(): Promise<void>;
  /** Fails every batch that has not been sent (the transaction is being aborted). */
  failUnsent(error: unknown): void;
  /** Sends what waited for partitions to be added. */
  drain(): void;
}

/** Errors that end the producer: it was fenced by a newer instance, or may not use the id. */
const FATAL = new Set(['PRODUCER_FENCED', 'INVALID_PRODUCER_EPOCH', 'TRANSACTIONAL_ID_AUTHORIZATION_FAILED', 'INVALID_PRODUCER_ID_MAPPING', 'INVALID_TXN_STATE', 'UNSUPPORTED_VERSION', 'INVALID_TRANSACTION_TIMEOUT']);
/** Errors after which the same request is sent again, to a re-found coordinator when it moved. */
const RETRY = new Set(['COORDINATOR_NOT_AVAILABLE', 'NOT_COORDINATOR', 'COORDINATOR_LOAD_IN_PROGRESS', 'CONCURRENT_TRANSACTIONS', 'NETWORK_EXCEPTION', 'REQUEST_TIMED_OUT', 'TIMEOUT', 'UNKNOWN_TOPIC_OR_PARTITION', 'NOT_ENOUGH_REPLICAS', 'NOT_LEADER_OR_FOLLOWER']);
const COORDINATOR_MOVED = new Set(['COORDINATOR_NOT_AVAILABLE', 'NOT_COORDINATOR', 'NETWORK_EXCEPTION', 'REQUEST_TIMED_OUT', 'TIMEOUT']);
/** Kafka retries CONCURRENT_TRANSACTIONS quickly: the coordinator is finishing the previous transaction. */
const CONCURRENT_BACKOFF_MS = 20;

/** An error from a response: a KafkaProtocolError named as Kafka names it. */
function responseError(response: { error?: string; message?: string }): SamsaError | undefined {
  return response.error === undefined ? undefined : errorFromJSON({ name: 'KafkaProtocolError', code: response.error, message: response.message ?? response.error, retriable: false });
}

function codeOf(error: unknown): string {
  return SamsaError.is(error) ? error.code : '';
}

/** See the module comment. */
export class TransactionManager {
  private readonly actor: Actor<typeof transactionManagerMachine>;
  private coordinator: number | undefined;
  /** Partitions the coordinator has in the current transaction. */
  private readonly added = new Set<string>();
  /** Partitions with batches waiting for AddPartitionsToTxn. */
  private readonly toAdd = new Map<string, { topic: string; partition: number }>();
  private adding = false;
  /** Whether the coordinator knows of this transaction (partitions or offsets were added). */
  private registered = false;

  constructor(private readonly host: TransactionHost) {
    this.actor = createActor(transactionManagerMachine);
    this.actor.start();
  }

  /** The current phase. */
  get phase(): TransactionPhase {
    return this.actor.getSnapshot().value as TransactionPhase;
  }

  private get transactionalId(): string {
    return this.host.transactionalId;
  }

  /** The error that put the manager in `abortableError` or `fatalError`. */
  get error(): unknown {
    return this.actor.getSnapshot().context.error;
  }

  /** Throws unless the phase is one of `allowed` (the fatal error as is; an abortable one wrapped). */
  private require(operation: string, allowed: readonly TransactionPhase[], hint: string): void {
    const phase = this.phase;
    if (allowed.includes(phase)) return;
    if (phase === 'fatalError') throw this.error as Error;
    if (phase === 'abortableError') throw new TransactionAbortableError(this.transactionalId, `the transaction of "${this.transactionalId}" failed and must be aborted before you can ${operation}: ${(this.error as Error | undefined)?.message ?? 'unknown error'}`, { cause: this.error });
    throw new TransactionStateError(this.transactionalId, phase, operation, hint);
  }

  /** `initTransactions()`: InitProducerId with the transactional id, fencing older instances. */
  async initTransactions(): Promise<void> {
    this.require('initialize transactions', ['uninitialized'], 'initTransactions() is called once, before the first transaction');
    this.actor.send({ type: 'init' });
    try {
      const response = await this.coordinatorRequest<{ producerId: bigint; producerEpoch: number }>('initProducerId.request', { transactionalId: this.transactionalId, transactionTimeoutMs: this.host.transactionTimeoutMs });
      this.host.setProducerIdAndEpoch(response.producerId, response.producerEpoch);
      this.actor.send({ type: 'initialized' });
    } catch (error) {
      // A fatal answer (an invalid timeout…) ends the producer; otherwise initTransactions may be tried again.
      if (FATAL.has(codeOf(error))) this.actor.send({ type: 'fatalError', error });
      else this.actor.send({ type: 'initFailed' });
      throw error;
    }
  }

  /** `beginTransaction()`: local only, as Kafka's. */
  begin(): void {
    this.require('begin a transaction', ['ready'], this.phase === 'uninitialized' ? 'call initTransactions() first' : 'commit or abort the current transaction first');
    this.added.clear();
    this.toAdd.clear();
    this.registered = false;
    this.actor.send({ type: 'begin' });
  }

  /** Throws unless records may be sent now (a transaction is open and healthy). */
  checkSend(): void {
    this.require('send', ['inTransaction'], this.phase === 'uninitialized' ? 'call initTransactions() and beginTransaction() first' : 'call beginTransaction() first');
  }

  /**
   * Whether the transaction's batches may go to a partition now; if not, it is queued for
   * AddPartitionsToTxn and the producer drains again once it is added.
   */
  mayProduceTo(topic: string, partition: number): boolean {
    const key = `${topic}\u0000${partition}`;
    if (this.added.has(key)) return true;
    if (this.phase === 'aborting' || this.phase === 'fatalError') {
      // A send() still waiting for topic metadata when the abort began (or the producer was
      // fenced) appends its batch after failUnsent() ran: it can never join this transaction, and
      // the abort's flush would wait for it forever (found by the transactional simulation,
      // test/sim/txnSim.ts, seed 2). Fail it as failUnsent() would have.
      this.failLateBatches();
      return false;
    }
    if (this.phase !== 'inTransaction' && this.phase !== 'committing') return false;
    if (!this.toAdd.has(key)) this.toAdd.set(key, { topic, partition });
    if (!this.adding) this.addingRun = this.addPartitions();
    return false;
  }

  private failingLate = false;
  /** The AddPartitionsToTxn round in progress (it never rejects). */
  private addingRun: Promise<void> | undefined;

  /** Fails, once the producer's drain is over, the batches that reached it too late (see {@link mayProduceTo}). */
  private failLateBatches(): void {
    if (this.failingLate) return;
    this.failingLate = true;
    queueMicrotask(() => {
      this.failingLate = false;
      const phase = this.phase;
      if (phase === 'fatalError') this.host.failUnsent(this.error);
      else if (phase === 'aborting') this.host.failUnsent(new TransactionAbortableError(this.transactionalId, `the transaction of "${this.transactionalId}" was aborted before this batch was sent`));
    });
  }

  private async addPartitions(): Promise<void> {
    this.adding = true;
    try {
      while (this.toAdd.size > 0 && (this.phase === 'inTransaction' || this.phase === 'committing')) {
        const batch = [...this.toAdd.values()];
        const { producerId, producerEpoch } = this.host.producerIdAndEpoch();
        try {
          const response = await this.coordinatorRequest<{ partitions?: Array<{ topic: string; partition: number; error?: string; message?: string }> }>('addPartitionsToTxn.request', { transactionalId: this.transactionalId, producerId, producerEpoch, partitions: batch });
          const failed = (response.partitions ?? []).find((p) => p.error !== undefined);
          if (failed !== undefined) throw responseError(failed) as Error;
          this.registered = true;
          for (const p of batch) {
            const key = `${p.topic}\u0000${p.partition}`;
            this.toAdd.delete(key);
            this.added.add(key);
          }
          this.host.drain();
        } catch (error) {
          // The transaction cannot include these partitions: it must abort, and what waits for them fails.
          this.onError(error);
          this.host.failUnsent(error);
          return;
        }
      }
    } finally {
      this.adding = false;
    }
  }

  /** Kafka's `sendOffsetsToTransaction`: AddOffsetsToTxn, then TxnOffsetCommit to the group coordinator. */
  async sendOffsets(offsets: ReadonlyArray<{ topic: string; partition: number; offset: bigint }>, group: ConsumerGroupMetadata): Promise<void> {
    this.require('send offsets', ['inTransaction'], 'call beginTransaction() first');
    if (group.groupId === undefined || group.groupId.length === 0) throw new TransactionStateError(this.transactionalId, this.phase, 'send offsets', 'the consumer has no groupId; offsets are committed for a consumer group');
    const { producerId, producerEpoch } = this.host.producerIdAndEpoch();
    try {
      await this.coordinatorRequest('addOffsetsToTxn.request', { transactionalId: this.transactionalId, producerId, producerEpoch, groupId: group.groupId });
      this.registered = true;
      await this.groupRequest(group.groupId, {
        type: 'txnOffsetCommit.request',
        transactionalId: this.transactionalId,
        groupId: group.groupId,
        producerId,
        producerEpoch,
        generationId: group.generationId,
        memberId: group.memberId,
        groupInstanceId: group.groupInstanceId ?? null,
        partitions: offsets.map((o) => ({ topic: o.topic, partition: o.partition, offset: o.offset })),
      });
    } catch (error) {
      this.onError(error);
      throw error;
    }
  }

  /** `commitTransaction()`: waits for every send, then EndTxn(commit), retried until answered. */
  async commit(): Promise<void> {
    this.require('commit', ['inTransaction'], 'call beginTransaction() first');
    this.actor.send({ type: 'commit' });
    await this.host.flush();
    // A send that failed put the manager in abortableError: the transaction cannot commit.
    this.require('commit', ['committing'], 'abort the transaction');
    await this.endTransaction(true);
  }

  /** `abortTransaction()`: drops unsent batches, waits for the rest, then EndTxn(abort). */
  async abort(): Promise<void> {
    this.require('abort', ['inTransaction', 'abortableError'], 'call beginTransaction() first');
    this.actor.send({ type: 'abort' });
    this.host.failUnsent(new TransactionAbortableError(this.transactionalId, `the transaction of "${this.transactionalId}" was aborted before this batch was sent`));
    await this.host.flush();
    await this.endTransaction(false);
  }

  private async endTransaction(commit: boolean): Promise<void> {
    this.toAdd.clear();
    // As Kafka's client (one transactional request in flight at a time), EndTxn goes out only once
    // an AddPartitionsToTxn still being retried has its answer. Sent alongside, an abort could
    // bump the epoch first, and the retried AddPartitionsToTxn then fences this producer after its
    // abort succeeded; or, with nothing registered yet, EndTxn would be skipped although the
    // coordinator did add the partition (found by the transactional simulation, test/sim/txnSim.ts, seed 6).
    if (this.adding) await this.addingRun;
    if (this.phase === 'fatalError') throw this.error as Error;
    // Nothing reached the coordinator: there is nothing to end (Kafka skips EndTxn then).
    if (!this.registered) {
      this.actor.send({ type: 'completed' });
      return;
    }
    const { producerId, producerEpoch } = this.host.producerIdAndEpoch();
    try {
      const response = await this.coordinatorRequest<{ producerId?: bigint; producerEpoch?: number }>('endTxn.request', { transactionalId: this.transactionalId, producerId, producerEpoch, committed: commit }, { endless: true });
      // Transaction version 2: the coordinator bumped the epoch; the next transaction uses it.
      if (response.producerId !== undefined && response.producerEpoch !== undefined) this.host.setProducerIdAndEpoch(response.producerId, response.producerEpoch);
      this.added.clear();
      this.registered = false;
      this.actor.send({ type: 'completed' });
    } catch (error) {
      this.onError(error);
      throw error;
    }
  }

  /** A batch or request of the transaction failed for good: the transaction (or the producer) is lost. */
  onError(error: unknown): void {
    // Fenced already: the machine is final, and each later failing batch would only be reported to a stopped actor.
    if (this.phase === 'fatalError') return;
    if (FATAL.has(codeOf(error))) this.actor.send({ type: 'fatalError', error });
    else this.actor.send({ type: 'abortableError', error });
  }

  /**
   * Sends a request to the transaction coordinator (found with FindCoordinator, key type
   * `transaction`), retrying retriable errors with backoff; `endless` keeps retrying (EndTxn).
   */
  private async coordinatorRequest<T>(type: string, body: Record<string, unknown>, options: { endless?: boolean } = {}): Promise<T & Message> {
    const deadline = this.host.clock.now() + this.host.maxBlockMs;
    for (;;) {
      let error: unknown;
      try {
        const coordinator = this.coordinator ?? (await this.findCoordinator('transaction', this.transactionalId));
        this.coordinator = coordinator;
        const response = await this.host.connection.request<T & Message & { error?: string; message?: string }>(brokerNode(coordinator), { type, ...body }, this.host.requestTimeoutMs);
        error = responseError(response);
        if (error === undefined) return response;
      } catch (e) {
        error = e;
      }
      const code = codeOf(error);
      if (COORDINATOR_MOVED.has(code)) this.coordinator = undefined;
      if (!RETRY.has(code) || (!options.endless && this.host.clock.now() >= deadline)) throw error;
      await sleep(this.host.clock, code === 'CONCURRENT_TRANSACTIONS' ? CONCURRENT_BACKOFF_MS : this.host.retryBackoffMs);
    }
  }

  /** TxnOffsetCommit to the group's coordinator, retrying coordinator moves. */
  private async groupRequest(groupId: string, message: Record<string, unknown> & { type: string }): Promise<void> {
    let coordinator: number | undefined;
    const deadline = this.host.clock.now() + this.host.maxBlockMs;
    for (;;) {
      let error: unknown;
      try {
        coordinator ??= await this.findCoordinator('group', groupId);
        const response = await this.host.connection.request<Message & { error?: string; message?: string; partitions?: Array<{ error?: string; message?: string }> }>(brokerNode(coordinator), message, this.host.requestTimeoutMs);
        error = responseError(response) ?? responseError(response.partitions?.find((p) => p.error !== undefined) ?? {});
        if (error === undefined) return;
      } catch (e) {
        error = e;
      }
      const code = codeOf(error);
      if (COORDINATOR_MOVED.has(code)) coordinator = undefined;
      if (!RETRY.has(code) || this.host.clock.now() >= deadline) throw error;
      await sleep(this.host.clock, this.host.retryBackoffMs);
    }
  }

  private async findCoordinator(keyType: 'transaction' | 'group', key: string): Promise<number> {
    for (let attempt = 0; ; attempt++) {
      const brokers = this.host.brokers();
      const broker = brokers[attempt % Math.max(1, brokers.length)];
      if (broker !== undefined) {
        try {
          const response = await this.host.connection.request<Message & { coordinator?: number; error?: string; message?: string }>(brokerNode(broker), { type: 'findCoordinator.request', key, keyType }, this.host.requestTimeoutMs);
          if (response.error === undefined && response.coordinator !== undefined && response.coordinator >= 0) return response.coordinator;
          const error = responseError(response);
          if (error !== undefined && !error.retriable && !RETRY.has(error.code)) throw error;
        } catch (e) {
          if (SamsaError.is(e) && !e.retriable && !RETRY.has(e.code)) throw e;
        }
      }
      if (attempt >= 100) throw new KafkaProtocolError('COORDINATOR_NOT_AVAILABLE', `no ${keyType} coordinator for "${key}" was found; check that the brokers are up`);
      await sleep(this.host.clock, this.host.retryBackoffMs);
    }
  }
}
