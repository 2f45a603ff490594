// `npm run test:unit`: the fast level, for a newcomer's edit-test loop: the
// tests beside the code (src/, examples/) that need neither PostgreSQL nor a
// child process, found by what each file imports, so a new test lands on the
// right level by itself. The end-to-end tests in test/ and `npm test`
// (vitest.config.ts), the full suite as CI runs it, stay as they are.
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { defineConfig } from 'vitest/config';

/** Imports that mean PostgreSQL or a child process: test/support/postgres.ts, test/support/hub-process.ts, node:child_process. */
const NEEDS_SERVICES = /from ['"](?:node:child_process|[./]+(?:test\/)?support\/(?:postgres|hub-process)\.js)['"]/;

function testFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return entry.name === 'node_modules' ? [] : testFiles(path);
    return entry.name.endsWith('.test.ts') ? [path] : [];
  });
}

const root = import.meta.dirname;
const heavy = ['src', 'examples']
  .flatMap((dir) => testFiles(join(root, dir)))
  .filter((file) => NEEDS_SERVICES.test(readFileSync(file, 'utf8')))
  .map((file) => relative(root, file));

export default defineConfig({
  test: {
    include: ['src/**/*.test.ts', 'examples/**/*.test.ts'],
    exclude: [...heavy, '**/node_modules/**'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    pool: 'forks',
    reporters: ['default', './test/support/summary-reporter.ts'],
  },
});
