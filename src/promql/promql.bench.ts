/**
 * `npm run bench:promql`: the same data loaded into Vigil (embedded TSDB, flushed into blocks)
 * and into Prometheus (`promtool tsdb create-blocks-from openmetrics`), both serving the HTTP
 * API on 127.0.0.1; the issue's queries timed over HTTP as instant queries and as 1 h range
 * queries at 15 s steps, alternating the systems every round. Prints medians and ratios.
 *
 * Options (environment): BENCH_REPS (default 10), BENCH_INSTANCES (10), BENCH_HANDLERS (50).
 * Series: instances × handlers × (10 request counters + 11 buckets + 2 sum/count) + up.
 * Everything runs in a temporary directory that is removed; child processes are stopped by PID.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createWriteStream, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { performance } from 'node:perf_hooks';
import { Labels } from '../model/index.ts';
import type { Appendable } from '../storage/index.ts';
import { freePort } from '../../test/helpers/free-port.ts';

const REPS = Number(process.env.BENCH_REPS ?? 10);
const INSTANCES = Number(process.env.BENCH_INSTANCES ?? 10);
const HANDLERS = Number(process.env.BENCH_HANDLERS ?? 50);
const STEP_MS = 15_000;
const SPAN_MS = 65 * 60_000; // 1 h range plus the 5 m rate window
const CODES = ['200', '302', '404', '500', '503'];
const METHODS = ['GET', 'POST'];
const LES = ['0.005', '0.01', '0.025', '0.05', '0.1', '0.25', '0.5', '1', '2.5', '5', '+Inf'];
const LE_FRACTION = [0.05, 0.1, 0.2, 0.35, 0.5, 0.7, 0.85, 0.93, 0.97, 0.99, 1];

const QUERIES: Array<{ name: string; expr: string }> = [
  { name: 'sum_rate_by_code', expr: 'sum by (code) (rate(http_requests_total[5m]))' },
  { name: 'hist_quantile_p95', expr: 'histogram_quantile(0.95, sum by (le) (rate(http_request_duration_seconds_bucket[5m])))' },
  { name: 'topk5_rate', expr: 'topk(5, rate(http_requests_total[5m]))' },
  { name: 'count_all_series', expr: 'count({__name__=~".+"})' },
  { name: 'regex_matcher', expr: 'sum by (handler) (rate(http_requests_total{handler=~"/api/v1/h1.*",code=~"5.."}[5m]))' },
  { name: 'up', expr: 'up' },
];

interface SeriesDef {
  labels: Labels;
  text: string;
  value: (k: number) => number;
}

/** Deterministic pseudo-random numbers (mulberry32). */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function seriesDefs(): SeriesDef[] {
  const out: SeriesDef[] = [];
  const make = (rec: Record<string, string>, value: (k: number) => number): void => {
    const labels = Labels.fromRecord(rec);
    const name = rec.__name__!;
    const rest = labels.pairs.flatMap((_, i) => (i % 2 === 0 && labels.pairs[i] !== '__name__' ? [`${labels.pairs[i]}=${JSON.stringify(labels.pairs[i + 1])}`] : []));
    out.push({ labels, text: `${name}{${rest.join(',')}}`, value });
  };
  for (let i = 0; i < INSTANCES; i++) {
    make({ __name__: 'up', job: 'api', instance: `i${i}` }, () => 1);
    for (let h = 0; h < HANDLERS; h++) {
      const base = { job: 'api', instance: `i${i}`, handler: `/api/v1/h${h}` };
      const r = rng(i * 1000 + h);
      for (const code of CODES) {
        for (const method of METHODS) {
          const rate = Math.floor(r() * 20) + (code === '200' ? 50 : 1);
          make({ __name__: 'http_requests_total', ...base, code, method }, (k) => rate * k);
        }
      }
      const reqRate = Math.floor(r() * 30) + 10;
      LES.forEach((le, j) => make({ __name__: 'http_request_duration_seconds_bucket', ...base, le }, (k) => Math.floor(reqRate * k * LE_FRACTION[j]!)));
      make({ __name__: 'http_request_duration_seconds_count', ...base }, (k) => reqRate * k);
      make({ __name__: 'http_request_duration_seconds_sum', ...base }, (k) => reqRate * k * 0.21);
    }
  }
  return out;
}

