/**
 * The shapes every projection target shares: where a projection writes (`ProjectionTarget`), the
 * running projection a caller manages (`ProjectionRunner`), and the query side (`ProjectionView`).
 */
import type { Observable } from 'rxjs';
import type { TopicPartitionOffset } from '../clients/api.ts';
import type { EventPosition } from '../eventsourcing/events.ts';
import type { SqlHandle } from './sql.ts';
import type { DeadLetter } from './sqlState.ts';
import type { SqliteOptions } from './sqlite.ts';
import type { PostgresOptions } from './postgres.ts';
import type { BatchFaults } from './sqlBatch.ts';

export type { BatchFaults } from './sqlBatch.ts';

export type { DeadLetter } from './sqlState.ts';

/** Where a projection keeps its read model. */
export type ProjectionTarget =
  | { readonly kind: 'store'; readonly stateDir?: string }
  | { readonly kind: 'sqlite'; readonly options: SqliteOptions }
  | { readonly kind: 'postgres'; readonly options: PostgresOptions };

/** The default target: a samsa state store with its changelog, exactly-once as a streams store; queried with `get`, `range`, `prefix`. */
export function storeTarget(options: { readonly stateDir?: string } = {}): ProjectionTarget {
  return { kind: 'store', ...(options.stateDir === undefined ? {} : { stateDir: options.stateDir }) };
}

/** A SQLite database file (better-sqlite3 12): offsets are stored in the transaction that writes the rows. */
export function sqliteTarget(options: SqliteOptions | string): ProjectionTarget {
  return { kind: 'sqlite', options: typeof options === 'string' ? { filename: options } : options };
}

/** A PostgreSQL database (`pg`): offsets are stored in the transaction that writes the rows. */
export function postgresTarget(options: PostgresOptions | string): ProjectionTarget {
  return { kind: 'postgres', options: typeof options === 'string' ? { connectionString: options } : options };
}

/** Options of `runProjection`. */
export interface RunProjectionOptions {
  /** Where the read model lives (default: a samsa store). */
  readonly target?: ProjectionTarget;
  /**
   * 'exactly_once_v2' (default): a SQL target stores the input offsets in the transaction that
   * writes the rows, a store target commits state, changelog and offsets in one Kafka transaction.
   * 'at_least_once': offsets are committed to the consumer group after the rows (a crash between
   * the two applies events again: only for idempotent projections).
   */
  readonly processingGuarantee?: 'at_least_once' | 'exactly_once_v2';
  /** This instance's id (default: one derived from the projection). */
  readonly clientId?: string;
  /** How often lag is measured and a building version checks whether it can take over, ms (default 500). */
  readonly checkIntervalMs?: number;
  /** Consumer session timeout, ms (Kafka's default 45000): how soon another instance takes over a dead one's partitions. */
  readonly sessionTimeoutMs?: number;
  /**
   * The most events one database transaction applies (the consumer's `max.poll.records`, default
   * 500 as Kafka's): larger batches amortize the transaction, smaller ones shorten `waitFor`'s wait.
   */
  readonly maxBatchSize?: number;
  /**
   * `replication.factor` of a store target's changelog topics (default 1, as Kafka Streams'
   * internal topics); 3 on a cluster of three or more brokers keeps the read model through the
   * loss of a broker. SQL targets keep their state in the database and ignore it.
   */
  readonly replicationFactor?: number;
  /** Fault injection for tests: called inside the transaction between the rows and the offset. */
  readonly faults?: BatchFaults;
}

/** Where a runner is in its life. */
export type ProjectionStatus = 'starting' | 'running' | 'paused' | 'failed' | 'stopped';

/** An event the projection failed on, and what its policy did. */
export interface ProjectionErrorEvent {
  readonly projection: string;
  readonly position: EventPosition;
  readonly key: string | null;
  readonly error: unknown;
  /** 'retry' (it will be tried again), 'skip', 'deadLetter' (parked), or 'fail' (the runner stopped). */
  readonly action: 'retry' | 'skip' | 'deadLetter' | 'fail';
  readonly attempt: number;
}

/** What `describe()` reports. */
export interface ProjectionDescription {
  readonly name: string;
  readonly version: number;
  readonly build: number;
  readonly target: string;
  readonly status: ProjectionStatus;
  /** Whether this build answers queries now. */
  readonly live: boolean;
  /** The next offset to apply, per input partition this instance owns. */
  readonly positions: readonly TopicPartitionOffset[];
  /** Events committed to the inputs and not yet applied (over every partition, all instances). */
  readonly lag: bigint;
  readonly processed: number;
  readonly errors: number;
  readonly lastError?: unknown;
  readonly deadLetters: number;
}

