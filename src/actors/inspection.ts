/**
 * Inspection: one stream of everything that happens in a cluster, for tests, tooling and metrics.
 * It carries XState's own inspection events (`@xstate.event`, `@xstate.snapshot`, …) from every
 * actor, and samsa's domain events (`@samsa.leader.elected`, `@samsa.topic.created`, …).
 */
import type { InspectionEvent as XStateInspectionEvent } from 'xstate';

/** A samsa domain event; its `type` starts with `@samsa.`. */
export interface SamsaEvent {
  readonly type: `@samsa.${string}`;
  readonly [field: string]: unknown;
}

/** What `cluster.inspect` listeners receive. */
export type InspectionEvent = XStateInspectionEvent | SamsaEvent;

/** Fans inspection events out to listeners; cheap when nobody listens. */
export class InspectionSink {
  private readonly listeners = new Set<(event: InspectionEvent) => void>();

  /** Adds a listener; returns the function that removes it. */
  subscribe(listener: (event: InspectionEvent) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Publishes a samsa event. */
  notify(event: SamsaEvent): void {
    for (const l of this.listeners) l(event);
  }

  /** Options to pass to `createActor` so the actor's XState inspection reaches the listeners. */
  actorOptions(id: string): { id: string; inspect: (event: XStateInspectionEvent) => void } {
    return {
      id,
      inspect: (event) => {
        if (this.listeners.size === 0) return;
        for (const l of this.listeners) l(event);
      },
    };
  }
}
