import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { InvalidArgumentError, StorageError } from '../../../src/errors.ts';
import { FileStorage } from '../../../src/log/storage/fileStorage.ts';
import type { FsyncFunction } from '../../../src/log/storage/fileStorage.ts';
import { MemoryStorage } from '../../../src/log/storage/memoryStorage.ts';
import { storageContract } from './storage.contract.ts';

const bytes = (...values: number[]): Uint8Array => Uint8Array.from(values);

function tempRoot(): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), 'samsa-storage-'));
}

storageContract('MemoryStorage', () => ({ storage: new MemoryStorage(), cleanup: () => {} }));

storageContract('FileStorage', () => {
  const root = tempRoot();
  return { storage: new FileStorage(root), cleanup: () => fs.rmSync(root, { recursive: true, force: true }) };
});

describe('MemoryStorage test hooks', () => {
  it('bytesOf returns a copy of the current content', () => {
    const storage = new MemoryStorage();
    const f = storage.open('a', { create: true });
    f.append(bytes(1, 2, 3));
    const seen = storage.bytesOf('a');
    expect(seen).toEqual(bytes(1, 2, 3));
    seen[0] = 9;
    expect(f.read(0, 1)).toEqual(bytes(1));
    expect(() => storage.bytesOf('missing')).toThrow(StorageError);
  });

  it('setBytes cuts or replaces the content under open handles', () => {
    const storage = new MemoryStorage();
    const f = storage.open('a', { create: true });
    f.append(bytes(1, 2, 3, 4, 5));
    storage.setBytes('a', storage.bytesOf('a').subarray(0, 3));
    expect(f.size()).toBe(3);
    expect(f.read(0, 10)).toEqual(bytes(1, 2, 3));
    expect(f.append(bytes(6))).toBe(3);
    storage.setBytes('a', bytes(8, 8, 8, 8, 8, 8, 8, 8));
    expect(storage.open('a').read(0, 100)).toEqual(bytes(8, 8, 8, 8, 8, 8, 8, 8));
  });

  it('corrupt flips one byte in place and rejects positions outside the file', () => {
    const storage = new MemoryStorage();
    storage.open('a', { create: true }).append(bytes(1, 2, 3));
    storage.corrupt('a', 1, 0xff);
    expect(storage.readFile('a')).toEqual(bytes(1, 0xff, 3));
    expect(() => storage.corrupt('a', 3, 0)).toThrow(InvalidArgumentError);
    expect(() => storage.corrupt('b', 0, 0)).toThrow(StorageError);
  });

  it('corrupt and setBytes leave views read before them as they were', () => {
    const storage = new MemoryStorage();
    const f = storage.open('a', { create: true });
    const big = new Uint8Array(8192).fill(3);
    f.append(big);
    const [view] = f.readViews(0, 8192);
    expect(view?.buffer).toBe(big.buffer); // kept as appended, handed out without a copy
    storage.corrupt('a', 100, 0xff);
    expect(view?.[100]).toBe(3);
    expect(f.read(100, 1)).toEqual(bytes(0xff));
    storage.setBytes('a', bytes(1));
    expect(view?.every((b) => b === 3)).toBe(true);
  });

  it('a reopened storage object is the same page cache (a simulated broker restart)', () => {
    const storage = new MemoryStorage();
    storage.mkdir('t-0');
    const f = storage.open('t-0/0.log', { create: true });
    f.append(bytes(1, 2));
    // The "broker" dies without closing or syncing; the storage object lives on.
    expect(storage.open('t-0/0.log').read(0, 10)).toEqual(bytes(1, 2));
  });

  it('reports errno-style causes', () => {
    const storage = new MemoryStorage();
    const error = (() => {
      try {
        storage.open('missing');
      } catch (e) {
        return e as StorageError;
      }
      throw new Error('expected a throw');
    })();
    expect((error.cause as { code?: string }).code).toBe('ENOENT');
    expect(error.message).toBe('storage failure while trying to open "missing": ENOENT: no such file');
  });

  it('shrinks its buffer after a large truncate but keeps the remaining bytes', () => {
    const storage = new MemoryStorage();
    const f = storage.open('a', { create: true });
    const big = new Uint8Array(100_000).map((_, i) => i & 0xff);
    f.append(big);
    f.truncate(10);
    expect(f.read(0, 100)).toEqual(big.subarray(0, 10));
    f.write(20, bytes(1));
    expect(f.read(0, 100)).toEqual(Uint8Array.from([...big.subarray(0, 10), ...new Uint8Array(10), 1]));
  });
});

