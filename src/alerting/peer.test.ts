/**
 * Side by side with Debian's Alertmanager 0.25: the same configuration and the same timed
 * sequence of alerts and silences go to both; capture servers record what each sends. The
 * test compares which groups are notified, the alerts (and their status) in each
 * notification, how many notifications, and when (within a second). Short timers keep it fast.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { haveAlertmanager, postAlerts, sleep, startAlertingServer, startAlertmanager, startCapture, type Captured, type CaptureServer } from './testing.ts';

type Step =
  | { at: number; post: Array<{ labels: Record<string, string>; annotations?: Record<string, string>; resolve?: boolean; noEnd?: boolean }> }
  | { at: number; silence: { matchers: Array<{ name: string; value: string; isRegex?: boolean; isEqual?: boolean }>; id: string } }
  | { at: number; expire: string };

interface Note {
  /** Seconds after the scenario start. */
  t: number;
  path: string;
  groupKey: string;
  status: string;
  alerts: string[];
  receiver: string;
  groupLabels: string;
  commonLabels: string;
  truncated: number;
}

function normalize(c: Captured, t0: number): Note {
  const j = c.json;
  return {
    t: (c.t - t0) / 1000,
    path: c.path,
    groupKey: j.groupKey,
    status: j.status,
    alerts: j.alerts.map((a: { labels: Record<string, string>; status: string; endsAt: string }) => `${JSON.stringify(a.labels)} ${a.status}${a.status === 'firing' ? ` endsAt=${a.endsAt}` : ''}`),
    receiver: j.receiver,
    groupLabels: JSON.stringify(j.groupLabels),
    commonLabels: JSON.stringify(j.commonLabels),
    truncated: j.truncatedAlerts,
  };
}

/** Runs the steps against one system (base URL); returns the captures relative to t0. */
async function drive(base: string, steps: Step[], t0: number, until: number, silenceIds: Map<string, string>): Promise<void> {
  for (const s of steps) {
    const wait = t0 + s.at * 1000 - Date.now();
    if (wait > 0) await sleep(wait);
    if ('post' in s) {
      const now = Date.now();
      const body = s.post.map((a) => ({
        labels: a.labels,
        annotations: a.annotations ?? {},
        startsAt: new Date(t0).toISOString(),
        ...(a.noEnd ? {} : { endsAt: new Date(a.resolve ? now : now + 3_600_000).toISOString() }),
      }));
      const r = await postAlerts(base, body);
      assert.equal(r.status, 200, r.body);
    } else if ('silence' in s) {
      const r = await fetch(`${base}/api/v2/silences`, {
        method: 'POST', headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ matchers: s.silence.matchers.map((m) => ({ isRegex: false, isEqual: true, ...m })), startsAt: new Date().toISOString(), endsAt: new Date(Date.now() + 3_600_000).toISOString(), createdBy: 'peer-test', comment: 'side by side' }),
      });
      assert.equal(r.status, 200);
      silenceIds.set(s.silence.id, ((await r.json()) as { silenceID: string }).silenceID);
    } else {
      const r = await fetch(`${base}/api/v2/silence/${silenceIds.get(s.expire)}`, { method: 'DELETE' });
      assert.equal(r.status, 200);
    }
  }
  const rest = t0 + until * 1000 - Date.now();
  if (rest > 0) await sleep(rest);
}

/** Runs a scenario on both systems at once and compares the notifications. */
async function sideBySide(configTemplate: (hookBase: string) => string, steps: Step[], untilSeconds: number): Promise<{ vigil: Note[]; am: Note[] }> {
  const capAm = await startCapture();
  const capVigil = await startCapture();
  const am = await startAlertmanager(configTemplate(capAm.url));
  const vigil = await startAlertingServer({ alerting: configTemplate(capVigil.url) });
  try {
    const t0 = Date.now();
    await Promise.all([drive(am.url, steps, t0, untilSeconds, new Map()), drive(vigil.url, steps, t0, untilSeconds, new Map())]);
    const n = (cap: CaptureServer) => cap.received.map((c) => normalize(c, t0)).sort((a, b) => a.path.localeCompare(b.path) || a.groupKey.localeCompare(b.groupKey) || a.t - b.t);
    return { vigil: n(capVigil), am: n(capAm) };
  } finally {
    await vigil.stop();
    await am.stop();
    await capAm.close();
    await capVigil.close();
  }
}

