/**
 * A projection into SQLite or PostgreSQL. One consumer per instance, in a group per build, takes a
 * share of the input partitions (Kafka's group protocol spreads them over instances); on every
 * assignment the stored offsets are read from the database and the consumer is moved there, and
 * each partition's batch goes into the database in one transaction with its next offset
 * (sqlBatch.ts). So the database, not the group, is the truth about what was applied: after any
 * crash the model equals exactly-once processing of the input. A periodic check measures lag,
 * stores offsets that moved past transaction markers, and lets a building version take over.
 */
import { ClosedError, ProjectionError } from '../errors.ts';
import { sleep, SystemClock } from '../clock.ts';
import type { Clock } from '../clock.ts';
import type { AdminClient, ConsumerClient, ConsumerRecord, KafkaClients, TopicPartition, TopicPartitionOffset } from '../clients/api.ts';
import type { RecordedEvent } from '../eventsourcing/events.ts';
import { policyOf } from './projection.ts';
import type { Projection } from './projection.ts';
import type { SqlConnection } from './sql.ts';
import { applyBatch, decisionKey, errorText, replayParked } from './sqlBatch.ts';
import type { Decision, PartitionBatch } from './sqlBatch.ts';
import { claimSlot, cutover, ensureSystemTables, initOffsets, listDeadLetters, migrateSlot, newBuild, readOffsets, readSlot, unpark } from './sqlState.ts';
import type { DeadLetter, Slot } from './sqlState.ts';
import { notifyProgress, SqlView } from './sqlView.ts';
import { waitForTopics } from './runner.ts';
import type { ProjectionDescription, ProjectionRunner, RunProjectionOptions } from './runner.ts';
import { RunnerBase } from './runnerBase.ts';

type AnyProjection = Projection<unknown, RecordedEvent>;
const tpKey = (tp: TopicPartition): string => `${tp.topic}/${tp.partition}`;

/** A running SQL projection; see the module comment. */
export class SqlProjectionRunner<State = unknown> extends RunnerBase<AnyProjection> implements ProjectionRunner<State> {
  readonly view: SqlView<State>;
  private readonly clock: Clock;
  private readonly exactlyOnce: boolean;
  private slot!: Slot;
  private consumer: ConsumerClient | undefined;
  private admin: AdminClient | undefined;
  private readonly applied = new Map<string, bigint>();
  private stopping = false;
  private paused = false;
  private loopDone: Promise<void> = Promise.resolve();
  private processed = 0;
  private errorCount = 0;
  private lastError: unknown;
  private lastCheck = -Infinity;
  private generation = 0;

  constructor(
    private readonly clients: KafkaClients,
    projection: AnyProjection,
    private readonly conn: SqlConnection,
    private readonly viewConn: SqlConnection,
    private readonly options: RunProjectionOptions,
  ) {
    super(projection);
    this.clock = (clients as { clock?: Clock }).clock ?? new SystemClock();
    this.exactlyOnce = (options.processingGuarantee ?? 'exactly_once_v2') === 'exactly_once_v2';
    this.view = new SqlView(viewConn, projection, this.clock);
  }


  /** Creates the tables, claims the build and starts consuming. @throws ProjectionError when the migration fails. */
  async start(): Promise<void> {
    await ensureSystemTables(this.conn);
    this.slot = await claimSlot(this.conn, this.projection);
    await migrateSlot(this.conn, this.projection, this.slot);
    this.admin = this.clients.admin({ clientId: `${this.clientId()}-admin` });
    this.startLoop();
  }

  private clientId(): string {
    return this.options.clientId ?? `projection-${this.slot.id}`;
  }

  private startLoop(): void {
    const generation = ++this.generation;
    this.loopDone = this.loop(generation).catch((error: unknown) => this.fail(error));
  }

