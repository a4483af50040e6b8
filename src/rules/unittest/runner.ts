/**
 * `vigil test rules`: promtool's rule unit-test format and output (`promtool test rules`,
 * Prometheus 2.42). For each test file: `Unit Testing:  FILE` on stdout, then `  SUCCESS`, or
 * `  FAILED:` on stderr followed by each failure (each followed by an empty line on stdout).
 * Exit code 0 when every file passes, 1 otherwise.
 *
 * Each test group gets a fresh in-memory store holding its `input_series` (step i at
 * i × interval from time 0); the rule files' groups are evaluated every `evaluation_interval`
 * from 0 to the largest `eval_time` (groups in `group_eval_order`), alerts compared after the
 * evaluation at or just before their `eval_time`, PromQL expressions evaluated at the end.
 */
import { dirname, isAbsolute, join, relative } from 'node:path';
import { readFile } from 'node:fs/promises';
import { LineCounter, parseDocument } from 'yaml';
import pino from 'pino';
import { Labels, compareLabels, errorMessage, formatDuration } from '../../model/index.ts';
import { MemoryStorage, type Queryable } from '../../storage/index.ts';
import { formatGoDuration } from '../../template/index.ts';
import { glob } from '../glob.ts';
import { Group, realScheduler } from '../group.ts';
import { formatFloatE } from '../promql.ts';
import { AlertingRule, ALERT_NAME_LABEL } from '../rule.ts';
import { formatRuleFileProblem, loadRuleFile, pairsToLabels, type RuleGroupDef } from '../rulefile.ts';
import type { QueryFunc } from '../types.ts';
import { Decoder, type YamlNode } from '../yamlstrict.ts';
import { parseMetric, parseSeriesDesc } from './series.ts';

/** Where the runner writes, and how it queries. */
export interface RuleTestEnv {
  out(s: string): void;
  err(s: string): void;
  /**
   * A query function over `queryable` (Prometheus' test engine: 5m lookback, subqueries without
   * a step use `subqueryStepMs`). It must reject non-vector, non-scalar results with
   * `rule result is not a vector or scalar`.
   */
  queryFuncFor(queryable: Queryable, opts: { subqueryStepMs: number }): QueryFunc;
  /** Directory relative file names are shown against (default: process.cwd()). */
  cwd?: string;
}

interface SeriesIn {
  series: string;
  values: string;
}

interface AlertTestCase {
  evalTimeMs: number;
  alertname: string;
  expAlerts: Array<{ labels: Array<[string, string]>; annotations: Array<[string, string]> }>;
}

interface PromqlTestCase {
  expr: string;
  evalTimeMs: number;
  expSamples: Array<{ labels: string; value: number }>;
}

interface TestGroup {
  intervalMs: number;
  inputSeries: SeriesIn[];
  alertRuleTests: AlertTestCase[];
  promqlExprTests: PromqlTestCase[];
  externalLabels: Labels;
  externalURL: string;
  name: string;
}

interface UnitTestFile {
  ruleFiles: string[];
  /** Newer promtool: compare sample values allowing a relative error of 1e-6. */
  fuzzyCompare: boolean;
  evaluationIntervalMs: number;
  groupEvalOrder: string[];
  tests: TestGroup[];
}

class TestFailure extends Error {}

/** Runs the test files; returns the exit code (0 all passed, 1 otherwise). */
export async function runRuleTests(files: readonly string[], env: RuleTestEnv): Promise<number> {
  let failed = false;
  for (const f of files) {
    env.out(`Unit Testing:  ${f}\n`);
    const errs = await ruleUnitTest(f, env);
    if (errs.length > 0) {
      env.err('  FAILED:\n');
      for (const e of errs) {
        env.err(e + '\n');
        env.out('\n');
      }
      failed = true;
    } else env.out('  SUCCESS\n');
    env.out('\n');
  }
  return failed ? 1 : 0;
}

