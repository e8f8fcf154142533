/**
 * Aggregates: the decider specs (AggregateSpec, with its JSON round trip), property laws of the
 * bank account (evolve is deterministic; snapshot + tail ≡ full replay), and `handle` on a cluster:
 * the aggregate's own errors unchanged, conflicts retried or reported, snapshots used only when
 * their schema version and `evolve` fingerprint match, upcasters on every read path.
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { firstValueFrom } from 'rxjs';
import { filter, take } from 'rxjs/operators';
import { WrongExpectedVersionError } from '../../src/errors.ts';
import { createEventStore, defineAggregate, upcastChain } from '../../src/eventsourcing/index.ts';
import type { RecordedEvent } from '../../src/eventsourcing/index.ts';
import { AggregateSpec, createTestCluster } from '../../src/testing.ts';
import { account, AccountRuleError, decide, evolve, InsufficientFundsError } from '../../examples/event-sourcing/account.ts';
import type { AccountCommand, AccountEvent, AccountState } from '../../examples/event-sourcing/account.ts';

const opened = { type: 'AccountOpened', data: { owner: 'ann' } } as const;
const deposited = (amount: number) => ({ type: 'MoneyDeposited', data: { amount }, schemaVersion: 2 }) as const;

describe('AggregateSpec', () => {
  it('checks given-when-then against the decider', () => {
    AggregateSpec.for(account).given([]).when({ type: 'open', owner: 'ann' }).then([opened]);
    AggregateSpec.for(account).given([opened, deposited(10)]).when({ type: 'withdraw', amount: 4 }).then({ type: 'MoneyWithdrawn', data: { amount: 4 } });
    AggregateSpec.for(account).given([opened, deposited(10)]).when({ type: 'withdraw', amount: 11 }).thenThrows(InsufficientFundsError);
    AggregateSpec.for(account).given([opened]).when({ type: 'open', owner: 'bob' }).thenThrows((e) => e instanceof AccountRuleError && /already open/.test(e.message));
    expect(() => AggregateSpec.for(account).given([opened]).when({ type: 'deposit', amount: 5 }).then([deposited(6)])).toThrow(/expected events .*amount":6.* got .*amount":5/);
    expect(() => AggregateSpec.for(account).given([opened]).when({ type: 'deposit', amount: 5 }).thenThrows(InsufficientFundsError)).toThrow(/expected decide to throw/);
    expect(() => AggregateSpec.for(account).given([opened]).when({ type: 'deposit', amount: 5 }).thenNothing()).toThrow(/expected no event/);
  });

  it('catches state that does not survive JSON (a Date), unless told not to', () => {
    const dated = defineAggregate<{ at?: Date }, { type: 'touch' }, { type: 'Touched'; data: { at: number } }>({
      type: 'dated',
      initialState: () => ({}),
      decide: () => [{ type: 'Touched', data: { at: 1 } }],
      evolve: (_s, e) => ({ at: new Date(e.data.at) }),
    });
    expect(() => AggregateSpec.for(dated).given([{ type: 'Touched', data: { at: 1 } }]).when({ type: 'touch' }).then([{ type: 'Touched', data: { at: 1 } }])).toThrow(/state does not survive a JSON round trip/);
    AggregateSpec.for(dated, { roundTrip: false }).given([{ type: 'Touched', data: { at: 1 } }]).when({ type: 'touch' }).then([{ type: 'Touched', data: { at: 1 } }]);
  });
});

/** Commands that make sense often enough: opens first, then deposits and withdrawals. */
const commands = fc.array(fc.oneof(fc.record({ type: fc.constant('deposit' as const), amount: fc.integer({ min: 1, max: 100 }) }), fc.record({ type: fc.constant('withdraw' as const), amount: fc.integer({ min: 1, max: 100 }) })), { maxLength: 40 });

/** The events a command sequence produces (refused commands produce none). */
function eventsOf(list: readonly AccountCommand[]): RecordedEvent<AccountEvent['type'], AccountEvent['data']>[] {
  let state = account.initialState();
  const out: RecordedEvent<AccountEvent['type'], AccountEvent['data']>[] = [];
  for (const command of [{ type: 'open', owner: 'p' } as const, ...list]) {
    let events: AccountEvent[] = [];
    try {
      events = decide(command, state);
    } catch {
      continue;
    }
    for (const e of events) {
      const r = { type: e.type, data: e.data, metadata: {}, schemaVersion: e.schemaVersion ?? 1, streamId: 'account-p', streamVersion: BigInt(out.length + 1), position: { topic: 'account.events', partition: 0, offset: BigInt(out.length) }, timestamp: 0 } as RecordedEvent<AccountEvent['type'], AccountEvent['data']>;
      out.push(r);
      state = evolve(state, r);
    }
  }
  return out;
}

