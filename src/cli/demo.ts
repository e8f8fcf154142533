/**
 * `npm start`: the main demo. An embedded 3-broker cluster, a 6-partition topic, 3 producers
 * sending keyed records, and a consumer group of 3 that loses one member and gains another
 * mid-stream. A live display shows throughput, per-partition offsets, lag and rebalances; the run
 * ends with a verified summary: every acknowledged record consumed, per-key order intact.
 */
import { createCluster } from '../actors/cluster.ts';
import type { Consumer } from '../actors/consumer/consumer.ts';
import { SystemClock } from '../clock.ts';

const RECORDS_PER_PRODUCER = Number(process.env.SAMSA_DEMO_RECORDS ?? 100_000);
const TOPIC = 'orders';
const PARTITIONS = 6;
const decoder = new TextDecoder();

interface Stats {
  produced: number;
  consumed: number;
  rebalances: number;
  events: string[];
}

async function main(): Promise<void> {
  const clock = new SystemClock();
  const cluster = await createCluster({ brokers: 3, clock, brokerConfig: { offsetsTopicNumPartitions: 6, groupConfig: { 'group.initial.rebalance.delay.ms': 100 } } });
  const stats: Stats = { produced: 0, consumed: 0, rebalances: 0, events: [] };
  cluster.inspect((e) => {
    if (e.type === '@samsa.group.rebalanceStarted') stats.rebalances++;
  });
  const admin = cluster.admin();
  await admin.createTopic(TOPIC, { partitions: PARTITIONS });
  const started = clock.now();

  // Producers: keyed records "customer-N" → value "<producer>:<seq>"; per key, seq must arrive in order.
  const acked = new Map<string, number>(); // partition:offset -> producer seq marker
  const lastSeqByKey = new Map<string, number>();
  const produce = async (index: number): Promise<void> => {
    const producer = cluster.producer({ clientId: `producer-${index}`, acks: 1, lingerMs: 5 });
    const chunk = 2_000;
    for (let sent = 0; sent < RECORDS_PER_PRODUCER; sent += chunk) {
      const records = Array.from({ length: Math.min(chunk, RECORDS_PER_PRODUCER - sent) }, (_, i) => ({ key: `customer-${index}-${(sent + i) % 500}`, value: `${index}:${sent + i}` }));
      const results = await producer.send(TOPIC, records);
      results.forEach((r) => acked.set(`${r.partition}:${r.offset}`, 1));
      stats.produced += results.length;
    }
    await producer.close();
  };

  // Consumers: batches() with a commit after each batch; record what was read, check per-key order.
  const seen = new Set<string>();
  let duplicates = 0;
  let orderViolations = 0;
  const members: Array<{ consumer: Consumer; running: boolean; loop: Promise<void> }> = [];
  const startMember = (name: string): void => {
    const consumer = cluster.consumer({ clientId: name, groupId: 'billing', autoOffsetReset: 'earliest', enableAutoCommit: false, maxPollRecords: 2_000 });
    const member = { consumer, running: true, loop: Promise.resolve() };
    member.loop = (async () => {
      await consumer.subscribe([TOPIC]);
      for await (const batch of consumer.batches({ timeoutMs: 100 })) {
        for (const r of batch.records) {
          const at = `${r.partition}:${r.offset}`;
          if (seen.has(at)) {
            duplicates++; // re-delivery of a record whose commit lost a rebalance (at-least-once)
            continue;
          }
          seen.add(at);
          const [producer, seq] = decoder.decode(r.value as Uint8Array).split(':');
          const key = `${producer}/${decoder.decode(r.key as Uint8Array)}`;
          const prev = lastSeqByKey.get(key) ?? -1;
          if (Number(seq) <= prev) orderViolations++;
          lastSeqByKey.set(key, Number(seq));
        }
        stats.consumed = seen.size;
        if (batch.records.length > 0) await batch.commit().catch(() => undefined);
        if (!member.running) break;
      }
    })();
    members.push(member);
    stats.events.push(`${elapsed()} ${name} joined`);
  };
  const elapsed = (): string => `${((clock.now() - started) / 1000).toFixed(1)}s`;

  for (let i = 0; i < 3; i++) startMember(`consumer-${i}`);
  const producing = Promise.all([0, 1, 2].map((i) => produce(i)));
  const total = 3 * RECORDS_PER_PRODUCER;

  // Churn: at a third of the run one member leaves; at two thirds a new one joins.
  let churned = 0;
  const display = startDisplay(cluster, stats, total, elapsed, () => {
    if (churned === 0 && stats.produced > total / 3) {
      churned = 1;
      const leaving = members[0];
      if (leaving !== undefined) {
        leaving.running = false;
        void leaving.loop.then(() => leaving.consumer.close());
        stats.events.push(`${elapsed()} consumer-0 left the group`);
      }
    } else if (churned === 1 && stats.produced > (2 * total) / 3) {
      churned = 2;
      startMember('consumer-3');
    }
  }, () => {
    const lag = new Map<number, bigint>();
    for (const m of members) if (m.running) for (const l of m.consumer.lag()) lag.set(l.partition, l.lag);
    return lag;
  });

  await producing;
  while (seen.size < acked.size) await new Promise<void>((resolve) => clock.setTimeout(() => resolve(), 50));
  display.stop();
  for (const m of members) m.running = false;
  await Promise.all(members.map((m) => m.consumer.close()));
  const seconds = (clock.now() - started) / 1000;
  const lost = [...acked.keys()].filter((k) => !seen.has(k)).length;
  console.log(`\nsummary after ${seconds.toFixed(1)} s`);
  console.log(`  produced and acknowledged  ${acked.size.toLocaleString('en-US')} records (${Math.round(acked.size / seconds).toLocaleString('en-US')} records/s end to end)`);
  console.log(`  consumed                   ${seen.size.toLocaleString('en-US')} distinct records, ${duplicates} re-deliveries`);
  console.log(`  rebalances                 ${stats.rebalances}`);
  for (const e of stats.events) console.log(`  ${e}`);
  const ok = lost === 0 && orderViolations === 0;
  console.log(`\n${ok ? 'verified' : 'FAILED'}: ${lost} acknowledged records lost, ${orderViolations} per-key order violations`);
  await cluster.stop();
  if (!ok) process.exitCode = 1;
}

