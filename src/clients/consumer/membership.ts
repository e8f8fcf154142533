/**
 * The consumer's side of the classic group protocol: find the coordinator, JoinGroup (with the
 * KIP-394 MEMBER_ID_REQUIRED round trip), compute the assignment when elected leader, SyncGroup,
 * heartbeat every `heartbeat.interval.ms`, and rejoin when the coordinator says a rebalance is in
 * progress. Eager assignors revoke everything before joining; cooperative-sticky revokes only what
 * moves and rejoins once more to pick up the rest (KIP-429), so no partition ever has two owners.
 *
 * Liveness is Kafka's (KIP-62, the Java client's AbstractCoordinator): heartbeats run beside the
 * application's processing and keep running while a rebalance is pending, so only
 * `max.poll.interval.ms` bounds the time between polls; the JoinGroup/SyncGroup exchange runs in
 * the background, so `poll(timeout)` never waits past its timeout for a rebalance; the rebalance
 * listener's callbacks (revoked, assigned, lost) run only inside poll (or unsubscribe/close), never
 * concurrently with the application's own work. Retriable coordinator errors are retried inside,
 * rediscovering the coordinator, and never reach poll.
 */
import type { Clock, TimerHandle } from '../../clock.ts';
import { ClosedError, InvalidArgumentError, KafkaProtocolError, RebalanceInProgressError, SamsaError, errorFromJSON } from '../../errors.ts';
import type { Logger } from '../../logger.ts';
import { silentLogger } from '../../logger.ts';
import type { Message } from '../../transport/transport.ts';
import { brokerNode } from '../../transport/transport.ts';
import type { ClientConnection } from '../connection.ts';
import { sleep } from '../../clock.ts';
import type { MetadataCache } from '../metadataCache.ts';
import { backoffWithin, isRetriable, isRetriableCode } from '../retry.ts';
import type { CallDeadline } from '../retry.ts';
import { assignorByName, readWireAssignment, wireAssignments } from './assignors/index.ts';
import type { MemberSubscription, PartitionAssignor, TopicPartition, WireAssignment } from './assignors/index.ts';

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
  readonly assignors: readonly (string | PartitionAssignor)[];
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
  /** The background rebalance made progress a waiting poll should look at. */
  wake(): void;
}

interface ConsumerProtocolMetadata {
  readonly topics: string[];
  readonly ownedPartitions: TopicPartition[];
  readonly generationId: number;
  /** The assignor's own bytes (Kafka's `userData`). */
  readonly userData?: Uint8Array;
}

/** An assignor object from `partition.assignment.strategy`, checked for what membership calls. */
function checkedAssignor(a: PartitionAssignor): PartitionAssignor {
  if (typeof a !== 'object' || a === null || typeof a.name !== 'string' || a.name === '' || typeof a.assign !== 'function' || (a.protocol !== 'eager' && a.protocol !== 'cooperative')) {
    throw new InvalidArgumentError('partitionAssignmentStrategy', 'an assignor object needs a name, a protocol (eager or cooperative) and an assign(partitionsPerTopic, subscriptions) function');
  }
  return a;
}

/** Options of one coordinator request. */
export interface CoordinatorRequestOptions {
  /** Retriable errors are retried until then (TimeoutError after); without one, until closed. */
  readonly deadline?: CallDeadline;
  /** This request's own timeout (default `request.timeout.ms`). */
  readonly timeoutMs?: number;
  /** Stops retrying (the rebalance round it belongs to was given up). */
  readonly abandoned?: () => boolean;
  /** One attempt: a failure is returned or thrown, not retried (Kafka's commitAsync). */
  readonly once?: boolean;
}

const COORDINATOR_ERRORS = new Set(['NOT_COORDINATOR', 'COORDINATOR_NOT_AVAILABLE', 'COORDINATOR_LOAD_IN_PROGRESS']);

/** Kafka's JOIN_GROUP_TIMEOUT_LAPSE: a JoinGroup parks up to the rebalance timeout, plus this. */
const JOIN_GROUP_TIMEOUT_LAPSE_MS = 5_000;

/**
 * The member's protocol state (Kafka's MemberState, with STABLE split in two): `synced` has its
 * assignment from SyncGroup, `stable` has also had it applied (callbacks run) by a poll.
 */
type MemberState = 'unjoined' | 'preparing' | 'completing' | 'synced' | 'stable';

