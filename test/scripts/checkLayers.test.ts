import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { checkLayers } from '../../scripts/checkLayers.ts';

describe('layer check', () => {
  const dirs: string[] = [];
  afterEach(() => dirs.splice(0).forEach((d) => rmSync(d, { recursive: true, force: true })));
  function tree(files: Record<string, string>): string {
    const root = mkdtempSync(join(tmpdir(), 'samsa-layers-'));
    dirs.push(root);
    for (const [path, text] of Object.entries(files)) {
      mkdirSync(join(root, path, '..'), { recursive: true });
      writeFileSync(join(root, path), text);
    }
    return root;
  }

  it('passes on this repository', () => {
    expect(checkLayers(resolve(import.meta.dirname, '../..'))).toEqual([]);
  });

  it('flags a lower layer importing a higher one, and xstate or rxjs inside log/', () => {
    const root = tree({
      'src/log/a.ts': "import { x } from '../actors/b.ts';\nimport { createActor } from 'xstate';\n",
      'src/actors/b.ts': "export const x = 1;\nimport { y } from '../log/c.ts';\n",
      'src/log/c.ts': "import type { Observable } from 'rxjs';\nexport const y = 2;\n",
    });
    const problems = checkLayers(root);
    expect(problems).toHaveLength(3);
    expect(problems.join('\n')).toMatch(/src\/log\/a\.ts \(log\) imports "\.\.\/actors\/b\.ts" \(actors\)/);
    expect(problems.join('\n')).toMatch(/imports "xstate"/);
    expect(problems.join('\n')).toMatch(/src\/log\/c\.ts \(log\) imports "rxjs"/);
  });

  it('keeps parallel layers apart and lets streams reach the clients only through their ports', () => {
    const root = tree({
      'src/clients/producer.ts': "import { broker } from '../actors/broker.ts';\nexport const p = 1;\n",
      'src/actors/broker.ts': "export const broker = 1;\n",
      'src/clients/api.ts': "export interface KafkaClients { x: number }\n",
      'src/streams/app.ts': "import type { KafkaClients } from '../clients/api.ts';\nimport { p } from '../clients/producer.ts';\nimport { broker } from '../actors/broker.ts';\n",
    });
    const problems = checkLayers(root);
    expect(problems).toHaveLength(3);
    expect(problems.join('\n')).toMatch(/src\/clients\/producer\.ts \(clients\) imports "\.\.\/actors\/broker\.ts" \(actors\): clients and actors are parallel layers/);
    expect(problems.join('\n')).toMatch(/src\/streams\/app\.ts \(streams\) imports "\.\.\/clients\/producer\.ts" \(clients\): streams reaches the clients only through clients\/api\.ts/);
    expect(problems.join('\n')).toMatch(/src\/streams\/app\.ts \(streams\) imports "\.\.\/actors\/broker\.ts" \(actors\)/);
  });

  it('keeps the clients off the broker\'s storage and transaction state', () => {
    const root = tree({
      'src/clients/consumer.ts': "import { read } from '../log/segment.ts';\nimport type { T } from '../transactions/state.ts';\nimport { crc } from '../record/crc.ts';\n",
      'src/log/segment.ts': 'export const read = 1;\n',
      'src/transactions/state.ts': 'export type T = 1;\n',
      'src/record/crc.ts': 'export const crc = 1;\n',
    });
    const problems = checkLayers(root);
    expect(problems).toHaveLength(2);
    expect(problems.join('\n')).toMatch(/src\/clients\/consumer\.ts \(clients\) imports "\.\.\/log\/segment\.ts" \(log\): clients use only record\/, protocol\/, transport\/ and shared leaves/);
    expect(problems.join('\n')).toMatch(/imports "\.\.\/transactions\/state\.ts" \(transactions\)/);
  });
});
