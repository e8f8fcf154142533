/**
 * A built topology: processor nodes wired into a graph, split into sub-topologies at repartition
 * topics, with the stores and internal topics it needs. It is plain data plus the user's
 * functions; the runtime (tasks, the test driver, the streams app) executes it and never changes
 * it. Names follow Kafka Streams (`KSTREAM-FILTER-0000000003`, `<name>-repartition`,
 * `<store>-changelog`), so `describe()` reads like Kafka's.
 */
import type { OperatorFunction } from 'rxjs';
import { TopologyError } from '../errors.ts';
import type { AnyRecord, StreamRecord } from './record.ts';
import type { Serde } from './serdes.ts';

/** How a sink picks a partition for a record: Kafka's StreamPartitioner. Undefined = the producer's default. */
export type StreamPartitioner = (topic: string, key: unknown, value: unknown, numPartitions: number) => number | undefined;

/** A processor of the Processor API, plugged in with `process()`. */
export interface Processor<K = unknown, V = unknown, KOut = K, VOut = V> {
  /** Called once per task before any record, with the task's context. */
  init?(context: ProcessorContext<KOut, VOut>): void;
  /** Called for each record; forward results with `context.forward`. */
  process(record: StreamRecord<K, V>): void;
  /** Called when the task closes. */
  close?(): void;
}

/** What a Processor API node can do: forward records and reach the task's stores. */
export interface ProcessorContext<KOut = unknown, VOut = unknown> {
  /** Sends a record to the node's children. */
  forward(record: StreamRecord<KOut, VOut>): void;
  /** A store connected to this node (by name), to read and write. */
  getStateStore<S = unknown>(name: string): S;
  /** The task id, `<subtopology>_<partition>`. */
  readonly taskId: string;
  /** Where the current record was read: topic, partition, offset (undefined in a punctuator). */
  readonly recordMetadata: { readonly topic: string; readonly partition: number; readonly offset: bigint } | undefined;
  /**
   * Calls `punctuator` every `intervalMs` of stream time (driven by records) or of wall-clock time
   * (the injected clock); missed intervals are skipped, not replayed, as Kafka's. Records it
   * forwards go downstream within the same commit.
   */
  schedule(intervalMs: number, type: PunctuationType, punctuator: (timestamp: number) => void): Cancellable;
  /** The task's stream time: the largest record timestamp it has seen (-1 before any). */
  currentStreamTimeMs(): number;
  /** The wall clock's time now (the app's injected clock). */
  currentSystemTimeMs(): number;
}

/** When a punctuator runs: by stream time (data-driven) or by wall-clock time. */
export type PunctuationType = 'STREAM_TIME' | 'WALL_CLOCK_TIME';

/** A scheduled punctuation; `cancel()` stops it. */
export interface Cancellable {
  cancel(): void;
}

/** @internal What the DSL's own processors also get: a place to report dropped records. */
export interface InternalProcessorContext<KOut = unknown, VOut = unknown> extends ProcessorContext<KOut, VOut> {
  /** Counts a dropped record (late for its window, a null key) and logs it at debug. */
  droppedRecord(reason: string, record: StreamRecord<unknown, unknown>): void;
  /** The application's default serdes, for nodes that were given none. */
  defaultSerdes(): { readonly key: Serde<unknown>; readonly value: Serde<unknown> };
  /** Whether stream time also advances with the wall clock on quiet partitions (`idleStreamTimeAdvance`): final results then follow it. */
  readonly idleStreamTimeAdvance: boolean;
}

