/**
 * The group's GroupMetadata records: when the machine asks for them, how the leader's SyncGroup
 * waits for the append, and how a group loaded from its record (`input.restore`) behaves —
 * as Kafka's GroupMetadataManager (classic part) does.
 */
import { describe, expect, it } from 'vitest';
import type { HeartbeatResponse, JoinGroupResponse, SyncGroupResponse } from '../../../src/actors/groupCoordinator/group.events.ts';
import { getGroupMetadata } from '../../../src/actors/groupCoordinator/groupState.ts';
import type { GroupMetadata } from '../../../src/actors/groupCoordinator/groupMetadata.ts';
import { decodeGroupMetadataValue, encodeGroupMetadataValue } from '../../../src/actors/groupCoordinator/offsetsTopic.ts';
import { REBALANCE_MS, SESSION_MS, errorOf, joinDynamic, joinReply, joinRequest, rangeProtocols, stableGroupOfTwo, startGroup, syncReply } from './harness.ts';
import type { Harness } from './harness.ts';

/** Generation 1 up to CompletingRebalance: a (leader) and b joined, nobody synced yet. */
function completingGroupOfTwo(h: Harness): { a: string; b: string } {
  const a = joinDynamic(h, 'a');
  const b = joinDynamic(h, 'b');
  h.clock.advance(6000);
  expect(joinReply(h, a.joinId).generationId).toBe(1);
  expect(h.state()).toBe('CompletingRebalance');
  return { a: a.memberId, b: b.memberId };
}

const assignments = (a: string, b: string) => [
  { memberId: a, assignment: { partitions: [0] } },
  { memberId: b, assignment: { partitions: [1] } },
];

