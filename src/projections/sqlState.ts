/**
 * What a SQL target keeps beside the read model, in the same database: the registry of projection
 * builds (which one answers queries), each build's input offsets, and its dead letters. Offsets and
 * dead letters are written in the transaction that writes the rows, which is what makes the model
 * exactly-once whatever happened to the process.
 *
 * A build is one copy of the model: `<name>` version v, build b, with tables suffixed `v<v>` (b = 0)
 * or `v<v>_r<b>` (a rebuild). Exactly one build per name is `live` (answers queries); a newer one is
 * `building` until it catches up; older versions are `retired`, kept for rollback.
 */
import { ProjectionError } from '../errors.ts';
import type { TopicPartition } from '../clients/api.ts';
import type { RecordedEvent } from '../eventsourcing/events.ts';
import { fromJson, sqlHandle, physicalTable, toJson } from './sql.ts';
import type { SqlConnection, SqlExecutor } from './sql.ts';
import type { Projection } from './projection.ts';

/** One build of a projection, as the registry holds it. */
export interface Slot {
  readonly name: string;
  readonly version: number;
  readonly build: number;
  /** Table-name suffix: `v2`, or `v2_r1` for a rebuild. */
  readonly suffix: string;
  /** `<name>_<suffix>`: the key of its offsets and dead letters, and its consumer group's name. */
  readonly id: string;
  readonly state: 'live' | 'building' | 'retired';
}

/** A parked event, as `deadLetters()` lists it. */
export interface DeadLetter {
  readonly seq: number;
  readonly key: string;
  readonly event: RecordedEvent;
  readonly error: string;
}

type AnyProjection = Projection<unknown, RecordedEvent>;

function slotOf(name: string, version: number, build: number, state: string): Slot {
  const suffix = build === 0 ? `v${version}` : `v${version}_r${build}`;
  return { name, version, build, suffix, id: `${name}_${suffix}`, state: state as Slot['state'] };
}

/** Creates the registry, offsets and dead-letter tables if missing. */
export async function ensureSystemTables(conn: SqlConnection): Promise<void> {
  await conn.transaction(async (tx) => {
    // Two runners creating the tables at once would race on PostgreSQL's catalog.
    if (conn.dialect === 'postgres') await tx.exec("SELECT pg_advisory_xact_lock(hashtext('samsa_projections'))");
    await tx.exec('CREATE TABLE IF NOT EXISTS samsa_projections (name TEXT NOT NULL, version INTEGER NOT NULL, build INTEGER NOT NULL, state TEXT NOT NULL, migrated INTEGER NOT NULL DEFAULT 0, PRIMARY KEY (name, version, build))');
    await tx.exec('CREATE TABLE IF NOT EXISTS samsa_projection_offsets (slot TEXT NOT NULL, topic TEXT NOT NULL, part INTEGER NOT NULL, next_offset BIGINT NOT NULL, PRIMARY KEY (slot, topic, part))');
    await tx.exec('CREATE TABLE IF NOT EXISTS samsa_projection_dead_letters (slot TEXT NOT NULL, seq BIGINT NOT NULL, key TEXT NOT NULL, topic TEXT NOT NULL, part INTEGER NOT NULL, off BIGINT NOT NULL, event TEXT NOT NULL, error TEXT NOT NULL, PRIMARY KEY (slot, seq))');
  });
}

async function lockRegistry(conn: SqlConnection, tx: SqlExecutor): Promise<void> {
  if (conn.dialect === 'postgres') await tx.exec("SELECT pg_advisory_xact_lock(hashtext('samsa_projections'))");
}

/**
 * The build this runner works on: the newest build of the projection's version, created if there
 * is none (live at once when no build of the name is live, building otherwise).
 */
