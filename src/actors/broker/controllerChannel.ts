/**
 * Which controller a broker talks to, as Kafka's controller channel: every request meant for the
 * active controller (registration, heartbeats, AlterPartition, auto-created topics, producer-id
 * blocks) goes to the one believed active. A NOT_CONTROLLER answer points at the right one; a
 * session request left unanswered, a controller that is unreachable or disconnected, moves on to
 * the next, so the broker re-discovers the active controller after a failover.
 */
import type { Message, NodeId } from '../../transport/transport.ts';
import { controllerNode } from '../../transport/transport.ts';

/** What the channel needs of its broker. */
export interface ControllerChannelContext {
  /** Every controller of the quorum. */
  readonly controllers: readonly NodeId[];
  /** Sends a message from the broker's node. */
  readonly send: (to: NodeId, message: Message) => void;
}

/** See the module comment. The choice of controller outlives a crash of the broker, as a hint. */
export class ControllerChannel {
  /** Index in `controllers` of the controller believed active. */
  private index = 0;
  /** Whether a controller answered since the last registration or heartbeat was sent. */
  private answered = true;

  constructor(private readonly context: ControllerChannelContext) {}

  /** The controller believed active. */
  get controller(): NodeId {
    return this.context.controllers[this.index % this.context.controllers.length] as NodeId;
  }

  /** Sends `message` to the controller believed active. */
  send(message: Message): void {
    this.context.send(this.controller, message);
  }

  /**
   * Sends a session request (registration, heartbeat) to the active controller. When the previous
   * one went unanswered the controller may be down or cut off: try the next one first.
   */
  sendSessionRequest(message: Message): void {
    if (!this.answered) this.next();
    this.answered = false;
    this.send(message);
  }

  /** Gives up on the current controller: the next request goes to the next one. */
  next(): void {
    this.index = (this.index + 1) % this.context.controllers.length;
  }

  /** Points at controller `node` when it is one of the quorum. */
  use(node: NodeId): void {
    const at = this.context.controllers.indexOf(node);
    if (at >= 0) this.index = at;
  }

  /** Bookkeeping for any message from a controller: it answered; NOT_CONTROLLER points at the active one. */
  onMessage(message: Message): void {
    this.answered = true;
    if (message.error === 'NOT_CONTROLLER') {
      if (typeof message.controllerId === 'number' && message.controllerId >= 0) this.use(controllerNode(message.controllerId));
      else this.next();
    }
  }

  /** A new process starts with no unanswered request. */
  reset(): void {
    this.answered = true;
  }
}
