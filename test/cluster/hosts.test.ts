/**
 * Node hosts: controllers and brokers started one by one with startController/startBroker on one
 * simulated network, and clients from connect() — the pieces createCluster is made of, used as
 * separate processes would use them. Deterministic: a SimulatedClock and a seeded manual network,
 * every message carried as bytes through the message codec (a run fails on any it refuses).
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as nodePath from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { SimulatedClock } from '../../src/clock.ts';
import { ClosedError, InconsistentDataDirectoryError, InvalidArgumentError, LogDirectoryLockedError, TimeoutError } from '../../src/errors.ts';
import { silentLogger } from '../../src/logger.ts';
import { createRandom } from '../../src/random.ts';
import { SimulatedNetwork } from '../../src/transport/simulatedNetwork.ts';
import { messageCodec } from '../../src/transport/codec.ts';
import { connect } from '../../src/cluster/connect.ts';
import type { Connection } from '../../src/cluster/connect.ts';
import { startBroker } from '../../src/cluster/startBroker.ts';
import type { BrokerNode } from '../../src/cluster/startBroker.ts';
import { startController } from '../../src/cluster/startController.ts';
import type { ControllerNode } from '../../src/cluster/startController.ts';

const dec = new TextDecoder();

/** One simulated "data centre": a clock, a manual network, and a driver for both. */
class Sim {
  readonly clock = new SimulatedClock(1_700_000_000_000);
  readonly network: SimulatedNetwork;
  readonly trace: string[] = [];

  constructor(readonly seed: number) {
    this.network = new SimulatedNetwork({ clock: this.clock, random: createRandom(seed), manual: true, codec: messageCodec });
    this.network.observe((e) => this.trace.push(`${this.clock.now()} ${e.type} ${e.from}>${e.to}:${e.message.type}`));
  }

  /** Delivers messages and fires timers, advancing simulated time, until `done()` holds. */
  async runUntil(done: () => boolean, maxSimulatedMs = 300_000): Promise<void> {
    const deadline = this.clock.now() + maxSimulatedMs;
    for (;;) {
      await new Promise((resolve) => setImmediate(resolve));
      const refused = this.network.codecFailures[0];
      if (refused !== undefined) throw refused;
      if (done()) return;
      if (this.network.deliverDue(100_000) > 0) continue;
      this.clock.advance(0);
      await new Promise((resolve) => setImmediate(resolve));
      if (done()) return;
      const next = Math.min(this.network.nextDeliveryAt() ?? Infinity, this.clock.nextTimerAt() ?? Infinity);
      if (next <= this.clock.now()) continue;
      if (next === Infinity || next > deadline) throw new Error(`[seed=${this.seed}] stalled or out of time at t=${this.clock.now()}`);
      this.clock.set(next);
    }
  }

  /** Runs the simulation until `promise` settles and returns its result. */
  async settle<T>(promise: Promise<T>, maxSimulatedMs?: number): Promise<T> {
    let outcome: { value: T } | { error: unknown } | undefined;
    promise.then(
      (value) => (outcome = { value }),
      (error: unknown) => (outcome = { error }),
    );
    await this.runUntil(() => outcome !== undefined, maxSimulatedMs);
    if (outcome !== undefined && 'error' in outcome) throw outcome.error;
    return (outcome as { value: T }).value;
  }
}

const nodeOptions = (sim: Sim) => ({ transport: sim.network, clock: sim.clock, logger: silentLogger, clusterId: 'hosts-test' });

async function readAll(sim: Sim, clients: Connection, topic: string, count: number): Promise<string[]> {
  const consumer = clients.consumer({ autoOffsetReset: 'earliest', enableAutoCommit: false });
  consumer.assign([0, 1, 2].map((partition) => ({ topic, partition })));
  const values: string[] = [];
  while (values.length < count) for (const r of await sim.settle(consumer.poll({ timeoutMs: 100 }))) values.push(dec.decode(r.value as Uint8Array));
  await sim.settle(consumer.close());
  return values;
}

