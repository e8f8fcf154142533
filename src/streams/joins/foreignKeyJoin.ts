/**
 * KTable–KTable foreign-key joins (KIP-213; Kafka's SubscriptionSend/Receive/Join, ForeignTableJoin
 * and ResponseJoin processors): each left row names a right row by the foreign key its extractor
 * returns. The tables need no co-partitioning; the join routes through two internal topics:
 *
 * 1. Each left update sends a subscription (keyed by the foreign key, so it lands on the right
 *    row's partition) to `<name>-subscription-registration-topic`: subscribe, unsubscribe, and
 *    whether an answer is wanted, with a hash of the left value and the left partition.
 * 2. The right side keeps the subscriptions in a store keyed by (foreign key, left key), answers
 *    each subscription with the right row, and answers every subscriber of a right row when that
 *    row changes (a prefix scan by foreign key), on `<name>-subscription-response-topic`, routed
 *    back to the left row's partition.
 * 3. The left side joins an answer with its current row, unless the row changed since (its hash
 *    differs): a stale answer is dropped, the newer subscription's answer follows.
 *
 * The result table is materialized (`store`, or a generated name), so its updates carry the
 * replaced value and it can be queried and joined again. A null foreign key joins nothing: an
 * inner join deletes any previous result, a left join emits the left value with a null right.
 * A change of foreign key unsubscribes the old one, so its later updates no longer reach the row.
 */
import { TopologyError } from '../../errors.ts';
import type { StreamState } from '../graph.ts';
import type { AnyRecord, Change } from '../record.ts';
import type { Serde } from '../serdes.ts';
import { bytes, deserializeWith, serializeWith } from '../serdes.ts';
import type { KeyValueStore } from '../stores/keyValueStore.ts';
import type { InternalProcessorContext, Processor, StreamPartitioner } from '../topology.ts';
import { concat, equalBytes, getInt, hash128, putInt } from './joinBytes.ts';
import { lookupOf, requireGetter } from './valueGetter.ts';
import type { StoreLookup, TableValueGetter } from './valueGetter.ts';

/** Options of a foreign-key join (Kafka's `TableJoined` and `Materialized`). */
export interface ForeignKeyJoinOptions<V> {
  /** Base of the join's node, topic and store names (`<name>-subscription-registration-topic`, …). */
  readonly name?: string;
  /** The result's store (default `KTABLE-FK-JOIN-OUTPUT-STATE-STORE-<n>`). */
  readonly store?: string;
  /** The result's value serde, for the store. */
  readonly value?: Serde<V>;
  /** Log the result store (default true). */
  readonly logged?: boolean;
}

/** Kafka's SubscriptionWrapper.Instruction, with its byte values. */
const Instruction = {
  /** Unsubscribe, answer nothing (the foreign key changed; the new one answers). */
  DeleteNoPropagate: 0,
  /** Unsubscribe and answer with a null right value (the row was deleted or lost its key). */
  DeleteAndPropagate: 1,
  /** Subscribe and answer, with null when the right row is absent (a changed key: the old result must go). */
  PropagateNullIfAbsent: 2,
  /** Subscribe and answer only when the right row exists (an insert, or the same key again). */
  PropagateOnlyIfPresent: 3,
} as const;
type Instruction = (typeof Instruction)[keyof typeof Instruction];

const VERSION = 0;
const HASH_BYTES = 16;
const KTABLE_FK = 'KTABLE-FK-JOIN-';

type Joiner = (left: unknown, right: unknown, key: unknown) => unknown;

/** A subscription as it travels and is stored: version, instruction, hash (or none), left partition, left key. */
interface Subscription {
  readonly instruction: Instruction;
  readonly hash: Uint8Array | null;
  readonly partition: number;
  readonly primaryKey: Uint8Array;
}

function encodeSubscription(s: Subscription): Uint8Array {
  const head = new Uint8Array(3 + (s.hash === null ? 0 : HASH_BYTES) + 4);
  head[0] = VERSION;
  head[1] = s.instruction;
  head[2] = s.hash === null ? 0 : 1;
  if (s.hash !== null) head.set(s.hash, 3);
  putInt(head, head.length - 4, s.partition);
  return concat(head, s.primaryKey);
}

