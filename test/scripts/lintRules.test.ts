import { resolve } from 'node:path';
import { ESLint } from 'eslint';
import { describe, expect, it } from 'vitest';

// The determinism rule: src/ must take time and randomness from src/clock.ts and src/random.ts.
describe('lint rules', () => {
  const eslint = new ESLint({ cwd: resolve(import.meta.dirname, '../..') });
  async function ruleIds(code: string, filePath: string): Promise<string[]> {
    const [result] = await eslint.lintText(code, { filePath });
    return (result?.messages ?? []).map((m) => m.ruleId ?? m.message);
  }

  it('bans Date.now, setTimeout, setInterval and Math.random in src/', async () => {
    const code = 'export const a = Date.now();\nexport const b = Math.random();\nsetTimeout(() => {}, 1);\nsetInterval(() => {}, 1);\n';
    const ids = await ruleIds(code, resolve(import.meta.dirname, '../../src/log/sample.ts'));
    expect(ids.filter((id) => id === 'no-restricted-properties')).toHaveLength(2);
    expect(ids.filter((id) => id === 'no-restricted-globals')).toHaveLength(3); // Date itself, setTimeout, setInterval
  });

  it('allows them in clock.ts, random.ts and tests, and bans export * in src/', async () => {
    expect(await ruleIds('export const a = Date.now();\n', resolve(import.meta.dirname, '../../src/clock.ts'))).toEqual([]);
    expect(await ruleIds('export const a = Math.random();\n', resolve(import.meta.dirname, '../../test/sample.test.ts'))).toEqual([]);
    expect(await ruleIds("export * from './errors.ts';\n", resolve(import.meta.dirname, '../../src/sample.ts'))).toContain('no-restricted-syntax');
  });
});
