import { gzipSync } from 'node:zlib';
import { describe, it, expect } from 'vitest';
import { compressSync as snappyRaw, uncompressSync as snappyRawUncompress } from 'snappy';
import { compressFrameSync, uncompressSync as lz4BlockUncompress } from 'lz4-napi';
import { COMPRESSION_CODECS, codecFromId, codecId, compress, decompress, xxhash32 } from '../../src/record/compression.ts';
import type { CompressionCodec } from '../../src/record/compression.ts';
import { CorruptRecordError, InvalidArgumentError } from '../../src/errors.ts';

/** Deterministic pseudo-random bytes (xorshift32), so "incompressible" inputs are reproducible. */
function noise(length: number, seed = 0x9e3779b9): Uint8Array {
  const out = new Uint8Array(length);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < length; i++) {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    out[i] = x & 0xff;
  }
  return out;
}

/** Compressible text-like bytes. */
function text(length: number): Uint8Array {
  const words = new TextEncoder().encode('the quick brown fox jumps over the lazy dog 0123456789 kafka samsa ');
  const out = new Uint8Array(length);
  for (let i = 0; i < length; i++) out[i] = words[(i * 7 + (i >> 9)) % words.length]!;
  return out;
}

function concatBytes(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let pos = 0;
  for (const p of parts) {
    out.set(p, pos);
    pos += p.length;
  }
  return out;
}

function int32BE(n: number): Uint8Array {
  const b = new Uint8Array(4);
  new DataView(b.buffer).setInt32(0, n);
  return b;
}

function uint32LE(n: number): Uint8Array {
  const b = new Uint8Array(4);
  new DataView(b.buffer).setUint32(0, n, true);
  return b;
}

const XERIAL_HEADER = new Uint8Array([0x82, 0x53, 0x4e, 0x41, 0x50, 0x50, 0x59, 0x00, 0, 0, 0, 1, 0, 0, 0, 1]);
const MiB = 1024 * 1024;

describe('codec ids', () => {
  it('maps Kafka attribute ids 0..4 both ways', () => {
    expect(COMPRESSION_CODECS).toEqual(['none', 'gzip', 'snappy', 'lz4', 'zstd']);
    COMPRESSION_CODECS.forEach((codec, id) => {
      expect(codecFromId(id)).toBe(codec);
      expect(codecId(codec)).toBe(id);
    });
  });

  it('rejects unassigned ids 5..7 as corrupt data and unknown names as bad arguments', () => {
    for (const id of [5, 6, 7]) expect(() => codecFromId(id)).toThrow(CorruptRecordError);
    expect(() => codecFromId(5)).toThrow(/unknown compression codec id 5/);
    expect(() => codecId('brotli' as CompressionCodec)).toThrow(InvalidArgumentError);
    expect(() => compress('brotli' as CompressionCodec, new Uint8Array(1))).toThrow(InvalidArgumentError);
  });
});

describe('round trips', () => {
  const inputs: Array<[string, Uint8Array]> = [
    ['empty', new Uint8Array(0)],
    ['one byte', new Uint8Array([42])],
    ['small text', text(1000)],
    ['64 KiB + 1 noise', noise(64 * 1024 + 1)],
    ['> 1 MiB text', text(MiB + 12345)],
    ['> 1 MiB noise', noise(MiB + 777)],
  ];
  for (const codec of COMPRESSION_CODECS) {
    for (const [name, input] of inputs) {
      it(`${codec}: ${name}`, () => {
        const compressed = compress(codec, input);
        const output = decompress(codec, compressed);
        expect(output.constructor).toBe(Uint8Array);
        expect(output.length).toBe(input.length);
        expect(Buffer.from(output).equals(Buffer.from(input))).toBe(true);
      });
    }
  }

  it('none is the identity without copying', () => {
    const input = text(10);
    expect(compress('none', input)).toBe(input);
    expect(decompress('none', input)).toBe(input);
  });

  it('reads inputs that are views into a larger buffer', () => {
    const big = text(5000);
    const view = big.subarray(1000, 3000);
    for (const codec of COMPRESSION_CODECS) {
      const compressed = compress(codec, view);
      const padded = concatBytes(new Uint8Array(7), compressed, new Uint8Array(3));
      expect(Buffer.from(decompress(codec, padded.subarray(7, 7 + compressed.length))).equals(Buffer.from(view))).toBe(true);
    }
  });
});

