/**
 * The PromQL evaluator. Every instant-vector expression is evaluated once over all steps of a
 * grid (an instant query is a one-step grid) into a `StepMatrix`; range-vector functions walk
 * pre-read typed arrays of samples with moving windows. Per-step semantics that Prometheus
 * evaluates step by step (vector matching, duplicate detection, topk, ...) are reproduced by
 * looping over steps inside each operation.
 *
 * Step-invariant sub-expressions (Prometheus' StepInvariantExpr, i.e. pinned with `@`) are
 * evaluated on the first step only and broadcast.
 */
import { Labels, LabelsBuilder, METRIC_NAME, compareLabels, compileAnchoredRe2, formatFloatF, formatFloatG, isStaleNaN, isValidLabelName, type Matcher } from '../../model/index.ts';
import type { Querier, SampleBuffer as StorageSampleBuffer, Series, SeriesSet } from '../../storage/index.ts';
import { ValueType, readSeriesRange } from '../../storage/index.ts';
import { Annotations } from '../annotations.ts';
import {
  isComparisonOp, unwrapParens,
  type AggregateExpr, type BinaryExpr, type BinaryOp, type Call, type DurationExpr, type Expr, type MatrixSelector, type SubqueryExpr, type VectorSelector,
} from '../ast.ts';
import { QueryCanceledError, QueryError, QueryStorageError, QueryTimeoutError, TooManySamplesError } from '../errors.ts';
import { AT_MODIFIER_UNSAFE_FUNCTIONS } from '../functions.ts';
import { goQuote } from '../lexer.ts';
import { parseGoNumber } from '../parser.ts';
import { bucketFraction, bucketQuantile } from './histogram.ts';
import { dropMetadata, groupingKey, groupingLabels, labelsForAbsent, matchLabels, matchingKey, nameDropIsInjective, natLess } from './labels.ts';
import { goMod, goPow, goSortIndices, kahanInc, quantileOf } from './mathutil.ts';
import { DUPLICATE_LABELSET, MatrixBuilder, StepMatrix, makeGrid, type Grid, type RawSeries } from './matrix.ts';
import { KEEPS_NAME, RANGE_KERNELS, type RangeWindow } from './rangefns.ts';

export interface EvalOptions {
  lookbackDelta: number;
  delayedNameRemoval: boolean;
  /** Step (ms) of a subquery written without one, given its range (ms). */
  subqueryStep: (rangeMs: number) => number;
  maxSamples: number;
  /** Absolute deadline (Date.now() ms). */
  deadline: number;
  signal?: AbortSignal;
  /** The query's own start, end and step (ms); step 0 for instant queries. */
  queryStart: number;
  queryEnd: number;
  queryStep: number;
}

export type NodeValue =
  | { kind: 'vector'; m: StepMatrix }
  | { kind: 'scalar'; v: Float64Array }
  | { kind: 'string'; s: string }
  | { kind: 'range'; series: RawSeries[] };

const COUNTER_SUFFIX = /(_total|_sum|_count|_bucket)$/;
const ARITH_OPS = new Set(['+', '-', '*', '/', '%', '^', 'atan2']);

function emptyValue(e: Expr, n: number): NodeValue {
  switch (e.valueType()) {
    case 'scalar':
      return { kind: 'scalar', v: new Float64Array(n) };
    case 'string':
      return { kind: 'string', s: '' };
    case 'matrix':
      return { kind: 'range', series: [] };
    default:
      return { kind: 'vector', m: new StepMatrix(n, 1) };
  }
}

/** Growable pair of sample buffers reused across series (a storage `SampleBuffer`). */
class SampleBuffer implements StorageSampleBuffer {
  ts = new Float64Array(256);
  vs = new Float64Array(256);
  n = 0;
  private wordsOf: Float64Array | undefined;
  private words = new Uint32Array(0);

  /** The 32-bit words of `vs` (low word first), for bit tests such as the stale marker. */
  vsWords(): Uint32Array {
    if (this.wordsOf !== this.vs) {
      this.wordsOf = this.vs;
      this.words = new Uint32Array(this.vs.buffer, this.vs.byteOffset, this.vs.length * 2);
    }
    return this.words;
  }
}

export class Evaluator {
  readonly annos = new Annotations();
  readonly storageWarnings = new Set<string>();
  samplesRead = 0;
  peakSamples = 0;
  private current = 0;
  private ticks = 0;
  private lastYield = Date.now();
  private readonly stepInvariant = new Set<Expr>();
  /** Resolved duration expressions (ms) by node. */
  private readonly resolvedRange = new Map<Expr, number>();
  private readonly resolvedStep = new Map<Expr, number>();
  private readonly resolvedOffset = new Map<Expr, number>();

  /** Set by the engine after `prepare` and `timeRange`, before evaluation. */
  querier!: Querier;

  constructor(private readonly o: EvalOptions) {}

  /**
   * The time range (ms) the query reads, as Prometheus' FindMinMaxTime computes it: every
   * selector's range widened by lookback, ranges, offsets and enclosing subqueries. Call after
   * `prepare` (duration expressions must be resolved).
   */
  timeRange(root: Expr): [number, number] {
    const { queryStart: start, queryEnd: end, lookbackDelta: lookback } = this.o;
    let min = Infinity;
    let max = -Infinity;
    const atMs = (e: VectorSelector | SubqueryExpr): number | null => this.atOf(e);
    const visit = (e: Expr, subqOffset: number, subqRange: number, subqAt: number | null, evalRange: number): void => {
      switch (e.type) {
        case 'VectorSelector': {
          let s = start;
          let t = end;
          if (subqAt !== null) {
            s = subqAt;
            t = subqAt;
          }
          const at = atMs(e);
          if (at !== null) {
            s = at;
            t = at;
          } else {
            s = s - subqOffset - subqRange;
            t = t - subqOffset;
          }
          s -= (evalRange === 0 ? lookback : evalRange) - 1;
          const off = this.offsetOf(e);
          s -= off;
          t -= off;
          if (s < min) min = s;
          if (t > max) max = t;
          return;
        }
        case 'MatrixSelector':
          visit(e.vectorSelector, subqOffset, subqRange, subqAt, this.rangeOf(e));
          return;
        case 'SubqueryExpr': {
          let off = subqOffset + this.offsetOf(e);
          let rng = subqRange + this.rangeOf(e);
          let at = subqAt;
          const a = atMs(e);
          if (a !== null) {
            off = this.offsetOf(e);
            rng = this.rangeOf(e);
            at = a;
          }
          visit(e.expr, off, rng, at, 0);
          return;
        }
        default:
          for (const c of e.children()) visit(c, subqOffset, subqRange, subqAt, 0);
      }
    };
    visit(root, 0, 0, null, 0);
    if (max === -Infinity) return [0, 0];
    return [min, max];
  }

  // ---------------------------------------------------------------- preparation

  /** Marks step-invariant sub-expressions and resolves duration expressions. */
  prepare(root: Expr): void {
    this.resolveDurations(root);
    const [, wrap] = this.markInvariant(root);
    if (wrap) this.stepInvariant.add(root);
  }

  private markInvariant(e: Expr): [boolean, boolean] {
    switch (e.type) {
      case 'VectorSelector':
        return [e.at !== null, e.at !== null];
      case 'AggregateExpr':
        return this.markInvariant(unwrapParens(e.expr));
      case 'BinaryExpr': {
        const [li, lw] = this.markInvariant(e.lhs);
        const [ri, rw] = this.markInvariant(e.rhs);
        if (li && ri) return [true, true];
        if (lw) this.stepInvariant.add(e.lhs);
        if (rw) this.stepInvariant.add(e.rhs);
        return [false, false];
      }
      case 'Call': {
        let inv = !AT_MODIFIER_UNSAFE_FUNCTIONS.has(e.func.name);
        const wraps: boolean[] = [];
        for (const a of e.args) {
          const [ai, aw] = this.markInvariant(unwrapParens(a));
          wraps.push(aw);
          inv = inv && ai;
        }
        if (inv) return [true, true];
        e.args.forEach((a, i) => {
          if (wraps[i]) this.stepInvariant.add(unwrapParens(a));
        });
        return [false, false];
      }
      case 'MatrixSelector': {
        const [inv] = this.markInvariant(e.vectorSelector);
        return [inv, false];
      }
      case 'SubqueryExpr': {
        const [inv] = this.markInvariant(e.expr);
        if (inv) this.stepInvariant.add(e.expr);
        return [e.at !== null, e.at !== null];
      }
      case 'ParenExpr':
        return this.markInvariant(e.expr);
      case 'UnaryExpr':
        return this.markInvariant(e.expr);
      case 'StringLiteral':
      case 'NumberLiteral':
        return [true, false];
      case 'DurationExpr':
        return [true, false];
    }
  }

  private resolveDurations(root: Expr): void {
    const stepSec = this.o.queryStep / 1000;
    const rangeSec = (this.o.queryEnd - this.o.queryStart) / 1000;
    const evalDur = (d: Expr): number => {
      switch (d.type) {
        case 'NumberLiteral':
          return d.val;
        case 'ParenExpr':
          return evalDur(d.expr);
        case 'DurationExpr': {
          const de = d as DurationExpr;
          switch (de.op) {
            case 'step':
              return stepSec;
            case 'range':
              return rangeSec;
            case 'min':
              return Math.min(evalDur(de.lhs!), evalDur(de.rhs!));
            case 'max':
              return Math.max(evalDur(de.lhs!), evalDur(de.rhs!));
          }
          const r = evalDur(de.rhs!);
          if (de.lhs === null) return de.op === '-' ? -r : r;
          const l = evalDur(de.lhs);
          switch (de.op) {
            case '+': return l + r;
            case '-': return l - r;
            case '*': return l * r;
            case '/':
              if (r === 0) throw new QueryError('division by zero');
              return l / r;
            case '%':
              if (r === 0) throw new QueryError('modulo by zero');
              return l % r;
            case '^': return goPow(l, r);
          }
          return 0;
        }
        default:
          throw new QueryError('invalid duration expression');
      }
    };
    const toMs = (sec: number): number => Math.trunc(Math.round(sec * 1e9) / 1e6);
    const visit = (e: Expr): void => {
      if (e.type === 'MatrixSelector' && e.rangeExpr) {
        const ms = toMs(evalDur(e.rangeExpr));
        if (ms <= 0) throw new QueryError(`${formatDurSeconds(ms)} is not a valid duration: range must be positive`);
        this.resolvedRange.set(e, ms);
      }
      if (e.type === 'SubqueryExpr') {
        if (e.rangeExpr) {
          const ms = toMs(evalDur(e.rangeExpr));
          if (ms <= 0) throw new QueryError('subquery range must be positive');
          this.resolvedRange.set(e, ms);
        }
        if (e.stepExpr) {
          const ms = toMs(evalDur(e.stepExpr));
          if (ms <= 0) throw new QueryError('subquery step must be positive');
          this.resolvedStep.set(e, ms);
        }
        if (e.offsetExpr) this.resolvedOffset.set(e, toMs(evalDur(e.offsetExpr)));
      }
      if (e.type === 'VectorSelector' && e.offsetExpr) this.resolvedOffset.set(e, toMs(evalDur(e.offsetExpr)));
      for (const c of e.children()) visit(c);
    };
    visit(root);
  }

