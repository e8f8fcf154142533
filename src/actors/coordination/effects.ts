/**
 * The one way a pure decision becomes XState effects. Machines keep their rules in pure functions
 * that return a {@link Decision} — the context to hold next and a list of {@link Effect}s as plain
 * data — and a single `enqueueActions` action hands it to {@link enqueueDecision}, which assigns
 * the context and enqueues one action per effect, in order. Used by the classic group machine,
 * the transaction machine and the controller machine, so "what happens" is testable without an
 * actor and "how it is carried out" is written once.
 *
 * Effects run as XState actions of the transition that decided them: emitted events and sends
 * happen after the transition's context is computed, delayed self-events run on the actor's clock
 * (a `SimulatedClock` drives them exactly), and a cancelled id never fires.
 */
import type { EventObject } from 'xstate';
import type { Message, NodeId } from '../../transport/transport.ts';

/** An event for an inspection port (e.g. `@samsa.*` domain events). */
export interface NotifiedEvent {
  readonly type: string;
  readonly [field: string]: unknown;
}

/**
 * One thing a decision asks the actor to do, as plain data. `TSelf` are the events the actor may
 * schedule for itself, `TEmitted` the events it emits to its subscribers (`actor.on(...)`).
 */
export type Effect<TSelf extends EventObject, TEmitted extends EventObject = never> =
  /** Emit `event` to the actor's subscribers (XState `emit`). */
  | { readonly kind: 'emit'; readonly event: TEmitted }
  /** Raise `event` to the actor itself after `delayMs` on its clock; a later `cancel` of `id` drops it. */
  | { readonly kind: 'schedule'; readonly event: TSelf; readonly delayMs: number; readonly id?: string }
  /** Cancel the scheduled event with `id`, if it has not fired yet. */
  | { readonly kind: 'cancel'; readonly id: string }
  /** Send `message` to another node through the actor's transport port ({@link EffectPorts.send}). */
  | { readonly kind: 'send'; readonly to: NodeId; readonly message: Message }
  /** Publish `event` through the actor's inspection port ({@link EffectPorts.notify}). */
  | { readonly kind: 'notify'; readonly event: NotifiedEvent };

/**
 * What a pure handler decided for one event: the context changes to hold (merged into the
 * current context; absent when nothing changes) and the effects to carry out, in order.
 */
export interface Decision<TContext, TSelf extends EventObject, TEmitted extends EventObject = never> {
  readonly context?: Partial<TContext>;
  readonly effects: readonly Effect<TSelf, TEmitted>[];
}

/** Creators of {@link Effect}s, so decisions read as sentences. */
export const effect = {
  /** See {@link Effect} `emit`. */
  emit: <TEmitted extends EventObject>(event: TEmitted) => ({ kind: 'emit', event }) as const,
  /** See {@link Effect} `schedule`. */
  schedule: <TSelf extends EventObject>(event: TSelf, delayMs: number, id?: string) => ({ kind: 'schedule', event, delayMs, ...(id === undefined ? {} : { id }) }) as const,
  /** See {@link Effect} `cancel`. */
  cancel: (id: string) => ({ kind: 'cancel', id }) as const,
  /** See {@link Effect} `send`. */
  send: (to: NodeId, message: Message) => ({ kind: 'send', to, message }) as const,
  /** See {@link Effect} `notify`. */
  notify: (event: NotifiedEvent) => ({ kind: 'notify', event }) as const,
};

/** Where `send` and `notify` effects go: the actor's transport and inspection ports. */
export interface EffectPorts {
  readonly send?: (to: NodeId, message: Message) => void;
  readonly notify?: (event: NotifiedEvent) => void;
}

/**
 * The part of XState's `enqueueActions` enqueuer a decision needs; the `enqueue` argument of any
 * machine's `enqueueActions` satisfies it.
 */
export interface DecisionQueue<TContext, TSelf extends EventObject, TEmitted extends EventObject> {
  (action: () => void): void;
  assign(assigner: () => Partial<TContext>): void;
  raise(event: TSelf, options: { readonly id?: string; readonly delay?: number }): void;
  cancel(id: string): void;
  emit(event: TEmitted): void;
}

/**
 * Carries out `decision` inside an `enqueueActions` action: assigns its context changes first,
 * then enqueues its effects in order. A `send` or `notify` effect without its port is a bug of
 * the machine and throws when it runs.
 */
export function enqueueDecision<TContext, TSelf extends EventObject, TEmitted extends EventObject>(
  enqueue: NoInfer<DecisionQueue<TContext, TSelf, TEmitted>>,
  decision: Decision<TContext, TSelf, TEmitted>,
  ports: EffectPorts = {},
): void {
  const changes = decision.context;
  // A function assigner: the changes are taken as they are (a property assigner would call any
  // function-valued field, and contexts hold ports).
  if (changes !== undefined) enqueue.assign(() => changes);
  for (const e of decision.effects) {
    switch (e.kind) {
      case 'emit':
        enqueue.emit(e.event);
        break;
      case 'schedule':
        enqueue.raise(e.event, e.id === undefined ? { delay: e.delayMs } : { id: e.id, delay: e.delayMs });
        break;
      case 'cancel':
        enqueue.cancel(e.id);
        break;
      case 'send': {
        const { to, message } = e;
        enqueue(() => portOf(ports.send, 'send')(to, message));
        break;
      }
      case 'notify': {
        const event = e.event;
        enqueue(() => portOf(ports.notify, 'notify')(event));
        break;
      }
    }
  }
}

function portOf<T>(port: T | undefined, name: string): T {
  if (port === undefined) throw new Error(`a decision asked for a "${name}" effect but the machine gave enqueueDecision no ${name} port; this is a bug in the machine`);
  return port;
}
