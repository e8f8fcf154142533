import { lastValueFrom, take, toArray } from 'rxjs';
import { describe, expect, it } from 'vitest';
import type { Consumer, ConsumerRecord } from '../../src/clients/consumer/consumer.ts';
import { InvalidArgumentError, KafkaProtocolError } from '../../src/errors.ts';
import type { TestCluster } from '../../src/testing.ts';
import { createTestCluster } from '../../src/testing.ts';

const dec = new TextDecoder();
const value = (r: ConsumerRecord): string => dec.decode(r.value as Uint8Array);

async function rejection(cluster: TestCluster, promise: Promise<unknown>): Promise<unknown> {
  return cluster.settle(promise).then(
    () => {
      throw new Error('expected the call to fail');
    },
    (e: unknown) => e,
  );
}

/** A cluster with `topic` of `partitions` partitions holding `perPartition` records each ("p<partition>-<i>"). */
async function clusterWith(seed: number, topic: string, partitions: number, perPartition: number, brokers = 1): Promise<TestCluster> {
  const cluster = await createTestCluster({ seed, brokers, brokerConfig: { offsetsTopicNumPartitions: 3 } });
  await cluster.settle(cluster.admin().createTopic(topic, { partitions }));
  await produce(cluster, topic, partitions, perPartition);
  return cluster;
}

async function produce(cluster: TestCluster, topic: string, partitions: number, perPartition: number, from = 0): Promise<void> {
  const producer = cluster.producer({ acks: 1 });
  const records = [];
  for (let p = 0; p < partitions; p++) for (let i = from; i < from + perPartition; i++) records.push({ value: `p${p}-${i}`, partition: p });
  await cluster.settle(producer.send(topic, records));
  await cluster.settle(producer.close());
}

/** Polls until `count` records arrived (bounded), returning them in poll order. */
async function pollAtLeast(cluster: TestCluster, consumer: Consumer, count: number, maxPolls = 50): Promise<ConsumerRecord[]> {
  const got: ConsumerRecord[] = [];
  for (let i = 0; got.length < count && i < maxPolls; i++) got.push(...(await cluster.settle(consumer.poll({ timeoutMs: 200 }))));
  return got;
}

const offsetsOf = (records: readonly ConsumerRecord[], partition: number): bigint[] => records.filter((r) => r.partition === partition).map((r) => r.offset);
const range = (from: number, to: number): bigint[] => Array.from({ length: to - from }, (_, i) => BigInt(from + i));

