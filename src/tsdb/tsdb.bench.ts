/**
 * `npm run bench:tsdb`: the store's figures beside the peers' (Prometheus 2.42 from Debian,
 * measured in the same run where it applies; recorded figures from ../shared/bench otherwise).
 *
 *   append     100k series × 120 samples, WAL on, one appender per round (a scrape)
 *   decode     select every series and read every sample, in bulk (readSeriesRange, as PromQL does)
 *              and through SampleIterator, from the head and from blocks
 *   memory     head memory per active series: 1M series × 30 samples, and 100k × 180 (harness-like)
 *   blocks     bytes per sample in blocks: the peers' backfill file (rules-data.mjs gen-om, 4.8M
 *              samples) through `vigil tsdb import openmetrics` and `promtool tsdb
 *              create-blocks-from openmetrics`
 *   replay     kill -9 after writing 100.5k series × 47 samples (the replay-bench shape), then
 *              `vigil server` (bin/vigil.mjs on a freshly built bundle) start → /-/ready 200, and
 *              the same at twice the WAL; Prometheus fed the same samples by remote write, killed
 *              and restarted the same way
 *
 * Usage: npm run bench:tsdb [-- --only=append,decode,memory,blocks,replay] [--reps=N] [--no-peers]
 * Scratch data lives under the OS temp dir and is removed. The machine is shared and noisy:
 * figures are medians of repetitions; compare ratios.
 */
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Labels } from '../model/index.ts';
import { ValueType, readSeriesRange } from '../storage/index.ts';
import { openTsdb, type Tsdb } from './index.ts';
import { dirBytes } from './fsops.ts';
import { sharedPath } from '../../test/helpers/shared-dir.ts';
import { freePort } from '../../test/helpers/free-port.ts';

const here = path.dirname(fileURLToPath(import.meta.url));
const SHARED = sharedPath('bench');

// ------------------------------------------------------------------ helpers

function median(xs: number[]): number {
  const s = xs.slice().sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

function fmt(n: number, digits = 2): string {
  if (!Number.isFinite(n)) return '-';
  if (Math.abs(n) >= 1e6) return `${(n / 1e6).toFixed(digits)}M`;
  if (Math.abs(n) >= 1e3) return `${(n / 1e3).toFixed(digits)}k`;
  return n.toFixed(digits);
}

function range(xs: number[], f: (x: number) => string): string {
  return `${f(median(xs))} (${f(Math.min(...xs))}–${f(Math.max(...xs))})`;
}

const rows: Array<[string, string, string, string]> = [];
function row(figure: string, vigil: string, peer: string, note = ''): void {
  rows.push([figure, vigil, peer, note]);
  console.log(`  ${figure}: vigil ${vigil} | peer ${peer}${note ? ` | ${note}` : ''}`);
}

function tmp(prefix: string): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), prefix));
}

function has(cmd: string): boolean {
  try {
    execFileSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'pipe' });
    return true;
  } catch {
    return false;
  }
}


const cpuNow = () => {
  const c = process.cpuUsage();
  return (c.user + c.system) / 1e6;
};

// ------------------------------------------------------------------ append + decode

function harnessLabels(n: number, perTarget = 1000): Labels[] {
  const out: Labels[] = new Array(n);
  for (let i = 0; i < n; i++) {
    const target = Math.floor(i / perTarget);
    const k = Math.floor((i % perTarget) / (perTarget / 10));
    out[i] = Labels.fromRecord({ __name__: `replay_m${k}`, idx: String(i % (perTarget / 10)), instance: `t-${target}`, job: 'replay' });
  }
  return out;
}

/** Values like the replay target's: even metrics integer counters, odd ones 3-decimal gauges. */
function valueAt(i: number, round: number, stepS: number): number {
  const k = Math.floor((i % 1000) / 100);
  const t = round * stepS;
  return k % 2 === 0 ? Math.floor((1 + ((i + k) % 13)) * t) : Math.round(100_000 * Math.sin(t / 97 + i * 0.11 + k)) / 1000;
}

