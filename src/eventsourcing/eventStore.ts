/**
 * The event store on the log (`createEventStore(clients, options)`): a stream is a key in its
 * type's topic `<type>.events` (stream id `<type>-<id>`, retention unlimited, delete policy, key
 * versions on), and its version is the number of its events.
 *
 * - `append` writes a stream's events as one batch of their own with the expected version in the
 *   first record's headers: the partition leader checks it and appends atomically (Kafka has no
 *   conditional append; samsa's key version index does it, see log/keyVersionIndex.ts). Every
 *   record also carries its stream version. `ANY` and `STREAM_EXISTS` read the current version
 *   first and append at it, retrying when another writer got there first.
 * - `readStream` reads a stream by version from the leader's key index, without scanning the
 *   partition; `subscribe` follows whole categories (see subscription.ts).
 * - `transaction` appends to several streams, each with its condition, in one Kafka transaction:
 *   all or nothing, and the streams' versions are reserved until it ends.
 * - `handle` runs a command against an aggregate (see aggregate.ts).
 */
import { throwError } from 'rxjs';
import type { Observable } from 'rxjs';
import { ClosedError, InvalidArgumentError, KafkaProtocolError, SamsaError, WrongExpectedVersionError } from '../errors.ts';
import type { AdminClient, KafkaClients, ProducerClient, RecordHeader, TransactionalProducerClient } from '../clients/api.ts';
import { encodeCondition, EVENT_ID_HEADER, EXPECTED_VERSION_HEADER, KEY_VERSION_INDEX_CONFIG, parseConflict } from '../record/keyVersions.ts';
import type { VersionCondition } from '../record/keyVersions.ts';
import { ANY, checkNewEvent, envelopeHeaders, jsonEventSerde, NO_STREAM, readEvent, serializeEvent, STREAM_EXISTS, STREAM_VERSION_HEADER } from './events.ts';
import type { EventPosition, EventSerde, ExpectedVersion, NewEvent, RecordedEvent, Upcasters } from './events.ts';
import { SystemClock } from '../clock.ts';
import type { Clock } from '../clock.ts';
import { AggregateCache, aggregateStream, handleCommand, snapshotTopic } from './aggregate.ts';
import type { Aggregate, AggregateHost, HandleOptions, HandleResult, LoadedAggregate } from './aggregate.ts';
import { metadataTopic, readStreamMetadata, writeStreamMetadata } from './streamMetadata.ts';
import { encrypt, SUBJECT_HEADER, SubjectKeys, unsealRecords } from './personalData.ts';
import type { PersonalDataOptions } from './personalData.ts';
import { subscribeEvents } from './subscription.ts';
import type { SubscribeOptions, SubscriptionMessage } from './subscription.ts';

/** Options of {@link createEventStore}. */
export interface EventStoreOptions {
  /** Partitions of each `<type>.events` topic it creates (default 3). */
  readonly partitions?: number;
  /** Replication factor of the topics it creates (default: the broker's, 1). */
  readonly replicationFactor?: number;
  /** `min.insync.replicas` of the topics it creates (default: the broker's, 1). */
  readonly minInsyncReplicas?: number;
  /** Event data serde (default JSON). */
  readonly serde?: EventSerde;
  /** Upcasters applied on every read (readStream, subscriptions, aggregate loads). */
  readonly upcasters?: Upcasters;
  /** Prefix of its clients' ids, and its transactional id (default `event-store`). */
  readonly clientId?: string;
  /** Crypto-shredding: which events hold a subject's personal data (encrypted with its own key; see personalData.ts). */
  readonly personalData?: PersonalDataOptions;
  /** How many aggregates `handle` keeps the state of, to decide without reading their stream (default 10000; 0: none). */
  readonly aggregateCache?: number;
  /** How many times `ANY` and `STREAM_EXISTS` appends retry when another writer appended first (default 10). */
  readonly anyRetries?: number;
}

/** What an append did. */
export interface AppendResult {
  /** The stream's version after the append: the expected version of the next one. */
  readonly nextExpectedVersion: bigint;
  /** Where the last event landed (for read-your-writes). */
  readonly position: EventPosition;
}

