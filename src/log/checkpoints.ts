/**
 * Small files a partition directory keeps beside its segments: the marker that proves the
 * directory is a samsa log, offset checkpoints (recovery point, log start, cleaner position) and
 * the leader epoch checkpoint. Every write is atomic (temporary file + rename), so a crash leaves
 * the old or the new value.
 */
import type { EpochEntry } from './leaderEpochCache.ts';
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
/** The leader epoch cache: (epoch, start offset) pairs, in Kafka's format and under Kafka's name. */
export const LEADER_EPOCH_CHECKPOINT_FILE = 'leader-epoch-checkpoint';

const METADATA_CONTENT = 'version: 0\nformat: samsa-partition-log\n';

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** Writes the marker file; with the topic id of the log's topic (Kafka's `topic_id` line) when known. */
export function writePartitionMetadata(storage: Storage, dir: string, topicId?: string): void {
  const content = topicId === undefined ? METADATA_CONTENT : `version: 0\ntopic_id: ${topicId}\nformat: samsa-partition-log\n`;
  storage.writeFileAtomic(`${dir}/${PARTITION_METADATA_FILE}`, encoder.encode(content));
}

/** The topic id the marker file of `dir` records; undefined when there is none (or no file). */
export function readPartitionTopicId(storage: Storage, dir: string): string | undefined {
  const path = `${dir}/${PARTITION_METADATA_FILE}`;
  if (!storage.exists(path)) return undefined;
  const text = decoder.decode(storage.readFile(path));
  return /^topic_id: *(\S+) *$/m.exec(text)?.[1];
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

const INT32_MAX = 2147483647n;
const INT64_MAX = 9223372036854775807n;
const EPOCH_LINE = /^(\d+)\s+(\d+)$/;

/**
 * Kafka's `leader-epoch-checkpoint` text: version `0`, the entry count, then one
 * `<epoch> <startOffset>` line per entry, every line ending in `\n`.
 */
export function formatLeaderEpochCheckpoint(entries: readonly EpochEntry[]): string {
  let text = `0\n${entries.length}\n`;
  for (const e of entries) text += `${e.epoch} ${e.startOffset}\n`;
  return text;
}

/**
 * Parses {@link formatLeaderEpochCheckpoint} text. Undefined (never a partial list) unless the
 * version is 0, the count matches the number of entry lines exactly, and every entry is
 * `<int32 ≥ 0><whitespace><int64 ≥ 0>`. The last line's `\n` and `\r\n` endings are tolerated, as
 * Kafka's line reader does. An empty file is invalid (samsa always writes at least the header).
 * Entries are returned in file order, unchecked for monotonicity (replaying them through
 * `LeaderEpochCache.assign` resolves that as Kafka does).
 */
export function parseLeaderEpochCheckpoint(text: string): EpochEntry[] | undefined {
  const lines = text.split('\n').map((l) => (l.endsWith('\r') ? l.slice(0, -1) : l));
  if (lines.length > 0 && lines[lines.length - 1] === '') lines.pop();
  if (lines[0] !== '0' || lines[1] === undefined || !/^\d+$/.test(lines[1])) return undefined;
  const count = Number(lines[1]);
  if (lines.length - 2 !== count) return undefined;
  const entries: EpochEntry[] = [];
  for (const line of lines.slice(2)) {
    const m = EPOCH_LINE.exec(line);
    if (m === null) return undefined;
    const epoch = BigInt(m[1] as string);
    const startOffset = BigInt(m[2] as string);
    if (epoch > INT32_MAX || startOffset > INT64_MAX) return undefined;
    entries.push({ epoch: Number(epoch), startOffset });
  }
  return entries;
}

/** Writes the leader epoch checkpoint atomically: a crash leaves the old or the new file. */
export function writeLeaderEpochCheckpoint(storage: Storage, path: string, entries: readonly EpochEntry[]): void {
  storage.writeFileAtomic(path, encoder.encode(formatLeaderEpochCheckpoint(entries)));
}

/**
 * Reads the leader epoch checkpoint; undefined when the file is missing, unreadable or malformed
 * (see {@link parseLeaderEpochCheckpoint}), which the log treats as "rebuild from the batches".
 */
export function readLeaderEpochCheckpoint(storage: Storage, path: string): EpochEntry[] | undefined {
  if (!storage.exists(path)) return undefined;
  try {
    return parseLeaderEpochCheckpoint(new TextDecoder('utf-8', { fatal: true }).decode(storage.readFile(path)));
  } catch {
    return undefined;
  }
}
