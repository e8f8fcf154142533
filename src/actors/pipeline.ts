/**
 * Consume-transform-produce with one transaction per commit interval: `cluster.pipeline(...)`.
 * The pattern Kafka Streams' `exactly_once_v2` runs (KIP-447): a read_committed consumer in a
 * group, one transactional producer per pipeline instance, and in every transaction the output
 * records together with the input offsets (`sendOffsetsToTransaction` with the consumer's group
 * metadata). A transaction commits all of it or none, so each input record's outputs are written
 * exactly once, whatever crashes.
 *
 * - A zombie (an instance the group has moved on from) cannot commit: its offsets carry an old
 *   generation and the group coordinator refuses them (ILLEGAL_GENERATION); an instance restarted
 *   with the same `clientId` has the same transactional id and fences its predecessor.
 * - After an abort (a failed send, a refused offset commit, a coordinator timeout) the consumer
 *   is rewound to the committed offsets, so the aborted inputs are processed again.
 * - Before partitions are revoked in a rebalance, the open transaction is committed, so the new
 *   owner starts exactly where this one stopped (and waits, KIP-447, while a commit is pending).
 *
 * With `processingGuarantee: 'at_least_once'` the same loop uses an idempotent, non-transactional
 * producer and commits offsets after the outputs are acknowledged: nothing is lost, but a crash
 * can repeat outputs (for comparison, as in Kafka Streams).
 */
import type { Clock } from '../clock.ts';
import { InvalidArgumentError, SamsaError } from '../errors.ts';
import type { Consumer, ConsumerOptions, ConsumerRecord } from './consumer/consumer.ts';
import type { Producer, ProducerOptions, ProducerRecord, RecordMetadata } from './producer/producer.ts';

/** An output record; `topic` defaults to the pipeline's `to`. */
export interface PipelineOutput extends ProducerRecord {
  readonly topic?: string;
}

/** What the processing function may return for one input record. */
export type PipelineResult = PipelineOutput | readonly PipelineOutput[] | undefined | null;

/** Options of {@link Pipeline} (`cluster.pipeline(options)`). */
export interface PipelineOptions {
  /** The consumer group (`application.id` in Kafka Streams); instances with the same id share the input. */
  readonly groupId: string;
  /** Input topics. */
  readonly from: string | readonly string[];
  /** Default output topic for records without a `topic`. */
  readonly to?: string;
  /** Turns one input record into zero or more output records. May be async; a throw aborts the transaction and stops the pipeline. */
  readonly process: (record: ConsumerRecord) => PipelineResult | Promise<PipelineResult>;
  /** `processing.guarantee`: 'exactly_once_v2' (default) or 'at_least_once'. */
  readonly processingGuarantee?: 'exactly_once_v2' | 'at_least_once';
  /**
   * `commit.interval.ms`: how long work collects before it commits — 100 with exactly_once_v2,
   * 30000 with at_least_once (Kafka Streams' defaults).
   */
  readonly commitIntervalMs?: number;
  /** Client id of this instance (its consumer and producer are `<clientId>-consumer` and `<clientId>-producer`). */
  readonly clientId?: string;
  /**
   * The instance's identity across restarts (Kafka Streams keeps a process id in its state
   * directory): the transactional id is `<groupId>-<instanceId>`, so a restarted instance fences
   * the one it replaces. Default: the client id.
   */
  readonly instanceId?: string;
  /** Extra consumer settings (isolation level, group id and auto-commit are the pipeline's). */
  readonly consumer?: Omit<ConsumerOptions, 'groupId' | 'isolationLevel' | 'enableAutoCommit' | 'rebalanceListener' | 'clientId'>;
  /** Extra producer settings (transactional id and idempotence are the pipeline's). */
  readonly producer?: Omit<ProducerOptions, 'transactionalId' | 'idempotent' | 'clientId'>;
}

/** Counters of a running pipeline. */
export interface PipelineStats {
  /** Input records whose outputs were committed. */
  readonly processed: number;
  readonly commits: number;
  readonly aborts: number;
}

/** What a pipeline needs from its cluster. */
export interface PipelineContext {
  readonly clock: Clock;
  readonly consumer: (options: ConsumerOptions) => Consumer;
  readonly producer: (options: ProducerOptions) => Producer;
  readonly nextClientId: () => string;
}

