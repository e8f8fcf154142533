/**
 * The samsa error hierarchy.
 *
 * Every error samsa throws is a {@link SamsaError} with a stable SCREAMING_SNAKE `code` and a
 * `retriable` flag; retry decisions key on `retriable` only. Conditions that a caller handles
 * differently get their own subclass with typed context fields. Errors cross actor boundaries as
 * plain data ({@link SamsaErrorJSON}) and are rebuilt at the API surface by {@link errorFromJSON}.
 *
 * (Over 600 lines: the hierarchy, the `errors` registry and `errorFromJSON` must see every class,
 * and each class is a few lines; split, the registry would import back from every part.)
 */

/** One row of Kafka's protocol error table. */
export interface KafkaErrorInfo {
  /** Kafka's numeric error code as it appears on the wire. */
  readonly code: number;
  /** Whether Kafka clients retry on this error. */
  readonly retriable: boolean;
  /** Kafka's short description. */
  readonly message: string;
}

/**
 * Kafka's protocol error codes (the subset samsa can produce), keyed by Kafka's own name.
 * Names, numbers and retriability are Kafka's (`org.apache.kafka.common.protocol.Errors`).
 */
export const KAFKA_ERRORS = {
  UNKNOWN_SERVER_ERROR: { code: -1, retriable: false, message: 'the server experienced an unexpected error' },
  OFFSET_OUT_OF_RANGE: { code: 1, retriable: false, message: 'the requested offset is not within the range of offsets held by the server' },
  CORRUPT_MESSAGE: { code: 2, retriable: true, message: 'the message contents do not match the message CRC or the message is otherwise corrupt' },
  UNKNOWN_TOPIC_OR_PARTITION: { code: 3, retriable: true, message: 'this server does not host this topic-partition' },
  INVALID_FETCH_SIZE: { code: 4, retriable: false, message: 'the requested fetch size is invalid' },
  LEADER_NOT_AVAILABLE: { code: 5, retriable: true, message: 'there is no leader for this topic-partition as we are in the middle of a leadership election' },
  NOT_LEADER_OR_FOLLOWER: { code: 6, retriable: true, message: 'this server is not the leader or a follower for that topic-partition' },
  REQUEST_TIMED_OUT: { code: 7, retriable: true, message: 'the request timed out' },
  BROKER_NOT_AVAILABLE: { code: 8, retriable: false, message: 'the broker is not available' },
  REPLICA_NOT_AVAILABLE: { code: 9, retriable: true, message: 'the replica is not available for the requested topic-partition' },
  MESSAGE_TOO_LARGE: { code: 10, retriable: false, message: 'the request included a message larger than the max message size the server will accept' },
  OFFSET_METADATA_TOO_LARGE: { code: 12, retriable: false, message: 'the metadata field of the offset request was too large' },
  NETWORK_EXCEPTION: { code: 13, retriable: true, message: 'the server disconnected before a response was received' },
  COORDINATOR_LOAD_IN_PROGRESS: { code: 14, retriable: true, message: 'the coordinator is loading and hence cannot process requests' },
  COORDINATOR_NOT_AVAILABLE: { code: 15, retriable: true, message: 'the coordinator is not available' },
  NOT_COORDINATOR: { code: 16, retriable: true, message: 'this is not the correct coordinator' },
  INVALID_TOPIC_EXCEPTION: { code: 17, retriable: false, message: 'the request attempted to perform an operation on an invalid topic' },
  RECORD_LIST_TOO_LARGE: { code: 18, retriable: false, message: 'the request included a message batch larger than the configured segment size on the server' },
  NOT_ENOUGH_REPLICAS: { code: 19, retriable: true, message: 'messages are rejected since there are fewer in-sync replicas than required' },
  NOT_ENOUGH_REPLICAS_AFTER_APPEND: { code: 20, retriable: true, message: 'messages are written to the log, but to fewer in-sync replicas than required' },
  INVALID_REQUIRED_ACKS: { code: 21, retriable: false, message: 'produce request specified an invalid value for required acks' },
  ILLEGAL_GENERATION: { code: 22, retriable: false, message: 'specified group generation id is not valid' },
  INCONSISTENT_GROUP_PROTOCOL: { code: 23, retriable: false, message: "the group member's supported protocols are incompatible with those of existing members" },
  INVALID_GROUP_ID: { code: 24, retriable: false, message: 'the configured groupId is invalid' },
  UNKNOWN_MEMBER_ID: { code: 25, retriable: false, message: 'the coordinator is not aware of this member' },
  INVALID_SESSION_TIMEOUT: { code: 26, retriable: false, message: 'the session timeout is not within the range allowed by the broker' },
  REBALANCE_IN_PROGRESS: { code: 27, retriable: false, message: 'the group is rebalancing, so a rejoin is needed' },
  INVALID_COMMIT_OFFSET_SIZE: { code: 28, retriable: false, message: 'the committing offset data size is not valid' },
  INVALID_TIMESTAMP: { code: 32, retriable: false, message: 'the timestamp of the message is out of acceptable range' },
  INVALID_PARTITIONS: { code: 37, retriable: false, message: 'number of partitions is below 1' },
  INVALID_REPLICATION_FACTOR: { code: 38, retriable: false, message: 'replication factor is below 1 or larger than the number of available brokers' },
  INVALID_REQUEST: { code: 42, retriable: false, message: 'this most likely occurs because of a request being malformed' },
  INVALID_CONFIG: { code: 40, retriable: false, message: 'configuration is invalid' },
  TOPIC_ALREADY_EXISTS: { code: 36, retriable: false, message: 'topic with this name already exists' },
  NOT_CONTROLLER: { code: 41, retriable: true, message: 'this is not the correct controller for this cluster' },
  OUT_OF_ORDER_SEQUENCE_NUMBER: { code: 45, retriable: false, message: 'the broker received an out of order sequence number' },
  DUPLICATE_SEQUENCE_NUMBER: { code: 46, retriable: false, message: 'the broker received a duplicate sequence number' },
  INVALID_PRODUCER_EPOCH: { code: 47, retriable: false, message: "producer attempted to produce with an old epoch" },
  INVALID_TXN_STATE: { code: 48, retriable: false, message: 'the producer attempted a transactional operation in an invalid state' },
  INVALID_PRODUCER_ID_MAPPING: { code: 49, retriable: false, message: 'the producer attempted to use a producer id which is not currently assigned to its transactional id' },
  INVALID_TRANSACTION_TIMEOUT: { code: 50, retriable: false, message: 'the transaction timeout is larger than the maximum value allowed by the broker' },
  CONCURRENT_TRANSACTIONS: { code: 51, retriable: true, message: 'the producer attempted to update a transaction while another concurrent operation on the same transaction was ongoing' },
  TRANSACTION_COORDINATOR_FENCED: { code: 52, retriable: false, message: 'the transaction coordinator sending a WriteTxnMarker is no longer the current coordinator' },
  KAFKA_STORAGE_ERROR: { code: 56, retriable: true, message: 'disk error when trying to access log file on the disk' },
  LOG_DIR_NOT_FOUND: { code: 57, retriable: false, message: 'the user-specified log directory is not found in the broker config' },
  UNKNOWN_PRODUCER_ID: { code: 59, retriable: false, message: 'the broker could not locate the producer metadata associated with the producer id' },
  FENCED_LEADER_EPOCH: { code: 74, retriable: true, message: 'the leader epoch in the request is older than the epoch on the broker' },
  UNKNOWN_LEADER_EPOCH: { code: 75, retriable: true, message: 'the leader epoch in the request is newer than the epoch on the broker' },
  STALE_BROKER_EPOCH: { code: 77, retriable: false, message: 'broker epoch has changed' },
  OFFSET_NOT_AVAILABLE: { code: 78, retriable: true, message: 'the leader high watermark has not caught up from a recent leader election so the offsets cannot be guaranteed to be monotonically increasing' },
  PREFERRED_LEADER_NOT_AVAILABLE: { code: 80, retriable: true, message: 'the preferred leader was not available' },
  ELIGIBLE_LEADERS_NOT_AVAILABLE: { code: 83, retriable: true, message: 'eligible topic partition leaders are not available' },
  ELECTION_NOT_NEEDED: { code: 84, retriable: true, message: 'leader election not needed for topic partition' },
  INVALID_UPDATE_VERSION: { code: 95, retriable: false, message: 'the given update version was invalid' },
  DUPLICATE_BROKER_REGISTRATION: { code: 101, retriable: false, message: 'this broker id is already in use' },
  BROKER_ID_NOT_REGISTERED: { code: 102, retriable: false, message: 'the given broker id was not registered' },
  INELIGIBLE_REPLICA: { code: 107, retriable: false, message: 'the new ISR contains at least one ineligible replica' },
  MEMBER_ID_REQUIRED: { code: 79, retriable: false, message: 'the group member needs to have a valid member id before actually entering a consumer group' },
  FENCED_INSTANCE_ID: { code: 82, retriable: false, message: 'the broker rejected this static consumer since another consumer with the same group.instance.id has registered with a different member.id' },
  GROUP_MAX_SIZE_REACHED: { code: 81, retriable: false, message: 'the consumer group has reached its max size' },
  UNSTABLE_OFFSET_COMMIT: { code: 88, retriable: true, message: 'there are unstable offsets that need to be cleared' },
  INVALID_RECORD: { code: 87, retriable: false, message: 'this record has failed the validation on broker and hence will be rejected' },
  PRODUCER_FENCED: { code: 90, retriable: false, message: 'there is a newer producer with the same transactionalId which fences the current one' },
  // samsa's own (conditional appends, record/keyVersions.ts); outside Kafka's range of codes.
  WRONG_EXPECTED_VERSION: { code: 10001, retriable: false, message: "the key is not at the version the record expects" },
  TRANSACTION_ABORTABLE: { code: 120, retriable: false, message: 'the server encountered an error with the transaction; the client can abort the transaction to continue using this transactional id' },
} as const satisfies Record<string, KafkaErrorInfo>;

