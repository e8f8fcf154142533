/**
 * Non-negative safe integers (timestamps, window bounds) as 8 big-endian bytes, the order-keeping
 * layout window, session and join stores sort by. Written byte by byte: these run for every
 * record of a windowed aggregation or join, and a DataView per call costs more than the work.
 */

const HIGH = 2 ** 32;

/** Writes `value` (0 ≤ value ≤ 2^53 − 1) as 8 big-endian bytes at `at`. */
export function putLong(out: Uint8Array, at: number, value: number): void {
  const hi = Math.floor(value / HIGH);
  const lo = value >>> 0;
  out[at] = hi >>> 24;
  out[at + 1] = (hi >>> 16) & 0xff;
  out[at + 2] = (hi >>> 8) & 0xff;
  out[at + 3] = hi & 0xff;
  out[at + 4] = lo >>> 24;
  out[at + 5] = (lo >>> 16) & 0xff;
  out[at + 6] = (lo >>> 8) & 0xff;
  out[at + 7] = lo & 0xff;
}

/** Reads what {@link putLong} wrote. */
export function getLong(bytes: Uint8Array, at: number): number {
  const hi = ((bytes[at] as number) << 24) | ((bytes[at + 1] as number) << 16) | ((bytes[at + 2] as number) << 8) | (bytes[at + 3] as number);
  const lo = ((bytes[at + 4] as number) << 24) | ((bytes[at + 5] as number) << 16) | ((bytes[at + 6] as number) << 8) | (bytes[at + 7] as number);
  return (hi >>> 0) * HIGH + (lo >>> 0);
}
