/**
 * A group actor on a SimulatedClock with a recorder for its responses and inspection events,
 * plus client-side helpers that speak the classic protocol the way a consumer does.
 */
import { createActor } from 'xstate';
import { SimulatedClock } from '../../../src/clock.ts';
import { groupMachine } from '../../../src/actors/groupCoordinator/group.machine.ts';
import type { GroupMachineInput } from '../../../src/actors/groupCoordinator/group.machine.ts';
import type {
  GroupInspectionEvent,
  GroupMetadataChangedEvent,
  GroupRequest,
  GroupResponse,
  JoinGroupProtocol,
  JoinGroupResponse,
  SyncGroupResponse,
} from '../../../src/actors/groupCoordinator/group.events.ts';
import type { GroupData, GroupStateName } from '../../../src/actors/groupCoordinator/groupState.ts';

type DistributiveOmit<T, K extends PropertyKey> = T extends unknown ? Omit<T, K> : never;

/** A request without its routing fields; `replyTo` defaults to `'client'`. */
export type RequestInit = DistributiveOmit<GroupRequest, 'correlationId' | 'replyTo'> & { replyTo?: string };

/** Session timeout used by the helpers (ms). */
export const SESSION_MS = 10_000;
/** Rebalance timeout (max.poll.interval.ms) used by the helpers (ms). */
export const REBALANCE_MS = 60_000;

/** A protocol list with `range` and metadata `version`. */
export function rangeProtocols(version = 1, topics: readonly string[] = ['orders']): JoinGroupProtocol[] {
  return [{ name: 'range', metadata: { version, topics } }];
}

/** A started group actor and what it has said so far. */
export interface Harness {
  readonly clock: SimulatedClock;
  readonly actor: ReturnType<typeof createActor<typeof groupMachine>>;
  readonly responses: Array<{ to: string; response: GroupResponse }>;
  readonly events: GroupInspectionEvent[];
  /** Every GroupMetadata record (or tombstone) the group asked its host to write. */
  readonly persisted: GroupMetadataChangedEvent[];
  /** Sends a request; returns its correlation id. */
  send(request: RequestInit): number;
  /** The response to `correlationId`, if it was sent. */
  reply(correlationId: number): GroupResponse | undefined;
  /** Sends and returns the immediate response (throws when the request was parked). */
  ask(request: RequestInit): GroupResponse;
  state(): GroupStateName;
  context(): GroupData;
}

/** How the harness plays the group's host. */
export interface HarnessOptions {
  /**
   * Answer every `group.metadataChanged` that awaits the append with `group.metadataStored` at
   * once, as a coordinator whose append succeeds synchronously does (default true). With false,
   * the test answers it itself.
   */
  readonly autoStore?: boolean;
  /** Start the clock here (default 0). */
  readonly startMs?: number;
}

/** Starts a group `g` on a fresh SimulatedClock at t=0. */
export function startGroup(input: Partial<GroupMachineInput> = {}, options: HarnessOptions = {}): Harness {
  const clock = new SimulatedClock(options.startMs ?? 0);
  const actor = createActor(groupMachine, { clock, input: { groupId: 'g', memberIdSeed: 7, ...input } });
  const responses: Array<{ to: string; response: GroupResponse }> = [];
  const events: GroupInspectionEvent[] = [];
  const persisted: GroupMetadataChangedEvent[] = [];
  actor.on('response', (e) => responses.push({ to: e.to, response: e.response }));
  actor.on('*', (e) => {
    if (e.type === 'response') return;
    if (e.type === 'group.metadataChanged') {
      persisted.push(e);
      if (e.awaitsStore && e.metadata !== null && (options.autoStore ?? true)) actor.send({ type: 'group.metadataStored', generationId: e.metadata.generation });
      return;
    }
    events.push(e);
  });
  actor.start();
  let nextCorrelationId = 1;
  const reply = (correlationId: number): GroupResponse | undefined => responses.find((r) => r.response.correlationId === correlationId)?.response;
  const send = (request: RequestInit): number => {
    const correlationId = nextCorrelationId++;
    actor.send({ ...request, replyTo: request.replyTo ?? 'client', correlationId } as GroupRequest);
    return correlationId;
  };
  return {
    clock,
    actor,
    responses,
    events,
    persisted,
    send,
    reply,
    ask(request) {
      const id = send(request);
      const r = reply(id);
      if (r === undefined) throw new Error(`request ${request.type} was parked; expected an immediate response`);
      return r;
    },
    state: () => actor.getSnapshot().value as GroupStateName,
    context: () => actor.getSnapshot().context,
  };
}