/** Options of {@link EventStore.append}. */
export interface AppendOptions {
  /** Default ANY. */
  readonly expectedVersion?: ExpectedVersion;
}

/** Options of {@link EventStore.readStream}. */
export interface ReadStreamOptions {
  /** First version to read (1-based, default 1); backwards, the version to read down from (default: the last). */
  readonly from?: bigint;
  /** At most this many events (default: all). */
  readonly maxCount?: number;
  readonly direction?: 'forwards' | 'backwards';
}

/** A stream as read. */
export interface ReadStreamResult {
  readonly events: RecordedEvent[];
  /** The stream's version (its number of committed events). */
  readonly currentVersion: bigint;
  readonly streamExists: boolean;
}

/** Appends inside {@link EventStore.transaction}. */
export interface EventStoreTransaction {
  /** As {@link EventStore.append}, inside the transaction: its condition holds when it is checked, and its versions stay reserved until the end. */
  append(streamId: string, events: readonly NewEvent[], options?: { readonly expectedVersion?: bigint | typeof NO_STREAM }): Promise<AppendResult>;
}

/** The event store; see the module comment. */
export interface EventStore {
  /**
   * Appends `events` to `streamId` if its version is what `expectedVersion` says: all of them, in
   * order, or none. @throws WrongExpectedVersionError; InvalidArgumentError for a bad stream id or event.
   */
  append(streamId: string, events: readonly NewEvent[], options?: AppendOptions): Promise<AppendResult>;
  /** A stream's events by version (upcast), and its version. */
  readStream(streamId: string, options?: ReadStreamOptions): Promise<ReadStreamResult>;
  /** The events of one or more categories (aggregate types) as they are committed, with a caught-up signal. */
  subscribe(options: SubscribeOptions): Observable<SubscriptionMessage>;
  /**
   * Runs `work` in one transaction: every append's condition holds and all events commit, or
   * nothing does (the error is rethrown). Transactions of one store run one at a time.
   */
  transaction<T>(work: (tx: EventStoreTransaction) => Promise<T>): Promise<T>;
  /**
   * Runs `command` against aggregate `id`: loads it (snapshot + tail), decides, and appends the
   * new events at the loaded version. The aggregate's own errors from `decide` are thrown as they are.
   * @throws WrongExpectedVersionError when another writer appended first (after `retryOnConflict` retries).
   */
  handle<State, Command, Event extends NewEvent>(aggregate: Aggregate<State, Command, Event>, id: string, command: Command, options?: HandleOptions): Promise<HandleResult<State, Event>>;
  /** An aggregate's current state and version: its latest valid snapshot plus the events after it. */
  aggregateStream<State, Command, Event extends NewEvent>(aggregate: Aggregate<State, Command, Event>, id: string): Promise<LoadedAggregate<State>>;
  /**
   * Creates the topic of aggregate type `type` now, as its first append would (key versions on):
   * consumers, services and projections can then subscribe before any event is written.
   * @throws InvalidArgumentError for a malformed type.
   */
  createCategory(type: string): Promise<void>;
  /**
   * Crypto-shreds `subject`: from now on its events read without their data (`shredded: true`)
   * everywhere, and it takes no new events. The events stay in their streams.
   */
  shred(subject: string): Promise<void>;
  /**
   * Soft-deletes a stream: it reads as absent (its events hidden, still in the log) until new
   * events are appended, which continue its versions. @throws WrongExpectedVersionError when `expectedVersion` does not hold.
   */
  deleteStream(streamId: string, options?: { readonly expectedVersion?: bigint }): Promise<void>;
  /** Hides the stream's events below version `before` from every read (truncate-before). */
  truncateStream(streamId: string, before: bigint): Promise<void>;
  /** The serde and upcasters this store reads with. */
  readonly serde: EventSerde;
  readonly upcasters: Upcasters;
  /** The admin client (for aggregate snapshots and tools built on the store). */
  readonly admin: AdminClient;
  /** Closes its clients; later calls fail with ClosedError. */
  close(): Promise<void>;
}

