/**
 * Window definitions, as Kafka Streams' TimeWindows, SlidingWindows, SessionWindows and
 * JoinWindows, with Kafka's boundaries: time windows are epoch-aligned and half-open
 * `[start, end)`; sliding windows and join windows include both ends; sessions grow and merge by
 * an inactivity gap. Grace is always stated (Kafka ≥ 3.0 has no implicit 24 h default): a window
 * takes records until stream time reaches `end + grace`, later ones are dropped as late.
 */
import { TopologyError } from '../errors.ts';

/** A window of a windowed key: `start` inclusive; `end` exclusive for time windows, inclusive for sliding windows and sessions. */
export interface Window {
  readonly start: number;
  readonly end: number;
}

/** A key with the window its aggregate belongs to (Kafka's `Windowed<K>`). */
export interface Windowed<K> {
  readonly key: K;
  readonly window: Window;
}

/** Tumbling or hopping windows of `sizeMs`, advancing by `advanceMs` (Kafka's TimeWindows). */
export interface TimeWindows {
  readonly type: 'time';
  readonly sizeMs: number;
  readonly advanceMs: number;
  readonly graceMs: number;
}

/** Windows of `timeDifferenceMs` defined by the records themselves (Kafka's SlidingWindows). */
export interface SlidingWindows {
  readonly type: 'sliding';
  readonly timeDifferenceMs: number;
  readonly graceMs: number;
}

/** Per-key sessions separated by `inactivityGapMs` of silence (Kafka's SessionWindows). */
export interface SessionWindows {
  readonly type: 'session';
  readonly inactivityGapMs: number;
  readonly graceMs: number;
}

/** What `windowedBy` takes. */
export type WindowDefinition = TimeWindows | SlidingWindows | SessionWindows;

/** Records of two streams join when the other's timestamp is within [ts − before, ts + after] (Kafka's JoinWindows). */
export interface JoinWindows {
  readonly type: 'join';
  readonly beforeMs: number;
  readonly afterMs: number;
  readonly graceMs: number;
}

function check(op: string, name: string, value: unknown, min: number): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < min) {
    throw new TopologyError(`${op}() needs ${name} as an integer number of milliseconds ≥ ${min}, got ${JSON.stringify(value)}${name === 'graceMs' ? '; state the grace period explicitly (0 for none): Kafka ≥ 3.0 has no default' : ''}`);
  }
  return value;
}

/** Tumbling windows: `[n·size, (n+1)·size)`, each record in exactly one. */
export function tumbling(options: { readonly sizeMs: number; readonly graceMs: number }): TimeWindows {
  const sizeMs = check('tumbling', 'sizeMs', options?.sizeMs, 1);
  return { type: 'time', sizeMs, advanceMs: sizeMs, graceMs: check('tumbling', 'graceMs', options.graceMs, 0) };
}

/** Hopping windows: `[n·advance, n·advance + size)`, a record in ⌈size / advance⌉ of them. */
export function hopping(options: { readonly sizeMs: number; readonly advanceMs: number; readonly graceMs: number }): TimeWindows {
  const sizeMs = check('hopping', 'sizeMs', options?.sizeMs, 1);
  const advanceMs = check('hopping', 'advanceMs', options.advanceMs, 1);
  if (advanceMs > sizeMs) throw new TopologyError(`hopping() needs advanceMs ≤ sizeMs (got advance ${advanceMs} > size ${sizeMs}); records between windows would belong to none`);
  return { type: 'time', sizeMs, advanceMs, graceMs: check('hopping', 'graceMs', options.graceMs, 0) };
}

/** Sliding windows of `timeDifferenceMs`: each record's window `[ts − d, ts]` and the ones it ends (both ends inclusive). */
export function sliding(options: { readonly timeDifferenceMs: number; readonly graceMs: number }): SlidingWindows {
  return { type: 'sliding', timeDifferenceMs: check('sliding', 'timeDifferenceMs', options?.timeDifferenceMs, 1), graceMs: check('sliding', 'graceMs', options.graceMs, 0) };
}

/** Session windows: records of a key at most `inactivityGapMs` apart share a session; sessions merge when a record bridges them. */
export function session(options: { readonly inactivityGapMs: number; readonly graceMs: number }): SessionWindows {
  return { type: 'session', inactivityGapMs: check('session', 'inactivityGapMs', options?.inactivityGapMs, 1), graceMs: check('session', 'graceMs', options.graceMs, 0) };
}

/** Join windows of ±`timeDifferenceMs` (`JoinWindows.ofTimeDifferenceAndGrace`); `before`/`after` narrow one side. */
export function joinWindows(options: { readonly timeDifferenceMs: number; readonly graceMs: number; readonly beforeMs?: number; readonly afterMs?: number }): JoinWindows {
  const diff = check('joinWindows', 'timeDifferenceMs', options?.timeDifferenceMs, 0);
  const beforeMs = options.beforeMs === undefined ? diff : check('joinWindows', 'beforeMs', options.beforeMs, 0);
  const afterMs = options.afterMs === undefined ? diff : check('joinWindows', 'afterMs', options.afterMs, 0);
  return { type: 'join', beforeMs, afterMs, graceMs: check('joinWindows', 'graceMs', options.graceMs, 0) };
}

/**
 * The time windows holding `timestamp`, oldest first: starts from
 * `max(0, ⌊(ts − size + advance) / advance⌋·advance)` up to `ts`, as Kafka's TimeWindows.windowsFor.
 */
export function timeWindowsFor(windows: TimeWindows, timestamp: number): Window[] {
  const { sizeMs, advanceMs } = windows;
  let start = Math.max(0, timestamp - sizeMs + advanceMs);
  start -= start % advanceMs;
  const out: Window[] = [];
  for (; start <= timestamp; start += advanceMs) out.push({ start, end: start + sizeMs });
  return out;
}

/** How long a store keeps windows: until they closed (size + grace), or longer when asked. */
export function windowRetentionMs(windows: WindowDefinition | JoinWindows, retentionMs?: number): number {
  const span = windows.type === 'time' ? windows.sizeMs : windows.type === 'sliding' ? windows.timeDifferenceMs : windows.type === 'session' ? windows.inactivityGapMs : windows.beforeMs + windows.afterMs;
  const needed = span + windows.graceMs;
  if (retentionMs === undefined) return needed;
  if (retentionMs < needed) throw new TopologyError(`the store's retentionMs ${retentionMs} is shorter than the window size plus grace (${needed}); it would drop windows still open`);
  return retentionMs;
}
