/**
 * A Jepsen-style history of a transactional workload and the checks over it
 * (kafka-anchor.md §3.3, §3.6, §3.7): producers running Kafka transactions over several
 * partitions (committed, aborted, or of unknown fate), read_committed and read_uncommitted
 * consumers, and consume-transform-produce pipelines that commit their input offsets inside
 * their transactions.
 *
 * The module knows nothing about the cluster: a history is a plain array of {@link TxnEvent}s,
 * and its order is the logical clock. Event `#i` happened before event `#j` when `i < j`, so a
 * simulation must append an event at the moment the thing happens: an invocation *before* the
 * call, a completion *right after* it resolves. Every check is conservative about that order:
 * it only reports what no legal interleaving explains.
 *
 * What Kafka's model allows and these checks therefore accept (§3.6): interleaved writes of
 * concurrent transactions (G0), per-partition visibility of a committed transaction while its
 * markers land (atomicity is "all or none eventually"), gaps in offsets (control markers and
 * aborted records take offsets), read_uncommitted consumers reading aborted data, and consumers
 * rewinding across a rebalance.
 */

/** The two consumer isolation levels (§3.3). */
export type IsolationLevel = 'read_committed' | 'read_uncommitted';

/**
 * How a transaction ended, as far as its producer knows:
 * - `committed`: `commitTransaction()` resolved.
 * - `aborted`: `abortTransaction()` resolved, or the producer otherwise knows the coordinator aborted it.
 * - `unknown`: the producer crashed, was fenced, or its commit failed indefinitely. A transaction
 *   with no recorded outcome is `unknown` too.
 */
export type TxnOutcome = 'committed' | 'aborted' | 'unknown';

/**
 * What a transaction must have become, from its recorded outcome and the final state:
 * - `committed`: recorded committed, or of unknown outcome with a commit invoked and every write in the final state.
 * - `aborted`: recorded aborted; or of unknown outcome and either its commit was never invoked
 *   (nobody asked for a commit, so the coordinator must abort it) or none of its writes is in the final state.
 * - `torn`: of unknown outcome with a commit invoked and only some of its writes in the final state.
 * - `undetermined`: of unknown outcome with a commit invoked but no writes, so nothing reveals its fate.
 */
export type TxnFate = 'committed' | 'aborted' | 'torn' | 'undetermined';

/** One record returned by a poll. */
export interface ReadRecord {
  readonly topic: string;
  readonly partition: number;
  readonly offset: bigint;
  readonly value: string;
}

/** One record of the final state of a partition. */
export interface FinalRecord {
  readonly offset: bigint;
  readonly value: string;
}

/** An offset committed for a consumer group: the next offset to consume, as in Kafka. */
export interface GroupOffset {
  readonly topic: string;
  readonly partition: number;
  readonly offset: bigint;
}

/** A transaction starts (`beginTransaction()`). `txn` names this one transaction, not the transactional.id: use e.g. `p1.t7`. */
export interface BeginEvent {
  readonly type: 'begin';
  readonly txn: string;
  readonly producer: string;
}

/**
 * A send is invoked. `value` must be unique in the whole history: an application retry is a new
 * value (only the client's own internal retries reuse one). `partition` may be left out when only
 * the acknowledgement tells it.
 */
export interface SendEvent {
  readonly type: 'send';
  readonly producer: string;
  /** The transaction the send belongs to; absent for a non-transactional send. */
  readonly txn?: string;
  readonly key: string;
  readonly value: string;
  readonly topic: string;
  readonly partition?: number;
}

/** A send was acknowledged at `offset`. */
export interface AckEvent {
  readonly type: 'ack';
  readonly value: string;
  readonly offset: bigint;
  /** The acknowledged partition, if the send did not name one. */
  readonly partition?: number;
}

/**
 * A send failed. `definite` means the value was certainly not written (e.g. rejected before
 * append), so it must never be visible; an indefinite failure (timeout, lost connection) leaves
 * it free to appear or not.
 */
export interface SendFailedEvent {
  readonly type: 'sendFailed';
  readonly value: string;
  readonly definite: boolean;
}

/** `sendOffsetsToTransaction(offsets, group)` was invoked inside `txn`. */
export interface SendOffsetsEvent {
  readonly type: 'sendOffsets';
  readonly txn: string;
  readonly group: string;
  readonly offsets: readonly GroupOffset[];
}

/** `commitTransaction()` (`commit: true`) or `abortTransaction()` was invoked; record it *before* the call. */
export interface EndInvokedEvent {
  readonly type: 'endInvoked';
  readonly txn: string;
  readonly commit: boolean;
}

/** The producer learned how `txn` ended (or gave up learning: `unknown`). */
export interface OutcomeEvent {
  readonly type: 'outcome';
  readonly txn: string;
  readonly outcome: TxnOutcome;
}

/**
 * A poll returned `records`; record it right after the poll resolves. `session` must change
 * whenever the consumer's position may legally move other than forwards: a rebalance (assigned,
 * revoked or lost), a seek, or an abort after which a pipeline rewinds to its committed offsets.
 * `txn` is the transaction of a pipeline that polls inside its open transaction.
 */
export interface PollEvent {
  readonly type: 'poll';
  readonly consumer: string;
  readonly session: number;
  readonly isolation: IsolationLevel;
  readonly txn?: string;
  readonly records: readonly ReadRecord[];
}

/**
 * The final state of one partition: after the run has healed and every transaction has
 * completed or timed out, a read_committed consumer read the partition from its beginning to its
 * end (the high watermark, which equals the LSO once nothing is open). Every partition written
 * to needs one.
 */
export interface FinalReadEvent {
  readonly type: 'finalRead';
  readonly topic: string;
  readonly partition: number;
  readonly records: readonly FinalRecord[];
}

/** The final committed offsets of a group (an OffsetFetch at the end, require_stable). Optional. */
export interface FinalOffsetsEvent {
  readonly type: 'finalOffsets';
  readonly group: string;
  readonly offsets: readonly GroupOffset[];
}

/** One event of a history; the array order is the logical clock. */
export type TxnEvent = BeginEvent | SendEvent | AckEvent | SendFailedEvent | SendOffsetsEvent | EndInvokedEvent | OutcomeEvent | PollEvent | FinalReadEvent | FinalOffsetsEvent;

/** A history that cannot be checked: malformed, or missing what the checks need (so they would pass vacuously). */
export class TxnHistoryError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'TxnHistoryError';
  }
}