export async function claimSlot(conn: SqlConnection, projection: AnyProjection): Promise<Slot> {
  return conn.transaction(async (tx) => {
    await lockRegistry(conn, tx);
    const rows = await tx.all<{ build: number; state: string }>('SELECT build, state FROM samsa_projections WHERE name = ? AND version = ? ORDER BY build DESC', [projection.name, projection.version]);
    if (rows[0] !== undefined) return slotOf(projection.name, projection.version, Number(rows[0].build), rows[0].state);
    const live = await tx.all('SELECT version FROM samsa_projections WHERE name = ? AND state = ?', [projection.name, 'live']);
    const state = live.length === 0 ? 'live' : 'building';
    await tx.exec('INSERT INTO samsa_projections (name, version, build, state, migrated) VALUES (?, ?, 0, ?, 0)', [projection.name, projection.version, state]);
    return slotOf(projection.name, projection.version, 0, state);
  });
}

/** Starts a new build of the projection's version (a rebuild): building beside the live one. */
export async function newBuild(conn: SqlConnection, projection: AnyProjection): Promise<Slot> {
  return conn.transaction(async (tx) => {
    await lockRegistry(conn, tx);
    const rows = await tx.all<{ build: number }>('SELECT MAX(build) AS build FROM samsa_projections WHERE name = ? AND version = ?', [projection.name, projection.version]);
    const build = rows[0]?.build === null || rows[0]?.build === undefined ? 0 : Number(rows[0].build) + 1;
    await tx.exec('INSERT INTO samsa_projections (name, version, build, state, migrated) VALUES (?, ?, ?, ?, 0)', [projection.name, projection.version, build, 'building']);
    return slotOf(projection.name, projection.version, build, 'building');
  });
}

/** The registry row of a build now (its state may have changed since it was claimed). */
export async function readSlot(conn: SqlExecutor, slot: Slot): Promise<Slot | undefined> {
  const rows = await conn.all<{ state: string }>('SELECT state FROM samsa_projections WHERE name = ? AND version = ? AND build = ?', [slot.name, slot.version, slot.build]);
  return rows[0] === undefined ? undefined : slotOf(slot.name, slot.version, slot.build, rows[0].state);
}

/** The build of `name` that answers queries, if any. */
export async function liveSlot(conn: SqlExecutor, name: string): Promise<Slot | undefined> {
  const rows = await conn.all<{ version: number; build: number }>('SELECT version, build FROM samsa_projections WHERE name = ? AND state = ?', [name, 'live']);
  return rows[0] === undefined ? undefined : slotOf(name, Number(rows[0].version), Number(rows[0].build), 'live');
}

/**
 * Creates a build's tables, once: the document table, or the projection's own `migrate`.
 * @throws ProjectionError (phase 'migrate') with the database's message and the projection's name.
 */
export async function migrateSlot(conn: SqlConnection, projection: AnyProjection, slot: Slot): Promise<void> {
  try {
    await conn.transaction(async (tx) => {
      await lockRegistry(conn, tx);
      const rows = await tx.all<{ migrated: number }>('SELECT migrated FROM samsa_projections WHERE name = ? AND version = ? AND build = ?', [slot.name, slot.version, slot.build]);
      if (rows[0] !== undefined && Number(rows[0].migrated) === 1) return;
      if (projection.kind === 'document') await tx.exec(`CREATE TABLE IF NOT EXISTS ${documentTable(projection.name, slot)} (key TEXT PRIMARY KEY, doc ${conn.dialect === 'postgres' ? 'JSONB' : 'TEXT'} NOT NULL)`);
      else await projection.migrate(sqlHandle(tx, conn.dialect, slot.suffix));
      await tx.exec('UPDATE samsa_projections SET migrated = 1 WHERE name = ? AND version = ? AND build = ?', [slot.name, slot.version, slot.build]);
    });
  } catch (e) {
    throw new ProjectionError(projection.name, 'migrate', `migration of version ${slot.version} (build ${slot.build}) on ${conn.description} failed: ${e instanceof Error ? e.message : String(e)}`, undefined, { cause: e });
  }
}

