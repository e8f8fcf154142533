/**
 * The rebalance steps every handler shares, as Kafka's `GroupMetadataManager` (classic part) names
 * them: removing members, preparing a rebalance, and completing the join phase (a new generation,
 * its leader and protocol, every parked JoinGroup answered).
 */
import type { MemberRemovalReason } from '../group.events.ts';
import {
  canRebalance,
  findMember,
  hasAllMembersJoined,
  initNextGeneration,
  maybeElectNewJoinedLeader,
  notYetRejoinedMembers,
  rebalanceTimeoutMs,
  removeMember,
} from '../groupState.ts';
import type { GroupData, GroupStateName } from '../groupState.ts';
import {
  currentGenerationJoinResponse,
  instanceField,
  JOIN_TIMER,
  respondJoinError,
  respondSync,
  scheduleSession,
  sessionTimer,
  StepBuilder,
  SYNC_TIMER,
} from './step.ts';
import type { Step } from './step.ts';

/**
 * Removes a member: cancels its session timer and answers its parked JoinGroup with
 * UNKNOWN_MEMBER_ID (so a still-alive client rejoins), as Kafka's
 * `removeMemberAndUpdateClassicGroup` / `removeCurrentMemberFromClassicGroup` do. A parked
 * SyncGroup is answered UNKNOWN_MEMBER_ID too, where Kafka lets the client time out.
 */
export function removeCurrentMember(b: StepBuilder, memberId: string, reason: MemberRemovalReason): void {
  const member = findMember(b.group, memberId);
  if (member === undefined) return;
  if (member.awaitingJoin !== null) respondJoinError(b, member.awaitingJoin, 'UNKNOWN_MEMBER_ID', '');
  if (member.awaitingSync !== null) respondSync(b, member.awaitingSync, 'UNKNOWN_MEMBER_ID');
  b.cancel(sessionTimer(memberId));
  b.group = removeMember(b.group, memberId);
  b.emit({ type: '@samsa.group.memberRemoved', groupId: b.group.groupId, memberId, ...instanceField(member), reason });
}

/** Removes a pending member (one handed an id with MEMBER_ID_REQUIRED that never joined) and its session timer. */
export function removePendingMember(b: StepBuilder, memberId: string, reason: MemberRemovalReason): void {
  b.cancel(sessionTimer(memberId));
  b.group = removeMember(b.group, memberId);
  b.emit({ type: '@samsa.group.memberRemoved', groupId: b.group.groupId, memberId, reason });
}

/**
 * Kafka's `prepareRebalance`: parked SyncGroups of a CompletingRebalance group get
 * REBALANCE_IN_PROGRESS and every assignment is reset; the pending-sync timer is cancelled. From
 * Empty the initial rebalance delay starts; otherwise the join phase completes at once when every
 * member has already rejoined, else when the rebalance timeout fires.
 */
export function prepareRebalance(b: StepBuilder, reason: string): GroupStateName {
  if (b.state === 'CompletingRebalance') {
    for (const m of b.group.members) {
      if (m.awaitingSync !== null) {
        respondSync(b, m.awaitingSync, 'REBALANCE_IN_PROGRESS');
        scheduleSession(b, m.memberId, m.sessionTimeoutMs);
      }
    }
    b.group = { ...b.group, members: b.group.members.map((m) => ({ ...m, assignment: null, awaitingSync: null })) };
  }
  b.group = { ...b.group, pendingSyncMembers: [] };
  b.cancel(SYNC_TIMER);
  if (b.state === 'Empty') {
    const delayMs = b.group.config['group.initial.rebalance.delay.ms'];
    const remainingMs = Math.max(rebalanceTimeoutMs(b.group) - delayMs, 0);
    b.group = { ...b.group, initialRebalance: true, newMemberAdded: false, readyToCompleteJoin: false };
    b.cancel(JOIN_TIMER);
    b.schedule(JOIN_TIMER, delayMs, { type: 'join.initialDelayElapsed', delayMs, remainingMs });
  } else if (hasAllMembersJoined(b.group)) {
    b.group = { ...b.group, initialRebalance: false, readyToCompleteJoin: true };
  } else {
    b.group = { ...b.group, initialRebalance: false, readyToCompleteJoin: false };
    b.cancel(JOIN_TIMER);
    b.schedule(JOIN_TIMER, rebalanceTimeoutMs(b.group), { type: 'join.timedOut' });
  }
  b.emit({ type: '@samsa.group.rebalanceStarted', groupId: b.group.groupId, generationId: b.group.generationId, reason });
  return 'PreparingRebalance';
}

