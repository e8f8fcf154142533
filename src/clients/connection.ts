/**
 * A client's attachment to the network: one node address, request/response matching by
 * correlation id, and request timeouts on the injected clock. Producers, consumers and the admin
 * client each own one.
 */
import type { Clock, TimerHandle } from '../clock.ts';
import { ClosedError, InvalidArgumentError, KafkaProtocolError, TimeoutError } from '../errors.ts';
import type { Message, NodeId, Transport } from '../transport/transport.ts';
import { CorrelationIds } from '../protocol/index.ts';

interface InFlightRequest {
  readonly resolve: (response: Message) => void;
  readonly reject: (error: unknown) => void;
  readonly timer: TimerHandle;
  readonly to: NodeId;
}

/** A client node on the network. */
export class ClientConnection {
  private readonly ids = new CorrelationIds();
  private readonly inFlight = new Map<number, InFlightRequest>();
  private unregister: (() => void) | undefined;

  /** This client's address: `client:<clientId>`, or `client:<clientId>#<n>` when a live client already has that one. */
  readonly node: NodeId;

  constructor(
    node: NodeId,
    private readonly transport: Transport,
    readonly clock: Clock,
  ) {
    // Kafka's client.id need not be unique, but an address must be: a second live client with
    // the same id gets a numbered address (it still reports its client id as given).
    let address = node;
    for (let n = 2; ; n++) {
      try {
        this.unregister = transport.register(address, (message) => this.onMessage(message));
        break;
      } catch (e) {
        if (!(e instanceof InvalidArgumentError) || !node.startsWith('client:') || n > 10_000) throw e;
        address = `${node}#${n}` as NodeId;
      }
    }
    this.node = address;
  }

  /** Number of requests waiting for a response. */
  get pendingRequests(): number {
    return this.inFlight.size;
  }

  /** Requests waiting on `to`. */
  pendingTo(to: NodeId): number {
    let n = 0;
    for (const r of this.inFlight.values()) if (r.to === to) n++;
    return n;
  }

  /**
   * Sends a request and resolves with its response.
   * @throws TimeoutError (retriable) when no response arrives within `timeoutMs`.
   */
  request<T extends Message = Message>(to: NodeId, message: Omit<Message, 'correlationId'> & { type: string }, timeoutMs: number): Promise<T> {
    if (this.unregister === undefined) return Promise.reject(new ClosedError(`client ${this.node}`));
    const correlationId = this.ids.take();
    return new Promise<T>((resolve, reject) => {
      const timer = this.clock.setTimeout(() => {
        if (this.inFlight.delete(correlationId)) reject(new TimeoutError(`${message.type} to ${to}`, timeoutMs));
      }, timeoutMs);
      this.inFlight.set(correlationId, { resolve: resolve as (r: Message) => void, reject, timer, to });
      this.transport.send(this.node, to, { ...message, correlationId } as Message);
    });
  }

  /** Sends a message that expects no response (e.g. acks=0 produce). */
  fireAndForget(to: NodeId, message: Omit<Message, 'correlationId'> & { type: string }): void {
    if (this.unregister === undefined) return;
    this.transport.send(this.node, to, { ...message, correlationId: this.ids.take() } as Message);
  }

  /** Leaves the network; waiting requests fail with ClosedError. */
  close(): void {
    this.unregister?.();
    this.unregister = undefined;
    for (const [id, r] of this.inFlight) {
      this.clock.clearTimeout(r.timer);
      r.reject(new ClosedError(`client ${this.node}`));
      this.inFlight.delete(id);
    }
  }

  private onMessage(message: Message): void {
    if (message.type === 'transport.disconnected') {
      // The node went down: its connection closed, so what it was still to answer never comes.
      for (const [id, r] of this.inFlight) {
        if (r.to !== message.node) continue;
        this.inFlight.delete(id);
        this.clock.clearTimeout(r.timer);
        r.reject(new KafkaProtocolError('NETWORK_EXCEPTION', `the connection to ${String(message.node)} closed before it answered (the node stopped); the request can be retried`));
      }
      return;
    }
    const id = message.correlationId;
    if (id === undefined) return;
    const r = this.inFlight.get(id);
    if (r === undefined) return; // late response to a timed-out request
    this.inFlight.delete(id);
    this.clock.clearTimeout(r.timer);
    if (message.type === 'transport.unreachable') {
      r.reject(new KafkaProtocolError('NETWORK_EXCEPTION', `${String(message.node)} refused the connection (the node is not running); the request can be retried`));
      return;
    }
    r.resolve(message);
  }
}