function outputsOf(result: PipelineResult, to: string | undefined): Array<{ topic: string; record: ProducerRecord }> {
  if (result === undefined || result === null) return [];
  const list = (Array.isArray(result) ? result : [result]) as readonly PipelineOutput[];
  return list.map((r) => {
    const { topic, ...record } = r;
    const target = topic ?? to;
    if (target === undefined) throw new InvalidArgumentError('to', 'an output record has no topic and the pipeline has no `to`; set one of them');
    return { topic: target, record };
  });
}

/** A running consume-transform-produce loop. See the module comment. */
export class Pipeline {
  readonly clientId: string;
  readonly transactionalId: string;
  private readonly consumer: Consumer;
  private readonly producer: Producer;
  private readonly exactlyOnce: boolean;
  private readonly commitIntervalMs: number;
  private running = true;
  private processedCount = 0;
  private commitCount = 0;
  private abortCount = 0;
  /** Next offset per input partition processed in the open transaction (or since the last commit). */
  private readonly pending = new Map<string, { topic: string; partition: number; offset: bigint }>();
  private pendingRecords = 0;
  private outstanding: Array<Promise<RecordMetadata | RecordMetadata[]>> = [];
  private inTransaction = false;
  private openedAt = 0;
  /** Resolves when the loop has ended (after `stop()`, or rejects with the error that stopped it). */
  readonly done: Promise<void>;

  constructor(
    private readonly context: PipelineContext,
    private readonly options: PipelineOptions,
  ) {
    if (typeof options.groupId !== 'string' || options.groupId.length === 0) throw new InvalidArgumentError('groupId', `expected a non-empty group id, got ${JSON.stringify(options.groupId)}`);
    if (typeof options.process !== 'function') throw new InvalidArgumentError('process', 'expected a function (record) => output record(s)');
    const from = typeof options.from === 'string' ? [options.from] : [...(options.from ?? [])];
    if (from.length === 0 || from.some((t) => typeof t !== 'string' || t.length === 0)) throw new InvalidArgumentError('from', `expected one or more input topics, got ${JSON.stringify(options.from)}`);
    const guarantee = options.processingGuarantee ?? 'exactly_once_v2';
    if (guarantee !== 'exactly_once_v2' && guarantee !== 'at_least_once') throw new InvalidArgumentError('processingGuarantee', `expected 'exactly_once_v2' or 'at_least_once', got ${String(guarantee)}`);
    this.exactlyOnce = guarantee === 'exactly_once_v2';
    this.commitIntervalMs = options.commitIntervalMs ?? (this.exactlyOnce ? 100 : 30_000);
    if (!Number.isInteger(this.commitIntervalMs) || this.commitIntervalMs < 0) throw new InvalidArgumentError('commitIntervalMs', `expected an integer ≥ 0, got ${this.commitIntervalMs}`);
    this.clientId = options.clientId ?? context.nextClientId();
    this.transactionalId = `${options.groupId}-${options.instanceId ?? this.clientId}`;
    this.consumer = context.consumer({
      autoOffsetReset: 'earliest',
      ...options.consumer,
      clientId: `${this.clientId}-consumer`,
      groupId: options.groupId,
      isolationLevel: 'read_committed',
      enableAutoCommit: false,
      // Work done for partitions about to move is committed first, so their next owner starts right after it.
      rebalanceListener: { onPartitionsRevoked: () => this.commit().catch(() => this.abort()) },
    });
    this.producer = context.producer({ ...options.producer, clientId: `${this.clientId}-producer`, ...(this.exactlyOnce ? { transactionalId: this.transactionalId } : { idempotent: true }) });
    this.done = this.run(from);
  }

  /** Counters so far. */
  get stats(): PipelineStats {
    return { processed: this.processedCount, commits: this.commitCount, aborts: this.abortCount };
  }

  /** Commits what was processed, then stops consuming and closes the clients. */
  async stop(): Promise<void> {
    this.running = false;
    await this.done.catch(() => undefined);
  }

  private async run(from: string[]): Promise<void> {
    try {
      if (this.exactlyOnce) await this.producer.initTransactions();
      await this.consumer.subscribe(from);
      while (this.running) {
        const records = await this.consumer.poll({ timeoutMs: Math.max(1, this.commitIntervalMs) });
        if (records.length > 0) await this.processAll(records);
        if (this.pendingRecords > 0 && this.context.clock.now() - this.openedAt >= this.commitIntervalMs) await this.commitOrRecover();
      }
      if (this.pendingRecords > 0) await this.commitOrRecover();
    } finally {
      this.running = false;
      await this.consumer.close().catch(() => undefined);
      await this.producer.close().catch(() => undefined);
    }
  }

