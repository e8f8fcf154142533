/**
 * The event store on a simulated 3-broker cluster: conditional appends checked in the partition
 * leader, reads by version from the key index, idempotent retries by event id, multi-stream
 * transactions, and bad input refused with typed errors.
 */
import { describe, expect, it } from 'vitest';
import { firstValueFrom } from 'rxjs';
import { filter, take, toArray } from 'rxjs/operators';
import { InvalidArgumentError, WrongExpectedVersionError } from '../../src/errors.ts';
import { ANY, createEventStore, NO_STREAM, STREAM_EXISTS } from '../../src/eventsourcing/index.ts';
import type { EventStore, SubscriptionMessage } from '../../src/eventsourcing/index.ts';
import { consoleLogger } from '../../src/logger.ts';
import { createTestCluster } from '../../src/testing.ts';
import type { TestCluster } from '../../src/testing.ts';

async function setup(seed: number): Promise<{ cluster: TestCluster; store: EventStore }> {
  const cluster = await createTestCluster({ seed, brokers: 3 });
  const store = createEventStore(cluster, { partitions: 3, replicationFactor: 3, minInsyncReplicas: 2 });
  return { cluster, store };
}

const opened = (owner: string) => ({ type: 'AccountOpened', data: { owner } });
const deposited = (amount: number) => ({ type: 'MoneyDeposited', data: { amount } });

