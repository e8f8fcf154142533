/**
 * GlobalKTable (Kafka's `builder.globalTable`): its description, KStream–GlobalKTable joins on the
 * TopologyTestDriver, and on a simulated cluster a global table read whole (every partition) by
 * a stream of another partition count, loaded before any record is processed, kept up to date
 * after start, kept on disk with a checkpoint; and clear errors for what cannot run.
 */
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { SerdeError, TopologyError } from '../../src/errors.ts';
import { consoleLogger } from '../../src/logger.ts';
import { createStreamsApp } from '../../src/streams/app.ts';
import { dslStep, StreamsBuilder } from '../../src/streams/builder.ts';
import type { DslStep } from '../../src/streams/builder.ts';
import type { GlobalKTable } from '../../src/streams/globalTable.ts';
import { globalJoin } from '../../src/streams/joins/globalJoin.ts';
import { process, toTopic } from '../../src/streams/operators.ts';
import type { StreamRecord } from '../../src/streams/record.ts';
import { json, string } from '../../src/streams/serdes.ts';
import type { ReadOnlyKeyValueStore } from '../../src/streams/stores/keyValueStore.ts';
import { TopologyTestDriver } from '../../src/streams/testDriver.ts';
import { createTestCluster } from '../../src/testing.ts';
import type { TestCluster } from '../../src/testing.ts';

interface Customer {
  readonly name: string;
}
interface Order {
  readonly customerId: string;
  readonly amount: number;
}
interface Enriched {
  readonly amount: number;
  readonly customer: string | null;
}

/** The KStream–GlobalKTable join as a DSL step, over globalJoin (the joins module's own steps are not there yet). */
function joinGlobal<K, V, GK, GV, R>(table: GlobalKTable<GK, GV>, keyMapper: (key: K, value: V) => GK | null, joiner: (value: V, tableValue: GV | null, key: K) => R, kind: 'inner' | 'left'): DslStep<StreamRecord<K, V>, StreamRecord<K, R>> {
  return dslStep(kind === 'inner' ? 'join' : 'leftJoin', (state) => globalJoin(state, table as GlobalKTable<unknown, unknown>, keyMapper as (key: unknown, value: unknown) => unknown, joiner as (value: unknown, tableValue: unknown, key: unknown) => unknown, kind));
}

/** Orders enriched with their customer's name from a global table of customers. */
function enrichment(kind: 'inner' | 'left', options: { store?: string } = {}) {
  const builder = new StreamsBuilder();
  const customers = builder.globalTable('customers', { key: string(), value: json<Customer>(), ...options });
  builder
    .stream('orders', { key: string(), value: json<Order>() })
    .pipe(
      joinGlobal(customers, (_key: string, order: Order) => order.customerId, (order: Order, customer: Customer | null): Enriched => ({ amount: order.amount, customer: customer?.name ?? null }), kind),
      toTopic('enriched', { key: string(), value: json<Enriched>() }),
    );
  return { topology: builder.build(), store: customers.queryableStoreName };
}

