/**
 * Messages of the classic consumer group actor ({@link groupMachine}): the requests it accepts,
 * the responses it emits, the timer events it schedules on its own clock and the `@samsa.group.*`
 * inspection events it emits.
 *
 * Every message is plain structured-clone-safe data. Requests carry `correlationId` and
 * `replyTo`; each request is answered by exactly one response with the same `correlationId`,
 * emitted as a {@link GroupResponseEnvelope} addressed to `replyTo` (a parked JoinGroup or
 * SyncGroup is answered later, when the rebalance step that releases it happens).
 *
 * Naming: a request is `<kafkaApi>.request` and its answer `<kafkaApi>.response`; the two
 * commands that are not Kafka APIs of their own (`offsetCommit.validate`, `group.delete`) are
 * answered by `<command>Response`.
 *
 * @see groupMachine
 */
import { KAFKA_ERRORS } from '../../errors.ts';
import type { KafkaErrorName } from '../../errors.ts';
import type { GroupMetadata } from './groupMetadata.ts';

/* ------------------------------------------------------------------------------------------ */
/* Errors                                                                                      */
/* ------------------------------------------------------------------------------------------ */

/**
 * Kafka group errors that `src/errors.ts` does not list yet. Names and numbers are Kafka's
 * (`org.apache.kafka.common.protocol.Errors`).
 */
export const GROUP_ONLY_ERRORS = {
  NON_EMPTY_GROUP: { code: 68, retriable: false, message: 'the group is not empty' },
  GROUP_ID_NOT_FOUND: { code: 69, retriable: false, message: 'the group id does not exist' },
} as const;

/** Name of an error a group response can carry. */
export type GroupErrorName = KafkaErrorName | keyof typeof GROUP_ONLY_ERRORS;

/** The `errorCode`/`error` pair of a response: code 0 and no name when `name` is undefined. */
export interface GroupErrorFields {
  /** Kafka's numeric error code; 0 means no error. */
  readonly errorCode: number;
  /** Kafka's error name; absent when `errorCode` is 0. */
  readonly error?: GroupErrorName;
}

/** Whether `name` is an error a group response can carry (Kafka's or one of {@link GROUP_ONLY_ERRORS}). */
export function isGroupErrorName(name: string): name is GroupErrorName {
  return Object.hasOwn(KAFKA_ERRORS, name) || Object.hasOwn(GROUP_ONLY_ERRORS, name);
}

/** Returns the wire fields of `name` (Kafka's numeric code and the name), or code 0 for none. */
export function groupErrorFields(name: GroupErrorName | null | undefined): GroupErrorFields {
  if (name === null || name === undefined) return { errorCode: 0 };
  const info = name in GROUP_ONLY_ERRORS ? GROUP_ONLY_ERRORS[name as keyof typeof GROUP_ONLY_ERRORS] : KAFKA_ERRORS[name as KafkaErrorName];
  return { errorCode: info.code, error: name };
}

/* ------------------------------------------------------------------------------------------ */
/* Requests                                                                                    */
/* ------------------------------------------------------------------------------------------ */

/** Routing fields every request carries. */
export interface GroupRequestEnvelope {
  /** Echoed in the response; unique per sender. */
  readonly correlationId: number;
  /** Address the response is emitted to (an actor system id or a connection id). */
  readonly replyTo: string;
}

/** One assignment protocol a member supports, in the member's order of preference. */
export interface JoinGroupProtocol {
  /** Protocol (assignor) name, e.g. `'range'`. */
  readonly name: string;
  /** Opaque subscription metadata; compared structurally to detect a metadata change. */
  readonly metadata: unknown;
}

