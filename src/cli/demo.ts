/**
 * `npm start`: the main demo. An embedded 3-broker cluster with a 3-controller Raft metadata
 * quorum, a 6-partition topic replicated three
 * times (min.insync.replicas=2), 3 producers sending keyed records with acks=all, and a consumer
 * group of 3 that loses one member and gains another mid-stream. A third of the way in, the broker
 * leading the most partitions crashes: the controller fences it, the partitions fail over to
 * in-sync followers and the producers carry on; a few seconds later it restarts, truncates by
 * leader epoch, catches up and rejoins the ISR. Alongside, an exactly-once pipeline (two workers,
 * one transaction per 100 ms) turns every order into a payment; halfway through, one worker is
 * replaced by a new instance with its identity, which fences it and aborts its open transaction.
 * A live display shows throughput, per-partition leaders, ISRs, offsets, lag and rebalances; the
 * run ends with a verified summary: every acknowledged record consumed, per-key order intact, and
 * exactly one committed payment per order.
 */
import { createCluster } from '../cluster/cluster.ts';
import { consoleLogger } from '../logger.ts';
import type { Consumer } from '../clients/consumer/consumer.ts';
import type { SamsaEvent } from '../actors/inspection.ts';
import type { Pipeline } from '../streams/pipeline.ts';
import type { ClusterMetadataImage } from '../protocol/index.ts';
import { SystemClock } from '../clock.ts';

const RECORDS_PER_PRODUCER = Number(process.env.SAMSA_DEMO_RECORDS ?? 100_000);
/** Each producer sends a chunk, then pauses, so the run lasts long enough to watch a failover. */
const CHUNK = 500;
const PAUSE_MS = 40;
/** Shorter than Kafka's 9 s default so the failover shows within the demo; the mechanism is the same. */
const DOWN_MS = 4_000;
const TOPIC = 'orders';
const PAYMENTS = 'payments';
const PARTITIONS = 6;
const decoder = new TextDecoder();

interface Stats {
  produced: number;
  consumed: number;
  rebalances: number;
  transactionsCommitted: number;
  transactionsAborted: number;
  events: string[];
}

