/**
 * A follower broker's fetcher for one leader broker (Kafka's `ReplicaFetcherThread`): one fetch
 * request in flight at a time, covering every partition this broker follows from that leader.
 * Each partition is fetched from its log end offset with the epoch of its last batch
 * (`lastFetchedEpoch`) and the leader epoch the follower believes in (`currentLeaderEpoch`), so
 * the leader can fence a stale follower and report a diverging log. The answer for each partition
 * goes to its partition actor, which appends, truncates or takes the high watermark; then the next
 * fetch goes out at once. The leader parks a fetch that finds nothing new for up to
 * `replica.fetch.wait.max.ms`, so a caught-up follower costs one request per wait, not a spin.
 *
 * Failures back off `replica.fetch.backoff.ms`: a partition whose answer is an error (not the
 * leader, a stale epoch…) is left out until then, and a request that fails as a whole (the leader
 * is down, or no answer within `replica.socket.timeout.ms`) delays the whole fetcher.
 */
import type { Clock, TimerHandle } from '../../clock.ts';
import type { PartitionLog } from '../../log/partitionLog.ts';
import type { FetchPartitionResult, FetchRequest } from '../../protocol/index.ts';
import type { PartitionEvent } from '../partition/partition.machine.ts';

/** Replica fetch settings (Kafka broker config keys in comments; defaults in `replication.ts`). */
export interface ReplicaFetchSettings {
  /** `replica.fetch.wait.max.ms`. */
  readonly waitMaxMs: number;
  /** `replica.fetch.min.bytes`. */
  readonly minBytes: number;
  /** `replica.fetch.max.bytes`, per partition. */
  readonly maxBytes: number;
  /** `replica.fetch.response.max.bytes`. */
  readonly responseMaxBytes: number;
  /** `replica.fetch.backoff.ms`. */
  readonly backoffMs: number;
  /** `replica.socket.timeout.ms`: a fetch without an answer this long has failed. */
  readonly socketTimeoutMs: number;
}

/** What a fetcher needs from its broker. */
export interface ReplicaFetcherHost {
  /** The follower broker's id (sent as `replicaId`). */
  readonly brokerId: number;
  readonly clock: Clock;
  readonly settings: ReplicaFetchSettings;
  /** A fresh correlation id; the broker routes the answer with it to {@link ReplicaFetcher.onResponse}. */
  nextCorrelationId(): number;
  /** Sends the fetch request to the leader. */
  send(request: FetchRequest): void;
  /** The local log of a followed partition. */
  logOf(topic: string, partition: number): PartitionLog | undefined;
  /** Hands a partition's answer to its partition actor. */
  deliver(topic: string, partition: number, event: Extract<PartitionEvent, { type: 'replica.fetched' }>): void;
}

interface Followed {
  readonly topic: string;
  readonly partition: number;
  leaderEpoch: number;
  /** Left out of fetches until this time (after an error). */
  delayedUntil: number;
  /** The high watermark and log start the partition actor was last handed (-1 before any). */
  lastHighWatermark: bigint;
  lastLogStartOffset: bigint;
}

interface InFlight {
  readonly correlationId: number;
  /** What each partition was fetched with, to drop answers that no longer apply. */
  readonly sent: Map<string, { leaderEpoch: number; fetchOffset: bigint }>;
  readonly timer: TimerHandle;
}

const keyOf = (topic: string, partition: number): string => `${topic}\u0000${partition}`;

/** The fetcher of one (follower broker, leader broker) pair. See the module comment. */
export class ReplicaFetcher {
  private readonly partitions = new Map<string, Followed>();
  private inFlight: InFlight | undefined;
  private wakeTimer: TimerHandle | undefined;
  private wakeAt = Infinity;
  private backoffUntil = 0;
  private stopped = false;

  constructor(
    /** The leader broker this fetcher fetches from. */
    readonly leaderId: number,
    private readonly host: ReplicaFetcherHost,
  ) {}

  /** Number of partitions followed through this fetcher. */
  get size(): number {
    return this.partitions.size;
  }

  /** Follows a partition (or updates the leader epoch it is fetched under) and fetches. */
  add(topic: string, partition: number, leaderEpoch: number): void {
    const key = keyOf(topic, partition);
    const existing = this.partitions.get(key);
    if (existing !== undefined) {
      if (existing.leaderEpoch !== leaderEpoch) {
        existing.leaderEpoch = leaderEpoch;
        existing.delayedUntil = 0;
        existing.lastHighWatermark = -1n;
        existing.lastLogStartOffset = -1n;
      }
    } else this.partitions.set(key, { topic, partition, leaderEpoch, delayedUntil: 0, lastHighWatermark: -1n, lastLogStartOffset: -1n });
    this.fetch();
  }

  /** Stops following a partition; an answer for it still in flight is dropped. */
  remove(topic: string, partition: number): void {
    this.partitions.delete(keyOf(topic, partition));
  }

  /** Stops for good: timers are cleared and late answers are ignored. */
  stop(): void {
    this.stopped = true;
    if (this.inFlight !== undefined) this.host.clock.clearTimeout(this.inFlight.timer);
    this.inFlight = undefined;
    if (this.wakeTimer !== undefined) this.host.clock.clearTimeout(this.wakeTimer);
    this.wakeTimer = undefined;
    this.partitions.clear();
  }

  /** The leader's process stopped: the fetch in flight fails now (then backs off), not at its timeout. */
  onDisconnected(): void {
    if (this.inFlight !== undefined) this.onFailure(this.inFlight.correlationId);
  }

  /** Whether `correlationId` is this fetcher's request in flight. */
  owns(correlationId: number): boolean {
    return this.inFlight?.correlationId === correlationId;
  }

