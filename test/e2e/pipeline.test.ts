/**
 * The whole chain through a real `vigil server` process: a backend's /metrics is scraped and
 * its /health probed; when the backend stops, the ServiceDown rule fires within `for` + one
 * evaluation interval (visible in /api/v1/alerts), Vigil's alert handling groups it and posts
 * Alertmanager's webhook payload to a local receiver, and amtool-style API v2 reads show it.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import type { AddressInfo } from 'node:net';
import { startVigil } from '../helpers/vigil-process.ts';

function listen(server: Server): Promise<number> {
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve((server.address() as AddressInfo).port)));
}

async function until<T>(what: string, fn: () => Promise<T | undefined>, timeoutMs: number): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Json = any;

test('probe → store → rule → alert → webhook, through vigil server', { timeout: 120_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'vigil-e2e-pipeline-'));
  let requests = 0;
  const backend = createServer((req, res) => {
    requests++;
    if (req.url === '/health') {
      res.writeHead(200, { 'content-type': 'application/json' }).end('{"status":"healthy"}');
    } else if (req.url === '/metrics') {
      res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4' });
      res.end(`# TYPE http_requests_total counter\nhttp_requests_total{code="200"} ${requests}\nhttp_requests_total{code="500"} 1\n`);
    } else res.writeHead(404).end();
  });
  const backendPort = await listen(backend);
  const notifications: Json[] = [];
  const receiver = createServer((req, res) => {
    let body = '';
    req.on('data', (d) => (body += d));
    req.on('end', () => {
      notifications.push(JSON.parse(body));
      res.writeHead(200).end();
    });
  });
  const receiverPort = await listen(receiver);

  writeFileSync(join(dir, 'rules.yml'), `groups:
  - name: e2e
    interval: 1s
    rules:
      - alert: ServiceDown
        expr: probe_success == 0
        for: 2s
        labels: {severity: critical, priority: P0}
        annotations:
          summary: "Service {{ $labels.instance }} is down"
`);
  writeFileSync(join(dir, 'vigil.yml'), `global:
  scrape_interval: 1s
  scrape_timeout: 1s
  evaluation_interval: 1s
scrape_configs:
  - job_name: backend
    static_configs: [{targets: ['127.0.0.1:${backendPort}']}]
probes:
  http:
    - job: backend-health
      url: http://127.0.0.1:${backendPort}/health
      interval: 1s
      timeout: 500ms
rule_files: [rules.yml]
alerting:
  route:
    receiver: hook
    group_by: [alertname]
    group_wait: 1s
    group_interval: 2s
    repeat_interval: 1h
  receivers:
    - name: hook
      webhook_configs: [{url: 'http://127.0.0.1:${receiverPort}/'}]
`);
  const v = await startVigil([`--config.file=${join(dir, 'vigil.yml')}`], { dataDir: join(dir, 'data') });
  try {
    const q = async (expr: string): Promise<Json[]> => {
      const r: Json = await (await fetch(`${v.url}/api/v1/query?query=${encodeURIComponent(expr)}`)).json();
      assert.equal(r.status, 'success', JSON.stringify(r));
      return r.data.result;
    };
    // Collection works: the scrape and the probe both land in the store.
    await until('the backend to be scraped', async () => ((await q('up{job="backend"} == 1')).length ? true : undefined), 20_000);
    await until('the probe to succeed', async () => ((await q('probe_success{job="backend-health"} == 1')).length ? true : undefined), 20_000);
    const sent = await q('http_requests_total{job="backend",code="500"}');
    assert.equal(sent[0].value[1], '1');

    // The backend goes away.
    backend.closeAllConnections();
    await new Promise<void>((r) => backend.close(() => r()));
    const stoppedAt = Date.now();

    const firing = await until(
      'ServiceDown to fire',
      async () => {
        const r: Json = await (await fetch(`${v.url}/api/v1/alerts`)).json();
        return r.data.alerts.find((a: Json) => a.labels.alertname === 'ServiceDown' && a.state === 'firing');
      },
      30_000,
    );
    const firedAfterMs = Date.now() - stoppedAt;
    // for (2 s) + evaluation interval (1 s) + probe interval (1 s) + probe timeout and polling slack.
    assert.ok(firedAfterMs < 2000 + 1000 + 1000 + 3000, `fired ${firedAfterMs} ms after the backend stopped`);
    assert.equal(firing.labels.severity, 'critical');
    assert.equal(firing.annotations.summary, `Service http://127.0.0.1:${backendPort}/health is down`);

    // Vigil's own alert handling sends the webhook notification (Alertmanager's payload v4).
    const n = await until('the webhook notification', async () => notifications.find((x) => x.status === 'firing'), 20_000);
    assert.equal(n.version, '4');
    assert.equal(n.receiver, 'hook');
    assert.equal(n.groupLabels.alertname, 'ServiceDown');
    assert.equal(n.alerts[0].labels.instance, `http://127.0.0.1:${backendPort}/health`);
    assert.equal(n.alerts[0].annotations.summary, `Service http://127.0.0.1:${backendPort}/health is down`);
    assert.match(n.alerts[0].generatorURL, /\/graph\?g0\.expr=/);

    // The same alert through Alertmanager's API v2 and in the history.
    const v2: Json = await (await fetch(`${v.url}/api/v2/alerts?filter=alertname%3D%22ServiceDown%22`)).json();
    assert.equal(v2.length, 1);
    assert.equal(v2[0].status.state, 'active');
    assert.deepEqual(v2[0].receivers.map((r: Json) => r.name), ['hook']);
    const history: Json = await (await fetch(`${v.url}/api/v1/alerts/history`)).json();
    assert.ok(JSON.stringify(history).includes('ServiceDown'));

    // ALERTS is written to the store as Prometheus does.
    const alerts = await q('ALERTS{alertname="ServiceDown",alertstate="firing"}');
    assert.equal(alerts.length, 1);
    assert.equal(await v.stop(), 0);
  } finally {
    await v.stop('SIGKILL');
    backend.close();
    receiver.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
