/**
 * A controller of the KRaft-style metadata quorum. Every controller holds one replica of the
 * `__cluster_metadata` log (a {@link RaftNode}) and the metadata image replayed from its committed
 * records. The Raft leader, once it has committed an entry of its own epoch, is the active
 * controller: it alone answers requests. It computes each change with the pure functions in
 * `metadata.ts` (image → image) on top of what it has appended so far, turns the change into
 * metadata records (`metadataLog/records.ts`), appends them, and answers once they are committed on a
 * majority of voters, as Kafka's `QuorumController` does. Every controller replays committed
 * records into the same image; brokers fetch the log as Raft observers and replay it too.
 * The others answer NOT_CONTROLLER with the leader they know of.
 *
 * Besides the log the active controller keeps one piece of soft state, as Kafka's
 * `BrokerHeartbeatManager`: the live broker sessions. A registration or heartbeat (re)arms a
 * delayed `broker.sessionExpired` event `broker.session.timeout.ms` ahead on the actor's clock;
 * when it fires, the broker is fenced and its partitions get new leaders. A newly active
 * controller starts a fresh session for every unfenced broker, as Kafka's does. When the
 * in-process network reports that a broker's actor stopped, the broker is fenced at once.
 *
 * Each step returns the context changes and a list of effects (sends, notifications, the Raft
 * timer and session timers) as data, carried out by `enqueueDecision` (coordination/effects.ts),
 * the same way the group and transaction machines carry out theirs.
 */
import type { Logger } from '../../logger.ts';
import { enqueueActions, setup } from 'xstate';
import type { Clock } from '../../clock.ts';
import { KafkaProtocolError, SamsaError } from '../../errors.ts';
import type { Random } from '../../random.ts';
import type { Message, NodeId } from '../../transport/transport.ts';
import { brokerIdOf } from '../../transport/transport.ts';
import type { ClusterMetadataImage } from '../../protocol/index.ts';
import { wireError } from '../../protocol/index.ts';
import type { WireError } from '../../protocol/index.ts';
import {
  registerBroker,
  uncleanElectionEnabled,
  withBrokerFenced,
  withBrokerUnfenced,
  withIsrChange,
  withLeaderlessElected,
  withLeadersElected,
  withoutTopic,
  withPartitions,
  withTopic,
  withTopicConfig,
} from './metadata.ts';
import type { NewTopic } from './metadata.ts';
import { emptyImage, replayMetadata } from '../metadataLog/image.ts';
import { BROKER_SESSION_TIMEOUT_MS, quorumIdOf, quorumNodeOf } from '../metadataLog/quorum.ts';
import type { QuorumMessage } from '../metadataLog/quorum.ts';
import { recordsBetween } from '../metadataLog/records.ts';
import type { MetadataRecord } from '../metadataLog/records.ts';
import type { RaftConfig } from '../metadataLog/raft/config.ts';
import type { RaftDurableState, RaftEntry } from '../metadataLog/raft/log.ts';
import type { RaftOutput } from '../metadataLog/raft/messages.ts';
import { RaftNode } from '../metadataLog/raft/raftNode.ts';
import { messageAs, toWire } from '../../protocol/index.ts';
import { effect, enqueueDecision } from '../coordination/effects.ts';
import type { Effect, EffectPorts } from '../coordination/effects.ts';

/**
 * Committed metadata entries between two snapshots of the metadata log (Kafka snapshots by bytes,
 * `metadata.log.max.record.bytes.between.snapshots`, and by time; samsa counts entries).
 */
export const METADATA_SNAPSHOT_INTERVAL_ENTRIES = 1_000;

/** What a controller actor is created with. */
export interface ControllerInput {
  readonly id: number;
  /** Ids of every controller of the quorum (`controller.quorum.voters`), this one included. */
  readonly voters: readonly number[];
  readonly clusterId: string;
  readonly random: Random;
  /** The actor's clock (the same one the actor is created with), for the Raft core's times. */
  readonly clock: Clock;
  /** This controller's log, vote and snapshot: kept by the owner across crashes, as a disk would. */
  readonly durable: RaftDurableState<MetadataRecord>;
  /** Quorum settings with Kafka's keys (`controller.quorum.election.timeout.ms`, …). */
  readonly raftConfig?: RaftConfig;
  /** Sends a message from this controller's node. */
  readonly send: (to: NodeId, message: Message) => void;
  /** Inspection hook for `@samsa.*` events. */
  readonly notify?: (event: { type: string; [k: string]: unknown }) => void;
  /** `broker.session.timeout.ms`: a broker without a heartbeat for this long is fenced (default 9000). */
  readonly brokerSessionTimeoutMs?: number;
  /** Where the controller logs elections and fencing (default: silent). */
  readonly logger?: Logger;
}