describe('classic group: GroupMetadata records', () => {
  it('asks for a record with the assignment on the leader’s SyncGroup and answers the SyncGroups only once it is stored', () => {
    const h = startGroup({}, { autoStore: false });
    const { a, b } = completingGroupOfTwo(h);
    const syncB = h.send({ type: 'syncGroup.request', replyTo: 'b', memberId: b, generationId: 1, assignments: [] });
    expect(h.persisted).toEqual([]);
    const syncA = h.send({ type: 'syncGroup.request', replyTo: 'a', memberId: a, generationId: 1, assignments: assignments(a, b) });

    expect(h.persisted).toEqual([{ type: 'group.metadataChanged', groupId: 'g', awaitsStore: true, metadata: getGroupMetadata(h.actor.getSnapshot()) }]);
    expect(h.persisted[0]?.metadata).toMatchObject({ generation: 1, protocol: 'range', leader: a, members: [{ memberId: a, assignment: { partitions: [0] } }, { memberId: b, assignment: { partitions: [1] } }] });
    // Not Stable yet: both SyncGroups wait; a stale answer changes nothing.
    expect([h.reply(syncA), h.reply(syncB), h.state()]).toEqual([undefined, undefined, 'CompletingRebalance']);
    h.actor.send({ type: 'group.metadataStored', generationId: 0 });
    expect([h.reply(syncA), h.state()]).toEqual([undefined, 'CompletingRebalance']);

    h.actor.send({ type: 'group.metadataStored', generationId: 1 });
    expect(h.state()).toBe('Stable');
    expect(syncReply(h, syncA)).toMatchObject({ errorCode: 0, assignment: { partitions: [0] } });
    expect(syncReply(h, syncB)).toMatchObject({ errorCode: 0, assignment: { partitions: [1] } });
    expect(h.events.filter((e) => e.type === '@samsa.group.stabilized')).toHaveLength(1);
    // A follower syncing after that gets its assignment at once.
    expect(h.ask({ type: 'syncGroup.request', replyTo: 'b', memberId: b, generationId: 1, assignments: [] })).toMatchObject({ errorCode: 0, assignment: { partitions: [1] } });
  });

  it('answers the parked SyncGroups with the mapped error and rebalances when the append fails', () => {
    const h = startGroup({}, { autoStore: false });
    const { a, b } = completingGroupOfTwo(h);
    const syncB = h.send({ type: 'syncGroup.request', replyTo: 'b', memberId: b, generationId: 1, assignments: [] });
    const syncA = h.send({ type: 'syncGroup.request', replyTo: 'a', memberId: a, generationId: 1, assignments: assignments(a, b) });
    h.actor.send({ type: 'group.metadataStored', generationId: 1, error: 'NOT_LEADER_OR_FOLLOWER' });
    expect(syncReply(h, syncA)).toMatchObject({ error: 'NOT_COORDINATOR', assignment: null });
    expect(syncReply(h, syncB)).toMatchObject({ error: 'NOT_COORDINATOR', assignment: null });
    expect(h.state()).toBe('PreparingRebalance');
    expect(h.context().members.every((m) => m.assignment === null)).toBe(true);
    expect(h.events.at(-1)).toMatchObject({ type: '@samsa.group.rebalanceStarted', reason: `Error NOT_COORDINATOR when storing group assignment during SyncGroup (member: ${a}).` });
  });

  it('ignores the stored answer when the group moved on while the record was being written', () => {
    const h = startGroup({}, { autoStore: false });
    const { a, b } = completingGroupOfTwo(h);
    h.send({ type: 'syncGroup.request', replyTo: 'a', memberId: a, generationId: 1, assignments: assignments(a, b) });
    h.send({ type: 'leaveGroup.request', members: [{ memberId: b }] });
    expect(h.state()).toBe('PreparingRebalance');
    h.actor.send({ type: 'group.metadataStored', generationId: 1 });
    expect(h.state()).toBe('PreparingRebalance');
  });

  it('asks for a record with the new member id when a static member takes over its slot in Stable', () => {
    const h = startGroup();
    const j1 = h.send(joinRequest({ groupInstanceId: 'i1' }, 's1'));
    h.clock.advance(3000);
    const s1 = joinReply(h, j1).memberId;
    h.send({ type: 'syncGroup.request', replyTo: 's1', memberId: s1, groupInstanceId: 'i1', generationId: 1, assignments: [{ memberId: s1, assignment: { partitions: [0, 1] } }] });
    expect(h.state()).toBe('Stable');
    const restarted = h.ask(joinRequest({ groupInstanceId: 'i1' }, 's1')) as JoinGroupResponse;
    expect(restarted).toMatchObject({ errorCode: 0, generationId: 1 });
    expect(h.persisted.at(-1)).toMatchObject({ awaitsStore: false, metadata: { generation: 1, leader: restarted.memberId, members: [{ memberId: restarted.memberId, groupInstanceId: 'i1', assignment: { partitions: [0, 1] } }] } });
    // Loaded from that record, the new id is the member and the old one stays fenced.
    const loaded = startGroup({ restore: h.persisted.at(-1)?.metadata as GroupMetadata });
    expect(errorOf(loaded.ask({ type: 'heartbeat.request', memberId: restarted.memberId, groupInstanceId: 'i1', generationId: 1 }))).toBe('NONE');
    expect(errorOf(loaded.ask({ type: 'heartbeat.request', memberId: s1, groupInstanceId: 'i1', generationId: 1 }))).toBe('FENCED_INSTANCE_ID');
  });

  it('asks for a record when the group becomes Empty (generation kept, no members) and a tombstone when it is deleted', () => {
    const h = startGroup();
    const { a, b } = stableGroupOfTwo(h);
    h.send({ type: 'leaveGroup.request', members: [{ memberId: a }, { memberId: b }] });
    expect(h.state()).toBe('Empty');
    expect(h.persisted.map((p) => [p.awaitsStore, p.metadata])).toEqual([
      [true, expect.objectContaining({ generation: 1 })],
      [false, { groupId: 'g', protocolType: 'consumer', generation: 2, protocol: null, leader: null, members: [] }],
    ]);
    h.ask({ type: 'group.delete' });
    expect(h.persisted.at(-1)).toEqual({ type: 'group.metadataChanged', groupId: 'g', metadata: null, awaitsStore: false });
  });
});