type RoundOutcome =
  | { readonly kind: 'joined'; readonly assignment: TopicPartition[]; readonly userData?: Uint8Array; readonly memberId: string; readonly generationId: number; readonly protocol: string | undefined }
  /** The generation was lost (UNKNOWN_MEMBER_ID, ILLEGAL_GENERATION): partitions are lost, then rejoin. */
  | { readonly kind: 'reset' }
  | { readonly kind: 'fatal'; readonly error: unknown };

interface Round {
  outcome: RoundOutcome | undefined;
}

/** Thrown inside a rebalance round that leave/close gave up. */
const ABANDONED = new Error('rebalance round abandoned');

const tpKey = (tp: TopicPartition): string => `${tp.topic}\u0000${tp.partition}`;
const describe = (e: unknown): string => (SamsaError.is(e) ? `${e.code}: ${e.message}` : String(e));

/** A consumer's membership in its group. */
export class GroupMembership {
  /** Member id of the last rebalance a poll completed (Kafka's groupMetadata(), for KIP-447). */
  memberId = '';
  /** Generation of the last rebalance a poll completed (Kafka's groupMetadata()). */
  generationId = -1;
  protocol: string | undefined;
  /** Time of the last poll; the member leaves when it is older than `max.poll.interval.ms`. */
  lastPollAt: number;
  /** The generation the protocol runs in (JoinGroup's answer; reset when the coordinator says so). */
  private joined = { memberId: '', generationId: -1 };
  private state: MemberState = 'unjoined';
  private coordinator: number | undefined;
  private needsRejoin = true;
  /** The generation was lost while partitions were owned: `onPartitionsLost` at the next poll. */
  private generationLost = false;
  private round: Round | undefined;
  private rejoinAfterRound = false;
  private fatal: unknown;
  private heartbeatTimer: TimerHandle | undefined;
  private nextHeartbeatAt = 0;
  private closed = false;
  private readonly assignors: PartitionAssignor[];
  private readonly cooperative: boolean;
  private readonly logger: Logger;

  constructor(
    private readonly connection: ClientConnection,
    private readonly metadata: MetadataCache,
    private readonly clock: Clock,
    private readonly settings: MembershipSettings,
    private readonly hooks: MembershipHooks,
    logger: Logger = silentLogger,
  ) {
    this.assignors = settings.assignors.map((a) => (typeof a === 'string' ? assignorByName(a) : checkedAssignor(a)));
    this.cooperative = this.assignors.every((a) => a.protocol === 'cooperative');
    this.lastPollAt = clock.now();
    this.logger = logger.child({ groupId: settings.groupId, clientId: settings.clientId });
  }

  /** Whether the member is in a generation whose assignment a poll has applied. */
  get active(): boolean {
    return this.state === 'stable';
  }

  /** Marks that a rebalance is needed (new subscription, metadata change). */
  requestRejoin(): void {
    this.needsRejoin = true;
    // Asked while a round runs (its JoinGroup may carry the old subscription): one more round after it.
    if (this.round !== undefined) this.rejoinAfterRound = true;
  }

  /**
   * The generation an offset commit carries: Kafka's `generationIfStable`. A subscribed member
   * never commits without one (the coordinator would take a generation-less commit from a zombie).
   * @throws RebalanceInProgressError during a rebalance (poll completes it), or
   *   UNKNOWN_MEMBER_ID when the member is not in the group (its partitions were lost).
   */
  commitGeneration(): { memberId: string; generationId: number } {
    if (this.state === 'stable' && this.joined.generationId >= 0) return { ...this.joined };
    if (this.state !== 'unjoined') {
      throw new RebalanceInProgressError(this.settings.groupId, `offsets cannot be committed while consumer "${this.settings.clientId}" is rebalancing in group "${this.settings.groupId}"; poll() completes the rebalance, then commit again`);
    }
    throw new KafkaProtocolError('UNKNOWN_MEMBER_ID', `consumer "${this.settings.clientId}" is not part of an active generation of group "${this.settings.groupId}" (it was removed or has not joined yet), so it cannot commit; its partitions are lost and poll() rejoins`);
  }

  /** A commit sent in `sent` failed with `code`: the generation is reset as Kafka's commit handler does. */
  commitFailed(code: string, sent: { memberId: string; generationId: number }): void {
    if (code === 'REBALANCE_IN_PROGRESS') this.requestRejoin();
    else if ((code === 'UNKNOWN_MEMBER_ID' || code === 'ILLEGAL_GENERATION') && sent.generationId === this.joined.generationId && sent.memberId === this.joined.memberId) this.resetGeneration(`offset commit failed with ${code}`);
  }