  private rangeOf(e: MatrixSelector | SubqueryExpr): number {
    return this.resolvedRange.get(e) ?? e.range;
  }

  private offsetOf(e: VectorSelector | SubqueryExpr): number {
    return this.resolvedOffset.get(e) ?? e.offset;
  }

  private stepOf(e: SubqueryExpr): number {
    const s = this.resolvedStep.get(e) ?? e.step;
    return s > 0 ? s : this.o.subqueryStep(this.rangeOf(e));
  }

  /** The `@` time (ms) of a selector or subquery, with start()/end() resolved; null without `@`. */
  private atOf(e: VectorSelector | SubqueryExpr): number | null {
    const at = e.at;
    if (!at) return null;
    if (at.kind === 'start') return this.o.queryStart;
    if (at.kind === 'end') return this.o.queryEnd;
    return at.ms;
  }

  // ---------------------------------------------------------------- limits

  private check(): void {
    if (Date.now() > this.o.deadline) throw new QueryTimeoutError();
    if (this.o.signal?.aborted) throw new QueryCanceledError();
  }

  /** Cheap periodic check for hot loops. */
  private tick(): void {
    if ((++this.ticks & 0x3fff) === 0) this.check();
  }

  /** Lets other work run when this query has held the event loop for a while. */
  private async maybeYield(): Promise<void> {
    const now = Date.now();
    if (now - this.lastYield > 40) {
      await new Promise<void>((r) => setImmediate(r));
      this.lastYield = Date.now();
      this.check();
    }
  }

  private hold(n: number): void {
    this.current += n;
    if (this.current > this.peakSamples) this.peakSamples = this.current;
    if (this.current > this.o.maxSamples) throw new TooManySamplesError();
  }

  private release(n: number): void {
    this.current -= n;
  }

  private points(v: NodeValue): number {
    if (v.kind === 'vector') return v.m.totalPoints();
    if (v.kind === 'scalar') return v.v.length;
    if (v.kind === 'range') return v.series.reduce((a, s) => a + s.n, 0);
    return 0;
  }

  // ---------------------------------------------------------------- dispatch

  async eval(e: Expr, g: Grid): Promise<NodeValue> {
    this.check();
    await this.maybeYield();
    if (g.n === 0) return emptyValue(e, 0);
    if (g.n > 1 && this.stepInvariant.has(e) && e.type !== 'MatrixSelector' && e.type !== 'SubqueryExpr') {
      const one = makeGrid(g.start, g.start, g.step);
      const v = await this.evalNode(e, one);
      return this.broadcast(v, g.n);
    }
    return this.evalNode(e, g);
  }

  private broadcast(v: NodeValue, n: number): NodeValue {
    if (v.kind === 'scalar') return { kind: 'scalar', v: new Float64Array(n).fill(v.v[0]!) };
    if (v.kind !== 'vector') return v;
    const src = v.m;
    const out = new StepMatrix(n, src.count);
    for (let s = 0; s < src.count; s++) {
      if (!src.has(s, 0)) continue;
      const d = out.add(src.labels[s]!, src.drop[s] === 1);
      out.values.fill(src.get(s, 0), d * n, (d + 1) * n);
      out.present.fill(1, d * n, (d + 1) * n);
    }
    this.hold(out.count * n - src.count);
    return { kind: 'vector', m: out };
  }

  private async evalNode(e: Expr, g: Grid): Promise<NodeValue> {
    switch (e.type) {
      case 'NumberLiteral':
        return { kind: 'scalar', v: new Float64Array(g.n).fill(e.val) };
      case 'StringLiteral':
        return { kind: 'string', s: e.val };
      case 'ParenExpr':
        return this.eval(e.expr, g);
      case 'UnaryExpr':
        return this.evalUnary(e.op, e.expr, g);
      case 'VectorSelector':
        return { kind: 'vector', m: await this.vectorSelector(e, g) };
      case 'MatrixSelector': {
        const series = await this.matrixSelectorRaw(e, g.start);
        return { kind: 'range', series };
      }
      case 'SubqueryExpr': {
        const raw = await this.subqueryRaw(e, g);
        return { kind: 'range', series: raw };
      }
      case 'Call':
        return this.evalCall(e, g);
      case 'BinaryExpr':
        return this.evalBinary(e, g);
      case 'AggregateExpr':
        return this.evalAggregate(e, g);
      case 'DurationExpr':
        throw new QueryError('duration expressions are only allowed in ranges, steps and offsets');
    }
  }

  // ---------------------------------------------------------------- selectors

  private async select(matchers: readonly Matcher[], start: number, end: number, hints: { step?: number; range?: number; func?: string }): Promise<SeriesSet> {
    this.check();
    let set: SeriesSet;
    try {
      set = await this.querier.select(matchers, { start, end, ...hints });
    } catch (err) {
      throw new QueryStorageError(`expanding series: ${(err as Error).message}`, err);
    }
    for (const w of set.warnings) this.storageWarnings.add(w);
    return set;
  }

  private async vectorSelector(vs: VectorSelector, g: Grid): Promise<StepMatrix> {
    const offset = this.offsetOf(vs);
    const at = this.atOf(vs);
    const lb = this.o.lookbackDelta;
    const firstRef = (at ?? g.start) - offset;
    const lastRef = (at ?? g.end) - offset;
    const set = await this.select(vs.matchers, firstRef - lb + 1, lastRef, { step: g.step });
    const n = g.n;
    const out = new StepMatrix(n, set.series.length);
    const step = at === null ? g.step : 0;
    let k = 0;
    if (n === 1 || step <= lb) {
      // Steps cover the selected range: read it in bulk, then walk the steps over the arrays.
      const buf = new SampleBuffer();
      for (const series of set.series) {
        if ((++k & 0x3ff) === 0) await this.maybeYield();
        buf.n = 0;
        const err = readSeriesRange(series, firstRef - lb + 1, lastRef, buf);
        if (err) throw new QueryStorageError(err.message, err);
        const cnt = buf.n;
        const ts = buf.ts;
        const vs = buf.vs;
        this.samplesRead += cnt;
        let s = -1;
        let pts = 0;
        // j: the last sample at or before the step's time.
        let j = -1;
        for (let i = 0; i < n; i++) {
          const ref = firstRef + i * step;
          while (j + 1 < cnt && ts[j + 1]! <= ref) j++;
          if (j < 0 || ts[j]! <= ref - lb) continue;
          const v = vs[j]!;
          if (isStaleNaN(v)) continue;
          if (s < 0) s = out.add(series.labels, false);
          out.set(s, i, v);
          pts++;
        }
        if (pts > 0) this.hold(pts);
        this.tick();
      }
      return out;
    }
    for (const series of set.series) {
      if ((++k & 0x3ff) === 0) await this.maybeYield();
      const it = series.iterator();
      let s = -1;
      let pts = 0;
      let curT = -Infinity;
      let curV = 0;
      let pending = it.seek(firstRef - lb + 1) !== ValueType.None;
      let pT = pending ? it.atT() : 0;
      let pV = pending ? it.at() : 0;
      for (let i = 0; i < n; i++) {
        const ref = firstRef + i * step;
        const minT = ref - lb;
        if (pending && pT <= minT) {
          // Skip samples that cannot be in this step's lookback window.
          pending = it.seek(minT + 1) !== ValueType.None;
          if (pending) {
            pT = it.atT();
            pV = it.at();
          }
          curT = -Infinity;
        }
        while (pending && pT <= ref) {
          curT = pT;
          curV = pV;
          pending = it.next() !== ValueType.None;
          if (pending) {
            pT = it.atT();
            pV = it.at();
          }
          this.samplesRead++;
        }
        if (curT > minT && !isStaleNaN(curV)) {
          if (s < 0) s = out.add(series.labels, false);
          out.set(s, i, curV);
          pts++;
        }
      }
      const err = it.err();
      if (err) throw new QueryStorageError(err.message, err);
      if (pts > 0) this.hold(pts);
      this.tick();
    }
    return out;
  }

  /** Raw samples of a range selector for an instant evaluation at `t` (instant queries returning a range vector). */
  private async matrixSelectorRaw(ms: MatrixSelector, t: number): Promise<RawSeries[]> {
    const vs = ms.selector;
    const offset = this.offsetOf(vs);
    const at = this.atOf(vs);
    const end = (at ?? t) - offset;
    const start = end - this.rangeOf(ms);
    const set = await this.select(vs.matchers, start + 1, end, { range: this.rangeOf(ms) });
    const out: RawSeries[] = [];
    const buf = new SampleBuffer();
    for (const series of set.series) {
      buf.n = 0;
      this.readSamples(series, start, end, buf);
      if (buf.n === 0) continue;
      out.push({ labels: series.labels, dropName: false, ts: buf.ts.slice(0, buf.n), vs: buf.vs.slice(0, buf.n), n: buf.n });
      this.hold(buf.n);
    }
    return out;
  }

  /** Appends the samples of `series` with start < t <= end (stale markers skipped) to `buf`. */
  private readSamples(series: Series, start: number, end: number, buf: SampleBuffer): void {
    const from = buf.n;
    const err = readSeriesRange(series, start + 1, end, buf);
    if (err) throw new QueryStorageError(err.message, err);
    const cnt = buf.n;
    this.samplesRead += cnt - from;
    // Drop stale markers in place (raw bits: 0x7ff00000_00000002).
    const w = buf.vsWords();
    let k = from;
    while (k < cnt && !(w[2 * k + 1] === 0x7ff00000 && w[2 * k] === 2)) k++;
    if (k === cnt) return;
    const ts = buf.ts;
    for (let i = k + 1; i < cnt; i++) {
      if (w[2 * i + 1] === 0x7ff00000 && w[2 * i] === 2) continue;
      ts[k] = ts[i]!;
      w[2 * k] = w[2 * i]!;
      w[2 * k + 1] = w[2 * i + 1]!;
      k++;
    }
    buf.n = k;
  }

