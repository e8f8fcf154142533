/**
 * The NATS transport: the same typed messages as the simulated network, carried between processes
 * and machines by a NATS server. Messages cross as bytes through the {@link messageCodec}; small
 * ones sent to one node in the same turn share a NATS message; one larger than the server's
 * `max_payload` is split into chunks and put together again (see `natsFrames.ts`).
 *
 * What NATS does not give, samsa does not assume: NATS has no per-peer liveness, and failure
 * detection is Kafka's own (broker heartbeats and `broker.session.timeout.ms`, group sessions,
 * request timeouts). What NATS does say is that nobody listens on a subject (its "no responders"
 * answer to a publish with a reply subject): the process of that node is gone, or cut off from
 * the server. That is what a refused TCP connection tells a Kafka client, and it becomes the same
 * signals the simulated network gives (`transport.unreachable` for the request,
 * `transport.disconnected` for what else waits on that node). A paused process still listens,
 * so only timeouts catch it. A lost connection to the server is a network partition of this
 * process: messages are lost or held until the client reconnects (it retries for ever), never a
 * crash of anyone.
 *
 * With NATS permissions, a node's credentials need: publish `<prefix>.node.*.<its id>`,
 * `<prefix>.node.*.probe` and `<prefix>.discover`; subscribe `<prefix>.node.<its id>.*`,
 * `<prefix>.refused.>` and `<prefix>.discovered.>` (a broker or controller also subscribes
 * `<prefix>.discover` and publishes `<prefix>.discovered.>`, to answer who runs).
 *
 * The client library (`@nats-io/transport-node`, the current generation of the NATS client for
 * Node.js) is an optional dependency, loaded by {@link connectNats} only.
 */
import { readFile } from 'node:fs/promises';
import type { Clock, TimerHandle } from '../clock.ts';
import { sleep, SystemClock } from '../clock.ts';
import { randomBytes } from 'node:crypto';
import { InvalidArgumentError, MessageTooLargeError, SamsaError, TransportUnavailableError, UndecodableMessageError } from '../errors.ts';
import { resolveLogger } from '../logger.ts';
import type { Logger, LogLevel } from '../logger.ts';
import type { Message } from '../protocol/common.ts';
import type { NodeId } from '../protocol/nodeId.ts';
import { parseNodeId } from '../protocol/nodeId.ts';
import { messageCodec } from './codec.ts';
import type { MessageCodec } from './codec.ts';
import { PeerLiveness } from './natsLiveness.ts';
import type { Signals, Watched } from './natsLiveness.ts';
import { BATCH_ENTRY_BYTES, BATCH_HEADER_BYTES, batchFrame, chunkFrames, FrameReader, isSubjectPrefix, nodeOfToken, subjectToken } from './natsFrames.ts';
import type { MessageHandler, Transport } from './transport.ts';

/** TLS settings passed to the NATS client: files of PEM certificates and keys. */
export interface NatsTlsOptions {
  /** Certificate authority to trust (a self-signed server). */
  readonly caFile?: string;
  /** Client certificate, for servers that verify clients. */
  readonly certFile?: string;
  /** The client certificate's key. */
  readonly keyFile?: string;
  /** TLS before the NATS handshake (servers with `handshake_first`). */
  readonly handshakeFirst?: boolean;
}

/** Options of {@link connectNats}. */
export interface NatsTransportOptions {
  /** NATS server URLs (`nats://127.0.0.1:4222`); several for a NATS cluster. */
  readonly servers: string | readonly string[];
  /**
   * First tokens of every subject (default `samsa`): clusters with different prefixes share one
   * NATS server without seeing each other's messages.
   */
  readonly subjectPrefix?: string;
  /** Connection name shown by the server's monitoring (default `samsa`). */
  readonly name?: string;
  /** User and password, when the server asks for them. */
  readonly user?: string;
  readonly pass?: string;
  /** Token, when the server asks for one. */
  readonly token?: string;
  /** A NATS credentials file (JWT and NKey seed), for decentralised auth. */
  readonly credsFile?: string;
  /** TLS to the server. */
  readonly tls?: NatsTlsOptions;
  /**
   * Largest message the transport puts together from chunks (default 128 MiB): a bound on what
   * one sender can make a receiver hold. Kafka's `fetch.max.bytes` default (50 MiB) fits.
   */
  readonly maxMessageBytes?: number;
  /** Milliseconds the first connection may take (default 10000). */
  readonly connectTimeoutMs?: number;
  /** Further options for the NATS client's `connect`, passed through as they are. */
  readonly connectionOptions?: Readonly<Record<string, unknown>>;
  /**
   * How often to ask NATS whether a node that owes this process an answer still listens
   * (default 1000 ms; 0: never). A node whose process died has no subscription, and the server
   * says so at once: its requests fail as on a refused TCP connection instead of waiting out
   * `request.timeout.ms`. A node that is merely slow or paused still listens: timeouts decide.
   */
  readonly probeIntervalMs?: number;
  /** Time source of the probes (default: the system clock). */
  readonly clock?: Clock;
  /** The codec messages cross with (default {@link messageCodec}). */
  readonly codec?: MessageCodec;
  /** Where the transport reports dropped messages and connection changes (default: the console at `warn`). */
  readonly logger?: Logger | LogLevel;
}

