import { describe, expect, it } from 'vitest';
import { InvalidArgumentError, InvalidConfigError } from '../../../src/errors.ts';
import { createRandom } from '../../../src/random.ts';
import { DEFAULT_FETCH_MAX_WAIT_MS, parseRaftConfig, RAFT_CONFIG_DEFAULTS } from '../../../src/actors/metadataLog/raft/config.ts';
import type { RaftConfig } from '../../../src/actors/metadataLog/raft/config.ts';
import { createRaftDurableState } from '../../../src/actors/metadataLog/raft/log.ts';
import type { RaftDurableState, RaftEntry, RaftSnapshot } from '../../../src/actors/metadataLog/raft/log.ts';
import type { FetchRequest, FetchResponse, RaftMessage, RaftOutput, VoteResponse } from '../../../src/actors/metadataLog/raft/messages.ts';
import { RaftNode } from '../../../src/actors/metadataLog/raft/raftNode.ts';

interface Envelope {
  readonly from: number;
  readonly to: number;
  readonly message: RaftMessage<string>;
}

/**
 * A zero-latency, hand-driven network for unit tests: messages queue up in FIFO order and are
 * delivered (or dropped by a filter) when the test says so; time moves only through {@link fire}
 * and {@link runFor}.
 */
class Net {
  readonly nodes = new Map<number, RaftNode<string>>();
  readonly durables = new Map<number, RaftDurableState<string>>();
  readonly committed = new Map<number, RaftEntry<string>[]>();
  readonly loaded = new Map<number, RaftSnapshot[]>();
  readonly deadlines = new Map<number, number | undefined>();
  readonly down = new Set<number>();
  readonly sent: Envelope[] = [];
  queue: Envelope[] = [];
  now = 0;

  constructor(
    readonly voters: readonly number[],
    readonly config: RaftConfig = {},
  ) {}

  add(id: number, options: { observer?: boolean; durable?: RaftDurableState<string>; start?: boolean } = {}): RaftNode<string> {
    const durable = options.durable ?? this.durables.get(id) ?? createRaftDurableState<string>();
    this.durables.set(id, durable);
    const node = new RaftNode<string>({ id, voters: this.voters, observer: options.observer ?? false, random: createRandom(1000 + id * 7 + this.now), config: this.config, durable });
    this.nodes.set(id, node);
    this.down.delete(id);
    if (!this.committed.has(id)) this.committed.set(id, []);
    if (options.start !== false) this.take(id, node.start(this.now));
    return node;
  }

  node(id: number): RaftNode<string> {
    return this.nodes.get(id) as RaftNode<string>;
  }

  crash(id: number): void {
    this.down.add(id);
    this.nodes.delete(id);
    this.deadlines.delete(id);
  }

  take(id: number, out: RaftOutput<string>): RaftOutput<string> {
    if (out.loadSnapshot !== undefined) {
      this.loaded.set(id, [...(this.loaded.get(id) ?? []), out.loadSnapshot]);
      this.committed.set(id, []);
    }
    (this.committed.get(id) as RaftEntry<string>[]).push(...out.committed);
    for (const m of out.messages) {
      const env = { from: id, to: m.to, message: m.message };
      this.queue.push(env);
      this.sent.push(env);
    }
    this.deadlines.set(id, out.nextDeadlineMs);
    return out;
  }

  /** Delivers queued messages (and their consequences) until none is left; `keep` false drops one. */
  deliverAll(keep: (e: Envelope) => boolean = () => true): void {
    for (let guard = 0; this.queue.length > 0; guard++) {
      if (guard > 100_000) throw new Error('message storm');
      const e = this.queue.shift() as Envelope;
      const node = this.nodes.get(e.to);
      if (node === undefined || this.down.has(e.to) || this.down.has(e.from) || !keep(e)) continue;
      this.take(e.to, node.receive(e.from, e.message, this.now));
    }
  }

  /** Ticks node `id` at its own next deadline. */
  fire(id: number): RaftOutput<string> {
    const at = this.deadlines.get(id);
    if (at === undefined) throw new Error(`node ${id} has no deadline`);
    this.now = Math.max(this.now, at);
    return this.take(id, this.node(id).tick(this.now));
  }

  /** Runs every node for `ms`, delivering all messages instantly and ticking nodes at their deadlines. */
  runFor(ms: number, keep: (e: Envelope) => boolean = () => true): void {
    const target = this.now + ms;
    for (;;) {
      this.deliverAll(keep);
      let next: number | undefined;
      for (const [id, d] of this.deadlines) if (d !== undefined && !this.down.has(id) && (next === undefined || d < next)) next = d;
      if (next === undefined || next > target) break;
      this.now = Math.max(this.now, next);
      for (const [id, d] of [...this.deadlines]) if (d !== undefined && d <= this.now && !this.down.has(id)) this.take(id, this.node(id).tick(this.now));
    }
    this.now = target;
  }

