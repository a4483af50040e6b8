/**
 * Range-vector function kernels (`rate`, `*_over_time`, `deriv`, ...). A kernel reads one
 * series' samples in a window `[lo, hi)` of typed arrays (never empty) and returns the result
 * value, or null for "no output at this step". Semantics follow Prometheus' functions.go.
 */
import { formatFloatG, type Labels } from '../../model/index.ts';
import type { Annotations } from '../annotations.ts';
import type { Call } from '../ast.ts';
import { QueryError } from '../errors.ts';
import { kahanInc, quantileOf } from './mathutil.ts';

export interface RangeWindow {
  ts: Float64Array;
  vs: Float64Array;
  /** First sample index in the window. */
  lo: number;
  /** One past the last sample index (hi > lo). */
  hi: number;
  /** The step's evaluation time (ms). */
  stepT: number;
  /** Window bounds (ms): samples are in (rangeStart, rangeEnd]. */
  rangeStart: number;
  rangeEnd: number;
  /** The selector's range (ms). */
  rangeMs: number;
  /** Scalar arguments at this step, in argument order (the range argument excluded). */
  p: Float64Array;
  labels: Labels;
  call: Call;
  annos: Annotations;
  /**
   * For rate/increase/resets: `resetPrefix[j]` is the number of counter resets among samples
   * 1..j of the series (null when not computed).
   */
  resetPrefix: Int32Array | null;
}

export type RangeKernel = (w: RangeWindow) => number | null;

const kbuf = new Float64Array(2);

function extrapolatedRate(w: RangeWindow, isCounter: boolean, isRate: boolean): number | null {
  const { ts, vs, lo, hi } = w;
  const n = hi - lo;
  if (n < 2) return null;
  const first = lo;
  const last = hi - 1;
  let result = vs[last]! - vs[first]!;
  // Corrections are added in sample order, as Prometheus does; windows without resets skip
  // the scan.
  if (isCounter && (w.resetPrefix === null || w.resetPrefix[last]! !== w.resetPrefix[first]!)) {
    for (let j = lo + 1; j < hi; j++) {
      if (vs[j]! < vs[j - 1]!) result += vs[j - 1]!;
    }
  }
  let durationToStart = (ts[first]! - w.rangeStart) / 1000;
  let durationToEnd = (w.rangeEnd - ts[last]!) / 1000;
  const sampledInterval = (ts[last]! - ts[first]!) / 1000;
  const avg = sampledInterval / (n - 1);
  const threshold = avg * 1.1;
  if (durationToStart >= threshold) durationToStart = avg / 2;
  if (isCounter) {
    let durationToZero = durationToStart;
    if (result > 0 && vs[first]! >= 0) durationToZero = sampledInterval * (vs[first]! / result);
    if (durationToZero < durationToStart) durationToStart = durationToZero;
  }
  if (durationToEnd >= threshold) durationToEnd = avg / 2;
  let factor = (sampledInterval + durationToStart + durationToEnd) / sampledInterval;
  if (isRate) factor /= w.rangeMs / 1000;
  return result * factor;
}

function instantValue(w: RangeWindow, isRate: boolean): number | null {
  const { ts, vs, hi } = w;
  if (hi - w.lo < 2) return null;
  const t0 = ts[hi - 2]!;
  const t1 = ts[hi - 1]!;
  const v0 = vs[hi - 2]!;
  const v1 = vs[hi - 1]!;
  const interval = t1 - t0;
  if (interval === 0) return null;
  let result = v1;
  if (!isRate || !(v1 < v0)) result = v1 - v0;
  if (isRate) result /= interval / 1000;
  return result;
}

function avgOverTime(w: RangeWindow): number {
  const { vs, lo, hi } = w;
  let sum = vs[lo]!;
  let count = 1;
  let mean = 0;
  let c = 0;
  let incremental = false;
  for (let j = lo + 1; j < hi; j++) {
    const f = vs[j]!;
    count = j - lo + 1;
    if (!incremental) {
      kahanInc(f, sum, c, kbuf);
      if (kbuf[0] !== Infinity && kbuf[0] !== -Infinity) {
        sum = kbuf[0]!;
        c = kbuf[1]!;
        continue;
      }
      incremental = true;
      mean = sum / (count - 1);
      c /= count - 1;
    }
    const q = (count - 1) / count;
    kahanInc(f / count, q * mean, q * c, kbuf);
    mean = kbuf[0]!;
    c = kbuf[1]!;
  }
  if (incremental) return mean + c;
  return sum / count + c / count;
}