/** A reply held until the records of its change are committed. */
interface HeldReply {
  /** Offset of the last record the change appended (or the change it waits behind). */
  readonly offset: bigint;
  /** Epoch the records were appended in: a different epoch at `offset` means they were lost. */
  readonly epoch: number;
  readonly to: NodeId;
  readonly correlationId: number | undefined;
  readonly reply: Record<string, unknown>;
}

interface ControllerContext {
  readonly id: number;
  readonly random: Random;
  readonly clock: Clock;
  readonly raft: RaftNode<MetadataRecord>;
  readonly send: (to: NodeId, message: Message) => void;
  readonly notify: (event: { type: string; [k: string]: unknown }) => void;
  readonly sessionTimeoutMs: number;
  /** The image replayed from every committed entry. */
  readonly image: ClusterMetadataImage;
  /** The active controller's image including appended, not yet committed changes. */
  readonly pending: ClusterMetadataImage;
  /** Replies waiting for their records to commit, in offset order. */
  readonly held: readonly HeldReply[];
  /** Broker id → epoch of its live session (a timer is armed for each; active controller only). */
  readonly sessions: Readonly<Record<number, number>>;
  /** Committed entries since the last snapshot. */
  readonly sinceSnapshot: number;
  /** Whether this controller is the active one (Raft leader with its own epoch committed). */
  readonly active: boolean;
}

/** Events the controller accepts. */
export type ControllerEvent = { type: 'net.message'; message: Message; from: NodeId } | { type: 'broker.sessionExpired'; brokerId: number; epoch: number } | { type: 'raft.tick' } | { type: 'controller.activated' } | { type: 'controller.resigned' };

/** Topic result of an admin request. */
export interface TopicResult extends Partial<WireError> {
  readonly name: string;
}

function errorOf(e: unknown): WireError {
  if (KafkaProtocolError.isKafka(e)) return { error: e.code, errorCode: e.errorCode, message: e.message };
  if (SamsaError.is(e)) return { ...wireError('INVALID_REQUEST', e.message) };
  return wireError('UNKNOWN_SERVER_ERROR', e instanceof Error ? e.message : String(e));
}

function randomId(random: Random): string {
  let out = '';
  for (let i = 0; i < 32; i++) out += '0123456789abcdef'[random.int(16)];
  return out;
}

/** What handling one request decided: the new image, the replies, and session timers to (re)arm. */
interface Outcome {
  readonly image: ClusterMetadataImage;
  readonly reply?: Record<string, unknown>;
  /** Sessions to start or refresh: broker id → epoch. */
  readonly touch?: { readonly brokerId: number; readonly epoch: number };
  /** A session to end without waiting for it to expire (a broker in controlled shutdown). */
  readonly release?: number;
}

/** What a request is handled against: the image so far, the live sessions, the seeded random. */
interface HandleState {
  readonly image: ClusterMetadataImage;
  readonly sessions: Readonly<Record<number, number>>;
  readonly random: Random;
}

