/**
 * A throwaway PostgreSQL database per test file, on the server at SAMSA_PG_URL (default
 * postgresql://root@127.0.0.1:5432/test). When the server cannot be reached the PostgreSQL tests
 * are skipped with a message, unless SAMSA_REQUIRE_PG=1 (set by .ci/run), where that fails.
 */
import pg from 'pg';

export const PG_URL = process.env.SAMSA_PG_URL ?? 'postgresql://root@127.0.0.1:5432/test';

/** Whether the server answers; throws when it does not and SAMSA_REQUIRE_PG=1. */
export async function postgresReachable(): Promise<boolean> {
  const client = new pg.Client({ connectionString: PG_URL, connectionTimeoutMillis: 2000 });
  try {
    await client.connect();
    await client.end();
    return true;
  } catch (e) {
    if (process.env.SAMSA_REQUIRE_PG === '1') throw new Error(`PostgreSQL is required (SAMSA_REQUIRE_PG=1) but ${PG_URL} cannot be reached: ${e instanceof Error ? e.message : String(e)}`);
    console.warn(`PostgreSQL tests skipped: ${PG_URL} cannot be reached (${e instanceof Error ? e.message : String(e)})`);
    return false;
  }
}

/** Creates a fresh database; returns its URL and a function that drops it. */
export async function freshDatabase(prefix: string): Promise<{ url: string; drop: () => Promise<void> }> {
  const name = `${prefix}_${process.pid}_${Math.floor(Math.random() * 1e9)}`;
  const admin = new pg.Client({ connectionString: PG_URL });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${name}`);
  await admin.end();
  const url = new URL(PG_URL);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    drop: async () => {
      const c = new pg.Client({ connectionString: PG_URL });
      await c.connect();
      await c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      await c.end();
    },
  };
}
