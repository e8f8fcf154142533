/**
 * Metadata (Kafka API 3): a broker's view of the cluster. samsa answers with the whole metadata
 * image the broker replicated (brokers, topics, partitions, leaders, ISRs) plus an error per
 * requested topic it does not know.
 */
import type { ClusterMetadataImage, RequestHeader, ResponseHeader } from './common.ts';

/** `metadata.request`: `topics` names the topics the client needs (all when absent). */
export interface MetadataRequest extends RequestHeader {
  readonly type: 'metadata.request';
  readonly topics?: readonly string[] | undefined;
  /** Missing topics are created when this is true and the broker's `auto.create.topics.enable` is. */
  readonly allowAutoTopicCreation?: boolean;
}

/** A partition whose log a broker could not open (samsa's addition, so createTopic can report it). */
export interface StorageErrorReport {
  readonly topic: string;
  readonly partition: number;
  /** The log directory that failed. */
  readonly path: string;
  readonly message: string;
}

/**
 * `metadata.response`: the broker's image, or BROKER_NOT_AVAILABLE before it has one. A requested
 * topic it does not know is in `topicErrors` (LEADER_NOT_AVAILABLE while it is being
 * auto-created, else UNKNOWN_TOPIC_OR_PARTITION).
 */
export interface MetadataResponse extends ResponseHeader {
  readonly type: 'metadata.response';
  readonly image?: ClusterMetadataImage;
  readonly topicErrors?: Readonly<Record<string, string>>;
  readonly storageErrors?: readonly StorageErrorReport[];
}
