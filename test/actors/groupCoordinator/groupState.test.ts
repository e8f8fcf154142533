import { describe, expect, it } from 'vitest';
import {
  DEFAULT_GROUP_CONFIG,
  GROUP_STATES,
  VALID_PREVIOUS_STATES,
  acceptJoiningMember,
  addMember,
  addPendingMember,
  canRebalance,
  candidateProtocols,
  createGroupData,
  currentMemberMetadata,
  generateMemberId,
  getGroupMetadata,
  hasAllMembersJoined,
  hasSatisfiedHeartbeat,
  initNextGeneration,
  isValidTransition,
  maybeElectNewJoinedLeader,
  plainEquals,
  protocolsMatch,
  rebalanceTimeoutMs,
  removeMember,
  replaceStaticMember,
  selectProtocol,
  staticMemberId,
  supportsProtocols,
  updateMember,
  validateMember,
  validateOffsetCommit,
  validateSessionTimeout,
} from '../../../src/actors/groupCoordinator/groupState.ts';
import type { GroupData, GroupMember } from '../../../src/actors/groupCoordinator/groupState.ts';
import type { JoinGroupProtocol } from '../../../src/actors/groupCoordinator/group.events.ts';

const parked = { correlationId: 1, replyTo: 'x' };

function member(memberId: string, overrides: Partial<GroupMember> = {}): GroupMember {
  return {
    memberId,
    groupInstanceId: null,
    clientId: 'c',
    clientHost: '',
    sessionTimeoutMs: 10_000,
    rebalanceTimeoutMs: 60_000,
    protocolType: 'consumer',
    protocols: [{ name: 'range', metadata: memberId }],
    assignment: null,
    awaitingJoin: null,
    awaitingSync: null,
    isNew: false,
    ...overrides,
  };
}

function groupOf(...members: GroupMember[]): GroupData {
  return members.reduce(addMember, createGroupData({ groupId: 'g' }));
}

describe('group states', () => {
  it('uses Kafka’s valid previous states (ClassicGroupState)', () => {
    expect(VALID_PREVIOUS_STATES).toEqual({
      Empty: ['PreparingRebalance'],
      PreparingRebalance: ['Stable', 'CompletingRebalance', 'Empty'],
      CompletingRebalance: ['PreparingRebalance'],
      Stable: ['CompletingRebalance'],
      Dead: ['Stable', 'PreparingRebalance', 'CompletingRebalance', 'Empty', 'Dead'],
    });
    expect(isValidTransition('Empty', 'Stable')).toBe(false);
    expect(isValidTransition('Stable', 'CompletingRebalance')).toBe(false);
    expect(isValidTransition('PreparingRebalance', 'CompletingRebalance')).toBe(true);
    expect(GROUP_STATES.filter(canRebalance)).toEqual(['Empty', 'CompletingRebalance', 'Stable']);
  });

  it('defaults to Kafka’s broker configuration', () => {
    expect(DEFAULT_GROUP_CONFIG).toEqual({
      'group.min.session.timeout.ms': 6000,
      'group.max.session.timeout.ms': 1800000,
      'group.initial.rebalance.delay.ms': 3000,
      'group.max.size': 2147483647,
    });
    expect(createGroupData({ groupId: 'g', config: { 'group.max.size': 5 } }).config['group.max.size']).toBe(5);
  });
});

