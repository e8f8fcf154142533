/**
 * A broker node: registers with the controller, hosts one partition actor per replica it is
 * assigned, and answers client requests by fanning them out to those actors and gathering the
 * results into one response per request. Its lifecycle is the {@link brokerMachine}; its storage
 * outlives a crash, so `restart()` recovers every log from it as a real process would.
 */
import { assign, createActor, setup } from 'xstate';
import type { Actor, ActorRefFrom } from 'xstate';
import type { Clock, TimerHandle } from '../../clock.ts';
import { PartitionLog } from '../../log/partitionLog.ts';
import { parseLogConfig } from '../../log/logConfig.ts';
import type { Storage } from '../../log/storage/storage.ts';
import type { Message, NodeId, Transport } from '../../transport/transport.ts';
import { brokerNode } from '../../transport/transport.ts';
import { partitionMachine } from '../partition/partition.machine.ts';
import type { PartitionEmitted, PartitionEvent } from '../partition/partition.machine.ts';
import type { ClusterMetadataImage, FetchPartition, FetchRequest, ProduceRequest } from '../protocol.ts';
import { wireError } from '../protocol.ts';
import type { WireError } from '../protocol.ts';
import type { InspectionSink } from '../inspection.ts';
import { GroupCoordinator } from '../groupCoordinator/coordinator.ts';
import type { GroupCoordinatorConfig } from '../groupCoordinator/groupState.ts';
import { OFFSETS_TOPIC, offsetsPartitionFor } from '../groupCoordinator/offsetsTopic.ts';
import { decodeRecordBatch, LOG_OVERHEAD } from '../../log/recordBatch.ts';
import type { DecodedRecord } from '../../log/recordBatch.ts';

/** Broker-level settings (Kafka broker config keys in comments). */
export interface BrokerConfig {
  /** `auto.create.topics.enable` (default true). */
  readonly autoCreateTopicsEnable: boolean;
  /** `num.partitions` for auto-created topics (default 1). */
  readonly numPartitions: number;
  /** `default.replication.factor` for auto-created topics (default 1). */
  readonly defaultReplicationFactor: number;
  /** `log.retention.check.interval.ms` (default 300000). */
  readonly logRetentionCheckIntervalMs: number;
  /** Topic config defaults for every log on this broker (Kafka keys). */
  readonly logDefaults: Readonly<Record<string, unknown>>;
  /** `offsets.topic.num.partitions` (default 50). */
  readonly offsetsTopicNumPartitions: number;
  /** Group coordinator settings under Kafka's keys (`group.initial.rebalance.delay.ms`, …). */
  readonly groupConfig: Partial<GroupCoordinatorConfig>;
}

/** Kafka's defaults for {@link BrokerConfig}. */
export const BROKER_CONFIG_DEFAULTS: BrokerConfig = {
  autoCreateTopicsEnable: true,
  numPartitions: 1,
  defaultReplicationFactor: 1,
  logRetentionCheckIntervalMs: 300_000,
  logDefaults: {},
  offsetsTopicNumPartitions: 50,
  groupConfig: {},
};

/** What a broker is created with. */
export interface BrokerOptions {
  readonly id: number;
  readonly storage: Storage;
  readonly clock: Clock;
  readonly transport: Transport;
  readonly controller: NodeId;
  readonly config: BrokerConfig;
  readonly inspection: InspectionSink;
}

type PartitionActor = ActorRefFrom<typeof partitionMachine>;

interface Pending {
  readonly kind: 'produce' | 'fetch' | 'listOffsets' | 'deleteRecords';
  readonly to: NodeId;
  readonly correlationId: number;
  remaining: number;
  readonly results: unknown[];
  readonly respond: boolean;
  bytes: number;
  hasError: boolean;
}

interface ParkedFetch {
  readonly request: FetchRequest;
  readonly from: NodeId;
  readonly deadline: number;
  timer: TimerHandle | undefined;
}

const EMPTY = new Uint8Array(0);

