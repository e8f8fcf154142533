import { fc, test as fcTest } from '@fast-check/vitest';
import { describe, expect, it } from 'vitest';
import { SimulatedClock } from '../../src/clock.ts';
import { InvalidArgumentError, UndecodableMessageError, UnencodableMessageError } from '../../src/errors.ts';
import { createRandom } from '../../src/random.ts';
import { messageCodec } from '../../src/transport/codec.ts';
import type { NetworkEvent } from '../../src/transport/simulatedNetwork.ts';
import { SimulatedNetwork } from '../../src/transport/simulatedNetwork.ts';
import type { Message, NodeId } from '../../src/transport/transport.ts';
import { createTestCluster } from '../../src/testing.ts';

/** A message of a real protocol type carrying `fields`. */
const fetchWith = (fields: Record<string, unknown>): Message => ({ type: 'fetch.request', correlationId: 7, ...fields });

describe('messageCodec', () => {
  it('round-trips bigint, undefined, byte views and nesting', () => {
    const backing = new Uint8Array([9, 9, 1, 2, 3, 9]);
    const message = fetchWith({ offset: 2n ** 63n - 1n, huge: 2n ** 80n, negative: -5n, missing: undefined, view: backing.subarray(2, 5), nested: { list: [1, 'a', null, true, { deep: [0n] }] }, nan: Number.NaN, inf: -Infinity });
    const decoded = messageCodec.decode(messageCodec.encode(message));
    expect(decoded).toEqual({ ...message, view: new Uint8Array([1, 2, 3]) });
    expect('missing' in decoded).toBe(true);
    const view = decoded.view as Uint8Array;
    expect(view.constructor).toBe(Uint8Array);
    expect(view.byteLength).toBe(3);
  });

  it('hands out a fresh message per decode, sharing no memory with the bytes or another decode', () => {
    const bytes = messageCodec.encode(fetchWith({ data: new Uint8Array([1, 2, 3]), list: [1] }));
    const first = messageCodec.decode(bytes);
    const second = messageCodec.decode(bytes);
    (first.data as Uint8Array)[0] = 42;
    (first.list as number[]).push(2);
    expect(second.data).toEqual(new Uint8Array([1, 2, 3]));
    expect(second.list).toEqual([1]);
    expect(messageCodec.decode(bytes).data).toEqual(new Uint8Array([1, 2, 3]));
  });

  it.each([
    ['a function', { callback: () => 1 }, 'message.callback is a function'],
    ['a Map', { partitions: new Map() }, 'message.partitions is an instance of Map'],
    ['a Date', { at: new Date(0) }, 'message.at is an instance of Date'],
    ['an error object', { error: new Error('x') }, 'message.error is an instance of Error'],
    ['a class instance in an array', { list: [1, new (class Batch {})()] }, 'message.list[1] is an instance of Batch'],
    ['another typed array', { data: new Int32Array(2) }, 'message.data is a Int32Array'],
    ['a symbol', { tag: Symbol('t') }, 'message.tag is a symbol'],
  ])('refuses to encode %s, naming the path', (_what, fields, expected) => {
    const error = (() => {
      try {
        messageCodec.encode(fetchWith(fields));
      } catch (e) {
        return e;
      }
      return undefined;
    })();
    expect(error).toBeInstanceOf(UnencodableMessageError);
    expect((error as Error).message).toContain(expected);
    expect((error as UnencodableMessageError).messageType).toBe('fetch.request');
  });

  it('refuses a cycle but carries a shared sub-object as two copies', () => {
    const shared = { n: 1 };
    const decoded = messageCodec.decode(messageCodec.encode(fetchWith({ a: shared, b: shared })));
    expect(decoded.a).toEqual({ n: 1 });
    expect(decoded.a).not.toBe(decoded.b);
    const cyclic: Record<string, unknown> = {};
    cyclic.self = cyclic;
    expect(() => messageCodec.encode(fetchWith({ cyclic }))).toThrow(/cycle/);
  });

  it.each([
    ['garbage bytes', new Uint8Array([0xc1, 0xff, 0x00])],
    ['an empty buffer', new Uint8Array(0)],
    ['a number', messageCodec.encode(fetchWith({})).subarray(0, 0)],
  ])('refuses to decode %s with a typed error', (_what, bytes) => {
    expect(() => messageCodec.decode(bytes)).toThrow(UndecodableMessageError);
  });

  it('refuses well-formed MessagePack that is not a known message', async () => {
    const { pack } = await import('msgpackr');
    expect(() => messageCodec.decode(pack([1, 2]))).toThrow(/an array, not a message object/);
    expect(() => messageCodec.decode(pack({ correlationId: 1 }))).toThrow(/no type/);
    expect(() => messageCodec.decode(pack({ type: 'shutdown.everything' }))).toThrow(/not one of the protocol/);
    expect(() => messageCodec.decode(pack({ type: 'quorum.message', message: { type: 'nope' } }))).toThrow(/Raft message/);
    expect(() => messageCodec.decode('not bytes' as unknown as Uint8Array)).toThrow(UndecodableMessageError);
  });

  // Any plain value survives the trip (-0 arrives as 0, array holes as undefined: see the codec's guarantees).
  const plain = fc.letrec((tie) => ({
    value: fc.oneof(
      { depthSize: 'small' },
      fc.constantFrom(null, undefined, true, false),
      fc.double({ noDefaultInfinity: false }).map((n) => (Object.is(n, -0) ? 0 : n)),
      fc.string(),
      fc.bigInt({ min: -(2n ** 100n), max: 2n ** 100n }),
      fc.uint8Array({ maxLength: 16 }),
      fc.array(tie('value'), { maxLength: 4 }),
      fc.dictionary(fc.string().filter((k) => k !== '__proto__'), tie('value'), { maxKeys: 4 }),
    ),
  })).value;
  fcTest.prop([fc.dictionary(fc.string().filter((k) => k !== 'type' && k !== '__proto__'), plain, { maxKeys: 6 })])('round-trips any plain data', (fields) => {
    const message = fetchWith(fields);
    expect(messageCodec.decode(messageCodec.encode(message))).toEqual(message);
  });
});

