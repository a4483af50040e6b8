/**
 * Debian's Prometheus 2.42 with `alerting.alertmanagers` pointing at Vigil: its firing alert
 * arrives over API v2, Vigil groups it and notifies the webhook with Prometheus' labels,
 * annotations and generator URL.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tempDir } from '../state/testing.ts';
import { startAlertingServer, startCapture, waitFor } from './testing.ts';

const PROMETHEUS = '/usr/bin/prometheus';

test('real Prometheus delivers an alert that Vigil groups and sends', { timeout: 90_000 }, async (t) => {
  if (!existsSync(PROMETHEUS)) return t.skip(`${PROMETHEUS} is not installed (Debian package prometheus)`);
  const cap = await startCapture();
  const vigil = await startAlertingServer({
    alerting: `route:\n  receiver: ops\n  group_by: [alertname, job]\n  group_wait: 500ms\nreceivers:\n- name: ops\n  webhook_configs: [{url: '${cap.url}/ops'}]\n`,
  });
  const dir = tempDir('vigil-prom-');
  writeFileSync(join(dir, 'rules.yml'), `groups:
- name: vigil-test
  interval: 1s
  rules:
  - alert: BackendDown
    expr: vector(0) == 0
    labels: {severity: critical, job: codexos-backend}
    annotations: {summary: 'Backend unreachable', description: 'value {{ $value }}'}
`);
  writeFileSync(join(dir, 'prometheus.yml'), `global:
  evaluation_interval: 1s
rule_files: [rules.yml]
alerting:
  alertmanagers:
  - static_configs: [{targets: ['127.0.0.1:${vigil.http.address.port}']}]
`);
  // A short resend delay: an alert that fires before Prometheus discovered its Alertmanagers is
  // dropped and only sent again after this delay (1 m by default).
  const prom = spawn(PROMETHEUS, [`--config.file=${join(dir, 'prometheus.yml')}`, `--storage.tsdb.path=${join(dir, 'data')}`, '--web.listen-address=127.0.0.1:0', '--log.level=warn', '--rules.alert.resend-delay=1s'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let logs = '';
  prom.stdout!.on('data', (d) => (logs += d));
  prom.stderr!.on('data', (d) => (logs += d));
  const exited = new Promise<void>((r) => prom.once('exit', () => r()));
  try {
    assert.ok(await waitFor(() => cap.received.length >= 1, 60_000), `no notification; Prometheus logs:\n${logs}`);
    const n = cap.received[0]!.json;
    assert.equal(n.status, 'firing');
    assert.deepEqual(n.groupLabels, { alertname: 'BackendDown', job: 'codexos-backend' });
    const a = n.alerts[0];
    assert.deepEqual(a.labels, { alertname: 'BackendDown', job: 'codexos-backend', severity: 'critical' });
    assert.deepEqual(a.annotations, { description: 'value 0', summary: 'Backend unreachable' });
    assert.match(a.generatorURL, /\/graph\?g0\.expr=/);
    // Prometheus sets endsAt (re-sending keeps the alert alive); Vigil shows it as received.
    const api = (await (await fetch(`${vigil.url}/api/v2/alerts`)).json()) as Array<{ labels: Record<string, string>; endsAt: string }>;
    assert.equal(api.length, 1);
    assert.ok(Date.parse(api[0]!.endsAt) > Date.now());
  } finally {
    prom.kill('SIGTERM');
    const timer = setTimeout(() => prom.kill('SIGKILL'), 10_000);
    await exited;
    clearTimeout(timer);
    await vigil.stop();
    await cap.close();
  }
});