async function appendRounds(db: Tsdb, labels: Labels[], rounds: number, t0: number, stepMs: number): Promise<{ firstMs: number; totalMs: number; cpuS: number }> {
  const refs = new Float64Array(labels.length);
  const start = performance.now();
  const c0 = cpuNow();
  let firstMs = 0;
  for (let r = 0; r < rounds; r++) {
    const app = db.appender();
    const t = t0 + r * stepMs;
    for (let i = 0; i < labels.length; i++) refs[i] = app.append(refs[i]!, labels[i]!, t, valueAt(i, r, stepMs / 1000));
    await app.commit();
    if (r === 0) firstMs = performance.now() - start;
  }
  return { firstMs, totalMs: performance.now() - start, cpuS: cpuNow() - c0 };
}

/** Selects every series and reads every sample: per sample through SampleIterator, or in bulk (readSeriesRange, what PromQL uses). */
async function decodeAll(db: Tsdb, bulk: boolean): Promise<{ samples: number; ms: number }> {
  const start = performance.now();
  const q = db.querier(-Infinity, Infinity);
  const set = await q.select([]);
  let n = 0;
  let sum = 0;
  if (bulk) {
    const buf = { ts: new Float64Array(1024), vs: new Float64Array(1024), n: 0 };
    for (const s of set.series) {
      buf.n = 0;
      const err = readSeriesRange(s, -Infinity, Infinity, buf);
      if (err) throw err;
      n += buf.n;
      sum += buf.vs[buf.n - 1]!;
    }
  } else {
    for (const s of set.series) {
      const it = s.iterator();
      while (it.next() !== ValueType.None) {
        sum += it.at();
        n++;
      }
    }
  }
  q.close();
  if (sum === 0.5) console.log('');
  return { samples: n, ms: performance.now() - start };
}

async function benchAppendDecode(reps: number): Promise<void> {
  console.log('\n== append (100k series × 120 samples, WAL on) and select + decode');
  const SERIES = 100_000;
  const ROUNDS = 120;
  const labels = harnessLabels(SERIES);
  const rates: number[] = [];
  const steady: number[] = [];
  const cpuRates: number[] = [];
  const headDecode: number[] = [];
  const blockDecode: number[] = [];
  const headIter: number[] = [];
  const blockIter: number[] = [];
  let walPerSample = 0;
  for (let rep = 0; rep < reps; rep++) {
    const dir = tmp('vigil-bench-append-');
    const db = await openTsdb({ dir, compactionIntervalMs: 0, retentionTime: 0 });
    try {
      const r = await appendRounds(db, labels, ROUNDS, Date.UTC(2026, 0, 1), 15_000);
      const total = SERIES * ROUNDS;
      rates.push(total / (r.totalMs / 1000));
      steady.push((SERIES * (ROUNDS - 1)) / ((r.totalMs - r.firstMs) / 1000));
      cpuRates.push(total / r.cpuS);
      walPerSample = dirBytes(path.join(dir, 'wal')) / total;
      // Two passes each; the second is timed (the first warms up code and the chunk cache).
      for (const bulk of [true, false]) {
        for (let k = 0; k < 2; k++) {
          const d = await decodeAll(db, bulk);
          if (k === 1) (bulk ? headDecode : headIter).push(d.samples / (d.ms / 1000));
        }
      }
      await db.flushHead();
      for (const bulk of [true, false]) {
        for (let k = 0; k < 2; k++) {
          const d = await decodeAll(db, bulk);
          if (k === 1) (bulk ? blockDecode : blockIter).push(d.samples / (d.ms / 1000));
        }
      }
    } finally {
      await db.close();
      fs.rmSync(dir, { recursive: true, force: true });
    }
  }
  row('append throughput, samples/s (wall, incl. creating the 100k series)', range(rates, (x) => fmt(x)), 'goal ≥ 2M', `${reps} reps`);
  row('append throughput after the first round, samples/s', range(steady, (x) => fmt(x)), 'goal ≥ 2M');
  row('append throughput per CPU second, samples/s', range(cpuRates, (x) => fmt(x)), '-');
  row('WAL bytes per sample', walPerSample.toFixed(2), '7.2 (Prometheus, recorded in results-peers-alerting.md)');
  row('select + decode from the head (bulk reads, as PromQL), samples/s', range(headDecode, (x) => fmt(x)), 'goal ≥ 50M');
  row('select + decode from blocks (bulk reads, as PromQL), samples/s', range(blockDecode, (x) => fmt(x)), 'goal ≥ 50M');
  row('select + iterate from the head (SampleIterator per sample), samples/s', range(headIter, (x) => fmt(x)), '-');
  row('select + iterate from blocks (SampleIterator per sample), samples/s', range(blockIter, (x) => fmt(x)), '-');
}