/** Name of one of Kafka's protocol errors, e.g. `'OFFSET_OUT_OF_RANGE'`. */
export type KafkaErrorName = keyof typeof KAFKA_ERRORS;

/** The plain-data form of an error, safe to send between actors and processes. */
export interface SamsaErrorJSON {
  readonly name: string;
  readonly code: string;
  readonly message: string;
  readonly retriable: boolean;
  readonly details?: Readonly<Record<string, unknown>>;
}

/** Options accepted by every samsa error constructor. */
export interface SamsaErrorOptions {
  readonly cause?: unknown;
}

/**
 * Base class of every error samsa throws.
 *
 * `code` is stable across versions and safe to switch on; `retriable` says whether repeating the
 * same operation can succeed. `SamsaError.is(e)` works across duplicate copies of the package.
 */
export class SamsaError extends Error {
  /** Stable SCREAMING_SNAKE identifier of the condition. */
  readonly code: string;
  /** True when repeating the operation may succeed without any change by the caller. */
  readonly retriable: boolean;

  constructor(message: string, code: string, retriable = false, options?: SamsaErrorOptions) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.code = code;
    this.retriable = retriable;
  }

  /** Typed context of this error, included in {@link SamsaError.toJSON}. */
  details(): Record<string, unknown> {
    return {};
  }

  /** Plain-data form, rebuilt by {@link errorFromJSON}. */
  toJSON(): SamsaErrorJSON {
    return { name: this.name, code: this.code, message: this.message, retriable: this.retriable, details: this.details() };
  }

  /**
   * True when `e` is a samsa error — of this class when called on a subclass
   * (`ProducerFencedError.is(e)`) — even one thrown by another copy of the package.
   */
  static is(e: unknown): e is SamsaError {
    if (this !== SamsaError && typeof this === 'function') return e instanceof this || (SamsaError.is(e) && e.name === this.name);
    return e instanceof SamsaError || (typeof e === 'object' && e !== null && typeof (e as { code?: unknown }).code === 'string' && typeof (e as { retriable?: unknown }).retriable === 'boolean' && e instanceof Error);
  }
}

