/**
 * The broker-hosted coordinator with a fake host: which GroupMetadata records it appends, that the
 * leader's SyncGroup is answered only after its record is stored, and how `load` rebuilds groups
 * from the last record of each.
 */
import { describe, expect, it } from 'vitest';
import { SimulatedClock } from '../../../src/clock.ts';
import { decodeRecordBatch, encodeRecordBatch, isTransactional } from '../../../src/record/recordBatch.ts';
import type { DecodedRecord } from '../../../src/record/recordBatch.ts';
import type { Message, NodeId } from '../../../src/transport/transport.ts';
import { InspectionSink } from '../../../src/actors/inspection.ts';
import { wireError } from '../../../src/protocol/index.ts';
import type { WireError } from '../../../src/protocol/index.ts';
import { GroupCoordinator } from '../../../src/actors/groupCoordinator/coordinator.ts';
import type { OffsetsLogEntry } from '../../../src/actors/groupCoordinator/coordinator.ts';
import type { GroupMetadata } from '../../../src/actors/groupCoordinator/groupMetadata.ts';
import { decodeGroupMetadataValue, decodeOffsetsTopicKey, encodeGroupMetadataKey, encodeGroupMetadataValue, encodeOffsetKey, encodeOffsetValue } from '../../../src/actors/groupCoordinator/offsetsTopic.ts';

const CLIENT = 'client:c' as NodeId;

/**
 * A coordinator over one offsets partition whose log is `log`; appends complete when `complete` is
 * called (or at once). The log is committed up to `committed.highWatermark` (all of it by default).
 */
function coordinatorOn(log: DecodedRecord[], options: { clock?: SimulatedClock; deferAppends?: boolean; committed?: { highWatermark: bigint } } = {}) {
  const clock = options.clock ?? new SimulatedClock(1_000);
  const sent: Message[] = [];
  const deferred: Array<(error: WireError | undefined) => void> = [];
  const coordinator = new GroupCoordinator({
    brokerId: 1,
    clock,
    inspection: new InspectionSink(),
    offsetsPartitions: 1,
    groupConfig: {},
    send: (_to, message) => sent.push(message),
    appendOffsets: (_partition, records, done) => {
      let offset = BigInt(log.length);
      for (const r of decodeRecordBatch(records).records) log.push({ ...r, offset: offset++ });
      if (options.deferAppends === true) deferred.push(done);
      else done(undefined);
    },
    readOffsets: () => log.map((record) => ({ kind: 'record' as const, record })),
    offsetsLogOffsets: () => ({ logEndOffset: BigInt(log.length), highWatermark: options.committed?.highWatermark ?? BigInt(log.length) }),
  });
  let correlationId = 1;
  const request = (message: Record<string, unknown> & { type: string }): Message | undefined => {
    const id = correlationId++;
    coordinator.handle({ ...message, correlationId: id, groupId: 'g' }, CLIENT);
    return sent.find((m) => m.correlationId === id);
  };
  const reply = (id: number): Message | undefined => sent.find((m) => m.correlationId === id);
  return { clock, coordinator, sent, deferred, request, reply, nextId: () => correlationId };
}

function groupRecords(log: readonly DecodedRecord[]): Array<GroupMetadata | null> {
  return log.filter((r) => r.key !== null && decodeOffsetsTopicKey(r.key)?.kind === 'group').map((r) => (r.value === null ? null : decodeGroupMetadataValue(r.value, 'g')));
}

function record(key: Uint8Array, value: Uint8Array | null, offset: number): DecodedRecord {
  return decodeRecordBatch(encodeRecordBatch({ records: [{ timestamp: 0, key, value }] })).records.map((r) => ({ ...r, offset: BigInt(offset) }))[0] as DecodedRecord;
}

const join = { type: 'joinGroup.request', clientId: 'c', sessionTimeoutMs: 10_000, rebalanceTimeoutMs: 60_000, protocolType: 'consumer', protocols: [{ name: 'range', metadata: { topics: ['t'] } }] };

