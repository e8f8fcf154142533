/**
 * The producer's configuration: Kafka's producer config in camelCase, with Kafka's defaults, checked
 * in one place. Every other part of the producer reads the checked {@link ProducerConfig}, never the
 * options the application passed.
 */
import { InvalidArgumentError } from '../../errors.ts';
import type { CompressionCodec } from '../../record/compression.ts';
import type { Partitioner } from './partitioners.ts';

/** Producer options (Kafka producer config in camelCase; defaults are Kafka's). */
export interface ProducerOptions {
  readonly clientId?: string;
  /** 0, 1 or 'all' (-1). Default 'all', as Kafka ≥ 3.0. */
  readonly acks?: 0 | 1 | -1 | 'all';
  /** `batch.size` bytes per partition batch (16384). */
  readonly batchSize?: number;
  /** `linger.ms` to wait for a batch to fill (0). */
  readonly lingerMs?: number;
  /** `compression.type` (none). */
  readonly compression?: CompressionCodec;
  /** `retries` (Int.MAX). */
  readonly retries?: number;
  /** `retry.backoff.ms` (100). */
  readonly retryBackoffMs?: number;
  /** `retry.backoff.max.ms` (1000). */
  readonly retryBackoffMaxMs?: number;
  /** `delivery.timeout.ms` (120000): total time a record may take, retries included. */
  readonly deliveryTimeoutMs?: number;
  /** `request.timeout.ms` (30000). */
  readonly requestTimeoutMs?: number;
  /** `max.in.flight.requests.per.connection` (5). */
  readonly maxInFlightRequestsPerConnection?: number;
  /** `max.request.size` (1048576): cap on one produce request and on one record. */
  readonly maxRequestSize?: number;
  /** `max.block.ms` (60000): how long `send` waits for topic metadata. */
  readonly maxBlockMs?: number;
  /** 'default' (murmur2 / uniform sticky), 'roundrobin', or a custom partitioner. */
  readonly partitioner?: 'default' | 'roundrobin' | Partitioner;
  /** `partitioner.adaptive.partitioning.enable` (true). */
  readonly adaptivePartitioning?: boolean;
  /** Ask brokers to auto-create unknown topics (`allow.auto.create.topics`, true). */
  readonly allowAutoTopicCreation?: boolean;
  /**
   * `enable.idempotence`: every batch carries a producer id and sequence numbers, so a retried
   * batch is written once. On by default, as Kafka ≥ 3.0, when acks is 'all', retries > 0 and
   * maxInFlightRequestsPerConnection ≤ 5; left unset with other settings it is silently off, set
   * to true with them it is an error.
   */
  readonly idempotent?: boolean;
  /**
   * `transactional.id`: makes the producer transactional (idempotence is then required). One id
   * per logical producer: a new instance with the same id fences the old one.
   */
  readonly transactionalId?: string;
  /** `transaction.timeout.ms` (60000): the coordinator aborts a transaction open longer than this. */
  readonly transactionTimeoutMs?: number;
}

/** The producer options, checked and with Kafka's defaults filled in. */
export interface ProducerConfig {
  readonly acks: 0 | 1 | -1;
  readonly batchSize: number;
  readonly lingerMs: number;
  readonly compression: CompressionCodec;
  readonly retries: number;
  readonly retryBackoffMs: number;
  readonly retryBackoffMaxMs: number;
  readonly deliveryTimeoutMs: number;
  readonly requestTimeoutMs: number;
  /** `max.in.flight.requests.per.connection`. */
  readonly maxInFlight: number;
  readonly maxRequestSize: number;
  readonly maxBlockMs: number;
  readonly partitioner: 'default' | 'roundrobin' | Partitioner;
  readonly adaptivePartitioning: boolean;
  readonly allowAutoTopicCreation: boolean;
  /** Whether batches carry a producer id and sequences (Kafka's rule, see {@link ProducerOptions.idempotent}). */
  readonly idempotent: boolean;
  readonly transactionalId: string | undefined;
  /** Checked only for a transactional producer; undefined otherwise. */
  readonly transactionTimeoutMs: number | undefined;
}

/**
 * Checks `options` and fills in Kafka's defaults, in the order Kafka's producer reports them.
 * @throws InvalidArgumentError naming the first option that is wrong or conflicts with another.
 */
