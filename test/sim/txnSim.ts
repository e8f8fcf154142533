/**
 * The transactional simulation (kafka-anchor.md §3, §3.7; §7 behaviours 19, 20, 21, 23): a
 * Jepsen-style queue workload over Kafka transactions on a 3-broker cluster, recorded in a
 * {@link TxnHistoryRecorder} and judged by {@link checkTxnHistory}.
 *
 * Workload. Two topics of 3 partitions, RF=3, min.insync.replicas=2. Two or three transactional
 * producers (distinct transactional ids) loop: begin, send 1-5 uniquely valued records to random
 * partitions of both topics, sometimes commit consumer offsets for their group
 * (sendOffsetsToTransaction), then commit (~70 %) or abort. A fatal error (fenced) replaces the
 * instance; an abortable one aborts and goes on. Now and then a producer "crashes": the instance
 * is abandoned mid-transaction (before or during its commit) and never touched again, and a new
 * instance with the same transactional id fences it (initTransactions). One or two read_committed
 * consumers and one read_uncommitted consumer, assigned every partition, poll throughout.
 *
 * Scenarios.
 * - `nemesis`: seeded faults one at a time, each healed before the next: crashes of a data
 *   partition's leader, of a transactional id's coordinator and of the active controller (3-voter
 *   seeds), an isolated broker, a slow lossy network, delayed WriteTxnMarkers.
 * - `reorder` (KAFKA-17754, behaviour 23): no crash; EndTxn, AddPartitionsToTxn, Produce and
 *   WriteTxnMarkers requests are delayed past the clients' and the coordinator's request timeouts
 *   and may overtake each other, so retried requests succeed while the originals are still on the
 *   wire and land after the producer has moved on to its next transaction. The harness watches the
 *   network for those late deliveries (a request carrying the producer epoch of a transaction
 *   older than the newest one its producer began), so a run that proves nothing is visible.
 *
 * End. Heal, restart everything, let every transaction finish (abandoned ones time out after
 * transaction.timeout.ms = 10 s), wait until every partition's last stable offset reaches its high
 * watermark (a partition that never gets there holds a hanging transaction), read every partition
 * from the start with read_committed, fetch every group's committed offsets, and check.
 */
import { sleep } from '../../src/clock.ts';
import type { Consumer } from '../../src/clients/consumer/consumer.ts';
import type { Producer } from '../../src/clients/producer/producer.ts';
import { readBatchHeader } from '../../src/record/recordBatch.ts';
import type { Random } from '../../src/random.ts';
import { createRandom } from '../../src/random.ts';
import type { TestCluster } from '../../src/testing.ts';
import { createTestCluster } from '../../src/testing.ts';
import { transactionStatePartitionFor } from '../../src/transactions/transactionLog.ts';
import type { Message, NodeId } from '../../src/transport/transport.ts';
import { newestBrokerImage } from '../helpers/cluster.ts';
import { allFindings, checkTxnHistory, describeStats, TxnHistoryRecorder } from '../helpers/txnHistories.ts';
import type { FinalRecord, GroupOffset, IsolationLevel, TxnCheckResult, TxnEvent } from '../helpers/txnHistories.ts';

const dec = new TextDecoder();

/** Which faults the run injects. */
export type TxnSimScenario = 'nemesis' | 'reorder';

/** Options of {@link runTxnSim}. */
export interface TxnSimOptions {
  readonly seed: number;
  /** Default `nemesis`. */
  readonly scenario?: TxnSimScenario;
  /** Controller quorum size (default 3 on even seeds, 1 on odd ones). */
  readonly controllers?: number;
  /** Transactional producers (default 2 or 3, from the seed). */
  readonly producers?: number;
  /** Transactions each producer runs at least (default 14); it goes on while the nemesis is at work. */
  readonly transactions?: number;
  /** Faults the nemesis injects (default 5; 0 runs fault-free). Ignored by `reorder`. */
  readonly faults?: number;
}

