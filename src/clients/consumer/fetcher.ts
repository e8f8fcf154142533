/**
 * The consumer's fetcher: keeps one fetch request in flight per leader broker for the assigned,
 * unpaused partitions, and holds each partition's completed fetches as the bytes the broker sent
 * until the application takes records. Records are decoded a batch at a time as they are taken
 * (Kafka's `CompletedFetch`), so a poll creates only the records it returns and nothing fetched
 * ahead lives on as objects. Holding at most two completed fetches per partition (one being taken,
 * one prefetched) is the backpressure: a slow application stops the fetching, it never makes the
 * buffer grow without bound.
 */
import { concatBytes } from '../../record/bytes.ts';
import { readControlBatch } from '../../record/controlRecords.ts';
import { assertBatchValid, decodeRecordBatchInto, isControlBatch, isTransactional, LOG_OVERHEAD, readBatchHeader } from '../../record/recordBatch.ts';
import { CorruptRecordError } from '../../errors.ts';
import type { RecordHeader } from '../../record/recordBatch.ts';
import { brokerNode } from '../../transport/transport.ts';
import type { Message } from '../../transport/transport.ts';
import type { ClientConnection } from '../connection.ts';
import type { MetadataCache } from '../metadataCache.ts';
import type { FetchPartitionResult } from '../../protocol/index.ts';

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

/** The bytes of one fetch response for a partition, taken batch by batch. */
interface CompletedFetch {
  readonly bytes: Uint8Array;
  /** Byte position of the next batch to decode. */
  position: number;
  /** Records below this offset were already taken (a fetch starts at the batch holding its offset). */
  readonly from: bigint;
  /** read_committed: the aborted transactions the broker listed, by first offset. */
  readonly aborted: ReadonlyArray<{ readonly producerId: bigint; readonly firstOffset: bigint }>;
  /** Index of the next aborted transaction not yet reached. */
  abortedIndex: number;
  /** Producers whose aborted transaction is being skipped (until their ABORT marker). */
  readonly abortedProducers: Set<bigint>;
}

/** Per-partition consumption state. */
export interface PartitionState {
  readonly topic: string;
  readonly partition: number;
  /** Next offset to hand to the application; undefined until resolved (committed or reset). */
  position: bigint | undefined;
  /**
   * An offset reset asked for (seekToBeginning/End, auto.offset.reset) and not resolved yet
   * (Kafka's `SubscriptionState.requestOffsetReset`): the position stays unknown, so nothing is
   * fetched from a stale one, until ListOffsets answers; a later seek cancels it.
   */
  resetStrategy: 'earliest' | 'latest' | undefined;
  paused: boolean;
  /** Last high watermark (or LSO for read_committed) reported by the leader. */
  highWatermark: bigint;
  logStartOffset: bigint;
  /** Completed fetches not yet fully taken: at most 2 (one being taken, one prefetched). */
  fetches: CompletedFetch[];
  /** Records of the batch being taken, and the index of the next one to hand out. */
  current: ConsumerRecord[];
  next: number;
  /** Where the next fetch starts while fetches are held (past compacted gaps and control records). */
  nextFetchOffset: bigint | undefined;
  inFlight: boolean;
}

