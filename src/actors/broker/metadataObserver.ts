/**
 * The broker's replica of the `__cluster_metadata` log, as a KRaft broker's: a Raft observer that
 * fetches the log from the quorum leader (or the leader's snapshot and the rest) and replays what
 * is committed into the metadata image. A new process starts from an empty log and fetches all of
 * it. The image is handed to the broker, which applies it only once it holds the broker's own
 * current registration.
 */
import type { Clock, TimerHandle } from '../../clock.ts';
import type { ClusterMetadataImage } from '../../protocol/index.ts';
import type { Random } from '../../random.ts';
import type { Message, NodeId } from '../../transport/transport.ts';
import { controllerNode } from '../../transport/transport.ts';
import { emptyImage, replayMetadata } from '../metadataLog/image.ts';
import { quorumIdOf, quorumNodeOf } from '../metadataLog/quorum.ts';
import type { MetadataRecord } from '../metadataLog/records.ts';
import { createRaftDurableState, RaftNode } from '../metadataLog/raft/raftNode.ts';
import type { RaftMessage, RaftOutput } from '../metadataLog/raft/raftNode.ts';

/** What the observer needs of its broker. */
export interface MetadataObserverContext {
  /** The broker's node (its Raft replica id is derived from it). */
  readonly node: NodeId;
  /** Every controller of the quorum: the voters. */
  readonly controllers: readonly NodeId[];
  readonly clusterId: string;
  readonly clock: Clock;
  /** Seeded source for the observer (which voter to ask first). */
  readonly random: Random;
  readonly send: (to: NodeId, message: Message) => void;
  /** Whether the broker process is up. */
  readonly isRunning: () => boolean;
  /** The quorum leader (the active controller's node) changed. */
  readonly onLeader: (controller: NodeId) => void;
  /** Newly committed metadata was replayed into {@link MetadataObserver.image}. */
  readonly onReplayed: () => void;
}

/** See the module comment. */
export class MetadataObserver {
  private log: RaftNode<MetadataRecord> | undefined;
  private timer: TimerHandle | undefined;
  private replayed: ClusterMetadataImage | undefined;

  constructor(private readonly context: MetadataObserverContext) {}

  /** The image replayed from the committed metadata log; undefined while stopped. */
  get image(): ClusterMetadataImage | undefined {
    return this.replayed;
  }

  /** A fresh observer replica: it fetches the whole log (or the leader's snapshot and the rest). */
  start(): void {
    const { context } = this;
    const voters = context.controllers.map((node) => quorumIdOf(node) as number);
    this.replayed = emptyImage(context.clusterId, -1);
    this.log = new RaftNode<MetadataRecord>({ id: quorumIdOf(context.node) as number, voters, observer: true, random: context.random.fork(), durable: createRaftDurableState<MetadataRecord>() });
    this.onOutput(this.log.start(context.clock.now()));
  }

  /** Forgets the replica (the process crashed or stopped). */
  stop(): void {
    if (this.timer !== undefined) this.context.clock.clearTimeout(this.timer);
    this.timer = undefined;
    this.log = undefined;
    this.replayed = undefined;
  }

  /** A `quorum.message` from node `from`. */
  receive(from: NodeId, message: Message): void {
    const sender = quorumIdOf(from);
    if (sender !== undefined && this.log !== undefined) this.onOutput(this.log.receive(sender, message.message as RaftMessage<MetadataRecord>, this.context.clock.now()));
  }

  private onOutput(output: RaftOutput<MetadataRecord>): void {
    const { context } = this;
    const log = this.log;
    if (log === undefined || !context.isRunning()) return;
    for (const { to, message } of output.messages) context.send(quorumNodeOf(to), { type: 'quorum.message', message });
    if (output.leaderChange?.leaderId !== undefined) context.onLeader(controllerNode(output.leaderChange.leaderId));
    if (output.committed.length > 0 || output.loadSnapshot !== undefined) {
      this.replayed = replayMetadata(this.replayed ?? emptyImage(context.clusterId, -1), output);
      context.onReplayed();
    }
    if (this.timer !== undefined) context.clock.clearTimeout(this.timer);
    this.timer = undefined;
    const next = output.nextDeadlineMs;
    if (next !== undefined) {
      this.timer = context.clock.setTimeout(() => {
        this.timer = undefined;
        if (this.log === log) this.onOutput(log.tick(context.clock.now()));
      }, Math.max(0, next - context.clock.now()));
    }
  }
}
