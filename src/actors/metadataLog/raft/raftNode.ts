/**
 * The Raft core of the controller quorum, as Kafka's KRaft (KIP-595): one replica of the
 * `__cluster_metadata` log. Pure and deterministic: no xstate, no timers, no I/O. Time comes in as
 * `nowMs`, randomness from an injected {@link Random}, and every call returns a {@link RaftOutput}
 * (messages to send, newly committed entries, a snapshot to load, the next deadline), so an actor
 * wrapper only has to deliver messages and keep one clock timer.
 *
 * Replication is pull-based like Kafka's: followers and observers send `fetch.request`s to the
 * leader, which answers with records, its high watermark, a diverging epoch (the follower truncates,
 * KIP-101/279 rules) or a snapshot id (the follower fetches the snapshot). Elections use
 * `vote.request` with epochs; a new leader announces itself with `beginQuorumEpoch.request` and
 * appends a LeaderChange control entry so it can commit in its own epoch.
 *
 * The parts live beside this façade, one job each: `config.ts`, `log.ts` (entries, durable state,
 * offsets and truncation), `messages.ts` (RPCs and outputs), `state.ts`, `election.ts`,
 * `leader.ts` and `fetcher.ts` (the two sides of replication), `snapshots.ts`.
 *
 * Guarantees (checked by the unit tests and the seeded simulation in test/actors/metadataLog/):
 * - At most one leader per epoch: a voter grants at most one vote per epoch, and that vote is durable
 *   before the response leaves.
 * - Log matching and leader completeness: a committed entry is in the log of every later leader.
 * - The high watermark only covers entries a majority of voters hold, and only moves once the
 *   majority holds an entry of the leader's own epoch (Raft §5.4.2, Figure 8).
 * - A node's high watermark never decreases within one life; committed entries are handed to the
 *   owner exactly once per life, in offset order, after the snapshot they follow (if any).
 */
import { InvalidArgumentError } from '../../../errors.ts';
import type { Random } from '../../../random.ts';
import { DEFAULT_FETCH_MAX_RECORDS, DEFAULT_FETCH_MAX_WAIT_MS, parseRaftConfig } from './config.ts';
import type { RaftConfig, RaftQuorumConfig } from './config.ts';
import { checkDurable, entryAt, lastEpoch, logEndOffset, logStartOffset } from './log.ts';
import type { RaftDurableState, RaftEntry, RaftSnapshot, RaftSnapshotId } from './log.ts';
import type { RaftAppendResult, RaftMessage, RaftOutput } from './messages.ts';
import { emptyEmit, knownLeader, noteLeader, randomElectionTimeout, resetVolatile } from './state.ts';
import type { RaftRole, RaftState } from './state.ts';
import { becomeCandidate, becomeFollower, becomeUnattached, onBeginQuorumEpoch, onBeginQuorumEpochResponse, onVoteRequest, onVoteResponse, setRole, startBackoff, tickLeaderElection } from './election.ts';
import { appendAsLeader, expireParked, onFetchRequest } from './leader.ts';
import { expireInFlight, isFetcher, onFetchResponse, pump } from './fetcher.ts';
import { onFetchSnapshotRequest, onFetchSnapshotResponse, takeSnapshot } from './snapshots.ts';

// The Raft core's whole surface, in one place for its owners (controller, broker, cluster).
export { DEFAULT_FETCH_MAX_RECORDS, DEFAULT_FETCH_MAX_WAIT_MS, parseRaftConfig, RAFT_CONFIG_DEFAULTS } from './config.ts';
export type { RaftConfig, RaftQuorumConfig } from './config.ts';
export { createRaftDurableState, RaftInvariantError } from './log.ts';
export type { RaftDataEntry, RaftDurableState, RaftEntry, RaftLeaderChangeEntry, RaftSnapshot, RaftSnapshotId } from './log.ts';
export type {
  BeginQuorumEpochRequest,
  BeginQuorumEpochResponse,
  FetchRequest,
  FetchResponse,
  FetchSnapshotRequest,
  FetchSnapshotResponse,
  RaftAppendResult,
  RaftEnvelope,
  RaftErrorName,
  RaftMessage,
  RaftOutput,
  VoteRequest,
  VoteResponse,
} from './messages.ts';
export type { RaftRole } from './state.ts';