function compare(r: { vigil: Note[]; am: Note[] }): void {
  const strip = (x: Note[]) => x.map(({ t: _t, ...rest }) => rest);
  assert.deepEqual(strip(r.vigil), strip(r.am), `notifications differ:\nvigil: ${JSON.stringify(r.vigil, null, 1)}\nam: ${JSON.stringify(r.am, null, 1)}`);
  r.vigil.forEach((v, i) => {
    const a = r.am[i]!;
    assert.ok(Math.abs(v.t - a.t) <= 1, `notification ${i} (${v.path} ${v.groupKey}) at ${v.t.toFixed(2)} s in Vigil, ${a.t.toFixed(2)} s in Alertmanager`);
  });
}

const RUNBOOK = (base: string) => `route:
  group_by: ['alertname', 'cluster', 'service']
  group_wait: 1s
  group_interval: 3s
  repeat_interval: 20s
  receiver: 'web.hook'
  routes:
  - match:
      severity: critical
    receiver: 'pager-duty'
    repeat_interval: 7s
  - match:
      severity: warning
    receiver: 'slack'
inhibit_rules:
- source_matchers: ['severity="critical"']
  target_matchers: ['severity="warning"']
  equal: ['alertname', 'service']
receivers:
- name: 'web.hook'
  webhook_configs: [{url: '${base}/web.hook'}]
- name: 'pager-duty'
  webhook_configs: [{url: '${base}/pager-duty'}]
- name: 'slack'
  webhook_configs: [{url: '${base}/slack', send_resolved: false}]
`;

