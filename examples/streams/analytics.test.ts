/**
 * The analytics example against its oracle: the join and window semantics it relies on, case by
 * case, and seeded traffic on the TopologyTestDriver (no cluster); then a live run on a simulated
 * 3-broker cluster under exactly_once_v2 where one of the two app instances crashes mid-run (its
 * clients fall silent) and the other takes over its tasks: every final window count equals the
 * oracle and is emitted exactly once, and the click-through table and the enriched views equal it.
 */
import { describe, expect, it } from 'vitest';
import { json, string, timeWindowedSerde } from '../../src/index.ts';
import type { Windowed } from '../../src/index.ts';
import { createTestCluster, TopologyTestDriver } from '../../src/testing.ts';
import type { Click, ClickThrough, EnrichedView, PageView, UserProfile } from './analytics.ts';
import { analyticsTopology, clickThroughOf, compareResults, expectedResults, STORES, TOPICS, TrafficGenerator, windowId } from './analytics.ts';
import { AnalyticsRun, RUN_BROKER_CONFIG } from './analyticsRun.ts';

const MINUTE = 60_000;
const T0 = Date.UTC(2024, 0, 1, 9, 0, 0);

/** A driver for the topology with its input and output topics. */
function driverFor(options: { maxSkewMs?: number; startMs?: number } = {}) {
  const driver = new TopologyTestDriver(analyticsTopology(), {
    applicationId: 'analytics',
    initialWallClockTimeMs: options.startMs ?? T0,
    ...(options.maxSkewMs === undefined ? {} : { idleStreamTimeAdvance: { maxSkewMs: options.maxSkewMs } }),
  });
  return {
    driver,
    profiles: driver.createInputTopic(TOPICS.profiles, string(), json<UserProfile>()),
    views: driver.createInputTopic(TOPICS.views, string(), json<PageView>()),
    clicks: driver.createInputTopic(TOPICS.clicks, string(), json<Click>()),
    finals: driver.createOutputTopic(TOPICS.viewsPerRegion, timeWindowedSerde(string(), MINUTE), json<number>()),
    clickThrough: driver.createOutputTopic(TOPICS.clickThrough, string(), json<ClickThrough>()),
    enriched: driver.createOutputTopic(TOPICS.enriched, string(), json<EnrichedView>()),
  };
}

const view = (viewId: string, user: string, page: string, region: string, eventTime: number): PageView => ({ viewId, user, page, region, source: 'web', eventTime });
const click = (clickId: string, user: string, page: string, viewId: string | null, eventTime: number): Click => ({ clickId, user, page, viewId, region: 'eu-west', source: 'web', eventTime });