/** What each kind of node does; the runtime's processors implement them. */
export type NodeSpec =
  | {
      readonly kind: 'source';
      readonly topics: readonly string[];
      readonly keySerde: Serde<unknown> | undefined;
      readonly valueSerde: Serde<unknown> | undefined;
      readonly internal: boolean;
      /** Its values are table updates (KGroupedTable's repartition): a default serde is wrapped to carry them. */
      readonly change?: boolean;
    }
  | { readonly kind: 'records'; readonly fn: (record: AnyRecord) => readonly AnyRecord[]; readonly keyPreserving: boolean }
  | { readonly kind: 'rx'; readonly operator: OperatorFunction<AnyRecord, AnyRecord>; readonly keyPreserving: boolean }
  | { readonly kind: 'split'; readonly predicates: ReadonlyArray<((record: AnyRecord) => boolean) | undefined> }
  | { readonly kind: 'aggregate'; readonly store: string; readonly initializer: () => unknown; readonly aggregator: (key: unknown, value: unknown, aggregate: unknown) => unknown }
  | { readonly kind: 'tableSource'; readonly store: string }
  | { readonly kind: 'tableFilter'; readonly predicate: (key: unknown, value: unknown) => boolean; readonly not: boolean }
  | { readonly kind: 'tableMapValues'; readonly fn: (value: unknown, key: unknown) => unknown }
  | { readonly kind: 'toStream' }
  | { readonly kind: 'tableGroupBy'; readonly selector: (key: unknown, value: unknown) => { readonly key: unknown; readonly value: unknown } }
  | {
      readonly kind: 'tableAggregate';
      readonly store: string;
      readonly initializer: () => unknown;
      readonly adder: (key: unknown, value: unknown, aggregate: unknown) => unknown;
      readonly subtractor: (key: unknown, value: unknown, aggregate: unknown) => unknown;
    }
  | {
      readonly kind: 'process';
      readonly supplier: () => Processor<unknown, unknown, unknown, unknown>;
      readonly stores: readonly string[];
      readonly keyPreserving: boolean;
      /** Its output is a materialized table's updates, deduplicated by the record cache (windowed aggregations). */
      readonly cached?: boolean;
    }
  | {
      readonly kind: 'sink';
      readonly topic: string | ((record: AnyRecord) => string);
      readonly keySerde: Serde<unknown> | undefined;
      readonly valueSerde: Serde<unknown> | undefined;
      readonly partitioner: StreamPartitioner | undefined;
      readonly internal: boolean;
      /** Its values are table updates (see the source's `change`). */
      readonly change?: boolean;
    };

/** One node of the graph. */
export interface TopologyNode {
  readonly name: string;
  readonly spec: NodeSpec;
  /** Names of the nodes it forwards to, in order (for `split`, branch i goes to children[i]). */
  readonly children: string[];
}

/** A key-value store of the topology, with its changelog. */
export interface StoreSpec {
  readonly name: string;
  /** Serdes of the store's keys and values; undefined = the application's default serdes. */
  readonly keySerde: Serde<unknown> | undefined;
  readonly valueSerde: Serde<unknown> | undefined;
  /** Whether writes are logged to `<applicationId>-<name>-changelog` (Kafka's default: yes). */
  readonly logged: boolean;
  /** Key-value (default), window or session store; the last two keep their windows for `retentionMs`. */
  readonly type?: 'keyValue' | 'window' | 'session';
  /** Window and session stores: how long a closed window is kept (its changelog keeps it `windowstore.changelog.additional.retention.ms` longer). */
  readonly retentionMs?: number;
  /** Window stores: the window size, so `Windowed` keys carry their end. */
  readonly windowSizeMs?: number;
  /** Window stores: keep every put under its own sequence number (stream-stream join stores). */
  readonly retainDuplicates?: boolean;
  /** Window stores: values carry the timestamp of their latest update (Kafka's timestamped stores). */
  readonly timestamped?: boolean;
}

/**
 * A global store (a GlobalKTable's): every instance fills it from all partitions of `topic`
 * through its own global reader, never through tasks. Never changelogged: the topic is its
 * changelog. Its source and processor nodes form a sub-topology that generates no tasks.
 */
export interface GlobalStoreSpec {
  /** The store (its `logged` is false). */
  readonly spec: StoreSpec;
  /** The topic it holds, whole. */
  readonly topic: string;
  /** The source node reading `topic`. */
  readonly sourceName: string;
  /** The node that writes the store. */
  readonly processorName: string;
}

/** One sub-topology: the nodes connected without a repartition topic between them. */
export interface SubTopology {
  readonly id: number;
  /** Node names in the order they were added. */
  readonly nodes: readonly string[];
  /** Topics its sources read (internal topics without the application-id prefix). */
  readonly sourceTopics: readonly string[];
  /** Stores its nodes use. */
  readonly stores: readonly string[];
}

