// Lint rules. The one that matters most is the import boundary: the core
// (flow, engine, protocol, ingest) imports no driver and no server framework;
// drivers implement ports and are wired in `src/hub`.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

export const coreBoundary = {
  patterns: [
    { group: ['**/store/sqlite', '**/store/sqlite/**', '**/store/postgres', '**/store/postgres/**'], message: 'The core imports no store driver: depend on the Store port (src/store/store.ts).' },
    { group: ['**/hub/**', '**/api/**', '**/cli/**'], message: 'The core does not reach up into the hub, API or CLI.' },
  ],
  paths: [
    { name: 'better-sqlite3', message: 'Only src/store/sqlite talks to SQLite.' },
    { name: 'pg', message: 'Only src/store/postgres talks to PostgreSQL.' },
    { name: 'fastify', message: 'The core is transport-free; HTTP lives in src/protocol/http.ts and src/api.' },
  ],
};

export default tseslint.config(
  { ignores: ['node_modules/**', 'dist/**', 'coverage/**', '.confluo/**', 'bench/results/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: { globals: { process: 'readonly', console: 'readonly', Buffer: 'readonly', setTimeout: 'readonly', clearTimeout: 'readonly', setImmediate: 'readonly', setInterval: 'readonly', clearInterval: 'readonly', URL: 'readonly', AbortSignal: 'readonly' } },
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_', destructuredArrayIgnorePattern: '^_' }],
      '@typescript-eslint/consistent-type-imports': 'error',
    },
  },
  {
    files: ['src/flow/**/*.ts', 'src/engine/**/*.ts', 'src/ingest/**/*.ts', 'src/validation/**/*.ts', 'src/store/store.ts', 'src/store/types.ts'],
    ignores: ['**/*.test.ts'],
    rules: { 'no-restricted-imports': ['error', coreBoundary] },
  },
  {
    files: ['src/protocol/**/*.ts'],
    ignores: ['**/*.test.ts', 'src/protocol/http.ts'],
    rules: { 'no-restricted-imports': ['error', coreBoundary] },
  },
  {
    files: ['**/*.test.ts', 'test/**/*.ts', 'bench/**/*.ts'],
    rules: { '@typescript-eslint/no-explicit-any': 'off', '@typescript-eslint/no-non-null-assertion': 'off' },
  },
);
