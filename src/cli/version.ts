/** Version and build information, as `--version` and `/api/v1/status/buildinfo` show them. */
import { existsSync, readFileSync, statSync } from 'node:fs';
import { userInfo, hostname } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { BuildInfo } from '../api/index.ts';

/** The checkout's root: the nearest directory above this file with a package.json (sources or dist/). */
const ROOT = (() => {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 6; i++) {
    if (existsSync(join(dir, 'package.json'))) return dir;
    dir = dirname(dir);
  }
  return process.cwd();
})();

function readGit(): { revision: string; branch: string } {
  try {
    const head = readFileSync(join(ROOT, '.git', 'HEAD'), 'utf8').trim();
    if (!head.startsWith('ref: ')) return { revision: head, branch: 'HEAD' };
    const ref = head.slice(5);
    let revision = '';
    try {
      revision = readFileSync(join(ROOT, '.git', ref), 'utf8').trim();
    } catch {
      const packed = readFileSync(join(ROOT, '.git', 'packed-refs'), 'utf8');
      revision = packed.split('\n').find((l) => l.endsWith(` ${ref}`))?.split(' ')[0] ?? '';
    }
    return { revision, branch: ref.replace(/^refs\/heads\//, '') };
  } catch {
    return { revision: process.env.VIGIL_REVISION ?? 'unknown', branch: 'unknown' };
  }
}

let cached: BuildInfo | undefined;

export function buildInfo(): BuildInfo {
  if (cached) return cached;
  const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string };
  const git = readGit();
  let user = 'unknown';
  try {
    user = `${userInfo().username}@${hostname()}`;
  } catch {
    /* no passwd entry */
  }
  const d = statSync(join(ROOT, 'package.json')).mtime;
  const p = (n: number) => String(n).padStart(2, '0');
  const buildDate = `${d.getUTCFullYear()}${p(d.getUTCMonth() + 1)}${p(d.getUTCDate())}-${p(d.getUTCHours())}:${p(d.getUTCMinutes())}:${p(d.getUTCSeconds())}`;
  cached = { version: pkg.version, revision: git.revision.slice(0, 40), branch: git.branch, buildUser: user, buildDate, goVersion: `node${process.versions.node}` };
  return cached;
}

/** The `vigil --version` text (Prometheus' layout). */
export function versionText(): string {
  const b = buildInfo();
  return [
    `vigil, version ${b.version} (branch: ${b.branch}, revision: ${b.revision})`,
    `  build user:       ${b.buildUser}`,
    `  build date:       ${b.buildDate}`,
    `  node version:     ${process.version}`,
    `  platform:         ${process.platform}/${process.arch}`,
    '',
  ].join('\n');
}
