/**
 * The consumer's side of the classic group protocol: find the coordinator, JoinGroup (with the
 * KIP-394 MEMBER_ID_REQUIRED round trip), compute the assignment when elected leader, SyncGroup,
 * heartbeat every `heartbeat.interval.ms`, and rejoin when the coordinator says a rebalance is in
 * progress. Eager assignors revoke everything before joining; cooperative-sticky revokes only what
 * moves and rejoins once more to pick up the rest (KIP-429), so no partition ever has two owners.
 */
import type { Clock, TimerHandle } from '../../clock.ts';
import { KafkaProtocolError, SamsaError, errorFromJSON } from '../../errors.ts';
import type { Message } from '../../transport/transport.ts';
import { brokerNode } from '../../transport/transport.ts';
import type { ClientConnection } from '../client/connection.ts';
import { sleep } from '../client/metadataCache.ts';
import type { MetadataCache } from '../client/metadataCache.ts';
import { assignorByName } from './assignors/index.ts';
import type { MemberSubscription, PartitionAssignor, TopicPartition } from './assignors/index.ts';

/** Group settings (Kafka consumer config). */
export interface MembershipSettings {
  readonly groupId: string;
  readonly groupInstanceId: string | undefined;
  readonly clientId: string;
  readonly sessionTimeoutMs: number;
  readonly heartbeatIntervalMs: number;
  readonly maxPollIntervalMs: number;
  readonly requestTimeoutMs: number;
  readonly retryBackoffMs: number;
  readonly assignors: readonly string[];
}

/** What membership needs from its consumer. */
export interface MembershipHooks {
  /** Topics the consumer subscribes to (resolved against metadata for patterns). */
  subscribedTopics(): Promise<string[]>;
  /** Partitions currently owned. */
  owned(): TopicPartition[];
  /** Called before partitions are taken away (commit offsets here). */
  revoke(partitions: TopicPartition[]): Promise<void>;
  /** Called with newly assigned partitions. */
  assign(partitions: TopicPartition[]): Promise<void>;
  /** Called when ownership was lost without a chance to commit (member fenced or expired). */
  lost(partitions: TopicPartition[]): Promise<void>;
}

interface ConsumerProtocolMetadata {
  readonly topics: string[];
  readonly ownedPartitions: TopicPartition[];
  readonly generationId: number;
}

const COORDINATOR_ERRORS = new Set(['NOT_COORDINATOR', 'COORDINATOR_NOT_AVAILABLE', 'COORDINATOR_LOAD_IN_PROGRESS']);

/** A consumer's membership in its group. */
export class GroupMembership {
  memberId = '';
  generationId = -1;
  protocol: string | undefined;
  private coordinator: number | undefined;
  private needsRejoin = true;
  private heartbeatTimer: TimerHandle | undefined;
  private closed = false;
  private readonly assignors: PartitionAssignor[];
  lastPollAt: number;

  constructor(
    private readonly connection: ClientConnection,
    private readonly metadata: MetadataCache,
    private readonly clock: Clock,
    private readonly settings: MembershipSettings,
    private readonly hooks: MembershipHooks,
  ) {
    this.assignors = settings.assignors.map((name) => assignorByName(name));
    this.lastPollAt = clock.now();
  }

  /** Whether the member has a current generation and assignment. */
  get active(): boolean {
    return !this.needsRejoin && this.generationId >= 0;
  }

  /** Marks that a rebalance is needed (new subscription, metadata change). */
  requestRejoin(): void {
    this.needsRejoin = true;
  }

  /** Sends a request to the group coordinator, finding (again) it when needed. */
  async coordinatorRequest<T extends Message>(message: Omit<Message, 'correlationId'> & { type: string }): Promise<T> {
    for (let attempt = 0; ; attempt++) {
      // A known coordinator is used without yielding, so the request leaves in this very tick
      // (a commit started by poll goes out before poll returns).
      const coordinator = this.coordinator ?? (await this.findCoordinator());
      let response: T;
      try {
        response = await this.connection.request<T>(brokerNode(coordinator), { ...message, groupId: this.settings.groupId }, this.settings.requestTimeoutMs);
      } catch (e) {
        this.coordinator = undefined;
        if (this.closed || attempt >= 5) throw e;
        await sleep(this.clock, this.settings.retryBackoffMs);
        continue;
      }
      const error = (response as { error?: string }).error;
      if (error !== undefined && COORDINATOR_ERRORS.has(error) && attempt < 20 && !this.closed) {
        this.coordinator = undefined;
        await sleep(this.clock, this.settings.retryBackoffMs);
        continue;
      }
      return response;
    }
  }

