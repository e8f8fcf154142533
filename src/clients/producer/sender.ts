/**
 * The sender (Kafka's `Sender`, with the idempotence half of its `TransactionManager`): takes closed
 * batches from the accumulator, sends one produce request per leader broker with up to
 * `max.in.flight.requests.per.connection` outstanding, matches the answers, retries retriable errors
 * with backoff until `delivery.timeout.ms`, and settles every batch once.
 *
 * With idempotence it also owns the producer id, epoch and session, and keeps each partition's
 * batches in sequence order (sequences.ts holds the per-partition bookkeeping): a batch keeps its
 * producer id, epoch and sequence on every retry; a batch that fails after it was sent leaves its
 * partition unresolved until every batch before it settles; an out-of-order rejection of the next
 * expected batch restarts the partition's sequences in a new epoch (KIP-360). A batch the broker
 * refused before writing it frees its sequences; one refused for some of its conditional appends
 * is sent again without them.
 *
 * (Over 600 lines: a batch's whole life — send, answer, retry, sequences, settlement — is one
 * piece of state; split, its invariants would be spread over files.)
 */
import type { Clock, TimerHandle } from '../../clock.ts';
import { sleep } from '../../clock.ts';
import { errorFromJSON, KafkaProtocolError, SamsaError, TimeoutError } from '../../errors.ts';
import type { Logger } from '../../logger.ts';
import { decodeRecordBatch, setProducerState } from '../../record/recordBatch.ts';
import { incrementSequence } from '../../record/sequence.ts';
import type { ProducePartitionResult } from '../../protocol/index.ts';
import type { Message } from '../../transport/transport.ts';
import { brokerNode } from '../../transport/transport.ts';
import type { ClientConnection } from '../connection.ts';
import type { MetadataCache } from '../metadataCache.ts';
import type { RecordAccumulator } from './accumulator.ts';
import { partitionKey, rejectBatch, settleBatch } from './batch.ts';
import type { Batch } from './batch.ts';
import type { ProducerConfig } from './producerConfig.ts';
import { PartitionSequences } from './sequences.ts';
import type { TransactionManager } from './transactionManager.ts';

/**
 * A partition leader keeps the last five batches of a producer to recognise retries (Kafka's
 * `NUM_BATCHES_TO_RETAIN`), so at most this many batches may be sent from the oldest one not
 * acknowledged: a batch whose answer was lost is then still recognised when it is retried.
 */
const MAX_BATCHES_IN_WINDOW = 5;

/** Kafka's producer epoch is an int16: at its maximum a new producer id is taken instead of a bump. */
const MAX_PRODUCER_EPOCH = 32767;

/** The wire sequence (int32, wrapping to 0 after 2^31-1) of sequence index `index`. */
function wireSequence(index: number): number {
  return incrementSequence(0, index % 2147483648);
}

// NETWORK_EXCEPTION: a leader that refuses connections may have crashed and been replaced; Kafka refreshes metadata on a disconnect.
const RETRIABLE_WITH_METADATA = new Set<string>(['NOT_LEADER_OR_FOLLOWER', 'UNKNOWN_TOPIC_OR_PARTITION', 'LEADER_NOT_AVAILABLE', 'FENCED_LEADER_EPOCH', 'UNKNOWN_LEADER_EPOCH', 'BROKER_NOT_AVAILABLE', 'NETWORK_EXCEPTION']);

/**
 * Errors the broker answers after checking a batch and before writing any of it: the batch was not
 * written, so its sequences are free for the next ones (see PartitionSequences.failUnwritten).
 */
const UNWRITTEN = new Set<string>(['WRONG_EXPECTED_VERSION', 'INVALID_RECORD']);
const encoder = new TextEncoder();

/** What the producer hands its sender. */
export interface SenderContext {
  readonly config: ProducerConfig;
  readonly connection: ClientConnection;
  readonly metadata: MetadataCache;
  readonly clock: Clock;
  readonly logger: Logger;
  readonly clientId: string;
  /** Brokers to ask for a producer id. */
  readonly brokers: () => readonly number[];
  readonly accumulator: RecordAccumulator;
  /** The transaction manager of a transactional producer. */
  readonly txn: TransactionManager | undefined;
}