/** A Stable generation-4 group of a (leader) and b, as its record reads after an encode/decode round trip. */
function recordOfStableGroup(): GroupMetadata {
  const metadata: GroupMetadata = {
    groupId: 'g',
    protocolType: 'consumer',
    generation: 4,
    protocol: 'range',
    leader: 'a-1',
    members: [
      { memberId: 'a-1', groupInstanceId: null, clientId: 'a', clientHost: '', rebalanceTimeout: REBALANCE_MS, sessionTimeout: SESSION_MS, subscription: { version: 1, topics: ['orders'] }, assignment: { partitions: [0] } },
      { memberId: 'b-1', groupInstanceId: 'static-b', clientId: 'b', clientHost: '', rebalanceTimeout: REBALANCE_MS, sessionTimeout: SESSION_MS, subscription: { version: 1, topics: ['orders'] }, assignment: { partitions: [1] } },
    ],
  };
  return decodeGroupMetadataValue(encodeGroupMetadataValue(metadata, 0), 'g');
}

const LOAD_AT = 100_000;

describe('classic group: loaded from its GroupMetadata record', () => {
  it('comes back Stable in the same generation; heartbeats get NONE and SyncGroup returns the assignment', () => {
    const h = startGroup({ restore: recordOfStableGroup() }, { startMs: LOAD_AT });
    expect(h.state()).toBe('Stable');
    expect(h.context()).toMatchObject({ generationId: 4, protocolType: 'consumer', protocolName: 'range', leaderId: 'a-1', pendingSyncMembers: [] });
    expect(h.events).toEqual([]);
    expect(errorOf(h.ask({ type: 'heartbeat.request', memberId: 'a-1', generationId: 4 }) as HeartbeatResponse)).toBe('NONE');
    expect(errorOf(h.ask({ type: 'heartbeat.request', memberId: 'a-1', generationId: 3 }))).toBe('ILLEGAL_GENERATION');
    expect(h.ask({ type: 'syncGroup.request', memberId: 'a-1', generationId: 4, assignments: [] })).toMatchObject({ errorCode: 0, protocolType: 'consumer', protocolName: 'range', assignment: { partitions: [0] } } satisfies Partial<SyncGroupResponse>);
    // The static member's instance id is back too (KIP-345 fencing).
    expect(errorOf(h.ask({ type: 'heartbeat.request', memberId: 'b-1', groupInstanceId: 'static-b', generationId: 4 }))).toBe('NONE');
    expect(errorOf(h.ask({ type: 'heartbeat.request', memberId: 'other', groupInstanceId: 'static-b', generationId: 4 }))).toBe('FENCED_INSTANCE_ID');
    expect(errorOf(h.ask({ type: 'offsetCommit.validate', memberId: 'a-1', generationId: 4 }))).toBe('NONE');
    // A follower rejoining with its recorded subscription gets the current generation, no rebalance.
    const rejoin = h.ask(joinRequest({ memberId: 'b-1', groupInstanceId: 'static-b' }, 'b')) as JoinGroupResponse;
    expect(rejoin).toMatchObject({ errorCode: 0, generationId: 4, leader: 'a-1' });
    expect(h.state()).toBe('Stable');
  });

  it('removes a member that does not come back exactly session.timeout.ms after the load, and rebalances', () => {
    const h = startGroup({ restore: recordOfStableGroup() }, { startMs: LOAD_AT });
    // a keeps heartbeating; b never shows up.
    for (let t = 3000; t < SESSION_MS; t += 3000) {
      h.clock.set(LOAD_AT + t);
      expect(errorOf(h.ask({ type: 'heartbeat.request', memberId: 'a-1', generationId: 4 }))).toBe('NONE');
    }
    h.clock.set(LOAD_AT + SESSION_MS - 1);
    expect(h.state()).toBe('Stable');
    expect(h.context().members.map((m) => m.memberId)).toEqual(['a-1', 'b-1']);
    h.clock.set(LOAD_AT + SESSION_MS);
    expect(h.events.map((e) => e.type)).toEqual(['@samsa.group.memberRemoved', '@samsa.group.rebalanceStarted']);
    expect(h.events[0]).toMatchObject({ memberId: 'b-1', groupInstanceId: 'static-b', reason: 'sessionTimeout' });
    expect(h.events[1]).toMatchObject({ generationId: 4 });
    expect(h.state()).toBe('PreparingRebalance');
    expect(errorOf(h.ask({ type: 'heartbeat.request', memberId: 'a-1', generationId: 4 }))).toBe('REBALANCE_IN_PROGRESS');
    // a rejoins: generation 5 with a alone.
    const join = h.send(joinRequest({ memberId: 'a-1' }, 'a'));
    expect(joinReply(h, join)).toMatchObject({ errorCode: 0, generationId: 5, leader: 'a-1' });
  });

  it('expires every member when nobody comes back', () => {
    const h = startGroup({ restore: recordOfStableGroup() }, { startMs: LOAD_AT });
    h.clock.set(LOAD_AT + SESSION_MS);
    expect(h.events.filter((e) => e.type === '@samsa.group.memberRemoved').map((e) => (e as { memberId: string }).memberId)).toEqual(['a-1', 'b-1']);
    // b's expiry leaves nobody to wait for: the join phase completes at once with no members,
    // Empty under the next generation, and a record says so.
    expect(h.events.map((e) => e.type)).toEqual(['@samsa.group.memberRemoved', '@samsa.group.rebalanceStarted', '@samsa.group.memberRemoved', '@samsa.group.emptied']);
    expect(h.state()).toBe('Empty');
    expect(h.context().generationId).toBe(5);
    expect(h.persisted.at(-1)?.metadata).toEqual({ groupId: 'g', protocolType: 'consumer', generation: 5, protocol: null, leader: null, members: [] });
  });

  it('comes back Empty with its generation, and the next member starts the following generation', () => {
    const h = startGroup({ restore: { groupId: 'g', protocolType: 'consumer', generation: 9, protocol: null, leader: null, members: [] } });
    expect(h.state()).toBe('Empty');
    expect(h.context()).toMatchObject({ generationId: 9, protocolType: 'consumer', members: [] });
    expect(errorOf(h.ask({ type: 'heartbeat.request', memberId: 'a-1', generationId: 9 }))).toBe('UNKNOWN_MEMBER_ID');
    expect(errorOf(h.ask({ type: 'offsetCommit.validate', memberId: '', generationId: -1 }))).toBe('NONE');
    const a = joinDynamic(h, 'a');
    h.clock.advance(3000);
    expect(joinReply(h, a.joinId)).toMatchObject({ errorCode: 0, generationId: 10 });
  });

  it('rebalances at once when loaded over group.max.size', () => {
    const h = startGroup({ restore: recordOfStableGroup(), config: { 'group.max.size': 1 } });
    expect(h.state()).toBe('PreparingRebalance');
    expect(h.events).toEqual([{ type: '@samsa.group.rebalanceStarted', groupId: 'g', generationId: 4, reason: 'Freshly-loaded group g (size 2) is over capacity 1. Rebalancing in order to give a chance for consumers to commit offsets' }]);
  });

  it('round-trips a live group through its record', () => {
    const live = startGroup();
    const { a, b } = stableGroupOfTwo(live);
    const record = live.persisted.at(-1)?.metadata as GroupMetadata;
    const loaded = startGroup({ restore: decodeGroupMetadataValue(encodeGroupMetadataValue(record, 0), 'g') });
    expect(loaded.state()).toBe('Stable');
    expect(getGroupMetadata(loaded.actor.getSnapshot())).toEqual(getGroupMetadata(live.actor.getSnapshot()));
    // Loaded members support only the group's protocol (Kafka's loader): a rejoin with the same
    // subscription under that protocol matches, so the follower is not a reason to rebalance.
    expect(loaded.context().members.map((m) => m.protocols)).toEqual([rangeProtocols(), rangeProtocols()]);
    expect(loaded.ask(joinRequest({ memberId: b }, 'b'))).toMatchObject({ errorCode: 0, generationId: 1, leader: a });
  });

  it('never hands a new member the id of a loaded one', () => {
    // The loaded group's generator restarts the sequence its members' ids came from.
    const live = startGroup();
    const { a } = stableGroupOfTwo(live);
    const loaded = startGroup({ restore: live.persisted.at(-1)?.metadata as GroupMetadata });
    const fresh = loaded.ask(joinRequest({}, 'a')) as JoinGroupResponse;
    expect(fresh.error).toBe('MEMBER_ID_REQUIRED');
    expect(fresh.memberId).not.toBe(a);
  });
});
