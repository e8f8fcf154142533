/** CreatePartitions (Kafka API 37): grows topics to a new partition count. */
import type { ControllerResponseHeader, RequestHeader } from './common.ts';
import type { TopicResult } from './createTopics.ts';

/** A topic and its new total partition count. */
export interface NewPartitions {
  readonly name: string;
  readonly count: number;
}

/** `createPartitions.request`. */
export interface CreatePartitionsRequest extends RequestHeader {
  readonly type: 'createPartitions.request';
  readonly topics: readonly NewPartitions[];
}

/** `createPartitions.response`: one result per requested topic (none with NOT_CONTROLLER). */
export interface CreatePartitionsResponse extends ControllerResponseHeader {
  readonly type: 'createPartitions.response';
  readonly results?: readonly TopicResult[];
}
