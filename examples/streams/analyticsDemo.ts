/**
 * The streams stage of `npm start`: the analytics topology of `analytics.ts` live on the wall
 * clock. An embedded 3-broker cluster; seeded page views and clicks from three sources (web, iOS,
 * Android) with event time ≈ now (up to a second out of order) for SAMSA_DEMO_STREAMS_SECONDS
 * (default 24); two app instances under exactly_once_v2. A live display shows the open windows
 * (interactive queries of the instances' window stores), the final counts as they are committed,
 * and the click-through table. Partway through, one instance crashes (its clients fall silent:
 * no leave, no commit, no abort); the other takes over its tasks after the session timeout,
 * restoring their stores from the changelogs. The run ends with a verified summary: every final
 * window count equals the oracle and none was emitted twice; the click-through table and the
 * enriched views equal it too. Exits non-zero when they do not.
 *
 * The windows are 10 s long (the example's are a minute) so that a half-minute run closes
 * several; their grace stays 10 s, longer than the takeover, so the records the survivor
 * processes again are not late. When the traffic stops, `idleStreamTimeAdvance` (samsa's opt-in
 * beyond Kafka, whose stream time moves only with records) moves stream time with the wall clock,
 * so the last windows close without new records.
 *
 *   npx tsx examples/streams/analyticsDemo.ts                          (also the second half of `npm start`)
 *   SAMSA_DEMO_STREAMS_SECONDS=60 SAMSA_DEMO_SEED=7 npx tsx examples/streams/analyticsDemo.ts
 */
import { consoleLogger, createCluster, SystemClock } from '../../src/index.ts';
import { TOPICS } from './analytics.ts';
import { AnalyticsRun, FAST_FAILOVER, RUN_BROKER_CONFIG } from './analyticsRun.ts';

const SECONDS = Number(process.env.SAMSA_DEMO_STREAMS_SECONDS ?? 24);
const WINDOW_MS = 10_000;
const GRACE_MS = 10_000;
const MAX_SKEW_MS = 1_000;
const WINDOW_TOPIC = 'views-per-region-10s';
const REGIONS = ['ap-south', 'eu-west', 'us-east', 'us-west'];

async function main(): Promise<void> {
  if (!Number.isFinite(SECONDS) || SECONDS < 5) throw new Error(`SAMSA_DEMO_STREAMS_SECONDS must be a number ≥ 5, got ${process.env.SAMSA_DEMO_STREAMS_SECONDS ?? ''}`);
  const clock = new SystemClock();
  // Warnings (a crashed instance's requests timing out) go to a list, not over the display.
  const warnings: string[] = [];
  const logger = consoleLogger({ level: 'warn', write: (entry) => warnings.push(`${entry.level} ${entry.message} ${JSON.stringify(entry.fields, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v))}`) });
  const cluster = await createCluster({ brokers: 3, clock, logger, brokerConfig: RUN_BROKER_CONFIG });
  const started = clock.now();
  const elapsed = (): string => `${((clock.now() - started) / 1000).toFixed(1)}s`;
  const tty = process.stdout.isTTY === true;
  const events: string[] = [];
  const say = (line: string): void => {
    events.push(`${elapsed().padStart(6)} ${line}`);
    if (!tty) console.log(`  ${elapsed().padStart(6)} ${line}`);
  };
  console.log(`\nsamsa streams: real-time analytics (examples/streams/analytics.ts) on an embedded 3-broker cluster, ${SECONDS} s of traffic`);
  console.log(`  ${WINDOW_MS / 1000} s windows with ${GRACE_MS / 1000} s grace (the example's are a minute), two instances under exactly_once_v2, one crashed partway`);
  console.log(`  idleStreamTimeAdvance { maxSkewMs: ${MAX_SKEW_MS} }: samsa's opt-in beyond Kafka, so the last windows close when the traffic stops\n`);
  const run = new AnalyticsRun(cluster, {
    seed: Number(process.env.SAMSA_DEMO_SEED ?? 2024),
    generateForMs: SECONDS * 1_000,
    crashAfterMs: Math.round(SECONDS * 400),
    viewsPerSecond: 40,
    tickMs: 100,
    maxSkewMs: MAX_SKEW_MS,
    windowMs: WINDOW_MS,
    graceMs: GRACE_MS,
    windowTopic: WINDOW_TOPIC,
    failover: FAST_FAILOVER,
    logger,
    say,
  });
  const display = startDisplay(run, elapsed, events, tty);
  let result: Awaited<ReturnType<AnalyticsRun['run']>>;
  try {
    result = await run.run();
  } finally {
    display.stop();
  }

  const seconds = (clock.now() - started) / 1000;
  const { expected, actual, problems } = result;
  const n = (x: number): string => x.toLocaleString('en-US');
  const ids = actual.finals.map((f) => f.id);
  const twice = ids.length - new Set(ids).size;
  const windowsOk = !problems.some((p) => p.startsWith('window'));
  const ctrOk = !problems.some((p) => p.startsWith('click-through'));
  const enrichedOk = !problems.some((p) => p.startsWith('enriched'));
  console.log(`\nstreams stage summary after ${seconds.toFixed(1)} s`);
  console.log(`  traffic           ${n(result.produced.views)} views and ${n(result.produced.clicks)} clicks over ${SECONDS} s from web, ios and android; ${result.profiles} user profiles`);
  console.log(`  failover          ${result.crashedTasks.length > 0 ? `analytics-a crashed holding ${result.crashedTasks.length} tasks (${result.crashedTasks.join(' ')}); ` : ''}${result.takeoverMs === undefined ? 'no takeover seen' : `analytics-b ran every task ${(result.takeoverMs / 1000).toFixed(1)} s later (session timeout ${FAST_FAILOVER.sessionTimeoutMs / 1000} s, restoring stores from changelogs)`}`);
  console.log(`  windows           ${actual.finals.length} final counts in ${WINDOW_TOPIC} for ${expected.windows.size} windows; ${windowsOk ? 'each equal to the oracle' : 'NOT equal to the oracle'}; ${twice} emitted twice; ${result.dropped} late records dropped`);
  console.log(`  click-through     ${actual.clickThrough.size} pages in ${TOPICS.clickThrough}; ${ctrOk ? 'views, clicks within 10 s of their view and ratios equal to the oracle' : 'NOT equal to the oracle'}`);
  console.log(`  enrichment        ${n(actual.enriched.length)} records in ${TOPICS.enriched} for ${n(expected.enriched.length)} views of profiled users; ${enrichedOk ? 'equal to the oracle' : 'NOT equal to the oracle'}`);
  console.log(`  last windows      closed ${(result.closedAfterMs / 1000).toFixed(1)} s after the traffic stopped, with no new records: idleStreamTimeAdvance (samsa's opt-in; in Kafka they would wait for more data)`);
  for (const e of events) console.log(`  ${e}`);
  if (warnings.length > 0) {
    console.log(`\nwarnings the cluster logged (${warnings.length}):`);
    for (const w of warnings.slice(0, 6)) console.log(`  ${w}`);
    if (warnings.length > 6) console.log(`  … and ${warnings.length - 6} more`);
  }
  const ok = problems.length === 0;
  console.log(`\n${ok ? 'verified' : 'FAILED'}: ${expected.windows.size} windows, ${problems.filter((p) => p.startsWith('window')).length} wrong or missing, ${twice} emitted twice; click-through ${ctrOk ? 'equal' : 'different'}; enrichment ${enrichedOk ? 'equal' : 'different'}`);
  for (const p of problems.slice(0, 12)) console.log(`  ${p}`);
  // No cluster.stop(): it closes every client, the crashed instance's too, whose close() waits on
  // a cluster it can no longer reach. Its process would be gone; this one exits instead.
  process.exit(ok ? 0 : 1);
}