/** Three controllers, three brokers and a client connection, each started on its own. */
async function scenario(seed: number): Promise<{ trace: string[]; values: string[] }> {
  const sim = new Sim(seed);
  const controllers: ControllerNode[] = [];
  for (const id of [0, 1, 2]) controllers.push(await startController({ ...nodeOptions(sim), id, voters: [0, 1, 2], seed: seed + id }));
  const brokers: BrokerNode[] = [];
  for (const id of [1, 2, 3]) brokers.push(await startBroker({ ...nodeOptions(sim), id, controllers: ['controller:0', 'controller:1', 'controller:2'], seed: seed + 10 + id }));
  await sim.settle(Promise.all(brokers.map((b) => b.ready())));
  expect(brokers.every((b) => b.registered)).toBe(true);
  expect(controllers.filter((c) => c.active)).toHaveLength(1);

  const clients = await connect({ transport: sim.network, bootstrap: [1, 'broker:2', 3], controllers: [0, 1, 2], clock: sim.clock, logger: silentLogger, seed });
  await sim.settle(clients.admin().createTopic('orders', { partitions: 3, replicationFactor: 3, config: { 'min.insync.replicas': 2 } }));
  const producer = clients.producer({ acks: 'all' });
  const batch = (from: number, n: number) => Array.from({ length: n }, (_, i) => ({ key: `k${(from + i) % 7}`, value: `v${from + i}` }));
  const first = await sim.settle(producer.send('orders', batch(0, 30)));
  expect(first).toHaveLength(30);
  expect(await readAll(sim, clients, 'orders', 30)).toHaveLength(30);

  // A broker crashes: the others keep taking acks=all writes once the ISR shrinks to them.
  brokers[1]?.crash();
  expect(brokers[1]?.running).toBe(false);
  await sim.settle(producer.send('orders', batch(30, 30)));
  const admin = clients.admin();
  const shrunk = await sim.settle(admin.describeTopic('orders'));
  for (const p of shrunk.partitions) expect(p.isr).not.toContain(2);
  // It comes back from its storage, registers again and catches up; then another one stops cleanly.
  await brokers[1]?.restart();
  await sim.runUntil(() => brokers[1]?.registered === true);
  await sim.settle(brokers[2]?.stop() as Promise<void>);
  expect(brokers[2]?.running).toBe(false);
  await expect(brokers[2]?.restart()).rejects.toBeInstanceOf(ClosedError);
  await sim.settle(producer.send('orders', batch(60, 30)));
  const values = await readAll(sim, clients, 'orders', 90);
  expect([...values].sort()).toEqual(Array.from({ length: 90 }, (_, i) => `v${i}`).sort());

  // A consumer group: its coordinator runs on one of the brokers started above.
  const member = clients.consumer({ groupId: 'audit', autoOffsetReset: 'earliest', enableAutoCommit: false });
  await sim.settle(member.subscribe(['orders']));
  let polled = 0;
  while (polled < 90) polled += (await sim.settle(member.poll({ timeoutMs: 100 }))).length;
  await sim.settle(member.commit());
  const committed = await sim.settle(member.committed());
  expect(committed.reduce((n, c) => n + c.offset, 0n)).toBe(90n);

  await sim.settle(clients.stop());
  expect(() => clients.producer()).toThrow(ClosedError);
  for (const b of brokers) await sim.settle(b.stop());
  for (const c of controllers) await sim.settle(c.stop());
  expect(controllers.every((c) => !c.running) && brokers.every((b) => !b.running)).toBe(true);
  return { trace: sim.trace, values };
}