describe('member ids', () => {
  it('are `${prefix}-${uuid}` and deterministic in the generator state', () => {
    const a = generateMemberId('consumer', 1);
    const b = generateMemberId('consumer', 1);
    const c = generateMemberId('consumer', a.state);
    expect(a).toEqual(b);
    expect(c.memberId).not.toBe(a.memberId);
    expect(a.memberId).toMatch(/^consumer-[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(generateMemberId('instance-1', 0).memberId.startsWith('instance-1-')).toBe(true);
  });

  it('do not repeat over many draws', () => {
    const ids = new Set<string>();
    let state = 0;
    for (let i = 0; i < 10_000; i++) {
      const next = generateMemberId('c', state);
      ids.add(next.memberId);
      state = next.state;
    }
    expect(ids.size).toBe(10_000);
  });
});

describe('validation', () => {
  it('bounds the session timeout', () => {
    expect(validateSessionTimeout(DEFAULT_GROUP_CONFIG, 5999)).toBe('INVALID_SESSION_TIMEOUT');
    expect(validateSessionTimeout(DEFAULT_GROUP_CONFIG, 6000)).toBeNull();
    expect(validateSessionTimeout(DEFAULT_GROUP_CONFIG, 1800000)).toBeNull();
    expect(validateSessionTimeout(DEFAULT_GROUP_CONFIG, 1800001)).toBe('INVALID_SESSION_TIMEOUT');
  });

  it('validates member and static instance ids like ClassicGroup.validateMember', () => {
    const g = groupOf(member('m1'), member('s1', { groupInstanceId: 'i1' }));
    expect(validateMember(g, 'm1', undefined)).toBeNull();
    expect(validateMember(g, 'nope', undefined)).toBe('UNKNOWN_MEMBER_ID');
    expect(validateMember(g, 's1', 'i1')).toBeNull();
    expect(validateMember(g, 'old-s1', 'i1')).toBe('FENCED_INSTANCE_ID');
    expect(validateMember(g, 's1', 'i9')).toBe('UNKNOWN_MEMBER_ID');
  });

  it('validates offset commits like ClassicGroup.validateOffsetCommit', () => {
    const empty = createGroupData({ groupId: 'g' });
    const g = { ...groupOf(member('m1')), generationId: 3 };
    expect(validateOffsetCommit(empty, 'Empty', { memberId: '', generationId: -1 })).toBeNull();
    expect(validateOffsetCommit(empty, 'Empty', { memberId: 'm1', generationId: 0 })).toBe('UNKNOWN_MEMBER_ID');
    expect(validateOffsetCommit(g, 'Stable', { memberId: 'm1', generationId: 3 })).toBeNull();
    expect(validateOffsetCommit(g, 'Stable', { memberId: 'm1', generationId: 2 })).toBe('ILLEGAL_GENERATION');
    expect(validateOffsetCommit(g, 'Stable', { memberId: '', generationId: -1 })).toBe('UNKNOWN_MEMBER_ID');
    expect(validateOffsetCommit(g, 'Stable', { memberId: '', generationId: -1, transactional: true })).toBeNull();
    expect(validateOffsetCommit(g, 'PreparingRebalance', { memberId: 'm1', generationId: 3 })).toBeNull();
    expect(validateOffsetCommit(g, 'CompletingRebalance', { memberId: 'm1', generationId: 3 })).toBe('REBALANCE_IN_PROGRESS');
    expect(validateOffsetCommit(g, 'CompletingRebalance', { memberId: 'm1', generationId: 3, transactional: true })).toBeNull();
    expect(validateOffsetCommit(g, 'Dead', { memberId: 'm1', generationId: 3 })).toBe('COORDINATOR_NOT_AVAILABLE');
  });

  it('caps the group at group.max.size like acceptJoiningMember', () => {
    const g = { ...groupOf(member('m1', { awaitingJoin: parked }), member('m2')), config: { ...DEFAULT_GROUP_CONFIG, 'group.max.size': 2 } };
    expect(acceptJoiningMember(g, 'Empty', 'new')).toBe(true);
    expect(acceptJoiningMember(g, 'Stable', 'm2')).toBe(true);
    expect(acceptJoiningMember(g, 'Stable', 'new')).toBe(false);
    // PreparingRebalance counts parked joins: one of two is parked.
    expect(acceptJoiningMember(g, 'PreparingRebalance', 'new')).toBe(true);
    const full = updateMember(g, 'm2', { awaitingJoin: parked });
    expect(acceptJoiningMember(full, 'PreparingRebalance', 'new')).toBe(false);
    expect(acceptJoiningMember(full, 'PreparingRebalance', 'm1')).toBe(true);
  });
});

describe('protocols', () => {
  const p = (...names: string[]): JoinGroupProtocol[] => names.map((name) => ({ name, metadata: null }));

  it('supports a join when the type matches and one protocol is common to all members', () => {
    const g = groupOf(member('a', { protocols: p('range', 'roundrobin') }), member('b', { protocols: p('roundrobin') }));
    expect(supportsProtocols(g, 'Stable', 'consumer', ['roundrobin'])).toBe(true);
    expect(supportsProtocols(g, 'Stable', 'consumer', ['range'])).toBe(false);
    expect(supportsProtocols(g, 'Stable', 'connect', ['roundrobin'])).toBe(false);
    expect(supportsProtocols(createGroupData({ groupId: 'g' }), 'Empty', 'anything', ['x'])).toBe(true);
    expect(supportsProtocols(createGroupData({ groupId: 'g' }), 'Empty', '', ['x'])).toBe(false);
    expect(supportsProtocols(createGroupData({ groupId: 'g' }), 'Empty', 'consumer', [])).toBe(false);
  });

  it('selects by vote among the protocols every member supports', () => {
    const members = [member('a', { protocols: p('range', 'roundrobin') }), member('b', { protocols: p('roundrobin', 'range') }), member('c', { protocols: p('roundrobin', 'sticky', 'range') })];
    expect(candidateProtocols(members)).toEqual(['range', 'roundrobin']);
    expect(selectProtocol(members)).toBe('roundrobin');
    // A tie goes to the protocol voted for first.
    expect(selectProtocol(members.slice(0, 2))).toBe('range');
    expect(selectProtocol([])).toBeUndefined();
  });

  it('matches protocol lists by order, name and structural metadata', () => {
    expect(protocolsMatch([{ name: 'r', metadata: new Uint8Array([1, 2]) }], [{ name: 'r', metadata: new Uint8Array([1, 2]) }])).toBe(true);
    expect(protocolsMatch([{ name: 'r', metadata: new Uint8Array([1, 2]) }], [{ name: 'r', metadata: new Uint8Array([1, 3]) }])).toBe(false);
    expect(protocolsMatch(p('a', 'b'), p('b', 'a'))).toBe(false);
    expect(protocolsMatch([{ name: 'r', metadata: { topics: ['t'], v: 1n } }], [{ name: 'r', metadata: { v: 1n, topics: ['t'] } }])).toBe(true);
    expect(plainEquals([1, { a: 2 }], [1, { a: 2 }])).toBe(true);
    expect(plainEquals({ a: undefined }, {})).toBe(false);
    expect(plainEquals([1], { 0: 1 })).toBe(false);
  });
});

describe('bookkeeping', () => {
  it('adds members in order; the first sets the protocol type and leads', () => {
    const g = groupOf(member('a'), member('b'));
    expect(g.members.map((m) => m.memberId)).toEqual(['a', 'b']);
    expect(g.leaderId).toBe('a');
    expect(g.protocolType).toBe('consumer');
    expect(addMember(addPendingMember(createGroupData({ groupId: 'g' }), 'p'), member('p')).pendingMembers).toEqual([]);
  });

  it('hands leadership to the first remaining member when the leader is removed', () => {
    const g = { ...groupOf(member('a'), member('b'), member('c')), pendingSyncMembers: ['a', 'b'] };
    const r = removeMember(g, 'a');
    expect(r.leaderId).toBe('b');
    expect(r.pendingSyncMembers).toEqual(['b']);
    expect(removeMember(removeMember(r, 'b'), 'c').leaderId).toBeNull();
    expect(g.members.length).toBe(3); // inputs are not mutated
  });

  it('replaces a static member in place, keeping assignment and leadership', () => {
    const g = { ...groupOf(member('s1', { groupInstanceId: 'i1', assignment: [0], awaitingSync: parked }), member('b')), pendingSyncMembers: ['s1'] };
    const r = replaceStaticMember(g, 's1', 's1-new');
    expect(r?.old.memberId).toBe('s1');
    expect(r?.group.members[0]).toMatchObject({ memberId: 's1-new', groupInstanceId: 'i1', assignment: [0], awaitingSync: null, isNew: false });
    expect(r?.group.leaderId).toBe('s1-new');
    expect(r?.group.pendingSyncMembers).toEqual(['s1-new']);
    expect(r === undefined ? undefined : staticMemberId(r.group, 'i1')).toBe('s1-new');
    expect(replaceStaticMember(g, 'missing', 'x')).toBeUndefined();
  });

  it('knows when every member has rejoined (pending members count as not joined)', () => {
    const g = groupOf(member('a', { awaitingJoin: parked }), member('b', { awaitingJoin: parked }));
    expect(hasAllMembersJoined(g)).toBe(true);
    expect(hasAllMembersJoined(addPendingMember(g, 'p'))).toBe(false);
    expect(hasAllMembersJoined(updateMember(g, 'b', { awaitingJoin: null }))).toBe(false);
    expect(rebalanceTimeoutMs(updateMember(g, 'b', { rebalanceTimeoutMs: 90_000 }))).toBe(90_000);
  });

  it('keeps a rejoined leader, else elects the first rejoined member', () => {
    const g = groupOf(member('a'), member('b', { awaitingJoin: parked }), member('c', { awaitingJoin: parked }));
    expect(maybeElectNewJoinedLeader(g)).toMatchObject({ elected: true, group: { leaderId: 'b' } });
    expect(maybeElectNewJoinedLeader(updateMember(g, 'a', { awaitingJoin: parked })).group.leaderId).toBe('a');
    expect(maybeElectNewJoinedLeader(groupOf(member('a'))).elected).toBe(false);
    expect(maybeElectNewJoinedLeader(createGroupData({ groupId: 'g' })).elected).toBe(false);
  });

  it('treats parked existing members as alive and new members as expirable', () => {
    expect(hasSatisfiedHeartbeat(member('a', { awaitingJoin: parked }))).toBe(true);
    expect(hasSatisfiedHeartbeat(member('a', { awaitingSync: parked }))).toBe(true);
    expect(hasSatisfiedHeartbeat(member('a', { awaitingJoin: parked, isNew: true }))).toBe(false);
    expect(hasSatisfiedHeartbeat(member('a'))).toBe(false);
  });

  it('bumps the generation and selects the protocol, or empties the group', () => {
    const g = groupOf(member('a', { protocols: [{ name: 'range', metadata: 'm' }] }));
    const next = initNextGeneration({ ...g, pendingSyncMembers: ['a'], initialRebalance: true, readyToCompleteJoin: true });
    expect(next.state).toBe('CompletingRebalance');
    expect(next.group).toMatchObject({ generationId: 1, protocolName: 'range', pendingSyncMembers: [], initialRebalance: false, readyToCompleteJoin: false });
    expect(currentMemberMetadata(next.group)).toEqual([{ memberId: 'a', metadata: 'm' }]);
    const empty = initNextGeneration({ ...removeMember(next.group, 'a') });
    expect(empty.state).toBe('Empty');
    expect(empty.group).toMatchObject({ generationId: 2, protocolName: null, protocolType: 'consumer' });
  });
});

describe('getGroupMetadata', () => {
  it('returns what Kafka persists in the GroupMetadata record', () => {
    const g = { ...groupOf(member('a', { groupInstanceId: 'i', assignment: 'A', protocols: [{ name: 'range', metadata: 'sub' }] })), generationId: 4, protocolName: 'range' };
    expect(getGroupMetadata({ context: g })).toEqual({
      groupId: 'g',
      protocolType: 'consumer',
      generation: 4,
      protocol: 'range',
      leader: 'a',
      members: [{ memberId: 'a', groupInstanceId: 'i', clientId: 'c', clientHost: '', rebalanceTimeout: 60_000, sessionTimeout: 10_000, subscription: 'sub', assignment: 'A' }],
    });
  });
});
