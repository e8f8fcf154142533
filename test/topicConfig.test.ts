import { describe, expect, it } from 'vitest';
import { InvalidConfigError } from '../src/errors.ts';
import { KAFKA_LONG_MAX, LOG_CONFIG_DEFAULTS, LOG_CONFIG_KEYS, describeLogConfigKeys, logConfigToKafka, parseLogConfig } from '../src/topicConfig.ts';
import type { LogConfig } from '../src/topicConfig.ts';

/** The InvalidConfigError `action` throws (fails the test when it does not throw one). */
function configError(action: () => unknown): InvalidConfigError {
  try {
    action();
  } catch (e) {
    expect(e).toBeInstanceOf(InvalidConfigError);
    return e as InvalidConfigError;
  }
  throw new Error('expected an InvalidConfigError');
}

describe('LOG_CONFIG_DEFAULTS', () => {
  it("matches Kafka's topic defaults", () => {
    expect(logConfigToKafka(LOG_CONFIG_DEFAULTS)).toEqual({
      'segment.bytes': '1073741824',
      'segment.ms': '604800000',
      'segment.jitter.ms': '0',
      'segment.index.bytes': '10485760',
      'index.interval.bytes': '4096',
      'retention.ms': '604800000',
      'retention.bytes': '-1',
      'cleanup.policy': 'delete',
      'delete.retention.ms': '86400000',
      'min.cleanable.dirty.ratio': '0.5',
      'min.compaction.lag.ms': '0',
      'max.compaction.lag.ms': '9223372036854775807',
      'max.message.bytes': '1048588',
      'message.timestamp.type': 'CreateTime',
      'flush.messages': '9223372036854775807',
      'flush.ms': '9223372036854775807',
      'file.delete.delay.ms': '60000',
      'compression.type': 'producer',
      'min.insync.replicas': '1',
      'unclean.leader.election.enable': 'false',
      // samsa's own key (conditional appends), off as every topic's default.
      'key.version.index.enable': 'false',
    });
  });

  it('uses Infinity for Long.MAX_VALUE and is frozen', () => {
    expect(LOG_CONFIG_DEFAULTS.flushMs).toBe(Infinity);
    expect(LOG_CONFIG_DEFAULTS.flushMessages).toBe(Infinity);
    expect(LOG_CONFIG_DEFAULTS.maxCompactionLagMs).toBe(Infinity);
    expect(Object.isFrozen(LOG_CONFIG_DEFAULTS)).toBe(true);
    expect(Object.isFrozen(LOG_CONFIG_DEFAULTS.cleanupPolicy)).toBe(true);
  });

  it('is what parseLogConfig({}) returns', () => {
    expect(parseLogConfig({})).toEqual(LOG_CONFIG_DEFAULTS);
  });

  it('maps every field to a Kafka key and back', () => {
    const fields = Object.keys(LOG_CONFIG_DEFAULTS).sort();
    expect(Object.keys(LOG_CONFIG_KEYS).sort()).toEqual(fields);
    expect(describeLogConfigKeys().map((info) => info.field).sort()).toEqual(fields);
    for (const info of describeLogConfigKeys()) expect(LOG_CONFIG_KEYS[info.field]).toBe(info.key);
  });
});

