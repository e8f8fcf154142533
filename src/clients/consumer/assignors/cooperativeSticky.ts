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
 */
import { SamsaError } from '../../../errors.ts';
import { compareStrings, finishAssignment, normalizeInput } from './types.ts';
import type { Assignment, MemberSubscription, PartitionAssignor, TopicPartition } from './types.ts';

/** Kafka's `AbstractStickyAssignor.DEFAULT_GENERATION`: the generation of a member that reports none. */
export const DEFAULT_GENERATION = -1;

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

/** Thrown only if the algorithm's own bookkeeping breaks; never expected. */
function illegalState(message: string): SamsaError {
  return new SamsaError(`sticky assignor internal error: ${message}`, 'ILLEGAL_STATE', false);
}

/** One shared object per topic-partition, so Sets and Maps compare them by identity (Java's equals). */
class TopicPartitions {
  readonly #byTopic = new Map<string, Map<number, TopicPartition>>();

  get(topic: string, partition: number): TopicPartition {
    let byPartition = this.#byTopic.get(topic);
    if (byPartition === undefined) {
      byPartition = new Map();
      this.#byTopic.set(topic, byPartition);
    }
    let tp = byPartition.get(partition);
    if (tp === undefined) {
      tp = { topic, partition };
      byPartition.set(partition, tp);
    }
    return tp;
  }
}

function must<K, V>(map: ReadonlyMap<K, V>, key: K): V {
  const value = map.get(key);
  if (value === undefined) throw illegalState(`missing entry for ${String(key)}`);
  return value;
}

function removeItem<T>(list: T[], item: T): void {
  const i = list.indexOf(item);
  if (i >= 0) list.splice(i, 1);
}

/**
 * The iteration order of a `java.util.HashMap<String, V>` built with the default constructor
 * and filled with `keys` in the given order: ascending bucket index (`spread(hashCode) & (capacity - 1)`,
 * capacity 16 doubled while more than 3/4 full), insertion order within a bucket (resizes keep
 * it). Kafka's assignors iterate members in this order. Ignores treeified bins, which need 8+
 * colliding keys in a table of 64+ buckets.
 */
export function javaHashMapOrder(keys: readonly string[]): string[] {
  let capacity = 16;
  while (keys.length > capacity * 0.75) capacity *= 2;
  const bucketOf = (key: string): number => {
    let h = 0;
    for (let i = 0; i < key.length; i++) h = (Math.imul(31, h) + key.charCodeAt(i)) | 0;
    return (h ^ (h >>> 16)) & (capacity - 1);
  };
  return keys
    .map((key, index) => ({ key, index, bucket: bucketOf(key) }))
    .sort((a, b) => a.bucket - b.bucket || a.index - b.index)
    .map((e) => e.key);
}

/** Result of reading every member's owned partitions (Kafka's `allSubscriptionsEqual`). */
interface OwnedPartitions {
  readonly allSubscriptionsEqual: boolean;
  readonly maxGeneration: number;
  /** memberId → owned partitions it may keep claiming, in member order. */
  readonly consumerToOwned: Map<string, TopicPartition[]>;
  /** Partitions claimed by two members of the same generation: owned by neither. */
  readonly partitionsWithMultiplePreviousOwners: Set<TopicPartition>;
}

