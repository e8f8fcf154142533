/**
 * The event-sourcing simulation (issue 17): three clients, each with its own event store, issue
 * `handle()` commands (deposits, withdrawals), transfers (multi-stream transactions) and raw
 * appends racing another client at the same version on four overlapping accounts of the bank example, while a seeded nemesis crashes partition leaders and
 * pairs of brokers, cuts clients off and delays the network. Afterwards every account is read
 * back (through the key index with `readStream`, and through a read_committed consumer of the
 * whole topic) and checked:
 *
 * - lost: every event of an acknowledged command is in its stream, once;
 * - duplicates: no event id appears twice in the log;
 * - versions: each stream's versions are 1..n without gap or repeat, in log order, and the index
 *   serves exactly the records the log holds for the key;
 * - sameVersion: no two acknowledged appends took the same version of a stream;
 * - invariant: no account's balance ever goes negative (the aggregate's rule held under races);
 * - transfers: both legs of a transfer are in the log, or neither.
 */
import { sleep } from '../../src/clock.ts';
import { WrongExpectedVersionError } from '../../src/errors.ts';
import { createEventStore } from '../../src/eventsourcing/index.ts';
import type { EventStore, RecordedEvent } from '../../src/eventsourcing/index.ts';
import { createRandom } from '../../src/random.ts';
import { createTestCluster } from '../../src/testing.ts';
import { brokerNode } from '../../src/transport/transport.ts';
import { newestBrokerImage } from '../helpers/cluster.ts';
import { account, InsufficientFundsError } from '../../examples/event-sourcing/account.ts';
import { transfer } from '../../examples/event-sourcing/bank.ts';

const ACCOUNTS = ['a', 'b', 'c', 'd'];
const dec = new TextDecoder();

/** What the checks found; every list empty when the run passed. */
export interface EventSourcingAnomalies {
  readonly lost: string[];
  readonly duplicates: string[];
  readonly versions: string[];
  readonly sameVersion: string[];
  readonly invariant: string[];
  readonly transfers: string[];
  readonly harness: string[];
}

/** One run's outcome. */
export interface EventSourcingSimResult {
  readonly anomalies: EventSourcingAnomalies;
  readonly summary: string;
  /** Commands by outcome. */
  readonly outcomes: Readonly<Record<string, number>>;
}

interface Outcome {
  readonly client: number;
  readonly kind: 'deposit' | 'withdraw' | 'transfer' | 'race';
  readonly result: 'ok' | 'conflict' | 'refused' | 'unknown';
  /** Acknowledged appends: stream, first version, count. */
  readonly appended: Array<{ streamId: string; first: bigint; count: number }>;
  /** Event ids the command wrote when acknowledged. */
  readonly eventIds: string[];
}

