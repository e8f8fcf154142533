import { describe, expect, it } from 'vitest';
import { InvalidArgumentError, InvalidConfigError } from '../../../src/errors.ts';
import { METADATA_SNAPSHOT_INTERVAL_ENTRIES } from '../../../src/actors/controller/controller.machine.ts';
import type { ClusterMetadataImage } from '../../../src/protocol/index.ts';
import { createCluster } from '../../../src/cluster/cluster.ts';
import type { TestCluster } from '../../../src/testing.ts';
import { createTestCluster } from '../../../src/testing.ts';
import { newestBrokerImage as newestImage } from '../../helpers/cluster.ts';

async function quorum(seed: number, brokers = 3): Promise<TestCluster> {
  const cluster = await createTestCluster({ seed, brokers, controllers: 3 });
  await cluster.runUntil(() => cluster.activeControllerId() !== undefined);
  return cluster;
}

function active(cluster: TestCluster): number {
  const id = cluster.activeControllerId();
  if (id === undefined) throw new Error('no active controller');
  return id;
}

/** The images of every running controller. */
function controllerImages(cluster: TestCluster): ClusterMetadataImage[] {
  return cluster.controllerIds.map((id) => cluster.controller(id).metadata).filter((m): m is ClusterMetadataImage => m !== undefined);
}

function newestBrokerImage(cluster: TestCluster): ClusterMetadataImage {
  return newestImage(cluster) as ClusterMetadataImage;
}

