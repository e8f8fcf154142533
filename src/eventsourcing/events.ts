/**
 * Events as the event store writes and reads them: the envelope (type, data, metadata, schema
 * version, event id) in Kafka's record format — the stream id is the record key, the data the
 * value (JSON by default, or the store's serde), the rest record headers — and the upcasters that
 * bring an old event shape up to the current one on every read.
 */
import { InvalidArgumentError, SerdeError } from '../errors.ts';
import type { RecordHeader } from '../clients/api.ts';

/** Any version will do: no concurrency check. */
export const ANY = 'any' as const;
/** The stream must not exist yet (version 0). */
export const NO_STREAM = 'no_stream' as const;
/** The stream must have at least one event. */
export const STREAM_EXISTS = 'stream_exists' as const;

/** What an append expects of its stream: an exact version (its number of events), or one of the markers. */
export type ExpectedVersion = bigint | typeof ANY | typeof NO_STREAM | typeof STREAM_EXISTS;

/** Correlation and causation of an event, plus anything of the application's. */
export interface EventMetadata {
  readonly correlationId?: string;
  readonly causationId?: string;
  readonly [key: string]: unknown;
}

/** An event to append. */
export interface NewEvent<Type extends string = string, Data = unknown> {
  readonly type: Type;
  readonly data: Data;
  readonly metadata?: EventMetadata;
  /** Idempotence: an append retried with the same ids is answered with its first result, not written twice. */
  readonly eventId?: string;
  /** The shape version of `data` (default 1); older shapes are upcast on read. */
  readonly schemaVersion?: number;
}

/** Where an event is in the log: its topic, partition and offset (a commit position, not a total order across partitions). */
export interface EventPosition {
  readonly topic: string;
  readonly partition: number;
  readonly offset: bigint;
}

/** An event as read back. */
export interface RecordedEvent<Type extends string = string, Data = unknown> {
  readonly type: Type;
  readonly data: Data;
  readonly metadata: EventMetadata;
  readonly eventId?: string;
  /** The shape version after upcasting (the current one for its type). */
  readonly schemaVersion: number;
  readonly streamId: string;
  /** Its 1-based number in its stream: the stream's version once it was appended. */
  readonly streamVersion: bigint;
  readonly position: EventPosition;
  /** When it was appended (ms since the epoch). */
  readonly timestamp: number;
  /** Its subject's data was crypto-shredded: `data` is null, type and metadata remain. */
  readonly shredded?: boolean;
}

/** Turns event data into bytes and back (default: JSON). */
export interface EventSerde {
  serialize(data: unknown, type: string): Uint8Array;
  deserialize(bytes: Uint8Array, type: string): unknown;
}

/**
 * Upcasters per event type: `upcasters[type][v]` turns data of schema version v into version v+1;
 * a read applies the chain from the event's version to the last one. {@link upcastChain} builds a
 * type's chain with each step typed by the shape before it.
 */
export type Upcasters = Readonly<Record<string, Readonly<Record<number, (data: unknown) => unknown>>>>;

/** One event type's upcasters, typed step by step: `Current` is the shape the chain has reached. */
export interface UpcastChain<Current> {
  readonly [version: number]: (data: unknown) => unknown;
  /** Adds the step from this shape to the next version's. */
  to<Next>(upcast: (data: Current) => Next): UpcastChain<Next>;
}

/**
 * Starts a typed upcaster chain at schema version `from` (default 1), whose data has shape `First`:
 * `upcastChain<{ cents: number }>().to((d) => ({ amount: d.cents / 100 }))` turns version 1 into
 * version 2. The chain is what `upcasters[type]` takes.
 */
export function upcastChain<First>(from = 1): UpcastChain<First> {
  if (!Number.isInteger(from) || from < 1) throw new InvalidArgumentError('from', `expected a schema version ≥ 1, got ${String(from)}`);
  const make = (steps: Readonly<Record<number, (data: unknown) => unknown>>, next: number): UpcastChain<never> => {
    const chain = { ...steps } as Record<number, (data: unknown) => unknown>;
    Object.defineProperty(chain, 'to', { enumerable: false, value: (upcast: (data: unknown) => unknown) => make({ ...steps, [next]: upcast }, next + 1) });
    return chain as UpcastChain<never>;
  };
  return make({}, from) as UpcastChain<First>;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** JSON, with bigints written as strings (JSON has none). */
export const jsonEventSerde: EventSerde = {
  serialize: (data) => encoder.encode(JSON.stringify(data, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v)) ?? 'null'),
  deserialize: (bytes) => JSON.parse(decoder.decode(bytes)) as unknown,
};

/** Serializes an event's data, as a SerdeError naming the event and the topic when the serde throws. */
export function serializeEvent(serde: EventSerde, event: NewEvent, topic: string): Uint8Array {
  try {
    return serde.serialize(event.data, event.type);
  } catch (e) {
    throw new SerdeError('serialize', 'value', topic, `event "${event.type}": ${e instanceof Error ? e.message : String(e)}`, undefined, undefined, { cause: e });
  }
}

/** Header of each record's stream version (its 1-based number in its stream). */
export const STREAM_VERSION_HEADER = 'samsa.stream-version';

