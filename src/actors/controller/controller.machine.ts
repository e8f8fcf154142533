/**
 * The controller: owns the cluster metadata image (brokers, topics, partition assignment,
 * leadership and ISRs) and pushes every new version to the brokers. Requests arrive as
 * `net.message` events; the pure functions in `metadata.ts` compute every change (image → image),
 * so they can become replicated metadata records unchanged.
 *
 * Besides the image it keeps one piece of soft state, as Kafka's `BrokerHeartbeatManager`: the
 * live broker sessions. A registration or heartbeat (re)arms a delayed `broker.sessionExpired`
 * event `broker.session.timeout.ms` ahead on the actor's clock; when it fires, the broker is
 * fenced and its partitions get new leaders. The next heartbeat of a fenced broker unfences it.
 */
import { enqueueActions, setup } from 'xstate';
import { KafkaProtocolError, SamsaError } from '../../errors.ts';
import type { Random } from '../../random.ts';
import type { Message, NodeId } from '../../transport/transport.ts';
import { brokerNode } from '../../transport/transport.ts';
import type { AlterPartitionRequest, BrokerHeartbeatRequest, BrokerRegistrationRequest, ClusterMetadataImage } from '../protocol.ts';
import { wireError } from '../protocol.ts';
import type { WireError } from '../protocol.ts';
import {
  emptyImage,
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

/** `broker.session.timeout.ms` (Kafka default 9000). */
export const BROKER_SESSION_TIMEOUT_MS = 9_000;

/** What a controller actor is created with. */
export interface ControllerInput {
  readonly id: number;
  readonly clusterId: string;
  readonly random: Random;
  /** Sends a message from this controller's node. */
  readonly send: (to: NodeId, message: Message) => void;
  /** Inspection hook for `@samsa.*` events. */
  readonly notify?: (event: { type: string; [k: string]: unknown }) => void;
  /** `broker.session.timeout.ms`: a broker without a heartbeat for this long is fenced (default 9000). */
  readonly brokerSessionTimeoutMs?: number;
}

interface ControllerContext {
  readonly id: number;
  readonly random: Random;
  readonly send: (to: NodeId, message: Message) => void;
  readonly notify: (event: { type: string; [k: string]: unknown }) => void;
  readonly sessionTimeoutMs: number;
  readonly image: ClusterMetadataImage;
  /** Broker id → epoch of its live session (a timer is armed for each). */
  readonly sessions: Readonly<Record<number, number>>;
}

/** Events the controller accepts. */
export type ControllerEvent = { type: 'net.message'; message: Message; from: NodeId } | { type: 'broker.sessionExpired'; brokerId: number; epoch: number };

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
}

