/** Heartbeat on a classic group (Kafka's `classicGroupHeartbeat`). */
import type { GroupErrorName, HeartbeatRequest } from '../group.events.ts';
import { findMember, validateMember } from '../groupState.ts';
import type { GroupMember, GroupStateName } from '../groupState.ts';
import { respondSimple, scheduleSession } from './step.ts';
import type { StepBuilder } from './step.ts';

/** Heartbeat (Kafka's `classicGroupHeartbeat`): restarts the member's session; REBALANCE_IN_PROGRESS tells it to rejoin. */
export function onHeartbeat(b: StepBuilder, req: HeartbeatRequest): GroupStateName {
  const error = ((): GroupErrorName | null => {
    if (b.state === 'Dead') return 'COORDINATOR_NOT_AVAILABLE';
    const invalid = validateMember(b.group, req.memberId, req.groupInstanceId);
    if (invalid !== null) return invalid;
    if (req.generationId !== b.group.generationId) return 'ILLEGAL_GENERATION';
    if (b.state === 'Empty') return 'UNKNOWN_MEMBER_ID';
    const member = findMember(b.group, req.memberId) as GroupMember;
    scheduleSession(b, member.memberId, member.sessionTimeoutMs);
    // Kafka answers CompletingRebalance heartbeats normally: members heartbeat between JoinGroup and SyncGroup.
    return b.state === 'PreparingRebalance' ? 'REBALANCE_IN_PROGRESS' : null;
  })();
  respondSimple(b, req, 'heartbeat.response', error);
  return b.state;
}
