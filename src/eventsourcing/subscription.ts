/**
 * Catch-up subscriptions: the events of whole categories (aggregate types) as an Observable, read
 * with read_committed (so an aborted transaction's events never show, and positions have no gaps
 * by construction), from the start, the end, or after given positions; a `caughtUp` message once
 * the subscription has reached what was committed when it started. Unsubscribing closes its consumer.
 */
import { Observable, throwError } from 'rxjs';
import { sleep } from '../clock.ts';
import type { Clock } from '../clock.ts';
import { InvalidArgumentError } from '../errors.ts';
import type { ConsumerClient, ConsumerRecord, KafkaClients, TopicPartition } from '../clients/api.ts';
import { readEvent, streamVersionOf } from './events.ts';
import type { EventPosition, EventSerde, RecordedEvent, Upcasters } from './events.ts';

/** Options of {@link subscribeEvents} (the store's `subscribe`). */
export interface SubscribeOptions {
  /** The categories (aggregate types) to follow: their `<type>.events` topics. */
  readonly category: string | readonly string[];
  /** 'start' (default), 'end', or the positions already seen: the subscription continues after them. */
  readonly from?: 'start' | 'end' | readonly EventPosition[];
  /** Only events of these types. */
  readonly types?: readonly string[];
  /** Only events this predicate keeps. */
  readonly filter?: (event: RecordedEvent) => boolean;
}

/** What a subscription emits: events, and once, that it has caught up with what was committed when it started. */
export type SubscriptionMessage = { readonly kind: 'event'; readonly event: RecordedEvent } | { readonly kind: 'caughtUp' };

const decoder = new TextDecoder();

/** Subscribes; see the module comment. */
export function subscribeEvents(clients: KafkaClients, options: SubscribeOptions, context: { readonly serde: EventSerde; readonly upcasters: Upcasters; readonly clientId: string; readonly ensureCategory: (category: string) => Promise<void>; readonly unseal: (records: readonly ConsumerRecord[]) => Promise<Array<ConsumerRecord & { readonly shredded?: boolean }>> }): Observable<SubscriptionMessage> {
  const categories = typeof options?.category === 'string' ? [options.category] : Array.isArray(options?.category) ? [...(options.category as readonly string[])] : [];
  if (categories.length === 0 || categories.some((c) => typeof c !== 'string' || !/^[A-Za-z0-9_.]+$/.test(c))) return throwError(() => new InvalidArgumentError('category', `expected one or more aggregate types (letters, digits, '_' or '.'), got ${JSON.stringify(options?.category)}`));
  const from = options.from ?? 'start';
  if (from !== 'start' && from !== 'end' && !Array.isArray(from)) return throwError(() => new InvalidArgumentError('from', `expected 'start', 'end' or positions, got ${JSON.stringify(from)}`));
  const types = options.types === undefined ? undefined : new Set(options.types);
  const clock = (clients as { clock?: Clock }).clock;
  return new Observable<SubscriptionMessage>((subscriber) => {
    let stopped = false;
    const admin = clients.admin({ clientId: `${context.clientId}-admin` });
    let consumer: ConsumerClient | undefined;
    void (async () => {
      const topics = categories.map((c) => `${c}.events`);
      for (const c of categories) await context.ensureCategory(c);
      const partitions: TopicPartition[] = [];
      for (const topic of topics) for (const p of (await admin.describeTopic(topic)).partitions) partitions.push({ topic, partition: p.partition });
      // Caught up once every partition is past what was committed now.
      const ends = new Map<string, bigint>();
      for (const topic of topics) for (const o of await admin.listOffsets(topic, 'latest', { isolationLevel: 'read_committed' })) ends.set(`${topic}/${o.partition}`, o.offset);
      if (stopped) return;
      consumer = clients.consumer({ clientId: context.clientId, isolationLevel: 'read_committed', enableAutoCommit: false, autoOffsetReset: 'earliest' });
      consumer.assign(partitions);
      if (from === 'end') await consumer.seekToEnd(partitions);
      else {
        await consumer.seekToBeginning(partitions);
        if (Array.isArray(from)) for (const p of from as readonly EventPosition[]) consumer.seek({ topic: p.topic, partition: p.partition }, p.offset + 1n);
      }
      let caughtUp = false;
      while (!stopped) {
        const records = await context.unseal(await consumer.poll({ timeoutMs: 200 }));
        for (const r of records) {
          if (stopped) return;
          if (r.key === null) continue;
          const streamId = decoder.decode(r.key);
          const event = readEvent(r, { streamId, streamVersion: streamVersionOf(r.headers) ?? -1n, position: { topic: r.topic, partition: r.partition, offset: r.offset } }, context.serde, context.upcasters);
          if (types !== undefined && !types.has(event.type)) continue;
          if (options.filter !== undefined && !options.filter(event)) continue;
          subscriber.next({ kind: 'event', event });
        }
        if (!caughtUp) {
          let reached = true;
          for (const tp of partitions) if ((await consumer.position(tp)) < (ends.get(`${tp.topic}/${tp.partition}`) ?? 0n)) reached = false;
          if (reached && !stopped) {
            caughtUp = true;
            subscriber.next({ kind: 'caughtUp' });
          }
        }
        if (records.length === 0 && clock !== undefined && caughtUp) await sleep(clock, 0);
      }
    })().catch((e: unknown) => {
      if (!stopped) subscriber.error(e);
    });
    return () => {
      stopped = true;
      void consumer?.close().catch(() => undefined);
      void Promise.resolve(admin.close()).catch(() => undefined);
    };
  });
}