function sumOverTime(w: RangeWindow): number {
  let sum = 0;
  let c = 0;
  for (let j = w.lo; j < w.hi; j++) {
    kahanInc(w.vs[j]!, sum, c, kbuf);
    sum = kbuf[0]!;
    c = kbuf[1]!;
  }
  if (sum === Infinity || sum === -Infinity) return sum;
  return sum + c;
}

function compareOverTime(w: RangeWindow, cmp: (cur: number, best: number) => boolean, returnTs: boolean): number {
  const { ts, vs, lo, hi } = w;
  let best = vs[lo]!;
  let bestT = ts[lo]!;
  for (let j = lo; j < hi; j++) {
    const f = vs[j]!;
    if (cmp(f, best)) {
      best = f;
      bestT = ts[j]!;
    }
  }
  return returnTs ? bestT / 1000 : best;
}

function varianceOverTime(w: RangeWindow): number {
  let count = 0;
  let mean = 0;
  let cMean = 0;
  let aux = 0;
  let cAux = 0;
  for (let j = w.lo; j < w.hi; j++) {
    const f = w.vs[j]!;
    count++;
    const delta = f - (mean + cMean);
    kahanInc(delta / count, mean, cMean, kbuf);
    mean = kbuf[0]!;
    cMean = kbuf[1]!;
    kahanInc(delta * (f - (mean + cMean)), aux, cAux, kbuf);
    aux = kbuf[0]!;
    cAux = kbuf[1]!;
  }
  return (aux + cAux) / count;
}

/** Least-squares fit; returns [slope, intercept at interceptTime]. */
export function linearRegression(ts: Float64Array, vs: Float64Array, lo: number, hi: number, interceptTime: number): [number, number] {
  let n = 0;
  let sumX = 0, cX = 0, sumY = 0, cY = 0, sumXY = 0, cXY = 0, sumX2 = 0, cX2 = 0;
  const initY = vs[lo]!;
  let constY = true;
  for (let j = lo; j < hi; j++) {
    const y = vs[j]!;
    if (constY && j > lo && y !== initY) constY = false;
    n += 1;
    const x = (ts[j]! - interceptTime) / 1e3;
    kahanInc(x, sumX, cX, kbuf); sumX = kbuf[0]!; cX = kbuf[1]!;
    kahanInc(y, sumY, cY, kbuf); sumY = kbuf[0]!; cY = kbuf[1]!;
    kahanInc(x * y, sumXY, cXY, kbuf); sumXY = kbuf[0]!; cXY = kbuf[1]!;
    kahanInc(x * x, sumX2, cX2, kbuf); sumX2 = kbuf[0]!; cX2 = kbuf[1]!;
  }
  if (constY) {
    if (initY === Infinity || initY === -Infinity) return [NaN, NaN];
    return [0, initY];
  }
  sumX += cX;
  sumY += cY;
  sumXY += cXY;
  sumX2 += cX2;
  const covXY = sumXY - (sumX * sumY) / n;
  const varX = sumX2 - (sumX * sumX) / n;
  const slope = covXY / varX;
  const intercept = sumY / n - (slope * sumX) / n;
  return [slope, intercept];
}

/** Go's %f (six decimals). */
function goF(v: number): string {
  if (v !== v) return 'NaN';
  if (v === Infinity) return '+Inf';
  if (v === -Infinity) return '-Inf';
  return v.toFixed(6);
}

function doubleExponentialSmoothing(w: RangeWindow): number | null {
  const sf = w.p[0]!;
  const tf = w.p[1]!;
  if (!(sf > 0 && sf < 1)) throw new QueryError(`invalid smoothing factor. Expected: 0 < sf < 1, got: ${goF(sf)}`);
  if (!(tf > 0 && tf < 1)) throw new QueryError(`invalid trend factor. Expected: 0 < tf < 1, got: ${goF(tf)}`);
  const { vs, lo, hi } = w;
  const l = hi - lo;
  if (l < 2) return null;
  let s0 = 0;
  let s1 = vs[lo]!;
  let b = vs[lo + 1]! - vs[lo]!;
  for (let i = 1; i < l; i++) {
    const x = sf * vs[lo + i]!;
    // Trend at i-1 (the first step keeps the initial trend).
    if (i - 1 !== 0) b = tf * (s1 - s0) + (1 - tf) * b;
    const y = (1 - sf) * (s1 + b);
    s0 = s1;
    s1 = x + y;
  }
  return s1;
}

