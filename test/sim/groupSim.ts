/**
 * The slow-processing group simulation (issue 14, items 10 and 5), shared by
 * test/actors/groups.sim.test.ts and `npm run soak -- <n> <first> --groups`: a group of consumers
 * on an RF=3 topic whose members sometimes process a batch for longer than session.timeout.ms
 * (but less than max.poll.interval.ms), while members join and leave and brokers (group
 * coordinators among them) crash and restart. Findings: members expelled while they polled within
 * max.poll.interval.ms, polls that threw, and the history checks of test/helpers/histories.ts.
 */
import { appendFileSync } from 'node:fs';
import type { Consumer } from '../../src/clients/consumer/consumer.ts';
import type { Producer } from '../../src/clients/producer/producer.ts';
import { sleep } from '../../src/clock.ts';
import { consoleLogger } from '../../src/logger.ts';
import type { LogLevel } from '../../src/logger.ts';
import { createRandom } from '../../src/random.ts';
import type { TestCluster } from '../../src/testing.ts';
import { createTestCluster } from '../../src/testing.ts';
import { check, History } from '../helpers/histories.ts';

const dec = new TextDecoder();
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

/** What one run of {@link runSlowGroupSim} found. */
export interface SlowGroupSimResult {
  readonly history: History;
  readonly expelled: string[];
  readonly pollErrors: string[];
  readonly slowSteps: number;
  readonly crashes: number;
  readonly summary: string;
}

const SLOW_SESSION_MS = 6_000;
const SLOW_MAX_POLL_MS = 30_000;

/**
 * Removals the coordinator made for a missed session or rebalance timeout of a member whose
 * consumer was still running (a consumer that left may reappear in a group a new coordinator
 * reloaded, and then expire: that is no expulsion).
 */
function watchExpulsions(cluster: TestCluster, running: (clientId: string) => boolean): string[] {
  const expelled: string[] = [];
  cluster.inspect((e) => {
    const event = e as unknown as { type: string; memberId?: string; reason?: string };
    if (event.type !== '@samsa.group.memberRemoved' || (event.reason !== 'sessionTimeout' && event.reason !== 'rebalanceTimeout')) return;
    // Member ids are "<client id>-<uuid>".
    const memberId = event.memberId ?? '';
    if (running(memberId.slice(0, -37))) expelled.push(`${memberId} (${event.reason}) at ${cluster.clock.now()}`);
  });
  return expelled;
}

/**
 * Seeded simulation (issue 14, items 10 and 5): the group above, on an RF=3 topic, where members
 * sometimes process a batch for longer than session.timeout.ms (but less than
 * max.poll.interval.ms) while members join and leave and brokers (group coordinators among them)
 * crash and restart. Checked on top of the history checks: no member is expelled while it polls
 * within max.poll.interval.ms, and no poll throws.
 */
