/**
 * A keyed host: one actor per key, over the partitions of an internal topic that this broker
 * leads. It is the shape the group coordinator (a group per `group.id` over `__consumer_offsets`)
 * and the transaction coordinator (a transactional id over `__transaction_state`) share, as
 * Kafka's `CoordinatorRuntime` is shared by its coordinators:
 *
 * - **Partitions.** The host appends to, reads and watches the offsets of the internal partitions
 *   through {@link InternalPartitions}, which its broker provides (appends with acks=all).
 * - **Takeover.** {@link KeyedHost.load} takes over a partition: once everything in its log at that
 *   moment is committed (`pendingLoads.ts`), the partition is held and the caller's `replay`
 *   rebuilds its state from the log; until then {@link KeyedHost.ownership} says `loading` and the
 *   caller answers COORDINATOR_LOAD_IN_PROGRESS. An epoch (the partition's leader epoch, or `true`
 *   when the caller needs none) tells a new takeover from a repeated one.
 * - **Keyed actors.** {@link KeyedHost.actorFor} creates a key's actor on first use, on the
 *   broker's clock, tracked by inspection and registered before it starts (an actor may emit while
 *   it starts). Only the current actor of a key is heard: a stopped or replaced actor's late
 *   events and append completions are dropped, so the new owner alone decides.
 * - **Giving up.** {@link KeyedHost.unload} lets each actor of a partition answer what it parked
 *   (`onResign`), stops it, and calls the caller's `onUnload` for what it keeps beside them.
 *
 * What stays with each host: its requests and their answers, its records (the caller encodes and
 * replays them) and any state beside the actors (committed offsets, marker rounds).
 *
 * A third host fits the same way: event-sourced aggregates keyed by stream id over their topic's
 * partitions. Its `partitionOf` is the topic's partitioner on the stream id, `replay` rebuilds
 * (or snapshots) each stream's version from the partition's records, the actor per stream id
 * decides commands, and its writes go through {@link KeyedHost.appendFor}, so a write that
 * completes after the partition moved away is ignored.
 */
import { createActor } from 'xstate';
import type { Actor, AnyActorLogic, EmittedFrom, InputFrom } from 'xstate';
import type { Clock } from '../../clock.ts';
import { wireError } from '../../protocol/index.ts';
import type { WireError } from '../../protocol/index.ts';
import type { InspectionSink } from '../inspection.ts';
import { PendingLoads } from './pendingLoads.ts';
import type { PartitionOffsets } from './pendingLoads.ts';

/** The internal partitions a keyed host keeps its state in, as its broker offers them. */
export interface InternalPartitions<TEntry> {
  /**
   * Appends record batches to a local partition this broker leads (acks=all) and calls `done`
   * with the append's error, if any, as soon as it completes (synchronously when it can).
   */
  append(partition: number, records: Uint8Array, done: (error: WireError | undefined) => void): void;
  /** Every entry of a local partition, oldest first. */
  read(partition: number): Iterable<TEntry>;
  /** Log end and high watermark of a local partition. */
  offsets(partition: number): PartitionOffsets;
}

/** What a {@link KeyedHost} is built from. */
export interface KeyedHostOptions<TLogic extends AnyActorLogic, TEntry, TEpoch> {
  /** The logic of every key's actor. */
  readonly logic: TLogic;
  /** The broker's clock: actors run on it and takeovers poll on it. */
  readonly clock: Clock;
  readonly inspection: InspectionSink;
  readonly partitions: InternalPartitions<TEntry>;
  /** The partition that holds `key`, or undefined while the topic has none (not created yet). */
  readonly partitionOf: (key: string) => number | undefined;
  /** The actor id of `key`'s actor (inspection names it). */
  readonly actorId: (key: string) => string;
  /** Rebuilds a partition just taken over from its committed log; the partition is already held. */
  readonly replay: (partition: number, epoch: TEpoch, entries: Iterable<TEntry>) => void;
  /** Everything the current actor of `key` emits. */
  readonly onEmitted: (key: string, actor: Actor<TLogic>, event: EmittedFrom<TLogic>) => void;
  /**
   * A partition was given up (or is being taken over again at another epoch): `removed` are the
   * keys whose actors were stopped, undefined when the partition was not held (at most loading).
   */
  readonly onUnload?: (partition: number, removed: readonly string[] | undefined) => void;
  /**
   * Called for each actor of a partition being given up, before it stops and while it is still
   * heard: its last answers (to requests it parked) reach {@link onEmitted}.
   */
  readonly onResign?: (key: string, actor: Actor<TLogic>) => void;
}

/** Whether this host answers for a key: it holds its partition, is loading it, or not at all. */
export type Ownership<TEpoch> =
  | { readonly status: 'held'; readonly partition: number; readonly epoch: TEpoch }
  | { readonly status: 'loading'; readonly partition: number }
  | { readonly status: 'elsewhere'; readonly partition: number | undefined };

