// The import boundary: the core imports no driver. Proven by linting a core
// file that does, and a driver file that may.
import { ESLint } from 'eslint';
import { describe, expect, it } from 'vitest';

const lint = async (filePath: string, code: string) => {
  const eslint = new ESLint({ cwd: new URL('..', import.meta.url).pathname });
  const [result] = await eslint.lintText(code, { filePath });
  return result!.messages.filter((m) => m.ruleId === 'no-restricted-imports').map((m) => m.message);
};

describe('import boundary', () => {
  it('rejects a store driver, SQLite or Fastify imported from the engine', async () => {
    const messages = await lint(
      'src/engine/sneaky.ts',
      "import { SqliteStore } from '../store/sqlite/index.js';\nimport Database from 'better-sqlite3';\nimport Fastify from 'fastify';\nexport const x = [SqliteStore, Database, Fastify];\n",
    );
    expect(messages).toHaveLength(3);
    expect(messages[0]).toMatch(/imports no store driver/);
  });

  it('rejects the hub reaching into the flow and protocol core', async () => {
    expect(await lint('src/flow/sneaky.ts', "import { createHub } from '../hub/create-hub.js';\nexport const x = createHub;\n")).toHaveLength(1);
    expect(await lint('src/protocol/dispatch-extra.ts', "import pgStore from '../store/postgres/index.js';\nexport const x = pgStore;\n")).toHaveLength(1);
  });

  it('lets the hub wire drivers in', async () => {
    expect(await lint('src/hub/wiring.ts', "import { SqliteStore } from '../store/sqlite/index.js';\nexport const x = SqliteStore;\n")).toEqual([]);
  });
});