/** Counters of one {@link NatsTransport}. */
export interface NatsTransportStats {
  /** Messages handed to `send` and published. */
  readonly messagesSent: number;
  /** Messages delivered to a node of this process. */
  readonly messagesDelivered: number;
  /** NATS messages published (a batch or a chunk is one). */
  readonly publishes: number;
  readonly bytesSent: number;
  readonly bytesReceived: number;
  /** Messages dropped, by reason: unencodable, undecodable, a sender that is no node, too large, not connected. */
  readonly dropped: Readonly<Record<'unencodable' | 'undecodable' | 'unknownSender' | 'tooLarge' | 'notConnected', number>>;
}

/** What the transport uses of a NATS connection. */
interface NatsConnectionLike {
  readonly info?: { readonly max_payload: number };
  publish(subject: string, data: Uint8Array, options?: { reply?: string }): void;
  subscribe(subject: string, options: { callback: (error: Error | null, message: { readonly subject: string; readonly data: Uint8Array; readonly reply?: string; readonly headers?: { readonly code: number } }) => void }): { unsubscribe(): void };
  flush(): Promise<void>;
  drain(): Promise<void>;
  close(): Promise<void>;
  isClosed(): boolean;
  status(): AsyncIterable<{ readonly type: string; readonly server?: string; readonly error?: unknown }>;
}

interface NatsModule {
  connect(options: Record<string, unknown>): Promise<NatsConnectionLike>;
  credsAuthenticator(creds: Uint8Array): unknown;
}

const DEFAULT_MAX_MESSAGE_BYTES = 128 * 1024 * 1024;
const DEFAULT_PROBE_INTERVAL_MS = 1_000;
/** The sender token of a probe: no node's address, so a receiver knows it at once and ignores it. */
const PROBE_SENDER = 'probe';
const PROBE = new Uint8Array(0);
/** Node pairs and tokens remembered before the caches start over (clients come and go). */
const MAX_CACHED_NAMES = 10_000;
/** What a too-large message's error tells the user to do. */
const TOO_LARGE_FIX = 'raise the transport\'s maxMessageBytes (and the server\'s max_payload to cut fewer chunks), or lower fetch.max.bytes / max.partition.fetch.bytes';

/** Messages waiting to be published to one subject at the end of the turn. */
interface Pending {
  readonly from: NodeId;
  readonly to: NodeId;
  readonly messages: Uint8Array[];
  bytes: number;
  /** Correlation ids of the requests among them. */
  readonly requests: number[];
}

/**
 * A {@link Transport} over a NATS connection; see the module comment. Obtain one with
 * {@link connectNats}; {@link NatsTransport.close} closes the connection.
 */
export class NatsTransport implements Transport {
  private readonly handlers = new Map<NodeId, { readonly unsubscribe: () => void; readonly handler: MessageHandler }>();
  /** Who waits on whom, and which publishes the server may refuse. */
  private readonly liveness = new PeerLiveness();
  private probeTimer: TimerHandle | undefined;
  private readonly refusals: { unsubscribe(): void };
  private discovery: { unsubscribe(): void } | undefined;
  /** Subjects by sender and receiver, and senders by subject token (see {@link NatsTransport.subjectOf}). */
  private readonly subjects = new Map<string, string>();
  private readonly senders = new Map<string, NodeId | null>();
  private discoveries = 0;
  private readonly pending = new Map<string, Pending>();
  private readonly reader: FrameReader;
  private readonly maxPayload: number;
  private flushScheduled = false;
  private closed = false;
  private messageNumber = 0;
  private readonly counters = { messagesSent: 0, messagesDelivered: 0, publishes: 0, bytesSent: 0, bytesReceived: 0 };
  private readonly drops = { unencodable: 0, undecodable: 0, unknownSender: 0, tooLarge: 0, notConnected: 0 };
  /**
   * This process's mark on its clients' addresses: Kafka's `client.id` need not be unique across
   * processes, but an address must be, so `client:<id>` listens as `client:<id>@<instance>`.
   */
  readonly instance: string;

