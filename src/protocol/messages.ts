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
  /**
   * Follower fetches only: the epoch of the last batch in the follower's log, -1 when none. The
   * leader answers a `divergingEpoch` when its log differs there (KIP-279 over Fetch, KAFKA-10554).
   */
  readonly lastFetchedEpoch?: number;
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
  /**
   * Whole record batches as stored, in runs laid end to end in offset order (views of the leader's
   * log, never copied on the way; read-only). `[]` when there is nothing to return.
   */
  readonly records: readonly Uint8Array[];
  /**
   * Follower fetches only: the follower's log diverges from the leader's at this epoch; it must
   * truncate (by epoch, never by high watermark) and fetch again. No records come with it.
   */
  readonly divergingEpoch?: { readonly epoch: number; readonly endOffset: bigint };
  /** read_committed fetches: the aborted transactions overlapping the records (Kafka's AbortedTransactions). */
  readonly abortedTransactions?: ReadonlyArray<{ readonly producerId: bigint; readonly firstOffset: bigint }>;
}

/** `fetch.response`. */
export interface FetchResponse {
  readonly type: 'fetch.response';
  readonly correlationId: number;
  readonly partitions: readonly FetchPartitionResult[];
}

/** `brokerRegistration.request`: a broker process asks to join (Kafka's BrokerRegistration). */
export interface BrokerRegistrationRequest {
  readonly type: 'brokerRegistration.request';
  readonly correlationId: number;
  readonly brokerId: number;
  /** New for every process start; a different one while the old session lives is a duplicate. */
  readonly incarnationId: string;
}

/** `brokerHeartbeat.request`: sent every `broker.heartbeat.interval.ms` to keep the session alive. */
export interface BrokerHeartbeatRequest {
  readonly type: 'brokerHeartbeat.request';
  readonly correlationId: number;
  readonly brokerId: number;
  readonly brokerEpoch: number;
  /** Version of the newest metadata image the broker applied. */
  readonly currentMetadataVersion: number;
}

/** `alterPartition.request`: a leader proposes a new ISR (KIP-497); one partition per request. */
export interface AlterPartitionRequest {
  readonly type: 'alterPartition.request';
  readonly correlationId: number;
  readonly brokerId: number;
  readonly topic: string;
  readonly partition: number;
  /** The leader's epoch; a stale one is FENCED_LEADER_EPOCH. */
  readonly leaderEpoch: number;
  /** The partition epoch the proposal is based on; a stale one is INVALID_UPDATE_VERSION. */
  readonly partitionEpoch: number;
  readonly newIsr: readonly number[];
}

/** `alterPartition.response`: the partition state the controller committed, or the error. */
export interface AlterPartitionResponse extends Partial<WireError> {
  readonly type: 'alterPartition.response';
  readonly correlationId: number;
  readonly topic: string;
  readonly partition: number;
  readonly leader?: number;
  readonly leaderEpoch?: number;
  readonly partitionEpoch?: number;
  readonly isr?: readonly number[];
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
