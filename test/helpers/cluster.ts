/** Helpers for whole-cluster tests: what the brokers hold, read straight from them. */
import type { ClusterMetadataImage } from '../../src/protocol/index.ts';
import type { PartitionLog } from '../../src/log/partitionLog.ts';
import { LOG_OVERHEAD, readBatchHeader } from '../../src/record/recordBatch.ts';
import type { TestCluster } from '../../src/testing.ts';

/** The newest metadata image any running broker applied, undefined before any did. */
export function newestBrokerImage(cluster: TestCluster): ClusterMetadataImage | undefined {
  let newest: ClusterMetadataImage | undefined;
  for (const id of cluster.brokerIds) {
    const m = cluster.brokerInternals(id)?.metadata;
    if (m !== undefined && (newest === undefined || m.version > newest.version)) newest = m;
  }
  return newest;
}

/** Every byte of a log from its start, batch by batch, for byte-for-byte replica comparisons. */
export function logBytes(log: PartitionLog): Uint8Array {
  const chunks: Uint8Array[] = [];
  let offset = log.logStartOffset;
  while (offset < log.logEndOffset) {
    const { records } = log.read(offset, { maxBytes: 1 << 20 });
    if (records.length === 0) break;
    chunks.push(records.slice());
    for (let p = 0; p < records.length; ) {
      const h = readBatchHeader(records, p);
      offset = h.baseOffset + BigInt(h.lastOffsetDelta) + 1n;
      p += h.batchLength + LOG_OVERHEAD;
    }
  }
  const out = new Uint8Array(chunks.reduce((n, c) => n + c.length, 0));
  let at = 0;
  for (const c of chunks) {
    out.set(c, at);
    at += c.length;
  }
  return out;
}