/** See the module comment. */
export class KeyedHost<TLogic extends AnyActorLogic, TEntry, TEpoch = true> {
  private readonly actors = new Map<string, Actor<TLogic>>();
  /** Partitions held (loaded) here, with the epoch they were taken over at. */
  private readonly held = new Map<number, TEpoch>();
  /** Partitions taken over whose log tail is not committed yet. */
  private readonly loading: PendingLoads<TEpoch>;

  constructor(private readonly options: KeyedHostOptions<TLogic, TEntry, TEpoch>) {
    this.loading = new PendingLoads(options.clock, (partition) => options.partitions.offsets(partition));
  }

  /**
   * Takes over `partition` at `epoch`: nothing when it is held or loading at that epoch already;
   * a takeover at another epoch gives the partition up first. The partition is held and
   * replayed once its log, as it is now, is committed.
   */
  load(partition: number, epoch: TEpoch): void {
    const current = this.held.get(partition) ?? this.loading.valueOf(partition);
    if (current === epoch) return;
    if (current !== undefined) this.unload(partition);
    this.loading.start(partition, epoch, () => {
      this.held.set(partition, epoch);
      this.options.replay(partition, epoch, this.options.partitions.read(partition));
    });
  }

  /** Gives up `partition`: a takeover in progress never completes, its keys' actors stop. */
  unload(partition: number): void {
    this.loading.cancel(partition);
    let removed: string[] | undefined;
    if (this.held.delete(partition)) {
      removed = [];
      for (const [key, actor] of [...this.actors]) {
        if (this.options.partitionOf(key) !== partition) continue;
        this.options.onResign?.(key, actor);
        actor.stop();
        this.actors.delete(key);
        removed.push(key);
      }
    }
    this.options.onUnload?.(partition, removed);
  }

  /** Stops every actor and forgets every partition (the broker stops or crashes). */
  stop(): void {
    this.loading.clear();
    for (const actor of this.actors.values()) actor.stop();
    this.actors.clear();
    this.held.clear();
  }

  /** The epoch `partition` is held at, undefined when it is not held. */
  epochOf(partition: number): TEpoch | undefined {
    return this.held.get(partition);
  }

  /** Whether `key`'s partition is held here, being taken over, or neither. */
  ownership(key: string): Ownership<TEpoch> {
    const partition = this.options.partitionOf(key);
    if (partition !== undefined && this.loading.has(partition)) return { status: 'loading', partition };
    const epoch = partition === undefined ? undefined : this.held.get(partition);
    if (partition === undefined || epoch === undefined) return { status: 'elsewhere', partition };
    return { status: 'held', partition, epoch };
  }

  /** The actor of `key`, if it has one. */
  actorOf(key: string): Actor<TLogic> | undefined {
    return this.actors.get(key);
  }

  /** The actor of `key`, created with `input()` and started on first use. */
  actorFor(key: string, input: () => InputFrom<TLogic>): Actor<TLogic> {
    const existing = this.actors.get(key);
    if (existing !== undefined) return existing;
    const actor = (createActor as (logic: TLogic, options: object) => Actor<TLogic>)(this.options.logic, { input: input(), clock: this.options.clock, id: this.options.actorId(key) });
    // Registered before start: an actor may emit as it starts (e.g. a loaded group over capacity).
    this.actors.set(key, actor);
    actor.on('*', (event) => {
      if (this.actors.get(key) === actor) this.options.onEmitted(key, actor, event as EmittedFrom<TLogic>);
    });
    this.options.inspection.track(actor);
    actor.start();
    return actor;
  }

  /** Stops and forgets the actor of `key` (the key expired). */
  forget(key: string): void {
    this.actors.get(key)?.stop();
    this.actors.delete(key);
  }

  /** Every key with its actor, as of now. */
  entries(): Array<[string, Actor<TLogic>]> {
    return [...this.actors];
  }

  /** Appends to `partition` whoever asks; `done` always hears the outcome. */
  append(partition: number, records: Uint8Array, done: (error: WireError | undefined) => void): void {
    this.options.partitions.append(partition, records, done);
  }

  /**
   * Appends on behalf of `key`'s actor `actor`. `done` hears the outcome only while `actor` is
   * still the key's actor and its partition is held at the same epoch: otherwise the new owner
   * decides. When the partition is not held, `done` gets NOT_LEADER_OR_FOLLOWER at once.
   */
  appendFor(key: string, actor: Actor<TLogic>, records: Uint8Array, done: (error: WireError | undefined) => void): void {
    const partition = this.options.partitionOf(key);
    const epoch = partition === undefined ? undefined : this.held.get(partition);
    if (partition === undefined || epoch === undefined) {
      done(wireError('NOT_LEADER_OR_FOLLOWER', `this broker no longer leads the partition of "${key}"`));
      return;
    }
    this.options.partitions.append(partition, records, (error) => {
      if (this.actors.get(key) !== actor || this.held.get(partition) !== epoch) return;
      done(error);
    });
  }
}
