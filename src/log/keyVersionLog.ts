/**
 * The key version index (keyVersionIndex.ts) as a partition log keeps it, through the generic
 * {@link BatchStateHook}: checked against a client's batches before an append, applied after every
 * append (leader and follower), snapshotted beside the producer state, and rebuilt from a snapshot
 * plus the batches after it. A topic without `key.version.index.enable` has no such hook and pays
 * nothing; one that turns it on later gets it rebuilt from the whole log.
 */
import { readControlBatch } from '../record/controlRecords.ts';
import { compressionOf, decodeRecordBatch, isControlBatch, isTransactional } from '../record/recordBatch.ts';
import { scanKeyedRecords } from '../record/keyVersions.ts';
import type { RecordBatchHeader } from '../record/recordBatch.ts';
import { KeyVersionIndex } from './keyVersionIndex.ts';
import type { IndexedRecord, VersionScratch } from './keyVersionIndex.ts';
import type { BatchStateHook, HookCheck, HookedLog } from './batchStateHook.ts';

/** The key version index of a log, as its batch state hook. */
export class KeyVersionHook implements BatchStateHook {
  readonly index = new KeyVersionIndex();

  constructor(private readonly log: HookedLog) {}

  check(records: Uint8Array, position: number, header: RecordBatchHeader, scratch: VersionScratch): HookCheck {
    const read = recordsOf(records, position, header);
    const retry = this.index.check(read, header.producerId, scratch);
    return retry === undefined ? { read } : { retry, read };
  }

  apply(records: Uint8Array, position: number, header: RecordBatchHeader, baseOffset: bigint, read?: unknown): void {
    applyKeyVersions(this.index, records, position, header, baseOffset, 0n, undefined, read as readonly IndexedRecord[] | undefined);
  }

  writeSnapshot(offset: bigint): void {
    this.log.storage.writeFileAtomic(keyVersionsPath(this.log, offset), this.index.encode());
  }

  removeSnapshot(offset: bigint): void {
    const path = keyVersionsPath(this.log, offset);
    if (this.log.storage.exists(path)) this.log.storage.remove(path);
  }

  rebuild(snapshotOffset: bigint | undefined): void {
    rebuildKeyVersions(this.log, this.index, snapshotOffset);
  }

  beforeLogStartMove(start: bigint): void {
    writeKeyVersionBase(this.log, start);
  }

  afterLogStartMove(start: bigint): void {
    this.index.onLogStartOffsetIncremented(start);
  }

  reset(): void {
    this.index.clear();
    const base = `${this.log.dir}/${KEY_VERSION_BASE_FILE}`;
    if (this.log.storage.exists(base)) this.log.storage.remove(base);
  }
}


/** Applies an appended batch (first offset `baseOffset`) to the index; a marker ends its producer's transaction there. */
function applyKeyVersions(index: KeyVersionIndex, records: Uint8Array, position: number, header: RecordBatchHeader, baseOffset: bigint, from = 0n, to?: bigint, decoded?: readonly IndexedRecord[]): void {
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
function writeKeyVersionBase(log: HookedLog, start: bigint): void {
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
function keyVersionsPath(log: HookedLog, offset: bigint): string {
  return `${log.dir}/${offset.toString().padStart(20, '0')}.keyversions`;
}

/**
 * Rebuilds the index after the log was loaded or truncated: from the snapshot taken at
 * `snapshotOffset` (where the producer state was loaded from) when there is a valid one, else from
 * the log start, plus the batches after it.
 */
function rebuildKeyVersions(log: HookedLog, index: KeyVersionIndex, snapshotOffset: bigint | undefined): void {
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
function replayInto(log: HookedLog, index: KeyVersionIndex, from: bigint, to: bigint): void {
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
function readBase(log: HookedLog): { start: bigint; bytes: Uint8Array } | undefined {
  const path = `${log.dir}/${KEY_VERSION_BASE_FILE}`;
  if (!log.storage.exists(path)) return undefined;
  const bytes = log.storage.readFile(path);
  const newline = bytes.indexOf(10);
  const start = newline < 0 ? '' : new TextDecoder().decode(bytes.subarray(0, newline));
  return /^\d+$/.test(start) ? { start: BigInt(start), bytes: bytes.subarray(newline + 1) } : undefined;
}
