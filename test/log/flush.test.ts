import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { SimulatedClock } from '../../src/clock.ts';
import { PartitionLog } from '../../src/log/partitionLog.ts';
import { FileStorage } from '../../src/log/storage/fileStorage.ts';
import { batchOf, numbered } from '../helpers/log.ts';

describe('flush policy', () => {
  const dirs: string[] = [];
  afterEach(() => dirs.splice(0).forEach((d) => rmSync(d, { recursive: true, force: true })));

  it('group-commits fsyncs: appends never wait, and many flush requests share at most two fsyncs', async () => {
    const root = mkdtempSync(join(tmpdir(), 'samsa-flush-'));
    dirs.push(root);
    const held: Array<() => void> = [];
    let fsyncs = 0;
    const storage = new FileStorage(root, {
      fsync: (_fd, callback) => {
        fsyncs++;
        held.push(() => callback(null));
      },
    });
    const log = PartitionLog.open({ storage, dir: 'p-0', config: { 'flush.messages': 1 }, clock: new SimulatedClock() });
    for (let i = 0; i < 100; i++) log.append(batchOf(numbered(1, i)));
    // Every append asked for a flush; none of them waited for the disk.
    expect(log.logEndOffset).toBe(100n);
    expect(fsyncs).toBe(1);
    expect(log.recoveryPoint).toBe(0n);
    while (held.length > 0) {
      (held.shift() as () => void)();
      await new Promise((resolve) => setImmediate(resolve));
    }
    expect(fsyncs).toBe(2);
    await log.flush();
    while (held.length > 0) (held.shift() as () => void)();
    expect(log.recoveryPoint).toBe(100n);
    await log.close();
  });

  it('fsyncs nothing by default (Kafka relies on replication), but always on close', async () => {
    const root = mkdtempSync(join(tmpdir(), 'samsa-flush-'));
    dirs.push(root);
    let fsyncs = 0;
    let syncFsyncs = 0;
    const storage = new FileStorage(root, {
      fsync: (_fd, callback) => {
        fsyncs++;
        callback(null);
      },
      fsyncSync: () => {
        syncFsyncs++;
      },
    });
    const log = PartitionLog.open({ storage, dir: 'p-0', clock: new SimulatedClock() });
    for (let i = 0; i < 50; i++) log.append(batchOf(numbered(1, i)));
    expect(fsyncs).toBe(0);
    const before = syncFsyncs;
    await log.close();
    expect(syncFsyncs).toBeGreaterThan(before);
  });
});
