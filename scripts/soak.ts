/**
 * `npm run soak -- <seeds> [firstSeed]`: runs the replication nemesis simulation for many seeds
 * (the test suite runs a few) and prints every failing seed with its anomalies, so a failure
 * replays with `SIM_SEED=<seed> npx vitest run test/actors/replication.sim.test.ts`. Exits
 * non-zero when any seed fails.
 */
import { runReplicationSim } from '../test/sim/replicationSim.ts';

const count = Number(process.argv[2] ?? 50);
const first = Number(process.argv[3] ?? 1000);
if (!Number.isInteger(count) || count < 1 || !Number.isInteger(first)) {
  console.error('usage: npm run soak -- <number of seeds> [first seed]   e.g. npm run soak -- 200');
  process.exit(2);
}
const failures: number[] = [];
const started = process.hrtime.bigint();
for (let seed = first; seed < first + count; seed++) {
  const controllers = seed % 2 === 0 ? 3 : 1;
  try {
    const { anomalies, summary } = await runReplicationSim({ seed, controllers });
    const found = Object.entries(anomalies).filter(([, list]) => list.length > 0);
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
