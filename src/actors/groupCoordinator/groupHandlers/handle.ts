/**
 * The pure transition function of a classic group: which handler an event goes to, what loading a
 * group from its record does, and both memoised, so the machine's guards (which pick the target
 * state) and its actions (which carry the step out) compute each step once and agree on it.
 */
import type { GroupEvent } from '../group.events.ts';
import { isValidTransition, restoredState } from '../groupState.ts';
import type { GroupData, GroupStateName } from '../groupState.ts';
import { onDelete, onDescribe } from './admin.ts';
import { onHeartbeat } from './heartbeat.ts';
import { onJoin } from './join.ts';
import { onLeave } from './leave.ts';
import { onOffsetCommitValidate } from './offsets.ts';
import { completeJoinOnTimeout, prepareRebalance } from './rebalance.ts';
import { scheduleSession, StepBuilder } from './step.ts';
import type { Step } from './step.ts';
import { onMetadataStored, onSync } from './sync.ts';
import { onInitialDelayElapsed, onSessionExpired, onSyncTimedOut } from './timers.ts';
import { onUnload } from './unload.ts';

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
    case 'group.unload':
      return b.done(onUnload(b));
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

/** {@link loadStep}, memoised per group data so the machine's guards and its action agree. */
export function loadStepFor(group: GroupData): Step {
  let step = loadCache.get(group);
  if (step === undefined) {
    step = loadStep(group);
    loadCache.set(group, step);
  }
  return step;
}

const stepCache = new WeakMap<object, WeakMap<object, Partial<Record<GroupStateName, Step>>>>();

/**
 * {@link handle}, memoised per (event, group data, state) so guards and actions agree and compute
 * once. A step to a state Kafka does not allow from `from` is a bug and throws.
 */
export function stepFor(from: GroupStateName, group: GroupData, event: GroupEvent): Step {
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
      throw new Error(`classic group "${group.groupId}" cannot move from ${from} to ${step.next} on "${event.type}"; this is a bug in groupHandlers/`);
    }
    byState[from] = step;
  }
  return step;
}
