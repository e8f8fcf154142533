/**
 * The transaction coordinator hosted by a broker (Kafka's `TransactionCoordinator`): for every
 * `__transaction_state` partition this broker leads it runs one {@link transactionMachine} per
 * transactional id, persists every transition in that partition (acks=all) before it takes
 * effect, and writes the transaction markers to the partition leaders (WriteTxnMarkers), retrying
 * until each has acknowledged them.
 *
 * Taking over a partition (a new leader, with the partition's leader epoch as its coordinator
 * epoch) replays its records: every transactional id comes back in the state last written, and a
 * transaction caught in PrepareCommit/PrepareAbort has its markers sent again, so a committed
 * transaction always completes whatever fails. Every
 * `transaction.abort.timed.out.transaction.cleanup.interval.ms` it aborts the transactions open
 * longer than their `transaction.timeout.ms`, fencing their producers.
 */
import type { Actor } from 'xstate';
import type { Clock, TimerHandle } from '../../clock.ts';
import { KafkaProtocolError } from '../../errors.ts';
import type { KafkaErrorName } from '../../errors.ts';
import { encodeRecordBatch } from '../../record/recordBatch.ts';
import type { DecodedRecord } from '../../record/recordBatch.ts';
import { encodeTransactionLogRecord, replayTransactionLog, transactionStatePartitionFor } from '../../transactions/transactionLog.ts';
import type { TransactionCoordinatorConfig, TxnReply } from '../../transactions/transactionDecision.ts';
import type { TxnMarkers } from '../../transactions/transactionCompletion.ts';
import type { Message, NodeId } from '../../transport/transport.ts';
import { brokerNode } from '../../transport/transport.ts';
import { KeyedHost } from '../coordination/keyedHost.ts';
import type { PartitionOffsets } from '../coordination/pendingLoads.ts';
import type { InspectionSink } from '../inspection.ts';
import { wireError } from '../../protocol/index.ts';
import type { WireError } from '../../protocol/index.ts';
import { transactionMachine } from './transaction.machine.ts';
import type { TransactionEmitted, TransactionEvent } from './transaction.machine.ts';

/** What the coordinator needs from its broker. */
export interface TxnCoordinatorHost {
  readonly brokerId: number;
  readonly clock: Clock;
  readonly inspection: InspectionSink;
  readonly config: Partial<TransactionCoordinatorConfig>;
  /** `transaction.abort.timed.out.transaction.cleanup.interval.ms`. */
  readonly abortCheckIntervalMs: number;
  /** `transaction.remove.expired.transaction.cleanup.interval.ms`. */
  readonly expiryCheckIntervalMs: number;
  send(to: NodeId, message: Message): void;
  /**
   * Appends to a local `__transaction_state` partition this broker leads, acks=all; `done` gets
   * the append's error (the transitions answer Kafka's mapping of it; an error already mapped
   * passes through unchanged).
   */
  appendState(partition: number, records: Uint8Array, done: (error: WireError | undefined) => void): void;
  /** Every record of a local `__transaction_state` partition, oldest first. */
  readState(partition: number): Iterable<DecodedRecord>;
  /** Log end offset and high watermark of a local `__transaction_state` partition (-1n when not hosted). */
  stateOffsets(partition: number): PartitionOffsets;
  /** A fresh producer id now, or undefined while the broker waits for a block from the controller. */
  newProducerId(): bigint | undefined;
  /** The leader of a partition in the newest metadata, -1 when it has none or is unknown. */
  leaderOf(topic: string, partition: number): number;
  /** The number of `__transaction_state` partitions, 0 before the topic exists. */
  stateTopicPartitions(): number;
  /** The `__consumer_offsets` partition of a group. */
  offsetsPartitionFor(groupId: string): number;
  /** A correlation id unique among the broker's own requests (so refusals can be routed back). */
  nextCorrelationId(): number;
}

/** A client request waiting for its transaction machine's answer. */
interface PendingReply {
  readonly to: NodeId;
  readonly type: string;
  readonly correlationId: number;
  readonly partition: number;
}

/** Markers of one transaction still to be acknowledged. */
interface MarkerRound {
  readonly markers: TxnMarkers;
  readonly coordinatorEpoch: number;
  /** `topic\0partition` of the partitions not yet acknowledged. */
  readonly remaining: Map<string, { topic: string; partition: number }>;
  timer: TimerHandle | undefined;
}

