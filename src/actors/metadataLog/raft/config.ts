/**
 * The quorum settings of a {@link RaftNode} under Kafka's keys (`QuorumConfig.java`), their
 * defaults, and the one function that validates them. Also the fixed times Kafka hard-codes
 * (fetch long poll, check-quorum factor, election back-off base).
 */
import { InvalidArgumentError, InvalidConfigError } from '../../../errors.ts';

/**
 * Quorum configuration with Kafka's keys (`QuorumConfig.java`). Values are numbers or numeric
 * strings, as `server.properties` would hold them; omitted keys take {@link RAFT_CONFIG_DEFAULTS}.
 */
export interface RaftConfig {
  /** Base election timeout; each wait is drawn from [t, 2t). */
  readonly 'controller.quorum.election.timeout.ms'?: number | string;
  /** A follower that hears nothing from its leader for this long starts an election. */
  readonly 'controller.quorum.fetch.timeout.ms'?: number | string;
  /** Upper bound of the random back-off of a candidate that lost or timed out. */
  readonly 'controller.quorum.election.backoff.max.ms'?: number | string;
  /** A request without a response for this long is sent again. Must exceed the fetch max wait. */
  readonly 'controller.quorum.request.timeout.ms'?: number | string;
  /** Pause before fetching again after an error response. */
  readonly 'controller.quorum.retry.backoff.ms'?: number | string;
}

/** A validated quorum configuration, in milliseconds. Frozen. */
export interface RaftQuorumConfig {
  readonly electionTimeoutMs: number;
  readonly fetchTimeoutMs: number;
  readonly electionBackoffMaxMs: number;
  readonly requestTimeoutMs: number;
  readonly retryBackoffMs: number;
}

/** Kafka's defaults for every key of {@link RaftConfig} (Kafka 3.9). */
export const RAFT_CONFIG_DEFAULTS = Object.freeze({
  'controller.quorum.election.timeout.ms': 1000,
  'controller.quorum.fetch.timeout.ms': 2000,
  'controller.quorum.election.backoff.max.ms': 1000,
  'controller.quorum.request.timeout.ms': 2000,
  'controller.quorum.retry.backoff.ms': 20,
} as const);

/** Kafka's hard-coded long-poll time of a KRaft fetch (`KafkaRaftClient.MAX_FETCH_WAIT_MS`). */
export const DEFAULT_FETCH_MAX_WAIT_MS = 500;

/** Default of the most entries one fetch response carries, so a far-behind follower catches up in steps. */
export const DEFAULT_FETCH_MAX_RECORDS = 1000;

/** Kafka's check-quorum factor: a leader not fetched from by a majority for 1.5 × fetch timeout resigns. */
export const CHECK_QUORUM_TIMEOUT_FACTOR = 1.5;
/** Kafka's base of the exponential election back-off (`RaftUtil` / `KafkaRaftClient.RETRY_BACKOFF_BASE_MS`). */
export const ELECTION_BACKOFF_BASE_MS = 100;

const CONFIG_MINIMUM: Readonly<Record<keyof typeof RAFT_CONFIG_DEFAULTS, number>> = {
  'controller.quorum.election.timeout.ms': 1,
  'controller.quorum.fetch.timeout.ms': 1,
  'controller.quorum.election.backoff.max.ms': 1,
  'controller.quorum.request.timeout.ms': 1,
  'controller.quorum.retry.backoff.ms': 0,
};

/**
 * Validates `config` and fills in Kafka's defaults. Every key must be a known
 * `controller.quorum.*` key and every value an integer within range.
 * @throws InvalidConfigError naming the key, the value and the fix.
 */
export function parseRaftConfig(config: RaftConfig = {}, fetchMaxWaitMs = DEFAULT_FETCH_MAX_WAIT_MS): RaftQuorumConfig {
  if (typeof config !== 'object' || config === null) throw new InvalidArgumentError('config', `expected an object of controller.quorum.* keys, got ${String(config)}`);
  const values: Record<string, number> = { ...RAFT_CONFIG_DEFAULTS };
  for (const [key, raw] of Object.entries(config)) {
    if (!(key in RAFT_CONFIG_DEFAULTS)) {
      throw new InvalidConfigError(key, raw, `unknown quorum config; use one of ${Object.keys(RAFT_CONFIG_DEFAULTS).join(', ')}`);
    }
    if (raw === undefined) continue;
    const value = typeof raw === 'string' && raw.trim() !== '' ? Number(raw) : raw;
    const min = CONFIG_MINIMUM[key as keyof typeof CONFIG_MINIMUM];
    if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < min) {
      throw new InvalidConfigError(key, raw, `expected an integer number of milliseconds ≥ ${min}; set it to at least ${min} or leave it out for the default ${RAFT_CONFIG_DEFAULTS[key as keyof typeof RAFT_CONFIG_DEFAULTS]}`);
    }
    values[key] = value;
  }
  const requestTimeoutMs = values['controller.quorum.request.timeout.ms'] as number;
  if (requestTimeoutMs <= fetchMaxWaitMs) {
    throw new InvalidConfigError('controller.quorum.request.timeout.ms', requestTimeoutMs, `must exceed the fetch max wait (${fetchMaxWaitMs} ms), or every long-polled fetch is sent twice; raise it above ${fetchMaxWaitMs}`);
  }
  return Object.freeze({
    electionTimeoutMs: values['controller.quorum.election.timeout.ms'] as number,
    fetchTimeoutMs: values['controller.quorum.fetch.timeout.ms'] as number,
    electionBackoffMaxMs: values['controller.quorum.election.backoff.max.ms'] as number,
    requestTimeoutMs,
    retryBackoffMs: values['controller.quorum.retry.backoff.ms'] as number,
  });
}
