/**
 * Kafka's client-side partition assignors, by their `partition.assignment.strategy` names.
 */
import { InvalidArgumentError } from '../../../errors.ts';
import { cooperativeStickyAssignor, stickyAssignor } from './cooperativeSticky.ts';
import { rangeAssignor } from './range.ts';
import { roundRobinAssignor } from './roundRobin.ts';
import type { PartitionAssignor } from './types.ts';

export { rangeAssignor, rangeAssign } from './range.ts';
export { roundRobinAssignor, roundRobinAssign } from './roundRobin.ts';
export { cooperativeStickyAssignor, cooperativeStickyAssign, stickyAssignor, stickyAssignment } from './cooperativeSticky.ts';
export { DEFAULT_GENERATION } from './stickyOwnership.ts';
export type { PartitionTransfer, StickyAssignmentResult } from './cooperativeSticky.ts';
export { compareMembers, compareTopicPartitions } from './types.ts';
export type { Assignment, MemberSubscription, PartitionAssignor, RebalanceProtocol, TopicPartition, WireAssignment } from './types.ts';
export { readWireAssignment, wireAssignments } from './types.ts';

const BUILT_IN: readonly PartitionAssignor[] = [rangeAssignor, roundRobinAssignor, stickyAssignor, cooperativeStickyAssignor];

/** The names {@link assignorByName} accepts, in Kafka's spelling. */
export const ASSIGNOR_NAMES: readonly string[] = BUILT_IN.map((a) => a.name);

/**
 * The built-in assignor with Kafka's name `name` ("range", "roundrobin", "sticky",
 * "cooperative-sticky"). Throws {@link InvalidArgumentError} listing the valid names otherwise.
 */
export function assignorByName(name: string): PartitionAssignor {
  const found = BUILT_IN.find((a) => a.name === name);
  if (found === undefined) {
    throw new InvalidArgumentError('name', `unknown partition assignor ${JSON.stringify(name)}; valid assignors are ${ASSIGNOR_NAMES.map((n) => JSON.stringify(n)).join(', ')}`);
  }
  return found;
}
