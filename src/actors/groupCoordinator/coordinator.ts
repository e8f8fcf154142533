/**
 * The group coordinator hosted by a broker: for every `__consumer_offsets` partition this broker
 * leads, it runs one {@link groupMachine} actor per group and keeps the committed offsets, which
 * it stores as records in that partition (durable before a commit is acknowledged) and reloads
 * from it when it takes over the partition, once the log it finds there is committed — after a
 * restart, offsets are exactly as committed.
 *
 * Transactional offset commits (TxnOffsetCommit, KIP-98 and KIP-447) are validated against the
 * member and generation, written as a transactional batch of the producer, and kept pending —
 * visible to nobody — until the transaction's marker reaches the partition: COMMIT makes them the
 * committed offsets, ABORT drops them. OffsetFetch with `requireStable` answers
 * UNSTABLE_OFFSET_COMMIT for a partition while any such offsets are pending.
 *
 * Group metadata is stored there too, as Kafka does: a GroupMetadata record when a generation
 * completes (the leader's SyncGroup is answered only once it is written), when the group becomes
 * Empty, and a tombstone when it is deleted. Taking over the partition rebuilds every group from
 * its last record: a Stable group comes back Stable in the same generation with its members and
 * assignments (each member's session timer restarting at the load), an Empty group comes back
 * Empty with its generation.
 */
import type { Actor } from 'xstate';
import type { Clock } from '../../clock.ts';
import { coordinatorAppendError } from '../../coordinatorAppendErrors.ts';
import type { KafkaErrorName } from '../../errors.ts';
import { encodeRecordBatch } from '../../record/recordBatch.ts';
import type { DecodedRecord } from '../../record/recordBatch.ts';
import type { Message, NodeId } from '../../transport/transport.ts';
import { KeyedHost } from '../coordination/keyedHost.ts';
import type { PartitionOffsets } from '../coordination/pendingLoads.ts';
import type { InspectionSink } from '../inspection.ts';
import { wireError } from '../../protocol/index.ts';
import type { WireError } from '../../protocol/index.ts';
import { groupMachine } from './group.machine.ts';
import type { GroupEmitted, GroupMetadataChangedEvent } from './group.events.ts';
import type { GroupMetadata } from './groupMetadata.ts';
import type { GroupCoordinatorConfig } from './groupState.ts';
import { decodeGroupMetadataValue, decodeOffsetValue, decodeOffsetsTopicKey, encodeGroupMetadataKey, encodeGroupMetadataValue, encodeOffsetKey, encodeOffsetValue, offsetsPartitionFor } from './offsetsTopic.ts';
import type { OffsetCommitValue } from './offsetsTopic.ts';
import { toWire } from '../../protocol/index.ts';

/** What the coordinator needs from its broker. */
export interface CoordinatorHost {
  readonly brokerId: number;
  readonly clock: Clock;
  readonly inspection: InspectionSink;
  readonly offsetsPartitions: number;
  readonly groupConfig: Partial<GroupCoordinatorConfig>;
  send(to: NodeId, message: Message): void;
  /**
   * Appends record batches to a local `__consumer_offsets` partition this broker leads and calls
   * `done` with the append's error, if any, as soon as the append completes (synchronously when
   * it can), so the offsets cache changes before the next request is handled. The coordinator
   * answers Kafka's mapping of that error (`coordinatorAppendErrors.ts`); an error already mapped
   * passes through unchanged.
   */
  appendOffsets(partition: number, records: Uint8Array, done: (error: WireError | undefined) => void): void;
  /** Every entry of a local `__consumer_offsets` partition, oldest first. */
  readOffsets(partition: number): Iterable<OffsetsLogEntry>;
  /** Log end and high watermark of a local `__consumer_offsets` partition. */
  offsetsLogOffsets(partition: number): PartitionOffsets;
}

/** One entry of the offsets log as the coordinator replays it. */
export type OffsetsLogEntry =
  /** A record, with the producer of its batch when the batch is transactional. */
  | { readonly kind: 'record'; readonly record: DecodedRecord; readonly transactionalProducerId?: bigint }
  /** A transaction marker (control batch) of a producer. */
  | { readonly kind: 'marker'; readonly producerId: bigint; readonly commit: boolean };

