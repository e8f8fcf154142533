/**
 * The CQRS example end to end: on a simulated cluster with SQLite, and on an embedded cluster
 * with a real PostgreSQL (a fresh database; skipped with a message when the server cannot be
 * reached, failed instead under SAMSA_REQUIRE_PG=1 as in .ci/run).
 */
import { describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createCluster, postgresTarget, sqliteTarget } from '../../src/index.ts';
import { createTestCluster } from '../../src/testing.ts';
import { freshDatabase, postgresReachable } from '../../test/projections/pgDatabase.ts';
import { runCqrs } from './cqrs.ts';

const reachable = await postgresReachable();

describe('examples/cqrs', () => {
  it('on SQLite: the read models equal the events after a worker is killed mid-transaction, and reads see their writes', async () => {
    const cluster = await createTestCluster({ seed: 18, brokers: 3 });
    const dir = mkdtempSync(join(tmpdir(), 'samsa-cqrs-test-'));
    const lines: string[] = [];
    try {
      const summary = await cluster.settle(runCqrs(cluster, { target: sqliteTarget(join(dir, 'read.db')), say: (l) => lines.push(l), clock: cluster.clock, orders: 12 }), { maxSimulatedMs: 1_800_000 });
      expect(summary.mismatches, lines.join('\n')).toEqual([]);
      expect(summary.killed).toBe(1);
      expect(summary.readYourWrites).toBe(true);
      expect(lines.join('\n')).toMatch(/refused: 400/);
    } finally {
      await cluster.settle(cluster.stop());
      rmSync(dir, { recursive: true, force: true });
    }
  }, 120_000);

  it.skipIf(!reachable)('on PostgreSQL: the same, with the rows and offsets in one PostgreSQL transaction', async () => {
    const db = await freshDatabase('samsa_cqrs');
    const cluster = await createCluster({ brokers: 3 });
    const lines: string[] = [];
    try {
      const summary = await runCqrs(cluster, { target: postgresTarget(db.url), say: (l) => lines.push(l), orders: 12 });
      expect(summary.mismatches, lines.join('\n')).toEqual([]);
      expect(summary.killed).toBe(1);
      expect(summary.readYourWrites).toBe(true);
    } finally {
      await cluster.stop();
      await db.drop();
    }
  }, 120_000);
});
