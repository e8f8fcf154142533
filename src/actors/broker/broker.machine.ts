/**
 * The lifecycle of a broker process as an XState machine: `registering` until the first metadata
 * image that holds its own registration is applied, then `running`, until it crashes or stops.
 * The work itself is done by the {@link Broker} that owns the actor; the actor makes the process
 * visible to inspection like every other node.
 */
import { assign, setup } from 'xstate';

/** Lifecycle of a broker: `running` until crashed or stopped. */
export const brokerMachine = setup({
  types: {
    context: {} as { readonly brokerId: number; imageVersion: number },
    input: {} as { brokerId: number },
    events: {} as { type: 'metadata.applied'; version: number } | { type: 'broker.crash' } | { type: 'broker.stop' },
  },
}).createMachine({
  id: 'broker',
  context: ({ input }) => ({ brokerId: input.brokerId, imageVersion: -1 }),
  initial: 'registering',
  states: {
    registering: { on: { 'metadata.applied': { target: 'running', actions: assign({ imageVersion: ({ event }) => event.version }) } } },
    running: { on: { 'metadata.applied': { actions: assign({ imageVersion: ({ event }) => event.version }) } } },
    crashed: { type: 'final' },
    stopped: { type: 'final' },
  },
  on: { 'broker.crash': { target: '.crashed' }, 'broker.stop': { target: '.stopped' } },
});