/** Creates an event store on `clients`; see the module comment. */
export function createEventStore(clients: KafkaClients, options: EventStoreOptions = {}): EventStore {
  return new LogEventStore(clients, options);
}

const encoder = new TextEncoder();
const SYSTEM_CLOCK = new SystemClock();

/** A stream id's category (type) and topic. @throws InvalidArgumentError */
export function parseStreamId(streamId: string): { type: string; topic: string } {
  if (typeof streamId !== 'string') throw new InvalidArgumentError('streamId', `expected "<type>-<id>", got ${typeof streamId}`);
  const dash = streamId.indexOf('-');
  const type = dash < 0 ? '' : streamId.slice(0, dash);
  if (!/^[A-Za-z0-9_.]+$/.test(type) || dash === streamId.length - 1) throw new InvalidArgumentError('streamId', `expected "<type>-<id>" with a type of letters, digits, '_' or '.', got ${JSON.stringify(streamId)}`);
  return { type, topic: `${type}.events` };
}

function conditionOf(expected: bigint | typeof NO_STREAM): VersionCondition {
  return expected === NO_STREAM ? { kind: 'noStream' } : { kind: 'exact', version: expected };
}

class LogEventStore implements EventStore {
  readonly admin: AdminClient;
  readonly serde: EventSerde;
  readonly upcasters: Upcasters;
  private readonly producer: ProducerClient;
  private txProducer: TransactionalProducerClient | undefined;
  private txQueue: Promise<void> = Promise.resolve();
  private readonly topics = new Map<string, Promise<void>>();
  private closed = false;
  /** The subjects' keys (crypto-shredding). */
  private readonly keys: SubjectKeys;
  /** The last command queued per aggregate (see `handle`). */
  private readonly handling = new Map<string, Promise<void>>();
  /** What aggregates need of this store. */
  private readonly host: AggregateHost;

  constructor(
    private readonly clients: KafkaClients,
    private readonly options: EventStoreOptions,
  ) {
    const partitions = options.partitions ?? 3;
    if (!Number.isInteger(partitions) || partitions < 1) throw new InvalidArgumentError('partitions', `expected an integer ≥ 1, got ${String(partitions)}`);
    this.serde = options.serde ?? jsonEventSerde;
    this.upcasters = options.upcasters ?? {};
    const base = options.clientId ?? 'event-store';
    this.admin = clients.admin({ clientId: `${base}-admin` });
    this.producer = clients.producer({ clientId: `${base}-producer`, idempotent: true, acks: -1 });
    this.keys = new SubjectKeys(this.admin, this.producer, (topic) => this.ensureCompacted(topic), options.personalData?.keysTopic);
    this.host = {
      store: this,
      sendSnapshot: async (topic, key, value) => {
        await this.producer.send(topic, { key, value });
      },
      ensureSnapshotTopic: (type) => this.ensureCompacted(snapshotTopic(type)),
      now: () => ((this.clients as { clock?: Clock }).clock ?? SYSTEM_CLOCK).now(),
      cache: new AggregateCache(this.options.aggregateCache ?? 10_000),
    };
  }

  async append(streamId: string, events: readonly NewEvent[], options: AppendOptions = {}): Promise<AppendResult> {
    this.ensureOpen();
    const { topic } = parseStreamId(streamId);
    const expected = options.expectedVersion ?? ANY;
    checkEvents(events);
    if (expected !== ANY && expected !== STREAM_EXISTS && expected !== NO_STREAM && (typeof expected !== 'bigint' || expected < 0n)) throw new InvalidArgumentError('expectedVersion', `expected a bigint ≥ 0, ANY, NO_STREAM or STREAM_EXISTS, got ${String(expected)}`);
    await this.ensureTopic(streamId);
    if (expected !== ANY && expected !== STREAM_EXISTS) return this.appendAt(this.producer, topic, streamId, events, expected);
    // ANY and STREAM_EXISTS: append at the current version, so every event carries its version.
    const retries = this.options.anyRetries ?? 10;
    for (let attempt = 0; ; attempt++) {
      const current = (await this.admin.readKey(topic, encoder.encode(streamId), { maxCount: 0 })).version;
      if (expected === STREAM_EXISTS && current === 0n) throw new WrongExpectedVersionError(streamId, 'stream_exists', 0n);
      try {
        return await this.appendAt(this.producer, topic, streamId, events, current);
      } catch (e) {
        if (!(e instanceof WrongExpectedVersionError) || attempt >= retries) throw e;
      }
    }
  }