  private async findCoordinator(): Promise<number> {
    if (this.coordinator !== undefined) return this.coordinator;
    const brokers = this.metadata.image?.brokers.map((b) => b.id) ?? (await this.metadata.refresh()).brokers.map((b) => b.id);
    for (let attempt = 0; ; attempt++) {
      const broker = brokers[attempt % brokers.length] as number;
      try {
        const response = await this.connection.request<Message & { coordinator?: number; error?: string; message?: string }>(brokerNode(broker), { type: 'findCoordinator.request', key: this.settings.groupId, keyType: 'group' }, this.settings.requestTimeoutMs);
        if (response.error === undefined && response.coordinator !== undefined && response.coordinator >= 0) {
          this.coordinator = response.coordinator;
          return response.coordinator;
        }
      } catch (e) {
        if (this.closed) throw e;
      }
      if (this.closed) throw new KafkaProtocolError('COORDINATOR_NOT_AVAILABLE', `consumer "${this.settings.clientId}" is closed`);
      await sleep(this.clock, this.settings.retryBackoffMs);
    }
  }

  /**
   * Runs the join/sync protocol until the member is stable (called from poll). Returns without
   * doing anything when already active.
   */
  async ensureActive(): Promise<void> {
    while (this.needsRejoin && !this.closed) await this.joinOnce();
  }

  private async joinOnce(): Promise<void> {
    const cooperative = this.assignors.every((a) => a.protocol === 'cooperative');
    const owned = this.hooks.owned();
    if (!cooperative && owned.length > 0) await this.hooks.revoke(owned);
    const topics = await this.hooks.subscribedTopics();
    const metadata: ConsumerProtocolMetadata = { topics, ownedPartitions: cooperative ? owned : [], generationId: this.generationId };
    const join = await this.coordinatorRequest<Message & { error?: string; memberId: string; generationId: number; protocolName: string | null; leader: string; members: Array<{ memberId: string; groupInstanceId?: string; metadata: ConsumerProtocolMetadata }> }>({
      type: 'joinGroup.request',
      memberId: this.memberId,
      ...(this.settings.groupInstanceId === undefined ? {} : { groupInstanceId: this.settings.groupInstanceId }),
      clientId: this.settings.clientId,
      sessionTimeoutMs: this.settings.sessionTimeoutMs,
      rebalanceTimeoutMs: this.settings.maxPollIntervalMs,
      protocolType: 'consumer',
      protocols: this.assignors.map((a) => ({ name: a.name, metadata })),
    });
    if (join.error === 'MEMBER_ID_REQUIRED') {
      this.memberId = join.memberId;
      return;
    }
    if (join.error === 'UNKNOWN_MEMBER_ID' || join.error === 'ILLEGAL_GENERATION') {
      await this.resetGeneration(true);
      return;
    }
    if (join.error === 'REBALANCE_IN_PROGRESS') return;
    if (join.error !== undefined) {
      if (SamsaError.is(toError(join)) && toError(join).retriable) {
        await sleep(this.clock, this.settings.retryBackoffMs);
        return;
      }
      throw toError(join);
    }
    this.memberId = join.memberId;
    this.generationId = join.generationId;
    this.protocol = join.protocolName ?? undefined;
    let assignments: Array<{ memberId: string; assignment: TopicPartition[] }> = [];
    if (join.leader === this.memberId) assignments = await this.computeAssignment(join.protocolName ?? '', join.members);
    const sync = await this.coordinatorRequest<Message & { error?: string; assignment: TopicPartition[] | null }>({
      type: 'syncGroup.request',
      memberId: this.memberId,
      generationId: this.generationId,
      ...(this.settings.groupInstanceId === undefined ? {} : { groupInstanceId: this.settings.groupInstanceId }),
      protocolType: 'consumer',
      protocolName: join.protocolName,
      assignments,
    });
    if (sync.error !== undefined) {
      if (sync.error === 'UNKNOWN_MEMBER_ID' || sync.error === 'ILLEGAL_GENERATION') await this.resetGeneration(true);
      else if (sync.error === 'FENCED_INSTANCE_ID') throw toError(sync);
      return;
    }
    const assigned = sync.assignment ?? [];
    const stillOwned = this.hooks.owned();
    const key = (tp: TopicPartition): string => `${tp.topic}\u0000${tp.partition}`;
    const assignedKeys = new Set(assigned.map(key));
    const revoked = stillOwned.filter((tp) => !assignedKeys.has(key(tp)));
    this.needsRejoin = false;
    if (revoked.length > 0) {
      await this.hooks.revoke(revoked);
      // Cooperative: the revoked partitions go to their new owners in a follow-up rebalance.
      if (cooperative) this.needsRejoin = true;
    }
    const ownedKeys = new Set(this.hooks.owned().map(key));
    await this.hooks.assign(assigned.filter((tp) => !ownedKeys.has(key(tp))));
    this.startHeartbeats();
  }