/** Sends the accumulator's batches and settles each of them once. */
export class Sender {
  private readonly config: ProducerConfig;
  private readonly connection: ClientConnection;
  private readonly metadata: MetadataCache;
  private readonly clock: Clock;
  private readonly logger: Logger;
  private readonly clientId: string;
  private readonly brokers: () => readonly number[];
  private readonly accumulator: RecordAccumulator;
  private readonly txn: TransactionManager | undefined;
  /** The accumulator's ready queue: taken from in order, what cannot go yet is put back in front. */
  private readonly ready: Batch[];
  private readonly retrying: Batch[] = [];
  private readonly inFlightPerBroker = new Map<number, number>();
  private retryTimer: TimerHandle | undefined;
  private closed = false;
  /** Idempotence: the producer id and epoch batches are stamped with (-1 until InitProducerId answered). */
  private producerId = -1n;
  private producerEpoch = -1;
  /**
   * Bumped with every new producer id or epoch. A partition's new batches take sequences from 0
   * in the new session once its batches of the older one have settled; those keep theirs.
   */
  private session = 0;
  private initializing: Promise<void> | undefined;
  private readonly sequences = new PartitionSequences<Batch>((b) => b.builder.recordCount);

  constructor(context: SenderContext) {
    this.config = context.config;
    this.connection = context.connection;
    this.metadata = context.metadata;
    this.clock = context.clock;
    this.logger = context.logger;
    this.clientId = context.clientId;
    this.brokers = context.brokers;
    this.accumulator = context.accumulator;
    this.txn = context.txn;
    this.ready = context.accumulator.ready;
  }

  /** The producer id and epoch batches are stamped with now (-1 before InitProducerId answered). */
  producerIdAndEpoch(): { producerId: bigint; producerEpoch: number } {
    return { producerId: this.producerId, producerEpoch: this.producerEpoch };
  }

  /** Adopts a producer id and epoch from the transaction coordinator: a new session, sequences from 0. */
  setProducerIdAndEpoch(producerId: bigint, producerEpoch: number): void {
    this.producerId = producerId;
    this.producerEpoch = producerEpoch;
    this.session++;
    this.sequences.clear();
  }

  /** Fails every batch not sent yet (open, queued or waiting for a retry): the transaction aborts. */
  failUnsent(error: unknown): void {
    this.accumulator.closeOpenBatches();
    const waiting = [...this.ready.splice(0), ...this.retrying.splice(0)];
    for (const b of waiting) this.fail(b, error, false);
  }

  /** Stops retrying (the producer is closing, after its last flush); a producer id still being asked for is given up. */
  close(): void {
    this.closed = true;
    if (this.retryTimer !== undefined) this.clock.clearTimeout(this.retryTimer);
  }

