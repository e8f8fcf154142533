/**
 * samsa: Kafka, metamorphosed into actors. The curated public API; every name is exported
 * explicitly.
 */

/* Time and randomness */
export { SystemClock, SimulatedClock } from './clock.ts';
export type { Clock, TimerHandle } from './clock.ts';
export { createRandom } from './random.ts';
export type { Random } from './random.ts';

/* Errors */
export {
  SamsaError,
  KafkaProtocolError,
  OffsetOutOfRangeError,
  CorruptRecordError,
  RecordTooLargeError,
  InvalidRecordError,
  InvalidConfigError,
  InvalidArgumentError,
  NotALogDirectoryError,
  StorageError,
  ClosedError,
  KAFKA_ERRORS,
  errors,
  errorFromJSON,
} from './errors.ts';
export type { SamsaErrorJSON, KafkaErrorName, KafkaErrorInfo } from './errors.ts';
