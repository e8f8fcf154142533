/**
 * The messages nodes exchange, named after Kafka's APIs (`produce.request`, `fetch.response`, …).
 * Every message is plain, structured-clone-safe data, so the NATS transport carries them as they
 * are. Requests carry a `correlationId`; responses echo it. Errors travel as Kafka error names
 * (`errorCode` is Kafka's number) plus an optional message.
 */
import type { KafkaErrorName } from '../errors.ts';
import { KAFKA_ERRORS } from '../errors.ts';

/** A partition-level error as it travels in a response. */
export interface WireError {
  readonly error: KafkaErrorName | string;
  readonly errorCode: number;
  readonly message?: string;
}

/** Builds the wire form of a Kafka error. */
export function wireError(name: KafkaErrorName, message?: string): WireError {
  return { error: name, errorCode: KAFKA_ERRORS[name].code, ...(message === undefined ? {} : { message }) };
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
  readonly fenced: boolean;
}

/** The metadata image the controller owns and brokers replicate. */
export interface ClusterMetadataImage {
  /** Bumped on every change; brokers ignore older images. */
  readonly version: number;
  readonly clusterId: string;
  readonly controllerId: number;
  readonly brokers: readonly BrokerRegistration[];
  readonly topics: Readonly<Record<string, TopicMetadata>>;
}

/** A partition's records in a produce request: whole record batches, back to back. */
export interface ProducePartitionData {
  readonly topic: string;
  readonly partition: number;
  readonly records: Uint8Array;
}

/** `produce.request`: appends batches to partitions led by the receiving broker. */
export interface ProduceRequest {
  readonly type: 'produce.request';
  readonly correlationId: number;
  /** 0, 1 or -1 (all). With 0 the broker sends no response. */
  readonly acks: 0 | 1 | -1;
  readonly timeoutMs: number;
  readonly partitions: readonly ProducePartitionData[];
}

/** Result of one partition of a produce request. */
export interface ProducePartitionResult extends Partial<WireError> {
  readonly topic: string;
  readonly partition: number;
  /** Offset of the first appended record, -1n on error. */
  readonly baseOffset: bigint;
  readonly logAppendTime: number;
  readonly logStartOffset: bigint;
}

/** `produce.response`. */
export interface ProduceResponse {
  readonly type: 'produce.response';
  readonly correlationId: number;
  readonly partitions: readonly ProducePartitionResult[];
}

/** A partition to fetch from. */
export interface FetchPartition {
  readonly topic: string;
  readonly partition: number;
  readonly fetchOffset: bigint;
  readonly partitionMaxBytes: number;
  /** The leader epoch the client believes in, -1 when unknown (KIP-320). */
  readonly currentLeaderEpoch: number;
}

/** `fetch.request`: reads batches; parks up to `maxWaitMs` until `minBytes` are available. */
export interface FetchRequest {
  readonly type: 'fetch.request';
  readonly correlationId: number;
  /** -1 for consumers; a broker id for follower fetches. */
  readonly replicaId: number;
  readonly maxWaitMs: number;
  readonly minBytes: number;
  readonly maxBytes: number;
  readonly isolationLevel: 'read_uncommitted' | 'read_committed';
  readonly partitions: readonly FetchPartition[];
}

/** Data of one partition in a fetch response. */
export interface FetchPartitionResult extends Partial<WireError> {
  readonly topic: string;
  readonly partition: number;
  readonly highWatermark: bigint;
  readonly lastStableOffset: bigint;
  readonly logStartOffset: bigint;
  /** Whole record batches as stored. */
  readonly records: Uint8Array;
}

/** `fetch.response`. */
export interface FetchResponse {
  readonly type: 'fetch.response';
  readonly correlationId: number;
  readonly partitions: readonly FetchPartitionResult[];
}

/** Next correlation id source for a client. */
export class CorrelationIds {
  private next = 1;
  /** A fresh id, unique for this client. */
  take(): number {
    const id = this.next;
    this.next = this.next === 2147483647 ? 1 : this.next + 1;
    return id;
  }
}