/**
 * An error Kafka defines in its protocol error table; `errorCode` is Kafka's numeric code.
 * Subclasses add context; this class is used as is for codes without a dedicated class.
 */
export class KafkaProtocolError extends SamsaError {
  /** Kafka's numeric error code. */
  readonly errorCode: number;

  /** `options.retriable` overrides the table where a client treats the code differently (e.g. a consumer's corrupt batch). */
  constructor(name: KafkaErrorName, message?: string, options?: SamsaErrorOptions & { readonly retriable?: boolean }) {
    const info: KafkaErrorInfo = KAFKA_ERRORS[name];
    super(message ?? info.message, name, options?.retriable ?? info.retriable, options);
    this.errorCode = info.code;
  }

  /** Whether `e` is a Kafka protocol error, optionally of the given name. */
  static isKafka(e: unknown, name?: KafkaErrorName): e is KafkaProtocolError {
    return SamsaError.is(e) && typeof (e as { errorCode?: unknown }).errorCode === 'number' && (name === undefined || e.code === name);
  }
}

/**
 * Conditions of a batch's appends did not hold (WRONG_EXPECTED_VERSION): nothing of the batch was
 * written. `recordErrors` names the first record of each failed append (Kafka's KIP-467
 * `record_errors`), so a producer can send the others again without them.
 */
