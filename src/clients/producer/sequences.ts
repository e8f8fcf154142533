/**
 * Idempotence bookkeeping per partition (Kafka's `TxnPartitionMap` / `TransactionManager`
 * sequence rules, KIP-98 and KIP-360): which producer session (producer id and epoch) a
 * partition's sequences belong to, the next sequence, the last acknowledged one, the batches sent
 * and not yet settled, and whether a sent batch failed without a known outcome.
 *
 * The rules this module keeps:
 * - A batch keeps the producer id, epoch and sequence it was first sent with on every retry: the
 *   first attempt may have been written, and only that identity lets the broker recognise the
 *   retry as a duplicate.
 * - A partition moves to a newer session (sequences from 0) only when none of its batches is in
 *   flight or waiting for a retry (Kafka's `hasStaleProducerIdAndEpoch` check before a drain).
 * - A sent batch that fails (its delivery timed out, or its retries ran out) leaves the partition
 *   unresolved: no new batch takes a sequence there until every batch sent before has settled
 *   (Kafka's `partitionsWithUnresolvedSequences`). Then, if a later batch was acknowledged, the
 *   failed one was written too and nothing changes; otherwise there is a gap and the partition
 *   needs a new epoch (Kafka's `maybeResolveSequences`).
 */

/** What the bookkeeping reads and writes on a batch. */
export interface SequencedBatch {
  /** `topic`, `partition` as one key. */
  readonly key: string;
  /** Position of the batch's first record in its partition's sequence, -1 until first sent. */
  sequenceIndex: number;
  /** The producer session its sequence belongs to, -1 until first sent. */
  session: number;
  /** Acknowledged or failed: no longer in flight. */
  settled: boolean;
}

/** The sequence state of one partition. */
interface PartitionEntry<B extends SequencedBatch> {
  /** The session the sequences below belong to. */
  session: number;
  /** Sequence index the next batch gets; its wire sequence wraps at 2^31-1. */
  next: number;
  /** Highest sequence index the partition acknowledged, -1 before any. */
  acked: number;
  /** Batches sent in this session, from the oldest not settled, in sequence order. */
  readonly window: B[];
  /** A sent batch failed with an unknown outcome: no new batch until the window drains. */
  unresolved: boolean;
}

/** What {@link PartitionSequences.resolve} found once an unresolved partition drained. */
export type Resolution = 'pending' | 'resolved' | 'gap';

/**
 * Per-partition sequence bookkeeping of an idempotent producer. Guarantees that a batch's
 * identity (session and sequence) never changes while its outcome is unknown, except through
 * {@link restart}, which the caller may only use when the broker has rejected the partition's
 * next expected batch (so none of the unsettled ones can have been written).
 */
export class PartitionSequences<B extends SequencedBatch> {
  private readonly entries = new Map<string, PartitionEntry<B>>();

  /** `countOf` gives a batch's record count (each record takes one sequence). */
  constructor(private readonly countOf: (batch: B) => number) {}

  /** Forgets every partition (a transactional producer's new epoch: nothing is in flight then). */
  clear(): void {
    this.entries.clear();
  }

  private entry(key: string): PartitionEntry<B> {
    let e = this.entries.get(key);
    if (e === undefined) this.entries.set(key, (e = { session: -1, next: 0, acked: -1, window: [], unresolved: false }));
    return e;
  }

  /** Batches of the partition sent and not settled, or settled behind an older unsettled one. */
  windowSize(key: string): number {
    return this.entries.get(key)?.window.length ?? 0;
  }

  /**
   * Whether a new batch of the partition may take a sequence in `session`: not while an earlier
   * batch's outcome is unknown, and not in a newer session while batches of the older one are in flight.
   */
  mayAssign(key: string, session: number): boolean {
    const e = this.entries.get(key);
    if (e === undefined) return true;
    return !e.unresolved && (e.session === session || e.window.length === 0);
  }

