/**
 * The PostgreSQL adapter (`pg`, an optional dependency loaded only here, when a PostgreSQL target
 * is first used). A pool per connection; a transaction holds one pooled client from BEGIN to
 * COMMIT. Statements are written with `?` placeholders and numbered here (`$1`, `$2`, …), skipping
 * quoted strings, quoted identifiers and comments.
 */
import { ProjectionError } from '../errors.ts';
import type { SqlConnection, SqlExecutor, SqlRow, SqlValue } from './sql.ts';

/** Options of a PostgreSQL database. */
export interface PostgresOptions {
  /** e.g. `postgresql://user@127.0.0.1:5432/db`. */
  readonly connectionString: string;
  /** Connections in the pool (default 4). */
  readonly maxConnections?: number;
}

interface PgClient { query(sql: string, params?: unknown[]): Promise<{ rows: unknown[]; rowCount: number | null }>; release(destroy?: boolean | Error): void }
interface PgPool { connect(): Promise<PgClient>; query(sql: string, params?: unknown[]): Promise<{ rows: unknown[]; rowCount: number | null }>; end(): Promise<void>; on(event: 'error', listener: (e: Error) => void): void }
type PoolClass = new (options: { connectionString: string; max?: number }) => PgPool;

let driver: Promise<PoolClass> | undefined;

/** `pg`'s Pool, whether the module loads as CommonJS (under `default`) or with named exports. */
function poolClassOf(m: { default?: { Pool?: PoolClass }; Pool?: PoolClass }): PoolClass {
  const pool = m.default?.Pool ?? m.Pool;
  if (pool === undefined) throw new Error('the pg module has no Pool export');
  return pool;
}
function loadDriver(): Promise<PoolClass> {
  driver ??= import('pg').then((m: { default?: { Pool?: PoolClass }; Pool?: PoolClass }) => poolClassOf(m)).catch((e: unknown) => {
    driver = undefined;
    throw new ProjectionError('postgres', 'target', `the PostgreSQL target needs the optional package pg: npm install pg (${e instanceof Error ? e.message : String(e)})`);
  });
  return driver;
}

const numbered = new Map<string, string>();

/** Numbers the `?` placeholders of `sql` outside quotes and comments. */
export function numberPlaceholders(sql: string): string {
  const cached = numbered.get(sql);
  if (cached !== undefined) return cached;
  let out = '';
  let n = 0;
  for (let i = 0; i < sql.length; i++) {
    const c = sql[i] as string;
    if (c === "'" || c === '"') {
      const end = sql.indexOf(c, i + 1);
      const stop = end < 0 ? sql.length : end + 1;
      out += sql.slice(i, stop);
      i = stop - 1;
    } else if (c === '-' && sql[i + 1] === '-') {
      const end = sql.indexOf('\n', i);
      const stop = end < 0 ? sql.length : end;
      out += sql.slice(i, stop);
      i = stop - 1;
    } else if (c === '?') out += `$${++n}`;
    else out += c;
  }
  if (numbered.size > 2000) numbered.clear();
  numbered.set(sql, out);
  return out;
}

function bind(params: readonly SqlValue[] | undefined): unknown[] {
  if (params === undefined) return [];
  return params.map((p) => (typeof p === 'bigint' ? p.toString() : p instanceof Uint8Array ? Buffer.from(p.buffer, p.byteOffset, p.byteLength) : p));
}

function redact(connectionString: string): string {
  return connectionString.replace(/\/\/([^:@/]+):[^@/]*@/, '//$1:***@');
}

/** Opens a pool on a PostgreSQL database. @throws ProjectionError when pg is missing or the server cannot be reached. */
export async function openPostgres(options: PostgresOptions): Promise<SqlConnection> {
  const Pool = await loadDriver();
  const description = redact(options.connectionString);
  const pool = new Pool({ connectionString: options.connectionString, max: options.maxConnections ?? 4 });
  // A pooled connection that dies while idle must not crash the process.
  pool.on('error', () => undefined);
  try {
    await pool.query('SELECT 1');
  } catch (e) {
    await pool.end().catch(() => undefined);
    throw new ProjectionError('postgres', 'target', `cannot reach PostgreSQL at ${description}: ${e instanceof Error ? e.message : String(e)}`, undefined, { cause: e });
  }
  const over = (run: (sql: string, params: unknown[]) => Promise<{ rows: unknown[]; rowCount: number | null }>): SqlExecutor => ({
    exec: async (sql, params) => (await run(numberPlaceholders(sql), bind(params))).rowCount ?? 0,
    all: async <Row = SqlRow>(sql: string, params?: readonly SqlValue[]) => (await run(numberPlaceholders(sql), bind(params))).rows as Row[],
  });
  const open = new Set<PgClient>();
  let closed = false;
  return {
    dialect: 'postgres',
    description,
    ...over((sql, params) => pool.query(sql, params)),
    async transaction<T>(work: (tx: SqlExecutor) => Promise<T>): Promise<T> {
      if (closed) throw new ProjectionError('postgres', 'target', `the pool on ${description} is closed`);
      const client = await pool.connect();
      open.add(client);
      let broken: unknown;
      try {
        await client.query('BEGIN');
        try {
          const result = await work(over((sql, params) => client.query(sql, params)));
          if (closed) throw new ProjectionError('postgres', 'target', `the pool on ${description} was closed during a transaction; it was not committed`);
          await client.query('COMMIT');
          return result;
        } catch (e) {
          await client.query('ROLLBACK').catch((r: unknown) => (broken = r));
          throw e;
        }
      } catch (e) {
        broken ??= closed ? e : undefined;
        throw e;
      } finally {
        // kill() may have destroyed it already.
        if (open.delete(client)) client.release(broken === undefined ? undefined : true);
      }
    },
    async close() {
      if (closed) return;
      closed = true;
      await pool.end().catch(() => undefined);
    },
    async kill() {
      // Destroying the sockets makes the server roll back whatever they had open.
      if (closed) return;
      closed = true;
      for (const c of open) c.release(true);
      await pool.end().catch(() => undefined);
    },
  };
}