describe('consumer', () => {
  describe('assign and auto.offset.reset', () => {
    it('starts at the log start with earliest', async () => {
      const cluster = await clusterWith(301, 't', 2, 10);
      const consumer = cluster.consumer({ autoOffsetReset: 'earliest', enableAutoCommit: false });
      consumer.assign([
        { topic: 't', partition: 0 },
        { topic: 't', partition: 1 },
      ]);
      expect(consumer.assignment()).toEqual([
        { topic: 't', partition: 0 },
        { topic: 't', partition: 1 },
      ]);
      const got = await pollAtLeast(cluster, consumer, 20);
      expect(offsetsOf(got, 0)).toEqual(range(0, 10));
      expect(offsetsOf(got, 1)).toEqual(range(0, 10));
      expect(got.filter((r) => r.partition === 1).map(value)).toEqual(Array.from({ length: 10 }, (_, i) => `p1-${i}`));
      expect(got.every((r) => r.topic === 't')).toBe(true);
      await cluster.settle(cluster.stop());
    });

    it('starts at the end with latest, and sees only what is produced afterwards', async () => {
      const cluster = await clusterWith(302, 't', 1, 10);
      const consumer = cluster.consumer({ enableAutoCommit: false }); // latest is the default
      consumer.assign([{ topic: 't', partition: 0 }]);
      expect(await cluster.settle(consumer.position({ topic: 't', partition: 0 }))).toBe(10n);
      expect(await cluster.settle(consumer.poll({ timeoutMs: 300 }))).toEqual([]);
      await produce(cluster, 't', 1, 3, 10);
      const got = await pollAtLeast(cluster, consumer, 3);
      expect(got.map((r) => [r.offset, value(r)])).toEqual([
        [10n, 'p0-10'],
        [11n, 'p0-11'],
        [12n, 'p0-12'],
      ]);
      await cluster.settle(cluster.stop());
    });

    it('fails with none when there is no committed offset, naming the partition', async () => {
      const cluster = await clusterWith(303, 'orders', 2, 5);
      const plain = cluster.consumer({ autoOffsetReset: 'none', enableAutoCommit: false });
      plain.assign([{ topic: 'orders', partition: 1 }]);
      const error = await rejection(cluster, plain.poll({ timeoutMs: 100 }));
      expect(error).toBeInstanceOf(KafkaProtocolError);
      expect((error as Error).message).toMatch(/orders-1/);
      expect((error as Error).message).toMatch(/auto\.offset\.reset is none/);

      // With a committed offset, none resumes from it.
      const grouped = cluster.consumer({ groupId: 'g-none', autoOffsetReset: 'none', enableAutoCommit: false });
      grouped.assign([{ topic: 'orders', partition: 0 }]);
      await cluster.settle(grouped.commit([{ topic: 'orders', partition: 0, offset: 3n }]));
      const got = await pollAtLeast(cluster, grouped, 2);
      expect(got.map((r) => r.offset)).toEqual([3n, 4n]);
      await cluster.settle(cluster.stop());
    });
  });

  it('returns records from the offset given to seek', async () => {
    const cluster = await clusterWith(304, 't', 1, 30);
    const consumer = cluster.consumer({ autoOffsetReset: 'earliest', enableAutoCommit: false });
    const tp = { topic: 't', partition: 0 };
    consumer.assign([tp]);
    consumer.seek(tp, 17n);
    expect(await cluster.settle(consumer.position(tp))).toBe(17n);
    const got = await pollAtLeast(cluster, consumer, 13);
    expect(got.map((r) => r.offset)).toEqual(range(17, 30));
    // Seeking back re-reads, even records already returned.
    consumer.seek(tp, 2n);
    const again = await pollAtLeast(cluster, consumer, 3);
    expect(again.slice(0, 3).map((r) => r.offset)).toEqual([2n, 3n, 4n]);
    expect(() => consumer.seek({ topic: 't', partition: 5 }, 0n)).toThrow(InvalidArgumentError);
    expect(() => consumer.seek(tp, -1n)).toThrow(InvalidArgumentError);
    await cluster.settle(cluster.stop());
  });

  it('returns nothing from paused partitions until they are resumed', async () => {
    const cluster = await clusterWith(305, 't', 2, 10);
    const consumer = cluster.consumer({ autoOffsetReset: 'earliest', enableAutoCommit: false });
    const p0 = { topic: 't', partition: 0 };
    const p1 = { topic: 't', partition: 1 };
    consumer.assign([p0, p1]);
    consumer.pause([p0]);
    expect(consumer.paused()).toEqual([p0]);
    const whilePaused: ConsumerRecord[] = [];
    for (let i = 0; i < 10; i++) whilePaused.push(...(await cluster.settle(consumer.poll({ timeoutMs: 200 }))));
    expect(offsetsOf(whilePaused, 0)).toEqual([]);
    expect(offsetsOf(whilePaused, 1)).toEqual(range(0, 10));
    expect(await cluster.settle(consumer.position(p0))).toBe(0n);

    consumer.resume([p0]);
    expect(consumer.paused()).toEqual([]);
    const afterResume = await pollAtLeast(cluster, consumer, 10);
    expect(offsetsOf(afterResume, 0)).toEqual(range(0, 10));
    expect(offsetsOf(afterResume, 1)).toEqual([]);
    await cluster.settle(cluster.stop());
  });

  it('reports position() and lag() as records are consumed', async () => {
    const cluster = await clusterWith(306, 't', 2, 12);
    const consumer = cluster.consumer({ autoOffsetReset: 'earliest', enableAutoCommit: false, maxPollRecords: 5 });
    const p0 = { topic: 't', partition: 0 };
    const p1 = { topic: 't', partition: 1 };
    consumer.assign([p0, p1]);
    consumer.pause([p1]);
    expect(await cluster.settle(consumer.position(p0))).toBe(0n);
    const first = await pollAtLeast(cluster, consumer, 1);
    expect(first.map((r) => r.offset)).toEqual(range(0, 5));
    expect(await cluster.settle(consumer.position(p0))).toBe(5n);
    // The high watermark of p0 is known from its fetch; p1 has not been fetched yet.
    expect(consumer.lag()).toEqual([{ topic: 't', partition: 0, lag: 7n }]);
    await pollAtLeast(cluster, consumer, 7);
    expect(await cluster.settle(consumer.position(p0))).toBe(12n);
    expect(consumer.lag()).toEqual([{ topic: 't', partition: 0, lag: 0n }]);
    // New records raise the lag once the consumer has fetched again.
    await produce(cluster, 't', 1, 4, 12);
    await pollAtLeast(cluster, consumer, 1);
    expect(await cluster.settle(consumer.position(p0))).toBe(16n);
    await expect(cluster.settle(consumer.position({ topic: 't', partition: 9 }))).rejects.toBeInstanceOf(InvalidArgumentError);
    await cluster.settle(cluster.stop());
  });

  it('returns at most max.poll.records per poll', async () => {
    const cluster = await clusterWith(307, 't', 3, 20);
    const consumer = cluster.consumer({ autoOffsetReset: 'earliest', enableAutoCommit: false, maxPollRecords: 7 });
    consumer.assign([0, 1, 2].map((partition) => ({ topic: 't', partition })));
    const sizes: number[] = [];
    const got: ConsumerRecord[] = [];
    for (let i = 0; got.length < 60 && i < 60; i++) {
      const records = await cluster.settle(consumer.poll({ timeoutMs: 200 }));
      sizes.push(records.length);
      got.push(...records);
    }
    expect(got).toHaveLength(60);
    expect(Math.max(...sizes)).toBe(7);
    for (let p = 0; p < 3; p++) expect(offsetsOf(got, p)).toEqual(range(0, 20));
    // A per-call limit overrides it.
    consumer.seek({ topic: 't', partition: 0 }, 0n);
    const small = await cluster.settle(consumer.poll({ timeoutMs: 200, maxRecords: 2 }));
    expect(small.length).toBeLessThanOrEqual(2);
    await cluster.settle(cluster.stop());
  });

  describe('offsets and commits', () => {
    it('round-trips commit() and committed() in assign mode with a groupId', async () => {
      const cluster = await clusterWith(308, 't', 2, 10);
      const consumer = cluster.consumer({ groupId: 'g-commit', autoOffsetReset: 'earliest', enableAutoCommit: false, maxPollRecords: 4 });
      const p0 = { topic: 't', partition: 0 };
      const p1 = { topic: 't', partition: 1 };
      consumer.assign([p0, p1]);
      expect(await cluster.settle(consumer.committed())).toEqual([
        { ...p0, offset: -1n },
        { ...p1, offset: -1n },
      ]);
      await cluster.settle(consumer.commit([{ ...p0, offset: 7n }]));
      expect(await cluster.settle(consumer.committed([p0]))).toEqual([{ ...p0, offset: 7n }]);
      // commit() without arguments commits the current positions.
      consumer.pause([p0]);
      const got = await pollAtLeast(cluster, consumer, 1);
      expect(got.map((r) => r.offset)).toEqual(range(0, 4));
      await cluster.settle(consumer.commit());
      // p0 is paused: its position came from the committed offset and is committed unchanged.
      expect(await cluster.settle(consumer.committed())).toEqual([
        { ...p0, offset: 7n },
        { ...p1, offset: 4n },
      ]);
      await expect(cluster.settle(consumer.commit([{ ...p0, offset: -5n }]))).rejects.toBeInstanceOf(InvalidArgumentError);
      await cluster.settle(cluster.stop());
    });

    it('resumes a restarted consumer of the same group at the committed offset', async () => {
      const cluster = await clusterWith(309, 't', 1, 20);
      const tp = { topic: 't', partition: 0 };
      const first = cluster.consumer({ groupId: 'g-restart', autoOffsetReset: 'earliest', enableAutoCommit: false, maxPollRecords: 8 });
      first.assign([tp]);
      const read = await pollAtLeast(cluster, first, 1);
      expect(read.map((r) => r.offset)).toEqual(range(0, 8));
      await cluster.settle(first.commit());
      await cluster.settle(first.close());

      const second = cluster.consumer({ groupId: 'g-restart', autoOffsetReset: 'earliest', enableAutoCommit: false });
      second.assign([tp]);
      const rest = await pollAtLeast(cluster, second, 12);
      expect(rest.map((r) => r.offset)).toEqual(range(8, 20));
      // Another group has its own offsets.
      const other = cluster.consumer({ groupId: 'g-other', autoOffsetReset: 'earliest', enableAutoCommit: false });
      other.assign([tp]);
      expect((await pollAtLeast(cluster, other, 1))[0]?.offset).toBe(0n);
      await cluster.settle(cluster.stop());
    });

    it('auto-commits the positions of the previous poll when the next poll starts', async () => {
      const cluster = await clusterWith(310, 't', 1, 20);
      const tp = { topic: 't', partition: 0 };
      const consumer = cluster.consumer({ groupId: 'g-auto', autoOffsetReset: 'earliest', autoCommitIntervalMs: 0, maxPollRecords: 6 });
      consumer.assign([tp]);
      const poll1 = await cluster.settle(consumer.poll({ timeoutMs: 500 }));
      expect(poll1.map((r) => r.offset)).toEqual(range(0, 6));
      // Nothing is committed until the next poll: the records of poll 1 may still be in process.
      expect(await cluster.settle(consumer.committed([tp]))).toEqual([{ ...tp, offset: -1n }]);

      const poll2 = await cluster.settle(consumer.poll({ timeoutMs: 500 }));
      expect(poll2.map((r) => r.offset)).toEqual(range(6, 12));
      // Poll 2 committed exactly the end of poll 1's records, not its own.
      expect(await cluster.settle(consumer.committed([tp]))).toEqual([{ ...tp, offset: 6n }]);

      // close() commits what the last poll returned.
      await cluster.settle(consumer.close());
      const check = cluster.consumer({ groupId: 'g-auto', enableAutoCommit: false });
      check.assign([tp]);
      expect(await cluster.settle(check.committed([tp]))).toEqual([{ ...tp, offset: 12n }]);
      await cluster.settle(cluster.stop());
    });

    it('auto-commits no more often than auto.commit.interval.ms', async () => {
      const cluster = await clusterWith(311, 't', 1, 20);
      const tp = { topic: 't', partition: 0 };
      const consumer = cluster.consumer({ groupId: 'g-interval', autoOffsetReset: 'earliest', autoCommitIntervalMs: 5000, maxPollRecords: 5 });
      consumer.assign([tp]);
      const commits: number[] = [];
      cluster.network.observe((e) => {
        if (e.type === 'delivered' && e.message.type === 'offsetCommit.request') commits.push(cluster.clock.now());
      });
      const start = cluster.clock.now();
      await cluster.settle(consumer.poll({ timeoutMs: 500 }));
      await cluster.runFor(1000);
      await cluster.settle(consumer.poll({ timeoutMs: 500 }));
      expect(commits).toEqual([]);
      await cluster.runFor(4000);
      const third = await cluster.settle(consumer.poll({ timeoutMs: 500 }));
      expect(third.map((r) => r.offset)).toEqual(range(10, 15));
      // Auto-commit is asynchronous, as Kafka's: poll sent it; let it arrive.
      await cluster.runUntilIdle();
      expect(commits).toHaveLength(1);
      expect((commits[0] as number) - start).toBeGreaterThanOrEqual(5000);
      expect(await cluster.settle(consumer.committed([tp]))).toEqual([{ ...tp, offset: 10n }]);
      await cluster.settle(cluster.stop());
    });

    it('keeps polling while its group coordinator is down: a failed auto-commit is not thrown from poll', async () => {
      const cluster = await createTestCluster({ seed: 319, brokers: 2, brokerConfig: { offsetsTopicNumPartitions: 1 } });
      await cluster.settle(cluster.admin().createTopic('t', { partitions: 2 }));
      const consumer = cluster.consumer({ groupId: 'g-coordinator-down', autoOffsetReset: 'earliest', autoCommitIntervalMs: 0, requestTimeoutMs: 1000 });
      // The first commit creates __consumer_offsets; find the broker coordinating the group.
      consumer.assign([{ topic: 't', partition: 0 }]);
      await cluster.settle(consumer.commit([{ topic: 't', partition: 0, offset: 0n }]));
      const coordinator = (await cluster.settle(cluster.admin().describeTopic('__consumer_offsets'))).partitions[0]?.leader as number;
      const live = (await cluster.settle(cluster.admin().describeTopic('t'))).partitions.find((p) => p.leader !== coordinator)?.partition as number;
      const tp = { topic: 't', partition: live };
      consumer.assign([tp]);
      const producer = cluster.producer({ acks: 1 });
      const send = (from: number) => producer.send('t', Array.from({ length: 5 }, (_, i) => ({ value: `v${from + i}`, partition: live })));
      await cluster.settle(send(0));
      expect((await pollAtLeast(cluster, consumer, 5)).map((r) => r.offset)).toEqual(range(0, 5));

      cluster.broker(coordinator).crash();
      await cluster.settle(send(5));
      // Kafka logs a failed auto-commit and retries it at the next interval; the records keep coming.
      const whileDown = await pollAtLeast(cluster, consumer, 5);
      expect(whileDown.map((r) => r.offset)).toEqual(range(5, 10));

      await cluster.settle(cluster.broker(coordinator).restart());
      // As in Kafka, the restarted process is registered once its previous session has expired (broker.session.timeout.ms).
      await cluster.runUntil(() => cluster.brokerInternals(coordinator)?.state === 'running');
      expect(await cluster.settle(consumer.poll({ timeoutMs: 100 }))).toEqual([]);
      // The auto-commit this poll started completes in the background once the coordinator is back.
      await cluster.runFor(5_000);
      expect(await cluster.settle(consumer.committed([tp]))).toEqual([{ ...tp, offset: 10n }]);
      await cluster.settle(cluster.stop());
    });

    it('batches() yields poll-sized batches whose commit() commits exactly those records', async () => {
      const cluster = await clusterWith(312, 't', 1, 20);
      const tp = { topic: 't', partition: 0 };
      const consumer = cluster.consumer({ groupId: 'g-batches', autoOffsetReset: 'earliest', enableAutoCommit: false, maxPollRecords: 4 });
      consumer.assign([tp]);
      const batches = consumer.batches({ timeoutMs: 500 });
      const b1 = (await cluster.settle(batches.next())).value;
      const b2 = (await cluster.settle(batches.next())).value;
      if (b1 === undefined || b2 === undefined) throw new Error('the batch iterator ended early');
      expect(b1.records.map((r) => r.offset)).toEqual(range(0, 4));
      expect(b2.records.map((r) => r.offset)).toEqual(range(4, 8));
      expect(b2.lag).toBe(12n);
      // Committing the first batch after the second was read commits the end of the first only.
      await cluster.settle(b1.commit());
      expect(await cluster.settle(consumer.committed([tp]))).toEqual([{ ...tp, offset: 4n }]);
      await cluster.settle(b2.commit());
      expect(await cluster.settle(consumer.committed([tp]))).toEqual([{ ...tp, offset: 8n }]);
      await cluster.settle(consumer.close());
      expect((await cluster.settle(batches.next())).done).toBe(true);
      await cluster.settle(cluster.stop());
    });

    it('batches() ends, without an error, when the consumer is closed while a poll is joining the group', async () => {
      const cluster = await clusterWith(314, 't', 1, 5);
      const consumer = cluster.consumer({ groupId: 'g-closing', autoOffsetReset: 'earliest', enableAutoCommit: false });
      await cluster.settle(consumer.subscribe(['t']));
      const batches = consumer.batches({ timeoutMs: 500 });
      const waiting = batches.next();
      // The first poll is still inside the group join (initial rebalance delay) when close() runs.
      await cluster.runFor(10);
      await cluster.settle(consumer.close());
      expect(await cluster.settle(waiting)).toEqual({ done: true, value: undefined });
      await cluster.settle(cluster.stop());
    });
  });

  describe('records$', () => {
    it('delivers every record, in order per partition', async () => {
      const cluster = await clusterWith(313, 't', 3, 40);
      const consumer = cluster.consumer({ autoOffsetReset: 'earliest', enableAutoCommit: false, maxPollRecords: 11 });
      consumer.assign([0, 1, 2].map((partition) => ({ topic: 't', partition })));
      const got = await cluster.settle(lastValueFrom(consumer.records$.pipe(take(120), toArray())));
      for (let p = 0; p < 3; p++) {
        expect(offsetsOf(got, p)).toEqual(range(0, 40));
        expect(got.filter((r) => r.partition === p).map(value)).toEqual(Array.from({ length: 40 }, (_, i) => `p${p}-${i}`));
      }
      await cluster.settle(cluster.stop());
    });

    it('stops fetching while its subscriber takes no more records', async () => {
      const cluster = await createTestCluster({ seed: 314, brokers: 1 });
      await cluster.settle(cluster.admin().createTopic('big', { partitions: 1 }));
      const producer = cluster.producer();
      // 5000 records in 50 batches of ~12 KiB.
      for (let i = 0; i < 50; i++) await cluster.settle(producer.send('big', Array.from({ length: 100 }, (_, j) => ({ value: `${i}-${j}`.padEnd(100, '.') }))));
      let fetches = 0;
      cluster.network.observe((e) => {
        if (e.type === 'delivered' && e.message.type === 'fetch.request') fetches++;
      });
      const consumer = cluster.consumer({ autoOffsetReset: 'earliest', enableAutoCommit: false, maxPartitionFetchBytes: 20_000 });
      consumer.assign([{ topic: 'big', partition: 0 }]);
      const taken = await cluster.settle(lastValueFrom(consumer.records$.pipe(take(20), toArray())));
      expect(taken.map((r) => r.offset)).toEqual(range(0, 20));
      // At most one response waits in the buffer and one more is prefetched, then fetching stops…
      await cluster.runFor(60_000);
      const bounded = fetches;
      expect(bounded).toBeLessThanOrEqual(4);
      // …and after that nothing more is fetched, although 4980 records wait.
      await cluster.runFor(60_000);
      expect(fetches).toBe(bounded);
      expect(await cluster.settle(consumer.position({ topic: 'big', partition: 0 }))).toBe(20n);
      await cluster.settle(cluster.stop());
    });

    it('lets a later subscription continue right after the last record the previous one took', async () => {
      const cluster = await clusterWith(315, 't', 1, 50);
      const consumer = cluster.consumer({ autoOffsetReset: 'earliest', enableAutoCommit: false });
      consumer.assign([{ topic: 't', partition: 0 }]);
      const first = await cluster.settle(lastValueFrom(consumer.records$.pipe(take(10), toArray())));
      expect(first.map((r) => r.offset)).toEqual(range(0, 10));
      expect(await cluster.settle(consumer.position({ topic: 't', partition: 0 }))).toBe(10n);
      const second = await cluster.settle(lastValueFrom(consumer.records$.pipe(take(40), toArray())));
      expect(second.map((r) => r.offset)).toEqual(range(10, 50));
      await cluster.settle(cluster.stop());
    });
  });

  describe('groups', () => {
    it('refuses a commit for a partition the subscribed member does not own', async () => {
      const cluster = await clusterWith(316, 't', 2, 5);
      await cluster.settle(cluster.admin().createTopic('elsewhere', { partitions: 1 }));
      const consumer = cluster.consumer({ groupId: 'g-own', autoOffsetReset: 'earliest', enableAutoCommit: false });
      await consumer.subscribe(['t']);
      await pollAtLeast(cluster, consumer, 10);
      expect(consumer.assignment()).toHaveLength(2);
      const error = await rejection(cluster, consumer.commit([{ topic: 'elsewhere', partition: 0, offset: 1n }]));
      expect(error).toBeInstanceOf(InvalidArgumentError);
      expect((error as Error).message).toMatch(/does not own elsewhere-0/);
      // Its own partitions commit fine.
      await cluster.settle(consumer.commit([{ topic: 't', partition: 1, offset: 5n }]));
      expect(await cluster.settle(consumer.committed([{ topic: 't', partition: 1 }]))).toEqual([{ topic: 't', partition: 1, offset: 5n }]);
      await cluster.settle(cluster.stop());
    });

    it('splits two subscribed topics between two members: disjoint and covering every partition', async () => {
      const cluster = await createTestCluster({ seed: 317, brokers: 2, brokerConfig: { offsetsTopicNumPartitions: 3 } });
      await cluster.settle(cluster.admin().createTopic('a', { partitions: 3 }));
      await cluster.settle(cluster.admin().createTopic('b', { partitions: 2 }));
      await produce(cluster, 'a', 3, 4);
      await produce(cluster, 'b', 2, 4);
      const members = [1, 2].map(() => cluster.consumer({ groupId: 'g-split', autoOffsetReset: 'earliest', enableAutoCommit: false }));
      for (const m of members) await m.subscribe(['a', 'b']);
      const seen = new Map<string, string[]>();
      const key = (r: { topic: string; partition: number }): string => `${r.topic}-${r.partition}`;
      // poll(timeout) does not wait past its timeout for the group's first rebalance (3 s initial delay, extended once).
      for (let i = 0; i < 40; i++) {
        const polls = await cluster.settle(Promise.all(members.map((m) => m.poll({ timeoutMs: 300 }))));
        polls.forEach((records, m) => {
          for (const r of records) seen.set(key(r), [...(seen.get(key(r)) ?? []), `m${m}:${r.offset}`]);
        });
      }
      const [one, two] = members.map((m) => m.assignment().map(key).sort()) as [string[], string[]];
      expect(one.length).toBeGreaterThan(0);
      expect(two.length).toBeGreaterThan(0);
      expect(one.filter((tp) => two.includes(tp))).toEqual([]);
      expect([...one, ...two].sort()).toEqual(['a-0', 'a-1', 'a-2', 'b-0', 'b-1']);
      // Both members are in the same generation, and every record was read exactly once.
      expect(members[0]?.groupMetadata().generationId).toBe(members[1]?.groupMetadata().generationId);
      expect([...seen.keys()].sort()).toEqual(['a-0', 'a-1', 'a-2', 'b-0', 'b-1']);
      for (const reads of seen.values()) expect(reads.map((r) => r.split(':')[1])).toEqual(['0', '1', '2', '3']);
      await cluster.settle(cluster.stop());
    });
  });

  it('continues after the broker hosting its partition crashes and restarts, losing and repeating nothing', async () => {
    const cluster = await createTestCluster({ seed: 318, brokers: 2 });
    await cluster.settle(cluster.admin().createTopic('c', { partitions: 2 }));
    const leaders = (await cluster.settle(cluster.admin().describeTopic('c'))).partitions.map((p) => p.leader);
    expect(new Set(leaders).size).toBe(2);
    const victim = leaders[0] as number;
    const producer = cluster.producer({ acks: 1, requestTimeoutMs: 1000, deliveryTimeoutMs: 120_000 });
    const send = (p: number, from: number, count: number) => producer.send('c', Array.from({ length: count }, (_, i) => ({ value: `p${p}-${from + i}`, partition: p })));
    // Three batches per partition; a fetch returns one batch per partition (maxPartitionFetchBytes 1).
    for (let b = 0; b < 3; b++) await cluster.settle(Promise.all([send(0, b * 10, 10), send(1, b * 10, 10)]));
    const lost: string[] = [];
    cluster.network.observe((e) => {
      if (e.type === 'unreachable' && e.message.type === 'fetch.request') lost.push(e.to);
    });

    const consumer = cluster.consumer({ autoOffsetReset: 'earliest', enableAutoCommit: false, maxPollRecords: 10, maxPartitionFetchBytes: 1, requestTimeoutMs: 1000 });
    consumer.assign([0, 1].map((partition) => ({ topic: 'c', partition })));
    const got: ConsumerRecord[] = [];
    got.push(...(await cluster.settle(consumer.poll({ timeoutMs: 500 }))));
    expect(got.length).toBeGreaterThan(0);

    cluster.broker(victim).crash();
    // The other partition keeps flowing while the victim is down; the victim's stays where its buffer ends.
    await cluster.settle(send(1, 30, 10));
    for (let i = 0; i < 15; i++) got.push(...(await cluster.settle(consumer.poll({ timeoutMs: 500 }))));
    expect(offsetsOf(got, 1)).toEqual(range(0, 40));
    const p0WhileDown = offsetsOf(got, 0).length;
    expect(p0WhileDown).toBeLessThan(30);
    expect(lost).toContain(`broker:${victim}`);

    await cluster.settle(cluster.broker(victim).restart());
    await cluster.settle(send(0, 30, 10));
    for (let i = 0; i < 60 && got.length < 80; i++) got.push(...(await cluster.settle(consumer.poll({ timeoutMs: 500 }))));
    // No loss and no duplicates on either partition.
    expect(offsetsOf(got, 0)).toEqual(range(0, 40));
    expect(offsetsOf(got, 1)).toEqual(range(0, 40));
    expect(got.filter((r) => r.partition === 0).map(value)).toEqual(Array.from({ length: 40 }, (_, i) => `p0-${i}`));
    await cluster.settle(cluster.stop());
  });
});

