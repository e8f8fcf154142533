/**
 * One live run of the analytics topology on a cluster, shared by `npm run example:analytics`, its
 * test and the `npm start` stage: the topics, app instances under exactly_once_v2 with
 * `idleStreamTimeAdvance`, seeded traffic sent as it happens (event time = the cluster's clock,
 * minus a little out-of-order delay), optionally one instance crashed mid-run, and at the end the
 * output topics read back with read_committed and compared with the oracle.
 *
 * It runs the same on the system clock (`createCluster`) and on simulated time (a `TestCluster`,
 * wrapped in `cluster.settle(run.run())`).
 */
import { createStreamsApp } from '../../src/index.ts';
import type { Cluster, ConsumerRecord, Logger, StreamsApp, Windowed } from '../../src/index.ts';
import { json, string, timeWindowedSerde } from '../../src/index.ts';
import type { ActualResults, AnalyticsOptions, Click, ClickThrough, EnrichedView, ExpectedResults, PageView, Source } from './analytics.ts';
import { analyticsOptions, analyticsTopology, compareResults, expectedResults, STORES, TOPICS, TrafficGenerator, windowId } from './analytics.ts';

/** How quickly a crashed instance is noticed and its open transaction aborted. */
export interface FailoverSettings {
  /** The app's consumer `session.timeout.ms` (the broker's `group.min.session.timeout.ms` must allow it). */
  readonly sessionTimeoutMs: number;
  readonly heartbeatIntervalMs: number;
  /** The app's producer `transaction.timeout.ms`: how long a crashed instance's open transaction holds back read_committed readers. */
  readonly transactionTimeoutMs: number;
}

/** Options of {@link AnalyticsRun}. */
export interface RunOptions extends AnalyticsOptions {
  readonly seed: number;
  /** How long traffic is sent, on the cluster's clock. */
  readonly generateForMs: number;
  /** `idleStreamTimeAdvance.maxSkewMs` of the apps. */
  readonly maxSkewMs: number;
  /** Interval between two sends of traffic (default 100). */
  readonly tickMs?: number;
  readonly viewsPerSecond?: number;
  /** Upper bound of how late an event is sent after its event time (default 1 000). */
  readonly maxDelayMs?: number;
  /** App instances (default 2), named analytics-a, analytics-b, … */
  readonly instances?: number;
  /** Begin the traffic at this time of the cluster's clock (default: as soon as the instances run). */
  readonly startAt?: number;
  /** Crash analytics-a this long after the traffic began (default: no crash). */
  readonly crashAfterMs?: number;
  /** Partitions of every topic (default 3). */
  readonly partitions?: number;
  /** Default: a 3 s session, 500 ms heartbeats, 5 s transactions. */
  readonly failover?: FailoverSettings;
  /** `commit.interval.ms` of the apps (default 100, Kafka's under exactly_once_v2). */
  readonly commitIntervalMs?: number;
  /** Where the apps log. */
  readonly logger?: Logger;
  /** Told about what happens (instances started, the crash, the takeover, windows closing). */
  readonly say?: (line: string) => void;
}

/** The default {@link FailoverSettings}: short enough for a takeover well within the 10 s grace. */
export const FAST_FAILOVER: FailoverSettings = { sessionTimeoutMs: 3_000, heartbeatIntervalMs: 500, transactionTimeoutMs: 5_000 };

/**
 * Broker settings a run needs: sessions as short as {@link FAST_FAILOVER}'s, timed-out
 * transactions aborted within half a second, and a quick first rebalance.
 */
export const RUN_BROKER_CONFIG = {
  transactionAbortTimedOutTransactionCleanupIntervalMs: 500,
  groupConfig: { 'group.min.session.timeout.ms': 1_000, 'group.initial.rebalance.delay.ms': 100 },
} as const;

/** An app instance of the run. */
export interface Instance {
  readonly name: string;
  readonly app: StreamsApp;
  crashed: boolean;
}