  /** Sends ready batches, one request per leader broker, respecting the in-flight limit. */
  drain(): void {
    if (this.ready.length === 0) return;
    if (this.config.idempotent && this.producerId < 0n) {
      // No batch leaves before the producer id is known; expired ones still fail on time. A
      // transactional producer gets its id from initTransactions().
      this.expireReady();
      if (this.ready.length > 0 && this.txn === undefined) void this.ensureProducerId();
      return;
    }
    // Nothing can go out while every broker is at its in-flight limit: skip the scan of the queue.
    const brokers = this.metadata.image?.brokers;
    if (brokers !== undefined && brokers.length > 0 && brokers.every((b) => (this.inFlightPerBroker.get(b.id) ?? 0) >= this.config.maxInFlight)) return;
    const now = this.clock.now();
    const byBroker = new Map<number, Batch[]>();
    const keep: Batch[] = [];
    // How many batches each broker can still take: one request per free in-flight slot, each at
    // most one batch per partition; once no broker can take more, the rest of the queue waits as is.
    const brokerCount = brokers?.length ?? 0;
    const saturated = new Set<number>();
    // Idempotence keeps each partition's batches in sequence order: while one of its batches waits
    // for a retry, nothing after it may go out (Kafka mutes the partition the same way).
    const blocked = this.config.idempotent && this.retrying.length > 0 ? new Set(this.retrying.map((b) => b.key)) : undefined;
    // New batches taken per partition in this pass: they join the sequence window when sent.
    const opened = new Map<string, number>();
    /** Partitions whose window (or a retry) holds back every new batch in this pass. */
    const closed = new Set<string>();
    const queued = this.ready;
    for (let index = 0; index < queued.length; index++) {
      const batch = queued[index] as Batch;
      if (brokerCount > 0 && saturated.size >= brokerCount) {
        for (let rest = index; rest < queued.length; rest++) keep.push(queued[rest] as Batch);
        break;
      }
      if (now - batch.createdAt >= this.config.deliveryTimeoutMs) {
        this.fail(batch, this.expired(batch, 'the partition had no reachable leader in time; check broker health or raise deliveryTimeoutMs'));
        continue;
      }
      if (this.config.idempotent) {
        const key = batch.key;
        // A batch sent before keeps its producer id, epoch and sequence: it goes out as it is.
        const fresh = batch.session < 0;
        if (fresh && closed.has(key)) {
          keep.push(batch);
          continue;
        }
        const opening = fresh ? (opened.get(key) ?? 0) : 0;
        // As Kafka's RecordAccumulator.shouldStopDrainBatchesForPartition: no new batch takes a
        // sequence while an earlier one's outcome is unknown, or while batches of an older
        // producer id or epoch are still in flight (the new session's sequence 0 could land first).
        if (blocked?.has(key) === true || (fresh && (!this.sequences.mayAssign(key, this.session) || this.sequences.windowSize(key) + opening >= MAX_BATCHES_IN_WINDOW))) {
          // Every later new batch of this partition waits too: no need to look it up again.
          if (fresh) closed.add(key);
          keep.push(batch);
          continue;
        }
        if (fresh) opened.set(key, opening + 1);
        // A transaction's batch waits until the coordinator has its partition (AddPartitionsToTxn).
        if (this.txn !== undefined && !this.txn.mayProduceTo(batch.topic, batch.partition)) {
          keep.push(batch);
          continue;
        }
      }
      const leader = this.metadata.leaderOf(batch.topic, batch.partition);
      if (leader < 0 || saturated.has(leader) || (this.inFlightPerBroker.get(leader) ?? 0) >= this.config.maxInFlight) {
        keep.push(batch);
        if (leader < 0) void this.refreshMetadataLater();
        else saturated.add(leader);
        continue;
      }
      let list = byBroker.get(leader);
      if (list === undefined) byBroker.set(leader, (list = []));
      list.push(batch);
      // Enough for every free slot to carry a full request: more would only be put back.
      if (list.length >= (this.config.maxInFlight - (this.inFlightPerBroker.get(leader) ?? 0)) * 64) saturated.add(leader);
    }
    // Batches taken from the queue but not sent go back in front of the ones kept, so every
    // partition's batches keep their order (a partition's batches all go to its one leader).
    const unsent: Batch[] = [];
    for (const [broker, batches] of byBroker) {
      // As Kafka, a request carries at most one batch per partition (results are matched by
      // partition), and batches of one partition leave in order even when requests run out.
      let pending = batches;
      while (pending.length > 0) {
        if ((this.inFlightPerBroker.get(broker) ?? 0) >= this.config.maxInFlight) {
          unsent.push(...pending);
          break;
        }
        const request: Batch[] = [];
        const later: Batch[] = [];
        const claimed = new Set<string>();
        let size = 0;
        for (const batch of pending) {
          const bytes = batch.encoded?.length ?? batch.builder.sizeInBytes;
          const key = batch.key;
          if (claimed.has(key) || (request.length > 0 && size + bytes > this.config.maxRequestSize)) later.push(batch);
          else {
            request.push(batch);
            size += bytes;
          }
          claimed.add(key);
        }
        this.sendRequest(broker, request);
        pending = later;
      }
    }
    this.ready.length = 0;
    this.ready.push(...unsent, ...keep);
  }