  private async loop(generation: number): Promise<void> {
    const admin = this.admin;
    if (admin === undefined || !(await waitForTopics(admin, this.projection.topics, (ms) => sleep(this.clock, ms), () => this.stopping || generation !== this.generation))) return;
    const consumer = this.clients.consumer({
      groupId: `samsa-projection-${this.slot.id}`,
      clientId: this.clientId(),
      isolationLevel: 'read_committed',
      enableAutoCommit: false,
      autoOffsetReset: 'earliest',
      maxPollRecords: this.options.maxBatchSize ?? 500,
      ...(this.options.sessionTimeoutMs === undefined ? {} : { sessionTimeoutMs: this.options.sessionTimeoutMs }),
      rebalanceListener: {
        onPartitionsAssigned: (tps) => this.assigned(consumer, tps),
        onPartitionsRevoked: (tps) => this.forget(tps),
        onPartitionsLost: (tps) => this.forget(tps),
      },
    });
    this.consumer = consumer;
    try {
      await consumer.subscribe([...this.projection.topics], { fromBeginning: true });
      if (this.status === 'starting') this.setStatus(this.paused ? 'paused' : 'running');
      while (!this.stopping && generation === this.generation) {
        const records = await consumer.poll({ timeoutMs: 200 });
        if (this.stopping || generation !== this.generation) break;
        if (records.length > 0) await this.applyPoll(consumer, records);
        if (this.clock.now() - this.lastCheck >= (this.options.checkIntervalMs ?? 500)) await this.check(consumer);
        if (records.length === 0 && (this.clients as { clock?: Clock }).clock !== undefined) await sleep(this.clock, 0);
      }
    } finally {
      if (this.consumer === consumer) this.consumer = undefined;
      await consumer.close().catch(() => undefined);
    }
  }

  /** On assignment: every partition gets an offsets row, and the consumer starts where the database says. */
  private async assigned(consumer: ConsumerClient, tps: readonly TopicPartition[]): Promise<void> {
    if (this.paused) consumer.pause(tps);
    if (!this.exactlyOnce) return;
    const stored = await this.conn.transaction(async (tx) => {
      await initOffsets(tx, this.slot, tps);
      return readOffsets(tx, this.conn.dialect, this.slot);
    });
    for (const tp of tps) {
      const next = stored.get(tpKey(tp)) ?? -1n;
      if (next >= 0n) {
        consumer.seek(tp, next);
        this.applied.set(tpKey(tp), next);
      } else this.applied.delete(tpKey(tp));
    }
  }

  private forget(tps: readonly TopicPartition[]): void {
    for (const tp of tps) this.applied.delete(tpKey(tp));
  }

  private async applyPoll(consumer: ConsumerClient, records: readonly ConsumerRecord[]): Promise<void> {
    const byPartition = new Map<string, PartitionBatch>();
    for (const r of records) {
      const k = `${r.topic}/${r.partition}`;
      let batch = byPartition.get(k);
      if (batch === undefined) byPartition.set(k, (batch = { tp: { topic: r.topic, partition: r.partition }, records: [] }));
      (batch.records as ConsumerRecord[]).push(r);
    }
    await this.applyBatches(consumer, [...byPartition.values()]);
    if (this.stopping) return;
    if (!this.exactlyOnce) {
      await this.options.faults?.beforeGroupCommit?.(() => this.conn.kill());
      await consumer.commit();
    }
    this.publish();
  }

  /** A poll's records in one transaction, again and again with the policy's decisions, until they are applied or the projection fails. */
  private async applyBatches(consumer: ConsumerClient, batches: readonly PartitionBatch[]): Promise<void> {
    const decisions = new Map<string, { decision: Decision; error: string }>();
    const attempts = new Map<string, number>();
    const policy = policyOf(this.projection);
    for (;;) {
      const outcome = await applyBatch(this.conn, this.projection, this.slot, batches, decisions, this.exactlyOnce, this.options.faults).catch((e: unknown) => {
        const first = batches[0];
        throw new ProjectionError(this.name, 'target', `writing to ${this.conn.description} failed: ${e instanceof Error ? e.message : String(e)}`, first === undefined ? undefined : { ...first.tp, offset: first.records[0]?.offset ?? -1n }, { cause: e });
      });
      if (outcome.kind === 'applied') {
        for (const [k, next] of outcome.next) this.applied.set(k, next);
        for (const [k, stored] of outcome.stale) {
          // Another worker (or this one before a crash) got further: continue after what is stored.
          const i = k.lastIndexOf('/');
          consumer.seek({ topic: k.slice(0, i), partition: Number(k.slice(i + 1)) }, stored);
          this.applied.set(k, stored);
        }
        this.processed += outcome.applied;
        return;
      }
      const { tp } = outcome;
      const id = decisionKey(tp.topic, tp.partition, outcome.offset);
      const attempt = (attempts.get(id) ?? 0) + 1;
      attempts.set(id, attempt);
      const position = outcome.event?.position ?? { ...tp, offset: outcome.offset };
      this.errorCount++;
      this.lastError = outcome.error;
      if (attempt <= policy.retries) {
        this.errors$.next({ projection: this.name, position, key: outcome.key, error: outcome.error, action: 'retry', attempt });
        await sleep(this.clock, policy.backoffMs * 2 ** (attempt - 1));
        if (this.stopping) return;
        continue;
      }
      const action = policy.final === 'deadLetter' && outcome.key === null ? 'skip' : policy.final;
      this.errors$.next({ projection: this.name, position, key: outcome.key, error: outcome.error, action, attempt });
      if (action === 'fail') throw new ProjectionError(this.name, 'handle', errorText(outcome.error), position, { cause: outcome.error });
      decisions.set(id, { decision: action === 'skip' ? 'skip' : 'park', error: errorText(outcome.error) });
    }
  }

