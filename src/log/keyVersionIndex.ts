/**
 * The per-key version index of a partition (topics with `key.version.index.enable`): for every
 * key, the offsets of its records in log order, so its version (how many records it has) is known
 * at append time and its records are found without scanning the partition. It is the state behind
 * conditional appends (record/keyVersions.ts), kept like the producer state:
 *
 * - {@link KeyVersionIndex.check} validates a client's batch before anything is written: each
 *   record's expected version against the key's version (counting earlier records of the same
 *   append), and event ids against the key's recent ones (a whole batch of known ids is a retry,
 *   answered with the original offsets; a partly known one is refused). A key with records in
 *   another producer's open transaction is reserved: appends to it wait (a retriable error) until
 *   that transaction ends.
 * - {@link KeyVersionIndex.apply} follows every appended batch, on the leader, on followers and on
 *   replay alike; a transaction's records count only once its COMMIT marker is applied
 *   ({@link KeyVersionIndex.endTransaction}), and an ABORT releases them.
 * - It is snapshotted beside the producer state and rebuilt from a snapshot plus the batches
 *   after it on open and after a truncation, so every replica holds the same index.
 * - Records below the log start are forgotten (their count stays in the version).
 */
import { InvalidRecordError, KafkaProtocolError, KeyVersionConflictError } from '../errors.ts';
import { conflictMessage, decodeCondition, EVENT_ID_HEADER, EXPECTED_VERSION_HEADER } from '../record/keyVersions.ts';
import type { RecordHeader } from '../record/recordBatch.ts';

/** How many event ids per key are remembered for retries. */
export const EVENT_ID_WINDOW = 100;

/** What the index reads of a record. */
export interface IndexedRecord {
  readonly offsetDelta: number;
  readonly key: Uint8Array | null;
  readonly headers: readonly RecordHeader[];
}

interface KeyState {
  /** Offsets of the key's committed records still in the log, ascending. */
  offsets: number[];
  /** Committed records of the key below the log start (counted in its version). */
  dropped: number;
  /** Records of the key in the open transaction of one producer. */
  pending: { producerId: bigint; offsets: number[]; ids: Array<[string, number]> } | undefined;
  /** Recent event ids → offset, oldest first (at most {@link EVENT_ID_WINDOW}). */
  ids: Map<string, number> | undefined;
}

/** Per-append scratch of {@link KeyVersionIndex.check}: versions taken by earlier records of the same append. */
export type VersionScratch = Map<string, number>;

/** A key's bytes as a map key (latin1 is one char per byte, so it round-trips). */
export function keyString(key: Uint8Array): string {
  return Buffer.from(key.buffer, key.byteOffset, key.byteLength).toString('latin1');
}

function headerText(headers: readonly RecordHeader[], name: string): Uint8Array | null | undefined {
  for (const h of headers) if (h.key === name) return h.value;
  return undefined;
}

const decoder = new TextDecoder();

/** The index; see the module comment. */
export class KeyVersionIndex {
  private readonly keys = new Map<string, KeyState>();
  /** Keys with records in each producer's open transaction. */
  private readonly open = new Map<bigint, Set<string>>();
  private recordCount = 0;
  /** The log start: committed records below it are only counted. */
  private start = 0;

  /** Number of keys. */
  get size(): number {
    return this.keys.size;
  }

  /** Offsets held (committed and pending), for memory accounting. */
  get indexedRecords(): number {
    return this.recordCount;
  }

  /** The committed version of `key` (0 when it has no record). */
  versionOf(key: Uint8Array): bigint {
    const s = this.keys.get(keyString(key));
    return s === undefined ? 0n : BigInt(s.dropped + s.offsets.length);
  }

  /**
   * Committed records of `key` below `below`: the version they bring the key to, and the offsets of
   * versions `from` (1-based, inclusive) onward, at most `maxCount`, forwards or backwards (then
   * from `from` down). Versions below the log start have no offset.
   */
  read(key: Uint8Array, options: { from: bigint; maxCount: number; backwards: boolean; below: bigint }): { version: bigint; firstVersion: bigint; offsets: bigint[] } {
    const s = this.keys.get(keyString(key));
    if (s === undefined) return { version: 0n, firstVersion: 0n, offsets: [] };
    const below = Number(options.below);
    let visible = s.offsets.length;
    while (visible > 0 && (s.offsets[visible - 1] as number) >= below) visible--;
    const version = BigInt(s.dropped + visible);
    const out: bigint[] = [];
    if (!options.backwards) {
      let v = Math.max(Number(options.from), s.dropped + 1);
      const first = v;
      for (; v <= s.dropped + visible && out.length < options.maxCount; v++) out.push(BigInt(s.offsets[v - 1 - s.dropped] as number));
      return { version, firstVersion: BigInt(first), offsets: out };
    }
    let v = Math.min(Number(options.from), s.dropped + visible);
    const first = v;
    for (; v > s.dropped && out.length < options.maxCount; v--) out.push(BigInt(s.offsets[v - 1 - s.dropped] as number));
    return { version, firstVersion: BigInt(first), offsets: out };
  }

