import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SimulatedClock } from '../../src/clock.ts';
import { PartitionLog } from '../../src/log/partitionLog.ts';
import { decodeRecordBatch, encodeRecordBatch, readBatchHeader, LOG_OVERHEAD } from '../../src/record/recordBatch.ts';
import type { CompressionCodec } from '../../src/record/compression.ts';
import { FileStorage } from '../../src/log/storage/fileStorage.ts';
import { MemoryStorage } from '../../src/log/storage/memoryStorage.ts';
import type { Storage } from '../../src/log/storage/storage.ts';

const enc = new TextEncoder();
const dec = new TextDecoder();

/** A simple record for tests: string key/value (null allowed). */
export interface TestRecord {
  key: string | null;
  value: string | null;
  timestamp?: number;
}

/** Encodes one batch of test records. */
export function batchOf(records: TestRecord[], options: { compression?: CompressionCodec; timestamp?: number } = {}): Uint8Array {
  return encodeRecordBatch({
    compression: options.compression ?? 'none',
    records: records.map((r, i) => ({
      timestamp: r.timestamp ?? options.timestamp ?? 1_000 + i,
      key: r.key === null ? null : enc.encode(r.key),
      value: r.value === null ? null : enc.encode(r.value),
    })),
  });
}

/** `count` records with keys `k<i>` and values `v<i>`, starting at `from`. */
export function numbered(count: number, from = 0, timestamp?: number): TestRecord[] {
  return Array.from({ length: count }, (_, i) => ({ key: `k${from + i}`, value: `v${from + i}`, ...(timestamp === undefined ? {} : { timestamp }) }));
}

/** A decoded record as strings, with its offset. */
export interface ReadRecord {
  offset: bigint;
  key: string | null;
  value: string | null;
  timestamp: number;
}

/** Decodes every record in back-to-back batches. */
export function decodeAll(bytes: Uint8Array): ReadRecord[] {
  const out: ReadRecord[] = [];
  let p = 0;
  while (p < bytes.length) {
    const batch = decodeRecordBatch(bytes, p);
    for (const r of batch.records) out.push({ offset: r.offset, key: r.key === null ? null : dec.decode(r.key), value: r.value === null ? null : dec.decode(r.value), timestamp: r.timestamp });
    p += batch.header.batchLength + LOG_OVERHEAD;
  }
  return out;
}

/** Reads the whole log from its start, as a consumer would, advancing past empty batches. */
export function readAll(log: PartitionLog, maxBytes = 64 * 1024): ReadRecord[] {
  const out: ReadRecord[] = [];
  let offset = log.logStartOffset;
  while (offset < log.logEndOffset) {
    const { records } = log.read(offset, { maxBytes });
    if (records.length === 0) break;
    let p = 0;
    while (p < records.length) {
      const header = readBatchHeader(records, p);
      const next = header.baseOffset + BigInt(header.lastOffsetDelta) + 1n;
      for (const r of decodeAll(records.subarray(p, p + header.batchLength + LOG_OVERHEAD))) if (r.offset >= offset) out.push(r);
      offset = next;
      p += header.batchLength + LOG_OVERHEAD;
    }
  }
  return out;
}

/** A storage backend for the shared suites, plus how to clean it up. */
export interface StorageFixture {
  name: string;
  make(): { storage: Storage; cleanup(): void };
}

/** The two backends every log suite runs against. */
export const storageFixtures: StorageFixture[] = [
  { name: 'memory', make: () => ({ storage: new MemoryStorage(), cleanup: () => {} }) },
  {
    name: 'file',
    make: () => {
      const dir = mkdtempSync(join(tmpdir(), 'samsa-log-'));
      return { storage: new FileStorage(dir), cleanup: () => rmSync(dir, { recursive: true, force: true }) };
    },
  },
];

/** Opens a log on a simulated clock. */
export function openLog(storage: Storage, config: Record<string, unknown> = {}, clock = new SimulatedClock(1_000_000), dir = 'topic-0'): { log: PartitionLog; clock: SimulatedClock } {
  return { log: PartitionLog.open({ storage, dir, config, clock }), clock };
}