/** One member joins and is elected leader of generation 1; returns its id. */
function joinAlone(c: ReturnType<typeof coordinatorOn>): string {
  const first = c.request({ ...join, memberId: '' }) as Message & { memberId: string };
  const id = c.nextId();
  c.request({ ...join, memberId: first.memberId });
  c.clock.advance(3_000);
  expect(c.reply(id)).toMatchObject({ errorCode: 0, generationId: 1, leader: first.memberId });
  return first.memberId;
}

describe('group coordinator: GroupMetadata records', () => {
  it('answers the leader’s SyncGroup only after the record is stored; a reloaded coordinator has the group Stable in that generation', () => {
    const log: DecodedRecord[] = [];
    const c = coordinatorOn(log, { deferAppends: true });
    c.coordinator.load(0);
    const member = joinAlone(c);
    const syncId = c.nextId();
    c.request({ type: 'syncGroup.request', memberId: member, generationId: 1, assignments: [{ memberId: member, assignment: [{ topic: 't', partition: 0 }] }] });
    expect(c.reply(syncId)).toBeUndefined();
    expect(groupRecords(log)).toEqual([{ groupId: 'g', protocolType: 'consumer', generation: 1, protocol: 'range', leader: member, currentStateTimestamp: 4_000, members: [{ memberId: member, groupInstanceId: null, clientId: 'c', clientHost: '', rebalanceTimeout: 60_000, sessionTimeout: 10_000, subscription: { topics: ['t'] }, assignment: [{ topic: 't', partition: 0 }] }] }]);
    c.deferred.shift()?.(undefined);
    expect(c.reply(syncId)).toMatchObject({ type: 'syncGroup.response', errorCode: 0, assignment: [{ topic: 't', partition: 0 }] });

    // A new coordinator (the broker restarted) loads the partition: same generation, same member.
    c.coordinator.stop();
    const clock = new SimulatedClock(50_000);
    const again = coordinatorOn(log, { clock });
    again.coordinator.load(0);
    expect(again.request({ type: 'listGroups.request' })).toMatchObject({ groups: [{ groupId: 'g', state: 'Stable' }] });
    expect(again.request({ type: 'heartbeat.request', memberId: member, generationId: 1 })).toMatchObject({ errorCode: 0 });
    expect(again.request({ type: 'syncGroup.request', memberId: member, generationId: 1, assignments: [] })).toMatchObject({ errorCode: 0, assignment: [{ topic: 't', partition: 0 }] });
    // The member's session restarted at the heartbeat; without further heartbeats it expires 10 s later and the group empties.
    clock.advance(10_000);
    expect(again.request({ type: 'listGroups.request' })).toMatchObject({ groups: [{ groupId: 'g', state: 'Empty' }] });
    expect(groupRecords(log).at(-1)).toMatchObject({ generation: 2, protocol: null, leader: null, members: [] });
  });

  it('answers the parked SyncGroup with NOT_COORDINATOR when the append fails', () => {
    const c = coordinatorOn([], { deferAppends: true });
    c.coordinator.load(0);
    const member = joinAlone(c);
    const syncId = c.nextId();
    c.request({ type: 'syncGroup.request', memberId: member, generationId: 1, assignments: [{ memberId: member, assignment: [] }] });
    c.deferred.shift()?.(wireError('NOT_LEADER_OR_FOLLOWER'));
    expect(c.reply(syncId)).toMatchObject({ errorCode: 16, error: 'NOT_COORDINATOR' });
    expect(c.request({ type: 'listGroups.request' })).toMatchObject({ groups: [{ groupId: 'g', state: 'PreparingRebalance' }] });
  });

  it('loads each group from its last record; a tombstone deletes the group, offsets stay', () => {
    const stable = (generation: number, memberId: string): GroupMetadata => ({
      groupId: 'x',
      protocolType: 'consumer',
      generation,
      protocol: 'range',
      leader: memberId,
      members: [{ memberId, groupInstanceId: null, clientId: 'c', clientHost: '', rebalanceTimeout: 60_000, sessionTimeout: 10_000, subscription: null, assignment: [] }],
    });
    const log = [
      record(encodeGroupMetadataKey('g'), encodeGroupMetadataValue(stable(1, 'm1'), 0), 0),
      record(encodeOffsetKey({ group: 'g', topic: 't', partition: 0 }), encodeOffsetValue({ offset: 5n, leaderEpoch: -1, metadata: '', commitTimestamp: 0 }), 1),
      record(encodeGroupMetadataKey('g'), encodeGroupMetadataValue(stable(2, 'm2'), 0), 2),
      record(encodeGroupMetadataKey('gone'), encodeGroupMetadataValue(stable(3, 'm3'), 0), 3),
      record(encodeGroupMetadataKey('gone'), null, 4),
      record(encodeGroupMetadataKey('idle'), encodeGroupMetadataValue({ groupId: 'idle', protocolType: 'consumer', generation: 6, protocol: null, leader: null, members: [] }, 0), 5),
    ];
    const c = coordinatorOn(log);
    c.coordinator.load(0);
    expect(c.request({ type: 'listGroups.request' })).toMatchObject({ groups: [{ groupId: 'g', state: 'Stable' }, { groupId: 'idle', state: 'Empty' }] });
    expect(c.request({ type: 'heartbeat.request', memberId: 'm2', generationId: 2 })).toMatchObject({ errorCode: 0 });
    expect(c.request({ type: 'heartbeat.request', memberId: 'm1', generationId: 1 })).toMatchObject({ error: 'UNKNOWN_MEMBER_ID' });
    expect(c.request({ type: 'offsetFetch.request', partitions: [{ topic: 't', partition: 0 }] })).toMatchObject({ partitions: [{ offset: 5n }] });
  });

  it('answers COORDINATOR_LOAD_IN_PROGRESS after a takeover until the log it found is committed, then loads it', () => {
    // The new leader's log ends with a commit its predecessor never got replicated: offset 9.
    const log = [
      record(encodeOffsetKey({ group: 'g', topic: 't', partition: 0 }), encodeOffsetValue({ offset: 5n, leaderEpoch: -1, metadata: '', commitTimestamp: 0 }), 0),
      record(encodeOffsetKey({ group: 'g', topic: 't', partition: 0 }), encodeOffsetValue({ offset: 9n, leaderEpoch: -1, metadata: '', commitTimestamp: 0 }), 1),
    ];
    const committed = { highWatermark: 1n };
    const c = coordinatorOn(log, { committed });
    c.coordinator.load(0);
    for (const message of [{ type: 'offsetFetch.request', partitions: [{ topic: 't', partition: 0 }] }, join, { type: 'offsetCommit.request', memberId: '', generationId: -1, partitions: [{ topic: 't', partition: 0, offset: 7n }] }]) {
      expect(c.request(message)).toMatchObject({ error: 'COORDINATOR_LOAD_IN_PROGRESS', errorCode: 14 });
    }
    // Nothing was written meanwhile, and loading again while loading changes nothing.
    expect(log).toHaveLength(2);
    c.coordinator.load(0);
    c.clock.advance(1_000);
    expect(c.request({ type: 'offsetFetch.request', partitions: [{ topic: 't', partition: 0 }] })).toMatchObject({ error: 'COORDINATOR_LOAD_IN_PROGRESS' });
    // The followers catch up: the tail is committed, and the coordinator loads the whole log.
    committed.highWatermark = 2n;
    c.clock.advance(10);
    expect(c.request({ type: 'offsetFetch.request', partitions: [{ topic: 't', partition: 0 }] })).toMatchObject({ partitions: [{ offset: 9n }] });
  });

  it('answers parked JoinGroups and SyncGroups with NOT_COORDINATOR when it gives the partition up (Kafka onGroupUnloaded)', () => {
    // A JoinGroup parked in the initial rebalance delay.
    const c = coordinatorOn([]);
    c.coordinator.load(0);
    const first = c.request({ ...join, memberId: '' }) as Message & { memberId: string };
    const joinId = c.nextId();
    c.request({ ...join, memberId: first.memberId });
    expect(c.reply(joinId)).toBeUndefined();
    c.coordinator.unload(0);
    expect(c.reply(joinId)).toMatchObject({ type: 'joinGroup.response', error: 'NOT_COORDINATOR', generationId: -1 });

    // The leader's SyncGroup parked until its GroupMetadata record is stored.
    const d = coordinatorOn([], { deferAppends: true });
    d.coordinator.load(0);
    const member = joinAlone(d);
    const syncId = d.nextId();
    d.request({ type: 'syncGroup.request', memberId: member, generationId: 1, assignments: [{ memberId: member, assignment: [] }] });
    expect(d.reply(syncId)).toBeUndefined();
    d.coordinator.unload(0);
    expect(d.reply(syncId)).toMatchObject({ type: 'syncGroup.response', error: 'NOT_COORDINATOR', assignment: null });
    // The append that completes afterwards answers nobody twice.
    d.deferred.shift()?.(undefined);
    expect(d.sent.filter((m) => m.correlationId === syncId)).toHaveLength(1);
  });

  it('stops waiting for a partition it gives up while loading', () => {
    const log = [record(encodeOffsetKey({ group: 'g', topic: 't', partition: 0 }), encodeOffsetValue({ offset: 5n, leaderEpoch: -1, metadata: '', commitTimestamp: 0 }), 0)];
    const committed = { highWatermark: 0n };
    const c = coordinatorOn(log, { committed });
    c.coordinator.load(0);
    c.coordinator.unload(0);
    committed.highWatermark = 1n;
    c.clock.advance(100);
    expect(c.request({ type: 'offsetFetch.request', partitions: [{ topic: 't', partition: 0 }] })).toMatchObject({ error: 'NOT_COORDINATOR' });
  });
});

