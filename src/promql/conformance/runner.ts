/**
 * Runs Prometheus' PromQL test scripts against Vigil's engine and a pluggable store, with the
 * upstream harness' semantics (FORMAT.md §7–8): instant evals are re-run with `@`-pinned
 * selectors at other times and cross-checked as short range queries; results are compared with
 * the harness' float tolerance.
 *
 * Skipped (with a reason): evals that need native histograms (not stored yet by Vigil), start
 * timestamps, or experimental features the engine does not implement.
 */
import { isStaleNaN, compareLabels, type Labels, type Matcher } from '../../model/index.ts';
import type { Appendable, Queryable } from '../../storage/index.ts';
import { walk, type Expr, type SubqueryExpr, type VectorSelector } from '../ast.ts';
import { Engine } from '../engine.ts';
import { ParseError } from '../errors.ts';
import { parseExpr, ALL_FEATURES } from '../parser.ts';
import { exprToString } from '../printer.ts';
import type { QueryResult, QueryValue } from '../value.ts';
import { parseScript, type Command, type EvalCommand, type Expectation, type LoadCommand, type SeriesLine } from './script.ts';

/** A store the runner loads data into. `open` returns a fresh, empty store. */
export interface ConformanceStore {
  name: string;
  open(): Promise<OpenStore>;
}

export interface OpenStore {
  appendable: Appendable;
  queryable: Queryable;
  close(): Promise<void>;
}

export interface CaseResult {
  line: number;
  expr: string;
  status: 'pass' | 'fail' | 'skip';
  /** Failure or skip reason. */
  reason?: string;
}

export interface FileResult {
  file: string;
  cases: CaseResult[];
  /** A problem that stopped the file (script syntax, failed load). */
  error?: string;
}

const MIN_NORMAL = 2.2250738585072014e-308;

/** The harness' float comparison (FORMAT.md §8.1). */
export function floatsEqual(e: number, a: number): boolean {
  const es = isStaleNaN(e);
  const as = isStaleNaN(a);
  if (es || as) return es && as;
  if (e !== e && a !== a) return true;
  if (e === a) return true;
  const sum = Math.abs(e) + Math.abs(a);
  const diff = Math.abs(e - a);
  if (e === 0 || a === 0 || sum < MIN_NORMAL) return diff < 1e-6 * MIN_NORMAL;
  return diff / Math.min(sum, Number.MAX_VALUE) < 1e-6;
}

/** Functions whose presence disables the `@` re-runs. */
const AT_UNSAFE = new Set(['days_in_month', 'day_of_month', 'day_of_week', 'day_of_year', 'hour', 'minute', 'month', 'year', 'time', 'timestamp', 'predict_linear', 'start', 'end', 'range', 'step']);

const UNSUPPORTED_FUNCTIONS = new Map<string, string>([
  ['info', 'info() (experimental)'],
  ['start_timestamp', 'start_timestamp() (experimental)'],
]);

class EvalFailure extends Error {}

function fail(msg: string): never {
  throw new EvalFailure(msg);
}

export class ConformanceRunner {
  readonly engine: Engine;

  constructor(private readonly store: ConformanceStore) {
    // The upstream harness' engine settings (FORMAT.md §10); max samples is not exercised.
    this.engine = new Engine({
      delayedNameRemoval: true,
      parseOptions: ALL_FEATURES,
      defaultSubqueryStepMs: 60_000,
      timeoutMs: 100_000,
      maxSamples: 50_000_000,
      maxPointsPerSeries: Number.MAX_SAFE_INTEGER,
    });
  }

  async runFile(file: string, text: string): Promise<FileResult> {
    let cmds: Command[];
    try {
      cmds = parseScript(file, text);
    } catch (e) {
      return { file, cases: [], error: (e as Error).message };
    }
    // The whole file is parsed (PromQL included) before anything runs.
    const parsed = new Map<EvalCommand, Expr>();
    for (const c of cmds) {
      if (c.kind !== 'eval') continue;
      try {
        parsed.set(c, parseExpr(c.expr, ALL_FEATURES));
      } catch (e) {
        return { file, cases: [], error: `${file}:${c.line}: ${(e as Error).message}` };
      }
    }
    const result: FileResult = { file, cases: [] };
    let store = await this.store.open();
    const nhSeries: Labels[] = [];
    const stSeries: Labels[] = [];
    try {
      for (const c of cmds) {
        if (c.kind === 'clear') {
          await store.close();
          store = await this.store.open();
          nhSeries.length = 0;
          stSeries.length = 0;
          continue;
        }
        if (c.kind === 'load') {
          try {
            await this.load(store, c, nhSeries, stSeries);
          } catch (e) {
            result.error = `${file}:${c.line}: load failed: ${(e as Error).message}`;
            return result;
          }
          continue;
        }
        const expr = parsed.get(c)!;
        const skip = this.skipReason(c, expr, nhSeries, stSeries);
        if (skip) {
          result.cases.push({ line: c.line, expr: c.expr, status: 'skip', reason: skip });
          continue;
        }
        try {
          await this.runEval(store.queryable, c, expr);
          result.cases.push({ line: c.line, expr: c.expr, status: 'pass' });
        } catch (e) {
          const msg = e instanceof EvalFailure ? e.message : `unexpected error: ${(e as Error).stack ?? String(e)}`;
          result.cases.push({ line: c.line, expr: c.expr, status: 'fail', reason: msg });
        }
      }
    } finally {
      await store.close();
    }
    return result;
  }

