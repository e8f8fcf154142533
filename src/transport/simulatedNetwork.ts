/**
 * The in-process network: a {@link Transport} that delivers messages between nodes in one
 * process, with faults on command (delay, drop, duplicate, reorder, partitions between nodes).
 *
 * Guarantees:
 * - Without faults, messages on one link (from → to) arrive in the order they were sent, as on a
 *   TCP connection; messages on different links interleave in an order drawn from the seed.
 * - In `manual` mode nothing is delivered until {@link SimulatedNetwork.deliverDue} is called,
 *   so a test harness on a SimulatedClock controls every interleaving and a seed replays a run.
 * - In automatic mode (the embedded default) due messages are delivered in batches on the next
 *   turn of the event loop and delayed ones by the clock's timers.
 * - A node that stops (crashes) is noticed as a closed TCP connection would be: every node that
 *   sent it messages receives `transport.disconnected` from it, after whatever it sent before it
 *   stopped. A cut link stays silent instead, as a network partition does.
 * - With a `codec`, every message travels as bytes: encoded when sent, decoded for each delivery
 *   (a duplicate is decoded twice), so a receiver never shares an object with its sender. A message
 *   the codec refuses is dropped, never delivered, and reported as a `rejected` event with the
 *   codec's typed error (and kept in {@link SimulatedNetwork.codecFailures} when a node sent it).
 */
import type { Clock } from '../clock.ts';
import { InvalidArgumentError, UndecodableMessageError, UnencodableMessageError } from '../errors.ts';
import type { Random } from '../random.ts';
import type { MessageCodec } from './codec.ts';
import type { Message, MessageHandler, NodeId, Transport } from './transport.ts';

/** Faults applied to every message sent while they are set. */
export interface NetworkFaults {
  /** Extra delivery delay drawn uniformly from [min, max] ms. */
  readonly delayMs?: { readonly min: number; readonly max: number };
  /** Probability that a message is lost. */
  readonly dropRate?: number;
  /** Probability that a message is delivered twice. */
  readonly duplicateRate?: number;
  /** Allow messages on one link to overtake each other (breaks per-link FIFO). */
  readonly reorder?: boolean;
  /** Apply these faults only to messages of these types (e.g. `['writeTxnMarkers.request']`); all when unset. */
  readonly types?: readonly string[];
}

const NO_FAULTS: NetworkFaults = {};

/** A message on its way. */
interface InFlight {
  readonly at: number;
  readonly order: number;
  readonly from: NodeId;
  readonly to: NodeId;
  /** The message as sent (for events; with a codec the receiver gets a decode of `bytes` instead). */
  readonly message: Message;
  /** The encoded message, when the network has a codec. */
  readonly bytes?: Uint8Array;
  /** Injected from outside (untrusted bytes): a refusal is expected, not a sender's bug. */
  readonly injected?: boolean;
  /** The receiving process (registration) the message was sent to; -1 when none was registered. */
  readonly incarnation: number;
}

/**
 * What the network did with a message, for inspection and histories. A request to a node that is
 * not running is answered by the network itself with `transport.unreachable` (connection refused).
 */
export interface NetworkEvent {
  readonly type: 'delivered' | 'dropped' | 'duplicated' | 'unreachable' | 'rejected';
  readonly from: NodeId;
  readonly to: NodeId;
  /** The message (for injected bytes that decode to none, `{ type: '(undecodable bytes)' }`). */
  readonly message: Message;
  /** Why the codec refused the message (`rejected` events only). */
  readonly error?: UnencodableMessageError | UndecodableMessageError;
}

/** Options of {@link SimulatedNetwork}. */
export interface SimulatedNetworkOptions {
  readonly clock: Clock;
  readonly random: Random;
  /** When true, only {@link SimulatedNetwork.deliverDue} delivers (deterministic test harness). */
  readonly manual?: boolean;
  /**
   * Carry every message as bytes through this codec (as between processes), so that a message
   * holding anything a real network would lose — a function, a class instance, an object shared
   * with its sender — fails here instead of working by accident in one process.
   */
  readonly codec?: MessageCodec;
}

/** The in-process network. See the module comment for its guarantees. */
export class SimulatedNetwork implements Transport {
  private readonly handlers = new Map<NodeId, MessageHandler>();
  /** Per node id, which registration (process) holds it: a message is for the process it was sent to. */
  private readonly incarnations = new Map<NodeId, number>();
  private nextIncarnation = 1;
  private queue: InFlight[] = [];
  private readonly linkTail = new Map<string, { at: number; order: number }>();
  private faults: NetworkFaults = {};
  private readonly linkFaults = new Map<string, NetworkFaults>();
  private readonly cut = new Set<string>();
  private sequence = 0;
  private drainScheduled = false;
  private timerAt: number | undefined;
  private readonly listeners = new Set<(event: NetworkEvent) => void>();
  /** For each node, the nodes that sent it something: they hear of its disconnection. */
  private readonly peers = new Map<NodeId, Set<NodeId>>();
  /** Number of messages delivered so far. */
  delivered = 0;
  /**
   * Messages sent by nodes that the codec refused (to encode, or to decode what it encoded): each
   * is a bug of the sender, and a test harness fails the run on the first.
   */
  readonly codecFailures: (UnencodableMessageError | UndecodableMessageError)[] = [];

