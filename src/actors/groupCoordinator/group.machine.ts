/**
 * One classic consumer group as an XState actor: Kafka's GroupCoordinator for the classic
 * protocol (JoinGroup / SyncGroup / Heartbeat / LeaveGroup), learned from `GroupMetadataManager`'s
 * classic-group methods, `ClassicGroup` and `ClassicGroupState` in `apache/kafka`
 * `group-coordinator/`.
 *
 * Shape. Each state lists, per event, exactly the targets Kafka allows from it (the
 * valid-previous-state sets of {@link VALID_PREVIOUS_STATES}), so an illegal transition cannot be
 * written down. Which target an event takes, and what it answers, is decided by the pure handlers
 * below, which return the next state, the next context and a list of effects (responses,
 * inspection events, timers). Guards and actions both call the same memoised handler, so the
 * choice is made once per event.
 *
 * Time. Session, join and sync timers are XState delayed events (`raise` with a delay and an id,
 * `cancel` by id) and therefore run on the clock the actor was created with; a
 * `SimulatedClock` drives them exactly.
 *
 * Persistence. The machine emits `group.metadataChanged` whenever Kafka writes the group's
 * GroupMetadata record to `__consumer_offsets` (the host writes it); the leader's SyncGroup waits
 * for the host's `group.metadataStored`. A group started with `input.restore` is what Kafka's
 * loader makes of its last record (see the transient `Loading` state).
 */
import { enqueueActions, setup } from 'xstate';
import { groupErrorFields } from './group.events.ts';
import type {
  DescribeGroupRequest,
  DeleteGroupRequest,
  GroupEmitted,
  GroupErrorName,
  GroupEvent,
  GroupInspectionEvent,
  GroupMetadataChangedEvent,
  GroupMetadataStoredEvent,
  GroupResponse,
  GroupTimerEvent,
  HeartbeatRequest,
  JoinGroupRequest,
  JoinGroupResponse,
  JoinInitialDelayElapsedEvent,
  LeaveGroupMemberResponse,
  LeaveGroupRequest,
  MemberRemovalReason,
  MemberSessionExpiredEvent,
  OffsetCommitValidateRequest,
  SyncGroupRequest,
  SyncTimedOutEvent,
} from './group.events.ts';
import {
  acceptJoiningMember,
  addMember,
  addPendingMember,
  appendErrorToResponseError,
  canRebalance,
  createGroupData,
  currentMemberMetadata,
  findMember,
  getGroupMetadata,
  hasAllMembersJoined,
  hasSatisfiedHeartbeat,
  initNextGeneration,
  isLeader,
  isPendingMember,
  isValidTransition,
  maybeElectNewJoinedLeader,
  memberMetadata,
  nextMemberId,
  notYetRejoinedMembers,
  protocolsMatch,
  rebalanceTimeoutMs,
  removeMember,
  replaceStaticMember,
  restoredState,
  selectProtocol,
  staticMemberId,
  supportsProtocols,
  updateMember,
  validateMember,
  validateOffsetCommit,
  validateSessionTimeout,
} from './groupState.ts';
import type { GroupData, GroupDataOptions, GroupMember, GroupStateName, ParkedRequest } from './groupState.ts';

/**
 * Input of {@link groupMachine}: the group id, broker config under Kafka's keys, the member id
 * seed, and — for a group loaded from `__consumer_offsets` — its last persisted metadata
 * (`restore`).
 */
export type GroupMachineInput = GroupDataOptions;

/* ------------------------------------------------------------------------------------------ */
/* Steps                                                                                       */
/* ------------------------------------------------------------------------------------------ */

type Effect =
  | { readonly kind: 'respond'; readonly to: string; readonly response: GroupResponse }
  | { readonly kind: 'emit'; readonly event: GroupInspectionEvent | GroupMetadataChangedEvent }
  | { readonly kind: 'schedule'; readonly id: string; readonly delayMs: number; readonly event: GroupTimerEvent }
  | { readonly kind: 'cancel'; readonly id: string };

/** The outcome of one event: the next state, the next context and what to emit or schedule. */
interface Step {
  readonly next: GroupStateName;
  readonly group: GroupData;
  readonly effects: readonly Effect[];
}

const JOIN_TIMER = 'join';
const SYNC_TIMER = 'sync';
const sessionTimer = (memberId: string): string => `session:${memberId}`;

