/**
 * The key version index (keyVersionIndex.ts) as a partition log keeps it: checked against a
 * client's batches before an append, applied after every append (leader and follower), snapshotted
 * beside the producer state, and rebuilt from a snapshot plus the batches after it. A topic without
 * `key.version.index.enable` has no index and pays nothing; one that turns it on later gets it
 * rebuilt from the whole log.
 */
import { readControlBatch } from '../record/controlRecords.ts';
import { compressionOf, decodeRecordBatch, isControlBatch, isTransactional } from '../record/recordBatch.ts';
import { scanKeyedRecords } from '../record/keyVersions.ts';
import type { RecordBatchHeader } from '../record/recordBatch.ts';
import { KeyVersionIndex } from './keyVersionIndex.ts';
import type { IndexedRecord, VersionScratch } from './keyVersionIndex.ts';
import type { LocalLog } from './localLog.ts';

/**
 * The log's index when its config wants one: created (and rebuilt from the whole log) on first
 * use after the config turned it on, dropped when the config turned it off.
 */
export function keyIndexOf(log: LocalLog): KeyVersionIndex | undefined {
  if (!log.config.keyVersionIndexEnable) {
    log.keyVersions = undefined;
    return undefined;
  }
  if (log.keyVersions === undefined) {
    log.keyVersions = new KeyVersionIndex();
    rebuildKeyVersions(log, undefined);
  }
  return log.keyVersions;
}

/**
 * Checks a client batch at `position` against the index (see {@link KeyVersionIndex.check}).
 * Returns the original offsets of a batch that is wholly a retry by event id.
 */
export function checkKeyVersions(index: KeyVersionIndex, records: Uint8Array, position: number, header: RecordBatchHeader, scratch: VersionScratch): { retry: { firstOffset: bigint; lastOffset: bigint } | undefined; decoded: readonly IndexedRecord[] } {
  const decoded = recordsOf(records, position, header);
  return { retry: index.check(decoded, header.producerId, scratch), decoded };
}

/** Applies an appended batch (first offset `baseOffset`) to the index; a marker ends its producer's transaction there. */
export function applyKeyVersions(index: KeyVersionIndex, records: Uint8Array, position: number, header: RecordBatchHeader, baseOffset: bigint, from = 0n, to?: bigint, decoded?: readonly IndexedRecord[]): void {
  if (isControlBatch(header)) {
    if (header.producerId < 0n || baseOffset < from) return;
    try {
      const content = readControlBatch(records, position);
      if (content.kind === 'transactionMarker') index.endTransaction(header.producerId, content.result === 'COMMIT');
    } catch {
      // Appends never store a malformed marker; whatever this is, it ends nothing.
    }
    return;
  }
  // The leader decoded the batch to check it already.
  const all = decoded ?? recordsOf(records, position, header);
  index.apply(to === undefined ? all : all.filter((r) => baseOffset + BigInt(r.offsetDelta) < to), baseOffset, header.producerId, isTransactional(header), Number(from));
}

/**
 * The file holding what the index knew below the log start when the start last moved: the counts
 * a rebuild cannot replay (`<start>\n<index below start>`).
 */
export const KEY_VERSION_BASE_FILE = 'key-versions-base';

/**
 * Records the index as of `start` before the log start moves there (and segments below it go):
 * rebuilt from the newest snapshot (or base) at or below `start` plus the batches up to it, so
 * records below it whose transaction ends later stay pending (a truncation may still cut that end).
 */
export function writeKeyVersionBase(log: LocalLog, start: bigint): void {
  if (log.keyVersions === undefined) return;
  const asOf = new KeyVersionIndex();
  let from = log.startOffset;
  const snapshot = log
    .snapshotOffsets()
    .reverse()
    .find((o) => o <= start && o >= (log.segments[0] as { baseOffset: bigint }).baseOffset && log.storage.exists(keyVersionsPath(log, o)));
  const base = readBase(log);
  if (snapshot !== undefined && snapshot >= (base?.start ?? 0n) && asOf.load(log.storage.readFile(keyVersionsPath(log, snapshot)))) from = snapshot;
  else if (base !== undefined && base.start <= start && asOf.load(base.bytes)) from = base.start;
  else asOf.clear();
  replayInto(log, asOf, from, start);
  const body = asOf.encodeBelow(Number(start));
  const head = new TextEncoder().encode(`${start}\n`);
  const bytes = new Uint8Array(head.length + body.length);
  bytes.set(head);
  bytes.set(body, head.length);
  log.storage.writeFileAtomic(`${log.dir}/${KEY_VERSION_BASE_FILE}`, bytes);
}

/** The records as the index reads them: a light scan of an uncompressed batch, a full decode of a compressed one. */
function recordsOf(records: Uint8Array, position: number, header: RecordBatchHeader): readonly IndexedRecord[] {
  return scanKeyedRecords(records, position, header.recordsCount, compressionOf(header) !== 'none') ?? decodeRecordBatch(records, position, { verifyCrc: false }).records;
}

/** Path of the index snapshot taken at `offset` (beside the producer snapshot of that offset). */
export function keyVersionsPath(log: LocalLog, offset: bigint): string {
  return `${log.dir}/${offset.toString().padStart(20, '0')}.keyversions`;
}

/**
 * Rebuilds the index after the log was loaded or truncated: from the snapshot taken at
 * `snapshotOffset` (where the producer state was loaded from) when there is a valid one, else from
 * the log start, plus the batches after it.
 */
export function rebuildKeyVersions(log: LocalLog, snapshotOffset: bigint | undefined): void {
  if (!log.config.keyVersionIndexEnable) {
    log.keyVersions = undefined;
    return;
  }
  const index = (log.keyVersions ??= new KeyVersionIndex());
  index.clear();
  const base = readBase(log);
  let from = log.startOffset;
  if (snapshotOffset !== undefined && snapshotOffset >= (base?.start ?? 0n) && snapshotOffset >= log.segments[0]!.baseOffset && log.storage.exists(keyVersionsPath(log, snapshotOffset)) && index.load(log.storage.readFile(keyVersionsPath(log, snapshotOffset)))) {
    from = snapshotOffset;
  } else if (base !== undefined && index.load(base.bytes)) {
    from = base.start;
  } else index.clear();
  replayInto(log, index, from, log.logEndOffset);
  index.onLogStartOffsetIncremented(log.startOffset);
}

/** Applies every record and marker in [from, to). */
function replayInto(log: LocalLog, index: KeyVersionIndex, from: bigint, to: bigint): void {
  for (const segment of log.segments) {
    if (segment.nextOffset <= from || segment.baseOffset >= to) continue;
    segment.scan(0, false, (header, _position, bytes, at) => {
      if (header.baseOffset >= to) return undefined;
      if (header.baseOffset + BigInt(header.lastOffsetDelta) >= from) applyKeyVersions(index, bytes, at, header, header.baseOffset, from, to);
      return undefined;
    });
  }
}

/** The base file, when there is a readable one. */
function readBase(log: LocalLog): { start: bigint; bytes: Uint8Array } | undefined {
  const path = `${log.dir}/${KEY_VERSION_BASE_FILE}`;
  if (!log.storage.exists(path)) return undefined;
  const bytes = log.storage.readFile(path);
  const newline = bytes.indexOf(10);
  const start = newline < 0 ? '' : new TextDecoder().decode(bytes.subarray(0, newline));
  return /^\d+$/.test(start) ? { start: BigInt(start), bytes: bytes.subarray(newline + 1) } : undefined;
}
