import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { KafkaProtocolError } from '../../src/errors.ts';
import type { PartitionLog } from '../../src/log/partitionLog.ts';
import { decodeProducerSnapshot, encodeProducerSnapshot, NUM_BATCHES_TO_RETAIN, PRODUCER_ID_EXPIRATION_MS } from '../../src/log/producerState.ts';
import { incrementSequence } from '../../src/record/sequence.ts';
import { encodeRecordBatch } from '../../src/record/recordBatch.ts';
import { encodeTransactionMarker } from '../../src/record/controlRecords.ts';
import type { Storage } from '../../src/log/storage/storage.ts';
import { openLog, readAll, storageFixtures } from '../helpers/log.ts';

const enc = new TextEncoder();

/** A batch of `count` records from producer `pid` at `epoch`, starting at sequence `seq`. */
function idempotent(pid: bigint, epoch: number, seq: number, count = 1, options: { transactional?: boolean; timestamp?: number; tag?: string } = {}): Uint8Array {
  return encodeRecordBatch({
    producerId: pid,
    producerEpoch: epoch,
    baseSequence: seq,
    isTransactional: options.transactional ?? false,
    records: Array.from({ length: count }, (_, i) => ({ timestamp: options.timestamp ?? 1_000_000, key: enc.encode(`k${seq + i}`), value: enc.encode(`${options.tag ?? 'v'}${seq + i}`) })),
  });
}

function errorOf(f: () => unknown): KafkaProtocolError {
  try {
    f();
  } catch (e) {
    if (e instanceof KafkaProtocolError) return e;
    throw e;
  }
  throw new Error('expected a KafkaProtocolError');
}

describe('sequence arithmetic', () => {
  it('wraps at 2^31-1 to 0, as Kafka', () => {
    expect(incrementSequence(5, 3)).toBe(8);
    expect(incrementSequence(0x7fffffff, 1)).toBe(0);
    expect(incrementSequence(0x7ffffffe, 3)).toBe(1);
  });
});

