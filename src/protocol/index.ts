/**
 * The protocol: every message that crosses a `Transport`, one Kafka API per file, and the
 * one map from message type to message shape. Handlers narrow by `type` through
 * {@link onMessages} or {@link isMessage}; senders check their messages with {@link sendMessage}.
 *
 * Messages are plain, structured-clone-safe data: numbers, strings, booleans, null, bigint,
 * Uint8Array, arrays and plain objects. No functions, class instances (Map, Set, Date, errors) or
 * objects shared with the sender: a message may be encoded to bytes and decoded again on the way
 * (the NATS transport always does; `SimulatedNetwork` does with its `codec` option).
 */
import type { AddOffsetsToTxnRequest, AddOffsetsToTxnResponse } from './addOffsetsToTxn.ts';
import type { AddPartitionsToTxnRequest, AddPartitionsToTxnResponse } from './addPartitionsToTxn.ts';
import type { AllocateProducerIdsRequest, AllocateProducerIdsResponse } from './allocateProducerIds.ts';
import type { AlterConfigsRequest, AlterConfigsResponse } from './alterConfigs.ts';
import type { AlterPartitionRequest, AlterPartitionResponse } from './alterPartition.ts';
import type { BrokerHeartbeatRequest, BrokerHeartbeatResponse } from './brokerHeartbeat.ts';
import type { BrokerRegistrationRequest, BrokerRegistrationResponse } from './brokerRegistration.ts';
import type { Message } from './common.ts';
import type { CreatePartitionsRequest, CreatePartitionsResponse } from './createPartitions.ts';
import type { CreateTopicsRequest, CreateTopicsResponse } from './createTopics.ts';
import type { DeleteRecordsRequest, DeleteRecordsResponse } from './deleteRecords.ts';
import type { DeleteTopicsRequest, DeleteTopicsResponse } from './deleteTopics.ts';
import type { DescribeGroupRequest, DescribeGroupResponse } from './describeGroup.ts';
import type { ElectLeadersRequest, ElectLeadersResponse } from './electLeaders.ts';
import type { EndTxnRequest, EndTxnResponse } from './endTxn.ts';
import type { FetchRequest, FetchResponse } from './fetch.ts';
import type { FindCoordinatorRequest, FindCoordinatorResponse } from './findCoordinator.ts';
import type { HeartbeatRequest, HeartbeatResponse } from './heartbeat.ts';
import type { InitProducerIdRequest, InitProducerIdResponse } from './initProducerId.ts';
import type { JoinGroupRequest, JoinGroupResponse } from './joinGroup.ts';
import type { LeaveGroupRequest, LeaveGroupResponse } from './leaveGroup.ts';
import type { ListGroupsRequest, ListGroupsResponse } from './listGroups.ts';
import type { ListOffsetsRequest, ListOffsetsResponse } from './listOffsets.ts';
import type { ReadKeyRequest, ReadKeyResponse } from './readKey.ts';
import type { MetadataRequest, MetadataResponse } from './metadata.ts';
import type { NodeId } from './nodeId.ts';
import type { OffsetCommitRequest, OffsetCommitResponse } from './offsetCommit.ts';
import type { OffsetFetchRequest, OffsetFetchResponse } from './offsetFetch.ts';
import type { ProduceRequest, ProduceResponse } from './produce.ts';
import type { QuorumMessage } from './quorum.ts';
import type { SyncGroupRequest, SyncGroupResponse } from './syncGroup.ts';
import type { TransportDisconnected, TransportUnreachable } from './transportSignals.ts';
import type { TxnOffsetCommitRequest, TxnOffsetCommitResponse } from './txnOffsetCommit.ts';
import type { WriteTxnMarkersRequest, WriteTxnMarkersResponse } from './writeTxnMarkers.ts';
import { InvalidArgumentError } from '../errors.ts';

