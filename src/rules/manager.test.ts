/**
 * Scheduling and the manager: aligned evaluation timestamps with Prometheus' hash offset,
 * missed iterations counted (not queued), restore after the second iteration, reloads that
 * keep state, broken files skipped, alerts handed on in Alertmanager's shape, metrics.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Registry } from 'prom-client';
import { Labels, type PostableAlert } from '../model/index.ts';
import { MemoryStorage } from '../storage/index.ts';
import { evalOffsetMs } from './group.ts';
import { RuleManager, tableLinkForExpression } from './manager.ts';
import { AlertingRule } from './rule.ts';
import { VirtualScheduler, dump, flush, groupFromYaml, load, queryFor, silentLogger } from './testing.ts';
import type { QueryFunc } from './types.ts';

const S = 1000;

test('evaluations are aligned to the interval plus the group hash offset; slow ones count missed iterations', async () => {
  const sched = new VirtualScheduler(1_700_000_003_000);
  const seen: number[] = [];
  let slowOnce = false;
  const query: QueryFunc = async (_q, t) => {
    seen.push(t);
    if (slowOnce) {
      slowOnce = false;
      sched.t += 25 * S; // this evaluation takes 2.5 intervals
    }
    return [];
  };
  const h = groupFromYaml(`
groups:
- name: sched
  interval: 10s
  rules:
  - record: r
    expr: vector(1)
`, { scheduler: sched, query, file: '/etc/vigil/rules.yml' });
  const off = evalOffsetMs('/etc/vigil/rules.yml', 'sched', 10 * S);
  assert.equal(h.group.evaluationOffsetMs, off);
  h.group.start();
  await sched.advance(35 * S);
  assert.ok(seen.length >= 3, `evaluated ${seen.length} times`);
  for (const t of seen) assert.equal(((t % (10 * S)) + 10 * S) % (10 * S), off, 'timestamp aligned to the offset');
  for (let i = 1; i < seen.length; i++) assert.equal(seen[i]! - seen[i - 1]!, 10 * S, 'consecutive intervals');
  assert.equal(h.group.stats.iterationsMissed, 0);
  const before = seen.length;
  slowOnce = true;
  await sched.advance(10 * S); // the next evaluation runs and takes 25 s
  await sched.advance(30 * S);
  await h.group.stop();
  // The evaluation at T took 25 s: the tick at T+10 s is delivered when it ends (as Go's ticker
  // buffers one), evaluating T+20 s; T+10 s is counted missed, nothing is queued.
  const after = seen.slice(before);
  assert.equal(after[1]! - after[0]!, 20 * S, 'one iteration skipped, not queued');
  assert.equal(after[2]! - after[1]!, 10 * S, 'back on schedule');
  assert.equal(h.group.stats.iterationsMissed, 1);
  assert.equal(h.group.stats.iterationsTotal, seen.length + 1);
  const n = seen.length;
  await sched.advance(60 * S);
  assert.equal(seen.length, n, 'no evaluation after stop');
});

test('a group that must restore writes no ALERTS before its second evaluation, then restores', async () => {
  const sched = new VirtualScheduler(600 * S);
  const storage = new MemoryStorage();
  const vals: number[] = [];
  for (let i = 0; i < 100; i++) vals.push(1);
  await load(storage, { __name__: 'm' }, vals, 10 * S);
  const h = groupFromYaml(`
groups:
- name: restore
  interval: 10s
  rules:
  - alert: A
    expr: m > 0
    for: 1h
`, { scheduler: sched, storage, restored: false });
  h.group.start();
  await sched.advance(h.group.evaluationOffsetMs + 1);
  assert.equal(h.group.stats.iterationsTotal, 1);
  assert.equal((await dump(storage, 'ALERTS')).size, 0);
  assert.equal((h.group.rules[0] as AlertingRule).restored, false);
  await sched.advance(10 * S);
  assert.equal((h.group.rules[0] as AlertingRule).restored, true, 'restored after the second evaluation');
  await sched.advance(10 * S);
  await h.group.stop();
  assert.equal((await dump(storage, 'ALERTS')).size, 1);
});

function tmp(): { dir: string; write(name: string, text: string): string; done(): void } {
  const dir = mkdtempSync(join(tmpdir(), 'vigil-rules-'));
  return { dir, write: (name, text) => { const p = join(dir, name); writeFileSync(p, text); return p; }, done: () => rmSync(dir, { recursive: true, force: true }) };
}

test('reload: unchanged groups keep running, changed ones keep alert state, removed ones go stale, broken files are skipped', async () => {
  const t = tmp();
  try {
    const sched = new VirtualScheduler(1_000 * S);
    const storage = new MemoryStorage();
    const vals: number[] = [];
    for (let i = 0; i < 400; i++) vals.push(1);
    await load(storage, { __name__: 'm', i: '1' }, vals, 5 * S, 900 * S);
    const sent: PostableAlert[] = [];
    const registry = new Registry();
    const mgr = new RuleManager({ query: queryFor(storage), appendable: storage, queryable: storage, notify: (a) => sent.push(...a), logger: silentLogger, scheduler: sched, registry });
    t.write('a.yml', 'groups:\n- name: keep\n  interval: 10s\n  rules:\n  - record: kept\n    expr: m\n');
    t.write('b.yml', 'groups:\n- name: change\n  interval: 10s\n  rules:\n  - alert: Hot\n    expr: m > 0\n    for: 1m\n    labels: {severity: page}\n');
    t.write('c.yml', 'groups:\n- name: gone\n  interval: 10s\n  rules:\n  - record: going\n    expr: m\n');
    const cfg = { files: ['*.yml'], baseDir: t.dir, evaluationIntervalMs: 15 * S, externalLabels: Labels.EMPTY, externalURL: 'http://vigil.test/' };
    const r1 = await mgr.update(cfg);
    assert.deepEqual(r1.problems, []);
    assert.equal(r1.groups, 3);
    mgr.start();
    await sched.advance(90 * S);
    const keep = mgr.groups().find((g) => g.name === 'keep')!;
    const hot = mgr.alertingRules()[0]!;
    assert.equal(hot.state(), 'firing');
    const activeAt = hot.activeAlerts()[0]!.activeAt;
    assert.ok(sent.length > 0);
    const a = sent[0]!;
    assert.equal(a.labels.toString(), '{alertname="Hot", i="1", severity="page"}');
    assert.equal(a.generatorURL, 'http://vigil.test' + tableLinkForExpression('m > 0'));
    assert.equal(a.generatorURL, 'http://vigil.test/graph?g0.expr=m+%3E+0&g0.tab=1');
    assert.ok(a.startsAt > 0 && a.endsAt === a.startsAt + 4 * 60 * S, 'endsAt = firedAt + 4 × max(resend delay, interval)');

    // Reload: a changed (expr), c removed, d broken.
    t.write('b.yml', 'groups:\n- name: change\n  interval: 10s\n  rules:\n  - alert: Hot\n    expr: m >= 1\n    for: 1m\n    labels: {severity: page}\n');
    rmSync(join(t.dir, 'c.yml'));
    t.write('d.yml', 'groups:\n- name: broken\n  rules:\n  - alert: X\n    expr: up ==\n');
    const r2 = await mgr.update(cfg);
    assert.equal(r2.problems.length, 1);
    assert.match(r2.problems[0]!.text, /could not parse expression/);
    assert.equal(r2.groups, 2);
    assert.equal(mgr.groups().find((g) => g.name === 'keep'), keep, 'unchanged group kept as is');
    const hot2 = mgr.alertingRules()[0]!;
    assert.notEqual(hot2, hot);
    assert.equal(hot2.query, 'm >= 1');
    assert.equal(hot2.activeAlerts()[0]!.activeAt, activeAt, 'alert state carried over');
    assert.equal(hot2.activeAlerts()[0]!.state, 'firing');
    await sched.advance(30 * S);
    const going = await dump(storage, 'going');
    assert.deepEqual(going.get('{__name__="going", i="1"}')!.at(-1)![1], 'stale', 'removed group marks its series stale two intervals later');

    // A file that breaks on reload keeps its last good groups.
    t.write('a.yml', 'groups:\n- name: keep\n  rules:\n  - record: kept\n    expr: m +\n');
    const r3 = await mgr.update(cfg);
    assert.equal(r3.problems.length, 2);
    assert.equal(mgr.groups().find((g) => g.name === 'keep'), keep);
    const text = await registry.metrics();
    assert.match(text, /vigil_rule_group_rules\{rule_group=".*a\.yml;keep"\} 1/);
    assert.match(text, /vigil_rule_evaluations_total\{rule_group=".*a\.yml;keep"\} \d+/);
    const health = await mgr.healthCheck().run();
    assert.equal((health as { status: string }).status, 'warn');
    await mgr.stop();
    const n = keep.stats.evaluationsTotal;
    await sched.advance(60 * S);
    await flush();
    assert.equal(keep.stats.evaluationsTotal, n, 'stopped');
  } finally {
    t.done();
  }
});

test('rule files: a malformed glob and a missing file are reported, other files load', async () => {
  const t = tmp();
  try {
    t.write('ok.yml', 'groups:\n- name: ok\n  rules:\n  - record: r\n    expr: vector(1)\n');
    const storage = new MemoryStorage();
    const mgr = new RuleManager({ query: queryFor(storage), appendable: storage, logger: silentLogger, scheduler: new VirtualScheduler(0) });
    const r = await mgr.update({ files: ['ok.yml', 'nothing-*.yml', 'bad[.yml'], baseDir: t.dir, evaluationIntervalMs: 60 * S, externalLabels: Labels.EMPTY, externalURL: '' });
    assert.equal(r.groups, 1);
    assert.equal(r.problems.length, 1);
    assert.match(r.problems[0]!.text, /syntax error in pattern/);
    await mgr.stop();
  } finally {
    t.done();
  }
});