  /**
   * Sends a request to the group coordinator, finding it (again) when needed. Transport errors
   * and coordinator errors (NOT_COORDINATOR, COORDINATOR_NOT_AVAILABLE, COORDINATOR_LOAD_IN_PROGRESS)
   * mark the coordinator unknown and are retried after `retry.backoff.ms`, until the deadline
   * (TimeoutError) or, without one, until the consumer closes.
   */
  async coordinatorRequest<T extends Message>(message: Omit<Message, 'correlationId'> & { type: string }, options: CoordinatorRequestOptions = {}): Promise<T> {
    for (;;) {
      this.checkLive(options);
      // A known coordinator is used without yielding, so the request leaves in this very tick
      // (a commit started by poll goes out before poll returns).
      const coordinator = this.coordinator ?? (await this.findCoordinator(options));
      let response: T;
      try {
        response = await this.connection.request<T>(brokerNode(coordinator), { ...message, groupId: this.settings.groupId }, this.timeoutWithin(options.timeoutMs ?? this.settings.requestTimeoutMs, options.deadline));
      } catch (e) {
        if (this.closed && !(e instanceof ClosedError)) throw new ClosedError(`consumer "${this.settings.clientId}"`);
        if (!isRetriable(e)) throw e;
        this.coordinatorUnavailable(coordinator, message.type, describe(e));
        if (options.once === true) throw e;
        await backoffWithin(this.clock, this.settings.retryBackoffMs, options.deadline, describe(e));
        continue;
      }
      const error = (response as { error?: string }).error;
      if (error !== undefined && COORDINATOR_ERRORS.has(error)) {
        this.coordinatorUnavailable(coordinator, message.type, error);
        if (options.once === true) return response;
        await backoffWithin(this.clock, this.settings.retryBackoffMs, options.deadline, error);
        continue;
      }
      return response;
    }
  }

  private checkLive(options: CoordinatorRequestOptions): void {
    if (this.closed) throw new ClosedError(`consumer "${this.settings.clientId}"`);
    if (options.abandoned?.() === true) throw ABANDONED;
  }

  /** A request timeout that does not run past the call's deadline. */
  private timeoutWithin(timeoutMs: number, deadline: CallDeadline | undefined): number {
    return deadline === undefined ? timeoutMs : Math.max(1, Math.min(timeoutMs, deadline.at - this.clock.now()));
  }

  /** Kafka's markCoordinatorUnknown: the next request finds the coordinator again. */
  private coordinatorUnavailable(coordinator: number, request: string, error: string): void {
    if (this.coordinator === coordinator) this.logger.warn('group coordinator unavailable; finding it again and retrying', { coordinator, request, error });
    else this.logger.debug('coordinator request failed; retrying', { coordinator, request, error });
    if (this.coordinator === coordinator) this.coordinator = undefined;
  }

  private async findCoordinator(options: CoordinatorRequestOptions): Promise<number> {
    for (let attempt = 0; ; attempt++) {
      this.checkLive(options);
      if (this.coordinator !== undefined) return this.coordinator;
      let lastError: string;
      try {
        const brokers = this.metadata.image?.brokers.map((b) => b.id) ?? (await this.metadata.refresh()).brokers.map((b) => b.id);
        const broker = brokers[attempt % brokers.length] as number;
        const response = await this.connection.request<Message & { coordinator?: number; error?: string; message?: string }>(brokerNode(broker), { type: 'findCoordinator.request', key: this.settings.groupId, keyType: 'group' }, this.timeoutWithin(this.settings.requestTimeoutMs, options.deadline));
        if (response.error === undefined && response.coordinator !== undefined && response.coordinator >= 0) {
          if (this.coordinator === undefined) this.logger.debug('group coordinator found', { coordinator: response.coordinator });
          this.coordinator = response.coordinator;
          return response.coordinator;
        }
        lastError = response.error ?? 'COORDINATOR_NOT_AVAILABLE';
      } catch (e) {
        if (this.closed) throw new ClosedError(`consumer "${this.settings.clientId}"`);
        if (!isRetriable(e)) throw e;
        lastError = describe(e);
      }
      this.logger.debug('finding the group coordinator failed; retrying', { error: lastError });
      await backoffWithin(this.clock, this.settings.retryBackoffMs, options.deadline, lastError);
    }
  }

