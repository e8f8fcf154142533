/**
 * Pure cluster-metadata functions the controller applies: topic validation, replica placement
 * (Kafka's rack-unaware assignment), and image updates. No actors, no I/O: every function takes
 * an image and returns a new one, so the controller stays thin and these are unit-tested alone.
 */
import { InvalidArgumentError, KafkaProtocolError } from '../../errors.ts';
import type { Random } from '../../random.ts';
import { LOG_CONFIG_KEYS, parseLogConfig, logConfigToKafka } from '../../topicConfig.ts';
import type { AlterPartitionRequest, BrokerRegistration, ClusterMetadataImage, PartitionMetadata, TopicMetadata } from '../../protocol/index.ts';

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

/**
 * Returns the image with broker `id` registered, unfenced, under a new broker epoch (the image
 * version it is registered at). A previous incarnation that was still unfenced is fenced first
 * (Kafka's `handleBrokerUncleanShutdown`: its partitions get new leaders and epochs before the
 * new process may lead anything). Then partitions without a leader that the broker can lead get
 * one. Samsa registers a broker unfenced at once; Kafka registers it fenced and unfences it at its
 * first heartbeat that has caught up with the metadata log, which ends in the same state.
 */
export function withBroker(image: ClusterMetadataImage, id: number, incarnationId?: string): ClusterMetadataImage {
  if (!Number.isInteger(id) || id < 0) throw new InvalidArgumentError('brokerId', `expected a non-negative integer, got ${id}`);
  const existing = image.brokers.find((b) => b.id === id);
  let next = existing !== undefined && !existing.fenced && existing.incarnationId !== incarnationId ? withBrokerFenced(image, id) : image;
  const registration: BrokerRegistration = { id, fenced: false, epoch: next.version + 1, ...(incarnationId === undefined ? {} : { incarnationId }) };
  const brokers = next.brokers.filter((b) => b.id !== id).concat(registration).sort((a, b) => a.id - b.id);
  next = { ...next, version: next.version + 1, brokers };
  return electLeaderless(next, next.version);
}

/**
 * The controller's answer to a BrokerRegistration request (Kafka's `registerBroker`): the same
 * incarnation registering again (a retry) changes nothing; another incarnation is refused with
 * DUPLICATE_BROKER_REGISTRATION while the registered one still has a valid session, else it
 * replaces it ({@link withBroker}).
 * @throws KafkaProtocolError DUPLICATE_BROKER_REGISTRATION.
 */
export function registerBroker(image: ClusterMetadataImage, id: number, incarnationId: string, hasValidSession: boolean): ClusterMetadataImage {
  const existing = image.brokers.find((b) => b.id === id);
  if (existing !== undefined && existing.incarnationId === incarnationId && !existing.fenced) return image;
  if (existing !== undefined && existing.incarnationId !== incarnationId && hasValidSession) {
    throw new KafkaProtocolError('DUPLICATE_BROKER_REGISTRATION', `broker ${id} is still registered by another process whose session has not expired; it is accepted once that session times out (broker.session.timeout.ms)`);
  }
  return withBroker(image, id, incarnationId);
}

/** Kafka's NO_LEADER: a partition without a leader is offline. */
export const NO_LEADER = -1;

/** Whether broker `id` is registered and unfenced (Kafka's `isActive`): only such a broker may lead or join an ISR. */
export function isActiveBroker(image: ClusterMetadataImage, id: number): boolean {
  return image.brokers.some((b) => b.id === id && !b.fenced);
}

/** Whether `topic` allows unclean leader elections (`unclean.leader.election.enable`, default false). */
export function uncleanElectionEnabled(image: ClusterMetadataImage, topic: string): boolean {
  return image.topics[topic]?.config['unclean.leader.election.enable'] === 'true';
}

/** How a leader is chosen (Kafka's `PartitionChangeBuilder.Election`). */
export type Election = 'online' | 'preferred' | 'unclean';

/** A requested change of one partition: a new ISR, a kind of election, or both. */
export interface PartitionChange {
  /** The target ISR (default: unchanged). An empty target keeps the current ISR, as Kafka does without ELR. */
  readonly isr?: readonly number[];
  /** Default `online`. */
  readonly election?: Election;
}