export class KeyVersionConflictError extends KafkaProtocolError {
  constructor(
    message: string,
    readonly recordErrors: ReadonlyArray<{ readonly batchIndex: number; readonly message: string }>,
  ) {
    super('WRONG_EXPECTED_VERSION', message);
  }
  override details(): Record<string, unknown> {
    return { recordErrors: this.recordErrors };
  }
}

/** A fetch or seek asked for an offset outside [log start offset, log end offset]. */
export class OffsetOutOfRangeError extends KafkaProtocolError {
  constructor(
    readonly offset: bigint,
    readonly logStartOffset: bigint,
    readonly logEndOffset: bigint,
    readonly where = 'partition',
  ) {
    super(
      'OFFSET_OUT_OF_RANGE',
      `offset ${offset} is out of range for ${where} (log start offset ${logStartOffset}, log end offset ${logEndOffset}); seek to a valid offset or let auto.offset.reset choose one`,
    );
  }
  override details(): Record<string, unknown> {
    return { offset: String(this.offset), logStartOffset: String(this.logStartOffset), logEndOffset: String(this.logEndOffset), where: this.where };
  }
}

/** Where a consumer met a corrupt batch: the partition and the offset it cannot read past. */
export interface CorruptRecordLocation {
  readonly topic: string;
  readonly partition: number;
  /** The consumer's position: the first offset it could not read. */
  readonly offset: bigint;
}

/**
 * Bytes that fail validation: bad CRC, truncated batch, impossible field values. Never stored.
 * Without a location it is Kafka's CORRUPT_MESSAGE (retriable: a broker refused the bytes, a new
 * send may succeed). With one it is the consumer's error, raised at the same offset on every poll
 * until the application seeks past it, and not retriable, as the Java client's KafkaException
 * "Received exception when fetching the next record from <tp>".
 */
export class CorruptRecordError extends KafkaProtocolError {
  readonly topic?: string;
  readonly partition?: number;
  readonly offset?: bigint;

  constructor(
    readonly reason: string,
    readonly position?: number,
    location?: CorruptRecordLocation,
  ) {
    super(
      'CORRUPT_MESSAGE',
      location === undefined
        ? `corrupt record batch${position === undefined ? '' : ` at byte ${position}`}: ${reason}`
        : `corrupt record batch at offset ${location.offset} of ${location.topic}-${location.partition}: ${reason}; if needed, seek past the batch (consumer.seek({ topic: ${JSON.stringify(location.topic)}, partition: ${location.partition} }, offset)) to continue consumption`,
      location === undefined ? undefined : { retriable: false },
    );
    if (location !== undefined) {
      this.topic = location.topic;
      this.partition = location.partition;
      this.offset = location.offset;
    }
  }
  override details(): Record<string, unknown> {
    return { reason: this.reason, position: this.position, ...(this.topic === undefined ? {} : { topic: this.topic, partition: this.partition, offset: String(this.offset) }) };
  }
}

/** A batch larger than `max.message.bytes` (after compression), or larger than a whole segment. */
export class RecordTooLargeError extends KafkaProtocolError {
  constructor(
    readonly size: number,
    readonly maxSize: number,
    readonly configKey = 'max.message.bytes',
  ) {
    super(
      configKey === 'segment.bytes' ? 'RECORD_LIST_TOO_LARGE' : 'MESSAGE_TOO_LARGE',
      `record batch of ${size} bytes exceeds ${configKey}=${maxSize}; send smaller batches (lower batch.size) or raise ${configKey}`,
    );
  }
  override details(): Record<string, unknown> {
    return { size: this.size, maxSize: this.maxSize, configKey: this.configKey };
  }
}

/** A record the broker refuses, e.g. a null key on a compacted topic. */
export class InvalidRecordError extends KafkaProtocolError {
  constructor(reason: string) {
    super('INVALID_RECORD', reason);
  }
}

