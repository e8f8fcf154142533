import { describe, expect, it } from 'vitest';
import { ClosedError, InvalidArgumentError, KafkaProtocolError, TimeoutError } from '../../src/errors.ts';
import { keyPartition } from '../../src/clients/producer/partitioners.ts';
import type { RecordMetadata } from '../../src/clients/producer/producer.ts';
import type { TestCluster } from '../../src/testing.ts';
import { createTestCluster } from '../../src/testing.ts';
import { newestBrokerImage } from '../helpers/cluster.ts';
import type { NetworkEvent } from '../../src/transport/simulatedNetwork.ts';

const enc = new TextEncoder();
const dec = new TextDecoder();

async function rejection(cluster: TestCluster, promise: Promise<unknown>): Promise<unknown> {
  return cluster.settle(promise).then(
    () => {
      throw new Error('expected the call to fail');
    },
    (e: unknown) => e,
  );
}

/** Records every produce request the network delivers (or fails to), with the simulated time. */
function watchProduceRequests(cluster: TestCluster): Array<NetworkEvent & { at: number }> {
  const seen: Array<NetworkEvent & { at: number }> = [];
  cluster.network.observe((e) => {
    if (e.message.type === 'produce.request') seen.push({ ...e, at: cluster.clock.now() });
  });
  return seen;
}

/** Tracks whether a promise settled, without awaiting it. */
function track<T>(promise: Promise<T>): { promise: Promise<T>; readonly settled: boolean } {
  const state = { promise, settled: false };
  promise.then(
    () => {
      state.settled = true;
    },
    () => {
      state.settled = true;
    },
  );
  return state;
}

async function leaderOf(cluster: TestCluster, topic: string, partition: number): Promise<number> {
  const description = await cluster.settle(cluster.admin().describeTopic(topic));
  return description.partitions[partition]?.leader as number;
}

async function readAll(cluster: TestCluster, topic: string, partitions: number[], count: number): Promise<Array<{ partition: number; offset: bigint; value: string }>> {
  const consumer = cluster.consumer({ autoOffsetReset: 'earliest', enableAutoCommit: false });
  consumer.assign(partitions.map((partition) => ({ topic, partition })));
  const got: Array<{ partition: number; offset: bigint; value: string }> = [];
  for (let polls = 0; got.length < count && polls < 50; polls++) {
    for (const r of await cluster.settle(consumer.poll({ timeoutMs: 200 }))) got.push({ partition: r.partition, offset: r.offset, value: dec.decode(r.value as Uint8Array) });
  }
  await cluster.settle(consumer.close());
  return got;
}

