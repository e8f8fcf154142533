/**
 * The streams simulation (issue 16): a stateful topology — orders keyed by order id, re-keyed by
 * account (a repartition), summed per account into a store with a changelog, the running totals
 * written to `totals` — runs on 2 or 3 app instances of `createStreamsApp` while a seeded nemesis
 * starts, stops, crashes and cuts off instances (past their session timeout) and crashes one or
 * two brokers. Checked against an oracle computed
 * from the orders written:
 *
 * - exactly_once_v2: the `totals` topic read with read_committed holds exactly one update per
 *   order per account (no update lost, none repeated), each the running sum, and the last equals
 *   the account's total; a fresh instance started afterwards restores every store from its
 *   changelog and holds exactly the totals. With the record cache (one seed in four), one update
 *   per account per commit instead: strictly rising, never repeated, the last equal to the total.
 * - at_least_once: nothing is lost (every account's last total is at least its sum); repeats are
 *   allowed, and the test shows they happen.
 *
 * No live instance may reach ERROR.
 */
import { concatMap } from 'rxjs';
import { createStreamsApp } from '../../src/streams/app.ts';
import type { StreamsApp } from '../../src/streams/app.ts';
import { StreamsBuilder } from '../../src/streams/builder.ts';
import { aggregate, groupByKey, mapValues, selectKey, toTopic } from '../../src/streams/operators.ts';
import { bigint64, string } from '../../src/streams/serdes.ts';
import { sleep } from '../../src/clock.ts';
import { createRandom } from '../../src/random.ts';
import { createTestCluster } from '../../src/testing.ts';
import type { Message, NodeId } from '../../src/transport/transport.ts';
import { newestBrokerImage } from '../helpers/cluster.ts';

const dec = new TextDecoder();
const ACCOUNTS = ['acme', 'globex', 'initech', 'hooli', 'umbrella', 'stark', 'wayne'];
const APP = 'ledger';

/** Options of {@link runStreamsSim}. */
export interface StreamsSimOptions {
  readonly seed: number;
  readonly guarantee?: 'exactly_once_v2' | 'at_least_once';
}

/** What the oracle found; every list empty when the run passed. */
export interface StreamsAnomalies {
  /** Accounts whose updates in `totals` are not exactly the running sums of their orders. */
  readonly updates: string[];
  /** Accounts whose restored store value differs from the oracle. */
  readonly store: string[];
  /** Accounts whose last total is below the oracle's (lost input). */
  readonly lost: string[];
  /** Live instances that reached ERROR. */
  readonly died: string[];
  /** The run did not complete. */
  readonly harness: string[];
}

/** One run's outcome. */
export interface StreamsSimResult {
  readonly anomalies: StreamsAnomalies;
  /** Updates of `totals` beyond one per order (at_least_once shows them). */
  readonly repeats: number;
  readonly summary: string;
}

/** The topology: per account, the running sum of its order amounts (a repartition, a store, an RxJS step). */
export function ledgerTopology() {
  const builder = new StreamsBuilder();
  builder
    .stream('orders', { key: string(), value: string() })
    .pipe(
      // An asynchronous step: the batch is done when it completes.
      concatMap(async (r) => r),
      selectKey((r) => r.value.split(':')[0] as string),
      mapValues((v) => BigInt(v.split(':')[1] as string)),
      groupByKey({ key: string(), value: bigint64() }),
      aggregate(() => 0n, (_k, amount, sum) => sum + amount, { store: 'balances', value: bigint64() }),
    )
    .toStream()
    .pipe(toTopic('totals', { key: string(), value: bigint64() }));
  return builder.build();
}

interface Instance {
  readonly name: string;
  readonly app: StreamsApp;
  crashed: boolean;
  stopped: boolean;
}

