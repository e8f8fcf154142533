/**
 * Topics created on first use, as Kafka's `AutoTopicCreationManager`: a Metadata request that
 * names missing topics (with `allowAutoTopicCreation` and `auto.create.topics.enable`), or a
 * FindCoordinator whose internal topic does not exist yet, makes the broker ask the active
 * controller to create them. Until the topic is in the metadata the broker answers
 * LEADER_NOT_AVAILABLE (the client retries); a refusal, or no answer within
 * `controller.socket.timeout.ms`, lets the next request ask again. Also the Metadata API answer
 * itself, which is where auto-creation starts.
 */
import type { Clock, TimerHandle } from '../../clock.ts';
import type { ClusterMetadataImage } from '../../protocol/index.ts';
import { wireError } from '../../protocol/index.ts';
import type { Message, NodeId } from '../../transport/transport.ts';
import type { BrokerConfig } from './brokerConfig.ts';
import type { ControllerChannel } from './controllerChannel.ts';
import type { OfflineLog } from './logOpening.ts';

/** A CreateTopics request to the controller. */
export interface CreateTopicsRequest {
  readonly type: 'createTopics.request';
  readonly topics: ReadonlyArray<{ name: string; [field: string]: unknown }>;
}

/** What the manager needs of its broker. */
export interface AutoTopicCreationContext {
  readonly clock: Clock;
  /** `controller.socket.timeout.ms`: how long a CreateTopics may go unanswered. */
  readonly controllerSocketTimeoutMs: number;
  readonly channel: ControllerChannel;
  readonly nextCorrelationId: () => number;
}

/** See the module comment. */
export class AutoTopicCreationManager {
  private readonly creating = new Set<string>();
  /** Requests in flight: correlation id → topic names. */
  private readonly requests = new Map<number, { readonly names: readonly string[]; readonly timer: TimerHandle }>();

  constructor(private readonly context: AutoTopicCreationContext) {}

  /** Whether topic `name` is being created. */
  isCreating(name: string): boolean {
    return this.creating.has(name);
  }

  /** Asks the active controller to create topics; they count as being created until answered. */
  create(request: CreateTopicsRequest): void {
    const correlationId = this.context.nextCorrelationId();
    const names = request.topics.map((t) => t.name);
    for (const name of names) this.creating.add(name);
    const timer = this.context.clock.setTimeout(() => {
      if (!this.requests.delete(correlationId)) return;
      for (const name of names) this.creating.delete(name);
    }, this.context.controllerSocketTimeoutMs);
    this.requests.set(correlationId, { names, timer });
    this.context.channel.send({ ...request, correlationId });
  }

  /** The controller's answer to a CreateTopics this broker sent. */
  onResponse(message: Message): void {
    const pending = this.requests.get(message.correlationId as number);
    if (pending === undefined) return;
    this.requests.delete(message.correlationId as number);
    this.context.clock.clearTimeout(pending.timer);
    const { names } = pending;
    const results = (message.results as Array<{ name: string; error?: string }> | undefined) ?? [];
    for (const name of names) {
      const error = typeof message.error === 'string' ? message.error : results.find((r) => r.name === name)?.error;
      // Created (or created by someone else): the metadata push clears it. Anything else: ask again later.
      if (error !== undefined && error !== 'TOPIC_ALREADY_EXISTS') this.creating.delete(name);
    }
  }

  /** A new image: the topics it holds are created. */
  onImage(image: ClusterMetadataImage): void {
    for (const name of this.creating) if (image.topics[name] !== undefined) this.creating.delete(name);
  }

  /** Forgets every request and its timer (the process crashed or stopped). */
  stop(): void {
    this.creating.clear();
    for (const pending of this.requests.values()) this.context.clock.clearTimeout(pending.timer);
    this.requests.clear();
  }
}

/** Brokers not fenced in `image`. */
export function liveBrokers(image: ClusterMetadataImage): number {
  return image.brokers.filter((b) => !b.fenced).length;
}

/** What {@link answerMetadata} needs of its broker. */
export interface MetadataRequestContext {
  readonly brokerId: number;
  /** The newest image the broker applied. */
  readonly image: ClusterMetadataImage | undefined;
  readonly config: BrokerConfig;
  readonly autoCreation: AutoTopicCreationManager;
  /** The partitions offline on this broker. */
  readonly offline: Iterable<OfflineLog>;
  readonly send: (to: NodeId, message: Message) => void;
}

/**
 * The Metadata API: the broker's image, with an error per missing topic (LEADER_NOT_AVAILABLE
 * while it is being created, else UNKNOWN_TOPIC_OR_PARTITION); missing topics are auto-created
 * when the request and `auto.create.topics.enable` allow it.
 */
export function answerMetadata(context: MetadataRequestContext, message: Message, from: NodeId): void {
  const { image, config, autoCreation } = context;
  if (image === undefined) {
    context.send(from, { type: 'metadata.response', correlationId: message.correlationId, ...wireError('BROKER_NOT_AVAILABLE', `broker ${context.brokerId} has no metadata yet`) });
    return;
  }
  const wanted = message.topics as string[] | undefined;
  if (wanted !== undefined && message.allowAutoTopicCreation === true && config.autoCreateTopicsEnable) {
    const missing = wanted.filter((t) => image.topics[t] === undefined && !autoCreation.isCreating(t));
    if (missing.length > 0) {
      autoCreation.create({
        type: 'createTopics.request',
        topics: missing.map((name) => ({ name, numPartitions: config.numPartitions, replicationFactor: Math.min(config.defaultReplicationFactor, liveBrokers(image)) })),
      });
    }
  }
  // Kafka answers a missing topic with LEADER_NOT_AVAILABLE while auto-creating it, else UNKNOWN_TOPIC_OR_PARTITION.
  const topicErrors: Record<string, string> = {};
  for (const t of wanted ?? []) if (image.topics[t] === undefined) topicErrors[t] = autoCreation.isCreating(t) ? 'LEADER_NOT_AVAILABLE' : 'UNKNOWN_TOPIC_OR_PARTITION';
  // Not in Kafka's response: the partitions offline on this broker, so that createTopic can report them.
  const storageErrors = [...context.offline].map((o) => ({ topic: o.topic, partition: o.partition, path: o.path, message: o.error.message }));
  context.send(from, { type: 'metadata.response', correlationId: message.correlationId, image, topicErrors, ...(storageErrors.length === 0 ? {} : { storageErrors }) });
}