  async readStream(streamId: string, options: ReadStreamOptions = {}): Promise<ReadStreamResult> {
    this.ensureOpen();
    const { topic } = parseStreamId(streamId);
    const backwards = options.direction === 'backwards';
    const limit = options.maxCount ?? Infinity;
    if (limit !== Infinity && (!Number.isInteger(limit) || limit < 0)) throw new InvalidArgumentError('maxCount', `expected an integer ≥ 0, got ${String(limit)}`);
    if (!(await this.topicExists(topic))) return { events: [], currentVersion: 0n, streamExists: false };
    const key = encoder.encode(streamId);
    const events: RecordedEvent[] = [];
    // Truncated and soft-deleted streams hide what their metadata says.
    const metadata = await readStreamMetadata(this.admin, metadataTopic(parseStreamId(streamId).type), streamId);
    const floor = metadata.truncateBefore ?? 1n;
    let from = options.from ?? (backwards ? undefined : 1n);
    if (!backwards && from !== undefined && from < floor) from = floor;
    let version = 0n;
    // Pages of at most 1000 events, until the limit or the stream's end.
    for (;;) {
      const want = Math.min(1000, limit - events.length);
      const page = await this.admin.readKey(topic, key, { ...(from === undefined ? {} : { from }), maxCount: want, direction: backwards ? 'backwards' : 'forwards' });
      version = page.version;
      for (const r of await unsealRecords(this.keys, page.records)) if (r.version >= floor) events.push(readEvent(r, { streamId, streamVersion: r.version, position: { topic, partition: page.partition, offset: r.offset } }, this.serde, this.upcasters));
      const last = page.records.at(-1);
      if (last === undefined || page.records.length < want || events.length >= limit) break;
      from = backwards ? last.version - 1n : last.version + 1n;
      if (backwards && from < floor) break;
    }
    if (metadata.deleted === true && version < floor) return { events: [], currentVersion: version, streamExists: false };
    return { events, currentVersion: version, streamExists: version > 0n };
  }

  subscribe(options: SubscribeOptions): Observable<SubscriptionMessage> {
    // Bad options or a closed store arrive as the Observable's error, never as a throw.
    if (this.closed) return throwError(() => new ClosedError('event store'));
    return subscribeEvents(this.clients, options, { serde: this.serde, upcasters: this.upcasters, clientId: `${this.options.clientId ?? 'event-store'}-subscription`, unseal: (records) => unsealRecords(this.keys, records), ensureCategory: (category) => this.ensureTopic(`${category}-subscription`) });
  }

  async handle<State, Command, Event extends NewEvent>(aggregate: Aggregate<State, Command, Event>, id: string, command: Command, options?: HandleOptions): Promise<HandleResult<State, Event>> {
    this.ensureOpen();
    // Commands to one aggregate from this store run one after another (no conflict with itself);
    // other stores and processes still race, and the conditional append settles it.
    const key = `${aggregate.type}-${id}`;
    const previous = this.handling.get(key) ?? Promise.resolve();
    const run = previous.then(() => handleCommand(this.host, aggregate, id, command, options));
    const settled = run.then(
      () => undefined,
      () => undefined,
    );
    this.handling.set(key, settled);
    void settled.then(() => {
      if (this.handling.get(key) === settled) this.handling.delete(key);
    });
    return run;
  }

  async aggregateStream<State, Command, Event extends NewEvent>(aggregate: Aggregate<State, Command, Event>, id: string): Promise<LoadedAggregate<State>> {
    this.ensureOpen();
    return aggregateStream(this.host, aggregate, id);
  }