  /** @internal Use {@link connectNats}. */
  constructor(
    private readonly connection: NatsConnectionLike,
    private readonly prefix: string,
    private readonly codec: MessageCodec,
    private readonly logger: Logger,
    private readonly maxMessageBytes: number,
    private readonly clock: Clock,
    private readonly probeIntervalMs: number,
  ) {
    this.reader = new FrameReader(maxMessageBytes);
    this.maxPayload = connection.info?.max_payload ?? 1024 * 1024;
    this.instance = randomBytes(6).toString('hex');
    this.refusals = connection.subscribe(`${this.refusalPrefix}*`, { callback: (error, message) => error === null && message.headers?.code === 503 && this.refused(message.subject) });
    if (probeIntervalMs > 0) this.scheduleProbe();
    void this.watchStatus();
  }

  /** Where the server's "no responders" answers to this process's publishes go. */
  private get refusalPrefix(): string {
    return `${this.prefix}.refused.${this.instance}.`;
  }

  /** Counters since the transport connected. */
  get stats(): NatsTransportStats {
    return { ...this.counters, dropped: { ...this.drops } };
  }

  /** The server's `max_payload`: larger messages cross in chunks. */
  get maxPayloadBytes(): number {
    return this.maxPayload;
  }

  register(node: NodeId, handler: MessageHandler): () => void {
    if (this.closed) throw new InvalidArgumentError('node', `cannot register ${node}: the NATS transport is closed`);
    if (this.handlers.has(node)) throw new InvalidArgumentError('node', `node "${node}" is already registered on this transport; stop it before starting another with the same id`);
    const subject = `${this.prefix}.node.${subjectToken(this.addressOf(node))}.*`;
    const subscription = this.connection.subscribe(subject, { callback: (error, message) => (error === null ? this.receive(node, message.subject, message.data, handler) : this.logger.warn('NATS subscription failed', { node, error: error.message })) });
    const entry = { unsubscribe: () => subscription.unsubscribe(), handler };
    this.handlers.set(node, entry);
    if (!node.startsWith('client:')) this.answerDiscovery();
    return () => {
      if (this.handlers.get(node) !== entry) return;
      this.handlers.delete(node);
      if (!this.connection.isClosed()) entry.unsubscribe();
    };
  }

  send(from: NodeId, to: NodeId, message: Message): void {
    if (this.closed) {
      this.drops.notConnected++;
      return;
    }
    let bytes: Uint8Array;
    try {
      bytes = this.codec.encode(message);
    } catch (e) {
      // A message that is not plain data is a bug in its sender: reported, never thrown into it.
      this.drops.unencodable++;
      this.logger.error('a message was not sent', { from, to, error: e instanceof SamsaError ? e.message : String(e) });
      return;
    }
    const subject = this.subjectOf(from, to);
    this.counters.messagesSent++;
    if (bytes.length > this.maxMessageBytes) {
      this.drops.tooLarge++;
      this.logger.error('a message was not sent', { from, to, error: new MessageTooLargeError(message.type, bytes.length, this.maxMessageBytes, TOO_LARGE_FIX).message });
      return;
    }
    const correlationId = message.type.endsWith('.request') && typeof message.correlationId === 'number' ? message.correlationId : undefined;
    // An acks=0 produce is never answered: nothing waits on it.
    if (correlationId !== undefined && !(message.type === 'produce.request' && message.acks === 0)) this.liveness.asked(from, to, correlationId, this.clock.now());
    if (BATCH_HEADER_BYTES + BATCH_ENTRY_BYTES + bytes.length > this.maxPayload) {
      // Chunks must follow what was queued before them for the same receiver.
      this.flushSubject(subject);
      const reply = correlationId === undefined ? undefined : this.watch({ to, senders: new Set([from]), requests: [{ from, correlationId }] });
      chunkFrames(bytes, this.messageNumber++, this.maxPayload).forEach((frame, i) => this.publish(subject, frame, i === 0 ? reply : undefined));
      return;
    }
    let queued = this.pending.get(subject);
    if (queued !== undefined && BATCH_HEADER_BYTES + (queued.messages.length + 1) * BATCH_ENTRY_BYTES + queued.bytes + bytes.length > this.maxPayload) {
      this.flushSubject(subject);
      queued = undefined;
    }
    if (queued === undefined) this.pending.set(subject, (queued = { from, to, messages: [], bytes: 0, requests: [] }));
    queued.messages.push(bytes);
    queued.bytes += bytes.length;
    if (correlationId !== undefined) queued.requests.push(correlationId);
    if (!this.flushScheduled) {
      this.flushScheduled = true;
      queueMicrotask(() => this.flush());
    }
  }

