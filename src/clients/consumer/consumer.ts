/**
 * The consumer client. Two ways to get partitions: `assign` (manual) or `subscribe` (a group
 * member, partitions balanced by the group's assignor). Two ways to read: `batches()` (an
 * AsyncIterable, one poll per batch) and `records$` (an RxJS Observable that polls only as fast
 * as its subscriber takes records). Positions, commits and `auto.offset.reset` follow Kafka:
 * a committed offset is the next offset to read, and auto-commit commits the positions of the
 * previous poll when the next one starts.
 *
 * Over 600 lines because it is the façade of Kafka's whole consumer API (about thirty public
 * calls, each with its argument checks); the group protocol (membership.ts), fetching
 * (fetcher.ts) and the offsets protocol (groupOffsets.ts) live beside it.
 */
import type { Logger } from '../../logger.ts';
import { Observable } from 'rxjs';
import type { Clock, TimerHandle } from '../../clock.ts';
import { ClosedError, InvalidArgumentError, KafkaProtocolError, SamsaError, TimeoutError } from '../../errors.ts';
import type { Random } from '../../random.ts';
import type { Message, Transport } from '../../transport/transport.ts';
import { brokerNode, clientNode } from '../../transport/transport.ts';
import { ClientConnection } from '../connection.ts';
import { MetadataCache } from '../metadataCache.ts';
import { sleep } from '../../clock.ts';
import { deadlineIn } from '../retry.ts';
import type { CallDeadline } from '../retry.ts';
import type { TopicPartition } from './assignors/index.ts';
import { Fetcher } from './fetcher.ts';
import type { ConsumerRecord, PartitionState } from './fetcher.ts';
import { commitOffsets, fetchCommittedOffsets } from './groupOffsets.ts';
import type { GroupOffsetsContext } from './groupOffsets.ts';
import { GroupMembership } from './membership.ts';

/** How long `close()` waits for its last commit and its leave (Kafka's default close timeout). */
const CLOSE_TIMEOUT_MS = 30_000;
import type { ConsumerBatch, ConsumerClient, ConsumerOptions, RebalanceListener } from '../api.ts';

export type { ConsumerBatch, ConsumerOptions, RebalanceListener } from '../api.ts';

export type { ConsumerRecord } from './fetcher.ts';

/** What the cluster hands a consumer. */
export interface ConsumerContext {
  readonly transport: Transport;
  readonly clock: Clock;
  readonly random: Random;
  readonly brokers: () => readonly number[];
  readonly clientId: string;  /** Where the client logs errors it handles itself (default: silent). */
  readonly logger?: Logger;
}

function tpKey(topic: string, partition: number): string {
  return `${topic}\u0000${partition}`;
}

function positive(name: string, value: number, min: number): number {
  if (!Number.isSafeInteger(value) || value < min) throw new InvalidArgumentError(name, `expected an integer ≥ ${min}, got ${value}`);
  return value;
}

/** A consumer. Create it with `cluster.consumer(options)`. */
export class Consumer implements ConsumerClient {
  private readonly connection: ClientConnection;
  private readonly metadata: MetadataCache;
  private readonly fetcher: Fetcher;
  private readonly membership: GroupMembership | undefined;
  private subscription: { topics: readonly string[] | RegExp } | undefined;
  private resetPolicy: 'earliest' | 'latest' | 'none';
  private readonly autoCommit: boolean;
  private readonly autoCommitIntervalMs: number;
  private lastAutoCommit: number;
  private readonly maxPollRecords: number;
  private readonly requestTimeoutMs: number;
  private readonly defaultApiTimeoutMs: number;
  private readonly retryBackoffMs: number;
  private readonly listener: RebalanceListener;
  private waiters: Array<() => void> = [];
  private closed = false;
  private metadataRefreshing = false;
  private pendingError: unknown;
  private readonly options: ConsumerOptions;
  private wakeTimer: TimerHandle | undefined;
  private autoCommitInFlight: Promise<void> | undefined;
  private queuedAutoCommit: Array<TopicPartition & { offset: bigint }> | undefined;

