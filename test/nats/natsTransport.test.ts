/**
 * The NATS transport against a real nats-server: each transport is its own connection, as two
 * processes would have.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectNats } from '../../src/transport/natsTransport.ts';
import type { NatsTransport } from '../../src/transport/natsTransport.ts';
import { subjectToken, nodeOfToken } from '../../src/transport/natsFrames.ts';
import type { Message, NodeId } from '../../src/transport/transport.ts';
import { InvalidArgumentError, TransportUnavailableError } from '../../src/errors.ts';
import { silentLogger } from '../../src/logger.ts';
import { NATS_URL, freePort, natsReachable, startNatsServer } from './natsServer.ts';

const available = await natsReachable();

/** Resolves once `predicate` holds, polling every 5 ms; fails after `ms`. */
async function until(predicate: () => boolean, ms = 5_000): Promise<void> {
  const deadline = performance.now() + ms;
  while (!predicate()) {
    if (performance.now() > deadline) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 5));
  }
}

function inbox(): { received: Array<{ message: Message; from: NodeId }>; handler: (message: Message, from: NodeId) => void } {
  const received: Array<{ message: Message; from: NodeId }> = [];
  return { received, handler: (message, from) => received.push({ message, from }) };
}

describe('subject tokens', () => {
  it('keep node ids readable and escape what NATS reserves', () => {
    expect(subjectToken('broker:1')).toBe('broker:1');
    expect(subjectToken('client:a.b*c>d e%')).toBe('client:a%2Eb%2Ac%3Ed%20e%25');
    expect(nodeOfToken(subjectToken('client:a.b*c>d e%é'))).toBe('client:a.b*c>d e%é');
    expect(nodeOfToken('broker:x')).toBeUndefined();
    expect(nodeOfToken('client:%2')).toBeUndefined();
  });
});

