/**
 * JoinGroup on a classic group (Kafka's `classicGroupJoin` and the member bookkeeping around it):
 * new members (KIP-394), existing ones, and static members taking over their slot (KIP-345).
 */
import type { JoinGroupRequest } from '../group.events.ts';
import {
  acceptJoiningMember,
  addMember,
  addPendingMember,
  findMember,
  isLeader,
  isPendingMember,
  nextMemberId,
  protocolsMatch,
  replaceStaticMember,
  selectProtocol,
  staticMemberId,
  supportsProtocols,
  updateMember,
  validateMember,
  validateSessionTimeout,
} from '../groupState.ts';
import type { GroupMember, GroupStateName } from '../groupState.ts';
import {
  maybeCompleteJoinPhase,
  maybePrepareRebalanceOrCompleteJoin,
  prepareRebalance,
  removeCurrentMember,
  removePendingMember,
} from './rebalance.ts';
import { currentGenerationJoinResponse, instanceField, respondJoinError, respondSync, scheduleSession, sessionTimer } from './step.ts';
import type { StepBuilder } from './step.ts';

/**
 * JoinGroup (Kafka's `classicGroupJoin`): checks the session timeout and `group.max.size`, then
 * handles a member without an id (KIP-394's MEMBER_ID_REQUIRED, or a static member's takeover) or
 * a known one, per state.
 */
export function onJoin(b: StepBuilder, req: JoinGroupRequest): GroupStateName {
  const invalidSession = validateSessionTimeout(b.group.config, req.sessionTimeoutMs);
  if (invalidSession !== null) {
    respondJoinError(b, req, invalidSession, req.memberId);
    return b.state;
  }
  if (!acceptJoiningMember(b.group, b.state, req.memberId)) {
    if (isPendingMember(b.group, req.memberId)) removePendingMember(b, req.memberId, 'groupMaxSizeReached');
    else removeCurrentMember(b, req.memberId, 'groupMaxSizeReached');
    respondJoinError(b, req, 'GROUP_MAX_SIZE_REACHED', '');
    return b.state;
  }
  return req.memberId === '' ? joinNewMember(b, req) : joinExistingMember(b, req);
}

function joinNewMember(b: StepBuilder, req: JoinGroupRequest): GroupStateName {
  if (b.state === 'Dead') {
    respondJoinError(b, req, 'COORDINATOR_NOT_AVAILABLE', '');
    return b.state;
  }
  if (!supportsProtocols(b.group, b.state, req.protocolType, req.protocols.map((p) => p.name))) {
    respondJoinError(b, req, 'INCONSISTENT_GROUP_PROTOCOL', '');
    return b.state;
  }
  const generated = nextMemberId(b.group, req.groupInstanceId ?? req.clientId ?? 'consumer');
  b.group = { ...b.group, memberIdState: generated.state };
  const newMemberId = generated.memberId;
  if (req.groupInstanceId !== undefined) {
    const existing = staticMemberId(b.group, req.groupInstanceId);
    return existing !== undefined ? updateStaticMemberThenRebalanceOrCompleteJoin(b, req, existing, newMemberId) : addMemberThenRebalanceOrCompleteJoin(b, req, newMemberId);
  }
  // KIP-394: a dynamic member must rejoin with the id it is given; until then it is pending.
  b.group = addPendingMember(b.group, newMemberId);
  scheduleSession(b, newMemberId, req.sessionTimeoutMs);
  respondJoinError(b, req, 'MEMBER_ID_REQUIRED', newMemberId);
  return b.state;
}

function joinExistingMember(b: StepBuilder, req: JoinGroupRequest): GroupStateName {
  const memberId = req.memberId;
  if (b.state === 'Dead') {
    respondJoinError(b, req, 'COORDINATOR_NOT_AVAILABLE', memberId);
    return b.state;
  }
  if (!supportsProtocols(b.group, b.state, req.protocolType, req.protocols.map((p) => p.name))) {
    respondJoinError(b, req, 'INCONSISTENT_GROUP_PROTOCOL', memberId);
    return b.state;
  }
  if (isPendingMember(b.group, memberId)) {
    // Kafka treats a pending member with an instance id as an internal error (pending members are dynamic).
    if (req.groupInstanceId !== undefined) {
      respondJoinError(b, req, 'UNKNOWN_SERVER_ERROR', memberId);
      return b.state;
    }
    return addMemberThenRebalanceOrCompleteJoin(b, req, memberId);
  }
  const invalid = validateMember(b.group, memberId, req.groupInstanceId);
  if (invalid !== null) {
    respondJoinError(b, req, invalid, memberId);
    return b.state;
  }
  const member = findMember(b.group, memberId) as GroupMember;
  const during = `during ${b.state}; ${clientReason(req.reason)}`;
  switch (b.state) {
    case 'PreparingRebalance':
      return updateMemberThenRebalanceOrCompleteJoin(b, req, memberId, `Member ${memberId} is joining group ${during}`);
    case 'CompletingRebalance':
      if (protocolsMatch(member.protocols, req.protocols)) {
        // Same metadata (the member probably missed its JoinGroup response): the current generation again.
        b.respond(req, currentGenerationJoinResponse(b.group, req.correlationId, memberId, { leaderGetsMembers: true, skipAssignment: false }));
        return b.state;
      }
      return updateMemberThenRebalanceOrCompleteJoin(b, req, memberId, `Updating metadata for member ${memberId} ${during}`);
    case 'Stable':
      if (isLeader(b.group, memberId)) {
        return updateMemberThenRebalanceOrCompleteJoin(b, req, memberId, `Leader ${memberId} re-joining group ${during}`);
      }
      if (!protocolsMatch(member.protocols, req.protocols)) {
        return updateMemberThenRebalanceOrCompleteJoin(b, req, memberId, `Updating metadata for member ${memberId} ${during}`);
      }
      b.respond(req, currentGenerationJoinResponse(b.group, req.correlationId, memberId, { leaderGetsMembers: false, skipAssignment: false }));
      return b.state;
    default:
      respondJoinError(b, req, 'UNKNOWN_MEMBER_ID', memberId);
      return b.state;
  }
}