/** JoinGroup (Kafka API 11). `memberId` is `''` for a member that has none yet. */
export interface JoinGroupRequest extends GroupRequestEnvelope {
  readonly type: 'joinGroup.request';
  readonly memberId: string;
  /** Static membership (KIP-345): the member's `group.instance.id`. */
  readonly groupInstanceId?: string;
  /** The client's `client.id`; the prefix of a generated dynamic member id. Default `'consumer'`. */
  readonly clientId?: string;
  /** The client's host, reported by DescribeGroups. Default `''`. */
  readonly clientHost?: string;
  readonly sessionTimeoutMs: number;
  /** The member's `max.poll.interval.ms`; the group's rebalance timeout is the members' maximum. */
  readonly rebalanceTimeoutMs: number;
  readonly protocolType: string;
  readonly protocols: readonly JoinGroupProtocol[];
  /** Free-text reason, quoted in the rebalance reason. */
  readonly reason?: string;
}

/** A member's assignment as sent by the leader in SyncGroup. */
export interface SyncGroupAssignment {
  readonly memberId: string;
  /** Opaque assignment bytes or data. */
  readonly assignment: unknown;
}

/** SyncGroup (Kafka API 14). Only the leader sends `assignments`; followers send `[]`. */
export interface SyncGroupRequest extends GroupRequestEnvelope {
  readonly type: 'syncGroup.request';
  readonly memberId: string;
  readonly generationId: number;
  readonly groupInstanceId?: string;
  /** Checked against the group's protocol type when present (SyncGroup v5+). */
  readonly protocolType?: string;
  /** Checked against the group's selected protocol when present (SyncGroup v5+). */
  readonly protocolName?: string;
  readonly assignments: readonly SyncGroupAssignment[];
}

/** Heartbeat (Kafka API 12). */
export interface HeartbeatRequest extends GroupRequestEnvelope {
  readonly type: 'heartbeat.request';
  readonly memberId: string;
  readonly generationId: number;
  readonly groupInstanceId?: string;
}

/** One member leaving; `memberId: ''` with a `groupInstanceId` removes a static member by instance id. */
export interface LeaveGroupMember {
  readonly memberId: string;
  readonly groupInstanceId?: string;
  readonly reason?: string;
}

/** LeaveGroup (Kafka API 13, batched form of v3+). */
export interface LeaveGroupRequest extends GroupRequestEnvelope {
  readonly type: 'leaveGroup.request';
  readonly members: readonly LeaveGroupMember[];
}

/**
 * Asks whether an OffsetCommit from this member and generation may be stored now. The offsets
 * themselves are stored by the coordinator; the group only rules on membership and generation.
 */
export interface OffsetCommitValidateRequest extends GroupRequestEnvelope {
  readonly type: 'offsetCommit.validate';
  /** `''` for a simple (manually assigned) consumer or an admin client. */
  readonly memberId: string;
  /** `-1` for a simple consumer or an admin client. */
  readonly generationId: number;
  readonly groupInstanceId?: string;
  /** TxnOffsetCommit (KIP-447): the group state is not enforced, only member and generation. */
  readonly transactional?: boolean;
}

/** DescribeGroups (Kafka API 15) for this group. */
export interface DescribeGroupRequest extends GroupRequestEnvelope {
  readonly type: 'describeGroup.request';
}

/** DeleteGroups (Kafka API 42) for this group: allowed only when the group is Empty. */
export interface DeleteGroupRequest extends GroupRequestEnvelope {
  readonly type: 'group.delete';
}

/**
 * The coordinator gave up the group's offsets partition (Kafka's `onGroupUnloaded`): parked
 * JoinGroups and SyncGroups are answered NOT_COORDINATOR and the group is Dead on this broker.
 */
export interface GroupUnloadCommand {
  readonly type: 'group.unload';
}

/** Every request the group actor answers. */
export type GroupRequest =
  | JoinGroupRequest
  | SyncGroupRequest
  | HeartbeatRequest
  | LeaveGroupRequest
  | OffsetCommitValidateRequest
  | DescribeGroupRequest
  | DeleteGroupRequest;

/* ------------------------------------------------------------------------------------------ */
/* Timer events (scheduled by the machine on its own clock)                                    */
/* ------------------------------------------------------------------------------------------ */