/** Lifecycle of a broker: `running` until crashed or stopped. */
export const brokerMachine = setup({
  types: {
    context: {} as { readonly brokerId: number; imageVersion: number },
    input: {} as { brokerId: number },
    events: {} as { type: 'metadata.applied'; version: number } | { type: 'broker.crash' } | { type: 'broker.stop' },
  },
}).createMachine({
  id: 'broker',
  context: ({ input }) => ({ brokerId: input.brokerId, imageVersion: -1 }),
  initial: 'registering',
  states: {
    registering: { on: { 'metadata.applied': { target: 'running', actions: assign({ imageVersion: ({ event }) => event.version }) } } },
    running: { on: { 'metadata.applied': { actions: assign({ imageVersion: ({ event }) => event.version }) } } },
    crashed: { type: 'final' },
    stopped: { type: 'final' },
  },
  on: { 'broker.crash': { target: '.crashed' }, 'broker.stop': { target: '.stopped' } },
});

/** One broker. See the module comment. */
export class Broker {
  readonly id: number;
  readonly node: NodeId;
  private actor: Actor<typeof brokerMachine> | undefined;
  private unregister: (() => void) | undefined;
  private image: ClusterMetadataImage | undefined;
  private readonly partitions = new Map<string, PartitionActor>();
  private readonly logs = new Map<string, PartitionLog>();
  private readonly pending = new Map<number, Pending>();
  private readonly parked = new Map<number, ParkedFetch>();
  private nextRequestId = 1;
  private retentionTimer: TimerHandle | undefined;
  private registrationTimer: TimerHandle | undefined;
  private readonly autoCreating = new Set<string>();
  private coordinator: GroupCoordinator | undefined;
  private readonly internalWaiters = new Map<number, (error: WireError | undefined) => void>();

  constructor(private readonly options: BrokerOptions) {
    this.id = options.id;
    this.node = brokerNode(options.id);
  }

  /** Whether the broker process is up. */
  get running(): boolean {
    return this.actor !== undefined;
  }

  /** The lifecycle actor's state value ('registering' | 'running'), or 'down'. */
  get state(): string {
    return this.actor === undefined ? 'down' : String(this.actor.getSnapshot().value);
  }

  /** Starts the process: joins the network, registers with the controller, opens logs as metadata arrives. */
  start(): void {
    if (this.actor !== undefined) return;
    this.actor = createActor(brokerMachine, { input: { brokerId: this.id }, clock: this.options.clock, ...this.options.inspection.actorOptions(`broker:${this.id}`) });
    this.actor.start();
    this.coordinator = new GroupCoordinator({
      brokerId: this.id,
      clock: this.options.clock,
      inspection: this.options.inspection,
      offsetsPartitions: this.options.config.offsetsTopicNumPartitions,
      groupConfig: this.options.config.groupConfig,
      send: (to, message) => this.send(to, message),
      appendOffsets: (partition, records, done) => this.appendInternal(OFFSETS_TOPIC, partition, records, done),
      readOffsets: (partition) => this.readAll(OFFSETS_TOPIC, partition),
    });
    this.unregister = this.options.transport.register(this.node, (message, from) => this.onMessage(message, from));
    this.register();
    this.scheduleRetention();
  }

  /** Kills the process: in-memory state is lost, nothing is flushed; storage survives. */
  crash(): void {
    if (this.actor === undefined) return;
    this.options.inspection.notify({ type: '@samsa.broker.crashed', brokerId: this.id });
    this.teardown();
    for (const log of this.logs.values()) log.abandon();
    this.logs.clear();
    this.actor.send({ type: 'broker.crash' });
    this.actor.stop();
    this.actor = undefined;
  }

  /** Stops cleanly: logs are flushed and closed so the next start skips recovery. */
  async stop(): Promise<void> {
    if (this.actor === undefined) return;
    this.teardown();
    await Promise.all([...this.logs.values()].map((log) => log.close()));
    this.logs.clear();
    this.actor.send({ type: 'broker.stop' });
    this.actor.stop();
    this.actor = undefined;
  }

  /** The log of a hosted partition (for tests and tooling). */
  logOf(topic: string, partition: number): PartitionLog | undefined {
    return this.logs.get(`${topic}-${partition}`);
  }