  /**
   * Evaluates a subquery's inner expression over the subquery's own steps covering all windows
   * of `g`, returning the points as raw series.
   */
  private async subqueryRaw(sq: SubqueryExpr, g: Grid): Promise<RawSeries[]> {
    const offset = this.offsetOf(sq);
    const at = this.atOf(sq);
    const range = this.rangeOf(sq);
    const step = this.stepOf(sq);
    const outerStart = at ?? g.start;
    const outerEnd = at ?? g.end;
    const base = outerStart - offset - range;
    let innerStart = step * Math.trunc(base / step);
    if (innerStart <= base) innerStart += step;
    const innerEnd = outerEnd - offset;
    if (innerEnd < innerStart) return [];
    const ig = makeGrid(innerStart, innerEnd, step);
    const v = await this.eval(sq.expr, ig);
    if (v.kind !== 'vector') throw new QueryError('subquery is only allowed on instant vector');
    const m = v.m;
    const out: RawSeries[] = [];
    for (let s = 0; s < m.count; s++) {
      const cnt = m.seriesPoints(s);
      if (cnt === 0) continue;
      const ts = new Float64Array(cnt);
      const vals = new Float64Array(cnt);
      let k = 0;
      for (let i = 0; i < ig.n; i++) {
        if (!m.has(s, i)) continue;
        ts[k] = ig.start + i * ig.step;
        vals[k] = m.get(s, i);
        k++;
      }
      out.push({ labels: m.labels[s]!, dropName: m.drop[s] === 1, ts, vs: vals, n: cnt });
    }
    return out;
  }

  // ---------------------------------------------------------------- unary

  private async evalUnary(op: '+' | '-', expr: Expr, g: Grid): Promise<NodeValue> {
    const v = await this.eval(expr, g);
    if (op === '+') return v;
    if (v.kind === 'scalar') {
      const out = new Float64Array(v.v.length);
      for (let i = 0; i < out.length; i++) out[i] = -v.v[i]!;
      return { kind: 'scalar', v: out };
    }
    if (v.kind !== 'vector') return v;
    const m = v.m;
    const b = new MatrixBuilder(m.n, m.count);
    for (let s = 0; s < m.count; s++) {
      const labels = this.o.delayedNameRemoval ? m.labels[s]! : dropMetadata(m.labels[s]!);
      const d = b.series(labels, true);
      for (let i = 0; i < m.n; i++) if (m.has(s, i)) b.put(d, i, -m.get(s, i));
    }
    return { kind: 'vector', m: b.m };
  }

  // ---------------------------------------------------------------- functions

  private async evalCall(call: Call, g: Grid): Promise<NodeValue> {
    const name = call.func.name;
    const args = call.args.map(unwrapParens);
    if (name === 'timestamp' && args[0]!.type === 'VectorSelector') return this.timestampOfSelector(args[0] as VectorSelector, g);
    if (name === 'label_replace') return this.labelReplace(args, g);
    if (name === 'label_join') return this.labelJoin(args, g);
    if (name === 'info') throw new QueryError('info() is not supported by this engine');
    for (let i = 0; i < args.length; i++) {
      const a = args[i]!;
      if (a.type === 'MatrixSelector' || a.type === 'SubqueryExpr') return this.rangeFunction(call, args, i, g);
    }
    return this.instantFunction(call, args, g);
  }

  private async scalarArg(e: Expr, g: Grid): Promise<Float64Array> {
    const v = await this.eval(e, g);
    if (v.kind !== 'scalar') throw new QueryError(`expected scalar argument`);
    return v.v;
  }

  private async vectorArg(e: Expr, g: Grid): Promise<StepMatrix> {
    const v = await this.eval(e, g);
    if (v.kind !== 'vector') throw new QueryError(`expected instant vector argument`);
    return v.m;
  }

  /** Output labels and drop flag for a function that drops the metric name. */
  private nameDropped(labels: Labels): Labels {
    return this.o.delayedNameRemoval ? labels : dropMetadata(labels);
  }

  private async rangeFunction(call: Call, args: Expr[], mi: number, g: Grid): Promise<NodeValue> {
    const name = call.func.name;
    const kernel = RANGE_KERNELS[name];
    if (!kernel) throw new QueryError(`function ${goQuote(name)} is not supported by this engine`);
    const params: Float64Array[] = [];
    for (let i = 0; i < args.length; i++) if (i !== mi) params.push(await this.scalarArg(args[i]!, g));
    const arg = args[mi]!;
    const n = g.n;
    let rangeMs: number;
    let offset: number;
    let at: number | null;
    if (arg.type === 'MatrixSelector') {
      const vs = arg.selector;
      if (vs.anchored || vs.smoothed) {
        const which = vs.anchored ? 'anchored' : 'smoothed';
        const allowed = vs.anchored ? ['changes', 'delta', 'increase', 'rate', 'resets'] : ['delta', 'increase', 'rate'];
        if (!allowed.includes(name)) throw new QueryError(`${which} modifier can only be used with: ${allowed.join(', ')} - not with ${name}`);
        throw new QueryError(`the ${which} modifier is not supported by this engine`);
      }
      rangeMs = this.rangeOf(arg);
      offset = this.offsetOf(vs);
      at = this.atOf(vs);
    } else {
      const sq = arg as SubqueryExpr;
      rangeMs = this.rangeOf(sq);
      offset = this.offsetOf(sq);
      at = this.atOf(sq);
    }
    const windowEnd = (i: number): number => (at ?? g.start + i * g.step) - offset;
    void windowEnd;
    const keepName = KEEPS_NAME.has(name);
    let out = new StepMatrix(n, 16);
    const inputLabels: Labels[] = [];
    const w: RangeWindow = {
      ts: new Float64Array(0), vs: new Float64Array(0), lo: 0, hi: 0, stepT: 0, rangeStart: 0, rangeEnd: 0, rangeMs,
      p: new Float64Array(params.length), labels: Labels.EMPTY, call, annos: this.annos, resetPrefix: null,
    };
    const isRateLike = name === 'rate' || name === 'increase';
    const endBase = (at ?? g.start) - offset;
    const endStep = at === null ? g.step : 0;
    const np = params.length;
    const usesResets = name === 'rate' || name === 'increase' || name === 'resets';
    let resetPrefix = new Int32Array(0);
    let lastChecked = '';
    const process = function processSeriesWindows(this: Evaluator, labels: Labels, inputDrop: boolean, ts: Float64Array, vs: Float64Array, cnt: number): void {
      w.ts = ts;
      w.vs = vs;
      w.labels = labels;
      if (usesResets) {
        // resetPrefix[j]: counter resets among samples 1..j, so windows need not be rescanned.
        if (resetPrefix.length < cnt) resetPrefix = new Int32Array(Math.max(cnt, resetPrefix.length * 2));
        let c = 0;
        resetPrefix[0] = 0;
        for (let j = 1; j < cnt; j++) {
          if (vs[j]! < vs[j - 1]!) c++;
          resetPrefix[j] = c;
        }
        w.resetPrefix = resetPrefix;
      }
      let lo = 0;
      let hi = 0;
      let s = -1;
      let pts = 0;
      const stride = out.n;
      for (let i = 0; i < n; i++) {
        const end = endBase + i * endStep;
        const start = end - rangeMs;
        while (hi < cnt && ts[hi]! <= end) hi++;
        while (lo < hi && ts[lo]! <= start) lo++;
        if (hi <= lo) continue;
        w.lo = lo;
        w.hi = hi;
        w.stepT = g.start + i * g.step;
        w.rangeStart = start;
        w.rangeEnd = end;
        for (let k = 0; k < np; k++) w.p[k] = params[k]![i]!;
        const r = kernel(w);
        if (r === null) continue;
        if (s < 0) {
          const drop = !keepName || inputDrop;
          s = out.add(drop && !this.o.delayedNameRemoval ? dropMetadata(labels) : labels, drop);
        }
        out.values[s * stride + i] = r;
        out.present[s * stride + i] = 1;
        pts++;
      }
      this.tick();
      if (pts > 0) {
        this.hold(pts);
        if (isRateLike) {
          const metric = labels.get(METRIC_NAME);
          // Series come sorted by labels: one test per metric name.
          if (metric !== lastChecked && metric !== '' && !COUNTER_SUFFIX.test(metric)) {
            this.annos.info(`metric might not be a counter, name does not end in _total/_sum/_count/_bucket: ${goQuote(metric)}`, args[0]!.positionRange());
          }
          lastChecked = metric;
        }
      }
    };
    if (arg.type === 'MatrixSelector') {
      const vs = arg.selector;
      const firstEnd = windowEnd(0);
      const lastEnd = windowEnd(n - 1);
      const set = await this.select(vs.matchers, Math.min(firstEnd, lastEnd) - rangeMs + 1, Math.max(firstEnd, lastEnd), {
        step: g.step, range: rangeMs, func: name,
      });
      const buf = new SampleBuffer();
      let k = 0;
      out = new StepMatrix(n, Math.max(1, set.series.length));
      for (const series of set.series) inputLabels.push(series.labels);
      for (const series of set.series) {
        if ((++k & 0xff) === 0) await this.maybeYield();
        buf.n = 0;
        this.readSamples(series, Math.min(firstEnd, lastEnd) - rangeMs, Math.max(firstEnd, lastEnd), buf);
        if (buf.n === 0) continue;
        this.hold(buf.n);
        process.call(this, series.labels, false, buf.ts, buf.vs, buf.n);
        this.release(buf.n);
      }
    } else {
      const raw = await this.subqueryRaw(arg as SubqueryExpr, g);
      const total = raw.reduce((a, r) => a + r.n, 0);
      this.hold(total);
      for (const r of raw) process.call(this, r.labels, r.dropName, r.ts, r.vs, r.n);
      this.release(total);
    }
    if (name === 'absent_over_time') return { kind: 'vector', m: this.absentOverTime(out, args[mi]!, n) };
    if (!this.o.delayedNameRemoval && !(arg.type === 'MatrixSelector' && nameDropIsInjective(inputLabels, inputLabels.length))) {
      const seen = new Set<string>();
      for (let s = 0; s < out.count; s++) {
        const key = out.labels[s]!.key();
        if (seen.has(key)) throw new QueryError(DUPLICATE_LABELSET);
        seen.add(key);
      }
    }
    return { kind: 'vector', m: out };
  }

