/**
 * A controller's metadata log, vote and snapshot on disk, as KRaft keeps them under
 * `<dir>/__cluster_metadata-0/`:
 * - `quorum-state`: epoch, vote and known leader (JSON, replaced atomically: tmp, fsync, rename);
 * - `00000000000000000000.log`: the entries after the snapshot, one checksummed frame each
 *   (`u32 length | u32 crc32c | v8-serialized entry`), appended and fsynced; a torn or corrupt
 *   tail is truncated at open (Kafka's log recovery) and reported at warn;
 * - `<20-digit end offset>-<10-digit epoch>.checkpoint`: the latest snapshot (`u32 crc32c | v8`),
 *   written atomically; the log then starts at its end offset.
 *
 * It is a {@link RaftDurableState} whose `persist()` the Raft node calls before any output that
 * depends on the state leaves, so a vote or an acknowledgement is on disk before it is sent.
 */
import * as fs from 'node:fs';
import * as nodePath from 'node:path';
import { deserialize, serialize } from 'node:v8';
import { StorageError } from '../../errors.ts';
import { crc32c } from '../../record/crc32c.ts';
import { writeFileAtomicSync } from '../../log/storage/metaProperties.ts';
import type { Logger } from '../../logger.ts';
import { silentLogger } from '../../logger.ts';
import type { RaftDurableState, RaftEntry, RaftSnapshot } from './raft/log.ts';

/** Kafka's directory of the metadata log. */
export const METADATA_LOG_DIR = '__cluster_metadata-0';
const LOG_FILE = '00000000000000000000.log';
const QUORUM_STATE_FILE = 'quorum-state';
const CHECKPOINT = /^(\d{20})-(\d{10})\.checkpoint$/;
const FRAME_HEADER = 8;

/** A {@link RaftDurableState} written through to files; `close()` releases the log file. */
export interface FileRaftDurableState<T> extends RaftDurableState<T> {
  /** The directory holding the files. */
  readonly directory: string;
  persist(): void;
  /** Closes the log file; the state must not be used afterwards. */
  close(): void;
}

function frame(entry: RaftEntry<unknown>): Uint8Array {
  const body = serialize(entry);
  const out = new Uint8Array(FRAME_HEADER + body.length);
  const view = new DataView(out.buffer);
  view.setUint32(0, body.length);
  view.setUint32(4, crc32c(body));
  out.set(body, FRAME_HEADER);
  return out;
}

function checkpointName(snap: RaftSnapshot): string {
  return `${snap.endOffset.toString().padStart(20, '0')}-${String(snap.epoch).padStart(10, '0')}.checkpoint`;
}

function readSnapshot(path: string): RaftSnapshot | undefined {
  const bytes = fs.readFileSync(path);
  if (bytes.length < 4) return undefined;
  const body = bytes.subarray(4);
  if (new DataView(bytes.buffer, bytes.byteOffset).getUint32(0) !== crc32c(body)) return undefined;
  const snap = deserialize(body) as RaftSnapshot;
  return Object.freeze({ endOffset: snap.endOffset, epoch: snap.epoch, state: snap.state });
}

/**
 * Opens (creating when missing) the durable Raft state in `directory`, recovering the log: frames
 * after a torn or corrupt one, and entries not contiguous with the snapshot, are cut off.
 * @throws StorageError when a file cannot be read or written.
 */
