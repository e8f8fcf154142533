/**
 * Three controllers and three brokers, each a `samsa` process of its own, over a real NATS
 * server; producers, a consumer group, a transactional producer and a read_committed reader in
 * this process. While they run: SIGKILL of a partition leader and its restart on its data
 * directory, SIGSTOP of a leader for longer than the broker session timeout (the pause nemesis),
 * and SIGKILL of the active controller. Checked by the project's history checker: no
 * acknowledged write lost, no duplicate in the log (idempotent producers), committed offsets never
 * go backwards, no record reprocessed after its commit, read_committed never sees aborted data.
 * And the group stays live: it forms, and no rebalance through the faults stops it reading for a
 * minute (a JoinGroup left parked at a coordinator that gave its partition up once did).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { connect } from '../../src/cluster/connect.ts';
import type { Connection } from '../../src/cluster/connect.ts';
import type { Consumer } from '../../src/clients/consumer/consumer.ts';
import { consoleLogger, silentLogger } from '../../src/logger.ts';
import type { LogEntry } from '../../src/logger.ts';
import { check, History } from '../helpers/histories.ts';
import { NATS_URL, natsReachable, until } from './natsServer.ts';
import { ProcessCluster } from './processCluster.ts';
import { readBack } from './readBack.ts';

const available = await natsReachable();
const dec = new TextDecoder();
const TOPIC = 'events';
const TXN_TOPIC = 'tx';
const SESSION_TIMEOUT_MS = 3_000;

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** The active controller: the one that announced the highest epoch in its log. */
function activeController(cluster: ProcessCluster): number | undefined {
  let best: { id: number; epoch: number } | undefined;
  for (const id of cluster.controllers) {
    if (!cluster.running('controller', id)) continue;
    for (const m of cluster.output('controller', id).matchAll(/"event":"controller\.activated","controllerId":(\d+),"epoch":(\d+)/g)) {
      const epoch = Number(m[2]);
      if (best === undefined || epoch > best.epoch) best = { id: Number(m[1]), epoch };
    }
  }
  return best !== undefined && cluster.running('controller', best.id) ? best.id : undefined;
}

