import { describe, expect, it } from 'vitest';
import { createActor } from 'xstate';
import { SimulatedClock } from '../../../src/clock.ts';
import { groupMachine } from '../../../src/actors/groupCoordinator/group.machine.ts';
import { getGroupMetadata } from '../../../src/actors/groupCoordinator/groupState.ts';
import type { DescribeGroupResponse, JoinGroupResponse, LeaveGroupResponse } from '../../../src/actors/groupCoordinator/group.events.ts';
import {
  REBALANCE_MS,
  SESSION_MS,
  errorOf,
  joinDynamic,
  joinReply,
  joinRequest,
  rangeProtocols,
  stableGroupOfTwo,
  startGroup,
  syncReply,
} from './harness.ts';

describe('classic group: first rebalance', () => {
  it('admits two members through MEMBER_ID_REQUIRED, waits the initial delay, and distributes the leader assignment as generation 1', () => {
    const h = startGroup();

    // KIP-394: a new dynamic member gets an id and must rejoin with it; the group stays Empty.
    const first = h.ask(joinRequest({}, 'a')) as JoinGroupResponse;
    expect(first).toMatchObject({ errorCode: 79, error: 'MEMBER_ID_REQUIRED', generationId: -1 });
    expect(first.memberId).toMatch(/^a-[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(h.state()).toBe('Empty');
    const joinA = h.send(joinRequest({ memberId: first.memberId }, 'a'));
    expect(h.reply(joinA)).toBeUndefined();
    expect(h.state()).toBe('PreparingRebalance');

    h.clock.advance(1000);
    const b = joinDynamic(h, 'b');

    // Initial delay: 3000 ms, extended by another 3000 because b arrived during it.
    h.clock.advance(4999);
    expect(h.state()).toBe('PreparingRebalance');
    h.clock.advance(1);
    expect(h.clock.now()).toBe(6000);
    expect(h.state()).toBe('CompletingRebalance');

    const leaderJoin = joinReply(h, joinA);
    const followerJoin = joinReply(h, b.joinId);
    expect(leaderJoin).toMatchObject({ errorCode: 0, generationId: 1, protocolType: 'consumer', protocolName: 'range', leader: first.memberId });
    expect(leaderJoin.members).toEqual([
      { memberId: first.memberId, metadata: { version: 1, topics: ['orders'] } },
      { memberId: b.memberId, metadata: { version: 1, topics: ['orders'] } },
    ]);
    expect(followerJoin).toMatchObject({ errorCode: 0, generationId: 1, leader: first.memberId, members: [] });

    // The follower's SyncGroup parks until the leader's arrives with the assignment.
    const syncB = h.send({ type: 'syncGroup.request', replyTo: 'b', memberId: b.memberId, generationId: 1, assignments: [] });
    expect(h.reply(syncB)).toBeUndefined();
    const syncA = h.send({
      type: 'syncGroup.request',
      replyTo: 'a',
      memberId: first.memberId,
      generationId: 1,
      assignments: [
        { memberId: first.memberId, assignment: { partitions: [0] } },
        { memberId: b.memberId, assignment: { partitions: [1] } },
      ],
    });
    expect(syncReply(h, syncA)).toMatchObject({ errorCode: 0, protocolName: 'range', assignment: { partitions: [0] } });
    expect(syncReply(h, syncB)).toMatchObject({ errorCode: 0, protocolName: 'range', assignment: { partitions: [1] } });
    expect(h.responses.find((r) => r.response.correlationId === syncB)?.to).toBe('b');
    expect(h.state()).toBe('Stable');
    expect(h.events.map((e) => e.type)).toEqual([
      '@samsa.group.memberAdded',
      '@samsa.group.rebalanceStarted',
      '@samsa.group.memberAdded',
      '@samsa.group.joinCompleted',
      '@samsa.group.stabilized',
    ]);
    expect(h.events.at(-1)).toEqual({ type: '@samsa.group.stabilized', groupId: 'g', generationId: 1, protocolName: 'range', leaderId: first.memberId, members: [first.memberId, b.memberId] });
  });

  it('stops extending the initial delay at the rebalance timeout', () => {
    const h = startGroup({ config: { 'group.initial.rebalance.delay.ms': 3000 } });
    // rebalance timeout 7000: remaining = 4000 after the first delay.
    const a = joinDynamic(h, 'a', { rebalanceTimeoutMs: 7000 });
    for (let t = 1000; t <= 9000; t += 1000) {
      h.clock.advance(1000);
      if (h.state() === 'PreparingRebalance') joinDynamic(h, `c${t}`, { rebalanceTimeoutMs: 7000 });
    }
    // Delays: 3000 (→3000), min(3000,4000)=3000 (→6000), then remaining 1000 → min(3000,1000)=1000 (→7000), then 0 → complete.
    expect(joinReply(h, a.joinId).generationId).toBe(1);
    const completedAt = h.events.findIndex((e) => e.type === '@samsa.group.joinCompleted');
    expect(completedAt).toBeGreaterThan(0);
    const joined = h.events.filter((e, i) => e.type === '@samsa.group.memberAdded' && i < completedAt).length;
    expect(joined).toBe(7); // a + members that joined at t=1000..6000 (t=7000's join came after completion)
  });
});

describe('classic group: rebalances', () => {
  it('rebalances to generation 2 when a third member joins and rejects a stale-generation heartbeat', () => {
    const h = startGroup();
    const { a, b } = stableGroupOfTwo(h);

    const c = joinDynamic(h, 'c');
    expect(h.state()).toBe('PreparingRebalance');
    expect(h.events.at(-1)).toMatchObject({ type: '@samsa.group.rebalanceStarted', generationId: 1 });

    expect(h.ask({ type: 'heartbeat.request', replyTo: 'a', memberId: a, generationId: 1 })).toMatchObject({ error: 'REBALANCE_IN_PROGRESS' });
    expect(h.ask({ type: 'syncGroup.request', replyTo: 'a', memberId: a, generationId: 1, assignments: [] })).toMatchObject({ error: 'REBALANCE_IN_PROGRESS' });

    const joinA = h.send(joinRequest({ memberId: a }, 'a'));
    const joinB = h.send(joinRequest({ memberId: b }, 'b'));
    // Everyone rejoined: the join phase completes at once (no initial delay outside Empty).
    expect(h.state()).toBe('CompletingRebalance');
    expect(joinReply(h, joinA)).toMatchObject({ generationId: 2, leader: a });
    expect(joinReply(h, joinA).members.map((m) => m.memberId)).toEqual([a, b, c.memberId]);
    expect(joinReply(h, joinB)).toMatchObject({ generationId: 2, members: [] });
    expect(joinReply(h, c.joinId)).toMatchObject({ generationId: 2, members: [] });

    expect(h.ask({ type: 'heartbeat.request', replyTo: 'b', memberId: b, generationId: 1 })).toMatchObject({ errorCode: 22, error: 'ILLEGAL_GENERATION' });
    expect(h.ask({ type: 'offsetCommit.validate', replyTo: 'b', memberId: b, generationId: 1 })).toMatchObject({ error: 'ILLEGAL_GENERATION' });
    expect(h.ask({ type: 'heartbeat.request', replyTo: 'b', memberId: b, generationId: 2 })).toMatchObject({ errorCode: 0 });
  });

  it('keeps a member that heartbeats through a rebalance past its session timeout, until it rejoins within the rebalance timeout (KIP-62)', () => {
    const h = startGroup();
    const { a, b } = stableGroupOfTwo(h);
    // a rejoins: the group waits for b, which is busy processing but heartbeats in the background.
    const rejoinA = h.send(joinRequest({ memberId: a }, 'a'));
    expect(h.state()).toBe('PreparingRebalance');
    const start = h.clock.now();
    while (h.clock.now() < start + 3 * SESSION_MS) {
      h.clock.advance(3000);
      // A heartbeat in PreparingRebalance says "rejoin" and still counts as a sign of life.
      expect(h.ask({ type: 'heartbeat.request', replyTo: 'b', memberId: b, generationId: 1 })).toMatchObject({ error: 'REBALANCE_IN_PROGRESS' });
    }
    expect(h.context().members.map((m) => m.memberId)).toEqual([a, b]);
    expect(h.events.filter((e) => e.type === '@samsa.group.memberRemoved')).toEqual([]);
    // b comes back to poll within max.poll.interval.ms (the rebalance timeout) and rejoins.
    const rejoinB = h.send(joinRequest({ memberId: b }, 'b'));
    expect(joinReply(h, rejoinA)).toMatchObject({ generationId: 2, leader: a });
    expect(joinReply(h, rejoinB)).toMatchObject({ generationId: 2 });
    expect(h.clock.now() - start).toBeLessThan(REBALANCE_MS);
  });

  it('removes a member that stops heartbeating at exactly session.timeout.ms and rebalances', () => {
    const h = startGroup();
    const { a, b } = stableGroupOfTwo(h);
    const t0 = h.clock.now();

    h.clock.advance(1000);
    expect(h.ask({ type: 'heartbeat.request', replyTo: 'b', memberId: b, generationId: 1 })).toMatchObject({ errorCode: 0 });
    const lastHeartbeat = h.clock.now();
    // a keeps heartbeating every 3 s; b goes silent.
    while (h.clock.now() + 3000 < lastHeartbeat + SESSION_MS) {
      h.clock.advance(3000);
      expect(h.ask({ type: 'heartbeat.request', replyTo: 'a', memberId: a, generationId: 1 })).toMatchObject({ errorCode: 0 });
    }
    h.clock.set(lastHeartbeat + SESSION_MS - 1);
    expect(h.state()).toBe('Stable');
    expect(h.context().members.map((m) => m.memberId)).toEqual([a, b]);
    h.clock.advance(1);
    expect(h.clock.now()).toBe(t0 + 1000 + SESSION_MS);
    expect(h.context().members.map((m) => m.memberId)).toEqual([a]);
    expect(h.state()).toBe('PreparingRebalance');
    expect(h.events.filter((e) => e.type === '@samsa.group.memberRemoved')).toEqual([{ type: '@samsa.group.memberRemoved', groupId: 'g', memberId: b, reason: 'sessionTimeout' }]);

    // The survivor learns of the rebalance from its heartbeat, rejoins, and the group moves on alone.
    expect(h.ask({ type: 'heartbeat.request', replyTo: 'a', memberId: a, generationId: 1 })).toMatchObject({ error: 'REBALANCE_IN_PROGRESS' });
    const rejoin = h.send(joinRequest({ memberId: a }, 'a'));
    expect(joinReply(h, rejoin)).toMatchObject({ generationId: 2, leader: a, members: [{ memberId: a }] });
    expect(h.ask({ type: 'heartbeat.request', replyTo: 'b', memberId: b, generationId: 1 })).toMatchObject({ error: 'UNKNOWN_MEMBER_ID' });
  });

  it('removes members that do not rejoin within the rebalance timeout', () => {
    const h = startGroup();
    const { a, b } = stableGroupOfTwo(h);
    const joinA = h.send(joinRequest({ memberId: a }, 'a')); // the leader's rejoin forces a rebalance
    expect(h.state()).toBe('PreparingRebalance');
    const start = h.clock.now();
    // b stays alive (heartbeats) but never rejoins.
    while (h.clock.now() + 3000 < start + REBALANCE_MS) {
      h.clock.advance(3000);
      expect(h.ask({ type: 'heartbeat.request', replyTo: 'b', memberId: b, generationId: 1 })).toMatchObject({ error: 'REBALANCE_IN_PROGRESS' });
    }
    h.clock.set(start + REBALANCE_MS - 1);
    expect(h.state()).toBe('PreparingRebalance');
    h.clock.advance(1);
    expect(h.state()).toBe('CompletingRebalance');
    expect(joinReply(h, joinA)).toMatchObject({ generationId: 2, leader: a, members: [{ memberId: a }] });
    expect(h.events).toContainEqual({ type: '@samsa.group.memberRemoved', groupId: 'g', memberId: b, reason: 'rebalanceTimeout' });
    expect(h.ask({ type: 'heartbeat.request', replyTo: 'b', memberId: b, generationId: 1 })).toMatchObject({ error: 'UNKNOWN_MEMBER_ID' });
  });

  it('answers a follower that rejoins Stable with unchanged metadata with the current generation, without a rebalance', () => {
    const h = startGroup();
    const { a, b } = stableGroupOfTwo(h);
    const r = h.ask(joinRequest({ memberId: b }, 'b'));
    expect(r).toMatchObject({ errorCode: 0, generationId: 1, leader: a, members: [] });
    expect(h.state()).toBe('Stable');
    // Changed metadata forces a rebalance.
    h.send(joinRequest({ memberId: b, protocols: rangeProtocols(2) }, 'b'));
    expect(h.state()).toBe('PreparingRebalance');
  });

  it('answers parked follower SyncGroups with REBALANCE_IN_PROGRESS when a member joins during CompletingRebalance', () => {
    const h = startGroup();
    const { a, b } = stableGroupOfTwo(h);
    h.send(joinRequest({ memberId: a }, 'a'));
    h.send(joinRequest({ memberId: b }, 'b'));
    expect(h.state()).toBe('CompletingRebalance');
    const syncB = h.send({ type: 'syncGroup.request', replyTo: 'b', memberId: b, generationId: 2, assignments: [] });
    expect(h.reply(syncB)).toBeUndefined();
    joinDynamic(h, 'c');
    expect(h.state()).toBe('PreparingRebalance');
    expect(syncReply(h, syncB)).toMatchObject({ error: 'REBALANCE_IN_PROGRESS', assignment: null });
  });

  it('removes members that never send SyncGroup within the rebalance timeout (pending sync)', () => {
    const h = startGroup();
    const a = joinDynamic(h, 'a');
    h.clock.advance(500);
    const b = joinDynamic(h, 'b');
    h.clock.advance(5500);
    expect(h.state()).toBe('CompletingRebalance');
    const completedAt = h.clock.now();
    h.send({ type: 'syncGroup.request', replyTo: 'a', memberId: a.memberId, generationId: 1, assignments: [] });
    expect(h.state()).toBe('Stable');
    // b heartbeats but never syncs.
    while (h.clock.now() + 3000 < completedAt + REBALANCE_MS) {
      h.clock.advance(3000);
      h.send({ type: 'heartbeat.request', replyTo: 'b', memberId: b.memberId, generationId: 1 });
      h.send({ type: 'heartbeat.request', replyTo: 'a', memberId: a.memberId, generationId: 1 });
    }
    h.clock.set(completedAt + REBALANCE_MS);
    expect(h.events).toContainEqual({ type: '@samsa.group.memberRemoved', groupId: 'g', memberId: b.memberId, reason: 'syncTimeout' });
    expect(h.state()).toBe('PreparingRebalance');
  });

  it('goes back to Empty (with a new generation) when the last member leaves', () => {
    const h = startGroup();
    const { a, b } = stableGroupOfTwo(h);
    const leaveB = h.ask({ type: 'leaveGroup.request', replyTo: 'b', members: [{ memberId: b }] }) as LeaveGroupResponse;
    expect(leaveB).toMatchObject({ errorCode: 0, members: [{ memberId: b, errorCode: 0 }] });
    expect(h.state()).toBe('PreparingRebalance');
    const leaveA = h.ask({ type: 'leaveGroup.request', replyTo: 'a', members: [{ memberId: a }] }) as LeaveGroupResponse;
    expect(leaveA.members).toEqual([{ memberId: a, errorCode: 0 }]);
    expect(h.state()).toBe('Empty');
    expect(h.context().generationId).toBe(2);
    expect(h.context().protocolName).toBeNull();
    expect(h.events.at(-1)).toEqual({ type: '@samsa.group.emptied', groupId: 'g', generationId: 2 });
    // Empty answers member requests with UNKNOWN_MEMBER_ID.
    expect(h.ask({ type: 'heartbeat.request', replyTo: 'a', memberId: a, generationId: 2 })).toMatchObject({ error: 'UNKNOWN_MEMBER_ID' });
  });

  it('expires a pending member (MEMBER_ID_REQUIRED without a rejoin) after its session timeout', () => {
    const h = startGroup();
    const first = h.ask(joinRequest({}, 'x')) as JoinGroupResponse;
    expect(h.context().pendingMembers).toEqual([first.memberId]);
    h.clock.advance(SESSION_MS - 1);
    expect(h.context().pendingMembers).toEqual([first.memberId]);
    h.clock.advance(1);
    expect(h.context().pendingMembers).toEqual([]);
    expect(h.ask(joinRequest({ memberId: first.memberId }, 'x'))).toMatchObject({ error: 'UNKNOWN_MEMBER_ID' });
  });
});

describe('classic group: static membership (KIP-345)', () => {
  function stableStaticGroup(h: ReturnType<typeof startGroup>, protocols = rangeProtocols()): { s1: string; s2: string } {
    const j1 = h.send(joinRequest({ groupInstanceId: 'i1', protocols }, 's1'));
    const j2 = h.send(joinRequest({ groupInstanceId: 'i2', protocols }, 's2'));
    h.clock.advance(6000);
    const s1 = joinReply(h, j1).memberId;
    const s2 = joinReply(h, j2).memberId;
    expect(s1).toMatch(/^i1-/);
    expect(s2).toMatch(/^i2-/);
    const sync2 = h.send({ type: 'syncGroup.request', replyTo: 's2', memberId: s2, groupInstanceId: 'i2', generationId: 1, assignments: [] });
    h.send({
      type: 'syncGroup.request',
      replyTo: 's1',
      memberId: s1,
      groupInstanceId: 'i1',
      generationId: 1,
      assignments: [
        { memberId: s1, assignment: { partitions: [0] } },
        { memberId: s2, assignment: { partitions: [1] } },
      ],
    });
    expect(syncReply(h, sync2).assignment).toEqual({ partitions: [1] });
    expect(h.state()).toBe('Stable');
    return { s1, s2 };
  }

  it('lets a static member restart within the session timeout without a rebalance, and fences its old member id', () => {
    const h = startGroup();
    const { s1, s2 } = stableStaticGroup(h);
    const eventsBefore = h.events.length;

    h.clock.advance(4000); // s2 crashes and restarts; it sends no LeaveGroup
    const rejoin = h.ask(joinRequest({ groupInstanceId: 'i2' }, 's2')) as JoinGroupResponse;
    expect(rejoin).toMatchObject({ errorCode: 0, generationId: 1, leader: s1, members: [], skipAssignment: false });
    const s2b = rejoin.memberId;
    expect(s2b).not.toBe(s2);
    expect(h.state()).toBe('Stable');
    expect(h.context().generationId).toBe(1);
    expect(h.events.slice(eventsBefore).map((e) => e.type)).toEqual(['@samsa.group.memberReplaced']);

    // The new id takes over the old assignment.
    expect(h.ask({ type: 'syncGroup.request', replyTo: 's2', memberId: s2b, groupInstanceId: 'i2', generationId: 1, assignments: [] })).toMatchObject({
      errorCode: 0,
      assignment: { partitions: [1] },
    });
    // The old id is fenced.
    expect(h.ask({ type: 'heartbeat.request', replyTo: 'old', memberId: s2, groupInstanceId: 'i2', generationId: 1 })).toMatchObject({
      errorCode: 82,
      error: 'FENCED_INSTANCE_ID',
    });
    expect(h.ask({ type: 'offsetCommit.validate', replyTo: 'old', memberId: s2, groupInstanceId: 'i2', generationId: 1 })).toMatchObject({ error: 'FENCED_INSTANCE_ID' });

    // Its old session timer does not remove the new incarnation.
    for (let i = 0; i < 5; i++) {
      h.clock.advance(3000);
      h.send({ type: 'heartbeat.request', replyTo: 's1', memberId: s1, groupInstanceId: 'i1', generationId: 1 });
      h.send({ type: 'heartbeat.request', replyTo: 's2', memberId: s2b, groupInstanceId: 'i2', generationId: 1 });
    }
    expect(h.state()).toBe('Stable');
    expect(h.context().members.map((m) => m.memberId)).toEqual([s1, s2b]);
  });

  it('fences a twin that presents the instance id with a member id the group did not register', () => {
    const h = startGroup();
    const { s1 } = stableStaticGroup(h);
    expect(h.ask(joinRequest({ memberId: 'i1-impostor', groupInstanceId: 'i1' }, 'twin'))).toMatchObject({ errorCode: 82, error: 'FENCED_INSTANCE_ID', memberId: 'i1-impostor' });
    expect(h.ask({ type: 'heartbeat.request', replyTo: 'twin', memberId: 'i1-impostor', groupInstanceId: 'i1', generationId: 1 })).toMatchObject({ error: 'FENCED_INSTANCE_ID' });
    expect(h.ask({ type: 'heartbeat.request', replyTo: 's1', memberId: s1, groupInstanceId: 'i1', generationId: 1 })).toMatchObject({ errorCode: 0 });
  });

  it('fences the first incarnation once a second process with the same instance id joins (the newcomer wins, as in Kafka)', () => {
    const h = startGroup();
    const { s1 } = stableStaticGroup(h);
    const twin = h.ask(joinRequest({ groupInstanceId: 'i1' }, 'twin')) as JoinGroupResponse;
    // s1 is the leader: the newcomer inherits leadership and must not recompute the assignment.
    expect(twin).toMatchObject({ errorCode: 0, generationId: 1, leader: twin.memberId, skipAssignment: true });
    expect(twin.members.map((m) => m.memberId)).toContain(twin.memberId);
    expect(h.ask({ type: 'heartbeat.request', replyTo: 's1', memberId: s1, groupInstanceId: 'i1', generationId: 1 })).toMatchObject({ error: 'FENCED_INSTANCE_ID' });
    expect(h.state()).toBe('Stable');
  });

  it('rebalances when a restarted static member changes the selected protocol, and only then', () => {
    const h = startGroup();
    const both = [
      { name: 'range', metadata: null },
      { name: 'roundrobin', metadata: null },
    ];
    const { s2 } = stableStaticGroup(h, both);
    // New metadata under the same selected protocol: Kafka keeps the generation (it checks only the protocol).
    h.send(joinRequest({ groupInstanceId: 'i2', protocols: [{ name: 'range', metadata: 'v2' }, { name: 'roundrobin', metadata: null }] }, 's2'));
    expect(h.state()).toBe('Stable');
    // Only roundrobin: every member now votes roundrobin, so the selected protocol would change.
    const j = h.send(joinRequest({ groupInstanceId: 'i2', protocols: [{ name: 'roundrobin', metadata: null }] }, 's2'));
    expect(h.state()).toBe('PreparingRebalance');
    expect(h.reply(j)).toBeUndefined();
    expect(h.context().members.map((m) => m.memberId)).not.toContain(s2);
  });

  it('removes a static member by instance id through LeaveGroup', () => {
    const h = startGroup();
    const { s2 } = stableStaticGroup(h);
    const r = h.ask({ type: 'leaveGroup.request', replyTo: 'admin', members: [{ memberId: '', groupInstanceId: 'i2' }, { memberId: '', groupInstanceId: 'i9' }] }) as LeaveGroupResponse;
    expect(r.members).toEqual([
      { memberId: '', groupInstanceId: 'i2', errorCode: 0 },
      { memberId: '', groupInstanceId: 'i9', errorCode: 25, error: 'UNKNOWN_MEMBER_ID' },
    ]);
    expect(h.context().members.map((m) => m.memberId)).not.toContain(s2);
    expect(h.state()).toBe('PreparingRebalance');
  });

  it('keeps a live static member that misses the rebalance (only its session timeout removes it)', () => {
    const h = startGroup();
    const { s1, s2 } = stableStaticGroup(h);
    const j1 = h.send(joinRequest({ memberId: s1, groupInstanceId: 'i1' }, 's1'));
    expect(h.state()).toBe('PreparingRebalance');
    const started = h.clock.now();
    while (h.clock.now() + 3000 < started + REBALANCE_MS) {
      h.clock.advance(3000);
      h.send({ type: 'heartbeat.request', replyTo: 's2', memberId: s2, groupInstanceId: 'i2', generationId: 1 });
    }
    h.clock.set(started + REBALANCE_MS);
    // The rebalance timeout removes only dynamic members; s2 stays and is listed to the leader.
    expect(joinReply(h, j1).members.map((m) => m.memberId)).toEqual([s1, s2]);
    expect(h.context().members.map((m) => m.memberId)).toEqual([s1, s2]);
  });
});

describe('classic group: validation', () => {
  it('rejects session timeouts outside group.min/max.session.timeout.ms', () => {
    const h = startGroup();
    expect(h.ask(joinRequest({ sessionTimeoutMs: 5999 }))).toMatchObject({ errorCode: 26, error: 'INVALID_SESSION_TIMEOUT' });
    expect(h.ask(joinRequest({ sessionTimeoutMs: 1_800_001 }))).toMatchObject({ error: 'INVALID_SESSION_TIMEOUT' });
    expect(h.ask(joinRequest({ sessionTimeoutMs: 6000 }))).toMatchObject({ error: 'MEMBER_ID_REQUIRED' });
  });

  it('rejects a member whose protocols no member shares', () => {
    const h = startGroup();
    stableGroupOfTwo(h);
    expect(h.ask(joinRequest({ protocols: [{ name: 'sticky', metadata: null }] }))).toMatchObject({ errorCode: 23, error: 'INCONSISTENT_GROUP_PROTOCOL', memberId: '' });
    expect(h.ask(joinRequest({ protocolType: 'connect' }))).toMatchObject({ error: 'INCONSISTENT_GROUP_PROTOCOL' });
  });

  it('enforces group.max.size', () => {
    const h = startGroup({ config: { 'group.max.size': 2 } });
    stableGroupOfTwo(h);
    // Kafka checks the size before handing out a member id.
    expect(h.ask(joinRequest({}, 'c'))).toMatchObject({ errorCode: 81, error: 'GROUP_MAX_SIZE_REACHED', memberId: '' });
    expect(h.context().pendingMembers).toEqual([]);
    expect(h.state()).toBe('Stable');
    // While Empty anyone gets an id; a pending member is refused once the group is full, and forgotten.
    const g = startGroup({ config: { 'group.max.size': 1 } });
    const x = g.ask(joinRequest({}, 'x')) as JoinGroupResponse;
    const y = g.ask(joinRequest({}, 'y')) as JoinGroupResponse;
    expect([x.error, y.error]).toEqual(['MEMBER_ID_REQUIRED', 'MEMBER_ID_REQUIRED']);
    g.send(joinRequest({ memberId: x.memberId }, 'x'));
    expect(g.ask(joinRequest({ memberId: y.memberId }, 'y'))).toMatchObject({ error: 'GROUP_MAX_SIZE_REACHED', memberId: '' });
    expect(g.context().pendingMembers).toEqual([]);
    expect(g.context().members.map((m) => m.memberId)).toEqual([x.memberId]);
  });

  it('selects the protocol most members prefer among those all support', () => {
    const h = startGroup();
    const both = [
      { name: 'roundrobin', metadata: null },
      { name: 'range', metadata: null },
    ];
    const a = joinDynamic(h, 'a', { protocols: [{ name: 'range', metadata: null }, { name: 'roundrobin', metadata: null }] });
    joinDynamic(h, 'b', { protocols: both });
    joinDynamic(h, 'c', { protocols: both });
    h.clock.advance(6000);
    expect(joinReply(h, a.joinId).protocolName).toBe('roundrobin');
  });
});

describe('classic group: offsetCommit.validate per state', () => {
  it('follows ClassicGroup.validateOffsetCommit in every state', () => {
    const h = startGroup();
    const commit = (memberId: string, generationId: number, groupInstanceId?: string) =>
      errorOf(h.ask({ type: 'offsetCommit.validate', memberId, generationId, ...(groupInstanceId === undefined ? {} : { groupInstanceId }) }));

    // Empty: simple consumers (generation -1, no member id) commit; group members cannot.
    expect(commit('', -1)).toBe('NONE');
    expect(commit('someone', 0)).toBe('UNKNOWN_MEMBER_ID');

    const { a, b } = stableGroupOfTwo(h);
    // Stable: current generation and a known member.
    expect(commit(a, 1)).toBe('NONE');
    expect(commit(a, 0)).toBe('ILLEGAL_GENERATION');
    expect(commit('stranger', 1)).toBe('UNKNOWN_MEMBER_ID');
    expect(commit('', -1)).toBe('UNKNOWN_MEMBER_ID');

    // PreparingRebalance: commits of the previous (still current) generation are accepted.
    h.send(joinRequest({ memberId: a }, 'a'));
    expect(h.state()).toBe('PreparingRebalance');
    expect(commit(b, 1)).toBe('NONE');

    // CompletingRebalance: the member knows the new generation but must finish the rebalance first.
    h.send(joinRequest({ memberId: b }, 'b'));
    expect(h.state()).toBe('CompletingRebalance');
    expect(commit(b, 2)).toBe('REBALANCE_IN_PROGRESS');
    expect(commit(b, 1)).toBe('ILLEGAL_GENERATION');
    expect(errorOf(h.ask({ type: 'offsetCommit.validate', memberId: b, generationId: 2, transactional: true }))).toBe('NONE');

    // Dead.
    const dead = startGroup();
    dead.ask({ type: 'group.delete' });
    expect(errorOf(dead.ask({ type: 'offsetCommit.validate', memberId: '', generationId: -1 }))).toBe('COORDINATOR_NOT_AVAILABLE');
  });
});

describe('classic group: describe, delete and persistence', () => {
  it('describes members with metadata and assignment only when Stable', () => {
    const h = startGroup();
    const { a, b } = stableGroupOfTwo(h);
    const d = h.ask({ type: 'describeGroup.request' }) as DescribeGroupResponse;
    expect(d).toMatchObject({ errorCode: 0, groupId: 'g', state: 'Stable', protocolType: 'consumer', protocolData: 'range' });
    expect(d.members.map((m) => [m.memberId, m.clientId, m.assignment])).toEqual([
      [a, 'a', { partitions: [0] }],
      [b, 'b', { partitions: [1] }],
    ]);
    h.send(joinRequest({ memberId: a }, 'a'));
    const p = h.ask({ type: 'describeGroup.request' }) as DescribeGroupResponse;
    expect(p).toMatchObject({ state: 'PreparingRebalance', protocolData: '' });
    expect(p.members.every((m) => m.metadata === null && m.assignment === null)).toBe(true);
  });

  it('deletes only an Empty group', () => {
    const h = startGroup();
    stableGroupOfTwo(h);
    expect(h.ask({ type: 'group.delete' })).toMatchObject({ errorCode: 68, error: 'NON_EMPTY_GROUP' });
    const e = startGroup();
    expect(e.ask({ type: 'group.delete' })).toMatchObject({ errorCode: 0, groupId: 'g' });
    expect(e.state()).toBe('Dead');
    expect(e.ask({ type: 'group.delete' })).toMatchObject({ errorCode: 69, error: 'GROUP_ID_NOT_FOUND' });
    expect(e.ask({ type: 'describeGroup.request' })).toMatchObject({ errorCode: 0, state: 'Dead', members: [] });
  });

  it('persists as plain data and exposes what Kafka writes to __consumer_offsets', () => {
    const h = startGroup();
    const { a, b } = stableGroupOfTwo(h);
    const persisted = h.actor.getPersistedSnapshot();
    const copy = JSON.parse(JSON.stringify(persisted)) as typeof persisted;
    expect(structuredClone(persisted)).toEqual(persisted);
    expect(getGroupMetadata(h.actor.getSnapshot())).toEqual({
      groupId: 'g',
      protocolType: 'consumer',
      generation: 1,
      protocol: 'range',
      leader: a,
      members: [
        { memberId: a, groupInstanceId: null, clientId: 'a', clientHost: '', rebalanceTimeout: REBALANCE_MS, sessionTimeout: SESSION_MS, subscription: { version: 1, topics: ['orders'] }, assignment: { partitions: [0] } },
        { memberId: b, groupInstanceId: null, clientId: 'b', clientHost: '', rebalanceTimeout: REBALANCE_MS, sessionTimeout: SESSION_MS, subscription: { version: 1, topics: ['orders'] }, assignment: { partitions: [1] } },
      ],
    });

    // A restored actor continues where the group left off.
    const clock = new SimulatedClock(h.clock.now());
    const restored = createActor(groupMachine, { clock, snapshot: copy, input: { groupId: 'g' } });
    const answers: unknown[] = [];
    restored.on('response', (e) => answers.push(e.response));
    restored.start();
    expect(restored.getSnapshot().value).toBe('Stable');
    restored.send({ type: 'heartbeat.request', correlationId: 1, replyTo: 'b', memberId: b, generationId: 1 });
    expect(answers).toEqual([{ type: 'heartbeat.response', correlationId: 1, errorCode: 0 }]);
  });

  it('generates the same member ids for the same seed', () => {
    const ids = (seed: number) => {
      const h = startGroup({ memberIdSeed: seed });
      return [h.ask(joinRequest({}, 'x')), h.ask(joinRequest({}, 'x'))].map((r) => (r as JoinGroupResponse).memberId);
    };
    expect(ids(42)).toEqual(ids(42));
    expect(ids(42)).not.toEqual(ids(43));
    expect(new Set(ids(42)).size).toBe(2);
  });
});