/** A request of an older transaction delivered after its producer began a newer one. */
export interface LateDeliveries {
  /** Counts by message type. */
  readonly counts: Readonly<Record<string, number>>;
  /** A few of them, described. */
  readonly examples: readonly string[];
}

/** Result of one simulated run. */
export interface TxnSimResult {
  readonly seed: number;
  readonly check: TxnCheckResult;
  /** Every anomaly the checker reported, plus hanging transactions; empty for a correct run. */
  readonly findings: string[];
  /** Partitions whose last stable offset never reached the high watermark after healing. */
  readonly hanging: string[];
  readonly late: LateDeliveries;
  readonly faults: readonly string[];
  readonly summary: string;
  readonly events: readonly TxnEvent[];
}

export const TOPICS = ['txn-a', 'txn-b'] as const;
const PARTITIONS = 3;
const TXN_TIMEOUT_MS = 10_000;
/** The request types the `reorder` scenario delays (KAFKA-17754). */
export const REORDERED_TYPES = ['endTxn.request', 'addPartitionsToTxn.request', 'produce.request', 'writeTxnMarkers.request'] as const;
const ALL_PARTITIONS = TOPICS.flatMap((topic) => Array.from({ length: PARTITIONS }, (_, partition) => ({ topic, partition })));

/** Runs one seeded transactional simulation and checks its history. */
export async function runTxnSim(options: TxnSimOptions): Promise<TxnSimResult> {
  const { seed } = options;
  const scenario = options.scenario ?? 'nemesis';
  const controllers = options.controllers ?? (seed % 2 === 0 ? 3 : 1);
  const cluster = await createTestCluster({ seed, brokers: 3, controllers, brokerConfig: { offsetsTopicNumPartitions: 3, transactionStateLogNumPartitions: 3 } });
  const random = createRandom(seed ^ 0x7a3c51);
  const producerCount = options.producers ?? 2 + random.int(2);
  const minTransactions = options.transactions ?? 14;
  const rec = new TxnHistoryRecorder();
  const faults: string[] = [];
  const clientNodes: NodeId[] = [];
  const epochs = watchEpochs(cluster);
  const admin = cluster.admin({ clientId: 'sim-admin' });
  for (const topic of TOPICS) await cluster.settle(admin.createTopic(topic, { partitions: PARTITIONS, replicationFactor: 3, config: { 'min.insync.replicas': 2 } }));

  const reorder = scenario === 'reorder';
  let nemesisDone = false;
  const deadline = cluster.clock.now() + 900_000;
  /** What each producer is doing, for the message when a run gets stuck. */
  const doing = new Map<number, string>();

  // ------------------------------------------------------------------ producers
  const runProducer = async (index: number, r: Random): Promise<void> => {
    const transactionalId = `txn-sim-${index}`;
    const group = `group-${index}`;
    const nextOffsets = new Map<number, bigint>();
    let instances = 0;
    let label = '';
    // One or two crashes, at transactions drawn up front so they spread over the run.
    const crashAt = new Set(Array.from({ length: 1 + r.int(2) }, () => 1 + r.int(minTransactions)));
    /** A new instance, initialized: it fences every earlier one and aborts what they left open. */
    const fresh = async (): Promise<Producer> => {
      for (;;) {
        const clientId = `tx${index}-${instances++}`;
        label = clientId;
        clientNodes.push(`client:${clientId}`);
        const producer = cluster.producer({
          clientId,
          transactionalId,
          transactionTimeoutMs: TXN_TIMEOUT_MS,
          // Under `reorder`, requests are delayed past this timeout, so clients retry while the originals are on the wire.
          requestTimeoutMs: reorder ? 1_000 : 5_000,
          deliveryTimeoutMs: 30_000,
          maxBlockMs: 30_000,
          lingerMs: r.int(3) * 5,
        });
        for (;;) {
          doing.set(index, `initTransactions of ${clientId} since t=${cluster.clock.now()}`);
          if (cluster.clock.now() > deadline) throw new Error(`[seed=${seed}] producer ${clientId} could not initialize transactions before the deadline`);
          try {
            await producer.initTransactions();
            return producer;
          } catch {
            if (producer.transactionPhase === 'fatalError') break;
            await sleep(cluster.clock, 200 + r.int(300));
          }
        }
      }
    };
    let producer = await fresh();
    for (let n = 0; n < minTransactions * 2 && (n < minTransactions || !nemesisDone); n++) {
      // A late answer can fence an instance between transactions: replace it before beginning.
      if (producer.transactionPhase !== 'ready') producer = await fresh();
      const txn = `p${index}.t${n}`;
      rec.begin(txn, label);
      producer.beginTransaction();
      epochs.began(`client:${label}`);
      doing.set(index, `sends of ${txn} (${label}) since t=${cluster.clock.now()}`);
      const sends: Array<Promise<void>> = [];
      const awaitEach = r.next() < 0.3;
      const count = 1 + r.int(5);
      for (let j = 0; j < count && producer.transactionPhase === 'inTransaction'; j++) {
        const topic = r.pick(TOPICS);
        const partition = r.int(PARTITIONS);
        const key = `k${r.int(8)}`;
        const value = `${txn}.${j}`;
        rec.send({ producer: label, txn, key, value, topic, partition });
        const sent = producer.send(topic, { key, value, partition }).then(
          (m) => void rec.ack(value, m.offset, m.partition),
          // A failed send may or may not have been written: never claim it definitely was not.
          () => void rec.sendFailed(value, false),
        );
        sends.push(sent);
        if (awaitEach) await sent;
      }
      if (r.next() < 0.5 && producer.transactionPhase === 'inTransaction') {
        // Offsets only ever grow per group partition, so committed ones must end at the highest.
        // Two input partitions, so that commits of one group partition follow each other often.
        const offsets: GroupOffset[] = r.shuffle([0, 1]).slice(0, 1 + r.int(2)).map((partition) => {
          const offset = (nextOffsets.get(partition) ?? 0n) + 1n + BigInt(r.int(5));
          nextOffsets.set(partition, offset);
          return { topic: TOPICS[0], partition, offset };
        });
        rec.sendOffsets(txn, group, offsets);
        await producer.sendOffsets(offsets, { groupId: group, generationId: -1, memberId: '', groupInstanceId: undefined }).catch(() => undefined);
      }
      const crash = crashAt.has(n) ? (r.next() < 0.5 ? 'before-end' : 'during-commit') : undefined;
      if (crash === 'before-end') {
        // The process dies mid-transaction: nobody asks for a commit, so the coordinator must abort it.
        rec.outcome(txn, 'unknown');
        faults.push(`crash-producer(${label}, open)`);
        producer = await fresh();
        continue;
      }
      if (!awaitEach && r.next() < 0.5) await Promise.all(sends);
      const abort = async (): Promise<void> => {
        rec.endInvoked(txn, 'abort');
        doing.set(index, `abort of ${txn} (${label}) since t=${cluster.clock.now()}`);
        try {
          await producer.abortTransaction();
          rec.outcome(txn, 'aborted');
        } catch {
          rec.outcome(txn, 'unknown');
          producer = await fresh();
        }
      };
      if (crash === 'during-commit' || r.next() < 0.7) {
        rec.endInvoked(txn, 'commit');
        doing.set(index, `commit of ${txn} (${label}) since t=${cluster.clock.now()}`);
        const committing = producer.commitTransaction();
        if (crash === 'during-commit') {
          // The process dies while its commit is under way: it may or may not have committed.
          committing.catch(() => undefined);
          await sleep(cluster.clock, r.int(40));
          rec.outcome(txn, 'unknown');
          faults.push(`crash-producer(${label}, committing)`);
          producer = await fresh();
          continue;
        }
        try {
          await committing;
          rec.outcome(txn, 'committed');
        } catch {
          if (producer.transactionPhase === 'abortableError') await abort();
          else {
            // Fenced (or the coordinator timed the transaction out): its fate shows in the final state.
            rec.outcome(txn, 'unknown');
            producer = await fresh();
          }
        }
      } else await abort();
      await sleep(cluster.clock, 50 + r.int(450));
    }
  };

  // ------------------------------------------------------------------ consumers
  let reading = true;
  const readers: Array<{ name: string; isolation: IsolationLevel }> = [
    ...Array.from({ length: 1 + random.int(2) }, (_, k) => ({ name: `rc${k}`, isolation: 'read_committed' as const })),
    { name: 'ru0', isolation: 'read_uncommitted' },
  ];
  const readLoop = async (name: string, isolation: IsolationLevel): Promise<void> => {
    clientNodes.push(`client:${name}`);
    const consumer: Consumer = cluster.consumer({ clientId: name, autoOffsetReset: 'earliest', enableAutoCommit: false, isolationLevel: isolation, requestTimeoutMs: 5_000 });
    consumer.assign(ALL_PARTITIONS);
    while (reading) {
      const records = await consumer.poll({ timeoutMs: 300 }).catch(() => undefined);
      // A failed poll leaves the position as it was; pause so a failing broker cannot spin the loop.
      if (records === undefined) await sleep(cluster.clock, 100);
      if (records === undefined || records.length === 0) continue;
      rec.poll({ consumer: name, session: 0, isolation, records: records.map((c) => ({ topic: c.topic, partition: c.partition, offset: c.offset, value: dec.decode(c.value as Uint8Array) })) });
    }
    await consumer.close();
  };

  // ------------------------------------------------------------------ run
  const reads = readers.map((c) => readLoop(c.name, c.isolation));
  let producing = true;
  const nemesis = reorder ? runReorder(cluster, random.fork(), () => producing, faults) : runNemesis(cluster, random.fork(), options.faults ?? 5, controllers, producerCount, clientNodes, faults);
  if (reorder) nemesisDone = true;
  else void nemesis.then(() => (nemesisDone = true));
  const producers = Promise.all(Array.from({ length: producerCount }, (_, i) => runProducer(i, random.fork()))).finally(() => (producing = false));
  await cluster.settle(Promise.all([producers, nemesis]), { maxSimulatedMs: 900_000 }).catch((e: unknown) => {
    throw new Error(`${e instanceof Error ? e.message : String(e)}; producers: ${[...doing].map(([i, d]) => `p${i}: ${d}`).join('; ')}; faults: ${faults.join(', ')}`);
  });

  // ------------------------------------------------------------------ heal and settle
  cluster.network.heal();
  cluster.network.setFaults({});
  for (const a of cluster.brokerIds) for (const b of cluster.brokerIds) cluster.network.setLinkFaults(`broker:${a}`, `broker:${b}`, undefined);
  for (const id of cluster.controllerIds) await restartController(cluster, id);
  for (const id of cluster.brokerIds) if (!cluster.broker(id).running) await cluster.settle(cluster.broker(id).restart());
  // Abandoned transactions time out (transaction.timeout.ms plus one cleanup interval), markers land.
  await cluster.runFor(TXN_TIMEOUT_MS + 10_000 + 2_000);
  reading = false;
  await cluster.settle(Promise.all(reads), { maxSimulatedMs: 60_000 });
  const hanging = await waitForStableEnds(cluster, admin);

  // ------------------------------------------------------------------ final state
  const reader = cluster.consumer({ clientId: 'final-reader', autoOffsetReset: 'earliest', enableAutoCommit: false, isolationLevel: 'read_committed' });
  reader.assign(ALL_PARTITIONS);
  const ends = new Map<string, bigint>();
  for (const topic of TOPICS) for (const e of await cluster.settle(admin.listOffsets(topic, 'latest', { isolationLevel: 'read_committed' }))) ends.set(`${topic}-${e.partition}`, e.offset);
  const finals = new Map<string, FinalRecord[]>(ALL_PARTITIONS.map((tp) => [`${tp.topic}-${tp.partition}`, []]));
  await cluster.settle(
    (async () => {
      for (;;) {
        for (const r of await reader.poll({ timeoutMs: 300 })) finals.get(`${r.topic}-${r.partition}`)?.push({ offset: r.offset, value: dec.decode(r.value as Uint8Array) });
        let done = true;
        for (const tp of ALL_PARTITIONS) if ((await reader.position(tp)) < (ends.get(`${tp.topic}-${tp.partition}`) ?? 0n)) done = false;
        if (done) return;
      }
    })(),
    { maxSimulatedMs: 120_000 },
  );
  for (const tp of ALL_PARTITIONS) rec.finalRead(tp.topic, tp.partition, finals.get(`${tp.topic}-${tp.partition}`) ?? []);
  for (let i = 0; i < producerCount; i++) {
    const group = `group-${i}`;
    const checker = cluster.consumer({ clientId: `offsets-${i}`, groupId: group, enableAutoCommit: false, isolationLevel: 'read_committed' });
    try {
      const committed = await cluster.settle(checker.committed([0, 1].map((partition) => ({ topic: TOPICS[0], partition }))), { maxSimulatedMs: 120_000 });
      rec.finalOffsets(group, committed.filter((c) => c.offset >= 0n).map((c) => ({ topic: c.topic, partition: c.partition, offset: c.offset })));
    } catch (e) {
      // Offsets still pending long after every transaction ended: a transaction hangs in __consumer_offsets.
      hanging.push(`hanging transactional offsets: group ${group}'s committed offsets stay unstable after every transaction ended or timed out (${e instanceof Error ? e.message : String(e)})`);
    }
  }

  const check = checkTxnHistory(rec.events);
  const findings = [...allFindings(check.anomalies), ...hanging];
  const late = epochs.late();
  const lateText = Object.entries(late.counts).map(([type, n]) => `${type.replace('.request', '')} ${n}`).join(', ');
  const summary = `[seed=${seed} ${scenario} controllers=${controllers} producers=${producerCount}] ${describeStats(check.stats)}; late deliveries: ${lateText || 'none'}; faults: ${faults.join(', ') || 'none'}`;
  await cluster.settle(cluster.stop());
  return { seed, check, findings, hanging, late, faults, summary, events: rec.events };
}