/** Recorded events as the events they were appended as. */
const asNew = (events: readonly RecordedEvent<AccountEvent['type'], AccountEvent['data']>[]): AccountEvent[] => events.map((e) => ({ type: e.type, data: e.data, schemaVersion: e.schemaVersion }) as AccountEvent);

const fold = (events: readonly RecordedEvent<AccountEvent['type'], AccountEvent['data']>[], from: AccountState = account.initialState()): AccountState => events.reduce(evolve, from);

describe('account laws (fast-check)', () => {
  it('evolve is deterministic, and the balance never goes negative', () => {
    fc.assert(
      fc.property(commands, (list) => {
        const events = eventsOf(list);
        expect(fold(events)).toEqual(fold(events));
        let state = account.initialState();
        for (const e of events) {
          state = evolve(state, e);
          expect(state.balance).toBeGreaterThanOrEqual(0);
        }
      }),
      { seed: 17, numRuns: 300 },
    );
  });

  it("AggregateSpec.laws holds for the account over generated histories, and catches an evolve that breaks them", () => {
    fc.assert(
      fc.property(commands, (list) => AggregateSpec.for(account).laws(asNew(eventsOf(list)))),
      { seed: 19, numRuns: 200 },
    );
    let calls = 0;
    const flaky = defineAggregate({ ...account, evolve: (s: AccountState, e: RecordedEvent<AccountEvent['type'], AccountEvent['data']>) => ({ ...evolve(s, e), balance: evolve(s, e).balance + calls++ }) });
    expect(() => AggregateSpec.for(flaky).laws(asNew(eventsOf([{ type: 'deposit', amount: 5 }])))).toThrow(/not deterministic/);
    const lossy = defineAggregate({ ...account, snapshot: { every: 5, toJSON: (s: AccountState) => ({ ...s, balance: 0 }), fromJSON: (j: unknown) => j as AccountState } });
    expect(() => AggregateSpec.for(lossy).laws(asNew(eventsOf([{ type: 'deposit', amount: 5 }])))).toThrow(/snapshot after event/);
  });

  it('snapshot + tail ≡ full replay, for every split point, the snapshot taken through JSON', () => {
    fc.assert(
      fc.property(commands, fc.nat(), (list, at) => {
        const events = eventsOf(list);
        const k = at % (events.length + 1);
        const snapshot = JSON.parse(JSON.stringify(fold(events.slice(0, k)))) as AccountState;
        expect(fold(events.slice(k), snapshot)).toEqual(fold(events));
      }),
      { seed: 18, numRuns: 300 },
    );
  });
});

