import { report } from './harness.ts';
import { runReplicationBenchmarks } from './replication.bench.ts';
const r = await runReplicationBenchmarks();
report('replication', r.rows, 'replication.json');
for (const f of r.failovers) console.log(`${f.clock.padEnd(10)} ${f.ms.toFixed(0).padStart(7)} ms  ${f.name}`);
