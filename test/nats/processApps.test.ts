/**
 * Apps in processes of their own against a cluster of processes (3 controllers, 3 brokers, each a
 * `samsa` command over NATS): a streams app (./apps/wordCount.ts) and a projection
 * (./apps/projection.ts) keep their output exactly once while input flows on through broker
 * SIGKILLs and restarts on the same data directories, and through a SIGKILL of the app process
 * itself and a new one in its place.
 *
 * Each test prints a summary: which brokers died (and what they led), how far behind the app was
 * when it was killed, and how much aborted output read_committed skipped. With SAMSA_APP_LOG_DIR
 * the apps' logs are kept (see ./apps/appProcess.ts).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect } from '../../src/cluster/connect.ts';
import type { Connection } from '../../src/cluster/connect.ts';
import { WrongExpectedVersionError } from '../../src/errors.ts';
import { createEventStore } from '../../src/eventsourcing/index.ts';
import type { EventPosition, EventStore } from '../../src/eventsourcing/index.ts';
import { silentLogger } from '../../src/logger.ts';
import { openView, sqliteTarget } from '../../src/projections/index.ts';
import { int32 } from '../../src/streams/serdes.ts';
import type { Admin } from '../../src/clients/admin.ts';
import { OFFSETS_TOPIC, offsetsPartitionFor } from '../../src/actors/groupCoordinator/offsetsTopic.ts';
import { TRANSACTION_STATE_TOPIC, transactionStatePartitionFor } from '../../src/transactions/transactionLog.ts';
import { AppProcess, reapAll } from './apps/appProcess.ts';
import type { AppMessage } from './apps/appProcess.ts';
import { ledgerOf } from './apps/ledger.ts';
import type { Account } from './apps/ledger.ts';
import { NATS_URL, natsReachable, until } from './natsServer.ts';
import { readBack } from './readBack.ts';
import { ProcessCluster } from './processCluster.ts';

const available = await natsReachable();
const dec = new TextDecoder();

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** The broker leading `topic`'s `partition` (once it has one). */
async function leaderOf(admin: Admin, topic: string, partition: number): Promise<number> {
  let leader = -1;
  await until(`a leader of ${topic}-${partition}`, async () => {
    leader = (await admin.describeTopic(topic)).partitions.find((p) => p.partition === partition)?.leader ?? -1;
    return leader >= 0;
  }, 30_000);
  return leader;
}

/** The partitions of `topics` that `broker` leads, as `topic-partition`. */
async function leadership(admin: Admin, topics: readonly string[], broker: number): Promise<string[]> {
  const led: string[] = [];
  for (const t of topics) for (const p of (await admin.describeTopic(t)).partitions) if (p.leader === broker) led.push(`${t}-${p.partition}`);
  return led;
}

/** Resolves once `broker` (killed) is out of every ISR of `topics` and leads none of their partitions: the controller fenced it and moved its leaderships. */
async function failedOver(admin: Admin, topics: readonly string[], broker: number): Promise<void> {
  await until(`broker ${broker}'s partitions of ${topics.join(', ')} failing over`, async () => {
    for (const t of topics) if ((await admin.describeTopic(t)).partitions.some((p) => p.leader === broker || p.isr.includes(broker))) return false;
    return true;
  }, 60_000);
}

/** Resolves once every partition of `topics` has all its replicas in sync again (a restarted broker caught up). */
async function fullIsr(admin: Admin, topics: readonly string[]): Promise<void> {
  await until(`every replica of ${topics.join(', ')} in sync`, async () => {
    for (const t of topics) if ((await admin.describeTopic(t)).partitions.some((p) => p.isr.length < p.replicas.length)) return false;
    return true;
  }, 60_000);
}

/** `work` running on while the test does other things: its failure surfaces where it is awaited, never as an unhandled rejection. */
function background<T>(work: Promise<T>): Promise<T> {
  work.catch(() => undefined);
  return work;
}

/** Whether `values` is exactly 1, 2, …, n. */
function isOneToN(values: readonly number[], n: number): boolean {
  return values.length === n && values.every((v, i) => v === i + 1);
}