  transaction<T>(work: (tx: EventStoreTransaction) => Promise<T>): Promise<T> {
    if (this.closed) return Promise.reject(new ClosedError('event store'));
    if (typeof work !== 'function') return Promise.reject(new InvalidArgumentError('work', 'expected an async function (tx) => …'));
    const run = this.txQueue.then(async () => {
      this.txProducer ??= this.clients.producer({ clientId: `${this.options.clientId ?? 'event-store'}-tx`, transactionalId: `${this.options.clientId ?? 'event-store'}-tx` });
      const producer = this.txProducer;
      return producer.transaction(async (kafkaTx) => {
        const tx: EventStoreTransaction = {
          append: async (streamId, events, appendOptions = {}) => {
            const { topic } = parseStreamId(streamId);
            checkEvents(events);
            const expected = appendOptions.expectedVersion ?? (await this.admin.readKey(topic, encoder.encode(streamId), { maxCount: 0 })).version;
            if (expected !== NO_STREAM && (typeof expected !== 'bigint' || expected < 0n)) throw new InvalidArgumentError('expectedVersion', `expected a bigint ≥ 0 or NO_STREAM in a transaction, got ${String(expected)}`);
            await this.ensureTopic(streamId);
            return this.appendAt({ send: kafkaTx.send } as Pick<ProducerClient, 'send'>, topic, streamId, events, expected);
          },
        };
        return work(tx);
      });
    });
    this.txQueue = run.then(
      () => undefined,
      () => undefined,
    );
    return run;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await Promise.allSettled([this.producer.close(), this.txProducer?.close(), Promise.resolve(this.admin.close())]);
  }

  /** Appends at an exact version (or NO_STREAM): one atomic batch, the condition on its first record, each record's version in its headers. */
  private async appendAt(producer: Pick<ProducerClient, 'send'>, topic: string, streamId: string, events: readonly NewEvent[], expected: bigint | typeof NO_STREAM): Promise<AppendResult> {
    const key = encoder.encode(streamId);
    const start = expected === NO_STREAM ? 0n : expected;
    const subjectOf = this.options.personalData?.subjectOf;
    const records = await Promise.all(
      events.map(async (event, i) => {
        const headers: RecordHeader[] = envelopeHeaders(event);
        if (i === 0) headers.push({ key: EXPECTED_VERSION_HEADER, value: encodeCondition(conditionOf(expected)) });
        headers.push({ key: STREAM_VERSION_HEADER, value: encoder.encode((start + BigInt(i) + 1n).toString()) });
        if (event.eventId !== undefined) headers.push({ key: EVENT_ID_HEADER, value: encoder.encode(event.eventId) });
        let value = serializeEvent(this.serde, event, topic);
        // Personal data is sealed with its subject's key, so shredding the key erases it.
        const subject = subjectOf?.(event, streamId);
        if (subject !== undefined) {
          value = encrypt(await this.keys.keyFor(subject), value);
          headers.push({ key: SUBJECT_HEADER, value: encoder.encode(subject) });
        }
        return { key, value, headers: Object.fromEntries(headers.map((h) => [h.key, h.value])) };
      }),
    );
    let landed;
    try {
      // Appends share batches, except one carrying event ids: a retry is answered only for a batch of its own.
      landed = await producer.send(topic, records, events.some((e) => e.eventId !== undefined) ? { atomic: true, alone: true } : { atomic: true });
    } catch (e) {
      throw conflictOf(e, streamId, expected);
    }
    const last = landed[landed.length - 1] as { partition: number; offset: bigint };
    return { nextExpectedVersion: start + BigInt(events.length), position: { topic, partition: last.partition, offset: last.offset } };
  }

  /** Creates a compacted topic with key versions (snapshots, metadata, keys) on first use. */
  private ensureCompacted(topic: string): Promise<void> {
    return this.ensure(topic, { 'cleanup.policy': 'compact', [KEY_VERSION_INDEX_CONFIG]: true });
  }

  async deleteStream(streamId: string, options: { readonly expectedVersion?: bigint } = {}): Promise<void> {
    this.ensureOpen();
    const { type, topic } = parseStreamId(streamId);
    const version = (await this.topicExists(topic)) ? (await this.admin.readKey(topic, encoder.encode(streamId), { maxCount: 0 })).version : 0n;
    if (options.expectedVersion !== undefined && options.expectedVersion !== version) throw new WrongExpectedVersionError(streamId, options.expectedVersion, version);
    await this.ensureCompacted(metadataTopic(type));
    await writeStreamMetadata(this.producer, metadataTopic(type), streamId, { truncateBefore: version + 1n, deleted: true });
  }