/** Handles one request against `state.image`. Pure except for the random topic ids. */
function handle(context: HandleState, message: Message): Outcome | undefined {
  let image = context.image;
  const results: TopicResult[] = [];
  const apply = (name: string, change: () => ClusterMetadataImage): void => {
    try {
      image = change();
      results.push({ name });
    } catch (e) {
      results.push({ name, ...errorOf(e) });
    }
  };
  switch (message.type) {
    case 'brokerRegistration.request': {
      const request = messageAs(message, 'brokerRegistration.request');
      // Brokers of older builds send no incarnation id: every registration is then a new process.
      const incarnationId = typeof request.incarnationId === 'string' ? request.incarnationId : `anonymous-${context.image.version}`;
      try {
        image = registerBroker(image, request.brokerId, incarnationId, context.sessions[request.brokerId] !== undefined);
      } catch (e) {
        return { image, reply: { type: 'brokerRegistration.response', ...errorOf(e) } };
      }
      const epoch = image.brokers.find((b) => b.id === request.brokerId)?.epoch ?? image.version;
      return { image, reply: { type: 'brokerRegistration.response', brokerEpoch: epoch }, touch: { brokerId: request.brokerId, epoch } };
    }
    case 'brokerHeartbeat.request': {
      const request = messageAs(message, 'brokerHeartbeat.request');
      const registration = image.brokers.find((b) => b.id === request.brokerId);
      if (registration === undefined) return { image, reply: { type: 'brokerHeartbeat.response', ...wireError('BROKER_ID_NOT_REGISTERED', `broker ${request.brokerId} is not registered; register first`) } };
      if (registration.epoch !== undefined && registration.epoch !== request.brokerEpoch) return { image, reply: { type: 'brokerHeartbeat.response', ...wireError('STALE_BROKER_EPOCH', `broker ${request.brokerId} heartbeats with epoch ${request.brokerEpoch}; its registration has epoch ${registration.epoch}`) } };
      if (request.wantShutDown === true) {
        // Controlled shutdown: fencing moves every leadership away and takes the broker out of
        // every ISR (Kafka keeps the sole ISR member leading until it goes; either way its
        // partitions are offline once it stops). The reply waits for the change to commit, so a
        // broker that stops on it leaves nothing waiting on it.
        return { image: withBrokerFenced(image, request.brokerId), reply: { type: 'brokerHeartbeat.response', isFenced: true, shouldShutDown: true }, release: request.brokerId };
      }
      // A fenced broker that heartbeats again (a healed network, a long pause) comes back once it
      // has the metadata it was registered at (Kafka: caught up with the metadata log).
      if (registration.fenced && request.currentMetadataVersion >= (registration.epoch ?? 0)) image = withBrokerUnfenced(image, request.brokerId);
      const fenced = image.brokers.find((b) => b.id === request.brokerId)?.fenced ?? true;
      return { image, reply: { type: 'brokerHeartbeat.response', isFenced: fenced }, touch: { brokerId: request.brokerId, epoch: request.brokerEpoch } };
    }
    case 'alterPartition.request': {
      const request = messageAs(message, 'alterPartition.request');
      const base = { type: 'alterPartition.response', topic: request.topic, partition: request.partition };
      try {
        const changed = withIsrChange(image, request);
        image = changed.image;
        const p = changed.partition;
        return { image, reply: { ...base, leader: p.leader, leaderEpoch: p.leaderEpoch, partitionEpoch: p.partitionEpoch, isr: p.isr } };
      } catch (e) {
        return { image, reply: { ...base, ...errorOf(e) } };
      }
    }
    case 'electLeaders.request': {
      const type = message.electionType === 'unclean' ? 'unclean' : 'preferred';
      const elected = withLeadersElected(image, type, message.partitions as Array<{ topic: string; partition: number }> | undefined);
      image = elected.image;
      const results = elected.results.map((r) => {
        const p = image.topics[r.topic]?.partitions[r.partition];
        return { topic: r.topic, partition: r.partition, ...(r.error === undefined ? { leader: p?.leader, leaderEpoch: p?.leaderEpoch } : wireError(r.error)) };
      });
      return { image, reply: { type: 'electLeaders.response', results } };
    }
    case 'metadata.request':
      return { image, reply: { type: 'metadata.response', image } };
    case 'allocateProducerIds.request': {
      // Kafka's AllocateProducerIds: a registered broker gets the next block of ids, recorded in
      // the metadata log before the answer, so no id is ever handed out twice, whatever fails.
      const registration = image.brokers.find((b) => b.id === message.brokerId);
      if (registration === undefined) return { image, reply: { type: 'allocateProducerIds.response', ...wireError('BROKER_ID_NOT_REGISTERED', `broker ${String(message.brokerId)} is not registered; register first`) } };
      if (registration.epoch !== message.brokerEpoch) return { image, reply: { type: 'allocateProducerIds.response', ...wireError('STALE_BROKER_EPOCH', `broker ${String(message.brokerId)} asks with epoch ${String(message.brokerEpoch)}; its registration has epoch ${String(registration.epoch)}`) } };
      const start = image.nextProducerId;
      image = { ...image, nextProducerId: start + PRODUCER_ID_BLOCK_SIZE };
      return { image, reply: { type: 'allocateProducerIds.response', producerIdStart: BigInt(start), producerIdLen: PRODUCER_ID_BLOCK_SIZE } };
    }
    case 'createTopics.request':
      for (const topic of message.topics as NewTopic[]) apply(topic.name, () => withTopic(image, topic, context.random, randomId(context.random)));
      return { image, reply: { type: 'createTopics.response', results } };
    case 'deleteTopics.request':
      for (const name of message.names as string[]) apply(name, () => withoutTopic(image, name));
      return { image, reply: { type: 'deleteTopics.response', results } };
    case 'createPartitions.request':
      for (const t of message.topics as Array<{ name: string; count: number }>) apply(t.name, () => withPartitions(image, t.name, t.count, context.random));
      return { image, reply: { type: 'createPartitions.response', results } };
    case 'alterConfigs.request':
      for (const t of message.topics as Array<{ name: string; config: Record<string, unknown> }>) {
        apply(t.name, () => {
          const configured = withTopicConfig(image, t.name, t.config);
          // Allowing unclean elections gives offline partitions a leader now (Kafka runs them
          // on its next unclean-election pass, every unclean.leader.election.interval.ms).
          return uncleanElectionEnabled(configured, t.name) ? withLeaderlessElected(configured, t.name) : configured;
        });
      }
      return { image, reply: { type: 'alterConfigs.response', results } };
    default:
      // Only requests get an answer: answering a response would let two nodes bounce errors forever.
      if (message.type.endsWith('.request')) return { image, reply: { type: `${message.type.replace(/\.request$/, '')}.response`, ...wireError('INVALID_REQUEST', `the controller does not handle "${message.type}"`) } };
      return undefined;
  }
}

