/**
 * A small benchmark harness: each case runs a few rounds and reports the median, next to a
 * reference measured in the same run, so ratios (not absolute numbers) are what we compare.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

export interface Measurement {
  readonly name: string;
  readonly records: number;
  readonly bytes: number;
  readonly seconds: number;
  readonly recordsPerSecond: number;
  readonly megabytesPerSecond: number;
  readonly reference?: string;
  readonly ratio?: number;
  readonly target?: string;
}

/** The median of `values` (the upper one of the two middle values for an even count). */
export function median(values: readonly number[]): number {
  const sorted = [...values].sort((x, y) => x - y);
  return sorted[Math.floor(sorted.length / 2)] as number;
}

/** Runs `body` `rounds` times (after one warm-up) and returns the median duration in seconds. */
export function timeMedian(rounds: number, body: (round: number) => void, setup?: (round: number) => void): number {
  const times: number[] = [];
  for (let round = -1; round < rounds; round++) {
    setup?.(round);
    const start = process.hrtime.bigint();
    body(round);
    const seconds = Number(process.hrtime.bigint() - start) / 1e9;
    if (round >= 0) times.push(seconds);
  }
  times.sort((a, b) => a - b);
  return times[Math.floor(times.length / 2)] as number;
}

/** Builds a measurement from a count of records and bytes moved in `seconds`. */
export function measurement(name: string, records: number, bytes: number, seconds: number, extra: Partial<Measurement> = {}): Measurement {
  return { name, records, bytes, seconds, recordsPerSecond: records / seconds, megabytesPerSecond: bytes / seconds / 1048576, ...extra };
}

function fmt(n: number): string {
  return n >= 100 ? Math.round(n).toLocaleString('en-US') : n.toFixed(2);
}

/** Prints measurements as a table and writes them as JSON to bench/results/. */
export function report(title: string, rows: readonly Measurement[], file: string): void {
  console.log(`\n${title}`);
  const header = ['case', 'records/s', 'MB/s', 'vs reference', 'target'];
  const lines = rows.map((r) => [r.name, fmt(r.recordsPerSecond), fmt(r.megabytesPerSecond), r.ratio === undefined ? '' : `${(r.ratio * 100).toFixed(0)}% of ${r.reference}`, r.target ?? '']);
  const widths = header.map((h, i) => Math.max(h.length, ...lines.map((l) => (l[i] as string).length)));
  const row = (cells: string[]): string => cells.map((c, i) => (i === 0 ? c.padEnd(widths[i] as number) : c.padStart(widths[i] as number))).join('  ');
  console.log(row(header));
  console.log(widths.map((w) => '-'.repeat(w)).join('  '));
  for (const l of lines) console.log(row(l));
  const memory = memoryNow();
  console.log(`memory: peak RSS so far ${memory.peakRssMB} MB; now RSS ${memory.rssMB} MB, JS heap ${memory.heapUsedMB} MB, buffers ${memory.arrayBuffersMB} MB`);
  const dir = join(import.meta.dirname, 'results');
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, file), JSON.stringify({ title, node: process.version, date: new Date().toISOString(), rows, memory }, null, 2));
}

/** The process's memory in MB: its peak resident set so far (benchmarks run one after another) and now. */
function memoryNow(): { peakRssMB: number; rssMB: number; heapUsedMB: number; arrayBuffersMB: number } {
  const usage = process.memoryUsage();
  const mb = (bytes: number): number => Math.round(bytes / 1048576);
  // resourceUsage().maxRSS is in KiB.
  return { peakRssMB: Math.round(process.resourceUsage().maxRSS / 1024), rssMB: mb(usage.rss), heapUsedMB: mb(usage.heapUsed), arrayBuffersMB: mb(usage.arrayBuffers) };
}

/** The workload of the cluster-side benchmarks: a 100-byte value (Kafka's 2014 shape) and 4,096 distinct 16-byte keys. */
export const BENCH_VALUE = new Uint8Array(100).map((_, i) => (i * 11) & 0xff);
export const BENCH_KEYS = Array.from({ length: 4096 }, (_, i) => {
  const k = new Uint8Array(16);
  new DataView(k.buffer).setUint32(0, i);
  return k;
});


/** A way to force a garbage collection, for a memory figure that is not noise (undefined when the runtime refuses). */
export function forcedGc(): (() => void) | undefined {
  const existing = (globalThis as { gc?: () => void }).gc;
  if (existing !== undefined) return existing;
  try {
    setFlagsFromString('--expose-gc');
    return runInNewContext('gc') as () => void;
  } catch {
    return undefined;
  }
}
