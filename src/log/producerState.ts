/**
 * Idempotent-producer state of one partition log (Kafka's `ProducerStateManager`): for every
 * producer id that wrote to the log, its epoch and the metadata of its last
 * {@link NUM_BATCHES_TO_RETAIN} batches (sequence range and offsets), plus the first offset of its
 * open transaction, if any.
 *
 * Guarantees, as Kafka's:
 * - A client batch whose (epoch, first sequence, last sequence) equals one of the retained batches
 *   is a retry: {@link ProducerStateManager.check} returns the original offsets and nothing is
 *   appended.
 * - A batch of an older epoch fails with INVALID_PRODUCER_EPOCH; a sequence that does not follow
 *   the producer's last one (wrapping at 2^31-1 to 0), or a new epoch not starting at 0, fails
 *   with OUT_OF_ORDER_SEQUENCE_NUMBER. A producer the log holds no state for may start anywhere.
 * - Transactions (Kafka's `ProducerAppendInfo` / `ProducerStateManager`): a transactional data
 *   batch of a producer with no open transaction opens one at its first offset; its marker closes
 *   it. {@link ProducerStateManager.ongoingTransactions} and
 *   {@link ProducerStateManager.firstUnstableOffset} always reflect exactly the open transactions.
 *   A client's non-transactional batch while its producer has a transaction open fails with
 *   INVALID_TXN_STATE. A marker older than the producer's epoch fails with INVALID_PRODUCER_EPOCH,
 *   one from an older coordinator epoch with TRANSACTION_COORDINATOR_FENCED; a newer epoch (the
 *   bump of transaction version 2) is taken over, after which the old epoch is fenced and the new
 *   one starts at sequence 0.
 * - The state is a pure function of the log: replaying the batches of a log (headers, plus the
 *   marker of each control batch) rebuilds it. {@link encodeProducerSnapshot} writes it with a
 *   CRC-32C, so a restart replays only the batches after the newest valid snapshot, and a damaged
 *   snapshot is detected and ignored.
 */
import { KafkaProtocolError } from '../errors.ts';
import { crc32c } from '../record/crc32c.ts';
import { isControlBatch, isTransactional } from '../record/recordBatch.ts';
import type { RecordBatchHeader } from '../record/recordBatch.ts';
import type { TransactionResult } from '../record/controlRecords.ts';
import { incrementSequence, lastSequenceOf } from '../record/sequence.ts';

/** Batches kept per producer for duplicate detection (Kafka's `NUM_BATCHES_TO_RETAIN`). */
export const NUM_BATCHES_TO_RETAIN = 5;
/** `producer.id.expiration.ms` default: a producer idle this long is forgotten (1 day). */
export const PRODUCER_ID_EXPIRATION_MS = 86_400_000;
/** `producer.id.expiration.check.interval.ms` default (10 min). */
export const PRODUCER_ID_EXPIRATION_CHECK_INTERVAL_MS = 600_000;

const INT32_MAX = 0x7fffffff;

/** One retained batch of a producer. */
export interface ProducerBatchMetadata {
  readonly firstSeq: number;
  readonly lastSeq: number;
  readonly firstOffset: bigint;
  readonly lastOffset: bigint;
  /** The batch's max timestamp. */
  readonly timestamp: number;
}

/** What the log knows of one producer id. */
export interface ProducerStateEntry {
  readonly producerId: bigint;
  readonly producerEpoch: number;
  /** Oldest first, at most {@link NUM_BATCHES_TO_RETAIN}. */
  readonly batches: readonly ProducerBatchMetadata[];
  /** Max timestamp of its last batch; expiry counts from here, as Kafka's. */
  readonly lastTimestamp: number;
  /** Epoch of the transaction coordinator that wrote its last marker, -1 before any. */
  readonly coordinatorEpoch: number;
  /** First offset of its open transaction, -1n when none is open. */
  readonly currentTxnFirstOffset: bigint;
}

