/**
 * Hosting of the two coordinators on a broker: the {@link GroupCoordinator} over
 * `__consumer_offsets` and the {@link TransactionCoordinator} over `__transaction_state`. The
 * broker gives them what they need of it (appends with acks=all to the internal partitions it
 * leads, reads of those logs for loading, their offsets, producer ids), loads and unloads their
 * partitions as leadership of the internal partitions moves in the metadata image, routes their
 * requests to them, and answers FindCoordinator, creating an internal topic on first use as Kafka
 * does.
 */
import type { Clock } from '../../clock.ts';
import { controlBatchContent } from '../../record/controlRecords.ts';
import { decodeRecordBatch, isControlBatch, isTransactional, LOG_OVERHEAD } from '../../record/recordBatch.ts';
import type { ClusterMetadataImage, WireError } from '../../protocol/index.ts';
import { wireError } from '../../protocol/index.ts';
import { TRANSACTION_STATE_TOPIC } from '../../transactions/transactionLog.ts';
import type { Message, NodeId } from '../../transport/transport.ts';
import { GroupCoordinator } from '../groupCoordinator/coordinator.ts';
import type { OffsetsLogEntry } from '../groupCoordinator/coordinator.ts';
import { OFFSETS_TOPIC, offsetsPartitionFor } from '../groupCoordinator/offsetsTopic.ts';
import type { InspectionSink } from '../inspection.ts';
import { TransactionCoordinator } from '../txnCoordinator/txnCoordinator.ts';
import type { AutoTopicCreationManager } from './autoCreateTopics.ts';
import { liveBrokers } from './autoCreateTopics.ts';
import type { BrokerConfig } from './brokerConfig.ts';
import type { ProducerIdManager } from './producerIds.ts';
import type { ReplicaManager } from './replicas.ts';

/** Kafka's GroupMetadataManager mapping of append errors to what a coordinator answers. */
const COORDINATOR_APPEND_ERRORS: Readonly<Record<string, 'COORDINATOR_NOT_AVAILABLE' | 'NOT_COORDINATOR' | 'INVALID_COMMIT_OFFSET_SIZE'>> = {
  NOT_ENOUGH_REPLICAS: 'COORDINATOR_NOT_AVAILABLE',
  NOT_ENOUGH_REPLICAS_AFTER_APPEND: 'COORDINATOR_NOT_AVAILABLE',
  REQUEST_TIMED_OUT: 'COORDINATOR_NOT_AVAILABLE',
  UNKNOWN_TOPIC_OR_PARTITION: 'COORDINATOR_NOT_AVAILABLE',
  NOT_LEADER_OR_FOLLOWER: 'NOT_COORDINATOR',
  KAFKA_STORAGE_ERROR: 'NOT_COORDINATOR',
  MESSAGE_TOO_LARGE: 'INVALID_COMMIT_OFFSET_SIZE',
  RECORD_LIST_TOO_LARGE: 'INVALID_COMMIT_OFFSET_SIZE',
  INVALID_FETCH_SIZE: 'INVALID_COMMIT_OFFSET_SIZE',
};

/** What the hosting needs of its broker. */
export interface CoordinatorHostingContext {
  readonly brokerId: number;
  readonly clock: Clock;
  readonly config: BrokerConfig;
  readonly inspection: InspectionSink;
  readonly send: (to: NodeId, message: Message) => void;
  readonly nextCorrelationId: () => number;
  /** The newest image the broker applied. */
  readonly image: () => ClusterMetadataImage | undefined;
  readonly replicas: ReplicaManager;
  readonly producerIds: ProducerIdManager;
  readonly autoCreation: AutoTopicCreationManager;
  /** Appends to a local partition with acks=all and reports the append's error (see `requests.ts`). */
  readonly appendInternal: (topic: string, partition: number, records: Uint8Array, done: (error: WireError | undefined) => void) => void;
}

/** See the module comment. */
export class CoordinatorHosting {
  private group: GroupCoordinator | undefined;
  private txn: TransactionCoordinator | undefined;

  constructor(private readonly context: CoordinatorHostingContext) {}

