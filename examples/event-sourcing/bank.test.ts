/** The bank story on a simulated 3-broker cluster: its checks hold, and its output reads as a story. */
import { describe, expect, it } from 'vitest';
import { createTestCluster } from '../../src/testing.ts';
import { runBank } from './bank.ts';

describe('examples/event-sourcing: the bank', () => {
  it('keeps every total: one racing withdrawal wins, the transfer is atomic, snapshots and upcasting work', async () => {
    const cluster = await createTestCluster({ seed: 11, brokers: 3 });
    const lines: string[] = [];
    const summary = await cluster.settle(runBank(cluster, (l) => lines.push(l)));
    expect(summary.raceWinners).toBe(1);
    expect(summary.balances.ann! + summary.balances.bob!).toBe(summary.expectedTotal);
    // Bob: 40 (upcast from 4000 cents) + 20 (transfer) + 3 × 10.
    expect(summary.balances.bob).toBe(90);
    expect(summary.snapshotVersion).toBeGreaterThan(0n);
    expect(summary.replayedAfterSnapshot).toBeLessThan(5);
    expect(summary.history.slice(0, 4)).toEqual([0, 100, 150, 175]);
    expect(lines.join('\n')).toMatch(/no money created or lost/);
    expect(lines.join('\n')).toMatch(/insufficient funds/);
    await cluster.settle(cluster.stop());
  });
});
