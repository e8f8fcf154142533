/**
 * `ProjectionSpec` (in `samsa/testing`): given-when-then tests of a projection without a cluster,
 * through the same batch code the SQL targets run, on an in-memory SQLite database (better-sqlite3).
 *
 * `given(events)` are applied first, `when(events)` next, and `then(assert)` checks the model
 * through a view (`get`, `range`, `prefix`, `query`). Duplicate and redelivery injection is on by
 * default, in three runs that must all pass `then`:
 * 1. exactly once: each event once;
 * 2. redelivered: after `when`, its events arrive again with their positions (a consumer that
 *    restarted before committing): the stored offsets must drop them;
 * 3. duplicated, for a projection that declares `idempotent: true`: every `when` event is applied
 *    `times` times (default 2) with offsets ignored (at-least-once delivery), and the model must
 *    equal run 1's.
 * A failure throws an Error naming the run.
 */
import { isDeepStrictEqual } from 'node:util';
import { SystemClock } from '../clock.ts';
import type { ConsumerRecord } from '../clients/api.ts';
import { envelopeHeaders, jsonEventSerde, STREAM_VERSION_HEADER } from '../eventsourcing/events.ts';
import type { NewEvent, RecordedEvent } from '../eventsourcing/events.ts';
import { policyOf } from './projection.ts';
import type { Projection } from './projection.ts';
import { openSqlite } from './sqlite.ts';
import type { SqlConnection } from './sql.ts';
import { applyBatch, decisionKey, errorText } from './sqlBatch.ts';
import type { Decision } from './sqlBatch.ts';
import { claimSlot, documentTable, ensureSystemTables, migrateSlot } from './sqlState.ts';
import type { Slot } from './sqlState.ts';
import { SqlView } from './sqlView.ts';
import type { ProjectionView } from './runner.ts';

/** An event for a spec: a new event with the stream it belongs to. */
export type SpecEvent = NewEvent & { readonly streamId: string };

const encoder = new TextEncoder();

type AnyProjection = Projection<unknown, RecordedEvent>;

/** A spec under construction; see the module comment. */
export class ProjectionSpec<State> {
  private constructor(
    private readonly projection: AnyProjection,
    private readonly past: readonly SpecEvent[],
    private readonly now: readonly SpecEvent[],
    private readonly times: number,
  ) {}

  /** A spec of `projection`. */
  static for<State, Event extends RecordedEvent>(projection: Projection<State, Event>): ProjectionSpec<State> {
    return new ProjectionSpec<State>(projection as AnyProjection, [], [], 2);
  }

  /** Events applied before `when`. */
  given(events: readonly SpecEvent[]): ProjectionSpec<State> {
    return new ProjectionSpec<State>(this.projection, [...this.past, ...events], this.now, this.times);
  }

  /** The events under test; `times`: how often each is delivered in the duplicated run (default 2). */
  when(events: readonly SpecEvent[], options: { readonly times?: number } = {}): ProjectionSpec<State> {
    const times = options.times ?? this.times;
    if (!Number.isInteger(times) || times < 1) throw new Error(`ProjectionSpec: times must be an integer from 1, got ${String(times)}`);
    return new ProjectionSpec<State>(this.projection, this.past, [...this.now, ...events], times);
  }

  /** Runs the spec's runs and calls `assert` on each model; resolves when all pass. */
  async then(assert: (view: ProjectionView<State>) => void | Promise<void>): Promise<void> {
    const records = toRecords(this.projection, [...this.past, ...this.now]);
    const given = records.slice(0, this.past.length);
    const when = records.slice(this.past.length);
    const clean = await this.run('exactly once', [[...given, ...when]], true, assert);
    await this.run('redelivered', [[...given, ...when], when], true, assert);
    if (this.projection.idempotent === true) {
      const duplicated = [given, ...when.map((r) => Array.from({ length: this.times }, () => r)).flat().map((r) => [r])];
      const dup = await this.run(`duplicated (each event ${this.times} times)`, duplicated, false, assert);
      if (!isDeepStrictEqual(dup, clean)) throw new Error(`ProjectionSpec "${this.projection.name}": declared idempotent, but duplicates change the model: ${JSON.stringify(dup)} instead of ${JSON.stringify(clean)}`);
    }
  }