interface PendingCommit {
  readonly from: NodeId;
  readonly message: Message;
}

/** Offsets a transaction wrote and that wait for its marker, per producer id, by `topic\0partition`. */
type PendingTxnOffsets = Map<bigint, Map<string, OffsetCommitValue>>;

type GroupRequestMessage = Message & { groupId: string };

const GROUP_REQUESTS = new Set(['joinGroup.request', 'syncGroup.request', 'heartbeat.request', 'leaveGroup.request', 'describeGroup.request']);

/**
 * Coordinator for the groups whose offsets partitions this broker leads: a {@link KeyedHost} of
 * group actors over `__consumer_offsets`, with the committed offsets kept beside them.
 */
export class GroupCoordinator {
  /** The group actors, per group id, and the offsets partitions held or being taken over. */
  private readonly keyed: KeyedHost<typeof groupMachine, OffsetsLogEntry>;
  private readonly offsets = new Map<string, Map<string, OffsetCommitValue>>();
  /** Per group: transactional offsets not yet committed or aborted. */
  private readonly pendingTxn = new Map<string, PendingTxnOffsets>();
  private readonly pendingCommits = new Map<number, PendingCommit>();
  private nextInternalId = 1;
  private memberIdSeed: number;

  constructor(private readonly host: CoordinatorHost) {
    this.memberIdSeed = host.brokerId * 1_000_003;
    this.keyed = new KeyedHost({
      logic: groupMachine,
      clock: host.clock,
      inspection: host.inspection,
      partitions: {
        append: (partition, records, done) => host.appendOffsets(partition, records, done),
        read: (partition) => host.readOffsets(partition),
        offsets: (partition) => host.offsetsLogOffsets(partition),
      },
      partitionOf: (groupId) => this.partitionFor(groupId),
      actorId: (groupId) => `group:${groupId}@broker:${host.brokerId}`,
      replay: (partition, _epoch, entries) => this.replay(partition, entries),
      onEmitted: (groupId, actor, event) => this.onGroupEvent(groupId, actor, event),
      onUnload: (partition) => this.dropPartition(partition),
      // Kafka's onGroupUnloaded: parked JoinGroups and SyncGroups learn NOT_COORDINATOR now, not at their timeout.
      onResign: (_groupId, actor) => actor.send({ type: 'group.unload' }),
    });
  }

  /** Whether `message` is one the coordinator answers. */
  static handles(type: string): boolean {
    return GROUP_REQUESTS.has(type) || type === 'offsetCommit.request' || type === 'txnOffsetCommit.request' || type === 'offsetFetch.request' || type === 'listGroups.request';
  }

  /** The offsets partition of a group. */
  partitionFor(groupId: string): number {
    return offsetsPartitionFor(groupId, this.host.offsetsPartitions);
  }

  /**
   * Takes over an offsets partition: once everything in its log at this moment is committed,
   * loads its committed offsets and rebuilds its groups from the last GroupMetadata record of each
   * (a tombstone means the group was deleted). A new leader's tail may hold records its
   * predecessor wrote but never got replicated (and never acknowledged), which a later failover
   * can still cut off: answering OffsetFetch from one would hand out an offset the group may
   * lose again. Until then requests get COORDINATOR_LOAD_IN_PROGRESS, as Kafka answers while it
   * loads. Loaded groups start when loaded, so their members' session timers run from then.
   */
  load(partition: number): void {
    this.keyed.load(partition, true);
  }

