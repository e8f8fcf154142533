/**
 * Aggregates as deciders (`defineAggregate({ type, initialState, decide, evolve, snapshot?, upcasters? })`)
 * and running a command against one (`store.handle(aggregate, id, command)`): load the stream
 * (from its latest valid snapshot plus the events after it), decide, and append the new events
 * with the loaded version as the expected version, so a concurrent writer makes the append fail
 * instead of both deciding on the same state (retried on conflict when asked).
 *
 * Snapshots go to the compacted topic `<type>.snapshots`, keyed by stream id, and carry the
 * snapshot's `schemaVersion` and a fingerprint of `evolve`'s source: a snapshot written by another
 * `evolve` (changed without a version bump) is discarded and the stream replayed in full. The
 * latest one is read from the partition leader's key index (the topic keeps key versions).
 */
import { createHash } from 'node:crypto';
import { InvalidArgumentError, KafkaProtocolError, WrongExpectedVersionError } from '../errors.ts';
import type { Logger } from '../logger.ts';
import { silentLogger } from '../logger.ts';
import { NO_STREAM } from './events.ts';
import type { EventPosition, NewEvent, RecordedEvent, Upcasters } from './events.ts';
import type { AdminClient } from '../clients/api.ts';

/** When to snapshot an aggregate, and how its state is written. */
export interface SnapshotPolicy<State> {
  /** After every `every` events (crossing a multiple of it). */
  readonly every?: number;
  /** Or whenever this says so, after a command. */
  readonly when?: (state: State, version: bigint) => boolean;
  /** Bump it when the state's shape changes: older snapshots are then discarded (default 1). */
  readonly schemaVersion?: number;
  /** The state as JSON-able data and back (default: the state itself, as JSON). */
  readonly toJSON?: (state: State) => unknown;
  readonly fromJSON?: (json: unknown) => State;
}

/** A decider: what an aggregate type is. */
export interface AggregateDefinition<State, Command, Event extends NewEvent> {
  /** The category: streams are `<type>-<id>` in topic `<type>.events`. */
  readonly type: string;
  readonly initialState: () => State;
  /** Turns a command and the current state into new events (none is fine); throws the application's own errors to refuse it. */
  readonly decide: (command: Command, state: State) => Event | readonly Event[];
  /** Applies one event to the state. Must be deterministic. */
  readonly evolve: (state: State, event: RecordedEvent<Event['type'], Event['data']>) => State;
  readonly snapshot?: SnapshotPolicy<State>;
  /** Upcasters for this type's events (besides the store's). */
  readonly upcasters?: Upcasters;
}

/** A defined aggregate: its definition and the fingerprint of its `evolve`. */
export interface Aggregate<State, Command, Event extends NewEvent> extends AggregateDefinition<State, Command, Event> {
  readonly fingerprint: string;
}

/** Checks and completes an aggregate definition. @throws InvalidArgumentError naming what is missing. */
export function defineAggregate<State, Command, Event extends NewEvent>(definition: AggregateDefinition<State, Command, Event>): Aggregate<State, Command, Event> {
  if (typeof definition !== 'object' || definition === null) throw new InvalidArgumentError('definition', 'expected { type, initialState, decide, evolve }');
  if (typeof definition.type !== 'string' || !/^[A-Za-z0-9_.]+$/.test(definition.type)) throw new InvalidArgumentError('type', `expected letters, digits, '_' or '.', got ${JSON.stringify(definition.type)}`);
  for (const name of ['initialState', 'decide', 'evolve'] as const) if (typeof definition[name] !== 'function') throw new InvalidArgumentError(name, `expected a function`);
  const every = definition.snapshot?.every;
  if (every !== undefined && (!Number.isInteger(every) || every < 1)) throw new InvalidArgumentError('snapshot.every', `expected an integer ≥ 1, got ${String(every)}`);
  const fingerprint = createHash('sha256').update(definition.evolve.toString()).digest('hex').slice(0, 16);
  return { ...definition, fingerprint };
}

/** An aggregate's state as loaded. */
export interface LoadedAggregate<State> {
  readonly state: State;
  readonly version: bigint;
  /** The snapshot version it started from (0n when none was used). */
  readonly snapshotVersion: bigint;
  /** Events folded after the snapshot. */
  readonly replayed: number;
}

/** Options of `handle`. */
export interface HandleOptions {
  /** The version the caller decided on: the command fails with WrongExpectedVersionError when the stream has moved. */
  readonly expectedVersion?: bigint;
  /** How many times to reload and decide again when another writer appended first (default 0; not with `expectedVersion`). */
  readonly retryOnConflict?: number;
}

/** What a handled command did. */
export interface HandleResult<State, Event extends NewEvent> {
  readonly newEvents: ReadonlyArray<RecordedEvent<Event['type'], Event['data']>>;
  readonly newState: State;
  readonly nextExpectedVersion: bigint;
  /** Where the last new event landed (undefined when the command produced none). */
  readonly position: EventPosition | undefined;
}

