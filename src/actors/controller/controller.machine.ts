/**
 * The controller: owns the cluster metadata image (brokers, topics, partition assignment and
 * leadership) and pushes every new version to the brokers. Requests arrive as `net.message`
 * events; the pure functions in `metadata.ts` do the work.
 */
import { assign, setup } from 'xstate';
import { KafkaProtocolError, SamsaError } from '../../errors.ts';
import type { Random } from '../../random.ts';
import type { Message, NodeId } from '../../transport/transport.ts';
import { brokerNode } from '../../transport/transport.ts';
import type { ClusterMetadataImage } from '../protocol.ts';
import { wireError } from '../protocol.ts';
import type { WireError } from '../protocol.ts';
import { emptyImage, withBroker, withoutTopic, withPartitions, withTopic, withTopicConfig } from './metadata.ts';
import type { NewTopic } from './metadata.ts';

/** What a controller actor is created with. */
export interface ControllerInput {
  readonly id: number;
  readonly clusterId: string;
  readonly random: Random;
  /** Sends a message from this controller's node. */
  readonly send: (to: NodeId, message: Message) => void;
  /** Inspection hook for `@samsa.*` events. */
  readonly notify?: (event: { type: string; [k: string]: unknown }) => void;
}

interface ControllerContext {
  readonly id: number;
  readonly random: Random;
  readonly send: (to: NodeId, message: Message) => void;
  readonly notify: (event: { type: string; [k: string]: unknown }) => void;
  readonly image: ClusterMetadataImage;
}

/** Events the controller accepts. */
export type ControllerEvent = { type: 'net.message'; message: Message; from: NodeId };

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

/** The controller machine. One state: it answers everything while it runs. */
export const controllerMachine = setup({
  types: { context: {} as ControllerContext, input: {} as ControllerInput, events: {} as ControllerEvent },
}).createMachine({
  id: 'controller',
  context: ({ input }) => ({ id: input.id, random: input.random, send: input.send, notify: input.notify ?? (() => {}), image: emptyImage(input.clusterId, input.id) }),
  initial: 'active',
  states: {
    active: {
      on: {
        'net.message': {
          actions: assign(({ context, event }) => {
            const { message, from } = event;
            const reply = (response: Record<string, unknown>): void => context.send(from, { ...response, correlationId: message.correlationId } as Message);
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
              case 'brokerRegistration.request':
                image = withBroker(image, message.brokerId as number);
                reply({ type: 'brokerRegistration.response', image });
                break;
              case 'metadata.request':
                reply({ type: 'metadata.response', image });
                return {};
              case 'createTopics.request':
                for (const topic of message.topics as NewTopic[]) apply(topic.name, () => withTopic(image, topic, context.random, randomId(context.random)));
                reply({ type: 'createTopics.response', results });
                break;
              case 'deleteTopics.request':
                for (const name of message.names as string[]) apply(name, () => withoutTopic(image, name));
                reply({ type: 'deleteTopics.response', results });
                break;
              case 'createPartitions.request':
                for (const t of message.topics as Array<{ name: string; count: number }>) apply(t.name, () => withPartitions(image, t.name, t.count, context.random));
                reply({ type: 'createPartitions.response', results });
                break;
              case 'alterConfigs.request':
                for (const t of message.topics as Array<{ name: string; config: Record<string, unknown> }>) apply(t.name, () => withTopicConfig(image, t.name, t.config));
                reply({ type: 'alterConfigs.response', results });
                break;
              default:
                // Only requests get an answer: answering a response would let two nodes bounce errors forever.
                if (message.type.endsWith('.request')) reply({ type: `${message.type.replace(/\.request$/, '')}.response`, ...wireError('INVALID_REQUEST', `the controller does not handle "${message.type}"`) });
                return {};
            }
            if (image !== context.image) {
              for (const b of image.brokers) context.send(brokerNode(b.id), { type: 'metadata.update', image });
              for (const name of Object.keys(image.topics)) if (context.image.topics[name] === undefined) context.notify({ type: '@samsa.topic.created', topic: name, partitions: image.topics[name]?.partitions.length });
              for (const name of Object.keys(context.image.topics)) if (image.topics[name] === undefined) context.notify({ type: '@samsa.topic.deleted', topic: name });
            }
            return { image };
          }),
        },
      },
    },
  },
});
