/**
 * The data of one classic consumer group and the pure rules over it: member bookkeeping,
 * validation, protocol selection and the generation bump. Learned from Kafka's
 * `group-coordinator/.../classic/ClassicGroup.java`, `ClassicGroupMember.java` and
 * `ClassicGroupState.java`; the request handling that sequences these rules per state lives in
 * `groupHandlers/`, wired up by `group.machine.ts`.
 *
 * Every function here is pure: it never mutates its arguments and returns new plain data, so a
 * {@link GroupData} is always structured-clone-safe and persists through `getPersistedSnapshot`.
 */
import type { GroupErrorName, JoinGroupProtocol, JoinGroupResponseMember } from './group.events.ts';
import type { GroupMetadata } from './groupMetadata.ts';

/* ------------------------------------------------------------------------------------------ */
/* States                                                                                      */
/* ------------------------------------------------------------------------------------------ */

/** Kafka's classic group states, spelled as Kafka prints them. */
export type GroupStateName = 'Empty' | 'PreparingRebalance' | 'CompletingRebalance' | 'Stable' | 'Dead';

/** All classic group states. */
export const GROUP_STATES: readonly GroupStateName[] = ['Empty', 'PreparingRebalance', 'CompletingRebalance', 'Stable', 'Dead'];

/**
 * Kafka's valid-previous-state sets, verbatim from `ClassicGroupState`: a group may enter a state
 * only from one of these.
 */
export const VALID_PREVIOUS_STATES: Readonly<Record<GroupStateName, readonly GroupStateName[]>> = {
  Empty: ['PreparingRebalance'],
  PreparingRebalance: ['Stable', 'CompletingRebalance', 'Empty'],
  CompletingRebalance: ['PreparingRebalance'],
  Stable: ['CompletingRebalance'],
  Dead: ['Stable', 'PreparingRebalance', 'CompletingRebalance', 'Empty', 'Dead'],
};

/** True when Kafka allows moving from `from` to `to` (staying in the same state is not a transition). */
export function isValidTransition(from: GroupStateName, to: GroupStateName): boolean {
  return VALID_PREVIOUS_STATES[to].includes(from);
}

/** True when a rebalance can start from `state` (Kafka's `canRebalance`). */
export function canRebalance(state: GroupStateName): boolean {
  return isValidTransition(state, 'PreparingRebalance');
}

/* ------------------------------------------------------------------------------------------ */
/* Configuration                                                                               */
/* ------------------------------------------------------------------------------------------ */

/** Broker configuration of classic groups, under Kafka's own keys. */
export interface GroupCoordinatorConfig {
  /** Smallest session timeout a member may ask for. Kafka default 6000. */
  readonly 'group.min.session.timeout.ms': number;
  /** Largest session timeout a member may ask for. Kafka default 1800000. */
  readonly 'group.max.session.timeout.ms': number;
  /** How long the first rebalance of an Empty group waits for more members. Kafka default 3000. */
  readonly 'group.initial.rebalance.delay.ms': number;
  /** Most members a group may hold. Kafka default Int.MAX. */
  readonly 'group.max.size': number;
}

/** Kafka's defaults (`GroupCoordinatorConfig.java`). */
export const DEFAULT_GROUP_CONFIG: GroupCoordinatorConfig = {
  'group.min.session.timeout.ms': 6000,
  'group.max.session.timeout.ms': 1800000,
  'group.initial.rebalance.delay.ms': 3000,
  'group.max.size': 2147483647,
};

/** How long a new member's parked JoinGroup may wait before it is expired (Kafka's 5 minute constant). */
export const DEFAULT_NEW_MEMBER_JOIN_TIMEOUT_MS = 300000;

/* ------------------------------------------------------------------------------------------ */
/* Data                                                                                        */
/* ------------------------------------------------------------------------------------------ */

/** Where to send the answer to a parked JoinGroup or SyncGroup. */
export interface ParkedRequest {
  readonly correlationId: number;
  readonly replyTo: string;
}

