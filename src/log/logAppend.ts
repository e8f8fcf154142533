/**
 * Appending to a partition log: validation, producer state and index updates, as Kafka's
 * `UnifiedLog.append` with its `LogValidator` and `ProducerAppendInfo`.
 *
 * Guarantees:
 * - Every batch is validated (size, CRC-32C, record count, keys on compacted topics, producer
 *   epoch and sequence, transaction markers) before anything is touched: a refused append writes
 *   nothing and changes no state.
 * - Offsets are assigned densely from the log end (or, for replicated batches, checked to be at or
 *   past it); the leader epoch cache and its checkpoint are updated before the data is written.
 * - The producer state, open transactions and `.txnindex` entries follow the appended batches
 *   batch by batch, identically on the leader, on followers and on replay.
 */
import { concatBytes } from '../record/bytes.ts';
import { encodeTransactionMarker, readControlBatch } from '../record/controlRecords.ts';
import type { TransactionResult } from '../record/controlRecords.ts';
import { compressionOf, decodeRecordBatch, encodeRecordBatch, isControlBatch, readBatchHeader, assertBatchValid, setLogAppendTime, stampBatch, LOG_OVERHEAD, RECORD_BATCH_OVERHEAD } from '../record/recordBatch.ts';
import type { RecordBatchHeader } from '../record/recordBatch.ts';
import { CorruptRecordError, InvalidArgumentError, InvalidRecordError, RecordTooLargeError } from '../errors.ts';
import type { LogConfig } from '../topicConfig.ts';
import type { LocalLog } from './localLog.ts';
import type { MarkerFields, Tip } from './producerState.ts';
import type { AppendedBatch } from './segment.ts';
import { abortedTxnOf } from './transactionIndex.ts';
import type { BatchStateHook } from './batchStateHook.ts';

/** Where a batch comes from; it decides which checks and stamping apply (as Kafka's AppendOrigin). */
export type AppendOrigin = 'client' | 'replication' | 'coordinator';

/** Options of {@link PartitionLog.append}. */
export interface AppendOptions {
  /** `client` (default): assign offsets, stamp the leader epoch, refuse control batches. */
  readonly origin?: AppendOrigin;
  /**
   * Leader epoch stamped into each batch (leader appends only) and assigned in the leader epoch
   * cache from the first offset of the append; a negative epoch is stamped but not cached. Default 0.
   * Replicated batches keep the epoch the leader stamped, and the cache follows that.
   */
  readonly leaderEpoch?: number;
  /**
   * Coordinator markers: the transaction version they are written under. With 2 (KIP-890) a marker
   * must carry a newer epoch than the producer's current one here, so a late or duplicated marker
   * of a finished transaction cannot end the next one, which runs at the bumped epoch.
   */
  readonly transactionVersion?: number;
}

/** What an append did. */
export interface LogAppendInfo {
  /** Offset of the first record appended. */
  readonly firstOffset: bigint;
  /** Offset of the last record appended. */
  readonly lastOffset: bigint;
  /** The broker time written into the batches for LogAppendTime topics, else -1. */
  readonly logAppendTime: number;
  /** Largest batch maxTimestamp among the appended batches. */
  readonly maxTimestamp: number;
  /** Number of batches appended. */
  readonly batchCount: number;
  /** Number of offsets consumed (records, counting ones compaction may later remove). */
  readonly recordCount: number;
  /** Log start offset after the append. */
  readonly logStartOffset: bigint;
  /** True when the batch was a producer's retry of one already in the log: nothing was appended. */
  readonly duplicate?: boolean;
}

/** A transaction marker for {@link PartitionLog.appendTransactionMarker} (Kafka's WriteTxnMarkers entry). */
export interface TransactionMarkerAppend {
  readonly producerId: bigint;
  /** The producer epoch the marker carries; with transaction version 2 already bumped (epoch + 1). */
  readonly producerEpoch: number;
  /** Epoch of the transaction coordinator writing it (its `__transaction_state` partition's leader epoch). */
  readonly coordinatorEpoch: number;
  readonly result: TransactionResult;
  /** The marker record's timestamp; default: the log's clock. */
  readonly timestamp?: number;
}

