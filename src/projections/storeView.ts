/**
 * The query side of a store projection: interactive queries on the live build's document store
 * in this process (as Kafka Streams' IQ, local), read-your-writes on the input offsets the build
 * committed, and live queries re-run after each commit.
 */
import { Observable } from 'rxjs';
import { InvalidArgumentError, ProjectionError, TimeoutError } from '../errors.ts';
import type { Clock } from '../clock.ts';
import type { TopicPartition } from '../clients/api.ts';
import type { EventPosition, RecordedEvent } from '../eventsourcing/events.ts';
import type { Projection } from './projection.ts';
import type { SqlHandle } from './sql.ts';
import { string } from '../streams/serdes.ts';
import type { StoreBuild, StoreBuilds } from './storeBuilds.ts';
import type { ProjectionView, ViewEntry } from './runner.ts';

/** A store projection's view; see the module comment. */
export class StoreView<State = unknown> implements ProjectionView<State> {
  constructor(
    private readonly projection: Projection<unknown, RecordedEvent>,
    private readonly clock: Clock,
    private readonly committed: () => (tp: TopicPartition) => Promise<bigint>,
    private readonly storeBuilds: ReadonlyMap<string, StoreBuilds>,
    private readonly pollMs = 25,
  ) {}

  private build(): StoreBuild {
    const live = this.storeBuilds.get(this.projection.name)?.live;
    if (live === undefined) throw new ProjectionError(this.projection.name, 'target', 'no build of this store projection runs in this process: run it (runProjection) first');
    return live;
  }

  private store() {
    const b = this.build();
    return b.app.store<string, State>(b.documents);
  }

  async get(key: string): Promise<State | undefined> {
    if (typeof key !== 'string') throw new InvalidArgumentError('key', `expected a string, got ${typeof key}`);
    return this.store().get(key) ?? undefined;
  }

  async range(from?: string, to?: string): Promise<Array<ViewEntry<State>>> {
    return this.store().range(from, to).map((e) => ({ key: e.key, value: e.value }));
  }

  async prefix(prefix: string): Promise<Array<ViewEntry<State>>> {
    if (typeof prefix !== 'string') throw new InvalidArgumentError('prefix', `expected a string, got ${typeof prefix}`);
    return this.store().prefixScan(prefix, string()).map((e) => ({ key: e.key, value: e.value }));
  }

  async query<T>(_run: (db: SqlHandle) => Promise<T>): Promise<T> {
    throw new InvalidArgumentError('query', `"${this.projection.name}" lives in a samsa store: read it with get, range or prefix (query() is for SQL targets)`);
  }

  async waitFor(position: EventPosition | readonly EventPosition[] | undefined, options: { readonly timeoutMs?: number } = {}): Promise<void> {
    const wanted = position === undefined ? [] : Array.isArray(position) ? (position as readonly EventPosition[]) : [position as EventPosition];
    for (const p of wanted) {
      if (typeof p?.topic !== 'string' || !Number.isInteger(p.partition) || typeof p.offset !== 'bigint') throw new InvalidArgumentError('position', `expected { topic, partition, offset: bigint } as append() and handle() return, got ${String(p)}`);
    }
    const timeoutMs = options.timeoutMs ?? 30_000;
    const deadline = this.clock.now() + timeoutMs;
    for (const p of wanted) {
      for (;;) {
        if ((await this.committed()(p)) > p.offset) break;
        const left = deadline - this.clock.now();
        if (left <= 0) throw new TimeoutError(`waitFor(${p.topic}-${p.partition}@${p.offset}) on projection "${this.projection.name}"`, timeoutMs, 'check that the projection is running (describe() shows its status and lag)');
        await new Promise<void>((resolve) => this.clock.setTimeout(resolve, Math.min(this.pollMs, left)));
      }
    }
  }

  watch<T>(run: (view: ProjectionView<State>) => Promise<T>): Observable<T> {
    return new Observable<T>((subscriber) => {
      let last: string | undefined;
      let running = Promise.resolve();
      const rerun = (): void => {
        running = running.then(async () => {
          const result = await run(this);
          const text = JSON.stringify(result, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v));
          if (text !== last) {
            last = text;
            subscriber.next(result);
          }
        }).catch((e: unknown) => subscriber.error(e));
      };
      const sub = this.build().app.metrics$.subscribe(() => rerun());
      return () => sub.unsubscribe();
    });
  }

  async live(): Promise<{ version: number; build: number } | undefined> {
    const live = this.storeBuilds.get(this.projection.name)?.live;
    return live === undefined ? undefined : { version: live.version, build: live.build };
  }

  async useVersion(version: number): Promise<void> {
    const registry = this.storeBuilds.get(this.projection.name);
    const candidates = [...(registry?.builds ?? [])].filter((b) => b.version === version).sort((a, b) => b.build - a.build);
    if (registry === undefined || candidates[0] === undefined) throw new ProjectionError(this.projection.name, 'target', `version ${version} does not run in this process; run it first`);
    registry.live = candidates[0];
  }

  async close(): Promise<void> {}
}
