/**
 * `npm run soak -- <seeds> [firstSeed] [--txn | --txn-reorder | --large | --idempotent | --pipeline | --groups | --streams | --es | --projections | --windows]`: runs a nemesis simulation for
 * many seeds (the test suite runs a few) and prints every failing seed with its anomalies. Exits
 * non-zero when any seed fails.
 *
 * - By default, the replication simulation; a failure replays with
 *   `SIM_SEED=<seed> npx vitest run test/actors/replication.sim.test.ts`. `--large`: the same
 *   with ~2 KB values (batches shared between replicas as views of one buffer). `--idempotent`:
 *   the same with idempotent producers under short delivery and request timeouts, several sends
 *   in flight and duplicated messages; replays with
 *   `SIM_SEED=<seed> npx vitest run test/clients/producer/idempotence.sim.test.ts`.
 * - `--txn`: the transactional simulation (test/sim/txnSim.ts) with its nemesis; `--txn-reorder`:
 *   its KAFKA-17754 scenario (delayed, reordered EndTxn, AddPartitionsToTxn, Produce and
 *   WriteTxnMarkers). A failure replays with
 *   `SIM_SEED=<seed> npx vitest run test/actors/transactions/transactions.sim.test.ts`.
 * - `--pipeline`: the pipeline simulation (test/sim/pipelineSim.ts, exactly_once_v2) with its
 *   extended nemesis (stalled commits, expired sessions, brokers down); a failure replays with
 *   `SIM_SEED=<seed> npx vitest run test/streams/pipeline.sim.test.ts`.
 * - `--groups`: the slow-processing group simulation (test/sim/groupSim.ts: batches processed for
 *   longer than session.timeout.ms under rebalances and broker crashes); a failure replays with
 *   `SIM_SEEDS=0 SIM_SLOW_SEEDS=1 SIM_SLOW_FROM=<seed> npx vitest run test/actors/groups.sim.test.ts`.
 * - `--es`: the event-sourcing simulation (test/sim/eventSourcingSim.ts: clients racing `handle()`
 *   and transfers on overlapping accounts under broker crashes, cut-off clients and delays); a
 *   failure replays with `SIM_SEED=<seed> npx vitest run test/eventsourcing/eventsourcing.sim.test.ts`.
 * - `--streams`: the streams simulation (test/sim/streamsSim.ts: a repartitioning, stateful
 *   topology on app instances that join, leave and crash, brokers crashing); a failure replays
 *   with `SIM_SEED=<seed> npx vitest run test/streams/streams.sim.test.ts`.
 * - `--windows`: the windows-and-joins simulation (test/sim/windowsSim.ts: suppressed windowed
 *   counts, a stream-stream and a stream-table join under exactly-once, instances and brokers
 *   crashing); a failure replays with `SIM_SEED=<seed> npx vitest run test/streams/windows.sim.test.ts`.
 */
import { runReplicationSim } from '../test/sim/replicationSim.ts';
import { pipelineFindings, runPipelineSim } from '../test/sim/pipelineSim.ts';
import { runTxnSim } from '../test/sim/txnSim.ts';
import { runSlowGroupSim, slowGroupFindings } from '../test/sim/groupSim.ts';
import { runStreamsSim, streamsFindings } from '../test/sim/streamsSim.ts';
import { runWindowsSim, windowsFindings } from '../test/sim/windowsSim.ts';
import { eventSourcingFindings, runEventSourcingSim } from '../test/sim/eventSourcingSim.ts';
import { projectionFindings, runProjectionSim } from '../test/sim/projectionSim.ts';