  private replay(partition: number, entries: Iterable<OffsetsLogEntry>): void {
    const groups = new Map<string, GroupMetadata | null>();
    /** Groups with pending offsets, per producer id, to settle when its marker comes. */
    const pendingGroups = new Map<bigint, Set<string>>();
    for (const entry of entries) {
      if (entry.kind === 'marker') {
        for (const groupId of pendingGroups.get(entry.producerId) ?? []) this.settlePending(groupId, entry.producerId, entry.commit);
        pendingGroups.delete(entry.producerId);
        continue;
      }
      const record = entry.record;
      if (record.key === null) continue;
      const key = decodeOffsetsTopicKey(record.key);
      if (key === undefined) continue;
      if (key.kind === 'group') {
        groups.set(key.group, record.value === null ? null : decodeGroupMetadataValue(record.value, key.group));
        continue;
      }
      const k = `${key.topic}\u0000${key.partition}`;
      if (entry.transactionalProducerId !== undefined) {
        if (record.value === null) continue;
        this.pendingOf(key.group, entry.transactionalProducerId).set(k, decodeOffsetValue(record.value));
        let set = pendingGroups.get(entry.transactionalProducerId);
        if (set === undefined) pendingGroups.set(entry.transactionalProducerId, (set = new Set()));
        set.add(key.group);
        continue;
      }
      const group = this.groupOffsets(key.group);
      if (record.value === null) group.delete(k);
      else group.set(k, decodeOffsetValue(record.value));
    }
    for (const [groupId, metadata] of groups) {
      if (metadata !== null && this.keyed.actorOf(groupId) === undefined) this.group(groupId, metadata);
    }
    // A group with offsets but no GroupMetadata record (it only ever committed, never joined) is
    // loaded Empty, so ListGroups still reports it (Kafka's GroupMetadataManager: emptyGroupOffsets).
    for (const [groupId, offsets] of this.offsets) {
      if (offsets.size > 0 && !groups.has(groupId) && this.keyed.actorOf(groupId) === undefined && this.partitionFor(groupId) === partition) this.group(groupId);
    }
  }

  /** Gives up an offsets partition (leadership moved or the broker stops): its groups go away here. */
  unload(partition: number): void {
    this.keyed.unload(partition);
  }

  /** The offsets of a partition given up go with its groups. */
  private dropPartition(partition: number): void {
    for (const groupId of [...this.offsets.keys()]) {
      if (this.partitionFor(groupId) === partition) this.offsets.delete(groupId);
    }
    for (const groupId of [...this.pendingTxn.keys()]) {
      if (this.partitionFor(groupId) === partition) this.pendingTxn.delete(groupId);
    }
  }

  /**
   * A transaction marker of `producerId` was written to offsets partition `partition` (Kafka's
   * `handleTxnCompletion`): its pending offsets there become committed (COMMIT) or are dropped.
   */
  completeTransaction(partition: number, producerId: bigint, commit: boolean): void {
    if (this.keyed.epochOf(partition) === undefined) return;
    for (const groupId of [...this.pendingTxn.keys()]) {
      if (this.partitionFor(groupId) === partition) this.settlePending(groupId, producerId, commit);
    }
  }

  private settlePending(groupId: string, producerId: bigint, commit: boolean): void {
    const byProducer = this.pendingTxn.get(groupId);
    const pending = byProducer?.get(producerId);
    if (byProducer === undefined || pending === undefined) return;
    byProducer.delete(producerId);
    if (byProducer.size === 0) this.pendingTxn.delete(groupId);
    if (!commit) return;
    const stored = this.groupOffsets(groupId);
    for (const [k, value] of pending) stored.set(k, value);
  }

  private pendingOf(groupId: string, producerId: bigint): Map<string, OffsetCommitValue> {
    let byProducer = this.pendingTxn.get(groupId);
    if (byProducer === undefined) this.pendingTxn.set(groupId, (byProducer = new Map()));
    let pending = byProducer.get(producerId);
    if (pending === undefined) byProducer.set(producerId, (pending = new Map()));
    return pending;
  }

  /** Whether a transaction's offsets for this partition of the group wait for their marker. */
  private hasPending(groupId: string, key: string): boolean {
    for (const pending of this.pendingTxn.get(groupId)?.values() ?? []) if (pending.has(key)) return true;
    return false;
  }

  /** Stops every group actor. */
  stop(): void {
    this.keyed.stop();
    this.offsets.clear();
  }

