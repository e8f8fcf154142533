/**
 * The producer client's façade: `send`, `flush`, `close` and the transaction API. The work is done
 * by its parts, each in its own room:
 * - producerConfig.ts: the options, checked once, with Kafka's defaults;
 * - producerRecord.ts: records checked and converted to bytes before they are appended;
 * - accumulator.ts: batches per partition (`batch.size`, `linger.ms`) and partition choice, exactly
 *   as Kafka's (explicit, murmur2 on the key, uniform sticky for null keys, or a custom partitioner);
 * - sender.ts: one produce request per leader broker with up to
 *   `max.in.flight.requests.per.connection` outstanding, retries with backoff until
 *   `delivery.timeout.ms`, and the idempotent producer's id, epoch and sequences (sequences.ts);
 * - transactionManager.ts: the client side of transactions;
 * - batch.ts: a batch and the sends waiting on it, each resolved once with its records' offsets.
 *
 * Hot-path rule: no Promise, timer or closure per record; one promise per `send` call and one
 * request per broker per drain.
 */
import type { Clock } from '../../clock.ts';
import { ClosedError, InvalidArgumentError } from '../../errors.ts';
import type { KafkaErrorName } from '../../errors.ts';
import type { Logger } from '../../logger.ts';
import { silentLogger } from '../../logger.ts';
import type { Random } from '../../random.ts';
import type { TopicMetadata } from '../../protocol/index.ts';
import type { Transport } from '../../transport/transport.ts';
import { clientNode } from '../../transport/transport.ts';
import { ClientConnection } from '../connection.ts';
import { MetadataCache } from '../metadataCache.ts';
import { RecordAccumulator } from './accumulator.ts';
import { deliveryResults, resultAt } from './batch.ts';
import type { Batch, Delivery } from './batch.ts';
import { keyPartition } from './partitioners.ts';
import { resolveProducerConfig } from './producerConfig.ts';
import type { ProducerConfig, ProducerOptions } from './producerConfig.ts';
import { EMPTY_HEADERS, preparedFromPlain, prepareRecord, recordSize } from './producerRecord.ts';
import type { PlainRecord, PreparedRecord, ProducerRecord, RecordMetadata, SendOptions } from './producerRecord.ts';
import { Sender } from './sender.ts';
import { TransactionManager } from './transactionManager.ts';
import type { ConsumerGroupMetadata, TransactionPhase } from './transactionManager.ts';
import type { Transaction, TransactionalProducerClient } from '../api.ts';

export type { Transaction } from '../api.ts';

export type { ProducerOptions } from './producerConfig.ts';
export type { ProducerRecord, RecordMetadata } from './producerRecord.ts';

/** What the cluster hands a producer. */
export interface ProducerContext {
  readonly transport: Transport;
  readonly clock: Clock;
  readonly random: Random;
  readonly brokers: () => readonly number[];
  readonly clientId: string;
  /** Where the client logs errors it handles itself (default: silent). */
  readonly logger?: Logger;
}

const NO_RECORDS: readonly ProducerRecord[] = [];

/** A producer. Create it with `cluster.producer(options)`. */
export class Producer implements TransactionalProducerClient {
  private readonly connection: ClientConnection;
  private readonly metadata: MetadataCache;
  private readonly config: ProducerConfig;
  private readonly accumulator: RecordAccumulator;
  private readonly sender: Sender;
  private unfinished = 0;
  private flushWaiters: Array<() => void> = [];
  private closed = false;
  private readonly txn: TransactionManager | undefined;

  constructor(
    private readonly context: ProducerContext,
    private readonly options: ProducerOptions = {},
  ) {
    const config = resolveProducerConfig(options);
    this.config = config;
    this.connection = new ClientConnection(clientNode(context.clientId), context.transport, context.clock);
    this.metadata = new MetadataCache(this.connection, context.brokers, config.requestTimeoutMs);
    this.accumulator = new RecordAccumulator(config, context.clock, context.random, () => this.sender.drain());
    if (config.transactionalId !== undefined) {
      this.txn = new TransactionManager({
        transactionalId: config.transactionalId,
        transactionTimeoutMs: config.transactionTimeoutMs as number,
        connection: this.connection,
        clock: context.clock,
        requestTimeoutMs: config.requestTimeoutMs,
        retryBackoffMs: config.retryBackoffMs,
        maxBlockMs: config.maxBlockMs,
        brokers: context.brokers,
        producerIdAndEpoch: () => this.sender.producerIdAndEpoch(),
        setProducerIdAndEpoch: (producerId, producerEpoch) => this.sender.setProducerIdAndEpoch(producerId, producerEpoch),
        flush: () => this.flush(),
        failUnsent: (error) => this.sender.failUnsent(error),
        drain: () => this.sender.drain(),
      });
    }
    this.sender = new Sender({ config, connection: this.connection, metadata: this.metadata, clock: context.clock, logger: context.logger ?? silentLogger, clientId: context.clientId, brokers: context.brokers, accumulator: this.accumulator, txn: this.txn });
  }

