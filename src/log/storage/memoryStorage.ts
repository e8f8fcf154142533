/**
 * An in-process {@link Storage}: files are lists of byte chunks in a map, directories are
 * tracked explicitly. It behaves like a POSIX file system seen through one process's page cache:
 * an open handle keeps the file it opened (an "inode") even when the path is renamed, removed or
 * atomically replaced, and every handle to the same file sees the same bytes.
 *
 * Nothing is ever lost on `sync()`, so the storage object outliving a log instance models a
 * broker crash with an intact page cache; tests that need torn or corrupted files use the test
 * hooks ({@link MemoryStorage.bytesOf}, {@link MemoryStorage.setBytes}, {@link MemoryStorage.corrupt}).
 */

import { InvalidArgumentError, StorageError } from '../../errors.ts';
import type { Storage, StorageFile } from './storage.ts';

/** Appends at least this large are kept as they are (the log owns the buffer it appends), not copied. */
const ADOPT_MIN = 4096;
/** First capacity of a buffer that collects small appends and writes. */
const TAIL_MIN = 256;
/** Largest buffer that collects small appends; beyond it a new one starts. */
const TAIL_MAX = 1 << 20;

/**
 * One file's content; handles point here, so it plays the role of an inode.
 *
 * The bytes are a list of chunks laid end to end: chunk `i` holds `lengths[i]` bytes from
 * position `starts[i]`. A large append (a record batch, a fetched run of batches) becomes a chunk
 * as it is, without a copy: like a page cache taking the page it was handed, the log gives up the
 * buffer it appends (see {@link StorageFile.append}). Small appends and positional writes are
 * copied into a collecting chunk that grows by doubling up to {@link TAIL_MAX}. So appending never
 * copies what was written before, and truncation only drops or shortens chunks.
 *
 * Adopted chunks are shared with readers ({@link MemoryNode.readViews} hands out views of them), so
 * they are never changed in place: a write or a bit flip over one first replaces it with a copy.
 *
 * Invariants: chunks cover [0, size) without gaps (a write past the end adds a zero chunk for the
 * hole, as a file system reads a hole as zeros); `lengths[i] <= chunks[i].length`; only the last
 * chunk may have spare capacity, and then it is `tail`, a buffer this node allocated itself.
 */
class MemoryNode {
  private chunks: Uint8Array[] = [];
  private starts: number[] = [];
  private lengths: number[] = [];
  /** The last chunk when it is a collecting buffer of this node's own (spare room may follow its length). */
  private tail: Uint8Array | undefined;
  size = 0;

  constructor(bytes?: Uint8Array) {
    if (bytes !== undefined) this.write(0, bytes);
  }

