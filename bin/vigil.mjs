#!/usr/bin/env node
// Entry point of the `vigil` command. Runs the bundle dist/vigil.mjs (see scripts/build.mjs)
// when it is newer than every source file; otherwise runs the TypeScript sources through tsx,
// so a checkout being edited never runs stale code. VIGIL_FROM_SOURCE=1 forces the sources.
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';

const root = new URL('..', import.meta.url).pathname;
const bundle = join(root, 'dist', 'vigil.mjs');

function newestSourceMtime(dir) {
  let newest = 0;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) newest = Math.max(newest, newestSourceMtime(p));
    else if (e.name.endsWith('.ts') || e.name.endsWith('.mjs')) newest = Math.max(newest, statSync(p).mtimeMs);
  }
  return newest;
}

function bundleIsFresh() {
  if (process.env.VIGIL_FROM_SOURCE === '1' || !existsSync(bundle)) return false;
  try {
    const built = statSync(bundle).mtimeMs;
    return built >= newestSourceMtime(join(root, 'src')) && built >= statSync(join(root, 'package.json')).mtimeMs;
  } catch {
    return false;
  }
}

let main;
if (bundleIsFresh()) {
  ({ main } = await import(bundle));
} else {
  const { register } = await import('tsx/esm/api');
  register();
  ({ main } = await import('../src/cli/main.ts'));
}
process.exitCode = await main(process.argv.slice(2));