  private publish(): void {
    this.positions$.next([...this.applied].map(([k, offset]) => {
      const i = k.lastIndexOf('/');
      return { topic: k.slice(0, i), partition: Number(k.slice(i + 1)), offset };
    }));
    notifyProgress(this.conn.description);
  }

  /**
   * Lag, offsets past transaction markers, and the blue-green switch: a building version whose
   * lag is zero over every partition (what all instances stored) becomes live.
   */
  private async check(consumer: ConsumerClient): Promise<void> {
    this.lastCheck = this.clock.now();
    if (this.exactlyOnce) {
      for (const tp of consumer.assignment()) {
        const stored = this.applied.get(tpKey(tp));
        if (stored === undefined) continue;
        const position = await consumer.position(tp);
        if (position > stored) {
          await this.conn.transaction(async (tx) => {
            const now = (await readOffsets(tx, this.conn.dialect, this.slot, true)).get(tpKey(tp));
            if (now === stored) await tx.exec('UPDATE samsa_projection_offsets SET next_offset = ? WHERE slot = ? AND topic = ? AND part = ?', [position, this.slot.id, tp.topic, tp.partition]);
          });
          this.applied.set(tpKey(tp), position);
          this.publish();
        }
      }
    }
    const lag = await this.measureLag();
    this.lag$.next(lag);
    const current = await readSlot(this.conn, this.slot);
    if (current !== undefined) this.slot = current;
    if (this.slot.state === 'building' && lag === 0n && this.exactlyOnce) {
      if (await cutover(this.conn, this.projection, this.slot)) {
        this.slot = { ...this.slot, state: 'live' };
        notifyProgress(this.conn.description);
      }
    }
  }

  private async measureLag(): Promise<bigint> {
    const admin = this.admin;
    if (admin === undefined) return -1n;
    const stored = this.exactlyOnce ? await readOffsets(this.conn, this.conn.dialect, this.slot) : this.applied;
    let lag = 0n;
    for (const topic of this.projection.topics) {
      const ends = await admin.listOffsets(topic, 'latest', { isolationLevel: 'read_committed' });
      const starts = await admin.listOffsets(topic, 'earliest');
      for (const end of ends) {
        const start = starts.find((s) => s.partition === end.partition)?.offset ?? 0n;
        const at = stored.get(`${topic}/${end.partition}`) ?? -1n;
        const from = at < 0n ? start : at;
        if (end.offset > from) lag += end.offset - from;
      }
    }
    return lag;
  }

  private fail(error: unknown): void {
    const e = error instanceof ProjectionError ? error : new ProjectionError(this.name, 'target', error instanceof Error ? error.message : String(error), undefined, { cause: error });
    this.lastError = e;
    if (this.stopping) return;
    this.stopping = true;
    this.setStatus('failed', e);
    void this.conn.kill();
    void Promise.resolve(this.admin?.close()).catch(() => undefined);
  }

  private ensureRunning(what: string): void {
    if (this.status === 'stopped') throw new ClosedError(`projection "${this.name}" (${what} after stop())`);
  }

