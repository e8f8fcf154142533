/**
 * What a projection is (`defineProjection`): a named, versioned read model built from the events
 * of topics or aggregate types, either as one document per key (`initial` + `evolve`, for every
 * target) or by a handler that writes rows with SQL (`handle`, for the SQL targets).
 *
 * The definition is checked when it is made, so a mistake is a typed error at start-up rather than
 * a failure halfway through the input.
 */
import { InvalidArgumentError } from '../errors.ts';
import type { ConsumerRecord } from '../clients/api.ts';
import { jsonEventSerde, readEvent, streamVersionOf } from '../eventsourcing/events.ts';
import type { EventSerde, RecordedEvent, Upcasters } from '../eventsourcing/events.ts';
import type { SqlHandle } from './sql.ts';

/** Where a projection reads: topics, or aggregate types (their `<type>.events` topics). */
export type ProjectionSource = { readonly topics: readonly string[] } | { readonly aggregates: readonly string[] };

/**
 * What to do when the projection fails on an event (Kafka Streams' and Axon's error handlers):
 * - `'fail'` (default): stop with a ProjectionError; the event is not consumed, so a restart meets it again;
 * - `'skip'`: leave it out (the error is reported on `errors$`) and go on;
 * - `{ retry, backoffMs, then }`: try again up to `retry` times, waiting `backoffMs` doubled each
 *   time, then do what `then` says (default 'fail');
 * - `'deadLetter'`: park the event per key; later events of the same key are parked behind it, in
 *   order, until `retryDeadLetters` applies them (other keys go on).
 */
export type ErrorPolicy = 'fail' | 'skip' | 'deadLetter' | { readonly retry: number; readonly backoffMs?: number; readonly then?: 'fail' | 'skip' | 'deadLetter' };

interface DefinitionBase<Event extends RecordedEvent> {
  /** Letters, digits and '_', starting with a letter: it names tables, groups and stores. */
  readonly name: string;
  /** The model's version (default 1): a new version builds beside the old one and takes over once caught up. */
  readonly version?: number;
  readonly from: ProjectionSource;
  /** The read-model key an event belongs to (default: its stream id, the record key; a record without one is left out); null leaves it out. */
  readonly key?: (event: Event) => string | null;
  /** Only events of these types are handed to the projection. */
  readonly types?: readonly string[];
  /** What to do with an event the projection fails on (default 'fail'). */
  readonly onError?: ErrorPolicy;
  /** Event data serde (default JSON). */
  readonly serde?: EventSerde;
  /** Upcasters applied to each event before the projection sees it. */
  readonly upcasters?: Upcasters;
  /**
   * Declares that applying an event twice gives the same model (true for `evolve` that sets
   * rather than adds). ProjectionSpec then checks it with duplicates and redeliveries.
   */
  readonly idempotent?: boolean;
}

/** A projection keeping one document per key: `evolve(state, event)`; returning null deletes the document. */
export interface DocumentProjectionDefinition<State, Event extends RecordedEvent> extends DefinitionBase<Event> {
  readonly initial: () => State;
  readonly evolve: (state: State, event: Event) => State | null;
}

/** A projection writing rows with SQL in its own tables (SQL targets only). */
export interface SqlProjectionDefinition<Event extends RecordedEvent> extends DefinitionBase<Event> {
  /** Creates the projection's tables; `db.table(name)` gives each its versioned physical name. Runs once per version and build; may return a promise. */
  readonly migrate: (db: SqlHandle) => unknown;
  /** Applies one event, in the database transaction that also stores the input offsets. */
  readonly handle: (event: Event, db: SqlHandle) => unknown;
  /** The logical table names `migrate` and `handle` use (dropped when a rebuild replaces this build). */
  readonly tables: readonly string[];
}

/** A checked projection, as `runProjection` and the views take it. */
export type Projection<State = unknown, Event extends RecordedEvent = RecordedEvent> =
  | (Required<Pick<DocumentProjectionDefinition<State, Event>, 'name' | 'version'>> & DocumentProjectionDefinition<State, Event> & { readonly kind: 'document'; readonly topics: readonly string[] })
  | (Required<Pick<SqlProjectionDefinition<Event>, 'name' | 'version'>> & SqlProjectionDefinition<Event> & { readonly kind: 'sql'; readonly topics: readonly string[] });

const NAME = /^[A-Za-z][A-Za-z0-9_]{0,47}$/;
const TABLE = /^[A-Za-z][A-Za-z0-9_]{0,47}$/;

/**
 * Defines a projection; see the module comment.
 * @throws InvalidArgumentError naming the field that is wrong and what it takes.
 */