describe('GlobalKTable: topology', () => {
  it('describes the global store as a sub-topology that generates no tasks, as Kafka prints it', () => {
    const { topology, store } = enrichment('inner');
    expect(store).toBe('customers-STATE-STORE-0000000000');
    expect(topology.describe()).toBe(
      [
        'Topologies:',
        '   Sub-topology: 0',
        '    Source: KSTREAM-SOURCE-0000000003 (topics: [orders])',
        '      --> KSTREAM-JOIN-0000000004',
        '    Processor: KSTREAM-JOIN-0000000004 (stores: [])',
        '      --> KSTREAM-SINK-0000000005',
        '      <-- KSTREAM-SOURCE-0000000003',
        '    Sink: KSTREAM-SINK-0000000005 (topic: enriched)',
        '      <-- KSTREAM-JOIN-0000000004',
        '',
        '   Sub-topology: 1 for global store (will not generate tasks)',
        '    Source: KSTREAM-SOURCE-0000000001 (topics: [customers])',
        '      --> KTABLE-SOURCE-0000000002',
        '    Processor: KTABLE-SOURCE-0000000002 (stores: [customers-STATE-STORE-0000000000])',
        '      --> none',
        '      <-- KSTREAM-SOURCE-0000000001',
        '',
      ].join('\n'),
    );
    // No task reads the global topic, and no task owns the global store.
    expect(topology.sourceTopics).toEqual(['orders']);
    expect(topology.subtopologies.map((s) => s.stores)).toEqual([[]]);
    expect([...topology.stores.keys()]).toEqual([]);
    expect(topology.globalStores.get(store)).toMatchObject({ topic: 'customers', sourceName: 'KSTREAM-SOURCE-0000000001', processorName: 'KTABLE-SOURCE-0000000002', spec: { name: store, logged: false } });
  });

  it('refuses what cannot run, naming the fix', () => {
    expect(() => new StreamsBuilder().globalTable('')).toThrow(/globalTable\(\) needs a topic name/);
    const twice = new StreamsBuilder();
    twice.globalTable('customers');
    expect(() => twice.globalTable('customers')).toThrow(/topic "customers" is already read by the global table of store "customers-STATE-STORE-0000000000".*reuse that GlobalKTable/);
    const clash = new StreamsBuilder();
    clash.table('accounts', { store: 'people' });
    expect(() => clash.globalTable('customers', { store: 'people' })).toThrow(/the store name "people" is used twice.*\{ store: '<another name>' \}/);
    const later = new StreamsBuilder();
    later.globalTable('customers', { store: 'people' });
    expect(() => later.addStateStore('people')).toThrow(/the store name "people" is used twice/);
    // A topic feeds one source: a stream and a global table of the same topic do not build.
    const both = new StreamsBuilder();
    both.globalTable('customers');
    both.stream('customers').pipe(toTopic('out'));
    expect(() => both.build()).toThrow(TopologyError);
    const bothAgain = new StreamsBuilder();
    bothAgain.globalTable('customers');
    bothAgain.stream('customers').pipe(toTopic('out'));
    expect(() => bothAgain.build()).toThrow(/topic "customers" is read by source KSTREAM-SOURCE-\d+ and by the global table of store "customers-STATE-STORE-\d+"/);
    // A join takes a global table of its own builder.
    const other = new StreamsBuilder().globalTable('customers');
    expect(() => new StreamsBuilder().stream('orders').pipe(joinGlobal(other, (k) => k, (v) => v, 'inner'))).toThrow(/same StreamsBuilder/);
  });
});

describe('GlobalKTable on the TopologyTestDriver', () => {
  it('inner join: a stream record finds the row its mapper picks; a missing row or a null mapped key drops it', () => {
    const { topology, store } = enrichment('inner');
    const driver = new TopologyTestDriver(topology);
    const customers = driver.createInputTopic('customers', string(), json<Customer>());
    const orders = driver.createInputTopic('orders', string(), json<Order>());
    const out = driver.createOutputTopic('enriched', string(), json<Enriched>());
    customers.pipeInput('c1', { name: 'Ada' });
    customers.pipeInput('c2', { name: 'Bob' });
    expect(driver.getKeyValueStore<string, Customer>(store).get('c1')).toEqual({ name: 'Ada' });
    orders.pipeInput('o1', { customerId: 'c1', amount: 5 });
    orders.pipeInput('o2', { customerId: 'nobody', amount: 6 });
    orders.pipeInput('o3', { customerId: 'c2', amount: 7 });
    expect(out.readKeyValuesToList()).toEqual([
      { key: 'o1', value: { amount: 5, customer: 'Ada' } },
      { key: 'o3', value: { amount: 7, customer: 'Bob' } },
    ]);
    // An update is seen by the records piped after it; a table update alone emits nothing.
    customers.pipeInput('c1', { name: 'Ada L.' });
    expect(out.isEmpty()).toBe(true);
    orders.pipeInput('o4', { customerId: 'c1', amount: 8 });
    customers.pipeInput('c2', null);
    orders.pipeInput('o5', { customerId: 'c2', amount: 9 });
    expect(out.readKeyValuesToList()).toEqual([{ key: 'o4', value: { amount: 8, customer: 'Ada L.' } }]);
    expect(driver.getKeyValueStore<string, Customer>(store).get('c2')).toBeUndefined();
    // A null key in the global topic is skipped, as Kafka's table source does.
    customers.pipeInput(null, { name: 'Nobody' });
    expect(driver.getKeyValueStore(store).approximateNumEntries()).toBe(1);
    expect(() => driver.createInputTopic('nope', string(), string())).toThrow(/sources: orders, customers/);
    driver.close();
  });

  it('left join: a stream record without a row joins with null; a null-valued stream record is dropped', () => {
    const { topology } = enrichment('left', { store: 'customer-store' });
    const driver = new TopologyTestDriver(topology);
    const customers = driver.createInputTopic('customers', string(), json<Customer>());
    const orders = driver.createInputTopic('orders', string(), json<Order>());
    const out = driver.createOutputTopic('enriched', string(), json<Enriched>());
    orders.pipeInput('o1', { customerId: 'c1', amount: 1 });
    customers.pipeInput('c1', { name: 'Ada' });
    orders.pipeInput('o2', { customerId: 'c1', amount: 2 });
    orders.pipeInput('o3', null);
    customers.pipeInput('c1', null);
    orders.pipeInput('o4', { customerId: 'c1', amount: 4 });
    expect(out.readKeyValuesToList()).toEqual([
      { key: 'o1', value: { amount: 1, customer: null } },
      { key: 'o2', value: { amount: 2, customer: 'Ada' } },
      { key: 'o4', value: { amount: 4, customer: null } },
    ]);
    expect(driver.droppedRecords).toBe(1);
    expect(driver.getKeyValueStore('customer-store').all()).toEqual([]);
    driver.close();
  });

  it('gives Processor API nodes a read-only view of the global store', () => {
    const builder = new StreamsBuilder();
    builder.globalTable('rates', { key: string(), value: json<number>(), store: 'rates' });
    builder
      .stream('prices', { key: string(), value: json<number>() })
      .pipe(
        process<string, number, string, number>(
          () => {
            let rates: ReadOnlyKeyValueStore<string, number>;
            let forward: (r: StreamRecord<string, number>) => void;
            return {
              init(ctx) {
                rates = ctx.getStateStore('rates');
                forward = (r) => ctx.forward(r);
                expect('put' in rates).toBe(false);
              },
              process(r) {
                forward({ ...r, value: r.value * (rates.get(r.key) ?? 0) });
              },
            };
          },
          { stores: ['rates'] },
        ),
        toTopic('converted', { key: string(), value: json<number>() }),
      );
    const driver = new TopologyTestDriver(builder.build());
    driver.createInputTopic('rates', string(), json<number>()).pipeInput('EUR', 2);
    driver.createInputTopic('prices', string(), json<number>()).pipeInput('EUR', 21);
    expect(driver.createOutputTopic('converted', string(), json<number>()).readValuesToList()).toEqual([42]);
    driver.close();
  });
});

