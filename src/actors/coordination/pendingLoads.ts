/**
 * Partition takeover, shared by every keyed host (`keyedHost.ts`: the group and transaction
 * coordinators): a partition of an internal topic (`__consumer_offsets`, `__transaction_state`)
 * that a broker comes to lead is loaded only once everything in its log at that moment is
 * committed. A new leader's tail may hold records its predecessor wrote but never got replicated
 * (and never acknowledged); a later failover can still cut them off, so a host answering from
 * them could hand out state that is then lost. Meanwhile the host answers
 * COORDINATOR_LOAD_IN_PROGRESS, as Kafka does while it loads.
 */
import type { Clock, TimerHandle } from '../../clock.ts';

/** Log end and high watermark of a local partition. */
export interface PartitionOffsets {
  readonly logEndOffset: bigint;
  readonly highWatermark: bigint;
}

/** How often a partition being taken over checks whether its log tail is committed yet. */
const CHECK_INTERVAL_MS = 10;

/** Partitions taken over but not loaded yet, each with a value of the caller's (e.g. its coordinator epoch). */
export class PendingLoads<T> {
  private readonly pending = new Map<number, { readonly value: T; timer: TimerHandle | undefined }>();

  constructor(
    private readonly clock: Clock,
    private readonly offsets: (partition: number) => PartitionOffsets,
  ) {}

  /**
   * Starts the takeover of `partition` (replacing one in progress): `load` runs once the log end
   * found now is committed, at once when it already is.
   */
  start(partition: number, value: T, load: () => void): void {
    this.cancel(partition);
    const until = this.offsets(partition).logEndOffset;
    const entry: { readonly value: T; timer: TimerHandle | undefined } = { value, timer: undefined };
    this.pending.set(partition, entry);
    const check = (): void => {
      entry.timer = undefined;
      if (this.pending.get(partition) !== entry) return;
      if (this.offsets(partition).highWatermark < until) {
        entry.timer = this.clock.setTimeout(check, CHECK_INTERVAL_MS);
        return;
      }
      this.pending.delete(partition);
      load();
    };
    check();
  }

  /** Whether `partition` is being taken over. */
  has(partition: number): boolean {
    return this.pending.has(partition);
  }

  /** The value `partition`'s takeover was started with, if one is in progress. */
  valueOf(partition: number): T | undefined {
    return this.pending.get(partition)?.value;
  }

  /** Gives up the takeover of `partition`, if one is in progress: its load never runs. */
  cancel(partition: number): void {
    const entry = this.pending.get(partition);
    if (entry === undefined) return;
    if (entry.timer !== undefined) this.clock.clearTimeout(entry.timer);
    this.pending.delete(partition);
  }

  /** Gives up every takeover in progress. */
  clear(): void {
    for (const partition of [...this.pending.keys()]) this.cancel(partition);
  }
}