  private absentOverTime(m: StepMatrix, arg: Expr, n: number): StepMatrix {
    const found = new Uint8Array(n);
    for (let s = 0; s < m.count; s++) {
      if (m.seriesPoints(s) === n) return new StepMatrix(n, 1);
      for (let i = 0; i < n; i++) if (m.has(s, i)) found[i] = 1;
    }
    const out = new StepMatrix(n, 1);
    const s = out.add(labelsForAbsent(arg), true);
    for (let i = 0; i < n; i++) if (!found[i]) out.set(s, i, 1);
    return out.compact();
  }

  private async timestampOfSelector(vs: VectorSelector, g: Grid): Promise<NodeValue> {
    const at = this.atOf(vs);
    // With `@`, Prometheus evaluates at the pinned time and ignores the written offset.
    const offset = at === null ? this.offsetOf(vs) : 0;
    const lb = this.o.lookbackDelta;
    const firstRef = (at ?? g.start) - offset;
    const lastRef = (at ?? g.end) - offset;
    const set = await this.select(vs.matchers, firstRef - lb + 1, lastRef, { step: g.step, func: 'timestamp' });
    const n = g.n;
    const out = new StepMatrix(n, set.series.length);
    const step = at === null ? g.step : 0;
    const buf = new SampleBuffer();
    for (const series of set.series) {
      buf.n = 0;
      const err = readSeriesRange(series, firstRef - lb + 1, lastRef, buf);
      if (err) throw new QueryStorageError(err.message, err);
      this.samplesRead += buf.n;
      let s = -1;
      let j = -1;
      for (let i = 0; i < n; i++) {
        const ref = firstRef + i * step;
        while (j + 1 < buf.n && buf.ts[j + 1]! <= ref) j++;
        if (j < 0 || buf.ts[j]! <= ref - lb || isStaleNaN(buf.vs[j]!)) continue;
        if (s < 0) s = out.add(this.nameDropped(series.labels), true);
        out.set(s, i, buf.ts[j]! / 1000);
      }
      this.tick();
    }
    this.hold(out.totalPoints());
    return { kind: 'vector', m: out };
  }

  private async labelReplace(args: Expr[], g: Grid): Promise<NodeValue> {
    const dst = (args[1] as { val: string }).val;
    const repl = (args[2] as { val: string }).val;
    const src = (args[3] as { val: string }).val;
    const regexStr = (args[4] as { val: string }).val;
    let re: RegExp;
    try {
      re = compileAnchoredRe2(regexStr, { dotAll: true });
    } catch {
      throw new QueryError(`invalid regular expression in label_replace(): ${regexStr}`);
    }
    if (!isValidLabelName(dst)) throw new QueryError(`invalid destination label name in label_replace(): ${dst}`);
    const m = await this.vectorArg(args[0]!, g);
    const b = new MatrixBuilder(m.n, m.count);
    for (let s = 0; s < m.count; s++) {
      const l = m.labels[s]!;
      let labels = l;
      let drop = m.drop[s] === 1;
      const match = re.exec(l.get(src));
      if (match) {
        const res = expandTemplate(repl, match);
        labels = l.with(dst, res);
        drop = dst === METRIC_NAME ? false : drop;
      }
      this.copyInto(b, m, s, labels, drop);
    }
    return { kind: 'vector', m: b.m };
  }

  private async labelJoin(args: Expr[], g: Grid): Promise<NodeValue> {
    const dst = (args[1] as { val: string }).val;
    const sep = (args[2] as { val: string }).val;
    const srcs: string[] = [];
    for (let i = 3; i < args.length; i++) {
      const src = (args[i] as { val: string }).val;
      if (!isValidLabelName(src)) throw new QueryError(`invalid source label name in label_join(): ${src}`);
      srcs.push(src);
    }
    if (!isValidLabelName(dst)) throw new QueryError(`invalid destination label name in label_join(): ${dst}`);
    const m = await this.vectorArg(args[0]!, g);
    const b = new MatrixBuilder(m.n, m.count);
    for (let s = 0; s < m.count; s++) {
      const l = m.labels[s]!;
      const joined = srcs.map((n) => l.get(n)).join(sep);
      const labels = l.with(dst, joined);
      const drop = dst === METRIC_NAME ? false : m.drop[s] === 1;
      this.copyInto(b, m, s, labels, drop);
    }
    return { kind: 'vector', m: b.m };
  }

  /** Copies series `s` of `m` into `b` under new labels (merging equal label sets). */
  private copyInto(b: MatrixBuilder, m: StepMatrix, s: number, labels: Labels, drop: boolean): void {
    let d = -1;
    for (let i = 0; i < m.n; i++) {
      if (!m.has(s, i)) continue;
      if (d < 0) d = b.series(labels, drop);
      b.put(d, i, m.get(s, i));
    }
  }

  private async instantFunction(call: Call, args: Expr[], g: Grid): Promise<NodeValue> {
    const name = call.func.name;
    const n = g.n;
    const stepTime = (i: number): number => g.start + i * g.step;
    switch (name) {
      case 'time': {
        const v = new Float64Array(n);
        for (let i = 0; i < n; i++) v[i] = stepTime(i) / 1000;
        return { kind: 'scalar', v };
      }
      case 'pi':
        return { kind: 'scalar', v: new Float64Array(n).fill(Math.PI) };
      case 'min_of':
      case 'max_of': {
        const a = await this.scalarArg(args[0]!, g);
        const b = await this.scalarArg(args[1]!, g);
        const v = new Float64Array(n);
        for (let i = 0; i < n; i++) v[i] = name === 'min_of' ? Math.min(a[i]!, b[i]!) : Math.max(a[i]!, b[i]!);
        return { kind: 'scalar', v };
      }
      case 'start':
        return { kind: 'scalar', v: new Float64Array(n).fill(this.o.queryStart / 1000) };
      case 'end':
        return { kind: 'scalar', v: new Float64Array(n).fill(this.o.queryEnd / 1000) };
      case 'range':
        return { kind: 'scalar', v: new Float64Array(n).fill((this.o.queryEnd - this.o.queryStart) / 1000) };
      case 'step':
        return { kind: 'scalar', v: new Float64Array(n).fill(this.o.queryStep / 1000) };
      case 'vector': {
        const sv = await this.scalarArg(args[0]!, g);
        const out = new StepMatrix(n, 1);
        const s = out.add(Labels.EMPTY, false);
        for (let i = 0; i < n; i++) out.set(s, i, sv[i]!);
        this.hold(n);
        return { kind: 'vector', m: out };
      }
      case 'scalar': {
        const m = await this.vectorArg(args[0]!, g);
        const v = new Float64Array(n);
        for (let i = 0; i < n; i++) {
          let found = 0;
          let val = NaN;
          for (let s = 0; s < m.count && found < 2; s++) {
            if (m.has(s, i)) {
              found++;
              val = m.get(s, i);
            }
          }
          v[i] = found === 1 ? val : NaN;
        }
        return { kind: 'scalar', v };
      }
      case 'absent': {
        const m = await this.vectorArg(args[0]!, g);
        const out = new StepMatrix(n, 1);
        const s = out.add(labelsForAbsent(args[0]!), false);
        for (let i = 0; i < n; i++) {
          let any = false;
          for (let k = 0; k < m.count && !any; k++) any = m.has(k, i);
          if (!any) out.set(s, i, 1);
        }
        return { kind: 'vector', m: out.compact() };
      }
      case 'sort':
      case 'sort_desc':
      case 'sort_by_label':
      case 'sort_by_label_desc':
        return this.sortFunction(name, args, g);
      case 'histogram_quantile':
        return this.histogramQuantile(call, args, g);
      case 'histogram_quantiles':
        return this.histogramQuantiles(call, args, g);
      case 'histogram_fraction':
        return this.histogramFraction(call, args, g);
      case 'histogram_count':
      case 'histogram_sum':
      case 'histogram_avg':
      case 'histogram_stddev':
      case 'histogram_stdvar': {
        // Only native histogram samples contribute; float samples are ignored.
        await this.vectorArg(args[0]!, g);
        return { kind: 'vector', m: new StepMatrix(n, 1) };
      }
    }
    if (DATE_FUNCS[name]) return this.dateFunction(name, args, g);
    const simple = SIMPLE_FUNCS[name];
    if (simple) {
      const m = await this.vectorArg(args[0]!, g);
      return { kind: 'vector', m: this.mapValues(m, (v) => simple(v)) };
    }
    switch (name) {
      case 'round': {
        const m = await this.vectorArg(args[0]!, g);
        const to = args.length > 1 ? await this.scalarArg(args[1]!, g) : null;
        return {
          kind: 'vector',
          m: this.mapValues(m, (v, i) => {
            const inv = 1 / (to ? to[i]! : 1);
            return Math.floor(v * inv + 0.5) / inv;
          }),
        };
      }
      case 'clamp':
      case 'clamp_min':
      case 'clamp_max': {
        const m = await this.vectorArg(args[0]!, g);
        const a1 = await this.scalarArg(args[1]!, g);
        const a2 = name === 'clamp' ? await this.scalarArg(args[2]!, g) : null;
        return {
          kind: 'vector',
          m: this.mapValues(m, (v, i) => {
            const min = name === 'clamp_max' ? -Infinity : a1[i]!;
            const max = name === 'clamp' ? a2![i]! : name === 'clamp_max' ? a1[i]! : Infinity;
            if (max < min) return null;
            return Math.max(min, Math.min(max, v));
          }),
        };
      }
      case 'timestamp': {
        const m = await this.vectorArg(args[0]!, g);
        return { kind: 'vector', m: this.mapValues(m, (_v, i) => stepTime(i) / 1000) };
      }
    }
    throw new QueryError(`function ${goQuote(name)} is not supported by this engine`);
  }

  /** Applies `f` to every point; the metric name is dropped; null removes the point. */
  private mapValues(m: StepMatrix, f: (v: number, i: number) => number | null): StepMatrix {
    const b = new MatrixBuilder(m.n, m.count);
    for (let s = 0; s < m.count; s++) {
      let d = -1;
      for (let i = 0; i < m.n; i++) {
        if (!m.has(s, i)) continue;
        const r = f(m.get(s, i), i);
        if (r === null) continue;
        if (d < 0) d = b.series(this.nameDropped(m.labels[s]!), true);
        b.put(d, i, r);
      }
      this.tick();
    }
    return b.m;
  }