// ------------------------------------------------------------------ memory (child process)

async function memoryChild(series: number, samples: number): Promise<void> {
  const dir = tmp('vigil-bench-mem-');
  const gc = (globalThis as { gc?: () => void }).gc;
  gc?.();
  gc?.();
  const base = process.memoryUsage();
  const db = await openTsdb({ dir, compactionIntervalMs: 0, retentionTime: 0 });
  const labels: Labels[] = [];
  // Labels come from outside (the scraper owns them); they are dropped after the first round.
  let refs = new Float64Array(series);
  const t0 = Date.UTC(2026, 0, 1);
  for (let r = 0; r < samples; r++) {
    const app = db.appender();
    for (let i = 0; i < series; i++) {
      const l = r === 0 ? Labels.fromRecord({ __name__: `node_metric_${i % 500}`, instance: `host-${Math.floor(i / 1000)}:9100`, job: 'node', idx: String(i % 1000) }) : (labels[0] ?? Labels.EMPTY);
      refs[i] = app.append(refs[i]!, l, t0 + r * 15_000, valueAt(i, r, 15));
    }
    await app.commit();
  }
  // Freed array buffers are released by a background task: give it a moment.
  for (let k = 0; k < 3; k++) {
    gc?.();
    await new Promise((r) => setTimeout(r, 200));
  }
  const m = process.memoryUsage();
  const out = {
    series,
    samples,
    heapPerSeries: (m.heapUsed - base.heapUsed) / series,
    // `external` includes the array buffers (Node's documentation): not added twice.
    externalPerSeries: (m.external - base.external) / series,
    rssPerSeries: (m.rss - base.rss) / series,
    rssTotalPerSeries: m.rss / series,
    headBytesPerSeries: db.head.memoryBytes() / series,
  };
  refs = new Float64Array(0);
  process.stdout.write(JSON.stringify(out) + '\n');
  await db.close();
  fs.rmSync(dir, { recursive: true, force: true });
}

function runChild(args: string[], extraNodeArgs: string[] = []): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [...extraNodeArgs, '--import', 'tsx', fileURLToPath(import.meta.url), ...args], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.on('data', (d) => (out += String(d)));
    child.on('exit', (code) => (code === 0 ? resolve(out) : reject(new Error(`child ${args.join(' ')} exited with ${code}`))));
  });
}

async function benchMemory(): Promise<void> {
  console.log('\n== head memory per active series (separate process, after GC)');
  for (const [series, samples] of [[1_000_000, 30], [100_000, 180]] as const) {
    const out = JSON.parse((await runChild(['child-memory', String(series), String(samples)], ['--expose-gc', '--max-old-space-size=8192'])).trim().split('\n').pop()!);
    const peer = series === 100_000 ? 'VictoriaMetrics 1.36 KB, Prometheus 3.8 KB (RSS/series at 100.5k series, harness, recorded)' : 'goal < 1.36 KB (VictoriaMetrics, recorded)';
    row(
      `head memory, ${fmt(series, 0)} series × ${samples} samples: RSS growth / heap / typed arrays per series`,
      `${(out.rssPerSeries / 1024).toFixed(2)} KB / ${(out.heapPerSeries / 1024).toFixed(2)} KB / ${(out.externalPerSeries / 1024).toFixed(2)} KB (process RSS ${(out.rssTotalPerSeries / 1024).toFixed(2)} KB/series)`,
      peer,
    );
  }
}

// ------------------------------------------------------------------ blocks vs promtool

