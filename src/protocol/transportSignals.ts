/**
 * Signals a transport delivers to a node on its own behalf, never sent by another node. They are
 * hints, exactly as on a real network: a transport may never deliver them (a NATS transport does
 * not know when a peer died), so every request still has a timeout, and timeouts decide.
 */
import type { NodeId } from './nodeId.ts';

/**
 * `transport.disconnected`: the connection with `node` closed (the node stopped); what it was
 * still to answer never comes. Sent after whatever `node` sent before it stopped.
 */
export interface TransportDisconnected {
  readonly type: 'transport.disconnected';
  readonly node: NodeId;
}

/**
 * `transport.unreachable`: `node` refused the request with `correlationId` (it is not running, or
 * not accepting requests yet), as a connection refused would. The request may be retried.
 */
export interface TransportUnreachable {
  readonly type: 'transport.unreachable';
  readonly correlationId: number;
  readonly node: NodeId;
}

/** Every signal a transport may deliver; see the module comment for why none is guaranteed. */
export type TransportSignal = TransportDisconnected | TransportUnreachable;

/** Whether `message` is a transport signal (and not a message from a node). */
export function isTransportSignal(message: { readonly type: string }): message is TransportSignal {
  return message.type === 'transport.disconnected' || message.type === 'transport.unreachable';
}
