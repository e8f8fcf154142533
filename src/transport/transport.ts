/**
 * The transport every inter-node message goes through. Nodes (brokers, the controller, clients)
 * never call each other: they `send` plain, structured-clone-safe messages to a node address and
 * receive them through the handler they registered. The in-process {@link SimulatedNetwork} and
 * the NATS transport implement the same interface, so nothing above this layer knows which one
 * carries its messages. The messages themselves are typed in `protocol/` (`MessageMap`).
 */
import type { Message } from '../protocol/common.ts';
import type { NodeId } from '../protocol/nodeId.ts';

export type { Message } from '../protocol/common.ts';
export type { BrokerNodeId, ClientNodeId, ControllerNodeId, NodeId, ParsedNodeId } from '../protocol/nodeId.ts';
export { brokerIdOf, brokerNode, clientNode, controllerIdOf, controllerNode, isNodeId, parseNodeId } from '../protocol/nodeId.ts';
export type { TransportDisconnected, TransportSignal, TransportUnreachable } from '../protocol/transportSignals.ts';
export { isTransportSignal } from '../protocol/transportSignals.ts';

/** Called with each message delivered to a node. */
export type MessageHandler = (message: Message, from: NodeId) => void;

/**
 * Moves messages between registered nodes. Delivery is asynchronous and may fail silently.
 *
 * Contract, as on a real network:
 * - A message may be lost, delayed or (under faults) duplicated; `send` never throws for an
 *   unreachable or unknown node.
 * - A transport may deliver {@link TransportSignal}s (`transport.disconnected` when a peer's
 *   connection closes, `transport.unreachable` when a request is refused) so that a node learns
 *   early. They may never arrive — a partitioned link, or a transport that cannot tell — so every
 *   request keeps its own timeout, and the timeout decides.
 * - A transport that encodes messages (a {@link MessageCodec}) drops what it cannot decode and
 *   reports it; a node never receives a malformed message.
 */
export interface Transport {
  /** Registers `node`; its messages go to `handler` until the returned function is called. */
  register(node: NodeId, handler: MessageHandler): () => void;
  /** Sends `message` from `from` to `to`. Never throws for an unreachable node: the message is lost, as on a network. */
  send(from: NodeId, to: NodeId, message: Message): void;
}
