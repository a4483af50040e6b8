/**
 * Series building blocks shared by implementations: series over typed arrays, the merge of
 * sorted series sets with overlap deduplication, and an empty set.
 */
import { compareLabels, type Labels } from '../model/index.ts';
import { ValueType, type SampleBuffer, type SampleIterator, type Series, type SeriesSet } from './interfaces.ts';

export const EMPTY_SERIES_SET: SeriesSet = Object.freeze({ series: [], warnings: [] });

/**
 * Iterates samples held in two parallel arrays (`ts[i]`, `vs[i]` for i < length), sorted by
 * time. The arrays are borrowed, not copied: the owner must not change the first `length`
 * entries while an iterator is alive.
 */
export class ArraySampleIterator implements SampleIterator {
  private i = -1;

  constructor(
    private readonly ts: ArrayLike<number>,
    private readonly vs: Float64Array,
    private readonly length: number = ts.length,
  ) {}

  next(): ValueType {
    if (this.i < this.length) this.i++;
    return this.i < this.length ? ValueType.Float : ValueType.None;
  }

  seek(t: number): ValueType {
    if (this.i < 0) this.i = 0;
    if (this.i >= this.length) return ValueType.None;
    if (this.ts[this.i]! >= t) return ValueType.Float;
    // Binary search in (i, length).
    let lo = this.i + 1;
    let hi = this.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.ts[mid]! < t) lo = mid + 1;
      else hi = mid;
    }
    this.i = lo;
    return this.i < this.length ? ValueType.Float : ValueType.None;
  }

  atT(): number {
    return this.ts[this.i]!;
  }

  at(): number {
    return this.vs[this.i]!;
  }

  err(): Error | null {
    return null;
  }
}

/** A series over typed arrays (see ArraySampleIterator for ownership). */
export class ArraySeries implements Series {
  constructor(
    readonly labels: Labels,
    private readonly ts: ArrayLike<number>,
    private readonly vs: Float64Array,
    private readonly length: number = ts.length,
  ) {}

  iterator(): SampleIterator {
    return new ArraySampleIterator(this.ts, this.vs, this.length);
  }

  readRange(mint: number, maxt: number, buf: SampleBuffer): Error | null {
    const ts = this.ts;
    const len = this.length;
    let lo = 0;
    let hi = len;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (ts[mid]! < mint) lo = mid + 1;
      else hi = mid;
    }
    let end = lo;
    while (end < len && ts[end]! <= maxt) end++;
    const k = end - lo;
    if (k <= 0) return null;
    growSampleBuffer(buf, buf.n + k);
    const n = buf.n;
    const bt = buf.ts;
    for (let i = 0; i < k; i++) bt[n + i] = ts[lo + i]!;
    // Copied as raw bits (a Float64Array to Float64Array copy keeps NaN payloads).
    buf.vs.set(this.vs.subarray(lo, end), n);
    buf.n = n + k;
    return null;
  }
}

/**
 * Makes room for `need` samples in `buf` (arrays replaced by larger ones, the first `buf.n`
 * entries kept; values copied as raw bits).
 */
export function growSampleBuffer(buf: SampleBuffer, need: number): void {
  if (buf.ts.length >= need && buf.vs.length >= need) return;
  let size = Math.max(64, buf.ts.length);
  while (size < need) size *= 2;
  const ts = new Float64Array(size);
  ts.set(buf.ts.subarray(0, buf.n));
  const vs = new Float64Array(size);
  vs.set(buf.vs.subarray(0, buf.n));
  buf.ts = ts;
  buf.vs = vs;
}

/**
 * Appends the samples of `series` with mint ≤ t ≤ maxt to `buf` (see `Series.readRange`): the
 * series' bulk read when it has one, its iterator otherwise. Returns the error that ended reading
 * early, or null.
 */
export function readSeriesRange(series: Series, mint: number, maxt: number, buf: SampleBuffer): Error | null {
  if (series.readRange !== undefined) return series.readRange(mint, maxt, buf);
  const it = series.iterator();
  let typ = it.seek(mint);
  let n = buf.n;
  while (typ !== ValueType.None) {
    const t = it.atT();
    if (t > maxt) break;
    if (n === buf.ts.length) {
      buf.n = n;
      growSampleBuffer(buf, n + 1);
    }
    buf.ts[n] = t;
    buf.vs[n] = it.at();
    n++;
    typ = it.next();
  }
  buf.n = n;
  return it.err();
}

/**
 * Merges iterators over the same series, in time order; where several have a sample at the
 * same timestamp, the one from the earliest iterator in the list wins.
 */