export async function runSlowGroupSim(seed: number, strategy: readonly string[] = seed % 2 === 0 ? ['cooperative-sticky'] : ['range']): Promise<SlowGroupSimResult> {
  // SIM_LOG=debug prints what the cluster and clients log, to follow a failing seed.
  const level = process.env.SIM_LOG;
  const cluster = await createTestCluster({ seed, brokers: 3, brokerConfig: { offsetsTopicNumPartitions: 6 }, ...(level === undefined ? {} : { logger: consoleLogger({ level: level as LogLevel, write: (e) => appendFileSync(process.env.SIM_LOG_FILE ?? '/dev/stdout', `${cluster.clock.now() - 1_700_000_000_000} ${e.level} ${e.message} ${JSON.stringify(e.fields, (_k, v: unknown) => (typeof v === 'bigint' ? String(v) : v))}\n`) }) }) });
  const random = createRandom(seed ^ 0x510e);
  const history = new History();
  const members: Member[] = [];
  const expelled = watchExpulsions(cluster, (clientId) => members.some((m) => m.name === clientId && m.running));
  const pollErrors: string[] = [];
  let slowSteps = 0;
  let crashes = 0;
  await cluster.settle(cluster.admin().createTopic(TOPIC, { partitions: PARTITIONS, replicationFactor: 3, config: { 'min.insync.replicas': 2 } }));

  const producers: Producer[] = [0, 1].map((i) => cluster.producer({ clientId: `producer-${i}`, acks: 'all', lingerMs: random.int(3) * 5 }));
  let sequence = 0;
  const produce = async (producer: Producer, index: number): Promise<void> => {
    for (let n = 0; n < 80; n++) {
      const records = Array.from({ length: 1 + random.int(4) }, (_, j) => ({ key: `key-${random.int(12)}`, value: `p${index}-${n}-${j}` }));
      const order = records.map(() => sequence++);
      try {
        const acks = await producer.send(TOPIC, records);
        acks.forEach((a, j) => history.acks.push({ producer: `p${index}`, key: (records[j] as { key: string }).key, value: (records[j] as { value: string }).value, partition: a.partition, offset: a.offset, sequence: order[j] as number }));
      } catch {
        // Not acknowledged (a broker crash outlasted the delivery timeout): nothing is promised.
      }
      await sleep(cluster.clock, 100 + random.int(600));
    }
  };

  const startMember = (name: string): Member => {
    const member: Member = {
      name,
      session: 0,
      running: true,
      crashed: false,
      loop: Promise.resolve(),
      consumer: cluster.consumer({
        clientId: name,
        groupId: 'slow-group',
        autoOffsetReset: 'earliest',
        enableAutoCommit: false,
        sessionTimeoutMs: SLOW_SESSION_MS,
        heartbeatIntervalMs: 1_000,
        maxPollIntervalMs: SLOW_MAX_POLL_MS,
        maxPollRecords: 10 + random.int(40),
        partitionAssignmentStrategy: strategy,
        rebalanceListener: { onPartitionsAssigned: () => void member.session++, onPartitionsRevoked: () => void member.session++, onPartitionsLost: () => void member.session++ },
      }),
    };
    member.loop = (async () => {
      await member.consumer.subscribe([TOPIC]);
      while (member.running) {
        let records;
        try {
          records = await member.consumer.poll({ timeoutMs: 100 + random.int(900) });
        } catch (e) {
          pollErrors.push(`${name} at ${cluster.clock.now()}: ${String(e)}`);
          await sleep(cluster.clock, 100);
          continue;
        }
        if (!member.running) return;
        if (process.env.SIM_TRACE) appendFileSync(process.env.SIM_LOG_FILE ?? '/dev/stdout', `${cluster.clock.now() - 1_700_000_000_000} TRACE ${name} polled ${records.length} assignment=${JSON.stringify(member.consumer.assignment().map((p) => p.partition))} lag=${JSON.stringify(member.consumer.lag().map((l) => `${l.partition}:${l.lag}`))}\n`);
        if (records.length === 0) continue;
        // Processing: usually quick, sometimes longer than the session timeout (never max.poll.interval.ms).
        const slow = random.int(8) === 0;
        if (slow) slowSteps++;
        await sleep(cluster.clock, slow ? SLOW_SESSION_MS + 1_000 + random.int(SLOW_MAX_POLL_MS - SLOW_SESSION_MS - 8_000) : random.int(300));
        for (const r of records) history.consume({ consumer: name, session: member.session, partition: r.partition, offset: r.offset, key: dec.decode(r.key as Uint8Array), value: dec.decode(r.value as Uint8Array) });
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

  // Membership churn: a member joins, one leaves, another joins.
  const churn = (async () => {
    await sleep(cluster.clock, 5_000 + random.int(10_000));
    startMember('consumer-3');
    await sleep(cluster.clock, 5_000 + random.int(10_000));
    const leaver = members[random.int(3)] as Member;
    leaver.running = false;
    await leaver.loop;
    await leaver.consumer.close();
    await sleep(cluster.clock, 2_000 + random.int(8_000));
    startMember('consumer-4');
  })();
  // Broker crashes (one at a time, a majority always up): group coordinators move and come back.
  let stopNemesis = false;
  const nemesis = (async () => {
    while (!stopNemesis) {
      await sleep(cluster.clock, 5_000 + random.int(15_000));
      if (stopNemesis) return;
      const id = cluster.brokerIds[random.int(cluster.brokerIds.length)] as number;
      cluster.broker(id).crash();
      crashes++;
      await sleep(cluster.clock, 2_000 + random.int(8_000));
      await cluster.broker(id).restart();
    }
  })();

  await cluster.settle(Promise.all([producing, churn]), { maxSimulatedMs: 600_000 });
  stopNemesis = true;
  await cluster.settle(nemesis, { maxSimulatedMs: 60_000 });
  await cluster.runUntil(() => history.acks.every((a) => history.consumed.some((c) => c.partition === a.partition && c.offset === a.offset)), { maxSimulatedMs: 600_000 }).catch(() => undefined);
  for (const m of members) m.running = false;
  await cluster.settle(Promise.all(members.map((m) => m.loop)), { maxSimulatedMs: 120_000 });
  const summary = `[seed=${seed}] ${strategy[0] ?? ''}: ${history.acks.length} acked, ${history.consumed.length} consumed, ${history.commits.length} commits, ${slowSteps} slow steps, ${crashes} broker crashes`;
  return { history, expelled, pollErrors, slowSteps, crashes, summary };
}

/** The findings of a run by check; empty when the run is clean. */
export function slowGroupFindings(result: SlowGroupSimResult): Array<[string, string[]]> {
  const found: Array<[string, string[]]> = [['expelled', result.expelled], ['pollErrors', result.pollErrors], ...Object.entries(check(result.history))];
  if (result.history.acks.length <= 100) found.push(['vacuous', [`only ${result.history.acks.length} acknowledged records`]]);
  return found.filter(([, list]) => list.length > 0);
}