function clientReason(reason: string | undefined): string {
  return `client reason: ${reason ?? 'not provided'}`;
}

/** Kafka's `addMemberThenRebalanceOrCompleteJoin`: a new member, parked, expiring after the new-member join timeout. */
function addMemberThenRebalanceOrCompleteJoin(b: StepBuilder, req: JoinGroupRequest, memberId: string): GroupStateName {
  const member: GroupMember = {
    memberId,
    groupInstanceId: req.groupInstanceId ?? null,
    clientId: req.clientId ?? 'consumer',
    clientHost: req.clientHost ?? '',
    sessionTimeoutMs: req.sessionTimeoutMs,
    rebalanceTimeoutMs: req.rebalanceTimeoutMs,
    protocolType: req.protocolType,
    protocols: req.protocols,
    assignment: null,
    awaitingJoin: { correlationId: req.correlationId, replyTo: req.replyTo },
    awaitingSync: null,
    isNew: true,
  };
  if (b.state === 'PreparingRebalance' && b.group.initialRebalance) b.group = { ...b.group, newMemberAdded: true };
  b.group = addMember(b.group, member);
  scheduleSession(b, memberId, b.group.newMemberJoinTimeoutMs);
  b.emit({ type: '@samsa.group.memberAdded', groupId: b.group.groupId, memberId, ...instanceField(member) });
  return maybePrepareRebalanceOrCompleteJoin(b, `Adding new member ${memberId} with group instance id ${req.groupInstanceId ?? 'null'}; ${clientReason(req.reason)}`);
}

/** Kafka's `updateMemberThenRebalanceOrCompleteJoin`: new protocols and timeouts, and the JoinGroup parks. */
function updateMemberThenRebalanceOrCompleteJoin(b: StepBuilder, req: JoinGroupRequest, memberId: string, reason: string): GroupStateName {
  b.group = updateMember(b.group, memberId, {
    protocols: req.protocols,
    rebalanceTimeoutMs: req.rebalanceTimeoutMs,
    sessionTimeoutMs: req.sessionTimeoutMs,
    awaitingJoin: { correlationId: req.correlationId, replyTo: req.replyTo },
  });
  return maybePrepareRebalanceOrCompleteJoin(b, reason);
}

/**
 * Kafka's `updateStaticMemberThenRebalanceOrCompleteJoin` (KIP-345): a static member rejoining
 * without a member id takes over its instance's slot under `newMemberId`; the old id's parked
 * requests are answered FENCED_INSTANCE_ID and the old id is fenced from then on. In Stable, if
 * the selected protocol would not change, it gets the current generation without a rebalance.
 */
function updateStaticMemberThenRebalanceOrCompleteJoin(b: StepBuilder, req: JoinGroupRequest, oldMemberId: string, newMemberId: string): GroupStateName {
  const replaced = replaceStaticMember(b.group, oldMemberId, newMemberId);
  if (replaced === undefined) return b.state;
  const { old } = replaced;
  b.group = replaced.group;
  if (old.awaitingJoin !== null) respondJoinError(b, old.awaitingJoin, 'FENCED_INSTANCE_ID', oldMemberId);
  if (old.awaitingSync !== null) respondSync(b, old.awaitingSync, 'FENCED_INSTANCE_ID');
  b.cancel(sessionTimer(oldMemberId));
  scheduleSession(b, newMemberId, old.sessionTimeoutMs);
  b.emit({ type: '@samsa.group.memberReplaced', groupId: b.group.groupId, groupInstanceId: req.groupInstanceId ?? '', oldMemberId, newMemberId });
  b.group = updateMember(b.group, newMemberId, {
    protocols: req.protocols,
    rebalanceTimeoutMs: req.rebalanceTimeoutMs,
    sessionTimeoutMs: req.sessionTimeoutMs,
    awaitingJoin: { correlationId: req.correlationId, replyTo: req.replyTo },
  });
  const reason = `Updating metadata for static member ${newMemberId} with instance id ${req.groupInstanceId ?? 'null'}; ${clientReason(req.reason)}`;
  switch (b.state) {
    case 'Stable':
      if ((b.group.protocolName ?? '') === selectProtocol(b.group.members)) {
        const leader = isLeader(b.group, newMemberId);
        b.respond(req, currentGenerationJoinResponse(b.group, req.correlationId, newMemberId, { leaderGetsMembers: true, skipAssignment: leader }));
        b.group = updateMember(b.group, newMemberId, { awaitingJoin: null });
        // Kafka persists the static member's new id (so a reloaded group knows it). It answers this
        // JoinGroup once that record is written and reverts the replacement if the write fails;
        // here the JoinGroup is answered at once and the record is written without waiting.
        b.persist(false);
        return b.state;
      }
      return maybePrepareRebalanceOrCompleteJoin(b, `Group's selectedProtocol will change because static member ${newMemberId} with instance id ${req.groupInstanceId ?? 'null'} joined with change of protocol; ${clientReason(req.reason)}`);
    case 'CompletingRebalance':
      return prepareRebalance(b, reason);
    default:
      return maybeCompleteJoinPhase(b);
  }
}
