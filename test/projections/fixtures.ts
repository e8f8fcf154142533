/** Shared set-up of the projection tests: a simulated cluster, an event store, a temporary database file. */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createEventStore } from '../../src/eventsourcing/index.ts';
import type { EventStore, RecordedEvent } from '../../src/eventsourcing/index.ts';
import { createTestCluster } from '../../src/testing.ts';
import type { TestCluster } from '../../src/testing.ts';

export type OrderEvent = RecordedEvent<'OrderPlaced' | 'OrderCancelled', { customer: string; total: number }>;

const dirs: string[] = [];

/** A fresh SQLite file, removed by {@link cleanFiles}. */
export function dbFile(): string {
  const d = mkdtempSync(join(tmpdir(), 'samsa-proj-'));
  dirs.push(d);
  return join(d, 'read.db');
}

export function cleanFiles(): void {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
}

export async function setup(seed: number): Promise<{ cluster: TestCluster; store: EventStore }> {
  const cluster = await createTestCluster({ seed, brokers: 1 });
  const store = createEventStore(cluster, { partitions: 3 });
  return { cluster, store };
}

export function place(cluster: TestCluster, store: EventStore, id: number | string, customer: string, total: number) {
  return cluster.settle(store.append(`order-${id}`, [{ type: 'OrderPlaced', data: { customer, total } }]));
}