  /**
   * Drives the group protocol from poll, without waiting for the coordinator: runs the callbacks
   * of a rebalance the background round finished (Kafka's onJoinComplete), prepares and starts the
   * next round when a rejoin is needed (onJoinPrepare: eager revoke, or lost after a reset).
   * Returns whether the member is stable. Only fatal errors (FENCED_INSTANCE_ID, an invalid
   * configuration) are thrown.
   */
  async ensureActive(): Promise<boolean> {
    for (;;) {
      if (this.fatal !== undefined) throw this.fatal;
      if (this.closed) return false;
      const round = this.round;
      if (round !== undefined) {
        if (round.outcome === undefined) return false;
        this.round = undefined;
        if (round.outcome.kind === 'fatal') this.fatal = round.outcome.error;
        else if (round.outcome.kind === 'joined') await this.complete(round.outcome);
        continue;
      }
      if (!this.needsRejoin) return this.state === 'stable';
      await this.prepare();
      if (this.round === undefined && this.needsRejoin && !this.closed) this.startRound();
    }
  }

  /** Kafka's onJoinPrepare: eager members give everything back; a member that lost its generation loses its partitions. */
  private async prepare(): Promise<void> {
    const owned = this.hooks.owned();
    const lost = this.generationLost || this.joined.generationId < 0;
    this.generationLost = false;
    if (owned.length === 0) return;
    if (lost) {
      this.logger.warn('partitions lost: the member is no longer in the group', { partitions: owned, memberId: this.memberId, generationId: this.generationId });
      await this.hooks.lost(owned);
    } else if (!this.cooperative) {
      this.logger.info('revoking partitions before rejoining the group', { partitions: owned, generationId: this.joined.generationId });
      await this.hooks.revoke(owned);
    }
  }

  /** Kafka's onJoinComplete: applies a finished rebalance's assignment (revoke, then assign). */
  private async complete(outcome: Extract<RoundOutcome, { kind: 'joined' }>): Promise<void> {
    // A heartbeat may have reset the generation since SyncGroup answered: rejoin instead.
    if (this.state !== 'synced' || this.joined.generationId !== outcome.generationId) return;
    this.state = 'stable';
    if (this.rejoinAfterRound) this.needsRejoin = true;
    this.rejoinAfterRound = false;
    this.memberId = outcome.memberId;
    this.generationId = outcome.generationId;
    this.protocol = outcome.protocol;
    const assignedKeys = new Set(outcome.assignment.map(tpKey));
    const revoked = this.hooks.owned().filter((tp) => !assignedKeys.has(tpKey(tp)));
    this.logger.info('joined the group', { generationId: outcome.generationId, memberId: outcome.memberId, protocol: outcome.protocol, partitions: outcome.assignment, revoked });
    if (revoked.length > 0) {
      await this.hooks.revoke(revoked);
      // Cooperative: the revoked partitions go to their new owners in a follow-up rebalance.
      if (this.cooperative) this.needsRejoin = true;
    }
    this.assignors.find((a) => a.name === outcome.protocol)?.onAssignment?.(outcome.assignment, outcome.userData);
    const ownedKeys = new Set(this.hooks.owned().map(tpKey));
    await this.hooks.assign(outcome.assignment.filter((tp) => !ownedKeys.has(tpKey(tp))));
  }

  private startRound(): void {
    this.rejoinAfterRound = false;
    const round: Round = { outcome: undefined };
    this.round = round;
    const finish = (outcome: RoundOutcome): void => {
      if (this.round !== round) return;
      round.outcome = outcome;
      this.hooks.wake();
    };
    this.runRound(round).then(finish, (e: unknown) => {
      if (e !== ABANDONED && !this.closed) finish({ kind: 'fatal', error: e });
    });
  }