  /**
   * Checks a client batch of `producerId` (transactional or not) against the index and the earlier
   * batches of the same append (`scratch`). Returns the original offsets when every record is a
   * retry of one already written (by event id); undefined when the batch may be appended.
   * @throws KeyVersionConflictError (WRONG_EXPECTED_VERSION) naming each failed append, CONCURRENT_TRANSACTIONS
   *   for a key reserved by another producer's open transaction; InvalidRecordError for a batch
   *   that is only partly a retry. Nothing is changed.
   */
  check(records: readonly IndexedRecord[], producerId: bigint, scratch: VersionScratch): { firstOffset: bigint; lastOffset: bigint } | undefined {
    let known = 0;
    let keyed = 0;
    let first = Infinity;
    let last = -Infinity;
    for (const r of records) {
      if (r.key === null) continue;
      keyed++;
      const id = headerText(r.headers, EVENT_ID_HEADER);
      if (id === undefined || id === null) continue;
      const s = this.keys.get(keyString(r.key));
      const text = decoder.decode(id);
      const at = s?.ids?.get(text) ?? s?.pending?.ids.find(([x]) => x === text)?.[1];
      if (at === undefined) continue;
      known++;
      first = Math.min(first, at);
      last = Math.max(last, at);
    }
    if (known > 0 && known === keyed) return { firstOffset: BigInt(first), lastOffset: BigInt(last) };
    if (known > 0) throw new InvalidRecordError(`${known} of the ${keyed} records carry event ids already written to their keys: a retried append must be sent exactly as the first attempt (the same events, in one batch)`);
    // An append is a record with an expected version and the records of its key right after it
    // without one: a failed one is reported (by its first record) and leaves the versions to the rest.
    const failures: Array<{ batchIndex: number; message: string }> = [];
    let failedKey: string | undefined;
    records.forEach((r, index) => {
      if (r.key === null) return;
      const k = keyString(r.key);
      const s = this.keys.get(k);
      if (s?.pending !== undefined && s.pending.producerId !== producerId) {
        throw new KafkaProtocolError('CONCURRENT_TRANSACTIONS', `key "${k}" has records in an open transaction of producer ${s.pending.producerId}; its version is reserved until that transaction ends (retry)`);
      }
      const value = headerText(r.headers, EXPECTED_VERSION_HEADER);
      if (value === undefined && failedKey === k) return;
      failedKey = undefined;
      const current = scratch.get(k) ?? (s === undefined ? 0 : s.dropped + s.offsets.length + (s.pending?.offsets.length ?? 0));
      if (value !== undefined) {
        const condition = decodeCondition(value);
        if (condition === undefined) throw new InvalidRecordError(`the ${EXPECTED_VERSION_HEADER} header of a record of key "${k}" is not a version, "no-stream" or "stream-exists"`);
        const holds = condition.kind === 'exact' ? BigInt(current) === condition.version : condition.kind === 'noStream' ? current === 0 : current > 0;
        if (!holds) {
          failures.push({ batchIndex: index, message: conflictMessage(k, condition, BigInt(current)) });
          failedKey = k;
          return;
        }
      }
      scratch.set(k, current + 1);
    });
    if (failures.length > 0) throw new KeyVersionConflictError(failures.map((f) => f.message).join('; '), failures);
    return undefined;
  }

  /**
   * Follows an appended batch whose first record is at `baseOffset` (leader, follower and replay
   * alike); records below `from` are skipped (a replay starting inside a batch).
   */
  apply(records: readonly IndexedRecord[], baseOffset: bigint, producerId: bigint, transactional: boolean, from = 0): void {
    const base = Number(baseOffset);
    for (const r of records) {
      if (r.key === null || base + r.offsetDelta < from) continue;
      const k = keyString(r.key);
      let s = this.keys.get(k);
      if (s === undefined) this.keys.set(k, (s = { offsets: [], dropped: 0, pending: undefined, ids: undefined }));
      const offset = base + r.offsetDelta;
      const idBytes = headerText(r.headers, EVENT_ID_HEADER);
      const id = idBytes === undefined || idBytes === null ? undefined : decoder.decode(idBytes);
      this.recordCount++;
      if (transactional && producerId >= 0n) {
        s.pending ??= { producerId, offsets: [], ids: [] };
        s.pending.offsets.push(offset);
        if (id !== undefined) s.pending.ids.push([id, offset]);
        let keys = this.open.get(producerId);
        if (keys === undefined) this.open.set(producerId, (keys = new Set()));
        keys.add(k);
        continue;
      }
      s.offsets.push(offset);
      if (id !== undefined) remember(s, id, offset);
    }
  }