describe('SimulatedNetwork with a codec', () => {
  function setup() {
    const clock = new SimulatedClock(1_000);
    const network = new SimulatedNetwork({ clock, random: createRandom(5), manual: true, codec: messageCodec });
    const received: { to: NodeId; message: Message }[] = [];
    for (const node of ['broker:1', 'client:a'] as const) network.register(node, (message) => received.push({ to: node, message }));
    const events: NetworkEvent[] = [];
    network.observe((e) => events.push(e));
    return { network, received, events };
  }

  it('delivers a copy: the sender changing its message after send changes nothing', () => {
    const { network, received } = setup();
    const sent = fetchWith({ list: [1], data: new Uint8Array([1]) });
    network.send('client:a', 'broker:1', sent);
    (sent.list as number[]).push(2);
    (sent.data as Uint8Array)[0] = 9;
    network.deliverDue();
    expect(received).toHaveLength(1);
    expect(received[0]?.message).toEqual(fetchWith({ list: [1], data: new Uint8Array([1]) }));
    expect(received[0]?.message).not.toBe(sent);
  });

  it('drops a message that is not plain data and reports it, then keeps delivering', () => {
    const { network, received, events } = setup();
    expect(() => network.send('client:a', 'broker:1', fetchWith({ callback: () => 1 }))).not.toThrow();
    network.send('client:a', 'broker:1', fetchWith({ n: 2 }));
    network.deliverDue();
    expect(received.map((r) => r.message.n)).toEqual([2]);
    expect(events.filter((e) => e.type === 'rejected').map((e) => e.error?.code)).toEqual(['UNENCODABLE_MESSAGE']);
    expect(network.codecFailures).toHaveLength(1);
    expect(network.codecFailures[0]).toBeInstanceOf(UnencodableMessageError);
  });

  it('refuses untrusted bytes with a typed error; the receiver never sees them', () => {
    const { network, received, events } = setup();
    network.sendBytes('client:a', 'broker:1', new Uint8Array([0xc1, 0x00, 0x13]));
    network.sendBytes('client:a', 'broker:1', messageCodec.encode(fetchWith({ n: 3 })));
    network.deliverDue();
    expect(received.map((r) => r.message.n)).toEqual([3]);
    const rejected = events.filter((e) => e.type === 'rejected');
    expect(rejected).toHaveLength(1);
    expect(rejected[0]?.error).toBeInstanceOf(UndecodableMessageError);
    // Injected bytes are not a node's bug.
    expect(network.codecFailures).toEqual([]);
  });

  it('needs a codec for raw bytes', () => {
    const network = new SimulatedNetwork({ clock: new SimulatedClock(0), random: createRandom(1), manual: true });
    expect(() => network.sendBytes('client:a', 'broker:1', new Uint8Array(1))).toThrow(InvalidArgumentError);
  });
});

