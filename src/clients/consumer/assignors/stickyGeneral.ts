/**
 * Kafka's general sticky algorithm (`GeneralAssignmentBuilder`), for members whose subscriptions
 * differ: greedy fill, then balancing moves that avoid partitions bouncing back and forth.
 */
import { allTopicPartitions, DEFAULT_GENERATION, illegalState, must, removeItem } from './stickyOwnership.ts';
import type { BuilderResult, OwnedPartitions, TopicPartitions } from './stickyOwnership.ts';
import { compareStrings } from './types.ts';
import type { MemberSubscription, TopicPartition } from './types.ts';

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
export function generalAssign(partitionsPerTopic: ReadonlyMap<string, number>, subscriptions: readonly MemberSubscription[], owned: OwnedPartitions, tps: TopicPartitions): BuilderResult {
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