function decodeSubscription(bytes: Uint8Array, where: string): Subscription {
  if (bytes.length < 7 || bytes[0] !== VERSION) throw new TopologyError(`${where} holds a subscription of an unknown format (version ${String(bytes[0])}); was it written by another version?`);
  const hashed = bytes[2] === 1;
  const at = 3 + (hashed ? HASH_BYTES : 0);
  return { instruction: bytes[1] as Instruction, hash: hashed ? bytes.subarray(3, 3 + HASH_BYTES) : null, partition: getInt(bytes, at), primaryKey: bytes.subarray(at + 4) };
}

/** An answer: version, hash (or none), left partition, right value (or none). */
function encodeResponse(hash: Uint8Array | null, partition: number, foreignValue: Uint8Array | null): Uint8Array {
  const head = new Uint8Array(2 + (hash === null ? 0 : HASH_BYTES) + 5);
  head[0] = VERSION;
  head[1] = hash === null ? 0 : 1;
  if (hash !== null) head.set(hash, 2);
  putInt(head, head.length - 5, partition);
  head[head.length - 1] = foreignValue === null ? 0 : 1;
  return foreignValue === null ? head : concat(head, foreignValue);
}

function decodeResponse(bytes: Uint8Array, where: string): { hash: Uint8Array | null; partition: number; foreignValue: Uint8Array | null } {
  if (bytes.length < 7 || bytes[0] !== VERSION) throw new TopologyError(`${where} holds a join response of an unknown format (version ${String(bytes[0])})`);
  const hashed = bytes[1] === 1;
  const at = 2 + (hashed ? HASH_BYTES : 0);
  return { hash: hashed ? bytes.subarray(2, 2 + HASH_BYTES) : null, partition: getInt(bytes, at), foreignValue: bytes[at + 4] === 1 ? bytes.subarray(at + 5) : null };
}

/** The answer's partition, read from its bytes: the left row's. */
const responsePartitioner: StreamPartitioner = (_topic, _key, value, numPartitions) => {
  const partition = decodeResponse(value as Uint8Array, 'a foreign-key join response').partition;
  return partition >= 0 && partition < numPartitions ? partition : undefined;
};

/** The subscription store's key: the foreign key's length and bytes, then the left key's (Kafka's CombinedKeySchema), so a prefix scan finds a foreign key's subscribers. */
function prefixOf(foreignKey: Uint8Array): Uint8Array {
  const length = new Uint8Array(4);
  putInt(length, 0, foreignKey.length);
  return concat(length, foreignKey);
}

/** The serdes a side uses at run time: its own, else the application's defaults. */
interface Serdes {
  readonly leftKey: Serde<unknown>;
  readonly leftValue: Serde<unknown>;
  readonly rightKey: Serde<unknown>;
  readonly rightValue: Serde<unknown>;
}

function serdesOf(ctx: InternalProcessorContext, left: StreamState, right: StreamState): Serdes {
  const defaults = ctx.defaultSerdes();
  return { leftKey: left.keySerde ?? defaults.key, leftValue: left.valueSerde ?? defaults.value, rightKey: right.keySerde ?? defaults.key, rightValue: right.valueSerde ?? defaults.value };
}

function partitionOf(ctx: InternalProcessorContext): number {
  return ctx.recordMetadata?.partition ?? Number(ctx.taskId.slice(ctx.taskId.lastIndexOf('_') + 1));
}

/**
 * Adds the foreign-key join of `left` with `right` and returns the result table's state.
 * @throws TopologyError for an extractor or joiner that is not a function, a table of another builder, or a side that cannot be read by key.
 */