function inSequence(lastSeq: number, nextSeq: number): boolean {
  return nextSeq === lastSeq + 1 || (nextSeq === 0 && lastSeq === INT32_MAX);
}

/**
 * The epoch and last sequence a batch is checked against while one append is being validated,
 * and whether the producer's transaction is open at that point.
 */
export interface Tip {
  readonly epoch: number;
  readonly lastSeq: number;
  readonly inTxn: boolean;
}

/** The marker fields that change producer state (read from a control batch's record). */
export interface MarkerFields {
  readonly result: TransactionResult;
  readonly coordinatorEpoch: number;
}

/** A transaction a marker just closed (Kafka's `CompletedTxn`), with the LSO for its `.txnindex` entry. */
export interface CompletedTxn {
  readonly producerId: bigint;
  /** Offset of the transaction's first batch. */
  readonly firstOffset: bigint;
  /** Offset of the marker. */
  readonly lastOffset: bigint;
  readonly aborted: boolean;
  /**
   * Kafka's `ProducerStateManager.lastStableOffset(completedTxn)`: the first offset of the
   * earliest other transaction still open, or the marker's offset + 1 when none is.
   */
  readonly lastStableOffset: bigint;
}

/** See the module comment. */
export class ProducerStateManager {
  private readonly producers = new Map<bigint, ProducerStateEntry>();
  /** Open transactions: producer id → first offset (mirrors each entry's currentTxnFirstOffset). */
  private readonly ongoing = new Map<bigint, bigint>();
  /** Cached smallest value of {@link ongoing}; null when it must be recomputed. */
  private firstUnstable: bigint | undefined | null = undefined;

  /** Open transactions: producer id → offset of the transaction's first batch. */
  get ongoingTransactions(): ReadonlyMap<bigint, bigint> {
    return this.ongoing;
  }

  /** The smallest first offset of any open transaction, undefined when none is open. */
  get firstUnstableOffset(): bigint | undefined {
    if (this.firstUnstable === null) {
      let min: bigint | undefined;
      for (const first of this.ongoing.values()) if (min === undefined || first < min) min = first;
      this.firstUnstable = min;
    }
    return this.firstUnstable;
  }

  private setOngoing(pid: bigint, firstOffset: bigint): void {
    if (firstOffset < 0n) {
      if (this.ongoing.delete(pid)) this.firstUnstable = null;
      return;
    }
    if (this.ongoing.get(pid) === firstOffset) return;
    this.ongoing.set(pid, firstOffset);
    this.firstUnstable = null;
  }

  /** Every producer the log holds state for. */
  get entries(): ReadonlyMap<bigint, ProducerStateEntry> {
    return this.producers;
  }

  /** The state of one producer, undefined when the log holds none. */
  entry(producerId: bigint): ProducerStateEntry | undefined {
    return this.producers.get(producerId);
  }