describe('consumed bytes', () => {
  it('belong to the application: changing a record value in place changes no log', async () => {
    const cluster = await createTestCluster({ seed: 31, brokers: 1, brokerConfig: { offsetsTopicNumPartitions: 3 } });
    await cluster.settle(cluster.admin().createTopic('owned', { partitions: 1 }));
    // Large values, so the batch is kept by the log as the producer built it.
    const big = (i: number): Uint8Array => new Uint8Array(300).fill(i);
    await cluster.settle(cluster.producer({ acks: 1 }).send('owned', Array.from({ length: 40 }, (_, i) => ({ value: big(i) }))));
    const read = async (): Promise<ConsumerRecord[]> => {
      const consumer = cluster.consumer({ autoOffsetReset: 'earliest', enableAutoCommit: false });
      consumer.assign([{ topic: 'owned', partition: 0 }]);
      const got = await pollAtLeast(cluster, consumer, 40);
      await cluster.settle(consumer.close());
      return got;
    };
    const first = await read();
    for (const r of first) (r.value as Uint8Array).fill(0xee);
    const second = await read();
    expect(second.map((r) => Array.from(new Set(r.value as Uint8Array)))).toEqual(Array.from({ length: 40 }, (_, i) => [i]));
  });
  it('come in arrays that belong to the application: changing one changes no later poll', async () => {
    const cluster = await createTestCluster({ seed: 32, brokers: 1, brokerConfig: { offsetsTopicNumPartitions: 3 } });
    await cluster.settle(cluster.admin().createTopic('arrays', { partitions: 1 }));
    const producer = cluster.producer({ acks: 1 });
    // Batches of 6 records: polls of 6 take whole batches, polls of 4 end inside them.
    for (let b = 0; b < 10; b++) await cluster.settle(producer.send('arrays', Array.from({ length: 6 }, (_, i) => ({ value: `${b * 6 + i}` }))));
    for (const maxPollRecords of [6, 4]) {
      const consumer = cluster.consumer({ autoOffsetReset: 'earliest', enableAutoCommit: false, maxPollRecords });
      consumer.assign([{ topic: 'arrays', partition: 0 }]);
      const offsets: bigint[] = [];
      for (let polls = 0; polls < 60 && offsets.length < 60; polls++) {
        const got = await cluster.settle(consumer.poll({ timeoutMs: 200 }));
        offsets.push(...got.map((r) => r.offset));
        // An application reusing the array it was handed.
        got.push(...got);
        got.reverse();
      }
      expect(offsets).toEqual(Array.from({ length: 60 }, (_, i) => BigInt(i)));
      await cluster.settle(consumer.close());
    }
    await cluster.settle(cluster.stop());
  });
});

