/**
 * The transport every inter-node message goes through. Nodes (brokers, the controller, clients)
 * never call each other: they `send` plain, structured-clone-safe messages to a node address and
 * receive them through the handler they registered. The in-process {@link SimulatedNetwork} and
 * the NATS transport implement the same interface, so nothing above this layer knows which one
 * carries its messages.
 */

/** Address of a node on the network, e.g. `broker:1`, `controller:0`, `client:producer-1`. */
export type NodeId = string;

/** Every message has a dotted type such as `produce.request`; requests carry a correlation id. */
export interface Message {
  readonly type: string;
  readonly correlationId?: number;
  readonly [field: string]: unknown;
}

/** Called with each message delivered to a node. */
export type MessageHandler = (message: Message, from: NodeId) => void;

/** Moves messages between registered nodes. Delivery is asynchronous and may fail silently. */
export interface Transport {
  /** Registers `node`; its messages go to `handler` until the returned function is called. */
  register(node: NodeId, handler: MessageHandler): () => void;
  /** Sends `message` from `from` to `to`. Never throws for an unreachable node: the message is lost, as on a network. */
  send(from: NodeId, to: NodeId, message: Message): void;
}

/** Address of broker `id`. */
export function brokerNode(id: number): NodeId {
  return `broker:${id}`;
}

/** Address of controller `id`. */
export function controllerNode(id: number): NodeId {
  return `controller:${id}`;
}

/** Address of a client (producer, consumer, admin). */
export function clientNode(clientId: string): NodeId {
  return `client:${clientId}`;
}

/** The broker id of a `broker:<id>` address, or undefined. */
export function brokerIdOf(node: NodeId): number | undefined {
  const m = /^broker:(\d+)$/.exec(node);
  return m === null ? undefined : Number(m[1]);
}
