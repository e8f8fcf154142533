/**
 * Seeded transactional simulations (kafka-anchor.md §3, §3.7; §7 behaviours 19, 20, 21, 23),
 * recorded as Jepsen-style histories and judged by test/helpers/txnHistories.ts. See
 * test/sim/txnSim.ts for the workload, the nemesis and the KAFKA-17754 scenario.
 *
 * `SIM_SEEDS=n` runs more seeds, `SIM_SEED=s` replays one (in both scenarios);
 * `npm run soak -- <seeds> [firstSeed] --txn` (or `--txn-reorder`) runs many.
 */
import { describe, expect, it } from 'vitest';
import { allFindings, checkTxnHistory } from '../../helpers/txnHistories.ts';
import type { TxnEvent, TxnInfo } from '../../helpers/txnHistories.ts';
import { coordinatorOf, runTxnSim } from '../../sim/txnSim.ts';
import type { TxnSimResult } from '../../sim/txnSim.ts';
import { createTestCluster } from '../../../src/testing.ts';
import type { TestCluster } from '../../../src/testing.ts';
import { newestBrokerImage } from '../../helpers/cluster.ts';

const COUNT = Number(process.env.SIM_SEEDS ?? 10);
/**
 * Seeds kept for what they once found. 3004: a COMMIT marker for `__consumer_offsets` written but
 * not replicated within the request timeout was retried, the retry was refused as a stale marker,
 * and the group's transactional offsets stayed pending for good. 3049: a replica elected leader
 * that wrote nothing kept that epoch in its cache as a follower; every fetch then reported a
 * divergence that its no-op truncation never resolved, it never rejoined the ISR, and markers were
 * refused with NOT_ENOUGH_REPLICAS forever. 8352: a marker request failed for one partition while
 * another request of the same round was still out; the retry timer left the resend to that request,
 * whose success then sent nothing, so the transaction stayed in PrepareCommit. 20110: the request
 * creating __consumer_offsets went to a controller that crashed; the broker never asked again, and
 * transactions that had added an offsets partition waited in PrepareAbort for its leader forever.
 * 40292 (an aborted read): a new coordinator loaded an AddPartitionsToTxn record its predecessor had
 * written but never got replicated, answered the producer's retry "already added" from it, and a
 * later failover cut the record off, so the abort sent no marker to the partition the producer
 * had written to.
 */
const REGRESSION_SEEDS = [3004, 3049, 8352, 20110, 40292];
const SEEDS = process.env.SIM_SEED !== undefined ? [Number(process.env.SIM_SEED)] : [...Array.from({ length: COUNT }, (_, i) => i + 1), ...REGRESSION_SEEDS];
const REORDER_SEEDS = process.env.SIM_SEED !== undefined ? [Number(process.env.SIM_SEED)] : Array.from({ length: Math.max(3, Math.ceil(COUNT / 2)) }, (_, i) => 101 + i);

describe('transactional simulation: producers that commit, abort and crash, read_committed and read_uncommitted consumers, a nemesis', () => {
  for (const seed of SEEDS) {
    const controllers = seed % 2 === 0 ? 3 : 1;
    it(`seed ${seed}, ${controllers} controller(s): no aborted read, lost or torn write, duplicate, inconsistent offset, precommitted read, poll skip, offset regression or hanging transaction`, async () => {
      const { check, findings, summary, faults } = await runTxnSim({ seed, controllers });
      if (process.env.SIM_VERBOSE) console.log(summary);
      expect(findings, summary).toEqual([]);
      // Every check had something to judge: aborted and committed multi-partition transactions,
      // offsets observed twice, transactional values read with read_committed, ordered offset commits.
      expect(check.vacuous, summary).toEqual([]);
      expect(check.stats.outcomes.committed, summary).toBeGreaterThan(10);
      expect(check.stats.outcomes.aborted, summary).toBeGreaterThan(3);
      // Producers crashed (abandoned mid-transaction) and the nemesis did something.
      expect(check.stats.outcomes.unknown, summary).toBeGreaterThan(0);
      expect(faults.filter((f) => !f.startsWith('crash-producer')).length, summary).toBeGreaterThan(0);
    });
  }
});

/**
 * KAFKA-17754 (Jepsen, Bufstream 0.1.0; behaviour 23): EndTxn, AddPartitionsToTxn, Produce and
 * WriteTxnMarkers requests are delayed past the request timeouts and overtake each other, so a
 * client's retry succeeds and the producer moves on while the original request is still on the
 * wire. With transaction version 2 every transaction has its own epoch, so the late commit, abort
 * or produce of transaction N is fenced instead of landing in transaction N + 1.
 */
describe('KAFKA-17754: delayed and reordered EndTxn, AddPartitionsToTxn, Produce and WriteTxnMarkers never land in the next transaction', () => {
  for (const seed of REORDER_SEEDS) {
    it(`seed ${seed}: late requests of earlier transactions were delivered, and no transaction is torn, read aborted or lost`, async () => {
      const result = await runTxnSim({ seed, scenario: 'reorder' });
      expectNoKafka17754(result);
    });
  }
});