  /**
   * Sends batches to a broker. The first attempt hands the encoded bytes over, not a copy: the
   * leader stamps offsets into them in place and its log keeps them (as Kafka does with the
   * request buffer). A retry sends a copy, since the first attempt may have been appended.
   */
  private sendRequest(broker: number, batches: Batch[]): void {
    const partitions = batches.map((b) => ({ topic: b.topic, partition: b.partition, records: this.bytesFor(b) }));
    for (const b of batches) {
      b.attempts++;
      b.sentLeaderEpoch = this.metadata.leaderEpochOf(b.topic, b.partition);
    }
    if (this.config.acks === 0) {
      this.connection.fireAndForget(brokerNode(broker), { type: 'produce.request', acks: 0, timeoutMs: this.config.requestTimeoutMs, partitions });
      for (const b of batches) this.complete(b, -1n, -1);
      return;
    }
    this.inFlightPerBroker.set(broker, (this.inFlightPerBroker.get(broker) ?? 0) + 1);
    this.connection
      .request<Message & { partitions: ProducePartitionResult[] }>(brokerNode(broker), { type: 'produce.request', acks: this.config.acks, timeoutMs: this.config.requestTimeoutMs, partitions }, this.requestTimeout(batches))
      .then(
        (response) => {
          const byKey = new Map(response.partitions.map((p) => [`${p.topic}\u0000${p.partition}`, p]));
          for (const b of batches) {
            const r = byKey.get(`${b.topic}\u0000${b.partition}`);
            if (r === undefined) this.retryOrFail(b, new KafkaProtocolError('UNKNOWN_SERVER_ERROR', `broker ${broker} returned no result for ${b.topic}-${b.partition}`));
            else if (r.error !== undefined && r.error === 'WRONG_EXPECTED_VERSION' && r.recordErrors !== undefined && this.splitRefused(b, r.recordErrors)) continue;
            else if (r.error !== undefined) this.retryOrFail(b, errorFromJSON({ name: 'KafkaProtocolError', code: r.error, message: r.message ?? r.error, retriable: false }));
            else this.complete(b, r.baseOffset, r.logAppendTime);
          }
        },
        (error: unknown) => {
          for (const b of batches) this.retryOrFail(b, error);
        },
      )
      .finally(() => {
        this.inFlightPerBroker.set(broker, (this.inFlightPerBroker.get(broker) ?? 1) - 1);
        this.drain();
      });
  }

  /**
   * The bytes to send for a batch: built on its first send (with its producer id, epoch and
   * sequence when idempotent), a copy on a retry, re-stamped when its sequence was reassigned.
   */
  private bytesFor(b: Batch): Uint8Array {
    if (this.config.idempotent && b.session < 0) {
      // First send: the batch takes the partition's next sequences in the current session, and
      // keeps them (with this producer id and epoch) for every retry.
      this.sequences.assign(b, this.session);
      b.producerId = this.producerId;
      b.producerEpoch = this.producerEpoch;
    }
    if (b.encoded === undefined) {
      b.encoded = this.config.idempotent ? b.builder.build({ compression: this.config.compression, producerId: b.producerId, producerEpoch: b.producerEpoch, baseSequence: wireSequence(b.sequenceIndex), isTransactional: this.txn !== undefined }) : b.builder.build({ compression: this.config.compression });
      b.stampedSession = b.session;
      b.stampedIndex = b.sequenceIndex;
      return b.encoded;
    }
    const bytes = b.attempts === 0 ? b.encoded : b.encoded.slice();
    if (this.config.idempotent && (b.stampedSession !== b.session || b.stampedIndex !== b.sequenceIndex)) {
      // Only after a KIP-360 restart of the partition (see restartSequences).
      setProducerState(bytes, 0, b.producerId, b.producerEpoch, wireSequence(b.sequenceIndex), this.txn !== undefined);
      b.stampedSession = b.session;
      b.stampedIndex = b.sequenceIndex;
    }
    b.encoded = bytes;
    return bytes;
  }

