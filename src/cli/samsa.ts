/**
 * The `samsa` command: one controller or one broker per process, over NATS, as Kafka's
 * `kafka-server-start` with `process.roles=controller` or `broker`.
 *
 *   samsa controller --id 0 --voters 0,1,2 --nats nats://127.0.0.1:4222 --data ./c0
 *   samsa broker --id 1 --controllers 0,1,2 --nats nats://127.0.0.1:4222 --data ./b1
 *
 * SIGTERM or SIGINT stops the node gracefully (a broker first moves its leaderships away: Kafka's
 * controlled shutdown); a second one exits at once. After a crash (SIGKILL, power loss) the same
 * command on the same data directory recovers it. A line `ready <role> <id>` goes to stdout once
 * the node serves (a broker: registered with the controller quorum), for scripts to wait on.
 */
import { pathToFileURL } from 'node:url';
import { Command, InvalidArgumentError as CommanderArgumentError, Option } from 'commander';
import { SystemClock } from '../clock.ts';
import { SamsaError } from '../errors.ts';
import { consoleLogger, isLogLevel } from '../logger.ts';
import type { Logger, LogLevel } from '../logger.ts';
import { connectNats } from '../transport/natsTransport.ts';
import type { NatsTransport, NatsTransportOptions } from '../transport/natsTransport.ts';
import { startBroker } from '../cluster/startBroker.ts';
import type { BrokerNode } from '../cluster/startBroker.ts';
import { startController } from '../cluster/startController.ts';
import type { ControllerNode } from '../cluster/startController.ts';
import { brokerConfigFromKafkaKeys, controllerConfigFromKafkaKeys } from './kafkaKeys.ts';

/** Options both roles take. */
interface CommonOptions {
  readonly id: number;
  readonly nats: string[];
  readonly data?: string;
  readonly clusterId?: string;
  readonly prefix: string;
  readonly config: string[];
  readonly logLevel: string;
  readonly natsUser?: string;
  readonly natsPass?: string;
  readonly natsToken?: string;
  readonly natsCreds?: string;
  readonly natsTlsCa?: string;
  readonly natsTlsCert?: string;
  readonly natsTlsKey?: string;
  readonly shutdownTimeoutMs: number;
}

function integer(name: string): (value: string) => number {
  return (value) => {
    const n = Number(value);
    if (!/^\d+$/.test(value) || !Number.isSafeInteger(n)) throw new CommanderArgumentError(`${name} must be a non-negative integer, got "${value}"`);
    return n;
  };
}

function idList(value: string): number[] {
  const ids = value.split(',').map((s) => s.trim());
  if (ids.some((id) => !/^\d+$/.test(id))) throw new CommanderArgumentError(`expected comma-separated node ids such as 0,1,2, got "${value}"`);
  return ids.map(Number);
}

function collect(value: string, previous: string[]): string[] {
  return [...previous, value];
}

/** The options of the node's NATS connection. */
function natsOptions(o: CommonOptions, logger: Logger): NatsTransportOptions {
  const tls = o.natsTlsCa === undefined && o.natsTlsCert === undefined && o.natsTlsKey === undefined ? undefined : { ...(o.natsTlsCa === undefined ? {} : { caFile: o.natsTlsCa }), ...(o.natsTlsCert === undefined ? {} : { certFile: o.natsTlsCert }), ...(o.natsTlsKey === undefined ? {} : { keyFile: o.natsTlsKey }) };
  return {
    servers: o.nats,
    subjectPrefix: o.prefix,
    name: 'samsa',
    logger,
    ...(o.natsUser === undefined ? {} : { user: o.natsUser }),
    ...(o.natsPass === undefined ? {} : { pass: o.natsPass }),
    ...(o.natsToken === undefined ? {} : { token: o.natsToken }),
    ...(o.natsCreds === undefined ? {} : { credsFile: o.natsCreds }),
    ...(tls === undefined ? {} : { tls }),
  };
}

function withCommonOptions(command: Command): Command {
  return command
    .requiredOption('--id <id>', "this node's id (Kafka's node.id)", integer('--id'))
    .addOption(new Option('--nats <url>', 'NATS server URL; repeat for a NATS cluster').default([], 'nats://127.0.0.1:4222').argParser(collect))
    .option('--data <dir>', 'data directory (default: in memory, lost when the process ends)')
    .option('--cluster-id <id>', "Kafka's cluster.id (default: the one the data directory holds, else samsa)")
    .option('--prefix <subject>', 'first tokens of every NATS subject; clusters with different prefixes share a NATS server', 'samsa')
    .option('--config <key=value>', 'a Kafka setting, e.g. broker.session.timeout.ms=6000; repeatable', collect, [])
    .option('--log-level <level>', 'debug, info, warn or error', 'info')
    .option('--nats-user <user>', 'NATS user')
    .option('--nats-pass <password>', 'NATS password')
    .option('--nats-token <token>', 'NATS token')
    .option('--nats-creds <file>', 'NATS credentials file (JWT and NKey seed)')
    .option('--nats-tls-ca <file>', 'CA certificate to trust for the NATS server')
    .option('--nats-tls-cert <file>', 'client certificate for NATS')
    .option('--nats-tls-key <file>', "the client certificate's key")
    .option('--shutdown-timeout-ms <ms>', 'how long a graceful stop may take before the process exits anyway', integer('--shutdown-timeout-ms'), 30_000);
}

/** A running node of this process, however it was started. */
interface Running {
  readonly stop: () => Promise<void>;
}

/**
 * Runs the node until SIGTERM or SIGINT: then stops it gracefully and exits 0. A second signal,
 * or a stop that outlasts `--shutdown-timeout-ms`, exits 1 at once.
 */
