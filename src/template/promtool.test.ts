/**
 * Compares Vigil's rendering of alert annotation templates with Prometheus 2.42's: the
 * annotations Vigil renders are written as the expected annotations of a `promtool test rules`
 * file, and promtool (Debian's prometheus package) must report SUCCESS.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { AlertTemplate, checkAlertTemplate, type QuerySample } from './index.ts';

const promtool = spawnSync('promtool', ['--version'], { encoding: 'utf8' });
const skip = promtool.error ? 'promtool not installed (Debian package prometheus)' : false;

const SERIES: [string, number][] = [['1', 1234567.891], ['2', 0], ['3', -5.5], ['4', 0.000123]];

function labelsOf(i: string): Record<string, string> {
  return { __name__: 'm', i, instance: `host${i}.example.com:9090` };
}

function query(expr: string): QuerySample[] {
  const all = SERIES.map(([i, v]) => ({ labels: labelsOf(i), value: v }));
  if (expr === 'm') return all;
  if (expr === "m{i='2'}") return all.filter((s) => s.labels.i === '2');
  return [];
}

function runPromtool(dir: string, args: string[]): { code: number; out: string } {
  try {
    return { code: 0, out: execFileSync('promtool', args, { cwd: dir, encoding: 'utf8', stdio: 'pipe' }) };
  } catch (e) {
    const err = e as { status: number; stdout: string; stderr: string };
    return { code: err.status, out: err.stdout + err.stderr };
  }
}

test('annotation templates render as promtool test rules expects', { skip }, () => {
  const templates: string[] = JSON.parse(readFileSync(new URL('./testdata/prom-annotations.json', import.meta.url), 'utf8'));
  const annotations: Record<string, string> = {};
  templates.forEach((t, i) => (annotations['a' + String(i).padStart(2, '0')] = t));
  const compiled = Object.entries(annotations).map(([k, t]) => [k, new AlertTemplate('A', t)] as const);
  const expAlerts = SERIES.map(([i, v]) => {
    const labels = labelsOf(i);
    const exp_annotations: Record<string, string> = {};
    for (const [k, tpl] of compiled) {
      exp_annotations[k] = tpl.expand({ labels, externalLabels: {}, externalURL: '', value: v }, { query, timestampMs: 0, externalURL: '' }).text;
    }
    return { exp_labels: { i, instance: labels.instance }, exp_annotations };
  });
  // The fixture includes error cases: make sure they are rendered as errors, not skipped.
  assert.ok(expAlerts[0]!.exp_annotations['a15']!.startsWith('<error expanding template: error executing template __alert_A: template: __alert_A:1:115:'));
  const dir = mkdtempSync(join(tmpdir(), 'vigil-template-'));
  try {
    writeFileSync(join(dir, 'rules.yml'), stringify({ groups: [{ name: 'g', rules: [{ alert: 'A', expr: 'm', annotations }] }] }));
    writeFileSync(join(dir, 'test.yml'), stringify({
      rule_files: ['rules.yml'],
      evaluation_interval: '1m',
      tests: [{
        interval: '1m',
        input_series: SERIES.map(([i, v]) => ({ series: `m{i="${i}",instance="host${i}.example.com:9090"}`, values: String(v) })),
        alert_rule_test: [{ eval_time: '0m', alertname: 'A', exp_alerts: expAlerts }],
      }],
    }));
    const r = runPromtool(dir, ['test', 'rules', 'test.yml']);
    assert.equal(r.code, 0, r.out.slice(0, 4000));
    assert.match(r.out, /SUCCESS/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('parse errors are reported with the text promtool check rules prints', { skip }, () => {
  const cases = ['{{ if }}', '{{ nosuch 1 }}', '{{ $x }}', '{{ end }}', '{{ .a | 3 }}', '{{ "unterminated }}', '{{ range }}{{ end', '{{ 1 2 }}{{ (1 }}'];
  const dir = mkdtempSync(join(tmpdir(), 'vigil-template-'));
  try {
    for (const text of cases) {
      writeFileSync(join(dir, 'rules.yml'), stringify({ groups: [{ name: 'g', rules: [{ alert: 'A', expr: 'm', annotations: { x: text } }] }] }));
      const r = runPromtool(dir, ['check', 'rules', 'rules.yml']);
      const m = /annotation "x": (.*)/.exec(r.out);
      assert.ok(m, `promtool accepted ${text}: ${r.out}`);
      assert.equal(checkAlertTemplate('A', text), m[1], text);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
