/** ElectLeaders (Kafka API 43): preferred or unclean leader elections run by the controller. */
import type { ControllerResponseHeader, RequestHeader, TopicPartition, WireError } from './common.ts';

/** `electLeaders.request`: every partition when `partitions` is absent. */
export interface ElectLeadersRequest extends RequestHeader {
  readonly type: 'electLeaders.request';
  readonly electionType: 'preferred' | 'unclean';
  readonly partitions?: readonly TopicPartition[];
}

/** The outcome for one partition: its leader and epoch, or the error. */
export interface ElectionResult extends Partial<WireError> {
  readonly topic: string;
  readonly partition: number;
  readonly leader?: number;
  readonly leaderEpoch?: number;
}

/** `electLeaders.response` (no results with NOT_CONTROLLER). */
export interface ElectLeadersResponse extends ControllerResponseHeader {
  readonly type: 'electLeaders.response';
  readonly results?: readonly ElectionResult[];
}