/** One member of the group. */
export interface GroupMember {
  readonly memberId: string;
  /** The static member's `group.instance.id`, or null for a dynamic member. */
  readonly groupInstanceId: string | null;
  readonly clientId: string;
  readonly clientHost: string;
  readonly sessionTimeoutMs: number;
  readonly rebalanceTimeoutMs: number;
  readonly protocolType: string;
  /** Supported protocols in order of preference. */
  readonly protocols: readonly JoinGroupProtocol[];
  /** The assignment of the current generation, or null when it has none. */
  readonly assignment: unknown;
  /** The member's parked JoinGroup, when it is waiting for the join phase to complete. */
  readonly awaitingJoin: ParkedRequest | null;
  /** The member's parked SyncGroup, when it is waiting for the leader's assignment. */
  readonly awaitingSync: ParkedRequest | null;
  /** True until the member's first join phase completes; a new member can expire while parked. */
  readonly isNew: boolean;
}

/** Everything the group actor knows; plain data (the machine's context). */
export interface GroupData {
  readonly groupId: string;
  readonly config: GroupCoordinatorConfig;
  readonly newMemberJoinTimeoutMs: number;
  /** Incremented by every completed join phase; 0 for a new group. */
  readonly generationId: number;
  /** Set by the first member ever added; kept while the group is Empty. */
  readonly protocolType: string | null;
  /** The protocol selected for the current generation; null when Empty. */
  readonly protocolName: string | null;
  readonly leaderId: string | null;
  /** Members in the order they were added. */
  readonly members: readonly GroupMember[];
  /** Member ids handed out with MEMBER_ID_REQUIRED whose owners have not rejoined yet (KIP-394). */
  readonly pendingMembers: readonly string[];
  /** Members of the current generation that have not sent SyncGroup yet. */
  readonly pendingSyncMembers: readonly string[];
  /** True while the current PreparingRebalance started from Empty (Kafka: previous state Empty). */
  readonly initialRebalance: boolean;
  /** A member was added during the initial rebalance delay, which therefore extends once more. */
  readonly newMemberAdded: boolean;
  /** The join phase is due to complete now (all members rejoined, or its timer fired). */
  readonly readyToCompleteJoin: boolean;
  /** State of the seeded member id generator. */
  readonly memberIdState: number;
}

/** What a new group needs. */
export interface GroupDataOptions {
  readonly groupId: string;
  readonly config?: Partial<GroupCoordinatorConfig>;
  readonly newMemberJoinTimeoutMs?: number;
  /** Seed of the deterministic member id generator. Default 0. */
  readonly memberIdSeed?: number;
  /**
   * The group as last persisted in `__consumer_offsets` (its latest GroupMetadata record), when
   * the group is being loaded by a coordinator taking over its offsets partition. See
   * {@link restoredGroupData}.
   */
  readonly restore?: GroupMetadata;
}

/**
 * A new, Empty group with generation 0 and no members; with `options.restore`, the group as
 * Kafka's loader rebuilds it from its GroupMetadata record ({@link restoredGroupData}).
 */
export function createGroupData(options: GroupDataOptions): GroupData {
  const fresh = newGroupData(options);
  return options.restore === undefined ? fresh : restoredGroupData(fresh, options.restore);
}

function newGroupData(options: GroupDataOptions): GroupData {
  return {
    groupId: options.groupId,
    config: { ...DEFAULT_GROUP_CONFIG, ...options.config },
    newMemberJoinTimeoutMs: options.newMemberJoinTimeoutMs ?? DEFAULT_NEW_MEMBER_JOIN_TIMEOUT_MS,
    generationId: 0,
    protocolType: null,
    protocolName: null,
    leaderId: null,
    members: [],
    pendingMembers: [],
    pendingSyncMembers: [],
    initialRebalance: false,
    newMemberAdded: false,
    readyToCompleteJoin: false,
    memberIdState: options.memberIdSeed === undefined ? 0 : options.memberIdSeed >>> 0,
  };
}

