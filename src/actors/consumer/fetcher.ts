/**
 * The consumer's fetcher: keeps one fetch request in flight per leader broker for the assigned,
 * unpaused partitions that have nothing buffered, decodes the returned batches into records, and
 * holds them per partition until the application takes them. Holding at most one completed fetch
 * per partition is the backpressure: a slow application stops the fetching, it never makes the
 * buffer grow without bound.
 */
import { decodeRecordBatchInto, isControlBatch, LOG_OVERHEAD, readBatchHeader } from '../../log/recordBatch.ts';
import type { RecordHeader } from '../../log/recordBatch.ts';
import { brokerNode } from '../../transport/transport.ts';
import type { Message } from '../../transport/transport.ts';
import type { ClientConnection } from '../client/connection.ts';
import type { MetadataCache } from '../client/metadataCache.ts';
import type { FetchPartitionResult } from '../protocol.ts';

/** A record as the application receives it. */
export interface ConsumerRecord {
  readonly topic: string;
  readonly partition: number;
  readonly offset: bigint;
  readonly timestamp: number;
  readonly key: Uint8Array | null;
  readonly value: Uint8Array | null;
  readonly headers: readonly RecordHeader[];
}

/** Per-partition consumption state. */
export interface PartitionState {
  readonly topic: string;
  readonly partition: number;
  /** Next offset to hand to the application; undefined until resolved (committed or reset). */
  position: bigint | undefined;
  paused: boolean;
  /** Last high watermark (or LSO for read_committed) reported by the leader. */
  highWatermark: bigint;
  logStartOffset: bigint;
  buffered: ConsumerRecord[];
  /** Index of the next buffered record to hand out. */
  next: number;
  /** Where the next fetch starts while records are buffered (past compacted gaps and control records). */
  nextFetchOffset: bigint | undefined;
  /** Fetch responses held in the buffer: at most 2 (one being taken, one prefetched). */
  chunks: number;
  inFlight: boolean;
}

/** Fetch settings (Kafka consumer config). */
export interface FetchSettings {
  readonly fetchMinBytes: number;
  readonly fetchMaxWaitMs: number;
  readonly fetchMaxBytes: number;
  readonly maxPartitionFetchBytes: number;
  readonly isolationLevel: 'read_uncommitted' | 'read_committed';
  readonly requestTimeoutMs: number;
  /** `retry.backoff.ms`: how long a broker whose fetch failed is left alone. */
  readonly retryBackoffMs: number;
}

/** Callbacks the fetcher needs from its consumer. */
export interface FetcherHooks {
  /** A partition's fetch offset is out of range: apply auto.offset.reset. */
  outOfRange(state: PartitionState, logStartOffset: bigint): void;
  /** Data arrived (wake waiting pollers). */
  dataArrived(): void;
  /** Leadership moved or is unknown: refresh metadata. */
  metadataStale(): void;
}

function key(topic: string, partition: number): string {
  return `${topic}\u0000${partition}`;
}

/** The fetcher. */
export class Fetcher {
  readonly partitions = new Map<string, PartitionState>();
  private readonly inFlightBrokers = new Set<number>();
  /** Brokers whose last fetch failed, and until when they are left alone. */
  private readonly backoffUntil = new Map<number, number>();
  private backoffTimer = false;
  private stopped = false;

  constructor(
    private readonly connection: ClientConnection,
    private readonly metadata: MetadataCache,
    private readonly settings: FetchSettings,
    private readonly hooks: FetcherHooks,
  ) {}

  /** State of a partition, if assigned. */
  get(topic: string, partition: number): PartitionState | undefined {
    return this.partitions.get(key(topic, partition));
  }

  /** Replaces the assignment; kept partitions keep their position and buffer. */
  assign(list: ReadonlyArray<{ topic: string; partition: number }>): void {
    const wanted = new Set(list.map((tp) => key(tp.topic, tp.partition)));
    for (const k of [...this.partitions.keys()]) if (!wanted.has(k)) this.partitions.delete(k);
    for (const tp of list) {
      const k = key(tp.topic, tp.partition);
      if (!this.partitions.has(k)) this.partitions.set(k, { topic: tp.topic, partition: tp.partition, position: undefined, paused: false, highWatermark: -1n, logStartOffset: -1n, buffered: [], next: 0, nextFetchOffset: undefined, chunks: 0, inFlight: false });
    }
  }

  /** Sets the position and drops anything buffered for the partition. */
  seek(state: PartitionState, offset: bigint): void {
    state.position = offset;
    state.buffered = [];
    state.next = 0;
    state.nextFetchOffset = undefined;
    state.chunks = 0;
  }

  /** Offset the next fetch for a partition starts at: after what is buffered, else the position. */
  private fetchOffsetOf(state: PartitionState): bigint | undefined {
    return state.chunks > 0 ? state.nextFetchOffset : state.position;
  }

  /** Number of buffered records not yet handed out. */
  get bufferedCount(): number {
    let n = 0;
    for (const s of this.partitions.values()) n += s.buffered.length - s.next;
    return n;
  }

  /**
   * Takes up to `max` buffered records, round-robin over partitions, advancing positions.
   */
  take(max: number): ConsumerRecord[] {
    const out: ConsumerRecord[] = [];
    for (const state of this.partitions.values()) {
      if (out.length >= max) break;
      if (state.paused) continue;
      while (state.next < state.buffered.length && out.length < max) {
        const record = state.buffered[state.next++] as ConsumerRecord;
        out.push(record);
        state.position = record.offset + 1n;
      }
      if (state.next >= state.buffered.length) {
        state.buffered = [];
        state.next = 0;
        state.chunks = 0;
        if (state.nextFetchOffset !== undefined && state.position !== undefined && state.nextFetchOffset > state.position) state.position = state.nextFetchOffset;
        state.nextFetchOffset = undefined;
      }
    }
    return out;
  }

