/**
 * A Jepsen-style history of a produce/consume run and the checks over it
 * (kafka-anchor.md §3.7): lost acknowledged writes, duplicates across successful commits,
 * inconsistent offsets, per-key order, non-monotonic polls and backward commits.
 */

/** One acknowledged send. */
export interface Ack {
  readonly producer: string;
  readonly key: string;
  readonly value: string;
  readonly partition: number;
  readonly offset: bigint;
  /** Position of the send in its producer's sequence. */
  readonly sequence: number;
}

/** One record handed to a consumer by a poll. */
export interface Consumption {
  readonly consumer: string;
  readonly session: number;
  readonly partition: number;
  readonly offset: bigint;
  readonly key: string;
  readonly value: string;
  /** The highest offset the group had successfully committed for this partition when it was processed. */
  readonly committedAtProcessing: bigint;
}

/** One successful commit, in completion order. */
export interface Commit {
  readonly consumer: string;
  readonly partition: number;
  readonly offset: bigint;
}

/** A recorded history. */
export class History {
  readonly acks: Ack[] = [];
  readonly consumed: Consumption[] = [];
  readonly commits: Commit[] = [];
  /** Highest successfully committed offset per partition so far. */
  readonly committed = new Map<number, bigint>();

  /** Records a successful commit. */
  commit(consumer: string, partition: number, offset: bigint): void {
    this.commits.push({ consumer, partition, offset });
    const prev = this.committed.get(partition) ?? -1n;
    if (offset > prev) this.committed.set(partition, offset);
  }

  /** Records a processed record. */
  consume(c: Omit<Consumption, 'committedAtProcessing'>): void {
    this.consumed.push({ ...c, committedAtProcessing: this.committed.get(c.partition) ?? -1n });
  }
}

/** Anomalies found by {@link check}; every list must be empty. */
export interface Anomalies {
  readonly lostWrites: Ack[];
  readonly inconsistentOffsets: string[];
  readonly duplicatesAfterCommit: Consumption[];
  readonly keyOrder: string[];
  readonly nonMonotonicPolls: string[];
  readonly backwardCommits: string[];
  readonly unexpectedValues: string[];
}

/** Runs every check over a history. */
export function check(history: History): Anomalies {
  const consumedAt = new Map<string, string>();
  const inconsistentOffsets: string[] = [];
  const unexpectedValues: string[] = [];
  const acked = new Map(history.acks.map((a) => [`${a.partition}:${a.offset}`, a]));
  for (const c of history.consumed) {
    const at = `${c.partition}:${c.offset}`;
    const seen = consumedAt.get(at);
    if (seen !== undefined && seen !== c.value) inconsistentOffsets.push(`${at} read as "${seen}" and "${c.value}"`);
    consumedAt.set(at, c.value);
    const ack = acked.get(at);
    if (ack !== undefined && ack.value !== c.value) unexpectedValues.push(`${at} acknowledged as "${ack.value}" but read as "${c.value}"`);
  }
  const lostWrites = history.acks.filter((a) => !consumedAt.has(`${a.partition}:${a.offset}`));
  // A record may be processed again only if no successful commit covered it yet.
  const duplicatesAfterCommit = history.consumed.filter((c) => c.committedAtProcessing > c.offset);
  // Per key: acknowledged offsets follow each producer's send order.
  const keyOrder: string[] = [];
  const lastByProducerKey = new Map<string, Ack>();
  for (const a of [...history.acks].sort((x, y) => x.sequence - y.sequence)) {
    const k = `${a.producer}/${a.key}`;
    const prev = lastByProducerKey.get(k);
    if (prev !== undefined && (prev.partition !== a.partition || prev.offset >= a.offset)) keyOrder.push(`${k}: "${prev.value}"@${prev.partition}:${prev.offset} then "${a.value}"@${a.partition}:${a.offset}`);
    lastByProducerKey.set(k, a);
  }
  // Within one consumer session, offsets per partition only increase.
  const nonMonotonicPolls: string[] = [];
  const lastRead = new Map<string, bigint>();
  for (const c of history.consumed) {
    const k = `${c.consumer}#${c.session}/${c.partition}`;
    const prev = lastRead.get(k);
    if (prev !== undefined && c.offset <= prev) nonMonotonicPolls.push(`${k}: offset ${c.offset} after ${prev}`);
    lastRead.set(k, c.offset);
  }
  const backwardCommits: string[] = [];
  const lastCommit = new Map<number, bigint>();
  for (const c of history.commits) {
    const prev = lastCommit.get(c.partition);
    if (prev !== undefined && c.offset < prev) backwardCommits.push(`partition ${c.partition}: ${c.consumer} committed ${c.offset} after ${prev}`);
    lastCommit.set(c.partition, c.offset);
  }
  return { lostWrites, inconsistentOffsets, duplicatesAfterCommit, keyOrder, nonMonotonicPolls, backwardCommits, unexpectedValues };
}