  constructor(private readonly options: SimulatedNetworkOptions) {}

  register(node: NodeId, handler: MessageHandler): () => void {
    if (this.handlers.has(node)) throw new InvalidArgumentError('node', `node "${node}" is already registered on the network; stop it before starting another with the same id`);
    this.handlers.set(node, handler);
    this.incarnations.set(node, this.nextIncarnation++);
    return () => {
      if (this.handlers.get(node) !== handler) return;
      this.handlers.delete(node);
      const peers = this.peers.get(node);
      this.peers.delete(node);
      for (const peer of peers ?? []) this.send(node, peer, { type: 'transport.disconnected', node });
    };
  }

  /** Whether a node is registered (alive). */
  isRegistered(node: NodeId): boolean {
    return this.handlers.has(node);
  }

  send(from: NodeId, to: NodeId, message: Message): void {
    let bytes: Uint8Array | undefined;
    if (this.options.codec !== undefined) {
      try {
        bytes = this.options.codec.encode(message);
      } catch (e) {
        this.refuse(from, to, message, e, false);
        return;
      }
    }
    this.enqueue(from, to, message, bytes, false);
  }

  /**
   * Puts raw bytes on the wire from `from` to `to`, as a foreign or broken process could: they are
   * decoded on delivery like any message, and refused (a `rejected` event, nothing delivered) when
   * they are not one. Needs a `codec`.
   */
  sendBytes(from: NodeId, to: NodeId, bytes: Uint8Array): void {
    if (this.options.codec === undefined) throw new InvalidArgumentError('codec', 'sendBytes needs a network created with a codec (new SimulatedNetwork({ ..., codec: messageCodec }))');
    this.enqueue(from, to, { type: '(undecodable bytes)' }, bytes, true);
  }

  private refuse(from: NodeId, to: NodeId, message: Message, e: unknown, injected: boolean): void {
    if (!(e instanceof UnencodableMessageError || e instanceof UndecodableMessageError)) throw e;
    if (!injected) this.codecFailures.push(e);
    this.emit({ type: 'rejected', from, to, message, error: e });
  }

  private enqueue(from: NodeId, to: NodeId, message: Message, bytes: Uint8Array | undefined, injected: boolean): void {
    const now = this.options.clock.now();
    let peers = this.peers.get(to);
    if (peers === undefined) this.peers.set(to, (peers = new Set()));
    peers.add(from);
    const link = `${from}\u0000${to}`;
    const set = this.linkFaults.get(link) ?? this.faults;
    const faults = set.types === undefined || set.types.includes(message.type) ? set : NO_FAULTS;
    const random = this.options.random;
    if (faults.dropRate !== undefined && faults.dropRate > 0 && random.next() < faults.dropRate) {
      this.emit({ type: 'dropped', from, to, message });
      return;
    }
    const copies = faults.duplicateRate !== undefined && faults.duplicateRate > 0 && random.next() < faults.duplicateRate ? 2 : 1;
    for (let i = 0; i < copies; i++) {
      let at = now;
      // Whole milliseconds: the clock follows delivery times, and Kafka timestamps are integral ms.
      if (faults.delayMs !== undefined) at += Math.round(faults.delayMs.min + random.next() * (faults.delayMs.max - faults.delayMs.min));
      // Auto mode keeps global send order; manual mode draws the interleaving of links from the seed.
      let order = this.options.manual ? random.next() : this.sequence++;
      if (!faults.reorder) {
        const tail = this.linkTail.get(link);
        if (tail !== undefined && tail.at > at) at = tail.at;
        if (tail !== undefined && tail.at === at && tail.order >= order) order = tail.order + (this.options.manual ? random.next() : 1);
        this.linkTail.set(link, { at, order });
      }
      // A duplicate is a second copy off the wire, not the same object: the receiver may own and
      // change what it is handed (a leader stamps offsets into produced batches in place).
      // (With a codec every delivery decodes its own copy of the bytes.)
      const copy = i === 0 || bytes !== undefined ? message : structuredClone(message);
      this.push({ at, order, from, to, message: copy, ...(bytes === undefined ? {} : { bytes }), ...(injected ? { injected } : {}), incarnation: this.handlers.has(to) ? (this.incarnations.get(to) as number) : -1 });
      if (i === 1) this.emit({ type: 'duplicated', from, to, message });
    }
    this.schedule();
  }

  /** Sets faults for all links (replacing previous ones); `{}` removes them. */
  setFaults(faults: NetworkFaults): void {
    this.faults = faults;
  }

  /** Sets faults for one direction of one link. */
  setLinkFaults(from: NodeId, to: NodeId, faults: NetworkFaults | undefined): void {
    const link = `${from}\u0000${to}`;
    if (faults === undefined) this.linkFaults.delete(link);
    else this.linkFaults.set(link, faults);
  }