  private teardown(): void {
    this.coordinator?.stop();
    this.coordinator = undefined;
    this.internalWaiters.clear();
    this.unregister?.();
    this.unregister = undefined;
    for (const p of this.parked.values()) if (p.timer !== undefined) this.options.clock.clearTimeout(p.timer);
    this.parked.clear();
    this.pending.clear();
    for (const actor of this.partitions.values()) actor.stop();
    this.partitions.clear();
    if (this.retentionTimer !== undefined) this.options.clock.clearTimeout(this.retentionTimer);
    if (this.registrationTimer !== undefined) this.options.clock.clearTimeout(this.registrationTimer);
    this.retentionTimer = undefined;
    this.registrationTimer = undefined;
    this.image = undefined;
  }

  private register(): void {
    this.send(this.options.controller, { type: 'brokerRegistration.request', correlationId: 0, brokerId: this.id });
    // Re-send until the controller answers (it may not be reachable yet).
    this.registrationTimer = this.options.clock.setTimeout(() => {
      this.registrationTimer = undefined;
      if (this.actor !== undefined && this.image === undefined) this.register();
    }, 1000);
  }

  private scheduleRetention(): void {
    this.retentionTimer = this.options.clock.setTimeout(() => {
      for (const actor of this.partitions.values()) actor.send({ type: 'retention.tick' });
      for (const log of this.logs.values()) log.flushIfDue();
      this.scheduleRetention();
    }, this.options.config.logRetentionCheckIntervalMs);
  }

  private send(to: NodeId, message: Message): void {
    this.options.transport.send(this.node, to, message);
  }

  private onMessage(message: Message, from: NodeId): void {
    switch (message.type) {
      case 'brokerRegistration.response':
      case 'metadata.update':
        this.applyImage(message.image as ClusterMetadataImage);
        return;
      case 'metadata.request':
        this.answerMetadata(message, from);
        return;
      case 'produce.request':
        this.produce(message as unknown as ProduceRequest, from);
        return;
      case 'fetch.request':
        this.fetch(message as unknown as FetchRequest, from, true);
        return;
      case 'listOffsets.request':
        this.listOffsets(message, from);
        return;
      case 'deleteRecords.request':
        this.deleteRecords(message, from);
        return;
      case 'findCoordinator.request':
        this.findCoordinator(message, from);
        return;
      default:
        if (GroupCoordinator.handles(message.type) && this.coordinator !== undefined) {
          this.coordinator.handle(message, from);
          return;
        }
        // Never answer a response (e.g. the controller's createTopics.response to an auto-create):
        // answering it with an error made the controller answer back, forever.
        if (!message.type.endsWith('.request')) return;
        this.send(from, { type: `${message.type.replace(/\.request$/, '')}.response`, correlationId: message.correlationId, ...wireError('INVALID_REQUEST', `broker ${this.id} does not handle "${message.type}"`) });
    }
  }

  // ------------------------------------------------------------------ metadata

  private applyImage(image: ClusterMetadataImage): void {
    if (this.actor === undefined) return;
    if (this.image !== undefined && image.version <= this.image.version) return;
    this.image = image;
    const hosted = new Set<string>();
    for (const topic of Object.values(image.topics)) {
      for (const p of topic.partitions) {
        if (!p.replicas.includes(this.id)) continue;
        const key = `${p.topic}-${p.partition}`;
        hosted.add(key);
        const config = parseLogConfig({ ...this.options.config.logDefaults, ...topic.config });
        let actor = this.partitions.get(key);
        if (actor === undefined) {
          const log = PartitionLog.open({ storage: this.options.storage, dir: key, config, clock: this.options.clock });
          this.logs.set(key, log);
          actor = createActor(partitionMachine, {
            input: { topic: p.topic, partition: p.partition, log, leaderEpoch: p.leader === this.id ? p.leaderEpoch : -1, role: p.leader === this.id ? 'leader' : 'follower' },
            clock: this.options.clock,
            ...this.options.inspection.actorOptions(`partition:${key}@broker:${this.id}`),
          });
          actor.on('*', (event) => this.onPartitionResult(event as PartitionEmitted));
          actor.start();
          if (p.leader !== this.id) actor.send({ type: 'become.follower', leaderEpoch: p.leaderEpoch });
          this.partitions.set(key, actor);
          if (p.leader === this.id) this.options.inspection.notify({ type: '@samsa.leader.elected', topic: p.topic, partition: p.partition, leader: this.id, leaderEpoch: p.leaderEpoch });
        } else {
          this.logs.get(key)?.updateConfig(config);
          actor.send(p.leader === this.id ? { type: 'become.leader', leaderEpoch: p.leaderEpoch } : { type: 'become.follower', leaderEpoch: p.leaderEpoch });
        }
      }
    }
    for (const [key, actor] of [...this.partitions]) {
      if (hosted.has(key)) continue;
      actor.send({ type: 'stop' });
      actor.stop();
      this.partitions.delete(key);
      this.logs.get(key)?.deleteAll();
      this.logs.delete(key);
    }
    for (const name of this.autoCreating) if (image.topics[name] !== undefined) this.autoCreating.delete(name);
    const offsets = image.topics[OFFSETS_TOPIC];
    if (offsets !== undefined && this.coordinator !== undefined) {
      for (const p of offsets.partitions) {
        if (p.leader === this.id) this.coordinator.load(p.partition);
        else this.coordinator.unload(p.partition);
      }
    }
    this.actor.send({ type: 'metadata.applied', version: image.version });
  }