export function resolveProducerConfig(options: ProducerOptions): ProducerConfig {
  const acksOption = options.acks ?? 'all';
  if (acksOption !== 0 && acksOption !== 1 && acksOption !== -1 && acksOption !== 'all') throw new InvalidArgumentError('acks', `expected 0, 1, -1 or 'all', got ${String(acksOption)}`);
  const acks = acksOption === 'all' ? -1 : acksOption;
  const batchSize = positiveInt('batchSize', options.batchSize ?? 16384, 1);
  const lingerMs = positiveInt('lingerMs', options.lingerMs ?? 0, 0);
  const compression = options.compression ?? 'none';
  if (!['none', 'gzip', 'snappy', 'lz4', 'zstd'].includes(compression)) throw new InvalidArgumentError('compression', `expected none, gzip, snappy, lz4 or zstd, got ${String(compression)}`);
  const retries = positiveInt('retries', options.retries ?? 2147483647, 0);
  const retryBackoffMs = positiveInt('retryBackoffMs', options.retryBackoffMs ?? 100, 0);
  const retryBackoffMaxMs = positiveInt('retryBackoffMaxMs', options.retryBackoffMaxMs ?? 1000, 0);
  const requestTimeoutMs = positiveInt('requestTimeoutMs', options.requestTimeoutMs ?? 30000, 1);
  const deliveryTimeoutMs = positiveInt('deliveryTimeoutMs', options.deliveryTimeoutMs ?? 120000, 1);
  if (deliveryTimeoutMs < lingerMs + requestTimeoutMs) throw new InvalidArgumentError('deliveryTimeoutMs', `must be ≥ lingerMs + requestTimeoutMs (${lingerMs + requestTimeoutMs}), as Kafka requires; got ${deliveryTimeoutMs}`);
  const maxInFlight = positiveInt('maxInFlightRequestsPerConnection', options.maxInFlightRequestsPerConnection ?? 5, 1);
  const maxRequestSize = positiveInt('maxRequestSize', options.maxRequestSize ?? 1048576, 1);
  const maxBlockMs = positiveInt('maxBlockMs', options.maxBlockMs ?? 60000, 0);
  const partitioner = options.partitioner ?? 'default';
  const transactionalId = options.transactionalId;
  if (transactionalId !== undefined && (typeof transactionalId !== 'string' || transactionalId.length === 0)) throw new InvalidArgumentError('transactionalId', `expected a non-empty string, got ${JSON.stringify(transactionalId)}`);
  if (transactionalId !== undefined && options.idempotent === false) throw new InvalidArgumentError('idempotent', 'a transactional producer is idempotent; remove idempotent: false or the transactionalId');
  const idempotent = idempotenceOf(transactionalId === undefined ? options.idempotent : true, acks, retries, maxInFlight);
  const allowAutoTopicCreation = options.allowAutoTopicCreation ?? true;
  const adaptivePartitioning = options.adaptivePartitioning ?? true;
  const transactionTimeoutMs = transactionalId === undefined ? undefined : positiveInt('transactionTimeoutMs', options.transactionTimeoutMs ?? 60_000, 1);
  return { acks, batchSize, lingerMs, compression, retries, retryBackoffMs, retryBackoffMaxMs, deliveryTimeoutMs, requestTimeoutMs, maxInFlight, maxRequestSize, maxBlockMs, partitioner, adaptivePartitioning, allowAutoTopicCreation, idempotent, transactionalId, transactionTimeoutMs };
}

/** Kafka's rule for `enable.idempotence`: explicit true with a conflicting setting is an error; unset, it follows the settings. */
function idempotenceOf(explicit: boolean | undefined, acks: 0 | 1 | -1, retries: number, maxInFlight: number): boolean {
  if (explicit !== undefined && typeof explicit !== 'boolean') throw new InvalidArgumentError('idempotent', `expected a boolean, got ${typeof explicit}`);
  const conflict = acks !== -1 ? `acks=${acks} (idempotence needs acks='all')` : retries === 0 ? 'retries=0 (idempotence needs retries > 0)' : maxInFlight > 5 ? `maxInFlightRequestsPerConnection=${maxInFlight} (idempotence allows at most 5)` : undefined;
  if (explicit === true && conflict !== undefined) throw new InvalidArgumentError('idempotent', `idempotence cannot be enabled with ${conflict}; change that setting or set idempotent: false`);
  return explicit ?? conflict === undefined;
}

function positiveInt(name: string, value: number, min: number): number {
  if (!Number.isSafeInteger(value) || value < min) throw new InvalidArgumentError(name, `expected an integer ≥ ${min}, got ${value}`);
  return value;
}
