/**
 * `npm run demo:log`: the storage engine on its own. Appends a few hundred thousand records to a partition log on disk,
 * crashes it, recovers it, reads everything back decoded and verifies it, printing throughput.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SystemClock } from '../clock.ts';
import { PartitionLog } from '../log/partitionLog.ts';
import { decodeRecordBatch, encodeRecordBatch, LOG_OVERHEAD } from '../record/recordBatch.ts';
import { FileStorage } from '../log/storage/fileStorage.ts';

const RECORDS = Number(process.env.SAMSA_DEMO_RECORDS ?? 300_000);
const PER_BATCH = 128;

function rate(count: number, ns: bigint): string {
  const perSecond = count / (Number(ns) / 1e9);
  return `${Math.round(perSecond).toLocaleString('en-US')} records/s`;
}

async function main(): Promise<void> {
  const root = mkdtempSync(join(tmpdir(), 'samsa-demo-'));
  const clock = new SystemClock();
  const storage = new FileStorage(root);
  const config = { 'segment.bytes': 8 * 1024 * 1024 };
  console.log(`samsa log demo: ${RECORDS.toLocaleString('en-US')} records into ${root}/orders-0\n`);
  try {
    const log = PartitionLog.open({ storage, dir: 'orders-0', config, clock });
    const encoder = new TextEncoder();
    let checksum = 0;
    const appendStart = process.hrtime.bigint();
    for (let sent = 0; sent < RECORDS; sent += PER_BATCH) {
      const records = [];
      for (let i = sent; i < Math.min(RECORDS, sent + PER_BATCH); i++) {
        const value = encoder.encode(`{"order":${i},"amount":${(i * 7) % 1000},"pad":"${'x'.repeat(60)}"}`);
        checksum = (checksum + i * 31 + value.length) >>> 0;
        records.push({ key: encoder.encode(`customer-${i % 1000}`), value, timestamp: clock.now() });
      }
      log.append(encodeRecordBatch({ records }));
    }
    const appendNs = process.hrtime.bigint() - appendStart;
    const segments = log.segmentInfos();
    console.log(`appended   ${RECORDS.toLocaleString('en-US')} records (encode + append) at ${rate(RECORDS, appendNs)}`);
    console.log(`           ${segments.length} segments, ${(log.sizeInBytes / 1048576).toFixed(1)} MiB, log end offset ${log.logEndOffset}`);

    // Crash without flushing, then recover: every whole batch survives, nothing corrupt is served.
    log.abandon();
    const recoverStart = process.hrtime.bigint();
    const recovered = PartitionLog.open({ storage, dir: 'orders-0', config, clock });
    console.log(`recovered  after a simulated crash in ${(Number(process.hrtime.bigint() - recoverStart) / 1e6).toFixed(0)} ms: log end offset ${recovered.logEndOffset}`);

    const readStart = process.hrtime.bigint();
    let offset = recovered.logStartOffset;
    let count = 0;
    let verify = 0;
    while (offset < recovered.logEndOffset) {
      const { records } = recovered.read(offset, { maxBytes: 1 << 20 });
      let p = 0;
      while (p < records.length) {
        const batch = decodeRecordBatch(records, p);
        for (const r of batch.records) {
          if (r.offset !== BigInt(count)) throw new Error(`expected offset ${count}, read ${r.offset}`);
          verify = (verify + count * 31 + (r.value?.length ?? 0)) >>> 0;
          count++;
        }
        offset = batch.header.baseOffset + BigInt(batch.header.lastOffsetDelta) + 1n;
        p += batch.header.batchLength + LOG_OVERHEAD;
      }
    }
    const readNs = process.hrtime.bigint() - readStart;
    console.log(`read back  ${count.toLocaleString('en-US')} records decoded at ${rate(count, readNs)}`);
    const byTime = recovered.offsetForTimestamp(clock.now() - 60_000);
    console.log(`lookup     first offset with timestamp >= one minute ago: ${byTime?.offset ?? 'none'}`);
    await recovered.close();
    const ok = count === RECORDS && verify === checksum;
    console.log(`\n${ok ? 'verified' : 'MISMATCH'}: ${count} of ${RECORDS} records, dense offsets 0..${count - 1}, checksum ${verify === checksum ? 'matches' : 'differs'}`);
    if (!ok) process.exitCode = 1;
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
}

await main();