/**
 * Kafka's `GroupMetadataManager.replay(GroupMetadataKey, GroupMetadataValue)` for a classic group:
 * generation, protocol type, protocol and leader as recorded; every member with its ids, client,
 * timeouts (a rebalance timeout of -1 means the session timeout) and assignment, supporting only
 * the group's protocol with its recorded subscription; nothing parked and no member new. The
 * group is Stable when it has members, else Empty ({@link restoredState}); the caller re-arms
 * every member's session timer from the load time (Kafka's `onLoaded`).
 */
export function restoredGroupData(group: GroupData, metadata: GroupMetadata): GroupData {
  const protocolType = metadata.protocolType === '' ? null : metadata.protocolType;
  const members: GroupMember[] = metadata.members.map((m) => ({
    memberId: m.memberId,
    groupInstanceId: m.groupInstanceId,
    clientId: m.clientId,
    clientHost: m.clientHost,
    sessionTimeoutMs: m.sessionTimeout,
    rebalanceTimeoutMs: m.rebalanceTimeout === -1 ? m.sessionTimeout : m.rebalanceTimeout,
    protocolType: protocolType ?? '',
    protocols: metadata.protocol === null ? [] : [{ name: metadata.protocol, metadata: m.subscription }],
    assignment: m.assignment,
    awaitingJoin: null,
    awaitingSync: null,
    isNew: false,
  }));
  return {
    ...group,
    generationId: metadata.generation,
    protocolType,
    protocolName: metadata.protocol,
    leaderId: metadata.leader ?? members[0]?.memberId ?? null,
    members,
    pendingMembers: [],
    pendingSyncMembers: [],
    initialRebalance: false,
    newMemberAdded: false,
    readyToCompleteJoin: false,
  };
}

/** The state a loaded group starts in (Kafka's loader): Stable with members, else Empty. */
export function restoredState(group: GroupData): 'Stable' | 'Empty' {
  return group.members.length > 0 ? 'Stable' : 'Empty';
}

/* ------------------------------------------------------------------------------------------ */
/* Member ids                                                                                  */
/* ------------------------------------------------------------------------------------------ */

function nextUint32(state: number): { value: number; state: number } {
  // mulberry32: one 32-bit output per step; the state is a plain number so it persists.
  const next = (state + 0x6d2b79f5) >>> 0;
  let t = next;
  t = Math.imul(t ^ (t >>> 15), t | 1);
  t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
  return { value: (t ^ (t >>> 14)) >>> 0, state: next };
}

/**
 * Kafka's member id, `${prefix}-${uuid}`, where the prefix is the client id (dynamic members) or
 * the group instance id (static members). The UUID-shaped suffix is drawn from `state`, so the
 * same state always yields the same id; the returned state feeds the next call.
 */
export function generateMemberId(prefix: string, state: number): { memberId: string; state: number } {
  let s = state >>> 0;
  const words: number[] = [];
  for (let i = 0; i < 4; i++) {
    const r = nextUint32(s);
    s = r.state;
    words.push(r.value);
  }
  const hex = words.map((w) => w.toString(16).padStart(8, '0')).join('');
  const uuid = `${hex.slice(0, 8)}-${hex.slice(8, 12)}-4${hex.slice(13, 16)}-${((parseInt(hex.slice(16, 17), 16) & 0x3) | 0x8).toString(16)}${hex.slice(17, 20)}-${hex.slice(20, 32)}`;
  return { memberId: `${prefix}-${uuid}`, state: s };
}

/**
 * The next member id from the group's generator that no member or pending member holds (a
 * loaded group's generator may restart a sequence its recorded members came from).
 */