/** A WriteTxnMarkers request in flight. */
interface MarkerRequest {
  readonly transactionalId: string;
  readonly round: MarkerRound;
  readonly partitions: ReadonlyArray<{ topic: string; partition: number }>;
  readonly timer: TimerHandle;
}

const REQUESTS = new Set(['addPartitionsToTxn.request', 'addOffsetsToTxn.request', 'endTxn.request']);
/** How long a marker round waits before asking the partitions that did not answer again. */
const MARKER_RETRY_BACKOFF_MS = 100;
/** How long a WriteTxnMarkers request may go unanswered. */
const MARKER_REQUEST_TIMEOUT_MS = 5_000;

function tpKey(topic: string, partition: number): string {
  return `${topic}\u0000${partition}`;
}

/**
 * See the module comment: a {@link KeyedHost} of transaction actors over `__transaction_state`,
 * whose epochs are the coordinator epochs, with client replies and marker rounds kept beside them.
 */
export class TransactionCoordinator {
  /** The transaction actors, per transactional id, and the partitions held (with their coordinator epochs) or being taken over. */
  private readonly keyed: KeyedHost<typeof transactionMachine, DecodedRecord, number>;
  private readonly replies = new Map<number, PendingReply>();
  private readonly rounds = new Map<string, MarkerRound>();
  private readonly markerRequests = new Map<number, MarkerRequest>();
  private nextReplyId = 1;
  private abortTimer: TimerHandle | undefined;
  private expiryTimer: TimerHandle | undefined;

  constructor(private readonly host: TxnCoordinatorHost) {
    this.keyed = new KeyedHost({
      logic: transactionMachine,
      clock: host.clock,
      inspection: host.inspection,
      partitions: {
        append: (partition, records, done) => host.appendState(partition, records, done),
        read: (partition) => host.readState(partition),
        offsets: (partition) => host.stateOffsets(partition),
      },
      partitionOf: (transactionalId) => this.partitionOf(transactionalId),
      actorId: (transactionalId) => `transaction:${transactionalId}@broker:${host.brokerId}`,
      replay: (_partition, _epoch, records) => this.replay(records),
      onEmitted: (transactionalId, actor, event) => this.onEmitted(transactionalId, actor, event),
      onUnload: (partition, removed) => this.dropPartition(partition, removed),
    });
    this.scheduleChecks();
  }

  /** Whether the coordinator answers `message`. InitProducerId only when it names a transactional id. */
  static handles(message: Message): boolean {
    return REQUESTS.has(message.type) || message.type === 'writeTxnMarkers.response' || (message.type === 'initProducerId.request' && typeof message.transactionalId === 'string');
  }

  /** The coordinator epoch of a loaded partition, undefined when this broker does not lead it. */
  coordinatorEpochOf(partition: number): number | undefined {
    return this.keyed.epochOf(partition);
  }

  /**
   * Takes over a `__transaction_state` partition at `coordinatorEpoch` (its leader epoch). The
   * state is read once everything in the log at this moment is committed: a new leader's tail may
   * hold records the previous leader never got replicated (and never answered), which a later
   * failover can still cut off; answering from them (a partition "already added") would let a
   * producer write data that no marker of the transaction ever reaches. Until then requests get
   * COORDINATOR_LOAD_IN_PROGRESS, as Kafka answers while it loads.
   */
  load(partition: number, coordinatorEpoch: number): void {
    this.keyed.load(partition, coordinatorEpoch);
  }

  private replay(records: Iterable<DecodedRecord>): void {
    const restored = replayTransactionLog(records);
    for (const [transactionalId, metadata] of restored) {
      const actor = this.machine(transactionalId, metadata);
      // A transaction that reached its commit (or abort) point completes, whatever failed since.
      if (metadata.state === 'PrepareCommit' || metadata.state === 'PrepareAbort') actor.send({ type: 'markers.resume' });
    }
  }

  /** Gives up a partition: its machines stop and waiting clients are told NOT_COORDINATOR. */
  unload(partition: number): void {
    this.keyed.unload(partition);
  }