/** Accumulates one step; local mutation only, the handlers stay pure from the outside. */
class StepBuilder {
  readonly effects: Effect[] = [];
  constructor(
    public group: GroupData,
    readonly state: GroupStateName,
  ) {}

  respond(to: ParkedRequest, response: GroupResponse): void {
    this.effects.push({ kind: 'respond', to: to.replyTo, response });
  }
  emit(event: GroupInspectionEvent): void {
    this.effects.push({ kind: 'emit', event });
  }
  /** Asks the host to write the group's metadata record (or a tombstone) to `__consumer_offsets`. */
  persist(awaitsStore: boolean, tombstone = false): void {
    this.effects.push({ kind: 'emit', event: { type: 'group.metadataChanged', groupId: this.group.groupId, metadata: tombstone ? null : getGroupMetadata({ context: this.group }), awaitsStore } });
  }
  schedule(id: string, delayMs: number, event: GroupTimerEvent): void {
    this.effects.push({ kind: 'schedule', id, delayMs, event });
  }
  cancel(id: string): void {
    this.effects.push({ kind: 'cancel', id });
  }
  done(next: GroupStateName = this.state): Step {
    return { next, group: this.group, effects: this.effects };
  }
}

/* ------------------------------------------------------------------------------------------ */
/* Response builders                                                                           */
/* ------------------------------------------------------------------------------------------ */

function joinResponse(correlationId: number, fields: Partial<Omit<JoinGroupResponse, 'type' | 'correlationId' | 'errorCode' | 'error'>>, error: GroupErrorName | null = null): JoinGroupResponse {
  return {
    type: 'joinGroup.response',
    correlationId,
    ...groupErrorFields(error),
    memberId: fields.memberId ?? '',
    generationId: fields.generationId ?? -1,
    protocolType: fields.protocolType ?? null,
    protocolName: fields.protocolName ?? null,
    leader: fields.leader ?? '',
    skipAssignment: fields.skipAssignment ?? false,
    members: fields.members ?? [],
  };
}

function respondJoinError(b: StepBuilder, to: ParkedRequest, error: GroupErrorName, memberId: string): void {
  b.respond(to, joinResponse(to.correlationId, { memberId }, error));
}

/** The current generation's JoinGroup answer for `memberId` (the leader also gets every member's metadata). */
function currentGenerationJoinResponse(group: GroupData, correlationId: number, memberId: string, options: { leaderGetsMembers: boolean; skipAssignment: boolean }): JoinGroupResponse {
  return joinResponse(correlationId, {
    memberId,
    generationId: group.generationId,
    protocolType: group.protocolType,
    protocolName: group.protocolName,
    leader: group.leaderId ?? '',
    skipAssignment: options.skipAssignment,
    members: options.leaderGetsMembers && isLeader(group, memberId) ? currentMemberMetadata(group) : [],
  });
}

function respondSync(b: StepBuilder, to: ParkedRequest, error: GroupErrorName | null, assignment: unknown = null): void {
  const ok = error === null;
  b.respond(to, {
    type: 'syncGroup.response',
    correlationId: to.correlationId,
    ...groupErrorFields(error),
    protocolType: ok ? b.group.protocolType : null,
    protocolName: ok ? b.group.protocolName : null,
    assignment: ok ? assignment : null,
  });
}

function respondSimple(b: StepBuilder, to: ParkedRequest, type: 'heartbeat.response' | 'offsetCommit.validateResponse', error: GroupErrorName | null): void {
  b.respond(to, { type, correlationId: to.correlationId, ...groupErrorFields(error) });
}

/* ------------------------------------------------------------------------------------------ */
/* Shared rebalance steps (Kafka's GroupMetadataManager, classic part)                          */
/* ------------------------------------------------------------------------------------------ */

function scheduleSession(b: StepBuilder, memberId: string, timeoutMs: number): void {
  b.cancel(sessionTimer(memberId));
  b.schedule(sessionTimer(memberId), timeoutMs, { type: 'member.sessionExpired', memberId });
}

function instanceField(member: GroupMember): { groupInstanceId?: string } {
  return member.groupInstanceId === null ? {} : { groupInstanceId: member.groupInstanceId };
}

/**
 * Removes a member: cancels its session timer and answers its parked JoinGroup with
 * UNKNOWN_MEMBER_ID (so a still-alive client rejoins), as Kafka's
 * `removeMemberAndUpdateClassicGroup` / `removeCurrentMemberFromClassicGroup` do. A parked
 * SyncGroup is answered UNKNOWN_MEMBER_ID too, where Kafka lets the client time out.
 */
