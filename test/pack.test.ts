// The package as users get it: `npm pack` (its prepack builds dist/), the
// tarball installed into a new project outside the repository, and there:
// `npx confluo start` runs a TypeScript config and accepts an event, a plain
// .mjs script imports `confluo` and `confluo/protocol`, and `tsc --noEmit`
// passes on a file that uses the typed API (and catches its misuse).
import { spawn, execFile as execFileCallback } from 'node:child_process';
import { copyFileSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { killGroup } from './support/hub-process.js';
import { tempDir } from './support/index.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const execFile = promisify(execFileCallback);
const requireHere = createRequire(import.meta.url);
const versionOf = (name: string) => (JSON.parse(readFileSync(requireHere.resolve(`${name}/package.json`), 'utf8')) as { version: string }).version;

// npm and npx run on the Node that runs this test (20 or 24).
const env = { ...process.env, PATH: `${dirname(process.execPath)}:${process.env.PATH ?? ''}` };
const run = (command: string, args: string[], cwd: string) => execFile(command, args, { cwd, env, maxBuffer: 64 * 1024 * 1024 });

const FLOW = `
import { z } from 'zod';
import { defineEntity, defineEvent, defineFlow, defineRule } from 'confluo';

export const counter = defineEntity({ name: 'counter', key: { fields: ['id'] }, parts: { tally: z.object({ n: z.number().int() }) } });

export const bumped = defineEvent({
  name: 'counter:bumped',
  version: 1,
  entity: counter,
  payload: z.object({ id: z.string(), by: z.number().int() }),
  key: (p) => ({ id: p.id }),
});

export const flow = defineFlow({
  entities: [counter],
  events: [bumped],
  rules: [defineRule({ event: bumped, parts: ['tally'], apply: ({ payload }, current) => ({ tally: { n: (current?.parts.tally?.n ?? 0) + payload.by } }) })],
});
`;

const CONFIG = `
import { defineConfig } from 'confluo';
import { flow } from './flow.js';

export default defineConfig({ flow });
`;

// Types that degrade to any would leave the @ts-expect-error unused, which tsc reports.
const TYPED = `
import { defineRule, type EntityParts } from 'confluo';
import { bumped, counter } from './flow.js';

export const tally: EntityParts<typeof counter> = { tally: { n: 1 } };

export const misspelled = defineRule({
  event: bumped,
  parts: ['tally'],
  // @ts-expect-error: n is a number, id a string
  apply: ({ payload }) => ({ tally: { n: payload.id } }),
});
`;

const SCRIPT = `
import { createRequire } from 'node:module';
import { openStore, defineEntity } from 'confluo';
import { requestEnvelopeSchema } from 'confluo/protocol';

const cache = createRequire(import.meta.url).cache;
const drivers = () => ['better-sqlite3', 'pg'].filter((name) => Object.keys(cache).some((file) => file.includes('/node_modules/' + name + '/')));

const envelope = requestEnvelopeSchema.parse({ name: 'ping', version: 1, id: 'e-1', flowId: 'f-1', payload: {} });
const loadedOnImport = drivers();
const store = await openStore('sqlite:./script.db');
await store.close();
console.log(JSON.stringify({ envelope: envelope.name, defineEntity: typeof defineEntity, loadedOnImport, loadedOnOpen: drivers() }));
`;

const TSCONFIG = { compilerOptions: { target: 'ES2022', module: 'NodeNext', moduleResolution: 'NodeNext', strict: true, noEmit: true, skipLibCheck: true, types: ['node'] }, include: ['*.ts'] };

describe('the packed package, installed into a new project', () => {
  const project = tempDir('confluo-user-');
  let files: string[] = [];

  beforeAll(async () => {
    const packed = JSON.parse((await run('npm', ['pack', '--json', '--pack-destination', project.path], ROOT)).stdout) as Array<{ filename: string; files: Array<{ path: string }> }>;
    files = packed[0]!.files.map((f) => f.path);
    const tarball = join(project.path, packed[0]!.filename);

    writeFileSync(join(project.path, 'package.json'), JSON.stringify({ name: 'user-app', private: true, type: 'module' }));
    writeFileSync(join(project.path, 'flow.ts'), FLOW);
    writeFileSync(join(project.path, 'confluo.config.ts'), CONFIG);
    writeFileSync(join(project.path, 'typed.ts'), TYPED);
    writeFileSync(join(project.path, 'script.mjs'), SCRIPT);
    writeFileSync(join(project.path, 'tsconfig.json'), JSON.stringify(TSCONFIG));
    // The repository's own versions, so npm finds them in the cache `npm ci` filled. Install
    // scripts are skipped: better-sqlite3 would try a download, then a compile; it reuses the
    // binary the repository's install built for this same Node instead.
    const pinned = ['better-sqlite3', 'zod', 'typescript', '@types/node'].map((name) => `${name}@${versionOf(name)}`);
    await run('npm', ['install', '--prefer-offline', '--ignore-scripts', '--no-audit', '--no-fund', tarball, ...pinned], project.path);
    const binding = 'build/Release/better_sqlite3.node';
    mkdirSync(join(project.path, 'node_modules/better-sqlite3/build/Release'), { recursive: true });
    copyFileSync(join(dirname(requireHere.resolve('better-sqlite3/package.json')), binding), join(project.path, 'node_modules/better-sqlite3', binding));
  }, 240_000);

  afterAll(() => project.remove());

  it('holds the built JS and .d.ts and the command, and no sources or tests', () => {
    expect(files).toEqual(expect.arrayContaining(['bin/confluo.mjs', 'dist/index.js', 'dist/index.d.ts', 'dist/protocol/index.js', 'dist/store/sqlite/checkpoint-worker.mjs', 'package.json']));
    expect(files.filter((f) => f.startsWith('src/') || f.includes('.test.') || f.includes('.contract.'))).toEqual([]);
  });

  it('runs `npx confluo start --config confluo.config.ts`, which accepts and applies an event', async () => {
    const child = spawn('npx', ['confluo', 'start', '--config', 'confluo.config.ts', '--port', '0', '--db', 'sqlite:./data/confluo.db'], {
      cwd: project.path,
      env: { ...env, CONFLUO_API_KEYS: 'ck_user_key_0123456789abcdef', CONFLUO_LOG_LEVEL: 'info' },
      detached: true,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    try {
      let output = '';
      child.stderr.on('data', (chunk) => (output += chunk));
      const url = await new Promise<string>((resolve, reject) => {
        child.stdout.on('data', (chunk) => {
          output += chunk;
          const line = output.split('\n').find((l) => l.includes('Confluo listening on'));
          if (line) resolve((JSON.parse(line) as { url: string }).url);
        });
        child.once('exit', (code) => reject(new Error(`confluo exited with ${code}:\n${output}`)));
      });
      const envelope = { name: 'counter:bumped', version: 1, id: 'evt-1', flowId: 'pack', payload: { id: 'c1', by: 2 }, metadata: { wait: true } };
      const answer = await request(`${url}/events`, { method: 'POST', headers: { authorization: 'Bearer ck_user_key_0123456789abcdef', 'content-type': 'application/json' }, body: JSON.stringify(envelope) });
      expect(await answer.body.json()).toMatchObject({ name: 'counter:bumped:response', payload: { status: 'processed', key: 'c1', version: 1, changedParts: ['tally'] } });
    } finally {
      killGroup(child, 'SIGKILL');
    }
  }, 60_000);

  it('runs a plain .mjs script importing `confluo` and `confluo/protocol`, which loads a driver only on opening a store', async () => {
    const { stdout } = await run(process.execPath, ['script.mjs'], project.path);
    expect(JSON.parse(stdout)).toEqual({ envelope: 'ping', defineEntity: 'function', loadedOnImport: [], loadedOnOpen: ['better-sqlite3'] });
  });

  it('type-checks a file that uses the typed API with `tsc --noEmit`', async () => {
    await expect(run(process.execPath, ['node_modules/typescript/bin/tsc', '--noEmit', '-p', '.'], project.path)).resolves.toBeDefined();
  }, 60_000);
});