  leaders(): RaftNode<string>[] {
    return [...this.nodes.values()].filter((n) => n.role === 'leader');
  }

  append(payloads: string[]): { epoch: number; lastOffset: bigint } {
    const leader = this.leaders()[0];
    if (leader === undefined) throw new Error('no leader');
    const res = leader.append(payloads, this.now);
    if (res.type !== 'appended') throw new Error('not leader');
    this.take(leader.id, res.output);
    return { epoch: res.epoch, lastOffset: res.lastOffset };
  }

  payloads(id: number): string[] {
    return (this.committed.get(id) as RaftEntry<string>[]).flatMap((e) => (e.kind === 'data' ? [e.payload] : []));
  }
}

const data = (offset: bigint, epoch: number, payload = `e${epoch}@${offset}`): RaftEntry<string> => ({ kind: 'data', offset, epoch, payload });

const durableWith = (epoch: number, entries: RaftEntry<string>[], extra: Partial<RaftDurableState<string>> = {}): RaftDurableState<string> => ({
  ...createRaftDurableState<string>(),
  epoch,
  entries,
  ...extra,
});

const voteRequest = (epoch: number, candidateId: number, lastEpoch = 0, lastEpochEndOffset = 0n): RaftMessage<string> => ({ type: 'vote.request', epoch, candidateId, lastEpoch, lastEpochEndOffset });

const voteReplies = (out: RaftOutput<string>): VoteResponse[] => out.messages.map((m) => m.message).filter((m): m is VoteResponse => m.type === 'vote.response');

function single(id: number, voters: number[], durable = createRaftDurableState<string>(), options: { observer?: boolean; config?: RaftConfig } = {}): RaftNode<string> {
  return new RaftNode<string>({ id, voters, random: createRandom(id + 1), durable, ...options });
}

