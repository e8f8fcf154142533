/**
 * The admin client: topic management through the controller, offsets and record deletion
 * through partition leaders. Every call resolves once the change is visible in the metadata of
 * the brokers it needs (so a produce right after `createTopic` finds its leaders).
 */
import type { Logger } from '../logger.ts';
import type { Clock } from '../clock.ts';
import { ClosedError, InvalidArgumentError, KafkaProtocolError, SamsaError, StorageError, errorFromJSON } from '../errors.ts';
import type { KafkaErrorName } from '../errors.ts';
import { describeLogConfigKeys, logConfigToKafka, parseLogConfig } from '../topicConfig.ts';
import type { Message, NodeId, Transport } from '../transport/transport.ts';
import { brokerNode, clientNode, controllerNode } from '../transport/transport.ts';
import { ClientConnection } from './connection.ts';
import { MetadataCache } from './metadataCache.ts';
import { sleep } from '../clock.ts';
import type { ClusterMetadataImage, PartitionMetadata } from '../protocol/index.ts';
import type { AdminClient, CreateTopicOptions, KeyRead, OffsetSpec, ReadKeyOptions, TopicDescription } from './api.ts';
import { keyPartition } from './producer/partitioners.ts';

export type { CreateTopicOptions, OffsetSpec, TopicDescription } from './api.ts';

/** What the cluster hands an admin client. */
export interface AdminContext {
  readonly transport: Transport;
  readonly clock: Clock;
  /** Every controller of the quorum; requests find the active one by NOT_CONTROLLER hints. */
  readonly controllers: () => readonly NodeId[];
  readonly brokers: () => readonly number[];
  readonly clientId: string;
  readonly requestTimeoutMs?: number;  /** Where the client logs errors it handles itself (default: silent). */
  readonly logger?: Logger;
}

/** A partition a broker could not open the log of (its metadata answer's `storageErrors`). */
interface StorageErrorReport {
  readonly topic: string;
  readonly partition: number;
  readonly brokerId: number;
  readonly path: string;
  readonly message: string;
}

interface TopicResult {
  readonly name: string;
  readonly error?: string;
  readonly errorCode?: number;
  readonly message?: string;
}

/** Partition errors the admin client retries with fresh metadata (leadership is moving). */
const ADMIN_RETRIABLE = new Set(['NOT_LEADER_OR_FOLLOWER', 'LEADER_NOT_AVAILABLE', 'FENCED_LEADER_EPOCH', 'UNKNOWN_LEADER_EPOCH', 'NETWORK_EXCEPTION', 'OFFSET_NOT_AVAILABLE']);

function throwIfError(result: { error?: string; message?: string } | undefined): void {
  if (result?.error !== undefined) throw errorFromJSON({ name: 'KafkaProtocolError', code: result.error, message: result.message ?? result.error, retriable: false });
}

/** `retry.backoff.ms` of the admin client (Kafka default 100). */
const ADMIN_RETRY_BACKOFF_MS = 100;
/**
 * With several controllers, one attempt waits at most this long before trying the next, so a
 * controller cut off from the client costs seconds rather than the whole request timeout.
 */
const CONTROLLER_ATTEMPT_TIMEOUT_MS = 5_000;

/** The admin client. Create it with `cluster.admin()`. */
export class Admin implements AdminClient {
  private readonly connection: ClientConnection;
  /** Index in `controllers()` of the controller believed active. */
  private controllerIndex = 0;
  private readonly metadata: MetadataCache;
  private readonly timeoutMs: number;

  private closed = false;

  constructor(private readonly context: AdminContext) {
    this.connection = new ClientConnection(clientNode(context.clientId), context.transport, context.clock);
    this.timeoutMs = context.requestTimeoutMs ?? 30000;
    this.metadata = new MetadataCache(this.connection, context.brokers, this.timeoutMs);
  }

  /**
   * Creates a topic and waits until every broker hosting it knows its leaders.
   * @throws KafkaProtocolError TOPIC_ALREADY_EXISTS, INVALID_PARTITIONS, INVALID_REPLICATION_FACTOR,
   *   INVALID_TOPIC_EXCEPTION; InvalidConfigError for a bad config value.
   */
  async createTopic(name: string, options: CreateTopicOptions = {}): Promise<void> {
    this.ensureOpen();
    if (options.config !== undefined) parseLogConfig(options.config);
    const response = await this.controllerRequest('createTopics.request', {
      topics: [{ name, numPartitions: options.partitions ?? 1, replicationFactor: options.replicationFactor ?? 1, config: options.config ?? {} }],
    });
    throwIfError((response.results as TopicResult[])[0]);
    const storageErrors = await this.awaitMetadata((image) => image.topics[name] !== undefined);
    // A broker that could not open a partition's log (a foreign file in its directory, an I/O
    // error) says so: the topic exists, but that replica is offline until the directory is fixed.
    const failed = storageErrors.find((e) => e.topic === name);
    if (failed !== undefined) throw new StorageError(failed.path, `open the log of ${name}-${failed.partition} on broker ${failed.brokerId}`, { cause: new KafkaProtocolError('KAFKA_STORAGE_ERROR', failed.message) });
  }