describe('gzip', () => {
  it('writes a gzip member and reads Java-style gzip (OS byte 0)', () => {
    const compressed = compress('gzip', text(100));
    expect([...compressed.subarray(0, 3)]).toEqual([0x1f, 0x8b, 0x08]);
    const javaLike = gzipSync(text(100));
    javaLike[9] = 0; // java.util.zip.GZIPOutputStream writes OS = 0
    expect(Buffer.from(decompress('gzip', javaLike)).equals(Buffer.from(text(100)))).toBe(true);
  });

  it('reports corrupt gzip as CorruptRecordError', () => {
    expect(() => decompress('gzip', new Uint8Array([1, 2, 3, 4]))).toThrow(CorruptRecordError);
    expect(() => decompress('gzip', new Uint8Array([1, 2, 3, 4]))).toThrow(/gzip payload does not decompress/);
  });
});

describe('snappy (xerial framing)', () => {
  it('writes the snappy-java header and blocks of at most 32 KiB input', () => {
    const input = text(100 * 1024 + 5);
    const compressed = compress('snappy', input);
    expect([...compressed.subarray(0, 16)]).toEqual([...XERIAL_HEADER]);
    const sizes: number[] = [];
    let pos = 16;
    const view = new DataView(compressed.buffer, compressed.byteOffset, compressed.byteLength);
    while (pos < compressed.length) {
      const length = view.getInt32(pos);
      const block = snappyRawUncompress(compressed.subarray(pos + 4, pos + 4 + length), { asBuffer: true }) as Buffer;
      sizes.push(block.length);
      pos += 4 + length;
    }
    expect(pos).toBe(compressed.length);
    expect(sizes).toEqual([32768, 32768, 32768, 4101]);
  });

  it('writes only the header for empty input (as SnappyOutputStream does)', () => {
    expect([...compress('snappy', new Uint8Array(0))]).toEqual([...XERIAL_HEADER]);
  });

  it('decodes a hand-built xerial stream', () => {
    const a = text(5000);
    const b = noise(300);
    const blockA = snappyRaw(a);
    const blockB = snappyRaw(b);
    const stream = concatBytes(XERIAL_HEADER, int32BE(blockA.length), blockA, int32BE(blockB.length), blockB);
    expect(Buffer.from(decompress('snappy', stream)).equals(Buffer.from(concatBytes(a, b)))).toBe(true);
  });

  it('decodes concatenated xerial streams (a second header where a block length belongs)', () => {
    const a = text(700);
    const b = text(900).reverse();
    const stream = concatBytes(compress('snappy', a), compress('snappy', b));
    expect(Buffer.from(decompress('snappy', stream)).equals(Buffer.from(concatBytes(a, b)))).toBe(true);
  });

  it('decodes plain raw snappy (no xerial header)', () => {
    const input = text(4000);
    expect(Buffer.from(decompress('snappy', snappyRaw(input))).equals(Buffer.from(input))).toBe(true);
    expect(decompress('snappy', snappyRaw(new Uint8Array(0))).length).toBe(0);
  });

  it('rejects truncated or corrupt streams', () => {
    const good = compress('snappy', text(1000));
    expect(() => decompress('snappy', good.subarray(0, good.length - 1))).toThrow(/overruns the payload/);
    expect(() => decompress('snappy', concatBytes(good, new Uint8Array([0, 0])))).toThrow(/stray bytes/);
    expect(() => decompress('snappy', concatBytes(XERIAL_HEADER, int32BE(-5)))).toThrow(CorruptRecordError);
    const badVersion = XERIAL_HEADER.slice();
    badVersion[11] = 0;
    expect(() => decompress('snappy', badVersion)).toThrow(/incompatible version 0/);
    expect(() => decompress('snappy', new Uint8Array([0x05, 0xff, 0xff]))).toThrow(CorruptRecordError);
  });
});

