/**
 * SQLite projections under failure and change: each error policy, dead letters per key, a failing
 * migration, blue-green versions with automatic cutover and rollback, rebuild while serving,
 * live queries, pause / resume / reset, two workers sharing the partitions, and bad input.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { lastValueFrom } from 'rxjs';
import { take, toArray } from 'rxjs/operators';
import { defineProjection, openView, runProjection, sqliteTarget } from '../../src/projections/index.ts';
import type { ErrorPolicy, ProjectionErrorEvent } from '../../src/projections/index.ts';
import { ClosedError, InvalidArgumentError, ProjectionError, TimeoutError } from '../../src/errors.ts';
import { cleanFiles, dbFile, place, setup } from './fixtures.ts';
import type { OrderEvent } from './fixtures.ts';

afterEach(cleanFiles);

/** Rows per customer; `bad` customers make the handler throw while `broken.on` holds. */
function customers(onError: ErrorPolicy, broken = { on: true }, version = 1) {
  return defineProjection<OrderEvent>({
    name: 'customers',
    version,
    from: { aggregates: ['order'] },
    key: (e) => e.data.customer,
    onError,
    tables: ['totals'],
    migrate: (db) => db.exec(`CREATE TABLE ${db.table('totals')} (customer TEXT PRIMARY KEY, total INTEGER NOT NULL, n INTEGER NOT NULL)`).then(() => undefined),
    handle: async (e, db) => {
      if (broken.on && e.data.customer.startsWith('bad')) throw new Error(`cannot project ${e.data.customer}`);
      await db.exec(`INSERT INTO ${db.table('totals')} (customer, total, n) VALUES (?, ?, 1) ON CONFLICT (customer) DO UPDATE SET total = total + excluded.total, n = n + 1`, [e.data.customer, e.data.total * version]);
    },
  });
}

const rows = (db: { all(sql: string): Promise<unknown[]>; table(n: string): string }) => db.all(`SELECT customer, total, n FROM ${db.table('totals')} ORDER BY customer`);

