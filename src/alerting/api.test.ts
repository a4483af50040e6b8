/**
 * The Alertmanager API v2 and the history API over HTTP: shapes, filters, and every kind of
 * bad input answered with 400 (or 404) and a message saying what is wrong, without losing the
 * valid part of a request.
 */
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { openTestPGlite, type TestStore } from '../state/testing.ts';
import { postAlerts, startAlertingServer, startCapture, type AlertingServer, type CaptureServer } from './testing.ts';

let srv: AlertingServer;
let cap: CaptureServer;
let h: TestStore;

const now = () => new Date().toISOString();
const later = (ms = 3_600_000) => new Date(Date.now() + ms).toISOString();
const get = async (path: string) => {
  const r = await fetch(`${srv.url}${path}`);
  return { status: r.status, body: await r.json().catch(() => undefined) as any }; // eslint-disable-line @typescript-eslint/no-explicit-any
};
const post = async (path: string, body: unknown) => {
  const r = await fetch(`${srv.url}${path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: typeof body === 'string' ? body : JSON.stringify(body) });
  const text = await r.text();
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    json = text;
  }
  return { status: r.status, body: json as any }; // eslint-disable-line @typescript-eslint/no-explicit-any
};

describe('API v2 and history', { concurrency: 1 }, () => {
  before(async () => {
    cap = await startCapture();
    h = await openTestPGlite();
    srv = await startAlertingServer({
      store: h.store,
      alerting: `global:
  slack_api_url: https://hooks.slack.com/services/T00/B00/SECRETSECRET
route:
  receiver: web.hook
  group_by: [alertname]
  group_wait: 1h
  routes:
  - match: {severity: critical}
    receiver: pager-duty
  - match: {severity: warning}
    receiver: slack
inhibit_rules:
- source_matchers: [severity="critical"]
  target_matchers: [severity="warning"]
  equal: [service]
receivers:
- name: web.hook
  webhook_configs: [{url: '${cap.url}/hook'}]
- name: pager-duty
  pagerduty_configs: [{routing_key: PDKEYPDKEY}]
- name: slack
  slack_configs: [{channel: '#ops'}]
`,
    });
  });
  after(async () => {
    await srv.stop();
    await h.cleanup();
    await cap.close();
  });

  test('POST /api/v2/alerts: malformed bodies and invalid alerts get 400 with the reason; valid ones in the same request are kept', async () => {
    const notJson = await post('/api/v2/alerts', '{not json');
    assert.equal(notJson.status, 400);
    assert.match(notJson.body, /^parsing request body failed: Expected property name/);
    assert.deepEqual(await post('/api/v2/alerts', { labels: { a: 'b' } }), { status: 400, body: 'alerts in body must be of type array' });
    const r = await post('/api/v2/alerts', [
      { labels: { alertname: 'Valid', service: 'api', severity: 'critical' }, startsAt: now(), endsAt: later() },
      { annotations: { summary: 'no labels' } },
      { labels: { 'bad-name': 'x' } },
      { labels: {} },
      { labels: { a: 'b' }, startsAt: '2024-01-02T00:00:00Z', endsAt: '2024-01-01T00:00:00Z' },
      { labels: { a: 'b' }, startsAt: 'yesterday' },
      { labels: { a: 1 } },
      { labels: { a: 'b' }, annotations: { 'x y': 'z' } },
    ]);
    assert.equal(r.status, 400);
    assert.equal(r.body, [
      '1.labels in body is required', 'invalid label set: invalid name "bad-name"', 'at least one label pair required', 'start time must be before end time',
      'alerts[5].startsAt in body must be of type date-time: "yesterday"', 'invalid label set: labels: value of "a" must be a string', 'invalid annotations: invalid name "x y"',
    ].join('; '));
    const alerts = (await get('/api/v2/alerts')).body as Array<{ labels: Record<string, string> }>;
    assert.deepEqual(alerts.map((a) => a.labels.alertname), ['Valid']);
  });

  test('GET /api/v2/alerts: filters, receivers, silenced/inhibited/active, bad parameters', async () => {
    await postAlerts(srv.url, [
      { labels: { alertname: 'Slow', service: 'api', severity: 'warning' }, startsAt: now(), endsAt: later() },
      { labels: { alertname: 'Slow', service: 'web', severity: 'warning' }, startsAt: now(), endsAt: later() },
      { labels: { alertname: 'Backup', service: 'db' }, startsAt: now(), endsAt: later(), generatorURL: 'http://prom/graph' },
    ]);
    const names = async (q: string) => ((await get(`/api/v2/alerts${q}`)).body as Array<{ labels: Record<string, string> }>).map((a) => `${a.labels.alertname}/${a.labels.service}`).sort();
    assert.deepEqual(await names(''), ['Backup/db', 'Slow/api', 'Slow/web', 'Valid/api']);
    assert.deepEqual(await names('?filter=alertname%3DSlow&filter=service%21%3Dweb'), ['Slow/api']);
    assert.deepEqual(await names('?filter=severity%3D%22%22'), ['Backup/db']);
    assert.deepEqual(await names('?receiver=pager-duty'), ['Valid/api']);
    assert.deepEqual(await names('?receiver=slack|web%5C.hook'), ['Backup/db', 'Slow/api', 'Slow/web']);
    assert.deepEqual(await names('?inhibited=false'), ['Backup/db', 'Slow/web', 'Valid/api']);
    assert.deepEqual(await names('?active=false'), ['Slow/api']);
    const slow = ((await get('/api/v2/alerts?filter=service%3Dapi&filter=alertname%3DSlow')).body as Array<Record<string, any>>)[0]!; // eslint-disable-line @typescript-eslint/no-explicit-any
    assert.equal(slow.status.state, 'suppressed');
    assert.equal(slow.status.inhibitedBy.length, 1);
    assert.deepEqual(slow.receivers, [{ name: 'slack' }]);
    assert.deepEqual(Object.keys(slow).sort(), ['annotations', 'endsAt', 'fingerprint', 'labels', 'receivers', 'startsAt', 'status', 'updatedAt']);
    const backup = ((await get('/api/v2/alerts?filter=alertname%3DBackup')).body as Array<Record<string, unknown>>)[0]!;
    assert.equal(backup.generatorURL, 'http://prom/graph');
    assert.match(String(backup.startsAt), /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
    assert.deepEqual(await get('/api/v2/alerts?filter=foo'), { status: 400, body: 'bad matcher format: foo' });
    assert.deepEqual(await get('/api/v2/alerts?filter=a%3D~%22(%22'), { status: 400, body: 'error parsing regexp: missing closing ): `(`' });
    assert.equal((await get('/api/v2/alerts?receiver=(')).status, 400);
    assert.match((await get('/api/v2/alerts?receiver=(')).body, /^failed to parse receiver param: error parsing regexp/);
    assert.deepEqual(await get('/api/v2/alerts?active=maybe'), { status: 400, body: 'active in query must be of type boolean: "maybe"' });
  });

  test('GET /api/v2/alerts/groups: one entry per group and receiver, sorted, with the filters', async () => {
    const groups = (await get('/api/v2/alerts/groups')).body as Array<{ labels: Record<string, string>; receiver: { name: string }; alerts: unknown[] }>;
    assert.deepEqual(groups.map((g) => [g.labels.alertname, g.receiver.name, g.alerts.length]), [['Backup', 'web.hook', 1], ['Slow', 'slack', 2], ['Valid', 'pager-duty', 1]]);
    const onlyActive = (await get('/api/v2/alerts/groups?inhibited=false&receiver=slack')).body as Array<{ alerts: Array<{ labels: Record<string, string> }> }>;
    assert.deepEqual(onlyActive.map((g) => g.alerts.map((a) => a.labels.service)), [['web']]);
  });

  test('silences: bad input is refused with the reason, unknown ids are 404, updates and expiry work', async () => {
    const base = { matchers: [{ name: 'service', value: 'db', isRegex: false }], startsAt: now(), endsAt: later(), createdBy: 'alice', comment: 'backup window' };
    assert.deepEqual(await post('/api/v2/silences', { ...base, comment: undefined }), { status: 400, body: 'comment in body is required' });
    assert.deepEqual(await post('/api/v2/silences', { ...base, matchers: [] }), { status: 400, body: 'matchers in body should have at least 1 items' });
    assert.deepEqual(await post('/api/v2/silences', { ...base, matchers: [{ name: 'a', value: 'b' }] }), { status: 400, body: 'matchers.0.isRegex in body is required' });
    assert.deepEqual(await post('/api/v2/silences', { ...base, matchers: [{ name: 'a', value: '(', isRegex: true }] }), { status: 400, body: 'silence invalid: invalid label matcher 0: invalid regular expression "(": error parsing regexp: missing closing ): `(`' });
    assert.deepEqual(await post('/api/v2/silences', { ...base, matchers: [{ name: 'a', value: '', isRegex: false }] }), { status: 400, body: 'silence invalid: at least one matcher must not match the empty string' });
    assert.deepEqual(await post('/api/v2/silences', { ...base, endsAt: base.startsAt }), { status: 400, body: 'Failed to create silence: start time must be before end time' });
    assert.deepEqual(await post('/api/v2/silences', { ...base, startsAt: '2020-01-01T00:00:00Z', endsAt: '2020-01-02T00:00:00Z' }), { status: 400, body: "Failed to create silence: end time can't be in the past" });
    assert.deepEqual(await post('/api/v2/silences', { ...base, startsAt: 'soon' }), { status: 400, body: 'startsAt in body must be of type date-time: "soon"' });
    assert.deepEqual(await post('/api/v2/silences', { ...base, id: '5b0f2c1e-0000-4000-8000-000000000009' }), { status: 404, body: 'silence not found' });
    const created = await post('/api/v2/silences', base);
    assert.equal(created.status, 200);
    const id = created.body.silenceID as string;
    const one = await get(`/api/v2/silence/${id}`);
    assert.equal(one.status, 200);
    assert.deepEqual({ ...one.body, updatedAt: 'x', startsAt: 'x', endsAt: 'x' }, {
      id, status: { state: 'active' }, updatedAt: 'x', comment: 'backup window', createdBy: 'alice', endsAt: 'x', startsAt: 'x',
      matchers: [{ isEqual: true, isRegex: false, name: 'service', value: 'db' }], expireWhenResolved: false,
    });
    // Same matchers, new end: updated in place, same id.
    const upd = await post('/api/v2/silences', { ...base, id, startsAt: one.body.startsAt, endsAt: later(7_200_000), comment: 'longer' });
    assert.deepEqual(upd, { status: 200, body: { silenceID: id } });
    // The silenced alert shows it.
    const backup = ((await get('/api/v2/alerts?filter=alertname%3DBackup')).body as Array<{ status: { silencedBy: string[] } }>)[0]!;
    assert.deepEqual(backup.status.silencedBy, [id]);
    assert.deepEqual(((await get('/api/v2/alerts?silenced=false')).body as Array<{ labels: Record<string, string> }>).map((a) => a.labels.alertname).sort(), ['Slow', 'Slow', 'Valid']);
    assert.deepEqual(((await get('/api/v2/silences?filter=service%3Ddb')).body as Array<{ id: string }>).map((s) => s.id), [id]);
    assert.deepEqual((await get('/api/v2/silences?filter=service%3D~db')).body, []);
    assert.deepEqual(await get('/api/v2/silence/not-a-uuid'), { status: 400, body: 'silenceID in path must be of type uuid: "not-a-uuid"' });
    assert.equal((await get('/api/v2/silence/5b0f2c1e-0000-4000-8000-000000000009')).status, 404);
    assert.equal((await fetch(`${srv.url}/api/v2/silence/${id}`, { method: 'DELETE' })).status, 200);
    const expired = await get(`/api/v2/silence/${id}`);
    assert.equal(expired.body.status.state, 'expired');
    // Persisted: the store has the same silence.
    assert.equal((await h.store.silences.get(id))?.comment, 'longer');
  });

  test('status (secrets hidden, cluster disabled) and receivers', async () => {
    const s = (await get('/api/v2/status')).body as { cluster: { status: string; peers: unknown[] }; config: { original: string }; versionInfo: Record<string, string>; uptime: string };
    assert.deepEqual(s.cluster, { peers: [], status: 'disabled' });
    assert.ok(!s.config.original.includes('SECRETSECRET') && !s.config.original.includes('PDKEYPDKEY'));
    assert.match(s.config.original, /slack_api_url: <secret>/);
    assert.match(s.config.original, /routing_key: <secret>/);
    assert.deepEqual(Object.keys(s.versionInfo).sort(), ['branch', 'buildDate', 'buildUser', 'goVersion', 'revision', 'version']);
    assert.ok(!Number.isNaN(Date.parse(s.uptime)));
    assert.deepEqual((await get('/api/v2/receivers')).body, [{ name: 'web.hook' }, { name: 'pager-duty' }, { name: 'slack' }]);
    // Prometheus' status/config shows vigil.yml as loaded: the alerting section's secrets hidden too.
    const yaml = ((await get('/api/v1/status/config')).body as { data: { yaml: string } }).data.yaml;
    assert.ok(!yaml.includes('SECRETSECRET') && !yaml.includes('PDKEYPDKEY'), yaml);
    assert.match(yaml, /slack_api_url: <secret>/);
    assert.match(yaml, /routing_key: <secret>/);
  });

  test('GET /api/v1/alerts/history: episodes with filters; bad parameters in the Prometheus error envelope', async () => {
    const all = (await get('/api/v1/alerts/history')).body as { status: string; data: Array<{ labels: Record<string, string>; state: string; startsAt: string; endsAt: string | null }> };
    assert.equal(all.status, 'success');
    assert.deepEqual(all.data.map((e) => e.labels.alertname).sort(), ['Backup', 'Slow', 'Slow', 'Valid']);
    assert.ok(all.data.every((e) => e.state === 'firing' && e.endsAt === null));
    assert.equal(((await get('/api/v1/alerts/history?filter=service%3D~%22a.*%22&limit=1')).body.data as unknown[]).length, 1);
    assert.deepEqual(((await get(`/api/v1/alerts/history?end=${encodeURIComponent('2000-01-01T00:00:00Z')}`)).body.data as unknown[]), []);
    for (const [q, msg] of [
      ['limit=0', 'invalid limit "0": a positive integer expected'],
      ['start=yesterday', 'cannot parse "yesterday" to a valid timestamp'],
      ['start=2000&end=1000', 'end timestamp must not be before start time'],
      ['filter=nope', 'bad matcher format: nope'],
      ['fingerprint=xyz', 'invalid fingerprint "xyz": 16 hex digits expected'],
    ] as const) {
      assert.deepEqual(await get(`/api/v1/alerts/history?${q}`), { status: 400, body: { status: 'error', errorType: 'bad_data', error: msg } }, q);
    }
  });
});
