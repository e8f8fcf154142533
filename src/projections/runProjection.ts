/**
 * `runProjection(clients, projection, options)`: starts a projection on its target and resolves
 * once it is consuming (tables migrated, build claimed); `openView(projection, target)` is the query
 * side alone, for a process that serves queries without running the projection.
 */
import { InvalidArgumentError, ProjectionError } from '../errors.ts';
import { SystemClock } from '../clock.ts';
import type { Clock } from '../clock.ts';
import type { KafkaClients } from '../clients/api.ts';
import type { RecordedEvent } from '../eventsourcing/events.ts';
import type { Projection } from './projection.ts';
import type { SqlConnection } from './sql.ts';
import { openSqlite } from './sqlite.ts';
import { openPostgres } from './postgres.ts';
import { SqlProjectionRunner } from './sqlRunner.ts';
import { SqlView } from './sqlView.ts';
import { dropAllSlots, ensureSystemTables } from './sqlState.ts';
import { checkStoreProjection, StoreProjectionRunner } from './storeRunner.ts';
import { storeTarget } from './runner.ts';
import type { ProjectionRunner, ProjectionTarget, ProjectionView, RunProjectionOptions } from './runner.ts';

function checkProjection(projection: unknown): asserts projection is Projection<unknown, RecordedEvent> {
  const p = projection as { kind?: unknown; name?: unknown; topics?: unknown };
  if (typeof p !== 'object' || p === null || (p.kind !== 'document' && p.kind !== 'sql') || !Array.isArray(p.topics)) throw new InvalidArgumentError('projection', 'expected a projection made by defineProjection()');
}

function checkTarget(target: unknown): asserts target is ProjectionTarget {
  const t = target as { kind?: unknown };
  if (typeof t !== 'object' || t === null || (t.kind !== 'store' && t.kind !== 'sqlite' && t.kind !== 'postgres')) throw new InvalidArgumentError('target', 'expected storeTarget(), sqliteTarget(file) or postgresTarget(url)');
}

/** Opens a connection to a SQL target. @throws ProjectionError when the driver is missing or the database unreachable. */
export function openTarget(target: Exclude<ProjectionTarget, { kind: 'store' }>): Promise<SqlConnection> {
  return target.kind === 'sqlite' ? openSqlite(target.options) : openPostgres(target.options);
}

/**
 * Runs `projection` on its target (default: a samsa store); see the module comment and
 * {@link ProjectionRunner}. Instances running the same projection share its input partitions.
 * @throws InvalidArgumentError for a bad projection, target or option; ProjectionError when the
 *   target cannot be opened or the migration fails (naming the projection and the SQL error).
 */
export async function runProjection<State, Event extends RecordedEvent>(clients: KafkaClients, definition: Projection<State, Event>, options: RunProjectionOptions = {}): Promise<ProjectionRunner<State>> {
  const projection: unknown = definition;
  checkProjection(projection);
  const target = options.target ?? storeTarget();
  checkTarget(target);
  const guarantee = options.processingGuarantee ?? 'exactly_once_v2';
  if (guarantee !== 'exactly_once_v2' && guarantee !== 'at_least_once') throw new InvalidArgumentError('processingGuarantee', `expected 'exactly_once_v2' or 'at_least_once', got ${JSON.stringify(guarantee)}`);
  if (options.checkIntervalMs !== undefined && !(Number.isFinite(options.checkIntervalMs) && options.checkIntervalMs > 0)) throw new InvalidArgumentError('checkIntervalMs', `expected a positive number of ms, got ${JSON.stringify(options.checkIntervalMs)}`);
  if (options.maxBatchSize !== undefined && !(Number.isInteger(options.maxBatchSize) && options.maxBatchSize >= 1)) throw new InvalidArgumentError('maxBatchSize', `expected a positive integer, got ${JSON.stringify(options.maxBatchSize)}`);
  if (target.kind === 'store') {
    checkStoreProjection(projection);
    const runner = new StoreProjectionRunner<State>(clients, projection, options, target.stateDir);
    await runner.start();
    return runner;
  }
  const conn = await openTarget(target);
  let viewConn: SqlConnection;
  try {
    viewConn = await openTarget(target);
  } catch (e) {
    await conn.close();
    throw e;
  }
  const runner = new SqlProjectionRunner<State>(clients, projection, conn, viewConn, options);
  try {
    await runner.start();
  } catch (e) {
    await conn.close().catch(() => undefined);
    await viewConn.close().catch(() => undefined);
    throw e instanceof ProjectionError ? e : new ProjectionError(projection.name, 'target', e instanceof Error ? e.message : String(e), undefined, { cause: e });
  }
  return runner;
}

/**
 * Deletes a projection from a SQL target: every version and build, with its tables, stored offsets
 * and dead letters (Kafka's offset reset plus a truncate, for a read model that must start over).
 * Stop its runners first. Resolves with how many builds were dropped.
 * @throws InvalidArgumentError for a store target (its state lives in its changelog topics).
 */
export async function dropProjection<State, Event extends RecordedEvent>(definition: Projection<State, Event>, target: ProjectionTarget): Promise<number> {
  const projection: unknown = definition;
  checkProjection(projection);
  checkTarget(target);
  if (target.kind === 'store') throw new InvalidArgumentError('target', 'a store projection lives in its streams app\'s changelog topics: delete those topics to start it over');
  const conn = await openTarget(target);
  try {
    await ensureSystemTables(conn);
    return await dropAllSlots(conn, projection);
  } finally {
    await conn.close();
  }
}

/**
 * The query side of a projection on a SQL target, for a process that does not run it: reads the
 * live build, waits for positions, watches queries. @throws ProjectionError when the database cannot be opened.
 */
export async function openView<State, Event extends RecordedEvent>(definition: Projection<State, Event>, target: ProjectionTarget, options: { readonly clock?: Clock } = {}): Promise<ProjectionView<State>> {
  const projection: unknown = definition;
  checkProjection(projection);
  checkTarget(target);
  if (target.kind === 'store') throw new InvalidArgumentError('target', 'a store projection is queried through its runner (runner.view), in the process that runs it');
  return new SqlView<State>(await openTarget(target), projection, options.clock ?? new SystemClock());
}