  /**
   * InitProducerId (without a transactional id): any broker hands out a fresh producer id with
   * epoch 0. Retried with backoff while brokers are unavailable; once known, draining resumes.
   */
  private ensureProducerId(): Promise<void> {
    this.initializing ??= (async () => {
      for (let attempt = 0; !this.closed; attempt++) {
        const brokers = this.brokers();
        const broker = brokers[attempt % Math.max(1, brokers.length)];
        try {
          if (broker === undefined) throw new KafkaProtocolError('BROKER_NOT_AVAILABLE', 'no broker is known yet');
          const response = await this.connection.request<Message & { producerId?: bigint; producerEpoch?: number; error?: string; message?: string }>(brokerNode(broker), { type: 'initProducerId.request', transactionalId: null, transactionTimeoutMs: 60_000 }, this.config.requestTimeoutMs);
          if (response.error !== undefined) throw errorFromJSON({ name: 'KafkaProtocolError', code: response.error, message: response.message ?? response.error, retriable: false });
          this.producerId = response.producerId as bigint;
          this.producerEpoch = response.producerEpoch as number;
          this.session++;
          return;
        } catch (error) {
          const retriable = SamsaError.is(error) && error.retriable;
          if (!retriable && KafkaProtocolError.isKafka(error)) {
            // Nothing can be sent without a producer id: fail what waits.
            for (const b of this.ready.splice(0)) this.fail(b, error);
            return;
          }
          await sleep(this.clock, Math.min(this.config.retryBackoffMs * 2 ** Math.min(attempt, 10), this.config.retryBackoffMaxMs));
          this.expireReady();
        }
      }
    })().finally(() => {
      this.initializing = undefined;
      this.drain();
    });
    return this.initializing;
  }

  /**
   * Starts a new producer session for a partition whose sequences cannot continue (KIP-360): the
   * epoch is bumped locally, as Kafka's idempotent producer does (the broker takes a higher epoch
   * starting at sequence 0), or, at the epoch's maximum, a new producer id is requested. Only the
   * partitions that are idle move to the new session at once; the others keep their batches'
   * producer id, epoch and sequences until those settle (see sequences.ts).
   * @returns false when no new session could be opened now (a new producer id is on its way).
   */
  private renewSession(topic: string, partition: number, partitionSession: number, reason: string): boolean {
    if (this.producerId < 0n) return false;
    // The partition never used the current session: it can start over in it.
    if (partitionSession !== this.session) return true;
    if (this.producerEpoch >= MAX_PRODUCER_EPOCH) {
      this.logger.warn('idempotent producer takes a new producer id', { clientId: this.clientId, topic, partition, producerId: this.producerId, producerEpoch: this.producerEpoch, reason });
      this.producerId = -1n;
      this.producerEpoch = -1;
      return false;
    }
    this.producerEpoch++;
    this.session++;
    this.logger.warn('idempotent producer bumps its epoch', { clientId: this.clientId, topic, partition, producerId: this.producerId, producerEpoch: this.producerEpoch, reason });
    return true;
  }

  /**
   * A sent batch failed: its outcome is unknown, so the partition takes no new batch until every
   * batch sent before has settled; then, if none after it was acknowledged, the partition starts
   * over in a new session (Kafka's `markSequenceUnresolved` and `maybeResolveSequences`).
   */
  private resolveSequences(batch: Batch): void {
    const session = this.sequences.sessionOf(batch.key);
    const resolution = this.sequences.resolve(batch.key);
    if (resolution === 'gap') {
      this.renewSession(batch.topic, batch.partition, session, 'a batch failed after it was sent and no later batch was acknowledged');
      if (this.producerId < 0n && this.txn === undefined && this.ready.length > 0) void this.ensureProducerId();
    }
    // The partition's held-back batches may go now; this can run inside a drain that has already
    // passed them over, and nothing else may be pending to drain again (seed 2590 of the
    // idempotence simulation waited forever).
    if (resolution !== 'pending') this.drainSoon();
  }

  private drainSoonQueued = false;
  /** Drains on the next turn of the event loop (without closing batches that are still lingering). */
  private drainSoon(): void {
    if (this.drainSoonQueued) return;
    this.drainSoonQueued = true;
    this.clock.setTimeout(() => {
      this.drainSoonQueued = false;
      if (!this.closed) this.drain();
    }, 0);
  }

  /**
   * KIP-360: the broker rejected the partition's next expected batch as out of order, so it lost
   * this producer's sequences and none of the partition's unsettled batches was written (each
   * follows that one). They take sequences from 0 in a new epoch, in order, and are retried.
   * @returns false when no new session is available now (the batch then fails).
   */
  private restartSequences(batch: Batch): boolean {
    if (!this.renewSession(batch.topic, batch.partition, batch.session, "the broker rejected the next expected sequence (it lost this producer's state)")) return false;
    for (const b of this.sequences.restart(batch.key, this.session)) {
      b.producerId = this.producerId;
      b.producerEpoch = this.producerEpoch;
    }
    return true;
  }

