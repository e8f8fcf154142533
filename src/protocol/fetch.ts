/**
 * Fetch (Kafka API 1): consumers and follower replicas read whole record batches from partition
 * leaders. A fetch may park on the leader up to `maxWaitMs` until `minBytes` are available.
 */
import type { RequestHeader, ResponseHeader, WireError } from './common.ts';

/** A partition to fetch from. */
export interface FetchPartition {
  readonly topic: string;
  readonly partition: number;
  readonly fetchOffset: bigint;
  readonly partitionMaxBytes: number;
  /** The leader epoch the client believes in, -1 when unknown (KIP-320). */
  readonly currentLeaderEpoch: number;
  /**
   * Follower fetches only: the epoch of the last batch in the follower's log, -1 when none. The
   * leader answers a `divergingEpoch` when its log differs there (KIP-279 over Fetch, KAFKA-10554).
   */
  readonly lastFetchedEpoch?: number;
}

/** `fetch.request`: reads batches; parks up to `maxWaitMs` until `minBytes` are available. */
export interface FetchRequest extends RequestHeader {
  readonly type: 'fetch.request';
  /** -1 for consumers; a broker id for follower fetches. */
  readonly replicaId: number;
  readonly maxWaitMs: number;
  readonly minBytes: number;
  readonly maxBytes: number;
  readonly isolationLevel: 'read_uncommitted' | 'read_committed';
  readonly partitions: readonly FetchPartition[];
}

/** An aborted transaction overlapping the records of a read_committed fetch (Kafka's AbortedTransactions). */
export interface AbortedTransaction {
  readonly producerId: bigint;
  readonly firstOffset: bigint;
}

/** Data of one partition in a fetch response. */
export interface FetchPartitionResult extends Partial<WireError> {
  readonly topic: string;
  readonly partition: number;
  readonly highWatermark: bigint;
  readonly lastStableOffset: bigint;
  readonly logStartOffset: bigint;
  /**
   * Whole record batches as stored, in runs laid end to end in offset order (views of the leader's
   * log, never copied on the way; read-only). `[]` when there is nothing to return.
   */
  readonly records: readonly Uint8Array[];
  /**
   * Follower fetches only: the follower's log diverges from the leader's at this epoch; it must
   * truncate (by epoch, never by high watermark) and fetch again. No records come with it.
   */
  readonly divergingEpoch?: { readonly epoch: number; readonly endOffset: bigint };
  /** read_committed fetches: the aborted transactions overlapping the records. */
  readonly abortedTransactions?: readonly AbortedTransaction[];
}

/** `fetch.response`: one result per partition of the request. */
export interface FetchResponse extends ResponseHeader {
  readonly type: 'fetch.response';
  readonly partitions: readonly FetchPartitionResult[];
}