const flags = process.argv.slice(2).filter((a) => a.startsWith('--'));
const positional = process.argv.slice(2).filter((a) => !a.startsWith('--'));
const count = Number(positional[0] ?? 50);
const first = Number(positional[1] ?? 1000);
const unknown = flags.filter((f) => f !== '--txn' && f !== '--txn-reorder' && f !== '--large' && f !== '--idempotent' && f !== '--pipeline' && f !== '--groups' && f !== '--streams' && f !== '--es' && f !== '--projections' && f !== '--windows');
if (!Number.isInteger(count) || count < 1 || !Number.isInteger(first) || unknown.length > 0 || flags.length > 1) {
  console.error('usage: npm run soak -- <number of seeds> [first seed] [--txn | --txn-reorder | --large | --idempotent | --pipeline | --groups | --streams | --es | --projections | --windows]   e.g. npm run soak -- 200, npm run soak -- 200 1 --txn');
  process.exit(2);
}
const mode = flags[0] === '--txn' ? 'txn' : flags[0] === '--txn-reorder' ? 'txn-reorder' : flags[0] === '--pipeline' ? 'pipeline' : flags[0] === '--groups' ? 'groups' : flags[0] === '--streams' ? 'streams' : flags[0] === '--es' ? 'es' : flags[0] === '--projections' ? 'projections' : flags[0] === '--windows' ? 'windows' : 'replication';
/** `--large`: the replication simulation with ~2 KB values, so batches are shared between replicas as views. */
const padding = flags[0] === '--large' ? 2000 : 0;
/** `--idempotent`: the replication simulation's idempotence workload (issue 14 item 1). */
const idempotence = flags[0] === '--idempotent';

/** One seed: its summary line and its findings by check. */
async function runSeed(seed: number): Promise<{ summary: string; found: Array<[string, string[]]> }> {
  const controllers = seed % 2 === 0 ? 3 : 1;
  if (mode === 'replication') {
    const { anomalies, summary } = await runReplicationSim({ seed, controllers, padding, idempotence });
    return { summary, found: Object.entries(anomalies).filter(([, list]) => list.length > 0) };
  }
  if (mode === 'groups') {
    const result = await runSlowGroupSim(seed);
    return { summary: result.summary, found: slowGroupFindings(result) };
  }
  if (mode === 'pipeline') {
    const result = await runPipelineSim({ seed });
    return { summary: result.summary, found: pipelineFindings(result) };
  }
  if (mode === 'es') {
    const result = await runEventSourcingSim({ seed });
    return { summary: result.summary, found: eventSourcingFindings(result) };
  }
  if (mode === 'projections') {
    const result = await runProjectionSim({ seed });
    const found = projectionFindings(result);
    // Each run kills its at-least-once worker once after its rows: it must have applied them twice.
    if (result.kills.atLeastOnce === 1 && result.aloDuplicates === 0) found.push(['aloNoDuplicate', ['the at-least-once model did not duplicate after its kill']]);
    if (result.kills.exactlyOnce === 0) found.push(['noKill', ['no exactly-once worker was killed mid-transaction']]);
    return { summary: result.summary, found };
  }
  if (mode === 'windows') {
    const result = await runWindowsSim({ seed });
    return { summary: result.summary, found: windowsFindings(result) };
  }
  if (mode === 'streams') {
    const result = await runStreamsSim({ seed });
    return { summary: result.summary, found: streamsFindings(result) };
  }
  const scenario = mode === 'txn' ? 'nemesis' : 'reorder';
  const { check, hanging, late, summary } = await runTxnSim({ seed, controllers, scenario });
  const found = Object.entries({ ...check.anomalies, hanging, vacuous: check.vacuous }).filter(([, list]) => list.length > 0);
  // KAFKA-17754's scenario proves nothing unless late requests really landed after the next transaction began.
  if (scenario === 'reorder' && !((late.counts['endTxn.request'] ?? 0) + (late.counts['produce.request'] ?? 0) > 0)) found.push(['noLateDeliveries', ['no EndTxn or Produce request was delivered after its producer began a newer transaction']]);
  return { summary, found };
}

const failures: number[] = [];
const started = process.hrtime.bigint();
for (let seed = first; seed < first + count; seed++) {
  try {
    const { summary, found } = await runSeed(seed);
    if (found.length === 0) console.log(`ok   ${summary}`);
    else {
      failures.push(seed);
      console.log(`FAIL ${summary}`);
      for (const [name, list] of found) console.log(`     ${name}: ${list.slice(0, 5).join('; ')}${list.length > 5 ? ` (+${list.length - 5} more)` : ''}`);
    }
  } catch (e) {
    failures.push(seed);
    console.log(`FAIL [seed=${seed}] ${e instanceof Error ? e.message : String(e)}`);
  }
}
const seconds = Number(process.hrtime.bigint() - started) / 1e9;
console.log(`${count - failures.length}/${count} seeds passed in ${seconds.toFixed(1)} s${failures.length > 0 ? `; failing seeds: ${failures.join(', ')}` : ''}`);
process.exit(failures.length > 0 ? 1 : 0);
