/**
 * NATS benchmarks: samsa as separate processes over a real NATS server (3 controllers + 3 brokers,
 * each a `samsa` command, test/nats/processCluster.ts), each figure beside NATS JetStream on the
 * same nats-server, measured in the same run. 100-byte values, no keys, one partition per topic
 * (a JetStream stream is one ordered log).
 * - throughput: samsa produce then consume, RF=1 acks=1 and RF=3 acks=all (min.insync.replicas=2),
 *   against JetStream async publish with acks into a file-storage stream of 1 replica, and its
 *   pull and ordered consumers. JetStream is published two ways: the client's `js.publish()`
 *   (a request per message) and publishes with a reply subject whose acks come back on one
 *   wildcard subscription (what the Go client's PublishAsync does); the faster is the reference.
 *   The same number of records is kept outstanding on both sides;
 * - end-to-end latency at a fixed offered load (10,000 records/s for 5 s after a 3 s warm-up), the
 *   send time in the value, the consumer polling before the first record is sent;
 * - failover: a producer sending acks=all to an RF=3 topic, SIGKILL of the partition's leader, and
 *   the wall-clock time from the kill to the first acks=all send issued after it that succeeds,
 *   at Kafka's broker.session.timeout.ms (9000) and at 3000.
 * `runNatsBenchmarks` runs the whole set `runs` times (each run on fresh clusters, subject
 * prefixes, data directories and streams) and reports the median and range of every figure.
 * One file of some 640 lines: every case shares the cluster set-up, the JetStream peer and the
 * run-and-report loop, and reads best side by side with its reference.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { connect as natsConnect, createInbox } from '@nats-io/transport-node';
import type { NatsConnection } from '@nats-io/transport-node';
import { AckPolicy, DeliverPolicy, jetstream, jetstreamManager, StorageType } from '@nats-io/jetstream';
import type { JetStreamManager } from '@nats-io/jetstream';
import { connect } from '../src/cluster/connect.ts';
import type { Connection } from '../src/cluster/connect.ts';
import type { ProducerOptions } from '../src/clients/producer/producerConfig.ts';
import { ProcessCluster } from '../test/nats/processCluster.ts';
import { measurement, median, report } from './harness.ts';

const NATS_URL = process.env.SAMSA_NATS_URL ?? 'nats://127.0.0.1:4222';
/** Records per throughput case. */
const RECORDS = Number(process.env.BENCH_NATS_RECORDS ?? 200_000);
/** Records of the `js.publish()` case: the client does ~10k/s, so fewer keep the run short. */
const JS_CLIENT_RECORDS = Number(process.env.BENCH_NATS_JS_CLIENT_RECORDS ?? 40_000);
const WARMUP_RECORDS = Number(process.env.BENCH_NATS_WARMUP_RECORDS ?? 30_000);
/** Records per `producer.send` call in the throughput cases. */
const SEND_CHUNK = 500;
/** `producer.send` calls outstanding: SEND_CHUNK × this records in flight. */
const IN_FLIGHT_SENDS = 32;
/** JetStream publishes outstanding: as many records as samsa has in flight. */
const JS_IN_FLIGHT = SEND_CHUNK * IN_FLIGHT_SENDS;
/**
 * `js.publish()` calls outstanding: its best window here (it makes a timer and two Error objects per
 * call, and slows down with 16,000 outstanding: ~8-15k/s against ~15-22k/s at 1,000).
 */
const JS_CLIENT_IN_FLIGHT = Math.min(JS_IN_FLIGHT, 1_000);
const BATCH_SIZE = Number(process.env.BENCH_NATS_BATCH_SIZE ?? 65_536);
const LINGER_MS = Number(process.env.BENCH_NATS_LINGER_MS ?? 5);
const LATENCY_RATE = 10_000;
const LATENCY_MS = Number(process.env.BENCH_NATS_LATENCY_MS ?? 5_000);
const LATENCY_WARMUP_MS = 3_000;
/** broker.session.timeout.ms of the failover cases: Kafka's default first. */
const SESSION_TIMEOUTS = (process.env.BENCH_NATS_SESSION_TIMEOUTS ?? '9000,3000').split(',').map(Number);
const KAFKA_SESSION_TIMEOUT_MS = 9_000;
const KAFKA_HEARTBEAT_MS = 2_000;
const VALUE_BYTES = 100;
const VALUE = new Uint8Array(VALUE_BYTES).map((_, i) => (i * 7) & 0xff);

/** One figure of one run. */
export interface Figure {
  readonly name: string;
  readonly unit: 'msg/s' | 'ms';
  readonly value: number;
  /** Name of the figure it is compared with (same run), and `value / reference`. */
  readonly reference?: string;
  readonly ratio?: number;
  readonly target?: string;
}