describe.skipIf(!available)('a cluster of processes over NATS under crashes, pauses and a controller failover', () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'samsa-nemesis-'));
  let cluster: ProcessCluster | undefined;
  let clients: Connection | undefined;
  afterAll(async () => {
    await clients?.stop().catch(() => undefined);
    await cluster?.stop();
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('loses no acknowledged write, duplicates nothing, never commits backwards nor reads aborted data', async () => {
    const prefix = `nemesis${process.pid}`;
    cluster = await ProcessCluster.start({
      natsUrl: NATS_URL,
      prefix,
      dataDir,
      logLevel: 'info',
      brokerConfig: [`broker.session.timeout.ms=${SESSION_TIMEOUT_MS}`, 'broker.heartbeat.interval.ms=300'],
      controllerConfig: [`broker.session.timeout.ms=${SESSION_TIMEOUT_MS}`],
    });
    const c = cluster;
    // The group's own account of itself, kept to be shown when the group made no progress.
    const startedAt = Date.now();
    const groupLog: Array<LogEntry & { readonly at: number }> = [];
    const logger = consoleLogger({ level: 'debug', write: (entry) => {
      if (entry.fields.groupId === undefined) return;
      groupLog.push({ ...entry, at: Date.now() - startedAt });
      if (groupLog.length > 400) groupLog.shift();
    } });
    clients = await connect({ nats: { servers: NATS_URL, subjectPrefix: prefix, logger: silentLogger }, bootstrap: [1, 2, 3], controllers: [0, 1, 2], logger });
    const admin = clients.admin({ requestTimeoutMs: 10_000 });
    await admin.createTopic(TOPIC, { partitions: 3, replicationFactor: 3, config: { 'min.insync.replicas': 2 } });
    await admin.createTopic(TXN_TOPIC, { partitions: 2, replicationFactor: 3, config: { 'min.insync.replicas': 2 } });
    const history = new History();
    const pollErrors = new Map<string, number>();
    let producing = true;
    let consuming = true;
    // The group's longest stretch without a poll that returned records, while it had records to read.
    let lastRecordsAt = Date.now();
    let longestStall = 0;

    // Two idempotent producers, acks=all: every acknowledgement is recorded.
    const produce = async (name: string): Promise<void> => {
      const producer = clients!.producer({ clientId: name, acks: 'all', idempotent: true, requestTimeoutMs: 5_000, deliveryTimeoutMs: 60_000 });
      for (let sequence = 0; producing; sequence++) {
        const key = `k${sequence % 11}`;
        const value = `${name}-${sequence}`;
        try {
          const meta = await producer.send(TOPIC, { key, value });
          history.acks.push({ producer: name, key, value, partition: meta.partition, offset: meta.offset, sequence });
        } catch {
          // Not acknowledged: it may or may not be in the log; the checker only holds acked writes to account.
        }
        await sleep(5);
      }
      await producer.close();
    };

    // A consumer group of two, committing what it processed after each poll.
    const member = async (name: string): Promise<void> => {
      let session = 0;
      const consumer: Consumer = clients!.consumer({
        clientId: name,
        groupId: 'nemesis-group',
        autoOffsetReset: 'earliest',
        enableAutoCommit: false,
        sessionTimeoutMs: 10_000,
        heartbeatIntervalMs: 1_000,
        rebalanceListener: { onPartitionsAssigned: () => void session++, onPartitionsRevoked: () => void session++, onPartitionsLost: () => void session++ },
      });
      await consumer.subscribe([TOPIC]);
      while (consuming) {
        let records;
        try {
          records = await consumer.poll({ timeoutMs: 200 });
        } catch (e) {
          // Counted, so that a group that makes no progress says why in the summary.
          const reason = `${name}: ${e instanceof Error ? e.message : String(e)}`.slice(0, 200);
          pollErrors.set(reason, (pollErrors.get(reason) ?? 0) + 1);
          await sleep(50);
          continue;
        }
        for (const r of records) history.consume({ consumer: name, session, partition: r.partition, offset: r.offset, key: dec.decode(r.key as Uint8Array), value: dec.decode(r.value as Uint8Array) });
        if (records.length === 0) {
          if (history.acks.length > history.consumed.length) longestStall = Math.max(longestStall, Date.now() - lastRecordsAt);
          continue;
        }
        lastRecordsAt = Date.now();
        const offsets = new Map<number, bigint>();
        for (const r of records) offsets.set(r.partition, r.offset + 1n);
        try {
          await consumer.commit([...offsets].map(([partition, offset]) => ({ topic: TOPIC, partition, offset })));
          for (const [partition, offset] of offsets) history.commit(name, partition, offset);
        } catch {
          // A commit that lost a rebalance or a coordinator: the records may be processed again.
        }
      }
      await consumer.close().catch(() => undefined);
    };

    // Transactions: every third one aborted; outcomes as the producer learned them.
    const committed = new Set<string>();
    const aborted = new Set<string>();
    const transact = async (): Promise<void> => {
      const open = async () => {
        const p = clients!.producer({ clientId: 'txn', transactionalId: 'nemesis-tx', requestTimeoutMs: 5_000 });
        await p.initTransactions();
        return p;
      };
      let producer = await open();
      for (let n = 0; producing; n++) {
        const values = Array.from({ length: 4 }, (_, i) => `tx${n}-${i}`);
        try {
          producer.beginTransaction();
          await producer.send(TXN_TOPIC, values.map((value, i) => ({ key: `t${i}`, value })));
          if (n % 3 === 2) {
            await producer.abortTransaction();
            for (const v of values) aborted.add(v);
          } else {
            await producer.commitTransaction();
            for (const v of values) committed.add(v);
          }
        } catch {
          // An undetermined outcome (in neither set): abort it if possible, else start over with a
          // new producer, whose initTransactions aborts whatever the old one left open.
          try {
            await producer.abortTransaction();
          } catch {
            await producer.close().catch(() => undefined);
            for (;;) {
              try {
                producer = await open();
                break;
              } catch {
                await sleep(500);
              }
            }
          }
        }
        await sleep(20);
      }
      await producer.close();
    };

    const writers = Promise.all([produce('p1'), produce('p2'), transact()]);
    const readers = Promise.all([member('m1'), member('m2')]);
    await until('the first acknowledgements', () => history.acks.length > 50, 30_000);

    // 1. SIGKILL the leader of partition 0 mid-stream, then restart it on its data directory.
    const leader0 = (await admin.describeTopic(TOPIC)).partitions.find((p) => p.partition === 0)?.leader as number;
    groupLog.push({ at: Date.now() - startedAt, level: 'info', message: `nemesis: SIGKILL broker ${leader0}`, fields: {} });
    await c.signal('broker', leader0, 'SIGKILL');
    const acksAtKill = history.acks.length;
    await until('acks=all writes after the leader was killed', () => history.acks.length > acksAtKill + 50, 60_000);
    await c.startNode('broker', leader0);

    // 2. Pause the leader of partition 1 for longer than broker.session.timeout.ms, then resume it.
    const leader1 = (await admin.describeTopic(TOPIC)).partitions.find((p) => p.partition === 1)?.leader as number;
    groupLog.push({ at: Date.now() - startedAt, level: 'info', message: `nemesis: SIGSTOP broker ${leader1}`, fields: {} });
    await c.signal('broker', leader1, 'SIGSTOP');
    await sleep(SESSION_TIMEOUT_MS * 2);
    const acksWhilePaused = history.acks.length;
    await c.signal('broker', leader1, 'SIGCONT');
    await until('writes after the paused leader resumed', () => history.acks.length > acksWhilePaused + 50, 60_000);

    // 3. SIGKILL the active controller; the quorum elects another; then restart it.
    const active = activeController(c);
    expect(active).toBeDefined();
    groupLog.push({ at: Date.now() - startedAt, level: 'info', message: `nemesis: SIGKILL controller ${active}`, fields: {} });
    await c.signal('controller', active as number, 'SIGKILL');
    await admin.createTopic('after-failover', { partitions: 1, replicationFactor: 3 });
    await c.startNode('controller', active as number);
    const acksAfterFailover = history.acks.length;
    await until('writes after the controller failover', () => history.acks.length > acksAfterFailover + 50, 60_000);

    producing = false;
    // Every send still in flight is acknowledged (or not) before the group's last reads are checked.
    await writers;
    // The group reads everything acknowledged before it stops.
    await until('the group to consume every acknowledged write', () => {
      const read = new Set(history.consumed.map((r) => `${r.partition}:${r.offset}`));
      return history.acks.every((a) => read.has(`${a.partition}:${a.offset}`));
    }, 60_000).catch(() => undefined);
    consuming = false;
    await readers;

    // The whole log, read once more from the start: every acknowledged value, none twice.
    const ends = await admin.listOffsets(TOPIC, 'latest');
    const total = ends.reduce((n, e) => n + Number(e.offset), 0);
    const inLog = await readBack(clients, TOPIC, 3, 'the log to be read back', (values) => values.length >= total);
    const duplicates = inLog.filter((v, i) => inLog.indexOf(v) !== i);

    // read_committed: no value of an aborted transaction, every committed one.
    const everyCommitted = (values: Iterable<string>): boolean => {
      const read = new Set(values);
      return [...committed].every((v) => read.has(v));
    };
    const seen = new Set(await readBack(clients, TXN_TOPIC, 2, 'every committed transaction to be read', everyCommitted, { isolationLevel: 'read_committed' }));

    const anomalies = check(history);
    const summary = `${history.acks.length} acked, ${history.consumed.length} consumed, ${history.commits.length} commits, ${inLog.length} in the log, ${committed.size} committed and ${aborted.size} aborted transactional values; poll errors: ${JSON.stringify([...pollErrors])}, longest stall of the group ${longestStall} ms`;
    console.info(`nemesis run: ${summary}`);
    if (history.consumed.length === 0 || longestStall >= 60_000) console.info(`the group's log:\n${groupLog.map((e) => `${e.at} ${e.level} ${e.message} ${JSON.stringify(e.fields, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v))}`).join('\n')}`);
    // Liveness: the group forms and keeps reading; a rebalance through the faults costs seconds
    // (initial rebalance delays, session timeouts), never max.poll.interval.ms.
    expect(history.consumed.length, summary).toBeGreaterThan(0);
    expect(longestStall, summary).toBeLessThan(60_000);
    expect(anomalies.lostWrites, summary).toEqual([]);
    expect(anomalies.unexpectedValues, summary).toEqual([]);
    expect(anomalies.inconsistentOffsets, summary).toEqual([]);
    expect(anomalies.duplicatesAfterCommit, summary).toEqual([]);
    expect(anomalies.keyOrder, summary).toEqual([]);
    expect(anomalies.nonMonotonicPolls, summary).toEqual([]);
    expect(anomalies.backwardCommits, summary).toEqual([]);
    expect(duplicates, summary).toEqual([]);
    expect([...seen].filter((v) => aborted.has(v)), summary).toEqual([]);
    expect(history.acks.length).toBeGreaterThan(300);
    expect(committed.size).toBeGreaterThan(20);
    expect(aborted.size).toBeGreaterThan(8);
    for (const id of c.brokers) expect(c.running('broker', id)).toBe(true);
  }, 300_000);
});