  /** Index of the chunk holding `position` (< size). */
  private chunkAt(position: number): number {
    const starts = this.starts;
    let lo = 0;
    let hi = starts.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >>> 1;
      if ((starts[mid] as number) <= position) lo = mid;
      else hi = mid - 1;
    }
    return lo;
  }

  private push(chunk: Uint8Array, length: number, own: boolean): void {
    this.chunks.push(chunk);
    this.starts.push(this.size);
    this.lengths.push(length);
    this.size += length;
    this.tail = own ? chunk : undefined;
  }

  /** Appends a copy of `bytes` (a small append, a write, or a hole's zeros when `bytes` is a count). */
  private copyAppend(bytes: Uint8Array | number): void {
    const n = typeof bytes === 'number' ? bytes : bytes.length;
    if (n === 0) return;
    const last = this.chunks.length - 1;
    const tail = this.tail;
    if (tail !== undefined && last >= 0 && this.chunks[last] === tail) {
      const used = this.lengths[last] as number;
      if (used + n <= tail.length) {
        if (typeof bytes !== 'number') tail.set(bytes, used);
        else tail.fill(0, used, used + n);
        this.lengths[last] = used + n;
        this.size += n;
        return;
      }
    }
    const previous = tail?.length ?? 0;
    const capacity = Math.max(n, Math.min(TAIL_MAX, Math.max(TAIL_MIN, previous * 2)));
    const chunk = new Uint8Array(capacity); // zeros: a hole needs no fill
    if (typeof bytes !== 'number') chunk.set(bytes);
    this.push(chunk, n, true);
  }

  /** Appends `bytes`, keeping a large buffer as a chunk of its own. The caller gives it up. */
  append(bytes: Uint8Array): void {
    if (bytes.length >= ADOPT_MIN) this.push(bytes, bytes.length, false);
    else this.copyAppend(bytes);
  }

  /** Writes a copy of `bytes` at `position`, overwriting, extending, or leaving a zero hole before it. */
  write(position: number, bytes: Uint8Array): void {
    if (position > this.size) this.copyAppend(position - this.size);
    let done = 0;
    if (position < this.size) {
      // Overwrite in place the part that lies inside the file.
      let i = this.chunkAt(position);
      let at = position;
      while (done < bytes.length && i < this.chunks.length) {
        const chunk = this.writable(i);
        const offset = at - (this.starts[i] as number);
        const take = Math.min((this.lengths[i] as number) - offset, bytes.length - done);
        chunk.set(bytes.subarray(done, done + take), offset);
        done += take;
        at += take;
        i++;
      }
    }
    if (done < bytes.length) this.copyAppend(done === 0 ? bytes : bytes.subarray(done));
  }

  /** Chunk `i`, ready to be changed in place: an adopted chunk is replaced by a copy first, since views of it may be out. */
  private writable(i: number): Uint8Array {
    const chunk = this.chunks[i] as Uint8Array;
    if (chunk === this.tail) return chunk;
    const copy = chunk.slice(0, this.lengths[i] as number);
    this.chunks[i] = copy;
    return copy;
  }

  /**
   * Views of the adopted chunks the range covers, copies of what lies in the collecting tail
   * (later appends write into its spare room, and a truncation may let them overwrite it).
   */
  readViews(position: number, length: number): Uint8Array[] {
    if (position >= this.size || length === 0) return [];
    const end = position + Math.min(this.size - position, length);
    const views: Uint8Array[] = [];
    let i = this.chunkAt(position);
    let at = position;
    while (at < end) {
      const chunk = this.chunks[i] as Uint8Array;
      const offset = at - (this.starts[i] as number);
      const take = Math.min((this.lengths[i] as number) - offset, end - at);
      views.push(chunk === this.tail ? chunk.slice(offset, offset + take) : chunk.subarray(offset, offset + take));
      at += take;
      i++;
    }
    return views;
  }

  read(position: number, length: number): Uint8Array {
    if (position >= this.size) return new Uint8Array(0);
    const count = Math.min(this.size - position, length);
    let i = this.chunkAt(position);
    let offset = position - (this.starts[i] as number);
    // Fast path: the range lies inside one chunk.
    if (offset + count <= (this.lengths[i] as number)) return (this.chunks[i] as Uint8Array).slice(offset, offset + count);
    const out = new Uint8Array(count);
    let done = 0;
    while (done < count) {
      const take = Math.min((this.lengths[i] as number) - offset, count - done);
      out.set((this.chunks[i] as Uint8Array).subarray(offset, offset + take), done);
      done += take;
      i++;
      offset = 0;
    }
    return out;
  }

  truncate(size: number): void {
    if (size >= this.size) return;
    if (size === 0) {
      this.chunks = [];
      this.starts = [];
      this.lengths = [];
      this.tail = undefined;
      this.size = 0;
      return;
    }
    const i = this.chunkAt(size - 1);
    this.chunks.length = i + 1;
    this.starts.length = i + 1;
    this.lengths.length = i + 1;
    this.lengths[i] = size - (this.starts[i] as number);
    this.size = size;
    const last = this.chunks[i] as Uint8Array;
    if (last === this.tail) {
      // Bytes past the new length are never read (later appends overwrite them); give memory back
      // when most of a large collecting buffer is now unused.
      const used = this.lengths[i] as number;
      if (last.length > 4096 && used < last.length / 4) {
        const shrunk = new Uint8Array(Math.max(TAIL_MIN, used * 2));
        shrunk.set(last.subarray(0, used));
        this.chunks[i] = shrunk;
        this.tail = shrunk;
      }
    } else if (this.tail !== undefined) {
      this.tail = undefined;
    }
  }

  /** Replaces the whole content (test hook), dropping the old chunks. */
  replace(bytes: Uint8Array): void {
    this.truncate(0);
    this.write(0, bytes);
  }

  /** Sets one byte inside the file (test hook). */
  setByte(position: number, byte: number): void {
    const i = this.chunkAt(position);
    this.writable(i)[position - (this.starts[i] as number)] = byte;
  }

  contents(): Uint8Array {
    return this.read(0, this.size);
  }
}

/** Splits a storage path into normalized segments; '' is the root. */
function normalize(path: string): string {
  if (path.startsWith('/')) throw new InvalidArgumentError('path', `"${path}" must be relative to the storage root`);
  const parts: string[] = [];
  for (const part of path.split('/')) {
    if (part === '' || part === '.') continue;
    if (part === '..') {
      if (parts.length === 0) throw new InvalidArgumentError('path', `"${path}" escapes the storage root`);
      parts.pop();
    } else {
      parts.push(part);
    }
  }
  return parts.join('/');
}