/** Per key: values that parse (input → field value) and values that must be rejected. */
const cases: { key: string; field: keyof LogConfig; valid: [unknown, unknown][]; invalid: unknown[]; expects: string }[] = [
  {
    key: 'segment.bytes',
    field: 'segmentBytes',
    valid: [[14, 14], ['1048576', 1048576], [' 2048 ', 2048], [2147483647, 2147483647], [2048n, 2048]],
    invalid: [13, 0, -1, '13', 2147483648, '2147483648', 1.5, '1.5', '1e6', 'abc', '', true, null, KAFKA_LONG_MAX, Infinity, NaN, {}],
    expects: 'expected an integer between 14 and 2147483647 (bytes)',
  },
  {
    key: 'segment.ms',
    field: 'segmentMs',
    valid: [[1, 1], ['3600000', 3600000], [KAFKA_LONG_MAX, Infinity], [Infinity, Infinity]],
    invalid: [0, -1, '0', 0.5, 'never', '9223372036854775808', -Infinity],
    expects: 'expected an integer ≥ 1 (milliseconds)',
  },
  { key: 'segment.jitter.ms', field: 'segmentJitterMs', valid: [[0, 0], ['1000', 1000]], invalid: [-1, '-1', 'x'], expects: 'expected an integer ≥ 0 (milliseconds)' },
  { key: 'segment.index.bytes', field: 'segmentIndexBytes', valid: [[4, 4], ['4096', 4096]], invalid: [3, 0, '3', 2 ** 31], expects: 'expected an integer between 4 and 2147483647 (bytes)' },
  { key: 'index.interval.bytes', field: 'indexIntervalBytes', valid: [[0, 0], ['1', 1]], invalid: [-1, 'x'], expects: 'expected an integer between 0 and 2147483647 (bytes)' },
  {
    key: 'retention.ms',
    field: 'retentionMs',
    valid: [[-1, -1], ['-1', -1], [0, 0], ['+60000', 60000], [KAFKA_LONG_MAX, Infinity]],
    invalid: [-2, '-2', 1.5],
    expects: 'expected an integer ≥ -1 (milliseconds; -1 means unlimited)',
  },
  {
    key: 'retention.bytes',
    field: 'retentionBytes',
    // Kafka has no lower bound here: any negative value means unlimited.
    valid: [[-1, -1], [-5, -5], ['1073741824', 1073741824], [0, 0], [KAFKA_LONG_MAX, Infinity]],
    invalid: ['ten', 1.5, '-9223372036854775809'],
    expects: 'expected an integer (bytes; negative means unlimited)',
  },
  { key: 'delete.retention.ms', field: 'deleteRetentionMs', valid: [[0, 0], ['86400000', 86400000]], invalid: [-1], expects: 'expected an integer ≥ 0 (milliseconds)' },
  {
    key: 'min.cleanable.dirty.ratio',
    field: 'minCleanableDirtyRatio',
    valid: [[0, 0], [1, 1], [0.01, 0.01], ['0.25', 0.25], [' .5 ', 0.5], ['1.0', 1], ['5e-1', 0.5]],
    invalid: [-0.1, 1.01, '1.5', 'half', NaN, Infinity, '', true],
    expects: 'expected a number between 0 and 1 (share of the log not yet compacted)',
  },
  { key: 'min.compaction.lag.ms', field: 'minCompactionLagMs', valid: [[0, 0], ['1000', 1000]], invalid: [-1], expects: 'expected an integer ≥ 0 (milliseconds)' },
  {
    key: 'max.compaction.lag.ms',
    field: 'maxCompactionLagMs',
    valid: [[1, 1], ['86400000', 86400000], [KAFKA_LONG_MAX, Infinity]],
    invalid: [0, -1],
    expects: `expected an integer ≥ 1 (milliseconds; ${KAFKA_LONG_MAX} means never forced)`,
  },
  { key: 'max.message.bytes', field: 'maxMessageBytes', valid: [[0, 0], ['2097152', 2097152]], invalid: [-1, KAFKA_LONG_MAX], expects: 'expected an integer between 0 and 2147483647 (bytes)' },
  {
    key: 'message.timestamp.type',
    field: 'messageTimestampType',
    valid: [['CreateTime', 'CreateTime'], ['LogAppendTime', 'LogAppendTime'], [' LogAppendTime ', 'LogAppendTime']],
    invalid: ['createtime', 'AppendTime', '', 1, null],
    expects: 'expected one of "CreateTime", "LogAppendTime" (case-sensitive)',
  },
  { key: 'flush.messages', field: 'flushMessages', valid: [[1, 1], ['10000', 10000], [KAFKA_LONG_MAX, Infinity]], invalid: [0, '0'], expects: `expected an integer ≥ 1 (messages; ${KAFKA_LONG_MAX} means never; durability comes from replication)` },
  { key: 'flush.ms', field: 'flushMs', valid: [[0, 0], ['1000', 1000], [KAFKA_LONG_MAX, Infinity]], invalid: [-1], expects: `expected an integer ≥ 0 (milliseconds; ${KAFKA_LONG_MAX} means never; durability comes from replication)` },
  { key: 'file.delete.delay.ms', field: 'fileDeleteDelayMs', valid: [[0, 0], ['60000', 60000]], invalid: [-1, 'soon'], expects: 'expected an integer ≥ 0 (milliseconds)' },
  {
    key: 'compression.type',
    field: 'compressionType',
    valid: [['producer', 'producer'], ['uncompressed', 'uncompressed'], ['gzip', 'gzip'], ['snappy', 'snappy'], ['lz4', 'lz4'], ['zstd', 'zstd']],
    invalid: ['none', 'GZIP', 'brotli', ''],
    expects: 'expected one of "producer", "uncompressed", "gzip", "snappy", "lz4", "zstd" (case-sensitive)',
  },
  { key: 'min.insync.replicas', field: 'minInsyncReplicas', valid: [[1, 1], ['2', 2]], invalid: [0, -1, '0', 1.5], expects: 'expected an integer between 1 and 2147483647 (replicas)' },
  {
    key: 'unclean.leader.election.enable',
    field: 'uncleanLeaderElectionEnable',
    valid: [[true, true], [false, false], ['true', true], ['FALSE', false], [' True ', true]],
    invalid: ['yes', 1, 0, '', null],
    expects: 'expected true or false',
  },
  {
    key: 'key.version.index.enable',
    field: 'keyVersionIndexEnable',
    valid: [[true, true], ['false', false]],
    invalid: ['on', 1],
    expects: 'expected true or false',
  },
];