function stopOnSignals(running: Running, transport: NatsTransport, logger: Logger, timeoutMs: number): void {
  let stopping = false;
  const onSignal = (signal: NodeJS.Signals): void => {
    if (stopping) {
      logger.warn(`${signal} again: exiting without a graceful stop`);
      process.exit(1);
    }
    stopping = true;
    logger.info(`${signal}: stopping gracefully`);
    const clock = new SystemClock();
    const deadline = clock.setTimeout(() => {
      logger.error(`the graceful stop took over ${timeoutMs} ms; exiting`);
      process.exit(1);
    }, timeoutMs + 5_000);
    void (async () => {
      try {
        await running.stop();
        await transport.close();
        clock.clearTimeout(deadline);
        process.exitCode = 0;
        logger.info('stopped');
      } catch (e) {
        logger.error('the graceful stop failed', { error: e instanceof Error ? e.message : String(e) });
        process.exit(1);
      }
    })();
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
}

function loggerOf(o: CommonOptions): { logger: Logger; level: LogLevel } {
  if (!isLogLevel(o.logLevel)) throw new CommanderArgumentError(`--log-level must be debug, info, warn or error, got "${o.logLevel}"`);
  return { logger: consoleLogger({ level: o.logLevel }), level: o.logLevel };
}

async function runController(o: CommonOptions & { readonly voters: number[] }): Promise<void> {
  const { logger } = loggerOf(o);
  const { quorumConfig, brokerSessionTimeoutMs } = controllerConfigFromKafkaKeys(o.config);
  const transport = await connectNats(natsOptions(o, logger));
  let node: ControllerNode;
  try {
    node = await startController({ id: o.id, voters: o.voters, transport, logger, ...(o.data === undefined ? {} : { dataDir: o.data }), ...(o.clusterId === undefined ? {} : { clusterId: o.clusterId }), ...(quorumConfig === undefined ? {} : { quorumConfig }), ...(brokerSessionTimeoutMs === undefined ? {} : { brokerSessionTimeoutMs }) });
  } catch (e) {
    await transport.close();
    throw e;
  }
  logger.info(`controller ${o.id} started`, { voters: o.voters, nats: o.nats, dataDir: o.data ?? '(memory)', clusterId: node.clusterId });
  process.stdout.write(`ready controller ${o.id}\n`);
  stopOnSignals({ stop: () => node.stop() }, transport, logger, o.shutdownTimeoutMs);
}

async function runBroker(o: CommonOptions & { readonly controllers: number[] }): Promise<void> {
  const { logger } = loggerOf(o);
  const config = brokerConfigFromKafkaKeys(o.config);
  const transport = await connectNats(natsOptions(o, logger));
  let node: BrokerNode;
  try {
    node = await startBroker({ id: o.id, controllers: o.controllers, transport, logger, config, ...(o.data === undefined ? {} : { dataDir: o.data }), ...(o.clusterId === undefined ? {} : { clusterId: o.clusterId }) });
  } catch (e) {
    await transport.close();
    throw e;
  }
  logger.info(`broker ${o.id} started; registering with the controllers`, { controllers: o.controllers, nats: o.nats, dataDir: o.data ?? '(memory)', clusterId: node.clusterId });
  stopOnSignals({ stop: () => node.stop({ controlledShutdown: true, timeoutMs: o.shutdownTimeoutMs }) }, transport, logger, o.shutdownTimeoutMs);
  // Registration waits on the quorum, which may start after this broker: wait as long as it takes.
  for (;;) {
    try {
      await node.ready({ timeoutMs: 60_000 });
      break;
    } catch (e) {
      if (!node.running) return;
      logger.warn('still waiting for the controller quorum to register this broker', { error: e instanceof Error ? e.message : String(e) });
    }
  }
  process.stdout.write(`ready broker ${o.id}\n`);
}

/** The command line program (exported for tests; `main` runs it on process.argv). */
export function program(): Command {
  const cli = new Command('samsa').description('Kafka, metamorphosed into actors: run a controller or a broker of a samsa cluster over NATS').version('0.1.0').showHelpAfterError('(samsa <command> --help lists the options)');
  withCommonOptions(cli.command('controller').description('run one voter of the controller quorum (process.roles=controller)'))
    .requiredOption('--voters <ids>', "every voter of the quorum, this one included (Kafka's controller.quorum.voters)", idList)
    .action((o: CommonOptions & { voters: number[] }) => runController(withDefaults(o)));
  withCommonOptions(cli.command('broker').description('run one broker (process.roles=broker)'))
    .requiredOption('--controllers <ids>', "the controller quorum's voters (Kafka's controller.quorum.voters)", idList)
    .action((o: CommonOptions & { controllers: number[] }) => runBroker(withDefaults(o)));
  return cli;
}

/** `--nats` given no value: the local server. */
function withDefaults<T extends CommonOptions>(o: T): T {
  return o.nats.length === 0 ? { ...o, nats: ['nats://127.0.0.1:4222'] } : o;
}

/** Runs the command line; a failure is printed as one line naming the problem, exit code 1. */
export async function main(argv: readonly string[]): Promise<void> {
  try {
    await program().parseAsync([...argv]);
  } catch (e) {
    const message = e instanceof SamsaError ? `${e.name}: ${e.message}` : e instanceof Error ? e.message : String(e);
    process.stderr.write(`samsa: ${message}\n`);
    process.exit(1);
  }
}

// Run as a script (`tsx src/cli/samsa.ts …`); the package's bin imports `main` instead.
if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) void main(process.argv);