/**
 * Appends record batches laid end to end (see {@link PartitionLog.append}); skips the CRC check of
 * batches the caller has just checked (`crcChecked`).
 * @throws CorruptRecordError, RecordTooLargeError, InvalidRecordError, InvalidArgumentError,
 *   KafkaProtocolError (producer checks) — nothing was written.
 */
export function appendBatches(log: LocalLog, records: Uint8Array, options: AppendOptions, crcChecked: boolean): LogAppendInfo {
  log.ensureWritable();
  if (!(records instanceof Uint8Array)) throw new InvalidArgumentError('records', `expected a Uint8Array of record batches, got ${typeof records}`);
  if (records.length === 0) throw new InvalidArgumentError('records', 'no record batches to append');
  const origin = options.origin ?? 'client';
  const config = log.config;
  const compacted = config.cleanupPolicy.includes('compact');
  if (config.compressionType !== 'producer' && origin === 'client') records = recompress(records, config.compressionType === 'uncompressed' ? 'none' : config.compressionType);
  if (records.length > config.segmentBytes) throw new RecordTooLargeError(records.length, config.segmentBytes, 'segment.bytes');

  // Validate everything before any mutation.
  const headers: RecordBatchHeader[] = [];
  const positions: number[] = [];
  // Per-producer state within this append, and the markers of control batches by batch index:
  // allocated only when a producer's batch shows up, so plain appends pay nothing for them.
  let tips: Map<bigint, Tip> | undefined;
  let markers: (MarkerFields | undefined)[] | undefined;
  // The states kept beside the batches (batchStateHook.ts) check each client batch first.
  const hooks = log.batchHooks();
  const scratches = hooks.map(() => new Map<string, number>());
  const reads: unknown[][] = hooks.map(() => []);
  let p = 0;
  while (p < records.length) {
    if (records.length - p < RECORD_BATCH_OVERHEAD) throw new CorruptRecordError(`${records.length - p} trailing bytes are not a whole record batch`, p);
    const header = crcChecked ? readBatchHeader(records, p) : assertBatchValid(records, p);
    const size = header.batchLength + LOG_OVERHEAD;
    if (crcChecked && size > records.length - p) throw new CorruptRecordError(`batch of ${size} bytes is truncated: only ${records.length - p} bytes remain`, p);
    // The leader checked the size; a follower copies what it has (Kafka's ignoreRecordSize).
    if (size > config.maxMessageBytes && origin !== 'replication') throw new RecordTooLargeError(size, config.maxMessageBytes);
    if (origin === 'client') {
      if (isControlBatch(header)) throw new InvalidRecordError('clients may not write control batches; transaction markers are written by the transaction coordinator');
      if (header.recordsCount !== header.lastOffsetDelta + 1) throw new InvalidRecordError(`record count ${header.recordsCount} does not match lastOffsetDelta ${header.lastOffsetDelta} + 1`);
      if (compacted) assertKeyed(log, records, p);
      if (header.producerId >= 0n) {
        const duplicate = log.producers.check(header, (tips ??= new Map()), `log "${log.dir}"`);
        if (duplicate !== undefined) {
          // Kafka answers the first duplicate with its original offsets; a producer sends one
          // batch per partition per request, so a duplicate never shares an append.
          if (p !== 0 || size !== records.length) throw new InvalidRecordError(`a retried batch of producer ${header.producerId} (sequences ${duplicate.firstSeq}..${duplicate.lastSeq}) must be appended alone, not with other batches`);
          return { firstOffset: duplicate.firstOffset, lastOffset: duplicate.lastOffset, logAppendTime: -1, maxTimestamp: duplicate.timestamp, batchCount: 0, recordCount: 0, logStartOffset: log.startOffset, duplicate: true };
        }
      }
      for (let h = 0; h < hooks.length; h++) {
        const { retry, read } = (hooks[h] as BatchStateHook).check(records, p, header, scratches[h] as Map<string, number>);
        (reads[h] as unknown[])[headers.length] = read;
        if (retry !== undefined) {
          // Every event of the batch is already in the log (a retried append): its original offsets, nothing written.
          if (p !== 0 || size !== records.length) throw new InvalidRecordError('a retried append (all of its event ids already written) must be appended alone, not with other batches');
          return { firstOffset: retry.firstOffset, lastOffset: retry.lastOffset, logAppendTime: -1, maxTimestamp: header.maxTimestamp, batchCount: 0, recordCount: 0, logStartOffset: log.startOffset, duplicate: true };
        }
      }
    } else if (origin === 'coordinator' && header.producerId >= 0n && !isControlBatch(header)) {
      // A coordinator's own write for a producer (a TxnOffsetCommit's offsets): Kafka checks its
      // epoch, so a fenced or delayed request of a finished transaction is refused.
      log.producers.checkEpoch(header, (tips ??= new Map()), `log "${log.dir}"`);
    } else if (header.producerId >= 0n && isControlBatch(header)) {
      // A transaction marker: the coordinator's is checked as Kafka's appendEndTxnMarker does; a
      // follower takes the leader's as it is (Kafka only logs a stale one on replication).
      const marker = markerOf(log, records, p, header, origin);
      if (marker !== undefined) {
        if (origin === 'coordinator') log.producers.checkMarker(header.producerId, header.producerEpoch, marker, (tips ??= new Map()), `log "${log.dir}"`, options.transactionVersion ?? 0);
        (markers ??= [])[headers.length] = marker;
      }
    }
    headers.push(header);
    positions.push(p);
    p += size;
  }

  // Assign offsets (or check the leader's), then write.
  const now = log.clock.now();
  const logAppendTime = config.messageTimestampType === 'LogAppendTime' && origin !== 'replication' ? now : -1;
  const batches: AppendedBatch[] = [];
  const leaderEpoch = options.leaderEpoch ?? 0;
  let next = log.logEndOffset;
  let maxTimestamp = -1;
  let recordCount = 0;
  for (let i = 0; i < headers.length; i++) {
    const header = headers[i] as RecordBatchHeader;
    const position = positions[i] as number;
    if (origin === 'replication') {
      if (header.baseOffset < next) throw new InvalidArgumentError('records', `replicated batch at offset ${header.baseOffset} is below the log end offset ${next}; truncate the follower first`);
      next = header.baseOffset;
    } else {
      stampBatch(records, position, next, leaderEpoch);
      if (logAppendTime >= 0) setLogAppendTime(records, position, logAppendTime);
    }
    const batchMax = logAppendTime >= 0 ? logAppendTime : header.maxTimestamp;
    const lastOffset = next + BigInt(header.lastOffsetDelta);
    batches.push({ position, size: header.batchLength + LOG_OVERHEAD, lastOffset, maxTimestamp: batchMax });
    if (batchMax > maxTimestamp) maxTimestamp = batchMax;
    recordCount += header.lastOffsetDelta + 1;
    next = lastOffset + 1n;
  }
  const firstOffset = origin === 'replication' ? (headers[0] as RecordBatchHeader).baseOffset : log.logEndOffset;
  const lastOffset = next - 1n;
  // As Kafka, the epoch cache (and its checkpoint) is updated before the data is written: the
  // file may run ahead of the log (cut back on open) but never misses an epoch that is on disk.
  for (let i = 0; i < headers.length; i++) {
    const header = headers[i] as RecordBatchHeader;
    const epoch = origin === 'replication' ? header.partitionLeaderEpoch : leaderEpoch;
    if (epoch >= 0) log.epochs.assign(epoch, (batches[i] as AppendedBatch).lastOffset - BigInt(header.lastOffsetDelta));
  }
  log.persistLeaderEpochs();
  log.maybeRoll(records.length, maxTimestamp, firstOffset, lastOffset, now);
  const segment = log.activeSegment;
  segment.append(records, batches);
  for (let h = 0; h < hooks.length; h++) {
    for (let i = 0; i < headers.length; i++) {
      const header = headers[i] as RecordBatchHeader;
      const batch = batches[i] as AppendedBatch;
      (hooks[h] as BatchStateHook).apply(records, batch.position, header, batch.lastOffset - BigInt(header.lastOffsetDelta), (reads[h] as unknown[])[i]);
    }
  }
  for (let i = 0; i < headers.length; i++) {
    const header = headers[i] as RecordBatchHeader;
    if (header.producerId < 0n) continue;
    const last = (batches[i] as AppendedBatch).lastOffset;
    const first = last - BigInt(header.lastOffsetDelta);
    if (!isControlBatch(header)) {
      log.producers.update(header, first, last);
      continue;
    }
    const marker = markers?.[i];
    if (marker === undefined) continue;
    // Batch by batch, as on replay: the entry's LSO is the one right after this marker.
    const completed = log.producers.update(header, first, last, marker);
    if (completed !== undefined && completed.aborted) segment.txnIndex.append(abortedTxnOf(completed));
  }
  log.unflushedMessages += recordCount;
  log.maybeFlush(now);
  return { firstOffset, lastOffset, logAppendTime, maxTimestamp, batchCount: batches.length, recordCount, logStartOffset: log.startOffset };
}

