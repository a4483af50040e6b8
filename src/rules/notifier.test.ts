/**
 * Delivery: in-process sinks, external Alertmanagers over API v2 (payload shape, path prefix,
 * auth, batches of 64, failures counted, a full queue dropping its oldest alerts), and the real
 * Alertmanager 0.25 receiving what Vigil's rules fire and resolve.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Registry } from 'prom-client';
import { Labels, type PostableAlert } from '../model/index.ts';
import { MemoryStorage } from '../storage/index.ts';
import { Secret } from '../config/index.ts';
import type { AlertmanagerConfig } from './config.ts';
import { alertmanagerConfigSchema, rulesAlertingSection } from './config.ts';
import { RuleManager } from './manager.ts';
import { AlertDispatcher, CollectingAlertSink, LogAlertSink } from './notifier.ts';
import { capturingLogger, queryFor, silentLogger } from './testing.ts';
import { freePort } from '../../test/helpers/free-port.ts';

interface Captured {
  url: string;
  headers: IncomingMessage['headers'];
  body: Array<Record<string, any>>;
}

async function captureServer(status = 200, delayMs = 0): Promise<{ server: Server; port: number; got: Captured[]; close(): Promise<void> }> {
  const got: Captured[] = [];
  const server = createServer((req, res) => {
    let b = '';
    req.on('data', (c) => (b += c));
    req.on('end', () => {
      got.push({ url: req.url ?? '', headers: req.headers, body: JSON.parse(b) });
      setTimeout(() => {
        res.writeHead(status);
        res.end();
      }, delayMs);
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as { port: number }).port;
  return { server, port, got, close: () => new Promise((r) => { server.closeAllConnections(); server.close(() => r()); }) };
}

function amConfig(targets: string[], extra: Partial<AlertmanagerConfig> = {}): AlertmanagerConfig {
  return { ...alertmanagerConfigSchema.parse({ static_configs: [{ targets }] }), ...extra };
}

function alert(name: string, i: number, t = 1_700_000_000_000): PostableAlert {
  return { labels: Labels.fromRecord({ alertname: name, i: String(i), cluster: 'own' }), annotations: Labels.fromRecord({ summary: `s${i}` }), startsAt: t, endsAt: t + 240_000, generatorURL: 'http://vigil/graph?g0.expr=x&g0.tab=1' };
}

test('alerts are POSTed to /api/v2/alerts under the path prefix, in batches of 64, with external labels and auth', async () => {
  const cap = await captureServer();
  const registry = new Registry();
  const sink = new CollectingAlertSink();
  const d = new AlertDispatcher({ logger: silentLogger, registry, sinks: [sink] });
  try {
    d.applyConfig(Labels.fromRecord({ cluster: 'ext', region: 'eu' }), [amConfig([`127.0.0.1:${cap.port}`], { path_prefix: '/am/', basic_auth: { username: 'u', password: Secret.inline('p') } })]);
    const batch: PostableAlert[] = [];
    for (let i = 0; i < 150; i++) batch.push(alert('A', i));
    d.send(batch);
    await d.idle();
    assert.deepEqual(cap.got.map((g) => g.body.length), [64, 64, 22]);
    const first = cap.got[0]!;
    assert.equal(first.url, '/am/api/v2/alerts');
    assert.equal(first.headers['content-type'], 'application/json');
    assert.equal(first.headers.authorization, 'Basic ' + Buffer.from('u:p').toString('base64'));
    assert.deepEqual(first.body[0], {
      labels: { alertname: 'A', cluster: 'own', i: '0', region: 'eu' },
      annotations: { summary: 's0' },
      startsAt: '2023-11-14T22:13:20.000Z',
      endsAt: '2023-11-14T22:17:20.000Z',
      generatorURL: 'http://vigil/graph?g0.expr=x&g0.tab=1',
    });
    assert.equal(sink.alerts.length, 150, 'the in-process sink got every alert');
    assert.equal(sink.alerts[0]!.labels.get('region'), 'eu', 'with external labels');
    const m = await registry.metrics();
    assert.match(m, new RegExp(`vigil_notifier_alerts_sent_total\\{alertmanager="http://127.0.0.1:${cap.port}/am/api/v2/alerts"\\} 150`));
    assert.match(m, /vigil_notifier_alerts_dropped_total 0/);
  } finally {
    await d.stop();
    await cap.close();
  }
});

test('an Alertmanager answering 500 counts errors and drops; another one that accepts keeps the batch delivered', async () => {
  const bad = await captureServer(500);
  const good = await captureServer(200);
  const { logger, records } = capturingLogger();
  const d = new AlertDispatcher({ logger });
  try {
    d.applyConfig(Labels.EMPTY, [amConfig([`127.0.0.1:${bad.port}`])]);
    d.send([alert('A', 1)]);
    await d.idle();
    assert.equal(d.stats.dropped, 1, 'no Alertmanager accepted');
    assert.equal(d.stats.errors.get(`http://127.0.0.1:${bad.port}/api/v2/alerts`), 1);
    assert.ok(records.some((r) => r.msg === 'Error sending alerts' && /bad response status 500/.test(String(r.err))));
    d.applyConfig(Labels.EMPTY, [amConfig([`127.0.0.1:${bad.port}`, `127.0.0.1:${good.port}`])]);
    d.send([alert('A', 2)]);
    await d.idle();
    assert.equal(d.stats.dropped, 1, 'accepted by one of two');
    assert.equal(good.got.length, 1);
  } finally {
    await d.stop();
    await bad.close();
    await good.close();
  }
});

test('a slow Alertmanager times out; a full queue drops its oldest alerts', async () => {
  const slow = await captureServer(200, 2_000);
  const d = new AlertDispatcher({ logger: silentLogger, queueCapacity: 100 });
  try {
    d.applyConfig(Labels.EMPTY, [amConfig([`127.0.0.1:${slow.port}`], { timeout: 200 })]);
    const many: PostableAlert[] = [];
    for (let i = 0; i < 300; i++) many.push(alert('Q', i));
    d.send(many.slice(0, 64)); // in flight
    d.send(many.slice(64)); // 236 more into a queue of 100: 136 dropped at once
    assert.equal(d.stats.dropped, 136);
    await d.idle();
    assert.equal(d.stats.dropped, 300, 'every batch timed out');
    assert.equal(slow.got[1]!.body[0]!.labels.i, '200', 'the oldest were dropped');
  } finally {
    await d.stop();
    await slow.close();
  }
});

test('alert_relabel_configs apply after external labels; an alert relabelled away is not sent', async () => {
  const sink = new CollectingAlertSink();
  const d = new AlertDispatcher({ logger: silentLogger, sinks: [sink] });
  const cfg = rulesAlertingSection.schema.parse({
    alert_relabel_configs: [
      { source_labels: ['i'], regex: '2', action: 'drop' },
      { regex: 'replica', action: 'labeldrop' },
      { source_labels: ['region'], target_label: 'dc', replacement: 'dc-$1' },
    ],
  });
  d.applyConfig(Labels.fromRecord({ region: 'eu', replica: 'a' }), cfg.alertmanagers, cfg.alert_relabel_configs);
  d.send([alert('R', 1), alert('R', 2)]);
  assert.deepEqual(sink.alerts.map((a) => a.labels.toString()), ['{alertname="R", cluster="own", dc="dc-eu", i="1", region="eu"}']);
  await d.stop();
  assert.ok(!rulesAlertingSection.schema.safeParse({ alert_relabel_configs: [{ action: 'bogus' }] }).success);
});

test('the log sink logs firing and resolved alerts', () => {
  const { logger, records } = capturingLogger('info');
  const s = new LogAlertSink(logger, () => 1_700_000_100_000);
  s.send([alert('L', 1), { ...alert('L', 2), endsAt: 1_700_000_050_000 }]);
  assert.deepEqual(records.map((r) => [r.alertname, r.status]), [['L', 'firing'], ['L', 'resolved']]);
});

test('alerting.alertmanagers config: defaults, v1 refused, auth exclusivity', () => {
  const c = alertmanagerConfigSchema.parse({ static_configs: [{ targets: ['am:9093'] }] });
  assert.equal(c.scheme, 'http');
  assert.equal(c.timeout, 10_000);
  assert.equal(c.api_version, 'v2');
  assert.equal(c.path_prefix, '/');
  const v1 = alertmanagerConfigSchema.safeParse({ api_version: 'v1' });
  assert.ok(!v1.success && /API v1 is not supported/.test(v1.error.issues[0]!.message));
  const both = alertmanagerConfigSchema.safeParse({ basic_auth: { username: 'a' }, authorization: { credentials: 'x' } });
  assert.ok(!both.success);
  assert.ok(!alertmanagerConfigSchema.safeParse({ static_configs: [{ targets: ['no-port'] }] }).success);
});

const AM_BIN = 'prometheus-alertmanager'; // Debian's name for Alertmanager's binary
const hasAm = !spawnSync(AM_BIN, ['--version']).error;


test('Alertmanager 0.25 receives what the rules fire, then the resolution', { skip: hasAm ? false : 'prometheus-alertmanager not installed (Debian package prometheus-alertmanager)', timeout: 60_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'vigil-am-'));
  const port = await freePort();
  writeFileSync(join(dir, 'am.yml'), 'route: {receiver: devnull}\nreceivers: [{name: devnull}]\n');
  const am = spawn(AM_BIN, [`--config.file=${join(dir, 'am.yml')}`, `--storage.path=${join(dir, 'data')}`, `--web.listen-address=127.0.0.1:${port}`, '--cluster.listen-address=', '--log.level=warn'], { stdio: 'ignore' });
  const storage = new MemoryStorage();
  const d = new AlertDispatcher({ logger: silentLogger });
  let firing = true;
  const base = queryFor(storage);
  const mgr = new RuleManager({
    query: (q, t) => (q === 'vector(1)' && !firing ? Promise.resolve([]) : base(q, t)),
    appendable: storage,
    notify: (a) => d.send(a),
    logger: silentLogger,
  });
  const amAlerts = async () => {
    const r = await fetch(`http://127.0.0.1:${port}/api/v2/alerts`);
    return (await r.json()) as Array<Record<string, any>>;
  };
  try {
    for (let i = 0; ; i++) {
      try {
        if ((await fetch(`http://127.0.0.1:${port}/-/ready`)).ok) break;
      } catch {
        // starting
      }
      if (i > 100) throw new Error('alertmanager did not start');
      await new Promise((r) => setTimeout(r, 100));
    }
    d.applyConfig(Labels.fromRecord({ monitor: 'vigil' }), [amConfig([`127.0.0.1:${port}`])]);
    const rules = join(dir, 'rules.yml');
    writeFileSync(rules, 'groups:\n- name: g\n  interval: 1s\n  rules:\n  - alert: VigilTest\n    expr: vector(1)\n    labels: {severity: page}\n    annotations: {summary: "value {{ $value }}"}\n');
    await mgr.update({ files: [rules], evaluationIntervalMs: 1000, externalLabels: Labels.EMPTY, externalURL: 'http://vigil.test:9090' });
    mgr.start();
    let got: Array<Record<string, any>> = [];
    for (let i = 0; i < 50 && got.length === 0; i++) {
      await new Promise((r) => setTimeout(r, 200));
      got = await amAlerts();
    }
    assert.equal(got.length, 1);
    assert.deepEqual(got[0]!.labels, { alertname: 'VigilTest', severity: 'page', monitor: 'vigil' });
    assert.deepEqual(got[0]!.annotations, { summary: 'value 1' });
    assert.equal(got[0]!.generatorURL, 'http://vigil.test:9090/graph?g0.expr=vector%281%29&g0.tab=1');
    assert.equal(got[0]!.status.state, 'active');
    firing = false;
    for (let i = 0; i < 50 && got.length > 0; i++) {
      await new Promise((r) => setTimeout(r, 200));
      got = await amAlerts();
    }
    assert.equal(got.length, 0, 'resolved in Alertmanager');
  } finally {
    await mgr.stop();
    await d.stop(1000);
    am.kill('SIGTERM');
    await new Promise((r) => am.once('exit', r));
    rmSync(dir, { recursive: true, force: true });
  }
});