/** Options of a consumer's JoinGroup. */
export interface JoinOptions {
  readonly memberId?: string;
  readonly groupInstanceId?: string;
  readonly clientId?: string;
  readonly protocols?: JoinGroupProtocol[];
  readonly sessionTimeoutMs?: number;
  readonly rebalanceTimeoutMs?: number;
  readonly protocolType?: string;
}

/** A JoinGroup request as a consumer sends it. */
export function joinRequest(options: JoinOptions = {}, replyTo = 'client'): RequestInit {
  return {
    type: 'joinGroup.request',
    replyTo,
    memberId: options.memberId ?? '',
    ...(options.groupInstanceId === undefined ? {} : { groupInstanceId: options.groupInstanceId }),
    clientId: options.clientId ?? replyTo,
    sessionTimeoutMs: options.sessionTimeoutMs ?? SESSION_MS,
    rebalanceTimeoutMs: options.rebalanceTimeoutMs ?? REBALANCE_MS,
    protocolType: options.protocolType ?? 'consumer',
    protocols: options.protocols ?? rangeProtocols(),
  };
}

/**
 * A dynamic member's KIP-394 round-trip: JoinGroup without id → MEMBER_ID_REQUIRED → JoinGroup
 * with the id (parked). Returns the member id and the parked request's correlation id.
 */
export function joinDynamic(h: Harness, client: string, options: JoinOptions = {}): { memberId: string; joinId: number } {
  const first = h.ask(joinRequest(options, client)) as JoinGroupResponse;
  if (first.error !== 'MEMBER_ID_REQUIRED') throw new Error(`expected MEMBER_ID_REQUIRED, got ${first.error ?? 'NONE'}`);
  const joinId = h.send(joinRequest({ ...options, memberId: first.memberId }, client));
  return { memberId: first.memberId, joinId };
}

/** The JoinGroup response with `correlationId` (throws when it has not been answered yet). */
export function joinReply(h: Harness, correlationId: number): JoinGroupResponse {
  const r = h.reply(correlationId);
  if (r === undefined || r.type !== 'joinGroup.response') throw new Error(`no JoinGroup response for ${correlationId}`);
  return r;
}

/** The SyncGroup response with `correlationId` (throws when it has not been answered yet). */
export function syncReply(h: Harness, correlationId: number): SyncGroupResponse {
  const r = h.reply(correlationId);
  if (r === undefined || r.type !== 'syncGroup.response') throw new Error(`no SyncGroup response for ${correlationId}`);
  return r;
}

/** Error name of a response, `'NONE'` for success (handy in tables). */
export function errorOf(r: { readonly error?: string } | undefined): string {
  return r === undefined ? 'PARKED' : (r.error ?? 'NONE');
}

/**
 * Brings a fresh group to Stable generation 1 with two dynamic members `a` (leader) and `b`,
 * joined at t=0 and t=1000; returns their ids. Assignments are `{ partitions: [n] }`.
 */
export function stableGroupOfTwo(h: Harness): { a: string; b: string } {
  const a = joinDynamic(h, 'a');
  h.clock.advance(1000);
  const b = joinDynamic(h, 'b');
  h.clock.advance(5000); // initial delay 3000 extended once by b's arrival → completes at t=6000
  const joinA = joinReply(h, a.joinId);
  if (joinA.generationId !== 1) throw new Error('group did not complete its first join phase');
  const syncB = h.send({ type: 'syncGroup.request', replyTo: 'b', memberId: b.memberId, generationId: 1, assignments: [] });
  h.send({
    type: 'syncGroup.request',
    replyTo: 'a',
    memberId: a.memberId,
    generationId: 1,
    assignments: [
      { memberId: a.memberId, assignment: { partitions: [0] } },
      { memberId: b.memberId, assignment: { partitions: [1] } },
    ],
  });
  if (syncReply(h, syncB).errorCode !== 0) throw new Error('follower sync failed');
  return { a: a.memberId, b: b.memberId };
}