/** A member's session (or a pending member's, or a new member's join) timer fired. */
export interface MemberSessionExpiredEvent {
  readonly type: 'member.sessionExpired';
  readonly memberId: string;
}

/** The rebalance timeout of a PreparingRebalance phase fired. */
export interface JoinTimedOutEvent {
  readonly type: 'join.timedOut';
}

/** One step of the initial rebalance delay (Kafka's InitialDelayedJoin) elapsed. */
export interface JoinInitialDelayElapsedEvent {
  readonly type: 'join.initialDelayElapsed';
  /** The delay that just elapsed. */
  readonly delayMs: number;
  /** How much of the rebalance timeout remains for further extensions. */
  readonly remainingMs: number;
}

/** The pending-sync timer of a generation fired (members that never sent SyncGroup are removed). */
export interface SyncTimedOutEvent {
  readonly type: 'sync.timedOut';
  readonly generationId: number;
}

/** Events the machine schedules for itself; harmless when stale, since each is re-validated. */
export type GroupTimerEvent = MemberSessionExpiredEvent | JoinTimedOutEvent | JoinInitialDelayElapsedEvent | SyncTimedOutEvent;

/* ------------------------------------------------------------------------------------------ */
/* Persistence (between the group and its host)                                                */
/* ------------------------------------------------------------------------------------------ */

/**
 * The host's answer to a {@link GroupMetadataChangedEvent} with `awaitsStore`: the GroupMetadata
 * record of `generationId` was appended to `__consumer_offsets` (or failed with `error`). Only
 * then does the group become Stable and answer the parked SyncGroups, as Kafka's coordinator
 * completes the leader's SyncGroup once the record is written. Stale answers (another
 * generation, or the group moved on) are ignored.
 */
export interface GroupMetadataStoredEvent {
  readonly type: 'group.metadataStored';
  readonly generationId: number;
  /**
   * The append's error name (e.g. `NOT_LEADER_OR_FOLLOWER`), absent on success; the parked
   * SyncGroups get Kafka's `appendGroupMetadataErrorToResponseError` of it and the group rebalances.
   */
  readonly error?: string;
}

/** Everything the group actor accepts. */
export type GroupEvent = GroupRequest | GroupTimerEvent | GroupMetadataStoredEvent | GroupUnloadCommand;

/* ------------------------------------------------------------------------------------------ */
/* Responses                                                                                   */
/* ------------------------------------------------------------------------------------------ */

/** Fields every response carries. */
export interface GroupResponseBase extends GroupErrorFields {
  readonly correlationId: number;
}

/** One member as listed in the leader's JoinGroup response. */
export interface JoinGroupResponseMember {
  readonly memberId: string;
  readonly groupInstanceId?: string;
  /** The member's metadata for the selected protocol. */
  readonly metadata: unknown;
}

/** JoinGroup response: the leader gets every member's metadata, followers an empty list. */
export interface JoinGroupResponse extends GroupResponseBase {
  readonly type: 'joinGroup.response';
  /** The member's id (a fresh one with MEMBER_ID_REQUIRED, `''` when the group does not know it). */
  readonly memberId: string;
  /** -1 on errors. */
  readonly generationId: number;
  readonly protocolType: string | null;
  readonly protocolName: string | null;
  /** The leader's member id, `''` on errors. */
  readonly leader: string;
  /** True when a rejoining static leader must not recompute the assignment (KIP-345). */
  readonly skipAssignment: boolean;
  readonly members: readonly JoinGroupResponseMember[];
}

/** SyncGroup response: the member's assignment (`null` when it has none). */
export interface SyncGroupResponse extends GroupResponseBase {
  readonly type: 'syncGroup.response';
  readonly protocolType: string | null;
  readonly protocolName: string | null;
  readonly assignment: unknown;
}

/** Heartbeat response. */
export interface HeartbeatResponse extends GroupResponseBase {
  readonly type: 'heartbeat.response';
}