/**
 * Records a history while a simulation runs. Each method appends one event and returns its
 * index, the event's logical time. The recorder does not validate; {@link indexTxnHistory} does,
 * so handmade arrays and recorded histories get the same treatment.
 */
export class TxnHistoryRecorder {
  readonly events: TxnEvent[] = [];

  private push(event: TxnEvent): number {
    this.events.push(event);
    return this.events.length - 1;
  }

  /** Before `beginTransaction()`. */
  begin(txn: string, producer: string): number {
    return this.push({ type: 'begin', txn, producer });
  }

  /** Before `send()`. */
  send(send: Omit<SendEvent, 'type'>): number {
    return this.push({ type: 'send', ...send });
  }

  /** After `send()` resolved with its offset. */
  ack(value: string, offset: bigint, partition?: number): number {
    return this.push(partition === undefined ? { type: 'ack', value, offset } : { type: 'ack', value, offset, partition });
  }

  /** After `send()` rejected. */
  sendFailed(value: string, definite: boolean): number {
    return this.push({ type: 'sendFailed', value, definite });
  }

  /** Before `sendOffsetsToTransaction()`. */
  sendOffsets(txn: string, group: string, offsets: readonly GroupOffset[]): number {
    return this.push({ type: 'sendOffsets', txn, group, offsets });
  }

  /** Before `commitTransaction()` or `abortTransaction()`. */
  endInvoked(txn: string, end: 'commit' | 'abort'): number {
    return this.push({ type: 'endInvoked', txn, commit: end === 'commit' });
  }

  /** When the transaction's fate is known to its producer (or known to be unknown). */
  outcome(txn: string, outcome: TxnOutcome): number {
    return this.push({ type: 'outcome', txn, outcome });
  }

  /** After `poll()` resolved. */
  poll(poll: Omit<PollEvent, 'type'>): number {
    return this.push({ type: 'poll', ...poll });
  }

  /** After reading one partition to its end with read_committed. */
  finalRead(topic: string, partition: number, records: readonly FinalRecord[]): number {
    return this.push({ type: 'finalRead', topic, partition, records });
  }

  /** After fetching a group's committed offsets at the end. */
  finalOffsets(group: string, offsets: readonly GroupOffset[]): number {
    return this.push({ type: 'finalOffsets', group, offsets });
  }
}

/** A send, with what became of it. */
export interface WriteInfo {
  /** Index of the send event. */
  readonly at: number;
  readonly producer: string;
  readonly txn: string | undefined;
  readonly key: string;
  readonly value: string;
  readonly topic: string;
  /** From the send, else from the acknowledgement; undefined if neither told. */
  readonly partition: number | undefined;
  readonly ack: { readonly at: number; readonly offset: bigint } | undefined;
  readonly failure: { readonly at: number; readonly definite: boolean } | undefined;
}

/** Offsets a transaction committed for a group partition (the last `sendOffsets` for it wins, as in Kafka). */
export interface TxnOffsetInfo {
  readonly at: number;
  readonly group: string;
  readonly topic: string;
  readonly partition: number;
  readonly offset: bigint;
}

/** A transaction, with its writes, offsets and fate. */
export interface TxnInfo {
  readonly txn: string;
  readonly producer: string;
  readonly at: number;
  readonly writes: readonly WriteInfo[];
  readonly offsets: readonly TxnOffsetInfo[];
  /** Index of the first `endInvoked` with commit, if any. */
  readonly commitInvokedAt: number | undefined;
  /** Index of the first `endInvoked` of either kind, if any. */
  readonly endInvokedAt: number | undefined;
  readonly outcome: TxnOutcome;
  readonly outcomeAt: number | undefined;
  /** Writes whose value is in the final state. */
  readonly visibleWrites: number;
  readonly fate: TxnFate;
}

/** A poll, with its index. */
export interface PollInfo extends PollEvent {
  readonly at: number;
}

/** Where a value was observed at an offset: by an acknowledgement, a poll, or the final read. */
export interface Observation {
  readonly at: number;
  readonly topic: string;
  readonly partition: number;
  readonly offset: bigint;
  readonly value: string;
  readonly source: string;
}

/**
 * A validated history, indexed for the checks. Obtained only from {@link indexTxnHistory}, which
 * guarantees: at least one write; a final read of every partition written to (and of some
 * partition of every topic written to); unique values, transactions and final reads; every
 * reference to a send or transaction resolvable; no begin, send, sendOffsets or poll after the
 * first final read (acknowledgements, failures and outcomes may still arrive).
 */
export interface TxnHistoryIndex {
  readonly events: readonly TxnEvent[];
  readonly writes: ReadonlyMap<string, WriteInfo>;
  readonly txns: ReadonlyMap<string, TxnInfo>;
  readonly polls: readonly PollInfo[];
  /** Final records per `topic-partition`, sorted by offset. */
  readonly final: ReadonlyMap<string, { readonly at: number; readonly topic: string; readonly partition: number; readonly records: readonly FinalRecord[] }>;
  /** Where each value sits in the final state (more than one place is a duplicate). */
  readonly finalByValue: ReadonlyMap<string, readonly Observation[]>;
  /** Final offsets per group, per `topic-partition`. */
  readonly finalOffsets: ReadonlyMap<string, { readonly at: number; readonly offsets: ReadonlyMap<string, GroupOffset> }>;
  /** Every observation of a value at an offset: acknowledgements, polls (any isolation), final reads. */
  readonly observations: readonly Observation[];
  /** Polls that returned each value, in order. */
  readonly pollsByValue: ReadonlyMap<string, readonly PollInfo[]>;
}

const tp = (topic: string, partition: number): string => `${topic}-${partition}`;
const loc = (topic: string, partition: number, offset: bigint): string => `${topic}-${partition}@${offset}`;
const who = (p: PollInfo): string => `consumer ${p.consumer} (session ${p.session}, ${p.isolation}${p.txn === undefined ? '' : `, in transaction ${p.txn}`}, poll #${p.at})`;
const txnOf = (w: WriteInfo): string => (w.txn === undefined ? 'a non-transactional send' : `transaction ${w.txn}`);

/**
 * Validates a history and indexes it. Throws {@link TxnHistoryError} on a history the checks
 * cannot judge soundly: no writes, no final state, a written partition without a final read,
 * duplicate values or transactions, references to unknown sends or transactions, sends or polls
 * in a transaction after its end was invoked, a `committed` outcome with no commit invoked, or
 * run events after the final reads began.
 */