  /** Resolves once the server has seen everything sent and every subscription made so far. */
  async flushed(): Promise<void> {
    this.flush();
    if (!this.connection.isClosed()) await this.connection.flush();
  }

  /**
   * The brokers and controllers running on this NATS server under this prefix, as they answer
   * within `waitMs` (Kafka's bootstrap, found instead of listed): every process hosting one
   * answers with the ids it hosts.
   */
  async discover(waitMs = 300): Promise<{ brokers: number[]; controllers: number[] }> {
    const found = new Set<string>();
    const inbox = `${this.prefix}.discovered.${this.instance}.${this.discoveries++}`;
    const subscription = this.connection.subscribe(inbox, { callback: (error, message) => error === null && new TextDecoder().decode(message.data).split(',').forEach((id) => found.add(id)) });
    try {
      await this.connection.flush();
      this.connection.publish(`${this.prefix}.discover`, new Uint8Array(0), { reply: inbox });
      await sleep(this.clock, waitMs);
    } finally {
      subscription.unsubscribe();
    }
    const ids = (kind: 'broker' | 'controller'): number[] => [...found].map((id) => parseNodeId(id)).flatMap((p) => (p?.kind === kind ? [p.id] : [])).sort((a, b) => a - b);
    return { brokers: ids('broker'), controllers: ids('controller') };
  }

  /** Answers {@link NatsTransport.discover} with this process's brokers and controllers (subscribed once). */
  private answerDiscovery(): void {
    if (this.discovery !== undefined) return;
    this.discovery = this.connection.subscribe(`${this.prefix}.discover`, {
      callback: (error, message) => {
        const servers = [...this.handlers.keys()].filter((n) => !n.startsWith('client:'));
        if (error === null && message.reply !== undefined && servers.length > 0) this.publish(message.reply, new TextEncoder().encode(servers.join(',')));
      },
    });
  }

  /** Publishes what is queued, unsubscribes every node and closes the connection. Harmless twice. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.flush();
    this.closed = true;
    this.handlers.clear();
    if (this.probeTimer !== undefined) this.clock.clearTimeout(this.probeTimer);
    this.probeTimer = undefined;
    if (this.connection.isClosed()) return;
    try {
      await this.connection.drain();
    } catch {
      await this.connection.close();
    }
  }

  /**
   * The subject `from` publishes to `to` on, worked out once per pair: escaping a node id walks
   * its characters, which is no work for every message.
   */
  private subjectOf(from: NodeId, to: NodeId): string {
    const key = `${from}>${to}`;
    let subject = this.subjects.get(key);
    if (subject === undefined) {
      if (this.subjects.size >= MAX_CACHED_NAMES) this.subjects.clear();
      subject = `${this.prefix}.node.${subjectToken(to)}.${subjectToken(this.addressOf(from))}`;
      this.subjects.set(key, subject);
    }
    return subject;
  }

  /** The node a sender token names (undefined: no node), decoded once per token. */
  private senderOf(token: string): NodeId | undefined {
    let sender = this.senders.get(token);
    if (sender === undefined) {
      if (this.senders.size >= MAX_CACHED_NAMES) this.senders.clear();
      sender = nodeOfToken(token) ?? null;
      this.senders.set(token, sender);
    }
    return sender ?? undefined;
  }

  /** The address a node listens on and sends from: clients carry this process's mark. */
  private addressOf(node: NodeId): string {
    return node.startsWith('client:') ? `${node}@${this.instance}` : node;
  }

  private flush(): void {
    this.flushScheduled = false;
    for (const subject of [...this.pending.keys()]) this.flushSubject(subject);
  }

  private flushSubject(subject: string): void {
    const queued = this.pending.get(subject);
    if (queued === undefined) return;
    this.pending.delete(subject);
    const { from, to, requests } = queued;
    const reply = requests.length === 0 ? undefined : this.watch({ to, senders: new Set([from]), requests: requests.map((correlationId) => ({ from, correlationId })) });
    this.publish(subject, batchFrame(queued.messages, queued.bytes), reply);
  }