  constructor(
    private readonly context: ConsumerContext,
    options: ConsumerOptions = {},
  ) {
    this.options = options;
    if (options.groupId !== undefined && (typeof options.groupId !== 'string' || options.groupId.length === 0)) throw new InvalidArgumentError('groupId', `expected a non-empty string, got ${JSON.stringify(options.groupId)}`);
    const reset = options.autoOffsetReset ?? 'latest';
    if (!['earliest', 'latest', 'none'].includes(reset)) throw new InvalidArgumentError('autoOffsetReset', `expected 'earliest', 'latest' or 'none', got ${String(reset)}`);
    this.resetPolicy = reset;
    this.autoCommit = options.enableAutoCommit ?? options.groupId !== undefined;
    if (this.autoCommit && options.groupId === undefined) throw new InvalidArgumentError('enableAutoCommit', 'auto-commit needs a groupId to commit to; set groupId or enableAutoCommit: false');
    this.autoCommitIntervalMs = positive('autoCommitIntervalMs', options.autoCommitIntervalMs ?? 5000, 0);
    this.maxPollRecords = positive('maxPollRecords', options.maxPollRecords ?? 500, 1);
    this.requestTimeoutMs = positive('requestTimeoutMs', options.requestTimeoutMs ?? 30000, 1);
    this.defaultApiTimeoutMs = positive('defaultApiTimeoutMs', options.defaultApiTimeoutMs ?? 60000, 1);
    this.retryBackoffMs = positive('retryBackoffMs', options.retryBackoffMs ?? 100, 0);
    const sessionTimeoutMs = positive('sessionTimeoutMs', options.sessionTimeoutMs ?? 45000, 1);
    const heartbeatIntervalMs = positive('heartbeatIntervalMs', options.heartbeatIntervalMs ?? 3000, 1);
    if (heartbeatIntervalMs >= sessionTimeoutMs) throw new InvalidArgumentError('heartbeatIntervalMs', `must be lower than sessionTimeoutMs (${sessionTimeoutMs}), ideally a third of it; got ${heartbeatIntervalMs}`);
    this.listener = options.rebalanceListener ?? {};
    this.lastAutoCommit = context.clock.now();
    this.connection = new ClientConnection(clientNode(context.clientId), context.transport, context.clock);
    this.metadata = new MetadataCache(this.connection, context.brokers, this.requestTimeoutMs);
    this.fetcher = new Fetcher(
      this.connection,
      this.metadata,
      {
        fetchMinBytes: positive('fetchMinBytes', options.fetchMinBytes ?? 1, 0),
        fetchMaxWaitMs: positive('fetchMaxWaitMs', options.fetchMaxWaitMs ?? 500, 0),
        fetchMaxBytes: positive('fetchMaxBytes', options.fetchMaxBytes ?? 52428800, 1),
        maxPartitionFetchBytes: positive('maxPartitionFetchBytes', options.maxPartitionFetchBytes ?? 1048576, 1),
        isolationLevel: options.isolationLevel ?? 'read_uncommitted',
        requestTimeoutMs: this.requestTimeoutMs,
        retryBackoffMs: positive('retryBackoffMs', options.retryBackoffMs ?? 100, 0),
      },
      {
        outOfRange: (state, logStartOffset) => this.onOutOfRange(state, logStartOffset),
        dataArrived: () => this.wake(),
        metadataStale: () => this.refreshMetadata(),
      },
    );
    if (options.groupId !== undefined) {
      this.membership = new GroupMembership(
        this.connection,
        this.metadata,
        context.clock,
        {
          groupId: options.groupId,
          groupInstanceId: options.groupInstanceId,
          clientId: context.clientId,
          sessionTimeoutMs,
          heartbeatIntervalMs,
          maxPollIntervalMs: positive('maxPollIntervalMs', options.maxPollIntervalMs ?? 300000, 1),
          requestTimeoutMs: this.requestTimeoutMs,
          retryBackoffMs: this.retryBackoffMs,
          assignors: options.partitionAssignmentStrategy ?? ['range', 'cooperative-sticky'],
        },
        {
          subscribedTopics: () => this.subscribedTopics(),
          owned: () => this.assignment(),
          revoke: (tps) => this.onRevoke(tps),
          assign: (tps) => this.onAssign(tps),
          lost: (tps) => this.onLost(tps),
          wake: () => this.wake(),
        },
        context.logger,
      );
    }
  }

  /** The client id. */
  get clientId(): string {
    return this.context.clientId;
  }

  /** The group generation and member id, for the producer's `sendOffsets` (Kafka's `sendOffsetsToTransaction`, KIP-447). */
  groupMetadata(): { groupId: string | undefined; generationId: number; memberId: string; groupInstanceId: string | undefined } {
    return { groupId: this.options.groupId, generationId: this.membership?.generationId ?? -1, memberId: this.membership?.memberId ?? '', groupInstanceId: this.options.groupInstanceId };
  }

