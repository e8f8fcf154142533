/**
 * A {@link Storage} on real files under a root directory.
 *
 * Reads and writes are synchronous `node:fs` calls: they only touch the OS page cache, so they
 * are cheap and keep the log's state machine simple. Durability is the one slow thing, so
 * `sync()` runs fsync on libuv's thread pool and coalesces callers (group commit).
 *
 * All handles opened on the same path through one FileStorage share one descriptor and one
 * in-memory size, so they see each other's appends without a stat per call. The sharing follows
 * the file, not the name: renaming keeps it, while replacing or removing the path detaches it
 * (open handles keep the old file, as POSIX does).
 */

import * as fs from 'node:fs';
import * as nodePath from 'node:path';
import { InvalidArgumentError, StorageError } from '../../errors.ts';
import type { Storage, StorageFile } from './storage.ts';

/** The asynchronous fsync FileStorage calls; same shape as `fs.fsync`. */
export type FsyncFunction = (fd: number, callback: (error: NodeJS.ErrnoException | null) => void) => void;

/** Options of {@link FileStorage}. */
export interface FileStorageOptions {
  /**
   * Test hook: replaces `fs.fsync` for `sync()`, e.g. to count calls or to hold an fsync
   * in flight. Defaults to `fs.fsync`.
   */
  readonly fsync?: FsyncFunction;
  /** Test hook: replaces `fs.fsyncSync` for `syncNow()` and `writeFileAtomic`. */
  readonly fsyncSync?: (fd: number) => void;
}

