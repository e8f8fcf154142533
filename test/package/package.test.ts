/**
 * The published package as a user gets it: `npm pack` (its prepack builds dist/), the tarball
 * installed into a fresh app outside the repository, then plain Node ESM and TypeScript compiled by
 * `tsc` (NodeNext, strict) importing every entry point and running a cluster. Slow (a full build),
 * but offline and deterministic: the app installs from a lockfile derived from ours, so npm takes
 * every dependency from the cache `npm ci` filled; only when the cache lacks one does it fall back
 * to the registry.
 */
import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const repo = resolve(import.meta.dirname, '..', '..');
const manifest = JSON.parse(readFileSync(join(repo, 'package.json'), 'utf8')) as {
  name: string;
  version: string;
  license: string;
  engines: Record<string, string>;
  dependencies: Record<string, string>;
  exports: Record<string, { types: string; import: string }>;
  bin: Record<string, string>;
};
const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');

/**
 * The environment minus what `npm run`/`npm test` exports about this repository: a nested npm
 * reading `npm_config_local_prefix` would install into the repository instead of the app.
 */
function cleanEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [key, value] of Object.entries(process.env)) {
    if (/^npm_(config_local_prefix|package_|lifecycle_|command$)/.test(key) || key === 'INIT_CWD') continue;
    env[key] = value;
  }
  return env;
}

/** Runs a command to completion; a failure carries its output. */
function run(file: string, args: readonly string[], cwd: string, timeoutMs = 300_000): Promise<string> {
  return new Promise((done, fail) => {
    execFile(file, args, { cwd, env: cleanEnv(), timeout: timeoutMs, maxBuffer: 64 * 1024 * 1024 }, (error, stdout, stderr) => {
      if (error) fail(new Error(`${file} ${args.join(' ')} failed in ${cwd}: ${error.message}\n--- stdout\n${stdout}\n--- stderr\n${stderr}`));
      else done(stdout);
    });
  });
}

/** The last line a program printed, parsed as JSON. */
function lastJsonLine(stdout: string): Record<string, unknown> {
  const lines = stdout.trim().split('\n');
  return JSON.parse(lines[lines.length - 1] ?? 'null') as Record<string, unknown>;
}

// Plain JavaScript, as a user without TypeScript writes it.
const appMjs = `
import { readFileSync } from 'node:fs';
import { connect, createCluster, defineProjection, runProjection, sqliteTarget, postgresTarget } from 'samsa';
import { createTestCluster } from 'samsa/testing';

const decode = (bytes) => new TextDecoder().decode(bytes);

// Every entry point resolves into the installed package's dist/ and loads.
const { exports } = JSON.parse(readFileSync('node_modules/samsa/package.json', 'utf8'));
const entryPoints = {};
for (const subpath of Object.keys(exports)) {
  const specifier = subpath === '.' ? 'samsa' : 'samsa' + subpath.slice(1);
  const url = import.meta.resolve(specifier);
  if (!url.includes('/node_modules/samsa/dist/')) throw new Error(specifier + ' resolved to ' + url);
  entryPoints[specifier] = Object.keys(await import(specifier)).length;
}
let deepImport = 'allowed';
await import('samsa/dist/index.js').catch((e) => { deepImport = e.code; });

// Deterministic: simulated time, one batch per codec (the native snappy and lz4, zstd's wasm).
const codecs = ['none', 'gzip', 'snappy', 'lz4', 'zstd'];
const test = await createTestCluster({ seed: 7, brokers: 1 });
await test.settle(test.admin().createTopic('orders', { partitions: 1 }));
for (const compression of codecs) {
  await test.settle(test.producer({ compression }).send('orders', { key: compression, value: 'v-' + compression }));
}
const consumer = test.consumer({ groupId: 'billing', autoOffsetReset: 'earliest' });
consumer.assign([{ topic: 'orders', partition: 0 }]);
const consumed = [];
while (consumed.length < codecs.length) consumed.push(...(await test.settle(consumer.poll({ timeoutMs: 1000 }))));
await test.settle(test.stop());

// The embedded cluster on the system clock, as the README starts.
const cluster = await createCluster({ brokers: 1 });
await cluster.admin().createTopic('greetings', { partitions: 1 });
const meta = await cluster.producer().send('greetings', { key: 'k', value: 'hello' });
const reader = cluster.consumer({ groupId: 'readers', autoOffsetReset: 'earliest' });
reader.assign([{ topic: 'greetings', partition: 0 }]);
let greetings = [];
while (greetings.length === 0) greetings = await reader.poll({ timeoutMs: 500 });
// The database drivers are optional peers, not installed here: a SQL target says what to install.
const projection = defineProjection({ name: 'greeted', from: { topics: ['greetings'] }, initial: () => 0, evolve: (n) => n + 1 });
const drivers = [];
for (const target of [sqliteTarget('read.db'), postgresTarget('postgresql://127.0.0.1:1/none')]) {
  drivers.push(await runProjection(cluster, projection, { target }).then(() => 'started', (e) => e.name + ': ' + e.message));
}
await cluster.stop();
// The NATS client is an optional peer too: the transport says what to install.
const nats = await connect({ nats: 'nats://127.0.0.1:1', bootstrap: [1] }).then(() => 'connected', (e) => e.name + ': ' + e.message);

console.log(JSON.stringify({
  drivers,
  nats,
  entryPoints,
  deepImport,
  consumed: consumed.map((r) => [String(r.offset), decode(r.key), decode(r.value)]),
  greeting: [String(meta.offset), decode(greetings[0].value)],
}));
`;