  /** Partitions currently assigned. */
  assignment(): TopicPartition[] {
    return [...this.fetcher.partitions.values()].map((s) => ({ topic: s.topic, partition: s.partition }));
  }

  /** Manually assigns partitions (no group rebalancing). */
  assign(partitions: readonly TopicPartition[]): void {
    this.ensureOpen();
    if (this.subscription !== undefined) throw new InvalidArgumentError('assign', 'this consumer is subscribed; call unsubscribe() before assign()');
    for (const tp of partitions) if (typeof tp?.topic !== 'string' || !Number.isInteger(tp.partition) || tp.partition < 0) throw new InvalidArgumentError('partitions', `expected { topic, partition } entries, got ${JSON.stringify(tp)}`);
    this.fetcher.assign(partitions);
  }

  /**
   * Joins the group for `topics` (names or a pattern). `fromBeginning` starts partitions without a
   * committed offset at the earliest offset (auto.offset.reset=earliest).
   */
  async subscribe(topics: readonly string[] | RegExp, options: { fromBeginning?: boolean } = {}): Promise<void> {
    this.ensureOpen();
    if (this.membership === undefined) throw new InvalidArgumentError('groupId', 'subscribe needs a groupId; pass groupId to cluster.consumer() or use assign()');
    if (!(topics instanceof RegExp) && (!Array.isArray(topics) || topics.some((t) => typeof t !== 'string'))) throw new InvalidArgumentError('topics', 'expected an array of topic names or a RegExp');
    if (options.fromBeginning === true) this.resetPolicy = 'earliest';
    this.subscription = { topics };
    this.membership.requestRejoin();
  }

  /** Leaves the group and drops the assignment. */
  async unsubscribe(): Promise<void> {
    this.subscription = undefined;
    await this.membership?.leave('the consumer unsubscribed');
    this.fetcher.assign([]);
  }

  /** Sets the next offset to read for a partition. */
  seek(partition: TopicPartition, offset: bigint): void {
    this.ensureOpen();
    if (typeof offset !== 'bigint' || offset < 0n) throw new InvalidArgumentError('offset', `expected a bigint offset ≥ 0n, got ${String(offset)}`);
    const state = this.state(partition);
    this.fetcher.seek(state, offset);
  }

  /** Seeks partitions to their earliest offset. */
  async seekToBeginning(partitions: readonly TopicPartition[] = this.assignment()): Promise<void> {
    await this.resetTo(partitions.map((p) => this.state(p)), 'earliest');
  }

  /** Seeks partitions to their end (the high watermark). */
  async seekToEnd(partitions: readonly TopicPartition[] = this.assignment()): Promise<void> {
    await this.resetTo(partitions.map((p) => this.state(p)), 'latest');
  }

  /** Stops returning records from these partitions until `resume`. */
  pause(partitions: readonly TopicPartition[]): void {
    for (const p of partitions) this.state(p).paused = true;
  }

  /** Resumes paused partitions. */
  resume(partitions: readonly TopicPartition[]): void {
    for (const p of partitions) this.state(p).paused = false;
    this.fetcher.fetch();
  }

  /** Paused partitions. */
  paused(): TopicPartition[] {
    return [...this.fetcher.partitions.values()].filter((s) => s.paused).map((s) => ({ topic: s.topic, partition: s.partition }));
  }

  /**
   * The next offset this consumer will return for `partition`, resolving it first if needed
   * (a committed offset, or a pending reset), as Kafka's `position()` blocks until it is known.
   * @throws TimeoutError when it stays unknown for `defaultApiTimeoutMs`.
   */
  async position(partition: TopicPartition): Promise<bigint> {
    const state = this.state(partition);
    const deadline = this.context.clock.now() + this.defaultApiTimeoutMs;
    while (state.position === undefined) {
      this.ensureOpen();
      if (this.fetcher.get(state.topic, state.partition) !== state) throw new InvalidArgumentError('partition', `${state.topic}-${state.partition} was unassigned while its position was being resolved`);
      if (this.context.clock.now() >= deadline) throw new TimeoutError(`resolving the position of ${state.topic}-${state.partition}`, this.defaultApiTimeoutMs, 'its leader may be unavailable; check that the brokers are up');
      await this.resolvePositions();
    }
    return state.position;
  }

  /** Lag per assigned partition: high watermark − position (unknown partitions are left out). */
  lag(): Array<{ topic: string; partition: number; lag: bigint }> {
    const out: Array<{ topic: string; partition: number; lag: bigint }> = [];
    for (const s of this.fetcher.partitions.values()) {
      if (s.position === undefined || s.highWatermark < 0n) continue;
      const lag = s.highWatermark - s.position;
      out.push({ topic: s.topic, partition: s.partition, lag: lag > 0n ? lag : 0n });
    }
    return out;
  }