  /**
   * Validates a client batch of an idempotent producer. Returns the original batch when this is a
   * retry of a retained one, undefined when it may be appended. `pending` carries the tips of
   * batches validated earlier in the same append (Kafka checks a request's batches in order).
   * @throws KafkaProtocolError INVALID_PRODUCER_EPOCH, OUT_OF_ORDER_SEQUENCE_NUMBER, or
   *   INVALID_TXN_STATE for a non-transactional batch while the producer has a transaction open.
   */
  check(header: RecordBatchHeader, pending: Map<bigint, Tip>, where: string): ProducerBatchMetadata | undefined {
    const pid = header.producerId;
    const entry = this.producers.get(pid);
    const epoch = header.producerEpoch;
    const firstSeq = header.baseSequence;
    const lastSeq = lastSequenceOf(header);
    const tip = pending.get(pid);
    if (tip === undefined && entry !== undefined && entry.producerEpoch === epoch) {
      const duplicate = entry.batches.find((b) => b.firstSeq === firstSeq && b.lastSeq === lastSeq);
      if (duplicate !== undefined) return duplicate;
    }
    const knownEpoch = tip?.epoch ?? entry?.producerEpoch;
    if (knownEpoch !== undefined && epoch < knownEpoch) {
      throw new KafkaProtocolError('INVALID_PRODUCER_EPOCH', `producer ${pid} wrote to ${where} with epoch ${epoch}, older than its current epoch ${knownEpoch}; a newer instance of this producer has taken over`);
    }
    if (knownEpoch !== undefined) {
      if (epoch !== knownEpoch) {
        if (firstSeq !== 0) throw new KafkaProtocolError('OUT_OF_ORDER_SEQUENCE_NUMBER', `producer ${pid} started epoch ${epoch} on ${where} at sequence ${firstSeq}; a new epoch must start at sequence 0`);
      } else {
        const last = tip?.lastSeq ?? entry?.batches[entry.batches.length - 1]?.lastSeq;
        if (last !== undefined && !inSequence(last, firstSeq)) {
          throw new KafkaProtocolError('OUT_OF_ORDER_SEQUENCE_NUMBER', `producer ${pid} (epoch ${epoch}) sent sequence ${firstSeq} to ${where}, but the next expected is ${incrementSequence(last, 1)}; an earlier batch is missing`);
        }
        // The epoch is known but none of its batches are (a marker brought it, as transaction
        // version 2 bumps the epoch at every marker): as Kafka, the epoch's first batch is sequence 0.
        if (last === undefined && knownEpoch >= 0 && firstSeq !== 0) {
          throw new KafkaProtocolError('OUT_OF_ORDER_SEQUENCE_NUMBER', `producer ${pid} sent sequence ${firstSeq} to ${where} as its first batch of epoch ${epoch}; the first batch of an epoch must start at sequence 0`);
        }
      }
    }
    const inTxn = tip?.inTxn ?? (entry !== undefined && entry.currentTxnFirstOffset >= 0n);
    const transactional = isTransactional(header);
    if (inTxn && !transactional) {
      const since = tip === undefined ? `at offset ${entry?.currentTxnFirstOffset}` : 'earlier in this request';
      throw new KafkaProtocolError('INVALID_TXN_STATE', `producer ${pid} wrote a non-transactional batch to ${where} while its transaction (started ${since}) is open; send it inside the transaction, or commit or abort the transaction first`);
    }
    pending.set(pid, { epoch, lastSeq, inTxn: inTxn || transactional });
    return undefined;
  }

  /**
   * Whether a transaction version 2 marker is a retry of the marker that ended the producer's last
   * transaction here: it carries the producer's current epoch (which only that marker can have set
   * while no transaction of the producer is open here) and comes from a coordinator no older than
   * that marker's. The coordinator retries a marker until it is acknowledged, and its first attempt
   * may already be in the log, written but not replicated in time.
   */
  isMarkerRetry(producerId: bigint, producerEpoch: number, coordinatorEpoch: number): boolean {
    const entry = this.producers.get(producerId);
    return entry !== undefined && entry.producerEpoch === producerEpoch && entry.currentTxnFirstOffset < 0n && coordinatorEpoch >= entry.coordinatorEpoch;
  }

