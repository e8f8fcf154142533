/**
 * A stream's lifecycle metadata, in the compacted topic `<type>.stream-metadata` keyed by stream
 * id (the latest record wins): `truncateBefore` hides the events below a version from every read
 * (they stay in the log: a delete-policy topic cannot drop one key's records), and `deleted` marks a
 * soft delete — the stream reads as absent until new events are appended, which continue its
 * version numbers (as KurrentDB's soft delete).
 */
import { KafkaProtocolError } from '../errors.ts';
import type { AdminClient, ProducerClient } from '../clients/api.ts';

/** What a stream's metadata says. */
export interface StreamMetadata {
  /** Events below this version are hidden. */
  readonly truncateBefore?: bigint;
  /** Soft-deleted: absent until an event at or past `truncateBefore` is appended. */
  readonly deleted?: boolean;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** The metadata topic of a stream type. */
export function metadataTopic(type: string): string {
  return `${type}.stream-metadata`;
}

/** The stream's metadata (none when the stream or the topic has none). */
export async function readStreamMetadata(admin: AdminClient, topic: string, streamId: string): Promise<StreamMetadata> {
  let latest;
  try {
    latest = (await admin.readKey(topic, encoder.encode(streamId), { direction: 'backwards', maxCount: 1 })).records[0];
  } catch (e) {
    if (KafkaProtocolError.isKafka(e, 'UNKNOWN_TOPIC_OR_PARTITION')) return {};
    throw e;
  }
  if (latest?.value === undefined || latest.value === null) return {};
  try {
    const parsed = JSON.parse(decoder.decode(latest.value)) as { truncateBefore?: string; deleted?: boolean };
    return { ...(typeof parsed.truncateBefore === 'string' && /^\d+$/.test(parsed.truncateBefore) ? { truncateBefore: BigInt(parsed.truncateBefore) } : {}), ...(parsed.deleted === true ? { deleted: true } : {}) };
  } catch {
    return {};
  }
}

/** Writes the stream's metadata (replacing what it had). */
export async function writeStreamMetadata(producer: Pick<ProducerClient, 'send'>, topic: string, streamId: string, metadata: StreamMetadata): Promise<void> {
  const value = encoder.encode(JSON.stringify({ ...(metadata.truncateBefore === undefined ? {} : { truncateBefore: metadata.truncateBefore.toString() }), ...(metadata.deleted === true ? { deleted: true } : {}) }));
  await producer.send(topic, { key: encoder.encode(streamId), value });
}