async function restartController(cluster: TestCluster, id: number): Promise<void> {
  const handle = cluster.controller(id);
  if (!handle.running) await cluster.settle(handle.restart());
}

/** Waits until every partition's last stable offset equals its high watermark; returns those that never got there. */
async function waitForStableEnds(cluster: TestCluster, admin: ReturnType<TestCluster['admin']>): Promise<string[]> {
  let unstable: string[] = [];
  for (let attempt = 0; attempt < 60; attempt++) {
    unstable = [];
    try {
      for (const topic of TOPICS) {
        const lso = await cluster.settle(admin.listOffsets(topic, 'latest', { isolationLevel: 'read_committed' }), { maxSimulatedMs: 30_000 });
        const hw = await cluster.settle(admin.listOffsets(topic, 'latest'), { maxSimulatedMs: 30_000 });
        for (const h of hw) {
          const l = lso.find((x) => x.partition === h.partition)?.offset;
          if (l !== h.offset) unstable.push(`hanging transaction: ${topic}-${h.partition} has last stable offset ${l} below its high watermark ${h.offset} long after every transaction ended or timed out`);
        }
      }
    } catch (e) {
      unstable = [`listOffsets failed after healing: ${e instanceof Error ? e.message : String(e)}`];
    }
    if (unstable.length === 0) return [];
    await cluster.runFor(2_000);
  }
  return unstable;
}

