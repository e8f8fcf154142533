/**
 * The windows-and-joins simulation (issue 19): a clickstream topology runs under exactly_once_v2 on
 * 2 or 3 app instances while a seeded nemesis starts, stops, crashes and cuts off instances and
 * crashes one or two brokers. Users' page views and clicks (keyed by user, co-partitioned, event
 * time up to 300 ms out of order) and a profile table feed:
 *
 * - `views-final`: views per user per 1 s tumbling window (grace 500 ms), counted and suppressed
 *   until the window closes — one final result per window;
 * - `click-views`: clicks joined with the user's views within 1 s (inner, or left on odd seeds:
 *   an unmatched click once, with a null view, after its window closed);
 * - `enriched`: views joined with the profile table (written before the run, so every view finds it).
 *
 * At the end one record per input partition far ahead in event time closes every window (one seed
 * in five waits instead for samsa's idleStreamTimeAdvance to close them by the wall clock). The
 * oracle is computed from the input topics as written (read back, so a send whose acknowledgement
 * was lost still counts exactly once if it landed), and checked:
 * - windows: every closed window of every user emitted exactly once, with exactly its count, and
 *   no partial or repeated result;
 * - joins: the click-view pairs exactly the oracle's, none repeated, none missing (left: each
 *   unmatched click once with null);
 * - enriched: every view exactly once, with its user's region;
 * - no live instance in ERROR.
 * Seeds vary partitions (2-4), controllers, standbys (one in three), the record cache (one in two).
 */
import { sleep } from '../../src/clock.ts';
import { createStreamsApp } from '../../src/streams/app.ts';
import type { StreamsApp } from '../../src/streams/app.ts';
import { StreamsBuilder } from '../../src/streams/builder.ts';
import { join, leftJoin } from '../../src/streams/joins/streamJoins.ts';
import { count, groupByKey, mapValues, toTopic } from '../../src/streams/operators.ts';
import { int32, json, string } from '../../src/streams/serdes.ts';
import { untilWindowCloses } from '../../src/streams/suppress.ts';
import { timeWindowedSerde } from '../../src/streams/windowedSerdes.ts';
import { windowedBy } from '../../src/streams/windowedAggregation.ts';
import { joinWindows, tumbling } from '../../src/streams/windows.ts';
import { createRandom } from '../../src/random.ts';
import { createTestCluster } from '../../src/testing.ts';
import type { TestCluster } from '../../src/testing.ts';
import type { Message, NodeId } from '../../src/transport/transport.ts';
import { newestBrokerImage } from '../helpers/cluster.ts';

const USERS = ['ada', 'bob', 'cy', 'dee', 'eve'];
const REGIONS: Record<string, string> = { ada: 'eu', bob: 'us', cy: 'eu', dee: 'apac', eve: 'us' };
const APP = 'clicks';
const WINDOW = 1_000;
const GRACE = 500;
const JOIN_MS = 1_000;
/** Longer than any outage the nemesis causes, so no join record is ever late. */
const JOIN_GRACE = 30_000;
/** The idle advance's skew on its seeds: longer than any outage, so nothing is late. */
const IDLE_SKEW = 60_000;
/** The flush records' event time lead: past every window, join window and grace. */
const FLUSH_LEAD = 120_000;
const dec = new TextDecoder();

interface Event {
  readonly id: string;
  readonly page: string;
}

/** What the checks found; every list empty when the run passed. */
export interface WindowsAnomalies {
  readonly windows: string[];
  readonly joins: string[];
  readonly enriched: string[];
  readonly died: string[];
  readonly harness: string[];
}

/** One run's outcome. */
export interface WindowsSimResult {
  readonly anomalies: WindowsAnomalies;
  readonly summary: string;
}

/** The topology; `left` makes the click-view join a left join. */
export function clickstreamTopology(left: boolean) {
  const builder = new StreamsBuilder();
  const views = builder.stream('views', { key: string(), value: json<Event>() });
  const clicks = builder.stream('clicks', { key: string(), value: json<Event>() });
  const profiles = builder.table('profiles', { key: string(), value: string(), store: 'profiles-store' });
  views
    .pipe(groupByKey({ key: string(), value: json<Event>() }), windowedBy(tumbling({ sizeMs: WINDOW, graceMs: GRACE })), count({ store: 'views-per-window' }))
    .suppress(untilWindowCloses())
    .toStream()
    .pipe(toTopic('views-final', { value: int32() }));
  const joiner = (click: Event, view: Event | null): string => `${click.id}|${view === null ? '-' : view.id}`;
  const windows = joinWindows({ timeDifferenceMs: JOIN_MS, graceMs: JOIN_GRACE });
  clicks.pipe(left ? leftJoin(views, joiner, windows) : join(views, joiner, windows), toTopic('click-views', { key: string(), value: string() }));
  views.pipe(join(profiles, (view: Event, region: string) => `${view.id}|${region}`), mapValues((v: string) => v), toTopic('enriched', { key: string(), value: string() }));
  return builder.build();
}