/** Handles one request against `image`. Pure except for the random topic ids. */
function handle(context: ControllerContext, message: Message): Outcome | undefined {
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
      const request = message as unknown as BrokerRegistrationRequest;
      // Brokers of older builds send no incarnation id: every registration is then a new process.
      const incarnationId = typeof request.incarnationId === 'string' ? request.incarnationId : `anonymous-${context.image.version}`;
      try {
        image = registerBroker(image, request.brokerId, incarnationId, context.sessions[request.brokerId] !== undefined);
      } catch (e) {
        return { image, reply: { type: 'brokerRegistration.response', ...errorOf(e) } };
      }
      const epoch = image.brokers.find((b) => b.id === request.brokerId)?.epoch ?? image.version;
      return { image, reply: { type: 'brokerRegistration.response', brokerEpoch: epoch, image }, touch: { brokerId: request.brokerId, epoch } };
    }
    case 'brokerHeartbeat.request': {
      const request = message as unknown as BrokerHeartbeatRequest;
      const registration = image.brokers.find((b) => b.id === request.brokerId);
      if (registration === undefined) return { image, reply: { type: 'brokerHeartbeat.response', ...wireError('BROKER_ID_NOT_REGISTERED', `broker ${request.brokerId} is not registered; register first`) } };
      if (registration.epoch !== undefined && registration.epoch !== request.brokerEpoch) return { image, reply: { type: 'brokerHeartbeat.response', ...wireError('STALE_BROKER_EPOCH', `broker ${request.brokerId} heartbeats with epoch ${request.brokerEpoch}; its registration has epoch ${registration.epoch}`) } };
      // A fenced broker that heartbeats again (a healed network, a long pause) comes back once it
      // has the metadata it was registered at (Kafka: caught up with the metadata log).
      if (registration.fenced && request.currentMetadataVersion >= (registration.epoch ?? 0)) image = withBrokerUnfenced(image, request.brokerId);
      const fenced = image.brokers.find((b) => b.id === request.brokerId)?.fenced ?? true;
      // A broker behind on metadata (it missed a push while cut off) catches up with the answer,
      // as a Kafka broker catches up by fetching the metadata log.
      const behind = request.currentMetadataVersion < image.version;
      return { image, reply: { type: 'brokerHeartbeat.response', isFenced: fenced, ...(behind ? { image } : {}) }, touch: { brokerId: request.brokerId, epoch: request.brokerEpoch } };
    }
    case 'alterPartition.request': {
      const request = message as unknown as AlterPartitionRequest;
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

/** The controller machine. One state: it answers everything while it runs. */
export const controllerMachine = setup({
  types: { context: {} as ControllerContext, input: {} as ControllerInput, events: {} as ControllerEvent },
}).createMachine({
  id: 'controller',
  context: ({ input }) => ({
    id: input.id,
    random: input.random,
    send: input.send,
    notify: input.notify ?? (() => {}),
    sessionTimeoutMs: input.brokerSessionTimeoutMs ?? BROKER_SESSION_TIMEOUT_MS,
    image: emptyImage(input.clusterId, input.id),
    sessions: {},
  }),
  initial: 'active',
  states: {
    active: {
      on: {
        'net.message': {
          actions: enqueueActions(({ context, event, enqueue }) => {
            const { message, from } = event;
            const outcome = handle(context, message);
            if (outcome === undefined) return;
            const { image, reply, touch } = outcome;
            if (touch !== undefined) {
              // Re-arm the session: cancel the pending expiry, then schedule a new one.
              enqueue.cancel(sessionId(touch.brokerId));
              enqueue.raise({ type: 'broker.sessionExpired', brokerId: touch.brokerId, epoch: touch.epoch }, { delay: context.sessionTimeoutMs, id: sessionId(touch.brokerId) });
              if (context.sessions[touch.brokerId] !== touch.epoch) enqueue.assign({ sessions: ({ context: c }) => ({ ...c.sessions, [touch.brokerId]: touch.epoch }) });
            }
            if (image !== context.image) enqueue.assign({ image });
            const before = context.image;
            enqueue(() => {
              if (reply !== undefined && message.type.endsWith('.request')) context.send(from, { ...reply, correlationId: message.correlationId } as Message);
              if (image !== before) publish(context, before, image);
            });
          }),
        },
        'broker.sessionExpired': {
          actions: enqueueActions(({ context, event, enqueue }) => {
            if (context.sessions[event.brokerId] !== event.epoch) return;
            const sessions = { ...context.sessions };
            delete sessions[event.brokerId];
            const image = withBrokerFenced(context.image, event.brokerId);
            enqueue.assign({ sessions, image });
            const before = context.image;
            if (image !== before) enqueue(() => publish(context, before, image));
          }),
        },
      },
    },
  },
});

/** Pushes a new image to every registered broker (fenced ones too: they replay metadata) and notifies. */
function publish(context: ControllerContext, before: ClusterMetadataImage, image: ClusterMetadataImage): void {
  for (const b of image.brokers) context.send(brokerNode(b.id), { type: 'metadata.update', image });
  for (const e of changesBetween(before, image)) context.notify(e);
}
