/**
 * `npm run soak -- <seeds> [firstSeed] [--txn | --txn-reorder]`: runs a nemesis simulation for
 * many seeds (the test suite runs a few) and prints every failing seed with its anomalies. Exits
 * non-zero when any seed fails.
 *
 * - By default, the replication simulation; a failure replays with
 *   `SIM_SEED=<seed> npx vitest run test/actors/replication.sim.test.ts`. `--large`: the same
 *   with ~2 KB values (batches shared between replicas as views of one buffer).
 * - `--txn`: the transactional simulation (test/sim/txnSim.ts) with its nemesis; `--txn-reorder`:
 *   its KAFKA-17754 scenario (delayed, reordered EndTxn, AddPartitionsToTxn, Produce and
 *   WriteTxnMarkers). A failure replays with
 *   `SIM_SEED=<seed> npx vitest run test/actors/transactions/transactions.sim.test.ts`.
 */
import { runReplicationSim } from '../test/sim/replicationSim.ts';
import { runTxnSim } from '../test/sim/txnSim.ts';

const flags = process.argv.slice(2).filter((a) => a.startsWith('--'));
const positional = process.argv.slice(2).filter((a) => !a.startsWith('--'));
const count = Number(positional[0] ?? 50);
const first = Number(positional[1] ?? 1000);
const unknown = flags.filter((f) => f !== '--txn' && f !== '--txn-reorder' && f !== '--large');
if (!Number.isInteger(count) || count < 1 || !Number.isInteger(first) || unknown.length > 0 || flags.length > 1) {
  console.error('usage: npm run soak -- <number of seeds> [first seed] [--txn | --txn-reorder | --large]   e.g. npm run soak -- 200, npm run soak -- 200 1 --txn');
  process.exit(2);
}
const mode = flags[0] === '--txn' ? 'txn' : flags[0] === '--txn-reorder' ? 'txn-reorder' : 'replication';
/** `--large`: the replication simulation with ~2 KB values, so batches are shared between replicas as views. */
const padding = flags[0] === '--large' ? 2000 : 0;

/** One seed: its summary line and its findings by check. */
async function runSeed(seed: number): Promise<{ summary: string; found: Array<[string, string[]]> }> {
  const controllers = seed % 2 === 0 ? 3 : 1;
  if (mode === 'replication') {
    const { anomalies, summary } = await runReplicationSim({ seed, controllers, padding });
    return { summary, found: Object.entries(anomalies).filter(([, list]) => list.length > 0) };
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