  /** Sends the next fetch unless one is in flight or every partition is backing off. */
  fetch(): void {
    if (this.stopped || this.inFlight !== undefined) return;
    const now = this.host.clock.now();
    if (now < this.backoffUntil) {
      this.wakeUpAt(this.backoffUntil);
      return;
    }
    const settings = this.host.settings;
    const partitions: Array<FetchRequest['partitions'][number]> = [];
    const sent = new Map<string, { leaderEpoch: number; fetchOffset: bigint }>();
    let nextWake = Infinity;
    for (const [key, p] of this.partitions) {
      if (p.delayedUntil > now) {
        nextWake = Math.min(nextWake, p.delayedUntil);
        continue;
      }
      const log = this.host.logOf(p.topic, p.partition);
      if (log === undefined) continue;
      const fetchOffset = log.logEndOffset;
      const lastFetchedEpoch = log.leaderEpochCache.latestEpoch() ?? -1;
      partitions.push({ topic: p.topic, partition: p.partition, fetchOffset, partitionMaxBytes: settings.maxBytes, currentLeaderEpoch: p.leaderEpoch, lastFetchedEpoch });
      sent.set(key, { leaderEpoch: p.leaderEpoch, fetchOffset });
    }
    if (partitions.length === 0) {
      if (nextWake !== Infinity) this.wakeUpAt(nextWake);
      return;
    }
    const correlationId = this.host.nextCorrelationId();
    const timer = this.host.clock.setTimeout(() => {
      if (this.inFlight?.correlationId === correlationId) this.onFailure(correlationId);
    }, settings.socketTimeoutMs + settings.waitMaxMs);
    this.inFlight = { correlationId, sent, timer };
    this.host.send({ type: 'fetch.request', correlationId, replicaId: this.host.brokerId, maxWaitMs: settings.waitMaxMs, minBytes: settings.minBytes, maxBytes: settings.responseMaxBytes, isolationLevel: 'read_uncommitted', partitions });
  }

  /** The leader answered: every partition's result goes to its actor, then the next fetch goes out. */
  onResponse(correlationId: number, results: readonly FetchPartitionResult[]): void {
    const inFlight = this.inFlight;
    if (this.stopped || inFlight === undefined || inFlight.correlationId !== correlationId) return;
    this.host.clock.clearTimeout(inFlight.timer);
    this.inFlight = undefined;
    const now = this.host.clock.now();
    for (const r of results) {
      const key = keyOf(r.topic, r.partition);
      const p = this.partitions.get(key);
      const sent = inFlight.sent.get(key);
      // Unfollowed or re-targeted while the fetch was out: the answer no longer applies.
      if (p === undefined || sent === undefined || p.leaderEpoch !== sent.leaderEpoch) continue;
      // Nothing new for an idle partition: its actor would change nothing, so it is not woken.
      if (r.records.length === 0 && r.error === undefined && r.divergingEpoch === undefined && r.highWatermark === p.lastHighWatermark && r.logStartOffset === p.lastLogStartOffset) continue;
      p.lastHighWatermark = r.error === undefined ? r.highWatermark : -1n;
      p.lastLogStartOffset = r.error === undefined ? r.logStartOffset : -1n;
      const endBefore = this.host.logOf(r.topic, r.partition)?.logEndOffset;
      this.host.deliver(r.topic, r.partition, {
        type: 'replica.fetched',
        leaderEpoch: sent.leaderEpoch,
        fetchOffset: sent.fetchOffset,
        records: r.records,
        highWatermark: r.highWatermark,
        logStartOffset: r.logStartOffset,
        ...(r.divergingEpoch === undefined ? {} : { divergingEpoch: r.divergingEpoch }),
        ...(r.error === undefined ? {} : { error: r.error }),
      });
      // Errors wait before the next try. So does a log mismatch the partition could not resolve
      // (its log did not change): asking again at once would get the same answer, forever.
      const mismatch = r.error === 'OFFSET_OUT_OF_RANGE' || r.divergingEpoch !== undefined;
      const unresolved = mismatch && this.host.logOf(r.topic, r.partition)?.logEndOffset === endBefore;
      if ((r.error !== undefined && !mismatch) || unresolved) p.delayedUntil = now + this.host.settings.backoffMs;
    }
    this.fetch();
  }

  /**
   * The partition refused what the leader sent (a corrupt batch): it is left out of fetches for
   * `replica.fetch.backoff.ms`, as Kafka delays a partition whose fetch failed, instead of asking
   * at once for the same bytes again.
   */
  delay(topic: string, partition: number): void {
    const p = this.partitions.get(keyOf(topic, partition));
    if (p !== undefined) p.delayedUntil = this.host.clock.now() + this.host.settings.backoffMs;
  }

  /** The request failed as a whole (refused, or no answer in time): back off, then fetch again. */
  onFailure(correlationId: number): void {
    const inFlight = this.inFlight;
    if (this.stopped || inFlight === undefined || inFlight.correlationId !== correlationId) return;
    this.host.clock.clearTimeout(inFlight.timer);
    this.inFlight = undefined;
    this.backoffUntil = this.host.clock.now() + this.host.settings.backoffMs;
    this.fetch();
  }

  private wakeUpAt(at: number): void {
    if (this.wakeTimer !== undefined && this.wakeAt <= at) return;
    if (this.wakeTimer !== undefined) this.host.clock.clearTimeout(this.wakeTimer);
    this.wakeAt = at;
    this.wakeTimer = this.host.clock.setTimeout(() => {
      this.wakeTimer = undefined;
      this.wakeAt = Infinity;
      this.fetch();
    }, Math.max(0, at - this.host.clock.now()));
  }
}
