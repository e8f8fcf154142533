/**
 * Fetch between quorum replicas (KRaft's use of Fetch, API 1): followers and observers pull log
 * entries from the leader. Named `fetch.request` as in Kafka, but it only travels inside a
 * `quorum.message`, never beside the data-plane `fetch.request` of `protocol/fetch.ts`.
 */
import type { RaftEntry, RaftErrorName, RaftSnapshotId } from './entries.ts';

/** `fetch.request` (quorum): entries from `fetchOffset`. */
export interface RaftFetchRequest {
  readonly type: 'fetch.request';
  readonly correlationId: number;
  readonly epoch: number;
  readonly replicaId: number;
  readonly fetchOffset: bigint;
  /** Epoch of the entry at `fetchOffset - 1` (the snapshot's epoch when there is none, 0 when empty). */
  readonly lastFetchedEpoch: number;
  /** The fetcher's high watermark: the leader answers at once when its own is ahead. */
  readonly highWatermark: bigint;
  /** How long the leader may hold the fetch when it has nothing new. */
  readonly maxWaitMs: number;
}

/** `fetch.response` (quorum): the leader's entries, or a non-leader's pointer to the leader. */
export interface RaftFetchResponse<T> {
  readonly type: 'fetch.response';
  readonly correlationId: number;
  readonly epoch: number;
  readonly leaderId: number | undefined;
  readonly error?: RaftErrorName | undefined;
  readonly records: readonly RaftEntry<T>[];
  readonly highWatermark: bigint | undefined;
  /** The fetcher's log diverges: truncate to this epoch's end (KIP-101/279 rules) and fetch again. */
  readonly divergingEpoch?: { readonly epoch: number; readonly endOffset: bigint } | undefined;
  /** The fetch offset is below the leader's log start: fetch this snapshot. */
  readonly snapshotId?: RaftSnapshotId | undefined;
}