  /** The transactional id, undefined for a producer that is not transactional. */
  get transactionalId(): string | undefined {
    return this.txn === undefined ? undefined : this.options.transactionalId;
  }

  /** The phase of the producer's transactions (Kafka's client transaction states), undefined when not transactional. */
  get transactionPhase(): TransactionPhase | undefined {
    return this.txn?.phase;
  }

  /**
   * `initTransactions()`: registers the transactional id with its coordinator, fencing any older
   * producer with the same id and aborting a transaction it left open. Call once, first.
   * @throws TransactionStateError when not transactional or already initialized; PRODUCER_FENCED…
   */
  async initTransactions(): Promise<void> {
    await this.transactions('initTransactions').initTransactions();
  }

  /** `beginTransaction()`: the following sends belong to a new transaction. */
  beginTransaction(): void {
    this.transactions('beginTransaction').begin();
  }

  /**
   * Kafka's `sendOffsetsToTransaction()`, under the one name it has on a {@link Transaction} too:
   * the consumer offsets commit with the transaction, or not at all.
   * @throws KafkaProtocolError ILLEGAL_GENERATION / UNKNOWN_MEMBER_ID when the group moved on (the transaction must be aborted).
   */
  async sendOffsets(offsets: ReadonlyArray<{ topic: string; partition: number; offset: bigint }>, group: ConsumerGroupMetadata): Promise<void> {
    await this.transactions('sendOffsets').sendOffsets(offsets, group);
  }

  /**
   * `commitTransaction()`: waits for every send of the transaction, then commits it; read_committed
   * consumers then see all of its records and offsets, partition by partition as markers land.
   * @throws KafkaProtocolError TRANSACTION_ABORTABLE when a send failed (abort, then retry the work).
   */
  async commitTransaction(): Promise<void> {
    await this.transactions('commitTransaction').commit();
  }

  /** `abortTransaction()`: drops unsent records; what was written is never shown to read_committed consumers. */
  async abortTransaction(): Promise<void> {
    await this.transactions('abortTransaction').abort();
  }

  /**
   * Runs `work` in a transaction: begins one (initializing the producer first if needed), commits
   * when `work` resolves, aborts when it throws or when the commit fails with an abortable error,
   * and rethrows. Resolves with what `work` returned.
   */
  async transaction<T>(work: (tx: Transaction) => Promise<T>): Promise<T> {
    const txn = this.transactions('transaction');
    if (txn.phase === 'uninitialized') await txn.initTransactions();
    txn.begin();
    const tx: Transaction = {
      send: ((topic: string, records: ProducerRecord | readonly ProducerRecord[], options?: SendOptions) => this.send(topic, records as ProducerRecord, options)) as Transaction['send'],
      sendOffsets: (offsets, group) => txn.sendOffsets(offsets, group),
    };
    let result: T;
    try {
      result = await work(tx);
      await txn.commit();
    } catch (error) {
      if (txn.phase === 'inTransaction' || txn.phase === 'abortableError') await txn.abort();
      throw error;
    }
    return result;
  }

  private transactions(operation: string): TransactionManager {
    if (this.closed) throw new ClosedError(`producer "${this.clientId}"`);
    if (this.txn === undefined) throw new InvalidArgumentError('transactionalId', `${operation}() needs a transactional producer; create it with cluster.producer({ transactionalId: '…' })`);
    return this.txn;
  }