  /**
   * The delivery timeout error of a batch. A batch that was sent may have been written: the
   * producer never sends it again, and the error says that its outcome is unknown.
   */
  private expired(batch: Batch, hint: string): TimeoutError {
    const operation = `delivery of ${batch.builder.recordCount} record(s) to ${batch.topic}-${batch.partition}`;
    const last = batch.lastError instanceof Error ? `; the last attempt failed with: ${batch.lastError.message}` : '';
    const cause = batch.lastError === undefined ? undefined : { cause: batch.lastError };
    if (batch.attempts === 0) return new TimeoutError(operation, this.config.deliveryTimeoutMs, hint + last, cause);
    return new TimeoutError(operation, this.config.deliveryTimeoutMs, `the batch was sent ${batch.attempts} time(s) without an answer that settles it, so the records may or may not have been written (they are not sent again); check broker health or raise deliveryTimeoutMs${last}`, cause);
  }

  /** Fails ready batches whose delivery.timeout.ms has passed. */
  private expireReady(): void {
    const now = this.clock.now();
    const expired = this.ready.filter((b) => now - b.createdAt >= this.config.deliveryTimeoutMs);
    if (expired.length === 0) return;
    this.ready.splice(0, this.ready.length, ...this.ready.filter((b) => now - b.createdAt < this.config.deliveryTimeoutMs));
    for (const b of expired) this.fail(b, this.expired(b, 'no producer id or leader was available in time; check broker health or raise deliveryTimeoutMs'));
  }

  /**
   * A request waits at most `request.timeout.ms`, and never past the earliest delivery deadline of
   * its batches: like Kafka's expiry of in-flight batches, `delivery.timeout.ms` is kept to the ms.
   */
  private requestTimeout(batches: readonly Batch[]): number {
    const now = this.clock.now();
    let timeout = this.config.requestTimeoutMs;
    for (const b of batches) timeout = Math.min(timeout, b.createdAt + this.config.deliveryTimeoutMs - now);
    return Math.max(1, timeout);
  }

  /** A batch was acknowledged: its sequences advance and its sends get their offsets. */
  private complete(batch: Batch, baseOffset: bigint, logAppendTime: number): void {
    if (this.config.idempotent && batch.session >= 0) {
      this.sequences.acknowledge(batch);
      if (this.sequences.isUnresolved(batch.key)) this.resolveSequences(batch);
    }
    settleBatch(batch, baseOffset, logAppendTime);
  }

  /**
   * A batch failed for good: its sends reject. In a transaction the transaction becomes abortable;
   * with idempotence, a batch that was sent leaves its partition unresolved (see resolveSequences).
   */
  private fail(batch: Batch, error: unknown, notify = true): void {
    if (this.txn !== undefined) {
      // In a transaction a lost batch means the transaction cannot commit (or, fenced, that this
      // producer is done); the abort's epoch bump settles the sequences.
      if (notify) this.txn.onError(error);
    } else if (this.config.idempotent && batch.session >= 0 && SamsaError.is(error) && UNWRITTEN.has(error.code)) {
      this.logger.debug('the broker refused a batch before writing it', { clientId: this.clientId, topic: batch.topic, partition: batch.partition, error: error.code });
      this.releaseUnwritten(batch);
    } else if (this.config.idempotent && batch.session >= 0) {
      // A batch that went out and failed for good may have been written or may have left a gap.
      // It is never sent again, under these sequences or others (a retry under a new producer id
      // or epoch would be written twice): the partition waits until every batch sent before it
      // settles, then continues or starts over (Kafka's unresolved sequences, KIP-360).
      this.logger.warn('idempotent producer failed a batch whose outcome is unknown', { clientId: this.clientId, topic: batch.topic, partition: batch.partition, producerId: batch.producerId, producerEpoch: batch.producerEpoch, baseSequence: wireSequence(batch.sequenceIndex), records: batch.builder.recordCount, error: SamsaError.is(error) ? error.code : String(error) });
      this.sequences.failSent(batch);
      this.resolveSequences(batch);
    }
    rejectBatch(batch, error);
  }