function expectNoKafka17754({ check, findings, late, summary }: TxnSimResult): void {
  if (process.env.SIM_VERBOSE) console.log(summary);
  const lateCommits = late.counts['endTxn.request'] ?? 0;
  const lateProduces = late.counts['produce.request'] ?? 0;
  // Otherwise the run proves nothing: some commit/abort and some produce of an earlier
  // transaction must have reached the broker after its producer began a newer one.
  expect(lateCommits, `${summary}\n${late.examples.join('\n')}`).toBeGreaterThan(0);
  expect(lateProduces, `${summary}\n${late.examples.join('\n')}`).toBeGreaterThan(0);
  expect(check.anomalies.tornTransactions, summary).toEqual([]);
  expect(check.anomalies.abortedReads, summary).toEqual([]);
  expect(check.anomalies.lostCommittedWrites, summary).toEqual([]);
  expect(findings, summary).toEqual([]);
  expect(check.vacuous.filter((v) => /^(abortedReads|lostCommittedWrites|tornTransactions)/.test(v)), summary).toEqual([]);
}

/**
 * The assertions above can fail: the same checker, on a history recorded by the simulation and then
 * doctored the way the bugs it hunts would change it, reports each anomaly.
 */
describe('the transactional simulation checker is not blind', () => {
  it('reports a lost write and a torn transaction, an aborted read and an offset carried by an aborted transaction in a doctored recorded history', async () => {
    const { events, findings, summary } = await runTxnSim({ seed: 3, faults: 2, transactions: 10 });
    expect(findings, summary).toEqual([]);
    const ix = checkTxnHistory(events).index;

    // A committed multi-partition transaction loses one write from the final state.
    const committed = [...ix.txns.values()].find((t) => t.outcome === 'committed' && new Set(t.writes.map((w) => `${w.topic}-${w.partition}`)).size > 1) as TxnInfo;
    const lost = committed.writes[0]!;
    const withoutWrite = events.map((e): TxnEvent => (e.type === 'finalRead' && e.topic === lost.topic && e.partition === lost.partition ? { ...e, records: e.records.filter((r) => r.value !== lost.value) } : e));
    const a = checkTxnHistory(withoutWrite).anomalies;
    expect(a.lostCommittedWrites.join('\n')).toContain(`"${lost.value}"`);
    expect(a.tornTransactions.join('\n')).toContain(`transaction ${committed.txn} `);

    // A read_committed poll returns a value of an aborted transaction (G1a).
    const aborted = [...ix.txns.values()].find((t) => t.outcome === 'aborted' && t.writes.some((w) => w.ack !== undefined)) as TxnInfo;
    const leaked = aborted.writes.find((w) => w.ack !== undefined)!;
    const pollAt = events.findIndex((e, i) => i > leaked.ack!.at && e.type === 'poll' && e.isolation === 'read_committed');
    const withAbortedRead = events.map((e, i): TxnEvent => (i === pollAt && e.type === 'poll' ? { ...e, records: [...e.records, { topic: leaked.topic, partition: leaked.partition!, offset: leaked.ack!.offset, value: leaked.value }] } : e));
    expect(checkTxnHistory(withAbortedRead).anomalies.abortedReads.join('\n')).toContain(`"${leaked.value}"`);

    // The group's final offset is one only an aborted transaction carried.
    const carrier = [...ix.txns.values()].find((t) => t.fate === 'aborted' && t.offsets.length > 0) as TxnInfo;
    const offset = carrier.offsets[0]!;
    const withAbortedOffset = events.map((e): TxnEvent => (e.type === 'finalOffsets' && e.group === offset.group ? { ...e, offsets: [...e.offsets.filter((o) => o.topic !== offset.topic || o.partition !== offset.partition), { topic: offset.topic, partition: offset.partition, offset: offset.offset }] } : e));
    const offsets = checkTxnHistory(withAbortedOffset).anomalies.finalGroupOffsets;
    expect(offsets.join('\n')).toContain(`offset ${offset.offset}`);
    expect(allFindings(checkTxnHistory(events).anomalies)).toEqual([]);
  });
});

/**
 * Two anomalies the simulations found, kept as scripted regressions (they do not depend on one
 * seed's interleaving). Both are late requests of an ended transaction that the partition log
 * must refuse, as Kafka's ProducerAppendInfo does.
 */