/** The document table of a build. */
export function documentTable(name: string, slot: Pick<Slot, 'suffix'>): string {
  return physicalTable(name, slot.suffix);
}

/**
 * Makes `slot` the live build: the live one of an older version is retired (kept for rollback);
 * an older build of the same version (what a rebuild replaces) is dropped with its tables.
 * Does nothing when a newer version is live. Returns whether it switched.
 */
export async function cutover(conn: SqlConnection, projection: AnyProjection, slot: Slot): Promise<boolean> {
  return conn.transaction(async (tx) => {
    await lockRegistry(conn, tx);
    const live = await liveSlot(tx, slot.name);
    if (live !== undefined && (live.version > slot.version || (live.version === slot.version && live.build > slot.build))) return false;
    if (live !== undefined && live.id === slot.id) return false;
    if (live !== undefined) {
      await tx.exec('UPDATE samsa_projections SET state = ? WHERE name = ? AND version = ? AND build = ?', ['retired', live.name, live.version, live.build]);
      if (live.version === slot.version) await dropSlot(tx, projection, live);
    }
    await tx.exec('UPDATE samsa_projections SET state = ? WHERE name = ? AND version = ? AND build = ?', ['live', slot.name, slot.version, slot.build]);
    return true;
  });
}

async function dropSlot(tx: SqlExecutor, projection: AnyProjection, slot: Slot): Promise<void> {
  const tables = projection.kind === 'document' ? [documentTable(projection.name, slot)] : projection.tables.map((t) => physicalTable(t, slot.suffix));
  for (const t of tables) await tx.exec(`DROP TABLE IF EXISTS ${t}`);
  await tx.exec('DELETE FROM samsa_projection_offsets WHERE slot = ?', [slot.id]);
  await tx.exec('DELETE FROM samsa_projection_dead_letters WHERE slot = ?', [slot.id]);
  await tx.exec('DELETE FROM samsa_projections WHERE name = ? AND version = ? AND build = ?', [slot.name, slot.version, slot.build]);
}

/** Drops every build of a projection: tables, offsets, dead letters and registry rows. Returns how many builds there were. */
export async function dropAllSlots(conn: SqlConnection, projection: AnyProjection): Promise<number> {
  return conn.transaction(async (tx) => {
    await lockRegistry(conn, tx);
    const rows = await tx.all<{ version: number; build: number; state: string }>('SELECT version, build, state FROM samsa_projections WHERE name = ?', [projection.name]);
    for (const r of rows) await dropSlot(tx, projection, slotOf(projection.name, Number(r.version), Number(r.build), r.state));
    return rows.length;
  });
}

/** Makes the newest build of `version` live again (rollback), retiring the live one. @throws ProjectionError when that version has no build here. */
export async function setLiveVersion(conn: SqlConnection, name: string, version: number): Promise<void> {
  await conn.transaction(async (tx) => {
    await lockRegistry(conn, tx);
    const rows = await tx.all<{ build: number }>('SELECT MAX(build) AS build FROM samsa_projections WHERE name = ? AND version = ?', [name, version]);
    if (rows[0]?.build === null || rows[0]?.build === undefined) throw new ProjectionError(name, 'target', `version ${version} has no build in ${conn.description}; run it first`);
    await tx.exec('UPDATE samsa_projections SET state = ? WHERE name = ? AND state = ?', ['retired', name, 'live']);
    await tx.exec('UPDATE samsa_projections SET state = ? WHERE name = ? AND version = ? AND build = ?', ['live', name, version, Number(rows[0].build)]);
  });
}

/** Makes sure every partition has an offsets row (-1: none yet), so the row can be locked. */
export async function initOffsets(tx: SqlExecutor, slot: Slot, partitions: readonly TopicPartition[]): Promise<void> {
  for (const tp of partitions) await tx.exec('INSERT INTO samsa_projection_offsets (slot, topic, part, next_offset) VALUES (?, ?, ?, -1) ON CONFLICT (slot, topic, part) DO NOTHING', [slot.id, tp.topic, tp.partition]);
}

