/**
 * The builds of store projections in this process, per set of clients (one cluster's projections
 * never see another's) and by name, and which one answers queries.
 */
import type { KafkaClients } from '../clients/api.ts';
import type { StreamsApp } from '../streams/app.ts';

/** One build of a store projection in this process. */
export interface StoreBuild {
  readonly version: number;
  readonly build: number;
  readonly app: StreamsApp;
  readonly applicationId: string;
  readonly documents: string;
  readonly deadLetters: string;
}

/** A projection name's builds here and the live one (a newer version takes over once caught up). */
export interface StoreBuilds {
  live: StoreBuild | undefined;
  readonly builds: Set<StoreBuild>;
}

const registries = new WeakMap<KafkaClients, Map<string, StoreBuilds>>();

/** The registry of the store projections running on `clients`. */
export function storeBuildsOf(clients: KafkaClients): Map<string, StoreBuilds> {
  let r = registries.get(clients);
  if (r === undefined) registries.set(clients, (r = new Map()));
  return r;
}
