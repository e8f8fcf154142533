/**
 * Log benchmarks (issue: foundation). Appends pre-encoded batches of 100-byte values and 16-byte
 * keys (~16 KiB per batch, Kafka's 2014 benchmark shape) into the file backend and reads them back
 * decoded, each next to a raw `fs` write/read of the same bytes measured in the same run.
 */
import { closeSync, mkdtempSync, openSync, readSync, rmSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SimulatedClock } from '../src/clock.ts';
import { PartitionLog } from '../src/log/partitionLog.ts';
import { decodeRecordBatch, encodeRecordBatch, LOG_OVERHEAD } from '../src/record/recordBatch.ts';
import { FileStorage } from '../src/log/storage/fileStorage.ts';
import { measurement, median, report, timeMedian } from './harness.ts';
import type { Measurement } from './harness.ts';

const TOTAL_RECORDS = Number(process.env.BENCH_LOG_RECORDS ?? 1_000_000);
const VALUE_BYTES = 100;
const KEY_BYTES = 16;
const BATCH_BYTES = 16 * 1024;
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);


function makeBatches(): { batches: Uint8Array[]; records: number; bytes: number; encodeSeconds: number } {
  const value = new Uint8Array(VALUE_BYTES).map((_, i) => (i * 31) & 0xff);
  const perRecord = VALUE_BYTES + KEY_BYTES + 10;
  const perBatch = Math.floor((BATCH_BYTES - 61) / perRecord);
  const batches: Uint8Array[] = [];
  let records = 0;
  let bytes = 0;
  const start = process.hrtime.bigint();
  while (records < TOTAL_RECORDS) {
    const n = Math.min(perBatch, TOTAL_RECORDS - records);
    const list = [];
    for (let i = 0; i < n; i++) {
      const key = new Uint8Array(KEY_BYTES);
      new DataView(key.buffer).setUint32(0, records + i);
      list.push({ timestamp: 1_700_000_000_000 + records + i, key, value });
    }
    const batch = encodeRecordBatch({ records: list });
    batches.push(batch);
    bytes += batch.length;
    records += n;
  }
  return { batches, records, bytes, encodeSeconds: Number(process.hrtime.bigint() - start) / 1e9 };
}

/** Runs the log benchmarks and returns their measurements. */
export function runLogBenchmarks(): Measurement[] {
  const { batches, records, bytes, encodeSeconds } = makeBatches();
  const root = mkdtempSync(join(tmpdir(), 'samsa-bench-'));
  try {
    // Reference: raw fs writes of the same bytes, one write per batch, each round to a fresh file
    // (as the log gets a fresh directory: truncating a big file is not what we measure). The two
    // take turns going first in interleaved rounds: the page cache's writeback of what one wrote
    // slows whichever writes next, so neither side always pays for the other. The ratio is the
    // median of the rounds' own ratios.
    const clock = new SimulatedClock(1_700_000_000_000);
    const seconds = (body: () => void): number => {
      const start = process.hrtime.bigint();
      body();
      return Number(process.hrtime.bigint() - start) / 1e9;
    };
    const rawTimes: number[] = [];
    const appendTimes: number[] = [];
    const writeRatios: number[] = [];
    let rawPath = '';
    let appended: PartitionLog | undefined;
    for (let round = -1; round < ROUNDS; round++) {
      rawPath = join(root, `raw-${round + 1}.bin`);
      const path = rawPath;
      const rawOnce = (): number =>
        seconds(() => {
          const fd = openSync(path, 'w');
          for (const b of batches) writeSync(fd, b);
          closeSync(fd);
        });
      appended?.abandon();
      const log = PartitionLog.open({ storage: new FileStorage(join(root, `log-${round + 1}`)), dir: 'bench-0', clock });
      appended = log;
      const appendOnce = (): number =>
        seconds(() => {
          for (const b of batches) log.append(b);
        });
      let raw: number;
      let append: number;
      if (round % 2 === 0) {
        raw = rawOnce();
        append = appendOnce();
      } else {
        append = appendOnce();
        raw = rawOnce();
      }
      if (round < 0) continue;
      rawTimes.push(raw);
      appendTimes.push(append);
      writeRatios.push(raw / append);
    }
    const rawWrite = median(rawTimes);
    const append = median(appendTimes);
    const log = appended as PartitionLog;

    // Reference: raw fs sequential reads of the same bytes in 1 MiB chunks.
    const chunk = Buffer.allocUnsafe(1 << 20);
    const rawRead = timeMedian(ROUNDS, () => {
      const fd = openSync(rawPath, 'r');
      let position = 0;
      for (;;) {
        const n = readSync(fd, chunk, 0, chunk.length, position);
        if (n === 0) break;
        position += n;
      }
      closeSync(fd);
    });

    let decoded = 0;
    const read = timeMedian(ROUNDS, () => {
      decoded = 0;
      let offset = 0n;
      const end = log.logEndOffset;
      while (offset < end) {
        const { records: data } = log.read(offset, { maxBytes: 1 << 20 });
        let p = 0;
        while (p < data.length) {
          const batch = decodeRecordBatch(data, p);
          decoded += batch.records.length;
          p += batch.header.batchLength + LOG_OVERHEAD;
          offset = batch.header.baseOffset + BigInt(batch.header.lastOffsetDelta) + 1n;
        }
      }
    });
    if (decoded !== records) throw new Error(`read back ${decoded} records, expected ${records}`);
    log.abandon();

    const rawWriteM = measurement('raw fs write (reference)', records, bytes, rawWrite);
    const rawReadM = measurement('raw fs read (reference)', records, bytes, rawRead);
    return [
      measurement('record batch encode (producer side)', records, bytes, encodeSeconds),
      rawWriteM,
      measurement('log append, file storage', records, bytes, append, { reference: 'raw write (per round)', ratio: median(writeRatios), target: '>= 50% raw, >= 1,000,000 rec/s' }),
      rawReadM,
      measurement('log read + decode, file storage', records, bytes, read, { reference: 'raw read', target: '>= 2,000,000 rec/s' }),
    ].map((m) => (m.name.startsWith('log read') ? { ...m, ratio: rawRead / m.seconds } : m));
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
}

if (import.meta.url === `file://${process.argv[1]}`) report(`log: ${TOTAL_RECORDS.toLocaleString('en-US')} records, ${VALUE_BYTES} B values, ~${BATCH_BYTES / 1024} KiB batches`, runLogBenchmarks(), 'log.json');
