#!/usr/bin/env node
// The `confluo` command. A user's confluo.config.ts loads through tsx, so it
// needs no build step. The installed package runs its built dist/; a clone of
// the repository (src/ is not published) runs the TypeScript sources, and the
// `confluo-source` export condition sends every `confluo` import in it, the
// examples' included, to those same sources rather than to a stale or absent dist/.
import { existsSync } from 'node:fs';
import { register } from 'node:module';
import { register as registerTsx } from 'tsx/esm/api';

const fromSource = existsSync(new URL('../src/cli/main.ts', import.meta.url));
registerTsx();
if (fromSource) {
  register('data:text/javascript,export const resolve = (specifier, context, next) => next(specifier, { ...context, conditions: [...context.conditions, "confluo-source"] });');
}
const { main } = await import(fromSource ? '../src/cli/main.ts' : '../dist/cli/main.js');
await main(process.argv);