  /** Handles one coordinator request from `from`. */
  handle(message: Message, from: NodeId): void {
    const reply = (body: Record<string, unknown>): void => this.host.send(from, { type: message.type.replace(/\.request$/, '.response'), correlationId: message.correlationId, ...body } as Message);
    if (message.type === 'listGroups.request') {
      reply({ groups: this.keyed.entries().map(([groupId, actor]) => ({ groupId, state: stateName(actor), protocolType: 'consumer' })) });
      return;
    }
    const groupId = (message as GroupRequestMessage).groupId;
    if (typeof groupId !== 'string' || groupId.length === 0) {
      reply({ ...wireError('INVALID_GROUP_ID', `group id must be a non-empty string, got ${JSON.stringify(groupId)}`) });
      return;
    }
    const ownership = this.keyed.ownership(groupId);
    if (ownership.status === 'loading') {
      reply({ ...wireError('COORDINATOR_LOAD_IN_PROGRESS', `broker ${this.host.brokerId} is loading the groups of __consumer_offsets-${ownership.partition}; retry shortly`) });
      return;
    }
    if (ownership.status === 'elsewhere') {
      reply({ ...wireError('NOT_COORDINATOR', `broker ${this.host.brokerId} is not the coordinator of group "${groupId}"`) });
      return;
    }
    if (GROUP_REQUESTS.has(message.type)) {
      this.group(groupId).send({ ...(message as object), replyTo: from } as never);
      return;
    }
    if (message.type === 'offsetFetch.request') {
      const stored = this.offsets.get(groupId);
      const wanted = (message.partitions as Array<{ topic: string; partition: number }> | undefined) ?? [...(stored?.keys() ?? [])].map((k) => ({ topic: k.split('\u0000')[0] as string, partition: Number(k.split('\u0000')[1]) }));
      const requireStable = message.requireStable === true;
      reply({
        partitions: wanted.map((tp) => {
          const k = `${tp.topic}\u0000${tp.partition}`;
          // KIP-447: a new owner must not start from offsets a transaction is about to replace.
          if (requireStable && this.hasPending(groupId, k)) return { topic: tp.topic, partition: tp.partition, offset: -1n, metadata: '', ...wireError('UNSTABLE_OFFSET_COMMIT', `group "${groupId}" has offsets for ${tp.topic}-${tp.partition} in a transaction not yet committed or aborted; retry shortly`) };
          return { topic: tp.topic, partition: tp.partition, offset: stored?.get(k)?.offset ?? -1n, metadata: stored?.get(k)?.metadata ?? '' };
        }),
      });
      return;
    }
    // offsetCommit / txnOffsetCommit: the group validates member and generation, then the offsets are appended.
    const internalId = this.nextInternalId++;
    this.pendingCommits.set(internalId, { from, message });
    this.group(groupId).send({ type: 'offsetCommit.validate', correlationId: internalId, replyTo: `@internal:${groupId}`, memberId: (message.memberId as string | undefined) ?? '', generationId: (message.generationId as number | undefined) ?? -1, ...(message.groupInstanceId === undefined || message.groupInstanceId === null ? {} : { groupInstanceId: message.groupInstanceId as string }), ...(message.type === 'txnOffsetCommit.request' ? { transactional: true } : {}) });
  }

  /** The group's actor, created on first use (new and Empty) or, with `restore`, as loaded from its record. */
  private group(groupId: string, restore?: GroupMetadata): Actor<typeof groupMachine> {
    return this.keyed.actorFor(groupId, () => ({ groupId, config: this.host.groupConfig, memberIdSeed: this.memberIdSeed++, ...(restore === undefined ? {} : { restore }) }));
  }

  /**
   * Appends the group's GroupMetadata record (or tombstone) to its offsets partition. When the
   * group waits for it (the leader's SyncGroup), it is told the outcome (the append's own error:
   * the group answers Kafka's mapping of it), unless it was unloaded or replaced in the meantime.
   */
  private persist(groupId: string, actor: Actor<typeof groupMachine>, event: GroupMetadataChangedEvent): void {
    const now = this.host.clock.now();
    const metadata = event.metadata;
    const batch = encodeRecordBatch({ records: [{ timestamp: now, key: encodeGroupMetadataKey(groupId), value: metadata === null ? null : encodeGroupMetadataValue(metadata, now) }] });
    this.keyed.appendFor(groupId, actor, batch, (failure) => {
      if (!event.awaitsStore || metadata === null) return;
      actor.send({ type: 'group.metadataStored', generationId: metadata.generation, ...(failure === undefined ? {} : { error: failure.error }) });
    });
  }

