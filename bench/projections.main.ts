/** `npm run bench:projections`: the projection benchmarks alone (they are also part of `npm run bench`). */
import { report } from './harness.ts';
import { runProjectionBenchmarks } from './projections.bench.ts';

const projections = await runProjectionBenchmarks();
report(`projections: ${Number(process.env.BENCH_PROJ_EVENTS ?? 20_000).toLocaleString('en-US')} events over 200 customers, 1 broker, 6 partitions, median of ${process.env.BENCH_ROUNDS ?? 3} interleaved rounds (range of all rounds below)`, projections.rows, 'projections.json');
for (const note of projections.notes) console.log(note);