  /** Cuts every link between the two groups (both directions); messages on cut links are lost. */
  partition(groupA: readonly NodeId[], groupB: readonly NodeId[]): void {
    for (const a of groupA) {
      for (const b of groupB) {
        this.cut.add(`${a}\u0000${b}`);
        this.cut.add(`${b}\u0000${a}`);
      }
    }
  }

  /** Cuts `node` off from every other node. */
  isolate(node: NodeId, others: readonly NodeId[]): void {
    this.partition([node], others.filter((o) => o !== node));
  }

  /** Restores every cut link. */
  heal(): void {
    this.cut.clear();
  }

  /** Whether the link from → to is cut. */
  isCut(from: NodeId, to: NodeId): boolean {
    return this.cut.has(`${from}\u0000${to}`);
  }

  /** Observes what happens to messages. */
  observe(listener: (event: NetworkEvent) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Messages in flight. */
  get pending(): number {
    return this.queue.length;
  }

  /** Delivery time of the earliest message in flight, or undefined. */
  nextDeliveryAt(): number | undefined {
    return this.queue[0]?.at;
  }

  /**
   * Delivers every message due at the current time, including ones sent while delivering (up to
   * `limit` deliveries, a guard against livelock). Returns how many were delivered.
   */
  deliverDue(limit = 1_000_000): number {
    let count = 0;
    const now = this.options.clock.now();
    while (count < limit) {
      const head = this.queue[0];
      if (head === undefined || head.at > now) break;
      this.pop();
      count++;
      this.deliver(head);
    }
    return count;
  }

  private deliver(item: InFlight): void {
    if (this.cut.has(`${item.from}\u0000${item.to}`)) {
      this.emit({ type: 'dropped', from: item.from, to: item.to, message: item.message });
      return;
    }
    const handler = this.handlers.get(item.to);
    // Sent to a process that has since stopped: its connections died with it, so a new process
    // with the same id never receives it (as a restarted process never gets its predecessor's replies).
    if (handler !== undefined && item.incarnation !== -1 && this.incarnations.get(item.to) !== item.incarnation) {
      this.emit({ type: 'dropped', from: item.from, to: item.to, message: item.message });
      return;
    }
    if (handler === undefined) {
      this.emit({ type: 'unreachable', from: item.from, to: item.to, message: item.message });
      // A stopped process refuses connections: the sender of a request learns at once (as from
      // ECONNREFUSED) instead of waiting for its timeout. A cut link, by contrast, stays silent.
      const sender = this.handlers.get(item.from);
      if (sender !== undefined && item.message.correlationId !== undefined && item.message.type.endsWith('.request')) {
        sender({ type: 'transport.unreachable', correlationId: item.message.correlationId, node: item.to }, item.to);
      }
      return;
    }
    let message = item.message;
    if (item.bytes !== undefined) {
      try {
        message = (this.options.codec as MessageCodec).decode(item.bytes);
      } catch (e) {
        this.refuse(item.from, item.to, item.message, e, item.injected === true);
        return;
      }
    }
    this.delivered++;
    if (this.listeners.size > 0) this.emit({ type: 'delivered', from: item.from, to: item.to, message });
    handler(message, item.from);
  }

  private emit(event: NetworkEvent): void {
    for (const l of this.listeners) l(event);
  }

  private schedule(): void {
    if (this.options.manual) return;
    const head = this.queue[0];
    if (head === undefined) return;
    const now = this.options.clock.now();
    if (head.at <= now) {
      if (this.drainScheduled) return;
      this.drainScheduled = true;
      setImmediate(() => {
        this.drainScheduled = false;
        this.deliverDue();
        this.schedule();
      });
      return;
    }
    if (this.timerAt !== undefined && this.timerAt <= head.at) return;
    this.timerAt = head.at;
    this.options.clock.setTimeout(() => {
      this.timerAt = undefined;
      this.deliverDue();
      this.schedule();
    }, head.at - now);
  }

  // A binary heap ordered by (at, order).
  private push(item: InFlight): void {
    const q = this.queue;
    q.push(item);
    let i = q.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!before(item, q[parent] as InFlight)) break;
      q[i] = q[parent] as InFlight;
      i = parent;
    }
    q[i] = item;
  }

  private pop(): void {
    const q = this.queue;
    const last = q.pop() as InFlight;
    if (q.length === 0) return;
    let i = 0;
    for (;;) {
      const l = 2 * i + 1;
      const r = l + 1;
      let smallest = last;
      let at = -1;
      if (l < q.length && before(q[l] as InFlight, smallest)) {
        smallest = q[l] as InFlight;
        at = l;
      }
      if (r < q.length && before(q[r] as InFlight, smallest)) {
        smallest = q[r] as InFlight;
        at = r;
      }
      if (at < 0) break;
      q[i] = smallest;
      i = at;
    }
    q[i] = last;
  }
}

function before(a: InFlight, b: InFlight): boolean {
  return a.at < b.at || (a.at === b.at && a.order < b.order);
}