export function indexTxnHistory(events: readonly TxnEvent[]): TxnHistoryIndex {
  const fail = (at: number, message: string): never => {
    throw new TxnHistoryError(`event #${at}: ${message}`);
  };
  interface MutableWrite {
    at: number; producer: string; txn: string | undefined; key: string; value: string; topic: string;
    partition: number | undefined; ack: { at: number; offset: bigint } | undefined; failure: { at: number; definite: boolean } | undefined;
  }
  interface MutableTxn {
    txn: string; producer: string; at: number; writes: MutableWrite[]; offsets: Map<string, TxnOffsetInfo>;
    commitInvokedAt: number | undefined; endInvokedAt: number | undefined; outcome: TxnOutcome | undefined; outcomeAt: number | undefined;
  }
  const writes = new Map<string, MutableWrite>();
  const txns = new Map<string, MutableTxn>();
  const polls: PollInfo[] = [];
  const final = new Map<string, { at: number; topic: string; partition: number; records: FinalRecord[] }>();
  const finalOffsets = new Map<string, { at: number; offsets: Map<string, GroupOffset> }>();
  let finalStarted: number | undefined;

  const openTxn = (at: number, txn: string, what: string): MutableTxn => {
    const t = txns.get(txn) ?? fail(at, `${what} in transaction ${txn}, which never began`);
    // After end was invoked the transaction is closing: a send or poll then belongs to no transaction Kafka would accept.
    if (t.endInvokedAt !== undefined) fail(at, `${what} in transaction ${txn} after its end was invoked at #${t.endInvokedAt}`);
    if (t.outcome !== undefined) fail(at, `${what} in transaction ${txn} after its outcome was recorded`);
    return t;
  };
  const duringRun = (at: number, what: string): void => {
    // The final state must cover everything the run did; a write after it began could be missed.
    if (finalStarted !== undefined) fail(at, `${what} after the final reads began at #${finalStarted}`);
  };

  events.forEach((e, at) => {
    switch (e.type) {
      case 'begin': {
        duringRun(at, `begin of ${e.txn}`);
        if (txns.has(e.txn)) fail(at, `transaction ${e.txn} began twice; name each transaction uniquely, not by transactional.id`);
        txns.set(e.txn, { txn: e.txn, producer: e.producer, at, writes: [], offsets: new Map(), commitInvokedAt: undefined, endInvokedAt: undefined, outcome: undefined, outcomeAt: undefined });
        return;
      }
      case 'send': {
        duringRun(at, `send of "${e.value}"`);
        if (writes.has(e.value)) fail(at, `value "${e.value}" sent twice (first at #${(writes.get(e.value) as MutableWrite).at}); values must be unique`);
        const w: MutableWrite = { at, producer: e.producer, txn: e.txn, key: e.key, value: e.value, topic: e.topic, partition: e.partition, ack: undefined, failure: undefined };
        if (e.txn !== undefined) openTxn(at, e.txn, `send of "${e.value}"`).writes.push(w);
        writes.set(e.value, w);
        return;
      }
      case 'ack': {
        const w = writes.get(e.value) ?? fail(at, `ack of "${e.value}", which was never sent`);
        if (w.ack !== undefined || w.failure !== undefined) fail(at, `"${e.value}" completed twice (ack after ${w.ack !== undefined ? `an ack at #${w.ack.at}` : `a failure at #${w.failure?.at}`})`);
        if (e.partition !== undefined && w.partition !== undefined && e.partition !== w.partition) fail(at, `"${e.value}" sent to ${tp(w.topic, w.partition)} but acknowledged on partition ${e.partition}`);
        w.ack = { at, offset: e.offset };
        w.partition ??= e.partition;
        return;
      }
      case 'sendFailed': {
        const w = writes.get(e.value) ?? fail(at, `failure of "${e.value}", which was never sent`);
        if (w.ack !== undefined || w.failure !== undefined) fail(at, `"${e.value}" completed twice`);
        w.failure = { at, definite: e.definite };
        return;
      }
      case 'sendOffsets': {
        duringRun(at, `sendOffsets of ${e.txn}`);
        const t = openTxn(at, e.txn, 'sendOffsets');
        for (const o of e.offsets) t.offsets.set(`${e.group}/${tp(o.topic, o.partition)}`, { at, group: e.group, topic: o.topic, partition: o.partition, offset: o.offset });
        return;
      }
      case 'endInvoked': {
        const t = txns.get(e.txn) ?? fail(at, `end of transaction ${e.txn}, which never began`);
        if (t.outcome !== undefined) fail(at, `end of transaction ${e.txn} invoked after its outcome was recorded`);
        t.endInvokedAt ??= at;
        if (e.commit) t.commitInvokedAt ??= at;
        return;
      }
      case 'outcome': {
        const t = txns.get(e.txn) ?? fail(at, `outcome of transaction ${e.txn}, which never began`);
        if (t.outcome !== undefined) fail(at, `outcome of transaction ${e.txn} recorded twice`);
        // Without the invocation the precommitted-read and offset-order checks have no commit interval to judge against.
        if (e.outcome === 'committed' && t.commitInvokedAt === undefined) fail(at, `transaction ${e.txn} recorded committed, but no commit was invoked; record endInvoked before commitTransaction()`);
        t.outcome = e.outcome;
        t.outcomeAt = at;
        return;
      }
      case 'poll': {
        duringRun(at, `poll by ${e.consumer}`);
        if (e.txn !== undefined) openTxn(at, e.txn, `poll by ${e.consumer}`);
        polls.push({ ...e, at });
        return;
      }
      case 'finalRead': {
        finalStarted ??= at;
        const key = tp(e.topic, e.partition);
        if (final.has(key)) fail(at, `${key} read to the end twice`);
        final.set(key, { at, topic: e.topic, partition: e.partition, records: [...e.records] });
        return;
      }
      case 'finalOffsets': {
        finalStarted ??= at;
        if (finalOffsets.has(e.group)) fail(at, `final offsets of group ${e.group} recorded twice`);
        finalOffsets.set(e.group, { at, offsets: new Map(e.offsets.map((o) => [tp(o.topic, o.partition), o])) });
        return;
      }
    }
  });

  if (writes.size === 0) throw new TxnHistoryError('the history has no writes: every check would pass vacuously');
  if (final.size === 0) throw new TxnHistoryError('the history has no final read: without a final state, lost writes, torn transactions and aborted reads cannot be judged');
  const finalTopics = new Set([...final.values()].map((f) => f.topic));
  for (const w of writes.values()) {
    if (w.partition !== undefined && !final.has(tp(w.topic, w.partition))) throw new TxnHistoryError(`"${w.value}" was sent to ${tp(w.topic, w.partition)} (#${w.at}), which has no final read`);
    if (!finalTopics.has(w.topic)) throw new TxnHistoryError(`"${w.value}" was sent to topic ${w.topic} (#${w.at}), which has no final read`);
  }

  const observations: Observation[] = [];
  const finalByValue = new Map<string, Observation[]>();
  for (const w of writes.values()) {
    if (w.ack !== undefined && w.partition !== undefined) observations.push({ at: w.ack.at, topic: w.topic, partition: w.partition, offset: w.ack.offset, value: w.value, source: `ack #${w.ack.at}` });
  }
  const pollsByValue = new Map<string, PollInfo[]>();
  for (const p of polls) {
    for (const r of p.records) {
      observations.push({ at: p.at, ...r, source: `poll #${p.at}` });
      const list = pollsByValue.get(r.value) ?? [];
      if (list.at(-1) !== p) list.push(p);
      pollsByValue.set(r.value, list);
    }
  }
  for (const f of final.values()) {
    for (const r of f.records) {
      const o: Observation = { at: f.at, topic: f.topic, partition: f.partition, offset: r.offset, value: r.value, source: `final read #${f.at}` };
      observations.push(o);
      const list = finalByValue.get(r.value) ?? [];
      list.push(o);
      finalByValue.set(r.value, list);
    }
    // Sorted for the skip search; the order the consumer returned is judged on the event itself.
    f.records.sort((a, b) => (a.offset < b.offset ? -1 : a.offset > b.offset ? 1 : 0));
  }

  const txnInfos = new Map<string, TxnInfo>();
  for (const t of txns.values()) {
    const outcome = t.outcome ?? 'unknown';
    const visibleWrites = t.writes.filter((w) => finalByValue.has(w.value)).length;
    let fate: TxnFate;
    if (outcome === 'committed') fate = 'committed';
    else if (outcome === 'aborted' || t.commitInvokedAt === undefined) fate = 'aborted';
    else if (t.writes.length === 0) fate = 'undetermined';
    else if (visibleWrites === t.writes.length) fate = 'committed';
    else if (visibleWrites === 0) fate = 'aborted';
    else fate = 'torn';
    txnInfos.set(t.txn, { txn: t.txn, producer: t.producer, at: t.at, writes: t.writes, offsets: [...t.offsets.values()], commitInvokedAt: t.commitInvokedAt, endInvokedAt: t.endInvokedAt, outcome, outcomeAt: t.outcomeAt, visibleWrites, fate });
  }

  return { events, writes, txns: txnInfos, polls, final, finalByValue, finalOffsets, observations, pollsByValue };
}

/** Why a transaction counts as aborted, for messages. */
function abortReason(t: TxnInfo): string {
  if (t.outcome === 'aborted') return 'aborted';
  if (t.commitInvokedAt === undefined) return 'never invoked commit (fate unknown, so it must abort)';
  return 'has none of its writes in the final state (fate unknown, so it aborted)';
}

/**
 * G1a, aborted reads. Reports every read_committed read (polls and the final read) of a value
 * written by a transaction whose fate is `aborted`, and every read at any isolation of a value
 * whose send failed definitely. Aborted data read by read_uncommitted consumers is allowed (§3.3).
 */
export function abortedReads(ix: TxnHistoryIndex): string[] {
  const out: string[] = [];
  const judge = (reader: string, committedOnly: boolean, r: ReadRecord): void => {
    const w = ix.writes.get(r.value);
    if (w === undefined) return;
    const at = loc(r.topic, r.partition, r.offset);
    if (w.failure?.definite === true) out.push(`G1a: ${reader} read "${r.value}" at ${at}, whose send (#${w.at}) failed definitely at #${w.failure.at}`);
    else if (committedOnly && w.txn !== undefined) {
      const t = ix.txns.get(w.txn) as TxnInfo;
      if (t.fate === 'aborted') out.push(`G1a: ${reader} read "${r.value}" at ${at}, written by transaction ${t.txn} (producer ${t.producer}), which ${abortReason(t)}`);
    }
  };
  for (const p of ix.polls) for (const r of p.records) judge(who(p), p.isolation === 'read_committed', r);
  for (const f of ix.final.values()) for (const r of f.records) judge(`the final read (read_committed, #${f.at})`, true, { topic: f.topic, partition: f.partition, ...r });
  return out;
}

/**
 * Writes the final state must hold: every write of a transaction recorded committed, every
 * acknowledged non-transactional write, and every non-transactional write some poll returned
 * (consumers never read above the high watermark, so a value read was committed to the log).
 */
function requiredReason(ix: TxnHistoryIndex, w: WriteInfo): string | undefined {
  if (w.txn !== undefined) return (ix.txns.get(w.txn) as TxnInfo).outcome === 'committed' ? `written by committed transaction ${w.txn}` : undefined;
  if (w.failure?.definite === true) return undefined;
  if (w.ack !== undefined) return `acknowledged${w.partition === undefined ? '' : ` at ${loc(w.topic, w.partition, w.ack.offset)}`} (#${w.ack.at})`;
  const read = ix.pollsByValue.get(w.value)?.[0];
  return read === undefined ? undefined : `non-transactional, read by ${who(read)}`;
}

/**
 * Lost writes. Reports every write the final state must hold (see the module's rules: committed
 * transactions, acknowledged or already-read non-transactional sends) that is missing from it.
 */
export function lostCommittedWrites(ix: TxnHistoryIndex): string[] {
  const out: string[] = [];
  for (const w of ix.writes.values()) {
    const reason = requiredReason(ix, w);
    if (reason === undefined || ix.finalByValue.has(w.value)) continue;
    const where = w.partition === undefined ? `topic ${w.topic}` : tp(w.topic, w.partition);
    const f = w.partition === undefined ? undefined : ix.final.get(tp(w.topic, w.partition));
    const span = f === undefined || f.records.length === 0 ? '' : ` (which holds offsets ${f.records[0]?.offset}..${f.records.at(-1)?.offset})`;
    out.push(`lost: "${w.value}" (sent #${w.at}, ${reason}) is missing from the final state of ${where}${span}`);
  }
  return out;
}

/** Groups observations by a key, keeping only groups with more than one distinct `distinct` value. */
function conflicts(obs: readonly Observation[], key: (o: Observation) => string, distinct: (o: Observation) => string): Array<Map<string, Observation[]>> {
  const groups = new Map<string, Map<string, Observation[]>>();
  for (const o of obs) {
    const g = groups.get(key(o)) ?? new Map<string, Observation[]>();
    const d = distinct(o);
    const list = g.get(d) ?? [];
    list.push(o);
    g.set(d, list);
    groups.set(key(o), g);
  }
  return [...groups.values()].filter((g) => g.size > 1);
}
const sources = (list: readonly Observation[]): string => [...new Set(list.map((o) => o.source))].join(', ');

/** Duplicates. Reports every value observed (acknowledged, polled or in the final state) at more than one offset. */
export function duplicates(ix: TxnHistoryIndex): string[] {
  return conflicts(ix.observations, (o) => o.value, (o) => loc(o.topic, o.partition, o.offset)).map((g) => {
    const value = ([...g.values()][0] as Observation[])[0]?.value;
    return `duplicate: "${value}" at ${[...g].map(([at, list]) => `${at} (${sources(list)})`).join(' and ')}`;
  });
}

/** Inconsistent offsets. Reports every topic-partition offset observed with two different values. */
export function inconsistentOffsets(ix: TxnHistoryIndex): string[] {
  return conflicts(ix.observations, (o) => loc(o.topic, o.partition, o.offset), (o) => o.value).map((g) => {
    const first = ([...g.values()][0] as Observation[])[0] as Observation;
    return `inconsistent offset: ${loc(first.topic, first.partition, first.offset)} holds ${[...g].map(([value, list]) => `"${value}" (${sources(list)})`).join(' and ')}`;
  });
}

/**
 * Torn transactions. Reports every transaction with some but not all of its writes in the final
 * state, whatever its outcome: atomicity is "all or none eventually" (§3.3), and for a transaction
 * of unknown fate the final state must still show all or none.
 */
export function tornTransactions(ix: TxnHistoryIndex): string[] {
  const out: string[] = [];
  for (const t of ix.txns.values()) {
    if (t.visibleWrites === 0 || t.visibleWrites === t.writes.length) continue;
    const describe = (w: WriteInfo): string => `"${w.value}" (${w.partition === undefined ? w.topic : tp(w.topic, w.partition)})`;
    const visible = t.writes.filter((w) => ix.finalByValue.has(w.value)).map(describe);
    const missing = t.writes.filter((w) => !ix.finalByValue.has(w.value)).map(describe);
    out.push(`torn: transaction ${t.txn} (producer ${t.producer}, outcome ${t.outcome}) has ${t.visibleWrites} of ${t.writes.length} writes in the final state: visible ${visible.join(', ')}; missing ${missing.join(', ')}`);
  }
  return out;
}

/**
 * Precommitted reads (§3.6). Reports a read_committed poll inside transaction T that returned one
 * of T's own writes, and a read_committed poll that returned a value of a transaction that did
 * commit (fate `committed`, or the visible part of a `torn` one) before that transaction's commit
 * was invoked. The poll's event comes after the fetch that produced it, so "before" is never a
 * false positive. Reads of aborted transactions are {@link abortedReads}' business; a
 * read_uncommitted pipeline seeing its own writes is what read_uncommitted means.
 */
export function precommittedReads(ix: TxnHistoryIndex): string[] {
  const out: string[] = [];
  for (const p of ix.polls) {
    if (p.isolation !== 'read_committed') continue;
    for (const r of p.records) {
      const w = ix.writes.get(r.value);
      if (w?.txn === undefined) continue;
      const t = ix.txns.get(w.txn) as TxnInfo;
      const at = loc(r.topic, r.partition, r.offset);
      if (p.txn === w.txn) {
        out.push(`precommitted read: transaction ${t.txn} read its own write "${r.value}" at ${at} (${who(p)})`);
        continue;
      }
      const committed = t.fate === 'committed' || (t.fate === 'torn' && ix.finalByValue.has(w.value));
      if (committed && (t.commitInvokedAt === undefined || p.at < t.commitInvokedAt)) {
        out.push(`precommitted read: ${who(p)} read "${r.value}" at ${at} of transaction ${t.txn}, whose commit was invoked only at #${t.commitInvokedAt}`);
      }
    }
  }
  return out;
}

/** The final records of a partition strictly between two offsets. */
function finalBetween(ix: TxnHistoryIndex, topic: string, partition: number, after: bigint, before: bigint): FinalRecord[] {
  const records = ix.final.get(tp(topic, partition))?.records ?? [];
  let lo = 0;
  let hi = records.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if ((records[mid] as FinalRecord).offset <= after) lo = mid + 1;
    else hi = mid;
  }
  const out: FinalRecord[] = [];
  for (let i = lo; i < records.length && (records[i] as FinalRecord).offset < before; i++) out.push(records[i] as FinalRecord);
  return out;
}

