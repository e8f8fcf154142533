/**
 * Model tests of the classic group machine (kafka-anchor.md §7 behaviour 13):
 * 1. a table that puts the machine in every state and sends every request type, checking the
 *    error code and the next state against Kafka's classic coordinator;
 * 2. an @xstate/graph traversal that reaches every state and exercises every transition of the
 *    machine definition, checking on every step that the state change is one Kafka allows.
 */
import { describe, expect, it } from 'vitest';
import { getAdjacencyMap, getShortestPaths, toDirectedGraph } from '@xstate/graph';
import type { DirectedGraphNode } from '@xstate/graph';
import { createActor } from 'xstate';
import type { ActorLogic, AnyTransitionDefinition, EventObject, SnapshotFrom } from 'xstate';
import { SimulatedClock } from '../../../src/clock.ts';
import { groupMachine } from '../../../src/actors/groupCoordinator/group.machine.ts';
import { GROUP_STATES, VALID_PREVIOUS_STATES, isValidTransition } from '../../../src/actors/groupCoordinator/groupState.ts';
import type { GroupStateName } from '../../../src/actors/groupCoordinator/groupState.ts';
import type { GroupEvent, GroupRequest, JoinGroupResponse, LeaveGroupResponse } from '../../../src/actors/groupCoordinator/group.events.ts';
import { errorOf, joinRequest, rangeProtocols, stableGroupOfTwo, startGroup } from './harness.ts';
import type { Harness, RequestInit } from './harness.ts';

/* ------------------------------------------------------------------------------------------ */
/* 1. Every state × every request                                                               */
/* ------------------------------------------------------------------------------------------ */

interface Fixture {
  readonly h: Harness;
  /** The leader (absent in Empty and Dead). */
  readonly a: string;
  /** A follower (absent in Empty and Dead). */
  readonly b: string;
  /** The generation members of this state know. */
  readonly gen: number;
}

/** Puts a fresh group in `state`. */
function fixture(state: GroupStateName): Fixture {
  const h = startGroup();
  switch (state) {
    case 'Empty':
      return { h, a: 'a-unknown', b: 'b-unknown', gen: 0 };
    case 'Dead':
      h.ask({ type: 'group.delete' });
      return { h, a: 'a-unknown', b: 'b-unknown', gen: 0 };
    case 'Stable':
      return { h, ...stableGroupOfTwo(h), gen: 1 };
    case 'PreparingRebalance': {
      // b rejoins with new metadata; the leader a has not rejoined yet.
      const { a, b } = stableGroupOfTwo(h);
      h.send(joinRequest({ memberId: b, protocols: rangeProtocols(2) }, 'b'));
      return { h, a, b, gen: 1 };
    }
    case 'CompletingRebalance': {
      // both rejoin; generation 2 awaits the leader's SyncGroup.
      const { a, b } = stableGroupOfTwo(h);
      h.send(joinRequest({ memberId: a }, 'a'));
      h.send(joinRequest({ memberId: b }, 'b'));
      return { h, a, b, gen: 2 };
    }
  }
}

interface Row {
  readonly state: GroupStateName;
  readonly request: string;
  readonly send: (f: Fixture) => RequestInit;
  /** Error name of the (immediate) response; 'PARKED' when the request waits. */
  readonly error: string;
  readonly next: GroupStateName;
}

const join = (memberId: string, extra: Parameters<typeof joinRequest>[0] = {}) => (): RequestInit => joinRequest({ memberId, ...extra });
const sync = (who: 'a' | 'b', assign = false, genDelta = 0) => (f: Fixture): RequestInit => ({
  type: 'syncGroup.request',
  memberId: f[who],
  generationId: f.gen + genDelta,
  assignments: assign ? [{ memberId: f.a, assignment: 0 }, { memberId: f.b, assignment: 1 }] : [],
});
const heartbeat = (who: 'a' | 'b', genDelta = 0) => (f: Fixture): RequestInit => ({ type: 'heartbeat.request', memberId: f[who], generationId: f.gen + genDelta });
const leave = (who: 'a' | 'b') => (f: Fixture): RequestInit => ({ type: 'leaveGroup.request', members: [{ memberId: f[who] }] });
const commit = (who: 'a' | 'b' | 'simple', genDelta = 0) => (f: Fixture): RequestInit =>
  who === 'simple' ? { type: 'offsetCommit.validate', memberId: '', generationId: -1 } : { type: 'offsetCommit.validate', memberId: f[who], generationId: f.gen + genDelta };
