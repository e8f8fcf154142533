/**
 * The orders domain of the CQRS example: an order aggregate (a decider), and the events the other
 * services write in their own categories (payment, shipment, notification).
 */
import { defineAggregate } from '../../src/index.ts';
import type { RecordedEvent } from '../../src/index.ts';

export interface OrderPlaced { readonly type: 'OrderPlaced'; readonly data: { readonly orderId: string; readonly customer: string; readonly total: number } }
export interface PaymentCaptured { readonly type: 'PaymentCaptured'; readonly data: { readonly orderId: string; readonly customer: string; readonly amount: number } }
export interface ShipmentScheduled { readonly type: 'ShipmentScheduled'; readonly data: { readonly orderId: string; readonly customer: string; readonly carrier: string } }
export interface NotificationSent { readonly type: 'NotificationSent'; readonly data: { readonly orderId: string; readonly customer: string; readonly about: string } }

/** Any event of the example, as projections read it. */
export type ShopEvent = RecordedEvent<'OrderPlaced' | 'PaymentCaptured' | 'ShipmentScheduled' | 'NotificationSent', { orderId: string; customer: string; total?: number; amount?: number; carrier?: string; about?: string }>;

/** Refused commands. */
export class OrderRejected extends Error {}

/** The order service's command. */
export type PlaceOrder = { readonly type: 'place'; readonly orderId: string; readonly customer: string; readonly total: number };
interface State { readonly placed: boolean }

/** An order: placed once, with a positive total. */
export const order = defineAggregate<State, PlaceOrder, OrderPlaced>({
  type: 'order',
  initialState: () => ({ placed: false }),
  decide: (command, state) => {
    if (state.placed) throw new OrderRejected(`order ${command.orderId} was placed already`);
    if (!(command.total > 0)) throw new OrderRejected(`an order needs a positive total, got ${command.total}`);
    return [{ type: 'OrderPlaced', data: { orderId: command.orderId, customer: command.customer, total: command.total } }];
  },
  evolve: () => ({ placed: true }),
});