  private async dateFunction(name: string, args: Expr[], g: Grid): Promise<NodeValue> {
    const f = DATE_FUNCS[name]!;
    const n = g.n;
    if (args.length === 0) {
      const out = new StepMatrix(n, 1);
      const s = out.add(Labels.EMPTY, false);
      for (let i = 0; i < n; i++) out.set(s, i, f(Math.trunc((g.start + i * g.step) / 1000)));
      return { kind: 'vector', m: out };
    }
    const m = await this.vectorArg(args[0]!, g);
    return { kind: 'vector', m: this.mapValues(m, (v) => f(goInt64(v))) };
  }

  private async sortFunction(name: string, args: Expr[], g: Grid): Promise<NodeValue> {
    const m = await this.vectorArg(args[0]!, g);
    if (m.n !== 1) return { kind: 'vector', m };
    const order: number[] = [];
    for (let s = 0; s < m.count; s++) if (m.has(s, 0)) order.push(s);
    const v = (s: number): number => m.get(s, 0);
    if (name === 'sort') goSortIndices(order, (a, b) => v(b) !== v(b) || v(b) > v(a));
    else if (name === 'sort_desc') goSortIndices(order, (a, b) => v(b) !== v(b) || v(b) < v(a));
    else {
      const labels = args.slice(1).map((a) => (a as { val: string }).val);
      const desc = name === 'sort_by_label_desc';
      order.sort((a, b) => {
        const la = m.labels[a]!;
        const lb = m.labels[b]!;
        for (const l of labels) {
          const x = la.get(l);
          const y = lb.get(l);
          if (x === y) continue;
          const r = natLess(x, y) ? -1 : 1;
          return desc ? -r : r;
        }
        const r = compareLabels(la, lb);
        return desc ? -r : r;
      });
    }
    return { kind: 'vector', m: m.reorder(order) };
  }

  /** Groups the float samples of step `i` into classic histograms (by labels without `le`). */
  private classicBuckets(m: StepMatrix, i: number, argPos: Expr): Map<string, { labels: Labels; name: string; ub: number[]; cnt: number[] }> {
    const groups = new Map<string, { labels: Labels; name: string; ub: number[]; cnt: number[] }>();
    for (let s = 0; s < m.count; s++) {
      if (!m.has(s, i)) continue;
      const l = m.labels[s]!;
      const le = l.get('le');
      const ub = parseGoFloat(le);
      if (ub === undefined) {
        const metric = this.o.delayedNameRemoval ? l.get(METRIC_NAME) : '';
        this.annos.warn(`bucket label "le" is missing or has a malformed value of ${goQuote(le)}${metric ? ` for metric name ${goQuote(metric)}` : ''}`, argPos.positionRange());
        continue;
      }
      const key = l.without(['le']).key();
      let grp = groups.get(key);
      if (!grp) {
        grp = { labels: l.without([METRIC_NAME, 'le']), name: l.get(METRIC_NAME), ub: [], cnt: [] };
        groups.set(key, grp);
      }
      grp.ub.push(ub);
      grp.cnt.push(m.get(s, i));
    }
    return groups;
  }

  private async histogramQuantile(call: Call, args: Expr[], g: Grid): Promise<NodeValue> {
    const qs = await this.scalarArg(args[0]!, g);
    const m = await this.vectorArg(args[1]!, g);
    const b = new MatrixBuilder(g.n, 8);
    for (let i = 0; i < g.n; i++) {
      const q = qs[i]!;
      if (q !== q || q < 0 || q > 1) this.annos.warn(`quantile value should be between 0 and 1, got ${formatFloatG(q)}`, args[0]!.positionRange());
      for (const grp of this.classicBuckets(m, i, args[1]!).values()) {
        const r = bucketQuantile(q, grp.ub, grp.cnt);
        if (r.forcedMonotonic) {
          const metric = this.o.delayedNameRemoval ? grp.name : '';
          this.annos.info(
            'input to histogram_quantile needed to be fixed for monotonicity (see https://prometheus.io/docs/prometheus/latest/querying/functions/#histogram_quantile)' +
              (metric ? ` for metric name ${goQuote(metric)}` : ''),
            args[1]!.positionRange(),
          );
        }
        b.putLabels(this.nameDropped(grp.labels), true, i, r.value);
      }
    }
    return { kind: 'vector', m: b.m };
  }

  private async histogramQuantiles(call: Call, args: Expr[], g: Grid): Promise<NodeValue> {
    const m = await this.vectorArg(args[0]!, g);
    const label = (args[1] as { val: string }).val;
    const qss: Float64Array[] = [];
    for (let k = 2; k < args.length; k++) qss.push(await this.scalarArg(args[k]!, g));
    const b = new MatrixBuilder(g.n, 8);
    for (let i = 0; i < g.n; i++) {
      for (let k = 0; k < qss.length; k++) {
        const q = qss[k]![i]!;
        if (q !== q || q < 0 || q > 1) this.annos.warn(`quantile value should be between 0 and 1, got ${formatFloatG(q)}`, args[k + 2]!.positionRange());
      }
      const groups = this.classicBuckets(m, i, args[0]!);
      for (let k = 0; k < qss.length; k++) {
        const q = qss[k]![i]!;
        for (const grp of groups.values()) {
          const r = bucketQuantile(q, grp.ub.slice(), grp.cnt.slice());
          if (r.forcedMonotonic) {
            const metric = this.o.delayedNameRemoval ? grp.name : '';
            this.annos.info(
              'input to histogram_quantile needed to be fixed for monotonicity (see https://prometheus.io/docs/prometheus/latest/querying/functions/#histogram_quantile)' +
                (metric ? ` for metric name ${goQuote(metric)}` : ''),
              args[0]!.positionRange(),
            );
          }
          b.putLabels(grp.labels.with(label, formatOpenMetricsFloat(q)), true, i, r.value);
        }
      }
    }
    return { kind: 'vector', m: b.m };
  }

  private async histogramFraction(call: Call, args: Expr[], g: Grid): Promise<NodeValue> {
    const lower = await this.scalarArg(args[0]!, g);
    const upper = await this.scalarArg(args[1]!, g);
    const m = await this.vectorArg(args[2]!, g);
    const b = new MatrixBuilder(g.n, 8);
    for (let i = 0; i < g.n; i++) {
      for (const grp of this.classicBuckets(m, i, args[2]!).values()) {
        b.putLabels(grp.labels, true, i, bucketFraction(lower[i]!, upper[i]!, grp.ub, grp.cnt));
      }
    }
    return { kind: 'vector', m: b.m };
  }

  // ---------------------------------------------------------------- binary operators

  private async evalBinary(e: BinaryExpr, g: Grid): Promise<NodeValue> {
    const l = await this.eval(e.lhs, g);
    const r = await this.eval(e.rhs, g);
    let out: NodeValue;
    if (l.kind === 'scalar' && r.kind === 'scalar') {
      const v = new Float64Array(g.n);
      for (let i = 0; i < g.n; i++) v[i] = scalarBinop(e.op, l.v[i]!, r.v[i]!);
      out = { kind: 'scalar', v };
    } else if ((e.op === '</' || e.op === '>/') && (l.kind === 'vector' || r.kind === 'vector')) {
      out = { kind: 'vector', m: this.trimOfFloats(e, l.kind === 'vector' ? l.m : null, r.kind === 'vector' ? r.m : null) };
    } else if (l.kind === 'vector' && r.kind === 'scalar') {
      out = { kind: 'vector', m: this.vectorScalar(e, l.m, r.v, false) };
    } else if (l.kind === 'scalar' && r.kind === 'vector') {
      out = { kind: 'vector', m: this.vectorScalar(e, r.m, l.v, true) };
    } else if (l.kind === 'vector' && r.kind === 'vector') {
      if (e.op === 'and' || e.op === 'or' || e.op === 'unless') out = { kind: 'vector', m: this.setOp(e, l.m, r.m) };
      else if (e.op === '</' || e.op === '>/') out = { kind: 'vector', m: this.trimOfFloats(e, l.m, r.m) };
      else out = { kind: 'vector', m: this.vectorBinop(e, l.m, r.m) };
    } else {
      throw new QueryError('binary expression must contain only scalar and instant vector types');
    }
    this.release(this.points(l) + this.points(r));
    this.hold(this.points(out));
    return out;
  }

  /** Trim operators only apply to native histograms: float operands produce nothing (with an info). */
  private trimOfFloats(e: BinaryExpr, l: StepMatrix | null, r: StepMatrix | null): StepMatrix {
    if ((l && l.totalPoints() > 0) || (r && r.totalPoints() > 0)) {
      this.annos.info(`incompatible sample types encountered for binary operator ${goQuote(e.op)}: float ${e.op} float`, e.positionRange());
    }
    return new StepMatrix((l ?? r)!.n, 1);
  }

  private vectorScalar(e: BinaryExpr, m: StepMatrix, sv: Float64Array, swap: boolean): StepMatrix {
    const op = e.op;
    const cmp = isComparisonOp(op);
    const changes = ARITH_OPS.has(op) || e.returnBool;
    const b = new MatrixBuilder(m.n, m.count, this.o.delayedNameRemoval && m.n === 1);
    for (let s = 0; s < m.count; s++) {
      let d = -1;
      for (let i = 0; i < m.n; i++) {
        if (!m.has(s, i)) continue;
        const vv = m.get(s, i);
        let lf = vv;
        let rf = sv[i]!;
        if (swap) {
          lf = sv[i]!;
          rf = vv;
        }
        let val: number;
        let keep = true;
        if (cmp) {
          keep = compare(op, lf, rf);
          val = vv;
        } else val = arith(op, lf, rf);
        if (e.returnBool) {
          val = keep ? 1 : 0;
          keep = true;
        }
        if (!keep) continue;
        if (d < 0) {
          if (changes) d = b.series(this.nameDropped(m.labels[s]!), true);
          else d = b.series(m.labels[s]!, m.drop[s] === 1);
        }
        b.put(d, i, val);
      }
      this.tick();
    }
    return b.m;
  }

