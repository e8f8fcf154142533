import { describe, expect, it } from 'vitest';
import type { Consumer } from '../../src/clients/consumer/consumer.ts';
import type { Producer } from '../../src/clients/producer/producer.ts';
import { createRandom } from '../../src/random.ts';
import type { TestCluster } from '../../src/testing.ts';
import { createTestCluster } from '../../src/testing.ts';
import { sleep } from '../../src/clock.ts';
import { check, History } from '../helpers/histories.ts';
import { runSlowGroupSim } from '../sim/groupSim.ts';

const dec = new TextDecoder();
const SEEDS = Number(process.env.SIM_SEEDS ?? 6);
const TOPIC = 'events';
const PARTITIONS = 6;

interface Member {
  readonly name: string;
  readonly consumer: Consumer;
  session: number;
  running: boolean;
  crashed: boolean;
  loop: Promise<void>;
}

/**
 * Seeded simulation (issue: the actor cluster): 3 brokers, a 6-partition topic, 3 producers
 * sending keyed records, a group of 3 consumers with members joining, leaving and crashing
 * mid-stream. Checked: every acknowledged record is consumed, per-key order holds, nothing is
 * processed again once a successful commit covered it, committed offsets never go backwards.
 */
async function simulate(seed: number, strategy: readonly string[]): Promise<{ history: History; cluster: TestCluster; assignedTo: Map<string, number> }> {
  const assignedTo = new Map<string, number>();
  const cluster = await createTestCluster({ seed, brokers: 3, brokerConfig: { offsetsTopicNumPartitions: 6 } });
  const random = createRandom(seed ^ 0x5eed);
  const history = new History();
  await cluster.settle(cluster.admin().createTopic(TOPIC, { partitions: PARTITIONS }));

  const producers: Producer[] = [0, 1, 2].map((i) => cluster.producer({ clientId: `producer-${i}`, acks: 1, lingerMs: random.int(3) * 5 }));
  let sequence = 0;
  const produce = async (producer: Producer, index: number): Promise<void> => {
    for (let n = 0; n < 60; n++) {
      const records = Array.from({ length: 1 + random.int(4) }, (_, j) => ({ key: `key-${random.int(12)}`, value: `p${index}-${n}-${j}` }));
      const order = records.map(() => sequence++);
      const acks = await producer.send(TOPIC, records);
      acks.forEach((a, j) => history.acks.push({ producer: `p${index}`, key: (records[j] as { key: string }).key, value: (records[j] as { value: string }).value, partition: a.partition, offset: a.offset, sequence: order[j] as number }));
      await sleep(cluster.clock, 50 + random.int(400));
    }
  };

  const members: Member[] = [];
  const startMember = (name: string): Member => {
    const member: Member = {
      name,
      session: 0,
      running: true,
      crashed: false,
      loop: Promise.resolve(),
      consumer: cluster.consumer({
        clientId: name,
        groupId: 'sim-group',
        autoOffsetReset: 'earliest',
        enableAutoCommit: false,
        sessionTimeoutMs: 10_000,
        heartbeatIntervalMs: 1_000,
        maxPollIntervalMs: 60_000,
        partitionAssignmentStrategy: strategy,
        rebalanceListener: {
          onPartitionsAssigned: (tps) => {
            member.session++;
            assignedTo.set(name, (assignedTo.get(name) ?? 0) + tps.length);
          }, onPartitionsRevoked: () => void member.session++, onPartitionsLost: () => void member.session++ },
      }),
    };
    member.loop = (async () => {
      await member.consumer.subscribe([TOPIC]);
      while (member.running) {
        const records = await member.consumer.poll({ timeoutMs: 200 });
        if (!member.running) return;
        for (const r of records) history.consume({ consumer: name, session: member.session, partition: r.partition, offset: r.offset, key: dec.decode(r.key as Uint8Array), value: dec.decode(r.value as Uint8Array) });
        if (records.length === 0) continue;
        const offsets = new Map<number, bigint>();
        for (const r of records) offsets.set(r.partition, r.offset + 1n);
        try {
          await member.consumer.commit([...offsets].map(([partition, offset]) => ({ topic: TOPIC, partition, offset })));
          for (const [partition, offset] of offsets) history.commit(name, partition, offset);
        } catch {
          // A commit that lost a rebalance: the records may be processed again, which is allowed.
        }
      }
    })();
    members.push(member);
    return member;
  };

  for (let i = 0; i < 3; i++) startMember(`consumer-${i}`);
  const producing = Promise.all(producers.map((p, i) => produce(p, i)));

  // Membership churn while producing: a member leaves, a new one joins, one crashes (goes silent).
  const churn = (async () => {
    await sleep(cluster.clock, 2_000 + random.int(3_000));
    const leaver = members[0] as Member;
    leaver.running = false;
    await leaver.loop;
    await leaver.consumer.close();
    await sleep(cluster.clock, 1_000 + random.int(3_000));
    startMember('consumer-3');
    await sleep(cluster.clock, 1_000 + random.int(3_000));
    const crasher = members[1] as Member;
    crasher.running = false;
    crasher.crashed = true;
    // A crash: the process stops; no LeaveGroup, no more heartbeats or commits.
    cluster.network.isolate(`client:${crasher.name}`, [...cluster.brokerIds.map((id) => `broker:${id}` as const), cluster.controllerNode]);
    await sleep(cluster.clock, 2_000 + random.int(2_000));
    startMember('consumer-4');
  })();

  await cluster.settle(Promise.all([producing, churn]), { maxSimulatedMs: 600_000 });
  // Drain: run until every acknowledged record was consumed by the live members (or time runs out).
  const live = (): Member[] => members.filter((m) => m.running);
  await cluster.runUntil(() => history.acks.every((a) => history.consumed.some((c) => c.partition === a.partition && c.offset === a.offset)), { maxSimulatedMs: 300_000 }).catch(() => undefined);
  for (const m of live()) m.running = false;
  // A crashed process's loop never returns; the others finish their last poll.
  await cluster.settle(Promise.all(members.filter((m) => !m.crashed).map((m) => m.loop)), { maxSimulatedMs: 60_000 });
  return { history, cluster, assignedTo };
}