interface Instance {
  readonly name: string;
  readonly app: StreamsApp;
  crashed: boolean;
  stopped: boolean;
}

interface Written {
  readonly user: string;
  readonly id: string;
  readonly timestamp: number;
}

/** Every record of `topic` (read_committed, from the start), decoded by `decode`. */
async function readAll<T>(cluster: TestCluster, topic: string, partitions: number, decode: (key: Uint8Array | null, value: Uint8Array | null, timestamp: number) => T): Promise<T[]> {
  const reader = cluster.consumer({ autoOffsetReset: 'earliest', enableAutoCommit: false, isolationLevel: 'read_committed' });
  const admin = cluster.admin();
  const out: T[] = [];
  try {
    reader.assign(Array.from({ length: partitions }, (_, partition) => ({ topic, partition })));
    const ends = await admin.listOffsets(topic, 'latest', { isolationLevel: 'read_committed' });
    for (;;) {
      for (const r of await reader.poll({ timeoutMs: 200 })) out.push(decode(r.key, r.value, r.timestamp));
      let done = true;
      for (const e of ends) if ((await reader.position({ topic, partition: e.partition })) < e.offset) done = false;
      if (done) return out;
    }
  } finally {
    await reader.close();
    await admin.close();
  }
}

/** Runs one seeded simulation. See the module comment. */
export async function runWindowsSim(options: { readonly seed: number; readonly guarantee?: 'exactly_once_v2' | 'at_least_once' }): Promise<WindowsSimResult> {
  const { seed } = options;
  const guarantee = options.guarantee ?? 'exactly_once_v2';
  const left = seed % 2 === 1;
  const idle = seed % 5 === 2;
  const cluster = await createTestCluster({ seed, brokers: 3, controllers: seed % 2 === 0 ? 3 : 1, brokerConfig: { offsetsTopicNumPartitions: 3, transactionStateLogNumPartitions: 3 } });
  const random = createRandom(seed ^ 0x3e1d);
  const admin = cluster.admin();
  const harness: string[] = [];
  const partitions = 2 + random.int(3);
  const outputs = ['views-final', 'click-views', 'enriched'];
  for (const topic of ['views', 'clicks', 'profiles', ...outputs]) await cluster.settle(admin.createTopic(topic, { partitions, replicationFactor: 3, config: { 'min.insync.replicas': 2 } }));
  const faults: string[] = [];

  // A crashed instance's clients go silent for good: no leave, no commit, no abort.
  const silenced = new Set<string>();
  const network = cluster.network;
  const send = network.send.bind(network);
  network.send = (from: NodeId, to: NodeId, message: Message): void => {
    if (silenced.size > 0) for (const prefix of silenced) if (from.startsWith(prefix) || to.startsWith(prefix)) return;
    send(from, to, message);
  };

  // Profiles first: every view finds its user's row, whenever it is processed.
  const source = cluster.producer({ clientId: 'site', requestTimeoutMs: 10_000 });
  await cluster.settle(source.send('profiles', USERS.map((u) => ({ key: u, value: REGIONS[u] as string, timestamp: 0 }))));
  const generating = (async () => {
    for (let n = 0; n < 120; n++) {
      const user = USERS[random.int(USERS.length)] as string;
      const topic = random.int(3) === 0 ? 'clicks' : 'views';
      // Event time up to 300 ms behind the clock: out of order, within the 500 ms grace.
      const timestamp = Math.max(1, cluster.clock.now() - random.int(300));
      const value: Event = { id: `${topic[0]}${n}`, page: `p${random.int(3)}` };
      // A send that fails may still have landed: the oracle reads the topic back.
      await source.send(topic, { key: user, value: JSON.stringify(value), timestamp }).catch(() => undefined);
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
    numStandbyReplicas: seed % 3 === 0 ? 1 : 0,
    statestoreCacheMaxBytes: seed % 4 < 2 ? 10 * 1024 * 1024 : 0,
    // One seed in five closes the last windows by the wall clock (samsa's idle advance) instead of
    // by the flush records; the skew outlasts every outage, so no record comes late.
    ...(idle ? { idleStreamTimeAdvance: { maxSkewMs: IDLE_SKEW } } : {}),
    consumer: { sessionTimeoutMs: 10_000, heartbeatIntervalMs: 1_000, requestTimeoutMs: 5_000, maxPollIntervalMs: 20_000 },
    producer: { requestTimeoutMs: 5_000 },
  };
  const startInstance = async (): Promise<void> => {
    const name = `w${started++}`;
    const app = createStreamsApp(clickstreamTopology(left), cluster, { ...config, clientId: name });
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
      const kinds = ['join', 'leave', 'crash', 'crash', 'crash-broker', 'crash-two-brokers', 'expire-session'] as const;
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
          const [first, second] = [...cluster.brokerIds].sort(() => random.next() - 0.5);
          cluster.broker(first as number).crash();
          cluster.broker(second as number).crash();
          await sleep(cluster.clock, 1_000 + random.int(3_000));
          await cluster.broker(first as number).restart();
          await cluster.broker(second as number).restart();
          break;
        }
        case 'expire-session': {
          const victim = live[random.int(live.length)];
          if (victim === undefined) break;
          silenced.add(`client:${victim.name}-`);
          await sleep(cluster.clock, 11_000 + random.int(5_000));
          silenced.delete(`client:${victim.name}-`);
          break;
        }
        case 'crash-broker': {
          const topic = ['views', 'clicks', `${APP}-views-per-window-changelog`][random.int(3)] as string;
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
  await cluster.settle(Promise.all([generating, nemesis]), { maxSimulatedMs: 600_000 }).catch(phase('run'));
  for (const id of cluster.brokerIds) if (!cluster.broker(id).running) await cluster.settle(cluster.broker(id).restart()).catch(phase('restart'));
  if (instances.every((i) => i.crashed || i.stopped)) await cluster.settle(startInstance()).catch(phase('start'));
  if (idle) {
    // Quiet partitions: the wall clock moves stream time past every window, join window and grace.
    await cluster.settle(sleep(cluster.clock, IDLE_SKEW + JOIN_MS + JOIN_GRACE + 10_000)).catch(phase('idle'));
  } else {
    // Far ahead in event time, one view and one click per partition close every window.
    const flushAt = cluster.clock.now() + FLUSH_LEAD;
    for (const topic of ['views', 'clicks']) {
      const flush = Array.from({ length: partitions }, (_, partition) => ({ key: 'flush', value: JSON.stringify({ id: `flush-${topic}-${partition}`, page: '-' }), partition, timestamp: flushAt }));
      await cluster.settle(source.send(topic, flush)).catch(phase('flush'));
    }
  }

  // Drained: the group's committed offsets reach the end of every input, and no transaction is
  // open on the outputs (a crashed instance's was aborted when its successor took over).
  const inputs = ['views', 'clicks', 'profiles'];
  const drained = async (): Promise<boolean> => {
    const consumer = cluster.consumer({ groupId: APP, enableAutoCommit: false, isolationLevel: 'read_committed' });
    try {
      for (const topic of inputs) {
        const committed = await consumer.committed(Array.from({ length: partitions }, (_, partition) => ({ topic, partition })));
        const end = await admin.listOffsets(topic, 'latest');
        // An empty partition (profiles has few records) has nothing to commit.
        if (end.some((e) => e.offset > 0n && (committed.find((c) => c.partition === e.partition)?.offset ?? -1n) < e.offset)) return false;
      }
      for (const topic of outputs) {
        const hw = await admin.listOffsets(topic, 'latest');
        const lso = await admin.listOffsets(topic, 'latest', { isolationLevel: 'read_committed' });
        if (hw.some((e) => lso.find((l) => l.partition === e.partition)?.offset !== e.offset)) return false;
      }
      return true;
    } finally {
      await consumer.close();
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

  const windowAnomalies: string[] = [];
  const joinAnomalies: string[] = [];
  const enrichedAnomalies: string[] = [];
  let summaryCounts = '';
  if (harness.length === 0) {
    await cluster
      .settle(
        (async () => {
          const decodeEvent = (topic: string) => (key: Uint8Array | null, value: Uint8Array | null, timestamp: number): Written => ({ user: dec.decode(key as Uint8Array), id: (JSON.parse(dec.decode(value as Uint8Array)) as Event).id, timestamp, ...{ topic } });
          const views = (await readAll(cluster, 'views', partitions, decodeEvent('views'))).filter((v) => v.user !== 'flush');
          const clicks = (await readAll(cluster, 'clicks', partitions, decodeEvent('clicks'))).filter((c) => c.user !== 'flush');
          // Windows: one final count per user and window.
          const expected = new Map<string, number>();
          for (const v of views) {
            const id = `${v.user}@${Math.floor(v.timestamp / WINDOW) * WINDOW}`;
            expected.set(id, (expected.get(id) ?? 0) + 1);
          }
          const keySerde = timeWindowedSerde(string(), WINDOW);
          const finals = (await readAll(cluster, 'views-final', partitions, (key, value) => ({ key: keySerde.deserialize(key as Uint8Array, 'views-final'), count: new DataView((value as Uint8Array).buffer, (value as Uint8Array).byteOffset).getInt32(0) }))).filter((f) => f.key.key !== 'flush');
          const seen = new Map<string, number>();
          for (const f of finals) {
            const id = `${f.key.key}@${f.key.window.start}`;
            if (seen.has(id)) windowAnomalies.push(`${id} emitted twice (${seen.get(id)}, then ${f.count})`);
            seen.set(id, f.count);
            if (expected.get(id) !== f.count) windowAnomalies.push(`${id}: final count ${f.count}, expected ${String(expected.get(id))}`);
          }
          for (const [id, n] of expected) if (!seen.has(id)) windowAnomalies.push(`${id}: no final result (expected ${n})`);
          // Joins: each click with every view of its user within 1 s; unmatched clicks once with '-' in a left join.
          const pairs: string[] = [];
          for (const c of clicks) {
            const matches = views.filter((v) => v.user === c.user && Math.abs(v.timestamp - c.timestamp) <= JOIN_MS);
            for (const v of matches) pairs.push(`${c.id}|${v.id}`);
            if (matches.length === 0 && left) pairs.push(`${c.id}|-`);
          }
          const got = (await readAll(cluster, 'click-views', partitions, (_k, value) => dec.decode(value as Uint8Array))).filter((p) => !p.startsWith('flush'));
          const bag = (list: string[]): Map<string, number> => {
            const m = new Map<string, number>();
            for (const x of list) m.set(x, (m.get(x) ?? 0) + 1);
            return m;
          };
          const want = bag(pairs);
          const have = bag(got);
          for (const [p, n] of have) if ((want.get(p) ?? 0) !== n) joinAnomalies.push(`${p}: ${n} times, expected ${want.get(p) ?? 0}`);
          for (const [p, n] of want) if (!have.has(p)) joinAnomalies.push(`${p}: missing (expected ${n})`);
          // Enriched: every view once, with its region.
          const enriched = bag(await readAll(cluster, 'enriched', partitions, (_k, value) => dec.decode(value as Uint8Array)));
          const wantEnriched = bag(views.map((v) => `${v.id}|${REGIONS[v.user] as string}`));
          for (const [e, n] of enriched) if ((wantEnriched.get(e) ?? 0) !== n) enrichedAnomalies.push(`${e}: ${n} times, expected ${wantEnriched.get(e) ?? 0}`);
          for (const [e] of wantEnriched) if (!enriched.has(e)) enrichedAnomalies.push(`${e}: missing`);
          summaryCounts = `${views.length} views, ${clicks.length} clicks, ${expected.size} windows, ${pairs.length} join results`;
        })(),
        { maxSimulatedMs: 120_000 },
      )
      .catch(phase('read'));
  }
  const died = instances.filter((i) => !i.crashed && !i.stopped && i.app.state === 'ERROR').map((i) => `${i.name}: ${String((i.app.error as Error | undefined)?.message ?? i.app.error)}`);
  const summary = `[seed=${seed} ${guarantee} ${left ? 'left' : 'inner'} join${idle ? ', idle advance' : ''}] ${summaryCounts}, ${partitions} partitions, ${config.numStandbyReplicas} standby replicas, cache ${config.statestoreCacheMaxBytes > 0 ? 'on' : 'off'}, ${instances.length} instances (${instances.map((x) => `${x.name}: ${x.crashed ? 'crashed' : x.stopped ? 'left' : x.app.state}, ${x.app.metrics.processed} processed, ${x.app.metrics.commits} commits, ${x.app.metrics.aborts} aborts`).join('; ')}); faults: ${faults.join(', ')}`;
  for (const i of instances) if (!i.crashed && !i.stopped) await cluster.settle(i.app.close(), { maxSimulatedMs: 60_000 }).catch(() => undefined);
  await cluster.settle(cluster.stop(), { maxSimulatedMs: 120_000 }).catch(() => undefined);
  return { anomalies: { windows: windowAnomalies, joins: joinAnomalies, enriched: enrichedAnomalies, died, harness }, summary };
}

/** The anomalies that are failures, by name (empty when the run passed). */
export function windowsFindings(result: WindowsSimResult): Array<[string, string[]]> {
  return Object.entries(result.anomalies).filter(([, list]) => (list as string[]).length > 0) as Array<[string, string[]]>;
}
