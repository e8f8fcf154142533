/** LeaveGroup on a classic group (Kafka's `classicGroupLeave`). */
import { groupErrorFields } from '../group.events.ts';
import type { GroupErrorName, LeaveGroupMemberResponse, LeaveGroupRequest } from '../group.events.ts';
import { isPendingMember, staticMemberId, validateMember } from '../groupState.ts';
import type { GroupStateName } from '../groupState.ts';
import { maybeCompleteJoinPhase, maybePrepareRebalanceOrCompleteJoin, removeCurrentMember, removePendingMember } from './rebalance.ts';
import type { StepBuilder } from './step.ts';

/**
 * LeaveGroup (Kafka's `classicGroupLeave`, batched v3+): removes each member that may leave and
 * answers per member; a removal from Stable or CompletingRebalance starts a rebalance.
 */
export function onLeave(b: StepBuilder, req: LeaveGroupRequest): GroupStateName {
  if (b.state === 'Dead') {
    b.respond(req, { type: 'leaveGroup.response', correlationId: req.correlationId, ...groupErrorFields('COORDINATOR_NOT_AVAILABLE'), members: [] });
    return b.state;
  }
  const results: LeaveGroupMemberResponse[] = [];
  const left: string[] = [];
  for (const identity of req.members) {
    const echo = { memberId: identity.memberId, ...(identity.groupInstanceId === undefined ? {} : { groupInstanceId: identity.groupInstanceId }) };
    let error: GroupErrorName | null = null;
    if (identity.memberId === '') {
      // Administrative removal of a static member by its instance id.
      const registered = identity.groupInstanceId === undefined ? undefined : staticMemberId(b.group, identity.groupInstanceId);
      if (registered === undefined) error = 'UNKNOWN_MEMBER_ID';
      else removeCurrentMember(b, registered, 'leaveGroup');
    } else if (isPendingMember(b.group, identity.memberId)) {
      removePendingMember(b, identity.memberId, 'leaveGroup');
    } else {
      error = validateMember(b.group, identity.memberId, identity.groupInstanceId);
      if (error === null) removeCurrentMember(b, identity.memberId, 'leaveGroup');
    }
    results.push({ ...echo, ...groupErrorFields(error) });
    if (error === null) left.push(identity.memberId);
  }
  let next: GroupStateName = b.state;
  if (left.length > 0) {
    if (b.state === 'Stable' || b.state === 'CompletingRebalance') {
      next = maybePrepareRebalanceOrCompleteJoin(b, `explicit \`LeaveGroup\` request for (${left.join(', ')}) members.`);
    } else if (b.state === 'PreparingRebalance') {
      next = maybeCompleteJoinPhase(b);
    }
  }
  b.respond(req, { type: 'leaveGroup.response', correlationId: req.correlationId, errorCode: 0, members: results });
  return next;
}