export function openFileRaftDurableState<T>(directory: string, options: { logger?: Logger } = {}): FileRaftDurableState<T> {
  const logger = options.logger ?? silentLogger;
  const dir = nodePath.join(directory, METADATA_LOG_DIR);
  const logPath = nodePath.join(dir, LOG_FILE);
  const quorumPath = nodePath.join(dir, QUORUM_STATE_FILE);
  const io = <R>(path: string, operation: string, action: () => R): R => {
    try {
      return action();
    } catch (e) {
      if (e instanceof StorageError) throw e;
      throw new StorageError(path, operation, { cause: e });
    }
  };
  io(dir, 'create directory', () => fs.mkdirSync(dir, { recursive: true }));

  // quorum-state (Kafka's field names).
  let epoch = 0;
  let votedFor: number | undefined;
  let leaderId: number | undefined;
  if (fs.existsSync(quorumPath)) {
    const q = io(quorumPath, 'read', () => JSON.parse(fs.readFileSync(quorumPath, 'utf8')) as { leaderEpoch: number; votedId: number; leaderId: number });
    epoch = q.leaderEpoch;
    votedFor = q.votedId >= 0 ? q.votedId : undefined;
    leaderId = q.leaderId >= 0 ? q.leaderId : undefined;
  }

  // The latest valid snapshot; older ones are left from before the last one was written.
  let snapshot: RaftSnapshot | undefined;
  const checkpoints = io(dir, 'list', () => fs.readdirSync(dir)).filter((f) => CHECKPOINT.test(f)).sort();
  for (const name of [...checkpoints].reverse()) {
    snapshot = io(nodePath.join(dir, name), 'read', () => readSnapshot(nodePath.join(dir, name)));
    if (snapshot !== undefined) break;
    logger.warn('metadata snapshot is corrupt; using an older one', { path: nodePath.join(dir, name) });
  }
  for (const name of checkpoints) if (snapshot === undefined || name !== checkpointName(snapshot)) io(dir, 'remove', () => fs.rmSync(nodePath.join(dir, name), { force: true }));

  // The log: valid frames, contiguous from the snapshot's end.
  const bytes = fs.existsSync(logPath) ? io(logPath, 'read', () => fs.readFileSync(logPath)) : new Uint8Array(0);
  const entries: RaftEntry<T>[] = [];
  const positions: number[] = [];
  const start = snapshot?.endOffset ?? 0n;
  let position = 0;
  let rewrite = false;
  while (position + FRAME_HEADER <= bytes.length) {
    const view = new DataView(bytes.buffer, bytes.byteOffset + position);
    const length = view.getUint32(0);
    if (position + FRAME_HEADER + length > bytes.length) break;
    const body = bytes.subarray(position + FRAME_HEADER, position + FRAME_HEADER + length);
    if (view.getUint32(4) !== crc32c(body)) break;
    const entry = Object.freeze(deserialize(body) as RaftEntry<T>);
    const last = entries[entries.length - 1];
    if (entry.offset < start) {
      rewrite = true; // already in the snapshot (a crash between checkpoint and log rewrite)
    } else if (entry.offset !== (last === undefined ? start : last.offset + 1n) || entry.epoch < (last?.epoch ?? snapshot?.epoch ?? 0)) {
      break;
    } else {
      entries.push(entry);
      positions.push(position);
    }
    position += FRAME_HEADER + length;
  }
  if (position < bytes.length) {
    logger.warn('truncated a torn or corrupt tail of the metadata log', { path: logPath, position, truncatedBytes: bytes.length - position, records: entries.length });
  }
  // An entry can never be newer than the epoch on disk (quorum-state is written first); stay safe anyway.
  for (const e of entries) if (e.epoch > epoch) epoch = e.epoch;
  if (snapshot !== undefined && snapshot.epoch > epoch) epoch = snapshot.epoch;
  if (entries.length > 0 || snapshot !== undefined) {
    logger.info('controller loaded the metadata log from disk', { path: dir, records: entries.length, snapshotEndOffset: snapshot === undefined ? undefined : Number(snapshot.endOffset), logEndOffset: Number(start + BigInt(entries.length)) });
  }

  const writeLog = (list: readonly RaftEntry<T>[]): void => {
    const frames = list.map(frame);
    let at = 0;
    positions.length = 0;
    for (const f of frames) {
      positions.push(at);
      at += f.length;
    }
    const all = new Uint8Array(at);
    frames.forEach((f, i) => all.set(f, positions[i] as number));
    writeFileAtomicSync(logPath, all);
  };
  if (rewrite || position < bytes.length || !fs.existsSync(logPath)) writeLog(entries);
  let fd = io(logPath, 'open', () => fs.openSync(logPath, 'r+'));
  let size = positions.length === 0 ? 0 : io(logPath, 'stat', () => fs.fstatSync(fd).size);
  if (positions.length === 0) io(logPath, 'truncate', () => fs.ftruncateSync(fd, 0));

  const persisted = { epoch, votedFor, leaderId, snapshot, entries: entries.slice() };
  const same = (a: RaftEntry<T>, b: RaftEntry<T>): boolean => a === b || (a.offset === b.offset && a.epoch === b.epoch);

  const state: FileRaftDurableState<T> = {
    directory: dir,
    epoch,
    votedFor,
    leaderId,
    entries,
    snapshot,
    persist(): void {
      // 1. The vote and epoch first: no entry on disk is ever newer than the epoch on disk.
      if (state.epoch !== persisted.epoch || state.votedFor !== persisted.votedFor || state.leaderId !== persisted.leaderId) {
        writeFileAtomicSync(quorumPath, JSON.stringify({ leaderId: state.leaderId ?? -1, leaderEpoch: state.epoch, votedId: state.votedFor ?? -1, data_version: 0 }));
        persisted.epoch = state.epoch;
        persisted.votedFor = state.votedFor;
        persisted.leaderId = state.leaderId;
      }
      // 2. A new snapshot: checkpoint it, then rewrite the log to start at its end (rare).
      if (state.snapshot !== persisted.snapshot) {
        const snap = state.snapshot as RaftSnapshot;
        const body = serialize({ endOffset: snap.endOffset, epoch: snap.epoch, state: snap.state });
        const out = new Uint8Array(4 + body.length);
        new DataView(out.buffer).setUint32(0, crc32c(body));
        out.set(body, 4);
        writeFileAtomicSync(nodePath.join(dir, checkpointName(snap)), out);
        fs.closeSync(fd);
        writeLog(state.entries);
        fd = io(logPath, 'open', () => fs.openSync(logPath, 'r+'));
        size = io(logPath, 'stat', () => fs.fstatSync(fd).size);
        for (const name of fs.readdirSync(dir)) if (CHECKPOINT.test(name) && name !== checkpointName(snap)) fs.rmSync(nodePath.join(dir, name), { force: true });
        persisted.snapshot = snap;
        persisted.entries = state.entries.slice();
        return;
      }
      // 3. The log: cut where it diverges from what is on disk, append the rest. By Raft's log
      // matching, an entry with the same offset and epoch means the same prefix.
      const cur = state.entries;
      const old = persisted.entries;
      let keep = old.length;
      if (keep > cur.length || (keep > 0 && !same(cur[keep - 1] as RaftEntry<T>, old[keep - 1] as RaftEntry<T>))) {
        keep = Math.min(keep, cur.length);
        while (keep > 0 && !same(cur[keep - 1] as RaftEntry<T>, old[keep - 1] as RaftEntry<T>)) keep--;
      }
      if (keep === old.length && keep === cur.length) return;
      if (keep < old.length) {
        size = keep === 0 ? 0 : (positions[keep] as number);
        io(logPath, 'truncate', () => fs.ftruncateSync(fd, size));
        old.length = keep;
        positions.length = keep;
      }
      if (keep < cur.length) {
        const frames = cur.slice(keep).map(frame);
        for (const f of frames) {
          positions.push(size);
          let done = 0;
          while (done < f.length) done += io(logPath, 'append', () => fs.writeSync(fd, f, done, f.length - done, size + done));
          size += f.length;
        }
        for (let i = keep; i < cur.length; i++) old.push(cur[i] as RaftEntry<T>);
      }
      io(logPath, 'fsync', () => fs.fsyncSync(fd));
    },
    close(): void {
      try {
        fs.closeSync(fd);
      } catch {
        // Already closed.
      }
    },
  };
  return state;
}
