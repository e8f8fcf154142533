/**
 * The producer client: batches records per partition (`batch.size`, `linger.ms`), picks
 * partitions exactly as Kafka does (explicit, murmur2 on the key, uniform sticky for null keys,
 * or a custom partitioner), sends one produce request per leader broker with up to
 * `max.in.flight.requests.per.connection` outstanding, retries retriable errors with backoff until
 * `delivery.timeout.ms`, and resolves each `send` once with the offsets of its records.
 *
 * Hot-path rule: no Promise, timer or closure per record; one promise per `send` call and one
 * request per broker per drain.
 */
import type { Logger } from '../../logger.ts';
import { silentLogger } from '../../logger.ts';
import type { Clock, TimerHandle } from '../../clock.ts';
import { ClosedError, InvalidArgumentError, KafkaProtocolError, SamsaError, TimeoutError, errorFromJSON } from '../../errors.ts';
import type { KafkaErrorName } from '../../errors.ts';
import type { CompressionCodec } from '../../record/compression.ts';
import { incrementSequence } from '../../record/sequence.ts';
import { setProducerState } from '../../record/recordBatch.ts';
import { RecordBatchBuilder } from '../../record/recordBatchBuilder.ts';
import type { EncodedHeader } from '../../record/recordBatchBuilder.ts';
import type { Random } from '../../random.ts';
import type { Message, Transport } from '../../transport/transport.ts';
import { brokerNode, clientNode } from '../../transport/transport.ts';
import { ClientConnection } from '../connection.ts';
import { MetadataCache, sleep } from '../metadataCache.ts';
import type { ProducePartitionResult, TopicMetadata } from '../../protocol/messages.ts';
import { keyPartition, RoundRobinPartitioner, UniformStickyPartitioner } from './partitioners.ts';
import { PartitionSequences } from './sequences.ts';
import { TransactionManager } from './transactionManager.ts';
import type { ConsumerGroupMetadata, TransactionPhase } from './transactionManager.ts';
import type { Partitioner } from './partitioners.ts';

/** A record to send. Keys and values are bytes or strings (UTF-8); serialize objects first. */
export interface ProducerRecord {
  readonly key?: string | Uint8Array | null;
  readonly value: string | Uint8Array | null;
  /** Send to this partition instead of choosing one. */
  readonly partition?: number;
  /** CreateTime in ms (default: the producer's clock). */
  readonly timestamp?: number;
  readonly headers?: Readonly<Record<string, string | Uint8Array | null>>;
}

/** Where a record landed. */
export interface RecordMetadata {
  readonly topic: string;
  readonly partition: number;
  /** Offset of the record; -1n with acks=0 (the broker does not answer). */
  readonly offset: bigint;
  readonly timestamp: number;
}

/** Producer options (Kafka producer config in camelCase; defaults are Kafka's). */
export interface ProducerOptions {
  readonly clientId?: string;
  /** 0, 1 or 'all' (-1). Default 'all', as Kafka ≥ 3.0. */
  readonly acks?: 0 | 1 | -1 | 'all';
  /** `batch.size` bytes per partition batch (16384). */
  readonly batchSize?: number;
  /** `linger.ms` to wait for a batch to fill (0). */
  readonly lingerMs?: number;
  /** `compression.type` (none). */
  readonly compression?: CompressionCodec;
  /** `retries` (Int.MAX). */
  readonly retries?: number;
  /** `retry.backoff.ms` (100). */
  readonly retryBackoffMs?: number;
  /** `retry.backoff.max.ms` (1000). */
  readonly retryBackoffMaxMs?: number;
  /** `delivery.timeout.ms` (120000): total time a record may take, retries included. */
  readonly deliveryTimeoutMs?: number;
  /** `request.timeout.ms` (30000). */
  readonly requestTimeoutMs?: number;
  /** `max.in.flight.requests.per.connection` (5). */
  readonly maxInFlightRequestsPerConnection?: number;
  /** `max.request.size` (1048576): cap on one produce request and on one record. */
  readonly maxRequestSize?: number;
  /** `max.block.ms` (60000): how long `send` waits for topic metadata. */
  readonly maxBlockMs?: number;
  /** 'default' (murmur2 / uniform sticky), 'roundrobin', or a custom partitioner. */
  readonly partitioner?: 'default' | 'roundrobin' | Partitioner;
  /** `partitioner.adaptive.partitioning.enable` (true). */
  readonly adaptivePartitioning?: boolean;
  /** Ask brokers to auto-create unknown topics (`allow.auto.create.topics`, true). */
  readonly allowAutoTopicCreation?: boolean;
  /**
   * `enable.idempotence`: every batch carries a producer id and sequence numbers, so a retried
   * batch is written once. On by default, as Kafka ≥ 3.0, when acks is 'all', retries > 0 and
   * maxInFlightRequestsPerConnection ≤ 5; left unset with other settings it is silently off, set
   * to true with them it is an error.
   */
  readonly idempotent?: boolean;
  /**
   * `transactional.id`: makes the producer transactional (idempotence is then required). One id
   * per logical producer: a new instance with the same id fences the old one.
   */
  readonly transactionalId?: string;
  /** `transaction.timeout.ms` (60000): the coordinator aborts a transaction open longer than this. */
  readonly transactionTimeoutMs?: number;
}

