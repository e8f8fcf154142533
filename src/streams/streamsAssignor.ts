/**
 * The streams app's partition assignor: it assigns tasks, not partitions. A task
 * `<subtopology>_<partition>` takes partition p of every source topic of its sub-topology, so
 * co-partitioned inputs stay together; each member tells in its subscription which tasks it holds
 * state for (active, kept from the last assignment, or on disk with a checkpoint), and a task goes
 * to such a member when that keeps the assignment balanced (Kafka Streams' assignor prefers the
 * client with the task's state the same way, KIP-441). Eager protocol: everything is revoked
 * before a rebalance, and the app keeps revoked tasks until the assignment says where they go.
 *
 * With `numStandbyReplicas` > 0, each task with a changelogged store also gets that many standbys
 * on members other than its active one (fewer when the group is smaller), preferring members
 * holding its state, then the fewest standbys; each member learns its standbys from the
 * assignment's userData (Kafka's AssignmentInfo).
 */
import type { Assignment, MemberSubscription, PartitionAssignor, TopicPartition } from '../clients/api.ts';
import type { Topology } from './topology.ts';
import { hasLoggedStores } from './taskStores.ts';

/** Standby settings of the assignor. */
export interface StandbyOptions {
  /** Standbys per stateful task. */
  readonly numStandbyReplicas: number;
  /** Receives this member's standby task ids at each assignment, before its partitions are assigned. */
  readonly onStandbys: (taskIds: readonly string[]) => void;
}

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

/** The standby task ids in a member's assignment userData; none when it has none. */
function standbysOf(userData: Uint8Array | undefined): string[] {
  if (userData === undefined) return [];
  try {
    const parsed: unknown = JSON.parse(decoder.decode(userData));
    const list = (parsed as { standby?: unknown } | null)?.standby;
    return Array.isArray(list) ? list.filter((t): t is string => typeof t === 'string') : [];
  } catch {
    return [];
  }
}

/**
 * An assignor for `topology`, whose internal topics carry the `appId-` prefix on the wire;
 * `localState()` names the tasks this member holds state for, read at each join.
 */
export function streamsAssignor(topology: Topology, appId: string, localState: () => readonly string[], standby: StandbyOptions = { numStandbyReplicas: 0, onStandbys: () => undefined }): PartitionAssignor {
  const fullName = (topic: string): string => (topology.internalTopics.has(topic) ? `${appId}-${topic}` : topic);
  const taskOf = new Map<string, string>();
  for (const sub of topology.subtopologies) for (const t of sub.sourceTopics) taskOf.set(fullName(t), String(sub.id));
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
    assignmentUserData(assignment: Assignment, subscriptions: readonly MemberSubscription[]): Record<string, Uint8Array> {
      const members = [...subscriptions].sort((a, b) => (a.memberId < b.memberId ? -1 : a.memberId > b.memberId ? 1 : 0));
      const standbys = new Map(members.map((m) => [m.memberId, [] as string[]]));
      if (standby.numStandbyReplicas > 0) {
        // The active owner of each task, read back from the partitions assigned.
        const owner = new Map<string, string>();
        for (const [memberId, partitions] of Object.entries(assignment)) for (const tp of partitions) owner.set(`${taskOf.get(tp.topic)}_${tp.partition}`, memberId);
        const state = new Map(members.map((m) => [m.memberId, tasksOf(m)]));
        const stateful = [...owner.keys()].filter((id) => {
          const sub = topology.subtopologies[Number(id.split('_')[0])];
          return sub !== undefined && hasLoggedStores(topology, sub);
        });
        for (const id of stateful.sort()) {
          const candidates = members
            .filter((m) => m.memberId !== owner.get(id))
            .sort((a, b) => Number(state.get(b.memberId)?.has(id) === true) - Number(state.get(a.memberId)?.has(id) === true) || (standbys.get(a.memberId) as string[]).length - (standbys.get(b.memberId) as string[]).length);
          for (const m of candidates.slice(0, standby.numStandbyReplicas)) (standbys.get(m.memberId) as string[]).push(id);
        }
      }
      const out: Record<string, Uint8Array> = {};
      for (const [memberId, ids] of standbys) out[memberId] = encoder.encode(JSON.stringify({ standby: ids }));
      return out;
    },
    onAssignment(_partitions: readonly TopicPartition[], userData: Uint8Array | undefined): void {
      standby.onStandbys(standbysOf(userData));
    },
  };
}