/** One run: every figure, and notes (settings actually used, errors seen). */
export interface NatsRun {
  readonly figures: Figure[];
  readonly notes: string[];
}

export interface NatsBenchmarks {
  readonly runs: NatsRun[];
  readonly server: string;
  /** Why nothing ran (NATS unreachable). */
  readonly skipped?: string;
}

/** A line on stderr with the time, so a step disturbed by other load can be told apart. */
function progress(line: string): void {
  process.stderr.write(`[nats ${new Date().toISOString().slice(11, 19)}] ${line}\n`);
}

const fmtRate = (r: number): string => Math.round(r).toLocaleString('en-US');
const fmtMs = (ms: number): string => (ms >= 100 ? Math.round(ms).toLocaleString('en-US') : ms.toFixed(2));
const fmtValue = (f: { unit: string }, v: number): string => (f.unit === 'msg/s' ? fmtRate(v) : fmtMs(v));
const pct = (r: number): string => `${(r * 100).toFixed(0)}%`;

/** Keeps at most `max` promises outstanding; `wait` resolves once all have settled. */
class Window {
  private outstanding = 0;
  private wake: (() => void) | undefined;
  errors = 0;
  constructor(private readonly max: number) {}

  async add(p: Promise<unknown>): Promise<void> {
    this.outstanding++;
    p.then(
      () => this.done(),
      () => {
        this.errors++;
        this.done();
      },
    );
    while (this.outstanding >= this.max) await new Promise<void>((r) => (this.wake = r));
  }

  async wait(): Promise<void> {
    while (this.outstanding > 0) await new Promise<void>((r) => (this.wake = r));
  }

  private done(): void {
    this.outstanding--;
    const wake = this.wake;
    this.wake = undefined;
    wake?.();
  }
}

const records = (count: number): Array<{ value: Uint8Array }> => Array.from({ length: count }, () => ({ value: VALUE }));

/** Produces `n` records to partition 0 of `topic`, SEND_CHUNK per send, IN_FLIGHT_SENDS sends outstanding; records/s. */
async function samsaProduce(conn: Connection, topic: string, n: number, options: ProducerOptions): Promise<number> {
  const producer = conn.producer(options);
  const window = new Window(IN_FLIGHT_SENDS);
  const start = performance.now();
  for (let i = 0; i < n; i += SEND_CHUNK) await window.add(producer.send(topic, records(Math.min(SEND_CHUNK, n - i))));
  await window.wait();
  const seconds = (performance.now() - start) / 1000;
  await producer.close();
  if (window.errors > 0) throw new Error(`${window.errors} samsa sends to ${topic} failed`);
  return n / seconds;
}

/** Reads `n` records of partition 0 of `topic` from the beginning; records/s. */
async function samsaConsume(conn: Connection, topic: string, n: number): Promise<number> {
  const start = performance.now();
  const consumer = conn.consumer({ autoOffsetReset: 'earliest', enableAutoCommit: false, maxPollRecords: 10_000 });
  consumer.assign([{ topic, partition: 0 }]);
  let read = 0;
  while (read < n) read += (await consumer.poll({ timeoutMs: 1_000 })).length;
  const seconds = (performance.now() - start) / 1000;
  await consumer.close();
  return n / seconds;
}

/** A file-storage stream of 1 replica taking `<name>.>`; deleted by the caller. */
async function createStream(jsm: JetStreamManager, name: string): Promise<void> {
  await jsm.streams.add({ name, subjects: [`${name}.>`], storage: StorageType.File, num_replicas: 1 });
}

/** `js.publish()` (a request per message, awaited through its promise), JS_CLIENT_IN_FLIGHT outstanding; records/s. */
async function jsClientPublish(nc: NatsConnection, stream: string, n: number): Promise<number> {
  const js = jetstream(nc);
  const window = new Window(JS_CLIENT_IN_FLIGHT);
  const start = performance.now();
  for (let i = 0; i < n; i++) await window.add(js.publish(`${stream}.a`, VALUE));
  await window.wait();
  const seconds = (performance.now() - start) / 1000;
  if (window.errors > 0) throw new Error(`${window.errors} js.publish() calls failed`);
  return n / seconds;
}

/**
 * Async publish with acks as the Go client's PublishAsync does it: each message published with a
 * reply subject under one inbox, the stream's acks (or errors) counted on one wildcard
 * subscription, JS_IN_FLIGHT outstanding; records/s. Checks the stream holds them all.
 */