  /**
   * Validates a transaction marker the coordinator wants to write, as Kafka's
   * `ProducerAppendInfo.appendEndTxnMarker` does for a leader. A newer epoch is accepted (with
   * transaction version 2 the coordinator writes the marker with the epoch already bumped).
   * `pending` is the same per-append state {@link check} uses; the marker's epoch is recorded in it.
   * @throws KafkaProtocolError INVALID_PRODUCER_EPOCH when the marker's epoch is older than the
   *   producer's; TRANSACTION_COORDINATOR_FENCED when its coordinator epoch is older than the one of
   *   the producer's last marker.
   */
  checkMarker(producerId: bigint, producerEpoch: number, marker: MarkerFields, pending: Map<bigint, Tip>, where: string, transactionVersion = 0): void {
    const entry = this.producers.get(producerId);
    const tip = pending.get(producerId);
    const knownEpoch = tip?.epoch ?? entry?.producerEpoch;
    if (knownEpoch !== undefined && producerEpoch < knownEpoch) {
      throw new KafkaProtocolError('INVALID_PRODUCER_EPOCH', `${marker.result} marker for producer ${producerId} on ${where} carries epoch ${producerEpoch}, older than the producer's current epoch ${knownEpoch}; the producer was fenced, so this marker belongs to a finished transaction`);
    }
    // Transaction version 2 writes a transaction's markers with the epoch bumped past its data,
    // and the next transaction runs at that bumped epoch: a marker not newer than the current
    // epoch is a late or duplicated one of a finished transaction (KIP-890).
    if (transactionVersion >= 2 && knownEpoch !== undefined && producerEpoch <= knownEpoch) {
      throw new KafkaProtocolError('INVALID_PRODUCER_EPOCH', `${marker.result} marker for producer ${producerId} on ${where} carries epoch ${producerEpoch}, not newer than the producer's current epoch ${knownEpoch}; it belongs to a transaction already ended here`);
    }
    const coordinatorEpoch = entry?.coordinatorEpoch ?? -1;
    if (marker.coordinatorEpoch < coordinatorEpoch) {
      throw new KafkaProtocolError('TRANSACTION_COORDINATOR_FENCED', `${marker.result} marker for producer ${producerId} on ${where} comes from coordinator epoch ${marker.coordinatorEpoch}, older than ${coordinatorEpoch} of its last marker; a newer transaction coordinator has taken over`);
    }
    pending.set(producerId, { epoch: producerEpoch, lastSeq: producerEpoch === entry?.producerEpoch ? (tip?.lastSeq ?? entry.batches[entry.batches.length - 1]?.lastSeq ?? -1) : -1, inTxn: false });
  }

  /**
   * Checks a data batch a coordinator writes for a producer (a TxnOffsetCommit's offsets): an
   * epoch older than the producer's current one means a fenced or finished transaction.
   * @throws KafkaProtocolError INVALID_PRODUCER_EPOCH.
   */
  checkEpoch(header: RecordBatchHeader, pending: Map<bigint, Tip>, where: string): void {
    const pid = header.producerId;
    const tip = pending.get(pid);
    const entry = this.producers.get(pid);
    const knownEpoch = tip?.epoch ?? entry?.producerEpoch;
    if (knownEpoch !== undefined && header.producerEpoch < knownEpoch) {
      throw new KafkaProtocolError('INVALID_PRODUCER_EPOCH', `a coordinator write for producer ${pid} on ${where} carries epoch ${header.producerEpoch}, older than its current epoch ${knownEpoch}; it belongs to a fenced or finished transaction`);
    }
  }

