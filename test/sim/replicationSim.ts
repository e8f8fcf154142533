/**
 * The replication simulation (issue: replication and high availability): RF=3 topics with
 * min.insync.replicas=2, producers with acks=all (or acks=1 to show its documented failure mode),
 * a consumer group committing as it reads, and a seeded nemesis that crashes leaders, followers
 * and (when the quorum has three voters) controllers, isolates leaders, delays and drops messages
 * and runs fast double failovers. After healing, a reader consumes everything and the checker
 * (kafka-anchor.md §3.7) reports every anomaly; the test suite and `npm run soak` both run it.
 */
import type { Consumer } from '../../src/clients/consumer/consumer.ts';
import type { Producer } from '../../src/clients/producer/producer.ts';
import { sleep } from '../../src/clock.ts';
import type { PartitionLog } from '../../src/log/partitionLog.ts';
import type { Random } from '../../src/random.ts';
import { createRandom } from '../../src/random.ts';
import type { TestCluster } from '../../src/testing.ts';
import { createTestCluster } from '../../src/testing.ts';
import { logBytes, newestBrokerImage } from '../helpers/cluster.ts';
import { History } from '../helpers/histories.ts';

const dec = new TextDecoder();

/** Options of {@link runReplicationSim}. */
export interface ReplicationSimOptions {
  readonly seed: number;
  /** Producer acks (default -1, all). */
  readonly acks?: 1 | -1;
  /** Producers (default 3). */
  readonly producers?: number;
  /** Sends per producer (default 40). */
  readonly sends?: number;
  /** Faults the nemesis injects (default 6; 0 runs fault-free). */
  readonly faults?: number;
  /** Controller quorum size (default 1). */
  readonly controllers?: number;
  /**
   * Bytes of padding after each value (default 0). With ~2 KB, batches pass 4 KiB, so the memory
   * storage keeps them as produced and fetch answers and followers share them as views.
   */
  readonly padding?: number;
  /**
   * The idempotence workload (issue 14 item 1): short `delivery.timeout.ms` and
   * `request.timeout.ms`, several sends of a producer in flight at once, and a network that also
   * duplicates messages, so batches expire while earlier ones have an unknown outcome.
   */
  readonly idempotence?: boolean;
}

/** `value` followed by its padding: the value repeated after a `|`, so damage anywhere shows. */
function padded(value: string, padding: number): string {
  return padding === 0 ? value : `${value}|${value.repeat(Math.ceil(padding / value.length)).slice(0, padding)}`;
}

/** What a read value stands for: the value itself when its padding is intact, else a marker the checker reports as a wrong value. */
function unpadded(read: string, padding: number): string {
  if (padding === 0) return read;
  const value = read.slice(0, read.indexOf('|'));
  return padded(value, padding) === read ? value : `${value} (padding damaged)`;
}

/** What the checker found; every list must be empty. */
export interface ReplicationAnomalies {
  /** Acknowledged writes missing from the final read. */
  readonly lostWrites: string[];
  /** Two different values read at one offset. */
  readonly inconsistentOffsets: string[];
  /** An acknowledged offset read back with another value. */
  readonly unexpectedValues: string[];
  /** Replicas whose bytes differ from the leader's after healing. */
  readonly divergentReplicas: string[];
  /** A leader's high watermark that went down within one leadership. */
  readonly highWatermarkRegressions: string[];
  /** Group offsets committed successfully but missing or lower at the end. */
  readonly lostCommits: string[];
  /** A value written more than once (the producers are idempotent: a retried batch is written once). */
  readonly duplicatedRecords: string[];
}

/** Result of one simulated run. */
export interface ReplicationSimResult {
  readonly anomalies: ReplicationAnomalies;
  readonly summary: string;
  readonly history: History;
  readonly faults: readonly string[];
}

const TOPIC = 'ledger';
const PARTITIONS = 3;
const GROUP = 'auditors';