function parentOf(normalized: string): string {
  const slash = normalized.lastIndexOf('/');
  return slash < 0 ? '' : normalized.slice(0, slash);
}

function nameOf(normalized: string): string {
  return normalized.slice(normalized.lastIndexOf('/') + 1);
}

/** Error shaped like Node's fs errors (`code` is the errno name) so both backends report alike. */
function osError(code: 'ENOENT' | 'EISDIR' | 'ENOTDIR' | 'EEXIST' | 'EBADF', detail: string): Error {
  return Object.assign(new Error(`${code}: ${detail}`), { code });
}

/** A {@link StorageError} for `operation` on `path`, caused by an errno-style failure. */
function failure(path: string, operation: string, code: Parameters<typeof osError>[0], detail: string): StorageError {
  return new StorageError(path, operation, { cause: osError(code, detail) });
}

function checkNonNegativeInteger(argument: string, value: number): void {
  if (!Number.isSafeInteger(value) || value < 0) throw new InvalidArgumentError(argument, `expected a non-negative integer, got ${value}`);
}

/** A handle on a {@link MemoryNode}. */
class MemoryFile implements StorageFile {
  private closed = false;

  constructor(
    readonly path: string,
    private readonly node: MemoryNode,
  ) {}

  private check(operation: string): MemoryNode {
    if (this.closed) throw failure(this.path, operation, 'EBADF', 'the file handle is closed');
    return this.node;
  }

  size(): number {
    return this.check('get the size of').size;
  }

  append(bytes: Uint8Array): number {
    const node = this.check('append to');
    const position = node.size;
    node.append(bytes);
    return position;
  }

  write(position: number, bytes: Uint8Array): void {
    const node = this.check('write to');
    checkNonNegativeInteger('position', position);
    node.write(position, bytes);
  }

  read(position: number, length: number): Uint8Array {
    const node = this.check('read');
    checkNonNegativeInteger('position', position);
    checkNonNegativeInteger('length', length);
    return node.read(position, length);
  }

  readViews(position: number, length: number): Uint8Array[] {
    const node = this.check('read');
    checkNonNegativeInteger('position', position);
    checkNonNegativeInteger('length', length);
    return node.readViews(position, length);
  }

  truncate(size: number): void {
    const node = this.check('truncate');
    checkNonNegativeInteger('size', size);
    node.truncate(size);
  }

  /** Nothing to flush; rejects with {@link StorageError} on a closed handle like the file backend. */
  sync(): Promise<void> {
    try {
      this.check('fsync');
      return Promise.resolve();
    } catch (e) {
      return Promise.reject(e as Error);
    }
  }

  syncNow(): void {
    this.check('fsync');
  }

  close(): void {
    this.closed = true;
  }
}

/**
 * {@link Storage} held entirely in memory. Deterministic and synchronous; `sync()` resolves at
 * once. Failures (missing file, missing parent directory, closed handle, file where a directory
 * is expected) throw {@link StorageError} carrying the normalized path; malformed arguments
 * (negative positions, paths escaping the root) throw {@link InvalidArgumentError}.
 */
export class MemoryStorage implements Storage {
  /** Always `"memory"`. */
  readonly description = 'memory';
  private readonly files = new Map<string, MemoryNode>();
  /** Directory path → names of the files directly in it. The root '' always exists. */
  private readonly dirs = new Map<string, Set<string>>([['', new Set()]]);

  list(dir: string): string[] {
    const key = normalize(dir);
    const names = this.dirs.get(key);
    if (names === undefined) {
      if (this.files.has(key)) throw failure(key, 'list', 'ENOTDIR', 'not a directory');
      return [];
    }
    return [...names].sort();
  }

  exists(path: string): boolean {
    const key = normalize(path);
    return this.files.has(key) || this.dirs.has(key);
  }

  isDirectory(path: string): boolean {
    return this.dirs.has(normalize(path));
  }

  mkdir(dir: string): void {
    const key = normalize(dir);
    const parts = key === '' ? [] : key.split('/');
    // Check the whole chain first so a failure creates nothing.
    for (let i = 1; i <= parts.length; i++) {
      const prefix = parts.slice(0, i).join('/');
      if (this.files.has(prefix)) throw failure(key, 'create directory', 'EEXIST', `"${prefix}" is a file`);
    }
    for (let i = 1; i <= parts.length; i++) {
      const prefix = parts.slice(0, i).join('/');
      if (!this.dirs.has(prefix)) this.dirs.set(prefix, new Set());
    }
  }

