/**
 * An exclusive lock on a log directory, as Kafka's `.lock` file: one process (and one cluster in
 * it) writes a directory at a time, or the second would lose the first one's acknowledged writes.
 *
 * Node has no flock, so the lock is the file itself, created atomically only if absent (a hard
 * link of a fully written private file) and holding `pid` and `hostname`. A lock whose process is gone (a crash or
 * SIGKILL leaves the file behind) is stale and taken over; so is one naming this very process
 * when no cluster of this process holds it (a container restarted under the same pid). Within a
 * process a registry refuses a second holder at once. The lock is released by `release()` and,
 * as a best effort, when the process exits.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as nodePath from 'node:path';
import { LogDirectoryLockedError, StorageError } from '../../errors.ts';

/** Kafka's lock file name (`LogManager.LockFileName`). */
export const LOCK_FILE = '.lock';

/** A held directory lock. */
export interface DirectoryLock {
  /** The absolute directory. */
  readonly directory: string;
  /** Deletes the lock file; calling it twice is harmless. */
  release(): void;
}

/** Locks held by this process, by absolute directory. */
const held = new Map<string, { release(): void }>();
let exitHookInstalled = false;

interface LockContent {
  readonly pid: number;
  readonly hostname: string;
}

function parseLock(text: string): LockContent | undefined {
  const pid = /^pid=(\d+)$/m.exec(text)?.[1];
  const hostname = /^hostname=(.*)$/m.exec(text)?.[1];
  return pid === undefined || hostname === undefined ? undefined : { pid: Number(pid), hostname };
}

/** Whether process `pid` on this host is alive (EPERM: alive, owned by someone else). */
function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as { code?: string }).code === 'EPERM';
  }
}

/**
 * Takes the lock of `directory` (created if missing).
 * @throws LogDirectoryLockedError naming the directory and the process holding it.
 * @throws StorageError when the lock file cannot be written.
 */
export function lockDirectory(directory: string): DirectoryLock {
  const dir = nodePath.resolve(directory);
  const path = nodePath.join(dir, LOCK_FILE);
  const hostname = os.hostname();
  if (held.has(dir)) throw new LogDirectoryLockedError(dir, process.pid, hostname);
  try {
    fs.mkdirSync(dir, { recursive: true });
  } catch (e) {
    throw new StorageError(dir, 'create directory', { cause: e });
  }
  const content = `pid=${process.pid}\nhostname=${hostname}\n`;
  for (let attempt = 0; ; attempt++) {
    if (createWithContent(path, content)) break;
    let text: string;
    try {
      text = fs.readFileSync(path, 'utf8');
    } catch (e) {
      if ((e as { code?: string }).code === 'ENOENT') continue; // released meanwhile: try again
      throw new StorageError(path, 'read lock file', { cause: e });
    }
    const owner = parseLock(text);
    // A half-written lock (its writer died between create and write) holds no live owner either.
    const stale = owner === undefined || (owner.hostname === hostname && (owner.pid === process.pid || !alive(owner.pid)));
    if (!stale || attempt >= 3) throw new LogDirectoryLockedError(dir, owner?.pid ?? -1, owner?.hostname ?? 'an unknown host');
    breakStaleLock(path, text);
  }
  installExitHook();
  let released = false;
  const lock: DirectoryLock = {
    directory: dir,
    release: () => {
      if (released) return;
      released = true;
      held.delete(dir);
      try {
        fs.unlinkSync(path);
      } catch {
        // Already gone: nothing to release.
      }
    },
  };
  held.set(dir, lock);
  return lock;
}

/**
 * Creates `path` holding `content` unless it exists (false then). The content is written to a
 * private file first and hard-linked into place, so no other process ever reads a half-written
 * lock; where hard links are not supported, `open(path, 'wx')` then write.
 */
function createWithContent(path: string, content: string): boolean {
  const tmp = `${path}.${process.pid}.tmp`;
  try {
    fs.writeFileSync(tmp, content, { mode: 0o644 });
    try {
      fs.linkSync(tmp, path);
      return true;
    } catch (e) {
      const code = (e as { code?: string }).code;
      if (code === 'EEXIST') return false;
      if (code !== 'EPERM' && code !== 'ENOTSUP' && code !== 'ENOSYS' && code !== 'EOPNOTSUPP') throw e;
    }
    const fd = fs.openSync(path, 'wx', 0o644);
    try {
      fs.writeSync(fd, content);
    } finally {
      fs.closeSync(fd);
    }
    return true;
  } catch (e) {
    if ((e as { code?: string }).code === 'EEXIST') return false;
    throw new StorageError(path, 'create lock file', { cause: e });
  } finally {
    fs.rmSync(tmp, { force: true });
  }
}

/**
 * Removes a stale lock file, but only the one judged stale: it is renamed aside first (atomic),
 * and put back if what was moved is not that content (another process took the lock meanwhile).
 */
function breakStaleLock(path: string, staleText: string): void {
  const aside = `${path}.stale-${process.pid}`;
  try {
    fs.renameSync(path, aside);
  } catch {
    return; // someone else moved it: look again
  }
  let moved = '';
  try {
    moved = fs.readFileSync(aside, 'utf8');
  } catch {
    // Unreadable: treat as changed.
  }
  if (moved === staleText) {
    fs.rmSync(aside, { force: true });
    return;
  }
  try {
    fs.linkSync(aside, path); // no-clobber put back
  } catch {
    // The path was taken again meanwhile; that holder wins.
  }
  fs.rmSync(aside, { force: true });
}

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  // A crash (SIGKILL) skips this; the next process then finds the pid dead and takes over.
  process.on('exit', () => {
    for (const lock of [...held.values()]) lock.release();
  });
}
