/**
 * Inspection: one stream of everything that happens in a cluster, for tests, tooling and metrics.
 * It carries XState's own inspection events (`@xstate.event`, `@xstate.snapshot`, …) from every
 * actor, and samsa's domain events (`@samsa.leader.elected`, `@samsa.topic.created`, …).
 */
import type { InspectionEvent as XStateInspectionEvent } from 'xstate';
import type { Logger } from '../logger.ts';
import { logEvent } from './eventLog.ts';

/** A samsa domain event; its `type` starts with `@samsa.`. */
export interface SamsaEvent {
  readonly type: `@samsa.${string}`;
  readonly [field: string]: unknown;
}

/** What `cluster.inspect` listeners receive. */
export type InspectionEvent = XStateInspectionEvent | SamsaEvent;

/** What {@link InspectionSink.track} needs of an actor. */
interface Inspectable {
  readonly id?: string;
  readonly system: { inspect(observer: (event: XStateInspectionEvent) => void): { unsubscribe(): void } };
  subscribe(observer: { complete: () => void; error: (error: unknown) => void }): unknown;
}

/**
 * Fans inspection events out to listeners. Free when nobody listens: XState builds an inspection
 * event for every event, snapshot and action of an actor that has an inspection observer, so the
 * sink observes the actors it tracks only while at least one listener is subscribed.
 */
export class InspectionSink {
  private readonly listeners = new Set<(event: InspectionEvent) => void>();
  /** Live tracked actors' systems, with their inspection subscription while there are listeners. */
  private readonly systems = new Map<Inspectable['system'], { unsubscribe(): void } | undefined>();
  private readonly forward = (event: XStateInspectionEvent): void => {
    for (const l of this.listeners) l(event);
  };

  /** Adds a listener; returns the function that removes it. */
  subscribe(listener: (event: InspectionEvent) => void): () => void {
    this.listeners.add(listener);
    if (this.listeners.size === 1) for (const system of this.systems.keys()) this.systems.set(system, system.inspect(this.forward));
    return () => {
      if (!this.listeners.delete(listener) || this.listeners.size > 0) return;
      for (const [system, subscription] of this.systems) {
        subscription?.unsubscribe();
        this.systems.set(system, undefined);
      }
    };
  }

  /** @param logger where samsa events are also written as log lines (none: not logged). */
  constructor(private readonly logger?: Logger) {}

  /** Publishes a samsa event (and logs it). */
  notify(event: SamsaEvent): void {
    if (this.logger !== undefined) logEvent(this.logger, event);
    for (const l of this.listeners) l(event);
  }

  /**
   * Sends an actor's XState inspection events to the listeners from now until it stops. Call it
   * before `start()` so the listeners see the actor start.
   */
  track(actor: Inspectable): void {
    const system = actor.system;
    this.systems.set(system, this.listeners.size > 0 ? system.inspect(this.forward) : undefined);
    const done = (): void => {
      this.systems.get(system)?.unsubscribe();
      this.systems.delete(system);
    };
    // An observer without an error handler makes XState rethrow an actor's error from a timer (an
    // uncaught exception): here it becomes an event instead (its owner may handle it as well).
    actor.subscribe({
      complete: done,
      error: (error: unknown) => {
        done();
        this.notify({ type: '@samsa.actor.failed', actor: actor.id, error: error instanceof Error ? error.message : String(error) });
      },
    });
  }
}
