/**
 * One step of the classic group: what a handler decides for one event, built up by a
 * {@link StepBuilder} (the next state, the next group data, and the effects — responses,
 * inspection events, metadata writes, timers — as plain data), plus the response builders and
 * timer ids every handler shares. The machine carries a step out with `enqueueDecision`.
 */
import type { Decision } from '../../coordination/effects.ts';
import { effect } from '../../coordination/effects.ts';
import { groupErrorFields } from '../group.events.ts';
import type { GroupEmitted, GroupErrorName, GroupInspectionEvent, GroupResponse, GroupTimerEvent, JoinGroupResponse } from '../group.events.ts';
import { currentMemberMetadata, getGroupMetadata, isLeader } from '../groupState.ts';
import type { GroupData, GroupMember, GroupStateName, ParkedRequest } from '../groupState.ts';

/** The outcome of one event: the next state, the next group data and what to emit or schedule. */
export interface Step extends Decision<GroupData, GroupTimerEvent, GroupEmitted> {
  readonly next: GroupStateName;
  readonly context: GroupData;
}

/** Id of the join-phase timer (rebalance timeout or initial delay). */
export const JOIN_TIMER = 'join';
/** Id of the pending-sync timer. */
export const SYNC_TIMER = 'sync';
/** Id of a member's session timer. */
export const sessionTimer = (memberId: string): string => `session:${memberId}`;

/** Accumulates one step; local mutation only, the handlers stay pure from the outside. */
export class StepBuilder {
  readonly effects: Step['effects'][number][] = [];
  constructor(
    public group: GroupData,
    readonly state: GroupStateName,
  ) {}

  /** Answers a (possibly parked) request. */
  respond(to: ParkedRequest, response: GroupResponse): void {
    this.effects.push(effect.emit<GroupEmitted>({ type: 'response', to: to.replyTo, response }));
  }
  /** Emits an inspection event. */
  emit(event: GroupInspectionEvent): void {
    this.effects.push(effect.emit(event));
  }
  /** Asks the host to write the group's metadata record (or a tombstone) to `__consumer_offsets`. */
  persist(awaitsStore: boolean, tombstone = false): void {
    this.effects.push(effect.emit<GroupEmitted>({ type: 'group.metadataChanged', groupId: this.group.groupId, metadata: tombstone ? null : getGroupMetadata({ context: this.group }), awaitsStore }));
  }
  /** Starts (or restarts, after a {@link cancel}) the timer `id`. */
  schedule(id: string, delayMs: number, event: GroupTimerEvent): void {
    this.effects.push(effect.schedule(event, delayMs, id));
  }
  /** Cancels the timer `id`. */
  cancel(id: string): void {
    this.effects.push(effect.cancel(id));
  }
  /** The step: `next` (default: stay), the group as built and the effects in order. */
  done(next: GroupStateName = this.state): Step {
    return { next, context: this.group, effects: this.effects };
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

/** Answers a JoinGroup with `error` (generation -1, no leader, no members). */
export function respondJoinError(b: StepBuilder, to: ParkedRequest, error: GroupErrorName, memberId: string): void {
  b.respond(to, joinResponse(to.correlationId, { memberId }, error));
}

/** The current generation's JoinGroup answer for `memberId` (the leader also gets every member's metadata). */
export function currentGenerationJoinResponse(group: GroupData, correlationId: number, memberId: string, options: { leaderGetsMembers: boolean; skipAssignment: boolean }): JoinGroupResponse {
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

/** Answers a SyncGroup: the assignment and the group's protocol, or `error` and nothing else. */
export function respondSync(b: StepBuilder, to: ParkedRequest, error: GroupErrorName | null, assignment: unknown = null): void {
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

/** Answers a request whose response is its error alone (Heartbeat, the offset-commit check). */
export function respondSimple(b: StepBuilder, to: ParkedRequest, type: 'heartbeat.response' | 'offsetCommit.validateResponse', error: GroupErrorName | null): void {
  b.respond(to, { type, correlationId: to.correlationId, ...groupErrorFields(error) });
}

/** (Re)starts a member's session timer. */
export function scheduleSession(b: StepBuilder, memberId: string, timeoutMs: number): void {
  b.cancel(sessionTimer(memberId));
  b.schedule(sessionTimer(memberId), timeoutMs, { type: 'member.sessionExpired', memberId });
}

/** The `groupInstanceId` field of a static member's events and answers; nothing for a dynamic one. */
export function instanceField(member: GroupMember): { groupInstanceId?: string } {
  return member.groupInstanceId === null ? {} : { groupInstanceId: member.groupInstanceId };
}
