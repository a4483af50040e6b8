/**
 * The evaluator's value containers. An instant-vector expression evaluated over a range of
 * steps yields a `StepMatrix`: series-major typed arrays (`values[s * n + i]` is series `s` at
 * step `i`, `present` says whether that point exists), one label set and one "drop the metric
 * name later" flag per series. No object per sample.
 *
 * Raw range data (the samples of a matrix selector or a subquery) is a `RawSeries`: parallel
 * timestamp/value arrays.
 */
import type { Labels } from '../../model/index.ts';
import { QueryError } from '../errors.ts';

/** Evaluation steps: `start`, `start + step`, ... up to and including `end` (ms). */
export interface Grid {
  start: number;
  end: number;
  step: number;
  /** Number of steps. */
  n: number;
}

export function makeGrid(start: number, end: number, step: number): Grid {
  const n = end < start ? 0 : step > 0 ? Math.floor((end - start) / step) + 1 : 1;
  return { start, end, step: step > 0 ? step : 1, n };
}

export const DUPLICATE_LABELSET = 'vector cannot contain metrics with the same labelset';

export class StepMatrix {
  /** Number of steps per series. */
  readonly n: number;
  count = 0;
  labels: Labels[] = [];
  /** Per series: 1 when the metric name is to be dropped at the end (delayed name removal). */
  drop: Uint8Array;
  values: Float64Array;
  present: Uint8Array;
  private cap: number;

  constructor(n: number, initialSeries = 4) {
    this.n = n;
    this.cap = Math.max(1, initialSeries);
    this.drop = new Uint8Array(this.cap);
    this.values = new Float64Array(this.cap * n);
    this.present = new Uint8Array(this.cap * n);
  }

  /** Appends an empty series; returns its index. */
  add(labels: Labels, dropName: boolean): number {
    if (this.count === this.cap) this.grow();
    const s = this.count++;
    this.labels.push(labels);
    this.drop[s] = dropName ? 1 : 0;
    return s;
  }

  private grow(): void {
    const cap = this.cap * 2;
    const v = new Float64Array(cap * this.n);
    v.set(this.values);
    const p = new Uint8Array(cap * this.n);
    p.set(this.present);
    const d = new Uint8Array(cap);
    d.set(this.drop);
    this.values = v;
    this.present = p;
    this.drop = d;
    this.cap = cap;
  }

  set(s: number, i: number, v: number): void {
    const k = s * this.n + i;
    this.values[k] = v;
    this.present[k] = 1;
  }

  has(s: number, i: number): boolean {
    return this.present[s * this.n + i] === 1;
  }

  get(s: number, i: number): number {
    return this.values[s * this.n + i]!;
  }

  /** Number of points of one series. */
  seriesPoints(s: number): number {
    let c = 0;
    const p = this.present;
    for (let k = s * this.n, e = k + this.n; k < e; k++) c += p[k]!;
    return c;
  }

  totalPoints(): number {
    let c = 0;
    const p = this.present;
    for (let k = 0, e = this.count * this.n; k < e; k++) c += p[k]!;
    return c;
  }

  /** A copy keeping only series with at least one point, in order. */
  compact(): StepMatrix {
    let keep = 0;
    for (let s = 0; s < this.count; s++) if (this.seriesPoints(s) > 0) keep++;
    if (keep === this.count) return this;
    const out = new StepMatrix(this.n, keep);
    for (let s = 0; s < this.count; s++) {
      if (this.seriesPoints(s) === 0) continue;
      const d = out.add(this.labels[s]!, this.drop[s] === 1);
      out.values.set(this.values.subarray(s * this.n, (s + 1) * this.n), d * this.n);
      out.present.set(this.present.subarray(s * this.n, (s + 1) * this.n), d * this.n);
    }
    return out;
  }

  /** A new matrix with the series in the given order (instant-query sorting). */
  reorder(order: readonly number[]): StepMatrix {
    const out = new StepMatrix(this.n, order.length);
    for (const s of order) {
      const d = out.add(this.labels[s]!, this.drop[s] === 1);
      out.values.set(this.values.subarray(s * this.n, (s + 1) * this.n), d * this.n);
      out.present.set(this.present.subarray(s * this.n, (s + 1) * this.n), d * this.n);
    }
    return out;
  }
}

/**
 * Builds a StepMatrix whose series are identified by their label sets: points for the same
 * labels go to the same series (in first-seen order); a second point for the same labels at
 * the same step is Prometheus' "vector cannot contain metrics with the same labelset".
 * When `allowDuplicates` is set, a same-step conflict creates a separate series instead
 * (Prometheus tolerates it in single-step evaluations with delayed name removal).
 */
export class MatrixBuilder {
  readonly m: StepMatrix;
  private readonly index = new Map<string, number>();

  constructor(n: number, initialSeries = 4, private readonly allowDuplicates = false) {
    this.m = new StepMatrix(n, initialSeries);
  }

  series(labels: Labels, dropName: boolean): number {
    const key = labels.key();
    let s = this.index.get(key);
    if (s === undefined) {
      s = this.m.add(labels, dropName);
      this.index.set(key, s);
    }
    return s;
  }

  put(s: number, i: number, v: number): void {
    const m = this.m;
    if (m.present[s * m.n + i] === 1) {
      if (!this.allowDuplicates) throw new QueryError(DUPLICATE_LABELSET);
      const t = m.add(m.labels[s]!, m.drop[s] === 1);
      m.set(t, i, v);
      return;
    }
    m.set(s, i, v);
  }

  /** Adds a point for `labels` (looked up by key). */
  putLabels(labels: Labels, dropName: boolean, i: number, v: number): void {
    this.put(this.series(labels, dropName), i, v);
  }
}

/** Samples of one series over a range, for range-vector functions and instant range results. */
export interface RawSeries {
  labels: Labels;
  dropName: boolean;
  ts: Float64Array;
  vs: Float64Array;
  n: number;
}
