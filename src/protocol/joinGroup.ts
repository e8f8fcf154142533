/**
 * JoinGroup (Kafka API 11): a member joins (or rejoins) a classic consumer group; the answer comes
 * when the join phase of the rebalance completes. The coordinator answers in place of the group
 * with NOT_COORDINATOR, COORDINATOR_LOAD_IN_PROGRESS or INVALID_GROUP_ID, without the other fields.
 */
import type { RequestHeader, ResponseHeader } from './common.ts';

/** One assignment protocol a member supports, in the member's order of preference. */
export interface JoinGroupProtocol {
  /** Protocol (assignor) name, e.g. `'range'`. */
  readonly name: string;
  /** Subscription metadata (topics, owned partitions, generation); plain data. */
  readonly metadata: unknown;
}

/** `joinGroup.request`. `memberId` is `''` for a member that has none yet. */
export interface JoinGroupRequest extends RequestHeader {
  readonly type: 'joinGroup.request';
  readonly groupId: string;
  readonly memberId: string;
  /** Static membership (KIP-345): the member's `group.instance.id`. */
  readonly groupInstanceId?: string;
  /** The client's `client.id`; the prefix of a generated dynamic member id. */
  readonly clientId?: string;
  /** The client's host, reported by DescribeGroups. */
  readonly clientHost?: string;
  readonly sessionTimeoutMs: number;
  /** The member's `max.poll.interval.ms`; the group's rebalance timeout is the members' maximum. */
  readonly rebalanceTimeoutMs: number;
  readonly protocolType: string;
  readonly protocols: readonly JoinGroupProtocol[];
  /** Free-text reason, quoted in the rebalance reason. */
  readonly reason?: string;
}

/** One member as listed in the leader's JoinGroup response. */
export interface JoinGroupResponseMember {
  readonly memberId: string;
  readonly groupInstanceId?: string;
  /** The member's metadata for the selected protocol. */
  readonly metadata: unknown;
}

/** `joinGroup.response`: the leader gets every member's metadata, followers an empty list. */
export interface JoinGroupResponse extends ResponseHeader {
  readonly type: 'joinGroup.response';
  /** The member's id (a fresh one with MEMBER_ID_REQUIRED, `''` when the group does not know it). */
  readonly memberId?: string;
  /** -1 on errors. */
  readonly generationId?: number;
  readonly protocolType?: string | null;
  readonly protocolName?: string | null;
  /** The leader's member id, `''` on errors. */
  readonly leader?: string;
  /** True when a rejoining static leader must not recompute the assignment (KIP-345). */
  readonly skipAssignment?: boolean;
  readonly members?: readonly JoinGroupResponseMember[];
}
