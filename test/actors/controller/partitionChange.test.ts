/**
 * The controller's pure metadata functions for replication (src/actors/controller/metadata.ts):
 * leader election as Kafka's PartitionChangeBuilder, broker fencing and unfencing, registration
 * of a new incarnation, AlterPartition validation and ElectLeaders.
 */
import { describe, expect, it } from 'vitest';
import { KafkaProtocolError } from '../../../src/errors.ts';
import {
  changePartition,
  registerBroker,
  withBroker,
  withBrokerFenced,
  withBrokerUnfenced,
  withIsrChange,
  withLeaderlessElected,
  withLeadersElected,
  withTopic,
  withTopicConfig,
} from '../../../src/actors/controller/metadata.ts';
import { emptyImage } from '../../../src/actors/metadataLog/image.ts';
import type { ClusterMetadataImage, PartitionMetadata } from '../../../src/protocol/index.ts';
import { createRandom } from '../../../src/random.ts';

/** Three brokers and topic `t` with one partition on replicas [1, 2, 3] (leader 1). */
function cluster(config: Record<string, unknown> = {}): ClusterMetadataImage {
  let image = emptyImage('c', 0);
  for (const id of [1, 2, 3]) image = withBroker(image, id, `inc-${id}`);
  image = withTopic(image, { name: 't', numPartitions: 1, replicationFactor: 3, config }, createRandom(1), 'tid');
  // Pin the assignment so elections are easy to read.
  const p = image.topics.t!.partitions[0]!;
  return { ...image, topics: { t: { ...image.topics.t!, partitions: [{ ...p, replicas: [1, 2, 3], isr: [1, 2, 3], leader: 1 }] } } };
}

const part = (image: ClusterMetadataImage): PartitionMetadata => image.topics.t!.partitions[0]!;

function kafkaError(fn: () => unknown): string {
  try {
    fn();
  } catch (e) {
    if (KafkaProtocolError.isKafka(e)) return e.code;
    throw e;
  }
  throw new Error('expected a Kafka error');
}

describe('topic creation', () => {
  it('creates partitions with every replica in the ISR and the first replica leading, epochs 0', () => {
    let image = emptyImage('c', 0);
    for (const id of [1, 2, 3]) image = withBroker(image, id);
    image = withTopic(image, { name: 'r', numPartitions: 3, replicationFactor: 3 }, createRandom(7), 'rid');
    for (const p of image.topics.r!.partitions) {
      expect(new Set(p.replicas).size).toBe(3);
      expect(p.isr).toEqual(p.replicas);
      expect(p.leader).toBe(p.replicas[0]);
      expect([p.leaderEpoch, p.partitionEpoch]).toEqual([0, 0]);
    }
    expect(kafkaError(() => withTopic(image, { name: 'x', numPartitions: 1, replicationFactor: 4 }, createRandom(1), 'x'))).toBe('INVALID_REPLICATION_FACTOR');
  });
});

describe('leader election (PartitionChangeBuilder)', () => {
  it('keeps a valid leader; else elects the first ISR member in assignment order that is unfenced', () => {
    const image = cluster();
    expect(changePartition(image, part(image))).toBe(part(image));
    const fenced = withBrokerFenced(image, 1);
    expect(part(fenced)).toMatchObject({ leader: 2, leaderEpoch: 1, partitionEpoch: 1, isr: [2, 3] });
    // Assignment order, not ISR order.
    const reordered = { ...part(image), isr: [3, 2, 1] };
    expect(changePartition(fenced, reordered)).toMatchObject({ leader: 2, isr: [3, 2, 1] });
  });

  it('keeps the last ISR member when it is fenced, and leaves the partition offline unless unclean elections are on', () => {
    let image = cluster();
    image = withBrokerFenced(withBrokerFenced(image, 2), 3);
    expect(part(image)).toMatchObject({ leader: 1, isr: [1] });
    const offline = withBrokerFenced(image, 1);
    expect(part(offline)).toMatchObject({ leader: -1, isr: [1], leaderEpoch: part(image).leaderEpoch + 1 });
    // A fenced broker coming back is not enough: only an ISR member may lead cleanly.
    const back = withBrokerUnfenced(offline, 2);
    expect(part(back).leader).toBe(-1);
    // The last ISR member comes back: it leads again, with a new epoch.
    const recovered = withBrokerUnfenced(back, 1);
    expect(part(recovered)).toMatchObject({ leader: 1, isr: [1], leaderEpoch: part(offline).leaderEpoch + 1 });
  });

  it('with unclean.leader.election.enable, an out-of-sync live replica leads and the ISR becomes just it', () => {
    let image = cluster({ 'unclean.leader.election.enable': true });
    image = withBrokerFenced(withBrokerFenced(image, 2), 3);
    image = withBrokerUnfenced(image, 3);
    expect(part(image)).toMatchObject({ leader: 1, isr: [1] });
    const unclean = withBrokerFenced(image, 1);
    expect(part(unclean)).toMatchObject({ leader: 3, isr: [3] });
  });

  it('switching unclean elections on elects a leader for an offline partition', () => {
    let image = cluster();
    image = withBrokerFenced(withBrokerFenced(image, 2), 3);
    image = withBrokerFenced(withBrokerUnfenced(image, 2), 1);
    expect(part(image).leader).toBe(-1);
    const configured = withTopicConfig(image, 't', { 'unclean.leader.election.enable': true });
    expect(part(withLeaderlessElected(configured, 't'))).toMatchObject({ leader: 2, isr: [2] });
  });
});