  /** Deletes a topic and its data on every broker. @throws UNKNOWN_TOPIC_OR_PARTITION. */
  async deleteTopic(name: string): Promise<void> {
    this.ensureOpen();
    const response = await this.controllerRequest('deleteTopics.request', { names: [name] });
    throwIfError((response.results as TopicResult[])[0]);
    await this.awaitMetadata((image) => image.topics[name] === undefined);
  }

  /** Grows a topic to `totalCount` partitions. @throws INVALID_PARTITIONS when it would not grow. */
  async createPartitions(name: string, totalCount: number): Promise<void> {
    this.ensureOpen();
    const response = await this.controllerRequest('createPartitions.request', { topics: [{ name, count: totalCount }] });
    throwIfError((response.results as TopicResult[])[0]);
    await this.awaitMetadata((image) => (image.topics[name]?.partitions.length ?? 0) >= totalCount);
  }

  /** Sets topic config overrides (validated with Kafka's rules). */
  async alterTopicConfig(name: string, config: Readonly<Record<string, string | number | boolean>>): Promise<void> {
    this.ensureOpen();
    parseLogConfig(config);
    const response = await this.controllerRequest('alterConfigs.request', { topics: [{ name, config }] });
    throwIfError((response.results as TopicResult[])[0]);
    const version = (await this.metadata.refresh()).version;
    await this.awaitMetadata((image) => image.version >= version);
  }

  /**
   * ElectLeaders (Kafka's `kafka-leader-election.sh`). `preferred` moves each partition's
   * leadership to its first replica when that replica is in the ISR and alive; `unclean` elects a
   * leader for a partition that has none, out of the ISR if need be, whatever
   * `unclean.leader.election.enable` says (committed data the new leader lacks is lost).
   * `partitions` defaults to every partition. Resolves with one result per partition, its
   * `error` naming why nothing changed (ELECTION_NOT_NEEDED, PREFERRED_LEADER_NOT_AVAILABLE,
   * ELIGIBLE_LEADERS_NOT_AVAILABLE, UNKNOWN_TOPIC_OR_PARTITION), once the brokers know the new leaders.
   */
  async electLeaders(electionType: 'preferred' | 'unclean', partitions?: ReadonlyArray<{ topic: string; partition: number }>): Promise<Array<{ topic: string; partition: number; error?: string }>> {
    this.ensureOpen();
    if (electionType !== 'preferred' && electionType !== 'unclean') throw new InvalidArgumentError('electionType', `expected 'preferred' or 'unclean', got ${String(electionType)}`);
    const response = await this.controllerRequest('electLeaders.request', { electionType, ...(partitions === undefined ? {} : { partitions }) });
    const raw = response.results as Array<{ topic: string; partition: number; error?: string; leaderEpoch?: number }>;
    const elected = raw.filter((r) => r.error === undefined && r.leaderEpoch !== undefined);
    if (elected.length > 0) await this.awaitMetadata((image) => elected.every((r) => (image.topics[r.topic]?.partitions[r.partition]?.leaderEpoch ?? -1) >= (r.leaderEpoch as number)));
    return raw.map((r) => ({ topic: r.topic, partition: r.partition, ...(r.error === undefined ? {} : { error: r.error }) }));
  }

  /** Names of all topics (internal ones only when asked). */
  async listTopics(options: { includeInternal?: boolean } = {}): Promise<string[]> {
    this.ensureOpen();
    const image = await this.metadata.refresh();
    return Object.values(image.topics)
      .filter((t) => options.includeInternal === true || !t.internal)
      .map((t) => t.name)
      .sort();
  }

  /** Describes a topic: partitions with leaders, replicas and ISR, and its effective config. */
  async describeTopic(name: string): Promise<TopicDescription> {
    this.ensureOpen();
    const image = await this.metadata.refresh();
    const topic = image.topics[name];
    if (topic === undefined) throw new KafkaProtocolError('UNKNOWN_TOPIC_OR_PARTITION', `topic "${name}" does not exist; create it first or set auto.create.topics.enable`);
    const effective = logConfigToKafka(parseLogConfig(topic.config));
    return { name, topicId: topic.topicId, internal: topic.internal, partitions: topic.partitions, config: effective, overrides: topic.config };
  }

