/**
 * One replica of one partition on one broker. As leader it appends produce batches to its log
 * and serves fetches below the high watermark; as follower (replication comes next) it refuses
 * client traffic with NOT_LEADER_OR_FOLLOWER. It owns its {@link PartitionLog}; results go back
 * to the hosting broker as emitted events, one per request (never one per record).
 */
import { assign, emit, enqueueActions, setup } from 'xstate';
import { KafkaProtocolError, OffsetOutOfRangeError, SamsaError } from '../../errors.ts';
import type { PartitionLog } from '../../log/partitionLog.ts';
import { wireError } from '../protocol.ts';
import type { WireError } from '../protocol.ts';

/** Input of a partition actor. */
export interface PartitionInput {
  readonly topic: string;
  readonly partition: number;
  readonly log: PartitionLog;
  readonly leaderEpoch: number;
  readonly role: 'leader' | 'follower';
}

interface PartitionContext {
  readonly topic: string;
  readonly partition: number;
  readonly log: PartitionLog;
  readonly role: 'leader' | 'follower';
  readonly leaderEpoch: number;
  /** The high watermark: with one in-sync replica, the log end offset. */
  readonly highWatermark: bigint;
}

/** Requests the broker forwards to a partition. */
export type PartitionEvent =
  | { type: 'produce.append'; requestId: number; records: Uint8Array; acks: 0 | 1 | -1; origin?: 'client' | 'coordinator' }
  | { type: 'fetch.read'; requestId: number; fetchOffset: bigint; maxBytes: number; currentLeaderEpoch: number; isolationLevel: 'read_uncommitted' | 'read_committed' }
  | { type: 'listOffsets.query'; requestId: number; timestamp: number; isolationLevel: 'read_uncommitted' | 'read_committed' }
  | { type: 'deleteRecords.apply'; requestId: number; offset: bigint }
  | { type: 'retention.tick' }
  | { type: 'become.leader'; leaderEpoch: number }
  | { type: 'become.follower'; leaderEpoch: number }
  | { type: 'stop' };

/** Results a partition emits to its broker. */
export type PartitionEmitted =
  | { type: 'produce.result'; requestId: number; topic: string; partition: number; baseOffset: bigint; lastOffset: bigint; logAppendTime: number; logStartOffset: bigint; error?: WireError }
  | { type: 'fetch.result'; requestId: number; topic: string; partition: number; records: Uint8Array; highWatermark: bigint; lastStableOffset: bigint; logStartOffset: bigint; error?: WireError }
  | { type: 'listOffsets.result'; requestId: number; topic: string; partition: number; offset: bigint; timestamp: number; error?: WireError }
  | { type: 'deleteRecords.result'; requestId: number; topic: string; partition: number; lowWatermark: bigint; error?: WireError }
  | { type: 'partition.appended'; topic: string; partition: number; highWatermark: bigint };

/** Turns a thrown error into its wire form. */
export function toWireError(e: unknown): WireError {
  if (KafkaProtocolError.isKafka(e)) return { error: e.code, errorCode: e.errorCode, message: e.message };
  if (SamsaError.is(e)) return { ...wireError('INVALID_REQUEST', e.message), error: e.code };
  return wireError('UNKNOWN_SERVER_ERROR', e instanceof Error ? e.message : String(e));
}

const EMPTY = new Uint8Array(0);

