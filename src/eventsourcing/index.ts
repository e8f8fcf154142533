/** Event sourcing on the log: the event store, aggregates, and their types. */
export { ANY, NO_STREAM, STREAM_EXISTS, jsonEventSerde, upcastChain } from './events.ts';
export type { EventMetadata, EventPosition, EventSerde, ExpectedVersion, NewEvent, RecordedEvent, UpcastChain, Upcasters } from './events.ts';
export { createEventStore } from './eventStore.ts';
export type { AppendOptions, AppendResult, EventStore, EventStoreOptions, EventStoreTransaction, ReadStreamOptions, ReadStreamResult } from './eventStore.ts';
export { defineAggregate } from './aggregate.ts';
export type { Aggregate, AggregateDefinition, HandleOptions, HandleResult, LoadedAggregate, SnapshotPolicy } from './aggregate.ts';
export type { SubscribeOptions, SubscriptionMessage } from './subscription.ts';