export function nextMemberId(group: GroupData, prefix: string): { memberId: string; state: number } {
  let generated = generateMemberId(prefix, group.memberIdState);
  while (hasMember(group, generated.memberId) || isPendingMember(group, generated.memberId)) generated = generateMemberId(prefix, generated.state);
  return generated;
}

/* ------------------------------------------------------------------------------------------ */
/* Lookups                                                                                     */
/* ------------------------------------------------------------------------------------------ */

/** The member with `memberId`, or undefined. */
export function findMember(group: GroupData, memberId: string): GroupMember | undefined {
  return group.members.find((m) => m.memberId === memberId);
}

/** True when `memberId` is a member (pending members are not). */
export function hasMember(group: GroupData, memberId: string): boolean {
  return findMember(group, memberId) !== undefined;
}

/** True when `memberId` was handed out with MEMBER_ID_REQUIRED and has not joined yet. */
export function isPendingMember(group: GroupData, memberId: string): boolean {
  return group.pendingMembers.includes(memberId);
}

/** The member id currently registered for a static `groupInstanceId`, or undefined. */
export function staticMemberId(group: GroupData, groupInstanceId: string): string | undefined {
  return group.members.find((m) => m.groupInstanceId === groupInstanceId)?.memberId;
}

/** True when `memberId` is the leader. */
export function isLeader(group: GroupData, memberId: string): boolean {
  return group.leaderId === memberId;
}

/** Number of members whose JoinGroup is parked. */
export function numAwaitingJoin(group: GroupData): number {
  return group.members.filter((m) => m.awaitingJoin !== null).length;
}

/** Kafka's `hasAllMembersJoined`: every member has a parked JoinGroup and no pending member is outstanding. */
export function hasAllMembersJoined(group: GroupData): boolean {
  return group.members.length === numAwaitingJoin(group) && group.pendingMembers.length === 0;
}

/** Members that have not rejoined in the current join phase. */
export function notYetRejoinedMembers(group: GroupData): readonly GroupMember[] {
  return group.members.filter((m) => m.awaitingJoin === null);
}

/** The group's rebalance timeout: the largest of its members' (0 for no members). */
export function rebalanceTimeoutMs(group: GroupData): number {
  return group.members.reduce((max, m) => Math.max(max, m.rebalanceTimeoutMs), 0);
}

/**
 * Kafka's `hasSatisfiedHeartbeat`: an existing member with a parked JoinGroup or SyncGroup is
 * alive by definition; a new member is not, so its parked JoinGroup can expire.
 */
export function hasSatisfiedHeartbeat(member: GroupMember): boolean {
  return !member.isNew && (member.awaitingJoin !== null || member.awaitingSync !== null);
}

/* ------------------------------------------------------------------------------------------ */
/* Validation                                                                                  */
/* ------------------------------------------------------------------------------------------ */

/** INVALID_SESSION_TIMEOUT unless `sessionTimeoutMs` lies within the broker's bounds, else null. */
export function validateSessionTimeout(config: GroupCoordinatorConfig, sessionTimeoutMs: number): GroupErrorName | null {
  return sessionTimeoutMs < config['group.min.session.timeout.ms'] || sessionTimeoutMs > config['group.max.session.timeout.ms']
    ? 'INVALID_SESSION_TIMEOUT'
    : null;
}

/**
 * Kafka's `validateMember`: with a group instance id, the id must be registered (else
 * UNKNOWN_MEMBER_ID) and mapped to `memberId` (else FENCED_INSTANCE_ID); then `memberId` must be a
 * member (else UNKNOWN_MEMBER_ID). Returns null when valid.
 */
export function validateMember(group: GroupData, memberId: string, groupInstanceId: string | undefined): GroupErrorName | null {
  if (groupInstanceId !== undefined) {
    const existing = staticMemberId(group, groupInstanceId);
    if (existing === undefined) return 'UNKNOWN_MEMBER_ID';
    if (existing !== memberId) return 'FENCED_INSTANCE_ID';
  }
  return hasMember(group, memberId) ? null : 'UNKNOWN_MEMBER_ID';
}

