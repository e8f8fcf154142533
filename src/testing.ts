/**
 * `samsa/testing`: deterministic whole-cluster test kits.
 *
 * `createTestCluster({ seed })` runs a cluster on a {@link SimulatedClock} with a manual network:
 * nothing moves unless the test drives it, message interleavings across links are drawn from the
 * seed, and every failure message carries the seed so the run replays exactly.
 */
import { SimulatedClock } from './clock.ts';
import { Cluster } from './cluster/cluster.ts';
import type { ClusterOptions } from './cluster/cluster.ts';
import { randomSeed } from './random.ts';
import { silentLogger } from './logger.ts';
import { messageCodec } from './transport/codec.ts';
import type { MessageCodec } from './transport/codec.ts';

/** Options of {@link createTestCluster}. */
export interface TestClusterOptions extends Omit<ClusterOptions, 'clock' | 'manualNetwork' | 'codec'> {
  /** Simulated start time (default 1_700_000_000_000). */
  readonly startMs?: number;
  /**
   * Carry every message as bytes through this codec (see ClusterOptions.codec); `false` for none.
   * Default: {@link messageCodec} when the environment sets `SAMSA_SIMULATION_CODEC=1` (so a
   * whole test tier can run with it), none otherwise.
   */
  readonly codec?: MessageCodec | false;
}

/** The codec a test cluster uses when its options do not say. */
function defaultTestCodec(): MessageCodec | undefined {
  return process.env.SAMSA_SIMULATION_CODEC === '1' ? messageCodec : undefined;
}

/** A cluster driven step by step on simulated time. */
export class TestCluster extends Cluster {
  /** The simulated clock (also `cluster.clock`). */
  readonly simulatedClock: SimulatedClock;

  /** @internal Use {@link createTestCluster}. */
  constructor(options: TestClusterOptions & { clock: SimulatedClock }) {
    const codec = options.codec === false ? undefined : (options.codec ?? defaultTestCodec());
    super({ ...options, manualNetwork: true, codec });
    this.simulatedClock = options.clock;
  }

  /**
   * Drives the simulation (messages, timers, simulated time) until `promise` settles, and returns
   * its result. Throws, naming the seed, if nothing is left to run or `maxSimulatedMs` passes first.
   */
  async settle<T>(promise: Promise<T>, options: { maxSimulatedMs?: number } = {}): Promise<T> {
    let done = false;
    let value: T | undefined;
    let error: unknown;
    let failed = false;
    promise.then(
      (v) => {
        done = true;
        value = v;
      },
      (e: unknown) => {
        done = true;
        failed = true;
        error = e;
      },
    );
    const deadline = this.simulatedClock.now() + (options.maxSimulatedMs ?? 600_000);
    await this.drive(() => done, deadline, 'the promise to settle');
    if (failed) throw error;
    return value as T;
  }

  /** Delivers every message in flight (advancing time only as far as delayed messages need). */
  async runUntilIdle(options: { maxSimulatedMs?: number } = {}): Promise<void> {
    const deadline = this.simulatedClock.now() + (options.maxSimulatedMs ?? 600_000);
    await this.drive(() => this.network.pending === 0, deadline, 'the network to go idle', true);
  }

  /** Lets `ms` of simulated time pass, processing everything that happens in it. */
  async runFor(ms: number): Promise<void> {
    const until = this.simulatedClock.now() + ms;
    await this.drive(() => false, until, '', false, true);
  }

  /** Runs until `predicate` holds (checked between steps). */
  async runUntil(predicate: () => boolean, options: { maxSimulatedMs?: number } = {}): Promise<void> {
    const deadline = this.simulatedClock.now() + (options.maxSimulatedMs ?? 600_000);
    await this.drive(predicate, deadline, 'the condition to hold');
  }

  /** A message the codec refused is a node's bug: the run fails on it, naming the seed. */
  private throwOnCodecFailure(): void {
    const failure = this.network.codecFailures[0];
    if (failure !== undefined) throw new Error(`[seed=${this.seed}] a node sent a message the codec refused: ${failure.message}`, { cause: failure });
  }

