/**
 * Small files a partition directory keeps beside its segments: the marker that proves the
 * directory is a samsa log, and offset checkpoints (recovery point, log start, cleaner position).
 * Every write is atomic (temporary file + rename), so a crash leaves the old or the new value.
 */
import type { Storage } from './storage/storage.ts';

/** The marker file every samsa partition directory has; its absence means "not a samsa log". */
export const PARTITION_METADATA_FILE = 'partition.metadata';
/** Offset below which every byte is known to be fsynced; recovery scans only from here. */
export const RECOVERY_POINT_FILE = 'recovery-point-offset-checkpoint';
/** The log start offset, which DeleteRecords can move into the middle of a segment. */
export const LOG_START_OFFSET_FILE = 'log-start-offset-checkpoint';
/** Where the cleaner stopped: the first dirty offset of a compacted log. */
export const CLEANER_OFFSET_FILE = 'cleaner-offset-checkpoint';
/** Present only after a clean close: the next open can skip recovery. */
export const CLEAN_SHUTDOWN_FILE = '.samsa_cleanshutdown';

const METADATA_CONTENT = 'version: 0\nformat: samsa-partition-log\n';

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** Writes the marker file. */
export function writePartitionMetadata(storage: Storage, dir: string): void {
  storage.writeFileAtomic(`${dir}/${PARTITION_METADATA_FILE}`, encoder.encode(METADATA_CONTENT));
}

/** Whether the marker file holds what samsa writes. */
export function partitionMetadataValid(storage: Storage, dir: string): boolean {
  try {
    const text = decoder.decode(storage.readFile(`${dir}/${PARTITION_METADATA_FILE}`));
    return text.split('\n').some((line) => line.trim() === 'format: samsa-partition-log');
  } catch {
    return false;
  }
}

/** Writes an offset checkpoint (`version\noffset\n`). */
export function writeOffsetCheckpoint(storage: Storage, path: string, offset: bigint): void {
  storage.writeFileAtomic(path, encoder.encode(`0\n${offset}\n`));
}

/**
 * Reads an offset checkpoint; undefined when the file is missing or malformed, which callers
 * treat as "unknown" (the safe choice: recover more, never less).
 */
export function readOffsetCheckpoint(storage: Storage, path: string): bigint | undefined {
  if (!storage.exists(path)) return undefined;
  try {
    const lines = decoder.decode(storage.readFile(path)).split('\n');
    if (lines[0] !== '0' || lines[1] === undefined || !/^-?\d+$/.test(lines[1])) return undefined;
    return BigInt(lines[1]);
  } catch {
    return undefined;
  }
}
