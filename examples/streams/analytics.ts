/**
 * Real-time analytics with samsa's streams DSL. Page views and clicks arrive from several sources
 * (web, iOS, Android) on `page-views` and `clicks`, keyed by user id, each a JSON event with its
 * page, region, source and event time (also the record's timestamp); `user-profiles` is a
 * compacted table of user id → { region, tier }. One topology computes:
 *
 * - views per region per minute: re-keyed by region (a repartition), counted in tumbling 1-minute
 *   windows with 10 s grace, and `suppress(untilWindowCloses())`, so `views-per-region-minute`
 *   receives one final count per region and window, once the window closed;
 * - click-through per page: every click joins the views of the same user within 10 s (a windowed
 *   stream–stream join; both topics are keyed by user id and co-partitioned, so no repartition),
 *   and counts when it joined the very view it was made on (its `viewId`); such clicks and all
 *   views are counted per page (re-keyed by page) and joined into a table of views, clicks and
 *   their ratio → `click-through`;
 * - enrichment: each view joins the user's profile (a stream–table join) → `enriched-views`.
 *
 * Besides the topology, the module exports the seeded event generator and the oracle the test and
 * the demo check against.
 *
 *   npm run example:analytics                 (seed 7, 2 minutes of traffic)
 *   npm run example:analytics -- --seed 42 --minutes 5
 *
 * runs it with two app instances under exactly_once_v2 on an embedded 3-broker cluster on
 * simulated time (minutes of traffic take seconds, and a seed prints the same numbers every run),
 * then prints the final window counts, the click-through table and a few enriched views, checked
 * against the oracle. `analyticsDemo.ts` runs it live on the wall clock.
 */
import { count, filter, groupBy, join, joinWindows, json, StreamsBuilder, string, timeWindowedSerde, toTopic, tumbling, untilWindowCloses, windowedBy } from '../../src/index.ts';
import type { Topology } from '../../src/index.ts';
import { createRandom, createTestCluster } from '../../src/testing.ts';
import type { Random } from '../../src/testing.ts';
import { AnalyticsRun, RUN_BROKER_CONFIG } from './analyticsRun.ts';

/** Where a view or click came from. */
export type Source = 'web' | 'ios' | 'android';

/** A page view as written to `page-views` (keyed by `user`; the record timestamp is `eventTime`). */
export interface PageView {
  readonly viewId: string;
  readonly user: string;
  readonly page: string;
  /** Where the user browsed from (not always their home region). */
  readonly region: string;
  readonly source: Source;
  readonly eventTime: number;
}

/** A click as written to `clicks` (keyed by `user`; the record timestamp is `eventTime`). */
export interface Click {
  readonly clickId: string;
  readonly user: string;
  /** The page the click was on. */
  readonly page: string;
  /** The view of that page the click was made on; null for a click from elsewhere (an email link). */
  readonly viewId: string | null;
  readonly region: string;
  readonly source: Source;
  readonly eventTime: number;
}

/** A row of `user-profiles` (keyed by user id). */
export interface UserProfile {
  readonly region: string;
  readonly tier: 'free' | 'pro' | 'team';
}

/** A view with its user's profile, as `enriched-views` holds it (keyed by user id). */
export interface EnrichedView extends PageView {
  readonly tier: UserProfile['tier'];
  readonly homeRegion: string;
}

/** A row of the click-through table (keyed by page). */
export interface ClickThrough {
  readonly views: number;
  /** Clicks made on a view of the page within 10 s of it (at most one per view). */
  readonly clicks: number;
  /** clicks / views, to four decimals. */
  readonly ratio: number;
}

/** Topic names. */
export const TOPICS = {
  views: 'page-views',
  clicks: 'clicks',
  profiles: 'user-profiles',
  viewsPerRegion: 'views-per-region-minute',
  clickThrough: 'click-through',
  enriched: 'enriched-views',
} as const;

/** Store names, for interactive queries. */
export const STORES = {
  profiles: 'user-profiles',
  /** The windowed counts per region (a window store: the open windows while they are open). */
  viewsPerRegion: 'views-per-region',
  viewsPerPage: 'views-per-page',
  clicksPerPage: 'clicks-per-page',
  clickThrough: 'click-through',
} as const;

/** How far apart a click and a view of the same user may be to join. */
export const CLICK_WINDOW_MS = 10_000;

