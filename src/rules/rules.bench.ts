/**
 * `npm run bench:rules`: the cost of evaluating 1,000 alerting rules over 10k series at a 15 s
 * interval, Vigil beside Prometheus 2.42 (Debian's /usr/bin/prometheus) in the same run, on
 * the peer's data and rules (`../shared/bench/peers/rules-data.mjs`: its live target and its
 * 1,000-rule file), the equivalent of `rules-bench.sh`'s head-only case:
 *
 *   1. the peer's live target (10,000 series) and a one-series "threshold" target start;
 *      Prometheus (scrape only) and Vigil (scrape into its TSDB, in this process) scrape both
 *      every 15 s for FILL_S (default 330 s), so that every [5m] window holds data;
 *   2. baseline: CPU of each over BASE_WIN_S (60 s), scraping only;
 *   3. Prometheus restarted on the same data dir with the rule file: WARM_S (30 s), then CPU
 *      over WIN_S (120 s), Σ prometheus_rule_group_last_duration_seconds sampled every 15 s;
 *      Prometheus is then stopped;
 *   4. Vigil's rule manager started with the same rule file in this process: the same warm-up
 *      and window, Σ of its groups' last durations sampled every 15 s;
 *   5. throughout 3 and 4 the threshold target's gauge crosses its threshold every 40 s; the
 *      delay from a crossing to the firing alert arriving at a local Alertmanager endpoint
 *      (both send to it) is recorded; for Vigil also to the in-process hand-over.
 *
 * Extra cores for rules = rules-phase cores − baseline cores (CPU = utime+stime; Prometheus
 * from /proc/PID/stat, Vigil from process.cpuUsage()). Ports: 127.0.0.1, chosen free. Only the
 * processes started here are stopped, by PID. Scratch data under the OS temp dir, removed.
 * Steps 3 and 4 repeat REPS times (default 3; Prometheus keeps scraping without rules while
 * Vigil is measured, so neither store has a gap); figures are medians (min–max) over the reps.
 * Env: REPS, FILL_S, BASE_WIN_S, WARM_S, WIN_S (seconds). ~24 minutes with the defaults.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import pino from 'pino';
import { Registry } from 'prom-client';
import { Labels } from '../model/index.ts';
import { openTsdb } from '../tsdb/index.ts';
import { Engine } from '../promql/index.ts';
import { ScrapeManager, resolveJob, scrapeConfigsSection } from '../scrape/index.ts';
import { GLOBAL_DEFAULTS } from '../config/index.ts';
import { AlertDispatcher, RuleManager, alertmanagerConfigSchema, engineQueryFunc } from './index.ts';
import { sharedPath } from '../../test/helpers/shared-dir.ts';
import { freePort } from '../../test/helpers/free-port.ts';

const here = new URL('.', import.meta.url).pathname;
const PEERS = sharedPath('bench/peers');
const FILL_S = Number(process.env.FILL_S ?? 330);
const BASE_WIN_S = Number(process.env.BASE_WIN_S ?? 60);
const WARM_S = Number(process.env.WARM_S ?? 30);
const WIN_S = Number(process.env.WIN_S ?? 120);
const REPS = Number(process.env.REPS ?? 3);
const INTERVAL_S = 15;
const CROSS_PERIOD_S = 40;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const log = (s: string) => process.stderr.write(`[${new Date().toISOString().slice(11, 19)}] ${s}\n`);
const med = (a: number[]) => {
  if (a.length === 0) return NaN;
  const s = [...a].sort((x, y) => x - y);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};
const fmt = (v: number, d = 3) => (Number.isFinite(v) ? v.toFixed(d) : 'n/a');


function procCpuS(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(f[11]) + Number(f[12])) / 100;
}

function procRssMb(pid: number): number {
  const m = /VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) / 1024 : NaN;
}

const selfCpuS = () => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1e6;
};

async function waitReady(url: string, timeoutMs = 60_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    try {
      if ((await fetch(url)).ok) return;
    } catch {
      // not yet
    }
    if (Date.now() > end) throw new Error(`${url} not ready`);
    await sleep(200);
  }
}

function stopChild(p: ChildProcess | undefined): Promise<void> {
  if (!p || p.exitCode !== null || p.signalCode !== null) return Promise.resolve();
  return new Promise((res) => {
    const t = setTimeout(() => p.kill('SIGKILL'), 20_000);
    p.once('exit', () => {
      clearTimeout(t);
      res();
    });
    p.kill('SIGTERM');
  });
}

interface Phase {
  cores: number;
  cpuS: number;
  windowS: number;
  rssMb: number;
}

async function measure(cpu: () => number, rss: () => number, seconds: number, every?: () => Promise<void>): Promise<Phase> {
  const c0 = cpu();
  const t0 = performance.now();
  const steps = Math.max(1, Math.round(seconds / INTERVAL_S));
  for (let i = 0; i < steps; i++) {
    await sleep((seconds / steps) * 1000);
    if (every) await every();
  }
  const windowS = (performance.now() - t0) / 1000;
  const cpuS = cpu() - c0;
  return { cores: cpuS / windowS, cpuS, windowS, rssMb: rss() };
}

/** `name{labels} value` lines of a /metrics text, summed or picked. */
function metricSum(text: string, name: string): number {
  let s = 0;
  for (const l of text.split('\n')) if (l.startsWith(name + '{') || l.startsWith(name + ' ')) s += Number(l.slice(l.lastIndexOf(' ') + 1));
  return s;
}

