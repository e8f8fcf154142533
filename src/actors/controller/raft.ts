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
 * Guarantees (checked by the unit tests and the seeded simulation in test/actors/controller/):
 * - At most one leader per epoch: a voter grants at most one vote per epoch, and that vote is durable
 *   before the response leaves.
 * - Log matching and leader completeness: a committed entry is in the log of every later leader.
 * - The high watermark only covers entries a majority of voters hold, and only moves once the
 *   majority holds an entry of the leader's own epoch (Raft §5.4.2, Figure 8).
 * - A node's high watermark never decreases within one life; committed entries are handed to the
 *   owner exactly once per life, in offset order, after the snapshot they follow (if any).
 */
import { InvalidArgumentError, InvalidConfigError, SamsaError } from '../../errors.ts';
import type { Random } from '../../random.ts';

// ---------------------------------------------------------------------------------------------
// Configuration

/**
 * Quorum configuration with Kafka's keys (`QuorumConfig.java`). Values are numbers or numeric
 * strings, as `server.properties` would hold them; omitted keys take {@link RAFT_CONFIG_DEFAULTS}.
 */
export interface RaftConfig {
  /** Base election timeout; each wait is drawn from [t, 2t). */
  readonly 'controller.quorum.election.timeout.ms'?: number | string;
  /** A follower that hears nothing from its leader for this long starts an election. */
  readonly 'controller.quorum.fetch.timeout.ms'?: number | string;
  /** Upper bound of the random back-off of a candidate that lost or timed out. */
  readonly 'controller.quorum.election.backoff.max.ms'?: number | string;
  /** A request without a response for this long is sent again. Must exceed the fetch max wait. */
  readonly 'controller.quorum.request.timeout.ms'?: number | string;
  /** Pause before fetching again after an error response. */
  readonly 'controller.quorum.retry.backoff.ms'?: number | string;
}

/** A validated quorum configuration, in milliseconds. Frozen. */
export interface RaftQuorumConfig {
  readonly electionTimeoutMs: number;
  readonly fetchTimeoutMs: number;
  readonly electionBackoffMaxMs: number;
  readonly requestTimeoutMs: number;
  readonly retryBackoffMs: number;
}

/** Kafka's defaults for every key of {@link RaftConfig} (Kafka 3.9). */
export const RAFT_CONFIG_DEFAULTS = Object.freeze({
  'controller.quorum.election.timeout.ms': 1000,
  'controller.quorum.fetch.timeout.ms': 2000,
  'controller.quorum.election.backoff.max.ms': 1000,
  'controller.quorum.request.timeout.ms': 2000,
  'controller.quorum.retry.backoff.ms': 20,
} as const);

/** Kafka's hard-coded long-poll time of a KRaft fetch (`KafkaRaftClient.MAX_FETCH_WAIT_MS`). */
export const DEFAULT_FETCH_MAX_WAIT_MS = 500;

/** Default of the most entries one fetch response carries, so a far-behind follower catches up in steps. */
export const DEFAULT_FETCH_MAX_RECORDS = 1000;

/** Kafka's check-quorum factor: a leader not fetched from by a majority for 1.5 × fetch timeout resigns. */
const CHECK_QUORUM_TIMEOUT_FACTOR = 1.5;
/** Kafka's base of the exponential election back-off (`RaftUtil` / `KafkaRaftClient.RETRY_BACKOFF_BASE_MS`). */
const ELECTION_BACKOFF_BASE_MS = 100;

const CONFIG_MINIMUM: Readonly<Record<keyof typeof RAFT_CONFIG_DEFAULTS, number>> = {
  'controller.quorum.election.timeout.ms': 1,
  'controller.quorum.fetch.timeout.ms': 1,
  'controller.quorum.election.backoff.max.ms': 1,
  'controller.quorum.request.timeout.ms': 1,
  'controller.quorum.retry.backoff.ms': 0,
};

/**
 * Validates `config` and fills in Kafka's defaults. Every key must be a known
 * `controller.quorum.*` key and every value an integer within range.
 * @throws InvalidConfigError naming the key, the value and the fix.
 */
export function parseRaftConfig(config: RaftConfig = {}, fetchMaxWaitMs = DEFAULT_FETCH_MAX_WAIT_MS): RaftQuorumConfig {
  if (typeof config !== 'object' || config === null) throw new InvalidArgumentError('config', `expected an object of controller.quorum.* keys, got ${String(config)}`);
  const values: Record<string, number> = { ...RAFT_CONFIG_DEFAULTS };
  for (const [key, raw] of Object.entries(config)) {
    if (!(key in RAFT_CONFIG_DEFAULTS)) {
      throw new InvalidConfigError(key, raw, `unknown quorum config; use one of ${Object.keys(RAFT_CONFIG_DEFAULTS).join(', ')}`);
    }
    if (raw === undefined) continue;
    const value = typeof raw === 'string' && raw.trim() !== '' ? Number(raw) : raw;
    const min = CONFIG_MINIMUM[key as keyof typeof CONFIG_MINIMUM];
    if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < min) {
      throw new InvalidConfigError(key, raw, `expected an integer number of milliseconds ≥ ${min}; set it to at least ${min} or leave it out for the default ${RAFT_CONFIG_DEFAULTS[key as keyof typeof RAFT_CONFIG_DEFAULTS]}`);
    }
    values[key] = value;
  }
  const requestTimeoutMs = values['controller.quorum.request.timeout.ms'] as number;
  if (requestTimeoutMs <= fetchMaxWaitMs) {
    throw new InvalidConfigError('controller.quorum.request.timeout.ms', requestTimeoutMs, `must exceed the fetch max wait (${fetchMaxWaitMs} ms), or every long-polled fetch is sent twice; raise it above ${fetchMaxWaitMs}`);
  }
  return Object.freeze({
    electionTimeoutMs: values['controller.quorum.election.timeout.ms'] as number,
    fetchTimeoutMs: values['controller.quorum.fetch.timeout.ms'] as number,
    electionBackoffMaxMs: values['controller.quorum.election.backoff.max.ms'] as number,
    requestTimeoutMs,
    retryBackoffMs: values['controller.quorum.retry.backoff.ms'] as number,
  });
}

// ---------------------------------------------------------------------------------------------
// Log entries and durable state

/** An entry carrying one owner payload (a metadata record). */
export interface RaftDataEntry<T> {
  readonly kind: 'data';
  /** Position in the log, gap-free from 0. */
  readonly offset: bigint;
  /** Epoch of the leader that appended it. */
  readonly epoch: number;
  readonly payload: T;
}