describe('node hosts on one simulated network', () => {
  it('runs 3 controllers and 3 brokers started separately, with clients from connect(): RF=3, acks=all, a crash and a stop', async () => {
    const a = await scenario(7);
    const b = await scenario(7);
    // Deterministic: the same seed replays the same run, message for message.
    expect(b.trace).toEqual(a.trace);
    expect(b.values).toEqual(a.values);
    expect(a.trace.length).toBeGreaterThan(500);
  });

  it('moves leaderships and ISR membership away before a broker stops (controlled shutdown)', async () => {
    const sim = new Sim(41);
    const controllers: ControllerNode[] = [];
    for (const id of [0, 1, 2]) controllers.push(await startController({ ...nodeOptions(sim), id, voters: [0, 1, 2], seed: 41 + id }));
    const brokers: BrokerNode[] = [];
    for (const id of [1, 2, 3]) brokers.push(await startBroker({ ...nodeOptions(sim), id, controllers: [0, 1, 2], seed: 51 + id }));
    await sim.settle(Promise.all(brokers.map((b) => b.ready())));
    const clients = await connect({ transport: sim.network, bootstrap: [1, 2, 3], controllers: [0, 1, 2], clock: sim.clock, logger: silentLogger, seed: 41 });
    const admin = clients.admin();
    await sim.settle(admin.createTopic('c', { partitions: 6, replicationFactor: 3, config: { 'min.insync.replicas': 2 } }));
    const producer = clients.producer({ acks: 'all' });
    await sim.settle(producer.send('c', Array.from({ length: 60 }, (_, i) => ({ key: `k${i}`, value: `v${i}` }))));
    const before = await sim.settle(admin.describeTopic('c'));
    expect(before.partitions.some((p) => p.leader === 1)).toBe(true);

    const started = sim.clock.now();
    await sim.settle(brokers[0]?.stop() as Promise<void>);
    // Well within broker.session.timeout.ms (9 s): the controller did not wait for the session to expire.
    expect(sim.clock.now() - started).toBeLessThan(1_000);
    const after = await sim.settle(admin.describeTopic('c'));
    for (const p of after.partitions) {
      expect(p.leader).not.toBe(1);
      expect(p.isr).not.toContain(1);
    }
    const resumed = sim.clock.now();
    expect(await sim.settle(producer.send('c', Array.from({ length: 60 }, (_, i) => ({ key: `k${i}`, value: `w${i}` }))))).toHaveLength(60);
    expect(sim.clock.now() - resumed).toBeLessThan(1_000);

    // With no controller to answer, the broker still stops, after its timeout.
    for (const c of controllers) c.crash();
    const cut = sim.clock.now();
    await sim.settle(brokers[1]?.stop({ timeoutMs: 2_000 }) as Promise<void>);
    expect(brokers[1]?.running).toBe(false);
    expect(sim.clock.now() - cut).toBeGreaterThanOrEqual(2_000);
    await expect(brokers[2]?.stop({ timeoutMs: -1 })).rejects.toBeInstanceOf(InvalidArgumentError);
    await sim.settle(clients.stop());
    await sim.settle(brokers[2]?.stop({ controlledShutdown: false }) as Promise<void>);
    for (const c of controllers) await sim.settle(c.stop());
  });
});