describe('MemoryStorage chunks', () => {
  const MiB = 1 << 20;
  const pattern = (length: number, seed: number): Uint8Array => {
    const out = new Uint8Array(length);
    for (let i = 0; i < length; i++) out[i] = (i * 31 + seed) % 255 + 1; // never 0, so stray zeros show
    return out;
  };
  const same = (a: Uint8Array, b: Uint8Array): boolean => Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(Buffer.from(b.buffer, b.byteOffset, b.byteLength));

  it('appends and reads across page boundaries, including reads inside one page', () => {
    const storage = new MemoryStorage();
    const f = storage.open('a', { create: true });
    const data = pattern(3 * MiB + 123, 7);
    for (let p = 0; p < data.length; p += 16_381) f.append(data.subarray(p, Math.min(data.length, p + 16_381)));
    expect(f.size()).toBe(data.length);
    expect(same(storage.readFile('a'), data)).toBe(true);
    for (const [position, length] of [
      [0, 10],
      [MiB - 5, 10],
      [MiB, MiB],
      [MiB - 1, MiB + 2],
      [5, 3 * MiB],
      [3 * MiB + 100, 1000],
    ] as const) {
      expect(same(f.read(position, length), data.subarray(position, position + length))).toBe(true);
    }
  });

  it('reads zeros from holes spanning whole pages and from a grown first page', () => {
    const storage = new MemoryStorage();
    const f = storage.open('a', { create: true });
    f.append(bytes(1, 2, 3));
    f.write(2 * MiB + 10, bytes(9));
    expect(f.size()).toBe(2 * MiB + 11);
    const whole = storage.readFile('a');
    expect(whole.subarray(0, 4)).toEqual(bytes(1, 2, 3, 0));
    expect(whole.subarray(3, 2 * MiB + 10).every((b) => b === 0)).toBe(true);
    expect(whole[2 * MiB + 10]).toBe(9);
    expect(f.read(MiB + 5, 4)).toEqual(new Uint8Array(4));
    f.write(MiB - 1, bytes(5, 6));
    expect(f.read(MiB - 2, 4)).toEqual(bytes(0, 5, 6, 0));
  });

  it('truncates at, before and after page boundaries; a later extension reads zeros', () => {
    for (const cut of [0, 1, MiB - 1, MiB, MiB + 1, 2 * MiB]) {
      const storage = new MemoryStorage();
      const f = storage.open('a', { create: true });
      const data = pattern(2 * MiB + 50, cut);
      f.append(data);
      f.truncate(cut);
      expect(f.size()).toBe(cut);
      expect(same(storage.readFile('a'), data.subarray(0, cut))).toBe(true);
      f.write(2 * MiB + 40, bytes(1));
      const grown = storage.readFile('a');
      expect(same(grown.subarray(0, cut), data.subarray(0, cut))).toBe(true);
      expect(grown.subarray(cut, 2 * MiB + 40).every((b) => b === 0)).toBe(true);
      expect(grown[2 * MiB + 40]).toBe(1);
    }
  });

  it('test hooks work on multi-page files', () => {
    const storage = new MemoryStorage();
    const f = storage.open('a', { create: true });
    f.append(pattern(2 * MiB, 3));
    storage.corrupt('a', MiB + 1, 0);
    expect(f.read(MiB + 1, 1)).toEqual(bytes(0));
    storage.setBytes('a', bytes(4, 5));
    expect(f.size()).toBe(2);
    f.write(MiB + 2, bytes(6));
    expect(f.read(0, 3)).toEqual(bytes(4, 5, 0));
    expect(f.read(MiB, 3)).toEqual(bytes(0, 0, 6));
  });

  it('matches a flat-buffer model under random writes, appends, truncates and reads', () => {
    let state = 12345;
    const random = (n: number): number => {
      state = (Math.imul(state, 1103515245) + 12345) >>> 0;
      return Math.floor((state / 2 ** 32) * n);
    };
    const storage = new MemoryStorage();
    const f = storage.open('a', { create: true });
    let model = new Uint8Array(0);
    const held: Array<{ views: Uint8Array[]; bytes: Uint8Array }> = [];
    const joinViews = (views: Uint8Array[]): Uint8Array => Buffer.concat(views);
    const resize = (size: number): void => {
      const next = new Uint8Array(size);
      next.set(model.subarray(0, Math.min(size, model.length)));
      model = next;
    };
    for (let step = 0; step < 300; step++) {
      const op = random(10);
      // Positions cluster around page boundaries so edge cases come up often.
      const near = random(4) * MiB + random(64) - 32;
      const position = Math.max(0, random(2) === 0 ? near : random(4 * MiB));
      const length = random(3) === 0 ? random(2 * MiB) : random(300);
      if (op < 4) {
        const data = pattern(length, step);
        expect(f.append(data)).toBe(model.length);
        const at = model.length;
        resize(at + length);
        model.set(data, at);
      } else if (op < 7) {
        const data = pattern(length, step);
        f.write(position, data);
        if (position + length > model.length) resize(position + length);
        model.set(data, position);
      } else if (op < 8) {
        f.truncate(position);
        if (position < model.length) resize(position);
      } else if (op < 9) {
        expect(same(f.read(position, length), model.subarray(position, position + length))).toBe(true);
      } else {
        // Views read now must still hold these bytes at the end, whatever happens in between.
        const views = f.readViews(position, length);
        expect(views.every((v) => v.length > 0)).toBe(true);
        expect(same(joinViews(views), model.subarray(position, position + length))).toBe(true);
        held.push({ views, bytes: model.slice(position, position + length) });
      }
      expect(f.size()).toBe(model.length);
    }
    expect(same(storage.readFile('a'), model)).toBe(true);
    expect(held.length).toBeGreaterThan(10);
    for (const h of held) expect(same(joinViews(h.views), h.bytes)).toBe(true);
  });
});