export function defineProjection<State, Event extends RecordedEvent = RecordedEvent>(definition: DocumentProjectionDefinition<State, Event>): Projection<State, Event>;
export function defineProjection<Event extends RecordedEvent = RecordedEvent>(definition: SqlProjectionDefinition<Event>): Projection<never, Event>;
export function defineProjection(definition: object): unknown {
  const d = definition as Partial<DocumentProjectionDefinition<unknown, RecordedEvent> & SqlProjectionDefinition<RecordedEvent>>;
  if (typeof d !== 'object' || d === null) throw new InvalidArgumentError('projection', 'expected an object { name, version, from, initial + evolve | migrate + handle + tables }');
  if (typeof d.name !== 'string' || !NAME.test(d.name)) throw new InvalidArgumentError('name', `expected 1-48 letters, digits or '_' starting with a letter (it names tables and groups), got ${JSON.stringify(d.name)}`);
  const version = d.version ?? 1;
  if (!Number.isInteger(version) || version < 1 || version > 1_000_000) throw new InvalidArgumentError('version', `expected an integer from 1, got ${JSON.stringify(d.version)}`);
  const topics = sourceTopics(d.from);
  if (d.key !== undefined && typeof d.key !== 'function') throw new InvalidArgumentError('key', `expected a function (event) => key, got ${typeof d.key}`);
  if (d.types !== undefined && (!Array.isArray(d.types) || d.types.some((t) => typeof t !== 'string'))) throw new InvalidArgumentError('types', 'expected an array of event type names');
  checkPolicy(d.onError);
  const hasDocument = d.evolve !== undefined || d.initial !== undefined;
  const hasSql = d.handle !== undefined || d.migrate !== undefined || d.tables !== undefined;
  if (hasDocument === hasSql) throw new InvalidArgumentError('projection', `"${d.name}" needs either initial + evolve (a document per key) or migrate + handle + tables (SQL rows), not ${hasDocument ? 'both' : 'neither'}`);
  if (hasDocument) {
    if (typeof d.initial !== 'function' || typeof d.evolve !== 'function') throw new InvalidArgumentError(typeof d.initial !== 'function' ? 'initial' : 'evolve', `"${d.name}": a document projection needs initial() and evolve(state, event) functions`);
    return { ...d, version, topics, kind: 'document' } as Projection<unknown, RecordedEvent>;
  }
  if (typeof d.migrate !== 'function' || typeof d.handle !== 'function') throw new InvalidArgumentError(typeof d.migrate !== 'function' ? 'migrate' : 'handle', `"${d.name}": a SQL projection needs migrate(db) and handle(event, db) functions`);
  if (!Array.isArray(d.tables) || d.tables.length === 0 || d.tables.some((t) => typeof t !== 'string' || !TABLE.test(t))) throw new InvalidArgumentError('tables', `"${d.name}": expected the logical table names it uses (letters, digits, '_'), got ${JSON.stringify(d.tables)}`);
  return { ...d, version, topics, kind: 'sql' } as Projection<unknown, RecordedEvent>;
}

function sourceTopics(from: unknown): string[] {
  const f = from as { topics?: unknown; aggregates?: unknown } | undefined;
  const list = f?.topics ?? (Array.isArray(f?.aggregates) ? (f.aggregates as unknown[]).map((a) => (typeof a === 'string' && /^[A-Za-z0-9_.]+$/.test(a) ? `${a}.events` : null)) : undefined);
  if (!Array.isArray(list) || list.length === 0 || list.some((t) => typeof t !== 'string' || t.length === 0)) {
    throw new InvalidArgumentError('from', `expected { topics: [names] } or { aggregates: [types] } (letters, digits, '_' or '.'), got ${JSON.stringify(from)}`);
  }
  return [...new Set(list as string[])];
}

function checkPolicy(policy: unknown): void {
  if (policy === undefined || policy === 'fail' || policy === 'skip' || policy === 'deadLetter') return;
  const p = policy as { retry?: unknown; backoffMs?: unknown; then?: unknown };
  const ok = typeof p === 'object' && p !== null && Number.isInteger(p.retry) && (p.retry as number) >= 0 && (p.backoffMs === undefined || (typeof p.backoffMs === 'number' && p.backoffMs >= 0)) && (p.then === undefined || p.then === 'fail' || p.then === 'skip' || p.then === 'deadLetter');
  if (!ok) throw new InvalidArgumentError('onError', `expected 'fail', 'skip', 'deadLetter' or { retry: n, backoffMs?, then?: 'fail' | 'skip' | 'deadLetter' }, got ${JSON.stringify(policy)}`);
}

const decoder = new TextDecoder();

/**
 * Turns consumed records into the events the projection sees: decoded with its serde and
 * upcasters, typed by their envelope header (a plain record's type is its topic), keyed.
 * A record that cannot be decoded comes back as an error for the error policy.
 */
export function decodeRecord(projection: Projection<unknown, RecordedEvent>, record: ConsumerRecord): { event: RecordedEvent; key: string | null } | { error: unknown } {
  const streamId = record.key === null ? '' : decoder.decode(record.key);
  try {
    const raw = readEvent(record, { streamId, streamVersion: streamVersionOf(record.headers) ?? -1n, position: { topic: record.topic, partition: record.partition, offset: record.offset } }, projection.serde ?? jsonEventSerde, projection.upcasters ?? {});
    const event = raw.type === 'unknown' && !record.headers.some((h) => h.key === 'samsa.event-type') ? { ...raw, type: record.topic } : raw;
    if (projection.types !== undefined && !projection.types.includes(event.type)) return { event, key: null };
    // A record without a key belongs to no document unless the projection names one (as Kafka's aggregations ignore null keys).
    const key = projection.key === undefined ? (record.key === null ? null : streamId) : projection.key(event);
    return { event, key };
  } catch (error) {
    return { error };
  }
}

/** The effective policy for the first failure and after the retries. */
export function policyOf(projection: Projection<unknown, RecordedEvent>): { retries: number; backoffMs: number; final: 'fail' | 'skip' | 'deadLetter' } {
  const p = projection.onError ?? 'fail';
  if (typeof p === 'string') return { retries: 0, backoffMs: 0, final: p };
  return { retries: p.retry, backoffMs: p.backoffMs ?? 100, final: p.then ?? 'fail' };
}
