/**
 * The reference for samsa's projections: Emmett's asynchronous PostgreSQL projection (a devDependency,
 * loaded here only) catching up on events that are already in its event store, into one Pongo document
 * per customer. Each round runs in a database of its own, created on the server of `connectionString`
 * and dropped at the end of the round. The appends are not timed; the projection is, from the start of
 * the consumer until it has applied the last event. The documents are then checked against sums
 * computed here: a wrong figure throws rather than being reported. A package that cannot be loaded or
 * a server that cannot be reached is reported as skipped, with the reason.
 */
import type { Event } from '@event-driven-io/emmett';
import type * as EmmettPostgreSQL from '@event-driven-io/emmett-postgresql';
import type { PostgresEventStore } from '@event-driven-io/emmett-postgresql';
import type * as Pongo from '@event-driven-io/pongo';
import type { Client as PgClient } from 'pg';

/** Emmett's projection rounds: seconds per reported round, or why it was skipped. */
export interface EmmettProjectionResult {
  readonly name: string;
  readonly seconds: number[];
  readonly events: number;
  readonly skipped?: string;
}

type OrderPlaced = Event<'OrderPlaced', { customer: string; total: number }>;
type CustomerTotals = { orders: number; total: number };

interface Modules {
  readonly emmett: typeof EmmettPostgreSQL;
  readonly pongo: typeof Pongo;
  readonly pg: { readonly Client: typeof PgClient };
}

const NAME = 'Emmett PostgreSQL async projection (pongoMultiStreamProjection, postgreSQLProjector on postgreSQLEventStoreConsumer)';
const COLLECTION = 'customer_totals';
const STREAMS = 1000;
/**
 * Events per appendToStream call (setup only). The appends run one at a time: Emmett 0.42's consumer
 * reads in transaction-id order but resumes from the last global position it saw, so events appended
 * by concurrent transactions can be delivered twice or skipped (the sums check catches it).
 */
const APPEND_BATCH = 500;
/** Events the consumer reads per pull (Emmett's default is 100), and no pause between full pulls (default 50 ms). */
const PULL_BATCH = 500;
const PULL_PAUSE_MS = 0;
/** The projection is abandoned (and the run fails) when it applies nothing for this long. */
const STALL_MS = 60_000;

const reason = (e: unknown): string => (e instanceof Error ? e.message : String(e));

/** A failure to set a round up (the server refused a connection or a database): reported as skipped. */
class SetupError extends Error {}

function databaseUrl(connectionString: string, database: string): string {
  const url = new URL(connectionString);
  url.pathname = `/${database}`;
  return url.toString();
}

async function withAdmin<T>(m: Modules, connectionString: string, run: (client: PgClient) => Promise<T>): Promise<T> {
  const client = new m.pg.Client({ connectionString });
  try {
    await client.connect();
  } catch (e) {
    await client.end().catch(() => undefined);
    throw new SetupError(`cannot connect to ${connectionString}: ${reason(e)}`);
  }
  try {
    return await run(client);
  } finally {
    await client.end();
  }
}

/** Appends the round's events, a stream's events in batches, one append at a time; returns the expected documents. */
async function append(store: PostgresEventStore, run: string, events: number, customers: number): Promise<Map<string, CustomerTotals>> {
  const expected = new Map<string, CustomerTotals>();
  const streams: OrderPlaced[][] = Array.from({ length: Math.min(STREAMS, events) }, () => []);
  for (let i = 0; i < events; i++) {
    const customer = `c${i % customers}`;
    const total = 1 + (i % 50);
    streams[i % STREAMS]!.push({ type: 'OrderPlaced', data: { customer, total } });
    const sums = expected.get(customer) ?? { orders: 0, total: 0 };
    expected.set(customer, { orders: sums.orders + 1, total: sums.total + total });
  }
  for (const [s, stream] of streams.entries()) {
    for (let from = 0; from < stream.length; from += APPEND_BATCH) {
      await store.appendToStream(`order-${run}-${s}`, stream.slice(from, from + APPEND_BATCH), {
        expectedStreamVersion: from === 0 ? 'STREAM_DOES_NOT_EXIST' : BigInt(from),
      });
    }
  }
  return expected;
}