  private async computeAssignment(protocol: string, members: ReadonlyArray<{ memberId: string; groupInstanceId?: string; metadata: ConsumerProtocolMetadata }>): Promise<Array<{ memberId: string; assignment: TopicPartition[] }>> {
    const assignor = this.assignors.find((a) => a.name === protocol) ?? assignorByName(protocol);
    const topics = [...new Set(members.flatMap((m) => m.metadata.topics))];
    const image = await this.metadata.refresh(topics);
    const partitionsPerTopic: Record<string, number> = {};
    for (const t of topics) {
      const meta = image.topics[t];
      if (meta !== undefined) partitionsPerTopic[t] = meta.partitions.length;
    }
    const subscriptions: MemberSubscription[] = members.map((m) => ({
      memberId: m.memberId,
      ...(m.groupInstanceId === undefined ? {} : { groupInstanceId: m.groupInstanceId }),
      topics: m.metadata.topics.filter((t) => partitionsPerTopic[t] !== undefined),
      ownedPartitions: m.metadata.ownedPartitions,
      generationId: m.metadata.generationId,
    }));
    const result = assignor.assign(partitionsPerTopic, subscriptions);
    return members.map((m) => ({ memberId: m.memberId, assignment: result[m.memberId] ?? [] }));
  }

  private async resetGeneration(lost: boolean): Promise<void> {
    const owned = this.hooks.owned();
    this.memberId = '';
    this.generationId = -1;
    this.needsRejoin = true;
    this.stopHeartbeats();
    if (lost && owned.length > 0) await this.hooks.lost(owned);
  }

  private startHeartbeats(): void {
    this.stopHeartbeats();
    const beat = (): void => {
      this.heartbeatTimer = undefined;
      if (this.closed || this.needsRejoin) return;
      if (this.clock.now() - this.lastPollAt > this.settings.maxPollIntervalMs) {
        // The application stopped polling: leave so the group can move on (static members just go quiet).
        if (this.settings.groupInstanceId === undefined) void this.leave('consumer poll timeout has expired').catch(() => undefined);
        else this.needsRejoin = true;
        return;
      }
      this.coordinatorRequest<Message & { error?: string }>({ type: 'heartbeat.request', memberId: this.memberId, generationId: this.generationId, ...(this.settings.groupInstanceId === undefined ? {} : { groupInstanceId: this.settings.groupInstanceId }) }).then(
        (r) => {
          if (r.error === 'REBALANCE_IN_PROGRESS') this.needsRejoin = true;
          else if (r.error === 'UNKNOWN_MEMBER_ID' || r.error === 'ILLEGAL_GENERATION' || r.error === 'FENCED_INSTANCE_ID') void this.resetGeneration(true);
          if (!this.needsRejoin) this.heartbeatTimer = this.clock.setTimeout(beat, this.settings.heartbeatIntervalMs);
        },
        () => {
          if (!this.closed) this.heartbeatTimer = this.clock.setTimeout(beat, this.settings.retryBackoffMs);
        },
      );
    };
    this.heartbeatTimer = this.clock.setTimeout(beat, this.settings.heartbeatIntervalMs);
  }

  private stopHeartbeats(): void {
    if (this.heartbeatTimer !== undefined) this.clock.clearTimeout(this.heartbeatTimer);
    this.heartbeatTimer = undefined;
  }

  /** Leaves the group (LeaveGroup); ownership is revoked first. */
  async leave(reason: string): Promise<void> {
    this.stopHeartbeats();
    const owned = this.hooks.owned();
    if (owned.length > 0) await this.hooks.revoke(owned);
    if (this.memberId !== '') {
      await this.coordinatorRequest({ type: 'leaveGroup.request', members: [{ memberId: this.memberId, ...(this.settings.groupInstanceId === undefined ? {} : { groupInstanceId: this.settings.groupInstanceId }), reason }] }).catch(() => undefined);
    }
    this.memberId = '';
    this.generationId = -1;
    this.needsRejoin = true;
  }

  /** Stops for good: static members stay registered until their session expires, others leave. */
  async close(): Promise<void> {
    if (this.settings.groupInstanceId === undefined && this.memberId !== '') await this.leave('the consumer is being closed');
    this.closed = true;
    this.stopHeartbeats();
  }
}

function toError(response: { error?: string; message?: string }): SamsaError {
  return errorFromJSON({ name: 'KafkaProtocolError', code: response.error ?? 'UNKNOWN_SERVER_ERROR', message: response.message ?? response.error ?? 'unknown error', retriable: false });
}
