/**
 * Kafka transactions end to end on deterministic test clusters (kafka-anchor.md §3 and §7
 * behaviours 4, 18, 19, 20, 21, 22): commit and abort across partitions, read_committed and
 * read_uncommitted consumers, the last stable offset, control records, fencing of an older
 * instance, the coordinator's timeout abort, transactional offset commits with KIP-447 fencing,
 * EndTxn answered before the markers land, and a coordinator failover mid-commit.
 */
import { describe, expect, it } from 'vitest';
import type { KafkaProtocolError} from '../../../src/errors.ts';
import { TransactionStateError, InvalidArgumentError } from '../../../src/errors.ts';
import type { SamsaEvent } from '../../../src/actors/inspection.ts';
import { createTestCluster } from '../../../src/testing.ts';
import type { TestCluster } from '../../../src/testing.ts';
import { newestBrokerImage } from '../../helpers/cluster.ts';

const dec = new TextDecoder();
type Isolation = 'read_committed' | 'read_uncommitted';

async function cluster3(seed: number, topics: Record<string, number> = { t: 3 }): Promise<TestCluster> {
  const cluster = await createTestCluster({ seed, brokers: 3 });
  for (const [name, partitions] of Object.entries(topics)) await cluster.settle(cluster.admin().createTopic(name, { partitions, replicationFactor: 3, config: { 'min.insync.replicas': 2 } }));
  return cluster;
}

/** Everything a fresh consumer reads from the start of `topic` with the isolation level, as "partition:offset:value". */
async function readTopic(cluster: TestCluster, topic: string, isolationLevel: Isolation, partitions = [0, 1, 2], polls = 15): Promise<string[]> {
  const consumer = cluster.consumer({ autoOffsetReset: 'earliest', enableAutoCommit: false, isolationLevel });
  consumer.assign(partitions.map((partition) => ({ topic, partition })));
  const got: string[] = [];
  for (let i = 0; i < polls; i++) for (const r of await cluster.settle(consumer.poll({ timeoutMs: 100 }))) got.push(`${r.partition}:${r.offset}:${dec.decode(r.value as Uint8Array)}`);
  await cluster.settle(consumer.close());
  return got;
}

const values = (read: string[]): string[] => read.map((r) => r.split(':')[2] as string).sort();

function coordinatorOf(cluster: TestCluster, transactionalId: string): number {
  const image = newestBrokerImage(cluster);
  const topic = image?.topics.__transaction_state;
  let h = 0;
  for (let i = 0; i < transactionalId.length; i++) h = (Math.imul(31, h) + transactionalId.charCodeAt(i)) | 0;
  const partition = (h === -2147483648 ? 0 : Math.abs(h)) % (topic?.partitions.length ?? 1);
  return topic?.partitions[partition]?.leader as number;
}

async function rejection(cluster: TestCluster, promise: Promise<unknown>): Promise<unknown> {
  return cluster.settle(promise).then(
    () => {
      throw new Error('expected the call to fail');
    },
    (e: unknown) => e,
  );
}