  open(path: string, options?: { create?: boolean }): StorageFile {
    const key = normalize(path);
    let node = this.files.get(key);
    if (node === undefined) {
      if (this.dirs.has(key)) throw failure(key, 'open', 'EISDIR', 'is a directory');
      if (options?.create !== true) throw failure(key, 'open', 'ENOENT', 'no such file');
      node = new MemoryNode();
      this.link(key, node, 'create');
    }
    return new MemoryFile(path, node);
  }

  readFile(path: string): Uint8Array {
    return this.node(path, 'read').contents();
  }

  /** Swaps in a new file in one step; handles open on the old file keep seeing the old bytes. */
  writeFileAtomic(path: string, bytes: Uint8Array): void {
    const key = normalize(path);
    if (this.dirs.has(key)) throw failure(key, 'replace', 'EISDIR', 'is a directory');
    this.link(key, new MemoryNode(bytes), 'write');
  }

  rename(from: string, to: string): void {
    const source = normalize(from);
    const target = normalize(to);
    const node = this.files.get(source);
    if (node === undefined) throw failure(source, `rename to "${target}"`, 'ENOENT', 'no such file');
    if (source === target) return;
    if (this.dirs.has(target)) throw failure(target, `rename "${source}" to`, 'EISDIR', 'is a directory');
    this.link(target, node, `rename "${source}" to`);
    this.unlink(source);
  }

  /** Deletes a file; missing is a no-op, a directory is a {@link StorageError}. */
  remove(path: string): void {
    const key = normalize(path);
    if (this.dirs.has(key)) throw failure(key, 'remove', 'EISDIR', 'is a directory (use removeDirectory)');
    this.unlink(key);
  }

  /** Deletes a directory tree; a missing directory is a no-op. The root cannot be removed. */
  removeDirectory(dir: string): void {
    const key = normalize(dir);
    if (key === '') throw new InvalidArgumentError('dir', 'refusing to remove the storage root');
    if (this.files.has(key)) throw failure(key, 'remove directory', 'ENOTDIR', 'not a directory');
    if (!this.dirs.has(key)) return;
    const prefix = `${key}/`;
    for (const path of [...this.files.keys()]) if (path.startsWith(prefix)) this.files.delete(path);
    for (const path of [...this.dirs.keys()]) if (path === key || path.startsWith(prefix)) this.dirs.delete(path);
  }

  /**
   * Test hook: a copy of the current bytes of the file at `path` (what a fresh `open` would see).
   * @throws {StorageError} when there is no such file.
   */
  bytesOf(path: string): Uint8Array {
    return this.node(path, 'inspect').contents();
  }

  /**
   * Test hook: replaces the bytes of the file at `path` in place, as a crash or a bad disk might;
   * handles already open on it see the new bytes. Use it to cut a torn tail or graft garbage.
   * @throws {StorageError} when there is no such file.
   */
  setBytes(path: string, bytes: Uint8Array): void {
    this.node(path, 'overwrite').replace(bytes);
  }

  /**
   * Test hook: sets the byte at `position` of the file at `path` to `byte` (a bit flip on disk).
   * @throws {InvalidArgumentError} when `position` is not inside the file.
   */
  corrupt(path: string, position: number, byte: number): void {
    const node = this.node(path, 'corrupt');
    if (!Number.isSafeInteger(position) || position < 0 || position >= node.size) throw new InvalidArgumentError('position', `${position} is not inside "${normalize(path)}" (${node.size} bytes)`);
    node.setByte(position, byte & 0xff);
  }

  private node(path: string, operation: string): MemoryNode {
    const key = normalize(path);
    const node = this.files.get(key);
    if (node === undefined) throw this.dirs.has(key) ? failure(key, operation, 'EISDIR', 'is a directory') : failure(key, operation, 'ENOENT', 'no such file');
    return node;
  }

  /** Puts `node` at `key`, replacing any file there; the parent directory must exist. */
  private link(key: string, node: MemoryNode, operation: string): void {
    if (key === '') throw failure(key, operation, 'EISDIR', 'the root is a directory');
    const names = this.dirs.get(parentOf(key));
    if (names === undefined) throw failure(key, operation, 'ENOENT', 'the parent directory does not exist');
    this.files.set(key, node);
    names.add(nameOf(key));
  }

  private unlink(key: string): void {
    if (!this.files.delete(key)) return;
    this.dirs.get(parentOf(key))?.delete(nameOf(key));
  }
}
