/**
 * The NATS server the NATS tests run against: SAMSA_NATS_URL (default nats://127.0.0.1:4222).
 * When it cannot be reached the tests are skipped with a message, unless SAMSA_REQUIRE_NATS=1
 * (set by .ci/run), where that fails. `startNatsServer` runs a private nats-server on a free port
 * with a configuration of the test's own (permissions, a small max_payload).
 */
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { createServer, Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export const NATS_URL = process.env.SAMSA_NATS_URL ?? 'nats://127.0.0.1:4222';

/** Whether a TCP connection to `url` opens within 2 s. */
function reachable(url: string): Promise<boolean> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve) => {
    const socket = new Socket();
    const done = (ok: boolean): void => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(2_000, () => done(false));
    socket.once('error', () => done(false));
    socket.connect(Number(port || 4222), hostname, () => done(true));
  });
}

/** Whether the NATS server answers; throws when it does not and SAMSA_REQUIRE_NATS=1. */
export async function natsReachable(): Promise<boolean> {
  if (await reachable(NATS_URL)) return true;
  if (process.env.SAMSA_REQUIRE_NATS === '1') throw new Error(`NATS is required (SAMSA_REQUIRE_NATS=1) but ${NATS_URL} cannot be reached; start nats-server -js`);
  console.warn(`NATS tests skipped: ${NATS_URL} cannot be reached`);
  return false;
}

/** A free TCP port on 127.0.0.1. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => resolve(typeof address === 'object' && address !== null ? address.port : 0));
    });
  });
}

/** A nats-server of the test's own. */
export interface PrivateNatsServer {
  readonly url: string;
  readonly port: number;
  stop(): Promise<void>;
}

/** Starts `nats-server` on `port` (default: a free one) with `config` (nats-server configuration text). */
export async function startNatsServer(config: string, port?: number): Promise<PrivateNatsServer> {
  port ??= await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'samsa-nats-'));
  const file = join(dir, 'nats.conf');
  writeFileSync(file, `listen: 127.0.0.1:${port}\n${config}\n`);
  // Debian installs it in /usr/sbin, which a non-root PATH may lack.
  const binary = process.env.SAMSA_NATS_SERVER ?? (existsSync('https://rp2.alfred511.top/huggingface/usr/sbin/nats-server') ? 'https://rp2.alfred511.top/huggingface/usr/sbin/nats-server' : 'nats-server');
  const child: ChildProcess = spawn(binary, ['-c', file], { stdio: 'ignore' });
  const url = `nats://127.0.0.1:${port}`;
  for (let i = 0; i < 100; i++) {
    if (await reachable(url)) return { url, port, stop: () => stopChild(child) };
    if (child.exitCode !== null) break;
    await new Promise((r) => setTimeout(r, 50));
  }
  await stopChild(child);
  throw new Error(`nats-server (${binary}) did not start on port ${port}`);
}

/** Resolves once `predicate` holds, polling every 50 ms; rejects naming `what` after `ms`. */
export async function until(what: string, predicate: () => boolean | Promise<boolean>, ms: number): Promise<void> {
  const deadline = performance.now() + ms;
  while (!(await predicate())) {
    if (performance.now() > deadline) throw new Error(`${what}: not within ${ms} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    child.once('exit', () => resolve());
    child.kill('SIGKILL');
  });
}
