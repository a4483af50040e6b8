/**
 * Side by side with Debian's Prometheus 2.42 on the same rule file: `/api/v1/rules` and
 * `/api/v1/alerts` (shapes, printed queries, states, values, health, filters, the bad-parameter
 * envelope) and the group evaluation offset (the sub-second part of every evaluation
 * timestamp, which Prometheus derives from a hash of the file and group name).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Hono } from 'hono';
import { Labels } from '../model/index.ts';
import { MemoryStorage } from '../storage/index.ts';
import { registerRulesRoutes } from '../api/rules-routes.ts';
import { ApiError, errorResponse, type ApiDeps } from '../api/index.ts';
import { RuleManager } from './manager.ts';
import { dump, queryFor, silentLogger } from './testing.ts';
import { freePort } from '../../test/helpers/free-port.ts';

const hasPrometheus = !spawnSync('prometheus', ['--version']).error;
const skip = hasPrometheus ? false : 'prometheus not installed (Debian package prometheus): comparison skipped';

const RULES = `
groups:
  - name: rec
    interval: 1s
    rules:
      - record: job:one
        expr: vector(1)
        labels: {job: x}
      - record: two
        expr: vector(2)
  - name: alerts
    interval: 1s
    limit: 5
    rules:
      - alert: Firing
        expr: job:one > 0
        labels: {severity: page}
        annotations: {summary: "value {{ $value }} job {{ $labels.job }}"}
      - alert: Pending
        expr: vector(3)
        for: 1h
        keep_firing_for: 5m
      - alert: Never
        expr: vector(1) < 0
      - alert: Joined
        expr: 'vector(1) + on(x) group_left vector(2)'
      - alert: TooMany
        expr: 'label_replace(vector(1), "i", "a", "", "") or label_replace(vector(1), "i", "b", "", "") or label_replace(vector(1), "i", "c", "", "") or label_replace(vector(1), "i", "d", "", "") or label_replace(vector(1), "i", "e", "", "") or label_replace(vector(1), "i", "f", "", "")'
`;


const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function waitFor<T>(what: string, fn: () => Promise<T | undefined>, timeoutMs = 20_000): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    try {
      const v = await fn();
      if (v !== undefined) return v;
    } catch {
      // not ready yet
    }
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(200);
  }
}

type Json = Record<string, unknown>;

/** Replaces times and durations (which differ between two processes) by their kind. */
function normalize(v: unknown, key = ''): unknown {
  if (Array.isArray(v)) return v.map((x) => normalize(x));
  if (v && typeof v === 'object') {
    const out: Json = {};
    for (const [k, x] of Object.entries(v)) out[k] = normalize(x, k);
    return out;
  }
  if (key === 'lastEvaluation' || key === 'activeAt') return typeof v === 'string' && /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$/.test(v) ? '<time>' : v;
  if (key === 'evaluationTime') return typeof v === 'number' && v >= 0 ? '<seconds>' : v;
  return v;
}

function sortAlerts(alerts: Json[]): Json[] {
  return [...alerts].sort((a, b) => (JSON.stringify(a.labels) < JSON.stringify(b.labels) ? -1 : 1));
}

test('rules and alerts API and group offsets match Prometheus 2.42 on the same rule file', { skip, timeout: 60_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'vigil-prom-'));
  const rulesFile = join(dir, 'rules.yml');
  writeFileSync(rulesFile, RULES);
  writeFileSync(join(dir, 'prom.yml'), `global: {evaluation_interval: 1s}\nrule_files: ['${rulesFile}']\n`);
  const port = await freePort();
  const prom = spawn('prometheus', [`--config.file=${join(dir, 'prom.yml')}`, `--storage.tsdb.path=${join(dir, 'data')}`, `--web.listen-address=127.0.0.1:${port}`, '--log.level=warn'], { stdio: 'ignore' });
  const storage = new MemoryStorage();
  const mgr = new RuleManager({ query: queryFor(storage), appendable: storage, queryable: storage, logger: silentLogger });
  try {
    const base = `http://127.0.0.1:${port}`;
    const get = async (path: string): Promise<Json> => (await (await fetch(base + path)).json()) as Json;
    const report = await mgr.update({ files: [rulesFile], evaluationIntervalMs: 1000, externalLabels: Labels.EMPTY, externalURL: 'http://vigil.test' });
    assert.deepEqual(report.problems, []);
    mgr.start();
    const app = new Hono();
    app.onError((err, c) => (err instanceof ApiError ? errorResponse(c, err.errorType, err.message) : c.text(String(err), 500)));
    registerRulesRoutes(app, { rules: mgr } as unknown as ApiDeps);
    const vget = async (path: string): Promise<Json> => (await (await app.request(path)).json()) as Json;

    // Both have evaluated every group at least twice.
    await waitFor('Prometheus to evaluate', async () => {
      const r = await get('/api/v1/rules');
      const groups = (r.data as { groups: Array<{ rules: Array<{ lastEvaluation: string }> }> }).groups;
      return groups.length === 2 && groups.every((g) => g.rules.every((x) => !x.lastEvaluation.startsWith('0001'))) ? r : undefined;
    });
    await waitFor('Vigil to evaluate', async () => (mgr.groups().every((g) => g.stats.iterationsTotal >= 2) ? true : undefined));
    await sleep(1200);

    // The filters Prometheus 2.42 knows (rule_name[], rule_group[], file[] came later: see api.test).
    for (const path of ['/api/v1/rules', '/api/v1/rules?type=alert', '/api/v1/rules?type=record', '/api/v1/rules?type=x']) {
      const p = normalize(await get(path)) as Json;
      const v = normalize(await vget(path)) as Json;
      if (p.data) {
        for (const d of [p.data, v.data] as Array<{ groups: Array<{ rules: Json[] }> }>) for (const g of d.groups) for (const r of g.rules) if (r.alerts) r.alerts = sortAlerts(r.alerts as Json[]);
      }
      assert.deepEqual(v, p, path);
    }
    const pa = normalize(await get('/api/v1/alerts')) as { data: { alerts: Json[] } };
    const va = normalize(await vget('/api/v1/alerts')) as { data: { alerts: Json[] } };
    assert.deepEqual(sortAlerts(va.data.alerts), sortAlerts(pa.data.alerts));

    // The evaluation timestamps carry the same sub-second offset (1 s groups): recorded samples and activeAt.
    const q = async (expr: string) => (await get(`/api/v1/query?query=${encodeURIComponent(expr)}`)).data as { result: Array<{ value: [number, string] }> };
    const promTwo = Math.round(Number((await q('timestamp(two)')).result[0]!.value[1]) * 1000) % 1000;
    const promAlerts = Math.round(Number((await q('timestamp(ALERTS{alertname="Firing"})')).result[0]!.value[1]) * 1000) % 1000;
    const series = await dump(storage);
    const vigilTwo = series.get('{__name__="two"}')!.at(-1)![0] % 1000;
    const vigilAlerts = series.get('{__name__="ALERTS", alertname="Firing", alertstate="firing", job="x", severity="page"}')!.at(-1)![0] % 1000;
    assert.equal(vigilTwo, promTwo, 'group "rec" offset');
    assert.equal(vigilAlerts, promAlerts, 'group "alerts" offset');
  } finally {
    await mgr.stop();
    prom.kill('SIGTERM');
    await new Promise((r) => prom.once('exit', r));
    rmSync(dir, { recursive: true, force: true });
  }
});
