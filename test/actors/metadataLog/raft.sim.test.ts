import { describe, expect, it } from 'vitest';
import { createRandom } from '../../../src/random.ts';
import type { RaftConfig } from '../../../src/actors/metadataLog/raft/config.ts';
import { createRaftDurableState } from '../../../src/actors/metadataLog/raft/log.ts';
import type { RaftDurableState, RaftEntry } from '../../../src/actors/metadataLog/raft/log.ts';
import type { RaftMessage, RaftOutput } from '../../../src/actors/metadataLog/raft/messages.ts';
import { RaftNode } from '../../../src/actors/metadataLog/raft/raftNode.ts';

/**
 * Seeded simulation of the KRaft core: voters and observers on a network that delays, reorders,
 * drops, duplicates and partitions messages, with nodes crashing and restarting from their durable
 * state only, owners taking snapshots, and clients appending to whoever leads. A checker watches
 * Raft's safety properties the whole time, then everything heals and every acknowledged append
 * must be on every node.
 *
 * SIM_SEEDS sets how many seeds each variant runs; a failure names its seed (SIM_SEED=n replays one,
 * SIM_TRACE=1 prints every message, SIM_VERBOSE=1 a summary per seed).
 */
const SEEDS = Number(process.env.SIM_SEEDS ?? 50);
const ONLY_SEED = process.env.SIM_SEED === undefined ? undefined : Number(process.env.SIM_SEED);
/** A seed takes well under 100 ms; leave room for slow machines and large SIM_SEEDS. */
const TIMEOUT_MS = Math.max(60_000, SEEDS * 1_000);

/** Kafka's defaults, but with a request timeout below the fetch timeout so a lost fetch is retried before an election. */
const BASE_CONFIG: RaftConfig = {
  'controller.quorum.election.timeout.ms': 1000,
  'controller.quorum.fetch.timeout.ms': 2000,
  'controller.quorum.election.backoff.max.ms': 1000,
  'controller.quorum.request.timeout.ms': 1000,
  'controller.quorum.retry.backoff.ms': 50,
};
/** Short election timeouts make candidates collide in the same epoch, which is where vote bugs show. */
const ELECTION_TIMEOUTS = [1000, 1000, 300, 100];
const FETCH_MAX_WAIT_MS = 500;
const CHAOS_MS = 25_000;
const SETTLE_LIMIT_MS = 60_000;

type Payload = string;

interface Delivery {
  readonly at: number;
  readonly seq: number;
  readonly from: number;
  readonly to: number;
  readonly message: RaftMessage<Payload>;
}

/** A binary min-heap of deliveries by (time, sequence): delivery order is fully seeded. */
class Queue {
  private readonly items: Delivery[] = [];
  get size(): number {
    return this.items.length;
  }
  peek(): Delivery | undefined {
    return this.items[0];
  }
  push(d: Delivery): void {
    const a = this.items;
    a.push(d);
    let i = a.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (!less(a[i] as Delivery, a[p] as Delivery)) break;
      [a[i], a[p]] = [a[p] as Delivery, a[i] as Delivery];
      i = p;
    }
  }
  pop(): Delivery | undefined {
    const a = this.items;
    const top = a[0];
    const last = a.pop();
    if (a.length > 0 && last !== undefined) {
      a[0] = last;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < a.length && less(a[l] as Delivery, a[m] as Delivery)) m = l;
        if (r < a.length && less(a[r] as Delivery, a[m] as Delivery)) m = r;
        if (m === i) break;
        [a[i], a[m]] = [a[m] as Delivery, a[i] as Delivery];
        i = m;
      }
    }
    return top;
  }
}
const less = (x: Delivery, y: Delivery): boolean => x.at < y.at || (x.at === y.at && x.seq < y.seq);

interface Host {
  readonly id: number;
  readonly observer: boolean;
  readonly durable: RaftDurableState<Payload>;
  node: RaftNode<Payload> | undefined;
  life: number;
  deadline: number | undefined;
  /** The owner's state machine: the signature of every applied entry, indexed by offset. */
  applied: string[];
  lastHw: bigint;
  restartAt: number | undefined;
}

interface SimOptions {
  readonly voters: number;
  readonly observers: number;
}

