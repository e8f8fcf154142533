/**
 * BrokerHeartbeat (Kafka API 63): sent every `broker.heartbeat.interval.ms` to keep the broker's
 * session alive; a fenced broker that has caught up is unfenced by it.
 */
import type { ControllerResponseHeader, RequestHeader } from './common.ts';

/** `brokerHeartbeat.request`. */
export interface BrokerHeartbeatRequest extends RequestHeader {
  readonly type: 'brokerHeartbeat.request';
  readonly brokerId: number;
  readonly brokerEpoch: number;
  /** Version of the newest metadata image the broker applied. */
  readonly currentMetadataVersion: number;
  /**
   * Kafka's `WantShutDown`: the broker is stopping (controlled shutdown). The controller moves its
   * leaderships away and takes it out of every ISR before the broker goes.
   */
  readonly wantShutDown?: boolean;
}

/** `brokerHeartbeat.response`: whether the broker is fenced now. */
export interface BrokerHeartbeatResponse extends ControllerResponseHeader {
  readonly type: 'brokerHeartbeat.response';
  readonly isFenced?: boolean;
  /** Kafka's `ShouldShutDown`: the broker leads nothing and sits in no ISR any more; it may stop. */
  readonly shouldShutDown?: boolean;
}