/** Runs one seeded simulation and checks it. */
export async function runReplicationSim(options: ReplicationSimOptions): Promise<ReplicationSimResult> {
  const { seed } = options;
  const acks = options.acks ?? -1;
  const padding = options.padding ?? 0;
  const cluster = await createTestCluster({ seed, brokers: 3, controllers: options.controllers ?? 1, brokerConfig: { offsetsTopicNumPartitions: 3 } });
  const random = createRandom(seed ^ 0x4e3e515);
  const history = new History();
  const faults: string[] = [];
  const watch = watchCluster(cluster);
  await cluster.settle(cluster.admin().createTopic(TOPIC, { partitions: PARTITIONS, replicationFactor: 3, config: { 'min.insync.replicas': 2 } }));

  // Producers: keyed records, acks as configured; failed sends are simply not acknowledged.
  const idempotence = options.idempotence === true;
  const producers: Producer[] = Array.from({ length: options.producers ?? 3 }, (_, i) => {
    if (!idempotence) return cluster.producer({ clientId: `producer-${i}`, acks, lingerMs: random.int(3) * 5, deliveryTimeoutMs: 60_000, requestTimeoutMs: 10_000 });
    const requestTimeoutMs = 500 + random.int(1_500);
    return cluster.producer({ clientId: `producer-${i}`, acks, idempotent: true, lingerMs: random.int(3) * 5, requestTimeoutMs, deliveryTimeoutMs: requestTimeoutMs + 10 + random.int(4_000), retryBackoffMs: 50 });
  });
  let sequence = 0;
  const produce = async (producer: Producer, index: number): Promise<void> => {
    if (idempotence) {
      // Several sends in flight per producer, so later batches expire while earlier ones are unresolved.
      const inFlight: Array<Promise<void>> = [];
      for (let n = 0; n < (options.sends ?? 40); n++) {
        inFlight.push(sendOne(producer, index, n));
        await sleep(cluster.clock, random.int(150));
      }
      await Promise.all(inFlight);
      return;
    }
    for (let n = 0; n < (options.sends ?? 40); n++) {
      const records = Array.from({ length: 1 + random.int(3) }, (_, j) => ({ key: `k${random.int(16)}`, value: `p${index}-${n}-${j}` }));
      const order = records.map(() => sequence++);
      try {
        const metas = await producer.send(TOPIC, padding === 0 ? records : records.map((r) => ({ key: r.key, value: padded(r.value, padding) })));
        metas.forEach((m, j) => history.acks.push({ producer: `p${index}`, key: records[j]!.key, value: records[j]!.value, partition: m.partition, offset: m.offset, sequence: order[j]! }));
      } catch {
        // Not acknowledged (timeout, NOT_ENOUGH_REPLICAS…): the checker does not count it.
      }
      await sleep(cluster.clock, 100 + random.int(400));
    }
  };
  const sendOne = async (producer: Producer, index: number, n: number): Promise<void> => {
    const records = Array.from({ length: 1 + random.int(3) }, (_, j) => ({ key: `k${random.int(16)}`, value: `p${index}-${n}-${j}` }));
    const order = records.map(() => sequence++);
    try {
      const metas = await producer.send(TOPIC, records);
      metas.forEach((m, j) => history.acks.push({ producer: `p${index}`, key: records[j]!.key, value: records[j]!.value, partition: m.partition, offset: m.offset, sequence: order[j]! }));
    } catch {
      // Not acknowledged (a timeout's write may or may not have happened): not counted.
    }
  };

  // A group member that reads and commits throughout; its successful commits must survive.
  let auditing = true;
  const auditor: Consumer = cluster.consumer({ clientId: 'auditor', groupId: GROUP, autoOffsetReset: 'earliest', enableAutoCommit: false, sessionTimeoutMs: 30_000, heartbeatIntervalMs: 3_000, requestTimeoutMs: 10_000 });
  const audit = (async () => {
    await auditor.subscribe([TOPIC]);
    while (auditing) {
      const records = await auditor.poll({ timeoutMs: 500 }).catch(() => []);
      if (records.length === 0) continue;
      for (const r of records) history.consume({ consumer: 'auditor', session: 0, partition: r.partition, offset: r.offset, key: dec.decode(r.key as Uint8Array), value: unpadded(dec.decode(r.value as Uint8Array), padding) });
      const offsets = new Map<number, bigint>();
      for (const r of records) offsets.set(r.partition, r.offset + 1n);
      try {
        await auditor.commit([...offsets].map(([partition, offset]) => ({ topic: TOPIC, partition, offset })));
        for (const [partition, offset] of offsets) history.commit('auditor', partition, offset);
      } catch {
        // A failed commit may have been applied or not; only successful ones are checked.
      }
    }
  })();

  const nemesis = runNemesis(cluster, watch, random, options.faults ?? 6, options.controllers ?? 1, faults, idempotence);
  await cluster.settle(Promise.all([...producers.map((p, i) => produce(p, i)), nemesis]), { maxSimulatedMs: 1_800_000 });
  auditing = false;
  await cluster.settle(audit, { maxSimulatedMs: 120_000 });

  // Heal everything, then wait until every replica holds the same log and the ISR is complete.
  cluster.network.heal();
  cluster.network.setFaults({});
  for (const id of cluster.brokerIds) if (!cluster.broker(id).running) await cluster.settle(cluster.broker(id).restart());
  await cluster.runUntil(() => replicasCaughtUp(cluster, watch), { maxSimulatedMs: 300_000 }).catch(() => undefined);

  // Read everything back from the start.
  const reader = cluster.consumer({ clientId: 'reader', autoOffsetReset: 'earliest', enableAutoCommit: false });
  reader.assign(Array.from({ length: PARTITIONS }, (_, partition) => ({ topic: TOPIC, partition })));
  const ends = await cluster.settle(cluster.admin().listOffsets(TOPIC, 'latest'));
  const finalRead = new Map<string, string>();
  const done = (): boolean => ends.every((e) => (positions.get(e.partition) ?? 0n) >= e.offset);
  const positions = new Map<number, bigint>();
  await cluster.settle(
    (async () => {
      while (!done()) {
        for (const r of await reader.poll({ timeoutMs: 500 })) {
          const value = unpadded(dec.decode(r.value as Uint8Array), padding);
          history.consume({ consumer: 'reader', session: 0, partition: r.partition, offset: r.offset, key: dec.decode(r.key as Uint8Array), value });
          finalRead.set(`${r.partition}:${r.offset}`, value);
          positions.set(r.partition, r.offset + 1n);
        }
      }
    })(),
    { maxSimulatedMs: 300_000 },
  );

  // Committed group offsets at the end.
  const checkConsumer = cluster.consumer({ clientId: 'commit-check', groupId: GROUP, enableAutoCommit: false });
  const committed = await cluster.settle(checkConsumer.committed(Array.from({ length: PARTITIONS }, (_, partition) => ({ topic: TOPIC, partition }))));

  const anomalies = checkReplication(cluster, history, finalRead, committed, watch);
  const summary = `[seed=${seed} acks=${acks}] ${history.acks.length} acknowledged, ${finalRead.size} read back, ${history.commits.length} commits; faults: ${faults.join(', ') || 'none'}`;
  await cluster.settle(cluster.stop());
  return { anomalies, summary, history, faults };
}