describe('examples/streams: real-time analytics', () => {
  it('repartitions only the re-keyed aggregations: the joined sides are keyed by user id already', () => {
    const topology = analyticsTopology();
    expect([...topology.internalTopics].sort()).toEqual(['clicks-by-page-repartition', 'views-by-page-repartition', 'views-by-region-repartition']);
    // The three input topics share a sub-topology (the joins' stores), so they must be co-partitioned.
    expect(topology.subtopologies.map((s) => [...s.sourceTopics].sort())).toEqual([['clicks', 'page-views', 'user-profiles'], ['views-by-region-repartition'], ['clicks-by-page-repartition', 'views-by-page-repartition']]);
  });

  it('counts a click within 10 s of its own view, once; closes windows after end + grace; enriches profiled users only', () => {
    const t = driverFor();
    t.profiles.pipeInput('ada', { region: 'eu-west', tier: 'pro' }, T0 - 1);
    const inputs: Array<['view', PageView] | ['click', Click]> = [
      ['view', view('v1', 'ada', '/pricing', 'eu-west', T0 + 1_000)],
      ['view', view('v2', 'ada', '/pricing', 'eu-west', T0 + 2_000)],
      // Its own view v1 is exactly 10 s before: it counts (both ends inclusive), and only once
      // although it also joins v2 (not its own).
      ['click', click('c1', 'ada', '/pricing', 'v1', T0 + 11_000)],
      // 10.001 s after its view: outside the join window.
      ['click', click('c2', 'ada', '/pricing', 'v2', T0 + 12_001)],
      // From an email link: it joins ada's views, but none is its own.
      ['click', click('c3', 'ada', '/pricing', null, T0 + 3_000)],
      // A visitor without a profile: counted, not enriched.
      ['view', view('v3', 'bob', '/', 'us-east', T0 + 30_000)],
      // Stream time 70 s = end of minute 0 + 10 s grace: minute 0 closes and goes out.
      ['view', view('v4', 'ada', '/', 'eu-west', T0 + 70_000)],
      // Late for minute 0 (after its end + grace): dropped, and the final count stays 3.
      ['view', view('v5', 'ada', '/', 'eu-west', T0 + 59_000)],
    ];
    for (const [kind, value] of inputs) {
      if (kind === 'view') t.views.pipeInput(value.user, value, value.eventTime);
      else t.clicks.pipeInput(value.user, value, value.eventTime);
    }
    expect(t.finals.readKeyValuesToList().map(({ key, value }) => [(key as Windowed<string>).key, (key as Windowed<string>).window.start - T0, value])).toEqual([
      ['eu-west', 0, 2],
      ['us-east', 0, 1],
    ]);
    expect(t.driver.droppedRecords).toBe(1);
    // Views per page are not windowed: the late view counts there.
    expect(t.clickThrough.readKeyValuesToMap()).toEqual(
      new Map([
        ['/pricing', clickThroughOf(2, 1)],
        ['/', clickThroughOf(3, 0)],
      ]),
    );
    expect(t.enriched.readValuesToList().map((e) => [e?.viewId, e?.tier, e?.homeRegion])).toEqual([
      ['v1', 'pro', 'eu-west'],
      ['v2', 'pro', 'eu-west'],
      ['v4', 'pro', 'eu-west'],
      ['v5', 'pro', 'eu-west'],
    ]);
    // Minute 1 is still open: its count is in the window store, not yet in the topic.
    expect(t.driver.getWindowStore<string, number>(STORES.viewsPerRegion).fetch('eu-west', T0 + MINUTE)).toBe(1);
    t.driver.close();
  });

  it('computes exactly the oracle for seeded traffic on the TopologyTestDriver, each window once', () => {
    const maxSkewMs = 2_000;
    const t = driverFor({ maxSkewMs });
    const generator = new TrafficGenerator({ seed: 3, viewsPerSecond: 12 });
    for (const [user, profile] of generator.profiles) t.profiles.pipeInput(user, profile, T0 - 1);
    const views: PageView[] = [];
    const clicks: Click[] = [];
    // Four minutes sent as they happen, a quarter second at a time, events up to 2 s out of order.
    for (let now = T0; now < T0 + 4 * MINUTE; now += 250) {
      const traffic = generator.next(now);
      for (const v of traffic.views) t.views.pipeInput(v.user, v, v.eventTime);
      for (const c of traffic.clicks) t.clicks.pipeInput(c.user, c, c.eventTime);
      views.push(...traffic.views);
      clicks.push(...traffic.clicks);
      t.driver.advanceWallClockTime(250);
    }
    // No more traffic: idleStreamTimeAdvance moves stream time with the wall clock, closing the last minute.
    t.driver.advanceWallClockTime(MINUTE + 10_000 + maxSkewMs);
    const expected = expectedResults({ profiles: generator.profiles, views, clicks });
    const finals = t.finals.readKeyValuesToList().map(({ key, value }) => ({ id: windowId((key as Windowed<string>).key, (key as Windowed<string>).window.start), count: value as number }));
    expect(new Set(finals.map((f) => f.id)).size).toBe(finals.length);
    expect(new Map(finals.map((f) => [f.id, f.count]))).toEqual(expected.windows);
    expect(expected.windows.size).toBeGreaterThanOrEqual(16);
    const clickThrough = t.clickThrough.readKeyValuesToMap() as Map<string, ClickThrough>;
    expect(clickThrough).toEqual(expected.clickThrough);
    // Some clicks count, some do not (too late, or not on a view): the oracle is not trivial.
    const counted = [...expected.clickThrough.values()].reduce((n, r) => n + r.clicks, 0);
    expect(counted).toBeGreaterThan(0);
    expect(counted).toBeLessThan(clicks.length);
    const enriched = t.enriched.readValuesToList() as EnrichedView[];
    expect(enriched.length).toBeLessThan(views.length);
    expect(compareResults(expected, { finals, clickThrough, enriched })).toEqual([]);
    expect(t.driver.droppedRecords).toBe(0);
    t.driver.close();
  });

  it('on a cluster under exactly_once_v2, an instance crashed mid-run: every final window equals the oracle, emitted once', async () => {
    const seed = 11;
    const cluster = await createTestCluster({ seed, brokers: 3, brokerConfig: RUN_BROKER_CONFIG });
    const events: string[] = [];
    const run = new AnalyticsRun(cluster, { seed, generateForMs: 90_000, crashAfterMs: 45_000, maxSkewMs: 2_000, viewsPerSecond: 6, tickMs: 250, commitIntervalMs: 250, say: (line) => events.push(line) });
    const result = await cluster.settle(run.run(), { maxSimulatedMs: 400_000 });

    // The first instance crashed while it ran windowed counts (sub-topology 1: the count and the
    // suppression buffer); the second restored their stores from the changelogs and took every
    // task over within the grace, so none of the records it processed again were late.
    expect(run.instances.map((i) => i.crashed)).toEqual([true, false]);
    expect(result.crashedTasks.some((task) => task.startsWith('1_'))).toBe(true);
    expect(run.instances[1]?.app.metrics.restoredRecords).toBeGreaterThan(0);
    expect(result.takeoverMs).toBeLessThan(10_000);
    expect(result.dropped).toBe(0);

    const { expected, actual } = result;
    expect(new Set(actual.finals.map((f) => f.id)).size).toBe(actual.finals.length);
    expect(new Map(actual.finals.map((f) => [f.id, f.count]))).toEqual(expected.windows);
    // Minute windows over 90 s of traffic: two or three per region, all closed.
    expect(expected.windows.size).toBeGreaterThanOrEqual(8);
    expect(actual.clickThrough).toEqual(expected.clickThrough);
    expect(actual.enriched.length).toBe(expected.enriched.length);
    expect(result.problems).toEqual([]);
    expect(events.some((e) => e.includes('CRASHED'))).toBe(true);
  });
});
