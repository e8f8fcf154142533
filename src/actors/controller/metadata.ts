/**
 * Pure cluster-metadata functions the controller applies: topic validation, replica placement
 * (Kafka's rack-unaware assignment), and image updates. No actors, no I/O: every function takes
 * an image and returns a new one, so the controller stays thin and these are unit-tested alone.
 */
import { InvalidArgumentError, KafkaProtocolError } from '../../errors.ts';
import type { Random } from '../../random.ts';
import { LOG_CONFIG_KEYS, parseLogConfig, logConfigToKafka } from '../../log/logConfig.ts';
import type { ClusterMetadataImage, PartitionMetadata, TopicMetadata } from '../protocol.ts';

/** Kafka's limit on topic name length. */
export const MAX_TOPIC_NAME_LENGTH = 249;

/**
 * Checks a topic name as Kafka does (`Topic.validate`): 1–249 chars of [a-zA-Z0-9._-], not "."
 * or "..".
 * @throws KafkaProtocolError INVALID_TOPIC_EXCEPTION naming the problem.
 */
export function validateTopicName(name: unknown): asserts name is string {
  if (typeof name !== 'string' || name.length === 0) throw new KafkaProtocolError('INVALID_TOPIC_EXCEPTION', `topic name must be a non-empty string, got ${JSON.stringify(name)}`);
  if (name === '.' || name === '..') throw new KafkaProtocolError('INVALID_TOPIC_EXCEPTION', `topic name cannot be "${name}"`);
  if (name.length > MAX_TOPIC_NAME_LENGTH) throw new KafkaProtocolError('INVALID_TOPIC_EXCEPTION', `topic name "${name.slice(0, 20)}…" is ${name.length} characters; the limit is ${MAX_TOPIC_NAME_LENGTH}`);
  if (!/^[a-zA-Z0-9._-]+$/.test(name)) throw new KafkaProtocolError('INVALID_TOPIC_EXCEPTION', `topic name "${name}" may only contain ASCII letters, digits, '.', '_' and '-'`);
}

/**
 * Kafka's rack-unaware replica assignment: the first replica of partition p is broker
 * `(p + start) % n`, followers are shifted by a per-round offset so leaders and followers
 * spread evenly. `start` and the shift are drawn from `random` unless given.
 */
export function assignReplicas(brokerIds: readonly number[], partitions: number, replicationFactor: number, random: Random, firstPartition = 0, fixedStart?: number): number[][] {
  const n = brokerIds.length;
  if (replicationFactor > n) throw new KafkaProtocolError('INVALID_REPLICATION_FACTOR', `replication factor ${replicationFactor} is larger than the ${n} available broker${n === 1 ? '' : 's'}; lower it or add brokers`);
  const sorted = [...brokerIds].sort((a, b) => a - b);
  const start = fixedStart ?? random.int(n);
  let shift = fixedStart ?? random.int(n);
  const out: number[][] = [];
  for (let i = 0; i < partitions; i++) {
    const p = firstPartition + i;
    if (p > 0 && p % n === 0) shift++;
    const first = (p + start) % n;
    const replicas = [sorted[first] as number];
    for (let j = 0; j < replicationFactor - 1; j++) {
      const step = 1 + ((shift + j) % (n - 1));
      replicas.push(sorted[(first + step) % n] as number);
    }
    out.push(replicas);
  }
  return out;
}

/** A request to create one topic. */
export interface NewTopic {
  readonly name: string;
  readonly numPartitions: number;
  readonly replicationFactor: number;
  readonly config?: Readonly<Record<string, unknown>>;
  readonly internal?: boolean;
}

/**
 * Returns the image with `topic` added, or throws the Kafka error the CreateTopics API answers:
 * INVALID_TOPIC_EXCEPTION, TOPIC_ALREADY_EXISTS, INVALID_PARTITIONS, INVALID_REPLICATION_FACTOR,
 * INVALID_CONFIG.
 */
