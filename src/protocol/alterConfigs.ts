/** IncrementalAlterConfigs (Kafka API 44) for topics: config overrides set through the controller. */
import type { ControllerResponseHeader, RequestHeader } from './common.ts';
import type { TopicResult } from './createTopics.ts';

/** A topic and the overrides to set, with Kafka keys. */
export interface TopicConfigChange {
  readonly name: string;
  readonly config: Readonly<Record<string, unknown>>;
}

/** `alterConfigs.request`. */
export interface AlterConfigsRequest extends RequestHeader {
  readonly type: 'alterConfigs.request';
  readonly topics: readonly TopicConfigChange[];
}

/** `alterConfigs.response`: one result per requested topic (none with NOT_CONTROLLER). */
export interface AlterConfigsResponse extends ControllerResponseHeader {
  readonly type: 'alterConfigs.response';
  readonly results?: readonly TopicResult[];
}