describe('lz4 (LZ4 frame, as Kafka Lz4BlockOutputStream)', () => {
  it('computes xxHash32 reference vectors', () => {
    expect(xxhash32(new Uint8Array(0))).toBe(0x02cc5d05);
    expect(xxhash32(new TextEncoder().encode('abc'))).toBe(0x32d153ff);
    expect(xxhash32(new TextEncoder().encode('Nobody inspects the spammish repetition'))).toBe(0xe2293b2f);
    expect(xxhash32(new TextEncoder().encode('xabcx'), 1, 4)).toBe(0x32d153ff);
  });

  it('writes FLG 0x60 (v1, independent blocks, no checksums), BD 0x40 (64 KiB) and the descriptor checksum', () => {
    const compressed = compress('lz4', text(10));
    expect([...compressed.subarray(0, 7)]).toEqual([0x04, 0x22, 0x4d, 0x18, 0x60, 0x40, 0x82]);
    expect(compressed[6]).toBe((xxhash32(compressed, 4, 6) >>> 8) & 0xff);
    expect([...compressed.subarray(-4)]).toEqual([0, 0, 0, 0]); // end mark, no content checksum
  });

  it('writes empty input as header + end mark', () => {
    expect([...compress('lz4', new Uint8Array(0))]).toEqual([0x04, 0x22, 0x4d, 0x18, 0x60, 0x40, 0x82, 0, 0, 0, 0]);
  });

  it('splits input into 64 KiB blocks and stores incompressible blocks raw', () => {
    const input = concatBytes(text(100 * 1024), noise(70 * 1024));
    const compressed = compress('lz4', input);
    const view = new DataView(compressed.buffer, compressed.byteOffset, compressed.byteLength);
    const blocks: Array<{ raw: boolean; size: number }> = [];
    let pos = 7;
    for (;;) {
      const word = view.getUint32(pos, true);
      pos += 4;
      if (word === 0) break;
      const raw = (word & 0x80000000) !== 0;
      const length = word & 0x7fffffff;
      const body = compressed.subarray(pos, pos + length);
      // lz4-napi's block decoder wants a 4-byte size prefix; an upper bound works.
      const size = raw ? length : lz4BlockUncompress(Buffer.from(concatBytes(uint32LE(65536), body))).length;
      blocks.push({ raw, size });
      pos += length;
    }
    expect(pos).toBe(compressed.length);
    expect(blocks.map((b) => b.size)).toEqual([65536, 65536, 43008]);
    expect(blocks[0]!.raw).toBe(false);
    expect(blocks[2]!.raw).toBe(true); // pure noise does not compress
  });

  it('decodes frames with block and content checksums, bigger blocks and several frames', () => {
    const input = text(300 * 1024);
    for (const options of [undefined, { contentChecksum: true }, { blockChecksums: true }, { contentChecksum: true, blockChecksums: true }]) {
      const frame = compressFrameSync(Buffer.from(input), options);
      expect(Buffer.from(decompress('lz4', frame)).equals(Buffer.from(input))).toBe(true);
    }
    const two = concatBytes(compress('lz4', text(10)), compressFrameSync(Buffer.from('tail')));
    expect(new TextDecoder().decode(decompress('lz4', two))).toBe(new TextDecoder().decode(text(10)) + 'tail');
    const skippable = concatBytes(uint32LE(0x184d2a53), uint32LE(3), new Uint8Array([9, 9, 9]), compress('lz4', text(10)));
    expect(Buffer.from(decompress('lz4', skippable)).equals(Buffer.from(text(10)))).toBe(true);
  });

  /** Rebuilds a Kafka-style frame with other FLG bits and an optional content size field. */
  function reframe(frame: Uint8Array, flg: number, contentSize?: number): Uint8Array {
    const descriptor = contentSize === undefined ? new Uint8Array([flg, 0x40]) : concatBytes(new Uint8Array([flg | 0x08, 0x40]), uint32LE(contentSize), uint32LE(0));
    const hc = (xxhash32(descriptor) >>> 8) & 0xff;
    return concatBytes(frame.subarray(0, 4), descriptor, new Uint8Array([hc]), frame.subarray(7));
  }

  it('decodes frames with a content size, and frames with linked blocks', () => {
    const input = text(150 * 1024);
    const frame = compress('lz4', input);
    expect(Buffer.from(decompress('lz4', reframe(frame, 0x60, input.length))).equals(Buffer.from(input))).toBe(true);
    expect(() => decompress('lz4', reframe(frame, 0x60, input.length + 1))).toThrow(/declares 153601 bytes but holds 153600/);
    // Bit 5 clear: blocks may reference earlier ones (Kafka rejects these; samsa decodes them).
    expect(Buffer.from(decompress('lz4', reframe(frame, 0x40))).equals(Buffer.from(input))).toBe(true);
  });

  it('verifies block and content checksums when the frame has them', () => {
    const input = text(100 * 1024);
    const checked = new Uint8Array(compressFrameSync(Buffer.from(input), { blockChecksums: true, contentChecksum: true }));
    const badContent = checked.slice();
    badContent[badContent.length - 1] = badContent[badContent.length - 1]! ^ 1;
    expect(() => decompress('lz4', badContent)).toThrow(/content checksum mismatch/);
    const badBlockSum = checked.slice();
    const firstBlockSize = new DataView(badBlockSum.buffer).getUint32(7, true) & 0x7fffffff;
    badBlockSum[7 + 4 + firstBlockSize] = badBlockSum[7 + 4 + firstBlockSize]! ^ 1;
    expect(() => decompress('lz4', badBlockSum)).toThrow(/block checksum mismatch/);
  });

  it('rejects a block larger than the frame maximum', () => {
    const frame = concatBytes(new Uint8Array([0x04, 0x22, 0x4d, 0x18, 0x60, 0x40, 0x82]), uint32LE(0x80000000 | 70000), new Uint8Array(70000), uint32LE(0));
    expect(() => decompress('lz4', frame)).toThrow(/exceeds the frame maximum 65536/);
  });

  it('rejects corrupt frames', () => {
    const good = compress('lz4', text(1000));
    const badHeader = good.slice();
    badHeader[6] = badHeader[6]! ^ 0xff;
    expect(() => decompress('lz4', badHeader)).toThrow(CorruptRecordError);
    expect(() => decompress('lz4', good.subarray(0, good.length - 4))).toThrow(/missing end mark/);
    expect(() => decompress('lz4', concatBytes(good, new Uint8Array([1, 2, 3])))).toThrow(/truncated frame header/);
    expect(() => decompress('lz4', new Uint8Array([0, 1, 2, 3, 4, 5, 6, 7, 8]))).toThrow(/bad frame magic/);
    const badBlock = good.slice();
    badBlock[12] = badBlock[12]! ^ 0xff;
    expect(() => decompress('lz4', badBlock)).toThrow(CorruptRecordError);
  });
});

