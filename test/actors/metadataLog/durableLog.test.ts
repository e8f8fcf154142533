/**
 * The controllers' metadata log on disk: what the Raft node writes survives a reopen (a new
 * process), a torn tail is cut at open and reported, truncation and snapshots reach the files.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as nodePath from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { METADATA_LOG_DIR, openFileRaftDurableState } from '../../../src/actors/metadataLog/durableLog.ts';
import { RaftNode } from '../../../src/actors/metadataLog/raft/raftNode.ts';
import type { RaftEntry } from '../../../src/actors/metadataLog/raft/log.ts';
import type { Logger } from '../../../src/logger.ts';
import { createRandom } from '../../../src/random.ts';

let dir: string;
beforeEach(() => {
  dir = fs.mkdtempSync(nodePath.join(os.tmpdir(), 'samsa-durable-'));
});
afterEach(() => {
  fs.rmSync(dir, { recursive: true, force: true });
});

function recordingLogger(): { logger: Logger; lines: Array<{ level: string; message: string; fields: Record<string, unknown> | undefined }> } {
  const lines: Array<{ level: string; message: string; fields: Record<string, unknown> | undefined }> = [];
  const at =
    (level: string) =>
    (message: string, fields?: Record<string, unknown>): void => {
      lines.push({ level, message, fields });
    };
  const logger: Logger = { debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error'), child: () => logger };
  return { logger, lines };
}

const logFile = (): string => nodePath.join(dir, METADATA_LOG_DIR, '00000000000000000000.log');
const payloads = (entries: readonly RaftEntry<string>[]): string[] => entries.flatMap((e) => (e.kind === 'data' ? [e.payload] : []));

/** A single-voter node on a file-backed state: it elects itself and commits what it appends. */
function leader(): { node: RaftNode<string>; close(): void } {
  const durable = openFileRaftDurableState<string>(dir);
  const node = new RaftNode<string>({ id: 0, voters: [0], random: createRandom(7), durable });
  node.start(0);
  return { node, close: () => durable.close() };
}

describe('file-backed Raft durable state', () => {
  it('a new process on the directory finds the epoch, the vote and every entry', () => {
    const first = leader();
    first.node.append(['a', 'b'], 1);
    first.node.append(['c'], 2);
    const epoch = first.node.epoch;
    first.close();

    const { logger, lines } = recordingLogger();
    const durable = openFileRaftDurableState<string>(dir, { logger });
    expect(durable.epoch).toBe(epoch);
    expect(durable.votedFor).toBe(0);
    expect(payloads(durable.entries)).toEqual(['a', 'b', 'c']);
    expect(lines.find((l) => l.level === 'info')?.fields).toMatchObject({ records: 4 });
    // The node restarts from it and leads again in a later epoch, keeping the log.
    const node = new RaftNode<string>({ id: 0, voters: [0], random: createRandom(8), durable });
    node.start(10);
    expect(node.epoch).toBeGreaterThan(epoch);
    expect(payloads(node.entries())).toEqual(['a', 'b', 'c']);
    durable.close();
  });

  it('truncates a torn tail at open and reports it at warn', () => {
    const first = leader();
    first.node.append(['a', 'b', 'c'], 1);
    first.close();
    const intact = fs.statSync(logFile()).size;
    // A crash in the middle of an append: half a frame at the end.
    const whole = fs.readFileSync(logFile());
    fs.appendFileSync(logFile(), whole.subarray(0, 11));
    const { logger, lines } = recordingLogger();
    const durable = openFileRaftDurableState<string>(dir, { logger });
    expect(payloads(durable.entries)).toEqual(['a', 'b', 'c']);
    expect(fs.statSync(logFile()).size).toBe(intact);
    const warn = lines.find((l) => l.level === 'warn');
    expect(warn?.message).toMatch(/torn or corrupt tail/);
    expect(warn?.fields).toMatchObject({ truncatedBytes: 11, position: intact });
    durable.close();
  });

  it('cuts the log at a corrupt frame: nothing after it is trusted', () => {
    const first = leader();
    first.node.append(['a'], 1);
    const cut = fs.statSync(logFile()).size;
    first.node.append(['b'], 2);
    first.node.append(['c'], 3);
    first.close();
    const bytes = fs.readFileSync(logFile());
    bytes[cut + 12] = (bytes[cut + 12] as number) ^ 0xff; // inside the body of 'b'
    fs.writeFileSync(logFile(), bytes);
    const durable = openFileRaftDurableState<string>(dir);
    expect(payloads(durable.entries)).toEqual(['a']);
    expect(fs.statSync(logFile()).size).toBe(cut);
    durable.close();
  });

  it('writes a follower truncation and a snapshot through to the files', () => {
    const durable = openFileRaftDurableState<string>(dir);
    const entry = (offset: bigint, epoch: number, payload: string): RaftEntry<string> => Object.freeze({ kind: 'data', offset, epoch, payload });
    durable.epoch = 2;
    durable.entries.push(entry(0n, 1, 'a'), entry(1n, 1, 'b'), entry(2n, 1, 'c'));
    durable.persist();
    // A new leader's log diverges after offset 0: cut and replaced.
    durable.entries.length = 1;
    durable.entries.push(entry(1n, 2, 'x'));
    durable.persist();
    durable.close();
    let reopened = openFileRaftDurableState<string>(dir);
    expect(payloads(reopened.entries)).toEqual(['a', 'x']);
    // A snapshot covering offset 0: the log then starts at 1.
    reopened.snapshot = Object.freeze({ endOffset: 1n, epoch: 1, state: { topics: new Map([['orders', 6]]) } });
    reopened.entries.splice(0, 1);
    reopened.persist();
    reopened.close();
    reopened = openFileRaftDurableState<string>(dir);
    expect(reopened.snapshot).toEqual({ endOffset: 1n, epoch: 1, state: { topics: new Map([['orders', 6]]) } });
    expect(reopened.entries.map((e) => e.offset)).toEqual([1n]);
    expect(fs.readdirSync(nodePath.join(dir, METADATA_LOG_DIR)).filter((f) => f.endsWith('.checkpoint'))).toEqual(['00000000000000000001-0000000001.checkpoint']);
    reopened.close();
  });
});
