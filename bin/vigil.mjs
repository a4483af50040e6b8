#!/usr/bin/env node
// Entry point of the `vigil` command. Vigil runs its TypeScript sources through tsx's
// loader (esbuild, cached under the OS temp dir), so there is no separate build step.
import { register } from 'tsx/esm/api';

register();
const { main } = await import('../src/cli/main.ts');
process.exitCode = await main(process.argv.slice(2));
