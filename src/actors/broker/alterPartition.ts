/**
 * AlterPartition for the partitions this broker leads, as Kafka's `AlterPartitionManager`: a
 * leader's ISR proposal goes to the active controller, and the controller's answer (the new
 * partition state, or why not) goes back to the partition's actor. A proposal without an answer
 * within `controller.socket.timeout.ms`, one sent to a controller that is not active, or one whose
 * controller is unreachable or gone, is handed back to the partition after a short pause, and the
 * partition proposes again if it still wants to.
 */
import type { Clock, TimerHandle } from '../../clock.ts';
import type { AlterPartitionResponse } from '../../protocol/index.ts';
import type { PartitionEmitted, PartitionEvent } from '../partition/partition.machine.ts';
import type { ControllerChannel } from './controllerChannel.ts';

/** Pause before a partition may propose again, as Kafka's AlterPartitionManager backs off. */
const ALTER_PARTITION_RETRY_BACKOFF_MS = 100;

/** What the manager needs of its broker. */
export interface AlterPartitionContext {
  readonly brokerId: number;
  readonly clock: Clock;
  /** `controller.socket.timeout.ms`: an AlterPartition without an answer this long is sent again. */
  readonly controllerSocketTimeoutMs: number;
  readonly channel: ControllerChannel;
  readonly nextCorrelationId: () => number;
  /** Hands an event to the actor of a hosted partition (dropped when it is not hosted). */
  readonly deliver: (topic: string, partition: number, event: PartitionEvent) => void;
}

/** An AlterPartition this broker sent for one of its leader partitions. */
interface AlterInFlight {
  readonly topic: string;
  readonly partition: number;
  readonly basedOnPartitionEpoch: number;
  readonly timer: TimerHandle;
}

/** See the module comment. */
export class AlterPartitionManager {
  private readonly inFlight = new Map<number, AlterInFlight>();
  private readonly retries = new Set<TimerHandle>();

  constructor(private readonly context: AlterPartitionContext) {}

  /** Sends a leader's ISR proposal to the controller; it is sent again if no answer comes. */
  propose(event: Extract<PartitionEmitted, { type: 'isr.proposed' }>): void {
    const correlationId = this.context.nextCorrelationId();
    const timer = this.context.clock.setTimeout(() => this.retry(correlationId), this.context.controllerSocketTimeoutMs);
    this.inFlight.set(correlationId, { topic: event.topic, partition: event.partition, basedOnPartitionEpoch: event.partitionEpoch, timer });
    this.context.channel.send({ type: 'alterPartition.request', correlationId, brokerId: this.context.brokerId, topic: event.topic, partition: event.partition, leaderEpoch: event.leaderEpoch, partitionEpoch: event.partitionEpoch, newIsr: event.newIsr });
  }

  /** Whether `correlationId` is a proposal waiting for its answer. */
  owns(correlationId: number): boolean {
    return this.inFlight.has(correlationId);
  }

  /** The controller's answer: the partition learns the outcome. */
  onResponse(response: AlterPartitionResponse): void {
    const sent = this.inFlight.get(response.correlationId);
    if (sent === undefined) return;
    if ((response.error as string | undefined) === 'NOT_CONTROLLER') {
      // Sent to a controller that is not (or no longer) active: propose again to the one it named.
      this.retry(response.correlationId);
      return;
    }
    this.inFlight.delete(response.correlationId);
    this.context.clock.clearTimeout(sent.timer);
    this.context.deliver(sent.topic, sent.partition, {
      type: 'isr.result',
      basedOnPartitionEpoch: sent.basedOnPartitionEpoch,
      ...(response.error === undefined ? {} : { error: response.error }),
      ...(response.leaderEpoch === undefined ? {} : { leaderEpoch: response.leaderEpoch }),
      ...(response.partitionEpoch === undefined ? {} : { partitionEpoch: response.partitionEpoch }),
      ...(response.isr === undefined ? {} : { isr: response.isr }),
    });
  }

  /** No answer (or the controller is down): the partition proposes again if it still wants to. */
  retry(correlationId: number): void {
    const sent = this.inFlight.get(correlationId);
    if (sent === undefined) return;
    this.inFlight.delete(correlationId);
    this.context.clock.clearTimeout(sent.timer);
    // A short pause, as Kafka's AlterPartitionManager retries after a backoff, never in a tight loop.
    const timer = this.context.clock.setTimeout(() => {
      this.retries.delete(timer);
      this.context.deliver(sent.topic, sent.partition, { type: 'isr.retry' });
    }, ALTER_PARTITION_RETRY_BACKOFF_MS);
    this.retries.add(timer);
  }

  /** The controller went away: every proposal waiting on it is retried. */
  retryAll(): void {
    for (const correlationId of [...this.inFlight.keys()]) this.retry(correlationId);
  }

  /** Forgets every proposal and its timers (the process crashed or stopped). */
  stop(): void {
    for (const a of this.inFlight.values()) this.context.clock.clearTimeout(a.timer);
    this.inFlight.clear();
    for (const timer of this.retries) this.context.clock.clearTimeout(timer);
    this.retries.clear();
  }
}