async function jsAsyncPublish(nc: NatsConnection, jsm: JetStreamManager, stream: string, n: number): Promise<number> {
  const inbox = createInbox();
  let acked = 0;
  let errors = 0;
  let wake: (() => void) | undefined;
  const sub = nc.subscribe(`${inbox}.*`, {
    callback: (_e, m) => {
      // A PubAck is {"stream":…}; an error is {"error":…} (or a 503 status without a stream).
      if (m.data.length === 0 || m.string().includes('"error"')) errors++;
      acked++;
      const w = wake;
      wake = undefined;
      w?.();
    },
  });
  const start = performance.now();
  for (let i = 0; i < n; i++) {
    while (i - acked >= JS_IN_FLIGHT) await new Promise<void>((r) => (wake = r));
    nc.publish(`${stream}.a`, VALUE, { reply: `${inbox}.${i}` });
  }
  while (acked < n) await new Promise<void>((r) => (wake = r));
  const seconds = (performance.now() - start) / 1000;
  sub.unsubscribe();
  if (errors > 0) throw new Error(`${errors} JetStream async publishes failed`);
  const stored = (await jsm.streams.info(stream)).state.messages;
  if (stored < n) throw new Error(`stream ${stream} holds ${stored} messages, ${n} were acked`);
  return n / seconds;
}

/** Reads `n` messages of `stream` from the start with a durable pull consumer (ack none) or an ordered consumer; records/s. */
async function jsConsume(nc: NatsConnection, jsm: JetStreamManager, stream: string, n: number, kind: 'pull' | 'ordered'): Promise<number> {
  const js = jetstream(nc);
  const start = performance.now();
  let consumer;
  if (kind === 'pull') {
    await jsm.consumers.add(stream, { durable_name: 'bench', ack_policy: AckPolicy.None, deliver_policy: DeliverPolicy.All });
    consumer = await js.consumers.get(stream, 'bench');
  } else {
    consumer = await js.consumers.get(stream, { deliver_policy: DeliverPolicy.All });
  }
  const messages = await consumer.consume({ max_messages: 10_000 });
  let read = 0;
  for await (const _m of messages) if (++read >= n) break;
  const seconds = (performance.now() - start) / 1000;
  if (kind === 'pull') await jsm.consumers.delete(stream, 'bench');
  return n / seconds;
}

/** p50 and p99 of `latencies` (ms). */
function percentiles(latencies: number[]): { p50: number; p99: number } {
  const sorted = [...latencies].sort((a, b) => a - b);
  const at = (p: number): number => sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))] as number;
  return { p50: at(0.5), p99: at(0.99) };
}

/** A fresh value carrying `performance.now()` in its first 8 bytes. */
function stamped(): Uint8Array {
  const value = new Uint8Array(VALUE_BYTES);
  value.set(VALUE.subarray(8), 8);
  new DataView(value.buffer).setFloat64(0, performance.now(), true);
  return value;
}

function stampOf(value: Uint8Array): number {
  return new DataView(value.buffer, value.byteOffset, value.byteLength).getFloat64(0, true);
}

/**
 * Offers LATENCY_RATE records/s for LATENCY_WARMUP_MS + LATENCY_MS through `send`, as many as are
 * due every millisecond, each alone; resolves once every record measured has arrived (or 10 s
 * after the last send). Only records sent after the warm-up count.
 */
async function offeredLoad(send: (value: Uint8Array) => void, received: () => number): Promise<{ sent: number; measuredFrom: number }> {
  const start = performance.now();
  const measuredFrom = start + LATENCY_WARMUP_MS;
  const end = measuredFrom + LATENCY_MS;
  let sent = 0;
  for (;;) {
    const now = performance.now();
    if (now >= end) break;
    const due = Math.floor(((now - start) * LATENCY_RATE) / 1000);
    while (sent < due) {
      send(stamped());
      sent++;
    }
    await sleep(1);
  }
  const deadline = performance.now() + 10_000;
  while (received() < sent && performance.now() < deadline) await sleep(5);
  return { sent, measuredFrom };
}

/** Latency percentiles (ms) of the records sent after the warm-up, how many, and how many were lost or failed. */
interface Latency {
  readonly p50: number;
  readonly p99: number;
  readonly measured: number;
  readonly lost: number;
  readonly errors: number;
}