/** Parameters of the topology (the demo shortens the windows so a half-minute run closes several). */
export interface AnalyticsOptions {
  /** Size of the tumbling windows (default 60 000). */
  readonly windowMs?: number;
  /** Grace of the windows: how late a view may arrive and still count (default 10 000). */
  readonly graceMs?: number;
  /** Grace of the click–view join: how long its stores keep records beyond the 10 s window (default 10 000). */
  readonly joinGraceMs?: number;
  /** Topic of the final window counts (default `views-per-region-minute`). */
  readonly windowTopic?: string;
}

/** A click paired with a view by the join: `attributed` when the view is the one it was made on. */
interface AttributedClick {
  readonly clickId: string;
  readonly page: string;
  readonly attributed: boolean;
}

/** The options with their defaults. */
export function analyticsOptions(options: AnalyticsOptions = {}): Required<AnalyticsOptions> {
  return { windowMs: options.windowMs ?? 60_000, graceMs: options.graceMs ?? 10_000, joinGraceMs: options.joinGraceMs ?? 10_000, windowTopic: options.windowTopic ?? TOPICS.viewsPerRegion };
}

/** The click-through row for `views` and `clicks` (the topology and the oracle share it, so the ratios are the same numbers). */
export function clickThroughOf(views: number, clicks: number): ClickThrough {
  return { views, clicks, ratio: views === 0 ? 0 : Math.round((clicks / views) * 10_000) / 10_000 };
}

/**
 * The analytics topology (see the module comment). `page-views`, `clicks` and `user-profiles` are
 * read by one sub-topology (the joins share its stores), so they need equal partition counts; the
 * re-keyed aggregations go through repartition topics the app creates.
 */
export function analyticsTopology(options: AnalyticsOptions = {}): Topology {
  const { windowMs, graceMs, joinGraceMs, windowTopic } = analyticsOptions(options);
  const builder = new StreamsBuilder();
  const profiles = builder.table(TOPICS.profiles, { key: string(), value: json<UserProfile>(), store: STORES.profiles });
  const views = builder.stream(TOPICS.views, { key: string(), value: json<PageView>() });
  const clicks = builder.stream(TOPICS.clicks, { key: string(), value: json<Click>() });

  // Views per region per window: one final count per window, emitted when stream time passes end + grace.
  views
    .pipe(groupBy((r) => r.value.region, { key: string(), value: json<PageView>(), name: 'views-by-region' }), windowedBy(tumbling({ sizeMs: windowMs, graceMs })), count({ store: STORES.viewsPerRegion }))
    .suppress(untilWindowCloses(), { name: 'views-per-region-final' })
    .toStream()
    .pipe(toTopic(windowTopic, { key: timeWindowedSerde(string(), windowMs), value: json<number>() }));

  // Click-through: both sides are keyed by user id already, so the join needs no repartition. It
  // pairs a click with every view of its user within 10 s; only the pair with its own view counts,
  // so each click counts once at most, and only when it came within 10 s of its view.
  const viewsPerPage = views.pipe(groupBy((r) => r.value.page, { key: string(), value: json<PageView>(), name: 'views-by-page' }), count({ store: STORES.viewsPerPage }));
  const clicksPerPage = clicks.pipe(
    join(views, (click, view): AttributedClick => ({ clickId: click.clickId, page: click.page, attributed: click.viewId === view.viewId }), joinWindows({ timeDifferenceMs: CLICK_WINDOW_MS, graceMs: joinGraceMs }), {
      name: 'click-view',
      // Named stores keep their changelog topics' names stable across changes of the topology.
      thisStore: 'click-view-clicks',
      otherStore: 'click-view-views',
      key: string(),
      value: json<Click>(),
      otherValue: json<PageView>(),
    }),
    filter((r) => r.value.attributed),
    groupBy((r) => r.value.page, { key: string(), value: json<AttributedClick>(), name: 'clicks-by-page' }),
    count({ store: STORES.clicksPerPage }),
  );
  viewsPerPage
    .leftJoin(clicksPerPage, (viewCount, clickCount) => clickThroughOf(viewCount, clickCount ?? 0), { store: STORES.clickThrough, value: json<ClickThrough>() })
    .toStream()
    .pipe(toTopic(TOPICS.clickThrough, { key: string(), value: json<ClickThrough>() }));

  // Enrichment: a lookup of the profile as it is when the view is processed (not temporal).
  views.pipe(
    join(profiles, (view, profile): EnrichedView => ({ ...view, tier: profile.tier, homeRegion: profile.region })),
    toTopic(TOPICS.enriched, { key: string(), value: json<EnrichedView>() }),
  );
  return builder.build();
}