  /**
   * Committed offsets of the group for these partitions (-1n when none). A read_committed
   * consumer asks for stable offsets (KIP-447): while a transaction's offsets for a partition
   * await their marker it waits, up to `defaultApiTimeoutMs`, rather than see an offset about to
   * be replaced.
   * @throws TimeoutError when offsets stay pending that long.
   */
  async committed(partitions: readonly TopicPartition[] = this.assignment()): Promise<Array<TopicPartition & { offset: bigint }>> {
    const groupId = this.requireGroup('committed');
    const deadline = deadlineIn(this.context.clock, this.defaultApiTimeoutMs, `fetching the committed offsets of group "${groupId}"`);
    for (;;) {
      const { offsets, unstable } = await this.fetchCommitted(partitions, deadline);
      if (unstable.length === 0) return offsets;
      if (this.context.clock.now() + this.retryBackoffMs > deadline.at) throw new TimeoutError(`fetching committed offsets of ${unstable.map((p) => `${p.topic}-${p.partition}`).join(', ')}`, this.defaultApiTimeoutMs, 'a transaction holding offsets for them has not completed; it commits, aborts or times out (transaction.timeout.ms)');
      await sleep(this.context.clock, this.retryBackoffMs);
    }
  }

  /**
   * One OffsetFetch: the offsets, and the partitions whose offsets are unstable (UNSTABLE_OFFSET_COMMIT).
   * Retriable errors (coordinator moved, loading, unreachable) are retried until `deadline`
   * (default: `default.api.timeout.ms` from now), then a TimeoutError, as Kafka's fetchCommittedOffsets.
   */
  private async fetchCommitted(partitions: readonly TopicPartition[], deadline?: CallDeadline): Promise<{ offsets: Array<TopicPartition & { offset: bigint }>; unstable: TopicPartition[] }> {
    const groupId = this.requireGroup('committed');
    const until = deadline ?? deadlineIn(this.context.clock, this.defaultApiTimeoutMs, `fetching the committed offsets of group "${groupId}"`);
    return fetchCommittedOffsets(this.groupOffsets(groupId), partitions, this.options.isolationLevel === 'read_committed', until);
  }

  private groupOffsets(groupId: string): GroupOffsetsContext {
    return { clock: this.context.clock, membership: this.membership as GroupMembership, groupId, groupInstanceId: this.options.groupInstanceId, retryBackoffMs: this.retryBackoffMs, logger: this.context.logger };
  }

  /**
   * Commits offsets (default: the current positions of every assigned partition). A committed
   * offset is the next offset to read. Resolves once the coordinator has durably stored them.
   * Retriable errors (coordinator moved, loading or unreachable) are retried until
   * `defaultApiTimeoutMs`, as Kafka's commitSync.
   * @throws KafkaProtocolError ILLEGAL_GENERATION / UNKNOWN_MEMBER_ID / REBALANCE_IN_PROGRESS when
   *   the group moved on; InvalidArgumentError for a partition this consumer does not own;
   *   TimeoutError when retriable errors last `defaultApiTimeoutMs`.
   */
  async commit(offsets?: ReadonlyArray<TopicPartition & { offset: bigint }>): Promise<void> {
    return this.commitOffsets(offsets, true);
  }

  private async commitOffsets(offsets: ReadonlyArray<TopicPartition & { offset: bigint }> | undefined, retry: boolean): Promise<void> {
    this.ensureOpen();
    const groupId = this.requireGroup('commit');
    const list = offsets ?? [...this.fetcher.partitions.values()].filter((s) => s.position !== undefined).map((s) => ({ topic: s.topic, partition: s.partition, offset: s.position as bigint }));
    if (offsets !== undefined && this.subscription !== undefined) {
      for (const o of offsets) if (this.fetcher.get(o.topic, o.partition) === undefined) throw new InvalidArgumentError('offsets', `this consumer does not own ${o.topic}-${o.partition}; a group member can only commit partitions assigned to it`);
    }
    for (const o of list) if (typeof o.offset !== 'bigint' || o.offset < 0n) throw new InvalidArgumentError('offsets', `offset for ${o.topic}-${o.partition} must be a bigint ≥ 0n, got ${String(o.offset)}`);
    if (list.length === 0) return;
    const membership = this.membership as GroupMembership;
    await commitOffsets(this.groupOffsets(groupId), list, {
      retry,
      deadline: deadlineIn(this.context.clock, this.defaultApiTimeoutMs, `committing offsets of group "${groupId}"`),
      // Kafka's generationIfStable: a subscribed member commits in its current generation only;
      // a manually assigned consumer commits without one.
      generation: () => (this.subscription === undefined ? { memberId: '', generationId: -1 } : membership.commitGeneration()),
      stillOwned: () => this.subscription === undefined || list.every((o) => this.fetcher.get(o.topic, o.partition) !== undefined),
      subscribed: this.subscription !== undefined,
    });
  }

