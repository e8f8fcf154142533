/**
 * Topic-level log configuration: Kafka's keys, types, defaults and validation rules
 * (`org.apache.kafka.common.config.TopicConfig` and `LogConfig`, Kafka 3.9).
 *
 * Configs are plain frozen objects with camelCase fields. {@link parseLogConfig} reads Kafka's
 * dotted keys (or the camelCase field names) with values as numbers, strings or booleans, exactly
 * as `kafka-configs.sh --add-config` or AdminClient would pass them, and
 * {@link logConfigToKafka} prints a config back as DescribeConfigs would show it.
 *
 * Kafka's `Long.MAX_VALUE` (9223372036854775807, "never") is `Infinity` here, so comparisons such
 * as `age > config.flushMs` need no special case.
 */

import { InvalidConfigError } from './errors.ts';

/** What to do with old data: delete whole segments, compact by key, or both. */
export type CleanupPolicy = 'delete' | 'compact';

/** Which timestamp a batch keeps: the producer's, or the leader's append time. */
export type MessageTimestampType = 'CreateTime' | 'LogAppendTime';

/** Compression of stored batches; `producer` keeps whatever codec the producer used. */
export type LogCompressionType = 'producer' | 'uncompressed' | 'gzip' | 'snappy' | 'lz4' | 'zstd';

/**
 * A complete, validated topic-level log configuration. Every field corresponds to one Kafka key
 * (see {@link LOG_CONFIG_KEYS}); durations are milliseconds, sizes bytes, `Infinity` is Kafka's
 * Long.MAX_VALUE.
 */
export interface LogConfig {
  /** `segment.bytes`: roll once the active segment would exceed this size. */
  readonly segmentBytes: number;
  /** `segment.ms`: roll once the active segment's first record is this old. */
  readonly segmentMs: number;
  /** `segment.jitter.ms`: maximum random reduction of `segment.ms` per segment. */
  readonly segmentJitterMs: number;
  /** `segment.index.bytes`: maximum size of a segment's offset and time index. */
  readonly segmentIndexBytes: number;
  /** `index.interval.bytes`: bytes of batches between two offset index entries. */
  readonly indexIntervalBytes: number;
  /** `retention.ms`: delete segments whose newest record is older; -1 = unlimited. */
  readonly retentionMs: number;
  /** `retention.bytes`: per-partition size limit; negative = unlimited. */
  readonly retentionBytes: number;
  /** `cleanup.policy`: non-empty, without duplicates. */
  readonly cleanupPolicy: readonly CleanupPolicy[];
  /** `delete.retention.ms`: how long tombstones survive after cleaning. */
  readonly deleteRetentionMs: number;
  /** `min.cleanable.dirty.ratio`: dirty share that makes a log eligible for compaction. */
  readonly minCleanableDirtyRatio: number;
  /** `min.compaction.lag.ms`: minimum age before a record may be compacted. */
  readonly minCompactionLagMs: number;
  /** `max.compaction.lag.ms`: maximum time a record stays uncompacted. */
  readonly maxCompactionLagMs: number;
  /** `max.message.bytes`: largest batch (after compression) accepted. */
  readonly maxMessageBytes: number;
  /** `message.timestamp.type`. */
  readonly messageTimestampType: MessageTimestampType;
  /** `flush.messages`: fsync after this many messages. */
  readonly flushMessages: number;
  /** `flush.ms`: fsync once unflushed data is this old. */
  readonly flushMs: number;
  /** `file.delete.delay.ms`: delay before a removed segment's files are deleted. */
  readonly fileDeleteDelayMs: number;
  /** `compression.type`. */
  readonly compressionType: LogCompressionType;
  /** `min.insync.replicas`: with acks=all, the fewest in-sync replicas a write needs. */
  readonly minInsyncReplicas: number;
  /** `unclean.leader.election.enable`: allow an out-of-sync replica to lead (loses data). */
  readonly uncleanLeaderElectionEnable: boolean;
  /**
   * `key.version.index.enable` (samsa's own key, default false): keep a per-key version index in
   * each partition so appends can carry an expected version per key (record/keyVersions.ts).
   */
  readonly keyVersionIndexEnable: boolean;
}