const enc = new TextEncoder();

async function sendCustomers(cluster: TestCluster, customers: ReadonlyArray<readonly [string, string | null]>): Promise<void> {
  const producer = cluster.producer();
  await cluster.settle(producer.send('customers', customers.map(([id, name]) => ({ key: id, value: name === null ? null : enc.encode(JSON.stringify({ name })) }))));
  await cluster.settle(producer.close());
}

async function sendOrders(cluster: TestCluster, orders: ReadonlyArray<readonly [string, string]>): Promise<void> {
  const producer = cluster.producer();
  await cluster.settle(producer.send('orders', orders.map(([id, customerId]) => ({ key: id, value: enc.encode(JSON.stringify({ customerId, amount: 1 })) }))));
  await cluster.settle(producer.close());
}

/** Every committed record of `enriched`, by order id. */
async function readEnriched(cluster: TestCluster, partitions: number): Promise<Map<string, Enriched>> {
  const consumer = cluster.consumer({ isolationLevel: 'read_committed', autoOffsetReset: 'earliest', enableAutoCommit: false });
  consumer.assign(Array.from({ length: partitions }, (_, partition) => ({ topic: 'enriched', partition })));
  const out = new Map<string, Enriched>();
  for (let idle = 0; idle < 5; ) {
    const batch = await cluster.settle(consumer.poll({ timeoutMs: 200 }));
    if (batch.length === 0) idle++;
    for (const r of batch) out.set(new TextDecoder().decode(r.key as Uint8Array), JSON.parse(new TextDecoder().decode(r.value as Uint8Array)) as Enriched);
  }
  await cluster.settle(consumer.close());
  return out;
}

const customerIds = Array.from({ length: 40 }, (_, i) => `c${i}`);