describe('SQLite projections: error policies', () => {
  it("'skip' leaves the event out and reports it", async () => {
    const { cluster, store } = await setup(11);
    const runner = await cluster.settle(runProjection(cluster, customers('skip'), { target: sqliteTarget(dbFile()) }));
    const errors: ProjectionErrorEvent[] = [];
    runner.errors$.subscribe((e) => errors.push(e));
    await place(cluster, store, 1, 'ann', 1);
    await place(cluster, store, 2, 'bad-1', 1);
    const last = await place(cluster, store, 3, 'ann', 2);
    await cluster.settle(runner.view.waitFor(last.position));
    expect(await runner.view.query(rows)).toEqual([{ customer: 'ann', total: 3, n: 2 }]);
    expect(errors.map((e) => [e.action, e.key])).toEqual([['skip', 'bad-1']]);
    await cluster.settle(runner.stop());
  });

  it('retries with backoff, then does what `then` says', async () => {
    const { cluster, store } = await setup(12);
    const runner = await cluster.settle(runProjection(cluster, customers({ retry: 2, backoffMs: 100, then: 'skip' }), { target: sqliteTarget(dbFile()) }));
    const errors: ProjectionErrorEvent[] = [];
    runner.errors$.subscribe((e) => errors.push(e));
    const bad = await place(cluster, store, 1, 'bad-2', 1);
    const last = await place(cluster, store, 2, 'cy', 1);
    await cluster.settle(runner.view.waitFor([bad.position, last.position]));
    expect(errors.map((e) => [e.action, e.attempt])).toEqual([['retry', 1], ['retry', 2], ['skip', 3]]);
    expect(await runner.view.query(rows)).toEqual([{ customer: 'cy', total: 1, n: 1 }]);
    await cluster.settle(runner.stop());
  });

  it("'fail' stops with a ProjectionError naming the event; a restart meets it again", async () => {
    const { cluster, store } = await setup(13);
    const file = dbFile();
    const runner = await cluster.settle(runProjection(cluster, customers('fail'), { target: sqliteTarget(file) }));
    const bad = await place(cluster, store, 1, 'bad-3', 1);
    const error = await cluster.settle(lastValueFrom(runner.status$)).then(() => runner.error);
    expect(error).toBeInstanceOf(ProjectionError);
    expect(error).toMatchObject({ projection: 'customers', phase: 'handle', position: bad.position });
    expect(runner.status).toBe('failed');
    await cluster.settle(runner.stop());
    const fixed = await cluster.settle(runProjection(cluster, customers('fail', { on: false }), { target: sqliteTarget(file) }));
    await cluster.settle(fixed.view.waitFor(bad.position));
    expect(await fixed.view.query(rows)).toEqual([{ customer: 'bad-3', total: 1, n: 1 }]);
    await cluster.settle(fixed.stop());
  });

  it("'deadLetter' parks per key: later events of that key wait behind it, other keys go on, retry applies them in order", async () => {
    const { cluster, store } = await setup(14);
    const broken = { on: true };
    const runner = await cluster.settle(runProjection(cluster, customers('deadLetter', broken), { target: sqliteTarget(dbFile()) }));
    const bad = await place(cluster, store, 1, 'bad-4', 1);
    await place(cluster, store, 2, 'ann', 1);
    await cluster.settle(runner.view.waitFor(bad.position));
    // Not failing on its own, but its key has a parked event: it waits too.
    broken.on = false;
    await place(cluster, store, 3, 'bad-4', 10);
    const last = await place(cluster, store, 4, 'ann', 1);
    await cluster.settle(runner.view.waitFor(last.position));
    broken.on = true;
    expect(await runner.view.query(rows)).toEqual([{ customer: 'ann', total: 2, n: 2 }]);
    const parked = await cluster.settle(runner.deadLetters('bad-4'));
    expect(parked.map((d) => [d.event.data, d.error.startsWith('Error: cannot project') || d.error.startsWith('waiting')])).toEqual([[{ customer: 'bad-4', total: 1 }, true], [{ customer: 'bad-4', total: 10 }, true]]);
    expect((await cluster.settle(runner.describe())).deadLetters).toBe(2);
    expect(await cluster.settle(runner.retryDeadLetters('bad-4'))).toEqual({ applied: 0, remaining: 2 });
    broken.on = false;
    expect(await cluster.settle(runner.retryDeadLetters('bad-4'))).toEqual({ applied: 2, remaining: 0 });
    expect(await runner.view.query(rows)).toEqual([{ customer: 'ann', total: 2, n: 2 }, { customer: 'bad-4', total: 11, n: 2 }]);
    await cluster.settle(runner.stop());
  });

  it('an event that cannot be decoded follows the policy; a failure reaches status$ subscribers without an error callback', async () => {
    const { cluster, store } = await setup(16);
    await place(cluster, store, 1, 'ann', 1);
    const producer = cluster.producer();
    const [garbage] = await cluster.settle(producer.send('order.events', [{ key: 'order-9', value: '{not json', headers: { 'samsa.event-type': 'OrderPlaced' } }]));
    const skipping = await cluster.settle(runProjection(cluster, customers('skip'), { target: sqliteTarget(dbFile()) }));
    const errors: ProjectionErrorEvent[] = [];
    skipping.errors$.subscribe((e) => errors.push(e));
    const last = await place(cluster, store, 2, 'ann', 1);
    await cluster.settle(skipping.view.waitFor(last.position));
    expect(await skipping.view.query(rows)).toEqual([{ customer: 'ann', total: 2, n: 2 }]);
    expect(errors.map((e) => [e.action, e.position.offset, (e.error as Error).name])).toEqual([['skip', garbage?.offset, 'SerdeError']]);
    await cluster.settle(skipping.stop());
    const strict = await cluster.settle(runProjection(cluster, customers('fail'), { target: sqliteTarget(dbFile()) }));
    const seen: string[] = [];
    strict.status$.subscribe((s) => seen.push(s));
    await cluster.settle(lastValueFrom(strict.status$));
    expect(seen.at(-1)).toBe('failed');
    expect(strict.error).toBeInstanceOf(ProjectionError);
    expect((strict.error as ProjectionError).cause).toMatchObject({ name: 'SerdeError' });
    await cluster.settle(strict.stop());
    await cluster.settle(producer.close());
  });

  it('a failing migration stops the projection with the SQL error and its name', async () => {
    const { cluster } = await setup(15);
    const broken = defineProjection<OrderEvent>({ name: 'broken', from: { aggregates: ['order'] }, tables: ['t'], migrate: (db) => db.exec('CREATE TABLE oops (').then(() => undefined), handle: () => undefined });
    const error = await cluster.settle(runProjection(cluster, broken, { target: sqliteTarget(dbFile()) })).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ProjectionError);
    expect(error).toMatchObject({ projection: 'broken', phase: 'migrate' });
    expect(String((error as Error).message)).toMatch(/broken.*incomplete input|syntax/);
  });
});