const describeReq = (): RequestInit => ({ type: 'describeGroup.request' });
const del = (): RequestInit => ({ type: 'group.delete' });

/** Kafka's classic-group answers, state by state (kafka-anchor.md §2.1, checked against GroupMetadataManager). */
const TABLE: Row[] = [
  // Empty: no members; a new member starts the first rebalance.
  { state: 'Empty', request: 'JoinGroup (new dynamic member)', send: join(''), error: 'MEMBER_ID_REQUIRED', next: 'Empty' },
  { state: 'Empty', request: 'JoinGroup (new static member)', send: join('', { groupInstanceId: 'i1' }), error: 'PARKED', next: 'PreparingRebalance' },
  { state: 'Empty', request: 'JoinGroup (unknown member id)', send: join('ghost'), error: 'UNKNOWN_MEMBER_ID', next: 'Empty' },
  { state: 'Empty', request: 'JoinGroup (session timeout too small)', send: join('', { sessionTimeoutMs: 10 }), error: 'INVALID_SESSION_TIMEOUT', next: 'Empty' },
  { state: 'Empty', request: 'SyncGroup', send: sync('a'), error: 'UNKNOWN_MEMBER_ID', next: 'Empty' },
  { state: 'Empty', request: 'Heartbeat', send: heartbeat('a'), error: 'UNKNOWN_MEMBER_ID', next: 'Empty' },
  { state: 'Empty', request: 'LeaveGroup', send: leave('a'), error: 'UNKNOWN_MEMBER_ID', next: 'Empty' },
  { state: 'Empty', request: 'OffsetCommit (group member)', send: commit('a'), error: 'UNKNOWN_MEMBER_ID', next: 'Empty' },
  { state: 'Empty', request: 'OffsetCommit (simple consumer, generation -1)', send: commit('simple'), error: 'NONE', next: 'Empty' },
  { state: 'Empty', request: 'DescribeGroups', send: describeReq, error: 'NONE', next: 'Empty' },
  { state: 'Empty', request: 'DeleteGroups', send: del, error: 'NONE', next: 'Dead' },

  // PreparingRebalance: joins park; heartbeats and syncs are told to rejoin.
  { state: 'PreparingRebalance', request: 'JoinGroup (new dynamic member)', send: join(''), error: 'MEMBER_ID_REQUIRED', next: 'PreparingRebalance' },
  { state: 'PreparingRebalance', request: 'JoinGroup (last member rejoins)', send: (f) => joinRequest({ memberId: f.a }), error: 'NONE', next: 'CompletingRebalance' },
  { state: 'PreparingRebalance', request: 'JoinGroup (unknown member id)', send: join('ghost'), error: 'UNKNOWN_MEMBER_ID', next: 'PreparingRebalance' },
  { state: 'PreparingRebalance', request: 'JoinGroup (incompatible protocol)', send: join('', { protocols: [{ name: 'sticky', metadata: null }] }), error: 'INCONSISTENT_GROUP_PROTOCOL', next: 'PreparingRebalance' },
  { state: 'PreparingRebalance', request: 'SyncGroup', send: sync('a'), error: 'REBALANCE_IN_PROGRESS', next: 'PreparingRebalance' },
  { state: 'PreparingRebalance', request: 'SyncGroup (wrong generation)', send: sync('a', false, -1), error: 'ILLEGAL_GENERATION', next: 'PreparingRebalance' },
  { state: 'PreparingRebalance', request: 'Heartbeat', send: heartbeat('a'), error: 'REBALANCE_IN_PROGRESS', next: 'PreparingRebalance' },
  { state: 'PreparingRebalance', request: 'Heartbeat (wrong generation)', send: heartbeat('a', 1), error: 'ILLEGAL_GENERATION', next: 'PreparingRebalance' },
  { state: 'PreparingRebalance', request: 'Heartbeat (unknown member)', send: () => ({ type: 'heartbeat.request', memberId: 'ghost', generationId: 1 }), error: 'UNKNOWN_MEMBER_ID', next: 'PreparingRebalance' },
  { state: 'PreparingRebalance', request: 'LeaveGroup (the member not yet rejoined)', send: leave('a'), error: 'NONE', next: 'CompletingRebalance' },
  { state: 'PreparingRebalance', request: 'OffsetCommit (previous generation)', send: commit('a'), error: 'NONE', next: 'PreparingRebalance' },
  { state: 'PreparingRebalance', request: 'OffsetCommit (simple consumer)', send: commit('simple'), error: 'UNKNOWN_MEMBER_ID', next: 'PreparingRebalance' },
  { state: 'PreparingRebalance', request: 'DescribeGroups', send: describeReq, error: 'NONE', next: 'PreparingRebalance' },
  { state: 'PreparingRebalance', request: 'DeleteGroups', send: del, error: 'NON_EMPTY_GROUP', next: 'PreparingRebalance' },

  // CompletingRebalance: followers' syncs park until the leader's; a join or leave restarts the rebalance.
  { state: 'CompletingRebalance', request: 'JoinGroup (new dynamic member)', send: join(''), error: 'MEMBER_ID_REQUIRED', next: 'CompletingRebalance' },
  { state: 'CompletingRebalance', request: 'JoinGroup (same metadata)', send: (f) => joinRequest({ memberId: f.b }), error: 'NONE', next: 'CompletingRebalance' },
  { state: 'CompletingRebalance', request: 'JoinGroup (changed metadata)', send: (f) => joinRequest({ memberId: f.b, protocols: rangeProtocols(3) }), error: 'PARKED', next: 'PreparingRebalance' },
  { state: 'CompletingRebalance', request: 'SyncGroup (follower)', send: sync('b'), error: 'PARKED', next: 'CompletingRebalance' },
  { state: 'CompletingRebalance', request: 'SyncGroup (leader with assignment)', send: sync('a', true), error: 'NONE', next: 'Stable' },
  { state: 'CompletingRebalance', request: 'SyncGroup (wrong generation)', send: sync('a', true, -1), error: 'ILLEGAL_GENERATION', next: 'CompletingRebalance' },
  // Kafka's code answers CompletingRebalance heartbeats normally (GroupMetadataManager.classicGroupHeartbeatToClassicGroup).
  { state: 'CompletingRebalance', request: 'Heartbeat', send: heartbeat('b'), error: 'NONE', next: 'CompletingRebalance' },
  { state: 'CompletingRebalance', request: 'Heartbeat (wrong generation)', send: heartbeat('b', -1), error: 'ILLEGAL_GENERATION', next: 'CompletingRebalance' },
  { state: 'CompletingRebalance', request: 'LeaveGroup', send: leave('b'), error: 'NONE', next: 'PreparingRebalance' },
  { state: 'CompletingRebalance', request: 'OffsetCommit (current generation)', send: commit('b'), error: 'REBALANCE_IN_PROGRESS', next: 'CompletingRebalance' },
  { state: 'CompletingRebalance', request: 'OffsetCommit (old generation)', send: commit('b', -1), error: 'ILLEGAL_GENERATION', next: 'CompletingRebalance' },
  { state: 'CompletingRebalance', request: 'DescribeGroups', send: describeReq, error: 'NONE', next: 'CompletingRebalance' },
  { state: 'CompletingRebalance', request: 'DeleteGroups', send: del, error: 'NON_EMPTY_GROUP', next: 'CompletingRebalance' },

  // Stable.
  { state: 'Stable', request: 'JoinGroup (new dynamic member)', send: join(''), error: 'MEMBER_ID_REQUIRED', next: 'Stable' },
  { state: 'Stable', request: 'JoinGroup (follower, same metadata)', send: (f) => joinRequest({ memberId: f.b }), error: 'NONE', next: 'Stable' },
  { state: 'Stable', request: 'JoinGroup (follower, changed metadata)', send: (f) => joinRequest({ memberId: f.b, protocols: rangeProtocols(2) }), error: 'PARKED', next: 'PreparingRebalance' },
  { state: 'Stable', request: 'JoinGroup (leader)', send: (f) => joinRequest({ memberId: f.a }), error: 'PARKED', next: 'PreparingRebalance' },
  { state: 'Stable', request: 'SyncGroup', send: sync('b'), error: 'NONE', next: 'Stable' },
  { state: 'Stable', request: 'SyncGroup (wrong generation)', send: sync('b', false, 1), error: 'ILLEGAL_GENERATION', next: 'Stable' },
  { state: 'Stable', request: 'Heartbeat', send: heartbeat('b'), error: 'NONE', next: 'Stable' },
  { state: 'Stable', request: 'Heartbeat (wrong generation)', send: heartbeat('b', -1), error: 'ILLEGAL_GENERATION', next: 'Stable' },
  { state: 'Stable', request: 'Heartbeat (unknown member)', send: () => ({ type: 'heartbeat.request', memberId: 'ghost', generationId: 1 }), error: 'UNKNOWN_MEMBER_ID', next: 'Stable' },
  { state: 'Stable', request: 'LeaveGroup', send: leave('b'), error: 'NONE', next: 'PreparingRebalance' },
  { state: 'Stable', request: 'OffsetCommit (current generation)', send: commit('b'), error: 'NONE', next: 'Stable' },
  { state: 'Stable', request: 'OffsetCommit (old generation)', send: commit('b', -1), error: 'ILLEGAL_GENERATION', next: 'Stable' },
  { state: 'Stable', request: 'OffsetCommit (simple consumer)', send: commit('simple'), error: 'UNKNOWN_MEMBER_ID', next: 'Stable' },
  { state: 'Stable', request: 'DescribeGroups', send: describeReq, error: 'NONE', next: 'Stable' },
  { state: 'Stable', request: 'DeleteGroups', send: del, error: 'NON_EMPTY_GROUP', next: 'Stable' },

  // Dead: the group is gone from this coordinator; clients rediscover it (Kafka answers COORDINATOR_NOT_AVAILABLE).
  { state: 'Dead', request: 'JoinGroup (new member)', send: join(''), error: 'COORDINATOR_NOT_AVAILABLE', next: 'Dead' },
  { state: 'Dead', request: 'JoinGroup (known id)', send: join('a-unknown'), error: 'COORDINATOR_NOT_AVAILABLE', next: 'Dead' },
  { state: 'Dead', request: 'SyncGroup', send: sync('a'), error: 'COORDINATOR_NOT_AVAILABLE', next: 'Dead' },
  { state: 'Dead', request: 'Heartbeat', send: heartbeat('a'), error: 'COORDINATOR_NOT_AVAILABLE', next: 'Dead' },
  { state: 'Dead', request: 'LeaveGroup', send: leave('a'), error: 'COORDINATOR_NOT_AVAILABLE', next: 'Dead' },
  { state: 'Dead', request: 'OffsetCommit', send: commit('simple'), error: 'COORDINATOR_NOT_AVAILABLE', next: 'Dead' },
  { state: 'Dead', request: 'DescribeGroups', send: describeReq, error: 'NONE', next: 'Dead' },
  { state: 'Dead', request: 'DeleteGroups', send: del, error: 'GROUP_ID_NOT_FOUND', next: 'Dead' },
];

