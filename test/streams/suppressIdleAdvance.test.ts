/**
 * Regression: `suppress(untilWindowCloses())` with `idleStreamTimeAdvance` and the record cache on
 * emitted a window twice, the first time with a count that was not final. Window [0, 10 s), grace
 * 0, maxSkewMs 0: record a (1 s) is counted and committed; record b (9.9 s) is counted and its
 * update waits in the record cache; the wall clock passes 10 s before the next commit, the idle
 * advance ran the buffer's stream-time punctuator, which evicted the window with count 1, and the
 * commit's cache flush then brought count 2 for a window already closed. Pending cache updates now
 * go downstream before stream-time punctuators run (with the idle advance on).
 */
import { describe, expect, it } from 'vitest';
import { count, createStreamsApp, groupByKey, json, StreamsBuilder, string, timeWindowedSerde, toTopic, tumbling, untilWindowCloses, windowedBy } from '../../src/index.ts';
import { createTestCluster } from '../../src/testing.ts';

/** A multiple of the window size. */
const T = 1_700_000_040_000;

async function finalResults(options: { cacheBytes: number; guarantee: 'at_least_once' | 'exactly_once_v2' }): Promise<string[]> {
  const cluster = await createTestCluster({ seed: 5, brokers: 1, startMs: T - 5_000 });
  const admin = cluster.admin();
  await cluster.settle(admin.createTopic('in', { partitions: 1 }));
  await cluster.settle(admin.createTopic('out', { partitions: 1 }));
  const builder = new StreamsBuilder();
  builder
    .stream('in', { key: string(), value: string() })
    .pipe(groupByKey(), windowedBy(tumbling({ sizeMs: 10_000, graceMs: 0 })), count({ store: 'counts' }))
    .suppress(untilWindowCloses())
    .toStream()
    .pipe(toTopic('out', { key: timeWindowedSerde(string(), 10_000), value: json<number>() }));
  // A long commit interval makes the cache hold b's update across the window's close.
  const app = createStreamsApp(builder.build(), cluster, { applicationId: 'repro', processingGuarantee: options.guarantee, commitIntervalMs: 5_000, statestoreCacheMaxBytes: options.cacheBytes, idleStreamTimeAdvance: { maxSkewMs: 0 } });
  await cluster.settle(app.start());
  const producer = cluster.producer();
  await cluster.runFor(T + 1_000 - cluster.clock.now());
  await cluster.settle(producer.send('in', [{ key: 'k', value: 'a', timestamp: T + 1_000 }]));
  await cluster.runFor(T + 9_900 - cluster.clock.now());
  await cluster.settle(producer.send('in', [{ key: 'k', value: 'b', timestamp: T + 9_900 }]));
  await cluster.runFor(20_000);
  await cluster.settle(app.close());
  const reader = cluster.consumer({ autoOffsetReset: 'earliest', enableAutoCommit: false, isolationLevel: 'read_committed' });
  reader.assign([{ topic: 'out', partition: 0 }]);
  const serde = timeWindowedSerde(string(), 10_000);
  const out: string[] = [];
  for (let idle = 0; idle < 3; ) {
    const batch = await cluster.settle(reader.poll({ timeoutMs: 200 }));
    if (batch.length === 0) idle++;
    for (const r of batch) {
      const key = serde.deserialize(r.key as Uint8Array, 'out');
      out.push(`${key.key}@${key.window.start - T}=${new TextDecoder().decode(r.value as Uint8Array)}`);
    }
  }
  return out;
}

describe('suppress(untilWindowCloses()) with idleStreamTimeAdvance', () => {
  it('emits the one final result without the record cache', async () => {
    expect(await finalResults({ cacheBytes: 0, guarantee: 'at_least_once' })).toEqual(['k@0=2']);
  });

  it('emits the one final result with the record cache (at_least_once)', async () => {
    expect(await finalResults({ cacheBytes: 10 * 1024 * 1024, guarantee: 'at_least_once' })).toEqual(['k@0=2']);
  });

  it('emits the one final result with the record cache (exactly_once_v2)', async () => {
    expect(await finalResults({ cacheBytes: 10 * 1024 * 1024, guarantee: 'exactly_once_v2' })).toEqual(['k@0=2']);
  });
});
