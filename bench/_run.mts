import { runClusterBenchmarks } from './cluster.bench.ts';
import { report } from './harness.ts';
const r = await runClusterBenchmarks();
report('cluster', r.rows, '/tmp/cluster.json');
console.log(r.latency);