/** What `handle` and `aggregateStream` need of their event store (eventStore.ts has it). */
export interface AggregateStore {
  readonly admin: AdminClient;
  readStream(streamId: string, options?: { readonly from?: bigint }): Promise<{ readonly events: RecordedEvent[]; readonly currentVersion: bigint }>;
  append(streamId: string, events: readonly NewEvent[], options?: { readonly expectedVersion?: bigint | typeof NO_STREAM }): Promise<{ readonly nextExpectedVersion: bigint; readonly position: EventPosition }>;
}

/** What `handle` and `aggregateStream` need of their store. */
export interface AggregateHost {
  readonly store: AggregateStore;
  readonly logger?: Logger;
  /** Sends a snapshot record (the store's producer). */
  readonly sendSnapshot: (topic: string, key: Uint8Array, value: Uint8Array) => Promise<void>;
  /** Creates `<type>.snapshots` when it does not exist. */
  readonly ensureSnapshotTopic: (type: string) => Promise<void>;
  /** The cluster's time, for the timestamps of events handled here. */
  readonly now: () => number;
  /** Aggregates this store handled last: state and version (see {@link AggregateCache}). */
  readonly cache?: AggregateCache;
}

/**
 * The states of the aggregates a store handled most recently (least recently used dropped past
 * `capacity`). `handle` decides on a cached state without reading the stream: the append is
 * conditional on the cached version, so a stale entry only costs a conflict, after which the
 * aggregate is read again. States must be treated as immutable (as deciders do).
 */
export class AggregateCache {
  private readonly entries = new Map<string, { state: unknown; version: bigint }>();

  constructor(readonly capacity: number) {}

  get<State>(fingerprint: string, streamId: string): { state: State; version: bigint } | undefined {
    const key = `${fingerprint}:${streamId}`;
    const hit = this.entries.get(key);
    if (hit === undefined) return undefined;
    this.entries.delete(key);
    this.entries.set(key, hit);
    return hit as { state: State; version: bigint };
  }

  set(fingerprint: string, streamId: string, state: unknown, version: bigint): void {
    if (this.capacity <= 0) return;
    const key = `${fingerprint}:${streamId}`;
    this.entries.delete(key);
    this.entries.set(key, { state, version });
    if (this.entries.size > this.capacity) this.entries.delete(this.entries.keys().next().value as string);
  }

  delete(fingerprint: string, streamId: string): void {
    this.entries.delete(`${fingerprint}:${streamId}`);
  }
}

/** The stream id of aggregate `id`. */
export function streamIdOf(aggregate: { readonly type: string }, id: string): string {
  if (typeof id !== 'string' || id.length === 0) throw new InvalidArgumentError('id', `expected a non-empty aggregate id, got ${JSON.stringify(id)}`);
  return `${aggregate.type}-${id}`;
}

/** Folds snapshot + tail into the aggregate's state. */
export async function aggregateStream<State, Command, Event extends NewEvent>(host: AggregateHost, aggregate: Aggregate<State, Command, Event>, id: string): Promise<LoadedAggregate<State>> {
  const streamId = streamIdOf(aggregate, id);
  if (aggregate.snapshot !== undefined) await host.ensureSnapshotTopic(aggregate.type);
  const snapshot = aggregate.snapshot === undefined ? undefined : await readSnapshot(host.store.admin, aggregate, streamId);
  let state = snapshot?.state ?? aggregate.initialState();
  const from = (snapshot?.version ?? 0n) + 1n;
  const read = await host.store.readStream(streamId, { from });
  const upcasters = aggregate.upcasters;
  for (const event of read.events) state = aggregate.evolve(state, upcastLocal(event, upcasters) as RecordedEvent<Event['type'], Event['data']>);
  return { state, version: read.currentVersion, snapshotVersion: snapshot?.version ?? 0n, replayed: read.events.length };
}