export function foreignKeyJoin(op: string, left: StreamState, right: StreamState, extractor: (value: unknown, key: unknown) => unknown, joiner: Joiner, kind: 'inner' | 'left', options: ForeignKeyJoinOptions<unknown>): StreamState {
  if (typeof extractor !== 'function') throw new TopologyError(`${op}() needs a foreign-key extractor (value, key) => foreignKey, got ${typeof extractor}`);
  if (typeof joiner !== 'function') throw new TopologyError(`${op}() needs a joiner function (value, otherValue, key) => result, got ${joiner === null ? 'null' : typeof joiner}`);
  if (right.graph !== left.graph) throw new TopologyError(`${op}() takes a KTable of the same StreamsBuilder`);
  if (right.shape !== 'table') throw new TopologyError(`${op}() of a KTable takes a KTable`);
  const leftGetter = requireGetter(left, op);
  const rightGetter = requireGetter(right, op);
  const graph = left.graph;
  const named = (suffix: string, prefix: string): string => (options.name === undefined ? graph.nextName(prefix) : `${options.name}${suffix}`);
  // Kafka's order of generated names, so the indexes match those of the same DSL calls in Kafka.
  const subscriptionTopic = `${named('-subscription-registration', `${KTABLE_FK}SUBSCRIPTION-REGISTRATION`)}-topic`;
  const sendName = named('-subscription-registration-processor', `${KTABLE_FK}SUBSCRIPTION-REGISTRATION`);
  const subscriptionSink = named('-subscription-registration-sink', 'KSTREAM-SINK');
  const subscriptionSource = named('-subscription-registration-source', 'KSTREAM-SOURCE');
  const subscriptionStore = named('-subscription-store', `${KTABLE_FK}SUBSCRIPTION-STATE-STORE`);
  const receiveName = named('-subscription-receive', `${KTABLE_FK}SUBSCRIPTION-PROCESSOR`);
  // Kafka's separate subscription-join node is folded into the receiving one here.
  if (options.name === undefined) graph.nextName(`${KTABLE_FK}SUBSCRIPTION-PROCESSOR`);
  const foreignName = named('-foreign-join-subscription', `${KTABLE_FK}SUBSCRIPTION-PROCESSOR`);
  const responseTopic = `${named('-subscription-response', `${KTABLE_FK}SUBSCRIPTION-RESPONSE`)}-topic`;
  const responseSink = named('-subscription-response-sink', 'KSTREAM-SINK');
  const responseSource = named('-subscription-response-source', 'KSTREAM-SOURCE');
  const resolverName = named('-subscription-response-resolver', `${KTABLE_FK}SUBSCRIPTION-RESPONSE-RESOLVER-PROCESSOR`);
  const resultName = named('-result', `${KTABLE_FK}OUTPUT`);
  const resultStore = options.store ?? graph.nextName(`${KTABLE_FK}OUTPUT-STATE-STORE`);

  const raw = bytes() as Serde<unknown>;
  const send = graph.add(sendName, { kind: 'process', supplier: () => sendProcessor(left, right, extractor, kind), stores: [], keyPreserving: false }, [left.node]);
  graph.internalTopics.add(subscriptionTopic);
  graph.add(subscriptionSink, { kind: 'sink', topic: subscriptionTopic, keySerde: raw, valueSerde: raw, partitioner: undefined, internal: true }, [send]);
  const subscriptions = graph.add(subscriptionSource, { kind: 'source', topics: [subscriptionTopic], keySerde: raw, valueSerde: raw, internal: true }, []);
  graph.addStore({ name: subscriptionStore, keySerde: raw, valueSerde: raw, logged: true });
  const receive = graph.add(receiveName, { kind: 'process', supplier: () => receiveProcessor(left, right, subscriptionStore, rightGetter), stores: [subscriptionStore, ...rightGetter.stores], keyPreserving: false }, [subscriptions]);
  const foreign = graph.add(foreignName, { kind: 'process', supplier: () => foreignProcessor(left, right, subscriptionStore), stores: [subscriptionStore], keyPreserving: false }, [right.node]);
  graph.internalTopics.add(responseTopic);
  graph.add(responseSink, { kind: 'sink', topic: responseTopic, keySerde: raw, valueSerde: raw, partitioner: responsePartitioner, internal: true }, [receive, foreign]);
  // Answers carry the left key as the left table's serde wrote it: read back with that serde.
  const responses = graph.add(responseSource, { kind: 'source', topics: [responseTopic], keySerde: left.keySerde, valueSerde: raw, internal: true }, []);
  const resolver = graph.add(resolverName, { kind: 'process', supplier: () => resolverProcessor(left, right, leftGetter, joiner, kind), stores: leftGetter.stores, keyPreserving: true }, [responses]);
  graph.addStore({ name: resultStore, keySerde: left.keySerde, valueSerde: options.value as Serde<unknown> | undefined, logged: options.logged ?? true });
  const node = graph.add(resultName, { kind: 'tableSource', store: resultStore }, [resolver]);
  return { ...left, node, shape: 'table', keyChanged: false, valueSerde: options.value as Serde<unknown> | undefined, store: resultStore, getter: undefined, groupName: undefined };
}