/** What the harness tracks: leader HWs seen on the network, per broker process. */
interface Watch {
  readonly cluster: TestCluster;
  readonly boots: Map<number, number>;
  readonly highWatermarks: Map<string, bigint>;
  readonly regressions: string[];
}

function watchCluster(cluster: TestCluster): Watch {
  const watch: Watch = { cluster, boots: new Map(), highWatermarks: new Map(), regressions: [] };
  cluster.network.observe((event) => {
    if (event.type !== 'delivered') return;
    if (event.message.type !== 'fetch.response' || !event.from.startsWith('broker:')) return;
    const broker = Number(event.from.slice('broker:'.length));
    for (const p of (event.message.partitions as Array<{ topic: string; partition: number; highWatermark: bigint; error?: string }> | undefined) ?? []) {
      if (p.error !== undefined || p.highWatermark < 0n) continue;
      const epoch = newestBrokerImage(cluster)?.topics[p.topic]?.partitions[p.partition]?.leaderEpoch ?? -1;
      // Links are FIFO but deliveries across links interleave, so order is only known per link.
      const key = `broker ${broker} (boot ${watch.boots.get(broker) ?? 0}) ${p.topic}-${p.partition} epoch ${epoch} to ${event.to}`;
      const previous = watch.highWatermarks.get(key);
      if (previous !== undefined && p.highWatermark < previous) watch.regressions.push(`${key}: high watermark ${p.highWatermark} after ${previous}`);
      if (previous === undefined || p.highWatermark > previous) watch.highWatermarks.set(key, p.highWatermark);
    }
  });
  return watch;
}

