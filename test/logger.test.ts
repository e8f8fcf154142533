import { describe, expect, it } from 'vitest';
import { consoleLogger, fromPino, resolveLogger, silentLogger } from '../src/logger.ts';
import type { LogEntry, PinoLike } from '../src/logger.ts';
import { createTestCluster } from '../src/testing.ts';

describe('logger', () => {
  it('writes entries at or above its level, with the fields of its children', () => {
    const seen: LogEntry[] = [];
    const logger = consoleLogger({ level: 'info', write: (e) => seen.push(e) });
    logger.debug('hidden');
    logger.info('shown', { topic: 'orders' });
    logger.child({ node: 'broker:1' }).warn('fenced', { partition: 3 });
    expect(seen).toEqual([
      { level: 'info', message: 'shown', fields: { topic: 'orders' } },
      { level: 'warn', message: 'fenced', fields: { node: 'broker:1', partition: 3 } },
    ]);
  });

  it('defaults to warn, and a broken sink never throws into the caller', () => {
    const seen: string[] = [];
    const logger = consoleLogger({ write: (e) => seen.push(e.level) });
    logger.info('no');
    logger.warn('yes');
    logger.error('yes');
    expect(seen).toEqual(['warn', 'error']);
    const broken = consoleLogger({ write: () => { throw new Error('disk full'); } });
    expect(() => broken.error('still fine')).not.toThrow();
  });

  it('refuses an unknown level with an error naming the choices', () => {
    expect(() => consoleLogger({ level: 'verbose' as never })).toThrow(/debug, info, warn, error; got verbose/);
  });

  it('adapts a pino-shaped logger (fields first, then the message)', () => {
    const calls: unknown[][] = [];
    const pino: PinoLike = {
      debug: (f, m) => calls.push(['debug', f, m]),
      info: (f, m) => calls.push(['info', f, m]),
      warn: (f, m) => calls.push(['warn', f, m]),
      error: (f, m) => calls.push(['error', f, m]),
      child: (fields) => ({ ...pino, warn: (f, m) => calls.push(['warn', { ...fields, ...f }, m]) }),
    };
    const logger = fromPino(pino);
    logger.error('lost', { offset: 5n });
    logger.child({ node: 'c0' }).warn('elected');
    expect(calls).toEqual([
      ['error', { offset: 5n }, 'lost'],
      ['warn', { node: 'c0' }, 'elected'],
    ]);
  });

  it('resolves the cluster option: a level, a logger, or the fallback', () => {
    expect(resolveLogger(undefined, silentLogger)).toBe(silentLogger);
    expect(resolveLogger(silentLogger)).toBe(silentLogger);
    const seen: LogEntry[] = [];
    const mine = consoleLogger({ write: (e) => seen.push(e) });
    expect(resolveLogger(mine)).toBe(mine);
    expect(typeof resolveLogger('debug').debug).toBe('function');
  });

  it("a cluster's elections, registrations and fencing reach its logger with structured fields", async () => {
    const seen: LogEntry[] = [];
    const cluster = await createTestCluster({ seed: 5, brokers: 2, logger: consoleLogger({ level: 'info', write: (e) => seen.push(e) }) });
    await cluster.settle(cluster.admin().createTopic('orders', { partitions: 2, replicationFactor: 2 }));
    cluster.broker(2).crash();
    await cluster.runFor(15_000);
    expect(seen).toContainEqual(expect.objectContaining({ level: 'info', message: 'controller active' }));
    expect(seen).toContainEqual(expect.objectContaining({ level: 'info', fields: expect.objectContaining({ event: 'broker.registered', brokerId: 1 }) }));
    expect(seen).toContainEqual(expect.objectContaining({ level: 'info', fields: expect.objectContaining({ event: 'topic.created', topic: 'orders' }) }));
    expect(seen).toContainEqual(expect.objectContaining({ level: 'warn', fields: expect.objectContaining({ event: 'broker.fenced', brokerId: 2 }) }));
    expect(seen).toContainEqual(expect.objectContaining({ level: 'warn', fields: expect.objectContaining({ event: 'isr.shrunk', topic: 'orders' }) }));
    await cluster.settle(cluster.stop());
  });

  it('samsa/testing clusters are silent unless given a logger', async () => {
    const written: string[] = [];
    const original = process.stderr.write.bind(process.stderr);
    process.stderr.write = ((chunk: string) => (written.push(String(chunk)), true)) as typeof process.stderr.write;
    try {
      const cluster = await createTestCluster({ seed: 6, brokers: 2 });
      cluster.broker(2).crash();
      await cluster.runFor(15_000);
      await cluster.settle(cluster.stop());
    } finally {
      process.stderr.write = original;
    }
    expect(written.filter((w) => w.startsWith('samsa '))).toEqual([]);
  });
});