/**
 * Non-monotonic polls and poll skips. Within one consumer session (consumer name and session
 * number), per partition, across and within polls, reports an offset at or below the previous
 * one (nonmonotonic), and a jump over a record the final state holds between the two positions
 * (skip). Offset gaps alone are not skips: markers and aborted records take offsets. Also reports
 * a final read whose records are not in increasing offset order.
 */
export function nonMonotonicPolls(ix: TxnHistoryIndex): string[] {
  const out: string[] = [];
  const last = new Map<string, { offset: bigint; value: string; at: number }>();
  for (const p of ix.polls) {
    for (const r of p.records) {
      const key = `${p.consumer}#${p.session}/${tp(r.topic, r.partition)}`;
      const prev = last.get(key);
      last.set(key, { offset: r.offset, value: r.value, at: p.at });
      if (prev === undefined) continue;
      if (r.offset <= prev.offset) {
        out.push(`nonmonotonic poll: ${who(p)} read ${loc(r.topic, r.partition, r.offset)} ("${r.value}") after ${loc(r.topic, r.partition, prev.offset)} ("${prev.value}", poll #${prev.at}) in the same session`);
        continue;
      }
      const skipped = finalBetween(ix, r.topic, r.partition, prev.offset, r.offset);
      if (skipped.length > 0) {
        const names = skipped.slice(0, 5).map((s) => `"${s.value}"@${s.offset}`).join(', ') + (skipped.length > 5 ? `, … (${skipped.length} in all)` : '');
        out.push(`poll skip: ${who(p)} read ${loc(r.topic, r.partition, r.offset)} ("${r.value}") right after ${loc(r.topic, r.partition, prev.offset)} ("${prev.value}", poll #${prev.at}), skipping ${names} of the final state`);
      }
    }
  }
  for (const e of ix.events) {
    if (e.type !== 'finalRead') continue;
    for (let i = 1; i < e.records.length; i++) {
      const a = e.records[i - 1] as FinalRecord;
      const b = e.records[i] as FinalRecord;
      if (b.offset <= a.offset) out.push(`nonmonotonic final read: ${tp(e.topic, e.partition)} returned offset ${b.offset} ("${b.value}") after ${a.offset} ("${a.value}")`);
    }
  }
  return out;
}

