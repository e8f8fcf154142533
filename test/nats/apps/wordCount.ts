/**
 * A streams app in a process of its own: counts the records of each key of `--input` into
 * `--output` (key → count as int32), exactly once (exactly_once_v2), with the record cache off so
 * every update goes out: a key's outputs are 1, 2, 3, … Prints JSON lines: `ready` once started,
 * `state` on every state change, `committed` (input offsets) after commits, `error` on failure.
 *
 *   node --import tsx test/nats/apps/wordCount.ts --nats <url> --prefix <p> --app <id> --input <t> --output <t> --commit-interval-ms <ms>
 */
import { count, createStreamsApp, groupByKey, int32, StreamsBuilder, string, toTopic } from '../../../src/index.ts';
import { args, connectCluster, emit, logger, run, stopOnSignals } from './child.ts';

run(async () => {
  const a = args(['app', 'input', 'output', 'commit-interval-ms']);
  const clients = await connectCluster(a);
  const builder = new StreamsBuilder();
  builder
    .stream(a.input as string, { key: string(), value: string() })
    .pipe(groupByKey(), count({ store: 'counts' }))
    .toStream()
    .pipe(toTopic(a.output as string, { key: string(), value: int32() }));
  const app = createStreamsApp(builder.build(), clients, {
    applicationId: a.app as string,
    // The same client id after a restart: the same transactional id, so the new instance fences
    // the crashed one and aborts its open transaction at once.
    clientId: `${a.app as string}-instance`,
    processingGuarantee: 'exactly_once_v2',
    commitIntervalMs: Number(a['commit-interval-ms']),
    replicationFactor: 3,
    statestoreCacheMaxBytes: 0,
    // A crashed instance leaves the group within 6 s rather than Kafka's 45.
    consumer: { sessionTimeoutMs: 6_000, heartbeatIntervalMs: 1_000 },
    logger,
  });
  stopOnSignals(async () => {
    await app.close();
    await clients.stop();
  });
  app.state$.subscribe((state) => {
    emit({ type: 'state', state, ...(state === 'ERROR' ? { error: app.error instanceof Error ? app.error.message : String(app.error) } : {}) });
  });
  let lastCommits = -1;
  app.metrics$.subscribe((m) => {
    if (m.commits === lastCommits) return;
    lastCommits = m.commits;
    emit({ type: 'committed', commits: m.commits, aborts: m.aborts, processed: m.processed, offsets: m.committedOffsets });
  });
  await app.start();
  emit({ type: 'ready' });
});
