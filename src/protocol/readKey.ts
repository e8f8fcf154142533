/**
 * ReadKey (samsa's own API, no Kafka counterpart): the records of one key of a topic with
 * `key.version.index.enable`, by version, served by the partition leader from its key version
 * index without scanning the partition. Only committed records below the last stable offset are
 * read, as a read_committed consumer would see them.
 */
import type { RequestHeader, ResponseHeader, WireError } from './common.ts';
import type { RecordHeader } from '../record/recordBatch.ts';

/** One key to read. */
export interface ReadKeyPartition {
  readonly topic: string;
  readonly partition: number;
  readonly key: Uint8Array;
  /** First version to return (1-based); backwards, the version to start down from. */
  readonly from: bigint;
  readonly maxCount: number;
  readonly backwards: boolean;
}

/** `readKey.request`. */
export interface ReadKeyRequest extends RequestHeader {
  readonly type: 'readKey.request';
  readonly partitions: readonly ReadKeyPartition[];
}

/** One record of the key, with its version (its 1-based number among the key's records). */
export interface ReadKeyRecord {
  readonly version: bigint;
  readonly offset: bigint;
  readonly timestamp: number;
  readonly value: Uint8Array | null;
  readonly headers: readonly RecordHeader[];
}

/** What was read of one key. */
export interface ReadKeyPartitionResult extends Partial<WireError> {
  readonly topic: string;
  readonly partition: number;
  /** The key's committed version (visible records); -1n with an error. */
  readonly version: bigint;
  readonly records: readonly ReadKeyRecord[];
}

/** `readKey.response`. */
export interface ReadKeyResponse extends ResponseHeader {
  readonly type: 'readKey.response';
  readonly partitions: readonly ReadKeyPartitionResult[];
}