/** The error a response reports: for LeaveGroup (v3+) the member-level error, as the top level is always NONE outside Dead. */
function reportedError(h: Harness, correlationId: number): string {
  const r = h.reply(correlationId);
  if (r?.type === 'leaveGroup.response' && r.errorCode === 0) return errorOf((r as LeaveGroupResponse).members[0]);
  return errorOf(r);
}

describe('classic group state table (kafka-anchor.md §7 behaviour 13)', () => {
  it('covers every request type in every state', () => {
    const requestTypes: GroupRequest['type'][] = ['joinGroup.request', 'syncGroup.request', 'heartbeat.request', 'leaveGroup.request', 'offsetCommit.validate', 'describeGroup.request', 'group.delete'];
    for (const state of GROUP_STATES) {
      const f = fixture(state);
      expect(f.h.state()).toBe(state);
      const covered = new Set(TABLE.filter((r) => r.state === state).map((r) => r.send(f).type));
      expect([...covered].sort()).toEqual([...requestTypes].sort());
    }
  });

  it.each(TABLE.map((r) => [r.state, r.request, r.error, r.next, r] as const))('%s + %s → %s, %s', (state, _request, error, next, row) => {
    const f = fixture(state);
    expect(f.h.state()).toBe(state);
    const id = f.h.send(row.send(f));
    expect(reportedError(f.h, id)).toBe(error);
    expect(f.h.state()).toBe(next);
    if (state !== next) expect(isValidTransition(state, next)).toBe(true);
  });

  it('answers every request exactly once and never answers a request twice', () => {
    for (const row of TABLE) {
      const f = fixture(row.state);
      const id = f.h.send(row.send(f));
      expect(f.h.responses.filter((r) => r.response.correlationId === id).length).toBe(row.error === 'PARKED' ? 0 : 1);
    }
  });

  it('releases parked requests: a PreparingRebalance join is answered when the phase completes', () => {
    const f = fixture('PreparingRebalance');
    const parked = f.h.responses.length;
    f.h.send(joinRequest({ memberId: f.a }));
    const answered = f.h.responses.slice(parked).map((r) => r.response as JoinGroupResponse);
    expect(answered.map((r) => [r.memberId, r.generationId, r.errorCode])).toEqual([
      [f.a, 2, 0],
      [f.b, 2, 0],
    ]);
  });

  it('releases parked requests when the coordinator gives the group up: NOT_COORDINATOR, then Dead', () => {
    const f = fixture('PreparingRebalance');
    const parked = f.h.responses.length;
    f.h.actor.send({ type: 'group.unload' });
    const answered = f.h.responses.slice(parked).map((r) => r.response as JoinGroupResponse);
    expect(answered.map((r) => [r.memberId, r.error])).toEqual([[f.b, 'NOT_COORDINATOR']]);
    expect(f.h.state()).toBe('Dead');
  });
});