/** The `@samsa.*` events that tell what changed between two images. */
function changesBetween(before: ClusterMetadataImage, after: ClusterMetadataImage): Array<{ type: string; [k: string]: unknown }> {
  const events: Array<{ type: string; [k: string]: unknown }> = [];
  for (const name of Object.keys(after.topics)) if (before.topics[name] === undefined) events.push({ type: '@samsa.topic.created', topic: name, partitions: after.topics[name]?.partitions.length });
  for (const name of Object.keys(before.topics)) if (after.topics[name] === undefined) events.push({ type: '@samsa.topic.deleted', topic: name });
  const old = new Map(before.brokers.map((b) => [b.id, b]));
  for (const b of after.brokers) {
    const was = old.get(b.id);
    if (was === undefined || was.epoch !== b.epoch) events.push({ type: '@samsa.broker.registered', brokerId: b.id, brokerEpoch: b.epoch });
    else if (!was.fenced && b.fenced) events.push({ type: '@samsa.broker.fenced', brokerId: b.id });
    else if (was.fenced && !b.fenced) events.push({ type: '@samsa.broker.unfenced', brokerId: b.id });
  }
  for (const [name, topic] of Object.entries(after.topics)) {
    const previous = before.topics[name];
    if (previous === undefined || previous.topicId !== topic.topicId) continue;
    for (const p of topic.partitions) {
      const was = previous.partitions[p.partition];
      if (was === undefined || was === p) continue;
      if (was.leader !== p.leader) events.push({ type: '@samsa.leader.changed', topic: name, partition: p.partition, leader: p.leader, leaderEpoch: p.leaderEpoch, previousLeader: was.leader });
      if (p.isr.length < was.isr.length || p.isr.some((id) => !was.isr.includes(id))) {
        const removed = was.isr.filter((id) => !p.isr.includes(id));
        const added = p.isr.filter((id) => !was.isr.includes(id));
        if (removed.length > 0) events.push({ type: '@samsa.isr.shrunk', topic: name, partition: p.partition, isr: p.isr, removed, partitionEpoch: p.partitionEpoch });
        if (added.length > 0) events.push({ type: '@samsa.isr.expanded', topic: name, partition: p.partition, isr: p.isr, added, partitionEpoch: p.partitionEpoch });
      }
    }
  }
  return events;
}

const sessionId = (brokerId: number): string => `session:${brokerId}`;
const RAFT_TICK = 'raft.tick';

/** The effects one controller step decides, carried out by {@link enqueueDecision} in order. */
type Effects = Effect<ControllerEvent>[];