/** Field name → Kafka topic config key, for every field of {@link LogConfig}. */
export const LOG_CONFIG_KEYS = Object.freeze({
  segmentBytes: 'segment.bytes',
  segmentMs: 'segment.ms',
  segmentJitterMs: 'segment.jitter.ms',
  segmentIndexBytes: 'segment.index.bytes',
  indexIntervalBytes: 'index.interval.bytes',
  retentionMs: 'retention.ms',
  retentionBytes: 'retention.bytes',
  cleanupPolicy: 'cleanup.policy',
  deleteRetentionMs: 'delete.retention.ms',
  minCleanableDirtyRatio: 'min.cleanable.dirty.ratio',
  minCompactionLagMs: 'min.compaction.lag.ms',
  maxCompactionLagMs: 'max.compaction.lag.ms',
  maxMessageBytes: 'max.message.bytes',
  messageTimestampType: 'message.timestamp.type',
  flushMessages: 'flush.messages',
  flushMs: 'flush.ms',
  fileDeleteDelayMs: 'file.delete.delay.ms',
  compressionType: 'compression.type',
  minInsyncReplicas: 'min.insync.replicas',
  uncleanLeaderElectionEnable: 'unclean.leader.election.enable',
  keyVersionIndexEnable: 'key.version.index.enable',
} as const satisfies Record<keyof LogConfig, string>);

/** A Kafka topic config key samsa understands, e.g. `'retention.ms'`. */
export type LogConfigKey = (typeof LOG_CONFIG_KEYS)[keyof LogConfig];

/** Kafka's Long.MAX_VALUE as printed by Kafka; parsed to and formatted from `Infinity`. */
export const KAFKA_LONG_MAX = '9223372036854775807';

const INT_MIN = -2147483648;
const INT_MAX = 2147483647;
const LONG_MIN = -(2n ** 63n);
const LONG_MAX = 2n ** 63n - 1n;

/** Kafka's config types, as DescribeConfigs reports them. */
export type LogConfigType = 'int' | 'long' | 'double' | 'boolean' | 'string' | 'list';

interface SpecBase {
  readonly key: LogConfigKey;
  readonly field: keyof LogConfig;
  readonly doc: string;
}
interface IntegerSpec extends SpecBase {
  readonly type: 'int' | 'long';
  readonly min?: number;
  readonly unit: string;
  readonly note?: string;
}
interface DoubleSpec extends SpecBase {
  readonly type: 'double';
  readonly min: number;
  readonly max: number;
  readonly unit: string;
}
interface BooleanSpec extends SpecBase {
  readonly type: 'boolean';
}
interface ChoiceSpec extends SpecBase {
  readonly type: 'string' | 'list';
  readonly values: readonly string[];
}
type Spec = IntegerSpec | DoubleSpec | BooleanSpec | ChoiceSpec;

