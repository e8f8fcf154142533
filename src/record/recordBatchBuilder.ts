/**
 * Builds a record batch v2 one record at a time, as Kafka's `MemoryRecordsBuilder` does in the
 * producer: each record is written into the batch buffer when it is appended, so a producer keeps
 * no per-record objects while the batch fills, and closing the batch only writes the 61-byte
 * header and the CRC (or compresses the records first).
 *
 * Guarantee: for the same records, producer id, epoch, base sequence and flags, {@link
 * RecordBatchBuilder.build} returns exactly the bytes `encodeRecordBatch` returns (which are
 * Kafka's and KafkaJS's); a property test checks it.
 */
import { InvalidArgumentError } from '../errors.ts';
import { codecId, compress } from './compression.ts';
import type { CompressionCodec } from './compression.ts';
import { NO_PARTITION_LEADER_EPOCH, RECORD_BATCH_OVERHEAD, TRANSACTIONAL_FLAG_MASK, writeBatchHeader } from './recordBatch.ts';
import { sizeOfVarint, sizeOfVarlong, writeVarint, writeVarlong } from './varint.ts';

/** A record header with its key already UTF-8 encoded. */
export interface EncodedHeader {
  readonly key: Uint8Array;
  readonly value: Uint8Array | null;
}

/** How a built batch is stamped (the producer knows these only when it sends the batch). */
export interface BuildOptions {
  readonly compression?: CompressionCodec;
  readonly producerId?: bigint;
  readonly producerEpoch?: number;
  readonly baseSequence?: number;
  readonly isTransactional?: boolean;
}

const NO_HEADERS: readonly EncodedHeader[] = [];

/** Builder buffers are cut from slabs this large: one big allocation is far cheaper than many 16 KiB ones. */
const SLAB_SIZE = 1 << 20;
/** Buffers larger than this get an allocation of their own. */
const SLAB_MAX_TAKE = 64 * 1024;
let slab = new Uint8Array(0);
let slabUsed = 0;

/** A zeroed buffer of `size` bytes, cut from the current slab when small enough. */
function allocate(size: number): Uint8Array {
  if (size > SLAB_MAX_TAKE) return new Uint8Array(size);
  if (slabUsed + size > slab.length) {
    slab = new Uint8Array(SLAB_SIZE);
    slabUsed = 0;
  }
  const out = slab.subarray(slabUsed, slabUsed + size);
  // Keep every buffer 8-byte aligned so neighbours never share a cache line's worth of writes oddly.
  slabUsed += (size + 7) & ~7;
  return out;
}

/** A built batch using less than this share of its buffer is copied out, so the slack is not kept alive. */
const KEEP_RATIO = 0.75;

/** Encoded size of a record's body (everything after its length varint). */
function bodySize(timestampDelta: number, offsetDelta: number, key: Uint8Array | null, value: Uint8Array | null, headers: readonly EncodedHeader[]): number {
  let size = 1 + sizeOfVarlong(timestampDelta) + sizeOfVarint(offsetDelta) + (key === null ? 1 : sizeOfVarint(key.length) + key.length) + (value === null ? 1 : sizeOfVarint(value.length) + value.length) + sizeOfVarint(headers.length);
  for (let h = 0; h < headers.length; h++) {
    const header = headers[h] as EncodedHeader;
    size += sizeOfVarint(header.key.length) + header.key.length + (header.value === null ? 1 : sizeOfVarint(header.value.length) + header.value.length);
  }
  return size;
}

/** Copies `bytes` to `buf` at `pos`; returns the position after them. */
function copy(buf: Uint8Array, pos: number, bytes: Uint8Array): number {
  buf.set(bytes, pos);
  return pos + bytes.length;
}

/** See the module comment. */
export class RecordBatchBuilder {
  private buffer: Uint8Array;
  /** Write position: the end of the last record. */
  private position = RECORD_BATCH_OVERHEAD;
  private count = 0;
  private baseTimestamp = 0;
  private maxTimestamp = -1;

  /** `capacity`: the expected batch size in bytes (Kafka's `batch.size`); the buffer grows past it if needed. */
  constructor(capacity: number) {
    this.buffer = allocate(Math.max(RECORD_BATCH_OVERHEAD + 64, capacity));
  }

