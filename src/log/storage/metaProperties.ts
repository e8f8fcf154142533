/**
 * Kafka's `meta.properties`: the cluster id and node id a data directory was formatted with.
 * A directory formatted for another cluster or node is refused, as Kafka's `MetaPropertiesEnsemble`
 * does, so one node never replays or serves another cluster's data.
 */
import * as fs from 'node:fs';
import * as nodePath from 'node:path';
import { InconsistentDataDirectoryError, StorageError } from '../../errors.ts';

/** The file name, as Kafka's. */
export const META_PROPERTIES_FILE = 'meta.properties';

/** What a data directory was formatted with. */
export interface MetaProperties {
  readonly clusterId: string;
  readonly nodeId: number;
}

/** Reads `<dir>/meta.properties`; undefined when the directory is not formatted yet. */
export function readMetaProperties(dir: string): MetaProperties | undefined {
  const path = nodePath.join(dir, META_PROPERTIES_FILE);
  let text: string;
  try {
    text = fs.readFileSync(path, 'utf8');
  } catch (e) {
    if ((e as { code?: string }).code === 'ENOENT') return undefined;
    throw new StorageError(path, 'read', { cause: e });
  }
  const values = new Map<string, string>();
  for (const line of text.split('\n')) {
    const m = /^([^#=]+)=(.*)$/.exec(line.trim());
    if (m !== null) values.set((m[1] as string).trim(), (m[2] as string).trim());
  }
  const clusterId = values.get('cluster.id');
  const nodeId = Number(values.get('node.id'));
  if (clusterId === undefined || !Number.isSafeInteger(nodeId)) throw new StorageError(path, 'parse', { cause: new Error('it has no cluster.id or node.id') });
  return { clusterId, nodeId };
}

/**
 * Formats `dir` for (clusterId, nodeId) on first use, or checks that it was formatted for them.
 * @throws InconsistentDataDirectoryError when it belongs to another cluster or node.
 */
export function ensureMetaProperties(dir: string, expected: MetaProperties): void {
  const path = nodePath.join(dir, META_PROPERTIES_FILE);
  const found = readMetaProperties(dir);
  if (found !== undefined) {
    if (found.clusterId !== expected.clusterId) throw new InconsistentDataDirectoryError(path, 'cluster.id', expected.clusterId, found.clusterId);
    if (found.nodeId !== expected.nodeId) throw new InconsistentDataDirectoryError(path, 'node.id', String(expected.nodeId), String(found.nodeId));
    return;
  }
  const text = `#\n#Written by samsa\nversion=1\ncluster.id=${expected.clusterId}\nnode.id=${expected.nodeId}\n`;
  writeFileAtomicSync(path, text);
}

/** Writes tmp, fsyncs, renames over `path`, fsyncs the directory: a crash leaves old or new. */
export function writeFileAtomicSync(path: string, data: string | Uint8Array): void {
  const tmp = `${path}.tmp`;
  try {
    fs.mkdirSync(nodePath.dirname(path), { recursive: true });
    const fd = fs.openSync(tmp, 'w', 0o644);
    try {
      fs.writeFileSync(fd, data);
      fs.fsyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
    fs.renameSync(tmp, path);
  } catch (e) {
    fs.rmSync(tmp, { force: true });
    throw new StorageError(path, 'atomically replace', { cause: e });
  }
  try {
    const fd = fs.openSync(nodePath.dirname(path), 'r');
    try {
      fs.fsyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
  } catch {
    // Best effort: not every platform can fsync a directory.
  }
}
