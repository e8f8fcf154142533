/**
 * A document projection into a samsa state store: a streams app (one per build, application id
 * `samsa-projection-<name>_v<version>[_r<build>]`) whose one Processor API node evolves the
 * document of each event's key in a logged key-value store. Under exactly_once_v2 the store's
 * changelog, and the input offsets commit in one Kafka transaction, so the store is exactly-once
 * and restores after a crash; its interactive queries answer `get`, `range` and `prefix`.
 *
 * Keys must follow the input partitioning (a `key` function that moves an event to another
 * partition's document would split it over tasks): the processor refuses one that does not.
 * Blue-green works within a process: a newer version builds beside the live one and takes over
 * once its lag is zero; `rebuild` is a new build that replaces the live one when caught up.
 * Dead letters are parked per key in a second store; applying them again means a `rebuild` with
 * the fixed projection. Pause and resume pause the streams app (KIP-834); reset needs a SQL target
 * (a streams app's offsets live in its consumer group and its state in its changelog, so moving
 * one without the other breaks it): rebuild instead.
 */
import { InvalidArgumentError, ProjectionError } from '../errors.ts';
import { sleep, SystemClock } from '../clock.ts';
import type { Clock } from '../clock.ts';
import type { ConsumerClient, KafkaClients, TopicPartition } from '../clients/api.ts';
import type { RecordedEvent } from '../eventsourcing/events.ts';
import { createStreamsApp } from '../streams/app.ts';
import { StreamsBuilder } from '../streams/builder.ts';
import { process } from '../streams/operators.ts';
import { bytes, json, serde, string } from '../streams/serdes.ts';
import type { KeyValueStore } from '../streams/stores/keyValueStore.ts';
import type { ProcessorContext } from '../streams/topology.ts';
import { decodeRecord, policyOf } from './projection.ts';
import type { Projection } from './projection.ts';
import { fromJson, toJson } from './sql.ts';
import type { DeadLetter } from './sqlState.ts';
import { StoreView } from './storeView.ts';
import { storeBuildsOf } from './storeBuilds.ts';
import type { StoreBuild, StoreBuilds } from './storeBuilds.ts';
import { waitForTopics } from './runner.ts';
import type { ProjectionDescription, ProjectionErrorEvent, ProjectionRunner, RunProjectionOptions } from './runner.ts';
import { RunnerBase } from './runnerBase.ts';

type DocumentProjection = Extract<Projection<unknown, RecordedEvent>, { kind: 'document' }>;

const encoder = new TextEncoder();
const parkedSerde = serde<Array<{ event: RecordedEvent; error: string }>>({
  serialize: (v) => encoder.encode(toJson(v)),
  deserialize: (b) => fromJson(new TextDecoder().decode(b)) as Array<{ event: RecordedEvent; error: string }>,
});

/** A running store projection; see the module comment. */
export class StoreProjectionRunner<State = unknown> extends RunnerBase<DocumentProjection> implements ProjectionRunner<State> {
  readonly view: StoreView<State>;
  private readonly clock: Clock;
  private current: StoreBuild | undefined;
  private offsets: ConsumerClient | undefined;
  private timer: unknown;
  private errorCount = 0;
  private lastError: unknown;
  private stopped = false;
  private paused = false;

  constructor(
    private readonly clients: KafkaClients,
    projection: DocumentProjection,
    private readonly options: RunProjectionOptions,
    private readonly stateDir: string | undefined,
  ) {
    super(projection);
    this.clock = (clients as { clock?: Clock }).clock ?? new SystemClock();
    this.view = new StoreView(projection, this.clock, () => this.committedOffset.bind(this), storeBuildsOf(clients));
  }


  private registry(): StoreBuilds {
    const all = storeBuildsOf(this.clients);
    let r = all.get(this.name);
    if (r === undefined) all.set(this.name, (r = { live: undefined, builds: new Set() }));
    return r;
  }