describe('GlobalKTable on a cluster', () => {
  it('loads every partition before processing, so a left join emits no null for a row written before start, and sees later updates', async () => {
    const cluster = await createTestCluster({ seed: 31, brokers: 3 });
    const admin = cluster.admin();
    await cluster.settle(admin.createTopic('customers', { partitions: 2, replicationFactor: 3 }));
    await cluster.settle(admin.createTopic('orders', { partitions: 3, replicationFactor: 3 }));
    await cluster.settle(admin.createTopic('enriched', { partitions: 3, replicationFactor: 3 }));
    await sendCustomers(cluster, customerIds.map((id) => [id, `name-${id}`]));
    await sendOrders(cluster, Array.from({ length: 120 }, (_, i) => [`o${i}`, `c${i % 40}`]));
    // The table is spread over both partitions of its topic.
    expect((await cluster.settle(admin.listOffsets('customers', 'latest'))).map((o) => o.offset > 0n)).toEqual([true, true]);
    const { topology, store } = enrichment('left');
    const app = createStreamsApp(topology, cluster, { applicationId: 'enrich', processingGuarantee: 'exactly_once_v2', replicationFactor: 3 });
    expect(app.store(store).approximateNumEntries()).toBe(0);
    await cluster.settle(app.start());
    // start() returns once the table is loaded: whole (both partitions), before any task exists.
    expect(app.store<string, Customer>(store).approximateNumEntries()).toBe(40);
    expect(app.metrics.tasks).toEqual([]);
    await cluster.runUntil(() => app.metrics.processed === 120, { maxSimulatedMs: 120_000 });
    // Tasks follow the stream topic only: 3 partitions, so 3 tasks, each joining rows of both global partitions.
    expect(app.metrics.tasks).toEqual(['0_0', '0_1', '0_2']);

    // Updates after start: a rename and a delete, seen by orders sent after them.
    await sendCustomers(cluster, [['c1', 'renamed'], ['c2', null]]);
    await cluster.runUntil(() => app.store<string, Customer>(store).get('c1')?.name === 'renamed' && app.store(store).get('c2') === undefined, { maxSimulatedMs: 60_000 });
    await sendOrders(cluster, [['late-1', 'c1'], ['late-2', 'c2'], ['late-3', 'c3']]);
    await cluster.runUntil(() => app.metrics.processed === 123, { maxSimulatedMs: 60_000 });
    expect(app.state).toBe('RUNNING');
    await cluster.settle(app.close());

    const out = await readEnriched(cluster, 3);
    expect(out.size).toBe(123);
    for (let i = 0; i < 120; i++) expect(out.get(`o${i}`)).toEqual({ amount: 1, customer: `name-c${i % 40}` });
    expect(out.get('late-1')).toEqual({ amount: 1, customer: 'renamed' });
    expect(out.get('late-2')).toEqual({ amount: 1, customer: null });
    expect(out.get('late-3')).toEqual({ amount: 1, customer: 'name-c3' });
  });

  it('reads only committed rows under exactly_once_v2: an aborted transaction never reaches the store', async () => {
    const cluster = await createTestCluster({ seed: 35, brokers: 1 });
    const admin = cluster.admin();
    await cluster.settle(admin.createTopic('customers', { partitions: 2 }));
    const producer = cluster.producer({ transactionalId: 'customers-writer' });
    await cluster.settle(producer.initTransactions());
    const row = (id: string, name: string) => ({ key: id, value: enc.encode(JSON.stringify({ name })) });
    producer.beginTransaction();
    await cluster.settle(producer.send('customers', [row('c1', 'aborted'), row('c2', 'aborted')]));
    await cluster.settle(producer.abortTransaction());
    producer.beginTransaction();
    await cluster.settle(producer.send('customers', [row('c1', 'committed')]));
    await cluster.settle(producer.commitTransaction());
    const builder = new StreamsBuilder();
    builder.globalTable('customers', { key: string(), value: json<Customer>(), store: 'customers' });
    const app = createStreamsApp(builder.build(), cluster, { applicationId: 'global-eos', processingGuarantee: 'exactly_once_v2' });
    await cluster.settle(app.start());
    expect(app.store('customers').all()).toEqual([{ key: 'c1', value: { name: 'committed' } }]);
    // After start too: a later aborted transaction stays invisible, a committed one shows.
    producer.beginTransaction();
    await cluster.settle(producer.send('customers', [row('c3', 'aborted')]));
    await cluster.settle(producer.abortTransaction());
    producer.beginTransaction();
    await cluster.settle(producer.send('customers', [row('c4', 'committed')]));
    await cluster.settle(producer.commitTransaction());
    await cluster.runUntil(() => app.store('customers').get('c4') !== undefined, { maxSimulatedMs: 60_000 });
    expect(app.store('customers').all().map((e) => e.key)).toEqual(['c1', 'c4']);
    await cluster.settle(producer.close());
    await cluster.settle(app.close());
  });

  it('keeps the global store on disk under stateDir: a restart reads only what came after its checkpoint', async () => {
    const stateDir = mkdtempSync(join(tmpdir(), 'samsa-global-'));
    try {
      const cluster = await createTestCluster({ seed: 32, brokers: 1 });
      const admin = cluster.admin();
      await cluster.settle(admin.createTopic('customers', { partitions: 2 }));
      await sendCustomers(cluster, customerIds.map((id) => [id, id]));
      // A topology of a global table only: no task, no stream thread; the app runs to serve queries.
      const topology = () => {
        const builder = new StreamsBuilder();
        builder.globalTable('customers', { key: string(), value: json<Customer>(), store: 'customers' });
        return builder.build();
      };
      const loaded: number[] = [];
      const logger = consoleLogger({ level: 'info', write: (e) => (e.message === 'global stores bootstrapped' ? loaded.push(Number(e.fields.records)) : undefined) });
      const config = { applicationId: 'global-disk', stateDir, logger };
      const first = createStreamsApp(topology(), cluster, config);
      await cluster.settle(first.start());
      expect(first.state).toBe('RUNNING');
      expect(first.localThreadsMetadata()).toEqual([]);
      expect(first.store('customers').approximateNumEntries()).toBe(40);
      await cluster.settle(first.close());
      expect(existsSync(join(stateDir, 'global-disk', 'global', '.checkpoint'))).toBe(true);

      await sendCustomers(cluster, [['c0', 'zero'], ['c40', 'forty']]);
      const second = createStreamsApp(topology(), cluster, config);
      await cluster.settle(second.start());
      expect(second.store<string, Customer>('customers').get('c0')).toEqual({ name: 'zero' });
      expect(second.store('customers').approximateNumEntries()).toBe(41);
      await cluster.settle(second.close());

      // Without a checkpoint the store on disk is of unknown age: emptied and read in full.
      rmSync(join(stateDir, 'global-disk', 'global', '.checkpoint'));
      const third = createStreamsApp(topology(), cluster, config);
      await cluster.settle(third.start());
      expect(third.store('customers').approximateNumEntries()).toBe(41);
      await cluster.settle(third.close());
      expect(loaded).toEqual([40, 2, 42]);
    } finally {
      rmSync(stateDir, { recursive: true, force: true });
    }
  });

  it('refuses to start without the global topic, before creating anything', async () => {
    const cluster = await createTestCluster({ seed: 33 });
    const admin = cluster.admin();
    await cluster.settle(admin.createTopic('orders', { partitions: 1 }));
    const builder = new StreamsBuilder();
    const customers = builder.globalTable('customers', { key: string(), value: json<Customer>() });
    builder.stream('orders', { key: string(), value: json<Order>() }).pipe(joinGlobal(customers, (_k, o: Order) => o.customerId, (o: Order) => o, 'inner'), toTopic('enriched'));
    builder.stream('orders-2').pipe(toTopic('x'));
    const app = createStreamsApp(builder.build(), cluster, { applicationId: 'no-global' });
    await expect(cluster.settle(app.start())).rejects.toThrow(/global table topic "customers" does not exist; create it before starting the app/);
    expect(app.state).toBe('ERROR');
    expect(() => app.changes(customers.queryableStoreName)).toThrow(/is a global store: it has no change feed/);
  });

  it('goes to ERROR when the global reader fails (a record that does not deserialize, logAndFail)', async () => {
    const cluster = await createTestCluster({ seed: 34 });
    const admin = cluster.admin();
    await cluster.settle(admin.createTopic('customers', { partitions: 2 }));
    await cluster.settle(admin.createTopic('orders', { partitions: 3 }));
    await sendCustomers(cluster, [['c1', 'Ada']]);
    const app = createStreamsApp(enrichment('inner').topology, cluster, { applicationId: 'bad-global' });
    await cluster.settle(app.start());
    await cluster.runUntil(() => app.state === 'RUNNING', { maxSimulatedMs: 60_000 });
    const producer = cluster.producer();
    await cluster.settle(producer.send('customers', [{ key: 'c2', value: enc.encode('{not json') }]));
    await cluster.settle(producer.close());
    await cluster.runUntil(() => app.state === 'ERROR', { maxSimulatedMs: 60_000 });
    expect(app.error).toBeInstanceOf(SerdeError);
    expect((app.error as SerdeError).topic).toBe('customers');
    await cluster.settle(app.close());
  });
});
