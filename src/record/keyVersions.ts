/**
 * Conditional appends by key (event sourcing's expected versions) in Kafka's record format: the
 * condition and the event id travel in record headers, so a batch stays Kafka's bytes, and a
 * partition log whose topic has `key.version.index.enable` checks them (log/keyVersionIndex.ts).
 *
 * A key's version is the number of records with that key appended (and committed) so far.
 * A record's `samsa.expected-version` header says which version its key must be at just before
 * it: a number, `no-stream` (version 0) or `stream-exists` (version > 0); a record without one
 * appends at any version. `samsa.event-id` names an event: a record whose id the key already has
 * is a retry of an append that was written, answered with the original offsets.
 */
import { InvalidArgumentError } from '../errors.ts';
import { ByteReader, readVarint, readVarlong } from './varint.ts';

/** Header of the expected version of a record's key. */
export const EXPECTED_VERSION_HEADER = 'samsa.expected-version';
/** Header of a record's event id. */
export const EVENT_ID_HEADER = 'samsa.event-id';
/** Topic config enabling the per-key version index of a topic's partitions (samsa's own key). */
export const KEY_VERSION_INDEX_CONFIG = 'key.version.index.enable';

/** What a record requires of its key's version. */
export type VersionCondition = { readonly kind: 'exact'; readonly version: bigint } | { readonly kind: 'noStream' } | { readonly kind: 'streamExists' };

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** The header value of a condition. */
export function encodeCondition(condition: VersionCondition): Uint8Array {
  if (condition.kind === 'noStream') return encoder.encode('no-stream');
  if (condition.kind === 'streamExists') return encoder.encode('stream-exists');
  if (typeof condition.version !== 'bigint' || condition.version < 0n) throw new InvalidArgumentError('expectedVersion', `expected a bigint ≥ 0, got ${String(condition.version)}`);
  return encoder.encode(condition.version.toString());
}

/** The condition of a header value; undefined when the value is none of the forms. */
export function decodeCondition(value: Uint8Array | null): VersionCondition | undefined {
  if (value === null) return undefined;
  const text = decoder.decode(value);
  if (text === 'no-stream') return { kind: 'noStream' };
  if (text === 'stream-exists') return { kind: 'streamExists' };
  return /^\d{1,19}$/.test(text) ? { kind: 'exact', version: BigInt(text) } : undefined;
}

/** How a condition reads in messages: the number, or its name. */
export function describeCondition(condition: VersionCondition): string {
  return condition.kind === 'exact' ? condition.version.toString() : condition.kind === 'noStream' ? 'no-stream' : 'stream-exists';
}

/** The message of a refused condition; {@link parseConflict} reads the versions back. */
export function conflictMessage(key: string, condition: VersionCondition, actual: bigint): string {
  return `key "${key}" is at version ${actual}, not the expected ${describeCondition(condition)} [expected=${describeCondition(condition)} actual=${actual}]`;
}

/** The expected and actual versions of a {@link conflictMessage}; undefined for another message. */
export function parseConflict(message: string): { expected: string; actual: bigint } | undefined {
  const m = /\[expected=([a-z0-9-]+) actual=(\d+)\]$/.exec(message);
  return m === null ? undefined : { expected: m[1] as string, actual: BigInt(m[2] as string) };
}

/** What the key version index reads of a record: its offset delta, key, and the two headers of its own. */
export interface KeyedRecordView {
  readonly offsetDelta: number;
  readonly key: Uint8Array | null;
  /** Only the `samsa.expected-version` and `samsa.event-id` headers (the others are skipped unread). */
  readonly headers: ReadonlyArray<{ readonly key: string; readonly value: Uint8Array | null }>;
}

const EXPECTED_BYTES = new TextEncoder().encode(EXPECTED_VERSION_HEADER);
const EVENT_ID_BYTES = new TextEncoder().encode(EVENT_ID_HEADER);
const NO_VIEW_HEADERS: KeyedRecordView['headers'] = Object.freeze([]);

function equalAt(bytes: Uint8Array, at: number, length: number, name: Uint8Array): boolean {
  if (length !== name.length) return false;
  for (let i = 0; i < length; i++) if (bytes[at + i] !== name[i]) return false;
  return true;
}

/**
 * The records of the uncompressed batch at `position` as the key version index reads them,
 * without decoding values or other headers (keys and header values are views into `bytes`).
 * Undefined for a compressed batch: the caller decodes it whole. The batch must have been checked.
 */
export function scanKeyedRecords(bytes: Uint8Array, position: number, count: number, compressed: boolean): KeyedRecordView[] | undefined {
  if (compressed) return undefined;
  const r = new ByteReader(bytes, position + 61, bytes.length);
  const out: KeyedRecordView[] = new Array(count);
  for (let n = 0; n < count; n++) {
    const length = readVarint(r);
    const end = r.pos + length;
    r.pos++; // attributes
    readVarlong(r); // timestamp delta
    const offsetDelta = readVarint(r);
    const keyLength = readVarint(r);
    const key = keyLength < 0 ? null : bytes.subarray(r.pos, r.pos + keyLength);
    if (keyLength > 0) r.pos += keyLength;
    const valueLength = readVarint(r);
    if (valueLength > 0) r.pos += valueLength;
    const headerCount = readVarint(r);
    let headers = NO_VIEW_HEADERS;
    for (let h = 0; h < headerCount; h++) {
      const nameLength = readVarint(r);
      const nameAt = r.pos;
      r.pos += nameLength;
      const valueLen = readVarint(r);
      const value = valueLen < 0 ? null : bytes.subarray(r.pos, r.pos + valueLen);
      if (valueLen > 0) r.pos += valueLen;
      const name = equalAt(bytes, nameAt, nameLength, EXPECTED_BYTES) ? EXPECTED_VERSION_HEADER : equalAt(bytes, nameAt, nameLength, EVENT_ID_BYTES) ? EVENT_ID_HEADER : undefined;
      if (name !== undefined) headers = [...headers, { key: name, value }];
    }
    r.pos = end;
    out[n] = { offsetDelta, key, headers };
  }
  return out;
}
