/**
 * Time in the Processor API, as Kafka Streams: `context.schedule` by stream time (fires as records
 * move stream time, aligned to the interval, missed intervals skipped and not replayed) and by
 * wall-clock time (the driver's clock), stream time that never decreases, timestamp extractors
 * (a negative timestamp fails, as FailOnInvalidTimestamp), and bad arguments rejected.
 */
import { describe, expect, it } from 'vitest';
import { InvalidArgumentError, TopologyError } from '../../src/errors.ts';
import { StreamsBuilder } from '../../src/streams/builder.ts';
import { groupByKey, process, toTopic } from '../../src/streams/operators.ts';
import { json, string } from '../../src/streams/serdes.ts';
import { TopologyTestDriver } from '../../src/streams/testDriver.ts';
import type { ProcessorContext, PunctuationType } from '../../src/streams/topology.ts';
import { windowedBy } from '../../src/streams/windowedAggregation.ts';
import { tumbling } from '../../src/streams/windows.ts';
import { count } from '../../src/streams/operators.ts';

/** A topology whose processor records each punctuation (and each record's stream time) to `out`. */
function punctuating(type: PunctuationType, intervalMs: number): { driver: TopologyTestDriver; fired: () => number[]; seen: () => number[] } {
  const builder = new StreamsBuilder();
  builder
    .stream('in', { key: string(), value: string() })
    .pipe(
      process<string, string, string, string>(() => {
        let ctx: ProcessorContext<string, string>;
        return {
          init(context) {
            ctx = context;
            ctx.schedule(intervalMs, type, (timestamp) => ctx.forward({ key: 'tick', value: String(timestamp), timestamp: ctx.currentStreamTimeMs(), headers: [] }));
          },
          process(record) {
            ctx.forward({ ...record, key: 'record', value: String(ctx.currentStreamTimeMs()) });
          },
        };
      }),
      toTopic('out', { key: string(), value: string() }),
    );
  const driver = new TopologyTestDriver(builder.build(), { initialWallClockTimeMs: 1_000 });
  const out = driver.createOutputTopic('out', string(), string());
  let buffered: Array<{ key: string | null; value: string | null }> = [];
  const drain = (): void => {
    buffered = [...buffered, ...out.readKeyValuesToList()];
  };
  const take = (key: string): number[] => {
    drain();
    const mine = buffered.filter((r) => r.key === key).map((r) => Number(r.value));
    buffered = buffered.filter((r) => r.key !== key);
    return mine;
  };
  return { driver, fired: () => take('tick'), seen: () => take('record') };
}

describe('punctuation', () => {
  it('STREAM_TIME fires on the first record and then once per interval reached, skipping missed intervals', () => {
    const { driver, fired, seen } = punctuating('STREAM_TIME', 10);
    const input = driver.createInputTopic('in', string(), string());
    input.pipeInput('a', 'x', 3);
    expect(fired()).toEqual([3]);
    input.pipeInput('a', 'x', 9);
    expect(fired()).toEqual([]);
    input.pipeInput('a', 'x', 10);
    expect(fired()).toEqual([10]);
    // A jump over several intervals fires once (missed ones are not replayed), aligned to 10s.
    input.pipeInput('a', 'x', 47);
    expect(fired()).toEqual([47]);
    input.pipeInput('a', 'x', 49);
    expect(fired()).toEqual([]);
    input.pipeInput('a', 'x', 50);
    expect(fired()).toEqual([50]);
    // An out-of-order record does not move stream time back, nor fire.
    input.pipeInput('a', 'x', 12);
    expect(fired()).toEqual([]);
    expect(seen()).toEqual([3, 9, 10, 47, 49, 50, 50]);
  });

  it('WALL_CLOCK_TIME fires from the clock, one interval after scheduling, independent of records', () => {
    const { driver, fired } = punctuating('WALL_CLOCK_TIME', 100);
    driver.createInputTopic('in', string(), string()).pipeInput('a', 'x', 5);
    driver.advanceWallClockTime(99);
    expect(fired()).toEqual([]);
    driver.advanceWallClockTime(1);
    expect(fired()).toEqual([1_100]);
    driver.advanceWallClockTime(350);
    expect(fired()).toEqual([1_450]);
    driver.advanceWallClockTime(50);
    expect(fired()).toEqual([1_500]);
  });

  it('rejects bad schedules', () => {
    const builder = new StreamsBuilder();
    builder.stream('in', { key: string(), value: string() }).pipe(
      process(() => ({
        init(ctx) {
          ctx.schedule(0, 'STREAM_TIME', () => undefined);
        },
        process() {},
      })),
    );
    // Processors start with their task (at the driver's construction), as Kafka's.
    expect(() => new TopologyTestDriver(builder.build())).toThrow(InvalidArgumentError);
  });
});

describe('timestamps', () => {
  it('a record with a negative timestamp fails the task, naming the fix', () => {
    const builder = new StreamsBuilder();
    builder.stream('in', { key: string(), value: string() }).pipe(toTopic('out'));
    const topology = builder.build();
    expect(() => new TopologyTestDriver(topology).createInputTopic('in', string(), string()).pipeInput('a', 'b', -1)).toThrow(TopologyError);
    expect(() => new TopologyTestDriver(topology).createInputTopic('in', string(), string()).pipeInput('a', 'b', -1)).toThrow(/timestampExtractor/);
  });

  it('a custom extractor sets the time windows and stream time see (event time from the payload)', () => {
    const builder = new StreamsBuilder();
    builder
      .stream('in', { key: string(), value: json<{ at: number }>() })
      .pipe(groupByKey(), windowedBy(tumbling({ sizeMs: 100, graceMs: 0 })), count({ store: 'c' }));
    const driver = new TopologyTestDriver(builder.build(), { timestampExtractor: (record) => (record.value as { at: number }).at });
    const input = driver.createInputTopic('in', string(), json<{ at: number }>());
    input.pipeInput('a', { at: 150 }, 0);
    input.pipeInput('a', { at: 20 }, 999);
    // 20 is late: stream time is 150 from the payload, not 999 from the record.
    expect(driver.droppedRecords).toBe(1);
    expect(driver.getWindowStore<string, number>('c').fetch('a', 100)).toBe(1);
  });
});
