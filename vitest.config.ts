import { defineConfig } from 'vitest/config';

export default defineConfig({
  // `confluo` imports inside the repository (the examples) resolve to src/, as in bin/confluo.mjs.
  ssr: { resolve: { conditions: ['confluo-source'] } },
  test: {
    include: ['src/**/*.test.ts', 'test/**/*.test.ts', 'examples/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    pool: 'forks',
    // One PostgreSQL server per run (embedded unless CONFLUO_TEST_DATABASE_URL is set).
    globalSetup: ['./test/support/postgres-global-setup.ts'],
    reporters: ['default', './test/support/summary-reporter.ts'],
  },
});