/** A configuration value that is unknown, of the wrong type or out of range. */
export class InvalidConfigError extends KafkaProtocolError {
  constructor(
    readonly key: string,
    readonly value: unknown,
    reason: string,
  ) {
    super('INVALID_CONFIG', `invalid value ${JSON.stringify(value === undefined ? null : String(value))} for config "${key}": ${reason}`);
  }
  override details(): Record<string, unknown> {
    return { key: this.key, value: this.value === undefined ? undefined : String(this.value) };
  }
}

/** A function was called with an argument it cannot accept (wrong type, out of range). */
export class InvalidArgumentError extends SamsaError {
  constructor(
    readonly argument: string,
    reason: string,
  ) {
    super(`invalid argument "${argument}": ${reason}`, 'INVALID_ARGUMENT', false);
  }
  override details(): Record<string, unknown> {
    return { argument: this.argument };
  }
}

/** A directory that exists but does not hold a samsa partition log; nothing in it was touched. */
export class NotALogDirectoryError extends SamsaError {
  constructor(
    readonly path: string,
    reason: string,
  ) {
    super(`"${path}" is not a samsa log directory (${reason}); point samsa at an empty or samsa-created directory`, 'NOT_A_LOG_DIRECTORY', false);
  }
  override details(): Record<string, unknown> {
    return { path: this.path };
  }
}

/** An I/O failure of the underlying storage. */
export class StorageError extends KafkaProtocolError {
  constructor(
    readonly path: string,
    operation: string,
    options?: SamsaErrorOptions,
  ) {
    super('KAFKA_STORAGE_ERROR', `storage failure while trying to ${operation} "${path}"${options?.cause instanceof Error ? `: ${options.cause.message}` : ''}`, options);
  }
  override details(): Record<string, unknown> {
    return { path: this.path };
  }
}

/** Operation on a closed resource (log, producer, consumer). */
export class ClosedError extends SamsaError {
  constructor(readonly what: string) {
    super(`${what} is closed; create a new one`, 'CLOSED', false);
  }
  override details(): Record<string, unknown> {
    return { what: this.what };
  }
}

/** An operation did not finish within its time limit (`request.timeout.ms`, `delivery.timeout.ms`, …). */
export class TimeoutError extends SamsaError {
  constructor(
    readonly operation: string,
    readonly timeoutMs: number,
    hint = 'check that the brokers are up and reachable, or raise the timeout',
    options?: SamsaErrorOptions,
  ) {
    super(`${operation} timed out after ${timeoutMs} ms; ${hint}`, 'TIMEOUT', true, options);
  }
  override details(): Record<string, unknown> {
    return { operation: this.operation, timeoutMs: this.timeoutMs };
  }
}

/**
 * A transactional producer call its transaction state does not allow, such as committing with no
 * transaction begun (Kafka's `IllegalStateException` from its `TransactionManager`).
 */
export class TransactionStateError extends SamsaError {
  constructor(
    readonly transactionalId: string,
    readonly state: string,
    readonly operation: string,
    hint: string,
  ) {
    super(`producer with transactional id "${transactionalId}" cannot ${operation} in state ${state}; ${hint}`, 'ILLEGAL_TRANSACTION_STATE', false);
  }
  override details(): Record<string, unknown> {
    return { transactionalId: this.transactionalId, state: this.state, operation: this.operation };
  }

  /** Whether `e` is a transaction state error, even one rebuilt from data or thrown by another copy of the package. */
  static override is(e: unknown): e is TransactionStateError {
    return SamsaError.is(e) && e.code === 'ILLEGAL_TRANSACTION_STATE';
  }
}

/**
 * A transactional producer was fenced by a newer instance with the same transactional id
 * (PRODUCER_FENCED): only that instance may continue; this one must be closed, not retried.
 */
export class ProducerFencedError extends KafkaProtocolError {
  constructor(
    readonly transactionalId: string,
    reason: string,
    options?: SamsaErrorOptions,
  ) {
    super('PRODUCER_FENCED', `producer with transactional id "${transactionalId}" was fenced by a newer instance with the same id (${reason}); make sure each running instance has its own instanceId`, options);
  }
  override details(): Record<string, unknown> {
    return { transactionalId: this.transactionalId };
  }

