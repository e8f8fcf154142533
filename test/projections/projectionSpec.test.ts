/** ProjectionSpec: given-when-then over the real batch code, with redeliveries and duplicates injected. */
import { describe, expect, it } from 'vitest';
import { defineProjection } from '../../src/projections/index.ts';
import { ProjectionSpec } from '../../src/testing.ts';
import type { OrderEvent } from './fixtures.ts';

const placed = (id: string, customer: string, total: number) => ({ streamId: `order-${id}`, type: 'OrderPlaced', data: { customer, total } });

describe('ProjectionSpec', () => {
  it('passes an idempotent document projection through all three runs', async () => {
    const latest = defineProjection<{ customer: string; total: number }, OrderEvent>({
      name: 'latest_order',
      from: { aggregates: ['order'] },
      idempotent: true,
      initial: () => ({ customer: '', total: 0 }),
      evolve: (_s, e) => ({ customer: e.data.customer, total: e.data.total }),
    });
    await ProjectionSpec.for(latest).given([placed('1', 'ann', 1)]).when([placed('1', 'ann', 5), placed('2', 'bo', 2)]).then(async (view) => {
      expect(await view.get('order-1')).toEqual({ customer: 'ann', total: 5 });
      expect((await view.prefix('order-')).length).toBe(2);
    });
  });

  it('catches a projection that claims idempotence but counts duplicates', async () => {
    const counting = defineProjection<{ n: number }, OrderEvent>({
      name: 'counting',
      from: { aggregates: ['order'] },
      idempotent: true,
      initial: () => ({ n: 0 }),
      evolve: (s) => ({ n: s.n + 1 }),
    });
    await expect(ProjectionSpec.for(counting).when([placed('1', 'ann', 1)]).then(async (view) => {
      expect(await view.get('order-1')).toEqual({ n: 1 });
    })).rejects.toThrow(/duplicated/);
  });

  it('runs SQL projections exactly once and proves redelivered batches are dropped', async () => {
    const totals = defineProjection<OrderEvent>({
      name: 'totals',
      from: { aggregates: ['order'] },
      tables: ['t'],
      migrate: (db) => db.exec(`CREATE TABLE ${db.table('t')} (customer TEXT PRIMARY KEY, total INTEGER)`).then(() => undefined),
      handle: (e, db) => db.exec(`INSERT INTO ${db.table('t')} VALUES (?, ?) ON CONFLICT (customer) DO UPDATE SET total = total + excluded.total`, [e.data.customer, e.data.total]).then(() => undefined),
    });
    let runs = 0;
    await ProjectionSpec.for(totals).given([placed('1', 'ann', 1)]).when([placed('2', 'ann', 2)]).then(async (view) => {
      runs++;
      expect(await view.query((db) => db.all(`SELECT * FROM ${db.table('t')}`))).toEqual([{ customer: 'ann', total: 3 }]);
    });
    expect(runs).toBe(2);
  });

  it('applies the error policy and reports a failing projection by name', async () => {
    const strict = defineProjection<{ n: number }, OrderEvent>({
      name: 'strict',
      from: { aggregates: ['order'] },
      initial: () => ({ n: 0 }),
      evolve: () => {
        throw new Error('no');
      },
    });
    await expect(ProjectionSpec.for(strict).when([placed('1', 'ann', 1)]).then(() => undefined)).rejects.toThrow(/"strict".*policy is to fail/);
    const lenient = defineProjection<{ n: number }, OrderEvent>({ ...strict, name: 'lenient', onError: 'skip' } as never);
    await ProjectionSpec.for(lenient).when([placed('1', 'ann', 1)]).then(async (view) => expect(await view.get('order-1')).toBeUndefined());
  });
});
