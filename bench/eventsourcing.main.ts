/** `npm run bench:es`: the event-sourcing benchmarks alone (they are also part of `npm run bench`). */
import { report } from './harness.ts';
import { runEventSourcingBenchmarks } from './eventsourcing.bench.ts';

const es = await runEventSourcingBenchmarks();
report(`event sourcing: 3 brokers, RF=3, min ISR 2, acks=all, 6 partitions, median of ${process.env.BENCH_ROUNDS ?? 3} interleaved rounds (range of all rounds beside each)`, es.rows, 'eventsourcing.json');
for (const note of es.notes) console.log(note);