/** Runs one seeded simulation; see the module comment. */
export async function runEventSourcingSim(options: { readonly seed: number }): Promise<EventSourcingSimResult> {
  const { seed } = options;
  const cluster = await createTestCluster({ seed, brokers: 3, controllers: seed % 2 === 0 ? 3 : 1, brokerConfig: { offsetsTopicNumPartitions: 3, transactionStateLogNumPartitions: 3 } });
  const random = createRandom(seed ^ 0xe5e5);
  const harness: string[] = [];
  const faults: string[] = [];
  const phase =
    (name: string) =>
    (e: unknown): void => {
      harness.push(`${name}: ${e instanceof Error ? e.message : String(e)}`);
    };
  const partitions = 1 + random.int(3);
  const stores: EventStore[] = [0, 1, 2].map((i) => createEventStore(cluster, { partitions, replicationFactor: 3, minInsyncReplicas: 2, clientId: `c${i}` }));
  await cluster.settle(
    (async () => {
      for (const id of ACCOUNTS) await (stores[0] as EventStore).handle(account, id, { type: 'open', owner: id }, { retryOnConflict: 3 });
    })(),
    { maxSimulatedMs: 120_000 },
  ).catch(phase('open'));

  const outcomes: Outcome[] = [];
  const worker = async (client: number): Promise<void> => {
    const store = stores[client] as EventStore;
    for (let n = 0; n < 15; n++) {
      const roll = random.int(10);
      const from = ACCOUNTS[random.int(ACCOUNTS.length)] as string;
      const eventId = `c${client}-${n}`;
      try {
        if (roll === 9) {
          // Two clients append at the version one of them loaded: exactly one may win.
          const other = stores[(client + 1) % 3] as EventStore;
          const streamId = `account-${from}`;
          const { version } = await store.aggregateStream(account, from);
          const tries = await Promise.allSettled([store, other].map((s, i) => s.append(streamId, [{ type: 'MoneyDeposited', data: { amount: 1 + i }, schemaVersion: 2 }], { expectedVersion: version })));
          for (const t of tries) {
            if (t.status === 'fulfilled') outcomes.push({ client, kind: 'race', result: 'ok', appended: [{ streamId, first: version + 1n, count: 1 }], eventIds: [] });
            else outcomes.push({ client, kind: 'race', result: t.reason instanceof WrongExpectedVersionError ? 'conflict' : 'unknown', appended: [], eventIds: [] });
          }
        } else if (roll < 2) {
          const to = ACCOUNTS.filter((x) => x !== from)[random.int(ACCOUNTS.length - 1)] as string;
          const amount = 1 + random.int(80);
          await transfer(store, from, to, amount, eventId);
          outcomes.push({ client, kind: 'transfer', result: 'ok', appended: [], eventIds: [`${eventId}-out`, `${eventId}-in`] });
        } else {
          const kind = roll < 6 ? 'deposit' : 'withdraw';
          const amount = 1 + random.int(kind === 'deposit' ? 100 : 80);
          const result = await store.handle(account, from, { type: kind, amount }, { retryOnConflict: random.int(2) });
          // The events carry the command's id, so a retried append is answered once (and findable).
          const first = (result.newEvents[0] as RecordedEvent).streamVersion;
          outcomes.push({ client, kind, result: 'ok', appended: [{ streamId: `account-${from}`, first, count: result.newEvents.length }], eventIds: result.newEvents.map((e) => `${e.streamId}@${e.streamVersion}`) });
        }
      } catch (e) {
        const result = e instanceof WrongExpectedVersionError ? 'conflict' : e instanceof InsufficientFundsError ? 'refused' : 'unknown';
        outcomes.push({ client, kind: roll === 9 ? 'race' : roll < 2 ? 'transfer' : roll < 6 ? 'deposit' : 'withdraw', result, appended: [], eventIds: [] });
      }
      if (random.int(2) === 0) await sleep(cluster.clock, random.int(200));
    }
  };

  const leaderOf = (partition: number): number => newestBrokerImage(cluster)?.topics['account.events']?.partitions[partition]?.leader ?? -1;
  const nemesis = async (): Promise<void> => {
    for (let round = 0; round < 4; round++) {
      await sleep(cluster.clock, 500 + random.int(2_000));
      const kinds = ['crash-leader', 'crash-leader', 'crash-two-brokers', 'cut-client', 'delays'] as const;
      const kind = kinds[random.int(kinds.length)] as (typeof kinds)[number];
      faults.push(kind);
      switch (kind) {
        case 'crash-leader': {
          const broker = leaderOf(random.int(partitions));
          if (broker < 0) break;
          cluster.broker(broker).crash();
          await sleep(cluster.clock, 500 + random.int(3_000));
          await cluster.broker(broker).restart();
          break;
        }
        case 'crash-two-brokers': {
          const [first, second] = [...cluster.brokerIds].sort(() => random.next() - 0.5);
          cluster.broker(first as number).crash();
          cluster.broker(second as number).crash();
          await sleep(cluster.clock, 1_000 + random.int(3_000));
          await cluster.broker(first as number).restart();
          await cluster.broker(second as number).restart();
          break;
        }
        case 'cut-client': {
          const client = random.int(3);
          const nodes = [`client:c${client}-producer`, `client:c${client}-admin`, `client:c${client}-tx`] as const;
          cluster.network.partition([...nodes], cluster.brokerIds.map((id) => brokerNode(id)));
          await sleep(cluster.clock, 1_000 + random.int(6_000));
          cluster.network.heal();
          break;
        }
        case 'delays':
          cluster.network.setFaults({ delayMs: { min: 0, max: 50 + random.int(200) } });
          await sleep(cluster.clock, 2_000 + random.int(3_000));
          cluster.network.setFaults({});
          break;
      }
    }
  };
  await cluster.settle(Promise.all([worker(0), worker(1), worker(2), nemesis()]), { maxSimulatedMs: 900_000 }).catch(phase('run'));
  cluster.network.heal();
  cluster.network.setFaults({});
  for (const id of cluster.brokerIds) if (!cluster.broker(id).running) await cluster.settle(cluster.broker(id).restart()).catch(phase('restart'));

  // Read back: through the key index, and through the log as a read_committed consumer sees it.
  const reader = createEventStore(cluster, { clientId: 'checker' });
  const streams = new Map<string, RecordedEvent[]>();
  await cluster
    .settle(
      (async () => {
        for (const id of ACCOUNTS) {
          for (let attempt = 0; ; attempt++) {
            try {
              streams.set(`account-${id}`, (await reader.readStream(`account-${id}`)).events);
              break;
            } catch (e) {
              if (attempt >= 30) throw e;
              await sleep(cluster.clock, 1_000);
            }
          }
        }
      })(),
      { maxSimulatedMs: 120_000 },
    )
    .catch(phase('readStream'));
  const logged = new Map<string, Array<{ offset: bigint; version: string; eventId: string | undefined; type: string; amount: number; transferId: string | undefined }>>();
  await cluster
    .settle(
      (async () => {
        // Wait until no transaction holds the partitions' last stable offset back, then read to the end.
        const admin = cluster.admin();
        let ends = await admin.listOffsets('account.events', 'latest', { isolationLevel: 'read_committed' });
        for (let i = 0; ; i++) {
          const hw = await admin.listOffsets('account.events', 'latest');
          if (hw.every((h) => ends.find((e) => e.partition === h.partition)?.offset === h.offset)) break;
          if (i === 120) throw new Error('a transaction on account.events stayed open for 60 s');
          await sleep(cluster.clock, 500);
          ends = await admin.listOffsets('account.events', 'latest', { isolationLevel: 'read_committed' });
        }
        const consumer = cluster.consumer({ isolationLevel: 'read_committed', autoOffsetReset: 'earliest', enableAutoCommit: false });
        consumer.assign(ends.map((e) => ({ topic: 'account.events', partition: e.partition })));
        for (;;) {
          for (const r of await consumer.poll({ timeoutMs: 200 })) {
            const header = (k: string): string | undefined => {
              const h = r.headers.find((x) => x.key === k);
              return h?.value === null || h === undefined ? undefined : dec.decode(h.value);
            };
            const data = JSON.parse(dec.decode(r.value as Uint8Array)) as { amount?: number; transferId?: string };
            const key = dec.decode(r.key as Uint8Array);
            logged.set(key, [...(logged.get(key) ?? []), { offset: r.offset, version: header('samsa.stream-version') ?? '?', eventId: header('samsa.event-id'), type: header('samsa.event-type') ?? '?', amount: data.amount ?? 0, transferId: data.transferId }]);
          }
          let done = true;
          for (const e of ends) if ((await consumer.position({ topic: 'account.events', partition: e.partition })) < e.offset) done = false;
          if (done) break;
        }
        await consumer.close();
        await admin.close();
      })(),
      { maxSimulatedMs: 180_000 },
    )
    .catch(phase('read log'));
  await cluster.settle(Promise.allSettled([...stores, reader].map((s) => s.close())), { maxSimulatedMs: 60_000 }).catch(() => undefined);
  await cluster.settle(cluster.stop(), { maxSimulatedMs: 120_000 }).catch(() => undefined);

  const anomalies: EventSourcingAnomalies = { lost: [], duplicates: [], versions: [], sameVersion: [], invariant: [], transfers: [], harness };
  if (harness.length === 0) {
    const seenIds = new Map<string, number>();
    for (const [key, records] of logged) {
      records.forEach((r, i) => {
        if (r.version !== String(i + 1)) anomalies.versions.push(`${key}: record at offset ${r.offset} carries version ${r.version}, is number ${i + 1} in the log`);
        if (r.eventId !== undefined) seenIds.set(r.eventId, (seenIds.get(r.eventId) ?? 0) + 1);
      });
      const served = streams.get(key) ?? [];
      const a = served.map((e) => `${e.streamVersion}@${e.position.offset}`).join(',');
      const b = records.map((r, i) => `${i + 1}@${r.offset}`).join(',');
      if (a !== b) anomalies.versions.push(`${key}: the index serves ${a}, the log holds ${b}`);
      let balance = 0;
      for (const r of records) {
        balance += r.type === 'MoneyDeposited' ? r.amount : r.type === 'MoneyWithdrawn' ? -r.amount : 0;
        if (balance < 0) anomalies.invariant.push(`${key}: balance ${balance} after offset ${r.offset}`);
      }
    }
    for (const [id, n] of seenIds) if (n > 1) anomalies.duplicates.push(`event ${id} appears ${n} times`);
    // Acknowledged commands: their events are in their streams; no two took the same version.
    const taken = new Map<string, string>();
    for (const o of outcomes.filter((x) => x.result === 'ok')) {
      for (const ap of o.appended) {
        const have = logged.get(ap.streamId) ?? [];
        for (let v = ap.first; v < ap.first + BigInt(ap.count); v++) {
          const at = `${ap.streamId}@${v}`;
          if (taken.has(at)) anomalies.sameVersion.push(`${at} acknowledged to ${taken.get(at)} and c${o.client}`);
          taken.set(at, `c${o.client}`);
          if (have[Number(v) - 1] === undefined) anomalies.lost.push(`${at} (acknowledged to c${o.client}) is not in the log`);
        }
      }
      if (o.kind === 'transfer') for (const id of o.eventIds) if (!seenIds.has(id)) anomalies.lost.push(`transfer leg ${id} (acknowledged to c${o.client}) is not in the log`);
    }
    // Transfers: both legs or neither.
    const legs = new Map<string, Set<string>>();
    for (const records of logged.values()) for (const r of records) if (r.transferId !== undefined) legs.set(r.transferId, new Set([...(legs.get(r.transferId) ?? []), r.type]));
    for (const [id, types] of legs) if (types.size !== 2) anomalies.transfers.push(`transfer ${id} has only ${[...types].join(', ')}`);
  }
  const counts: Record<string, number> = {};
  for (const o of outcomes) counts[o.result] = (counts[o.result] ?? 0) + 1;
  const events = [...logged.values()].reduce((n, l) => n + l.length, 0);
  const summary = `[seed=${seed}] ${partitions} partitions, ${outcomes.length} commands (${Object.entries(counts).map(([k, v]) => `${v} ${k}`).join(', ')}), ${events} events in the log, ${transferCount(logged)} transfers; faults: ${faults.join(', ')}`;
  return { anomalies, summary, outcomes: counts };
}

function transferCount(logged: ReadonlyMap<string, ReadonlyArray<{ transferId: string | undefined }>>): number {
  const ids = new Set<string>();
  for (const records of logged.values()) for (const r of records) if (r.transferId !== undefined) ids.add(r.transferId);
  return ids.size;
}

/** The findings of a run, by check: empty when it passed. */
export function eventSourcingFindings(result: EventSourcingSimResult): Array<[string, string[]]> {
  return Object.entries(result.anomalies).filter(([, list]) => list.length > 0);
}
