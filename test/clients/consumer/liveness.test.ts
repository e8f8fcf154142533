/**
 * Issue 14, items 10 and 5 (consumer side): a group member stays in its group for as long as it
 * polls within `max.poll.interval.ms`, whatever the session timeout, rebalances in progress or
 * coordinator outages; `poll(timeout)` returns within its timeout; retriable coordinator errors
 * never surface from `poll()`, and `commit()`/`committed()` retry them until `default.api.timeout.ms`.
 */
import { describe, expect, it } from 'vitest';
import type { Consumer, ConsumerOptions, ConsumerRecord } from '../../../src/clients/consumer/consumer.ts';
import { sleep } from '../../../src/clock.ts';
import { OFFSETS_TOPIC, offsetsPartitionFor } from '../../../src/actors/groupCoordinator/offsetsTopic.ts';
import { SamsaError, TimeoutError } from '../../../src/errors.ts';
import type { TestCluster } from '../../../src/testing.ts';
import { createTestCluster } from '../../../src/testing.ts';

const OFFSETS_PARTITIONS = 3;

async function setup(seed: number, partitions: number, records: number, brokers = 1): Promise<TestCluster> {
  const cluster = await createTestCluster({ seed, brokers, brokerConfig: { offsetsTopicNumPartitions: OFFSETS_PARTITIONS } });
  await cluster.settle(cluster.admin().createTopic('t', { partitions }));
  const producer = cluster.producer({ acks: 1 });
  await cluster.settle(producer.send('t', Array.from({ length: records }, (_, i) => ({ value: `v${i}`, partition: i % partitions }))));
  await cluster.settle(producer.close());
  return cluster;
}

/** Member ids removed by the coordinator for a missed session or rebalance timeout. */
function expulsions(cluster: TestCluster): Array<{ memberId: string; reason: string }> {
  const out: Array<{ memberId: string; reason: string }> = [];
  cluster.inspect((e) => {
    const event = e as unknown as { type: string; memberId?: string; reason?: string };
    if (event.type === '@samsa.group.memberRemoved' && event.reason !== 'leaveGroup') out.push({ memberId: event.memberId ?? '', reason: event.reason ?? '' });
  });
  return out;
}

const key = (r: ConsumerRecord): string => `${r.partition}@${r.offset}`;

const base: ConsumerOptions = { groupId: 'g', autoOffsetReset: 'earliest', enableAutoCommit: false, sessionTimeoutMs: 10_000, heartbeatIntervalMs: 1_000, maxPollIntervalMs: 60_000 };

/** A poll loop that processes each batch for `processingMs(batch)` and then commits what it processed. */
function runLoop(cluster: TestCluster, consumer: Consumer, processed: string[], state: { running: boolean; errors: unknown[] }, processingMs: (batch: number) => number, timeoutMs = 200): Promise<void> {
  return (async () => {
    let batch = 0;
    while (state.running) {
      let records: ConsumerRecord[];
      try {
        records = await consumer.poll({ timeoutMs });
      } catch (e) {
        state.errors.push(e);
        await sleep(cluster.clock, 100);
        continue;
      }
      if (records.length === 0) continue;
      await sleep(cluster.clock, processingMs(batch++));
      for (const r of records) processed.push(key(r));
      const next = new Map<number, bigint>();
      for (const r of records) next.set(r.partition, r.offset + 1n);
      await consumer.commit([...next].map(([partition, offset]) => ({ topic: 't', partition, offset }))).catch(() => undefined);
    }
  })();
}