describe('late requests of an ended transaction, found by the transactional simulations', () => {
  const dec = new TextDecoder();
  async function cluster3(seed: number, topics: Record<string, number>): Promise<TestCluster> {
    const cluster = await createTestCluster({ seed, brokers: 3, brokerConfig: { offsetsTopicNumPartitions: 3, transactionStateLogNumPartitions: 3 } });
    for (const [name, partitions] of Object.entries(topics)) await cluster.settle(cluster.admin().createTopic(name, { partitions, replicationFactor: 3, config: { 'min.insync.replicas': 2 } }));
    return cluster;
  }
  async function readCommitted(cluster: TestCluster, topic: string): Promise<string[]> {
    const consumer = cluster.consumer({ autoOffsetReset: 'earliest', enableAutoCommit: false, isolationLevel: 'read_committed' });
    consumer.assign([{ topic, partition: 0 }]);
    const got: string[] = [];
    for (let i = 0; i < 10; i++) for (const r of await cluster.settle(consumer.poll({ timeoutMs: 100 }))) got.push(dec.decode(r.value as Uint8Array));
    await cluster.settle(consumer.close());
    return got;
  }

  /**
   * A WriteTxnMarkers request delayed past the coordinator's 5 s marker request timeout is sent
   * again; the retry completes the transaction, and the producer's next transaction runs at the
   * epoch that marker carries (transaction version 2 writes markers with the bumped epoch). When
   * the original marker finally arrives it must be refused (its epoch is not newer than the
   * producer's), or it would end the next transaction early and commit what that one aborts.
   * Found by the KAFKA-17754 scenario (reorder seeds 64, 65 and 74 at the time).
   */
  it('a duplicate WriteTxnMarkers delivered late does not end the next transaction', async () => {
    const cluster = await cluster3(811, { one: 1 });
    const producer = cluster.producer({ transactionalId: 'late-marker' });
    await cluster.settle(producer.initTransactions());
    producer.beginTransaction();
    await cluster.settle(producer.send('one', { value: 'committed-1' }));
    const coordinator = coordinatorOf(cluster, 'late-marker');
    const leader = newestBrokerImage(cluster)?.topics.one?.partitions[0]?.leader as number;
    // The first marker request is held 6 s; the coordinator's retry after 5 s goes through.
    cluster.network.setLinkFaults(`broker:${coordinator}`, `broker:${leader}`, { delayMs: { min: 6_000, max: 6_000 }, reorder: true, types: ['writeTxnMarkers.request'] });
    await cluster.settle(producer.commitTransaction());
    await cluster.runFor(50);
    cluster.network.setLinkFaults(`broker:${coordinator}`, `broker:${leader}`, undefined);
    producer.beginTransaction();
    // Waits (CONCURRENT_TRANSACTIONS) until the retried marker completes the first transaction.
    await cluster.settle(producer.send('one', { value: 'aborted-2' }));
    await cluster.runFor(2_000);
    await cluster.settle(producer.abortTransaction());
    await cluster.runFor(1_000);
    const read = await readCommitted(cluster, 'one');
    await cluster.settle(cluster.stop());
    expect(read).toEqual(['committed-1']);
  });

  /**
   * A TxnOffsetCommit delivered after its transaction aborted (the ABORT marker with the bumped
   * epoch already in __consumer_offsets) must be refused with INVALID_PRODUCER_EPOCH, as Kafka
   * checks every data batch's epoch; kept pending under the producer id, the next COMMIT of that
   * producer would commit an offset only an aborted transaction carried. Found by the nemesis
   * simulation after coordinator failovers (seeds 111 and 121 at the time).
   */
  it('a TxnOffsetCommit delivered after its transaction aborted is refused, not committed by the next transaction', async () => {
    const cluster = await cluster3(812, { in: 2, out: 1 });
    const producer = cluster.producer({ transactionalId: 'late-offsets', clientId: 'late-offsets', requestTimeoutMs: 2_000 });
    const group = { groupId: 'late-group', generationId: -1, memberId: '', groupInstanceId: undefined };
    await cluster.settle(producer.initTransactions());
    producer.beginTransaction();
    await cluster.settle(producer.send('out', { value: 'x' }));
    // The first TxnOffsetCommit is held 15 s; the client times out after 2 s and its retry goes through.
    const links = cluster.brokerIds.map((id) => `broker:${id}` as const);
    for (const to of links) cluster.network.setLinkFaults('client:late-offsets', to, { delayMs: { min: 15_000, max: 15_000 }, reorder: true, types: ['txnOffsetCommit.request'] });
    const sending = producer.sendOffsets([{ topic: 'in', partition: 0, offset: 5n }], group);
    // (AddOffsetsToTxn and FindCoordinator come first; the TxnOffsetCommit leaves within a second.)
    await cluster.runFor(1_500);
    for (const to of links) cluster.network.setLinkFaults('client:late-offsets', to, undefined);
    await cluster.settle(sending);
    await cluster.settle(producer.abortTransaction());
    // The held request lands after the abort; then a committed transaction carries offsets for another partition.
    await cluster.runFor(15_000);
    producer.beginTransaction();
    await cluster.settle(producer.send('out', { value: 'y' }));
    await cluster.settle(producer.sendOffsets([{ topic: 'in', partition: 1, offset: 7n }], group));
    await cluster.settle(producer.commitTransaction());
    await cluster.runFor(1_000);
    const checker = cluster.consumer({ groupId: 'late-group', enableAutoCommit: false, isolationLevel: 'read_committed', defaultApiTimeoutMs: 10_000 });
    const committed = await cluster.settle(checker.committed([{ topic: 'in', partition: 0 }, { topic: 'in', partition: 1 }]));
    await cluster.settle(cluster.stop());
    expect(committed).toEqual([{ topic: 'in', partition: 0, offset: -1n }, { topic: 'in', partition: 1, offset: 7n }]);
  });
});