  private onGroupEvent(groupId: string, actor: Actor<typeof groupMachine>, event: GroupEmitted): void {
    if (event.type === 'group.metadataChanged') {
      this.persist(groupId, actor, event);
      return;
    }
    if (event.type !== 'response') {
      this.host.inspection.notify(event as never);
      return;
    }
    const { to, response } = event;
    // The group's answers to the host's own commands stay here: the validation of an offset
    // commit (replyTo `@internal:<group>`), and group deletion, which no served API asks for yet.
    // Every other response goes to the requester's address, as `handle` set it.
    if (response.type === 'group.deleteResponse') return;
    if (response.type !== 'offsetCommit.validateResponse') {
      this.host.send(to as NodeId, toWire(response));
      return;
    }
    if (!to.startsWith('@internal:')) return;
    const pending = this.pendingCommits.get(response.correlationId as number);
    if (pending === undefined) return;
    this.pendingCommits.delete(response.correlationId as number);
    this.commit(groupId, pending, response.error);
  }

  private commit(groupId: string, pending: PendingCommit, error: string | undefined): void {
    const { from, message } = pending;
    const partitions = (message.partitions as Array<{ topic: string; partition: number; offset: bigint; metadata?: string }>) ?? [];
    const transactional = message.type === 'txnOffsetCommit.request';
    const reply = (body: Record<string, unknown>): void => this.host.send(from, { type: transactional ? 'txnOffsetCommit.response' : 'offsetCommit.response', correlationId: message.correlationId, ...body } as Message);
    if (error !== undefined) {
      reply({ ...wireError(error as never), partitions: partitions.map((p) => ({ topic: p.topic, partition: p.partition, ...wireError(error as never) })) });
      return;
    }
    const now = this.host.clock.now();
    const values = partitions.map((p) => ({ tp: p, value: { offset: p.offset, leaderEpoch: -1, metadata: p.metadata ?? '', commitTimestamp: now } }));
    const records = values.map(({ tp, value }) => ({ timestamp: now, key: encodeOffsetKey({ group: groupId, topic: tp.topic, partition: tp.partition }), value: encodeOffsetValue(value) }));
    // A transaction's offsets go in a transactional batch of its producer (Kafka's storeOffsets),
    // so the marker that ends the transaction also settles them.
    const producerId = transactional ? BigInt(message.producerId as bigint) : -1n;
    const batch = transactional ? encodeRecordBatch({ producerId, producerEpoch: message.producerEpoch as number, baseSequence: 0, isTransactional: true, records }) : encodeRecordBatch({ records });
    this.keyed.append(this.partitionFor(groupId), batch, (appendFailure) => {
      if (appendFailure !== undefined) {
        const failure = offsetCommitAnswer(appendFailure);
        reply({ ...failure, partitions: partitions.map((p) => ({ topic: p.topic, partition: p.partition, ...failure })) });
        return;
      }
      const stored = transactional ? this.pendingOf(groupId, producerId) : this.groupOffsets(groupId);
      for (const { tp, value } of values) stored.set(`${tp.topic}\u0000${tp.partition}`, value);
      reply({ partitions: partitions.map((p) => ({ topic: p.topic, partition: p.partition })) });
    });
  }

  private groupOffsets(groupId: string): Map<string, OffsetCommitValue> {
    let m = this.offsets.get(groupId);
    if (m === undefined) this.offsets.set(groupId, (m = new Map()));
    return m;
  }
}

function stateName(actor: Actor<typeof groupMachine>): string {
  const value = actor.getSnapshot().value;
  return typeof value === 'string' ? value : JSON.stringify(value);
}

/** What an OffsetCommit answers when its append failed: Kafka's mapping of the append error, its message kept. */
function offsetCommitAnswer(failure: WireError): WireError {
  const answer = coordinatorAppendError(failure.error, 'offsetCommit');
  return answer === failure.error ? failure : wireError(answer as KafkaErrorName, failure.message);
}