  /**
   * Commits without waiting (Kafka's commitAsync): failures go to `onComplete` instead of being
   * thrown; later commits are never overtaken by earlier ones on the same coordinator connection.
   */
  commitAsync(offsets?: ReadonlyArray<TopicPartition & { offset: bigint }>, onComplete?: (error: unknown) => void): void {
    // Not retried (Kafka's commitAsync): a retry could overtake a later commit.
    this.commitOffsets(offsets, false).then(
      () => onComplete?.(undefined),
      (e: unknown) => onComplete?.(e),
    );
  }

  /**
   * One poll: runs the group protocol if needed, auto-commits the previous poll's positions when
   * due, and returns up to `max.poll.records` records (waiting up to `timeoutMs` for some).
   */
  async poll(options: { timeoutMs?: number; maxRecords?: number } = {}): Promise<ConsumerRecord[]> {
    this.ensureOpen();
    this.throwPendingError();
    const clock = this.context.clock;
    const timeoutMs = options.timeoutMs ?? 1000;
    const deadline = clock.now() + Math.max(0, timeoutMs);
    if (this.membership !== undefined) this.membership.lastPollAt = clock.now();
    // Kafka's maybeAutoCommitOffsetsAsync: the previous poll's positions are captured now and
    // committed in the background, so an unreachable coordinator never stalls polling. While one
    // auto-commit is in flight, the newest positions wait for it (so commits never go backwards).
    if (this.autoCommit && clock.now() - this.lastAutoCommit >= this.autoCommitIntervalMs) {
      this.lastAutoCommit = clock.now();
      this.queuedAutoCommit = this.currentPositions();
      if (this.autoCommitInFlight === undefined) this.startAutoCommit();
    }
    const max = options.maxRecords ?? this.maxPollRecords;
    // Kafka's poll loop: the group protocol is driven without waiting for the coordinator (a
    // rebalance goes on in the background and is completed by this or a later poll), records of
    // owned partitions are returned, and nothing waits past the timeout.
    for (;;) {
      if (this.subscription !== undefined) await (this.membership as GroupMembership).ensureActive();
      await this.resolvePositionsWithin(deadline);
      const records = this.fetcher.take(max);
      this.fetcher.fetch();
      if (records.length > 0) return records;
      const remaining = deadline - clock.now();
      if (remaining <= 0 || this.closed) return records;
      await this.waitForData(remaining);
      this.throwPendingError();
    }
  }

  private throwPendingError(): void {
    if (this.pendingError === undefined) return;
    const e = this.pendingError;
    this.pendingError = undefined;
    throw e;
  }

  /**
   * Resolves unknown positions within the poll's timeout (Kafka's updateFetchPositions(timer)): a
   * coordinator that cannot answer in time leaves them unknown for the next poll, never an error.
   */
  private async resolvePositionsWithin(deadline: number): Promise<void> {
    const timeoutMs = Math.max(0, deadline - this.context.clock.now());
    try {
      await this.resolvePositions({ at: deadline, timeoutMs, operation: 'fetching committed offsets for poll' });
    } catch (e) {
      if (this.closed || !SamsaError.is(e) || !e.retriable) throw e;
      this.context.logger?.debug('positions not resolved within the poll timeout; retrying at the next poll', { error: e.message });
    }
  }

  /** Reads poll by poll; each batch can be committed. Ends when the consumer closes. */
  async *batches(options: { timeoutMs?: number } = {}): AsyncGenerator<ConsumerBatch, void, undefined> {
    while (!this.closed) {
      let records: ConsumerRecord[];
      try {
        records = await this.poll(options);
      } catch (e) {
        // Closed while a poll was waiting: the iteration ends, as records$ completes.
        if (this.closed) return;
        throw e;
      }
      if (this.closed) return;
      const positions = records.length === 0 ? [] : this.positionsAfter(records);
      const lag = this.lag().reduce((sum, l) => sum + l.lag, 0n);
      yield { records, lag, commit: () => this.commit(positions) };
    }
  }