  /**
   * Whether `e` says the producer was fenced: PRODUCER_FENCED, or INVALID_PRODUCER_EPOCH, which
   * older coordinators answer for the same condition (Kafka's client treats both alike, KIP-588).
   */
  static override is(e: unknown): e is ProducerFencedError {
    return KafkaProtocolError.isKafka(e, 'PRODUCER_FENCED') || KafkaProtocolError.isKafka(e, 'INVALID_PRODUCER_EPOCH');
  }
}

/**
 * The open transaction cannot commit (TRANSACTION_ABORTABLE): a send or a request of it failed,
 * or it was aborted under its sends. The producer stays usable: abort the transaction, then do
 * its work again in a new one.
 */
export class TransactionAbortableError extends KafkaProtocolError {
  constructor(
    readonly transactionalId: string | undefined,
    message?: string,
    options?: SamsaErrorOptions,
  ) {
    super('TRANSACTION_ABORTABLE', message, options);
  }
  override details(): Record<string, unknown> {
    return this.transactionalId === undefined ? {} : { transactionalId: this.transactionalId };
  }

  /** Whether `e` is TRANSACTION_ABORTABLE, whichever class carries it. */
  static override is(e: unknown): e is TransactionAbortableError {
    return KafkaProtocolError.isKafka(e, 'TRANSACTION_ABORTABLE');
  }
}

/**
 * The consumer group is rebalancing (REBALANCE_IN_PROGRESS): an offset commit cannot be accepted
 * now. The member keeps its partitions until the rebalance says otherwise: poll to complete the
 * rebalance, then commit again (what was not committed is read again by the partition's owner).
 */
export class RebalanceInProgressError extends KafkaProtocolError {
  constructor(
    readonly groupId: string | undefined,
    message?: string,
    options?: SamsaErrorOptions,
  ) {
    super('REBALANCE_IN_PROGRESS', message, options);
  }
  override details(): Record<string, unknown> {
    return this.groupId === undefined ? {} : { groupId: this.groupId };
  }

  /** Whether `e` is REBALANCE_IN_PROGRESS, whichever class carries it. */
  static override is(e: unknown): e is RebalanceInProgressError {
    return KafkaProtocolError.isKafka(e, 'REBALANCE_IN_PROGRESS');
  }
}

/**
 * A log directory is locked by another cluster (Kafka's `.lock`): two processes writing one
 * directory would lose acknowledged writes, so the second is refused and nothing is touched.
 */
export class LogDirectoryLockedError extends SamsaError {
  constructor(
    readonly path: string,
    readonly pid: number,
    readonly hostname: string,
  ) {
    super(`the log directory "${path}" is locked by process ${pid} on ${hostname}; stop that process (or its cluster) first, or use another dataDir`, 'LOG_DIRECTORY_LOCKED', false);
  }
  override details(): Record<string, unknown> {
    return { path: this.path, pid: this.pid, hostname: this.hostname };
  }
}

/**
 * A data directory was formatted for another cluster or node (Kafka's
 * InconsistentClusterIdException / InconsistentNodeIdException); nothing in it was touched.
 */
export class InconsistentDataDirectoryError extends SamsaError {
  constructor(
    readonly path: string,
    readonly property: 'cluster.id' | 'node.id',
    readonly expected: string,
    readonly found: string,
  ) {
    super(`invalid ${property} in "${path}": expected ${expected}, but read ${found}; this directory belongs to another ${property === 'cluster.id' ? 'cluster' : 'node'}: use another dataDir or move the directory away`, property === 'cluster.id' ? 'INCONSISTENT_CLUSTER_ID' : 'INCONSISTENT_NODE_ID', false);
  }
  override details(): Record<string, unknown> {
    return { path: this.path, property: this.property, expected: this.expected, found: this.found };
  }
}

/**
 * A partition directory holds another topic's log (same name, other topic id: Kafka's
 * InconsistentTopicIdException); it is never adopted by the new topic.
 */
export class InconsistentTopicIdError extends SamsaError {
  constructor(
    readonly path: string,
    readonly expected: string,
    readonly found: string,
  ) {
    super(`"${path}" holds the log of topic id ${found}, not ${expected}: it belongs to a deleted topic of the same name`, 'INCONSISTENT_TOPIC_ID', false);
  }
  override details(): Record<string, unknown> {
    return { path: this.path, expected: this.expected, found: this.found };
  }
}

