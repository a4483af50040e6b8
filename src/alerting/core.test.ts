import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import pino from 'pino';
import { Labels } from '../model/index.ts';
import { makeAlert, mergeAlerts, type Alert } from './alert.ts';
import { parseAlertmanagerConfig } from './config.ts';
import { fingerprintPairs } from './fingerprint.ts';
import { Inhibitor } from './inhibit.ts';
import { Marker } from './marker.ts';
import { compareMatchers, matchersString, parseMatcher, parseMatchers } from './matchers.ts';
import { AlertingMetrics } from './metrics.ts';
import { NotificationLog } from './nflog.ts';
import type { Integration, NotifyContext } from './notify/integration.ts';
import { dedupStage, ExponentialBackoff, retryStage } from './notify/pipeline.ts';
import { HistoryRecorder } from './history.ts';
import type { AlertHistoryRecord, NotificationHistoryRecord, StateStore } from '../state/index.ts';
import { NotifyError } from './errors.ts';
import { Route } from './route.ts';
import { Dispatcher } from './dispatch.ts';
import { routesTest, routingTree } from './routes-cli.ts';
import { Silences, silenceState } from './silences.ts';
import { intervalContains, parseDayOfMonthRange, parseLocation, parseMonthRange, parseTimeRange, parseWeekdayRange, type TimeInterval } from './timeinterval.ts';

const L = (r: Record<string, string>) => Labels.fromRecord(r);
const logger = pino({ level: 'silent' });

/** FNV-1a 64 over UTF-8 with BigInt: the reference the fast version must equal. */
function referenceFingerprint(pairs: readonly string[]): string {
  let h = 0xcbf29ce484222325n;
  const add = (b: number) => {
    h ^= BigInt(b);
    h = (h * 0x100000001b3n) & 0xffffffffffffffffn;
  };
  for (let i = 0; i < pairs.length; i += 2) {
    for (const b of Buffer.from(pairs[i]!, 'utf8')) add(b);
    add(0xff);
    for (const b of Buffer.from(pairs[i + 1]!, 'utf8')) add(b);
    add(0xff);
  }
  return h.toString(16).padStart(16, '0');
}

describe('fingerprints', () => {
  test("equal Alertmanager 0.25's for the same labels", () => {
    // Values read from Alertmanager 0.25's GET /api/v2/alerts for these label sets.
    assert.equal(fingerprintPairs(L({ alertname: 'A', instance: 'i1' }).pairs), '3958271e50266b0c');
    assert.equal(fingerprintPairs(L({ alertname: 'ünï', zz: 'é😀' }).pairs), '1a801157a57a16e0');
    assert.equal(fingerprintPairs(L({ alertname: 'B', service: 'pg1', x: 'a"b\nc' }).pairs), '2a3b3c097522f045');
    assert.equal(fingerprintPairs([]), 'cbf29ce484222325');
  });

  test('equal the BigInt FNV-1a reference for arbitrary label sets', () => {
    fc.assert(
      fc.property(fc.dictionary(fc.string({ minLength: 1, maxLength: 8 }), fc.string({ maxLength: 20, unit: 'binary' }), { maxKeys: 6 }), (rec) => {
        const pairs = L(rec).pairs;
        assert.equal(fingerprintPairs(pairs), referenceFingerprint(pairs));
      }),
      { numRuns: 300 },
    );
  });
});

