/**
 * `quorum.message`: the envelope in which Raft messages of the `__cluster_metadata` quorum travel
 * between controllers (voters) and brokers (observers).
 */
import type { RaftMessage } from './raft/index.ts';

/**
 * A Raft message between replicas of the metadata log; `T` is the payload of data entries (a
 * metadata record). Raft handles its own loss and timeouts, so it carries no correlation of its own.
 */
export interface QuorumMessage<T = unknown> {
  readonly type: 'quorum.message';
  readonly message: RaftMessage<T>;
}