describe('parseLogConfig: every key', () => {
  it('covers every key in this table', () => {
    expect(cases.map((c) => c.key).sort()).toEqual(
      Object.values(LOG_CONFIG_KEYS)
        .filter((k) => k !== 'cleanup.policy')
        .sort(),
    );
  });

  for (const c of cases) {
    describe(c.key, () => {
      it.each(c.valid.map(([input, expected]) => [String(input), input, expected]))('accepts %s', (_label, input, expected) => {
        expect(parseLogConfig({ [c.key]: input })[c.field]).toEqual(expected);
        // The camelCase field name works too.
        expect(parseLogConfig({ [c.field]: input })[c.field]).toEqual(expected);
      });

      it.each(c.invalid.map((input) => [String(input), input]))('rejects %s', (_label, input) => {
        const error = configError(() => parseLogConfig({ [c.key]: input }));
        expect(error.key).toBe(c.key);
        expect(error.code).toBe('INVALID_CONFIG');
        expect(error.errorCode).toBe(40);
        expect(error.retriable).toBe(false);
        expect(error.message).toContain(c.expects);
      });

      it('is described with its default and expectation', () => {
        const info = describeLogConfigKeys().find((i) => i.key === c.key);
        expect(info?.valid).toBe(c.expects);
        expect(info?.default).toBe(logConfigToKafka(LOG_CONFIG_DEFAULTS)[info?.key ?? 'segment.bytes']);
        expect(info?.doc.length).toBeGreaterThan(10);
      });
    });
  }
});

describe('parseLogConfig: cleanup.policy', () => {
  it.each([
    ['delete', ['delete']],
    ['compact', ['compact']],
    ['compact,delete', ['compact', 'delete']],
    ['delete, compact', ['delete', 'compact']],
    ['  compact  ,  delete  ', ['compact', 'delete']],
    ['compact,compact', ['compact']],
  ])('accepts the string %j', (input, expected) => {
    expect(parseLogConfig({ 'cleanup.policy': input }).cleanupPolicy).toEqual(expected);
  });

  it('accepts arrays', () => {
    expect(parseLogConfig({ 'cleanup.policy': ['compact'] }).cleanupPolicy).toEqual(['compact']);
    expect(parseLogConfig({ cleanupPolicy: ['compact', 'delete'] }).cleanupPolicy).toEqual(['compact', 'delete']);
    expect(Object.isFrozen(parseLogConfig({ cleanupPolicy: ['compact'] }).cleanupPolicy)).toBe(true);
  });

  it.each([[''], ['  '], [[]], ['compact,'], ['Compact'], ['delete,archive'], [['compact', 1]], [42], [null]])('rejects %j', (input) => {
    const error = configError(() => parseLogConfig({ 'cleanup.policy': input }));
    expect(error.key).toBe('cleanup.policy');
    expect(error.message).toContain('expected a non-empty comma-separated list of "delete" and/or "compact"');
  });

  it('names the bad element', () => {
    expect(configError(() => parseLogConfig({ 'cleanup.policy': 'compact,archive' })).message).toContain('"archive" is not one of them');
  });

  it('formats back comma-separated', () => {
    expect(logConfigToKafka(parseLogConfig({ 'cleanup.policy': 'compact, delete' }))['cleanup.policy']).toBe('compact,delete');
  });
});

