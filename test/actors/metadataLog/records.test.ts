import { describe, expect, it } from 'vitest';
import { fc, test } from '@fast-check/vitest';
import { withBroker, withoutTopic, withPartitions, withTopic, withTopicConfig } from '../../../src/actors/controller/metadata.ts';
import { emptyImage } from '../../../src/actors/metadataLog/image.ts';
import { recordsBetween, replayRecords } from '../../../src/actors/metadataLog/records.ts';
import type { ClusterMetadataImage } from '../../../src/protocol/index.ts';
import { createRandom } from '../../../src/random.ts';

const stripVersion = (image: ClusterMetadataImage): Omit<ClusterMetadataImage, 'version'> => {
  const { version: _v, ...rest } = image;
  return rest;
};

type Op = { kind: 'broker'; id: number } | { kind: 'topic'; name: string; partitions: number } | { kind: 'delete'; name: string } | { kind: 'grow'; name: string; by: number } | { kind: 'config'; name: string; retention: number };

const ops = fc.array(
  fc.oneof(
    fc.record({ kind: fc.constant('broker' as const), id: fc.integer({ min: 1, max: 4 }) }),
    fc.record({ kind: fc.constant('topic' as const), name: fc.constantFrom('a', 'b', 'c'), partitions: fc.integer({ min: 1, max: 4 }) }),
    fc.record({ kind: fc.constant('delete' as const), name: fc.constantFrom('a', 'b', 'c') }),
    fc.record({ kind: fc.constant('grow' as const), name: fc.constantFrom('a', 'b', 'c'), by: fc.integer({ min: 1, max: 3 }) }),
    fc.record({ kind: fc.constant('config' as const), name: fc.constantFrom('a', 'b', 'c'), retention: fc.integer({ min: 1, max: 1_000_000 }) }),
  ),
  { maxLength: 25 },
);

function apply(image: ClusterMetadataImage, op: Op, seed: number): ClusterMetadataImage {
  const random = createRandom(seed);
  try {
    switch (op.kind) {
      case 'broker':
        return withBroker(image, op.id);
      case 'topic':
        return withTopic(image, { name: op.name, numPartitions: op.partitions, replicationFactor: 1 }, random, `id-${op.name}-${seed}`);
      case 'delete':
        return withoutTopic(image, op.name);
      case 'grow':
        return withPartitions(image, op.name, (image.topics[op.name]?.partitions.length ?? 0) + op.by, random);
      case 'config':
        return withTopicConfig(image, op.name, { 'retention.ms': op.retention });
    }
  } catch {
    return image; // a refused change leaves the image as it was
  }
}

describe('metadata records', () => {
  test.prop([ops])('replaying the records of every change reproduces the image the controller computed', (list) => {
    let computed = withBroker(emptyImage('c', 0), 1);
    let replayed = replayRecords(emptyImage('c', 0), recordsBetween(emptyImage('c', 0), computed), 1);
    list.forEach((op, i) => {
      const next = apply(computed, op, i + 1);
      replayed = replayRecords(replayed, recordsBetween(computed, next), i + 2);
      computed = next;
      expect(stripVersion(replayed)).toEqual(stripVersion(computed));
    });
  });

  it('writes only what changed, under Kafka record names', () => {
    const base = withTopic(withBroker(emptyImage('c', 0), 1), { name: 'orders', numPartitions: 2, replicationFactor: 1 }, createRandom(1), 'id-1');
    expect(recordsBetween(emptyImage('c', 0), base).map((r) => r.type)).toEqual(['RegisterBrokerRecord', 'TopicRecord', 'PartitionRecord', 'PartitionRecord']);
    const grown = withPartitions(base, 'orders', 3, createRandom(2));
    expect(recordsBetween(base, grown).map((r) => r.type)).toEqual(['PartitionRecord']);
    const configured = withTopicConfig(grown, 'orders', { 'retention.ms': 1000 });
    expect(recordsBetween(grown, configured)).toEqual([{ type: 'ConfigRecord', topic: 'orders', config: { 'retention.ms': '1000' } }]);
    expect(recordsBetween(configured, withoutTopic(configured, 'orders'))).toEqual([{ type: 'RemoveTopicRecord', name: 'orders' }]);
    expect(recordsBetween(configured, configured)).toEqual([]);
  });

  it('stamps the replayed image with the log offset as its version', () => {
    const image = replayRecords(emptyImage('c', 0), [{ type: 'RegisterBrokerRecord', broker: { id: 3, fenced: false } }], 42);
    expect(image.version).toBe(42);
    expect(image.brokers).toEqual([{ id: 3, fenced: false }]);
  });
});