/** A final window count as read from the window topic. */
export interface FinalWindow {
  readonly id: string;
  readonly region: string;
  readonly start: number;
  readonly count: number;
}

/** What a run ends with. */
export interface RunResult {
  readonly produced: { readonly views: number; readonly clicks: number };
  readonly profiles: number;
  readonly expected: ExpectedResults;
  readonly actual: ActualResults & { readonly finals: readonly FinalWindow[] };
  /** {@link compareResults}: empty when the outputs equal the oracle. */
  readonly problems: string[];
  /** Records the instances dropped as late (after their window's end + grace). */
  readonly dropped: number;
  /** Ids of the tasks the crashed instance ran when it crashed (none without a crash). */
  readonly crashedTasks: readonly string[];
  /** How long after the crash the survivors ran every task (undefined without a crash). */
  readonly takeoverMs: number | undefined;
  /** How long after the traffic stopped the last final window was read. */
  readonly closedAfterMs: number;
}

const APP = 'analytics';
const decoder = new TextDecoder();

/** A run; see the module comment. Its fields show progress while `run()` is under way. */
export class AnalyticsRun {
  readonly instances: Instance[] = [];
  /** Final window counts as they are committed, in the order read. */
  readonly finals: FinalWindow[] = [];
  readonly produced = { views: 0, clicks: 0 };
  phase: 'starting' | 'sending traffic' | 'closing the last windows' | 'verifying' | 'done' = 'starting';
  private readonly settings: Required<AnalyticsOptions>;
  /** The click-through table as its updates are committed (latest row per page). */
  readonly clickThrough = new Map<string, ClickThrough>();
  private enrichedSeen = 0;
  private stopped = false;

  constructor(
    readonly cluster: Cluster,
    readonly options: RunOptions,
  ) {
    this.settings = analyticsOptions(options);
  }

  /** The windows the live instances hold that have no final result yet (interactive queries of their window stores). */
  openWindows(): Array<{ region: string; start: number; count: number }> {
    const final = new Set(this.finals.map((f) => f.id));
    const open: Array<{ region: string; start: number; count: number }> = [];
    for (const i of this.instances) {
      if (i.crashed || i.app.state !== 'RUNNING') continue;
      for (const { key, value } of i.app.windowStore<string, number>(STORES.viewsPerRegion).all()) {
        if (!final.has(windowId(key.key, key.window.start))) open.push({ region: key.key, start: key.window.start, count: value });
      }
    }
    return open.sort((a, b) => a.start - b.start || a.region.localeCompare(b.region));
  }