/** Where the controller's `send` and `notify` effects go. */
const portsOf = (c: ControllerContext): EffectPorts => ({ send: c.send, notify: c.notify });

/** Producer ids per AllocateProducerIds block (Kafka's `ProducerIdsBlock.PRODUCER_ID_BLOCK_SIZE`). */
export const PRODUCER_ID_BLOCK_SIZE = 1000;

/** The committed entry at `offset` in this output, if it carries it. */
function committedAt(output: RaftOutput<MetadataRecord>, offset: bigint): RaftEntry<MetadataRecord> | undefined {
  const first = output.committed[0];
  if (first === undefined || offset < first.offset) return undefined;
  return output.committed[Number(offset - first.offset)];
}

/**
 * Takes one output of the Raft core into the controller: sends its messages, replays what was
 * committed, answers the replies it releases, notices activation and resignation, snapshots, and
 * re-arms the Raft timer. Returns the context changes.
 */
function absorb(c: ControllerContext, output: RaftOutput<MetadataRecord>, fx: Effects, base: Partial<ControllerContext> = {}): Partial<ControllerContext> {
  const raft = c.raft;
  for (const { to, message } of output.messages) {
    const envelope: QuorumMessage = { type: 'quorum.message', message };
    fx.push(effect.send(quorumNodeOf(to), toWire(envelope)));
  }
  const before = base.image ?? c.image;
  const image = output.committed.length === 0 && output.loadSnapshot === undefined ? before : replayMetadata(before, output);
  let held = base.held ?? c.held;
  const release = (h: HeldReply, ok: boolean): void => {
    const reply = ok ? ('image' in h.reply ? { ...h.reply, image } : h.reply) : notController(h.reply, raft.leaderId);
    if (h.correlationId !== undefined) fx.push(effect.send(h.to, { ...reply, correlationId: h.correlationId } as Message));
  };
  if (held.length > 0 && output.committed.length > 0) {
    const last = output.committed[output.committed.length - 1] as RaftEntry<MetadataRecord>;
    const remaining: HeldReply[] = [];
    for (const h of held) {
      if (h.offset > last.offset) remaining.push(h);
      // Held replies are released as soon as their offset commits, so it is in this output.
      else release(h, committedAt(output, h.offset)?.epoch === h.epoch);
    }
    held = remaining;
  }
  const patch: { -readonly [K in keyof ControllerContext]?: ControllerContext[K] } = { ...base, image, held };
  let active = base.active ?? c.active;
  const leading = raft.role === 'leader';
  if (active && !leading) {
    // Lost the leadership: what was appended may or may not commit under the next leader.
    active = false;
    for (const h of held) release(h, false);
    patch.held = [];
    patch.pending = image;
    for (const id of Object.keys(c.sessions)) fx.push(effect.cancel(sessionId(Number(id))));
    patch.sessions = {};
    const epoch = raft.epoch;
    fx.push(effect.notify({ type: '@samsa.controller.resigned', controllerId: c.id, epoch }));
  } else if (!active && leading && output.committed.some((e) => e.kind === 'leaderChange' && e.epoch === raft.epoch && e.leaderId === c.id)) {
    // Our own LeaderChange is committed: everything before it is too, so the image is complete.
    active = true;
    patch.pending = image;
    const sessions: Record<number, number> = {};
    for (const b of image.brokers) {
      if (b.fenced || b.epoch === undefined) continue;
      sessions[b.id] = b.epoch;
      fx.push(effect.cancel(sessionId(b.id)), effect.schedule<ControllerEvent>({ type: 'broker.sessionExpired', brokerId: b.id, epoch: b.epoch }, c.sessionTimeoutMs, sessionId(b.id)));
    }
    patch.sessions = sessions;
    const epoch = raft.epoch;
    fx.push(effect.notify({ type: '@samsa.controller.activated', controllerId: c.id, epoch }));
  }
  patch.active = active;
  // Brokers learn the change by fetching the log; the active controller tells the inspectors.
  if (active && image !== before) for (const e of changesBetween(before, image)) fx.push(effect.notify(e));
  let since = (base.sinceSnapshot ?? c.sinceSnapshot) + output.committed.length;
  if (since >= METADATA_SNAPSHOT_INTERVAL_ENTRIES && raft.highWatermark > raft.logStartOffset) {
    raft.snapshot(image, raft.highWatermark);
    since = 0;
  }
  patch.sinceSnapshot = since;
  fx.push(effect.cancel(RAFT_TICK));
  if (output.nextDeadlineMs !== undefined) fx.push(effect.schedule<ControllerEvent>({ type: 'raft.tick' }, Math.max(0, output.nextDeadlineMs - c.clock.now()), RAFT_TICK));
  return patch;
}

