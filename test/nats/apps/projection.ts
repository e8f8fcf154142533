/**
 * A projection in a process of its own: `ledger_<category>` (./ledger.ts) into the SQLite file
 * `--db` (`--target sqlite`: the input offsets are stored in the transaction that writes the
 * documents) or into a samsa store (`--target store`: a streams app committing the store's
 * changelog and the input offsets in one Kafka transaction), exactly once either way.
 *
 * Prints JSON lines: `ready` once consuming, `status` on every change, `applied` (next offsets)
 * after every batch, `projectionError` for an event it failed on, `error` on failure. A line
 * `{"waitFor": [{ topic, partition, offset }]}` on stdin is answered, once those events are
 * applied, with `{"type":"documents","documents":{key: document}}` (the store target's model lives
 * in this process; a SQLite file can also be read by the test itself).
 *
 *   node --import tsx test/nats/apps/projection.ts --nats <url> --prefix <p> --category <type> --target sqlite|store [--db <file>]
 */
import { createInterface } from 'node:readline';
import { runProjection, sqliteTarget, storeTarget } from '../../../src/projections/index.ts';
import { args, connectCluster, emit, run, stopOnSignals } from './child.ts';
import { ledgerOf } from './ledger.ts';

run(async () => {
  const a = args(['category', 'target', ...(process.argv.includes('--db') ? ['db'] : [])]);
  const clients = await connectCluster(a);
  const target = a.target === 'store' ? storeTarget() : sqliteTarget(a.db as string);
  const runner = await runProjection(clients, ledgerOf(a.category as string), { target, sessionTimeoutMs: 6_000, replicationFactor: 3 });
  stopOnSignals(async () => {
    await runner.stop();
    await clients.stop();
  });
  runner.status$.subscribe((status) => {
    emit({ type: 'status', status, ...(status === 'failed' ? { error: runner.error instanceof Error ? runner.error.message : String(runner.error) } : {}) });
  });
  runner.positions$.subscribe((positions) => emit({ type: 'applied', positions }));
  runner.errors$.subscribe((e) => emit({ type: 'projectionError', action: e.action, key: e.key, error: e.error instanceof Error ? e.error.message : String(e.error) }));
  createInterface({ input: process.stdin }).on('line', (line) => {
    void (async () => {
      const positions = (JSON.parse(line) as { waitFor: Array<{ topic: string; partition: number; offset: string }> }).waitFor.map((p) => ({ ...p, offset: BigInt(p.offset) }));
      await runner.view.waitFor(positions, { timeoutMs: 120_000 });
      emit({ type: 'documents', documents: Object.fromEntries((await runner.view.range()).map((e) => [e.key, e.value])) });
    })().catch((e: unknown) => emit({ type: 'queryFailed', message: e instanceof Error ? e.message : String(e) }));
  });
  emit({ type: 'ready' });
});
