/**
 * Logging: what samsa tells a person when something goes wrong (recovery that dropped data,
 * fencing, elections, rebalances, errors handled internally). The shape is KafkaJS's and pino's
 * habit of levels plus structured fields: `logger.warn('message', { topic, partition })`.
 *
 * - `consoleLogger()` is the default, at `warn`: one line per entry on stderr, fields as JSON.
 * - `silentLogger` drops everything (the default of `samsa/testing`).
 * - `fromPino(pino)` adapts a pino (or bunyan-shaped) logger, whose argument order is `(fields, message)`.
 *
 * A logger never throws into samsa: a failing sink is swallowed so that logging cannot break a node.
 */

/** Severity, lowest first; an entry is written when its level is at or above the logger's. */
export type LogLevel = 'debug' | 'info' | 'warn' | 'error';

/** Structured context of an entry (`topic`, `partition`, `broker`, `groupId`, `error`, …). */
export type LogFields = Readonly<Record<string, unknown>>;

/** Where samsa writes what it has to say. Every method must return without throwing. */
export interface Logger {
  debug(message: string, fields?: LogFields): void;
  info(message: string, fields?: LogFields): void;
  warn(message: string, fields?: LogFields): void;
  error(message: string, fields?: LogFields): void;
  /** A logger that adds `fields` to every entry (a node's id, a client's id). */
  child(fields: LogFields): Logger;
}

const RANK: Readonly<Record<LogLevel, number>> = { debug: 10, info: 20, warn: 30, error: 40 };

/** True when `level` names a {@link LogLevel}. */
export function isLogLevel(level: unknown): level is LogLevel {
  return typeof level === 'string' && Object.hasOwn(RANK, level);
}

/** A logger that writes nothing. */
export const silentLogger: Logger = {
  debug: () => undefined,
  info: () => undefined,
  warn: () => undefined,
  error: () => undefined,
  child: () => silentLogger,
};

/** One written entry, as {@link consoleLogger}'s `write` receives it. */
export interface LogEntry {
  readonly level: LogLevel;
  readonly message: string;
  readonly fields: LogFields;
}

/** Options of {@link consoleLogger}. */
export interface ConsoleLoggerOptions {
  /** Lowest level written (default `warn`). */
  readonly level?: LogLevel;
  /** Where entries go (default: one line on stderr). */
  readonly write?: (entry: LogEntry) => void;
}

function jsonSafe(_key: string, value: unknown): unknown {
  if (typeof value === 'bigint') return value.toString();
  if (value instanceof Error) return { name: value.name, message: value.message, ...('code' in value ? { code: (value as { code: unknown }).code } : {}) };
  return value;
}

function stderrLine(entry: LogEntry): void {
  const fields = Object.keys(entry.fields).length === 0 ? '' : ` ${JSON.stringify(entry.fields, jsonSafe)}`;
  process.stderr.write(`samsa ${entry.level.toUpperCase()} ${entry.message}${fields}\n`);
}

/** A logger writing entries at or above `level` (default `warn`) as one line each on stderr, or to `write`. */
export function consoleLogger(options: ConsoleLoggerOptions = {}): Logger {
  const level = options.level ?? 'warn';
  if (!isLogLevel(level)) throw new TypeError(`logger level must be one of debug, info, warn, error; got ${String(level)}`);
  const write = options.write ?? stderrLine;
  const make = (base: LogFields): Logger => {
    const at =
      (entryLevel: LogLevel) =>
      (message: string, fields?: LogFields): void => {
        if (RANK[entryLevel] < RANK[level]) return;
        try {
          write({ level: entryLevel, message, fields: fields === undefined ? base : { ...base, ...fields } });
        } catch {
          // A broken sink must not break the node that logs.
        }
      };
    return { debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error'), child: (more) => make({ ...base, ...more }) };
  };
  return make({});
}

/** The part of a pino (or bunyan) logger that {@link fromPino} uses. */
export interface PinoLike {
  debug(fields: object, message: string): void;
  info(fields: object, message: string): void;
  warn(fields: object, message: string): void;
  error(fields: object, message: string): void;
  child(fields: object): PinoLike;
}

/** Adapts a pino-shaped logger (`(fields, message)` argument order) to samsa's {@link Logger}. */
export function fromPino(pino: PinoLike): Logger {
  const guard =
    (fn: (fields: object, message: string) => void) =>
    (message: string, fields?: LogFields): void => {
      try {
        fn(fields ?? {}, message);
      } catch {
        // As above: logging never breaks a node.
      }
    };
  return {
    debug: guard((f, m) => pino.debug(f, m)),
    info: guard((f, m) => pino.info(f, m)),
    warn: guard((f, m) => pino.warn(f, m)),
    error: guard((f, m) => pino.error(f, m)),
    child: (fields) => fromPino(pino.child(fields)),
  };
}

/** Turns a `logger` option (a Logger, a level for the console logger, or nothing) into a Logger. */
export function resolveLogger(option: Logger | LogLevel | undefined, fallback: Logger = consoleLogger()): Logger {
  if (option === undefined) return fallback;
  if (typeof option === 'string') return consoleLogger({ level: option });
  return option;
}