/**
 * A message that cannot cross a network: it holds a function, a symbol, a class instance (a Map,
 * a Set, a Date, an error, …) or a cycle, which an encoding would drop or flatten silently. A bug
 * in the sender: messages are plain data (DESIGN §3), so the transport refuses it loudly.
 */
export class UnencodableMessageError extends SamsaError {
  constructor(
    readonly messageType: string,
    readonly path: string,
    reason: string,
  ) {
    super(`message "${messageType}" cannot cross the network: ${path} ${reason}; send plain data only (numbers, strings, booleans, null, undefined, bigint, Uint8Array, arrays and plain objects)`, 'UNENCODABLE_MESSAGE', false);
  }
  override details(): Record<string, unknown> {
    return { messageType: this.messageType, path: this.path };
  }
}

/**
 * A transport that cannot carry messages: its client library is not installed, its server cannot
 * be reached, or it refused the credentials. `reason` says which and how to fix it.
 */
export class TransportUnavailableError extends SamsaError {
  constructor(
    readonly transport: string,
    readonly reason: string,
    options?: SamsaErrorOptions,
  ) {
    super(`the ${transport} transport is unavailable: ${reason}`, 'TRANSPORT_UNAVAILABLE', true, options);
  }
  override details(): Record<string, unknown> {
    return { transport: this.transport, reason: this.reason };
  }
}

/**
 * A message larger than the transport can carry (NATS: more chunks than `maxMessageBytes`
 * allows). It is dropped, as a network drops what it cannot carry; the request it answers times
 * out. Raise the limit, or ask for less (`fetch.max.bytes`, `max.partition.fetch.bytes`).
 */
export class MessageTooLargeError extends SamsaError {
  constructor(
    readonly messageType: string,
    readonly bytes: number,
    readonly limit: number,
    readonly fix: string,
  ) {
    super(`message "${messageType}" of ${bytes} bytes exceeds the transport's limit of ${limit} bytes and was dropped; ${fix}`, 'MESSAGE_TOO_LARGE', false);
  }
  override details(): Record<string, unknown> {
    return { messageType: this.messageType, bytes: this.bytes, limit: this.limit };
  }
}

/**
 * Bytes received from the network that are not a samsa message: garbage, a truncated frame, a
 * message without a `type` or of a type this node does not know. The transport drops them and
 * reports it; the node never sees them.
 */
export class UndecodableMessageError extends SamsaError {
  constructor(
    readonly reason: string,
    readonly messageType?: string,
    options?: SamsaErrorOptions,
  ) {
    super(`cannot decode a message${messageType === undefined ? '' : ` of type "${messageType}"`}: ${reason}; it was dropped: check that the sender is a samsa node of the same protocol version`, 'UNDECODABLE_MESSAGE', false, options);
  }
  override details(): Record<string, unknown> {
    return this.messageType === undefined ? { reason: this.reason } : { reason: this.reason, messageType: this.messageType };
  }
}

/**
 * A streams topology that cannot run as written: an operator after a terminal one, a store name
 * used twice, a missing serde, co-partitioned inputs with different partition counts, an unknown
 * source topic. Raised at build or start, before anything runs; `reason` says what to change.
 */
export class TopologyError extends SamsaError {
  constructor(readonly reason: string) {
    super(`invalid topology: ${reason}`, 'INVALID_TOPOLOGY', false);
  }
  override details(): Record<string, unknown> {
    return { reason: this.reason };
  }
}

/**
 * An append's expected version did not hold: the stream is at `actual`, not `expected` (a
 * version, 'no_stream' or 'stream_exists'). Nothing of the append was written. Reload the stream
 * and decide again (or let `handle` retry on conflict).
 */
export class WrongExpectedVersionError extends SamsaError {
  constructor(
    readonly streamId: string,
    readonly expected: bigint | 'no_stream' | 'stream_exists',
    readonly actual: bigint,
  ) {
    super(`stream "${streamId}" is at version ${actual}, not the expected ${String(expected)}; nothing was appended — reload the stream and decide again`, 'WRONG_EXPECTED_VERSION', false);
  }
  override details(): Record<string, unknown> {
    return { streamId: this.streamId, expected: String(this.expected), actual: this.actual.toString() };
  }
}

/**
 * A serde could not turn a key or value into bytes or back. Carries where the record came from
 * (topic, and partition and offset when it was read), so a poison record can be found and skipped.
 */