  /** What goes with a partition given up (`removed`: its stopped ids; undefined when it was not loaded). */
  private dropPartition(partition: number, removed: readonly string[] | undefined): void {
    if (removed === undefined) return;
    for (const transactionalId of removed) this.dropRound(transactionalId);
    for (const [id, reply] of [...this.replies]) {
      if (reply.partition !== partition) continue;
      this.replies.delete(id);
      this.host.send(reply.to, { type: reply.type, correlationId: reply.correlationId, ...wireError('NOT_COORDINATOR', `broker ${this.host.brokerId} is no longer the transaction coordinator; find it again`) });
    }
  }

  /** Stops everything (the broker stops or crashes). */
  stop(): void {
    this.keyed.stop();
    for (const id of [...this.rounds.keys()]) this.dropRound(id);
    for (const r of this.markerRequests.values()) this.host.clock.clearTimeout(r.timer);
    this.markerRequests.clear();
    this.replies.clear();
    if (this.abortTimer !== undefined) this.host.clock.clearTimeout(this.abortTimer);
    if (this.expiryTimer !== undefined) this.host.clock.clearTimeout(this.expiryTimer);
    this.abortTimer = undefined;
    this.expiryTimer = undefined;
  }

  /** A request this coordinator handles, or the answer to its WriteTxnMarkers. */
  handle(message: Message, from: NodeId): void {
    if (message.type === 'writeTxnMarkers.response') {
      this.onMarkersResponse(message);
      return;
    }
    const responseType = message.type.replace(/\.request$/, '.response');
    const reply = (body: Record<string, unknown>): void => this.host.send(from, { type: responseType, correlationId: message.correlationId, ...body } as Message);
    const transactionalId = message.transactionalId;
    if (typeof transactionalId !== 'string' || transactionalId.length === 0) {
      reply({ ...wireError('INVALID_REQUEST', `transactionalId must be a non-empty string, got ${JSON.stringify(transactionalId)}`) });
      return;
    }
    const ownership = this.keyed.ownership(transactionalId);
    if (ownership.status === 'loading') {
      reply({ ...wireError('COORDINATOR_LOAD_IN_PROGRESS', `broker ${this.host.brokerId} is loading the transactions of "${transactionalId}"; retry shortly`) });
      return;
    }
    if (ownership.status === 'elsewhere') {
      reply({ ...wireError('NOT_COORDINATOR', `broker ${this.host.brokerId} is not the transaction coordinator of "${transactionalId}"; find it again`) });
      return;
    }
    const replyTo = this.nextReplyId++;
    this.replies.set(replyTo, { to: from, type: responseType, correlationId: message.correlationId as number, partition: ownership.partition });
    const event = this.eventFor(message, transactionalId, replyTo);
    this.machine(transactionalId).send(event);
  }

  private eventFor(message: Message, transactionalId: string, replyTo: number): TransactionEvent {
    const producerId = message.producerId as bigint;
    const producerEpoch = message.producerEpoch as number;
    switch (message.type) {
      case 'initProducerId.request':
        return {
          type: 'initProducerId',
          replyTo,
          request: {
            transactionalId,
            transactionTimeoutMs: message.transactionTimeoutMs as number,
            ...(typeof message.producerId === 'bigint' && message.producerId >= 0n ? { producerIdAndEpoch: { producerId, producerEpoch } } : {}),
          },
        };
      case 'addPartitionsToTxn.request':
        return { type: 'addPartitions', replyTo, request: { transactionalId, producerId, producerEpoch, partitions: (message.partitions as Array<{ topic: string; partition: number }>) ?? [] } };
      case 'addOffsetsToTxn.request':
        return { type: 'addOffsets', replyTo, request: { transactionalId, producerId, producerEpoch, groupId: message.groupId as string, offsetsPartition: this.host.offsetsPartitionFor(message.groupId as string) } };
      default:
        return { type: 'endTxn', replyTo, request: { transactionalId, producerId, producerEpoch, commit: message.committed === true } };
    }
  }

  private partitionOf(transactionalId: string): number | undefined {
    const n = this.host.stateTopicPartitions();
    return n > 0 ? transactionStatePartitionFor(transactionalId, n) : undefined;
  }

