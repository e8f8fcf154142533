/**
 * Compatibility barrel: the names `protocol/messages.ts` exported before the protocol was split
 * one API per file. New code imports from `protocol/index.ts` (or the API's own file).
 */
export type { BrokerRegistration, ClusterMetadataImage, PartitionMetadata, TopicMetadata, WireError } from './common.ts';
export { CorrelationIds, wireError } from './common.ts';
export type { AlterPartitionRequest, AlterPartitionResponse } from './alterPartition.ts';
export type { BrokerHeartbeatRequest } from './brokerHeartbeat.ts';
export type { BrokerRegistrationRequest } from './brokerRegistration.ts';
export type { FetchPartition, FetchPartitionResult, FetchRequest, FetchResponse } from './fetch.ts';
export type { ProducePartitionData, ProducePartitionResult, ProduceRequest, ProduceResponse } from './produce.ts';