describe('side by side with Alertmanager 0.25', { concurrency: 1 }, () => {
  test('the runbook routing: groups, receivers, updates after group_interval, resolved, repeat_interval', async (t) => {
    const skip = haveAlertmanager();
    if (skip) return t.skip(skip);
    const r = await sideBySide(RUNBOOK, [
      { at: 0, post: [
        { labels: { alertname: 'HighErrorRate', service: 'api', severity: 'critical', instance: 'a:1' } },
        { labels: { alertname: 'HighErrorRate', service: 'api', severity: 'critical', instance: 'a:2' } },
        { labels: { alertname: 'HighCPU', service: 'web', severity: 'warning', instance: 'w:1' } },
        { labels: { alertname: 'BackupDone', service: 'db', instance: 'd:1' } },
      ] },
      { at: 1.6, post: [{ labels: { alertname: 'HighErrorRate', service: 'db', severity: 'critical', instance: 'd:1' } }] },
      { at: 2.2, post: [{ labels: { alertname: 'HighCPU', service: 'web', severity: 'warning', instance: 'w:2' } }] },
      { at: 4.5, post: [
        { labels: { alertname: 'HighErrorRate', service: 'api', severity: 'critical', instance: 'a:2' }, resolve: true },
        { labels: { alertname: 'HighCPU', service: 'web', severity: 'warning', instance: 'w:1' }, resolve: true },
      ] },
    ], 13);
    assert.ok(r.am.length >= 7, `Alertmanager sent ${r.am.length} notifications`);
    compare(r);
  });

  test('inhibition: a critical alert mutes the warning with equal labels, not the others', async (t) => {
    const skip = haveAlertmanager();
    if (skip) return t.skip(skip);
    const r = await sideBySide(RUNBOOK, [
      { at: 0, post: [
        { labels: { alertname: 'Latency', service: 'api', severity: 'critical', instance: 'a:1' } },
        { labels: { alertname: 'Latency', service: 'api', severity: 'warning', instance: 'a:1' } },
        { labels: { alertname: 'Latency', service: 'web', severity: 'warning', instance: 'w:1' } },
      ] },
      // The source resolves: the target is no longer inhibited and goes out at the next flush.
      { at: 2.5, post: [{ labels: { alertname: 'Latency', service: 'api', severity: 'critical', instance: 'a:1' }, resolve: true }] },
    ], 8);
    assert.ok(r.am.some((n) => n.path === '/slack' && n.groupKey.includes('api')), 'the target goes out once the source resolved');
    compare(r);
  });

  test('silences: a silenced group is not sent; expiring the silence sends it at the next flush', async (t) => {
    const skip = haveAlertmanager();
    if (skip) return t.skip(skip);
    const r = await sideBySide(RUNBOOK, [
      { at: 0, silence: { id: 's1', matchers: [{ name: 'service', value: 'db' }] } },
      { at: 0.2, post: [
        { labels: { alertname: 'DiskFull', service: 'db', severity: 'warning', instance: 'd:1' } },
        { labels: { alertname: 'DiskFull', service: 'web', severity: 'warning', instance: 'w:1' } },
      ] },
      { at: 4.5, expire: 's1' },
    ], 9);
    assert.ok(r.am.some((n) => n.groupKey.includes('db')), 'the silenced group is sent after the silence expired');
    compare(r);
  });

  test('repeat: an unchanged group is re-sent after repeat_interval, alerts without endsAt time out', async (t) => {
    const skip = haveAlertmanager();
    if (skip) return t.skip(skip);
    const cfg = (base: string) => `global:
  resolve_timeout: 9s
route:
  receiver: hook
  group_by: [alertname]
  group_wait: 1s
  group_interval: 2s
  repeat_interval: 5s
receivers:
- name: hook
  webhook_configs: [{url: '${base}/hook', max_alerts: 1}]
`;
    const r = await sideBySide(cfg, [
      { at: 0, post: [{ labels: { alertname: 'Repeat', instance: 'r:1' }, noEnd: true }, { labels: { alertname: 'Repeat', instance: 'r:2' }, noEnd: true }] },
    ], 13.5);
    assert.ok(r.am.length >= 3, `Alertmanager sent ${r.am.length}`);
    compare(r);
  });

  test('a group whose alerts arrive over several group_intervals (the benchmark under load): one notification per interval that brought a new alert, re-sends alone bring none', async (t) => {
    const skip = haveAlertmanager();
    if (skip) return t.skip(skip);
    const cfg = (base: string) => `route:
  receiver: hook
  group_by: [alertname, service]
  group_wait: 1s
  group_interval: 2s
  repeat_interval: 1h
receivers:
- name: hook
  webhook_configs: [{url: '${base}/hook'}]
`;
    const a = (service: string, instance: string) => ({ labels: { alertname: 'Load', service, instance } });
    // As the benchmark's load generator does when the server is slow: every post re-sends what was
    // sent before with a later endsAt, and some instances come only after a flush.
    const r = await sideBySide(cfg, [
      { at: 0, post: [a('s0', 'i0'), a('s1', 'i0')] },
      { at: 1.5, post: [a('s0', 'i0'), a('s1', 'i0'), a('s0', 'i1')] },
      { at: 2.4, post: [a('s0', 'i0'), a('s1', 'i0'), a('s0', 'i1')] },
      { at: 3.7, post: [a('s0', 'i0'), a('s1', 'i0'), a('s0', 'i1'), a('s0', 'i2'), a('s1', 'i1')] },
      { at: 5.5, post: [a('s0', 'i0'), a('s1', 'i0'), a('s0', 'i1'), a('s0', 'i2'), a('s1', 'i1')] },
      { at: 7.4, post: [a('s0', 'i0'), a('s1', 'i0'), a('s0', 'i1'), a('s0', 'i2'), a('s1', 'i1')] },
    ], 10);
    const counts = (notes: Note[]) => notes.map((n) => `${n.groupLabels} ${n.alerts.length}`);
    assert.deepEqual(counts(r.am), ['{"alertname":"Load","service":"s0"} 1', '{"alertname":"Load","service":"s0"} 2', '{"alertname":"Load","service":"s0"} 3', '{"alertname":"Load","service":"s1"} 1', '{"alertname":"Load","service":"s1"} 2']);
    compare(r);
  });

  test('nested routes with continue, group_by "...", per-route group_by, send_resolved false, max_alerts, and inhibition on an equal label both sides lack', async (t) => {
    const skip = haveAlertmanager();
    if (skip) return t.skip(skip);
    const cfg = (base: string) => `route:
  receiver: default
  group_by: ['...']
  group_wait: 1s
  group_interval: 2s
  repeat_interval: 1h
  routes:
  - matchers: ['team="db"']
    receiver: db
    continue: true
    group_by: [alertname]
    routes:
    - matchers: ['severity="critical"']
      receiver: db-critical
  - matchers: ['team=~"db|infra"']
    receiver: infra
    group_by: [team]
inhibit_rules:
- source_matchers: ['severity="critical"', 'team="db"']
  target_matchers: ['severity="warning"']
  equal: [cluster]
receivers:
- name: default
  webhook_configs: [{url: '${base}/default'}]
- name: db
  webhook_configs: [{url: '${base}/db', send_resolved: false}]
- name: db-critical
  webhook_configs: [{url: '${base}/dbc', max_alerts: 1}]
- name: infra
  webhook_configs: [{url: '${base}/infra'}]
`;
    const a = (alertname: string, team: string, severity: string, instance: string) => ({ labels: { alertname, team, severity, instance } });
    const r = await sideBySide(cfg, [
      { at: 0, post: [a('X', 'db', 'critical', 'i1'), a('X', 'db', 'warning', 'i2'), a('Y', 'infra', 'warning', 'i3'), a('Z', 'web', 'info', 'i4')] },
      { at: 3.5, post: [a('X', 'db', 'critical', 'i5'), { ...a('Z', 'web', 'info', 'i4'), resolve: true }] },
      { at: 6.5, post: [{ ...a('X', 'db', 'critical', 'i1'), resolve: true }, { ...a('X', 'db', 'critical', 'i5'), resolve: true }] },
    ], 11);
    assert.ok(r.am.some((n) => n.path === '/dbc'), 'the nested route was notified');
    compare(r);
  });

  test('time intervals (a mute interval that always holds, an active interval that never does) and a silence with regex and negative matchers', async (t) => {
    const skip = haveAlertmanager();
    if (skip) return t.skip(skip);
    const cfg = (base: string) => `route:
  receiver: default
  group_by: [alertname, service]
  group_wait: 1s
  group_interval: 2s
  repeat_interval: 1h
  routes:
  - matchers: ['service="muted"']
    receiver: default
    mute_time_intervals: [always]
  - matchers: ['service="inactive"']
    receiver: default
    active_time_intervals: [long-ago]
time_intervals:
- name: always
  time_intervals:
  - times: [{start_time: '00:00', end_time: '24:00'}]
- name: long-ago
  time_intervals:
  - years: ['1999']
receivers:
- name: default
  webhook_configs: [{url: '${base}/default'}]
`;
    const a = (service: string, instance: string, env = 'prod') => ({ labels: { alertname: 'A', service, instance, env } });
    const r = await sideBySide(cfg, [
      { at: 0, silence: { id: 's', matchers: [{ name: 'instance', value: 'db-.*', isRegex: true }, { name: 'env', value: 'prod', isEqual: false }] } },
      { at: 0.3, post: [a('muted', 'i1'), a('inactive', 'i2'), a('api', 'i3'), a('api', 'db-1', 'dev'), a('api', 'db-2', 'prod')] },
      { at: 3.5, expire: 's' },
    ], 7);
    assert.ok(r.am.length >= 2, `Alertmanager sent ${r.am.length}`);
    compare(r);
  });
});