  /** Runs the whole flow; resolves once the outputs were read back and compared. */
  async run(): Promise<RunResult> {
    const { cluster, options } = this;
    const clock = cluster.clock;
    const say = options.say ?? ((): void => undefined);
    const partitions = options.partitions ?? 3;
    const replicationFactor = Math.min(3, cluster.brokerIds.length);
    const failover = options.failover ?? FAST_FAILOVER;
    const admin = cluster.admin();
    for (const topic of [TOPICS.views, TOPICS.clicks, this.settings.windowTopic, TOPICS.clickThrough, TOPICS.enriched]) await admin.createTopic(topic, { partitions, replicationFactor });
    await admin.createTopic(TOPICS.profiles, { partitions, replicationFactor, config: { 'cleanup.policy': 'compact' } });

    const generator = new TrafficGenerator({ seed: options.seed, maxDelayMs: options.maxDelayMs ?? 1_000, ...(options.viewsPerSecond === undefined ? {} : { viewsPerSecond: options.viewsPerSecond }) });
    const start = clock.now();
    const loader = cluster.producer({ clientId: 'profile-loader', acks: 'all' });
    // Older than any view: a task reading both picks the profiles first (smallest timestamp first).
    await loader.send(TOPICS.profiles, generator.profiles.map(([user, p]) => ({ key: user, value: JSON.stringify(p), timestamp: start - 3_600_000 })));
    await loader.close();

    const topology = analyticsTopology(this.settings);
    const tasks = topology.subtopologies.length * partitions;
    const names = 'abcdefgh';
    for (let n = 0; n < (options.instances ?? 2); n++) {
      const name = `${APP}-${names[n] ?? n}`;
      const app = createStreamsApp(topology, cluster, {
        applicationId: APP,
        clientId: name,
        processingGuarantee: 'exactly_once_v2',
        replicationFactor,
        ...(options.commitIntervalMs === undefined ? {} : { commitIntervalMs: options.commitIntervalMs }),
        // samsa's opt-in beyond Kafka: quiet partitions still close their windows.
        idleStreamTimeAdvance: { maxSkewMs: options.maxSkewMs },
        consumer: { sessionTimeoutMs: failover.sessionTimeoutMs, heartbeatIntervalMs: failover.heartbeatIntervalMs },
        producer: { transactionTimeoutMs: failover.transactionTimeoutMs },
        ...(options.logger === undefined ? {} : { logger: options.logger }),
      });
      this.instances.push({ name, app, crashed: false });
      await app.start();
    }
    const live = (): Instance[] => this.instances.filter((i) => !i.crashed);
    const tasksRun = (): number => live().reduce((n, i) => n + i.app.metrics.tasks.length, 0);
    const profilesLoaded = (): number => live().reduce((n, i) => n + i.app.store(STORES.profiles).all().length, 0);
    // Traffic starts once the group is stable and the profiles are in: a stream–table join is a lookup, not temporal.
    await this.until(() => live().every((i) => i.app.state === 'RUNNING') && tasksRun() === tasks && profilesLoaded() === generator.profiles.length, 120_000, () => `the instances to start (${this.instances.map((i) => `${i.name} ${i.app.state}${i.app.error === undefined ? '' : ` ${String(i.app.error)}`}`).join(', ')}; ${tasksRun()}/${tasks} tasks; ${profilesLoaded()}/${generator.profiles.length} profiles)`);
    say(`${this.instances.map((i) => i.name).join(' and ')} running ${tasks} tasks; ${generator.profiles.length} user profiles loaded`);

    const windowSerde = timeWindowedSerde(string(), this.settings.windowMs);
    const tails = [
      this.tail(this.settings.windowTopic, partitions, (r) => {
        const key: Windowed<string> = windowSerde.deserialize(r.key as Uint8Array, this.settings.windowTopic);
        this.finals.push({ id: windowId(key.key, key.window.start), region: key.key, start: key.window.start, count: JSON.parse(decoder.decode(r.value as Uint8Array)) as number });
      }),
      this.tail(TOPICS.clickThrough, partitions, (r) => this.clickThrough.set(decoder.decode(r.key as Uint8Array), JSON.parse(decoder.decode(r.value as Uint8Array)) as ClickThrough)),
      this.tail(TOPICS.enriched, partitions, () => this.enrichedSeen++),
    ];

    if (options.startAt !== undefined) await pause(cluster, Math.max(0, options.startAt - clock.now()));
    // Traffic: one producer per source, as separate services would send it.
    this.phase = 'sending traffic';
    const producers = new Map<Source, ReturnType<Cluster['producer']>>((['web', 'ios', 'android'] as const).map((s) => [s, cluster.producer({ clientId: `source-${s}`, acks: 'all', lingerMs: 5 })]));
    const views: PageView[] = [];
    const clicks: Click[] = [];
    const began = clock.now();
    let crashed = false;
    let crashedTasks: readonly string[] = [];
    let takeoverMs: number | undefined;
    const watchTakeover = async (crashedAt: number): Promise<void> => {
      while (!(tasksRun() === tasks && live().every((i) => i.app.state === 'RUNNING'))) {
        if (this.stopped) return;
        await pause(cluster, 100);
      }
      takeoverMs = clock.now() - crashedAt;
      say(`${live().map((i) => i.name).join(', ')} took over every task ${(takeoverMs / 1000).toFixed(1)} s after the crash (session timeout ${failover.sessionTimeoutMs / 1000} s)`);
    };
    let watching: Promise<void> | undefined;
    for (let now = began; now - began < options.generateForMs; now = clock.now()) {
      const traffic = generator.next(now);
      await Promise.all(
        [...producers].map(async ([source, producer]) => {
          const v = traffic.views.filter((e) => e.source === source);
          const c = traffic.clicks.filter((e) => e.source === source);
          if (v.length > 0) await producer.send(TOPICS.views, v.map((e) => ({ key: e.user, value: JSON.stringify(e), timestamp: e.eventTime })));
          if (c.length > 0) await producer.send(TOPICS.clicks, c.map((e) => ({ key: e.user, value: JSON.stringify(e), timestamp: e.eventTime })));
        }),
      );
      // Only what was acknowledged is input (a failed send throws and ends the run).
      views.push(...traffic.views);
      clicks.push(...traffic.clicks);
      this.produced.views = views.length;
      this.produced.clicks = clicks.length;
      const victim = this.instances[0];
      if (options.crashAfterMs !== undefined && !crashed && victim !== undefined && now - began >= options.crashAfterMs) {
        crashed = true;
        crashedTasks = victim.app.metrics.tasks;
        crash(cluster, victim);
        say(`${victim.name} CRASHED: its clients fall silent (no leave, no commit, no abort) while it runs ${crashedTasks.length} tasks`);
        watching = watchTakeover(clock.now());
      }
      await pause(cluster, options.tickMs ?? 100);
    }
    const stoppedAt = clock.now();
    for (const p of producers.values()) await p.close();
    say(`traffic stopped: ${views.length} views, ${clicks.length} clicks`);

    // With no more records, only idleStreamTimeAdvance moves stream time past the last windows' end + grace.
    this.phase = 'closing the last windows';
    const expected = expectedResults({ profiles: generator.profiles, views, clicks }, this.settings);
    const complete = (): boolean => {
      const final = new Set(this.finals.map((f) => f.id));
      return [...expected.windows.keys()].every((id) => final.has(id)) && this.enrichedSeen >= expected.enriched.length && [...expected.clickThrough].every(([page, row]) => this.clickThrough.get(page)?.clicks === row.clicks && this.clickThrough.get(page)?.views === row.views);
    };
    const { windowMs, graceMs } = this.settings;
    // A shortfall (a dropped record, a lost result) is reported by the comparison below, not by waiting forever.
    await this.until(complete, windowMs + graceMs + options.maxSkewMs + 30_000, 'the last windows to close').catch(() => say('not every expected result arrived in time'));
    const closedAfterMs = clock.now() - stoppedAt;
    if (complete()) say(`the last windows closed ${(closedAfterMs / 1000).toFixed(1)} s after the traffic stopped (window end + ${graceMs / 1000} s grace + ${options.maxSkewMs / 1000} s skew)`);
    // A duplicate would come after the expected results: give it a few commit intervals to show.
    await pause(cluster, Math.max(1_000, 3 * (options.commitIntervalMs ?? 100)));

    this.phase = 'verifying';
    this.stopped = true;
    await Promise.all([...tails, watching]);
    const dropped = this.instances.reduce((n, i) => n + i.app.metrics.perTask.reduce((m, t) => m + t.droppedRecords, 0), 0);
    // The crashed instance is left as it is: a dead process is never closed.
    for (const i of live()) await i.app.close();
    const finals = (await this.readAll(this.settings.windowTopic, partitions)).map((r): FinalWindow => {
      const key = windowSerde.deserialize(r.key as Uint8Array, this.settings.windowTopic);
      return { id: windowId(key.key, key.window.start), region: key.key, start: key.window.start, count: JSON.parse(decoder.decode(r.value as Uint8Array)) as number };
    });
    const ctrSerde = json<ClickThrough>();
    const clickThrough = new Map((await this.readAll(TOPICS.clickThrough, partitions)).map((r) => [decoder.decode(r.key as Uint8Array), ctrSerde.deserialize(r.value as Uint8Array, TOPICS.clickThrough)]));
    const enriched = (await this.readAll(TOPICS.enriched, partitions)).map((r) => json<EnrichedView>().deserialize(r.value as Uint8Array, TOPICS.enriched));
    const actual = { finals, clickThrough, enriched };
    this.phase = 'done';
    return { produced: { ...this.produced }, profiles: generator.profiles.length, expected, actual, problems: compareResults(expected, actual), dropped, crashedTasks, takeoverMs, closedAfterMs };
  }