  /**
   * Records as an Observable. Each subscriber drives its own poll loop that asks for the next
   * poll only after the previous records were delivered synchronously, so a slow subscriber
   * slows fetching instead of growing a buffer. Completes when the consumer closes.
   */
  get records$(): Observable<ConsumerRecord> {
    return new Observable<ConsumerRecord>((subscriber) => {
      let active = true;
      void (async () => {
        try {
          while (active && !this.closed) {
            const records = await this.poll();
            for (let i = 0; i < records.length; i++) {
              if (!active) {
                // The subscriber left mid-poll: records it never received must be read again.
                this.rewind(records.slice(i));
                return;
              }
              subscriber.next(records[i] as ConsumerRecord);
            }
          }
          subscriber.complete();
        } catch (e) {
          if (this.closed && e instanceof ClosedError) subscriber.complete();
          else subscriber.error(e);
        }
      })();
      return () => {
        active = false;
      };
    });
  }

  /** Commits (with auto-commit), leaves the group (unless static), and leaves the network. */
  async close(): Promise<void> {
    if (this.closed) return;
    const leaving = (async () => {
      await this.autoCommitInFlight;
      if (this.autoCommit && this.membership !== undefined) await this.autoCommitNow();
      await this.membership?.close();
    })();
    // Kafka's close() waits at most 30 s for its last commit and its leave; a coordinator that never
    // answers (the network gone) does not hold it longer. What is still running then ends unheard.
    leaving.catch(() => undefined);
    let timer: TimerHandle | undefined;
    const timeout = new Promise<void>((resolve) => (timer = this.context.clock.setTimeout(resolve, CLOSE_TIMEOUT_MS)));
    try {
      await Promise.race([leaving, timeout]);
    } finally {
      if (timer !== undefined) this.context.clock.clearTimeout(timer);
      this.closed = true;
      this.fetcher.stop();
      this.wake();
      this.connection.close();
    }
  }

  // ------------------------------------------------------------------ internals

  /** Seeks each partition back to its first record in `records` (records handed out but never delivered). */
  private rewind(records: readonly ConsumerRecord[]): void {
    const first = new Map<string, ConsumerRecord>();
    for (const r of records) if (!first.has(tpKey(r.topic, r.partition))) first.set(tpKey(r.topic, r.partition), r);
    for (const r of first.values()) {
      const state = this.fetcher.get(r.topic, r.partition);
      if (state !== undefined) this.fetcher.seek(state, r.offset);
    }
  }

  private positionsAfter(records: readonly ConsumerRecord[]): Array<TopicPartition & { offset: bigint }> {
    const last = new Map<string, TopicPartition & { offset: bigint }>();
    for (const r of records) last.set(tpKey(r.topic, r.partition), { topic: r.topic, partition: r.partition, offset: r.offset + 1n });
    return [...last.values()];
  }

  private currentPositions(): Array<TopicPartition & { offset: bigint }> {
    return [...this.fetcher.partitions.values()].filter((s) => s.position !== undefined).map((s) => ({ topic: s.topic, partition: s.partition, offset: s.position as bigint }));
  }

  private startAutoCommit(): void {
    const offsets = this.queuedAutoCommit;
    this.queuedAutoCommit = undefined;
    if (offsets === undefined || this.closed) return;
    this.autoCommitInFlight = this.autoCommitNow(offsets)
      .catch((e: unknown) => {
        this.pendingError ??= e;
      })
      .finally(() => {
        this.autoCommitInFlight = undefined;
        this.startAutoCommit();
      });
  }

  private async autoCommitNow(offsets?: Array<TopicPartition & { offset: bigint }>): Promise<void> {
    if (this.subscription !== undefined && !(this.membership?.active ?? false)) return;
    const owned = offsets?.filter((o) => this.fetcher.get(o.topic, o.partition) !== undefined);
    try {
      await this.commit(owned);
    } catch (e) {
      // An auto-commit that loses to a rebalance is retried after the rejoin, as Kafka does; one that
      // fails on a retriable error (coordinator unreachable) is retried at the next interval, as
      // Kafka's auto-commit failures are logged, never thrown from poll.
      if (!(SamsaError.is(e) && (e.retriable || ['REBALANCE_IN_PROGRESS', 'ILLEGAL_GENERATION', 'UNKNOWN_MEMBER_ID'].includes(e.code)))) throw e;
    }
  }

