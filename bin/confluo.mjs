#!/usr/bin/env node
// The `confluo` command. TypeScript sources and config files load through tsx,
// so neither the hub nor a user's confluo.config.ts needs a build step.
import { register } from 'tsx/esm/api';

register();
const { main } = await import('../src/cli/main.ts');
await main(process.argv);