  /**
   * One rebalance in the background: JoinGroup (parked by the coordinator until the group is
   * ready), the leader's assignment, SyncGroup. MEMBER_ID_REQUIRED, REBALANCE_IN_PROGRESS and
   * retriable errors are retried here, so a member whose poll returned keeps taking part.
   */
  private async runRound(round: Round): Promise<RoundOutcome> {
    const abandoned = (): boolean => this.round !== round || this.closed;
    const live = (): void => {
      if (abandoned()) throw ABANDONED;
    };
    const instance = this.settings.groupInstanceId === undefined ? {} : { groupInstanceId: this.settings.groupInstanceId };
    for (;;) {
      try {
        live();
        this.state = 'preparing';
        // Kafka disables the heartbeat thread while JoinGroup is pending: the parked JoinGroup keeps the session.
        this.stopHeartbeats();
        const topics = await this.hooks.subscribedTopics();
        live();
        const metadata: ConsumerProtocolMetadata = { topics, ownedPartitions: this.cooperative ? this.hooks.owned() : [], generationId: this.joined.generationId };
        const join = await this.coordinatorRequest<Message & { error?: string; message?: string; memberId: string; generationId: number; protocolName: string | null; leader: string; members: Array<{ memberId: string; groupInstanceId?: string; metadata: ConsumerProtocolMetadata }> }>(
          {
            type: 'joinGroup.request',
            memberId: this.joined.memberId,
            ...instance,
            clientId: this.settings.clientId,
            sessionTimeoutMs: this.settings.sessionTimeoutMs,
            rebalanceTimeoutMs: this.settings.maxPollIntervalMs,
            protocolType: 'consumer',
            protocols: this.assignors.map((a) => {
              const userData = a.subscriptionUserData?.(topics);
              return { name: a.name, metadata: userData === undefined ? metadata : { ...metadata, userData } };
            }),
          },
          { timeoutMs: Math.max(this.settings.requestTimeoutMs, this.settings.maxPollIntervalMs + JOIN_GROUP_TIMEOUT_LAPSE_MS), abandoned },
        );
        live();
        if (join.error === 'MEMBER_ID_REQUIRED') {
          this.joined = { memberId: join.memberId, generationId: -1 };
          continue;
        }
        if (join.error === 'UNKNOWN_MEMBER_ID' || join.error === 'ILLEGAL_GENERATION') {
          this.resetGeneration(`JoinGroup failed with ${join.error}`);
          return { kind: 'reset' };
        }
        if (join.error === 'REBALANCE_IN_PROGRESS') continue;
        if (join.error !== undefined) {
          if (!isRetriableCode(join.error)) return { kind: 'fatal', error: toError(join) };
          this.logger.warn('JoinGroup failed; retrying', { error: join.error });
          await sleep(this.clock, this.settings.retryBackoffMs);
          continue;
        }
        this.joined = { memberId: join.memberId, generationId: join.generationId };
        const protocol = join.protocolName ?? undefined;
        // Kafka enables heartbeats once JoinGroup answers (COMPLETING_REBALANCE): SyncGroup may wait for the leader.
        this.state = 'completing';
        this.startHeartbeats();
        const leader = join.leader === join.memberId;
        this.logger.debug('JoinGroup answered', { generationId: join.generationId, memberId: join.memberId, leader });
        const assignments = leader ? await this.computeAssignment(join.protocolName ?? '', join.members) : [];
        live();
        if (this.state !== 'completing' || this.joined.generationId !== join.generationId) return { kind: 'reset' };
        const sync = await this.coordinatorRequest<Message & { error?: string; message?: string; assignment: unknown }>(
          { type: 'syncGroup.request', memberId: join.memberId, generationId: join.generationId, ...instance, protocolType: 'consumer', protocolName: join.protocolName, assignments },
          { abandoned },
        );
        live();
        // A heartbeat that found the generation gone already reset it.
        if (this.state !== 'completing' || this.joined.generationId !== join.generationId) return { kind: 'reset' };
        if (sync.error === 'UNKNOWN_MEMBER_ID' || sync.error === 'ILLEGAL_GENERATION') {
          this.resetGeneration(`SyncGroup failed with ${sync.error}`);
          return { kind: 'reset' };
        }
        if (sync.error === 'REBALANCE_IN_PROGRESS') continue;
        if (sync.error !== undefined) {
          if (!isRetriableCode(sync.error)) return { kind: 'fatal', error: toError(sync) };
          this.logger.warn('SyncGroup failed; retrying', { error: sync.error });
          await sleep(this.clock, this.settings.retryBackoffMs);
          continue;
        }
        this.state = 'synced';
        this.needsRejoin = false;
        const { partitions, userData } = readWireAssignment(sync.assignment);
        return { kind: 'joined', assignment: partitions, ...(userData === undefined ? {} : { userData }), memberId: join.memberId, generationId: join.generationId, protocol };
      } catch (e) {
        if (e === ABANDONED || abandoned()) throw ABANDONED;
        if (!isRetriable(e)) return { kind: 'fatal', error: e };
        this.logger.warn('rebalance step failed; retrying', { error: describe(e) });
        await sleep(this.clock, this.settings.retryBackoffMs);
      }
    }
  }