async function samsaLatency(conn: Connection, topic: string, producerOptions: ProducerOptions): Promise<Latency> {
  const consumer = conn.consumer({ autoOffsetReset: 'latest', enableAutoCommit: false });
  consumer.assign([{ topic, partition: 0 }]);
  // The position is resolved (to the end) before the first record is sent.
  await consumer.poll({ timeoutMs: 0 });
  await consumer.position({ topic, partition: 0 });
  const producer = conn.producer(producerOptions);
  const latencies: number[] = [];
  let received = 0;
  let measuredFrom = Infinity;
  let stop = false;
  const polling = (async () => {
    while (!stop) {
      for (const r of await consumer.poll({ timeoutMs: 100 })) {
        const at = performance.now();
        received++;
        const sentAt = stampOf(r.value as Uint8Array);
        if (sentAt >= measuredFrom) latencies.push(at - sentAt);
      }
    }
  })();
  let errors = 0;
  const load = offeredLoad(
    (value) => void producer.send(topic, { value }).catch(() => errors++),
    () => received,
  );
  measuredFrom = performance.now() + LATENCY_WARMUP_MS;
  const { sent } = await load;
  stop = true;
  await polling;
  await producer.close();
  await consumer.close();
  return { ...percentiles(latencies), measured: latencies.length, lost: Math.max(0, sent - received), errors };
}

async function jsLatency(nc: NatsConnection, jsm: JetStreamManager, stream: string): Promise<Latency> {
  await jsm.consumers.add(stream, { durable_name: 'latency', ack_policy: AckPolicy.None, deliver_policy: DeliverPolicy.New });
  const consumer = await jetstream(nc).consumers.get(stream, 'latency');
  const latencies: number[] = [];
  let received = 0;
  let measuredFrom = Infinity;
  const messages = await consumer.consume({
    max_messages: 1_000,
    callback: (m) => {
      const at = performance.now();
      received++;
      const sentAt = stampOf(m.data);
      if (sentAt >= measuredFrom) latencies.push(at - sentAt);
    },
  });
  const inbox = createInbox();
  let errors = 0;
  const acks = nc.subscribe(`${inbox}.*`, {
    callback: (_e, m) => {
      if (m.data.length === 0 || m.string().includes('"error"')) errors++;
    },
  });
  let n = 0;
  const load = offeredLoad(
    (value) => nc.publish(`${stream}.a`, value, { reply: `${inbox}.${n++}` }),
    () => received,
  );
  measuredFrom = performance.now() + LATENCY_WARMUP_MS;
  const { sent } = await load;
  await messages.close();
  acks.unsubscribe();
  return { ...percentiles(latencies), measured: latencies.length, lost: Math.max(0, sent - received), errors };
}

/** Broker and controller settings for a failover case at `sessionMs`. */
function sessionConfig(sessionMs: number): { brokerConfig: string[]; controllerConfig: string[]; heartbeatMs: number } {
  // Kafka's ratio: heartbeats at 2 s within a 9 s session; a 3 s session gets 1 s heartbeats.
  const heartbeatMs = sessionMs >= KAFKA_SESSION_TIMEOUT_MS ? KAFKA_HEARTBEAT_MS : Math.max(100, Math.round(sessionMs / 3));
  return { brokerConfig: [`broker.session.timeout.ms=${sessionMs}`, `broker.heartbeat.interval.ms=${heartbeatMs}`], controllerConfig: [`broker.session.timeout.ms=${sessionMs}`], heartbeatMs };
}

/**
 * A producer sends one record every millisecond (acks=all, idempotent, Kafka's retry and timeout
 * defaults) to an RF=3 topic; its partition's leader gets SIGKILL; ms from the kill to the first
 * success of a send issued after the kill.
 */
async function failover(cluster: ProcessCluster, conn: Connection, topic: string): Promise<{ ms: number; leader: number; newLeader: number; failed: number; gapMs: number }> {
  const admin = conn.admin();
  await admin.createTopic(topic, { partitions: 1, replicationFactor: 3, config: { 'min.insync.replicas': 2 } });
  const producer = conn.producer({ acks: 'all' });
  await producer.send(topic, records(100));
  const leader = (await admin.describeTopic(topic)).partitions[0]!.leader;
  let killedAt = Infinity;
  let firstAfter = Infinity;
  let lastSuccess = performance.now();
  let gapMs = 0;
  let failed = 0;
  const sends: Promise<void>[] = [];
  const sending = (async () => {
    while (firstAfter === Infinity && performance.now() - killedAt < 120_000) {
      const issuedAt = performance.now();
      sends.push(
        producer.send(topic, { value: VALUE }).then(
          () => {
            const at = performance.now();
            if (issuedAt >= killedAt && at < firstAfter) firstAfter = at;
            gapMs = Math.max(gapMs, at - lastSuccess);
            lastSuccess = Math.max(lastSuccess, at);
          },
          () => void failed++,
        ),
      );
      await sleep(1);
    }
  })();
  await sleep(500);
  killedAt = performance.now();
  await cluster.signal('broker', leader, 'SIGKILL');
  await sending;
  await Promise.all(sends);
  await producer.close();
  const newLeader = (await admin.describeTopic(topic)).partitions[0]!.leader;
  return { ms: firstAfter - killedAt, leader, newLeader, failed, gapMs };
}

