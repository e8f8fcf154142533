/**
 * Stream lifecycle and personal data: soft delete (the stream reads as absent until new events
 * continue its versions), truncate-before, and crypto-shredding (a subject's events lose their
 * data on every read path once its key is shredded, while staying in order in their streams).
 */
import { describe, expect, it } from 'vitest';
import { firstValueFrom } from 'rxjs';
import { filter, take, toArray } from 'rxjs/operators';
import { InvalidArgumentError, WrongExpectedVersionError } from '../../src/errors.ts';
import { createEventStore, NO_STREAM } from '../../src/eventsourcing/index.ts';
import { createTestCluster } from '../../src/testing.ts';

const note = (text: string) => ({ type: 'Noted', data: { text } });

describe('stream lifecycle', () => {
  it('soft-deletes a stream: absent until new events continue its versions', async () => {
    const cluster = await createTestCluster({ seed: 51, brokers: 3 });
    const store = createEventStore(cluster);
    await cluster.settle(store.append('doc-1', [note('a'), note('b')], { expectedVersion: NO_STREAM }));
    await expect(cluster.settle(store.deleteStream('doc-1', { expectedVersion: 1n }))).rejects.toBeInstanceOf(WrongExpectedVersionError);
    await cluster.settle(store.deleteStream('doc-1', { expectedVersion: 2n }));
    expect(await cluster.settle(store.readStream('doc-1'))).toEqual({ events: [], currentVersion: 2n, streamExists: false });
    await cluster.settle(store.append('doc-1', [note('c')], { expectedVersion: 2n }));
    const back = await cluster.settle(store.readStream('doc-1'));
    expect(back.streamExists).toBe(true);
    expect(back.events.map((e) => [e.streamVersion, (e.data as { text: string }).text])).toEqual([[3n, 'c']]);
    await cluster.settle(store.close());
  });

  it('truncates before a version: older events are hidden from reads', async () => {
    const cluster = await createTestCluster({ seed: 52, brokers: 3 });
    const store = createEventStore(cluster);
    await cluster.settle(store.append('doc-2', ['a', 'b', 'c', 'd'].map(note), { expectedVersion: NO_STREAM }));
    await cluster.settle(store.truncateStream('doc-2', 3n));
    expect((await cluster.settle(store.readStream('doc-2'))).events.map((e) => e.streamVersion)).toEqual([3n, 4n]);
    expect((await cluster.settle(store.readStream('doc-2', { direction: 'backwards' }))).events.map((e) => e.streamVersion)).toEqual([4n, 3n]);
    expect((await cluster.settle(store.readStream('doc-2', { from: 1n, maxCount: 1 }))).events.map((e) => e.streamVersion)).toEqual([3n]);
    await expect(cluster.settle(store.truncateStream('doc-2', 0n))).rejects.toBeInstanceOf(InvalidArgumentError);
    await cluster.settle(store.close());
  });
});

describe('crypto-shredding', () => {
  it("seals a subject's data with its own key; shredding the key erases it from every read, for every store", async () => {
    const cluster = await createTestCluster({ seed: 53, brokers: 3 });
    const personalData = { subjectOf: (e: { type: string; data: unknown }) => (e.type === 'CustomerRegistered' ? (e.data as { customerId: string }).customerId : undefined) };
    const store = createEventStore(cluster, { personalData });
    const other = createEventStore(cluster, { clientId: 'other', personalData });
    await cluster.settle(store.append('customer-ann', [{ type: 'CustomerRegistered', data: { customerId: 'ann', email: 'ann@example.com' } }, { type: 'Visited', data: { page: '/' } }], { expectedVersion: NO_STREAM }));
    await cluster.settle(other.append('customer-bob', [{ type: 'CustomerRegistered', data: { customerId: 'bob', email: 'bob@example.com' } }], { expectedVersion: NO_STREAM }));
    // In the log the personal data is not readable.
    const raw = cluster.consumer({ autoOffsetReset: 'earliest', isolationLevel: 'read_committed' });
    const description = await cluster.settle(cluster.admin().describeTopic('customer.events'));
    raw.assign(description.partitions.map((p) => ({ topic: 'customer.events', partition: p.partition })));
    const logged = (await cluster.settle(raw.poll({ timeoutMs: 1_000 }))).map((r) => new TextDecoder().decode(r.value as Uint8Array)).join(' ');
    expect(logged).not.toContain('ann@example.com');
    expect(logged).toContain('"page":"/"');
    // Both stores read it while the key lives.
    expect((await cluster.settle(other.readStream('customer-ann'))).events[0]?.data).toEqual({ customerId: 'ann', email: 'ann@example.com' });
    await cluster.settle(store.shred('ann'));
    const after = await cluster.settle(other.readStream('customer-ann'));
    expect(after.events.map((e) => [e.type, e.shredded === true, e.data])).toEqual([
      ['CustomerRegistered', true, null],
      ['Visited', false, { page: '/' }],
    ]);
    expect((await cluster.settle(store.readStream('customer-bob'))).events[0]?.data).toMatchObject({ email: 'bob@example.com' });
    const seen = await cluster.settle(firstValueFrom(other.subscribe({ category: 'customer', types: ['CustomerRegistered'] }).pipe(filter((m) => m.kind === 'event'), take(2), toArray())));
    expect(seen.map((m) => (m.kind === 'event' ? [m.event.streamId, m.event.shredded === true] : [])).sort()).toEqual([
      ['customer-ann', true],
      ['customer-bob', false],
    ]);
    // A shredded subject takes no new personal data.
    await expect(cluster.settle(store.append('customer-ann', [{ type: 'CustomerRegistered', data: { customerId: 'ann', email: 'again@example.com' } }]))).rejects.toThrow(/shredded/);
    await cluster.settle(Promise.all([store.close(), other.close()]));
  });
});
