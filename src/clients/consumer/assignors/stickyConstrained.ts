/**
 * Kafka's constrained sticky algorithm (`ConstrainedAssignmentBuilder`), for members that all
 * subscribe to the same topics: quota-based, O(partitions).
 */
import { allTopicPartitions, illegalState, must } from './stickyOwnership.ts';
import type { BuilderResult, OwnedPartitions, TopicPartitions } from './stickyOwnership.ts';
import { compareStrings } from './types.ts';
import type { TopicPartition } from './types.ts';

/**
 * Kafka's `ConstrainedAssignmentBuilder`, used when every member subscribes to the same topics:
 * 1. each member keeps its owned partitions up to its quota (⌊P/N⌋, or ⌈P/N⌉ for the first
 *    P mod N members that already own that many), the rest may be revoked;
 * 2. the remaining partitions fill members round-robin up to their quota.
 */
export function constrainedAssign(partitionsPerTopic: ReadonlyMap<string, number>, owned: OwnedPartitions, tps: TopicPartitions): BuilderResult {
  const members = [...owned.consumerToOwned.keys()];
  const assignment = new Map<string, TopicPartition[]>(members.map((m) => [m, []]));
  const transfers = new Map<TopicPartition, string>();
  if (members.length === 0) return { assignment, transfers };

  const total = [...partitionsPerTopic.values()].reduce((a, b) => a + b, 0);
  const minQuota = Math.floor(total / members.length);
  const maxQuota = Math.ceil(total / members.length);
  const expectedNumMembersWithOverMinQuota = total % members.length;
  let currentNumMembersWithOverMinQuota = 0;
  const maybeRevoked = new Map<TopicPartition, string>();
  const unfilledUnderMinQuota: string[] = [];
  let unfilledExactlyMinQuota: string[] = [];
  const assigned = new Set<TopicPartition>();

  // 1. Keep owned partitions within quota, lowest partition numbers first (Kafka's order).
  for (const [consumer, claimed] of owned.consumerToOwned) {
    const ownedPartitions = claimed
      .filter((tp) => !owned.partitionsWithMultiplePreviousOwners.has(tp))
      .sort((a, b) => a.partition - b.partition || compareStrings(a.topic, b.topic));
    const consumerAssignment = must(assignment, consumer);
    let keep: number;
    if (ownedPartitions.length < minQuota) {
      keep = ownedPartitions.length;
      unfilledUnderMinQuota.push(consumer);
    } else if (ownedPartitions.length >= maxQuota && currentNumMembersWithOverMinQuota < expectedNumMembersWithOverMinQuota) {
      keep = maxQuota;
      currentNumMembersWithOverMinQuota++;
      if (currentNumMembersWithOverMinQuota === expectedNumMembersWithOverMinQuota) unfilledExactlyMinQuota = [];
    } else {
      keep = minQuota;
      if (currentNumMembersWithOverMinQuota < expectedNumMembersWithOverMinQuota) unfilledExactlyMinQuota.push(consumer);
    }
    for (const tp of ownedPartitions.slice(0, keep)) {
      consumerAssignment.push(tp);
      assigned.add(tp);
    }
    for (const tp of ownedPartitions.slice(keep)) maybeRevoked.set(tp, consumer);
  }

  // 2. Round-robin the rest over the unfilled members, under-quota members first.
  const sortedTopics = [...partitionsPerTopic.keys()].sort(compareStrings);
  const unassigned = allTopicPartitions(partitionsPerTopic, sortedTopics, tps).filter((tp) => !assigned.has(tp));
  unfilledUnderMinQuota.sort(compareStrings);
  unfilledExactlyMinQuota.sort(compareStrings);

  const assignNewPartition = (tp: TopicPartition, consumer: string): number => {
    const list = must(assignment, consumer);
    list.push(tp);
    const previous = maybeRevoked.get(tp);
    if ((previous !== undefined && previous !== consumer) || owned.partitionsWithMultiplePreviousOwners.has(tp)) transfers.set(tp, consumer);
    return list.length;
  };

  let cursor = 0;
  for (const tp of unassigned) {
    let consumer: string;
    if (cursor < unfilledUnderMinQuota.length) {
      consumer = unfilledUnderMinQuota[cursor++] as string;
    } else if (unfilledUnderMinQuota.length === 0 && unfilledExactlyMinQuota.length === 0) {
      throw illegalState('no more unfilled consumers to be assigned');
    } else if (unfilledUnderMinQuota.length === 0) {
      consumer = unfilledExactlyMinQuota.shift() as string;
    } else {
      cursor = 0;
      consumer = unfilledUnderMinQuota[cursor++] as string;
    }
    const count = assignNewPartition(tp, consumer);
    if (count === minQuota) {
      // Java's iterator.remove(): drop the member just visited.
      unfilledUnderMinQuota.splice(--cursor, 1);
      unfilledExactlyMinQuota.push(consumer);
    } else if (count === maxQuota) {
      currentNumMembersWithOverMinQuota++;
    }
  }
  return { assignment, transfers };
}