/**
 * Kafka's LeaderChange control record: the first entry of every epoch, appended by the new leader
 * so that it has an entry of its own epoch to commit (which commits everything before it).
 */
export interface RaftLeaderChangeEntry {
  readonly kind: 'leaderChange';
  readonly offset: bigint;
  readonly epoch: number;
  readonly leaderId: number;
  readonly voters: readonly number[];
}

/** One entry of the replicated log. Entries are immutable once created. */
export type RaftEntry<T> = RaftDataEntry<T> | RaftLeaderChangeEntry;

/** Identifies a snapshot: it covers every offset below `endOffset`; `epoch` is that of offset `endOffset - 1`. */
export interface RaftSnapshotId {
  readonly endOffset: bigint;
  readonly epoch: number;
}

/** A snapshot of the owner's state machine after applying every entry below `endOffset`. */
export interface RaftSnapshot extends RaftSnapshotId {
  /** The owner's applied state; opaque to the Raft core, must be structured-clone safe. */
  readonly state: unknown;
}

/**
 * What survives a crash, as Kafka's `quorum-state` file plus the log and its latest snapshot. The
 * node writes it in place before any message that depends on it leaves (a write here counts as
 * fsynced). The owner keeps this object across a crash and passes it to a new {@link RaftNode}.
 */
export interface RaftDurableState<T> {
  /** The latest epoch this node has seen. */
  epoch: number;
  /** The candidate this node voted for in `epoch`, if any. */
  votedFor: number | undefined;
  /** The leader of `epoch` this node knows of, if any. */
  leaderId: number | undefined;
  /** The log after the snapshot: contiguous offsets starting at the snapshot's end (or 0). */
  entries: RaftEntry<T>[];
  /** The latest snapshot; the log starts at its end offset. */
  snapshot: RaftSnapshot | undefined;
  /**
   * Writes the fields above through to disk (a file-backed state; the in-memory one has none).
   * The node calls it at the end of every call, before the output that depends on it is returned.
   */
  persist?(): void;
}

/** A fresh durable state: epoch 0, no vote, an empty log. */
export function createRaftDurableState<T>(): RaftDurableState<T> {
  return { epoch: 0, votedFor: undefined, leaderId: undefined, entries: [], snapshot: undefined };
}

// ---------------------------------------------------------------------------------------------
// Messages (named after the KRaft RPCs; plain, structured-clone-safe data)

/** Why a request was refused, with Kafka's error names. */
export type RaftErrorName = 'FENCED_LEADER_EPOCH' | 'UNKNOWN_LEADER_EPOCH' | 'NOT_LEADER_OR_FOLLOWER' | 'INCONSISTENT_VOTER_SET';

/** A candidate asks for a vote. */
export interface VoteRequest {
  readonly type: 'vote.request';
  readonly epoch: number;
  readonly candidateId: number;
  readonly lastEpoch: number;
  readonly lastEpochEndOffset: bigint;
}

/** A voter's answer; `leaderId` is set when the voter knows the leader of `epoch`. */
export interface VoteResponse {
  readonly type: 'vote.response';
  readonly epoch: number;
  readonly voteGranted: boolean;
  readonly leaderId?: number | undefined;
  readonly error?: RaftErrorName | undefined;
}

/** A new leader announces itself to the voters. */
export interface BeginQuorumEpochRequest {
  readonly type: 'beginQuorumEpoch.request';
  readonly epoch: number;
  readonly leaderId: number;
}

/** A voter acknowledges the new leader (or tells it of a newer epoch). */
export interface BeginQuorumEpochResponse {
  readonly type: 'beginQuorumEpoch.response';
  readonly epoch: number;
  readonly leaderId?: number | undefined;
  readonly error?: RaftErrorName | undefined;
}

/** A follower or observer asks for entries from `fetchOffset`. */
export interface FetchRequest {
  readonly type: 'fetch.request';
  readonly correlationId: number;
  readonly epoch: number;
  readonly replicaId: number;
  readonly fetchOffset: bigint;
  /** Epoch of the entry at `fetchOffset - 1` (the snapshot's epoch when there is none, 0 when empty). */
  readonly lastFetchedEpoch: number;
  /** The fetcher's high watermark: the leader answers at once when its own is ahead. */
  readonly highWatermark: bigint;
  /** How long the leader may hold the fetch when it has nothing new. */
  readonly maxWaitMs: number;
}

/** The leader's answer (or a non-leader's pointer to the leader). */
export interface FetchResponse<T> {
  readonly type: 'fetch.response';
  readonly correlationId: number;
  readonly epoch: number;
  readonly leaderId: number | undefined;
  readonly error?: RaftErrorName | undefined;
  readonly records: readonly RaftEntry<T>[];
  readonly highWatermark: bigint | undefined;
  /** The fetcher's log diverges: truncate to this epoch's end (KIP-101/279 rules) and fetch again. */
  readonly divergingEpoch?: { readonly epoch: number; readonly endOffset: bigint } | undefined;
  /** The fetch offset is below the leader's log start: fetch this snapshot. */
  readonly snapshotId?: RaftSnapshotId | undefined;
}

/** A fetcher asks for the leader's snapshot. */
export interface FetchSnapshotRequest {
  readonly type: 'fetchSnapshot.request';
  readonly correlationId: number;
  readonly epoch: number;
  readonly replicaId: number;
  readonly snapshotId: RaftSnapshotId;
}

/** The whole snapshot in one response. */
export interface FetchSnapshotResponse {
  readonly type: 'fetchSnapshot.response';
  readonly correlationId: number;
  readonly epoch: number;
  readonly leaderId: number | undefined;
  readonly error?: RaftErrorName | 'SNAPSHOT_NOT_FOUND' | undefined;
  readonly snapshot?: RaftSnapshot | undefined;
}

/** Every message a {@link RaftNode} sends or receives. */
export type RaftMessage<T> = VoteRequest | VoteResponse | BeginQuorumEpochRequest | BeginQuorumEpochResponse | FetchRequest | FetchResponse<T> | FetchSnapshotRequest | FetchSnapshotResponse;

/** A message addressed to node `to`. */
export interface RaftEnvelope<T> {
  readonly to: number;
  readonly message: RaftMessage<T>;
}

// ---------------------------------------------------------------------------------------------
// Outputs