  /** Starts once the input topics exist (in the background: an event store creates them on its first append). */
  async start(): Promise<void> {
    const registry = this.registry();
    const same = [...registry.builds].filter((b) => b.version === this.version);
    const build = same.length === 0 ? 0 : Math.max(...same.map((b) => b.build)) + 1;
    const admin = this.clients.admin({ clientId: `samsa-projection-${this.name}-topics` });
    void (async () => {
      try {
        if (!(await waitForTopics(admin, this.projection.topics, (ms) => sleep(this.clock, ms), () => this.stopped))) return;
      } finally {
        await Promise.resolve(admin.close()).catch(() => undefined);
      }
      await this.startBuild(build);
      this.schedule();
    })().catch((e: unknown) => this.fail(e));
  }

  private async startBuild(build: number): Promise<void> {
    const suffix = build === 0 ? `v${this.version}` : `v${this.version}_r${build}`;
    const applicationId = `samsa-projection-${this.name}_${suffix}`;
    const documents = `${this.name}-documents`;
    const deadLetters = `${this.name}-dead-letters`;
    const b = new StreamsBuilder();
    b.addStateStore(documents, { key: string(), value: json() });
    b.addStateStore(deadLetters, { key: string(), value: parkedSerde });
    b.stream(this.projection.topics, { key: bytes(), value: bytes() }).pipe(process(() => this.processor(documents, deadLetters), { stores: [documents, deadLetters] }));
    const app = createStreamsApp(b.build(), this.clients, {
      applicationId,
      processingGuarantee: this.options.processingGuarantee ?? 'exactly_once_v2',
      ...(this.options.clientId === undefined ? {} : { clientId: this.options.clientId }),
      ...(this.options.replicationFactor === undefined ? {} : { replicationFactor: this.options.replicationFactor }),
      ...(this.stateDir === undefined ? {} : { stateDir: this.stateDir }),
      ...(this.options.sessionTimeoutMs === undefined ? {} : { consumer: { sessionTimeoutMs: this.options.sessionTimeoutMs } }),
    });
    if (this.paused) app.pause();
    const entry: StoreBuild = { version: this.version, build, app, applicationId, documents, deadLetters };
    app.state$.subscribe((state) => {
      if (state === 'ERROR' && !this.stopped) this.fail(app.error);
      else if (state === 'RUNNING' && this.status === 'starting') this.setStatus(this.paused ? 'paused' : 'running');
    });
    app.metrics$.subscribe((m) => this.positions$.next(m.committedOffsets));
    await app.start();
    const registry = this.registry();
    registry.builds.add(entry);
    this.current = entry;
    if (registry.live === undefined) registry.live = entry;
    await this.offsets?.close().catch(() => undefined);
    this.offsets = this.clients.consumer({ groupId: applicationId, clientId: `${applicationId}-offsets`, enableAutoCommit: false });
  }

  private processor(documents: string, deadLetters: string) {
    const projection = this.projection;
    const policy = policyOf(projection);
    let ctx: ProcessorContext<never, never>;
    return {
      init: (c: ProcessorContext<never, never>) => {
        ctx = c;
      },
      process: (r: { key: Uint8Array; value: Uint8Array; timestamp: number; headers: readonly { key: string; value: Uint8Array | null }[] }) => {
        const at = ctx.recordMetadata as { topic: string; partition: number; offset: bigint };
        const decoded = decodeRecord(projection, { topic: at.topic, partition: at.partition, offset: at.offset, key: r.key, value: r.value, headers: r.headers as never, timestamp: r.timestamp } as never);
        const docs = ctx.getStateStore<KeyValueStore<string, unknown>>(documents);
        const parked = ctx.getStateStore<KeyValueStore<string, Array<{ event: RecordedEvent; error: string }>>>(deadLetters);
        if ('error' in decoded) {
          this.onError({ ...at }, null, decoded.error, policy.final === 'fail' ? 'fail' : 'skip', 1);
          return;
        }
        const { event, key } = decoded;
        if (key === null) return;
        if (projection.key !== undefined && key !== (r.key === null ? '' : new TextDecoder().decode(r.key))) {
          throw new ProjectionError(projection.name, 'handle', `a store-target projection keeps documents by the record key (the stream id); key() gave "${key}" for stream "${event.streamId}" — use a SQL target to key documents otherwise`, event.position);
        }
        const waiting = parked.get(key);
        if (waiting !== undefined && waiting !== null && waiting.length > 0) {
          parked.put(key, [...waiting, { event, error: 'waiting behind an earlier parked event of its key' }]);
          return;
        }
        for (let attempt = 1; ; attempt++) {
          try {
            const before = docs.get(key);
            const next = projection.evolve(before === undefined || before === null ? projection.initial() : before, event);
            if (next === null) docs.delete(key);
            else docs.put(key, next);
            return;
          } catch (error) {
            if (attempt <= policy.retries) {
              this.onError(event.position, key, error, 'retry', attempt);
              continue;
            }
            this.onError(event.position, key, error, policy.final, attempt);
            if (policy.final === 'deadLetter') parked.put(key, [{ event, error: error instanceof Error ? `${error.name}: ${error.message}` : String(error) }]);
            return;
          }
        }
      },
    };
  }