describe('bad input to the node hosts', () => {
  const dirs: string[] = [];
  afterEach(() => {
    for (const dir of dirs.splice(0)) fs.rmSync(dir, { recursive: true, force: true });
  });

  /** The rejection of `promise`, checked to be an InvalidArgumentError about `argument` whose message matches `fix`. */
  async function invalid(promise: Promise<unknown>, argument: string, fix: RegExp): Promise<void> {
    const error = await promise.then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(InvalidArgumentError);
    expect((error as InvalidArgumentError).argument).toBe(argument);
    expect((error as Error).message).toMatch(fix);
  }

  it('names the missing or malformed option and how to give it', async () => {
    const sim = new Sim(1);
    const base = nodeOptions(sim);
    await invalid(startBroker(undefined as never), 'options', /takes an options object/);
    await invalid(startBroker({ id: 1, controllers: [0] } as never), 'transport', /pass \{ transport \}/);
    await invalid(startBroker({ ...base, id: 1, transport: {} as never, controllers: [0] }), 'transport', /has no register\/send/);
    await invalid(startBroker({ ...base, id: -1, controllers: [0] }), 'id', /node\.id.*non-negative integer/);
    await invalid(startBroker({ ...base, id: 1, controllers: [] }), 'controllers', /controller\.quorum\.voters/);
    await invalid(startBroker({ ...base, id: 1, controllers: ['broker:0'] }), 'controllers', /neither a controller id nor a 'controller:<id>' address/);
    await invalid(startController({ ...base, id: 0, voters: [0, 0, 1] }), 'voters', /listed twice/);
    await invalid(startController({ ...base, id: 5, voters: [0, 1, 2] }), 'voters', /controller 5 is not among the voters 0, 1, 2; add 5 to voters/);
    await invalid(startController({ id: 0, voters: [0] } as never), 'transport', /startController\(\) needs the Transport/);
    await invalid(connect({ transport: sim.network } as never), 'bootstrap', /bootstrap\.servers/);
    await invalid(connect({ bootstrap: [1] } as never), 'transport', /connect\(\) needs the Transport/);
    const clients = await connect({ transport: sim.network, bootstrap: [1], clock: sim.clock, logger: silentLogger });
    expect(() => clients.admin()).toThrow(/bootstrap\.controllers/);
    expect(sim.network.pending).toBe(0);
  });

  it('refuses a second node with the same id on one transport until the first stops', async () => {
    const sim = new Sim(2);
    const controller = await startController({ ...nodeOptions(sim), id: 0, voters: [0] });
    await invalid(startController({ ...nodeOptions(sim), id: 0, voters: [0] }), 'id', /controller:0 already runs on this transport; stop it first, or give this controller another id/);
    const broker = await startBroker({ ...nodeOptions(sim), id: 1, controllers: [0] });
    await invalid(startBroker({ ...nodeOptions(sim), id: 1, controllers: [0] }), 'id', /broker:1 already runs on this transport.*another id/);
    // The same id on another transport is another process's business.
    const other = new Sim(3);
    const elsewhere = await startBroker({ ...nodeOptions(other), id: 1, controllers: [0] });
    await elsewhere.stop();
    // The refused starts took nothing: the first nodes still work.
    await sim.runUntil(() => broker.registered);
    await sim.settle(broker.stop());
    await sim.settle(controller.stop());
    const again = await startController({ ...nodeOptions(sim), id: 0, voters: [0] });
    await again.stop();
  });

  it('ready() waits for the registration, bounded by its timeout', async () => {
    const sim = new Sim(6);
    // No controller runs: nobody can accept the registration.
    const broker = await startBroker({ ...nodeOptions(sim), id: 1, controllers: [0] });
    const error = await sim.settle(broker.ready({ timeoutMs: 1_000 })).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(TimeoutError);
    expect((error as Error).message).toMatch(/registration of broker 1 timed out after 1000 ms; check that a majority of the controllers runs/);
    const controller = await startController({ ...nodeOptions(sim), id: 0, voters: [0] });
    await sim.settle(broker.ready());
    await sim.settle(broker.stop());
    await expect(broker.ready()).rejects.toBeInstanceOf(ClosedError);
    await sim.settle(controller.stop());
  });

  it("locks a node's data directory and refuses one formatted for another cluster or node", async () => {
    const dir = fs.mkdtempSync(nodePath.join(os.tmpdir(), 'samsa-hosts-'));
    dirs.push(dir);
    const sim = new Sim(4);
    const brokerDir = nodePath.join(dir, 'broker-1');
    const broker = await startBroker({ ...nodeOptions(sim), id: 1, controllers: [0], dataDir: brokerDir });
    const locked = await startBroker({ ...nodeOptions(new Sim(5)), id: 1, controllers: [0], dataDir: brokerDir }).catch((e: unknown) => e);
    expect(locked).toBeInstanceOf(LogDirectoryLockedError);
    expect((locked as Error).message).toMatch(/stop that process/);
    await broker.stop();
    const wrongCluster = await startBroker({ ...nodeOptions(sim), clusterId: 'another', id: 1, controllers: [0], dataDir: brokerDir }).catch((e: unknown) => e);
    expect(wrongCluster).toBeInstanceOf(InconsistentDataDirectoryError);
    const wrongNode = await startController({ ...nodeOptions(sim), id: 2, voters: [2], dataDir: brokerDir }).catch((e: unknown) => e);
    expect(wrongNode).toBeInstanceOf(InconsistentDataDirectoryError);
    // Without a cluster id the one the directory was formatted with is kept.
    const reopened = await startBroker({ transport: sim.network, clock: sim.clock, logger: silentLogger, id: 1, controllers: [0], dataDir: brokerDir });
    expect(reopened.clusterId).toBe('hosts-test');
    await reopened.stop();
  });
});
