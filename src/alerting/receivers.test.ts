/**
 * Receivers' payloads: webhook (payload v4), Slack (incoming-webhook JSON) and PagerDuty
 * (Events API v2) compared byte for byte with what Alertmanager 0.25 sends for the same
 * configuration and alerts; email over a local SMTP server with STARTTLS and AUTH; the HTTP
 * client's auth headers, proxy and redirects.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { SMTPServer } from 'smtp-server';
import pino from 'pino';
import { Labels } from '../model/index.ts';
import { makeAlert } from './alert.ts';
import { parseAlertmanagerConfig } from './config.ts';
import { EmailIntegration } from './notify/email.ts';
import type { IntegrationEnv, NotifyContext } from './notify/integration.ts';
import { groupKeyHash, PagerdutyIntegration } from './notify/pagerduty.ts';
import { WebhookIntegration } from './notify/webhook.ts';
import { haveAlertmanager, postAlerts, sleep, startAlertingServer, startAlertmanager, startCapture, waitFor, type Captured } from './testing.ts';

const EXTERNAL = 'http://alertmanager.example.com:9093';

const RECEIVERS = (base: string) => `global:
  slack_api_url: ${base}/slack
route:
  receiver: team
  group_by: [alertname, service]
  group_wait: 1s
  group_interval: 2s
  repeat_interval: 1h
receivers:
- name: team
  webhook_configs:
  - url: ${base}/webhook
  slack_configs:
  - channel: '#ops'
    send_resolved: true
  - api_url: ${base}/slack-custom
    channel: '#db'
    title: '{{ .CommonLabels.alertname }} on {{ .CommonLabels.service }}'
    text: '{{ range .Alerts }}{{ .Annotations.summary }} {{ end }}'
    fields: [{title: Severity, value: '{{ .CommonLabels.severity }}'}, {title: Count, value: '{{ len .Alerts }}', short: false}]
    short_fields: true
    footer: vigil
    link_names: true
  pagerduty_configs:
  - routing_key: R0UT1NGK3Y
    url: ${base}/pagerduty
    severity: '{{ if eq .CommonLabels.severity "critical" }}critical{{ else }}warning{{ end }}'
    class: '{{ .CommonLabels.alertname }}'
    component: '{{ .CommonLabels.service }}'
    group: infra
    links: [{href: 'https://runbooks.example.com/{{ .CommonLabels.alertname }}', text: runbook}]
`;

function byPath(caps: Captured[]): Map<string, unknown[]> {
  const m = new Map<string, unknown[]>();
  for (const c of caps) {
    const l = m.get(c.path) ?? [];
    l.push(c.json);
    m.set(c.path, l);
  }
  return m;
}

describe('receiver payloads', { concurrency: 1 }, () => {
  test('webhook, Slack and PagerDuty payloads equal Alertmanager 0.25 for firing and resolved notifications', async (t) => {
    const skip = haveAlertmanager();
    if (skip) return t.skip(skip);
    const capAm = await startCapture();
    const capV = await startCapture();
    const am = await startAlertmanager(RECEIVERS(capAm.url), [`--web.external-url=${EXTERNAL}`]);
    const vigil = await startAlertingServer({ alerting: RECEIVERS(capV.url), externalUrl: EXTERNAL });
    try {
      const startsAt = new Date(Date.now() - 60_000).toISOString();
      const alerts = (endsAt: string) => [
        { labels: { alertname: 'PostgresDown', service: 'db', severity: 'critical', instance: 'pg-1:9187', job: 'postgres' }, annotations: { summary: 'PostgreSQL pg-1 is down', description: 'pg_up == 0 for 1m' }, startsAt, endsAt, generatorURL: 'http://prometheus.example.com/graph?g0.expr=pg_up+%3D%3D+0' },
        { labels: { alertname: 'PostgresDown', service: 'db', severity: 'critical', instance: 'pg-2:9187', job: 'postgres' }, annotations: { summary: 'PostgreSQL pg-2 is down' }, startsAt, endsAt },
      ];
      const firingEnd = new Date(Date.now() + 3_600_000).toISOString();
      assert.equal((await postAlerts(am.url, alerts(firingEnd))).status, 200);
      assert.equal((await postAlerts(vigil.url, alerts(firingEnd))).status, 200);
      const paths = ['/webhook', '/slack', '/slack-custom', '/pagerduty'];
      assert.ok(await waitFor(() => paths.every((p) => capAm.received.some((c) => c.path === p) && capV.received.some((c) => c.path === p)), 10_000), 'both notified every integration');
      const resolvedAt = new Date().toISOString();
      await postAlerts(am.url, alerts(resolvedAt));
      await postAlerts(vigil.url, alerts(resolvedAt));
      // Resolved: webhook, the send_resolved Slack and PagerDuty (not the other Slack).
      const want = (caps: Captured[]) => ['/webhook', '/slack', '/pagerduty'].every((p) => caps.filter((c) => c.path === p).length === 2);
      assert.ok(await waitFor(() => want(capAm.received) && want(capV.received), 10_000), 'both sent the resolved notifications');
      await sleep(500);
      const a = byPath(capAm.received);
      const v = byPath(capV.received);
      assert.deepEqual([...v.keys()].sort(), [...a.keys()].sort());
      for (const [path, list] of a) assert.deepEqual(v.get(path), list, `payloads on ${path} differ`);
      // The documented shapes, beyond equality.
      const pd = a.get('/pagerduty')! as Array<Record<string, any>>;
      assert.equal(pd[0]!.event_action, 'trigger');
      assert.equal(pd[1]!.event_action, 'resolve');
      assert.equal(pd[0]!.routing_key, 'R0UT1NGK3Y');
      assert.equal(pd[0]!.dedup_key, groupKeyHash('{}:{alertname="PostgresDown", service="db"}'));
      assert.equal(pd[0]!.payload.severity, 'critical');
      const slack = a.get('/slack')! as Array<Record<string, any>>;
      assert.equal(slack[0]!.channel, '#ops');
      assert.equal(slack[0]!.attachments[0].color, 'danger');
      assert.equal(slack[1]!.attachments[0].color, 'good');
      const hook = a.get('/webhook')! as Array<Record<string, any>>;
      assert.equal(hook[0]!.version, '4');
      assert.equal(hook[0]!.alerts.length, 2);
      assert.equal(hook[1]!.status, 'resolved');
    } finally {
      await vigil.stop();
      await am.stop();
      await capAm.close();
      await capV.close();
    }
  });
});

const env = (): IntegrationEnv => ({ templates: parseAlertmanagerConfig('route: {receiver: a}\nreceivers: [{name: a}]', '/x.yml').notificationTemplates, externalUrl: EXTERNAL });
const ctx = (signalMs = 10_000): NotifyContext => ({
  now: Date.now(), groupKey: '{}:{alertname="DiskFull"}', groupLabels: Labels.fromRecord({ alertname: 'DiskFull' }), receiver: 'mail', repeatInterval: 1, muteTimeIntervals: [], activeTimeIntervals: [],
  signal: AbortSignal.timeout(signalMs), firing: ['x'],
});
const disk = () => [makeAlert({ labels: Labels.fromRecord({ alertname: 'DiskFull', instance: 'db-1', severity: 'warning' }), annotations: Labels.fromRecord({ summary: 'Disk 91% full' }), startsAt: Date.now() - 1000, endsAt: 0, generatorURL: '' })];

interface Mail {
  from: string;
  to: string[];
  raw: string;
  secure: boolean;
  user?: string;
}

async function smtpSink(opts: { starttls: boolean; password?: string }): Promise<{ port: number; mails: Mail[]; close(): Promise<void> }> {
  const mails: Mail[] = [];
  const server = new SMTPServer({
    authOptional: !opts.password,
    disabledCommands: opts.starttls ? [] : ['STARTTLS'],
    allowInsecureAuth: false,
    logger: false,
    onAuth(auth, _session, cb) {
      if (auth.username === 'vigil' && auth.password === opts.password) cb(null, { user: 'vigil' });
      else cb(new Error('Invalid username or password'));
    },
    onData(stream, session, cb) {
      let raw = '';
      stream.on('data', (d: Buffer) => (raw += d.toString('utf8')));
      stream.on('end', () => {
        mails.push({ from: String(session.envelope.mailFrom && session.envelope.mailFrom.address), to: session.envelope.rcptTo.map((r) => r.address), raw, secure: session.secure, user: session.user as string | undefined });
        cb();
      });
    },
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const port = (server.server.address() as { port: number }).port;
  return { port, mails, close: () => new Promise<void>((r) => server.close(() => r())) };
}

describe('email', () => {
  test('STARTTLS, AUTH, headers and bodies from templates', async () => {
    const sink = await smtpSink({ starttls: true, password: 's3cret' });
    try {
      const cfg = parseAlertmanagerConfig(`route: {receiver: mail}
receivers:
- name: mail
  email_configs:
  - to: oncall@example.com
    from: vigil@example.com
    smarthost: 127.0.0.1:${sink.port}
    hello: vigil.example.com
    auth_username: vigil
    auth_password: s3cret
    tls_config: {insecure_skip_verify: true}
    headers: {X-Runbook: 'https://runbooks.example.com/{{ .GroupLabels.alertname }}'}
    text: '{{ range .Alerts }}{{ .Annotations.summary }}{{ end }}'
`, '/x.yml');
      const email = new EmailIntegration(cfg.receivers[0]!.emailConfigs[0]!, 'mail', 0, env());
      await email.notify(ctx(), disk());
      assert.equal(sink.mails.length, 1);
      const m = sink.mails[0]!;
      assert.equal(m.secure, true, 'upgraded with STARTTLS');
      assert.equal(m.user, 'vigil');
      assert.equal(m.from, 'vigil@example.com');
      assert.deepEqual(m.to, ['oncall@example.com']);
      assert.match(m.raw, /^Subject: \[FIRING:1\] DiskFull \(db-1 warning\)\r?$/m);
      assert.match(m.raw, /^X-Runbook: https:\/\/runbooks\.example\.com\/DiskFull\r?$/m);
      assert.match(m.raw, /Disk 91% full/);
      assert.match(m.raw, /Content-Type: text\/html/);
    } finally {
      await sink.close();
    }
  });

  test('require_tls fails against a server without STARTTLS; wrong credentials fail', async () => {
    const plain = await smtpSink({ starttls: false });
    const authed = await smtpSink({ starttls: true, password: 'right' });
    try {
      const cfg = (port: number, extra: string) => parseAlertmanagerConfig(`route: {receiver: mail}
receivers:
- name: mail
  email_configs:
  - {to: a@example.com, from: v@example.com, smarthost: '127.0.0.1:${port}', tls_config: {insecure_skip_verify: true}${extra}}
`, '/x.yml').receivers[0]!.emailConfigs[0]!;
      await assert.rejects(new EmailIntegration(cfg(plain.port, ''), 'mail', 0, env()).notify(ctx(), disk()), /STARTTLS|TLS/i);
      await new EmailIntegration(cfg(plain.port, ', require_tls: false'), 'mail', 0, env()).notify(ctx(), disk());
      assert.equal(plain.mails.length, 1);
      assert.equal(plain.mails[0]!.secure, false);
      await assert.rejects(new EmailIntegration(cfg(authed.port, ', auth_username: vigil, auth_password: wrong'), 'mail', 0, env()).notify(ctx(), disk()), (e: unknown) => {
        assert.match(String(e), /Invalid username or password|authentication/i);
        return true;
      });
    } finally {
      await plain.close();
      await authed.close();
    }
  });
});

describe('HTTP client (http_config)', () => {
  test('basic auth and bearer headers; an HTTP proxy; redirects followed or not', async () => {
    const cap = await startCapture();
    try {
      const hook = (yaml: string) => new WebhookIntegration(parseAlertmanagerConfig(`route: {receiver: a}\nreceivers:\n- name: a\n  webhook_configs:\n  - ${yaml}\n`, '/x.yml').receivers[0]!.webhookConfigs[0]!, 'a', 0, env());
      await hook(`{url: '${cap.url}/basic', http_config: {basic_auth: {username: vigil, password: pw}}}`).notify(ctx(), disk());
      await hook(`{url: '${cap.url}/bearer', http_config: {authorization: {credentials: t0ken}}}`).notify(ctx(), disk());
      await hook(`{url: 'http://hooks.example.invalid/via-proxy', http_config: {proxy_url: '${cap.url}'}}`).notify(ctx(), disk());
      assert.equal(cap.received[0]!.headers.authorization, 'Basic ' + Buffer.from('vigil:pw').toString('base64'));
      assert.equal(cap.received[1]!.headers.authorization, 'Bearer t0ken');
      assert.equal(cap.received[2]!.path, 'http://hooks.example.invalid/via-proxy');
      assert.equal(cap.received[2]!.headers.host, 'hooks.example.invalid');
      cap.respond = (c) => (c.path === '/old' ? 307 : 200);
      // 307 without Location is a failure: an unexpected status, not retried.
      await assert.rejects(hook(`{url: '${cap.url}/old'}`).notify(ctx(), disk()), /unexpected status code 307/);
      cap.respond = 500;
      await assert.rejects(hook(`{url: '${cap.url}/fail'}`).notify(ctx(), disk()), (e: unknown) => (e as { retry?: boolean }).retry === true && /unexpected status code 500: failure injected by the test/.test(String(e)));
      cap.respond = 404;
      await assert.rejects(hook(`{url: '${cap.url}/missing'}`).notify(ctx(), disk()), (e: unknown) => (e as { retry?: boolean }).retry === false);
      await assert.rejects(hook(`{url: 'http://127.0.0.1:1/x?token=abc'}`).notify(ctx(), disk()), (e: unknown) => /Post "http:\/\/127\.0\.0\.1:1\/<redacted>": .*ECONNREFUSED/.test(String(e)) && !String(e).includes('token'));
    } finally {
      await cap.close();
    }
  });

  test('PagerDuty Events API v1 when only service_key is set', () => {
    const cfg = parseAlertmanagerConfig(`route: {receiver: a}\nreceivers:\n- name: a\n  pagerduty_configs: [{service_key: S3RV1CE}]\n`, '/x.yml').receivers[0]!.pagerdutyConfigs[0]!;
    assert.equal(cfg.url, 'https://events.pagerduty.com/generic/2010-04-15/create_event.json');
    const p = new PagerdutyIntegration(cfg, 'a', 0, env()).payload({ ...ctx(), receiver: 'a' }, disk());
    assert.deepEqual(Object.keys(p), ['service_key', 'incident_key', 'event_type', 'description', 'client', 'client_url', 'details']);
    assert.equal(p.event_type, 'trigger');
    assert.equal(p.incident_key, groupKeyHash('{}:{alertname="DiskFull"}'));
    void pino;
  });
});
