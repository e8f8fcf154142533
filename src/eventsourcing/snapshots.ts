/**
 * Aggregate snapshots in the compacted topic `<type>.snapshots`, keyed by stream id: the state at a
 * version, with the snapshot's schema version and the fingerprint of the `evolve` that built it.
 * The latest one is read from the partition leader's key index (the topic keeps key versions), and
 * is used only when both match the aggregate as it is now.
 */
import { KafkaProtocolError } from '../errors.ts';
import type { AdminClient } from '../clients/api.ts';
import type { Aggregate, AggregateHost } from './aggregate.ts';
import type { NewEvent } from './events.ts';

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** The snapshots topic of an aggregate type. */
export function snapshotTopic(type: string): string {
  return `${type}.snapshots`;
}

/** The latest usable snapshot of `streamId`, or undefined (none, another schema version, another `evolve`). */
export async function readSnapshot<State, Command, Event extends NewEvent>(admin: AdminClient, aggregate: Aggregate<State, Command, Event>, streamId: string): Promise<{ state: State; version: bigint } | undefined> {
  let read;
  try {
    read = await admin.readKey(snapshotTopic(aggregate.type), encoder.encode(streamId), { direction: 'backwards', maxCount: 1 });
  } catch (e) {
    if (KafkaProtocolError.isKafka(e, 'UNKNOWN_TOPIC_OR_PARTITION')) return undefined;
    throw e;
  }
  const value = read.records[0]?.value;
  if (value === undefined || value === null) return undefined;
  let parsed: { version?: unknown; schemaVersion?: unknown; fingerprint?: unknown; state?: unknown };
  try {
    parsed = JSON.parse(decoder.decode(value)) as typeof parsed;
  } catch {
    return undefined;
  }
  if (parsed.schemaVersion !== (aggregate.snapshot?.schemaVersion ?? 1) || parsed.fingerprint !== aggregate.fingerprint || typeof parsed.version !== 'string' || !/^\d+$/.test(parsed.version)) return undefined;
  const fromJSON = aggregate.snapshot?.fromJSON ?? ((json: unknown) => json as State);
  return { state: fromJSON(parsed.state), version: BigInt(parsed.version) };
}

/** Writes a snapshot of `streamId` at `version`. */
export async function writeSnapshot<State, Command, Event extends NewEvent>(host: AggregateHost, aggregate: Aggregate<State, Command, Event>, streamId: string, state: State, version: bigint): Promise<void> {
  await host.ensureSnapshotTopic(aggregate.type);
  const toJSON = aggregate.snapshot?.toJSON ?? ((s: State) => s as unknown);
  const body = JSON.stringify({ version: version.toString(), schemaVersion: aggregate.snapshot?.schemaVersion ?? 1, fingerprint: aggregate.fingerprint, state: toJSON(state) }, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v));
  await host.sendSnapshot(snapshotTopic(aggregate.type), encoder.encode(streamId), encoder.encode(body));
}