  /**
   * An atomic send's records into one batch (see {@link SendOptions.atomic}): they must all go to
   * one partition and fit one request; they join the open batch when they fit in it whole, else
   * start a new one (and with `alone` the batch is theirs only).
   * @throws InvalidArgumentError when the records would go to several partitions or do not fit.
   */
  private appendAtomic(open: Map<number, Batch>, topic: string, records: readonly ProducerRecord[], prepared: Array<PreparedRecord | undefined> | undefined, delivery: Delivery, now: number, count: number, available: readonly number[], alone: boolean): void {
    const all = records.map((r, i) => prepared?.[i] ?? preparedFromPlain(r as PlainRecord, now));
    const partitions = all.map((p) => this.accumulator.choosePartition(topic, p.key, p.value, p.partition, count, available));
    const partition = partitions[0] as number;
    if (partitions.some((p) => p !== partition)) throw new InvalidArgumentError('atomic', `an atomic send goes to one partition; these records go to partitions ${[...new Set(partitions)].join(', ')} (give them one key or one partition)`);
    const bytes = all.reduce((n, p) => n + p.bytes, 61);
    if (bytes > this.config.maxRequestSize) throw new InvalidArgumentError('atomic', `an atomic send is one batch; these records take ${bytes} bytes, more than max.request.size (${this.config.maxRequestSize})`);
    // The open batch takes them when they fit in it whole (and nothing needs a batch to itself).
    if (alone || (this.accumulator.openBytes(open, partition) ?? 0) + bytes > this.config.batchSize) this.accumulator.seal(open, partition);
    for (const [i, p] of all.entries()) this.accumulator.append(open, topic, partition, p.timestamp, p.key, p.value, p.headers, p.bytes, delivery, i, true);
    if (alone || (this.accumulator.openBytes(open, partition) ?? 0) >= this.config.batchSize) this.accumulator.seal(open, partition);
  }

  /** The client id (also its network address suffix). */
  get clientId(): string {
    return this.context.clientId;
  }

  /**
   * Sends records to `topic` and resolves with where each landed, in input order, once every
   * one of them is acknowledged as `acks` requires (or fails with the first error).
   * @throws ClosedError after close; InvalidArgumentError for malformed records;
   *   KafkaProtocolError UNKNOWN_TOPIC_OR_PARTITION when the topic never appears within max.block.ms.
   */
  send(topic: string, record: ProducerRecord, options?: SendOptions): Promise<RecordMetadata>;
  send(topic: string, records: readonly ProducerRecord[], options?: SendOptions): Promise<RecordMetadata[]>;
  async send(topic: string, input: ProducerRecord | readonly ProducerRecord[], options: SendOptions = {}): Promise<RecordMetadata | RecordMetadata[]> {
    if (this.closed) throw new ClosedError(`producer "${this.clientId}"`);
    if (typeof topic !== 'string' || topic.length === 0) throw new InvalidArgumentError('topic', `expected a topic name, got ${JSON.stringify(topic)}`);
    // A transactional producer sends only inside a healthy transaction.
    this.txn?.checkSend();
    const single = !Array.isArray(input);
    let records = (single ? [input] : input) as readonly ProducerRecord[];
    // This frame lives until the records are acknowledged; it holds them only until they are
    // appended (below), so records the application let go of are not kept alive by the wait.
    input = NO_RECORDS;
    if (records.length === 0) return [];
    const now = this.context.clock.now();
    const n = records.length;
    // Validate every record before anything is appended, so a rejected send writes nothing.
    let prepared: Array<PreparedRecord | undefined> | undefined;
    for (let i = 0; i < n; i++) {
      const converted = prepareRecord(records[i] as ProducerRecord, i, single, now, this.config.maxRequestSize);
      if (converted !== undefined) (prepared ??= new Array<PreparedRecord | undefined>(n))[i] = converted;
    }
    this.unfinished++;
    try {
      // Records go into batches in the order send() is called, as with Kafka's blocking send():
      // with the topic known this happens before send() returns, otherwise behind earlier sends.
      const known = this.waitingTopics.has(topic) ? undefined : this.metadata.image?.topics[topic];
      if (known === undefined) {
        // Waiting for metadata: keep what was validated, whatever the application does with its objects meanwhile.
        prepared ??= new Array<PreparedRecord | undefined>(n);
        for (let i = 0; i < n; i++) prepared[i] ??= preparedFromPlain(records[i] as PlainRecord, now);
      }
      const meta = known ?? (await this.topicInOrder(topic));
      if (this.closed) throw new ClosedError(`producer "${this.clientId}"`);
      const delivered = await new Promise<Delivery>((resolve, reject) => {
        const delivery: Delivery = { topic, partitions: new Int32Array(n), offsets: new Float64Array(n), bigOffsets: undefined, timestamps: new Float64Array(n), remaining: n, settled: false, resolve, reject };
        const count = meta.partitions.length;
        const available = meta.partitions.filter((p) => p.leader >= 0).map((p) => p.partition);
        // Check explicit partitions before appending anything, so a rejected send writes nothing.
        for (let i = 0; i < n; i++) {
          const p = prepared?.[i];
          const explicit = p !== undefined ? p.partition : (records[i] as PlainRecord).partition;
          if (explicit !== undefined) this.accumulator.choosePartition(topic, null, null, explicit, count, available);
        }
        const open = this.accumulator.openFor(topic);
        const byKey = this.config.partitioner === 'default';
        if (options.atomic === true || options.alone === true) {
          this.appendAtomic(open, topic, records, prepared, delivery, now, count, available, options.alone === true);
          prepared = undefined;
          records = NO_RECORDS;
          this.accumulator.scheduleDrain();
          return;
        }
        for (let i = 0; i < n; i++) {
          const p = prepared?.[i];
          if (p !== undefined) {
            this.accumulator.append(open, topic, this.accumulator.choosePartition(topic, p.key, p.value, p.partition, count, available), p.timestamp, p.key, p.value, p.headers, p.bytes, delivery, i);
            continue;
          }
          // Validated above in this same turn: bytes, no headers.
          const r = records[i] as PlainRecord;
          const key = r.key ?? null;
          const value = r.value;
          const bytes = recordSize(key, value);
          const explicit = r.partition;
          // murmur2 of a key always names an existing partition: no check needed.
          const partition = byKey && key !== null && explicit === undefined ? keyPartition(key, count) : this.accumulator.choosePartition(topic, key, value, explicit, count, available);
          this.accumulator.append(open, topic, partition, r.timestamp ?? now, key, value, EMPTY_HEADERS, bytes, delivery, i);
        }
        // The records are in their batches now: let go of them while the send waits for acks.
        prepared = undefined;
        records = NO_RECORDS;
        this.accumulator.scheduleDrain();
      });
      // Built here, as the application resumes, rather than when the last acknowledgement arrives:
      // among the other sends completing in the same burst they would survive a young-generation
      // collection far more often (measured: twice the promoted bytes).
      return single ? resultAt(delivered, 0) : deliveryResults(delivered);
    } finally {
      this.unfinished--;
      this.notifyFlushed();
    }
  }