/** A group-partition offset committed by a transaction that committed, with the interval its commit point lies in. */
interface CommittedOffset {
  readonly t: TxnInfo;
  readonly o: TxnOffsetInfo;
  /** The commit point is after this event... */
  readonly from: number;
  /** ...and before this one (Infinity when the producer never learned). */
  readonly until: number;
}

function committedOffsets(ix: TxnHistoryIndex): Map<string, CommittedOffset[]> {
  const byPartition = new Map<string, CommittedOffset[]>();
  for (const t of ix.txns.values()) {
    if (t.fate !== 'committed' || t.commitInvokedAt === undefined) continue;
    const until = t.outcome === 'committed' ? (t.outcomeAt as number) : Infinity;
    for (const o of t.offsets) {
      const key = `${o.group}/${tp(o.topic, o.partition)}`;
      const list = byPartition.get(key) ?? [];
      list.push({ t, o, from: t.commitInvokedAt, until });
      byPartition.set(key, list);
    }
  }
  return byPartition;
}

/**
 * Committed offsets going backwards. For each group partition, reports a transaction that
 * committed an offset lower than one committed by a transaction whose commit resolved before
 * the later one's commit was invoked. Commits whose intervals overlap have no known order and
 * are not compared; transactions of unknown outcome that committed (all writes visible) count,
 * with an open-ended interval.
 */