describe('matchers (Alertmanager syntax)', () => {
  test('parse lists with optional braces, quotes, escapes, trailing commas', () => {
    const s = (ms: ReturnType<typeof parseMatchers>) => ms.map((m) => `${m.name}|${m.type}|${m.value}`);
    assert.deepEqual(s(parseMatchers('{foo = "bar", dings != "bums", }')), ['foo|=|bar', 'dings|!=|bums']);
    assert.deepEqual(s(parseMatchers('foo=bar,dings!=bums')), ['foo|=|bar', 'dings|!=|bums']);
    assert.deepEqual(s(parseMatchers('{quote="She said: \\"Hi, ladies! That\'s gender-neutral…\\""}')), ['quote|=|She said: "Hi, ladies! That\'s gender-neutral…"']);
    assert.deepEqual(s(parseMatchers('statuscode=~"5.."')), ['statuscode|=~|5..']);
    assert.deepEqual(s(parseMatchers('a="x\\\\y\\nz\\q"')), ['a|=|x\\y\nz\\q']);
    assert.deepEqual(s(parseMatchers('a=')), ['a|=|']);
    assert.throws(() => parseMatcher('foo'), /^AlertingError: bad matcher format: foo$|bad matcher format: foo/);
    assert.throws(() => parseMatcher('a="b'), /matcher value contains unescaped double quote: "b/);
    assert.throws(() => parseMatcher('a=b"c'), /matcher value contains unescaped double quote: b"c/);
    assert.throws(() => parseMatcher('a=~"("'), /error parsing regexp: missing closing \)/);
    assert.throws(() => parseMatcher('1a=b'), /bad matcher format/);
  });

  test('regexes are anchored and . does not match a newline', () => {
    const m = parseMatcher('a=~"b.*"');
    assert.equal(m.matches('bcd'), true);
    assert.equal(m.matches('xbcd'), false);
    assert.equal(m.matches('b\nc'), false);
    assert.equal(parseMatcher('a!~"x|y"').matches(''), true);
  });

  test('printed and ordered as Alertmanager prints route keys', () => {
    const ms = [parseMatcher('team=~"db|infra"'), parseMatcher('env!="dev"'), parseMatcher('env="dev"'), parseMatcher('q="a\\"b"')].sort(compareMatchers);
    assert.equal(matchersString(ms), '{env="dev",env!="dev",q="a\\"b",team=~"db|infra"}');
  });
});

const RUNBOOK = parseAlertmanagerConfig(`route:
  group_by: ['alertname', 'cluster', 'service']
  group_wait: 30s
  group_interval: 5m
  repeat_interval: 4h
  receiver: 'web.hook'
  routes:
  - match:
      severity: critical
    receiver: 'pager-duty'
    repeat_interval: 1h
    continue: true
    routes:
    - matchers: ['team=~"db|infra"', 'env!="dev"']
      receiver: dbteam
      group_by: ['...']
  - match:
      severity: warning
    receiver: 'slack'
  - receiver: dbteam
    match_re: {service: 'pg.*'}
    group_wait: 5s
receivers: [{name: web.hook}, {name: pager-duty}, {name: slack}, {name: dbteam}]
`, '/runbook.yml');

describe('routing tree', () => {
  const root = new Route(RUNBOOK.route, undefined);

  test('depth-first, continue lets later siblings match, the deepest match wins over its parent', () => {
    const recv = (r: Record<string, string>) => root.match(L(r)).map((x) => x.opts.receiver);
    assert.deepEqual(recv({ severity: 'critical' }), ['pager-duty']);
    assert.deepEqual(recv({ severity: 'critical', team: 'db' }), ['dbteam']);
    assert.deepEqual(recv({ severity: 'critical', team: 'db', env: 'dev' }), ['pager-duty']);
    assert.deepEqual(recv({ severity: 'critical', service: 'pg1' }), ['pager-duty', 'dbteam']);
    assert.deepEqual(recv({ severity: 'warning', service: 'pg1' }), ['slack']);
    assert.deepEqual(recv({ service: 'xpg1' }), ['web.hook']);
    assert.deepEqual(recv({}), ['web.hook']);
    assert.equal(routesTest(root, L({ severity: 'critical', team: 'db', service: 'pg1' })), 'dbteam,dbteam');
  });

  test('options are inherited; keys carry the matcher path; match_re is anchored in the key', () => {
    const [crit, warn, pg] = root.routes;
    assert.equal(crit!.opts.repeatInterval, 3_600_000);
    assert.equal(crit!.opts.groupWait, 30_000);
    assert.deepEqual(crit!.opts.groupBy, ['alertname', 'cluster', 'service']);
    const db = crit!.routes[0]!;
    assert.equal(db.opts.groupByAll, true);
    assert.equal(db.opts.repeatInterval, 3_600_000);
    assert.equal(warn!.opts.repeatInterval, 4 * 3_600_000);
    assert.equal(pg!.opts.groupWait, 5_000);
    assert.equal(root.key, '{}');
    assert.equal(db.key, '{}/{severity="critical"}/{env!="dev",team=~"db|infra"}');
    assert.equal(pg!.key, '{}/{service=~"^(?:pg.*)$"}');
    assert.deepEqual(db.groupLabels(L({ a: '1', b: '2' })).toRecord(), { a: '1', b: '2' });
    assert.deepEqual(crit!.groupLabels(L({ alertname: 'X', service: 's', instance: 'i' })).toRecord(), { alertname: 'X', service: 's' });
  });

  test("amtool's routes show layout", () => {
    assert.equal(routingTree(root), [
      'Routing tree:',
      '.',
      '└── default-route  receiver: web.hook',
      '    ├── {severity="critical"}  continue: true  receiver: pager-duty',
      '    │\u00a0\u00a0 └── {env!="dev",team=~"db|infra"}  receiver: dbteam',
      '    ├── {severity="warning"}  receiver: slack',
      '    └── {service=~"^(?:pg.*)$"}  receiver: dbteam',
      '', '',
    ].join('\n'));
  });
});

describe('time intervals', () => {
  const ti = (over: Partial<TimeInterval>): TimeInterval => ({ times: [], weekdays: [], daysOfMonth: [], months: [], years: [], location: undefined, ...over });
  const at = (iso: string) => Date.parse(iso);

  test('times of day (end exclusive), weekdays, days of month (negative from the end), months, years', () => {
    const businessHours = ti({ times: [parseTimeRange({ start_time: '09:00', end_time: '17:00' })], weekdays: [parseWeekdayRange('monday:friday')] });
    assert.equal(intervalContains(businessHours, at('2024-03-04T09:00:00Z')), true); // Monday
    assert.equal(intervalContains(businessHours, at('2024-03-04T16:59:59Z')), true);
    assert.equal(intervalContains(businessHours, at('2024-03-04T17:00:00Z')), false);
    assert.equal(intervalContains(businessHours, at('2024-03-03T12:00:00Z')), false); // Sunday
    const lastDays = ti({ daysOfMonth: [parseDayOfMonthRange('-2:-1')] });
    assert.equal(intervalContains(lastDays, at('2024-02-28T00:00:00Z')), true); // leap year: 28, 29 are the last two
    assert.equal(intervalContains(lastDays, at('2024-02-27T23:59:00Z')), false);
    assert.equal(intervalContains(ti({ daysOfMonth: [parseDayOfMonthRange('1:-1')] }), at('2024-05-31T12:00:00Z')), true);
    assert.equal(intervalContains(ti({ months: [parseMonthRange('december:december'), parseMonthRange('1:2')] }), at('2024-12-24T00:00:00Z')), true);
    assert.equal(intervalContains(ti({ months: [parseMonthRange('march')] }), at('2024-12-24T00:00:00Z')), false);
  });

  test('a location shifts the clock (Europe/Berlin is UTC+1 in winter)', () => {
    const morning = ti({ times: [parseTimeRange({ start_time: '09:00', end_time: '10:00' })], location: parseLocation('Europe/Berlin') });
    assert.equal(intervalContains(morning, at('2024-01-15T08:30:00Z')), true);
    assert.equal(intervalContains(morning, at('2024-01-15T09:30:00Z')), false);
  });
});

describe('alerts', () => {
  const base = { labels: L({ alertname: 'A' }), annotations: Labels.EMPTY, generatorURL: '' };

  test('merge: the younger wins, earliest start kept, a timeout never shortens an explicit end', () => {
    const old = makeAlert({ ...base, startsAt: 1000, endsAt: 10_000, updatedAt: 1000 });
    const younger = makeAlert({ ...base, startsAt: 2000, endsAt: 5000, updatedAt: 2000, timeout: true });
    const m = mergeAlerts(old, younger, 3000);
    assert.equal(m.startsAt, 1000);
    assert.equal(m.endsAt, 10_000);
    const explicitResolve = makeAlert({ ...base, startsAt: 2000, endsAt: 2500, updatedAt: 2600 });
    const r = mergeAlerts(old, explicitResolve, 3000);
    assert.equal(r.endsAt, 2500);
    assert.equal(r.startsAt, 1000);
  });
});

describe('inhibition', () => {
  const cfg = parseAlertmanagerConfig(`route: {receiver: a}
receivers: [{name: a}]
inhibit_rules:
- source_matchers: [severity="critical"]
  target_matchers: [severity=~"warning|critical"]
  equal: [service, zone]
`, '/x.yml');
  const alert = (r: Record<string, string>, endsAt = 1e13): Alert => makeAlert({ labels: L(r), annotations: Labels.EMPTY, startsAt: 1, endsAt, generatorURL: '' });

  test('equal labels (absent on both sides counts as equal), resolved sources do not inhibit, no self-inhibition', () => {
    const marker = new Marker();
    const ih = new Inhibitor(cfg.inhibitRules, marker);
    const src = alert({ alertname: 'Down', service: 'api', severity: 'critical' });
    ih.observe(src);
    const t1 = alert({ alertname: 'Slow', service: 'api', severity: 'warning' });
    const t2 = alert({ alertname: 'Slow', service: 'web', severity: 'warning' });
    const t3 = alert({ alertname: 'Slow', service: 'api', severity: 'warning', zone: 'eu' });
    assert.equal(ih.mutes(t1.labels, t1.fingerprint, 10), true);
    assert.deepEqual(marker.status(t1.fingerprint), { state: 'suppressed', silencedBy: [], inhibitedBy: [src.fingerprint] });
    assert.equal(ih.mutes(t2.labels, t2.fingerprint, 10), false);
    assert.equal(ih.mutes(t3.labels, t3.fingerprint, 10), false);
    // A critical alert matches both sides: it is not inhibited by another critical one.
    const other = alert({ alertname: 'Other', service: 'api', severity: 'critical' });
    ih.observe(other);
    assert.equal(ih.mutes(other.labels, other.fingerprint, 10), false);
    // The source resolves.
    ih.observe(alert({ alertname: 'Down', service: 'api', severity: 'critical' }, 5));
    ih.observe(alert({ alertname: 'Other', service: 'api', severity: 'critical' }, 5));
    assert.equal(ih.mutes(t1.labels, t1.fingerprint, 10), false);
    assert.equal(marker.status(t1.fingerprint).state, 'active');
  });
});

describe('silences', () => {
  const m = (name: string, value: string, type: '=' | '!=' | '=~' | '!~' = '=') => ({ name, value, type });

  test('create, update in place while allowed, otherwise expire and replace; expire; states', async () => {
    let now = 1_000_000;
    const s = new Silences({ logger, now: () => now, retention: 3_600_000 });
    const id = await s.set({ matchers: [m('service', 'db')], startsAt: now - 5000, endsAt: now + 60_000, createdBy: 'a', comment: 'maintenance' });
    const created = s.get(id)!;
    assert.equal(created.startsAt, now, 'a start in the past becomes now');
    assert.equal(silenceState(created, now), 'active');
    // Same matchers, same start, later end: updated in place.
    now += 1000;
    assert.equal(await s.set({ id, matchers: [m('service', 'db')], startsAt: created.startsAt, endsAt: now + 120_000, createdBy: 'a', comment: 'longer' }), id);
    assert.equal(s.get(id)!.comment, 'longer');
    // Different matchers: the old one expires, a new one replaces it.
    const id2 = await s.set({ id, matchers: [m('service', 'db'), m('env', 'prod')], startsAt: now, endsAt: now + 60_000, createdBy: 'a', comment: 'narrower' });
    assert.notEqual(id2, id);
    now += 1;
    assert.equal(silenceState(s.get(id)!, now), 'expired');
    assert.equal(silenceState(s.get(id2)!, now), 'active');
    // A pending silence expires by moving start and end to now.
    const pending = await s.set({ matchers: [m('a', 'b')], startsAt: now + 10_000, endsAt: now + 20_000, createdBy: 'a', comment: '' });
    assert.equal(silenceState(s.get(pending)!, now), 'pending');
    await s.expire(pending);
    now += 1;
    assert.equal(silenceState(s.get(pending)!, now), 'expired');
    await s.expire(pending); // already expired: nothing happens, no error
    await assert.rejects(s.expire('00000000-0000-4000-8000-000000000000'), /silence not found/);
    await assert.rejects(s.set({ id: '00000000-0000-4000-8000-000000000000', matchers: [m('a', 'b')], startsAt: now, endsAt: now + 1, createdBy: '', comment: '' }), /silence not found/);
    assert.deepEqual(s.countByState(now), { active: 1, pending: 0, expired: 2 });
    // Garbage collection after the retention.
    now += 2 * 3_600_000;
    assert.equal(await s.gc(now), 3);
  });

  test("Alertmanager's validation messages", async () => {
    const s = new Silences({ logger, now: () => 1000, retention: 1 });
    const bad = async (matchers: ReturnType<typeof m>[], re: RegExp) => assert.rejects(s.set({ matchers, startsAt: 1000, endsAt: 2000, createdBy: '', comment: '' }), re);
    await bad([], /silence invalid: at least one matcher required/);
    await bad([m('a', '')], /silence invalid: at least one matcher must not match the empty string/);
    await bad([m('a', '.*', '=~')], /at least one matcher must not match the empty string/);
    await bad([m('a-b', 'x')], /silence invalid: invalid label matcher 0: invalid label name "a-b"/);
    await bad([m('a', 'x'), m('b', '(', '=~')], /silence invalid: invalid label matcher 1: invalid regular expression "\(": error parsing regexp: missing closing \)/);
  });

  test('matching: active silences mute, sorted ids recorded in the marker', async () => {
    let now = 5000;
    const s = new Silences({ logger, now: () => now, retention: 1 });
    const a = await s.set({ matchers: [m('service', 'db|cache', '=~')], startsAt: now, endsAt: now + 1000, createdBy: '', comment: '' });
    const b = await s.set({ matchers: [m('alertname', 'Disk')], startsAt: now, endsAt: now + 1000, createdBy: '', comment: '' });
    await s.set({ matchers: [m('alertname', 'Disk')], startsAt: now + 500, endsAt: now + 1000, createdBy: '', comment: '' });
    const marker = new Marker();
    const labels = L({ alertname: 'Disk', service: 'db' });
    assert.equal(s.mutes(labels, 'fp', now, marker), true);
    assert.deepEqual(marker.status('fp').silencedBy, [a, b].sort());
    now += 2000;
    assert.equal(s.mutes(labels, 'fp', now, marker), false);
    assert.equal(marker.status('fp').state, 'active');
  });

  test('expireWhenResolved: expires once the alerts it silenced resolved, never before it matched one', async () => {
    let now = 10_000;
    const s = new Silences({ logger, now: () => now, retention: 1 });
    const id = await s.set({ matchers: [m('alertname', 'Deploy')], startsAt: now, endsAt: now + 3_600_000, createdBy: 'ci', comment: 'deploy', expireWhenResolved: true });
    const firing = makeAlert({ labels: L({ alertname: 'Deploy', instance: '1' }), annotations: Labels.EMPTY, startsAt: now, endsAt: now + 60_000, generatorURL: '' });
    assert.deepEqual(await s.expireResolved([], now), [], 'nothing matched yet: kept');
    assert.deepEqual(await s.expireResolved([firing], now), []);
    now += 30_000;
    const resolved = { ...firing, endsAt: now - 1 };
    assert.deepEqual(await s.expireResolved([resolved], now), [id]);
    now += 1;
    assert.equal(silenceState(s.get(id)!, now), 'expired');
  });
});