  private async subscribedTopics(): Promise<string[]> {
    const sub = this.subscription;
    if (sub === undefined) return [];
    if (!(sub.topics instanceof RegExp)) {
      // Subscribing to a missing topic asks for auto-creation, like Kafka's metadata request.
      await this.metadata.refresh(sub.topics as string[], true).catch(() => undefined);
      return [...sub.topics];
    }
    const image = await this.metadata.refresh();
    const pattern = sub.topics;
    return Object.values(image.topics)
      .filter((t) => !t.internal && pattern.test(t.name))
      .map((t) => t.name)
      .sort();
  }

  private async onRevoke(partitions: TopicPartition[]): Promise<void> {
    if (this.autoCommit) {
      // An auto-commit still being retried goes first: it carries older positions than these.
      await this.autoCommitInFlight;
      const positions = partitions.map((tp) => this.fetcher.get(tp.topic, tp.partition)).filter((s): s is PartitionState => s?.position !== undefined).map((s) => ({ topic: s.topic, partition: s.partition, offset: s.position as bigint }));
      if (positions.length > 0) await this.commit(positions).catch(() => undefined);
    }
    await this.listener.onPartitionsRevoked?.(partitions);
    const revoked = new Set(partitions.map((p) => tpKey(p.topic, p.partition)));
    this.fetcher.assign(this.assignment().filter((p) => !revoked.has(tpKey(p.topic, p.partition))));
  }

  private async onAssign(partitions: TopicPartition[]): Promise<void> {
    this.fetcher.assign([...this.assignment(), ...partitions]);
    await this.listener.onPartitionsAssigned?.(partitions);
  }

  private async onLost(partitions: TopicPartition[]): Promise<void> {
    await this.listener.onPartitionsLost?.(partitions);
    const lost = new Set(partitions.map((p) => tpKey(p.topic, p.partition)));
    this.fetcher.assign(this.assignment().filter((p) => !lost.has(tpKey(p.topic, p.partition))));
  }

  /**
   * Resolves unknown positions: a pending reset (seekToBeginning/End, out of range) by
   * ListOffsets; otherwise the committed offset first, then auto.offset.reset.
   */
  private async resolvePositions(deadline?: CallDeadline): Promise<void> {
    const unresolved = [...this.fetcher.partitions.values()].filter((s) => s.position === undefined);
    if (unresolved.length === 0) return;
    await this.metadata.refresh(unique(unresolved.map((s) => s.topic))).catch(() => undefined);
    const awaitingReset = unresolved.filter((s) => s.resetStrategy !== undefined);
    const unknown = unresolved.filter((s) => s.resetStrategy === undefined);
    let needReset = unknown;
    if (this.options.groupId !== undefined && unknown.length > 0) {
      const { offsets, unstable } = await this.fetchCommitted(unknown.map((s) => ({ topic: s.topic, partition: s.partition })), deadline);
      const byKey = new Map(offsets.map((c) => [tpKey(c.topic, c.partition), c.offset]));
      // A partition whose offsets a transaction still holds keeps no position yet (KIP-447): it
      // is neither reset nor fetched, and asked again on a later poll.
      const waiting = new Set(unstable.map((p) => tpKey(p.topic, p.partition)));
      needReset = [];
      for (const s of unknown) {
        if (waiting.has(tpKey(s.topic, s.partition))) continue;
        const offset = byKey.get(tpKey(s.topic, s.partition)) ?? -1n;
        if (offset >= 0n) s.position = offset;
        else needReset.push(s);
      }
      if (waiting.size > 0 && needReset.length === 0 && awaitingReset.length === 0) await sleep(this.context.clock, this.retryBackoffMs);
    }
    if (needReset.length > 0 && this.resetPolicy === 'none') {
      throw new KafkaProtocolError('OFFSET_OUT_OF_RANGE', `no committed offset for ${needReset.map((s) => `${s.topic}-${s.partition}`).join(', ')} and auto.offset.reset is none; commit or seek first`);
    }
    if (needReset.length > 0) await this.resetTo(needReset, this.resetPolicy as 'earliest' | 'latest');
    else if (awaitingReset.length > 0) await this.resolveResets(awaitingReset);
  }

  /**
   * Asks for an offset reset of these partitions and tries once to resolve it. As Kafka's
   * `requestOffsetReset`, the position is unknown from now on (nothing is fetched from the old
   * one): what ListOffsets cannot answer yet (leader unknown or down) stays pending and is
   * resolved by the next poll before it fetches, never left at a stale position.
   */
  private async resetTo(states: readonly PartitionState[], policy: 'earliest' | 'latest'): Promise<void> {
    for (const s of states) this.fetcher.requestReset(s, policy);
    await this.resolveResets([...this.fetcher.partitions.values()].filter((s) => s.resetStrategy !== undefined));
  }

