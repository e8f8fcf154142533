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
 *   Partitions lost without a revoke (session expired, fenced) are never committed for: the
 *   transaction is aborted (Kafka Streams' handleLostAll), and every offset commit carries the
 *   group generation, so a consumer that is no longer a member never commits.
 * - One owner of the transaction at a time: the run loop and the rebalance listener (which the
 *   consumer may call from a heartbeat or a rebalance) act on the transaction only in turn
 *   (Kafka Streams runs both on its stream thread), and records polled before a partition was
 *   revoked, lost or rewound are dropped rather than processed from a position no longer valid.
 * - Transient errors never stop a pipeline: the transaction is aborted and the inputs rewound, a
 *   producer fenced because its own transaction timed out is replaced by a new one (Kafka
 *   Streams' TaskMigrated handling), and it carries on. Only fatal errors stop it, and `done`
 *   rejects with them: a failing `process`, a fencing by a newer instance with the same
 *   transactional id ({@link ProducerFencedError}), a misconfiguration, a closed cluster.
 *
 * With `processingGuarantee: 'at_least_once'` the same loop uses an idempotent, non-transactional
 * producer and commits offsets after the outputs are acknowledged: nothing is lost, but a crash
 * can repeat outputs (for comparison, as in Kafka Streams).
 */
import { sleep } from '../clock.ts';
import { ClosedError, InvalidArgumentError, KafkaProtocolError, ProducerFencedError, TransactionStateError } from '../errors.ts';
import type { SamsaError } from '../errors.ts';
import { silentLogger } from '../logger.ts';
import type { Logger } from '../logger.ts';
import type { ConsumerClient, ConsumerGroupMetadata, ConsumerRecord, ProducerClient, ProducerRecord, RecordMetadata, TopicPartition, TopicPartitionOffset, TransactionalProducerClient } from '../clients/api.ts';
import type { PipelineContext, PipelineHooks, PipelineOptions, PipelineOutput, PipelineResult, PipelineStats } from './pipelineOptions.ts';

export type { PipelineContext, PipelineHooks, PipelineOptions, PipelineOutput, PipelineResult, PipelineStats } from './pipelineOptions.ts';
import { describe, isRecoverable, outputsOf, tpKey } from './pipelineSupport.ts';


/** A running consume-transform-produce loop. See the module comment. */
export class Pipeline {
  readonly clientId: string;
  readonly transactionalId: string;
  private readonly consumer: ConsumerClient;
  /** Transactional with exactly_once_v2 (see {@link transactional}), idempotent otherwise. */
  private producer: ProducerClient;
  private producerIncarnation = 0;
  private readonly exactlyOnce: boolean;
  private readonly commitIntervalMs: number;
  private readonly transactionTimeoutMs: number;
  private readonly retryBackoffMs: number;
  private readonly logger: Logger;
  private running = true;
  private processedCount = 0;
  private commitCount = 0;
  private abortCount = 0;
  private resetCount = 0;
  /** Next offset per input partition processed in the open transaction (or since the last commit). */
  private readonly pending = new Map<string, { topic: string; partition: number; offset: bigint }>();
  private pendingRecords = 0;
  /** Punctuations run since the last commit: work to commit even without input records. */
  private pendingPunctuations = 0;
  private outstanding: Array<Promise<RecordMetadata | RecordMetadata[]>> = [];
  private inTransaction = false;
  private openedAt = 0;
  /** When the open transaction began: a fence after transaction.timeout.ms may be its own timeout. */
  private transactionBeganAt = 0;
  /** The tail of the queue that serializes every action on the transaction (see {@link exclusive}). */
  private queue: Promise<void> = Promise.resolve();
  /**
   * An ownership token per owned input partition, renewed whenever the partition is (re)assigned
   * or rewound and removed when it is revoked or lost: polled records are processed only while
   * their partition still has the token it had when they were polled.
   */
  private readonly owned = new Map<string, number>();
  private tokens = 0;
  /** A fatal error met by the rebalance listener, raised by the run loop. */
  private fatal: { error: unknown } | undefined;
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
    this.transactionTimeoutMs = options.producer?.transactionTimeoutMs ?? 60_000;
    this.retryBackoffMs = options.consumer?.retryBackoffMs ?? 100;
    this.clientId = options.clientId ?? context.nextClientId();
    this.transactionalId = `${options.groupId}-${options.instanceId ?? this.clientId}`;
    this.logger = (context.logger ?? silentLogger).child({ pipeline: this.clientId, groupId: options.groupId });
    this.consumer = context.consumer({
      autoOffsetReset: 'earliest',
      ...options.consumer,
      clientId: `${this.clientId}-consumer`,
      groupId: options.groupId,
      isolationLevel: 'read_committed',
      enableAutoCommit: false,
      rebalanceListener: {
        onPartitionsAssigned: async (partitions) => {
          for (const tp of partitions) this.owned.set(tpKey(tp.topic, tp.partition), ++this.tokens);
          if (context.paused?.() === true) this.consumer.pause(partitions);
          // Called while the run loop is inside poll, so no processing or commit of the loop is
          // under way; not through the queue, which may hold a lost-partitions abort that waits
          // on the consumer this callback holds up.
          const hook = context.hooks?.onAssigned;
          if (hook !== undefined) {
            try {
              await hook(partitions);
            } catch (error) {
              this.fatal ??= { error };
            }
          }
        },
        onPartitionsRevoked: (partitions) => this.onRevoked(partitions),
        onPartitionsLost: (partitions) => this.onLost(partitions),
      },
    });
    this.producer = this.createProducer();
    this.done = this.run(from);
  }

  /** Counters so far. */
  get stats(): PipelineStats {
    return { processed: this.processedCount, commits: this.commitCount, aborts: this.abortCount, producerResets: this.resetCount };
  }

  /** Pauses or resumes every assigned partition as the context says (a paused app keeps its membership and commits). */
  private followPause(): void {
    const paused = this.context.paused?.() === true;
    if (paused) {
      const running = this.consumer.assignment().filter((tp) => !this.consumer.paused().some((p) => p.topic === tp.topic && p.partition === tp.partition));
      if (running.length > 0) this.consumer.pause(running);
    } else if (this.context.paused !== undefined && this.consumer.paused().length > 0) this.consumer.resume(this.consumer.paused());
  }

  /** Commits what was processed, then stops consuming and closes the clients. */
  async stop(): Promise<void> {
    this.running = false;
    await this.done.catch(() => undefined);
  }

  private createProducer(): ProducerClient {
    // A replacement gets its own client id: the fenced producer may still be finishing its sends.
    const clientId = this.producerIncarnation === 0 ? `${this.clientId}-producer` : `${this.clientId}-producer-${this.producerIncarnation}`;
    this.producerIncarnation++;
    return this.exactlyOnce ? this.context.producer({ ...this.options.producer, clientId, transactionalId: this.transactionalId }) : this.context.producer({ ...this.options.producer, clientId, idempotent: true });
  }

  /** The producer's transaction API: used with exactly_once_v2 only, where it was created with a transactional id. */
  private get transactional(): TransactionalProducerClient {
    return this.producer as TransactionalProducerClient;
  }

  /**
   * Runs `action` once every earlier one has finished: the run loop and the rebalance listener
   * never act on the transaction at the same time (Kafka Streams does both on one thread).
   */
  private exclusive<T>(action: () => Promise<T>): Promise<T> {
    const run = this.queue.then(action);
    this.queue = run.then(
      () => undefined,
      () => undefined,
    );
    return run;
  }

  private raiseFatal(): void {
    if (this.fatal !== undefined) throw this.fatal.error;
  }

  private async run(from: string[]): Promise<void> {
    try {
      if (this.exactlyOnce) await this.initTransactions();
      await this.consumer.subscribe(from);
      while (this.running) {
        this.raiseFatal();
        this.followPause();
        let records: ConsumerRecord[];
        try {
          records = await this.consumer.poll({ timeoutMs: Math.max(1, this.commitIntervalMs) });
        } catch (error) {
          // Kafka's poll() does not throw retriable errors; whatever transient error reaches here is waited out.
          if (!isRecoverable(error)) throw error;
          this.logger.warn('pipeline poll failed; retrying', describe(error));
          await sleep(this.context.clock, this.retryBackoffMs);
          continue;
        }
        if (records.length > 0 && this.context.paused?.() === true) {
          // Paused while this poll was out: its records are put back, to be read again after resume.
          const first = new Map<string, ConsumerRecord>();
          for (const r of records) if (!first.has(tpKey(r.topic, r.partition))) first.set(tpKey(r.topic, r.partition), r);
          for (const r of first.values()) this.consumer.seek({ topic: r.topic, partition: r.partition }, r.offset);
          this.followPause();
          continue;
        }
        // The ownership each record was polled under, taken now, before anything can revoke or rewind.
        const tokens = new Map<string, number | undefined>();
        for (const r of records) {
          const key = tpKey(r.topic, r.partition);
          if (!tokens.has(key)) {
            if (!this.owned.has(key)) this.owned.set(key, ++this.tokens);
            tokens.set(key, this.owned.get(key));
          }
        }
        this.raiseFatal();
        if (records.length > 0) await this.exclusive(() => this.processAll(records, tokens));
        const punctuate = this.context.hooks?.punctuate;
        if (punctuate !== undefined) await this.exclusive(() => this.punctuateNow(punctuate));
        if (this.hasWork() && this.context.clock.now() - this.openedAt >= this.commitIntervalMs) await this.exclusive(() => this.commitOrRecover());
      }
      this.raiseFatal();
      if (this.hasWork()) await this.exclusive(() => this.commitOrRecover());
      this.logger.info('pipeline stopped', { ...this.stats, transactionalId: this.transactionalId });
    } catch (error) {
      this.logger.error('pipeline stopped', { ...describe(error), transactionalId: this.transactionalId });
      throw error;
    } finally {
      this.running = false;
      await this.consumer.close().catch(() => undefined);
      await this.producer.close().catch(() => undefined);
    }
  }

  /** `initTransactions`, retried while the coordinator is unavailable. */
  private async initTransactions(): Promise<void> {
    for (;;) {
      try {
        await this.transactional.initTransactions();
        return;
      } catch (error) {
        if (!isRecoverable(error) || ProducerFencedError.is(error)) throw error;
        // Stopping: no transaction will begin, so there is nothing to initialize for.
        if (!this.running) return;
        // A retriable failure (coordinator unavailable, timeout) leaves the producer able to try
        // again; any other may have left it unusable (Kafka's fatal INVALID_PRODUCER_ID_MAPPING),
        // so a new producer tries.
        if (!(error as SamsaError).retriable) {
          void this.producer.close().catch(() => undefined);
          this.producer = this.createProducer();
        }
        this.logger.warn('pipeline could not initialize its transactional producer; retrying', { ...describe(error), transactionalId: this.transactionalId });
        await sleep(this.context.clock, this.retryBackoffMs);
      }
    }
  }

  /**
   * Replaces the transactional producer (Kafka Streams' `resetProducer` after TaskMigrated):
   * the new one's initTransactions fences the old one and aborts its open transaction.
   */
  private async resetProducer(cause: unknown): Promise<void> {
    const old = this.producer;
    void old.close().catch(() => undefined);
    this.producer = this.createProducer();
    this.resetCount++;
    this.logger.warn('pipeline re-initializes its transactional producer', { ...describe(cause), transactionalId: this.transactionalId });
    await this.initTransactions();
  }

  private async processAll(records: readonly ConsumerRecord[], tokens: ReadonlyMap<string, number | undefined>): Promise<void> {
    // Revoked, lost or rewound since the poll: the partition's next owner (or this one, from the
    // committed offset) reads those records again.
    const valid = records.filter((r) => this.owned.get(tpKey(r.topic, r.partition)) === tokens.get(tpKey(r.topic, r.partition)));
    if (valid.length === 0) return;
    await this.beginIfNeeded();
    // A poll's outputs go out as one send per topic (in order, so per-key order holds), not one per record.
    const outputs = new Map<string, ProducerRecord[]>();
    const collect = (result: PipelineResult): void => {
      for (const { topic, record: out } of outputsOf(result, this.options.to)) {
        let list = outputs.get(topic);
        if (list === undefined) outputs.set(topic, (list = []));
        list.push(out);
      }
    };
    const processed: ConsumerRecord[] = [];
    try {
      const batch = this.context.hooks?.processBatch;
      if (batch !== undefined) {
        const returned = batch(valid);
        collect(returned instanceof Promise ? await returned : returned);
        processed.push(...valid);
      } else {
        for (const record of valid) {
          // A revoke or rewind while an earlier record was awaited: the rest of its partition is dropped.
          if (this.owned.get(tpKey(record.topic, record.partition)) !== tokens.get(tpKey(record.topic, record.partition))) continue;
          const returned = this.options.process(record);
          // Only an async function is awaited: yielding per record would send each output alone.
          collect(returned instanceof Promise ? await returned : (returned as PipelineResult));
          processed.push(record);
        }
      }
    } catch (error) {
      // The application failed: nothing of this transaction may become visible, and it stops.
      await this.abort(error).catch(() => undefined);
      throw error;
    }
    for (const record of processed) this.pending.set(tpKey(record.topic, record.partition), { topic: record.topic, partition: record.partition, offset: record.offset + 1n });
    this.pendingRecords += processed.length;
    this.send(outputs);
  }

  /** Sends one list per topic; a failure is handled at the commit (which then fails). */
  private send(outputs: ReadonlyMap<string, ProducerRecord[]>): void {
    for (const [topic, list] of outputs) {
      const sent = this.producer.send(topic, list);
      sent.catch(() => undefined);
      this.outstanding.push(sent);
    }
  }

  /** Runs the host's due punctuations inside the open (or a new) transaction. */
  private async punctuateNow(punctuate: NonNullable<PipelineHooks['punctuate']>): Promise<void> {
    if (this.owned.size === 0) return;
    const wasIdle = !this.hasWork();
    let result: readonly PipelineOutput[] | undefined;
    try {
      const returned = punctuate();
      result = returned instanceof Promise ? await returned : returned;
    } catch (error) {
      await this.abort(error).catch(() => undefined);
      throw error;
    }
    if (result === undefined) return;
    if (wasIdle) this.openedAt = this.context.clock.now();
    await this.beginIfNeeded();
    this.pendingPunctuations++;
    const outputs = new Map<string, ProducerRecord[]>();
    for (const { topic, record } of outputsOf(result, this.options.to)) {
      let list = outputs.get(topic);
      if (list === undefined) outputs.set(topic, (list = []));
      list.push(record);
    }
    this.send(outputs);
  }

  /** The consumer's positions of the partitions this pipeline owns. */
  private async ownedPositions(): Promise<TopicPartitionOffset[]> {
    const out: TopicPartitionOffset[] = [];
    for (const key of this.owned.keys()) {
      const [topic, partition] = key.split('\u0000') as [string, string];
      const tp = { topic, partition: Number(partition) };
      out.push({ ...tp, offset: await this.consumer.position(tp) });
    }
    return out;
  }

  /** How far `topic`-`partition` lags its high watermark (last stable offset under read_committed); undefined before its first fetch. */
  lagOf(topic: string, partition: number): bigint | undefined {
    return this.consumer.lag().find((l) => l.topic === topic && l.partition === partition)?.lag;
  }

  /** Whether something since the last commit waits to be committed. */
  private hasWork(): boolean {
    return this.pendingRecords > 0 || this.pendingPunctuations > 0;
  }

  private async beginIfNeeded(): Promise<void> {
    if (!this.hasWork()) this.openedAt = this.context.clock.now();
    if (!this.exactlyOnce || this.inTransaction) return;
    try {
      this.transactional.beginTransaction();
    } catch (error) {
      if (error instanceof ClosedError) throw error;
      // A producer left unusable by an earlier failure cannot begin: it is replaced before the next transaction.
      await this.resetProducer(error);
      this.transactional.beginTransaction();
    }
    this.inTransaction = true;
    this.transactionBeganAt = this.context.clock.now();
  }

  /** Commits; on a recoverable failure the transaction is aborted and the inputs rewound, to be processed again. */
  private async commitOrRecover(): Promise<void> {
    try {
      await this.commit();
    } catch (error) {
      await this.recover(error, 'commit');
    }
  }

  /** Throws `error` if it is fatal (see the module comment); aborts and rewinds otherwise. */
  private async recover(error: unknown, during: string): Promise<void> {
    this.throwIfFatal(error);
    this.logger.warn(`pipeline ${during} failed; aborting the transaction and rewinding its inputs`, { ...describe(error), transactionalId: this.transactionalId });
    await this.abort(error);
  }

  /**
   * Throws when `error` must stop the pipeline. A fence is told apart from a timeout of this
   * producer's own transaction by the transaction's age: the coordinator aborts (and fences) a
   * transaction only once it is older than transaction.timeout.ms, counted from its first
   * partition, which came after it began here; a fence of a younger transaction can only come from
   * a newer instance's initTransactions with the same transactional id.
   */
  private throwIfFatal(error: unknown): void {
    if (!isRecoverable(error)) throw error;
    const code = (error as SamsaError).code;
    if (this.exactlyOnce && ProducerFencedError.is(error) && this.context.clock.now() - this.transactionBeganAt < this.transactionTimeoutMs) {
      throw new ProducerFencedError(this.transactionalId, `${code} on a transaction open for ${this.context.clock.now() - this.transactionBeganAt} ms, less than its timeout of ${this.transactionTimeoutMs} ms`, { cause: error });
    }
  }

  /** Outputs and input offsets, together: one transaction commit (or, at least once, acks then an offset commit). */
  private async commit(): Promise<void> {
    if (!this.hasWork()) return;
    // A commit of punctuation output alone still carries the owned partitions' positions, so the
    // group coordinator checks this member's generation and a zombie's commit fails (Kafka commits
    // its tasks' positions whenever a punctuation made a commit needed).
    const polled = this.pending.size === 0 && this.exactlyOnce ? await this.ownedPositions() : [...this.pending.values()];
    const offsets = this.context.hooks?.offsetsToCommit?.(polled) ?? polled;
    const count = this.pendingRecords;
    // What the hook adds (a streams app's changelog records) goes in the same transaction, one send per topic.
    const extra = new Map<string, ProducerRecord[]>();
    const before = this.context.hooks?.beforeCommit?.() ?? [];
    for (const { topic, record } of outputsOf(before instanceof Promise ? await before : before, this.options.to)) {
      let list = extra.get(topic);
      if (list === undefined) extra.set(topic, (list = []));
      list.push(record);
    }
    const extraSent: Array<Promise<RecordMetadata[]>> = [];
    for (const [topic, list] of extra) {
      const sent = this.producer.send(topic, list);
      sent.catch(() => undefined);
      this.outstanding.push(sent);
      extraSent.push(sent);
    }
    const sends = this.outstanding;
    this.outstanding = [];
    if (this.exactlyOnce) {
      // commitTransaction waits for every send; a failed one makes the commit fail (abortable).
      await Promise.allSettled(sends);
      // A commit of punctuation output alone has no input offsets to add.
      if (offsets.length > 0) await this.transactional.sendOffsets(offsets, this.memberMetadata());
      await this.transactional.commitTransaction();
      this.inTransaction = false;
    } else {
      await Promise.all(sends);
      this.memberMetadata();
      if (offsets.length > 0) await this.consumer.commit(offsets);
    }
    this.pending.clear();
    this.pendingRecords = 0;
    this.pendingPunctuations = 0;
    this.processedCount += count;
    this.commitCount++;
    // Every send settled successfully before the commit: these are where the hook's records landed.
    const landed = this.context.hooks?.afterCommit === undefined ? [] : (await Promise.all(extraSent)).flat();
    this.context.hooks?.afterCommit?.(landed, offsets);
  }

  /**
   * The consumer's group metadata for an offset commit. A consumer that is no longer a member
   * (its generation was reset: partitions lost) would commit without a generation, which the
   * coordinator accepts (KIP-447 fencing bypassed), so the commit fails instead and is aborted.
   */
  private memberMetadata(): ConsumerGroupMetadata {
    const group = this.consumer.groupMetadata();
    if (group.generationId < 0 || group.memberId === '') {
      throw new KafkaProtocolError('UNKNOWN_MEMBER_ID', `pipeline "${this.clientId}" is no longer a member of group "${this.options.groupId}" (its partitions were lost); its work since the last commit is aborted and done again after it rejoins`);
    }
    return group;
  }

  /** Before partitions move in a rebalance: commit what was done, so their next owner starts right after it. */
  private async onRevoked(partitions: TopicPartition[]): Promise<void> {
    for (const tp of partitions) this.owned.delete(tpKey(tp.topic, tp.partition));
    await this.exclusive(async () => {
      if (this.hasWork()) {
        try {
          await this.commit();
        } catch (error) {
          await this.recover(error, 'commit before a rebalance');
        }
      }
      this.context.hooks?.onRevoked?.(partitions);
    }).catch((error: unknown) => {
      this.fatal ??= { error };
    });
  }

  /**
   * Partitions lost without a revoke (session expired, member fenced): their offsets can no longer
   * be committed, so the transaction is aborted, never committed (Kafka Streams' handleLostAll).
   */
  private async onLost(partitions: TopicPartition[]): Promise<void> {
    for (const tp of partitions) this.owned.delete(tpKey(tp.topic, tp.partition));
    await this.exclusive(async () => {
      if (this.hasWork() || this.inTransaction) {
        this.logger.warn('pipeline lost its partitions; aborting the transaction', { partitions: partitions.map((tp) => `${tp.topic}-${tp.partition}`), transactionalId: this.transactionalId });
        await this.abort(new KafkaProtocolError('UNKNOWN_MEMBER_ID', 'partitions lost'));
      }
      this.context.hooks?.onLost?.(partitions);
    }).catch((error: unknown) => {
      this.fatal ??= { error };
    });
  }

  /**
   * Aborts the open transaction and rewinds the consumer to the committed offsets. A producer
   * that cannot abort (fenced by its own transaction's timeout, stuck) is replaced: the new one's
   * initTransactions aborts what the old one left open.
   */
  private async abort(cause: unknown): Promise<void> {
    const rewind = [...this.pending.values()];
    this.pending.clear();
    this.pendingRecords = 0;
    this.pendingPunctuations = 0;
    const sends = this.outstanding;
    this.outstanding = [];
    this.abortCount++;
    if (this.exactlyOnce && this.inTransaction) {
      this.inTransaction = false;
      try {
        await this.transactional.abortTransaction();
      } catch (error) {
        // A producer whose state allows no abort (it failed earlier, or is stuck) is replaced
        // without more ado; any other failure is judged first: fatal ones stop the pipeline.
        if (TransactionStateError.is(error)) await this.resetProducer(cause);
        else {
          this.throwIfFatal(error);
          await this.resetProducer(error);
        }
      }
    } else await Promise.allSettled(sends);
    this.context.hooks?.afterAbort?.();
    await this.rewind(rewind);
  }

  /**
   * Processes the aborted inputs again, from the group's committed offsets (stable: KIP-447), or
   * by auto.offset.reset where none is committed. Retried while the coordinator is unavailable:
   * polling on from the old position would skip them.
   */
  private async rewind(list: ReadonlyArray<TopicPartition>): Promise<void> {
    const assigned = (): Set<string> => new Set(this.consumer.assignment().map((tp) => tpKey(tp.topic, tp.partition)));
    let toRewind = list.filter((tp) => assigned().has(tpKey(tp.topic, tp.partition))).map((tp) => ({ topic: tp.topic, partition: tp.partition }));
    const renew = (tp: TopicPartition): void => {
      if (this.owned.has(tpKey(tp.topic, tp.partition))) this.owned.set(tpKey(tp.topic, tp.partition), ++this.tokens);
    };
    for (const tp of toRewind) renew(tp);
    while (toRewind.length > 0) {
      try {
        const committed = await this.consumer.committed(toRewind);
        const now = assigned();
        for (const c of committed) {
          const tp = { topic: c.topic, partition: c.partition };
          if (!now.has(tpKey(c.topic, c.partition))) continue;
          if (c.offset >= 0n) this.consumer.seek(tp, c.offset);
          else if (this.options.consumer?.autoOffsetReset === 'latest') await this.consumer.seekToEnd([tp]);
          else await this.consumer.seekToBeginning([tp]);
          // Records polled before the seek came from the old position: they are dropped.
          renew(tp);
        }
        return;
      } catch (error) {
        if (!isRecoverable(error)) throw error;
        // Stopping: nothing more is processed or committed, so the positions no longer matter.
        if (!this.running) return;
        this.logger.warn('pipeline could not read its committed offsets to rewind; retrying', describe(error));
        await sleep(this.context.clock, this.retryBackoffMs);
        const now = assigned();
        toRewind = toRewind.filter((tp) => now.has(tpKey(tp.topic, tp.partition)));
      }
    }
  }
}