  async truncateStream(streamId: string, before: bigint): Promise<void> {
    this.ensureOpen();
    const { type } = parseStreamId(streamId);
    if (typeof before !== 'bigint' || before < 1n) throw new InvalidArgumentError('before', `expected a version (bigint ≥ 1), got ${String(before)}`);
    await this.ensureCompacted(metadataTopic(type));
    await writeStreamMetadata(this.producer, metadataTopic(type), streamId, { truncateBefore: before });
  }

  async createCategory(type: string): Promise<void> {
    this.ensureOpen();
    if (typeof type !== 'string' || !/^[A-Za-z0-9_.]+$/.test(type)) throw new InvalidArgumentError('type', `expected an aggregate type (letters, digits, '_' or '.'), got ${JSON.stringify(type)}`);
    await this.ensureTopic(`${type}-category`);
  }

  async shred(subject: string): Promise<void> {
    this.ensureOpen();
    await this.keys.shred(subject);
  }

  /** Creates the stream type's topic on first use (or checks the existing one keeps key versions). */
  private ensureTopic(streamId: string): Promise<void> {
    return this.ensure(parseStreamId(streamId).topic, { 'retention.ms': -1, 'cleanup.policy': 'delete', [KEY_VERSION_INDEX_CONFIG]: true });
  }

  /** Creates `topic` with `config` once per store (a failed attempt is tried again next time). */
  private ensure(topic: string, config: Readonly<Record<string, string | number | boolean>>): Promise<void> {
    let ready = this.topics.get(topic);
    if (ready === undefined) {
      ready = this.createTopic(topic, config);
      this.topics.set(topic, ready);
      ready.catch(() => this.topics.delete(topic));
    }
    return ready;
  }

  private async createTopic(topic: string, base: Readonly<Record<string, string | number | boolean>>): Promise<void> {
    if (await this.topicExists(topic)) return;
    const config: Record<string, string | number | boolean> = { ...base };
    if (this.options.minInsyncReplicas !== undefined) config['min.insync.replicas'] = this.options.minInsyncReplicas;
    try {
      await this.admin.createTopic(topic, { partitions: this.options.partitions ?? 3, ...(this.options.replicationFactor === undefined ? {} : { replicationFactor: this.options.replicationFactor }), config });
    } catch (e) {
      if (!KafkaProtocolError.isKafka(e, 'TOPIC_ALREADY_EXISTS')) throw e;
    }
  }

  /** Whether `topic` exists; throws when it exists without key versions (it is not an event topic). */
  private async topicExists(topic: string): Promise<boolean> {
    try {
      const description = await this.admin.describeTopic(topic);
      if (description.config[KEY_VERSION_INDEX_CONFIG] !== 'true') throw new InvalidArgumentError('streamId', `topic "${topic}" exists but does not keep key versions; event topics need ${KEY_VERSION_INDEX_CONFIG}=true (alter its config, or use another stream type)`);
      return true;
    } catch (e) {
      if (KafkaProtocolError.isKafka(e, 'UNKNOWN_TOPIC_OR_PARTITION')) return false;
      throw e;
    }
  }

  private ensureOpen(): void {
    if (this.closed) throw new ClosedError('event store');
  }
}

function checkEvents(events: readonly NewEvent[]): void {
  if (!Array.isArray(events) || events.length === 0) throw new InvalidArgumentError('events', 'expected a non-empty array of events { type, data }');
  events.forEach((e, i) => checkNewEvent(e, i));
}

/** A refused condition as a WrongExpectedVersionError; other errors as they are. */
function conflictOf(e: unknown, streamId: string, expected: bigint | typeof NO_STREAM): unknown {
  if (!SamsaError.is(e) || e.code !== 'WRONG_EXPECTED_VERSION') return e;
  const parsed = parseConflict(e.message);
  return new WrongExpectedVersionError(streamId, expected, parsed?.actual ?? -1n);
}
