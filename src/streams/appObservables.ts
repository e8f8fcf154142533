/**
 * What a running streams app shows as Observables beside `state$`: each store's committed changes
 * across the instance's tasks (tasks come and go with rebalances; a subscriber keeps receiving
 * from whichever tasks hold the store), and the app's metrics after every commit.
 */
import { Observable } from 'rxjs';
import type { Subscriber, Subscription } from 'rxjs';
import type { StoreChange, TransactionalKeyValueStore } from './stores/keyValueStore.ts';
import type { TopicPartitionOffset } from '../clients/api.ts';

/** One task's counters. */
export interface TaskMetrics {
  readonly taskId: string;
  /** Records handed to the task since it was created (including ones processed again after an abort). */
  readonly processed: number;
  /** The task's stream time: the largest record timestamp it has seen (-1 before any). */
  readonly streamTime: number;
  /** Records its processors dropped: late for their window (after end + grace), or null where a key is needed (Kafka's dropped-records). */
  readonly droppedRecords: number;
}

/** The app's counters, as `metrics` and each emission of `metrics$` give them. */
export interface StreamsMetrics {
  /** Input records whose processing was committed. */
  readonly processed: number;
  readonly commits: number;
  readonly aborts: number;
  /** Ids of the tasks this instance runs now, sorted. */
  readonly tasks: readonly string[];
  readonly perTask: readonly TaskMetrics[];
  /** Ids of the standby tasks this instance keeps warm, sorted. */
  readonly standbyTasks: readonly string[];
  /** Changelog records replayed into the stores of tasks starting here (restoration). */
  readonly restoredRecords: number;
  /** Changelog records applied to standby stores. */
  readonly standbyRecords: number;
  /** The input offsets (next to read) this instance last committed, per source partition it owns now. */
  readonly committedOffsets: readonly TopicPartitionOffset[];
}

type AnyStore = TransactionalKeyValueStore<unknown, unknown>;

/**
 * The change feeds of the stores of one app instance, by store name. A store is decoded for its
 * feed only while someone subscribes (decoding every commit's changes costs as much as the writes).
 */
export class StoreChangeFeeds {
  private readonly subscribers = new Map<string, Set<Subscriber<StoreChange<unknown, unknown>>>>();
  private readonly stores = new Map<string, Set<AnyStore>>();
  private readonly attached = new Map<AnyStore, Subscription>();

  /** The committed changes of store `name`, from every task holding it now or later. */
  feed<K, V>(name: string): Observable<StoreChange<K, V>> {
    return new Observable<StoreChange<K, V>>((subscriber) => {
      let set = this.subscribers.get(name);
      if (set === undefined) this.subscribers.set(name, (set = new Set()));
      set.add(subscriber as Subscriber<StoreChange<unknown, unknown>>);
      for (const store of this.stores.get(name) ?? []) this.attach(store);
      return () => {
        set.delete(subscriber as Subscriber<StoreChange<unknown, unknown>>);
        if (set.size > 0) return;
        this.subscribers.delete(name);
        for (const store of this.stores.get(name) ?? []) this.detach(store);
      };
    });
  }

  /** A task opened `store`. */
  added(store: AnyStore): void {
    let set = this.stores.get(store.name);
    if (set === undefined) this.stores.set(store.name, (set = new Set()));
    set.add(store);
    if (this.subscribers.has(store.name)) this.attach(store);
  }

  /** A task closed `store`. */
  removed(store: AnyStore): void {
    this.stores.get(store.name)?.delete(store);
    this.detach(store);
  }

  /** Completes every feed: the app stopped. */
  complete(): void {
    for (const set of this.subscribers.values()) for (const s of [...set]) s.complete();
    this.subscribers.clear();
  }

  private attach(store: AnyStore): void {
    if (this.attached.has(store)) return;
    this.attached.set(
      store,
      store.changes$.subscribe((change) => {
        for (const s of this.subscribers.get(store.name) ?? []) s.next(change);
      }),
    );
  }

  private detach(store: AnyStore): void {
    this.attached.get(store)?.unsubscribe();
    this.attached.delete(store);
  }
}
