/**
 * Hands out producer ids for InitProducerId on one broker (Kafka's `RPCProducerIdManager`): ids
 * come from blocks the active controller allocates (AllocateProducerIds, recorded in the metadata
 * log), so two brokers never give out the same id. Requests that arrive while no block is at hand
 * wait for the next one; a lost or refused block request is retried.
 */
import type { Clock, TimerHandle } from '../../clock.ts';
import { wireError } from '../../protocol/index.ts';
import type { Message } from '../../transport/transport.ts';

/** How long a block request may go unanswered before it is sent again. */
const BLOCK_REQUEST_TIMEOUT_MS = 1000;
/** Prefetch once fewer than a tenth of a block (1000 ids) remain. */
const BLOCK_PREFETCH_DIVISOR = 1000n;
/** Pause before asking again after a refusal (NOT_CONTROLLER, not registered yet). */
const BLOCK_RETRY_BACKOFF_MS = 100;

/** What the manager needs from its broker. */
export interface ProducerIdManagerContext {
  readonly clock: Clock;
  /** Sends `allocateProducerIds.request` with this correlation id to the active controller. */
  readonly requestBlock: (correlationId: number) => void;
  readonly nextCorrelationId: () => number;
}

/** See the module comment. */
export class ProducerIdManager {
  private next = 0n;
  private end = 0n;
  private waiters: Array<(producerId: bigint) => void> = [];
  private inFlight: number | undefined;
  private timer: TimerHandle | undefined;

  constructor(private readonly context: ProducerIdManagerContext) {}

  /** Calls `deliver` with a fresh producer id, now or once the next block arrives. */
  generate(deliver: (producerId: bigint) => void): void {
    if (this.next < this.end && this.waiters.length === 0) {
      deliver(this.next++);
      return;
    }
    this.waiters.push(deliver);
    if (this.inFlight === undefined && this.timer === undefined) this.ask();
  }

  /**
   * A fresh producer id now if the current block has one, else undefined (a block is then
   * requested, so a retry shortly after succeeds). Asks for the next block ahead of need once the
   * current one is nine tenths used, as Kafka's `RPCProducerIdManager` prefetches.
   */
  tryGenerate(): bigint | undefined {
    if (this.next < this.end && this.waiters.length === 0) {
      const id = this.next++;
      if ((this.end - this.next) * 10n < BLOCK_PREFETCH_DIVISOR && this.inFlight === undefined && this.timer === undefined) this.ask();
      return id;
    }
    if (this.inFlight === undefined && this.timer === undefined) this.ask();
    return undefined;
  }

  /**
   * InitProducerId for an idempotent producer: a fresh producer id from the controller-allocated
   * block, epoch 0 (Kafka's answer without a transactional id), handed to `reply` now or once the
   * next block arrives. A transactional id that is not a string is refused.
   */
  initProducerId(message: Message, reply: (body: Record<string, unknown>) => void): void {
    if (message.transactionalId !== undefined && message.transactionalId !== null) {
      reply({ ...wireError('INVALID_REQUEST', 'transactional ids are not supported by this cluster: omit transactionalId for an idempotent producer'), producerId: -1n, producerEpoch: -1 });
      return;
    }
    this.generate((producerId) => reply({ producerId, producerEpoch: 0 }));
  }

  /** Whether `correlationId` is this manager's block request. */
  owns(correlationId: number): boolean {
    return correlationId === this.inFlight;
  }

  /** Takes the controller's answer to the block request. */
  onResponse(message: Message): void {
    if (message.correlationId !== this.inFlight) return;
    this.inFlight = undefined;
    this.clearTimer();
    if (typeof message.error === 'string' || typeof message.producerIdStart !== 'bigint' || typeof message.producerIdLen !== 'number') {
      this.retryLater(BLOCK_RETRY_BACKOFF_MS);
      return;
    }
    this.next = message.producerIdStart;
    this.end = message.producerIdStart + BigInt(message.producerIdLen);
    const waiting = this.waiters;
    this.waiters = [];
    while (waiting.length > 0 && this.next < this.end) (waiting.shift() as (id: bigint) => void)(this.next++);
    if (waiting.length > 0) {
      this.waiters = waiting;
      this.ask();
    }
  }

  /** The block request could not be delivered: ask again shortly. */
  onUnreachable(correlationId: number): void {
    if (correlationId !== this.inFlight) return;
    this.inFlight = undefined;
    this.clearTimer();
    this.retryLater(BLOCK_RETRY_BACKOFF_MS);
  }

  /** Drops waiters and timers (the broker stops or crashes). */
  stop(): void {
    this.clearTimer();
    this.inFlight = undefined;
    this.waiters = [];
  }

  private ask(): void {
    const correlationId = this.context.nextCorrelationId();
    this.inFlight = correlationId;
    this.context.requestBlock(correlationId);
    this.timer = this.context.clock.setTimeout(() => {
      this.timer = undefined;
      if (this.inFlight !== correlationId) return;
      this.inFlight = undefined;
      this.ask();
    }, BLOCK_REQUEST_TIMEOUT_MS);
  }

  private retryLater(ms: number): void {
    this.timer = this.context.clock.setTimeout(() => {
      this.timer = undefined;
      if (this.waiters.length > 0) this.ask();
    }, ms);
  }

  private clearTimer(): void {
    if (this.timer === undefined) return;
    this.context.clock.clearTimeout(this.timer);
    this.timer = undefined;
  }
}