interface RunEnv {
  readonly prefix: string;
  readonly dataDir: string;
}

/** Starts a ProcessCluster and a connection to it; `body` runs on them; everything is stopped and removed after. */
async function withCluster<T>(env: RunEnv, sessionMs: number, body: (cluster: ProcessCluster, conn: Connection) => Promise<T>): Promise<T> {
  const { brokerConfig, controllerConfig } = sessionConfig(sessionMs);
  let cluster: ProcessCluster | undefined;
  let conn: Connection | undefined;
  try {
    const started = performance.now();
    cluster = await ProcessCluster.start({ natsUrl: NATS_URL, prefix: env.prefix, dataDir: env.dataDir, brokerConfig, controllerConfig });
    progress(`cluster ${env.prefix} ready in ${fmtMs(performance.now() - started)} ms (broker.session.timeout.ms=${sessionMs})`);
    conn = await connect({ nats: { servers: NATS_URL, subjectPrefix: env.prefix, logger: 'error' }, bootstrap: cluster.brokers, controllers: cluster.controllers, logger: 'error' });
    return await body(cluster, conn);
  } finally {
    await conn?.stop().catch((e: unknown) => progress(`connection stop failed: ${String(e)}`));
    await cluster?.stop();
    rmSync(env.dataDir, { recursive: true, force: true });
  }
}