  private async computeAssignment(protocol: string, members: ReadonlyArray<{ memberId: string; groupInstanceId?: string; metadata: ConsumerProtocolMetadata }>): Promise<Array<{ memberId: string; assignment: WireAssignment }>> {
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
      ...(m.metadata.userData === undefined ? {} : { userData: m.metadata.userData }),
    }));
    return wireAssignments(assignor, assignor.assign(partitionsPerTopic, subscriptions), subscriptions, members);
  }

  /**
   * Kafka's resetStateAndGeneration: the member is out of the group. No callback runs here: the
   * next poll calls `onPartitionsLost` for what it owned, then rejoins.
   */
  private resetGeneration(reason: string): void {
    if (this.joined.generationId >= 0 || this.joined.memberId !== '') this.logger.warn('member left the group generation; its partitions are lost and it rejoins at the next poll', { reason, memberId: this.joined.memberId, generationId: this.joined.generationId });
    this.joined = { memberId: '', generationId: -1 };
    this.state = 'unjoined';
    this.needsRejoin = true;
    this.generationLost = true;
    this.stopHeartbeats();
    this.hooks.wake();
  }

  private get heartbeating(): boolean {
    return !this.closed && (this.state === 'completing' || this.state === 'synced' || this.state === 'stable');
  }

  private startHeartbeats(): void {
    this.stopHeartbeats();
    this.scheduleHeartbeat(this.settings.heartbeatIntervalMs);
  }

  /**
   * Schedules the next heartbeat in `delayMs`; the timer also wakes when the poll timer would
   * expire first, so the member leaves on time (Kafka's heartbeat thread watches both).
   */
  private scheduleHeartbeat(delayMs: number): void {
    if (!this.heartbeating || this.heartbeatTimer !== undefined) return;
    this.nextHeartbeatAt = this.clock.now() + delayMs;
    this.armHeartbeatTimer();
  }

  private armHeartbeatTimer(): void {
    const pollExpiresAt = this.lastPollAt + this.settings.maxPollIntervalMs + 1;
    const at = Math.min(this.nextHeartbeatAt, pollExpiresAt);
    this.heartbeatTimer = this.clock.setTimeout(() => {
      this.heartbeatTimer = undefined;
      if (this.heartbeating && this.clock.now() < this.nextHeartbeatAt && this.clock.now() - this.lastPollAt <= this.settings.maxPollIntervalMs) this.armHeartbeatTimer();
      else this.beat();
    }, Math.max(0, at - this.clock.now()));
  }

  /**
   * One heartbeat (Kafka's HeartbeatThread): first the poll timer, then a Heartbeat. A
   * REBALANCE_IN_PROGRESS answer asks for a rejoin at the next poll and heartbeats go on: as the
   * Java client says, the coordinator keeps the member for the rebalance timeout only while it
   * keeps heartbeating, else the session timeout expires before the member can rejoin.
   */
  private beat(): void {
    if (!this.heartbeating) return;
    if (this.clock.now() - this.lastPollAt > this.settings.maxPollIntervalMs) {
      this.pollTimeoutExpired();
      return;
    }
    const sent = { ...this.joined };
    const instance = this.settings.groupInstanceId === undefined ? {} : { groupInstanceId: this.settings.groupInstanceId };
    // An unanswered heartbeat is given up after the session timeout at most (Kafka then marks the
    // coordinator unknown and finds it again), so a silent coordinator is left in time.
    const heartbeatTimeoutMs = Math.min(this.settings.requestTimeoutMs, this.settings.sessionTimeoutMs);
    const deadline: CallDeadline = { at: this.clock.now() + heartbeatTimeoutMs, timeoutMs: heartbeatTimeoutMs, operation: 'heartbeat' };
    this.coordinatorRequest<Message & { error?: string; message?: string }>({ type: 'heartbeat.request', memberId: sent.memberId, generationId: sent.generationId, ...instance }, { deadline }).then(
      (r) => {
        // An answer about an older generation says nothing about this one.
        if (this.closed || sent.generationId !== this.joined.generationId || sent.memberId !== this.joined.memberId) return;
        if (r.error === 'UNKNOWN_MEMBER_ID' || r.error === 'ILLEGAL_GENERATION') {
          this.resetGeneration(`heartbeat failed with ${r.error}`);
          return;
        }
        if (r.error === 'FENCED_INSTANCE_ID') {
          this.fatal = toError(r);
          this.resetGeneration('another member took this group.instance.id');
          return;
        }
        if (r.error === 'REBALANCE_IN_PROGRESS' && (this.state === 'synced' || this.state === 'stable') && !this.needsRejoin) {
          this.logger.info('the group is rebalancing; rejoining at the next poll', { generationId: sent.generationId });
          this.needsRejoin = true;
          this.hooks.wake();
        } else if (r.error !== undefined && r.error !== 'REBALANCE_IN_PROGRESS') {
          this.logger.warn('heartbeat failed; retrying', { error: r.error });
        }
        this.scheduleHeartbeat(this.settings.heartbeatIntervalMs);
      },
      (e: unknown) => {
        if (this.closed) return;
        this.logger.debug('heartbeat failed; retrying', { error: describe(e) });
        this.scheduleHeartbeat(this.settings.retryBackoffMs);
      },
    );
  }

  /**
   * Kafka's maybeLeaveGroup("consumer poll timeout has expired"): the application stopped polling
   * for `max.poll.interval.ms`, so the member leaves at once (a static member just resets and lets
   * its session expire) and the group can move its partitions; the next poll finds them lost.
   */
  private pollTimeoutExpired(): void {
    const { memberId } = this.joined;
    this.logger.warn('consumer poll timeout has expired: leaving the group; poll more often or raise maxPollIntervalMs, or lower maxPollRecords', { memberId, maxPollIntervalMs: this.settings.maxPollIntervalMs });
    if (this.settings.groupInstanceId === undefined && memberId !== '') {
      const deadline: CallDeadline = { at: this.clock.now() + this.settings.requestTimeoutMs, timeoutMs: this.settings.requestTimeoutMs, operation: 'leaving the group' };
      void this.coordinatorRequest({ type: 'leaveGroup.request', members: [{ memberId, reason: 'consumer poll timeout has expired' }] }, { deadline }).catch(() => undefined);
    }
    this.round = undefined;
    this.resetGeneration('consumer poll timeout has expired');
  }

  private stopHeartbeats(): void {
    if (this.heartbeatTimer !== undefined) this.clock.clearTimeout(this.heartbeatTimer);
    this.heartbeatTimer = undefined;
  }

  /** Leaves the group (LeaveGroup); ownership is revoked first (lost when the generation already was). */
  async leave(reason: string): Promise<void> {
    this.round = undefined;
    this.stopHeartbeats();
    const owned = this.hooks.owned();
    if (owned.length > 0) {
      if (this.generationLost || this.joined.generationId < 0) await this.hooks.lost(owned);
      else await this.hooks.revoke(owned);
    }
    const { memberId } = this.joined;
    if (memberId !== '') {
      const deadline: CallDeadline = { at: this.clock.now() + this.settings.requestTimeoutMs, timeoutMs: this.settings.requestTimeoutMs, operation: 'leaving the group' };
      await this.coordinatorRequest({ type: 'leaveGroup.request', members: [{ memberId, ...(this.settings.groupInstanceId === undefined ? {} : { groupInstanceId: this.settings.groupInstanceId }), reason }] }, { deadline }).catch(() => undefined);
      this.logger.info('left the group', { memberId, reason });
    }
    this.joined = { memberId: '', generationId: -1 };
    this.memberId = '';
    this.generationId = -1;
    this.state = 'unjoined';
    this.generationLost = false;
    this.needsRejoin = true;
  }

  /** Stops for good: static members stay registered until their session expires, others leave. */
  async close(): Promise<void> {
    if (this.settings.groupInstanceId === undefined && this.joined.memberId !== '') await this.leave('the consumer is being closed');
    this.closed = true;
    this.round = undefined;
    this.stopHeartbeats();
  }
}

function toError(response: { error?: string; message?: string }): SamsaError {
  return errorFromJSON({ name: 'KafkaProtocolError', code: response.error ?? 'UNKNOWN_SERVER_ERROR', message: response.message ?? response.error ?? 'unknown error', retriable: false });
}