function readOwnedPartitions(partitionsPerTopic: ReadonlyMap<string, number>, subscriptions: readonly MemberSubscription[], tps: TopicPartitions): OwnedPartitions {
  let allSubscriptionsEqual = true;
  let firstTopics: Set<string> | undefined;
  let maxGeneration = DEFAULT_GENERATION;
  const consumerToOwned = new Map<string, TopicPartition[]>();
  const multi = new Set<TopicPartition>();
  const previousOwner = new Map<TopicPartition, string>();
  const generationOf = new Map(subscriptions.map((s) => [s.memberId, s.generationId ?? DEFAULT_GENERATION]));

  // Kafka iterates its subscriptions HashMap; consumerToOwned inherits that order.
  const bySubscriptionOrder = new Map(subscriptions.map((s) => [s.memberId, s]));
  for (const memberId of javaHashMapOrder(subscriptions.map((s) => s.memberId))) {
    const s = must(bySubscriptionOrder, memberId);
    const topics = new Set(s.topics);
    if (firstTopics === undefined) firstTopics = topics;
    else if (allSubscriptionsEqual && (topics.size !== firstTopics.size || [...topics].some((t) => !firstTopics?.has(t)))) allSubscriptionsEqual = false;

    const generation = s.generationId ?? DEFAULT_GENERATION;
    maxGeneration = Math.max(maxGeneration, generation);
    const owned: TopicPartition[] = [];
    consumerToOwned.set(s.memberId, owned);
    const claimed = new Set<TopicPartition>();
    for (const raw of s.ownedPartitions ?? []) {
      const count = partitionsPerTopic.get(raw.topic);
      if (count === undefined || !Number.isInteger(raw.partition) || raw.partition < 0 || raw.partition >= count) continue;
      const tp = tps.get(raw.topic, raw.partition);
      if (claimed.has(tp)) continue;
      claimed.add(tp);
      const other = previousOwner.get(tp);
      if (other === undefined) {
        owned.push(tp);
        previousOwner.set(tp, s.memberId);
        continue;
      }
      const otherGeneration = must(generationOf, other);
      if (generation === otherGeneration) {
        // Two owners in one generation cannot both be right: invalidate the claim of both.
        multi.add(tp);
        removeItem(must(consumerToOwned, other), tp);
        previousOwner.set(tp, s.memberId);
      } else if (generation > otherGeneration) {
        owned.push(tp);
        removeItem(must(consumerToOwned, other), tp);
        previousOwner.set(tp, s.memberId);
      }
      // else: the other member's newer generation keeps it.
    }
  }
  return { allSubscriptionsEqual, maxGeneration, consumerToOwned, partitionsWithMultiplePreviousOwners: multi };
}

/** Every partition of `topics` (in the given topic order), partition 0 first. */
function allTopicPartitions(partitionsPerTopic: ReadonlyMap<string, number>, topics: readonly string[], tps: TopicPartitions): TopicPartition[] {
  const out: TopicPartition[] = [];
  for (const topic of topics) {
    const count = must(partitionsPerTopic, topic);
    for (let p = 0; p < count; p++) out.push(tps.get(topic, p));
  }
  return out;
}

interface BuilderResult {
  readonly assignment: Map<string, TopicPartition[]>;
  /** Known transfers (constrained algorithm), or null when they must be computed (general). */
  readonly transfers: Map<TopicPartition, string> | null;
}

/**
 * Kafka's `ConstrainedAssignmentBuilder`, used when every member subscribes to the same topics:
 * 1. each member keeps its owned partitions up to its quota (⌊P/N⌋, or ⌈P/N⌉ for the first
 *    P mod N members that already own that many), the rest may be revoked;
 * 2. the remaining partitions fill members round-robin up to their quota.
 */
