/**
 * Kafka Streams' record cache (`statestore.cache.max.bytes`, 10 MiB by default) in front of what
 * a materialized table forwards: updates of a key within a commit interval collapse into one
 * downstream record carrying the latest value and the value before the interval's first update.
 * The cache is flushed before each commit (its records go out in that commit's transaction) and
 * when it outgrows its budget (the least recently updated entries first). Size is estimated from
 * the keys and values, as Kafka's from their serialized bytes.
 */
import type { AnyRecord, Change } from './record.ts';
import type { TopologyNode } from './topology.ts';

/** `statestore.cache.max.bytes`: Kafka's default, 10 MiB. */
export const DEFAULT_CACHE_MAX_BYTES = 10 * 1024 * 1024;

interface Entry {
  record: AnyRecord;
  readonly oldValue: unknown;
  size: number;
}

// What an entry costs beyond its key and value (Kafka counts its own per-entry overhead too).
const OVERHEAD = 64;

function sizeOf(value: unknown): number {
  if (value === null || value === undefined) return 0;
  if (typeof value === 'string') return value.length;
  if (typeof value === 'number' || typeof value === 'bigint' || typeof value === 'boolean') return 8;
  if (value instanceof Uint8Array) return value.byteLength;
  // Aggregates of objects: a fixed estimate, so the hot path never serializes them.
  return 128;
}

/** A string that two equal keys share: what the cache dedupes by. */
export function keyIdentity(key: unknown): string {
  if (typeof key === 'string') return `s${key}`;
  if (typeof key === 'number' || typeof key === 'bigint' || typeof key === 'boolean') return `${typeof key}${String(key)}`;
  if (key instanceof Uint8Array) return `u${String.fromCharCode(...key)}`;
  // Windowed keys (a windowed aggregation's table) are the common case: no JSON for them.
  const windowed = key as { key?: unknown; window?: { start?: unknown; end?: unknown } } | null;
  if (typeof windowed?.window?.start === 'number' && typeof windowed.window.end === 'number') return `w${windowed.window.start},${windowed.window.end},${keyIdentity(windowed.key)}`;
  return `j${JSON.stringify(key, (_k, v: unknown) => (v instanceof Uint8Array ? `u${String.fromCharCode(...v)}` : typeof v === 'bigint' ? `${v}n` : v))}`;
}

/** The record cache of one task: entries per caching node, one budget for all. */
export class RecordCache {
  private readonly nodes = new Map<string, { node: TopologyNode; entries: Map<string, Entry> }>();
  private bytes = 0;

  constructor(private readonly maxBytes: number) {}

  /** Whether the cache holds anything (a flush has work). */
  get dirty(): boolean {
    return this.bytes > 0;
  }

  /**
   * Takes a node's table updates; returns the records to forward now: none while they fit, else
   * the least recently updated entries of that node, evicted to make room.
   */
  put(node: TopologyNode, records: readonly AnyRecord[]): AnyRecord[] {
    let slot = this.nodes.get(node.name);
    if (slot === undefined) this.nodes.set(node.name, (slot = { node, entries: new Map() }));
    for (const r of records) {
      const id = keyIdentity(r.key);
      const change = r.value as Change<unknown>;
      const prior = slot.entries.get(id);
      const size = OVERHEAD + id.length + sizeOf(change.newValue) + sizeOf(prior?.oldValue ?? change.oldValue);
      if (prior !== undefined) {
        // Re-inserted: the map's order is the order of last updates.
        slot.entries.delete(id);
        this.bytes -= prior.size;
      }
      slot.entries.set(id, { record: r, oldValue: prior === undefined ? change.oldValue : prior.oldValue, size });
      this.bytes += size;
    }
    const evicted: AnyRecord[] = [];
    for (const [id, entry] of slot.entries) {
      if (this.bytes <= this.maxBytes) break;
      slot.entries.delete(id);
      this.bytes -= entry.size;
      evicted.push(forwardable(entry));
    }
    return evicted;
  }

  /** Takes a node's entries out of the cache, least recently updated first. */
  take(nodeName: string): AnyRecord[] {
    const slot = this.nodes.get(nodeName);
    if (slot === undefined || slot.entries.size === 0) return [];
    const records: AnyRecord[] = [];
    for (const entry of slot.entries.values()) {
      this.bytes -= entry.size;
      records.push(forwardable(entry));
    }
    slot.entries.clear();
    return records;
  }

  /** Drops everything (the transaction the updates belonged to aborted). */
  clear(): void {
    for (const slot of this.nodes.values()) slot.entries.clear();
    this.bytes = 0;
  }
}

function forwardable(entry: Entry): AnyRecord {
  const change = entry.record.value as Change<unknown>;
  return { ...entry.record, value: { newValue: change.newValue, oldValue: entry.oldValue } satisfies Change<unknown> };
}