/** The live display: redrawn in place on a terminal, a status line every few seconds otherwise. */
function startDisplay(run: AnalyticsRun, elapsed: () => string, events: readonly string[], tty: boolean): { stop(): void } {
  const clock = run.cluster.clock;
  const time = (ms: number): string => new Date(ms).toISOString().slice(11, 19);
  const row = (start: number, counts: Map<string, number>): string => `    ${time(start)}–${time(start + WINDOW_MS).slice(6)}  ${REGIONS.map((r) => `${r} ${String(counts.get(r) ?? '-').padStart(4)}`).join('   ')}`;
  let lines = 0;
  let ticks = 0;
  let stopped = false;
  const render = (last = false): void => {
    if (stopped && !last) return;
    const out: string[] = [];
    out.push(`samsa streams ${elapsed().padStart(6)}  ${run.phase.padEnd(24)} views ${String(run.produced.views).padStart(6)}  clicks ${String(run.produced.clicks).padStart(5)}`);
    out.push(`  instances  ${run.instances.map((i) => `${i.name} ${i.crashed ? 'CRASHED' : `${i.app.state} ${i.app.metrics.tasks.length} tasks`}`).join('   ') || 'starting'}`);
    out.push(`  open windows: interactive queries of the window stores (counts so far)`);
    const open = new Map<number, Map<string, number>>();
    try {
      for (const w of run.openWindows()) open.set(w.start, (open.get(w.start) ?? new Map<string, number>()).set(w.region, w.count));
    } catch {
      // A store moving between instances in a rebalance: shown again on the next tick.
    }
    const openRows = [...open].slice(-3);
    for (const [start, counts] of openRows) out.push(row(start, counts));
    for (let i = openRows.length; i < 3; i++) out.push('');
    out.push(`  final counts: ${WINDOW_TOPIC}, read_committed (one per window, once it closed)`);
    const finals = new Map<number, Map<string, number>>();
    for (const f of run.finals) finals.set(f.start, (finals.get(f.start) ?? new Map<string, number>()).set(f.region, f.count));
    const finalRows = [...finals].sort((a, b) => a[0] - b[0]).slice(-3);
    for (const [start, counts] of finalRows) out.push(row(start, counts));
    for (let i = finalRows.length; i < 3; i++) out.push('');
    const ctr = [...run.clickThrough].sort((a, b) => a[0].localeCompare(b[0]));
    out.push(`  click-through  ${ctr.map(([page, r]) => `${page} ${(r.ratio * 100).toFixed(0)}% (${r.clicks}/${r.views})`).join('  ')}`);
    out.push('  events');
    for (const e of events.slice(-4)) out.push(`  ${e}`);
    for (let i = Math.min(4, events.length); i < 4; i++) out.push('');
    if (tty) {
      if (lines > 0) process.stdout.write(`\x1b[${lines}A`);
      process.stdout.write(out.map((l) => `${l}\x1b[K`).join('\n') + '\n');
      lines = out.length;
    } else if (ticks++ % 4 === 0 && !last) console.log(out[0]);
    if (!last) clock.setTimeout(() => render(), tty ? 250 : 1_000);
  };
  render();
  return {
    stop: () => {
      stopped = true;
      if (tty) render(true);
    },
  };
}

await main();
