/**
 * A state a partition log keeps beside its batches, the way it keeps the producer state: checked
 * against a client's batch before anything is written (validate), then updated by every appended
 * batch on the leader, on followers and on replay alike (apply), snapshotted with the producer
 * state, rebuilt on open and after truncation, told when the log start moves and when the log is
 * emptied. The append, load and deletion paths call every hook a log has (see
 * {@link LocalLog.batchHooks}); a topic whose config wants none pays nothing. The key version
 * index (keyVersionLog.ts) is one.
 */
import type { RecordBatchHeader } from '../record/recordBatch.ts';
import type { LogConfig } from '../topicConfig.ts';
import type { LogSegment } from './segment.ts';
import type { Storage } from './storage/storage.ts';

/** What a hook sees of its log (LocalLog has all of it): where the files are, and the segments to replay. */
export interface HookedLog {
  readonly storage: Storage;
  readonly dir: string;
  readonly config: LogConfig;
  readonly segments: readonly LogSegment[];
  readonly startOffset: bigint;
  readonly logEndOffset: bigint;
  /** Offsets of the producer snapshots, ascending (hooks snapshot beside them). */
  snapshotOffsets(): bigint[];
}

/** What a hook's check found: a retry of a batch already written (answered with its offsets), and what it read of the batch for `apply`. */
export interface HookCheck {
  readonly retry?: { readonly firstOffset: bigint; readonly lastOffset: bigint };
  readonly read?: unknown;
}

/** A state kept beside a partition log's batches; see the module comment. */
export interface BatchStateHook {
  /**
   * Checks a client batch before anything of the append is written. `scratch` lives for one
   * append (several batches may share it). Throws to refuse the batch; changes nothing.
   */
  check(records: Uint8Array, position: number, header: RecordBatchHeader, scratch: Map<string, number>): HookCheck;
  /** Follows a batch written at `baseOffset`; `read` is what `check` read of it, on the leader. */
  apply(records: Uint8Array, position: number, header: RecordBatchHeader, baseOffset: bigint, read?: unknown): void;
  /** Writes its snapshot as of `offset`, beside the producer snapshot of that offset. */
  writeSnapshot(offset: bigint): void;
  /** Deletes its snapshot of `offset`. */
  removeSnapshot(offset: bigint): void;
  /** Rebuilds after an open or a truncation: from its snapshot at `snapshotOffset` when usable, plus the batches after it. */
  rebuild(snapshotOffset: bigint | undefined): void;
  /** The log start is about to move to `start`, and segments below it may go. */
  beforeLogStartMove(start: bigint): void;
  /** The log start has moved to `start`. */
  afterLogStartMove(start: bigint): void;
  /** The log was emptied and restarts at a new offset. */
  reset(): void;
}