describe('controller quorum', () => {
  it('elects exactly one active controller; every controller replays the same image and brokers learn who is active', async () => {
    const cluster = await quorum(601);
    await cluster.settle(cluster.admin().createTopic('orders', { partitions: 3, replicationFactor: 3 }));
    await cluster.runFor(3_000);
    const leader = active(cluster);
    const actives = cluster.controllerIds.filter((id) => cluster.controller(id).active);
    expect(actives).toEqual([leader]);
    const states = cluster.controllerIds.map((id) => cluster.controller(id).quorum!);
    expect(new Set(states.map((s) => s.epoch)).size).toBe(1);
    expect(states.every((s) => s.leaderId === leader)).toBe(true);
    const [first, ...rest] = controllerImages(cluster);
    for (const other of rest) expect(other).toEqual(first);
    expect(first!.controllerId).toBe(leader);
    expect(newestBrokerImage(cluster)).toEqual(first);
    await cluster.settle(cluster.stop());
  });

  it('a standby controller answers NOT_CONTROLLER naming the active one; the admin client follows it', async () => {
    const cluster = await quorum(602);
    const leader = active(cluster);
    const standby = cluster.controllerIds.find((id) => id !== leader) as number;
    const replies: Array<Record<string, unknown>> = [];
    cluster.network.register('client:probe', (m) => void replies.push(m));
    cluster.network.send('client:probe', `controller:${standby}`, { type: 'createTopics.request', correlationId: 1, topics: [{ name: 'x', numPartitions: 1, replicationFactor: 1 }] });
    await cluster.runUntilIdle();
    expect(replies).toEqual([expect.objectContaining({ type: 'createTopics.response', correlationId: 1, error: 'NOT_CONTROLLER', controllerId: leader })]);
    expect(cluster.controller(standby).metadata?.topics.x).toBeUndefined();
    // Whichever controller it asks first, the admin client lands on the active one.
    for (const name of ['a', 'b', 'c']) await cluster.settle(cluster.admin().createTopic(name, { partitions: 1, replicationFactor: 2 }));
    expect(Object.keys(newestBrokerImage(cluster).topics).sort()).toEqual(['a', 'b', 'c']);
    await cluster.settle(cluster.stop());
  });

  it('answers a change only once a majority has it: with both standbys cut off the write waits, and nothing is published', async () => {
    const cluster = await quorum(603);
    const leader = active(cluster);
    const others = cluster.controllerNodes.filter((n) => n !== `controller:${leader}`);
    cluster.network.partition([`controller:${leader}`], others);
    const versionBefore = newestBrokerImage(cluster).version;
    let answered = false;
    const creating = cluster
      .admin({ requestTimeoutMs: 60_000 })
      .createTopic('waits', { partitions: 1, replicationFactor: 1 })
      .then(() => void (answered = true), () => void (answered = true));
    await cluster.runFor(1_000);
    expect(answered).toBe(false);
    expect(newestBrokerImage(cluster).version).toBe(versionBefore);
    expect(newestBrokerImage(cluster).topics.waits).toBeUndefined();
    cluster.network.heal();
    await cluster.settle(creating, { maxSimulatedMs: 120_000 });
    await cluster.runFor(2_000);
    // The old leader resigned (check quorum) or kept the lead; either way the topic exists once, everywhere.
    expect(newestBrokerImage(cluster).topics.waits).toBeDefined();
    for (const image of controllerImages(cluster)) expect(image.topics.waits?.partitions).toHaveLength(1);
    await cluster.settle(cluster.stop());
  });

  it('fails over: a crashed active controller is replaced within seconds of simulated time and the cluster keeps working', async () => {
    const cluster = await quorum(604);
    const admin = cluster.admin();
    await cluster.settle(admin.createTopic('t', { partitions: 1, replicationFactor: 3, config: { 'min.insync.replicas': 2 } }));
    const producer = cluster.producer({ acks: 'all' });
    await cluster.settle(producer.send('t', { value: 'before' }));
    const old = active(cluster);
    const events: Array<{ type: string; controllerId?: unknown }> = [];
    cluster.inspect((e) => void (e.type.startsWith('@samsa.controller') && events.push(e as { type: string })));
    const crashedAt = cluster.clock.now();
    cluster.controller(old).crash();
    await cluster.runUntil(() => cluster.activeControllerId() !== undefined && cluster.activeControllerId() !== old);
    const failoverMs = cluster.clock.now() - crashedAt;
    // Kafka's defaults: fetch timeout 2 s, election timeout 1-2 s, plus a round trip.
    expect(failoverMs).toBeLessThan(6_000);
    const next = active(cluster);
    expect(cluster.controller(next).quorum!.epoch).toBeGreaterThan(0);
    expect(events).toEqual([expect.objectContaining({ type: '@samsa.controller.crashed', controllerId: old }), expect.objectContaining({ type: '@samsa.controller.activated', controllerId: next })]);
    // The new active controller fences a broker that dies and elects a new partition leader.
    const leader = newestBrokerImage(cluster).topics.t!.partitions[0]!.leader;
    cluster.broker(leader).crash();
    await cluster.runUntil(() => {
      const p = newestBrokerImage(cluster).topics.t!.partitions[0]!;
      return p.leader >= 0 && p.leader !== leader;
    });
    expect(newestBrokerImage(cluster).brokers.find((b) => b.id === leader)?.fenced).toBe(true);
    await cluster.settle(producer.send('t', { value: 'after' }));
    await cluster.settle(admin.createTopic('later', { partitions: 2, replicationFactor: 2 }));
    // The old controller comes back as a follower and catches up from the new leader.
    await cluster.settle(cluster.controller(old).restart());
    await cluster.runFor(3_000);
    expect(cluster.controller(old).active).toBe(false);
    expect(cluster.controller(old).metadata).toEqual(cluster.controller(next).metadata);
    const reader = cluster.consumer({ autoOffsetReset: 'earliest', enableAutoCommit: false });
    reader.assign([{ topic: 't', partition: 0 }]);
    const values: string[] = [];
    await cluster.settle(
      (async () => {
        while (values.length < 2) for (const r of await reader.poll({ timeoutMs: 500 })) values.push(new TextDecoder().decode(r.value as Uint8Array));
      })(),
    );
    expect(values).toEqual(['before', 'after']);
    await cluster.settle(cluster.stop());
  });

  it('a quorum that lost its majority changes nothing; it carries on when a voter returns', async () => {
    const cluster = await quorum(605);
    const leader = active(cluster);
    const others = cluster.controllerIds.filter((id) => id !== leader);
    for (const id of others) cluster.controller(id).crash();
    // Check quorum: a leader that no majority fetches from resigns (1.5 × fetch timeout).
    await cluster.runFor(5_000);
    expect(cluster.activeControllerId()).toBeUndefined();
    const creating = cluster.admin({ requestTimeoutMs: 120_000 }).createTopic('eventually', { partitions: 1, replicationFactor: 1 });
    await cluster.runFor(5_000);
    expect(newestBrokerImage(cluster).topics.eventually).toBeUndefined();
    await cluster.settle(cluster.controller(others[0]!).restart());
    await cluster.settle(creating, { maxSimulatedMs: 120_000 });
    expect(newestBrokerImage(cluster).topics.eventually).toBeDefined();
    await cluster.settle(cluster.stop());
  });

  it(`snapshots the metadata every ${METADATA_SNAPSHOT_INTERVAL_ENTRIES} entries; a controller restarted after a snapshot loads it and replays the rest`, async () => {
    const cluster = await quorum(606, 1);
    const admin = cluster.admin();
    // Each topic creation is three records or more (topic, partitions); config changes add one each.
    await cluster.settle(admin.createTopic('busy', { partitions: 1, replicationFactor: 1 }));
    for (let i = 0; i < METADATA_SNAPSHOT_INTERVAL_ENTRIES + 50; i++) await cluster.settle(admin.alterTopicConfig('busy', { 'retention.ms': 1_000_000 + i }));
    await cluster.runFor(2_000);
    const states = cluster.controllerIds.map((id) => cluster.controller(id).quorum!);
    for (const s of states) expect(s.logStartOffset).toBeGreaterThan(0n);
    const victim = cluster.controllerIds.find((id) => id !== active(cluster)) as number;
    cluster.controller(victim).crash();
    await cluster.settle(admin.alterTopicConfig('busy', { 'retention.ms': 42 }));
    await cluster.settle(cluster.controller(victim).restart());
    await cluster.runFor(3_000);
    expect(cluster.controller(victim).metadata).toEqual(cluster.controller(active(cluster)).metadata);
    expect(cluster.controller(victim).metadata?.topics.busy?.config['retention.ms']).toBe('42');
    await cluster.settle(cluster.stop());
  });

  it('brokers replay the metadata log as Raft observers: one cut off from the quorum catches up by fetching once healed', async () => {
    const cluster = await quorum(608);
    const fetches: string[] = [];
    cluster.network.observe((e) => {
      if (e.type === 'delivered' && e.message.type === 'quorum.message' && e.from.startsWith('broker:')) fetches.push(`${e.from}:${(e.message.message as { type: string }).type}`);
    });
    cluster.network.partition(['broker:3'], cluster.controllerNodes);
    await cluster.settle(cluster.admin().createTopic('while-cut', { partitions: 2, replicationFactor: 2 }));
    expect(cluster.brokerInternals(3)?.metadata?.topics['while-cut']).toBeUndefined();
    cluster.network.heal();
    await cluster.runUntil(() => cluster.brokerInternals(3)?.metadata?.topics['while-cut'] !== undefined, { maxSimulatedMs: 10_000 });
    expect(cluster.brokerInternals(3)?.metadata).toEqual(cluster.controller(active(cluster)).metadata);
    // Brokers only ever fetch: they never vote.
    expect(new Set(fetches.map((f) => f.split(':').pop()))).toEqual(new Set(['fetch.request']));
    await cluster.settle(cluster.stop());
  });

  it('a broker restarted after a snapshot starts from the quorum leader\'s snapshot and replays the rest', async () => {
    const cluster = await quorum(609, 2);
    const admin = cluster.admin();
    await cluster.settle(admin.createTopic('busy', { partitions: 1, replicationFactor: 2 }));
    for (let i = 0; i < METADATA_SNAPSHOT_INTERVAL_ENTRIES + 20; i++) await cluster.settle(admin.alterTopicConfig('busy', { 'retention.ms': 2_000_000 + i }));
    const snapshots: string[] = [];
    cluster.network.observe((e) => {
      if (e.type === 'delivered' && e.message.type === 'quorum.message' && e.to === 'broker:2') snapshots.push((e.message.message as { type: string }).type);
    });
    cluster.broker(2).crash();
    await cluster.settle(cluster.broker(2).restart());
    await cluster.runUntil(() => cluster.brokerInternals(2)?.state === 'running', { maxSimulatedMs: 30_000 });
    expect(snapshots).toContain('fetchSnapshot.response');
    expect(cluster.brokerInternals(2)?.metadata?.topics.busy?.config['retention.ms']).toBe(String(2_000_000 + METADATA_SNAPSHOT_INTERVAL_ENTRIES + 19));
    await cluster.settle(cluster.stop());
  });

  it('refuses a bad quorum size or quorum config with a clear error', async () => {
    await expect(createCluster({ controllers: 0 })).rejects.toThrow(InvalidArgumentError);
    await expect(createCluster({ controllers: 1.5 })).rejects.toThrow(/expected 1 to 9 controllers/);
    await expect(createCluster({ quorumConfig: { 'controller.quorum.election.timeout.ms': -5 } })).rejects.toThrow(InvalidConfigError);
    const cluster = await createTestCluster({ seed: 607, controllers: 3 });
    expect(() => cluster.controller(7)).toThrow(/there is no controller 7; controllers are 0, 1, 2/);
    await cluster.settle(cluster.stop());
  });
});