  /** Records appended so far. */
  get recordCount(): number {
    return this.count;
  }

  /** Bytes of the batch so far, header included (uncompressed). */
  get sizeInBytes(): number {
    return this.position;
  }

  /**
   * Appends one record with offset delta = its index; returns its encoded size. The key, value and
   * header bytes are copied, so the caller may reuse them. Timestamps are ms (≥ -1), as validated
   * by the producer.
   */
  append(timestamp: number, key: Uint8Array | null, value: Uint8Array | null, headers: readonly EncodedHeader[] = NO_HEADERS): number {
    if (this.count === 0) this.baseTimestamp = timestamp;
    const timestampDelta = timestamp - this.baseTimestamp;
    const offsetDelta = this.count;
    const body = bodySize(timestampDelta, offsetDelta, key, value, headers);
    const size = sizeOfVarint(body) + body;
    if (this.position + size > this.buffer.length) this.grow(this.position + size);
    const buf = this.buffer;
    let pos = writeVarint(buf, this.position, body);
    buf[pos++] = 0; // record attributes: unused
    pos = writeVarlong(buf, pos, timestampDelta);
    pos = writeVarint(buf, pos, offsetDelta);
    if (key === null) buf[pos++] = 1; // zig-zag(-1)
    else pos = copy(buf, writeVarint(buf, pos, key.length), key);
    if (value === null) buf[pos++] = 1;
    else pos = copy(buf, writeVarint(buf, pos, value.length), value);
    pos = writeVarint(buf, pos, headers.length);
    for (let h = 0; h < headers.length; h++) {
      const header = headers[h] as EncodedHeader;
      pos = copy(buf, writeVarint(buf, pos, header.key.length), header.key);
      if (header.value === null) buf[pos++] = 1;
      else pos = copy(buf, writeVarint(buf, pos, header.value.length), header.value);
    }
    this.position = pos;
    this.count++;
    if (timestamp > this.maxTimestamp) this.maxTimestamp = timestamp;
    return size;
  }

  private grow(needed: number): void {
    let capacity = this.buffer.length * 2;
    while (capacity < needed) capacity *= 2;
    const grown = allocate(capacity);
    grown.set(this.buffer.subarray(0, this.position));
    this.buffer = grown;
  }

  /**
   * The finished batch: base offset 0 and leader epoch -1 (the leader stamps both), CreateTime.
   * It may be a view of the builder's buffer: build once, then append no more.
   * @throws InvalidArgumentError when no record was appended.
   */
  build(options: BuildOptions = {}): Uint8Array {
    if (this.count === 0) throw new InvalidArgumentError('records', 'a batch needs at least one record');
    const compression = options.compression ?? 'none';
    let out: Uint8Array;
    let attributes = options.isTransactional === true ? TRANSACTIONAL_FLAG_MASK : 0;
    if (compression === 'none') {
      // A batch that filled most of its buffer is handed out as a view; a short one (a batch closed
      // by linger.ms or flush) is copied, so a log keeping it does not keep the empty rest alive.
      out = this.position >= this.buffer.length * KEEP_RATIO ? this.buffer.subarray(0, this.position) : this.buffer.slice(0, this.position);
    } else {
      const payload = compress(compression, this.buffer.subarray(RECORD_BATCH_OVERHEAD, this.position));
      out = new Uint8Array(RECORD_BATCH_OVERHEAD + payload.length);
      out.set(payload, RECORD_BATCH_OVERHEAD);
      attributes |= codecId(compression);
    }
    writeBatchHeader(out, {
      baseOffset: 0n,
      partitionLeaderEpoch: NO_PARTITION_LEADER_EPOCH,
      attributes,
      lastOffsetDelta: this.count - 1,
      baseTimestamp: this.baseTimestamp,
      maxTimestamp: this.maxTimestamp,
      producerId: options.producerId ?? -1n,
      producerEpoch: options.producerEpoch ?? -1,
      baseSequence: options.baseSequence ?? -1,
      recordsCount: this.count,
    });
    return out;
  }
}
