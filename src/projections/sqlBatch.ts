/**
 * One partition's batch into a SQL read model, in one database transaction: the rows the
 * projection writes, the events it parks, and the partition's next offset. The stored offset is read
 * (and locked) first, and events below it are left out, so a batch that another worker already
 * applied, or that this worker applied before a crash, is never applied twice.
 *
 * An event the projection fails on aborts the transaction and is reported back with its index;
 * the runner decides what its policy does with it and runs the batch again with that decision.
 * Handlers are expected to be deterministic over the database, as a replay after a crash needs.
 */
import type { ConsumerRecord, TopicPartition } from '../clients/api.ts';
import type { RecordedEvent } from '../eventsourcing/events.ts';
import { decodeRecord } from './projection.ts';
import type { Projection } from './projection.ts';
import { sqlHandle, toJson } from './sql.ts';
import type { SqlConnection, SqlExecutor, SqlValue } from './sql.ts';
import { documentTable, lockOffset, park, parkedKeys, writeOffset } from './sqlState.ts';
import type { Slot } from './sqlState.ts';

type AnyProjection = Projection<unknown, RecordedEvent>;

/** What the runner decided for an event that failed: leave it out, or park it. */
export type Decision = 'skip' | 'park';

/**
 * Fault injection for tests: runs inside the transaction after the rows are written and before the
 * offset is; `kill` drops the database connection there as a crash would (nothing is committed).
 */
export interface BatchFaults {
  readonly beforeOffsetWrite?: (tp: TopicPartition, next: bigint, kill: () => Promise<void>) => void | Promise<void>;
  /** At least once: runs after the rows are committed and before the offsets are committed to the group. */
  readonly beforeGroupCommit?: (kill: () => Promise<void>) => void | Promise<void>;
}

/** How a batch ended. */
export type BatchOutcome =
  | { readonly kind: 'applied'; readonly next: bigint; readonly applied: number; readonly parked: number }
  /** Everything was applied already (the stored offset is past the batch): seek there. */
  | { readonly kind: 'stale'; readonly stored: bigint }
  | { readonly kind: 'failed'; readonly offset: bigint; readonly event: RecordedEvent | undefined; readonly key: string | null; readonly error: unknown };

class EventFailed extends Error {
  constructor(readonly offset: bigint, readonly event: RecordedEvent | undefined, readonly key: string | null, readonly failure: unknown) {
    super('event failed');
  }
}

const PARKED_BEHIND = 'waiting behind an earlier parked event of its key';

/**
 * Applies `records` (one partition, in offset order) with the decisions taken so far; see the
 * module comment. `storeOffsets` false (at-least-once) leaves offsets to the consumer group.
 */
export async function applyBatch(conn: SqlConnection, projection: AnyProjection, slot: Slot, tp: TopicPartition, records: readonly ConsumerRecord[], decisions: ReadonlyMap<bigint, { decision: Decision; error: string }>, storeOffsets: boolean, faults?: BatchFaults): Promise<BatchOutcome> {
  try {
    return await conn.transaction(async (tx) => {
      const stored = storeOffsets ? await lockOffset(tx, conn.dialect, slot, tp) : -1n;
      const fresh = stored < 0n ? records : records.filter((r) => r.offset >= stored);
      const last = records[records.length - 1];
      if (fresh.length === 0 || last === undefined) return { kind: 'stale', stored } as const;
      const parked = await parkedKeys(tx, slot);
      let parkedNow = 0;
      const work: Array<{ event: RecordedEvent; key: string }> = [];
      for (const record of fresh) {
        const decoded = decodeRecord(projection, record);
        const decided = decisions.get(record.offset);
        if ('error' in decoded) {
          // Once decided, an undecodable record is left out: without an event it has no key to park under.
          if (decided === undefined) throw new EventFailed(record.offset, undefined, null, decoded.error);
          continue;
        }
        const { event, key } = decoded;
        if (key === null || decided?.decision === 'skip') continue;
        if (decided?.decision === 'park' || parked.has(key)) {
          await park(tx, slot, key, event, decided?.error ?? PARKED_BEHIND);
          parked.add(key);
          parkedNow++;
          continue;
        }
        work.push({ event, key });
      }
      const applied = projection.kind === 'document' ? await applyDocuments(tx, conn.dialect, projection, slot, work) : await applyRows(tx, conn.dialect, projection, slot, work);
      const next = last.offset + 1n;
      await faults?.beforeOffsetWrite?.(tp, next, () => conn.kill());
      if (storeOffsets) await writeOffset(tx, slot, tp, next);
      return { kind: 'applied', next, applied, parked: parkedNow } as const;
    });
  } catch (e) {
    if (e instanceof EventFailed) return { kind: 'failed', offset: e.offset, event: e.event, key: e.key, error: e.failure };
    throw e;
  }
}

