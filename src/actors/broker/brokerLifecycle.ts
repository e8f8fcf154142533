/**
 * Registration and heartbeats, as Kafka's `BrokerLifecycleManager`. Each process registers with
 * the active controller as a new incarnation and sends the registration again every second until
 * it is accepted (the controller refuses it while the session of the process that crashed is
 * still alive). Once registered, a heartbeat every `broker.heartbeat.interval.ms` keeps the
 * session alive; a controller that no longer knows the registration makes the broker register
 * again. The broker epoch the controller assigns is what the broker waits for before it applies
 * any metadata or serves any request.
 */
import type { Clock, TimerHandle } from '../../clock.ts';
import type { Message } from '../../transport/transport.ts';
import type { ControllerChannel } from './controllerChannel.ts';

/** How long a registration may go unanswered before it is sent again. */
const REGISTRATION_RETRY_MS = 1000;

/** What the lifecycle needs of its broker. */
export interface BrokerLifecycleContext {
  readonly brokerId: number;
  readonly clock: Clock;
  /** `broker.heartbeat.interval.ms`. */
  readonly heartbeatIntervalMs: number;
  readonly channel: ControllerChannel;
  readonly nextCorrelationId: () => number;
  /** Whether the broker process is up. */
  readonly isRunning: () => boolean;
  /** Version of the newest metadata image the broker replayed (-1 when none), sent with each heartbeat. */
  readonly metadataVersion: () => number;
  /** Called whenever a registration is accepted. */
  readonly onRegistered: () => void;
}

/** See the module comment. */
export class BrokerLifecycle {
  private epoch: number | undefined;
  private incarnationId = '';
  private registrationTimer: TimerHandle | undefined;
  private heartbeatTimer: TimerHandle | undefined;
  /** Set by {@link BrokerLifecycle.requestShutdown}: heartbeats ask to shut down, and this is told when allowed. */
  private shutdown: (() => void) | undefined;

  constructor(private readonly context: BrokerLifecycleContext) {}

  /** The broker epoch of this process's accepted registration; undefined until the controller accepts it. */
  get brokerEpoch(): number | undefined {
    return this.epoch;
  }

  /** Registers the process started as `incarnationId`. */
  start(incarnationId: string): void {
    this.incarnationId = incarnationId;
    this.register();
  }

  /** Forgets the registration and its timers (the process crashed or stopped). */
  stop(): void {
    for (const timer of [this.registrationTimer, this.heartbeatTimer]) if (timer !== undefined) this.context.clock.clearTimeout(timer);
    this.registrationTimer = undefined;
    this.heartbeatTimer = undefined;
    this.epoch = undefined;
    this.shutdown = undefined;
  }

  /**
   * Controlled shutdown (Kafka's `BrokerLifecycleManager.beginControlledShutdown`): from now on
   * every heartbeat carries `wantShutDown`, the first at once; resolves when the controller
   * answers `shouldShutDown` (its leaderships moved, it left every ISR). Never resolves while
   * the controllers are unreachable: the caller bounds the wait.
   */
  requestShutdown(): Promise<void> {
    return new Promise((resolve) => {
      this.shutdown = resolve;
      if (this.epoch === undefined) return resolve();
      if (this.heartbeatTimer !== undefined) this.context.clock.clearTimeout(this.heartbeatTimer);
      this.heartbeat();
      this.scheduleHeartbeat();
    });
  }

  private heartbeat(): void {
    if (this.epoch === undefined) return;
    this.context.channel.sendSessionRequest({ type: 'brokerHeartbeat.request', correlationId: this.context.nextCorrelationId(), brokerId: this.context.brokerId, brokerEpoch: this.epoch, currentMetadataVersion: this.context.metadataVersion(), ...(this.shutdown === undefined ? {} : { wantShutDown: true }) });
  }

  private register(): void {
    const { clock } = this.context;
    if (this.registrationTimer !== undefined) clock.clearTimeout(this.registrationTimer);
    this.context.channel.sendSessionRequest({ type: 'brokerRegistration.request', correlationId: this.context.nextCorrelationId(), brokerId: this.context.brokerId, incarnationId: this.incarnationId });
    // Re-send until the controller accepts it (it may be unreachable, or still hold the session
    // of the process that crashed: DUPLICATE_BROKER_REGISTRATION until that session expires).
    this.registrationTimer = clock.setTimeout(() => {
      this.registrationTimer = undefined;
      if (this.context.isRunning() && this.epoch === undefined) this.register();
    }, REGISTRATION_RETRY_MS);
  }

  /** The controller's answer to a registration. */
  onRegistrationResponse(message: Message): void {
    if (!this.context.isRunning()) return;
    if (typeof message.error === 'string' || typeof message.brokerEpoch !== 'number') return; // the timer registers again
    if (this.registrationTimer !== undefined) this.context.clock.clearTimeout(this.registrationTimer);
    this.registrationTimer = undefined;
    const first = this.epoch === undefined;
    this.epoch = message.brokerEpoch;
    this.context.onRegistered();
    if (first) this.scheduleHeartbeat();
  }

  /** Keeps the session alive: one heartbeat every `broker.heartbeat.interval.ms`. */
  private scheduleHeartbeat(): void {
    this.heartbeatTimer = this.context.clock.setTimeout(() => {
      this.heartbeatTimer = undefined;
      if (!this.context.isRunning() || this.epoch === undefined) return;
      this.heartbeat();
      this.scheduleHeartbeat();
    }, this.context.heartbeatIntervalMs);
  }

  /** The controller's answer to a heartbeat. */
  onHeartbeatResponse(message: Message): void {
    if (message.shouldShutDown === true) this.shutdown?.();
    // The controller no longer knows this registration (e.g. it lost its state): register again.
    if (message.error === 'STALE_BROKER_EPOCH' || message.error === 'BROKER_ID_NOT_REGISTERED') this.register();
  }
}
