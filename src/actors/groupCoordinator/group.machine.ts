/**
 * One classic consumer group as an XState actor: Kafka's GroupCoordinator for the classic
 * protocol (JoinGroup / SyncGroup / Heartbeat / LeaveGroup), learned from `GroupMetadataManager`'s
 * classic-group methods, `ClassicGroup` and `ClassicGroupState` in `apache/kafka`
 * `group-coordinator/`.
 *
 * Shape. Each state lists, per event, exactly the targets Kafka allows from it (the
 * valid-previous-state sets of {@link VALID_PREVIOUS_STATES}), so an illegal transition cannot be
 * written down. Which target an event takes, and what it answers, is decided by the pure handlers
 * of `groupHandlers/` (one file per request kind), which return the next state, the next context
 * and a list of effects (responses, inspection events, timers). Guards and actions both call the
 * same memoised handler, so the choice is made once per event, and the shared
 * `enqueueDecision` carries the step out.
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
import { enqueueDecision } from '../coordination/effects.ts';
import type { GroupEmitted, GroupEvent } from './group.events.ts';
import { createGroupData } from './groupState.ts';
import type { GroupData, GroupDataOptions, GroupStateName } from './groupState.ts';
import { loadStepFor, stepFor } from './groupHandlers/handle.ts';
import { completeJoin } from './groupHandlers/rebalance.ts';

/**
 * Input of {@link groupMachine}: the group id, broker config under Kafka's keys, the member id
 * seed, and — for a group loaded from `__consumer_offsets` — its last persisted metadata
 * (`restore`).
 */
export type GroupMachineInput = GroupDataOptions;

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
      enqueueDecision(enqueue, stepFor(params.from, context, event));
    }),
    completeJoin: enqueueActions(({ context, enqueue }) => {
      enqueueDecision(enqueue, completeJoin(context));
    }),
    load: enqueueActions(({ context, enqueue }) => {
      enqueueDecision(enqueue, loadStepFor(context));
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
     * makes of it (`loadStep` in `groupHandlers/handle.ts`): Stable with its members, or Empty with its generation.
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
        'group.unload': moveTo('Empty', 'Dead'),
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
        'group.unload': moveTo('PreparingRebalance', 'Dead'),
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
        'group.unload': moveTo('CompletingRebalance', 'Dead'),
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
        'group.unload': moveTo('Stable', 'Dead'),
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
        'group.unload': route('Dead'),
      },
    },
  },
});
