/**
 * KStream–GlobalKTable joins (Kafka's KStreamGlobalKTableJoin): each stream record looks up the
 * global store under the key its mapper picks; only stream records trigger, the table's updates
 * only change what later lookups see. No repartition and no co-partitioning: every instance holds
 * the whole table.
 */
import { TopologyError } from '../../errors.ts';
import type { StreamState } from '../graph.ts';
import type { GlobalKTable } from '../globalTable.ts';
import type { AnyRecord } from '../record.ts';
import type { ReadOnlyKeyValueStore } from '../stores/keyValueStore.ts';
import type { InternalProcessorContext, Processor } from '../topology.ts';

/**
 * Adds the join node: `inner` drops a stream record whose mapped key is null or has no row,
 * `left` passes it with a null table value. A stream record with a null value is dropped (Kafka).
 */
export function globalJoin(state: StreamState, table: GlobalKTable<unknown, unknown>, keyMapper: (key: unknown, value: unknown) => unknown, joiner: (value: unknown, tableValue: unknown, key: unknown) => unknown, kind: 'inner' | 'left', options: { readonly name?: string } = {}): StreamState {
  if (state.shape !== 'stream') throw new TopologyError('a GlobalKTable join follows a KStream');
  if (table.graph !== state.graph) throw new TopologyError('join() takes a GlobalKTable of the same StreamsBuilder');
  if (typeof keyMapper !== 'function' || typeof joiner !== 'function') throw new TopologyError('a GlobalKTable join needs a key mapper (key, value) => tableKey and a joiner (value, tableValue, key) => result');
  const store = table.queryableStoreName;
  const supplier = (): Processor<unknown, unknown, unknown, unknown> => {
    let ctx: InternalProcessorContext;
    let lookup: ReadOnlyKeyValueStore<unknown, unknown>;
    return {
      init(context) {
        ctx = context as InternalProcessorContext;
        lookup = ctx.getStateStore<ReadOnlyKeyValueStore<unknown, unknown>>(store);
      },
      process(record: AnyRecord) {
        if (record.value === null || record.value === undefined) {
          ctx.droppedRecord('null value in a GlobalKTable join', record);
          return;
        }
        const tableKey = keyMapper(record.key, record.value);
        const found = tableKey === null || tableKey === undefined ? undefined : lookup.get(tableKey);
        const tableValue = found === undefined ? null : found;
        if (tableValue === null && kind === 'inner') return;
        ctx.forward({ ...record, value: joiner(record.value, tableValue, record.key) });
      },
    };
  };
  const node = state.graph.add(options.name ?? state.graph.nextName(kind === 'inner' ? 'KSTREAM-JOIN' : 'KSTREAM-LEFTJOIN'), { kind: 'process', supplier, stores: [store], keyPreserving: true }, [state.node]);
  return { ...state, node, valueSerde: undefined };
}