const FILE_KEYS = new Set(['rule_files', 'evaluation_interval', 'group_eval_order', 'tests', 'fuzzy_compare']);
const GROUP_KEYS = new Set(['interval', 'input_series', 'alert_rule_test', 'promql_expr_test', 'external_labels', 'external_url', 'name']);
const SERIES_KEYS = new Set(['series', 'values']);
const ALERT_CASE_KEYS = new Set(['eval_time', 'alertname', 'exp_alerts']);
const ALERT_KEYS = new Set(['exp_labels', 'exp_annotations']);
const PROMQL_CASE_KEYS = new Set(['expr', 'eval_time', 'exp_samples']);
const SAMPLE_KEYS = new Set(['labels', 'value']);

function decodeTestFile(text: string): UnitTestFile {
  const lc = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lc, prettyErrors: false, uniqueKeys: true, strict: false, version: '1.2' });
  if (doc.errors.length > 0) {
    const e = doc.errors[0]!;
    throw new TestFailure(`yaml: line ${lc.linePos(e.pos[0]).line}: ${e.message.split('\n')[0]}`);
  }
  const d = new Decoder(text, lc);
  const out: UnitTestFile = { ruleFiles: [], fuzzyCompare: false, evaluationIntervalMs: 0, groupEvalOrder: [], tests: [] };
  const root = doc.contents as YamlNode | null;
  if (!d.isNull(root)) {
    const f = d.fields(root!, FILE_KEYS, 'main.unitTestFile');
    if (f) {
      out.ruleFiles = d.list(f.get('rule_files')?.value, '[]string').map((n) => d.str(n));
      out.evaluationIntervalMs = d.duration(f.get('evaluation_interval')?.value) ?? 0;
      out.fuzzyCompare = d.bool(f.get('fuzzy_compare')?.value);
      out.groupEvalOrder = d.list(f.get('group_eval_order')?.value, '[]string').map((n) => d.str(n));
      for (const gn of d.list(f.get('tests')?.value, '[]main.testGroup')) {
        const g = d.fields(gn, GROUP_KEYS, 'main.testGroup');
        if (!g) continue;
        const tg: TestGroup = {
          intervalMs: d.duration(g.get('interval')?.value) ?? 0,
          inputSeries: [],
          alertRuleTests: [],
          promqlExprTests: [],
          externalLabels: pairsToLabels(d.stringMap(g.get('external_labels')?.value).map(([k, v]) => [k, v] as const)),
          externalURL: d.str(g.get('external_url')?.value),
          name: d.str(g.get('name')?.value),
        };
        for (const sn of d.list(g.get('input_series')?.value, '[]main.series')) {
          const s = d.fields(sn, SERIES_KEYS, 'main.series');
          if (s) tg.inputSeries.push({ series: d.str(s.get('series')?.value), values: d.str(s.get('values')?.value) });
        }
        for (const an of d.list(g.get('alert_rule_test')?.value, '[]main.alertTestCase')) {
          const a = d.fields(an, ALERT_CASE_KEYS, 'main.alertTestCase');
          if (!a) continue;
          const tc: AlertTestCase = { evalTimeMs: d.duration(a.get('eval_time')?.value) ?? 0, alertname: d.str(a.get('alertname')?.value), expAlerts: [] };
          for (const en of d.list(a.get('exp_alerts')?.value, '[]main.alert')) {
            const e = d.fields(en, ALERT_KEYS, 'main.alert');
            if (!e) continue;
            tc.expAlerts.push({
              labels: d.stringMap(e.get('exp_labels')?.value).map(([k, v]) => [k, v]),
              annotations: d.stringMap(e.get('exp_annotations')?.value).map(([k, v]) => [k, v]),
            });
          }
          tg.alertRuleTests.push(tc);
        }
        for (const pn of d.list(g.get('promql_expr_test')?.value, '[]main.promqlTestCase')) {
          const p = d.fields(pn, PROMQL_CASE_KEYS, 'main.promqlTestCase');
          if (!p) continue;
          const tc: PromqlTestCase = { expr: d.str(p.get('expr')?.value), evalTimeMs: d.duration(p.get('eval_time')?.value) ?? 0, expSamples: [] };
          for (const sn of d.list(p.get('exp_samples')?.value, '[]main.sample')) {
            const s = d.fields(sn, SAMPLE_KEYS, 'main.sample');
            if (s) tc.expSamples.push({ labels: d.str(s.get('labels')?.value), value: d.float(s.get('value')?.value) });
          }
          tg.promqlExprTests.push(tc);
        }
        out.tests.push(tg);
      }
    }
  }
  if (d.otherErrors.length > 0) throw new TestFailure(d.otherErrors[0]!.text.replace(/^\d+:\d+: /, ''));
  if (d.unmarshalErrors.length > 0) throw new TestFailure(`yaml: unmarshal errors:\n  ${d.unmarshalErrors.join('\n  ')}`);
  return out;
}