  private async drive(done: () => boolean, deadline: number, what: string, idleOnly = false, untilDeadline = false): Promise<void> {
    const clock = this.simulatedClock;
    let deliveredAtThisTime = 0;
    let timeOfDeliveries = clock.now();
    for (let steps = 0; ; steps++) {
      await new Promise((resolve) => setImmediate(resolve));
      this.throwOnCodecFailure();
      if (done()) return;
      const delivered = this.network.deliverDue(100_000);
      if (delivered > 0) {
        if (clock.now() !== timeOfDeliveries) {
          timeOfDeliveries = clock.now();
          deliveredAtThisTime = 0;
        }
        deliveredAtThisTime += delivered;
        // Nodes that keep answering each other without time moving would spin forever.
        if (deliveredAtThisTime > 2_000_000) throw new Error(`[seed=${this.seed}] livelock: over two million messages delivered at t=${clock.now()} without time moving; replay with seed ${this.seed}`);
        continue;
      }
      clock.advance(0);
      await new Promise((resolve) => setImmediate(resolve));
      if (done()) return;
      if (this.network.pending > 0 && (this.network.nextDeliveryAt() ?? Infinity) <= clock.now()) continue;
      const nextMessage = this.network.nextDeliveryAt();
      const nextTimer = idleOnly ? undefined : clock.nextTimerAt();
      const next = Math.min(nextMessage ?? Infinity, nextTimer ?? Infinity);
      if (next === Infinity) {
        if (untilDeadline) {
          clock.set(Math.max(clock.now(), deadline));
          return;
        }
        if (idleOnly) return;
        throw new Error(`[seed=${this.seed}] simulation stalled at t=${clock.now()} waiting for ${what}: no message or timer is left to run`);
      }
      if (next > deadline) {
        if (untilDeadline) {
          clock.set(deadline);
          await new Promise((resolve) => setImmediate(resolve));
          return;
        }
        throw new Error(`[seed=${this.seed}] simulated time limit reached at t=${clock.now()} waiting for ${what}; replay with seed ${this.seed}`);
      }
      clock.set(Math.max(next, clock.now()));
    }
  }
}

/**
 * Starts a deterministic test cluster and runs it until every broker has registered.
 *
 * @example
 * const cluster = await createTestCluster({ seed: 42, brokers: 3 });
 * const admin = cluster.admin();
 * await cluster.settle(admin.createTopic('orders', { partitions: 3 }));
 */
export async function createTestCluster(options: TestClusterOptions = {}): Promise<TestCluster> {
  const clock = new SimulatedClock(options.startMs ?? 1_700_000_000_000);
  // Tests stay quiet unless they ask for a logger.
  const cluster = new TestCluster({ ...options, logger: options.logger ?? silentLogger, seed: options.seed ?? randomSeed(), clock });
  cluster.start();
  await cluster.runUntil(() => cluster.brokerIds.every((id) => cluster.brokerInternals(id)?.state === 'running'));
  return cluster;
}

/* Simulation building blocks: a fault-injecting network and seeded randomness, for hosting nodes by hand. */
export { SimulatedNetwork } from './transport/simulatedNetwork.ts';
export type { NetworkEvent, NetworkFaults, SimulatedNetworkOptions } from './transport/simulatedNetwork.ts';
export { messageCodec } from './transport/codec.ts';
export type { MessageCodec } from './transport/codec.ts';
export { createRandom } from './random.ts';
export type { Random } from './random.ts';

/* Streams without a cluster: Kafka Streams' TopologyTestDriver. */
export { TopologyTestDriver, TestInputTopic, TestOutputTopic } from './streams/testDriver.ts';
export type { TestDriverConfig, TestRecord } from './streams/testDriver.ts';

/* Event sourcing: given-when-then specs of an aggregate's decider. */
export { AggregateSpec } from './eventsourcing/aggregateSpec.ts';
export type { AggregateSpecOptions, AggregateSpecThen } from './eventsourcing/aggregateSpec.ts';

/* Projections: given-when-then specs of a read model, with duplicates and redeliveries injected. */
export { ProjectionSpec } from './projections/projectionSpec.ts';
export type { SpecEvent } from './projections/projectionSpec.ts';
export type { BatchFaults } from './projections/index.ts';
