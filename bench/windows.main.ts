/** `npm run bench:windows`: the windowed aggregation and join benchmarks alone (they are also part of `npm run bench`). */
import { reportWindowBenchmarks, runWindowBenchmarks } from './windows.bench.ts';

reportWindowBenchmarks(await runWindowBenchmarks());