  private async load(store: OpenStore, c: LoadCommand, nhSeries: Labels[], stSeries: Labels[]): Promise<void> {
    // A later line for the same series replaces an earlier one.
    const byKey = new Map<string, SeriesLine>();
    for (const s of c.series) {
      if (s.startTimestamps) {
        stSeries.push(s.labels);
        continue;
      }
      byKey.set(s.labels.key(), s);
    }
    const app = store.appendable.appender();
    for (const s of byKey.values()) {
      if (s.hasHistograms) nhSeries.push(s.labels);
      const { values, kinds } = s.data;
      let ref = 0;
      for (let k = 0; k < kinds.length; k++) {
        if (kinds[k] !== 1) continue;
        ref = app.append(ref, s.labels, k * c.intervalMs, values[k]!);
      }
    }
    await app.commit();
    if (c.withNhcb) {
      for (const s of byKey.values()) {
        const name = s.labels.get('__name__');
        const m = /^(.*)_(bucket|sum|count)$/.exec(name);
        if (!m) continue;
        nhSeries.push(s.labels.with('__name__', m[1]!).without(['le']));
      }
    }
  }

  private skipReason(c: EvalCommand, expr: Expr, nhSeries: Labels[], stSeries: Labels[]): string | undefined {
    if (c.expectsHistograms) return 'native histograms (expected output has histogram samples)';
    let reason: string | undefined;
    const matchesAny = (ms: readonly Matcher[], series: Labels[]): Labels | undefined =>
      series.find((l) => ms.every((m) => m.matches(l.get(m.name))));
    walk(expr, (n) => {
      if (reason) return false;
      if (n.type === 'VectorSelector') {
        const nh = matchesAny(n.matchers, nhSeries);
        if (nh) reason = `native histograms (selector ${exprToString(n)} matches ${nh.toString()})`;
        else if (matchesAny(n.matchers, stSeries)) reason = 'start timestamps (experimental)';
        else if (n.anchored || n.smoothed) reason = `${n.anchored ? 'anchored' : 'smoothed'} range selectors (experimental)`;
      }
      if (n.type === 'Call' && UNSUPPORTED_FUNCTIONS.has(n.func.name)) reason = UNSUPPORTED_FUNCTIONS.get(n.func.name)!;
      if (n.type === 'BinaryExpr' && (n.op === '</' || n.op === '>/')) reason = 'histogram trim operators (experimental)';
      return undefined;
    });
    return reason;
  }

  // ---------------------------------------------------------------- evaluation