  /** Waits (on the cluster's clock) until `done` holds; rejects after `withinMs`. */
  private async until(done: () => boolean, withinMs: number, what: string | (() => string)): Promise<void> {
    const deadline = this.cluster.clock.now() + withinMs;
    while (!done()) {
      if (this.cluster.clock.now() > deadline) throw new Error(`timed out waiting for ${typeof what === 'string' ? what : what()}`);
      await pause(this.cluster, 100);
    }
  }

  /** Reads `topic` with read_committed from the start while the run lasts, handing every record to `onRecord`. */
  private async tail(topic: string, partitions: number, onRecord: (r: ConsumerRecord) => void): Promise<void> {
    const consumer = this.cluster.consumer({ clientId: `tail-${topic}`, isolationLevel: 'read_committed', autoOffsetReset: 'earliest', enableAutoCommit: false });
    consumer.assign(Array.from({ length: partitions }, (_, partition) => ({ topic, partition })));
    while (!this.stopped) for (const r of await consumer.poll({ timeoutMs: 100 })) onRecord(r);
    await consumer.close();
  }

  /** Every committed record of `topic`, read from the start to its last stable offset. */
  private async readAll(topic: string, partitions: number): Promise<ConsumerRecord[]> {
    const ends = await this.cluster.admin().listOffsets(topic, 'latest', { isolationLevel: 'read_committed' });
    const consumer = this.cluster.consumer({ clientId: `check-${topic}`, isolationLevel: 'read_committed', autoOffsetReset: 'earliest', enableAutoCommit: false, maxPollRecords: 10_000 });
    const assigned = Array.from({ length: partitions }, (_, partition) => ({ topic, partition }));
    consumer.assign(assigned);
    const out: ConsumerRecord[] = [];
    const done = async (): Promise<boolean> => {
      for (const tp of assigned) if ((await consumer.position(tp)) < (ends.find((e) => e.partition === tp.partition)?.offset ?? 0n)) return false;
      return true;
    };
    while (!(await done())) out.push(...(await consumer.poll({ timeoutMs: 100 })));
    await consumer.close();
    return out;
  }
}

/** Waits `ms` on the cluster's clock (simulated or not). */
function pause(cluster: Cluster, ms: number): Promise<void> {
  return new Promise((resolve) => cluster.clock.setTimeout(resolve, ms));
}

/** Drops every message to or from the clients of these instances, as if their process died. */
const silenced = new WeakMap<Cluster, Set<string>>();

/**
 * Crashes an instance as a process dies: its clients (consumer, producer, admin; all named after
 * its client id) fall silent for good. Nothing is sent on its behalf: no LeaveGroup, no commit,
 * no abort; the group notices after the session timeout and the coordinator aborts its open
 * transaction after the transaction timeout.
 */
export function crash(cluster: Cluster, instance: Instance): void {
  instance.crashed = true;
  let prefixes = silenced.get(cluster);
  if (prefixes === undefined) {
    const set = new Set<string>();
    silenced.set(cluster, (prefixes = set));
    const network = cluster.network;
    const send = network.send.bind(network);
    network.send = (from, to, message) => {
      for (const prefix of set) if (from.startsWith(prefix) || to.startsWith(prefix)) return;
      send(from, to, message);
    };
  }
  prefixes.add(`client:${instance.name}-`);
}

