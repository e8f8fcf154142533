/**
 * The pipeline's transaction ownership and recovery, scripted (issue 14 items 2, 3 and 5): the
 * pipeline runs against a scripted consumer and producer on a simulated clock, so the rebalance
 * listener can be called at the exact moment that once raced the run loop, partitions can be lost
 * mid-transaction, and transient errors can be injected where they once stopped the pipeline.
 * (Item 4, a reset that cannot be resolved yet, is a consumer test: test/clients/consumer/seekReset.test.ts.)
 */
import { describe, expect, it } from 'vitest';
import type { ConsumerClient, ConsumerGroupMetadata, ConsumerOptions, ConsumerRecord, ProducerOptions, RebalanceListener, TopicPartition, TransactionalProducerClient } from '../../src/clients/api.ts';
import { Pipeline } from '../../src/streams/pipeline.ts';
import type { PipelineOptions } from '../../src/streams/pipeline.ts';
import type { TransactionPhase } from '../../src/clients/producer/transactionManager.ts';
import { SimulatedClock } from '../../src/clock.ts';
import { KafkaProtocolError, ProducerFencedError, TimeoutError, TransactionStateError } from '../../src/errors.ts';

const enc = new TextEncoder();
const TP: TopicPartition = { topic: 'orders', partition: 0 };

function record(offset: number): ConsumerRecord {
  return { topic: 'orders', partition: 0, offset: BigInt(offset), timestamp: 0, key: null, value: enc.encode(`o${offset}`), headers: [] };
}

/** A consumer whose polls, group metadata and committed offsets the test scripts. */
class ScriptedConsumer {
  readonly listener: RebalanceListener;
  readonly polls: Array<ConsumerRecord[] | Error> = [];
  assigned: TopicPartition[] = [];
  group = { generationId: 1, memberId: 'member-1' };
  committedOffset = -1n;
  /** Errors the next committed() calls throw. */
  readonly committedErrors: Error[] = [];
  readonly seeks: Array<{ partition: number; offset: bigint | 'beginning' }> = [];
  private joined = false;

  constructor(
    private readonly clock: SimulatedClock,
    options: ConsumerOptions,
  ) {
    this.listener = options.rebalanceListener ?? {};
  }

  async subscribe(): Promise<void> {}
  groupMetadata(): ConsumerGroupMetadata {
    return { groupId: 'app', groupInstanceId: undefined, ...this.group };
  }
  assignment(): TopicPartition[] {
    return [...this.assigned];
  }
  async poll(options: { timeoutMs?: number }): Promise<ConsumerRecord[]> {
    if (!this.joined) {
      this.joined = true;
      this.assigned = [TP];
      await this.listener.onPartitionsAssigned?.([TP]);
    }
    const next = this.polls.shift();
    if (next instanceof Error) throw next;
    if (next !== undefined && next.length > 0) return next;
    await new Promise<void>((resolve) => this.clock.setTimeout(resolve, options.timeoutMs ?? 100));
    return [];
  }
  async committed(partitions: readonly TopicPartition[]): Promise<Array<TopicPartition & { offset: bigint }>> {
    const error = this.committedErrors.shift();
    if (error !== undefined) throw error;
    return partitions.map((tp) => ({ ...tp, offset: this.committedOffset }));
  }
  seek(tp: TopicPartition, offset: bigint): void {
    this.seeks.push({ partition: tp.partition, offset });
  }
  async seekToBeginning(tps: readonly TopicPartition[]): Promise<void> {
    for (const tp of tps) this.seeks.push({ partition: tp.partition, offset: 'beginning' });
  }
  async commit(): Promise<void> {}
  async close(): Promise<void> {}

  /** The group expelled the member: generation reset, partitions lost (as the membership does). */
  async lose(): Promise<void> {
    this.group = { generationId: -1, memberId: '' };
    const lost = this.assigned;
    await this.listener.onPartitionsLost?.(lost);
    this.assigned = [];
  }

  /** A rebalance takes the partitions away (as a poll timeout's LeaveGroup does). */
  async revoke(): Promise<void> {
    const revoked = this.assigned;
    await this.listener.onPartitionsRevoked?.(revoked);
    this.assigned = [];
  }
}