function sameMembers(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

/**
 * Kafka's `PartitionChangeBuilder`: applies `change` to `p` and elects its leader.
 * - `online`: keep the current leader if it is still in the target ISR and active; else the first
 *   replica in assignment order that is; else none (leader -1, the partition is offline).
 * - `preferred`: `replicas[0]` if it is in the target ISR and active; else as `online`.
 * - `unclean`: as `online`, but when no ISR member can lead, the first active replica does and the
 *   ISR becomes just it (committed data it lacks is lost).
 * The ISR never becomes empty: when the target is empty the last ISR stays, so the partition
 * comes back when its last member does. A new leader bumps `leaderEpoch`; any change bumps
 * `partitionEpoch`. Returns `p` itself when nothing changes.
 */
export function changePartition(image: ClusterMetadataImage, p: PartitionMetadata, change: PartitionChange = {}): PartitionMetadata {
  const target = change.isr ?? p.isr;
  const election = change.election ?? 'online';
  const valid = (id: number): boolean => target.includes(id) && isActiveBroker(image, id);
  let leader = NO_LEADER;
  let unclean = false;
  const preferred = p.replicas[0];
  if (election === 'preferred' && preferred !== undefined && valid(preferred)) leader = preferred;
  else if (valid(p.leader)) leader = p.leader;
  else {
    leader = p.replicas.find(valid) ?? NO_LEADER;
    if (leader === NO_LEADER && election === 'unclean') {
      leader = p.replicas.find((id) => isActiveBroker(image, id)) ?? NO_LEADER;
      unclean = leader !== NO_LEADER;
    }
  }
  const isr = unclean ? [leader] : target.length === 0 ? p.isr : [...target];
  const leaderChanged = leader !== p.leader;
  if (!leaderChanged && sameMembers(isr, p.isr)) return p;
  return { ...p, leader, leaderEpoch: leaderChanged ? p.leaderEpoch + 1 : p.leaderEpoch, partitionEpoch: p.partitionEpoch + 1, isr };
}

/** Applies `fn` to every partition; the image is returned as it was when nothing changed. */
function mapPartitions(image: ClusterMetadataImage, version: number, fn: (p: PartitionMetadata) => PartitionMetadata): ClusterMetadataImage {
  let topics: Record<string, TopicMetadata> | undefined;
  for (const [name, topic] of Object.entries(image.topics)) {
    let partitions: PartitionMetadata[] | undefined;
    topic.partitions.forEach((p, i) => {
      const next = fn(p);
      if (next === p) return;
      partitions ??= [...topic.partitions];
      partitions[i] = next;
    });
    if (partitions !== undefined) (topics ??= { ...image.topics })[name] = { ...topic, partitions };
  }
  return topics === undefined ? image : { ...image, version, topics };
}

/** Elects a leader for every partition without one (online, or unclean where the topic allows it). */
function electLeaderless(image: ClusterMetadataImage, version: number, onlyTopic?: string): ClusterMetadataImage {
  return mapPartitions(image, version, (p) => (p.leader !== NO_LEADER || (onlyTopic !== undefined && p.topic !== onlyTopic) ? p : changePartition(image, p, { election: uncleanElectionEnabled(image, p.topic) ? 'unclean' : 'online' })));
}

/**
 * Returns the image with broker `id` fenced (Kafka's `handleBrokerFenced`): removed from every
 * ISR it is in (but never leaving an ISR empty), and every partition it led given a new leader
 * by {@link changePartition}, or none. A broker already fenced, or unknown, leaves the image as it is.
 */
export function withBrokerFenced(image: ClusterMetadataImage, id: number): ClusterMetadataImage {
  const existing = image.brokers.find((b) => b.id === id);
  if (existing === undefined || existing.fenced) return image;
  const version = image.version + 1;
  const fenced: ClusterMetadataImage = { ...image, version, brokers: image.brokers.map((b) => (b.id === id ? { ...b, fenced: true } : b)) };
  return mapPartitions(fenced, version, (p) => (p.isr.includes(id) || p.leader === id ? changePartition(fenced, p, { isr: p.isr.filter((r) => r !== id), election: uncleanElectionEnabled(fenced, p.topic) ? 'unclean' : 'online' }) : p));
}

/**
 * Returns the image with broker `id` unfenced (Kafka's `handleBrokerUnfenced`): it is active
 * again, and every partition without a leader that it can now lead gets one. A broker already
 * unfenced, or unknown, leaves the image as it is.
 */
export function withBrokerUnfenced(image: ClusterMetadataImage, id: number): ClusterMetadataImage {
  const existing = image.brokers.find((b) => b.id === id);
  if (existing === undefined || !existing.fenced) return image;
  const version = image.version + 1;
  const unfenced: ClusterMetadataImage = { ...image, version, brokers: image.brokers.map((b) => (b.id === id ? { ...b, fenced: false } : b)) };
  return electLeaderless(unfenced, version);
}

/** An ISR change a partition leader asks for (AlterPartition, KIP-497). */
export type IsrChangeRequest = Omit<AlterPartitionRequest, 'type' | 'correlationId'>;

/**
 * Applies a leader's AlterPartition request, validated in Kafka's order
 * (`validateAlterPartitionData`): an unknown partition is UNKNOWN_TOPIC_OR_PARTITION; epochs
 * newer than the controller's are NOT_CONTROLLER (the sender knows a newer controller); a sender
 * that is not the leader is INVALID_REQUEST; a stale leader epoch is FENCED_LEADER_EPOCH; a stale
 * partition epoch is INVALID_UPDATE_VERSION; an ISR that is empty, repeats a broker, names a
 * non-replica or drops the leader is INVALID_REQUEST; an ISR with a fenced or unregistered broker
 * is INELIGIBLE_REPLICA. Otherwise the ISR is committed with `partitionEpoch + 1` (an unchanged
 * ISR changes nothing). Returns the new image and the partition as committed.
 * @throws KafkaProtocolError as listed; the image is unchanged.
 */
export function withIsrChange(image: ClusterMetadataImage, request: IsrChangeRequest): { image: ClusterMetadataImage; partition: PartitionMetadata } {
  const { topic, partition, brokerId, newIsr } = request;
  const p = partitionOf(image, topic, partition);
  const name = `${topic}-${partition}`;
  if (p === undefined) throw new KafkaProtocolError('UNKNOWN_TOPIC_OR_PARTITION', `partition ${name} does not exist`);
  if (request.leaderEpoch > p.leaderEpoch || request.partitionEpoch > p.partitionEpoch) throw new KafkaProtocolError('NOT_CONTROLLER', `AlterPartition for ${name} carries epochs (leader ${request.leaderEpoch}, partition ${request.partitionEpoch}) newer than this controller's (${p.leaderEpoch}, ${p.partitionEpoch})`);
  if (brokerId !== p.leader) throw new KafkaProtocolError('INVALID_REQUEST', `broker ${brokerId} is not the leader of ${name} (the leader is ${p.leader})`);
  if (request.leaderEpoch !== p.leaderEpoch) throw new KafkaProtocolError('FENCED_LEADER_EPOCH', `AlterPartition for ${name} carries leader epoch ${request.leaderEpoch}; the current one is ${p.leaderEpoch}`);
  if (request.partitionEpoch !== p.partitionEpoch) throw new KafkaProtocolError('INVALID_UPDATE_VERSION', `AlterPartition for ${name} is based on partition epoch ${request.partitionEpoch}; the current one is ${p.partitionEpoch}; wait for the new metadata`);
  if (!Array.isArray(newIsr) || newIsr.length === 0 || new Set(newIsr).size !== newIsr.length || newIsr.some((id) => !p.replicas.includes(id))) throw new KafkaProtocolError('INVALID_REQUEST', `ISR ${JSON.stringify(newIsr)} for ${name} must be a non-empty set of its replicas ${JSON.stringify(p.replicas)}`);
  if (!newIsr.includes(p.leader)) throw new KafkaProtocolError('INVALID_REQUEST', `ISR ${JSON.stringify(newIsr)} for ${name} must include the leader ${p.leader}`);
  const ineligible = newIsr.filter((id) => !isActiveBroker(image, id));
  if (ineligible.length > 0) throw new KafkaProtocolError('INELIGIBLE_REPLICA', `ISR ${JSON.stringify(newIsr)} for ${name} names broker(s) ${ineligible.join(', ')} that are fenced or not registered`);
  const changed = changePartition(image, p, { isr: newIsr, election: uncleanElectionEnabled(image, topic) ? 'unclean' : 'online' });
  if (changed === p) return { image, partition: p };
  const partitions = [...(image.topics[topic] as TopicMetadata).partitions];
  partitions[partition] = changed;
  return { image: { ...image, version: image.version + 1, topics: { ...image.topics, [topic]: { ...(image.topics[topic] as TopicMetadata), partitions } } }, partition: changed };
}

/**
 * Elects leaders for the partitions of `topic` that have none, unclean where its config allows
 * (the controller runs it when `unclean.leader.election.enable` is switched on, as Kafka's
 * periodic unclean election would).
 */
export function withLeaderlessElected(image: ClusterMetadataImage, topic: string): ClusterMetadataImage {
  return electLeaderless(image, image.version + 1, topic);
}

/** The outcome of an ElectLeaders request for one partition. */
export interface ElectionResult {
  readonly topic: string;
  readonly partition: number;
  readonly error?: 'UNKNOWN_TOPIC_OR_PARTITION' | 'ELECTION_NOT_NEEDED' | 'PREFERRED_LEADER_NOT_AVAILABLE' | 'ELIGIBLE_LEADERS_NOT_AVAILABLE';
}

/**
 * Kafka's ElectLeaders admin request. `preferred` moves leadership to `replicas[0]` when it is in
 * the ISR and active (ELECTION_NOT_NEEDED when it already leads, PREFERRED_LEADER_NOT_AVAILABLE
 * when it cannot); `unclean` elects a leader for a partition that has none, out of the ISR if
 * need be, whatever the topic config says (ELECTION_NOT_NEEDED when it has a leader,
 * ELIGIBLE_LEADERS_NOT_AVAILABLE when no replica is active). `partitions` undefined means all.
 */
export function withLeadersElected(image: ClusterMetadataImage, election: 'preferred' | 'unclean', partitions?: ReadonlyArray<{ topic: string; partition: number }>): { image: ClusterMetadataImage; results: ElectionResult[] } {
  const wanted = partitions ?? Object.values(image.topics).flatMap((t) => t.partitions.map((p) => ({ topic: p.topic, partition: p.partition })));
  const results: ElectionResult[] = [];
  const changes = new Map<string, PartitionMetadata>();
  for (const { topic, partition } of wanted) {
    const p = partitionOf(image, topic, partition);
    if (p === undefined) {
      results.push({ topic, partition, error: 'UNKNOWN_TOPIC_OR_PARTITION' });
      continue;
    }
    if (election === 'preferred' ? p.leader === p.replicas[0] : p.leader !== NO_LEADER) {
      results.push({ topic, partition, error: 'ELECTION_NOT_NEEDED' });
      continue;
    }
    const next = changePartition(image, p, { election });
    const elected = election === 'preferred' ? next.leader === p.replicas[0] : next.leader !== NO_LEADER;
    if (!elected) {
      results.push({ topic, partition, error: election === 'preferred' ? 'PREFERRED_LEADER_NOT_AVAILABLE' : 'ELIGIBLE_LEADERS_NOT_AVAILABLE' });
      continue;
    }
    changes.set(`${topic}\u0000${partition}`, next);
    results.push({ topic, partition });
  }
  if (changes.size === 0) return { image, results };
  return { image: mapPartitions(image, image.version + 1, (p) => changes.get(`${p.topic}\u0000${p.partition}`) ?? p), results };
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

/** The metadata of one partition, or undefined. */
export function partitionOf(image: ClusterMetadataImage, topic: string, partition: number): PartitionMetadata | undefined {
  return image.topics[topic]?.partitions[partition];
}
