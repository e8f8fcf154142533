/**
 * SyncGroup on a classic group, and the host's answer to the write of the leader's assignment
 * (Kafka's `classicGroupSync`, `classicGroupSyncToLeader` and their append callback).
 */
import { coordinatorAppendError } from '../../../coordinatorAppendErrors.ts';
import { isGroupErrorName } from '../group.events.ts';
import type { GroupErrorName, GroupMetadataStoredEvent, SyncGroupRequest } from '../group.events.ts';
import { findMember, isLeader, updateMember, validateMember } from '../groupState.ts';
import type { GroupStateName } from '../groupState.ts';
import { maybePrepareRebalanceOrCompleteJoin } from './rebalance.ts';
import { respondSync, scheduleSession, SYNC_TIMER } from './step.ts';
import type { StepBuilder } from './step.ts';

/**
 * SyncGroup (Kafka's `classicGroupSync`): Stable answers the member's assignment at once;
 * CompletingRebalance parks it, and the leader's SyncGroup asks the host to store the new
 * assignment first (see {@link onMetadataStored}).
 */
export function onSync(b: StepBuilder, req: SyncGroupRequest): GroupStateName {
  const error = ((): GroupErrorName | null => {
    if (b.state === 'Empty') return 'UNKNOWN_MEMBER_ID';
    if (b.state === 'Dead') return 'COORDINATOR_NOT_AVAILABLE';
    const invalid = validateMember(b.group, req.memberId, req.groupInstanceId);
    if (invalid !== null) return invalid;
    if (req.generationId !== b.group.generationId) return 'ILLEGAL_GENERATION';
    const inconsistent = (requested: string | undefined, current: string | null): boolean => requested !== undefined && current !== null && requested !== current;
    if (inconsistent(req.protocolType, b.group.protocolType) || inconsistent(req.protocolName, b.group.protocolName)) return 'INCONSISTENT_GROUP_PROTOCOL';
    if (b.state === 'PreparingRebalance') return 'REBALANCE_IN_PROGRESS';
    return null;
  })();
  if (error !== null) {
    respondSync(b, req, error);
    return b.state;
  }
  if (b.state === 'Stable') {
    removePendingSync(b, req.memberId);
    respondSync(b, req, null, findMember(b.group, req.memberId)?.assignment ?? null);
    return b.state;
  }
  // CompletingRebalance: park; the leader's SyncGroup releases everyone once its record is stored.
  b.group = updateMember(b.group, req.memberId, { awaitingSync: { correlationId: req.correlationId, replyTo: req.replyTo } });
  removePendingSync(b, req.memberId);
  if (!isLeader(b.group, req.memberId)) return b.state;
  // Kafka's classicGroupSyncToLeader: the GroupMetadata record with the new assignment is appended
  // first; the group becomes Stable and the parked SyncGroups are answered when the append completes.
  const assignments = new Map(req.assignments.map((a) => [a.memberId, a.assignment] as const));
  b.group = { ...b.group, members: b.group.members.map((m) => ({ ...m, assignment: assignments.get(m.memberId) ?? null })) };
  b.persist(true);
  return b.state;
}

/**
 * The host stored (or failed to store) the record of the leader's SyncGroup. Only while the group
 * is still completing that generation with the leader's SyncGroup parked: on success every parked
 * SyncGroup gets its assignment and the group is Stable (Kafka's `setAndPropagateAssignment`); on
 * failure they get the mapped error, assignments are cleared and the group rebalances (Kafka's
 * `resetAndPropagateAssignmentWithError` + `maybePrepareRebalanceOrCompleteJoin`).
 */
export function onMetadataStored(b: StepBuilder, event: GroupMetadataStoredEvent): GroupStateName {
  const leader = b.group.leaderId === null ? undefined : findMember(b.group, b.group.leaderId);
  if (b.state !== 'CompletingRebalance' || event.generationId !== b.group.generationId || leader === undefined || leader.awaitingSync === null) return b.state;
  if (event.error !== undefined) {
    const error = appendErrorToResponseError(event.error);
    for (const m of b.group.members) {
      if (m.awaitingSync !== null) {
        respondSync(b, m.awaitingSync, error);
        scheduleSession(b, m.memberId, m.sessionTimeoutMs);
      }
    }
    b.group = { ...b.group, members: b.group.members.map((m) => ({ ...m, assignment: null, awaitingSync: null })) };
    return maybePrepareRebalanceOrCompleteJoin(b, `Error ${error} when storing group assignment during SyncGroup (member: ${leader.memberId}).`);
  }
  for (const m of b.group.members) {
    if (m.awaitingSync !== null) {
      respondSync(b, m.awaitingSync, null, m.assignment);
      scheduleSession(b, m.memberId, m.sessionTimeoutMs);
    }
  }
  b.group = { ...b.group, members: b.group.members.map((m) => ({ ...m, awaitingSync: null })) };
  b.emit({
    type: '@samsa.group.stabilized',
    groupId: b.group.groupId,
    generationId: b.group.generationId,
    protocolName: b.group.protocolName ?? '',
    leaderId: b.group.leaderId ?? '',
    members: b.group.members.map((m) => m.memberId),
  });
  return 'Stable';
}

function removePendingSync(b: StepBuilder, memberId: string): void {
  b.group = { ...b.group, pendingSyncMembers: b.group.pendingSyncMembers.filter((id) => id !== memberId) };
  if (b.group.pendingSyncMembers.length === 0) b.cancel(SYNC_TIMER);
}

/**
 * Kafka's `appendGroupMetadataErrorToResponseError`: the SyncGroup error for a failed append of
 * the group metadata record, from the coordinators' one table; a name no group response knows
 * reads as UNKNOWN_SERVER_ERROR.
 */
function appendErrorToResponseError(appendError: string): GroupErrorName {
  const answer = coordinatorAppendError(appendError, 'groupMetadata');
  return isGroupErrorName(answer) ? answer : 'UNKNOWN_SERVER_ERROR';
}