/** Kafka's SubscriptionSendProcessor (with the fixes of KAFKA-16407): a left update becomes subscriptions. */
function sendProcessor(left: StreamState, right: StreamState, extractor: (value: unknown, key: unknown) => unknown, kind: 'inner' | 'left'): Processor<unknown, unknown, unknown, unknown> {
  let ctx: InternalProcessorContext;
  let serdes: Serdes;
  const where = 'a foreign-key join subscription';
  return {
    init(context) {
      ctx = context as InternalProcessorContext;
      serdes = serdesOf(ctx, left, right);
    },
    process(record: AnyRecord) {
      const { newValue, oldValue } = record.value as Change<unknown>;
      const primaryKey = serializeWith(serdes.leftKey, 'key', record.key, where) as Uint8Array;
      const hash = newValue === null ? null : hash128(serializeWith(serdes.leftValue, 'value', newValue, where) as Uint8Array);
      const fkBytes = (fk: unknown): Uint8Array | null => (fk === null || fk === undefined ? null : serializeWith(serdes.rightKey, 'key', fk, where));
      const send = (fk: Uint8Array | null, instruction: Instruction): void => {
        ctx.forward({ ...record, key: fk, value: encodeSubscription({ instruction, hash, partition: partitionOf(ctx), primaryKey }) });
      };
      const oldFk = oldValue === null ? null : fkBytes(extractor(oldValue, record.key));
      if (kind === 'left') {
        // An idempotent delete (nothing was, nothing is) answers nothing.
        if (oldValue === null && newValue === null) return;
        const newFk = newValue === null ? null : fkBytes(extractor(newValue, record.key));
        if (oldFk !== null && !equalBytes(oldFk, newFk)) send(oldFk, Instruction.DeleteNoPropagate);
        // Always answered, even for a null key (no subscription is kept for it): a left join always has a result.
        send(newFk, Instruction.PropagateNullIfAbsent);
        return;
      }
      if (newValue === null) {
        if (oldFk !== null) send(oldFk, Instruction.DeleteAndPropagate);
        return;
      }
      const newFk = fkBytes(extractor(newValue, record.key));
      if (newFk === null) {
        ctx.droppedRecord('null foreign key in a foreign-key join', record);
        // The row joins nothing now: delete the result it may have had.
        if (oldFk !== null) send(oldFk, Instruction.DeleteAndPropagate);
        return;
      }
      if (oldFk === null) send(newFk, Instruction.PropagateOnlyIfPresent);
      else if (!equalBytes(oldFk, newFk)) {
        send(oldFk, Instruction.DeleteNoPropagate);
        send(newFk, Instruction.PropagateNullIfAbsent);
      } else send(newFk, Instruction.PropagateOnlyIfPresent);
    },
  };
}

