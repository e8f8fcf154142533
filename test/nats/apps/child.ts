/**
 * What the app processes of the multi-process tests share (the child side): their arguments, a
 * NATS connection to the process cluster, results as JSON lines on stdout (the logger writes to
 * stderr), and a graceful stop on SIGTERM or SIGINT (a second signal exits at once).
 *
 * Diagnostics: SAMSA_APP_LOG_LEVEL sets the log level (default warn); SAMSA_APP_TRACE=1 also logs
 * every request to a broker and every answer (./trace.ts).
 */
import { parseArgs } from 'node:util';
import { connect } from '../../../src/cluster/connect.ts';
import type { Connection } from '../../../src/cluster/connect.ts';
import { consoleLogger } from '../../../src/logger.ts';
import { connectNats } from '../../../src/transport/natsTransport.ts';
import { traced } from './trace.ts';
import type { Logger } from '../../../src/logger.ts';

/** Every app's arguments: `--nats <url> --prefix <subject prefix>`, and the app's own `--<name> <value>`. */
export function args(names: readonly string[]): Record<string, string> {
  const options: Record<string, { type: 'string' }> = { nats: { type: 'string' }, prefix: { type: 'string' } };
  for (const n of names) options[n] = { type: 'string' };
  const { values } = parseArgs({ options, strict: true });
  const out: Record<string, string> = {};
  for (const n of ['nats', 'prefix', ...names]) {
    const v = values[n];
    if (typeof v !== 'string') throw new Error(`missing --${n}`);
    out[n] = v;
  }
  return out;
}

/** One JSON line on stdout, with the time (`at`). bigints are written as strings. */
export function emit(message: Record<string, unknown>): void {
  process.stdout.write(`${JSON.stringify({ ...message, at: new Date().toISOString() }, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v))}\n`);
}

/** Warnings and errors on stderr, each line with its time (for the test's failure messages). */
export const logger: Logger = consoleLogger({
  level: (process.env.SAMSA_APP_LOG_LEVEL as 'debug' | 'info' | 'warn' | 'error' | undefined) ?? 'warn',
  write: (entry) => {
    const fields = Object.keys(entry.fields).length === 0 ? '' : ` ${JSON.stringify(entry.fields, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v instanceof Error ? v.message : v))}`;
    process.stderr.write(`${new Date().toISOString()} ${entry.level.toUpperCase()} ${entry.message}${fields}\n`);
  },
});

/** The clients of the process cluster (brokers 1-3, controllers 0-2) over NATS. */
export async function connectCluster(a: Record<string, string>): Promise<Connection> {
  const nats = { servers: a.nats as string, subjectPrefix: a.prefix as string, name: 'samsa-test-app', logger };
  if (process.env.SAMSA_APP_TRACE !== '1') return connect({ nats, bootstrap: [1, 2, 3], controllers: [0, 1, 2], logger });
  const transport = await connectNats(nats);
  const clients = await connect({ transport: traced(transport), bootstrap: [1, 2, 3], controllers: [0, 1, 2], logger });
  const stop = clients.stop.bind(clients);
  return Object.assign(clients, { stop: async () => (await stop(), await transport.close()) });
}

/**
 * On SIGTERM or SIGINT runs `stop` (the app's close, then the connection's), prints
 * `{"type":"stopped"}` and exits 0; a failing stop or a second signal exits 1.
 */
export function stopOnSignals(stop: () => Promise<void>): void {
  let stopping = false;
  const onSignal = (): void => {
    if (stopping) process.exit(1);
    stopping = true;
    stop().then(
      () => {
        emit({ type: 'stopped' });
        process.exit(0);
      },
      (e: unknown) => {
        emit({ type: 'error', message: `stop failed: ${e instanceof Error ? e.message : String(e)}` });
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
}

/** Runs `main`; a failure is printed as `{"type":"error"}` and exits 1. */
export function run(main: () => Promise<void>): void {
  main().catch((e: unknown) => {
    emit({ type: 'error', message: e instanceof Error ? (e.stack ?? e.message) : String(e) });
    process.exit(1);
  });
}