  /** One ListOffsets round for partitions awaiting a reset; after a backoff when some stay pending. */
  private async resolveResets(states: readonly PartitionState[]): Promise<void> {
    const byLeader = new Map<number, PartitionState[]>();
    for (const s of states) {
      const leader = this.metadata.leaderOf(s.topic, s.partition);
      if (leader < 0) continue;
      byLeader.set(leader, [...(byLeader.get(leader) ?? []), s]);
    }
    await Promise.all(
      [...byLeader].map(async ([leader, list]) => {
        const asked = new Map(list.map((s) => [tpKey(s.topic, s.partition), { state: s, strategy: s.resetStrategy }]));
        // A leader that is down or moved leaves these resets pending: retried below after a backoff.
        const response = await this.connection.request<Message & { partitions: Array<{ topic: string; partition: number; offset: bigint; error?: string }> }>(brokerNode(leader), { type: 'listOffsets.request', isolationLevel: this.options.isolationLevel ?? 'read_uncommitted', partitions: list.map((s) => ({ topic: s.topic, partition: s.partition, timestamp: s.resetStrategy === 'latest' ? -1 : -2 })) }, this.requestTimeoutMs).catch(() => ({ partitions: [] }));
        for (const r of response.partitions) {
          const s = this.fetcher.get(r.topic, r.partition);
          const request = asked.get(tpKey(r.topic, r.partition));
          // Applied only while this very reset is still pending (Kafka's maybeSeekUnvalidated): a seek,
          // another reset or a reassignment in the meantime wins over a late answer.
          if (s === undefined || request === undefined || s !== request.state || s.resetStrategy !== request.strategy) continue;
          if (r.error === undefined && r.offset >= 0n) this.fetcher.seek(s, r.offset);
        }
      }),
    );
    if (states.some((s) => s.resetStrategy !== undefined && this.fetcher.get(s.topic, s.partition) === s)) {
      this.refreshMetadata();
      await sleep(this.context.clock, this.retryBackoffMs);
    }
  }

  private onOutOfRange(state: PartitionState, _logStartOffset: bigint): void {
    if (this.resetPolicy === 'none') {
      this.pendingError = new KafkaProtocolError('OFFSET_OUT_OF_RANGE', `offset ${state.position} of ${state.topic}-${state.partition} is out of range and auto.offset.reset is none; seek to a valid offset`);
      this.wake();
      return;
    }
    void this.resetTo([state], this.resetPolicy).then(
      () => this.fetcher.fetch(),
      () => undefined,
    );
  }

  private refreshMetadata(): void {
    if (this.metadataRefreshing || this.closed) return;
    this.metadataRefreshing = true;
    void this.metadata
      .refresh()
      .catch(() => undefined)
      .then(() => sleep(this.context.clock, this.retryBackoffMs))
      .finally(() => {
        this.metadataRefreshing = false;
        this.fetcher.fetch();
      });
  }

  private waitForData(timeoutMs: number): Promise<void> {
    return new Promise<void>((resolve) => {
      this.waiters.push(resolve);
      this.wakeTimer ??= this.context.clock.setTimeout(() => {
        this.wakeTimer = undefined;
        this.wake();
      }, timeoutMs);
    });
  }

  private wake(): void {
    if (this.wakeTimer !== undefined && this.waiters.length > 0) {
      this.context.clock.clearTimeout(this.wakeTimer);
      this.wakeTimer = undefined;
    }
    const waiters = this.waiters;
    this.waiters = [];
    for (const w of waiters) w();
  }

  private state(partition: TopicPartition): PartitionState {
    const s = this.fetcher.get(partition.topic, partition.partition);
    if (s === undefined) throw new InvalidArgumentError('partition', `${partition.topic}-${partition.partition} is not assigned to this consumer`);
    return s;
  }

  private requireGroup(operation: string): string {
    if (this.options.groupId === undefined) throw new InvalidArgumentError('groupId', `${operation} needs a groupId; pass groupId to cluster.consumer()`);
    return this.options.groupId;
  }

  private ensureOpen(): void {
    if (this.closed) throw new ClosedError(`consumer "${this.clientId}"`);
  }
}

function unique(items: readonly string[]): string[] {
  return [...new Set(items)];
}
