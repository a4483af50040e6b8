/**
 * `npm run bench:alerting [-- REPS]`: the peers' Alertmanager benchmark (../shared/bench/peers/
 * am-bench.mjs, unchanged except for the binary it starts) run against Alertmanager 0.25 and
 * against Vigil in one run, and the figures printed side by side: ingest rate (alerts/s over
 * 30 s of POST /api/v2/alerts, 100 alerts per request, 4 clients, 10k alerts in 1k groups), CPU
 * of the server process, RSS idle and with the 10k alerts, notifications during the load, and
 * the delay from a new alert to its webhook notification beyond group_wait (20 probes).
 *
 * Vigil runs behind the same command line (`bench-server.ts`: --config.file, --storage.path,
 * --web.listen-address), with its default embedded state store (PGlite) under --storage.path,
 * bundled with esbuild as `npm run build` bundles `vigil server` (what `bin/vigil.mjs` runs);
 * BENCH_FROM_SOURCE=1 runs the TypeScript sources through tsx instead (≈ 90 MB more memory).
 * Both runs use copies of the script in a temporary directory (the script writes its results
 * next to itself; the shared folder is read-only). Ports 19093/19094 as in the script.
 */
import { spawn } from 'node:child_process';
import { chmodSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { build } from 'esbuild';
import { join, resolve } from 'node:path';
import { tmpdir } from 'node:os';
import { fileURLToPath } from 'node:url';
import { PGliteStateStore } from '../state/index.ts';
import { AM_BIN } from './testing.ts';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const PEERS = resolve(process.env.BENCH_PEERS_DIR ?? join(ROOT, '..', 'shared', 'bench', 'peers'));
const reps = Number(process.argv[2] ?? process.env.BENCH_REPS ?? 3);

interface Run {
  alerts_per_s: number;
  am_cpu_s: number;
  am_cpu_cores: number;
  rss_mb_idle: number;
  rss_mb_after: number;
  hwm_mb_after: number;
  loadgen_cpu_s: number;
  notifications_in_load: number;
  notifications_load_plus_6s: number;
  groups_notified: number;
  first_1000_notifications_span_ms: number | null;
  latency_ms_median: number;
  latency_ms_p90: number;
  alerts_failed: number;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

function runScript(dir: string, label: string): Promise<Run[]> {
  return new Promise((resolvePromise, reject) => {
    process.stdout.write(`\n== ${label}: node am-bench.mjs ${reps} (about ${reps} × 70 s)\n`);
    const child = spawn(process.execPath, [join(dir, 'am-bench.mjs'), String(reps)], { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
    child.stdout.on('data', (d) => process.stdout.write(String(d).replace(/^/gm, `  [${label}] `)));
    child.stderr.on('data', (d) => process.stdout.write(String(d).replace(/^/gm, `  [${label}] `)));
    child.on('error', reject);
    child.on('exit', (code) => {
      if (code !== 0) return reject(new Error(`${label}: am-bench.mjs exited with ${code}`));
      const files = readdirSync(join(dir, 'results')).filter((f) => f.startsWith('am-') && f.endsWith('.json'));
      if (files.length === 0) return reject(new Error(`${label}: no results file`));
      const name = files.sort()[files.length - 1]!;
      const file = join(dir, 'results', name);
      const res = JSON.parse(readFileSync(file, 'utf8')) as { runs: Run[] };
      // BENCH_KEEP=DIR keeps the raw results (per-second notification histograms and all).
      if (process.env.BENCH_KEEP) copyFileSync(file, join(process.env.BENCH_KEEP, `${label}-${name}`));
      resolvePromise(res.runs);
    });
  });
}

function fmt(v: number, d = 1): string {
  return v.toLocaleString('en-US', { minimumFractionDigits: d, maximumFractionDigits: d });
}

/** `lower`/`higher`: which way is better; `equal`: the same figure is expected (notification counts). */
function row(name: string, key: keyof Run, vigil: Run[], am: Run[], digits = 1, better: 'lower' | 'higher' | 'equal' = 'lower'): string {
  const vs = vigil.map((r) => Number(r[key] ?? NaN));
  const as = am.map((r) => Number(r[key] ?? NaN));
  const mv = median(vs);
  const ma = median(as);
  const range = (xs: number[]) => `(${fmt(Math.min(...xs), digits)}–${fmt(Math.max(...xs), digits)})`;
  const ratio = ma === 0 ? 'n/a' : `${fmt(mv / ma, 2)}×`;
  let verdict = '';
  if (!Number.isNaN(mv) && !Number.isNaN(ma)) {
    if (better === 'equal') verdict = mv === ma ? '  same' : '  differs';
    else if (better === 'lower' ? mv <= ma : mv >= ma) verdict = '  Vigil better or equal';
  }
  return `${name.padEnd(44)} ${`${fmt(mv, digits)} ${range(vs)}`.padEnd(30)} ${`${fmt(ma, digits)} ${range(as)}`.padEnd(30)} ${ratio.padEnd(8)}${verdict}`;
}

async function main(): Promise<void> {
  if (!existsSync(join(PEERS, 'am-bench.mjs'))) throw new Error(`am-bench.mjs not found in ${PEERS} (set BENCH_PEERS_DIR)`);
  if (!existsSync(AM_BIN)) throw new Error(`${AM_BIN} is not installed (Debian package prometheus-alertmanager)`);
  const tmp = mkdtempSync(join(tmpdir(), 'vigil-bench-alerting-'));
  try {
    const script = readFileSync(join(PEERS, 'am-bench.mjs'), 'utf8');
    const amDir = join(tmp, 'alertmanager');
    const vigilDir = join(tmp, 'vigil');
    mkdirSync(amDir);
    mkdirSync(vigilDir);
    writeFileSync(join(amDir, 'am-bench.mjs'), script);
    copyFileSync(join(PEERS, 'am-bench.yml'), join(amDir, 'am-bench.yml'));
    const launcher = join(tmp, 'vigil-alertmanager-compatible.sh');
    const fromSource = process.env.BENCH_FROM_SOURCE === '1';
    let entry = `--import tsx ${JSON.stringify(join(ROOT, 'src', 'alerting', 'bench-server.ts'))}`;
    if (!fromSource) {
      // A bundle next to a node_modules link, as dist/ sits next to the checkout's node_modules.
      const bundleDir = join(tmp, 'bundle');
      mkdirSync(bundleDir);
      symlinkSync(join(ROOT, 'node_modules'), join(tmp, 'node_modules'), 'dir');
      await build({
        entryPoints: [join(ROOT, 'src', 'alerting', 'bench-server.ts')], outfile: join(bundleDir, 'bench-server.mjs'),
        bundle: true, platform: 'node', format: 'esm', target: 'node20', packages: 'external', logLevel: 'warning', legalComments: 'none',
      });
      copyFileSync(join(ROOT, 'src', 'state', 'pglite-initdb.mjs'), join(bundleDir, 'pglite-initdb.mjs'));
      entry = JSON.stringify(join(bundleDir, 'bench-server.mjs'));
    }
    writeFileSync(launcher, `#!/bin/sh\ncd ${JSON.stringify(ROOT)}\nexec ${JSON.stringify(process.execPath)} ${entry} "$@"\n`);
    chmodSync(launcher, 0o755);
    const needle = `const AM_BIN = '${AM_BIN}';`;
    if (!script.includes(needle)) throw new Error(`am-bench.mjs does not define ${needle}; cannot point it at Vigil`);
    writeFileSync(join(vigilDir, 'am-bench.mjs'), script.replace(needle, `const AM_BIN = ${JSON.stringify(launcher)};`));
    copyFileSync(join(PEERS, 'am-bench.yml'), join(vigilDir, 'am-bench.yml'));

    // The embedded store's initdb template is made once per machine; make it outside the measured runs.
    process.stdout.write('preparing the embedded state store template (once per machine)...\n');
    const warm = await PGliteStateStore.open({ dir: join(tmp, 'warm'), onProgress: (m) => process.stdout.write(`  ${m}\n`) });
    await warm.close();

    const only = process.env.BENCH_ONLY;
    const am = only === 'vigil' ? [] : await runScript(amDir, 'alertmanager');
    const vigil = only === 'alertmanager' ? [] : await runScript(vigilDir, 'vigil');
    const load = readFileSync('/proc/loadavg', 'utf8').trim();
    const lines = [
      '',
      `Alert handling, am-bench.mjs (${reps} repetitions each, median (min–max)); load average at the end: ${load}`,
      `${'figure'.padEnd(44)} ${'Vigil'.padEnd(30)} ${'Alertmanager 0.25'.padEnd(30)} Vigil/AM`,
      row('alerts accepted per second (higher is better)', 'alerts_per_s', vigil, am, 0, 'higher'),
      row('server CPU cores during the 30 s load', 'am_cpu_cores', vigil, am, 2),
      row('server CPU seconds during the load', 'am_cpu_s', vigil, am, 1),
      row('RSS idle, MB', 'rss_mb_idle', vigil, am, 0),
      row('RSS after the load (10k alerts), MB', 'rss_mb_after', vigil, am, 0),
      row('peak RSS (VmHWM) after the load, MB', 'hwm_mb_after', vigil, am, 0),
      row('load generator CPU seconds', 'loadgen_cpu_s', vigil, am, 1),
      row('notifications during the load', 'notifications_in_load', vigil, am, 0, 'equal'),
      row('notifications, load + 6 s', 'notifications_load_plus_6s', vigil, am, 0, 'equal'),
      row('groups notified', 'groups_notified', vigil, am, 0, 'equal'),
      row('span of the first 1,000 notifications, ms', 'first_1000_notifications_span_ms', vigil, am, 0),
      row('delay beyond group_wait, median of 20, ms', 'latency_ms_median', vigil, am, 1),
      row('delay beyond group_wait, p90 of 20, ms', 'latency_ms_p90', vigil, am, 1),
      row('alerts refused', 'alerts_failed', vigil, am, 0),
      '',
      `Vigil: ${fromSource ? 'TypeScript sources through tsx' : 'bundled with esbuild (as npm run build)'}; embedded PGlite state store (silences, notification log, alert and notification history persisted), created by the first alert.`,
      'The machine is shared (2 cores): read the ratios, ±10% is noise.',
    ];
    process.stdout.write(lines.join('\n') + '\n');
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}

await main();
