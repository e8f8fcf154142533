/**
 * Kafka's `.lock` per log directory: one holder at a time, across processes; a lock left by a
 * dead process is taken over.
 */
import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as nodePath from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { LogDirectoryLockedError } from '../../../src/errors.ts';
import { LOCK_FILE, lockDirectory } from '../../../src/log/storage/dirLock.ts';

let dir: string;
beforeEach(() => {
  dir = fs.mkdtempSync(nodePath.join(os.tmpdir(), 'samsa-lock-'));
});
afterEach(() => {
  fs.rmSync(dir, { recursive: true, force: true });
});

describe('log directory lock', () => {
  it('refuses a second holder in the same process, naming the directory and the pid', () => {
    const lock = lockDirectory(dir);
    const error = (() => {
      try {
        lockDirectory(dir);
      } catch (e) {
        return e;
      }
      return undefined;
    })();
    expect(error).toBeInstanceOf(LogDirectoryLockedError);
    expect((error as LogDirectoryLockedError).path).toBe(nodePath.resolve(dir));
    expect((error as LogDirectoryLockedError).pid).toBe(process.pid);
    expect((error as Error).message).toContain(dir);
    lock.release();
    lockDirectory(dir).release();
  });

  it('refuses a directory another live process holds, and takes it over once that process is killed', async () => {
    // The other process holds the lock file the way lockDirectory writes it, and stays alive.
    const child = spawn(process.execPath, ['-e', `require('fs').writeFileSync(${JSON.stringify(nodePath.join(dir, LOCK_FILE))}, 'pid=' + process.pid + '\\nhostname=' + require('os').hostname() + '\\n', { flag: 'wx' }); console.log('locked'); setInterval(() => {}, 1000);`], { stdio: ['ignore', 'pipe', 'inherit'] });
    await new Promise<void>((resolve) => child.stdout.once('data', () => resolve()));
    try {
      expect(() => lockDirectory(dir)).toThrow(LogDirectoryLockedError);
      try {
        lockDirectory(dir);
      } catch (e) {
        expect((e as LogDirectoryLockedError).pid).toBe(child.pid);
        expect((e as Error).message).toContain(`process ${child.pid}`);
      }
    } finally {
      child.kill('SIGKILL');
      await new Promise((resolve) => child.once('exit', resolve));
    }
    // SIGKILL left the file behind; its pid is dead, so the lock is stale.
    expect(fs.existsSync(nodePath.join(dir, LOCK_FILE))).toBe(true);
    const lock = lockDirectory(dir);
    expect(fs.readFileSync(nodePath.join(dir, LOCK_FILE), 'utf8')).toContain(`pid=${process.pid}`);
    lock.release();
    expect(fs.existsSync(nodePath.join(dir, LOCK_FILE))).toBe(false);
  });

  it('takes over a lock file naming a dead pid', () => {
    const dead = spawnSync(process.execPath, ['-e', '']).pid as number;
    fs.writeFileSync(nodePath.join(dir, LOCK_FILE), `pid=${dead}\nhostname=${os.hostname()}\n`);
    const lock = lockDirectory(dir);
    expect(fs.readFileSync(nodePath.join(dir, LOCK_FILE), 'utf8')).toContain(`pid=${process.pid}`);
    lock.release();
  });

  it('refuses a lock held on another host (its process cannot be checked from here)', () => {
    fs.writeFileSync(nodePath.join(dir, LOCK_FILE), `pid=1\nhostname=some-other-host\n`);
    expect(() => lockDirectory(dir)).toThrow(/locked by process 1 on some-other-host/);
  });
});