  private signatures(m: StepMatrix, on: boolean, names: readonly string[], ordinals: Map<string, number>): Int32Array {
    const sig = new Int32Array(m.count);
    for (let s = 0; s < m.count; s++) {
      const key = matchingKey(m.labels[s]!, on, names);
      let o = ordinals.get(key);
      if (o === undefined) {
        o = ordinals.size;
        ordinals.set(key, o);
      }
      sig[s] = o;
    }
    return sig;
  }

  private setOp(e: BinaryExpr, L: StepMatrix, R: StepMatrix): StepMatrix {
    const matching = e.matching!;
    const ordinals = new Map<string, number>();
    const sigL = this.signatures(L, matching.on, matching.matchingLabels, ordinals);
    const sigR = this.signatures(R, matching.on, matching.matchingLabels, ordinals);
    const n = L.n;
    const numSigs = ordinals.size;
    const b = new MatrixBuilder(n, L.count + (e.op === 'or' ? R.count : 0), this.o.delayedNameRemoval && n === 1);
    // For each step, which signatures are present on the "other" side.
    const other = e.op === 'or' ? L : R;
    const otherSig = e.op === 'or' ? sigL : sigR;
    const presentSig = new Uint8Array(numSigs * n);
    const otherCount = new Int32Array(n);
    for (let s = 0; s < other.count; s++) {
      const base = otherSig[s]! * n;
      for (let i = 0; i < n; i++) {
        if (other.has(s, i)) {
          presentSig[base + i] = 1;
          otherCount[i]!++;
        }
      }
    }
    const copy = (M: StepMatrix, s: number, include: (i: number) => boolean): void => {
      let d = -1;
      for (let i = 0; i < n; i++) {
        if (!M.has(s, i) || !include(i)) continue;
        if (d < 0) d = b.series(M.labels[s]!, M.drop[s] === 1);
        b.put(d, i, M.get(s, i));
      }
    };
    if (e.op === 'and') {
      for (let s = 0; s < L.count; s++) copy(L, s, (i) => presentSig[sigL[s]! * n + i] === 1);
    } else if (e.op === 'unless') {
      for (let s = 0; s < L.count; s++) copy(L, s, (i) => presentSig[sigL[s]! * n + i] !== 1);
    } else {
      for (let s = 0; s < L.count; s++) copy(L, s, () => true);
      for (let s = 0; s < R.count; s++) copy(R, s, (i) => otherCount[i] === 0 || presentSig[sigR[s]! * n + i] !== 1);
    }
    return b.m;
  }

  private vectorBinop(e: BinaryExpr, L0: StepMatrix, R0: StepMatrix): StepMatrix {
    const matching = e.matching!;
    const op = e.op;
    const n = L0.n;
    const oneToMany = matching.card === 'one-to-many';
    const L = oneToMany ? R0 : L0;
    const R = oneToMany ? L0 : R0;
    const ordinals = new Map<string, number>();
    const sigL = this.signatures(L, matching.on, matching.matchingLabels, ordinals);
    const sigR = this.signatures(R, matching.on, matching.matchingLabels, ordinals);
    const numSigs = ordinals.size;
    const rightStamp = new Int32Array(numSigs);
    const rightIdx = new Int32Array(numSigs);
    const matchedStamp = new Int32Array(numSigs);
    const manyMatched = new Map<string, number>();
    const cmp = isComparisonOp(op);
    const fillL = matching.fillLhs;
    const fillR = matching.fillRhs;
    const b = new MatrixBuilder(n, Math.max(L.count, 4), this.o.delayedNameRemoval && n === 1);
    const resultCache = new Map<number, { labels: Labels; key: string }>();
    const resultFor = (ls: number, rs: number, ll: Labels, rl: Labels): { labels: Labels; key: string } => {
      const ck = ls * (R.count + 1) + (rs + 1);
      let r = resultCache.get(ck);
      if (!r) {
        const labels = this.resultMetric(ll, rl, op, matching, e.returnBool);
        r = { labels, key: labels.key() };
        resultCache.set(ck, r);
      }
      return r;
    };
    const usesFill = fillL !== null || fillR !== null;
    for (let i = 0; i < n; i++) {
      const stamp = i + 1;
      let anyL = false;
      let anyR = false;
      for (let s = 0; s < L.count && !anyL; s++) anyL = L.has(s, i);
      for (let s = 0; s < R.count && !anyR; s++) anyR = R.has(s, i);
      if (!anyL && !anyR) continue;
      if ((!anyL || !anyR) && !usesFill) continue;
      for (let s = 0; s < R.count; s++) {
        if (!R.has(s, i)) continue;
        const sig = sigR[s]!;
        if (rightStamp[sig] === stamp) {
          const a = R.labels[rightIdx[sig]!]!;
          const c = R.labels[s]!;
          const pair = compareLabels(a, c) <= 0 ? [a, c] : [c, a];
          const matched = matchLabels(c, matching.on, matching.matchingLabels);
          throw new QueryError(
            `found duplicate series for the match group ${matched.toString()} on the ${oneToMany ? 'left' : 'right'} hand-side of the operation: ` +
              `[${pair[0]!.toString()}, ${pair[1]!.toString()}];many-to-many matching not allowed: matching labels must be unique on one side`,
          );
        }
        rightStamp[sig] = stamp;
        rightIdx[sig] = s;
      }
      const doOp = (ll: Labels, lv: number, rl: Labels, rv: number, sig: number, lsIdx: number, rsIdx: number): void => {
        let fl = lv;
        let fr = rv;
        if (oneToMany) {
          fl = rv;
          fr = lv;
        }
        let val: number;
        let keep = true;
        if (cmp) {
          keep = compare(op, fl, fr);
          val = fl;
        } else val = arith(op, fl, fr);
        if (e.returnBool) val = keep ? 1 : 0;
        const res = resultFor(lsIdx, rsIdx, ll, rl);
        if (matching.card === 'one-to-one') {
          if (matchedStamp[sig] === stamp) throw new QueryError('multiple matches for labels: many-to-one matching must be explicit (group_left/group_right)');
          matchedStamp[sig] = stamp;
        } else {
          const mk = sig + '\u0000' + res.key;
          if (manyMatched.get(mk) === stamp) throw new QueryError('multiple matches for labels: grouping labels must ensure unique matches');
          manyMatched.set(mk, stamp);
          matchedStamp[sig] = stamp;
        }
        if (!keep && !e.returnBool) return;
        b.putLabels(res.labels, e.returnBool, i, val);
      };
      for (let s = 0; s < L.count; s++) {
        if (!L.has(s, i)) continue;
        const sig = sigL[s]!;
        if (rightStamp[sig] !== stamp) {
          // Prometheus applies fill_right to the (possibly swapped) left side.
          const fill = fillR;
          if (fill === null) continue;
          const ll = L.labels[s]!;
          doOp(ll, L.get(s, i), matchLabels(ll, matching.on, matching.matchingLabels), fill, sig, s, -1);
          continue;
        }
        const r = rightIdx[sig]!;
        doOp(L.labels[s]!, L.get(s, i), R.labels[r]!, R.get(r, i), sig, s, r);
      }
      const fillOther = fillL;
      if (fillOther !== null) {
        for (let s = 0; s < R.count; s++) {
          if (!R.has(s, i)) continue;
          const sig = sigR[s]!;
          if (rightIdx[sig] !== s || matchedStamp[sig] === stamp) continue;
          const rl = R.labels[s]!;
          const pseudo = matchLabels(rl, matching.on, matching.matchingLabels);
          doOp(pseudo, fillOther, rl, R.get(s, i), sig, -2 - s, s);
        }
      }
      this.tick();
    }
    return b.m;
  }

  /** Prometheus' resultMetric: labels of a vector-vector operation's output sample. */
  private resultMetric(lhs: Labels, rhs: Labels, op: BinaryOp, matching: NonNullable<BinaryExpr['matching']>, returnBool: boolean): Labels {
    const b = new LabelsBuilder(lhs);
    if (ARITH_OPS.has(op)) b.del('__name__', '__type__', '__unit__');
    if (matching.card === 'one-to-one') {
      if (matching.on) b.keep(matching.matchingLabels);
      else b.del(...matching.matchingLabels);
    }
    for (const ln of matching.include) {
      const v = rhs.get(ln);
      if (v !== '') b.set(ln, v);
      else b.del(ln);
    }
    let out = b.build();
    if (returnBool && !this.o.delayedNameRemoval) out = dropMetadata(out);
    return out;
  }

  // ---------------------------------------------------------------- aggregation

  private async evalAggregate(e: AggregateExpr, g: Grid): Promise<NodeValue> {
    const grouping = [...e.grouping].sort();
    const n = g.n;
    if (e.op === 'count_values') {
      const label = (unwrapParens(e.param!) as { val: string }).val;
      if (!isValidLabelName(label)) throw new QueryError(`invalid label name ${goQuote(label)}`);
      const m = await this.vectorArg(e.expr, g);
      const out = this.countValues(m, label, e.without ? grouping : [...grouping, label].sort(), e.without);
      this.release(m.totalPoints());
      this.hold(out.totalPoints());
      return { kind: 'vector', m: out };
    }
    let params: Float64Array | null = null;
    if (e.param) params = await this.scalarArg(unwrapParens(e.param), g);
    const m = await this.vectorArg(e.expr, g);
    // Group membership is static: computed once from the labels.
    const groupOf = new Int32Array(m.count);
    const groupLabels: Labels[] = [];
    const index = new Map<string, number>();
    for (let s = 0; s < m.count; s++) {
      const key = groupingKey(m.labels[s]!, grouping, e.without);
      let gi = index.get(key);
      if (gi === undefined) {
        gi = groupLabels.length;
        index.set(key, gi);
        groupLabels.push(groupingLabels(m.labels[s]!, grouping, e.without));
      }
      groupOf[s] = gi;
    }
    let out: StepMatrix;
    switch (e.op) {
      case 'topk':
      case 'bottomk':
      case 'limitk':
      case 'limit_ratio':
        out = this.aggregateK(e, m, groupOf, groupLabels.length, params!);
        break;
      default:
        out = this.aggregate(e, m, groupOf, groupLabels, params);
    }
    this.release(m.totalPoints());
    this.hold(out.totalPoints());
    return { kind: 'vector', m: out };
  }

