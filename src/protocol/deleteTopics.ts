/** DeleteTopics (Kafka API 20): the active controller removes topics from the metadata log. */
import type { ControllerResponseHeader, RequestHeader } from './common.ts';
import type { TopicResult } from './createTopics.ts';

/** `deleteTopics.request`. */
export interface DeleteTopicsRequest extends RequestHeader {
  readonly type: 'deleteTopics.request';
  readonly names: readonly string[];
}

/** `deleteTopics.response`: one result per requested topic (none with NOT_CONTROLLER). */
export interface DeleteTopicsResponse extends ControllerResponseHeader {
  readonly type: 'deleteTopics.response';
  readonly results?: readonly TopicResult[];
}
