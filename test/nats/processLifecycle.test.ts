/**
 * The life of `samsa` processes over NATS: a broker stopped with SIGTERM moves its leaderships
 * away before it exits (controlled shutdown), so writes go on without waiting out its session;
 * and a NATS server that goes away and comes back is a partition the cluster heals from, not a
 * crash: the nodes reconnect and resume, and no acknowledged write is lost.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { connect } from '../../src/cluster/connect.ts';
import type { Connection } from '../../src/cluster/connect.ts';
import { silentLogger } from '../../src/logger.ts';
import { NATS_URL, natsReachable, startNatsServer, until } from './natsServer.ts';
import type { PrivateNatsServer } from './natsServer.ts';
import { readBack } from './readBack.ts';
import { ProcessCluster } from './processCluster.ts';

const available = await natsReachable();
const SESSION_TIMEOUT_MS = 4_000;
const brokerConfig = [`broker.session.timeout.ms=${SESSION_TIMEOUT_MS}`, 'broker.heartbeat.interval.ms=300'];
const controllerConfig = [`broker.session.timeout.ms=${SESSION_TIMEOUT_MS}`];

describe.skipIf(!available)('samsa processes over NATS', () => {
  const cleanups: Array<() => Promise<void>> = [];
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup().catch(() => undefined);
  });

  async function start(natsUrl: string, name: string): Promise<{ cluster: ProcessCluster; clients: Connection }> {
    const dataDir = mkdtempSync(join(tmpdir(), `samsa-${name}-`));
    cleanups.push(async () => rmSync(dataDir, { recursive: true, force: true }));
    const prefix = `${name}${process.pid}`;
    const cluster = await ProcessCluster.start({ natsUrl, prefix, dataDir, brokerConfig, controllerConfig });
    cleanups.push(() => cluster.stop());
    const clients = await connect({ nats: { servers: natsUrl, subjectPrefix: prefix, logger: silentLogger }, bootstrap: [1, 2, 3], controllers: [0, 1, 2], logger: silentLogger });
    cleanups.push(() => clients.stop());
    return { cluster, clients };
  }

  it('SIGTERM: a controlled shutdown moves the leaderships before the broker exits 0; it restarts on its data directory', async () => {
    const { cluster, clients } = await start(NATS_URL, 'sigterm');
    const admin = clients.admin();
    await admin.createTopic('t', { partitions: 3, replicationFactor: 3, config: { 'min.insync.replicas': 2 } });
    const producer = clients.producer({ acks: 'all', requestTimeoutMs: 10_000 });
    await producer.send('t', Array.from({ length: 30 }, (_, i) => ({ key: `k${i}`, value: `a${i}` })));
    const leader = (await admin.describeTopic('t')).partitions.find((p) => p.partition === 0)?.leader as number;

    const stopping = cluster.signal('broker', leader, 'SIGTERM');
    // Writes to the partition it led go on well before its session could have expired.
    const started = performance.now();
    await producer.send('t', { value: 'during', partition: 0 });
    await stopping;
    expect(performance.now() - started).toBeLessThan(SESSION_TIMEOUT_MS);
    expect(cluster.exit('broker', leader)).toBe(0);
    const after = await admin.describeTopic('t');
    for (const p of after.partitions) expect(p.isr).not.toContain(leader);

    // The same command on the same data directory: it registers at once and catches up.
    await cluster.startNode('broker', leader);
    await until('the restarted broker to rejoin every ISR', async () => (await admin.describeTopic('t')).partitions.every((p) => p.isr.includes(leader)), 30_000);
    const values = await readBack(clients, 't', 3, 'every write to be read', (read) => read.length >= 31, { timeoutMs: 30_000 });
    expect(values.sort()).toEqual([...Array.from({ length: 30 }, (_, i) => `a${i}`), 'during'].sort());
  }, 180_000);

  it('a NATS server that goes away and comes back is a partition: the nodes reconnect and resume, nothing acknowledged is lost', async () => {
    let server: PrivateNatsServer = await startNatsServer('');
    cleanups.push(() => server.stop());
    const { clients } = await start(server.url, 'outage');
    const admin = clients.admin({ requestTimeoutMs: 10_000 });
    await admin.createTopic('t', { partitions: 2, replicationFactor: 3, config: { 'min.insync.replicas': 2 } });
    const producer = clients.producer({ acks: 'all', requestTimeoutMs: 5_000 });
    const acked: string[] = [];
    let producing = true;
    const loop = (async () => {
      for (let i = 0; producing; i++) {
        await producer.send('t', { key: `k${i % 5}`, value: `v${i}` }).then(
          () => acked.push(`v${i}`),
          () => undefined,
        );
        await new Promise((r) => setTimeout(r, 10));
      }
    })();
    await until('writes before the outage', () => acked.length > 20, 30_000);
    await server.stop();
    await new Promise((r) => setTimeout(r, 2_000));
    const beforeReturn = acked.length;
    server = await startNatsServer('', server.port);
    const returned = performance.now();
    await until('writes after NATS came back', () => acked.length > beforeReturn + 20, 60_000);
    // Resumed without waiting out request timeouts (replica.socket.timeout.ms is 30 s).
    expect(performance.now() - returned).toBeLessThan(20_000);
    producing = false;
    await loop;
    await readBack(clients, 't', 2, 'every acknowledged write to be read', (values) => {
      const read = new Set(values);
      return acked.every((v) => read.has(v));
    });
  }, 180_000);
});
