/** `npm run bench`: every benchmark, printed as tables and written to bench/results/*.json. */
import { report } from './harness.ts';
import { runClusterBenchmarks } from './cluster.bench.ts';
import { runLogBenchmarks } from './log.bench.ts';
import { runReplicationBenchmarks } from './replication.bench.ts';
import { runTransactionBenchmarks } from './transactions.bench.ts';
import { runStreamsBenchmarks } from './streams.bench.ts';
import { runEventSourcingBenchmarks } from './eventsourcing.bench.ts';
import { runProjectionBenchmarks } from './projections.bench.ts';
import { reportWindowBenchmarks, runWindowBenchmarks } from './windows.bench.ts';
import { reportNatsBenchmarks, runNatsBenchmarks } from './nats.bench.ts';

const logRecords = Number(process.env.BENCH_LOG_RECORDS ?? 1_000_000);
report(`log: ${logRecords.toLocaleString('en-US')} records, 100 B values + 16 B keys, ~16 KiB batches (median of ${process.env.BENCH_ROUNDS ?? 3} rounds)`, runLogBenchmarks(), 'log.json');

const clusterRecords = Number(process.env.BENCH_CLUSTER_RECORDS ?? 1_000_000);
const cluster = await runClusterBenchmarks();
report(`embedded cluster: ${clusterRecords.toLocaleString('en-US')} records, 100 B values + 16 B keys, Kafka default batching`, cluster.rows, 'cluster.json');
console.log(`end-to-end latency at ${cluster.latency.rate.toLocaleString('en-US')} records/s: p50 ${cluster.latency.p50.toFixed(2)} ms, p99 ${cluster.latency.p99.toFixed(2)} ms`);

const replicationRecords = Number(process.env.BENCH_REPLICATION_RECORDS ?? 500_000);
const replication = await runReplicationBenchmarks();
report(`replication: ${replicationRecords.toLocaleString('en-US')} records per case, 3 brokers, 6 partitions, median of ${process.env.BENCH_ROUNDS ?? 5} interleaved rounds after a warm-up round`, replication.rows, 'replication.json');
console.log('\nfailover (time from the crash to the first success)');
for (const f of replication.failovers) console.log(`  ${f.clock.padEnd(10)} ${f.ms.toFixed(0).padStart(7)} ms  ${f.name}`);

const transactions = await runTransactionBenchmarks();
report(`exactly once: ${Number(process.env.BENCH_TXN_PRODUCE_RECORDS ?? 300_000).toLocaleString('en-US')} records per produce case, ${Number(process.env.BENCH_TXN_PIPELINE_RECORDS ?? 300_000).toLocaleString('en-US')} per pipeline case, 3 brokers, RF=3, acks=all, median of ${process.env.BENCH_ROUNDS ?? 5} interleaved rounds`, transactions, 'transactions.json');

const streams = await runStreamsBenchmarks();
report(`streams: ${Number(process.env.BENCH_STREAMS_RECORDS ?? 200_000).toLocaleString('en-US')} records, 3 brokers, RF=3, 6 partitions, 100 ms commits, median of ${process.env.BENCH_ROUNDS ?? 3} interleaved rounds`, streams.rows, 'streams.json');
console.log(`in-memory key-value store: ${streams.bytesPerKey.toFixed(0)} bytes per key (16 B keys, 8 B values; JS heap + buffers${streams.gc ? ', after gc' : ', without a forced gc: run node with --expose-gc for a tighter figure'})`);

reportWindowBenchmarks(await runWindowBenchmarks());


const es = await runEventSourcingBenchmarks();
report(`event sourcing: 3 brokers, RF=3, min ISR 2, acks=all, 6 partitions, median of ${process.env.BENCH_ROUNDS ?? 3} interleaved rounds (range of all rounds beside each)`, es.rows, 'eventsourcing.json');
for (const note of es.notes) console.log(note);

const projections = await runProjectionBenchmarks();
report(`projections: ${Number(process.env.BENCH_PROJ_EVENTS ?? 20_000).toLocaleString('en-US')} events over 200 customers, 1 broker, 6 partitions, median of ${process.env.BENCH_ROUNDS ?? 3} interleaved rounds (range of all rounds below)`, projections.rows, 'projections.json');
for (const note of projections.notes) console.log(note);

// Separate processes over the NATS server at SAMSA_NATS_URL beside JetStream on it (skipped when it cannot be reached).
reportNatsBenchmarks(await runNatsBenchmarks());
