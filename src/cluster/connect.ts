/**
 * `connect`: clients — producers, consumers, admin — for brokers reached over any
 * {@link Transport}, without hosting a server node. The embedded cluster makes its clients the
 * same way, so a client behaves alike in one process and across processes.
 */
import type { Clock } from '../clock.ts';
import { SystemClock } from '../clock.ts';
import { ClosedError, InvalidArgumentError, TransportUnavailableError } from '../errors.ts';
import type { Logger, LogLevel } from '../logger.ts';
import type { Random } from '../random.ts';
import type { NodeId, Transport } from '../transport/transport.ts';
import { controllerNode } from '../transport/transport.ts';
import { Admin } from '../clients/admin.ts';
import type { KafkaClients } from '../clients/api.ts';
import { Consumer } from '../clients/consumer/consumer.ts';
import type { ConsumerOptions } from '../clients/consumer/consumer.ts';
import { Producer } from '../clients/producer/producer.ts';
import type { ProducerOptions } from '../clients/producer/producer.ts';
import { connectNats, NatsTransport } from '../transport/natsTransport.ts';
import type { NatsTransportOptions } from '../transport/natsTransport.ts';
import { checkOptions, checkTransport, hostBasics, nodeIdsOf } from './hosting.ts';

/** Options of {@link connect}. */
export interface ConnectOptions {
  /** The transport the brokers are on; or give `nats` instead. */
  readonly transport?: Transport;
  /**
   * Reach the brokers over NATS: the server URL, or the options of {@link connectNats}. The
   * connection is made here and closed by {@link Connection.stop}.
   */
  readonly nats?: string | NatsTransportOptions;
  /**
   * Brokers asked for metadata first (Kafka's `bootstrap.servers`): ids or `broker:<id>`
   * addresses. Required with `transport`; with `nats`, by default the brokers running under the
   * subject prefix are asked for (see `discoveryTimeoutMs`).
   */
  readonly bootstrap?: ReadonlyArray<number | NodeId>;
  /**
   * The controller quorum's voters (Kafka's `bootstrap.controllers`): ids or `controller:<id>`
   * addresses. The admin client sends topic changes there; only `admin()` needs them. With `nats`
   * and no `bootstrap`, the controllers found running are used.
   */
  readonly controllers?: ReadonlyArray<number | NodeId>;
  /** With `nats` and no `bootstrap`: how long to look for a running broker (default 10000 ms). */
  readonly discoveryTimeoutMs?: number;
  /** Time source (default: the system clock). */
  readonly clock?: Clock;
  /** Where the clients log errors they handle themselves (default: the console at `warn`). */
  readonly logger?: Logger | LogLevel;
  /** Seed for the clients' random choices (partitioners, backoff jitter; default: random). */
  readonly seed?: number;
}

/** Options of {@link Connection.admin}. */
export interface ConnectionAdminOptions {
  /** The client id (default: `admin-<n>`). */
  readonly clientId?: string;
  /** `request.timeout.ms` (default 30000). */
  readonly requestTimeoutMs?: number;
}

/** Clients connected by {@link connect}: no server node runs here. */
export interface Connection extends KafkaClients {
  /** A new producer. Defaults are Kafka's (acks=all, batch.size 16384, linger.ms 0, …). */
  producer(options?: ProducerOptions): Producer;
  /** A new consumer. Defaults are Kafka's (auto.offset.reset=latest, max.poll.records 500, …). */
  consumer(options?: ConsumerOptions): Consumer;
  /**
   * A new admin client.
   * @throws InvalidArgumentError when {@link connect} was given no `controllers`.
   */
  admin(options?: ConnectionAdminOptions): Admin;
  /** Closes every client made here; afterwards every call fails at once with ClosedError. Harmless twice. */
  stop(): Promise<void>;
}

/** What a {@link ClientHost} makes its clients with. */
export interface ClientHostSetup {
  readonly transport: Transport;
  readonly clock: Clock;
  readonly logger: Logger;
  /** Each client forks its own source from it. */
  readonly random: Random;
  /** Broker ids to ask for metadata. */
  readonly brokers: () => readonly number[];
  /** Controller addresses for admin requests; undefined: the admin client is refused. */
  readonly controllers: (() => readonly NodeId[]) | undefined;
  /** What a ClosedError names once stopped (`the cluster`, `the connection`). */
  readonly name: string;
  /** Called once every client is closed (a transport made for the connection is closed there). */
  readonly onStop?: () => Promise<void>;
}

/** @internal Makes, counts and closes the clients of one connection or embedded cluster. */
export class ClientHost implements Connection {
  private readonly clients = new Set<{ close(): void | Promise<void> }>();
  private clientCount = 0;
  private stopped = false;
  private stopping: Promise<void> | undefined;

  /** @internal Use {@link connect}. */
  constructor(private readonly setup: ClientHostSetup) {}

  admin(options: ConnectionAdminOptions = {}): Admin {
    this.ensureOpen();
    const controllers = this.setup.controllers;
    if (controllers === undefined) throw new InvalidArgumentError('controllers', "the admin client sends topic changes to the controller quorum; pass its voters to connect() as { controllers: [0, 1, 2] } (Kafka's bootstrap.controllers)");
    const s = this.setup;
    const admin = new Admin({ transport: s.transport, clock: s.clock, controllers, brokers: s.brokers, clientId: options.clientId ?? this.nextClientId('admin'), logger: s.logger, ...(options.requestTimeoutMs === undefined ? {} : { requestTimeoutMs: options.requestTimeoutMs }) });
    this.clients.add(admin);
    return admin;
  }