async function writeOpenMetrics(file: string, defs: SeriesDef[], t0: number, n: number): Promise<void> {
  const out = createWriteStream(file);
  const write = (s: string): Promise<void> => new Promise((res) => (out.write(s) ? res() : out.once('drain', () => res())));
  let lastFamily = '';
  for (const d of defs.slice().sort((a, b) => (a.labels.metricName() < b.labels.metricName() ? -1 : a.labels.metricName() > b.labels.metricName() ? 1 : 0))) {
    const fam = d.labels.metricName();
    if (fam !== lastFamily) {
      await write(`# TYPE ${fam} unknown\n`);
      lastFamily = fam;
    }
    let chunk = '';
    for (let k = 0; k < n; k++) chunk += `${d.text} ${d.value(k)} ${(t0 + k * STEP_MS) / 1000}\n`;
    await write(chunk);
  }
  await write('# EOF\n');
  await new Promise<void>((res) => out.end(() => res()));
}

async function loadVigil(dir: string, defs: SeriesDef[], t0: number, n: number): Promise<void> {
  const path = '../tsdb/index.ts';
  const mod = (await import(path)) as { openTsdb: (o: { dir: string; compactionIntervalMs?: number; retentionTime?: number }) => Promise<Appendable & { flushHead?: () => Promise<void>; close(): Promise<void> }> };
  const db = await mod.openTsdb({ dir, compactionIntervalMs: 0, retentionTime: 0 });
  const refs = new Array<number>(defs.length).fill(0);
  for (let k = 0; k < n; k++) {
    const app = db.appender();
    for (let j = 0; j < defs.length; j++) refs[j] = app.append(refs[j]!, defs[j]!.labels, t0 + k * STEP_MS, defs[j]!.value(k));
    await app.commit();
  }
  if (db.flushHead) await db.flushHead();
  await db.close();
}


const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });

function get(port: number, path: string): Promise<{ ms: number; status: number; body: string }> {
  return new Promise((resolveP, reject) => {
    const t0 = performance.now();
    const req = http.get({ host: '127.0.0.1', port, path, agent, timeout: 120_000 }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolveP({ ms: performance.now() - t0, status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString() }));
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
  });
}

async function waitReady(port: number, path: string, child: ChildProcess, what: string): Promise<void> {
  const deadline = Date.now() + 120_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`${what} exited with code ${child.exitCode}`);
    try {
      const r = await get(port, path);
      if (r.status === 200) return;
    } catch {
      // not up yet
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`${what} did not become ready`);
}