const SPECS: readonly Spec[] = [
  { key: 'segment.bytes', field: 'segmentBytes', type: 'int', min: 14, unit: 'bytes', doc: 'Roll a new segment once the active one would grow past this size.' },
  { key: 'segment.ms', field: 'segmentMs', type: 'long', min: 1, unit: 'milliseconds', doc: "Roll a new segment once the active segment's first record is this old, even if it is not full." },
  { key: 'segment.jitter.ms', field: 'segmentJitterMs', type: 'long', min: 0, unit: 'milliseconds', doc: 'Maximum random amount taken off segment.ms per segment, so partitions do not all roll at once.' },
  { key: 'segment.index.bytes', field: 'segmentIndexBytes', type: 'int', min: 4, unit: 'bytes', doc: "Maximum size of a segment's offset and time index; a full index forces a roll." },
  { key: 'index.interval.bytes', field: 'indexIntervalBytes', type: 'int', min: 0, unit: 'bytes', doc: 'Add an offset index entry after this many bytes of batches; smaller means faster seeks and bigger indexes.' },
  { key: 'retention.ms', field: 'retentionMs', type: 'long', min: -1, unit: 'milliseconds', note: '-1 means unlimited', doc: 'Delete a whole segment once its newest record is older than this.' },
  { key: 'retention.bytes', field: 'retentionBytes', type: 'long', unit: 'bytes', note: 'negative means unlimited', doc: 'Delete the oldest segments while the partition is larger than this.' },
  { key: 'cleanup.policy', field: 'cleanupPolicy', type: 'list', values: ['delete', 'compact'], doc: '"delete" drops old segments by time or size, "compact" keeps the latest record per key, "compact,delete" does both.' },
  { key: 'delete.retention.ms', field: 'deleteRetentionMs', type: 'long', min: 0, unit: 'milliseconds', doc: 'How long tombstones and transaction markers are kept after their segment is cleaned.' },
  { key: 'min.cleanable.dirty.ratio', field: 'minCleanableDirtyRatio', type: 'double', min: 0, max: 1, unit: 'share of the log not yet compacted', doc: 'Compact a log once this share of it is dirty (written since the last cleaning).' },
  { key: 'min.compaction.lag.ms', field: 'minCompactionLagMs', type: 'long', min: 0, unit: 'milliseconds', doc: 'Minimum age of a record before it may be compacted away.' },
  { key: 'max.compaction.lag.ms', field: 'maxCompactionLagMs', type: 'long', min: 1, unit: 'milliseconds', note: `${KAFKA_LONG_MAX} means never forced`, doc: 'Maximum time a record may stay uncompacted; dirty data older than this forces a cleaning.' },
  { key: 'max.message.bytes', field: 'maxMessageBytes', type: 'int', min: 0, unit: 'bytes', doc: 'Largest record batch, after compression, the log accepts.' },
  { key: 'message.timestamp.type', field: 'messageTimestampType', type: 'string', values: ['CreateTime', 'LogAppendTime'], doc: "CreateTime keeps the producer's timestamps; LogAppendTime replaces them with the leader's clock." },
  { key: 'flush.messages', field: 'flushMessages', type: 'long', min: 1, unit: 'messages', note: `${KAFKA_LONG_MAX} means never; durability comes from replication`, doc: 'Force an fsync after this many messages.' },
  { key: 'flush.ms', field: 'flushMs', type: 'long', min: 0, unit: 'milliseconds', note: `${KAFKA_LONG_MAX} means never; durability comes from replication`, doc: 'Force an fsync once unflushed data is this old.' },
  { key: 'file.delete.delay.ms', field: 'fileDeleteDelayMs', type: 'long', min: 0, unit: 'milliseconds', doc: "Wait this long before deleting the files of a segment removed from the log." },
  { key: 'compression.type', field: 'compressionType', type: 'string', values: ['producer', 'uncompressed', 'gzip', 'snappy', 'lz4', 'zstd'], doc: "Codec of stored batches; \"producer\" keeps the producer's codec." },
  { key: 'min.insync.replicas', field: 'minInsyncReplicas', type: 'int', min: 1, unit: 'replicas', doc: 'With acks=all, the fewest in-sync replicas that must have a write for it to succeed.' },
  { key: 'unclean.leader.election.enable', field: 'uncleanLeaderElectionEnable', type: 'boolean', doc: 'Let an out-of-sync replica become leader as a last resort, losing the records it lacks.' },
  { key: 'key.version.index.enable', field: 'keyVersionIndexEnable', type: 'boolean', doc: "samsa's own: keep a version per key, so appends may carry an expected version (event sourcing)." },
];

const SPEC_BY_KEY = new Map<string, Spec>(SPECS.map((spec) => [spec.key, spec]));
const SPEC_BY_FIELD = new Map<string, Spec>(SPECS.map((spec) => [spec.field, spec]));

/** Kafka's defaults (3.9) for every topic-level key. Frozen. */
export const LOG_CONFIG_DEFAULTS: LogConfig = Object.freeze({
  segmentBytes: 1073741824,
  segmentMs: 604800000,
  segmentJitterMs: 0,
  segmentIndexBytes: 10485760,
  indexIntervalBytes: 4096,
  retentionMs: 604800000,
  retentionBytes: -1,
  cleanupPolicy: Object.freeze(['delete'] as CleanupPolicy[]),
  deleteRetentionMs: 86400000,
  minCleanableDirtyRatio: 0.5,
  minCompactionLagMs: 0,
  maxCompactionLagMs: Infinity,
  maxMessageBytes: 1048588,
  messageTimestampType: 'CreateTime',
  flushMessages: Infinity,
  flushMs: Infinity,
  fileDeleteDelayMs: 60000,
  compressionType: 'producer',
  minInsyncReplicas: 1,
  uncleanLeaderElectionEnable: false,
  keyVersionIndexEnable: false,
});

