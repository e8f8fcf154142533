/**
 * The data model shared by the client-side partition assignors (Kafka's
 * `ConsumerPartitionAssignor`), plus the small helpers every assignor needs: input validation,
 * Kafka's member ordering and the canonical output order.
 */
import { InvalidArgumentError } from '../../../errors.ts';

import type { TopicPartition } from '../../../topicPartition.ts';

export type { TopicPartition } from '../../../topicPartition.ts';

/** What one group member sends in its JoinGroup subscription (Kafka's `Subscription`). */
export interface MemberSubscription {
  /** The member id the coordinator gave this member; unique in the group. */
  readonly memberId: string;
  /** `group.instance.id` of a static member; range and roundrobin order static members by it. */
  readonly groupInstanceId?: string;
  /** Topics the member subscribes to. */
  readonly topics: readonly string[];
  /** Partitions the member owns now (cooperative protocol); sticky assignors keep them where they can. */
  readonly ownedPartitions?: readonly TopicPartition[];
  /** Generation in which the member got `ownedPartitions`; absent means none (Kafka's -1). */
  readonly generationId?: number;
  /** `client.rack`; accepted for protocol fidelity (see each assignor for whether it is used). */
  readonly rackId?: string;
  /** What the member's assignor added to its subscription (Kafka's `Subscription.userData`). */
  readonly userData?: Uint8Array;
}

/** memberId → the partitions assigned to it, sorted by topic then partition. Every member has an entry. */
export type Assignment = Record<string, TopicPartition[]>;

/** Kafka's `RebalanceProtocol`: eager revokes everything before rejoining, cooperative only what moves. */
export type RebalanceProtocol = 'eager' | 'cooperative';

/** A client-side partition assignor, run by the group leader. */
export interface PartitionAssignor {
  /** The name used in `partition.assignment.strategy` and on the wire. */
  readonly name: 'range' | 'roundrobin' | 'sticky' | 'cooperative-sticky' | (string & {});
  /** The rebalance protocol this assignor is safe with. */
  readonly protocol: RebalanceProtocol;
  /**
   * Assigns the partitions of subscribed topics. `partitionsPerTopic` holds partition counts
   * from metadata; topics missing from it (unknown topics) or with no subscriber are not
   * assigned. Deterministic: the same input always gives the same output.
   */
  assign(partitionsPerTopic: Readonly<Record<string, number>>, subscriptions: readonly MemberSubscription[]): Assignment;
  /**
   * Bytes the member sends with its subscription at each join, for the leader's `assign` to read
   * in `userData` (Kafka's `ConsumerPartitionAssignor.subscriptionUserData`).
   */
  subscriptionUserData?(topics: readonly string[]): Uint8Array | undefined;
  /**
   * Bytes each member receives beside its partitions (Kafka's `Assignment.userData`), derived on
   * the leader from the assignment `assign` just made; a member without an entry gets none.
   */
  assignmentUserData?(assignment: Assignment, subscriptions: readonly MemberSubscription[]): Readonly<Record<string, Uint8Array>>;
  /**
   * Called on each member when a rebalance hands it its assignment, before the rebalance
   * listener's `onPartitionsAssigned` (Kafka's `ConsumerPartitionAssignor.onAssignment`).
   */
  onAssignment?(partitions: readonly TopicPartition[], userData: Uint8Array | undefined): void;
}

/** A member's assignment on the wire: its partitions, with the assignor's bytes when it sent some. */
export type WireAssignment = TopicPartition[] | { readonly partitions: TopicPartition[]; readonly userData: Uint8Array };

/** The leader's SyncGroup assignments: each member's partitions, with the assignor's bytes for it when it has some. */
export function wireAssignments(assignor: PartitionAssignor, result: Assignment, subscriptions: readonly MemberSubscription[], members: ReadonlyArray<{ readonly memberId: string }>): Array<{ memberId: string; assignment: WireAssignment }> {
  const data = assignor.assignmentUserData?.(result, subscriptions) ?? {};
  return members.map((m) => {
    const partitions = result[m.memberId] ?? [];
    const userData = data[m.memberId];
    return { memberId: m.memberId, assignment: userData === undefined ? partitions : { partitions, userData } };
  });
}