export type { AddOffsetsToTxnRequest, AddOffsetsToTxnResponse } from './addOffsetsToTxn.ts';
export type { AddPartitionsToTxnRequest, AddPartitionsToTxnResponse } from './addPartitionsToTxn.ts';
export type { AllocateProducerIdsRequest, AllocateProducerIdsResponse } from './allocateProducerIds.ts';
export type { AlterConfigsRequest, AlterConfigsResponse, TopicConfigChange } from './alterConfigs.ts';
export type { AlterPartitionRequest, AlterPartitionResponse } from './alterPartition.ts';
export type { BrokerHeartbeatRequest, BrokerHeartbeatResponse } from './brokerHeartbeat.ts';
export type { BrokerRegistrationRequest, BrokerRegistrationResponse } from './brokerRegistration.ts';
export type { BrokerRegistration, ClusterMetadataImage, ControllerResponseHeader, Message, PartitionMetadata, RequestHeader, ResponseHeader, TopicMetadata, TopicPartition, WireError } from './common.ts';
export { CorrelationIds, wireError } from './common.ts';
export type { CreatePartitionsRequest, CreatePartitionsResponse, NewPartitions } from './createPartitions.ts';
export type { CreateTopicsRequest, CreateTopicsResponse, NewTopic, TopicResult } from './createTopics.ts';
export type { DeleteRecordsPartition, DeleteRecordsPartitionResult, DeleteRecordsRequest, DeleteRecordsResponse } from './deleteRecords.ts';
export type { DeleteTopicsRequest, DeleteTopicsResponse } from './deleteTopics.ts';
export type { DescribedGroupMember, DescribeGroupRequest, DescribeGroupResponse } from './describeGroup.ts';
export type { ElectionResult, ElectLeadersRequest, ElectLeadersResponse } from './electLeaders.ts';
export type { EndTxnRequest, EndTxnResponse } from './endTxn.ts';
export type { AbortedTransaction, FetchPartition, FetchPartitionResult, FetchRequest, FetchResponse } from './fetch.ts';
export type { FindCoordinatorRequest, FindCoordinatorResponse } from './findCoordinator.ts';
export type { HeartbeatRequest, HeartbeatResponse } from './heartbeat.ts';
export type { InitProducerIdRequest, InitProducerIdResponse } from './initProducerId.ts';
export type { JoinGroupProtocol, JoinGroupRequest, JoinGroupResponse, JoinGroupResponseMember } from './joinGroup.ts';
export type { LeaveGroupMember, LeaveGroupMemberResponse, LeaveGroupRequest, LeaveGroupResponse } from './leaveGroup.ts';
export type { ListedGroup, ListGroupsRequest, ListGroupsResponse } from './listGroups.ts';
export type { ListOffsetsPartition, ListOffsetsPartitionResult, ListOffsetsRequest, ListOffsetsResponse } from './listOffsets.ts';
export type { ReadKeyPartition, ReadKeyPartitionResult, ReadKeyRecord, ReadKeyRequest, ReadKeyResponse } from './readKey.ts';
export type { MetadataRequest, MetadataResponse, StorageErrorReport } from './metadata.ts';
export type { BrokerNodeId, ClientNodeId, ControllerNodeId, NodeId, ParsedNodeId } from './nodeId.ts';
export { brokerIdOf, brokerNode, clientNode, controllerIdOf, controllerNode, isNodeId, parseNodeId } from './nodeId.ts';
export type { OffsetCommitPartition, OffsetCommitPartitionResult, OffsetCommitRequest, OffsetCommitResponse } from './offsetCommit.ts';
export type { OffsetFetchPartitionResult, OffsetFetchRequest, OffsetFetchResponse } from './offsetFetch.ts';
export type { ProducePartitionData, ProducePartitionResult, ProduceRequest, ProduceResponse } from './produce.ts';
export type { QuorumMessage } from './quorum.ts';
export type { RaftMessage, RaftMessageType } from './raft/index.ts';
export { RAFT_MESSAGE_TYPES } from './raft/index.ts';
export type { SyncGroupAssignment, SyncGroupRequest, SyncGroupResponse } from './syncGroup.ts';
export type { TransportDisconnected, TransportSignal, TransportUnreachable } from './transportSignals.ts';
export { isTransportSignal } from './transportSignals.ts';
export type { TxnOffsetCommitRequest, TxnOffsetCommitResponse } from './txnOffsetCommit.ts';
export type { WriteTxnMarkersPartitionResult, WriteTxnMarkersRequest, WriteTxnMarkersResponse } from './writeTxnMarkers.ts';

