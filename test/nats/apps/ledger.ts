/**
 * The read model of the projection tests: per stream of a category (`<category>-<n>`), its
 * balance and the stream versions it applied, in order. An event applied twice shows as a repeated
 * version, one lost as a gap.
 */
import { defineProjection } from '../../../src/projections/index.ts';
import type { Projection } from '../../../src/projections/index.ts';
import type { RecordedEvent } from '../../../src/eventsourcing/index.ts';

export type Deposited = RecordedEvent<'Deposited', { amount: number }>;

export interface Account {
  readonly balance: number;
  readonly versions: readonly number[];
}

/** The projection `ledger_<category>` of the `Deposited` events of aggregate type `category`. */
export function ledgerOf(category: string): Projection<Account, Deposited> {
  return defineProjection<Account, Deposited>({
    name: `ledger_${category}`,
    from: { aggregates: [category] },
    initial: () => ({ balance: 0, versions: [] }),
    evolve: (state, event) => ({ balance: state.balance + event.data.amount, versions: [...state.versions, Number(event.streamVersion)] }),
  });
}