/* ------------------------------------------------------------------------------------------ */
/* The event generator                                                                         */
/* ------------------------------------------------------------------------------------------ */

const REGIONS = ['eu-west', 'us-east', 'us-west', 'ap-south'] as const;
const SOURCES: readonly Source[] = ['web', 'ios', 'android'];
/** Pages and how likely a view of each is followed by a click on it. */
const PAGES: ReadonlyArray<readonly [string, number]> = [
  ['/', 0.15],
  ['/pricing', 0.35],
  ['/docs', 0.1],
  ['/blog', 0.05],
  ['/signup', 0.5],
  ['/checkout', 0.6],
];
const TIERS: ReadonlyArray<UserProfile['tier']> = ['free', 'free', 'free', 'pro', 'team'];

/** Options of {@link TrafficGenerator}. */
export interface TrafficOptions {
  readonly seed: number;
  /** Users u01…; every fifth has no profile (a visitor not signed in). Default 40. */
  readonly users?: number;
  /** Average page views per second (default 30). */
  readonly viewsPerSecond?: number;
  /** How far an event's time may lag the moment it is sent (out-of-order arrival; default 2 000). Keep it below the grace. */
  readonly maxDelayMs?: number;
}

/** What {@link TrafficGenerator.next} emits. */
export interface Traffic {
  readonly views: PageView[];
  readonly clicks: Click[];
}

/**
 * Seeded traffic. Each view may be followed by a click on it 0.3–13 s later (so some fall outside
 * the 10 s join window), and a few clicks come from elsewhere, with no view. The same seed and the
 * same sequence of `next(now)` calls give the same events.
 */
export class TrafficGenerator {
  /** The profiles of the users who have one, to write to `user-profiles` before any traffic. */
  readonly profiles: ReadonlyArray<readonly [string, UserProfile]>;
  private readonly random: Random;
  private readonly users: string[];
  private readonly home = new Map<string, string>();
  private readonly viewsPerSecond: number;
  private readonly maxDelayMs: number;
  /** Clicks decided already, sent once their event time has come. */
  private pending: Click[] = [];
  private last: number | undefined;
  private owed = 0;
  private views = 0;
  private clicks = 0;

  constructor(options: TrafficOptions) {
    this.random = createRandom(options.seed);
    this.viewsPerSecond = options.viewsPerSecond ?? 30;
    this.maxDelayMs = options.maxDelayMs ?? 2_000;
    this.users = Array.from({ length: options.users ?? 40 }, (_, i) => `u${String(i + 1).padStart(2, '0')}`);
    const profiles: Array<[string, UserProfile]> = [];
    this.users.forEach((user, i) => {
      const region = this.random.pick(REGIONS);
      this.home.set(user, region);
      if ((i + 1) % 5 !== 0) profiles.push([user, { region, tier: this.random.pick(TIERS) }]);
    });
    this.profiles = profiles;
  }

  /** The events sent at `now` (ms, not before the previous call): the views since the previous call, and the clicks whose time has come. */
  next(now: number): Traffic {
    const elapsed = this.last === undefined ? 0 : now - this.last;
    this.last = now;
    this.owed += (elapsed / 1_000) * this.viewsPerSecond;
    const views: PageView[] = [];
    for (; this.owed >= 1; this.owed--) {
      const user = this.random.pick(this.users);
      // Mostly from home; now and then from elsewhere (travel, a VPN).
      const region = this.random.next() < 0.8 ? (this.home.get(user) as string) : this.random.pick(REGIONS);
      const [page, clickRate] = this.random.pick(PAGES);
      const view: PageView = { viewId: `v${++this.views}`, user, page, region, source: this.random.pick(SOURCES), eventTime: Math.max(0, now - this.random.int(this.maxDelayMs + 1)) };
      views.push(view);
      if (this.random.next() < clickRate) this.pending.push({ clickId: '', user, page, viewId: view.viewId, region, source: view.source, eventTime: view.eventTime + 300 + this.random.int(12_700) });
      // A click from a link elsewhere (an email, a bookmark): it joins views, but none is its own.
      if (this.random.next() < 0.03) this.pending.push({ clickId: '', user: this.random.pick(this.users), page: this.random.pick(PAGES)[0], viewId: null, region, source: this.random.pick(SOURCES), eventTime: Math.max(0, now - this.random.int(this.maxDelayMs + 1)) });
    }
    const due = this.pending.filter((c) => c.eventTime <= now);
    this.pending = this.pending.filter((c) => c.eventTime > now);
    return { views, clicks: due.map((c) => ({ ...c, clickId: `c${++this.clicks}` })) };
  }
}

