/**
 * The classic group's timers firing: a member's session, the initial rebalance delay, and the
 * pending-sync timeout. Every timer event is re-validated, so a stale one changes nothing.
 */
import type { JoinInitialDelayElapsedEvent, MemberSessionExpiredEvent, SyncTimedOutEvent } from '../group.events.ts';
import { findMember, hasAllMembersJoined, hasSatisfiedHeartbeat, isPendingMember } from '../groupState.ts';
import type { GroupStateName } from '../groupState.ts';
import {
  completeJoinOnTimeout,
  maybePrepareRebalanceOrCompleteJoin,
  prepareRebalance,
  removeCurrentMember,
  removePendingMember,
} from './rebalance.ts';
import { JOIN_TIMER } from './step.ts';
import type { StepBuilder } from './step.ts';

/** Kafka's `expireClassicGroupMemberHeartbeat`. */
export function onSessionExpired(b: StepBuilder, event: MemberSessionExpiredEvent): GroupStateName {
  if (b.state === 'Dead') return b.state;
  if (isPendingMember(b.group, event.memberId)) {
    removePendingMember(b, event.memberId, 'sessionTimeout');
    if (b.state === 'PreparingRebalance' && hasAllMembersJoined(b.group)) b.group = { ...b.group, readyToCompleteJoin: true };
    return b.state;
  }
  const member = findMember(b.group, event.memberId);
  if (member === undefined || hasSatisfiedHeartbeat(member)) return b.state;
  removeCurrentMember(b, member.memberId, 'sessionTimeout');
  if (b.state === 'Stable' || b.state === 'CompletingRebalance') {
    return maybePrepareRebalanceOrCompleteJoin(b, `removing member ${member.memberId} on heartbeat expiration.`);
  }
  if (b.state === 'PreparingRebalance' && hasAllMembersJoined(b.group)) b.group = { ...b.group, readyToCompleteJoin: true };
  return b.state;
}

/** Kafka's `tryCompleteInitialRebalanceElseSchedule`: the delay extends while new members keep arriving. */
export function onInitialDelayElapsed(b: StepBuilder, event: JoinInitialDelayElapsedEvent): GroupStateName {
  if (b.state !== 'PreparingRebalance') return b.state;
  if (b.group.newMemberAdded && event.remainingMs !== 0) {
    const delayMs = Math.min(b.group.config['group.initial.rebalance.delay.ms'], event.remainingMs);
    const remainingMs = Math.max(event.remainingMs - event.delayMs, 0);
    b.group = { ...b.group, newMemberAdded: false };
    b.cancel(JOIN_TIMER);
    b.schedule(JOIN_TIMER, delayMs, { type: 'join.initialDelayElapsed', delayMs, remainingMs });
    return b.state;
  }
  return completeJoinOnTimeout(b);
}

/** Kafka's `expirePendingSync`: members of this generation that never sent SyncGroup are removed. */
export function onSyncTimedOut(b: StepBuilder, event: SyncTimedOutEvent): GroupStateName {
  if (event.generationId !== b.group.generationId) return b.state;
  if ((b.state !== 'CompletingRebalance' && b.state !== 'Stable') || b.group.pendingSyncMembers.length === 0) return b.state;
  const pending = [...b.group.pendingSyncMembers];
  for (const id of pending) removeCurrentMember(b, id, 'syncTimeout');
  return prepareRebalance(b, `Removing [${pending.join(', ')}] on pending sync request expiration`);
}