  async describe(): Promise<ProjectionDescription> {
    this.ensureRunning('describe');
    if (this.slot !== undefined && this.status !== 'failed') this.slot = (await readSlot(this.viewConn, this.slot)) ?? this.slot;
    const dead = this.slot === undefined ? 0 : (await listDeadLetters(this.viewConn, this.slot)).length;
    return {
      name: this.name,
      version: this.version,
      build: this.slot?.build ?? 0,
      target: this.conn.description,
      status: this.status,
      live: this.slot?.state === 'live',
      positions: this.positions$.value,
      lag: this.status === 'failed' ? this.lag$.value : await this.measureLag().catch(() => this.lag$.value),
      processed: this.processed,
      errors: this.errorCount,
      ...(this.lastError === undefined ? {} : { lastError: this.lastError }),
      deadLetters: dead,
    };
  }

  pause(): void {
    if (this.status === 'failed' || this.status === 'stopped') return;
    this.paused = true;
    this.consumer?.pause(this.consumer.assignment());
    this.setStatus('paused');
  }

  resume(): void {
    if (!this.paused || this.status === 'failed' || this.status === 'stopped') return;
    this.paused = false;
    const consumer = this.consumer;
    if (consumer !== undefined) consumer.resume(consumer.paused());
    this.setStatus('running');
  }

  async reset(to: 'earliest' | 'latest' | readonly TopicPartitionOffset[]): Promise<void> {
    this.ensureRunning('reset');
    if (!this.exactlyOnce) throw new ProjectionError(this.name, 'target', 'reset needs stored offsets (exactly_once_v2); with at_least_once, reset the consumer group instead');
    const admin = this.admin;
    if (admin === undefined) throw new ProjectionError(this.name, 'target', 'the projection has not started');
    const targets: TopicPartitionOffset[] = [];
    if (Array.isArray(to)) targets.push(...(to as readonly TopicPartitionOffset[]));
    else for (const topic of this.projection.topics) for (const o of await admin.listOffsets(topic, to as 'earliest' | 'latest', { isolationLevel: 'read_committed' })) targets.push({ topic, partition: o.partition, offset: o.offset });
    await this.restart(async () => {
      await this.conn.transaction(async (tx) => {
        await initOffsets(tx, this.slot, targets);
        for (const t of targets) await tx.exec('UPDATE samsa_projection_offsets SET next_offset = ? WHERE slot = ? AND topic = ? AND part = ?', [t.offset, this.slot.id, t.topic, t.partition]);
      });
    });
  }

  async rebuild(): Promise<void> {
    this.ensureRunning('rebuild');
    await this.restart(async () => {
      this.slot = await newBuild(this.conn, this.projection);
      await migrateSlot(this.conn, this.projection, this.slot);
    });
  }

  /** Stops the loop, runs `between`, and starts it again (a new consumer reads the stored offsets). */
  private async restart(between: () => Promise<void>): Promise<void> {
    if (this.status === 'failed' || this.status === 'stopped') throw new ProjectionError(this.name, 'target', `the projection is ${this.status}; run it again`);
    this.generation++;
    await this.loopDone;
    this.applied.clear();
    await between();
    this.startLoop();
  }

  async deadLetters(key?: string): Promise<DeadLetter[]> {
    this.ensureRunning('deadLetters');
    return listDeadLetters(this.viewConn, this.slot, key);
  }

  async retryDeadLetters(key?: string): Promise<{ applied: number; remaining: number }> {
    this.ensureRunning('retryDeadLetters');
    const all = await listDeadLetters(this.conn, this.slot, key);
    const byKey = new Map<string, DeadLetter[]>();
    for (const d of all) {
      const list = byKey.get(d.key) ?? [];
      list.push(d);
      byKey.set(d.key, list);
    }
    let applied = 0;
    for (const list of byKey.values()) applied += (await replayParked(this.conn, this.projection, this.slot, list, (tx, seq) => unpark(tx, this.slot, seq))).applied;
    this.publish();
    return { applied, remaining: (await listDeadLetters(this.conn, this.slot, key)).length };
  }

  async stop(): Promise<void> {
    if (this.status === 'stopped') return;
    const failed = this.status === 'failed';
    this.stopping = true;
    await this.loopDone;
    if (!failed) {
      this.setStatus('stopped');
    }
    await Promise.resolve(this.admin?.close()).catch(() => undefined);
    await this.conn.close();
    await this.view.close();
  }
}