/** The processor graph the builder produced. Immutable once built. */
export class Topology {
  readonly subtopologies: readonly SubTopology[];

  /** @internal Use `StreamsBuilder.build()`. */
  constructor(
    readonly nodes: ReadonlyMap<string, TopologyNode>,
    readonly stores: ReadonlyMap<string, StoreSpec>,
    /** Internal topics (repartition), by name without the application-id prefix. */
    readonly internalTopics: ReadonlySet<string>,
    /** Global stores by name; their nodes belong to no sub-topology and their topics to no task. */
    readonly globalStores: ReadonlyMap<string, GlobalStoreSpec> = new Map(),
  ) {
    this.subtopologies = splitSubtopologies(nodes, stores, globalStores);
  }

  /** The sub-topology whose sources read `topic`, if any. */
  subtopologyOf(topic: string): SubTopology | undefined {
    return this.subtopologies.find((s) => s.sourceTopics.includes(topic));
  }

  /** The topics users feed to tasks: sources that are not internal (global tables' topics are not listed: no task reads them). */
  get sourceTopics(): string[] {
    return this.subtopologies.flatMap((s) => s.sourceTopics).filter((t) => !this.internalTopics.has(t));
  }

  /** Every topic written by a sink (internal ones without the application-id prefix); dynamic sinks are not listed. */
  get sinkTopics(): string[] {
    const topics = new Set<string>();
    for (const node of this.nodes.values()) if (node.spec.kind === 'sink' && typeof node.spec.topic === 'string') topics.add(node.spec.topic);
    return [...topics];
  }

  /**
   * The topology as Kafka Streams prints it: sub-topologies with their sources (and topics),
   * processors (and stores), sinks (and topics), each with the nodes it forwards to; then each
   * global store as a sub-topology that generates no tasks. Processors do not list the global
   * stores they read (Kafka connects no processor to one). Global stores are numbered after the
   * other sub-topologies, so task ids do not change when a global table is added.
   */
  describe(): string {
    const lines = ['Topologies:'];
    const globalIds = [...this.globalStores.values()].map((g, i) => ({ id: this.subtopologies.length + i, nodes: [g.sourceName, g.processorName], global: true }));
    for (const sub of [...this.subtopologies.map((s) => ({ ...s, global: false })), ...globalIds]) {
      lines.push(`   Sub-topology: ${sub.id}${sub.global ? ' for global store (will not generate tasks)' : ''}`);
      for (const name of sub.nodes) {
        const node = this.nodes.get(name) as TopologyNode;
        const spec = node.spec;
        const next = node.children.length === 0 ? 'none' : node.children.join(', ');
        if (spec.kind === 'source') {
          lines.push(`    Source: ${name} (topics: [${spec.topics.join(', ')}])`);
          lines.push(`      --> ${next}`);
        } else if (spec.kind === 'sink') {
          lines.push(`    Sink: ${name} (topic: ${typeof spec.topic === 'string' ? spec.topic : '<chosen per record>'})`);
        } else {
          const local = sub.global ? storesOf(spec) : storesOf(spec).filter((store) => !this.globalStores.has(store));
          lines.push(`    Processor: ${name} (stores: [${local.join(', ')}])`);
          lines.push(`      --> ${next}`);
        }
        const parents = [...this.nodes.values()].filter((n) => n.children.includes(name)).map((n) => n.name);
        if (spec.kind !== 'source') lines.push(`      <-- ${parents.join(', ')}`);
      }
      lines.push('');
    }
    return lines.join('\n');
  }
}

/** Stores a node reads or writes. */
export function storesOf(spec: NodeSpec): readonly string[] {
  switch (spec.kind) {
    case 'aggregate':
    case 'tableSource':
    case 'tableAggregate':
      return [spec.store];
    case 'process':
      return spec.stores;
    default:
      return [];
  }
}