// ------------------------------------------------------------------ nemesis

function leaderOf(cluster: TestCluster, topic: string, partition: number): number {
  return newestBrokerImage(cluster)?.topics[topic]?.partitions[partition]?.leader ?? -1;
}

/** The broker leading the `__transaction_state` partition of a transactional id: its coordinator. */
export function coordinatorOf(cluster: TestCluster, transactionalId: string): number {
  const state = newestBrokerImage(cluster)?.topics.__transaction_state;
  if (state === undefined || state.partitions.length === 0) return -1;
  return state.partitions[transactionStatePartitionFor(transactionalId, state.partitions.length)]?.leader ?? -1;
}

/** Seeded faults, one after another, each healed before the next. */
async function runNemesis(cluster: TestCluster, random: Random, count: number, controllers: number, producers: number, clients: readonly NodeId[], log: string[]): Promise<void> {
  const brokers = cluster.brokerIds;
  const kinds = ['crash-leader', 'crash-coordinator', 'isolate-broker', 'slow-network', 'delay-markers', ...(controllers > 1 ? ['crash-controller'] : [])];
  await sleep(cluster.clock, 1_000 + random.int(2_000));
  for (let i = 0; i < count; i++) {
    const kind = random.pick(kinds);
    const downMs = 1_000 + random.int(10_000);
    switch (kind) {
      case 'crash-leader': {
        const tp = random.pick(ALL_PARTITIONS);
        const leader = leaderOf(cluster, tp.topic, tp.partition);
        if (leader < 0) break;
        log.push(`crash-leader(${tp.topic}-${tp.partition}: broker ${leader}, ${downMs} ms)`);
        cluster.broker(leader).crash();
        await sleep(cluster.clock, downMs);
        await cluster.broker(leader).restart();
        break;
      }
      case 'crash-coordinator': {
        const id = `txn-sim-${random.int(producers)}`;
        const coordinator = coordinatorOf(cluster, id);
        if (coordinator < 0) break;
        log.push(`crash-coordinator(${id}: broker ${coordinator}, ${downMs} ms)`);
        cluster.broker(coordinator).crash();
        await sleep(cluster.clock, downMs);
        await cluster.broker(coordinator).restart();
        break;
      }
      case 'isolate-broker': {
        const victim = random.pick(brokers);
        const fromClients = random.next() < 0.5;
        const others = [...brokers.filter((b) => b !== victim).map((b) => `broker:${b}` as const), ...cluster.controllerNodes, ...(fromClients ? clients : [])];
        const ms = 2_000 + random.int(15_000);
        log.push(`isolate-broker(${victim}${fromClients ? ', clients too' : ''}, ${ms} ms)`);
        cluster.network.isolate(`broker:${victim}`, others);
        await sleep(cluster.clock, ms);
        cluster.network.heal();
        break;
      }
      case 'slow-network': {
        const max = 20 + random.int(200);
        const dropRate = random.next() * 0.05;
        log.push(`slow-network(0-${max} ms, ${(dropRate * 100).toFixed(1)} % lost, ${downMs} ms)`);
        cluster.network.setFaults({ delayMs: { min: 0, max }, dropRate });
        await sleep(cluster.clock, downMs);
        cluster.network.setFaults({});
        break;
      }
      case 'delay-markers': {
        const max = 500 + random.int(4_000);
        log.push(`delay-markers(0-${max} ms, ${downMs} ms)`);
        cluster.network.setFaults({ delayMs: { min: 0, max }, types: ['writeTxnMarkers.request'] });
        await sleep(cluster.clock, downMs);
        cluster.network.setFaults({});
        break;
      }
      case 'crash-controller': {
        const active = cluster.activeControllerId() ?? 0;
        log.push(`crash-controller(${active}, ${downMs} ms)`);
        const handle = cluster.controller(active);
        handle.crash();
        await sleep(cluster.clock, downMs);
        await handle.restart();
        break;
      }
    }
    await sleep(cluster.clock, 1_000 + random.int(3_000));
  }
}

