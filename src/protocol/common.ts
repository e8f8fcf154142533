/**
 * Data shared by many messages: the loose {@link Message} shape every transport carries, the wire
 * form of errors, the one {@link TopicPartition}, and the cluster metadata image that the
 * controller owns, brokers replicate and clients read. All of it is plain, structured-clone-safe
 * data (numbers, strings, booleans, bigint, Uint8Array, arrays and plain objects), so any
 * {@link MessageCodec}-backed transport carries it unchanged.
 */
import type { KafkaErrorName } from '../errors.ts';
import { KAFKA_ERRORS } from '../errors.ts';

/**
 * Any message as a transport carries it: a dotted `type` such as `produce.request`, the
 * correlation id of requests and their responses, and plain data. The typed messages of
 * `protocol/index.ts` are the known shapes; this is what arrives before a handler narrows it.
 */
export interface Message {
  readonly type: string;
  readonly correlationId?: number;
  readonly [field: string]: unknown;
}

/** A partition-level (or response-level) error as it travels: Kafka's error name and number. */
export interface WireError {
  readonly error: KafkaErrorName | string;
  readonly errorCode: number;
  readonly message?: string;
  /** Produce: the records that failed validation, by index in their batch (KIP-467 `record_errors`). */
  readonly recordErrors?: ReadonlyArray<{ readonly batchIndex: number; readonly message: string }>;
}

/** Builds the wire form of a Kafka error. */
export function wireError(name: KafkaErrorName, message?: string): WireError {
  return { error: name, errorCode: KAFKA_ERRORS[name].code, ...(message === undefined ? {} : { message }) };
}

/**
 * One partition of one topic: the single shape every layer above `protocol/` uses (clients,
 * assignors, coordinators), so a partition list passes between them without conversion.
 */
export type { TopicPartition } from '../topicPartition.ts';

/** Every request carries a correlation id, unique per sender; its response echoes it. */
export interface RequestHeader {
  readonly correlationId: number;
}

/**
 * Every response echoes the request's correlation id and may carry a response-level error
 * (absent on success).
 */
export interface ResponseHeader extends Partial<WireError> {
  readonly correlationId: number;
}

/**
 * A controller response: besides its own fields it may be NOT_CONTROLLER, naming the active
 * controller this one knows of (`controllerId`, -1 when none), so the client retries there.
 */
export interface ControllerResponseHeader extends ResponseHeader {
  readonly controllerId?: number;
}

/** State of one partition in the cluster metadata. */
export interface PartitionMetadata {
  readonly topic: string;
  readonly partition: number;
  /** Broker id of the leader, -1 when offline. */
  readonly leader: number;
  readonly leaderEpoch: number;
  readonly partitionEpoch: number;
  readonly replicas: readonly number[];
  readonly isr: readonly number[];
}

/** One topic in the cluster metadata. */
export interface TopicMetadata {
  readonly name: string;
  readonly topicId: string;
  readonly internal: boolean;
  readonly partitions: readonly PartitionMetadata[];
  /** Topic config overrides with Kafka keys. */
  readonly config: Readonly<Record<string, string>>;
}

/** One broker as the controller knows it. */
export interface BrokerRegistration {
  readonly id: number;
  /**
   * A fenced broker may not lead or join an ISR: its session expired (no heartbeat within
   * `broker.session.timeout.ms`) and it has not heartbeated since.
   */
  readonly fenced: boolean;
  /** The broker epoch, assigned at each registration (Kafka uses the record's log offset). */
  readonly epoch?: number;
  /** Identifies one run of the broker process; a restart registers a new one. */
  readonly incarnationId?: string;
}

/** The metadata image the controller owns and brokers replicate. */
export interface ClusterMetadataImage {
  /** Bumped on every change; brokers ignore older images. */
  readonly version: number;
  readonly clusterId: string;
  readonly controllerId: number;
  readonly brokers: readonly BrokerRegistration[];
  readonly topics: Readonly<Record<string, TopicMetadata>>;
  /** First producer id not yet handed out in a block (Kafka's ProducerIdsRecord). */
  readonly nextProducerId: number;
}

/** Next correlation id source for a client. */
export class CorrelationIds {
  private next = 1;
  /** A fresh id, unique for this client until 2^31 - 1 ids wrap around. */
  take(): number {
    const id = this.next;
    this.next = this.next === 2147483647 ? 1 : this.next + 1;
    return id;
  }
}
