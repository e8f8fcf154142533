/**
 * What a classic group persists in `__consumer_offsets` (Kafka's GroupMetadataValue record), as
 * plain data. Its own module because both sides of the group need it: the group's data and rules
 * (`groupState.ts`, which builds and restores it) and the group's messages (`group.events.ts`,
 * which carry it to the host that writes it).
 */

/** One member as Kafka persists it in the GroupMetadata record of `__consumer_offsets`. */
export interface GroupMetadataMember {
  readonly memberId: string;
  readonly groupInstanceId: string | null;
  readonly clientId: string;
  readonly clientHost: string;
  readonly rebalanceTimeout: number;
  readonly sessionTimeout: number;
  /** The member's metadata for the selected protocol. */
  readonly subscription: unknown;
  readonly assignment: unknown;
}

/** What Kafka persists for a classic group (the GroupMetadataValue record), as plain data. */
export interface GroupMetadata {
  readonly groupId: string;
  readonly protocolType: string | null;
  readonly generation: number;
  readonly protocol: string | null;
  readonly leader: string | null;
  readonly members: readonly GroupMetadataMember[];
}