/** Construction options of a {@link RaftNode}. */
export interface RaftNodeOptions<T> {
  /** This node's id (an int ≥ 0). */
  readonly id: number;
  /** The voter ids (static voter set, as `controller.quorum.voters`). */
  readonly voters: readonly number[];
  /** True for a non-voter (a broker) that only fetches and replays. */
  readonly observer?: boolean;
  /** Seeded source for election timeouts, back-offs and the voter an observer asks. */
  readonly random: Random;
  readonly config?: RaftConfig;
  /** Long-poll time of this node's fetches; default {@link DEFAULT_FETCH_MAX_WAIT_MS}. */
  readonly fetchMaxWaitMs?: number;
  /**
   * Most entries this node sends in one fetch response when it leads (Kafka caps by bytes, 8 MiB);
   * default {@link DEFAULT_FETCH_MAX_RECORDS}.
   */
  readonly fetchMaxRecords?: number;
  /** The durable state, written in place; {@link createRaftDurableState} for a new node. */
  readonly durable: RaftDurableState<T>;
}

/**
 * One replica of the metadata quorum. Drive it with {@link start} (optional, the first other call
 * starts it), {@link receive}, {@link tick}, {@link append} and {@link snapshot}; deliver the
 * returned messages and call `tick` at `nextDeadlineMs`. Calls must pass a non-decreasing `nowMs`.
 * Not re-entrant; one owner drives it.
 *
 * Everything the node must remember across a crash is written to its {@link RaftDurableState}
 * before the output that depends on it is returned, so an owner that delivers the output only
 * after the call returns never leaks a vote or an acknowledgement it could forget.
 *
 * @example
 * ```ts
 * const durable = createRaftDurableState<MetadataRecord>();      // keep it across restarts
 * const node = new RaftNode({ id: 1, voters: [1, 2, 3], random: random.fork(), durable });
 * const apply = (out: RaftOutput<MetadataRecord>) => {
 *   if (out.loadSnapshot) image = out.loadSnapshot.state as Image;
 *   for (const e of out.committed) if (e.kind === 'data') image = replay(image, e.payload);
 *   for (const { to, message } of out.messages) transport.send(`controller:${to}`, message);
 *   if (out.nextDeadlineMs !== undefined) clock.setTimeout(() => apply(node.tick(clock.now())), out.nextDeadlineMs - clock.now());
 * };
 * apply(node.start(clock.now()));
 * ```
 * @see KIP-595 (Raft for the metadata quorum), KIP-630 (snapshots), Raft §5.4.2 (commit rule).
 */
export class RaftNode<T> {
  /** This node's id. */
  readonly id: number;
  /** The voter set, ascending. */
  readonly voters: readonly number[];
  /** True for a non-voter. */
  readonly observer: boolean;
  /** The validated configuration. */
  readonly config: RaftQuorumConfig;
  /** Long-poll time this node asks for in its fetches. */
  readonly fetchMaxWaitMs: number;
  /** Most entries per fetch response this node sends as leader. */
  readonly fetchMaxRecords: number;

  /** Everything the node holds while it runs; the parts of the core work on it. */
  private readonly s: RaftState<T>;