describe('parseLogConfig: Long.MAX_VALUE', () => {
  it('round-trips 9223372036854775807 through Infinity', () => {
    const config = parseLogConfig({ 'retention.ms': KAFKA_LONG_MAX, 'flush.ms': '9223372036854775807', 'segment.ms': 2 ** 63 }); // the JS number the literal 9223372036854775807 becomes
    expect(config.retentionMs).toBe(Infinity);
    expect(config.flushMs).toBe(Infinity);
    expect(config.segmentMs).toBe(Infinity);
    const kafka = logConfigToKafka(config);
    expect(kafka['retention.ms']).toBe(KAFKA_LONG_MAX);
    expect(kafka['segment.ms']).toBe(KAFKA_LONG_MAX);
    expect(parseLogConfig(kafka)).toEqual(config);
  });

  it('accepts a bigint Long.MAX_VALUE', () => {
    expect(parseLogConfig({ 'flush.messages': 2n ** 63n - 1n }).flushMessages).toBe(Infinity);
  });

  it('rejects longs that a JS number cannot hold exactly, with an explanation', () => {
    const error = configError(() => parseLogConfig({ 'retention.ms': '9007199254740993' }));
    expect(error.message).toContain('not supported except 9223372036854775807');
    expect(configError(() => parseLogConfig({ 'retention.ms': 2 ** 60 })).message).toContain('not supported');
    // The largest safe integer is fine.
    expect(parseLogConfig({ 'retention.ms': '9007199254740991' }).retentionMs).toBe(Number.MAX_SAFE_INTEGER);
  });

  it('rejects values beyond the long range', () => {
    expect(configError(() => parseLogConfig({ 'retention.ms': '9223372036854775808' })).message).toContain('expected an integer ≥ -1');
  });
});

describe('parseLogConfig: keys', () => {
  it.each([
    ['segment.byte', 'segment.bytes'],
    ['segmnt.bytes', 'segment.bytes'],
    ['retention.msec', 'retention.ms'],
    ['retentoin.ms', 'retention.ms'],
    ['cleanup.polcy', 'cleanup.policy'],
    ['segment_bytes', 'segment.bytes'],
    ['RETENTION.MS', 'retention.ms'],
    ['minInSyncReplicas', 'minInsyncReplicas'],
    ['min.insync.replica', 'min.insync.replicas'],
    ['unclean.leader.election', 'unclean.leader.election.enable'],
  ])('suggests the closest key for %s', (typo, suggestion) => {
    const error = configError(() => parseLogConfig({ [typo]: 1 }));
    expect(error.key).toBe(typo);
    expect(error.message).toContain(`did you mean "${suggestion}"?`);
  });

  it('points broker-level names at the topic-level key', () => {
    expect(configError(() => parseLogConfig({ 'log.retention.hours': 168 })).message).toContain('the topic-level key is "retention.ms"');
    expect(configError(() => parseLogConfig({ 'message.max.bytes': 1 })).message).toContain('the topic-level key is "max.message.bytes"');
  });

  it('lists the known keys when nothing is close', () => {
    const error = configError(() => parseLogConfig({ 'bootstrap.servers': 'localhost:9092' }));
    expect(error.message).toContain('known keys are segment.bytes, segment.ms');
  });

  it('rejects an unknown key even with an undefined value', () => {
    configError(() => parseLogConfig({ 'segment.byte': undefined }));
  });

  it('treats an undefined value of a known key as not given', () => {
    expect(parseLogConfig({ 'retention.ms': undefined, segmentBytes: undefined })).toEqual(LOG_CONFIG_DEFAULTS);
  });

  it('rejects the same setting given under both names', () => {
    const error = configError(() => parseLogConfig({ 'retention.ms': 1, retentionMs: 1 }));
    expect(error.message).toContain('given twice');
  });
});

