/**
 * CRC-32C (Castagnoli), the checksum of record batch v2 (Kafka's `Crc32C`), computed natively.
 */
import { crc32c as nativeCrc32c } from '@node-rs/crc32';

/**
 * CRC-32C of `bytes[start, end)` as an unsigned 32-bit number. Reads through a view: no copy.
 * `start` and `end` are clamped like `Uint8Array.prototype.subarray`.
 */
export function crc32c(bytes: Uint8Array, start = 0, end = bytes.length): number {
  const view = start === 0 && end === bytes.length ? bytes : bytes.subarray(start, end);
  // The binding returns an unsigned u32; `>>> 0` keeps the contract even if that ever changes.
  return nativeCrc32c(view) >>> 0;
}