  private async runEval(q: Queryable, c: EvalCommand, expr: Expr): Promise<void> {
    const expectFail = c.expectations.find((e) => e.type === 'fail');
    if (!c.instant) {
      let r: QueryResult;
      try {
        r = await this.engine.rangeQuery(q, c.expr, c.start, c.end, c.stepMs);
      } catch (e) {
        this.checkError(e, expectFail);
        return;
      }
      if (expectFail) fail(`expected error but got none`);
      this.checkAnnotations(c, r, false);
      this.compareMatrix(c, r.value, c.start, c.stepMs, c.end);
      return;
    }
    const evalTime = c.rangeVector ? c.rangeVector.end : c.start;
    const runs: Array<{ ast: Expr; text: string; t: number; rerun: boolean }> = [{ ast: expr, text: c.expr, t: evalTime, rerun: false }];
    if (!atUnsafe(expr)) {
      const times = evalTime !== 0 ? [-10 * evalTime, 0, Math.trunc(evalTime / 5), evalTime, 10 * evalTime] : [-1000, 0, 1000];
      for (const t of times) {
        const ast = parseExpr(c.expr, ALL_FEATURES);
        pinAt(ast, evalTime);
        runs.push({ ast, text: exprToString(ast), t, rerun: true });
      }
    }
    const ordered = c.expectations.some((e) => e.type === 'ordered');
    const rangeCheck = !expectFail && !c.rangeVector && c.string === undefined && !/start\(\)|end\(\)|range\(\)|step\(\)/.test(c.expr);
    for (const run of runs) {
      const where = run.rerun ? ` (re-run as ${JSON.stringify(run.text)} at ${run.t}ms)` : '';
      let r: QueryResult;
      try {
        r = await this.engine.instantQuery(q, run.ast, run.t);
      } catch (e) {
        try {
          this.checkError(e, expectFail);
        } catch (f) {
          fail(`${(f as Error).message}${where}`);
        }
        continue;
      }
      if (expectFail) fail(`expected error but got none${where}`);
      try {
        this.checkAnnotations(c, r, run.rerun);
        this.compareInstant(c, r.value, ordered);
      } catch (f) {
        fail(`${(f as Error).message}${where}`);
      }
      if (rangeCheck) {
        let rr: QueryResult;
        try {
          rr = await this.engine.rangeQuery(q, run.ast, run.t - 60_000, run.t + 60_000, 60_000);
        } catch (e) {
          fail(`range-mode check failed: ${(e as Error).message}${where}`);
        }
        if (ordered) continue;
        if (rr.value.type !== 'matrix') fail('range-mode check: not a matrix');
        checkSorted(rr.value.series.map((s) => s.metric));
        const samples = rr.value.series.flatMap((s) => {
          const k = Array.prototype.indexOf.call(s.ts, run.t) as number;
          return k >= 0 ? [{ metric: s.metric, t: run.t, v: s.vs[k]! }] : [];
        });
        try {
          if (c.scalar !== undefined) {
            const v = samples[0]?.v;
            if (v === undefined || !floatsEqual(c.scalar, v)) fail(`expected scalar ${c.scalar} but got ${v}`);
          } else this.compareInstant(c, { type: 'vector', samples }, false);
        } catch (f) {
          fail(`range-mode check: ${(f as Error).message}${where}`);
        }
      }
    }
  }

  private checkError(e: unknown, expectFail: Expectation | undefined): void {
    if (e instanceof EvalFailure) throw e;
    const msg = e instanceof ParseError ? e.message : (e as Error).message;
    if (!expectFail) fail(`unexpected error: ${msg}`);
    if (expectFail.msg !== undefined && expectFail.msg !== msg) fail(`expected error ${JSON.stringify(expectFail.msg)} but got ${JSON.stringify(msg)}`);
    if (expectFail.regex && !expectFail.regex.test(msg)) fail(`expected error matching ${expectFail.regex} but got ${JSON.stringify(msg)}`);
  }

  private checkAnnotations(c: EvalCommand, r: QueryResult, rerun: boolean): void {
    const strip = (s: string): string => s.replace(/ \(\d+:\d+\)$/, '');
    for (const [kind, got] of [['warn', r.warnings], ['info', r.infos]] as const) {
      const exp = c.expectations.filter((e) => e.type === kind);
      const none = c.expectations.some((e) => e.type === `no_${kind}`);
      if (none && got.length > 0) fail(`unexpected ${kind} annotations: ${JSON.stringify(got)}`);
      if (exp.length === 0) continue;
      if (got.length === 0) fail(`expected ${kind} annotations but got none`);
      const matches = (e: Expectation, a: string): boolean => {
        if (e.msg !== undefined) return rerun ? strip(e.msg) === strip(a) : e.msg === a;
        if (e.regex) return e.regex.test(a) || (rerun && e.regex.test(strip(a)));
        return true;
      };
      for (const e of exp) {
        if (!got.some((a) => matches(e, a))) fail(`expected ${kind} ${e.msg ?? e.regex ?? ''} not found in ${JSON.stringify(got)}`);
      }
      for (const a of got) {
        if (!exp.some((e) => matches(e, a))) fail(`unexpected ${kind} annotation ${JSON.stringify(a)}`);
      }
    }
  }

