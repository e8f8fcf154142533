/**
 * The cluster metadata image as every member of the quorum holds it: empty for a new cluster, then
 * the result of replaying the committed `__cluster_metadata` log (a loaded snapshot, then records
 * in offset order). Controllers and brokers replay the same committed prefix into the same image,
 * versioned by the offset after its last entry.
 */
import type { ClusterMetadataImage } from '../../protocol/index.ts';
import type { RaftOutput } from './raft/messages.ts';
import { replayRecords } from './records.ts';
import type { MetadataRecord } from './records.ts';

/** An empty image for a new cluster. */
export function emptyImage(clusterId: string, controllerId: number): ClusterMetadataImage {
  return { version: 0, clusterId, controllerId, brokers: [], topics: {}, nextProducerId: 0 };
}

/**
 * Applies committed entries (and a loaded snapshot) to `image`; each entry's offset + 1 becomes
 * the version, so every controller and broker that replayed the same prefix holds the same image.
 */
export function replayMetadata(image: ClusterMetadataImage, output: RaftOutput<MetadataRecord>): ClusterMetadataImage {
  let next = output.loadSnapshot === undefined ? image : (output.loadSnapshot.state as ClusterMetadataImage);
  let run: MetadataRecord[] = [];
  let runEnd = 0n;
  const flushRun = (): void => {
    if (run.length > 0) next = replayRecords(next, run, Number(runEnd));
    run = [];
  };
  for (const entry of output.committed) {
    if (entry.kind === 'data') {
      run.push(entry.payload);
      runEnd = entry.offset + 1n;
      continue;
    }
    flushRun();
    // The LeaderChange record names the active controller; brokers learn it from the image.
    next = { ...next, controllerId: entry.leaderId, version: Number(entry.offset + 1n) };
  }
  flushRun();
  return next;
}