/** Loads, decides, appends at the loaded version; see the module comment. */
export async function handleCommand<State, Command, Event extends NewEvent>(host: AggregateHost, aggregate: Aggregate<State, Command, Event>, id: string, command: Command, options: HandleOptions = {}): Promise<HandleResult<State, Event>> {
  const streamId = streamIdOf(aggregate, id);
  const retries = options.retryOnConflict ?? 0;
  if (!Number.isInteger(retries) || retries < 0) throw new InvalidArgumentError('retryOnConflict', `expected an integer ≥ 0, got ${String(retries)}`);
  for (let attempt = 0; ; attempt++) {
    // The state this store last left the aggregate in, when it has it (the append checks it is still current).
    const cached = attempt === 0 ? host.cache?.get<State>(aggregate.fingerprint, streamId) : undefined;
    const loaded = cached !== undefined && (options.expectedVersion === undefined || cached.version === options.expectedVersion) ? cached : await aggregateStream(host, aggregate, id);
    if (options.expectedVersion !== undefined && loaded.version !== options.expectedVersion) throw new WrongExpectedVersionError(streamId, options.expectedVersion, loaded.version);
    const decided = aggregate.decide(command, loaded.state);
    const events = (Array.isArray(decided) ? decided : [decided]) as readonly Event[];
    if (events.length === 0) return { newEvents: [], newState: loaded.state, nextExpectedVersion: loaded.version, position: undefined };
    let appended;
    try {
      appended = await host.store.append(streamId, events, { expectedVersion: loaded.version === 0n ? NO_STREAM : loaded.version });
    } catch (e) {
      host.cache?.delete(aggregate.fingerprint, streamId);
      // A conflict on a cached state is the cache's, not the caller's: read the stream and decide again.
      if (e instanceof WrongExpectedVersionError && ((options.expectedVersion === undefined && attempt < retries) || (cached !== undefined && attempt === 0))) continue;
      throw e;
    }
    const { position, nextExpectedVersion } = appended;
    const recorded = events.map((e, i) => ({
      type: e.type,
      data: e.data,
      metadata: e.metadata ?? {},
      ...(e.eventId === undefined ? {} : { eventId: e.eventId }),
      schemaVersion: e.schemaVersion ?? 1,
      streamId,
      streamVersion: loaded.version + BigInt(i) + 1n,
      position: { ...position, offset: position.offset - BigInt(events.length - 1 - i) },
      timestamp: host.now(),
    })) as Array<RecordedEvent<Event['type'], Event['data']>>;
    let state = loaded.state;
    for (const event of recorded) state = aggregate.evolve(state, event);
    host.cache?.set(aggregate.fingerprint, streamId, state, nextExpectedVersion);
    if (shouldSnapshot(aggregate.snapshot, state, loaded.version, nextExpectedVersion)) {
      // A snapshot only saves replay time: the command does not wait for it, and failing to write one fails nothing.
      void writeSnapshot(host, aggregate, streamId, state, nextExpectedVersion).catch((e: unknown) => (host.logger ?? silentLogger).warn('snapshot not written', { streamId, error: e instanceof Error ? e.message : String(e) }));
    }
    return { newEvents: recorded, newState: state, nextExpectedVersion, position };
  }
}

function shouldSnapshot<State>(policy: SnapshotPolicy<State> | undefined, state: State, before: bigint, after: bigint): boolean {
  if (policy === undefined) return false;
  if (policy.every !== undefined && after / BigInt(policy.every) > before / BigInt(policy.every)) return true;
  return policy.when?.(state, after) === true;
}

/** Applies the aggregate's own upcasters (the store's were applied on read). */
function upcastLocal(event: RecordedEvent, upcasters: Upcasters | undefined): RecordedEvent {
  const chain = upcasters?.[event.type];
  if (chain === undefined) return event;
  let { data, schemaVersion } = event;
  while (chain[schemaVersion] !== undefined) {
    data = (chain[schemaVersion] as (d: unknown) => unknown)(data);
    schemaVersion++;
  }
  return { ...event, data, schemaVersion };
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** The snapshots topic of an aggregate type. */
export function snapshotTopic(type: string): string {
  return `${type}.snapshots`;
}

/** The latest usable snapshot of `streamId`, or undefined (none, another schema version, another `evolve`). */
export async function readSnapshot<State, Command, Event extends NewEvent>(admin: AdminClient, aggregate: Aggregate<State, Command, Event>, streamId: string): Promise<{ state: State; version: bigint } | undefined> {
  let read;
  try {
    read = await admin.readKey(snapshotTopic(aggregate.type), encoder.encode(streamId), { direction: 'backwards', maxCount: 1 });
  } catch (e) {
    if (KafkaProtocolError.isKafka(e, 'UNKNOWN_TOPIC_OR_PARTITION')) return undefined;
    throw e;
  }
  const value = read.records[0]?.value;
  if (value === undefined || value === null) return undefined;
  let parsed: { version?: unknown; schemaVersion?: unknown; fingerprint?: unknown; state?: unknown };
  try {
    parsed = JSON.parse(decoder.decode(value)) as typeof parsed;
  } catch {
    return undefined;
  }
  if (parsed.schemaVersion !== (aggregate.snapshot?.schemaVersion ?? 1) || parsed.fingerprint !== aggregate.fingerprint || typeof parsed.version !== 'string' || !/^\d+$/.test(parsed.version)) return undefined;
  const fromJSON = aggregate.snapshot?.fromJSON ?? ((json: unknown) => json as State);
  return { state: fromJSON(parsed.state), version: BigInt(parsed.version) };
}

/** Writes a snapshot of `streamId` at `version`. */
export async function writeSnapshot<State, Command, Event extends NewEvent>(host: AggregateHost, aggregate: Aggregate<State, Command, Event>, streamId: string, state: State, version: bigint): Promise<void> {
  await host.ensureSnapshotTopic(aggregate.type);
  const toJSON = aggregate.snapshot?.toJSON ?? ((s: State) => s as unknown);
  const body = JSON.stringify({ version: version.toString(), schemaVersion: aggregate.snapshot?.schemaVersion ?? 1, fingerprint: aggregate.fingerprint, state: toJSON(state) }, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v));
  await host.sendSnapshot(snapshotTopic(aggregate.type), encoder.encode(streamId), encoder.encode(body));
}