describe('consumer liveness (issue 14, item 10)', () => {
  for (const strategy of ['range', 'cooperative-sticky']) {
    it(`a member processing longer than session.timeout.ms across a rebalance is not expelled and nothing is processed twice (${strategy})`, async () => {
      const cluster = await setup(1001, 4, 400);
      const removed = expulsions(cluster);
      const options = { ...base, partitionAssignmentStrategy: [strategy], maxPollRecords: 20 };
      const slow = cluster.consumer({ ...options, clientId: 'slow' });
      const fast = cluster.consumer({ ...options, clientId: 'fast' });
      await cluster.settle(Promise.all([slow.subscribe(['t']), fast.subscribe(['t'])]));
      const processed: string[] = [];
      const slowState = { running: true, errors: [] as unknown[] };
      const fastState = { running: true, errors: [] as unknown[] };
      // The slow member's second batch takes 25 s (session timeout 10 s, max.poll.interval 60 s).
      const loops = [runLoop(cluster, slow, processed, slowState, (b) => (b === 1 ? 25_000 : 50)), runLoop(cluster, fast, processed, fastState, () => 50)];
      // A third member joins while the slow one is busy: a rebalance waits for it.
      await cluster.runUntil(() => processed.length > 0 && slow.assignment().length > 0, { maxSimulatedMs: 60_000 });
      await cluster.runFor(3_000);
      const third = cluster.consumer({ ...options, clientId: 'third' });
      await cluster.settle(third.subscribe(['t']));
      const thirdState = { running: true, errors: [] as unknown[] };
      loops.push(runLoop(cluster, third, processed, thirdState, () => 50));
      await cluster.runUntil(() => new Set(processed).size === 400, { maxSimulatedMs: 300_000 }).catch(() => undefined);
      slowState.running = fastState.running = thirdState.running = false;
      await cluster.settle(Promise.all(loops), { maxSimulatedMs: 60_000 });
      expect(removed).toEqual([]);
      expect(new Set(processed).size).toBe(400);
      expect(processed.length, 'records processed twice').toBe(400);
      expect([...slowState.errors, ...fastState.errors, ...thirdState.errors]).toEqual([]);
    });
  }

  it('poll({ timeoutMs: 500 }) returns within 500 ms while a rebalance waits for a busy member', async () => {
    const cluster = await setup(1002, 4, 40);
    const removed = expulsions(cluster);
    const options = { ...base, partitionAssignmentStrategy: ['range'] };
    const busy = cluster.consumer({ ...options, clientId: 'busy' });
    const other = cluster.consumer({ ...options, clientId: 'other' });
    await cluster.settle(Promise.all([busy.subscribe(['t']), other.subscribe(['t'])]));
    for (let i = 0; i < 100 && (busy.assignment().length === 0 || other.assignment().length === 0); i++) await cluster.settle(Promise.all([busy.poll({ timeoutMs: 100 }), other.poll({ timeoutMs: 100 })]));
    expect(busy.assignment().length + other.assignment().length).toBe(4);
    // "busy" stops polling (processing) for 30 s; a new member joins meanwhile.
    const newcomer = cluster.consumer({ ...options, clientId: 'newcomer' });
    await cluster.settle(newcomer.subscribe(['t']));
    const durations: number[] = [];
    for (let i = 0; i < 20; i++) {
      for (const c of [other, newcomer]) {
        const start = cluster.clock.now();
        await cluster.settle(c.poll({ timeoutMs: 500 }));
        durations.push(cluster.clock.now() - start);
      }
    }
    expect(Math.max(...durations)).toBeLessThanOrEqual(500);
    // The busy member comes back within max.poll.interval.ms: it was kept in the group and rejoins.
    for (let i = 0; i < 100 && newcomer.assignment().length === 0; i++) await cluster.settle(Promise.all([busy.poll({ timeoutMs: 100 }), other.poll({ timeoutMs: 100 }), newcomer.poll({ timeoutMs: 100 })]));
    expect(removed).toEqual([]);
    expect(busy.assignment().length + other.assignment().length + newcomer.assignment().length).toBe(4);
    expect(newcomer.assignment().length).toBeGreaterThan(0);
  });

  it('a member that does not poll within max.poll.interval.ms leaves even while a rebalance is in progress, and its partitions move', async () => {
    const cluster = await setup(1003, 4, 40);
    const options = { ...base, maxPollIntervalMs: 20_000, partitionAssignmentStrategy: ['range'] };
    const stuck = cluster.consumer({ ...options, clientId: 'stuck' });
    const live = cluster.consumer({ ...options, clientId: 'live' });
    await cluster.settle(Promise.all([stuck.subscribe(['t']), live.subscribe(['t'])]));
    for (let i = 0; i < 100 && (stuck.assignment().length === 0 || live.assignment().length === 0); i++) await cluster.settle(Promise.all([stuck.poll({ timeoutMs: 100 }), live.poll({ timeoutMs: 100 })]));
    const left: string[] = [];
    cluster.network.observe((e) => {
      if (e.type === 'delivered' && e.message.type === 'leaveGroup.request') left.push(e.from);
    });
    // "stuck" polls no more; 3 s later a new member joins, and the rebalance waits for "stuck".
    for (let t = 0; t < 6; t++) await cluster.settle(live.poll({ timeoutMs: 500 }));
    const newcomer = cluster.consumer({ ...options, clientId: 'newcomer' });
    await cluster.settle(newcomer.subscribe(['t']));
    for (let t = 0; t < 60; t++) await cluster.settle(Promise.all([live.poll({ timeoutMs: 500 }), newcomer.poll({ timeoutMs: 500 })]));
    expect(left).toEqual(['client:stuck']);
    expect(live.assignment().length + newcomer.assignment().length).toBe(4);
    expect(newcomer.assignment().length).toBeGreaterThan(0);
  });
});