/**
 * Broker-level names people pass by mistake, mapped to the topic-level key. They are rejected
 * (a topic config is not a broker config) but named in the error.
 */
const BROKER_KEYS: Readonly<Record<string, LogConfigKey>> = {
  'log.segment.bytes': 'segment.bytes',
  'log.roll.ms': 'segment.ms',
  'log.roll.hours': 'segment.ms',
  'log.roll.jitter.ms': 'segment.jitter.ms',
  'log.roll.jitter.hours': 'segment.jitter.ms',
  'log.index.size.max.bytes': 'segment.index.bytes',
  'log.index.interval.bytes': 'index.interval.bytes',
  'log.retention.ms': 'retention.ms',
  'log.retention.minutes': 'retention.ms',
  'log.retention.hours': 'retention.ms',
  'log.retention.bytes': 'retention.bytes',
  'log.cleanup.policy': 'cleanup.policy',
  'log.cleaner.delete.retention.ms': 'delete.retention.ms',
  'log.cleaner.min.cleanable.ratio': 'min.cleanable.dirty.ratio',
  'log.cleaner.min.compaction.lag.ms': 'min.compaction.lag.ms',
  'log.cleaner.max.compaction.lag.ms': 'max.compaction.lag.ms',
  'message.max.bytes': 'max.message.bytes',
  'log.message.timestamp.type': 'message.timestamp.type',
  'log.flush.interval.messages': 'flush.messages',
  'log.flush.interval.ms': 'flush.ms',
  'log.segment.delete.delay.ms': 'file.delete.delay.ms',
};

/** What a valid value of `spec` looks like, phrased for an error message. */
function expectation(spec: Spec): string {
  switch (spec.type) {
    case 'int':
    case 'long': {
      const max = spec.type === 'int' ? INT_MAX : undefined;
      const range =
        spec.min === undefined ? (max === undefined ? '' : ` between ${INT_MIN} and ${max}`) : max === undefined ? ` ≥ ${spec.min}` : ` between ${spec.min} and ${max}`;
      return `expected an integer${range} (${spec.unit}${spec.note === undefined ? '' : `; ${spec.note}`})`;
    }
    case 'double':
      return `expected a number between ${spec.min} and ${spec.max} (${spec.unit})`;
    case 'boolean':
      return 'expected true or false';
    case 'string':
      return `expected one of ${spec.values.map((v) => `"${v}"`).join(', ')} (case-sensitive)`;
    case 'list':
      return `expected a non-empty comma-separated list of ${spec.values.map((v) => `"${v}"`).join(' and/or ')}`;
  }
}

/** Parses a Kafka INT or LONG; `Infinity` stands for Long.MAX_VALUE. Undefined when invalid. */
function parseInteger(raw: unknown, type: 'int' | 'long'): number | 'unsafe' | undefined {
  let big: bigint;
  if (typeof raw === 'number') {
    if (Number.isNaN(raw)) return undefined;
    // 2 ** 63 is what the literal 9223372036854775807 becomes as a JS number.
    if (type === 'long' && (raw === Infinity || raw === 2 ** 63)) return Infinity;
    if (!Number.isInteger(raw)) return undefined;
    if (Number.isSafeInteger(raw)) big = BigInt(raw);
    else return type === 'long' && raw >= -(2 ** 63) && raw < 2 ** 63 ? 'unsafe' : undefined;
  } else if (typeof raw === 'bigint') {
    big = raw;
  } else if (typeof raw === 'string' && /^[+-]?\d+$/.test(raw.trim())) {
    big = BigInt(raw.trim());
  } else {
    return undefined;
  }
  if (type === 'int') return big >= BigInt(INT_MIN) && big <= BigInt(INT_MAX) ? Number(big) : undefined;
  if (big < LONG_MIN || big > LONG_MAX) return undefined;
  if (big === LONG_MAX) return Infinity;
  const n = Number(big);
  return Number.isSafeInteger(n) ? n : 'unsafe';
}