describe('SQLite projections: versions, rebuilds and management', () => {
  it('builds v2 beside v1, cuts over once v2 caught up, and rolls back on demand', async () => {
    const { cluster, store } = await setup(21);
    const file = dbFile();
    const v1 = await cluster.settle(runProjection(cluster, customers('fail', { on: false }, 1), { target: sqliteTarget(file), checkIntervalMs: 100 }));
    for (let i = 0; i < 6; i++) await place(cluster, store, i, i % 2 ? 'ann' : 'bo', 1);
    const reader = await cluster.settle(openView(customers('fail', { on: false }, 1), sqliteTarget(file), { clock: cluster.clock }));
    const last = await place(cluster, store, 9, 'ann', 1);
    await cluster.settle(reader.waitFor(last.position));
    expect(await reader.live()).toEqual({ version: 1, build: 0 });
    const v2 = await cluster.settle(runProjection(cluster, customers('fail', { on: false }, 2), { target: sqliteTarget(file), checkIntervalMs: 100 }));
    await cluster.settle((async () => {
      while ((await reader.live())?.version !== 2) await new Promise<void>((r) => cluster.clock.setTimeout(() => r(), 50));
    })());
    // v2 doubles totals: the reader sees v2's tables without being told.
    expect(await reader.query(rows)).toEqual([{ customer: 'ann', total: 8, n: 4 }, { customer: 'bo', total: 6, n: 3 }]);
    expect((await cluster.settle(v1.describe())).live).toBe(false);
    await reader.useVersion(1);
    expect(await reader.query(rows)).toEqual([{ customer: 'ann', total: 4, n: 4 }, { customer: 'bo', total: 3, n: 3 }]);
    await cluster.settle(v1.stop());
    await cluster.settle(v2.stop());
    await reader.close();
  });

  it('rebuilds into a new build while queries answer from the old one, then replaces it', async () => {
    const { cluster, store } = await setup(22);
    const runner = await cluster.settle(runProjection(cluster, customers('fail', { on: false }), { target: sqliteTarget(dbFile()), checkIntervalMs: 100 }));
    let last;
    for (let i = 0; i < 8; i++) last = await place(cluster, store, i, 'ann', 1);
    await cluster.settle(runner.view.waitFor(last?.position));
    await cluster.settle(runner.rebuild());
    // The old build answers until the new one catches up.
    expect(await runner.view.query(rows)).toEqual([{ customer: 'ann', total: 8, n: 8 }]);
    await cluster.settle((async () => {
      while ((await runner.view.live())?.build !== 1) await new Promise<void>((r) => cluster.clock.setTimeout(() => r(), 50));
    })());
    expect(await runner.view.query(rows)).toEqual([{ customer: 'ann', total: 8, n: 8 }]);
    expect(await runner.view.query((db) => db.all("SELECT name FROM sqlite_master WHERE type = 'table' AND name LIKE 'totals_%' ORDER BY name"))).toEqual([{ name: 'totals_v1_r1' }]);
    await cluster.settle(runner.stop());
  });

  it('watch() emits the current result, then each change', async () => {
    const { cluster, store } = await setup(23);
    const runner = await cluster.settle(runProjection(cluster, customers('fail', { on: false }), { target: sqliteTarget(dbFile()) }));
    const seen = lastValueFrom(runner.view.watch((v) => v.query(rows)).pipe(take(3), toArray()));
    await cluster.settle(runner.view.waitFor((await place(cluster, store, 1, 'ann', 1)).position));
    await cluster.settle(runner.view.waitFor((await place(cluster, store, 2, 'ann', 1)).position));
    const all = await cluster.settle(seen);
    expect(all).toEqual([[], [{ customer: 'ann', total: 1, n: 1 }], [{ customer: 'ann', total: 2, n: 2 }]]);
    await cluster.settle(runner.stop());
  });

  it('pause holds events back, resume applies them, reset moves the stored offsets', async () => {
    const { cluster, store } = await setup(24);
    const runner = await cluster.settle(runProjection(cluster, customers('fail', { on: false }), { target: sqliteTarget(dbFile()) }));
    const first = await place(cluster, store, 1, 'ann', 1);
    await cluster.settle(runner.view.waitFor(first.position));
    runner.pause();
    expect(runner.status).toBe('paused');
    const second = await place(cluster, store, 1, 'ann', 1);
    await expect(cluster.settle(runner.view.waitFor(second.position, { timeoutMs: 2000 }))).rejects.toBeInstanceOf(TimeoutError);
    runner.resume();
    await cluster.settle(runner.view.waitFor(second.position));
    expect(await runner.view.query(rows)).toEqual([{ customer: 'ann', total: 2, n: 2 }]);
    await cluster.settle(runner.reset('latest'));
    const third = await place(cluster, store, 1, 'bo', 1);
    await cluster.settle(runner.view.waitFor(third.position));
    expect(await runner.view.query(rows)).toEqual([{ customer: 'ann', total: 2, n: 2 }, { customer: 'bo', total: 1, n: 1 }]);
    await cluster.settle(runner.stop());
  });

  it('two workers share the partitions and the model is exact', async () => {
    const { cluster, store } = await setup(25);
    const file = dbFile();
    const a = await cluster.settle(runProjection(cluster, customers('fail', { on: false }), { target: sqliteTarget(file), clientId: 'a' }));
    const b = await cluster.settle(runProjection(cluster, customers('fail', { on: false }), { target: sqliteTarget(file), clientId: 'b' }));
    const positions = [];
    for (let i = 0; i < 30; i++) positions.push((await place(cluster, store, i, `c${i % 3}`, 1)).position);
    await cluster.settle(a.view.waitFor(positions));
    expect(await a.view.query(rows)).toEqual([0, 1, 2].map((i) => ({ customer: `c${i}`, total: 10, n: 10 })));
    const owned = [...(await cluster.settle(a.describe())).positions, ...(await cluster.settle(b.describe())).positions];
    expect(owned.length).toBe(3);
    await cluster.settle(a.stop());
    await cluster.settle(b.stop());
  });
});

