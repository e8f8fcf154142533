/** The builds of store projections in this process, by name, and which one answers queries. */
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

/** Name → its builds here and the live one (a newer version takes over once caught up). */
export const storeBuilds = new Map<string, { live: StoreBuild | undefined; builds: Set<StoreBuild> }>();
