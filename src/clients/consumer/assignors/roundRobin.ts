/**
 * Kafka's `RoundRobinAssignor` ("roundrobin"): every subscribed partition, sorted by topic then
 * partition, dealt in turn to the members in Kafka's member order, skipping members not
 * subscribed to the partition's topic.
 */
import { compareMembers, finishAssignment, normalizeInput } from './types.ts';
import type { Assignment, MemberSubscription, PartitionAssignor, TopicPartition } from './types.ts';

/**
 * Round-robin assignment. With identical subscriptions the counts differ by at most one; with
 * different subscriptions the skipping can leave it unbalanced, exactly as in Kafka. Members are
 * ordered static first (by `groupInstanceId`), then by member id.
 */
export function roundRobinAssign(partitionsPerTopic: Readonly<Record<string, number>>, subscriptions: readonly MemberSubscription[]): Assignment {
  const input = normalizeInput(partitionsPerTopic, subscriptions);
  const members = [...input.subscriptions].sort(compareMembers);
  const lists = new Map<string, TopicPartition[]>(members.map((s) => [s.memberId, []]));
  // The circular iterator keeps its position across partitions and topics.
  let cursor = 0;
  for (const [topic, count] of input.partitionsPerTopic) {
    for (let partition = 0; partition < count; partition++) {
      // Terminates: normalizeInput keeps only topics some member subscribes to.
      while (!(members[cursor % members.length] as MemberSubscription).topics.includes(topic)) cursor++;
      const member = members[cursor % members.length] as MemberSubscription;
      cursor++;
      (lists.get(member.memberId) as TopicPartition[]).push({ topic, partition });
    }
  }
  return finishAssignment(input.subscriptions, lists);
}

/** Kafka's `RoundRobinAssignor`, eager protocol. */
export const roundRobinAssignor: PartitionAssignor = {
  name: 'roundrobin',
  protocol: 'eager',
  assign: roundRobinAssign,
};
