/**
 * The windows-and-joins simulation over seeds (test/sim/windowsSim.ts): suppressed windowed counts,
 * a stream-stream join and a stream-table join under exactly_once_v2 on 2-3 app instances that
 * join, leave and crash while brokers crash; final results equal the oracle exactly. `SIM_SEEDS=n`
 * runs more seeds; `npm run soak -- <n> <first> --windows` many; `SIM_SEED=<seed>` replays one.
 */
import { describe, expect, it } from 'vitest';
import { runWindowsSim, windowsFindings } from '../sim/windowsSim.ts';

const replay = process.env.SIM_SEED === undefined ? undefined : Number(process.env.SIM_SEED);
// Regression seeds: 607 and 622 (with the idle advance, a task that moved to an instance and got no
// new record never started its processors, so its restored windows never closed).
// 1017: an instance cut off across rebalances got back a task it had kept since its revocation and
// ran it on stale stores (another instance had run it meanwhile), emitting windows twice.
const REGRESSIONS = [607, 622, 1017];
const seeds = replay !== undefined ? [replay] : [...Array.from({ length: Number(process.env.SIM_SEEDS ?? 4) }, (_, i) => 600 + i), ...REGRESSIONS];

describe('windows and joins simulation (createStreamsApp, exactly_once_v2)', () => {
  for (const seed of seeds) {
    it(`seed ${seed}: each window's final count once and exact, join and enrichment results exactly once`, async () => {
      const result = await runWindowsSim({ seed });
      expect(windowsFindings(result), result.summary).toEqual([]);
    });
  }

  it('at_least_once under the same faults repeats or re-emits results: the checks can fail', async () => {
    let caught = 0;
    for (let seed = 600; seed < 640 && caught === 0; seed++) {
      const result = await runWindowsSim({ seed, guarantee: 'at_least_once' });
      expect(result.anomalies.died.concat(result.anomalies.harness), result.summary).toEqual([]);
      caught += result.anomalies.windows.length + result.anomalies.joins.length + result.anomalies.enriched.length;
    }
    expect(caught).toBeGreaterThan(0);
  });
});