function parseDouble(raw: unknown): number | undefined {
  if (typeof raw === 'number') return Number.isFinite(raw) ? raw : undefined;
  if (typeof raw === 'string' && /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/.test(raw.trim())) return Number(raw.trim());
  return undefined;
}

function parseBoolean(raw: unknown): boolean | undefined {
  if (typeof raw === 'boolean') return raw;
  if (typeof raw === 'string') {
    const s = raw.trim().toLowerCase();
    if (s === 'true') return true;
    if (s === 'false') return false;
  }
  return undefined;
}

/** Kafka LIST parsing: a comma-separated string (blanks around commas ignored) or an array. */
function parseList(raw: unknown): string[] | undefined {
  if (typeof raw === 'string') {
    const s = raw.trim();
    return s === '' ? [] : s.split(/\s*,\s*/);
  }
  if (Array.isArray(raw) && raw.every((item) => typeof item === 'string')) return raw.map((item: string) => item.trim());
  return undefined;
}

/** Parses one value for `spec`; throws {@link InvalidConfigError} naming what is expected. */
function parseValue(spec: Spec, raw: unknown): unknown {
  const invalid = (extra?: string): InvalidConfigError => new InvalidConfigError(spec.key, raw, `${expectation(spec)}${extra === undefined ? '' : `; ${extra}`}`);
  switch (spec.type) {
    case 'int':
    case 'long': {
      const n = parseInteger(raw, spec.type);
      if (n === 'unsafe') throw invalid(`integers beyond ±${Number.MAX_SAFE_INTEGER} are not supported except ${KAFKA_LONG_MAX} (Long.MAX_VALUE)`);
      if (n === undefined || (spec.min !== undefined && n < spec.min)) throw invalid();
      return n;
    }
    case 'double': {
      const n = parseDouble(raw);
      if (n === undefined || n < spec.min || n > spec.max) throw invalid();
      return n;
    }
    case 'boolean': {
      const b = parseBoolean(raw);
      if (b === undefined) throw invalid();
      return b;
    }
    case 'string': {
      const s = typeof raw === 'string' ? raw.trim() : undefined;
      if (s === undefined || !spec.values.includes(s)) throw invalid();
      return s;
    }
    case 'list': {
      const items = parseList(raw);
      if (items === undefined || items.length === 0) throw invalid();
      const bad = items.find((item) => !spec.values.includes(item));
      if (bad !== undefined) throw invalid(`"${bad}" is not one of them`);
      // Duplicates carry no meaning; keep the first occurrence so the order the user gave survives.
      return Object.freeze([...new Set(items)]);
    }
  }
}

/** Levenshtein distance, for "did you mean" suggestions. */
function editDistance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) {
      const substitution = (previous[j - 1] ?? 0) + (a[i - 1] === b[j - 1] ? 0 : 1);
      current.push(Math.min((previous[j] ?? 0) + 1, (current[j - 1] ?? 0) + 1, substitution));
    }
    previous = current;
  }
  return previous[b.length] ?? 0;
}

/** Why `key` is unknown, with the most likely intended key when there is one. */
function unknownKeyReason(key: string): string {
  const broker = BROKER_KEYS[key];
  if (broker !== undefined) return `unknown topic config; "${key}" is a broker-wide setting, the topic-level key is "${broker}"`;
  const squash = (s: string): string => s.toLowerCase().replace(/[^a-z0-9]/g, '');
  // Suggest in the style the caller used: dotted Kafka keys or camelCase field names.
  const keys = [...SPEC_BY_KEY.keys()];
  const fields = [...SPEC_BY_FIELD.keys()];
  const candidates = key.includes('.') || !/[A-Z]/.test(key) ? [...keys, ...fields] : [...fields, ...keys];
  const lower = key.toLowerCase();
  // Same words with different case or separators, then a truncated key, then a typo.
  let best = candidates.find((candidate) => squash(candidate) === squash(key));
  if (best === undefined && lower.length >= 8) best = candidates.filter((candidate) => candidate.toLowerCase().startsWith(lower)).sort((a, b) => a.length - b.length)[0];
  if (best === undefined) {
    let bestDistance = Math.max(2, Math.floor(key.length * 0.3)) + 1;
    for (const candidate of candidates) {
      const d = editDistance(lower, candidate.toLowerCase());
      if (d < bestDistance) {
        best = candidate;
        bestDistance = d;
      }
    }
  }
  if (best !== undefined) return `unknown topic config; did you mean "${best}"?`;
  return `unknown topic config; known keys are ${SPECS.map((spec) => spec.key).join(', ')}`;
}