type Step = 'sendOffsets' | 'commit' | 'abort';

/** A transactional producer recording what it is asked, with hooks to stall or fail each step. */
class ScriptedProducer {
  phase: TransactionPhase = 'uninitialized';
  readonly calls: string[] = [];
  readonly offsetsSent: Array<{ offsets: Array<{ offset: bigint }>; group: ConsumerGroupMetadata }> = [];
  /** Transaction calls in progress now, and the most ever at once. */
  active = 0;
  maxActive = 0;
  /** Per step, what the next call does (default: succeed at once). */
  readonly next: Partial<Record<Step, Array<() => Promise<void>>>> = {};
  closed = false;

  constructor(
    readonly clientId: string,
    /** Errors the next initTransactions() calls throw, shared by every producer of the pipeline. */
    private readonly initErrors: Error[] = [],
  ) {}

  async initTransactions(): Promise<void> {
    this.calls.push('init');
    const error = this.initErrors.shift();
    if (error !== undefined) throw error;
    this.phase = 'ready';
  }
  beginTransaction(): void {
    if (this.phase !== 'ready') throw new TransactionStateError('app-w', this.phase, 'begin a transaction', 'commit or abort first');
    this.calls.push('begin');
    this.phase = 'inTransaction';
  }
  send(): Promise<unknown> {
    this.calls.push('send');
    return Promise.resolve([]);
  }
  async sendOffsets(offsets: Array<{ offset: bigint }>, group: ConsumerGroupMetadata): Promise<void> {
    this.offsetsSent.push({ offsets, group });
    await this.step('sendOffsets', 'inTransaction');
  }
  async commitTransaction(): Promise<void> {
    await this.step('commit', 'inTransaction', 'committing');
    this.phase = 'ready';
  }
  async abortTransaction(): Promise<void> {
    await this.step('abort', ['inTransaction', 'abortableError'], 'aborting');
    this.phase = 'ready';
  }
  async close(): Promise<void> {
    this.closed = true;
  }

  private async step(step: Step, allowed: TransactionPhase | TransactionPhase[], during?: TransactionPhase): Promise<void> {
    this.calls.push(step);
    if (!(Array.isArray(allowed) ? allowed : [allowed]).includes(this.phase)) throw new TransactionStateError('app-w', this.phase, step, 'wrong state');
    if (during !== undefined) this.phase = during;
    this.active++;
    this.maxActive = Math.max(this.maxActive, this.active);
    try {
      await (this.next[step]?.shift() ?? (() => Promise.resolve()))();
    } catch (error) {
      const code = (error as KafkaProtocolError).code;
      // As the real manager: fenced → fatalError; a failed abort stays aborting; otherwise abortable.
      this.phase = code === 'PRODUCER_FENCED' || code === 'INVALID_PRODUCER_EPOCH' ? 'fatalError' : during === 'aborting' ? 'aborting' : 'abortableError';
      throw error;
    } finally {
      this.active--;
    }
  }
}

/** Yields to every pending promise job, then moves the clock by `ms` one millisecond at a time. */
async function runFor(clock: SimulatedClock, ms: number): Promise<void> {
  for (let i = 0; i < ms; i++) {
    await new Promise((resolve) => setImmediate(resolve));
    clock.advance(1);
  }
  await new Promise((resolve) => setImmediate(resolve));
}

function startPipeline(options: Partial<PipelineOptions> = {}, initErrors: Error[] = []): { clock: SimulatedClock; pipeline: Pipeline; consumer: ScriptedConsumer; producers: ScriptedProducer[] } {
  const clock = new SimulatedClock(1_000_000);
  let consumer: ScriptedConsumer | undefined;
  const producers: ScriptedProducer[] = [];
  const pipeline = new Pipeline(
    {
      clock,
      consumer: (o: ConsumerOptions) => (consumer = new ScriptedConsumer(clock, o)) as unknown as ConsumerClient,
      producer: (o: ProducerOptions) => {
        const p = new ScriptedProducer(o.clientId ?? '', initErrors);
        producers.push(p);
        return p as unknown as TransactionalProducerClient;
      },
      nextClientId: () => 'w',
    },
    { groupId: 'app', from: 'orders', to: 'payments', clientId: 'w', commitIntervalMs: 1_000, producer: { transactionTimeoutMs: 10_000 }, process: (r) => ({ value: r.value }), ...options },
  );
  pipeline.done.catch(() => undefined);
  return { clock, pipeline, consumer: consumer as ScriptedConsumer, producers };
}

