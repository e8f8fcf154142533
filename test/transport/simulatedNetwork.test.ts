import { describe, expect, it } from 'vitest';
import { SimulatedClock } from '../../src/clock.ts';
import { InvalidArgumentError } from '../../src/errors.ts';
import { createRandom } from '../../src/random.ts';
import type { NetworkEvent } from '../../src/transport/simulatedNetwork.ts';
import { SimulatedNetwork } from '../../src/transport/simulatedNetwork.ts';
import type { Message, NodeId } from '../../src/transport/transport.ts';

interface Received {
  readonly to: NodeId;
  readonly from: NodeId;
  readonly n: number;
  readonly at: number;
}

/** A manual network on a simulated clock with nodes a, b, c recording what they receive. */
function setup(seed = 7, nodes: readonly NodeId[] = ['client:a', 'client:b', 'client:c']) {
  const clock = new SimulatedClock(1_000);
  const network = new SimulatedNetwork({ clock, random: createRandom(seed), manual: true });
  const received: Received[] = [];
  for (const node of nodes) network.register(node, (message, from) => received.push({ to: node, from, n: message.n as number, at: clock.now() }));
  const events: NetworkEvent[] = [];
  network.observe((e) => events.push(e));
  const msg = (n: number): Message => ({ type: 'test.message', n });
  return { clock, network, received, events, msg };
}

/** Delivery order of messages sent on three links into one node, for a seed. */
function interleaving(seed: number): string[] {
  const { network, received, msg } = setup(seed, ['client:a', 'client:b', 'client:c', 'client:sink']);
  for (let i = 0; i < 10; i++) for (const from of ['client:a', 'client:b', 'client:c'] as const) network.send(from, 'client:sink', msg(i));
  network.deliverDue();
  return received.map((r) => `${r.from}${r.n}`);
}