/**
 * What one call produced. Apply in this order: `loadSnapshot` (replace the state machine), then
 * `committed` (in offset order, each exactly once per node life). `nextDeadlineMs` is the earliest
 * time the node wants {@link RaftNode.tick}; undefined when nothing is pending.
 */
export interface RaftOutput<T> {
  readonly messages: RaftEnvelope<T>[];
  readonly committed: RaftEntry<T>[];
  readonly loadSnapshot?: RaftSnapshot | undefined;
  /** Set when the known (epoch, leader) changed during the call. */
  readonly leaderChange?: { readonly epoch: number; readonly leaderId: number | undefined } | undefined;
  readonly nextDeadlineMs: number | undefined;
}

/**
 * The answer to {@link RaftNode.append}. `appended`: the payloads now sit at
 * `baseOffset..lastOffset` in `epoch`; they are committed once a `committed` output carries the
 * entry at `lastOffset` with that same epoch (a different epoch there means they were lost with a
 * leader change). `notLeader`: nothing was appended; `leaderId` is the leader this node knows of.
 */
export type RaftAppendResult<T> =
  | { readonly type: 'appended'; readonly epoch: number; readonly baseOffset: bigint; readonly lastOffset: bigint; readonly output: RaftOutput<T> }
  | { readonly type: 'notLeader'; readonly epoch: number; readonly leaderId: number | undefined; readonly output: RaftOutput<T> };

/** The role of a node. Observers are `unattached` (looking for the leader) or `follower`. */
export type RaftRole = 'unattached' | 'follower' | 'candidate' | 'leader' | 'resigned';

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

/** A broken internal invariant: a bug in the Raft core or a corrupted durable state. */
export class RaftInvariantError extends SamsaError {
  constructor(message: string) {
    super(message, 'RAFT_INVARIANT_VIOLATED', false);
  }
}

// ---------------------------------------------------------------------------------------------
// The node

interface InFlight {
  readonly kind: 'fetch' | 'fetchSnapshot';
  readonly correlationId: number;
  readonly to: number;
  readonly deadline: number;
  readonly fetchOffset: bigint;
}

interface Parked {
  readonly from: number;
  readonly request: FetchRequest;
  readonly deadline: number;
}

interface Emit<T> {
  messages: RaftEnvelope<T>[];
  committed: RaftEntry<T>[];
  loadSnapshot: RaftSnapshot | undefined;
  leaderChange: { epoch: number; leaderId: number | undefined } | undefined;
}