describe('pipeline: one owner of the transaction at a time (issue 14 item 2)', () => {
  it('a revoke during a stalled commit waits for it, and never commits the same transaction concurrently', async () => {
    const { clock, pipeline, consumer, producers } = startPipeline();
    const producer = producers[0] as ScriptedProducer;
    consumer.polls.push([record(0), record(1), record(2)]);
    let release: () => void = () => undefined;
    producer.next.commit = [() => new Promise<void>((resolve) => (release = resolve))];
    await runFor(clock, 1_200); // processed; the commit is due and stalls in commitTransaction
    expect(producer.calls.filter((c) => c === 'commit')).toHaveLength(1);
    // max.poll.interval.ms expired meanwhile: the consumer revokes from its heartbeat.
    let revoked = false;
    void consumer.revoke().then(() => (revoked = true));
    await runFor(clock, 50);
    expect(revoked).toBe(false); // the revoke waits for the loop's commit...
    expect(producer.maxActive).toBe(1); // ...and never acts on the transaction beside it
    expect(producer.offsetsSent).toHaveLength(1);
    release();
    await runFor(clock, 50);
    expect(revoked).toBe(true);
    expect(producer.maxActive).toBe(1);
    expect(producer.offsetsSent).toHaveLength(1); // the work was committed once, by the loop
    expect(pipeline.stats).toMatchObject({ processed: 3, commits: 1, aborts: 0 });
    await Promise.all([pipeline.stop(), runFor(clock, 2_000)]);
  });

  it('records polled before a revoke are not processed after it', async () => {
    const { clock, pipeline, consumer, producers } = startPipeline({
      // The application is slow: the revoke comes while the poll's first record is being processed.
      process: async (r) => {
        await new Promise<void>((resolve) => clock.setTimeout(resolve, 100));
        return { value: r.value };
      },
    });
    consumer.polls.push([record(0), record(1), record(2)]);
    await runFor(clock, 50);
    const revoking = consumer.revoke();
    await runFor(clock, 1_000);
    await revoking;
    const producer = producers[0] as ScriptedProducer;
    // Record 0 was being processed: it is committed before the partition moves; 1 and 2 belong to the next owner.
    expect(producer.offsetsSent.map((s) => s.offsets.map((o) => o.offset))).toEqual([[1n]]);
    expect(pipeline.stats.processed).toBe(1);
    await Promise.all([pipeline.stop(), runFor(clock, 2_000)]);
  });
});

describe('pipeline: partitions lost are aborted, never committed (issue 14 item 3)', () => {
  it('aborts on onPartitionsLost and never sends offsets without a generation', async () => {
    const { clock, pipeline, consumer, producers } = startPipeline();
    consumer.polls.push([record(0), record(1)]);
    await runFor(clock, 300); // processed, not yet committed (commit interval 1 s)
    await consumer.lose();
    await runFor(clock, 2_000);
    const producer = producers[0] as ScriptedProducer;
    expect(producer.offsetsSent.filter((s) => s.group.generationId < 0 || s.group.memberId === '')).toEqual([]);
    expect(producer.calls).toContain('abort');
    expect(pipeline.stats).toMatchObject({ processed: 0, commits: 0, aborts: 1 });
    await Promise.all([pipeline.stop(), runFor(clock, 2_000)]);
  });

  it('a commit while the consumer is no group member is aborted, not sent generation-less', async () => {
    const { clock, pipeline, consumer, producers } = startPipeline();
    consumer.polls.push([record(0), record(1)]);
    await runFor(clock, 300);
    // The generation was reset (session expired) but the lost callback has not run yet.
    consumer.group = { generationId: -1, memberId: '' };
    await runFor(clock, 2_000);
    const producer = producers[0] as ScriptedProducer;
    expect(producer.offsetsSent).toEqual([]);
    expect(producer.calls).toContain('abort');
    expect(consumer.seeks).toEqual([{ partition: 0, offset: 'beginning' }]);
    expect(pipeline.stats.processed).toBe(0);
    await Promise.all([pipeline.stop(), runFor(clock, 2_000)]);
  });
});

