/**
 * The compression codecs of record batch v2, producing exactly the framing Kafka's Java client puts
 * inside a batch (`org.apache.kafka.common.compress.*`):
 *
 * - gzip: a gzip member (RFC 1952), as `GZIPOutputStream` writes.
 * - snappy: xerial snappy-java stream framing (`SnappyOutputStream`): a 16-byte header
 *   (0x82 "SNAPPY" 0x00, int32 BE version 1, int32 BE compatible version 1), then blocks of
 *   [int32 BE compressed length][raw snappy block] with at most 32 KiB of input each. Decoding
 *   also accepts raw snappy, as `SnappyInputStream` does when the header is absent.
 * - lz4: an LZ4 frame as `Lz4BlockOutputStream` writes it: FLG 0x60 (version 1, independent
 *   blocks, no checksums, no content size), BD 0x40 (64 KiB blocks), header checksum, blocks,
 *   end mark. Decoding accepts any valid LZ4 frame (checksums, content size, other block sizes).
 * - zstd: standard zstd frames at level 3 (Kafka's default level).
 *
 * Everything is synchronous; the zstd WebAssembly module is initialised once at module load.
 */
import { gunzipSync, gzipSync } from 'node:zlib';
import { compressSync as snappyCompressRaw, uncompressSync as snappyUncompressRaw } from 'snappy';
import { compressSync as lz4CompressBlock, decompressFrameSync as lz4DecompressFrame, uncompressSync as lz4UncompressBlock } from 'lz4-napi';
import { compress as zstdCompress, decompress as zstdDecompress, init as zstdInit } from '@bokuweb/zstd-wasm';
import { CorruptRecordError, InvalidArgumentError } from '../errors.ts';
import { concatBytes } from './bytes.ts';

// zstd-wasm needs its WebAssembly instance before the first (synchronous) call.
await zstdInit();

/** A record batch compression codec, named as in Kafka's `compression.type`. */
export type CompressionCodec = 'none' | 'gzip' | 'snappy' | 'lz4' | 'zstd';

/** The codecs in attribute-id order: `COMPRESSION_CODECS[id]` is the codec with that id. */
export const COMPRESSION_CODECS: readonly CompressionCodec[] = Object.freeze(['none', 'gzip', 'snappy', 'lz4', 'zstd']);

/** The zstd level samsa compresses at: Kafka's default (`CompressionType.ZSTD.defaultLevel()`). */
export const ZSTD_LEVEL = 3;

/** Largest input one xerial snappy block holds (snappy-java `SnappyOutputStream.DEFAULT_BLOCK_SIZE`). */
export const SNAPPY_XERIAL_BLOCK_SIZE = 32 * 1024;

/** Largest input one LZ4 block holds (Kafka `Lz4BlockOutputStream.BLOCKSIZE_64KB`). */
export const LZ4_BLOCK_SIZE = 64 * 1024;

/** Largest output samsa decompresses from one zstd frame without a declared size, as a bomb guard. */
const ZSTD_MAX_UNSIZED_OUTPUT = 1024 * 1024 * 1024;

/**
 * The codec for an attribute id (bits 0-2 of the batch attributes). Throws
 * {@link CorruptRecordError} for ids 5..7 (unassigned) or anything outside 0..7.
 */
export function codecFromId(id: number): CompressionCodec {
  const codec = COMPRESSION_CODECS[id];
  if (codec === undefined) throw new CorruptRecordError(`unknown compression codec id ${id}`);
  return codec;
}

/** The attribute id (0..4) of a codec. Throws {@link InvalidArgumentError} for an unknown name. */
export function codecId(codec: CompressionCodec): number {
  switch (codec) {
    case 'none':
      return 0;
    case 'gzip':
      return 1;
    case 'snappy':
      return 2;
    case 'lz4':
      return 3;
    case 'zstd':
      return 4;
    default:
      throw new InvalidArgumentError('compression', `unknown codec ${JSON.stringify(codec)}; expected one of ${COMPRESSION_CODECS.join(', ')}`);
  }
}