/* ------------------------------------------------------------------------------------------ */
/* 2. Graph traversal: every state reachable, every transition exercised                        */
/* ------------------------------------------------------------------------------------------ */

type GroupSnapshot = SnapshotFrom<typeof groupMachine>;
const MAX_PARTICIPANTS = 2;
const input = { groupId: 'g', memberIdSeed: 1, config: { 'group.max.size': 3 } };

/** Events worth sending to a snapshot: every request kind from every participant, and every timer. */
function eventsFor(snapshot: GroupSnapshot): GroupEvent[] {
  const g = snapshot.context;
  const env = { correlationId: 1, replyTo: 'x' };
  const base = { ...env, sessionTimeoutMs: 10_000, rebalanceTimeoutMs: 60_000, protocolType: 'consumer' };
  const v1 = [{ name: 'range', metadata: 1 }];
  const v2 = [{ name: 'range', metadata: 2 }];
  const events: GroupEvent[] = [];
  const participants = g.members.length + g.pendingMembers.length;
  if (participants < MAX_PARTICIPANTS) {
    events.push({ type: 'joinGroup.request', ...base, memberId: '', protocols: v1 });
    if (g.members.every((m) => m.groupInstanceId === null)) events.push({ type: 'joinGroup.request', ...base, memberId: '', groupInstanceId: 'i1', protocols: v1 });
  }
  events.push({ type: 'joinGroup.request', ...base, memberId: '', sessionTimeoutMs: 1, protocols: v1 });
  events.push({ type: 'joinGroup.request', ...base, memberId: 'ghost', protocols: [{ name: 'sticky', metadata: 0 }] });
  events.push({ type: 'syncGroup.request', ...env, memberId: 'ghost', generationId: g.generationId, assignments: [] });
  events.push({ type: 'heartbeat.request', ...env, memberId: 'ghost', generationId: g.generationId });
  events.push({ type: 'leaveGroup.request', ...env, members: [{ memberId: 'ghost' }] });
  for (const id of g.pendingMembers) {
    events.push({ type: 'joinGroup.request', ...base, memberId: id, protocols: v1 });
    events.push({ type: 'member.sessionExpired', memberId: id });
    events.push({ type: 'leaveGroup.request', ...env, members: [{ memberId: id }] });
  }
  for (const m of g.members) {
    const instance = m.groupInstanceId === null ? {} : { groupInstanceId: m.groupInstanceId };
    const other = m.protocols[0]?.metadata === 1 ? v2 : v1;
    events.push({ type: 'joinGroup.request', ...base, ...instance, memberId: m.memberId, protocols: m.protocols });
    events.push({ type: 'joinGroup.request', ...base, ...instance, memberId: m.memberId, protocols: other });
    if (m.groupInstanceId !== null) {
      events.push({ type: 'joinGroup.request', ...base, memberId: '', groupInstanceId: m.groupInstanceId, protocols: m.protocols });
      events.push({ type: 'joinGroup.request', ...base, memberId: '', groupInstanceId: m.groupInstanceId, protocols: [{ name: 'roundrobin', metadata: 0 }, { name: 'range', metadata: 1 }] });
      events.push({ type: 'leaveGroup.request', ...env, members: [{ memberId: '', groupInstanceId: m.groupInstanceId }] });
    }
    events.push({ type: 'syncGroup.request', ...env, ...instance, memberId: m.memberId, generationId: g.generationId, assignments: g.members.map((x) => ({ memberId: x.memberId, assignment: x.memberId })) });
    events.push({ type: 'heartbeat.request', ...env, ...instance, memberId: m.memberId, generationId: g.generationId });
    events.push({ type: 'heartbeat.request', ...env, ...instance, memberId: m.memberId, generationId: g.generationId - 1 });
    events.push({ type: 'leaveGroup.request', ...env, members: [{ memberId: m.memberId, ...instance }] });
    events.push({ type: 'offsetCommit.validate', ...env, ...instance, memberId: m.memberId, generationId: g.generationId });
    events.push({ type: 'member.sessionExpired', memberId: m.memberId });
  }
  events.push({ type: 'offsetCommit.validate', ...env, memberId: '', generationId: -1 });
  events.push({ type: 'describeGroup.request', ...env });
  events.push({ type: 'group.delete', ...env });
  events.push({ type: 'join.timedOut' });
  events.push({ type: 'join.initialDelayElapsed', delayMs: 3000, remainingMs: 57_000 });
  events.push({ type: 'join.initialDelayElapsed', delayMs: 3000, remainingMs: 0 });
  events.push({ type: 'sync.timedOut', generationId: g.generationId });
  events.push({ type: 'sync.timedOut', generationId: g.generationId - 1 });
  // The host's answers to a GroupMetadata append: success, failure, and a stale one.
  events.push({ type: 'group.metadataStored', generationId: g.generationId });
  events.push({ type: 'group.metadataStored', generationId: g.generationId, error: 'NOT_LEADER_OR_FOLLOWER' });
  events.push({ type: 'group.metadataStored', generationId: g.generationId - 1 });
  // The coordinator gives the offsets partition up.
  events.push({ type: 'group.unload' });
  return events;
}