/**
 * Appends a COMMIT or ABORT marker as the partition leader (see
 * {@link PartitionLog.appendTransactionMarker}); a transaction version 2 retry of the marker that
 * ended the producer's last transaction writes nothing and is answered as a duplicate.
 */
export function appendTransactionMarker(log: LocalLog, marker: TransactionMarkerAppend, options: { readonly leaderEpoch: number; readonly transactionVersion?: number }): LogAppendInfo {
  log.ensureWritable();
  if (typeof marker !== 'object' || marker === null) throw new InvalidArgumentError('marker', 'expected { producerId, producerEpoch, coordinatorEpoch, result }');
  if ((options.transactionVersion ?? 0) >= 2 && log.producers.isMarkerRetry(marker.producerId, marker.producerEpoch, marker.coordinatorEpoch)) {
    // Answered as a duplicate, nothing written: its offset is the log end, so a leader that
    // waits for it to be replicated waits for the first attempt too, wherever that landed.
    const last = log.logEndOffset - 1n;
    return { firstOffset: last, lastOffset: last, logAppendTime: -1, maxTimestamp: -1, batchCount: 0, recordCount: 0, logStartOffset: log.startOffset, duplicate: true };
  }
  const bytes = encodeTransactionMarker({ producerId: marker.producerId, producerEpoch: marker.producerEpoch, coordinatorEpoch: marker.coordinatorEpoch, result: marker.result, timestamp: marker.timestamp ?? log.clock.now() });
  return appendBatches(log, bytes, { origin: 'coordinator', leaderEpoch: options.leaderEpoch, ...(options.transactionVersion === undefined ? {} : { transactionVersion: options.transactionVersion }) }, false);
}