/** One run of the whole set. */
async function runOnce(run: number, runs: number, nc: NatsConnection, jsm: JetStreamManager): Promise<NatsRun> {
  const tag = `natsbench${process.pid}r${run}`;
  const figures: Figure[] = [];
  const notes: string[] = [];
  const streams: string[] = [];
  const stream = async (name: string): Promise<string> => {
    const full = `${tag}_${name}`;
    await createStream(jsm, full);
    streams.push(full);
    return full;
  };
  const loadAtStart = loadavg()[0] as number;
  const startedAt = performance.now();
  const rf1: ProducerOptions = { acks: 1, lingerMs: LINGER_MS, batchSize: BATCH_SIZE };
  const rf3: ProducerOptions = { acks: 'all', lingerMs: LINGER_MS, batchSize: BATCH_SIZE };
  try {
    await withCluster({ prefix: tag, dataDir: mkdtempSync(join(tmpdir(), 'samsa-natsbench-')) }, KAFKA_SESSION_TIMEOUT_MS, async (cluster, conn) => {
      const admin = conn.admin();
      let topics = 0;
      const topic = async (rf: 1 | 3): Promise<string> => {
        const name = `rf${rf}-${topics++}`;
        await admin.createTopic(name, { partitions: 1, replicationFactor: rf, config: { 'min.insync.replicas': rf === 3 ? 2 : 1 } });
        return name;
      };

      // Warm-up: JIT in every process, NATS subscriptions, producer ids.
      await samsaProduce(conn, await topic(1), WARMUP_RECORDS, rf1);
      await samsaProduce(conn, await topic(3), WARMUP_RECORDS, rf3);
      await jsAsyncPublish(nc, jsm, await stream('warm'), WARMUP_RECORDS);
      await jsClientPublish(nc, await stream('warmclient'), Math.min(WARMUP_RECORDS, 5_000));

      // Throughput, samsa first on odd runs and JetStream first on even ones.
      const samsa = async (): Promise<Record<string, number>> => {
        const t1 = await topic(1);
        const p1 = await samsaProduce(conn, t1, RECORDS, rf1);
        const c1 = await samsaConsume(conn, t1, RECORDS);
        const t3 = await topic(3);
        const p3 = await samsaProduce(conn, t3, RECORDS, rf3);
        const c3 = await samsaConsume(conn, t3, RECORDS);
        progress(`run ${run}: samsa produce RF=1 ${fmtRate(p1)}/s, consume ${fmtRate(c1)}/s; RF=3 produce ${fmtRate(p3)}/s, consume ${fmtRate(c3)}/s`);
        return { p1, c1, p3, c3 };
      };
      const natsJs = async (): Promise<Record<string, number>> => {
        const s = await stream('async');
        const asyncPub = await jsAsyncPublish(nc, jsm, s, RECORDS);
        const pull = await jsConsume(nc, jsm, s, RECORDS, 'pull');
        const ordered = await jsConsume(nc, jsm, s, RECORDS, 'ordered');
        const clientPub = await jsClientPublish(nc, await stream('client'), JS_CLIENT_RECORDS);
        progress(`run ${run}: JetStream async publish ${fmtRate(asyncPub)}/s, js.publish() ${fmtRate(clientPub)}/s, pull consume ${fmtRate(pull)}/s, ordered consume ${fmtRate(ordered)}/s`);
        return { asyncPub, clientPub, pull, ordered };
      };
      let s: Record<string, number>;
      let j: Record<string, number>;
      if (run % 2 === 1) {
        s = await samsa();
        j = await natsJs();
      } else {
        j = await natsJs();
        s = await samsa();
      }
      const pubRef = Math.max(j.asyncPub as number, j.clientPub as number);
      const pubRefName = (j.asyncPub as number) >= (j.clientPub as number) ? 'JetStream async publish' : 'JetStream js.publish()';
      const conRef = Math.max(j.pull as number, j.ordered as number);
      const conRefName = (j.pull as number) >= (j.ordered as number) ? 'JetStream pull consume' : 'JetStream ordered consume';
      figures.push(
        { name: 'JetStream async publish, reply-subject acks, R1 file stream', unit: 'msg/s', value: j.asyncPub as number },
        { name: 'JetStream js.publish(), R1 file stream', unit: 'msg/s', value: j.clientPub as number },
        { name: 'samsa produce RF=1 acks=1', unit: 'msg/s', value: s.p1 as number, reference: pubRefName, ratio: (s.p1 as number) / pubRef, target: '>= 1x JetStream' },
        { name: 'samsa produce RF=3 acks=all minISR=2', unit: 'msg/s', value: s.p3 as number, reference: `${pubRefName} (R1: not replicated)`, ratio: (s.p3 as number) / pubRef },
        { name: 'JetStream pull consume (durable, ack none)', unit: 'msg/s', value: j.pull as number },
        { name: 'JetStream ordered consume', unit: 'msg/s', value: j.ordered as number },
        { name: 'samsa consume RF=1 topic', unit: 'msg/s', value: s.c1 as number, reference: conRefName, ratio: (s.c1 as number) / conRef, target: '>= 1x JetStream' },
        { name: 'samsa consume RF=3 topic', unit: 'msg/s', value: s.c3 as number, reference: conRefName, ratio: (s.c3 as number) / conRef },
      );

      // Latency at a fixed offered load.
      const latencyProducer = (acks: 1 | 'all'): ProducerOptions => ({ acks, lingerMs: 0 });
      const js = await jsLatency(nc, jsm, await stream('latency'));
      const l3 = await samsaLatency(conn, await topic(3), latencyProducer('all'));
      const l1 = await samsaLatency(conn, await topic(1), latencyProducer(1));
      progress(`run ${run}: latency p50/p99 JetStream ${fmtMs(js.p50)}/${fmtMs(js.p99)} ms, samsa RF=3 ${fmtMs(l3.p50)}/${fmtMs(l3.p99)} ms, RF=1 ${fmtMs(l1.p50)}/${fmtMs(l1.p99)} ms`);
      figures.push(
        { name: 'latency p50, JetStream async publish -> pull consumer', unit: 'ms', value: js.p50 },
        { name: 'latency p99, JetStream async publish -> pull consumer', unit: 'ms', value: js.p99 },
        { name: 'latency p50, samsa RF=3 acks=all', unit: 'ms', value: l3.p50, reference: 'JetStream p50', ratio: l3.p50 / js.p50 },
        { name: 'latency p99, samsa RF=3 acks=all', unit: 'ms', value: l3.p99, reference: 'JetStream p99', ratio: l3.p99 / js.p99 },
        { name: 'latency p50, samsa RF=1 acks=1', unit: 'ms', value: l1.p50, reference: 'JetStream p50', ratio: l1.p50 / js.p50 },
        { name: 'latency p99, samsa RF=1 acks=1', unit: 'ms', value: l1.p99, reference: 'JetStream p99', ratio: l1.p99 / js.p99 },
      );
      for (const [name, l] of [['JetStream', js], ['samsa RF=3', l3], ['samsa RF=1', l1]] as const) notes.push(`run ${run}: latency ${name}: ${l.measured} records measured, ${l.lost} not received, ${l.errors} send errors`);

      // Failover at Kafka's session timeout, on this cluster (its last use: a broker dies).
      const f = await failover(cluster, conn, 'failover');
      progress(`run ${run}: failover (session ${KAFKA_SESSION_TIMEOUT_MS} ms) ${fmtMs(f.ms)} ms, leader ${f.leader} -> ${f.newLeader}, longest gap ${fmtMs(f.gapMs)} ms, ${f.failed} failed sends`);
      figures.push({ name: `failover, broker.session.timeout.ms=${KAFKA_SESSION_TIMEOUT_MS} (heartbeat ${KAFKA_HEARTBEAT_MS})`, unit: 'ms', value: f.ms });
      notes.push(`run ${run}: failover @${KAFKA_SESSION_TIMEOUT_MS}: leader ${f.leader} -> ${f.newLeader}, longest gap between acks ${fmtMs(f.gapMs)} ms, ${f.failed} sends failed`);
    });

    // Failover at the shorter session timeouts, each on a cluster of its own.
    for (const sessionMs of SESSION_TIMEOUTS.filter((ms) => ms !== KAFKA_SESSION_TIMEOUT_MS)) {
      const f = await withCluster({ prefix: `${tag}s${sessionMs}`, dataDir: mkdtempSync(join(tmpdir(), 'samsa-natsbench-')) }, sessionMs, (cluster, conn) => failover(cluster, conn, 'failover'));
      const { heartbeatMs } = sessionConfig(sessionMs);
      progress(`run ${run}: failover (session ${sessionMs} ms) ${fmtMs(f.ms)} ms, leader ${f.leader} -> ${f.newLeader}, longest gap ${fmtMs(f.gapMs)} ms, ${f.failed} failed sends`);
      figures.push({ name: `failover, broker.session.timeout.ms=${sessionMs} (heartbeat ${heartbeatMs})`, unit: 'ms', value: f.ms });
      notes.push(`run ${run}: failover @${sessionMs}: leader ${f.leader} -> ${f.newLeader}, longest gap between acks ${fmtMs(f.gapMs)} ms, ${f.failed} sends failed`);
    }
  } finally {
    for (const name of streams) await jsm.streams.delete(name).catch((e: unknown) => progress(`could not delete stream ${name}: ${String(e)}`));
  }
  // This run's own processes load the machine too (about 2-3 while measuring); much more means other work ran.
  notes.push(`run ${run}: took ${fmtMs((performance.now() - startedAt) / 1000)} s; 1-min load average ${loadAtStart.toFixed(2)} at the start, ${(loadavg()[0] as number).toFixed(2)} at the end (2 cores)`);
  printRun(run, runs, figures);
  return { figures, notes };
}