  /**
   * Records a batch that is now in the log (appended as leader or follower, or replayed on load).
   * A control batch must come with its `marker` (a control batch without one, emptied by
   * compaction or of another control type, changes nothing and must not be passed). Returns the
   * transaction a marker closed, undefined when it closed none (a marker for a producer with no
   * open transaction here, or a data batch).
   */
  update(header: RecordBatchHeader, firstOffset: bigint, lastOffset: bigint, marker?: MarkerFields): CompletedTxn | undefined {
    const pid = header.producerId;
    if (pid < 0n) return undefined;
    const prior = this.producers.get(pid);
    const epoch = header.producerEpoch;
    if (isControlBatch(header)) {
      if (marker === undefined) return undefined;
      // A transaction marker: the producer's open transaction, if any, is over. Kafka takes the
      // marker's epoch (clearing the batches when it changed) and coordinator epoch as they are.
      const openedAt = prior?.currentTxnFirstOffset ?? -1n;
      this.producers.set(pid, {
        producerId: pid,
        producerEpoch: epoch,
        batches: prior !== undefined && prior.producerEpoch === epoch ? prior.batches : [],
        lastTimestamp: header.maxTimestamp,
        coordinatorEpoch: marker.coordinatorEpoch,
        currentTxnFirstOffset: -1n,
      });
      if (openedAt < 0n) return undefined;
      const lastStableOffset = this.lastStableOffsetAfter(pid, firstOffset);
      this.setOngoing(pid, -1n);
      return { producerId: pid, firstOffset: openedAt, lastOffset: firstOffset, aborted: marker.result === 'ABORT', lastStableOffset };
    }
    const batch: ProducerBatchMetadata = { firstSeq: header.baseSequence, lastSeq: lastSequenceOf(header), firstOffset, lastOffset, timestamp: header.maxTimestamp };
    const kept = prior !== undefined && prior.producerEpoch === epoch ? prior.batches : [];
    const batches = kept.length >= NUM_BATCHES_TO_RETAIN ? [...kept.slice(kept.length - NUM_BATCHES_TO_RETAIN + 1), batch] : [...kept, batch];
    const openTxn = prior?.currentTxnFirstOffset ?? -1n;
    const txnFirstOffset = isTransactional(header) && openTxn < 0n ? firstOffset : openTxn;
    this.producers.set(pid, {
      producerId: pid,
      producerEpoch: epoch,
      batches,
      lastTimestamp: header.maxTimestamp,
      coordinatorEpoch: prior?.coordinatorEpoch ?? -1,
      currentTxnFirstOffset: txnFirstOffset,
    });
    if (txnFirstOffset !== openTxn) this.setOngoing(pid, txnFirstOffset);
    return undefined;
  }

  /**
   * Kafka's `lastStableOffset(completedTxn)` for a marker of `producerId` at `markerOffset`: the
   * first offset of the earliest transaction of another producer still open, else markerOffset + 1.
   */
  private lastStableOffsetAfter(producerId: bigint, markerOffset: bigint): bigint {
    let min: bigint | undefined;
    for (const [pid, first] of this.ongoing) if (pid !== producerId && (min === undefined || first < min)) min = first;
    return min ?? markerOffset + 1n;
  }

  /** Forgets producers whose last batch lies below the new log start (Kafka evicts them too). */
  onLogStartOffsetIncremented(logStartOffset: bigint): void {
    for (const [pid, e] of this.producers) {
      const last = e.batches[e.batches.length - 1];
      if (e.currentTxnFirstOffset < 0n && (last === undefined || last.lastOffset < logStartOffset)) this.producers.delete(pid);
    }
  }

  /**
   * Forgets producers idle for `expirationMs` (`producer.id.expiration.ms`) by their last batch's
   * timestamp; one with an open transaction is kept. Returns how many were removed.
   */
  removeExpired(now: number, expirationMs: number = PRODUCER_ID_EXPIRATION_MS): number {
    let removed = 0;
    for (const [pid, e] of this.producers) {
      if (e.currentTxnFirstOffset < 0n && now - e.lastTimestamp >= expirationMs) {
        this.producers.delete(pid);
        removed++;
      }
    }
    return removed;
  }

  /** Forgets everything (before a rebuild). */
  clear(): void {
    this.producers.clear();
    this.ongoing.clear();
    this.firstUnstable = undefined;
  }

  /** Replaces the state with a decoded snapshot (open transactions included). */
  load(entries: readonly ProducerStateEntry[]): void {
    this.clear();
    for (const e of entries) {
      this.producers.set(e.producerId, e);
      if (e.currentTxnFirstOffset >= 0n) this.setOngoing(e.producerId, e.currentTxnFirstOffset);
    }
  }
}