describe('a cluster with the codec on', () => {
  it('serves clients, shrugs off garbage sent to its nodes, and fails a test on a message that is not plain data', async () => {
    const cluster = await createTestCluster({ seed: 3, brokers: 3, codec: messageCodec });
    const admin = cluster.admin();
    await cluster.settle(admin.createTopic('orders', { partitions: 2, replicationFactor: 3 }));
    for (const node of ['broker:1', 'broker:2', 'controller:0'] as const) {
      cluster.network.sendBytes('client:stranger', node, new Uint8Array([0xde, 0xad, 0xbe, 0xef]));
      cluster.network.sendBytes('client:stranger', node, messageCodec.encode({ type: 'produce.request', correlationId: 1, acks: -1, timeoutMs: 1000, partitions: 'not a list' }).subarray(0, 5));
    }
    const producer = cluster.producer({ idempotent: true });
    const sent = await cluster.settle(producer.send('orders', { key: 'k', value: 'v' }));
    expect(sent.offset).toBe(0n);
    const consumer = cluster.consumer({ groupId: 'g', autoOffsetReset: 'earliest' });
    await cluster.settle(consumer.subscribe(['orders']));
    const values: string[] = [];
    for (let i = 0; i < 20 && values.length === 0; i++) for (const r of await cluster.settle(consumer.poll({ timeoutMs: 200 }))) values.push(new TextDecoder().decode(r.value as Uint8Array));
    expect(values).toEqual(['v']);
    expect(cluster.network.codecFailures).toEqual([]);

    cluster.network.send('client:bad', 'broker:1', fetchWith({ callback: () => 1 }));
    await expect(cluster.runFor(10)).rejects.toThrow(/\[seed=3\] a node sent a message the codec refused: message "fetch.request" cannot cross the network: message.callback is a function/);
    await cluster.settle(cluster.stop().catch(() => undefined)).catch(() => undefined);
  });

  it('is on for every test cluster when SAMSA_SIMULATION_CODEC=1, and off with codec: false', async () => {
    const before = process.env.SAMSA_SIMULATION_CODEC;
    process.env.SAMSA_SIMULATION_CODEC = '1';
    try {
      const on = await createTestCluster({ seed: 4 });
      on.network.send('client:bad', 'broker:1', fetchWith({ at: new Date(0) }));
      expect(on.network.codecFailures).toHaveLength(1);
      const off = await createTestCluster({ seed: 4, codec: false });
      off.network.send('client:bad', 'broker:1', fetchWith({ at: new Date(0) }));
      expect(off.network.codecFailures).toHaveLength(0);
    } finally {
      if (before === undefined) delete process.env.SAMSA_SIMULATION_CODEC;
      else process.env.SAMSA_SIMULATION_CODEC = before;
    }
  });
});
