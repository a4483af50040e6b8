/**
 * Scrape ingestion cost, side by side with Prometheus in the same run:
 *   node --import tsx --expose-gc src/scrape/scrape.bench.ts [--targets 100] [--series 1000] [--warmup 20] [--window 40] [--no-peer]
 *
 * The shared target simulator (`../shared/bench/targets.mjs`, a child process) serves K targets
 * × M series; Vigil's ScrapeManager scrapes them every 1 s into
 *   1. a counting no-op appender (the scrape path alone: HTTP, parse, cache, labels, append calls),
 *   2. the embedded TSDB (WAL on, in a temporary directory): scrape + storage, the figure to
 *      compare with Prometheus;
 * then Prometheus 2.42 (Debian) scrapes the same simulator with the same config. Figures per
 * window: CPU seconds per million samples (process utime+stime), samples/s, RSS and RSS per
 * active series. The full-server comparison (queries, disk) is the `../shared/bench` harness
 * run against `vigil server`.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import type { Labels } from '../model/index.ts';
import type { Appendable, Appender, SeriesRef } from '../storage/index.ts';
import { ScrapeManager } from './index.ts';
import { jobsFromYaml } from './testing.ts';
import { sharedPath } from '../../test/helpers/shared-dir.ts';
import { freePort } from '../../test/helpers/free-port.ts';

function arg(name: string, def: string): string {
  const i = process.argv.indexOf('--' + name);
  return i >= 0 && i + 1 < process.argv.length ? process.argv[i + 1]! : def;
}
const K = Number(arg('targets', '100'));
const M = Number(arg('series', '1000'));
const WARMUP = Number(arg('warmup', '20'));
const WINDOW = Number(arg('window', '40'));
const PEER = !process.argv.includes('--no-peer') && existsSync('/usr/bin/prometheus');
const SIMULATOR = sharedPath('bench/targets.mjs');


const sleep = (s: number) => new Promise((r) => setTimeout(r, s * 1000));

/** Counts appends; stores nothing. */
class CountingAppendable implements Appendable {
  samples = 0;
  appender(): Appender {
    let n = 0;
    let ref = 0;
    return {
      append: (r: SeriesRef, _l: Labels, _t: number, _v: number) => {
        n++;
        return r || ++ref;
      },
      commit: async () => {
        this.samples += n;
      },
      rollback: () => {},
    };
  }
}

class CountingWrapper implements Appendable {
  samples = 0;
  constructor(private readonly inner: Appendable) {}
  appender(): Appender {
    const a = this.inner.appender();
    let n = 0;
    return {
      append: (r, l, t, v) => {
        const x = a.append(r, l, t, v);
        n++;
        return x;
      },
      commit: async () => {
        await a.commit();
        this.samples += n;
      },
      rollback: () => a.rollback(),
    };
  }
}

function rssBytes(pid: number | 'self'): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) * 1024 : 0;
}

function procCpuSeconds(pid: number): number {
  const f = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const rest = f.slice(f.lastIndexOf(')') + 2).split(' ');
  return (Number(rest[11]) + Number(rest[12])) / 100;
}

function selfCpuSeconds(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1e6;
}

interface Row {
  system: string;
  samplesPerS: number;
  cpuPerMillion: number;
  cpuCores: number;
  rssMiB: number;
  series: number;
  rssPerSeries: number;
  /** V8 heap + external after a full GC, per series (Vigil rows; what the process keeps alive). */
  heapPerSeries?: number;
}

let baseline = 0;

async function measureVigil(name: string, appendable: Appendable & { samples: number }, yaml: string, series: () => number): Promise<Row> {
  const m = new ScrapeManager({ appendable, logger: pino({ level: 'silent' }) });
  await m.applyConfig(jobsFromYaml(yaml));
  await sleep(WARMUP);
  (globalThis as { gc?: () => void }).gc?.();
  const s0 = appendable.samples;
  const c0 = selfCpuSeconds();
  await sleep(WINDOW);
  const samples = appendable.samples - s0;
  const cpu = selfCpuSeconds() - c0;
  const rss = rssBytes('self');
  (globalThis as { gc?: () => void }).gc?.();
  const mu = process.memoryUsage();
  const up = m.loops().filter((l) => l.health === 'up').length;
  await m.stop();
  if (up !== K) console.error(`${name}: only ${up}/${K} targets up`);
  const n = series();
  return { system: name, samplesPerS: samples / WINDOW, cpuPerMillion: cpu / (samples / 1e6), cpuCores: cpu / WINDOW, rssMiB: rss / 2 ** 20, series: n, rssPerSeries: rss / n, heapPerSeries: (mu.heapUsed + mu.external - baseline) / n };
}