interface SimResult {
  readonly violations: string[];
  readonly acked: number;
  readonly committed: number;
  readonly leaders: number;
  readonly crashes: number;
  readonly partitions: number;
  readonly messages: number;
  /** Snapshots installed from a leader through fetchSnapshot. */
  readonly installs: number;
}

const sig = (e: RaftEntry<Payload>): string => (e.kind === 'data' ? `${e.offset}:${e.epoch}:${e.payload}` : `${e.offset}:${e.epoch}:leader=${e.leaderId}`);

function simulate(seed: number, options: SimOptions): SimResult {
  const random = createRandom(seed);
  const netRandom = random.fork();
  const faultRandom = random.fork();
  const clientRandom = random.fork();
  const nodeRandoms = random.fork();
  // Small fetch responses leave followers holding part of a leader's log, as Figure 8 needs.
  const fetchMaxRecords = random.pick([1, 2, 5, 1000]);
  const config: RaftConfig = { ...BASE_CONFIG, 'controller.quorum.election.timeout.ms': random.pick(ELECTION_TIMEOUTS), 'controller.quorum.election.backoff.max.ms': random.pick([100, 1000]) };
  const voters = Array.from({ length: options.voters }, (_, i) => i);
  const ids = Array.from({ length: options.voters + options.observers }, (_, i) => i);
  const violations: string[] = [];
  const fail = (what: string): void => {
    if (violations.length < 20) violations.push(`t=${now}: ${what}`);
  };

  let now = 0;
  let seq = 0;
  let messages = 0;
  let crashes = 0;
  let partitions = 0;
  let installs = 0;
  const queue = new Queue();
  // Network faults: a partition maps each node to a side; messages across sides are lost.
  let side = new Map<number, number>();
  let dropRate = 0.03;
  let dupRate = 0.02;
  let chaos = true;

  // Checker state.
  const leaderOfEpoch = new Map<number, number>();
  // offset → signature as first applied anywhere, and the applier's epoch then (the entry was
  // committed in that epoch or before, so every leader of a later epoch must hold it).
  const committedAt = new Map<number, { sig: string; epoch: number }>();
  const ackedSigs = new Set<string>();
  const pending = new Map<string, { host: number; life: number }>(); // sig → who appended it

  const hosts: Host[] = ids.map((id) => ({ id, observer: id >= options.voters, durable: createRaftDurableState<Payload>(), node: undefined, life: 0, deadline: undefined, applied: [], lastHw: 0n, restartAt: undefined }));

  let booting = false;
  const boot = (h: Host): void => {
    booting = true;
    h.life++;
    h.applied = [];
    h.restartAt = undefined;
    h.node = new RaftNode<Payload>({ id: h.id, voters, observer: h.observer, random: createRandom(nodeRandoms.int(2 ** 31)), config, fetchMaxWaitMs: FETCH_MAX_WAIT_MS, fetchMaxRecords, durable: h.durable });
    h.lastHw = h.node.highWatermark;
    handle(h, h.node.start(now));
    booting = false;
  };

  const crash = (h: Host, downMs: number): void => {
    h.node = undefined;
    h.deadline = undefined;
    h.restartAt = now + downMs;
    crashes++;
  };

  const send = (from: number, to: number, message: RaftMessage<Payload>): void => {
    messages++;
    if (process.env.SIM_TRACE) console.log(now, from, '->', to, JSON.stringify(message, (_k, v: unknown) => (typeof v === 'bigint' ? Number(v) : v)).slice(0, 160));
    if (chaos && netRandom.next() < dropRate) return;
    const copies = chaos && netRandom.next() < dupRate ? 2 : 1;
    for (let i = 0; i < copies; i++) {
      // Mostly short delays, sometimes a long one, so messages overtake each other.
      const delay = netRandom.next() < 0.05 ? 50 + netRandom.int(400) : 1 + netRandom.int(15);
      // Messages are plain data: cloning them proves it and keeps nodes from sharing objects.
      queue.push({ at: now + delay, seq: seq++, from, to, message: structuredClone(message) });
    }
  };

  const handle = (h: Host, out: RaftOutput<Payload>): void => {
    const node = h.node as RaftNode<Payload>;
    h.deadline = out.nextDeadlineMs;
    if (out.loadSnapshot !== undefined) {
      const state = out.loadSnapshot.state as string[];
      if (BigInt(state.length) !== out.loadSnapshot.endOffset) fail(`node ${h.id} loaded a snapshot ending at ${out.loadSnapshot.endOffset} holding ${state.length} entries`);
      state.forEach((s, o) => {
        const known = committedAt.get(o)?.sig;
        if (known !== undefined && known !== s) fail(`node ${h.id} loaded a snapshot with ${s} at offset ${o}, but ${known} was committed there`);
      });
      h.applied = state.slice();
      if (!booting) installs++;
    }
    for (const e of out.committed) {
      if (BigInt(h.applied.length) !== e.offset) fail(`node ${h.id} applied offset ${e.offset} after ${h.applied.length} entries (gap or repeat)`);
      const s = sig(e);
      const o = Number(e.offset);
      const known = committedAt.get(o)?.sig;
      if (known === undefined) committedAt.set(o, { sig: s, epoch: node.epoch });
      else if (known !== s) fail(`state machine safety: node ${h.id} applied ${s} at offset ${o}, but ${known} was applied elsewhere`);
      h.applied.push(s);
      const appender = pending.get(s);
      if (appender !== undefined && appender.host === h.id && appender.life === h.life) {
        ackedSigs.add(s);
        pending.delete(s);
      }
    }
    if (BigInt(h.applied.length) !== node.highWatermark) fail(`node ${h.id} applied ${h.applied.length} entries but its high watermark is ${node.highWatermark}`);
    if (node.highWatermark < h.lastHw) fail(`node ${h.id} high watermark went back from ${h.lastHw} to ${node.highWatermark} within one life`);
    h.lastHw = node.highWatermark;
    if (node.role === 'leader') {
      const known = leaderOfEpoch.get(node.epoch);
      if (known === undefined) leaderOfEpoch.set(node.epoch, h.id);
      else if (known !== h.id) fail(`election safety: nodes ${known} and ${h.id} both lead epoch ${node.epoch}`);
      if (h.observer) fail(`observer ${h.id} became leader`);
    }
    if (h.observer && (node.role === 'candidate' || node.votedFor !== undefined)) fail(`observer ${h.id} took part in an election (${node.role}, votedFor ${node.votedFor})`);
    for (const m of out.messages) send(h.id, m.to, m.message);
    // Crash right after a vote left (it is durable by then), and come straight back: the restarted
    // node must not vote for another candidate in the same epoch.
    if (chaos && out.messages.some((m) => m.message.type === 'vote.response' && m.message.voteGranted) && faultRandom.next() < 0.2) crash(h, 1 + faultRandom.int(5));
  };

  /** Log matching: two logs that share an entry (same offset and epoch) are identical up to it. */
  const checkLogMatching = (): void => {
    const logs = hosts.map((h) => ({ id: h.id, start: h.durable.snapshot?.endOffset ?? 0n, entries: h.durable.entries }));
    for (let i = 0; i < logs.length; i++) {
      for (let j = i + 1; j < logs.length; j++) {
        const a = logs[i] as (typeof logs)[number];
        const b = logs[j] as (typeof logs)[number];
        const from = a.start > b.start ? a.start : b.start;
        const endA = a.start + BigInt(a.entries.length);
        const endB = b.start + BigInt(b.entries.length);
        const to = endA < endB ? endA : endB;
        let match = -1n;
        for (let o = to - 1n; o >= from; o--) {
          if ((a.entries[Number(o - a.start)] as RaftEntry<Payload>).epoch === (b.entries[Number(o - b.start)] as RaftEntry<Payload>).epoch) {
            match = o;
            break;
          }
        }
        for (let o = from; o <= match; o++) {
          const x = sig(a.entries[Number(o - a.start)] as RaftEntry<Payload>);
          const y = sig(b.entries[Number(o - b.start)] as RaftEntry<Payload>);
          if (x !== y) fail(`log matching: nodes ${a.id} and ${b.id} share offset ${match} but differ at ${o} (${x} vs ${y})`);
        }
      }
    }
    // Leader completeness: a leader of an epoch after the commit holds the committed entry (or a
    // snapshot past it). A stale leader of an older epoch, cut off by a partition, need not.
    for (const h of hosts) {
      if (h.node?.role !== 'leader') continue;
      for (const [o, { sig: s, epoch }] of committedAt) {
        if (h.node.epoch <= epoch) continue;
        const e = h.node.entryAt(BigInt(o));
        if (e !== undefined && sig(e) !== s) fail(`leader completeness: leader ${h.id} (epoch ${h.node.epoch}) holds ${sig(e)} at committed offset ${o} (${s})`);
        if (e === undefined && BigInt(o) >= h.node.logEndOffset) fail(`leader completeness: leader ${h.id} (epoch ${h.node.epoch}) lacks committed offset ${o}`);
      }
    }
  };

  // Schedules, as absolute times.
  let nextFault = 500 + faultRandom.int(1500);
  let nextHeal: number | undefined;
  let nextClient = 200;
  let nextCheck = 500;
  let clientSeq = 0;
  const liveLeaders = (): Host[] => hosts.filter((h) => h.node?.role === 'leader');

  const clientAppend = (tag: string): void => {
    const leaders = liveLeaders();
    if (leaders.length === 0) return;
    // Stale leaders (partitioned away) may accept appends too; they must just never be acknowledged wrongly.
    const h = clientRandom.pick(leaders);
    const node = h.node as RaftNode<Payload>;
    const payloads = Array.from({ length: 1 + clientRandom.int(3) }, () => `${tag}${clientSeq++}`);
    const res = node.append(payloads, now);
    if (res.type !== 'appended') return;
    payloads.forEach((p, i) => pending.set(`${res.baseOffset + BigInt(i)}:${res.epoch}:${p}`, { host: h.id, life: h.life }));
    handle(h, res.output);
  };

  const injectFault = (): void => {
    const roll = faultRandom.next();
    if (roll < 0.35) {
      const live = hosts.filter((h) => h.node !== undefined);
      // Some restarts are immediate, so a node can be asked for a vote again in the epoch it just voted in.
      if (live.length > 0) crash(faultRandom.pick(live), faultRandom.next() < 0.3 ? 1 + faultRandom.int(30) : 200 + faultRandom.int(4000));
    } else if (roll < 0.6) {
      side = new Map(ids.map((id) => [id, faultRandom.int(2)]));
      partitions++;
      nextHeal = now + 500 + faultRandom.int(5000);
    } else if (roll < 0.7) {
      // Isolate the current leader, the classic split-brain set-up.
      const leader = liveLeaders()[0];
      if (leader !== undefined) {
        side = new Map(ids.map((id) => [id, id === leader.id ? 1 : 0]));
        partitions++;
        nextHeal = now + 500 + faultRandom.int(5000);
      }
    } else if (roll < 0.8) {
      dropRate = faultRandom.next() * 0.2;
      dupRate = faultRandom.next() * 0.1;
    } else if (roll < 0.9) {
      // Owners snapshot their applied state at their high watermark.
      for (const h of hosts) {
        const node = h.node;
        if (node === undefined || faultRandom.next() < 0.5) continue;
        node.snapshot(h.applied.slice(), node.highWatermark);
      }
    }
  };

  const step = (until: number): void => {
    for (;;) {
      let at = until;
      const d = queue.peek();
      if (d !== undefined && d.at < at) at = d.at;
      for (const h of hosts) {
        if (h.deadline !== undefined && h.deadline < at) at = h.deadline;
        if (h.restartAt !== undefined && h.restartAt < at) at = h.restartAt;
      }
      if (chaos) at = Math.min(at, nextFault, nextClient, nextHeal ?? Infinity);
      at = Math.min(at, nextCheck);
      if (at >= until) break;
      now = Math.max(now, at);
      if (d !== undefined && d.at <= now) {
        queue.pop();
        const h = hosts[d.to] as Host;
        const crossing = (side.get(d.from) ?? 0) !== (side.get(d.to) ?? 0);
        if (h.node !== undefined && !crossing) handle(h, h.node.receive(d.from, d.message, now));
        continue;
      }
      for (const h of hosts) {
        if (h.restartAt !== undefined && h.restartAt <= now) boot(h);
        if (h.node !== undefined && h.deadline !== undefined && h.deadline <= now) handle(h, h.node.tick(now));
      }
      if (chaos && nextFault <= now) {
        injectFault();
        nextFault = now + 300 + faultRandom.int(2000);
      }
      if (chaos && nextHeal !== undefined && nextHeal <= now) {
        side = new Map();
        nextHeal = undefined;
      }
      if (chaos && nextClient <= now) {
        clientAppend('c');
        nextClient = now + 20 + clientRandom.int(200);
      }
      if (nextCheck <= now) {
        checkLogMatching();
        nextCheck = now + 250;
      }
    }
    now = until;
  };

  for (const h of hosts) boot(h);
  step(CHAOS_MS);

  // Heal: no more faults, everyone back, and the quorum must make progress again.
  chaos = false;
  side = new Map();
  for (const h of hosts) if (h.node === undefined) boot(h);
  let marker: string | undefined;
  let markerBy: { id: number; epoch: number } | undefined;
  const settleEnd = now + SETTLE_LIMIT_MS;
  while (now < settleEnd) {
    step(now + 100);
    if (marker !== undefined && ackedSigs.has(marker) && hosts.every((h) => h.applied.includes(marker as string))) break;
    // A marker whose leader lost its epoch before committing it is never acknowledged: try again.
    const leader = liveLeaders()[0];
    const stale = marker !== undefined && !ackedSigs.has(marker) && (markerBy?.id !== leader?.id || markerBy?.epoch !== leader?.node?.epoch);
    if (leader !== undefined && (marker === undefined || stale)) {
      const res = (leader.node as RaftNode<Payload>).append(['marker'], now);
      if (res.type === 'appended') {
        marker = `${res.lastOffset}:${res.epoch}:marker`;
        markerBy = { id: leader.id, epoch: res.epoch };
        pending.set(marker, { host: leader.id, life: leader.life });
        handle(leader, res.output);
      }
    }
  }
  checkLogMatching();
  if (marker === undefined || !hosts.every((h) => h.applied.includes(marker as string))) {
    fail(`liveness: after healing, no marker committed on every node within ${SETTLE_LIMIT_MS} ms (leaders: ${liveLeaders().map((h) => h.id).join(',') || 'none'}; epochs: ${hosts.map((h) => h.node?.epoch).join(',')})`);
  }
  for (const h of hosts) {
    const applied = new Set(h.applied);
    let missing = 0;
    for (const s of ackedSigs) if (!applied.has(s)) missing++;
    if (missing > 0) fail(`node ${h.id}${h.observer ? ' (observer)' : ''} lacks ${missing} of ${ackedSigs.size} acknowledged appends after healing`);
    h.applied.forEach((s, o) => {
      if (committedAt.get(o)?.sig !== s) fail(`node ${h.id} ends with ${s} at offset ${o}, but ${committedAt.get(o)?.sig} was committed there`);
    });
  }
  return { violations, acked: ackedSigs.size, committed: committedAt.size, leaders: leaderOfEpoch.size, crashes, partitions, messages, installs };
}