// TypeScript as a strict NodeNext user writes it: types and factories from both entry points.
const appTs = `
import { createCluster, type Cluster, type ConsumerRecord, type ProducerRecord, type RecordMetadata } from 'samsa';
import { createTestCluster, type TestCluster } from 'samsa/testing';
// @ts-expect-error only the entry points in "exports" are importable
import type { Cluster as Deep } from 'samsa/dist/index.js';

const factory: (options?: Parameters<typeof createCluster>[0]) => Promise<Cluster> = createCluster;
const cluster: TestCluster = await createTestCluster({ seed: 11, brokers: 1 });
const asCluster: Cluster = cluster;
await cluster.settle(asCluster.admin().createTopic('orders', { partitions: 1 }));
const record: ProducerRecord = { key: 'k', value: 'typed' };
const meta: RecordMetadata = await cluster.settle(cluster.producer().send('orders', record));
const consumer = cluster.consumer({ groupId: 'g', autoOffsetReset: 'earliest' });
consumer.assign([{ topic: 'orders', partition: 0 }]);
const records: ConsumerRecord[] = await cluster.settle(consumer.poll({ timeoutMs: 1000 }));
await cluster.settle(cluster.stop());
const offset: bigint = meta.offset;
const value: string = new TextDecoder().decode(records[0]?.value ?? new Uint8Array());
console.log(JSON.stringify({ offset: String(offset), value, factory: typeof factory }));
`;

