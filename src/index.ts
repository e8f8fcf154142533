/**
 * samsa: Kafka, metamorphosed into actors. The curated public API; every name is exported
 * explicitly.
 */

/* Cluster */
export { createCluster, Cluster } from './cluster/cluster.ts';
export type { ClusterOptions, BrokerHandle, ControllerHandle, QuorumState } from './cluster/cluster.ts';
export type { RaftConfig } from './actors/controller/raft.ts';
export { Admin } from './clients/admin.ts';
export type { CreateTopicOptions, TopicDescription, OffsetSpec } from './clients/admin.ts';
export { Producer } from './clients/producer/producer.ts';
export type { ProducerOptions, ProducerRecord, RecordMetadata, Transaction } from './clients/producer/producer.ts';
export type { ConsumerGroupMetadata, TransactionPhase } from './clients/producer/transactionManager.ts';
export { Pipeline } from './streams/pipeline.ts';
export type { PipelineOptions, PipelineOutput, PipelineResult, PipelineStats } from './streams/pipeline.ts';
export type { Partitioner, PartitionerArgs } from './clients/producer/partitioners.ts';
export { Consumer } from './clients/consumer/consumer.ts';
export type { ConsumerOptions, ConsumerRecord, ConsumerBatch, RebalanceListener } from './clients/consumer/consumer.ts';
export type { TopicPartition, PartitionAssignor } from './clients/consumer/assignors/types.ts';
export type { BrokerConfig } from './actors/broker/broker.ts';
export type { InspectionEvent, SamsaEvent } from './actors/inspection.ts';
export { SimulatedNetwork } from './transport/simulatedNetwork.ts';
export type { NetworkFaults } from './transport/simulatedNetwork.ts';
export type { Transport, NodeId, Message } from './transport/transport.ts';

/* Time and randomness */
export { SystemClock, SimulatedClock } from './clock.ts';
export type { Clock, TimerHandle } from './clock.ts';
export { createRandom } from './random.ts';
export type { Random } from './random.ts';

/* Logging */
export { consoleLogger, silentLogger, fromPino } from './logger.ts';
export type { Logger, LogLevel, LogFields, LogEntry, ConsoleLoggerOptions, PinoLike } from './logger.ts';

/* Errors */
export {
  SamsaError,
  KafkaProtocolError,
  OffsetOutOfRangeError,
  CorruptRecordError,
  RecordTooLargeError,
  InvalidRecordError,
  InvalidConfigError,
  InvalidArgumentError,
  NotALogDirectoryError,
  LogDirectoryLockedError,
  InconsistentDataDirectoryError,
  StorageError,
  ClosedError,
  TimeoutError,
  TransactionStateError,
  ProducerFencedError,
  KAFKA_ERRORS,
  errors,
  errorFromJSON,
} from './errors.ts';
export type { SamsaErrorJSON, KafkaErrorName, KafkaErrorInfo } from './errors.ts';
