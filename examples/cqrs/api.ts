/**
 * The HTTP side of the CQRS example (node:http): commands in, queries out.
 *
 *   POST /orders                    {"customer":"ann","total":30} → 201 {"orderId","position"}
 *   GET  /customers/:id/orders      the customer's totals and orders
 *   GET  /shipping-board            every card
 *   ?after=<position>               (on GETs) waits until the read model has applied that position:
 *                                   read-your-writes across command → projection → query.
 *
 * A position travels as `topic:partition:offset`. Bad input is a 400 with the reason; a refused
 * command a 409; a wait that times out a 504.
 */
import { createServer } from 'node:http';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { TimeoutError } from '../../src/index.ts';
import type { EventPosition, EventStore, ProjectionView } from '../../src/index.ts';
import { order, OrderRejected } from './domain.ts';
import type { Card } from './readModels.ts';

/** A position as the API writes it. */
export function formatPosition(p: EventPosition): string {
  return `${p.topic}:${p.partition}:${p.offset}`;
}

/** A position as the API reads it; undefined when malformed. */
export function parsePosition(text: string): EventPosition | undefined {
  const m = /^([A-Za-z0-9_.-]+):(\d+):(\d+)$/.exec(text);
  return m === null ? undefined : { topic: m[1] as string, partition: Number(m[2]), offset: BigInt(m[3] as string) };
}

class BadRequest extends Error {}

function send(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify(body));
}

async function body(req: IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = [];
  for await (const c of req) chunks.push(c as Buffer);
  try {
    return JSON.parse(Buffer.concat(chunks).toString('utf8') || '{}');
  } catch {
    throw new BadRequest('the body is not JSON');
  }
}

/** Starts the API on `port` (0: any free one); resolves with its base URL and a way to stop it. */
export async function startApi(deps: { store: EventStore; summary: ProjectionView; board: ProjectionView<Card>; port?: number }): Promise<{ url: string; server: Server; close: () => Promise<void> }> {
  let next = 0;
  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const url = new URL(req.url ?? '/', 'http://localhost');
    const after = url.searchParams.get('after');
    const wait = async (view: ProjectionView<never> | ProjectionView<Card>): Promise<void> => {
      if (after === null) return;
      const position = parsePosition(after);
      if (position === undefined) throw new BadRequest(`after must be topic:partition:offset, got "${after}"`);
      await view.waitFor(position, { timeoutMs: 10_000 });
    };
    if (req.method === 'POST' && url.pathname === '/orders') {
      const input = (await body(req)) as { customer?: unknown; total?: unknown };
      if (typeof input.customer !== 'string' || !/^[a-z0-9_-]{1,40}$/.test(input.customer)) throw new BadRequest('customer must be 1-40 lower-case letters, digits, _ or -');
      if (typeof input.total !== 'number' || !Number.isInteger(input.total)) throw new BadRequest('total must be an integer');
      const orderId = `o${++next}-${Date.now().toString(36)}`;
      const result = await deps.store.handle(order, orderId, { type: 'place', orderId, customer: input.customer, total: input.total });
      send(res, 201, { orderId, position: result.position === undefined ? null : formatPosition(result.position) });
      return;
    }
    const customer = /^\/customers\/([a-z0-9_-]{1,40})\/orders$/.exec(url.pathname);
    if (req.method === 'GET' && customer !== null) {
      await wait(deps.summary as ProjectionView<never>);
      const id = customer[1] as string;
      const result = await deps.summary.query(async (db) => ({
        totals: await db.one(`SELECT orders, spent FROM ${db.table('customers')} WHERE customer = ?`, [id]),
        orders: await db.all(`SELECT order_id, total, paid, carrier, notified FROM ${db.table('orders')} WHERE customer = ? ORDER BY order_id`, [id]),
      }));
      send(res, 200, { customer: id, orders: Number(result.totals?.orders ?? 0), spent: Number(result.totals?.spent ?? 0), list: result.orders });
      return;
    }
    if (req.method === 'GET' && url.pathname === '/shipping-board') {
      await wait(deps.board);
      send(res, 200, (await deps.board.range()).map((e) => e.value));
      return;
    }
    send(res, 404, { error: `no route ${req.method} ${url.pathname}` });
  };
  const server = createServer((req, res) => {
    handle(req, res).catch((e: unknown) => {
      if (e instanceof BadRequest) send(res, 400, { error: e.message });
      else if (e instanceof OrderRejected) send(res, 409, { error: e.message });
      else if (e instanceof TimeoutError) send(res, 504, { error: e.message });
      else send(res, 500, { error: e instanceof Error ? e.message : String(e) });
    });
  });
  await new Promise<void>((resolve) => server.listen(deps.port ?? 0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return { url: `http://127.0.0.1:${port}`, server, close: () => new Promise<void>((resolve) => server.close(() => resolve())) };
}