/** Runs the projection over every event from the beginning, until it has applied `events` of them; returns its seconds. */
async function project(m: Modules, url: string, events: number): Promise<number> {
  const { postgreSQLEventStoreConsumer, postgreSQLProjector, pongoMultiStreamProjection } = m.emmett;
  const projection = pongoMultiStreamProjection<CustomerTotals, OrderPlaced>({
    collectionName: COLLECTION,
    canHandle: ['OrderPlaced'],
    getDocumentId: (event) => event.data.customer,
    initialState: () => ({ orders: 0, total: 0 }),
    evolve: (document: CustomerTotals, { data }: { data: OrderPlaced['data'] }) => ({ orders: document.orders + 1, total: document.total + data.total }),
  });
  let applied = 0;
  const consumer = postgreSQLEventStoreConsumer<OrderPlaced>({
    connectionString: url,
    pulling: { batchSize: PULL_BATCH, pullingFrequencyInMs: PULL_PAUSE_MS },
    processors: [
      postgreSQLProjector<OrderPlaced>({
        projection,
        startFrom: 'BEGINNING',
        // Counted after the event's document and checkpoint are written, in the batch's transaction.
        stopAfter: () => ++applied >= events,
      }),
    ],
  });
  let stalled = false;
  let seen = -1;
  let quietSince = process.hrtime.bigint();
  const watchdog = setInterval(() => {
    const now = process.hrtime.bigint();
    if (applied !== seen) {
      seen = applied;
      quietSince = now;
    } else if (Number(now - quietSince) / 1e6 > STALL_MS && !stalled) {
      stalled = true;
      void consumer.stop();
    }
  }, 1000);
  try {
    const started = process.hrtime.bigint();
    await consumer.start();
    const seconds = Number(process.hrtime.bigint() - started) / 1e9;
    if (stalled) throw new Error(`Emmett's projection applied nothing for ${STALL_MS / 1000} s (stopped after ${applied} of ${events} events)`);
    if (applied !== events) throw new Error(`Emmett's consumer stopped after ${applied} of ${events} events (it swallows a processor's error and stops)`);
    return seconds;
  } finally {
    clearInterval(watchdog);
    await consumer.close();
  }
}

/** Reads the projected documents and throws unless they are exactly the expected ones. */
async function verify(m: Modules, url: string, expected: Map<string, CustomerTotals>): Promise<void> {
  const client = m.pongo.pongoClient(url);
  try {
    const documents = await client.db().collection<CustomerTotals>(COLLECTION).find();
    if (documents.length !== expected.size) throw new Error(`Emmett's projection wrote ${documents.length} documents, expected ${expected.size}`);
    for (const document of documents) {
      const want = expected.get(document._id);
      if (!want || document.orders !== want.orders || document.total !== want.total) {
        throw new Error(`Emmett's projection is wrong for ${document._id}: ${JSON.stringify({ orders: document.orders, total: document.total })}, expected ${JSON.stringify(want ?? null)}`);
      }
    }
  } finally {
    await client.close();
  }
}

async function round(m: Modules, connectionString: string, n: number, events: number, customers: number): Promise<number> {
  const database = `emmett_proj_${process.pid}_${n}`;
  let url: string;
  try {
    url = databaseUrl(connectionString, database);
  } catch (e) {
    throw new SetupError(`cannot derive a database URL from ${connectionString}: ${reason(e)}`);
  }
  await withAdmin(m, connectionString, async (admin) => {
    try {
      await admin.query(`DROP DATABASE IF EXISTS ${database} WITH (FORCE)`);
      await admin.query(`CREATE DATABASE ${database}`);
    } catch (e) {
      throw new SetupError(`cannot create database ${database}: ${reason(e)}`);
    }
  });
  try {
    const store = m.emmett.getPostgreSQLEventStore(url);
    let expected: Map<string, CustomerTotals>;
    try {
      expected = await append(store, `${process.pid}-${n}`, events, customers);
    } finally {
      await store.close();
    }
    const seconds = await project(m, url, events);
    await verify(m, url, expected);
    return seconds;
  } finally {
    await withAdmin(m, connectionString, (admin) => admin.query(`DROP DATABASE IF EXISTS ${database} WITH (FORCE)`));
  }
}

/**
 * rounds+1 rounds (the first is a warm-up, not reported): in each, a fresh schema/database state,
 * append `events` events of type 'OrderPlaced' with data { customer: string, total: number }
 * (customer = `c${i % customers}`, total = 1 + (i % 50)) spread over 1000 order streams `order-<run>-<i % 1000>`,
 * appended in batches (untimed), THEN time only how long Emmett's asynchronous PostgreSQL projection
 * (a consumer/processor reading the events from the start) takes to apply ALL of them into one
 * document (or row) per customer holding { orders: count, total: sum }, and verify at the end that
 * the sums are right (throw if not: the benchmark must not report a wrong run).
 */
export async function emmettProjectionRounds(options: { connectionString: string; events: number; customers: number; rounds: number }): Promise<EmmettProjectionResult> {
  const { connectionString, events, customers, rounds } = options;
  if (!(events > 0) || !(customers > 0)) throw new Error('events and customers must be positive');
  let m: Modules;
  try {
    const [emmett, pongo, pg] = await Promise.all([import('@event-driven-io/emmett-postgresql'), import('@event-driven-io/pongo'), import('pg')]);
    m = { emmett, pongo, pg: pg.default };
  } catch (e) {
    return { name: NAME, seconds: [], events, skipped: `cannot load Emmett: ${reason(e)}` };
  }
  const seconds: number[] = [];
  try {
    for (let n = 0; n <= rounds; n++) {
      const s = await round(m, connectionString, n, events, customers);
      if (n > 0) seconds.push(s);
    }
  } catch (e) {
    if (e instanceof SetupError) return { name: NAME, seconds: [], events, skipped: e.message };
    throw e;
  }
  return { name: NAME, seconds, events };
}
