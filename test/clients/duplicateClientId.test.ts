/**
 * Kafka's client.id need not be unique: two live clients with the same id both work (each gets its
 * own address on the transport). Found by the demo, whose generated id collided with a chosen one.
 */
import { describe, expect, it } from 'vitest';
import { createTestCluster } from '../../src/testing.ts';

describe('client ids', () => {
  it('lets two live clients share a client id', async () => {
    const cluster = await createTestCluster({ seed: 3 });
    await cluster.settle(cluster.admin().createTopic('t', { partitions: 1 }));
    const first = cluster.producer({ clientId: 'same' });
    const second = cluster.producer({ clientId: 'same' });
    expect(second.clientId).toBe('same');
    const sent = await cluster.settle(Promise.all([first.send('t', { value: 'a' }), second.send('t', { value: 'b' })]));
    expect(sent.map((m) => m.offset).sort()).toEqual([0n, 1n]);
    const reader = cluster.consumer({ clientId: 'same', autoOffsetReset: 'earliest' });
    reader.assign([{ topic: 't', partition: 0 }]);
    const records = await cluster.settle(reader.poll({ timeoutMs: 1_000 }));
    expect(records).toHaveLength(2);
  });
});