  private async run(label: string, deliveries: ReadonlyArray<readonly ConsumerRecord[]>, storeOffsets: boolean, assert: (view: ProjectionView<State>) => void | Promise<void>): Promise<unknown> {
    const conn = await openSqlite({ filename: ':memory:' });
    try {
      await ensureSystemTables(conn);
      const slot = await claimSlot(conn, this.projection);
      await migrateSlot(conn, this.projection, slot);
      for (const batch of deliveries) if (batch.length > 0) await this.deliver(conn, slot, batch, storeOffsets);
      const view = new SqlView<State>(conn, this.projection, new SystemClock());
      try {
        await assert(view);
      } catch (e) {
        throw new Error(`ProjectionSpec "${this.projection.name}", run "${label}": ${e instanceof Error ? e.message : String(e)}`, { cause: e });
      }
      return await snapshot(conn, this.projection, slot);
    } finally {
      await conn.close();
    }
  }

  /** One delivery, with the error policy applied as the runner applies it (no waiting between retries). */
  private async deliver(conn: SqlConnection, slot: Slot, batch: readonly ConsumerRecord[], storeOffsets: boolean): Promise<void> {
    const tp = { topic: (batch[0] as ConsumerRecord).topic, partition: 0 };
    const decisions = new Map<string, { decision: Decision; error: string }>();
    const attempts = new Map<bigint, number>();
    const policy = policyOf(this.projection);
    for (;;) {
      const outcome = await applyBatch(conn, this.projection, slot, [{ tp, records: batch }], decisions, storeOffsets);
      if (outcome.kind !== 'failed') return;
      const attempt = (attempts.get(outcome.offset) ?? 0) + 1;
      attempts.set(outcome.offset, attempt);
      if (attempt <= policy.retries) continue;
      if (policy.final === 'fail') throw new Error(`ProjectionSpec "${this.projection.name}": the projection failed on event ${outcome.offset} (${errorText(outcome.error)}), and its policy is to fail`, { cause: outcome.error });
      decisions.set(decisionKey(tp.topic, tp.partition, outcome.offset), { decision: policy.final === 'skip' || outcome.key === null ? 'skip' : 'park', error: errorText(outcome.error) });
    }
  }
}

/** Each event as the record the log would hold (one partition, offsets in order). */
function toRecords(projection: AnyProjection, events: readonly SpecEvent[]): ConsumerRecord[] {
  const versions = new Map<string, bigint>();
  const topic = projection.topics[0] as string;
  return events.map((e, i) => {
    const version = (versions.get(e.streamId) ?? 0n) + 1n;
    versions.set(e.streamId, version);
    const serde = projection.serde ?? jsonEventSerde;
    return {
      topic,
      partition: 0,
      offset: BigInt(i),
      timestamp: 1_700_000_000_000 + i,
      key: encoder.encode(e.streamId),
      value: serde.serialize(e.data, e.type),
      headers: [...envelopeHeaders(e), { key: STREAM_VERSION_HEADER, value: encoder.encode(String(version)) }],
    } as ConsumerRecord;
  });
}

/** The whole model, for comparing runs: every table of the build, rows in a stable order. */
async function snapshot(conn: SqlConnection, projection: AnyProjection, slot: Slot): Promise<unknown> {
  const tables = projection.kind === 'document' ? [documentTable(projection.name, slot)] : projection.tables.map((t) => `${t}_${slot.suffix}`);
  const out: Record<string, unknown> = {};
  for (const t of tables) out[t] = (await conn.all(`SELECT * FROM ${t}`)).map((r) => JSON.stringify(r)).sort();
  return out;
}