function startDisplay(cluster: Awaited<ReturnType<typeof createCluster>>, stats: Stats, total: number, elapsed: () => string, tick: () => void, lagOf: () => Map<number, bigint>): { stop(): void } {
  const tty = process.stdout.isTTY === true;
  let lines = 0;
  let last = { produced: 0, consumed: 0, at: cluster.clock.now() };
  let stopped = false;
  const render = (): void => {
    tick();
    const now = cluster.clock.now();
    const dt = Math.max(1, now - last.at) / 1000;
    const produceRate = Math.round((stats.produced - last.produced) / dt);
    const consumeRate = Math.round((stats.consumed - last.consumed) / dt);
    last = { produced: stats.produced, consumed: stats.consumed, at: now };
    const out: string[] = [];
    out.push(`samsa demo  ${elapsed().padStart(6)}  produced ${stats.produced.toLocaleString('en-US').padStart(9)}/${total.toLocaleString('en-US')}  consumed ${stats.consumed.toLocaleString('en-US').padStart(9)}  rebalances ${stats.rebalances}`);
    out.push(`            produce ${produceRate.toLocaleString('en-US').padStart(9)} rec/s   consume ${consumeRate.toLocaleString('en-US').padStart(9)} rec/s`);
    for (let p = 0; p < PARTITIONS; p++) {
      let end = 0n;
      let leader = -1;
      for (const id of cluster.brokerIds) {
        const log = cluster.brokerInternals(id)?.logOf(TOPIC, p);
        if (log !== undefined) {
          end = log.logEndOffset;
          leader = id;
        }
      }
      out.push(`  ${TOPIC}-${p}  leader broker ${leader}  end offset ${end.toString().padStart(8)}  consumer lag ${(lagOf().get(p) ?? 0n).toString().padStart(7)}`);
    }
    if (tty) {
      if (lines > 0) process.stdout.write(`\x1b[${lines}A`);
      process.stdout.write(out.map((l) => `${l}\x1b[K`).join('\n') + '\n');
      lines = out.length;
    } else if (stats.produced < total) console.log(out[0]);
    if (!stopped) cluster.clock.setTimeout(render, tty ? 250 : 1000);
  };
  render();
  return {
    stop: () => {
      stopped = true;
      render();
    },
  };
}

await main();