/** Runs one seeded streams simulation. See the module comment. */
export async function runStreamsSim(options: StreamsSimOptions): Promise<StreamsSimResult> {
  const { seed } = options;
  const guarantee = options.guarantee ?? 'exactly_once_v2';
  const cluster = await createTestCluster({ seed, brokers: 3, controllers: seed % 2 === 0 ? 3 : 1, brokerConfig: { offsetsTopicNumPartitions: 3, transactionStateLogNumPartitions: 3 } });
  const random = createRandom(seed ^ 0x57ea);
  const admin = cluster.admin();
  const harness: string[] = [];
  const partitions = 2 + random.int(3);
  for (const topic of ['orders', 'totals']) await cluster.settle(admin.createTopic(topic, { partitions, replicationFactor: 3, config: { 'min.insync.replicas': 2 } }));
  const faults: string[] = [];

  // A crashed instance's clients go silent for good: no leave, no commit, no abort.
  const silenced = new Set<string>();
  const network = cluster.network;
  const send = network.send.bind(network);
  network.send = (from: NodeId, to: NodeId, message: Message): void => {
    if (silenced.size > 0) for (const prefix of silenced) if (from.startsWith(prefix) || to.startsWith(prefix)) return;
    send(from, to, message);
  };

  const amounts = new Map<string, bigint[]>();
  const source = cluster.producer({ clientId: 'shop', requestTimeoutMs: 10_000 });
  const ordering = (async () => {
    for (let n = 0; n < 100; n++) {
      const account = ACCOUNTS[random.int(ACCOUNTS.length)] as string;
      const amount = BigInt(1 + random.int(500));
      // Keyed by order id: the topology re-keys by account, through the repartition topic.
      const written = await source.send('orders', { key: `o${n}`, value: `${account}:${amount}` }).then(
        () => true,
        () => false,
      );
      if (written) amounts.set(account, [...(amounts.get(account) ?? []), amount]);
      await sleep(cluster.clock, 20 + random.int(150));
    }
  })();

  const instances: Instance[] = [];
  let started = 0;
  const config = {
    applicationId: APP,
    processingGuarantee: guarantee,
    replicationFactor: 3,
    commitIntervalMs: guarantee === 'exactly_once_v2' ? 100 : 2_000,
    // One seed in three keeps a standby of each task: failovers then start from warm stores.
    numStandbyReplicas: seed % 3 === 0 ? 1 : 0,
    // One seed in four keeps Kafka's record cache: updates of a commit interval collapse into one.
    statestoreCacheMaxBytes: seed % 4 === 1 ? 10 * 1024 * 1024 : 0,
    // Shorter than Kafka's defaults so that an expired session happens within a run, and a
    // JoinGroup answer lost to a cut-off times out (after max.poll.interval.ms + 5 s) within it.
    consumer: { sessionTimeoutMs: 10_000, heartbeatIntervalMs: 1_000, requestTimeoutMs: 5_000, maxPollIntervalMs: 20_000 },
    producer: { requestTimeoutMs: 5_000 },
  } as const;
  const startInstance = async (): Promise<void> => {
    const name = `i${started++}`;
    const app = createStreamsApp(ledgerTopology(), cluster, { ...config, clientId: name });
    instances.push({ name, app, crashed: false, stopped: false });
    await app.start();
  };
  await cluster.settle(startInstance());
  await cluster.settle(startInstance());

  const leaderOf = (topic: string, partition: number): number => newestBrokerImage(cluster)?.topics[topic]?.partitions[partition]?.leader ?? -1;
  const nemesis = (async () => {
    for (let round = 0; round < 4; round++) {
      await sleep(cluster.clock, 1_500 + random.int(2_500));
      const live = instances.filter((i) => !i.crashed && !i.stopped);
      const kinds = ['join', 'leave', 'crash', 'crash-broker', 'crash-broker', 'crash-two-brokers', 'expire-session'] as const;
      const kind = kinds[random.int(kinds.length)] as string;
      faults.push(kind);
      switch (kind) {
        case 'join':
          if (live.length < 3) await startInstance();
          break;
        case 'leave': {
          const victim = live[random.int(live.length)];
          if (victim === undefined || live.length < 2) break;
          victim.stopped = true;
          await victim.app.close();
          break;
        }
        case 'crash': {
          const victim = live[random.int(live.length)];
          if (victim === undefined || live.length < 2) break;
          victim.crashed = true;
          silenced.add(`client:${victim.name}-`);
          break;
        }
        case 'crash-two-brokers': {
          // min.insync.replicas=2 cannot hold: sends fail, transactions abort, their inputs are rewound.
          const [first, second] = [...cluster.brokerIds].sort(() => random.next() - 0.5);
          cluster.broker(first as number).crash();
          cluster.broker(second as number).crash();
          await sleep(cluster.clock, 1_000 + random.int(4_000));
          await cluster.broker(first as number).restart();
          await cluster.broker(second as number).restart();
          break;
        }
        case 'expire-session': {
          // Cut off past session.timeout.ms: the group expels it and its partitions are lost (not
          // revoked): it must abort and drop their tasks, never commit, then rejoin.
          const victim = live[random.int(live.length)];
          if (victim === undefined) break;
          silenced.add(`client:${victim.name}-`);
          await sleep(cluster.clock, 11_000 + random.int(5_000));
          silenced.delete(`client:${victim.name}-`);
          break;
        }
        case 'crash-broker': {
          const topic = random.int(2) === 0 ? 'orders' : `${APP}-balances-changelog`;
          const broker = leaderOf(topic, random.int(partitions));
          if (broker < 0) break;
          cluster.broker(broker).crash();
          await sleep(cluster.clock, 500 + random.int(3_000));
          await cluster.broker(broker).restart();
          break;
        }
      }
    }
  })();

  const phase =
    (name: string) =>
    (e: unknown): void => {
      harness.push(`${name}: ${(e as Error).message}`);
    };
  await cluster.settle(Promise.all([ordering, nemesis]), { maxSimulatedMs: 600_000 }).catch(phase('run'));
  for (const id of cluster.brokerIds) if (!cluster.broker(id).running) await cluster.settle(cluster.broker(id).restart()).catch(phase('restart'));
  if (instances.every((i) => i.crashed || i.stopped)) await cluster.settle(startInstance()).catch(phase('start'));

  // Drain: the group has processed every input record. `orders` is written without transactions,
  // so its high watermark is its end; the repartition topic ends with transaction markers a
  // committed offset never passes, so there: no transaction is open (LSO = high watermark, a
  // crashed instance's open one aborted) and nothing is readable after the committed offset.
  const drained = async (): Promise<boolean> => {
    const consumer = cluster.consumer({ groupId: APP, enableAutoCommit: false, isolationLevel: 'read_committed' });
    const reader = cluster.consumer({ enableAutoCommit: false, isolationLevel: 'read_committed' });
    try {
      const orders = await consumer.committed(Array.from({ length: partitions }, (_, partition) => ({ topic: 'orders', partition })));
      const ordersEnd = await admin.listOffsets('orders', 'latest');
      if (ordersEnd.some((e) => (orders.find((c) => c.partition === e.partition)?.offset ?? -1n) < e.offset)) return false;
      const topic = `${APP}-balances-repartition`;
      const hw = await admin.listOffsets(topic, 'latest');
      const lso = await admin.listOffsets(topic, 'latest', { isolationLevel: 'read_committed' });
      if (hw.some((e) => lso.find((l) => l.partition === e.partition)?.offset !== e.offset)) return false;
      const committed = await consumer.committed(Array.from({ length: partitions }, (_, partition) => ({ topic, partition })));
      reader.assign(committed.map((c) => ({ topic, partition: c.partition })));
      for (const c of committed) {
        if (c.offset >= 0n) reader.seek({ topic, partition: c.partition }, c.offset);
        else await reader.seekToBeginning([{ topic, partition: c.partition }]);
      }
      // Read from the committed offsets to the end: any record on the way was not processed.
      for (;;) {
        if ((await reader.poll({ timeoutMs: 100 })).length > 0) return false;
        let atEnd = true;
        for (const e of hw) if ((await reader.position({ topic, partition: e.partition })) < e.offset) atEnd = false;
        if (atEnd) return true;
      }
    } finally {
      await consumer.close();
      await reader.close();
    }
  };
  if (harness.length === 0) {
    await cluster
      .settle(
        (async () => {
          for (let i = 0; !(await drained()); i++) {
            if (i === 200) throw new Error(`the input was not processed within 200 s: ${instances.map((x) => `${x.name} ${x.crashed ? 'crashed' : x.stopped ? 'stopped' : x.app.state} tasks ${x.app.metrics.tasks.join(' ')} processed ${x.app.metrics.processed} commits ${x.app.metrics.commits} aborts ${x.app.metrics.aborts}`).join('; ')}`);
            await sleep(cluster.clock, 1_000);
          }
        })(),
        { maxSimulatedMs: 600_000 },
      )
      .catch(phase('drain'));
  }
  // Standbys hold committed state only, and catch up: once the input is drained, every store an
  // instance holds, active or standby, reaches each account's total.
  const storeMismatches: string[] = [];
  const standbyHeld = (): Array<{ name: string; account: string; value: bigint }> =>
    instances.filter((i) => !i.crashed && !i.stopped && i.app.state === 'RUNNING' && i.app.metrics.standbyTasks.length > 0).flatMap((i) => i.app.store<string, bigint>('balances', { staleStores: true }).all().map((kv) => ({ name: i.name, account: kv.key, value: kv.value })));
  const total = (account: string): bigint => (amounts.get(account) ?? []).reduce((a, b) => a + b, 0n);
  if (harness.length === 0 && guarantee === 'exactly_once_v2' && config.numStandbyReplicas > 0) {
    await cluster
      .settle(
        (async () => {
          for (let i = 0; i < 60 && standbyHeld().some((h) => h.value !== total(h.account)); i++) await sleep(cluster.clock, 500);
        })(),
        { maxSimulatedMs: 60_000 },
      )
      .catch(phase('standbys'));
    for (const h of standbyHeld()) if (h.value !== total(h.account)) storeMismatches.push(`standby or active on ${h.name}, ${h.account}: ${h.value} ≠ ${total(h.account)}`);
  }
  const died = instances.filter((i) => !i.crashed && i.app.state === 'ERROR').map((i) => `${i.name}: ${(i.app.error as Error)?.message ?? String(i.app.error)}`);
  for (const i of instances) if (!i.crashed && !i.stopped) await cluster.settle(i.app.close(), { maxSimulatedMs: 60_000 }).catch(phase(`close ${i.name}`));

  // The output as a read_committed reader sees it: per account, its sequence of totals.
  const updates = new Map<string, bigint[]>();
  if (harness.length === 0) {
    const reader = cluster.consumer({ autoOffsetReset: 'earliest', enableAutoCommit: false, isolationLevel: 'read_committed' });
    reader.assign(Array.from({ length: partitions }, (_, partition) => ({ topic: 'totals', partition })));
    await cluster
      .settle(
        (async () => {
          // A crashed instance's open transaction holds the last stable offset back until its
          // coordinator aborts it (transaction.timeout.ms): the output is read once none is open.
          let ends = await admin.listOffsets('totals', 'latest', { isolationLevel: 'read_committed' });
          for (let i = 0; ; i++) {
            const hw = await admin.listOffsets('totals', 'latest');
            if (hw.every((h) => ends.find((e) => e.partition === h.partition)?.offset === h.offset)) break;
            if (i === 120) throw new Error('a transaction on totals stayed open for 60 s');
            await sleep(cluster.clock, 500);
            ends = await admin.listOffsets('totals', 'latest', { isolationLevel: 'read_committed' });
          }
          for (;;) {
            for (const r of await reader.poll({ timeoutMs: 200 })) {
              const account = dec.decode(r.key as Uint8Array);
              const v = r.value as Uint8Array;
              updates.set(account, [...(updates.get(account) ?? []), new DataView(v.buffer, v.byteOffset, 8).getBigInt64(0)]);
            }
            let done = true;
            for (const e of ends) if ((await reader.position({ topic: 'totals', partition: e.partition })) < e.offset) done = false;
            if (done) break;
          }
        })(),
        { maxSimulatedMs: 120_000 },
      )
      .catch(phase('read'));
  }

  // A fresh instance restores every store from the changelogs.
  if (harness.length === 0 && guarantee === 'exactly_once_v2') {
    const checker = createStreamsApp(ledgerTopology(), cluster, { ...config, clientId: 'checker' });
    await cluster
      .settle(
        (async () => {
          await checker.start();
          while (checker.state !== 'RUNNING' || checker.metrics.tasks.length < 2 * partitions) {
            if (checker.state === 'ERROR') throw checker.error;
            await sleep(cluster.clock, 200);
          }
        })(),
        { maxSimulatedMs: 120_000 },
      )
      .catch(phase('checker'));
    for (const account of ACCOUNTS) {
      const expected = (amounts.get(account) ?? []).reduce((a, b) => a + b, 0n);
      const got = checker.store<string, bigint>('balances').get(account);
      if ((got ?? 0n) !== expected) storeMismatches.push(`${account}: ${String(got)} ≠ ${expected}`);
    }
    await cluster.settle(checker.close(), { maxSimulatedMs: 60_000 }).catch(phase('close checker'));
  }
  await cluster.settle(cluster.stop(), { maxSimulatedMs: 120_000 }).catch(() => undefined);

  const exactly = guarantee === 'exactly_once_v2';
  const updateAnomalies: string[] = [];
  const lost: string[] = [];
  let repeats = 0;
  for (const account of ACCOUNTS) {
    const list = amounts.get(account) ?? [];
    const expected = list.reduce((a, b) => a + b, 0n);
    const got = updates.get(account) ?? [];
    repeats += Math.max(0, got.length - list.length);
    if ((got.at(-1) ?? 0n) < expected) lost.push(`${account}: last total ${String(got.at(-1) ?? 0n)} < ${expected}`);
    if (exactly && config.statestoreCacheMaxBytes > 0) {
      // With the record cache a commit carries one update per account: the running sums at
      // commits, so strictly rising (amounts are positive), never repeated, ending at the total.
      if (got.some((v, i) => i > 0 && v <= (got[i - 1] as bigint)) || got.length > list.length || (got.at(-1) ?? 0n) !== expected) updateAnomalies.push(`${account}: cached updates ${got.join(',')} for amounts ${list.join(',')}`);
    } else if (exactly) {
      // Per account the updates are running sums, one per order, in the order the account's orders
      // reached its task (orders of different input partitions interleave): so the steps between
      // consecutive updates must be exactly the account's amounts, each once.
      const steps = got.map((v, i) => v - (i === 0 ? 0n : (got[i - 1] as bigint)));
      const key = (l: bigint[]): string => [...l].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0)).join(',');
      if (got.length !== list.length || key(steps) !== key(list)) updateAnomalies.push(`${account}: updates ${got.join(',')} for amounts ${list.join(',')}`);
    }
  }
  const anomalies: StreamsAnomalies = { updates: harness.length > 0 ? [] : updateAnomalies, store: storeMismatches, lost: harness.length > 0 ? [] : lost, died, harness };
  const orders = [...amounts.values()].reduce((n, l) => n + l.length, 0);
  const summary = `[seed=${seed} ${guarantee}] ${orders} orders, ${partitions} partitions, ${config.numStandbyReplicas} standby replicas, ${instances.length} instances (${instances.map((x) => `${x.name}: ${x.crashed ? 'crashed' : x.stopped ? 'left' : x.app.state}, ${x.app.metrics.processed} processed, ${x.app.metrics.commits} commits, ${x.app.metrics.aborts} aborts, ${x.app.metrics.restoredRecords} restored, ${x.app.metrics.standbyRecords} standby records`).join('; ')}), ${repeats} repeated updates; faults: ${faults.join(', ')}`;
  return { anomalies, repeats, summary };
}

/** The anomalies that are failures, by name (empty when the run passed). */
export function streamsFindings(result: StreamsSimResult): Array<[string, string[]]> {
  return Object.entries(result.anomalies).filter(([, list]) => (list as string[]).length > 0) as Array<[string, string[]]>;
}
