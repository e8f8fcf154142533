/**
 * The client ports: what every layer above the clients (streams, event sourcing, projections,
 * applications) codes against. The embedded clients implement them, and so can an adapter over
 * any Kafka client against a real cluster: nothing here names an actor, a transport, a connection
 * or a clock, and every failure a caller handles differently is an error class from `errors.ts`
 * (never a client's internal state).
 *
 * Option and record types are re-exported here, so a higher layer imports this module alone.
 */
import type { ConsumerRecord } from './consumer/fetcher.ts';
import type { PartitionAssignor } from './consumer/assignors/types.ts';
import type { TopicPartition } from '../topicPartition.ts';
import type { ProducerOptions } from './producer/producerConfig.ts';
import type { ProducerRecord, RecordMetadata, SendOptions } from './producer/producerRecord.ts';
import type { ConsumerGroupMetadata } from './producer/transactionManager.ts';
import type { PartitionMetadata } from '../protocol/index.ts';

export type { ConsumerRecord } from './consumer/fetcher.ts';
export type { TopicPartition } from '../topicPartition.ts';
export type { ProducerOptions } from './producer/producerConfig.ts';
export type { ProducerRecord, RecordMetadata, SendOptions } from './producer/producerRecord.ts';
export type { ConsumerGroupMetadata } from './producer/transactionManager.ts';
export type { Partitioner, PartitionerArgs } from './producer/partitioners.ts';
export type { RecordHeader } from '../record/recordBatch.ts';
export type { CompressionCodec } from '../record/compression.ts';
export type { Assignment, MemberSubscription, PartitionAssignor } from './consumer/assignors/types.ts';

/** Callbacks around rebalances (Kafka's ConsumerRebalanceListener). */
export interface RebalanceListener {
  /** Before partitions are taken away; commit here. */
  onPartitionsRevoked?(partitions: TopicPartition[]): void | Promise<void>;
  /** After partitions are assigned. */
  onPartitionsAssigned?(partitions: TopicPartition[]): void | Promise<void>;
  /** Ownership was lost without a chance to commit (fenced or session expired). */
  onPartitionsLost?(partitions: TopicPartition[]): void | Promise<void>;
}

/** Consumer options (Kafka consumer config in camelCase; defaults are Kafka's). */
export interface ConsumerOptions {
  /** `group.id`: needed for `subscribe` and for committing. */
  readonly groupId?: string;
  readonly clientId?: string;
  /** `group.instance.id`: static membership (KIP-345). */
  readonly groupInstanceId?: string;
  /** `auto.offset.reset`: 'latest' (default), 'earliest' or 'none'. */
  readonly autoOffsetReset?: 'earliest' | 'latest' | 'none';
  /** `enable.auto.commit` (true when a groupId is set). */
  readonly enableAutoCommit?: boolean;
  /** `auto.commit.interval.ms` (5000). */
  readonly autoCommitIntervalMs?: number;
  /** `fetch.min.bytes` (1). */
  readonly fetchMinBytes?: number;
  /** `fetch.max.wait.ms` (500). */
  readonly fetchMaxWaitMs?: number;
  /** `fetch.max.bytes` (52428800). */
  readonly fetchMaxBytes?: number;
  /** `max.partition.fetch.bytes` (1048576). */
  readonly maxPartitionFetchBytes?: number;
  /** `max.poll.records` (500). */
  readonly maxPollRecords?: number;
  /** `session.timeout.ms` (45000). */
  readonly sessionTimeoutMs?: number;
  /** `heartbeat.interval.ms` (3000). */
  readonly heartbeatIntervalMs?: number;
  /** `max.poll.interval.ms` (300000). */
  readonly maxPollIntervalMs?: number;
  /**
   * `partition.assignment.strategy` (['range', 'cooperative-sticky']): built-in assignors by name
   * ('range', 'roundrobin', 'sticky', 'cooperative-sticky') or assignor objects, as Kafka takes classes.
   */
  readonly partitionAssignmentStrategy?: readonly (string | PartitionAssignor)[];
  /** `isolation.level` (read_uncommitted). */
  readonly isolationLevel?: 'read_uncommitted' | 'read_committed';
  /** `request.timeout.ms` (30000). */
  readonly requestTimeoutMs?: number;
  /** `retry.backoff.ms` (100). */
  readonly retryBackoffMs?: number;
  /** `default.api.timeout.ms` (60000): how long `committed()` waits for transactional offsets to settle. */
  readonly defaultApiTimeoutMs?: number;
  readonly rebalanceListener?: RebalanceListener;
}