export function committedOffsetsRegression(ix: TxnHistoryIndex): string[] {
  const out: string[] = [];
  for (const [key, list] of committedOffsets(ix)) {
    for (const later of list) {
      // The highest offset among commits that certainly came first.
      let worst: CommittedOffset | undefined;
      for (const earlier of list) if (earlier.until < later.from && earlier.o.offset > later.o.offset && (worst === undefined || earlier.o.offset > worst.o.offset)) worst = earlier;
      if (worst !== undefined) out.push(`offsets regression: group ${key}: transaction ${later.t.txn} (commit invoked #${later.from}) committed offset ${later.o.offset} after transaction ${worst.t.txn} committed ${worst.o.offset} (resolved #${worst.until})`);
    }
  }
  return out;
}

/**
 * The group's final offsets against its transactions (only for groups with a `finalOffsets`
 * event). For every group partition some transaction carried offsets for, the final offset must
 * be the highest offset of the transactions that committed, or the offset of a transaction whose
 * fate is undetermined or torn (so it may have committed) and that is higher still; with no
 * committed transaction, it must be absent or such an offset. Reports lost committed offsets and offsets of aborted
 * transactions that took effect. Assumes the group commits only through transactions.
 */
export function finalGroupOffsets(ix: TxnHistoryIndex): string[] {
  const out: string[] = [];
  const committed = committedOffsets(ix);
  const carried = new Map<string, { group: string; topic: string; partition: number; aborted: TxnOffsetInfo[]; undetermined: bigint[] }>();
  for (const t of ix.txns.values()) {
    for (const o of t.offsets) {
      const key = `${o.group}/${tp(o.topic, o.partition)}`;
      const c = carried.get(key) ?? { group: o.group, topic: o.topic, partition: o.partition, aborted: [], undetermined: [] };
      if (t.fate === 'aborted') c.aborted.push(o);
      else if (t.fate !== 'committed') c.undetermined.push(o.offset);
      carried.set(key, c);
    }
  }
  for (const [key, c] of carried) {
    const group = ix.finalOffsets.get(c.group);
    if (group === undefined) continue;
    const final = group.offsets.get(tp(c.topic, c.partition))?.offset;
    const highest = (committed.get(key) ?? []).reduce<CommittedOffset | undefined>((m, x) => (m === undefined || x.o.offset > m.o.offset ? x : m), undefined);
    const acceptable = final !== undefined && ((highest !== undefined && final === highest.o.offset) || (c.undetermined.includes(final) && (highest === undefined || final > highest.o.offset)));
    if (acceptable || (final === undefined && highest === undefined)) continue;
    const expected = highest === undefined ? 'no committed offset' : `offset ${highest.o.offset} (committed by transaction ${highest.t.txn})`;
    const abortedSource = final === undefined ? undefined : c.aborted.find((o) => o.offset === final);
    const found = final === undefined ? 'no offset' : `offset ${final}${abortedSource === undefined ? '' : ` (carried only by aborted transaction(s), e.g. sendOffsets #${abortedSource.at})`}`;
    out.push(`final offsets: group ${key} ends at ${found}, expected ${expected}`);
  }
  return out;
}

/**
 * Phantom reads. Reports a polled or final record whose value was never sent, was sent only after
 * the poll that returned it, or sits in another partition than the one it was sent to.
 */
export function unexpectedValues(ix: TxnHistoryIndex): string[] {
  const out: string[] = [];
  const judge = (reader: string, readAt: number, r: ReadRecord): void => {
    const w = ix.writes.get(r.value);
    const at = loc(r.topic, r.partition, r.offset);
    if (w === undefined) out.push(`unexpected value: ${reader} read "${r.value}" at ${at}, which was never sent`);
    else if (w.at > readAt) out.push(`unexpected value: ${reader} read "${r.value}" at ${at} before it was sent (#${w.at})`);
    else if (w.topic !== r.topic || (w.partition !== undefined && w.partition !== r.partition)) out.push(`unexpected value: ${reader} read "${r.value}" at ${at}, but it was sent to ${w.partition === undefined ? w.topic : tp(w.topic, w.partition)}`);
  };
  for (const p of ix.polls) for (const r of p.records) judge(who(p), p.at, r);
  for (const f of ix.final.values()) for (const r of f.records) judge(`the final read #${f.at}`, f.at, { topic: f.topic, partition: f.partition, ...r });
  return out;
}

/**
 * Jepsen's `unseen`: acknowledged writes that should be visible (non-transactional, or of a
 * transaction whose fate is committed) that no poll ever returned. Not an anomaly by itself (the
 * consumers may just have lagged), but a run where everything is unseen tested no reads.
 */
export function unseenWrites(ix: TxnHistoryIndex): string[] {
  const out: string[] = [];
  for (const w of ix.writes.values()) {
    if (w.ack === undefined || ix.pollsByValue.has(w.value)) continue;
    if (w.txn !== undefined && (ix.txns.get(w.txn) as TxnInfo).fate !== 'committed') continue;
    out.push(`unseen: "${w.value}" acknowledged at ${w.partition === undefined ? w.topic : loc(w.topic, w.partition, w.ack.offset)} (${txnOf(w)}) was never returned by a poll`);
  }
  return out;
}

/** Every anomaly class; each list must be empty for a correct system. */
export interface TxnAnomalies {
  readonly abortedReads: string[];
  readonly lostCommittedWrites: string[];
  readonly duplicates: string[];
  readonly inconsistentOffsets: string[];
  readonly tornTransactions: string[];
  readonly precommittedReads: string[];
  readonly nonMonotonicPolls: string[];
  readonly committedOffsetsRegression: string[];
  readonly finalGroupOffsets: string[];
  readonly unexpectedValues: string[];
}

/** What a history exercised, to tell a clean run from an empty one. */
export interface TxnHistoryStats {
  readonly writes: number;
  readonly acked: number;
  /** Transactions by recorded outcome. */
  readonly outcomes: Readonly<Record<TxnOutcome, number>>;
  /** Transactions by fate. */
  readonly fates: Readonly<Record<TxnFate, number>>;
  /** Transactions that wrote to more than one partition. */
  readonly multiPartitionTxns: number;
  readonly polls: number;
  readonly readCommittedPolls: number;
  readonly transactionalPolls: number;
  readonly recordsRead: number;
  /** Distinct consumer sessions that read anything. */
  readonly sessions: number;
  readonly finalPartitions: number;
  readonly finalRecords: number;
  /** Offsets carried by transactions whose fate is committed, one per transaction and group partition. */
  readonly committedOffsets: number;
}

/** The result of {@link checkTxnHistory}. */
export interface TxnCheckResult {
  /** Every list must be empty. */
  readonly anomalies: TxnAnomalies;
  /** Jepsen's `unseen`, reported apart: informative, not a violation. */
  readonly unseen: string[];
  /** Checks that had nothing to judge in this history, with the reason; a simulation meant to exercise them should assert this is empty. */
  readonly vacuous: string[];
  readonly stats: TxnHistoryStats;
  readonly index: TxnHistoryIndex;
}

/** Counts what the history exercised. */
export function txnHistoryStats(ix: TxnHistoryIndex): TxnHistoryStats {
  const outcomes: Record<TxnOutcome, number> = { committed: 0, aborted: 0, unknown: 0 };
  const fates: Record<TxnFate, number> = { committed: 0, aborted: 0, torn: 0, undetermined: 0 };
  let multiPartitionTxns = 0;
  let committedOffsetCount = 0;
  for (const t of ix.txns.values()) {
    outcomes[t.outcome]++;
    fates[t.fate]++;
    if (new Set(t.writes.map((w) => `${w.topic}/${w.partition}`)).size > 1) multiPartitionTxns++;
    if (t.fate === 'committed') committedOffsetCount += t.offsets.length;
  }
  const sessions = new Set(ix.polls.filter((p) => p.records.length > 0).map((p) => `${p.consumer}#${p.session}`));
  return {
    writes: ix.writes.size,
    acked: [...ix.writes.values()].filter((w) => w.ack !== undefined).length,
    outcomes,
    fates,
    multiPartitionTxns,
    polls: ix.polls.length,
    readCommittedPolls: ix.polls.filter((p) => p.isolation === 'read_committed').length,
    transactionalPolls: ix.polls.filter((p) => p.txn !== undefined).length,
    recordsRead: ix.polls.reduce((n, p) => n + p.records.length, 0),
    sessions: sessions.size,
    finalPartitions: ix.final.size,
    finalRecords: [...ix.final.values()].reduce((n, f) => n + f.records.length, 0),
    committedOffsets: committedOffsetCount,
  };
}

/** Checks with nothing to judge in this history, each named with the reason. */
function vacuousChecks(ix: TxnHistoryIndex, stats: TxnHistoryStats): string[] {
  const out: string[] = [];
  const abortedWrites = [...ix.writes.values()].some((w) => w.failure?.definite === true || (w.txn !== undefined && (ix.txns.get(w.txn) as TxnInfo).fate === 'aborted'));
  if (!abortedWrites) out.push('abortedReads: no write of an aborted transaction and no definitely failed send');
  if (![...ix.writes.values()].some((w) => requiredReason(ix, w) !== undefined)) out.push('lostCommittedWrites: no write the final state must hold');
  const seen = new Map<string, number>();
  for (const o of ix.observations) seen.set(loc(o.topic, o.partition, o.offset), (seen.get(loc(o.topic, o.partition, o.offset)) ?? 0) + 1);
  if (![...seen.values()].some((n) => n > 1)) out.push('duplicates, inconsistentOffsets: no offset observed twice (by an ack, a poll and the final read)');
  if (stats.multiPartitionTxns === 0) out.push('tornTransactions: no transaction wrote to more than one partition');
  const rcTxnRead = ix.polls.some((p) => p.isolation === 'read_committed' && p.records.some((r) => ix.writes.get(r.value)?.txn !== undefined));
  if (!rcTxnRead) out.push('precommittedReads: no read_committed poll returned a transactional value');
  const perSession = new Map<string, number>();
  for (const p of ix.polls) for (const r of p.records) perSession.set(`${p.consumer}#${p.session}/${tp(r.topic, r.partition)}`, (perSession.get(`${p.consumer}#${p.session}/${tp(r.topic, r.partition)}`) ?? 0) + 1);
  if (![...perSession.values()].some((n) => n > 1)) out.push('nonMonotonicPolls: no session read two records of one partition');
  const ordered = [...committedOffsets(ix).values()].some((list) => list.some((a) => list.some((b) => a.until < b.from)));
  if (!ordered) out.push('committedOffsetsRegression: no two ordered committed transactions carried offsets for one group partition');
  if (ix.finalOffsets.size === 0 || ![...ix.txns.values()].some((t) => t.offsets.length > 0)) out.push('finalGroupOffsets: no final offsets recorded, or no transaction carried offsets');
  if (stats.recordsRead === 0) out.push('unexpectedValues: no poll returned a record (only the final read was checked)');
  return out;
}

/**
 * Validates and indexes a history (throwing {@link TxnHistoryError} as {@link indexTxnHistory}
 * does) and runs every check. A correct system yields empty `anomalies` lists; `vacuous` says
 * which checks had nothing to judge.
 */
export function checkTxnHistory(events: readonly TxnEvent[]): TxnCheckResult {
  const ix = indexTxnHistory(events);
  const stats = txnHistoryStats(ix);
  return {
    anomalies: {
      abortedReads: abortedReads(ix),
      lostCommittedWrites: lostCommittedWrites(ix),
      duplicates: duplicates(ix),
      inconsistentOffsets: inconsistentOffsets(ix),
      tornTransactions: tornTransactions(ix),
      precommittedReads: precommittedReads(ix),
      nonMonotonicPolls: nonMonotonicPolls(ix),
      committedOffsetsRegression: committedOffsetsRegression(ix),
      finalGroupOffsets: finalGroupOffsets(ix),
      unexpectedValues: unexpectedValues(ix),
    },
    unseen: unseenWrites(ix),
    vacuous: vacuousChecks(ix, stats),
    stats,
    index: ix,
  };
}

/** Every finding of every check, in one list (empty for a correct run); handy as an `expect(...).toEqual([])` target. */
export function allFindings(anomalies: TxnAnomalies): string[] {
  return Object.values(anomalies).flat();
}

/** A one-line account of what a history exercised, for assertion messages. */
export function describeStats(s: TxnHistoryStats): string {
  return `${s.writes} writes (${s.acked} acked); txns ${s.outcomes.committed} committed, ${s.outcomes.aborted} aborted, ${s.outcomes.unknown} unknown `
    + `(fates: ${s.fates.committed} committed, ${s.fates.aborted} aborted, ${s.fates.torn} torn, ${s.fates.undetermined} undetermined), ${s.multiPartitionTxns} multi-partition; `
    + `${s.polls} polls (${s.readCommittedPolls} read_committed, ${s.transactionalPolls} transactional), ${s.recordsRead} records read in ${s.sessions} sessions; `
    + `final ${s.finalRecords} records in ${s.finalPartitions} partitions; ${s.committedOffsets} committed offsets`;
}

/** Values in the final state of a topic, by partition then offset (e.g. the committed inputs of a pipeline). */
export function finalValues(ix: TxnHistoryIndex, topic: string): string[] {
  return [...ix.final.values()].filter((f) => f.topic === topic).sort((a, b) => a.partition - b.partition).flatMap((f) => f.records.map((r) => r.value));
}

/** Options of {@link compareWithOracle}. */
export interface OracleOptions {
  /** The input values the pipeline consumed, e.g. `finalValues(ix, 'input')`. */
  readonly inputs: readonly string[];
  /** The topic the pipeline writes to. */
  readonly outputTopic: string;
  /** A pure function from one input to the outputs it must produce (any number, any order). */
  readonly expected: (input: string) => readonly string[];
  /**
   * Maps a value of the output topic to what `expected` computes. Values in a history are unique
   * per send, so a pipeline that retries an input after an abort must tag each attempt (e.g.
   * `out(a)@txn7`); this strips the tag. Default: identity.
   */
  readonly normalize?: (output: string) => string;
}

/** What {@link compareWithOracle} found; every list must be empty for an exactly-once pipeline. */
export interface OracleReport {
  /** Expected outputs absent (or present fewer times than expected) from the final state. */
  readonly missing: string[];
  /** Outputs present more times than expected. */
  readonly duplicated: string[];
  /** Outputs present that no input explains. */
  readonly unexpected: string[];
}

/**
 * Exactly-once for a consume-transform-produce pipeline: the final state of `outputTopic`, as a
 * multiset, must equal the outputs `expected` computes from `inputs`. Throws
 * {@link TxnHistoryError} when there are no inputs or the output topic has no final read, since
 * the comparison would then pass vacuously.
 */
export function compareWithOracle(ix: TxnHistoryIndex, options: OracleOptions): OracleReport {
  if (options.inputs.length === 0) throw new TxnHistoryError('oracle: no inputs, so any output (or none) would pass');
  if (![...ix.final.values()].some((f) => f.topic === options.outputTopic)) throw new TxnHistoryError(`oracle: output topic ${options.outputTopic} has no final read`);
  const expected = new Map<string, string[]>();
  for (const input of options.inputs) for (const out of options.expected(input)) expected.set(out, [...(expected.get(out) ?? []), input]);
  const normalize = options.normalize ?? ((v: string): string => v);
  const actual = new Map<string, string[]>();
  for (const f of ix.final.values()) {
    if (f.topic !== options.outputTopic) continue;
    for (const r of f.records) {
      const value = normalize(r.value);
      const where = loc(f.topic, f.partition, r.offset) + (value === r.value ? '' : ` ("${r.value}")`);
      actual.set(value, [...(actual.get(value) ?? []), where]);
    }
  }
  const report: OracleReport = { missing: [], duplicated: [], unexpected: [] };
  const from = (inputs: readonly string[]): string => [...new Set(inputs)].map((i) => `"${i}"`).join(', ');
  for (const [value, inputs] of expected) {
    const found = actual.get(value) ?? [];
    if (found.length < inputs.length) report.missing.push(`missing output: "${value}" expected ${inputs.length} time(s) (from input ${from(inputs)}) but found ${found.length}${found.length === 0 ? '' : ` at ${found.join(', ')}`} in the final state of ${options.outputTopic}`);
    else if (found.length > inputs.length) report.duplicated.push(`duplicated output: "${value}" expected ${inputs.length} time(s) (from input ${from(inputs)}) but found ${found.length} at ${found.join(', ')}`);
  }
  for (const [value, at] of actual) if (!expected.has(value)) report.unexpected.push(`unexpected output: "${value}" at ${at.join(', ')} is no output of any input`);
  return report;
}
