/**
 * The event-sourcing simulation over seeds (test/sim/eventSourcingSim.ts): clients racing
 * `handle()` and transfers on overlapping accounts under broker crashes, cut-off clients and
 * delays. `SIM_SEEDS=n` runs more; `npm run soak -- <n> <first> --es` many; `SIM_SEED=<seed>` replays one.
 */
import { describe, expect, it } from 'vitest';
import { eventSourcingFindings, runEventSourcingSim } from '../sim/eventSourcingSim.ts';

const replay = process.env.SIM_SEED === undefined ? undefined : Number(process.env.SIM_SEED);
const REGRESSIONS: number[] = [];
const seeds = replay !== undefined ? [replay] : [...Array.from({ length: Number(process.env.SIM_SEEDS ?? 6) }, (_, i) => 500 + i), ...REGRESSIONS];

describe('event-sourcing simulation (conditional appends under faults)', () => {
  for (const seed of seeds) {
    it(`seed ${seed}: nothing acknowledged lost, no duplicate, versions gap-free and unique, no negative balance, transfers atomic`, async () => {
      const result = await runEventSourcingSim({ seed });
      expect(eventSourcingFindings(result), result.summary).toEqual([]);
      // The run exercised what it claims: commands succeeded and some raced.
      expect(result.outcomes.ok ?? 0).toBeGreaterThan(0);
    });
  }
});