/** Reads a SyncGroup assignment of either form; anything else is no assignment. */
export function readWireAssignment(wire: unknown): { partitions: TopicPartition[]; userData?: Uint8Array } {
  if (Array.isArray(wire)) return { partitions: wire as TopicPartition[] };
  if (wire !== null && typeof wire === 'object' && Array.isArray((wire as { partitions?: unknown }).partitions)) {
    const { partitions, userData } = wire as { partitions: TopicPartition[]; userData?: unknown };
    return userData instanceof Uint8Array ? { partitions, userData } : { partitions };
  }
  return { partitions: [] };
}

/** Java's `String.compareTo` (UTF-16 code units), which Kafka's orderings use; never locale-aware. */
export function compareStrings(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** Orders by topic, then partition: the order of every list in an {@link Assignment}. */
export function compareTopicPartitions(a: TopicPartition, b: TopicPartition): number {
  return compareStrings(a.topic, b.topic) || a.partition - b.partition;
}

/**
 * Kafka's `AbstractPartitionAssignor.MemberInfo` order: static members (with a
 * `groupInstanceId`) first, by instance id, then dynamic members by member id. Ordering static
 * members by their stable instance id keeps their assignment across restarts.
 */
export function compareMembers(a: MemberSubscription, b: MemberSubscription): number {
  if (a.groupInstanceId !== undefined && b.groupInstanceId !== undefined) return compareStrings(a.groupInstanceId, b.groupInstanceId);
  if (a.groupInstanceId !== undefined) return -1;
  if (b.groupInstanceId !== undefined) return 1;
  return compareStrings(a.memberId, b.memberId);
}

/** The inputs of an assignment after validation, as every assignor sees them. */
export interface NormalizedInput {
  /** Subscribed topics with at least one partition → partition count, in topic order. */
  readonly partitionsPerTopic: ReadonlyMap<string, number>;
  /** Subscriptions sorted by member id, each with its topics deduplicated. */
  readonly subscriptions: readonly MemberSubscription[];
}

/**
 * Validates and normalizes assignor input: rejects duplicate member ids and invalid partition
 * counts, and keeps only topics that some member subscribes to and that have partitions (what
 * Kafka's `AbstractPartitionAssignor.assign(Cluster, …)` hands to the algorithms).
 */
export function normalizeInput(partitionsPerTopic: Readonly<Record<string, number>>, subscriptions: readonly MemberSubscription[]): NormalizedInput {
  const seen = new Set<string>();
  for (const s of subscriptions) {
    if (seen.has(s.memberId)) throw new InvalidArgumentError('subscriptions', `member id "${s.memberId}" appears more than once`);
    seen.add(s.memberId);
  }
  const subscribed = new Set(subscriptions.flatMap((s) => s.topics));
  const counts = new Map<string, number>();
  for (const topic of Object.keys(partitionsPerTopic).sort(compareStrings)) {
    const count = partitionsPerTopic[topic];
    if (count === undefined) continue;
    if (!Number.isInteger(count) || count < 0) throw new InvalidArgumentError('partitionsPerTopic', `partition count of "${topic}" must be a non-negative integer, got ${String(count)}`);
    if (count > 0 && subscribed.has(topic)) counts.set(topic, count);
  }
  const sorted = subscriptions
    .map((s) => ({ ...s, topics: [...new Set(s.topics)] }))
    .sort((a, b) => compareStrings(a.memberId, b.memberId));
  return { partitionsPerTopic: counts, subscriptions: sorted };
}

/** Builds the output: an entry for every member, each list sorted by topic then partition. */
export function finishAssignment(subscriptions: readonly MemberSubscription[], lists: ReadonlyMap<string, readonly TopicPartition[]>): Assignment {
  // fromEntries defines own properties, so even a member id like "__proto__" is stored as data.
  return Object.fromEntries(
    subscriptions.map((s) => [s.memberId, (lists.get(s.memberId) ?? []).map((tp) => ({ topic: tp.topic, partition: tp.partition })).sort(compareTopicPartitions)]),
  );
}