describe('broker registration', () => {
  it('the same incarnation registering again changes nothing; another one is a duplicate while the session lives', () => {
    const image = cluster();
    expect(registerBroker(image, 1, 'inc-1', true)).toBe(image);
    expect(kafkaError(() => registerBroker(image, 1, 'restarted', true))).toBe('DUPLICATE_BROKER_REGISTRATION');
  });

  it('a new incarnation after the session expired fences the old one first: its partitions move before it may lead', () => {
    const image = cluster();
    const next = registerBroker(image, 1, 'restarted', false);
    const b1 = next.brokers.find((b) => b.id === 1)!;
    expect(b1).toMatchObject({ fenced: false, incarnationId: 'restarted' });
    expect(b1.epoch).toBeGreaterThan(image.brokers.find((b) => b.id === 1)!.epoch!);
    expect(part(next)).toMatchObject({ leader: 2, isr: [2, 3], leaderEpoch: 1 });
  });
});

describe('AlterPartition (KIP-497)', () => {
  const request = (image: ClusterMetadataImage, overrides: Partial<{ brokerId: number; leaderEpoch: number; partitionEpoch: number; newIsr: number[] }> = {}) => ({ brokerId: 1, topic: 't', partition: 0, leaderEpoch: part(image).leaderEpoch, partitionEpoch: part(image).partitionEpoch, newIsr: [1, 2], ...overrides });

  it('commits the new ISR with partitionEpoch + 1', () => {
    const image = cluster();
    const { image: next, partition } = withIsrChange(image, request(image));
    expect(partition).toMatchObject({ leader: 1, leaderEpoch: 0, partitionEpoch: 1, isr: [1, 2] });
    expect(part(next)).toEqual(partition);
    // The same ISR again changes nothing.
    expect(withIsrChange(next, request(next)).image).toBe(next);
  });

  it('rejects in Kafka order: stale leader epoch, not the leader, stale partition epoch, bad ISR, ineligible replica', () => {
    let image = cluster();
    image = withIsrChange(image, request(image)).image; // partitionEpoch 1
    image = withIsrChange(image, request(image, { newIsr: [1, 2, 3] })).image; // partitionEpoch 2
    expect(kafkaError(() => withIsrChange(image, request(image, { partitionEpoch: 1 })))).toBe('INVALID_UPDATE_VERSION');
    expect(kafkaError(() => withIsrChange(image, request(image, { brokerId: 2 })))).toBe('INVALID_REQUEST');
    const moved = withBrokerFenced(image, 1); // leader 2, leaderEpoch 1
    expect(kafkaError(() => withIsrChange(moved, { ...request(moved, { brokerId: 2, leaderEpoch: 0 }), newIsr: [2] }))).toBe('FENCED_LEADER_EPOCH');
    expect(kafkaError(() => withIsrChange(image, request(image, { leaderEpoch: 5 })))).toBe('NOT_CONTROLLER');
    expect(kafkaError(() => withIsrChange(image, request(image, { newIsr: [2, 3] })))).toBe('INVALID_REQUEST');
    expect(kafkaError(() => withIsrChange(image, request(image, { newIsr: [1, 4] })))).toBe('INVALID_REQUEST');
    expect(kafkaError(() => withIsrChange(image, request(image, { newIsr: [1, 1] })))).toBe('INVALID_REQUEST');
    const fenced3 = withBrokerFenced(image, 3);
    expect(kafkaError(() => withIsrChange(fenced3, request(fenced3, { newIsr: [1, 2, 3] })))).toBe('INELIGIBLE_REPLICA');
    expect(kafkaError(() => withIsrChange(image, { ...request(image), topic: 'nope' }))).toBe('UNKNOWN_TOPIC_OR_PARTITION');
  });
});

describe('ElectLeaders', () => {
  it('preferred: moves leadership back to replicas[0] once it is in the ISR', () => {
    let image = cluster();
    image = withBrokerFenced(image, 1);
    expect(part(image).leader).toBe(2);
    expect(withLeadersElected(image, 'preferred').results).toEqual([{ topic: 't', partition: 0, error: 'PREFERRED_LEADER_NOT_AVAILABLE' }]);
    image = withBrokerUnfenced(image, 1);
    image = withIsrChange(image, { brokerId: 2, topic: 't', partition: 0, leaderEpoch: part(image).leaderEpoch, partitionEpoch: part(image).partitionEpoch, newIsr: [2, 3, 1] }).image;
    const elected = withLeadersElected(image, 'preferred', [{ topic: 't', partition: 0 }]);
    expect(elected.results).toEqual([{ topic: 't', partition: 0 }]);
    expect(part(elected.image)).toMatchObject({ leader: 1, leaderEpoch: part(image).leaderEpoch + 1 });
    expect(withLeadersElected(elected.image, 'preferred').results[0]?.error).toBe('ELECTION_NOT_NEEDED');
  });

  it('unclean: only for a partition without a leader, whatever the topic config says', () => {
    let image = cluster();
    expect(withLeadersElected(image, 'unclean').results[0]?.error).toBe('ELECTION_NOT_NEEDED');
    image = withBrokerFenced(withBrokerFenced(image, 2), 3);
    image = withBrokerFenced(withBrokerUnfenced(image, 3), 1);
    expect(part(image).leader).toBe(-1);
    const elected = withLeadersElected(image, 'unclean');
    expect(part(elected.image)).toMatchObject({ leader: 3, isr: [3] });
  });
});