  private onError(position: { topic: string; partition: number; offset: bigint }, key: string | null, error: unknown, action: ProjectionErrorEvent['action'], attempt: number): void {
    this.errorCount++;
    this.lastError = error;
    this.errors$.next({ projection: this.name, position, key, error, action, attempt });
    if (action === 'fail') throw new ProjectionError(this.name, 'handle', error instanceof Error ? error.message : String(error), position, { cause: error });
  }

  /** The committed next offset of a partition: this instance's own last commit, else the group's. */
  private async committedOffset(tp: TopicPartition): Promise<bigint> {
    const live = this.registry().live ?? this.current;
    if (live === undefined) return -1n;
    const local = live.app.metrics.committedOffsets.find((o) => o.topic === tp.topic && o.partition === tp.partition);
    if (local !== undefined) return local.offset;
    const consumer = live === this.current ? this.offsets : undefined;
    if (consumer === undefined) return -1n;
    const [c] = await consumer.committed([tp]);
    return c?.offset ?? -1n;
  }

  private schedule(): void {
    if (this.stopped) return;
    this.timer = this.clock.setTimeout(() => {
      void this.check().catch(() => undefined).finally(() => this.schedule());
    }, this.options.checkIntervalMs ?? 500);
  }

  /** Lag over every input partition, and the switch of a caught-up newer build to live. */
  private async check(): Promise<void> {
    const current = this.current;
    if (current === undefined) return;
    const lag = await this.measureLag(current);
    this.lag$.next(lag);
    const registry = this.registry();
    const live = registry.live;
    if (live !== undefined && live !== current && lag === 0n && (live.version < current.version || (live.version === current.version && live.build < current.build))) {
      registry.live = current;
      if (live.version === current.version) {
        registry.builds.delete(live);
        await live.app.close().catch(() => undefined);
      }
    }
  }

  private async measureLag(build: StoreBuild): Promise<bigint> {
    const admin = this.clients.admin({ clientId: `${build.applicationId}-lag` });
    try {
      let lag = 0n;
      for (const topic of this.projection.topics) {
        const ends = await admin.listOffsets(topic, 'latest', { isolationLevel: 'read_committed' });
        const starts = await admin.listOffsets(topic, 'earliest');
        for (const end of ends) {
          const local = build.app.metrics.committedOffsets.find((o) => o.topic === topic && o.partition === end.partition)?.offset;
          const committed = local ?? (build === this.current && this.offsets !== undefined ? ((await this.offsets.committed([{ topic, partition: end.partition }]))[0]?.offset ?? -1n) : -1n);
          const from = committed < 0n ? (starts.find((s) => s.partition === end.partition)?.offset ?? 0n) : committed;
          if (end.offset > from) lag += end.offset - from;
        }
      }
      return lag;
    } finally {
      await Promise.resolve(admin.close()).catch(() => undefined);
    }
  }

