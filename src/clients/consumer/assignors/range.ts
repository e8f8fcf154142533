/**
 * Kafka's `RangeAssignor` ("range", the first entry of Kafka's default
 * `partition.assignment.strategy`): each topic on its own, partitions in numeric order split
 * into contiguous ranges over the topic's subscribers in Kafka's member order.
 *
 * Rack-aware range assignment (KIP-881) is left out: it needs the replica racks of every
 * partition, which this input (partition counts only) does not carry. Kafka's own
 * `assign(Map<String, Integer>, …)` entry point, which has no racks either, behaves like this.
 */
import { compareMembers, finishAssignment, normalizeInput } from './types.ts';
import type { Assignment, MemberSubscription, PartitionAssignor, TopicPartition } from './types.ts';

/**
 * Range assignment. For each topic with P partitions and C subscribers (static members first by
 * `groupInstanceId`, then by member id), subscriber i gets ⌊P/C⌋ contiguous partitions and the
 * first P mod C subscribers one more. Topics are independent, so with several topics the first
 * members can end up with more partitions overall (Kafka's documented trade-off, which
 * co-partitions topics of equal size).
 */
export function rangeAssign(partitionsPerTopic: Readonly<Record<string, number>>, subscriptions: readonly MemberSubscription[]): Assignment {
  const input = normalizeInput(partitionsPerTopic, subscriptions);
  const lists = new Map<string, TopicPartition[]>(input.subscriptions.map((s) => [s.memberId, []]));
  for (const [topic, count] of input.partitionsPerTopic) {
    const consumers = input.subscriptions.filter((s) => s.topics.includes(topic)).sort(compareMembers);
    if (consumers.length === 0) continue;
    const perConsumer = Math.floor(count / consumers.length);
    const withExtra = count % consumers.length;
    let next = 0;
    consumers.forEach((consumer, i) => {
      const take = perConsumer + (i < withExtra ? 1 : 0);
      const list = lists.get(consumer.memberId) as TopicPartition[];
      for (let p = next; p < next + take; p++) list.push({ topic, partition: p });
      next += take;
    });
  }
  return finishAssignment(input.subscriptions, lists);
}

/** Kafka's `RangeAssignor`, eager protocol. */
export const rangeAssignor: PartitionAssignor = {
  name: 'range',
  protocol: 'eager',
  assign: rangeAssign,
};