type ValidFetch = { readonly kind: 'valid' } | { readonly kind: 'snapshot'; readonly snapshotId: RaftSnapshotId } | { readonly kind: 'diverging'; readonly epoch: number; readonly endOffset: bigint };

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

  private readonly random: Random;
  private readonly durable: RaftDurableState<T>;
  private readonly majority: number;

  private started = false;
  private now = 0;
  private currentRole: RaftRole = 'unattached';
  private hw: bigint;
  private out: Emit<T> = RaftNode.emptyEmit();
  private lastLeader: { epoch: number; leaderId: number | undefined } = { epoch: -1, leaderId: undefined };

  // Voter timers.
  private electionDeadline: number | undefined;
  private fetchTimeoutDeadline: number | undefined;
  // Candidate.
  private readonly granted = new Set<number>();
  private readonly rejected = new Set<number>();
  private backoffUntil: number | undefined;
  private electionRetries = 0;
  // Fetcher (follower or observer).
  private inFlight: InFlight | undefined;
  private nextFetchAt: number | undefined;
  private pendingSnapshot: RaftSnapshotId | undefined;
  private nextCorrelationId: number;
  // Leader.
  private epochStartOffset = 0n;
  private readonly replicaEndOffsets = new Map<number, bigint>();
  private readonly acknowledged = new Set<number>();
  private beginQuorumResendAt: number | undefined;
  private readonly parked = new Map<number, Parked>();
  private checkQuorumDeadline: number | undefined;
  private readonly fetchedSinceCheck = new Set<number>();

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
    this.random = random;
    this.fetchMaxWaitMs = fetchMaxWaitMs;
    this.fetchMaxRecords = fetchMaxRecords;
    this.config = parseRaftConfig(options.config ?? {}, fetchMaxWaitMs);
    this.durable = durable;
    this.majority = Math.floor(this.voters.length / 2) + 1;
    this.hw = this.logStartOffset;
    // Responses to a previous life's requests may still arrive; a random start keeps them from
    // matching this life's requests (the network analogue of Kafka's dropped connections).
    this.nextCorrelationId = 1 + random.int(2 ** 30);
  }

  // ---- read-only views ----------------------------------------------------------------------

  /** The current role. */
  get role(): RaftRole {
    return this.currentRole;
  }

  /** The latest epoch this node has seen (durable). */
  get epoch(): number {
    return this.durable.epoch;
  }

  /** The leader of the current epoch as this node knows it. */
  get leaderId(): number | undefined {
    if (this.currentRole === 'leader') return this.id;
    return this.currentRole === 'follower' ? this.durable.leaderId : undefined;
  }

  /** The candidate this node voted for in the current epoch (durable). */
  get votedFor(): number | undefined {
    return this.durable.votedFor;
  }

  /** Every entry below this offset is committed; it never decreases within a node's life. */
  get highWatermark(): bigint {
    return this.hw;
  }

  /** First offset still in the log (the snapshot's end, or 0). */
  get logStartOffset(): bigint {
    return this.durable.snapshot?.endOffset ?? 0n;
  }

  /** Offset the next entry will get. */
  get logEndOffset(): bigint {
    return this.logStartOffset + BigInt(this.durable.entries.length);
  }

  /** Epoch of the last entry (or of the snapshot, or 0 for an empty log). */
  get lastEpoch(): number {
    const last = this.durable.entries[this.durable.entries.length - 1];
    return last?.epoch ?? this.durable.snapshot?.epoch ?? 0;
  }

  /** The entry at `offset`, undefined when it is outside [logStartOffset, logEndOffset). */
  entryAt(offset: bigint): RaftEntry<T> | undefined {
    if (offset < this.logStartOffset || offset >= this.logEndOffset) return undefined;
    return this.durable.entries[Number(offset - this.logStartOffset)];
  }

  /** A copy of the entries in [logStartOffset, logEndOffset). */
  entries(): RaftEntry<T>[] {
    return this.durable.entries.slice();
  }

  /** The latest snapshot, if any. */
  get latestSnapshot(): RaftSnapshot | undefined {
    return this.durable.snapshot;
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
    switch (message.type) {
      case 'vote.request':
        this.onVoteRequest(from, message);
        break;
      case 'vote.response':
        this.onVoteResponse(from, message);
        break;
      case 'beginQuorumEpoch.request':
        this.onBeginQuorumEpoch(from, message);
        break;
      case 'beginQuorumEpoch.response':
        this.onBeginQuorumEpochResponse(from, message);
        break;
      case 'fetch.request':
        this.onFetchRequest(from, message);
        break;
      case 'fetch.response':
        this.onFetchResponse(from, message);
        break;
      case 'fetchSnapshot.request':
        this.onFetchSnapshotRequest(from, message);
        break;
      case 'fetchSnapshot.response':
        this.onFetchSnapshotResponse(from, message);
        break;
      default:
        throw new InvalidArgumentError('message', `unknown Raft message type ${JSON.stringify((message as { type?: unknown }).type)}`);
    }
    this.pump();
    return this.flush();
  }

  /** Fires every timeout due at `nowMs` (elections, back-offs, fetch retries, long polls, check quorum). */
  tick(nowMs: number): RaftOutput<T> {
    this.advanceTime(nowMs);
    this.ensureStarted();
    const now = this.now;
    switch (this.currentRole) {
      case 'leader':
        this.tickLeader(now);
        break;
      case 'candidate':
        if (this.backoffUntil !== undefined && now >= this.backoffUntil) this.becomeCandidate();
        else if (this.electionDeadline !== undefined && now >= this.electionDeadline) this.startBackoff();
        break;
      case 'unattached':
      case 'resigned':
        if (!this.observer && this.electionDeadline !== undefined && now >= this.electionDeadline) this.becomeCandidate();
        break;
      case 'follower':
        if (this.fetchTimeoutDeadline !== undefined && now >= this.fetchTimeoutDeadline) {
          // No word from the leader: a voter runs for election, an observer looks for the leader again.
          if (this.observer) this.becomeUnattached(this.durable.epoch);
          else this.becomeCandidate();
        }
        break;
    }
    if (this.inFlight !== undefined && now >= this.inFlight.deadline) {
      // Lost request or response: ask again (an observer without a leader asks another voter).
      this.inFlight = undefined;
      this.nextFetchAt = now;
    }
    this.pump();
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
    if (this.currentRole !== 'leader') {
      const epoch = this.durable.epoch;
      return { type: 'notLeader', epoch, leaderId: this.leaderId, output: this.flush() };
    }
    const epoch = this.durable.epoch;
    const baseOffset = this.logEndOffset;
    let offset = baseOffset;
    for (const payload of payloads) this.durable.entries.push(Object.freeze({ kind: 'data', offset: offset++, epoch, payload }));
    this.replicaEndOffsets.set(this.id, this.logEndOffset);
    this.maybeAdvanceLeaderHw();
    this.completeParked();
    return { type: 'appended', epoch, baseOffset, lastOffset: offset - 1n, output: this.flush() };
  }

  /**
   * Records `state` (the owner's state after applying every entry below `endOffset`) as the
   * latest snapshot and drops the entries below `endOffset`. Only committed data can be
   * snapshotted. Returns the snapshot id, or undefined when `endOffset` is not past the current
   * log start (nothing to do).
   * @throws InvalidArgumentError when `endOffset` is not a bigint ≤ the high watermark.
   */
  snapshot(state: unknown, endOffset: bigint): RaftSnapshotId | undefined {
    if (typeof endOffset !== 'bigint') throw new InvalidArgumentError('endOffset', `expected a bigint offset, got ${typeof endOffset}`);
    if (endOffset > this.hw) throw new InvalidArgumentError('endOffset', `offset ${endOffset} is above the high watermark ${this.hw}; snapshot only committed, applied state`);
    if (endOffset <= this.logStartOffset) return undefined;
    const last = this.entryAt(endOffset - 1n) as RaftEntry<T>;
    const snap: RaftSnapshot = Object.freeze({ endOffset, epoch: last.epoch, state });
    this.durable.entries.splice(0, Number(endOffset - this.logStartOffset));
    this.durable.snapshot = snap;
    this.durable.persist?.();
    return { endOffset, epoch: snap.epoch };
  }

  // ---- lifecycle ----------------------------------------------------------------------------

  private ensureStarted(): void {
    if (this.started) return;
    this.started = true;
    if (this.durable.snapshot !== undefined) this.out.loadSnapshot = this.durable.snapshot;
    const { leaderId, epoch } = this.durable;
    if (leaderId !== undefined && leaderId !== this.id) {
      this.becomeFollower(epoch, leaderId);
    } else if (!this.observer && this.voters.length === 1) {
      this.becomeCandidate();
    } else {
      // Restarted as the former leader of `epoch`: Kafka's Resigned state. Our vote for ourselves
      // stays durable, so no second vote is cast in this epoch.
      this.setRole(leaderId === this.id ? 'resigned' : 'unattached');
      this.resetVolatile();
      if (this.observer) this.nextFetchAt = this.now;
      else this.electionDeadline = this.now + this.randomElectionTimeout();
      this.noteLeader();
    }
    this.pump();
  }

  private advanceTime(nowMs: number): void {
    if (typeof nowMs !== 'number' || !Number.isFinite(nowMs)) throw new InvalidArgumentError('nowMs', `expected a finite number of milliseconds, got ${String(nowMs)}`);
    if (nowMs < this.now) throw new InvalidArgumentError('nowMs', `time went backwards from ${this.now} to ${nowMs}; pass a monotonic clock`);
    this.now = nowMs;
  }

  private randomElectionTimeout(): number {
    const t = this.config.electionTimeoutMs;
    return t + this.random.int(t);
  }

  private resetVolatile(): void {
    this.electionDeadline = undefined;
    this.fetchTimeoutDeadline = undefined;
    this.granted.clear();
    this.rejected.clear();
    this.backoffUntil = undefined;
    this.inFlight = undefined;
    this.nextFetchAt = undefined;
    this.pendingSnapshot = undefined;
    this.replicaEndOffsets.clear();
    this.acknowledged.clear();
    this.beginQuorumResendAt = undefined;
    this.checkQuorumDeadline = undefined;
    this.fetchedSinceCheck.clear();
  }

  private setRole(role: RaftRole): void {
    if (this.currentRole === 'leader' && role !== 'leader') this.releaseParked();
    if (role !== 'candidate') this.electionRetries = 0;
    this.currentRole = role;
  }

  /** Moves to `epoch` durably; a new epoch clears the vote and the known leader. */
  private persistEpoch(epoch: number): void {
    if (epoch > this.durable.epoch) {
      this.durable.epoch = epoch;
      this.durable.votedFor = undefined;
      this.durable.leaderId = undefined;
    }
  }

  private becomeUnattached(epoch: number): void {
    // As Kafka's transitionToUnattached: an unattached voter or candidate keeps its running election
    // timer. Resetting it on every higher epoch would let a candidate that can never win (stale log,
    // short timeout) keep the better candidates from ever running.
    const running = this.currentRole === 'unattached' || this.currentRole === 'resigned' || this.currentRole === 'candidate' ? (this.electionDeadline ?? this.backoffUntil) : undefined;
    this.persistEpoch(epoch);
    this.setRole('unattached');
    this.resetVolatile();
    if (this.durable.leaderId !== undefined && this.durable.epoch === epoch) this.durable.leaderId = undefined;
    if (this.observer) this.nextFetchAt = this.now;
    else this.electionDeadline = running ?? this.now + this.randomElectionTimeout();
    this.noteLeader();
  }

  private becomeFollower(epoch: number, leaderId: number): void {
    this.persistEpoch(epoch);
    this.durable.leaderId = leaderId;
    this.setRole('follower');
    this.resetVolatile();
    this.fetchTimeoutDeadline = this.now + this.config.fetchTimeoutMs;
    this.nextFetchAt = this.now;
    this.noteLeader();
  }

  private becomeCandidate(): void {
    const retries = this.electionRetries;
    this.persistEpoch(this.durable.epoch + 1);
    this.durable.votedFor = this.id;
    this.setRole('candidate');
    this.resetVolatile();
    this.electionRetries = retries + 1;
    this.granted.add(this.id);
    this.electionDeadline = this.now + this.randomElectionTimeout();
    this.noteLeader();
    if (this.granted.size >= this.majority) {
      this.becomeLeader();
      return;
    }
    const request: VoteRequest = { type: 'vote.request', epoch: this.durable.epoch, candidateId: this.id, lastEpoch: this.lastEpoch, lastEpochEndOffset: this.logEndOffset };
    for (const v of this.voters) if (v !== this.id) this.send(v, request);
  }

  private startBackoff(): void {
    // Kafka's binary exponential election back-off, capped at election.backoff.max.ms.
    const shift = Math.min(this.electionRetries, 20);
    const backoff = Math.min(ELECTION_BACKOFF_BASE_MS * this.random.int(2 ** shift), this.config.electionBackoffMaxMs);
    this.electionDeadline = undefined;
    this.backoffUntil = this.now + backoff;
  }

  private becomeLeader(): void {
    this.setRole('leader');
    this.resetVolatile();
    this.durable.leaderId = this.id;
    const epoch = this.durable.epoch;
    this.epochStartOffset = this.logEndOffset;
    this.durable.entries.push(Object.freeze({ kind: 'leaderChange', offset: this.epochStartOffset, epoch, leaderId: this.id, voters: this.voters }));
    this.replicaEndOffsets.set(this.id, this.logEndOffset);
    this.acknowledged.add(this.id);
    this.checkQuorumDeadline = this.now + this.checkQuorumTimeout();
    this.noteLeader();
    const request: BeginQuorumEpochRequest = { type: 'beginQuorumEpoch.request', epoch, leaderId: this.id };
    for (const v of this.voters) if (v !== this.id) this.send(v, request);
    if (this.voters.length > 1) this.beginQuorumResendAt = this.now + this.config.requestTimeoutMs;
    this.maybeAdvanceLeaderHw();
  }

  private resign(): void {
    // Check quorum failed: most voters cannot reach us, so stop accepting writes (Kafka's Resigned).
    this.setRole('resigned');
    this.resetVolatile();
    this.durable.leaderId = undefined;
    this.electionDeadline = this.now + this.randomElectionTimeout();
    this.noteLeader();
  }

  private checkQuorumTimeout(): number {
    return Math.floor(this.config.fetchTimeoutMs * CHECK_QUORUM_TIMEOUT_FACTOR);
  }

  /**
   * Reacts to an epoch (and maybe its leader) seen in any message: a higher epoch always wins
   * (we step down); the leader of our own epoch is adopted when we did not know it.
   */
  private observeEpoch(epoch: number, leaderId: number | undefined): void {
    if (!Number.isSafeInteger(epoch) || epoch < 0) throw new InvalidArgumentError('message', `epoch must be an integer ≥ 0, got ${String(epoch)}`);
    const known = leaderId !== undefined && leaderId !== this.id && this.voters.includes(leaderId);
    if (epoch > this.durable.epoch) {
      if (known) this.becomeFollower(epoch, leaderId);
      else this.becomeUnattached(epoch);
    } else if (epoch === this.durable.epoch && known && (this.currentRole === 'unattached' || this.currentRole === 'candidate')) {
      this.becomeFollower(epoch, leaderId);
    }
  }

  // ---- votes --------------------------------------------------------------------------------

  private onVoteRequest(from: number, request: VoteRequest): void {
    const reply = (voteGranted: boolean, error?: RaftErrorName): void => {
      this.send(from, { type: 'vote.response', epoch: this.durable.epoch, voteGranted, leaderId: this.leaderId, error });
    };
    if (!this.voters.includes(request.candidateId) || request.candidateId !== from) {
      reply(false, 'INCONSISTENT_VOTER_SET');
      return;
    }
    if (request.epoch < this.durable.epoch) {
      reply(false, 'FENCED_LEADER_EPOCH');
      return;
    }
    if (request.epoch > this.durable.epoch) this.becomeUnattached(request.epoch);
    if (this.observer) {
      reply(false, 'INCONSISTENT_VOTER_SET');
      return;
    }
    const votedFor = this.durable.votedFor;
    // One vote per epoch, and none once the epoch has a leader we follow.
    const free = this.currentRole === 'unattached' && (votedFor === undefined || votedFor === request.candidateId);
    const upToDate = request.lastEpoch > this.lastEpoch || (request.lastEpoch === this.lastEpoch && request.lastEpochEndOffset >= this.logEndOffset);
    if (free && upToDate) {
      this.durable.votedFor = request.candidateId;
      // Granting resets our election timer, so we give the candidate time to win.
      this.electionDeadline = this.now + this.randomElectionTimeout();
      reply(true);
    } else {
      reply(false);
    }
  }

  private onVoteResponse(from: number, response: VoteResponse): void {
    this.observeEpoch(response.epoch, response.leaderId);
    if (this.currentRole !== 'candidate' || response.epoch !== this.durable.epoch || !this.voters.includes(from)) return;
    if (response.voteGranted) {
      this.rejected.delete(from);
      this.granted.add(from);
      if (this.granted.size >= this.majority) this.becomeLeader();
    } else if (!this.granted.has(from)) {
      this.rejected.add(from);
      // Lost for sure: back off now rather than wait for the election timeout.
      if (this.rejected.size > this.voters.length - this.majority && this.backoffUntil === undefined) this.startBackoff();
    }
  }

  private onBeginQuorumEpoch(from: number, request: BeginQuorumEpochRequest): void {
    if (request.epoch < this.durable.epoch) {
      this.send(from, { type: 'beginQuorumEpoch.response', epoch: this.durable.epoch, leaderId: this.leaderId, error: 'FENCED_LEADER_EPOCH' });
      return;
    }
    this.observeEpoch(request.epoch, request.leaderId);
    if (this.currentRole === 'resigned' && request.epoch === this.durable.epoch) {
      // Impossible for a correct peer: we led this epoch. Ignore rather than follow a second leader.
      return;
    }
    this.send(from, { type: 'beginQuorumEpoch.response', epoch: this.durable.epoch, leaderId: this.leaderId });
  }

  private onBeginQuorumEpochResponse(from: number, response: BeginQuorumEpochResponse): void {
    this.observeEpoch(response.epoch, response.leaderId);
    if (this.currentRole === 'leader' && response.epoch === this.durable.epoch && response.error === undefined) this.acknowledge(from);
  }

  private acknowledge(voter: number): void {
    this.acknowledged.add(voter);
    if (this.acknowledged.size === this.voters.length) this.beginQuorumResendAt = undefined;
  }

  // ---- leader side of fetch -----------------------------------------------------------------

  private onFetchRequest(from: number, request: FetchRequest): void {
    if (request.replicaId !== from) return;
    const reject = (error: RaftErrorName): void => {
      this.send(from, { type: 'fetch.response', correlationId: request.correlationId, epoch: this.durable.epoch, leaderId: this.leaderId, error, records: [], highWatermark: undefined });
    };
    if (this.currentRole !== 'leader') {
      reject('NOT_LEADER_OR_FOLLOWER');
      return;
    }
    if (request.epoch < this.durable.epoch) {
      reject('FENCED_LEADER_EPOCH');
      return;
    }
    if (request.epoch > this.durable.epoch) {
      reject('UNKNOWN_LEADER_EPOCH');
      return;
    }
    const voter = this.voters.includes(from);
    if (voter) {
      this.acknowledge(from);
      // Kafka's check quorum: the timer restarts whenever a majority (with us) has fetched since.
      this.fetchedSinceCheck.add(from);
      if (this.fetchedSinceCheck.size + 1 >= this.majority) {
        this.fetchedSinceCheck.clear();
        this.checkQuorumDeadline = this.now + this.checkQuorumTimeout();
      }
    }
    const validity = this.validateFetch(request.fetchOffset, request.lastFetchedEpoch);
    if (validity.kind === 'valid' && voter) {
      const end = request.fetchOffset > this.logEndOffset ? this.logEndOffset : request.fetchOffset;
      this.replicaEndOffsets.set(from, end);
      this.maybeAdvanceLeaderHw();
    }
    if (validity.kind === 'valid' && request.fetchOffset >= this.logEndOffset && request.maxWaitMs > 0 && !(this.hw > request.highWatermark)) {
      // Nothing new: hold the fetch (long poll) until an append, a high watermark move or maxWait.
      this.parked.set(from, { from, request, deadline: this.now + Math.min(request.maxWaitMs, this.config.requestTimeoutMs) });
      return;
    }
    this.parked.delete(from);
    this.answerFetch(from, request, validity);
  }

  private answerFetch(from: number, request: FetchRequest, validity: ValidFetch = this.validateFetch(request.fetchOffset, request.lastFetchedEpoch)): void {
    const base = { type: 'fetch.response' as const, correlationId: request.correlationId, epoch: this.durable.epoch, leaderId: this.id, highWatermark: this.hw };
    if (validity.kind === 'snapshot') {
      this.send(from, { ...base, records: [], snapshotId: validity.snapshotId });
    } else if (validity.kind === 'diverging') {
      this.send(from, { ...base, records: [], divergingEpoch: { epoch: validity.epoch, endOffset: validity.endOffset } });
    } else {
      const start = Number(request.fetchOffset - this.logStartOffset);
      const records = this.durable.entries.slice(start, start + this.fetchMaxRecords);
      this.send(from, { ...base, records });
    }
  }

  /** Kafka's `validateOffsetAndEpoch`: is (fetchOffset, lastFetchedEpoch) a prefix of our log? */
  private validateFetch(fetchOffset: bigint, lastFetchedEpoch: number): ValidFetch {
    if (typeof fetchOffset !== 'bigint' || fetchOffset < 0n) throw new InvalidArgumentError('fetchOffset', `expected a bigint ≥ 0, got ${String(fetchOffset)}`);
    const start = this.logStartOffset;
    if (start === 0n && fetchOffset === 0n) return { kind: 'valid' };
    const snap = this.durable.snapshot;
    if (snap !== undefined && (fetchOffset < start || (fetchOffset === start && lastFetchedEpoch !== snap.epoch) || lastFetchedEpoch < snap.epoch)) {
      return { kind: 'snapshot', snapshotId: { endOffset: snap.endOffset, epoch: snap.epoch } };
    }
    const end = this.endOffsetForEpoch(lastFetchedEpoch);
    if (end.epoch !== lastFetchedEpoch || end.endOffset < fetchOffset) return { kind: 'diverging', epoch: end.epoch, endOffset: end.endOffset };
    return { kind: 'valid' };
  }

  /**
   * OffsetsForLeaderEpoch over this log: the largest epoch ≤ `epoch` and the offset where it
   * ends; (last epoch, log end) when `epoch` is at or above the last one; (0, log start) when no
   * entry is that old.
   */
  private endOffsetForEpoch(epoch: number): { epoch: number; endOffset: bigint } {
    if (epoch >= this.lastEpoch) return { epoch: this.lastEpoch, endOffset: this.logEndOffset };
    const entries = this.durable.entries;
    for (let i = entries.length - 1; i >= 0; i--) {
      const e = entries[i] as RaftEntry<T>;
      if (e.epoch <= epoch) return { epoch: e.epoch, endOffset: e.offset + 1n };
    }
    const snap = this.durable.snapshot;
    if (snap !== undefined && snap.epoch <= epoch) return { epoch: snap.epoch, endOffset: snap.endOffset };
    return { epoch: 0, endOffset: this.logStartOffset };
  }

  /** Raft's commit rule with Kafka's twist: a majority holds it AND it covers the epoch's LeaderChange entry. */
  private maybeAdvanceLeaderHw(): void {
    const ends = this.voters.map((v) => this.replicaEndOffsets.get(v) ?? -1n).sort((a, b) => (a > b ? -1 : a < b ? 1 : 0));
    const candidate = ends[this.majority - 1] as bigint;
    // Never commit an older epoch's entry by counting replicas (Raft Figure 8): only once the
    // majority holds an entry of our own epoch, which carries everything before it.
    if (candidate > this.epochStartOffset && candidate > this.hw) {
      this.advanceHw(candidate);
      this.completeParked();
    }
  }

  private completeParked(): void {
    if (this.parked.size === 0) return;
    const parked = [...this.parked.values()];
    this.parked.clear();
    for (const p of parked) this.answerFetch(p.from, p.request);
  }

  private releaseParked(): void {
    // Leaving leadership: tell held fetchers at once instead of letting them time out.
    const parked = [...this.parked.values()];
    this.parked.clear();
    for (const p of parked) {
      this.send(p.from, { type: 'fetch.response', correlationId: p.request.correlationId, epoch: this.durable.epoch, leaderId: undefined, error: 'NOT_LEADER_OR_FOLLOWER', records: [], highWatermark: undefined });
    }
  }

  private tickLeader(now: number): void {
    for (const p of [...this.parked.values()]) {
      if (now >= p.deadline) {
        this.parked.delete(p.from);
        this.answerFetch(p.from, p.request);
      }
    }
    if (this.beginQuorumResendAt !== undefined && now >= this.beginQuorumResendAt) {
      const pending = this.voters.filter((v) => !this.acknowledged.has(v));
      for (const v of pending) this.send(v, { type: 'beginQuorumEpoch.request', epoch: this.durable.epoch, leaderId: this.id });
      this.beginQuorumResendAt = pending.length > 0 ? now + this.config.requestTimeoutMs : undefined;
    }
    if (this.checkQuorumDeadline !== undefined && now >= this.checkQuorumDeadline && this.voters.length > 1) this.resign();
  }

  // ---- follower / observer side of fetch ----------------------------------------------------

  private isFetcher(): boolean {
    return this.currentRole === 'follower' || (this.observer && this.currentRole === 'unattached');
  }

  /** Sends the next fetch when the fetcher is idle and its back-off has passed. */
  private pump(): void {
    if (!this.isFetcher() || this.inFlight !== undefined || this.nextFetchAt === undefined || this.now < this.nextFetchAt) return;
    const to = this.currentRole === 'follower' ? (this.durable.leaderId as number) : this.random.pick(this.voters);
    const correlationId = this.nextCorrelationId++;
    const deadline = this.now + this.config.requestTimeoutMs;
    this.nextFetchAt = undefined;
    if (this.pendingSnapshot !== undefined && this.currentRole === 'follower') {
      this.inFlight = { kind: 'fetchSnapshot', correlationId, to, deadline, fetchOffset: this.logEndOffset };
      this.send(to, { type: 'fetchSnapshot.request', correlationId, epoch: this.durable.epoch, replicaId: this.id, snapshotId: this.pendingSnapshot });
      return;
    }
    this.inFlight = { kind: 'fetch', correlationId, to, deadline, fetchOffset: this.logEndOffset };
    this.send(to, {
      type: 'fetch.request',
      correlationId,
      epoch: this.durable.epoch,
      replicaId: this.id,
      fetchOffset: this.logEndOffset,
      lastFetchedEpoch: this.lastEpoch,
      highWatermark: this.hw,
      maxWaitMs: this.fetchMaxWaitMs,
    });
  }

  /** True (and the request retired) when `response` answers the fetch we are waiting for. */
  private takeInFlight(from: number, kind: InFlight['kind'], correlationId: number): boolean {
    const f = this.inFlight;
    if (f === undefined || f.kind !== kind || f.correlationId !== correlationId || f.to !== from || f.fetchOffset !== this.logEndOffset) return false;
    this.inFlight = undefined;
    return true;
  }

  private onFetchResponse(from: number, response: FetchResponse<T>): void {
    this.observeEpoch(response.epoch, response.leaderId);
    // Duplicates and answers to older requests are dropped: only the one outstanding fetch counts.
    if (!this.takeInFlight(from, 'fetch', response.correlationId)) return;
    const following = this.currentRole === 'follower' && response.epoch === this.durable.epoch && from === this.durable.leaderId;
    if (response.error !== undefined || !following) {
      this.nextFetchAt = this.now + this.config.retryBackoffMs;
      return;
    }
    this.fetchTimeoutDeadline = this.now + this.config.fetchTimeoutMs;
    this.nextFetchAt = this.now;
    if (response.divergingEpoch !== undefined) {
      this.truncateToEndOffset(response.divergingEpoch.epoch, response.divergingEpoch.endOffset);
      return;
    }
    if (response.snapshotId !== undefined) {
      this.pendingSnapshot = response.snapshotId;
      return;
    }
    for (const record of response.records) {
      if (record.offset !== this.logEndOffset) throw new RaftInvariantError(`fetch response from leader ${from} holds offset ${record.offset} where ${this.logEndOffset} was expected`);
      if (record.epoch > this.durable.epoch || record.epoch < this.lastEpoch) throw new RaftInvariantError(`fetch response from leader ${from} holds epoch ${record.epoch} at offset ${record.offset} after epoch ${this.lastEpoch}`);
      this.durable.entries.push(record);
    }
    if (response.highWatermark !== undefined) {
      const leo = this.logEndOffset;
      this.advanceHw(response.highWatermark < leo ? response.highWatermark : leo);
    }
  }

  /** Kafka's `truncateToEndOffset` (KIP-279): cut our log where it stops matching the leader's. */
  private truncateToEndOffset(epoch: number, endOffset: bigint): void {
    let offset: bigint;
    if (epoch === 0) {
      offset = endOffset < this.logEndOffset ? endOffset : this.logEndOffset;
    } else {
      const local = this.endOffsetForEpoch(epoch);
      offset = local.epoch === epoch ? (local.endOffset < endOffset ? local.endOffset : endOffset) : local.endOffset;
    }
    if (offset < this.hw) throw new RaftInvariantError(`leader asked node ${this.id} to truncate to ${offset}, below its high watermark ${this.hw}`);
    if (offset < this.logEndOffset) this.durable.entries.length = Number(offset - this.logStartOffset);
  }

  private onFetchSnapshotRequest(from: number, request: FetchSnapshotRequest): void {
    const base = { type: 'fetchSnapshot.response' as const, correlationId: request.correlationId, epoch: this.durable.epoch, leaderId: this.leaderId };
    if (this.currentRole !== 'leader') this.send(from, { ...base, error: 'NOT_LEADER_OR_FOLLOWER' });
    else if (request.epoch !== this.durable.epoch) this.send(from, { ...base, error: request.epoch < this.durable.epoch ? 'FENCED_LEADER_EPOCH' : 'UNKNOWN_LEADER_EPOCH' });
    else if (this.durable.snapshot === undefined) this.send(from, { ...base, error: 'SNAPSHOT_NOT_FOUND' });
    // The latest snapshot is at least as new as the one asked for (snapshots only move forward).
    else this.send(from, { ...base, snapshot: this.durable.snapshot });
  }

  private onFetchSnapshotResponse(from: number, response: FetchSnapshotResponse): void {
    this.observeEpoch(response.epoch, response.leaderId);
    if (!this.takeInFlight(from, 'fetchSnapshot', response.correlationId)) return;
    const following = this.currentRole === 'follower' && response.epoch === this.durable.epoch && from === this.durable.leaderId;
    if (response.error !== undefined || response.snapshot === undefined || !following) {
      // Ask again from the top: the fetch tells us whether a snapshot is still needed.
      this.pendingSnapshot = undefined;
      this.nextFetchAt = this.now + this.config.retryBackoffMs;
      return;
    }
    this.fetchTimeoutDeadline = this.now + this.config.fetchTimeoutMs;
    this.pendingSnapshot = undefined;
    this.nextFetchAt = this.now;
    const snap = response.snapshot;
    // A leader sends a snapshot only past our committed data: our committed entries are in its log
    // with the same epochs, so it would have accepted our fetch instead.
    if (snap.endOffset <= this.hw) throw new RaftInvariantError(`leader ${from} sent snapshot ending at ${snap.endOffset} to node ${this.id}, whose high watermark is already ${this.hw}`);
    // The snapshot is committed state past our log end: it replaces the whole log (Kafka's
    // truncateToLatestSnapshot), and the owner must load it before applying anything later.
    this.durable.entries = [];
    this.durable.snapshot = Object.freeze({ endOffset: snap.endOffset, epoch: snap.epoch, state: snap.state });
    if (snap.endOffset > this.hw) this.hw = snap.endOffset;
    this.out.committed = this.out.committed.filter((e) => e.offset >= snap.endOffset);
    this.out.loadSnapshot = this.durable.snapshot;
  }

  // ---- output plumbing ----------------------------------------------------------------------

  private advanceHw(to: bigint): void {
    if (to <= this.hw) return;
    for (let o = this.hw; o < to; o++) this.out.committed.push(this.entryAt(o) as RaftEntry<T>);
    this.hw = to;
  }

  private send(to: number, message: RaftMessage<T>): void {
    this.out.messages.push({ to, message });
  }

  private noteLeader(): void {
    const epoch = this.durable.epoch;
    const leaderId = this.leaderId;
    if (this.lastLeader.epoch !== epoch || this.lastLeader.leaderId !== leaderId) {
      this.lastLeader = { epoch, leaderId };
      this.out.leaderChange = { epoch, leaderId };
    }
  }

  private nextDeadline(): number | undefined {
    let min: number | undefined;
    const consider = (t: number | undefined): void => {
      if (t !== undefined && (min === undefined || t < min)) min = t;
    };
    switch (this.currentRole) {
      case 'leader':
        for (const p of this.parked.values()) consider(p.deadline);
        consider(this.beginQuorumResendAt);
        if (this.voters.length > 1) consider(this.checkQuorumDeadline);
        break;
      case 'candidate':
        consider(this.backoffUntil ?? this.electionDeadline);
        break;
      case 'unattached':
      case 'resigned':
        if (!this.observer) consider(this.electionDeadline);
        break;
      case 'follower':
        consider(this.fetchTimeoutDeadline);
        break;
    }
    if (this.isFetcher()) {
      consider(this.inFlight?.deadline);
      if (this.inFlight === undefined) consider(this.nextFetchAt);
    }
    return min;
  }

  private flush(): RaftOutput<T> {
    this.durable.persist?.();
    const out = this.out;
    this.out = RaftNode.emptyEmit();
    return { messages: out.messages, committed: out.committed, loadSnapshot: out.loadSnapshot, leaderChange: out.leaderChange, nextDeadlineMs: this.nextDeadline() };
  }

  private static emptyEmit<U>(): Emit<U> {
    return { messages: [], committed: [], loadSnapshot: undefined, leaderChange: undefined };
  }
}