  /** Sends everything buffered now and resolves when every earlier `send` has completed. @throws ClosedError after close. */
  async flush(): Promise<void> {
    if (this.closed) throw new ClosedError(`producer "${this.clientId}"`);
    this.accumulator.closeOpenBatches();
    this.sender.drain();
    if (this.unfinished === 0) return;
    // As Kafka's flushInProgress: while a flush waits, records appended by sends still on their
    // way (awaiting metadata) are sent at once instead of lingering.
    this.accumulator.flushesInProgress++;
    try {
      await new Promise<void>((resolve) => this.flushWaiters.push(resolve));
    } finally {
      this.accumulator.flushesInProgress--;
    }
  }

  /** Flushes, then leaves the network. Later sends throw ClosedError. */
  async close(): Promise<void> {
    if (this.closed) return;
    await this.flush();
    this.closed = true;
    this.accumulator.close();
    this.sender.close();
    this.connection.close();
  }

  private notifyFlushed(): void {
    if (this.unfinished !== 0) return;
    const waiters = this.flushWaiters;
    this.flushWaiters = [];
    for (const w of waiters) w();
  }

  /** Per topic, the last send still waiting for its metadata: later sends queue behind it. */
  private readonly waitingTopics = new Map<string, Promise<void>>();

  /** Topic metadata, obtained after every earlier send to the topic that was waiting for it. */
  private topicInOrder(topic: string): Promise<TopicMetadata> {
    const previous = this.waitingTopics.get(topic) ?? Promise.resolve();
    const lookup = (): Promise<TopicMetadata> => this.metadata.topic(topic, this.context.clock, this.config.maxBlockMs, this.config.allowAutoTopicCreation);
    const next = previous.then(lookup, lookup);
    const tail = next.then(
      () => undefined,
      () => undefined,
    );
    this.waitingTopics.set(topic, tail);
    void tail.then(() => {
      if (this.waitingTopics.get(topic) === tail) this.waitingTopics.delete(topic);
    });
    return next;
  }
}

/** Kafka error names the producer retries after refreshing metadata. */
export const PRODUCER_METADATA_ERRORS: readonly KafkaErrorName[] = ['NOT_LEADER_OR_FOLLOWER', 'UNKNOWN_TOPIC_OR_PARTITION', 'LEADER_NOT_AVAILABLE', 'FENCED_LEADER_EPOCH', 'UNKNOWN_LEADER_EPOCH'];
