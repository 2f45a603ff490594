// docs/reference.md is the reference: every route the hub registers and every
// command the CLI defines must appear in it, or this fails and names what is missing.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Command } from 'commander';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { program } from '../src/cli/main.js';
import { startTestHub, type TestHub } from './support/index.js';

const reference = readFileSync(join(import.meta.dirname, '..', 'docs', 'reference.md'), 'utf8');
/** Path parameters written either way (`:key` in code, `<key>` or `<event id>` in the docs) read as one placeholder. */
const placeholders = (text: string) => text.replace(/<[^>\n]+>/g, '<>').replace(/:[A-Za-z]+/g, '<>');
const documented = placeholders(reference);

/** Every leaf command, as a person types it: `confluo parked list`. */
function commands(command: Command, prefix: string[] = []): string[] {
  const path = [...prefix, command.name()];
  return command.commands.length === 0 ? [path.join(' ')] : command.commands.flatMap((c) => commands(c, path));
}

describe('docs/reference.md', () => {
  let t: TestHub;
  beforeAll(async () => {
    t = await startTestHub();
  });
  afterAll(async () => {
    await t.close();
  });

  it('documents every HTTP route the hub registers', () => {
    const routes: string[] = [];
    // printRoutes draws a tree: "├── /api/v1/parked (GET, HEAD)", its children indented 4 more with
    // the rest of their path ("│   └── /:entity/:key/retry (POST)"). Rebuild each full path by depth.
    const above: string[] = [];
    for (const line of t.hub.app.printRoutes({ commonPrefix: false }).split('\n')) {
      const at = line.indexOf('── ');
      const match = /^(\S+) \(([^)]+)\)$/.exec(line.slice(at + 3));
      if (at < 0 || !match) continue;
      const depth = at / 4;
      const path = (above[depth - 1] ?? '') + (match[1] as string);
      above[depth] = path;
      if (path.length > 1 && path.endsWith('/')) continue; // the trailing-slash twin of a documented route
      for (const method of (match[2] as string).split(', ')) if (method !== 'HEAD') routes.push(`${method} ${placeholders(path)}`);
    }
    expect(routes.length).toBeGreaterThan(20);
    expect(routes.filter((route) => !documented.includes(route))).toEqual([]);
  });

  it('documents every CLI command', () => {
    const all = commands(program());
    expect(all.length).toBeGreaterThan(20);
    expect(all.filter((command) => !reference.includes(command))).toEqual([]);
  });
});