describe('pipeline: transient errors never stop it (issue 14 item 5)', () => {
  it('a poll that fails with NETWORK_EXCEPTION is retried', async () => {
    const { clock, pipeline, consumer } = startPipeline();
    consumer.polls.push(new KafkaProtocolError('NETWORK_EXCEPTION'), [record(0)]);
    let stopped: unknown;
    pipeline.done.catch((e: unknown) => (stopped = e));
    await runFor(clock, 2_500);
    expect(stopped).toBeUndefined();
    expect(pipeline.stats).toMatchObject({ processed: 1, commits: 1 });
    await Promise.all([pipeline.stop(), runFor(clock, 2_000)]);
  });

  it('a producer fenced because its own transaction timed out is replaced, and the inputs are done again', async () => {
    const { clock, pipeline, consumer, producers } = startPipeline();
    consumer.polls.push([record(0), record(1)]);
    // The coordinator was out of reach past transaction.timeout.ms: it aborted the transaction and bumped the epoch.
    (producers[0] as ScriptedProducer).next.sendOffsets = [
      async () => {
        await new Promise<void>((resolve) => clock.setTimeout(resolve, 12_000));
        throw new KafkaProtocolError('PRODUCER_FENCED');
      },
    ];
    let stopped: unknown;
    pipeline.done.catch((e: unknown) => (stopped = e));
    await runFor(clock, 14_000);
    expect(stopped).toBeUndefined();
    expect(producers).toHaveLength(2);
    expect((producers[0] as ScriptedProducer).closed).toBe(true);
    expect((producers[1] as ScriptedProducer).calls[0]).toBe('init');
    expect(consumer.seeks).toEqual([{ partition: 0, offset: 'beginning' }]);
    consumer.polls.push([record(0), record(1)]);
    await runFor(clock, 2_000);
    expect(pipeline.stats).toMatchObject({ processed: 2, commits: 1, aborts: 1, producerResets: 1 });
    await Promise.all([pipeline.stop(), runFor(clock, 2_000)]);
  });

  it('a fence of a young transaction (a newer instance with the same id) stops it with ProducerFencedError', async () => {
    const { clock, pipeline, consumer, producers } = startPipeline();
    consumer.polls.push([record(0)]);
    (producers[0] as ScriptedProducer).next.commit = [() => Promise.reject(new KafkaProtocolError('PRODUCER_FENCED'))];
    let stopped: unknown;
    pipeline.done.catch((e: unknown) => (stopped = e));
    await runFor(clock, 2_000);
    expect(stopped).toBeInstanceOf(ProducerFencedError);
    expect(producers).toHaveLength(1);
  });

  it('an abort that fails (the producer left in aborting) replaces the producer instead of stopping', async () => {
    const { clock, pipeline, consumer, producers } = startPipeline();
    consumer.polls.push([record(0)]);
    const first = producers[0] as ScriptedProducer;
    first.next.commit = [() => Promise.reject(new KafkaProtocolError('TRANSACTION_ABORTABLE'))];
    first.next.abort = [() => Promise.reject(new TimeoutError('abortTransaction', 5_000))];
    let stopped: unknown;
    pipeline.done.catch((e: unknown) => (stopped = e));
    await runFor(clock, 2_000);
    expect(stopped).toBeUndefined();
    expect(producers).toHaveLength(2);
    // The next transaction begins on the new producer, never on the one stuck in aborting.
    consumer.polls.push([record(0)]);
    await runFor(clock, 2_000);
    expect(first.calls.filter((c) => c === 'begin')).toHaveLength(1);
    expect(pipeline.stats).toMatchObject({ processed: 1, commits: 1, aborts: 1, producerResets: 1 });
    await Promise.all([pipeline.stop(), runFor(clock, 2_000)]);
  });

  it('a fatal error (not transient) stops it, and done rejects with it', async () => {
    const { clock, pipeline, consumer, producers } = startPipeline();
    consumer.polls.push([record(0)]);
    (producers[0] as ScriptedProducer).next.commit = [() => Promise.reject(new KafkaProtocolError('INVALID_TXN_STATE', 'not transient'))];
    let stopped: unknown;
    pipeline.done.catch((e: unknown) => (stopped = e));
    await runFor(clock, 2_000);
    expect((stopped as KafkaProtocolError | undefined)?.code).toBe('INVALID_TXN_STATE');
  });

  it('rewinding retries committed() while the coordinator loads', async () => {
    const { clock, pipeline, consumer, producers } = startPipeline();
    consumer.polls.push([record(0)]);
    (producers[0] as ScriptedProducer).next.commit = [() => Promise.reject(new KafkaProtocolError('TRANSACTION_ABORTABLE'))];
    consumer.committedErrors.push(new KafkaProtocolError('COORDINATOR_LOAD_IN_PROGRESS'), new KafkaProtocolError('COORDINATOR_NOT_AVAILABLE'));
    consumer.committedOffset = 0n;
    let stopped: unknown;
    pipeline.done.catch((e: unknown) => (stopped = e));
    await runFor(clock, 2_000);
    expect(stopped).toBeUndefined();
    expect(consumer.seeks).toEqual([{ partition: 0, offset: 0n }]);
    expect(pipeline.stats).toMatchObject({ aborts: 1 });
    await Promise.all([pipeline.stop(), runFor(clock, 2_000)]);
  });
});