async function benchBlocks(peers: boolean): Promise<void> {
  console.log('\n== bytes per sample in blocks (the peers\' backfill input: 10k series × 2 h at 15 s)');
  const gen = path.join(SHARED, 'peers', 'rules-data.mjs');
  if (!fs.existsSync(gen)) {
    console.log(`  skipped: ${gen} not found`);
    return;
  }
  const dir = tmp('vigil-bench-blocks-');
  try {
    const file = path.join(dir, 'backfill.om');
    const end = Math.floor(Date.UTC(2026, 10, 1) / 1000);
    const info = JSON.parse(execFileSync(process.execPath, [gen, 'gen-om', file, String(end)], { encoding: 'utf8' }).trim());
    console.log(`  input: ${(info.bytes / 1e6).toFixed(0)} MB, ${info.samples} samples, ${info.series} series`);
    const ours = path.join(dir, 'vigil');
    const t0 = performance.now();
    const { main } = await import('../cli/main.ts');
    let summary = '';
    const code = await main(['tsdb', 'import', 'openmetrics', file, `--storage.tsdb.path=${ours}`, '--quiet'], { out: (s) => (summary += s), err: (s) => process.stderr.write(s), isTty: false });
    const ourMs = performance.now() - t0;
    if (code !== 0) throw new Error('vigil import failed');
    console.log(`  vigil: ${summary.trim()}`);
    const ourBytes = dirBytes(ours);
    let peerText = 'promtool not installed';
    let ratio = '';
    if (peers && has('promtool')) {
      const prom = path.join(dir, 'promtool');
      const p0 = performance.now();
      execFileSync('promtool', ['tsdb', 'create-blocks-from', 'openmetrics', file, prom], { stdio: 'pipe' });
      const promMs = performance.now() - p0;
      const promBytes = dirBytes(prom);
      peerText = `${(promBytes / info.samples).toFixed(3)} (${(promBytes / 1e6).toFixed(1)} MB, promtool ${(promMs / 1000).toFixed(1)} s)`;
      ratio = `Prometheus/vigil = ${(promBytes / ourBytes).toFixed(1)}×`;
    }
    row('block bytes per sample (all files of the data dir)', `${(ourBytes / info.samples).toFixed(3)} (${(ourBytes / 1e6).toFixed(1)} MB, import ${(ourMs / 1000).toFixed(1)} s)`, peerText, ratio);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

// ------------------------------------------------------------------ replay after kill -9

const REPLAY_TARGETS = 100;
const REPLAY_PER = 1000;
const REPLAY_ROUNDS = 47;
const REPLAY_STEP_MS = 5000;

function replayLabels(): Labels[] {
  const out: Labels[] = [];
  for (let tg = 0; tg < REPLAY_TARGETS; tg++) {
    for (let k = 0; k < 10; k++) for (let i = 0; i < REPLAY_PER / 10; i++) out.push(Labels.fromRecord({ __name__: `replay_m${k}`, idx: String(i), instance: `t-${tg}`, job: 'replay' }));
    // The per-target series a scrape adds.
    for (const n of ['up', 'scrape_duration_seconds', 'scrape_samples_scraped', 'scrape_samples_post_metric_relabeling', 'scrape_series_added']) out.push(Labels.fromRecord({ __name__: n, instance: `t-${tg}`, job: 'replay' }));
  }
  return out;
}

async function replayWriterChild(dir: string, t0: number, rounds: number): Promise<void> {
  const db = await openTsdb({ dir, compactionIntervalMs: 0, retentionTime: 0, checkpointOnClose: false });
  const labels = replayLabels();
  const refs = new Float64Array(labels.length);
  const perTarget = labels.length / REPLAY_TARGETS;
  for (let r = 0; r < rounds; r++) {
    // One commit per target and round, as scrapes do.
    for (let tg = 0; tg < REPLAY_TARGETS; tg++) {
      const app = db.appender();
      for (let i = tg * perTarget; i < (tg + 1) * perTarget; i++) refs[i] = app.append(refs[i]!, labels[i]!, t0 + r * REPLAY_STEP_MS + tg, valueAt(i, r, 5));
      await app.commit();
    }
  }
  process.stdout.write(`written ${labels.length * rounds}\n`);
  // Wait to be killed.
  await new Promise(() => {});
}

/** Spawns, waits for the first stdout line matching `re`, returns [ms from spawn, line, child]. */
function spawnUntil(cmd: string, args: string[], re: RegExp, opts: { env?: NodeJS.ProcessEnv } = {}): Promise<{ ms: number; line: string; child: ChildProcess }> {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], env: opts.env ?? process.env });
    let buf = '';
    let err = '';
    child.stderr!.on('data', (d) => (err += String(d)));
    child.stdout!.on('data', (d) => {
      buf += String(d);
      const lines = buf.split('\n');
      for (const l of lines.slice(0, -1)) {
        if (re.test(l)) {
          resolve({ ms: performance.now() - t0, line: l, child });
          return;
        }
      }
    });
    child.on('exit', (code, sig) => reject(new Error(`${cmd} exited (${code ?? sig}) before it was ready: ${err.slice(-2000)}`)));
  });
}

