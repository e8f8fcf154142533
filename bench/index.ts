/** `npm run bench`: every benchmark, printed as tables and written to bench/results/*.json. */
import { report } from './harness.ts';
import { runClusterBenchmarks } from './cluster.bench.ts';
import { runLogBenchmarks } from './log.bench.ts';

const logRecords = Number(process.env.BENCH_LOG_RECORDS ?? 1_000_000);
report(`log: ${logRecords.toLocaleString('en-US')} records, 100 B values + 16 B keys, ~16 KiB batches (median of ${process.env.BENCH_ROUNDS ?? 3} rounds)`, runLogBenchmarks(), 'log.json');

const clusterRecords = Number(process.env.BENCH_CLUSTER_RECORDS ?? 1_000_000);
const cluster = await runClusterBenchmarks();
report(`embedded cluster: ${clusterRecords.toLocaleString('en-US')} records, 100 B values + 16 B keys, Kafka default batching`, cluster.rows, 'cluster.json');
console.log(`end-to-end latency at ${cluster.latency.rate.toLocaleString('en-US')} records/s: p50 ${cluster.latency.p50.toFixed(2)} ms, p99 ${cluster.latency.p99.toFixed(2)} ms`);