/** Kafka's SubscriptionReceive and SubscriptionJoin processors: keeps a subscription and answers it. */
function receiveProcessor(left: StreamState, right: StreamState, storeName: string, rightGetter: TableValueGetter): Processor<unknown, unknown, unknown, unknown> {
  let ctx: InternalProcessorContext;
  let serdes: Serdes;
  let store: KeyValueStore<Uint8Array, Uint8Array>;
  let lookup: StoreLookup;
  return {
    init(context) {
      ctx = context as InternalProcessorContext;
      serdes = serdesOf(ctx, left, right);
      store = ctx.getStateStore<KeyValueStore<Uint8Array, Uint8Array>>(storeName);
      lookup = lookupOf((name) => ctx.getStateStore(name));
    },
    process(record: AnyRecord) {
      const fk = record.key as Uint8Array | null;
      const subscription = decodeSubscription(record.value as Uint8Array, storeName);
      if (fk === null && subscription.instruction !== Instruction.PropagateNullIfAbsent) {
        ctx.droppedRecord('null foreign key in a foreign-key join', record);
        return;
      }
      let foreignValue: unknown = null;
      if (fk !== null) {
        const key = concat(prefixOf(fk), subscription.primaryKey);
        if (subscription.instruction === Instruction.DeleteAndPropagate || subscription.instruction === Instruction.DeleteNoPropagate) store.delete(key);
        else store.put(key, record.value as Uint8Array);
        foreignValue = rightGetter.read(deserializeWith(serdes.rightKey, 'key', fk, storeName), lookup);
      }
      const answer = (value: unknown): void => {
        const valueBytes = value === null ? null : serializeWith(serdes.rightValue, 'value', value, storeName);
        ctx.forward({ ...record, key: subscription.primaryKey, value: encodeResponse(subscription.hash, subscription.partition, valueBytes) });
      };
      switch (subscription.instruction) {
        case Instruction.DeleteAndPropagate:
          answer(null);
          break;
        case Instruction.PropagateNullIfAbsent:
          answer(foreignValue);
          break;
        case Instruction.PropagateOnlyIfPresent:
          if (foreignValue !== null) answer(foreignValue);
          break;
        case Instruction.DeleteNoPropagate:
          break;
      }
    },
  };
}

/** Kafka's ForeignTableJoinProcessor: a right update answers every subscriber of its key. */
function foreignProcessor(left: StreamState, right: StreamState, storeName: string): Processor<unknown, unknown, unknown, unknown> {
  let ctx: InternalProcessorContext;
  let serdes: Serdes;
  let store: KeyValueStore<Uint8Array, Uint8Array>;
  return {
    init(context) {
      ctx = context as InternalProcessorContext;
      serdes = serdesOf(ctx, left, right);
      store = ctx.getStateStore<KeyValueStore<Uint8Array, Uint8Array>>(storeName);
    },
    process(record: AnyRecord) {
      if (record.key === null || record.key === undefined) {
        ctx.droppedRecord('null key in a foreign-key join', record);
        return;
      }
      const { newValue } = record.value as Change<unknown>;
      const prefix = prefixOf(serializeWith(serdes.rightKey, 'key', record.key, storeName) as Uint8Array);
      const valueBytes = newValue === null ? null : serializeWith(serdes.rightValue, 'value', newValue, storeName);
      for (const entry of store.prefixScan(prefix, bytes())) {
        const subscription = decodeSubscription(entry.value, storeName);
        ctx.forward({ ...record, key: entry.key.subarray(prefix.length), value: encodeResponse(subscription.hash, subscription.partition, valueBytes) });
      }
    },
  };
}

/** Kafka's ResponseJoinProcessor: joins an answer with the current left row, unless that row changed since. */
function resolverProcessor(left: StreamState, right: StreamState, leftGetter: TableValueGetter, joiner: Joiner, kind: 'inner' | 'left'): Processor<unknown, unknown, unknown, unknown> {
  let ctx: InternalProcessorContext;
  let serdes: Serdes;
  let lookup: StoreLookup;
  const where = 'a foreign-key join response';
  return {
    init(context) {
      ctx = context as InternalProcessorContext;
      serdes = serdesOf(ctx, left, right);
      lookup = lookupOf((name) => ctx.getStateStore(name));
    },
    process(record: AnyRecord) {
      const response = decodeResponse(record.value as Uint8Array, where);
      const current = leftGetter.read(record.key, lookup);
      const currentHash = current === null ? null : hash128(serializeWith(serdes.leftValue, 'value', current, where) as Uint8Array);
      // Stale: the left row changed after this answer's subscription was sent; a newer answer follows.
      if (!equalBytes(response.hash, currentHash)) return;
      const foreignValue = deserializeWith(serdes.rightValue, 'value', response.foreignValue, where);
      const result = foreignValue === null && (kind === 'inner' || current === null) ? null : joiner(current, foreignValue, record.key);
      ctx.forward({ ...record, value: result });
    },
  };
}