function killWait(child: ChildProcess, sig: NodeJS.Signals): Promise<void> {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve();
    child.once('exit', () => resolve());
    child.kill(sig);
  });
}

/** Polls GET url every 20 ms until it answers 200; ms waited. */
async function pollReady(url: string, child: ChildProcess, what: string): Promise<number> {
  const s = performance.now();
  for (;;) {
    if (child.exitCode !== null) throw new Error(`${what} exited (${child.exitCode})`);
    try {
      const r = await fetch(url);
      if (r.status === 200) return performance.now() - s;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 20));
  }
}

const ROOT = path.resolve(here, '../..');

/**
 * `vigil server` on a copy of the crashed directory, as a user starts it (bin/vigil.mjs, which
 * runs the dist/ bundle when fresh): ms from spawn to the first 200 from /-/ready, and the
 * replay duration the TSDB logs.
 */
async function vigilServerReplay(data: string, work: string, rep: number): Promise<{ readyMs: number; replayMs: number; samples: number }> {
  const copy = path.join(work, `copy${rep}`);
  execFileSync('cp', ['-a', data, copy]);
  const port = await freePort();
  const t0 = performance.now();
  const child = spawn(process.execPath, [path.join(ROOT, 'bin/vigil.mjs'), 'server', `--storage.tsdb.path=${copy}`, `--web.listen-address=127.0.0.1:${port}`, '--log.format=json'], {
    cwd: work,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout!.on('data', (d) => (out += String(d)));
  child.stderr!.on('data', (d) => (out += String(d)));
  try {
    await pollReady(`http://127.0.0.1:${port}/-/ready`, child, 'vigil server');
    const readyMs = performance.now() - t0;
    await new Promise((r) => setTimeout(r, 50));
    const line = out.split('\n').find((l) => l.includes('WAL replay completed'));
    const info = line ? (JSON.parse(line) as { totalReplayMs?: number; samples?: number }) : {};
    return { readyMs, replayMs: info.totalReplayMs ?? NaN, samples: info.samples ?? NaN };
  } finally {
    await killWait(child, 'SIGTERM');
    fs.rmSync(copy, { recursive: true, force: true });
  }
}

/** Writes the replay WAL (`rounds` scrapes of every series) in a child and kills it with SIGKILL. */
async function crashedDir(dir: string, rounds: number): Promise<{ data: string; samples: number; walBytes: number; t0: number }> {
  const data = path.join(dir, `data-${rounds}`);
  const t0 = Date.now() - rounds * REPLAY_STEP_MS;
  const w = await spawnUntil(process.execPath, ['--import', 'tsx', fileURLToPath(import.meta.url), 'child-replay-writer', data, String(t0), String(rounds)], /^written /);
  await killWait(w.child, 'SIGKILL');
  return { data, samples: Number(w.line.split(' ')[1]), walBytes: dirBytes(path.join(data, 'wal')), t0 };
}

async function benchReplay(reps: number, peers: boolean): Promise<void> {
  console.log(`\n== WAL replay after kill -9 (${REPLAY_TARGETS * (REPLAY_PER + 5)} series × ${REPLAY_ROUNDS} samples; \`vigil server\` start → ready)`);
  const dir = tmp('vigil-bench-replay-');
  try {
    // bin/vigil.mjs runs the bundle only when it is newer than the sources.
    try {
      execFileSync(process.execPath, [path.join(ROOT, 'scripts/build.mjs'), '--quiet'], { stdio: 'pipe' });
    } catch (e) {
      console.log(`  note: npm run build failed (${(e as Error).message.slice(0, 200)}); bin/vigil.mjs runs the sources through tsx`);
    }
    const sizes = [REPLAY_ROUNDS, 2 * REPLAY_ROUNDS];
    const results: Array<{ rounds: number; walBytes: number; samples: number; ready: number[]; replay: number[] }> = [];
    let t0 = 0;
    for (const rounds of sizes) {
      const c = await crashedDir(dir, rounds);
      if (rounds === REPLAY_ROUNDS) t0 = c.t0;
      const ready: number[] = [];
      const replay: number[] = [];
      for (let rep = 0; rep < reps; rep++) {
        const r = await vigilServerReplay(c.data, dir, rep);
        if (r.samples !== c.samples) console.log(`  warning: replayed ${r.samples} of ${c.samples} samples`);
        ready.push(r.readyMs / 1000);
        replay.push(r.replayMs / 1000);
      }
      fs.rmSync(c.data, { recursive: true, force: true });
      results.push({ rounds, walBytes: c.walBytes, samples: c.samples, ready, replay });
    }
    let peer = '0.883 s (0.844–0.994) recorded in results-peers-alerting.md';
    let peerReplay = '0.796 s (wal_replay_duration, recorded)';
    let peerTwo = '-';
    if (peers && has('prometheus')) {
      try {
        const p = await prometheusReplay(dir, reps, t0);
        peer = `${range(p.ready, (x) => x.toFixed(3))} s this run (WAL ${(p.walBytes / 1e6).toFixed(1)} MB); recorded 0.883 s`;
        peerReplay = `${range(p.replay, (x) => x.toFixed(3))} s this run (total_replay_duration in its log)`;
        const p2 = await prometheusReplay(dir, reps, t0 - REPLAY_ROUNDS * REPLAY_STEP_MS, 2 * REPLAY_ROUNDS);
        peerTwo = `${range(p2.ready, (x) => x.toFixed(3))} / ${range(p2.replay, (x) => x.toFixed(3))} (WAL ${(p2.walBytes / 1e6).toFixed(1)} MB): replay ×${(median(p2.replay) / median(p.replay)).toFixed(2)}`;
      } catch (e) {
        peer += `; this run failed: ${(e as Error).message.slice(0, 200)}`;
      }
    }
    const [one, two] = results;
    row('replay: `vigil server` start → ready, s', `${range(one!.ready, (x) => x.toFixed(3))} (WAL ${(one!.walBytes / 1e6).toFixed(1)} MB, ${fmt(one!.samples)} samples)`, peer);
    row('replay: TSDB replay duration (server log), s', range(one!.replay, (x) => x.toFixed(3)), peerReplay);
    const growth = median(two!.replay) / median(one!.replay);
    row(
      'replay at twice the WAL: start → ready / replay, s',
      `${range(two!.ready, (x) => x.toFixed(3))} / ${range(two!.replay, (x) => x.toFixed(3))} (WAL ${(two!.walBytes / 1e6).toFixed(1)} MB)`,
      peerTwo,
      `replay ×${growth.toFixed(2)} for WAL ×${(two!.walBytes / one!.walBytes).toFixed(2)}, samples ×${(two!.samples / one!.samples).toFixed(2)}`,
    );
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

// ---- Prometheus fed by remote write

async function remoteWrite(port: number, body: Uint8Array): Promise<void> {
  const res = await fetch(`http://127.0.0.1:${port}/api/v1/write`, {
    method: 'POST',
    headers: { 'Content-Encoding': 'snappy', 'Content-Type': 'application/x-protobuf', 'X-Prometheus-Remote-Write-Version': '0.1.0' },
    body,
  });
  if (res.status >= 300) throw new Error(`remote write: ${res.status} ${await res.text()}`);
}

async function encodeWrite(labels: Labels[], from: number, to: number, t: number, round: number): Promise<Uint8Array> {
  const { BinaryWriter } = await import('@bufbuild/protobuf/wire');
  // snappyjs ships no type declarations.
  const snappy = (await import('snappyjs' as string)) as { compress?(b: Uint8Array): Uint8Array; default?: { compress(b: Uint8Array): Uint8Array } };
  const w = new BinaryWriter();
  for (let i = from; i < to; i++) {
    w.uint32((1 << 3) | 2).fork();
    labels[i]!.forEach((n, v) => {
      w.uint32((1 << 3) | 2).fork();
      w.uint32((1 << 3) | 2).string(n);
      w.uint32((2 << 3) | 2).string(v);
      w.join();
    });
    w.uint32((2 << 3) | 2).fork();
    w.uint32((1 << 3) | 1).double(valueAt(i, round, 5));
    w.uint32((2 << 3) | 0).int64(t);
    w.join();
    w.join();
  }
  const compress = snappy.compress ?? snappy.default!.compress;
  return compress(w.finish());
}

async function prometheusReplay(dir: string, reps: number, t0: number, rounds = REPLAY_ROUNDS): Promise<{ ready: number[]; replay: number[]; walBytes: number }> {
  const port = await freePort();
  const data = path.join(dir, `prom-${rounds}`);
  const cfg = path.join(dir, 'prom.yml');
  fs.writeFileSync(cfg, 'global: {scrape_interval: 1h}\nscrape_configs: []\n');
  const args = (d: string) => [`--config.file=${cfg}`, `--storage.tsdb.path=${d}`, `--web.listen-address=127.0.0.1:${port}`, '--web.enable-remote-write-receiver', '--log.level=info'];
  const waitReady = async (child: ChildProcess): Promise<number> => {
    const s = performance.now();
    for (;;) {
      if (child.exitCode !== null) throw new Error('prometheus exited');
      try {
        const r = await fetch(`http://127.0.0.1:${port}/-/ready`);
        if (r.status === 200) return performance.now() - s;
      } catch {
        // not listening yet
      }
      await new Promise((r) => setTimeout(r, 20));
    }
  };
  const load = spawn('prometheus', args(data), { stdio: 'ignore' });
  try {
    await waitReady(load);
    const labels = replayLabels();
    const perTarget = labels.length / REPLAY_TARGETS;
    for (let r = 0; r < rounds; r++) {
      for (let tg = 0; tg < REPLAY_TARGETS; tg++) await remoteWrite(port, await encodeWrite(labels, tg * perTarget, (tg + 1) * perTarget, t0 + r * REPLAY_STEP_MS + tg, r));
    }
  } finally {
    await killWait(load, 'SIGKILL');
  }
  const walBytes = dirBytes(path.join(data, 'wal'));
  const ready: number[] = [];
  const replay: number[] = [];
  for (let rep = 0; rep < reps; rep++) {
    const copy = path.join(dir, `prom-copy${rep}`);
    execFileSync('cp', ['-a', data, copy]);
    const s = performance.now();
    const child = spawn('prometheus', args(copy), { stdio: ['ignore', 'ignore', 'pipe'] });
    let log = '';
    child.stderr!.on('data', (d) => (log += String(d)));
    try {
      await waitReady(child);
      ready.push((performance.now() - s) / 1000);
      // Its own figure: msg="WAL replay completed" ... total_replay_duration=612.3ms
      const m = /WAL replay completed.*total_replay_duration=([\d.]+)(ms|s|µs)/.exec(log);
      replay.push(m ? Number(m[1]) / (m[2] === 's' ? 1 : m[2] === 'ms' ? 1000 : 1e6) : NaN);
    } finally {
      await killWait(child, 'SIGTERM');
      fs.rmSync(copy, { recursive: true, force: true });
    }
  }
  return { ready, replay, walBytes };
}

// ------------------------------------------------------------------ main

async function mainBench(): Promise<void> {
  const args = process.argv.slice(2);
  if (args[0] === 'child-memory') return memoryChild(Number(args[1]), Number(args[2]));
  if (args[0] === 'child-replay-writer') return replayWriterChild(args[1]!, Number(args[2]), Number(args[3] ?? REPLAY_ROUNDS));
  const only = (args.find((a) => a.startsWith('--only='))?.slice(7) ?? 'append,decode,memory,blocks,replay').split(',');
  const reps = Number(args.find((a) => a.startsWith('--reps='))?.slice(7) ?? 3);
  const peers = !args.includes('--no-peers');
  console.log(`tsdb benchmark: node ${process.version}, ${os.cpus().length} cores, load ${os.loadavg().map((x) => x.toFixed(1)).join(' ')}`);
  if (only.includes('append') || only.includes('decode')) await benchAppendDecode(reps);
  if (only.includes('memory')) await benchMemory();
  if (only.includes('blocks')) await benchBlocks(peers);
  if (only.includes('replay')) await benchReplay(reps, peers);
  console.log(`\n| figure | vigil | peer | note |\n|---|---|---|---|`);
  for (const r of rows) console.log(`| ${r.join(' | ')} |`);
  console.log(`load at the end: ${os.loadavg().map((x) => x.toFixed(1)).join(' ')}`);
}

await mainBench();
