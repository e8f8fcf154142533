/**
 * `AggregateSpec` (in `samsa/testing`): given-when-then tests of an aggregate's decider, without a
 * cluster. `given(events)` folds past events through `evolve`, `when(command)` runs `decide`, and
 * `then(events)`, `thenThrows(ErrorClass | predicate)` or `thenNothing()` check the outcome; a
 * mismatch throws an Error describing both sides. By default the command, every event and the state
 * must survive a JSON round trip (they will be stored and sent as JSON), so a Date, a Map or a
 * class instance is caught here rather than in production; `{ roundTrip: false }` turns that off.
 * `laws(events)` checks the laws every aggregate must keep over a history (feed it histories from
 * a property-based generator such as fast-check): `evolve` is deterministic, and a snapshot taken
 * anywhere (through the aggregate's snapshot serialization) plus the tail folds to the same state
 * as the full replay.
 */
import { isDeepStrictEqual } from 'node:util';
import type { Aggregate } from './aggregate.ts';
import type { NewEvent, RecordedEvent } from './events.ts';

/** Options of {@link AggregateSpec.for}. */
export interface AggregateSpecOptions {
  /** Check that commands, events and states survive a JSON round trip (default true). */
  readonly roundTrip?: boolean;
}

const show = (value: unknown): string => JSON.stringify(value, (_k, v: unknown) => (typeof v === 'bigint' ? `${v}n` : v)) ?? String(value);

function roundTripped(what: string, value: unknown): void {
  let back: unknown;
  try {
    back = JSON.parse(JSON.stringify(value) ?? 'null');
  } catch (e) {
    throw new Error(`AggregateSpec: the ${what} cannot be written as JSON (${e instanceof Error ? e.message : String(e)}): ${show(value)}`);
  }
  if (!isDeepStrictEqual(back, value)) throw new Error(`AggregateSpec: the ${what} does not survive a JSON round trip (a Date, Map, bigint, undefined field or class instance?): ${show(value)} comes back as ${show(back)}`);
}

/** The outcome checks after `when`. */
export interface AggregateSpecThen<Event extends NewEvent> {
  /** The command produced exactly these events (type, data and, when given, schema version and metadata). */
  then(expected: Event | readonly Event[]): void;
  /** The command was refused with this error class (or an error the predicate accepts). */
  thenThrows(expected: (new (...args: never[]) => Error) | ((error: unknown) => boolean)): void;
  /** The command produced no event. */
  thenNothing(): void;
}

/** A spec under construction; see the module comment. */
export class AggregateSpec<State, Command, Event extends NewEvent> {
  private constructor(
    private readonly aggregate: Aggregate<State, Command, Event>,
    private readonly options: AggregateSpecOptions,
    private readonly history: readonly Event[],
  ) {}

  /** A spec of `aggregate`. */
  static for<State, Command, Event extends NewEvent>(aggregate: Aggregate<State, Command, Event>, options: AggregateSpecOptions = {}): AggregateSpec<State, Command, Event> {
    return new AggregateSpec(aggregate, options, []);
  }

  /** The events already in the stream. */
  given(events: readonly Event[]): AggregateSpec<State, Command, Event> {
    return new AggregateSpec(this.aggregate, this.options, [...this.history, ...events]);
  }

  /**
   * Checks the aggregate's laws over `events` (a history): folding twice gives equal states, and
   * for every split point a snapshot of the state there (through `snapshot.toJSON`/`fromJSON`, or
   * JSON) plus the rest folds to the full replay's state. Throws an Error naming the first break.
   */
  laws(events: readonly Event[]): void {
    const fold = (list: readonly Event[], from: State, offset: number): State => list.reduce((state, event, i) => this.aggregate.evolve(state, recorded(event, offset + i + 1)), from);
    const full = fold(events, this.aggregate.initialState(), 0);
    const again = fold(events, this.aggregate.initialState(), 0);
    if (!isDeepStrictEqual(full, again)) throw new Error(`AggregateSpec law: evolve is not deterministic: the same ${events.length} events fold to ${show(full)} and then to ${show(again)}`);
    const toJSON = this.aggregate.snapshot?.toJSON ?? ((state: State) => state as unknown);
    const fromJSON = this.aggregate.snapshot?.fromJSON ?? ((json: unknown) => json as State);
    for (let k = 0; k <= events.length; k++) {
      const snapshot = fromJSON(JSON.parse(JSON.stringify(toJSON(fold(events.slice(0, k), this.aggregate.initialState(), 0))) ?? 'null'));
      const resumed = fold(events.slice(k), snapshot, k);
      if (!isDeepStrictEqual(resumed, full)) throw new Error(`AggregateSpec law: a snapshot after event ${k} plus the ${events.length - k} later ones folds to ${show(resumed)}, the full replay to ${show(full)}`);
    }
  }