/**
 * KAFKA-17754's conditions, in bursts while the producers run: EndTxn, AddPartitionsToTxn and
 * Produce requests delayed up to 3 s (clients time out after 1 s and retry) and WriteTxnMarkers
 * up to 7 s (past the coordinator's 5 s marker request timeout, so some are sent twice), all free to
 * overtake each other. Requests sent between bursts overtake the delayed ones.
 */
async function runReorder(cluster: TestCluster, random: Random, producing: () => boolean, log: string[]): Promise<void> {
  const set = (on: boolean): void => {
    cluster.network.setFaults(on ? { delayMs: { min: 0, max: 3_000 }, reorder: true, types: REORDERED_TYPES.filter((t) => t !== 'writeTxnMarkers.request') } : {});
    for (const a of cluster.brokerIds) for (const b of cluster.brokerIds) cluster.network.setLinkFaults(`broker:${a}`, `broker:${b}`, on ? { delayMs: { min: 0, max: 7_000 }, reorder: true, types: ['writeTxnMarkers.request'] } : undefined);
  };
  let bursts = 0;
  while (producing()) {
    set(true);
    bursts++;
    await sleep(cluster.clock, 2_000 + random.int(6_000));
    set(false);
    await sleep(cluster.clock, 100 + random.int(900));
  }
  log.push(`reorder(${bursts} bursts; endTxn, addPartitionsToTxn, produce delayed 0-3 s; writeTxnMarkers 0-7 s)`);
}