  /** Every topic config key with its default and description. */
  topicConfigKeys(): ReturnType<typeof describeLogConfigKeys> {
    return describeLogConfigKeys();
  }

  /**
   * ListOffsets per partition: 'earliest' (log start), 'latest' (high watermark) or the first
   * offset whose timestamp is ≥ the given one (-1n when there is none).
   */
  async listOffsets(topic: string, spec: OffsetSpec = 'latest', options: { isolationLevel?: 'read_uncommitted' | 'read_committed' } = {}): Promise<Array<{ partition: number; offset: bigint; timestamp: number }>> {
    this.ensureOpen();
    const timestamp = spec === 'earliest' ? -2 : spec === 'latest' ? -1 : spec;
    if (typeof timestamp !== 'number' || !Number.isInteger(timestamp) || timestamp < -2) throw new InvalidArgumentError('spec', `expected 'earliest', 'latest' or a timestamp in ms, got ${String(spec)}`);
    const isolationLevel = options.isolationLevel ?? 'read_uncommitted';
    if (isolationLevel !== 'read_uncommitted' && isolationLevel !== 'read_committed') throw new InvalidArgumentError('isolationLevel', `expected 'read_uncommitted' or 'read_committed', got ${String(isolationLevel)}`);
    const results = await this.perLeader(topic, 'listOffsets.request', (p) => ({ topic, partition: p.partition, timestamp }), { isolationLevel });
    return results.map((r) => ({ partition: r.partition as number, offset: r.offset as bigint, timestamp: r.timestamp as number })).sort((a, b) => a.partition - b.partition);
  }

  /**
   * The records of one key of a topic with `key.version.index.enable` (samsa's own ReadKey), from
   * the partition the default partitioner puts the key in: versions `from` on (default 1), or
   * backwards down from `from` (default: the latest), at most `maxCount` (default 1000). Served
   * from the leader's key index, committed records only.
   * @throws InvalidArgumentError for a bad key or option; KafkaProtocolError from the leader.
   */
  async readKey(topic: string, key: Uint8Array, options: ReadKeyOptions = {}): Promise<KeyRead> {
    this.ensureOpen();
    if (!(key instanceof Uint8Array)) throw new InvalidArgumentError('key', 'expected the key as a Uint8Array');
    const backwards = options.direction === 'backwards';
    if (options.direction !== undefined && options.direction !== 'forwards' && !backwards) throw new InvalidArgumentError('direction', `expected 'forwards' or 'backwards', got ${JSON.stringify(options.direction)}`);
    const from = options.from ?? (backwards ? 2n ** 53n : 1n);
    if (typeof from !== 'bigint' || from < 0n) throw new InvalidArgumentError('from', `expected a version (bigint ≥ 0), got ${String(from)}`);
    const maxCount = options.maxCount ?? 1000;
    if (!Number.isInteger(maxCount) || maxCount < 0) throw new InvalidArgumentError('maxCount', `expected an integer ≥ 0, got ${String(maxCount)}`);
    // A missing topic is answered at once (a key of a topic that does not exist has no records).
    const meta = (await this.metadata.refresh([topic])).topics[topic];
    if (meta === undefined) throw new KafkaProtocolError('UNKNOWN_TOPIC_OR_PARTITION', `topic "${topic}" does not exist`);
    const partition = keyPartition(key, meta.partitions.length);
    const [result] = await this.perLeader(topic, 'readKey.request', (p) => (p.partition === partition ? { topic, partition, key, from: from > 2n ** 53n ? 2n ** 53n : from, maxCount, backwards } : undefined));
    return { partition, version: (result?.version as bigint | undefined) ?? 0n, records: (result?.records as KeyRead['records'] | undefined) ?? [] };
  }

  /**
   * DeleteRecords: moves each partition's log start offset up to the given offset (bounded by
   * the high watermark; -1n means the high watermark). Returns the new low watermarks.
   */
  async deleteRecords(topic: string, offsets: Readonly<Record<number, bigint>>): Promise<Array<{ partition: number; lowWatermark: bigint }>> {
    this.ensureOpen();
    const wanted = new Map(Object.entries(offsets).map(([p, o]) => [Number(p), o]));
    const results = await this.perLeader(topic, 'deleteRecords.request', (p) => (wanted.has(p.partition) ? { topic, partition: p.partition, offset: wanted.get(p.partition) } : undefined));
    return results.map((r) => ({ partition: r.partition as number, lowWatermark: r.lowWatermark as bigint })).sort((a, b) => a.partition - b.partition);
  }