/** Events of a test with their times since it began, for its summary and failure messages. */
function timeline(): { mark: (text: string) => void; text: () => string } {
  const start = performance.now();
  const marks: string[] = [];
  return { mark: (text) => marks.push(`+${((performance.now() - start) / 1000).toFixed(1)}s ${text}`), text: () => marks.join('\n') };
}

describe.skipIf(!available)('apps in their own processes against a process cluster over NATS', () => {
  const prefix = `apps${process.pid}`;
  let dataDir: string;
  let cluster: ProcessCluster | undefined;
  let conn: Connection | undefined;

  beforeAll(async () => {
    dataDir = mkdtempSync(join(tmpdir(), 'samsa-apps-'));
    cluster = await ProcessCluster.start({
      natsUrl: NATS_URL,
      prefix,
      dataDir: join(dataDir, 'cluster'),
      brokerConfig: ['broker.session.timeout.ms=3000', 'broker.heartbeat.interval.ms=300'],
      controllerConfig: ['broker.session.timeout.ms=3000'],
      readyTimeoutMs: 90_000,
    });
    conn = await connect({ nats: { servers: NATS_URL, subjectPrefix: prefix, logger: silentLogger }, bootstrap: [1, 2, 3], controllers: [0, 1, 2], logger: silentLogger });
  }, 180_000);

  afterAll(async () => {
    await reapAll();
    await conn?.stop().catch(() => undefined);
    await cluster?.stop();
    rmSync(dataDir, { recursive: true, force: true });
  }, 60_000);

  /** Restarts every broker that is down (a test that failed halfway leaves the next one a whole cluster). */
  async function wholeCluster(): Promise<void> {
    for (const id of cluster?.brokers ?? []) if (cluster?.running('broker', id) === false) await cluster.startNode('broker', id);
  }

  it('a streams app (per-key count, exactly_once_v2) outputs every count once through broker SIGKILLs and its own SIGKILL', async () => {
    await wholeCluster();
    const c = conn as Connection;
    const pc = cluster as ProcessCluster;
    const admin = c.admin();
    const producer = c.producer({ acks: 'all', idempotent: true });
    const input = 'wc-input';
    const output = 'wc-output';
    for (const t of [input, output]) await admin.createTopic(t, { partitions: 3, replicationFactor: 3, config: { 'min.insync.replicas': 2 } });
    const appId = `wc-${process.pid}`;
    // Transactions of half a second (Kafka Streams' default under exactly-once is 100 ms): each
    // crash is likely to find one open with output already sent.
    const appArgs = ['--nats', NATS_URL, '--prefix', prefix, '--app', appId, '--input', input, '--output', output, '--commit-interval-ms', '500'];
    const running = (m: AppMessage): boolean => m.type === 'state' && m.state === 'RUNNING';
    const { mark, text } = timeline();
    let app = AppProcess.spawn('wordCount#1', 'wordCount.ts', appArgs);
    try {
      await app.waitFor(running, 120_000);
      mark('app #1 running');

      const KEYS = 12;
      const sent = new Map<string, number>();
      let seq = 0;
      /** Produces `count` records in batches of 10, one batch at a time, 20 ms apart: input flowing while the test kills. */
      const feed = async (count: number): Promise<void> => {
        for (let n = 0; n < count; n += 10) {
          const records = Array.from({ length: 10 }, () => {
            const i = seq++;
            return { key: `k${i % KEYS}`, value: `v${i}` };
          });
          await producer.send(input, records);
          for (const r of records) sent.set(r.key, (sent.get(r.key) ?? 0) + 1);
          await sleep(20);
        }
      };
      /** Resolves once `a` reported input offsets committed up to the input's end. */
      const caughtUp = async (a: AppProcess, what: string): Promise<void> => {
        const end = await admin.listOffsets(input, 'latest');
        await until(`${what} committing every input offset (${end.map((e) => `${input}-${e.partition}@${e.offset}`).join(', ')})`, () => {
          const offsets = (a.last('committed')?.offsets ?? []) as Array<{ topic: string; partition: number; offset: string }>;
          return end.every((e) => offsets.some((o) => o.topic === input && o.partition === e.partition && BigInt(o.offset) >= e.offset));
        }, 90_000);
      };
      /** Kills `victim` while input flows, waits for its partitions of `topics` to fail over, restarts it and waits for it to be in sync. */
      const crashBroker = async (victim: number, role: string, topics: readonly string[]): Promise<void> => {
        const flowing = background(feed(300));
        await sleep(300);
        mark(`SIGKILL broker ${victim} (${role}; leads ${(await leadership(admin, [input, output], victim)).join(', ') || 'nothing'} of the app's topics)`);
        await pc.signal('broker', victim, 'SIGKILL');
        await failedOver(admin, topics, victim);
        mark(`broker ${victim}'s partitions failed over`);
        await pc.startNode('broker', victim);
        mark(`broker ${victim} restarted`);
        await flowing;
        await fullIsr(admin, [input, output]);
        mark(`broker ${victim} back in every ISR; ${seq} records produced`);
      };

      await feed(200);
      // The broker of the app's transaction coordinator dies with input flowing, …
      const txnVictim = await leaderOf(admin, TRANSACTION_STATE_TOPIC, transactionStatePartitionFor(`${appId}-${appId}-instance`, 50));
      await crashBroker(txnVictim, 'transaction coordinator', [input, output, TRANSACTION_STATE_TOPIC]);
      // …then the broker of its group coordinator (if that was the same: another one leading an output partition).
      let victim = await leaderOf(admin, OFFSETS_TOPIC, offsetsPartitionFor(appId, 50));
      let role = 'group coordinator';
      for (let p = 0; victim === txnVictim && p < 3; p++) [victim, role] = [await leaderOf(admin, output, p), 'output leader'];
      if (victim === txnVictim) [victim, role] = [pc.brokers.find((b) => b !== txnVictim) as number, 'a follower'];
      await crashBroker(victim, role, [input, output, OFFSETS_TOPIC]);
      // The app got through both: it has committed every input so far.
      await caughtUp(app, 'app #1 after the broker crashes');
      mark('app #1 committed every input so far');

      // The app process dies while it processes (input flowing: a transaction open), and a new one takes over.
      const flowing = background(feed(400));
      const before = app.messages.length;
      await app.waitFor((m) => m.type === 'committed', 60_000, before);
      await sleep(300);
      const uncommitted = seq - Number(app.last('committed')?.processed ?? 0);
      await app.kill('SIGKILL');
      mark(`SIGKILL app #1 (${uncommitted} of ${seq} records produced not reported committed)`);
      await sleep(500);
      app = AppProcess.spawn('wordCount#2', 'wordCount.ts', appArgs);
      await app.waitFor(running, 120_000);
      mark('app #2 running');
      await flowing;
      await feed(100);

      // Every input record is committed as processed…
      await caughtUp(app, 'app #2');
      mark(`app #2 committed all ${seq} inputs`);

      // …and the output, read committed up to its last stable offset, holds 1..n per key exactly.
      const stable = await admin.listOffsets(output, 'latest', { isolationLevel: 'read_committed' });
      const reader = c.consumer({ isolationLevel: 'read_committed', autoOffsetReset: 'earliest' });
      reader.assign([0, 1, 2].map((partition) => ({ topic: output, partition })));
      const outputs = new Map<string, number[]>();
      const int = int32();
      await until('reading the output to its last stable offset', async () => {
        for (const r of await reader.poll({ timeoutMs: 200 })) {
          const key = dec.decode(r.key as Uint8Array);
          outputs.set(key, [...(outputs.get(key) ?? []), int.deserialize(r.value as Uint8Array, output)]);
        }
        for (const s of stable) if ((await reader.position({ topic: output, partition: s.partition })) < s.offset) return false;
        return true;
      }, 60_000);
      await reader.close();
      const committedOutputs = [...outputs.values()].reduce((sum, v) => sum + v.length, 0);
      // Output of the transactions the crashes aborted: in the log, never read committed.
      const everything = c.consumer({ isolationLevel: 'read_uncommitted', autoOffsetReset: 'earliest' });
      everything.assign([0, 1, 2].map((partition) => ({ topic: output, partition })));
      let uncommittedOutputs = 0;
      await until('reading the output uncommitted', async () => {
        uncommittedOutputs += (await everything.poll({ timeoutMs: 200 })).length;
        for (const s of stable) if ((await everything.position({ topic: output, partition: s.partition })) < s.offset) return false;
        return true;
      }, 60_000);
      await everything.close();

      // Each input record was written once (the idempotent producer through the failovers).
      const inputValues = await readBack(c, input, 3, 'reading the input back', (values) => values.length >= seq);
      expect(inputValues.length).toBe(seq);
      expect(new Set(inputValues).size).toBe(seq);

      expect([...outputs.keys()].sort()).toEqual([...sent.keys()].sort());
      for (const [key, n] of sent) {
        const values = outputs.get(key) ?? [];
        if (!isOneToN(values, n)) throw new Error(`key ${key}: expected the counts 1..${n} once each, got [${values.join(', ')}]`);
      }
      expect(committedOutputs).toBe(seq);
      await app.kill('SIGTERM');
      expect(app.exit).toBe(0);
      mark(`app #2 stopped by SIGTERM; ${committedOutputs} outputs committed, ${uncommittedOutputs - committedOutputs} records of aborted transactions skipped by read_committed`);
      console.info(`streams app over NATS:\n${text()}`);
    } catch (e) {
      throw new Error(`${e instanceof Error ? e.message : String(e)}\n${text()}\n${app.log()}`, { cause: e });
    } finally {
      await app.kill('SIGKILL');
      await producer.close();
      await admin.close();
    }
  }, 240_000);

  it.each([
    { target: 'sqlite' as const, category: 'account' },
    { target: 'store' as const, category: 'wallet' },
  ])('a projection into $target applies every event once through a broker SIGKILL and its own SIGKILL', async ({ target, category }) => {
    await wholeCluster();
    const c = conn as Connection;
    const pc = cluster as ProcessCluster;
    const admin = c.admin();
    const topic = `${category}.events`;
    const db = join(dataDir, `${category}.db`);
    const store: EventStore = createEventStore(c, { partitions: 3, replicationFactor: 3, minInsyncReplicas: 2, clientId: `es-${category}-${process.pid}` });
    const projArgs = ['--nats', NATS_URL, '--prefix', prefix, '--category', category, '--target', target, ...(target === 'sqlite' ? ['--db', db] : [])];
    const { mark, text } = timeline();
    let app = AppProcess.spawn(`${target}Projection#1`, 'projection.ts', projArgs);
    try {
      // The category's topic exists (RF=3) before any broker dies.
      await store.createCategory(category);
      await app.waitFor((m) => m.type === 'status' && m.status === 'running', 120_000);
      mark('projection #1 running');

      const STREAMS = 8;
      const versions = new Map<string, bigint>();
      let retries = 0;
      /** One deposit: appended at the version known, again after a failure unless the failed attempt landed. */
      const deposit = async (id: string, amount: number): Promise<void> => {
        const expected = versions.get(id) ?? 0n;
        for (let attempt = 0; ; attempt++) {
          try {
            await store.append(id, [{ type: 'Deposited', data: { amount } }], { expectedVersion: expected });
            versions.set(id, expected + 1n);
            return;
          } catch (e) {
            if (e instanceof WrongExpectedVersionError && e.actual === expected + 1n && attempt > 0) {
              versions.set(id, expected + 1n);
              return;
            }
            if (attempt >= 5) throw e;
            retries++;
            await sleep(500);
          }
        }
      };
      let rounds = 0;
      /** `count` rounds of one deposit per stream, 50 ms apart: events flowing while the test kills. */
      const feed = async (count: number): Promise<void> => {
        for (let i = 0; i < count; i++) {
          const r = rounds++;
          await Promise.all(Array.from({ length: STREAMS }, (_, a) => deposit(`${category}-${a}`, ((r * 7 + a) % 13) + 1)));
          await sleep(50);
        }
      };

      await feed(3);
      // The store target's internal topics (its changelogs) are replicated three times
      // (runProjection's replicationFactor): a broker's loss takes none of them offline.
      const internal = (await admin.listTopics()).filter((t) => t.startsWith(`samsa-projection-ledger_${category}`));
      for (const t of internal) {
        const partitions = (await admin.describeTopic(t)).partitions;
        mark(`internal topic ${t}: ${partitions.map((p) => `p${p.partition} replicas [${p.replicas.join(',')}] leader ${p.leader}`).join('; ')}`);
        for (const p of partitions) expect(p.replicas).toHaveLength(3);
      }
      // The leader of the events' partition 0.
      const victim = await leaderOf(admin, topic, 0);
      let flowing = background(feed(6));
      await sleep(200);
      mark(`SIGKILL broker ${victim} (leads ${(await leadership(admin, [topic], victim)).join(', ')})`);
      await pc.signal('broker', victim, 'SIGKILL');
      await failedOver(admin, [topic], victim);
      mark(`broker ${victim}'s partitions failed over`);
      await pc.startNode('broker', victim);
      mark(`broker ${victim} restarted`);
      await flowing;
      await fullIsr(admin, [topic]);
      mark(`broker ${victim} back in every ISR; ${rounds} rounds appended`);

      // The projection process dies while it applies (events flowing), and a new one takes over.
      flowing = background(feed(8));
      await app.waitFor((m) => m.type === 'applied', 60_000, app.messages.length);
      await app.kill('SIGKILL');
      mark(`SIGKILL projection #1 (${rounds} rounds appended)`);
      await sleep(500);
      app = AppProcess.spawn(`${target}Projection#2`, 'projection.ts', projArgs);
      await app.waitFor((m) => m.type === 'status' && m.status === 'running', 120_000);
      mark('projection #2 running');
      await flowing;
      await feed(2);

      // What the committed events imply: per stream, the sum of its deposits and its versions 1..n.
      const expected: Record<string, Account> = {};
      const last: EventPosition[] = [];
      for (let a = 0; a < STREAMS; a++) {
        const id = `${category}-${a}`;
        const read = await store.readStream(id);
        expect(read.currentVersion).toBe(versions.get(id));
        expected[id] = { balance: read.events.reduce((sum, e) => sum + (e.data as { amount: number }).amount, 0), versions: read.events.map((e) => Number(e.streamVersion)) };
        const position = read.events.at(-1)?.position;
        if (position !== undefined) last.push(position);
      }
      // The model as the projection process answers it once it applied the last event of every stream.
      const asked = app.messages.length;
      app.send({ waitFor: last });
      const model = (await app.waitFor((m) => m.type === 'documents' || m.type === 'queryFailed', 150_000, asked)).documents as Record<string, Account> | undefined;
      mark(`projection #2 applied all ${rounds * STREAMS} events`);
      expect(model).toEqual(expected);
      for (const account of Object.values(model ?? {})) expect(isOneToN(account.versions, rounds)).toBe(true);
      expect(app.messages.filter((m) => m.type === 'projectionError')).toEqual([]);
      await app.kill('SIGTERM');
      expect(app.exit).toBe(0);
      if (target === 'sqlite') {
        // The file holds the same model after the process is gone, for any reader.
        const view = await openView(ledgerOf(category), sqliteTarget(db));
        try {
          await view.waitFor(last, { timeoutMs: 10_000 });
          expect(Object.fromEntries((await view.range()).map((e) => [e.key, e.value]))).toEqual(expected);
        } finally {
          await view.close();
        }
      }
      mark(`projection #2 stopped by SIGTERM; ${retries} appends retried`);
      console.info(`projection into ${target} over NATS:\n${text()}`);
    } catch (e) {
      throw new Error(`${e instanceof Error ? e.message : String(e)}\n${text()}\n${app.log()}`, { cause: e });
    } finally {
      await app.kill('SIGKILL');
      await store.close();
      await admin.close();
    }
  }, 240_000);
});