describe('retriable coordinator errors (issue 14, item 5)', () => {
  it('poll() never throws while the group coordinator is crashed or cut off, and consumption resumes afterwards', async () => {
    const cluster = await setup(1004, 2, 0, 3);
    const removed = expulsions(cluster);
    const options = { ...base, partitionAssignmentStrategy: ['range'], requestTimeoutMs: 3_000 };
    const a = cluster.consumer({ ...options, clientId: 'a' });
    const b = cluster.consumer({ ...options, clientId: 'b' });
    await cluster.settle(Promise.all([a.subscribe(['t']), b.subscribe(['t'])]));
    const errors: unknown[] = [];
    const received: string[] = [];
    const pollBoth = async (): Promise<void> => {
      for (const c of [a, b]) {
        try {
          for (const r of await cluster.settle(c.poll({ timeoutMs: 200 }))) received.push(key(r));
        } catch (e) {
          errors.push(e);
        }
      }
    };
    for (let i = 0; i < 100 && (a.assignment().length === 0 || b.assignment().length === 0); i++) await pollBoth();
    const partition = offsetsPartitionFor('g', OFFSETS_PARTITIONS);
    const coordinator = leaderOf(cluster, partition);

    // 1. The coordinator crashes while "a" needs to rejoin (it changes its subscription).
    cluster.broker(coordinator).crash();
    await cluster.settle(a.subscribe(['t']));
    for (let i = 0; i < 60; i++) await pollBoth();
    await cluster.settle(cluster.broker(coordinator).restart());
    // 2. "b" is cut off from every broker for 40 s while it needs to rejoin.
    await cluster.settle(b.subscribe(['t']));
    cluster.network.isolate('client:b', cluster.brokerIds.map((id) => `broker:${id}` as const));
    for (let i = 0; i < 100; i++) await pollBoth();
    cluster.network.heal();
    const producer = cluster.producer({ acks: 1 });
    await cluster.settle(producer.send('t', Array.from({ length: 20 }, (_, i) => ({ value: `late${i}`, partition: i % 2 }))));
    for (let i = 0; i < 200 && received.length < 20; i++) await pollBoth();
    expect(errors).toEqual([]);
    expect(received).toHaveLength(20);
    expect(removed.filter((r) => r.reason !== 'sessionTimeout')).toEqual([]);
  });

  it('commit() and committed() retry a crashed coordinator until default.api.timeout.ms, then fail with TimeoutError', async () => {
    const cluster = await setup(1005, 2, 10, 3);
    const consumer = cluster.consumer({ ...base, clientId: 'c', defaultApiTimeoutMs: 20_000 });
    consumer.assign([{ topic: 't', partition: 0 }]);
    await cluster.settle(consumer.commit([{ topic: 't', partition: 0, offset: 3n }]));
    const coordinator = leaderOf(cluster, offsetsPartitionFor('g', OFFSETS_PARTITIONS));
    // A crash moves the coordinator: the commit finds the new one instead of failing.
    cluster.broker(coordinator).crash();
    await cluster.settle(consumer.commit([{ topic: 't', partition: 0, offset: 5n }]));
    expect(await cluster.settle(consumer.committed([{ topic: 't', partition: 0 }]))).toEqual([{ topic: 't', partition: 0, offset: 5n }]);
    // Cut off from every broker: both retry until default.api.timeout.ms, then fail with TimeoutError.
    cluster.network.isolate('client:c', cluster.brokerIds.map((id) => `broker:${id}` as const));
    const start = cluster.clock.now();
    const failure = await cluster.settle(consumer.commit([{ topic: 't', partition: 0, offset: 6n }])).catch((e: unknown) => e);
    expect(failure).toBeInstanceOf(TimeoutError);
    expect(cluster.clock.now() - start).toBeGreaterThanOrEqual(20_000);
    const fetchFailure = await cluster.settle(consumer.committed([{ topic: 't', partition: 0 }])).catch((e: unknown) => e);
    expect(fetchFailure).toBeInstanceOf(TimeoutError);
    expect(SamsaError.is(fetchFailure) && fetchFailure.retriable).toBe(true);
  });
});