/**
 * Appends batches fetched from the partition leader as they are (see
 * {@link PartitionLog.appendAsFollower}): runs of whole batches are split where one would not fit
 * a segment, and every batch is checked before the first is written.
 */
export function appendAsFollower(log: LocalLog, records: Uint8Array | readonly Uint8Array[]): LogAppendInfo {
  const given = records instanceof Uint8Array ? [records] : records;
  const limit = log.config.segmentBytes;
  if (given.length === 1 && (given[0] as Uint8Array).length <= limit) return appendBatches(log, given[0] as Uint8Array, { origin: 'replication' }, false);
  if (given.length === 0) throw new InvalidArgumentError('records', 'no record batches to append');
  // Runs of whole batches (a fetch answer's views of the leader's log) are written as they are,
  // split where one would not fit a segment; every batch is checked before the first is written,
  // so a bad batch writes nothing.
  const runs: Uint8Array[] = [];
  for (const run of given) {
    if (!(run instanceof Uint8Array)) throw new InvalidArgumentError('records', `expected Uint8Array runs of record batches, got ${typeof run}`);
    let start = 0;
    let p = 0;
    while (p < run.length) {
      if (run.length - p < RECORD_BATCH_OVERHEAD) throw new CorruptRecordError(`${run.length - p} trailing bytes are not a whole record batch`, p);
      const size = assertBatchValid(run, p).batchLength + LOG_OVERHEAD;
      if (p > start && p + size - start > limit) {
        runs.push(run.subarray(start, p));
        start = p;
      }
      p += size;
    }
    if (p > start) runs.push(start === 0 ? run : run.subarray(start));
  }
  const infos = runs.map((run) => appendBatches(log, run, { origin: 'replication' }, true));
  const first = infos[0] as LogAppendInfo;
  const last = infos[infos.length - 1] as LogAppendInfo;
  return {
    ...last,
    firstOffset: first.firstOffset,
    maxTimestamp: Math.max(...infos.map((i) => i.maxTimestamp)),
    batchCount: infos.reduce((n, i) => n + i.batchCount, 0),
    recordCount: infos.reduce((n, i) => n + i.recordCount, 0),
  };
}