/** The fields of an OffsetCommit that the group rules on. */
export interface OffsetCommitIdentity {
  readonly memberId: string;
  readonly generationId: number;
  readonly groupInstanceId?: string;
  readonly transactional?: boolean;
}

/**
 * Kafka's `ClassicGroup.validateOffsetCommit`: whether a commit from this member and generation
 * may be stored while the group is in `state`. Returns null when allowed.
 *
 * - Dead: COORDINATOR_NOT_AVAILABLE.
 * - Empty with a negative generation: allowed (simple consumers, admin clients).
 * - With a generation, member id or instance id: the member must be valid and the generation
 *   current (ILLEGAL_GENERATION); in PreparingRebalance that is the previous generation.
 * - Without them: UNKNOWN_MEMBER_ID unless the group is Empty (or the commit is transactional).
 * - CompletingRebalance: REBALANCE_IN_PROGRESS for non-transactional commits.
 */
export function validateOffsetCommit(group: GroupData, state: GroupStateName, commit: OffsetCommitIdentity): GroupErrorName | null {
  const transactional = commit.transactional === true;
  if (state === 'Dead') return 'COORDINATOR_NOT_AVAILABLE';
  if (commit.generationId < 0 && state === 'Empty') return null;
  if (commit.generationId >= 0 || commit.memberId !== '' || commit.groupInstanceId !== undefined) {
    const invalid = validateMember(group, commit.memberId, commit.groupInstanceId);
    if (invalid !== null) return invalid;
    if (commit.generationId !== group.generationId) return 'ILLEGAL_GENERATION';
  } else if (!transactional && state !== 'Empty') {
    return 'UNKNOWN_MEMBER_ID';
  }
  if (!transactional && state === 'CompletingRebalance') return 'REBALANCE_IN_PROGRESS';
  return null;
}

/**
 * Kafka's `acceptJoiningMember` (group.max.size): Empty and Dead accept anyone; PreparingRebalance
 * accepts a member already parked or while fewer than the maximum are parked; CompletingRebalance
 * and Stable accept existing members or while the group is below the maximum.
 */
export function acceptJoiningMember(group: GroupData, state: GroupStateName, memberId: string): boolean {
  const max = group.config['group.max.size'];
  switch (state) {
    case 'Empty':
    case 'Dead':
      return true;
    case 'PreparingRebalance':
      return (findMember(group, memberId)?.awaitingJoin ?? null) !== null || numAwaitingJoin(group) < max;
    case 'CompletingRebalance':
    case 'Stable':
      return hasMember(group, memberId) || group.members.length < max;
  }
}

/* ------------------------------------------------------------------------------------------ */
/* Protocols                                                                                   */
/* ------------------------------------------------------------------------------------------ */

/** Structural equality of plain data (objects, arrays, typed arrays, primitives, bigint). */
export function plainEquals(a: unknown, b: unknown): boolean {
  if (Object.is(a, b)) return true;
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false;
  if (ArrayBuffer.isView(a) || ArrayBuffer.isView(b)) {
    if (!ArrayBuffer.isView(a) || !ArrayBuffer.isView(b) || a.byteLength !== b.byteLength) return false;
    const x = new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
    const y = new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
    return x.every((v, i) => v === y[i]);
  }
  if (Array.isArray(a) !== Array.isArray(b)) return false;
  const ka = Object.keys(a);
  const kb = Object.keys(b);
  if (ka.length !== kb.length) return false;
  return ka.every((k) => Object.prototype.hasOwnProperty.call(b, k) && plainEquals((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k]));
}

/** Kafka's `ClassicGroupMember.matches`: the same protocols, in the same order, with equal metadata. */
export function protocolsMatch(a: readonly JoinGroupProtocol[], b: readonly JoinGroupProtocol[]): boolean {
  return a.length === b.length && a.every((p, i) => p.name === b[i]?.name && plainEquals(p.metadata, b[i]?.metadata));
}