/**
 * Builds a validated {@link LogConfig} from `overrides` applied on top of `base` (default
 * {@link LOG_CONFIG_DEFAULTS}).
 *
 * Keys are Kafka topic config names (`'retention.ms'`) or LogConfig field names
 * (`'retentionMs'`); an `undefined` value means "not given". Values are accepted in the forms
 * Kafka accepts: numbers or numeric strings (`'9223372036854775807'` meaning unlimited/never),
 * `true`/`false` or their strings, and for `cleanup.policy` a string like `'compact,delete'` or
 * an array. The result is all-or-nothing: any unknown key, bad value or conflict throws
 * {@link InvalidConfigError} and nothing is applied. The result is frozen.
 */
export function parseLogConfig(overrides: Readonly<Record<string, unknown>>, base: LogConfig = LOG_CONFIG_DEFAULTS): LogConfig {
  const config: LogConfig = { ...base };
  const seen = new Map<keyof LogConfig, string>();
  for (const [name, raw] of Object.entries(overrides)) {
    const spec = SPEC_BY_KEY.get(name) ?? SPEC_BY_FIELD.get(name);
    if (spec === undefined) throw new InvalidConfigError(name, raw, unknownKeyReason(name));
    if (raw === undefined) continue;
    const earlier = seen.get(spec.field);
    if (earlier !== undefined) throw new InvalidConfigError(spec.key, raw, `given twice, as "${earlier}" and as "${name}"; give it once`);
    seen.set(spec.field, name);
    // parseValue checked the value against the field's spec.
    Object.assign(config, { [spec.field]: parseValue(spec, raw) });
  }
  // Kafka's LogConfig.validateValues: the only cross-key rule for these keys.
  if (config.minCompactionLagMs > config.maxCompactionLagMs) {
    throw new InvalidConfigError(
      'min.compaction.lag.ms',
      config.minCompactionLagMs,
      `conflicts with max.compaction.lag.ms (${formatValue(SPEC_BY_KEY.get('max.compaction.lag.ms') as Spec, config.maxCompactionLagMs)}); min.compaction.lag.ms must not exceed it`,
    );
  }
  return Object.freeze(config);
}

/** Formats one value the way Kafka prints it. */
function formatValue(spec: Spec, value: unknown): string {
  switch (spec.type) {
    case 'int':
    case 'long':
      return value === Infinity ? KAFKA_LONG_MAX : String(value);
    case 'double':
      // Java's Double.toString prints whole numbers with ".0".
      return Number.isInteger(value) ? `${value as number}.0` : String(value);
    case 'list':
      return (value as readonly string[]).join(',');
    case 'boolean':
    case 'string':
      return String(value);
  }
}

/**
 * The config as Kafka key → string, the way DescribeConfigs shows it (`Infinity` prints as
 * 9223372036854775807). `parseLogConfig(logConfigToKafka(c))` equals `c`.
 */
export function logConfigToKafka(config: LogConfig): Record<LogConfigKey, string> {
  const out: Record<string, string> = {};
  for (const spec of SPECS) out[spec.key] = formatValue(spec, config[spec.field]);
  return out as Record<LogConfigKey, string>;
}

/** One topic config key: its field, Kafka type, default (as Kafka prints it), valid values and meaning. */
export interface LogConfigKeyInfo {
  readonly key: LogConfigKey;
  readonly field: keyof LogConfig;
  readonly type: LogConfigType;
  readonly default: string;
  /** What a valid value is, e.g. "expected an integer ≥ -1 (milliseconds; -1 means unlimited)". */
  readonly valid: string;
  readonly doc: string;
}

/** Every supported topic config key with its default and documentation, in a stable order. */
export function describeLogConfigKeys(): LogConfigKeyInfo[] {
  return SPECS.map((spec) => ({
    key: spec.key,
    field: spec.field,
    type: spec.type,
    default: formatValue(spec, LOG_CONFIG_DEFAULTS[spec.field]),
    valid: expectation(spec),
    doc: spec.doc,
  }));
}