  /** Every consumer group known to any broker's coordinator, with its state. */
  async listGroups(): Promise<Array<{ groupId: string; state: string; protocolType: string }>> {
    this.ensureOpen();
    const responses = await Promise.all(
      this.context.brokers().map((id) =>
        this.connection.request<Message & { groups?: Array<{ groupId: string; state: string; protocolType: string }> }>(brokerNode(id), { type: 'listGroups.request' }, this.timeoutMs).then(
          (r) => r.groups ?? [],
          () => [],
        ),
      ),
    );
    return responses.flat().sort((a, b) => (a.groupId < b.groupId ? -1 : 1));
  }

  /**
   * Describes a consumer group (DescribeGroups): state, protocol and members with their
   * assignments (members' details are reported when the group is Stable, as Kafka does).
   */
  async describeGroup(groupId: string): Promise<{ groupId: string; state: string; protocolType: string; protocol: string; members: ReadonlyArray<{ memberId: string; groupInstanceId?: string; clientId: string; assignment: unknown }> }> {
    this.ensureOpen();
    if (typeof groupId !== 'string' || groupId.length === 0) throw new InvalidArgumentError('groupId', `expected a non-empty group id, got ${JSON.stringify(groupId)}`);
    for (let attempt = 0; ; attempt++) {
      const image = await this.metadata.refresh();
      const broker = image.brokers[attempt % Math.max(1, image.brokers.length)]?.id ?? 1;
      const found = await this.connection.request<Message & { coordinator: number; error?: string }>(brokerNode(broker), { type: 'findCoordinator.request', key: groupId, keyType: 'group' }, this.timeoutMs);
      if (found.error === undefined && found.coordinator >= 0) {
        const r = await this.connection.request<Message & { error?: string; message?: string; state: string; protocolType: string; protocolData: string; members: Array<{ memberId: string; groupInstanceId?: string; clientId: string; assignment: unknown }> }>(brokerNode(found.coordinator), { type: 'describeGroup.request', groupId }, this.timeoutMs);
        if (r.error === undefined) return { groupId, state: r.state, protocolType: r.protocolType, protocol: r.protocolData, members: r.members };
        if (r.error !== 'NOT_COORDINATOR' && r.error !== 'COORDINATOR_LOAD_IN_PROGRESS') throwIfError(r);
      }
      if (attempt >= 20) throw new KafkaProtocolError('COORDINATOR_NOT_AVAILABLE', `no coordinator answered for group "${groupId}"`);
      await sleep(this.context.clock, 100);
    }
  }

  /** Leaves the network; every later call rejects with ClosedError. */
  close(): void {
    this.closed = true;
    this.connection.close();
  }

  private ensureOpen(): void {
    if (this.closed) throw new ClosedError(`admin client "${this.context.clientId}"`);
  }

  /**
   * Sends one request per leader broker for the partitions `build` picks, and gathers their
   * results. As Kafka's admin client, partitions whose leader moved or is being elected
   * (NOT_LEADER_OR_FOLLOWER, LEADER_NOT_AVAILABLE, a stale leader epoch, an unreachable leader)
   * are retried with fresh metadata until the request timeout; other errors are thrown.
   */
  private async perLeader(topic: string, type: string, build: (p: PartitionMetadata) => Record<string, unknown> | undefined, extra: Record<string, unknown> = {}): Promise<Array<Record<string, unknown>>> {
    const deadline = this.context.clock.now() + this.timeoutMs;
    const done = new Map<number, Record<string, unknown>>();
    let wanted: Set<number> | undefined;
    for (let attempt = 0; ; attempt++) {
      const meta = attempt === 0 ? await this.metadata.topic(topic, this.context.clock, this.timeoutMs, false) : ((await this.metadata.refresh().catch(() => this.metadata.image))?.topics[topic] ?? (await this.metadata.topic(topic, this.context.clock, this.timeoutMs, false)));
      const byLeader = new Map<number, Array<Record<string, unknown>>>();
      let lastError: KafkaProtocolError | undefined;
      const retry: number[] = [];
      for (const p of meta.partitions) {
        if (done.has(p.partition) || (wanted !== undefined && !wanted.has(p.partition))) continue;
        const entry = build(p);
        if (entry === undefined) continue;
        if (p.leader < 0) {
          lastError = new KafkaProtocolError('LEADER_NOT_AVAILABLE', `partition ${topic}-${p.partition} has no leader right now; retry shortly`);
          retry.push(p.partition);
          continue;
        }
        const list = byLeader.get(p.leader) ?? [];
        list.push(entry);
        byLeader.set(p.leader, list);
      }
      const responses = await Promise.all(
        [...byLeader].map(([leader, partitions]) =>
          this.connection.request<Message & { partitions: Array<Record<string, unknown>> }>(brokerNode(leader), { type, ...extra, partitions }, this.timeoutMs).then(
            (r) => r.partitions,
            (e: unknown) => partitions.map((entry) => ({ partition: entry.partition, error: 'NETWORK_EXCEPTION', message: e instanceof Error ? e.message : String(e) })),
          ),
        ),
      );
      for (const list of responses) {
        for (const p of list) {
          const error = p.error as string | undefined;
          if (error !== undefined && ADMIN_RETRIABLE.has(error)) {
            lastError = errorFromJSON({ name: 'KafkaProtocolError', code: error, message: (p.message as string | undefined) ?? error, retriable: true }) as KafkaProtocolError;
            retry.push(p.partition as number);
            continue;
          }
          throwIfError(p as { error?: string; message?: string });
          done.set(p.partition as number, p);
        }
      }
      if (retry.length === 0) return [...done.values()];
      if (this.context.clock.now() + 100 > deadline) throw lastError as KafkaProtocolError;
      wanted = new Set(retry);
      await sleep(this.context.clock, 100);
    }
  }

