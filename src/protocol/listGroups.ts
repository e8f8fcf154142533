/** ListGroups (Kafka API 16): the groups a broker coordinates. */
import type { RequestHeader, ResponseHeader } from './common.ts';

/** `listGroups.request`. */
export interface ListGroupsRequest extends RequestHeader {
  readonly type: 'listGroups.request';
}

/** One group a broker coordinates. */
export interface ListedGroup {
  readonly groupId: string;
  /** Kafka's state name (`Empty`, `Stable`, …). */
  readonly state: string;
  readonly protocolType: string;
}

/** `listGroups.response`. */
export interface ListGroupsResponse extends ResponseHeader {
  readonly type: 'listGroups.response';
  readonly groups?: readonly ListedGroup[];
}