describe.runIf(SEEDS > 0)('consumer group simulation', () => {
  for (let seed = 1; seed <= SEEDS; seed++) {
    const strategy = seed % 2 === 0 ? ['cooperative-sticky'] : ['range', 'cooperative-sticky'];
    it(`seed ${seed} (${strategy[0]}): no lost acknowledged write, no duplicate after a successful commit, per-key order, commits never go backwards`, async () => {
      const { history, assignedTo } = await simulate(seed, strategy);
      const anomalies = check(history);
      const summary = `[seed=${seed}] ${history.acks.length} acked, ${history.consumed.length} consumed, ${history.commits.length} commits`;
      expect(history.acks.length, summary).toBeGreaterThan(100);
      // The churn really happened: the late members were given partitions by rebalances.
      const byConsumer = (name: string): number => history.consumed.filter((c) => c.consumer === name).length;
      expect((assignedTo.get('consumer-3') ?? 0) + (assignedTo.get('consumer-4') ?? 0), summary).toBeGreaterThan(0);
      if (process.env.SIM_VERBOSE) console.log(summary, Object.fromEntries(['consumer-0', 'consumer-1', 'consumer-2', 'consumer-3', 'consumer-4'].map((n) => [n, `${byConsumer(n)} read, ${assignedTo.get(n) ?? 0} assigned`])));
      expect(anomalies, summary).toEqual({ lostWrites: [], inconsistentOffsets: [], duplicatesAfterCommit: [], keyOrder: [], nonMonotonicPolls: [], backwardCommits: [], unexpectedValues: [] });
    });
  }
});

const SLOW_SEEDS = Number(process.env.SIM_SLOW_SEEDS ?? process.env.SIM_SEEDS ?? 4);
const SLOW_FROM = Number(process.env.SIM_SLOW_FROM ?? 1);
/** Seeds that found the bug on the old code (members expelled while processing, polls throwing). */
const SLOW_REGRESSION_SEEDS: number[] = [1, 2];

describe('consumer group simulation: slow processing under rebalances and broker crashes', () => {
  const seeds = [...new Set([...SLOW_REGRESSION_SEEDS, ...Array.from({ length: SLOW_SEEDS }, (_, i) => SLOW_FROM + i)])];
  for (const seed of seeds) {
    const strategy = seed % 2 === 0 ? ['cooperative-sticky'] : ['range'];
    it(`seed ${seed} (${strategy[0]}): no member expelled while polling within max.poll.interval.ms, no poll throws, history checks hold`, async () => {
      const result = await runSlowGroupSim(seed, strategy);
      if (process.env.SIM_VERBOSE) console.log(result.summary);
      expect(result.history.acks.length, result.summary).toBeGreaterThan(100);
      expect(result.expelled, result.summary).toEqual([]);
      expect(result.pollErrors, result.summary).toEqual([]);
      expect(check(result.history), result.summary).toEqual({ lostWrites: [], inconsistentOffsets: [], duplicatesAfterCommit: [], keyOrder: [], nonMonotonicPolls: [], backwardCommits: [], unexpectedValues: [] });
    }, 120_000);
  }
});
