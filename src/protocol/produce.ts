/**
 * Produce (Kafka API 0): a client (or a coordinator, for its internal topics) appends whole record
 * batches to partitions the receiving broker leads. With `acks: 0` no response is sent.
 */
import type { RequestHeader, ResponseHeader, WireError } from './common.ts';

/** A partition's records in a produce request: whole record batches, back to back. */
export interface ProducePartitionData {
  readonly topic: string;
  readonly partition: number;
  readonly records: Uint8Array;
}

/** `produce.request`: appends batches to partitions led by the receiving broker. */
export interface ProduceRequest extends RequestHeader {
  readonly type: 'produce.request';
  /** 0, 1 or -1 (all). With 0 the broker sends no response. */
  readonly acks: 0 | 1 | -1;
  readonly timeoutMs: number;
  readonly partitions: readonly ProducePartitionData[];
}

/** Result of one partition of a produce request. */
export interface ProducePartitionResult extends Partial<WireError> {
  readonly topic: string;
  readonly partition: number;
  /** Offset of the first appended record, -1n on error. */
  readonly baseOffset: bigint;
  /** Offset of the last appended record, -1n on error. */
  readonly lastOffset?: bigint;
  readonly logAppendTime: number;
  readonly logStartOffset: bigint;
}

/** `produce.response`: one result per partition of the request. */
export interface ProduceResponse extends ResponseHeader {
  readonly type: 'produce.response';
  readonly partitions: readonly ProducePartitionResult[];
}