/** A snapshot's identity for the traversal: its state and the shape of its context, not ids or generation numbers. */
function serializeState(snapshot: GroupSnapshot): string {
  const g = snapshot.context;
  const members = g.members.map((m) => [
    m.groupInstanceId === null ? 'd' : 's',
    m.memberId === g.leaderId ? 'L' : 'F',
    m.awaitingJoin === null ? '' : 'J',
    m.awaitingSync === null ? '' : 'S',
    m.isNew ? 'N' : '',
    m.assignment === null ? '' : 'A',
    g.pendingSyncMembers.includes(m.memberId) ? 'P' : '',
    JSON.stringify(m.protocols),
  ].join(''));
  return JSON.stringify([snapshot.value, members, g.pendingMembers.length, g.initialRebalance, g.newMemberAdded, g.readyToCompleteJoin, g.protocolName, g.generationId > 0]);
}

function serializeEvent(event: EventObject): string {
  return JSON.stringify(event);
}

/** Every transition of the machine definition, as `source --event--> target` keys, with always-transitions as event ''. */
function definedTransitions(): Set<string> {
  const keys = new Set<string>();
  const visit = (node: DirectedGraphNode): void => {
    for (const edge of node.edges) keys.add(`${edge.source.key} --${edge.label.text}--> ${edge.target.key}`);
    for (const t of node.stateNode.always ?? []) {
      for (const target of t.target ?? [node.stateNode]) keys.add(`${node.stateNode.key} ----> ${target.key}`);
    }
    node.children.forEach(visit);
  };
  toDirectedGraph(groupMachine).children.forEach(visit);
  return keys;
}

