/**
 * The one name for "partition `partition` of topic `topic`", shared by every layer (the
 * transaction state, the protocol, the clients' assignors and the streams above them).
 */

/** One partition of one topic: plain data, safe to send and to compare field by field. */
export interface TopicPartition {
  readonly topic: string;
  readonly partition: number;
}