// ------------------------------------------------------------------ late deliveries (KAFKA-17754)

interface EpochWatch {
  /** The producer on `client` begins a transaction now, with the identity it last received. */
  began(client: NodeId): void;
  late(): LateDeliveries;
}

/**
 * Watches producer identities on the network: the (producer id, epoch) each client last received
 * from InitProducerId or EndTxn, the newest epoch each producer id began a transaction with, and
 * every EndTxn, AddPartitionsToTxn, Produce or WriteTxnMarkers request delivered carrying the
 * epoch of an older transaction than that (with transaction version 2 each transaction has its own
 * epoch, and markers carry the epoch after the bump, so a marker of epoch e ends the transaction of
 * epoch e - 1).
 */
function watchEpochs(cluster: TestCluster): EpochWatch {
  const identity = new Map<NodeId, { producerId: bigint; producerEpoch: number }>();
  const begun = new Map<bigint, number>();
  const counts: Record<string, number> = {};
  const examples: string[] = [];
  const judge = (type: string, to: NodeId, producerId: bigint, txnEpoch: number): void => {
    const newest = begun.get(producerId);
    if (newest === undefined || txnEpoch >= newest) return;
    counts[type] = (counts[type] ?? 0) + 1;
    if (examples.length < 12) examples.push(`${type} of producer ${producerId} epoch ${txnEpoch} delivered to ${to} at t=${cluster.clock.now()}, after epoch ${newest} began`);
  };
  cluster.network.observe((e) => {
    if (e.type !== 'delivered') return;
    const m = e.message as Message & { producerId?: unknown; producerEpoch?: unknown; error?: unknown };
    switch (m.type) {
      case 'initProducerId.response':
      case 'endTxn.response': {
        if (m.error !== undefined || typeof m.producerId !== 'bigint' || typeof m.producerEpoch !== 'number') return;
        const known = identity.get(e.to);
        // Late answers to requests the client gave up on may arrive out of order: keep the newest.
        if (known === undefined || known.producerId !== m.producerId || m.producerEpoch > known.producerEpoch) identity.set(e.to, { producerId: m.producerId, producerEpoch: m.producerEpoch });
        return;
      }
      case 'endTxn.request':
      case 'addPartitionsToTxn.request':
        if (typeof m.producerId === 'bigint' && typeof m.producerEpoch === 'number') judge(m.type, e.to, m.producerId, m.producerEpoch);
        return;
      case 'writeTxnMarkers.request':
        if (typeof m.producerId === 'bigint' && typeof m.producerEpoch === 'number') judge(m.type, e.to, m.producerId, m.producerEpoch - 1);
        return;
      case 'produce.request':
        for (const p of (m.partitions as Array<{ records: Uint8Array }> | undefined) ?? []) {
          const h = readBatchHeader(p.records, 0);
          if (h.producerId >= 0n) judge(m.type, e.to, h.producerId, h.producerEpoch);
        }
        return;
    }
  });
  return {
    began(client) {
      const id = identity.get(client);
      if (id !== undefined && id.producerEpoch > (begun.get(id.producerId) ?? -1)) begun.set(id.producerId, id.producerEpoch);
    },
    late: () => ({ counts: { ...counts }, examples: [...examples] }),
  };
}
