/**
 * samsa: Kafka, metamorphosed into actors. The curated public API; every name is exported
 * explicitly.
 */

/* Cluster */
export { createCluster, Cluster } from './actors/cluster.ts';
export type { ClusterOptions, BrokerHandle, ControllerHandle, QuorumState } from './actors/cluster.ts';
export type { RaftConfig } from './actors/controller/raft.ts';
export { Admin } from './actors/admin.ts';
export type { CreateTopicOptions, TopicDescription, OffsetSpec } from './actors/admin.ts';
export { Producer } from './actors/producer/producer.ts';
export type { ProducerOptions, ProducerRecord, RecordMetadata, Transaction } from './actors/producer/producer.ts';
export type { ConsumerGroupMetadata, TransactionPhase } from './actors/producer/transactionManager.ts';
export { Pipeline } from './actors/pipeline.ts';
export type { PipelineOptions, PipelineOutput, PipelineResult, PipelineStats } from './actors/pipeline.ts';
export type { Partitioner, PartitionerArgs } from './actors/producer/partitioners.ts';
export { Consumer } from './actors/consumer/consumer.ts';
export type { ConsumerOptions, ConsumerRecord, ConsumerBatch, RebalanceListener } from './actors/consumer/consumer.ts';
export type { TopicPartition, PartitionAssignor } from './actors/consumer/assignors/types.ts';
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