  /**
   * Builds a node from its durable state. Volatile state (role, leader, high watermark) starts
   * empty and is relearned; the high watermark starts at the snapshot's end.
   * @throws InvalidArgumentError for a bad id, voter set, random source or durable state.
   * @throws InvalidConfigError for a bad config value.
   */
  constructor(options: RaftNodeOptions<T>) {
    if (typeof options !== 'object' || options === null) throw new InvalidArgumentError('options', 'expected { id, voters, random, durable }');
    const { id, voters, observer = false, random, durable } = options;
    if (!Number.isSafeInteger(id) || id < 0) throw new InvalidArgumentError('id', `a node id must be an integer ≥ 0, got ${String(id)}`);
    if (!Array.isArray(voters) || voters.length === 0) throw new InvalidArgumentError('voters', 'the voter set must be a non-empty array of node ids');
    for (const v of voters) if (!Number.isSafeInteger(v) || v < 0) throw new InvalidArgumentError('voters', `voter ids must be integers ≥ 0, got ${String(v)}`);
    if (new Set(voters).size !== voters.length) throw new InvalidArgumentError('voters', `voter ids must be unique, got [${voters.join(', ')}]`);
    if (typeof observer !== 'boolean') throw new InvalidArgumentError('observer', `expected a boolean, got ${String(observer)}`);
    if (observer && voters.includes(id)) throw new InvalidArgumentError('observer', `node ${id} is in the voter set; an observer must not be a voter`);
    if (!observer && !voters.includes(id)) throw new InvalidArgumentError('voters', `node ${id} is not in the voter set [${voters.join(', ')}]; add it or pass observer: true`);
    if (typeof random !== 'object' || random === null || typeof random.int !== 'function') throw new InvalidArgumentError('random', 'expected a seeded Random (createRandom(seed).fork())');
    const fetchMaxWaitMs = options.fetchMaxWaitMs ?? DEFAULT_FETCH_MAX_WAIT_MS;
    if (!Number.isSafeInteger(fetchMaxWaitMs) || fetchMaxWaitMs < 0) throw new InvalidArgumentError('fetchMaxWaitMs', `expected an integer ≥ 0, got ${String(fetchMaxWaitMs)}`);
    const fetchMaxRecords = options.fetchMaxRecords ?? DEFAULT_FETCH_MAX_RECORDS;
    if (!Number.isSafeInteger(fetchMaxRecords) || fetchMaxRecords < 1) throw new InvalidArgumentError('fetchMaxRecords', `expected an integer ≥ 1, got ${String(fetchMaxRecords)}`);
    checkDurable(durable);
    this.id = id;
    this.voters = Object.freeze([...voters].sort((a, b) => a - b));
    this.observer = observer;
    this.fetchMaxWaitMs = fetchMaxWaitMs;
    this.fetchMaxRecords = fetchMaxRecords;
    this.config = parseRaftConfig(options.config ?? {}, fetchMaxWaitMs);
    this.s = {
      id,
      voters: this.voters,
      observer,
      config: this.config,
      fetchMaxWaitMs,
      fetchMaxRecords,
      random,
      durable,
      majority: Math.floor(this.voters.length / 2) + 1,
      started: false,
      now: 0,
      role: 'unattached',
      hw: logStartOffset(durable),
      out: emptyEmit(),
      lastLeader: { epoch: -1, leaderId: undefined },
      electionDeadline: undefined,
      fetchTimeoutDeadline: undefined,
      granted: new Set(),
      rejected: new Set(),
      backoffUntil: undefined,
      electionRetries: 0,
      inFlight: undefined,
      nextFetchAt: undefined,
      pendingSnapshot: undefined,
      // Responses to a previous life's requests may still arrive; a random start keeps them from
      // matching this life's requests (the network analogue of Kafka's dropped connections).
      nextCorrelationId: 1 + random.int(2 ** 30),
      epochStartOffset: 0n,
      replicaEndOffsets: new Map(),
      acknowledged: new Set(),
      beginQuorumResendAt: undefined,
      parked: new Map(),
      checkQuorumDeadline: undefined,
      fetchedSinceCheck: new Set(),
    };
  }

  // ---- read-only views ----------------------------------------------------------------------

  /** The current role. */
  get role(): RaftRole {
    return this.s.role;
  }

  /** The latest epoch this node has seen (durable). */
  get epoch(): number {
    return this.s.durable.epoch;
  }

  /** The leader of the current epoch as this node knows it. */
  get leaderId(): number | undefined {
    return knownLeader(this.s);
  }

  /** The candidate this node voted for in the current epoch (durable). */
  get votedFor(): number | undefined {
    return this.s.durable.votedFor;
  }

  /** Every entry below this offset is committed; it never decreases within a node's life. */
  get highWatermark(): bigint {
    return this.s.hw;
  }

  /** First offset still in the log (the snapshot's end, or 0). */
  get logStartOffset(): bigint {
    return logStartOffset(this.s.durable);
  }

  /** Offset the next entry will get. */
  get logEndOffset(): bigint {
    return logEndOffset(this.s.durable);
  }

