/**
 * Partition directories carry their topic id (`partition.metadata`, Kafka's `topic_id`), so a
 * directory left by a deleted topic is never adopted by a new topic of the same name: as Kafka's
 * stray-replica handling (KAFKA-14616) the stale log is deleted before the new one is created.
 */
import { PARTITION_METADATA_FILE, readPartitionTopicId, writePartitionMetadata } from '../../log/checkpoints.ts';
import { storagePath } from '../../log/recoveryReport.ts';
import type { Storage } from '../../log/storage/storage.ts';
import type { Logger } from '../../logger.ts';

/**
 * Deletes `dir` when it records a topic id other than `topicId` (a deleted topic of the same
 * name). Its marker file goes last, so an interrupted deletion is found and finished next time.
 * Never throws: false when the directory could not be checked or deleted (do not open it then).
 */
export function dropStrayLog(storage: Storage, dir: string, topicId: string, logger: Logger): boolean {
  try {
    const recorded = readPartitionTopicId(storage, dir);
    if (recorded === undefined || recorded === topicId) return true;
    logger.warn('deleting a stray log: its directory belongs to a deleted topic of the same name', { path: storagePath(storage, dir), topicId: recorded, newTopicId: topicId });
    for (const file of storage.list(dir)) if (file !== PARTITION_METADATA_FILE) storage.remove(`${dir}/${file}`);
    storage.removeDirectory(dir);
    return true;
  } catch (e) {
    // The stray stays (and is not adopted): the partition is not opened here until it is gone.
    logger.error('cannot check or delete a stray log; the partition stays closed on this broker', { path: storagePath(storage, dir), error: e instanceof Error ? e.message : String(e) });
    return false;
  }
}

/** Records `topicId` in the marker file of an open log that has none yet (new, or from before ids were recorded). */
export function recordTopicId(storage: Storage, dir: string, topicId: string, logger: Logger): void {
  try {
    if (readPartitionTopicId(storage, dir) === undefined) writePartitionMetadata(storage, dir, topicId);
  } catch (e) {
    // Not fatal: the log works; the id is written at the next open.
    logger.warn('cannot record the topic id of a partition directory', { path: storagePath(storage, dir), error: e instanceof Error ? e.message : String(e) });
  }
}