  /**
   * The broker checked `batch` and wrote nothing of it. Past the first batch of the session the
   * broker knows this producer, so the later batches cannot have been written before it: they take
   * its sequences. A first batch may have met a broker without this producer's state, which accepts
   * a later batch at any sequence: then the partition starts over.
   */
  private releaseUnwritten(batch: Batch): void {
    if (!this.config.idempotent || batch.session < 0) return;
    if (batch.sequenceIndex > 0) {
      this.sequences.failUnwritten(batch);
      // It may have been the last batch an unresolved partition waited for.
      if (this.sequences.isUnresolved(batch.key)) this.resolveSequences(batch);
      else this.drainSoon();
    } else {
      this.sequences.failSent(batch);
      this.resolveSequences(batch);
    }
  }

  /**
   * The broker refused some conditional appends of a batch holding several sends, and wrote
   * nothing of it: the sends named by `recordErrors` fail with their own conflict, and the other
   * sends' records go again in a new batch, ahead of the partition's newer ones. False when every
   * send failed (or in a transaction, which the failure makes abortable anyway): the batch then fails as a whole.
   */
  private splitRefused(batch: Batch, recordErrors: ReadonlyArray<{ readonly batchIndex: number; readonly message: string }>): boolean {
    if (this.txn !== undefined || batch.runs.length < 2 || batch.encoded === undefined) return false;
    const failed = new Map<number, string>();
    for (const e of recordErrors) {
      const run = batch.runEnds.findIndex((end) => e.batchIndex < end);
      if (run >= 0 && !failed.has(run)) failed.set(run, e.message);
    }
    const keep = new Set<number>();
    for (let run = 0; run < batch.runs.length; run++) if (!failed.has(run) && !(batch.runs[run] as { settled: boolean }).settled) keep.add(run);
    if (keep.size === 0) return false;
    const records = decodeRecordBatch(batch.encoded, 0, { verifyCrc: false }).records.map((r) => ({ timestamp: r.timestamp, key: r.key, value: r.value, headers: r.headers.map((h) => ({ key: encoder.encode(h.key), value: h.value })) }));
    const rebuilt = this.accumulator.rebuild(batch, records, keep);
    if (rebuilt === undefined) return false;
    // The refused batch was written nowhere: its sequences go as for any unwritten batch.
    const error = (message: string): KafkaProtocolError => errorFromJSON({ name: 'KafkaProtocolError', code: 'WRONG_EXPECTED_VERSION', message, retriable: false }) as KafkaProtocolError;
    for (const [run, message] of failed) {
      const d = batch.runs[run] as { settled: boolean; reject: (e: unknown) => void };
      if (d.settled) continue;
      d.settled = true;
      d.reject(error(message));
    }
    this.releaseUnwritten(batch);
    this.ready.unshift(rebuilt);
    this.drainSoon();
    return true;
  }