describe.skipIf(!available)('NatsTransport', () => {
  const prefix = `t${process.pid}`;
  let a: NatsTransport;
  let b: NatsTransport;
  beforeAll(async () => {
    a = await connectNats({ servers: NATS_URL, subjectPrefix: prefix, logger: silentLogger });
    b = await connectNats({ servers: NATS_URL, subjectPrefix: prefix, logger: silentLogger });
  });
  afterAll(async () => {
    await a?.close();
    await b?.close();
  });

  it('carries typed messages between connections, with the sender as `from`', async () => {
    const box = inbox();
    const off = b.register('broker:7', box.handler);
    await b.flushed();
    a.send('controller:0', 'broker:7', { type: 'brokerHeartbeat.response', correlationId: 1, isFenced: false, big: 2n ** 70n, bytes: new Uint8Array([1, 2, 3]) } as Message);
    await until(() => box.received.length === 1);
    expect(box.received[0]?.from).toBe('controller:0');
    expect(box.received[0]?.message).toMatchObject({ type: 'brokerHeartbeat.response', correlationId: 1, big: 2n ** 70n, bytes: new Uint8Array([1, 2, 3]) });
    off();
  });

  it('batches small messages of one turn and keeps their order', async () => {
    const box = inbox();
    const off = b.register('broker:8', box.handler);
    await b.flushed();
    const before = a.stats.publishes;
    for (let i = 0; i < 1_000; i++) a.send('broker:1', 'broker:8', { type: 'brokerHeartbeat.response', correlationId: i });
    await until(() => box.received.length === 1_000);
    expect(box.received.map((r) => r.message.correlationId)).toEqual(Array.from({ length: 1_000 }, (_, i) => i));
    expect(a.stats.publishes - before).toBeLessThan(10);
    off();
  });

  it('splits a message larger than max_payload and puts it together again, in order with the rest', async () => {
    const box = inbox();
    const off = b.register('client:big', box.handler);
    await b.flushed();
    const records = new Uint8Array(3 * a.maxPayloadBytes + 123).map((_, i) => i % 251);
    a.send('broker:1', 'client:big' as NodeId, { type: 'fetch.response', correlationId: 1 });
    // A reply to a client goes to the address the transport reported for it.
    const address = `client:big@${b.instance}` as NodeId;
    a.send('broker:1', address, { type: 'fetch.response', correlationId: 2, records });
    a.send('broker:1', address, { type: 'fetch.response', correlationId: 3 });
    await until(() => box.received.length === 2);
    expect(box.received.map((r) => r.message.correlationId)).toEqual([2, 3]);
    // Compared as bytes: a deep equality over 3 MB element by element takes seconds.
    expect(Buffer.from(box.received[0]?.message.records as Uint8Array).equals(records)).toBe(true);
    off();
  });

  it('drops bytes that are no message, and senders that are no node, and goes on', async () => {
    const box = inbox();
    const off = b.register('broker:9', box.handler);
    await b.flushed();
    const raw = (a as unknown as { connection: { publish(s: string, d: Uint8Array): void } }).connection;
    raw.publish(`${prefix}.node.broker:9.broker:1`, new Uint8Array([1, 0, 0, 0, 3, 0xc1, 0xc1, 0xc1]));
    raw.publish(`${prefix}.node.broker:9.broker:1`, new Uint8Array([9, 9]));
    raw.publish(`${prefix}.node.broker:9.mallory`, new Uint8Array([1]));
    a.send('broker:1', 'broker:9', { type: 'brokerHeartbeat.response', correlationId: 5 });
    await until(() => box.received.length === 1);
    expect(box.received[0]?.message.correlationId).toBe(5);
    expect(b.stats.dropped.undecodable).toBeGreaterThanOrEqual(2);
    expect(b.stats.dropped.unknownSender).toBeGreaterThanOrEqual(1);
    off();
  });

  it('never throws from send: unencodable messages are reported and dropped', () => {
    expect(() => a.send('broker:1', 'broker:2', { type: 'brokerHeartbeat.response', when: new Date() } as unknown as Message)).not.toThrow();
    expect(a.stats.dropped.unencodable).toBe(1);
  });

  it('gives each process its own address for a client id both use', async () => {
    const boxA = inbox();
    const boxB = inbox();
    const offA = a.register('client:producer-1', boxA.handler);
    const offB = b.register('client:producer-1', boxB.handler);
    const server = inbox();
    const offServer = a.register('broker:3', server.handler);
    await Promise.all([a.flushed(), b.flushed()]);
    a.send('client:producer-1', 'broker:3', { type: 'metadata.request', correlationId: 1 });
    b.send('client:producer-1', 'broker:3', { type: 'metadata.request', correlationId: 1 });
    await until(() => server.received.length === 2);
    const senders = server.received.map((r) => r.from);
    expect(new Set(senders).size).toBe(2);
    for (const to of senders) a.send('broker:3', to, { type: 'metadata.response', correlationId: 1 });
    await until(() => boxA.received.length === 1 && boxB.received.length === 1);
    offA();
    offB();
    offServer();
  });

  it('keeps clusters with different subject prefixes apart', async () => {
    const other = await connectNats({ servers: NATS_URL, subjectPrefix: `${prefix}.other`, logger: silentLogger });
    const box = inbox();
    const off = b.register('broker:10', box.handler);
    const offOther = other.register('broker:10', box.handler);
    await Promise.all([b.flushed(), other.flushed()]);
    a.send('broker:1', 'broker:10', { type: 'brokerHeartbeat.response', correlationId: 1 });
    await until(() => box.received.length >= 1);
    await a.flushed();
    await other.flushed();
    expect(box.received).toHaveLength(1);
    off();
    offOther();
    await other.close();
  });

  it('fails a request to a node nobody runs at once, as a refused connection', async () => {
    const box = inbox();
    const off = a.register('client:asker', box.handler);
    a.send('client:asker', 'broker:404', { type: 'metadata.request', correlationId: 77 });
    await until(() => box.received.length === 2);
    expect(box.received.map((r) => r.message)).toEqual([
      { type: 'transport.unreachable', correlationId: 77, node: 'broker:404' },
      { type: 'transport.disconnected', node: 'broker:404' },
    ]);
    off();
  });

  it('probes a node that owes an answer, and tells its askers when it is gone', async () => {
    const prober = await connectNats({ servers: NATS_URL, subjectPrefix: prefix, logger: silentLogger, probeIntervalMs: 50 });
    const box = inbox();
    const offAsker = prober.register('client:waiting', box.handler);
    const offServer = b.register('broker:12', () => undefined);
    await b.flushed();
    // Delivered, never answered: the server is up, so nothing is said until it goes.
    prober.send('client:waiting', 'broker:12', { type: 'metadata.request', correlationId: 1 });
    await prober.flushed();
    // A request the other way is no answer (two brokers long-poll each other's fetches).
    b.send('broker:12', `client:waiting@${prober.instance}` as NodeId, { type: 'metadata.request', correlationId: 9 });
    await new Promise((r) => setTimeout(r, 200));
    expect(box.received.map((r) => r.message.type)).toEqual(['metadata.request']);
    offServer();
    await b.flushed();
    await until(() => box.received.length === 2);
    expect(box.received[1]?.message).toEqual({ type: 'transport.disconnected', node: 'broker:12' });
    offAsker();
    await prober.close();
  });

  it('refuses a second node with one address in a process', () => {
    const off = a.register('broker:11', () => undefined);
    expect(() => a.register('broker:11', () => undefined)).toThrow(InvalidArgumentError);
    off();
  });
});

