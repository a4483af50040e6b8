/**
 * The end-to-end case: a built-in HTTP probe watches a local server; the server stops;
 * the runbook's ServiceDown expression fires and is listed by `/api/v1/alerts`, and handed to
 * alert delivery. The timing claim ("within `for` + one interval") is checked on the recorded
 * timestamps (first failing probe sample, alert activeAt and firedAt), not on the wall clock.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { Hono } from 'hono';
import { parse, stringify } from 'yaml';
import { Labels } from '../model/index.ts';
import { MemoryStorage } from '../storage/index.ts';
import { ProbeManager, probesSection } from '../probes/index.ts';
import { registerRulesRoutes } from '../api/rules-routes.ts';
import type { ApiDeps } from '../api/index.ts';
import { RuleManager } from './manager.ts';
import { CollectingAlertSink } from './notifier.ts';
import { dump, queryFor, silentLogger } from './testing.ts';

const root = resolve(new URL('.', import.meta.url).pathname, '../..');

test('a probe failing (local HTTP server stopped) fires ServiceDown within for + one interval, visible in /api/v1/alerts', { timeout: 60_000 }, async () => {
  const server = createServer((_req, res) => res.end('ok'));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const url = `http://127.0.0.1:${(server.address() as { port: number }).port}/health`;
  const dir = mkdtempSync(join(tmpdir(), 'vigil-e2e-'));
  const storage = new MemoryStorage();
  const probes = new ProbeManager({ appendable: storage, logger: silentLogger });
  const sink = new CollectingAlertSink();
  const rules = new RuleManager({ query: queryFor(storage), appendable: storage, notify: (a) => sink.send(a), logger: silentLogger });
  try {
    // The runbook's ServiceDown rule, with `for` and the interval shortened for the test.
    const pack = parse(readFileSync(join(root, 'rules/runbook.yml'), 'utf8')) as { groups: Array<{ name: string; rules: Array<Record<string, unknown>> }> };
    const serviceDown = pack.groups[0]!.rules.find((r) => r.alert === 'ServiceDown')!;
    const forMs = 2000;
    const intervalMs = 1000;
    writeFileSync(join(dir, 'rules.yml'), stringify({ groups: [{ name: 'p0', interval: '1s', rules: [{ ...serviceDown, for: '2s' }] }] }));
    await probes.applyConfig(probesSection.schema.parse({ interval: '1s', http: [{ url, job: 'backend' }] }));
    probes.start();
    await rules.update({ files: [join(dir, 'rules.yml')], evaluationIntervalMs: intervalMs, externalLabels: Labels.EMPTY, externalURL: 'http://vigil.test:9090' });
    rules.start();
    const app = new Hono();
    registerRulesRoutes(app, { rules } as unknown as ApiDeps);

    const probeSamples = async () => (await dump(storage, 'probe_success')).get(`{__name__="probe_success", instance="${url}", job="backend"}`) ?? [];
    for (let i = 0; (await probeSamples()).filter(([, v]) => v === 1).length < 2; i++) {
      if (i > 100) throw new Error('the probe never succeeded');
      await new Promise((r) => setTimeout(r, 100));
    }
    const alerts = async () => ((await (await app.request('/api/v1/alerts')).json()) as { data: { alerts: Array<Record<string, any>> } }).data.alerts;
    assert.deepEqual(await alerts(), [], 'nothing fires while the server answers');

    await new Promise<void>((r) => { server.closeAllConnections(); server.close(() => r()); });
    let firing: Array<Record<string, any>> = [];
    for (let i = 0; i < 150 && !firing.some((a) => a.state === 'firing'); i++) {
      await new Promise((r) => setTimeout(r, 100));
      firing = await alerts();
    }
    const a = firing.find((x) => x.state === 'firing');
    assert.ok(a, `ServiceDown did not fire: ${JSON.stringify(firing)}`);
    assert.deepEqual(a.labels, { alertname: 'ServiceDown', instance: url, job: 'backend', priority: 'P0', severity: 'critical' });
    assert.equal(a.annotations.summary, `Service ${url} is down`);
    assert.equal(a.annotations.runbook_url, 'http://vigil.test:9090/runbooks/service-down');

    const firstFailure = (await probeSamples()).find(([, v]) => v === 0)![0];
    const rule = rules.alertingRules()[0]!;
    const alert = rule.activeAlerts()[0]!;
    // Pending at the first evaluation that sees the failing sample (one interval later at most,
    // plus one more if the probe had not committed it yet), firing for + less than one interval later.
    assert.ok(alert.activeAt >= firstFailure && alert.activeAt - firstFailure <= 2 * intervalMs, 'pending at the first evaluation after the failing sample');
    assert.ok(alert.firedAt - alert.activeAt >= forMs && alert.firedAt - alert.activeAt < forMs + intervalMs, 'fired within for + one interval of becoming pending');
    await sink.waitFor((xs) => xs.some((x) => x.labels.get('alertname') === 'ServiceDown'), 5000);
  } finally {
    await rules.stop();
    await probes.stop();
    server.closeAllConnections();
    server.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
