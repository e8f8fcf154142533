/**
 * Document projections into samsa stores: exactly-once streams stores with changelogs, queried
 * with get / range / prefix, read-your-writes through the committed input offsets, blue-green
 * within a process, per-key dead letters, and a failing event stopping the projection.
 */
import { describe, expect, it } from 'vitest';
import { lastValueFrom } from 'rxjs';
import { take, toArray } from 'rxjs/operators';
import { defineProjection, runProjection, storeTarget } from '../../src/projections/index.ts';
import { ProjectionError } from '../../src/errors.ts';
import { place, setup } from './fixtures.ts';
import type { OrderEvent } from './fixtures.ts';

function totals(version = 1, broken = { on: false }, onError: 'fail' | 'deadLetter' = 'fail') {
  return defineProjection<{ n: number; total: number }, OrderEvent>({
    name: 'order_totals',
    version,
    from: { aggregates: ['order'] },
    onError,
    initial: () => ({ n: 0, total: 0 }),
    evolve: (s, e) => {
      if (broken.on && e.data.customer === 'bad') throw new Error('cannot evolve');
      return e.type === 'OrderCancelled' ? null : { n: s.n + 1, total: s.total + e.data.total * version };
    },
  });
}

describe('projections into a samsa store', () => {
  it('keeps documents exactly once and answers interactive queries after waitFor', async () => {
    const { cluster, store } = await setup(41);
    const runner = await cluster.settle(runProjection(cluster, totals(), { target: storeTarget() }));
    await place(cluster, store, 1, 'ann', 3);
    await place(cluster, store, 2, 'bo', 4);
    const last = await place(cluster, store, 1, 'ann', 5);
    await cluster.settle(runner.view.waitFor(last.position));
    expect(await runner.view.get('order-1')).toEqual({ n: 2, total: 8 });
    expect((await runner.view.range('order-1', 'order-2')).map((e) => e.key)).toEqual(['order-1', 'order-2']);
    expect((await runner.view.prefix('order-2')).map((e) => e.value)).toEqual([{ n: 1, total: 4 }]);
    const cancelled = await cluster.settle(store.append('order-2', [{ type: 'OrderCancelled', data: { customer: 'bo', total: 0 } }]));
    await cluster.settle(runner.view.waitFor(cancelled.position));
    expect(await runner.view.get('order-2')).toBeUndefined();
    expect(await cluster.settle(runner.describe())).toMatchObject({ status: 'running', live: true, lag: 0n, target: 'samsa store' });
    await expect(runner.view.query(async () => 1)).rejects.toThrow(/get, range or prefix/);
    await expect(runner.reset('earliest')).rejects.toBeInstanceOf(ProjectionError);
    runner.pause();
    expect(runner.status).toBe('paused');
    const held = await place(cluster, store, 1, 'ann', 100);
    await expect(cluster.settle(runner.view.waitFor(held.position, { timeoutMs: 3_000 }))).rejects.toThrow(/timed out/);
    expect(await runner.view.get('order-1')).toEqual({ n: 2, total: 8 });
    runner.resume();
    await cluster.settle(runner.view.waitFor(held.position));
    expect(await runner.view.get('order-1')).toEqual({ n: 3, total: 108 });
    await cluster.settle(runner.stop());
    await cluster.settle(store.close());
  });

  it('watch() follows commits', async () => {
    const { cluster, store } = await setup(42);
    const runner = await cluster.settle(runProjection(cluster, totals(), { target: storeTarget() }));
    await cluster.settle(runner.view.waitFor((await place(cluster, store, 1, 'ann', 1)).position));
    const seen = lastValueFrom(runner.view.watch((v) => v.get('order-1')).pipe(take(2), toArray()));
    await cluster.settle(runner.view.waitFor((await place(cluster, store, 1, 'ann', 1)).position));
    await cluster.settle(runner.view.waitFor((await place(cluster, store, 3, 'x', 1)).position));
    expect(await cluster.settle(seen)).toEqual([{ n: 1, total: 1 }, { n: 2, total: 2 }]);
    await cluster.settle(runner.stop());
  });

  it('builds v2 beside v1 and the view switches once v2 has caught up', async () => {
    const { cluster, store } = await setup(43);
    const v1 = await cluster.settle(runProjection(cluster, totals(1), { target: storeTarget(), checkIntervalMs: 100 }));
    const last = await place(cluster, store, 1, 'ann', 2);
    await cluster.settle(v1.view.waitFor(last.position));
    const v2 = await cluster.settle(runProjection(cluster, totals(2), { target: storeTarget(), checkIntervalMs: 100 }));
    await cluster.settle((async () => {
      while ((await v1.view.live())?.version !== 2) await new Promise<void>((r) => cluster.clock.setTimeout(() => r(), 50));
    })());
    expect(await v1.view.get('order-1')).toEqual({ n: 1, total: 4 });
    await v1.view.useVersion(1);
    expect(await v1.view.get('order-1')).toEqual({ n: 1, total: 2 });
    await cluster.settle(v2.stop());
    await cluster.settle(v1.stop());
  });

  it('parks failing events per key, and fails the projection when the policy says fail', async () => {
    const { cluster, store } = await setup(44);
    const parked = await cluster.settle(runProjection(cluster, totals(1, { on: true }, 'deadLetter'), { target: storeTarget() }));
    await place(cluster, store, 'bad', 'bad', 1);
    await place(cluster, store, 'bad', 'ann', 1);
    const last = await place(cluster, store, 'good', 'ann', 1);
    await cluster.settle(parked.view.waitFor(last.position));
    await cluster.runFor(200);
    expect(await parked.view.get('order-good')).toEqual({ n: 1, total: 1 });
    expect(await parked.view.get('order-bad')).toBeUndefined();
    expect((await cluster.settle(parked.deadLetters())).map((d) => [d.key, d.event.data])).toEqual([['order-bad', { customer: 'bad', total: 1 }], ['order-bad', { customer: 'ann', total: 1 }]]);
    await cluster.settle(parked.stop());

    const failing = await cluster.settle(runProjection(cluster, { ...totals(1, { on: true }, 'fail'), name: 'strict' } as never, { target: storeTarget() }));
    const error = await cluster.settle(lastValueFrom(failing.status$)).then(() => failing.error);
    expect(error).toBeInstanceOf(ProjectionError);
    expect(failing.status).toBe('failed');
    await cluster.settle(failing.stop());
  });
});