async function ruleUnitTest(filename: string, env: RuleTestEnv): Promise<string[]> {
  let text: string;
  try {
    text = await readFile(filename, 'utf8');
  } catch (e) {
    return [`open ${filename}: ${(e as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file or directory' : errorMessage(e)}`];
  }
  let utf: UnitTestFile;
  try {
    utf = decodeTestFile(text);
  } catch (e) {
    return [errorMessage(e)];
  }
  const cwd = env.cwd ?? process.cwd();
  const ruleFiles: string[] = [];
  for (const rf of utf.ruleFiles) {
    const pattern = rf !== '' && !isAbsolute(rf) ? join(dirname(filename), rf) : rf;
    let matches: string[];
    try {
      matches = glob(pattern, cwd);
    } catch (e) {
      return [errorMessage(e)];
    }
    if (matches.length === 0) env.err(`  WARNING: no file match pattern ${pattern}\n`);
    for (const m of matches) ruleFiles.push(isAbsolute(pattern) ? m : relative(cwd, m));
  }
  const evalIntervalMs = utf.evaluationIntervalMs || 60_000;
  const groupOrder = new Map<string, number>();
  for (let i = 0; i < utf.groupEvalOrder.length; i++) {
    const gn = utf.groupEvalOrder[i]!;
    if (groupOrder.has(gn)) return [`group name repeated in evaluation order: ${gn}`];
    groupOrder.set(gn, i);
  }
  const errs: string[] = [];
  for (const tg of utf.tests) {
    const r = await runTestGroup(tg, evalIntervalMs, groupOrder, ruleFiles, env, cwd, utf.fuzzyCompare);
    errs.push(...r);
  }
  return errs;
}