  private aggregate(e: AggregateExpr, m: StepMatrix, groupOf: Int32Array, groupLabels: Labels[], params: Float64Array | null): StepMatrix {
    const n = m.n;
    const G = groupLabels.length;
    const op = e.op;
    if (op === 'quantile' && params) {
      let anyNaN = false;
      let max = -Infinity;
      let min = Infinity;
      for (const p of params) {
        if (p !== p) anyNaN = true;
        else {
          if (p > max) max = p;
          if (p < min) min = p;
        }
      }
      const pos = e.param!.positionRange();
      if (anyNaN) this.annos.warn('quantile value should be between 0 and 1, got NaN', pos);
      if (max > 1) this.annos.warn(`quantile value should be between 0 and 1, got ${formatFloatG(max)}`, pos);
      if (min < 0) this.annos.warn(`quantile value should be between 0 and 1, got ${formatFloatG(min)}`, pos);
    }
    const size = G * n;
    const seen = new Uint8Array(size);
    const value = new Float64Array(size);
    const comp = new Float64Array(size);
    const mean = new Float64Array(size);
    const count = new Float64Array(size);
    const incremental = op === 'avg' ? new Uint8Array(size) : null;
    const dropAt = new Uint8Array(size);
    const lists: number[][] | null = op === 'quantile' ? [] : null;
    const kb = new Float64Array(2);
    const present = m.present;
    const vals = m.values;
    let simple = false;
    simple = op === 'sum' || op === 'count' || op === 'group';
    if (simple) {
      // The common aggregations, without per-point dispatch.
      for (let s = 0; s < m.count; s++) {
        const gbase = groupOf[s]! * n;
        const sbase = s * n;
        const sdrop = m.drop[s]!;
        for (let i = 0; i < n; i++) {
          if (present[sbase + i] !== 1) continue;
          const k = gbase + i;
          if (!seen[k]) {
            seen[k] = 1;
            value[k] = op === 'group' ? 1 : vals[sbase + i]!;
            count[k] = 1;
            dropAt[k] = sdrop;
            continue;
          }
          if (sdrop) dropAt[k] = 1;
          if (op === 'sum') {
            // Kahan-Neumaier step (kahansum.Inc), inlined.
            const inc = vals[sbase + i]!;
            const sum = value[k]!;
            const t = sum + inc;
            if (t === Infinity || t === -Infinity) comp[k] = 0;
            else if (Math.abs(sum) >= Math.abs(inc)) comp[k] = comp[k]! + (sum - t + inc);
            else comp[k] = comp[k]! + (inc - t + sum);
            value[k] = t;
          } else if (op === 'count') count[k] = count[k]! + 1;
        }
        this.tick();
      }
    }
    for (let s = 0; s < m.count && !simple; s++) {
      const gbase = groupOf[s]! * n;
      const sdrop = m.drop[s]!;
      for (let i = 0; i < n; i++) {
        if (!m.has(s, i)) continue;
        const f = m.get(s, i);
        const k = gbase + i;
        if (!seen[k]) {
          seen[k] = 1;
          value[k] = f;
          mean[k] = f;
          count[k] = 1;
          comp[k] = 0;
          dropAt[k] = sdrop;
          switch (op) {
            case 'stddev':
            case 'stdvar':
              value[k] = f !== f || f === Infinity || f === -Infinity ? NaN : 0;
              break;
            case 'group':
              value[k] = 1;
              break;
            case 'quantile':
              (lists![k] ??= []).push(f);
              break;
          }
          continue;
        }
        if (sdrop) dropAt[k] = 1;
        switch (op) {
          case 'sum':
            kahanInc(f, value[k]!, comp[k]!, kb);
            value[k] = kb[0]!;
            comp[k] = kb[1]!;
            break;
          case 'avg': {
            const c = ++count[k]!;
            if (!incremental![k]) {
              kahanInc(f, value[k]!, comp[k]!, kb);
              if (kb[0] !== Infinity && kb[0] !== -Infinity) {
                value[k] = kb[0]!;
                comp[k] = kb[1]!;
                break;
              }
              incremental![k] = 1;
              mean[k] = value[k]! / (c - 1);
              comp[k] = comp[k]! / (c - 1);
            }
            const q = (c - 1) / c;
            kahanInc(f / c, q * mean[k]!, q * comp[k]!, kb);
            mean[k] = kb[0]!;
            comp[k] = kb[1]!;
            break;
          }
          case 'group':
            break;
          case 'max':
            if (value[k]! < f || value[k] !== value[k]) value[k] = f;
            break;
          case 'min':
            if (value[k]! > f || value[k] !== value[k]) value[k] = f;
            break;
          case 'count':
            count[k]!++;
            break;
          case 'stddev':
          case 'stdvar': {
            const c = ++count[k]!;
            const delta = f - mean[k]!;
            mean[k] = mean[k]! + delta / c;
            value[k] = value[k]! + delta * (f - mean[k]!);
            break;
          }
          case 'quantile':
            lists![k]!.push(f);
            break;
        }
      }
      this.tick();
    }
    const out = new StepMatrix(n, G);
    for (let gi = 0; gi < G; gi++) {
      let s = -1;
      let lastDrop = 0;
      for (let i = 0; i < n; i++) {
        const k = gi * n + i;
        if (!seen[k]) continue;
        let v: number;
        switch (op) {
          case 'avg':
            v = incremental![k] ? mean[k]! + comp[k]! : value[k]! / count[k]! + comp[k]! / count[k]!;
            break;
          case 'count':
            v = count[k]!;
            break;
          case 'stdvar':
            v = value[k]! / count[k]!;
            break;
          case 'stddev':
            v = Math.sqrt(value[k]! / count[k]!);
            break;
          case 'quantile':
            v = quantileOf(params![i]!, Float64Array.from(lists![k]!));
            break;
          case 'sum':
            v = value[k]! + comp[k]!;
            break;
          default:
            v = value[k]!;
        }
        if (s < 0) s = out.add(groupLabels[gi]!, false);
        out.set(s, i, v);
        lastDrop = dropAt[k]!;
      }
      if (s >= 0) out.drop[s] = lastDrop;
    }
    return out;
  }

  private aggregateK(e: AggregateExpr, m: StepMatrix, groupOf: Int32Array, G: number, params: Float64Array): StepMatrix {
    const op = e.op;
    const n = m.n;
    // Like Prometheus' fParams: min/max propagate NaN (math.Min/math.Max).
    let max = -Infinity;
    let min = Infinity;
    let anyNaN = false;
    for (const p of params) {
      if (p !== p) anyNaN = true;
      max = Math.max(max, p);
      min = Math.min(min, p);
    }
    const b = new MatrixBuilder(n, 8, n === 1);
    if (op === 'limit_ratio') {
      if (max === 0 && min === 0) return b.m;
      if (anyNaN) throw new QueryError('Ratio value is NaN');
      const pos = e.param!.positionRange();
      if (max > 1) this.annos.warn(`ratio value should be between -1 and 1, got ${formatFloatG(max)}, capping to 1`, pos);
      if (min < -1) this.annos.warn(`ratio value should be between -1 and 1, got ${formatFloatG(min)}, capping to -1`, pos);
    } else {
      if (max < 1) return b.m;
      if (anyNaN) throw new QueryError('Parameter value is NaN');
      if (min <= -9223372036854775808) throw new QueryError(`Scalar value ${formatFloatG(min)} underflows int64`);
      if (max >= 9223372036854774784) throw new QueryError(`Scalar value ${formatFloatG(max)} overflows int64`);
    }
    const ratioOffsets = op === 'limit_ratio' ? new Float64Array(m.count).fill(-1) : null;
    for (let i = 0; i < n; i++) {
      const fParam = params[i]!;
      let k = 0;
      let r = 0;
      if (op === 'limit_ratio') {
        if (fParam === 0) continue;
        r = fParam < -1 ? -1 : fParam > 1 ? 1 : fParam;
      } else {
        k = Math.min(Math.trunc(fParam), m.count);
        if (k < 1) continue;
      }
      const heaps: number[][] = [];
      const vals = (s: number): number => m.get(s, i);
      for (let s = 0; s < m.count; s++) {
        if (!m.has(s, i)) continue;
        const gi = groupOf[s]!;
        let h = heaps[gi];
        if (!h) heaps[gi] = h = [];
        switch (op) {
          case 'topk':
            if (h.length < k) heapPush(h, s, (a, c) => lessNaNFirstV(vals(a), vals(c)));
            else if (vals(h[0]!) < vals(s) || (vals(h[0]!) !== vals(h[0]!) && vals(s) === vals(s))) {
              h[0] = s;
              if (k > 1) heapFix(h, 0, (a, c) => lessNaNFirstV(vals(a), vals(c)));
            }
            break;
          case 'bottomk':
            if (h.length < k) heapPush(h, s, (a, c) => lessNaNFirstRev(vals(a), vals(c)));
            else if (vals(h[0]!) > vals(s) || (vals(h[0]!) !== vals(h[0]!) && vals(s) === vals(s))) {
              h[0] = s;
              if (k > 1) heapFix(h, 0, (a, c) => lessNaNFirstRev(vals(a), vals(c)));
            }
            break;
          case 'limitk':
            if (h.length < k) heapPush(h, s, (a, c) => lessNaNFirstV(vals(a), vals(c)));
            break;
          case 'limit_ratio': {
            let off = ratioOffsets![s]!;
            if (off < 0) off = ratioOffsets![s] = ratioSampleOffset(m.labels[s]!);
            if ((r >= 0 && off < r) || (r < 0 && off >= 1 + r)) heapPush(h, s, (a, c) => lessNaNFirstV(vals(a), vals(c)));
            break;
          }
        }
      }
      for (let gi = 0; gi < G; gi++) {
        const h = heaps[gi];
        if (!h) continue;
        if (op === 'topk' && h.length > 1) goSortIndices(h, (a, c) => lessNaNFirstV(vals(c), vals(a)));
        if (op === 'bottomk' && h.length > 1) goSortIndices(h, (a, c) => lessNaNFirstRev(vals(c), vals(a)));
        for (const s of h) b.putLabels(m.labels[s]!, m.drop[s] === 1, i, vals(s));
      }
      this.tick();
    }
    return b.m;
  }

  private countValues(m: StepMatrix, label: string, grouping: string[], without: boolean): StepMatrix {
    const b = new MatrixBuilder(m.n, 8);
    for (let i = 0; i < m.n; i++) {
      const counts = new Map<string, { labels: Labels; c: number }>();
      for (let s = 0; s < m.count; s++) {
        if (!m.has(s, i)) continue;
        const metric = m.labels[s]!.with(label, formatFloatF(m.get(s, i)));
        const gl = groupingLabels(metric, grouping, without);
        const key = gl.key();
        const cur = counts.get(key);
        if (cur) cur.c++;
        else counts.set(key, { labels: gl, c: 1 });
      }
      for (const { labels, c } of counts.values()) b.putLabels(labels, false, i, c);
    }
    return b.m;
  }
}

