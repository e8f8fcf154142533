/**
 * What flows through a topology. A KStream carries {@link StreamRecord}s; a KTable's nodes carry
 * its changes (a new and an old value per key); grouping carries records on their way to an
 * aggregation. The last two exist for the type checker only: `pipe()` steps are typed as RxJS
 * operators over these shapes, so DSL steps and RxJS operators chain in one `pipe()`, and the
 * shape at the end tells whether the result is a KStream, a KGroupedStream or a KTable.
 */
import type { RecordHeader } from '../record/recordBatch.ts';

/**
 * One record of a stream, as Kafka Streams' `Record`: key, value, timestamp (ms) and headers. A
 * key or value that is null on the topic arrives as null whatever its declared type (tombstones,
 * unkeyed records); aggregations ignore null keys as Kafka does.
 */
export interface StreamRecord<K, V> {
  readonly key: K;
  readonly value: V;
  readonly timestamp: number;
  readonly headers: readonly RecordHeader[];
}

declare const GROUPED: unique symbol;
declare const TABLE: unique symbol;

/** A record on its way to an aggregation (the type of a KGroupedStream's `pipe` shape). */
export interface GroupedRecord<K, V> extends StreamRecord<K, V> {
  readonly [GROUPED]: true;
}

/** A row of a KTable: the latest value of a key (the type of a KTable's `pipe` shape). */
export interface TableRow<K, V> extends StreamRecord<K, V> {
  readonly [TABLE]: true;
}

/** An update of a KTable row as it travels between table nodes: null new value = deleted. */
export interface Change<V> {
  readonly newValue: V | null;
  readonly oldValue: V | null;
}

/** A record as the runtime moves it: any key and value (a Change for table nodes). */
export type AnyRecord = StreamRecord<unknown, unknown>;
