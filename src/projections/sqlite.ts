/**
 * The SQLite adapter (better-sqlite3 12, an optional dependency loaded only here, when a SQLite
 * target is first used). WAL mode, so views read while a projection writes. better-sqlite3 is
 * synchronous: a transaction spanning async handlers would let another connection of this process
 * block the event loop on SQLite's busy wait, so transactions on one file are queued in-process,
 * and the busy timeout only covers other processes.
 */
import { ProjectionError } from '../errors.ts';
import type { SqlConnection, SqlExecutor, SqlRow, SqlValue } from './sql.ts';

/** Options of a SQLite database. */
export interface SqliteOptions {
  /** The database file (created if missing). */
  readonly filename: string;
  /** PRAGMA synchronous: 'NORMAL' (default; a committed transaction survives a process crash) or 'FULL' (also a power loss). */
  readonly synchronous?: 'NORMAL' | 'FULL';
  /** How long a statement waits for another process's lock, in ms (default 5000). */
  readonly busyTimeoutMs?: number;
}

interface Statement { run(...params: unknown[]): { changes: number }; all(...params: unknown[]): unknown[]; readonly reader: boolean }
interface Database { prepare(sql: string): Statement; exec(sql: string): void; pragma(text: string): unknown; close(): void; readonly inTransaction: boolean }
type DatabaseClass = new (filename: string, options?: { timeout?: number }) => Database;

let driver: Promise<DatabaseClass> | undefined;
function loadDriver(): Promise<DatabaseClass> {
  driver ??= import('better-sqlite3').then((m) => ((m as { default?: unknown }).default ?? m) as DatabaseClass).catch((e: unknown) => {
    driver = undefined;
    throw new ProjectionError('sqlite', 'target', `the SQLite target needs the optional package better-sqlite3 (version 12 on Node 20): npm install better-sqlite3@12 (${e instanceof Error ? e.message : String(e)})`);
  });
  return driver;
}

/** In-process queue of write transactions per database file. */
const fileLocks = new Map<string, Promise<unknown>>();

function bind(params: readonly SqlValue[] | undefined): unknown[] {
  if (params === undefined) return [];
  return params.map((p) => (typeof p === 'boolean' ? (p ? 1 : 0) : p));
}

/** Opens a connection to a SQLite file. @throws ProjectionError when better-sqlite3 is missing or the file cannot be opened. */
export async function openSqlite(options: SqliteOptions): Promise<SqlConnection> {
  const Database = await loadDriver();
  let db: Database;
  try {
    db = new Database(options.filename, { timeout: options.busyTimeoutMs ?? 5000 });
    db.pragma('journal_mode = WAL');
    db.pragma(`synchronous = ${options.synchronous ?? 'NORMAL'}`);
  } catch (e) {
    throw new ProjectionError('sqlite', 'target', `cannot open SQLite database "${options.filename}": ${e instanceof Error ? e.message : String(e)}`, undefined, { cause: e });
  }
  const statements = new Map<string, Statement>();
  const prepare = (sql: string): Statement => {
    let s = statements.get(sql);
    if (s === undefined) {
      s = db.prepare(sql);
      if (statements.size > 500) statements.clear();
      statements.set(sql, s);
    }
    return s;
  };
  let closed = false;
  const executor: SqlExecutor = {
    exec: async (sql, params) => {
      const s = prepare(sql);
      if (s.reader) {
        s.all(...bind(params));
        return 0;
      }
      return s.run(...bind(params)).changes;
    },
    all: async <Row = SqlRow>(sql: string, params?: readonly SqlValue[]) => prepare(sql).all(...bind(params)) as Row[],
  };
  const key = options.filename;
  return {
    dialect: 'sqlite',
    description: `sqlite:${options.filename}`,
    ...executor,
    async transaction<T>(work: (tx: SqlExecutor) => Promise<T>): Promise<T> {
      const previous = fileLocks.get(key) ?? Promise.resolve();
      let release!: () => void;
      const mine = new Promise<void>((r) => (release = r));
      const chained = previous.then(() => mine);
      fileLocks.set(key, chained);
      await previous;
      try {
        if (closed) throw new ProjectionError('sqlite', 'target', `the connection to "${options.filename}" is closed`);
        db.exec('BEGIN IMMEDIATE');
        try {
          const result = await work(executor);
          if (closed) throw new ProjectionError('sqlite', 'target', `the connection to "${options.filename}" was closed during a transaction; it was not committed`);
          db.exec('COMMIT');
          return result;
        } catch (e) {
          if (!closed && db.inTransaction) db.exec('ROLLBACK');
          throw e;
        }
      } finally {
        release();
        if (fileLocks.get(key) === chained) fileLocks.delete(key);
      }
    },
    async close() {
      if (closed) return;
      closed = true;
      db.close();
    },
    async kill() {
      // Closing with a transaction open discards it, as a process dying would.
      if (closed) return;
      closed = true;
      db.close();
    },
  };
}
