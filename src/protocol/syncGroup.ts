/**
 * SyncGroup (Kafka API 14): the leader hands out the assignment, every member receives its own.
 * The coordinator may answer in place of the group with an error only.
 */
import type { RequestHeader, ResponseHeader } from './common.ts';

/** A member's assignment as sent by the leader. */
export interface SyncGroupAssignment {
  readonly memberId: string;
  /** The assigned partitions (plain data). */
  readonly assignment: unknown;
}

/** `syncGroup.request`: only the leader sends `assignments`; followers send `[]`. */
export interface SyncGroupRequest extends RequestHeader {
  readonly type: 'syncGroup.request';
  readonly groupId: string;
  readonly memberId: string;
  readonly generationId: number;
  readonly groupInstanceId?: string;
  /** Checked against the group's protocol type when present (SyncGroup v5+). */
  readonly protocolType?: string;
  /** Checked against the group's selected protocol when present (SyncGroup v5+). */
  readonly protocolName?: string;
  readonly assignments: readonly SyncGroupAssignment[];
}

/** `syncGroup.response`: the member's assignment (`null` when it has none). */
export interface SyncGroupResponse extends ResponseHeader {
  readonly type: 'syncGroup.response';
  readonly protocolType?: string | null;
  readonly protocolName?: string | null;
  readonly assignment?: unknown;
}