describe('event store', () => {
  it('appends with expected versions checked in the leader, and reads streams by version', async () => {
    const { cluster, store } = await setup(1);
    const first = await cluster.settle(store.append('account-1', [opened('ann'), deposited(10)], { expectedVersion: NO_STREAM }));
    expect(first.nextExpectedVersion).toBe(2n);
    expect(first.position.topic).toBe('account.events');
    const second = await cluster.settle(store.append('account-1', [deposited(5)], { expectedVersion: 2n }));
    expect(second.nextExpectedVersion).toBe(3n);
    const stale = await cluster.settle(store.append('account-1', [deposited(1)], { expectedVersion: 2n })).catch((e: unknown) => e);
    expect(stale).toBeInstanceOf(WrongExpectedVersionError);
    expect(stale).toMatchObject({ streamId: 'account-1', expected: 2n, actual: 3n });
    await expect(cluster.settle(store.append('account-1', [deposited(1)], { expectedVersion: NO_STREAM }))).rejects.toMatchObject({ actual: 3n });
    await expect(cluster.settle(store.append('account-9', [deposited(1)], { expectedVersion: STREAM_EXISTS }))).rejects.toBeInstanceOf(WrongExpectedVersionError);
    expect((await cluster.settle(store.append('account-1', [deposited(7)], { expectedVersion: ANY }))).nextExpectedVersion).toBe(4n);

    const all = await cluster.settle(store.readStream('account-1'));
    expect(all.currentVersion).toBe(4n);
    expect(all.events.map((e) => [e.type, e.streamVersion, e.data])).toEqual([
      ['AccountOpened', 1n, { owner: 'ann' }],
      ['MoneyDeposited', 2n, { amount: 10 }],
      ['MoneyDeposited', 3n, { amount: 5 }],
      ['MoneyDeposited', 4n, { amount: 7 }],
    ]);
    expect((await cluster.settle(store.readStream('account-1', { from: 2n, maxCount: 2 }))).events.map((e) => e.streamVersion)).toEqual([2n, 3n]);
    expect((await cluster.settle(store.readStream('account-1', { direction: 'backwards', maxCount: 3 }))).events.map((e) => e.streamVersion)).toEqual([4n, 3n, 2n]);
    expect(await cluster.settle(store.readStream('account-404'))).toEqual({ events: [], currentVersion: 0n, streamExists: false });
    expect(await cluster.settle(store.readStream('nobody-1'))).toMatchObject({ currentVersion: 0n, streamExists: false });
    await cluster.settle(store.close());
  });

  it('lets exactly one of two racing writers win', async () => {
    const { cluster, store } = await setup(2);
    const other = createEventStore(cluster, { partitions: 3, replicationFactor: 3, clientId: 'other' });
    await cluster.settle(store.append('account-7', [opened('bo')], { expectedVersion: NO_STREAM }));
    for (let round = 1n; round <= 5n; round++) {
      const results = await cluster.settle(Promise.allSettled([store.append('account-7', [deposited(1)], { expectedVersion: round }), other.append('account-7', [deposited(2)], { expectedVersion: round })]));
      expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
      const lost = results.find((r) => r.status === 'rejected') as PromiseRejectedResult;
      expect(lost.reason).toMatchObject({ actual: round + 1n });
    }
    expect((await cluster.settle(store.readStream('account-7'))).currentVersion).toBe(6n);
    await cluster.settle(Promise.all([store.close(), other.close()]));
  });

  it('a refused append leaves the producer going: later batches in flight take its sequences, no epoch bump', async () => {
    const warnings: string[] = [];
    const cluster = await createTestCluster({ seed: 8, brokers: 3, logger: consoleLogger({ level: 'warn', write: (e) => warnings.push(e.message) }) });
    const store = createEventStore(cluster, { partitions: 1, replicationFactor: 3 });
    await cluster.settle(store.append('account-1', [opened('a')], { expectedVersion: NO_STREAM }));
    // Five appends to one partition at once (separate batches in flight); the first is stale.
    const results = await cluster.settle(Promise.allSettled([store.append('account-1', [deposited(1)], { expectedVersion: 0n }), ...[2, 3, 4, 5].map((i) => store.append(`account-${i}`, [opened(String(i))], { expectedVersion: NO_STREAM }))]));
    expect(results.map((r) => r.status)).toEqual(['rejected', 'fulfilled', 'fulfilled', 'fulfilled', 'fulfilled']);
    for (const i of [2, 3, 4, 5]) expect((await cluster.settle(store.readStream(`account-${i}`))).currentVersion).toBe(1n);
    expect(warnings.filter((w) => /epoch|unknown/.test(w))).toEqual([]);
    await cluster.settle(store.close());
  });

  it('batches conditional appends together; a refused one fails alone and the others are sent again without it', async () => {
    const cluster = await createTestCluster({ seed: 9, brokers: 3 });
    await cluster.settle(cluster.admin().createTopic('k.events', { partitions: 1, replicationFactor: 3, config: { 'key.version.index.enable': true } }));
    const producer = cluster.producer({ clientId: 'raw' });
    const enc = new TextEncoder();
    const append = (key: string, expected: 'no-stream' | bigint) => producer.send('k.events', [{ key: enc.encode(key), value: enc.encode('x'), headers: { 'samsa.expected-version': typeof expected === 'bigint' ? expected.toString() : expected } }], { atomic: true });
    await cluster.settle(append('s1', 'no-stream'));
    const sizes: number[] = [];
    cluster.network.observe((e) => {
      if (e.type === 'delivered' && e.message.type === 'produce.request') for (const p of e.message.partitions as Array<{ records: Uint8Array }>) sizes.push(p.records.length);
    });
    const results = await cluster.settle(Promise.allSettled([append('s1', 0n), append('s2', 'no-stream'), append('s3', 5n), append('s4', 'no-stream')]));
    expect(results.map((r) => r.status)).toEqual(['rejected', 'fulfilled', 'rejected', 'fulfilled']);
    expect((results[0] as PromiseRejectedResult).reason).toMatchObject({ code: 'WRONG_EXPECTED_VERSION', message: expect.stringContaining('"s1"') });
    expect((results[2] as PromiseRejectedResult).reason).toMatchObject({ message: expect.stringContaining('"s3"') });
    // One request carried all four appends; the second, the two that held.
    expect(sizes.length).toBe(2);
    const admin = cluster.admin();
    for (const [key, version] of [['s1', 1n], ['s2', 1n], ['s3', 0n], ['s4', 1n]] as const) expect((await cluster.settle(admin.readKey('k.events', enc.encode(key), { maxCount: 0 }))).version).toBe(version);
    await cluster.settle(producer.close());
  });

  it('answers a retried append (same event ids) with its first result, without writing it twice', async () => {
    const { cluster, store } = await setup(3);
    const events = [
      { ...opened('cy'), eventId: 'e-1' },
      { ...deposited(3), eventId: 'e-2' },
    ];
    const first = await cluster.settle(store.append('account-3', events, { expectedVersion: NO_STREAM }));
    // A client that crashed before it saw the answer sends the same append again (from another store).
    const restarted = createEventStore(cluster, { clientId: 'restarted' });
    const again = await cluster.settle(restarted.append('account-3', events, { expectedVersion: NO_STREAM }));
    expect(again).toEqual(first);
    const read = await cluster.settle(store.readStream('account-3'));
    expect(read.currentVersion).toBe(2n);
    expect(read.events.map((e) => e.eventId)).toEqual(['e-1', 'e-2']);
    await cluster.settle(Promise.all([store.close(), restarted.close()]));
  });

  it('commits a multi-stream transaction whole, or nothing of it when one condition fails', async () => {
    const { cluster, store } = await setup(4);
    await cluster.settle(store.append('account-a', [opened('a'), deposited(100)], { expectedVersion: NO_STREAM }));
    await cluster.settle(store.append('account-b', [opened('b')], { expectedVersion: NO_STREAM }));
    await cluster.settle(
      store.transaction(async (tx) => {
        await tx.append('account-a', [{ type: 'MoneyWithdrawn', data: { amount: 40 } }], { expectedVersion: 2n });
        await tx.append('account-b', [deposited(40)], { expectedVersion: 1n });
      }),
    );
    expect((await cluster.settle(store.readStream('account-a'))).currentVersion).toBe(3n);
    expect((await cluster.settle(store.readStream('account-b'))).currentVersion).toBe(2n);
    const failed = await cluster
      .settle(
        store.transaction(async (tx) => {
          await tx.append('account-a', [{ type: 'MoneyWithdrawn', data: { amount: 10 } }], { expectedVersion: 3n });
          await tx.append('account-b', [deposited(10)], { expectedVersion: 1n }); // stale: b is at 2
        }),
      )
      .catch((e: unknown) => e);
    expect(failed).toBeInstanceOf(WrongExpectedVersionError);
    // Neither stream moved: a's withdrawal was aborted with the transaction.
    expect((await cluster.settle(store.readStream('account-a'))).currentVersion).toBe(3n);
    expect((await cluster.settle(store.readStream('account-b'))).currentVersion).toBe(2n);
    expect((await cluster.settle(store.append('account-a', [deposited(1)], { expectedVersion: 3n }))).nextExpectedVersion).toBe(4n);
    await cluster.settle(store.close());
  });

  it('streams a category as an Observable, read_committed, with a caught-up signal', async () => {
    const { cluster, store } = await setup(5);
    await cluster.settle(store.append('account-1', [opened('a')], { expectedVersion: NO_STREAM }));
    await cluster.settle(store.append('account-2', [opened('b'), deposited(2)], { expectedVersion: NO_STREAM }));
    await cluster.settle(store.transaction(async (tx) => {
      await tx.append('account-3', [opened('c')], { expectedVersion: NO_STREAM });
      throw new Error('changed my mind');
    })).catch(() => undefined);
    const seen = cluster.settle(firstValueFrom(store.subscribe({ category: 'account' }).pipe(take(4), toArray())));
    const messages: SubscriptionMessage[] = await seen;
    const events = messages.flatMap((m) => (m.kind === 'event' ? [m.event] : []));
    expect(events.map((e) => `${e.streamId}@${e.streamVersion}:${e.type}`).sort()).toEqual(['account-1@1:AccountOpened', 'account-2@1:AccountOpened', 'account-2@2:MoneyDeposited']);
    expect(messages.at(-1)).toEqual({ kind: 'caughtUp' });
    const deposits = await cluster.settle(firstValueFrom(store.subscribe({ category: 'account', types: ['MoneyDeposited'] }).pipe(filter((m) => m.kind === 'event'), take(1))));
    expect(deposits).toMatchObject({ event: { type: 'MoneyDeposited', data: { amount: 2 } } });
    await cluster.settle(store.close());
  });

  it('refuses bad input with typed errors, writing nothing', async () => {
    const { cluster, store } = await setup(6);
    await expect(cluster.settle(store.append('no_dash', [opened('x')]))).rejects.toBeInstanceOf(InvalidArgumentError);
    await expect(cluster.settle(store.append('account-', [opened('x')]))).rejects.toThrow(/<type>-<id>/);
    await expect(cluster.settle(store.append('account-1', []))).rejects.toThrow(/non-empty array/);
    await expect(cluster.settle(store.append('account-1', [{ type: '', data: 1 }]))).rejects.toThrow(/type/);
    await expect(cluster.settle(store.append('account-1', [opened('x')], { expectedVersion: -1n }))).rejects.toThrow(/expectedVersion/);
    await expect(cluster.settle(store.append('account-1', [{ type: 'Cyclic', data: (() => { const o: Record<string, unknown> = {}; o.self = o; return o; })() }]))).rejects.toThrow(/cannot serialize/);
    expect((await cluster.settle(store.readStream('account-1'))).currentVersion).toBe(0n);
    await cluster.settle(cluster.admin().createTopic('plain.events', { partitions: 1 }));
    await expect(cluster.settle(store.append('plain-1', [opened('x')]))).rejects.toThrow(/key.version.index.enable/);
    await expect(cluster.settle(firstValueFrom(store.subscribe({ category: 'bad-category' })))).rejects.toBeInstanceOf(InvalidArgumentError);
    await cluster.settle(store.close());
    await expect(store.readStream('account-1')).rejects.toThrow(/closed/);
    await expect(store.transaction(async () => undefined)).rejects.toThrow(/closed/);
  });
});
