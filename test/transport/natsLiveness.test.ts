/** The NATS transport's liveness bookkeeping, without a server: who waits on whom, what a refusal means. */
import { describe, expect, it } from 'vitest';
import { PeerLiveness } from '../../src/transport/natsLiveness.ts';

describe('PeerLiveness', () => {
  it('only a response answers a request: a request the other way does not', () => {
    const l = new PeerLiveness();
    l.asked('broker:2', 'broker:3', 7, 0);
    l.arrived('broker:3', 'broker:2', 'fetch.request', 7);
    expect(l.due(1_000, 1_000)).toEqual([{ to: 'broker:3', senders: new Set(['broker:2']) }]);
    l.arrived('broker:3', 'broker:2', 'fetch.response', 8);
    expect(l.due(1_000, 1_000)).toHaveLength(1);
    l.arrived('broker:3', 'broker:2', 'fetch.response', 7);
    expect(l.due(1_000, 1_000)).toEqual([]);
  });

  it('probes only what waited long enough, and forgets what waited for minutes', () => {
    const l = new PeerLiveness();
    l.asked('client:a', 'broker:1', 1, 0);
    l.asked('client:b', 'broker:1', 1, 900);
    expect(l.due(1_000, 1_000)).toEqual([{ to: 'broker:1', senders: new Set(['client:a']) }]);
    expect(l.due(1_900, 1_000)).toEqual([{ to: 'broker:1', senders: new Set(['client:a', 'client:b']) }]);
    expect(l.due(301_000, 1_000)).toEqual([]);
    expect(l.connectionLost()).toEqual({ unreachable: [], disconnected: [] });
  });

  it('a refusal fails the refused requests and tells every node waiting on that peer', () => {
    const l = new PeerLiveness();
    l.asked('client:a', 'broker:1', 5, 0);
    l.asked('client:c', 'broker:1', 9, 0);
    const n = l.watch({ to: 'broker:1', senders: new Set(['client:a']), requests: [{ from: 'client:a', correlationId: 5 }] });
    expect(l.refused(n)).toEqual({ unreachable: [{ from: 'client:a', to: 'broker:1', correlationId: 5 }], disconnected: [{ from: 'client:a', to: 'broker:1' }, { from: 'client:c', to: 'broker:1' }] });
    // Said once: a second refusal of the same publish, or one never watched, says nothing.
    expect(l.refused(n)).toEqual({ unreachable: [], disconnected: [] });
    expect(l.due(10_000, 1_000)).toEqual([]);
  });

  it('a lost connection tells every waiting node once', () => {
    const l = new PeerLiveness();
    l.asked('broker:1', 'controller:0', 1, 0);
    l.asked('broker:1', 'broker:2', 2, 0);
    expect(l.connectionLost().disconnected).toEqual([{ from: 'broker:1', to: 'controller:0' }, { from: 'broker:1', to: 'broker:2' }]);
    expect(l.connectionLost().disconnected).toEqual([]);
  });

  it('remembers the newest 10,000 watched publishes only', () => {
    const l = new PeerLiveness();
    const first = l.watch({ to: 'broker:1', senders: new Set(['client:a']), requests: [] });
    for (let i = 0; i < 10_000; i++) l.watch({ to: 'broker:1', senders: new Set(['client:a']), requests: [] });
    expect(l.refused(first).disconnected).toEqual([]);
    expect(l.refused(first + 10_000).disconnected).toHaveLength(1);
  });
});
