/**
 * Diagnostics of the app processes: with SAMSA_APP_TRACE=1 a transport that writes every request
 * a client sends to a broker, every answer, and every transport signal (unreachable, disconnected)
 * to stderr, each with its time, so a request that waited out its timeout can be found.
 */
import type { Message, NodeId, Transport } from '../../../src/transport/transport.ts';

function line(text: string): void {
  process.stderr.write(`${new Date().toISOString()} TRACE ${text}\n`);
}

export function traced(transport: Transport): Transport {
  return {
    register(node: NodeId, handler: (message: Message, from: NodeId) => void) {
      return transport.register(node, (message, from) => {
        const m = message as { type: string; correlationId?: number; node?: string };
        if (m.type.startsWith('transport.')) line(`${node} <- ${m.type} ${String(m.node)} #${String(m.correlationId)}`);
        else if (m.type !== 'fetch.response') line(`${node} <- ${from} ${m.type} #${String(m.correlationId)}`);
        handler(message, from);
      });
    },
    send(from: NodeId, to: NodeId, message: Message) {
      const m = message as { type: string; correlationId?: number };
      if (m.type !== 'fetch.request') line(`${from} -> ${to} ${m.type} #${String(m.correlationId)}`);
      transport.send(from, to, message);
    },
  };
}
