/**
 * The behaviour every {@link Storage} must share. Registered once per backend by storage.test.ts.
 */

import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { InvalidArgumentError, StorageError } from '../../../src/errors.ts';
import type { Storage, StorageFile } from '../../../src/log/storage/storage.ts';

/** A fresh storage for one test and the way to dispose of it. */
export interface StorageFixture {
  readonly storage: Storage;
  cleanup(): void;
}

const bytes = (...values: number[]): Uint8Array => Uint8Array.from(values);
const text = (s: string): Uint8Array => new TextEncoder().encode(s);

/** Registers the contract suite for one backend. */
export function storageContract(name: string, makeStorage: () => StorageFixture): void {
  describe(`Storage contract: ${name}`, () => {
    let fixture: StorageFixture;
    let storage: Storage;
    const opened: StorageFile[] = [];

    const open = (path: string, options?: { create?: boolean }): StorageFile => {
      const file = storage.open(path, options);
      opened.push(file);
      return file;
    };

    beforeEach(() => {
      fixture = makeStorage();
      storage = fixture.storage;
      storage.mkdir('p');
    });

    afterEach(() => {
      for (const file of opened.splice(0)) file.close();
      fixture.cleanup();
    });

    describe('files', () => {
      it('creates an empty file and appends at increasing positions', () => {
        const f = open('p/a.log', { create: true });
        expect(f.path).toBe('p/a.log');
        expect(f.size()).toBe(0);
        expect(f.append(bytes(1, 2, 3))).toBe(0);
        expect(f.append(bytes(4, 5))).toBe(3);
        expect(f.append(new Uint8Array(0))).toBe(5);
        expect(f.size()).toBe(5);
        expect(f.read(0, 5)).toEqual(bytes(1, 2, 3, 4, 5));
        expect(f.read(1, 3)).toEqual(bytes(2, 3, 4));
        expect(storage.readFile('p/a.log')).toEqual(bytes(1, 2, 3, 4, 5));
      });

      it('keeps content across many appends (buffer growth)', () => {
        const f = open('p/big.log', { create: true });
        const expected: number[] = [];
        for (let i = 0; i < 2000; i++) {
          const chunk = Array.from({ length: (i % 37) + 1 }, (_, j) => (i + j) & 0xff);
          expect(f.append(Uint8Array.from(chunk))).toBe(expected.length);
          expected.push(...chunk);
        }
        expect(f.size()).toBe(expected.length);
        expect(f.read(0, expected.length)).toEqual(Uint8Array.from(expected));
      });

      it('returns a short read past the end and an empty one beyond it', () => {
        const f = open('p/a.log', { create: true });
        f.append(bytes(1, 2, 3));
        expect(f.read(1, 100)).toEqual(bytes(2, 3));
        expect(f.read(3, 10)).toEqual(new Uint8Array(0));
        expect(f.read(50, 10)).toEqual(new Uint8Array(0));
        expect(f.read(0, 0)).toEqual(new Uint8Array(0));
      });

      it('returns reads the caller owns', () => {
        const f = open('p/a.log', { create: true });
        f.append(bytes(1, 2, 3));
        const first = f.read(0, 3);
        first[0] = 99;
        f.write(1, bytes(42));
        expect(first).toEqual(bytes(99, 2, 3));
        expect(f.read(0, 3)).toEqual(bytes(1, 42, 3));
        const whole = storage.readFile('p/a.log');
        whole[2] = 7;
        expect(f.read(2, 1)).toEqual(bytes(3));
        // slice() of a read is a copy, as for any Uint8Array.
        const part = f.read(0, 3).slice(0, 2);
        part[0] = 55;
        expect(f.read(0, 1)).toEqual(bytes(1));
      });

      it('readViews returns the bytes read() does, as non-empty views laid end to end', () => {
        const f = open('p/v.log', { create: true });
        const expected: number[] = [];
        // Small appends (collected) and large ones (kept whole by the memory backend) mixed.
        for (let i = 0; i < 40; i++) {
          const chunk = Uint8Array.from({ length: i % 3 === 0 ? 5000 + i : (i % 29) + 1 }, (_, j) => (i * 31 + j) & 0xff);
          f.append(chunk);
          expected.push(...chunk);
        }
        const whole = Uint8Array.from(expected);
        const same = (a: Uint8Array, b: Uint8Array): boolean => Buffer.compare(a, b) === 0;
        for (const [position, length] of [[0, whole.length], [3, 9000], [4999, 2], [whole.length - 10, 100], [17, 0], [whole.length, 5], [whole.length + 10, 5]] as const) {
          const views = f.readViews(position, length);
          expect(views.every((v) => v.length > 0)).toBe(true);
          expect(same(Buffer.concat(views), f.read(position, length))).toBe(true);
          expect(same(Buffer.concat(views), whole.subarray(Math.min(position, whole.length), Math.min(whole.length, position + length)))).toBe(true);
        }
        expect(() => f.readViews(-1, 1)).toThrow(InvalidArgumentError);
      });

      it('readViews never change afterwards: writes, truncation and later appends leave them as read', () => {
        const f = open('p/v.log', { create: true });
        f.append(new Uint8Array(6000).fill(1));
        f.append(bytes(2, 2, 2));
        const views = f.readViews(0, 6003);
        const before = views.map((v) => v.slice());
        f.write(10, new Uint8Array(10).fill(9));
        f.write(6001, bytes(9));
        f.truncate(6001);
        f.append(bytes(7, 7, 7));
        f.append(new Uint8Array(5000).fill(5));
        expect(views).toEqual(before);
        expect(f.read(0, 20)).toEqual(Uint8Array.from([...new Array<number>(10).fill(1), ...new Array<number>(10).fill(9)]));
        expect(f.read(6000, 4)).toEqual(bytes(2, 7, 7, 7));
      });

      it('does not let later appends change the source buffer or earlier reads', () => {
        const f = open('p/a.log', { create: true });
        const source = bytes(1, 2, 3);
        f.append(source);
        source[0] = 9;
        expect(f.read(0, 1)).toEqual(bytes(1));
      });

      it('writes at a position, inside and extending the file', () => {
        const f = open('p/a.log', { create: true });
        f.append(bytes(1, 2, 3, 4));
        f.write(1, bytes(9, 9));
        expect(f.read(0, 4)).toEqual(bytes(1, 9, 9, 4));
        f.write(3, bytes(7, 7, 7));
        expect(f.size()).toBe(6);
        expect(f.read(0, 6)).toEqual(bytes(1, 9, 9, 7, 7, 7));
        expect(f.append(bytes(5))).toBe(6);
      });

      it('fills a hole left by a write past the end with zeros', () => {
        const f = open('p/a.log', { create: true });
        f.append(bytes(1, 2, 3, 4, 5, 6));
        f.truncate(2);
        f.write(4, bytes(8));
        expect(f.size()).toBe(5);
        expect(f.read(0, 5)).toEqual(bytes(1, 2, 0, 0, 8));
      });

      it('truncates, and truncating to a larger size is a no-op', () => {
        const f = open('p/a.log', { create: true });
        f.append(bytes(1, 2, 3, 4, 5));
        f.truncate(10);
        expect(f.size()).toBe(5);
        f.truncate(5);
        expect(f.size()).toBe(5);
        f.truncate(2);
        expect(f.size()).toBe(2);
        expect(f.read(0, 10)).toEqual(bytes(1, 2));
        expect(f.append(bytes(6))).toBe(2);
        expect(storage.readFile('p/a.log')).toEqual(bytes(1, 2, 6));
        f.truncate(0);
        expect(f.size()).toBe(0);
        expect(storage.readFile('p/a.log')).toEqual(new Uint8Array(0));
      });

      it('keeps the size and content after close and reopen', () => {
        const f = storage.open('p/a.log', { create: true });
        f.append(text('hello'));
        f.close();
        const g = open('p/a.log');
        expect(g.size()).toBe(5);
        expect(g.append(text('!'))).toBe(5);
        expect(g.read(0, 6)).toEqual(text('hello!'));
        // Opening with create on an existing file keeps it.
        const h = open('p/a.log', { create: true });
        expect(h.size()).toBe(6);
      });

      it('lets several handles on one file see the same bytes', () => {
        const f = open('p/a.log', { create: true });
        const g = open('p/a.log');
        f.append(bytes(1, 2));
        expect(g.size()).toBe(2);
        expect(g.append(bytes(3))).toBe(2);
        expect(f.read(0, 3)).toEqual(bytes(1, 2, 3));
        g.close();
        expect(f.append(bytes(4))).toBe(3);
        expect(storage.readFile('p/a.log')).toEqual(bytes(1, 2, 3, 4));
      });

      it('keeps an open handle working on the file after a rename', () => {
        const f = open('p/a.log', { create: true });
        f.append(bytes(1));
        storage.rename('p/a.log', 'p/b.log');
        f.append(bytes(2));
        expect(storage.readFile('p/b.log')).toEqual(bytes(1, 2));
        expect(open('p/b.log').size()).toBe(2);
        expect(storage.exists('p/a.log')).toBe(false);
      });

      it('throws StorageError when opening a missing file without create', () => {
        expect(() => storage.open('p/missing.log')).toThrow(StorageError);
        expect(() => storage.open('p/missing.log', { create: false })).toThrow(StorageError);
        try {
          storage.open('p/missing.log');
          expect.unreachable();
        } catch (e) {
          expect((e as StorageError).path).toContain('p/missing.log');
          expect((e as StorageError).code).toBe('KAFKA_STORAGE_ERROR');
          expect((e as StorageError).message).toContain('open');
        }
        expect(storage.exists('p/missing.log')).toBe(false);
      });

      it('throws StorageError when creating a file in a missing directory', () => {
        expect(() => storage.open('nowhere/a.log', { create: true })).toThrow(StorageError);
        expect(storage.exists('nowhere')).toBe(false);
      });

      it('throws StorageError when opening or reading a directory as a file', () => {
        expect(() => storage.open('p')).toThrow(StorageError);
        expect(() => storage.open('p', { create: true })).toThrow(StorageError);
        expect(() => storage.readFile('p')).toThrow(StorageError);
        expect(() => storage.readFile('p/missing')).toThrow(StorageError);
      });

      it('throws StorageError on every use after close; closing twice is harmless', async () => {
        const f = storage.open('p/a.log', { create: true });
        f.append(bytes(1));
        f.close();
        f.close();
        expect(() => f.size()).toThrow(StorageError);
        expect(() => f.append(bytes(2))).toThrow(StorageError);
        expect(() => f.write(0, bytes(2))).toThrow(StorageError);
        expect(() => f.read(0, 1)).toThrow(StorageError);
        expect(() => f.truncate(0)).toThrow(StorageError);
        expect(() => f.syncNow()).toThrow(StorageError);
        await expect(f.sync()).rejects.toThrow(StorageError);
        expect(storage.readFile('p/a.log')).toEqual(bytes(1));
      });

      it('closing one handle leaves the others usable', () => {
        const f = storage.open('p/a.log', { create: true });
        const g = open('p/a.log');
        f.close();
        g.append(bytes(1));
        expect(g.read(0, 1)).toEqual(bytes(1));
      });

      it('rejects negative or fractional positions and lengths', () => {
        const f = open('p/a.log', { create: true });
        expect(() => f.read(-1, 1)).toThrow(InvalidArgumentError);
        expect(() => f.read(0, -1)).toThrow(InvalidArgumentError);
        expect(() => f.write(1.5, bytes(1))).toThrow(InvalidArgumentError);
        expect(() => f.truncate(-1)).toThrow(InvalidArgumentError);
      });
    });

    describe('sync', () => {
      it('resolves concurrent sync() calls, and syncNow() works', async () => {
        const f = open('p/a.log', { create: true });
        const all: Promise<void>[] = [];
        for (let i = 0; i < 20; i++) {
          f.append(bytes(i));
          all.push(f.sync());
        }
        await Promise.all(all);
        f.syncNow();
        await f.sync();
        expect(f.size()).toBe(20);
      });

      it('resolves syncs issued from handles on the same file', async () => {
        const f = open('p/a.log', { create: true });
        const g = open('p/a.log');
        f.append(bytes(1));
        await Promise.all([f.sync(), g.sync(), f.sync()]);
      });
    });

    describe('directories', () => {
      it('lists file names sorted, without directories', () => {
        for (const n of ['00000000000000000010.log', '00000000000000000000.log', 'b', 'a.index']) open(`p/${n}`, { create: true });
        storage.mkdir('p/sub');
        open('p/sub/inner', { create: true });
        expect(storage.list('p')).toEqual(['00000000000000000000.log', '00000000000000000010.log', 'a.index', 'b']);
        expect(storage.list('p/sub')).toEqual(['inner']);
      });

      it('lists [] for a missing or empty directory', () => {
        expect(storage.list('nope')).toEqual([]);
        expect(storage.list('nope/deeper')).toEqual([]);
        storage.mkdir('empty');
        expect(storage.list('empty')).toEqual([]);
      });

      it('accepts "", "." and redundant slashes for the root and in paths', () => {
        open('p/a', { create: true });
        expect(storage.list('')).toEqual([]);
        expect(storage.isDirectory('')).toBe(true);
        expect(storage.isDirectory('.')).toBe(true);
        expect(storage.list('p/')).toEqual(['a']);
        expect(storage.exists('./p//a')).toBe(true);
        expect(storage.readFile('p/../p/a')).toEqual(new Uint8Array(0));
      });

      it('rejects paths that escape the root or are absolute', () => {
        expect(() => storage.exists('../x')).toThrow(InvalidArgumentError);
        expect(() => storage.open('p/../../x', { create: true })).toThrow(InvalidArgumentError);
        expect(() => storage.list('/etc')).toThrow(InvalidArgumentError);
      });

      it('reports exists and isDirectory for files, directories and missing paths', () => {
        open('p/f', { create: true });
        expect(storage.exists('p')).toBe(true);
        expect(storage.isDirectory('p')).toBe(true);
        expect(storage.exists('p/f')).toBe(true);
        expect(storage.isDirectory('p/f')).toBe(false);
        expect(storage.exists('p/g')).toBe(false);
        expect(storage.isDirectory('p/g')).toBe(false);
        expect(storage.exists('q/r')).toBe(false);
      });

      it('mkdir creates parents and is idempotent', () => {
        storage.mkdir('a/b/c');
        storage.mkdir('a/b/c');
        storage.mkdir('a/b');
        expect(storage.isDirectory('a')).toBe(true);
        expect(storage.isDirectory('a/b')).toBe(true);
        expect(storage.isDirectory('a/b/c')).toBe(true);
        open('a/b/c/f', { create: true });
        expect(storage.list('a/b/c')).toEqual(['f']);
        expect(storage.list('a')).toEqual([]);
      });

      it('mkdir through a file throws StorageError', () => {
        open('p/f', { create: true });
        expect(() => storage.mkdir('p/f')).toThrow(StorageError);
        expect(() => storage.mkdir('p/f/g')).toThrow(StorageError);
        expect(() => storage.list('p/f')).toThrow(StorageError);
      });

      it('removeDirectory deletes the whole tree; missing is a no-op', () => {
        storage.mkdir('t/x/y');
        open('t/a', { create: true }).append(bytes(1));
        open('t/x/y/b', { create: true });
        storage.removeDirectory('t');
        expect(storage.exists('t')).toBe(false);
        expect(storage.exists('t/x/y/b')).toBe(false);
        expect(storage.list('t')).toEqual([]);
        storage.removeDirectory('t');
        // Recreating starts empty.
        storage.mkdir('t');
        expect(storage.list('t')).toEqual([]);
        expect(() => storage.open('t/a')).toThrow(StorageError);
      });

      it('removeDirectory leaves siblings with a common prefix alone', () => {
        storage.mkdir('topic-1');
        storage.mkdir('topic-10');
        open('topic-10/f', { create: true });
        storage.removeDirectory('topic-1');
        expect(storage.list('topic-10')).toEqual(['f']);
      });

      it('removeDirectory on a file throws and on the root is refused', () => {
        open('p/f', { create: true });
        expect(() => storage.removeDirectory('p/f')).toThrow(StorageError);
        expect(() => storage.removeDirectory('')).toThrow(InvalidArgumentError);
        expect(storage.exists('p/f')).toBe(true);
      });
    });

    describe('rename, remove, writeFileAtomic', () => {
      it('renames a file', () => {
        open('p/a.cleaned', { create: true }).append(bytes(1, 2));
        storage.rename('p/a.cleaned', 'p/a.swap');
        expect(storage.list('p')).toEqual(['a.swap']);
        expect(storage.readFile('p/a.swap')).toEqual(bytes(1, 2));
      });

      it('renames replacing an existing target', () => {
        open('p/new', { create: true }).append(bytes(1));
        open('p/old', { create: true }).append(bytes(9, 9, 9));
        storage.rename('p/new', 'p/old');
        expect(storage.list('p')).toEqual(['old']);
        expect(storage.readFile('p/old')).toEqual(bytes(1));
        expect(open('p/old').size()).toBe(1);
      });

      it('renames across directories, and onto itself as a no-op', () => {
        storage.mkdir('q');
        open('p/a', { create: true }).append(bytes(3));
        storage.rename('p/a', 'p/a');
        expect(storage.readFile('p/a')).toEqual(bytes(3));
        storage.rename('p/a', 'q/a');
        expect(storage.list('p')).toEqual([]);
        expect(storage.readFile('q/a')).toEqual(bytes(3));
      });

      it('renaming a missing file or into a missing directory throws StorageError', () => {
        expect(() => storage.rename('p/missing', 'p/x')).toThrow(StorageError);
        open('p/a', { create: true });
        expect(() => storage.rename('p/a', 'nowhere/a')).toThrow(StorageError);
        expect(storage.exists('p/a')).toBe(true);
      });

      it('removes a file; removing a missing file is a no-op', () => {
        open('p/a', { create: true });
        storage.remove('p/a');
        expect(storage.exists('p/a')).toBe(false);
        expect(storage.list('p')).toEqual([]);
        storage.remove('p/a');
        storage.remove('nowhere/a');
        // A fresh file at the same path starts empty.
        expect(open('p/a', { create: true }).size()).toBe(0);
      });

      it('writeFileAtomic creates and replaces content, leaving no temporary file', () => {
        storage.writeFileAtomic('p/leader-epoch-checkpoint', text('0\n1\n0 0\n'));
        expect(storage.readFile('p/leader-epoch-checkpoint')).toEqual(text('0\n1\n0 0\n'));
        storage.writeFileAtomic('p/leader-epoch-checkpoint', text('0\n0\n'));
        expect(storage.readFile('p/leader-epoch-checkpoint')).toEqual(text('0\n0\n'));
        expect(storage.list('p')).toEqual(['leader-epoch-checkpoint']);
        storage.writeFileAtomic('p/empty', new Uint8Array(0));
        expect(storage.readFile('p/empty')).toEqual(new Uint8Array(0));
        expect(storage.list('p')).toEqual(['empty', 'leader-epoch-checkpoint']);
      });

      it('writeFileAtomic copies the bytes it is given', () => {
        const content = bytes(1, 2);
        storage.writeFileAtomic('p/c', content);
        content[0] = 9;
        expect(storage.readFile('p/c')).toEqual(bytes(1, 2));
      });

      it('writeFileAtomic into a missing directory throws StorageError', () => {
        expect(() => storage.writeFileAtomic('nowhere/c', bytes(1))).toThrow(StorageError);
        expect(storage.exists('nowhere')).toBe(false);
      });

      it('writeFileAtomic leaves a handle open on the old file with the old bytes', () => {
        const f = open('p/c', { create: true });
        f.append(bytes(1, 2, 3));
        storage.writeFileAtomic('p/c', bytes(7));
        expect(f.read(0, 10)).toEqual(bytes(1, 2, 3));
        expect(open('p/c').read(0, 10)).toEqual(bytes(7));
      });
    });
  });
}
