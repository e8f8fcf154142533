/**
 * The streams app's partition assignor: it assigns tasks, not partitions. A task
 * `<subtopology>_<partition>` takes partition p of every source topic of its sub-topology, so
 * co-partitioned inputs stay together; each member tells in its subscription which tasks it holds
 * state for (active, kept from the last assignment, or on disk with a checkpoint), and a task goes
 * to such a member when that keeps the assignment balanced (Kafka Streams' assignor prefers the
 * client with the task's state the same way, KIP-441). Eager protocol: everything is revoked
 * before a rebalance, and the app keeps revoked tasks until the assignment says where they go.
 */
import type { Assignment, MemberSubscription, PartitionAssignor, TopicPartition } from '../clients/api.ts';
import type { Topology } from './topology.ts';

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** The task ids in a member's subscription, or none when it sent nothing readable. */
function tasksOf(member: MemberSubscription): Set<string> {
  if (member.userData === undefined) return new Set();
  try {
    const parsed: unknown = JSON.parse(decoder.decode(member.userData));
    return new Set(Array.isArray(parsed) ? parsed.filter((t): t is string => typeof t === 'string') : []);
  } catch {
    return new Set();
  }
}

/**
 * An assignor for `topology`, whose internal topics carry the `appId-` prefix on the wire;
 * `localState()` names the tasks this member holds state for, read at each join.
 */
export function streamsAssignor(topology: Topology, appId: string, localState: () => readonly string[]): PartitionAssignor {
  const fullName = (topic: string): string => (topology.internalTopics.has(topic) ? `${appId}-${topic}` : topic);
  return {
    name: 'streams',
    protocol: 'eager',
    subscriptionUserData: () => encoder.encode(JSON.stringify([...localState()].sort())),
    assign(partitionsPerTopic: Readonly<Record<string, number>>, subscriptions: readonly MemberSubscription[]): Assignment {
      const members = [...subscriptions].sort((a, b) => (a.memberId < b.memberId ? -1 : a.memberId > b.memberId ? 1 : 0));
      const result: Assignment = {};
      for (const m of members) result[m.memberId] = [];
      if (members.length === 0) return result;
      // Every task of every sub-topology, with the partitions it takes.
      const tasks: Array<{ id: string; partitions: TopicPartition[] }> = [];
      for (const sub of topology.subtopologies) {
        const topics = sub.sourceTopics.map(fullName).filter((t) => partitionsPerTopic[t] !== undefined);
        const count = Math.max(0, ...topics.map((t) => partitionsPerTopic[t] as number));
        for (let p = 0; p < count; p++) {
          tasks.push({ id: `${sub.id}_${p}`, partitions: topics.filter((t) => p < (partitionsPerTopic[t] as number)).map((topic) => ({ topic, partition: p })) });
        }
      }
      const capacity = Math.ceil(tasks.length / members.length);
      const load = new Map(members.map((m) => [m.memberId, 0]));
      const state = new Map(members.map((m) => [m.memberId, tasksOf(m)]));
      const give = (task: (typeof tasks)[number], memberId: string): void => {
        (result[memberId] as TopicPartition[]).push(...task.partitions);
        load.set(memberId, (load.get(memberId) as number) + 1);
      };
      const leastLoaded = (candidates: readonly MemberSubscription[]): MemberSubscription | undefined => {
        let best: MemberSubscription | undefined;
        for (const m of candidates) if ((load.get(m.memberId) as number) < capacity && (best === undefined || (load.get(m.memberId) as number) < (load.get(best.memberId) as number))) best = m;
        return best;
      };
      const left: typeof tasks = [];
      // First, tasks to a member holding their state, while it has room.
      for (const task of tasks) {
        const holder = leastLoaded(members.filter((m) => state.get(m.memberId)?.has(task.id) === true));
        if (holder === undefined) left.push(task);
        else give(task, holder.memberId);
      }
      // Then the rest, to the least loaded.
      for (const task of left) give(task, (leastLoaded(members) ?? (members[0] as MemberSubscription)).memberId);
      return result;
    },
  };
}
