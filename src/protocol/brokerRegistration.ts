/** BrokerRegistration (Kafka API 62): a broker process asks the active controller to join. */
import type { ControllerResponseHeader, RequestHeader } from './common.ts';

/** `brokerRegistration.request`. */
export interface BrokerRegistrationRequest extends RequestHeader {
  readonly type: 'brokerRegistration.request';
  readonly brokerId: number;
  /** New for every process start; a different one while the old session lives is a duplicate. */
  readonly incarnationId: string;
}

/** `brokerRegistration.response`: the broker epoch of this registration on success. */
export interface BrokerRegistrationResponse extends ControllerResponseHeader {
  readonly type: 'brokerRegistration.response';
  readonly brokerEpoch?: number;
}