describe('projections: bad input', () => {
  it('refuses malformed definitions, targets, options and positions with typed errors', async () => {
    expect(() => defineProjection({ name: 'has space', from: { topics: ['t'] }, initial: () => 0, evolve: (s: number) => s })).toThrow(InvalidArgumentError);
    expect(() => defineProjection({ name: 'p', from: { topics: [] }, initial: () => 0, evolve: (s: number) => s })).toThrow(/from/);
    expect(() => defineProjection({ name: 'p', from: { topics: ['t'] } } as never)).toThrow(/initial \+ evolve/);
    expect(() => defineProjection({ name: 'p', version: 0, from: { topics: ['t'] }, initial: () => 0, evolve: (s: number) => s })).toThrow(/version/);
    expect(() => defineProjection({ name: 'p', from: { topics: ['t'] }, onError: { retry: -1 }, initial: () => 0, evolve: (s: number) => s })).toThrow(/onError/);
    expect(() => defineProjection({ name: 'p', from: { topics: ['t'] }, tables: ['bad name'], migrate: () => undefined, handle: () => undefined })).toThrow(/tables/);
    const { cluster } = await setup(31);
    const p = customers('fail');
    await expect(runProjection(cluster, p, { target: { kind: 'mysql' } as never })).rejects.toBeInstanceOf(InvalidArgumentError);
    await expect(runProjection(cluster, {} as never)).rejects.toBeInstanceOf(InvalidArgumentError);
    await expect(runProjection(cluster, p)).rejects.toThrow(/sqliteTarget\(\) or postgresTarget\(\)/);
    await expect(runProjection(cluster, p, { target: sqliteTarget('/nonexistent-dir/x/read.db') })).rejects.toBeInstanceOf(ProjectionError);
    const runner = await cluster.settle(runProjection(cluster, p, { target: sqliteTarget(dbFile()) }));
    await expect(runner.view.waitFor({ topic: 'order.events', partition: 0, offset: 1 } as never)).rejects.toBeInstanceOf(InvalidArgumentError);
    await expect(runner.view.get('x')).rejects.toThrow(/query\(\)/);
    await expect(runProjection(cluster, p, { target: sqliteTarget(dbFile()), maxBatchSize: 0 })).rejects.toThrow(/maxBatchSize/);
    await cluster.settle(runner.stop());
    await cluster.settle(runner.stop());
    await expect(runner.describe()).rejects.toBeInstanceOf(ClosedError);
    await expect(runner.view.query(async () => 1)).rejects.toBeInstanceOf(ClosedError);
  });
});
