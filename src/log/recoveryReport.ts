/**
 * What recovery at open dropped from a partition log: a torn tail, a corrupt batch and everything
 * after it, overlapping or orphaned segments. Kafka logs each such cut ("Found invalid messages in
 * log segment ... truncating to ..."); samsa returns it as data so that the broker reports it as an
 * `@samsa.log.recovered` event and a warning, with the path and how much was lost.
 */
import type { Storage } from './storage/storage.ts';
import { LOG_OVERHEAD, RECORD_BATCH_OVERHEAD, readBatchHeader } from '../record/recordBatch.ts';

/** One partition log's losses at open; absent when recovery dropped nothing. */
export interface LogRecoveryReport {
  /** Full path of the partition directory (the storage root joined with it; the bare dir in memory). */
  readonly path: string;
  /** Bytes removed from segment files, the files deleted whole included. */
  readonly bytesDropped: number;
  /**
   * Records in the removed batches, as their headers claim; a header too damaged to read counts
   * none, so this is a lower bound.
   */
  readonly recordsDropped: number;
  /** Log end offset after recovery: where the next append goes. */
  readonly logEndOffset: bigint;
  /** Why the first cut was made (e.g. "CRC mismatch ...", "truncated batch at byte 4096"). */
  readonly reason: string;
}

/** The full path of `path` inside `storage`, for messages a person reads. */
export function storagePath(storage: Storage, path: string): string {
  return storage.description === 'memory' ? path : `${storage.description.replace(/\/+$/, '')}/${path}`;
}

/** Records the batch headers in `bytes` claim, walking headers until one does not parse or fit. */
export function claimedRecords(bytes: Uint8Array): number {
  let count = 0;
  let p = 0;
  while (bytes.length - p >= RECORD_BATCH_OVERHEAD) {
    let size: number;
    try {
      const header = readBatchHeader(bytes, p);
      size = header.batchLength + LOG_OVERHEAD;
      if (header.recordsCount > 0) count += header.recordsCount;
    } catch {
      break;
    }
    p += size;
  }
  return count;
}
