/**
 * Kafka's `onGroupUnloaded`: the broker gave up the group's offsets partition (leadership moved).
 * Whoever is parked here would otherwise wait out its whole request timeout (a JoinGroup waits
 * `max.poll.interval.ms` plus 5 s), so every parked JoinGroup and SyncGroup is answered
 * NOT_COORDINATOR at once and the member finds the new coordinator. The group is Dead here.
 */
import { respondJoinError, respondSync } from './step.ts';
import type { StepBuilder } from './step.ts';
import type { GroupStateName } from '../groupState.ts';

/** Answers every parked request NOT_COORDINATOR and ends the group on this broker. */
export function onUnload(b: StepBuilder): GroupStateName {
  for (const member of b.group.members) {
    if (member.awaitingJoin !== null) respondJoinError(b, member.awaitingJoin, 'NOT_COORDINATOR', member.memberId);
    if (member.awaitingSync !== null) respondSync(b, member.awaitingSync, 'NOT_COORDINATOR');
  }
  b.group = { ...b.group, members: b.group.members.map((m) => ({ ...m, awaitingJoin: null, awaitingSync: null })) };
  return 'Dead';
}
