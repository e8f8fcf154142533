/**
 * The bank account story on samsa's event store: accounts as an aggregate, concurrent withdrawals
 * where exactly one wins (the partition leader checks the expected version), a transfer between
 * two accounts as one multi-stream conditional transaction, a balance history (the state as of any
 * version), snapshots, and an upcaster for a version-1 deposit. It ends by checking that money was
 * neither created nor lost.
 *
 *   npm run example:event-sourcing
 */
import { createCluster, createEventStore, WrongExpectedVersionError } from '../../src/index.ts';
import type { EventStore, KafkaClients } from '../../src/index.ts';
import { account, decide, evolve, InsufficientFundsError } from './account.ts';
import type { AccountState } from './account.ts';

/** What the story ends with, checked by its test. */
export interface BankSummary {
  readonly balances: Readonly<Record<string, number>>;
  /** Money in (deposits) minus money out (withdrawals to the outside), from the events. */
  readonly expectedTotal: number;
  readonly raceWinners: number;
  readonly history: readonly number[];
  readonly snapshotVersion: bigint;
  readonly replayedAfterSnapshot: number;
}

/**
 * Moves `amount` from one account to another in one transaction: both appends carry the versions
 * the decision was made on, so a concurrent change to either account aborts the whole transfer.
 */
export async function transfer(store: EventStore, from: string, to: string, amount: number, transferId: string): Promise<void> {
  await store.transaction(async (tx) => {
    const [source, target] = await Promise.all([store.aggregateStream(account, from), store.aggregateStream(account, to)]);
    const withdrawn = decide({ type: 'withdraw', amount }, source.state).map((e) => ({ ...e, data: { ...e.data, transferId }, eventId: `${transferId}-out` }));
    const deposited = decide({ type: 'deposit', amount }, target.state).map((e) => ({ ...e, data: { ...e.data, transferId }, eventId: `${transferId}-in` }));
    await tx.append(`account-${from}`, withdrawn, { expectedVersion: source.version });
    await tx.append(`account-${to}`, deposited, { expectedVersion: target.version });
  });
}

/** Runs the story on `clients`, telling it line by line. */
export async function runBank(clients: KafkaClients, say: (line: string) => void): Promise<BankSummary> {
  const store = createEventStore(clients, { partitions: 3, replicationFactor: 3, minInsyncReplicas: 2, clientId: 'bank' });
  try {
    let expectedTotal = 0;
    for (const [id, owner] of [['ann', 'Ann'], ['bob', 'Bob']] as const) {
      await store.handle(account, id, { type: 'open', owner });
      say(`opened the account of ${owner}`);
    }
    for (const amount of [100, 50, 25]) {
      await store.handle(account, 'ann', { type: 'deposit', amount });
      expectedTotal += amount;
    }
    say(`Ann deposited 100, 50 and 25`);

    // An old client's deposit, written in version 1 of MoneyDeposited (cents): upcast on every read.
    await store.append('account-bob', [{ type: 'MoneyDeposited', data: { cents: 4000 }, schemaVersion: 1 }], { expectedVersion: 1n });
    expectedTotal += 40;
    say(`a legacy client deposited 4000 cents to Bob (a version-1 event, read back as 40)`);

    // Two tellers withdraw from Ann at once, both deciding on the same version: one wins.
    const loaded = await store.aggregateStream(account, 'ann');
    const race = await Promise.allSettled([store.handle(account, 'ann', { type: 'withdraw', amount: 150 }, { expectedVersion: loaded.version }), store.handle(account, 'ann', { type: 'withdraw', amount: 100 }, { expectedVersion: loaded.version })]);
    const winners = race.filter((r) => r.status === 'fulfilled').length;
    for (const r of race) {
      if (r.status === 'fulfilled') {
        const amount = (r.value.newEvents[0]?.data as { amount: number }).amount;
        expectedTotal -= amount;
        say(`teller withdrew ${amount} from Ann at version ${loaded.version}: accepted`);
      } else say(`the other teller was refused: ${r.reason instanceof WrongExpectedVersionError ? `stream at version ${r.reason.actual}, not ${String(r.reason.expected)}` : String(r.reason)}`);
    }

    // A business rule violation comes back as the aggregate's own error.
    const refused = await store.handle(account, 'bob', { type: 'withdraw', amount: 1_000 }).catch((e: unknown) => e);
    say(`Bob tries to withdraw 1000: ${refused instanceof InsufficientFundsError ? refused.message : String(refused)}`);

    await transfer(store, 'ann', 'bob', 20, 't-1');
    say(`transferred 20 from Ann to Bob in one transaction (both streams or neither)`);
    const stale = await store
      .transaction(async (tx) => {
        await tx.append('account-ann', [{ type: 'MoneyWithdrawn', data: { amount: 5 } }], { expectedVersion: 1n });
      })
      .catch((e: unknown) => e);
    say(`a transfer decided on a stale version of Ann is aborted whole: ${stale instanceof WrongExpectedVersionError ? 'WrongExpectedVersionError' : String(stale)}`);

    for (let i = 0; i < 3; i++) {
      await store.handle(account, 'bob', { type: 'deposit', amount: 10 }, { retryOnConflict: 3 });
      expectedTotal += 10;
    }
    const bob = await store.aggregateStream(account, 'bob');
    say(`Bob's state comes from the snapshot at version ${bob.snapshotVersion} plus ${bob.replayed} newer event(s): balance ${bob.state.balance}`);

    // Time travel: the balance of Ann after each of her events.
    const annEvents = (await store.readStream('account-ann')).events;
    const history: number[] = [];
    let state: AccountState = account.initialState();
    for (const e of annEvents) {
      state = evolve(state, e as Parameters<typeof evolve>[1]);
      history.push(state.balance);
    }
    say(`Ann's balance by version: ${history.map((b, i) => `v${i + 1}=${b}`).join(' ')}`);

    const balances: Record<string, number> = {};
    for (const id of ['ann', 'bob']) balances[id] = (await store.aggregateStream(account, id)).state.balance;
    const total = Object.values(balances).reduce((a, b) => a + b, 0);
    say(`balances: Ann ${balances.ann}, Bob ${balances.bob}; total ${total} = deposits − withdrawals ${expectedTotal}: ${total === expectedTotal ? 'no money created or lost' : 'MISMATCH'}`);
    return { balances, expectedTotal, raceWinners: winners, history, snapshotVersion: bob.snapshotVersion, replayedAfterSnapshot: bob.replayed };
  } finally {
    await store.close();
  }
}

async function main(): Promise<void> {
  const cluster = await createCluster({ brokers: 3 });
  try {
    const summary = await runBank(cluster, (line) => console.log(`• ${line}`));
    if (Object.values(summary.balances).reduce((a, b) => a + b, 0) !== summary.expectedTotal) process.exitCode = 1;
  } finally {
    await cluster.stop();
  }
}

if (import.meta.url === `file://${process.argv[1]}`) await main();
