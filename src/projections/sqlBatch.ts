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
import { documentTable, park, parkedKeys, readOffsets, writeOffsets } from './sqlState.ts';
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

/** One partition's records of a poll, in offset order. */
export interface PartitionBatch {
  readonly tp: TopicPartition;
  readonly records: readonly ConsumerRecord[];
}

/** The decisions taken so far, by `topic/partition/offset`. */
export type Decisions = ReadonlyMap<string, { decision: Decision; error: string }>;

/** The key of an event in {@link Decisions}. */
export const decisionKey = (topic: string, partition: number, offset: bigint): string => `${topic}/${partition}/${offset}`;

/** How a batch ended. */
export type BatchOutcome =
  /**
   * Committed: `next` is the stored next offset of each partition applied; `stale` the stored
   * offset of each partition whose records were all applied already (another worker, or this one
   * before a crash, got further: seek there).
   */
  | { readonly kind: 'applied'; readonly next: ReadonlyMap<string, bigint>; readonly stale: ReadonlyMap<string, bigint>; readonly applied: number; readonly parked: number }
  | { readonly kind: 'failed'; readonly tp: TopicPartition; readonly offset: bigint; readonly event: RecordedEvent | undefined; readonly key: string | null; readonly error: unknown };

class EventFailed extends Error {
  constructor(readonly tp: TopicPartition, readonly offset: bigint, readonly event: RecordedEvent | undefined, readonly key: string | null, readonly failure: unknown) {
    super('event failed');
  }
}

const PARKED_BEHIND = 'waiting behind an earlier parked event of its key';
const tpKey = (tp: TopicPartition): string => `${tp.topic}/${tp.partition}`;

/**
 * Applies a poll's records (several partitions, each in offset order) in one transaction with the
 * decisions taken so far; see the module comment. `storeOffsets` false (at-least-once) leaves
 * offsets to the consumer group.
 */
export async function applyBatch(conn: SqlConnection, projection: AnyProjection, slot: Slot, batches: readonly PartitionBatch[], decisions: Decisions, storeOffsets: boolean, faults?: BatchFaults): Promise<BatchOutcome> {
  try {
    return await conn.transaction(async (tx) => {
      // Locks this build's offset rows: a second worker on the same build waits here, then sees what this one stored.
      const stored = storeOffsets ? await readOffsets(tx, conn.dialect, slot, true) : new Map<string, bigint>();
      const next = new Map<string, bigint>();
      const stale = new Map<string, bigint>();
      const parked = await parkedKeys(tx, slot);
      let parkedNow = 0;
      const work: Array<{ event: RecordedEvent; key: string }> = [];
      for (const { tp, records } of batches) {
        const at = stored.get(tpKey(tp)) ?? -1n;
        const fresh = at < 0n ? records : records.filter((r) => r.offset >= at);
        const last = records[records.length - 1];
        if (last === undefined) continue;
        if (fresh.length === 0) {
          stale.set(tpKey(tp), at);
          continue;
        }
        for (const record of fresh) {
          const decoded = decodeRecord(projection, record);
          const decided = decisions.get(decisionKey(tp.topic, tp.partition, record.offset));
          if ('error' in decoded) {
            // Once decided, an undecodable record is left out: without an event it has no key to park under.
            if (decided === undefined) throw new EventFailed(tp, record.offset, undefined, null, decoded.error);
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
        next.set(tpKey(tp), last.offset + 1n);
      }
      const applied = projection.kind === 'document' ? await applyDocuments(tx, conn.dialect, projection, slot, work) : await applyRows(tx, conn.dialect, projection, slot, work);
      for (const { tp } of batches) {
        const n = next.get(tpKey(tp));
        if (n !== undefined) await faults?.beforeOffsetWrite?.(tp, n, () => conn.kill());
      }
      if (storeOffsets && next.size > 0) await writeOffsets(tx, slot, [...next].map(([k, offset]) => ({ ...splitKey(k), offset })));
      return { kind: 'applied', next, stale, applied, parked: parkedNow } as const;
    });
  } catch (e) {
    if (e instanceof EventFailed) return { kind: 'failed', tp: e.tp, offset: e.offset, event: e.event, key: e.key, error: e.failure };
    throw e;
  }
}

function splitKey(k: string): TopicPartition {
  const i = k.lastIndexOf('/');
  return { topic: k.slice(0, i), partition: Number(k.slice(i + 1)) };
}

async function applyRows(tx: SqlExecutor, dialect: SqlConnection['dialect'], projection: Extract<AnyProjection, { kind: 'sql' }>, slot: Slot, work: ReadonlyArray<{ event: RecordedEvent; key: string }>): Promise<number> {
  const db = sqlHandle(tx, dialect, slot.suffix);
  for (const { event, key } of work) {
    try {
      await projection.handle(event, db);
    } catch (error) {
      throw new EventFailed({ topic: event.position.topic, partition: event.position.partition }, event.position.offset, event, key, error);
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
      throw new EventFailed({ topic: event.position.topic, partition: event.position.partition }, event.position.offset, event, key, error);
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