/** A running projection; see `runProjection`. */
export interface ProjectionRunner<State = unknown> {
  readonly name: string;
  readonly version: number;
  readonly status: ProjectionStatus;
  /** The status now and every change; completes after 'failed' (see `error`) or 'stopped'. */
  readonly status$: Observable<ProjectionStatus>;
  /** The ProjectionError it failed with, once `status` is 'failed'. */
  readonly error: unknown;
  /** Applied positions (next offset per owned partition) after every batch. */
  readonly positions$: Observable<readonly TopicPartitionOffset[]>;
  /** Lag over all input partitions, measured every `checkIntervalMs`. */
  readonly lag$: Observable<bigint>;
  /** Every event the projection failed on, with what its policy did. */
  readonly errors$: Observable<ProjectionErrorEvent>;
  /** The query side over this projection's target. */
  readonly view: ProjectionView<State>;
  describe(): Promise<ProjectionDescription>;
  /** Stops applying events (the partitions stay owned) until `resume`. */
  pause(): void;
  resume(): void;
  /**
   * Moves the stored offsets (all partitions) to 'earliest', 'latest' or given offsets, while
   * paused in between. Moving back applies events again on top of the model: use `rebuild` to replay into a clean one.
   */
  reset(to: 'earliest' | 'latest' | readonly TopicPartitionOffset[]): Promise<void>;
  /**
   * Truncate-and-replay without downtime: a new build of this version replays the input beside the
   * live one, which keeps answering queries until the new one has caught up; then it is replaced.
   * Resumable: a runner restarted meanwhile continues the new build.
   */
  rebuild(): Promise<void>;
  /** Parked events (of one key, or all), in order. */
  deadLetters(key?: string): Promise<DeadLetter[]>;
  /** Applies parked events again (of one key, or all), in order per key; stops per key at the first that fails again. */
  retryDeadLetters(key?: string): Promise<{ readonly applied: number; readonly remaining: number }>;
  /** Finishes the batch in hand and stops; offsets are stored, nothing is lost. */
  stop(): Promise<void>;
}

/** A document of a document projection, with its key. */
export interface ViewEntry<State> {
  readonly key: string;
  readonly value: State;
}

/** The query side of a projection: it reads the live build (after a blue-green cutover, the new one). */
export interface ProjectionView<State = unknown> {
  /** A document by key (document projections). */
  get(key: string): Promise<State | undefined>;
  /** Documents with keys in [from, to], both inclusive as Kafka's range(), in key order (document projections). */
  range(from?: string, to?: string): Promise<Array<ViewEntry<State>>>;
  /** Documents whose key starts with `prefix`, in key order (document projections). */
  prefix(prefix: string): Promise<Array<ViewEntry<State>>>;
  /** Any SQL over the live build's tables (SQL targets): `db.table(name)` names them. */
  query<T>(run: (db: SqlHandle) => Promise<T>): Promise<T>;
  /**
   * Resolves once the live build has applied the event at `position` (as returned by `append` or
   * `handle`), and every event before it in its partition: read-your-writes across the command →
   * projection → query boundary. @throws TimeoutError after `timeoutMs` (default 30000).
   */
  waitFor(position: EventPosition | readonly EventPosition[] | undefined, options?: { readonly timeoutMs?: number }): Promise<void>;
  /** A live query: `run`'s result now, then again each time it changes. */
  watch<T>(run: (view: ProjectionView<State>) => Promise<T>): Observable<T>;
  /** The version and build answering queries, if any. */
  live(): Promise<{ readonly version: number; readonly build: number } | undefined>;
  /** Makes `version` answer queries again (rollback), or a newer one once more. */
  useVersion(version: number): Promise<void>;
  /** Releases its connection. */
  close(): Promise<void>;
}

/**
 * Resolves once every input topic exists (an event store creates its category's topic on the first
 * append, with the key index on: a projection must not create it first without it).
 */
export async function waitForTopics(admin: { listTopics(): Promise<string[]> }, topics: readonly string[], wait: (ms: number) => Promise<void>, stopped: () => boolean): Promise<boolean> {
  for (let delay = 20; !stopped(); delay = Math.min(delay * 2, 1000)) {
    const existing = new Set(await admin.listTopics());
    if (topics.every((t) => existing.has(t))) return true;
    await wait(delay);
  }
  return false;
}