/** The outcome for one member of a LeaveGroup. */
export interface LeaveGroupMemberResponse extends GroupErrorFields {
  readonly memberId: string;
  readonly groupInstanceId?: string;
}

/** LeaveGroup response (v3+): per-member errors; the top-level error is set only for a Dead group. */
export interface LeaveGroupResponse extends GroupResponseBase {
  readonly type: 'leaveGroup.response';
  readonly members: readonly LeaveGroupMemberResponse[];
}

/** Answer to {@link OffsetCommitValidateRequest}: code 0 means the commit may be stored. */
export interface OffsetCommitValidateResponse extends GroupResponseBase {
  readonly type: 'offsetCommit.validateResponse';
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

/** DescribeGroups response for this group. */
export interface DescribeGroupResponse extends GroupResponseBase {
  readonly type: 'describeGroup.response';
  readonly groupId: string;
  /** Kafka's state name: `Empty`, `PreparingRebalance`, `CompletingRebalance`, `Stable` or `Dead`. */
  readonly state: string;
  readonly protocolType: string;
  /** The selected protocol when Stable, else `''`. */
  readonly protocolData: string;
  readonly members: readonly DescribedGroupMember[];
}

/** Answer to {@link DeleteGroupRequest}. */
export interface DeleteGroupResponse extends GroupResponseBase {
  readonly type: 'group.deleteResponse';
  readonly groupId: string;
}

/** Every response the group actor emits. */
export type GroupResponse =
  | JoinGroupResponse
  | SyncGroupResponse
  | HeartbeatResponse
  | LeaveGroupResponse
  | OffsetCommitValidateResponse
  | DescribeGroupResponse
  | DeleteGroupResponse;

/** The emitted event that carries a response to its requester; subscribe with `actor.on('response', …)`. */
export interface GroupResponseEnvelope {
  readonly type: 'response';
  /** The request's `replyTo`. */
  readonly to: string;
  readonly response: GroupResponse;
}

/* ------------------------------------------------------------------------------------------ */
/* Inspection events                                                                           */
/* ------------------------------------------------------------------------------------------ */

/** Why a member left the group. */
export type MemberRemovalReason =
  | 'leaveGroup'
  | 'sessionTimeout'
  | 'rebalanceTimeout'
  | 'syncTimeout'
  | 'groupMaxSizeReached';

/** A member entered the group (after KIP-394's MEMBER_ID_REQUIRED round-trip for dynamic members). */
export interface MemberAddedEvent {
  readonly type: '@samsa.group.memberAdded';
  readonly groupId: string;
  readonly memberId: string;
  readonly groupInstanceId?: string;
}

/** A member (or a pending member, before it ever joined) left the group. */
export interface MemberRemovedEvent {
  readonly type: '@samsa.group.memberRemoved';
  readonly groupId: string;
  readonly memberId: string;
  readonly groupInstanceId?: string;
  readonly reason: MemberRemovalReason;
}

/** A restarted static member took over its instance's slot under a new member id; the old id is fenced. */
export interface MemberReplacedEvent {
  readonly type: '@samsa.group.memberReplaced';
  readonly groupId: string;
  readonly groupInstanceId: string;
  readonly oldMemberId: string;
  readonly newMemberId: string;
}

/** The group entered PreparingRebalance. `generationId` is the generation being replaced. */
export interface RebalanceStartedEvent {
  readonly type: '@samsa.group.rebalanceStarted';
  readonly groupId: string;
  readonly generationId: number;
  readonly reason: string;
}

/** The join phase completed: a new generation, leader and protocol; the group awaits the leader's SyncGroup. */
export interface JoinCompletedEvent {
  readonly type: '@samsa.group.joinCompleted';
  readonly groupId: string;
  readonly generationId: number;
  readonly protocolName: string;
  readonly leaderId: string;
  /** Member ids, in join order. */
  readonly members: readonly string[];
}

/** The leader's assignment was distributed; the group is Stable. */
export interface GroupStabilizedEvent {
  readonly type: '@samsa.group.stabilized';
  readonly groupId: string;
  readonly generationId: number;
  readonly protocolName: string;
  readonly leaderId: string;
  /** Member ids, in join order. */
  readonly members: readonly string[];
}

/** A join phase ended with no members; the group is Empty under the new generation. */
export interface GroupEmptiedEvent {
  readonly type: '@samsa.group.emptied';
  readonly groupId: string;
  readonly generationId: number;
}

/** The group was deleted and is Dead. */
export interface GroupDeletedEvent {
  readonly type: '@samsa.group.deleted';
  readonly groupId: string;
}

/** The `@samsa.group.*` inspection events, for tests and tooling. */
export type GroupInspectionEvent =
  | MemberAddedEvent
  | MemberRemovedEvent
  | MemberReplacedEvent
  | RebalanceStartedEvent
  | JoinCompletedEvent
  | GroupStabilizedEvent
  | GroupEmptiedEvent
  | GroupDeletedEvent;

/**
 * The group's persistent metadata changed, at exactly the moments Kafka writes a GroupMetadata
 * record to `__consumer_offsets`: a generation's assignment is about to be installed (the leader's
 * SyncGroup; `awaitsStore` is true), the group became Empty (generation kept, no members), or it
 * was deleted (`metadata` is null: a tombstone). The host appends the record; when `awaitsStore`
 * is true it must answer with {@link GroupMetadataStoredEvent} for `metadata.generation`.
 */
export interface GroupMetadataChangedEvent {
  readonly type: 'group.metadataChanged';
  readonly groupId: string;
  /** The record to write; null for a tombstone. */
  readonly metadata: GroupMetadata | null;
  /** True when the group waits for the append before it becomes Stable. */
  readonly awaitsStore: boolean;
}

/** Everything the group actor emits. */
export type GroupEmitted = GroupResponseEnvelope | GroupInspectionEvent | GroupMetadataChangedEvent;

/* ------------------------------------------------------------------------------------------ */
/* Creators                                                                                    */
/* ------------------------------------------------------------------------------------------ */

/** Builds a `joinGroup.request`. */
export function joinGroupRequest(fields: Omit<JoinGroupRequest, 'type'>): JoinGroupRequest {
  return { type: 'joinGroup.request', ...fields };
}

/** Builds a `syncGroup.request`; `assignments` defaults to `[]` (a follower's SyncGroup). */
export function syncGroupRequest(fields: Omit<SyncGroupRequest, 'type' | 'assignments'> & { assignments?: readonly SyncGroupAssignment[] }): SyncGroupRequest {
  return { type: 'syncGroup.request', ...fields, assignments: fields.assignments ?? [] };
}

/** Builds a `heartbeat.request`. */
export function heartbeatRequest(fields: Omit<HeartbeatRequest, 'type'>): HeartbeatRequest {
  return { type: 'heartbeat.request', ...fields };
}

/** Builds a `leaveGroup.request`. */
export function leaveGroupRequest(fields: Omit<LeaveGroupRequest, 'type'>): LeaveGroupRequest {
  return { type: 'leaveGroup.request', ...fields };
}

/** Builds an `offsetCommit.validate` request. */
export function offsetCommitValidate(fields: Omit<OffsetCommitValidateRequest, 'type'>): OffsetCommitValidateRequest {
  return { type: 'offsetCommit.validate', ...fields };
}

/** Builds a `describeGroup.request`. */
export function describeGroupRequest(fields: Omit<DescribeGroupRequest, 'type'>): DescribeGroupRequest {
  return { type: 'describeGroup.request', ...fields };
}

/** Builds a `group.delete` request. */
export function deleteGroup(fields: Omit<DeleteGroupRequest, 'type'>): DeleteGroupRequest {
  return { type: 'group.delete', ...fields };
}
