#!/usr/bin/env node
// Bundles Vigil's TypeScript sources into dist/vigil.mjs (esbuild; npm packages stay external)
// so that `vigil` starts without transpiling: ~3x faster start and ~90 MB less memory than
// running the sources through tsx. bin/vigil.mjs uses the bundle when it is newer than every
// source file and falls back to the sources otherwise. Run by `npm start` and after `npm ci`.
import { build } from 'esbuild';
import { copyFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';

const root = new URL('..', import.meta.url).pathname;
const dist = join(root, 'dist');
mkdirSync(dist, { recursive: true });
const t0 = Date.now();
await build({
  entryPoints: [join(root, 'src/cli/main.ts')],
  outfile: join(dist, 'vigil.mjs'),
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node20',
  packages: 'external',
  sourcemap: 'linked',
  logLevel: 'warning',
  legalComments: 'none',
});
// Files the code locates next to itself at run time.
copyFileSync(join(root, 'src/state/pglite-initdb.mjs'), join(dist, 'pglite-initdb.mjs'));
if (!process.argv.includes('--quiet')) console.error(`[build] dist/vigil.mjs in ${Date.now() - t0} ms`);