function errnoOf(e: unknown): string | undefined {
  const code = (e as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : undefined;
}

function checkNonNegativeInteger(argument: string, value: number): void {
  if (!Number.isSafeInteger(value) || value < 0) throw new InvalidArgumentError(argument, `expected a non-negative integer, got ${value}`);
}

/** Runs an fs call, wrapping its failure in a {@link StorageError} that keeps the original. */
function attempt<T>(path: string, operation: string, action: () => T): T {
  try {
    return action();
  } catch (e) {
    if (e instanceof StorageError || e instanceof InvalidArgumentError) throw e;
    throw new StorageError(path, operation, { cause: e });
  }
}

/** Writes all of `bytes` at `position`; `writeSync` may write less than asked. */
function writeFully(fd: number, bytes: Uint8Array, position: number): void {
  let done = 0;
  while (done < bytes.length) done += fs.writeSync(fd, bytes, done, bytes.length - done, position + done);
}

/**
 * One open file shared by every handle on it: the descriptor, the size, and the group-commit
 * state. The descriptor closes when the last handle closes and no fsync is using it.
 */
class OpenFile {
  size: number;
  handles = 1;
  /** The fsync running now, if any. */
  private inFlight: Promise<void> | undefined;
  /** The one fsync queued behind `inFlight`, shared by everyone who asked while it ran. */
  private queued: Promise<void> | undefined;
  private closed = false;

  constructor(
    /** Where the file is now; updated when it is renamed. */
    public absolutePath: string,
    readonly fd: number,
    private readonly fsync: FsyncFunction,
  ) {
    this.size = attempt(absolutePath, 'stat', () => fs.fstatSync(fd).size);
  }

  /**
   * Group commit. An fsync only covers writes made before it started, so a caller arriving
   * while one runs cannot share it; all such callers share the single fsync queued behind it.
   * Any number of concurrent callers therefore cost at most two fsyncs.
   */
  sync(): Promise<void> {
    if (this.queued !== undefined) return this.queued;
    const running = this.inFlight;
    if (running === undefined) return this.start();
    const settled = (): Promise<void> => {
      this.queued = undefined;
      return this.start();
    };
    this.queued = running.then(settled, settled);
    return this.queued;
  }

  /** Starts an fsync; only called when none is in flight. */
  private start(): Promise<void> {
    let finished = false;
    const run = new Promise<void>((resolve, reject) => {
      const done = (error: unknown): void => {
        if (finished) return;
        finished = true;
        this.inFlight = undefined;
        if (error === null || error === undefined) resolve();
        else reject(new StorageError(this.absolutePath, 'fsync', { cause: error }));
        this.closeIfIdle();
      };
      try {
        this.fsync(this.fd, done);
      } catch (e) {
        done(e);
      }
    });
    // An fsync hook that calls back synchronously has already finished.
    if (!finished) this.inFlight = run;
    return run;
  }

  /** Drops one handle; the descriptor closes now, or once the fsyncs using it have finished. */
  release(): void {
    this.handles -= 1;
    if (this.handles === 0) this.closeIfIdle(true);
  }

  private closeIfIdle(report = false): void {
    if (this.closed || this.handles > 0 || this.inFlight !== undefined || this.queued !== undefined) return;
    this.closed = true;
    try {
      fs.closeSync(this.fd);
    } catch (e) {
      // After a deferred close nobody is left to tell; an immediate close reports.
      if (report) throw new StorageError(this.absolutePath, 'close', { cause: e });
    }
  }
}

/** A handle on an {@link OpenFile}. */
class FileHandle implements StorageFile {
  private closed = false;

  constructor(
    readonly path: string,
    private readonly file: OpenFile,
    private readonly fsyncSync: (fd: number) => void,
    private readonly onClose: () => void,
  ) {}

  private check(operation: string): OpenFile {
    if (this.closed) throw new StorageError(this.file.absolutePath, operation, { cause: Object.assign(new Error('EBADF: the file handle is closed'), { code: 'EBADF' }) });
    return this.file;
  }

  size(): number {
    return this.check('get the size of').size;
  }

  append(bytes: Uint8Array): number {
    const file = this.check('append to');
    // Positional write at the tracked end rather than O_APPEND: on Linux, pwrite on an O_APPEND
    // descriptor ignores the position, which would break write().
    const position = file.size;
    attempt(file.absolutePath, 'append to', () => writeFully(file.fd, bytes, position));
    file.size = position + bytes.length;
    return position;
  }

  write(position: number, bytes: Uint8Array): void {
    const file = this.check('write to');
    checkNonNegativeInteger('position', position);
    attempt(file.absolutePath, 'write to', () => writeFully(file.fd, bytes, position));
    file.size = Math.max(file.size, position + bytes.length);
  }

  /** One owned buffer (a file read copies anyway). */
  readViews(position: number, length: number): Uint8Array[] {
    const bytes = this.read(position, length);
    return bytes.length === 0 ? [] : [bytes];
  }

  read(position: number, length: number): Uint8Array {
    const file = this.check('read');
    checkNonNegativeInteger('position', position);
    checkNonNegativeInteger('length', length);
    const wanted = Math.max(0, Math.min(length, file.size - position));
    if (wanted === 0) return new Uint8Array(0);
    // An unpooled buffer, returned as a plain Uint8Array: the caller owns it, and its slice()
    // copies (Buffer#slice would alias).
    const buffer = Buffer.allocUnsafeSlow(wanted);
    let done = 0;
    attempt(file.absolutePath, 'read', () => {
      while (done < wanted) {
        const n = fs.readSync(file.fd, buffer, done, wanted - done, position + done);
        if (n === 0) break;
        done += n;
      }
    });
    return new Uint8Array(buffer.buffer, buffer.byteOffset, done);
  }

  truncate(size: number): void {
    const file = this.check('truncate');
    checkNonNegativeInteger('size', size);
    if (size >= file.size) return;
    attempt(file.absolutePath, 'truncate', () => fs.ftruncateSync(file.fd, size));
    file.size = size;
  }

  /** Group-committed fsync (see the module comment); rejects with {@link StorageError}. */
  sync(): Promise<void> {
    try {
      return this.check('fsync').sync();
    } catch (e) {
      return Promise.reject(e as Error);
    }
  }

  syncNow(): void {
    const file = this.check('fsync');
    attempt(file.absolutePath, 'fsync', () => this.fsyncSync(file.fd));
  }

  /** Closing twice is harmless. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.onClose();
  }
}

/**
 * {@link Storage} on the local file system under `root` (resolved against the working directory;
 * the constructor does no I/O, `mkdir('')` creates the root). Paths are relative to the root and
 * may not escape it. fs failures throw {@link StorageError} with the absolute path, the operation
 * and the original error as `cause`; malformed arguments throw {@link InvalidArgumentError}.
 *
 * Only one FileStorage (in one process) should write a given directory: sizes are tracked in
 * memory, so writes made behind its back are not seen by handles it already has open.
 */
export class FileStorage implements Storage {
  /** The absolute root directory. */
  readonly root: string;
  /** The absolute root directory. */
  readonly description: string;
  private readonly fsync: FsyncFunction;
  private readonly fsyncSync: (fd: number) => void;
  /** Shared open files by absolute path. */
  private readonly openFiles = new Map<string, OpenFile>();

  constructor(root: string, options: FileStorageOptions = {}) {
    this.root = nodePath.resolve(root);
    this.description = this.root;
    this.fsync = options.fsync ?? ((fd, callback) => fs.fsync(fd, callback));
    this.fsyncSync = options.fsyncSync ?? ((fd) => fs.fsyncSync(fd));
  }

  /** Names of the regular files directly in `dir` (subdirectories excluded), sorted by code unit. */
  list(dir: string): string[] {
    const abs = this.resolve(dir);
    try {
      return fs
        .readdirSync(abs, { withFileTypes: true })
        .filter((entry) => entry.isFile())
        .map((entry) => entry.name)
        .sort();
    } catch (e) {
      if (errnoOf(e) === 'ENOENT') return [];
      throw new StorageError(abs, 'list', { cause: e });
    }
  }

  exists(path: string): boolean {
    const abs = this.resolve(path);
    return attempt(abs, 'stat', () => fs.statSync(abs, { throwIfNoEntry: false }) !== undefined);
  }

  isDirectory(path: string): boolean {
    const abs = this.resolve(path);
    return attempt(abs, 'stat', () => fs.statSync(abs, { throwIfNoEntry: false })?.isDirectory() === true);
  }

  mkdir(dir: string): void {
    const abs = this.resolve(dir);
    attempt(abs, 'create directory', () => fs.mkdirSync(abs, { recursive: true }));
  }

  open(path: string, options?: { create?: boolean }): StorageFile {
    const abs = this.resolve(path);
    let file = this.openFiles.get(abs);
    if (file === undefined) {
      // O_RDWR without O_APPEND: see FileHandle.append.
      const flags = fs.constants.O_RDWR | (options?.create === true ? fs.constants.O_CREAT : 0);
      const fd = attempt(abs, 'open', () => fs.openSync(abs, flags, 0o644));
      try {
        file = new OpenFile(abs, fd, this.fsync);
      } catch (e) {
        fs.closeSync(fd);
        throw e;
      }
      this.openFiles.set(abs, file);
    } else {
      file.handles += 1;
    }
    const opened = file;
    return new FileHandle(path, opened, this.fsyncSync, () => this.release(opened));
  }

  readFile(path: string): Uint8Array {
    const abs = this.resolve(path);
    const buffer = attempt(abs, 'read', () => fs.readFileSync(abs));
    return new Uint8Array(buffer.buffer, buffer.byteOffset, buffer.byteLength);
  }

  /**
   * Writes `<path>.tmp`, fsyncs it, renames it over `path`, then fsyncs the directory (best
   * effort: not every platform can fsync a directory) so the rename itself is durable.
   */
  writeFileAtomic(path: string, bytes: Uint8Array): void {
    const abs = this.resolve(path);
    const tmp = `${abs}.tmp`;
    try {
      const fd = fs.openSync(tmp, 'w', 0o644);
      try {
        writeFully(fd, bytes, 0);
        this.fsyncSync(fd);
      } finally {
        fs.closeSync(fd);
      }
      fs.renameSync(tmp, abs);
    } catch (e) {
      try {
        fs.rmSync(tmp, { force: true });
      } catch {
        // Already failing; the leftover .tmp is harmless and overwritten next time.
      }
      throw new StorageError(abs, 'atomically replace', { cause: e });
    }
    this.openFiles.delete(abs);
    this.syncDirectory(nodePath.dirname(abs));
  }

  rename(from: string, to: string): void {
    const source = this.resolve(from);
    const target = this.resolve(to);
    if (source === target) {
      if (!this.exists(from)) throw new StorageError(source, `rename to "${target}"`, { cause: Object.assign(new Error('ENOENT: no such file'), { code: 'ENOENT' }) });
      return;
    }
    attempt(source, `rename to "${target}"`, () => fs.renameSync(source, target));
    // Handles follow the file; whatever was open at the target is now unlinked.
    const moved = this.openFiles.get(source);
    this.openFiles.delete(source);
    this.openFiles.delete(target);
    if (moved !== undefined) {
      moved.absolutePath = target;
      this.openFiles.set(target, moved);
    }
  }

  /** Deletes a file; missing is a no-op, a directory is a {@link StorageError}. */
  remove(path: string): void {
    const abs = this.resolve(path);
    try {
      fs.unlinkSync(abs);
    } catch (e) {
      if (errnoOf(e) === 'ENOENT') return;
      throw new StorageError(abs, 'remove', { cause: e });
    }
    this.openFiles.delete(abs);
  }

  /** Deletes a directory tree; a missing directory is a no-op. The root cannot be removed. */
  removeDirectory(dir: string): void {
    const abs = this.resolve(dir);
    if (abs === this.root) throw new InvalidArgumentError('dir', 'refusing to remove the storage root');
    const stat = attempt(abs, 'remove directory', () => fs.lstatSync(abs, { throwIfNoEntry: false }));
    if (stat === undefined) return;
    if (!stat.isDirectory()) throw new StorageError(abs, 'remove directory', { cause: Object.assign(new Error('ENOTDIR: not a directory'), { code: 'ENOTDIR' }) });
    attempt(abs, 'remove directory', () => fs.rmSync(abs, { recursive: true, force: true }));
    const prefix = abs + nodePath.sep;
    for (const key of [...this.openFiles.keys()]) if (key.startsWith(prefix)) this.openFiles.delete(key);
  }

  private release(file: OpenFile): void {
    // Stop sharing before closing: a later open must get a fresh descriptor.
    if (file.handles === 1 && this.openFiles.get(file.absolutePath) === file) this.openFiles.delete(file.absolutePath);
    file.release();
  }

  private syncDirectory(dir: string): void {
    let fd: number | undefined;
    try {
      fd = fs.openSync(dir, 'r');
      this.fsyncSync(fd);
    } catch {
      // Best effort: Windows cannot open directories, some file systems refuse fsync on them.
    } finally {
      if (fd !== undefined) fs.closeSync(fd);
    }
  }

  /** Maps a root-relative `/` path to an absolute path inside the root. */
  private resolve(path: string): string {
    if (nodePath.posix.isAbsolute(path) || nodePath.isAbsolute(path)) throw new InvalidArgumentError('path', `"${path}" must be relative to the storage root`);
    const abs = nodePath.resolve(this.root, ...path.split('/').filter((part) => part !== ''));
    if (abs !== this.root && !abs.startsWith(this.root + nodePath.sep)) throw new InvalidArgumentError('path', `"${path}" escapes the storage root`);
    return abs;
  }
}