  private compareInstant(c: EvalCommand, v: QueryValue, ordered: boolean): void {
    if (c.string !== undefined) {
      if (v.type !== 'string') fail(`expected string result but got ${v.type}`);
      if (v.v !== c.string) fail(`expected string ${JSON.stringify(c.string)} but got ${JSON.stringify(v.v)}`);
      return;
    }
    if (c.scalar !== undefined) {
      if (v.type !== 'scalar') fail(`expected scalar result but got ${v.type}`);
      if (!floatsEqual(c.scalar, v.v)) fail(`expected scalar ${c.scalar} but got ${v.v}`);
      return;
    }
    if (c.rangeVector) {
      if (v.type !== 'matrix') fail(`expected range vector result but got ${v.type}`);
      this.compareMatrix(c, v, c.rangeVector.start, c.rangeVector.step, c.rangeVector.end);
      return;
    }
    if (v.type !== 'vector') fail(`expected instant vector result but got ${v.type}`);
    const expected = new Map<string, SeriesLine>();
    for (const s of c.series) expected.set(s.labels.key(), s);
    const seen = new Set<string>();
    v.samples.forEach((smp, i) => {
      const key = smp.metric.key();
      const exp = expected.get(key);
      if (!exp) fail(`unexpected series ${smp.metric.toString()} = ${smp.v}`);
      if (ordered) {
        const want = c.series[i];
        if (!want || want.labels.key() !== key) fail(`expected ${want?.labels.toString()} at position ${i + 1} but got ${smp.metric.toString()}`);
      }
      if (exp.data.kinds.length !== 1 || exp.data.kinds[0] !== 1) fail(`expected series ${exp.labels.toString()} must have exactly one float value`);
      const want = exp.data.values[0]!;
      if (!floatsEqual(want, smp.v)) fail(`expected ${want} for ${smp.metric.toString()} but got ${smp.v}`);
      seen.add(key);
    });
    for (const [key, s] of expected) if (!seen.has(key)) fail(`expected series ${s.labels.toString()} not found in result`);
  }

  private compareMatrix(c: EvalCommand, v: QueryValue, start: number, step: number, end: number): void {
    if (v.type !== 'matrix') fail(`expected matrix result but got ${v.type}`);
    checkSorted(v.series.map((s) => s.metric));
    const expected = new Map<string, SeriesLine>();
    for (const s of c.series) expected.set(s.labels.key(), s);
    const seen = new Set<string>();
    for (const s of v.series) {
      const key = s.metric.key();
      const exp = expected.get(key);
      if (!exp) fail(`unexpected series ${s.metric.toString()}`);
      seen.add(key);
      const wantT: number[] = [];
      const wantV: number[] = [];
      const wantIdx: number[] = [];
      exp.data.kinds.forEach((k, i) => {
        if (k === 1) {
          const t = start + i * step;
          if (t > end) fail(`expected value for ${exp.labels.toString()} beyond the end of the range`);
          wantT.push(t);
          wantIdx.push(i);
          wantV.push(exp.data.values[i]!);
        }
      });
      if (wantT.length !== s.ts.length) {
        fail(`expected ${wantT.length} points for ${s.metric.toString()} but got ${s.ts.length}: ${formatPoints(s.ts, s.vs)}`);
      }
      for (let k = 0; k < wantT.length; k++) {
        if (s.ts[k] !== wantT[k]) fail(`expected point at ${wantT[k]} for ${s.metric.toString()} but got ${formatPoints(s.ts, s.vs)}`);
        if (!floatsEqual(exp.data.values[wantIdx[k]!]!, s.vs[k]!)) {
          fail(`expected ${wantV[k]} at ${wantT[k]} for ${s.metric.toString()} but got ${formatPoints(s.ts, s.vs)}`);
        }
      }
    }
    for (const [key, s] of expected) if (!seen.has(key)) fail(`expected series ${s.labels.toString()} not found in result`);
  }
}

function formatPoints(ts: Float64Array, vs: Float64Array): string {
  const out: string[] = [];
  for (let i = 0; i < ts.length && i < 20; i++) out.push(`${vs[i]}@${ts[i]}`);
  return out.join(' ') + (ts.length > 20 ? ' ...' : '');
}

function checkSorted(ls: Labels[]): void {
  for (let i = 1; i < ls.length; i++) {
    if (compareLabels(ls[i - 1]!, ls[i]!) > 0) fail(`matrix not sorted: ${ls[i - 1]!.toString()} before ${ls[i]!.toString()}`);
  }
}

/** True when the expression calls a time-dependent function outside an `@`-pinned subquery. */
function atUnsafe(expr: Expr): boolean {
  let unsafe = false;
  walk(expr, (n) => {
    if (n.type === 'SubqueryExpr' && n.at && n.at.kind === 'time') return false;
    if (n.type === 'Call' && AT_UNSAFE.has(n.func.name)) unsafe = true;
    return undefined;
  });
  return unsafe;
}

/** The harness' rewrite: pin every selector and outermost subquery without a numeric `@` to `t`. */
function pinAt(expr: Expr, t: number): void {
  const at = { kind: 'time' as const, ms: t };
  walk(expr, (n) => {
    if (n.type === 'VectorSelector') {
      const vs = n as VectorSelector;
      if (!vs.at || vs.at.kind !== 'time') vs.at = at;
    }
    if (n.type === 'SubqueryExpr') {
      const sq = n as SubqueryExpr;
      if (!sq.at || sq.at.kind !== 'time') sq.at = at;
      return false;
    }
    return undefined;
  });
}