  /** The machine of a transactional id, created (new, or restored from `restore`) on first use. */
  private machine(transactionalId: string, restore?: Parameters<typeof encodeTransactionLogRecord>[0]): Actor<typeof transactionMachine> {
    return this.keyed.actorFor(transactionalId, () => ({
      transactionalId,
      ...(restore === undefined ? {} : { restore }),
      config: this.host.config,
      now: () => this.host.clock.now(),
      newProducerId: () => {
        const id = this.host.newProducerId();
        if (id === undefined) throw new KafkaProtocolError('COORDINATOR_LOAD_IN_PROGRESS', `broker ${this.host.brokerId} is waiting for producer ids from the controller; retry shortly`);
        return id;
      },
    }));
  }

  /** What the current machine of a transactional id emits (a stopped or replaced one is not heard). */
  private onEmitted(transactionalId: string, actor: Actor<typeof transactionMachine>, event: TransactionEmitted): void {
    switch (event.type) {
      case 'respond':
        this.respond(event.replyTo, event.reply);
        return;
      case 'write':
        this.write(transactionalId, actor, event.writeId, event.transit);
        return;
      case 'sendMarkers':
        this.startRound(transactionalId, event.markers);
        return;
      case 'forgotten':
        this.keyed.forget(transactionalId);
        return;
      default:
        this.host.inspection.notify(event);
    }
  }

  private respond(replyTo: number, reply: TxnReply): void {
    const pending = this.replies.get(replyTo);
    if (pending === undefined) return;
    this.replies.delete(replyTo);
    const body = reply.kind === 'ok' ? { producerId: reply.producerId, producerEpoch: reply.producerEpoch } : wireError(reply.error, reply.message);
    this.host.send(pending.to, { type: pending.type, correlationId: pending.correlationId, ...body } as Message);
  }

  /** Appends a transition to the transactional id's partition; the machine hears when it is durable. */
  private write(transactionalId: string, actor: Actor<typeof transactionMachine>, writeId: number, transit: Parameters<typeof encodeTransactionLogRecord>[0]): void {
    const { key, value } = encodeTransactionLogRecord(transit);
    const batch = encodeRecordBatch({ records: [{ timestamp: this.host.clock.now(), key, value }] });
    // Heard only while the partition is still held at this epoch and the machine is current: when
    // it moved or was reloaded meanwhile, the new coordinator owns the outcome.
    this.keyed.appendFor(transactionalId, actor, batch, (error) => {
      if (error === undefined) actor.send({ type: 'write.done', writeId });
      else actor.send({ type: 'write.failed', writeId, error: error.error as KafkaErrorName });
    });
  }

  // ------------------------------------------------------------------ markers

  private startRound(transactionalId: string, markers: TxnMarkers): void {
    this.dropRound(transactionalId);
    const partition = this.partitionOf(transactionalId);
    const coordinatorEpoch = partition === undefined ? undefined : this.keyed.epochOf(partition);
    if (coordinatorEpoch === undefined) return;
    const round: MarkerRound = { markers, coordinatorEpoch, remaining: new Map(markers.partitions.map((p) => [tpKey(p.topic, p.partition), { topic: p.topic, partition: p.partition }])), timer: undefined };
    this.rounds.set(transactionalId, round);
    this.sendMarkers(transactionalId, round);
  }

  /** Sends the round's unacknowledged markers, one request per partition leader. */
  private sendMarkers(transactionalId: string, round: MarkerRound): void {
    if (this.rounds.get(transactionalId) !== round) return;
    if (round.remaining.size === 0) {
      this.rounds.delete(transactionalId);
      this.keyed.actorOf(transactionalId)?.send({ type: 'markers.done' });
      return;
    }
    const byLeader = new Map<number, Array<{ topic: string; partition: number }>>();
    let leaderless = false;
    for (const p of round.remaining.values()) {
      const leader = this.host.leaderOf(p.topic, p.partition);
      if (leader < 0) {
        leaderless = true;
        continue;
      }
      let list = byLeader.get(leader);
      if (list === undefined) byLeader.set(leader, (list = []));
      list.push(p);
    }
    const { markers } = round;
    for (const [leader, partitions] of byLeader) {
      const correlationId = this.host.nextCorrelationId();
      const timer = this.host.clock.setTimeout(() => this.onMarkersFailed(correlationId), MARKER_REQUEST_TIMEOUT_MS);
      this.markerRequests.set(correlationId, { transactionalId, round, partitions, timer });
      this.host.send(brokerNode(leader), { type: 'writeTxnMarkers.request', correlationId, producerId: markers.producerId, producerEpoch: markers.producerEpoch, coordinatorEpoch: round.coordinatorEpoch, committed: markers.commit, transactionVersion: markers.transactionVersion, partitions });
    }
    // Partitions without a leader are tried again once metadata names one.
    if (leaderless) this.retryLater(transactionalId, round);
  }