/** Checks a durable state handed in by the owner: contiguous offsets, non-decreasing epochs ≤ the current one. */
function checkDurable<T>(durable: RaftDurableState<T>): void {
  if (typeof durable !== 'object' || durable === null || !Array.isArray(durable.entries)) throw new InvalidArgumentError('durable', 'expected a RaftDurableState (createRaftDurableState() for a new node)');
  if (!Number.isSafeInteger(durable.epoch) || durable.epoch < 0) throw new InvalidArgumentError('durable', `epoch must be an integer ≥ 0, got ${String(durable.epoch)}`);
  let expected = durable.snapshot?.endOffset ?? 0n;
  let epoch = durable.snapshot?.epoch ?? 0;
  if (typeof expected !== 'bigint' || expected < 0n) throw new InvalidArgumentError('durable', 'snapshot.endOffset must be a bigint ≥ 0');
  for (const e of durable.entries) {
    if (e.offset !== expected) throw new InvalidArgumentError('durable', `log entries must be contiguous from ${durable.snapshot?.endOffset ?? 0n}; found offset ${String(e.offset)} where ${expected} was expected`);
    if (!Number.isSafeInteger(e.epoch) || e.epoch < epoch || e.epoch > durable.epoch) throw new InvalidArgumentError('durable', `entry epochs must be non-decreasing and ≤ the current epoch ${durable.epoch}; offset ${expected} has epoch ${String(e.epoch)}`);
    epoch = e.epoch;
    expected++;
  }
}
