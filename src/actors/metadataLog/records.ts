/**
 * The records of the `__cluster_metadata` log, named after Kafka's (`RegisterBrokerRecord`,
 * `TopicRecord`, `PartitionRecord`, `PartitionChangeRecord`, `ConfigRecord`, …), and the two pure
 * functions that tie them to the metadata image: {@link recordsBetween} turns a change the active
 * controller computed (image → image, in `controller/metadata.ts`) into records, and {@link replayRecords}
 * applies committed records to an image, as every controller and broker does when it replays the
 * log. Replaying the records of a change reproduces the change exactly (property-tested), so the
 * image every node holds is a function of the committed log alone.
 */
import type { BrokerRegistration, ClusterMetadataImage, PartitionMetadata, TopicMetadata } from '../../protocol/index.ts';

/** One record of the metadata log. Plain data: it travels and is stored as it is. */
export type MetadataRecord =
  | { readonly type: 'RegisterBrokerRecord'; readonly broker: BrokerRegistration }
  | { readonly type: 'UnregisterBrokerRecord'; readonly brokerId: number }
  | { readonly type: 'TopicRecord'; readonly name: string; readonly topicId: string; readonly internal: boolean }
  | { readonly type: 'ConfigRecord'; readonly topic: string; readonly config: Readonly<Record<string, string>> }
  | { readonly type: 'RemoveTopicRecord'; readonly name: string }
  | { readonly type: 'PartitionRecord'; readonly partition: PartitionMetadata }
  | { readonly type: 'PartitionChangeRecord'; readonly partition: PartitionMetadata }
  | { readonly type: 'ClusterRecord'; readonly clusterId: string }
  | { readonly type: 'ProducerIdsRecord'; readonly nextProducerId: number };

function sameJson(a: unknown, b: unknown): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

/**
 * The records that take `before` to `after`. Only what changed is written: new, changed and
 * removed brokers; new and removed topics with their partitions; changed configs and partitions.
 */
export function recordsBetween(before: ClusterMetadataImage, after: ClusterMetadataImage): MetadataRecord[] {
  const records: MetadataRecord[] = [];
  if (before.clusterId !== after.clusterId) records.push({ type: 'ClusterRecord', clusterId: after.clusterId });
  if (before.nextProducerId !== after.nextProducerId) records.push({ type: 'ProducerIdsRecord', nextProducerId: after.nextProducerId });
  const oldBrokers = new Map(before.brokers.map((b) => [b.id, b]));
  const newBrokers = new Map(after.brokers.map((b) => [b.id, b]));
  for (const b of after.brokers) if (!sameJson(oldBrokers.get(b.id), b)) records.push({ type: 'RegisterBrokerRecord', broker: b });
  for (const b of before.brokers) if (!newBrokers.has(b.id)) records.push({ type: 'UnregisterBrokerRecord', brokerId: b.id });
  for (const name of Object.keys(before.topics)) {
    const was = before.topics[name] as TopicMetadata;
    const now = after.topics[name];
    // A topic deleted and re-created under the same name has a new id: remove, then add.
    if (now === undefined || now.topicId !== was.topicId) records.push({ type: 'RemoveTopicRecord', name });
  }
  for (const name of Object.keys(after.topics)) {
    const now = after.topics[name] as TopicMetadata;
    const was = before.topics[name];
    const fresh = was === undefined || was.topicId !== now.topicId;
    if (fresh) {
      records.push({ type: 'TopicRecord', name, topicId: now.topicId, internal: now.internal });
      if (Object.keys(now.config).length > 0) records.push({ type: 'ConfigRecord', topic: name, config: now.config });
      for (const p of now.partitions) records.push({ type: 'PartitionRecord', partition: p });
      continue;
    }
    if (!sameJson(was.config, now.config)) records.push({ type: 'ConfigRecord', topic: name, config: now.config });
    now.partitions.forEach((p, i) => {
      const old = was.partitions[i];
      if (old === undefined) records.push({ type: 'PartitionRecord', partition: p });
      else if (!sameJson(old, p)) records.push({ type: 'PartitionChangeRecord', partition: p });
    });
  }
  return records;
}

/**
 * Applies committed records to `image` and stamps it with `version` (the metadata log offset
 * after the last record, so every node that replayed the same prefix holds the same version).
 * Records that refer to something absent (a change to a deleted topic) are skipped, as a replay
 * of a consistent log never produces them.
 */
export function replayRecords(image: ClusterMetadataImage, records: readonly MetadataRecord[], version: number): ClusterMetadataImage {
  let brokers: BrokerRegistration[] | undefined;
  let topics: Record<string, TopicMetadata> | undefined;
  let clusterId = image.clusterId;
  let nextProducerId = image.nextProducerId;
  const ownBrokers = (): BrokerRegistration[] => (brokers ??= [...image.brokers]);
  const ownTopics = (): Record<string, TopicMetadata> => (topics ??= { ...image.topics });
  for (const r of records) {
    switch (r.type) {
      case 'ClusterRecord':
        clusterId = r.clusterId;
        break;
      case 'ProducerIdsRecord':
        nextProducerId = r.nextProducerId;
        break;
      case 'RegisterBrokerRecord': {
        const list = ownBrokers();
        const at = list.findIndex((b) => b.id === r.broker.id);
        if (at >= 0) list[at] = r.broker;
        else list.push(r.broker);
        list.sort((a, b) => a.id - b.id);
        break;
      }
      case 'UnregisterBrokerRecord': {
        const list = ownBrokers();
        const at = list.findIndex((b) => b.id === r.brokerId);
        if (at >= 0) list.splice(at, 1);
        break;
      }
      case 'TopicRecord':
        ownTopics()[r.name] = { name: r.name, topicId: r.topicId, internal: r.internal, partitions: [], config: {} };
        break;
      case 'RemoveTopicRecord':
        delete ownTopics()[r.name];
        break;
      case 'ConfigRecord': {
        const t = ownTopics();
        const topic = t[r.topic];
        if (topic !== undefined) t[r.topic] = { ...topic, config: r.config };
        break;
      }
      case 'PartitionRecord':
      case 'PartitionChangeRecord': {
        const t = ownTopics();
        const topic = t[r.partition.topic];
        if (topic === undefined) break;
        const partitions = [...topic.partitions];
        partitions[r.partition.partition] = r.partition;
        t[r.partition.topic] = { ...topic, partitions };
        break;
      }
    }
  }
  return { ...image, clusterId, nextProducerId, version, ...(brokers === undefined ? {} : { brokers }), ...(topics === undefined ? {} : { topics }) };
}
