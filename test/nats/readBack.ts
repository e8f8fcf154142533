/**
 * Reading a topic back from the start: how the NATS process tests check what reached the log.
 */
import type { Connection } from '../../src/cluster/connect.ts';
import { until } from './natsServer.ts';

const dec = new TextDecoder();

/** Options of {@link readBack}. */
export interface ReadBackOptions {
  /** Default read_uncommitted. */
  readonly isolationLevel?: 'read_committed' | 'read_uncommitted';
  /** How long to wait for `enough` (default 60 s); then it throws, naming `what`. */
  readonly timeoutMs?: number;
}

/**
 * The values of partitions 0..`partitions`-1 of `topic`, read from the start and decoded as
 * UTF-8, once `enough(values)` holds. The reader is closed whatever happens.
 */
export async function readBack(connection: Connection, topic: string, partitions: number, what: string, enough: (values: readonly string[]) => boolean, options: ReadBackOptions = {}): Promise<string[]> {
  const reader = connection.consumer({ autoOffsetReset: 'earliest', enableAutoCommit: false, isolationLevel: options.isolationLevel ?? 'read_uncommitted' });
  reader.assign(Array.from({ length: partitions }, (_, partition) => ({ topic, partition })));
  const values: string[] = [];
  try {
    await until(what, async () => {
      for (const r of await reader.poll({ timeoutMs: 200 })) values.push(dec.decode(r.value as Uint8Array));
      return enough(values);
    }, options.timeoutMs ?? 60_000);
  } finally {
    await reader.close();
  }
  return values;
}