/** Protocol names supported by every member (Kafka's `candidateProtocols`), in the first member's order. */
export function candidateProtocols(members: readonly GroupMember[]): string[] {
  const first = members[0];
  if (first === undefined) return [];
  return first.protocols.map((p) => p.name).filter((name) => members.every((m) => m.protocols.some((p) => p.name === name)));
}

/**
 * Kafka's `supportsProtocols`: an Empty group accepts any non-empty protocol type with at least
 * one protocol; otherwise the type must equal the group's and one of `protocolNames` must be
 * supported by every current member.
 */
export function supportsProtocols(group: GroupData, state: GroupStateName, protocolType: string, protocolNames: readonly string[]): boolean {
  if (state === 'Empty') return protocolType !== '' && protocolNames.length > 0;
  if (group.protocolType !== protocolType) return false;
  return protocolNames.some((name) => group.members.every((m) => m.protocols.some((p) => p.name === name)));
}

/**
 * Kafka's `selectProtocol`: each member votes for its most preferred protocol among those every
 * member supports; the most votes win. Ties go to the protocol voted for first (by join order),
 * where Kafka leaves the choice to hash order. Undefined for an empty member list.
 */
export function selectProtocol(members: readonly GroupMember[]): string | undefined {
  const candidates = new Set(candidateProtocols(members));
  const votes = new Map<string, number>();
  for (const m of members) {
    const vote = m.protocols.find((p) => candidates.has(p.name))?.name;
    if (vote !== undefined) votes.set(vote, (votes.get(vote) ?? 0) + 1);
  }
  let best: string | undefined;
  let bestVotes = 0;
  for (const [name, count] of votes) {
    if (count > bestVotes) {
      best = name;
      bestVotes = count;
    }
  }
  return best;
}

/** The member's metadata for `protocolName` (null when it does not support it). */
export function memberMetadata(member: GroupMember, protocolName: string | null): unknown {
  return member.protocols.find((p) => p.name === protocolName)?.metadata ?? null;
}

/** The leader's view of the members (Kafka's `currentClassicGroupMembers`): ids and metadata for the selected protocol. */
export function currentMemberMetadata(group: GroupData): JoinGroupResponseMember[] {
  return group.members.map((m) => ({
    memberId: m.memberId,
    ...(m.groupInstanceId === null ? {} : { groupInstanceId: m.groupInstanceId }),
    metadata: memberMetadata(m, group.protocolName),
  }));
}

/* ------------------------------------------------------------------------------------------ */
/* Bookkeeping                                                                                 */
/* ------------------------------------------------------------------------------------------ */

/** Registers a member id handed out with MEMBER_ID_REQUIRED. */
export function addPendingMember(group: GroupData, memberId: string): GroupData {
  return isPendingMember(group, memberId) ? group : { ...group, pendingMembers: [...group.pendingMembers, memberId] };
}

/**
 * Kafka's `ClassicGroup.add`: appends `member`, sets the group's protocol type when it has no
 * members, makes it leader when there is none, and clears its pending status.
 */
export function addMember(group: GroupData, member: GroupMember): GroupData {
  return {
    ...group,
    protocolType: group.members.length === 0 ? member.protocolType : group.protocolType,
    leaderId: group.leaderId ?? member.memberId,
    members: [...group.members, member],
    pendingMembers: group.pendingMembers.filter((id) => id !== member.memberId),
  };
}

/**
 * Kafka's `ClassicGroup.remove`: drops the member (or pending member) everywhere; a removed leader
 * is replaced by the first remaining member.
 */
export function removeMember(group: GroupData, memberId: string): GroupData {
  const members = group.members.filter((m) => m.memberId !== memberId);
  return {
    ...group,
    members,
    leaderId: group.leaderId === memberId ? (members[0]?.memberId ?? null) : group.leaderId,
    pendingMembers: group.pendingMembers.filter((id) => id !== memberId),
    pendingSyncMembers: group.pendingSyncMembers.filter((id) => id !== memberId),
  };
}