/** A poll's worth of records, with a way to commit exactly them. */
export interface ConsumerBatch {
  readonly records: readonly ConsumerRecord[];
  /** Commits the positions after this batch (synchronously, to the group coordinator). */
  commit(): Promise<void>;
  /** Total lag over the assigned partitions after this batch (high watermark − position). */
  readonly lag: bigint;
}

/** A transaction in progress, as handed to `transaction()`'s callback. */
export interface Transaction {
  /** Sends records as part of the transaction (see {@link ProducerClient.send}). */
  send(topic: string, record: ProducerRecord, options?: SendOptions): Promise<RecordMetadata>;
  send(topic: string, records: readonly ProducerRecord[], options?: SendOptions): Promise<RecordMetadata[]>;
  /**
   * Commits consumer offsets with the transaction (Kafka's `sendOffsetsToTransaction`): the next offset
   * to read per partition, and the consumer's group metadata so that a zombie of an older
   * generation is fenced (KIP-447).
   */
  sendOffsets(offsets: ReadonlyArray<{ topic: string; partition: number; offset: bigint }>, group: ConsumerGroupMetadata): Promise<void>;
}

/** Options of `admin.createTopic`. */
export interface CreateTopicOptions {
  /** Number of partitions (default: `num.partitions`, 1). */
  readonly partitions?: number;
  /** Replicas per partition (default 1). */
  readonly replicationFactor?: number;
  /** Topic config overrides with Kafka keys, e.g. `{ 'cleanup.policy': 'compact' }`. */
  readonly config?: Readonly<Record<string, string | number | boolean>>;
}

/** A topic as `describeTopic` reports it. */
export interface TopicDescription {
  readonly name: string;
  readonly topicId: string;
  readonly internal: boolean;
  readonly partitions: readonly PartitionMetadata[];
  /** Every topic config with its effective value (overrides and defaults), as Kafka keys. */
  readonly config: Readonly<Record<string, string>>;
  /** Keys set explicitly on the topic. */
  readonly overrides: Readonly<Record<string, string>>;
}

/** Options of {@link AdminClient.readKey}. */
export interface ReadKeyOptions {
  /** First version to read (1-based; default 1), or backwards the version to read down from (default: the latest). */
  readonly from?: bigint;
  /** At most this many records (default 1000). */
  readonly maxCount?: number;
  readonly direction?: 'forwards' | 'backwards';
}

/** What {@link AdminClient.readKey} found: the key's partition, its committed version, and its records with their versions. */
export interface KeyRead {
  readonly partition: number;
  readonly version: bigint;
  readonly records: ReadonlyArray<{ readonly version: bigint; readonly offset: bigint; readonly timestamp: number; readonly value: Uint8Array | null; readonly headers: ReadonlyArray<{ readonly key: string; readonly value: Uint8Array | null }> }>;
}

/** ListOffsets target: a timestamp in ms, or 'earliest' / 'latest'. */
export type OffsetSpec = 'earliest' | 'latest' | number;

/** A partition with an offset: the next offset to read (committed, sought or rewound to). */
export type TopicPartitionOffset = TopicPartition & { readonly offset: bigint };

/** Options of {@link KafkaClients.admin}. */
export interface AdminOptions {
  /** The client id (default: one the clients' host chooses). */
  readonly clientId?: string;
  /** `request.timeout.ms` of each admin request (30000). */
  readonly requestTimeoutMs?: number;
}

/**
 * A producer (Kafka's `KafkaProducer`). Records of one `send` to one partition are appended in
 * order; with idempotence (the default) a retried batch is written once. Each `send` resolves once,
 * after every one of its records is acknowledged as `acks` requires, or rejects with the first error.
 */