  private publish(subject: string, frame: Uint8Array, reply?: string): void {
    try {
      this.connection.publish(subject, frame, reply === undefined ? undefined : { reply });
      this.counters.publishes++;
      this.counters.bytesSent += frame.length;
    } catch (e) {
      // A closed connection: the message is lost, as on a network.
      this.drops.notConnected++;
      this.logger.debug('a NATS publish failed', { subject, error: e instanceof Error ? e.message : String(e) });
    }
  }

  /** The reply subject of a publish the server may refuse (see {@link PeerLiveness}). */
  private watch(watched: Watched): string {
    return `${this.refusalPrefix}${this.liveness.watch(watched)}`;
  }

  /** The server's "no responders" to a publish with reply subject `subject`. */
  private refused(subject: string): void {
    this.deliver(this.liveness.refused(Number(subject.slice(this.refusalPrefix.length))));
  }

  /** Delivers transport signals to the local nodes they concern. */
  private deliver(signals: Signals): void {
    for (const { from, to, correlationId } of signals.unreachable) this.signal(from, { type: 'transport.unreachable', correlationId, node: to });
    for (const { from, to } of signals.disconnected) this.signal(from, { type: 'transport.disconnected', node: to });
  }

  private signal(to: NodeId, signal: Message): void {
    const entry = this.handlers.get(to);
    if (entry === undefined) return;
    try {
      entry.handler(signal, to);
    } catch (e) {
      this.logger.error('a node failed on a transport signal', { node: to, error: e instanceof Error ? e.message : String(e) });
    }
  }

  /** Every `probeIntervalMs`: an empty probe, with a reply subject, to each node owing an answer that long. */
  private scheduleProbe(): void {
    this.probeTimer = this.clock.setTimeout(() => {
      this.probeTimer = undefined;
      if (this.closed) return;
      for (const { to, senders } of this.liveness.due(this.clock.now(), this.probeIntervalMs)) {
        this.publish(`${this.prefix}.node.${subjectToken(to)}.${PROBE_SENDER}`, PROBE, this.watch({ to, senders, requests: [] }));
      }
      this.scheduleProbe();
    }, this.probeIntervalMs);
  }

  private receive(node: NodeId, subject: string, data: Uint8Array, handler: MessageHandler): void {
    this.counters.bytesReceived += data.length;
    const token = subject.slice(subject.lastIndexOf('.') + 1);
    if (token === PROBE_SENDER) return;
    const from = this.senderOf(token);
    if (from === undefined) {
      this.drops.unknownSender++;
      this.logger.warn('dropped a NATS message from a sender that is no samsa node', { subject });
      return;
    }

    const messages = this.reader.read(token, data);
    if (typeof messages === 'string') {
      this.drops.undecodable++;
      this.logger.warn('dropped a NATS message', { from, error: new UndecodableMessageError(messages).message });
      return;
    }
    for (const bytes of messages) {
      let message: Message;
      try {
        message = this.codec.decode(bytes);
      } catch (e) {
        this.drops.undecodable++;
        this.logger.warn('dropped a NATS message', { from, error: e instanceof Error ? e.message : String(e) });
        continue;
      }
      this.counters.messagesDelivered++;
      this.liveness.arrived(from, node, message.type, message.correlationId);
      try {
        handler(message, from);
      } catch (e) {
        this.logger.error('a node failed on a message', { from, type: message.type, error: e instanceof Error ? e.message : String(e) });
      }
    }
  }

  /** Logs connection changes: a lost connection is a partition of this process until it is back. */
  private async watchStatus(): Promise<void> {
    try {
      for await (const status of this.connection.status()) {
        // Whatever waited across a disconnect may have lost its message or its answer: both fail it.
        if (status.type === 'disconnect' || status.type === 'reconnect') {
          if (status.type === 'disconnect') this.logger.warn('lost the NATS connection; this process is cut off until it reconnects', { server: status.server });
          else this.logger.info('reconnected to NATS', { server: status.server });
          this.deliver(this.liveness.connectionLost());
        } else if (status.type === 'error') this.logger.warn('NATS reported an error', { error: status.error instanceof Error ? status.error.message : String(status.error) });
      }
    } catch {
      // The status stream ends with the connection.
    }
  }
}