  producer(options: ProducerOptions = {}): Producer {
    this.ensureOpen();
    const s = this.setup;
    const producer = new Producer({ transport: s.transport, clock: s.clock, random: s.random.fork(), brokers: s.brokers, clientId: options.clientId ?? this.nextClientId('producer'), logger: s.logger }, options);
    this.clients.add(producer);
    return producer;
  }

  consumer(options: ConsumerOptions = {}): Consumer {
    this.ensureOpen();
    const s = this.setup;
    const consumer = new Consumer({ transport: s.transport, clock: s.clock, random: s.random.fork(), brokers: s.brokers, clientId: options.clientId ?? this.nextClientId('consumer'), logger: s.logger }, options);
    this.clients.add(consumer);
    return consumer;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.stopping !== undefined) return this.stopping;
    this.stopping = (async () => {
      for (const c of this.clients) await c.close();
      this.clients.clear();
      await this.setup.onStop?.();
    })();
    return this.stopping;
  }

  /** @internal Calls after stop fail at once rather than wait on clients that are gone. */
  ensureOpen(): void {
    if (this.stopped) throw new ClosedError(this.setup.name);
  }

  /** @internal The next generated client id: `<kind>-<n>`, one count for every kind. */
  nextClientId(kind: string): string {
    this.clientCount++;
    return `${kind}-${this.clientCount}`;
  }
}

/**
 * Connects clients to the brokers on `transport`. Nothing is sent until a client is used; the
 * first request finds the cluster through the bootstrap brokers.
 *
 * @example
 * const clients = await connect({ transport, bootstrap: [1, 2, 3], controllers: [0, 1, 2] });
 * await clients.producer().send('orders', { key: 'o-1', value: 'hello' });
 * await clients.stop();
 *
 * // Over NATS, from another process or machine than the brokers (they are found there):
 * const remote = await connect({ nats: 'nats://127.0.0.1:4222' });
 * @throws InvalidArgumentError for a missing transport or a bad bootstrap or controller list;
 *   TransportUnavailableError when NATS cannot be reached or its client library is not installed.
 */
export async function connect(options: ConnectOptions): Promise<Connection> {
  checkOptions('connect', options);
  if (options.transport !== undefined && options.nats !== undefined) throw new InvalidArgumentError('nats', 'give either { transport } or { nats }, not both');
  const { transport, close } = await transportOf(options);
  try {
    if (options.bootstrap !== undefined || !(transport instanceof NatsTransport)) return connectOn(transport, options, close);
    return connectOn(transport, { ...options, ...(await discover(transport, options)) }, close);
  } catch (e) {
    await close?.();
    throw e;
  }
}

/** The brokers (and controllers) running under the NATS prefix: asked until one answers. */
async function discover(transport: NatsTransport, options: ConnectOptions): Promise<{ bootstrap: number[]; controllers?: number[] }> {
  const timeoutMs = options.discoveryTimeoutMs ?? DISCOVERY_TIMEOUT_MS;
  if (!Number.isFinite(timeoutMs) || timeoutMs < 0) throw new InvalidArgumentError('discoveryTimeoutMs', `expected a non-negative number of milliseconds, got ${String(timeoutMs)}`);
  const clock = options.clock ?? new SystemClock();
  const deadline = clock.now() + timeoutMs;
  for (;;) {
    const found = await transport.discover();
    if (found.brokers.length > 0) return { bootstrap: found.brokers, ...(options.controllers === undefined && found.controllers.length > 0 ? { controllers: found.controllers } : {}) };
    if (clock.now() >= deadline) throw new TransportUnavailableError('NATS', `no samsa broker answered under the subject prefix within ${timeoutMs} ms; check that the brokers run with the same prefix (--prefix), or pass { bootstrap: [1, 2, 3] }`);
  }
}

/** How long {@link connect} looks for a running broker over NATS by default. */
const DISCOVERY_TIMEOUT_MS = 10_000;

/** The transport of {@link connect}: the one given, or a NATS connection made for it. */
async function transportOf(options: ConnectOptions): Promise<{ transport: Transport; close?: () => Promise<void> }> {
  if (options.nats === undefined) return { transport: checkTransport('connect', options.transport) };
  const inherited = options.logger === undefined ? {} : { logger: options.logger };
  const nats = typeof options.nats === 'string' ? { servers: options.nats, ...inherited } : { ...inherited, ...options.nats };
  // Checked before connecting, so that bad options are refused without a server.
  if (options.bootstrap !== undefined) nodeIdsOf('broker', 'bootstrap', options.bootstrap, BOOTSTRAP_FIX);
  const transport = await connectNats(nats);
  return { transport, close: () => transport.close() };
}

const BOOTSTRAP_FIX = "pass the brokers to ask for metadata first as { bootstrap: [1, 2, 3] } (Kafka's bootstrap.servers)";

function connectOn(transport: Transport, options: ConnectOptions, onStop: (() => Promise<void>) | undefined): Connection {
  const brokers = nodeIdsOf('broker', 'bootstrap', options.bootstrap, BOOTSTRAP_FIX);
  const controllers = options.controllers === undefined ? undefined : nodeIdsOf('controller', 'controllers', options.controllers, "pass the controller quorum's voters as { controllers: [0, 1, 2] } (Kafka's bootstrap.controllers), or leave it out when no admin client is needed").map(controllerNode);
  const { clock, logger, random } = hostBasics(options, {});
  return new ClientHost({ transport, clock, logger, random, brokers: () => brokers, controllers: controllers === undefined ? undefined : () => controllers, name: 'the connection', ...(onStop === undefined ? {} : { onStop }) });
}