/** Every message type that crosses a transport, and its shape. */
export interface MessageMap {
  /* Data plane (clients and follower replicas → partition leaders) */
  'produce.request': ProduceRequest;
  'produce.response': ProduceResponse;
  'fetch.request': FetchRequest;
  'fetch.response': FetchResponse;
  'listOffsets.request': ListOffsetsRequest;
  'listOffsets.response': ListOffsetsResponse;
  'readKey.request': ReadKeyRequest;
  'readKey.response': ReadKeyResponse;
  'deleteRecords.request': DeleteRecordsRequest;
  'deleteRecords.response': DeleteRecordsResponse;
  'metadata.request': MetadataRequest;
  'metadata.response': MetadataResponse;
  'findCoordinator.request': FindCoordinatorRequest;
  'findCoordinator.response': FindCoordinatorResponse;
  'initProducerId.request': InitProducerIdRequest;
  'initProducerId.response': InitProducerIdResponse;
  /* Consumer groups (clients → group coordinator) */
  'joinGroup.request': JoinGroupRequest;
  'joinGroup.response': JoinGroupResponse;
  'syncGroup.request': SyncGroupRequest;
  'syncGroup.response': SyncGroupResponse;
  'heartbeat.request': HeartbeatRequest;
  'heartbeat.response': HeartbeatResponse;
  'leaveGroup.request': LeaveGroupRequest;
  'leaveGroup.response': LeaveGroupResponse;
  'describeGroup.request': DescribeGroupRequest;
  'describeGroup.response': DescribeGroupResponse;
  'listGroups.request': ListGroupsRequest;
  'listGroups.response': ListGroupsResponse;
  'offsetCommit.request': OffsetCommitRequest;
  'offsetCommit.response': OffsetCommitResponse;
  'offsetFetch.request': OffsetFetchRequest;
  'offsetFetch.response': OffsetFetchResponse;
  /* Transactions (producers → transaction coordinator → partition leaders) */
  'addPartitionsToTxn.request': AddPartitionsToTxnRequest;
  'addPartitionsToTxn.response': AddPartitionsToTxnResponse;
  'addOffsetsToTxn.request': AddOffsetsToTxnRequest;
  'addOffsetsToTxn.response': AddOffsetsToTxnResponse;
  'txnOffsetCommit.request': TxnOffsetCommitRequest;
  'txnOffsetCommit.response': TxnOffsetCommitResponse;
  'endTxn.request': EndTxnRequest;
  'endTxn.response': EndTxnResponse;
  'writeTxnMarkers.request': WriteTxnMarkersRequest;
  'writeTxnMarkers.response': WriteTxnMarkersResponse;
  /* Controller (brokers and admin clients → active controller) */
  'brokerRegistration.request': BrokerRegistrationRequest;
  'brokerRegistration.response': BrokerRegistrationResponse;
  'brokerHeartbeat.request': BrokerHeartbeatRequest;
  'brokerHeartbeat.response': BrokerHeartbeatResponse;
  'alterPartition.request': AlterPartitionRequest;
  'alterPartition.response': AlterPartitionResponse;
  'allocateProducerIds.request': AllocateProducerIdsRequest;
  'allocateProducerIds.response': AllocateProducerIdsResponse;
  'createTopics.request': CreateTopicsRequest;
  'createTopics.response': CreateTopicsResponse;
  'deleteTopics.request': DeleteTopicsRequest;
  'deleteTopics.response': DeleteTopicsResponse;
  'createPartitions.request': CreatePartitionsRequest;
  'createPartitions.response': CreatePartitionsResponse;
  'alterConfigs.request': AlterConfigsRequest;
  'alterConfigs.response': AlterConfigsResponse;
  'electLeaders.request': ElectLeadersRequest;
  'electLeaders.response': ElectLeadersResponse;
  /* Metadata quorum (controllers ↔ controllers, controllers → brokers as observers) */
  'quorum.message': QuorumMessage;
  /* Signals of the transport itself */
  'transport.disconnected': TransportDisconnected;
  'transport.unreachable': TransportUnreachable;
}

/** The type of a message that crosses a transport. */
export type MessageType = keyof MessageMap;

/** The message of type `T`, e.g. `MessageOf<'produce.request'>` is a {@link ProduceRequest}. */
export type MessageOf<T extends MessageType> = MessageMap[T];

/** Any message that crosses a transport, as a union discriminated by `type`. */
export type ProtocolMessage = MessageMap[MessageType];

/** A request's body as a client hands it to its connection, which adds the correlation id. */
export type RequestBody<T extends MessageType> = Omit<MessageOf<T>, 'correlationId'>;

/** Message types that are requests (answered by the `.response` of the same API). */
export type RequestType = Extract<MessageType, `${string}.request`>;

/** The response type of a request type: `'produce.request'` → `'produce.response'`. */
export type ResponseTypeOf<T extends RequestType> = T extends `${infer Api}.request` ? Extract<MessageType, `${Api}.response`> : never;