  /** Epoch of the last entry (or of the snapshot, or 0 for an empty log). */
  get lastEpoch(): number {
    return lastEpoch(this.s.durable);
  }

  /** The entry at `offset`, undefined when it is outside [logStartOffset, logEndOffset). */
  entryAt(offset: bigint): RaftEntry<T> | undefined {
    return entryAt(this.s.durable, offset);
  }

  /** A copy of the entries in [logStartOffset, logEndOffset). */
  entries(): RaftEntry<T>[] {
    return this.s.durable.entries.slice();
  }

  /** The latest snapshot, if any. */
  get latestSnapshot(): RaftSnapshot | undefined {
    return this.s.durable.snapshot;
  }

  // ---- driving ------------------------------------------------------------------------------

  /**
   * Starts the node at `nowMs`: hands out the durable snapshot (`loadSnapshot`), resumes as
   * follower of a remembered leader, otherwise waits out an election timeout. A single-voter
   * quorum elects itself here. Calling it again does nothing.
   */
  start(nowMs: number): RaftOutput<T> {
    this.advanceTime(nowMs);
    this.ensureStarted();
    return this.flush();
  }

  /**
   * Handles one message from node `from`. Unknown message types are refused; stale and duplicate
   * messages are ignored safely.
   * @throws InvalidArgumentError for a malformed message or a time earlier than a previous call.
   */
  receive(from: number, message: RaftMessage<T>, nowMs: number): RaftOutput<T> {
    this.advanceTime(nowMs);
    if (!Number.isSafeInteger(from) || from < 0) throw new InvalidArgumentError('from', `expected a node id, got ${String(from)}`);
    if (typeof message !== 'object' || message === null || typeof (message as { epoch?: unknown }).epoch !== 'number') throw new InvalidArgumentError('message', 'expected a Raft message with a numeric epoch');
    this.ensureStarted();
    const s = this.s;
    switch (message.type) {
      case 'vote.request':
        onVoteRequest(s, from, message);
        break;
      case 'vote.response':
        onVoteResponse(s, from, message);
        break;
      case 'beginQuorumEpoch.request':
        onBeginQuorumEpoch(s, from, message);
        break;
      case 'beginQuorumEpoch.response':
        onBeginQuorumEpochResponse(s, from, message);
        break;
      case 'fetch.request':
        onFetchRequest(s, from, message);
        break;
      case 'fetch.response':
        onFetchResponse(s, from, message);
        break;
      case 'fetchSnapshot.request':
        onFetchSnapshotRequest(s, from, message);
        break;
      case 'fetchSnapshot.response':
        onFetchSnapshotResponse(s, from, message);
        break;
      default:
        throw new InvalidArgumentError('message', `unknown Raft message type ${JSON.stringify((message as { type?: unknown }).type)}`);
    }
    pump(s);
    return this.flush();
  }

  /** Fires every timeout due at `nowMs` (elections, back-offs, fetch retries, long polls, check quorum). */
  tick(nowMs: number): RaftOutput<T> {
    this.advanceTime(nowMs);
    this.ensureStarted();
    const s = this.s;
    const now = s.now;
    switch (s.role) {
      case 'leader':
        expireParked(s, now);
        tickLeaderElection(s, now);
        break;
      case 'candidate':
        if (s.backoffUntil !== undefined && now >= s.backoffUntil) becomeCandidate(s);
        else if (s.electionDeadline !== undefined && now >= s.electionDeadline) startBackoff(s);
        break;
      case 'unattached':
      case 'resigned':
        if (!s.observer && s.electionDeadline !== undefined && now >= s.electionDeadline) becomeCandidate(s);
        break;
      case 'follower':
        if (s.fetchTimeoutDeadline !== undefined && now >= s.fetchTimeoutDeadline) {
          // No word from the leader: a voter runs for election, an observer looks for the leader again.
          if (s.observer) becomeUnattached(s, s.durable.epoch);
          else becomeCandidate(s);
        }
        break;
    }
    expireInFlight(s, now);
    pump(s);
    return this.flush();
  }