describe('notification pipeline stages', () => {
  const integration = (sendResolved: boolean, notify: Integration['notify'] = async () => {}): Integration => ({ name: 'webhook', index: 0, receiver: 'r', sendResolved, notify });
  const ctx = (over: Partial<NotifyContext> = {}): NotifyContext => ({
    now: 0, groupKey: '{}:{a="1"}', groupLabels: L({ a: '1' }), receiver: 'r', repeatInterval: 10_000, muteTimeIntervals: [], activeTimeIntervals: [], signal: new AbortController().signal, ...over,
  });
  const alert = (name: string, endsAt: number) => makeAlert({ labels: L({ alertname: name }), annotations: Labels.EMPTY, startsAt: 1, endsAt, generatorURL: '' });

  test("dedup decides as Alertmanager's needsUpdate", async () => {
    let now = 100_000;
    const nflog = new NotificationLog({ logger, retention: 1e9 });
    const i = integration(true);
    const dedup = dedupStage(nflog, i, () => now);
    const A = alert('A', 0);
    const B = alert('B', 0);
    const Bres = alert('B', 50_000);
    const run = async (alerts: Alert[]) => (await dedup(ctx(), alerts)).length > 0;
    assert.equal(await run([Bres]), false, 'only resolved, never notified: nothing');
    assert.equal(await run([A]), true, 'first firing: notify');
    await nflog.log('r/webhook/0', '{}:{a="1"}', [A.fingerprint], [], now);
    assert.equal(await run([A]), false, 'unchanged within repeat_interval');
    assert.equal(await run([A, B]), true, 'a new firing alert');
    await nflog.log('r/webhook/0', '{}:{a="1"}', [A.fingerprint, B.fingerprint], [], now);
    assert.equal(await run([A, Bres]), true, 'send_resolved and B resolved');
    assert.equal(await dedupStage(nflog, integration(false), () => now)(ctx(), [A, Bres]).then((r) => r.length > 0), false, 'without send_resolved a resolve alone is not news');
    now += 10_001;
    assert.equal(await run([A]), true, 'repeat_interval passed');
    assert.equal(await run([alert('A', 50_000)]), true, 'all resolved after firing ones were notified');
  });

  test('retry: exponential backoff until success; unrecoverable errors stop; the deadline cancels', async () => {
    const metrics = new AlertingMetrics();
    let calls = 0;
    const flaky = integration(true, async () => {
      calls++;
      if (calls < 3) throw new NotifyError('unexpected status code 500', true);
    });
    const records: boolean[] = [];
    const stage = retryStage(flaky, { metrics, logger, now: () => 0, record: (r) => records.push(r.success) });
    await stage(ctx({ firing: ['x'] }), [alert('A', 0)]);
    assert.equal(calls, 3);
    assert.deepEqual(records, [true]);
    assert.equal((await metrics.requests.get()).values.find((v) => v.labels.integration === 'webhook')?.value, 3);
    assert.equal((await metrics.requestsFailed.get()).values.find((v) => v.labels.integration === 'webhook')?.value, 2);
    const fatal = retryStage(integration(true, async () => {
      throw new NotifyError('unexpected status code 400', false);
    }), { metrics, logger, now: () => 0 });
    await assert.rejects(fatal(ctx({ firing: ['x'] }), [alert('A', 0)]), /r\/webhook\[0\]: notify retry canceled due to unrecoverable error after 1 attempts: unexpected status code 400/);
    const down = retryStage(integration(true, async () => {
      throw new NotifyError('connect ECONNREFUSED', true);
    }), { metrics, logger, now: () => 0 });
    await assert.rejects(down(ctx({ firing: ['x'], signal: AbortSignal.timeout(300) }), [alert('A', 0)]), /notify retry canceled after \d+ attempts: connect ECONNREFUSED/);
    assert.equal((await metrics.notificationsFailed.get()).values.find((v) => v.labels.integration === 'webhook')?.value, 2);
  });

  test('without send_resolved, a notification of only resolved alerts is not sent', async () => {
    let sent = 0;
    const stage = retryStage(integration(false, async () => {
      sent++;
    }), { metrics: new AlertingMetrics(), logger, now: () => 100 });
    await stage(ctx({ firing: [], resolved: ['x'] }), [alert('A', 50)]);
    assert.equal(sent, 0);
  });

  test('backoff: 0.5 s growing by 1.5, randomised by ±50 %, capped at 60 s', () => {
    const b = new ExponentialBackoff();
    const seq = Array.from({ length: 20 }, () => b.next());
    assert.ok(seq[0]! >= 250 && seq[0]! <= 750);
    assert.ok(seq[1]! >= 375 && seq[1]! <= 1125);
    assert.ok(seq.every((x) => x <= 90_000));
  });
});