export interface ProducerClient {
  /** The client id. */
  readonly clientId: string;
  /**
   * Sends records to `topic`; resolves with where each landed, in input order. An array is one
   * call for many records (Kafka batches them per partition): the cheap way to send many.
   * @throws ClosedError after close; InvalidArgumentError for malformed records.
   */
  send(topic: string, record: ProducerRecord, options?: SendOptions): Promise<RecordMetadata>;
  send(topic: string, records: readonly ProducerRecord[], options?: SendOptions): Promise<RecordMetadata[]>;
  /** Sends everything buffered now; resolves when every earlier `send` has completed. */
  flush(): Promise<void>;
  /** Flushes, then releases the client; later calls throw ClosedError. */
  close(): Promise<void>;
}

/**
 * A transactional producer (`transactionalId` set): Kafka's transaction API. Records sent and
 * offsets added between `beginTransaction` and `commitTransaction` become visible to read_committed
 * consumers all together, or (after `abortTransaction`) never.
 *
 * Failures a caller handles differently:
 * - `TransactionAbortableError`: this transaction cannot commit (a send failed, the
 *   coordinator aborted it); abort it and do the work again.
 * - `ProducerFencedError`: another producer with the same transactional id (or the
 *   coordinator, after `transaction.timeout.ms`) took over; this producer is unusable, close it.
 * - `TransactionStateError`: the call is illegal in the producer's current state (for
 *   example a previous fatal error); the producer is unusable, replace it.
 * - `RebalanceInProgressError` and the group's `ILLEGAL_GENERATION` / `UNKNOWN_MEMBER_ID`
 *   from `sendOffsets`: the group moved on; abort and let the consumer rejoin.
 */
export interface TransactionalProducerClient extends ProducerClient {
  /**
   * Registers the transactional id with its coordinator, fencing any older producer with the same
   * id and aborting what it left open. Call once, before the first transaction.
   */
  initTransactions(): Promise<void>;
  /**
   * Starts a transaction: the following sends belong to it.
   * @throws TransactionStateError when a transaction is open or the producer is unusable.
   */
  beginTransaction(): void;
  /**
   * Commits consumer offsets (the next offset to read per partition) with the transaction; the
   * group metadata lets the group coordinator refuse a zombie of an older generation (KIP-447).
   */
  sendOffsets(offsets: readonly TopicPartitionOffset[], group: ConsumerGroupMetadata): Promise<void>;
  /** Waits for every send of the transaction, then commits it. */
  commitTransaction(): Promise<void>;
  /** Aborts the open transaction: nothing of it is ever shown to read_committed consumers. */
  abortTransaction(): Promise<void>;
  /**
   * Runs `work` in a transaction: begins one (initializing first if needed), commits when `work`
   * resolves, aborts when it or the commit throws, and rethrows.
   */
  transaction<T>(work: (tx: Transaction) => Promise<T>): Promise<T>;
}

/**
 * A consumer (Kafka's `KafkaConsumer`). Positions and committed offsets are the next offset to
 * read. With `subscribe`, partitions are balanced across the group and the rebalance listener of
 * the options is called around every change of ownership.
 */
