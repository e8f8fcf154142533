/**
 * What both of Kafka's sticky algorithms start from (its `AbstractStickyAssignor`): the partitions
 * each member owns, trusted by generation, the one shared object per topic-partition they compare
 * by identity, and the member order of Java's `HashMap` that decides ties as in Kafka. See
 * cooperativeSticky.ts for the assignors and their deliberate differences from Kafka.
 */
import { SamsaError } from '../../../errors.ts';
import type { MemberSubscription, TopicPartition } from './types.ts';

/** Kafka's `AbstractStickyAssignor.DEFAULT_GENERATION`: the generation of a member that reports none. */
export const DEFAULT_GENERATION = -1;

/** Thrown only if the algorithm's own bookkeeping breaks; never expected. */
export function illegalState(message: string): SamsaError {
  return new SamsaError(`sticky assignor internal error: ${message}`, 'ILLEGAL_STATE', false);
}

/** One shared object per topic-partition, so Sets and Maps compare them by identity (Java's equals). */
export class TopicPartitions {
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

/** `map.get(key)`, for a key the algorithm knows is there. */
export function must<K, V>(map: ReadonlyMap<K, V>, key: K): V {
  const value = map.get(key);
  if (value === undefined) throw illegalState(`missing entry for ${String(key)}`);
  return value;
}

/** Removes the first `item` from `list`, if present. */
export function removeItem<T>(list: T[], item: T): void {
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
export interface OwnedPartitions {
  readonly allSubscriptionsEqual: boolean;
  readonly maxGeneration: number;
  /** memberId → owned partitions it may keep claiming, in member order. */
  readonly consumerToOwned: Map<string, TopicPartition[]>;
  /** Partitions claimed by two members of the same generation: owned by neither. */
  readonly partitionsWithMultiplePreviousOwners: Set<TopicPartition>;
}

/**
 * Reads every member's owned partitions as Kafka trusts them: by generation (two claims of one
 * generation cancel out, a newer generation wins), dropping malformed claims.
 */
export function readOwnedPartitions(partitionsPerTopic: ReadonlyMap<string, number>, subscriptions: readonly MemberSubscription[], tps: TopicPartitions): OwnedPartitions {
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
export function allTopicPartitions(partitionsPerTopic: ReadonlyMap<string, number>, topics: readonly string[], tps: TopicPartitions): TopicPartition[] {
  const out: TopicPartition[] = [];
  for (const topic of topics) {
    const count = must(partitionsPerTopic, topic);
    for (let p = 0; p < count; p++) out.push(tps.get(topic, p));
  }
  return out;
}

/** What the constrained and the general algorithm return. */
export interface BuilderResult {
  readonly assignment: Map<string, TopicPartition[]>;
  /** Known transfers (constrained algorithm), or null when they must be computed (general). */
  readonly transfers: Map<TopicPartition, string> | null;
}