describe('history persistence', () => {
  test('a burst of new alerts is written in chunks, with other work let in between them (no long block of the event loop)', async () => {
    const T = 1_700_000_000_000;
    const events: string[] = [];
    const written: AlertHistoryRecord[] = [];
    const notes: NotificationHistoryRecord[] = [];
    const store = {
      history: {
        upsertAlerts: async (r: readonly AlertHistoryRecord[]) => {
          events.push(`alerts ${r.length}`);
          written.push(...r);
        },
        insertNotifications: async (r: readonly NotificationHistoryRecord[]) => {
          events.push(`notifications ${r.length}`);
          notes.push(...r);
        },
      },
    } as unknown as StateStore;
    const rec = new HistoryRecorder({ store, logger: pino({ level: 'silent' }), metrics: new AlertingMetrics(), now: () => T, retention: 86_400_000, restoreGrace: 600_000 });
    for (let i = 0; i < 1100; i++) rec.observe(makeAlert({ labels: L({ alertname: 'Burst', instance: `i${i}` }), annotations: L({}), startsAt: T - 1000, endsAt: T + 60_000, generatorURL: '' }), T);
    for (let i = 0; i < 300; i++) {
      rec.recordNotification({ time: T, receiver: 'r', integration: 'webhook', integrationIndex: 0, groupKey: `g${i}`, status: 'firing', fingerprints: [], success: true, error: '', attempts: 1, durationMs: 1 });
    }
    // Work that arrives while the burst is being written (a request, a timer) runs before it ends.
    setImmediate(() => events.push('other work'));
    await rec.flush();
    assert.deepEqual(events, ['alerts 250', 'other work', 'alerts 250', 'alerts 250', 'alerts 250', 'alerts 100', 'notifications 250', 'notifications 50']);
    assert.equal(new Set(written.map((r) => r.fingerprint)).size, 1100, 'every episode written once');
    assert.equal(notes.length, 300);
  });

  test('a chunk that fails is kept with everything after it for the next flush; earlier chunks are not written again', async () => {
    const T = 1_700_000_000_000;
    let calls = 0;
    const written: string[] = [];
    const store = {
      history: {
        upsertAlerts: async (r: readonly AlertHistoryRecord[]) => {
          if (++calls === 2) throw new Error('disk full');
          written.push(...r.map((x) => x.fingerprint));
        },
        insertNotifications: async () => undefined,
      },
    } as unknown as StateStore;
    const metrics = new AlertingMetrics();
    const rec = new HistoryRecorder({ store, logger: pino({ level: 'silent' }), metrics, now: () => T, retention: 86_400_000, restoreGrace: 600_000 });
    for (let i = 0; i < 600; i++) rec.observe(makeAlert({ labels: L({ alertname: 'Burst', instance: `i${i}` }), annotations: L({}), startsAt: T - 1000, endsAt: T + 60_000, generatorURL: '' }), T);
    await rec.flush();
    assert.equal(written.length, 250);
    assert.equal(metrics.historyWriteFailures, 1);
    await rec.flush();
    assert.equal(written.length, 600);
    assert.equal(new Set(written).size, 600);
  });
});

