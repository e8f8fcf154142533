/**
 * `npm run bench:nats [-- --runs N]`: the NATS benchmarks alone (they are also part of `npm run bench`):
 * the whole set N times (default BENCH_NATS_RUNS, else 3), each run's table, then the median and
 * [min–max] range of every figure. Needs nats-server with JetStream at SAMSA_NATS_URL (default
 * nats://127.0.0.1:4222).
 */
import { reportNatsBenchmarks, runNatsBenchmarks } from './nats.bench.ts';

function runsArgument(argv: readonly string[]): number | undefined {
  const at = argv.findIndex((a) => a === '--runs' || a.startsWith('--runs='));
  if (at < 0) return undefined;
  const arg = argv[at] as string;
  const raw = arg.includes('=') ? arg.slice(arg.indexOf('=') + 1) : argv[at + 1];
  const runs = Number(raw);
  if (!Number.isSafeInteger(runs) || runs < 1) throw new Error(`--runs takes a whole number ≥ 1, got ${String(raw)}`);
  return runs;
}

reportNatsBenchmarks(await runNatsBenchmarks(runsArgument(process.argv.slice(2))));
