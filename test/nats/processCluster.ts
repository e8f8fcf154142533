/**
 * A samsa cluster of separate processes: each controller and broker is a `samsa` command
 * (src/cli/samsa.ts) of its own, talking over a real NATS server. For the multi-process tests and
 * the NATS benchmark. Every child is reaped: `stop()` kills what still runs and waits for it, and
 * children left by a test that threw are killed when this process exits.
 */
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = resolve(fileURLToPath(new URL('.', import.meta.url)), '../..');
const CLI = join(ROOT, 'src/cli/samsa.ts');

export type Role = 'controller' | 'broker';

/** Options of {@link ProcessCluster.start}. */
export interface ProcessClusterOptions {
  readonly natsUrl: string;
  /** Subject prefix: one per cluster, so runs sharing a NATS server stay apart. */
  readonly prefix: string;
  /** Parent of every node's data directory (`c<id>`, `b<id>`). */
  readonly dataDir: string;
  readonly controllers?: readonly number[];
  readonly brokers?: readonly number[];
  /** `--config` settings of every broker (Kafka keys). */
  readonly brokerConfig?: readonly string[];
  /** `--config` settings of every controller (Kafka keys). */
  readonly controllerConfig?: readonly string[];
  /** Log level of the nodes (default warn). */
  readonly logLevel?: string;
  /** How long a node may take to print `ready` (default 60 s). */
  readonly readyTimeoutMs?: number;
}

interface NodeProcess {
  readonly child: ChildProcess;
  readonly output: string[];
  readonly exited: Promise<void>;
}

const live = new Set<ChildProcess>();
let reaperInstalled = false;

function installReaper(): void {
  if (reaperInstalled) return;
  reaperInstalled = true;
  process.on('exit', () => {
    for (const child of live) child.kill('SIGKILL');
  });
}

/** See the module comment. */
export class ProcessCluster {
  private readonly nodes = new Map<string, NodeProcess>();
  readonly controllers: readonly number[];
  readonly brokers: readonly number[];

  private constructor(readonly options: ProcessClusterOptions) {
    this.controllers = options.controllers ?? [0, 1, 2];
    this.brokers = options.brokers ?? [1, 2, 3];
  }

  /** Starts every controller and broker and resolves once each has printed `ready`. */
  static async start(options: ProcessClusterOptions): Promise<ProcessCluster> {
    const cluster = new ProcessCluster(options);
    try {
      await Promise.all([...cluster.controllers.map((id) => cluster.startNode('controller', id)), ...cluster.brokers.map((id) => cluster.startNode('broker', id))]);
    } catch (e) {
      await cluster.stop();
      throw e;
    }
    return cluster;
  }

  /** Starts (or restarts, on its data directory) one node; resolves once it printed `ready`. */
  async startNode(role: Role, id: number): Promise<void> {
    const key = `${role}:${id}`;
    if (this.nodes.get(key)?.child.exitCode === null && this.nodes.get(key)?.child.signalCode === null) throw new Error(`${key} still runs`);
    const o = this.options;
    const dir = join(o.dataDir, `${role === 'controller' ? 'c' : 'b'}${id}`);
    mkdirSync(dir, { recursive: true });
    const args = [
      '--import',
      'tsx',
      CLI,
      role,
      '--id',
      String(id),
      ...(role === 'controller' ? ['--voters', this.controllers.join(',')] : ['--controllers', this.controllers.join(',')]),
      '--nats',
      o.natsUrl,
      '--prefix',
      o.prefix,
      '--data',
      dir,
      '--log-level',
      o.logLevel ?? 'warn',
      ...(role === 'broker' ? (o.brokerConfig ?? []) : (o.controllerConfig ?? [])).flatMap((c) => ['--config', c]),
    ];
    installReaper();
    const child = spawn(process.execPath, args, { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    live.add(child);
    const output: string[] = [];
    const exited = new Promise<void>((done) => child.once('exit', () => (live.delete(child), done())));
    const ready = new Promise<void>((resolveReady, reject) => {
      const timer = setTimeout(() => reject(new Error(`${key} did not get ready within ${o.readyTimeoutMs ?? 60_000} ms:\n${output.slice(-30).join('')}`)), o.readyTimeoutMs ?? 60_000);
      const onData = (chunk: Buffer): void => {
        const text = chunk.toString();
        output.push(text);
        if (output.length > 200_000) output.splice(0, 100_000);
        if (text.includes(`ready ${role} ${id}`)) {
          clearTimeout(timer);
          resolveReady();
        }
      };
      child.stdout?.on('data', onData);
      child.stderr?.on('data', onData);
      void exited.then(() => {
        clearTimeout(timer);
        reject(new Error(`${key} exited (${child.exitCode ?? child.signalCode}) before it was ready:\n${output.slice(-30).join('')}`));
      });
    });
    this.nodes.set(key, { child, output, exited });
    await ready;
  }

  /** Sends `signal` to a node; for a signal that ends it, resolves once it exited. */
  async signal(role: Role, id: number, signal: NodeJS.Signals): Promise<void> {
    const node = this.node(role, id);
    node.child.kill(signal);
    if (signal === 'SIGKILL' || signal === 'SIGTERM' || signal === 'SIGINT') await node.exited;
  }

  /** Whether the node's process runs. */
  running(role: Role, id: number): boolean {
    const node = this.nodes.get(`${role}:${id}`);
    return node !== undefined && node.child.exitCode === null && node.child.signalCode === null;
  }

  /** How the node's process ended: its exit code, or the signal that ended it. */
  exit(role: Role, id: number): number | string | null {
    const child = this.node(role, id).child;
    return child.exitCode ?? child.signalCode;
  }

  /** What the node printed lately. */
  output(role: Role, id: number): string {
    return this.node(role, id).output.join('');
  }

  /** Kills every node still running (a paused one is resumed first, so it can die) and waits for each. */
  async stop(): Promise<void> {
    for (const node of this.nodes.values()) {
      if (node.child.exitCode !== null || node.child.signalCode !== null) continue;
      node.child.kill('SIGCONT');
      node.child.kill('SIGKILL');
    }
    await Promise.all([...this.nodes.values()].map((n) => n.exited));
  }

  private node(role: Role, id: number): NodeProcess {
    const node = this.nodes.get(`${role}:${id}`);
    if (node === undefined) throw new Error(`no ${role} ${id} was started`);
    return node;
  }
}