/** Applies `patch` to one member; the group is unchanged when the member is unknown. */
export function updateMember(group: GroupData, memberId: string, patch: Partial<Omit<GroupMember, 'memberId'>>): GroupData {
  return { ...group, members: group.members.map((m) => (m.memberId === memberId ? { ...m, ...patch } : m)) };
}

/**
 * Kafka's `replaceStaticMember`: the member registered under `oldMemberId` continues as
 * `newMemberId` (same place, settings, protocols and assignment, nothing parked); leadership and a
 * pending SyncGroup follow it. Returns the old member so its parked requests can be fenced.
 */
export function replaceStaticMember(group: GroupData, oldMemberId: string, newMemberId: string): { group: GroupData; old: GroupMember } | undefined {
  const old = findMember(group, oldMemberId);
  if (old === undefined) return undefined;
  const replacement: GroupMember = { ...old, memberId: newMemberId, awaitingJoin: null, awaitingSync: null, isNew: false };
  return {
    old,
    group: {
      ...group,
      members: group.members.map((m) => (m.memberId === oldMemberId ? replacement : m)),
      leaderId: group.leaderId === oldMemberId ? newMemberId : group.leaderId,
      pendingSyncMembers: group.pendingSyncMembers.map((id) => (id === oldMemberId ? newMemberId : id)),
    },
  };
}

/**
 * Kafka's `maybeElectNewJoinedLeader`: keeps a leader that rejoined, else makes the first rejoined
 * member leader. `elected` is false when the group has no leader or no member rejoined.
 */
export function maybeElectNewJoinedLeader(group: GroupData): { group: GroupData; elected: boolean } {
  if (group.leaderId === null) return { group, elected: false };
  const leader = findMember(group, group.leaderId);
  if (leader !== undefined && leader.awaitingJoin !== null) return { group, elected: true };
  const joined = group.members.find((m) => m.awaitingJoin !== null);
  return joined === undefined ? { group, elected: false } : { group: { ...group, leaderId: joined.memberId }, elected: true };
}

/**
 * Kafka's `initNextGeneration`: bumps the generation; with members the protocol is selected by
 * vote and the group moves to CompletingRebalance, without members it has no protocol and moves
 * to Empty. Pending SyncGroups and the join-phase flags are cleared.
 */
export function initNextGeneration(group: GroupData): { group: GroupData; state: 'CompletingRebalance' | 'Empty' } {
  const base = { ...group, generationId: group.generationId + 1, pendingSyncMembers: [], initialRebalance: false, newMemberAdded: false, readyToCompleteJoin: false };
  if (group.members.length === 0) return { group: { ...base, protocolName: null }, state: 'Empty' };
  return { group: { ...base, protocolName: selectProtocol(group.members) ?? null }, state: 'CompletingRebalance' };
}

/* ------------------------------------------------------------------------------------------ */
/* Persistence                                                                                 */
/* ------------------------------------------------------------------------------------------ */

/**
 * The group's persistent metadata, taken from a live or persisted snapshot of the group machine
 * (anything with the group's `context`). Pure; the result is plain data.
 */
export function getGroupMetadata(snapshot: { readonly context: GroupData }): GroupMetadata {
  const group = snapshot.context;
  return {
    groupId: group.groupId,
    protocolType: group.protocolType,
    generation: group.generationId,
    protocol: group.protocolName,
    leader: group.leaderId,
    members: group.members.map((m) => ({
      memberId: m.memberId,
      groupInstanceId: m.groupInstanceId,
      clientId: m.clientId,
      clientHost: m.clientHost,
      rebalanceTimeout: m.rebalanceTimeoutMs,
      sessionTimeout: m.sessionTimeoutMs,
      subscription: memberMetadata(m, group.protocolName),
      assignment: m.assignment,
    })),
  };
}