function table(header: string[], lines: string[][]): void {
  const widths = header.map((h, i) => Math.max(h.length, ...lines.map((l) => (l[i] ?? '').length)));
  const row = (cells: string[]): string => cells.map((c, i) => (i === 0 ? c.padEnd(widths[i] as number) : c.padStart(widths[i] as number))).join('  ');
  console.log(row(header));
  console.log(widths.map((w) => '-'.repeat(w)).join('  '));
  for (const l of lines) console.log(row(l));
}

function printRun(run: number, runs: number, figures: readonly Figure[]): void {
  console.log(`\nNATS run ${run}/${runs}`);
  table(
    ['case', 'value', 'unit', 'vs reference (same run)', 'target'],
    figures.map((f) => [f.name, fmtValue(f, f.value), f.unit, f.ratio === undefined ? '' : `${f.ratio.toFixed(2)}x ${f.reference}`, f.target === undefined ? '' : targetMet(f, f.ratio)]),
  );
}

/** `met` / `MISSED` for a figure with a target of `>= 1x`. */
function targetMet(f: Figure, ratio: number | undefined): string {
  if (f.target === undefined || ratio === undefined) return '';
  return `${f.target}: ${ratio >= 1 ? 'met' : 'MISSED'}`;
}

/** The nats-server version, or why NATS cannot be used. */
async function openNats(): Promise<{ nc: NatsConnection; jsm: JetStreamManager; server: string } | string> {
  let nc: NatsConnection;
  try {
    nc = await natsConnect({ servers: NATS_URL, timeout: 2_000, name: 'samsa-bench' });
  } catch (e) {
    return `NATS benchmarks skipped: ${NATS_URL} cannot be reached (${e instanceof Error ? e.message : String(e)}); start nats-server -js`;
  }
  try {
    const jsm = await jetstreamManager(nc);
    return { nc, jsm, server: `nats-server ${nc.info?.version ?? '?'} at ${NATS_URL}` };
  } catch (e) {
    await nc.close();
    return `NATS benchmarks skipped: JetStream is not enabled on ${NATS_URL} (${e instanceof Error ? e.message : String(e)}); start nats-server -js`;
  }
}