describe('a coordinator that gives its offsets partition up (Kafka onGroupUnloaded)', () => {
  it('answers a parked JoinGroup with NOT_COORDINATOR, so the member rejoins at the new coordinator instead of waiting out max.poll.interval.ms', async () => {
    const cluster = await setup(1007, 2, 10, 3);
    const partition = offsetsPartitionFor('g', OFFSETS_PARTITIONS);
    const offsetsPartition = () => cluster.brokerInternals(cluster.brokerIds[0] as number)?.metadata?.topics[OFFSETS_TOPIC]?.partitions[partition];
    // The offsets topic exists (created by the first FindCoordinator) and the group is Empty again.
    const warm = cluster.consumer({ ...base, clientId: 'warm' });
    await cluster.settle(warm.subscribe(['t']));
    for (let i = 0; i < 100 && warm.assignment().length === 0; i++) await cluster.settle(warm.poll({ timeoutMs: 200 }));
    await cluster.settle(warm.close());
    // Leadership moves off the preferred replica, which then comes back into the ISR.
    const preferred = offsetsPartition()?.replicas[0] as number;
    cluster.broker(preferred).crash();
    await cluster.runUntil(() => (offsetsPartition()?.leader ?? -1) >= 0 && offsetsPartition()?.leader !== preferred, { maxSimulatedMs: 60_000 });
    await cluster.settle(cluster.broker(preferred).restart());
    await cluster.runUntil(() => offsetsPartition()?.isr.includes(preferred) === true, { maxSimulatedMs: 60_000 });
    const interim = offsetsPartition()?.leader as number;

    // A member's JoinGroup parks at the interim coordinator (group.initial.rebalance.delay.ms)…
    const member = cluster.consumer({ ...base, clientId: 'member', maxPollIntervalMs: 300_000 });
    await cluster.settle(member.subscribe(['t']));
    await cluster.settle(member.poll({ timeoutMs: 1_000 }));
    expect(member.assignment()).toEqual([]);
    // …when the preferred replica takes the partition back.
    const admin = cluster.admin();
    expect(await cluster.settle(admin.electLeaders('preferred', [{ topic: OFFSETS_TOPIC, partition }]))).toEqual([{ topic: OFFSETS_TOPIC, partition }]);
    expect(offsetsPartition()?.leader).toBe(preferred);
    expect(interim).not.toBe(preferred);
    const electedAt = cluster.clock.now();
    for (let i = 0; i < 200 && member.assignment().length === 0; i++) await cluster.settle(member.poll({ timeoutMs: 200 }));
    expect(member.assignment()).toHaveLength(2);
    // Two initial rebalance delays at the new coordinator, not max.poll.interval.ms + 5 s.
    expect(cluster.clock.now() - electedAt).toBeLessThan(15_000);
  });
});

describe('fatal group errors still surface (issue 14, item 5)', () => {
  it('a static member replaced by another process with its group.instance.id gets FENCED_INSTANCE_ID from poll()', async () => {
    const cluster = await setup(1006, 2, 10);
    const options = { ...base, groupInstanceId: 'instance-1', partitionAssignmentStrategy: ['range'] };
    const first = cluster.consumer({ ...options, clientId: 'first' });
    await cluster.settle(first.subscribe(['t']));
    for (let i = 0; i < 100 && first.assignment().length === 0; i++) await cluster.settle(first.poll({ timeoutMs: 100 }));
    expect(first.assignment()).toHaveLength(2);
    // A second process starts with the same group.instance.id: it takes the slot over.
    const second = cluster.consumer({ ...options, clientId: 'second' });
    await cluster.settle(second.subscribe(['t']));
    for (let i = 0; i < 100 && second.assignment().length === 0; i++) await cluster.settle(second.poll({ timeoutMs: 100 }));
    let error: unknown;
    for (let i = 0; i < 100 && error === undefined; i++) error = await cluster.settle(first.poll({ timeoutMs: 100 })).then(() => undefined, (e: unknown) => e);
    expect(SamsaError.is(error) && error.code).toBe('FENCED_INSTANCE_ID');
    expect(SamsaError.is(error) && error.retriable).toBe(false);
  });
});

/** The broker leading the group's offsets partition (its coordinator). */
function leaderOf(cluster: TestCluster, partition: number): number {
  const leader = cluster.brokerInternals(cluster.brokerIds[0] as number)?.metadata?.topics[OFFSETS_TOPIC]?.partitions[partition]?.leader;
  if (leader === undefined || leader < 0) throw new Error('no coordinator found');
  return leader;
}