/** NOT_CONTROLLER in the shape of `reply`, pointing at the leader this controller knows of. */
function notController(reply: Record<string, unknown>, leaderId: number | undefined): Record<string, unknown> {
  return { type: reply.type, ...wireError('NOT_CONTROLLER', leaderId === undefined ? 'this controller is not active and knows no active controller yet; retry shortly' : `this controller is not active; send to controller ${leaderId}`), controllerId: leaderId ?? -1 };
}

/**
 * Handles a request on the active controller: computes the change on top of what is appended,
 * appends its records and holds the reply until they commit. A request that changes nothing is
 * answered at once, or after the changes appended before it, so a client reads its own writes.
 */
function serve(c: ControllerContext, message: Message, from: NodeId, fx: Effects): Partial<ControllerContext> {
  const outcome = handle({ image: c.pending, sessions: c.sessions, random: c.random }, message);
  if (outcome === undefined) return {};
  const { reply, touch, release } = outcome;
  const patch: { -readonly [K in keyof ControllerContext]?: ControllerContext[K] } = {};
  if (release !== undefined && c.sessions[release] !== undefined) {
    // The broker said goodbye: its session ends now, and its next process registers at once.
    fx.push(effect.cancel(sessionId(release)));
    const sessions = { ...c.sessions };
    delete sessions[release];
    patch.sessions = sessions;
  }
  if (touch !== undefined) {
    // Re-arm the session: cancel the pending expiry, then schedule a new one.
    fx.push(effect.cancel(sessionId(touch.brokerId)), effect.schedule<ControllerEvent>({ type: 'broker.sessionExpired', brokerId: touch.brokerId, epoch: touch.epoch }, c.sessionTimeoutMs, sessionId(touch.brokerId)));
    if (c.sessions[touch.brokerId] !== touch.epoch) patch.sessions = { ...c.sessions, [touch.brokerId]: touch.epoch };
  }
  const records = outcome.image === c.pending ? [] : recordsBetween(c.pending, outcome.image);
  const isRequest = message.type.endsWith('.request') && reply !== undefined;
  if (records.length === 0) {
    const last = c.held[c.held.length - 1];
    if (isRequest && last !== undefined) patch.held = [...c.held, { ...last, to: from, correlationId: message.correlationId, reply }];
    else if (isRequest) {
      const answer = 'image' in reply ? { ...reply, image: c.image } : reply;
      fx.push(effect.send(from, { ...answer, correlationId: message.correlationId } as Message));
    }
    return patch;
  }
  const appended = c.raft.append(records, c.clock.now());
  if (appended.type === 'notLeader') {
    if (isRequest) fx.push(effect.send(from, { ...notController(reply, appended.leaderId), correlationId: message.correlationId } as Message));
    return { ...patch, ...absorb({ ...c, ...patch }, appended.output, fx) };
  }
  const held: HeldReply[] = [...c.held, { offset: appended.lastOffset, epoch: appended.epoch, to: from, correlationId: isRequest ? message.correlationId : undefined, reply: reply ?? {} }];
  const next = { ...c, ...patch, pending: outcome.image, held };
  return { ...patch, pending: outcome.image, held, ...absorb(next, appended.output, fx, { held }) };
}

/** Appends an internal change (a fenced broker) on the active controller; no one waits for it. */
function change(c: ControllerContext, after: ClusterMetadataImage, fx: Effects, patch: Partial<ControllerContext>): Partial<ControllerContext> {
  const records = recordsBetween(c.pending, after);
  if (records.length === 0) return patch;
  const appended = c.raft.append(records, c.clock.now());
  if (appended.type === 'notLeader') return { ...patch, ...absorb({ ...c, ...patch }, appended.output, fx) };
  const next = { ...c, ...patch, pending: after };
  return { ...patch, pending: after, ...absorb(next, appended.output, fx) };
}

