/**
 * The query side of a SQL projection. Every read resolves the live build first, so a blue-green
 * cutover or a finished rebuild is seen by the next query without a restart. `waitFor` compares
 * the offsets stored with the live build's rows, so it holds across processes: whoever applied the
 * event, once it is committed the query sees it. Runners in this process wake waiting views at
 * once; others are seen by polling.
 */
import { Observable, Subject } from 'rxjs';
import { ClosedError, InvalidArgumentError, TimeoutError } from '../errors.ts';
import type { Clock } from '../clock.ts';
import type { EventPosition, RecordedEvent } from '../eventsourcing/events.ts';
import type { Projection } from './projection.ts';
import { sqlHandle } from './sql.ts';
import type { SqlConnection, SqlHandle } from './sql.ts';
import { documentTable, liveSlot, readOffsets, setLiveVersion } from './sqlState.ts';
import type { Slot } from './sqlState.ts';
import type { ProjectionView, ViewEntry } from './runner.ts';

const progress = new Subject<string>();

/** Tells views of this process on `target` that a runner stored new offsets. */
export function notifyProgress(target: string): void {
  progress.next(target);
}

/** Waits for a runner of this process to store offsets on `target`, or `ms`, whichever is first. */
function progressOrTimeout(clock: Clock, target: string, ms: number): Promise<void> {
  return new Promise((resolve) => {
    const timer = clock.setTimeout(() => {
      sub.unsubscribe();
      resolve();
    }, ms);
    const sub = progress.subscribe((t) => {
      if (t !== target) return;
      clock.clearTimeout(timer);
      sub.unsubscribe();
      resolve();
    });
  });
}

/** A SQL projection's view; see the module comment. */
export class SqlView<State = unknown> implements ProjectionView<State> {
  constructor(
    private readonly conn: SqlConnection,
    private readonly projection: Projection<unknown, RecordedEvent>,
    private readonly clock: Clock,
    private readonly pollMs = 25,
  ) {}

  private closed = false;

  private open(): void {
    if (this.closed) throw new ClosedError(`the view of projection "${this.projection.name}"`);
  }

  private async slot(): Promise<Slot> {
    this.open();
    const slot = await liveSlot(this.conn, this.projection.name);
    if (slot === undefined) throw new InvalidArgumentError('projection', `"${this.projection.name}" has no live build in ${this.conn.description}: run it (runProjection) first`);
    return slot;
  }

  private async documents(where: string, params: readonly string[]): Promise<Array<ViewEntry<State>>> {
    if (this.projection.kind !== 'document') throw new InvalidArgumentError('projection', `"${this.projection.name}" writes its own tables: read them with query()`);
    const table = documentTable(this.projection.name, await this.slot());
    const collate = this.conn.dialect === 'postgres' ? ' COLLATE "C"' : '';
    const rows = await this.conn.all<{ key: string; doc: unknown }>(`SELECT key, doc FROM ${table}${where === '' ? '' : ` WHERE ${where}`} ORDER BY key${collate}`, params);
    return rows.map((r) => ({ key: r.key, value: (typeof r.doc === 'string' ? JSON.parse(r.doc) : r.doc) as State }));
  }

  async get(key: string): Promise<State | undefined> {
    if (typeof key !== 'string') throw new InvalidArgumentError('key', `expected a string, got ${typeof key}`);
    return (await this.documents('key = ?', [key]))[0]?.value;
  }

  async range(from?: string, to?: string): Promise<Array<ViewEntry<State>>> {
    const collate = this.conn.dialect === 'postgres' ? ' COLLATE "C"' : '';
    const clauses: string[] = [];
    const params: string[] = [];
    if (from !== undefined) {
      clauses.push(`key${collate} >= ?`);
      params.push(from);
    }
    if (to !== undefined) {
      clauses.push(`key${collate} <= ?`);
      params.push(to);
    }
    return this.documents(clauses.join(' AND '), params);
  }

  async prefix(prefix: string): Promise<Array<ViewEntry<State>>> {
    if (typeof prefix !== 'string') throw new InvalidArgumentError('prefix', `expected a string, got ${typeof prefix}`);
    return this.documents('substr(key, 1, length(?)) = ?', [prefix, prefix]);
  }

  async query<T>(run: (db: SqlHandle) => Promise<T>): Promise<T> {
    if (typeof run !== 'function') throw new InvalidArgumentError('run', 'expected a function (db) => Promise<result>');
    return run(sqlHandle(this.conn, this.conn.dialect, (await this.slot()).suffix));
  }

  async waitFor(position: EventPosition | readonly EventPosition[] | undefined, options: { readonly timeoutMs?: number } = {}): Promise<void> {
    const wanted = position === undefined ? [] : Array.isArray(position) ? (position as readonly EventPosition[]) : [position as EventPosition];
    for (const p of wanted) {
      if (typeof p?.topic !== 'string' || !Number.isInteger(p.partition) || typeof p.offset !== 'bigint') throw new InvalidArgumentError('position', `expected { topic, partition, offset: bigint } as append() and handle() return, got ${String(p)}`);
    }
    if (wanted.length === 0) return;
    this.open();
    const timeoutMs = options.timeoutMs ?? 30_000;
    const deadline = this.clock.now() + timeoutMs;
    for (;;) {
      this.open();
      const slot = await liveSlot(this.conn, this.projection.name);
      if (slot !== undefined) {
        const stored = await readOffsets(this.conn, this.conn.dialect, slot);
        if (wanted.every((p) => (stored.get(`${p.topic}/${p.partition}`) ?? -1n) > p.offset)) return;
      }
      const left = deadline - this.clock.now();
      if (left <= 0) throw new TimeoutError(`waitFor(${wanted.map((p) => `${p.topic}-${p.partition}@${p.offset}`).join(', ')}) on projection "${this.projection.name}"`, timeoutMs, 'check that the projection is running (describe() shows its status and lag)');
      await progressOrTimeout(this.clock, this.conn.description, Math.min(this.pollMs, left));
    }
  }

  watch<T>(run: (view: ProjectionView<State>) => Promise<T>): Observable<T> {
    return new Observable<T>((subscriber) => {
      let stopped = false;
      let last: string | undefined;
      void (async () => {
        while (!stopped) {
          const result = await run(this);
          const text = JSON.stringify(result, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v));
          if (!stopped && text !== last) {
            last = text;
            subscriber.next(result);
          }
          await progressOrTimeout(this.clock, this.conn.description, 250);
        }
      })().catch((e: unknown) => {
        if (!stopped) subscriber.error(e);
      });
      return () => {
        stopped = true;
      };
    });
  }

  async live(): Promise<{ version: number; build: number } | undefined> {
    this.open();
    const slot = await liveSlot(this.conn, this.projection.name);
    return slot === undefined ? undefined : { version: slot.version, build: slot.build };
  }

  async useVersion(version: number): Promise<void> {
    if (!Number.isInteger(version) || version < 1) throw new InvalidArgumentError('version', `expected an integer from 1, got ${JSON.stringify(version)}`);
    this.open();
    await setLiveVersion(this.conn, this.projection.name, version);
    notifyProgress(this.conn.description);
  }

  async close(): Promise<void> {
    this.closed = true;
    await this.conn.close();
  }
}

