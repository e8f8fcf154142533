/**
 * samsa: Kafka, metamorphosed into actors. The curated public API; every name is exported
 * explicitly: factories, interfaces and error classes, never a class whose constructor takes
 * internal wiring (clients come from a cluster, typed by the ports of `clients/api.ts`).
 */

/* Cluster */
export { createCluster, Cluster } from './cluster/cluster.ts';
export type { ClusterOptions, BrokerHandle, ControllerHandle, QuorumState } from './cluster/cluster.ts';
export { startBroker } from './cluster/startBroker.ts';
export type { BrokerNode, BrokerNodeOptions, BrokerStopOptions } from './cluster/startBroker.ts';
export { startController } from './cluster/startController.ts';
export type { ControllerNode, ControllerNodeOptions } from './cluster/startController.ts';
export { connect } from './cluster/connect.ts';
export type { Connection, ConnectOptions, ConnectionAdminOptions } from './cluster/connect.ts';
export type { RaftConfig } from './actors/metadataLog/raft/config.ts';
export type { BrokerConfig } from './actors/broker/broker.ts';
export type { InspectionEvent, SamsaEvent } from './actors/inspection.ts';
export type { Transport, NodeId, Message } from './transport/transport.ts';
export type { MessageCodec } from './transport/codec.ts';
export { messageCodec } from './transport/codec.ts';
export { connectNats } from './transport/natsTransport.ts';
export type { NatsTransport, NatsTransportOptions, NatsTransportStats, NatsTlsOptions } from './transport/natsTransport.ts';

/* Clients: the ports every client implements (embedded, connected or an adapter), and their types */
export type {
  KafkaClients,
  ProducerClient,
  TransactionalProducerClient,
  ConsumerClient,
  AdminClient,
  AdminOptions,
  ProducerOptions,
  ProducerRecord,
  RecordMetadata,
  Transaction,
  ConsumerOptions,
  ConsumerRecord,
  ConsumerBatch,
  ConsumerGroupMetadata,
  RebalanceListener,
  RecordHeader,
  TopicPartition,
  TopicPartitionOffset,
  CreateTopicOptions,
  TopicDescription,
  OffsetSpec,
  Partitioner,
  PartitionerArgs,
  CompressionCodec,
} from './clients/api.ts';
/* The embedded implementations, as types only: they are made by a cluster, never constructed. */
export type { Admin } from './clients/admin.ts';
export type { Producer } from './clients/producer/producer.ts';
export type { Consumer } from './clients/consumer/consumer.ts';
export type { TransactionPhase } from './clients/producer/transactionManager.ts';
export type { PartitionAssignor } from './clients/consumer/assignors/types.ts';