export interface ConsumerClient {
  /** The client id. */
  readonly clientId: string;
  /**
   * Joins the group for `topics` (names or a pattern); `fromBeginning` starts partitions with no
   * committed offset at the earliest offset.
   */
  subscribe(topics: readonly string[] | RegExp, options?: { fromBeginning?: boolean }): Promise<void>;
  /** Leaves the group and drops the assignment. */
  unsubscribe(): Promise<void>;
  /** Takes partitions manually, outside any group rebalancing. */
  assign(partitions: readonly TopicPartition[]): void;
  /** The partitions assigned now. */
  assignment(): TopicPartition[];
  /** Per assigned partition with a known position and fetch: how far its position lags the high watermark (the last stable offset under read_committed). */
  lag(): Array<{ topic: string; partition: number; lag: bigint }>;
  /**
   * Runs the group protocol if needed and returns up to `maxRecords` records, waiting up to
   * `timeoutMs` for some. Rebalance callbacks run inside it.
   */
  poll(options?: { timeoutMs?: number; maxRecords?: number }): Promise<ConsumerRecord[]>;
  /** One poll per batch, as an async iterable; each batch can commit exactly its records. */
  batches(options?: { timeoutMs?: number }): AsyncIterable<ConsumerBatch>;
  /** Sets the next offset to read for an assigned partition. */
  seek(partition: TopicPartition, offset: bigint): void;
  /** Moves partitions (default: all assigned) to their earliest offset. */
  seekToBeginning(partitions?: readonly TopicPartition[]): Promise<void>;
  /** Moves partitions (default: all assigned) to their end. */
  seekToEnd(partitions?: readonly TopicPartition[]): Promise<void>;
  /** Stops returning records from these partitions until `resume`. */
  pause(partitions: readonly TopicPartition[]): void;
  /** Resumes paused partitions. */
  resume(partitions: readonly TopicPartition[]): void;
  /** The paused partitions. */
  paused(): TopicPartition[];
  /** The next offset this consumer returns for an assigned partition, resolved first if needed. */
  position(partition: TopicPartition): Promise<bigint>;
  /**
   * The group's committed offsets for partitions (default: all assigned), -1n where none. A
   * read_committed consumer waits for offsets pending in a transaction (KIP-447).
   */
  committed(partitions?: readonly TopicPartition[]): Promise<TopicPartitionOffset[]>;
  /**
   * Commits offsets (default: the current positions) and resolves once they are stored.
   * @throws RebalanceInProgressError, or KafkaProtocolError ILLEGAL_GENERATION / UNKNOWN_MEMBER_ID,
   *   when the group moved on.
   */
  commit(offsets?: readonly TopicPartitionOffset[]): Promise<void>;
  /**
   * The group identity for {@link TransactionalProducerClient.sendOffsets}. `generationId` is -1
   * and `memberId` empty while this consumer is not a member (never joined, or lost its partitions).
   */
  groupMetadata(): ConsumerGroupMetadata;
  /** Commits (with auto-commit), leaves the group (unless static) and releases the client. */
  close(): Promise<void>;
}

/**
 * The admin client: topic management. Each call resolves once its change is visible where it is
 * needed (a produce right after `createTopic` finds its leaders).
 */
export interface AdminClient {
  /** Creates a topic. @throws KafkaProtocolError TOPIC_ALREADY_EXISTS, INVALID_PARTITIONS, … */
  createTopic(name: string, options?: CreateTopicOptions): Promise<void>;
  /** Deletes a topic. */
  deleteTopic(name: string): Promise<void>;
  /** Grows a topic to `totalCount` partitions. */
  createPartitions(name: string, totalCount: number): Promise<void>;
  /** Sets topic config overrides (Kafka keys). */
  alterTopicConfig(name: string, config: Readonly<Record<string, string | number | boolean>>): Promise<void>;
  /** Topic names (internal topics only when asked). */
  listTopics(options?: { includeInternal?: boolean }): Promise<string[]>;
  /** A topic's partitions and effective config. */
  describeTopic(name: string): Promise<TopicDescription>;
  /** The offset per partition of `topic` for `spec` (earliest, latest, or a timestamp). */
  listOffsets(topic: string, spec?: OffsetSpec, options?: { isolationLevel?: 'read_uncommitted' | 'read_committed' }): Promise<Array<{ partition: number; offset: bigint; timestamp: number }>>;
  /** Deletes records below the given offset per partition. */
  deleteRecords(topic: string, offsets: Readonly<Record<number, bigint>>): Promise<Array<{ partition: number; lowWatermark: bigint }>>;
  /**
   * samsa's own ReadKey: the committed records of one key of a topic with
   * `key.version.index.enable`, by version, from its partition leader's key index (no scan).
   */
  readKey(topic: string, key: Uint8Array, options?: ReadKeyOptions): Promise<KeyRead>;
  /** The consumer groups. */
  listGroups(): Promise<Array<{ groupId: string; state: string; protocolType: string }>>;
  /** Releases the client. */
  close(): void | Promise<void>;
}

/**
 * Where clients come from: the embedded cluster, clients connected to brokers in other processes,
 * or an adapter over a Kafka client. Each call returns a new, independent client.
 */
export interface KafkaClients {
  /**
   * A producer; transactional (a {@link TransactionalProducerClient}) when `transactionalId` is set.
   * @throws InvalidArgumentError for invalid options.
   */
  producer(options: ProducerOptions & { readonly transactionalId: string }): TransactionalProducerClient;
  producer(options?: ProducerOptions): ProducerClient;
  /** A consumer. @throws InvalidArgumentError for invalid options. */
  consumer(options?: ConsumerOptions): ConsumerClient;
  /** An admin client. */
  admin(options?: AdminOptions): AdminClient;
}