export class SerdeError extends SamsaError {
  constructor(
    readonly operation: 'serialize' | 'deserialize',
    readonly part: 'key' | 'value',
    readonly topic: string,
    reason: string,
    readonly partition?: number,
    readonly offset?: bigint,
    options?: SamsaErrorOptions,
  ) {
    super(`cannot ${operation} the ${part} of a record of topic "${topic}"${partition === undefined ? '' : ` partition ${partition}`}${offset === undefined ? '' : ` offset ${offset}`}: ${reason}`, 'SERDE_ERROR', false, options);
  }
  override details(): Record<string, unknown> {
    return { operation: this.operation, part: this.part, topic: this.topic, ...(this.partition === undefined ? {} : { partition: this.partition }), ...(this.offset === undefined ? {} : { offset: String(this.offset) }) };
  }
}

/**
 * A projection stopped: its handler failed on an event and its error policy says fail (or the
 * retries ran out), its migration failed, or its target refused a write. Names the projection,
 * what it was doing and, for an event, where the event is, so it can be fixed, skipped or reset.
 */
export class ProjectionError extends SamsaError {
  constructor(
    readonly projection: string,
    readonly phase: 'handle' | 'migrate' | 'target',
    reason: string,
    readonly position?: { readonly topic: string; readonly partition: number; readonly offset: bigint },
    options?: SamsaErrorOptions,
  ) {
    super(`projection "${projection}" failed to ${phase}${position === undefined ? '' : ` the event at ${position.topic}-${position.partition}@${position.offset}`}: ${reason}`, 'PROJECTION_FAILED', false, options);
  }
  override details(): Record<string, unknown> {
    return { projection: this.projection, phase: this.phase, ...(this.position === undefined ? {} : { topic: this.position.topic, partition: this.position.partition, offset: String(this.position.offset) }) };
  }
}

/** Every samsa error class, for `instanceof` checks without importing each one. */
export const errors = {
  SamsaError,
  KafkaProtocolError,
  OffsetOutOfRangeError,
  CorruptRecordError,
  RecordTooLargeError,
  InvalidRecordError,
  InvalidConfigError,
  InvalidArgumentError,
  NotALogDirectoryError,
  StorageError,
  ClosedError,
  TimeoutError,
  TransactionStateError,
  LogDirectoryLockedError,
  InconsistentDataDirectoryError,
  InconsistentTopicIdError,
  ProducerFencedError,
  TransactionAbortableError,
  RebalanceInProgressError,
  UnencodableMessageError,
  UndecodableMessageError,
  TransportUnavailableError,
  MessageTooLargeError,
  TopologyError,
  SerdeError,
  WrongExpectedVersionError,
  ProjectionError,
} as const;

/** Kafka codes a caller handles differently, rebuilt as their own class wherever they arrive as data. */
const DEDICATED: Partial<Record<KafkaErrorName, (message: string, details: Readonly<Record<string, unknown>>) => KafkaProtocolError>> = {
  TRANSACTION_ABORTABLE: (message, details) => new TransactionAbortableError(typeof details.transactionalId === 'string' ? details.transactionalId : undefined, message),
  REBALANCE_IN_PROGRESS: (message, details) => new RebalanceInProgressError(typeof details.groupId === 'string' ? details.groupId : undefined, message),
};

/**
 * Rebuilds an error sent as data. The result is a {@link SamsaError} (or {@link KafkaProtocolError}
 * for Kafka codes) with the original name, code, message, retriability and details. A code with a
 * class of its own ({@link TransactionAbortableError}, {@link RebalanceInProgressError}) comes back
 * as that class, so callers branch on classes whichever node raised it.
 */
export function errorFromJSON(json: SamsaErrorJSON): SamsaError {
  const isKafka = Object.prototype.hasOwnProperty.call(KAFKA_ERRORS, json.code);
  const dedicated = isKafka ? DEDICATED[json.code as KafkaErrorName] : undefined;
  const error = dedicated !== undefined ? dedicated(json.message, json.details ?? {}) : isKafka ? new KafkaProtocolError(json.code as KafkaErrorName, json.message) : new SamsaError(json.message, json.code, json.retriable);
  if (dedicated === undefined) error.name = json.name;
  const details = json.details ?? {};
  Object.defineProperty(error, 'details', { value: () => ({ ...details }) });
  for (const [k, v] of Object.entries(details)) {
    if (!(k in error)) Object.defineProperty(error, k, { value: v, enumerable: true });
  }
  return error;
}