function runSeeds(options: SimOptions, base: number): void {
  const seeds = ONLY_SEED !== undefined ? [ONLY_SEED] : Array.from({ length: SEEDS }, (_, i) => base + i);
  let acked = 0;
  let leaders = 0;
  let crashes = 0;
  let installs = 0;
  for (const seed of seeds) {
    let result: SimResult;
    try {
      result = simulate(seed, options);
    } catch (e) {
      throw new Error(`seed ${seed} (${options.voters} voters, ${options.observers} observers; replay with SIM_SEED=${seed}) threw: ${(e as Error).message}`, { cause: e });
    }
    expect(result.violations, `seed ${seed} (${options.voters} voters, ${options.observers} observers; replay with SIM_SEED=${seed}):\n${result.violations.join('\n')}`).toEqual([]);
    expect(result.acked, `seed ${seed}: nothing was acknowledged`).toBeGreaterThan(0);
    acked += result.acked;
    leaders += result.leaders;
    crashes += result.crashes;
    installs += result.installs;
    if (process.env.SIM_VERBOSE) console.log(`seed ${seed}`, result);
  }
  // The faults must have bitten: several elections, crashes and snapshot installs across the seeds.
  expect(leaders).toBeGreaterThan(seeds.length);
  expect(crashes).toBeGreaterThan(0);
  if (seeds.length >= 10) expect(installs).toBeGreaterThan(0);
  expect(acked).toBeGreaterThan(seeds.length);
}

describe('raft simulation', () => {
  it('3 voters and 1 observer keep election safety, log matching and every acknowledged append under crashes, partitions, drops and duplicates', () => {
    runSeeds({ voters: 3, observers: 1 }, 1);
  }, TIMEOUT_MS);

  it('5 voters and 2 observers keep the same guarantees', () => {
    runSeeds({ voters: 5, observers: 2 }, 10_001);
  }, TIMEOUT_MS);
});