/**
 * The marker of the control batch at `position`. A coordinator may only write transaction
 * markers; a follower copies other control records (and batches compaction emptied) without
 * treating them as markers.
 * @throws CorruptRecordError for a malformed control record; InvalidRecordError when the coordinator's batch holds no marker.
 */
function markerOf(log: LocalLog, records: Uint8Array, position: number, header: RecordBatchHeader, origin: AppendOrigin): MarkerFields | undefined {
  const content = readControlBatch(records, position);
  if (content.kind === 'transactionMarker') return { result: content.result, coordinatorEpoch: content.coordinatorEpoch };
  if (origin === 'coordinator') {
    throw new InvalidRecordError(`control batch of producer ${header.producerId} for log "${log.dir}" holds ${content.kind === 'empty' ? 'no record' : `a ${content.type} control record (type ${content.typeId})`}, not a COMMIT or ABORT marker; only transaction markers may be written for a producer`);
  }
  return undefined;
}

function assertKeyed(log: LocalLog, records: Uint8Array, position: number): void {
  for (const record of decodeRecordBatch(records, position, { verifyCrc: false }).records) {
    if (record.key === null) throw new InvalidRecordError(`compacted topic log "${log.dir}" cannot accept a record without a key (offset delta ${record.offsetDelta}); give every record a key or change cleanup.policy`);
  }
}

/** Re-encodes the client's batches with the topic's `compression.type`; control batches and batches already in it keep their bytes. */
function recompress(records: Uint8Array, codec: Exclude<LogConfig['compressionType'], 'producer' | 'uncompressed'> | 'none'): Uint8Array {
  const out: Uint8Array[] = [];
  let changed = false;
  let p = 0;
  while (p + RECORD_BATCH_OVERHEAD <= records.length) {
    const header = readBatchHeader(records, p);
    const size = header.batchLength + LOG_OVERHEAD;
    if (p + size > records.length) break;
    if (compressionOf(header) === codec || isControlBatch(header)) out.push(records.subarray(p, p + size));
    else {
      const batch = decodeRecordBatch(records, p);
      changed = true;
      out.push(
        encodeRecordBatch({
          compression: codec,
          timestampType: (header.attributes & 0x08) !== 0 ? 'LogAppendTime' : 'CreateTime',
          isTransactional: (header.attributes & 0x10) !== 0,
          producerId: header.producerId,
          producerEpoch: header.producerEpoch,
          baseSequence: header.baseSequence,
          lastOffsetDelta: header.lastOffsetDelta,
          records: batch.records.map((r) => ({ offsetDelta: r.offsetDelta, timestamp: r.timestamp, key: r.key, value: r.value, headers: r.headers })),
        }),
      );
    }
    p += size;
  }
  if (!changed || p !== records.length) return records;
  return concatBytes(out);
}