  /**
   * Appends payloads as the leader, in the current epoch. Offsets are assigned consecutively.
   * @throws InvalidArgumentError when `payloads` is not a non-empty array.
   */
  append(payloads: readonly T[], nowMs: number): RaftAppendResult<T> {
    this.advanceTime(nowMs);
    if (!Array.isArray(payloads) || payloads.length === 0) throw new InvalidArgumentError('payloads', 'expected a non-empty array of payloads');
    this.ensureStarted();
    if (this.s.role !== 'leader') {
      const epoch = this.s.durable.epoch;
      return { type: 'notLeader', epoch, leaderId: this.leaderId, output: this.flush() };
    }
    const { epoch, baseOffset, lastOffset } = appendAsLeader(this.s, payloads);
    return { type: 'appended', epoch, baseOffset, lastOffset, output: this.flush() };
  }

  /**
   * Records `state` (the owner's state after applying every entry below `endOffset`) as the
   * latest snapshot and drops the entries below `endOffset`. Only committed data can be
   * snapshotted. Returns the snapshot id, or undefined when `endOffset` is not past the current
   * log start (nothing to do).
   * @throws InvalidArgumentError when `endOffset` is not a bigint ≤ the high watermark.
   */
  snapshot(state: unknown, endOffset: bigint): RaftSnapshotId | undefined {
    return takeSnapshot(this.s, state, endOffset);
  }

  // ---- lifecycle ----------------------------------------------------------------------------

  private ensureStarted(): void {
    const s = this.s;
    if (s.started) return;
    s.started = true;
    if (s.durable.snapshot !== undefined) s.out.loadSnapshot = s.durable.snapshot;
    const { leaderId, epoch } = s.durable;
    if (leaderId !== undefined && leaderId !== s.id) {
      becomeFollower(s, epoch, leaderId);
    } else if (!s.observer && s.voters.length === 1) {
      becomeCandidate(s);
    } else {
      // Restarted as the former leader of `epoch`: Kafka's Resigned state. Our vote for ourselves
      // stays durable, so no second vote is cast in this epoch.
      setRole(s, leaderId === s.id ? 'resigned' : 'unattached');
      resetVolatile(s);
      if (s.observer) s.nextFetchAt = s.now;
      else s.electionDeadline = s.now + randomElectionTimeout(s);
      noteLeader(s);
    }
    pump(s);
  }

  private advanceTime(nowMs: number): void {
    if (typeof nowMs !== 'number' || !Number.isFinite(nowMs)) throw new InvalidArgumentError('nowMs', `expected a finite number of milliseconds, got ${String(nowMs)}`);
    if (nowMs < this.s.now) throw new InvalidArgumentError('nowMs', `time went backwards from ${this.s.now} to ${nowMs}; pass a monotonic clock`);
    this.s.now = nowMs;
  }

  /** The earliest time a timer of the current role (or of the fetcher) is due. */
  private nextDeadline(): number | undefined {
    const s = this.s;
    let min: number | undefined;
    const consider = (t: number | undefined): void => {
      if (t !== undefined && (min === undefined || t < min)) min = t;
    };
    switch (s.role) {
      case 'leader':
        for (const p of s.parked.values()) consider(p.deadline);
        consider(s.beginQuorumResendAt);
        if (s.voters.length > 1) consider(s.checkQuorumDeadline);
        break;
      case 'candidate':
        consider(s.backoffUntil ?? s.electionDeadline);
        break;
      case 'unattached':
      case 'resigned':
        if (!s.observer) consider(s.electionDeadline);
        break;
      case 'follower':
        consider(s.fetchTimeoutDeadline);
        break;
    }
    if (isFetcher(s)) {
      consider(s.inFlight?.deadline);
      if (s.inFlight === undefined) consider(s.nextFetchAt);
    }
    return min;
  }

  /** Persists the durable state, then hands out what the call produced. */
  private flush(): RaftOutput<T> {
    const s = this.s;
    s.durable.persist?.();
    const out = s.out;
    s.out = emptyEmit();
    return { messages: out.messages, committed: out.committed, loadSnapshot: out.loadSnapshot, leaderChange: out.leaderChange, nextDeadlineMs: this.nextDeadline() };
  }
}