async function applyRows(tx: SqlExecutor, dialect: SqlConnection['dialect'], projection: Extract<AnyProjection, { kind: 'sql' }>, slot: Slot, work: ReadonlyArray<{ event: RecordedEvent; key: string }>): Promise<number> {
  const db = sqlHandle(tx, dialect, slot.suffix);
  for (const { event, key } of work) {
    try {
      await projection.handle(event, db);
    } catch (error) {
      throw new EventFailed(event.position.offset, event, key, error);
    }
  }
  return work.length;
}

const CHUNK = 200;

/** Loads the batch's documents in a few statements, evolves them in memory, and writes back the changed ones. */
async function applyDocuments(tx: SqlExecutor, dialect: SqlConnection['dialect'], projection: Extract<AnyProjection, { kind: 'document' }>, slot: Slot, work: ReadonlyArray<{ event: RecordedEvent; key: string }>): Promise<number> {
  if (work.length === 0) return 0;
  const table = documentTable(projection.name, slot);
  const keys = [...new Set(work.map((w) => w.key))];
  const docs = new Map<string, unknown>();
  for (let i = 0; i < keys.length; i += CHUNK) {
    const chunk = keys.slice(i, i + CHUNK);
    const rows = await tx.all<{ key: string; doc: unknown }>(`SELECT key, doc FROM ${table} WHERE key IN (${chunk.map(() => '?').join(', ')})${dialect === 'postgres' ? ' FOR UPDATE' : ''}`, chunk);
    for (const r of rows) docs.set(r.key, typeof r.doc === 'string' ? JSON.parse(r.doc) : r.doc);
  }
  const changed = new Set<string>();
  for (const { event, key } of work) {
    try {
      const state = docs.has(key) && docs.get(key) !== null ? docs.get(key) : projection.initial();
      docs.set(key, projection.evolve(state, event));
    } catch (error) {
      throw new EventFailed(event.position.offset, event, key, error);
    }
    changed.add(key);
  }
  const upserts: Array<[string, string]> = [];
  const deletes: string[] = [];
  for (const key of changed) {
    const doc = docs.get(key);
    if (doc === null || doc === undefined) deletes.push(key);
    else upserts.push([key, JSON.stringify(doc)]);
  }
  for (let i = 0; i < upserts.length; i += CHUNK) {
    const chunk = upserts.slice(i, i + CHUNK);
    await tx.exec(`INSERT INTO ${table} (key, doc) VALUES ${chunk.map(() => '(?, ?)').join(', ')} ON CONFLICT (key) DO UPDATE SET doc = excluded.doc`, chunk.flat() as SqlValue[]);
  }
  for (let i = 0; i < deletes.length; i += CHUNK) {
    const chunk = deletes.slice(i, i + CHUNK);
    await tx.exec(`DELETE FROM ${table} WHERE key IN (${chunk.map(() => '?').join(', ')})`, chunk);
  }
  return work.length;
}

/**
 * Applies the parked events of `key` in order with the projection as it is now, each in its own
 * transaction with its removal from the dead letters; stops at the first that fails again.
 */
export async function replayParked(conn: SqlConnection, projection: AnyProjection, slot: Slot, parked: ReadonlyArray<{ seq: number; event: RecordedEvent; key: string }>, unpark: (tx: SqlExecutor, seq: number) => Promise<void>): Promise<{ applied: number; failed?: { seq: number; error: unknown } }> {
  let applied = 0;
  for (const item of parked) {
    try {
      await conn.transaction(async (tx) => {
        const work = [{ event: item.event, key: item.key }];
        if (projection.kind === 'document') await applyDocuments(tx, conn.dialect, projection, slot, work);
        else await applyRows(tx, conn.dialect, projection, slot, work);
        await unpark(tx, item.seq);
      });
      applied++;
    } catch (e) {
      const error = e instanceof EventFailed ? e.failure : e;
      await conn.exec('UPDATE samsa_projection_dead_letters SET error = ? WHERE slot = ? AND seq = ?', [String(error instanceof Error ? error.message : error), slot.id, item.seq]);
      return { applied, failed: { seq: item.seq, error } };
    }
  }
  return { applied };
}

/** The text stored with a parked event. */
export function errorText(error: unknown): string {
  return error instanceof Error ? `${error.name}: ${error.message}` : toJson(error);
}
