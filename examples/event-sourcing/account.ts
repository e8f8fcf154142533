/**
 * A bank account as an event-sourced aggregate (a decider): opened, deposits, withdrawals without
 * overdraft. `MoneyDeposited` changed shape once — version 1 carried `cents`, version 2 carries
 * `amount` in whole units — and an upcaster turns old events into the new shape on every read.
 */
import { defineAggregate, upcastChain } from '../../src/index.ts';
import type { NewEvent, RecordedEvent } from '../../src/index.ts';

/** The account's events (current shapes). */
export type AccountEvent =
  | NewEvent<'AccountOpened', { readonly owner: string }>
  | NewEvent<'MoneyDeposited', { readonly amount: number; readonly transferId?: string }>
  | NewEvent<'MoneyWithdrawn', { readonly amount: number; readonly transferId?: string }>;

/** What can be asked of an account. */
export type AccountCommand = { readonly type: 'open'; readonly owner: string } | { readonly type: 'deposit'; readonly amount: number } | { readonly type: 'withdraw'; readonly amount: number };

/** The state an account's events fold into. */
export interface AccountState {
  readonly status: 'new' | 'open';
  readonly owner: string;
  readonly balance: number;
}

/** A withdrawal larger than the balance: refused, nothing written. */
export class InsufficientFundsError extends Error {
  constructor(
    readonly balance: number,
    readonly amount: number,
  ) {
    super(`insufficient funds: balance ${balance}, withdrawal ${amount}`);
    this.name = 'InsufficientFundsError';
  }
}

/** A command the account cannot take in its state (not opened, opened twice, a non-positive amount). */
export class AccountRuleError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'AccountRuleError';
  }
}

/** Current schema version of MoneyDeposited. */
export const DEPOSIT_SCHEMA = 2;

function positive(amount: number): number {
  if (!Number.isFinite(amount) || amount <= 0) throw new AccountRuleError(`amounts must be positive, got ${amount}`);
  return amount;
}

/** Decides the events of a command (pure). */
export function decide(command: AccountCommand, state: AccountState): AccountEvent[] {
  switch (command.type) {
    case 'open':
      if (state.status !== 'new') throw new AccountRuleError(`the account of ${state.owner} is already open`);
      return [{ type: 'AccountOpened', data: { owner: command.owner } }];
    case 'deposit':
      if (state.status !== 'open') throw new AccountRuleError('deposit to an account that is not open');
      return [{ type: 'MoneyDeposited', data: { amount: positive(command.amount) }, schemaVersion: DEPOSIT_SCHEMA }];
    case 'withdraw':
      if (state.status !== 'open') throw new AccountRuleError('withdrawal from an account that is not open');
      if (positive(command.amount) > state.balance) throw new InsufficientFundsError(state.balance, command.amount);
      return [{ type: 'MoneyWithdrawn', data: { amount: command.amount } }];
  }
}

/** Applies one event (pure, deterministic). */
export function evolve(state: AccountState, event: RecordedEvent<AccountEvent['type'], AccountEvent['data']>): AccountState {
  switch (event.type) {
    case 'AccountOpened':
      return { status: 'open', owner: (event.data as { owner: string }).owner, balance: 0 };
    case 'MoneyDeposited':
      return { ...state, balance: state.balance + (event.data as { amount: number }).amount };
    case 'MoneyWithdrawn':
      return { ...state, balance: state.balance - (event.data as { amount: number }).amount };
  }
}

/** The account aggregate: snapshots every 5 events, version-1 deposits upcast. */
export const account = defineAggregate<AccountState, AccountCommand, AccountEvent>({
  type: 'account',
  initialState: () => ({ status: 'new', owner: '', balance: 0 }),
  decide,
  evolve,
  snapshot: { every: 5 },
  upcasters: { MoneyDeposited: upcastChain<{ readonly cents: number }>().to((d) => ({ amount: d.cents / 100 })) },
});