describe('transactions', () => {
  it('commits all or nothing across partitions: read_committed sees committed records only, read_uncommitted everything, control records never', async () => {
    const cluster = await cluster3(701);
    const producer = cluster.producer({ transactionalId: 'orders-app' });
    await cluster.settle(producer.initTransactions());
    producer.beginTransaction();
    await cluster.settle(producer.send('t', [{ key: 'a', value: 'c1' }, { key: 'b', value: 'c2' }, { key: 'c', value: 'c3' }, { key: 'd', value: 'c4' }]));
    await cluster.settle(producer.commitTransaction());
    producer.beginTransaction();
    await cluster.settle(producer.send('t', [{ key: 'a', value: 'x1' }, { key: 'b', value: 'x2' }, { key: 'c', value: 'x3' }]));
    await cluster.settle(producer.abortTransaction());
    producer.beginTransaction();
    await cluster.settle(producer.send('t', [{ key: 'd', value: 'c5' }]));
    await cluster.settle(producer.commitTransaction());
    expect(values(await readTopic(cluster, 't', 'read_committed'))).toEqual(['c1', 'c2', 'c3', 'c4', 'c5']);
    expect(values(await readTopic(cluster, 't', 'read_uncommitted'))).toEqual(['c1', 'c2', 'c3', 'c4', 'c5', 'x1', 'x2', 'x3']);
    await cluster.settle(cluster.stop());
  });

  it('control records take offsets and are never delivered (behaviour 4): 3 records + COMMIT marker = log end 4', async () => {
    const cluster = await cluster3(702, { one: 1 });
    const producer = cluster.producer({ transactionalId: 'marker-demo' });
    await cluster.settle(producer.transaction(async (tx) => tx.send('one', [{ value: 'r0' }, { value: 'r1' }, { value: 'r2' }])));
    await cluster.runFor(500);
    expect(await cluster.settle(cluster.admin().listOffsets('one', 'latest'))).toEqual([{ partition: 0, offset: 4n, timestamp: -1 }]);
    expect(await readTopic(cluster, 'one', 'read_committed', [0])).toEqual(['0:0:r0', '0:1:r1', '0:2:r2']);
    // A consumer positioned on the marker gets the next record.
    await cluster.settle(producer.transaction(async (tx) => tx.send('one', { value: 'r4' })));
    const consumer = cluster.consumer({ enableAutoCommit: false, isolationLevel: 'read_committed' });
    consumer.assign([{ topic: 'one', partition: 0 }]);
    consumer.seek({ topic: 'one', partition: 0 }, 3n);
    const next = await cluster.settle(consumer.poll({ timeoutMs: 500 }));
    expect(next.map((r) => `${r.offset}:${dec.decode(r.value as Uint8Array)}`)).toEqual(['4:r4']);
    await cluster.settle(cluster.stop());
  });

  it('an open transaction holds read_committed consumers at the last stable offset; read_uncommitted ones read past it', async () => {
    const cluster = await cluster3(703, { one: 1 });
    const plain = cluster.producer();
    await cluster.settle(plain.send('one', [{ value: 'before-0' }, { value: 'before-1' }]));
    const producer = cluster.producer({ transactionalId: 'slow' });
    await cluster.settle(producer.initTransactions());
    producer.beginTransaction();
    await cluster.settle(producer.send('one', { value: 'open' }));
    await cluster.settle(plain.send('one', { value: 'after' }));
    await cluster.runFor(500);
    const committedEnd = await cluster.settle(cluster.admin().listOffsets('one', 'latest', { isolationLevel: 'read_committed' }));
    const uncommittedEnd = await cluster.settle(cluster.admin().listOffsets('one', 'latest'));
    expect(committedEnd[0]?.offset).toBe(2n);
    expect(uncommittedEnd[0]?.offset).toBe(4n);
    expect(await readTopic(cluster, 'one', 'read_committed', [0])).toEqual(['0:0:before-0', '0:1:before-1']);
    expect(await readTopic(cluster, 'one', 'read_uncommitted', [0])).toEqual(['0:0:before-0', '0:1:before-1', '0:2:open', '0:3:after']);
    await cluster.settle(producer.commitTransaction());
    await cluster.runFor(500);
    expect(await readTopic(cluster, 'one', 'read_committed', [0])).toEqual(['0:0:before-0', '0:1:before-1', '0:2:open', '0:3:after']);
    await cluster.settle(cluster.stop());
  });

  it('a new instance with the same transactional id fences the old one and aborts its open transaction (behaviour 19)', async () => {
    const cluster = await cluster3(704);
    const zombie = cluster.producer({ transactionalId: 'shared', clientId: 'zombie' });
    await cluster.settle(zombie.initTransactions());
    zombie.beginTransaction();
    await cluster.settle(zombie.send('t', [{ key: 'a', value: 'zombie-1' }, { key: 'b', value: 'zombie-2' }]));
    const fresh = cluster.producer({ transactionalId: 'shared', clientId: 'fresh' });
    await cluster.settle(fresh.initTransactions());
    // The zombie's next send and its commit fail: it is fenced for good.
    const sendError = await rejection(cluster, zombie.send('t', { key: 'c', value: 'zombie-3' }));
    expect(['PRODUCER_FENCED', 'INVALID_PRODUCER_EPOCH']).toContain((sendError as KafkaProtocolError).code);
    const commitError = await rejection(cluster, zombie.commitTransaction());
    expect(['PRODUCER_FENCED', 'INVALID_PRODUCER_EPOCH']).toContain((commitError as KafkaProtocolError).code);
    expect(zombie.transactionPhase).toBe('fatalError');
    await cluster.settle(fresh.transaction(async (tx) => tx.send('t', { key: 'a', value: 'fresh-1' })));
    expect(values(await readTopic(cluster, 't', 'read_committed'))).toEqual(['fresh-1']);
    await cluster.settle(cluster.stop());
  });

  it('the coordinator aborts a transaction open longer than transaction.timeout.ms, within one cleanup interval (behaviour 21)', async () => {
    const cluster = await cluster3(705, { one: 1 });
    const events: Array<SamsaEvent & { at: number }> = [];
    cluster.inspect((e) => {
      if (e.type === '@samsa.txn.completed') events.push({ ...(e as SamsaEvent), at: cluster.clock.now() });
    });
    const producer = cluster.producer({ transactionalId: 'sleepy', transactionTimeoutMs: 5_000 });
    await cluster.settle(producer.initTransactions());
    producer.beginTransaction();
    await cluster.settle(producer.send('one', { value: 'forgotten' }));
    const openedAt = cluster.clock.now();
    await cluster.runUntil(() => events.length > 0, { maxSimulatedMs: 60_000 });
    const aborted = events[0] as SamsaEvent & { at: number; committed: boolean };
    expect(aborted.committed).toBe(false);
    expect(aborted.at - openedAt).toBeGreaterThanOrEqual(5_000);
    expect(aborted.at - openedAt).toBeLessThan(5_000 + 10_000 + 1_000);
    // The LSO moved past the aborted data; the producer, back from its pause, is fenced.
    const end = await cluster.settle(cluster.admin().listOffsets('one', 'latest', { isolationLevel: 'read_committed' }));
    expect(end[0]?.offset).toBe(2n);
    // Kafka 4.x answers the commit of a transaction it already aborted (and fenced) INVALID_TXN_STATE.
    const error = await rejection(cluster, producer.commitTransaction());
    expect(['PRODUCER_FENCED', 'INVALID_PRODUCER_EPOCH', 'INVALID_TXN_STATE']).toContain((error as KafkaProtocolError).code);
    expect(producer.transactionPhase).toBe('fatalError');
    expect(await readTopic(cluster, 'one', 'read_committed', [0])).toEqual([]);
    await cluster.settle(cluster.stop());
  });

  it('answers EndTxn once PrepareCommit is durable, before the markers land; the next transaction waits (CONCURRENT_TRANSACTIONS) and then goes on (behaviour 18)', async () => {
    const cluster = await cluster3(706, { one: 1 });
    const producer = cluster.producer({ transactionalId: 'prompt' });
    await cluster.settle(producer.initTransactions());
    producer.beginTransaction();
    await cluster.settle(producer.send('one', { value: 'v1' }));
    // Markers from the coordinator to the partition leader are held back 3 s.
    const coordinator = coordinatorOf(cluster, 'prompt');
    const leader = newestBrokerImage(cluster)?.topics.one?.partitions[0]?.leader as number;
    const concurrent: string[] = [];
    cluster.network.observe((e) => {
      if (e.type === 'delivered' && e.message.type === 'addPartitionsToTxn.response' && e.message.error === 'CONCURRENT_TRANSACTIONS') concurrent.push('CONCURRENT_TRANSACTIONS');
    });
    // (Markers travel through the network even when the coordinator leads the partition itself.)
    cluster.network.setLinkFaults(`broker:${coordinator}`, `broker:${leader}`, { delayMs: { min: 3_000, max: 3_000 }, types: ['writeTxnMarkers.request'] });
    const committedAt = cluster.clock.now();
    await cluster.settle(producer.commitTransaction());
    expect(cluster.clock.now() - committedAt).toBeLessThan(3_000);
    const lso = await cluster.settle(cluster.admin().listOffsets('one', 'latest', { isolationLevel: 'read_committed' }));
    expect(lso[0]?.offset).toBe(0n);
    producer.beginTransaction();
    await cluster.settle(producer.send('one', { value: 'v2' }));
    await cluster.settle(producer.commitTransaction());
    expect(concurrent.length).toBeGreaterThan(0);
    cluster.network.setLinkFaults(`broker:${coordinator}`, `broker:${leader}`, undefined);
    // The second commit's markers are still on their (delayed) way.
    await cluster.runFor(4_000);
    expect(values(await readTopic(cluster, 'one', 'read_committed', [0]))).toEqual(['v1', 'v2']);
    await cluster.settle(cluster.stop());
  });

  it('commits consumer offsets with the transaction: pending offsets are UNSTABLE for require_stable readers, then committed (behaviour 22)', async () => {
    const cluster = await cluster3(707, { in: 1, out: 1 });
    await cluster.settle(cluster.producer().send('in', [{ value: 'a' }, { value: 'b' }, { value: 'c' }]));
    const consumer = cluster.consumer({ groupId: 'pipe', autoOffsetReset: 'earliest', enableAutoCommit: false, isolationLevel: 'read_committed' });
    await cluster.settle(consumer.subscribe(['in']));
    const got = [];
    while (got.length < 3) got.push(...(await cluster.settle(consumer.poll({ timeoutMs: 200 }))));
    const producer = cluster.producer({ transactionalId: 'pipe-0' });
    await cluster.settle(producer.initTransactions());
    producer.beginTransaction();
    await cluster.settle(producer.send('out', got.map((r) => ({ value: `out-${dec.decode(r.value as Uint8Array)}` }))));
    await cluster.settle(producer.sendOffsets([{ topic: 'in', partition: 0, offset: 3n }], consumer.groupMetadata()));
    // Before the commit, the coordinator answers require_stable fetches UNSTABLE_OFFSET_COMMIT: a
    // read_committed consumer waits instead of seeing an offset about to be replaced.
    const unstable: string[] = [];
    cluster.network.observe((e) => {
      if (e.type === 'delivered' && e.message.type === 'offsetFetch.response') for (const p of e.message.partitions as Array<{ error?: string }>) if (p.error !== undefined) unstable.push(p.error);
    });
    let committed: unknown;
    const waiting = consumer.committed([{ topic: 'in', partition: 0 }]).then((c) => (committed = c));
    await cluster.runFor(1_000);
    expect(committed).toBeUndefined();
    expect(unstable[0]).toBe('UNSTABLE_OFFSET_COMMIT');
    await cluster.settle(producer.commitTransaction());
    await cluster.settle(waiting);
    expect(committed).toEqual([{ topic: 'in', partition: 0, offset: 3n }]);
    expect(values(await readTopic(cluster, 'out', 'read_committed', [0]))).toEqual(['out-a', 'out-b', 'out-c']);
    // An aborted transaction's offsets never count.
    producer.beginTransaction();
    await cluster.settle(producer.sendOffsets([{ topic: 'in', partition: 0 }].map((tp) => ({ ...tp, offset: 99n })), consumer.groupMetadata()));
    await cluster.settle(producer.abortTransaction());
    await cluster.runFor(500);
    expect(await cluster.settle(consumer.committed([{ topic: 'in', partition: 0 }]))).toEqual([{ topic: 'in', partition: 0, offset: 3n }]);
    await cluster.settle(cluster.stop());
  });

  it('fences a zombie of an older group generation: its offsets are refused with ILLEGAL_GENERATION and the transaction must abort (KIP-447)', async () => {
    const cluster = await cluster3(708, { in: 1, out: 1 });
    const old = cluster.consumer({ groupId: 'g', autoOffsetReset: 'earliest', enableAutoCommit: false, isolationLevel: 'read_committed' });
    await cluster.settle(old.subscribe(['in']));
    // poll(timeout) returns within its timeout: poll until the first rebalance has completed.
    for (let i = 0; i < 100 && old.assignment().length === 0; i++) await cluster.settle(old.poll({ timeoutMs: 200 }));
    const stale = { ...old.groupMetadata(), generationId: old.groupMetadata().generationId - 1 };
    const producer = cluster.producer({ transactionalId: 'zombie-pipe' });
    await cluster.settle(producer.initTransactions());
    producer.beginTransaction();
    await cluster.settle(producer.send('out', { value: 'zombie-output' }));
    const error = await rejection(cluster, producer.sendOffsets([{ topic: 'in', partition: 0, offset: 1n }], stale));
    expect((error as KafkaProtocolError).code).toBe('ILLEGAL_GENERATION');
    expect(producer.transactionPhase).toBe('abortableError');
    const commit = await rejection(cluster, producer.commitTransaction());
    expect((commit as KafkaProtocolError).code).toBe('TRANSACTION_ABORTABLE');
    await cluster.settle(producer.abortTransaction());
    expect(producer.transactionPhase).toBe('ready');
    expect(await readTopic(cluster, 'out', 'read_committed', [0])).toEqual([]);
    await cluster.settle(cluster.stop());
  });

  it('a commit survives a coordinator crash right after it was answered: the new coordinator writes the markers', async () => {
    const cluster = await cluster3(709);
    const producer = cluster.producer({ transactionalId: 'survivor' });
    await cluster.settle(producer.initTransactions());
    producer.beginTransaction();
    await cluster.settle(producer.send('t', [{ key: 'a', value: 's1' }, { key: 'b', value: 's2' }, { key: 'c', value: 's3' }]));
    const coordinator = coordinatorOf(cluster, 'survivor');
    // Lose every marker the coordinator sends, so the commit point is written but no marker lands.
    for (const id of cluster.brokerIds) cluster.network.setLinkFaults(`broker:${coordinator}`, `broker:${id}`, { dropRate: 1, types: ['writeTxnMarkers.request'] });
    await cluster.settle(producer.commitTransaction());
    cluster.broker(coordinator).crash();
    for (const id of cluster.brokerIds) cluster.network.setLinkFaults(`broker:${coordinator}`, `broker:${id}`, undefined);
    await cluster.runFor(5_000);
    expect(values(await readTopic(cluster, 't', 'read_committed'))).toEqual(['s1', 's2', 's3']);
    await cluster.settle(cluster.broker(coordinator).restart());
    // The producer carries on with the new coordinator.
    await cluster.settle(producer.transaction(async (tx) => tx.send('t', { key: 'a', value: 's4' })));
    expect(values(await readTopic(cluster, 't', 'read_committed'))).toEqual(['s1', 's2', 's3', 's4']);
    await cluster.settle(cluster.stop());
  });

  it('producer.transaction(fn) commits what fn sent when it resolves and aborts it when it throws', async () => {
    const cluster = await cluster3(710);
    const producer = cluster.producer({ transactionalId: 'fn' });
    const result = await cluster.settle(producer.transaction(async (tx) => {
      await tx.send('t', { key: 'k', value: 'kept' });
      return 42;
    }));
    expect(result).toBe(42);
    const error = await rejection(cluster, producer.transaction(async (tx) => {
      await tx.send('t', { key: 'k', value: 'dropped' });
      throw new Error('business rule failed');
    }));
    expect((error as Error).message).toBe('business rule failed');
    expect(producer.transactionPhase).toBe('ready');
    expect(values(await readTopic(cluster, 't', 'read_committed'))).toEqual(['kept']);
    await cluster.settle(cluster.stop());
  });

  it('refuses transactional calls out of order with a clear error, and non-transactional producers', async () => {
    const cluster = await cluster3(711);
    const producer = cluster.producer({ transactionalId: 'careful' });
    expect(() => producer.beginTransaction()).toThrow(TransactionStateError);
    expect(() => producer.beginTransaction()).toThrow(/call initTransactions\(\) first/);
    await expect(producer.send('t', { value: 'x' })).rejects.toThrow(/call initTransactions\(\) and beginTransaction\(\) first/);
    await cluster.settle(producer.initTransactions());
    await expect(producer.send('t', { value: 'x' })).rejects.toThrow(TransactionStateError);
    await expect(producer.commitTransaction()).rejects.toThrow(/call beginTransaction\(\) first/);
    producer.beginTransaction();
    expect(() => producer.beginTransaction()).toThrow(/commit or abort the current transaction first/);
    await expect(producer.initTransactions()).rejects.toThrow(TransactionStateError);
    await cluster.settle(producer.abortTransaction());
    const plain = cluster.producer();
    expect(() => plain.beginTransaction()).toThrow(InvalidArgumentError);
    expect(() => cluster.producer({ transactionalId: 'x', idempotent: false })).toThrow(/transactional producer is idempotent/);
    expect(() => cluster.producer({ transactionalId: 'x', acks: 1 })).toThrow(/acks='all'/);
    expect(() => cluster.producer({ transactionalId: '' })).toThrow(InvalidArgumentError);
    const tooLong = cluster.producer({ transactionalId: 'greedy', transactionTimeoutMs: 3_600_000 });
    const error = await rejection(cluster, tooLong.initTransactions());
    expect((error as KafkaProtocolError).code).toBe('INVALID_TRANSACTION_TIMEOUT');
    await cluster.settle(cluster.stop());
  });
});