/** A transaction in progress, as handed to {@link Producer.transaction}'s callback. */
export interface Transaction {
  /** Sends records as part of the transaction (see {@link Producer.send}). */
  send(topic: string, record: ProducerRecord): Promise<RecordMetadata>;
  send(topic: string, records: readonly ProducerRecord[]): Promise<RecordMetadata[]>;
  /**
   * Commits consumer offsets with the transaction (`sendOffsetsToTransaction`): the next offset
   * to read per partition, and the consumer's group metadata so that a zombie of an older
   * generation is fenced (KIP-447).
   */
  sendOffsets(offsets: ReadonlyArray<{ topic: string; partition: number; offset: bigint }>, group: ConsumerGroupMetadata): Promise<void>;
}

/** What the cluster hands a producer. */
export interface ProducerContext {
  readonly transport: Transport;
  readonly clock: Clock;
  readonly random: Random;
  readonly brokers: () => readonly number[];
  readonly clientId: string;  /** Where the client logs errors it handles itself (default: silent). */
  readonly logger?: Logger;
}

/**
 * One `send` call waiting for its records. Where each record landed is kept in typed arrays, not
 * objects, until the last one is acknowledged: the result objects are built once, when they are
 * handed over, so nothing per record lives across garbage collections while the send waits.
 */
interface Delivery {
  readonly topic: string;
  readonly partitions: Int32Array;
  /** Offsets as numbers (exact below 2^53); -1 when unknown (acks=0). */
  readonly offsets: Float64Array;
  /** Exact offsets, only when a batch lands at or beyond 2^53. */
  bigOffsets: BigInt64Array | undefined;
  readonly timestamps: Float64Array;
  remaining: number;
  settled: boolean;
  /** Settles the send once every record is acknowledged; `send` then builds the result objects. */
  readonly resolve: (delivery: Delivery) => void;
  readonly reject: (error: unknown) => void;
}

/** Offsets a Float64Array holds exactly. */
const MAX_EXACT_OFFSET = BigInt(Number.MAX_SAFE_INTEGER);

/** The result object of record `i` of a completed delivery. */
function resultAt(d: Delivery, i: number): RecordMetadata {
  const offset = d.offsets[i] as number;
  return { topic: d.topic, partition: d.partitions[i] as number, offset: d.bigOffsets !== undefined && offset === -2 ? (d.bigOffsets[i] as bigint) : BigInt(offset), timestamp: d.timestamps[i] as number };
}

/** The result objects of a completed delivery. */
function deliveryResults(d: Delivery): RecordMetadata[] {
  const n = d.partitions.length;
  const out: RecordMetadata[] = new Array(n);
  for (let i = 0; i < n; i++) out[i] = resultAt(d, i);
  return out;
}

/**
 * A record validated and converted by `send`, before it is written into a batch. Only records
 * that need converting (string keys or values, headers) get one, and every record when `send`
 * must wait for metadata (the application may change its objects meanwhile); a record of bytes
 * sent to a known topic is written from the application's object in the same turn.
 */
interface PreparedRecord {
  readonly timestamp: number;
  readonly key: Uint8Array | null;
  readonly value: Uint8Array | null;
  readonly headers: readonly EncodedHeader[];
  /** Estimated encoded size, for `batch.size` accounting. */
  readonly bytes: number;
  readonly partition: number | undefined;
}

/** A record of bytes without headers: written as it is. */
interface PlainRecord {
  readonly key?: Uint8Array | null;
  readonly value: Uint8Array | null;
  readonly partition?: number;
  readonly timestamp?: number;
}

interface Batch {
  readonly topic: string;
  readonly partition: number;
  /** `topic`, `partition` as one map key, made once (the send loop looks batches up by it often). */
  readonly key: string;
  /** The records, encoded as they are appended (none are kept as objects); `recordCount` counts them. */
  readonly builder: RecordBatchBuilder;
  /**
   * The sends the records belong to, as runs (a send's records to one partition are appended
   * together): `runs[k]` owns the records from `runEnds[k - 1]` (0 for the first) to `runEnds[k]`.
   */
  readonly runs: Delivery[];
  readonly runEnds: number[];
  /** Per record: its index in its send (whose `timestamps` holds its timestamp). */
  indices: Int32Array;
  bytes: number;
  readonly createdAt: number;
  attempts: number;
  /** The error of the last failed attempt: a delivery timeout names it (e.g. the broker's KAFKA_STORAGE_ERROR and its path). */
  lastError?: unknown;
  retryAt: number;
  /** Leader epoch of the partition when the batch was last sent (-1 before). */
  sentLeaderEpoch: number;
  encoded: Uint8Array | undefined;
  /** Idempotence: position of the batch's first record in its partition's sequence (-1 until first sent). */
  sequenceIndex: number;
  /**
   * The producer session (producer id and epoch) the sequence belongs to, -1 until first sent.
   * Kept on every retry: the first attempt may have been written (see sequences.ts).
   */
  session: number;
  /** The producer id and epoch of `session`, which the batch is stamped with. */
  producerId: bigint;
  producerEpoch: number;
  /** The session and sequence index the encoded bytes carry. */
  stampedSession: number;
  stampedIndex: number;
  /** Idempotence: acknowledged or failed, no longer in flight. */
  settled: boolean;
}

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

const encoder = new TextEncoder();
const RECORD_OVERHEAD = 21;

/** Estimated encoded size of a record without headers, for `batch.size` accounting. */
function recordSize(key: Uint8Array | null | undefined, value: Uint8Array | null): number {
  return (key == null ? 0 : key.length) + (value === null ? 0 : value.length) + RECORD_OVERHEAD;
}
const EMPTY_HEADERS: readonly EncodedHeader[] = [];
const NO_RECORDS: readonly ProducerRecord[] = [];

/** Name of record `index` in error messages. */
function recordLabel(index: number, single: boolean): string {
  return single ? 'record' : `records[${index}]`;
}

