/**
 * Kafka's sticky assignors: `StickyAssignor` ("sticky", eager) and `CooperativeStickyAssignor`
 * ("cooperative-sticky", KIP-429), both built on Kafka's `AbstractStickyAssignor`.
 *
 * The sticky algorithm gives a balanced assignment that moves as few partitions as possible
 * from their current owners. It trusts `ownedPartitions` by generation: a partition claimed by
 * two members of the same generation is owned by neither; between different generations the
 * higher one wins. When all members subscribe to the same topics Kafka's "constrained"
 * algorithm runs (quota-based, O(partitions)); otherwise the "general" one (greedy fill, then
 * balance moves that avoid partitions bouncing back and forth).
 *
 * The cooperative variant then removes from each member every partition that another member
 * still owns and must first give up. That member revokes it; the follow-up rebalance Kafka's
 * consumer triggers after any revocation assigns it. So a partition never has two owners. With
 * a stable membership and identical subscriptions every partition is assigned again after at
 * most two rebalances; with differing subscriptions Kafka's general algorithm may move one more
 * partition in a follow-up round, so it can take a few more (Kafka's own tests allow four).
 *
 * Differences from Kafka, all deliberate and limited to inputs Kafka never sees or to
 * unobservable details:
 * - Member order: Kafka's leader walks members in Java `HashMap<String, …>` order, which decides
 *   who keeps an extra partition in the constrained algorithm. samsa reproduces that order from
 *   the member ids (Java `String.hashCode`, default-capacity table), so the same member ids get
 *   Kafka's assignment; members colliding in one bucket are taken in member-id order (in Kafka,
 *   in JoinGroup order). Tie-breaks among partitions that moved between the same two members
 *   (a Java `HashSet`) use insertion order instead.
 * - Rack awareness (KIP-881) is left out: it needs partition replica racks, which this input
 *   does not carry (Kafka's `assign(Map<String, Integer>, …)` entry point has none either).
 * - `maxGeneration` is computed per call; Kafka keeps it in the assignor instance across calls.
 * - Malformed input is sanitized: duplicate or out-of-range owned partitions are dropped, an
 *   empty subscription does not count as "equal" to a non-empty one (a Kafka quirk), and a
 *   partition is never moved back to a previous owner that no longer subscribes to its topic.
 *
 * Rooms: stickyOwnership.ts reads what members own (shared by both algorithms),
 * stickyConstrained.ts and stickyGeneral.ts are the two algorithms; this file runs them and
 * derives the eager and the cooperative assignors.
 */
import { constrainedAssign } from './stickyConstrained.ts';
import { generalAssign } from './stickyGeneral.ts';
import { readOwnedPartitions, TopicPartitions } from './stickyOwnership.ts';
import { compareStrings, finishAssignment, normalizeInput } from './types.ts';
import type { Assignment, MemberSubscription, PartitionAssignor, TopicPartition } from './types.ts';

/** A partition the sticky algorithm moves to `to` while another member still owns it. */
export interface PartitionTransfer {
  readonly topic: string;
  readonly partition: number;
  /** The member that gets the partition once its current owner has revoked it. */
  readonly to: string;
}

/** Output of {@link stickyAssignment}. */
export interface StickyAssignmentResult {
  /** The balanced target assignment (what the eager "sticky" assignor returns). */
  readonly assignment: Assignment;
  /**
   * Kafka's `partitionsTransferringOwnership`: the partitions in `assignment` whose current
   * owner is another member, sorted by topic then partition. The cooperative assignor leaves
   * these out of this round.
   */
  readonly transfers: readonly PartitionTransfer[];
}


/**
 * Kafka's `CooperativeStickyAssignor.computePartitionsTransferringOwnership`: partitions newly
 * assigned to one member while another member that owns them loses them.
 */
function computeTransfers(subscriptions: readonly MemberSubscription[], assignment: ReadonlyMap<string, readonly TopicPartition[]>, tps: TopicPartitions): Map<TopicPartition, string> {
  const added = new Map<TopicPartition, string>();
  const revoked = new Set<TopicPartition>();
  for (const s of subscriptions) {
    const ownedSet = new Set((s.ownedPartitions ?? []).map((tp) => tps.get(tp.topic, tp.partition)));
    const assigned = assignment.get(s.memberId) ?? [];
    const assignedSet = new Set(assigned);
    for (const tp of assigned) if (!ownedSet.has(tp)) added.set(tp, s.memberId);
    for (const tp of ownedSet) if (!assignedSet.has(tp)) revoked.add(tp);
  }
  for (const tp of [...added.keys()]) if (!revoked.has(tp)) added.delete(tp);
  return added;
}

/**
 * Runs Kafka's sticky algorithm and reports which partitions change owner. `assignment` is
 * balanced (for identical subscriptions, counts differ by at most one) and keeps as many owned
 * partitions in place as balance allows; `transfers` lists those taken from a current owner.
 */
export function stickyAssignment(partitionsPerTopic: Readonly<Record<string, number>>, subscriptions: readonly MemberSubscription[]): StickyAssignmentResult {
  const input = normalizeInput(partitionsPerTopic, subscriptions);
  const tps = new TopicPartitions();
  const owned = readOwnedPartitions(input.partitionsPerTopic, input.subscriptions, tps);
  const built = owned.allSubscriptionsEqual
    ? constrainedAssign(input.partitionsPerTopic, owned, tps)
    : generalAssign(input.partitionsPerTopic, input.subscriptions, owned, tps);
  const transfers = built.transfers ?? computeTransfers(input.subscriptions, built.assignment, tps);
  return {
    assignment: finishAssignment(input.subscriptions, built.assignment),
    transfers: [...transfers]
      .map(([tp, to]) => ({ topic: tp.topic, partition: tp.partition, to }))
      .sort((a, b) => compareStrings(a.topic, b.topic) || a.partition - b.partition),
  };
}

/**
 * Cooperative-sticky assignment (KIP-429): the sticky assignment minus every transfer, so no
 * partition is given to a member while another member still owns it. The owner revokes it on
 * receiving its assignment; the follow-up rebalance assigns it.
 */
export function cooperativeStickyAssign(partitionsPerTopic: Readonly<Record<string, number>>, subscriptions: readonly MemberSubscription[]): Assignment {
  const { assignment, transfers } = stickyAssignment(partitionsPerTopic, subscriptions);
  const held = new Set(transfers.map((t) => `${t.to}\u0000${t.topic}\u0000${t.partition}`));
  return Object.fromEntries(
    Object.entries(assignment).map(([member, list]) => [member, list.filter((tp) => !held.has(`${member}\u0000${tp.topic}\u0000${tp.partition}`))]),
  );
}

/** Kafka's `StickyAssignor` ("sticky"), eager: members revoke everything first, `ownedPartitions` is the previous assignment. */
export const stickyAssignor: PartitionAssignor = {
  name: 'sticky',
  protocol: 'eager',
  assign: (partitionsPerTopic, subscriptions) => stickyAssignment(partitionsPerTopic, subscriptions).assignment,
};

/** Kafka's `CooperativeStickyAssignor` ("cooperative-sticky"), cooperative protocol. */
export const cooperativeStickyAssignor: PartitionAssignor = {
  name: 'cooperative-sticky',
  protocol: 'cooperative',
  assign: cooperativeStickyAssign,
};