  /** Gives a batch its sequence in `session` (starting the partition over at 0 in a newer session). */
  assign(batch: B, session: number): void {
    const e = this.entry(batch.key);
    if (e.session !== session) {
      e.session = session;
      e.next = 0;
      e.acked = -1;
    }
    batch.sequenceIndex = e.next;
    batch.session = session;
    batch.settled = false;
    e.next += this.countOf(batch);
    e.window.push(batch);
  }

  /** Whether the partition has a sent batch of unknown outcome not resolved yet. */
  isUnresolved(key: string): boolean {
    return this.entries.get(key)?.unresolved === true;
  }

  /** The session the partition's sequences belong to (-1 before any). */
  sessionOf(key: string): number {
    return this.entries.get(key)?.session ?? -1;
  }

  /** Whether `batch` is the next batch the broker expects: its first sequence follows the last acknowledged one. */
  isNext(batch: B): boolean {
    const e = this.entries.get(batch.key);
    return e !== undefined && e.session === batch.session && batch.sequenceIndex === e.acked + 1;
  }

  /** Records an acknowledged batch. */
  acknowledge(batch: B): void {
    const e = this.entries.get(batch.key);
    if (e === undefined || e.session !== batch.session) return;
    // A retried batch answered as a duplicate may come back after later ones: never go back.
    e.acked = Math.max(e.acked, batch.sequenceIndex + this.countOf(batch) - 1);
    batch.settled = true;
    this.shift(e);
  }

  /** Records a sent batch that failed: its outcome is unknown, so the partition is unresolved. */
  failSent(batch: B): void {
    const e = this.entries.get(batch.key);
    if (e === undefined || e.session !== batch.session) return;
    batch.settled = true;
    e.unresolved = true;
    this.shift(e);
  }

  /**
   * Records a sent batch the broker refused after checking it, before writing anything (a failed
   * conditional append, an invalid record): its sequences were never used, so the later batches of
   * the partition move down into them (Kafka's adjustSequencesDueToFailedBatch) and are sent again
   * with their new sequences when the broker refuses their old ones as out of order.
   */
  failUnwritten(batch: B): void {
    const e = this.entries.get(batch.key);
    if (e === undefined || e.session !== batch.session) return;
    const count = this.countOf(batch);
    batch.settled = true;
    const at = e.window.indexOf(batch);
    if (at >= 0) e.window.splice(at, 1);
    for (const b of e.window) if (!b.settled && b.sequenceIndex > batch.sequenceIndex) b.sequenceIndex -= count;
    e.next -= count;
    this.shift(e);
  }

  /**
   * Once an unresolved partition has no batch in flight: 'resolved' when a later batch was
   * acknowledged (so the failed one was written too, sequences being accepted in order), 'gap'
   * when not (the partition must start over in a new session; it is marked resolved, and its next
   * batch starts at 0 in whatever newer session the caller opens), 'pending' while batches remain.
   */
  resolve(key: string): Resolution {
    const e = this.entries.get(key);
    if (e === undefined || !e.unresolved) return 'resolved';
    if (e.window.length > 0) return 'pending';
    e.unresolved = false;
    if (e.acked === e.next - 1) return 'resolved';
    // Never again in this session: the next batch starts the partition over.
    e.session = -1;
    return 'gap';
  }

  /**
   * KIP-360: the broker rejected the partition's next expected batch, so it lost this producer's
   * sequences and none of the unsettled batches can have been written; they take sequences from 0
   * in `session`, in order. Returns the batches rewritten.
   */
  restart(key: string, session: number): B[] {
    const e = this.entry(key);
    const pending = e.window.filter((b) => !b.settled);
    e.window.length = 0;
    e.session = session;
    e.next = 0;
    e.acked = -1;
    e.unresolved = false;
    for (const b of pending) {
      b.sequenceIndex = e.next;
      b.session = session;
      e.next += this.countOf(b);
      e.window.push(b);
    }
    return pending;
  }

  private shift(e: PartitionEntry<B>): void {
    while (e.window[0]?.settled === true) e.window.shift();
  }
}
