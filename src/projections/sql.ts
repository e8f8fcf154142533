/**
 * What the SQL targets share: the handle a projection writes and queries with, and the connection
 * each driver adapter (sqlite.ts, postgres.ts) implements. Statements use `?` placeholders in
 * both dialects (the PostgreSQL adapter numbers them), so one projection runs on either.
 */

/** A value bound to a `?` placeholder. */
export type SqlValue = string | number | bigint | boolean | null | Uint8Array;

/** A row as a driver returns it. */
export type SqlRow = Record<string, unknown>;

/** Runs statements; inside a projection's handler, in the transaction that stores its offsets. */
export interface SqlExecutor {
  /** Runs a statement; resolves with the number of rows it changed. */
  exec(sql: string, params?: readonly SqlValue[]): Promise<number>;
  /** The rows of a query. */
  all<Row = SqlRow>(sql: string, params?: readonly SqlValue[]): Promise<Row[]>;
}

/** What a projection's `migrate`, `handle` and queries get: statements plus its table names. */
export interface SqlHandle extends SqlExecutor {
  /** The first row of a query, or undefined. */
  one<Row = SqlRow>(sql: string, params?: readonly SqlValue[]): Promise<Row | undefined>;
  /** The physical name of logical table `name` in this projection version and build (e.g. `orders_v2`). */
  table(name: string): string;
  readonly dialect: SqlDialect;
}

export type SqlDialect = 'sqlite' | 'postgres';

/** A database as the SQL targets drive it (one per runner or view). */
export interface SqlConnection extends SqlExecutor {
  readonly dialect: SqlDialect;
  /** Where it points, for errors and `describe()` (no password). */
  readonly description: string;
  /**
   * Runs `work` in one transaction that holds the write lock from its start (SQLite's BEGIN
   * IMMEDIATE; on PostgreSQL row locks are taken by the statements); commits when it resolves,
   * rolls back when it throws, and rethrows.
   */
  transaction<T>(work: (tx: SqlExecutor) => Promise<T>): Promise<T>;
  /** Closes the connection; an open transaction is rolled back. */
  close(): Promise<void>;
  /** Drops the connection as a crash would: whatever is open is never committed. */
  kill(): Promise<void>;
}

/** A handle over an executor with the table names of one projection build. */
export function sqlHandle(executor: SqlExecutor, dialect: SqlDialect, suffix: string): SqlHandle {
  return {
    dialect,
    exec: (sql, params) => executor.exec(sql, params),
    all: <Row>(sql: string, params?: readonly SqlValue[]) => executor.all<Row>(sql, params),
    one: async <Row>(sql: string, params?: readonly SqlValue[]) => (await executor.all<Row>(sql, params))[0],
    table: (name) => physicalTable(name, suffix),
  };
}

/** `name` in build `suffix` (`v1`, `v2_r1`): identifiers were checked by defineProjection. */
export function physicalTable(name: string, suffix: string): string {
  if (!/^[A-Za-z][A-Za-z0-9_]*$/.test(name)) throw new TypeError(`table name "${name}" must be letters, digits and '_' starting with a letter`);
  return `${name}_${suffix}`;
}

const BIGINT_TAG = '\u001bn:';

/** JSON that keeps bigints (as strings tagged with an ESC and `n:`, which text never starts with) so positions survive a round trip. */
export function toJson(value: unknown): string {
  return JSON.stringify(value, (_k, v: unknown) => (typeof v === 'bigint' ? `${BIGINT_TAG}${v}` : v));
}

/** Reads {@link toJson}'s output back. */
export function fromJson(text: unknown): unknown {
  if (typeof text !== 'string') return text;
  return JSON.parse(text, (_k, v: unknown) => (typeof v === 'string' && v.startsWith(BIGINT_TAG) && /^-?\d+$/.test(v.slice(3)) ? BigInt(v.slice(3)) : v));
}
