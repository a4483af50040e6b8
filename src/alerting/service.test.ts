/**
 * Alert handling end to end through the service (and the HTTP API where it matters): receiver
 * failures, reloads, time intervals, the in-process AlertSink, the expire-when-resolved
 * silence, history, and two instances sharing a PostgreSQL store with one leader.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Labels } from '../model/index.ts';
import { openTestPGlite, openTestPostgres, postgresAvailable, testSchemaName, dropSchema } from '../state/testing.ts';
import { postAlerts, sleep, startAlertingServer, startCapture, waitFor } from './testing.ts';

const firing = (labels: Record<string, string>, extra: Record<string, unknown> = {}) => ({ labels, annotations: { summary: `${labels.alertname} fires` }, startsAt: new Date().toISOString(), endsAt: new Date(Date.now() + 3_600_000).toISOString(), ...extra });

async function metric(url: string, name: string, labels: string): Promise<number> {
  const text = await (await fetch(`${url}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith(`${name}{`) && l.includes(labels));
  return line ? Number(line.split(' ').pop()) : NaN;
}

describe('alerting service', { concurrency: 1 }, () => {
  test('a receiver answering 500, then recovering: retried with backoff, counted, delivered; the other receiver is not held up', async () => {
    const failing = await startCapture();
    const healthy = await startCapture();
    let calls = 0;
    failing.respond = () => (++calls <= 2 ? 500 : 200);
    const srv = await startAlertingServer({
      alerting: `route:
  receiver: ops
  group_by: [alertname]
  group_wait: 100ms
  group_interval: 30s
  routes:
  - receiver: flaky
    continue: true
  - receiver: ops
receivers:
- name: flaky
  webhook_configs: [{url: '${failing.url}/flaky'}]
- name: ops
  webhook_configs: [{url: '${healthy.url}/ops'}]
`,
    });
    try {
      assert.equal((await postAlerts(srv.url, [firing({ alertname: 'ApiDown', severity: 'critical' })])).status, 200);
      assert.ok(await waitFor(() => healthy.received.length === 1), 'the healthy receiver got its notification');
      assert.ok(await waitFor(() => failing.received.length === 3, 15_000), `the failing receiver was retried until it answered 200 (${failing.received.length} requests)`);
      // The healthy receiver did not wait for the retries.
      assert.ok(healthy.received[0]!.t < failing.received[2]!.t);
      assert.deepEqual(failing.received.map((r) => r.json.groupKey), Array(3).fill('{}/{}:{alertname="ApiDown"}'));
      assert.equal(await metric(srv.url, 'vigil_notification_requests_failed_total', 'integration="webhook"'), 2);
      assert.equal(await metric(srv.url, 'vigil_notification_requests_total', 'integration="webhook"'), 4);
      assert.equal(await metric(srv.url, 'vigil_notifications_total', 'integration="webhook"'), 2);
      assert.equal(await metric(srv.url, 'vigil_notifications_failed_total', 'integration="webhook"'), 0);
    } finally {
      await srv.stop();
      await failing.close();
      await healthy.close();
    }
  });

  test('a receiver that is down or too slow fails after the deadline; the failure is counted and shown in health, others deliver', async () => {
    const slow = await startCapture();
    slow.delayMs = 60_000;
    const healthy = await startCapture();
    const srv = await startAlertingServer({
      alerting: `route:
  receiver: ops
  group_wait: 100ms
  group_interval: 1s
  routes:
  - {receiver: down, continue: true}
  - {receiver: slow, continue: true}
  - {receiver: ops}
receivers:
- name: down
  webhook_configs: [{url: 'http://127.0.0.1:1/hook'}]
- name: slow
  webhook_configs: [{url: '${slow.url}/slow'}]
- name: ops
  webhook_configs: [{url: '${healthy.url}/ops'}]
`,
    });
    try {
      await postAlerts(srv.url, [firing({ alertname: 'QueueBacklog' })]);
      assert.ok(await waitFor(() => healthy.received.length >= 1));
      // The flush deadline is max(group_interval, 10 s): both failing integrations give up then.
      assert.ok(await waitFor(async () => (await metric(srv.url, 'vigil_notifications_failed_total', 'integration="webhook"')) >= 2, 20_000), 'both failures counted');
      const health = await (await fetch(`${srv.url}/health/detailed`)).json() as { checks: Record<string, Array<{ status: string; output?: string }>> };
      const r = health.checks['alerting:receivers']![0]!;
      assert.equal(r.status, 'warn');
      assert.match(r.output ?? '', /down\/webhook\[0\]: .*notify retry canceled after \d+ attempts: Post "http:\/\/127\.0\.0\.1:1\/<redacted>"/);
      assert.match(r.output ?? '', /slow\/webhook\[0\]: .*notify retry canceled/);
      assert.ok(healthy.received.length >= 1);
    } finally {
      await srv.stop();
      await slow.close();
      await healthy.close();
    }
  });

  test('a reload that changes one route keeps the other groups and their timers; the changed route starts over', async () => {
    const cap = await startCapture();
    const cfg = (slackPath: string) => `route:
  receiver: web.hook
  group_by: [alertname]
  group_wait: 200ms
  group_interval: 1h
  routes:
  - match: {severity: critical}
    receiver: pager
  - match: {severity: warning}
    receiver: slack
receivers:
- name: web.hook
  webhook_configs: [{url: '${cap.url}/web'}]
- name: pager
  webhook_configs: [{url: '${cap.url}/pager'}]
- name: slack
  webhook_configs: [{url: '${cap.url}${slackPath}'}]
`;
    const srv = await startAlertingServer({ alerting: cfg('/slack') });
    try {
      await postAlerts(srv.url, [firing({ alertname: 'Down', severity: 'critical' }), firing({ alertname: 'Slow', severity: 'warning' })]);
      assert.ok(await waitFor(() => cap.received.length === 2));
      const before = new Map(srv.service['dispatcher'].allGroups().map((g) => [g.groupKey, g]));
      const pagerBefore = [...before.values()].find((g) => g.route.opts.receiver === 'pager')!;
      const nextFlush = pagerBefore.nextFlushAt;
      // Change only the warning route (its matcher), keep the critical one as it was.
      srv.reload(cfg('/slack').replace('match: {severity: warning}', 'match: {severity: warning, team: ops}').replace("severity: warning}\n", 'severity: warning}\n'));
      const after = srv.service['dispatcher'].allGroups();
      const pagerAfter = after.find((g) => g.route.opts.receiver === 'pager')!;
      assert.equal(pagerAfter, pagerBefore, 'the unchanged route keeps its aggregation group');
      assert.equal(pagerAfter.nextFlushAt, nextFlush, 'and its timer');
      assert.ok(!after.some((g) => g.route.opts.receiver === 'slack'), 'the changed route lost its group');
      // The warning alert now falls through to the root route: a new group, notified after group_wait.
      assert.ok(await waitFor(() => cap.received.some((c) => c.path === '/web')), 'the re-dispatched alert is notified by its new route');
      await sleep(300);
      assert.equal(cap.received.filter((c) => c.path === '/pager').length, 1, 'no repeat from the kept group');
    } finally {
      await srv.stop();
      await cap.close();
    }
  });

  test('mute_time_intervals (a maintenance window covering now) and active_time_intervals (not now) hold notifications back', async () => {
    const cap = await startCapture();
    const day = new Date().getUTCDay();
    const otherDay = ['sunday', 'monday', 'tuesday', 'wednesday', 'thursday', 'friday', 'saturday'][(day + 3) % 7];
    const srv = await startAlertingServer({
      alerting: `route:
  receiver: ops
  group_by: [alertname]
  group_wait: 100ms
  group_interval: 300ms
  routes:
  - match: {team: db}
    receiver: ops
    mute_time_intervals: [maintenance]
  - match: {team: web}
    receiver: ops
    active_time_intervals: [${otherDay}s]
  - match: {team: api}
    receiver: ops
    mute_time_intervals: [${otherDay}s]
time_intervals:
- name: maintenance
  time_intervals: [{times: [{start_time: '00:00', end_time: '24:00'}]}]
- name: ${otherDay}s
  time_intervals: [{weekdays: ['${otherDay}']}]
receivers:
- name: ops
  webhook_configs: [{url: '${cap.url}/ops'}]
`,
    });
    try {
      await postAlerts(srv.url, [firing({ alertname: 'Db', team: 'db' }), firing({ alertname: 'Web', team: 'web' }), firing({ alertname: 'Api', team: 'api' })]);
      assert.ok(await waitFor(() => cap.received.length >= 1));
      await sleep(800);
      assert.deepEqual([...new Set(cap.received.map((c) => c.json.groupLabels.alertname))], ['Api']);
      // Muted alerts are still held and shown.
      const alerts = (await (await fetch(`${srv.url}/api/v2/alerts`)).json()) as unknown[];
      assert.equal(alerts.length, 3);
    } finally {
      await srv.stop();
      await cap.close();
    }
  });

  test('in-process delivery from rules (AlertSink); invalid alerts are dropped, valid ones notified', async () => {
    const cap = await startCapture();
    const srv = await startAlertingServer({ alerting: `route:\n  receiver: ops\n  group_wait: 100ms\nreceivers:\n- name: ops\n  webhook_configs: [{url: '${cap.url}/ops'}]\n` });
    try {
      const now = Date.now();
      srv.service.send([
        { labels: Labels.fromRecord({ alertname: 'HighErrorRate', job: 'api', severity: 'critical' }), annotations: Labels.fromRecord({ summary: '5xx above 5%' }), startsAt: now, endsAt: now + 180_000, generatorURL: 'http://vigil/graph' },
        { labels: Labels.EMPTY, annotations: Labels.EMPTY, startsAt: now, endsAt: 0, generatorURL: '' },
      ]);
      assert.ok(await waitFor(() => cap.received.length === 1));
      assert.equal(cap.received[0]!.json.alerts[0].labels.alertname, 'HighErrorRate');
      assert.equal(cap.received[0]!.json.alerts[0].generatorURL, 'http://vigil/graph');
      const text = await (await fetch(`${srv.url}/metrics`)).text();
      assert.match(text, /^vigil_alerts_invalid_total 1$/m);
    } finally {
      await srv.stop();
      await cap.close();
    }
  });

  test('a silence with expireWhenResolved mutes until its alerts resolve, then expires by itself; history records it all', async () => {
    const cap = await startCapture();
    const h = await openTestPGlite();
    const srv = await startAlertingServer({
      store: h.store,
      intervals: { sweep: 100 },
      alerting: `route:\n  receiver: ops\n  group_by: [alertname]\n  group_wait: 100ms\n  group_interval: 300ms\nreceivers:\n- name: ops\n  webhook_configs: [{url: '${cap.url}/ops'}]\n`,
    });
    try {
      const r = await fetch(`${srv.url}/api/v2/silences`, {
        method: 'POST', headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ matchers: [{ name: 'alertname', value: 'Deploy', isRegex: false }], startsAt: new Date().toISOString(), endsAt: new Date(Date.now() + 86_400_000).toISOString(), createdBy: 'ci', comment: 'release 1.2', expireWhenResolved: true }),
      });
      assert.equal(r.status, 200);
      const { silenceID } = (await r.json()) as { silenceID: string };
      await postAlerts(srv.url, [firing({ alertname: 'Deploy', instance: 'web-1' }), firing({ alertname: 'Other' })]);
      assert.ok(await waitFor(() => cap.received.length >= 1));
      await sleep(400);
      assert.deepEqual(cap.received.map((c) => c.json.groupLabels.alertname), ['Other'], 'the silenced alert is not sent');
      const silenced = (await (await fetch(`${srv.url}/api/v2/alerts?filter=alertname%3DDeploy`)).json()) as Array<{ status: { state: string; silencedBy: string[] } }>;
      assert.deepEqual(silenced[0]!.status, { inhibitedBy: [], silencedBy: [silenceID], state: 'suppressed' });
      // The alert resolves: the silence ends by itself.
      await postAlerts(srv.url, [firing({ alertname: 'Deploy', instance: 'web-1' }, { endsAt: new Date().toISOString() })]);
      assert.ok(await waitFor(async () => ((await (await fetch(`${srv.url}/api/v2/silence/${silenceID}`)).json()) as { status: { state: string } }).status.state === 'expired'));
      const sil = (await (await fetch(`${srv.url}/api/v2/silence/${silenceID}`)).json()) as { expireWhenResolved: boolean };
      assert.equal(sil.expireWhenResolved, true);
      // History: both episodes; Other with its notification, Deploy resolved without any.
      const hist = (await (await fetch(`${srv.url}/api/v1/alerts/history`)).json()) as { status: string; data: Array<{ labels: Record<string, string>; state: string; notifications: Array<{ receiver: string; success: boolean }> }> };
      assert.equal(hist.status, 'success');
      const byName = new Map(hist.data.map((e) => [e.labels.alertname, e]));
      assert.equal(byName.get('Deploy')?.state, 'resolved');
      assert.deepEqual(byName.get('Deploy')?.notifications, []);
      assert.equal(byName.get('Other')?.state, 'firing');
      assert.deepEqual(byName.get('Other')?.notifications.map((n) => [n.receiver, n.success]), [['ops', true]]);
      const filtered = (await (await fetch(`${srv.url}/api/v1/alerts/history?filter=alertname%3D~%22D.*%22&state=resolved`)).json()) as { data: unknown[] };
      assert.equal(filtered.data.length, 1);
      const bad = await fetch(`${srv.url}/api/v1/alerts/history?state=maybe`);
      assert.equal(bad.status, 400);
      assert.deepEqual(await bad.json(), { status: 'error', errorType: 'bad_data', error: 'invalid state "maybe": use firing or resolved' });
    } finally {
      await srv.stop();
      await h.cleanup();
      await cap.close();
    }
  });

  test('two instances on one PostgreSQL store: only the leader notifies; the follower takes over without repeating', async (t) => {
    const reason = await postgresAvailable();
    if (reason) return t.skip(reason);
    const schema = testSchemaName();
    const a = await openTestPostgres(schema, 100);
    const b = await openTestPostgres(schema, 100);
    const cap = await startCapture();
    const cfg = `route:\n  receiver: ops\n  group_by: [alertname]\n  group_wait: 100ms\n  group_interval: 300ms\n  repeat_interval: 1h\nreceivers:\n- name: ops\n  webhook_configs: [{url: '${cap.url}/ops'}]\n`;
    const sa = await startAlertingServer({ store: a.store, alerting: cfg, intervals: { sweep: 100 } });
    const sb = await startAlertingServer({ store: b.store, alerting: cfg, intervals: { sweep: 100 } });
    try {
      assert.equal(a.store.leader.isLeader(), true);
      assert.equal(b.store.leader.isLeader(), false);
      // Prometheus sends to every instance.
      for (const s of [sa, sb]) await postAlerts(s.url, [firing({ alertname: 'DbDown' })]);
      assert.ok(await waitFor(() => cap.received.length === 1));
      await sleep(500);
      assert.equal(cap.received.length, 1, 'only the leader sent');
      // A silence made on the follower reaches the leader.
      const r = await fetch(`${sb.url}/api/v2/silences`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ matchers: [{ name: 'alertname', value: 'Muted', isRegex: false }], startsAt: new Date().toISOString(), endsAt: new Date(Date.now() + 3_600_000).toISOString(), createdBy: 'x', comment: 'y' }) });
      const { silenceID } = (await r.json()) as { silenceID: string };
      assert.ok(await waitFor(async () => (await fetch(`${sa.url}/api/v2/silence/${silenceID}`)).status === 200));
      // The leader goes away; the follower takes over with the notification log and does not repeat.
      await sa.stop();
      await a.store.close();
      assert.ok(await waitFor(() => b.store.leader.isLeader()));
      await postAlerts(sb.url, [firing({ alertname: 'DbDown' }), firing({ alertname: 'CacheDown' })]);
      assert.ok(await waitFor(() => cap.received.length === 2));
      await sleep(700);
      assert.deepEqual(cap.received.map((c) => c.json.groupLabels.alertname), ['DbDown', 'CacheDown']);
    } finally {
      await sa.stop();
      await sb.stop();
      await a.store.close();
      await b.store.close();
      await dropSchema(schema);
      await cap.close();
    }
  });
});