  /** Creates both coordinators for a new broker process; they own no partition until {@link onImage} loads one. */
  start(): void {
    const { context } = this;
    const config = context.config;
    this.group = new GroupCoordinator({
      brokerId: context.brokerId,
      clock: context.clock,
      inspection: context.inspection,
      offsetsPartitions: config.offsetsTopicNumPartitions,
      groupConfig: config.groupConfig,
      send: (to, message) => context.send(to, message),
      appendOffsets: (partition, records, done) => this.append(OFFSETS_TOPIC, partition, records, done),
      readOffsets: (partition) => this.readAll(OFFSETS_TOPIC, partition),
      offsetsLogOffsets: (partition) => context.replicas.logOffsets(OFFSETS_TOPIC, partition),
    });
    this.txn = new TransactionCoordinator({
      brokerId: context.brokerId,
      clock: context.clock,
      inspection: context.inspection,
      config: { 'transaction.max.timeout.ms': config.transactionMaxTimeoutMs, 'transactional.id.expiration.ms': config.transactionalIdExpirationMs },
      abortCheckIntervalMs: config.transactionAbortTimedOutTransactionCleanupIntervalMs,
      expiryCheckIntervalMs: config.transactionRemoveExpiredTransactionCleanupIntervalMs,
      send: (to, message) => context.send(to, message),
      appendState: (partition, records, done) => this.append(TRANSACTION_STATE_TOPIC, partition, records, done),
      readState: (partition) => [...this.readAll(TRANSACTION_STATE_TOPIC, partition)].flatMap((e) => (e.kind === 'record' ? [e.record] : [])),
      stateOffsets: (partition) => context.replicas.logOffsets(TRANSACTION_STATE_TOPIC, partition),
      newProducerId: () => context.producerIds.tryGenerate(),
      leaderOf: (topic, partition) => context.image()?.topics[topic]?.partitions[partition]?.leader ?? -1,
      stateTopicPartitions: () => context.image()?.topics[TRANSACTION_STATE_TOPIC]?.partitions.length ?? 0,
      offsetsPartitionFor: (groupId) => offsetsPartitionFor(groupId, context.image()?.topics[OFFSETS_TOPIC]?.partitions.length ?? config.offsetsTopicNumPartitions),
      nextCorrelationId: context.nextCorrelationId,
    });
  }

  /** Stops both coordinators (the process crashed or stopped). */
  stop(): void {
    this.group?.stop();
    this.group = undefined;
    this.txn?.stop();
    this.txn = undefined;
  }

  /**
   * Hands a coordinator request to its coordinator: InitProducerId with a transactional id and
   * the transaction APIs to the transaction coordinator, the group APIs to the group coordinator.
   * False when neither takes it.
   */
  route(message: Message, from: NodeId): boolean {
    if (TransactionCoordinator.handles(message) && this.txn !== undefined) {
      this.txn.handle(message, from);
      return true;
    }
    if (GroupCoordinator.handles(message.type) && this.group !== undefined) {
      this.group.handle(message, from);
      return true;
    }
    return false;
  }

  /** InitProducerId with a transactional id: the transaction coordinator answers. */
  initTransactionalProducer(message: Message, from: NodeId): void {
    this.txn?.handle(message, from);
  }

  /**
   * A new image: this broker's coordinators load the internal partitions it now leads and unload
   * the others. The coordinator epoch of a `__transaction_state` partition is its leader epoch.
   */
  onImage(image: ClusterMetadataImage): void {
    const offsets = image.topics[OFFSETS_TOPIC];
    if (offsets !== undefined && this.group !== undefined) {
      for (const p of offsets.partitions) {
        if (p.leader === this.context.brokerId) this.group.load(p.partition);
        else this.group.unload(p.partition);
      }
    }
    const txnState = image.topics[TRANSACTION_STATE_TOPIC];
    if (txnState !== undefined && this.txn !== undefined) {
      for (const p of txnState.partitions) {
        if (p.leader === this.context.brokerId) this.txn.load(p.partition, p.leaderEpoch);
        else this.txn.unload(p.partition);
      }
    }
  }

  /** A transaction marker reached `__consumer_offsets` partition `partition`: its pending offsets are settled. */
  completeTransaction(partition: number, producerId: bigint, commit: boolean): void {
    this.group?.completeTransaction(partition, producerId, commit);
  }

  /** A request that can get no answer: true when it was the transaction coordinator's WriteTxnMarkers. */
  onUnreachable(correlationId: number): boolean {
    if (this.txn?.ownsMarkerRequest(correlationId) !== true) return false;
    this.txn.onMarkersFailed(correlationId);
    return true;
  }

