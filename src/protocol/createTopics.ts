/** CreateTopics (Kafka API 19): the active controller adds topics to the metadata log. */
import type { ControllerResponseHeader, RequestHeader, WireError } from './common.ts';

/** A topic to create. */
export interface NewTopic {
  readonly name: string;
  readonly numPartitions: number;
  readonly replicationFactor: number;
  /** Topic config overrides with Kafka keys (`'min.insync.replicas'`, `'cleanup.policy'`, …). */
  readonly config?: Readonly<Record<string, unknown>>;
  /** Internal topics (`__consumer_offsets`, `__transaction_state`) are created by brokers only. */
  readonly internal?: boolean;
}

/** `createTopics.request`. */
export interface CreateTopicsRequest extends RequestHeader {
  readonly type: 'createTopics.request';
  readonly topics: readonly NewTopic[];
}

/** The outcome for one topic of an admin request: an error, or none on success. */
export interface TopicResult extends Partial<WireError> {
  readonly name: string;
}

/** `createTopics.response`: one result per requested topic (none with NOT_CONTROLLER). */
export interface CreateTopicsResponse extends ControllerResponseHeader {
  readonly type: 'createTopics.response';
  readonly results?: readonly TopicResult[];
}