  private answerMetadata(message: Message, from: NodeId): void {
    const image = this.image;
    if (image === undefined) {
      this.send(from, { type: 'metadata.response', correlationId: message.correlationId, ...wireError('BROKER_NOT_AVAILABLE', `broker ${this.id} has no metadata yet`) });
      return;
    }
    const wanted = message.topics as string[] | undefined;
    if (wanted !== undefined && message.allowAutoTopicCreation === true && this.options.config.autoCreateTopicsEnable) {
      const missing = wanted.filter((t) => image.topics[t] === undefined && !this.autoCreating.has(t));
      if (missing.length > 0) {
        for (const t of missing) this.autoCreating.add(t);
        this.send(this.options.controller, {
          type: 'createTopics.request',
          correlationId: 0,
          topics: missing.map((name) => ({ name, numPartitions: this.options.config.numPartitions, replicationFactor: Math.min(this.options.config.defaultReplicationFactor, image.brokers.length) })),
        });
      }
    }
    // Kafka answers a missing topic with LEADER_NOT_AVAILABLE while auto-creating it, else UNKNOWN_TOPIC_OR_PARTITION.
    const topicErrors: Record<string, string> = {};
    for (const t of wanted ?? []) if (image.topics[t] === undefined) topicErrors[t] = this.autoCreating.has(t) ? 'LEADER_NOT_AVAILABLE' : 'UNKNOWN_TOPIC_OR_PARTITION';
    this.send(from, { type: 'metadata.response', correlationId: message.correlationId, image, topicErrors });
  }

  private findCoordinator(message: Message, from: NodeId): void {
    const reply = (body: Record<string, unknown>): void => this.send(from, { type: 'findCoordinator.response', correlationId: message.correlationId, ...body });
    const image = this.image;
    const key = message.key;
    if (typeof key !== 'string' || key.length === 0) {
      reply({ ...wireError('INVALID_GROUP_ID', `group id must be a non-empty string, got ${JSON.stringify(key)}`), coordinator: -1 });
      return;
    }
    if (image === undefined) {
      reply({ ...wireError('COORDINATOR_NOT_AVAILABLE', `broker ${this.id} has no metadata yet`), coordinator: -1 });
      return;
    }
    const offsets = image.topics[OFFSETS_TOPIC];
    if (offsets === undefined) {
      // Created on first use, as Kafka does; the client retries until it exists.
      if (!this.autoCreating.has(OFFSETS_TOPIC)) {
        this.autoCreating.add(OFFSETS_TOPIC);
        this.send(this.options.controller, {
          type: 'createTopics.request',
          correlationId: 0,
          topics: [{ name: OFFSETS_TOPIC, numPartitions: this.options.config.offsetsTopicNumPartitions, replicationFactor: 1, internal: true, config: { 'cleanup.policy': 'compact', 'segment.bytes': 104857600 } }],
        });
      }
      reply({ ...wireError('COORDINATOR_NOT_AVAILABLE', 'the offsets topic is being created'), coordinator: -1 });
      return;
    }
    const partition = offsetsPartitionFor(key, offsets.partitions.length);
    const leader = offsets.partitions[partition]?.leader ?? -1;
    if (leader < 0) reply({ ...wireError('COORDINATOR_NOT_AVAILABLE', `offsets partition ${partition} has no leader`), coordinator: -1 });
    else reply({ coordinator: leader });
  }

