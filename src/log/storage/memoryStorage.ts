/**
 * An in-process {@link Storage}: files are lists of fixed-size byte pages in a map, directories are
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

/** Size of a full page: large enough that a 1 GiB segment is ~1000 pages, small enough to allocate cheaply. */
const PAGE_SIZE = 1 << 20;
/** Smallest backing for the first page; matches the old buffer's minimum capacity. */
const FIRST_PAGE_MIN = 64;

/**
 * One file's content; handles point here, so it plays the role of an inode.
 *
 * The bytes live in fixed-size pages: page `i` holds positions [i·PAGE_SIZE, (i+1)·PAGE_SIZE).
 * Appending only ever touches the pages it writes into, so a 1 GiB segment grows without the
 * whole-file reallocate-and-copy a single doubling buffer needs, and truncation just drops pages.
 *
 * Page 0 is special so small files stay small: most files (index files, checkpoints) are a few
 * bytes to a few KiB, and giving each a 1 MiB page would waste memory. Page 0 therefore starts at
 * {@link FIRST_PAGE_MIN} bytes and doubles as needed up to {@link PAGE_SIZE}; all later pages are
 * allocated at full size. The doubling copies are bounded by the page size (under 2 MiB in all),
 * so they cost nothing that scales with the file.
 *
 * Invariants: a page may be missing (a hole from a write past the end) or, for page 0, shorter
 * than PAGE_SIZE; either way the missing bytes read as zeros. Every backed byte at or beyond
 * `size` is zero, so extending the file (by a write past the end) exposes zeros with no extra work.
 */
class MemoryNode {
  pages: (Uint8Array | undefined)[] = [];
  size = 0;

  constructor(bytes?: Uint8Array) {
    if (bytes !== undefined) this.write(0, bytes);
  }

  /** The page covering `index`, allocated or (page 0) grown so it backs offsets below `end`. */
  private page(index: number, end: number): Uint8Array {
    const page = this.pages[index];
    if (index > 0) return page ?? (this.pages[index] = new Uint8Array(PAGE_SIZE));
    if (page !== undefined && end <= page.length) return page;
    let capacity = Math.max(FIRST_PAGE_MIN, page?.length ?? 0);
    while (capacity < end) capacity *= 2;
    const grown = new Uint8Array(Math.min(PAGE_SIZE, capacity));
    if (page !== undefined) grown.set(page);
    return (this.pages[0] = grown);
  }

  write(position: number, bytes: Uint8Array): void {
    const end = position + bytes.length;
    let index = Math.floor(position / PAGE_SIZE);
    let offset = position - index * PAGE_SIZE;
    let done = 0;
    while (done < bytes.length) {
      const count = Math.min(PAGE_SIZE - offset, bytes.length - done);
      this.page(index, offset + count).set(count === bytes.length ? bytes : bytes.subarray(done, done + count), offset);
      done += count;
      index += 1;
      offset = 0;
    }
    // A write past the end leaves a hole that reads as zeros, as on a real file system (backed
    // bytes past `size` are kept zero, and missing pages read as zeros).
    if (end > this.size) this.size = end;
  }

  read(position: number, length: number): Uint8Array {
    if (position >= this.size) return new Uint8Array(0);
    const count = Math.min(this.size - position, length);
    let index = Math.floor(position / PAGE_SIZE);
    let offset = position - index * PAGE_SIZE;
    const first = this.pages[index];
    // Fast path: the range lies inside one backed page.
    if (first !== undefined && offset + count <= first.length) return first.slice(offset, offset + count);
    const out = new Uint8Array(count); // zeros, so holes and unbacked tails need no copying
    let done = 0;
    while (done < count) {
      const take = Math.min(PAGE_SIZE - offset, count - done);
      const page = this.pages[index];
      if (page !== undefined && offset < page.length) out.set(page.subarray(offset, Math.min(page.length, offset + take)), done);
      done += take;
      index += 1;
      offset = 0;
    }
    return out;
  }

  truncate(size: number): void {
    if (size >= this.size) return;
    this.size = size;
    const keep = Math.ceil(size / PAGE_SIZE);
    if (this.pages.length > keep) this.pages.length = keep;
    if (keep === 0) return;
    const last = this.pages[keep - 1];
    if (last === undefined) return;
    const offset = size - (keep - 1) * PAGE_SIZE;
    // Give memory back when most of a large first page is now unused (e.g. a log truncated to a
    // few bytes): copy the kept prefix into a fresh small page, which is already zero past `size`.
    if (keep === 1 && last.length > 4096 && size < last.length / 4) {
      const shrunk = new Uint8Array(Math.max(FIRST_PAGE_MIN, size * 2));
      shrunk.set(last.subarray(0, size));
      this.pages[0] = shrunk;
      return;
    }
    // Keep the invariant: the cut-off tail of the last kept page reads as zeros if the file grows again.
    last.fill(0, offset);
  }

  /** Replaces the whole content (test hook), dropping the old pages. */
  replace(bytes: Uint8Array): void {
    this.pages = [];
    this.size = 0;
    this.write(0, bytes);
  }

  /** Sets one byte inside the file (test hook). */
  setByte(position: number, byte: number): void {
    this.page(Math.floor(position / PAGE_SIZE), (position % PAGE_SIZE) + 1)[position % PAGE_SIZE] = byte;
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
    node.write(position, bytes);
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
