/**
 * Fetches held until there is something to answer, as Kafka's DelayedFetch purgatory: a fetch
 * that gathered fewer than `fetch.min.bytes` waits up to its `fetch.max.wait.ms`. News on one of
 * its partitions runs it again with the time it has left; when the wait is over it runs once more
 * and is answered with whatever there is.
 */
import type { Clock, TimerHandle } from '../../clock.ts';
import type { FetchRequest } from '../../protocol/index.ts';
import type { NodeId } from '../../transport/transport.ts';

/** What parking needs of its broker. */
export interface FetchParkingContext {
  readonly clock: Clock;
  /** A fresh key (the broker's request ids). */
  readonly nextKey: () => number;
  /** Runs a fetch again; `mayPark` false answers it whatever it finds. */
  readonly fetch: (request: FetchRequest, from: NodeId, mayPark: boolean) => void;
}

interface ParkedFetch {
  readonly request: FetchRequest;
  readonly from: NodeId;
  readonly deadline: number;
  timer: TimerHandle | undefined;
}

/** See the module comment. */
export class FetchParking {
  private readonly parked = new Map<number, ParkedFetch>();

  constructor(private readonly context: FetchParkingContext) {}

  /** Holds `request` from `from` for its `maxWaitMs`. */
  park(request: FetchRequest, from: NodeId): void {
    const { clock } = this.context;
    const key = this.context.nextKey();
    const parked: ParkedFetch = { request, from, deadline: clock.now() + request.maxWaitMs, timer: undefined };
    parked.timer = clock.setTimeout(() => {
      if (this.parked.delete(key)) this.context.fetch(request, from, false);
    }, request.maxWaitMs);
    this.parked.set(key, parked);
  }

  /**
   * Runs again the parked fetches that include the partition. A follower reads up to the log end,
   * so only new data completes its fetch (as Kafka's DelayedFetch counts bytes); a consumer also
   * gains data when the high watermark (or last stable offset) moves.
   */
  wake(topic: string, partition: number, logEndMoved: boolean): void {
    const { clock } = this.context;
    // A snapshot: a woken fetch may park again at once (a new entry) and must not be woken twice.
    for (const [key, parked] of [...this.parked]) {
      if (!logEndMoved && (parked.request.replicaId ?? -1) >= 0) continue;
      if (!parked.request.partitions.some((p) => p.topic === topic && p.partition === partition)) continue;
      this.parked.delete(key);
      if (parked.timer !== undefined) clock.clearTimeout(parked.timer);
      const remaining = parked.deadline - clock.now();
      this.context.fetch({ ...parked.request, maxWaitMs: Math.max(0, remaining) }, parked.from, remaining > 0);
    }
  }

  /** Drops every parked fetch unanswered (the process crashed or stopped). */
  stop(): void {
    for (const p of this.parked.values()) if (p.timer !== undefined) this.context.clock.clearTimeout(p.timer);
    this.parked.clear();
  }
}