/* Streams */
export type { Pipeline, PipelineOptions, PipelineOutput, PipelineResult, PipelineStats } from './streams/pipeline.ts';
export { StreamsBuilder, keyPreserving } from './streams/builder.ts';
export { createStreamsApp } from './streams/app.ts';
export type { StoreQueryOptions, StreamsApp, StreamsConfig, StreamsState, ThreadMetadata, ThreadState } from './streams/app.ts';
export type { StreamsMetrics, TaskMetrics } from './streams/appObservables.ts';
export type { KStream, KGroupedStream, KTable, KGroupedTable, ConsumedOptions, Piped } from './streams/builder.ts';
export {
  filter,
  filterNot,
  map,
  mapValues,
  selectKey,
  flatMap,
  flatMapValues,
  peek,
  foreach,
  process,
  processValues,
  toTopic,
  groupByKey,
  groupBy,
  count,
  reduce,
  aggregate,
  repartition,
  toTable,
} from './streams/operators.ts';
export { tumbling, hopping, sliding, session, joinWindows } from './streams/windows.ts';
export type { Window, Windowed, TimeWindows, SlidingWindows, SessionWindows, WindowDefinition, JoinWindows } from './streams/windows.ts';
export { windowedBy, emitStrategy, onWindowClose, onWindowUpdate } from './streams/windowedAggregation.ts';
export type { EmitStrategy, WindowedMaterialized } from './streams/windowedAggregation.ts';
export { untilWindowCloses, untilTimeLimit, unbounded, bufferConfig } from './streams/suppress.ts';
export type { BufferConfig, Suppressed } from './streams/suppress.ts';
export { timeWindowedSerde, sessionWindowedSerde } from './streams/windowedSerdes.ts';
export { join, leftJoin, outerJoin } from './streams/joins/streamJoins.ts';
export type { StreamJoinOptions, StreamTableJoinOptions, GlobalJoinOptions } from './streams/joins/streamJoins.ts';
export type { TableJoinOptions } from './streams/joins/tableJoins.ts';
export type { ForeignKeyJoinOptions } from './streams/joins/foreignKeyJoin.ts';
export { GlobalKTable } from './streams/globalTable.ts';
export type { GlobalTableOptions } from './streams/globalTable.ts';
export type { TimestampExtractor } from './streams/task.ts';
export type { ReadOnlyWindowStore, WindowStore, ReadOnlySessionStore, SessionStore, WindowValue, Timestamped } from './streams/stores/windowStore.ts';
export type { KeyValuePair, Named, ProducedOptions, GroupedOptions, MaterializedOptions } from './streams/operators.ts';
export { string, json, bytes, int32, bigint64, serde } from './streams/serdes.ts';
export type { Serde } from './streams/serdes.ts';
export type { StreamRecord, GroupedRecord, TableRow, Change } from './streams/record.ts';
export type { Topology, Processor, ProcessorContext, StreamPartitioner, PunctuationType, Cancellable } from './streams/topology.ts';
export type { KeyValue, KeyValueStore, ReadOnlyKeyValueStore, StoreChange } from './streams/stores/keyValueStore.ts';

/* Event sourcing */
export { createEventStore, defineAggregate, ANY, NO_STREAM, STREAM_EXISTS, jsonEventSerde, upcastChain } from './eventsourcing/index.ts';
export type {
  Aggregate,
  AggregateDefinition,
  AppendOptions,
  AppendResult,
  EventMetadata,
  EventPosition,
  EventSerde,
  EventStore,
  EventStoreOptions,
  EventStoreTransaction,
  ExpectedVersion,
  HandleOptions,
  HandleResult,
  LoadedAggregate,
  NewEvent,
  ReadStreamOptions,
  ReadStreamResult,
  RecordedEvent,
  SnapshotPolicy,
  SubscribeOptions,
  SubscriptionMessage,
  UpcastChain,
  Upcasters,
} from './eventsourcing/index.ts';

/* Projections and CQRS read models */
export { defineProjection, runProjection, openView, dropProjection, storeTarget, sqliteTarget, postgresTarget } from './projections/index.ts';
export type {
  DeadLetter,
  DocumentProjectionDefinition,
  ErrorPolicy,
  PostgresOptions,
  Projection,
  ProjectionDescription,
  ProjectionErrorEvent,
  ProjectionRunner,
  ProjectionSource,
  ProjectionStatus,
  ProjectionTarget,
  ProjectionView,
  RunProjectionOptions,
  SqlDialect,
  SqlHandle,
  SqliteOptions,
  SqlProjectionDefinition,
  SqlRow,
  SqlValue,
  ViewEntry,
} from './projections/index.ts';

/* Time (seeded randomness and the simulated network are test kit: `samsa/testing`) */
export { SystemClock, SimulatedClock } from './clock.ts';
export type { Clock, TimerHandle } from './clock.ts';

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
  TransactionAbortableError,
  RebalanceInProgressError,
  TopologyError,
  SerdeError,
  WrongExpectedVersionError,
  ProjectionError,
  TransportUnavailableError,
  MessageTooLargeError,
  KAFKA_ERRORS,
  errors,
  errorFromJSON,
} from './errors.ts';
export type { SamsaErrorJSON, KafkaErrorName, KafkaErrorInfo } from './errors.ts';