describe('handle on a cluster', () => {
  it("throws the aggregate's own errors unchanged, retries conflicts when asked, reports them otherwise", async () => {
    const cluster = await createTestCluster({ seed: 41, brokers: 3 });
    const one = createEventStore(cluster, { clientId: 'one' });
    const two = createEventStore(cluster, { clientId: 'two' });
    await cluster.settle(one.handle(account, 'x', { type: 'open', owner: 'x' }));
    const refused = await cluster.settle(one.handle(account, 'x', { type: 'withdraw', amount: 1 })).catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(InsufficientFundsError);
    // Twenty deposits racing from two stores: with retries all land, each exactly once.
    await cluster.settle(Promise.all(Array.from({ length: 10 }, (_, i) => [one.handle(account, 'x', { type: 'deposit', amount: 1 }, { retryOnConflict: 20 }), two.handle(account, 'x', { type: 'deposit', amount: 100 + i }, { retryOnConflict: 20 })]).flat()));
    const loaded = await cluster.settle(one.aggregateStream(account, 'x'));
    expect(loaded.version).toBe(21n);
    expect(loaded.state.balance).toBe(10 + [...Array(10).keys()].reduce((a, i) => a + 100 + i, 0));
    // Without retries, a race is reported.
    const raced = await cluster.settle(Promise.allSettled([one.handle(account, 'x', { type: 'deposit', amount: 1 }), two.handle(account, 'x', { type: 'deposit', amount: 1 })]));
    expect(raced.filter((r) => r.status === 'rejected').every((r) => (r as PromiseRejectedResult).reason instanceof WrongExpectedVersionError)).toBe(true);
    // A caller's expected version that no longer holds fails before deciding.
    await expect(cluster.settle(one.handle(account, 'x', { type: 'deposit', amount: 1 }, { expectedVersion: 3n }))).rejects.toMatchObject({ expected: 3n });
    await cluster.settle(Promise.all([one.close(), two.close()]));
  });

  it('loads from a snapshot only when its schema version and evolve fingerprint match', async () => {
    const cluster = await createTestCluster({ seed: 42, brokers: 3 });
    const store = createEventStore(cluster);
    await cluster.settle(store.handle(account, 's', { type: 'open', owner: 's' }));
    for (let i = 0; i < 11; i++) await cluster.settle(store.handle(account, 's', { type: 'deposit', amount: 1 }));
    const warm = await cluster.settle(store.aggregateStream(account, 's'));
    expect(warm).toMatchObject({ version: 12n, snapshotVersion: 10n, replayed: 2, state: { balance: 11 } });
    // The same decider with another evolve (changed without a version bump): the snapshot is not trusted.
    const changed = defineAggregate({ ...account, evolve: (s: AccountState, e: RecordedEvent<AccountEvent['type'], AccountEvent['data']>) => evolve(s, e) });
    expect(changed.fingerprint).not.toBe(account.fingerprint);
    expect(await cluster.settle(store.aggregateStream(changed, 's'))).toMatchObject({ version: 12n, snapshotVersion: 0n, replayed: 12, state: { balance: 11 } });
    // A bumped snapshot schema version discards it too.
    const bumped = defineAggregate({ ...account, snapshot: { every: 5, schemaVersion: 2 } });
    expect(await cluster.settle(store.aggregateStream(bumped, 's'))).toMatchObject({ snapshotVersion: 0n, replayed: 12 });
    await cluster.settle(store.close());
  });

  it('builds typed upcaster chains: each step sees the shape of the one before', () => {
    const chain = upcastChain<{ cents: number }>()
      .to((d) => ({ amount: d.cents / 100 }))
      .to((d) => ({ amount: d.amount, currency: 'EUR' }));
    expect(Object.keys(chain)).toEqual(['1', '2']);
    expect(chain[2]?.(chain[1]?.({ cents: 250 }))).toEqual({ amount: 2.5, currency: 'EUR' });
    // @ts-expect-error: version 1 has no `amount`
    upcastChain<{ cents: number }>().to((d) => d.amount);
    expect(() => upcastChain(0)).toThrow(/schema version/);
  });

  it('upcasts old event shapes on every read path: aggregate loads, readStream and subscriptions', async () => {
    const cluster = await createTestCluster({ seed: 43, brokers: 3 });
    const store = createEventStore(cluster, { upcasters: { MoneyDeposited: { 1: (d) => ({ amount: (d as { cents: number }).cents / 100 }) } } });
    await cluster.settle(store.handle(account, 'u', { type: 'open', owner: 'u' }));
    await cluster.settle(store.append('account-u', [{ type: 'MoneyDeposited', data: { cents: 250 }, schemaVersion: 1 }], { expectedVersion: 1n }));
    const read = await cluster.settle(store.readStream('account-u'));
    expect(read.events[1]).toMatchObject({ type: 'MoneyDeposited', data: { amount: 2.5 }, schemaVersion: 2 });
    expect((await cluster.settle(store.aggregateStream(account, 'u'))).state.balance).toBe(2.5);
    const seen = await cluster.settle(firstValueFrom(store.subscribe({ category: 'account', types: ['MoneyDeposited'] }).pipe(filter((m) => m.kind === 'event'), take(1))));
    expect(seen).toMatchObject({ event: { data: { amount: 2.5 }, schemaVersion: 2 } });
    // The aggregate's own upcasters work on a store without any.
    const plain = createEventStore(cluster, { clientId: 'plain' });
    expect((await cluster.settle(plain.aggregateStream(account, 'u'))).state.balance).toBe(2.5);
    await cluster.settle(Promise.all([store.close(), plain.close()]));
  });
});