/** The stream version a record carries; undefined when it has none. */
export function streamVersionOf(headers: ReadonlyArray<{ readonly key: string; readonly value: Uint8Array | null }>): bigint | undefined {
  const text = headerText(headers, STREAM_VERSION_HEADER);
  return text !== undefined && /^\d+$/.test(text) ? BigInt(text) : undefined;
}

/** Record headers of the envelope. */
export const HEADERS = { type: 'samsa.event-type', schemaVersion: 'samsa.schema-version', metadata: 'samsa.metadata' } as const;

/** Checks an event to append; throws InvalidArgumentError naming what is wrong. */
export function checkNewEvent(event: NewEvent, index: number): void {
  if (typeof event !== 'object' || event === null) throw new InvalidArgumentError('events', `event ${index} is not an object { type, data }`);
  if (typeof event.type !== 'string' || event.type.length === 0) throw new InvalidArgumentError('events', `event ${index} needs a non-empty string type`);
  if (event.eventId !== undefined && (typeof event.eventId !== 'string' || event.eventId.length === 0)) throw new InvalidArgumentError('events', `event ${index} has an eventId that is not a non-empty string`);
  if (event.schemaVersion !== undefined && (!Number.isInteger(event.schemaVersion) || event.schemaVersion < 1)) throw new InvalidArgumentError('events', `event ${index} has schemaVersion ${String(event.schemaVersion)}; expected an integer ≥ 1`);
  if (event.metadata !== undefined && (typeof event.metadata !== 'object' || event.metadata === null)) throw new InvalidArgumentError('events', `event ${index} has metadata that is not an object`);
}

/** The record headers of an event's envelope (besides the store's expected-version and event-id headers). */
export function envelopeHeaders(event: NewEvent): RecordHeader[] {
  const headers: RecordHeader[] = [{ key: HEADERS.type, value: encoder.encode(event.type) }];
  if (event.schemaVersion !== undefined && event.schemaVersion !== 1) headers.push({ key: HEADERS.schemaVersion, value: encoder.encode(String(event.schemaVersion)) });
  if (event.metadata !== undefined && Object.keys(event.metadata).length > 0) headers.push({ key: HEADERS.metadata, value: encoder.encode(JSON.stringify(event.metadata)) });
  return headers;
}

const EVENT_ID = 'samsa.event-id';

/** A header's text, or undefined when absent. */
export function headerText(headers: ReadonlyArray<{ readonly key: string; readonly value: Uint8Array | null }>, key: string): string | undefined {
  for (const h of headers) if (h.key === key) return h.value === null ? undefined : decoder.decode(h.value);
  return undefined;
}

/** Reads an event back from its record, upcasting its data to the current shape. */
export function readEvent(
  record: { readonly value: Uint8Array | null; readonly headers: ReadonlyArray<{ readonly key: string; readonly value: Uint8Array | null }>; readonly timestamp: number; readonly shredded?: boolean },
  where: { readonly streamId: string; readonly streamVersion: bigint; readonly position: EventPosition },
  serde: EventSerde,
  upcasters: Upcasters,
): RecordedEvent {
  // One pass over the headers (the first of a key counts): this runs for every event every reader sees.
  let typeText: string | undefined;
  let metadataText: string | undefined;
  let eventId: string | undefined;
  let storedText: string | undefined;
  for (const h of record.headers) {
    if (h.key === HEADERS.type) typeText ??= h.value === null ? '' : decoder.decode(h.value);
    else if (h.key === HEADERS.metadata) metadataText ??= h.value === null ? '' : decoder.decode(h.value);
    else if (h.key === EVENT_ID) eventId ??= h.value === null ? '' : decoder.decode(h.value);
    else if (h.key === HEADERS.schemaVersion) storedText ??= h.value === null ? '' : decoder.decode(h.value);
  }
  // A header with a null value reads as absent, as headerText has it.
  const type = typeText === undefined || typeText === '' ? 'unknown' : typeText;
  if (metadataText === '') metadataText = undefined;
  if (eventId === '') eventId = undefined;
  const stored = Number(storedText === undefined || storedText === '' ? '1' : storedText);
  let data: unknown = null;
  try {
    if (record.value !== null) data = serde.deserialize(record.value, type);
  } catch (e) {
    throw new SerdeError('deserialize', 'value', where.position.topic, `event "${type}" of stream "${where.streamId}": ${e instanceof Error ? e.message : String(e)}`, where.position.partition, where.position.offset, { cause: e });
  }
  let schemaVersion = Number.isInteger(stored) && stored >= 1 ? stored : 1;
  const chain = record.shredded === true ? undefined : upcasters[type];
  while (chain?.[schemaVersion] !== undefined) {
    data = (chain[schemaVersion] as (d: unknown) => unknown)(data);
    schemaVersion++;
  }
  return {
    type,
    data,
    metadata: metadataText === undefined ? {} : (JSON.parse(metadataText) as EventMetadata),
    ...(eventId === undefined ? {} : { eventId }),
    schemaVersion,
    streamId: where.streamId,
    streamVersion: where.streamVersion,
    position: where.position,
    timestamp: record.timestamp,
    ...(record.shredded === true ? { shredded: true } : {}),
  };
}