describe('zstd', () => {
  it('writes a standard zstd frame', () => {
    expect([...compress('zstd', text(100)).subarray(0, 4)]).toEqual([0x28, 0xb5, 0x2f, 0xfd]);
  });

  it('decodes a hand-built frame without content size (raw + RLE blocks)', () => {
    const hello = new TextEncoder().encode('hello');
    const rawHeader = [(hello.length << 3) | (0 << 1) | 0, 0, 0];
    const rleSize = 1000;
    const rleHeader = [((rleSize << 3) | (1 << 1) | 1) & 0xff, ((rleSize << 3) >> 8) & 0xff, 0];
    // FHD 0x00: no content size, no single segment, no checksum; window descriptor 0x38 = 128 KiB.
    const frame = concatBytes(uint32LE(0xfd2fb528), new Uint8Array([0x00, 0x38]), new Uint8Array(rawHeader), hello, new Uint8Array(rleHeader), new Uint8Array([0x78]));
    const out = decompress('zstd', frame);
    expect(new TextDecoder().decode(out)).toBe('hello' + 'x'.repeat(rleSize));
  });

  it('decodes compressed frames that do not declare their size (as Java ZstdOutputStream writes)', () => {
    const input = text(2 * MiB + 3);
    const sized = compress('zstd', input);
    // Rewrite the header: drop single-segment + content size, declare a 128 MiB window instead.
    const fhd = sized[4]!;
    const singleSegment = (fhd & 0x20) !== 0;
    const fcsBytes = [singleSegment ? 1 : 0, 2, 4, 8][fhd >>> 6]!;
    const headerEnd = 5 + (singleSegment ? 0 : 1) + [0, 1, 2, 4][fhd & 3]! + fcsBytes;
    const unsized = concatBytes(uint32LE(0xfd2fb528), new Uint8Array([fhd & 0x07, 0x88]), sized.subarray(headerEnd));
    expect(Buffer.from(decompress('zstd', unsized)).equals(Buffer.from(input))).toBe(true);
  });

  it('decodes several frames and skips skippable frames', () => {
    const payload = concatBytes(compress('zstd', text(50)), uint32LE(0x184d2a50), uint32LE(2), new Uint8Array([1, 2]), compress('zstd', noise(70)));
    expect(Buffer.from(decompress('zstd', payload)).equals(Buffer.from(concatBytes(text(50), noise(70))))).toBe(true);
  });

  it('rejects corrupt frames', () => {
    const good = compress('zstd', text(5000));
    expect(() => decompress('zstd', good.subarray(0, good.length - 2))).toThrow(CorruptRecordError);
    expect(() => decompress('zstd', new Uint8Array([1, 2, 3, 4, 5, 6, 7, 8]))).toThrow(/bad frame magic/);
    const flipped = good.slice();
    flipped[good.length - 3] = flipped[good.length - 3]! ^ 0x5a;
    expect(() => decompress('zstd', flipped)).toThrow(CorruptRecordError);
    // A frame whose declared size exceeds what its blocks can hold.
    const lying = concatBytes(uint32LE(0xfd2fb528), new Uint8Array([0x20, 200]), new Uint8Array([(5 << 3) | 1, 0, 0]), new Uint8Array(5));
    expect(() => decompress('zstd', lying)).toThrow(/declares 200 bytes/);
  });
});

describe('argument checks', () => {
  it('rejects non-Uint8Array input', () => {
    expect(() => compress('gzip', 'text' as unknown as Uint8Array)).toThrow(InvalidArgumentError);
    expect(() => decompress('gzip', [1, 2] as unknown as Uint8Array)).toThrow(InvalidArgumentError);
  });
});
