/** `npm run bench`: every benchmark, printed as tables and written to bench/results/*.json. */
import { report } from './harness.ts';
import { runLogBenchmarks } from './log.bench.ts';

const records = Number(process.env.BENCH_LOG_RECORDS ?? 1_000_000);
report(`log: ${records.toLocaleString('en-US')} records, 100 B values + 16 B keys, ~16 KiB batches (median of ${process.env.BENCH_ROUNDS ?? 3} rounds)`, runLogBenchmarks(), 'log.json');