function stop(child: ChildProcess | undefined): Promise<void> {
  if (!child || child.exitCode !== null || child.pid === undefined) return Promise.resolve();
  return new Promise((res) => {
    const timer = setTimeout(() => {
      try {
        process.kill(child.pid!, 'SIGKILL');
      } catch {
        // already gone
      }
    }, 10_000);
    child.once('exit', () => {
      clearTimeout(timer);
      res();
    });
    try {
      process.kill(child.pid!, 'SIGTERM');
    } catch {
      res();
    }
  });
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

async function main(): Promise<void> {
  if (spawnSync('prometheus', ['--version']).status !== 0 || spawnSync('promtool', ['--version']).status !== 0) {
    console.log('bench:promql: skipped, prometheus/promtool not installed (Debian package prometheus)');
    return;
  }
  const root = resolve(fileURLToPath(new URL('../../', import.meta.url)));
  const work = mkdtempSync(join(tmpdir(), 'vigil-bench-promql-'));
  let vigil: ChildProcess | undefined;
  let prom: ChildProcess | undefined;
  const cleanup = async (): Promise<void> => {
    await stop(vigil);
    await stop(prom);
    rmSync(work, { recursive: true, force: true });
  };
  process.on('SIGINT', () => void cleanup().then(() => process.exit(130)));
  try {
    const defs = seriesDefs();
    const n = SPAN_MS / STEP_MS + 1;
    const t0 = Math.floor((Date.now() - 6 * 3600_000) / 7_200_000) * 7_200_000;
    const end = t0 + (n - 1) * STEP_MS;
    console.log(`bench:promql: ${defs.length} series × ${n} samples (${((defs.length * n) / 1e6).toFixed(2)}M samples), ${REPS} rounds`);

    let t = performance.now();
    const omFile = join(work, 'data.om');
    await writeOpenMetrics(omFile, defs, t0, n);
    const promDir = join(work, 'prometheus');
    const bf = spawnSync('promtool', ['tsdb', 'create-blocks-from', 'openmetrics', omFile, promDir], { encoding: 'utf8', maxBuffer: 64 << 20 });
    if (bf.status !== 0) throw new Error(`promtool create-blocks-from failed: ${bf.stderr}`);
    rmSync(omFile);
    console.log(`  Prometheus: blocks created by promtool in ${((performance.now() - t) / 1000).toFixed(1)} s`);
    t = performance.now();
    const vigilDir = join(work, 'vigil');
    await loadVigil(vigilDir, defs, t0, n);
    console.log(`  Vigil: loaded into the TSDB and flushed to blocks in ${((performance.now() - t) / 1000).toFixed(1)} s`);

    const promPort = await freePort();
    writeFileSync(join(work, 'prometheus.yml'), 'global:\n  scrape_interval: 1h\n');
    prom = spawn('prometheus', [
      `--config.file=${join(work, 'prometheus.yml')}`, `--storage.tsdb.path=${promDir}`, `--web.listen-address=127.0.0.1:${promPort}`,
      '--storage.tsdb.retention.time=100y', '--log.level=error',
    ], { stdio: ['ignore', 'ignore', 'inherit'] });
    vigil = spawn(process.execPath, ['--import', 'tsx', join(root, 'src/promql/bench-server.ts'), vigilDir], { cwd: root, stdio: ['ignore', 'pipe', 'inherit'] });
    const vigilPort = await new Promise<number>((res, rej) => {
      let buf = '';
      vigil!.stdout!.on('data', (d: Buffer) => {
        buf += d.toString();
        const m = /listening (\d+)/.exec(buf);
        if (m) res(Number(m[1]));
      });
      vigil!.once('exit', (c) => rej(new Error(`vigil bench server exited (${c})`)));
    });
    await waitReady(promPort, '/-/ready', prom, 'prometheus');
    await waitReady(vigilPort, `/api/v1/query?query=up&time=${end / 1000}`, vigil, 'vigil');

    const systems = [
      { name: 'vigil', port: vigilPort },
      { name: 'prometheus', port: promPort },
    ];
    const kinds = [
      { kind: 'instant', path: (q: string) => `/api/v1/query?query=${encodeURIComponent(q)}&time=${end / 1000}` },
      { kind: 'range 1h/15s', path: (q: string) => `/api/v1/query_range?query=${encodeURIComponent(q)}&start=${(end - 3600_000) / 1000}&end=${end / 1000}&step=15` },
    ];
    const times = new Map<string, number[]>();
    const shapes = new Map<string, string>();
    for (const q of QUERIES) {
      for (const k of kinds) {
        for (const s of systems) {
          const r = await get(s.port, k.path(q.expr)); // warm-up, and a correctness check
          if (r.status !== 200) throw new Error(`${s.name} ${q.name} ${k.kind}: HTTP ${r.status}: ${r.body.slice(0, 300)}`);
          const body = JSON.parse(r.body) as { data: { result: Array<{ values?: unknown[] }> } };
          const shape = `${body.data.result.length} series, ${body.data.result.reduce((a, x) => a + (x.values?.length ?? 1), 0)} points`;
          const key = `${q.name}|${k.kind}`;
          if (shapes.has(key) && shapes.get(key) !== shape) console.log(`  note: ${q.name} ${k.kind}: vigil ${shapes.get(key)} vs prometheus ${shape}`);
          shapes.set(key, shape);
        }
      }
    }
    for (let rep = 0; rep < REPS; rep++) {
      const order = rep % 2 === 0 ? systems : [...systems].reverse();
      for (const q of QUERIES) {
        for (const k of kinds) {
          for (const s of order) {
            const r = await get(s.port, k.path(q.expr));
            const key = `${s.name}|${q.name}|${k.kind}`;
            (times.get(key) ?? times.set(key, []).get(key)!).push(r.ms);
          }
        }
      }
    }
    console.log('');
    console.log(`${'query'.padEnd(20)} ${'kind'.padEnd(13)} ${'vigil ms'.padStart(9)} ${'prom ms'.padStart(9)} ${'ratio'.padStart(6)}  result`);
    for (const q of QUERIES) {
      for (const k of kinds) {
        const v = median(times.get(`vigil|${q.name}|${k.kind}`)!);
        const p = median(times.get(`prometheus|${q.name}|${k.kind}`)!);
        console.log(`${q.name.padEnd(20)} ${k.kind.padEnd(13)} ${v.toFixed(1).padStart(9)} ${p.toFixed(1).padStart(9)} ${(v / p).toFixed(2).padStart(6)}  ${shapes.get(`${q.name}|${k.kind}`)}`);
      }
    }
    console.log('\nratio = Vigil median / Prometheus median (below 1: Vigil faster); same data, same machine, same run.');
  } finally {
    await cleanup();
    agent.destroy();
  }
}

main().catch((e) => {
  console.error(e);
  process.exitCode = 1;
});
