/**
 * Where the workplace's read-only shared material lives (conformance corpora, benchmark
 * harnesses, peer figures): `$VIGIL_SHARED_DIR`, else `../shared` beside the checkout, else
 * `/work/shared`. Undefined when none exists (tests then skip with the reason).
 */
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const REPO_ROOT = resolve(fileURLToPath(new URL('../..', import.meta.url)));

export function sharedDir(): string | undefined {
  const candidates = [process.env.VIGIL_SHARED_DIR, resolve(REPO_ROOT, '../shared'), '/work/shared'];
  for (const c of candidates) if (c && existsSync(resolve(c, 'DESIGN.md'))) return resolve(c);
  return undefined;
}

/** A path inside the shared folder (possibly nonexistent when the folder is absent). */
export function sharedPath(...parts: string[]): string {
  return resolve(sharedDir() ?? resolve(REPO_ROOT, '../shared'), ...parts);
}