/** True when `value` names a codec. */
export function isCompressionCodec(value: unknown): value is CompressionCodec {
  return value === 'none' || value === 'gzip' || value === 'snappy' || value === 'lz4' || value === 'zstd';
}

/**
 * Compresses `bytes` with `codec` into the framing Kafka writes inside a batch. `'none'` returns
 * `bytes` itself. The result is a fresh array (never shared with `bytes` unless the codec is none).
 */
export function compress(codec: CompressionCodec, bytes: Uint8Array): Uint8Array {
  if (!(bytes instanceof Uint8Array)) throw new InvalidArgumentError('bytes', 'must be a Uint8Array');
  switch (codec) {
    case 'none':
      return bytes;
    case 'gzip':
      return plain(gzipSync(bytes));
    case 'snappy':
      return snappyXerialCompress(bytes);
    case 'lz4':
      return lz4FrameCompress(bytes);
    case 'zstd':
      return zstdCompress(bytes, ZSTD_LEVEL);
    default:
      return codecId(codec) as never;
  }
}

/**
 * Decompresses a batch payload written by any Kafka client with `codec`. `'none'` returns `bytes`
 * itself. Throws {@link CorruptRecordError} when the payload is not valid for the codec.
 */
export function decompress(codec: CompressionCodec, bytes: Uint8Array): Uint8Array {
  if (!(bytes instanceof Uint8Array)) throw new InvalidArgumentError('bytes', 'must be a Uint8Array');
  if (codec === 'none') return bytes;
  try {
    switch (codec) {
      case 'gzip':
        return plain(gunzipSync(bytes));
      case 'snappy':
        return snappyDecompress(bytes);
      case 'lz4':
        return lz4Decompress(bytes);
      case 'zstd':
        return zstdDecompressFrames(bytes);
      default:
        return codecId(codec) as never;
    }
  } catch (e) {
    if (e instanceof CorruptRecordError || e instanceof InvalidArgumentError) throw e;
    throw new CorruptRecordError(`${codec} payload does not decompress: ${e instanceof Error ? e.message : String(e)}`);
  }
}

/* ------------------------------------------------------------------------------------------ */
/* Helpers                                                                                     */

/** A plain Uint8Array over a Buffer's memory, so callers never see Buffer-specific behaviour. */
function plain(buffer: Uint8Array): Uint8Array {
  return buffer.constructor === Uint8Array ? buffer : new Uint8Array(buffer.buffer, buffer.byteOffset, buffer.byteLength);
}