/** Bytes of a key, value or header value; the argument name is only built when it is wrong. */
function toBytes(value: string | Uint8Array | null | undefined, field: string, index: number, single: boolean): Uint8Array | null {
  if (value === null || value === undefined) return null;
  if (typeof value === 'string') return encoder.encode(value);
  if (value instanceof Uint8Array) return value;
  throw new InvalidArgumentError(`${recordLabel(index, single)}.${field}`, `expected a string, Uint8Array or null, got ${typeof value === 'object' ? 'an object' : typeof value}; serialize it first (e.g. JSON.stringify)`);
}

/** A validated record of bytes (see {@link PlainRecord}) as a prepared one. */
function preparedFromPlain(record: PlainRecord, now: number): PreparedRecord {
  const key = record.key ?? null;
  const value = record.value;
  return { timestamp: record.timestamp ?? now, key, value, headers: EMPTY_HEADERS, bytes: recordSize(key, value), partition: record.partition };
}

// NETWORK_EXCEPTION: a leader that refuses connections may have crashed and been replaced; Kafka refreshes metadata on a disconnect.
const RETRIABLE_WITH_METADATA = new Set<string>(['NOT_LEADER_OR_FOLLOWER', 'UNKNOWN_TOPIC_OR_PARTITION', 'LEADER_NOT_AVAILABLE', 'FENCED_LEADER_EPOCH', 'UNKNOWN_LEADER_EPOCH', 'BROKER_NOT_AVAILABLE', 'NETWORK_EXCEPTION']);

/** A producer. Create it with `cluster.producer(options)`. */
export class Producer {
  private readonly connection: ClientConnection;
  private readonly metadata: MetadataCache;
  /** Open (still filling) batches per topic, by partition. */
  private readonly open = new Map<string, Map<number, Batch>>();
  private openCount = 0;
  private readonly ready: Batch[] = [];
  private readonly retrying: Batch[] = [];
  private readonly inFlightPerBroker = new Map<number, number>();
  private readonly sticky: UniformStickyPartitioner;
  private readonly roundRobin = new RoundRobinPartitioner();
  private lingerTimer: TimerHandle | undefined;
  private retryTimer: TimerHandle | undefined;
  private drainQueued = false;
  private unfinished = 0;
  private flushWaiters: Array<() => void> = [];
  private flushesInProgress = 0;
  private closed = false;
  private readonly acks: 0 | 1 | -1;
  private readonly batchSize: number;
  private readonly lingerMs: number;
  private readonly compression: CompressionCodec;
  private readonly retries: number;
  private readonly retryBackoffMs: number;
  private readonly retryBackoffMaxMs: number;
  private readonly deliveryTimeoutMs: number;
  private readonly requestTimeoutMs: number;
  private readonly maxInFlight: number;
  private readonly maxRequestSize: number;
  private readonly maxBlockMs: number;
  private readonly partitioner: ProducerOptions['partitioner'];
  private readonly allowAutoTopicCreation: boolean;
  private readonly idempotent: boolean;
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
  private readonly txn: TransactionManager | undefined;

