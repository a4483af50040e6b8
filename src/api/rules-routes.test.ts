/**
 * `/api/v1/rules` filters added after Prometheus 2.42 (documented semantics; the 2.42 shapes
 * are compared with the real Prometheus in src/rules/prometheus.test.ts), `/api/v1/alerts`,
 * `/api/v1/alertmanagers`, and the error envelope for bad parameters.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Hono } from 'hono';
import pino from 'pino';
import { Labels } from '../model/index.ts';
import { MemoryStorage } from '../storage/index.ts';
import { Engine } from '../promql/index.ts';
import { AlertDispatcher, RuleManager, engineQueryFunc } from '../rules/index.ts';
import { ApiError, errorResponse } from './errors.ts';
import type { ApiDeps } from './deps.ts';
import { formatGoTime as goTimeJson } from '../model/index.ts';
import { registerRulesRoutes } from './rules-routes.ts';

const logger = pino({ level: 'silent' });

async function setup(): Promise<{ app: Hono; mgr: RuleManager; dir: string; files: string[] }> {
  const dir = mkdtempSync(join(tmpdir(), 'vigil-rules-api-'));
  const a = join(dir, 'a.yml');
  const b = join(dir, 'b.yml');
  writeFileSync(a, 'groups:\n- name: ga\n  rules:\n  - record: r1\n    expr: vector(1)\n  - alert: A1\n    expr: vector(1)\n    labels: {severity: page}\n');
  writeFileSync(b, 'groups:\n- name: gb\n  rules:\n  - alert: B1\n    expr: vector(2)\n    labels: {severity: ticket}\n    annotations: {summary: "{{ $value }}"}\n');
  const storage = new MemoryStorage();
  const mgr = new RuleManager({ query: engineQueryFunc(new Engine(), storage), appendable: storage, logger });
  await mgr.update({ files: [a, b], evaluationIntervalMs: 60_000, externalLabels: Labels.EMPTY, externalURL: '' });
  for (const g of mgr.groups()) await g.eval(Date.now());
  const dispatcher = new AlertDispatcher({ logger });
  dispatcher.applyConfig(Labels.EMPTY, [{ static_configs: [{ targets: ['am:9093'], labels: Labels.EMPTY }], scheme: 'http', path_prefix: '/prefix', timeout: 10_000, api_version: 'v2', follow_redirects: true, enable_http2: true }]);
  const app = new Hono();
  app.onError((err, c) => (err instanceof ApiError ? errorResponse(c, err.errorType, err.message) : c.text(String(err), 500)));
  registerRulesRoutes(app, { rules: mgr, alertDispatcher: dispatcher } as unknown as ApiDeps);
  return { app, mgr, dir, files: [a, b] };
}

async function get(app: Hono, path: string): Promise<{ status: number; body: any }> {
  const r = await app.request(path);
  return { status: r.status, body: await r.json() };
}

const names = (body: any) => body.data.groups.map((g: any) => `${g.name}:${g.rules.map((r: any) => r.name).join(',')}`);

test('rule_name[], rule_group[], file[], match[] filter rules; emptied groups are left out', async () => {
  const { app, mgr, dir, files } = await setup();
  try {
    assert.deepEqual(names((await get(app, '/api/v1/rules')).body), ['ga:r1,A1', 'gb:B1']);
    assert.deepEqual(names((await get(app, '/api/v1/rules?rule_name[]=A1&rule_name[]=B1')).body), ['ga:A1', 'gb:B1']);
    assert.deepEqual(names((await get(app, '/api/v1/rules?rule_name[]=r1')).body), ['ga:r1']);
    assert.deepEqual(names((await get(app, '/api/v1/rules?rule_group[]=gb')).body), ['gb:B1']);
    assert.deepEqual(names((await get(app, `/api/v1/rules?file[]=${encodeURIComponent(files[0]!)}`)).body), ['ga:r1,A1']);
    assert.deepEqual(names((await get(app, '/api/v1/rules?match[]={severity="ticket"}')).body), ['gb:B1']);
    assert.deepEqual(names((await get(app, '/api/v1/rules?type=record&rule_group[]=gb')).body), []);
    assert.deepEqual(names((await get(app, '/api/v1/rules?type=record')).body), ['ga:r1', 'gb:'], 'type alone keeps empty groups (Prometheus 2.42)');
    const ex = (await get(app, '/api/v1/rules?exclude_alerts=true&type=alert')).body;
    assert.equal(ex.data.groups[0].rules[0].alerts, undefined);
    const withAlerts = (await get(app, '/api/v1/rules?type=alert&rule_name[]=B1')).body.data.groups[0].rules[0];
    assert.deepEqual(withAlerts.alerts.map((a: any) => [a.labels, a.annotations, a.state, a.value]), [[{ alertname: 'B1', severity: 'ticket' }, { summary: '2' }, 'firing', '2e+00']]);
  } finally {
    await mgr.stop();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('bad parameters answer 400 with the error envelope', async () => {
  const { app, mgr, dir } = await setup();
  try {
    for (const [path, msg] of [
      ['/api/v1/rules?type=x', 'invalid parameter "type": not supported value "x"'],
      ['/api/v1/rules?exclude_alerts=maybe', 'invalid parameter "exclude_alerts": strconv.ParseBool: parsing "maybe": invalid syntax'],
    ] as const) {
      const r = await get(app, path);
      assert.equal(r.status, 400);
      assert.deepEqual(r.body, { status: 'error', errorType: 'bad_data', error: msg });
    }
    const m = await get(app, '/api/v1/rules?match[]={a=~"("}');
    assert.equal(m.status, 400);
    assert.equal(m.body.errorType, 'bad_data');
    assert.match(m.body.error, /^invalid parameter "match\[\]": /);
  } finally {
    await mgr.stop();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('/api/v1/alerts lists pending and firing alerts; /api/v1/alertmanagers the Alertmanager URLs', async () => {
  const { app, mgr, dir } = await setup();
  try {
    const r = await get(app, '/api/v1/alerts');
    assert.equal(r.status, 200);
    assert.deepEqual(r.body.data.alerts.map((a: any) => a.labels.alertname).sort(), ['A1', 'B1']);
    for (const a of r.body.data.alerts) assert.match(a.activeAt, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$/);
    const am = await get(app, '/api/v1/alertmanagers');
    assert.deepEqual(am.body, { status: 'success', data: { activeAlertmanagers: [{ url: 'http://am:9093/prefix/api/v2/alerts' }], droppedAlertmanagers: [] } });
  } finally {
    await mgr.stop();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('times are written as Go writes time.Time', () => {
  assert.equal(goTimeJson(0), '0001-01-01T00:00:00Z');
  assert.equal(goTimeJson(1_700_000_000_000), '2023-11-14T22:13:20Z');
  assert.equal(goTimeJson(1_700_000_000_120), '2023-11-14T22:13:20.12Z');
});
