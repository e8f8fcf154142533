/**
 * The streams assignor: tasks, not partitions — a task takes partition p of every source topic of
 * its sub-topology (co-partitioned inputs stay together), goes to a member holding its state when
 * that keeps the assignment balanced, and the assignment is balanced and deterministic.
 */
import { describe, expect, it } from 'vitest';
import type { MemberSubscription, TopicPartition } from '../../src/clients/api.ts';
import { StreamsBuilder } from '../../src/streams/builder.ts';
import { count, groupByKey, processValues, selectKey } from '../../src/streams/operators.ts';
import { string } from '../../src/streams/serdes.ts';
import { streamsAssignor } from '../../src/streams/streamsAssignor.ts';

/** Orders re-keyed and counted (two sub-topologies), and a table joined through a store with a stream. */
function topology() {
  const b = new StreamsBuilder();
  b.stream('orders', { key: string(), value: string() }).pipe(selectKey((r) => r.value), groupByKey(), count({ store: 'counts' }));
  b.table('customers', { key: string(), value: string(), store: 'customers' });
  b.stream('visits', { key: string(), value: string() }).pipe(processValues(() => ({ process: () => undefined }), { stores: ['customers'] }));
  return b.build();
}

const member = (memberId: string, tasks?: string[]): MemberSubscription => ({ memberId, topics: [], ...(tasks === undefined ? {} : { userData: new TextEncoder().encode(JSON.stringify(tasks)) }) });
const parts = (tps: readonly TopicPartition[] | undefined): string[] => (tps ?? []).map((tp) => `${tp.topic}-${tp.partition}`).sort();
const PARTITIONS = { orders: 4, 'app-counts-repartition': 4, customers: 3, visits: 3 };

describe('streams assignor', () => {
  it('keeps the partitions of a task together and balances tasks', () => {
    const assignor = streamsAssignor(topology(), 'app', () => []);
    const result = assignor.assign(PARTITIONS, [member('b'), member('a')]);
    // 4 + 4 + 3 tasks over two members: 6 and 5.
    const a = parts(result.a);
    const b = parts(result.b);
    expect([...a, ...b].sort()).toEqual(Object.entries(PARTITIONS).flatMap(([t, n]) => Array.from({ length: n }, (_, p) => `${t}-${p}`)).sort());
    for (const side of [a, b]) for (let p = 0; p < 3; p++) expect(side.includes(`customers-${p}`)).toBe(side.includes(`visits-${p}`));
    const tasksOf = (list: string[]) => new Set(list.map((tp) => (tp.startsWith('orders') ? `0_${tp.split('-').at(-1)}` : tp.startsWith('app-') ? `1_${tp.split('-').at(-1)}` : `2_${tp.split('-').at(-1)}`))).size;
    expect(Math.abs(tasksOf(a) - tasksOf(b))).toBeLessThanOrEqual(1);
    // Deterministic: the same input gives the same answer.
    expect(assignor.assign(PARTITIONS, [member('a'), member('b')])).toEqual(result);
  });

  it('gives a task to the member that holds its state, while that stays balanced', () => {
    const assignor = streamsAssignor(topology(), 'app', () => []);
    const result = assignor.assign(PARTITIONS, [member('a', ['0_3', '2_1']), member('b', ['1_0', '2_2'])]);
    expect(parts(result.a)).toEqual(expect.arrayContaining(['orders-3', 'customers-1', 'visits-1']));
    expect(parts(result.b)).toEqual(expect.arrayContaining(['app-counts-repartition-0', 'customers-2', 'visits-2']));
    // One member holding everything still gets only its share.
    const greedy = assignor.assign(PARTITIONS, [member('a', ['0_0', '0_1', '0_2', '0_3', '1_0', '1_1', '1_2', '1_3', '2_0', '2_1', '2_2']), member('b')]);
    expect(Math.abs(parts(greedy.a).length - parts(greedy.b).length)).toBeLessThanOrEqual(2);
  });

  it('tells its member state in its subscription, and reads nothing odd as no state', () => {
    const assignor = streamsAssignor(topology(), 'app', () => ['2_1', '0_0']);
    expect(new TextDecoder().decode(assignor.subscriptionUserData?.([]))).toBe('["0_0","2_1"]');
    const odd = assignor.assign(PARTITIONS, [{ memberId: 'a', topics: [], userData: new Uint8Array([0xff]) }]);
    expect(parts(odd.a)).toHaveLength(14);
  });

  it('places standbys of stateful tasks on other members, preferring those with the state, and tells each member its own', () => {
    const got = new Map<string, readonly string[]>();
    const assignor = streamsAssignor(topology(), 'app', () => [], { numStandbyReplicas: 1, onStandbys: (ids) => got.set('me', ids) });
    const members = [member('a'), member('b', ['1_2']), member('c')];
    const result = assignor.assign(PARTITIONS, members);
    const data = assignor.assignmentUserData?.(result, members) ?? {};
    const standbys = Object.fromEntries(Object.entries(data).map(([m, bytes]) => [m, (JSON.parse(new TextDecoder().decode(bytes)) as { standby: string[] }).standby]));
    const owner = (task: string): string => {
      const [sub, p] = task.split('_');
      const topic = sub === '1' ? 'app-counts-repartition' : 'customers';
      return (Object.entries(result).find(([, tps]) => tps.some((tp) => tp.topic === topic && tp.partition === Number(p))) as [string, unknown])[0];
    };
    const stateful = ['1_0', '1_1', '1_2', '1_3', '2_0', '2_1', '2_2'];
    // Every stateful task has exactly one standby, never on its active member; stateless tasks (sub-topology 0) none.
    for (const task of stateful) {
      const holders = Object.entries(standbys).filter(([, ids]) => ids.includes(task)).map(([m]) => m);
      expect(holders).toHaveLength(1);
      expect(holders[0]).not.toBe(owner(task));
    }
    expect(Object.values(standbys).flat().filter((t) => t.startsWith('0_'))).toEqual([]);
    expect(Object.values(standbys).flat()).toHaveLength(stateful.length);
    // Balanced: 7 standbys over 3 members.
    for (const ids of Object.values(standbys)) expect(ids.length).toBeGreaterThanOrEqual(2);
    // b holds 1_2's state: when 1_2 runs elsewhere, b keeps its standby.
    if (owner('1_2') !== 'b') expect(standbys.b).toContain('1_2');
    // A member reads its own list from its assignment.
    assignor.onAssignment?.([], data.c);
    expect(got.get('me')).toEqual(standbys.c);
    assignor.onAssignment?.([], undefined);
    expect(got.get('me')).toEqual([]);
  });

  it('gives as many standbys as there are other members, and none with a single member', () => {
    const assignor = streamsAssignor(topology(), 'app', () => [], { numStandbyReplicas: 3, onStandbys: () => undefined });
    const two = [member('a'), member('b')];
    const data = assignor.assignmentUserData?.(assignor.assign(PARTITIONS, two), two) ?? {};
    const count = (bytes: Uint8Array | undefined): number => (JSON.parse(new TextDecoder().decode(bytes)) as { standby: string[] }).standby.length;
    expect(count(data.a) + count(data.b)).toBe(7);
    const one = [member('a')];
    expect(count((assignor.assignmentUserData?.(assignor.assign(PARTITIONS, one), one) ?? {}).a)).toBe(0);
  });
});