describe('group coordinator: transactional offsets (TxnOffsetCommit, KIP-98/KIP-447)', () => {
  /** A coordinator whose offsets log keeps batch-level entries, as the broker replays them. */
  function txnCoordinator(entries: OffsetsLogEntry[]) {
    const clock = new SimulatedClock(1_000);
    const sent: Message[] = [];
    const coordinator = new GroupCoordinator({
      brokerId: 1,
      clock,
      inspection: new InspectionSink(),
      offsetsPartitions: 1,
      groupConfig: {},
      send: (_to, message) => sent.push(message),
      appendOffsets: (_partition, records, done) => {
        const batch = decodeRecordBatch(records);
        for (const r of batch.records) entries.push({ kind: 'record', record: r, ...(isTransactional(batch.header) ? { transactionalProducerId: batch.header.producerId } : {}) });
        done(undefined);
      },
      readOffsets: () => [...entries],
      offsetsLogOffsets: () => ({ logEndOffset: BigInt(entries.length), highWatermark: BigInt(entries.length) }),
    });
    let correlationId = 1;
    const request = (message: Record<string, unknown> & { type: string }): Message | undefined => {
      const id = correlationId++;
      coordinator.handle({ groupId: 'g', ...message, correlationId: id }, CLIENT);
      return sent.find((m) => m.correlationId === id);
    };
    return { clock, coordinator, request, nextId: () => correlationId, reply: (id: number) => sent.find((m) => m.correlationId === id) };
  }
  const tp = [{ topic: 't', partition: 0 }];
  const fetch = (c: ReturnType<typeof txnCoordinator>, requireStable: boolean): unknown => (c.request({ type: 'offsetFetch.request', partitions: tp, requireStable }) as unknown as { partitions: unknown[] }).partitions[0];

  it('keeps a transaction’s offsets pending until its marker: invisible, UNSTABLE_OFFSET_COMMIT for require_stable, then committed or dropped', () => {
    const entries: OffsetsLogEntry[] = [];
    const c = txnCoordinator(entries);
    c.coordinator.load(0);
    expect(c.request({ type: 'offsetCommit.request', memberId: '', generationId: -1, partitions: [{ topic: 't', partition: 0, offset: 3n }] })).toMatchObject({ partitions: [{ topic: 't', partition: 0 }] });
    expect(c.request({ type: 'txnOffsetCommit.request', transactionalId: 'tx', producerId: 7n, producerEpoch: 0, memberId: '', generationId: -1, partitions: [{ topic: 't', partition: 0, offset: 10n }] })).toMatchObject({ type: 'txnOffsetCommit.response', partitions: [{ topic: 't', partition: 0 }] });
    expect(fetch(c, false)).toMatchObject({ offset: 3n });
    expect(fetch(c, true)).toMatchObject({ error: 'UNSTABLE_OFFSET_COMMIT', errorCode: 88 });
    c.coordinator.completeTransaction(0, 7n, false);
    expect(fetch(c, true)).toMatchObject({ offset: 3n });
    c.request({ type: 'txnOffsetCommit.request', transactionalId: 'tx', producerId: 7n, producerEpoch: 1, memberId: '', generationId: -1, partitions: [{ topic: 't', partition: 0, offset: 12n }] });
    c.coordinator.completeTransaction(0, 7n, true);
    expect(fetch(c, true)).toMatchObject({ offset: 12n });
  });

  it('replays pending and settled transactional offsets from the log after a failover', () => {
    const entries: OffsetsLogEntry[] = [];
    const c = txnCoordinator(entries);
    c.coordinator.load(0);
    c.request({ type: 'txnOffsetCommit.request', producerId: 1n, producerEpoch: 0, memberId: '', generationId: -1, partitions: [{ topic: 't', partition: 0, offset: 5n }] });
    entries.push({ kind: 'marker', producerId: 1n, commit: true });
    c.request({ type: 'txnOffsetCommit.request', producerId: 2n, producerEpoch: 0, memberId: '', generationId: -1, partitions: [{ topic: 't', partition: 0, offset: 9n }] });
    entries.push({ kind: 'marker', producerId: 2n, commit: false });
    c.request({ type: 'txnOffsetCommit.request', producerId: 3n, producerEpoch: 0, memberId: '', generationId: -1, partitions: [{ topic: 't', partition: 0, offset: 11n }] });
    const again = txnCoordinator(entries);
    again.coordinator.load(0);
    expect(fetch(again, false)).toMatchObject({ offset: 5n });
    expect(fetch(again, true)).toMatchObject({ error: 'UNSTABLE_OFFSET_COMMIT' });
    again.coordinator.completeTransaction(0, 3n, true);
    expect(fetch(again, true)).toMatchObject({ offset: 11n });
  });

  it('fences a zombie: a TxnOffsetCommit from an older generation gets ILLEGAL_GENERATION and stores nothing (KIP-447)', () => {
    const entries: OffsetsLogEntry[] = [];
    const c = txnCoordinator(entries);
    c.coordinator.load(0);
    const first = c.request({ ...join, memberId: '' }) as Message & { memberId: string };
    const id = c.nextId();
    c.request({ ...join, memberId: first.memberId });
    c.clock.advance(3_000);
    expect(c.reply(id)).toMatchObject({ generationId: 1 });
    c.request({ type: 'syncGroup.request', memberId: first.memberId, generationId: 1, assignments: [{ memberId: first.memberId, assignment: tp }] });
    const before = entries.length;
    expect(c.request({ type: 'txnOffsetCommit.request', producerId: 4n, producerEpoch: 0, memberId: first.memberId, generationId: 0, partitions: [{ topic: 't', partition: 0, offset: 8n }] })).toMatchObject({ error: 'ILLEGAL_GENERATION' });
    expect(c.request({ type: 'txnOffsetCommit.request', producerId: 4n, producerEpoch: 0, memberId: 'someone-else', generationId: 1, partitions: [{ topic: 't', partition: 0, offset: 8n }] })).toMatchObject({ error: 'UNKNOWN_MEMBER_ID' });
    expect(entries.length).toBe(before);
    expect(c.request({ type: 'txnOffsetCommit.request', producerId: 4n, producerEpoch: 0, memberId: first.memberId, generationId: 1, partitions: [{ topic: 't', partition: 0, offset: 8n }] })).toMatchObject({ partitions: [{ topic: 't', partition: 0 }] });
    expect(entries.at(-1)).toMatchObject({ kind: 'record', transactionalProducerId: 4n });
  });
});
