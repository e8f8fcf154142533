/**
 * The streams simulation over seeds (test/sim/streamsSim.ts): a stateful topology with a
 * repartition on 2-3 app instances that join, leave and crash while brokers crash. `SIM_SEEDS=n`
 * runs more seeds; `npm run soak -- <n> <first> --streams` many; `SIM_SEED=<seed>` replays one.
 */
import { describe, expect, it } from 'vitest';
import { runStreamsSim, streamsFindings } from '../sim/streamsSim.ts';

const replay = process.env.SIM_SEED === undefined ? undefined : Number(process.env.SIM_SEED);
// Regression seeds: 2031 (a JoinGroup answer lost to a cut-off: the harness waits out the
// rebalance timeout), 2194 (a new leader's stale high watermark answered to ListOffsets, now
// OFFSET_NOT_AVAILABLE), 2119 (a crashed instance's open transaction holding the output's LSO).
const REGRESSIONS = [2031, 2119, 2194];
const seeds = replay !== undefined ? [replay] : [...Array.from({ length: Number(process.env.SIM_SEEDS ?? 6) }, (_, i) => 300 + i), ...REGRESSIONS];

describe('streams simulation (createStreamsApp, exactly_once_v2)', () => {
  for (const seed of seeds) {
    it(`seed ${seed}: every order counted once in the totals and in the restored stores; no live instance in ERROR`, async () => {
      const result = await runStreamsSim({ seed });
      expect(streamsFindings(result), result.summary).toEqual([]);
    });
  }

  it('at_least_once under the same faults loses nothing, and shows the repeats exactly-once prevents', async () => {
    let repeats = 0;
    // Repeats need an instance to crash or lose its partitions between sending outputs and
    // committing offsets: run seeds until some did.
    for (let seed = 300; seed < 340 && repeats === 0; seed++) {
      const result = await runStreamsSim({ seed, guarantee: 'at_least_once' });
      expect(streamsFindings(result), result.summary).toEqual([]);
      repeats += result.repeats;
    }
    expect(repeats).toBeGreaterThan(0);
  });
});