  /** A transaction marker of `producerId` was applied: its records count (COMMIT) or are released (ABORT). */
  endTransaction(producerId: bigint, commit: boolean): void {
    const keys = this.open.get(producerId);
    if (keys === undefined) return;
    this.open.delete(producerId);
    for (const k of keys) {
      const s = this.keys.get(k);
      if (s?.pending === undefined || s.pending.producerId !== producerId) continue;
      const { offsets, ids } = s.pending;
      s.pending = undefined;
      if (commit) {
        for (const o of offsets) {
          if (o >= this.start) s.offsets.push(o);
          else {
            // Committed after the log start passed it: counted, no longer readable.
            s.dropped++;
            this.recordCount--;
          }
        }
        for (const [id, o] of ids) remember(s, id, o);
      } else {
        this.recordCount -= offsets.length;
        if (s.offsets.length === 0 && s.dropped === 0) this.keys.delete(k);
      }
    }
  }

  /** Forgets offsets below the new log start; versions keep counting them. */
  onLogStartOffsetIncremented(start: bigint): void {
    const bound = Number(start);
    if (bound > this.start) this.start = bound;
    for (const s of this.keys.values()) {
      let n = 0;
      while (n < s.offsets.length && (s.offsets[n] as number) < bound) n++;
      if (n === 0) continue;
      s.offsets.splice(0, n);
      s.dropped += n;
      this.recordCount -= n;
      if (s.ids !== undefined) for (const [id, o] of s.ids) if (o < bound) s.ids.delete(id);
    }
  }

  clear(): void {
    this.start = 0;
    this.keys.clear();
    this.open.clear();
    this.recordCount = 0;
  }

  /** The index as bytes (JSON: keys in base64, offsets delta-coded), for a snapshot file. */
  encode(): Uint8Array {
    return this.encodeBelow(Infinity);
  }

  /**
   * The part of the index below offset `start`, as bytes: what a rebuild cannot replay once the log
   * starts there (each key's count below it, and records below it in still open transactions).
   */
  encodeBelow(start: number): Uint8Array {
    const all = start === Infinity;
    const keys: unknown[] = [];
    for (const [k, s] of this.keys) {
      let below = 0;
      while (below < s.offsets.length && (s.offsets[below] as number) < start) below++;
      const dropped = all ? s.dropped : s.dropped + below;
      const offsets = all ? s.offsets : [];
      const pendingOffsets = s.pending?.offsets.filter((o) => o < start) ?? [];
      const pending = s.pending === undefined || pendingOffsets.length === 0 ? null : [s.pending.producerId.toString(), pendingOffsets, s.pending.ids.filter(([, o]) => o < start)];
      if (dropped === 0 && offsets.length === 0 && pending === null) continue;
      const deltas = offsets.map((o, i) => (i === 0 ? o : o - (offsets[i - 1] as number)));
      keys.push([Buffer.from(k, 'latin1').toString('base64'), dropped, deltas, pending, all && s.ids !== undefined ? [...s.ids] : null]);
    }
    return new TextEncoder().encode(JSON.stringify({ v: 1, keys }));
  }

  /** Replaces the contents with a snapshot's; false (and the index left empty) when the bytes are not one. */
  load(bytes: Uint8Array): boolean {
    this.clear();
    try {
      const parsed = JSON.parse(decoder.decode(bytes)) as { v: number; keys: Array<[string, number, number[], [string, number[], Array<[string, number]>] | null, Array<[string, number]> | null]> };
      if (parsed.v !== 1 || !Array.isArray(parsed.keys)) return false;
      for (const [b64, dropped, deltas, pending, ids] of parsed.keys) {
        const k = Buffer.from(b64, 'base64').toString('latin1');
        const offsets: number[] = [];
        for (const [i, d] of deltas.entries()) offsets.push(i === 0 ? d : (offsets[i - 1] as number) + d);
        const s: KeyState = { offsets, dropped, pending: undefined, ids: ids === null ? undefined : new Map(ids) };
        this.recordCount += offsets.length;
        if (pending !== null) {
          const producerId = BigInt(pending[0]);
          s.pending = { producerId, offsets: pending[1], ids: pending[2] };
          this.recordCount += pending[1].length;
          let set = this.open.get(producerId);
          if (set === undefined) this.open.set(producerId, (set = new Set()));
          set.add(k);
        }
        this.keys.set(k, s);
      }
      return true;
    } catch {
      this.clear();
      return false;
    }
  }
}

function remember(s: KeyState, id: string, offset: number): void {
  s.ids ??= new Map();
  s.ids.delete(id);
  s.ids.set(id, offset);
  if (s.ids.size > EVENT_ID_WINDOW) s.ids.delete(s.ids.keys().next().value as string);
}
