/**
 * The transaction coordinator on its own, with a scripted host: which WriteTxnMarkers requests go
 * out, that every partition is asked again until it answers, and that a takeover waits for the
 * log it finds to be committed.
 */
import { describe, expect, it } from 'vitest';
import { TransactionCoordinator } from '../../../src/actors/txnCoordinator/txnCoordinator.ts';
import { InspectionSink } from '../../../src/actors/inspection.ts';
import { SimulatedClock } from '../../../src/clock.ts';
import type { Message } from '../../../src/transport/transport.ts';

interface Sent {
  readonly to: string;
  readonly message: Message;
}

/**
 * A coordinator owning the single `__transaction_state` partition, whose appends succeed at once;
 * its log is empty and committed unless `offsets` says otherwise.
 */
function coordinator(leaders: Record<string, number>, offsets = { logEndOffset: 0n, highWatermark: 0n }): { coordinator: TransactionCoordinator; sent: Sent[]; clock: SimulatedClock } {
  const clock = new SimulatedClock(1_000_000);
  const sent: Sent[] = [];
  let correlation = 1_000;
  const coordinator = new TransactionCoordinator({
    brokerId: 1,
    clock,
    inspection: new InspectionSink(),
    config: {},
    abortCheckIntervalMs: 10_000,
    expiryCheckIntervalMs: 3_600_000,
    send: (to, message) => void sent.push({ to, message }),
    appendState: (_partition, _records, done) => done(undefined),
    readState: () => [],
    stateOffsets: () => offsets,
    newProducerId: () => 7n,
    leaderOf: (topic, partition) => leaders[`${topic}-${partition}`] ?? -1,
    stateTopicPartitions: () => 1,
    offsetsPartitionFor: () => 0,
    nextCorrelationId: () => correlation++,
  });
  coordinator.load(0, 0);
  return { coordinator, sent, clock };
}

/** The coordinator's answer to the request with `correlationId`. */
function answer(sent: Sent[], correlationId: number): Message {
  const found = sent.find((s) => s.message.correlationId === correlationId && s.message.type.endsWith('.response'));
  if (found === undefined) throw new Error(`no answer to request ${correlationId}`);
  return found.message;
}

const markerRequests = (sent: Sent[], to: string): Message[] => sent.filter((s) => s.to === to && s.message.type === 'writeTxnMarkers.request').map((s) => s.message);

describe('transaction coordinator marker rounds', () => {
  it('asks a partition again after its failure even when the other request of the round answers last and succeeds', () => {
    const { coordinator: c, sent, clock } = coordinator({ 'a-0': 2, 'b-0': 3 });
    c.handle({ type: 'initProducerId.request', correlationId: 1, transactionalId: 't', transactionTimeoutMs: 60_000 }, 'client:p');
    const init = answer(sent, 1);
    expect(init.error).toBeUndefined();
    const ids = { producerId: init.producerId, producerEpoch: init.producerEpoch };
    c.handle({ type: 'addPartitionsToTxn.request', correlationId: 2, transactionalId: 't', ...ids, partitions: [{ topic: 'a', partition: 0 }, { topic: 'b', partition: 0 }] }, 'client:p');
    expect(answer(sent, 2).error).toBeUndefined();
    c.handle({ type: 'endTxn.request', correlationId: 3, transactionalId: 't', ...ids, committed: true }, 'client:p');
    expect(answer(sent, 3).error).toBeUndefined();
    const [toA] = markerRequests(sent, 'broker:2');
    const [toB] = markerRequests(sent, 'broker:3');
    expect(toA && toB).toBeTruthy();
    // b-0 is under min.insync.replicas; a-0's answer is slow.
    c.handle({ type: 'writeTxnMarkers.response', correlationId: toB?.correlationId, partitions: [{ topic: 'b', partition: 0, error: 'NOT_ENOUGH_REPLICAS' }] }, 'broker:3');
    clock.advance(150); // the round's retry comes due while a-0's request is still out
    expect(markerRequests(sent, 'broker:3')).toHaveLength(1);
    c.handle({ type: 'writeTxnMarkers.response', correlationId: toA?.correlationId, partitions: [{ topic: 'a', partition: 0 }] }, 'broker:2');
    clock.advance(150);
    const retries = markerRequests(sent, 'broker:3');
    expect(retries).toHaveLength(2);
    expect(retries[1]?.partitions).toEqual([{ topic: 'b', partition: 0 }]);
    // Once b-0 has its marker the transaction completes: the next InitProducerId is not refused.
    c.handle({ type: 'writeTxnMarkers.response', correlationId: retries[1]?.correlationId, partitions: [{ topic: 'b', partition: 0 }] }, 'broker:3');
    c.handle({ type: 'initProducerId.request', correlationId: 4, transactionalId: 't', transactionTimeoutMs: 60_000, ...ids }, 'client:p');
    expect(answer(sent, 4).error).toBeUndefined();
  });
});

describe('transaction coordinator takeover', () => {
  it('answers COORDINATOR_LOAD_IN_PROGRESS until everything in the log it found is committed', () => {
    const offsets = { logEndOffset: 3n, highWatermark: 1n };
    const { coordinator: c, sent, clock } = coordinator({}, offsets);
    c.handle({ type: 'initProducerId.request', correlationId: 1, transactionalId: 't', transactionTimeoutMs: 60_000 }, 'client:p');
    expect(answer(sent, 1).error).toBe('COORDINATOR_LOAD_IN_PROGRESS');
    // Records appended since the takeover do not move the line: it is the log end found then.
    offsets.logEndOffset = 5n;
    offsets.highWatermark = 3n;
    clock.advance(10);
    c.handle({ type: 'initProducerId.request', correlationId: 2, transactionalId: 't', transactionTimeoutMs: 60_000 }, 'client:p');
    expect(answer(sent, 2).error).toBeUndefined();
  });
});