function constrainedAssign(partitionsPerTopic: ReadonlyMap<string, number>, owned: OwnedPartitions, tps: TopicPartitions): BuilderResult {
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

/** Kafka's `PartitionMovements`: moves made while balancing, to avoid undoing one with another. */
class PartitionMovements {
  /** topic → "src\0dst" → partitions of that topic moved from src to dst. */
  readonly #byTopic = new Map<string, Map<string, Set<TopicPartition>>>();
  readonly #movements = new Map<TopicPartition, { readonly src: string; readonly dst: string }>();

  #pairKey(src: string, dst: string): string {
    return `${src}\u0000${dst}`;
  }

  #remove(tp: TopicPartition): { readonly src: string; readonly dst: string } {
    const pair = must(this.#movements, tp);
    this.#movements.delete(tp);
    const forTopic = must(this.#byTopic, tp.topic);
    const key = this.#pairKey(pair.src, pair.dst);
    const set = must(forTopic, key);
    set.delete(tp);
    if (set.size === 0) forTopic.delete(key);
    if (forTopic.size === 0) this.#byTopic.delete(tp.topic);
    return pair;
  }

  #add(tp: TopicPartition, src: string, dst: string): void {
    this.#movements.set(tp, { src, dst });
    let forTopic = this.#byTopic.get(tp.topic);
    if (forTopic === undefined) {
      forTopic = new Map();
      this.#byTopic.set(tp.topic, forTopic);
    }
    const key = this.#pairKey(src, dst);
    let set = forTopic.get(key);
    if (set === undefined) {
      set = new Set();
      forTopic.set(key, set);
    }
    set.add(tp);
  }

  move(tp: TopicPartition, oldConsumer: string, newConsumer: string): void {
    if (this.#movements.has(tp)) {
      const existing = this.#remove(tp);
      // Moving back to where it came from cancels the movement.
      if (existing.src !== newConsumer) this.#add(tp, existing.src, newConsumer);
    } else {
      this.#add(tp, oldConsumer, newConsumer);
    }
  }

  /**
   * If some partition of the same topic already moved the opposite way (newConsumer → the
   * partition's original owner), move that one back instead, so no topic has partitions moving
   * both ways between two members.
   */
  actualPartitionToMove(tp: TopicPartition, oldConsumer: string, newConsumer: string): TopicPartition {
    const forTopic = this.#byTopic.get(tp.topic);
    if (forTopic === undefined) return tp;
    const previous = this.#movements.get(tp);
    const origin = previous === undefined ? oldConsumer : previous.src;
    const reverse = forTopic.get(this.#pairKey(newConsumer, origin));
    if (reverse === undefined) return tp;
    return reverse.values().next().value as TopicPartition;
  }
}

/** Members ordered by (number of assigned partitions, member id): Kafka's `sortedCurrentSubscriptions` TreeSet. */
class MembersBySize {
  readonly #items: string[] = [];
  readonly #size: (member: string) => number;

  constructor(size: (member: string) => number) {
    this.#size = size;
  }

  #compare(a: string, b: string): number {
    return this.#size(a) - this.#size(b) || compareStrings(a, b);
  }

  add(member: string): void {
    if (this.#items.includes(member)) return;
    let lo = 0;
    let hi = this.#items.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.#compare(this.#items[mid] as string, member) < 0) lo = mid + 1;
      else hi = mid;
    }
    this.#items.splice(lo, 0, member);
  }

  remove(member: string): void {
    removeItem(this.#items, member);
  }

  first(): string {
    const first = this.#items[0];
    if (first === undefined) throw illegalState('no members');
    return first;
  }

  last(): string {
    const last = this.#items[this.#items.length - 1];
    if (last === undefined) throw illegalState('no members');
    return last;
  }

  /** Ascending order. Callers that modify the set stop iterating right after. */
  values(): readonly string[] {
    return this.#items;
  }
}

/**
 * Kafka's `GeneralAssignmentBuilder`, used when subscriptions differ:
 * 1. keep every owned partition of a still-subscribed topic;
 * 2. give each unassigned partition to the least-loaded member subscribed to its topic, topics
 *    with the fewest potential members first;
 * 3. move partitions toward less-loaded members until balanced, preferring to return a
 *    partition to its previous-generation owner, and keep the result only if it is more
 *    balanced than before.
 */
function generalAssign(partitionsPerTopic: ReadonlyMap<string, number>, subscriptions: readonly MemberSubscription[], owned: OwnedPartitions, tps: TopicPartitions): BuilderResult {
  const subscriptionOf = new Map(subscriptions.map((s) => [s.memberId, s]));
  const topic2AllPotentialConsumers = new Map<string, string[]>([...partitionsPerTopic.keys()].map((t) => [t, []]));
  const consumer2AllPotentialTopics = new Map<string, string[]>();
  const potentialTopicSet = new Map<string, Set<string>>();
  const currentAssignment = owned.consumerToOwned;
  for (const s of subscriptions) {
    const topics = s.topics.filter((t) => partitionsPerTopic.has(t));
    consumer2AllPotentialTopics.set(s.memberId, topics);
    potentialTopicSet.set(s.memberId, new Set(topics));
    for (const t of topics) must(topic2AllPotentialConsumers, t).push(s.memberId);
    if (!currentAssignment.has(s.memberId)) currentAssignment.set(s.memberId, []);
  }
  const currentPartitionConsumer = new Map<TopicPartition, string>();
  for (const [consumer, list] of currentAssignment) for (const tp of list) currentPartitionConsumer.set(tp, consumer);

  const sortedAllTopics = [...topic2AllPotentialConsumers.keys()].sort(
    (a, b) => must(topic2AllPotentialConsumers, a).length - must(topic2AllPotentialConsumers, b).length || compareStrings(a, b),
  );
  let sortedAllPartitions = allTopicPartitions(partitionsPerTopic, sortedAllTopics, tps);
  const sizeOf = (consumer: string): number => must(currentAssignment, consumer).length;
  const sortedCurrentSubscriptions = new MembersBySize(sizeOf);
  const movements = new PartitionMovements();
  let revocationRequired = false;

  // The previous owner of each partition from members of older generations (second-newest claim).
  const prevAssignment = new Map<TopicPartition, { readonly consumer: string; readonly generation: number }>();
  for (const s of subscriptions) {
    const generation = s.generationId ?? DEFAULT_GENERATION;
    if (generation >= owned.maxGeneration) continue;
    for (const raw of s.ownedPartitions ?? []) {
      const tp = tps.get(raw.topic, raw.partition);
      const existing = prevAssignment.get(tp);
      if (existing === undefined || generation > existing.generation) prevAssignment.set(tp, { consumer: s.memberId, generation });
    }
  }

  // 1. Keep owned partitions of topics the owner still subscribes to.
  const assignedPartitions = new Set<TopicPartition>();
  for (const [consumer, list] of currentAssignment) {
    const subscription = must(subscriptionOf, consumer);
    for (const tp of [...list]) {
      if (!subscription.topics.includes(tp.topic)) {
        removeItem(list, tp);
        revocationRequired = true;
      } else {
        assignedPartitions.add(tp);
      }
    }
  }
  let unassignedPartitions = sortedAllPartitions.filter((tp) => !assignedPartitions.has(tp));
  for (const consumer of currentAssignment.keys()) sortedCurrentSubscriptions.add(consumer);

  const maxAssignmentSize = (consumer: string): number => must(consumer2AllPotentialTopics, consumer).reduce((sum, t) => sum + must(partitionsPerTopic, t), 0);
  const canTopicParticipateInReassignment = (topic: string): boolean => must(topic2AllPotentialConsumers, topic).length >= 2;
  const canConsumerParticipateInReassignment = (consumer: string): boolean => {
    const partitions = must(currentAssignment, consumer);
    if (partitions.length < maxAssignmentSize(consumer)) return true;
    return partitions.some((tp) => canTopicParticipateInReassignment(tp.topic));
  };

  const isBalanced = (): boolean => {
    const min = sizeOf(sortedCurrentSubscriptions.first());
    const max = sizeOf(sortedCurrentSubscriptions.last());
    if (min >= max - 1) return true;
    const owner = new Map<TopicPartition, string>();
    for (const [consumer, list] of currentAssignment) for (const tp of list) owner.set(tp, consumer);
    // Unbalanced only if some member could take a partition from one with at least two more.
    for (const consumer of sortedCurrentSubscriptions.values()) {
      const mine = must(currentAssignment, consumer);
      if (mine.length === maxAssignmentSize(consumer)) continue;
      const mineSet = new Set(mine);
      for (const topic of must(consumer2AllPotentialTopics, consumer)) {
        const count = must(partitionsPerTopic, topic);
        for (let p = 0; p < count; p++) {
          const tp = tps.get(topic, p);
          if (mineSet.has(tp)) continue;
          const other = owner.get(tp);
          if (other !== undefined && mine.length + 1 < sizeOf(other)) return false;
        }
      }
    }
    return true;
  };

  const balanceScore = (assignment: ReadonlyMap<string, readonly TopicPartition[]>): number => {
    const sizes = [...assignment.values()].map((l) => l.length);
    let score = 0;
    for (let i = 0; i < sizes.length; i++) for (let j = i + 1; j < sizes.length; j++) score += Math.abs((sizes[i] as number) - (sizes[j] as number));
    return score;
  };

  const processPartitionMovement = (tp: TopicPartition, newConsumer: string): void => {
    const oldConsumer = must(currentPartitionConsumer, tp);
    sortedCurrentSubscriptions.remove(oldConsumer);
    sortedCurrentSubscriptions.remove(newConsumer);
    movements.move(tp, oldConsumer, newConsumer);
    removeItem(must(currentAssignment, oldConsumer), tp);
    must(currentAssignment, newConsumer).push(tp);
    currentPartitionConsumer.set(tp, newConsumer);
    sortedCurrentSubscriptions.add(newConsumer);
    sortedCurrentSubscriptions.add(oldConsumer);
  };

  const reassignPartitionTo = (tp: TopicPartition, newConsumer: string): void => {
    const consumer = must(currentPartitionConsumer, tp);
    processPartitionMovement(movements.actualPartitionToMove(tp, consumer, newConsumer), newConsumer);
  };

  const reassignPartition = (tp: TopicPartition): void => {
    const newConsumer = sortedCurrentSubscriptions.values().find((c) => must(potentialTopicSet, c).has(tp.topic));
    if (newConsumer === undefined) throw illegalState(`no consumer for ${tp.topic}-${tp.partition}`);
    reassignPartitionTo(tp, newConsumer);
  };

  const performReassignments = (reassignablePartitions: readonly TopicPartition[]): boolean => {
    let reassignmentPerformed = false;
    let modified: boolean;
    do {
      modified = false;
      for (const tp of reassignablePartitions) {
        if (isBalanced()) break;
        const consumer = must(currentPartitionConsumer, tp);
        const previous = prevAssignment.get(tp);
        if (
          previous !== undefined &&
          currentAssignment.has(previous.consumer) &&
          must(potentialTopicSet, previous.consumer).has(tp.topic) &&
          sizeOf(consumer) > sizeOf(previous.consumer) + 1
        ) {
          reassignPartitionTo(tp, previous.consumer);
          reassignmentPerformed = true;
          modified = true;
          continue;
        }
        // Move it if some other potential consumer has at least two fewer partitions.
        for (const other of must(topic2AllPotentialConsumers, tp.topic)) {
          if (sizeOf(consumer) > sizeOf(other) + 1) {
            reassignPartition(tp);
            reassignmentPerformed = true;
            modified = true;
            break;
          }
        }
      }
    } while (modified);
    return reassignmentPerformed;
  };

  // 2. balance()
  const initializing = sizeOf(sortedCurrentSubscriptions.last()) === 0;
  for (const tp of unassignedPartitions) {
    if (must(topic2AllPotentialConsumers, tp.topic).length === 0) continue;
    for (const consumer of sortedCurrentSubscriptions.values()) {
      if (must(potentialTopicSet, consumer).has(tp.topic)) {
        sortedCurrentSubscriptions.remove(consumer);
        must(currentAssignment, consumer).push(tp);
        currentPartitionConsumer.set(tp, consumer);
        sortedCurrentSubscriptions.add(consumer);
        break;
      }
    }
  }

  // Only partitions of topics with two or more potential consumers can move.
  const fixedTopics = new Set([...topic2AllPotentialConsumers.keys()].filter((t) => !canTopicParticipateInReassignment(t)));
  sortedAllPartitions = sortedAllPartitions.filter((tp) => !fixedTopics.has(tp.topic));
  unassignedPartitions = unassignedPartitions.filter((tp) => !fixedTopics.has(tp.topic));

  // Members that already hold everything they can and nothing movable sit out the balancing.
  const fixedAssignments = new Map<string, TopicPartition[]>();
  for (const consumer of consumer2AllPotentialTopics.keys()) {
    if (!canConsumerParticipateInReassignment(consumer)) {
      sortedCurrentSubscriptions.remove(consumer);
      fixedAssignments.set(consumer, must(currentAssignment, consumer));
      currentAssignment.delete(consumer);
    }
  }

  const preBalanceAssignment = new Map([...currentAssignment].map(([c, l]) => [c, [...l]]));
  const preBalancePartitionConsumers = new Map(currentPartitionConsumer);

  // 3. First try moving only the newly assigned partitions, then anything movable.
  if (currentAssignment.size > 0) {
    if (!revocationRequired) performReassignments(unassignedPartitions);
    const reassignmentPerformed = performReassignments(sortedAllPartitions);
    if (!initializing && reassignmentPerformed && balanceScore(currentAssignment) >= balanceScore(preBalanceAssignment)) {
      currentAssignment.clear();
      for (const [c, l] of preBalanceAssignment) currentAssignment.set(c, [...l]);
      currentPartitionConsumer.clear();
      for (const [tp, c] of preBalancePartitionConsumers) currentPartitionConsumer.set(tp, c);
    }
  }
  for (const [consumer, list] of fixedAssignments) currentAssignment.set(consumer, list);
  return { assignment: currentAssignment, transfers: null };
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
