/** DescribeGroups (Kafka API 15) for one group. */
import type { RequestHeader, ResponseHeader } from './common.ts';

/** `describeGroup.request`. */
export interface DescribeGroupRequest extends RequestHeader {
  readonly type: 'describeGroup.request';
  readonly groupId: string;
}

/** One member in a DescribeGroups response; metadata and assignment only when the group is Stable. */
export interface DescribedGroupMember {
  readonly memberId: string;
  readonly groupInstanceId?: string;
  readonly clientId: string;
  readonly clientHost: string;
  readonly metadata: unknown;
  readonly assignment: unknown;
}

/** `describeGroup.response` (only the error when the coordinator answers in place of the group). */
export interface DescribeGroupResponse extends ResponseHeader {
  readonly type: 'describeGroup.response';
  readonly groupId?: string;
  /** Kafka's state name: `Empty`, `PreparingRebalance`, `CompletingRebalance`, `Stable` or `Dead`. */
  readonly state?: string;
  readonly protocolType?: string;
  /** The selected protocol when Stable, else `''`. */
  readonly protocolData?: string;
  readonly members?: readonly DescribedGroupMember[];
}