describe('pipeline: decisions on error classes, never on a client state', () => {
  it('initTransactions: a retriable failure retries the same producer, any other gets a new one', async () => {
    const { clock, pipeline, consumer, producers } = startPipeline({}, [new KafkaProtocolError('COORDINATOR_NOT_AVAILABLE'), new KafkaProtocolError('INVALID_PRODUCER_ID_MAPPING')]);
    let stopped: unknown;
    pipeline.done.catch((e: unknown) => (stopped = e));
    await runFor(clock, 500);
    expect(stopped).toBeUndefined();
    expect(producers).toHaveLength(2);
    expect((producers[0] as ScriptedProducer).calls).toEqual(['init', 'init']);
    expect((producers[0] as ScriptedProducer).closed).toBe(true);
    expect((producers[1] as ScriptedProducer).calls).toEqual(['init']);
    consumer.polls.push([record(0)]);
    await runFor(clock, 2_000);
    expect(pipeline.stats).toMatchObject({ processed: 1, commits: 1 });
    await Promise.all([pipeline.stop(), runFor(clock, 2_000)]);
  });

  it('a producer that cannot begin (left unusable between transactions) is replaced before the next one', async () => {
    const { clock, pipeline, consumer, producers } = startPipeline();
    consumer.polls.push([record(0)]);
    await runFor(clock, 2_000);
    const first = producers[0] as ScriptedProducer;
    expect(pipeline.stats).toMatchObject({ processed: 1, commits: 1 });
    first.phase = 'fatalError';
    consumer.polls.push([record(1)]);
    await runFor(clock, 2_000);
    expect(producers).toHaveLength(2);
    expect((producers[1] as ScriptedProducer).calls.slice(0, 2)).toEqual(['init', 'begin']);
    expect(pipeline.stats).toMatchObject({ processed: 2, commits: 2, aborts: 0, producerResets: 1 });
    await Promise.all([pipeline.stop(), runFor(clock, 2_000)]);
  });

  it('an abort the producer refuses in its state (TransactionStateError) replaces the producer instead of stopping', async () => {
    const { clock, pipeline, consumer, producers } = startPipeline();
    consumer.polls.push([record(0)]);
    await runFor(clock, 300); // processed, not yet committed
    const first = producers[0] as ScriptedProducer;
    first.phase = 'aborting'; // stuck in an abort it never finished
    let stopped: unknown;
    pipeline.done.catch((e: unknown) => (stopped = e));
    await consumer.lose();
    await runFor(clock, 500);
    expect(stopped).toBeUndefined();
    expect(first.calls).toContain('abort');
    expect(first.closed).toBe(true);
    expect(producers).toHaveLength(2);
    expect(pipeline.stats).toMatchObject({ processed: 0, aborts: 1, producerResets: 1 });
    await Promise.all([pipeline.stop(), runFor(clock, 2_000)]);
  });
});