/** Loads the optional NATS client. */
async function loadNats(): Promise<NatsModule> {
  try {
    const name = '@nats-io/transport-node';
    return (await import(name)) as NatsModule;
  } catch (e) {
    throw new TransportUnavailableError('NATS', 'its client library is not installed; run `npm install @nats-io/transport-node`', { cause: e });
  }
}

/** Checks the options a JavaScript caller may get wrong. */
function checkNatsOptions(options: NatsTransportOptions): { servers: string[]; prefix: string; maxMessageBytes: number; probeIntervalMs: number } {
  if (typeof options !== 'object' || options === null) throw new InvalidArgumentError('options', 'connectNats() takes an options object such as { servers: "nats://127.0.0.1:4222" }');
  const servers = typeof options.servers === 'string' ? [options.servers] : Array.isArray(options.servers) ? [...(options.servers as string[])] : [];
  if (servers.length === 0 || servers.some((s) => typeof s !== 'string' || s.length === 0)) throw new InvalidArgumentError('servers', `expected the NATS server URL(s), such as "nats://127.0.0.1:4222", got ${JSON.stringify(options.servers)}`);
  const prefix = options.subjectPrefix ?? 'samsa';
  if (typeof prefix !== 'string' || !isSubjectPrefix(prefix)) throw new InvalidArgumentError('subjectPrefix', `expected dot-separated subject tokens without spaces or wildcards, such as "samsa" or "prod.samsa", got ${JSON.stringify(prefix)}`);
  const maxMessageBytes = options.maxMessageBytes ?? DEFAULT_MAX_MESSAGE_BYTES;
  if (!Number.isSafeInteger(maxMessageBytes) || maxMessageBytes < 1024) throw new InvalidArgumentError('maxMessageBytes', `expected a whole number of bytes of at least 1024, got ${String(maxMessageBytes)}`);
  const probeIntervalMs = options.probeIntervalMs ?? DEFAULT_PROBE_INTERVAL_MS;
  if (!Number.isFinite(probeIntervalMs) || probeIntervalMs < 0) throw new InvalidArgumentError('probeIntervalMs', `expected a non-negative number of milliseconds (0: no probes), got ${String(probeIntervalMs)}`);
  return { servers, prefix, maxMessageBytes, probeIntervalMs };
}

/**
 * Connects to NATS and resolves with a transport for nodes and clients of this process.
 *
 * @example
 * const transport = await connectNats({ servers: 'nats://127.0.0.1:4222' });
 * const broker = await startBroker({ id: 1, transport, controllers: [0, 1, 2], dataDir: './b1' });
 * @throws InvalidArgumentError for bad options; TransportUnavailableError when the client library
 *   is not installed, the server cannot be reached or it refuses the credentials.
 */
export async function connectNats(options: NatsTransportOptions): Promise<NatsTransport> {
  const { servers, prefix, maxMessageBytes, probeIntervalMs } = checkNatsOptions(options);
  const logger = resolveLogger(options.logger);
  const nats = await loadNats();
  const connectOptions: Record<string, unknown> = {
    servers,
    name: options.name ?? 'samsa',
    // A lost server is a partition: keep trying, and resume where the connection left off.
    reconnect: true,
    maxReconnectAttempts: -1,
    reconnectTimeWait: 250,
    timeout: options.connectTimeoutMs ?? 10_000,
    ...(options.user === undefined ? {} : { user: options.user }),
    ...(options.pass === undefined ? {} : { pass: options.pass }),
    ...(options.token === undefined ? {} : { token: options.token }),
    ...(options.tls === undefined ? {} : { tls: { ...options.tls } }),
    ...options.connectionOptions,
  };
  try {
    if (options.credsFile !== undefined) connectOptions.authenticator = nats.credsAuthenticator(await readFile(options.credsFile));
  } catch (e) {
    throw new TransportUnavailableError('NATS', `cannot read the credentials file ${options.credsFile}: ${e instanceof Error ? e.message : String(e)}`, { cause: e });
  }
  let connection: NatsConnectionLike;
  try {
    connection = await nats.connect(connectOptions);
  } catch (e) {
    throw new TransportUnavailableError('NATS', `cannot connect to ${servers.join(', ')} (${e instanceof Error ? e.message : String(e)}); check that nats-server runs there and that the credentials and TLS settings match it`, { cause: e });
  }
  return new NatsTransport(connection, prefix, options.codec ?? messageCodec, logger.child({ transport: 'nats' }), maxMessageBytes, options.clock ?? new SystemClock(), probeIntervalMs);
}
