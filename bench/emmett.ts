/**
 * The reference for samsa's conditional appends: Emmett's PostgreSQL and SQLite event stores
 * (devDependencies, loaded here only) doing the same appends — one event at an exact expected
 * version, `writers` writers on their own streams (SQLite takes one writer at a time: it is
 * measured with one, as it locks the database against a second). PostgreSQL is the machine's
 * (postgresql://127.0.0.1:5432/test, or BENCH_PG_URL); SQLite is a file in a temporary directory.
 * A store that cannot be loaded or reached is reported as skipped, with the reason.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

interface EmmettStore {
  appendToStream(stream: string, events: Array<{ type: string; data: unknown }>, options: { expectedStreamVersion: bigint | 'STREAM_DOES_NOT_EXIST' }): Promise<unknown>;
  close?(): Promise<void>;
}

/** One Emmett store's rounds: seconds per round, or why it was skipped. */
export interface EmmettResult {
  readonly name: string;
  readonly seconds: number[];
  readonly skipped?: string;
}

async function rounds(n: number, writers: number, count: number, open: (round: number) => Promise<EmmettStore>, close: (store: EmmettStore) => Promise<void>): Promise<number[]> {
  const out: number[] = [];
  for (let round = -1; round < n; round++) {
    const store = await open(round);
    const versions = new Map<string, bigint>();
    const run = `r${process.pid}-${Date.now()}-${round + 1}`;
    let next = 0;
    const started = process.hrtime.bigint();
    await Promise.all(
      Array.from({ length: writers }, async () => {
        while (next < count) {
          const i = next++;
          const stream = `bench-${run}-${i % 1000}`;
          const expected = versions.get(stream) ?? 0n;
          versions.set(stream, expected + 1n);
          await store.appendToStream(stream, [{ type: 'Appended', data: { i } }], { expectedStreamVersion: expected === 0n ? 'STREAM_DOES_NOT_EXIST' : expected });
        }
      }),
    );
    if (round >= 0) out.push(Number(process.hrtime.bigint() - started) / 1e9);
    await close(store);
  }
  return out;
}

/** Emmett's PostgreSQL (with `writers` writers) and SQLite (one writer) stores doing `count` appends each round. */
export async function emmettAppends(count: number, writers: number, n: number): Promise<EmmettResult[]> {
  const results: EmmettResult[] = [];
  try {
    const { getPostgreSQLEventStore } = (await import('@event-driven-io/emmett-postgresql')) as unknown as { getPostgreSQLEventStore: (url: string) => EmmettStore };
    const url = process.env.BENCH_PG_URL ?? 'postgresql://root@127.0.0.1:5432/test';
    results.push({ name: 'PostgreSQL', seconds: await rounds(n, writers, count, async () => getPostgreSQLEventStore(url), async (s) => s.close?.()) });
  } catch (e) {
    results.push({ name: 'PostgreSQL', seconds: [], skipped: e instanceof Error ? e.message : String(e) });
  }
  const dir = mkdtempSync(join(tmpdir(), 'samsa-emmett-'));
  try {
    const { getSQLiteEventStore } = (await import('@event-driven-io/emmett-sqlite')) as unknown as { getSQLiteEventStore: (o: { fileName: string; schema: { autoMigration: 'CreateOrUpdate' } }) => EmmettStore };
    results.push({ name: 'SQLite', seconds: await rounds(n, 1, count, async (round) => getSQLiteEventStore({ fileName: join(dir, `events-${round + 1}.db`), schema: { autoMigration: 'CreateOrUpdate' } }), async (s) => s.close?.()) });
  } catch (e) {
    results.push({ name: 'SQLite', seconds: [], skipped: e instanceof Error ? e.message : String(e) });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  return results;
}