const TYPES = {
  'produce.request': true,
  'produce.response': true,
  'fetch.request': true,
  'fetch.response': true,
  'listOffsets.request': true,
  'listOffsets.response': true,
  'readKey.request': true,
  'readKey.response': true,
  'deleteRecords.request': true,
  'deleteRecords.response': true,
  'metadata.request': true,
  'metadata.response': true,
  'findCoordinator.request': true,
  'findCoordinator.response': true,
  'initProducerId.request': true,
  'initProducerId.response': true,
  'joinGroup.request': true,
  'joinGroup.response': true,
  'syncGroup.request': true,
  'syncGroup.response': true,
  'heartbeat.request': true,
  'heartbeat.response': true,
  'leaveGroup.request': true,
  'leaveGroup.response': true,
  'describeGroup.request': true,
  'describeGroup.response': true,
  'listGroups.request': true,
  'listGroups.response': true,
  'offsetCommit.request': true,
  'offsetCommit.response': true,
  'offsetFetch.request': true,
  'offsetFetch.response': true,
  'addPartitionsToTxn.request': true,
  'addPartitionsToTxn.response': true,
  'addOffsetsToTxn.request': true,
  'addOffsetsToTxn.response': true,
  'txnOffsetCommit.request': true,
  'txnOffsetCommit.response': true,
  'endTxn.request': true,
  'endTxn.response': true,
  'writeTxnMarkers.request': true,
  'writeTxnMarkers.response': true,
  'brokerRegistration.request': true,
  'brokerRegistration.response': true,
  'brokerHeartbeat.request': true,
  'brokerHeartbeat.response': true,
  'alterPartition.request': true,
  'alterPartition.response': true,
  'allocateProducerIds.request': true,
  'allocateProducerIds.response': true,
  'createTopics.request': true,
  'createTopics.response': true,
  'deleteTopics.request': true,
  'deleteTopics.response': true,
  'createPartitions.request': true,
  'createPartitions.response': true,
  'alterConfigs.request': true,
  'alterConfigs.response': true,
  'electLeaders.request': true,
  'electLeaders.response': true,
  'quorum.message': true,
  'transport.disconnected': true,
  'transport.unreachable': true,
} as const satisfies Record<MessageType, true>;

/** Every message type of {@link MessageMap}, at run time (a decoder accepts only these). */
export const MESSAGE_TYPES: ReadonlySet<MessageType> = new Set(Object.keys(TYPES) as MessageType[]);

/** Whether `type` is a message type of the protocol. */
export function isMessageType(type: unknown): type is MessageType {
  return typeof type === 'string' && MESSAGE_TYPES.has(type as MessageType);
}

/**
 * Whether `message` is of type `type`, narrowing it to that message's shape. The check is on
 * `type` alone: the sender is trusted for the rest, as with any message of a known type.
 *
 * @example
 * if (isMessage(message, 'fetch.response')) for (const p of message.partitions) …
 */
export function isMessage<T extends MessageType>(message: { readonly type: string }, type: T): message is { readonly type: string } & MessageOf<T> {
  return message.type === type;
}

/** What {@link sendMessage} needs of a transport (a `Transport` is one). */
export interface MessageSender {
  send(from: NodeId, to: NodeId, message: Message): void;
}

/**
 * Sends a typed message: the compiler checks it against {@link MessageMap} for its `type`, so a
 * misspelled field or a missing one fails to build instead of failing on the other node.
 *
 * @example
 * sendMessage(transport, 'broker:1', 'controller:0', { type: 'brokerHeartbeat.request', correlationId, brokerId: 1, brokerEpoch, currentMetadataVersion });
 */
export function sendMessage<T extends MessageType>(transport: MessageSender, from: NodeId, to: NodeId, message: MessageOf<T> & { readonly type: T }): void {
  transport.send(from, to, toWire(message));
}

/**
 * A typed message in the transport's loose shape ({@link Message}), unchanged: the one place the
 * two meet, since interfaces carry no index signature.
 */
export function toWire(message: { readonly type: MessageType }): Message {
  return message as Message;
}

/**
 * `message` as the shape of its type `type`, after checking that it is of that type (the sender is
 * trusted for the rest, as with {@link isMessage}). For a handler that already dispatched on `type`.
 * @throws InvalidArgumentError when `message` is of another type (a dispatch bug).
 */
export function messageAs<T extends MessageType>(message: Message, type: T): MessageOf<T> {
  if (!isOfType(message, type)) throw new InvalidArgumentError('message', `expected a "${type}", got a "${message.type}"`);
  return message;
}

/** Whether `message` is of type `type` (its other fields are the sender's to get right). */
function isOfType<T extends MessageType>(message: Message, type: T): message is Message & MessageOf<T> {
  return message.type === type;
}

/** A table of handlers, one per message type a node accepts; each receives its type's shape. */
export type MessageHandlers = { readonly [T in MessageType]?: (message: MessageOf<T>, from: NodeId) => void };

/**
 * A message handler (for `transport.register`) that dispatches on `type` to the handler of the
 * table, narrowed without casts. A message with no handler goes to `otherwise` (dropped when
 * absent).
 *
 * @example
 * transport.register(node, onMessages({
 *   'produce.request': (m, from) => produce(m.partitions, from),   // m: ProduceRequest
 *   'transport.disconnected': (m) => forget(m.node),
 * }));
 */
export function onMessages(handlers: MessageHandlers, otherwise?: (message: Message, from: NodeId) => void): (message: Message, from: NodeId) => void {
  return (message, from) => {
    const handler = handlers[message.type as MessageType] as ((message: Message, from: NodeId) => void) | undefined;
    if (handler !== undefined) handler(message, from);
    else otherwise?.(message, from);
  };
}