function leaderOf(watch: Watch, partition: number): number {
  return newestBrokerImage(watch.cluster)?.topics[TOPIC]?.partitions[partition]?.leader ?? -1;
}

/** Seeded faults, one after another, each healed before the next. */
async function runNemesis(cluster: TestCluster, watch: Watch, random: Random, count: number, controllers: number, log: string[], duplicates = false): Promise<void> {
  const brokers = cluster.brokerIds;
  const crash = (id: number): void => {
    cluster.broker(id).crash();
    watch.boots.set(id, (watch.boots.get(id) ?? 0) + 1);
  };
  const restart = async (id: number): Promise<void> => {
    if (!cluster.broker(id).running) await cluster.broker(id).restart();
  };
  const kinds = ['crash-leader', 'crash-follower', 'isolate-leader', 'slow-network', 'double-failover', ...(controllers > 1 ? ['crash-controller'] : [])];
  await sleep(cluster.clock, 1_000 + random.int(2_000));
  for (let i = 0; i < count; i++) {
    const kind = kinds[random.int(kinds.length)] as string;
    const partition = random.int(PARTITIONS);
    const leader = leaderOf(watch, partition);
    const downMs = 1_000 + random.int(12_000);
    log.push(kind);
    switch (kind) {
      case 'crash-leader':
        if (leader < 0) break;
        crash(leader);
        await sleep(cluster.clock, downMs);
        await restart(leader);
        break;
      case 'crash-follower': {
        const followers = brokers.filter((b) => b !== leader);
        const victim = followers[random.int(followers.length)] as number;
        crash(victim);
        await sleep(cluster.clock, downMs);
        await restart(victim);
        break;
      }
      case 'isolate-leader': {
        if (leader < 0) break;
        // Cut from the other brokers and the controllers; clients can still reach it.
        const others = [...brokers.filter((b) => b !== leader).map((b) => `broker:${b}` as const), ...cluster.controllerNodes];
        cluster.network.isolate(`broker:${leader}`, others);
        await sleep(cluster.clock, 2_000 + random.int(20_000));
        cluster.network.heal();
        break;
      }
      case 'slow-network':
        cluster.network.setFaults({ delayMs: { min: 0, max: 20 + random.int(duplicates ? 2_000 : 200) }, dropRate: random.next() * 0.05, ...(duplicates ? { duplicateRate: random.next() * 0.05 } : {}) });
        await sleep(cluster.clock, downMs);
        cluster.network.setFaults({});
        break;
      case 'double-failover': {
        if (leader < 0) break;
        crash(leader);
        // The next leader fails soon after it took over (KIP-101's second scenario).
        await sleep(cluster.clock, 200 + random.int(10_000));
        const second = leaderOf(watch, partition);
        if (second >= 0 && second !== leader) crash(second);
        await sleep(cluster.clock, downMs);
        await restart(leader);
        if (second >= 0) await restart(second);
        break;
      }
      case 'crash-controller': {
        const handle = cluster.controller(cluster.activeControllerId() ?? 0);
        handle.crash();
        await sleep(cluster.clock, downMs);
        await handle.restart();
        break;
      }
    }
    await sleep(cluster.clock, 500 + random.int(3_000));
  }
}