async function runTestGroup(tg: TestGroup, evalIntervalMs: number, groupOrder: Map<string, number>, ruleFiles: string[], env: RuleTestEnv, cwd: string, fuzzy: boolean): Promise<string[]> {
  const intervalMs = tg.intervalMs || evalIntervalMs;
  const storage = new MemoryStorage();
  // Load the input series.
  {
    const app = storage.appender();
    for (const s of tg.inputSeries) {
      let parsed;
      try {
        parsed = parseSeriesDesc(s.series, s.values);
      } catch (e) {
        return [errorMessage(e)];
      }
      const { values, present } = parsed.data;
      let ref = 0;
      for (let i = 0; i < values.length; i++) {
        if (present[i] === 0) continue;
        try {
          ref = app.append(ref, parsed.labels, i * intervalMs, values[i]!);
        } catch (e) {
          return [errorMessage(e)];
        }
      }
    }
    await app.commit();
  }
  const query = env.queryFuncFor(storage, { subqueryStepMs: evalIntervalMs });

  // Load the rule files.
  const defs: RuleGroupDef[] = [];
  const loadErrs: string[] = [];
  for (const f of ruleFiles) {
    const parsed = await loadRuleFile(isAbsolute(f) ? f : join(cwd, f));
    for (const p of parsed.problems) loadErrs.push(formatRuleFileProblem({ ...p, file: f }));
    for (const g of parsed.groups) defs.push({ ...g, file: f, rules: g.rules });
  }
  if (loadErrs.length > 0) return loadErrs;
  const logger = pino({ level: 'silent' });
  const groups = defs
    .map((def, i) => ({ i, g: new Group(def, intervalMs, {
      query, appendable: storage, notify: () => {}, logger, scheduler: realScheduler,
      externalURL: tg.externalURL, externalLabels: tg.externalLabels,
      outageToleranceMs: 3_600_000, forGracePeriodMs: 600_000, resendDelayMs: 60_000,
    }, { restored: true }) }))
    .sort((a, b) => (groupOrder.get(a.g.name) ?? 0) - (groupOrder.get(b.g.name) ?? 0) || a.i - b.i)
    .map((x) => x.g);

  const testName = tg.name !== '' ? `    name: ${tg.name},\n` : '';
  const alertEvalTimes = new Set<number>();
  const alertsInTest = new Map<number, Set<string>>();
  const alertTests = new Map<number, AlertTestCase[]>();
  for (const a of tg.alertRuleTests) {
    if (a.alertname === '') {
      return [`an item under alert_rule_test misses required attribute alertname at eval_time ${formatDuration(a.evalTimeMs)}${tg.name !== '' ? ` (in TestGroup ${tg.name})` : ''}`];
    }
    alertEvalTimes.add(a.evalTimeMs);
    if (!alertsInTest.has(a.evalTimeMs)) alertsInTest.set(a.evalTimeMs, new Set());
    alertsInTest.get(a.evalTimeMs)!.add(a.alertname);
    const l = alertTests.get(a.evalTimeMs) ?? [];
    l.push(a);
    alertTests.set(a.evalTimeMs, l);
  }
  const evalTimes = [...alertEvalTimes].sort((a, b) => a - b);
  let maxT = 0;
  for (const a of tg.alertRuleTests) maxT = Math.max(maxT, a.evalTimeMs);
  for (const p of tg.promqlExprTests) maxT = Math.max(maxT, p.evalTimeMs);

  const errs: string[] = [];
  let curr = 0;
  for (let ts = 0; ts <= maxT; ts += evalIntervalMs) {
    const evalErrs: string[] = [];
    for (const g of groups) {
      await g.eval(ts);
      for (const r of g.rules) {
        if (r.lastError) evalErrs.push(`    rule: ${r.name}, time: ${goDuration(ts)}, err: ${errorMessage(r.lastError)}`);
      }
    }
    errs.push(...evalErrs);
    if (evalErrs.length > 0) return errs;

    while (curr < evalTimes.length && ts <= evalTimes[curr]! && evalTimes[curr]! < ts + evalIntervalMs) {
      const t = evalTimes[curr]!;
      const present = alertsInTest.get(t)!;
      const got = new Map<string, LabelsAndAnnotations[]>();
      for (const g of groups) {
        for (const r of g.rules) {
          if (!(r instanceof AlertingRule) || !present.has(r.name)) continue;
          const list = got.get(r.name) ?? [];
          for (const a of r.activeAlerts()) if (a.state === 'firing') list.push({ labels: a.labels, annotations: a.annotations });
          got.set(r.name, list);
        }
      }
      for (const tc of alertTests.get(t)!) {
        const gotAlerts = [...(got.get(tc.alertname) ?? [])];
        const expAlerts: LabelsAndAnnotations[] = tc.expAlerts.map((a) => ({
          labels: pairsToLabels([...a.labels.filter(([k]) => k !== ALERT_NAME_LABEL), [ALERT_NAME_LABEL, tc.alertname]]),
          annotations: pairsToLabels(a.annotations),
        }));
        gotAlerts.sort(compareLA);
        expAlerts.sort(compareLA);
        if (!equalLA(expAlerts, gotAlerts)) {
          const expString = indentLines(laString(expAlerts), '            ');
          const gotString = indentLines(laString(gotAlerts), '            ');
          errs.push(`${testName}    alertname: ${tc.alertname}, time: ${formatDuration(tc.evalTimeMs)}, \n        exp:${expString}, \n        got:${gotString}`);
        }
      }
      curr++;
    }
  }

  outer: for (const tc of tg.promqlExprTests) {
    let got;
    try {
      got = await query(tc.expr, tc.evalTimeMs);
    } catch (e) {
      errs.push(`    expr: ${goQuote(tc.expr)}, time: ${formatDuration(tc.evalTimeMs)}, err: ${errorMessage(e)}`);
      continue;
    }
    const gotSamples = got.map((s) => ({ labels: s.metric, value: s.v }));
    const expSamples: Array<{ labels: Labels; value: number }> = [];
    for (const s of tc.expSamples) {
      let lb: Labels;
      try {
        lb = parseMetric(s.labels);
      } catch (e) {
        errs.push(`    expr: ${goQuote(tc.expr)}, time: ${formatDuration(tc.evalTimeMs)}, err: labels ${goQuote(s.labels)}: ${errorMessage(e)}`);
        continue outer;
      }
      expSamples.push({ labels: lb, value: s.value });
    }
    expSamples.sort((a, b) => compareLabels(a.labels, b.labels));
    gotSamples.sort((a, b) => compareLabels(a.labels, b.labels));
    const same = expSamples.length === gotSamples.length && expSamples.every((e, i) => e.labels.equals(gotSamples[i]!.labels) && (fuzzy ? almostEqual(e.value, gotSamples[i]!.value) : e.value === gotSamples[i]!.value));
    if (!same) {
      errs.push(`    expr: ${goQuote(tc.expr)}, time: ${formatDuration(tc.evalTimeMs)},\n        exp: ${samplesString(expSamples)}\n        got: ${samplesString(gotSamples)}`);
    }
  }
  return errs;
}