/** Runs the whole set `runs` times (default BENCH_NATS_RUNS, else 3). */
export async function runNatsBenchmarks(runs = Number(process.env.BENCH_NATS_RUNS ?? 3)): Promise<NatsBenchmarks> {
  const opened = await openNats();
  if (typeof opened === 'string') return { runs: [], server: NATS_URL, skipped: opened };
  const { nc, jsm, server } = opened;
  const results: NatsRun[] = [];
  try {
    for (let run = 1; run <= runs; run++) {
      const started = performance.now();
      results.push(await runOnce(run, runs, nc, jsm));
      progress(`run ${run}/${runs} took ${fmtMs((performance.now() - started) / 1000)} s`);
    }
  } finally {
    await nc.drain().catch(() => nc.close());
  }
  return { runs: results, server };
}

/** Prints the median and range of every figure over the runs and writes bench/results/nats.json. */
export function reportNatsBenchmarks(result: NatsBenchmarks): void {
  if (result.skipped !== undefined) {
    console.log(`\n${result.skipped}`);
    return;
  }
  const runs = result.runs;
  const first = runs[0];
  if (first === undefined) return;
  const all = (i: number): Figure[] => runs.map((r) => r.figures[i] as Figure);
  const range = (values: readonly number[], f: (v: number) => string): string => `[${f(Math.min(...values))}–${f(Math.max(...values))}]`;
  const settings =
    `${result.server}; samsa: 3 controller + 3 broker processes over NATS, 1 partition per topic, producer lingerMs=${LINGER_MS} batchSize=${BATCH_SIZE} (RF=1: acks=1; RF=3: acks=all, idempotent), ` +
    `${SEND_CHUNK} records per send × ${IN_FLIGHT_SENDS} sends outstanding; JetStream: file storage, 1 replica (this single nats-server cannot replicate), ${JS_IN_FLIGHT.toLocaleString('en-US')} publishes outstanding; ` +
    `${RECORDS.toLocaleString('en-US')} records of ${VALUE_BYTES} B per case (js.publish(): ${JS_CLIENT_RECORDS.toLocaleString('en-US')}); latency at ${LATENCY_RATE.toLocaleString('en-US')} records/s for ${LATENCY_MS / 1000} s after ${LATENCY_WARMUP_MS / 1000} s, lingerMs=0`;

  // The throughput figures in the common format (medians), written to bench/results/nats.json.
  const throughput = first.figures
    .map((f, i) => ({ f, i }))
    .filter(({ f }) => f.unit === 'msg/s')
    .map(({ f, i }) => {
      const values = all(i).map((x) => x.value);
      const ratios = all(i).map((x) => x.ratio);
      const rate = median(values);
      const ratio = ratios.every((r) => r !== undefined) ? median(ratios as number[]) : undefined;
      return measurement(f.name, RECORDS, RECORDS * VALUE_BYTES, RECORDS / rate, { ...(ratio === undefined ? {} : { ratio, reference: f.reference as string }), ...(f.target === undefined ? {} : { target: targetMet(f, ratio) }) });
    });
  report(`NATS: ${settings}; median of ${runs.length} run(s)`, throughput, 'nats.json');

  console.log(`\nNATS, every figure: median [min–max] over ${runs.length} run(s); ratios are taken within each run (samsa / JetStream of the same run)`);
  table(
    ['case', 'median', '[min–max]', 'unit', 'vs reference: median [min–max]', 'target (median)'],
    first.figures.map((f, i) => {
      const values = all(i).map((x) => x.value);
      const ratios = all(i).map((x) => x.ratio).filter((r): r is number => r !== undefined);
      const ratio = ratios.length === 0 ? '' : `${median(ratios).toFixed(2)}x ${range(ratios, (r) => r.toFixed(2))} ${f.reference}`;
      return [f.name, fmtValue(f, median(values)), range(values, (v) => fmtValue(f, v)), f.unit, ratio, targetMet(f, ratios.length === 0 ? undefined : median(ratios))];
    }),
  );
  const perRun = first.figures.map((f, i) => `${f.name}: ${all(i).map((x) => fmtValue(f, x.value)).join(', ')}${f.ratio === undefined ? '' : ` (ratios ${all(i).map((x) => pct(x.ratio as number)).join(', ')})`}`);
  console.log('\nper run:');
  for (const line of perRun) console.log(`  ${line}`);
  const notes = runs.flatMap((r) => r.notes);
  for (const note of notes) console.log(note);
  const file = join(import.meta.dirname, 'results', 'nats.json');
  const json = JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>;
  writeFileSync(file, JSON.stringify({ ...json, settings, runs, notes }, null, 2));
}