describe('parseLogConfig: merging and atomicity', () => {
  it('applies overrides on top of a base, leaving both inputs untouched', () => {
    const base = parseLogConfig({ 'cleanup.policy': 'compact', 'segment.bytes': 1024 });
    const next = parseLogConfig({ 'segment.bytes': '2048', 'retention.ms': -1 }, base);
    expect(next.segmentBytes).toBe(2048);
    expect(next.retentionMs).toBe(-1);
    expect(next.cleanupPolicy).toEqual(['compact']);
    expect(base.segmentBytes).toBe(1024);
    expect(Object.isFrozen(next)).toBe(true);
  });

  it('applies nothing when any value is invalid', () => {
    const base = parseLogConfig({ 'segment.bytes': 1024 });
    const snapshot = { ...base };
    configError(() => parseLogConfig({ 'segment.bytes': 4096, 'retention.ms': -2 }, base));
    configError(() => parseLogConfig({ 'segment.bytes': 4096, 'no.such.key': 1 }, base));
    expect(base).toEqual(snapshot);
  });

  it('rejects min.compaction.lag.ms above max.compaction.lag.ms, as Kafka does', () => {
    const error = configError(() => parseLogConfig({ 'min.compaction.lag.ms': 1000, 'max.compaction.lag.ms': 999 }));
    expect(error.key).toBe('min.compaction.lag.ms');
    expect(error.message).toContain('conflicts with max.compaction.lag.ms (999)');
    // The conflict is checked against the merged result.
    const base = parseLogConfig({ 'max.compaction.lag.ms': 100 });
    configError(() => parseLogConfig({ 'min.compaction.lag.ms': 101 }, base));
    expect(parseLogConfig({ 'min.compaction.lag.ms': 100 }, base).minCompactionLagMs).toBe(100);
  });

  it('never mutates LOG_CONFIG_DEFAULTS', () => {
    parseLogConfig({ 'segment.bytes': 100 });
    expect(LOG_CONFIG_DEFAULTS.segmentBytes).toBe(1073741824);
  });
});

describe('logConfigToKafka', () => {
  it('round-trips a config with every key changed', () => {
    const config = parseLogConfig({
      'segment.bytes': 1024,
      'segment.ms': 1000,
      'segment.jitter.ms': 10,
      'segment.index.bytes': 4096,
      'index.interval.bytes': 128,
      'retention.ms': -1,
      'retention.bytes': 1048576,
      'cleanup.policy': 'compact,delete',
      'delete.retention.ms': 5,
      'min.cleanable.dirty.ratio': 1,
      'min.compaction.lag.ms': 7,
      'max.compaction.lag.ms': 8,
      'max.message.bytes': 512,
      'message.timestamp.type': 'LogAppendTime',
      'flush.messages': 1,
      'flush.ms': 0,
      'file.delete.delay.ms': 0,
      'compression.type': 'zstd',
      'min.insync.replicas': 2,
      'unclean.leader.election.enable': true,
      'key.version.index.enable': true,
    });
    const kafka = logConfigToKafka(config);
    expect(Object.values(kafka).every((v) => typeof v === 'string')).toBe(true);
    expect(kafka['min.cleanable.dirty.ratio']).toBe('1.0');
    expect(kafka['unclean.leader.election.enable']).toBe('true');
    expect(parseLogConfig(kafka)).toEqual(config);
    for (const [key, value] of Object.entries(kafka)) expect(logConfigToKafka(LOG_CONFIG_DEFAULTS)[key as keyof typeof kafka]).not.toBe(value);
  });
});