  /** Appends to a local partition this broker leads and calls `done` with the error, if any. */
  private appendInternal(topic: string, partition: number, records: Uint8Array, done: (error: WireError | undefined) => void): void {
    const requestId = this.nextRequestId++;
    this.internalWaiters.set(requestId, done);
    this.dispatch(requestId, topic, partition, { type: 'produce.append', requestId, records, acks: -1, origin: 'coordinator' }, (error) => ({ type: 'produce.result', requestId, topic, partition, baseOffset: -1n, lastOffset: -1n, logAppendTime: -1, logStartOffset: -1n, error }));
  }

  /** Every record of a local partition, read straight from its log (coordinator loading). */
  private *readAll(topic: string, partition: number): Iterable<DecodedRecord> {
    const log = this.logs.get(`${topic}-${partition}`);
    if (log === undefined) return;
    let offset = log.logStartOffset;
    while (offset < log.logEndOffset) {
      const { records } = log.read(offset, { maxBytes: 1 << 20 });
      if (records.length === 0) return;
      let p = 0;
      while (p < records.length) {
        const batch = decodeRecordBatch(records, p);
        for (const r of batch.records) if (r.offset >= offset) yield r;
        offset = batch.header.baseOffset + BigInt(batch.header.lastOffsetDelta) + 1n;
        p += batch.header.batchLength + LOG_OVERHEAD;
      }
    }
  }

  // ------------------------------------------------------------------ requests

  private begin(kind: Pending['kind'], from: NodeId, correlationId: number, count: number, respond = true): number {
    const requestId = this.nextRequestId++;
    this.pending.set(requestId, { kind, to: from, correlationId, remaining: count, results: [], respond, bytes: 0, hasError: false });
    return requestId;
  }

  private partitionActor(topic: string, partition: number): PartitionActor | WireError {
    const actor = this.partitions.get(`${topic}-${partition}`);
    if (actor !== undefined) return actor;
    const known = this.image?.topics[topic];
    if (known === undefined || partition < 0 || partition >= known.partitions.length) return wireError('UNKNOWN_TOPIC_OR_PARTITION', `topic-partition ${topic}-${partition} does not exist`);
    return wireError('NOT_LEADER_OR_FOLLOWER', `broker ${this.id} does not host ${topic}-${partition}`);
  }

  private dispatch(requestId: number, topic: string, partition: number, event: PartitionEvent, failure: (error: WireError) => PartitionEmitted): void {
    const target = this.partitionActor(topic, partition);
    if ('error' in target) this.onPartitionResult(failure(target as WireError));
    else (target as PartitionActor).send(event);
  }

  private produce(request: ProduceRequest, from: NodeId): void {
    const requestId = this.begin('produce', from, request.correlationId, request.partitions.length, request.acks !== 0);
    for (const p of request.partitions) {
      this.dispatch(requestId, p.topic, p.partition, { type: 'produce.append', requestId, records: p.records, acks: request.acks }, (error) => ({ type: 'produce.result', requestId, topic: p.topic, partition: p.partition, baseOffset: -1n, lastOffset: -1n, logAppendTime: -1, logStartOffset: -1n, error }));
    }
  }

  private fetch(request: FetchRequest, from: NodeId, mayPark: boolean): void {
    const requestId = this.begin('fetch', from, request.correlationId, request.partitions.length);
    const pending = this.pending.get(requestId) as Pending;
    // Parking is decided once all partitions answered (see complete()).
    (pending as { park?: { request: FetchRequest; mayPark: boolean } }).park = { request, mayPark };
    let budget = request.maxBytes;
    for (const p of request.partitions) {
      const maxBytes = Math.max(0, Math.min(p.partitionMaxBytes, budget));
      this.dispatch(requestId, p.topic, p.partition, { type: 'fetch.read', requestId, fetchOffset: p.fetchOffset, maxBytes, currentLeaderEpoch: p.currentLeaderEpoch, isolationLevel: request.isolationLevel }, (error) => fetchFailure(requestId, p, error));
      budget = Math.max(0, budget - p.partitionMaxBytes);
    }
  }