function windowValues(w: RangeWindow): Float64Array {
  return w.vs.slice(w.lo, w.hi);
}

function quantileOverTime(w: RangeWindow): number {
  const q = w.p[0]!;
  if (q !== q || q < 0 || q > 1) {
    w.annos.warn(`quantile value should be between 0 and 1, got ${formatFloatG(q)}`, w.call.args[0]!.positionRange());
  }
  return quantileOf(q, windowValues(w));
}

function madOverTime(w: RangeWindow): number {
  const values = windowValues(w);
  // A NaN sample makes the result NaN (it is not silently dropped).
  for (let j = 0; j < values.length; j++) if (values[j] !== values[j]) return NaN;
  const median = quantileOf(0.5, values);
  const devs = new Float64Array(w.hi - w.lo);
  for (let j = w.lo; j < w.hi; j++) devs[j - w.lo] = Math.abs(w.vs[j]! - median);
  return quantileOf(0.5, devs);
}

function changes(w: RangeWindow): number {
  let c = 0;
  for (let j = w.lo + 1; j < w.hi; j++) {
    const cur = w.vs[j]!;
    const prev = w.vs[j - 1]!;
    if (cur !== prev && !(cur !== cur && prev !== prev)) c++;
  }
  return c;
}

function resets(w: RangeWindow): number {
  if (w.resetPrefix !== null) return w.resetPrefix[w.hi - 1]! - w.resetPrefix[w.lo]!;
  let c = 0;
  for (let j = w.lo + 1; j < w.hi; j++) if (w.vs[j]! < w.vs[j - 1]!) c++;
  return c;
}

export const RANGE_KERNELS: Readonly<Record<string, RangeKernel>> = {
  rate: (w) => extrapolatedRate(w, true, true),
  increase: (w) => extrapolatedRate(w, true, false),
  delta: (w) => extrapolatedRate(w, false, false),
  irate: (w) => instantValue(w, true),
  idelta: (w) => instantValue(w, false),
  avg_over_time: avgOverTime,
  sum_over_time: sumOverTime,
  count_over_time: (w) => w.hi - w.lo,
  max_over_time: (w) => compareOverTime(w, (cur, best) => cur > best || best !== best, false),
  min_over_time: (w) => compareOverTime(w, (cur, best) => cur < best || best !== best, false),
  ts_of_max_over_time: (w) => compareOverTime(w, (cur, best) => cur >= best || best !== best, true),
  ts_of_min_over_time: (w) => compareOverTime(w, (cur, best) => cur <= best || best !== best, true),
  ts_of_first_over_time: (w) => w.ts[w.lo]! / 1000,
  ts_of_last_over_time: (w) => w.ts[w.hi - 1]! / 1000,
  last_over_time: (w) => w.vs[w.hi - 1]!,
  first_over_time: (w) => w.vs[w.lo]!,
  present_over_time: () => 1,
  absent_over_time: () => 1,
  quantile_over_time: quantileOverTime,
  stddev_over_time: (w) => Math.sqrt(varianceOverTime(w)),
  stdvar_over_time: varianceOverTime,
  mad_over_time: madOverTime,
  changes,
  resets,
  deriv: (w) => (w.hi - w.lo < 2 ? null : linearRegression(w.ts, w.vs, w.lo, w.hi, w.ts[w.lo]!)[0]),
  predict_linear: (w) => {
    if (w.hi - w.lo < 2) return null;
    const [slope, intercept] = linearRegression(w.ts, w.vs, w.lo, w.hi, w.stepT);
    return slope * w.p[0]! + intercept;
  },
  double_exponential_smoothing: doubleExponentialSmoothing,
  holt_winters: doubleExponentialSmoothing,
};

/** Range functions whose output keeps the metric name. */
export const KEEPS_NAME: ReadonlySet<string> = new Set(['last_over_time', 'first_over_time']);