/** The partition replica machine: `leader`, `follower`, `stopped`. */
export const partitionMachine = setup({
  types: { context: {} as PartitionContext, input: {} as PartitionInput, events: {} as PartitionEvent, emitted: {} as PartitionEmitted },
}).createMachine({
  id: 'partition',
  context: ({ input }) => ({ topic: input.topic, partition: input.partition, log: input.log, role: input.role, leaderEpoch: input.leaderEpoch, highWatermark: input.log.logEndOffset }),
  initial: 'init',
  states: {
    init: {
      always: [{ guard: ({ context }) => context.role === 'leader', target: 'leader' }, { target: 'follower' }],
    },
    leader: {
      on: {
        'produce.append': {
          actions: enqueueActions(({ context, event, enqueue }) => {
            const { topic, partition, log } = context;
            try {
              const info = log.append(event.records, { leaderEpoch: context.leaderEpoch, origin: event.origin ?? 'client' });
              enqueue.assign({ highWatermark: log.logEndOffset });
              enqueue(emit({ type: 'produce.result', requestId: event.requestId, topic, partition, baseOffset: info.firstOffset, lastOffset: info.lastOffset, logAppendTime: info.logAppendTime, logStartOffset: info.logStartOffset }));
              enqueue(emit({ type: 'partition.appended', topic, partition, highWatermark: log.logEndOffset }));
            } catch (e) {
              enqueue(emit({ type: 'produce.result', requestId: event.requestId, topic, partition, baseOffset: -1n, lastOffset: -1n, logAppendTime: -1, logStartOffset: log.logStartOffset, error: toWireError(e) }));
            }
          }),
        },
        'fetch.read': {
          actions: enqueueActions(({ context, event, enqueue }) => {
            const { topic, partition, log, highWatermark } = context;
            const base = { requestId: event.requestId, topic, partition, highWatermark, lastStableOffset: highWatermark, logStartOffset: log.logStartOffset };
            if (event.currentLeaderEpoch >= 0 && event.currentLeaderEpoch !== context.leaderEpoch) {
              const name = event.currentLeaderEpoch < context.leaderEpoch ? 'FENCED_LEADER_EPOCH' : 'UNKNOWN_LEADER_EPOCH';
              enqueue(emit({ type: 'fetch.result', ...base, records: EMPTY, error: wireError(name, `fetch for ${topic}-${partition} carries leader epoch ${event.currentLeaderEpoch}; the leader is at ${context.leaderEpoch}`) }));
              return;
            }
            try {
              const { records } = log.read(event.fetchOffset, { maxBytes: event.maxBytes, maxOffset: highWatermark });
              enqueue(emit({ type: 'fetch.result', ...base, records }));
            } catch (e) {
              enqueue(emit({ type: 'fetch.result', ...base, records: EMPTY, error: toWireError(e) }));
            }
          }),
        },
        'listOffsets.query': {
          actions: enqueueActions(({ context, event, enqueue }) => {
            const { topic, partition, log, highWatermark } = context;
            try {
              const found = event.timestamp === -1 ? { offset: highWatermark, timestamp: -1 } : log.offsetForTimestamp(event.timestamp);
              const offset = found === undefined ? -1n : found.offset > highWatermark ? highWatermark : found.offset;
              enqueue(emit({ type: 'listOffsets.result', requestId: event.requestId, topic, partition, offset, timestamp: found?.timestamp ?? -1 }));
            } catch (e) {
              enqueue(emit({ type: 'listOffsets.result', requestId: event.requestId, topic, partition, offset: -1n, timestamp: -1, error: toWireError(e) }));
            }
          }),
        },
        'deleteRecords.apply': {
          actions: enqueueActions(({ context, event, enqueue }) => {
            const { topic, partition, log, highWatermark } = context;
            try {
              const target = event.offset === -1n ? highWatermark : event.offset;
              if (target > highWatermark) throw new OffsetOutOfRangeError(target, log.logStartOffset, highWatermark, `partition ${topic}-${partition} (DeleteRecords may not pass the high watermark)`);
              const lowWatermark = log.deleteRecordsBefore(target);
              enqueue(emit({ type: 'deleteRecords.result', requestId: event.requestId, topic, partition, lowWatermark }));
            } catch (e) {
              enqueue(emit({ type: 'deleteRecords.result', requestId: event.requestId, topic, partition, lowWatermark: -1n, error: toWireError(e) }));
            }
          }),
        },
        'retention.tick': {
          actions: ({ context }) => {
            context.log.deleteOldSegments(context.highWatermark);
            context.log.clean({ upperBoundOffset: context.highWatermark });
          },
        },
        'become.follower': { target: 'follower', actions: assign({ leaderEpoch: ({ event }) => event.leaderEpoch }) },
        'become.leader': { actions: assign({ leaderEpoch: ({ event }) => event.leaderEpoch }) },
      },
    },
    follower: {
      on: {
        'produce.append': { actions: emit(({ context, event }) => ({ type: 'produce.result' as const, requestId: event.requestId, topic: context.topic, partition: context.partition, baseOffset: -1n, lastOffset: -1n, logAppendTime: -1, logStartOffset: context.log.logStartOffset, error: wireError('NOT_LEADER_OR_FOLLOWER', `this broker is not the leader of ${context.topic}-${context.partition}`) })) },
        'become.leader': { target: 'leader', actions: assign({ leaderEpoch: ({ event }) => event.leaderEpoch }) },
        'become.follower': { actions: assign({ leaderEpoch: ({ event }) => event.leaderEpoch }) },
      },
    },
    stopped: { type: 'final' },
  },
  on: {
    stop: { target: '.stopped' },
  },
});