function replicasCaughtUp(cluster: TestCluster, watch: Watch): boolean {
  const image = newestBrokerImage(watch.cluster);
  if (image === undefined) return false;
  for (const p of image.topics[TOPIC]?.partitions ?? []) {
    if (p.leader < 0 || p.isr.length !== p.replicas.length) return false;
    const ends = p.replicas.map((id) => cluster.brokerInternals(id)?.logOf(TOPIC, p.partition)?.logEndOffset);
    if (ends.some((e) => e === undefined || e !== ends[0])) return false;
  }
  return true;
}

function checkReplication(cluster: TestCluster, history: History, finalRead: Map<string, string>, committed: ReadonlyArray<{ partition: number; offset: bigint }>, watch: Watch): ReplicationAnomalies {
  const lostWrites: string[] = [];
  const unexpectedValues: string[] = [];
  for (const a of history.acks) {
    const at = `${a.partition}:${a.offset}`;
    const read = finalRead.get(at);
    if (read === undefined) lostWrites.push(`"${a.value}" acknowledged at ${at}`);
    else if (read !== a.value) unexpectedValues.push(`${at} acknowledged as "${a.value}", read as "${read}"`);
  }
  const inconsistentOffsets: string[] = [];
  const seen = new Map<string, string>();
  for (const c of history.consumed) {
    const at = `${c.partition}:${c.offset}`;
    const before = seen.get(at);
    if (before !== undefined && before !== c.value) inconsistentOffsets.push(`${at} read as "${before}" and "${c.value}"`);
    seen.set(at, c.value);
  }
  const divergentReplicas: string[] = [];
  for (let partition = 0; partition < PARTITIONS; partition++) {
    const copies = cluster.brokerIds.map((id) => ({ id, log: cluster.brokerInternals(id)?.logOf(TOPIC, partition) })).filter((c) => c.log !== undefined);
    const reference = copies[0];
    if (reference === undefined || copies.length !== cluster.brokerIds.length) {
      divergentReplicas.push(`${TOPIC}-${partition}: ${copies.length} of ${cluster.brokerIds.length} replicas present`);
      continue;
    }
    const bytes = logBytes(reference.log as PartitionLog);
    for (const c of copies.slice(1)) {
      const other = logBytes(c.log as PartitionLog);
      if (!sameBytes(bytes, other)) divergentReplicas.push(`${TOPIC}-${partition}: broker ${c.id} (${other.length} bytes, LEO ${c.log?.logEndOffset}) differs from broker ${reference.id} (${bytes.length} bytes, LEO ${reference.log?.logEndOffset})`);
    }
  }
  const lostCommits: string[] = [];
  for (const [partition, offset] of history.committed) {
    const now = committed.find((c) => c.partition === partition)?.offset ?? -1n;
    if (now < offset) lostCommits.push(`${TOPIC}-${partition}: committed ${offset}, found ${now}`);
  }
  // Every value is sent once by its producer, so a value at two offsets was written twice.
  const duplicatedRecords: string[] = [];
  const offsetOf = new Map<string, string>();
  for (const [at, value] of finalRead) {
    const first = offsetOf.get(value);
    if (first !== undefined) duplicatedRecords.push(`"${value}" at ${first} and ${at}`);
    else offsetOf.set(value, at);
  }
  return { lostWrites, inconsistentOffsets, unexpectedValues, divergentReplicas, highWatermarkRegressions: watch.regressions, lostCommits, duplicatedRecords };
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** The empty result, for assertions. */
export const NO_ANOMALIES: ReplicationAnomalies = { lostWrites: [], inconsistentOffsets: [], unexpectedValues: [], divergentReplicas: [], highWatermarkRegressions: [], lostCommits: [], duplicatedRecords: [] };
