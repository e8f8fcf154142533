/**
 * `--config key=value` of the `samsa` command, under Kafka's own keys: a broker's settings
 * (`broker.session.timeout.ms`, `num.partitions`, `group.initial.rebalance.delay.ms`, …) and a
 * controller's (`controller.quorum.election.timeout.ms`, `broker.session.timeout.ms`). A key samsa
 * does not know is refused with the list of those it does, never ignored.
 */
import { InvalidArgumentError } from '../errors.ts';
import { BROKER_CONFIG_DEFAULTS } from '../actors/broker/broker.ts';
import type { BrokerConfig } from '../actors/broker/broker.ts';
import { parseRaftConfig } from '../actors/metadataLog/raft/config.ts';
import type { RaftConfig } from '../actors/metadataLog/raft/config.ts';
import { DEFAULT_GROUP_CONFIG } from '../actors/groupCoordinator/groupState.ts';

/** `broker.session.timeout.ms` → `brokerSessionTimeoutMs`. */
function camel(key: string): string {
  return key.split('.').map((part, i) => (i === 0 ? part : part.charAt(0).toUpperCase() + part.slice(1))).join('');
}

/** `brokerSessionTimeoutMs` → `broker.session.timeout.ms`. */
function dotted(name: string): string {
  return name.replace(/[A-Z]/g, (c) => `.${c.toLowerCase()}`);
}

/** Splits `key=value` pairs; the value as a number or boolean when it is one. */
function pairs(settings: readonly string[]): Array<{ key: string; value: string | number | boolean }> {
  return settings.map((setting) => {
    const at = setting.indexOf('=');
    if (at <= 0) throw new InvalidArgumentError('config', `expected key=value, such as broker.session.timeout.ms=6000, got "${setting}"`);
    const key = setting.slice(0, at).trim();
    const raw = setting.slice(at + 1).trim();
    const value = raw === 'true' ? true : raw === 'false' ? false : raw !== '' && Number.isFinite(Number(raw)) ? Number(raw) : raw;
    return { key, value };
  });
}

/** The broker's defaults by camelCase name: what type each setting takes. */
const BROKER_DEFAULTS = new Map<string, unknown>(Object.entries(BROKER_CONFIG_DEFAULTS));

/** Broker keys: every scalar of {@link BrokerConfig} (group coordinator keys and `log.*` topic defaults apart). */
const BROKER_KEYS = [...BROKER_DEFAULTS].filter(([, v]) => typeof v === 'number' || typeof v === 'boolean').map(([name]) => dotted(name));

/**
 * A broker's settings from Kafka keys. `log.<topic key>` (e.g. `log.retention.ms`) sets that
 * topic config's default for the broker's logs, as Kafka's broker-level `log.*` keys do.
 * @throws InvalidArgumentError naming an unknown key or a value of the wrong type.
 */
export function brokerConfigFromKafkaKeys(settings: readonly string[]): Partial<BrokerConfig> {
  const config: Record<string, unknown> = {};
  const group: Record<string, unknown> = {};
  const logDefaults: Record<string, unknown> = {};
  for (const { key, value } of pairs(settings)) {
    const name = camel(key);
    const known = BROKER_DEFAULTS.get(name);
    if (BROKER_KEYS.includes(key)) {
      if (typeof value !== typeof known) throw new InvalidArgumentError('config', `${key} takes a ${typeof known}, got "${String(value)}"`);
      config[name] = value;
    } else if (key in DEFAULT_GROUP_CONFIG) {
      if (typeof value !== 'number') throw new InvalidArgumentError('config', `${key} takes a number, got "${String(value)}"`);
      group[key] = value;
    } else if (key.startsWith('log.') && key.length > 4) {
      logDefaults[key.slice(4)] = value;
    } else {
      throw new InvalidArgumentError('config', `unknown broker setting "${key}"; known: ${[...BROKER_KEYS, ...Object.keys(DEFAULT_GROUP_CONFIG), 'log.<topic config>'].join(', ')}`);
    }
  }
  return { ...config, ...(Object.keys(group).length === 0 ? {} : { groupConfig: group }), ...(Object.keys(logDefaults).length === 0 ? {} : { logDefaults }) } as Partial<BrokerConfig>;
}

/**
 * A controller's settings from Kafka keys: `controller.quorum.*` and `broker.session.timeout.ms`.
 * @throws InvalidArgumentError naming an unknown key or a bad value.
 */
export function controllerConfigFromKafkaKeys(settings: readonly string[]): { quorumConfig?: RaftConfig; brokerSessionTimeoutMs?: number } {
  const quorum: Record<string, unknown> = {};
  let brokerSessionTimeoutMs: number | undefined;
  for (const { key, value } of pairs(settings)) {
    if (key === 'broker.session.timeout.ms') {
      if (typeof value !== 'number') throw new InvalidArgumentError('config', `${key} takes a number of milliseconds, got "${String(value)}"`);
      brokerSessionTimeoutMs = value;
    } else if (key.startsWith('controller.quorum.')) quorum[key] = value;
    else throw new InvalidArgumentError('config', `unknown controller setting "${key}"; known: broker.session.timeout.ms and controller.quorum.* (election.timeout.ms, fetch.timeout.ms, election.backoff.max.ms, request.timeout.ms, retry.backoff.ms)`);
  }
  const quorumConfig = Object.keys(quorum).length === 0 ? undefined : (quorum as RaftConfig);
  // Unknown controller.quorum.* keys and bad values are refused by the quorum's own parser.
  if (quorumConfig !== undefined) parseRaftConfig(quorumConfig);
  return { ...(quorumConfig === undefined ? {} : { quorumConfig }), ...(brokerSessionTimeoutMs === undefined ? {} : { brokerSessionTimeoutMs }) };
}