  constructor(
    private readonly context: ProducerContext,
    private readonly options: ProducerOptions = {},
  ) {
    const acks = options.acks ?? 'all';
    if (acks !== 0 && acks !== 1 && acks !== -1 && acks !== 'all') throw new InvalidArgumentError('acks', `expected 0, 1, -1 or 'all', got ${String(acks)}`);
    this.acks = acks === 'all' ? -1 : acks;
    this.batchSize = positiveInt('batchSize', options.batchSize ?? 16384, 1);
    this.lingerMs = positiveInt('lingerMs', options.lingerMs ?? 0, 0);
    this.compression = options.compression ?? 'none';
    if (!['none', 'gzip', 'snappy', 'lz4', 'zstd'].includes(this.compression)) throw new InvalidArgumentError('compression', `expected none, gzip, snappy, lz4 or zstd, got ${String(this.compression)}`);
    this.retries = positiveInt('retries', options.retries ?? 2147483647, 0);
    this.retryBackoffMs = positiveInt('retryBackoffMs', options.retryBackoffMs ?? 100, 0);
    this.retryBackoffMaxMs = positiveInt('retryBackoffMaxMs', options.retryBackoffMaxMs ?? 1000, 0);
    this.requestTimeoutMs = positiveInt('requestTimeoutMs', options.requestTimeoutMs ?? 30000, 1);
    this.deliveryTimeoutMs = positiveInt('deliveryTimeoutMs', options.deliveryTimeoutMs ?? 120000, 1);
    if (this.deliveryTimeoutMs < this.lingerMs + this.requestTimeoutMs) throw new InvalidArgumentError('deliveryTimeoutMs', `must be ≥ lingerMs + requestTimeoutMs (${this.lingerMs + this.requestTimeoutMs}), as Kafka requires; got ${this.deliveryTimeoutMs}`);
    this.maxInFlight = positiveInt('maxInFlightRequestsPerConnection', options.maxInFlightRequestsPerConnection ?? 5, 1);
    this.maxRequestSize = positiveInt('maxRequestSize', options.maxRequestSize ?? 1048576, 1);
    this.maxBlockMs = positiveInt('maxBlockMs', options.maxBlockMs ?? 60000, 0);
    this.partitioner = options.partitioner ?? 'default';
    const transactionalId = options.transactionalId;
    if (transactionalId !== undefined && (typeof transactionalId !== 'string' || transactionalId.length === 0)) throw new InvalidArgumentError('transactionalId', `expected a non-empty string, got ${JSON.stringify(transactionalId)}`);
    if (transactionalId !== undefined && options.idempotent === false) throw new InvalidArgumentError('idempotent', 'a transactional producer is idempotent; remove idempotent: false or the transactionalId');
    this.idempotent = idempotenceOf(transactionalId === undefined ? options.idempotent : true, this.acks, this.retries, this.maxInFlight);
    this.allowAutoTopicCreation = options.allowAutoTopicCreation ?? true;
    this.connection = new ClientConnection(clientNode(context.clientId), context.transport, context.clock);
    this.metadata = new MetadataCache(this.connection, context.brokers, this.requestTimeoutMs);
    this.sticky = new UniformStickyPartitioner({ random: context.random, batchSize: this.batchSize, adaptive: options.adaptivePartitioning ?? true });
    if (transactionalId !== undefined) {
      const transactionTimeoutMs = positiveInt('transactionTimeoutMs', options.transactionTimeoutMs ?? 60_000, 1);
      this.txn = new TransactionManager({
        transactionalId,
        transactionTimeoutMs,
        connection: this.connection,
        clock: context.clock,
        requestTimeoutMs: this.requestTimeoutMs,
        retryBackoffMs: this.retryBackoffMs,
        maxBlockMs: this.maxBlockMs,
        brokers: context.brokers,
        producerIdAndEpoch: () => ({ producerId: this.producerId, producerEpoch: this.producerEpoch }),
        setProducerIdAndEpoch: (producerId, producerEpoch) => this.setProducerIdAndEpoch(producerId, producerEpoch),
        flush: () => this.flush(),
        failUnsent: (error) => this.failUnsent(error),
        drain: () => this.drain(),
      });
    }
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
   * `sendOffsetsToTransaction()`: the consumer offsets commit with the transaction, or not at all.
   * @throws KafkaProtocolError ILLEGAL_GENERATION / UNKNOWN_MEMBER_ID when the group moved on (the transaction must be aborted).
   */
  async sendOffsetsToTransaction(offsets: ReadonlyArray<{ topic: string; partition: number; offset: bigint }>, group: ConsumerGroupMetadata): Promise<void> {
    await this.transactions('sendOffsetsToTransaction').sendOffsets(offsets, group);
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
      send: ((topic: string, records: ProducerRecord | readonly ProducerRecord[]) => this.send(topic, records as ProducerRecord)) as Transaction['send'],
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

  /** Adopts a producer id and epoch from the transaction coordinator: a new session, sequences from 0. */
  private setProducerIdAndEpoch(producerId: bigint, producerEpoch: number): void {
    this.producerId = producerId;
    this.producerEpoch = producerEpoch;
    this.session++;
    this.sequences.clear();
  }

  /** Fails every batch not sent yet (open, queued or waiting for a retry): the transaction aborts. */
  private failUnsent(error: unknown): void {
    this.closeOpenBatches();
    const waiting = [...this.ready.splice(0), ...this.retrying.splice(0)];
    for (const b of waiting) this.fail(b, error, false);
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
  send(topic: string, record: ProducerRecord): Promise<RecordMetadata>;
  send(topic: string, records: readonly ProducerRecord[]): Promise<RecordMetadata[]>;
  async send(topic: string, input: ProducerRecord | readonly ProducerRecord[]): Promise<RecordMetadata | RecordMetadata[]> {
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
      const converted = this.prepare(records[i] as ProducerRecord, i, single, now);
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
          if (explicit !== undefined) this.choosePartition(topic, null, null, explicit, count, available);
        }
        const open = this.openFor(topic);
        const byKey = this.partitioner === 'default';
        for (let i = 0; i < n; i++) {
          const p = prepared?.[i];
          if (p !== undefined) {
            this.append(open, topic, this.choosePartition(topic, p.key, p.value, p.partition, count, available), p.timestamp, p.key, p.value, p.headers, p.bytes, delivery, i);
            continue;
          }
          // Validated above in this same turn: bytes, no headers.
          const r = records[i] as PlainRecord;
          const key = r.key ?? null;
          const value = r.value;
          const bytes = recordSize(key, value);
          const explicit = r.partition;
          // murmur2 of a key always names an existing partition: no check needed.
          const partition = byKey && key !== null && explicit === undefined ? keyPartition(key, count) : this.choosePartition(topic, key, value, explicit, count, available);
          this.append(open, topic, partition, r.timestamp ?? now, key, value, EMPTY_HEADERS, bytes, delivery, i);
        }
        // The records are in their batches now: let go of them while the send waits for acks.
        prepared = undefined;
        records = NO_RECORDS;
        this.scheduleDrain();
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
    this.closeOpenBatches();
    this.drain();
    if (this.unfinished === 0) return;
    // As Kafka's flushInProgress: while a flush waits, records appended by sends still on their
    // way (awaiting metadata) are sent at once instead of lingering.
    this.flushesInProgress++;
    try {
      await new Promise<void>((resolve) => this.flushWaiters.push(resolve));
    } finally {
      this.flushesInProgress--;
    }
  }

  /** Flushes, then leaves the network. Later sends throw ClosedError. */
  async close(): Promise<void> {
    if (this.closed) return;
    await this.flush();
    this.closed = true;
    if (this.lingerTimer !== undefined) this.context.clock.clearTimeout(this.lingerTimer);
    if (this.retryTimer !== undefined) this.context.clock.clearTimeout(this.retryTimer);
    this.connection.close();
  }

  private notifyFlushed(): void {
    if (this.unfinished !== 0) return;
    const waiters = this.flushWaiters;
    this.flushWaiters = [];
    for (const w of waiters) w();
  }

  /**
   * Validates one record, and converts it when it is not bytes already (see {@link
   * PreparedRecord}). Per-record work stays allocation-light: nothing is allocated for a record of
   * bytes, and the argument name for an error message is only built when there is an error.
   */
  private prepare(record: ProducerRecord, index: number, single: boolean, now: number): PreparedRecord | undefined {
    if (typeof record !== 'object' || record === null) throw new InvalidArgumentError(recordLabel(index, single), `expected a record object like { key, value }, got ${record === null ? 'null' : typeof record}`);
    if (record.value === undefined && !('value' in record)) throw new InvalidArgumentError(`${recordLabel(index, single)}.value`, 'a record needs a value (use null for a tombstone)');
    const rawKey = record.key;
    const rawValue = record.value;
    if ((rawKey === undefined || rawKey === null || rawKey instanceof Uint8Array) && (rawValue === null || rawValue instanceof Uint8Array) && record.headers === undefined) {
      this.checkPlacement(record, index, single, recordSize(rawKey, rawValue));
      return undefined;
    }
    const key = toBytes(rawKey, 'key', index, single);
    const value = toBytes(rawValue, 'value', index, single);
    let headers = EMPTY_HEADERS;
    let headerBytes = 0;
    if (record.headers !== undefined) {
      headers = Object.entries(record.headers).map(([k, v]) => ({ key: encoder.encode(k), value: toBytes(v, `headers.${k}`, index, single) }));
      for (const h of headers) headerBytes += h.key.length + (h.value?.length ?? 0) + 4;
    }
    const bytes = recordSize(key, value) + headerBytes;
    this.checkPlacement(record, index, single, bytes);
    return { timestamp: record.timestamp ?? now, key, value, headers, bytes, partition: record.partition };
  }

  /** Checks a record's timestamp, explicit partition and size. */
  private checkPlacement(record: ProducerRecord, index: number, single: boolean, bytes: number): void {
    const timestamp = record.timestamp;
    if (timestamp !== undefined && (!Number.isSafeInteger(timestamp) || timestamp < 0)) throw new InvalidArgumentError(`${recordLabel(index, single)}.timestamp`, `expected a non-negative integer of milliseconds, got ${timestamp}`);
    const partition = record.partition;
    if (partition !== undefined && (!Number.isInteger(partition) || partition < 0)) throw new InvalidArgumentError(`${recordLabel(index, single)}.partition`, `expected a partition number ≥ 0, got ${partition}`);
    if (bytes + 61 > this.maxRequestSize) throw new KafkaProtocolError('MESSAGE_TOO_LARGE', `record of ${bytes} bytes is larger than max.request.size=${this.maxRequestSize}; send smaller records or raise maxRequestSize`);
  }

  private choosePartition(topic: string, key: Uint8Array | null, value: Uint8Array | null, explicit: number | undefined, count: number, available: readonly number[]): number {
    let partition: number;
    if (explicit !== undefined) partition = explicit;
    else if (typeof this.partitioner === 'function') partition = this.partitioner({ topic, key, value, partitionCount: count, availablePartitions: available });
    else if (this.partitioner === 'roundrobin') partition = this.roundRobin.partition({ topic, key, value, partitionCount: count, availablePartitions: available });
    else partition = key === null ? this.sticky.partition(topic, count, available) : keyPartition(key, count);
    if (!Number.isInteger(partition) || partition < 0 || partition >= count) {
      throw new InvalidArgumentError('partition', `partition ${partition} does not exist: topic "${topic}" has ${count} partition${count === 1 ? '' : 's'} (0..${count - 1})`);
    }
    return partition;
  }

  private openFor(topic: string): Map<number, Batch> {
    let byPartition = this.open.get(topic);
    if (byPartition === undefined) this.open.set(topic, (byPartition = new Map()));
    return byPartition;
  }

  /** Moves every open batch to the ready queue. */
  private closeOpenBatches(filter?: (batch: Batch) => boolean): void {
    for (const byPartition of this.open.values()) {
      for (const [partition, batch] of byPartition) {
        if (filter !== undefined && !filter(batch)) continue;
        this.ready.push(batch);
        byPartition.delete(partition);
        this.openCount--;
      }
    }
  }

  private append(open: Map<number, Batch>, topic: string, partition: number, timestamp: number, key: Uint8Array | null, value: Uint8Array | null, headers: readonly EncodedHeader[], bytes: number, delivery: Delivery, index: number): void {
    let batch = open.get(partition);
    if (batch !== undefined && batch.bytes + bytes > this.batchSize && batch.builder.recordCount > 0) {
      this.ready.push(batch);
      open.delete(partition);
      this.openCount--;
      batch = undefined;
    }
    if (batch === undefined) {
      // Room for as many records as fit when they are all this one's size; grown when they are smaller.
      const expected = Math.ceil(Math.max(this.batchSize - 61, bytes) / bytes) + 1;
      batch = { topic, partition, key: partitionKey({ topic, partition }), builder: new RecordBatchBuilder(Math.min(this.batchSize, this.maxRequestSize) + 64), runs: [], runEnds: [], indices: new Int32Array(expected), bytes: 61, createdAt: this.context.clock.now(), attempts: 0, retryAt: 0, sentLeaderEpoch: -1, encoded: undefined, sequenceIndex: -1, session: -1, producerId: -1n, producerEpoch: -1, stampedSession: -1, stampedIndex: -1, settled: false };
      open.set(partition, batch);
      this.openCount++;
    }
    batch.builder.append(timestamp, key, value, headers);
    const count = batch.builder.recordCount;
    const at = count - 1;
    const runs = batch.runs;
    if (runs.length === 0 || runs[runs.length - 1] !== delivery) {
      runs.push(delivery);
      batch.runEnds.push(count);
    } else batch.runEnds[runs.length - 1] = count;
    if (at === batch.indices.length) {
      const grown = new Int32Array(at * 2);
      grown.set(batch.indices);
      batch.indices = grown;
    }
    batch.indices[at] = index;
    delivery.timestamps[index] = timestamp;
    batch.bytes += bytes;
    if (key === null && this.partitioner === 'default') this.sticky.onAppend(topic, partition, bytes, batch.bytes >= this.batchSize);
    if (batch.bytes >= this.batchSize) {
      this.ready.push(batch);
      open.delete(partition);
      this.openCount--;
    }
  }

  private scheduleDrain(): void {
    if (this.lingerMs === 0 || this.flushesInProgress > 0) {
      if (this.drainQueued) return;
      this.drainQueued = true;
      // On the next turn of the event loop, not in a microtask: sends resuming from awaits (on
      // metadata, or an application's async step) append first, so a batch carries all of them
      // — with linger.ms=0 Kafka's sender thread batches whatever accumulated while it was busy.
      this.context.clock.setTimeout(() => {
        this.drainQueued = false;
        this.closeOpenBatches();
        this.drain();
      }, 0);
      return;
    }
    if (this.ready.length > 0) this.drain();
    if (this.lingerTimer !== undefined || this.openCount === 0) return;
    this.lingerTimer = this.context.clock.setTimeout(() => {
      this.lingerTimer = undefined;
      const now = this.context.clock.now();
      this.closeOpenBatches((batch) => now - batch.createdAt >= this.lingerMs);
      this.drain();
      if (this.openCount > 0) this.scheduleDrain();
    }, this.lingerMs);
  }

  /** Sends ready batches, one request per leader broker, respecting the in-flight limit. */
  private drain(): void {
    if (this.ready.length === 0) return;
    if (this.idempotent && this.producerId < 0n) {
      // No batch leaves before the producer id is known; expired ones still fail on time. A
      // transactional producer gets its id from initTransactions().
      this.expireReady();
      if (this.ready.length > 0 && this.txn === undefined) void this.ensureProducerId();
      return;
    }
    // Nothing can go out while every broker is at its in-flight limit: skip the scan of the queue.
    const brokers = this.metadata.image?.brokers;
    if (brokers !== undefined && brokers.length > 0 && brokers.every((b) => (this.inFlightPerBroker.get(b.id) ?? 0) >= this.maxInFlight)) return;
    const now = this.context.clock.now();
    const byBroker = new Map<number, Batch[]>();
    const keep: Batch[] = [];
    // How many batches each broker can still take: one request per free in-flight slot, each at
    // most one batch per partition; once no broker can take more, the rest of the queue waits as is.
    const brokerCount = brokers?.length ?? 0;
    const saturated = new Set<number>();
    // Idempotence keeps each partition's batches in sequence order: while one of its batches waits
    // for a retry, nothing after it may go out (Kafka mutes the partition the same way).
    const blocked = this.idempotent && this.retrying.length > 0 ? new Set(this.retrying.map((b) => b.key)) : undefined;
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
      if (now - batch.createdAt >= this.deliveryTimeoutMs) {
        this.fail(batch, this.expired(batch, 'the partition had no reachable leader in time; check broker health or raise deliveryTimeoutMs'));
        continue;
      }
      if (this.idempotent) {
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
      if (leader < 0 || saturated.has(leader) || (this.inFlightPerBroker.get(leader) ?? 0) >= this.maxInFlight) {
        keep.push(batch);
        if (leader < 0) void this.refreshMetadataLater();
        else saturated.add(leader);
        continue;
      }
      let list = byBroker.get(leader);
      if (list === undefined) byBroker.set(leader, (list = []));
      list.push(batch);
      // Enough for every free slot to carry a full request: more would only be put back.
      if (list.length >= (this.maxInFlight - (this.inFlightPerBroker.get(leader) ?? 0)) * 64) saturated.add(leader);
    }
    // Batches taken from the queue but not sent go back in front of the ones kept, so every
    // partition's batches keep their order (a partition's batches all go to its one leader).
    const unsent: Batch[] = [];
    for (const [broker, batches] of byBroker) {
      // As Kafka, a request carries at most one batch per partition (results are matched by
      // partition), and batches of one partition leave in order even when requests run out.
      let pending = batches;
      while (pending.length > 0) {
        if ((this.inFlightPerBroker.get(broker) ?? 0) >= this.maxInFlight) {
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
          if (claimed.has(key) || (request.length > 0 && size + bytes > this.maxRequestSize)) later.push(batch);
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
    if (this.acks === 0) {
      this.connection.fireAndForget(brokerNode(broker), { type: 'produce.request', acks: 0, timeoutMs: this.requestTimeoutMs, partitions });
      for (const b of batches) this.complete(b, -1n, -1);
      return;
    }
    this.inFlightPerBroker.set(broker, (this.inFlightPerBroker.get(broker) ?? 0) + 1);
    this.connection
      .request<Message & { partitions: ProducePartitionResult[] }>(brokerNode(broker), { type: 'produce.request', acks: this.acks, timeoutMs: this.requestTimeoutMs, partitions }, this.requestTimeout(batches))
      .then(
        (response) => {
          const byKey = new Map(response.partitions.map((p) => [`${p.topic}\u0000${p.partition}`, p]));
          for (const b of batches) {
            const r = byKey.get(`${b.topic}\u0000${b.partition}`);
            if (r === undefined) this.retryOrFail(b, new KafkaProtocolError('UNKNOWN_SERVER_ERROR', `broker ${broker} returned no result for ${b.topic}-${b.partition}`));
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
    if (this.idempotent && b.session < 0) {
      // First send: the batch takes the partition's next sequences in the current session, and
      // keeps them (with this producer id and epoch) for every retry.
      this.sequences.assign(b, this.session);
      b.producerId = this.producerId;
      b.producerEpoch = this.producerEpoch;
    }
    if (b.encoded === undefined) {
      b.encoded = this.idempotent ? b.builder.build({ compression: this.compression, producerId: b.producerId, producerEpoch: b.producerEpoch, baseSequence: wireSequence(b.sequenceIndex), isTransactional: this.txn !== undefined }) : b.builder.build({ compression: this.compression });
      b.stampedSession = b.session;
      b.stampedIndex = b.sequenceIndex;
      return b.encoded;
    }
    const bytes = b.attempts === 0 ? b.encoded : b.encoded.slice();
    if (this.idempotent && (b.stampedSession !== b.session || b.stampedIndex !== b.sequenceIndex)) {
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
        const brokers = this.context.brokers();
        const broker = brokers[attempt % Math.max(1, brokers.length)];
        try {
          if (broker === undefined) throw new KafkaProtocolError('BROKER_NOT_AVAILABLE', 'no broker is known yet');
          const response = await this.connection.request<Message & { producerId?: bigint; producerEpoch?: number; error?: string; message?: string }>(brokerNode(broker), { type: 'initProducerId.request', transactionalId: null, transactionTimeoutMs: 60_000 }, this.requestTimeoutMs);
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
          await sleep(this.context.clock, Math.min(this.retryBackoffMs * 2 ** Math.min(attempt, 10), this.retryBackoffMaxMs));
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
    const logger = this.context.logger ?? silentLogger;
    if (this.producerEpoch >= MAX_PRODUCER_EPOCH) {
      logger.warn('idempotent producer takes a new producer id', { clientId: this.clientId, topic, partition, producerId: this.producerId, producerEpoch: this.producerEpoch, reason });
      this.producerId = -1n;
      this.producerEpoch = -1;
      return false;
    }
    this.producerEpoch++;
    this.session++;
    logger.warn('idempotent producer bumps its epoch', { clientId: this.clientId, topic, partition, producerId: this.producerId, producerEpoch: this.producerEpoch, reason });
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
    this.context.clock.setTimeout(() => {
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
    if (batch.attempts === 0) return new TimeoutError(operation, this.deliveryTimeoutMs, hint + last, cause);
    return new TimeoutError(operation, this.deliveryTimeoutMs, `the batch was sent ${batch.attempts} time(s) without an answer that settles it, so the records may or may not have been written (they are not sent again); check broker health or raise deliveryTimeoutMs${last}`, cause);
  }

  /** Fails ready batches whose delivery.timeout.ms has passed. */
  private expireReady(): void {
    const now = this.context.clock.now();
    const expired = this.ready.filter((b) => now - b.createdAt >= this.deliveryTimeoutMs);
    if (expired.length === 0) return;
    this.ready.splice(0, this.ready.length, ...this.ready.filter((b) => now - b.createdAt < this.deliveryTimeoutMs));
    for (const b of expired) this.fail(b, this.expired(b, 'no producer id or leader was available in time; check broker health or raise deliveryTimeoutMs'));
  }

  /**
   * A request waits at most `request.timeout.ms`, and never past the earliest delivery deadline of
   * its batches: like Kafka's expiry of in-flight batches, `delivery.timeout.ms` is kept to the ms.
   */
  private requestTimeout(batches: readonly Batch[]): number {
    const now = this.context.clock.now();
    let timeout = this.requestTimeoutMs;
    for (const b of batches) timeout = Math.min(timeout, b.createdAt + this.deliveryTimeoutMs - now);
    return Math.max(1, timeout);
  }

  private complete(batch: Batch, baseOffset: bigint, logAppendTime: number): void {
    const count = batch.builder.recordCount;
    if (this.idempotent && batch.session >= 0) {
      this.sequences.acknowledge(batch);
      if (this.sequences.isUnresolved(batch.key)) this.resolveSequences(batch);
    }
    // -1 (acks=0) stays -1 for every record; -2 marks an offset kept in bigOffsets.
    const exact = baseOffset < 0n || baseOffset + BigInt(count) <= MAX_EXACT_OFFSET;
    const base = baseOffset < 0n ? -1 : exact ? Number(baseOffset) : -2;
    const indices = batch.indices;
    for (let run = 0; run < batch.runs.length; run++) {
      const d = batch.runs[run] as Delivery;
      const start = run === 0 ? 0 : (batch.runEnds[run - 1] as number);
      const end = batch.runEnds[run] as number;
      if (d.settled) continue;
      for (let i = start; i < end; i++) {
        const at = indices[i] as number;
        d.partitions[at] = batch.partition;
        d.offsets[at] = base < 0 ? base : base + i;
        if (base === -2) (d.bigOffsets ??= new BigInt64Array(d.partitions.length))[at] = baseOffset + BigInt(i);
        // CreateTime: the record's own timestamp, written into the send when it was appended.
        if (logAppendTime >= 0) d.timestamps[at] = logAppendTime;
      }
      d.remaining -= end - start;
      if (d.remaining === 0) {
        d.settled = true;
        d.resolve(d);
      }
    }
  }

  private fail(batch: Batch, error: unknown, notify = true): void {
    if (this.txn !== undefined) {
      // In a transaction a lost batch means the transaction cannot commit (or, fenced, that this
      // producer is done); the abort's epoch bump settles the sequences.
      if (notify) this.txn.onError(error);
    } else if (this.idempotent && batch.session >= 0) {
      // A batch that went out and failed for good may have been written or may have left a gap.
      // It is never sent again, under these sequences or others (a retry under a new producer id
      // or epoch would be written twice): the partition waits until every batch sent before it
      // settles, then continues or starts over (Kafka's unresolved sequences, KIP-360).
      (this.context.logger ?? silentLogger).warn('idempotent producer failed a batch whose outcome is unknown', { clientId: this.clientId, topic: batch.topic, partition: batch.partition, producerId: batch.producerId, producerEpoch: batch.producerEpoch, baseSequence: wireSequence(batch.sequenceIndex), records: batch.builder.recordCount, error: SamsaError.is(error) ? error.code : String(error) });
      this.sequences.failSent(batch);
      this.resolveSequences(batch);
    }
    for (const d of batch.runs) {
      if (d.settled) continue;
      d.settled = true;
      d.reject(error);
    }
  }

  private retryOrFail(batch: Batch, error: unknown): void {
    batch.lastError = error;
    const name = SamsaError.is(error) ? error.code : '';
    const known = KafkaProtocolError.isKafka(error) ? error.retriable : SamsaError.is(error) && error.retriable;
    let retriable = known || RETRIABLE_WITH_METADATA.has(name) || error instanceof TimeoutError;
    // The answer is about sequences the batch no longer has (its partition restarted them while
    // this attempt was out, see restartSequences): send it again with its new ones.
    const restarted = this.idempotent && batch.stampedSession !== batch.session;
    if (restarted) retriable = true;
    else if (this.idempotent && (name === 'OUT_OF_ORDER_SEQUENCE_NUMBER' || name === 'UNKNOWN_PRODUCER_ID')) {
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
    const elapsed = this.context.clock.now() - batch.createdAt;
    if (!retriable || batch.attempts > this.retries || elapsed >= this.deliveryTimeoutMs) {
      this.fail(batch, retriable && elapsed >= this.deliveryTimeoutMs ? this.expired(batch, 'check broker health or raise deliveryTimeoutMs') : error);
      return;
    }
    if (RETRIABLE_WITH_METADATA.has(name) || error instanceof TimeoutError) void this.refreshMetadataLater();
    const backoff = Math.min(this.retryBackoffMs * 2 ** (batch.attempts - 1), this.retryBackoffMaxMs);
    // A retry never waits past the delivery deadline: at the deadline the batch fails instead.
    batch.retryAt = Math.min(this.context.clock.now() + backoff, batch.createdAt + this.deliveryTimeoutMs);
    this.retrying.push(batch);
    this.scheduleRetry();
  }

  private scheduleRetry(): void {
    if (this.retryTimer !== undefined || this.retrying.length === 0) return;
    const next = Math.min(...this.retrying.map((b) => b.retryAt));
    this.retryTimer = this.context.clock.setTimeout(() => {
      this.retryTimer = undefined;
      const now = this.context.clock.now();
      const due = new Set(this.retrying.filter((b) => b.retryAt <= now).map(partitionKey));
      this.requeue(this.retrying.filter((b) => due.has(b.key)));
      this.drain();
      this.scheduleRetry();
    }, Math.max(0, next - this.context.clock.now()));
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

  /** Per topic, the last send still waiting for its metadata: later sends queue behind it. */
  private readonly waitingTopics = new Map<string, Promise<void>>();

  /** Topic metadata, obtained after every earlier send to the topic that was waiting for it. */
  private topicInOrder(topic: string): Promise<TopicMetadata> {
    const previous = this.waitingTopics.get(topic) ?? Promise.resolve();
    const lookup = (): Promise<TopicMetadata> => this.metadata.topic(topic, this.context.clock, this.maxBlockMs, this.allowAutoTopicCreation);
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

  private refreshing: Promise<void> | undefined;
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
          for (const b of this.ready) b.retryAt = this.context.clock.now() + this.retryBackoffMs;
          this.retrying.push(...this.ready.splice(0));
          this.scheduleRetry();
        }
      });
    return this.refreshing;
  }
}

function partitionKey(b: { topic: string; partition: number }): string {
  return `${b.topic}\u0000${b.partition}`;
}

/** Kafka's rule for `enable.idempotence`: explicit true with a conflicting setting is an error; unset, it follows the settings. */
function idempotenceOf(explicit: boolean | undefined, acks: 0 | 1 | -1, retries: number, maxInFlight: number): boolean {
  if (explicit !== undefined && typeof explicit !== 'boolean') throw new InvalidArgumentError('idempotent', `expected a boolean, got ${typeof explicit}`);
  const conflict = acks !== -1 ? `acks=${acks} (idempotence needs acks='all')` : retries === 0 ? 'retries=0 (idempotence needs retries > 0)' : maxInFlight > 5 ? `maxInFlightRequestsPerConnection=${maxInFlight} (idempotence allows at most 5)` : undefined;
  if (explicit === true && conflict !== undefined) throw new InvalidArgumentError('idempotent', `idempotence cannot be enabled with ${conflict}; change that setting or set idempotent: false`);
  return explicit ?? conflict === undefined;
}

function positiveInt(name: string, value: number, min: number): number {
  if (!Number.isSafeInteger(value) || value < min) throw new InvalidArgumentError(name, `expected an integer ≥ ${min}, got ${value}`);
  return value;
}

/** Kafka error names the producer retries after refreshing metadata. */
export const PRODUCER_METADATA_ERRORS: readonly KafkaErrorName[] = ['NOT_LEADER_OR_FOLLOWER', 'UNKNOWN_TOPIC_OR_PARTITION', 'LEADER_NOT_AVAILABLE', 'FENCED_LEADER_EPOCH', 'UNKNOWN_LEADER_EPOCH'];