  /** An attempt failed: the batch is retried after a backoff when the error allows it, else it fails. */
  private retryOrFail(batch: Batch, error: unknown): void {
    batch.lastError = error;
    const name = SamsaError.is(error) ? error.code : '';
    const known = KafkaProtocolError.isKafka(error) ? error.retriable : SamsaError.is(error) && error.retriable;
    let retriable = known || RETRIABLE_WITH_METADATA.has(name) || error instanceof TimeoutError;
    // The answer is about sequences the batch no longer has (its partition restarted them while
    // this attempt was out, see restartSequences): send it again with its new ones.
    // (or its sequences moved down after an earlier batch was refused unwritten, see failUnwritten)
    const restarted = this.config.idempotent && (batch.stampedSession !== batch.session || batch.stampedIndex !== batch.sequenceIndex);
    if (restarted) retriable = true;
    else if (this.config.idempotent && (name === 'OUT_OF_ORDER_SEQUENCE_NUMBER' || name === 'UNKNOWN_PRODUCER_ID')) {
      // An earlier batch of the partition is not settled yet (in flight, being retried, or failed
      // with an unknown outcome): this one is retried after it, with the same sequences (Kafka's
      // TransactionManager.canRetry). When it is the next expected one and nothing is unresolved,
      // the broker lost this producer's state (expiry, truncation): KIP-360 restarts the partition.
      // UNKNOWN_PRODUCER_ID (sent by brokers that lost the producer's state) is handled alike.
      retriable = true;
      if (this.sequences.isNext(batch)) {
        // In a transaction this is an abortable error, as in Kafka.
        if (this.txn !== undefined) retriable = false;
        else if (!this.sequences.isUnresolved(batch.key)) retriable = this.restartSequences(batch);
      }
    }
    const elapsed = this.clock.now() - batch.createdAt;
    if (!retriable || batch.attempts > this.config.retries || elapsed >= this.config.deliveryTimeoutMs) {
      this.fail(batch, retriable && elapsed >= this.config.deliveryTimeoutMs ? this.expired(batch, 'check broker health or raise deliveryTimeoutMs') : error);
      return;
    }
    if (RETRIABLE_WITH_METADATA.has(name) || error instanceof TimeoutError) void this.refreshMetadataLater();
    const backoff = Math.min(this.config.retryBackoffMs * 2 ** (batch.attempts - 1), this.config.retryBackoffMaxMs);
    // A retry never waits past the delivery deadline: at the deadline the batch fails instead.
    batch.retryAt = Math.min(this.clock.now() + backoff, batch.createdAt + this.config.deliveryTimeoutMs);
    this.retrying.push(batch);
    this.scheduleRetry();
  }

  /** Arms the retry timer for the earliest batch waiting for its backoff. */
  private scheduleRetry(): void {
    if (this.retryTimer !== undefined || this.retrying.length === 0) return;
    const next = Math.min(...this.retrying.map((b) => b.retryAt));
    this.retryTimer = this.clock.setTimeout(() => {
      this.retryTimer = undefined;
      const now = this.clock.now();
      const due = new Set(this.retrying.filter((b) => b.retryAt <= now).map(partitionKey));
      this.requeue(this.retrying.filter((b) => due.has(b.key)));
      this.drain();
      this.scheduleRetry();
    }, Math.max(0, next - this.clock.now()));
  }

  /**
   * Moves retrying batches back to the front of the queue, each partition's in the order they
   * were first sent, so they go out again ahead of that partition's newer batches.
   */
  private requeue(batches: readonly Batch[]): void {
    if (batches.length === 0) return;
    const moving = new Set(batches);
    this.retrying.splice(0, this.retrying.length, ...this.retrying.filter((b) => !moving.has(b)));
    const ordered = [...batches].sort((a, b) => a.sequenceIndex - b.sequenceIndex || a.createdAt - b.createdAt);
    this.ready.unshift(...ordered);
  }

  private refreshing: Promise<void> | undefined;
  /**
   * Refreshes metadata once for every caller meanwhile, then retries at once the batches whose
   * partition has a new leader, and drains.
   */
  private refreshMetadataLater(): Promise<void> {
    this.refreshing ??= this.metadata
      .refresh()
      .then(
        () => undefined,
        () => undefined,
      )
      .finally(() => {
        this.refreshing = undefined;
        // KIP-951: a batch whose partition has a new leader is retried at once, not after its backoff.
        const moved = this.retrying.filter((b) => this.metadata.leaderOf(b.topic, b.partition) >= 0 && this.metadata.leaderEpochOf(b.topic, b.partition) > b.sentLeaderEpoch);
        if (moved.length > 0) {
          // Once per new epoch: a batch that cannot be sent yet is not moved again by the next refresh.
          for (const b of moved) b.sentLeaderEpoch = this.metadata.leaderEpochOf(b.topic, b.partition);
          const partitions = new Set(moved.map(partitionKey));
          this.requeue(this.retrying.filter((b) => partitions.has(b.key)));
        }
        this.drain();
        if (this.ready.length > 0 && this.ready.every((b) => this.metadata.leaderOf(b.topic, b.partition) < 0)) {
          // Still no leader: try again after a backoff rather than spinning.
          for (const b of this.ready) b.retryAt = this.clock.now() + this.config.retryBackoffMs;
          this.retrying.push(...this.ready.splice(0));
          this.scheduleRetry();
        }
      });
    return this.refreshing;
  }
}
