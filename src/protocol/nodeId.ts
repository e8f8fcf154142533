/**
 * Node addresses on a transport: `broker:<id>`, `controller:<id>` and `client:<clientId>`. They are
 * typed template literals, built by {@link brokerNode}, {@link controllerNode} and
 * {@link clientNode}, and read back by one parser, {@link parseNodeId}.
 */

/** Address of a broker: `broker:<node.id>`. */
export type BrokerNodeId = `broker:${number}`;
/** Address of a controller of the metadata quorum: `controller:<node.id>`. */
export type ControllerNodeId = `controller:${number}`;
/** Address of a client (producer, consumer, admin): `client:<clientId>`. */
export type ClientNodeId = `client:${string}`;

/** Address of a node on the network, e.g. `broker:1`, `controller:0`, `client:producer-1`. */
export type NodeId = BrokerNodeId | ControllerNodeId | ClientNodeId;

/** What {@link parseNodeId} reads from an address. */
export type ParsedNodeId = { readonly kind: 'broker' | 'controller'; readonly id: number } | { readonly kind: 'client'; readonly id: string };

/** Address of broker `id`. */
export function brokerNode(id: number): BrokerNodeId {
  return `broker:${id}`;
}

/** Address of controller `id`. */
export function controllerNode(id: number): ControllerNodeId {
  return `controller:${id}`;
}

/** Address of a client (producer, consumer, admin). */
export function clientNode(clientId: string): ClientNodeId {
  return `client:${clientId}`;
}

const SERVER_NODE = /^(broker|controller):(0|[1-9]\d*)$/;

/**
 * The kind and id of an address; undefined for anything that is not one (a broker or controller
 * id must be a non-negative integer without leading zeros, a client id non-empty).
 */
export function parseNodeId(node: string): ParsedNodeId | undefined {
  if (node.startsWith('client:')) return node.length > 'client:'.length ? { kind: 'client', id: node.slice('client:'.length) } : undefined;
  const m = SERVER_NODE.exec(node);
  if (m === null) return undefined;
  const id = Number(m[2]);
  return Number.isSafeInteger(id) ? { kind: m[1] as 'broker' | 'controller', id } : undefined;
}

/** Whether `node` is a well-formed address (see {@link parseNodeId}). */
export function isNodeId(node: string): node is NodeId {
  return parseNodeId(node) !== undefined;
}

/** The broker id of a `broker:<id>` address, or undefined. */
export function brokerIdOf(node: string): number | undefined {
  const parsed = parseNodeId(node);
  return parsed?.kind === 'broker' ? parsed.id : undefined;
}

/** The controller id of a `controller:<id>` address, or undefined. */
export function controllerIdOf(node: string): number | undefined {
  const parsed = parseNodeId(node);
  return parsed?.kind === 'controller' ? parsed.id : undefined;
}
