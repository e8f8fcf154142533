/**
 * A client's view of the cluster metadata: refreshed from any live broker, used to find
 * partition leaders and partition counts, and to wait (bounded by `max.block.ms`) for a topic
 * that is being created.
 */
import type { Clock } from '../clock.ts';
import { sleep } from '../clock.ts';
import { KafkaProtocolError, SamsaError } from '../errors.ts';
import type { Message, NodeId } from '../transport/transport.ts';
import { brokerNode } from '../transport/transport.ts';
import type { ClusterMetadataImage, TopicMetadata } from '../protocol/index.ts';
import type { ClientConnection } from './connection.ts';

/** The client-side metadata cache. */
export class MetadataCache {
  private current: ClusterMetadataImage | undefined;
  /** Per-topic errors of the last metadata response (UNKNOWN_TOPIC_OR_PARTITION, LEADER_NOT_AVAILABLE). */
  private topicErrors: Readonly<Record<string, string>> = {};
  private next = 0;
  private inFlight: Promise<ClusterMetadataImage> | undefined;

  constructor(
    private readonly connection: ClientConnection,
    private readonly bootstrap: () => readonly number[],
    private readonly requestTimeoutMs: number,
  ) {}

  /** The last image seen, if any. */
  get image(): ClusterMetadataImage | undefined {
    return this.current;
  }

  /** Leader broker id of a partition, or -1 when unknown or offline. */
  leaderOf(topic: string, partition: number): number {
    return this.current?.topics[topic]?.partitions[partition]?.leader ?? -1;
  }

  /** Leader epoch of a partition, or -1 when unknown. */
  leaderEpochOf(topic: string, partition: number): number {
    return this.current?.topics[topic]?.partitions[partition]?.leaderEpoch ?? -1;
  }

  /**
   * Fetches fresh metadata from the next bootstrap broker that answers. Concurrent calls share
   * one request. Newer images never get replaced by older ones.
   */
  refresh(topics?: readonly string[], allowAutoTopicCreation = false): Promise<ClusterMetadataImage> {
    if (this.inFlight !== undefined && !allowAutoTopicCreation) return this.inFlight;
    const attempt = this.fetchFromAny(topics, allowAutoTopicCreation).finally(() => {
      if (this.inFlight === attempt) this.inFlight = undefined;
    });
    this.inFlight = attempt;
    return attempt;
  }

  private async fetchFromAny(topics: readonly string[] | undefined, allowAutoTopicCreation: boolean): Promise<ClusterMetadataImage> {
    const brokers = this.bootstrap();
    let lastError: unknown = new KafkaProtocolError('BROKER_NOT_AVAILABLE', 'no brokers to ask for metadata');
    for (let i = 0; i < brokers.length; i++) {
      const id = brokers[this.next++ % brokers.length] as number;
      try {
        const response = await this.connection.request<Message & { image?: ClusterMetadataImage; error?: string; topicErrors?: Record<string, string> }>(brokerNode(id), { type: 'metadata.request', topics, allowAutoTopicCreation }, this.requestTimeoutMs);
        if (response.image === undefined) throw new KafkaProtocolError('BROKER_NOT_AVAILABLE', `broker ${id} has no metadata yet`);
        this.topicErrors = response.topicErrors ?? {};
        if (this.current === undefined || response.image.version >= this.current.version) this.current = response.image;
        return this.current;
      } catch (e) {
        lastError = e;
      }
    }
    throw lastError;
  }

  /**
   * Waits until `topic` exists (asking brokers to auto-create it when allowed), retrying with
   * backoff for at most `maxBlockMs`.
   * @throws KafkaProtocolError UNKNOWN_TOPIC_OR_PARTITION when it never appears.
   */
  async topic(topic: string, clock: Clock, maxBlockMs: number, allowAutoTopicCreation: boolean): Promise<TopicMetadata> {
    const known = this.current?.topics[topic];
    if (known !== undefined) return known;
    const deadline = clock.now() + maxBlockMs;
    let backoff = 50;
    let lastError: unknown;
    for (;;) {
      try {
        const image = await this.refresh([topic], allowAutoTopicCreation);
        const found = image.topics[topic];
        if (found !== undefined) return found;
      } catch (e) {
        lastError = e;
        if (SamsaError.is(e) && !e.retriable) throw e;
      }
      if (clock.now() + backoff > deadline) {
        const creating = allowAutoTopicCreation && this.topicErrors[topic] === 'LEADER_NOT_AVAILABLE';
        const hint = creating ? 'auto-creation did not complete; check that the controller is reachable' : 'create it first or set auto.create.topics.enable';
        throw new KafkaProtocolError('UNKNOWN_TOPIC_OR_PARTITION', `topic "${topic}" does not exist after waiting ${maxBlockMs} ms (max.block.ms); ${hint}`, lastError === undefined ? undefined : { cause: lastError });
      }
      await sleep(clock, backoff);
      backoff = Math.min(backoff * 2, 1000);
    }
  }

  /** Node of a broker. */
  static node(brokerId: number): NodeId {
    return brokerNode(brokerId);
  }
}