/** Relative comparison with epsilon 1e-6 (NaN equals NaN), as promtool's fuzzy_compare. */
function almostEqual(a: number, b: number): boolean {
  if (Number.isNaN(a) && Number.isNaN(b)) return true;
  if (a === b) return true;
  const minNormal = 2.2250738585072014e-308;
  const absSum = Math.abs(a) + Math.abs(b);
  const diff = Math.abs(a - b);
  if (a === 0 || b === 0 || absSum < minNormal) return diff < 1e-6 * minNormal;
  return diff / Math.min(absSum, Number.MAX_VALUE) < 1e-6;
}

interface LabelsAndAnnotations {
  labels: Labels;
  annotations: Labels;
}

function compareLA(a: LabelsAndAnnotations, b: LabelsAndAnnotations): number {
  return compareLabels(a.labels, b.labels) || compareLabels(a.annotations, b.annotations);
}

function equalLA(a: LabelsAndAnnotations[], b: LabelsAndAnnotations[]): boolean {
  return a.length === b.length && a.every((x, i) => x.labels.equals(b[i]!.labels) && x.annotations.equals(b[i]!.annotations));
}

function laString(la: LabelsAndAnnotations[]): string {
  if (la.length === 0) return '[]';
  const one = (x: LabelsAndAnnotations) => `Labels:${x.labels.toString()}\nAnnotations:${x.annotations.toString()}`;
  let s = '[\n0:' + indentLines('\n' + one(la[0]!), '  ');
  for (let i = 1; i < la.length; i++) s += ',\n' + i + ':' + indentLines('\n' + one(la[i]!), '  ');
  return s + '\n]';
}

function indentLines(lines: string, indent: string): string {
  const n = lines.split('\n');
  let out = '';
  n.forEach((l, i) => {
    if (i > 0) out += indent;
    out += l;
    if (i !== n.length - 1) out += '\n';
  });
  return out;
}

function samplesString(ss: Array<{ labels: Labels; value: number }>): string {
  if (ss.length === 0) return 'nil';
  return ss.map((s) => `${s.labels.toString()} ${formatFloatE(s.value).replace('e', 'E')}`).join(', ');
}

/** Go's time.Duration String() of ms (`0s`, `1m0s`, `1h30m0s`, `500ms`). */
function goDuration(ms: number): string {
  return formatGoDuration(BigInt(ms) * 1_000_000n);
}

function goQuote(s: string): string {
  return JSON.stringify(s).replace(/\\u00([0-9a-f]{2})/g, '\\x$1');
}