  /**
   * Sends a request to the active controller. A controller that is not active answers
   * NOT_CONTROLLER and names the active one (when it knows it); one that is down or silent is
   * skipped for the next. Retries back off `retry.backoff.ms` (100) until the request timeout.
   */
  private async controllerRequest(type: string, body: Record<string, unknown>): Promise<Message> {
    const deadline = this.context.clock.now() + this.timeoutMs;
    let lastError: unknown;
    for (;;) {
      const controllers = this.context.controllers();
      const to = controllers[this.controllerIndex % controllers.length] as NodeId;
      const remaining = deadline - this.context.clock.now();
      let response: Message | undefined;
      try {
        response = await this.connection.request(to, { type, ...body }, controllers.length > 1 ? Math.min(remaining, CONTROLLER_ATTEMPT_TIMEOUT_MS) : remaining);
      } catch (e) {
        if (!SamsaError.is(e) || !e.retriable) throw e;
        lastError = e;
        this.controllerIndex = (this.controllerIndex + 1) % controllers.length;
      }
      if (response !== undefined && response.error !== 'NOT_CONTROLLER') {
        if (typeof response.error === 'string') throw errorFromJSON({ name: 'KafkaProtocolError', code: response.error as KafkaErrorName, message: String(response.message ?? response.error), retriable: false });
        return response;
      }
      if (response !== undefined) {
        lastError = errorFromJSON({ name: 'KafkaProtocolError', code: 'NOT_CONTROLLER', message: String(response.message ?? 'not the active controller'), retriable: true });
        const hint = typeof response.controllerId === 'number' ? controllers.indexOf(controllerNode(response.controllerId)) : -1;
        this.controllerIndex = hint >= 0 ? hint : (this.controllerIndex + 1) % controllers.length;
      }
      if (this.context.clock.now() + ADMIN_RETRY_BACKOFF_MS >= deadline) throw lastError;
      await sleep(this.context.clock, ADMIN_RETRY_BACKOFF_MS);
    }
  }

  /** Polls broker metadata until `predicate` holds on every live broker (bounded by the request timeout). */
  /** Waits until every answering broker's image satisfies `predicate`; returns the partitions the brokers report offline. */
  private async awaitMetadata(predicate: (image: ClusterMetadataImage) => boolean): Promise<StorageErrorReport[]> {
    const deadline = this.context.clock.now() + this.timeoutMs;
    for (;;) {
      const storageErrors: StorageErrorReport[] = [];
      const images = await Promise.all(
        this.context.brokers().map((id) =>
          this.connection.request<Message & { image?: ClusterMetadataImage; storageErrors?: Array<Omit<StorageErrorReport, 'brokerId'>> }>(brokerNode(id), { type: 'metadata.request' }, this.timeoutMs).then(
            (r) => {
              for (const e of r.storageErrors ?? []) storageErrors.push({ ...e, brokerId: id });
              return r.image;
            },
            () => undefined,
          ),
        ),
      );
      if (images.every((image) => image === undefined || predicate(image))) {
        await this.metadata.refresh();
        return storageErrors;
      }
      if (this.context.clock.now() >= deadline) return storageErrors;
      await sleep(this.context.clock, 10);
    }
  }
}