async function main(): Promise<void> {
  const clock = new SystemClock();
  // Warnings go to the events list printed at the end, not over the live display.
  const warnings: string[] = [];
  const logger = consoleLogger({ level: 'warn', write: (entry) => warnings.push(`${entry.level} ${entry.message} ${JSON.stringify(entry.fields, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v))}`) });
  const cluster = await createCluster({ brokers: 3, controllers: 3, clock, logger, brokerConfig: { offsetsTopicNumPartitions: 6, transactionStateLogNumPartitions: 6, groupConfig: { 'group.initial.rebalance.delay.ms': 100 } } });
  const stats: Stats = { produced: 0, consumed: 0, rebalances: 0, transactionsCommitted: 0, transactionsAborted: 0, events: [] };
  const admin = cluster.admin();
  await admin.createTopic(TOPIC, { partitions: PARTITIONS, replicationFactor: 3, config: { 'min.insync.replicas': 2 } });
  await admin.createTopic(PAYMENTS, { partitions: PARTITIONS, replicationFactor: 3, config: { 'min.insync.replicas': 2 } });
  const started = clock.now();
  const elapsed = (): string => `${((clock.now() - started) / 1000).toFixed(1)}s`;
  cluster.inspect((e) => {
    // Only samsa's own events matter here; XState's inspection events are skipped.
    if (!e.type.startsWith('@samsa.')) return;
    const event = e as SamsaEvent;
    if (event.type === '@samsa.group.rebalanceStarted') stats.rebalances++;
    else if (event.type === '@samsa.broker.fenced') stats.events.push(`${elapsed()} controller fenced broker ${String(event.brokerId)}`);
    else if (event.type === '@samsa.leader.changed' && event.topic === TOPIC) stats.events.push(`${elapsed()} ${TOPIC}-${String(event.partition)} leader ${String(event.previousLeader)} -> ${String(event.leader)} (leader epoch ${String(event.leaderEpoch)})`);
    else if (event.type === '@samsa.isr.expanded' && event.topic === TOPIC) stats.events.push(`${elapsed()} ${TOPIC}-${String(event.partition)} ISR back to ${JSON.stringify(event.isr)}`);
    else if (event.type === '@samsa.txn.completed') {
      if (event.committed === true) stats.transactionsCommitted++;
      else stats.transactionsAborted++;
    }
  });

  // Exactly once: every order becomes one payment, in transactions that also commit the input offsets.
  const pipelines: Pipeline[] = [];
  let pipelineClients = 0;
  const startPipeline = (instanceId: string): Pipeline => {
    const pipeline = cluster.pipeline({
      groupId: 'payments-app',
      clientId: `${instanceId}-${pipelineClients++}`,
      instanceId,
      from: TOPIC,
      to: PAYMENTS,
      consumer: { maxPollRecords: 2_000 },
      process: (r) => ({ key: r.key, value: `paid ${decoder.decode(r.value as Uint8Array)}` }),
    });
    pipeline.done.catch((e: unknown) => stats.events.push(`${elapsed()} pipeline worker ${pipeline.clientId} stopped: ${(e as Error).message.split(';')[0] ?? ''}`));
    pipelines.push(pipeline);
    return pipeline;
  };
  startPipeline('payments-a');
  startPipeline('payments-b');

  // Producers: keyed records "customer-N" → value "<producer>:<seq>"; per key, seq must arrive in order.
  const acked = new Map<string, number>(); // partition:offset -> producer seq marker
  const lastSeqByKey = new Map<string, number>();
  const produce = async (index: number): Promise<void> => {
    const producer = cluster.producer({ clientId: `producer-${index}`, acks: 'all', lingerMs: 5 });
    for (let sent = 0; sent < RECORDS_PER_PRODUCER; sent += CHUNK) {
      const records = Array.from({ length: Math.min(CHUNK, RECORDS_PER_PRODUCER - sent) }, (_, i) => ({ key: `customer-${index}-${(sent + i) % 500}`, value: `${index}:${sent + i}` }));
      const results = await producer.send(TOPIC, records);
      results.forEach((r) => acked.set(`${r.partition}:${r.offset}`, 1));
      stats.produced += results.length;
      await new Promise<void>((resolve) => clock.setTimeout(() => resolve(), PAUSE_MS));
    }
    await producer.close();
  };

  // Consumers: batches() with a commit after each batch; record what was read, check per-key order.
  const seen = new Set<string>();
  let duplicates = 0;
  let orderViolations = 0;
  // A retried batch the old leader had written but not acknowledged would be written again by a
  // producer without idempotence; these producers are idempotent (Kafka's default), so this stays 0.
  const values = new Set<string>();
  let duplicateWrites = 0;
  const members: Array<{ consumer: Consumer; running: boolean; loop: Promise<void> }> = [];
  // Set once the run winds down: a late display tick must not start a member on a stopping cluster.
  let finished = false;
  const startMember = (name: string): void => {
    if (finished) return;
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
          const value = decoder.decode(r.value as Uint8Array);
          if (values.has(value)) {
            duplicateWrites++;
            continue;
          }
          values.add(value);
          const [producer, seq] = value.split(':');
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
  for (let i = 0; i < 3; i++) startMember(`consumer-${i}`);
  const producing = Promise.all([0, 1, 2].map((i) => produce(i)));
  const total = 3 * RECORDS_PER_PRODUCER;

  // Faults: at a third of the run the broker leading the most partitions crashes and restarts
  // DOWN_MS later; at a quarter one group member leaves, at three quarters a new one joins.
  let crashed = false;
  let churned = 0;
  let replaced = false;
  const display = startDisplay(cluster, stats, total, elapsed, () => {
    if (!crashed && stats.produced > total / 3) {
      crashed = true;
      const image = leaderImage(cluster);
      const counts = new Map<number, number>();
      for (const p of image?.topics[TOPIC]?.partitions ?? []) counts.set(p.leader, (counts.get(p.leader) ?? 0) + 1);
      const victim = [...counts].sort((a, b) => b[1] - a[1])[0]?.[0] ?? 1;
      cluster.broker(victim).crash();
      stats.events.push(`${elapsed()} broker ${victim} CRASHED (leader of ${counts.get(victim) ?? 0} partitions)`);
      clock.setTimeout(() => {
        if (finished) return;
        void cluster.broker(victim).restart();
        stats.events.push(`${elapsed()} broker ${victim} restarted`);
      }, DOWN_MS);
    }
    if (!replaced && stats.produced > total / 2) {
      // A new process with worker a's identity: initTransactions fences the old one (a zombie from
      // now on) and aborts the transaction it had open; the group hands its partitions over.
      replaced = true;
      startPipeline('payments-a');
      stats.events.push(`${elapsed()} pipeline worker payments-a replaced by a new instance (the old one is fenced)`);
    }
    if (churned === 0 && stats.produced > total / 4) {
      churned = 1;
      const leaving = members[0];
      if (leaving !== undefined) {
        leaving.running = false;
        void leaving.loop.then(() => leaving.consumer.close());
        stats.events.push(`${elapsed()} consumer-0 left the group`);
      }
    } else if (churned === 1 && stats.produced > (3 * total) / 4) {
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
  // The pipeline has done its part when the group's committed input offsets reach the end of orders.
  const ends = await admin.listOffsets(TOPIC, 'latest');
  const checker = cluster.consumer({ clientId: 'payments-check', groupId: 'payments-app', enableAutoCommit: false, isolationLevel: 'read_committed' });
  for (;;) {
    const committed = await checker.committed(ends.map((e) => ({ topic: TOPIC, partition: e.partition })));
    if (committed.every((c) => c.offset >= (ends.find((e) => e.partition === c.partition)?.offset ?? 0n))) break;
    await new Promise<void>((resolve) => clock.setTimeout(() => resolve(), 100));
  }
  await checker.close();
  finished = true;
  display.stop();
  for (const m of members) m.running = false;
  await Promise.all(members.map((m) => m.consumer.close()));
  await Promise.all(pipelines.map((p) => p.stop()));
  const paid = await readPayments(cluster, 'read_committed');
  const written = await readPayments(cluster, 'read_uncommitted');
  const orderValues = [...values];
  const missing = orderValues.filter((v) => (paid.get(`paid ${v}`) ?? 0) === 0).length;
  const duplicatePayments = [...paid.values()].filter((n) => n > 1).length;
  const hidden = [...written.values()].reduce((a, b) => a + b, 0) - [...paid.values()].reduce((a, b) => a + b, 0);
  const seconds = (clock.now() - started) / 1000;
  const lost = [...acked.keys()].filter((k) => !seen.has(k)).length;
  console.log(`\nsummary after ${seconds.toFixed(1)} s`);
  console.log(`  produced and acknowledged  ${acked.size.toLocaleString('en-US')} records (${Math.round(acked.size / seconds).toLocaleString('en-US')} records/s end to end)`);
  console.log(`  topic                      ${TOPIC}: ${PARTITIONS} partitions, replication factor 3, min.insync.replicas=2, producers acks=all`);
  console.log(`  consumed                   ${seen.size.toLocaleString('en-US')} distinct offsets, ${duplicates} re-deliveries, ${duplicateWrites} duplicate writes from producer retries`);
  console.log(`  rebalances                 ${stats.rebalances}`);
  console.log(`  exactly once               ${orderValues.length.toLocaleString('en-US')} orders -> ${[...paid.values()].reduce((a, b) => a + b, 0).toLocaleString('en-US')} committed payments in ${stats.transactionsCommitted} transactions; ${stats.transactionsAborted} aborted, their ${hidden} payment(s) hidden from read_committed readers`);
  for (const e of stats.events) console.log(`  ${e}`);
  if (warnings.length > 0) {
    console.log(`\nwarnings the cluster logged (${warnings.length}; the logger option sends them elsewhere):`);
    for (const w of warnings.slice(0, 12)) console.log(`  ${w}`);
    if (warnings.length > 12) console.log(`  … and ${warnings.length - 12} more`);
  }
  const ok = lost === 0 && orderViolations === 0 && missing === 0 && duplicatePayments === 0;
  console.log(`\n${ok ? 'verified' : 'FAILED'}: ${lost} acknowledged records lost, ${orderViolations} per-key order violations, ${missing} orders without a payment, ${duplicatePayments} orders paid twice`);
  await cluster.stop();
  if (!ok) process.exitCode = 1;
}

/** How many times each value appears in the payments topic, read from the start at `isolationLevel`. */
async function readPayments(cluster: Awaited<ReturnType<typeof createCluster>>, isolationLevel: 'read_committed' | 'read_uncommitted'): Promise<Map<string, number>> {
  const ends = await cluster.admin().listOffsets(PAYMENTS, 'latest', { isolationLevel });
  const reader = cluster.consumer({ autoOffsetReset: 'earliest', enableAutoCommit: false, isolationLevel, maxPollRecords: 10_000 });
  reader.assign(ends.map((e) => ({ topic: PAYMENTS, partition: e.partition })));
  const counts = new Map<string, number>();
  const done = (): boolean => ends.every((e) => reader.lag().find((l) => l.partition === e.partition)?.lag === 0n);
  for (let idle = 0; idle < 20; ) {
    const records = await reader.poll({ timeoutMs: 100 });
    for (const r of records) {
      const v = decoder.decode(r.value as Uint8Array);
      counts.set(v, (counts.get(v) ?? 0) + 1);
    }
    idle = records.length === 0 ? idle + 1 : 0;
    if (records.length === 0 && done()) break;
  }
  await reader.close();
  return counts;
}

/** The newest metadata image any running broker holds. */
function leaderImage(cluster: Awaited<ReturnType<typeof createCluster>>): ClusterMetadataImage | undefined {
  let newest: ClusterMetadataImage | undefined;
  for (const id of cluster.brokerIds) {
    const m = cluster.brokerInternals(id)?.metadata;
    if (m !== undefined && (newest === undefined || m.version > newest.version)) newest = m;
  }
  return newest;
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
    const image = leaderImage(cluster);
    const lag = lagOf();
    const activeController = cluster.activeControllerId();
    const quorum = activeController === undefined ? undefined : cluster.controller(activeController).quorum;
    out.push(`  brokers ${cluster.brokerIds.map((id) => `${id}:${cluster.broker(id).running ? 'up' : 'DOWN'}`).join(' ')}   controller quorum of ${cluster.controllerIds.length}: active ${activeController ?? 'none (electing)'}${quorum === undefined ? '' : `, epoch ${quorum.epoch}, metadata log ${quorum.highWatermark} committed`}`);
    for (let p = 0; p < PARTITIONS; p++) {
      const meta = image?.topics[TOPIC]?.partitions[p];
      const leader = meta?.leader ?? -1;
      const hw = leader >= 0 ? (cluster.brokerInternals(leader)?.highWatermarkOf(TOPIC, p) ?? 0n) : 0n;
      out.push(`  ${TOPIC}-${p}  leader ${leader < 0 ? 'none' : `broker ${leader}`}  ISR ${JSON.stringify(meta?.isr ?? []).padEnd(7)}  high watermark ${hw.toString().padStart(7)}  consumer lag ${(lag.get(p) ?? 0n).toString().padStart(6)}`);
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