function removeCurrentMember(b: StepBuilder, memberId: string, reason: MemberRemovalReason): void {
  const member = findMember(b.group, memberId);
  if (member === undefined) return;
  if (member.awaitingJoin !== null) respondJoinError(b, member.awaitingJoin, 'UNKNOWN_MEMBER_ID', '');
  if (member.awaitingSync !== null) respondSync(b, member.awaitingSync, 'UNKNOWN_MEMBER_ID');
  b.cancel(sessionTimer(memberId));
  b.group = removeMember(b.group, memberId);
  b.emit({ type: '@samsa.group.memberRemoved', groupId: b.group.groupId, memberId, ...instanceField(member), reason });
}

function removePendingMember(b: StepBuilder, memberId: string, reason: MemberRemovalReason): void {
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
function prepareRebalance(b: StepBuilder, reason: string): GroupStateName {
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
function maybeCompleteJoinPhase(b: StepBuilder): GroupStateName {
  if (b.state === 'PreparingRebalance' && !b.group.initialRebalance && hasAllMembersJoined(b.group)) {
    b.group = { ...b.group, readyToCompleteJoin: true };
  }
  return b.state;
}

/** Kafka's `maybePrepareRebalanceOrCompleteJoin`. */
function maybePrepareRebalanceOrCompleteJoin(b: StepBuilder, reason: string): GroupStateName {
  return canRebalance(b.state) ? prepareRebalance(b, reason) : maybeCompleteJoinPhase(b);
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

/**
 * Kafka's `completeClassicGroupJoin` when the join phase times out: dynamic members that did
 * not rejoin are removed (static ones stay, to be removed by their session timeout); if nobody
 * rejoined the phase is postponed by another rebalance timeout, else it completes.
 */
function completeJoinOnTimeout(b: StepBuilder): GroupStateName {
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
function completeJoin(group: GroupData): Step {
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

function removePendingSync(b: StepBuilder, memberId: string): void {
  b.group = { ...b.group, pendingSyncMembers: b.group.pendingSyncMembers.filter((id) => id !== memberId) };
  if (b.group.pendingSyncMembers.length === 0) b.cancel(SYNC_TIMER);
}

/* ------------------------------------------------------------------------------------------ */
/* Request handlers                                                                            */
/* ------------------------------------------------------------------------------------------ */

function onJoin(b: StepBuilder, req: JoinGroupRequest): GroupStateName {
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

function onSync(b: StepBuilder, req: SyncGroupRequest): GroupStateName {
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
function onMetadataStored(b: StepBuilder, event: GroupMetadataStoredEvent): GroupStateName {
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

function onHeartbeat(b: StepBuilder, req: HeartbeatRequest): GroupStateName {
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

function onLeave(b: StepBuilder, req: LeaveGroupRequest): GroupStateName {
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

function onOffsetCommitValidate(b: StepBuilder, req: OffsetCommitValidateRequest): GroupStateName {
  respondSimple(b, req, 'offsetCommit.validateResponse', validateOffsetCommit(b.group, b.state, req));
  return b.state;
}

function onDescribe(b: StepBuilder, req: DescribeGroupRequest): GroupStateName {
  const group = b.group;
  const stable = b.state === 'Stable';
  b.respond(req, {
    type: 'describeGroup.response',
    correlationId: req.correlationId,
    errorCode: 0,
    groupId: group.groupId,
    state: b.state,
    protocolType: b.state === 'Dead' ? '' : (group.protocolType ?? ''),
    protocolData: stable ? (group.protocolName ?? '') : '',
    members:
      b.state === 'Dead'
        ? []
        : group.members.map((m) => ({
            memberId: m.memberId,
            ...instanceField(m),
            clientId: m.clientId,
            clientHost: m.clientHost,
            metadata: stable ? memberMetadata(m, group.protocolName) : null,
            assignment: stable ? m.assignment : null,
          })),
  });
  return b.state;
}

function onDelete(b: StepBuilder, req: DeleteGroupRequest): GroupStateName {
  const error: GroupErrorName | null = b.state === 'Dead' ? 'GROUP_ID_NOT_FOUND' : b.state === 'Empty' ? null : 'NON_EMPTY_GROUP';
  let next: GroupStateName = b.state;
  if (error === null) {
    for (const id of b.group.pendingMembers) b.cancel(sessionTimer(id));
    b.group = { ...b.group, pendingMembers: [] };
    b.persist(false, true);
    b.emit({ type: '@samsa.group.deleted', groupId: b.group.groupId });
    next = 'Dead';
  }
  b.respond(req, { type: 'group.deleteResponse', correlationId: req.correlationId, ...groupErrorFields(error), groupId: b.group.groupId });
  return next;
}

/* ------------------------------------------------------------------------------------------ */
/* Timer handlers                                                                              */
/* ------------------------------------------------------------------------------------------ */

/** Kafka's `expireClassicGroupMemberHeartbeat`. */
function onSessionExpired(b: StepBuilder, event: MemberSessionExpiredEvent): GroupStateName {
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
function onInitialDelayElapsed(b: StepBuilder, event: JoinInitialDelayElapsedEvent): GroupStateName {
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
function onSyncTimedOut(b: StepBuilder, event: SyncTimedOutEvent): GroupStateName {
  if (event.generationId !== b.group.generationId) return b.state;
  if ((b.state !== 'CompletingRebalance' && b.state !== 'Stable') || b.group.pendingSyncMembers.length === 0) return b.state;
  const pending = [...b.group.pendingSyncMembers];
  for (const id of pending) removeCurrentMember(b, id, 'syncTimeout');
  return prepareRebalance(b, `Removing [${pending.join(', ')}] on pending sync request expiration`);
}

/** The pure transition function of a classic group: what `event` does to a group in state `from`. */
function handle(from: GroupStateName, group: GroupData, event: GroupEvent): Step {
  const b = new StepBuilder(group, from);
  switch (event.type) {
    case 'joinGroup.request':
      return b.done(onJoin(b, event));
    case 'syncGroup.request':
      return b.done(onSync(b, event));
    case 'heartbeat.request':
      return b.done(onHeartbeat(b, event));
    case 'leaveGroup.request':
      return b.done(onLeave(b, event));
    case 'offsetCommit.validate':
      return b.done(onOffsetCommitValidate(b, event));
    case 'describeGroup.request':
      return b.done(onDescribe(b, event));
    case 'group.delete':
      return b.done(onDelete(b, event));
    case 'member.sessionExpired':
      return b.done(onSessionExpired(b, event));
    case 'join.timedOut':
      return b.done(from === 'PreparingRebalance' ? completeJoinOnTimeout(b) : from);
    case 'join.initialDelayElapsed':
      return b.done(onInitialDelayElapsed(b, event));
    case 'sync.timedOut':
      return b.done(onSyncTimedOut(b, event));
    case 'group.metadataStored':
      return b.done(onMetadataStored(b, event));
  }
}

/**
 * Kafka's loader (`replay` of the GroupMetadata record, then `onLoaded`): a group with members
 * starts Stable and every member's session timer starts now, so live members keep heartbeating
 * and absent ones expire after their session timeout; without members it starts Empty. A loaded
 * group over `group.max.size` rebalances at once, as Kafka's `onLoaded` does.
 */
function loadStep(group: GroupData): Step {
  const state = restoredState(group);
  const b = new StepBuilder(group, state);
  if (state === 'Empty') return b.done();
  for (const m of group.members) scheduleSession(b, m.memberId, m.sessionTimeoutMs);
  if (group.members.length > group.config['group.max.size']) {
    return b.done(prepareRebalance(b, `Freshly-loaded group ${group.groupId} (size ${group.members.length}) is over capacity ${group.config['group.max.size']}. Rebalancing in order to give a chance for consumers to commit offsets`));
  }
  return b.done();
}

const loadCache = new WeakMap<object, Step>();

/** {@link loadStep}, memoised per context so the guards and the action agree. */
function loadStepFor(group: GroupData): Step {
  let step = loadCache.get(group);
  if (step === undefined) {
    step = loadStep(group);
    loadCache.set(group, step);
  }
  return step;
}

const stepCache = new WeakMap<object, WeakMap<object, Partial<Record<GroupStateName, Step>>>>();

/** {@link handle}, memoised per (event, context, state) so guards and actions agree and compute once. */
function stepFor(from: GroupStateName, group: GroupData, event: GroupEvent): Step {
  let byGroup = stepCache.get(event);
  if (byGroup === undefined) {
    byGroup = new WeakMap();
    stepCache.set(event, byGroup);
  }
  let byState = byGroup.get(group);
  if (byState === undefined) {
    byState = {};
    byGroup.set(group, byState);
  }
  let step = byState[from];
  if (step === undefined) {
    step = handle(from, group, event);
    if (step.next !== from && !isValidTransition(from, step.next)) {
      throw new Error(`classic group "${group.groupId}" cannot move from ${from} to ${step.next} on "${event.type}"; this is a bug in group.machine.ts`);
    }
    byState[from] = step;
  }
  return step;
}

/* ------------------------------------------------------------------------------------------ */
/* Machine                                                                                     */
/* ------------------------------------------------------------------------------------------ */

interface EffectSink {
  assign(assigner: () => GroupData): void;
  emit(event: GroupEmitted): void;
  raise(event: GroupTimerEvent, options: { id: string; delay: number }): void;
  cancel(id: string): void;
}

function runStep(enqueue: EffectSink, step: Step): void {
  enqueue.assign(() => step.group);
  for (const effect of step.effects) {
    switch (effect.kind) {
      case 'respond':
        enqueue.emit({ type: 'response', to: effect.to, response: effect.response });
        break;
      case 'emit':
        enqueue.emit(effect.event);
        break;
      case 'schedule':
        enqueue.raise(effect.event, { id: effect.id, delay: effect.delayMs });
        break;
      case 'cancel':
        enqueue.cancel(effect.id);
        break;
    }
  }
}

type StepParams = { readonly from: GroupStateName };
type RouteParams = { readonly from: GroupStateName; readonly to: GroupStateName };

/** The transition of `event` from `from` to `to`, taken when the handler decides so. */
function moveTo<const From extends GroupStateName, const To extends GroupStateName>(from: From, to: To) {
  return { guard: { type: 'leadsTo' as const, params: { from, to } }, target: to, actions: { type: 'apply' as const, params: { from } } };
}

/** Staying in `from` (answering, parking or bookkeeping), taken when the handler decides so. */
function stay<const From extends GroupStateName>(from: From) {
  return { guard: { type: 'leadsTo' as const, params: { from, to: from } }, actions: { type: 'apply' as const, params: { from } } };
}

/**
 * The transitions of `event` in state `from`: one per target Kafka allows (listed in `targets`),
 * each guarded by the handler's decision, then staying in `from`.
 */
function route<const From extends GroupStateName, const To extends GroupStateName>(from: From, ...targets: To[]) {
  return [...targets.map((to) => moveTo(from, to)), stay(from)];
}

/**
 * The classic consumer group actor (one per group). Create it with the cluster's clock:
 * `createActor(groupMachine, { clock, input: { groupId } })`; send it {@link GroupRequest}s and
 * subscribe to answers with `actor.on('response', ({ to, response }) => …)`. As its host, write
 * the records it asks for with `actor.on('group.metadataChanged', …)` and, when `awaitsStore` is
 * set, answer `{ type: 'group.metadataStored', generationId }` once written.
 *
 * Guarantees:
 * - States and transitions are Kafka's classic group states with their valid previous states;
 *   per-state answers and error codes follow `GroupMetadataManager` (classic) of Kafka 3.9/4.0.
 * - Every request is answered exactly once with its `correlationId`; JoinGroup and SyncGroup may
 *   be parked and answered by a later event (another member's request or a timer).
 * - Timers (session, initial delay, rebalance and pending-sync timeouts) run on the actor's clock.
 * - `group.metadataChanged` is emitted when a generation's assignment is to be stored (the
 *   leader's SyncGroup, which with every parked SyncGroup is answered, and the group made Stable,
 *   only on the host's `group.metadataStored`), when a static member's new id replaces its old one
 *   in Stable, when the group becomes Empty, and (as a tombstone) when it is deleted.
 * - With `input.restore` the group starts Stable with its recorded members, each session timer
 *   starting at once, or Empty with its recorded generation.
 * - The context is plain data ({@link GroupData}); `getPersistedSnapshot()` is JSON/structured-clone safe.
 * - `@samsa.group.*` inspection events are emitted for membership and rebalance milestones.
 */
export const groupMachine = setup({
  types: {
    context: {} as GroupData,
    events: {} as GroupEvent,
    input: {} as GroupMachineInput,
    emitted: {} as GroupEmitted,
  },
  guards: {
    leadsTo: ({ context, event }, params: RouteParams) => stepFor(params.from, context, event).next === params.to,
    joinReady: ({ context }, params: { readonly withMembers: boolean }) => context.readyToCompleteJoin && context.members.length > 0 === params.withMembers,
    loadsTo: ({ context }, params: { readonly to: GroupStateName }) => loadStepFor(context).next === params.to,
  },
  actions: {
    apply: enqueueActions(({ context, event, enqueue }, params: StepParams) => {
      runStep(enqueue as unknown as EffectSink, stepFor(params.from, context, event));
    }),
    completeJoin: enqueueActions(({ context, enqueue }) => {
      runStep(enqueue as unknown as EffectSink, completeJoin(context));
    }),
    load: enqueueActions(({ context, enqueue }) => {
      runStep(enqueue as unknown as EffectSink, loadStepFor(context));
    }),
  },
}).createMachine({
  id: 'group',
  context: ({ input }) => createGroupData(input),
  initial: 'Loading',
  states: {
    /**
     * Transient: resolved before the actor's first snapshot, never observable. A new group is
     * Empty; a group loaded from `__consumer_offsets` (`input.restore`) is what Kafka's loader
     * makes of it ({@link loadStep}): Stable with its members, or Empty with its generation.
     */
    Loading: {
      always: [
        { guard: { type: 'loadsTo', params: { to: 'Stable' } }, target: 'Stable', actions: 'load' },
        { guard: { type: 'loadsTo', params: { to: 'PreparingRebalance' } }, target: 'PreparingRebalance', actions: 'load' },
        { target: 'Empty' },
      ],
    },
    Empty: {
      on: {
        'joinGroup.request': route('Empty', 'PreparingRebalance'),
        'syncGroup.request': route('Empty'),
        'heartbeat.request': route('Empty'),
        'leaveGroup.request': route('Empty'),
        'offsetCommit.validate': route('Empty'),
        'describeGroup.request': route('Empty'),
        'group.delete': moveTo('Empty', 'Dead'),
        'member.sessionExpired': route('Empty'),
      },
    },
    PreparingRebalance: {
      always: [
        { guard: { type: 'joinReady', params: { withMembers: true } }, target: 'CompletingRebalance', actions: 'completeJoin' },
        { guard: { type: 'joinReady', params: { withMembers: false } }, target: 'Empty', actions: 'completeJoin' },
      ],
      on: {
        'joinGroup.request': route('PreparingRebalance'),
        'syncGroup.request': route('PreparingRebalance'),
        'heartbeat.request': route('PreparingRebalance'),
        'leaveGroup.request': route('PreparingRebalance'),
        'offsetCommit.validate': route('PreparingRebalance'),
        'describeGroup.request': route('PreparingRebalance'),
        'group.delete': route('PreparingRebalance'),
        'member.sessionExpired': route('PreparingRebalance'),
        'join.timedOut': route('PreparingRebalance'),
        'join.initialDelayElapsed': route('PreparingRebalance'),
      },
    },
    CompletingRebalance: {
      on: {
        'joinGroup.request': route('CompletingRebalance', 'PreparingRebalance'),
        'syncGroup.request': route('CompletingRebalance'),
        'heartbeat.request': route('CompletingRebalance'),
        'leaveGroup.request': route('CompletingRebalance', 'PreparingRebalance'),
        'offsetCommit.validate': route('CompletingRebalance'),
        'describeGroup.request': route('CompletingRebalance'),
        'group.delete': route('CompletingRebalance'),
        'member.sessionExpired': route('CompletingRebalance', 'PreparingRebalance'),
        'sync.timedOut': route('CompletingRebalance', 'PreparingRebalance'),
        'group.metadataStored': route('CompletingRebalance', 'Stable', 'PreparingRebalance'),
      },
    },
    Stable: {
      on: {
        'joinGroup.request': route('Stable', 'PreparingRebalance'),
        'syncGroup.request': route('Stable'),
        'heartbeat.request': route('Stable'),
        'leaveGroup.request': route('Stable', 'PreparingRebalance'),
        'offsetCommit.validate': route('Stable'),
        'describeGroup.request': route('Stable'),
        'group.delete': route('Stable'),
        'member.sessionExpired': route('Stable', 'PreparingRebalance'),
        'sync.timedOut': route('Stable', 'PreparingRebalance'),
      },
    },
    Dead: {
      on: {
        'joinGroup.request': route('Dead'),
        'syncGroup.request': route('Dead'),
        'heartbeat.request': route('Dead'),
        'leaveGroup.request': route('Dead'),
        'offsetCommit.validate': route('Dead'),
        'describeGroup.request': route('Dead'),
        'group.delete': route('Dead'),
      },
    },
  },
});