/** Kafka's `maybeCompleteJoinPhase`: outside the initial rebalance, complete once every member has rejoined. */
export function maybeCompleteJoinPhase(b: StepBuilder): GroupStateName {
  if (b.state === 'PreparingRebalance' && !b.group.initialRebalance && hasAllMembersJoined(b.group)) {
    b.group = { ...b.group, readyToCompleteJoin: true };
  }
  return b.state;
}

/** Kafka's `maybePrepareRebalanceOrCompleteJoin`. */
export function maybePrepareRebalanceOrCompleteJoin(b: StepBuilder, reason: string): GroupStateName {
  return canRebalance(b.state) ? prepareRebalance(b, reason) : maybeCompleteJoinPhase(b);
}

/**
 * Kafka's `completeClassicGroupJoin` when the join phase times out: dynamic members that did
 * not rejoin are removed (static ones stay, to be removed by their session timeout); if nobody
 * rejoined the phase is postponed by another rebalance timeout, else it completes.
 */
export function completeJoinOnTimeout(b: StepBuilder): GroupStateName {
  for (const m of notYetRejoinedMembers(b.group)) {
    if (m.groupInstanceId === null) removeCurrentMember(b, m.memberId, 'rebalanceTimeout');
  }
  const election = maybeElectNewJoinedLeader(b.group);
  b.group = election.group;
  if (!election.elected && b.group.members.length > 0) {
    b.cancel(JOIN_TIMER);
    b.schedule(JOIN_TIMER, rebalanceTimeoutMs(b.group), { type: 'join.timedOut' });
  } else {
    b.group = { ...b.group, readyToCompleteJoin: true };
  }
  return b.state;
}

/**
 * Kafka's `completeClassicGroupJoin` + `initNextGeneration`: the generation is bumped and the
 * protocol chosen; every parked JoinGroup is answered (the leader with all members' metadata),
 * sessions restart and the pending-sync timer starts. With no members the group becomes Empty.
 */
export function completeJoin(group: GroupData): Step {
  const b = new StepBuilder(group, 'PreparingRebalance');
  b.cancel(JOIN_TIMER);
  const next = initNextGeneration(b.group);
  b.group = next.group;
  if (next.state === 'Empty') {
    // Kafka writes the Empty group's metadata (generation kept, no members) and does not wait for it.
    b.persist(false);
    b.emit({ type: '@samsa.group.emptied', groupId: b.group.groupId, generationId: b.group.generationId });
    return b.done('Empty');
  }
  for (const m of b.group.members) {
    if (m.awaitingJoin !== null) {
      b.respond(m.awaitingJoin, currentGenerationJoinResponse(b.group, m.awaitingJoin.correlationId, m.memberId, { leaderGetsMembers: true, skipAssignment: false }));
    }
    scheduleSession(b, m.memberId, m.sessionTimeoutMs);
  }
  b.group = {
    ...b.group,
    members: b.group.members.map((m) => ({ ...m, awaitingJoin: null, isNew: false })),
    pendingSyncMembers: b.group.members.map((m) => m.memberId),
  };
  b.cancel(SYNC_TIMER);
  b.schedule(SYNC_TIMER, rebalanceTimeoutMs(b.group), { type: 'sync.timedOut', generationId: b.group.generationId });
  b.emit({
    type: '@samsa.group.joinCompleted',
    groupId: b.group.groupId,
    generationId: b.group.generationId,
    protocolName: b.group.protocolName ?? '',
    leaderId: b.group.leaderId ?? '',
    members: b.group.members.map((m) => m.memberId),
  });
  return b.done('CompletingRebalance');
}