  private async processAll(records: readonly ConsumerRecord[]): Promise<void> {
    if (this.exactlyOnce && !this.inTransaction) {
      this.producer.beginTransaction();
      this.inTransaction = true;
    }
    if (this.pendingRecords === 0) this.openedAt = this.context.clock.now();
    // A poll's outputs go out as one send per topic (in order, so per-key order holds), not one per record.
    const outputs = new Map<string, ProducerRecord[]>();
    for (const record of records) {
      let result: PipelineResult;
      try {
        const returned = this.options.process(record);
        // Only an async function is awaited: yielding per record would send each output alone.
        result = returned instanceof Promise ? await returned : (returned as PipelineResult);
      } catch (error) {
        // The application failed: nothing of this transaction may become visible.
        await this.abort();
        throw error;
      }
      for (const { topic, record: out } of outputsOf(result, this.options.to)) {
        let list = outputs.get(topic);
        if (list === undefined) outputs.set(topic, (list = []));
        list.push(out);
      }
      this.pending.set(`${record.topic}\u0000${record.partition}`, { topic: record.topic, partition: record.partition, offset: record.offset + 1n });
      this.pendingRecords++;
    }
    for (const [topic, list] of outputs) {
      const sent = this.producer.send(topic, list);
      // Its failure is handled at the commit (which then fails); until then it is not unhandled.
      sent.catch(() => undefined);
      this.outstanding.push(sent);
    }
  }

  /**
   * Commits; on a failure the transaction is aborted and the inputs rewound, so they are
   * processed again. A fenced producer (a newer instance took over) ends the pipeline, as does an
   * error that is not samsa's (a bug in the processing function).
   */
  private async commitOrRecover(): Promise<void> {
    try {
      await this.commit();
    } catch (error) {
      if (this.producer.transactionPhase === 'fatalError' || !SamsaError.is(error)) throw error;
      await this.abort();
    }
  }

  /** Outputs and input offsets, together: one transaction commit (or, at least once, acks then an offset commit). */
  private async commit(): Promise<void> {
    if (this.pendingRecords === 0) return;
    const offsets = [...this.pending.values()];
    const count = this.pendingRecords;
    const sends = this.outstanding;
    this.outstanding = [];
    if (this.exactlyOnce) {
      // commitTransaction waits for every send; a failed one makes the commit fail (abortable).
      await Promise.allSettled(sends);
      await this.producer.sendOffsetsToTransaction(offsets, this.consumer.groupMetadata());
      await this.producer.commitTransaction();
      this.inTransaction = false;
    } else {
      await Promise.all(sends);
      await this.consumer.commit(offsets);
    }
    this.pending.clear();
    this.pendingRecords = 0;
    this.processedCount += count;
    this.commitCount++;
  }

  /** Aborts the open transaction and rewinds the consumer to the committed offsets. */
  private async abort(): Promise<void> {
    const rewind = [...this.pending.values()];
    this.pending.clear();
    this.pendingRecords = 0;
    const sends = this.outstanding;
    this.outstanding = [];
    if (this.exactlyOnce && this.inTransaction) {
      const phase = this.producer.transactionPhase;
      if (phase === 'inTransaction' || phase === 'abortableError') await this.producer.abortTransaction();
      this.inTransaction = false;
    } else await Promise.allSettled(sends);
    this.abortCount++;
    // Process the aborted inputs again, from the group's committed offsets (stable: KIP-447).
    const owned = new Set(this.consumer.assignment().map((tp) => `${tp.topic}\u0000${tp.partition}`));
    const toRewind = rewind.filter((o) => owned.has(`${o.topic}\u0000${o.partition}`)).map((o) => ({ topic: o.topic, partition: o.partition }));
    if (toRewind.length === 0) return;
    const committed = await this.consumer.committed(toRewind);
    for (const c of committed) {
      if (c.offset >= 0n) this.consumer.seek({ topic: c.topic, partition: c.partition }, c.offset);
      else await this.consumer.seekToBeginning([{ topic: c.topic, partition: c.partition }]);
    }
  }
}