describe('producer', () => {
  describe('partitioning', () => {
    it('puts keyed records on (murmur2(key) & 0x7fffffff) % partitions', async () => {
      const cluster = await createTestCluster({ seed: 201, brokers: 3 });
      await cluster.settle(cluster.admin().createTopic('keyed', { partitions: 7 }));
      const producer = cluster.producer();
      const keys = Array.from({ length: 300 }, (_, i) => `customer-${i * 7919}`);
      const sent = await cluster.settle(producer.send('keyed', keys.map((key) => ({ key, value: 'x' }))));
      expect(sent.map((m) => m.partition)).toEqual(keys.map((key) => keyPartition(enc.encode(key), 7)));
      expect(new Set(sent.map((m) => m.partition)).size).toBe(7);
      // Byte keys hash the same as their UTF-8 string.
      const again = await cluster.settle(producer.send('keyed', keys.slice(0, 20).map((key) => ({ key: enc.encode(key), value: 'y' }))));
      expect(again.map((m) => m.partition)).toEqual(sent.slice(0, 20).map((m) => m.partition));
      // Kafka's reference vector: murmur2("foobar") = -790332482 → (-790332482 & 0x7fffffff) % 7.
      expect((await cluster.settle(producer.send('keyed', { key: 'foobar', value: 'z' }))).partition).toBe((-790332482 & 0x7fffffff) % 7);
      await cluster.settle(cluster.stop());
    });

    it('honours an explicit partition over the key', async () => {
      const cluster = await createTestCluster({ seed: 202, brokers: 2 });
      await cluster.settle(cluster.admin().createTopic('explicit', { partitions: 4 }));
      const producer = cluster.producer();
      const key = Array.from({ length: 50 }, (_, i) => `k${i}`).find((k) => keyPartition(enc.encode(k), 4) !== 2) as string;
      const sent = await cluster.settle(producer.send('explicit', { key, value: 'v', partition: 2 }));
      expect(sent.partition).toBe(2);
      const got = await readAll(cluster, 'explicit', [0, 1, 2, 3], 1);
      expect(got).toEqual([{ partition: 2, offset: 0n, value: 'v' }]);
    });

    it('rejects a partition that does not exist with InvalidArgumentError', async () => {
      const cluster = await createTestCluster({ seed: 203 });
      await cluster.settle(cluster.admin().createTopic('small', { partitions: 3 }));
      const producer = cluster.producer();
      const outOfRange = await rejection(cluster, producer.send('small', { value: 'v', partition: 3 }));
      expect(outOfRange).toBeInstanceOf(InvalidArgumentError);
      expect((outOfRange as Error).message).toMatch(/partition 3 does not exist.*3 partitions/);
      const negative = await rejection(cluster, producer.send('small', { value: 'v', partition: -1 }));
      expect(negative).toBeInstanceOf(InvalidArgumentError);
      // A rejected send writes none of its records, not even the valid ones (nor later, with the next send).
      const mixed = await rejection(cluster, producer.send('small', [{ value: 'valid', partition: 0 }, { value: 'invalid', partition: 7 }]));
      expect(mixed).toBeInstanceOf(InvalidArgumentError);
      await cluster.runUntilIdle();
      expect((await cluster.settle(cluster.admin().listOffsets('small'))).map((o) => o.offset)).toEqual([0n, 0n, 0n]);
      await cluster.settle(producer.send('small', { value: 'next', partition: 1 }));
      const stored = await readAll(cluster, 'small', [0, 1, 2], 1);
      expect(stored).toEqual([{ partition: 1, offset: 0n, value: 'next' }]);
    });

    it('spreads null-key records over partitions in sticky runs of at least batch.size bytes', async () => {
      const cluster = await createTestCluster({ seed: 204, brokers: 3 });
      await cluster.settle(cluster.admin().createTopic('sticky', { partitions: 6 }));
      const producer = cluster.producer();
      const value = 'v'.repeat(100);
      const perRecord = value.length + 21; // the producer's size estimate of one record
      const sent = await cluster.settle(producer.send('sticky', Array.from({ length: 2000 }, () => ({ value }))));
      const runs: Array<{ partition: number; length: number }> = [];
      for (const m of sent) {
        const last = runs[runs.length - 1];
        if (last !== undefined && last.partition === m.partition) last.length++;
        else runs.push({ partition: m.partition, length: 1 });
      }
      expect(new Set(sent.map((m) => m.partition)).size).toBeGreaterThanOrEqual(3);
      expect(runs.length).toBeGreaterThanOrEqual(4);
      // Every run but the last is at least batch.size (16384) bytes: the partitioner only switches after that.
      for (const run of runs.slice(0, -1)) expect(run.length * perRecord).toBeGreaterThanOrEqual(16384);
      // Within a partition, records take consecutive offsets in send order.
      for (let p = 0; p < 6; p++) {
        const offsets = sent.filter((m) => m.partition === p).map((m) => m.offset);
        expect(offsets).toEqual(offsets.map((_, i) => BigInt(i)));
      }
      await cluster.settle(cluster.stop());
    });
  });

  describe('batching and acks', () => {
    it('sends 100 small records of one send call in at most one produce request per broker', async () => {
      const cluster = await createTestCluster({ seed: 205, brokers: 3 });
      await cluster.settle(cluster.admin().createTopic('batch', { partitions: 6 }));
      const producer = cluster.producer();
      // Warm the metadata so only the batch itself is observed.
      await cluster.settle(producer.send('batch', { key: 'warm', value: 'up' }));
      const requests = watchProduceRequests(cluster);
      const sent = await cluster.settle(producer.send('batch', Array.from({ length: 100 }, (_, i) => ({ key: `key-${i}`, value: `value-${i}` }))));
      expect(sent).toHaveLength(100);
      expect(new Set(sent.map((m) => m.partition)).size).toBe(6);
      const delivered = requests.filter((e) => e.type === 'delivered');
      const perBroker = new Map<string, number>();
      for (const e of delivered) perBroker.set(e.to, (perBroker.get(e.to) ?? 0) + 1);
      expect([...perBroker.keys()].sort()).toEqual(['broker:1', 'broker:2', 'broker:3']);
      for (const count of perBroker.values()) expect(count).toBe(1);
      // Each request carries one batch per partition the broker leads.
      const partitionsSent = delivered.flatMap((e) => (e.message.partitions as Array<{ partition: number }>).map((p) => p.partition)).sort();
      expect(partitionsSent).toEqual([0, 1, 2, 3, 4, 5]);
      await cluster.settle(cluster.stop());
    });

    it('holds records for linger.ms of simulated time and sends what arrived meanwhile together', async () => {
      const cluster = await createTestCluster({ seed: 206, brokers: 1 });
      await cluster.settle(cluster.admin().createTopic('linger', { partitions: 1 }));
      const producer = cluster.producer({ lingerMs: 100 });
      await cluster.settle(producer.send('linger', { value: 'warm' }));
      const requests = watchProduceRequests(cluster);
      const start = cluster.clock.now();
      const first = track(producer.send('linger', { value: 'a' }));
      await cluster.runFor(60);
      const second = track(producer.send('linger', { value: 'b' }));
      await cluster.runFor(39);
      expect(requests).toHaveLength(0);
      expect(first.settled).toBe(false);
      const [a, b] = await cluster.settle(Promise.all([first.promise, second.promise]));
      expect(requests).toHaveLength(1);
      expect(requests[0]?.at).toBe(start + 100);
      expect([a.offset, b.offset]).toEqual([1n, 2n]);
      await cluster.settle(cluster.stop());
    });

    it('resolves acks=0 sends with offset -1n while the records still land', async () => {
      const cluster = await createTestCluster({ seed: 207, brokers: 2 });
      await cluster.settle(cluster.admin().createTopic('fire', { partitions: 2 }));
      const producer = cluster.producer({ acks: 0 });
      const sent = await cluster.settle(producer.send('fire', Array.from({ length: 10 }, (_, i) => ({ value: `v${i}`, partition: i % 2 }))));
      expect(sent.map((m) => m.offset)).toEqual(Array.from({ length: 10 }, () => -1n));
      expect(sent.map((m) => m.partition)).toEqual([0, 1, 0, 1, 0, 1, 0, 1, 0, 1]);
      // No produce response travels back.
      const responses: string[] = [];
      cluster.network.observe((e) => {
        if (e.message.type === 'produce.response') responses.push(e.to);
      });
      await cluster.settle(producer.send('fire', { value: 'one more', partition: 0 }));
      await cluster.runUntilIdle();
      expect(responses).toEqual([]);
      expect((await cluster.settle(cluster.admin().listOffsets('fire'))).map((o) => o.offset)).toEqual([6n, 5n]);
      await cluster.settle(cluster.stop());
    });

    it('returns consecutive offsets per partition across sends, in input order', async () => {
      const cluster = await createTestCluster({ seed: 208, brokers: 3 });
      await cluster.settle(cluster.admin().createTopic('seq', { partitions: 3 }));
      const producer = cluster.producer({ acks: 1 });
      const all: RecordMetadata[] = [];
      for (let round = 0; round < 4; round++) {
        const sent = await cluster.settle(producer.send('seq', Array.from({ length: 25 }, (_, i) => ({ key: `k${i % 9}`, value: `${round}-${i}` }))));
        all.push(...sent);
      }
      // Concurrent sends too.
      const concurrent = await cluster.settle(Promise.all(Array.from({ length: 10 }, (_, i) => producer.send('seq', { key: `k${i}`, value: `c${i}` }))));
      all.push(...concurrent);
      for (let p = 0; p < 3; p++) {
        const offsets = all.filter((m) => m.partition === p).map((m) => m.offset);
        expect(offsets.length).toBeGreaterThan(0);
        expect(offsets).toEqual(offsets.map((_, i) => BigInt(i)));
      }
      // What was acknowledged is what is stored.
      const stored = await readAll(cluster, 'seq', [0, 1, 2], all.length);
      expect(stored).toHaveLength(all.length);
      for (const m of all) expect(stored).toContainEqual(expect.objectContaining({ partition: m.partition, offset: m.offset }));
    });
    it('reports the right offsets when one send spans several batches of a partition', async () => {
      const cluster = await createTestCluster({ seed: 216, brokers: 1 });
      await cluster.settle(cluster.admin().createTopic('many', { partitions: 2 }));
      const producer = cluster.producer({ maxInFlightRequestsPerConnection: 2 });
      await cluster.settle(producer.send('many', { value: 'warm', partition: 1 }));
      const requests = watchProduceRequests(cluster);
      // ~1000 × 121 bytes: about eight 16 KiB batches for partition 0, interleaved with partition 1.
      const records = Array.from({ length: 1000 }, (_, i) => ({ value: `${i}`.padStart(100, '0'), partition: i < 900 ? 0 : 1 }));
      const sent = await cluster.settle(producer.send('many', records));
      expect(sent.filter((m) => m.partition === 0).map((m) => m.offset)).toEqual(Array.from({ length: 900 }, (_, i) => BigInt(i)));
      expect(sent.filter((m) => m.partition === 1).map((m) => m.offset)).toEqual(Array.from({ length: 100 }, (_, i) => BigInt(i + 1)));
      // As in Kafka, a produce request holds at most one batch per partition…
      expect(requests.length).toBeGreaterThan(1);
      for (const e of requests) {
        const partitions = (e.message.partitions as Array<{ partition: number }>).map((p) => p.partition);
        expect(new Set(partitions).size).toBe(partitions.length);
      }
      // …and the log holds the records in send order.
      const stored = await readAll(cluster, 'many', [0], 900);
      expect(stored.map((r) => Number(r.value))).toEqual(Array.from({ length: 900 }, (_, i) => i));
      await cluster.settle(cluster.stop());
    });
  });

  describe('records as given', () => {
    it('writes bytes and string records, headers and timestamps of one send alike, results in input order', async () => {
      const cluster = await createTestCluster({ seed: 231, brokers: 1 });
      await cluster.settle(cluster.admin().createTopic('mixed', { partitions: 1 }));
      const producer = cluster.producer({ acks: 1 });
      const now = cluster.clock.now();
      const sent = await cluster.settle(
        producer.send('mixed', [
          { key: enc.encode('k0'), value: enc.encode('bytes') },
          { key: 'k1', value: 'string', timestamp: 5 },
          { value: enc.encode('headers'), headers: { h: 'x' } },
          { key: null, value: null, timestamp: 7 },
          { value: enc.encode('last') },
        ]),
      );
      expect(sent.map((m) => [m.offset, m.timestamp])).toEqual([
        [0n, now],
        [1n, 5],
        [2n, now],
        [3n, 7],
        [4n, now],
      ]);
      const consumer = cluster.consumer({ autoOffsetReset: 'earliest', enableAutoCommit: false });
      consumer.assign([{ topic: 'mixed', partition: 0 }]);
      const got = await cluster.settle(consumer.poll({ timeoutMs: 200 }));
      expect(got.map((r) => [r.key === null ? null : dec.decode(r.key), r.value === null ? null : dec.decode(r.value), r.timestamp, r.headers.map((h) => h.key)])).toEqual([
        ['k0', 'bytes', now, []],
        ['k1', 'string', 5, []],
        [null, 'headers', now, ['h']],
        [null, null, 7, []],
        [null, 'last', now, []],
      ]);
      await cluster.settle(cluster.stop());
    });
    it('writes the records as they were when send() was called, even when it waits for metadata and the objects change meanwhile', async () => {
      const cluster = await createTestCluster({ seed: 232, brokers: 1 });
      const producer = cluster.producer({ acks: 1 });
      // An unknown topic: send() waits for it to be auto-created.
      const records: Array<{ key?: Uint8Array; value: Uint8Array; partition?: number; timestamp?: number }> = [{ key: enc.encode('a'), value: enc.encode('first'), timestamp: 11 }, { value: enc.encode('second') }];
      const sending = producer.send('appears', records);
      records[0] = { value: enc.encode('replaced') };
      Object.assign(records[1] as object, { value: enc.encode('changed'), partition: 99, timestamp: -5 });
      const sent = await cluster.settle(sending);
      expect(sent.map((m) => m.timestamp)[0]).toBe(11);
      const consumer = cluster.consumer({ autoOffsetReset: 'earliest', enableAutoCommit: false });
      consumer.assign([{ topic: 'appears', partition: sent[0]?.partition as number }, { topic: 'appears', partition: sent[1]?.partition as number }]);
      const got = await cluster.settle(consumer.poll({ timeoutMs: 200 }));
      expect(got.map((r) => dec.decode(r.value as Uint8Array)).sort()).toEqual(['first', 'second']);
      await cluster.settle(cluster.stop());
    });
    it('reports the broker time of a LogAppendTime topic as every record timestamp', async () => {
      const cluster = await createTestCluster({ seed: 233, brokers: 1 });
      await cluster.settle(cluster.admin().createTopic('appended', { partitions: 1, config: { 'message.timestamp.type': 'LogAppendTime' } }));
      const producer = cluster.producer({ acks: 1 });
      await cluster.runFor(1000);
      const sent = await cluster.settle(producer.send('appended', [{ value: enc.encode('a'), timestamp: 1 }, { value: 'b', timestamp: 2 }]));
      expect(sent.map((m) => m.timestamp)).toEqual([sent[0]?.timestamp, sent[0]?.timestamp]);
      expect(sent[0]?.timestamp).toBeGreaterThanOrEqual(1000);
      await cluster.settle(cluster.stop());
    });
  });

  describe('failures', () => {
    it('retries a batch as soon as metadata names a new leader, without waiting out its backoff (KIP-951)', async () => {
      const cluster = await createTestCluster({ seed: 231, brokers: 3, brokerConfig: { brokerSessionTimeoutMs: 500, brokerHeartbeatIntervalMs: 100 } });
      await cluster.settle(cluster.admin().createTopic('moving', { partitions: 1, replicationFactor: 3 }));
      const producer = cluster.producer({ acks: 1, retryBackoffMs: 1_000, retryBackoffMaxMs: 5_000, requestTimeoutMs: 200 });
      await cluster.settle(producer.send('moving', { value: 'first' }));
      const leader = await leaderOf(cluster, 'moving', 0);
      const requests = watchProduceRequests(cluster);
      const crashedAt = cluster.clock.now();
      cluster.broker(leader).crash();
      const sent = await cluster.settle(producer.send('moving', { value: 'second' }));
      expect(sent).toMatchObject({ offset: 1n });
      const delivered = requests.filter((e) => e.type === 'delivered' && e.to !== `broker:${leader}`);
      // Attempt 1 is refused at once, attempt 2 after its 1 s backoff learns of the new leader (fenced
      // after 500 ms) and goes straight there, instead of waiting a further 2 s.
      expect(delivered).toHaveLength(1);
      expect(delivered[0]!.at - crashedAt).toBeLessThan(1_500);
      await cluster.settle(cluster.stop());
    });

    it('retries sends to a crashed leader and succeeds once it restarts', async () => {
      const cluster = await createTestCluster({ seed: 209, brokers: 2 });
      await cluster.settle(cluster.admin().createTopic('crash', { partitions: 2 }));
      const producer = cluster.producer({ requestTimeoutMs: 1000, deliveryTimeoutMs: 60_000 });
      const before = await cluster.settle(producer.send('crash', [{ value: 'before-0', partition: 0 }, { value: 'before-1', partition: 1 }]));
      expect(before.map((m) => m.offset)).toEqual([0n, 0n]);
      const leader = await leaderOf(cluster, 'crash', 0);
      const requests = watchProduceRequests(cluster);
      cluster.broker(leader).crash();
      expect(cluster.broker(leader).running).toBe(false);

      const pending = track(producer.send('crash', { value: 'during', partition: 0 }));
      await cluster.runFor(10_000);
      expect(pending.settled).toBe(false);
      // It kept trying: the first attempt reached a dead broker; after the controller fenced it the
      // partition (one replica, no unclean election) had no leader, and the producer waited for one.
      expect(requests.filter((e) => e.to === `broker:${leader}` && e.type === 'unreachable').length).toBeGreaterThanOrEqual(1);
      expect(newestBrokerImage(cluster)?.topics.crash?.partitions[0]?.leader).toBe(-1);

      await cluster.settle(cluster.broker(leader).restart());
      const during = await cluster.settle(pending.promise);
      expect(during).toMatchObject({ partition: 0, offset: 1n });
      // The log recovered from storage: nothing lost, nothing written twice.
      const got = await readAll(cluster, 'crash', [0], 2);
      expect(got.map((r) => [r.offset, r.value])).toEqual([
        [0n, 'before-0'],
        [1n, 'during'],
      ]);
      await cluster.settle(cluster.stop());
    });

    it('fails with TimeoutError after delivery.timeout.ms when the leader stays down', async () => {
      const cluster = await createTestCluster({ seed: 210, brokers: 2 });
      await cluster.settle(cluster.admin().createTopic('down', { partitions: 2 }));
      const producer = cluster.producer({ requestTimeoutMs: 1000, deliveryTimeoutMs: 5000 });
      await cluster.settle(producer.send('down', [{ value: 'a', partition: 0 }, { value: 'b', partition: 1 }]));
      const leader = await leaderOf(cluster, 'down', 0);
      cluster.broker(leader).crash();
      const start = cluster.clock.now();
      const error = await rejection(cluster, producer.send('down', { value: 'lost', partition: 0 }));
      expect(error).toBeInstanceOf(TimeoutError);
      expect((error as TimeoutError).timeoutMs).toBe(5000);
      const elapsed = cluster.clock.now() - start;
      expect(elapsed).toBeGreaterThanOrEqual(5000);
      // Kept to the millisecond, as Kafka expires batches (in flight or waiting) at the deadline.
      expect(elapsed).toBeLessThanOrEqual(5000 + 1);
      await cluster.settle(cluster.stop());
    });

    it('fails in-flight batches exactly at delivery.timeout.ms when the leader is cut off (no answer at all)', async () => {
      const cluster = await createTestCluster({ seed: 212, brokers: 2 });
      await cluster.settle(cluster.admin().createTopic('cut', { partitions: 2 }));
      const producer = cluster.producer({ clientId: 'cut-off', requestTimeoutMs: 3000, deliveryTimeoutMs: 5000 });
      await cluster.settle(producer.send('cut', { value: 'a', partition: 0 }));
      const leader = await leaderOf(cluster, 'cut', 0);
      cluster.network.partition(['client:cut-off'], [`broker:${leader}`]);
      const start = cluster.clock.now();
      const error = await rejection(cluster, producer.send('cut', { value: 'lost', partition: 0 }));
      expect(error).toBeInstanceOf(TimeoutError);
      expect(cluster.clock.now() - start).toBe(5000);
      await cluster.settle(cluster.stop());
    });

    it('rejects a record larger than max.request.size with MESSAGE_TOO_LARGE', async () => {
      const cluster = await createTestCluster({ seed: 211 });
      await cluster.settle(cluster.admin().createTopic('big'));
      const producer = cluster.producer({ maxRequestSize: 1000 });
      const requests = watchProduceRequests(cluster);
      const error = await rejection(cluster, producer.send('big', { value: 'x'.repeat(2000) }));
      expect(error).toBeInstanceOf(KafkaProtocolError);
      expect((error as KafkaProtocolError).code).toBe('MESSAGE_TOO_LARGE');
      expect((error as Error).message).toMatch(/max\.request\.size=1000/);
      expect(requests).toHaveLength(0);
      // Smaller records still go through.
      expect((await cluster.settle(producer.send('big', { value: 'x'.repeat(500) }))).offset).toBe(0n);
    });

    it('rejects a value that is not bytes or a string, naming the field', async () => {
      const cluster = await createTestCluster({ seed: 212 });
      await cluster.settle(cluster.admin().createTopic('typed'));
      const producer = cluster.producer();
      const single = await rejection(cluster, producer.send('typed', { value: { id: 1 } as never }));
      expect(single).toBeInstanceOf(InvalidArgumentError);
      expect((single as InvalidArgumentError).argument).toBe('record.value');
      expect((single as Error).message).toMatch(/serialize it first/);
      const inList = await rejection(cluster, producer.send('typed', [{ value: 'ok' }, { key: 42 as never, value: 'ok' }]));
      expect(inList).toBeInstanceOf(InvalidArgumentError);
      expect((inList as InvalidArgumentError).argument).toBe('records[1].key');
      // Validation happens before anything is sent: the valid record of the rejected list is not written.
      await cluster.runUntilIdle();
      expect((await cluster.settle(cluster.admin().listOffsets('typed'))).map((o) => o.offset)).toEqual([0n]);
    });

    it('refuses to send after close with ClosedError', async () => {
      const cluster = await createTestCluster({ seed: 213 });
      await cluster.settle(cluster.admin().createTopic('closing'));
      const producer = cluster.producer();
      await cluster.settle(producer.send('closing', { value: 'a' }));
      await cluster.settle(producer.close());
      const error = await rejection(cluster, producer.send('closing', { value: 'b' }));
      expect(error).toBeInstanceOf(ClosedError);
      expect((await cluster.settle(cluster.admin().listOffsets('closing'))).map((o) => o.offset)).toEqual([1n]);
    });

    it('close() delivers what is still lingering before closing', async () => {
      const cluster = await createTestCluster({ seed: 214 });
      await cluster.settle(cluster.admin().createTopic('close-flush'));
      const producer = cluster.producer({ lingerMs: 5000 });
      await cluster.settle(producer.send('close-flush', { value: 'warm' }));
      const pending = track(producer.send('close-flush', { value: 'lingering' }));
      const start = cluster.clock.now();
      await cluster.settle(producer.close());
      expect(pending.settled).toBe(true);
      expect(cluster.clock.now() - start).toBeLessThan(5000);
      expect((await cluster.settle(pending.promise)).offset).toBe(1n);
    });
  });

  it('flush() sends lingering records at once and waits for every outstanding send', async () => {
    const cluster = await createTestCluster({ seed: 215, brokers: 2 });
    await cluster.settle(cluster.admin().createTopic('flush', { partitions: 2 }));
    const producer = cluster.producer({ lingerMs: 10_000 });
    await cluster.settle(producer.send('flush', { value: 'warm', partition: 0 }));
    const sends = Array.from({ length: 5 }, (_, i) => track(producer.send('flush', { value: `v${i}`, partition: i % 2 })));
    await cluster.runFor(10);
    expect(sends.some((s) => s.settled)).toBe(false);
    // A send issued right before flush() is covered by it too, as in Kafka.
    sends.push(track(producer.send('flush', { value: 'v5', partition: 1 })));
    const start = cluster.clock.now();
    await cluster.settle(producer.flush());
    expect(cluster.clock.now() - start).toBeLessThan(10_000);
    expect(sends.every((s) => s.settled)).toBe(true);
    const results = await cluster.settle(Promise.all(sends.map((s) => s.promise)));
    expect(results.map((m) => [m.partition, m.offset])).toEqual([
      [0, 1n],
      [1, 0n],
      [0, 2n],
      [1, 1n],
      [0, 3n],
      [1, 2n],
    ]);
    // flush() with nothing outstanding resolves at once.
    await cluster.settle(producer.flush());
    await cluster.settle(cluster.stop());
  });
});