describe('the npm package', () => {
  let work = '';
  let app = '';
  let packed: { filename: string; size: number; entryCount: number; files: Array<{ path: string }> };

  beforeAll(async () => {
    work = mkdtempSync(join(tmpdir(), 'samsa-package-'));
    const packJson = await run('npm', ['pack', '--json', '--pack-destination', work], repo);
    [packed] = JSON.parse(packJson) as [typeof packed];
    const tarball = `file:../${packed.filename}`;

    app = join(work, 'app');
    mkdirSync(app);
    writeFileSync(join(app, 'package.json'), JSON.stringify({ name: 'app', private: true, type: 'module', dependencies: { [manifest.name]: tarball } }, null, 2));
    // Our lockfile's production entries are exactly the package's dependency tree, at the
    // versions (and integrity hashes) `npm ci` put in the cache.
    const lock = JSON.parse(readFileSync(join(repo, 'package-lock.json'), 'utf8')) as { packages: Record<string, { dev?: boolean }> };
    const packages: Record<string, unknown> = {
      '': { name: 'app', dependencies: { [manifest.name]: tarball } },
      [`node_modules/${manifest.name}`]: { version: manifest.version, resolved: tarball, license: manifest.license, dependencies: manifest.dependencies, engines: manifest.engines, bin: manifest.bin },
    };
    for (const [path, entry] of Object.entries(lock.packages)) if (path !== '' && entry.dev !== true) packages[path] = entry;
    writeFileSync(join(app, 'package-lock.json'), JSON.stringify({ name: 'app', lockfileVersion: 3, requires: true, packages }, null, 2));
    try {
      await run('npm', ['ci', '--offline', '--no-audit', '--no-fund'], app);
    } catch {
      rmSync(join(app, 'package-lock.json'), { force: true });
      rmSync(join(app, 'node_modules'), { recursive: true, force: true });
      await run('npm', ['install', '--prefer-offline', '--no-audit', '--no-fund'], app);
    }
  }, 600_000);

  afterAll(() => {
    if (work !== '') rmSync(work, { recursive: true, force: true });
  });

  it('packs dist/, the sources its maps point at, README and LICENSE; no tests, benches, scripts or CI', () => {
    const paths = packed.files.map((f) => f.path);
    expect(paths).toContain('LICENSE');
    expect(paths).toContain('README.md');
    expect(paths.filter((p) => !/^(dist|src)\//.test(p)).sort()).toEqual(['LICENSE', 'README.md', 'bin/samsa.mjs', 'package.json']);
    expect(paths.filter((p) => /(^|\/)(test|bench|scripts|\.ci)\/|\.test\.|tsbuildinfo/.test(p))).toEqual([]);
    // Of src/cli, only the samsa command ships: the demos stay in the repository.
    expect(paths.filter((p) => /(^|\/)cli\//.test(p) && !/cli\/(samsa|kafkaKeys)\.(ts|js|d\.ts|js\.map|d\.ts\.map)$/.test(p))).toEqual([]);
    for (const [subpath, targets] of Object.entries(manifest.exports)) {
      for (const target of [targets.types, targets.import]) expect(paths, `exports["${subpath}"]`).toContain(target.replace(/^\.\//, ''));
      for (const target of [targets.types, targets.import]) expect(paths).toContain(`${target.replace(/^\.\//, '')}.map`);
    }
  });

  it('runs from plain JavaScript (.mjs) with node: every entry point, every codec, both cluster factories', async () => {
    writeFileSync(join(app, 'app.mjs'), appMjs);
    const out = lastJsonLine(await run(process.execPath, ['app.mjs'], app, 120_000));
    expect(Object.keys(out.entryPoints as object).sort()).toEqual(Object.keys(manifest.exports).map((s) => (s === '.' ? 'samsa' : `samsa${s.slice(1)}`)).sort());
    for (const count of Object.values(out.entryPoints as Record<string, number>)) expect(count).toBeGreaterThan(0);
    expect(out.deepImport).toBe('ERR_PACKAGE_PATH_NOT_EXPORTED');
    expect(out.consumed).toEqual(['none', 'gzip', 'snappy', 'lz4', 'zstd'].map((codec, i) => [String(i), codec, `v-${codec}`]));
    expect(out.greeting).toEqual(['0', 'hello']);
    expect(out.drivers).toEqual([expect.stringMatching(/^ProjectionError: .*npm install better-sqlite3@12/), expect.stringMatching(/^ProjectionError: .*npm install pg/)]);
    expect(out.nats).toMatch(/^TransportUnavailableError: .*npm install @nats-io\/transport-node/);
  }, 180_000);

  it('installs the samsa command, which answers without NATS for --version and refuses bad options', async () => {
    const bin = join(app, 'node_modules', '.bin', 'samsa');
    expect((await run(bin, ['--version'], app, 60_000)).trim()).toBe(manifest.version);
    const refused = await run(bin, ['broker', '--id', '1', '--controllers', '0', '--config', 'no.such.key=1'], app, 60_000).then(() => 'ran', (e: unknown) => String(e));
    expect(refused).toMatch(/unknown broker setting "no\.such\.key"/);
  }, 120_000);

  it('compiles with tsc (NodeNext, strict, declarations checked) and runs', async () => {
    writeFileSync(join(app, 'main.ts'), appTs);
    writeFileSync(
      join(app, 'tsconfig.json'),
      JSON.stringify(
        {
          compilerOptions: {
            target: 'ES2022',
            lib: ['ES2022'],
            module: 'NodeNext',
            moduleResolution: 'NodeNext',
            strict: true,
            skipLibCheck: false,
            noEmitOnError: true,
            outDir: 'out',
            types: ['node'],
            typeRoots: [join(repo, 'node_modules', '@types')],
          },
          files: ['main.ts'],
        },
        null,
        2,
      ),
    );
    await run(process.execPath, [tsc, '-p', 'tsconfig.json'], app);
    const out = lastJsonLine(await run(process.execPath, ['out/main.js'], app, 120_000));
    expect(out).toEqual({ offset: '0', value: 'typed', factory: 'function' });
  }, 300_000);
});