const SNAPSHOT_VERSION = 1;
const HEADER_BYTES = 2 + 4 + 4;
const ENTRY_FIXED_BYTES = 8 + 2 + 4 + 8 + 8 + 1;
const BATCH_BYTES = 4 + 4 + 8 + 4 + 8;

/**
 * Encodes producer state as a snapshot file: version int16, CRC-32C uint32 of everything after
 * it, entry count int32, then per producer: id int64, epoch int16, coordinator epoch int32, open
 * transaction first offset int64, last timestamp int64, batch count int8 and per batch first
 * sequence int32, last sequence int32, first offset int64, offset delta int32, timestamp int64.
 * (Kafka's snapshot keeps only the last batch; samsa keeps all five, so a retry is recognised
 * across a restart too.)
 */
export function encodeProducerSnapshot(entries: Iterable<ProducerStateEntry>): Uint8Array {
  const list = [...entries];
  const size = HEADER_BYTES + list.reduce((n, e) => n + ENTRY_FIXED_BYTES + e.batches.length * BATCH_BYTES, 0);
  const bytes = new Uint8Array(size);
  const view = new DataView(bytes.buffer);
  view.setInt16(0, SNAPSHOT_VERSION);
  view.setInt32(6, list.length);
  let p = HEADER_BYTES;
  for (const e of list) {
    view.setBigInt64(p, e.producerId);
    view.setInt16(p + 8, e.producerEpoch);
    view.setInt32(p + 10, e.coordinatorEpoch);
    view.setBigInt64(p + 14, e.currentTxnFirstOffset);
    view.setBigInt64(p + 22, BigInt(e.lastTimestamp));
    view.setInt8(p + 30, e.batches.length);
    p += ENTRY_FIXED_BYTES;
    for (const b of e.batches) {
      view.setInt32(p, b.firstSeq);
      view.setInt32(p + 4, b.lastSeq);
      view.setBigInt64(p + 8, b.firstOffset);
      view.setInt32(p + 16, Number(b.lastOffset - b.firstOffset));
      view.setBigInt64(p + 20, BigInt(b.timestamp));
      p += BATCH_BYTES;
    }
  }
  view.setUint32(2, crc32c(bytes, 6));
  return bytes;
}

/** Decodes a snapshot; undefined when it is truncated, of another version or fails its CRC. */
export function decodeProducerSnapshot(bytes: Uint8Array): ProducerStateEntry[] | undefined {
  if (bytes.length < HEADER_BYTES) return undefined;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (view.getInt16(0) !== SNAPSHOT_VERSION || view.getUint32(2) !== crc32c(bytes, 6)) return undefined;
  const count = view.getInt32(6);
  const out: ProducerStateEntry[] = [];
  let p = HEADER_BYTES;
  for (let i = 0; i < count; i++) {
    if (p + ENTRY_FIXED_BYTES > bytes.length) return undefined;
    const batchCount = view.getInt8(p + 30);
    const entry = {
      producerId: view.getBigInt64(p),
      producerEpoch: view.getInt16(p + 8),
      coordinatorEpoch: view.getInt32(p + 10),
      currentTxnFirstOffset: view.getBigInt64(p + 14),
      lastTimestamp: Number(view.getBigInt64(p + 22)),
      batches: [] as ProducerBatchMetadata[],
    };
    p += ENTRY_FIXED_BYTES;
    if (batchCount < 0 || batchCount > NUM_BATCHES_TO_RETAIN || p + batchCount * BATCH_BYTES > bytes.length) return undefined;
    for (let b = 0; b < batchCount; b++) {
      const firstOffset = view.getBigInt64(p + 8);
      entry.batches.push({ firstSeq: view.getInt32(p), lastSeq: view.getInt32(p + 4), firstOffset, lastOffset: firstOffset + BigInt(view.getInt32(p + 16)), timestamp: Number(view.getBigInt64(p + 20)) });
      p += BATCH_BYTES;
    }
    out.push(entry);
  }
  return p === bytes.length ? out : undefined;
}
