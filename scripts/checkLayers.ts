/**
 * Enforces the layer direction of DESIGN.md §1: a module may import only from its own layer or
 * the layers below it. Exits non-zero, listing every offending import, when the rule is broken.
 *
 *   cli > projections > cluster ∥ eventsourcing > streams > actors ∥ clients > transport > protocol
 *       > transactions > log > record > shared leaves (clock, random, errors, logger, topicConfig)
 *
 * Layers of equal rank (actors and clients; cluster and eventsourcing) never import
 * each other: server nodes and clients meet only in `protocol/` messages over a `Transport`.
 * Clients use only `record/`, `protocol/`, `transport/` and shared leaves (never `log/` storage).
 * `streams/` and the layers above it reach the clients through the ports of `clients/api.ts` only,
 * never an implementation, so the same topology runs over any `KafkaClients`.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';


/** Rank of each layer: higher may import lower, never the reverse. */
const RANK: Record<string, number> = {
  leaf: 0, record: 1, log: 2, transactions: 3, protocol: 4, transport: 5, actors: 6, clients: 6,
  streams: 7, cluster: 8, eventsourcing: 8, projections: 9, cli: 10, index: 11, testing: 11,
};
/** External packages a layer may not use, whatever its rank. */
const PURE = ['xstate', 'rxjs', 'nats'];
const FORBIDDEN_PACKAGES: Record<string, string[]> = { leaf: PURE, record: PURE, log: PURE, transactions: PURE, protocol: PURE, transport: ['rxjs'] };
/** Layers that may reach the clients only through their ports, and the lower layers they may use at all. */
const PORT_USERS = new Set(['streams', 'eventsourcing', 'projections']);
const PORT_USER_MAY_IMPORT = new Set(['leaf', 'record', 'streams', 'eventsourcing', 'projections']);
const CLIENT_PORTS = 'clients/api.ts';
/**
 * What the clients may use: the batch format, the protocol, the transport and shared leaves. Never
 * `log/` storage or `transactions/` (the broker's side), so a client runs wherever a transport does.
 */
const CLIENTS_MAY_IMPORT = new Set(['leaf', 'record', 'protocol', 'transport', 'clients']);

function layerOf(src: string, file: string): string {
  const rel = relative(src, file).split('/');
  if (rel.length === 1) {
    const name = (rel[0] as string).replace(/\.ts$/, '');
    if (name === 'index' || name === 'testing') return name;
    return 'leaf';
  }
  return rel[0] as string;
}

function walk(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? walk(path) : path.endsWith('.ts') ? [path] : [];
  });
}

/** Returns one line per import that breaks the layer direction under `root/src`; [] when clean. */
export function checkLayers(root: string): string[] {
  const src = join(root, 'src');
  const problems: string[] = [];
  const files = walk(src);
  for (const file of files) {
    const layer = layerOf(src, file);
    const rank = RANK[layer];
    if (rank === undefined) {
      problems.push(`${relative(root, file)}: folder "${layer}" has no place in the layer order; add it to scripts/checkLayers.ts`);
      continue;
    }
    const text = readFileSync(file, 'utf8');
    for (const match of text.matchAll(IMPORT)) {
      const spec = (match[1] ?? match[2]) as string;
      if (spec.startsWith('.')) {
        const target = resolve(dirname(file), spec);
        if (!target.startsWith(src)) {
          problems.push(`${relative(root, file)} imports "${spec}" from outside src/`);
          continue;
        }
        const targetLayer = layerOf(src, target);
        const targetRank = RANK[targetLayer] ?? Infinity;
        if (targetRank > rank) problems.push(`${relative(root, file)} (${layer}) imports "${spec}" (${targetLayer}): a lower layer may not depend on a higher one`);
        else if (targetRank === rank && targetLayer !== layer) problems.push(`${relative(root, file)} (${layer}) imports "${spec}" (${targetLayer}): ${layer} and ${targetLayer} are parallel layers and never import each other`);
        else if (layer === 'clients' && !CLIENTS_MAY_IMPORT.has(targetLayer)) {
          problems.push(`${relative(root, file)} (${layer}) imports "${spec}" (${targetLayer}): clients use only record/, protocol/, transport/ and shared leaves, never the broker's storage or transaction state`);
        } else if (PORT_USERS.has(layer) && !PORT_USER_MAY_IMPORT.has(targetLayer) && relative(src, target) !== CLIENT_PORTS) {
          problems.push(`${relative(root, file)} (${layer}) imports "${spec}" (${targetLayer}): ${layer} reaches the clients only through ${CLIENT_PORTS}`);
        }
      } else {
        const pkg = spec.startsWith('@') ? spec.split('/').slice(0, 2).join('/') : (spec.split('/')[0] as string);
        if ((FORBIDDEN_PACKAGES[layer] ?? []).includes(pkg)) problems.push(`${relative(root, file)} (${layer}) imports "${pkg}", which that layer must not use`);
      }
    }
  }
  return problems;
}

const IMPORT = /(?:import|export)\s+(?:type\s+)?(?:[^'"]*?\sfrom\s+)?['"]([^'"]+)['"]|import\(\s*['"]([^'"]+)['"]\s*\)/g;
if (import.meta.url === `file://${process.argv[1]}`) {
  const root = resolve(import.meta.dirname, '..');
  const problems = checkLayers(root);
  if (problems.length > 0) {
    console.error(`layer check failed (${problems.length}):\n  ${problems.join('\n  ')}`);
    process.exit(1);
  }
  console.log(`layer check passed (${walk(join(root, 'src')).length} files)`);
}
