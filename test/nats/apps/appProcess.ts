/**
 * The test side of the app processes (./child.ts): spawns an app script with
 * `node --import tsx`, keeps the JSON lines it prints, and waits for the ones the test needs.
 * With SAMSA_APP_LOG_DIR set, each app's stderr (its log; SAMSA_APP_LOG_LEVEL sets the level) is also
 * appended to `<dir>/<name>.log`. Every process is reaped: `reapAll()` kills what still runs and waits for it, and children left by
 * a test that threw are killed when this process exits.
 */
import { spawn } from 'node:child_process';
import { appendFileSync } from 'node:fs';
import type { ChildProcess } from 'node:child_process';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = resolve(fileURLToPath(new URL('.', import.meta.url)), '../../..');

/** One JSON line an app printed. */
export type AppMessage = Record<string, unknown> & { readonly type: string };

const live = new Set<AppProcess>();
let reaperInstalled = false;

/** See the module comment. */
export class AppProcess {
  readonly messages: AppMessage[] = [];
  /** What it printed to stderr lately (its logger), for failure messages. */
  private readonly stderr: string[] = [];
  readonly exited: Promise<void>;
  private partial = '';

  private constructor(
    readonly name: string,
    private readonly child: ChildProcess,
  ) {
    this.exited = new Promise((done) => child.once('exit', () => (live.delete(this), done())));
    // Writing to a child that died is no error of the test's.
    child.stdin?.on('error', () => undefined);
    child.stdout?.setEncoding('utf8');
    child.stdout?.on('data', (chunk: string) => {
      const lines = (this.partial + chunk).split('\n');
      this.partial = lines.pop() ?? '';
      for (const line of lines) {
        if (!line.startsWith('{')) continue;
        try {
          this.messages.push(JSON.parse(line) as AppMessage);
        } catch {
          // not one of the app's lines
        }
      }
    });
    child.stderr?.setEncoding('utf8');
    const logDir = process.env.SAMSA_APP_LOG_DIR;
    child.stderr?.on('data', (chunk: string) => {
      if (logDir !== undefined) appendFileSync(join(logDir, `${name}.log`), chunk);
      this.stderr.push(chunk);
      if (this.stderr.length > 400) this.stderr.splice(0, 200);
    });
  }

  /** Spawns `test/nats/apps/<script>` with `args`, cwd the repository root. */
  static spawn(name: string, script: string, args: readonly string[]): AppProcess {
    if (!reaperInstalled) {
      reaperInstalled = true;
      process.on('exit', () => {
        for (const app of live) app.child.kill('SIGKILL');
      });
    }
    const child = spawn(process.execPath, ['--import', 'tsx', join(ROOT, 'test/nats/apps', script), ...args], { cwd: ROOT, stdio: ['pipe', 'pipe', 'pipe'] });
    const app = new AppProcess(name, child);
    live.add(app);
    return app;
  }

  get running(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  /** Its exit code, or the signal that ended it. */
  get exit(): number | string | null {
    return this.child.exitCode ?? this.child.signalCode;
  }

  /** The first message (from index `from` on) that `predicate` accepts; fails on an `error` line, an exit, or after `ms`. */
  async waitFor(predicate: (m: AppMessage) => boolean, ms: number, from = 0): Promise<AppMessage> {
    const deadline = performance.now() + ms;
    for (;;) {
      for (let i = from; i < this.messages.length; i++) {
        const m = this.messages[i] as AppMessage;
        if (predicate(m)) return m;
        if (m.type === 'error') throw new Error(`${this.name} failed: ${String(m.message)}\n${this.log()}`);
      }
      if (!this.running) throw new Error(`${this.name} exited (${String(this.exit)}) before the awaited line\n${this.log()}`);
      if (performance.now() > deadline) throw new Error(`${this.name}: no awaited line within ${ms} ms\n${this.log()}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  /** The last message of `type`, if any. */
  last(type: string): AppMessage | undefined {
    for (let i = this.messages.length - 1; i >= 0; i--) if (this.messages[i]?.type === type) return this.messages[i];
    return undefined;
  }

  /** Writes `message` as a JSON line to its stdin (bigints as strings). */
  send(message: unknown): void {
    this.child.stdin?.write(`${JSON.stringify(message, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v))}\n`);
  }

  /** Sends `signal`; resolves once the process exited (SIGKILL after `ms` if it has not). */
  async kill(signal: NodeJS.Signals, ms = 30_000): Promise<void> {
    if (!this.running) return;
    this.child.kill(signal);
    const timer = setTimeout(() => this.child.kill('SIGKILL'), ms);
    await this.exited;
    clearTimeout(timer);
  }

  /** Its last stdout messages and stderr, for failure messages. */
  log(): string {
    return `--- ${this.name} (pid ${this.pid}) last lines:\n${this.messages.slice(-40).map((m) => JSON.stringify(m)).join('\n')}\n--- stderr:\n${this.stderr.join('').slice(-12_000)}`;
  }
}

/** SIGKILLs every app process still running and waits for each to exit. */
export async function reapAll(): Promise<void> {
  await Promise.all([...live].map((app) => app.kill('SIGKILL')));
}