describe.each(storageFixtures)('idempotent appends on $name storage', (fixture) => {
  let storage: Storage;
  let cleanup: () => void;
  let log: PartitionLog;
  beforeEach(() => {
    ({ storage, cleanup } = fixture.make());
    ({ log } = openLog(storage));
  });
  afterEach(() => cleanup());

  it('answers a retry of any of the last five batches with its original offsets and appends nothing', () => {
    const sent = Array.from({ length: 6 }, (_, i) => idempotent(7n, 0, i * 2, 2));
    const infos = sent.map((b) => log.append(b.slice()));
    expect(infos.map((i) => i.firstOffset)).toEqual([0n, 2n, 4n, 6n, 8n, 10n]);
    for (let i = 6 - NUM_BATCHES_TO_RETAIN; i < 6; i++) {
      const retry = log.append(sent[i]!.slice());
      expect(retry).toMatchObject({ duplicate: true, firstOffset: BigInt(i * 2), lastOffset: BigInt(i * 2 + 1), recordCount: 0 });
    }
    expect(log.logEndOffset).toBe(12n);
    expect(readAll(log).map((r) => r.value)).toEqual(Array.from({ length: 12 }, (_, i) => `v${i}`));
    // The oldest batch has left the window: its retry is out of order, not a duplicate.
    expect(errorOf(() => log.append(sent[0]!.slice())).code).toBe('OUT_OF_ORDER_SEQUENCE_NUMBER');
    expect(log.logEndOffset).toBe(12n);
  });

  it('refuses a sequence gap with OUT_OF_ORDER_SEQUENCE_NUMBER and writes nothing', () => {
    log.append(idempotent(1n, 0, 0, 3));
    const error = errorOf(() => log.append(idempotent(1n, 0, 4)));
    expect(error.code).toBe('OUT_OF_ORDER_SEQUENCE_NUMBER');
    expect(error.message).toContain('next expected is 3');
    expect(log.logEndOffset).toBe(3n);
    expect(log.append(idempotent(1n, 0, 3)).firstOffset).toBe(3n);
  });

  it('checks the batches of one append in order: a gap inside the append writes none of it', () => {
    const two = new Uint8Array([...idempotent(1n, 0, 0, 2), ...idempotent(1n, 0, 3)]);
    expect(errorOf(() => log.append(two)).code).toBe('OUT_OF_ORDER_SEQUENCE_NUMBER');
    expect(log.logEndOffset).toBe(0n);
    const ok = new Uint8Array([...idempotent(1n, 0, 0, 2), ...idempotent(1n, 0, 2)]);
    expect(log.append(ok)).toMatchObject({ firstOffset: 0n, lastOffset: 2n, batchCount: 2 });
  });

  it('refuses an older epoch with INVALID_PRODUCER_EPOCH; a newer epoch must start at sequence 0', () => {
    log.append(idempotent(1n, 3, 0));
    expect(errorOf(() => log.append(idempotent(1n, 2, 1))).code).toBe('INVALID_PRODUCER_EPOCH');
    expect(errorOf(() => log.append(idempotent(1n, 4, 5))).code).toBe('OUT_OF_ORDER_SEQUENCE_NUMBER');
    expect(log.append(idempotent(1n, 4, 0)).firstOffset).toBe(1n);
    // After the bump the old epoch is fenced.
    expect(errorOf(() => log.append(idempotent(1n, 3, 1))).code).toBe('INVALID_PRODUCER_EPOCH');
    expect(log.logEndOffset).toBe(2n);
  });

  it('accepts any first sequence from a producer it holds no state for', () => {
    expect(log.append(idempotent(9n, 0, 42)).firstOffset).toBe(0n);
    expect(log.append(idempotent(9n, 0, 43)).firstOffset).toBe(1n);
  });

  it('continues across the wrap of the sequence from 2^31-1 to 0', () => {
    log.append(idempotent(1n, 0, 0x7ffffffe, 2));
    expect(log.producerStates.get(1n)?.batches.at(-1)?.lastSeq).toBe(0x7fffffff);
    expect(log.append(idempotent(1n, 0, 0, 2)).firstOffset).toBe(2n);
    expect(errorOf(() => log.append(idempotent(1n, 0, 5))).code).toBe('OUT_OF_ORDER_SEQUENCE_NUMBER');
    // A batch spanning the wrap ends at a small sequence.
    log.append(idempotent(2n, 0, 0x7fffffff, 3));
    expect(log.producerStates.get(2n)?.batches.at(-1)).toMatchObject({ firstSeq: 0x7fffffff, lastSeq: 1 });
  });

  it('keeps producers apart and leaves batches without a producer id alone', () => {
    log.append(idempotent(1n, 0, 0));
    log.append(idempotent(2n, 0, 0));
    log.append(encodeRecordBatch({ records: [{ timestamp: 1, key: null, value: enc.encode('plain') }] }));
    log.append(encodeRecordBatch({ records: [{ timestamp: 1, key: null, value: enc.encode('plain') }] }));
    expect([...log.producerStates.keys()]).toEqual([1n, 2n]);
    expect(log.logEndOffset).toBe(4n);
  });

  it('rebuilds the state after a crash from the batches (no snapshot) and answers retries the same way', () => {
    const sent = [idempotent(5n, 1, 0, 2), idempotent(5n, 1, 2, 2)];
    for (const b of sent) log.append(b.slice());
    log.abandon();
    const reopened = openLog(storage).log;
    expect(reopened.append(sent[1]!.slice())).toMatchObject({ duplicate: true, firstOffset: 2n });
    expect(errorOf(() => reopened.append(idempotent(5n, 0, 4))).code).toBe('INVALID_PRODUCER_EPOCH');
    expect(reopened.append(idempotent(5n, 1, 4)).firstOffset).toBe(4n);
  });

  it('snapshots the state at every roll and on close, and replays only the batches after the newest snapshot', () => {
    ({ log } = openLog(storage, { 'segment.bytes': 300 }));
    const sent: Uint8Array[] = [];
    for (let i = 0; i < 12; i++) {
      const b = idempotent(BigInt(i % 3), 0, Math.floor(i / 3));
      sent.push(b.slice());
      log.append(b);
    }
    const snapshots = storage.list('topic-0').filter((f) => f.endsWith('.snapshot'));
    expect(snapshots.length).toBeGreaterThan(1);
    const before = [...log.producerStates.values()];
    log.abandon();
    const crashed = openLog(storage, { 'segment.bytes': 300 }).log;
    expect([...crashed.producerStates.values()]).toEqual(before);
    expect(crashed.append(sent[11]!.slice())).toMatchObject({ duplicate: true, firstOffset: 11n });
    return crashed.close().then(() => {
      const newest = storage.list('topic-0').filter((f) => f.endsWith('.snapshot')).sort().at(-1);
      expect(newest).toBe(`${'12'.padStart(20, '0')}.snapshot`);
      const clean = openLog(storage, { 'segment.bytes': 300 }).log;
      expect([...clean.producerStates.values()]).toEqual(before);
    });
  });

  it('ignores and deletes a damaged snapshot, rebuilding from the log instead', async () => {
    log.append(idempotent(1n, 0, 0));
    log.append(idempotent(1n, 0, 1));
    await log.close();
    const file = `topic-0/${'2'.padStart(20, '0')}.snapshot`;
    const bytes = storage.readFile(file);
    bytes[bytes.length - 1] = (bytes[bytes.length - 1] as number) ^ 0xff;
    storage.writeFileAtomic(file, bytes);
    const reopened = openLog(storage).log;
    expect(storage.exists(file)).toBe(false);
    expect(reopened.producerStates.get(1n)?.batches.map((b) => b.firstSeq)).toEqual([0, 1]);
  });

  it('follows truncation: batches cut from the log are forgotten, snapshots past the end deleted', () => {
    ({ log } = openLog(storage, { 'segment.bytes': 300 }));
    for (let i = 0; i < 8; i++) log.append(idempotent(1n, 0, i));
    log.truncateTo(3n);
    expect(log.producerStates.get(1n)?.batches.at(-1)?.lastSeq).toBe(2);
    for (const f of storage.list('topic-0').filter((n) => n.endsWith('.snapshot'))) expect(BigInt(f.slice(0, 20))).toBeLessThanOrEqual(3n);
    // The producer's next batch after the cut is sequence 3 again.
    expect(log.append(idempotent(1n, 0, 3)).firstOffset).toBe(3n);
    log.truncateFullyAndStartAt(100n);
    expect(log.producerStates.size).toBe(0);
  });

  it('copies the state along with replicated batches, so a follower that becomes leader deduplicates', () => {
    const leader = log;
    const follower = openLog(storage, {}, undefined, 'topic-0-follower').log;
    const sent = [idempotent(3n, 0, 0, 2), idempotent(3n, 0, 2)];
    for (const b of sent) {
      const copy = b.slice();
      leader.append(copy);
      follower.appendAsFollower(copy);
    }
    expect([...follower.producerStates.values()]).toEqual([...leader.producerStates.values()]);
    expect(follower.append(sent[1]!.slice())).toMatchObject({ duplicate: true, firstOffset: 2n });
  });

  it('forgets producers whose batches fall below the log start, and producers idle for producer.id.expiration.ms', () => {
    const { log: timed, clock } = openLog(storage, {}, undefined, 'timed-0');
    timed.append(idempotent(1n, 0, 0, 1, { timestamp: clock.now() }));
    timed.append(idempotent(2n, 0, 0, 1, { timestamp: clock.now() }));
    timed.deleteRecordsBefore(1n);
    expect([...timed.producerStates.keys()]).toEqual([2n]);
    clock.advance(PRODUCER_ID_EXPIRATION_MS - 1);
    expect(timed.removeExpiredProducers()).toBe(0);
    clock.advance(1);
    expect(timed.removeExpiredProducers()).toBe(1);
    // Forgotten: any sequence is accepted again.
    expect(timed.append(idempotent(2n, 0, 77)).firstOffset).toBe(2n);
  });

  it('tracks the first offset of an open transaction until its marker', () => {
    log.append(idempotent(4n, 0, 0));
    log.append(idempotent(4n, 0, 1, 2, { transactional: true }));
    log.append(idempotent(4n, 0, 3, 1, { transactional: true }));
    expect(log.producerStates.get(4n)?.currentTxnFirstOffset).toBe(1n);
    log.append(encodeTransactionMarker({ result: 'COMMIT', coordinatorEpoch: 0, producerId: 4n, producerEpoch: 0, timestamp: 1 }), { origin: 'coordinator' });
    expect(log.producerStates.get(4n)?.currentTxnFirstOffset).toBe(-1n);
    expect(log.producerStates.get(4n)?.batches.at(-1)?.lastSeq).toBe(3);
  });

  it('refuses a duplicate bundled with other batches rather than dropping them', () => {
    const first = idempotent(1n, 0, 0);
    log.append(first.slice());
    const bundle = new Uint8Array([...first, ...idempotent(1n, 0, 1)]);
    expect(() => log.append(bundle)).toThrow(/must be appended alone/);
    expect(log.logEndOffset).toBe(1n);
  });
});

describe('producer snapshots', () => {
  it('round-trip and reject truncation, another version and a bad CRC', () => {
    const entries = [
      { producerId: 1n, producerEpoch: 2, coordinatorEpoch: -1, currentTxnFirstOffset: -1n, lastTimestamp: 123, batches: [{ firstSeq: 0, lastSeq: 4, firstOffset: 10n, lastOffset: 14n, timestamp: 123 }] },
      { producerId: 99n, producerEpoch: 0, coordinatorEpoch: 5, currentTxnFirstOffset: 7n, lastTimestamp: 9, batches: [] },
    ];
    const bytes = encodeProducerSnapshot(entries);
    expect(decodeProducerSnapshot(bytes)).toEqual(entries);
    expect(decodeProducerSnapshot(bytes.subarray(0, bytes.length - 1))).toBeUndefined();
    const otherVersion = bytes.slice();
    otherVersion[1] = 9;
    expect(decodeProducerSnapshot(otherVersion)).toBeUndefined();
    const flipped = bytes.slice();
    flipped[20] = (flipped[20] as number) ^ 1;
    expect(decodeProducerSnapshot(flipped)).toBeUndefined();
  });
});
