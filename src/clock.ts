/**
 * Time, injected. Nothing in samsa reads the wall clock or schedules a timer except through a
 * {@link Clock}, so a whole cluster can run on a {@link SimulatedClock} and replay exactly.
 */

/** Opaque handle of a scheduled timer. */
export type TimerHandle = { readonly __timer: unique symbol } | number | object;

/** A source of time and timers. Timestamps and durations are milliseconds. */
export interface Clock {
  /** Milliseconds since the Unix epoch. Never decreases on a {@link SimulatedClock}. */
  now(): number;
  /** Runs `callback` once, `delayMs` from now. */
  setTimeout(callback: () => void, delayMs: number): TimerHandle;
  /** Cancels a timer; cancelling a fired or unknown timer does nothing. */
  clearTimeout(handle: TimerHandle): void;
}

/**
 * Resolves after `ms` on `clock`. Every wait in samsa goes through a {@link Clock}, so on a
 * {@link SimulatedClock} it ends exactly when time is advanced past it.
 */
export function sleep(clock: Clock, ms: number): Promise<void> {
  return new Promise((resolve) => clock.setTimeout(resolve, ms));
}

/** The real clock: `Date.now()` and Node's timers. */
export class SystemClock implements Clock {
  now(): number {
    return Date.now();
  }
  setTimeout(callback: () => void, delayMs: number): TimerHandle {
    // A zero delay means "on the next turn of the event loop": Node clamps setTimeout to 1 ms,
    // which would make every such turn (a producer's drain) cost a millisecond.
    if (delayMs <= 0) return { immediate: setImmediate(callback) };
    return setTimeout(callback, delayMs);
  }
  clearTimeout(handle: TimerHandle): void {
    if (typeof handle === 'object' && handle !== null && 'immediate' in handle) clearImmediate((handle as { immediate: ReturnType<typeof setImmediate> }).immediate);
    else clearTimeout(handle as ReturnType<typeof setTimeout>);
  }
}

interface SimulatedTimer {
  readonly id: number;
  readonly at: number;
  readonly callback: () => void;
}

/**
 * A clock that moves only when told to. Timers fire in due-time order, ties in the order they
 * were scheduled, so runs are deterministic. Time never moves backwards.
 */
export class SimulatedClock implements Clock {
  private current: number;
  private nextId = 1;
  private readonly timers = new Map<number, SimulatedTimer>();

  /** Starts at `startMs` (default 0, the epoch). */
  constructor(startMs = 0) {
    this.current = startMs;
  }

  now(): number {
    return this.current;
  }

  setTimeout(callback: () => void, delayMs: number): TimerHandle {
    const id = this.nextId++;
    this.timers.set(id, { id, at: this.current + Math.max(0, delayMs), callback });
    return id;
  }

  clearTimeout(handle: TimerHandle): void {
    if (typeof handle === 'number') this.timers.delete(handle);
  }

  /** Number of timers waiting to fire. */
  get pendingTimers(): number {
    return this.timers.size;
  }

  /** Due time of the earliest pending timer, or undefined when none is pending. */
  nextTimerAt(): number | undefined {
    let min: number | undefined;
    for (const t of this.timers.values()) if (min === undefined || t.at < min) min = t.at;
    return min;
  }

  /**
   * Moves time forward by `ms`, firing every timer that falls due on the way, each at its own
   * due time (timers scheduled by a firing timer fire too if they fall inside the window).
   */
  advance(ms: number): void {
    if (!(ms >= 0)) throw new RangeError(`cannot advance a SimulatedClock by ${ms} ms; time only moves forward`);
    this.runUntil(this.current + ms);
  }

  /** Sets the time to `ms` (must not be in the past), firing due timers on the way. */
  set(ms: number): void {
    if (ms < this.current) throw new RangeError(`cannot set a SimulatedClock back from ${this.current} to ${ms}; time only moves forward`);
    this.runUntil(ms);
  }

  private runUntil(target: number): void {
    let firedAtSameTime = 0;
    for (;;) {
      let next: SimulatedTimer | undefined;
      for (const t of this.timers.values()) {
        if (t.at <= target && (next === undefined || t.at < next.at || (t.at === next.at && t.id < next.id))) next = t;
      }
      if (next === undefined) break;
      this.timers.delete(next.id);
      firedAtSameTime = next.at > this.current ? 0 : firedAtSameTime + 1;
      // Timers that keep rescheduling themselves at the same instant would never let time move.
      if (firedAtSameTime > 1_000_000) throw new RangeError(`SimulatedClock livelock: over a million timers fired at t=${this.current} without time moving`);
      this.current = Math.max(this.current, next.at);
      next.callback();
    }
    this.current = target;
  }
}