export function withTopic(image: ClusterMetadataImage, topic: NewTopic, random: Random, topicId: string): ClusterMetadataImage {
  validateTopicName(topic.name);
  if (image.topics[topic.name] !== undefined) throw new KafkaProtocolError('TOPIC_ALREADY_EXISTS', `topic "${topic.name}" already exists`);
  if (!Number.isInteger(topic.numPartitions) || topic.numPartitions < 1) throw new KafkaProtocolError('INVALID_PARTITIONS', `topic "${topic.name}" needs at least 1 partition, got ${topic.numPartitions}`);
  if (!Number.isInteger(topic.replicationFactor) || topic.replicationFactor < 1) throw new KafkaProtocolError('INVALID_REPLICATION_FACTOR', `replication factor for topic "${topic.name}" must be an integer ≥ 1, got ${topic.replicationFactor}`);
  const liveBrokers = image.brokers.filter((b) => !b.fenced).length;
  if (topic.replicationFactor > liveBrokers) throw new KafkaProtocolError('INVALID_REPLICATION_FACTOR', `replication factor ${topic.replicationFactor} is larger than the ${liveBrokers} available broker${liveBrokers === 1 ? '' : 's'}; lower it or add brokers`);
  if (topic.replicationFactor > 1) throw new KafkaProtocolError('INVALID_REPLICATION_FACTOR', `replication factor ${topic.replicationFactor} for topic "${topic.name}" is not supported yet: this version replicates nothing, so every partition has one replica; use replicationFactor 1`);
  const config = configOverrides(topic.config ?? {});
  const live = image.brokers.filter((b) => !b.fenced).map((b) => b.id);
  const assignment = assignReplicas(live, topic.numPartitions, topic.replicationFactor, random);
  const partitions: PartitionMetadata[] = assignment.map((replicas, partition) => ({ topic: topic.name, partition, leader: replicas[0] as number, leaderEpoch: 0, partitionEpoch: 0, replicas, isr: replicas }));
  const meta: TopicMetadata = { name: topic.name, topicId, internal: topic.internal ?? topic.name.startsWith('__'), partitions, config };
  return { ...image, version: image.version + 1, topics: { ...image.topics, [topic.name]: meta } };
}

/** Returns the image without `name`. @throws UNKNOWN_TOPIC_OR_PARTITION when it does not exist. */
export function withoutTopic(image: ClusterMetadataImage, name: string): ClusterMetadataImage {
  if (image.topics[name] === undefined) throw new KafkaProtocolError('UNKNOWN_TOPIC_OR_PARTITION', `topic "${name}" does not exist`);
  const topics = { ...image.topics };
  delete topics[name];
  return { ...image, version: image.version + 1, topics };
}

/**
 * Returns the image with `name` grown to `totalCount` partitions (CreatePartitions).
 * @throws INVALID_PARTITIONS when the count does not increase.
 */
export function withPartitions(image: ClusterMetadataImage, name: string, totalCount: number, random: Random): ClusterMetadataImage {
  const topic = image.topics[name];
  if (topic === undefined) throw new KafkaProtocolError('UNKNOWN_TOPIC_OR_PARTITION', `topic "${name}" does not exist`);
  const current = topic.partitions.length;
  if (!Number.isInteger(totalCount) || totalCount <= current) throw new KafkaProtocolError('INVALID_PARTITIONS', `topic "${name}" has ${current} partitions; the new count must be larger, got ${totalCount} (partitions can only be added)`);
  const rf = topic.partitions[0]?.replicas.length ?? 1;
  const live = image.brokers.filter((b) => !b.fenced).map((b) => b.id);
  const added = assignReplicas(live, totalCount - current, rf, random, current).map((replicas, i) => ({ topic: name, partition: current + i, leader: replicas[0] as number, leaderEpoch: 0, partitionEpoch: 0, replicas, isr: replicas }));
  return { ...image, version: image.version + 1, topics: { ...image.topics, [name]: { ...topic, partitions: [...topic.partitions, ...added] } } };
}

/** Returns the image with topic config overrides replaced by `config` (validated). */
export function withTopicConfig(image: ClusterMetadataImage, name: string, config: Readonly<Record<string, unknown>>): ClusterMetadataImage {
  const topic = image.topics[name];
  if (topic === undefined) throw new KafkaProtocolError('UNKNOWN_TOPIC_OR_PARTITION', `topic "${name}" does not exist`);
  return { ...image, version: image.version + 1, topics: { ...image.topics, [name]: { ...topic, config: configOverrides({ ...topic.config, ...config }) } } };
}

/** Returns the image with broker `id` registered (unfenced). */
export function withBroker(image: ClusterMetadataImage, id: number): ClusterMetadataImage {
  if (!Number.isInteger(id) || id < 0) throw new InvalidArgumentError('brokerId', `expected a non-negative integer, got ${id}`);
  const brokers = image.brokers.filter((b) => b.id !== id).concat({ id, fenced: false }).sort((a, b) => a.id - b.id);
  return { ...image, version: image.version + 1, brokers };
}

/** Validates overrides and keeps only the keys given, as Kafka-key strings. */
function configOverrides(config: Readonly<Record<string, unknown>>): Record<string, string> {
  const parsed = logConfigToKafka(parseLogConfig(config));
  const out: Record<string, string> = {};
  for (const key of Object.keys(config)) {
    const kafkaKey = key in parsed ? key : (LOG_CONFIG_KEYS as Readonly<Record<string, string>>)[key];
    if (kafkaKey !== undefined && config[key] !== undefined) out[kafkaKey] = (parsed as Readonly<Record<string, string>>)[kafkaKey] as string;
  }
  return out;
}

/** An empty image for a new cluster. */
export function emptyImage(clusterId: string, controllerId: number): ClusterMetadataImage {
  return { version: 0, clusterId, controllerId, brokers: [], topics: {} };
}

/** The metadata of one partition, or undefined. */
export function partitionOf(image: ClusterMetadataImage, topic: string, partition: number): PartitionMetadata | undefined {
  return image.topics[topic]?.partitions[partition];
}