/**
 * Splits the graph at internal topics: nodes reachable from each other by forwarding (either
 * direction) or by sharing a store form one sub-topology; a sink to a repartition topic and the
 * source reading it are in different ones. Numbered in the order of their first node, as Kafka.
 * Global stores and their nodes stay out: every task reads a global store through the
 * instance's copy, so sharing one joins nothing, and no task reads a global topic.
 */
function splitSubtopologies(nodes: ReadonlyMap<string, TopologyNode>, stores: ReadonlyMap<string, StoreSpec>, globalStores: ReadonlyMap<string, GlobalStoreSpec>): SubTopology[] {
  const globalNodes = checkGlobalStores(nodes, stores, globalStores);
  const order = [...nodes.keys()].filter((n) => !globalNodes.has(n));
  const parent = new Map<string, string>(order.map((n) => [n, n]));
  const find = (n: string): string => {
    let root = n;
    while (parent.get(root) !== root) root = parent.get(root) as string;
    parent.set(n, root);
    return root;
  };
  const union = (a: string, b: string): void => {
    const ra = find(a);
    const rb = find(b);
    if (ra === rb) return;
    // Keep the earlier node as the root, so numbering follows insertion order.
    if (order.indexOf(ra) < order.indexOf(rb)) parent.set(rb, ra);
    else parent.set(ra, rb);
  };
  const storeUsers = new Map<string, string>();
  for (const node of nodes.values()) {
    if (globalNodes.has(node.name)) continue;
    for (const child of node.children) {
      if (!nodes.has(child)) throw new TopologyError(`node ${node.name} forwards to ${child}, which is not in the topology`);
      if (globalNodes.has(child)) throw new TopologyError(`node ${node.name} forwards to ${child}, which belongs to a global table; a global table is fed by its topic only`);
      union(node.name, child);
    }
    for (const store of storesOf(node.spec)) {
      if (globalStores.has(store)) continue;
      if (!stores.has(store)) throw new TopologyError(`node ${node.name} uses store "${store}", which is not in the topology; add it with the operator that creates it, or name an existing one`);
      const other = storeUsers.get(store);
      if (other === undefined) storeUsers.set(store, node.name);
      else union(other, node.name);
    }
  }
  const groups = new Map<string, string[]>();
  for (const name of order) {
    const root = find(name);
    let group = groups.get(root);
    if (group === undefined) groups.set(root, (group = []));
    group.push(name);
  }
  return [...groups.values()].map((names, id) => {
    const sourceTopics = names.flatMap((n) => {
      const spec = (nodes.get(n) as TopologyNode).spec;
      return spec.kind === 'source' ? spec.topics : [];
    });
    const used = new Set(names.flatMap((n) => storesOf((nodes.get(n) as TopologyNode).spec)).filter((s) => !globalStores.has(s)));
    return { id, nodes: names, sourceTopics, stores: [...used] };
  });
}

/**
 * Checks the global stores against the rest of the graph and returns the names of their nodes:
 * a global store's name is its own, its nodes exist, and its topic feeds no other source (Kafka
 * registers a topic to one source only).
 */
function checkGlobalStores(nodes: ReadonlyMap<string, TopologyNode>, stores: ReadonlyMap<string, StoreSpec>, globalStores: ReadonlyMap<string, GlobalStoreSpec>): Set<string> {
  const globalNodes = new Set<string>();
  for (const [name, g] of globalStores) {
    if (stores.has(name)) throw new TopologyError(`the store name "${name}" is used by a global table and by another store; store names must be unique in a topology`);
    for (const n of [g.sourceName, g.processorName]) {
      if (!nodes.has(n)) throw new TopologyError(`global store "${name}" names node ${n}, which is not in the topology`);
      globalNodes.add(n);
    }
  }
  for (const node of nodes.values()) {
    if (globalNodes.has(node.name) || node.spec.kind !== 'source') continue;
    for (const topic of node.spec.topics) {
      const g = [...globalStores.values()].find((x) => x.topic === topic);
      if (g !== undefined) throw new TopologyError(`topic "${topic}" is read by source ${node.name} and by the global table of store "${g.spec.name}"; a topic feeds one source: read it as a stream or a table, or join the global table`);
    }
  }
  return globalNodes;
}