describe('group timers', () => {
  test('the first notification comes group_wait after the group starts, never earlier (precise wait of the last milliseconds); a stopped dispatcher sends nothing', async () => {
    const cfg = parseAlertmanagerConfig(`route: {receiver: r, group_by: [service], group_wait: 30ms, group_interval: 1h}\nreceivers: [{name: r}]\n`, '/t.yml');
    const flushed: Array<{ service: string; after: number }> = [];
    const started = new Map<string, number>();
    const d = new Dispatcher(new Route(cfg.route, undefined), {
      now: () => Date.now(),
      logger: pino({ level: 'silent' }),
      notify: () => async (ctx) => {
        const service = ctx.groupLabels.get('service');
        flushed.push({ service, after: performance.now() - started.get(service)! });
        return true;
      },
    });
    const post = (service: string) => {
      started.set(service, performance.now());
      d.process(makeAlert({ labels: L({ alertname: 'A', service }), annotations: L({}), startsAt: Date.now(), endsAt: Date.now() + 60_000, generatorURL: '' }));
    };
    for (let i = 0; i < 5; i++) {
      post(`s${i}`);
      await new Promise((r) => setTimeout(r, 7));
    }
    await new Promise((r) => setTimeout(r, 200));
    assert.equal(flushed.length, 5);
    for (const f of flushed) assert.ok(f.after >= 30, `${f.service} notified ${f.after.toFixed(3)} ms after it started`);
    post('late');
    d.stop();
    await new Promise((r) => setTimeout(r, 60));
    assert.equal(flushed.length, 5, 'nothing sent after stop');
  });
});
