// Importing `confluo` loads neither database driver: better-sqlite3 (native)
// and pg come in when a store of their kind is opened. Proved in a fresh
// process whose module resolution refuses both packages.
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

const refuseDrivers = `data:text/javascript,${encodeURIComponent(
  `export async function resolve(specifier, context, next) {
     if (specifier === 'better-sqlite3' || specifier === 'pg') throw new Error('refused ' + specifier);
     return next(specifier, context);
   }`,
)}`;

const script = `
  import { register } from 'node:module';
  register(${JSON.stringify(refuseDrivers)});
  const confluo = await import('confluo');
  const open = (url) => confluo.openStore(url).then(() => 'opened', (error) => error.message);
  console.log(JSON.stringify({
    root: typeof confluo.createHub,
    sqlite: await open('sqlite::memory:'),
    postgres: await open('postgres://nobody@127.0.0.1:9/none'),
  }));
`;

describe('openStore', () => {
  it('loads a driver only when a store of its kind is opened, never on importing the package root', async () => {
    const { stdout } = await promisify(execFile)(process.execPath, ['--conditions=confluo-source', '--import', 'tsx', '--input-type=module', '-e', script], { cwd: ROOT });
    expect(JSON.parse(stdout)).toEqual({ root: 'function', sqlite: 'refused better-sqlite3', postgres: 'refused pg' });
  });
});