async function measurePrometheus(yaml: string): Promise<Row> {
  const dir = mkdtempSync(join(tmpdir(), 'vigil-bench-prom-'));
  const port = await freePort();
  writeFileSync(join(dir, 'prometheus.yml'), yaml);
  const p = spawn('/usr/bin/prometheus', [`--config.file=${join(dir, 'prometheus.yml')}`, `--storage.tsdb.path=${join(dir, 'data')}`, `--web.listen-address=127.0.0.1:${port}`], { stdio: 'ignore' });
  const metric = async (name: string): Promise<number> => {
    const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
    let sum = 0;
    for (const line of text.split('\n')) if (line.startsWith(name + ' ') || line.startsWith(name + '{')) sum += Number(line.slice(line.lastIndexOf(' ') + 1));
    return sum;
  };
  try {
    for (let i = 0; i < 100; i++) {
      try {
        if ((await fetch(`http://127.0.0.1:${port}/-/ready`)).ok) break;
      } catch {
        /* starting */
      }
      await sleep(0.2);
    }
    await sleep(WARMUP);
    const s0 = await metric('prometheus_tsdb_head_samples_appended_total');
    const c0 = procCpuSeconds(p.pid!);
    await sleep(WINDOW);
    const samples = (await metric('prometheus_tsdb_head_samples_appended_total')) - s0;
    const cpu = procCpuSeconds(p.pid!) - c0;
    const rss = rssBytes(p.pid!);
    const series = await metric('prometheus_tsdb_head_series');
    return { system: 'Prometheus 2.42 (scrape + TSDB)', samplesPerS: samples / WINDOW, cpuPerMillion: cpu / (samples / 1e6), cpuCores: cpu / WINDOW, rssMiB: rss / 2 ** 20, series, rssPerSeries: rss / series };
  } finally {
    p.kill('SIGTERM');
    await new Promise((r) => p.once('exit', r));
    rmSync(dir, { recursive: true, force: true });
  }
}

async function main(): Promise<void> {
  const port = await freePort();
  const sim: ChildProcess = spawn(process.execPath, [SIMULATOR, '--targets', String(K), '--series', String(M), '--port', String(port), '--max-seconds', String(3 * (WARMUP + WINDOW) + 120)], { stdio: 'ignore' });
  try {
    await sleep(1);
    const yaml = await (await fetch(`http://127.0.0.1:${port}/config?interval=1s&timeout=1s`)).text();
    const rows: Row[] = [];
    (globalThis as { gc?: () => void }).gc?.();
    const mu0 = process.memoryUsage();
    baseline = mu0.heapUsed + mu0.external;
    const noop = new CountingAppendable();
    rows.push(await measureVigil('Vigil scrape → no-op appender', noop, yaml, () => K * (M + 5)));
    (globalThis as { gc?: () => void }).gc?.();
    const { openTsdb } = await import('../tsdb/index.ts');
    const dir = mkdtempSync(join(tmpdir(), 'vigil-bench-tsdb-'));
    const db = await openTsdb({ dir, compactionIntervalMs: 0 });
    try {
      const wrapped = new CountingWrapper(db);
      rows.push(await measureVigil('Vigil scrape → TSDB (WAL on)', wrapped, yaml, () => K * (M + 5)));
    } finally {
      await db.close();
      rmSync(dir, { recursive: true, force: true });
    }
    if (PEER) rows.push(await measurePrometheus(yaml));
    console.log(`\n# Scrape ingestion: ${K} targets × ${M} series at 1 s (window ${WINDOW} s after ${WARMUP} s warm-up, same simulator, same run)\n`);
    console.log('| system | samples/s | CPU s per 1M samples | CPU cores | RSS MiB | active series | RSS bytes/series | live heap bytes/series |');
    console.log('|---|---|---|---|---|---|---|---|');
    for (const r of rows) {
      console.log(`| ${r.system} | ${Math.round(r.samplesPerS).toLocaleString('en-US')} | ${r.cpuPerMillion.toFixed(2)} | ${r.cpuCores.toFixed(3)} | ${r.rssMiB.toFixed(0)} | ${r.series.toLocaleString('en-US')} | ${Math.round(r.rssPerSeries).toLocaleString('en-US')} | ${r.heapPerSeries === undefined ? 'n/a' : Math.round(r.heapPerSeries).toLocaleString('en-US')} |`);
    }
    console.log('\nReference (../shared/bench/results-peers.md, full harness, median of 3): Prometheus 1.80 CPU-s/1M samples, 3.8 KB RSS/series; VictoriaMetrics 2.36 CPU-s, 1.36 KB.');
    console.log('Vigil rows measure this process (the simulator is a separate process); the TSDB row includes the no-op row\'s work plus storage. RSS of the Vigil rows includes the Node.js runtime (~50 MiB) and whatever the earlier row left; live heap = heap used + external after a full GC, minus the start-up baseline (the TSDB row includes what the no-op row left).');
  } finally {
    sim.kill('SIGTERM');
  }
}

await main();
