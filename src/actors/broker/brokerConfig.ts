/**
 * A broker's settings under Kafka's broker config keys (named in camelCase, the Kafka key in each
 * comment) and Kafka's defaults for them.
 */
import type { GroupCoordinatorConfig } from '../groupCoordinator/groupState.ts';
import { PRODUCER_ID_EXPIRATION_CHECK_INTERVAL_MS, PRODUCER_ID_EXPIRATION_MS } from '../../log/producerState.ts';
import { BROKER_SESSION_TIMEOUT_MS } from '../metadataLog/quorum.ts';
import {
  REPLICA_FETCH_BACKOFF_MS,
  REPLICA_FETCH_MAX_BYTES,
  REPLICA_FETCH_MIN_BYTES,
  REPLICA_FETCH_RESPONSE_MAX_BYTES,
  REPLICA_FETCH_WAIT_MAX_MS,
  REPLICA_LAG_TIME_MAX_MS,
  REPLICA_SOCKET_TIMEOUT_MS,
} from '../partition/replication.ts';

/** Broker-level settings (Kafka broker config keys in comments). */
export interface BrokerConfig {
  /** `auto.create.topics.enable` (default true). */
  readonly autoCreateTopicsEnable: boolean;
  /** `num.partitions` for auto-created topics (default 1). */
  readonly numPartitions: number;
  /** `default.replication.factor` for auto-created topics (default 1). */
  readonly defaultReplicationFactor: number;
  /** `log.retention.check.interval.ms` (default 300000). */
  readonly logRetentionCheckIntervalMs: number;
  /** Topic config defaults for every log on this broker (Kafka keys). */
  readonly logDefaults: Readonly<Record<string, unknown>>;
  /** `offsets.topic.num.partitions` (default 50). */
  readonly offsetsTopicNumPartitions: number;
  /** Group coordinator settings under Kafka's keys (`group.initial.rebalance.delay.ms`, …). */
  readonly groupConfig: Partial<GroupCoordinatorConfig>;
  /**
   * `offsets.topic.replication.factor` (default 3). Kafka refuses to create `__consumer_offsets`
   * while fewer brokers are alive; samsa creates it with min(this, live brokers) replicas.
   */
  readonly offsetsTopicReplicationFactor: number;
  /** `offsets.commit.timeout.ms` (default 5000): how long a coordinator write waits for the ISR. */
  readonly offsetsCommitTimeoutMs: number;
  /** `replica.lag.time.max.ms` (default 30000): a follower not caught up for this long leaves the ISR. */
  readonly replicaLagTimeMaxMs: number;
  /** `replica.fetch.wait.max.ms` (default 500). */
  readonly replicaFetchWaitMaxMs: number;
  /** `replica.fetch.min.bytes` (default 1). */
  readonly replicaFetchMinBytes: number;
  /** `replica.fetch.max.bytes` per partition (default 1 MiB). */
  readonly replicaFetchMaxBytes: number;
  /** `replica.fetch.response.max.bytes` (default 10 MiB). */
  readonly replicaFetchResponseMaxBytes: number;
  /** `replica.fetch.backoff.ms` (default 1000). */
  readonly replicaFetchBackoffMs: number;
  /** `replica.socket.timeout.ms` (default 30000). */
  readonly replicaSocketTimeoutMs: number;
  /** `broker.heartbeat.interval.ms` (default 2000). */
  readonly brokerHeartbeatIntervalMs: number;
  /** `broker.session.timeout.ms` (default 9000), a controller setting: a broker silent this long is fenced. */
  readonly brokerSessionTimeoutMs: number;
  /** `controller.socket.timeout.ms` (default 30000): an AlterPartition without an answer this long is sent again. */
  readonly controllerSocketTimeoutMs: number;
  /** `producer.id.expiration.ms` (default 86400000): a producer idle this long is forgotten by the logs. */
  readonly producerIdExpirationMs: number;
  /** `producer.id.expiration.check.interval.ms` (default 600000). */
  readonly producerIdExpirationCheckIntervalMs: number;
  /** `transaction.state.log.num.partitions` (default 50). */
  readonly transactionStateLogNumPartitions: number;
  /** `transaction.state.log.replication.factor` (default 3; samsa takes min(this, live brokers), as for offsets). */
  readonly transactionStateLogReplicationFactor: number;
  /** `transaction.state.log.min.isr` (default 2, capped at the replicas the topic gets). */
  readonly transactionStateLogMinIsr: number;
  /** `transaction.max.timeout.ms` (default 900000): the largest `transaction.timeout.ms` a producer may ask for. */
  readonly transactionMaxTimeoutMs: number;
  /** `transactional.id.expiration.ms` (default 604800000): an idle transactional id is forgotten. */
  readonly transactionalIdExpirationMs: number;
  /** `transaction.abort.timed.out.transaction.cleanup.interval.ms` (default 10000). */
  readonly transactionAbortTimedOutTransactionCleanupIntervalMs: number;
  /** `transaction.remove.expired.transaction.cleanup.interval.ms` (default 3600000). */
  readonly transactionRemoveExpiredTransactionCleanupIntervalMs: number;
}

/** Kafka's defaults for {@link BrokerConfig}. */
export const BROKER_CONFIG_DEFAULTS: BrokerConfig = {
  autoCreateTopicsEnable: true,
  numPartitions: 1,
  defaultReplicationFactor: 1,
  logRetentionCheckIntervalMs: 300_000,
  logDefaults: {},
  offsetsTopicNumPartitions: 50,
  groupConfig: {},
  offsetsTopicReplicationFactor: 3,
  offsetsCommitTimeoutMs: 5_000,
  replicaLagTimeMaxMs: REPLICA_LAG_TIME_MAX_MS,
  replicaFetchWaitMaxMs: REPLICA_FETCH_WAIT_MAX_MS,
  replicaFetchMinBytes: REPLICA_FETCH_MIN_BYTES,
  replicaFetchMaxBytes: REPLICA_FETCH_MAX_BYTES,
  replicaFetchResponseMaxBytes: REPLICA_FETCH_RESPONSE_MAX_BYTES,
  replicaFetchBackoffMs: REPLICA_FETCH_BACKOFF_MS,
  replicaSocketTimeoutMs: REPLICA_SOCKET_TIMEOUT_MS,
  brokerHeartbeatIntervalMs: 2_000,
  brokerSessionTimeoutMs: BROKER_SESSION_TIMEOUT_MS,
  controllerSocketTimeoutMs: 30_000,
  producerIdExpirationMs: PRODUCER_ID_EXPIRATION_MS,
  producerIdExpirationCheckIntervalMs: PRODUCER_ID_EXPIRATION_CHECK_INTERVAL_MS,
  transactionStateLogNumPartitions: 50,
  transactionStateLogReplicationFactor: 3,
  transactionStateLogMinIsr: 2,
  transactionMaxTimeoutMs: 900_000,
  transactionalIdExpirationMs: 604_800_000,
  transactionAbortTimedOutTransactionCleanupIntervalMs: 10_000,
  transactionRemoveExpiredTransactionCleanupIntervalMs: 3_600_000,
};