describe('SimulatedNetwork (manual mode, simulated clock)', () => {
  it('delivers nothing until deliverDue is called', () => {
    const { network, received, msg } = setup();
    network.send('client:a', 'client:b', msg(1));
    expect(received).toEqual([]);
    expect(network.pending).toBe(1);
    expect(network.deliverDue()).toBe(1);
    expect(received.map((r) => r.n)).toEqual([1]);
    expect(network.pending).toBe(0);
  });

  it('keeps messages on one link in send order without faults', () => {
    const { network, received, msg } = setup();
    for (let i = 0; i < 50; i++) network.send('client:a', 'client:b', msg(i));
    for (let i = 0; i < 50; i++) network.send('client:b', 'client:a', msg(100 + i));
    network.deliverDue();
    expect(received.filter((r) => r.to === 'client:b').map((r) => r.n)).toEqual(Array.from({ length: 50 }, (_, i) => i));
    expect(received.filter((r) => r.to === 'client:a').map((r) => r.n)).toEqual(Array.from({ length: 50 }, (_, i) => 100 + i));
  });

  it('interleaves different links in an order drawn from the seed', () => {
    const first = interleaving(11);
    // The same seed replays the same interleaving…
    expect(interleaving(11)).toEqual(first);
    // …another seed gives another one, while each link stays FIFO.
    const other = interleaving(12);
    expect(other).not.toEqual(first);
    for (const order of [first, other]) {
      for (const from of ['client:a', 'client:b', 'client:c'] as const) expect(order.filter((x) => x.startsWith(from))).toEqual(Array.from({ length: 10 }, (_, i) => `${from}${i}`));
    }
    // And the links really interleave (not one link after the other).
    expect(first.slice(0, 10).some((x) => !x.startsWith(first[0]?.slice(0, 'client:a'.length) ?? ''))).toBe(true);
  });

  it('delays delivery to the simulated time the delay fault sets', () => {
    const { clock, network, received, msg } = setup();
    network.setFaults({ delayMs: { min: 50, max: 50 } });
    network.send('client:a', 'client:b', msg(1));
    expect(network.nextDeliveryAt()).toBe(1_050);
    expect(network.deliverDue()).toBe(0);
    clock.advance(49);
    expect(network.deliverDue()).toBe(0);
    expect(received).toEqual([]);
    clock.advance(1);
    expect(network.deliverDue()).toBe(1);
    expect(received).toEqual([{ to: 'client:b', from: 'client:a', n: 1, at: 1_050 }]);
  });

  it('keeps per-link order under random delays unless reordering is allowed', () => {
    const { clock, network, received, msg } = setup(3);
    network.setFaults({ delayMs: { min: 0, max: 100 } });
    for (let i = 0; i < 30; i++) network.send('client:a', 'client:b', msg(i));
    clock.advance(100);
    network.deliverDue();
    expect(received.map((r) => r.n)).toEqual(Array.from({ length: 30 }, (_, i) => i));
  });

  it('drops every message with dropRate 1 and reports each as dropped', () => {
    const { network, received, events, msg } = setup();
    network.setFaults({ dropRate: 1 });
    for (let i = 0; i < 5; i++) network.send('client:a', 'client:b', msg(i));
    expect(network.pending).toBe(0);
    network.deliverDue();
    expect(received).toEqual([]);
    expect(events.map((e) => e.type)).toEqual(['dropped', 'dropped', 'dropped', 'dropped', 'dropped']);
    expect(events.map((e) => e.message.n)).toEqual([0, 1, 2, 3, 4]);
    // Clearing the faults restores delivery.
    network.setFaults({});
    network.send('client:a', 'client:b', msg(9));
    network.deliverDue();
    expect(received.map((r) => r.n)).toEqual([9]);
  });

  it('delivers every message twice with duplicateRate 1', () => {
    const { network, received, events, msg } = setup();
    network.setFaults({ duplicateRate: 1 });
    network.send('client:a', 'client:b', msg(1));
    network.send('client:a', 'client:b', msg(2));
    network.deliverDue();
    expect(received.map((r) => r.n)).toEqual([1, 1, 2, 2]);
    expect(events.filter((e) => e.type === 'duplicated')).toHaveLength(2);
    expect(events.filter((e) => e.type === 'delivered')).toHaveLength(4);
  });

  it('lets messages on one link overtake each other when reordering is on', () => {
    const { network, received, msg } = setup(5);
    network.setFaults({ reorder: true });
    for (let i = 0; i < 30; i++) network.send('client:a', 'client:b', msg(i));
    network.deliverDue();
    const order = received.map((r) => r.n);
    expect([...order].sort((x, y) => x - y)).toEqual(Array.from({ length: 30 }, (_, i) => i));
    expect(order).not.toEqual(Array.from({ length: 30 }, (_, i) => i));
  });

  it('applies link faults to one direction of one link only', () => {
    const { network, received, msg } = setup();
    network.setLinkFaults('client:a', 'client:b', { dropRate: 1 });
    network.send('client:a', 'client:b', msg(1));
    network.send('client:b', 'client:a', msg(2));
    network.send('client:a', 'client:c', msg(3));
    network.deliverDue();
    expect(received.map((r) => `${r.from}->${r.to}:${r.n}`).sort()).toEqual(['client:a->client:c:3', 'client:b->client:a:2']);
    network.setLinkFaults('client:a', 'client:b', undefined);
    network.send('client:a', 'client:b', msg(4));
    network.deliverDue();
    expect(received.map((r) => r.n)).toContain(4);
  });

  it('cuts both directions of a partition and restores them on heal', () => {
    const { network, received, events, msg } = setup();
    network.partition(['client:a'], ['client:b', 'client:c']);
    expect(network.isCut('client:a', 'client:b')).toBe(true);
    expect(network.isCut('client:c', 'client:a')).toBe(true);
    expect(network.isCut('client:b', 'client:c')).toBe(false);
    network.send('client:a', 'client:b', msg(1));
    network.send('client:b', 'client:a', msg(2));
    network.send('client:c', 'client:a', msg(3));
    network.send('client:b', 'client:c', msg(4));
    network.deliverDue();
    expect(received.map((r) => r.n)).toEqual([4]);
    expect(events.filter((e) => e.type === 'dropped').map((e) => e.message.n).sort()).toEqual([1, 2, 3]);
    network.heal();
    expect(network.isCut('client:a', 'client:b')).toBe(false);
    network.send('client:a', 'client:b', msg(5));
    network.send('client:b', 'client:a', msg(6));
    network.deliverDue();
    expect(received.map((r) => r.n).sort()).toEqual([4, 5, 6]);
  });

  it('drops messages already in flight when their link is cut before delivery', () => {
    const { network, received, events, msg } = setup();
    network.send('client:a', 'client:b', msg(1));
    network.isolate('client:b', ['client:a', 'client:b', 'client:c']);
    network.deliverDue();
    expect(received).toEqual([]);
    expect(events.map((e) => e.type)).toEqual(['dropped']);
  });

  it('reports a message to an unregistered node as unreachable', () => {
    const { network, received, events, msg } = setup();
    network.send('client:a', 'client:nobody', msg(1));
    expect(network.deliverDue()).toBe(1);
    expect(received).toEqual([]);
    expect(events).toEqual([{ type: 'unreachable', from: 'client:a', to: 'client:nobody', message: msg(1) }]);
    expect(network.delivered).toBe(0);
  });

  it('treats a node that unregistered as unreachable', () => {
    const { network, events, msg } = setup(7, []);
    const unregister = network.register('client:x', () => {});
    expect(network.isRegistered('client:x')).toBe(true);
    unregister();
    expect(network.isRegistered('client:x')).toBe(false);
    network.send('client:a', 'client:x', msg(1));
    network.deliverDue();
    expect(events.map((e) => e.type)).toEqual(['unreachable']);
  });

  it('tells every node that sent to a stopped node of the disconnection, after what the node sent before it stopped, and not across a cut link', () => {
    const clock = new SimulatedClock(1_000);
    const network = new SimulatedNetwork({ clock, random: createRandom(3), manual: true });
    const got: Array<{ to: string; type: string; from: string }> = [];
    for (const node of ['client:a', 'client:b', 'client:c'] as const) network.register(node, (m, from) => got.push({ to: node, type: m.type, from }));
    const stopX = network.register('client:x', () => {});
    network.send('client:a', 'client:x', { type: 'test.request', correlationId: 1 });
    network.send('client:b', 'client:x', { type: 'test.request', correlationId: 2 });
    network.deliverDue();
    network.send('client:x', 'client:a', { type: 'test.response', correlationId: 1 });
    network.partition(['client:x'], ['client:b']);
    stopX();
    network.deliverDue();
    // a hears the answer sent before the stop, then the disconnection; b is cut off and hears nothing; c never talked to x.
    expect(got).toEqual([
      { to: 'client:a', type: 'test.response', from: 'client:x' },
      { to: 'client:a', type: 'transport.disconnected', from: 'client:x' },
    ]);
  });

  it('refuses to register the same node twice', () => {
    const { network } = setup();
    expect(() => network.register('client:a', () => {})).toThrow(InvalidArgumentError);
    expect(() => network.register('client:a', () => {})).toThrow(/"client:a" is already registered/);
  });

  it('delivers messages sent while delivering in the same deliverDue call', () => {
    const clock = new SimulatedClock(0);
    const network = new SimulatedNetwork({ clock, random: createRandom(1), manual: true });
    const got: number[] = [];
    network.register('client:ping', (m, from) => {
      got.push(m.n as number);
      if ((m.n as number) < 5) network.send('client:ping', from, { type: 'pong', n: (m.n as number) + 1 });
    });
    network.register('client:pong', (m, from) => {
      got.push(m.n as number);
      network.send('client:pong', from, { type: 'ping', n: (m.n as number) + 1 });
    });
    network.send('client:pong', 'client:ping', { type: 'ping', n: 0 });
    expect(network.deliverDue()).toBe(7);
    expect(got).toEqual([0, 1, 2, 3, 4, 5, 6]);
  });
});