function metricPick(text: string, prefix: string): number {
  const l = text.split('\n').find((x) => x.startsWith(prefix));
  return l ? Number(l.slice(l.lastIndexOf(' ') + 1)) : NaN;
}

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'vigil-rules-bench-'));
  const children: ChildProcess[] = [];
  const servers: Server[] = [];
  let prom: ChildProcess | undefined;
  try {
    const [tport, xport, cport, pport] = [await freePort(), await freePort(), await freePort(), await freePort()];
    const rulesFile = join(dir, 'rules.yml');
    const crossFile = join(dir, 'threshold.yml');
    // The peer's rule file and live target.
    await new Promise<void>((res, rej) => spawn(process.execPath, [join(PEERS, 'rules-data.mjs'), 'rules', rulesFile], { stdio: 'inherit' }).on('exit', (c) => (c === 0 ? res() : rej(new Error('rules-data.mjs rules failed')))));
    writeFileSync(crossFile, 'groups:\n  - name: threshold\n    rules:\n      - alert: BenchThreshold\n        expr: bench_threshold_gauge > 0.5\n');
    const target = spawn(process.execPath, [join(PEERS, 'rules-data.mjs'), 'serve', String(tport)], { stdio: 'ignore' });
    children.push(target);

    // Threshold target: crosses 0.5 upwards at every CROSS_PERIOD_S, downwards half a period later.
    let gauge = 0;
    const crossings: number[] = [];
    servers.push(createServer((_q, r) => r.end(`# TYPE bench_threshold_gauge gauge\nbench_threshold_gauge ${gauge}\n`)).listen(xport, '127.0.0.1'));
    // Capture Alertmanager: arrivals of BenchThreshold by sender (path prefix).
    const arrivals: Array<{ who: string; t: number; startsAt: number; endsAt: number }> = [];
    servers.push(createServer((req, res) => {
      let b = '';
      req.on('data', (c) => (b += c));
      req.on('end', () => {
        const t = Date.now();
        const who = (req.url ?? '').startsWith('/prom') ? 'prometheus' : 'vigil';
        try {
          for (const a of JSON.parse(b) as Array<{ labels: Record<string, string>; startsAt: string; endsAt: string }>) {
            if (a.labels.alertname === 'BenchThreshold') arrivals.push({ who, t, startsAt: Date.parse(a.startsAt), endsAt: Date.parse(a.endsAt) });
          }
        } catch {
          // ignore
        }
        res.end();
      });
    }).listen(cport, '127.0.0.1'));
    await waitReady(`http://127.0.0.1:${tport}/metrics`);

    const promCfg = (withRules: boolean) => {
      const f = join(dir, `prom-${withRules ? 'rules' : 'base'}.yml`);
      writeFileSync(f, [
        `global: {scrape_interval: ${INTERVAL_S}s, scrape_timeout: 10s, evaluation_interval: ${INTERVAL_S}s}`,
        ...(withRules ? [`rule_files: ['${rulesFile}', '${crossFile}']`] : []),
        `alerting: {alertmanagers: [{path_prefix: /prom, static_configs: [{targets: ['127.0.0.1:${cport}']}]}]}`,
        'scrape_configs:',
        '  - job_name: bench',
        '    honor_labels: true',
        `    static_configs: [{targets: ['127.0.0.1:${tport}']}]`,
        '  - job_name: threshold',
        `    static_configs: [{targets: ['127.0.0.1:${xport}']}]`,
        '',
      ].join('\n'));
      return f;
    };
    const startProm = async (withRules: boolean) => {
      const p = spawn('prometheus', [`--config.file=${promCfg(withRules)}`, `--storage.tsdb.path=${join(dir, 'prom-data')}`, `--web.listen-address=127.0.0.1:${pport}`, '--log.level=warn'], { stdio: 'ignore' });
      children.push(p);
      await waitReady(`http://127.0.0.1:${pport}/-/ready`);
      return p;
    };

    // Vigil: TSDB + scrape + (later) rules, in this process.
    const logger = pino({ level: 'warn' });
    const db = await openTsdb({ dir: join(dir, 'vigil-data'), logger });
    const scrape = new ScrapeManager({ appendable: db, logger });
    const jobs = scrapeConfigsSection.schema.parse([
      { job_name: 'bench', honor_labels: true, scrape_interval: `${INTERVAL_S}s`, static_configs: [{ targets: [`127.0.0.1:${tport}`] }] },
      { job_name: 'threshold', scrape_interval: `${INTERVAL_S}s`, static_configs: [{ targets: [`127.0.0.1:${xport}`] }] },
    ]);
    await scrape.applyConfig(jobs.map((j) => resolveJob(j, { ...GLOBAL_DEFAULTS, scrape_interval: INTERVAL_S * 1000, body_size_limit: 0, sample_limit: 0, target_limit: 0, label_limit: 0, label_name_length_limit: 0, label_value_length_limit: 0 })));
    prom = await startProm(false);

    log(`filling both stores from the live target for ${FILL_S} s (10k series at ${INTERVAL_S} s)`);
    for (let s = 0; s < FILL_S; s += 30) {
      await sleep(Math.min(30, FILL_S - s) * 1000);
      log(`  ${Math.min(FILL_S, s + 30)}/${FILL_S} s`);
    }
    log(`baseline (scrape only) over ${BASE_WIN_S} s`);
    const promPid = prom.pid!;
    const [promBase, vigilBase] = await Promise.all([
      measure(() => procCpuS(promPid), () => procRssMb(promPid), BASE_WIN_S),
      measure(selfCpuS, () => procRssMb(process.pid), BASE_WIN_S),
    ]);

    // Crossings run through both rules phases.
    let crossing = true;
    const crossLoop = (async () => {
      while (crossing) {
        gauge = 1;
        crossings.push(Date.now());
        await sleep((CROSS_PERIOD_S / 2) * 1000);
        gauge = 0;
        await sleep((CROSS_PERIOD_S / 2) * 1000);
      }
    })();

    interface Rep {
      prom: Phase;
      vigil: Phase;
      promLd: number;
      vigilLd: number;
      promQ: [number, number, number];
      vigilQ: [number, number, number];
      promMissed: string;
      vigilMissed: string;
      promFailures: number;
      vigilFailures: number;
      promFiring: number;
      vigilFiring: number;
    }
    const reps: Rep[] = [];
    const promDelay: number[] = [];
    const vigilDelayAm: number[] = [];
    const vigilDelayInProc: number[] = [];
    const handed: Array<{ t: number; startsAt: number }> = [];
    const mean = (a: number[]) => (a.length ? a.reduce((x, y) => x + y, 0) / a.length : NaN);
    const quant = (text: string, name: string): [number, number, number] => ['0.5', '0.9', '0.99'].map((qq) => metricPick(text, `${name}{quantile="${qq}"}`) * 1000) as [number, number, number];
    // Delay from each upward crossing in [from, to] to the first firing BenchThreshold alert after it.
    const delays = (from: number, to: number, list: Array<{ t: number; startsAt: number }>) => {
      const out: number[] = [];
      for (const c of crossings) {
        if (c < from || c > to) continue;
        const a = list.find((x) => x.t > c && x.startsAt >= c - 1000);
        if (a && a.t - c < 60_000) out.push((a.t - c) / 1000);
      }
      return out;
    };
    const dispatcher = new AlertDispatcher({ logger });
    dispatcher.applyConfig(Labels.EMPTY, [alertmanagerConfigSchema.parse({ path_prefix: '/vigil', static_configs: [{ targets: [`127.0.0.1:${cport}`] }] })]);

    for (let rep = 1; rep <= REPS; rep++) {
      log(`rep ${rep}/${REPS}: Prometheus with 1,000 rules`);
      await stopChild(prom);
      prom = await startProm(true);
      const promRulesPid = prom.pid!;
      await sleep(WARM_S * 1000);
      const pFrom = Date.now();
      const promLd: number[] = [];
      const promPhase = await measure(() => procCpuS(promRulesPid), () => procRssMb(promRulesPid), WIN_S, async () => {
        const t = await (await fetch(`http://127.0.0.1:${pport}/metrics`)).text();
        promLd.push(metricSum(t, 'prometheus_rule_group_last_duration_seconds'));
      });
      const pTo = Date.now();
      const promMetrics = await (await fetch(`http://127.0.0.1:${pport}/metrics`)).text();
      const promFiring = Number(((await (await fetch(`http://127.0.0.1:${pport}/api/v1/query?query=${encodeURIComponent('count(ALERTS{alertstate="firing",alertname=~"BenchRule.*"})')}`)).json()) as any).data.result[0]?.value[1] ?? 0);
      await sleep(35_000); // let the last crossing's alert arrive
      await stopChild(prom);
      promDelay.push(...delays(pFrom, pTo, arrivals.filter((a) => a.who === 'prometheus' && a.endsAt > a.t)));
      // Prometheus keeps scraping (no rules) while Vigil is measured, so its data has no gap.
      prom = await startProm(false);

      log(`rep ${rep}/${REPS}: Vigil with 1,000 rules`);
      const registry = new Registry();
      const rules = new RuleManager({
        query: engineQueryFunc(new Engine(), db),
        appendable: db,
        queryable: db,
        notify: (alerts) => {
          const t = Date.now();
          for (const a of alerts) if (a.labels.get('alertname') === 'BenchThreshold' && a.endsAt > t) handed.push({ t, startsAt: a.startsAt });
          dispatcher.send(alerts);
        },
        logger,
        registry,
      });
      const report = await rules.update({ files: [rulesFile, crossFile], evaluationIntervalMs: INTERVAL_S * 1000, externalLabels: Labels.EMPTY, externalURL: 'http://127.0.0.1' });
      if (report.problems.length) throw new Error(report.problems.map((x) => x.text).join('\n'));
      rules.start();
      await sleep(WARM_S * 1000);
      const vFrom = Date.now();
      const vigilLd: number[] = [];
      const vigilPhase = await measure(selfCpuS, () => procRssMb(process.pid), WIN_S, async () => {
        vigilLd.push(rules.groups().reduce((x, g) => x + g.evaluationMs / 1000, 0));
      });
      const vTo = Date.now();
      const vigilMetrics = await registry.metrics();
      const groups = rules.groups();
      const vigilFiring = rules.alertingRules().filter((r) => r.name.startsWith('BenchRule')).reduce((n, r) => n + r.activeAlerts().filter((a) => a.state === 'firing').length, 0);
      await sleep(35_000);
      await rules.stop();
      vigilDelayAm.push(...delays(vFrom, vTo, arrivals.filter((a) => a.who === 'vigil' && a.endsAt > a.t)));
      vigilDelayInProc.push(...delays(vFrom, vTo, handed));
      reps.push({
        prom: promPhase,
        vigil: vigilPhase,
        promLd: mean(promLd),
        vigilLd: mean(vigilLd),
        promQ: quant(promMetrics, 'prometheus_rule_evaluation_duration_seconds'),
        vigilQ: quant(vigilMetrics, 'vigil_rule_evaluation_duration_seconds'),
        promMissed: `${metricSum(promMetrics, 'prometheus_rule_group_iterations_missed_total')}/${metricSum(promMetrics, 'prometheus_rule_group_iterations_total')}`,
        vigilMissed: `${groups.reduce((x, g) => x + g.stats.iterationsMissed, 0)}/${groups.reduce((x, g) => x + g.stats.iterationsTotal, 0)}`,
        promFailures: metricSum(promMetrics, 'prometheus_rule_evaluation_failures_total'),
        vigilFailures: groups.reduce((x, g) => x + g.stats.evaluationFailures, 0),
        promFiring,
        vigilFiring,
      });
      const r = reps.at(-1)!;
      log(`  extra cores: Vigil ${fmt(r.vigil.cores - vigilBase.cores)}, Prometheus ${fmt(r.prom.cores - promBase.cores)}`);
    }
    crossing = false;
    await dispatcher.stop(2000);
    await scrape.stop();
    await db.close();
    await crossLoop;

    const mm = (a: number[], d = 3) => `${fmt(med(a), d)} (${fmt(Math.min(...a), d)}–${fmt(Math.max(...a), d)})`;
    const vExtra = reps.map((r) => r.vigil.cores - vigilBase.cores);
    const pExtra = reps.map((r) => r.prom.cores - promBase.cores);
    const ratio = reps.map((_, i) => vExtra[i]! / pExtra[i]!);
    const rows: Array<[string, string, string, string]> = [
      ['figure (median (min–max) over reps)', 'Vigil', 'Prometheus 2.42', 'Vigil / Prometheus'],
      ['CPU cores, scrape only (10k series at 15 s)', fmt(vigilBase.cores), fmt(promBase.cores), ''],
      ['CPU cores, 1,000 rules', mm(reps.map((r) => r.vigil.cores)), mm(reps.map((r) => r.prom.cores)), ''],
      ['extra CPU cores for rule evaluation', mm(vExtra), mm(pExtra), mm(ratio, 2)],
      ['CPU-seconds of rule evaluation per 15 s cycle', mm(vExtra.map((x) => x * INTERVAL_S), 2), mm(pExtra.map((x) => x * INTERVAL_S), 2), ''],
      ['Σ group last duration per cycle, mean of 15 s samples (s)', mm(reps.map((r) => r.vigilLd), 2), mm(reps.map((r) => r.promLd), 2), ''],
      ['rule evaluation p50 / p90 / p99 (ms)', `${fmt(med(reps.map((r) => r.vigilQ[0])), 1)} / ${fmt(med(reps.map((r) => r.vigilQ[1])), 1)} / ${fmt(med(reps.map((r) => r.vigilQ[2])), 1)}`, `${fmt(med(reps.map((r) => r.promQ[0])), 1)} / ${fmt(med(reps.map((r) => r.promQ[1])), 1)} / ${fmt(med(reps.map((r) => r.promQ[2])), 1)}`, ''],
      ['group iterations missed/total, per rep', reps.map((r) => r.vigilMissed).join(' '), reps.map((r) => r.promMissed).join(' '), ''],
      ['rule evaluation failures, per rep', reps.map((r) => r.vigilFailures).join(' '), reps.map((r) => r.promFailures).join(' '), ''],
      ['firing BenchRule alerts at the end, per rep', reps.map((r) => r.vigilFiring).join(' '), reps.map((r) => r.promFiring).join(' '), ''],
      ['threshold crossing → alert at Alertmanager, median (s) [n]', `${fmt(med(vigilDelayAm), 1)} [${vigilDelayAm.length}]`, `${fmt(med(promDelay), 1)} [${promDelay.length}]`, fmt(med(vigilDelayAm) / med(promDelay), 2)],
      ['threshold crossing → alert handed on in-process, median (s) [n]', `${fmt(med(vigilDelayInProc), 1)} [${vigilDelayInProc.length}]`, '', ''],
      ['RSS MB, scrape only / with rules (median)', `${fmt(vigilBase.rssMb, 0)} / ${fmt(med(reps.map((r) => r.vigil.rssMb)), 0)}`, `${fmt(promBase.rssMb, 0)} / ${fmt(med(reps.map((r) => r.prom.rssMb)), 0)}`, ''],
    ];
    const w = [0, 1, 2, 3].map((i) => Math.max(...rows.map((r) => r[i]!.length)));
    console.log(`\nrules bench: 1,000 alerting rules (50 groups × 20), 10k series, ${INTERVAL_S} s interval; ${REPS} rep(s); fill ${FILL_S} s, baseline ${BASE_WIN_S} s, warm-up ${WARM_S} s, window ${WIN_S} s; load ${readFileSync('/proc/loadavg', 'utf8').trim()}`);
    for (const r of rows) console.log(r.map((c, i) => c.padEnd(w[i]!)).join('  '));
    console.log('\n(Σ group durations are wall times: Vigil evaluates its groups concurrently on one thread, so they overlap; compare CPU-seconds per cycle.)');
    console.log(`delays (s): vigil→AM ${vigilDelayAm.map((x) => x.toFixed(1)).join(' ')}; prometheus→AM ${promDelay.map((x) => x.toFixed(1)).join(' ')}`);
  } finally {
    if (prom) await stopChild(prom);
    for (const c of children) await stopChild(c);
    for (const s of servers) {
      s.closeAllConnections();
      s.close();
    }
    rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((e) => {
  console.error(e);
  process.exitCode = 1;
});