const NO_RECORDS: ConsumerRecord[] = [];

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
      if (!this.partitions.has(k)) this.partitions.set(k, { topic: tp.topic, partition: tp.partition, position: undefined, resetStrategy: undefined, paused: false, highWatermark: -1n, logStartOffset: -1n, fetches: [], current: NO_RECORDS, next: 0, nextFetchOffset: undefined, inFlight: false });
    }
  }

  /** Sets the position (cancelling a pending reset) and drops anything buffered for the partition. */
  seek(state: PartitionState, offset: bigint): void {
    state.position = offset;
    state.resetStrategy = undefined;
    state.fetches = [];
    state.current = NO_RECORDS;
    state.next = 0;
    state.nextFetchOffset = undefined;
  }

  /**
   * Marks the partition as awaiting an offset reset: the position becomes unknown and what was
   * buffered is dropped, so nothing is fetched or returned until the reset is resolved.
   */
  requestReset(state: PartitionState, strategy: 'earliest' | 'latest'): void {
    this.seek(state, 0n);
    state.position = undefined;
    state.resetStrategy = strategy;
  }

  /** Offset the next fetch for a partition starts at: after what is held, else the position. */
  private fetchOffsetOf(state: PartitionState): bigint | undefined {
    return state.fetches.length > 0 ? state.nextFetchOffset : state.position;
  }

  /**
   * Takes up to `max` records, partition by partition, advancing positions; records are decoded
   * from the held fetches only as they are taken.
   */
  take(max: number): ConsumerRecord[] {
    // Runs of decoded batches, joined once at the end (one allocation of the final size).
    const runs: ConsumerRecord[][] = [];
    let taken = 0;
    for (const state of this.partitions.values()) {
      if (taken >= max) break;
      if (state.paused) continue;
      while (taken < max) {
        const current = state.current;
        if (state.next < current.length) {
          const end = Math.min(current.length, state.next + max - taken);
          taken += end - state.next;
          // The position is derived once per run, not per record.
          state.position = (current[end - 1] as ConsumerRecord).offset + 1n;
          if (state.next === 0 && end === current.length) {
            // A whole decoded batch is handed over as it is, and let go of here: what the
            // application does with the array cannot reach this state.
            runs.push(current);
            state.current = NO_RECORDS;
            state.next = 0;
          } else {
            runs.push(current.slice(state.next, end));
            state.next = end;
          }
          continue;
        }
        let decoded: boolean;
        try {
          decoded = this.decodeNext(state);
        } catch (e) {
          // Kafka's FetchCollector: records already collected in this poll are returned and the
          // error is raised by the next poll, which meets the same batch again (nothing skipped).
          if (runs.length > 0) return runs.length === 1 ? (runs[0] as ConsumerRecord[]) : ([] as ConsumerRecord[]).concat(...runs);
          throw e;
        }
        if (!decoded) break;
      }
      if (state.next >= state.current.length && state.fetches.length === 0) {
        state.current = NO_RECORDS;
        state.next = 0;
        // Everything held is taken: skip a trailing gap (compaction, control records) as well.
        if (state.nextFetchOffset !== undefined && state.position !== undefined && state.nextFetchOffset > state.position) state.position = state.nextFetchOffset;
        state.nextFetchOffset = undefined;
      }
    }
    if (runs.length === 1) return runs[0] as ConsumerRecord[];
    return runs.length === 0 ? [] : ([] as ConsumerRecord[]).concat(...runs);
  }

  /** Whether a partition still holds fetched data not yet taken. */
  private holds(state: PartitionState): boolean {
    return state.next < state.current.length || state.fetches.length > 0;
  }

  /**
   * Decodes the next batch with records at or past the position into `state.current`; returns
   * false when the held fetches are exhausted.
   */
  private decodeNext(state: PartitionState): boolean {
    for (;;) {
      const fetch = state.fetches[0];
      if (fetch === undefined) return false;
      const bytes = fetch.bytes;
      const p = fetch.position;
      if (p + LOG_OVERHEAD > bytes.length) {
        state.fetches.shift();
        continue;
      }
      const from = state.position !== undefined && state.position > fetch.from ? state.position : fetch.from;
      const { topic, partition } = state;
      let header;
      try {
        header = readBatchHeader(bytes, p);
      } catch (e) {
        throw corruptAt(state, from, e);
      }
      const size = header.batchLength + LOG_OVERHEAD;
      if (p + size > bytes.length) {
        // A batch cut by the fetch size is refetched whole; the first one never is (the broker
        // always sends at least one whole batch), so a cut first batch is a corrupt length.
        if (p === 0 && size > 0) throw corruptAt(state, from, new CorruptRecordError(`batch length ${header.batchLength} runs past the ${bytes.length} bytes the broker sent`, p));
        state.fetches.shift();
        continue;
      }
      const last = header.baseOffset + BigInt(header.lastOffsetDelta);
      if (this.settings.isolationLevel === 'read_committed' && header.producerId >= 0n) {
        // Control batches are read here: a corrupt one must fail as any other (CRC first).
        try {
          if (isControlBatch(header)) assertBatchValid(bytes, p);
        } catch (e) {
          throw corruptAt(state, from, e);
        }
        fetch.position = p + size;
        if (skipAsAborted(fetch, bytes, p, header, last)) continue;
      }
      if (last < from || isControlBatch(header)) {
        fetch.position = p + size;
        continue;
      }
      let records;
      try {
        records = decodeRecordBatchInto(bytes, p, (offset, _delta, timestamp, k, v, headers): ConsumerRecord => ({ topic, partition, offset, timestamp, key: k, value: v, headers })).records;
      } catch (e) {
        // The position stays at this batch: every poll fails here until the application seeks past it.
        fetch.position = p;
        throw corruptAt(state, from, e);
      }
      fetch.position = p + size;
      if (header.baseOffset < from) records = records.filter((r) => r.offset >= from);
      if (records.length === 0) continue;
      state.current = records;
      state.next = 0;
      return true;
    }
  }

  /** Sends a fetch to every leader that has fetchable partitions and no fetch in flight. */
  fetch(): void {
    if (this.stopped) return;
    const byLeader = new Map<number, PartitionState[]>();
    for (const state of this.partitions.values()) {
      // One response may wait in the buffer while the next is fetched (Kafka's fetcher pipelines
      // the same way); never more, so a slow application bounds what is held per partition.
      if (state.paused || state.position === undefined || state.inFlight || state.fetches.length >= 2) continue;
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
            // read_committed consumers track (and compute lag from) the last stable offset.
            state.highWatermark = this.settings.isolationLevel === 'read_committed' && r.lastStableOffset >= 0n ? r.lastStableOffset : r.highWatermark;
            state.logStartOffset = r.logStartOffset;
            // The runs are views of the leader's log: copy them once, as a network receive would, so the
            // keys and values handed to the application are its own and changing one never touches a log.
            if (this.absorb(state, concatBytes(r.records), from, r.abortedTransactions ?? [])) arrived = true;
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

  /**
   * Holds a fetch response's bytes for the partition; returns whether it may carry records. Only
   * batch headers are read here, to find where the next fetch starts.
   */
  private absorb(state: PartitionState, bytes: Uint8Array, from: bigint, aborted: ReadonlyArray<{ producerId: bigint; firstOffset: bigint }>): boolean {
    let next = from;
    let records = false;
    let p = 0;
    while (p + LOG_OVERHEAD <= bytes.length) {
      let header;
      try {
        header = readBatchHeader(bytes, p);
      } catch {
        // A damaged header: hold the bytes so that taking records reports it at this offset.
        records = true;
        break;
      }
      const size = header.batchLength + LOG_OVERHEAD;
      if (p + size > bytes.length) {
        if (p === 0 && size > 0) records = true; // a corrupt length (see decodeNext)
        break;
      }
      const last = header.baseOffset + BigInt(header.lastOffsetDelta);
      if (last >= next && !isControlBatch(header)) records = true;
      // Compaction and control records leave gaps: continue after the batch even when it gave nothing.
      if (last + 1n > next) next = last + 1n;
      p += size;
    }
    if (!records) {
      if (next > from) {
        if (this.holds(state)) state.nextFetchOffset = next;
        else state.position = next;
      }
      return false;
    }
    state.fetches.push({ bytes, position: 0, from, aborted: [...aborted].sort((a, b) => (a.firstOffset < b.firstOffset ? -1 : a.firstOffset > b.firstOffset ? 1 : 0)), abortedIndex: 0, abortedProducers: new Set() });
    // Positions advance as records are taken; a trailing gap is skipped once they all are.
    state.nextFetchOffset = next;
    return true;
  }
}

/**
 * The consumer's error for a batch it cannot decode: non-retriable, naming the partition and the
 * offset it is stuck at (Kafka: "Received exception when fetching the next record from <tp>. If
 * needed, please seek past the record to continue consumption").
 */
function corruptAt(state: PartitionState, offset: bigint, e: unknown): CorruptRecordError {
  const reason = e instanceof CorruptRecordError ? e.reason : e instanceof Error ? e.message : String(e);
  return new CorruptRecordError(reason, e instanceof CorruptRecordError ? e.position : undefined, { topic: state.topic, partition: state.partition, offset });
}

/**
 * Kafka's read_committed filter (the consumer's `CompletedFetch`): aborted transactions that begin
 * at or before this batch become active; a producer's ABORT marker ends its; a transactional batch
 * of a producer with an active aborted transaction is skipped. Returns true to skip the batch.
 */
function skipAsAborted(fetch: CompletedFetch, bytes: Uint8Array, position: number, header: ReturnType<typeof readBatchHeader>, last: bigint): boolean {
  while (fetch.abortedIndex < fetch.aborted.length && (fetch.aborted[fetch.abortedIndex] as { firstOffset: bigint }).firstOffset <= last) {
    fetch.abortedProducers.add((fetch.aborted[fetch.abortedIndex] as { producerId: bigint }).producerId);
    fetch.abortedIndex++;
  }
  if (isControlBatch(header)) {
    const content = readControlBatch(bytes, position);
    if (content.kind === 'transactionMarker' && content.result === 'ABORT') fetch.abortedProducers.delete(header.producerId);
    return true;
  }
  return isTransactional(header) && fetch.abortedProducers.has(header.producerId);
}