describe('FileStorage', () => {
  const roots: string[] = [];
  const makeRoot = (): string => {
    const root = tempRoot();
    roots.push(root);
    return root;
  };
  afterEach(() => {
    for (const root of roots.splice(0)) fs.rmSync(root, { recursive: true, force: true });
  });

  /** An fsync hook that counts calls and lets the test decide when each one finishes. */
  function heldFsync(): { fsync: FsyncFunction; calls: number; finishNext(error?: NodeJS.ErrnoException): void; pending(): number } {
    const waiting: { fd: number; callback: (error: NodeJS.ErrnoException | null) => void }[] = [];
    const hook = {
      calls: 0,
      fsync: ((fd, callback) => {
        hook.calls += 1;
        waiting.push({ fd, callback });
      }) as FsyncFunction,
      finishNext(error?: NodeJS.ErrnoException): void {
        const next = waiting.shift();
        if (next === undefined) throw new Error('no fsync in flight');
        if (error !== undefined) {
          next.callback(error);
          return;
        }
        // Do the real fsync so the descriptor is known to be valid at this point.
        fs.fsyncSync(next.fd);
        next.callback(null);
      },
      pending: () => waiting.length,
    };
    return hook;
  }

  /** Lets promise callbacks run; no timers involved. */
  const settle = async (): Promise<void> => {
    for (let i = 0; i < 10; i++) await Promise.resolve();
  };

  it('resolves the root and uses it as description', () => {
    const root = makeRoot();
    const relative = path.relative(process.cwd(), root);
    const storage = new FileStorage(relative);
    expect(storage.root).toBe(root);
    expect(storage.description).toBe(root);
  });

  it('creates the root on mkdir("") and does no I/O in the constructor', () => {
    const root = path.join(makeRoot(), 'nested', 'root');
    const storage = new FileStorage(root);
    expect(fs.existsSync(root)).toBe(false);
    expect(storage.list('')).toEqual([]);
    storage.mkdir('');
    expect(fs.statSync(root).isDirectory()).toBe(true);
  });

  it('writes real files that the OS sees', () => {
    const root = makeRoot();
    const storage = new FileStorage(root);
    storage.mkdir('t-0');
    const f = storage.open('t-0/00000000000000000000.log', { create: true });
    f.append(bytes(1, 2, 3));
    f.write(5, bytes(9));
    f.close();
    expect(new Uint8Array(fs.readFileSync(path.join(root, 't-0', '00000000000000000000.log')))).toEqual(bytes(1, 2, 3, 0, 0, 9));
  });

  it('picks up the size of a file written by someone else when opened', () => {
    const root = makeRoot();
    fs.writeFileSync(path.join(root, 'x'), Buffer.from([1, 2, 3, 4]));
    const f = new FileStorage(root).open('x');
    expect(f.size()).toBe(4);
    expect(f.append(bytes(5))).toBe(4);
    f.close();
  });

  it('returns plain Uint8Arrays (not Buffers) from read and readFile', () => {
    const storage = new FileStorage(makeRoot());
    const f = storage.open('x', { create: true });
    f.append(bytes(1, 2, 3));
    expect(Object.getPrototypeOf(f.read(0, 3))).toBe(Uint8Array.prototype);
    expect(Object.getPrototypeOf(storage.readFile('x'))).toBe(Uint8Array.prototype);
    f.close();
  });

  it('N concurrent sync() calls cause at most 2 fsyncs', async () => {
    const hook = heldFsync();
    const storage = new FileStorage(makeRoot(), { fsync: hook.fsync });
    const f = storage.open('a', { create: true });
    const resolved: number[] = [];
    const syncs = Array.from({ length: 50 }, (_, i) => {
      f.append(bytes(i));
      return f.sync().then(() => resolved.push(i));
    });
    expect(hook.calls).toBe(1);
    hook.finishNext();
    await settle();
    // The first caller's fsync is done; everyone else waits for the shared follow-up.
    expect(resolved).toEqual([0]);
    expect(hook.calls).toBe(2);
    hook.finishNext();
    await Promise.all(syncs);
    expect(resolved).toHaveLength(50);
    expect(hook.calls).toBe(2);
    expect(hook.pending()).toBe(0);
    f.close();
  });

  it('covers writes made after the in-flight fsync started with a follow-up fsync', async () => {
    const hook = heldFsync();
    const storage = new FileStorage(makeRoot(), { fsync: hook.fsync });
    const f = storage.open('a', { create: true });
    f.append(bytes(1));
    let firstDone = false;
    let secondDone = false;
    const first = f.sync().then(() => (firstDone = true));
    f.append(bytes(2)); // after the first fsync began: it must not count as durable yet
    const second = f.sync().then(() => (secondDone = true));
    const third = f.sync();
    expect(hook.calls).toBe(1);
    hook.finishNext();
    await first;
    await settle();
    expect(secondDone).toBe(false);
    expect(hook.calls).toBe(2); // the follow-up starts as soon as the first ends
    hook.finishNext();
    await Promise.all([second, third]);
    expect(firstDone && secondDone).toBe(true);
    // Once idle, the next sync starts a fresh fsync at once.
    const fourth = f.sync();
    expect(hook.calls).toBe(3);
    hook.finishNext();
    await fourth;
    f.close();
  });

  it('shares group commit across handles on the same file', async () => {
    const hook = heldFsync();
    const storage = new FileStorage(makeRoot(), { fsync: hook.fsync });
    const f = storage.open('a', { create: true });
    const g = storage.open('a');
    const all = [f.sync(), g.sync(), f.sync(), g.sync()];
    hook.finishNext();
    await settle();
    hook.finishNext();
    await Promise.all(all);
    expect(hook.calls).toBe(2);
    f.close();
    g.close();
  });

  it('rejects the callers of a failed fsync with StorageError and recovers for the next', async () => {
    const hook = heldFsync();
    const storage = new FileStorage(makeRoot(), { fsync: hook.fsync });
    const f = storage.open('a', { create: true });
    const first = f.sync();
    const second = f.sync();
    hook.finishNext(Object.assign(new Error('EIO: i/o error, fsync'), { code: 'EIO' }));
    await expect(first).rejects.toThrow(StorageError);
    await expect(first).rejects.toMatchObject({ code: 'KAFKA_STORAGE_ERROR', retriable: true });
    await settle();
    hook.finishNext();
    await expect(second).resolves.toBeUndefined();
    f.close();
  });

  it('tolerates an fsync hook that calls back synchronously or throws', async () => {
    let calls = 0;
    const storage = new FileStorage(makeRoot(), {
      fsync: (fd, callback) => {
        calls += 1;
        if (calls === 3) throw new Error('boom');
        fs.fsyncSync(fd);
        callback(null);
      },
    });
    const f = storage.open('a', { create: true });
    await Promise.all([f.sync(), f.sync()]);
    await expect(f.sync()).rejects.toThrow(StorageError);
    await f.sync();
    expect(calls).toBe(4);
    f.close();
  });

  it('keeps the descriptor open until an in-flight fsync finishes after close()', async () => {
    const hook = heldFsync();
    const storage = new FileStorage(makeRoot(), { fsync: hook.fsync });
    const f = storage.open('a', { create: true });
    f.append(bytes(1));
    const first = f.sync();
    const second = f.sync();
    f.close();
    // finishNext runs a real fsyncSync on the descriptor: it throws EBADF if close() closed it.
    hook.finishNext();
    await first;
    await settle();
    hook.finishNext();
    await second;
    // A fresh open gets a working descriptor.
    const g = storage.open('a');
    expect(g.read(0, 1)).toEqual(bytes(1));
    g.close();
  });

  it('syncNow uses the injected fsyncSync', () => {
    let calls = 0;
    const storage = new FileStorage(makeRoot(), {
      fsyncSync: (fd) => {
        calls += 1;
        fs.fsyncSync(fd);
      },
    });
    const f = storage.open('a', { create: true });
    f.syncNow();
    expect(calls).toBe(1);
    // writeFileAtomic fsyncs the temporary file (and, best effort, the directory).
    storage.writeFileAtomic('b', bytes(1));
    expect(calls).toBeGreaterThanOrEqual(2);
    f.close();
  });

  it('wraps fs errors in StorageError with the absolute path and the original cause', () => {
    const root = makeRoot();
    const storage = new FileStorage(root);
    try {
      storage.open('missing');
      expect.unreachable();
    } catch (e) {
      expect(e).toBeInstanceOf(StorageError);
      const error = e as StorageError;
      expect(error.path).toBe(path.join(root, 'missing'));
      expect((error.cause as { code?: string }).code).toBe('ENOENT');
      expect(error.message).toContain('open');
    }
  });

  it('writeFileAtomic removes the temporary file when the rename fails', () => {
    const root = makeRoot();
    const storage = new FileStorage(root);
    storage.mkdir('d');
    fs.writeFileSync(path.join(root, 'd', 'inner'), 'x');
    // Renaming a file over a non-empty directory fails.
    expect(() => storage.writeFileAtomic('d', bytes(1))).toThrow(StorageError);
    expect(fs.readdirSync(root)).toEqual(['d']);
  });

  it('lists regular files only, skipping directories the OS shows', () => {
    const root = makeRoot();
    fs.mkdirSync(path.join(root, 'p', 'dir'), { recursive: true });
    fs.writeFileSync(path.join(root, 'p', 'b'), '');
    fs.writeFileSync(path.join(root, 'p', 'a'), '');
    expect(new FileStorage(root).list('p')).toEqual(['a', 'b']);
  });
});
