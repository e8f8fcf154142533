/**
 * What the NATS transport knows of its peers' liveness, which is only what NATS tells: who waits
 * on whom for an answer, and which publishes the server may refuse for want of a listener (its
 * "no responders" answer to a publish with a reply subject). Pure bookkeeping: the transport
 * publishes, times and delivers the signals this decides.
 */
import type { NodeId } from '../protocol/nodeId.ts';

/** A publish the server may refuse: to whom, the local nodes it speaks for, and its requests. */
export interface Watched {
  readonly to: NodeId;
  readonly senders: ReadonlySet<NodeId>;
  readonly requests: ReadonlyArray<{ readonly from: NodeId; readonly correlationId: number }>;
}

/** What a refusal or a lost connection means for the local nodes: the signals to deliver. */
export interface Signals {
  /** `transport.unreachable` for each refused request. */
  readonly unreachable: ReadonlyArray<{ readonly from: NodeId; readonly to: NodeId; readonly correlationId: number }>;
  /** `transport.disconnected`: `from` waits in vain on `to`. */
  readonly disconnected: ReadonlyArray<{ readonly from: NodeId; readonly to: NodeId }>;
}

/** Publishes awaiting a possible refusal: beyond this many, the oldest are forgotten (they were delivered). */
const MAX_WATCHED = 10_000;
/** A request unanswered this long is no longer watched (request timeouts are far shorter). */
const FORGET_REQUESTS_AFTER_MS = 300_000;

/** See the module comment. */
export class PeerLiveness {
  /** Publishes with a reply subject, by their number there. */
  private readonly watched = new Map<number, Watched>();
  private watchNumber = 0;
  /**
   * Requests awaiting an answer, by the node that owes it, then the local node that asked, then
   * correlation id: when each was sent.
   */
  private readonly owing = new Map<NodeId, Map<NodeId, Map<number, number>>>();

  /** Remembers a publish the server may refuse; its number goes in the reply subject. */
  watch(watched: Watched): number {
    const number = this.watchNumber++;
    this.watched.set(number, watched);
    if (this.watched.size > MAX_WATCHED) this.watched.delete(this.watched.keys().next().value as number);
    return number;
  }

  /**
   * The server found no listener for publish `number`: the node's process is gone (or cut off
   * from NATS), as a refused TCP connection says. Its requests fail at once, and so does whatever
   * local nodes still wait for from it: nobody is left to answer.
   */
  refused(number: number): Signals {
    const watched = this.watched.get(number);
    if (watched === undefined) return { unreachable: [], disconnected: [] };
    this.watched.delete(number);
    const waiting = this.owing.get(watched.to);
    this.owing.delete(watched.to);
    const senders = new Set([...watched.senders, ...(waiting?.keys() ?? [])]);
    return {
      unreachable: watched.requests.map(({ from, correlationId }) => ({ from, to: watched.to, correlationId })),
      disconnected: [...senders].map((from) => ({ from, to: watched.to })),
    };
  }

  /**
   * This process's connection broke: what crossed it around then may be lost, in both
   * directions, as with every TCP connection of a Kafka client at once. Whoever waits on an
   * answer is told the connection closed (and retries), instead of waiting out its timeout.
   */
  connectionLost(): Signals {
    const owing = [...this.owing];
    this.owing.clear();
    return { unreachable: [], disconnected: owing.flatMap(([to, waiting]) => [...waiting.keys()].map((from) => ({ from, to }))) };
  }

  /** `from` sent request `correlationId` to `to` at `now`. */
  asked(from: NodeId, to: NodeId, correlationId: number, now: number): void {
    let waiting = this.owing.get(to);
    if (waiting === undefined) this.owing.set(to, (waiting = new Map()));
    let requests = waiting.get(from);
    if (requests === undefined) waiting.set(from, (requests = new Map()));
    requests.set(correlationId, now);
  }

  /**
   * A message of `type` from `from` reached local node `to`: a response answers the request with
   * its correlation id. A request the other way answers nothing (two brokers long-poll each
   * other's fetches).
   */
  arrived(from: NodeId, to: NodeId, type: string, correlationId: unknown): void {
    if (!type.endsWith('.response') || typeof correlationId !== 'number') return;
    const waiting = this.owing.get(from);
    const requests = waiting?.get(to);
    if (waiting === undefined || requests === undefined) return;
    requests.delete(correlationId);
    if (requests.size > 0) return;
    waiting.delete(to);
    if (waiting.size === 0) this.owing.delete(from);
  }

  /**
   * The nodes to probe at `now`: those owing an answer for at least `afterMs`, with the local
   * nodes waiting on each. Requests unanswered for very long are forgotten on the way.
   */
  due(now: number, afterMs: number): Array<{ readonly to: NodeId; readonly senders: ReadonlySet<NodeId> }> {
    const due: Array<{ to: NodeId; senders: Set<NodeId> }> = [];
    for (const [to, waiting] of this.owing) {
      const senders = new Set<NodeId>();
      for (const [from, requests] of waiting) {
        for (const [correlationId, since] of requests) {
          if (now - since > FORGET_REQUESTS_AFTER_MS) requests.delete(correlationId);
          else if (now - since >= afterMs) senders.add(from);
        }
        if (requests.size === 0) waiting.delete(from);
      }
      if (waiting.size === 0) this.owing.delete(to);
      if (senders.size > 0) due.push({ to, senders });
    }
    return due;
  }
}