  private onMarkersResponse(message: Message): void {
    const request = this.markerRequests.get(message.correlationId as number);
    if (request === undefined) return;
    this.markerRequests.delete(message.correlationId as number);
    this.host.clock.clearTimeout(request.timer);
    const { transactionalId, round } = request;
    if (this.rounds.get(transactionalId) !== round) return;
    const results = (message.partitions as Array<{ topic: string; partition: number; error?: string }> | undefined) ?? [];
    let retry = typeof message.error === 'string';
    for (const r of results) {
      // INVALID_PRODUCER_EPOCH: the partition already holds a later epoch of this producer, so
      // this transaction's marker is there or no longer needed (Kafka drops it too).
      if (r.error === undefined || r.error === 'INVALID_PRODUCER_EPOCH') round.remaining.delete(tpKey(r.topic, r.partition));
      else if (r.error === 'TRANSACTION_COORDINATOR_FENCED') {
        // A newer coordinator owns this transaction now.
        this.dropRound(transactionalId);
        return;
      } else retry = true;
    }
    if (round.remaining.size === 0) this.sendMarkers(transactionalId, round);
    // Partitions left over from another request of the round (whose retry found this one still in
    // flight and left the resend to it) are sent again too: nobody else would.
    else if (retry || ![...this.markerRequests.values()].some((r) => r.round === round)) this.retryLater(transactionalId, round);
  }

  /** A marker request got no answer or could not be delivered: ask again after a pause. */
  onMarkersFailed(correlationId: number): void {
    const request = this.markerRequests.get(correlationId);
    if (request === undefined) return;
    this.markerRequests.delete(correlationId);
    this.host.clock.clearTimeout(request.timer);
    this.retryLater(request.transactionalId, request.round);
  }

  /** Whether `correlationId` is one of this coordinator's marker requests. */
  ownsMarkerRequest(correlationId: number): boolean {
    return this.markerRequests.has(correlationId);
  }

  private retryLater(transactionalId: string, round: MarkerRound): void {
    if (round.timer !== undefined || this.rounds.get(transactionalId) !== round) return;
    round.timer = this.host.clock.setTimeout(() => {
      round.timer = undefined;
      // Requests still in flight for this round answer for their partitions themselves; the last
      // to answer sends what is left (see onMarkersResponse).
      for (const r of this.markerRequests.values()) if (r.round === round) return;
      this.sendMarkers(transactionalId, round);
    }, MARKER_RETRY_BACKOFF_MS);
  }

  private dropRound(transactionalId: string): void {
    const round = this.rounds.get(transactionalId);
    if (round === undefined) return;
    if (round.timer !== undefined) this.host.clock.clearTimeout(round.timer);
    this.rounds.delete(transactionalId);
    for (const [id, r] of [...this.markerRequests]) {
      if (r.round !== round) continue;
      this.host.clock.clearTimeout(r.timer);
      this.markerRequests.delete(id);
    }
  }

  // ------------------------------------------------------------------ timers

  private scheduleChecks(): void {
    this.scheduleAbortCheck();
    this.scheduleExpiryCheck();
  }

  private scheduleAbortCheck(): void {
    this.abortTimer = this.host.clock.setTimeout(() => {
      this.abortTimer = undefined;
      for (const [, actor] of this.keyed.entries()) actor.send({ type: 'timeout.check' });
      this.scheduleAbortCheck();
    }, this.host.abortCheckIntervalMs);
  }

  private scheduleExpiryCheck(): void {
    this.expiryTimer = this.host.clock.setTimeout(() => {
      this.expiryTimer = undefined;
      for (const [, actor] of this.keyed.entries()) actor.send({ type: 'expiry.check' });
      this.scheduleExpiryCheck();
    }, this.host.expiryCheckIntervalMs);
  }
}