export class ChainSampleIterator implements SampleIterator {
  private readonly its: SampleIterator[];
  private readonly state: Int8Array; // per iterator: 0 = not started, 1 = positioned, 2 = done
  private cur = -1;
  private started = false;
  private error: Error | null = null;

  constructor(its: SampleIterator[]) {
    this.its = its;
    this.state = new Int8Array(its.length);
  }

  private pick(): ValueType {
    let best = -1;
    let bestT = Infinity;
    for (let k = 0; k < this.its.length; k++) {
      if (this.state[k] !== 1) continue;
      const t = this.its[k]!.atT();
      if (t < bestT) {
        bestT = t;
        best = k;
      }
    }
    this.cur = best;
    return best < 0 ? ValueType.None : ValueType.Float;
  }

  private advance(k: number): void {
    const it = this.its[k]!;
    if (it.next() === ValueType.None) {
      this.state[k] = 2;
      const e = it.err();
      if (e && !this.error) this.error = e;
    } else this.state[k] = 1;
  }

  next(): ValueType {
    if (!this.started) {
      this.started = true;
      for (let k = 0; k < this.its.length; k++) this.advance(k);
      return this.pick();
    }
    if (this.cur < 0) return ValueType.None;
    const t = this.its[this.cur]!.atT();
    // Advance every iterator sitting on t (duplicates are dropped).
    for (let k = 0; k < this.its.length; k++) {
      if (this.state[k] === 1 && this.its[k]!.atT() === t) this.advance(k);
    }
    return this.pick();
  }

  seek(t: number): ValueType {
    if (this.started && this.cur >= 0 && this.its[this.cur]!.atT() >= t) return ValueType.Float;
    this.started = true;
    for (let k = 0; k < this.its.length; k++) {
      if (this.state[k] === 2) continue;
      const it = this.its[k]!;
      if (it.seek(t) === ValueType.None) {
        this.state[k] = 2;
        const e = it.err();
        if (e && !this.error) this.error = e;
      } else this.state[k] = 1;
    }
    return this.pick();
  }

  atT(): number {
    return this.its[this.cur]!.atT();
  }

  at(): number {
    return this.its[this.cur]!.at();
  }

  err(): Error | null {
    return this.error;
  }
}

class MergedSeries implements Series {
  constructor(readonly labels: Labels, private readonly parts: Series[]) {}

  iterator(): SampleIterator {
    return new ChainSampleIterator(this.parts.map((p) => p.iterator()));
  }
}

/**
 * Merges sorted series sets: series with equal labels become one series whose samples are the
 * time-ordered union (duplicates at one timestamp resolved in favour of the earlier set).
 * Output is sorted by labels; warnings are concatenated.
 */
export function mergeSeriesSets(sets: readonly SeriesSet[]): SeriesSet {
  const nonEmpty = sets.filter((s) => s.series.length > 0);
  const warnings = sets.flatMap((s) => s.warnings);
  if (nonEmpty.length === 0) return warnings.length ? { series: [], warnings } : EMPTY_SERIES_SET;
  if (nonEmpty.length === 1) return warnings.length === nonEmpty[0]!.warnings.length ? nonEmpty[0]! : { series: nonEmpty[0]!.series, warnings };
  const idx = new Int32Array(nonEmpty.length);
  const out: Series[] = [];
  for (;;) {
    let min: Labels | undefined;
    for (let k = 0; k < nonEmpty.length; k++) {
      const s = nonEmpty[k]!.series[idx[k]!];
      if (s && (min === undefined || compareLabels(s.labels, min) < 0)) min = s.labels;
    }
    if (min === undefined) break;
    const parts: Series[] = [];
    for (let k = 0; k < nonEmpty.length; k++) {
      const s = nonEmpty[k]!.series[idx[k]!];
      if (s && compareLabels(s.labels, min) === 0) {
        parts.push(s);
        idx[k]!++;
      }
    }
    out.push(parts.length === 1 ? parts[0]! : new MergedSeries(min, parts));
  }
  return { series: out, warnings };
}

/**
 * Reads every sample of an iterator (tests, small exports). Values go into a Float64Array so
 * that NaN payloads such as the stale marker survive (plain arrays may canonicalise NaN).
 */
export function collectSamples(it: SampleIterator): { ts: number[]; vs: Float64Array } {
  const ts: number[] = [];
  let vs = new Float64Array(16);
  while (it.next() !== ValueType.None) {
    if (ts.length === vs.length) {
      const grown = new Float64Array(vs.length * 2);
      grown.set(vs);
      vs = grown;
    }
    vs[ts.length] = it.at();
    ts.push(it.atT());
  }
  const e = it.err();
  if (e) throw e;
  return { ts, vs: vs.subarray(0, ts.length) };
}