describe('classic group machine graph (@xstate/graph)', () => {
  // getAdjacencyMap's signature fixes the emitted-event type to EventObject; the machine's is narrower.
  const logic = groupMachine as unknown as ActorLogic<GroupSnapshot, GroupEvent, typeof input>;
  const adjacency = getAdjacencyMap(logic, { input, events: eventsFor, serializeState, serializeEvent, limit: 200_000 });
  const entries = Object.values(adjacency).map((entry) => ({
    state: entry.state,
    transitions: Object.values(entry.transitions) as Array<{ event: GroupEvent; state: GroupSnapshot }>,
  }));

  it('explores a bounded model of the group', () => {
    expect(entries.length).toBeGreaterThan(100);
  });

  it('reaches every state (shortest paths)', () => {
    const paths = getShortestPaths(groupMachine, { input, events: eventsFor, serializeState, serializeEvent });
    const reached = new Set(paths.map((p) => p.state.value as GroupStateName));
    expect([...reached].sort()).toEqual([...GROUP_STATES].sort());
    for (const state of GROUP_STATES) {
      const shortest = paths.filter((p) => p.state.value === state).sort((x, y) => x.weight - y.weight)[0];
      expect(shortest, `a path to ${state}`).toBeDefined();
    }
  });

  it('moves only along Kafka’s valid-previous-state sets, microstep by microstep', () => {
    let moves = 0;
    for (const { state, transitions } of entries) {
      for (const { event, state: next } of transitions) {
        const from = state.value as GroupStateName;
        const hops: GroupStateName[] = [from];
        for (const t of groupMachine.getTransitionData(state, event as GroupEvent)) hops.push((t.target?.[0]?.key ?? from) as GroupStateName);
        hops.push(next.value as GroupStateName);
        for (let i = 1; i < hops.length; i++) {
          const [x, y] = [hops[i - 1] as GroupStateName, hops[i] as GroupStateName];
          if (x !== y) {
            moves++;
            expect(isValidTransition(x, y), `${x} → ${y} on ${event.type}`).toBe(true);
          }
        }
      }
    }
    expect(moves).toBeGreaterThan(100);
    expect(VALID_PREVIOUS_STATES.CompletingRebalance).toEqual(['PreparingRebalance']);
  });

  it('exercises every transition of the machine definition', () => {
    const defined = definedTransitions();
    const taken = new Set<string>();
    for (const { state, transitions } of entries) {
      for (const { event, state: next } of transitions) {
        const selected: AnyTransitionDefinition[] = groupMachine.getTransitionData(state, event as GroupEvent);
        const from = state.value as string;
        for (const t of selected) {
          const target = t.target?.[0]?.key ?? from;
          taken.add(`${from} --${t.eventType}--> ${target}`);
          // An eventless transition fired afterwards when the state differs from the selected target.
          if (next.value !== target) taken.add(`${target} ----> ${next.value as string}`);
        }
      }
    }
    // The transient Loading state resolves before the first snapshot: its three eventless
    // transitions are taken by starting the machine as a new group, a loaded Stable group and a
    // loaded group over group.max.size.
    const member = (memberId: string) => ({ memberId, groupInstanceId: null, clientId: 'c', clientHost: '', rebalanceTimeout: 60_000, sessionTimeout: 10_000, subscription: 1, assignment: null });
    const restoreInputs = [
      input,
      { ...input, restore: { groupId: 'g', protocolType: 'consumer', generation: 3, protocol: 'range', leader: 'm1', members: [member('m1')] } },
      { ...input, restore: { groupId: 'g', protocolType: 'consumer', generation: 3, protocol: 'range', leader: 'm1', members: ['m1', 'm2', 'm3', 'm4'].map(member) } },
    ];
    for (const restoreInput of restoreInputs) {
      const actor = createActor(groupMachine, { clock: new SimulatedClock(), input: restoreInput }).start();
      taken.add(`Loading ----> ${actor.getSnapshot().value as string}`);
      actor.stop();
    }
    const missing = [...defined].filter((k) => !taken.has(k));
    expect(missing).toEqual([]);
    expect(defined.size).toBeGreaterThan(40);
  });

  it('answers every request of every explored snapshot exactly once, or parks it', () => {
    let checked = 0;
    for (const { state, transitions } of entries) {
      for (const { event } of transitions) {
        if (!('correlationId' in event)) continue;
        const actor = createActor(groupMachine, { clock: new SimulatedClock(), snapshot: groupMachine.getPersistedSnapshot(state), input });
        const answers: number[] = [];
        actor.on('response', (e) => answers.push(e.response.correlationId));
        actor.start();
        actor.send({ ...event, correlationId: 99 } as GroupEvent);
        const parked = actor.getSnapshot().context.members.some((m) => m.awaitingJoin?.correlationId === 99 || m.awaitingSync?.correlationId === 99);
        expect(answers.filter((id) => id === 99).length + (parked ? 1 : 0), `${String(state.value)} + ${event.type}`).toBe(1);
        actor.stop();
        checked++;
      }
    }
    expect(checked).toBeGreaterThan(1000);
  });
});