  /**
   * FindCoordinator: the leader of the internal partition that holds the key — a group's
   * `__consumer_offsets` partition or a transactional id's `__transaction_state` partition. The
   * topic is created on first use, as Kafka does; the client retries until it has a leader.
   */
  findCoordinator(message: Message, from: NodeId): void {
    const { context } = this;
    const reply = (body: Record<string, unknown>): void => context.send(from, { type: 'findCoordinator.response', correlationId: message.correlationId, ...body });
    const image = context.image();
    const key = message.key;
    const transaction = message.keyType === 'transaction';
    if (typeof key !== 'string' || key.length === 0) {
      reply({ ...wireError(transaction ? 'INVALID_REQUEST' : 'INVALID_GROUP_ID', `${transaction ? 'transactional' : 'group'} id must be a non-empty string, got ${JSON.stringify(key)}`), coordinator: -1 });
      return;
    }
    if (image === undefined) {
      reply({ ...wireError('COORDINATOR_NOT_AVAILABLE', `broker ${context.brokerId} has no metadata yet`), coordinator: -1 });
      return;
    }
    const config = context.config;
    const topicName = transaction ? TRANSACTION_STATE_TOPIC : OFFSETS_TOPIC;
    const internal = image.topics[topicName];
    if (internal === undefined) {
      if (!context.autoCreation.isCreating(topicName)) {
        // Kafka refuses while fewer than the configured replication factor of brokers are alive;
        // samsa takes as many replicas as there are live brokers, up to that factor.
        const replicas = Math.max(1, Math.min(transaction ? config.transactionStateLogReplicationFactor : config.offsetsTopicReplicationFactor, liveBrokers(image)));
        const topic = transaction
          ? { name: topicName, numPartitions: config.transactionStateLogNumPartitions, replicationFactor: replicas, internal: true, config: { 'cleanup.policy': 'compact', 'segment.bytes': 104857600, 'min.insync.replicas': Math.min(config.transactionStateLogMinIsr, replicas) } }
          : { name: topicName, numPartitions: config.offsetsTopicNumPartitions, replicationFactor: replicas, internal: true, config: { 'cleanup.policy': 'compact', 'segment.bytes': 104857600 } };
        context.autoCreation.create({ type: 'createTopics.request', topics: [topic] });
      }
      reply({ ...wireError('COORDINATOR_NOT_AVAILABLE', `the ${topicName} topic is being created`), coordinator: -1 });
      return;
    }
    const partition = offsetsPartitionFor(key, internal.partitions.length);
    const leader = internal.partitions[partition]?.leader ?? -1;
    if (leader < 0) reply({ ...wireError('COORDINATOR_NOT_AVAILABLE', `${topicName} partition ${partition} has no leader`), coordinator: -1 });
    else reply({ coordinator: leader });
  }

  /**
   * A coordinator's write to its internal partition with acks=all: `done` once every ISR member
   * has it, or with the error the coordinator answers, mapped as Kafka's GroupMetadataManager maps
   * append errors, waiting at most `offsets.commit.timeout.ms`.
   */
  private append(topic: string, partition: number, records: Uint8Array, done: (error: WireError | undefined) => void): void {
    this.context.appendInternal(topic, partition, records, (error) => {
      const mapped = error === undefined ? undefined : COORDINATOR_APPEND_ERRORS[error.error];
      done(error === undefined || mapped === undefined ? error : wireError(mapped, error.message));
    });
  }

  /**
   * Every entry of a local partition, read straight from its log (coordinator loading): records
   * with the producer of a transactional batch, and transaction markers.
   */
  private *readAll(topic: string, partition: number): Iterable<OffsetsLogEntry> {
    const log = this.context.replicas.logOf(topic, partition);
    if (log === undefined) return;
    let offset = log.logStartOffset;
    while (offset < log.logEndOffset) {
      const { records } = log.read(offset, { maxBytes: 1 << 20 });
      if (records.length === 0) return;
      let p = 0;
      while (p < records.length) {
        const batch = decodeRecordBatch(records, p);
        const header = batch.header;
        if (isControlBatch(header)) {
          const content = controlBatchContent(batch);
          if (content.kind === 'transactionMarker' && header.baseOffset >= offset) yield { kind: 'marker', producerId: header.producerId, commit: content.result === 'COMMIT' };
        } else {
          const producer = isTransactional(header) ? { transactionalProducerId: header.producerId } : {};
          for (const r of batch.records) if (r.offset >= offset) yield { kind: 'record', record: r, ...producer };
        }
        offset = header.baseOffset + BigInt(header.lastOffsetDelta) + 1n;
        p += header.batchLength + LOG_OVERHEAD;
      }
    }
  }
}
