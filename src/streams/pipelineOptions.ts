/**
 * What a pipeline is given and gives back: its options (Kafka Streams' names and defaults), the
 * output it accepts from `process`, its counters, and the context and hooks its host (the
 * cluster, or a streams app) provides.
 */
import type { Clock } from '../clock.ts';
import type { Logger } from '../logger.ts';
import type { ConsumerOptions, ConsumerRecord, KafkaClients, ProducerOptions, ProducerRecord, RecordMetadata, TopicPartition, TopicPartitionOffset } from '../clients/api.ts';

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
  /** Times the transactional producer was replaced after its own transaction was fenced or stuck. */
  readonly producerResets: number;
}

/**
 * What a pipeline needs from its host: client factories (those of any {@link KafkaClients}), the
 * clock its commit interval and backoffs run on, and client ids.
 */
export interface PipelineContext {
  readonly clock: Clock;
  readonly consumer: KafkaClients['consumer'];
  readonly producer: KafkaClients['producer'];
  readonly nextClientId: () => string;
  /** Where the pipeline logs its aborts, recoveries and stop (default: silent). */
  readonly logger?: Logger;
  /** What a streams app adds to the loop (its tasks' state); none for a plain pipeline. */
  readonly hooks?: PipelineHooks;
  /**
   * Whether processing is paused (KafkaStreams.pause, KIP-834): the consumer keeps polling, so the
   * member stays in its group, with every assigned partition paused; checked before each poll.
   */
  readonly paused?: () => boolean;
}

/**
 * The points where a streams app plugs its tasks into the loop, each called by the one owner of
 * the transaction (see {@link Pipeline}): after an assignment (create tasks, restore their
 * stores), before a commit (the stores' changelog records, sent inside the transaction), after a
 * commit or an abort (apply or drop the stores' pending writes), after partitions were revoked
 * (their work committed) or lost (aborted): close their tasks.
 */
export interface PipelineHooks {
  /** Processes a poll's records (those still owned) in one call, instead of `process` per record. */
  processBatch?(records: readonly ConsumerRecord[]): readonly PipelineOutput[] | Promise<readonly PipelineOutput[]>;
  onAssigned?(partitions: readonly TopicPartition[]): Promise<void> | void;
  /**
   * Called after every poll, records or not (Kafka's wall-clock punctuation in the poll loop):
   * undefined when nothing ran, else the outputs of what ran (maybe none), committed with the
   * next transaction like a record's.
   */
  punctuate?(): readonly PipelineOutput[] | undefined | Promise<readonly PipelineOutput[] | undefined>;
  beforeCommit?(): readonly PipelineOutput[] | Promise<readonly PipelineOutput[]>;
  /**
   * The input offsets a commit carries, given the next offsets after what was polled: a host that
   * holds polled records back (Kafka Streams' max.task.idle.ms) commits only up to the first held one.
   */
  offsetsToCommit?(polled: readonly TopicPartitionOffset[]): readonly TopicPartitionOffset[];
  /** After a commit, with where the records `beforeCommit` returned landed and the input offsets it committed. */
  afterCommit?(landed: readonly RecordMetadata[], offsets: readonly TopicPartitionOffset[]): void;
  afterAbort?(): void;
  onRevoked?(partitions: readonly TopicPartition[]): void;
  onLost?(partitions: readonly TopicPartition[]): void;
}
