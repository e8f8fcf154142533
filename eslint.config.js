import js from '@eslint/js';
import tseslint from 'typescript-eslint';

const nondeterminism = [
  { name: 'Date', message: 'read time from an injected Clock (src/clock.ts) so simulations replay' },
  { name: 'setTimeout', message: 'schedule through an injected Clock (src/clock.ts) so simulations replay' },
  { name: 'setInterval', message: 'schedule through an injected Clock (src/clock.ts) so simulations replay' },
  { name: 'clearTimeout', message: 'cancel through an injected Clock (src/clock.ts)' },
  { name: 'clearInterval', message: 'cancel through an injected Clock (src/clock.ts)' },
];

export default tseslint.config(
  { ignores: ['node_modules/**', 'dist/**', 'coverage/**', 'bench/results/**', 'bench/_*'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: { globals: { console: 'readonly', process: 'readonly', Buffer: 'readonly', crypto: 'readonly', TextEncoder: 'readonly', TextDecoder: 'readonly', URL: 'readonly' } },
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/consistent-type-imports': 'error',
      'no-constant-condition': ['error', { checkLoops: false }],
    },
  },
  {
    files: ['src/**/*.ts'],
    ignores: ['src/clock.ts', 'src/random.ts'],
    rules: {
      'no-restricted-globals': ['error', ...nondeterminism],
      'no-restricted-properties': [
        'error',
        { object: 'Math', property: 'random', message: 'draw from a seeded Random (src/random.ts) so simulations replay' },
        { object: 'Date', property: 'now', message: 'read time from an injected Clock (src/clock.ts) so simulations replay' },
      ],
      'no-restricted-syntax': [
        'error',
        { selector: 'ExportAllDeclaration', message: 'export names explicitly; the public surface is a curated list' },
        { selector: 'ExportDefaultDeclaration', message: 'named exports only' },
      ],
    },
  },
);