  /** Runs `command` against the state the given events fold into. */
  when(command: Command): AggregateSpecThen<Event> {
    const check = this.options.roundTrip ?? true;
    let state = this.aggregate.initialState();
    this.history.forEach((event, i) => {
      if (check) roundTripped(`given event ${i} (${event.type})`, event);
      state = this.aggregate.evolve(state, recorded(event, i + 1));
    });
    if (check) {
      roundTripped('state', state);
      roundTripped('command', command);
    }
    let outcome: { events: readonly Event[] } | { error: unknown };
    try {
      const decided = this.aggregate.decide(command, state);
      outcome = { events: (Array.isArray(decided) ? decided : [decided]) as readonly Event[] };
    } catch (error) {
      outcome = { error };
    }
    const produced = (): readonly Event[] => {
      if ('error' in outcome) throw new Error(`AggregateSpec: expected events, but decide threw ${outcome.error instanceof Error ? `${outcome.error.name}: ${outcome.error.message}` : show(outcome.error)}`);
      return outcome.events;
    };
    const evolveAll = (events: readonly Event[]): void => {
      // The new events must apply too (and the state after them survive a round trip).
      let after = state;
      events.forEach((event, i) => {
        if (check) roundTripped(`new event ${i} (${event.type})`, event);
        after = this.aggregate.evolve(after, recorded(event, this.history.length + i + 1));
      });
      if (check) roundTripped('state after the new events', after);
    };
    return {
      then: (expected) => {
        const events = produced();
        const wanted = (Array.isArray(expected) ? expected : [expected]) as readonly Event[];
        const comparable = events.map((e, i) => comparableTo(e, wanted[i]));
        if (!isDeepStrictEqual(comparable, wanted.map((e) => comparableTo(e, e)))) throw new Error(`AggregateSpec: expected events ${show(wanted)}, got ${show(events)}`);
        evolveAll(events);
      },
      thenThrows: (expected) => {
        if (!('error' in outcome)) throw new Error(`AggregateSpec: expected decide to throw, but it produced ${show(outcome.events)}`);
        const error = outcome.error;
        const matches = isErrorClass(expected) ? error instanceof expected : expected(error);
        if (!matches) throw new Error(`AggregateSpec: decide threw ${error instanceof Error ? `${error.name}: ${error.message}` : show(error)}, not the expected error`);
      },
      thenNothing: () => {
        const events = produced();
        if (events.length > 0) throw new Error(`AggregateSpec: expected no event, got ${show(events)}`);
      },
    };
  }
}

function isErrorClass(x: unknown): x is new (...args: never[]) => Error {
  return typeof x === 'function' && (x as { prototype?: unknown }).prototype instanceof Error;
}

/** The fields of an event a spec compares: type and data, plus schema version, metadata and id when the expectation names them. */
function comparableTo(event: NewEvent | undefined, expected: NewEvent | undefined): unknown {
  if (event === undefined) return undefined;
  return {
    type: event.type,
    data: event.data,
    ...(expected?.schemaVersion === undefined ? {} : { schemaVersion: event.schemaVersion ?? 1 }),
    ...(expected?.metadata === undefined ? {} : { metadata: event.metadata }),
    ...(expected?.eventId === undefined ? {} : { eventId: event.eventId }),
  };
}

/** An event as `evolve` sees it in a stream (the position is not meaningful in a spec). */
function recorded<Event extends NewEvent>(event: Event, version: number): RecordedEvent<Event['type'], Event['data']> {
  return {
    type: event.type,
    data: event.data,
    metadata: event.metadata ?? {},
    ...(event.eventId === undefined ? {} : { eventId: event.eventId }),
    schemaVersion: event.schemaVersion ?? 1,
    streamId: 'spec',
    streamVersion: BigInt(version),
    position: { topic: 'spec', partition: 0, offset: BigInt(version - 1) },
    timestamp: 0,
  };
}