/* ------------------------------------------------------------------------------------------ */
/* The oracle                                                                                  */
/* ------------------------------------------------------------------------------------------ */

/** What the topology must produce for some input. */
export interface ExpectedResults {
  /** Final count per `region@windowStart`. */
  readonly windows: Map<string, number>;
  /** The click-through row per page viewed. */
  readonly clickThrough: Map<string, ClickThrough>;
  /** The enriched views, by view id. */
  readonly enriched: EnrichedView[];
}

/** The key of a window in {@link ExpectedResults.windows}. */
export function windowId(region: string, start: number): string {
  return `${region}@${start}`;
}

/**
 * Computes the results straight from the events, assuming every window closes (stream time passed
 * the last end + grace), no event arrives later than the grace, and the profiles were loaded
 * before the views (a stream–table join is a lookup at processing time).
 */
export function expectedResults(input: { readonly profiles: ReadonlyArray<readonly [string, UserProfile]>; readonly views: readonly PageView[]; readonly clicks: readonly Click[] }, options: AnalyticsOptions = {}): ExpectedResults {
  const { windowMs } = analyticsOptions(options);
  const windows = new Map<string, number>();
  const viewsPerPage = new Map<string, number>();
  const viewsById = new Map<string, PageView>();
  for (const v of input.views) {
    const id = windowId(v.region, Math.floor(v.eventTime / windowMs) * windowMs);
    windows.set(id, (windows.get(id) ?? 0) + 1);
    viewsPerPage.set(v.page, (viewsPerPage.get(v.page) ?? 0) + 1);
    viewsById.set(v.viewId, v);
  }
  // A click counts when its own view (same user) is within the join window, both ends inclusive.
  const clicksPerPage = new Map<string, number>();
  for (const c of input.clicks) {
    const view = c.viewId === null ? undefined : viewsById.get(c.viewId);
    if (view !== undefined && view.user === c.user && Math.abs(view.eventTime - c.eventTime) <= CLICK_WINDOW_MS) clicksPerPage.set(c.page, (clicksPerPage.get(c.page) ?? 0) + 1);
  }
  const clickThrough = new Map([...viewsPerPage].map(([page, n]) => [page, clickThroughOf(n, clicksPerPage.get(page) ?? 0)]));
  const profiles = new Map(input.profiles);
  const enriched = input.views.flatMap((v): EnrichedView[] => {
    const p = profiles.get(v.user);
    return p === undefined ? [] : [{ ...v, tier: p.tier, homeRegion: p.region }];
  });
  return { windows, clickThrough, enriched: sortById(enriched) };
}

/** What the output topics held, read back with read_committed. */
export interface ActualResults {
  /** Every record of the window topic, in the order read (a window twice would be a duplicate). */
  readonly finals: ReadonlyArray<{ readonly id: string; readonly count: number }>;
  /** The last row per page of `click-through`. */
  readonly clickThrough: Map<string, ClickThrough>;
  /** Every record of `enriched-views`. */
  readonly enriched: EnrichedView[];
}

/** The differences between what the topology produced and the oracle, as sentences; empty when they agree. */
export function compareResults(expected: ExpectedResults, actual: ActualResults): string[] {
  const problems: string[] = [];
  const seen = new Map<string, number>();
  for (const f of actual.finals) {
    if (seen.has(f.id)) problems.push(`window ${f.id} emitted more than once`);
    seen.set(f.id, f.count);
  }
  for (const [id, n] of expected.windows) if (seen.get(id) !== n) problems.push(`window ${id}: expected ${n} views, got ${seen.get(id) ?? 'no final result'}`);
  for (const id of seen.keys()) if (!expected.windows.has(id)) problems.push(`window ${id}: a final result for a window with no views`);
  for (const [page, row] of expected.clickThrough) {
    const got = actual.clickThrough.get(page);
    if (got?.views !== row.views || got.clicks !== row.clicks || got.ratio !== row.ratio) problems.push(`click-through of ${page}: expected ${JSON.stringify(row)}, got ${JSON.stringify(got ?? null)}`);
  }
  for (const page of actual.clickThrough.keys()) if (!expected.clickThrough.has(page)) problems.push(`click-through of ${page}: not expected`);
  const enriched = sortById(actual.enriched);
  if (JSON.stringify(enriched) !== JSON.stringify(expected.enriched)) problems.push(`enriched views: expected ${expected.enriched.length}, got ${enriched.length} (${new Set(enriched.map((e) => e.viewId)).size} distinct), or different contents`);
  return problems;
}