/** The stored next offset per partition (-1n: none); `lock` takes the rows' write lock on PostgreSQL. */
export async function readOffsets(tx: SqlExecutor, dialect: SqlConnection['dialect'], slot: Pick<Slot, 'id'>, lock = false): Promise<Map<string, bigint>> {
  const rows = await tx.all<{ topic: string; part: number; next_offset: unknown }>(`SELECT topic, part, next_offset FROM samsa_projection_offsets WHERE slot = ? ORDER BY topic, part${lock && dialect === 'postgres' ? ' FOR UPDATE' : ''}`, [slot.id]);
  return new Map(rows.map((r) => [`${r.topic}/${Number(r.part)}`, BigInt(String(r.next_offset))]));
}

/** Stores partitions' next offsets in one statement (creating rows the assignment did not). */
export async function writeOffsets(tx: SqlExecutor, slot: Slot, offsets: ReadonlyArray<TopicPartition & { readonly offset: bigint }>): Promise<void> {
  if (offsets.length === 0) return;
  await tx.exec(`INSERT INTO samsa_projection_offsets (slot, topic, part, next_offset) VALUES ${offsets.map(() => '(?, ?, ?, ?)').join(', ')} ON CONFLICT (slot, topic, part) DO UPDATE SET next_offset = excluded.next_offset`, offsets.flatMap((o) => [slot.id, o.topic, o.partition, o.offset]));
}

/** The keys with parked events in a build. */
export async function parkedKeys(tx: SqlExecutor, slot: Slot): Promise<Set<string>> {
  return new Set((await tx.all<{ key: string }>('SELECT DISTINCT key FROM samsa_projection_dead_letters WHERE slot = ?', [slot.id])).map((r) => r.key));
}

/** Parks an event of `key` behind the ones already parked. */
export async function park(tx: SqlExecutor, slot: Slot, key: string, event: RecordedEvent, error: string): Promise<void> {
  const rows = await tx.all<{ seq: unknown }>('SELECT MAX(seq) AS seq FROM samsa_projection_dead_letters WHERE slot = ?', [slot.id]);
  const seq = rows[0]?.seq === null || rows[0]?.seq === undefined ? 1 : Number(rows[0].seq) + 1;
  await tx.exec('INSERT INTO samsa_projection_dead_letters (slot, seq, key, topic, part, off, event, error) VALUES (?, ?, ?, ?, ?, ?, ?, ?)', [slot.id, seq, key, event.position.topic, event.position.partition, event.position.offset, toJson(event), error]);
}

/** A build's parked events in order (of one key, or all). */
export async function listDeadLetters(tx: SqlExecutor, slot: Pick<Slot, 'id'>, key?: string): Promise<DeadLetter[]> {
  const rows = key === undefined
    ? await tx.all<{ seq: unknown; key: string; event: string; error: string }>('SELECT seq, key, event, error FROM samsa_projection_dead_letters WHERE slot = ? ORDER BY seq', [slot.id])
    : await tx.all<{ seq: unknown; key: string; event: string; error: string }>('SELECT seq, key, event, error FROM samsa_projection_dead_letters WHERE slot = ? AND key = ? ORDER BY seq', [slot.id, key]);
  return rows.map((r) => ({ seq: Number(r.seq), key: r.key, event: fromJson(r.event) as RecordedEvent, error: r.error }));
}

/** Removes a parked event (it was applied, or dropped on purpose). */
export async function unpark(tx: SqlExecutor, slot: Slot, seq: number): Promise<void> {
  await tx.exec('DELETE FROM samsa_projection_dead_letters WHERE slot = ? AND seq = ?', [slot.id, seq]);
}
