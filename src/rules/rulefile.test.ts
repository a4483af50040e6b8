/**
 * Rule file parsing and validation (promtool's messages, asserted here without promtool),
 * the series notation of unit tests, globs, xxhash, and fuzzy comparison.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isStaleNaN } from '../model/index.ts';
import { findDuplicateRules, formatDuplicates, formatRuleFileProblem, parseRuleFile } from './rulefile.ts';
import { glob } from './glob.ts';
import { parseMetric, parseSeriesDesc } from './unittest/series.ts';
import { xxhash64 } from './xxhash.ts';
import { evalOffsetMs } from './group.ts';
import { runRuleTests } from './unittest/runner.ts';
import { queryFor } from './testing.ts';

const here = new URL('.', import.meta.url).pathname;

function problems(text: string, file = 'r.yml'): string[] {
  return parseRuleFile(text, file).problems.map(formatRuleFileProblem);
}

test('semantic problems: promtool\'s texts with file, line:column, group, rule index and name', () => {
  const text = readFileSync(join(here, 'testdata/check/semantic_errors.yml'), 'utf8');
  assert.deepEqual(problems(text, 'semantic_errors.yml'), [
    'semantic_errors.yml: 5:15: group "g1", rule 1, "A": could not parse expression: 1:6: parse error: unexpected end of input',
    'semantic_errors.yml: group "g1", rule 1, "A": invalid label name: __name__',
    'semantic_errors.yml: group "g1", rule 1, "A": invalid label name: foo-bar',
    'semantic_errors.yml: group "g1", rule 1, "A": invalid annotation name: bad-ann',
    'semantic_errors.yml: group "g1", rule 1, "A": annotation "summary": template: __alert_A:1: unclosed action',
    'semantic_errors.yml: 12:17: group "g1", rule 2, "foo{x}": invalid field \'annotations\' in recording rule',
    'semantic_errors.yml: 12:17: group "g1", rule 2, "foo{x}": invalid field \'for\' in recording rule',
    'semantic_errors.yml: 12:17: group "g1", rule 2, "foo{x}": invalid recording rule name: foo{x}',
    'semantic_errors.yml: 0:0: group "g1", rule 3, "": one of \'record\' or \'alert\' must be set',
    'semantic_errors.yml: 17:17: 18:16: group "g1", rule 4, "a": only one of \'record\' and \'alert\' must be set',
    'semantic_errors.yml: 0:0: group "g1", rule 5, "": one of \'record\' or \'alert\' must be set',
    'semantic_errors.yml: 21:15: group "g1", rule 5, "": field \'expr\' must be set in rule',
    'semantic_errors.yml: 22:5: groupname: "g1" is repeated in the same file',
    'semantic_errors.yml: 24:5: Groupname must not be empty',
  ]);
});

test('structural problems: unknown keys and wrong types as Go\'s YAML decoder reports them; a bad duration names its line', () => {
  assert.deepEqual(problems('groups:\n- name: g\n  rules:\n  - record: a\n    expr: up\n    bogus: 1\n'), ['r.yml: yaml: unmarshal errors:\n  line 6: field bogus not found in type rulefmt.RuleNode']);
  assert.deepEqual(problems('groups:\n- name: g\n  limit: many\n  rules: []\n'), ['r.yml: yaml: unmarshal errors:\n  line 3: cannot unmarshal !!str `many` into int']);
  assert.deepEqual(problems('groups:\n- name: g\n  interval: 5x\n  rules: []\n'), ['r.yml: 3:13: not a valid duration string: "5x"']);
  assert.match(problems('groups: [\n')[0]!, /^r\.yml: \d+:\d+: yaml: /);
  assert.deepEqual(problems(''), []);
  assert.deepEqual(problems('groups:\n'), []);
});

test('labels and annotations keep empty values; group labels sit under rule labels; query is the printed expression', () => {
  const r = parseRuleFile('groups:\n- name: g\n  labels: {team: a, x: "1"}\n  rules:\n  - record: r\n    expr: sum(up)by(job)\n    labels: {x: "2", drop: ""}\n', 'f.yml');
  assert.deepEqual(r.problems, []);
  const d = r.groups[0]!.rules[0]!;
  assert.deepEqual(d.labels.pairs, ['drop', '', 'team', 'a', 'x', '2']);
  assert.equal(d.query, 'sum by (job) (up)');
});

test('duplicate rules lint: same name and labels, reported once, sorted', () => {
  const r = parseRuleFile(readFileSync(join(here, 'testdata/check/duplicates.yml'), 'utf8'), 'd.yml');
  const d = findDuplicateRules(r.groups);
  assert.equal(formatDuplicates(d), '1 duplicate rule(s) found.\nMetric: job:up:sum\nLabel(s):\n\ta: 1\n\tb: 2\nMight cause inconsistency while recording expressions');
});

test('series notation: expansion by repeated addition, blanks, stale markers, numbers as PromQL writes them', () => {
  const { labels, data } = parseSeriesDesc('m{a="1", b=\'x\'}', '1 _ -2+4x3 1x2 _x2 stale 0x1 Inf -Inf NaN 0.1+0.1x2');
  assert.equal(labels.toString(), '{__name__="m", a="1", b="x"}');
  const got: Array<number | string> = [];
  for (let i = 0; i < data.values.length; i++) got.push(data.present[i] ? (isStaleNaN(data.values[i]!) ? 'stale' : data.values[i]!) : '_');
  assert.deepEqual(got.slice(0, -3), [1, '_', -2, 2, 6, 10, 1, 1, 1, '_', '_', 'stale', 0, 0, Infinity, -Infinity, NaN]);
  assert.deepEqual(got.slice(-3), [0.1, 0.2, 0.30000000000000004]);
  assert.throws(() => parseSeriesDesc('m', '1 2 abc'), { message: '1:7: parse error: unexpected identifier "abc" in series values, expected number or "stale"' });
  assert.throws(() => parseSeriesDesc('m', '1 2 3x'), { message: '1:9: parse error: unexpected end of input in series values' });
  assert.throws(() => parseSeriesDesc('up{job="a"', '1 2'), { message: '1:12: parse error: unexpected character inside braces: \'1\'' });
  assert.equal(parseMetric('{__name__="x", y="z"}').toString(), '{__name__="x", y="z"}');
  assert.throws(() => parseMetric('m{a=1}'), /unexpected character inside braces: '1'/);
});

test('globs as Go\'s filepath.Glob: *, ?, classes, sorted; malformed patterns refused', () => {
  const dir = mkdtempSync(join(tmpdir(), 'vigil-glob-'));
  try {
    mkdirSync(join(dir, 'sub-1'));
    for (const f of ['a.yml', 'b.yml', 'c.yaml', 'sub-1/d.yml']) writeFileSync(join(dir, f), '');
    assert.deepEqual(glob('*.yml', dir), [join(dir, 'a.yml'), join(dir, 'b.yml')]);
    assert.deepEqual(glob('[ab].y?l', dir), [join(dir, 'a.yml'), join(dir, 'b.yml')]);
    assert.deepEqual(glob('sub-*/*.yml', dir), [join(dir, 'sub-1/d.yml')]);
    assert.deepEqual(glob('nothing.yml', dir), []);
    assert.throws(() => glob('bad[.yml', dir), /syntax error in pattern/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('xxhash64 test vectors and the group offset stays within the interval', () => {
  assert.equal(xxhash64(Buffer.from('')).toString(16), 'ef46db3751d8e999');
  assert.equal(xxhash64(Buffer.from('abc')).toString(16), '44bc2cf5ad770999');
  assert.equal(xxhash64(Buffer.from('Nobody inspects the spammish repetition')).toString(16), 'fbcea83c8a378bf1');
  const off = evalOffsetMs('/etc/rules.yml', 'g', 15_000);
  assert.ok(off >= 0 && off < 15_000);
});

test('fuzzy_compare allows the last bits of a float to differ', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'vigil-fuzzy-'));
  try {
    const t = (fuzzy: boolean) => `${fuzzy ? 'fuzzy_compare: true\n' : ''}rule_files: []\ntests:\n  - input_series: [{series: m, values: '0.1+0.2x1'}]\n    promql_expr_test: [{expr: m, eval_time: 1m, exp_samples: [{labels: m, value: 0.3}]}]\n`;
    writeFileSync(join(dir, 'f.yml'), t(true));
    writeFileSync(join(dir, 'e.yml'), t(false));
    const env = { out: () => {}, err: () => {}, queryFuncFor: (q: Parameters<typeof queryFor>[0]) => queryFor(q) };
    assert.equal(await runRuleTests([join(dir, 'f.yml')], env), 0);
    assert.equal(await runRuleTests([join(dir, 'e.yml')], env), 1, '0.1+0.2 is not 0.3 exactly');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