/** A Buffer over a Uint8Array's memory (no copy), for native bindings that insist on Buffer. */
function bufferView(bytes: Uint8Array): Buffer {
  return Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

function concat(parts: Uint8Array[], total: number): Uint8Array {
  if (parts.length === 1 && parts[0]!.length === total) return plain(parts[0]!);
  return concatBytes(parts);
}

function readUint32LE(bytes: Uint8Array, pos: number): number {
  return (bytes[pos]! | (bytes[pos + 1]! << 8) | (bytes[pos + 2]! << 16) | (bytes[pos + 3]! << 24)) >>> 0;
}

function readInt32BE(bytes: Uint8Array, pos: number): number {
  return (bytes[pos]! << 24) | (bytes[pos + 1]! << 16) | (bytes[pos + 2]! << 8) | bytes[pos + 3]!;
}

/* ------------------------------------------------------------------------------------------ */
/* xxHash32 (for the LZ4 frame descriptor checksum)                                            */

const XXH_PRIME1 = 0x9e3779b1;
const XXH_PRIME2 = 0x85ebca77;
const XXH_PRIME3 = 0xc2b2ae3d;
const XXH_PRIME4 = 0x27d4eb2f;
const XXH_PRIME5 = 0x165667b1;

function rotl(x: number, r: number): number {
  return (x << r) | (x >>> (32 - r));
}

function xxhRound(acc: number, lane: number): number {
  return Math.imul(rotl((acc + Math.imul(lane, XXH_PRIME2)) | 0, 13), XXH_PRIME1);
}

/** xxHash32 of `bytes[start, end)` with `seed`, as an unsigned 32-bit number (reference algorithm). */
export function xxhash32(bytes: Uint8Array, start = 0, end = bytes.length, seed = 0): number {
  let pos = start;
  const len = end - start;
  let h: number;
  if (len >= 16) {
    let v1 = (seed + XXH_PRIME1 + XXH_PRIME2) | 0;
    let v2 = (seed + XXH_PRIME2) | 0;
    let v3 = seed | 0;
    let v4 = (seed - XXH_PRIME1) | 0;
    const limit = end - 16;
    while (pos <= limit) {
      v1 = xxhRound(v1, readUint32LE(bytes, pos));
      v2 = xxhRound(v2, readUint32LE(bytes, pos + 4));
      v3 = xxhRound(v3, readUint32LE(bytes, pos + 8));
      v4 = xxhRound(v4, readUint32LE(bytes, pos + 12));
      pos += 16;
    }
    h = (rotl(v1, 1) + rotl(v2, 7) + rotl(v3, 12) + rotl(v4, 18)) | 0;
  } else {
    h = (seed + XXH_PRIME5) | 0;
  }
  h = (h + len) | 0;
  while (pos + 4 <= end) {
    h = Math.imul(rotl((h + Math.imul(readUint32LE(bytes, pos), XXH_PRIME3)) | 0, 17), XXH_PRIME4);
    pos += 4;
  }
  while (pos < end) {
    h = Math.imul(rotl((h + Math.imul(bytes[pos]!, XXH_PRIME5)) | 0, 11), XXH_PRIME1);
    pos++;
  }
  h ^= h >>> 15;
  h = Math.imul(h, XXH_PRIME2);
  h ^= h >>> 13;
  h = Math.imul(h, XXH_PRIME3);
  h ^= h >>> 16;
  return h >>> 0;
}

/* ------------------------------------------------------------------------------------------ */
/* snappy (xerial snappy-java framing)                                                        */

/** The 16-byte header snappy-java's `SnappyOutputStream` writes (magic, version 1, compatible 1). */
const SNAPPY_XERIAL_HEADER = new Uint8Array([0x82, 0x53, 0x4e, 0x41, 0x50, 0x50, 0x59, 0x00, 0, 0, 0, 1, 0, 0, 0, 1]);

const XERIAL_MAGIC_LEN = 8;
const XERIAL_HEADER_LEN = 16;
/** The first 4 magic bytes read as a big-endian int32, which snappy-java uses to spot a concatenated stream. */
const XERIAL_MAGIC_HEAD = readInt32BE(SNAPPY_XERIAL_HEADER, 0);

function hasXerialMagic(bytes: Uint8Array, pos: number): boolean {
  if (bytes.length - pos < XERIAL_HEADER_LEN) return false;
  for (let i = 0; i < XERIAL_MAGIC_LEN; i++) if (bytes[pos + i] !== SNAPPY_XERIAL_HEADER[i]) return false;
  return true;
}

function snappyXerialCompress(bytes: Uint8Array): Uint8Array {
  const blocks: Uint8Array[] = [];
  let total = XERIAL_HEADER_LEN;
  for (let pos = 0; pos < bytes.length; pos += SNAPPY_XERIAL_BLOCK_SIZE) {
    const block = snappyCompressRaw(bytes.subarray(pos, Math.min(pos + SNAPPY_XERIAL_BLOCK_SIZE, bytes.length)), SNAPPY_OPTIONS);
    blocks.push(block);
    total += 4 + block.length;
  }
  const out = new Uint8Array(total);
  out.set(SNAPPY_XERIAL_HEADER, 0);
  let pos = XERIAL_HEADER_LEN;
  for (const block of blocks) {
    const n = block.length;
    out[pos] = n >>> 24;
    out[pos + 1] = n >>> 16;
    out[pos + 2] = n >>> 8;
    out[pos + 3] = n;
    out.set(block, pos + 4);
    pos += 4 + n;
  }
  return out;
}

// copyOutputData: the binding's external (zero-copy) buffers cost ~10x more than a copy (measured
// ~95 µs vs ~10 µs per 32 KiB block), mostly in external-memory GC accounting.
const SNAPPY_OPTIONS = { copyOutputData: true } as const;
const SNAPPY_DECODE_OPTIONS = { asBuffer: true, copyOutputData: true } as const;

function snappyRaw(bytes: Uint8Array): Uint8Array {
  return snappyUncompressRaw(bytes, SNAPPY_DECODE_OPTIONS) as Buffer;
}

function checkXerialVersion(bytes: Uint8Array, pos: number): void {
  const version = readInt32BE(bytes, pos + XERIAL_MAGIC_LEN);
  if (version < 1) throw new CorruptRecordError(`snappy stream header has incompatible version ${version}`);
}

function snappyDecompress(bytes: Uint8Array): Uint8Array {
  // Like SnappyInputStream: without the xerial magic the whole payload is one raw snappy block.
  if (!hasXerialMagic(bytes, 0)) return plain(snappyRaw(bytes));
  checkXerialVersion(bytes, 0);
  const parts: Uint8Array[] = [];
  let total = 0;
  let pos = XERIAL_HEADER_LEN;
  const end = bytes.length;
  while (pos < end) {
    if (end - pos < 4) throw new CorruptRecordError(`snappy stream has ${end - pos} stray bytes where a block length belongs`);
    const size = readInt32BE(bytes, pos);
    if (size === XERIAL_MAGIC_HEAD && hasXerialMagic(bytes, pos)) {
      // snappy-java accepts concatenated streams: a second header where a block length belongs.
      checkXerialVersion(bytes, pos);
      pos += XERIAL_HEADER_LEN;
      continue;
    }
    if (size < 0 || size > end - pos - 4) throw new CorruptRecordError(`snappy block length ${size} at byte ${pos} overruns the payload (${end - pos - 4} bytes left)`);
    const part = snappyRaw(bytes.subarray(pos + 4, pos + 4 + size));
    parts.push(part);
    total += part.length;
    pos += 4 + size;
  }
  return concat(parts, total);
}

/* ------------------------------------------------------------------------------------------ */
/* lz4 (LZ4 frame format, as Kafka's Lz4BlockOutputStream / Lz4BlockInputStream)              */

const LZ4_MAGIC = 0x184d2204;
const SKIPPABLE_MAGIC_MASK = 0xfffffff0;
const SKIPPABLE_MAGIC_BASE = 0x184d2a50;
/** FLG: version 01, block independence, no block checksum, no content size, no content checksum. */
const LZ4_FLG = 0x60;
/** BD: block maximum size code 4 = 64 KiB. */
const LZ4_BD = 0x40;
const LZ4_UNCOMPRESSED_BIT = 0x80000000;

/**
 * The 7-byte LZ4 frame header Kafka writes: magic (LE), FLG, BD and the descriptor checksum
 * (second byte of xxHash32 over FLG..BD, seed 0).
 */
const LZ4_KAFKA_FRAME_HEADER = (() => {
  const header = new Uint8Array([0x04, 0x22, 0x4d, 0x18, LZ4_FLG, LZ4_BD, 0]);
  header[6] = (xxhash32(header, 4, 6, 0) >>> 8) & 0xff;
  return header;
})();

function lz4FrameCompress(bytes: Uint8Array): Uint8Array {
  const blocks: Uint8Array[] = [];
  const rawFlags: boolean[] = [];
  let total = LZ4_KAFKA_FRAME_HEADER.length + 4;
  for (let pos = 0; pos < bytes.length; pos += LZ4_BLOCK_SIZE) {
    const chunk = bytes.subarray(pos, Math.min(pos + LZ4_BLOCK_SIZE, bytes.length));
    // lz4-napi's block API prepends the uncompressed size (4 bytes LE); the frame does not want it.
    const compressed = lz4CompressBlock(bufferView(chunk)).subarray(4);
    // Kafka stores a block uncompressed when compression does not shrink it.
    const stored = compressed.length >= chunk.length;
    blocks.push(stored ? chunk : compressed);
    rawFlags.push(stored);
    total += 4 + (stored ? chunk.length : compressed.length);
  }
  const out = new Uint8Array(total);
  out.set(LZ4_KAFKA_FRAME_HEADER, 0);
  let pos = LZ4_KAFKA_FRAME_HEADER.length;
  for (let i = 0; i < blocks.length; i++) {
    const block = blocks[i]!;
    const word = (block.length | (rawFlags[i] ? LZ4_UNCOMPRESSED_BIT : 0)) >>> 0;
    out[pos] = word;
    out[pos + 1] = word >>> 8;
    out[pos + 2] = word >>> 16;
    out[pos + 3] = word >>> 24;
    out.set(block, pos + 4);
    pos += 4 + block.length;
  }
  // End mark: a zero block size. Kafka writes no content checksum.
  return out;
}

function writeUint32LE(bytes: Uint8Array, pos: number, value: number): void {
  bytes[pos] = value;
  bytes[pos + 1] = value >>> 8;
  bytes[pos + 2] = value >>> 16;
  bytes[pos + 3] = value >>> 24;
}

/**
 * Decodes one LZ4 frame (or skips one skippable frame) starting at `pos`, appending its content to
 * `parts`; returns the position after the frame and the bytes appended. Blocks are decoded one by
 * one with the raw block decoder: lz4-napi's frame decoder is several times slower on 64 KiB
 * blocks and silently ignores anything after the first frame.
 */
function lz4DecodeFrame(bytes: Uint8Array, pos: number, parts: Uint8Array[]): { end: number; length: number } {
  const end = bytes.length;
  if (end - pos < 7) throw new CorruptRecordError(`lz4 payload has a truncated frame header at byte ${pos}`);
  const magic = readUint32LE(bytes, pos);
  if ((magic & SKIPPABLE_MAGIC_MASK) >>> 0 === SKIPPABLE_MAGIC_BASE) {
    if (end - pos < 8) throw new CorruptRecordError(`lz4 skippable frame at byte ${pos} is truncated`);
    const size = readUint32LE(bytes, pos + 4);
    if (size > end - pos - 8) throw new CorruptRecordError(`lz4 skippable frame at byte ${pos} overruns the payload`);
    return { end: pos + 8 + size, length: 0 };
  }
  if (magic !== LZ4_MAGIC) throw new CorruptRecordError(`lz4 payload has bad frame magic 0x${magic.toString(16)} at byte ${pos}`);
  const flg = bytes[pos + 4]!;
  const bd = bytes[pos + 5]!;
  if (flg >>> 6 !== 1) throw new CorruptRecordError(`lz4 frame version ${flg >>> 6} is unsupported`);
  if ((flg & 0x02) !== 0 || (bd & 0x8f) !== 0 || bd >>> 4 < 4) throw new CorruptRecordError(`lz4 frame descriptor has invalid flags (FLG 0x${flg.toString(16)}, BD 0x${bd.toString(16)})`);
  const independent = (flg & 0x20) !== 0;
  const blockChecksum = (flg & 0x10) !== 0;
  const hasContentSize = (flg & 0x08) !== 0;
  const contentChecksum = (flg & 0x04) !== 0;
  const dictId = (flg & 0x01) !== 0;
  const maxBlockSize = 1 << (2 * (bd >>> 4) + 8);
  const descriptorEnd = pos + 6 + (hasContentSize ? 8 : 0) + (dictId ? 4 : 0);
  if (descriptorEnd >= end) throw new CorruptRecordError('lz4 frame descriptor is truncated');
  if (bytes[descriptorEnd] !== ((xxhash32(bytes, pos + 4, descriptorEnd) >>> 8) & 0xff)) throw new CorruptRecordError('lz4 frame descriptor checksum mismatch');
  const contentSize = hasContentSize ? readUint32LE(bytes, pos + 6) + readUint32LE(bytes, pos + 10) * 4294967296 : -1;

  // Walk the blocks first: it validates the structure and finds the frame's end.
  let p = descriptorEnd + 1;
  const blockStarts: number[] = [];
  for (;;) {
    if (end - p < 4) throw new CorruptRecordError('lz4 frame is truncated (missing end mark)');
    const word = readUint32LE(bytes, p);
    if (word === 0) break;
    const size = word & 0x7fffffff;
    if (size > maxBlockSize) throw new CorruptRecordError(`lz4 block size ${size} exceeds the frame maximum ${maxBlockSize}`);
    if (size + (blockChecksum ? 4 : 0) > end - p - 4) throw new CorruptRecordError(`lz4 block of ${size} bytes at byte ${p} overruns the payload`);
    if (blockChecksum && xxhash32(bytes, p + 4, p + 4 + size) !== readUint32LE(bytes, p + 4 + size)) throw new CorruptRecordError(`lz4 block checksum mismatch at byte ${p}`);
    blockStarts.push(p);
    p += 4 + size + (blockChecksum ? 4 : 0);
  }
  p += 4;
  if (contentChecksum) {
    if (end - p < 4) throw new CorruptRecordError('lz4 frame is truncated (missing content checksum)');
    p += 4;
  }

  const first = parts.length;
  let length = 0;
  if (!independent || dictId) {
    // Linked blocks or dictionaries (which Kafka itself rejects): let the full frame decoder handle them.
    const whole = plain(lz4DecompressFrame(bufferView(bytes.subarray(pos, p))));
    parts.push(whole);
    length = whole.length;
  } else {
    for (const at of blockStarts) {
      const word = readUint32LE(bytes, at);
      const size = word & 0x7fffffff;
      let block: Uint8Array;
      if ((word & LZ4_UNCOMPRESSED_BIT) !== 0) {
        block = bytes.subarray(at + 4, at + 4 + size);
      } else {
        // The raw block decoder wants the output size first; the frame's block maximum bounds it.
        const prefixed = Buffer.allocUnsafe(4 + size);
        writeUint32LE(prefixed, 0, maxBlockSize);
        prefixed.set(bytes.subarray(at + 4, at + 4 + size), 4);
        block = lz4UncompressBlock(prefixed);
      }
      parts.push(block);
      length += block.length;
    }
  }
  if (contentSize >= 0 && contentSize !== length) throw new CorruptRecordError(`lz4 frame declares ${contentSize} bytes but holds ${length}`);
  if (contentChecksum) {
    const content = concat(parts.slice(first), length);
    if (xxhash32(content) !== readUint32LE(bytes, p - 4)) throw new CorruptRecordError('lz4 content checksum mismatch');
  }
  return { end: p, length };
}

function lz4Decompress(bytes: Uint8Array): Uint8Array {
  const parts: Uint8Array[] = [];
  let total = 0;
  let pos = 0;
  do {
    const frame = lz4DecodeFrame(bytes, pos, parts);
    total += frame.length;
    pos = frame.end;
  } while (pos < bytes.length);
  return concat(parts, total);
}

/* ------------------------------------------------------------------------------------------ */
/* zstd                                                                                        */

const ZSTD_MAGIC = 0xfd2fb528;
const ZSTD_BLOCK_MAX = 128 * 1024;

interface ZstdFrameInfo {
  end: number;
  skippable: boolean;
  /** Upper bound of the decompressed size, from the block headers. */
  bound: number;
  /** Declared content size, or -1 when the frame does not declare it. */
  contentSize: number;
}

/** Walks one zstd frame's header and block headers to find its end and bound its output. */
function zstdFrameInfo(bytes: Uint8Array, pos: number): ZstdFrameInfo {
  const end = bytes.length;
  if (end - pos < 8) throw new CorruptRecordError(`zstd payload has a truncated frame header at byte ${pos}`);
  const magic = readUint32LE(bytes, pos);
  if ((magic & SKIPPABLE_MAGIC_MASK) >>> 0 === SKIPPABLE_MAGIC_BASE) {
    const size = readUint32LE(bytes, pos + 4);
    if (size > end - pos - 8) throw new CorruptRecordError(`zstd skippable frame at byte ${pos} overruns the payload`);
    return { end: pos + 8 + size, skippable: true, bound: 0, contentSize: 0 };
  }
  if (magic !== ZSTD_MAGIC) throw new CorruptRecordError(`zstd payload has bad frame magic 0x${magic.toString(16)} at byte ${pos}`);
  const fhd = bytes[pos + 4]!;
  const fcsFlag = fhd >>> 6;
  const singleSegment = (fhd & 0x20) !== 0;
  if ((fhd & 0x08) !== 0) throw new CorruptRecordError('zstd frame header has the reserved bit set');
  const checksum = (fhd & 0x04) !== 0;
  const dictIdBytes = [0, 1, 2, 4][fhd & 3]!;
  let p = pos + 5;
  let windowSize = Infinity;
  if (!singleSegment) {
    const wd = bytes[p++]!;
    const windowBase = 2 ** (10 + (wd >>> 3));
    windowSize = windowBase + (windowBase / 8) * (wd & 7);
  }
  p += dictIdBytes;
  const fcsBytes = fcsFlag === 0 ? (singleSegment ? 1 : 0) : [0, 2, 4, 8][fcsFlag]!;
  if (p + fcsBytes > end) throw new CorruptRecordError('zstd frame header is truncated');
  let contentSize = -1;
  if (fcsBytes === 1) contentSize = bytes[p]!;
  else if (fcsBytes === 2) contentSize = (bytes[p]! | (bytes[p + 1]! << 8)) + 256;
  else if (fcsBytes === 4) contentSize = readUint32LE(bytes, p);
  else if (fcsBytes === 8) contentSize = readUint32LE(bytes, p) + readUint32LE(bytes, p + 4) * 4294967296;
  p += fcsBytes;
  if (singleSegment) windowSize = contentSize;
  const blockMax = Math.min(windowSize, ZSTD_BLOCK_MAX);
  let bound = 0;
  for (;;) {
    if (end - p < 3) throw new CorruptRecordError('zstd frame is truncated (missing block header)');
    const header = bytes[p]! | (bytes[p + 1]! << 8) | (bytes[p + 2]! << 16);
    p += 3;
    const type = (header >>> 1) & 3;
    const size = header >>> 3;
    if (type === 0) {
      bound += size;
      p += size;
    } else if (type === 1) {
      bound += size;
      p += 1;
    } else if (type === 2) {
      bound += blockMax;
      p += size;
    } else {
      throw new CorruptRecordError('zstd frame has a reserved block type');
    }
    if (p > end) throw new CorruptRecordError('zstd block overruns the payload');
    if ((header & 1) !== 0) break;
  }
  if (checksum) p += 4;
  if (p > end) throw new CorruptRecordError('zstd frame is truncated (missing checksum)');
  if (contentSize > bound) throw new CorruptRecordError(`zstd frame declares ${contentSize} bytes but its blocks hold at most ${bound}`);
  return { end: p, skippable: false, bound, contentSize };
}

function zstdDecompressFrames(bytes: Uint8Array): Uint8Array {
  const parts: Uint8Array[] = [];
  let total = 0;
  let pos = 0;
  do {
    const frame = zstdFrameInfo(bytes, pos);
    if (!frame.skippable) {
      // Java's ZstdOutputStream does not declare the content size; the block walk bounds it instead.
      if (frame.contentSize < 0 && frame.bound > ZSTD_MAX_UNSIZED_OUTPUT) {
        throw new CorruptRecordError(`zstd frame may decompress to ${frame.bound} bytes, more than the ${ZSTD_MAX_UNSIZED_OUTPUT} samsa accepts`);
      }
      const slice = pos === 0 && frame.end === bytes.length ? bytes : bytes.subarray(pos, frame.end);
      const part = zstdDecompress(slice, { defaultHeapSize: Math.max(frame.bound, 1) });
      if (frame.contentSize >= 0 && part.length !== frame.contentSize) {
        throw new CorruptRecordError(`zstd frame declares ${frame.contentSize} bytes but decompressed to ${part.length}`);
      }
      parts.push(part);
      total += part.length;
    }
    pos = frame.end;
  } while (pos < bytes.length);
  return concat(parts, total);
}