  private fail(error: unknown): void {
    if (this.status === 'failed') return;
    const e = error instanceof ProjectionError ? error : new ProjectionError(this.name, 'handle', error instanceof Error ? error.message : String(error), undefined, { cause: error });
    this.lastError = e;
    this.setStatus('failed', e);
  }

  async describe(): Promise<ProjectionDescription> {
    const registry = this.registry();
    const current = this.current;
    return {
      name: this.name,
      version: this.version,
      build: current?.build ?? 0,
      target: 'samsa store',
      status: this.status,
      live: current !== undefined && registry.live === current,
      positions: current?.app.metrics.committedOffsets ?? [],
      lag: current === undefined ? -1n : await this.measureLag(current).catch(() => this.lag$.value),
      processed: current?.app.metrics.processed ?? 0,
      errors: this.errorCount,
      ...(this.lastError === undefined ? {} : { lastError: this.lastError }),
      deadLetters: (await this.deadLetters()).length,
    };
  }

  private unsupported(what: string): never {
    throw new ProjectionError(this.name, 'target', `${what} is not available on a store target (its offsets live in the consumer group and its state in the changelog); use rebuild(), or a SQL target`);
  }

  /** Pauses the build's streams app (KafkaStreams.pause): it keeps its partitions and takes no records. */
  pause(): void {
    if (this.status === 'failed' || this.status === 'stopped') return;
    this.paused = true;
    for (const b of this.registry().builds) if (b.version === this.version) b.app.pause();
    this.setStatus('paused');
  }

  resume(): void {
    if (!this.paused || this.status === 'failed' || this.status === 'stopped') return;
    this.paused = false;
    for (const b of this.registry().builds) if (b.version === this.version) b.app.resume();
    this.setStatus('running');
  }
  async reset(): Promise<void> {
    this.unsupported('reset');
  }
  async retryDeadLetters(): Promise<{ applied: number; remaining: number }> {
    this.unsupported('retryDeadLetters (fix the projection and rebuild() instead)');
  }

  async rebuild(): Promise<void> {
    if (this.status === 'failed' || this.stopped) throw new ProjectionError(this.name, 'target', `the projection is ${this.status}; run it again`);
    if (this.current === undefined) throw new ProjectionError(this.name, 'target', 'the projection is still waiting for its input topics; nothing to rebuild yet');
    await this.startBuild(this.current.build + 1);
  }

  async deadLetters(key?: string): Promise<DeadLetter[]> {
    const live = this.registry().live ?? this.current;
    if (live === undefined) return [];
    const store = live.app.store<string, Array<{ event: RecordedEvent; error: string }>>(live.deadLetters);
    const out: DeadLetter[] = [];
    let seq = 0;
    for (const { key: k, value } of store.all()) {
      if (key !== undefined && k !== key) continue;
      for (const p of value ?? []) out.push({ seq: ++seq, key: k, event: p.event, error: p.error });
    }
    return out;
  }

  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    if (this.timer !== undefined) this.clock.clearTimeout(this.timer as never);
    const registry = this.registry();
    for (const b of [...registry.builds]) {
      if (b.version !== this.version) continue;
      registry.builds.delete(b);
      if (registry.live === b) registry.live = undefined;
      await b.app.close().catch(() => undefined);
    }
    if (registry.live === undefined) {
      const next = [...registry.builds].sort((a, b) => b.version - a.version)[0];
      registry.live = next;
      if (next === undefined) storeBuildsOf(this.clients).delete(this.name);
    }
    await this.offsets?.close().catch(() => undefined);
    if (this.status !== 'failed') {
      this.setStatus('stopped');
    }
  }
}

/** Refuses what a store target cannot do, before anything starts. */
export function checkStoreProjection(projection: Projection<unknown, RecordedEvent>): asserts projection is DocumentProjection {
  if (projection.kind !== 'document') throw new InvalidArgumentError('target', `"${projection.name}" writes SQL rows (migrate + handle): run it on sqliteTarget() or postgresTarget(), or define it with initial + evolve for a store`);
}
