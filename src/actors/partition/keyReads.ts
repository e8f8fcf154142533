/**
 * The records of one key, read at the offsets the key version index names (ReadKey): each batch
 * holding one of them is read and decoded once, and only the key's records are kept.
 */
import type { PartitionLog } from '../../log/partitionLog.ts';
import type { ReadKeyRecord } from '../../protocol/readKey.ts';
import { decodeRecordBatch, readBatchHeader, LOG_OVERHEAD } from '../../record/recordBatch.ts';
import type { DecodedRecord } from '../../record/recordBatch.ts';

/** The key's committed records of versions `from` on (or down from it), below `bound`, at most `maxCount`. */
export function readKeyRecords(log: PartitionLog, key: Uint8Array, options: { from: bigint; maxCount: number; backwards: boolean; bound: bigint }): { version: bigint; records: ReadKeyRecord[] } {
  const found = log.readKey(key, { from: options.from, maxCount: options.maxCount, backwards: options.backwards, below: options.bound });
  const records: ReadKeyRecord[] = [];
  let cached: { first: bigint; last: bigint; records: DecodedRecord[] } | undefined;
  let version = found.firstVersion;
  for (const offset of found.offsets) {
    if (cached === undefined || offset < cached.first || offset > cached.last) {
      const { records: bytes } = log.read(offset, { maxBytes: 1, maxOffset: options.bound });
      if (bytes.length === 0) break;
      const header = readBatchHeader(bytes, 0);
      const size = header.batchLength + LOG_OVERHEAD;
      cached = { first: header.baseOffset, last: header.baseOffset + BigInt(header.lastOffsetDelta), records: decodeRecordBatch(bytes.subarray(0, size), 0, { verifyCrc: false }).records };
    }
    const r = cached.records.find((x) => x.offset === offset);
    if (r !== undefined) records.push({ version, offset, timestamp: r.timestamp, value: r.value === null ? null : r.value.slice(), headers: r.headers.map((h) => ({ key: h.key, value: h.value === null ? null : h.value.slice() })) });
    version += options.backwards ? -1n : 1n;
  }
  return { version: found.version, records };
}
