/**
 * Turns samsa's domain events into log lines, so that what tests and tooling see through
 * `cluster.inspect` a person sees in the log: fencing, elections, ISR changes, rebalances,
 * truncation and recovery. One table decides each event's level; events not in it log at debug.
 */
import type { Logger, LogLevel } from '../logger.ts';

/** Level and wording per event type (without its `@samsa.` prefix). */
const EVENT_LOG: Readonly<Record<string, readonly [LogLevel, string]>> = {
  'broker.fenced': ['warn', 'broker fenced: its session expired or it stopped; its partitions move to other replicas'],
  'broker.crashed': ['warn', 'broker crashed'],
  'controller.crashed': ['warn', 'controller crashed'],
  'isr.shrunk': ['warn', 'ISR shrunk: a follower fell behind or its broker was fenced'],
  'replica.truncated': ['warn', 'replica truncated its log to match the leader'],
  'replica.appendFailed': ['warn', 'follower refused what the leader sent (corrupt batch); nothing appended, fetching again after replica.fetch.backoff.ms'],
  'log.recovered': ['warn', 'log recovered at open: data after the last valid batch was dropped'],
  'log.offline': ['error', 'partition log offline on this broker: storage error'],
  'actor.failed': ['error', 'actor stopped by an error it did not handle'],
  'log.deleteFailed': ['error', 'the files of a deleted partition could not all be removed'],
  'group.memberRemoved': ['info', 'group member removed'],
  'broker.registered': ['info', 'broker registered'],
  'broker.unfenced': ['info', 'broker unfenced'],
  'controller.activated': ['info', 'controller active'],
  'controller.resigned': ['info', 'controller resigned'],
  'leader.changed': ['info', 'partition leader changed'],
  'leader.elected': ['info', 'became partition leader'],
  'isr.expanded': ['info', 'ISR expanded'],
  'group.rebalanceStarted': ['info', 'group rebalance started'],
  'group.stabilized': ['info', 'group stable'],
  'topic.created': ['info', 'topic created'],
  'topic.deleted': ['info', 'topic deleted'],
};

/** Logs one samsa event through `logger` at the level its type calls for. */
export function logEvent(logger: Logger, event: { readonly type: string; readonly [field: string]: unknown }): void {
  const name = event.type.slice('@samsa.'.length);
  const [level, message] = EVENT_LOG[name] ?? (['debug', name] as const);
  const { type: _type, ...fields } = event;
  // An aborted transaction is worth a line; a committed one is routine.
  if (name === 'txn.completed' && fields.committed === false) {
    logger.info('transaction aborted', fields);
    return;
  }
  logger[level](message, { event: name, ...fields });
}