describe('connectNats refuses', () => {
  it('bad options with InvalidArgumentError', async () => {
    await expect(connectNats({ servers: '' })).rejects.toBeInstanceOf(InvalidArgumentError);
    await expect(connectNats({ servers: NATS_URL, subjectPrefix: 'a.*' })).rejects.toThrow(/subjectPrefix/);
    await expect(connectNats(undefined as never)).rejects.toBeInstanceOf(InvalidArgumentError);
  });

  it('a server that does not answer with TransportUnavailableError', async () => {
    const port = await freePort();
    const error = await connectNats({ servers: `nats://127.0.0.1:${port}`, connectTimeoutMs: 1_000, logger: silentLogger }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(TransportUnavailableError);
    expect((error as Error).message).toMatch(/nats-server runs there/);
  });
});

describe.skipIf(!available)('NATS permissions pin a node to its identity', () => {
  it('a connection allowed to publish as broker 2 cannot pass as broker 1', async () => {
    const server = await startNatsServer(`authorization {
      users = [
        { user: b1, password: p1, permissions: { publish: ["samsa.node.*.broker:1", "samsa.node.*.probe"], subscribe: ["samsa.node.broker:1.*", "samsa.refused.>"] } }
        { user: b2, password: p2, permissions: { publish: ["samsa.node.*.broker:2", "samsa.node.*.probe"], subscribe: ["samsa.node.broker:2.*", "samsa.refused.>"] } }
      ]
    }`);
    const one = await connectNats({ servers: server.url, user: 'b1', pass: 'p1', logger: silentLogger });
    const two = await connectNats({ servers: server.url, user: 'b2', pass: 'p2', logger: silentLogger });
    try {
      const box = inbox();
      one.register('broker:1', box.handler);
      await one.flushed();
      two.send('broker:1', 'broker:1', { type: 'brokerHeartbeat.response', correlationId: 1 });
      two.send('broker:2', 'broker:1', { type: 'brokerHeartbeat.response', correlationId: 2 });
      await until(() => box.received.length >= 1);
      await two.flushed().catch(() => undefined);
      await one.flushed();
      expect(box.received.map((r) => [r.from, r.message.correlationId])).toEqual([['broker:2', 2]]);
    } finally {
      await one.close();
      await two.close();
      await server.stop();
    }
  });

  it('bad credentials are a TransportUnavailableError', async () => {
    const server = await startNatsServer('authorization { user: u, password: right }');
    try {
      await expect(connectNats({ servers: server.url, user: 'u', pass: 'wrong', logger: silentLogger })).rejects.toBeInstanceOf(TransportUnavailableError);
    } finally {
      await server.stop();
    }
  });
});
