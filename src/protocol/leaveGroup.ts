/** LeaveGroup (Kafka API 13, the batched form of v3+): members leave a group at once. */
import type { RequestHeader, ResponseHeader, WireError } from './common.ts';

/** One member leaving; `memberId: ''` with a `groupInstanceId` removes a static member by instance id. */
export interface LeaveGroupMember {
  readonly memberId: string;
  readonly groupInstanceId?: string;
  readonly reason?: string;
}

/** `leaveGroup.request`. */
export interface LeaveGroupRequest extends RequestHeader {
  readonly type: 'leaveGroup.request';
  readonly groupId: string;
  readonly members: readonly LeaveGroupMember[];
}

/** The outcome for one member of a LeaveGroup. */
export interface LeaveGroupMemberResponse extends Partial<WireError> {
  readonly memberId: string;
  readonly groupInstanceId?: string;
}

/** `leaveGroup.response`: per-member errors; the top-level error is set only for a Dead group or a coordinator error. */
export interface LeaveGroupResponse extends ResponseHeader {
  readonly type: 'leaveGroup.response';
  readonly members?: readonly LeaveGroupMemberResponse[];
}
