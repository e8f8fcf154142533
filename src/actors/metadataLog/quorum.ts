/**
 * Who is who in the metadata quorum: the Raft replica id of every node that holds a copy of the
 * `__cluster_metadata` log (controllers as voters, brokers as observers), the envelope Raft
 * messages travel in between nodes, and the broker session timeout both sides of a broker's
 * heartbeats agree on.
 */
import type { NodeId } from '../../transport/transport.ts';
import { brokerNode, controllerNode, parseNodeId } from '../../transport/transport.ts';
import type { RaftMessage } from './raft/messages.ts';
import type { MetadataRecord } from './records.ts';

/** `broker.session.timeout.ms` (Kafka default 9000): a broker without a heartbeat for this long is fenced. */
export const BROKER_SESSION_TIMEOUT_MS = 9_000;

/** A Raft message between replicas of the metadata log; Raft handles its own loss and timeouts. */
export interface QuorumMessage {
  readonly type: 'quorum.message';
  readonly message: RaftMessage<MetadataRecord>;
  readonly [field: string]: unknown;
}

/**
 * Raft replica ids of brokers, which replay the metadata log as observers. Kafka's node ids are
 * unique across roles; samsa numbers brokers and controllers separately, so brokers take this
 * range in the quorum.
 */
export const BROKER_QUORUM_ID_BASE = 1_000_000;

/** The Raft replica id of a node (`controller:i` → i, `broker:b` → base + b), undefined for others. */
export function quorumIdOf(node: NodeId): number | undefined {
  const parsed = parseNodeId(node);
  if (parsed === undefined || parsed.kind === 'client') return undefined;
  return parsed.kind === 'controller' ? parsed.id : BROKER_QUORUM_ID_BASE + parsed.id;
}

/** The node of a Raft replica id (the inverse of {@link quorumIdOf}). */
export function quorumNodeOf(id: number): NodeId {
  return id >= BROKER_QUORUM_ID_BASE ? brokerNode(id - BROKER_QUORUM_ID_BASE) : controllerNode(id);
}