describe('raft config', () => {
  it("defaults to Kafka's controller.quorum.* values", () => {
    expect(parseRaftConfig()).toEqual({ electionTimeoutMs: 1000, fetchTimeoutMs: 2000, electionBackoffMaxMs: 1000, requestTimeoutMs: 2000, retryBackoffMs: 20 });
    expect(RAFT_CONFIG_DEFAULTS['controller.quorum.election.timeout.ms']).toBe(1000);
    expect(DEFAULT_FETCH_MAX_WAIT_MS).toBe(500);
    expect(parseRaftConfig({ 'controller.quorum.fetch.timeout.ms': '3000' }).fetchTimeoutMs).toBe(3000);
  });

  it('rejects unknown keys, non-integers and out-of-range values, naming the key and the fix', () => {
    expect(() => parseRaftConfig({ 'controller.quorum.election.timeout': 5 } as RaftConfig)).toThrow(InvalidConfigError);
    expect(() => parseRaftConfig({ 'controller.quorum.election.timeout': 5 } as RaftConfig)).toThrow(/controller\.quorum\.election\.timeout".*use one of controller\.quorum\.election\.timeout\.ms/);
    expect(() => parseRaftConfig({ 'controller.quorum.election.timeout.ms': 0 })).toThrow(/"controller\.quorum\.election\.timeout\.ms".*≥ 1/);
    expect(() => parseRaftConfig({ 'controller.quorum.fetch.timeout.ms': 1.5 })).toThrow(InvalidConfigError);
    expect(() => parseRaftConfig({ 'controller.quorum.fetch.timeout.ms': 'soon' })).toThrow(/fetch\.timeout\.ms/);
    expect(() => parseRaftConfig({ 'controller.quorum.retry.backoff.ms': -1 })).toThrow(InvalidConfigError);
    expect(() => parseRaftConfig({ 'controller.quorum.request.timeout.ms': 400 })).toThrow(/request\.timeout\.ms.*must exceed the fetch max wait \(500 ms\)/);
    expect(parseRaftConfig({ 'controller.quorum.request.timeout.ms': 400 }, 100).requestTimeoutMs).toBe(400);
    expect(() => single(0, [0], undefined, { config: { 'controller.quorum.election.backoff.max.ms': 'x' } })).toThrow(InvalidConfigError);
  });

  it('rejects bad node options and durable states with InvalidArgumentError', () => {
    expect(() => single(-1, [0])).toThrow(/invalid argument "id"/);
    expect(() => single(0, [])).toThrow(/invalid argument "voters"/);
    expect(() => single(0, [0, 0])).toThrow(/unique/);
    expect(() => single(3, [0, 1])).toThrow(/not in the voter set \[0, 1\]; add it or pass observer: true/);
    expect(() => single(0, [0, 1], undefined, { observer: true })).toThrow(/an observer must not be a voter/);
    expect(() => new RaftNode<string>({ id: 0, voters: [0], random: createRandom(1), durable: createRaftDurableState(), fetchMaxWaitMs: -5 })).toThrow(InvalidArgumentError);
    expect(() => single(0, [0], durableWith(1, [data(1n, 1)]))).toThrow(/contiguous/);
    expect(() => single(0, [0], durableWith(1, [data(0n, 2)]))).toThrow(/≤ the current epoch 1/);
    expect(() => single(0, [0], durableWith(3, [data(0n, 2), data(1n, 1)]))).toThrow(/non-decreasing/);
  });

  it('rejects time going backwards, empty appends and snapshots of uncommitted data', () => {
    const node = single(0, [0, 1, 2]);
    node.start(100);
    expect(() => node.tick(50)).toThrow(/time went backwards/);
    expect(() => node.append([], 100)).toThrow(InvalidArgumentError);
    expect(() => node.snapshot({}, 1n)).toThrow(/above the high watermark 0/);
    expect(() => node.receive(1, { type: 'nope', epoch: 0 } as unknown as RaftMessage<string>, 100)).toThrow(/unknown Raft message type/);
  });
});

describe('raft election', () => {
  it('a single-voter quorum elects itself at start and commits its own appends at once', () => {
    const node = single(0, [0]);
    const out = node.start(0);
    expect(node.role).toBe('leader');
    expect(node.epoch).toBe(1);
    expect(out.messages).toEqual([]);
    expect(out.committed).toEqual([{ kind: 'leaderChange', offset: 0n, epoch: 1, leaderId: 0, voters: [0] }]);
    expect(out.leaderChange).toEqual({ epoch: 1, leaderId: 0 });
    expect(out.nextDeadlineMs).toBeUndefined();
    const res = node.append(['a', 'b'], 5);
    expect(res.type).toBe('appended');
    if (res.type !== 'appended') return;
    expect(res).toMatchObject({ epoch: 1, baseOffset: 1n, lastOffset: 2n });
    expect(res.output.committed.map((e) => (e.kind === 'data' ? e.payload : e.kind))).toEqual(['a', 'b']);
    expect(node.highWatermark).toBe(3n);
  });

  it('a restarted single voter elects itself again in a new epoch and replays its log', () => {
    const durable = createRaftDurableState<string>();
    const first = single(0, [0], durable);
    first.start(0);
    first.append(['a'], 1);
    const second = single(0, [0], durable);
    const out = second.start(10);
    expect(second.role).toBe('leader');
    expect(second.epoch).toBe(2);
    expect(out.committed.map((e) => `${e.kind}:${e.offset}:${e.epoch}`)).toEqual(['leaderChange:0:1', 'data:1:1', 'leaderChange:2:2']);
  });

  it('three voters elect exactly one leader, and followers learn it and replicate', () => {
    const net = new Net([0, 1, 2]);
    for (const id of [0, 1, 2]) net.add(id);
    net.runFor(3000);
    const leaders = net.leaders();
    expect(leaders).toHaveLength(1);
    const leader = leaders[0] as RaftNode<string>;
    for (const id of [0, 1, 2]) {
      expect(net.node(id).epoch).toBe(leader.epoch);
      expect(net.node(id).leaderId).toBe(leader.id);
    }
    const { lastOffset } = net.append(['x', 'y']);
    net.runFor(10);
    for (const id of [0, 1, 2]) {
      expect(net.node(id).highWatermark).toBe(lastOffset + 1n);
      expect(net.payloads(id)).toEqual(['x', 'y']);
    }
  });

  it('a follower that stops hearing from its leader for fetch.timeout starts an election with a higher epoch', () => {
    const net = new Net([0, 1, 2]);
    for (const id of [0, 1, 2]) net.add(id);
    net.runFor(3000);
    const old = net.leaders()[0] as RaftNode<string>;
    const epoch = old.epoch;
    net.crash(old.id);
    net.runFor(RAFT_CONFIG_DEFAULTS['controller.quorum.fetch.timeout.ms'] + 3000);
    const now = net.leaders();
    expect(now).toHaveLength(1);
    expect((now[0] as RaftNode<string>).epoch).toBeGreaterThan(epoch);
    expect((now[0] as RaftNode<string>).id).not.toBe(old.id);
  });

  it('a candidate that cannot win backs off and retries with a higher epoch', () => {
    const net = new Net([0, 1, 2]);
    net.add(0);
    net.crash(1);
    net.crash(2);
    net.fire(0);
    expect(net.node(0).role).toBe('candidate');
    expect(net.node(0).epoch).toBe(1);
    expect(net.sent.filter((e) => e.message.type === 'vote.request').map((e) => e.to)).toEqual([1, 2]);
    net.fire(0); // election timeout → back-off
    expect(net.node(0).epoch).toBe(1);
    const backoffEnd = net.deadlines.get(0) as number;
    expect(backoffEnd - net.now).toBeLessThanOrEqual(RAFT_CONFIG_DEFAULTS['controller.quorum.election.backoff.max.ms']);
    net.fire(0); // back-off over → new candidacy
    expect(net.node(0).role).toBe('candidate');
    expect(net.node(0).epoch).toBe(2);
    expect(net.node(0).votedFor).toBe(0);
  });

  it('a candidate rejected by a majority backs off at once instead of waiting for the timeout', () => {
    // Node 0 has the shortest log, so nodes 1 and 2 refuse it.
    const net = new Net([0, 1, 2]);
    net.add(0);
    net.add(1, { durable: durableWith(1, [data(0n, 1)]) });
    net.add(2, { durable: durableWith(1, [data(0n, 1)]) });
    const electionEnd = net.now + 2 * RAFT_CONFIG_DEFAULTS['controller.quorum.election.timeout.ms'];
    net.fire(0);
    net.deliverAll();
    expect(net.node(0).role).toBe('candidate');
    expect(net.node(0).epoch).toBe(1);
    // Back-off deadline (≤ 100 ms on the first retry) rather than the full election timeout.
    expect(net.deadlines.get(0) as number).toBeLessThanOrEqual(net.now + 100);
    expect(net.deadlines.get(0) as number).toBeLessThan(electionEnd);
  });
});

describe('raft vote rules', () => {
  it('refuses a candidate with a stale epoch, answering with its own epoch', () => {
    const node = single(0, [0, 1, 2], durableWith(5, []));
    node.start(0);
    const [reply] = voteReplies(node.receive(1, voteRequest(3, 1), 1));
    expect(reply).toMatchObject({ epoch: 5, voteGranted: false, error: 'FENCED_LEADER_EPOCH' });
    expect(node.epoch).toBe(5);
    expect(node.votedFor).toBeUndefined();
  });

  it('grants one vote per epoch, repeats it for the same candidate, and persists it before replying', () => {
    const durable = createRaftDurableState<string>();
    const node = single(0, [0, 1, 2], durable);
    node.start(0);
    expect(voteReplies(node.receive(1, voteRequest(2, 1), 1))[0]).toMatchObject({ epoch: 2, voteGranted: true });
    expect(durable).toMatchObject({ epoch: 2, votedFor: 1 });
    expect(voteReplies(node.receive(2, voteRequest(2, 2), 2))[0]).toMatchObject({ epoch: 2, voteGranted: false });
    expect(voteReplies(node.receive(1, voteRequest(2, 1), 3))[0]).toMatchObject({ voteGranted: true });
    // A higher epoch is a new election: the vote is free again.
    expect(voteReplies(node.receive(2, voteRequest(3, 2), 4))[0]).toMatchObject({ epoch: 3, voteGranted: true });
    expect(durable).toMatchObject({ epoch: 3, votedFor: 2 });
  });

  it('refuses a candidate whose log is less up to date: last epoch first, then end offset', () => {
    const log = [data(0n, 1), data(1n, 2), data(2n, 2)];
    const vote = (lastEpoch: number, end: bigint): boolean => {
      const node = single(0, [0, 1, 2], durableWith(2, log.slice()));
      node.start(0);
      return (voteReplies(node.receive(1, voteRequest(3, 1, lastEpoch, end), 1))[0] as VoteResponse).voteGranted;
    };
    expect(vote(1, 10n)).toBe(false); // longer but older last epoch
    expect(vote(2, 2n)).toBe(false); // same last epoch, shorter
    expect(vote(2, 3n)).toBe(true); // same last epoch, as long
    expect(vote(2, 4n)).toBe(true);
    expect(vote(3, 1n)).toBe(true); // newer last epoch wins even when shorter
  });

  it('refuses votes once it follows a leader of that epoch, and a leader steps down on a higher epoch', () => {
    const net = new Net([0, 1, 2]);
    for (const id of [0, 1, 2]) net.add(id);
    net.runFor(3000);
    const leader = net.leaders()[0] as RaftNode<string>;
    const follower = net.node([0, 1, 2].find((id) => id !== leader.id) as number);
    const other = [0, 1, 2].find((id) => id !== leader.id && id !== follower.id) as number;
    const end = follower.logEndOffset;
    const [sameEpoch] = voteReplies(follower.receive(other, voteRequest(leader.epoch, other, leader.epoch, end), net.now));
    expect(sameEpoch).toMatchObject({ voteGranted: false, leaderId: leader.id });
    const out = leader.receive(other, voteRequest(leader.epoch + 1, other, leader.epoch, leader.logEndOffset), net.now);
    expect(leader.role).toBe('unattached');
    expect(leader.epoch).toBe(net.node(other).epoch + 1);
    expect(voteReplies(out)[0]).toMatchObject({ voteGranted: true, epoch: leader.epoch });
  });

  it('keeps its running election timer when a candidate it refuses bumps the epoch', () => {
    // Otherwise a candidate with a stale log and a short timeout could keep better candidates from
    // ever running (found by the simulation).
    const node = single(0, [0, 1, 2], durableWith(1, [data(0n, 1)]));
    const deadline = node.start(0).nextDeadlineMs as number;
    const out = node.receive(1, voteRequest(7, 1, 0, 0n), 10);
    expect(voteReplies(out)[0]).toMatchObject({ epoch: 7, voteGranted: false });
    expect(out.nextDeadlineMs).toBe(deadline);
    // Granting a vote, on the other hand, restarts the timer to give the candidate time to win.
    const granted = node.receive(2, voteRequest(8, 2, 1, 1n), 20);
    expect(voteReplies(granted)[0]).toMatchObject({ epoch: 8, voteGranted: true });
    expect(granted.nextDeadlineMs).toBeGreaterThanOrEqual(20 + RAFT_CONFIG_DEFAULTS['controller.quorum.election.timeout.ms']);
  });

  it('refuses a vote request from a non-voter, and an observer never grants one', () => {
    const node = single(0, [0, 1, 2]);
    node.start(0);
    expect(voteReplies(node.receive(7, voteRequest(1, 7), 1))[0]).toMatchObject({ voteGranted: false, error: 'INCONSISTENT_VOTER_SET' });
    const observer = single(9, [0, 1, 2], undefined, { observer: true });
    observer.start(0);
    expect(voteReplies(observer.receive(1, voteRequest(4, 1), 1))[0]).toMatchObject({ voteGranted: false });
    expect(observer.votedFor).toBeUndefined();
    expect(observer.epoch).toBe(4);
  });

  it('a restarted voter keeps its epoch and vote: no second vote in the same epoch after a crash', () => {
    const durable = createRaftDurableState<string>();
    const before = single(0, [0, 1, 2], durable);
    before.start(0);
    expect(voteReplies(before.receive(1, voteRequest(3, 1), 1))[0]?.voteGranted).toBe(true);
    // Crash: only `durable` survives.
    const after = single(0, [0, 1, 2], durable);
    after.start(2);
    expect(after.epoch).toBe(3);
    expect(after.votedFor).toBe(1);
    expect(after.role).toBe('unattached');
    expect(voteReplies(after.receive(2, voteRequest(3, 2), 3))[0]?.voteGranted).toBe(false);
    expect(voteReplies(after.receive(1, voteRequest(3, 1), 4))[0]?.voteGranted).toBe(true);
  });

  it('a restarted follower resumes fetching from the leader it remembers', () => {
    const net = new Net([0, 1, 2]);
    for (const id of [0, 1, 2]) net.add(id);
    net.runFor(3000);
    const leader = net.leaders()[0] as RaftNode<string>;
    const fid = [0, 1, 2].find((id) => id !== leader.id) as number;
    net.crash(fid);
    const restarted = net.add(fid);
    expect(restarted.role).toBe('follower');
    expect(restarted.leaderId).toBe(leader.id);
    expect(net.queue.some((e) => e.from === fid && e.message.type === 'fetch.request')).toBe(true);
    net.runFor(100);
    expect(restarted.highWatermark).toBe(leader.highWatermark);
  });

  it('a restarted leader comes back resigned and never votes again in the epoch it led', () => {
    const net = new Net([0, 1, 2]);
    for (const id of [0, 1, 2]) net.add(id);
    net.runFor(3000);
    const leader = net.leaders()[0] as RaftNode<string>;
    const epoch = leader.epoch;
    net.crash(leader.id);
    const back = net.add(leader.id);
    expect(back.role).toBe('resigned');
    expect(back.epoch).toBe(epoch);
    const other = [0, 1, 2].find((id) => id !== leader.id) as number;
    expect(voteReplies(back.receive(other, voteRequest(epoch, other, 99, 99n), net.now))[0]?.voteGranted).toBe(false);
  });
});

describe('raft commit rule', () => {
  it('never commits an older epoch entry by counting replicas (Raft Figure 8), and the diverging follower truncates', () => {
    // Five voters. Offset 1 holds an epoch-2 entry on nodes 1, 2, 3 (a majority) and an epoch-3
    // entry on node 5. Node 1 leads epoch 4 but must not commit offset 1 by counting; node 5 may
    // later win epoch 5 and overwrite it.
    const voters = [1, 2, 3, 4, 5];
    const net = new Net(voters);
    net.add(1, { durable: durableWith(3, [data(0n, 1), data(1n, 2)]) });
    net.add(2, { durable: durableWith(3, [data(0n, 1), data(1n, 2)]) });
    net.add(3, { durable: durableWith(3, [data(0n, 1), data(1n, 2)]) });
    net.add(4, { durable: durableWith(3, [data(0n, 1)]) });
    net.add(5, { durable: durableWith(3, [data(0n, 1), data(1n, 3)]) });

    net.fire(1);
    net.deliverAll((e) => e.message.type !== 'fetch.response');
    const s1 = net.node(1);
    expect(s1.role).toBe('leader');
    expect(s1.epoch).toBe(4);
    expect(s1.entryAt(2n)).toMatchObject({ kind: 'leaderChange', epoch: 4 });
    // Nodes 2 and 3 fetched at offset 2 (so 3 of 5 hold offset 1, epoch 2); their responses were lost.
    expect(net.sent.filter((e) => e.to === 1 && e.message.type === 'fetch.request').map((e) => [e.from, (e.message as FetchRequest).fetchOffset])).toEqual(
      expect.arrayContaining([
        [2, 2n],
        [3, 2n],
      ]),
    );
    expect(s1.highWatermark).toBe(0n);
    for (const id of voters) expect(net.committed.get(id)).toEqual([]);

    // Node 1 crashes; node 5 (last epoch 3) wins epoch 5 with votes from 2, 3 and 4.
    net.crash(1);
    net.fire(5);
    net.deliverAll();
    const s5 = net.node(5);
    expect(s5.role).toBe('leader');
    expect(s5.epoch).toBe(5);
    net.runFor(50);
    // Nodes 2 and 3 were told to diverge at (epoch 1, end 1) and dropped their epoch-2 entry.
    const diverged = net.sent.filter((e) => e.message.type === 'fetch.response' && (e.message as FetchResponse<string>).divergingEpoch !== undefined).map((e) => [e.to, (e.message as FetchResponse<string>).divergingEpoch]);
    expect(diverged).toEqual(
      expect.arrayContaining([
        [2, { epoch: 1, endOffset: 1n }],
        [3, { epoch: 1, endOffset: 1n }],
      ]),
    );
    for (const id of [2, 3, 4, 5]) {
      expect(net.node(id).entryAt(1n)).toMatchObject({ epoch: 3 });
      expect((net.committed.get(id) as RaftEntry<string>[]).map((e) => `${e.offset}:${e.epoch}`)).toEqual(['0:1', '1:3', '2:5']);
    }

    // Node 1 returns (resigned in epoch 4) and converges through two rounds of divergence (KIP-279).
    net.add(1);
    net.runFor(5000);
    expect(net.node(1).leaderId).toBe(5);
    expect(net.node(1).entries().map((e) => `${e.offset}:${e.epoch}`)).toEqual(['0:1', '1:3', '2:5']);
    expect((net.committed.get(1) as RaftEntry<string>[]).map((e) => `${e.offset}:${e.epoch}`)).toEqual(['0:1', '1:3', '2:5']);
  });

  it('answers a fetch whose last epoch is unknown to the leader with the largest epoch below it and its end', () => {
    const net = new Net([0, 1, 2]);
    // Node 0 will lead epoch 5 over [e1, e1, e3]; node 1 holds [e1, e2, e2, e2] from a lost epoch.
    net.add(0, { durable: durableWith(4, [data(0n, 1), data(1n, 1), data(2n, 3)]) });
    net.add(1, { durable: durableWith(4, [data(0n, 1), data(1n, 2), data(2n, 2), data(3n, 2)]) });
    net.add(2, { durable: durableWith(4, [data(0n, 1), data(1n, 1), data(2n, 3)]) });
    net.fire(0);
    net.deliverAll();
    expect(net.node(0).role).toBe('leader');
    const diverging = net.sent.find((e) => e.to === 1 && e.message.type === 'fetch.response' && e.message.divergingEpoch !== undefined)?.message as FetchResponse<string>;
    expect(diverging.divergingEpoch).toEqual({ epoch: 1, endOffset: 2n });
    net.runFor(100);
    expect(net.node(1).entries().map((e) => `${e.offset}:${e.epoch}`)).toEqual(['0:1', '1:1', '2:3', '3:5']);
    expect(net.node(1).highWatermark).toBe(4n);
  });

  it('the leader high watermark never goes backwards when a follower truncates', () => {
    const net = new Net([0, 1, 2]);
    for (const id of [0, 1, 2]) net.add(id);
    net.runFor(3000);
    const leader = net.leaders()[0] as RaftNode<string>;
    const hws: bigint[] = [];
    for (let i = 0; i < 5; i++) {
      net.append([`p${i}`]);
      net.runFor(20);
      hws.push(leader.highWatermark);
    }
    expect([...hws].sort((a, b) => (a < b ? -1 : 1))).toEqual(hws);
    expect(hws[4]).toBe(leader.logEndOffset);
  });
});

describe('raft fetch', () => {
  it('a stale-epoch fetch is answered with the leader epoch and id, so the fetcher learns the leader', () => {
    const net = new Net([0, 1, 2]);
    for (const id of [0, 1, 2]) net.add(id);
    net.runFor(3000);
    const leader = net.leaders()[0] as RaftNode<string>;
    const stale: FetchRequest = { type: 'fetch.request', correlationId: 1, epoch: leader.epoch - 1, replicaId: 9, fetchOffset: 0n, lastFetchedEpoch: 0, highWatermark: 0n, maxWaitMs: 0 };
    const out = leader.receive(9, stale, net.now);
    expect(out.messages[0]?.message).toMatchObject({ type: 'fetch.response', epoch: leader.epoch, leaderId: leader.id, error: 'FENCED_LEADER_EPOCH' });
    const follower = net.node([0, 1, 2].find((id) => id !== leader.id) as number);
    const viaFollower = follower.receive(9, { ...stale, epoch: 0 }, net.now);
    expect(viaFollower.messages[0]?.message).toMatchObject({ epoch: leader.epoch, leaderId: leader.id, error: 'NOT_LEADER_OR_FOLLOWER' });
  });

  it('holds a fetch with nothing new (long poll) and answers it on append or after maxWait', () => {
    const net = new Net([0, 1, 2]);
    for (const id of [0, 1, 2]) net.add(id);
    net.runFor(3000);
    const leader = net.leaders()[0] as RaftNode<string>;
    net.deliverAll();
    expect(net.queue).toEqual([]);
    // Both followers' fetches are parked: the leader's deadline is the long poll's end.
    const parkedUntil = net.deadlines.get(leader.id) as number;
    expect(parkedUntil - net.now).toBeLessThanOrEqual(DEFAULT_FETCH_MAX_WAIT_MS);
    net.append(['now']);
    const answers = net.queue.filter((e) => e.message.type === 'fetch.response');
    expect(answers).toHaveLength(2);
    expect(answers.every((e) => (e.message as FetchResponse<string>).records.length === 1)).toBe(true);
    net.deliverAll();
    // Idle again: after maxWait the leader answers with no records.
    const t = net.deadlines.get(leader.id) as number;
    net.fire(leader.id);
    expect(net.now).toBe(t);
    const empty = net.queue.filter((e) => e.message.type === 'fetch.response');
    expect(empty.length).toBeGreaterThan(0);
    expect(empty.every((e) => (e.message as FetchResponse<string>).records.length === 0)).toBe(true);
  });

  it('ignores duplicate and out-of-date fetch responses', () => {
    const net = new Net([0, 1, 2]);
    for (const id of [0, 1, 2]) net.add(id);
    net.runFor(3000);
    const leader = net.leaders()[0] as RaftNode<string>;
    const fid = [0, 1, 2].find((id) => id !== leader.id) as number;
    net.append(['a']);
    const response = net.queue.find((e) => e.to === fid && e.message.type === 'fetch.response') as Envelope;
    net.deliverAll();
    const before = net.node(fid).entries();
    const out = net.node(fid).receive(leader.id, response.message, net.now);
    expect(out.messages).toEqual([]);
    expect(out.committed).toEqual([]);
    expect(net.node(fid).entries()).toEqual(before);
  });

  it('a follower that lags behind the leader snapshot installs it through fetchSnapshot, then catches up', () => {
    // A request timeout below the fetch timeout, so the lost fetch is retried before an election.
    const net = new Net([0, 1, 2], { 'controller.quorum.request.timeout.ms': 1000 });
    for (const id of [0, 1, 2]) net.add(id);
    net.runFor(3000);
    const leader = net.leaders()[0] as RaftNode<string>;
    const lagging = [0, 1, 2].find((id) => id !== leader.id) as number;
    const cut = (e: Envelope): boolean => e.from !== lagging && e.to !== lagging;
    for (let i = 0; i < 10; i++) net.append([`v${i}`]);
    net.runFor(100, cut);
    const hw = leader.highWatermark;
    const state = { applied: net.payloads(leader.id) };
    expect(leader.snapshot(state, hw)).toEqual({ endOffset: hw, epoch: leader.epoch });
    expect(leader.logStartOffset).toBe(hw);
    expect(leader.entries()).toEqual([]);
    net.append(['after']);
    net.runFor(1100);
    const f = net.node(lagging);
    expect(net.sent.some((e) => e.from === lagging && e.message.type === 'fetchSnapshot.request')).toBe(true);
    expect(net.loaded.get(lagging)).toEqual([{ endOffset: hw, epoch: leader.epoch, state }]);
    expect(f.logStartOffset).toBe(hw);
    expect(f.latestSnapshot?.state).toEqual(state);
    expect(net.payloads(lagging)).toEqual(['after']);
    expect(f.highWatermark).toBe(leader.highWatermark);
    // And after a restart the owner gets the snapshot back first.
    net.crash(lagging);
    net.add(lagging, { start: false });
    const out = net.node(lagging).start(net.now);
    expect(out.loadSnapshot).toEqual({ endOffset: hw, epoch: leader.epoch, state });
  });

  it('snapshot() drops the entries it covers and is a no-op at or below the log start', () => {
    const node = single(0, [0]);
    node.start(0);
    node.append(['a', 'b', 'c'], 1);
    expect(node.snapshot('s1', 2n)).toEqual({ endOffset: 2n, epoch: 1 });
    expect(node.logStartOffset).toBe(2n);
    expect(node.entries().map((e) => e.offset)).toEqual([2n, 3n]);
    expect(node.snapshot('s0', 1n)).toBeUndefined();
    expect(node.latestSnapshot).toEqual({ endOffset: 2n, epoch: 1, state: 's1' });
  });
});

describe('raft observers', () => {
  it('an observer replays committed entries but never votes or starts an election', () => {
    const net = new Net([0, 1, 2]);
    for (const id of [0, 1, 2]) net.add(id);
    const observer = net.add(7, { observer: true });
    net.runFor(3000);
    const leader = net.leaders()[0] as RaftNode<string>;
    net.append(['m1', 'm2']);
    net.runFor(50);
    expect(observer.role).toBe('follower');
    expect(observer.leaderId).toBe(leader.id);
    expect(net.payloads(7)).toEqual(['m1', 'm2']);
    expect(observer.highWatermark).toBe(leader.highWatermark);
    // Cut the voters off: the observer keeps looking for a leader among them, never elects itself.
    const epoch = observer.epoch;
    for (const id of [0, 1, 2]) net.crash(id);
    net.runFor(20_000);
    expect(observer.role).toBe('unattached');
    expect(observer.epoch).toBe(epoch);
    const kinds = new Set(net.sent.filter((e) => e.from === 7).map((e) => e.message.type));
    expect([...kinds]).toEqual(['fetch.request']);
    // Observers are not counted: leader election and commits happen among voters only.
    expect(net.sent.filter((e) => e.to === 7 && e.message.type === 'vote.request')).toEqual([]);
  });

  it('an observer finds the leader by asking any voter', () => {
    const net = new Net([0, 1, 2]);
    for (const id of [0, 1, 2]) net.add(id);
    net.runFor(3000);
    const leader = net.leaders()[0] as RaftNode<string>;
    const observer = net.add(8, { observer: true });
    net.runFor(200);
    expect(observer.leaderId).toBe(leader.id);
    expect(observer.epoch).toBe(leader.epoch);
  });
});

describe('raft check quorum', () => {
  it('a leader cut off from the voters resigns after 1.5 × fetch.timeout and stops accepting appends', () => {
    const net = new Net([0, 1, 2]);
    for (const id of [0, 1, 2]) net.add(id);
    net.runFor(3000);
    const leader = net.leaders()[0] as RaftNode<string>;
    const cut = (e: Envelope): boolean => e.from !== leader.id && e.to !== leader.id;
    // The followers' last fetches reached it within the last long poll (500 ms); it holds on for
    // 1.5 × fetch.timeout after them, no longer.
    const checkQuorumMs = 1.5 * RAFT_CONFIG_DEFAULTS['controller.quorum.fetch.timeout.ms'];
    net.runFor(checkQuorumMs - DEFAULT_FETCH_MAX_WAIT_MS - 1, cut);
    expect(leader.role).toBe('leader');
    net.runFor(DEFAULT_FETCH_MAX_WAIT_MS + 1, cut);
    expect(leader.role).toBe('resigned');
    expect(leader.leaderId).toBeUndefined();
    expect(leader.append(['late'], net.now).type).toBe('notLeader');
  });
});
