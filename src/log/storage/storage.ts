/**
 * The storage a partition log is written to. Two implementations share one contract test suite:
 * {@link MemoryStorage} (the default: an in-process page cache that survives a simulated broker
 * crash) and {@link FileStorage} (real files).
 *
 * Everything is synchronous except `sync()`: appends land in the page cache at once, and the
 * fsync runs off the event loop so a group commit never blocks appends.
 */

/** An open file: append-mostly bytes with positional reads. */
export interface StorageFile {
  /** Path the file was opened at (as given to {@link Storage.open}). */
  readonly path: string;
  /** Current size in bytes. */
  size(): number;
  /**
   * Appends bytes at the end; returns the position they were written at. The caller gives the
   * buffer up: the storage may keep it as it is instead of a copy, so it must not be modified
   * afterwards (the partition log owns what it appends, see `PartitionLog.append`).
   */
  append(bytes: Uint8Array): number;
  /** Writes bytes at `position` (which may extend the file). */
  write(position: number, bytes: Uint8Array): void;
  /**
   * Reads up to `length` bytes from `position`; shorter only at the end of the file. The result
   * is owned by the caller (never a view the storage later overwrites).
   */
  read(position: number, length: number): Uint8Array;
  /**
   * The same bytes as {@link read}, as views laid end to end (none empty; `[]` past the end),
   * without a copy where the storage can avoid one. The views are read-only and never change
   * afterwards: a later write, truncation or corruption of the file leaves them as they were.
   */
  readViews(position: number, length: number): Uint8Array[];
  /** Cuts the file to `size` bytes (no-op when already shorter or equal). */
  truncate(size: number): void;
  /** Makes everything written so far durable. Concurrent calls may share one fsync. */
  sync(): Promise<void>;
  /** Synchronous fsync, for close and roll paths that must be durable before returning. */
  syncNow(): void;
  /** Releases the handle; later calls throw. */
  close(): void;
}

/** A directory tree of files. Paths use `/` and are relative to the storage root. */
export interface Storage {
  /** Human-readable description (root directory or "memory"). */
  readonly description: string;
  /** Names (not paths) of the files directly inside `dir`, sorted; [] when `dir` does not exist. */
  list(dir: string): string[];
  /** Whether a file or directory exists at `path`. */
  exists(path: string): boolean;
  /** Whether `path` is a directory. */
  isDirectory(path: string): boolean;
  /** Creates `dir` and its parents if missing. */
  mkdir(dir: string): void;
  /** Opens a file, creating it empty when `create` is true and it does not exist. */
  open(path: string, options?: { create?: boolean }): StorageFile;
  /** Reads a whole file. */
  readFile(path: string): Uint8Array;
  /**
   * Replaces a whole file atomically (write to a temporary name, fsync, rename), so a crash
   * leaves either the old or the new content.
   */
  writeFileAtomic(path: string, bytes: Uint8Array): void;
  /** Renames a file, replacing any file at `to`. */
  rename(from: string, to: string): void;
  /** Deletes a file; deleting a missing file does nothing. */
  remove(path: string): void;
  /** Deletes a directory and everything in it. */
  removeDirectory(dir: string): void;
}
