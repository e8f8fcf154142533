import { describe, expect, it } from 'vitest';
import * as samsa from '../src/index.ts';

// The root export list is curated: growing it is a deliberate act that updates this list.
describe('public API', () => {
  it('exports exactly the curated names', () => {
    expect(Object.keys(samsa).sort()).toEqual(
      [
        'Cluster',
        'TimeoutError',
        'createCluster',
        'startBroker',
        'startController',
        'connect',
        'messageCodec',
        'ClosedError',
        'CorruptRecordError',
        'InvalidArgumentError',
        'InvalidConfigError',
        'InvalidRecordError',
        'KAFKA_ERRORS',
        'KafkaProtocolError',
        'NotALogDirectoryError',
        'LogDirectoryLockedError',
        'InconsistentDataDirectoryError',
        'OffsetOutOfRangeError',
        'RecordTooLargeError',
        'SamsaError',
        'SimulatedClock',
        'StorageError',
        'SystemClock',
        'TransactionStateError',
        'ProducerFencedError',
        'TransactionAbortableError',
        'RebalanceInProgressError',
        'TopologyError',
        'SerdeError',
        'StreamsBuilder',
        'createStreamsApp',
        'keyPreserving',
        'filter',
        'filterNot',
        'map',
        'mapValues',
        'selectKey',
        'flatMap',
        'flatMapValues',
        'peek',
        'foreach',
        'process',
        'processValues',
        'toTopic',
        'groupByKey',
        'groupBy',
        'count',
        'reduce',
        'aggregate',
        'repartition',
        'toTable',
        'string',
        'json',
        'bytes',
        'int32',
        'bigint64',
        'serde',
        'consoleLogger',
        'fromPino',
        'silentLogger',
        'errorFromJSON',
        'errors',
      ].sort(),
    );
  });

  it('exports the test kit from samsa/testing', async () => {
    const testing = await import('../src/testing.ts');
    expect(Object.keys(testing).sort()).toEqual(['SimulatedNetwork', 'TestCluster', 'createRandom', 'createTestCluster', 'messageCodec', 'TopologyTestDriver', 'TestInputTopic', 'TestOutputTopic'].sort());
  });
});