  /** Sends a fetch to every leader that has fetchable partitions and no fetch in flight. */
  fetch(): void {
    if (this.stopped) return;
    const byLeader = new Map<number, PartitionState[]>();
    for (const state of this.partitions.values()) {
      // One response may wait in the buffer while the next is fetched (Kafka's fetcher pipelines
      // the same way); never more, so a slow application bounds what is held per partition.
      if (state.paused || state.position === undefined || state.inFlight || state.chunks >= 2) continue;
      const leader = this.metadata.leaderOf(state.topic, state.partition);
      if (leader < 0) {
        this.hooks.metadataStale();
        continue;
      }
      if (this.inFlightBrokers.has(leader)) continue;
      const until = this.backoffUntil.get(leader);
      if (until !== undefined) {
        if (until > this.connection.clock.now()) {
          this.retryAfterBackoff(until);
          continue;
        }
        this.backoffUntil.delete(leader);
      }
      let list = byLeader.get(leader);
      if (list === undefined) byLeader.set(leader, (list = []));
      list.push(state);
    }
    for (const [leader, states] of byLeader) this.send(leader, states);
  }

  private retryAfterBackoff(until: number): void {
    if (this.backoffTimer) return;
    this.backoffTimer = true;
    this.connection.clock.setTimeout(() => {
      this.backoffTimer = false;
      this.fetch();
    }, Math.max(0, until - this.connection.clock.now()));
  }

  /** Stops fetching for good. */
  stop(): void {
    this.stopped = true;
  }

  private send(leader: number, states: PartitionState[]): void {
    this.inFlightBrokers.add(leader);
    for (const s of states) s.inFlight = true;
    const partitions = states.map((s) => ({ topic: s.topic, partition: s.partition, fetchOffset: this.fetchOffsetOf(s) as bigint, partitionMaxBytes: this.settings.maxPartitionFetchBytes, currentLeaderEpoch: this.metadata.leaderEpochOf(s.topic, s.partition) }));
    const requested = new Map(partitions.map((p) => [key(p.topic, p.partition), p.fetchOffset]));
    this.connection
      .request<Message & { partitions: FetchPartitionResult[] }>(
        brokerNode(leader),
        { type: 'fetch.request', replicaId: -1, maxWaitMs: this.settings.fetchMaxWaitMs, minBytes: this.settings.fetchMinBytes, maxBytes: this.settings.fetchMaxBytes, isolationLevel: this.settings.isolationLevel, partitions },
        this.settings.requestTimeoutMs + this.settings.fetchMaxWaitMs,
      )
      .then(
        (response) => {
          let arrived = false;
          for (const r of response.partitions) {
            const state = this.partitions.get(key(r.topic, r.partition));
            // Ignore data for partitions unassigned or sought elsewhere while the fetch was out.
            const from = requested.get(key(r.topic, r.partition));
            if (state === undefined || from === undefined || this.fetchOffsetOf(state) !== from) continue;
            if (r.error !== undefined) {
              if (r.error === 'OFFSET_OUT_OF_RANGE') this.hooks.outOfRange(state, r.logStartOffset);
              else {
                // Leadership moved (NOT_LEADER_OR_FOLLOWER, a stale epoch…): wait retry.backoff.ms
                // for fresh metadata instead of asking the same broker again at once.
                this.backoffUntil.set(leader, this.connection.clock.now() + this.settings.retryBackoffMs);
                this.hooks.metadataStale();
              }
              continue;
            }
            state.highWatermark = r.highWatermark;
            state.logStartOffset = r.logStartOffset;
            if (this.absorb(state, r.records, from)) arrived = true;
          }
          if (arrived) this.hooks.dataArrived();
        },
        () => {
          // A failed broker (refused, timed out) is retried after retry.backoff.ms, never in a tight loop.
          this.backoffUntil.set(leader, this.connection.clock.now() + this.settings.retryBackoffMs);
          this.hooks.metadataStale();
        },
      )
      .finally(() => {
        this.inFlightBrokers.delete(leader);
        for (const s of states) s.inFlight = false;
        this.fetch();
      });
  }

  /** Decodes batches into the partition buffer; returns whether any record was added. */
  private absorb(state: PartitionState, bytes: Uint8Array, from: bigint): boolean {
    const records: ConsumerRecord[] = [];
    let next = from;
    let p = 0;
    while (p + LOG_OVERHEAD <= bytes.length) {
      const header = readBatchHeader(bytes, p);
      const size = header.batchLength + LOG_OVERHEAD;
      if (p + size > bytes.length) break;
      const last = header.baseOffset + BigInt(header.lastOffsetDelta);
      if (last >= next && !isControlBatch(header)) {
        const { topic, partition } = state;
        const decoded = decodeRecordBatchInto(bytes, p, (offset, _delta, timestamp, k, v, headers): ConsumerRecord => ({ topic, partition, offset, timestamp, key: k, value: v, headers }));
        for (const r of decoded.records) if (r.offset >= from) records.push(r);
      }
      // Compaction and control records leave gaps: continue after the batch even when it gave nothing.
      if (last + 1n > next) next = last + 1n;
      p += size;
    }
    if (records.length === 0) {
      if (next > from) {
        if (state.chunks > 0) state.nextFetchOffset = next;
        else state.position = next;
      }
      return false;
    }
    state.buffered = state.chunks === 0 ? records : state.buffered.slice(state.next).concat(records);
    state.next = 0;
    state.chunks++;
    // Positions advance as records are taken; a trailing gap is skipped once they all are.
    state.nextFetchOffset = next;
    return true;
  }
}