// ------------------------------------------------------------------ helpers

function lessNaNFirstV(a: number, b: number): boolean {
  return a !== a || a < b;
}

function lessNaNFirstRev(a: number, b: number): boolean {
  return a !== a || a > b;
}

/** container/heap Push. */
function heapPush(h: number[], x: number, less: (a: number, b: number) => boolean): void {
  h.push(x);
  let j = h.length - 1;
  for (;;) {
    const i = (j - 1) >> 1;
    if (i === j || j <= 0 || !less(h[j]!, h[i]!)) break;
    const t = h[i]!;
    h[i] = h[j]!;
    h[j] = t;
    j = i;
  }
}

/** container/heap Fix(h, i) for i = 0 (down only). */
function heapFix(h: number[], i0: number, less: (a: number, b: number) => boolean): void {
  const n = h.length;
  let i = i0;
  for (;;) {
    const j1 = 2 * i + 1;
    if (j1 >= n || j1 < 0) break;
    let j = j1;
    const j2 = j1 + 1;
    if (j2 < n && less(h[j2]!, h[j1]!)) j = j2;
    if (!less(h[j]!, h[i]!)) break;
    const t = h[i]!;
    h[i] = h[j]!;
    h[j] = t;
    i = j;
  }
}

function compare(op: BinaryOp, l: number, r: number): boolean {
  switch (op) {
    case '==': return l === r;
    case '!=': return l !== r;
    case '>': return l > r;
    case '<': return l < r;
    case '>=': return l >= r;
    case '<=': return l <= r;
    default: return false;
  }
}

function arith(op: BinaryOp, l: number, r: number): number {
  switch (op) {
    case '+': return l + r;
    case '-': return l - r;
    case '*': return l * r;
    case '/': return l / r;
    case '%': return goMod(l, r);
    case '^': return goPow(l, r);
    case 'atan2': return Math.atan2(l, r);
    default: return NaN;
  }
}

function scalarBinop(op: BinaryOp, l: number, r: number): number {
  if (isComparisonOp(op)) return compare(op, l, r) ? 1 : 0;
  return arith(op, l, r);
}

const SIMPLE_FUNCS: Readonly<Record<string, (v: number) => number>> = {
  abs: Math.abs,
  ceil: Math.ceil,
  floor: Math.floor,
  exp: Math.exp,
  sqrt: Math.sqrt,
  ln: Math.log,
  log2: Math.log2,
  log10: Math.log10,
  sin: Math.sin,
  cos: Math.cos,
  tan: Math.tan,
  asin: Math.asin,
  acos: Math.acos,
  atan: Math.atan,
  sinh: Math.sinh,
  cosh: Math.cosh,
  tanh: Math.tanh,
  asinh: Math.asinh,
  acosh: Math.acosh,
  atanh: Math.atanh,
  rad: (v) => (v * Math.PI) / 180,
  deg: (v) => (v * 180) / Math.PI,
  sgn: (v) => (v < 0 ? -1 : v > 0 ? 1 : v),
};

/** Go's int64(float) conversion as seen on amd64 (NaN and out-of-range give MinInt64). */
function goInt64(v: number): number {
  if (v !== v || v >= 9223372036854775807 || v < -9223372036854775808) return -9223372036854775808;
  return Math.trunc(v);
}

function utcDate(sec: number): Date {
  return new Date(sec * 1000);
}

const DATE_FUNCS: Readonly<Record<string, (sec: number) => number>> = {
  days_in_month: (sec) => {
    const d = utcDate(sec);
    return new Date(Date.UTC(d.getUTCFullYear(), d.getUTCMonth() + 1, 0)).getUTCDate();
  },
  day_of_month: (sec) => utcDate(sec).getUTCDate(),
  day_of_week: (sec) => utcDate(sec).getUTCDay(),
  day_of_year: (sec) => {
    const d = utcDate(sec);
    const startOfYear = Date.UTC(d.getUTCFullYear(), 0, 1);
    return Math.floor((d.getTime() - startOfYear) / 86_400_000) + 1;
  },
  hour: (sec) => utcDate(sec).getUTCHours(),
  minute: (sec) => utcDate(sec).getUTCMinutes(),
  month: (sec) => utcDate(sec).getUTCMonth() + 1,
  year: (sec) => utcDate(sec).getUTCFullYear(),
};

/** Go's strconv.ParseFloat for label values (`le`, `quantile`): undefined when invalid. */
export function parseGoFloat(s: string): number | undefined {
  if (s === '') return undefined;
  const low = s.toLowerCase();
  if (low === 'inf' || low === '+inf' || low === 'infinity' || low === '+infinity') return Infinity;
  if (low === '-inf' || low === '-infinity') return -Infinity;
  if (low === 'nan' || low === '+nan' || low === '-nan') return NaN;
  if (/^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/.test(s)) return Number(s);
  if (/^[+-]?0[xX]/.test(s)) {
    const v = parseGoNumber(s.replace(/^[+-]/, ''));
    if (v === undefined || !/[pP]/.test(s)) return undefined;
    return s.startsWith('-') ? -v : v;
  }
  return undefined;
}

/** Prometheus' FormatOpenMetricsFloat (quantile label values). */
function formatOpenMetricsFloat(v: number): string {
  if (v === Infinity) return '+Inf';
  if (v === -Infinity) return '-Inf';
  if (v !== v) return 'NaN';
  const s = formatFloatG(v);
  if (s.includes('.') || s.includes('e')) return s;
  return s + '.0';
}

function formatDurSeconds(ms: number): string {
  return `${ms / 1000}s`;
}

/**
 * Go regexp's Expand: `$1`, `${1}`, `$name`, `${name}` (a name is the longest run of letters,
 * digits and `_`, so `$1x` is the group named "1x"), `$$` is a literal `$`.
 */
export function expandTemplate(template: string, match: RegExpExecArray): string {
  let out = '';
  let i = 0;
  while (i < template.length) {
    const d = template.indexOf('$', i);
    if (d < 0) {
      out += template.slice(i);
      break;
    }
    out += template.slice(i, d);
    if (template[d + 1] === '$') {
      out += '$';
      i = d + 2;
      continue;
    }
    let j = d + 1;
    let brace = false;
    if (template[j] === '{') {
      brace = true;
      j++;
    }
    const startName = j;
    while (j < template.length && /[\p{L}\p{Nd}_]/u.test(template[j]!)) j++;
    const name = template.slice(startName, j);
    if (name === '' || (brace && template[j] !== '}')) {
      out += '$';
      i = d + 1;
      continue;
    }
    if (brace) j++;
    i = j;
    let num = -1;
    if (/^\d+$/.test(name) && name.length < 9 && !(name[0] === '0' && name.length > 1)) num = Number(name);
    if (num >= 0) {
      const g = match[num];
      if (g !== undefined) out += g;
    } else {
      const g = match.groups?.[name];
      if (g !== undefined) out += g;
    }
  }
  return out;
}

// ------------------------------------------------------------------ limit_ratio sampling

const P1 = 0x9e3779b185ebca87n;
const P2 = 0xc2b2ae3d27d4eb4fn;
const P3 = 0x165667b19e3779f9n;
const P4 = 0x85ebca77c2b2ae63n;
const P5 = 0x27d4eb2f165667c5n;
const M64 = 0xffffffffffffffffn;

function rotl(x: bigint, r: bigint): bigint {
  return ((x << r) | (x >> (64n - r))) & M64;
}

function round(acc: bigint, input: bigint): bigint {
  acc = (acc + input * P2) & M64;
  acc = rotl(acc, 31n);
  return (acc * P1) & M64;
}

function mergeRound(acc: bigint, val: bigint): bigint {
  val = round(0n, val);
  acc ^= val;
  return (acc * P1 + P4) & M64;
}

/** xxHash64 (seed 0) of a byte array, as Prometheus hashes label sets. */
export function xxhash64(b: Uint8Array): bigint {
  const n = b.length;
  const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
  let p = 0;
  let h: bigint;
  if (n >= 32) {
    let v1 = (P1 + P2) & M64;
    let v2 = P2;
    let v3 = 0n;
    let v4 = (-P1) & M64;
    while (p + 32 <= n) {
      v1 = round(v1, dv.getBigUint64(p, true));
      v2 = round(v2, dv.getBigUint64(p + 8, true));
      v3 = round(v3, dv.getBigUint64(p + 16, true));
      v4 = round(v4, dv.getBigUint64(p + 24, true));
      p += 32;
    }
    h = (rotl(v1, 1n) + rotl(v2, 7n) + rotl(v3, 12n) + rotl(v4, 18n)) & M64;
    h = mergeRound(h, v1);
    h = mergeRound(h, v2);
    h = mergeRound(h, v3);
    h = mergeRound(h, v4);
  } else {
    h = P5;
  }
  h = (h + BigInt(n)) & M64;
  while (p + 8 <= n) {
    const k1 = round(0n, dv.getBigUint64(p, true));
    h ^= k1;
    h = (rotl(h, 27n) * P1 + P4) & M64;
    p += 8;
  }
  if (p + 4 <= n) {
    h ^= (BigInt(dv.getUint32(p, true)) * P1) & M64;
    h = (rotl(h, 23n) * P2 + P3) & M64;
    p += 4;
  }
  while (p < n) {
    h ^= (BigInt(b[p]!) * P5) & M64;
    h = (rotl(h, 11n) * P1) & M64;
    p++;
  }
  h ^= h >> 33n;
  h = (h * P2) & M64;
  h ^= h >> 29n;
  h = (h * P3) & M64;
  h ^= h >> 32n;
  return h;
}

/** Prometheus' Labels.Hash(): xxHash64 over `name\xffvalue\xff...`. */
export function labelsHash(l: Labels): bigint {
  const parts: number[] = [];
  const p = l.pairs;
  for (let i = 0; i < p.length; i++) {
    for (const byte of Buffer.from(p[i]!, 'utf8')) parts.push(byte);
    parts.push(0xff);
  }
  return xxhash64(Uint8Array.from(parts));
}

function ratioSampleOffset(l: Labels): number {
  return Number(labelsHash(l)) / 18446744073709551615;
}
