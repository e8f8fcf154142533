/**
 * The topics a streams app needs before it runs: sources that exist, co-partitioned inputs of one
 * sub-topology with equal partition counts, and the internal topics (repartition topics sized by
 * what feeds them, compacted changelogs with one partition per task), created at start as Kafka
 * Streams does. Nothing runs when a check fails.
 */
import { SamsaError, TopologyError } from '../errors.ts';
import type { AdminClient } from '../clients/api.ts';
import type { StoreSpec, SubTopology, Topology } from './topology.ts';

/**
 * Checks that the source topics exist and co-partitioned ones agree, creates the internal topics
 * with the partition counts the topology needs (or checks existing ones), and returns the
 * partition count of every topic the app reads or writes that it knows.
 * @throws TopologyError for a missing source topic, a co-partitioning mismatch, an internal topic of the wrong size.
 */
export async function prepareTopics(topology: Topology, admin: AdminClient, appId: string, replicationFactor: number, additionalRetentionMs = DEFAULT_ADDITIONAL_RETENTION_MS): Promise<Map<string, number>> {
  const partitions = new Map<string, number>();
  for (const topic of topology.sourceTopics) {
    try {
      partitions.set(topic, (await admin.describeTopic(topic)).partitions.length);
    } catch (e) {
      if (SamsaError.is(e) && e.code === 'UNKNOWN_TOPIC_OR_PARTITION') throw new TopologyError(`source topic "${topic}" does not exist; create it before starting the app`);
      throw e;
    }
  }
  // Repartition topics take the partition count of the sub-topology that writes them, unless a join pins it.
  const writers = new Map<string, SubTopology>();
  for (const sub of topology.subtopologies) {
    for (const name of sub.nodes) {
      const spec = topology.nodes.get(name)?.spec;
      if (spec?.kind === 'sink' && spec.internal && typeof spec.topic === 'string') writers.set(spec.topic, sub);
    }
  }
  // Kafka's CopartitionedTopicsEnforcer: a sub-topology with state reading several topics (a
  // join) needs them co-partitioned. Its user topics must agree; its repartition topics take their
  // count (or, when it reads repartition topics only, the largest of theirs).
  const pinned = new Map<string, number>();
  const groups = topology.subtopologies.filter((sub) => sub.stores.length > 0 && sub.sourceTopics.length > 1);
  for (const sub of groups) {
    const external = sub.sourceTopics.filter((t) => !topology.internalTopics.has(t)).map((t) => [t, partitions.get(t) ?? 1] as const);
    if (new Set(external.map(([, n]) => n)).size > 1) throw new TopologyError(`topics ${external.map(([t, n]) => `"${t}" (${n} partitions)`).join(', ')} are read by one sub-topology with shared state (a join) and must be co-partitioned: give them the same number of partitions`);
    const count = external[0]?.[1];
    if (count !== undefined) for (const t of sub.sourceTopics) if (topology.internalTopics.has(t)) pinned.set(t, count);
  }
  const topicCount = (t: string, seen = new Set<number>()): number => {
    if (!topology.internalTopics.has(t)) return partitions.get(t) ?? 1;
    const fixed = pinned.get(t);
    if (fixed !== undefined) return fixed;
    const writer = writers.get(t);
    return writer === undefined ? 1 : taskCount(writer, new Set(seen));
  };
  const taskCount = (sub: SubTopology, seen = new Set<number>()): number => {
    if (seen.has(sub.id)) throw new TopologyError(`sub-topology ${sub.id} feeds itself through a repartition topic`);
    seen.add(sub.id);
    return Math.max(1, ...sub.sourceTopics.map((t) => topicCount(t, seen)));
  };
  for (const sub of groups) {
    if (sub.sourceTopics.some((t) => !topology.internalTopics.has(t))) continue;
    const count = Math.max(...sub.sourceTopics.map((t) => topicCount(t)));
    for (const t of sub.sourceTopics) pinned.set(t, count);
  }
  for (const sub of groups) {
    const counts = sub.sourceTopics.map((t) => [t, topicCount(t)] as const);
    if (new Set(counts.map(([, n]) => n)).size > 1) throw new TopologyError(`topics ${counts.map(([t, n]) => `"${t}" (${n} partitions)`).join(', ')} are read by one sub-topology with shared state and must be co-partitioned: give them the same number of partitions`);
  }
  const internal: Array<{ name: string; partitions: number; config: Record<string, string> }> = [];
  for (const topic of topology.internalTopics) internal.push({ name: `${appId}-${topic}`, partitions: topicCount(topic), config: {} });
  for (const sub of topology.subtopologies) {
    for (const store of sub.stores) {
      const spec = topology.stores.get(store);
      if (spec?.logged !== true) continue;
      internal.push({ name: changelogTopicName(appId, store), partitions: taskCount(sub), config: changelogConfig(spec, additionalRetentionMs) });
    }
  }
  for (const t of internal) {
    partitions.set(t.name, t.partitions);
    try {
      await admin.createTopic(t.name, { partitions: t.partitions, replicationFactor: replicationFactor, config: t.config });
    } catch (e) {
      if (!(SamsaError.is(e) && e.code === 'TOPIC_ALREADY_EXISTS')) throw e;
      const existing = (await admin.describeTopic(t.name)).partitions.length;
      if (existing !== t.partitions) throw new TopologyError(`internal topic "${t.name}" has ${existing} partitions, but this topology needs ${t.partitions}; delete it (and reset the application) or restore the old partition counts`);
    }
  }
  for (const topic of topology.sinkTopics) {
    if (topology.internalTopics.has(topic)) continue;
    try {
      partitions.set(topic, (await admin.describeTopic(topic)).partitions.length);
    } catch {
      // An output topic that does not exist yet: auto-created on first send, where the broker allows it.
    }
  }
  return partitions;
}

/** `windowstore.changelog.additional.retention.ms`: Kafka's default, one day. */
export const DEFAULT_ADDITIONAL_RETENTION_MS = 86_400_000;

/**
 * A changelog's topic config: compacted for key-value stores; compacted and deleted by time for
 * window and session stores, kept for the store's retention plus `additionalRetentionMs`, as Kafka.
 */
export function changelogConfig(spec: StoreSpec, additionalRetentionMs: number): Record<string, string> {
  if ((spec.type ?? 'keyValue') === 'keyValue') return { 'cleanup.policy': 'compact' };
  return { 'cleanup.policy': 'compact,delete', 'retention.ms': String((spec.retentionMs ?? 0) + additionalRetentionMs) };
}

/** The changelog topic of a store: `<applicationId>-<store>-changelog`, as Kafka Streams names it. */
export function changelogTopicName(appId: string, store: string): string {
  return `${appId}-${store}-changelog`;
}
