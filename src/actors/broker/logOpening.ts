/**
 * Opening a broker's partition logs without letting a storage failure escape: a log that cannot be
 * opened (a foreign file in its directory, an I/O error) leaves that partition offline on this
 * broker, as Kafka takes a failed log directory offline and answers KAFKA_STORAGE_ERROR for its
 * partitions; what recovery at open dropped is reported. Both become samsa events (logged by the
 * inspection sink: `@samsa.log.offline` at error, `@samsa.log.recovered` at warn).
 */
import { NotALogDirectoryError, StorageError } from '../../errors.ts';
import type { LogConfig } from '../../topicConfig.ts';
import { PartitionLog } from '../../log/partitionLog.ts';
import { storagePath } from '../../log/recoveryReport.ts';
import type { Storage } from '../../log/storage/storage.ts';
import type { Clock } from '../../clock.ts';
import type { InspectionSink } from '../inspection.ts';
import { wireError } from '../../protocol/index.ts';
import type { WireError } from '../../protocol/index.ts';

/** A partition whose log could not be opened on this broker. */
export interface OfflineLog {
  readonly topic: string;
  readonly partition: number;
  /** Full path of the partition directory. */
  readonly path: string;
  /** KAFKA_STORAGE_ERROR naming the path and the cause: every request for the partition gets it. */
  readonly error: WireError;
}

/** What {@link openPartitionLog} needs of its broker. */
export interface LogOpeningContext {
  readonly brokerId: number;
  readonly storage: Storage;
  readonly clock: Clock;
  readonly inspection: InspectionSink;
}

/**
 * Opens (or creates) a partition's log. Returns the log, after reporting what recovery dropped,
 * or the partition's {@link OfflineLog} when the log cannot be opened; never throws.
 */
export function openPartitionLog(context: LogOpeningContext, topic: string, partition: number, dir: string, config: LogConfig): PartitionLog | OfflineLog {
  const { brokerId, storage, inspection } = context;
  let log: PartitionLog;
  try {
    log = PartitionLog.open({ storage, dir, config, clock: context.clock });
  } catch (e) {
    return takeOffline(context, topic, partition, dir, 'opened', e);
  }
  const recovery = log.recovery;
  if (recovery !== undefined) {
    inspection.notify({ type: '@samsa.log.recovered', topic, partition, brokerId, path: recovery.path, bytesDropped: recovery.bytesDropped, recordsDropped: recovery.recordsDropped, logEndOffset: recovery.logEndOffset, reason: recovery.reason });
  }
  return log;
}

/**
 * The partition's {@link OfflineLog} after a storage failure (`what` failed: "opened", "written"…),
 * reported as `@samsa.log.offline` with the full path and the cause.
 */
export function takeOffline(context: LogOpeningContext, topic: string, partition: number, dir: string, what: string, e: unknown): OfflineLog {
  const { brokerId, storage, inspection } = context;
  const path = e instanceof NotALogDirectoryError || e instanceof StorageError ? e.path : storagePath(storage, dir);
  const cause = e instanceof Error ? e.message : String(e);
  const message = `the log of ${topic}-${partition} in "${path}" could not be ${what} on broker ${brokerId}: ${cause}; the partition is offline on this broker until the directory is fixed and the broker restarted`;
  inspection.notify({ type: '@samsa.log.offline', topic, partition, brokerId, path, error: cause });
  return { topic, partition, path, error: wireError('KAFKA_STORAGE_ERROR', message) };
}