function sortById(views: readonly EnrichedView[]): EnrichedView[] {
  // Key order fixed too, so JSON comparison does not depend on how an object was built.
  return views.map((v) => ({ viewId: v.viewId, user: v.user, page: v.page, region: v.region, source: v.source, eventTime: v.eventTime, tier: v.tier, homeRegion: v.homeRegion })).sort((a, b) => Number(a.viewId.slice(1)) - Number(b.viewId.slice(1)));
}

/* ------------------------------------------------------------------------------------------ */
/* npm run example:analytics                                                                   */
/* ------------------------------------------------------------------------------------------ */

function flag(name: string, fallback: number): number {
  const i = process.argv.indexOf(`--${name}`);
  const value = i < 0 ? fallback : Number(process.argv[i + 1]);
  if (!Number.isSafeInteger(value) || value <= 0) throw new Error(`--${name} needs a positive integer, got ${process.argv[i + 1] ?? 'nothing'}`);
  return value;
}

async function main(): Promise<void> {
  const seed = flag('seed', 7);
  const minutes = flag('minutes', 2);
  const trafficStart = Date.UTC(2024, 0, 1, 9, 0, 0);
  const cluster = await createTestCluster({ seed, brokers: 3, startMs: trafficStart - 30_000, brokerConfig: RUN_BROKER_CONFIG });
  console.log(`analytics on an embedded 3-broker cluster on simulated time (seed ${seed}): ${minutes} minutes of traffic from ${new Date(trafficStart).toISOString()}, two app instances, exactly_once_v2`);
  // Fewer, larger transactions than Kafka's 100 ms: the same results, and simulated minutes pass faster.
  // A second in, so that no event (up to a second out of order) falls before 09:00, and ending by the last minute's end.
  const run = new AnalyticsRun(cluster, { seed, startAt: trafficStart + 1_000, generateForMs: minutes * 60_000 - 1_000, viewsPerSecond: 10, tickMs: 250, maxSkewMs: 2_000, commitIntervalMs: 1_000 });
  const result = await cluster.settle(run.run(), { maxSimulatedMs: minutes * 60_000 + 300_000 });
  const time = (ms: number): string => new Date(ms).toISOString().slice(11, 16);
  console.log(`\n${result.produced.views} views and ${result.produced.clicks} clicks from ${result.profiles} profiled users and some visitors\n`);
  console.log(`${TOPICS.viewsPerRegion} (final counts, one per window):`);
  for (const f of [...result.actual.finals].sort((a, b) => a.start - b.start || a.region.localeCompare(b.region))) console.log(`  ${time(f.start)}–${time(f.start + 60_000)}  ${f.region.padEnd(9)} ${String(f.count).padStart(5)} view${f.count === 1 ? '' : 's'}`);
  console.log(`\n${TOPICS.clickThrough}:`);
  for (const [page, row] of [...result.actual.clickThrough].sort((a, b) => b[1].ratio - a[1].ratio)) console.log(`  ${page.padEnd(10)} ${String(row.views).padStart(5)} views ${String(row.clicks).padStart(5)} clicks  ratio ${row.ratio.toFixed(4)}`);
  console.log(`\n${TOPICS.enriched} (${result.actual.enriched.length} records; views of visitors without a profile are not joined), the first three:`);
  for (const e of result.actual.enriched.slice(0, 3)) console.log(`  ${JSON.stringify(e)}`);
  const ok = result.problems.length === 0;
  console.log(`\n${ok ? 'verified' : 'FAILED'}: ${result.expected.windows.size} final windows ${ok ? 'equal' : 'against'} the oracle, each emitted once; click-through of ${result.expected.clickThrough.size} pages; ${result.expected.enriched.length} enriched views`);
  for (const p of result.problems.slice(0, 20)) console.log(`  ${p}`);
  if (!ok) process.exitCode = 1;
}

if (import.meta.url === `file://${process.argv[1]}`) await main();
