/**
 * Alerting and recording rule semantics (Prometheus' rules package): states, `for`,
 * `keep_firing_for`, resolved retention and resend, ALERTS / ALERTS_FOR_STATE, templating,
 * ordering within a group, errors that leave other rules running, limits, stale markers,
 * query offset, and `for` state restore.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Labels, STALE_NAN } from '../model/index.ts';
import { MemoryStorage } from '../storage/index.ts';
import { AlertingRule, RecordingRule } from './rule.ts';
import { capturingLogger, dump, groupFromYaml, load, queryFor, states } from './testing.ts';
import type { QueryFunc } from './types.ts';

const M = 60_000;

test('an alert goes pending, fires after `for`, and writes ALERTS and ALERTS_FOR_STATE', async () => {
  const storage = new MemoryStorage();
  await load(storage, { __name__: 'up', job: 'api', instance: 'a:1' }, [1, 0, 0, 0, 0, 0]);
  const h = groupFromYaml(`
groups:
- name: g
  rules:
  - alert: Down
    expr: up == 0
    for: 2m
    labels: {severity: critical}
    annotations:
      summary: "{{ $labels.instance }} of {{ $labels.job }} is {{ $value }} ({{ $externalLabels.cluster }}, {{ $externalURL }})"
`, { storage, externalLabels: Labels.fromRecord({ cluster: 'eu1' }) });
  const rule = h.group.rules[0] as AlertingRule;
  await h.group.eval(0);
  assert.deepEqual(rule.activeAlerts(), []);
  assert.equal(rule.state(), 'inactive');
  await h.group.eval(1 * M);
  assert.deepEqual(states(rule.activeAlerts()), ['{alertname="Down", instance="a:1", job="api", severity="critical"}=pending']);
  assert.equal(rule.state(), 'pending');
  await h.group.eval(2 * M);
  assert.equal(rule.state(), 'pending', 'one minute of two');
  await h.group.eval(3 * M);
  assert.equal(rule.state(), 'firing');
  const a = rule.activeAlerts()[0]!;
  assert.equal(a.activeAt, 1 * M);
  assert.equal(a.firedAt, 3 * M);
  assert.equal(a.annotations.get('summary'), 'a:1 of api is 0 (eu1, http://vigil.test:9090)');
  const series = await dump(h.storage);
  assert.deepEqual(series.get('{__name__="ALERTS", alertname="Down", alertstate="pending", instance="a:1", job="api", severity="critical"}'), [[1 * M, 1], [2 * M, 1], [3 * M, 'stale']]);
  assert.deepEqual(series.get('{__name__="ALERTS", alertname="Down", alertstate="firing", instance="a:1", job="api", severity="critical"}'), [[3 * M, 1]]);
  assert.deepEqual(series.get('{__name__="ALERTS_FOR_STATE", alertname="Down", instance="a:1", job="api", severity="critical"}'), [[1 * M, 60], [2 * M, 60], [3 * M, 60]]);
  assert.equal(h.group.rules[0]!.health, 'ok');
});

test('for: 0 fires at the first evaluation; a pending alert that clears is dropped without being sent', async () => {
  const storage = new MemoryStorage();
  await load(storage, { __name__: 'x', i: '1' }, [1, 1, 1]);
  await load(storage, { __name__: 'y', i: '1' }, [1, 0, 0]);
  const h = groupFromYaml(`
groups:
- name: g
  rules:
  - alert: Now
    expr: x > 0
  - alert: Later
    expr: y > 0
    for: 5m
`, { storage });
  await h.group.eval(0);
  const [now, later] = h.group.rules as AlertingRule[];
  assert.equal(now!.state(), 'firing');
  assert.equal(later!.state(), 'pending');
  await h.group.eval(1 * M);
  assert.equal(later!.active.size, 0, 'pending alert removed once its condition clears');
  assert.deepEqual(h.sent.map((s) => s.alerts[0]!.labels.get('alertname')), ['Now']);
});

test('resolved alerts are sent at once, re-sent every resend delay, and kept for 15 minutes', async () => {
  const storage = new MemoryStorage();
  const vals: number[] = [];
  for (let i = 0; i <= 40; i++) vals.push(i < 3 ? 1 : 0);
  await load(storage, { __name__: 'm' }, vals);
  const h = groupFromYaml(`
groups:
- name: g
  rules:
  - alert: A
    expr: m > 0
`, { storage, resendDelayMs: 2 * M });
  const rule = h.group.rules[0] as AlertingRule;
  for (let i = 0; i <= 18; i++) await h.group.eval(i * M);
  // firing at 0, 1, 2 (sent at 0 only: 0+2m is not before 2m), resolved at 3.
  const sends = h.sent.map((s) => ({ t: s.alerts[0]!.lastSentAt, state: s.alerts[0]!.state, validUntil: s.alerts[0]!.validUntil, resolvedAt: s.alerts[0]!.resolvedAt }));
  assert.deepEqual(sends[0], { t: 0, state: 'firing', validUntil: 4 * 2 * M, resolvedAt: 0 });
  assert.deepEqual(sends[1], { t: 3 * M, state: 'inactive', validUntil: 3 * M + 8 * M, resolvedAt: 3 * M }, 'resolution is sent at once');
  // then every resend delay (strictly after lastSent + 2m): 6m, 9m, 12m, 15m, 18m.
  assert.deepEqual(sends.slice(2).map((s) => s.t / M), [6, 9, 12, 15, 18]);
  assert.equal(rule.active.size, 1, 'kept while within 15 minutes of resolution');
  assert.deepEqual(rule.activeAlerts(), [], 'a resolved alert is not active (API)');
  await h.group.eval(19 * M);
  assert.equal(rule.active.size, 0, 'dropped once more than 15 minutes have passed');
});

test('keep_firing_for keeps a firing alert firing after its condition clears', async () => {
  const storage = new MemoryStorage();
  await load(storage, { __name__: 'm' }, [1, 1, 0, 0, 0, 1, 0, 0, 0, 0, 0]);
  const h = groupFromYaml(`
groups:
- name: g
  rules:
  - alert: A
    expr: m > 0
    keep_firing_for: 2m
`, { storage });
  const rule = h.group.rules[0] as AlertingRule;
  const seen: string[] = [];
  for (let i = 0; i <= 10; i++) {
    await h.group.eval(i * M);
    const a = [...rule.active.values()][0];
    seen.push(a ? `${a.state}${a.keepFiringSince ? '@' + a.keepFiringSince / M : ''}` : '-');
  }
  // cleared at 2: held at 2 and 3 (2m not yet passed), resolved at 4; fires again at 5 (new alert),
  // held at 6, 7, resolved at 8.
  assert.deepEqual(seen, ['firing', 'firing', 'firing@2', 'firing@2', 'inactive@2', 'firing', 'firing@6', 'firing@6', 'inactive@6', 'inactive@6', 'inactive@6']);
});

test("a recording rule's output is visible to the rules after it in the same evaluation", async () => {
  const storage = new MemoryStorage();
  await load(storage, { __name__: 'up', job: 'a', instance: '1' }, [0]);
  await load(storage, { __name__: 'up', job: 'a', instance: '2' }, [0]);
  const h = groupFromYaml(`
groups:
- name: g
  rules:
  - record: job:up:sum
    expr: sum by (job) (up)
  - alert: JobDown
    expr: job:up:sum == 0
  - record: job:up:sum:doubled
    expr: job:up:sum * 2 + 1
    labels: {job: "", kind: derived}
`, { storage });
  await h.group.eval(0);
  assert.equal((h.group.rules[1] as AlertingRule).state(), 'firing');
  const s = await dump(h.storage);
  assert.deepEqual(s.get('{__name__="job:up:sum", job="a"}'), [[0, 0]]);
  assert.deepEqual(s.get('{__name__="job:up:sum:doubled", kind="derived"}'), [[0, 1]], 'an empty rule label value removes the label');
});

test('a rule producing duplicate label sets fails with Prometheus\' message; the other rules run', async () => {
  const storage = new MemoryStorage();
  await load(storage, { __name__: 'x', a: '1' }, [1]);
  await load(storage, { __name__: 'x', a: '2' }, [1]);
  const { logger, records } = capturingLogger();
  const h = groupFromYaml(`
groups:
- name: g
  rules:
  - alert: Dup
    expr: x
    labels: {a: same}
  - record: rec
    expr: x
    labels: {a: same}
  - alert: Fine
    expr: x
`, { storage, logger });
  await h.group.eval(0);
  const [dup, rec, fine] = h.group.rules;
  assert.equal(dup!.health, 'err');
  assert.equal(dup!.lastError?.message, 'vector contains metrics with the same labelset after applying alert labels');
  assert.equal(rec!.health, 'err');
  assert.equal(rec!.lastError?.message, 'vector contains metrics with the same labelset after applying rule labels');
  assert.equal(fine!.health, 'ok');
  assert.equal((fine as AlertingRule).activeAlerts().length, 2);
  assert.equal(h.group.stats.evaluationFailures, 2);
  assert.ok(records.some((r) => r.msg === 'Evaluating rule failed' && r.rule === 'Dup'));
});

test('a query that errors or times out sets health err with lastError, keeps alert state, and the group goes on', async () => {
  const storage = new MemoryStorage();
  await load(storage, { __name__: 'm' }, [1, 1, 1]);
  const base = queryFor(storage);
  let failNext = false;
  const query: QueryFunc = async (q, t) => {
    if (q.startsWith('m') && failNext) throw new Error('query timed out in expression evaluation');
    return base(q, t);
  };
  const h = groupFromYaml(`
groups:
- name: g
  rules:
  - alert: A
    expr: m > 0
  - alert: B
    expr: vector(1)
  - alert: Bad
    expr: 'sum(m) by (nope) / on (x) group_left count(m)'
`, { storage, query });
  await h.group.eval(0);
  const [a, b] = h.group.rules as AlertingRule[];
  assert.equal(a!.state(), 'firing');
  failNext = true;
  await h.group.eval(1 * M);
  assert.equal(a!.health, 'err');
  assert.equal(a!.lastError?.message, 'query timed out in expression evaluation');
  assert.equal(a!.state(), 'firing', 'state kept through a failed evaluation');
  assert.equal(b!.health, 'ok');
  failNext = false;
  await h.group.eval(2 * M);
  assert.equal(a!.health, 'ok');
  assert.equal(a!.lastError, undefined);
});

test('an expression that is neither vector nor scalar is an evaluation error', async () => {
  const h = groupFromYaml(`
groups:
- name: g
  rules:
  - record: s
    expr: '"text"'
  - record: one
    expr: '1'
`);
  await h.group.eval(0);
  assert.equal(h.group.rules[0]!.lastError?.message, 'rule result is not a vector or scalar');
  const s = await dump(h.storage);
  assert.deepEqual(s.get('{__name__="one"}'), [[0, 1]], 'a scalar is recorded without labels');
});

test('template errors render as Prometheus does and are logged; the alert still fires; a missing label is empty', async () => {
  const storage = new MemoryStorage();
  await load(storage, { __name__: 'm', instance: 'i1' }, [3]);
  const { logger, records } = capturingLogger();
  const h = groupFromYaml(`
groups:
- name: g
  rules:
  - alert: T
    expr: m
    labels:
      team: "{{ $labels.missing }}x"
    annotations:
      missing: "[{{ $labels.nope }}]"
      broken: "{{ humanize \\"abc\\" }}"
      value: "{{ $value | humanize }}"
      queried: "{{ with query \\"m\\" }}{{ . | first | value }}{{ end }}"
`, { storage, logger });
  await h.group.eval(0);
  const a = (h.group.rules[0] as AlertingRule).activeAlerts()[0]!;
  assert.equal(a.state, 'firing');
  assert.equal(a.labels.get('team'), 'x');
  assert.equal(a.annotations.get('missing'), '[]');
  assert.match(a.annotations.get('broken'), /^<error expanding template: error executing template __alert_T: template: __alert_T:1:\d+: executing "__alert_T" at <humanize "abc">: error calling humanize: strconv.ParseFloat: parsing "abc": invalid syntax>$/);
  assert.equal(a.annotations.get('value'), '3');
  assert.equal(a.annotations.get('queried'), '3');
  assert.ok(records.some((r) => r.msg === 'Expanding alert template failed'), 'logged');
});

test('limit: too many alerts or series is an error naming the limit', async () => {
  const storage = new MemoryStorage();
  await load(storage, { __name__: 'x', a: '1' }, [1]);
  await load(storage, { __name__: 'x', a: '2' }, [1]);
  const h = groupFromYaml(`
groups:
- name: g
  limit: 1
  rules:
  - alert: A
    expr: x
  - record: r
    expr: x
  - record: ok
    expr: sum(x)
`, { storage });
  await h.group.eval(0);
  assert.equal(h.group.rules[0]!.lastError?.message, 'exceeded limit of 1 with 2 alerts');
  assert.equal((h.group.rules[0] as AlertingRule).active.size, 0);
  assert.equal(h.group.rules[1]!.lastError?.message, 'exceeded limit of 1 with 2 series');
  assert.equal(h.group.rules[2]!.health, 'ok');
});

test('series a rule stops producing get a stale marker at the next evaluation', async () => {
  const storage = new MemoryStorage();
  await load(storage, { __name__: 'x', a: '1' }, [1, 1, 1]);
  await load(storage, { __name__: 'x', a: '2' }, [1, undefined, undefined]);
  const app = storage.appender();
  const v = new Float64Array(1);
  v[0] = STALE_NAN; // element by element: an array literal would quiet the signalling NaN
  app.append(0, Labels.fromRecord({ __name__: 'x', a: '2' }), 1 * M, v[0]!);
  await app.commit();
  const h = groupFromYaml(`
groups:
- name: g
  rules:
  - record: y
    expr: x
`, { storage });
  await h.group.eval(0);
  await h.group.eval(1 * M);
  await h.group.eval(2 * M);
  const s = await dump(h.storage, 'y');
  assert.deepEqual(s.get('{__name__="y", a="2"}'), [[0, 1], [1 * M, 'stale']]);
  assert.deepEqual(s.get('{__name__="y", a="1"}'), [[0, 1], [1 * M, 1], [2 * M, 1]]);
});

test('query_offset queries and writes at ts - offset; group labels apply under rule labels', async () => {
  const storage = new MemoryStorage();
  await load(storage, { __name__: 'm' }, [1, 2, 3, 4]);
  const h = groupFromYaml(`
groups:
- name: g
  query_offset: 1m
  labels: {team: db, tier: x}
  rules:
  - record: r
    expr: m
    labels: {tier: y}
`, { storage });
  await h.group.eval(3 * M);
  const s = await dump(h.storage, 'r');
  assert.deepEqual(s.get('{__name__="r", team="db", tier="y"}'), [[2 * M, 3]]);
});

test("'for' state is restored from ALERTS_FOR_STATE after a restart", async () => {
  const storage = new MemoryStorage();
  const vals: number[] = [];
  for (let i = 0; i <= 120; i++) vals.push(1);
  await load(storage, { __name__: 'p', i: 'long' }, vals);
  await load(storage, { __name__: 'q', i: 'short' }, vals);
  await load(storage, { __name__: 'f', i: 'fired' }, vals);
  const yaml = `
groups:
- name: g
  rules:
  - alert: Long
    expr: p > 0
    for: 60m
  - alert: Short
    expr: q > 0
    for: 20m
  - alert: Fired
    expr: f > 0
    for: 15m
  - alert: Quick
    expr: f > 0
    for: 5m
`;
  // First life: evaluated from 0 to 16m, then "down" until 40m.
  const first = groupFromYaml(yaml, { storage });
  for (let t = 0; t <= 16 * M; t += M) await first.group.eval(t);
  // Second life: restored = false, restore after the second evaluation (as the loop does).
  const second = groupFromYaml(yaml, { storage, restored: false });
  await second.group.eval(40 * M);
  await second.group.eval(41 * M);
  assert.equal((await dump(storage, 'ALERTS_FOR_STATE')).get('{__name__="ALERTS_FOR_STATE", alertname="Long", i="long"}')!.at(-1)![0], 16 * M, 'nothing written before restore');
  await second.group.restoreForState(41 * M);
  const byName = new Map((second.group.rules as AlertingRule[]).map((r) => [r.name, [...r.active.values()][0]!]));
  // Long: pending 16m of 60m when it went down at 16m: 44m remain (> 10m grace) → activeAt shifted by the downtime.
  assert.equal(byName.get('Long')!.activeAt, 0 + (41 * M - 16 * M));
  // Short: 4m remain (< grace) → fires no sooner than the grace period after the restore.
  assert.equal(byName.get('Short')!.activeAt, 41 * M + 10 * M - 20 * M);
  // Fired: was firing when it went down → original activeAt, fires at the next evaluation.
  assert.equal(byName.get('Fired')!.activeAt, 0);
  // Quick: for (5m) shorter than the grace period → not restored.
  assert.equal(byName.get('Quick')!.activeAt, 40 * M);
  await second.group.eval(42 * M);
  assert.equal(byName.get('Fired')!.state, 'firing');
  assert.equal(byName.get('Long')!.state, 'pending');
  assert.ok((second.group.rules as AlertingRule[]).every((r) => r.restored));
  const fs = await dump(storage, 'ALERTS_FOR_STATE');
  assert.deepEqual(fs.get('{__name__="ALERTS_FOR_STATE", alertname="Long", i="long"}')!.at(-1), [42 * M, 25 * 60]);
});

test("'for' state older than the outage tolerance is not restored", async () => {
  const storage = new MemoryStorage();
  const vals: number[] = [];
  for (let i = 0; i <= 200; i++) vals.push(1);
  await load(storage, { __name__: 'p' }, vals);
  const yaml = `
groups:
- name: g
  rules:
  - alert: Long
    expr: p > 0
    for: 60m
`;
  const first = groupFromYaml(yaml, { storage });
  for (let t = 0; t <= 10 * M; t += M) await first.group.eval(t);
  const second = groupFromYaml(yaml, { storage, restored: false, outageToleranceMs: 30 * M });
  await second.group.eval(100 * M);
  await second.group.restoreForState(100 * M);
  const a = [...(second.group.rules[0] as AlertingRule).active.values()][0]!;
  assert.equal(a.activeAt, 100 * M, 'activeAt stays at the first evaluation after the restart');
});

test('recording rules are RecordingRule, alerting rules AlertingRule, with the printed query', () => {
  const h = groupFromYaml(`
groups:
- name: g
  rules:
  - record: a
    expr: sum   by(job)(up)
  - alert: b
    expr: up==0
`);
  assert.ok(h.group.rules[0] instanceof RecordingRule);
  assert.ok(h.group.rules[1] instanceof AlertingRule);
  assert.equal(h.group.rules[0]!.query, 'sum by (job) (up)');
  assert.equal(h.group.rules[1]!.query, 'up == 0');
});

test('a store that refuses writes sets health err with lastError on each rule; the rules recover with the store', async () => {
  const storage = new MemoryStorage();
  const h = groupFromYaml(`
groups:
- name: g
  rules:
  - record: r
    expr: vector(1)
  - alert: A
    expr: vector(1)
`, { storage });
  await h.group.eval(0);
  const working = storage.appender.bind(storage);
  storage.appender = () => {
    throw new Error('the store is closed');
  };
  await h.group.eval(1 * M);
  for (const rule of h.group.rules) {
    assert.equal(rule.health, 'err', rule.name);
    assert.equal(rule.lastError?.message, 'the store is closed');
  }
  assert.equal(h.group.stats.evaluationFailures, 2);
  storage.appender = working;
  await h.group.eval(2 * M);
  for (const rule of h.group.rules) assert.equal(rule.health, 'ok', rule.name);
});
