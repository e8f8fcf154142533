/**
 * The group's committed offsets over the coordinator protocol: OffsetFetch (with KIP-447's stable
 * offsets) and OffsetCommit, each retrying retriable errors until a deadline as Kafka's
 * `fetchCommittedOffsets` and `commitSync` do. The consumer decides what to commit; this file
 * only carries it, so the consumer façade stays about positions and polling.
 */
import type { Clock } from '../../clock.ts';
import { RebalanceInProgressError, errorFromJSON } from '../../errors.ts';
import type { Logger } from '../../logger.ts';
import type { Message } from '../../transport/transport.ts';
import { backoffWithin, isRetriableCode } from '../retry.ts';
import type { CallDeadline } from '../retry.ts';
import type { TopicPartition } from './assignors/index.ts';
import type { GroupMembership } from './membership.ts';

/** An offset per partition: the next offset to read. */
export type PartitionOffset = TopicPartition & { offset: bigint };

/** A member identity an OffsetCommit is sent with. */
export interface CommitGeneration {
  readonly memberId: string;
  readonly generationId: number;
}

/** What both requests need from their consumer. */
export interface GroupOffsetsContext {
  readonly clock: Clock;
  readonly membership: GroupMembership;
  readonly groupId: string;
  readonly groupInstanceId: string | undefined;
  readonly retryBackoffMs: number;
  readonly logger: Logger | undefined;
}

type OffsetFetchResponse = Message & { error?: string; message?: string; partitions: Array<{ topic: string; partition: number; offset: bigint; error?: string; message?: string }> };
type OffsetCommitResponse = Message & { error?: string; message?: string; partitions?: Array<{ topic: string; partition: number; error?: string; message?: string }> };

/**
 * One OffsetFetch: the offsets, and the partitions whose offsets a transaction still holds
 * (UNSTABLE_OFFSET_COMMIT, asked for when `requireStable`). Retriable errors (coordinator moved,
 * loading, unreachable) are retried until `deadline`, then a TimeoutError.
 */
export async function fetchCommittedOffsets(ctx: GroupOffsetsContext, partitions: readonly TopicPartition[], requireStable: boolean, deadline: CallDeadline): Promise<{ offsets: PartitionOffset[]; unstable: TopicPartition[] }> {
  for (;;) {
    const response = await ctx.membership.coordinatorRequest<OffsetFetchResponse>({ type: 'offsetFetch.request', partitions, requireStable }, { deadline });
    const failed = response.error !== undefined ? { error: response.error, message: response.message ?? `offset fetch for group "${ctx.groupId}" failed` } : response.partitions.filter((p) => p.error !== undefined && p.error !== 'UNSTABLE_OFFSET_COMMIT').map((p) => ({ error: p.error as string, message: p.message ?? `offset fetch for ${p.topic}-${p.partition} failed` }))[0];
    if (failed !== undefined) {
      if (!isRetriableCode(failed.error)) throw errorFromJSON({ name: 'KafkaProtocolError', code: failed.error, message: failed.message, retriable: false });
      ctx.logger?.debug('offset fetch failed; retrying', { groupId: ctx.groupId, error: failed.error });
      await backoffWithin(ctx.clock, ctx.retryBackoffMs, deadline, failed.error);
      continue;
    }
    const unstable = response.partitions.filter((p) => p.error === 'UNSTABLE_OFFSET_COMMIT').map((p) => ({ topic: p.topic, partition: p.partition }));
    return { offsets: response.partitions.filter((p) => p.error === undefined).map((p) => ({ topic: p.topic, partition: p.partition, offset: p.offset })), unstable };
  }
}

/** How one commit is sent. */
export interface CommitOptions {
  /** Retry retriable errors until `deadline` (commitSync); false sends once (commitAsync: a retry could overtake a later commit). */
  readonly retry: boolean;
  readonly deadline: CallDeadline;
  /** The identity to commit with now (a subscribed member's current generation; none for manual assignment). */
  readonly generation: () => CommitGeneration;
  /** Whether the partitions being committed are still this consumer's. */
  readonly stillOwned: () => boolean;
  /** Whether the consumer is a subscribed group member (its failures may ask for a rejoin). */
  readonly subscribed: boolean;
}

/**
 * OffsetCommit of `list`. A retry never outlives the ownership it started with: after a
 * rebalance another member may have committed newer offsets, which a retry must not overwrite.
 * @throws KafkaProtocolError for the group's refusal (ILLEGAL_GENERATION, UNKNOWN_MEMBER_ID,
 *   REBALANCE_IN_PROGRESS…); TimeoutError when retriable errors last until the deadline.
 */
export async function commitOffsets(ctx: GroupOffsetsContext, list: readonly PartitionOffset[], options: CommitOptions): Promise<void> {
  let first: CommitGeneration | undefined;
  for (;;) {
    const generation = options.generation();
    if (first !== undefined && (generation.generationId !== first.generationId || generation.memberId !== first.memberId || !options.stillOwned())) {
      throw new RebalanceInProgressError(ctx.groupId, `the group "${ctx.groupId}" rebalanced while this commit was being retried; its partitions may have moved, so it is not sent again`);
    }
    first ??= generation;
    const response = await ctx.membership.coordinatorRequest<OffsetCommitResponse>(
      {
        type: 'offsetCommit.request',
        memberId: generation.memberId,
        generationId: generation.generationId,
        ...(ctx.groupInstanceId === undefined ? {} : { groupInstanceId: ctx.groupInstanceId }),
        partitions: list.map((o) => ({ topic: o.topic, partition: o.partition, offset: o.offset, metadata: '' })),
      },
      { deadline: options.deadline, once: !options.retry },
    );
    const error = response.error ?? response.partitions?.find((p) => p.error !== undefined)?.error;
    if (error === undefined) return;
    if (options.retry && isRetriableCode(error)) {
      ctx.logger?.debug('offset commit failed; retrying', { groupId: ctx.groupId, error });
      await backoffWithin(ctx.clock, ctx.retryBackoffMs, options.deadline, error);
      continue;
    }
    if (options.subscribed) ctx.membership.commitFailed(error, generation);
    throw errorFromJSON({ name: 'KafkaProtocolError', code: error, message: response.message ?? `commit for group "${ctx.groupId}" failed: ${error}`, retriable: false });
  }
}