  private listOffsets(message: Message, from: NodeId): void {
    const partitions = message.partitions as Array<{ topic: string; partition: number; timestamp: number }>;
    const requestId = this.begin('listOffsets', from, message.correlationId as number, partitions.length);
    for (const p of partitions) {
      this.dispatch(requestId, p.topic, p.partition, { type: 'listOffsets.query', requestId, timestamp: p.timestamp, isolationLevel: 'read_uncommitted' }, (error) => ({ type: 'listOffsets.result', requestId, topic: p.topic, partition: p.partition, offset: -1n, timestamp: -1, error }));
    }
  }

  private deleteRecords(message: Message, from: NodeId): void {
    const partitions = message.partitions as Array<{ topic: string; partition: number; offset: bigint }>;
    const requestId = this.begin('deleteRecords', from, message.correlationId as number, partitions.length);
    for (const p of partitions) {
      this.dispatch(requestId, p.topic, p.partition, { type: 'deleteRecords.apply', requestId, offset: p.offset }, (error) => ({ type: 'deleteRecords.result', requestId, topic: p.topic, partition: p.partition, lowWatermark: -1n, error }));
    }
  }

  private onPartitionResult(event: PartitionEmitted): void {
    if (event.type === 'partition.appended') {
      this.wakeParked(event.topic, event.partition);
      return;
    }
    const waiter = this.internalWaiters.get(event.requestId);
    if (waiter !== undefined) {
      this.internalWaiters.delete(event.requestId);
      waiter(event.error);
      return;
    }
    const pending = this.pending.get(event.requestId);
    if (pending === undefined) return;
    const { type: _type, requestId: _id, ...result } = event as PartitionEmitted & { requestId: number };
    pending.results.push(result);
    if ('error' in result && result.error !== undefined) pending.hasError = true;
    if (event.type === 'fetch.result') pending.bytes += event.records.length;
    pending.remaining--;
    if (pending.remaining === 0) this.complete(event.requestId, pending);
  }

  private complete(requestId: number, pending: Pending): void {
    this.pending.delete(requestId);
    const park = (pending as { park?: { request: FetchRequest; mayPark: boolean } }).park;
    if (park !== undefined && park.mayPark && !pending.hasError && pending.bytes < Math.max(1, park.request.minBytes) && park.request.maxWaitMs > 0) {
      this.parkFetch(park.request, pending.to);
      return;
    }
    if (!pending.respond) return;
    const partitions = pending.results.map((r) => flattenError(r as Record<string, unknown>));
    this.send(pending.to, { type: `${pending.kind}.response`, correlationId: pending.correlationId, partitions });
  }

  private parkFetch(request: FetchRequest, from: NodeId): void {
    const key = this.nextRequestId++;
    const parked: ParkedFetch = { request, from, deadline: this.options.clock.now() + request.maxWaitMs, timer: undefined };
    parked.timer = this.options.clock.setTimeout(() => {
      if (this.parked.delete(key)) this.fetch(request, from, false);
    }, request.maxWaitMs);
    this.parked.set(key, parked);
  }

  private wakeParked(topic: string, partition: number): void {
    for (const [key, parked] of this.parked) {
      if (!parked.request.partitions.some((p) => p.topic === topic && p.partition === partition)) continue;
      this.parked.delete(key);
      if (parked.timer !== undefined) this.options.clock.clearTimeout(parked.timer);
      const remaining = parked.deadline - this.options.clock.now();
      this.fetch({ ...parked.request, maxWaitMs: Math.max(0, remaining) }, parked.from, remaining > 0);
    }
  }
}

function fetchFailure(requestId: number, p: FetchPartition, error: WireError): PartitionEmitted {
  return { type: 'fetch.result', requestId, topic: p.topic, partition: p.partition, records: EMPTY, highWatermark: -1n, lastStableOffset: -1n, logStartOffset: -1n, error };
}

/** Results carry errors as a nested WireError; responses flatten them into the partition entry. */
function flattenError(result: Record<string, unknown>): Record<string, unknown> {
  const error = result.error as WireError | undefined;
  if (error === undefined) {
    const { error: _e, ...rest } = result;
    return rest;
  }
  return { ...result, error: error.error, errorCode: error.errorCode, message: error.message };
}
