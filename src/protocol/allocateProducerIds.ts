/**
 * AllocateProducerIds (Kafka API 67): a broker asks the active controller for the next block of
 * producer ids, recorded in the metadata log before the answer so no id is handed out twice.
 */
import type { ControllerResponseHeader, RequestHeader } from './common.ts';

/** `allocateProducerIds.request`. */
export interface AllocateProducerIdsRequest extends RequestHeader {
  readonly type: 'allocateProducerIds.request';
  readonly brokerId: number;
  readonly brokerEpoch: number;
}

/** `allocateProducerIds.response`: ids `producerIdStart .. producerIdStart + producerIdLen - 1`. */
export interface AllocateProducerIdsResponse extends ControllerResponseHeader {
  readonly type: 'allocateProducerIds.response';
  readonly producerIdStart?: bigint;
  readonly producerIdLen?: number;
}
