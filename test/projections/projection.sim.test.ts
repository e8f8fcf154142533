/**
 * The projection simulation over seeds (test/sim/projectionSim.ts): read models into SQLite
 * (exactly once and at least once) and a samsa store while brokers crash and workers are killed
 * between their rows and their offsets. `SIM_SEEDS=n` runs more; `npm run soak -- <n> <first>
 * --projections` many; `SIM_SEED=<seed>` replays one.
 */
import { describe, expect, it } from 'vitest';
import { projectionFindings, runProjectionSim } from '../sim/projectionSim.ts';

const replay = process.env.SIM_SEED === undefined ? undefined : Number(process.env.SIM_SEED);
const REGRESSIONS: number[] = [];
const seeds = replay !== undefined ? [replay] : [...Array.from({ length: Number(process.env.SIM_SEEDS ?? 4) }, (_, i) => 900 + i), ...REGRESSIONS];

describe('projection simulation (read models under crashes)', () => {
  for (const seed of seeds) {
    it(`seed ${seed}: workers killed mid-transaction, yet the exactly-once SQL and store models equal the log; at least once duplicates after its kill`, async () => {
      const result = await runProjectionSim({ seed });
      expect(projectionFindings(result), result.summary).toEqual([]);
      expect(result.kills.exactlyOnce, result.summary).toBeGreaterThan(0);
      expect(result.kills.atLeastOnce, result.summary).toBe(1);
      // Killed after its rows and before its group commit, the at-least-once model applied the batch again.
      expect(result.aloDuplicates, result.summary).toBeGreaterThan(0);
    }, 120_000);
  }
});