/** One message to the controller: Raft traffic, a broker's disconnection, or a request. */
function onMessage(c: ControllerContext, message: Message, from: NodeId, fx: Effects): Partial<ControllerContext> {
  if (message.type === 'quorum.message') {
    const sender = quorumIdOf(from);
    if (sender === undefined) return {};
    return absorb(c, c.raft.receive(sender, (message as QuorumMessage).message, c.clock.now()), fx);
  }
  if (message.type === 'transport.disconnected') {
    // The in-process network says this only when a node's actor has stopped (a crash), never
    // for a slow or cut link, so the broker is known dead: fence it now instead of waiting out
    // broker.session.timeout.ms. Across processes no such notice exists and the session
    // timeout alone decides, as in Kafka.
    const brokerId = brokerIdOf(from);
    if (!c.active || brokerId === undefined || c.sessions[brokerId] === undefined) return {};
    fx.push(effect.cancel(sessionId(brokerId)));
    const sessions = { ...c.sessions };
    delete sessions[brokerId];
    return change(c, withBrokerFenced(c.pending, brokerId), fx, { sessions });
  }
  if (c.active) return serve(c, message, from, fx);
  // Only requests get an answer: answering a response would let two nodes bounce errors forever.
  if (!message.type.endsWith('.request')) return {};
  const reply = notController({ type: `${message.type.replace(/\.request$/, '')}.response` }, c.raft.leaderId);
  fx.push(effect.send(from, { ...reply, correlationId: message.correlationId } as Message));
  return {};
}

/**
 * The controller machine. `standby` while it is a Raft follower, candidate or a leader that has
 * not yet committed its own epoch (requests get NOT_CONTROLLER); `active` once it has.
 */
export const controllerMachine = setup({
  types: { context: {} as ControllerContext, input: {} as ControllerInput, events: {} as ControllerEvent },
  actions: {
    startRaft: enqueueActions(({ context: c, enqueue }) => {
      const fx: Effects = [];
      enqueueDecision(enqueue, { context: absorb(c, c.raft.start(c.clock.now()), fx), effects: fx }, portsOf(c));
    }),
    onTick: enqueueActions(({ context: c, enqueue }) => {
      const fx: Effects = [];
      enqueueDecision(enqueue, { context: absorb(c, c.raft.tick(c.clock.now()), fx), effects: fx }, portsOf(c));
    }),
    onMessage: enqueueActions(({ context: c, event, enqueue }) => {
      if (event.type !== 'net.message') return;
      const fx: Effects = [];
      enqueueDecision(enqueue, { context: onMessage(c, event.message, event.from, fx), effects: fx }, portsOf(c));
    }),
    onSessionExpired: enqueueActions(({ context: c, event, enqueue }) => {
      if (event.type !== 'broker.sessionExpired' || !c.active || c.sessions[event.brokerId] !== event.epoch) return;
      const sessions = { ...c.sessions };
      delete sessions[event.brokerId];
      const fx: Effects = [];
      enqueueDecision(enqueue, { context: change(c, withBrokerFenced(c.pending, event.brokerId), fx, { sessions }), effects: fx }, portsOf(c));
    }),
  },
}).createMachine({
  id: 'controller',
  context: ({ input }) => {
    const image = emptyImage(input.clusterId, -1);
    return {
      id: input.id,
      random: input.random,
      clock: input.clock,
      raft: new RaftNode<MetadataRecord>({ id: input.id, voters: input.voters, random: input.random.fork(), durable: input.durable, ...(input.raftConfig === undefined ? {} : { config: input.raftConfig }) }),
      send: input.send,
      notify: input.notify ?? (() => {}),
      sessionTimeoutMs: input.brokerSessionTimeoutMs ?? BROKER_SESSION_TIMEOUT_MS,
      image,
      pending: image,
      held: [],
      sessions: {},
      sinceSnapshot: 0,
      active: false,
    };
  },
  entry: 'startRaft',
  on: {
    'net.message': { actions: 'onMessage' },
    'raft.tick': { actions: 'onTick' },
    'broker.sessionExpired': { actions: 'onSessionExpired' },
  },
  initial: 'standby',
  states: {
    standby: { always: { guard: ({ context }) => context.active, target: 'active' } },
    active: { always: { guard: ({ context }) => !context.active, target: 'standby' } },
  },
});

