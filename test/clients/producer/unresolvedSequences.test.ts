/**
 * Issue 14 item 1: a batch whose outcome is unknown is never sent again under another producer id
 * or epoch (Kafka's TransactionManager: unresolved sequences, KIP-360). Scripted: a batch lands
 * in the leader's log but its answers are lost; meanwhile another batch of the same producer
 * reaches delivery.timeout.ms. Its partition starts over only once nothing of it is in flight,
 * and the first batch's retry keeps its producer id, epoch and sequence, so the broker answers
 * it with the original offset instead of writing it twice.
 */
import { describe, expect, it } from 'vitest';
import { TimeoutError } from '../../../src/errors.ts';
import type { LogFields, Logger } from '../../../src/logger.ts';
import { LOG_OVERHEAD, readBatchHeader } from '../../../src/record/recordBatch.ts';
import type { PartitionLog } from '../../../src/log/partitionLog.ts';
import { sleep } from '../../../src/clock.ts';
import { createTestCluster } from '../../../src/testing.ts';
import type { TestCluster } from '../../../src/testing.ts';

const dec = new TextDecoder();

function logOf(cluster: TestCluster, topic: string, partition: number): PartitionLog {
  return cluster.brokerInternals(1)?.logOf(topic, partition) as PartitionLog;
}

/** Every batch of a partition: its producer id, epoch, first sequence and values. */
function batchesOf(log: PartitionLog): Array<{ producerId: bigint; producerEpoch: number; baseSequence: number; baseOffset: bigint }> {
  const { records } = log.read(0n, { maxBytes: 1 << 20 });
  const out = [];
  for (let p = 0; p < records.length; ) {
    const h = readBatchHeader(records, p);
    out.push({ producerId: h.producerId, producerEpoch: h.producerEpoch, baseSequence: h.baseSequence, baseOffset: h.baseOffset });
    p += h.batchLength + LOG_OVERHEAD;
  }
  return out;
}

async function values(cluster: TestCluster, topic: string, partition: number): Promise<string[]> {
  const consumer = cluster.consumer({ autoOffsetReset: 'earliest', enableAutoCommit: false });
  consumer.assign([{ topic, partition }]);
  const end = logOf(cluster, topic, partition).logEndOffset;
  const got: string[] = [];
  for (let polls = 0; BigInt(got.length) < end && polls < 50; polls++) for (const r of await cluster.settle(consumer.poll({ timeoutMs: 200 }))) got.push(dec.decode(r.value as Uint8Array));
  await cluster.settle(consumer.close());
  return got;
}

describe('idempotent producer: a batch of unknown outcome', () => {
  it('is retried with its own producer id, epoch and sequence while another batch expires, so it is written once; the expired one fails as of unknown outcome and its partition moves to a new epoch', async () => {
    const warnings: Array<{ message: string; fields?: LogFields }> = [];
    const logger: Logger = {
      debug: () => undefined,
      info: () => undefined,
      warn: (message, fields) => void warnings.push({ message, fields }),
      error: () => undefined,
      child: () => logger,
    };
    const cluster = await createTestCluster({ seed: 1401, brokers: 1, logger });
    await cluster.settle(cluster.admin().createTopic('t', { partitions: 2 }));
    const producer = cluster.producer({ clientId: 'p', idempotent: true, requestTimeoutMs: 1_000, deliveryTimeoutMs: 5_000, retryBackoffMs: 100, retryBackoffMaxMs: 200 });
    await cluster.settle(producer.send('t', [{ value: 'first', partition: 0 }, { value: 'one', partition: 1 }]));

    // From now on the broker's answers to the producer are lost (its appends still land).
    cluster.network.setLinkFaults('broker:1', 'client:p', { dropRate: 1 });
    const expiring = producer.send('t', { value: 'B', partition: 1 }).then(
      () => undefined,
      (error: unknown) => error,
    );
    await cluster.settle(sleep(cluster.clock, 2_500));
    const landing = producer.send('t', { value: 'A', partition: 0 });
    await cluster.runUntil(() => logOf(cluster, 't', 0).logEndOffset === 2n);
    // B reaches delivery.timeout.ms (5 s) while A (sent 2.5 s later) is still unresolved.
    const error = await cluster.settle(expiring);
    expect(error).toBeInstanceOf(TimeoutError);
    cluster.network.setLinkFaults('broker:1', 'client:p', undefined);

    // A's retry carries its original identity: the broker recognises it and answers with offset 1.
    const meta = await cluster.settle(landing, { maxSimulatedMs: 10_000 });
    expect(await values(cluster, 't', 0)).toEqual(['first', 'A']);
    expect(meta.offset).toBe(1n);
    // B was sent: the error says its records may have been written.
    expect(String((error as Error).message)).toMatch(/may or may not have been written/);

    // B's partition had no batch in flight left and no later acknowledgement: it starts over in a
    // new epoch at sequence 0; B was written (its answers were lost), and only once.
    await cluster.settle(producer.send('t', { value: 'C', partition: 1 }));
    expect(await values(cluster, 't', 1)).toEqual(['one', 'B', 'C']);
    const p1 = batchesOf(logOf(cluster, 't', 1));
    expect(p1.map((b) => [b.producerEpoch, b.baseSequence])).toEqual([
      [0, 0],
      [0, 1],
      [1, 0],
    ]);
    expect(new Set(p1.map((b) => b.producerId)).size).toBe(1);
    // Partition 0 kept its epoch until its batches settled, then moved to the new one as well.
    await cluster.settle(producer.send('t', { value: 'D', partition: 0 }));
    expect(batchesOf(logOf(cluster, 't', 0)).map((b) => [b.producerEpoch, b.baseSequence])).toEqual([
      [0, 0],
      [0, 1],
      [1, 0],
    ]);
    expect(warnings.map((w) => w.message)).toEqual(expect.arrayContaining(['idempotent producer failed a batch whose outcome is unknown', 'idempotent producer bumps its epoch']));
    await cluster.settle(cluster.stop());
  });
});
